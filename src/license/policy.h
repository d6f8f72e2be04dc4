/* License policies (doc/cli.md "license"): a JSON file that says which licenses a team
 * accepts.
 *
 *   {"allow": ["apache-2.0", "mit", "llama3*"],   every license found must match one
 *    "deny": ["cc-by-nc-*"],                       no license found may match one
 *    "require_commercial_use": true,               commercial use allowed or conditional
 *    "max_unknown": 0,                             unidentified texts and licenses at most
 *    "require_license_file": false}                a license text must ship with the model
 *
 * Every key is optional; patterns are fnmatch(3) globs, compared without regard to case
 * with a license's id and Hub id, and a pattern that names a known license by an alias
 * ("mrl") matches that license. Unknown keys and wrong types are errors, so that a typo
 * cannot weaken a policy silently. */
#ifndef MODL_LICENSE_POLICY_H
#define MODL_LICENSE_POLICY_H

#include <stddef.h>

#include "terms.h"

struct license_policy {
	char *source; /* the file name, for messages */
	char **allow;
	size_t allow_count;
	int has_allow;
	char **deny;
	size_t deny_count;
	int require_commercial_use;
	long max_unknown; /* -1: not checked */
	int require_license_file;
};

/* Reads and checks a policy file; MODL_EINVALID "FILE: what is wrong" when malformed. */
int license_policy_load(const char *path, struct license_policy *out);
int license_policy_parse(const char *text, size_t len, const char *source, struct license_policy *out);
void license_policy_free(struct license_policy *p);

/* True when a license (known, or only a name when info is NULL) matches one of the
 * patterns. */
int license_policy_matches(char *const *patterns, size_t count, const struct license_info *info,
			   const char *name);

#endif
