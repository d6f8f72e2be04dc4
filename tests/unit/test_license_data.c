/* The knowledge base compiled into modl (generated into build/gen/license/embedded.c by
 * src/license/data/generate.py) is the data of src/license/data/, byte for byte: this test
 * fails when the generator drops, alters or adds a byte. And the terms read from it are the
 * facts of the texts. Run from the work tree
 * root (tests/run does). */
#include "unit.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "util/fs.h"
#include "license/embedded.h"
#include "license/terms.h"

#define DATA "src/license/data"

static char *read_data(const char *name, size_t *len)
{
	char path[512], *text = NULL;
	snprintf(path, sizeof(path), "%s/%s", DATA, name);
	if (fs_read_file(path, 16u << 20, &text, len))
		fail_msg("cannot read %s: %s (run the unit tests from the work tree root)", path,
			 modl_error_message());
	return text;
}

static void test_embedded_texts_are_the_data_files(void **state)
{
	(void)state;
	DIR *d = opendir(DATA);
	assert_non_null(d);
	size_t files = 0;
	for (struct dirent *e; (e = readdir(d));) {
		size_t n = strlen(e->d_name);
		if (n < 5 || strcmp(e->d_name + n - 4, ".txt") || !strcmp(e->d_name, "SOURCE.txt"))
			continue;
		files++;
		const struct license_embedded_text *t = NULL;
		for (size_t i = 0; i < license_embedded_text_count; i++)
			if (!strcmp(license_embedded_texts[i].file, e->d_name))
				t = &license_embedded_texts[i];
		if (!t)
			fail_msg("%s is not embedded: the generator lost it", e->d_name);
		size_t len;
		char *text = read_data(e->d_name, &len);
		if (len != t->len || memcmp(text, t->text, len))
			fail_msg("%s differs from its embedded copy: the generator lost it", e->d_name);
		free(text);
	}
	closedir(d);
	/* and nothing embedded that is no longer there */
	assert_int_equal(files, license_embedded_text_count);
	assert_true(files >= 38);
}

static void test_embedded_terms_are_terms_json(void **state)
{
	(void)state;
	size_t len;
	char *text = read_data("terms.json", &len);
	if (len != license_embedded_terms_len || memcmp(text, license_embedded_terms, len))
		fail_msg("terms.json differs from its embedded copy: the generator lost it");
	free(text);
}

static void test_source_attribution_kept(void **state)
{
	(void)state;
	size_t len;
	char *source = read_data("SOURCE.txt", &len);
	for (size_t i = 0; i < license_embedded_text_count; i++)
		if (!strstr(source, license_embedded_texts[i].file))
			fail_msg("%s has no line in SOURCE.txt", license_embedded_texts[i].file);
	free(source);
}

static const struct license_info *find(const char *name)
{
	const struct license_info *info = license_kb_find(name);
	if (!info)
		fail_msg("no license %s in the knowledge base", name);
	return info;
}

static int list_has(const cJSON *list, const char *needle)
{
	const cJSON *item;
	cJSON_ArrayForEach(item, list) if (strstr(item->valuestring, needle)) return 1;
	return 0;
}

/* Every entry reads, every text entry has its text, every policy names its licenses. */
static void test_knowledge_base_is_complete(void **state)
{
	(void)state;
	const struct license_info *kb;
	size_t n;
	assert_int_equal(license_kb(&kb, &n), 0);
	assert_true(n >= 39);
	for (size_t i = 0; i < n; i++) {
		if (kb[i].kind != LICENSE_KIND_FAMILY)
			assert_non_null(kb[i].text);
		assert_non_null(kb[i].url);
		if (kb[i].kind == LICENSE_KIND_POLICY) {
			assert_true(cJSON_GetArraySize(kb[i].applies_to) > 0);
			const cJSON *id;
			cJSON_ArrayForEach(id, kb[i].applies_to)
				assert_non_null(license_kb_find(id->valuestring));
		} else {
			assert_non_null(kb[i].hub_id);
		}
		/* A license that requires a Notice file says so. */
		if (kb[i].notice)
			assert_non_null(strstr(kb[i].text, "Notice"));
	}
}

/* The facts below are read in the texts of src/license/data/ (section numbers given). */
static void test_llama_terms(void **state)
{
	(void)state;
	const char *ids[] = { "llama2", "llama3", "llama3.1", "llama3.2", "llama3.3", "llama4" };
	for (size_t i = 0; i < 6; i++) {
		const struct license_info *l = find(ids[i]);
		assert_int_equal(l->commercial, LICENSE_COMMERCIAL_CONDITIONAL);
		assert_true(l->user_threshold == 700000000.0); /* section 2 */
		assert_non_null(strstr(l->text, "700 million monthly active users"));
		assert_non_null(l->acceptable_use_policy);
		assert_non_null(strstr(l->text, strstr(l->acceptable_use_policy, "://") + 3));
		assert_true(l->derivatives_inherit);
		assert_false(l->non_commercial);
	}
	/* Llama 3 names derivatives "Llama 3..."; 3.1 and later "Llama...". */
	assert_true(list_has(find("llama3")->attribution, "Built with Meta Llama 3"));
	assert_true(list_has(find("llama3.1")->attribution, "Built with Llama"));
	assert_true(list_has(find("llama4")->attribution, "\"Llama\" at the beginning"));
	assert_false(list_has(find("llama2")->attribution, "Built with"));
	/* Llama 2 and 3 forbid improving other LLMs; 3.1 dropped the clause. */
	assert_true(list_has(find("llama2")->use_restrictions, "improve any other large language model"));
	assert_true(list_has(find("llama3")->use_restrictions, "improve any other large language model"));
	assert_false(list_has(find("llama3.1")->use_restrictions, "improve any other"));
	assert_null(strstr(find("llama3.1")->text, "to improve any other large language model"));
	/* The EU exclusion of multimodal models is in the 3.2, 3.3 and 4 policies. */
	assert_true(list_has(find("llama3.2")->use_restrictions, "European Union"));
	assert_true(list_has(find("llama4")->use_restrictions, "European Union"));
	assert_non_null(strstr(find("llama4-aup")->text, "European Union"));
	assert_null(strstr(find("llama3.1-aup")->text, "European Union"));
	assert_true(license_kb_policy_of(find("llama3.1-aup"), find("llama3.1")));
	assert_false(license_kb_policy_of(find("llama3.1-aup"), find("llama3.2")));
}

static void test_other_terms(void **state)
{
	(void)state;
	assert_int_equal(find("gemma")->commercial, LICENSE_COMMERCIAL_ALLOWED);
	assert_string_equal(find("gemma")->acceptable_use_policy,
			    "https://ai.google.dev/gemma/prohibited_use_policy");
	assert_true(list_has(find("gemma-2024-02-21")->use_restrictions, "latest version of Gemma"));
	assert_non_null(strstr(find("gemma-2024-02-21")->text,
			       "reasonable efforts to use the latest version of Gemma"));
	assert_null(strstr(find("gemma")->text, "reasonable efforts to use the latest version of Gemma"));
	assert_true(license_kb_agrees(find("gemma"), find("gemma-2024-04-01")));
	assert_int_equal(find("cc-by-nc-4.0")->commercial, LICENSE_COMMERCIAL_FORBIDDEN);
	assert_int_equal(find("cc-by-nc-nd-4.0")->commercial, LICENSE_COMMERCIAL_FORBIDDEN);
	assert_int_equal(find("cc-by-sa-4.0")->commercial, LICENSE_COMMERCIAL_ALLOWED);
	assert_int_equal(find("mrl")->commercial, LICENSE_COMMERCIAL_FORBIDDEN);
	assert_true(find("mrl")->research_only);
	assert_int_equal(find("mnpl")->commercial, LICENSE_COMMERCIAL_FORBIDDEN);
	assert_int_equal(find("tongyi-qianwen")->commercial, LICENSE_COMMERCIAL_CONDITIONAL);
	assert_true(find("tongyi-qianwen")->user_threshold == 100000000.0);
	assert_non_null(strstr(find("tongyi-qianwen")->text, "more than 100 million monthly active users"));
	assert_int_equal(find("tongyi-qianwen-research")->commercial, LICENSE_COMMERCIAL_FORBIDDEN);
	assert_int_equal(find("qwen-research")->commercial, LICENSE_COMMERCIAL_FORBIDDEN);
	assert_true(list_has(find("qwen-research")->attribution, "Built with Qwen"));
	assert_int_equal(find("deepseek")->commercial, LICENSE_COMMERCIAL_ALLOWED);
	assert_true(list_has(find("deepseek")->use_restrictions, "military"));
	assert_int_equal(find("apache-2.0")->commercial, LICENSE_COMMERCIAL_ALLOWED);
	assert_false(find("apache-2.0")->derivatives_inherit);
	assert_true(find("openrail")->kind == LICENSE_KIND_FAMILY);
	assert_true(license_kb_agrees(find("openrail"), find("creativeml-openrail-m")));
	assert_ptr_equal(find("openrail++"), find("creativeml-openrail++-m"));
	assert_ptr_equal(license_kb_declared("other", "mnpl"), find("mistral-non-production-license-0.1"));
	assert_ptr_equal(license_kb_declared("  LLAMA3.1 ", NULL), find("llama3.1"));
	assert_null(license_kb_declared("other", NULL));
	assert_null(license_kb_find("qwen")); /* not in the corpus (SOURCE.txt: NOT FOUND) */
}

int main(void)
{
	/* clang-format off */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_embedded_texts_are_the_data_files),
		cmocka_unit_test(test_embedded_terms_are_terms_json),
		cmocka_unit_test(test_source_attribution_kept),
		cmocka_unit_test(test_knowledge_base_is_complete),
		cmocka_unit_test(test_llama_terms),
		cmocka_unit_test(test_other_terms),
	};
	/* clang-format on */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
