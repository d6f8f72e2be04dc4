/* modl ls REPO[@REV] [PATH]: the files of a repository with size, kind and hash. */
#include <stdio.h>
#include <stdlib.h>

#include "args.h"
#include "util/error.h"
#include "util/escape.h"
#include "hub/hub.h"
#include "output.h"
#include "util/strbuf.h"
#include "command.h"

static const char usage[] =
	"usage: modl ls REPO[@REV] [PATH] [--repo-type model|dataset|space] [--json]\n"
	"\n"
	"List every file of a repository (recursively, below PATH when given) with its size,\n"
	"its kind (lfs or git) and its hash: sha256 for LFS files, the git blob sha1 for the\n"
	"others. Ends with the totals.\n"
	"\n"
	"  --repo-type TYPE  model (default), dataset or space\n"
	"  --json            print one JSON document\n";

/* One JSON value, compact, on stdout; false when it could not be made or written. */
static int put_json(cJSON *item)
{
	char *text = item ? cJSON_PrintUnformatted(item) : NULL;
	int ok = text && fputs(text, stdout) >= 0;
	free(text);
	cJSON_Delete(item);
	return ok;
}

/* The listing as one JSON document, written entry by entry: building it whole as a cJSON
 * tree first cost several times the listing's own memory (1.9 GB for 1.6M entries). */
static int write_tree_json(const struct hub_repo *repo, const char *rev, const struct hub_tree *t,
			   unsigned long long files, unsigned long long bytes)
{
	int ok = fputs("{\n\t\"repo\":\t", stdout) >= 0 && put_json(cJSON_CreateString(repo->id)) &&
		 fputs(",\n\t\"revision\":\t", stdout) >= 0 && put_json(cJSON_CreateString(rev)) &&
		 fputs(",\n\t\"files\":\t[", stdout) >= 0;
	const char *sep = "";
	for (size_t i = 0; ok && i < t->count; i++) {
		const struct hub_entry *e = &t->entries[i];
		if (e->is_dir)
			continue;
		cJSON *f = cJSON_CreateObject();
		cJSON_AddStringToObject(f, "path", e->path);
		cJSON_AddNumberToObject(f, "size", (double)e->size);
		cJSON_AddStringToObject(f, "kind", e->lfs ? "lfs" : "git");
		cJSON_AddStringToObject(f, "hash", e->lfs ? e->sha256 : e->oid);
		cJSON_AddStringToObject(f, "git_oid", e->oid);
		ok = fputs(sep, stdout) >= 0 && put_json(f);
		sep = ",\n\t\t";
	}
	ok = ok && printf("],\n\t\"total_files\":\t%llu,\n\t\"total_size\":\t%llu\n}\n", files, bytes) > 0 &&
	     fflush(stdout) == 0;
	return ok ? 0 : modl_error_set(MODL_EFAIL, "cannot write to standard output");
}

static void print_tree(const struct hub_tree *t, unsigned long long files, unsigned long long bytes)
{
	struct strbuf size = STRBUF_INIT;
	for (size_t i = 0; i < t->count; i++) {
		const struct hub_entry *e = &t->entries[i];
		if (e->is_dir)
			continue;
		strbuf_reset(&size);
		strbuf_add_size(&size, e->size);
		printf("%9s  %s  %-64s  ", size.buf, e->lfs ? "lfs" : "git", e->lfs ? e->sha256 : e->oid);
		escape_fputs(e->path, 0, stdout); /* a path from the Hub's listing */
		putchar('\n');
	}
	strbuf_reset(&size);
	strbuf_add_size(&size, bytes);
	printf("%llu file%s, %s (%llu bytes)\n", files, files == 1 ? "" : "s", size.buf, bytes);
	strbuf_free(&size);
}

static int run(const struct modl_ctx *ctx, int argc, char **argv)
{
	struct hub_repo repo;
	struct hub *hub = NULL;
	struct hub_tree tree = { 0 };
	int n, rc = args_parse_repo_command("ls", "REPO[@REV] [PATH]", 1, 2, argc, argv, &repo, &n);
	if (rc)
		return rc;
	if (ctx->settings.offline)
		return modl_error_set(MODL_ENET,
				      "ls: %s: offline mode (HF_HUB_OFFLINE) and the Hub is "
				      "needed",
				      repo.id);
	const char *rev = repo.revision[0] ? repo.revision : "main";
	if ((rc = hub_open(&hub, &ctx->settings, ctx->verbose)))
		return rc;
	rc = hub_list_tree(hub, &repo, rev, n == 2 ? argv[1] : NULL, 1, &tree);
	if (!rc) {
		unsigned long long files = 0, bytes = 0;
		for (size_t i = 0; i < tree.count; i++)
			if (!tree.entries[i].is_dir) {
				files++;
				bytes += tree.entries[i].size;
			}
		if (ctx->json)
			rc = write_tree_json(&repo, rev, &tree, files, bytes);
		else
			print_tree(&tree, files, bytes);
	}
	hub_tree_free(&tree);
	hub_close(hub);
	return rc;
}

const struct modl_command cmd_ls = { "ls", "list a repository's files with size, kind and hash", usage, run };
