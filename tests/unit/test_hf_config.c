/* formats/hf_config: a Hugging Face config.json is read into a struct with each field's
 * JSON type and range checked; the real stories260K config reads as it says. */
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/hf_config.h"

static void expect_failure(const char *json, const char *msg)
{
	struct hf_config c;
	struct fmt_error err = { "" };
	int rc = hf_config_parse(&c, json, strlen(json), &err);
	if (rc != FMT_EINVALID || !strstr(err.message, msg))
		print_error("%s\nexpected '%s', got %d: '%s'\n", json, msg, rc, err.message);
	assert_int_equal(rc, FMT_EINVALID);
	assert_non_null(strstr(err.message, msg));
}

static void parse_ok(const char *json, struct hf_config *c)
{
	struct fmt_error err = { "" };
	int rc = hf_config_parse(c, json, strlen(json), &err);
	if (rc)
		print_error("%s\nunexpected failure: %s\n", json, err.message);
	assert_int_equal(rc, 0);
}

static void test_real_config(void **state)
{
	(void)state;
	const char *file = "../shared/data/stories260K-hf/config.json";
	char buf[8192];
	struct hf_config c;
	FILE *f = fopen(file, "rb");
	if (!f)
		fail_msg("%s is missing: the shared test data must be present", file);
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	parse_ok(buf, &c);
	/* The values written in the file. */
	assert_int_equal(c.architecture_count, 1);
	assert_string_equal(c.architectures[0], "LlamaForCausalLM");
	assert_string_equal(c.model_type, "llama");
	assert_true(c.vocab_size.present && c.vocab_size.value == 512);
	assert_int_equal(c.hidden_size.value, 64);
	assert_int_equal(c.intermediate_size.value, 172);
	assert_int_equal(c.num_hidden_layers.value, 5);
	assert_int_equal(c.num_attention_heads.value, 8);
	assert_int_equal(c.num_key_value_heads.value, 4);
	assert_int_equal(c.head_dim.value, 8);
	assert_int_equal(c.max_position_embeddings.value, 512);
	assert_true(c.rms_norm_eps.value == 1e-05);
	assert_true(c.rope_theta.value == 10000.0);
	assert_false(c.rope_scaling.present);
	assert_true(c.has_tie_word_embeddings && c.tie_word_embeddings);
	assert_true(c.bos_token_id.present && !c.bos_token_id.is_list && c.bos_token_id.ids[0] == 1);
	assert_int_equal(c.eos_token_id.ids[0], 2);
	assert_string_equal(c.torch_dtype, "float32");
}

static void test_llama3_config(void **state)
{
	(void)state;
	struct hf_config c;
	parse_ok(
		"{\"architectures\": [\"LlamaForCausalLM\"], \"hidden_size\": 4096, \"num_attention_heads\": 32,"
		" \"num_key_value_heads\": 8, \"rope_theta\": 500000.0, \"rope_scaling\": {\"factor\": 8.0,"
		" \"low_freq_factor\": 1.0, \"high_freq_factor\": 4.0, \"original_max_position_embeddings\": 8192,"
		" \"rope_type\": \"llama3\"}, \"eos_token_id\": [128001, 128008, 128009], \"head_dim\": null,"
		" \"torch_dtype\": \"bfloat16\", \"unknown_field\": {\"x\": [1, 2]}}",
		&c);
	assert_true(c.rope_scaling.present);
	assert_string_equal(c.rope_scaling.rope_type, "llama3");
	assert_true(c.rope_scaling.factor.value == 8.0);
	assert_true(c.rope_scaling.high_freq_factor.value == 4.0);
	assert_int_equal(c.rope_scaling.original_max_position_embeddings.value, 8192);
	assert_true(c.eos_token_id.is_list);
	assert_int_equal(c.eos_token_id.count, 3);
	assert_int_equal(c.eos_token_id.ids[2], 128009);
	assert_false(c.head_dim.present);
	assert_false(c.bos_token_id.present);
	/* Older spelling, transformers 5 layout, dtype alias. */
	parse_ok("{\"rope_scaling\": {\"type\": \"linear\", \"factor\": 2}}", &c);
	assert_string_equal(c.rope_scaling.rope_type, "linear");
	parse_ok(
		"{\"dtype\": \"float16\", \"rope_parameters\": {\"rope_type\": \"default\", \"rope_theta\": 1000000.0}}",
		&c);
	assert_string_equal(c.torch_dtype, "float16");
	assert_true(c.rope_theta.present && c.rope_theta.value == 1e6);
	assert_string_equal(c.rope_scaling.rope_type, "default");
}

static void test_json_itself(void **state)
{
	(void)state;
	expect_failure("{\"hidden_size\": 64,}", "invalid JSON");
	expect_failure("{\"hidden_size\": 064}", "invalid JSON");
	expect_failure("[1, 2]", "not a JSON object");
	expect_failure("{\"model_type\": \"\xff\"}", "UTF-8");
	expect_failure("{\"hidden_size\": 64, \"hidden_size\": 128}", "duplicate key \"hidden_size\"");
	expect_failure("{\"rope_scaling\": {\"factor\": 2, \"factor\": 4, \"rope_type\": \"linear\"}}",
		       "duplicate key \"factor\" in rope_scaling");
}

static void test_integer_fields(void **state)
{
	(void)state;
	static const char *const names[] = {
		"hidden_size",         "intermediate_size", "num_hidden_layers",       "num_attention_heads",
		"num_key_value_heads", "head_dim",          "max_position_embeddings", "vocab_size"
	};
	static const char *const bad[] = { "\"64\"", "64.5", "-1", "0", "true", "[64]", "1e12" };
	char json[128];
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
			snprintf(json, sizeof(json), "{\"%s\": %s}", names[i], bad[k]);
			expect_failure(json, names[i]);
		}
	expect_failure("{\"vocab_size\": 16777217}", "vocab_size must be an integer in [1, 16777216]");
}

static void test_float_fields(void **state)
{
	(void)state;
	expect_failure("{\"rms_norm_eps\": 0}", "rms_norm_eps");
	expect_failure("{\"rms_norm_eps\": -1e-6}", "rms_norm_eps");
	expect_failure("{\"rms_norm_eps\": \"1e-6\"}", "rms_norm_eps must be a number");
	expect_failure("{\"rms_norm_eps\": 2}", "rms_norm_eps");
	expect_failure("{\"rope_theta\": 0}", "rope_theta");
	expect_failure("{\"rope_theta\": 1e300}", "rope_theta");
	expect_failure("{\"rope_parameters\": {\"rope_type\": \"default\", \"rope_theta\": -5}}",
		       "rope_parameters.rope_theta");
}

static void test_rope_scaling(void **state)
{
	(void)state;
	struct hf_config c;
	parse_ok("{\"rope_scaling\": null}", &c);
	assert_false(c.rope_scaling.present);
	expect_failure("{\"rope_scaling\": \"linear\"}", "rope_scaling must be an object");
	expect_failure("{\"rope_scaling\": {\"factor\": 2}}", "no rope_type");
	expect_failure("{\"rope_scaling\": {\"rope_type\": \"ntk\", \"factor\": 2}}",
		       "unknown rope_type \"ntk\"");
	expect_failure("{\"rope_scaling\": {\"rope_type\": \"yarn\", \"type\": \"linear\", \"factor\": 2}}",
		       "disagree");
	expect_failure("{\"rope_scaling\": {\"rope_type\": \"linear\"}}", "needs a factor");
	expect_failure("{\"rope_scaling\": {\"rope_type\": \"linear\", \"factor\": 0}}",
		       "rope_scaling.factor");
	expect_failure(
		"{\"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 8, \"low_freq_factor\": 1}}",
		"low_freq_factor < high_freq_factor");
	expect_failure("{\"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 8, \"low_freq_factor\": 4,"
		       " \"high_freq_factor\": 4}}",
		       "low_freq_factor < high_freq_factor");
	expect_failure("{\"rope_scaling\": {\"rope_type\": \"yarn\", \"factor\": 4,"
		       " \"original_max_position_embeddings\": 4096.5}}",
		       "original_max_position_embeddings");
	expect_failure("{\"rope_scaling\": {\"rope_type\": \"yarn\", \"factor\": 4, \"beta_fast\": \"32\"}}",
		       "beta_fast");
}

static void test_token_ids(void **state)
{
	(void)state;
	struct hf_config c;
	parse_ok("{\"bos_token_id\": null, \"eos_token_id\": [2]}", &c);
	assert_false(c.bos_token_id.present);
	assert_true(c.eos_token_id.is_list && c.eos_token_id.count == 1);
	expect_failure("{\"bos_token_id\": -1}", "bos_token_id");
	expect_failure("{\"bos_token_id\": \"1\"}", "bos_token_id");
	expect_failure("{\"eos_token_id\": []}", "eos_token_id must list 1 to 16");
	expect_failure("{\"eos_token_id\": [1, \"2\"]}", "eos_token_id");
	expect_failure("{\"eos_token_id\": [1, null]}", "eos_token_id");
	expect_failure("{\"eos_token_id\": 2147483648}", "eos_token_id");
}

static void test_other_fields(void **state)
{
	(void)state;
	expect_failure("{\"tie_word_embeddings\": \"true\"}", "tie_word_embeddings must be true or false");
	expect_failure("{\"tie_word_embeddings\": 1}", "tie_word_embeddings");
	expect_failure("{\"torch_dtype\": \"float128\"}", "not a known dtype");
	expect_failure("{\"torch_dtype\": 16}", "torch_dtype must be a string");
	expect_failure("{\"architectures\": \"LlamaForCausalLM\"}", "architectures must be an array");
	expect_failure("{\"architectures\": [1]}", "architectures must be an array of strings");
	expect_failure("{\"architectures\": [\"\"]}", "architectures[]");
	expect_failure("{\"model_type\": [\"llama\"]}", "model_type must be a string");
	expect_failure("{\"architectures\": [\"a\", \"b\", \"c\", \"d\", \"e\", \"f\", \"g\", \"h\", \"i\"]}",
		       "more than 8");
}

static void test_shape_relations(void **state)
{
	(void)state;
	struct hf_config c;
	expect_failure("{\"num_attention_heads\": 32, \"num_key_value_heads\": 5}",
		       "not a multiple of num_key_value_heads");
	expect_failure("{\"hidden_size\": 100, \"num_attention_heads\": 32}", "hidden_size 100");
	/* head_dim given: hidden need not divide (Mistral-Nemo: 5120, 32 heads, 128). */
	parse_ok("{\"hidden_size\": 5120, \"num_attention_heads\": 32, \"head_dim\": 128}", &c);
	parse_ok("{\"hidden_size\": 5000, \"num_attention_heads\": 32, \"head_dim\": 128}", &c);
}

int main(void)
{
	/* clang-format off */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_real_config),
		cmocka_unit_test(test_llama3_config),
		cmocka_unit_test(test_json_itself),
		cmocka_unit_test(test_integer_fields),
		cmocka_unit_test(test_float_fields),
		cmocka_unit_test(test_rope_scaling),
		cmocka_unit_test(test_token_ids),
		cmocka_unit_test(test_other_fields),
		cmocka_unit_test(test_shape_relations),
	};
	/* clang-format on */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
