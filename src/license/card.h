/* The license fields of a model card: the YAML front matter of README.md (libyaml), or
 * the same fields from the Hub's "cardData" (repo info) when the card cannot be read. */
#ifndef MODL_LICENSE_CARD_H
#define MODL_LICENSE_CARD_H

#include <stddef.h>

#include <cjson/cJSON.h>

struct license_card {
	int has_front_matter;
	char **licenses; /* "license": one id, or a list */
	size_t license_count;
	char *license_name; /* with license: other */
	char *license_link;
	char **base_models; /* "base_model": one repo id, or a list */
	size_t base_model_count;
	char *base_model_relation; /* finetune, adapter, merge, quantized */
	/* Gating (Hub "extra_gated_*" fields). */
	char *gated_prompt;
	char *gated_heading;
	char *gated_description;
	char *gated_button;
	char **gated_fields; /* the names of the fields a user must fill in */
	size_t gated_field_count;
	char *note; /* why the front matter was not read (not closed), or NULL */
};

/* Parses the front matter of a model card (text of len bytes; any bytes). A card without
 * front matter is valid and empty. Bad YAML, a front matter that is not a mapping, or one
 * of the fields above of the wrong type fails with MODL_EINVALID and the message
 * "source: front matter: what is wrong (line L, column C)". */
int license_card_parse(const char *text, size_t len, const char *source, struct license_card *out);

/* The same for the first len bytes of a larger card (truncated): a front matter that is
 * not closed within them fails (MODL_EINVALID, "source: front matter: not closed within
 * the first ... bytes"), since the license it holds cannot be read. */
int license_card_parse_prefix(const char *text, size_t len, int truncated, const char *source,
			      struct license_card *out);

/* The same fields from a cardData JSON object (MODL_EINVALID on wrong types). */
int license_card_from_json(const cJSON *card_data, const char *source, struct license_card *out);

void license_card_free(struct license_card *card);

/* The license the card declares, as one string: license_name when license is "other"
 * (or absent), the license otherwise (several joined with ", "); NULL when none. Owned by
 * the caller. */
char *license_card_declared(const struct license_card *card);

#endif
