#include "cache_scan.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/hash.h"
#include "util/strbuf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SCAN_MAX_DEPTH 64

/* ---- small growable arrays ---------------------------------------------------------- */

static int grow(void **items, size_t *cap, size_t count, size_t size)
{
	if (count < *cap)
		return 0;
	size_t n = *cap ? *cap * 2 : 16;
	void *p = realloc(*items, n * size);
	if (!p)
		return modl_error_oom();
	*items = p;
	*cap = n;
	return 0;
}

static int push_string(char ***list, size_t *count, const char *s)
{
	char **grown = realloc(*list, (*count + 1) * sizeof(**list));
	if (!grown)
		return modl_error_oom();
	*list = grown;
	if (!(grown[*count] = strdup(s)))
		return modl_error_oom();
	(*count)++;
	return 0;
}

static int warn(struct cache_scan *scan, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int warn(struct cache_scan *scan, const char *fmt, ...)
{
	struct strbuf msg = STRBUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	int rc = strbuf_vaddf(&msg, fmt, ap);
	va_end(ap);
	if (!rc)
		rc = push_string(&scan->warnings, &scan->warning_count, msg.buf);
	strbuf_free(&msg);
	return rc;
}

/* ---- names ------------------------------------------------------------------------- */

int cache_parse_folder(const char *name, struct hub_repo *out)
{
	/* clang-format off */
	static const struct { const char *prefix; enum hub_repo_type type; } kinds[] = {
		{ "models--", HUB_MODEL }, { "datasets--", HUB_DATASET }, { "spaces--", HUB_SPACE },
	};
	/* clang-format on */
	for (size_t k = 0; k < 3; k++) {
		size_t n = strlen(kinds[k].prefix);
		if (strncmp(name, kinds[k].prefix, n))
			continue;
		char id[128];
		const char *rest = name + n;
		const char *sep = strstr(rest, "--");
		if (strlen(rest) >= sizeof(id))
			return -1;
		if (sep)
			snprintf(id, sizeof(id), "%.*s/%s", (int)(sep - rest), rest, sep + 2);
		else
			snprintf(id, sizeof(id), "%s", rest);
		modl_error_clear();
		if (hub_parse_repo(id, kinds[k].type, out)) {
			modl_error_clear();
			return -1;
		}
		return 0;
	}
	return -1;
}

static int blob_compare(const void *a, const void *b)
{
	return strcmp(((const struct cache_blob *)a)->name, ((const struct cache_blob *)b)->name);
}

struct cache_blob *cache_entry_blob(const struct cache_entry *e, const char *name)
{
	struct cache_blob key;
	if (strlen(name) >= sizeof(key.name))
		return NULL;
	strcpy(key.name, name);
	return bsearch(&key, e->blobs, e->blob_count, sizeof(key), blob_compare);
}

struct cache_revision *cache_entry_revision(const struct cache_entry *e, const char *rev)
{
	for (size_t i = 0; i < e->revision_count; i++) {
		struct cache_revision *r = &e->revisions[i];
		if (!strcmp(r->commit, rev))
			return r;
		for (size_t k = 0; k < r->ref_count; k++)
			if (!strcmp(r->refs[k], rev))
				return r;
	}
	return NULL;
}

/* ---- one repository ---------------------------------------------------------------- */

struct walk {
	struct cache_scan *scan;
	struct cache_entry *e;
	struct cache_revision *r;
	const char *prefix; /* of the entry's path inside a snapshot or refs/ */
	int depth;
	size_t *cap;
};

static int blob_entry(void *ctx, struct fs_entry *ent)
{
	const char *path = ent->path, *name = ent->name;
	struct walk *w = ctx;
	struct cache_entry *e = w->e;
	if (name[0] == '.')
		return 0;
	const struct stat *st = fs_entry_stat(ent);
	if (!st)
		return 0; /* gone meanwhile */
	const char *partial = strstr(name, ".incomplete");
	int incomplete =
		partial && (!strcmp(partial, ".incomplete") || !strcmp(partial, ".incomplete.chunks"));
	if (!S_ISREG(st->st_mode) || strlen(name) >= sizeof(e->blobs->name) ||
	    (!incomplete && hash_kind_of(name) < 0))
		return warn(w->scan, "%s: stray entry in blobs/", path);
	int rc = grow((void **)&e->blobs, w->cap, e->blob_count, sizeof(*e->blobs));
	if (rc)
		return rc;
	struct cache_blob *b = &e->blobs[e->blob_count++];
	memset(b, 0, sizeof(*b));
	strcpy(b->name, name);
	b->incomplete = incomplete;
	b->size = (unsigned long long)st->st_size;
	b->mtime = st->st_mtime;
	b->atime = st->st_atime;
	return 0;
}

/* Walks <repo folder>/<sub> with fn; a folder that is not there is empty. */
static int walk_folder(struct walk *w, const char *sub, fs_entry_fn fn)
{
	struct strbuf dir = STRBUF_INIT;
	int rc = strbuf_addf(&dir, "%s/%s", w->e->folder, sub);
	if (!rc)
		rc = fs_for_each_entry(dir.buf, fn, w);
	if (rc == MODL_ENOTFOUND) {
		modl_error_clear();
		rc = 0;
	}
	strbuf_free(&dir);
	return rc;
}

static int scan_blobs(struct cache_scan *scan, struct cache_entry *e)
{
	size_t cap = 0;
	struct walk w = { .scan = scan, .e = e, .cap = &cap };
	int rc = walk_folder(&w, "blobs", blob_entry);
	if (!rc && e->blob_count)
		qsort(e->blobs, e->blob_count, sizeof(*e->blobs), blob_compare);
	return rc;
}

/* The blob a snapshot link points at: the last component of its target, when the target
 * lies in this repo's blobs/ folder; -1 otherwise. */
static long link_blob(const struct cache_entry *e, struct fs_entry *ent)
{
	char target[4096];
	ssize_t n = readlinkat(ent->dir_fd, ent->name, target, sizeof(target) - 1);
	if (n <= 0)
		return -1;
	target[n] = '\0';
	const char *name = strrchr(target, '/');
	name = name ? name + 1 : target;
	if (name - target < 6 || strncmp(name - 6, "blobs/", 6))
		return -1;
	struct cache_blob *b = cache_entry_blob(e, name);
	return b ? (long)(b - e->blobs) : -1;
}

/* What a snapshot link leads to: taken from the blob table when it points at a complete
 * blob of this repo (no second path resolution per file), else from stat(). Returns 0, or
 * -1 when the link is dangling. */
static int link_target(const struct cache_entry *e, struct fs_entry *ent, long *blob,
		       unsigned long long *size, time_t *mtime)
{
	struct stat target;
	*blob = link_blob(e, ent);
	if (*blob >= 0 && !e->blobs[*blob].incomplete) {
		*size = e->blobs[*blob].size;
		*mtime = e->blobs[*blob].mtime;
		return 0;
	}
	if (fstatat(ent->dir_fd, ent->name, &target, 0) != 0)
		return -1;
	*size = (unsigned long long)target.st_size;
	*mtime = target.st_mtime;
	return 0;
}

/* Walks a sub-folder of a snapshot or of refs/ with fn, its entries named below rel. */
static int walk_deeper(const struct walk *w, const struct fs_entry *ent, struct strbuf *rel, fs_entry_fn fn)
{
	struct walk sub = *w;
	int rc = strbuf_adds(rel, "/");
	if (rc)
		return rc;
	sub.prefix = rel->buf;
	sub.depth++;
	return sub.depth > SCAN_MAX_DEPTH ? warn(w->scan, "%s: folders nested too deep", ent->path)
					  : fs_for_each_entry(ent->path, fn, &sub);
}

static int snapshot_entry(void *ctx, struct fs_entry *ent)
{
	const char *path = ent->path, *name = ent->name;
	struct walk *w = ctx;
	struct cache_revision *r = w->r;
	struct strbuf rel = STRBUF_INIT;
	long blob = -1;
	unsigned long long size = 0;
	time_t mtime = 0;
	int rc = strbuf_addf(&rel, "%s%s", w->prefix, name);
	if (rc)
		return rc;
	if (S_ISDIR(ent->type)) {
		rc = walk_deeper(w, ent, &rel, snapshot_entry);
	} else if (S_ISLNK(ent->type) && link_target(w->e, ent, &blob, &size, &mtime) != 0) {
		rc = warn(w->scan, "%s: dangling link", path);
		if (!rc)
			rc = push_string(&r->dangling, &r->dangling_count, rel.buf);
	} else if (!(rc = grow((void **)&r->files, w->cap, r->file_count, sizeof(*r->files)))) {
		struct cache_file *f = &r->files[r->file_count++];
		const struct stat *st = S_ISLNK(ent->type) ? NULL : fs_entry_stat(ent);
		f->blob = st ? -1 : blob;
		if (st) {
			size = (unsigned long long)st->st_size;
			mtime = st->st_mtime;
		}
		f->size = size;
		if (mtime > r->last_modified)
			r->last_modified = mtime;
		f->path = strbuf_take(&rel);
		if (!f->path)
			rc = modl_error_oom();
	}
	strbuf_free(&rel);
	return rc;
}

static int revision_entry(void *ctx, struct fs_entry *ent)
{
	const char *path = ent->path, *name = ent->name;
	struct walk *w = ctx;
	struct cache_entry *e = w->e;
	if (!S_ISDIR(ent->type) || !hub_is_commit(name))
		return warn(w->scan, "%s: stray entry in snapshots/", path);
	int rc = grow((void **)&e->revisions, w->cap, e->revision_count, sizeof(*e->revisions));
	if (rc)
		return rc;
	struct cache_revision *r = &e->revisions[e->revision_count++];
	memset(r, 0, sizeof(*r));
	memcpy(r->commit, name, 41);
	size_t file_cap = 0;
	struct walk files = { .scan = w->scan, .e = e, .r = r, .prefix = "", .cap = &file_cap };
	return fs_for_each_entry(path, snapshot_entry, &files);
}

static int newest_first(const void *a, const void *b)
{
	const struct cache_revision *x = a, *y = b;
	if (x->last_modified != y->last_modified)
		return x->last_modified < y->last_modified ? 1 : -1;
	return strcmp(x->commit, y->commit);
}

static int ref_entry(void *ctx, struct fs_entry *ent)
{
	const char *path = ent->path, *name = ent->name;
	struct walk *w = ctx;
	struct cache_entry *e = w->e;
	struct strbuf rel = STRBUF_INIT;
	int rc = strbuf_addf(&rel, "%s%s", w->prefix, name);
	if (rc)
		return rc;
	if (S_ISDIR(ent->type)) {
		rc = walk_deeper(w, ent, &rel, ref_entry);
		strbuf_free(&rel);
		return rc;
	}
	char commit[64] = "";
	FILE *f = S_ISREG(ent->type) ? fopen(path, "r") : NULL;
	size_t n = f ? fread(commit, 1, sizeof(commit) - 1, f) : 0;
	if (f)
		fclose(f);
	commit[n] = '\0';
	struct cache_revision *r = NULL;
	if (!hub_is_commit(commit))
		rc = warn(w->scan, "%s: ref %s does not hold a commit id", e->id, rel.buf);
	else if (!(rc = push_string(&e->refs, &e->ref_count, rel.buf)) &&
		 !(r = cache_entry_revision(e, commit)))
		rc = warn(w->scan, "%s: ref %s points to a missing snapshot %s", e->id, rel.buf, commit);
	else if (!rc)
		rc = push_string(&r->refs, &r->ref_count, rel.buf);
	strbuf_free(&rel);
	return rc;
}

static int scan_revisions(struct cache_scan *scan, struct cache_entry *e)
{
	size_t cap = 0;
	struct walk w = { .scan = scan, .e = e, .prefix = "", .cap = &cap };
	int rc = walk_folder(&w, "snapshots", revision_entry);
	if (!rc && e->revision_count)
		qsort(e->revisions, e->revision_count, sizeof(*e->revisions), newest_first);
	return rc ? rc : walk_folder(&w, "refs", ref_entry);
}

/* Sizes and times, with every blob counted once. */
static void scan_totals(struct cache_entry *e)
{
	for (size_t i = 0; i < e->revision_count; i++) {
		struct cache_revision *r = &e->revisions[i];
		for (size_t k = 0; k < r->file_count; k++) {
			const struct cache_file *f = &r->files[k];
			if (f->blob < 0) {
				r->size += f->size;
				e->size_on_disk += f->size;
				continue;
			}
			struct cache_blob *b = &e->blobs[f->blob];
			if (b->links++ == 0) {
				e->size_on_disk += b->size;
				e->file_count++;
			}
		}
		/* a revision's own size: its distinct blobs */
		for (size_t k = 0; k < r->file_count; k++) {
			long idx = r->files[k].blob;
			int seen = 0;
			for (size_t j = 0; idx >= 0 && j < k && !seen; j++)
				seen = r->files[j].blob == idx;
			if (idx >= 0 && !seen)
				r->size += e->blobs[idx].size;
		}
	}
	for (size_t i = 0; i < e->blob_count; i++) {
		const struct cache_blob *b = &e->blobs[i];
		if (!b->links && !b->incomplete)
			e->orphan_size += b->size;
		if (b->mtime > e->last_modified)
			e->last_modified = b->mtime;
		if (b->atime > e->last_accessed)
			e->last_accessed = b->atime;
	}
}

static int scan_entry(struct cache_scan *scan, const char *name, const struct hub_repo *repo)
{
	struct cache_entry *grown = realloc(scan->repos, (scan->count + 1) * sizeof(*grown));
	if (!grown)
		return modl_error_oom();
	scan->repos = grown;
	struct cache_entry *e = &scan->repos[scan->count++];
	memset(e, 0, sizeof(*e));
	e->type = repo->type;
	snprintf(e->id, sizeof(e->id), "%s", repo->id);
	struct strbuf sb = STRBUF_INIT;
	int rc = strbuf_addf(&sb, "%s/%s", scan->root, name);
	if (!rc && (!(e->folder = strbuf_take(&sb)) || !(e->folder_name = strdup(name))))
		rc = modl_error_oom();
	if (!rc)
		rc = scan_blobs(scan, e);
	if (!rc)
		rc = scan_revisions(scan, e);
	if (!rc)
		scan_totals(e);
	strbuf_free(&sb);
	return rc;
}

/* ---- the whole cache ----------------------------------------------------------------- */

static int scan_init(struct cache_scan *scan, const char *hub_cache)
{
	memset(scan, 0, sizeof(*scan));
	scan->root = strdup(hub_cache);
	return scan->root ? 0 : modl_error_oom();
}

static int root_entry(void *ctx, struct fs_entry *ent)
{
	const char *path = ent->path, *name = ent->name;
	struct cache_scan *scan = ctx;
	struct hub_repo repo;
	if (name[0] == '.' || !strcmp(name, "CACHEDIR.TAG"))
		return 0;
	if (cache_parse_folder(name, &repo) != 0)
		return warn(scan, "%s: not a repository folder", path);
	return scan_entry(scan, name, &repo);
}

int cache_scan(const char *hub_cache, struct cache_scan *scan)
{
	int rc = scan_init(scan, hub_cache);
	if (!rc)
		rc = fs_for_each_entry(hub_cache, root_entry, scan);
	if (rc == MODL_ENOTFOUND) {
		modl_error_clear();
		rc = 0;
	}
	if (rc)
		cache_scan_free(scan);
	return rc;
}

int cache_scan_one(const char *hub_cache, const struct hub_repo *repo, struct cache_scan *scan)
{
	struct strbuf name = STRBUF_INIT, path = STRBUF_INIT;
	struct stat st;
	int rc = scan_init(scan, hub_cache);
	if (!rc)
		rc = strbuf_adds(&name, hub_repo_type_name(repo->type));
	if (!rc) {
		strbuf_adds(&name, "s--");
		for (const char *p = repo->id; *p; p++)
			*p == '/' ? strbuf_adds(&name, "--") : strbuf_add(&name, p, 1);
		strbuf_addf(&path, "%s/%s", hub_cache, name.buf);
	}
	if (!rc && (stat(path.buf, &st) != 0 || !S_ISDIR(st.st_mode)))
		rc = modl_error_set(MODL_ENOTFOUND, "%s %s is not in the cache (%s)",
				    hub_repo_type_name(repo->type), repo->id, hub_cache);
	if (!rc)
		rc = scan_entry(scan, name.buf, repo);
	strbuf_free(&name);
	strbuf_free(&path);
	if (rc)
		cache_scan_free(scan);
	return rc;
}

static void strings_free(char **list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(list[i]);
	free(list);
}

void cache_scan_free(struct cache_scan *scan)
{
	for (size_t i = 0; i < scan->count; i++) {
		struct cache_entry *e = &scan->repos[i];
		for (size_t k = 0; k < e->revision_count; k++) {
			struct cache_revision *r = &e->revisions[k];
			for (size_t j = 0; j < r->file_count; j++)
				free(r->files[j].path);
			free(r->files);
			strings_free(r->refs, r->ref_count);
			strings_free(r->dangling, r->dangling_count);
		}
		free(e->revisions);
		free(e->blobs);
		strings_free(e->refs, e->ref_count);
		free(e->folder);
		free(e->folder_name);
	}
	free(scan->repos);
	strings_free(scan->warnings, scan->warning_count);
	free(scan->root);
	memset(scan, 0, sizeof(*scan));
}
