/* license_check_remote(), the function `modl pull --policy` calls before any weight is
 * downloaded, against the local test Hub (tests/hub/hub.py, started here): only the card
 * and the license files are requested, and a policy that fails returns MODL_EPOLICY with
 * the reasons. Needs /usr/bin/python3 (or $PYTHON); run from the work tree root. */
#include "unit.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/error.h"
#include "hub/http.h"
#include "hub/hub.h"
#include "license/license.h"
#include "util/settings.h"

static struct {
	char root[256];
	pid_t pid;
	int to_hub; /* the hub's stdin: it exits when this closes */
	char endpoint[128];
	struct modl_settings settings;
	struct hub *hub;
} env;

static void write_file(const char *rel, const char *text, size_t len)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", env.root, rel);
	for (char *p = path + strlen(env.root) + 1; (p = strchr(p, '/')); p++) {
		*p = '\0';
		mkdir(path, 0755);
		*p = '/';
	}
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, len, f), len);
	fclose(f);
}

static void write_text(const char *rel, const char *text)
{
	write_file(rel, text, strlen(text));
}

static void write_license(const char *rel, const char *id)
{
	const struct license_info *l = license_kb_find(id);
	assert_non_null(l);
	write_file(rel, l->text, l->text_len);
}

static int start_hub(void **state)
{
	(void)state;
	int in[2], out[2];
	snprintf(env.root, sizeof(env.root), "/tmp/modl-unit-license-XXXXXX");
	if (!mkdtemp(env.root) || pipe(in) || pipe(out))
		return -1;
	const char *python = getenv("PYTHON") && *getenv("PYTHON") ? getenv("PYTHON") : "/usr/bin/python3";
	env.pid = fork();
	if (env.pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		close(in[1]);
		close(out[0]);
		execl(python, python, "tests/hub/hub.py", "--root", env.root, "--exit-on-stdin-eof",
		      (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	env.to_hub = in[1];
	/* The repositories: a gated-free model under CC BY-NC, with weights in LFS. */
	write_text("models/acme/nc/.gitattributes", "*.safetensors filter=lfs diff=lfs merge=lfs -text\n");
	write_text("models/acme/nc/README.md",
		   "---\nlicense: cc-by-nc-4.0\nbase_model: acme/base\n---\n# NC\n");
	write_license("models/acme/nc/LICENSE", "cc-by-nc-4.0");
	write_text("models/acme/nc/model.safetensors", "weights that must never be fetched");
	write_text("models/acme/nc/config.json", "{}");
	write_text("models/acme/base/README.md", "---\nlicense: apache-2.0\n---\n");
	/* The hub says where it listens once it does. */
	char line[512] = "";
	size_t got = 0;
	while (got < sizeof(line) - 1 && !strchr(line, '\n')) {
		ssize_t n = read(out[0], line + got, sizeof(line) - 1 - got);
		if (n <= 0)
			break;
		got += (size_t)n;
		line[got] = '\0';
	}
	close(out[0]);
	char *e = strstr(line, "\"endpoint\": \"");
	if (!e)
		return -1;
	e += strlen("\"endpoint\": \"");
	snprintf(env.endpoint, sizeof(env.endpoint), "%.*s", (int)strcspn(e, "\""), e);
	setenv("HF_ENDPOINT", env.endpoint, 1);
	char home[300];
	snprintf(home, sizeof(home), "%s/hf", env.root);
	setenv("HF_HOME", home, 1);
	unsetenv("HF_TOKEN");
	unsetenv("HF_HUB_OFFLINE");
	setenv("MODL_RETRY_BASE_MS", "20", 1);
	if (settings_load(&env.settings) || http_global_init() || hub_open(&env.hub, &env.settings, 0))
		return -1;
	return 0;
}

static int stop_hub(void **state)
{
	(void)state;
	hub_close(env.hub);
	http_global_cleanup();
	settings_free(&env.settings);
	close(env.to_hub);
	int status;
	waitpid(env.pid, &status, 0);
	char cmd[400];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", env.root);
	return system(cmd) == 0 ? 0 : -1;
}

/* GET or POST one of the hub's /_test/ control endpoints; the answer's body. */
static char *control(const char *method, const char *path)
{
	struct http_client *c;
	struct http_client_options o = { .user_agent = "unit", .max_retries = 0 };
	struct http_response resp;
	char url[256];
	snprintf(url, sizeof(url), "%s%s", env.endpoint, path);
	assert_int_equal(http_client_new(&c, &o), 0);
	http_response_init(&resp);
	struct http_request req = { .method = method, .url = url, .range_start = -1, .range_end = -1 };
	assert_int_equal(http_perform(c, &req, &resp), 0);
	char *body = strdup(resp.body.buf ? resp.body.buf : "");
	http_response_free(&resp);
	http_client_free(c);
	return body;
}

static void listing(const char *id, char commit[41], struct hub_tree *tree)
{
	struct hub_repo repo;
	cJSON *info = NULL;
	assert_int_equal(hub_parse_repo(id, HUB_MODEL, &repo), 0);
	assert_int_equal(hub_repo_info(env.hub, &repo, 0, &info), 0);
	snprintf(commit, 41, "%s", cJSON_GetObjectItem(info, "sha")->valuestring);
	cJSON_Delete(info);
	assert_int_equal(hub_list_tree(env.hub, &repo, commit, NULL, 1, tree), 0);
}

static char *policy_file(const char *json)
{
	static char path[320];
	snprintf(path, sizeof(path), "%s/policy.json", env.root);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(json, f);
	fclose(f);
	return path;
}

static void test_policy_fails_before_any_weight(void **state)
{
	(void)state;
	struct hub_repo repo;
	struct hub_tree tree = { 0 };
	struct license_report r;
	char commit[41];
	listing("acme/nc", commit, &tree);
	assert_int_equal(hub_parse_repo("acme/nc", HUB_MODEL, &repo), 0);
	free(control("POST", "/_test/reset"));
	const char *policy = policy_file("{\"deny\": [\"cc-by-nc-*\"], \"require_commercial_use\": true}");
	assert_int_equal(license_check_remote(env.hub, &repo, commit, &tree, policy, &r), MODL_EPOLICY);
	assert_non_null(strstr(modl_error_message(), "license policy"));
	assert_non_null(strstr(modl_error_message(), "license cc-by-nc-4.0 is denied"));
	assert_non_null(strstr(modl_error_message(), "commercial use is forbidden"));
	assert_int_equal(r.verdict, LICENSE_VERDICT_FAIL);
	assert_int_equal(r.file_count, 1);
	assert_string_equal(r.files[0].detection.matches[0].info->id, "cc-by-nc-4.0");
	assert_string_equal(r.commit, commit);
	assert_int_equal(r.base_count, 1);
	assert_string_equal(r.bases[0].declared, "apache-2.0");
	license_report_free(&r);
	/* The Hub saw the card, the license and the base model's card: no weight, nothing else. */
	char *log = control("GET", "/_test/log");
	assert_null(strstr(log, "safetensors"));
	assert_null(strstr(log, "config.json"));
	assert_non_null(strstr(log, "/LICENSE"));
	assert_non_null(strstr(log, "acme/base/resolve/main/README.md"));
	free(log);
	hub_tree_free(&tree);
}

static void test_policy_passes_and_no_policy(void **state)
{
	(void)state;
	struct hub_repo repo;
	struct hub_tree tree = { 0 };
	struct license_report r;
	char commit[41];
	listing("acme/nc", commit, &tree);
	assert_int_equal(hub_parse_repo("acme/nc", HUB_MODEL, &repo), 0);
	const char *policy = policy_file("{\"allow\": [\"cc-by-*\", \"apache-2.0\"], \"max_unknown\": 0}");
	assert_int_equal(license_check_remote(env.hub, &repo, commit, &tree, policy, &r), 0);
	assert_int_equal(r.verdict, LICENSE_VERDICT_PASS);
	license_report_free(&r);
	assert_int_equal(license_check_remote(env.hub, &repo, commit, &tree, NULL, &r), 0);
	assert_int_equal(r.commercial, LICENSE_COMMERCIAL_FORBIDDEN);
	assert_string_equal(license_commercial_name(r.commercial), "forbidden");
	license_report_free(&r);
	hub_tree_free(&tree);
}

static void test_malformed_policy_reads_nothing(void **state)
{
	(void)state;
	struct hub_repo repo;
	struct hub_tree tree = { 0 };
	struct license_report r;
	char commit[41];
	listing("acme/nc", commit, &tree);
	assert_int_equal(hub_parse_repo("acme/nc", HUB_MODEL, &repo), 0);
	free(control("POST", "/_test/reset"));
	const char *policy = policy_file("{\"deny\": \"mit\"}");
	assert_int_equal(license_check_remote(env.hub, &repo, commit, &tree, policy, &r), MODL_EINVALID);
	assert_non_null(strstr(modl_error_message(), "\"deny\" must be a list"));
	license_report_free(&r);
	char *log = control("GET", "/_test/log");
	assert_null(strstr(log, "resolve"));
	free(log);
	hub_tree_free(&tree);
}

int main(void)
{
	/* clang-format off */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_policy_fails_before_any_weight),
		cmocka_unit_test(test_policy_passes_and_no_policy),
		cmocka_unit_test(test_malformed_policy_reads_nothing),
	};
	/* clang-format on */
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, start_hub, stop_hub);
}
