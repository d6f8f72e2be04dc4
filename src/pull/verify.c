#include "verify.h"
#include "cache/cache.h"
#include "cache/cache_scan.h"
#include "util/error.h"
#include "util/hash.h"
#include "util/pool.h"
#include "util/strbuf.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int add_entry(struct verify_report *r, size_t *cap, const char *path, const char *expected,
		     unsigned long long size)
{
	if (r->count == *cap) {
		size_t n = *cap ? *cap * 2 : 64;
		struct verify_entry *grown = realloc(r->entries, n * sizeof(*grown));
		if (!grown)
			return modl_error_oom();
		r->entries = grown;
		*cap = n;
	}
	struct verify_entry *e = &r->entries[r->count];
	memset(e, 0, sizeof(*e));
	if (!(e->path = strdup(path)))
		return modl_error_oom();
	snprintf(e->expected, sizeof(e->expected), "%s", expected);
	e->size = size;
	r->count++;
	return 0;
}

static int entries_from_tree(struct verify_report *r, const struct hub_tree *tree)
{
	size_t cap = 0;
	int rc = 0;
	for (size_t i = 0; !rc && i < tree->count; i++) {
		const struct hub_entry *e = &tree->entries[i];
		if (!e->is_dir)
			rc = add_entry(r, &cap, e->path, e->lfs ? e->sha256 : e->oid, e->size);
	}
	return rc;
}

/* Offline without a recorded listing: each snapshot link names its blob, and the blob
 * name is its hash (a dangling link is a file whose blob is gone). */
static int entries_from_links(struct verify_report *r, const struct modl_settings *s,
			      const struct hub_repo *repo)
{
	struct cache_scan scan;
	size_t cap = 0;
	int rc = cache_scan_one(s->hub_cache, repo, &scan);
	if (rc)
		return rc;
	const struct cache_revision *rev = cache_entry_revision(&scan.repos[0], r->commit);
	for (size_t i = 0; rev && !rc && i < rev->file_count; i++) {
		const struct cache_file *f = &rev->files[i];
		if (f->blob >= 0)
			rc = add_entry(r, &cap, f->path, scan.repos[0].blobs[f->blob].name,
				       scan.repos[0].blobs[f->blob].size);
	}
	for (size_t i = 0; rev && !rc && i < rev->dangling_count; i++)
		rc = add_entry(r, &cap, rev->dangling[i], "", 0);
	cache_scan_free(&scan);
	return rc;
}

struct verify_work {
	struct verify_report *report;
	pthread_mutex_t lock;
	size_t next;
};

static void verify_one(const char *snapshot, struct verify_entry *e)
{
	struct strbuf path = STRBUF_INIT;
	struct stat st;
	strbuf_addf(&path, "%s/%s", snapshot, e->path);
	if (stat(path.buf, &st) != 0 && lstat(path.buf, &st) == 0) {
		/* a link whose blob is gone: the file was there and is lost */
		e->status = VERIFY_BAD;
		e->error = strdup("its blob is missing"); /* NULL when out of memory: no reason shown */
	} else if (stat(path.buf, &st) != 0) {
		e->status = VERIFY_MISSING;
	} else {
		int kind = hash_kind_of(e->expected);
		int rc = kind < 0 ? modl_error_set(MODL_EINVALID, "no usable hash recorded")
				  : hash_file(path.buf, (enum hash_kind)kind, e->actual, &e->actual_size);
		if (rc)
			e->error = strdup(modl_error_message());
		e->status = !rc && !strcmp(e->actual, e->expected) && e->actual_size == e->size ? VERIFY_OK
												: VERIFY_BAD;
	}
	strbuf_free(&path);
}

static void verify_worker(void *ctx, unsigned index)
{
	(void)index;
	struct verify_work *w = ctx;
	for (;;) {
		pthread_mutex_lock(&w->lock);
		size_t i = w->next++;
		pthread_mutex_unlock(&w->lock);
		if (i >= w->report->count)
			return;
		verify_one(w->report->snapshot, &w->report->entries[i]);
	}
}

static int resolve_commit(const struct modl_settings *s, int verbose, const struct hub_repo *repo,
			  const struct cache_repo *cache, struct verify_report *r, struct hub_tree *tree)
{
	const char *rev = repo->revision[0] ? repo->revision : "main";
	int rc;
	if (s->offline) {
		if (hub_is_commit(rev))
			memcpy(r->commit, rev, 41);
		else if ((rc = cache_read_ref(cache, rev, r->commit)))
			return modl_error_set(rc == MODL_ENOTFOUND ? MODL_ENET : rc,
					      "offline mode (HF_HUB_OFFLINE): %s@%s is not in the cache",
					      repo->id, rev);
		rc = cache_read_tree(cache, r->commit, tree);
		r->source = rc ? "blob names" : "recorded listing";
		if (rc == MODL_ENOTFOUND) {
			modl_error_clear();
			return 0;
		}
		return rc;
	}
	struct hub *hub = NULL;
	cJSON *info = NULL;
	rc = hub_open(&hub, s, verbose);
	if (!rc)
		rc = hub_repo_info(hub, repo, 0, &info);
	const cJSON *sha = rc ? NULL : cJSON_GetObjectItemCaseSensitive(info, "sha");
	if (!rc && (!cJSON_IsString(sha) || !hub_is_commit(sha->valuestring)))
		rc = modl_error_set(MODL_EINVALID, "%s: the Hub's answer has no valid commit sha", repo->id);
	if (!rc) {
		memcpy(r->commit, sha->valuestring, 41);
		rc = hub_list_tree(hub, repo, r->commit, NULL, 1, tree);
	}
	r->source = "hub";
	cJSON_Delete(info);
	hub_close(hub);
	return rc;
}

int verify_snapshot(const struct modl_settings *s, int verbose, const struct hub_repo *repo,
		    struct verify_report *r)
{
	struct cache_repo cache;
	struct hub_tree tree = { 0 };
	struct strbuf sb = STRBUF_INIT;
	struct stat st;
	memset(r, 0, sizeof(*r));
	int rc = cache_repo_init(&cache, s->hub_cache, repo);
	if (!rc)
		rc = resolve_commit(s, verbose, repo, &cache, r, &tree);
	if (!rc && !(rc = cache_snapshot_dir(&cache, r->commit, &sb)))
		r->snapshot = strbuf_take(&sb);
	if (!rc && (stat(r->snapshot, &st) != 0 || !S_ISDIR(st.st_mode)))
		rc = modl_error_set(MODL_ENOTFOUND,
				    "%s@%.12s is not in the cache (no %s); run 'modl pull' first", repo->id,
				    r->commit, r->snapshot);
	if (!rc) {
		rc = tree.count || strcmp(r->source, "blob names") ? entries_from_tree(r, &tree)
								   : entries_from_links(r, s, repo);
	}
	if (!rc) {
		struct verify_work w = { .report = r };
		pthread_mutex_init(&w.lock, NULL);
		rc = pool_run(pool_default_threads(), verify_worker, &w);
		pthread_mutex_destroy(&w.lock);
	}
	for (size_t i = 0; !rc && i < r->count; i++) {
		r->ok += r->entries[i].status == VERIFY_OK;
		r->missing += r->entries[i].status == VERIFY_MISSING;
		r->bad += r->entries[i].status == VERIFY_BAD;
	}
	if (!rc && !r->bad && r->ok == 0 && r->missing)
		rc = modl_error_set(MODL_ENOTFOUND, "%s@%.12s: none of its %zu files is in the cache",
				    repo->id, r->commit, r->missing);
	if (!rc && r->bad) {
		strbuf_reset(&sb);
		for (size_t i = 0, shown = 0; i < r->count && shown < 5; i++)
			if (r->entries[i].status == VERIFY_BAD)
				strbuf_addf(&sb, "%s%s", shown++ ? ", " : "", r->entries[i].path);
		rc = modl_error_set(MODL_EINTEGRITY, "%s@%.12s: %zu file%s do%s not match: %s%s", repo->id,
				    r->commit, r->bad, r->bad == 1 ? "" : "s", r->bad == 1 ? "es" : "",
				    sb.buf, r->bad > 5 ? ", ..." : "");
	}
	strbuf_free(&sb);
	hub_tree_free(&tree);
	cache_repo_free(&cache);
	return rc;
}

void verify_report_free(struct verify_report *r)
{
	for (size_t i = 0; i < r->count; i++) {
		free(r->entries[i].path);
		free(r->entries[i].error);
	}
	free(r->entries);
	free(r->snapshot);
	memset(r, 0, sizeof(*r));
}
