#include "unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "hub/hub.h"

static void test_parse_repo(void **state)
{
	(void)state;
	struct hub_repo r;
	assert_int_equal(hub_parse_repo("meta-llama/Llama-3.2-1B", HUB_MODEL, &r), 0);
	assert_string_equal(r.id, "meta-llama/Llama-3.2-1B");
	assert_string_equal(r.revision, "");
	assert_int_equal(r.type, HUB_MODEL);
	assert_int_equal(hub_parse_repo("gpt2@refs/pr/1", HUB_MODEL, &r), 0);
	assert_string_equal(r.id, "gpt2");
	assert_string_equal(r.revision, "refs/pr/1");
	assert_int_equal(hub_parse_repo("hf://datasets/org/data@v1.0", HUB_MODEL, &r), 0);
	assert_int_equal(r.type, HUB_DATASET);
	assert_string_equal(r.id, "org/data");
	assert_string_equal(r.revision, "v1.0");
	assert_int_equal(hub_parse_repo("hf://org/m", HUB_SPACE, &r), 0);
	assert_int_equal(r.type, HUB_SPACE);

	const char *bad[] = { "",     "a/b/c", "../x",  "a/..", "a--b/c", "-a/b",     "a/b.",
			      "a/b@", "a b/c", "a/b\n", "/a",   "a/",     "x@rev\x01" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(hub_parse_repo(bad[i], HUB_MODEL, &r), MODL_EUSAGE);
	char long_id[300];
	memset(long_id, 'a', sizeof(long_id) - 1);
	long_id[sizeof(long_id) - 1] = '\0';
	assert_int_equal(hub_parse_repo(long_id, HUB_MODEL, &r), MODL_EUSAGE);
}

static void test_repo_type(void **state)
{
	(void)state;
	enum hub_repo_type t;
	assert_int_equal(hub_parse_repo_type("dataset", &t), 0);
	assert_int_equal(t, HUB_DATASET);
	assert_int_equal(hub_parse_repo_type("spaces", &t), 0);
	assert_int_equal(t, HUB_SPACE);
	assert_int_equal(hub_parse_repo_type("kernel", &t), MODL_EUSAGE);
	assert_true(hub_is_commit("0e9e39f249a16976918f6564b8830bc894c89659"));
	assert_false(hub_is_commit("0E9E39F249A16976918F6564B8830BC894C89659"));
	assert_false(hub_is_commit("main"));
	assert_false(hub_is_commit("0e9e39f249a16976918f6564b8830bc894c8965"));
}

static void test_path_safety(void **state)
{
	(void)state;
	assert_true(hub_path_is_safe("model.safetensors"));
	assert_true(hub_path_is_safe("original/params.json"));
	assert_true(hub_path_is_safe("a/.hidden/..x"));
	const char *bad[] = { "",     "/etc/passwd", "../x", "a/../../x", "a/..", "a//b", "a/./b",
			      "a\\b", "a\x01",       "a/",   ".",         "..",   "a\x7f" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_false(hub_path_is_safe(bad[i]));
}

/* Issue 11: characters that reorder or hide text on a terminal, and bytes that are not
 * UTF-8, are refused like control characters. */
static int parse_page(const char *json, struct hub_tree *t);

static void test_path_safety_unicode(void **state)
{
	(void)state;
	assert_true(hub_path_is_safe("caf\xc3\xa9"
				     "/\xe6\x97\xa5\xe6\x9c\xac.txt")); /* café/日本 */
	assert_true(hub_path_is_safe("emoji\xf0\x9f\x98\x80.bin"));     /* U+1F600 */
	/* clang-format off */
	const char *bad[] = {
		"a\xc2\x85Z",          /* U+0085 NEL (C1) */
		"a\xc2\x9bZ",          /* U+009B CSI (C1) */
		"evil\xe2\x80\xaetxt.exe", /* U+202E RLO */
		"a\xe2\x80\xaaZ",      /* U+202A LRE */
		"a\xe2\x81\xa6Z",      /* U+2066 LRI */
		"a\xe2\x81\xa9Z",      /* U+2069 PDI */
		"a\xe2\x80\x8eZ",      /* U+200E LRM */
		"a\xe2\x80\x8fZ",      /* U+200F RLM */
		"a\xd8\x9cZ",          /* U+061C ALM */
		"a\xe2\x80\xa8Z",      /* U+2028 LINE SEPARATOR */
		"a\xffZ",              /* not UTF-8 */
		"a\xc3",               /* truncated sequence */
		"a\xc0\xafZ",          /* overlong '/' */
		"a\xed\xa0\x80Z",      /* UTF-16 surrogate */
		"a\xf4\x90\x80\x80Z",  /* beyond U+10FFFF */
		"a\x1b[31mb",           /* ESC */
	};
	/* clang-format on */
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_false(hub_path_is_safe(bad[i]));
		struct hub_tree t = { 0 };
		char page[256];
		snprintf(page, sizeof(page),
			 "[{\"type\":\"file\",\"oid\":\"%040d\",\"size\":1,"
			 "\"path\":\"%s\"}]",
			 1, bad[i][1] == '\x1b' ? "a\\u001b" : bad[i]);
		assert_int_equal(parse_page(page, &t), MODL_EINVALID);
		/* The message names the path, escaped: no raw control or bidi byte in it. */
		for (const unsigned char *m = (const unsigned char *)modl_error_message(); *m; m++)
			assert_true(*m >= 0x20 && *m < 0x7f);
		hub_tree_free(&t);
	}
}

static const char good_page[] =
	"[{\"type\":\"directory\",\"oid\":\"c86d67c722720df4843d5cf40001ecf4c381d5bb\",\"size\":0,\"path\":\"checkpoints\"},"
	"{\"type\":\"file\",\"oid\":\"09a8d720daebf68187d6f4f8ea40ce5c23c7893e\",\"size\":165771,\"path\":\".gitattributes\"},"
	"{\"type\":\"file\",\"oid\":\"1111111111111111111111111111111111111111\",\"size\":440449768,\"path\":\"model.safetensors\","
	"\"lfs\":{\"oid\":\"68d45e234eb4a928074dfd868cead0219ab85354cc53d20e772753c6bb9169d3\",\"size\":440449768,\"pointerSize\":134},"
	"\"xetHash\":\"ab\"}]";

static int parse_page(const char *json, struct hub_tree *t)
{
	cJSON *page = NULL;
	int rc = hub_json_parse(json, strlen(json), "test", &page);
	if (!rc)
		rc = hub_tree_add_page(t, page, "test");
	cJSON_Delete(page);
	return rc;
}

static void test_tree_page(void **state)
{
	(void)state;
	struct hub_tree t = { 0 };
	assert_int_equal(parse_page(good_page, &t), 0);
	assert_int_equal(t.count, 3);
	assert_true(t.entries[0].is_dir);
	assert_false(t.entries[1].lfs);
	assert_string_equal(t.entries[1].oid, "09a8d720daebf68187d6f4f8ea40ce5c23c7893e");
	assert_int_equal(t.entries[1].size, 165771);
	assert_true(t.entries[2].lfs);
	assert_string_equal(t.entries[2].sha256,
			    "68d45e234eb4a928074dfd868cead0219ab85354cc53d20e772753c6bb9169d3");
	assert_int_equal(t.entries[2].size, 440449768);
	/* A second page appends. */
	assert_int_equal(
		parse_page(
			"[{\"type\":\"file\",\"oid\":\"2222222222222222222222222222222222222222\",\"size\":1,\"path\":\"x\"}]",
			&t),
		0);
	assert_int_equal(t.count, 4);
	hub_tree_free(&t);
}

static void test_tree_page_hostile(void **state)
{
	(void)state;
	/* clang-format off */
	const char *bad[] = {
		"{}",
		"[{\"type\":\"file\",\"oid\":\"09a8d720daebf68187d6f4f8ea40ce5c23c7893e\",\"size\":1,\"path\":\"../../etc/passwd\"}]",
		"[{\"type\":\"file\",\"oid\":\"09a8d720daebf68187d6f4f8ea40ce5c23c7893e\",\"size\":1,\"path\":\"/abs\"}]",
		"[{\"type\":\"file\",\"oid\":\"09a8d720daebf68187d6f4f8ea40ce5c23c7893e\",\"size\":1,\"path\":\"a\\\\b\"}]",
		"[{\"type\":\"file\",\"oid\":\"09a8d720daebf68187d6f4f8ea40ce5c23c7893e\",\"size\":1,\"path\":\"a\\u0000b\"}]",
		"[{\"type\":\"file\",\"oid\":\"nothex\",\"size\":1,\"path\":\"a\"}]",
		"[{\"type\":\"file\",\"oid\":\"09a8d720daebf68187d6f4f8ea40ce5c23c7893e\",\"size\":-5,\"path\":\"a\"}]",
		"[{\"type\":\"file\",\"oid\":\"09a8d720daebf68187d6f4f8ea40ce5c23c7893e\",\"size\":1,\"path\":\"a\",\"lfs\":{\"oid\":\"xyz\",\"size\":1}}]",
		"[{\"type\":\"symlink\",\"oid\":\"09a8d720daebf68187d6f4f8ea40ce5c23c7893e\",\"size\":1,\"path\":\"a\"}]",
		"[{\"oid\":\"09a8d720daebf68187d6f4f8ea40ce5c23c7893e\",\"size\":1}]",
	};
	/* clang-format on */
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct hub_tree t = { 0 };
		assert_int_equal(parse_page(bad[i], &t), MODL_EINVALID);
		hub_tree_free(&t);
	}
}

static int tree_of(const char *json, struct hub_tree *t)
{
	memset(t, 0, sizeof(*t));
	return parse_page(json, t);
}

#define FILE_ENTRY(p, oid) "{\"type\":\"file\",\"oid\":\"" oid "\",\"size\":1,\"path\":\"" p "\"}"
#define DIR_ENTRY(p) "{\"type\":\"directory\",\"oid\":\"" OID_A "\",\"size\":0,\"path\":\"" p "\"}"
#define OID_A "1111111111111111111111111111111111111111"
#define OID_B "2222222222222222222222222222222222222222"

/* Issue 11: a listing that cannot be laid out on disk is refused whole, before any
 * download. */
static void test_tree_validate(void **state)
{
	(void)state;
	struct hub_tree t;
	/* clang-format off */
	const char *ok[] = {
		"[" DIR_ENTRY("a") "," FILE_ENTRY("a/b", OID_A) "," FILE_ENTRY("a.txt", OID_A) ","
		FILE_ENTRY("a/c", OID_B) "]",
		"[" FILE_ENTRY("x/y/z", OID_A) "," FILE_ENTRY("x/y.z", OID_A) "]",
		"[]",
	};
	/* clang-format on */
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		assert_int_equal(tree_of(ok[i], &t), 0);
		assert_int_equal(hub_tree_validate(&t, "test", 20, 0), 0);
		hub_tree_free(&t);
	}
	/* clang-format off */
	const char *bad[] = {
		"[" FILE_ENTRY("a", OID_A) "," FILE_ENTRY("a/b", OID_A) "]",           /* file and folder */
		"[" FILE_ENTRY("a/b/c", OID_A) "," FILE_ENTRY("a.txt", OID_A) "," FILE_ENTRY("a/b", OID_A) "]",
		"[" FILE_ENTRY("a", OID_A) "," DIR_ENTRY("a") "]",                     /* both at once */
		"[" FILE_ENTRY("a", OID_A) "," FILE_ENTRY("a", OID_B) "]",             /* two hashes */
		"[" FILE_ENTRY("a", OID_A) "," FILE_ENTRY("a", OID_A) "]",             /* twice, same hash */
	};
	/* clang-format on */
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(tree_of(bad[i], &t), 0);
		assert_int_equal(hub_tree_validate(&t, "test", 20, 0), MODL_EINVALID);
		assert_non_null(strstr(modl_error_message(), "test"));
		hub_tree_free(&t);
	}
	/* A component over NAME_MAX (255 bytes), a path over PATH_MAX once joined. */
	char name[300], page[9000], path[4200];
	memset(name, 'n', 256);
	name[256] = '\0';
	snprintf(page, sizeof(page), "[" FILE_ENTRY("d/%s", OID_A) "]", name);
	assert_int_equal(tree_of(page, &t), 0);
	assert_int_equal(hub_tree_validate(&t, "test", 20, 0), MODL_EINVALID);
	assert_non_null(strstr(modl_error_message(), "255"));
	hub_tree_free(&t);
	name[255] = '\0'; /* exactly NAME_MAX: fine, but not with a suffix added to it */
	snprintf(page, sizeof(page), "[" FILE_ENTRY("d/%s", OID_A) "]", name);
	assert_int_equal(tree_of(page, &t), 0);
	assert_int_equal(hub_tree_validate(&t, "test", 20, 0), 0);
	assert_int_equal(hub_tree_validate(&t, "test", 20, 11), MODL_EINVALID);
	hub_tree_free(&t);
	size_t n = 0;
	for (int k = 0; k < 20; k++)
		n += (size_t)snprintf(path + n, sizeof(path) - n, "%.200s/", name);
	snprintf(path + n, sizeof(path) - n, "f");
	snprintf(page, sizeof(page), "[" FILE_ENTRY("%s", OID_A) "]", path);
	assert_int_equal(tree_of(page, &t), 0);
	assert_int_equal(hub_tree_validate(&t, "test", 20, 0), 0); /* 4021 bytes: fits */
	assert_int_equal(hub_tree_validate(&t, "test", 100, 0), MODL_EINVALID);
	hub_tree_free(&t);
}

/* Issue 11: a listing bigger than the documented limits is refused, not accumulated. */
static void test_tree_entry_cap(void **state)
{
	(void)state;
	struct hub_tree t;
	setenv("MODL_MAX_LISTING_ENTRIES", "2", 1);
	assert_int_equal(tree_of("[" FILE_ENTRY("a", OID_A) "," FILE_ENTRY("b", OID_A) "]", &t), 0);
	assert_int_equal(parse_page("[" FILE_ENTRY("c", OID_A) "]", &t), MODL_EINVALID);
	assert_non_null(strstr(modl_error_message(), "MODL_MAX_LISTING_ENTRIES"));
	hub_tree_free(&t);
	unsetenv("MODL_MAX_LISTING_ENTRIES");
}

/* A body with bytes after its JSON document is refused (a longer answer than declared). */
static void test_json_trailing_bytes(void **state)
{
	(void)state;
	cJSON *j = NULL;
	assert_int_equal(hub_json_parse("{\"a\":1} \n", 9, "t", &j), 0);
	cJSON_Delete(j);
	j = NULL;
	assert_int_equal(hub_json_parse("{\"a\":1}xxxx", 12, "t", &j), MODL_EINVALID);
	assert_null(j);
}

static void set_header(struct http_response *r, const char *name, const char *value)
{
	r->headers = realloc(r->headers, (r->header_count + 1) * sizeof(*r->headers));
	r->headers[r->header_count].name = strdup(name);
	r->headers[r->header_count].value = strdup(value);
	r->header_count++;
}

static struct hub *open_hub(int with_token)
{
	struct modl_settings s = { 0 };
	s.endpoint = "https://hub.example";
	s.token = with_token ? "hf_secret" : NULL;
	s.token_source = with_token ? "HF_TOKEN" : NULL;
	struct hub *hub = NULL;
	assert_int_equal(hub_open(&hub, &s, 0), 0);
	return hub;
}

static int map(struct hub *hub, long status, const char *code, const char *message)
{
	struct http_response r;
	struct hub_repo repo;
	http_response_init(&r);
	r.status = status;
	if (code)
		set_header(&r, "X-Error-Code", code);
	if (message)
		set_header(&r, "X-Error-Message", message);
	hub_parse_repo("org/model@dev", HUB_MODEL, &repo);
	int rc = hub_error_from_response(hub, &r, &repo, "file x in org/model");
	http_response_free(&r);
	return rc;
}

static void test_error_mapping(void **state)
{
	(void)state;
	struct hub *anon = open_hub(0), *auth = open_hub(1);
	assert_int_equal(map(anon, 404, "RepoNotFound", NULL), MODL_ENOTFOUND);
	assert_non_null(strstr(modl_error_message(), "modl login"));
	assert_int_equal(map(anon, 401, "RepoNotFound", NULL), MODL_ENOTFOUND);
	assert_int_equal(map(auth, 404, "RevisionNotFound", NULL), MODL_ENOTFOUND);
	assert_non_null(strstr(modl_error_message(), "revision 'dev'"));
	assert_int_equal(map(auth, 404, "EntryNotFound", NULL), MODL_ENOTFOUND);
	assert_non_null(strstr(modl_error_message(), "file x in org/model not found"));
	assert_int_equal(map(anon, 401, "GatedRepo", "Access to model org/model is restricted."), MODL_EAUTH);
	assert_non_null(strstr(modl_error_message(), "https://hub.example/org/model"));
	assert_non_null(strstr(modl_error_message(), "no token was sent"));
	assert_int_equal(map(auth, 403, "GatedRepo", NULL), MODL_EAUTH);
	assert_non_null(strstr(modl_error_message(), "a token was sent"));
	assert_int_equal(map(auth, 401, NULL, "Invalid credentials in Authorization header"), MODL_EAUTH);
	assert_non_null(strstr(modl_error_message(), "invalid"));
	assert_null(strstr(modl_error_message(), "hf_secret"));
	assert_int_equal(map(auth, 403, NULL, NULL), MODL_EAUTH);
	assert_int_equal(map(auth, 429, NULL, NULL), MODL_ENET);
	assert_int_equal(map(auth, 503, NULL, NULL), MODL_ENET);
	assert_int_equal(map(auth, 418, NULL, "I\x01m a teapot"), MODL_EFAIL);
	assert_null(strchr(modl_error_message(), '\x01'));
	hub_close(anon);
	hub_close(auth);
}

int main(void)
{
	/* clang-format off */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_repo),
		cmocka_unit_test(test_repo_type),
		cmocka_unit_test(test_path_safety),
		cmocka_unit_test(test_path_safety_unicode),
		cmocka_unit_test(test_tree_validate),
		cmocka_unit_test(test_tree_entry_cap),
		cmocka_unit_test(test_json_trailing_bytes),
		cmocka_unit_test(test_tree_page),
		cmocka_unit_test(test_tree_page_hostile),
		cmocka_unit_test(test_error_mapping),
	};
	/* clang-format on */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
