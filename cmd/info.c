/* modl info REPO[@REV]: repository metadata. */
#include <stdio.h>
#include <string.h>

#include "args.h"
#include "util/error.h"
#include "util/escape.h"
#include "hub/hub.h"
#include "output.h"
#include "hub/repo_info.h"
#include "util/strbuf.h"
#include "command.h"

static const char usage[] =
	"usage: modl info REPO[@REV] [--repo-type model|dataset|space] [--json]\n"
	"\n"
	"Show a repository's metadata: commit, last modified, gating, visibility, license\n"
	"(model card and tag), pipeline and library, number of files, total size, and which\n"
	"weight formats it has (safetensors, gguf, pytorch).\n"
	"\n"
	"  --repo-type TYPE  model (default), dataset or space\n"
	"  --json            print one JSON document\n";

/* Every value comes from the Hub's answer: escaped for the terminal. */
static void print_field(const char *name, const char *value)
{
	printf("%-14s ", name);
	escape_fputs(value ? value : "-", 0, stdout);
	putchar('\n');
}

static void print_summary(const struct repo_summary *s)
{
	struct strbuf line = STRBUF_INIT;
	print_field("repo", s->id);
	print_field("commit", s->sha);
	print_field("last modified", s->last_modified);
	print_field("gated", s->gated);
	print_field("private", s->is_private ? "yes" : "no");
	if (s->license_card && s->license_tag && strcmp(s->license_card, s->license_tag))
		strbuf_addf(&line, "%s (card), %s (tag)", s->license_card, s->license_tag);
	else
		strbuf_adds(&line, s->license_card ? s->license_card : s->license_tag ? s->license_tag : "-");
	if (s->license_name)
		strbuf_addf(&line, ", name %s", s->license_name);
	if (s->license_link)
		strbuf_addf(&line, ", %s", s->license_link);
	print_field("license", line.buf);
	print_field("pipeline", s->pipeline_tag);
	print_field("library", s->library_name);
	strbuf_reset(&line);
	strbuf_addf(&line, "%llu", s->files);
	print_field("files", line.buf);
	strbuf_reset(&line);
	if (s->sizes_known) {
		strbuf_add_size(&line, s->total_size);
		strbuf_addf(&line, " (%llu bytes)", s->total_size);
	}
	print_field("total size", s->sizes_known ? line.buf : NULL);
	strbuf_reset(&line);
	if (s->has_safetensors)
		strbuf_adds(&line, "safetensors ");
	if (s->has_gguf)
		strbuf_adds(&line, "gguf ");
	if (s->has_pytorch)
		strbuf_adds(&line, "pytorch ");
	if (line.len)
		line.buf[--line.len] = '\0';
	print_field("weights", line.len ? line.buf : "none");
	strbuf_free(&line);
}

/* The `modl info --json` document. NULL when out of memory. */
static cJSON *summary_json(const struct repo_summary *s, const char *revision)
{
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return NULL;
	cJSON_AddStringToObject(o, "id", s->id);
	cJSON_AddItemToObject(o, "revision", output_string_or_null(revision && *revision ? revision : NULL));
	cJSON_AddStringToObject(o, "sha", s->sha);
	cJSON_AddItemToObject(o, "last_modified", output_string_or_null(s->last_modified));
	if (!strcmp(s->gated, "false"))
		cJSON_AddFalseToObject(o, "gated");
	else
		cJSON_AddStringToObject(o, "gated", s->gated);
	cJSON_AddBoolToObject(o, "private", s->is_private);
	cJSON *lic = cJSON_AddObjectToObject(o, "license");
	cJSON_AddItemToObject(lic, "card", output_string_or_null(s->license_card));
	cJSON_AddItemToObject(lic, "tag", output_string_or_null(s->license_tag));
	cJSON_AddItemToObject(lic, "name", output_string_or_null(s->license_name));
	cJSON_AddItemToObject(lic, "link", output_string_or_null(s->license_link));
	cJSON_AddItemToObject(o, "pipeline_tag", output_string_or_null(s->pipeline_tag));
	cJSON_AddItemToObject(o, "library_name", output_string_or_null(s->library_name));
	cJSON_AddNumberToObject(o, "files", (double)s->files);
	if (s->sizes_known)
		cJSON_AddNumberToObject(o, "total_size", (double)s->total_size);
	else
		cJSON_AddNullToObject(o, "total_size");
	cJSON *formats = cJSON_AddArrayToObject(o, "weight_formats");
	if (s->has_safetensors)
		cJSON_AddItemToArray(formats, cJSON_CreateString("safetensors"));
	if (s->has_gguf)
		cJSON_AddItemToArray(formats, cJSON_CreateString("gguf"));
	if (s->has_pytorch)
		cJSON_AddItemToArray(formats, cJSON_CreateString("pytorch"));
	return o;
}

static int run(const struct modl_ctx *ctx, int argc, char **argv)
{
	struct hub_repo repo;
	struct hub *hub = NULL;
	cJSON *info = NULL;
	struct repo_summary summary;
	int n, rc = args_parse_repo_command("info", "one REPO[@REV]", 1, 1, argc, argv, &repo, &n);
	if (rc)
		return rc;
	if (ctx->settings.offline)
		return modl_error_set(MODL_ENET,
				      "info: %s: offline mode (HF_HUB_OFFLINE) and the Hub "
				      "is needed",
				      repo.id);
	if ((rc = hub_open(&hub, &ctx->settings, ctx->verbose)))
		return rc;
	rc = hub_repo_info(hub, &repo, 1, &info);
	if (!rc)
		rc = repo_summary_from_info(info, &summary);
	if (!rc) {
		if (ctx->json)
			rc = output_json(summary_json(&summary, repo.revision));
		else
			print_summary(&summary);
	}
	cJSON_Delete(info);
	hub_close(hub);
	return rc;
}

const struct modl_command cmd_info = { "info", "show a repository's metadata", usage, run };
