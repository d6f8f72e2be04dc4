/* libFuzzer target: the model card's front matter (libyaml, src/license/card.c) must
 * refuse any malformed input with a message and never crash; what it accepts must be
 * well-formed strings. The same bytes go through the policy parser, and (when short)
 * through the license text normaliser and identification. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "license/card.h"
#include "license/detect.h"
#include "license/policy.h"

static void check(int ok)
{
	if (!ok)
		abort();
}

static void check_strings(char *const *items, size_t count)
{
	for (size_t i = 0; i < count; i++)
		check(items[i] != NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	struct license_card card;
	int rc = license_card_parse(text, size, "README.md", &card);
	if (rc == 0) {
		check_strings(card.licenses, card.license_count);
		check_strings(card.base_models, card.base_model_count);
		check_strings(card.gated_fields, card.gated_field_count);
		free(license_card_declared(&card));
		license_card_free(&card);
	} else {
		/* Every refusal says which file and what is wrong. */
		check(rc == MODL_EINVALID || rc == MODL_EFAIL);
		check(!strncmp(modl_error_message(), "README.md: ", 11) || rc == MODL_EFAIL);
	}
	struct license_policy policy;
	if (license_policy_parse(text, size, "policy.json", &policy) == 0)
		license_policy_free(&policy);
	if (size <= 4096) {
		struct license_detection d;
		if (license_detect(text, size, &d) == 0) {
			for (size_t m = 0; m < d.count; m++) {
				check(d.matches[m].confidence >= LICENSE_MIN_CONFIDENCE &&
				      d.matches[m].confidence <= 1.0);
				for (size_t r = 0; r < d.matches[m].region_count && r < LICENSE_MAX_REGIONS;
				     r++)
					check(d.matches[m].regions[r].known &&
					      d.matches[m].regions[r].shipped);
			}
			license_detection_free(&d);
		}
	}
	return 0;
}
