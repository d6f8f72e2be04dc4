/* Reading a whole Hugging Face cache: repositories, their revisions, refs and blobs, the
 * space they take (a blob counted once however many snapshots link it), and what is
 * broken (refs to missing snapshots, dangling links, stray files) as warnings. Caches
 * written by huggingface_hub, @huggingface/hub and modl look the same here. */
#ifndef MODL_CACHE_SCAN_H
#define MODL_CACHE_SCAN_H

#include <stddef.h>
#include <time.h>

#include "hub/hub.h"
#include "util/hash.h"

struct cache_blob {
	char name[96]; /* sha256 or git sha1 (the etag); partials keep their file name */
	unsigned long long size;
	time_t mtime, atime;
	unsigned links; /* snapshot files that point at it */
	int incomplete; /* a partial download (*.incomplete or its .chunks map) */
};

struct cache_file {
	char *path; /* inside the snapshot */
	long blob;  /* index in the repo's blobs, -1 for a plain file */
	unsigned long long size;
};

struct cache_revision {
	char commit[HASH_COMMIT_BUF];
	char **refs; /* the ref names that point at it */
	size_t ref_count;
	struct cache_file *files;
	size_t file_count;
	unsigned long long size; /* distinct blobs of this revision */
	time_t last_modified;
	char **dangling; /* snapshot paths whose link leads nowhere */
	size_t dangling_count;
};

struct cache_entry {
	enum hub_repo_type type;
	char id[128];
	char *folder;      /* absolute path of models--org--name */
	char *folder_name; /* models--org--name */
	struct cache_revision *revisions;
	size_t revision_count;
	struct cache_blob *blobs; /* sorted by name */
	size_t blob_count;
	char **refs; /* every ref name */
	size_t ref_count;
	unsigned long long size_on_disk; /* blobs linked by a snapshot, once each */
	unsigned long long orphan_size;  /* blobs no snapshot links */
	size_t file_count;               /* distinct blobs linked */
	time_t last_modified, last_accessed;
};

struct cache_scan {
	char *root;
	struct cache_entry *repos;
	size_t count;
	char **warnings;
	size_t warning_count;
};

/* Scans every repository folder of the cache; a missing cache is an empty scan. */
int cache_scan(const char *hub_cache, struct cache_scan *out);
/* Scans one repository folder (name like models--org--name) into a scan of one entry. */
int cache_scan_one(const char *hub_cache, const struct hub_repo *repo, struct cache_scan *out);
void cache_scan_free(struct cache_scan *scan);

/* The revision matching rev (a commit, or a ref name), or NULL. */
struct cache_revision *cache_entry_revision(const struct cache_entry *e, const char *rev);
/* The blob named name, or NULL. */
struct cache_blob *cache_entry_blob(const struct cache_entry *e, const char *name);

/* Parses a folder name ("models--org--name") into a repo; -1 when it is not one. */
int cache_parse_folder(const char *name, struct hub_repo *out);

#endif
