/* The model card's front matter (src/license/card.c): the license fields, base models and
 * gating, and clear errors for bad YAML and wrong types. */
#include "unit.h"

#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "license/card.h"

static int parse(const char *text, struct license_card *c)
{
	return license_card_parse(text, strlen(text), "README.md", c);
}

static void test_fields(void **state)
{
	(void)state;
	struct license_card c;
	const char *card = "\xEF\xBB\xBF---\n"
			   "language: [en, fr]\n"
			   "license: other\n"
			   "license_name: mnpl   # Mistral's non-production license\n"
			   "license_link: https://mistral.ai/licenses/MNPL-0.1.md\n"
			   "base_model:\n"
			   "  - mistralai/Codestral-22B-v0.1\n"
			   "  - 'acme/other'\n"
			   "base_model_relation: finetune\n"
			   "extra_gated_prompt: >-\n"
			   "  By accessing this model you agree\n"
			   "  to the license.\n"
			   "extra_gated_fields:\n"
			   "  Name: text\n"
			   "  Country: country\n"
			   "  I agree to use this model for non-commercial use ONLY: checkbox\n"
			   "tags: {a: [1, 2, {b: c}]}\n"
			   "---\n"
			   "# Model\n---\nlicense: mit\n";
	assert_int_equal(parse(card, &c), 0);
	assert_true(c.has_front_matter);
	assert_int_equal(c.license_count, 1);
	assert_string_equal(c.licenses[0], "other");
	assert_string_equal(c.license_name, "mnpl");
	assert_string_equal(c.license_link, "https://mistral.ai/licenses/MNPL-0.1.md");
	assert_int_equal(c.base_model_count, 2);
	assert_string_equal(c.base_models[1], "acme/other");
	assert_string_equal(c.base_model_relation, "finetune");
	assert_string_equal(c.gated_prompt, "By accessing this model you agree to the license.");
	assert_int_equal(c.gated_field_count, 3);
	assert_string_equal(c.gated_fields[2], "I agree to use this model for non-commercial use ONLY");
	char *declared = license_card_declared(&c);
	assert_string_equal(declared, "mnpl");
	free(declared);
	license_card_free(&c);
}

static void test_lists_nulls_and_no_front_matter(void **state)
{
	(void)state;
	struct license_card c;
	assert_int_equal(parse("---\nlicense:\n- apache-2.0\n- mit\nbase_model: ~\n---\n", &c), 0);
	assert_int_equal(c.license_count, 2);
	assert_int_equal(c.base_model_count, 0);
	char *declared = license_card_declared(&c);
	assert_string_equal(declared, "apache-2.0, mit");
	free(declared);
	license_card_free(&c);
	/* no front matter: an empty card, not an error */
	assert_int_equal(parse("# Just a title\n\nlicense: mit\n", &c), 0);
	assert_false(c.has_front_matter);
	assert_null(license_card_declared(&c));
	license_card_free(&c);
	/* an empty front matter, and one with CRLF fences */
	assert_int_equal(parse("---\n---\n", &c), 0);
	assert_true(c.has_front_matter);
	assert_int_equal(c.license_count, 0);
	license_card_free(&c);
	assert_int_equal(parse("---\r\nlicense: gemma\r\n---\r\n", &c), 0);
	assert_string_equal(c.licenses[0], "gemma");
	license_card_free(&c);
	/* not closed: noted, nothing read (as the Hub does) */
	assert_int_equal(parse("---\nlicense: mit\n", &c), 0);
	assert_false(c.has_front_matter);
	assert_non_null(c.note);
	license_card_free(&c);
	/* the first of a repeated key wins */
	assert_int_equal(parse("---\nlicense: mit\nlicense: apache-2.0\n---\n", &c), 0);
	assert_int_equal(c.license_count, 1);
	assert_string_equal(c.licenses[0], "mit");
	license_card_free(&c);
}

static void expect_error(const char *card, const char *fragment)
{
	struct license_card c;
	int rc = parse(card, &c);
	if (rc != MODL_EINVALID)
		fail_msg("%s: accepted (rc %d)", card, rc);
	if (!strstr(modl_error_message(), fragment) || strncmp(modl_error_message(), "README.md: ", 11))
		fail_msg("%s: message '%s' lacks '%s'", card, modl_error_message(), fragment);
}

static void test_errors(void **state)
{
	(void)state;
	expect_error("---\nlicense: [mit\n---\n", "front matter");
	expect_error("---\nlicense: mit\n  bad: indent\n---\n", "line 3");
	expect_error("---\n- a\n- b\n---\n", "not a mapping");
	expect_error("---\njust text\n---\n", "not a mapping");
	expect_error("---\nlicense: {name: mit}\n---\n", "license: expected a string or a list of strings");
	expect_error("---\nlicense: [mit, [x]]\n---\n", "license: expected a string or a list of strings");
	expect_error("---\nlicense_name: [a]\n---\n", "license_name: expected a string");
	expect_error("---\nbase_model: {a: b}\n---\n", "base_model: expected");
	expect_error("---\nextra_gated_fields: [a]\n---\n", "extra_gated_fields");
	expect_error("---\nlicense: \"a\\0b\"\n---\n", "NUL");
	expect_error("---\nx: &a mit\nlicense: *a\n---\n", "alias");
}

static void test_card_data(void **state)
{
	(void)state;
	struct license_card c;
	cJSON *doc = cJSON_Parse("{\"license\":\"llama3.2\",\"base_model\":[\"meta-llama/Llama-3.2-1B\"],"
				 "\"extra_gated_fields\":{\"Name\":\"text\"},\"extra_gated_prompt\":\"x\"}");
	assert_int_equal(license_card_from_json(doc, "repo", &c), 0);
	assert_string_equal(c.licenses[0], "llama3.2");
	assert_string_equal(c.base_models[0], "meta-llama/Llama-3.2-1B");
	assert_string_equal(c.gated_fields[0], "Name");
	license_card_free(&c);
	cJSON_Delete(doc);
	doc = cJSON_Parse("{\"license\":7}");
	assert_int_equal(license_card_from_json(doc, "repo", &c), MODL_EINVALID);
	cJSON_Delete(doc);
}

int main(void)
{
	/* clang-format off */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fields),
		cmocka_unit_test(test_lists_nulls_and_no_front_matter),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_card_data),
	};
	/* clang-format on */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
