/* The Hugging Face cache layout (doc/hub-protocol.md §2): where blobs, snapshots, refs,
 * locks, tree listings and "known absent" markers live, and the writes that keep it
 * readable by huggingface_hub, transformers and @huggingface/hub at every moment. */
#ifndef MODL_CACHE_H
#define MODL_CACHE_H

#include "hub/hub.h"
#include "util/strbuf.h"
#include "util/hash.h"

struct cache_repo {
	char *root;   /* the hub cache directory */
	char *folder; /* root/models--org--name */
	char *locks;  /* root/.locks/models--org--name */
};

/* Computes the paths of repo's folder; creates nothing. */
int cache_repo_init(struct cache_repo *c, const char *hub_cache, const struct hub_repo *repo);
void cache_repo_free(struct cache_repo *c);
/* Creates the repo folder, blobs/, snapshots/, refs/ and the lock folder, and the cache's
 * CACHEDIR.TAG (so that backup tools skip the cache). */
int cache_repo_prepare(const struct cache_repo *c);

int cache_blob_path(const struct cache_repo *c, const char *etag, struct strbuf *out);
/* True when blobs/<etag> is a regular file of the given size. */
int cache_blob_present(const struct cache_repo *c, const char *etag, unsigned long long size);
int cache_snapshot_dir(const struct cache_repo *c, const char *commit, struct strbuf *out);

/* .locks/<folder>/<etag>.lock: the flock (fs_lock) a writer of that blob holds;
 * huggingface_hub takes the same one. */
int cache_lock_path(const struct cache_repo *c, const char *etag, struct strbuf *out);

/* .locks/<folder>/snapshot-<commit>.lock: a pull holds it shared from before it looks for
 * the blobs of commit until its snapshot is complete and checked; `cache rm` and `prune`
 * leave a snapshot alone (and a repo) while anyone holds it. */
int cache_snapshot_lock_path(const struct cache_repo *c, const char *commit, struct strbuf *out);

/* snapshots/<commit>/<path> → a relative symlink to ../../blobs/<etag> (one more ../ per
 * directory level of path), replaced atomically; nothing is written when the link is
 * already right (a read-only cache). */
int cache_link_snapshot(const struct cache_repo *c, const char *commit, const char *path, const char *etag);
/* refs/<ref> = commit, no trailing newline, written atomically (unless already so). */
int cache_write_ref(const struct cache_repo *c, const char *ref, const char *commit);
/* Reads refs/<ref>; MODL_ENOTFOUND when absent, MODL_EINVALID when not a commit id. */
int cache_read_ref(const struct cache_repo *c, const char *ref, char commit[HASH_COMMIT_BUF]);
/* .no_exist/<commit>/<path>: an empty file meaning "known absent at this commit". */
int cache_mark_no_exist(const struct cache_repo *c, const char *commit, const char *path);

/* trees/<commit>.json in huggingface_hub's format (format_version 1), so that an offline
 * pull knows which files a complete snapshot has. */
int cache_write_tree(const struct cache_repo *c, const char *commit, const struct hub_tree *tree);
/* MODL_ENOTFOUND when there is none. */
int cache_read_tree(const struct cache_repo *c, const char *commit, struct hub_tree *tree);

/* "models--org--name" for a repo. */
int cache_folder_name(const struct hub_repo *repo, struct strbuf *out);

#endif
