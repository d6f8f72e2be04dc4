/* What `modl info` reports about a repository, derived from the Hub's repo-info JSON
 * (doc/hub-protocol.md §1.2) so that the text and JSON outputs tell the same facts. */
#ifndef MODL_REPO_INFO_H
#define MODL_REPO_INFO_H

#include <cjson/cJSON.h>

#include "util/hash.h"

struct repo_summary {
	const char *id;
	char sha[HASH_COMMIT_BUF];
	const char *last_modified; /* NULL when absent */
	const char *gated;         /* "false", "auto" or "manual" */
	int is_private;
	const char *license_card; /* cardData.license */
	const char *license_name; /* cardData.license_name (for "other") */
	const char *license_link; /* cardData.license_link */
	const char *license_tag;  /* the "license:X" tag */
	const char *pipeline_tag;
	const char *library_name;
	unsigned long long files;
	unsigned long long total_size; /* sum of sibling sizes (needs ?blobs=true) */
	int sizes_known;
	int has_safetensors, has_gguf, has_pytorch;
};

/* Fills out with pointers into info (which must outlive it). MODL_EINVALID when the
 * answer lacks a valid commit sha or has malformed siblings. */
int repo_summary_from_info(const cJSON *info, struct repo_summary *out);

#endif
