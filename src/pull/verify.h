/* `modl verify`: re-hash a cached snapshot against the Hub's listing or, offline, against
 * the listing recorded in the cache (trees/<commit>.json) or the blob names themselves. */
#ifndef MODL_VERIFY_H
#define MODL_VERIFY_H

#include "hub/hub.h"
#include "util/settings.h"
#include "util/hash.h"

enum verify_status { VERIFY_OK, VERIFY_MISSING, VERIFY_BAD };

struct verify_entry {
	char *path;
	char expected[HASH_HEX_BUF];
	char actual[HASH_HEX_BUF];
	unsigned long long size, actual_size;
	enum verify_status status;
	char *error; /* why it could not be read, for VERIFY_BAD without a hash; or NULL */
};

struct verify_report {
	char commit[HASH_COMMIT_BUF];
	char *snapshot;
	const char *source; /* "hub", "recorded listing", "blob names" */
	struct verify_entry *entries;
	size_t count, ok, missing, bad;
};

/* Fills report; returns 0 when every present file matched, MODL_EINTEGRITY naming the bad
 * ones otherwise, or another code when the snapshot could not be checked at all. */
int verify_snapshot(const struct modl_settings *settings, int verbose, const struct hub_repo *repo,
		    struct verify_report *report);
void verify_report_free(struct verify_report *report);

#endif
