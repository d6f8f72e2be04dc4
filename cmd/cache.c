/* modl cache ls|rm|prune|verify|export|import: see, clean, verify and move the cache. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cache/archive.h"
#include "args.h"
#include "cache/cache_clean.h"
#include "cache/cache_scan.h"
#include "cache/cache_verify.h"
#include "util/error.h"
#include "util/escape.h"
#include "output.h"
#include "util/pool.h"
#include "util/strbuf.h"
#include "command.h"

static const char usage[] =
	"usage: modl cache ls [--revisions] [--sort size|name|accessed] [--json]\n"
	"       modl cache rm REPO[@REV]... [--repo-type TYPE] [--dry-run] [-y]\n"
	"       modl cache prune [--dry-run] [-y]\n"
	"       modl cache verify [REPO[@REV]] [--repo-type TYPE] [--json]\n"
	"       modl cache export REPO[@REV] -o FILE.tar[.gz|.zst] [--repo-type TYPE]\n"
	"       modl cache import FILE\n"
	"\n"
	"See and manage the Hugging Face cache ($HF_HUB_CACHE, default $HF_HOME/hub), as\n"
	"written by modl pull, huggingface_hub or @huggingface/hub.\n"
	"\n"
	"  ls      every repo: type, size on disk (each blob once), revisions, files, refs,\n"
	"          last modified and last accessed; broken entries as warnings\n"
	"  rm      a repo, or one revision and the blobs no other revision uses\n"
	"  prune   detached revisions (no ref), orphan blobs, stale partial downloads\n"
	"  verify  re-hash every blob (of REPO, of one revision) against its name (sha256\n"
	"          or git blob sha1); exit 6 listing every bad or missing blob and the\n"
	"          snapshot files that use it\n"
	"  export  the repo (or one revision) with refs, snapshot links, blobs and a manifest\n"
	"  import  check a bundle entry by entry and every blob's hash, then add it\n"
	"\n"
	"  --revisions       ls: one line per revision\n"
	"  --sort KEY        ls: size (largest first), name, or accessed (latest first)\n"
	"  --repo-type TYPE  model (default), dataset or space\n"
	"  -n, --dry-run     rm, prune: show what would go and the space freed\n"
	"  -y, --yes         rm, prune: do not ask for confirmation on a terminal\n"
	"  -o, --output FILE export: the bundle (- for standard output)\n"
	"  --json            one JSON document\n";

/* ---- shared ---------------------------------------------------------------------------- */

static void add_time(cJSON *o, const char *key, time_t t)
{
	char buf[32];
	struct tm tm;
	if (t <= 0 || !gmtime_r(&t, &tm)) {
		cJSON_AddNullToObject(o, key);
		return;
	}
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	cJSON_AddStringToObject(o, key, buf);
}

static void format_time(time_t t, char *buf, size_t size)
{
	struct tm tm;
	if (t <= 0 || !gmtime_r(&t, &tm))
		snprintf(buf, size, "-");
	else
		strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static const char *human(struct strbuf *sb, unsigned long long bytes)
{
	strbuf_reset(sb);
	strbuf_add_size(sb, bytes);
	return sb->buf;
}

static void print_warnings(const struct cache_scan *scan)
{
	for (size_t i = 0; i < scan->warning_count; i++) {
		fputs("modl: warning: ", stderr); /* names read from the cache directory */
		escape_fputs(scan->warnings[i], 0, stderr);
		fputc('\n', stderr);
	}
}

static int parse_repo_args(int n, char **argv, const char *type_name, struct hub_repo *out)
{
	int rc = 0;
	for (int i = 0; !rc && i < n; i++)
		rc = hub_parse_repo_typed(argv[i], type_name, &out[i]);
	return rc;
}

/* ---- ls -------------------------------------------------------------------------------- */

static int by_name(const void *a, const void *b)
{
	const struct cache_entry *x = a, *y = b;
	int c = strcmp(x->id, y->id);
	return c ? c : (int)x->type - (int)y->type;
}

static int by_size(const void *a, const void *b)
{
	const struct cache_entry *x = a, *y = b;
	if (x->size_on_disk != y->size_on_disk)
		return x->size_on_disk < y->size_on_disk ? 1 : -1;
	return by_name(a, b);
}

static int by_accessed(const void *a, const void *b)
{
	const struct cache_entry *x = a, *y = b;
	if (x->last_accessed != y->last_accessed)
		return x->last_accessed < y->last_accessed ? 1 : -1;
	return by_name(a, b);
}

static void refs_text(char **refs, size_t n, struct strbuf *sb)
{
	strbuf_reset(sb);
	for (size_t i = 0; i < n; i++)
		strbuf_addf(sb, "%s%s", i ? "," : "", refs[i]);
	if (!n)
		strbuf_adds(sb, "-");
}

static cJSON *strings_json(char **list, size_t n)
{
	cJSON *a = cJSON_CreateArray();
	for (size_t i = 0; i < n; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(list[i]));
	return a;
}

static cJSON *scan_json(const struct cache_scan *scan)
{
	cJSON *doc = cJSON_CreateObject(), *repos = NULL;
	unsigned long long total = 0;
	cJSON_AddStringToObject(doc, "cache", scan->root);
	repos = cJSON_AddArrayToObject(doc, "repos");
	for (size_t i = 0; i < scan->count; i++) {
		const struct cache_entry *e = &scan->repos[i];
		cJSON *r = cJSON_CreateObject(), *revs;
		cJSON_AddItemToArray(repos, r);
		cJSON_AddStringToObject(r, "id", e->id);
		cJSON_AddStringToObject(r, "type", hub_repo_type_name(e->type));
		cJSON_AddStringToObject(r, "path", e->folder);
		cJSON_AddNumberToObject(r, "size_on_disk", (double)e->size_on_disk);
		cJSON_AddNumberToObject(r, "orphan_size", (double)e->orphan_size);
		cJSON_AddNumberToObject(r, "files", (double)e->file_count);
		cJSON_AddItemToObject(r, "refs", strings_json(e->refs, e->ref_count));
		add_time(r, "last_modified", e->last_modified);
		add_time(r, "last_accessed", e->last_accessed);
		revs = cJSON_AddArrayToObject(r, "revisions");
		for (size_t k = 0; k < e->revision_count; k++) {
			const struct cache_revision *rev = &e->revisions[k];
			cJSON *o = cJSON_CreateObject();
			cJSON_AddItemToArray(revs, o);
			cJSON_AddStringToObject(o, "commit", rev->commit);
			cJSON_AddItemToObject(o, "refs", strings_json(rev->refs, rev->ref_count));
			cJSON_AddNumberToObject(o, "files", (double)rev->file_count);
			cJSON_AddNumberToObject(o, "size", (double)rev->size);
			add_time(o, "last_modified", rev->last_modified);
		}
		total += e->size_on_disk;
	}
	cJSON_AddNumberToObject(doc, "total_size", (double)total);
	cJSON_AddItemToObject(doc, "warnings", strings_json(scan->warnings, scan->warning_count));
	return doc;
}

static void print_scan(const struct cache_scan *scan, int revisions)
{
	struct strbuf size = STRBUF_INIT, refs = STRBUF_INIT;
	unsigned long long total = 0;
	char modified[32], accessed[32];
	printf("%-44s %-8s %9s %5s %6s  %-14s %-20s %s\n", "REPO", "TYPE", "SIZE", "REVS", "FILES", "REFS",
	       "LAST MODIFIED", "LAST ACCESSED");
	for (size_t i = 0; i < scan->count; i++) {
		const struct cache_entry *e = &scan->repos[i];
		format_time(e->last_modified, modified, sizeof(modified));
		format_time(e->last_accessed, accessed, sizeof(accessed));
		refs_text(e->refs, e->ref_count, &refs);
		printf("%-44s %-8s %9s %5zu %6zu  %-14s %-20s %s\n", e->id, hub_repo_type_name(e->type),
		       human(&size, e->size_on_disk), e->revision_count, e->file_count, refs.buf, modified,
		       accessed);
		total += e->size_on_disk;
		for (size_t k = 0; revisions && k < e->revision_count; k++) {
			const struct cache_revision *r = &e->revisions[k];
			format_time(r->last_modified, modified, sizeof(modified));
			refs_text(r->refs, r->ref_count, &refs);
			printf("  @%-41s %-8s %9s %5s %6zu  %-14s %s\n", r->commit, "", human(&size, r->size),
			       "", r->file_count, refs.buf, modified);
		}
	}
	printf("%zu repo%s, %s on disk\n", scan->count, scan->count == 1 ? "" : "s", human(&size, total));
	strbuf_free(&size);
	strbuf_free(&refs);
}

static int run_ls(const struct modl_ctx *ctx, int argc, char **argv)
{
	int revisions = 0, n;
	const char *sort = "name";
	/* clang-format off */
	const struct args_option options[] = {
		{ "revisions", 0, ARGS_FLAG, &revisions, 0, 0 },
		{ "sort", 0, ARGS_STRING, &sort, 0, 0 },
		{ 0 },
	};
	/* clang-format on */
	struct cache_scan scan;
	int rc = args_parse("cache ls", options, argc, argv, &n);
	if (rc)
		return rc;
	if (n)
		return modl_error_set(MODL_EUSAGE, "cache ls: unexpected argument '%s'", argv[0]);
	if (strcmp(sort, "size") && strcmp(sort, "name") && strcmp(sort, "accessed"))
		return modl_error_set(MODL_EUSAGE, "cache ls: --sort takes size, name or accessed");
	if ((rc = cache_scan(ctx->settings.hub_cache, &scan)))
		return rc;
	if (scan.count)
		qsort(scan.repos, scan.count, sizeof(*scan.repos),
		      !strcmp(sort, "size")       ? by_size
		      : !strcmp(sort, "accessed") ? by_accessed
						  : by_name);
	if (ctx->json) {
		rc = output_json(scan_json(&scan));
	} else {
		print_scan(&scan, revisions);
		print_warnings(&scan);
	}
	cache_scan_free(&scan);
	return rc;
}

/* ---- rm and prune ------------------------------------------------------------------------ */

static int confirm(void)
{
	char answer[16];
	fputs("Proceed? [y/N] ", stderr);
	fflush(stderr);
	return fgets(answer, sizeof(answer), stdin) && (answer[0] == 'y' || answer[0] == 'Y');
}

static cJSON *actions_json(const struct cache_plan *plan, int any)
{
	cJSON *list = cJSON_CreateArray();
	for (size_t i = 0; any && i < plan->count; i++) {
		cJSON *a = cJSON_CreateObject();
		cJSON_AddStringToObject(a, "kind", cache_action_name(plan->actions[i].kind));
		cJSON_AddStringToObject(a, "what", plan->actions[i].label);
		cJSON_AddStringToObject(a, "path", plan->actions[i].path);
		cJSON_AddNumberToObject(a, "bytes", (double)plan->actions[i].bytes);
		cJSON_AddItemToArray(list, a);
	}
	return list;
}

static int carry_out(const struct modl_ctx *ctx, struct cache_plan *plan, int dry_run, int yes)
{
	struct strbuf size = STRBUF_INIT;
	int rc = 0, asked = !dry_run && !yes && plan->count && isatty(STDIN_FILENO);
	/* The plan is shown (on stderr under --json) before anything is asked or removed. */
	FILE *out = ctx->json ? stderr : stdout;
	if (!ctx->quiet && (!ctx->json || asked)) {
		for (size_t i = 0; i < plan->count; i++)
			if (plan->actions[i].kind != ACTION_REF && plan->actions[i].kind != ACTION_META)
				fprintf(out, "%s %-9s %s (%s)\n", dry_run ? "would remove" : "remove",
					cache_action_name(plan->actions[i].kind), plan->actions[i].label,
					human(&size, plan->actions[i].bytes));
	}
	int go = !dry_run && plan->count && (!asked || confirm());
	if (go)
		rc = cache_plan_run(plan);
	if (ctx->json) {
		cJSON *doc = cJSON_CreateObject();
		cJSON_AddItemToObject(doc, "removed", actions_json(plan, go));
		cJSON_AddItemToObject(doc, "planned", actions_json(plan, 1));
		cJSON_AddItemToObject(doc, "skipped", strings_json(plan->skipped, plan->skipped_count));
		cJSON_AddNumberToObject(doc, "freed", go ? (double)plan->bytes : 0);
		cJSON_AddBoolToObject(doc, "dry_run", dry_run);
		int jrc = output_json(doc);
		strbuf_free(&size);
		return rc ? rc : jrc;
	}
	for (size_t i = 0; !ctx->quiet && i < plan->skipped_count; i++)
		printf("skip: %s (held by a running pull)\n", plan->skipped[i]);
	if (ctx->quiet)
		;
	else if (plan->count == 0)
		printf("nothing to remove\n");
	else if (dry_run)
		printf("would free %s\n", human(&size, plan->bytes));
	else if (!go)
		printf("nothing removed\n");
	else if (!rc)
		printf("freed %s\n", human(&size, plan->bytes));
	strbuf_free(&size);
	return rc;
}

static int run_rm_or_prune(const struct modl_ctx *ctx, int argc, char **argv, int prune)
{
	int dry_run = 0, yes = 0, n;
	const char *type_name = "model";
	/* clang-format off */
	const struct args_option options[] = {
		{ "dry-run", 'n', ARGS_FLAG, &dry_run, 0, 0 },
		{ "yes", 'y', ARGS_FLAG, &yes, 0, 0 },
		{ "repo-type", 0, ARGS_STRING, &type_name, 0, 0 },
		{ 0 },
	};
	/* clang-format on */
	struct cache_scan scan;
	struct cache_plan plan = { 0 };
	struct hub_repo *repos = NULL;
	const char *name = prune ? "cache prune" : "cache rm";
	int rc = args_parse(name, options, argc, argv, &n);
	if (rc)
		return rc;
	if (prune && n)
		return modl_error_set(MODL_EUSAGE, "cache prune: unexpected argument '%s'", argv[0]);
	if (!prune && n == 0)
		return modl_error_set(MODL_EUSAGE,
				      "cache rm: expected REPO[@REV]... (see 'modl help cache')");
	if (!(repos = calloc((size_t)n + 1, sizeof(*repos))))
		return modl_error_oom();
	if ((rc = parse_repo_args(n, argv, type_name, repos)) ||
	    (rc = cache_scan(ctx->settings.hub_cache, &scan))) {
		free(repos);
		return rc;
	}
	if (prune)
		rc = cache_plan_prune(&scan, &plan);
	if (!rc && !prune)
		rc = cache_plan_rm(&scan, repos, (size_t)n, &plan);
	if (!rc)
		rc = carry_out(ctx, &plan, dry_run, yes);
	cache_plan_free(&plan);
	cache_scan_free(&scan);
	free(repos);
	return rc;
}

/* ---- verify ---------------------------------------------------------------------------- */

static void users_of(const struct cache_entry *e, const struct cache_blob *b, struct strbuf *sb)
{
	strbuf_reset(sb);
	for (size_t i = 0; i < e->revision_count; i++)
		for (size_t k = 0; k < e->revisions[i].file_count; k++) {
			long idx = e->revisions[i].files[k].blob;
			if (idx >= 0 && &e->blobs[idx] == b)
				strbuf_addf(sb, "%s%.12s/%s", sb->len ? ", " : "", e->revisions[i].commit,
					    e->revisions[i].files[k].path);
		}
}

static int run_verify(const struct modl_ctx *ctx, int argc, char **argv)
{
	const char *type_name = "model";
	/* clang-format off */
	const struct args_option options[] = {
		{ "repo-type", 0, ARGS_STRING, &type_name, 0, 0 },
		{ 0 },
	};
	/* clang-format on */
	struct cache_scan scan;
	struct cache_verify_report report;
	struct hub_repo repo;
	struct strbuf users = STRBUF_INIT, size = STRBUF_INIT;
	int n, rc = args_parse("cache verify", options, argc, argv, &n);
	if (!rc && n > 1)
		rc = modl_error_set(MODL_EUSAGE, "cache verify: expected at most one REPO");
	if (!rc && n == 1)
		rc = parse_repo_args(1, argv, type_name, &repo);
	if (rc)
		return rc;
	rc = n == 1 ? cache_scan_one(ctx->settings.hub_cache, &repo, &scan)
		    : cache_scan(ctx->settings.hub_cache, &scan);
	if (rc)
		return rc;
	rc = cache_verify_blobs(&scan, n == 1 ? repo.revision : NULL, pool_default_threads(), &report);
	if (rc && rc != MODL_EINTEGRITY) {
		cache_verify_report_free(&report);
		cache_scan_free(&scan);
		return rc;
	}
	if (ctx->json) {
		cJSON *doc = cJSON_CreateObject(), *bad = cJSON_AddArrayToObject(doc, "bad");
		cJSON_AddNumberToObject(doc, "verified", (double)(report.checked - report.bad_count));
		cJSON_AddNumberToObject(doc, "bytes", (double)report.bytes);
		for (size_t i = 0; i < report.bad_count; i++) {
			const struct cache_bad_blob *b = &report.bad[i];
			cJSON *o = cJSON_CreateObject(), *used = cJSON_AddArrayToObject(o, "used_by");
			cJSON_AddStringToObject(o, "repo", b->repo->id);
			cJSON_AddStringToObject(o, "blob", b->blob->name);
			cJSON_AddStringToObject(o, "actual", b->actual);
			if (b->error)
				cJSON_AddStringToObject(o, "error", b->error);
			for (size_t r = 0; r < b->repo->revision_count; r++)
				for (size_t k = 0; k < b->repo->revisions[r].file_count; k++) {
					long idx = b->repo->revisions[r].files[k].blob;
					if (idx >= 0 && &b->repo->blobs[idx] == b->blob) {
						cJSON *u = cJSON_CreateObject();
						cJSON_AddStringToObject(u, "commit",
									b->repo->revisions[r].commit);
						cJSON_AddStringToObject(u, "path",
									b->repo->revisions[r].files[k].path);
						cJSON_AddItemToArray(used, u);
					}
				}
			cJSON_AddItemToArray(bad, o);
		}
		cJSON *missing = cJSON_AddArrayToObject(doc, "missing");
		for (size_t i = 0; i < report.missing_count; i++) {
			cJSON *o = cJSON_CreateObject();
			cJSON_AddStringToObject(o, "repo", report.missing[i].repo->id);
			cJSON_AddStringToObject(o, "commit", report.missing[i].commit);
			cJSON_AddStringToObject(o, "path", report.missing[i].path);
			cJSON_AddItemToArray(missing, o);
		}
		int jrc = output_json(doc);
		if (!rc)
			rc = jrc;
	} else {
		for (size_t i = 0; i < report.bad_count; i++) {
			const struct cache_bad_blob *b = &report.bad[i];
			users_of(b->repo, b->blob, &users);
			if (b->actual[0])
				printf("BAD %s blob %s: content hashes to %s; used by %s\n", b->repo->id,
				       b->blob->name, b->actual, users.len ? users.buf : "no snapshot");
			else
				printf("BAD %s blob %s: %s; used by %s\n", b->repo->id, b->blob->name,
				       b->error ? b->error : "cannot be read",
				       users.len ? users.buf : "no snapshot");
		}
		for (size_t i = 0; i < report.missing_count; i++)
			printf("MISSING %s %.12s/%s: its blob is not in the cache\n",
			       report.missing[i].repo->id, report.missing[i].commit, report.missing[i].path);
		if (!ctx->quiet)
			printf("%zu blobs verified (%s), %zu bad, %zu missing\n",
			       report.checked - report.bad_count, human(&size, report.bytes),
			       report.bad_count, report.missing_count);
	}
	cache_verify_report_free(&report);
	cache_scan_free(&scan);
	strbuf_free(&users);
	strbuf_free(&size);
	return rc;
}

/* ---- export and import -------------------------------------------------------------------- */

static cJSON *summary_json(const struct archive_summary *s, const char *file)
{
	cJSON *doc = cJSON_CreateObject();
	cJSON_AddStringToObject(doc, "repo", s->repo);
	cJSON_AddStringToObject(doc, "type", hub_repo_type_name(s->type));
	cJSON_AddStringToObject(doc, "file", file);
	cJSON_AddNumberToObject(doc, "revisions", (double)s->revisions);
	cJSON_AddNumberToObject(doc, "files", (double)s->files);
	cJSON_AddNumberToObject(doc, "blobs", (double)s->blobs);
	cJSON_AddNumberToObject(doc, "bytes", (double)s->bytes);
	cJSON_AddNumberToObject(doc, "blobs_added", (double)s->blobs_added);
	return doc;
}

static int run_export(const struct modl_ctx *ctx, int argc, char **argv)
{
	const char *type_name = "model", *output = NULL;
	/* clang-format off */
	const struct args_option options[] = {
		{ "output", 'o', ARGS_STRING, &output, 0, 0 },
		{ "repo-type", 0, ARGS_STRING, &type_name, 0, 0 },
		{ 0 },
	};
	/* clang-format on */
	struct hub_repo repo;
	struct archive_summary s;
	struct strbuf size = STRBUF_INIT;
	int n, rc = args_parse("cache export", options, argc, argv, &n);
	if (!rc && n != 1)
		rc = modl_error_set(MODL_EUSAGE, "cache export: expected one REPO[@REV]");
	if (!rc && !output)
		rc = modl_error_set(MODL_EUSAGE, "cache export: -o FILE.tar[.gz|.zst] (or -o -) is required");
	if (!rc)
		rc = parse_repo_args(1, argv, type_name, &repo);
	if (!rc && !strcmp(output, "-") && isatty(STDOUT_FILENO))
		rc = modl_error_set(MODL_EUSAGE, "cache export: refusing to write a bundle to a terminal");
	if (!rc)
		rc = archive_export(ctx->settings.hub_cache, &repo, output, &s);
	int to_stdout = output && !strcmp(output, "-");
	if (!rc && ctx->json && !to_stdout)
		rc = output_json(summary_json(&s, output));
	else if (!rc && !ctx->quiet)
		fprintf(to_stdout ? stderr : stdout,
			"exported %s: %zu revision%s, %zu files, %zu blobs (%s) to %s\n", s.repo, s.revisions,
			s.revisions == 1 ? "" : "s", s.files, s.blobs, human(&size, s.bytes),
			to_stdout ? "standard output" : output);
	strbuf_free(&size);
	return rc;
}

static int run_import(const struct modl_ctx *ctx, int argc, char **argv)
{
	const struct args_option options[] = { { 0 } };
	struct archive_summary s;
	struct strbuf size = STRBUF_INIT;
	int n, rc = args_parse("cache import", options, argc, argv, &n);
	if (!rc && n != 1)
		rc = modl_error_set(MODL_EUSAGE, "cache import: expected one FILE");
	if (!rc)
		rc = archive_import(ctx->settings.hub_cache, argv[0], &s);
	if (!rc && ctx->json)
		rc = output_json(summary_json(&s, argv[0]));
	else if (!rc && !ctx->quiet)
		printf("imported %s: %zu revision%s, %zu files, %zu blobs (%s), %zu new\n", s.repo,
		       s.revisions, s.revisions == 1 ? "" : "s", s.files, s.blobs, human(&size, s.bytes),
		       s.blobs_added);
	strbuf_free(&size);
	return rc;
}

/* ---- dispatch ---------------------------------------------------------------------------- */

static int run(const struct modl_ctx *ctx, int argc, char **argv)
{
	static const char *const subs[] = { "ls", "rm", "prune", "verify", "export", "import" };
	if (argc < 1)
		return modl_error_set(MODL_EUSAGE, "cache: expected ls, rm, prune, verify, export or import");
	const char *sub = argv[0];
	if (!strcmp(sub, "ls"))
		return run_ls(ctx, argc - 1, argv + 1);
	if (!strcmp(sub, "rm"))
		return run_rm_or_prune(ctx, argc - 1, argv + 1, 0);
	if (!strcmp(sub, "prune"))
		return run_rm_or_prune(ctx, argc - 1, argv + 1, 1);
	if (!strcmp(sub, "verify"))
		return run_verify(ctx, argc - 1, argv + 1);
	if (!strcmp(sub, "export"))
		return run_export(ctx, argc - 1, argv + 1);
	if (!strcmp(sub, "import"))
		return run_import(ctx, argc - 1, argv + 1);
	const char *hint = args_suggest(sub, subs, sizeof(subs) / sizeof(subs[0]));
	if (hint)
		return modl_error_set(MODL_EUSAGE, "cache: unknown subcommand '%s' (did you mean '%s'?)", sub,
				      hint);
	return modl_error_set(MODL_EUSAGE, "cache: unknown subcommand '%s' (see 'modl help cache')", sub);
}

const struct modl_command cmd_cache = { "cache", "list, clean, verify, export and import the cache", usage,
					run };
