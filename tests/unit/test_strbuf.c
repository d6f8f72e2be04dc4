#include "unit.h"

#include <stdlib.h>
#include <string.h>

#include "formats/fmt.h"
#include "util/error.h"
#include "util/strbuf.h"

static void test_add_and_take(void **state)
{
	(void)state;
	struct strbuf sb = STRBUF_INIT;
	strbuf_init(&sb);
	assert_string_equal(sb.buf, "");
	for (int i = 0; i < 1000; i++)
		assert_int_equal(strbuf_addf(&sb, "%d,", i % 10), 0);
	assert_int_equal(sb.len, 2000);
	assert_int_equal(sb.buf[1999], ',');
	char *s = strbuf_take(&sb);
	assert_int_equal(strlen(s), 2000);
	assert_int_equal(sb.len, 0);
	free(s);
	s = strbuf_take(&sb); /* empty: still a real heap string */
	assert_string_equal(s, "");
	free(s);
}

static void test_urlencode(void **state)
{
	(void)state;
	struct strbuf sb = STRBUF_INIT;
	strbuf_add_urlencoded(&sb, "refs/pr/1", 0);
	assert_string_equal(sb.buf, "refs%2Fpr%2F1");
	strbuf_reset(&sb);
	strbuf_add_urlencoded(&sb, "dir/a b+c?.json", 1);
	assert_string_equal(sb.buf, "dir/a%20b%2Bc%3F.json");
	strbuf_free(&sb);
}

static void test_sizes(void **state)
{
	(void)state;
	struct strbuf sb = STRBUF_INIT;
	strbuf_add_size(&sb, 999);
	assert_string_equal(sb.buf, "999 B");
	strbuf_reset(&sb);
	strbuf_add_size(&sb, 1044992);
	assert_string_equal(sb.buf, "1.0 MB");
	strbuf_reset(&sb);
	strbuf_add_size(&sb, 16060522496ULL);
	assert_string_equal(sb.buf, "16.1 GB");
	strbuf_free(&sb);
}

static void test_error_facility(void **state)
{
	(void)state;
	assert_int_equal(modl_error_set(MODL_ENOTFOUND, "file %s", "x"), MODL_ENOTFOUND);
	assert_string_equal(modl_error_message(), "file x");
	modl_error_prefix("pull %s", "r");
	assert_string_equal(modl_error_message(), "pull r: file x");
	assert_int_equal(modl_error_errno(MODL_EFAIL, 2, "open y"), MODL_EFAIL);
	assert_string_equal(modl_error_message(), "open y: No such file or directory");
	/* Exit statuses are those of doc/cli.md. */
	assert_int_equal(modl_error_exit_status(0), 0);
	assert_int_equal(modl_error_exit_status(MODL_EFAIL), 1);
	assert_int_equal(modl_error_exit_status(MODL_EUSAGE), 2);
	assert_int_equal(modl_error_exit_status(MODL_ENET), 3);
	assert_int_equal(modl_error_exit_status(MODL_ENOTFOUND), 4);
	assert_int_equal(modl_error_exit_status(MODL_EAUTH), 5);
	assert_int_equal(modl_error_exit_status(MODL_EINTEGRITY), 6);
	assert_int_equal(modl_error_exit_status(MODL_EPOLICY), 7);
	assert_int_equal(modl_error_exit_status(MODL_EINVALID), 8);
	assert_int_equal(modl_error_exit_status(-99), 1);
	char big[3000];
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	modl_error_set(MODL_EFAIL, "%s", big);
	modl_error_prefix("p");
	assert_true(strlen(modl_error_message()) < 1024);
	assert_memory_equal(modl_error_message(), "p: aaa", 6);
}

/* Cleanup code that fails must not replace the error being unwound. */
static void test_error_save_restore(void **state)
{
	(void)state;
	struct modl_error_saved saved;
	modl_error_set(MODL_EINTEGRITY, "blob x: sha256 mismatch");
	modl_error_save(&saved);
	modl_error_set(MODL_EFAIL, "cannot remove x.incomplete"); /* the cleanup failed too */
	assert_int_equal(modl_error_restore(&saved), MODL_EINTEGRITY);
	assert_int_equal(modl_error_code(), MODL_EINTEGRITY);
	assert_string_equal(modl_error_message(), "blob x: sha256 mismatch");
	assert_int_equal(modl_error_oom(), MODL_EFAIL);
	assert_string_equal(modl_error_message(), "out of memory");
	/* A prefix longer than the message still leaves a terminated, bounded message. */
	char big[2000];
	memset(big, 'p', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	modl_error_set(MODL_EFAIL, "m");
	modl_error_prefix("%s", big);
	assert_int_equal(strlen(modl_error_message()), 1023);
}

/* formats/ statuses become the exit codes of doc/cli.md in one place. */
static void test_error_from_fmt(void **state)
{
	(void)state;
	assert_int_equal(modl_error_from_fmt(FMT_ENOTFOUND, "a.gguf", "no such file"), MODL_ENOTFOUND);
	assert_string_equal(modl_error_message(), "a.gguf: no such file");
	assert_int_equal(modl_error_from_fmt(FMT_EINVALID, "a.gguf", "bad magic"), MODL_EINVALID);
	assert_int_equal(modl_error_from_fmt(FMT_EUNSUPPORTED, "a.gguf", "big-endian"), MODL_EINVALID);
	assert_int_equal(modl_error_from_fmt(FMT_EIO, "a.gguf", "Input/output error"), MODL_EFAIL);
	assert_int_equal(modl_error_from_fmt(FMT_ENOMEM, "a.gguf", "x"), MODL_EFAIL);
	assert_string_equal(modl_error_message(), "out of memory");
}

int main(void)
{
	/* clang-format off */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_add_and_take),
		cmocka_unit_test(test_urlencode),
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_error_facility),
		cmocka_unit_test(test_error_save_restore),
		cmocka_unit_test(test_error_from_fmt),
	};
	/* clang-format on */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
