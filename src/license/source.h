/* Where the card and the license files of a report come from: a directory (a checkout,
 * a --local-dir, a cache snapshot) or the Hub (only those files, at one commit). The
 * internal interface between audit.c and source.c. */
#ifndef MODL_LICENSE_SOURCE_H
#define MODL_LICENSE_SOURCE_H

#include "license.h"

/* Reads dir/README.md (the card) and every license-like file below dir into r. A card
 * that does not parse fails (MODL_EINVALID, "dir/README.md: ..."). */
int license_collect_dir(struct license_report *r, const char *dir);

/* Reads README.md and the license-like files that tree lists, at commit, from the Hub.
 * card_data (the repo info's cardData, or NULL) stands in for a card that cannot be read
 * (a gated repository). */
int license_collect_hub(struct license_report *r, struct hub *hub, const struct hub_repo *repo,
			const char *commit, const struct hub_tree *tree, const cJSON *card_data);

/* The card of a base model: from the cache (cache_root, may be NULL) first when
 * prefer_cache, else from the Hub (hub, may be NULL). *text is NULL, with *note saying
 * why, when it could not be read; errors other than "not there" and "access denied" are
 * returned. *via is "cache" or "hub". */
int license_fetch_card(struct hub *hub, const char *cache_root, const char *repo_id, int prefer_cache,
		       char **text, size_t *len, const char **via, char **note);

/* Room for one more entry in r->files; MODL_EINVALID past LICENSE_FILES_MAX. */
int license_files_reserve(struct license_report *r);

/* Adds a string to a list (copied). */
int license_strings_add(struct license_strings *list, const char *s);
int license_strings_addf(struct license_strings *list, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
int license_strings_has(const struct license_strings *list, const char *s);
void license_strings_free(struct license_strings *list);

#endif
