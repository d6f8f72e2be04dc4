/* modl pull REPO[@REV] [FILE...]: a verified, resumable, parallel download. */
#include <stdio.h>
#include <string.h>

#include "args.h"
#include "util/error.h"
#include "util/escape.h"
#include "output.h"
#include "pull/pull.h"
#include "util/strbuf.h"
#include "command.h"

static const char usage[] =
	"usage: modl pull REPO[@REV] [FILE...] [--include GLOB]... [--exclude GLOB]...\n"
	"                 [--repo-type model|dataset|space] [--local-dir DIR] [--jobs N]\n"
	"                 [--connections N] [--dry-run] [--force] [--policy FILE] [--json]\n"
	"\n"
	"Download a snapshot (or the named files) into the Hugging Face cache. The revision\n"
	"is resolved to a commit once and every file is fetched at that commit; large files\n"
	"in parallel byte ranges. Every file is verified (size, then sha256 for LFS files or\n"
	"the git blob sha1 for the others) before it becomes visible; an interrupted pull\n"
	"resumes from the bytes already on disk. Prints the snapshot directory (or DIR) as\n"
	"the last line of standard output.\n"
	"\n"
	"  --include GLOB     take only matching paths (fnmatch; 'dir/' means the folder)\n"
	"  --exclude GLOB     leave matching paths out\n"
	"  --repo-type TYPE   model (default), dataset or space\n"
	"  --local-dir DIR    write plain files to DIR instead of the cache\n"
	"  -j, --jobs N       files at once (default 8)\n"
	"  --connections N    byte ranges at once per large file (default 8)\n"
	"  -n, --dry-run      show what would be downloaded and what is cached\n"
	"  -f, --force        download again even what is already there\n"
	"  --policy FILE      check the license against a policy (see modl help license)\n"
	"                     before any weight is downloaded; exit 7 when it fails\n"
	"  --json             print a JSON summary\n";

static cJSON *result_to_json(const struct pull_options *o, const struct pull_result *r)
{
	cJSON *doc = cJSON_CreateObject(), *files = NULL;
	size_t fetched = 0, present = 0, failed = 0;
	cJSON_AddStringToObject(doc, "repo", o->repo.id);
	cJSON_AddStringToObject(doc, "revision", o->repo.revision[0] ? o->repo.revision : "main");
	cJSON_AddStringToObject(doc, "commit", r->commit);
	cJSON_AddStringToObject(doc, "path", r->path ? r->path : "");
	if (r->license)
		cJSON_AddStringToObject(doc, "license", r->license);
	else
		cJSON_AddNullToObject(doc, "license");
	cJSON_AddBoolToObject(doc, "dry_run", o->dry_run);
	cJSON_AddBoolToObject(doc, "offline", r->offline);
	files = cJSON_AddArrayToObject(doc, "files");
	for (size_t i = 0; i < r->count; i++) {
		const struct pull_file *f = &r->files[i];
		cJSON *item = cJSON_CreateObject();
		cJSON_AddStringToObject(item, "path", f->path);
		cJSON_AddNumberToObject(item, "size", (double)f->size);
		cJSON_AddStringToObject(item, "hash", f->hash);
		cJSON_AddStringToObject(item, "status",
					f->failed    ? "failed"
					: f->fetched ? "downloaded"
					: f->present ? "cached"
					: o->dry_run ? "to download"
						     : "missing");
		cJSON_AddItemToArray(files, item);
		fetched += f->fetched;
		present += f->present;
		failed += f->failed;
	}
	cJSON_AddNumberToObject(doc, "downloaded", (double)fetched);
	cJSON_AddNumberToObject(doc, "cached", (double)present);
	cJSON_AddNumberToObject(doc, "failed", (double)failed);
	cJSON_AddNumberToObject(doc, "verified", (double)(fetched));
	cJSON_AddNumberToObject(doc, "bytes", (double)r->bytes);
	cJSON_AddNumberToObject(doc, "bytes_downloaded", (double)r->fetched_bytes);
	cJSON_AddNumberToObject(doc, "seconds", r->seconds);
	return doc;
}

static void print_dry_run(const struct pull_result *r)
{
	struct strbuf size = STRBUF_INIT;
	unsigned long long to_fetch = 0;
	size_t n = 0;
	for (size_t i = 0; i < r->count; i++) {
		const struct pull_file *f = &r->files[i];
		strbuf_reset(&size);
		strbuf_add_size(&size, f->size);
		printf("%-11s %9s  ", f->present ? "cached" : "download", size.buf);
		escape_fputs(f->path, 0, stdout); /* a path from the Hub's listing */
		putchar('\n');
		if (!f->present) {
			to_fetch += f->size;
			n++;
		}
	}
	strbuf_reset(&size);
	strbuf_add_size(&size, to_fetch);
	printf("%zu of %zu file%s to download, %s\n", n, r->count, r->count == 1 ? "" : "s", size.buf);
	strbuf_free(&size);
}

static int run(const struct modl_ctx *ctx, int argc, char **argv)
{
	const char *type_name = "model", *local_dir = NULL, *policy = NULL;
	long jobs = 8, connections = 8;
	int dry_run = 0, force = 0;
	struct args_list include = { 0 }, exclude = { 0 };
	/* clang-format off */
	const struct args_option options[] = {
		{ "include", 0, ARGS_LIST, &include, 0, 0 },
		{ "exclude", 0, ARGS_LIST, &exclude, 0, 0 },
		{ "repo-type", 0, ARGS_STRING, &type_name, 0, 0 },
		{ "local-dir", 0, ARGS_STRING, &local_dir, 0, 0 },
		{ "jobs", 'j', ARGS_INT, &jobs, 1, 64 },
		{ "connections", 0, ARGS_INT, &connections, 1, 64 },
		{ "dry-run", 'n', ARGS_FLAG, &dry_run, 0, 0 },
		{ "force", 'f', ARGS_FLAG, &force, 0, 0 },
		{ "policy", 0, ARGS_STRING, &policy, 0, 0 },
		{ 0 },
	};
	/* clang-format on */
	struct pull_options o = { 0 };
	struct pull_result r = { 0 };
	struct progress *progress = NULL;
	int n, rc = args_parse("pull", options, argc, argv, &n);
	if (!rc && n < 1)
		rc = modl_error_set(MODL_EUSAGE, "pull: expected REPO[@REV] (see 'modl help pull')");
	if (!rc && n > 1 && (include.count || exclude.count))
		rc = modl_error_set(MODL_EUSAGE,
				    "pull: FILE arguments and --include/--exclude exclude each other");
	if (!rc)
		rc = hub_parse_repo_typed(argv[0], type_name, &o.repo);
	if (!rc && local_dir && !*local_dir)
		rc = modl_error_set(MODL_EUSAGE, "pull: --local-dir needs a directory");
	if (rc)
		goto out;
	if (progress_new(&progress,
			 dry_run ? PROGRESS_NONE
				 : progress_choose(ctx->quiet, ctx->json, ctx->settings.no_progress),
			 "downloaded")) {
		rc = modl_error_oom();
		goto out;
	}
	o.files = (const char *const *)argv + 1;
	o.file_count = (size_t)n - 1;
	o.include = include.items;
	o.include_count = include.count;
	o.exclude = exclude.items;
	o.exclude_count = exclude.count;
	o.local_dir = local_dir;
	o.jobs = (unsigned)jobs;
	o.connections = (unsigned)connections;
	o.dry_run = dry_run;
	o.force = force;
	o.policy = policy;
	o.progress = progress;
	rc = pull_run(&ctx->settings, ctx->verbose, &o, &r);
	progress_finish(progress);
	if (ctx->json && (r.path || r.count)) {
		int jrc = output_json(result_to_json(&o, &r));
		if (!rc)
			rc = jrc;
	} else if (!rc && dry_run) {
		print_dry_run(&r);
		printf("%s\n", r.path);
	} else if (!rc) {
		if (!ctx->quiet) {
			size_t fetched = 0, present = 0;
			for (size_t i = 0; i < r.count; i++) {
				fetched += r.files[i].fetched;
				present += r.files[i].present;
			}
			if (!r.offline)
				fprintf(stderr,
					"%zu file%s: %zu downloaded and verified, %zu already cached\n",
					r.count, r.count == 1 ? "" : "s", fetched, present);
		}
		printf("%s\n", r.path);
	}
out:
	pull_result_free(&r);
	progress_free(progress);
	args_list_free(&include);
	args_list_free(&exclude);
	return rc;
}

const struct modl_command cmd_pull = { "pull", "download a repository into the cache, verified", usage, run };
