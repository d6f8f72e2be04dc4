/* modl logout: remove the stored token. */
#include <stdio.h>
#include <string.h>

#include "args.h"
#include "hub/auth.h"
#include "util/error.h"
#include "output.h"
#include "command.h"

static const char usage[] =
	"usage: modl logout\n"
	"\n"
	"Remove the token stored by 'modl login' ($HF_TOKEN_PATH, default $HF_HOME/token).\n"
	"A token given by HF_TOKEN or HUGGING_FACE_HUB_TOKEN is not affected.\n";

static int run(const struct modl_ctx *ctx, int argc, char **argv)
{
	const struct args_option options[] = { { 0 } };
	int n, removed, rc = args_parse("logout", options, argc, argv, &n);
	if (rc)
		return rc;
	if (n != 0)
		return modl_error_set(MODL_EUSAGE, "logout: unexpected argument '%s'", argv[0]);
	if ((rc = auth_remove_token(&ctx->settings, &removed)))
		return rc;
	if (ctx->json) {
		cJSON *doc = cJSON_CreateObject();
		cJSON_AddBoolToObject(doc, "removed", removed);
		cJSON_AddStringToObject(doc, "token_path", ctx->settings.token_path);
		rc = output_json(doc);
	} else if (!ctx->quiet) {
		printf(removed ? "Logged out: removed %s\n" : "Not logged in: no token at %s\n",
		       ctx->settings.token_path);
	}
	if (ctx->settings.token_source && strcmp(ctx->settings.token_source, "token file"))
		fprintf(stderr, "modl: note: %s is still set in the environment\n",
			ctx->settings.token_source);
	return rc;
}

const struct modl_command cmd_logout = { "logout", "remove the saved token", usage, run };
