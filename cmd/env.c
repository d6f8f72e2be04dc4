/* modl env: versions, endpoint, paths, and whether a token is present (never the token). */
#include <curl/curl.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "../src/args.h"
#include "../src/error.h"
#include "../src/output.h"
#include "../src/version.h"
#include "command.h"

static const char usage[] =
	"usage: modl env [--json]\n"
	"\n"
	"Print what modl runs with: its version and libraries, the endpoint, the cache\n"
	"paths, offline mode, the thread count, and whether a token is present and where it\n"
	"comes from. The token itself is never printed.\n";

static int run(const struct modl_ctx *ctx, int argc, char **argv)
{
	const struct args_option options[] = { { 0 } };
	int n, rc = args_parse("env", options, argc, argv, &n);
	if (rc)
		return rc;
	if (n != 0)
		return modl_error_set(MODL_EUSAGE, "env: unexpected argument '%s'", argv[0]);
	const struct modl_settings *s = &ctx->settings;
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
	cJSON_AddBoolToObject(doc, "token_present", s->token != NULL);
	if (s->token_source)
		cJSON_AddStringToObject(doc, "token_source", s->token_source);
	else
		cJSON_AddNullToObject(doc, "token_source");
	cJSON_AddBoolToObject(doc, "offline", s->offline);
	cJSON_AddNumberToObject(doc, "threads", threads && atoi(threads) > 0 ? atoi(threads)
					       : (cores > 0 ? (double)cores : 1));
	if (ctx->json)
		return output_json(doc);
	printf("modl version:  %s\n", MODL_VERSION);
	printf("libcurl:       %s\n", curl_version_info(CURLVERSION_NOW)->version);
	printf("OpenSSL:       %s\n", OpenSSL_version(OPENSSL_VERSION));
	printf("endpoint:      %s\n", s->endpoint);
	printf("HF_HOME:       %s\n", s->hf_home);
	printf("hub cache:     %s\n", s->hub_cache);
	printf("token path:    %s\n", s->token_path);
	printf("token:         %s%s%s\n", s->token ? "present (from " : "none",
	       s->token ? s->token_source : "", s->token ? ")" : "");
	printf("offline:       %s\n", s->offline ? "yes" : "no");
	printf("threads:       %d\n", (int)cJSON_GetObjectItem(doc, "threads")->valuedouble);
	cJSON_Delete(doc);
	return 0;
}

const struct modl_command cmd_env = { "env", "show versions, endpoint, paths and token presence",
				      usage, run };
