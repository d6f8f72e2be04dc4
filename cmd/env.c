/* modl env: versions, endpoint, paths, and whether a token is present (never the token). */
#include <curl/curl.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "args.h"
#include "util/error.h"
#include "util/escape.h"
#include "output.h"
#include "util/strbuf.h"
#include "util/version.h"
#include "command.h"

static const char usage[] =
	"usage: modl env [--json]\n"
	"\n"
	"Print what modl runs with: its version and libraries, the endpoint, the cache\n"
	"paths, offline mode, the thread count, and whether a token is present and where it\n"
	"comes from. The token itself is never printed.\n";

/* One line: paths come from the environment, and are escaped like any outside text. */
static void field(const char *label, const char *value)
{
	printf("%-14s ", label);
	escape_fputs(value, 0, stdout);
	putchar('\n');
}

static int run(const struct modl_ctx *ctx, int argc, char **argv)
{
	const struct args_option options[] = { { 0 } };
	int n, rc = args_parse("env", options, argc, argv, &n);
	if (rc)
		return rc;
	if (n != 0)
		return modl_error_set(MODL_EUSAGE, "env: unexpected argument '%s'", argv[0]);
	const struct modl_settings *s = &ctx->settings;
	const char *token_source = NULL, *token_problem = NULL;
	const char *token = settings_token_status(s, &token_source, &token_problem);
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	const char *threads = getenv("MODL_THREADS");
	cJSON *doc = cJSON_CreateObject();
	cJSON_AddStringToObject(doc, "version", MODL_VERSION);
	cJSON_AddStringToObject(doc, "curl", curl_version_info(CURLVERSION_NOW)->version);
	cJSON_AddStringToObject(doc, "openssl", OpenSSL_version(OPENSSL_VERSION));
	cJSON_AddStringToObject(doc, "endpoint", s->endpoint);
	cJSON_AddStringToObject(doc, "hf_home", s->hf_home);
	cJSON_AddStringToObject(doc, "hub_cache", s->hub_cache);
	cJSON_AddStringToObject(doc, "token_path", s->token_path);
	cJSON_AddBoolToObject(doc, "token_present", token != NULL);
	if (token_source)
		cJSON_AddStringToObject(doc, "token_source", token_source);
	else
		cJSON_AddNullToObject(doc, "token_source");
	/* A token file that cannot be used: diagnosed here, not an error. */
	if (token_problem) {
		struct strbuf problem = STRBUF_INIT;
		strbuf_addf(&problem, "token file %s: %s", s->token_path, token_problem);
		cJSON_AddStringToObject(doc, "token_problem", problem.buf ? problem.buf : "");
		strbuf_free(&problem);
	} else {
		cJSON_AddNullToObject(doc, "token_problem");
	}
	cJSON_AddBoolToObject(doc, "offline", s->offline);
	cJSON_AddNumberToObject(doc, "threads",
				threads && atoi(threads) > 0 ? atoi(threads)
							     : (cores > 0 ? (double)cores : 1));
	if (ctx->json)
		return output_json(doc);
	field("modl version:", MODL_VERSION);
	field("libcurl:", curl_version_info(CURLVERSION_NOW)->version);
	field("OpenSSL:", OpenSSL_version(OPENSSL_VERSION));
	field("endpoint:", s->endpoint);
	field("HF_HOME:", s->hf_home);
	field("hub cache:", s->hub_cache);
	field("token path:", s->token_path);
	struct strbuf line = STRBUF_INIT;
	if (token)
		strbuf_addf(&line, "present (from %s)", token_source);
	else if (token_problem)
		strbuf_addf(&line, "none (%s)", cJSON_GetObjectItem(doc, "token_problem")->valuestring);
	else
		strbuf_adds(&line, "none");
	field("token:", line.buf ? line.buf : "none");
	strbuf_free(&line);
	field("offline:", s->offline ? "yes" : "no");
	printf("threads:       %d\n", (int)cJSON_GetObjectItem(doc, "threads")->valuedouble);
	cJSON_Delete(doc);
	return 0;
}

const struct modl_command cmd_env = { "env", "show versions, endpoint, paths and token presence", usage,
				      run };
