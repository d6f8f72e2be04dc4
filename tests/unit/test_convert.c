/* src/convert: the names gguf-py would give (general.name, basename, finetune, version,
 * size_label and the default file name; expected values computed with gguf-py's
 * Metadata.get_model_id_components and model_weight_count_rounded_notation), the model
 * card's fields, and the tokenizer.ggml.pre names --pre accepts. */
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "convert/convert_internal.h"
#include "util/error.h"

static void test_size_labels(void **state)
{
	(void)state;
	static const struct {
		uint64_t n;
		const char *label;
		/* clang-format off */
	} cases[] = {
		{ 260032, "260K" }, { 1235814400, "1.2B" }, { 8030261248ull, "8.0B" }, { 70553706496ull, "71B" },
		{ 134515008, "135M" }, { 494032768, "494M" }, { 999, "1.0K" }, { 1000000, "1000K" },
		{ 1100048384, "1.1B" },
	};
	/* clang-format on */
	char label[32];
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		convert_size_label(cases[i].n, label, sizeof(label));
		assert_string_equal(label, cases[i].label);
	}
}

struct naming_case {
	const char *id;
	uint64_t params;
	const char *name, *basename, *finetune, *version, *size_label, *file;
};

static void expect_str(const char *got, const char *want)
{
	if (!want)
		assert_null(got);
	else
		assert_string_equal(got, want);
}

static char *temp_dir(void)
{
	char *d = strdup("/tmp/modl-unit-convert-XXXXXX");
	assert_non_null(d);
	assert_non_null(mkdtemp(d));
	return d;
}

static void test_names_from_repo_ids(void **state)
{
	(void)state;
	/* clang-format off */
	static const struct naming_case cases[] = {
		{ "meta-llama/Llama-3.2-1B", 1235814400, "Llama 3.2 1B", "Llama-3.2", NULL, NULL, "1B",
		  "Llama-3.2-1B-Q4_K_M.gguf" },
		{ "meta-llama/Llama-3.2-1B-Instruct", 1235814400, "Llama 3.2 1B Instruct", "Llama-3.2", "Instruct", NULL,
		  "1B", "Llama-3.2-1B-Instruct-Q4_K_M.gguf" },
		{ "mistralai/Mistral-7B-Instruct-v0.3", 7248023552ull, "Mistral 7B Instruct v0.3", "Mistral", "Instruct",
		  "v0.3", "7B", "Mistral-7B-Instruct-v0.3-Q4_K_M.gguf" },
		{ "meta-llama/Meta-Llama-3.1-8B-Instruct", 8030261248ull, "Meta Llama 3.1 8B Instruct", "Meta-Llama-3.1",
		  "Instruct", NULL, "8B", "Meta-Llama-3.1-8B-Instruct-Q4_K_M.gguf" },
		{ "TinyLlama/TinyLlama-1.1B-Chat-v1.0", 1100048384, "TinyLlama 1.1B Chat v1.0", "TinyLlama", "Chat", "v1.0",
		  "1.1B", "TinyLlama-1.1B-Chat-v1.0-Q4_K_M.gguf" },
		{ "HuggingFaceTB/SmolLM-135M", 134515008, "SmolLM 135M", "SmolLM", NULL, NULL, "135M",
		  "SmolLM-135M-Q4_K_M.gguf" },
		{ "Qwen/Qwen2-0.5B-Instruct", 494032768, "Qwen2 0.5B Instruct", "Qwen2", "Instruct", NULL, "0.5B",
		  "Qwen2-0.5B-Instruct-Q4_K_M.gguf" },
		{ "bigscience/bloom-7b1", 7069016064ull, "Bloom 7b1", "bloom", NULL, NULL, "7.1B", "bloom-7.1B-Q4_K_M.gguf" },
		/* no size in the name: from the parameter count */
		{ "mistralai/Mistral-Nemo-Instruct-2407", 12247782400ull, "Mistral Nemo Instruct 2407", "Mistral-Nemo",
		  "Instruct", "2407", "12B", "Mistral-Nemo-12B-Instruct-2407-Q4_K_M.gguf" },
		/* a context length is no size label */
		{ "meta-llama/Llama-3.1-8B-128k", 8030261248ull, "Llama 3.1 8B 128k", "Llama-3.1", "128k", NULL, "8B",
		  "Llama-3.1-8B-128k-Q4_K_M.gguf" },
	};
	/* clang-format on */
	char *dir = temp_dir();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct naming_case *c = &cases[i];
		struct convert_naming n;
		char *file = NULL;
		assert_int_equal(convert_naming_load(&n, dir, c->id, NULL, NULL, c->params), 0);
		expect_str(n.name, c->name);
		expect_str(n.basename, c->basename);
		expect_str(n.finetune, c->finetune);
		expect_str(n.version, c->version);
		expect_str(n.size_label, c->size_label);
		assert_null(n.license);
		assert_int_equal(convert_default_name(&n, "Q4_K_M", &file), 0);
		assert_string_equal(file, c->file);
		free(file);
		convert_naming_free(&n);
	}
	rmdir(dir);
	free(dir);
}

static void write_file(const char *dir, const char *name, const char *text)
{
	char path[600];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void test_card_and_overrides(void **state)
{
	(void)state;
	char *top = temp_dir(), dir[512];
	struct convert_naming n;
	/* a folder name that says nothing about the model (random ones could) */
	snprintf(dir, sizeof(dir), "%s/shiny", top);
	assert_int_equal(mkdir(dir, 0755), 0);
	char *file = NULL;
	write_file(dir, "README.md",
		   "---\nlicense:\n  - apache-2.0\n  - mit\nmodel_name: Shiny Model\n"
		   "tags:\n\t- llama\n---\n# Shiny\n");
	assert_int_equal(convert_naming_load(&n, dir, NULL, NULL, NULL, 260032), 0);
	assert_string_equal(n.name, "Shiny Model");
	assert_string_equal(n.license, "apache-2.0,mit");
	assert_string_equal(n.size_label, "260K");
	assert_int_equal(convert_default_name(&n, "F16", &file), 0);
	assert_string_equal(file, "Shiny-Model-260K-F16.gguf");
	free(file);
	convert_naming_free(&n);
	/* --name wins; a card without front matter, or with broken YAML, is no card */
	write_file(dir, "README.md", "---\nlicense: [unclosed\n---\n");
	assert_int_equal(convert_naming_load(&n, dir, NULL, NULL, "My/Odd:Name", 7), 0);
	assert_string_equal(n.name, "My/Odd:Name");
	assert_null(n.license);
	assert_int_equal(convert_default_name(&n, "Q8_0", &file), 0);
	assert_string_equal(file, "My-Odd_Name-0.01K-Q8_0.gguf");
	free(file);
	convert_naming_free(&n);
	char path[600];
	snprintf(path, sizeof(path), "%s/README.md", dir);
	unlink(path);
	rmdir(dir);
	rmdir(top);
	free(top);
}

static void test_pre_names(void **state)
{
	(void)state;
	assert_true(convert_pre_is_known("llama-bpe"));
	assert_true(convert_pre_is_known("smaug-bpe"));
	assert_true(convert_pre_is_known("qwen2"));
	assert_true(convert_pre_is_known("default"));
	assert_false(convert_pre_is_known("llama-bpe "));
	assert_false(convert_pre_is_known(""));
	assert_non_null(strstr(convert_supported_architectures(), "MistralForCausalLM"));
}

/* 80k keys in one object of tokenizer_config.json: read in well under 2 s under ASan (the
 * pairwise duplicate check took 50 s), and a duplicate key at the very end still found. */
static char *many_keys_json(size_t n, int duplicate_last)
{
	char *text = malloc(n * 24 + 64), *p = text;
	p += sprintf(p, "{\"added_tokens_decoder\": {");
	for (size_t i = 0; i < n; i++)
		p += sprintf(p, "%s\"%zu\": %zu", i ? ", " : "", duplicate_last && i == n - 1 ? (size_t)7 : i,
			     i);
	sprintf(p, "}}");
	return text;
}

static double seconds_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void test_duplicate_keys_in_linear_time(void **state)
{
	(void)state;
	for (int dup = 0; dup < 2; dup++) {
		char *text = many_keys_json(80000, dup);
		cJSON *doc = NULL;
		double t0 = seconds_now();
		int rc = convert_parse_json("tokenizer_config.json", text, strlen(text), &doc);
		double took = seconds_now() - t0;
		print_message("80000 keys%s: %.3f s\n", dup ? " (one twice)" : "", took);
		assert_true(took < 2.0);
		if (dup) {
			assert_int_equal(rc, MODL_EINVALID);
			assert_non_null(strstr(modl_error_message(), "duplicate key \"7\""));
		} else {
			assert_int_equal(rc, 0);
		}
		cJSON_Delete(doc);
		free(text);
	}
}

int main(void)
{
	/* clang-format off */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_size_labels),
		cmocka_unit_test(test_duplicate_keys_in_linear_time),
		cmocka_unit_test(test_names_from_repo_ids),
		cmocka_unit_test(test_card_and_overrides),
		cmocka_unit_test(test_pre_names),
	};
	/* clang-format on */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
