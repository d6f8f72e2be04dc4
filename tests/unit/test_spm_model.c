/* formats/spm_model: SentencePiece's tokenizer.model read strictly. The real Llama 2
 * tokenizer (values checked against python3-sentencepiece when this test was written)
 * and the stand-in stories260K tokenizer read as they are; protobufs built here byte by
 * byte exercise each field and each refusal. */
#include "unit.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/spm_model.h"

/* ---- a protobuf builder ------------------------------------------------------------------ */

struct pb {
	unsigned char b[4096];
	size_t n;
};

static void put(struct pb *p, const void *data, size_t len)
{
	assert_true(p->n + len <= sizeof(p->b));
	memcpy(p->b + p->n, data, len);
	p->n += len;
}

static void varint(struct pb *p, uint64_t v)
{
	do {
		unsigned char c = (unsigned char)(v & 0x7f);
		v >>= 7;
		if (v)
			c |= 0x80;
		put(p, &c, 1);
	} while (v);
}

static void tag(struct pb *p, unsigned field, unsigned wire)
{
	varint(p, (uint64_t)field << 3 | wire);
}

static void bytes_field(struct pb *p, unsigned field, const void *data, size_t len)
{
	tag(p, field, 2);
	varint(p, len);
	put(p, data, len);
}

static void message(struct pb *p, unsigned field, const struct pb *inner)
{
	bytes_field(p, field, inner->b, inner->n);
}

static void piece(struct pb *p, const char *text, float score, int type)
{
	struct pb sp = { .n = 0 };
	bytes_field(&sp, 1, text, strlen(text));
	tag(&sp, 2, 5);
	put(&sp, &score, 4); /* little-endian host */
	if (type) {
		tag(&sp, 3, 0);
		varint(&sp, (uint64_t)type);
	}
	message(p, 1, &sp);
}

static void int_field(struct pb *p, unsigned field, int64_t v)
{
	tag(p, field, 0);
	varint(p, (uint64_t)v); /* negative: ten bytes, as protobuf writes int32 */
}

static int parse(const struct pb *p, struct spm_model *m, struct fmt_error *err)
{
	return spm_model_parse(m, p->b, p->n, err);
}

static void expect_refused(const struct pb *p, const char *msg)
{
	struct spm_model m;
	struct fmt_error err = { "" };
	int rc = parse(p, &m, &err);
	if (rc != FMT_EINVALID || !strstr(err.message, msg))
		print_error("expected '%s', got %d: '%s'\n", msg, rc, err.message);
	assert_int_equal(rc, FMT_EINVALID);
	assert_non_null(strstr(err.message, msg));
}

static void *read_all(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		fail_msg("%s is missing", path);
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	rewind(f);
	void *b = malloc((size_t)n);
	assert_non_null(b);
	assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return b;
}

/* ---- real models --------------------------------------------------------------------------- */

static void test_llama2_tokenizer(void **state)
{
	(void)state;
	size_t len;
	void *data = read_all("../shared/data/llama2-tokenizer/tokenizer.model", &len);
	struct spm_model m;
	struct fmt_error err = { "" };
	assert_int_equal(spm_model_parse(&m, data, len, &err), 0);
	assert_int_equal(m.count, 32000);
	assert_int_equal(m.model_type, SPM_MODEL_BPE);
	assert_int_equal(m.trainer_vocab_size, 32000);
	assert_int_equal(m.unk_id, 0);
	assert_int_equal(m.bos_id, 1);
	assert_int_equal(m.eos_id, 2);
	assert_int_equal(m.pad_id, -1);
	assert_true(m.byte_fallback);
	assert_true(m.add_dummy_prefix);
	assert_false(m.remove_extra_whitespaces);
	assert_string_equal(m.pieces[0].text, "<unk>");
	assert_int_equal(m.pieces[0].type, SPM_PIECE_UNKNOWN);
	assert_string_equal(m.pieces[1].text, "<s>");
	assert_int_equal(m.pieces[1].type, SPM_PIECE_CONTROL);
	assert_string_equal(m.pieces[13].text, "<0x0A>");
	assert_int_equal(m.pieces[13].type, SPM_PIECE_BYTE);
	assert_string_equal(m.pieces[260].text, "\xe2\x96\x81t");
	assert_true(m.pieces[260].score == -1.0f);
	assert_string_equal(m.pieces[29871].text, "\xe2\x96\x81");
	assert_true(m.pieces[29871].score == -1e9f);
	assert_string_equal(m.pieces[31999].text, "\xe7\xbb\x99");
	assert_true(m.pieces[31999].score == -31740.0f);
	assert_int_equal(m.pieces[31999].len, 3);
	spm_model_free(&m);
	free(data);
}

static void test_stories_stand_in(void **state)
{
	(void)state;
	size_t len;
	void *data = read_all("tests/data/stories260K/tokenizer.model", &len);
	struct spm_model m;
	struct fmt_error err = { "" };
	assert_int_equal(spm_model_parse(&m, data, len, &err), 0);
	assert_int_equal(m.count, 512);
	assert_int_equal(m.model_type, SPM_MODEL_BPE);
	assert_true(m.byte_fallback);
	assert_int_equal(m.pieces[3].type, SPM_PIECE_BYTE);
	assert_int_equal(m.pieces[258].type, SPM_PIECE_BYTE);
	assert_int_equal(m.pieces[259].type, SPM_PIECE_NORMAL);
	spm_model_free(&m);
	free(data);
}

/* ---- crafted ----------------------------------------------------------------------------- */

static void minimal(struct pb *p)
{
	p->n = 0;
	piece(p, "<unk>", 0, SPM_PIECE_UNKNOWN);
	piece(p, "<s>", 0, SPM_PIECE_CONTROL);
	piece(p, "</s>", 0, SPM_PIECE_CONTROL);
	piece(p, "a", -1.5f, 0);
	piece(p,
	      "\xe2\x96\x81"
	      "b",
	      -2.0f, SPM_PIECE_USER_DEFINED);
}

static void test_fields(void **state)
{
	(void)state;
	struct pb p, ts = { .n = 0 }, ns = { .n = 0 };
	struct spm_model m;
	struct fmt_error err = { "" };
	minimal(&p);
	int_field(&ts, 3, SPM_MODEL_BPE);
	int_field(&ts, 4, 5);
	int_field(&ts, 35, 1);
	int_field(&ts, 40, 0);
	int_field(&ts, 41, -1); /* a ten-byte varint */
	int_field(&ts, 42, 2);
	int_field(&ts, 43, 3);
	bytes_field(&ts, 1, "input.txt", 9); /* an unknown field: skipped */
	tag(&ts, 17, 1);                     /* a 64-bit field: skipped */
	put(&ts, "\0\0\0\0\0\0\0\0", 8);
	message(&p, 2, &ts);
	int_field(&ns, 3, 0);
	int_field(&ns, 4, 0);
	message(&p, 3, &ns);
	/* byte_fallback wants all 256 byte pieces */
	expect_refused(&p, "byte_fallback is set but only 0 of the 256 byte pieces");
	ts.n = 0;
	int_field(&ts, 3, SPM_MODEL_BPE);
	int_field(&ts, 41, -1);
	int_field(&ts, 43, 3);
	minimal(&p);
	message(&p, 2, &ts);
	message(&p, 3, &ns);
	assert_int_equal(parse(&p, &m, &err), 0);
	assert_int_equal(m.count, 5);
	assert_int_equal(m.bos_id, -1);
	assert_int_equal(m.pad_id, 3);
	assert_int_equal(m.eos_id, 2);
	assert_false(m.add_dummy_prefix);
	assert_false(m.remove_extra_whitespaces);
	assert_true(m.escape_whitespaces);
	assert_int_equal(m.pieces[3].type, SPM_PIECE_NORMAL); /* the proto's default */
	assert_true(m.pieces[3].score == -1.5f);
	assert_int_equal(m.pieces[4].type, SPM_PIECE_USER_DEFINED);
	assert_int_equal(m.pieces[4].len, 4);
	spm_model_free(&m);
}

static void test_refusals(void **state)
{
	(void)state;
	struct pb p = { .n = 0 }, ts = { .n = 0 };
	expect_refused(&p, "no pieces");
	minimal(&p);
	p.n -= 2;
	expect_refused(&p, "past the end of its message");
	minimal(&p);
	piece(&p, "a", 0, 0);
	expect_refused(&p, "piece 5 \"a\" repeats piece 3");
	minimal(&p);
	piece(&p, "\xff\xfe", 0, 0);
	expect_refused(&p, "piece 5 is not valid UTF-8");
	minimal(&p);
	piece(&p, "", 0, 0);
	expect_refused(&p, "piece 5 is empty");
	minimal(&p);
	piece(&p, "x", 0, 7);
	expect_refused(&p, "unknown type 7");
	minimal(&p);
	piece(&p, "x", NAN, 0);
	expect_refused(&p, "score that is not finite");
	minimal(&p);
	piece(&p, "<0x4g>", 0, SPM_PIECE_BYTE);
	expect_refused(&p, "has type BYTE but is not <0xNN>");
	minimal(&p);
	int_field(&ts, 40, 9);
	message(&p, 2, &ts);
	expect_refused(&p, "unk_id 9 is neither -1 nor a piece id");
	minimal(&p);
	tag(&p, 9, 3); /* a group */
	expect_refused(&p, "wire type 3");
	minimal(&p);
	tag(&p, 0, 0);
	varint(&p, 1);
	expect_refused(&p, "invalid field number 0");
	minimal(&p);
	int_field(&p, 1, 5); /* pieces as a varint */
	expect_refused(&p, "pieces (field 1) has wire type 0");
	minimal(&p);
	tag(&p, 9, 0);
	put(&p, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x7f", 10);
	expect_refused(&p, "varint longer than 64 bits");
	minimal(&p);
	tag(&p, 9, 0);
	put(&p, "\xff\xff", 2);
	expect_refused(&p, "truncated varint");
	minimal(&p);
	ts.n = 0;
	int_field(&ts, 41, (int64_t)1 << 40);
	message(&p, 2, &ts);
	expect_refused(&p, "is not a 32-bit integer");
}

int main(void)
{
	/* clang-format off */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_llama2_tokenizer),
		cmocka_unit_test(test_stories_stand_in),
		cmocka_unit_test(test_fields),
		cmocka_unit_test(test_refusals),
	};
	/* clang-format on */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
