#include "pull.h"
#include "util/clock.h"
#include "license/license.h"
#include "hub/repo_info.h"
#include "cache/cache.h"
#include "download.h"
#include "util/error.h"
#include "filter.h"
#include "util/fs.h"
#include "util/strbuf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *ref_name(const struct pull_options *o)
{
	return o->repo.revision[0] ? o->repo.revision : "main";
}

/* ---- choosing files ----------------------------------------------------------------- */

static int file_requested(const struct pull_options *o, const char *path)
{
	if (o->file_count == 0) {
		struct filter f = { o->include, o->include_count, o->exclude, o->exclude_count };
		return filter_match(&f, path);
	}
	for (size_t i = 0; i < o->file_count; i++)
		if (!strcmp(o->files[i], path))
			return 1;
	return 0;
}

/* The listed files a pull takes; every FILE argument must be in the listing. */
static int select_files(const struct pull_options *o, const struct hub_tree *tree, struct pull_result *r,
			const struct cache_repo *cache)
{
	r->files = calloc(tree->count + 1, sizeof(*r->files));
	if (!r->files)
		return modl_error_oom();
	for (size_t i = 0; i < tree->count; i++) {
		const struct hub_entry *e = &tree->entries[i];
		if (e->is_dir || !file_requested(o, e->path))
			continue;
		struct pull_file *f = &r->files[r->count++];
		if (!(f->path = strdup(e->path)))
			return modl_error_oom();
		f->size = e->size;
		f->lfs = e->lfs;
		snprintf(f->hash, sizeof(f->hash), "%s", e->lfs ? e->sha256 : e->oid);
		r->bytes += e->size;
	}
	for (size_t i = 0; i < o->file_count; i++) {
		int found = 0;
		for (size_t k = 0; k < r->count && !found; k++)
			found = !strcmp(r->files[k].path, o->files[i]);
		if (!found) {
			if (cache && hub_path_is_safe(o->files[i]))
				cache_mark_no_exist(cache, r->commit, o->files[i]);
			return modl_error_set(MODL_ENOTFOUND, "file %s not found in %s@%.12s", o->files[i],
					      o->repo.id, r->commit);
		}
	}
	return 0;
}

/* ---- local-dir bookkeeping (huggingface_hub's .cache/huggingface/download) ------------- */

static int local_meta_path(const char *dir, const char *path, const char *suffix, struct strbuf *out)
{
	return strbuf_addf(out, "%s/.cache/huggingface/download/%s%s", dir, path, suffix);
}

/* A file of a previous pull is reused when its metadata names the same hash and its
 * size is right. */
static int local_file_present(const char *dir, const struct pull_file *f)
{
	struct strbuf meta = STRBUF_INIT, file = STRBUF_INIT;
	char *text = NULL;
	struct stat st;
	int present = 0;
	if (!local_meta_path(dir, f->path, ".metadata", &meta) &&
	    !strbuf_addf(&file, "%s/%s", dir, f->path) && fs_read_file(meta.buf, 4096, &text, NULL) == 0 &&
	    stat(file.buf, &st) == 0 && S_ISREG(st.st_mode) && (unsigned long long)st.st_size == f->size) {
		const char *nl = strchr(text, '\n');
		present = nl && !strncmp(nl + 1, f->hash, strlen(f->hash)) &&
			  (nl[1 + strlen(f->hash)] == '\n' || nl[1 + strlen(f->hash)] == '\0');
	}
	modl_error_clear();
	free(text);
	strbuf_free(&meta);
	strbuf_free(&file);
	return present;
}

static int local_write_meta(const char *dir, const char *commit, const struct pull_file *f)
{
	struct strbuf meta = STRBUF_INIT, parent = STRBUF_INIT, text = STRBUF_INIT;
	int rc = local_meta_path(dir, f->path, ".metadata", &meta);
	if (!rc)
		rc = fs_parent_dir(meta.buf, &parent);
	if (!rc)
		rc = fs_mkdir_p(parent.buf, 0755);
	if (!rc)
		rc = strbuf_addf(&text, "%s\n%s\n%ld\n", commit, f->hash, (long)time(NULL));
	if (!rc)
		rc = fs_write_atomic(meta.buf, text.buf, text.len, 0644);
	strbuf_free(&meta);
	strbuf_free(&parent);
	strbuf_free(&text);
	return rc;
}

/* ---- the download plan ---------------------------------------------------------------- */

static void items_free(struct download_item *items, size_t n)
{
	for (size_t i = 0; items && i < n; i++) {
		free(items[i].final_path);
		free(items[i].partial_path);
		free(items[i].lock_path);
	}
	free(items);
}

static int plan_items(const struct pull_options *o, const struct cache_repo *cache, struct pull_result *r,
		      struct hub_entry *entries, struct download_item **out)
{
	struct download_item *items = calloc(r->count + 1, sizeof(*items));
	struct strbuf sb = STRBUF_INIT;
	int rc = items ? 0 : modl_error_oom();
	for (size_t i = 0; !rc && i < r->count; i++) {
		struct pull_file *f = &r->files[i];
		struct hub_entry *e = &entries[i];
		e->path = f->path;
		e->size = f->size;
		e->lfs = f->lfs;
		snprintf(e->lfs ? e->sha256 : e->oid, 65, "%s", f->hash);
		items[i].entry = e;
		if (o->local_dir) {
			f->present = !o->force && local_file_present(o->local_dir, f);
			if (!(rc = strbuf_addf(&sb, "%s/%s", o->local_dir, f->path)))
				items[i].final_path = strbuf_take(&sb);
			if (!rc && !(rc = local_meta_path(o->local_dir, f->path, ".incomplete", &sb)))
				items[i].partial_path = strbuf_take(&sb);
			if (!rc && !(rc = local_meta_path(o->local_dir, f->path, ".lock", &sb)))
				items[i].lock_path = strbuf_take(&sb);
		} else {
			f->present = !o->force && cache_blob_present(cache, f->hash, f->size);
			if (!(rc = cache_blob_path(cache, f->hash, &sb)))
				items[i].final_path = strbuf_take(&sb);
			if (!rc && !(rc = cache_blob_path(cache, f->hash, &sb)) &&
			    !(rc = strbuf_adds(&sb, ".incomplete")))
				items[i].partial_path = strbuf_take(&sb);
			if (!rc && !(rc = cache_lock_path(cache, f->hash, &sb)))
				items[i].lock_path = strbuf_take(&sb);
		}
		items[i].present = f->present;
		if (!rc && (!items[i].final_path || !items[i].partial_path || !items[i].lock_path))
			rc = modl_error_oom();
	}
	strbuf_free(&sb);
	if (rc) {
		items_free(items, r->count);
		return rc;
	}
	*out = items;
	return 0;
}

static int snapshot_file_ok(const char *snapshot, const struct pull_file *f)
{
	struct strbuf path = STRBUF_INIT;
	struct stat st;
	int ok = !strbuf_addf(&path, "%s/%s", snapshot, f->path) && stat(path.buf, &st) == 0 &&
		 S_ISREG(st.st_mode) && (unsigned long long)st.st_size == f->size;
	strbuf_free(&path);
	return ok;
}

/* Every file the pull linked still resolves to a blob of the right size: a `cache rm` or
 * `prune` that got past the locks (or a person) may have removed something meanwhile,
 * and a pull must never report a snapshot that does not verify. */
static int check_snapshot(const struct pull_options *o, const struct pull_result *r)
{
	size_t lost = 0;
	const char *first = NULL;
	for (size_t i = 0; i < r->count; i++)
		if (!r->files[i].failed && !snapshot_file_ok(r->path, &r->files[i]) && lost++ == 0)
			first = r->files[i].path;
	if (!lost)
		return 0;
	return modl_error_set(MODL_EFAIL,
			      "%s@%.12s: %zu file%s vanished from the snapshot while "
			      "pulling (first: %s; a concurrent 'modl cache rm' or 'prune'?): pull again",
			      o->repo.id, r->commit, lost, lost == 1 ? "" : "s", first);
}

/* After the transfers: record what is there in the local dir (the cache's snapshot links
 * were made as each file became ready), check the snapshot, and point the ref at it. */
static int publish(const struct pull_options *o, const struct cache_repo *cache, struct pull_result *r,
		   const struct download_item *items)
{
	struct strbuf dir = STRBUF_INIT;
	size_t linked = 0;
	int rc = 0;
	for (size_t i = 0; !rc && i < r->count; i++) {
		struct pull_file *f = &r->files[i];
		f->fetched = items[i].status == DOWNLOAD_FETCHED;
		f->failed = items[i].status != DOWNLOAD_FETCHED && items[i].status != DOWNLOAD_PRESENT;
		r->fetched_bytes += items[i].fetched_bytes;
		if (f->failed)
			continue;
		linked++;
		if (o->local_dir)
			rc = local_write_meta(o->local_dir, r->commit, f);
	}
	/* A snapshot and a ref appear only with something in them. */
	if (!rc && !o->local_dir && (linked || r->count == 0)) {
		rc = cache_snapshot_dir(cache, r->commit, &dir);
		if (!rc)
			rc = fs_mkdir_p(dir.buf, 0755);
		if (!rc)
			rc = check_snapshot(o, r);
		/* A ref names a branch or tag; a pull by commit id writes none. */
		if (!rc && !hub_is_commit(ref_name(o)))
			rc = cache_write_ref(cache, ref_name(o), r->commit);
		if (!rc)
			rc = check_snapshot(o, r);
	}
	strbuf_free(&dir);
	return rc;
}

struct link_ctx {
	const struct cache_repo *cache;
	const char *commit;
};

/* download_job.on_ready: link the snapshot while the blob's lock is still held. */
static int link_ready(void *ctx, const struct download_item *item)
{
	const struct link_ctx *l = ctx;
	const struct hub_entry *e = item->entry;
	return cache_link_snapshot(l->cache, l->commit, e->path, e->lfs ? e->sha256 : e->oid);
}

/* ---- online and offline ------------------------------------------------------------------ */

static int result_path(const struct pull_options *o, const struct cache_repo *cache, struct pull_result *r)
{
	struct strbuf sb = STRBUF_INIT;
	int rc = o->local_dir ? strbuf_adds(&sb, o->local_dir) : cache_snapshot_dir(cache, r->commit, &sb);
	if (!rc)
		r->path = strbuf_take(&sb);
	strbuf_free(&sb);
	return rc;
}

static int snapshot_lock(const struct cache_repo *cache, const char *commit, int *fd)
{
	struct strbuf path = STRBUF_INIT;
	int rc = cache_snapshot_lock_path(cache, commit, &path);
	if (!rc)
		rc = fs_lock_reader(path.buf, 1, fd);
	strbuf_free(&path);
	return rc;
}

static int pull_online(const struct modl_settings *s, int verbose, const struct pull_options *o,
		       const struct cache_repo *cache, struct pull_result *r)
{
	struct hub *hub = NULL;
	struct hub_tree tree = { 0 };
	struct download_item *items = NULL;
	struct hub_entry *entries = NULL;
	cJSON *info = NULL;
	int lock_fd = -1;
	int rc = hub_open(&hub, s, verbose);
	if (!rc)
		rc = hub_repo_info(hub, &o->repo, 0, &info);
	if (rc)
		goto out;
	r->info = info;
	struct repo_summary summary;
	if ((rc = repo_summary_from_info(info, &summary)))
		goto out;
	memcpy(r->commit, summary.sha, 41);
	r->license = summary.license_card ? summary.license_card : summary.license_tag;
	r->gated = summary.gated;
	/* The tree is listed at the commit, never at the branch: files cannot come from two
	 * commits if the branch moves meanwhile. */
	if ((rc = hub_list_tree(hub, &o->repo, r->commit, NULL, 1, &tree)))
		goto out;
	/* The whole listing must fit on disk before a byte is fetched (dry runs too). */
	if ((rc = result_path(o, cache, r)) ||
	    (rc = hub_tree_validate(&tree, o->repo.id,
				    strlen(r->path) + 1 +
					    (o->local_dir ? strlen("/.cache/huggingface/download/") : 0),
				    o->local_dir ? strlen(".incomplete") : 0)))
		goto out;
	/* The license policy sees the card and license files only, before any weight. */
	if (o->policy) {
		struct license_report report;
		rc = license_check_remote(hub, &o->repo, r->commit, &tree, o->policy, &report);
		license_report_free(&report);
		if (rc)
			goto out;
		progress_note(o->progress, "license policy %s: pass", o->policy);
	}
	if ((rc = select_files(o, &tree, r, o->local_dir || o->dry_run ? NULL : cache)))
		goto out;
	entries = calloc(r->count + 1, sizeof(*entries));
	if (!entries) {
		rc = modl_error_oom();
		goto out;
	}
	if ((rc = plan_items(o, cache, r, entries, &items)) || o->dry_run)
		goto out;
	/* The snapshot lock first: from here until the snapshot is checked, `cache rm` and
	 * `prune` leave this commit's snapshot and this repo alone. */
	if (!o->local_dir &&
	    ((rc = cache_repo_prepare(cache)) || (rc = snapshot_lock(cache, r->commit, &lock_fd)) ||
	     (rc = cache_write_tree(cache, r->commit, &tree))))
		goto out;
	progress_note(o->progress, "%s@%.12s: license %s, %s", o->repo.id, r->commit,
		      r->license ? r->license : "not declared",
		      !strcmp(r->gated, "false")    ? "not gated"
		      : !strcmp(r->gated, "manual") ? "gated (manual approval)"
		      : !strcmp(r->gated, "auto")   ? "gated (automatic approval)"
						    : "gated");
	struct link_ctx link = { cache, r->commit };
	struct download_job job = {
		.hub = hub,
		.repo = &o->repo,
		.commit = r->commit,
		.items = items,
		.count = r->count,
		.jobs = o->jobs,
		.connections = o->connections,
		.force = o->force,
		.progress = o->progress,
		.on_ready = o->local_dir ? NULL : link_ready,
		.ready_ctx = &link,
	};
	double t0 = clock_seconds();
	rc = download_run(&job);
	progress_finish(o->progress);
	r->seconds = clock_seconds() - t0;
	/* Publish what succeeded even when something failed: a later pull resumes the rest.
	 * The transfer's failure is the one reported (a full disk is named by the file that
	 * hit it, not by the ref that could not be written after). */
	char *first_error = rc ? strdup(modl_error_message()) : NULL;
	int prc = publish(o, cache, r, items);
	if (!rc)
		rc = prc;
	else if (first_error)
		modl_error_set(rc, "%s", first_error);
	free(first_error);
out:
	fs_unlock(lock_fd);
	items_free(items, r->count);
	free(entries);
	hub_tree_free(&tree);
	hub_close(hub);
	return rc;
}

struct snapshot_walk {
	size_t files;
	char broken[512];
};

static int walk_snapshot(void *ctx, struct fs_entry *ent)
{
	struct snapshot_walk *w = ctx;
	struct stat st;
	if (S_ISDIR(ent->type)) {
		int rc = fs_for_each_entry(ent->path, walk_snapshot, w);
		return rc == MODL_ENOTFOUND ? 0 : rc; /* a folder gone meanwhile */
	}
	if (fstatat(ent->dir_fd, ent->name, &st, 0) != 0 || !S_ISREG(st.st_mode)) {
		snprintf(w->broken, sizeof(w->broken), "%s", ent->path);
		return 1; /* stops the walk: a link that leads nowhere */
	}
	w->files++;
	return 0;
}

/* HF_HUB_OFFLINE: the commit from the ref (or the revision itself), and a snapshot that
 * holds every requested file of the recorded listing. */
static int pull_offline(const struct pull_options *o, const struct cache_repo *cache, struct pull_result *r)
{
	struct hub_tree tree = { 0 };
	struct stat st;
	int rc = 0;
	r->offline = 1;
	r->gated = "false";
	if (o->policy)
		return modl_error_set(MODL_EUSAGE,
				      "offline mode (HF_HUB_OFFLINE): --policy needs the Hub; audit "
				      "the cached snapshot with 'modl license %s'",
				      o->repo.id);
	if (hub_is_commit(ref_name(o)))
		memcpy(r->commit, ref_name(o), 41);
	else if ((rc = cache_read_ref(cache, ref_name(o), r->commit)))
		return modl_error_set(MODL_ENET, "offline mode (HF_HUB_OFFLINE): %s@%s is not in the cache",
				      o->repo.id, ref_name(o));
	if ((rc = result_path(o, cache, r)))
		return rc;
	if (o->local_dir)
		return modl_error_set(MODL_EUSAGE, "offline mode (HF_HUB_OFFLINE) cannot fill --local-dir");
	if (stat(r->path, &st) != 0 || !S_ISDIR(st.st_mode))
		return modl_error_set(MODL_ENET, "offline mode (HF_HUB_OFFLINE): no snapshot %s", r->path);
	rc = cache_read_tree(cache, r->commit, &tree);
	if (rc == MODL_ENOTFOUND) {
		/* No recorded listing: the named files must be there; otherwise the snapshot is
		 * taken as it is, as huggingface_hub does, if it holds something and every link
		 * resolves (a `cache rm` killed half-way leaves an emptied one). */
		modl_error_clear();
		for (size_t i = 0; i < o->file_count; i++) {
			struct pull_file f = { .path = (char *)o->files[i] };
			struct strbuf p = STRBUF_INIT;
			int there = !strbuf_addf(&p, "%s/%s", r->path, f.path) && stat(p.buf, &st) == 0;
			strbuf_free(&p);
			if (!there)
				return modl_error_set(MODL_ENET,
						      "offline mode (HF_HUB_OFFLINE): %s is not "
						      "in the cached snapshot",
						      f.path);
		}
		struct snapshot_walk w = { 0 };
		rc = fs_for_each_entry(r->path, walk_snapshot, &w);
		if (rc < 0)
			return rc;
		if (rc || w.files == 0)
			return modl_error_set(MODL_ENET,
					      "offline mode (HF_HUB_OFFLINE): the cached snapshot of %s "
					      "is %s%s (an interrupted 'cache rm'?); not cached",
					      o->repo.id,
					      w.files ? "incomplete: a link is broken: " : "empty",
					      w.files ? w.broken : "");
		return 0;
	}
	if (!rc)
		rc = select_files(o, &tree, r, NULL);
	size_t missing = 0;
	const char *first = NULL;
	for (size_t i = 0; !rc && i < r->count; i++) {
		r->files[i].present = snapshot_file_ok(r->path, &r->files[i]);
		if (!r->files[i].present && missing++ == 0)
			first = r->files[i].path;
	}
	if (!rc && missing)
		rc = modl_error_set(MODL_ENET,
				    "offline mode (HF_HUB_OFFLINE): the cached snapshot of "
				    "%s lacks %zu file%s (first: %s)",
				    o->repo.id, missing, missing == 1 ? "" : "s", first);
	hub_tree_free(&tree);
	return rc;
}

int pull_run(const struct modl_settings *s, int verbose, const struct pull_options *o, struct pull_result *r)
{
	struct cache_repo cache;
	memset(r, 0, sizeof(*r));
	for (size_t i = 0; i < o->file_count; i++)
		if (!hub_path_is_safe(o->files[i]))
			return modl_error_set(MODL_EUSAGE, "pull: '%s' is not a valid file path",
					      o->files[i]);
	int rc = cache_repo_init(&cache, s->hub_cache, &o->repo);
	if (rc)
		return rc;
	/* huggingface_hub's default revision: the ref written is the one that was asked. */
	struct pull_options pinned = *o;
	if (!pinned.repo.revision[0])
		strcpy(pinned.repo.revision, "main");
	rc = s->offline ? pull_offline(&pinned, &cache, r) : pull_online(s, verbose, &pinned, &cache, r);
	cache_repo_free(&cache);
	return rc;
}

void pull_result_free(struct pull_result *r)
{
	for (size_t i = 0; i < r->count; i++)
		free(r->files[i].path);
	free(r->files);
	free(r->path);
	cJSON_Delete(r->info);
	memset(r, 0, sizeof(*r));
}
