/* modl whoami: the user the token belongs to. */
#include <stdio.h>

#include "args.h"
#include "util/error.h"
#include "hub/hub.h"
#include "output.h"
#include "command.h"

static const char usage[] =
	"usage: modl whoami [--json]\n"
	"\n"
	"Ask the Hub which user the token (HF_TOKEN, HUGGING_FACE_HUB_TOKEN or the saved\n"
	"token) belongs to, and print the user and organisations. Exit 5 when there is\n"
	"no token or the Hub refuses it.\n";

static int run(const struct modl_ctx *ctx, int argc, char **argv)
{
	const struct args_option options[] = { { 0 } };
	struct hub *hub = NULL;
	cJSON *me = NULL;
	int n, rc = args_parse("whoami", options, argc, argv, &n);
	if (rc)
		return rc;
	if (n != 0)
		return modl_error_set(MODL_EUSAGE, "whoami: unexpected argument '%s'", argv[0]);
	if (ctx->settings.offline)
		return modl_error_set(MODL_ENET, "whoami: offline mode (HF_HUB_OFFLINE)");
	if ((rc = hub_open(&hub, &ctx->settings, ctx->verbose)))
		return rc;
	rc = hub_whoami(hub, &me);
	if (!rc) {
		const cJSON *name = cJSON_GetObjectItemCaseSensitive(me, "name");
		const cJSON *orgs = cJSON_GetObjectItemCaseSensitive(me, "orgs"), *org;
		cJSON *doc = cJSON_CreateObject(), *list = cJSON_AddArrayToObject(doc, "orgs");
		cJSON_AddStringToObject(doc, "user", cJSON_IsString(name) ? name->valuestring : "?");
		const char *source = NULL;
		settings_token(&ctx->settings, &source);
		cJSON_AddStringToObject(doc, "token_source", source ? source : "");
		cJSON_ArrayForEach(org, orgs)
		{
			const cJSON *oname = cJSON_GetObjectItemCaseSensitive(org, "name");
			if (cJSON_IsString(oname))
				cJSON_AddItemToArray(list, cJSON_CreateString(oname->valuestring));
		}
		if (ctx->json) {
			rc = output_json(doc);
		} else {
			printf("%s\n", cJSON_GetObjectItem(doc, "user")->valuestring);
			if (cJSON_GetArraySize(list) > 0) {
				fputs("orgs:", stdout);
				cJSON_ArrayForEach(org, list) printf(" %s", org->valuestring);
				fputs("\n", stdout);
			}
			cJSON_Delete(doc);
		}
	}
	cJSON_Delete(me);
	hub_close(hub);
	return rc;
}

const struct modl_command cmd_whoami = { "whoami", "show the user of the token", usage, run };
