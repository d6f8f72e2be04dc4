/* modl verify REPO[@REV]: re-hash a cached snapshot. */
#include <stdio.h>

#include "args.h"
#include "util/error.h"
#include "util/escape.h"
#include "output.h"
#include "pull/verify.h"
#include "command.h"

static const char usage[] =
	"usage: modl verify REPO[@REV] [--repo-type model|dataset|space] [--json]\n"
	"\n"
	"Re-hash every file of a cached snapshot (sha256 for LFS files, git blob sha1 for\n"
	"the others) against the Hub's listing at the revision's commit; offline\n"
	"(HF_HUB_OFFLINE=1), against the listing recorded by 'modl pull' or the blob names.\n"
	"Files of the listing that the snapshot does not have (a partial pull) are reported as\n"
	"missing. Exits 6 listing every file that does not match.\n"
	"\n"
	"  --repo-type TYPE  model (default), dataset or space\n"
	"  --json            print one JSON document\n";

static const char *status_name(enum verify_status s)
{
	return s == VERIFY_OK ? "ok" : s == VERIFY_MISSING ? "missing" : "bad";
}

static cJSON *report_to_json(const struct hub_repo *repo, const struct verify_report *r)
{
	cJSON *doc = cJSON_CreateObject(), *files;
	cJSON_AddStringToObject(doc, "repo", repo->id);
	cJSON_AddStringToObject(doc, "commit", r->commit);
	cJSON_AddStringToObject(doc, "snapshot", r->snapshot ? r->snapshot : "");
	cJSON_AddStringToObject(doc, "source", r->source ? r->source : "");
	cJSON_AddNumberToObject(doc, "verified", (double)r->ok);
	cJSON_AddNumberToObject(doc, "missing", (double)r->missing);
	cJSON_AddNumberToObject(doc, "bad", (double)r->bad);
	files = cJSON_AddArrayToObject(doc, "files");
	for (size_t i = 0; i < r->count; i++) {
		const struct verify_entry *e = &r->entries[i];
		cJSON *f = cJSON_CreateObject();
		cJSON_AddStringToObject(f, "path", e->path);
		cJSON_AddStringToObject(f, "status", status_name(e->status));
		cJSON_AddStringToObject(f, "expected", e->expected);
		if (e->status == VERIFY_BAD && e->actual[0])
			cJSON_AddStringToObject(f, "actual", e->actual);
		if (e->error)
			cJSON_AddStringToObject(f, "error", e->error);
		cJSON_AddItemToArray(files, f);
	}
	return doc;
}

static int run(const struct modl_ctx *ctx, int argc, char **argv)
{
	struct hub_repo repo;
	struct verify_report r = { 0 };
	int n, rc = args_parse_repo_command("verify", "one REPO[@REV]", 1, 1, argc, argv, &repo, &n);
	if (rc)
		return rc;
	rc = verify_snapshot(&ctx->settings, ctx->verbose, &repo, &r);
	if (ctx->json && r.snapshot) {
		int jrc = output_json(report_to_json(&repo, &r));
		if (!rc)
			rc = jrc;
	} else if (r.snapshot) {
		struct escape_pool pool = ESCAPE_POOL_INIT; /* paths from the listing, errors */
		for (size_t i = 0; i < r.count; i++) {
			const struct verify_entry *e = &r.entries[i];
			if (e->status == VERIFY_BAD && e->actual[0])
				printf("BAD      %s: expected %s, got %s\n", escape_pool_str(&pool, e->path),
				       e->expected, e->actual);
			else if (e->status == VERIFY_BAD)
				printf("BAD      %s: %s\n", escape_pool_str(&pool, e->path),
				       e->error ? escape_pool_str(&pool, e->error) : "cannot be read");
			else if (e->status == VERIFY_MISSING)
				printf("missing  %s\n", escape_pool_str(&pool, e->path));
			else if (!ctx->quiet)
				printf("ok       %s\n", escape_pool_str(&pool, e->path));
			escape_pool_free(&pool);
		}
		if (!ctx->quiet)
			printf("%zu verified, %zu bad, %zu missing (against the %s, commit %s)\n", r.ok,
			       r.bad, r.missing, r.source, r.commit);
	}
	verify_report_free(&r);
	return rc;
}

const struct modl_command cmd_verify = { "verify", "re-hash a cached snapshot against the Hub's hashes",
					 usage, run };
