#include "cache_clean.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/strbuf.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <signal.h>

/* cache import holds a flock on its staging folder (archive.c make_staging) for as long
 * as it lives, whatever its age; a folder whose lock is free is a dead import's. */
static int staging_in_use(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int busy = fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) != 0;
	if (fd >= 0)
		close(fd);
	return busy;
}

/* Removes a dead import's staging while holding its lock: an import that took it since
 * the plan was made keeps it. */
static int remove_staging(const struct cache_action *a)
{
	int fd = open(a->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return 0; /* gone already */
	int rc = flock(fd, LOCK_EX | LOCK_NB) == 0 ? fs_remove_tree(a->path) : 0;
	close(fd);
	return rc;
}

/* MODL_TEST_RM_STOP_AFTER=N (a test hook, documented in modl-cache(1)): the process
 * kills itself with SIGKILL after its Nth removal step, to leave exactly what a kill -9
 * at that point leaves. */
static void test_stop_point(struct cache_plan *p)
{
	const char *v = getenv("MODL_TEST_RM_STOP_AFTER");
	if (v && *v && ++p->steps >= strtoul(v, NULL, 10))
		raise(SIGKILL);
}

const char *cache_action_name(enum cache_action_kind kind)
{
	static const char *names[] = { "repo", "revision", "blob", "partial", "ref", "metadata" };
	return names[kind];
}

static int plan_add(struct cache_plan *p, enum cache_action_kind kind, const char *path, const char *label,
		    unsigned long long bytes)
{
	struct cache_action *grown = realloc(p->actions, (p->count + 1) * sizeof(*grown));
	if (!grown)
		return modl_error_oom();
	p->actions = grown;
	struct cache_action *a = &p->actions[p->count];
	a->kind = kind;
	a->path = strdup(path);
	a->label = strdup(label);
	a->bytes = bytes;
	a->lock = NULL;
	a->kept = 0;
	if (!a->path || !a->label) {
		free(a->path);
		free(a->label);
		return modl_error_oom();
	}
	p->count++;
	p->bytes += bytes;
	return 0;
}

static int plan_skip(struct cache_plan *p, const char *what)
{
	char **grown = realloc(p->skipped, (p->skipped_count + 1) * sizeof(*grown));
	if (!grown)
		return modl_error_oom();
	p->skipped = grown;
	if (!(grown[p->skipped_count] = strdup(what)))
		return modl_error_oom();
	p->skipped_count++;
	return 0;
}

/* A running pull holds .locks/<folder>/<etag>.lock while it writes that blob. */
static int lock_path(const struct cache_scan *scan, const struct cache_entry *e, const char *name,
		     struct strbuf *out)
{
	size_t len = strcspn(name, ".");
	return strbuf_addf(out, "%s/.locks/%s/%.*s.lock", scan->root, e->folder_name, (int)len, name);
}

static int blob_locked(const struct cache_scan *scan, const struct cache_entry *e, const char *name)
{
	struct strbuf lock = STRBUF_INIT;
	int held = !lock_path(scan, e, name, &lock) && fs_lock_held(lock.buf);
	strbuf_free(&lock);
	return held;
}

/* A blob or partial action, with the lock to hold while it is removed. */
static int plan_add_blob(struct cache_plan *p, const struct cache_scan *scan, const struct cache_entry *e,
			 const struct cache_blob *b, const char *label)
{
	struct strbuf path = STRBUF_INIT, lock = STRBUF_INIT;
	int rc = strbuf_addf(&path, "%s/blobs/%s", e->folder, b->name);
	if (!rc)
		rc = lock_path(scan, e, b->name, &lock);
	if (!rc)
		rc = plan_add(p, b->incomplete ? ACTION_PARTIAL : ACTION_BLOB, path.buf, label, b->size);
	if (!rc && !(p->actions[p->count - 1].lock = strbuf_take(&lock)))
		rc = modl_error_oom();
	strbuf_free(&path);
	strbuf_free(&lock);
	return rc;
}

static int lock_file_held(void *ctx, struct fs_entry *ent)
{
	(void)ctx;
	return S_ISREG(ent->type) && fs_lock_held(ent->path);
}

/* True when anyone holds a lock of the repo: a blob being written or linked, or a
 * snapshot being filled (snapshot-<commit>.lock), even before anything of it is on disk. */
static int any_lock_held(const char *root, const char *folder_name)
{
	struct strbuf dir = STRBUF_INIT;
	int held = !strbuf_addf(&dir, "%s/.locks/%s", root, folder_name) &&
		   fs_for_each_entry(dir.buf, lock_file_held, NULL) > 0;
	modl_error_clear();
	strbuf_free(&dir);
	return held;
}

static int snapshot_lock_path(const struct cache_scan *scan, const struct cache_entry *e, const char *commit,
			      struct strbuf *out)
{
	return strbuf_addf(out, "%s/.locks/%s/snapshot-%s.lock", scan->root, e->folder_name, commit);
}

/* A revision whose snapshot a running pull is filling stays, with its blobs. */
static int spare_pulled_revisions(const struct cache_scan *scan, const struct cache_entry *e,
				  unsigned char *gone, struct cache_plan *p)
{
	struct strbuf lock = STRBUF_INIT, label = STRBUF_INIT;
	int rc = 0;
	for (size_t i = 0; !rc && i < e->revision_count; i++) {
		if (!gone[i])
			continue;
		strbuf_reset(&lock);
		if ((rc = snapshot_lock_path(scan, e, e->revisions[i].commit, &lock)) ||
		    !fs_lock_held(lock.buf))
			continue;
		gone[i] = 0;
		strbuf_reset(&label);
		if (!(rc = strbuf_addf(&label, "%s@%.12s", e->id, e->revisions[i].commit)))
			rc = plan_skip(p, label.buf);
	}
	strbuf_free(&lock);
	strbuf_free(&label);
	return rc;
}

/* Blobs that only the revisions in `gone` (a mask over e->revisions) link. */
static int plan_blobs_of(const struct cache_scan *scan, const struct cache_entry *e,
			 const unsigned char *gone, struct cache_plan *p)
{
	unsigned *kept = calloc(e->blob_count + 1, sizeof(*kept));
	unsigned char *dropped = calloc(e->blob_count + 1, 1);
	struct strbuf path = STRBUF_INIT, label = STRBUF_INIT;
	int rc = kept && dropped ? 0 : modl_error_oom();
	for (size_t i = 0; !rc && i < e->revision_count; i++)
		for (size_t k = 0; k < e->revisions[i].file_count; k++) {
			long b = e->revisions[i].files[k].blob;
			if (b < 0)
				continue;
			if (gone[i])
				dropped[b] = 1;
			else
				kept[b]++;
		}
	for (size_t b = 0; !rc && b < e->blob_count; b++) {
		if (!dropped[b] || kept[b])
			continue;
		strbuf_reset(&label);
		strbuf_addf(&label, "%s blob %.12s", e->id, e->blobs[b].name);
		if (blob_locked(scan, e, e->blobs[b].name))
			rc = plan_skip(p, label.buf);
		else
			rc = plan_add_blob(p, scan, e, &e->blobs[b], label.buf);
	}
	free(kept);
	free(dropped);
	strbuf_free(&path);
	strbuf_free(&label);
	return rc;
}

/* The revisions marked in gone: their refs, their snapshot folders, then their blobs. */
static int plan_revisions(const struct cache_scan *scan, const struct cache_entry *e,
			  const unsigned char *gone, struct cache_plan *p)
{
	struct strbuf path = STRBUF_INIT, label = STRBUF_INIT;
	int rc = 0;
	for (size_t i = 0; !rc && i < e->revision_count; i++) {
		const struct cache_revision *r = &e->revisions[i];
		if (!gone[i])
			continue;
		for (size_t k = 0; !rc && k < r->ref_count; k++) {
			strbuf_reset(&path);
			strbuf_reset(&label);
			strbuf_addf(&path, "%s/refs/%s", e->folder, r->refs[k]);
			strbuf_addf(&label, "%s ref %s", e->id, r->refs[k]);
			rc = plan_add(p, ACTION_REF, path.buf, label.buf, 0);
		}
		strbuf_reset(&path);
		strbuf_reset(&label);
		strbuf_addf(&path, "%s/snapshots/%s", e->folder, r->commit);
		strbuf_addf(&label, "%s@%.12s%s%s", e->id, r->commit, r->ref_count ? " " : " (detached)",
			    r->ref_count ? r->refs[0] : "");
		if (!rc)
			rc = plan_add(p, ACTION_REVISION, path.buf, label.buf, 0);
		strbuf_reset(&path);
		if (!rc && !(rc = snapshot_lock_path(scan, e, r->commit, &path)) &&
		    !(p->actions[p->count - 1].lock = strdup(path.buf)))
			rc = modl_error_oom();
		/* What pull recorded about that commit goes with it. */
		static const char *const meta[] = { "trees/%s.json", ".no_exist/%s" };
		for (size_t m = 0; !rc && m < 2; m++) {
			strbuf_reset(&path);
			strbuf_addf(&path, "%s/", e->folder);
			strbuf_addf(&path, meta[m], r->commit);
			struct stat st;
			if (lstat(path.buf, &st) == 0)
				rc = plan_add(p, ACTION_META, path.buf, label.buf, 0);
		}
	}
	if (!rc)
		rc = plan_blobs_of(scan, e, gone, p);
	strbuf_free(&path);
	strbuf_free(&label);
	return rc;
}

static const struct cache_entry *find_entry(const struct cache_scan *scan, const struct hub_repo *repo)
{
	for (size_t i = 0; i < scan->count; i++)
		if (scan->repos[i].type == repo->type && !strcmp(scan->repos[i].id, repo->id))
			return &scan->repos[i];
	return NULL;
}

/* The whole repo folder and its lock files, unless a running pull holds one of its blobs. */
static int plan_repo(const struct cache_scan *scan, const struct cache_entry *e, struct cache_plan *p)
{
	struct strbuf path = STRBUF_INIT, label = STRBUF_INIT;
	unsigned long long bytes = 0;
	if (any_lock_held(scan->root, e->folder_name))
		return plan_skip(p, e->id);
	for (size_t i = 0; i < e->blob_count; i++)
		bytes += e->blobs[i].size;
	int rc = plan_add(p, ACTION_REPO, e->folder, e->id, bytes);
	if (!rc && !(rc = strbuf_addf(&path, "%s/.locks/%s", scan->root, e->folder_name)) &&
	    !(rc = strbuf_addf(&label, "%s lock files", e->id)))
		rc = plan_add(p, ACTION_META, path.buf, label.buf, 0);
	strbuf_free(&path);
	strbuf_free(&label);
	return rc;
}

/* Revisions marked in gone, or the whole repo when none would be left (an empty repo
 * folder would still be listed as a repo by every scanner). */
static int plan_gone(const struct cache_scan *scan, const struct cache_entry *e, unsigned char *gone,
		     struct cache_plan *p)
{
	size_t n = 0;
	int rc = spare_pulled_revisions(scan, e, gone, p);
	if (rc)
		return rc;
	for (size_t i = 0; i < e->revision_count; i++)
		n += gone[i] != 0;
	if (n == 0)
		return 0;
	if (n == e->revision_count)
		return plan_repo(scan, e, p);
	return plan_revisions(scan, e, gone, p);
}

int cache_plan_rm(const struct cache_scan *scan, const struct hub_repo *repos, size_t count,
		  struct cache_plan *p)
{
	int rc = 0;
	/* Each repo is planned once with every revision named for it, so that blobs shared
	 * only by revisions that all go are removed too. */
	unsigned char *done = calloc(count + 1, 1);
	if (!done)
		return modl_error_oom();
	for (size_t i = 0; !rc && i < count; i++) {
		if (done[i])
			continue;
		const struct cache_entry *e = find_entry(scan, &repos[i]);
		if (!e) {
			rc = modl_error_set(MODL_ENOTFOUND, "%s %s is not in the cache",
					    hub_repo_type_name(repos[i].type), repos[i].id);
			break;
		}
		unsigned char *gone = calloc(e->revision_count + 1, 1);
		if (!gone) {
			rc = modl_error_oom();
			break;
		}
		for (size_t k = i; !rc && k < count; k++) {
			if (done[k] || find_entry(scan, &repos[k]) != e)
				continue;
			done[k] = 1;
			if (!repos[k].revision[0]) {
				memset(gone, 1, e->revision_count);
				continue;
			}
			const struct cache_revision *r = cache_entry_revision(e, repos[k].revision);
			if (!r)
				rc = modl_error_set(MODL_ENOTFOUND, "revision %s of %s is not in the cache",
						    repos[k].revision, repos[k].id);
			else
				gone[r - e->revisions] = 1;
		}
		if (!rc)
			rc = e->revision_count == 0 ? plan_repo(scan, e, p) : plan_gone(scan, e, gone, p);
		free(gone);
	}
	free(done);
	return rc;
}

int cache_plan_prune(const struct cache_scan *scan, struct cache_plan *p)
{
	struct strbuf path = STRBUF_INIT, label = STRBUF_INIT;
	int rc = 0;
	for (size_t i = 0; !rc && i < scan->count; i++) {
		const struct cache_entry *e = &scan->repos[i];
		unsigned char *gone = calloc(e->revision_count + 1, 1);
		if (!gone)
			return modl_error_oom();
		for (size_t k = 0; k < e->revision_count; k++)
			gone[k] = e->revisions[k].ref_count == 0;
		/* A repo with no revision left (or none at all: a pull that died before its
		 * first file) goes whole, unless a running pull holds one of its locks. */
		rc = e->revision_count ? plan_gone(scan, e, gone, p) : plan_repo(scan, e, p);
		size_t detached = 0; /* counted after plan_gone spared the revisions being pulled */
		for (size_t k = 0; k < e->revision_count; k++)
			detached += gone[k];
		free(gone);
		if (detached == e->revision_count)
			continue;
		/* Blobs no snapshot links, and partials no running pull holds. */
		for (size_t b = 0; !rc && b < e->blob_count; b++) {
			const struct cache_blob *blob = &e->blobs[b];
			/* links counts detached revisions too: their blobs were planned above */
			if (blob->links)
				continue;
			strbuf_reset(&label);
			strbuf_addf(&label, "%s %s %.12s", e->id,
				    blob->incomplete ? "partial" : "orphan blob", blob->name);
			if (blob_locked(scan, e, blob->name))
				rc = plan_skip(p, label.buf);
			else
				rc = plan_add_blob(p, scan, e, blob, label.buf);
		}
	}
	/* Staging folders of imports that died: a live import holds its folder's flock. */
	DIR *d = rc ? NULL : opendir(scan->root);
	struct dirent *de;
	while (d && !rc && (de = readdir(d))) {
		struct stat st;
		if (strncmp(de->d_name, ".modl-import-", 13))
			continue;
		strbuf_reset(&path);
		strbuf_addf(&path, "%s/%s", scan->root, de->d_name);
		if (lstat(path.buf, &st) == 0 && S_ISDIR(st.st_mode) && !staging_in_use(path.buf) &&
		    !(rc = plan_add(p, ACTION_META, path.buf, "stale import staging", 0)) &&
		    !(p->actions[p->count - 1].lock = strdup(path.buf)))
			rc = modl_error_oom();
	}
	if (d)
		closedir(d);
	strbuf_free(&path);
	strbuf_free(&label);
	return rc;
}

/* Takes a's lock without waiting; *fd is -1 when there is no lock file (nobody holds it).
 * Returns 0 when taken, 1 when someone holds it: a's space is then not freed. */
static int take_lock(struct cache_plan *p, struct cache_action *a, int *fd)
{
	*fd = open(a->lock, O_RDWR | O_CLOEXEC);
	if (*fd < 0 || flock(*fd, LOCK_EX | LOCK_NB) == 0)
		return 0;
	close(*fd);
	*fd = -1;
	p->bytes -= a->bytes;
	a->bytes = 0;
	return 1;
}

/* Removes a partial, or a snapshot folder, while holding its lock; one a pull now holds
 * is left alone. */
static int remove_locked(struct cache_plan *p, struct cache_action *a)
{
	int fd;
	if (take_lock(p, a, &fd))
		return plan_skip(p, a->label);
	int rc = a->kind == ACTION_REVISION ? fs_remove_tree(a->path) : fs_remove(a->path);
	if (fd >= 0)
		close(fd); /* closing releases the flock */
	return rc;
}

struct names {
	char **v;
	size_t n;
};

static int names_add(void *ctx, struct fs_entry *ent)
{
	struct names *l = ctx;
	if (S_ISDIR(ent->type)) {
		int rc = fs_for_each_entry(ent->path, names_add, l);
		return rc == MODL_ENOTFOUND ? 0 : rc;
	}
	char target[4096];
	ssize_t n = S_ISLNK(ent->type) ? readlinkat(ent->dir_fd, ent->name, target, sizeof(target) - 1) : -1;
	if (n < 0)
		return 0;
	target[n] = '\0';
	const char *base = strrchr(target, '/');
	char **grown = realloc(l->v, (l->n + 1) * sizeof(*grown));
	if (!grown)
		return modl_error_oom();
	l->v = grown;
	if (!(l->v[l->n] = strdup(base ? base + 1 : target)))
		return modl_error_oom();
	l->n++;
	return 0;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Up to this many blob locks are held at once while the snapshots are walked. */
#define REMOVE_BATCH 256

/* Removes the blobs of one repo folder (actions[first..last), all ACTION_BLOB), each
 * under its lock. The scan that planned them is older than the locks: a pull may have
 * linked one of them since (it links only while holding the blob's lock, which it has
 * released by now), so the snapshots are read again once the locks are held. */
static int remove_blob_batch(struct cache_plan *p, size_t *idx, size_t n, const char *folder)
{
	int fds[REMOVE_BATCH];
	struct names linked = { 0 };
	struct strbuf snaps = STRBUF_INIT;
	int rc = 0;
	for (size_t i = 0; i < n; i++)
		if (take_lock(p, &p->actions[idx[i]], &fds[i]))
			fds[i] = -2;
	if (!(rc = strbuf_addf(&snaps, "%s/snapshots", folder))) {
		rc = fs_for_each_entry(snaps.buf, names_add, &linked);
		if (rc == MODL_ENOTFOUND)
			rc = 0;
	}
	qsort(linked.v, linked.n, sizeof(*linked.v), name_cmp);
	for (size_t i = 0; i < n; i++) {
		struct cache_action *a = &p->actions[idx[i]];
		const char *base = strrchr(a->path, '/') + 1;
		if (!rc && fds[i] == -2)
			rc = plan_skip(p, a->label);
		else if (!rc && linked.n && bsearch(&base, linked.v, linked.n, sizeof(*linked.v), name_cmp)) {
			p->bytes -= a->bytes;
			a->bytes = 0; /* linked since the scan: in use again */
		} else if (!rc) {
			rc = fs_remove(a->path);
		}
		if (fds[i] >= 0)
			close(fds[i]);
	}
	for (size_t i = 0; i < linked.n; i++)
		free(linked.v[i]);
	free(linked.v);
	strbuf_free(&snaps);
	return rc;
}

/* The repo folder that holds blob path (<folder>/blobs/<name>). */
static size_t blob_folder_len(const char *path)
{
	size_t len = strlen(path);
	while (len && path[len - 1] != '/')
		len--;
	return len >= 7 ? len - 7 : 0; /* minus "/blobs/" */
}

static int remove_blobs(struct cache_plan *p)
{
	size_t idx[REMOVE_BATCH], n = 0;
	int rc = 0;
	for (size_t i = 0; !rc && i <= p->count; i++) {
		struct cache_action *a = i < p->count ? &p->actions[i] : NULL;
		if (a && a->kind != ACTION_BLOB)
			continue;
		const char *prev = n ? p->actions[idx[0]].path : NULL;
		int same = a && prev && blob_folder_len(prev) == blob_folder_len(a->path) &&
			   !strncmp(prev, a->path, blob_folder_len(a->path));
		if (n && (!same || n == REMOVE_BATCH)) {
			char *folder = strndup(prev, blob_folder_len(prev));
			rc = folder ? remove_blob_batch(p, idx, n, folder) : modl_error_oom();
			free(folder);
			n = 0;
		}
		if (a)
			idx[n++] = i;
	}
	return rc;
}

/* A whole repo: not while anyone holds one of its locks (a pull started since the plan);
 * its refs go first, so that a kill -9 half-way never leaves a ref to an emptied
 * snapshot (an offline pull would take it). */
static int remove_repo(struct cache_plan *p, struct cache_action *a)
{
	struct strbuf refs = STRBUF_INIT;
	const char *name = strrchr(a->path, '/');
	const char *root_end = name;
	char *root = name ? strndup(a->path, (size_t)(root_end - a->path)) : NULL;
	int rc = 0;
	if (root && any_lock_held(root, name + 1)) {
		p->bytes -= a->bytes;
		a->bytes = 0;
		rc = plan_skip(p, a->label);
		/* and its lock files, which the pull holds */
		for (size_t i = 0; !rc && i < p->count; i++) {
			const char *q = p->actions[i].path;
			size_t rl = strlen(root);
			if (p->actions[i].kind == ACTION_META && !strncmp(q, root, rl) &&
			    !strncmp(q + rl, "/.locks", 7) && !strcmp(q + rl + 7, name))
				p->actions[i].kept = 1;
		}
	} else if (!(rc = strbuf_addf(&refs, "%s/refs", a->path)) && !(rc = fs_remove_tree(refs.buf))) {
		test_stop_point(p);
		rc = fs_remove_tree(a->path);
	}
	free(root);
	strbuf_free(&refs);
	return rc;
}

int cache_plan_run(struct cache_plan *p)
{
	/* Refs first (nothing points at a revision being removed), then snapshots (no link
	 * points at a blob being removed), then blobs, whole repos (while their lock files
	 * are there to tell whether a pull runs) and metadata. */
	static const enum cache_action_kind order[] = { ACTION_REF,     ACTION_REVISION, ACTION_BLOB,
							ACTION_PARTIAL, ACTION_REPO,     ACTION_META };
	for (size_t o = 0; o < sizeof(order) / sizeof(order[0]); o++) {
		if (order[o] == ACTION_BLOB) {
			int rc = remove_blobs(p);
			if (rc)
				return rc;
			continue;
		}
		for (size_t i = 0; i < p->count; i++) {
			struct cache_action *a = &p->actions[i];
			if (a->kind != order[o] || a->kept)
				continue;
			int rc = a->kind == ACTION_REPO              ? remove_repo(p, a)
				 : a->lock && a->kind == ACTION_META ? remove_staging(a)
				 : a->lock                           ? remove_locked(p, a)
				 : a->kind == ACTION_REF             ? fs_remove(a->path)
								     : fs_remove_tree(a->path);
			if (rc)
				return rc;
			test_stop_point(p);
		}
	}
	return 0;
}

void cache_plan_free(struct cache_plan *p)
{
	for (size_t i = 0; i < p->count; i++) {
		free(p->actions[i].path);
		free(p->actions[i].label);
		free(p->actions[i].lock);
	}
	free(p->actions);
	for (size_t i = 0; i < p->skipped_count; i++)
		free(p->skipped[i]);
	free(p->skipped);
	memset(p, 0, sizeof(*p));
}
