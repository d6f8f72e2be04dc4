/* Bundles for machines without internet: `cache export` writes a repo folder (refs,
 * snapshot links, blobs) and a manifest as tar, tar.gz or tar.zst (libarchive);
 * `cache import` checks every entry against the manifest before anything is visible,
 * verifies every blob's hash, then moves the result into the cache. */
#ifndef MODL_ARCHIVE_H
#define MODL_ARCHIVE_H

#include "hub/hub.h"

#define ARCHIVE_MANIFEST_NAME "modl-manifest.json"

struct archive_summary {
	char repo[128];
	enum hub_repo_type type;
	size_t revisions, files, blobs;
	unsigned long long bytes;
	size_t blobs_added; /* import: blobs that were not in the cache yet */
};

/* repo->revision empty: every revision. output "-" is standard output; otherwise the
 * format follows the name (.tar, .tar.gz/.tgz, .tar.zst) and the file appears only
 * when complete. */
int archive_export(const char *hub_cache, const struct hub_repo *repo, const char *output,
		   struct archive_summary *summary);
/* input "-" is standard input. A broken or hostile bundle is MODL_EINVALID (or
 * MODL_EINTEGRITY for a hash) and leaves the cache as it was. */
int archive_import(const char *hub_cache, const char *input, struct archive_summary *summary);

#endif
