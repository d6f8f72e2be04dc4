/* modl login [--token TOKEN]: validate a token with the Hub and store it. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "args.h"
#include "hub/auth.h"
#include "util/error.h"
#include "hub/hub.h"
#include "output.h"
#include "command.h"

static const char usage[] = "usage: modl login [--token TOKEN]\n"
			    "\n"
			    "Check a Hugging Face access token with the Hub (whoami) and store it in\n"
			    "$HF_TOKEN_PATH (default $HF_HOME/token), mode 0600 in a 0700 directory, where\n"
			    "huggingface_hub and the other tools find it too. Without --token (or with\n"
			    "--token -) the token is read from standard input, which keeps it out of the\n"
			    "process list and the shell history.\n"
			    "\n"
			    "  --token TOKEN  the token (hf_...), or - for standard input\n";

static int run(const struct modl_ctx *ctx, int argc, char **argv)
{
	const char *token_arg = NULL;
	/* clang-format off */
	const struct args_option options[] = {
		{ "token", 0, ARGS_STRING, &token_arg, 0, 0 },
		{ 0 },
	};
	/* clang-format on */
	char token[4096];
	cJSON *me = NULL;
	int n, rc = args_parse("login", options, argc, argv, &n);
	if (rc)
		return rc;
	if (n != 0)
		return modl_error_set(MODL_EUSAGE, "login: unexpected argument '%s'", argv[0]);
	if (token_arg && strcmp(token_arg, "-")) {
		if (strlen(token_arg) >= sizeof(token))
			return modl_error_set(MODL_EUSAGE, "login: token too long");
		strcpy(token, token_arg);
		if (!settings_clean_token(token))
			return modl_error_set(MODL_EUSAGE, "login: empty token");
	} else {
		if (isatty(STDIN_FILENO) && !ctx->quiet)
			fputs("Token (from https://huggingface.co/settings/tokens): ", stderr);
		if ((rc = auth_read_token(stdin, token, sizeof(token))))
			return rc;
	}
	if (ctx->settings.offline)
		return modl_error_set(MODL_ENET,
				      "login: offline mode (HF_HUB_OFFLINE): cannot check the token");
	rc = hub_whoami_token(&ctx->settings, token, ctx->verbose, &me);
	if (!rc)
		rc = auth_store_token(&ctx->settings, token);
	memset(token, 0, sizeof(token));
	if (!rc) {
		const cJSON *name = cJSON_GetObjectItemCaseSensitive(me, "name");
		const char *user = cJSON_IsString(name) ? name->valuestring : "?";
		if (ctx->json) {
			cJSON *doc = cJSON_CreateObject();
			cJSON_AddStringToObject(doc, "user", user);
			cJSON_AddStringToObject(doc, "token_path", ctx->settings.token_path);
			rc = output_json(doc);
		} else if (!ctx->quiet) {
			printf("Logged in as %s; token saved to %s\n", user, ctx->settings.token_path);
		}
		if (ctx->settings.token_source && strcmp(ctx->settings.token_source, "token file"))
			fprintf(stderr, "modl: note: %s is set and takes precedence over the saved token\n",
				ctx->settings.token_source);
	}
	cJSON_Delete(me);
	return rc;
}

const struct modl_command cmd_login = { "login", "check a token with the Hub and save it", usage, run };
