/* The license knowledge base: terms.json (embedded, see embedded.h) read once into one
 * struct license_info per known license, acceptable-use policy or license family, with
 * the text it is identified by and the terms that matter before deployment. */
#ifndef MODL_LICENSE_TERMS_H
#define MODL_LICENSE_TERMS_H

#include <stddef.h>

#include <cjson/cJSON.h>

enum license_kind {
	LICENSE_KIND_LICENSE, /* a license agreement */
	LICENSE_KIND_POLICY,  /* an acceptable-use or prohibited-use policy of a license */
	LICENSE_KIND_FAMILY,  /* a Hub tag naming several licenses ("openrail"); no text */
};

/* Ordered from the most to the least restrictive: aggregation takes the minimum. */
enum license_commercial {
	LICENSE_COMMERCIAL_FORBIDDEN,
	LICENSE_COMMERCIAL_UNKNOWN,
	LICENSE_COMMERCIAL_CONDITIONAL,
	LICENSE_COMMERCIAL_ALLOWED,
};

struct license_info {
	const char *id; /* "llama3.1", "gemma-2024-04-01", "llama3.1-aup" */
	const char *name;
	enum license_kind kind;
	const char *hub_id;  /* the Hub's license id (first of hub_ids), NULL for a policy */
	const char *url;     /* the full text */
	const char *version; /* a date, or NULL */
	const char *text;    /* the known text (NULL for a family) */
	size_t text_len;
	const char *optional_from;   /* the text from this phrase on may be left out */
	const char *optional_before; /* the text before this phrase may be left out */
	int derivatives_inherit;     /* derivatives stay under these terms */
	const cJSON *hub_ids, *aliases, *applies_to, *members, *policies; /* string arrays or NULL */
	/* terms */
	enum license_commercial commercial;
	const char *commercial_note;
	double user_threshold; /* 0: none */
	const char *notice;    /* the text a "Notice" file must hold, or NULL */
	const cJSON *attribution, *redistribution, *use_restrictions; /* string arrays */
	const char *acceptable_use_policy;
	int non_commercial, research_only;
	size_t index; /* position in the knowledge base */
};

/* The knowledge base, read on first use (thread-safe); MODL_EFAIL when the embedded
 * terms.json is broken (the unit tests make sure it is not). */
int license_kb(const struct license_info **out, size_t *count);

/* The entry whose id, Hub id or alias is name (case-insensitive, surrounding blanks
 * ignored), or NULL. A Hub id shared by several versions ("gemma") names the entry whose
 * id it is. */
const struct license_info *license_kb_find(const char *name);

/* The entry a card declares: license_name when license is "other" (or absent), else
 * license. NULL when unknown. */
const struct license_info *license_kb_declared(const char *license, const char *license_name);

/* True when a license text identified as detected agrees with a declared entry: the same
 * entry, the same Hub id (versions of the Gemma terms), or a member of a declared family. */
int license_kb_agrees(const struct license_info *declared, const struct license_info *detected);

/* True when the policy text belongs to the license (its applies_to, by id or Hub id). */
int license_kb_policy_of(const struct license_info *policy, const struct license_info *license);

const char *license_commercial_name(enum license_commercial c);
const char *license_kind_name(enum license_kind k);

#endif
