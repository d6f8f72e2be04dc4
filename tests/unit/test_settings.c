#include "unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hub/auth.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/settings.h"

static char tmpdir[64];

static int setup(void **state)
{
	(void)state;
	strcpy(tmpdir, "/tmp/modl-unit-XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	static const char *vars[] = { "HF_HOME",
				      "HF_HUB_CACHE",
				      "HUGGINGFACE_HUB_CACHE",
				      "XDG_CACHE_HOME",
				      "HF_TOKEN",
				      "HUGGING_FACE_HUB_TOKEN",
				      "HF_TOKEN_PATH",
				      "HF_ENDPOINT",
				      "HF_HUB_OFFLINE",
				      "TRANSFORMERS_OFFLINE",
				      "NO_COLOR",
				      "HF_HUB_DISABLE_PROGRESS_BARS" };
	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
		unsetenv(vars[i]);
	setenv("HOME", tmpdir, 1);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	return system(cmd);
}

static void test_path_precedence(void **state)
{
	(void)state;
	struct modl_settings s;
	char want[256];
	assert_int_equal(settings_load(&s), 0);
	snprintf(want, sizeof(want), "%s/.cache/huggingface", tmpdir);
	assert_string_equal(s.hf_home, want);
	snprintf(want, sizeof(want), "%s/.cache/huggingface/hub", tmpdir);
	assert_string_equal(s.hub_cache, want);
	snprintf(want, sizeof(want), "%s/.cache/huggingface/token", tmpdir);
	assert_string_equal(s.token_path, want);
	assert_string_equal(s.endpoint, "https://huggingface.co");
	settings_free(&s);

	setenv("XDG_CACHE_HOME", "/x", 1);
	assert_int_equal(settings_load(&s), 0);
	assert_string_equal(s.hf_home, "/x/huggingface");
	assert_string_equal(s.hub_cache, "/x/huggingface/hub");
	settings_free(&s);

	setenv("HF_HOME", "/h", 1);
	setenv("HUGGINGFACE_HUB_CACHE", "/legacy", 1);
	assert_int_equal(settings_load(&s), 0);
	assert_string_equal(s.hf_home, "/h");
	assert_string_equal(s.hub_cache, "/legacy");
	assert_string_equal(s.token_path, "/h/token");
	settings_free(&s);

	setenv("HF_HUB_CACHE", "/c", 1);
	setenv("HF_TOKEN_PATH", "/t/tok", 1);
	setenv("HF_ENDPOINT", "http://127.0.0.1:9/", 1);
	setenv("HF_HUB_OFFLINE", "1", 1);
	assert_int_equal(settings_load(&s), 0);
	assert_string_equal(s.hub_cache, "/c");
	assert_string_equal(s.token_path, "/t/tok");
	assert_string_equal(s.endpoint, "http://127.0.0.1:9");
	assert_true(s.offline);
	settings_free(&s);

	setenv("HF_ENDPOINT", "ftp://x", 1);
	assert_int_equal(settings_load(&s), MODL_EUSAGE);
	settings_free(&s);
	unsetenv("HF_ENDPOINT");
	unsetenv("HF_HUB_OFFLINE");
	unsetenv("HF_HUB_CACHE");
	unsetenv("HF_TOKEN_PATH");
	unsetenv("HUGGINGFACE_HUB_CACHE");
	unsetenv("XDG_CACHE_HOME");
	unsetenv("HF_HOME");
}

static void test_token_precedence(void **state)
{
	(void)state;
	struct modl_settings s;
	char home[128];
	snprintf(home, sizeof(home), "%s/home", tmpdir);
	setenv("HF_HOME", home, 1);
	assert_int_equal(settings_load(&s), 0);
	assert_null(s.token);
	/* login stores the token 0600 in a 0700 directory */
	assert_int_equal(auth_store_token(&s, "hf_file"), 0);
	struct stat st;
	assert_int_equal(stat(s.token_path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(stat(home, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	settings_free(&s);

	assert_int_equal(settings_load(&s), 0);
	const char *source = NULL;
	assert_null(s.token); /* the file is read on first use only */
	assert_string_equal(settings_token(&s, &source), "hf_file");
	assert_string_equal(source, "token file");
	settings_free(&s);

	setenv("HUGGING_FACE_HUB_TOKEN", "hf_legacy\n", 1);
	assert_int_equal(settings_load(&s), 0);
	assert_string_equal(settings_token(&s, &source), "hf_legacy");
	assert_string_equal(source, "HUGGING_FACE_HUB_TOKEN");
	settings_free(&s);

	setenv("HF_TOKEN", "  hf_env \r\n", 1);
	assert_int_equal(settings_load(&s), 0);
	assert_string_equal(settings_token(&s, &source), "hf_env");
	assert_string_equal(source, "HF_TOKEN");
	settings_free(&s);

	/* An empty variable counts as none. */
	setenv("HF_TOKEN", " ", 1);
	unsetenv("HUGGING_FACE_HUB_TOKEN");
	assert_int_equal(settings_load(&s), 0);
	assert_string_equal(settings_token(&s, NULL), "hf_file");
	int removed = 0;
	assert_int_equal(auth_remove_token(&s, &removed), 0);
	assert_true(removed);
	assert_int_equal(auth_remove_token(&s, &removed), 0);
	assert_false(removed);
	settings_free(&s);
	unsetenv("HF_TOKEN");
	unsetenv("HF_HOME");
}

static void test_read_token(void **state)
{
	(void)state;
	char buf[64];
	FILE *f = fmemopen("  hf_abc\r\nrest", 14, "r");
	assert_int_equal(auth_read_token(f, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "hf_abc");
	fclose(f);
	f = fmemopen("\n", 1, "r");
	assert_int_equal(auth_read_token(f, buf, sizeof(buf)), MODL_EUSAGE);
	fclose(f);
}

static void test_atomic_write(void **state)
{
	(void)state;
	char path[128], *data = NULL;
	size_t len = 0;
	snprintf(path, sizeof(path), "%s/a/b/c", tmpdir);
	assert_int_equal(fs_mkdir_p(path, 0755), 0);
	strcat(path, "/file");
	assert_int_equal(fs_write_atomic(path, "one", 3, 0644), 0);
	assert_int_equal(fs_write_atomic(path, "second", 6, 0644), 0);
	assert_int_equal(fs_read_file(path, 100, &data, &len), 0);
	assert_int_equal(len, 6);
	assert_string_equal(data, "second");
	free(data);
	assert_int_equal(fs_read_file(path, 3, &data, &len), MODL_EINVALID);
	strcat(path, ".missing");
	assert_int_equal(fs_read_file(path, 100, &data, &len), MODL_ENOTFOUND);
}

int main(void)
{
	/* clang-format off */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_path_precedence),
		cmocka_unit_test(test_token_precedence),
		cmocka_unit_test(test_read_token),
		cmocka_unit_test(test_atomic_write),
	};
	/* clang-format on */
	return cmocka_run_group_tests(tests, setup, teardown);
}
