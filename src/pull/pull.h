/* `modl pull`: resolve the revision to a commit once, list the tree at that commit, take
 * the requested files, download what is missing (download.c), then link the snapshot and
 * write the ref, or fill a --local-dir. Offline, answer from the cache alone. */
#ifndef MODL_PULL_H
#define MODL_PULL_H

#include "hub/hub.h"
#include "util/progress.h"
#include "util/settings.h"
#include "util/hash.h"

struct pull_options {
	struct hub_repo repo;
	const char *const *files; /* FILE arguments (exact paths), or none */
	size_t file_count;
	const char *const *include;
	size_t include_count;
	const char *const *exclude;
	size_t exclude_count;
	const char *local_dir; /* NULL: the cache */
	unsigned jobs, connections;
	int dry_run, force;
	const char *policy; /* a license policy checked before any weight is fetched */
	struct progress *progress;
};

struct pull_file {
	char *path;
	unsigned long long size;
	int lfs;
	char hash[HASH_HEX_BUF];
	int present; /* already there before this pull */
	int fetched; /* downloaded and verified by this pull */
	int failed;
};

struct pull_result {
	char commit[HASH_COMMIT_BUF];
	char *path;          /* snapshot directory, or the local dir */
	const char *license; /* NULL when unknown (points into info) */
	const char *gated;   /* "false", "auto", "manual" */
	struct pull_file *files;
	size_t count;
	unsigned long long bytes, fetched_bytes;
	double seconds;
	int offline;
	void *info; /* the repo info JSON the strings point into */
};

int pull_run(const struct modl_settings *settings, int verbose, const struct pull_options *options,
	     struct pull_result *result);
void pull_result_free(struct pull_result *result);

#endif
