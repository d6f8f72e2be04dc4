/* License policies (src/license/policy.c): the keys of doc/cli.md, strict types, and matching
 * of license ids, Hub ids, aliases and globs. */
#include "unit.h"

#include <string.h>

#include "util/error.h"
#include "license/policy.h"

static int parse(const char *text, struct license_policy *p)
{
	return license_policy_parse(text, strlen(text), "policy.json", p);
}

static void test_keys(void **state)
{
	(void)state;
	struct license_policy p;
	assert_int_equal(parse("{\"allow\": [\"Apache-2.0\", \"llama3*\"], \"deny\": [\"cc-by-nc-*\"],"
			       " \"require_commercial_use\": true, \"max_unknown\": 0,"
			       " \"require_license_file\": false}",
			       &p),
			 0);
	assert_true(p.has_allow);
	assert_int_equal(p.allow_count, 2);
	assert_string_equal(p.allow[0], "apache-2.0"); /* compared without case */
	assert_int_equal(p.deny_count, 1);
	assert_true(p.require_commercial_use);
	assert_int_equal(p.max_unknown, 0);
	assert_false(p.require_license_file);
	license_policy_free(&p);
	assert_int_equal(parse("{}", &p), 0);
	assert_false(p.has_allow);
	assert_int_equal(p.max_unknown, -1); /* not checked */
	license_policy_free(&p);
}

static void expect_bad(const char *text, const char *fragment)
{
	struct license_policy p;
	if (parse(text, &p) != MODL_EINVALID)
		fail_msg("%s: accepted", text);
	if (strncmp(modl_error_message(), "policy.json: ", 13) || !strstr(modl_error_message(), fragment))
		fail_msg("%s: '%s' lacks '%s'", text, modl_error_message(), fragment);
}

static void test_malformed(void **state)
{
	(void)state;
	expect_bad("", "not valid JSON");
	expect_bad("{\"deny\": [\"mit\"]\n,,}", "near line 2");
	expect_bad("[]", "a policy is a JSON object");
	expect_bad("{\"allow\": \"mit\"}", "\"allow\" must be a list");
	expect_bad("{\"allow\": [\"\"]}", "non-empty strings");
	expect_bad("{\"deny\": [null]}", "\"deny\" must be a list");
	expect_bad("{\"require_commercial_use\": 1}", "must be true or false");
	expect_bad("{\"max_unknown\": -2}", "whole number");
	expect_bad("{\"max_unknown\": 1.5}", "whole number");
	expect_bad("{\"max_unknown\": \"0\"}", "whole number");
	expect_bad("{\"denny\": []}", "unknown key \"denny\"");
}

static void test_matching(void **state)
{
	(void)state;
	char *allow[] = { "llama3*", "mrl", "gemma", "cc-by-*" };
	const struct license_info *l31 = license_kb_find("llama3.1"),
				  *mrl = license_kb_find("mistral-research-license-0.1");
	assert_non_null(l31);
	assert_true(license_policy_matches(allow, 4, l31, "llama3.1"));
	assert_true(license_policy_matches(allow, 4, mrl, mrl->id)); /* by its Hub id / alias */
	assert_true(
		license_policy_matches(allow, 4, license_kb_find("gemma-2024-02-21"), "gemma-2024-02-21"));
	assert_true(license_policy_matches(allow, 4, NULL, "CC-BY-ND-3.0")); /* a name only */
	assert_false(license_policy_matches(allow, 4, license_kb_find("llama2"), "llama2"));
	assert_false(license_policy_matches(allow, 4, license_kb_find("mit"), "mit"));
	assert_false(license_policy_matches(allow, 0, l31, "llama3.1"));
}

int main(void)
{
	/* clang-format off */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_matching),
	};
	/* clang-format on */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
