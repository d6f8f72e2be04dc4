#include "unit.h"

#include <string.h>

#include "../../cmd/args.h"
#include "util/error.h"

static void test_long_short_and_values(void **state)
{
	(void)state;
	int flag = 0;
	const char *name = NULL;
	long jobs = 8;
	struct args_list inc = { 0 };
	/* clang-format off */
	const struct args_option opts[] = {
		{ "force", 'f', ARGS_FLAG, &flag, 0, 0 },
		{ "name", 'n', ARGS_STRING, &name, 0, 0 },
		{ "jobs", 'j', ARGS_INT, &jobs, 1, 64 },
		{ "include", 0, ARGS_LIST, &inc, 0, 0 },
		{ 0 },
	};
	/* clang-format on */
	char *argv[] = {
		"repo",         "--force", "--name=x",        "-j", "3", "--include", "*.json", "file",
		"--include=a/", "--",      "--not-an-option", NULL
	};
	int n = 0;
	assert_int_equal(args_parse("t", opts, 11, argv, &n), 0);
	assert_int_equal(flag, 1);
	assert_string_equal(name, "x");
	assert_int_equal(jobs, 3);
	assert_int_equal(inc.count, 2);
	assert_string_equal(inc.items[0], "*.json");
	assert_string_equal(inc.items[1], "a/");
	assert_int_equal(n, 3);
	assert_string_equal(argv[0], "repo");
	assert_string_equal(argv[1], "file");
	assert_string_equal(argv[2], "--not-an-option");
	args_list_free(&inc);
}

static void test_errors(void **state)
{
	(void)state;
	long jobs = 8;
	int flag = 0;
	/* clang-format off */
	const struct args_option opts[] = {
		{ "jobs", 'j', ARGS_INT, &jobs, 1, 64 },
		{ "force", 0, ARGS_FLAG, &flag, 0, 0 },
		{ 0 },
	};
	/* clang-format on */
	int n;
	char *a1[] = { "--jobs", "0", NULL };
	assert_int_equal(args_parse("pull", opts, 2, a1, &n), MODL_EUSAGE);
	assert_non_null(strstr(modl_error_message(), "--jobs takes a whole number from 1 to 64"));
	char *a2[] = { "--jobs", "3x", NULL };
	assert_int_equal(args_parse("pull", opts, 2, a2, &n), MODL_EUSAGE);
	char *a3[] = { "--jobs", NULL };
	assert_int_equal(args_parse("pull", opts, 1, a3, &n), MODL_EUSAGE);
	assert_non_null(strstr(modl_error_message(), "needs a value"));
	char *a4[] = { "--jbos", "2", NULL };
	assert_int_equal(args_parse("pull", opts, 2, a4, &n), MODL_EUSAGE);
	assert_non_null(strstr(modl_error_message(), "did you mean '--jobs'"));
	char *a5[] = { "--force=yes", NULL };
	assert_int_equal(args_parse("pull", opts, 1, a5, &n), MODL_EUSAGE);
	char *a6[] = { "--zzzzzzzzzz", NULL };
	assert_int_equal(args_parse("pull", opts, 1, a6, &n), MODL_EUSAGE);
	assert_null(strstr(modl_error_message(), "did you mean"));
}

static void test_suggest(void **state)
{
	(void)state;
	const char *names[] = { "info", "ls", "login", "logout", "whoami", "env" };
	assert_string_equal(args_suggest("lss", names, 6), "ls");
	assert_string_equal(args_suggest("logni", names, 6), "login");
	assert_string_equal(args_suggest("whoamii", names, 6), "whoami");
	assert_null(args_suggest("quantize", names, 6));
}

int main(void)
{
	/* clang-format off */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_long_short_and_values),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_suggest),
	};
	/* clang-format on */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
