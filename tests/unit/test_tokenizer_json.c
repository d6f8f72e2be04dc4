/* formats/tokenizer_json: Hugging Face tokenizer.json read strictly. The shared
 * mini_llama.tokenizer.json (from a real Llama 3.2 tokenizer) reads as it is; small files
 * written here cover merges as strings and as pairs (a space inside a part becomes
 * U+0120 as gguf-py writes it), the pre-tokenizer signature, the post-processor template
 * and every refusal. */
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "formats/tokenizer_json.h"

static int parse(const char *json, struct tokenizer_json *t, struct fmt_error *err)
{
	return tokenizer_json_parse(t, json, strlen(json), err);
}

static void parse_ok(const char *json, struct tokenizer_json *t)
{
	struct fmt_error err = { "" };
	int rc = parse(json, t, &err);
	if (rc)
		print_error("%s\nunexpected failure: %s\n", json, err.message);
	assert_int_equal(rc, 0);
}

static void expect_refused(const char *json, const char *msg)
{
	struct tokenizer_json t;
	struct fmt_error err = { "" };
	int rc = parse(json, &t, &err);
	if (rc != FMT_EINVALID || !strstr(err.message, msg))
		print_error("%s\nexpected '%s', got %d: '%s'\n", json, msg, rc, err.message);
	assert_int_equal(rc, FMT_EINVALID);
	assert_non_null(strstr(err.message, msg));
}

static void test_mini_llama(void **state)
{
	(void)state;
	const char *path = "../shared/data/llama3.2-bpe-vocab/mini_llama.tokenizer.json";
	FILE *f = fopen(path, "rb");
	if (!f)
		fail_msg("%s is missing", path);
	char *buf = malloc(1 << 16);
	assert_non_null(buf);
	size_t n = fread(buf, 1, (1 << 16) - 1, f);
	fclose(f);
	buf[n] = '\0';
	struct tokenizer_json t;
	parse_ok(buf, &t);
	free(buf);
	assert_string_equal(t.model_type, "BPE");
	assert_false(t.byte_fallback);
	assert_false(t.ignore_merges);
	assert_int_equal(t.vocab_count, 323);
	assert_int_equal(t.merge_count, 77);
	assert_false(t.merges_as_pairs);
	assert_string_equal(t.merges[0], "\xc4\xa0 \xc4\xa0"); /* "Ġ Ġ" */
	assert_string_equal(t.vocab[0], "!");
	assert_int_equal(tokenizer_json_find(&t, "!", 1), 0);
	assert_int_equal(t.added_count, 2);
	assert_int_equal(t.added[0].id, 128000);
	assert_string_equal(t.added[0].content, "<|begin_of_text|>");
	assert_true(t.added[0].special);
	assert_true(t.pre_tokenizer.present);
	assert_int_equal(t.pre_tokenizer.count, 2);
	assert_string_equal(t.pre_tokenizer.items[0].type, "Split");
	assert_true(t.pre_tokenizer.items[0].pattern_is_regex);
	assert_string_equal(t.pre_tokenizer.items[1].type, "ByteLevel");
	assert_int_equal(t.pre_tokenizer.items[1].use_regex, 0);
	assert_false(t.normalizer.present);
	char *sig = NULL;
	assert_int_equal(tokenizer_json_pre_signature(&t, &sig), 0);
	assert_string_equal(
		sig, "normalizer=none pre=Split(Regex \"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?"
		     "\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+\", "
		     "Isolated, invert=0)+ByteLevel(prefix=0, regex=0)");
	free(sig);
	tokenizer_json_free(&t);
}

static void test_pairs_and_template(void **state)
{
	(void)state;
	struct tokenizer_json t;
	parse_ok(
		"{\"version\": \"1.0\", \"added_tokens\": [{\"id\": 5, \"content\": \"<s>\", \"special\": true,"
		" \"normalized\": false, \"lstrip\": false, \"rstrip\": false, \"single_word\": false}],"
		" \"normalizer\": {\"type\": \"Sequence\", \"normalizers\": [{\"type\": \"Prepend\", \"prepend\": \"\xe2\x96\x81\"},"
		" {\"type\": \"Replace\", \"pattern\": {\"String\": \" \"}, \"content\": \"\xe2\x96\x81\"}]},"
		" \"pre_tokenizer\": null,"
		" \"post_processor\": {\"type\": \"TemplateProcessing\", \"single\": [{\"SpecialToken\": {\"id\": \"<s>\","
		" \"type_id\": 0}}, {\"Sequence\": {\"id\": \"A\", \"type_id\": 0}}], \"pair\": [], \"special_tokens\": {}},"
		" \"decoder\": {\"type\": \"ByteFallback\"},"
		" \"model\": {\"type\": \"BPE\", \"byte_fallback\": true, \"fuse_unk\": true, \"unk_token\": \"<unk>\","
		" \"dropout\": null, \"vocab\": {\"<unk>\": 0, \"a b\": 1, \"c\": 2, \"a bc\": 3, \"<s>\": 5},"
		" \"merges\": [[\"a b\", \"c\"]]}}",
		&t);
	assert_true(t.byte_fallback);
	assert_true(t.fuse_unk);
	assert_string_equal(t.unk_token, "<unk>");
	assert_int_equal(t.vocab_size, 6);
	assert_null(t.vocab[4]);
	assert_true(t.merges_as_pairs);
	assert_string_equal(t.merges[0], "a\xc4\xa0"
					 "b c"); /* the space inside a part is U+0120 */
	assert_true(t.has_template);
	assert_string_equal(t.template_first, "<s>");
	assert_null(t.template_last);
	assert_string_equal(t.post_processor_type, "TemplateProcessing");
	assert_int_equal(t.normalizer.count, 2);
	assert_string_equal(t.normalizer.items[0].content, "\xe2\x96\x81");
	assert_false(t.pre_tokenizer.present);
	char *sig = NULL;
	assert_int_equal(tokenizer_json_pre_signature(&t, &sig), 0);
	assert_string_equal(
		sig,
		"normalizer=Prepend(\"\xe2\x96\x81\")+Replace(String \" \" -> \"\xe2\x96\x81\") pre=none");
	free(sig);
	tokenizer_json_free(&t);
	/* a Sequence post-processor: its TemplateProcessing counts; no type means BPE */
	parse_ok(
		"{\"model\": {\"vocab\": {\"a\": 0, \"b\": 1, \"ab\": 2}, \"merges\": [\"a b\"]},"
		" \"post_processor\": {\"type\": \"Sequence\", \"processors\": [{\"type\": \"ByteLevel\"},"
		" {\"type\": \"TemplateProcessing\", \"single\": [{\"Sequence\": {\"id\": \"A\"}}, {\"SpecialToken\": {\"id\": \"b\"}}]}]}}",
		&t);
	assert_string_equal(t.model_type, "BPE");
	assert_null(t.template_first);
	assert_string_equal(t.template_last, "b");
	tokenizer_json_free(&t);
	/* Unigram: read enough to say what it is */
	parse_ok(
		"{\"model\": {\"type\": \"Unigram\", \"vocab\": [[\"a\", -1.5], [\"b\", -2]], \"unk_id\": 0}}",
		&t);
	assert_string_equal(t.model_type, "Unigram");
	assert_int_equal(t.vocab_count, 0);
	tokenizer_json_free(&t);
}

static void test_refusals(void **state)
{
	(void)state;
	expect_refused("[]", "not a JSON object");
	expect_refused("{\"model\": {\"type\": \"BPE\"", "invalid JSON");
	expect_refused("{\"added_tokens\": []}", "no model");
	expect_refused("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"a\": 1}, \"merges\": []}}",
		       "token \"a\" appears twice");
	expect_refused("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 0}, \"merges\": []}}",
		       "id 0 is given to");
	expect_refused("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": -1}, \"merges\": []}}",
		       "the id must be an integer");
	expect_refused("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 1.5}, \"merges\": []}}",
		       "the id must be an integer");
	expect_refused("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 99999999}, \"merges\": []}}",
		       "[0, 16777215]");
	expect_refused("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"\": 0}, \"merges\": []}}",
		       "empty token");
	expect_refused(
		"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1}, \"merges\": [\"a c\"]}}",
		"\"c\" is not in model.vocab");
	expect_refused(
		"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1}, \"merges\": [\"a b\"]}}",
		"the merged token \"ab\" is not in model.vocab");
	expect_refused(
		"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1}, \"merges\": [\"a b c\"]}}",
		"is not two tokens separated by one space");
	expect_refused(
		"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1, \"ab\": 2}, \"merges\": [\"a b\", [\"a\", \"b\"]]}}",
		"mixes strings and pairs");
	expect_refused("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [[\"a\"]]}}",
		       "must be two non-empty strings");
	expect_refused("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [7]}}",
		       "must be a string or a pair");
	expect_refused("{\"model\": {\"type\": \"BPE\", \"type\": \"BPE\", \"vocab\": {}, \"merges\": []}}",
		       "duplicate key \"type\" in model");
	expect_refused("{\"model\": {\"type\": 3}}", "model.type must be a string");
	expect_refused(
		"{\"model\": {\"type\": \"BPE\", \"vocab\": {}, \"merges\": [], \"byte_fallback\": 1}}",
		"model.byte_fallback must be true or false");
	expect_refused("{\"added_tokens\": [{\"id\": 1}], \"model\": {\"vocab\": {}, \"merges\": []}}",
		       "needs an id and a content");
	expect_refused(
		"{\"added_tokens\": [{\"id\": 0, \"content\": \"x\"}, {\"id\": 0, \"content\": \"y\"}],"
		" \"model\": {\"vocab\": {}, \"merges\": []}}",
		"share id 0");
	expect_refused(
		"{\"added_tokens\": [{\"id\": 3, \"content\": \"a\"}], \"model\": {\"vocab\": {\"a\": 0}, \"merges\": []}}",
		"has id 3 but model.vocab gives it 0");
	expect_refused(
		"{\"model\": {\"vocab\": {}, \"merges\": []}, \"pre_tokenizer\": {\"type\": \"Split\", \"type\": \"x\"}}",
		"pre_tokenizer: duplicate key \"type\"");
	expect_refused("{\"model\": {\"vocab\": {}, \"merges\": []}, \"pre_tokenizer\": {\"type\": \"Split\","
		       " \"pattern\": {\"Regex\": \"a\", \"String\": \"b\"}}}",
		       "pattern must be");
	expect_refused(
		"{\"model\": {\"vocab\": {}, \"merges\": []}, \"pre_tokenizer\": {\"pretokenizers\": []}}",
		"pre_tokenizer has no type");
	expect_refused(
		"{\"model\": {\"vocab\": {}, \"merges\": []}, \"normalizer\": {\"type\": \"Sequence\"}}",
		"a Sequence without its list");
	expect_refused(
		"{\"model\": {\"vocab\": {}, \"merges\": []}, \"post_processor\": {\"type\": \"TemplateProcessing\"}}",
		"without a single template");
	expect_refused("{\"model\": {\"vocab\": {\"\\u0000a\": 0}, \"merges\": []}}", "a NUL in a token");
	expect_refused("{\"model\": {\"vocab\": {}, \"merges\": []}, \"model\": {}}",
		       "duplicate key \"model\"");
	expect_refused("{\"model\": {\"vocab\": {}}, \"x\": \"\xff\"}", "not valid UTF-8");
}

/* 80k keys in an object that cJSON reads (the normalizer): the duplicate check is not
 * pairwise (it took minutes), and a duplicate key at the very end is still found. */
static void test_duplicate_keys_in_linear_time(void **state)
{
	(void)state;
	const size_t n = 80000;
	for (int dup = 0; dup < 2; dup++) {
		char *text = malloc(n * 24 + 256), *p = text;
		p += sprintf(p, "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}, "
				"\"normalizer\": {\"type\": \"NFC\"");
		for (size_t i = 0; i < n; i++)
			p += sprintf(p, ", \"k%zu\": %zu", dup && i == n - 1 ? (size_t)7 : i, i);
		sprintf(p, "}}");
		struct tokenizer_json t;
		struct fmt_error err = { "" };
		struct timespec t0, t1;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		int rc = tokenizer_json_parse(&t, text, strlen(text), &err);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		double took = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
		print_message("80000 keys%s: %.3f s (%s)\n", dup ? " (one twice)" : "", took, err.message);
		assert_true(took < 2.0);
		if (dup) {
			assert_int_equal(rc, FMT_EINVALID);
			assert_non_null(strstr(err.message, "duplicate key \"k7\""));
		} else {
			assert_int_equal(rc, 0);
			tokenizer_json_free(&t);
		}
		free(text);
	}
}

int main(void)
{
	/* clang-format off */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mini_llama),
		cmocka_unit_test(test_duplicate_keys_in_linear_time),
		cmocka_unit_test(test_pairs_and_template),
		cmocka_unit_test(test_refusals),
	};
	/* clang-format on */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
