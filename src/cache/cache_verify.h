/* `cache verify`: every blob re-hashed against its own name (sha256 for 64-hex names,
 * git blob sha1 for 40-hex names), in parallel across blobs. */
#ifndef MODL_CACHE_VERIFY_H
#define MODL_CACHE_VERIFY_H

#include "cache_scan.h"
#include "util/hash.h"

struct cache_bad_blob {
	const struct cache_entry *repo;
	const struct cache_blob *blob;
	char actual[HASH_HEX_BUF]; /* "" when the blob could not be read */
	char *error;               /* why it could not be read, or NULL */
};

struct cache_missing_blob {
	const struct cache_entry *repo;
	const char *commit;
	const char *path; /* the snapshot file whose blob is gone */
};

struct cache_verify_report {
	size_t checked;
	unsigned long long bytes;
	struct cache_bad_blob *bad;
	size_t bad_count;
	struct cache_missing_blob *missing;
	size_t missing_count;
};

/* Re-hashes the blobs of scan (only those of revision `revision` when it is not NULL or
 * empty: a commit or a ref). Returns 0 when every blob matched and none is missing,
 * MODL_EINTEGRITY otherwise (report->bad, report->missing), MODL_ENOTFOUND when the
 * revision is not cached. */
int cache_verify_blobs(const struct cache_scan *scan, const char *revision, unsigned threads,
		       struct cache_verify_report *report);
void cache_verify_report_free(struct cache_verify_report *report);

#endif
