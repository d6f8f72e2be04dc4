#include "unit.h"

#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "hub/http.h"

static void add_header(struct http_response *r, const char *name, const char *value)
{
	r->headers = realloc(r->headers, (r->header_count + 1) * sizeof(*r->headers));
	r->headers[r->header_count].name = strdup(name);
	r->headers[r->header_count].value = strdup(value);
	r->header_count++;
}

static void test_origin(void **state)
{
	(void)state;
	char *o = NULL;
	assert_int_equal(http_url_origin("https://HuggingFace.co/api/models/x", &o), 0);
	assert_string_equal(o, "https://huggingface.co:443");
	free(o);
	assert_true(http_same_origin("http://127.0.0.1:8080/a", "http://127.0.0.1:8080/b?c"));
	assert_false(http_same_origin("http://127.0.0.1:8080/a", "http://127.0.0.2:8080/a"));
	assert_false(http_same_origin("http://127.0.0.1:8080/a", "http://127.0.0.1:8081/a"));
	assert_false(http_same_origin("https://h/a", "http://h/a"));
	assert_true(http_same_origin("https://h/a", "https://h:443/a"));
	/* user-info tricks do not change the host */
	assert_false(http_same_origin("https://huggingface.co/", "https://huggingface.co@evil.example/"));
}

static void test_resolve(void **state)
{
	(void)state;
	char *u = NULL;
	assert_int_equal(http_resolve_url("http://h:1/org/m/resolve/main/a.json",
					  "/api/resolve-cache/models/org/m/c/a.json?etag=%22x%22", &u),
			 0);
	assert_string_equal(u, "http://h:1/api/resolve-cache/models/org/m/c/a.json?etag=%22x%22");
	free(u);
	assert_int_equal(http_resolve_url("http://h:1/a/b", "https://cdn/x", &u), 0);
	assert_string_equal(u, "https://cdn/x");
	free(u);
}

static void test_retry_after(void **state)
{
	(void)state;
	struct http_response r;
	http_response_init(&r);
	assert_int_equal(http_retry_after_seconds(&r), -1);
	add_header(&r, "RateLimit", "\"api\";r=0;t=55");
	assert_int_equal(http_retry_after_seconds(&r), 56);
	add_header(&r, "Retry-After", "7");
	assert_int_equal(http_retry_after_seconds(&r), 7);
	http_response_free(&r);
	http_response_init(&r);
	/* Parsed as sent; the client caps what it waits (MODL_MAX_RETRY_WAIT). */
	add_header(&r, "Retry-After", "999999");
	assert_int_equal(http_retry_after_seconds(&r), 999999);
	http_response_free(&r);
}

static void test_link_next(void **state)
{
	(void)state;
	struct http_response r;
	char *next = NULL;
	http_response_init(&r);
	assert_int_equal(http_link_next(&r, &next), 0);
	assert_null(next);
	add_header(&r, "link", "<https://h/api/models/x/tree/main?cursor=abc>; rel=\"next\"");
	assert_int_equal(http_link_next(&r, &next), 0);
	assert_string_equal(next, "https://h/api/models/x/tree/main?cursor=abc");
	free(next);
	http_response_free(&r);
	http_response_init(&r);
	add_header(&r, "Link", "<https://h/prev>; rel=\"prev\", <https://h/next>; rel=\"next\"");
	assert_int_equal(http_link_next(&r, &next), 0);
	assert_string_equal(next, "https://h/next");
	free(next);
	http_response_free(&r);
	http_response_init(&r);
	add_header(&r, "Link", "<https://h/prev>; rel=\"prev\"");
	assert_int_equal(http_link_next(&r, &next), 0);
	assert_null(next);
	http_response_free(&r);
}

static void test_header_lookup(void **state)
{
	(void)state;
	struct http_response r;
	http_response_init(&r);
	add_header(&r, "ETag", "\"a\"");
	add_header(&r, "etag", "\"b\"");
	assert_string_equal(http_response_header(&r, "ETAG"), "\"b\"");
	assert_null(http_response_header(&r, "X-Repo-Commit"));
	http_response_free(&r);
}

int main(void)
{
	/* clang-format off */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_origin),
		cmocka_unit_test(test_resolve),
		cmocka_unit_test(test_retry_after),
		cmocka_unit_test(test_link_next),
		cmocka_unit_test(test_header_lookup),
	};
	/* clang-format on */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
