/* formats/imatrix: both formats are written here (the legacy one byte by byte, the GGUF one
 * with formats/gguf_writer in llama-imatrix's layout), read back, and the importances
 * compared with llama-quantize's arithmetic; every refusal has a file that trips it. */
#include "unit.h"
#include "bytes.h"

#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "formats/gguf.h"
#include "formats/imatrix.h"

/* ---- bytes ----------------------------------------------------------------------------- */

static void put_i32(struct bytes *b, int32_t v)
{
	put_u32(b, (uint32_t)v);
}

static void put_f32(struct bytes *b, float f)
{
	uint32_t u;
	memcpy(&u, &f, 4);
	put_i32(b, (int32_t)u);
}

static void put_name(struct bytes *b, const char *name)
{
	put_i32(b, (int32_t)strlen(name));
	put(b, name, strlen(name));
}

static void put_legacy_entry(struct bytes *b, const char *name, int32_t ncall, const float *v, int32_t n)
{
	put_name(b, name);
	put_i32(b, ncall);
	put_i32(b, n);
	for (int32_t i = 0; i < n; i++)
		put_f32(b, v[i]);
}

static struct imatrix *expect_valid(const struct bytes *b)
{
	struct imatrix *im = NULL;
	struct fmt_error err = { "" };
	int rc = imatrix_read_memory(&im, b->data, b->len, &err);
	if (rc)
		fail_msg("refused: %s", err.message);
	return im;
}

static void expect_invalid(const struct bytes *b, const char *text)
{
	struct imatrix *im = NULL;
	struct fmt_error err = { "" };
	int rc = imatrix_read_memory(&im, b->data, b->len, &err);
	if (rc != FMT_EINVALID || !strstr(err.message, text))
		fail_msg("expected a refusal with '%s', got %d: %s", text, rc, err.message);
	assert_null(im);
}

/* ---- legacy ---------------------------------------------------------------------------- */

static const float attn_q[4] = { 2.0f, 4.0f, 0.5f, 7.0f };
static const float ffn[2] = { 3.0f, 1e-3f };

/* Two entries (ncall 3 and 0), then the chunk count and the dataset: what llama-imatrix
 * --output-format dat writes. */
static void legacy_file(struct bytes *b)
{
	put_i32(b, 2);
	put_legacy_entry(b, "blk.0.attn_q.weight", 3, attn_q, 4);
	put_legacy_entry(b, "blk.0.ffn_up.weight", 0, ffn, 2);
	put_i32(b, 100);
	put_name(b, "wiki.train.raw");
}

static void test_legacy_values(void **state)
{
	(void)state;
	struct bytes b = { 0 };
	legacy_file(&b);
	struct imatrix *im = expect_valid(&b);
	assert_int_equal(im->format, IMATRIX_LEGACY);
	assert_int_equal(im->n_entries, 2);
	assert_int_equal(im->chunk_count, 100);
	assert_int_equal(im->chunk_size, 0);
	assert_int_equal(im->n_datasets, 1);
	assert_string_equal(im->datasets[0], "wiki.train.raw");
	const struct imatrix_entry *e = imatrix_find(im, "blk.0.attn_q.weight");
	assert_non_null(e);
	assert_int_equal(e->n_values, 4);
	assert_int_equal(e->n_mat, 1);
	for (int i = 0; i < 4; i++)
		assert_true(e->values[i] == attn_q[i] / (float)3);
	/* ncall 0: the stored values as they are. */
	e = imatrix_find(im, "blk.0.ffn_up.weight");
	assert_non_null(e);
	assert_true(e->values[0] == 3.0f && e->values[1] == 1e-3f);
	assert_null(imatrix_find(im, "blk.0.attn_k.weight"));
	imatrix_free(im);
	free(b.data);
}

/* Older writers stopped after the entries, or after the chunk count. */
static void test_legacy_short_trailers(void **state)
{
	(void)state;
	struct bytes b = { 0 };
	put_i32(&b, 1);
	put_legacy_entry(&b, "output.weight", 1, ffn, 2);
	struct imatrix *im = expect_valid(&b);
	assert_int_equal(im->chunk_count, 0);
	assert_int_equal(im->n_datasets, 0);
	imatrix_free(im);
	put_i32(&b, 12);
	im = expect_valid(&b);
	assert_int_equal(im->chunk_count, 12);
	assert_int_equal(im->n_datasets, 0);
	imatrix_free(im);
	put_i32(&b, 0); /* an empty dataset name */
	im = expect_valid(&b);
	assert_int_equal(im->n_datasets, 0);
	imatrix_free(im);
	free(b.data);
}

/* Every cut is refused except the two that end where an older writer stopped. */
static void test_legacy_truncated_everywhere(void **state)
{
	(void)state;
	struct bytes b = { 0 };
	legacy_file(&b);
	size_t entries_end = b.len - 4 - 4 - strlen("wiki.train.raw");
	for (size_t len = 0; len < b.len; len++) {
		struct bytes cut = { b.data, len };
		struct imatrix *im = NULL;
		struct fmt_error err = { "" };
		int rc = imatrix_read_memory(&im, cut.data, cut.len, &err);
		if (len == entries_end || len == entries_end + 4) {
			assert_int_equal(rc, 0);
			imatrix_free(im);
			continue;
		}
		if (rc != FMT_EINVALID || !err.message[0])
			fail_msg("cut at %zu: %d '%s'", len, rc, err.message);
		assert_null(im);
	}
	free(b.data);
}

static void test_legacy_refusals(void **state)
{
	(void)state;
	static const float nan_values[2] = { 1.0f, NAN };
#define REFUSE(text, ...)                 \
	do {                              \
		struct bytes b = { 0 };   \
		__VA_ARGS__;              \
		expect_invalid(&b, text); \
		free(b.data);             \
	} while (0)
	REFUSE("entry count 0", put_i32(&b, 0));
	REFUSE("entry count -5", put_i32(&b, -5));
	REFUSE("cannot fit", put_i32(&b, 1000); put_legacy_entry(&b, "a", 1, ffn, 2));
	REFUSE("name length 0", put_i32(&b, 1); put_i32(&b, 0); put(&b, "xxxxxxxxxxxxxxxxxxxxx", 20));
	REFUSE("name length -3", put_i32(&b, 1); put_i32(&b, -3); put(&b, "xxxxxxxxxxxxxxxxxxxxx", 20));
	REFUSE("name length 64", put_i32(&b, 1); put_legacy_entry(
		       &b, "0123456789012345678901234567890123456789012345678901234567890123", 1, ffn, 2));
	REFUSE("NUL byte", put_i32(&b, 1); put_i32(&b, 3); put(&b, "a\0b", 3); put_i32(&b, 1); put_i32(&b, 1);
	       put_f32(&b, 1.0f));
	REFUSE("negative call count", put_i32(&b, 1); put_legacy_entry(&b, "a", -1, ffn, 2));
	REFUSE("value count 0", put_i32(&b, 1); put_legacy_entry(&b, "a", 1, ffn, 0); put_f32(&b, 1));
	/* An oversized value count is checked against the bytes left, not allocated. */
	REFUSE("only 8 left", put_i32(&b, 1); put_name(&b, "a"); put_i32(&b, 1); put_i32(&b, INT32_MAX);
	       put_f32(&b, 1); put_f32(&b, 1));
	REFUSE("duplicate entry 'a'", put_i32(&b, 2); put_legacy_entry(&b, "a", 1, ffn, 2);
	       put_legacy_entry(&b, "a", 1, ffn, 2));
	REFUSE("not finite", put_i32(&b, 1); put_legacy_entry(&b, "a", 1, nan_values, 2));
	REFUSE("negative chunk count", put_i32(&b, 1); put_legacy_entry(&b, "a", 1, ffn, 2); put_i32(&b, -1));
	REFUSE("negative dataset name length", put_i32(&b, 1); put_legacy_entry(&b, "a", 1, ffn, 2);
	       put_i32(&b, 1); put_i32(&b, -1));
	REFUSE("unexpected bytes", put_i32(&b, 1); put_legacy_entry(&b, "a", 1, ffn, 2); put_i32(&b, 1);
	       put_name(&b, "d"); put(&b, "!", 1));
	REFUSE("dataset name 0 contains a NUL", put_i32(&b, 1); put_legacy_entry(&b, "a", 1, ffn, 2);
	       put_i32(&b, 1); put_i32(&b, 2); put(&b, "d\0", 2));
	REFUSE("truncated", (void)0);
	REFUSE("truncated", put(&b, "GGU", 3));
}

/* ---- GGUF ------------------------------------------------------------------------------ */

struct tensor {
	const char *name;
	uint32_t type;
	uint64_t ne0, ne1;
	const float *data; /* F32 data; other types get zero bytes */
};

enum {
	META_DATASETS = 1,
	META_CHUNK_COUNT = 2,
	META_CHUNK_SIZE = 4,
	META_ALL = 7,
	META_COUNT_AS_I32 = 8, /* imatrix.chunk_count as INT32 */
	META_DATASETS_AS_STRING = 16,
};

/* llama-imatrix's layout: general.type, the three imatrix keys, then the tensors. */
static void gguf_file(struct bytes *out, const char *general_type, int meta, const struct tensor *t, size_t n)
{
	static const char *const datasets[] = { "calibration.txt", "wiki.train.raw" };
	struct gguf_writer *w = NULL;
	struct fmt_error err = { "" };
	FILE *f = tmpfile();
	assert_non_null(f);
	int fd = fileno(f);
	assert_int_equal(gguf_writer_begin(&w, fd, &err), 0);
	if (general_type)
		assert_int_equal(gguf_writer_add_string(w, "general.type", general_type), 0);
	if (meta & META_DATASETS_AS_STRING)
		assert_int_equal(gguf_writer_add_string(w, "imatrix.datasets", "x"), 0);
	else if (meta & META_DATASETS)
		assert_int_equal(gguf_writer_add_array_string(w, "imatrix.datasets", datasets, NULL, 2), 0);
	if (meta & META_COUNT_AS_I32)
		assert_int_equal(gguf_writer_add_i32(w, "imatrix.chunk_count", 10), 0);
	else if (meta & META_CHUNK_COUNT)
		assert_int_equal(gguf_writer_add_u32(w, "imatrix.chunk_count", 10), 0);
	if (meta & META_CHUNK_SIZE)
		assert_int_equal(gguf_writer_add_u32(w, "imatrix.chunk_size", 512), 0);
	for (size_t i = 0; i < n; i++) {
		uint64_t ne[2] = { t[i].ne0, t[i].ne1 };
		assert_int_equal(gguf_writer_add_tensor(w, t[i].name, t[i].type, 2, ne), 0);
	}
	for (size_t i = 0; i < n; i++) {
		uint64_t ne[2] = { t[i].ne0, t[i].ne1 }, nbytes;
		assert_int_equal(gguf_tensor_nbytes(t[i].type, 2, ne, &nbytes), 0);
		void *zeros = calloc(1, (size_t)nbytes + 1);
		assert_non_null(zeros);
		assert_int_equal(gguf_writer_write_tensor_data(w, t[i].data ? (const void *)t[i].data : zeros,
							       (size_t)nbytes),
				 0);
		free(zeros);
	}
	assert_int_equal(gguf_writer_finish(w), 0);
	gguf_writer_free(w);
	off_t len = lseek(fd, 0, SEEK_END);
	assert_true(len > 0);
	out->data = malloc((size_t)len + 1);
	assert_non_null(out->data);
	assert_int_equal(pread(fd, out->data, (size_t)len, 0), len);
	out->len = (size_t)len;
	fclose(f);
}

/* A dense matrix (row 4, one count) and an MoE one (row 2, 3 experts: counts 2, 0 and
 * 2.6, which llama.cpp rounds to 3). */
static const float q_sums[4] = { 6.0f, 1.0f, 0.25f, 9.0f };
static const float q_counts[1] = { 3.0f };
static const float exp_sums[6] = { 4.0f, 2.0f, NAN, INFINITY, 5.0f, 1.0f };
static const float exp_counts[3] = { 2.0f, 0.0f, 2.6f };

static const struct tensor good[] = {
	{ "blk.0.attn_q.weight.counts", GGUF_TENSOR_F32, 1, 1, q_counts },
	{ "blk.0.attn_q.weight.in_sum2", GGUF_TENSOR_F32, 4, 1, q_sums },
	{ "blk.0.ffn_down_exps.weight.in_sum2", GGUF_TENSOR_F32, 2, 3, exp_sums },
	{ "blk.0.ffn_down_exps.weight.counts", GGUF_TENSOR_F32, 1, 3, exp_counts },
	{ "blk.0.ffn_down_exps.weight.in_sum", GGUF_TENSOR_F32, 2, 3, NULL }, /* skipped */
};

static void test_gguf_values(void **state)
{
	(void)state;
	struct bytes b = { 0 };
	gguf_file(&b, "imatrix", META_ALL, good, 5);
	struct imatrix *im = expect_valid(&b);
	assert_int_equal(im->format, IMATRIX_GGUF);
	assert_int_equal(im->n_entries, 2);
	assert_int_equal(im->chunk_count, 10);
	assert_int_equal(im->chunk_size, 512);
	assert_int_equal(im->n_datasets, 2);
	assert_string_equal(im->datasets[0], "calibration.txt");
	assert_string_equal(im->datasets[1], "wiki.train.raw");
	const struct imatrix_entry *e = imatrix_find(im, "blk.0.attn_q.weight");
	assert_non_null(e);
	assert_int_equal(e->n_values, 4);
	assert_int_equal(e->n_mat, 1);
	assert_int_equal(e->n_mat_empty, 0);
	for (int i = 0; i < 4; i++)
		assert_true(e->values[i] == q_sums[i] / 3.0f);
	e = imatrix_find(im, "blk.0.ffn_down_exps.weight");
	assert_non_null(e);
	assert_int_equal(e->n_values, 6);
	assert_int_equal(e->n_mat, 3);
	assert_int_equal(e->n_mat_empty, 1);
	assert_true(e->values[0] == 2.0f && e->values[1] == 1.0f);
	/* The expert that never fired: 1 everywhere, whatever its sums (even NaN and Inf). */
	assert_true(e->values[2] == 1.0f && e->values[3] == 1.0f);
	assert_true(e->values[4] == 5.0f / 3.0f && e->values[5] == 1.0f / 3.0f);
	imatrix_free(im);
	free(b.data);
	/* general.type may be absent (llama.cpp does not read it); the imatrix keys decide. */
	gguf_file(&b, NULL, META_ALL, good, 2);
	im = expect_valid(&b);
	assert_int_equal(im->n_entries, 1);
	imatrix_free(im);
	free(b.data);
}

static void refuse_gguf(const char *general_type, int meta, const struct tensor *t, size_t n,
			const char *text)
{
	struct bytes b = { 0 };
	gguf_file(&b, general_type, meta, t, n);
	expect_invalid(&b, text);
	free(b.data);
}

static void test_gguf_refusals(void **state)
{
	(void)state;
	static const float neg[1] = { -1.0f }, nan_count[1] = { NAN }, inf_sum[4] = { 1, INFINITY, 1, 1 };
	refuse_gguf("model", META_ALL, good, 2, "general.type is 'model'");
	refuse_gguf("imatrix", META_ALL & ~META_CHUNK_SIZE, good, 2, "'imatrix.chunk_size' is missing");
	refuse_gguf("imatrix", META_ALL & ~META_DATASETS, good, 2, "'imatrix.datasets' is missing");
	refuse_gguf("imatrix", META_ALL | META_COUNT_AS_I32, good, 2, "imatrix.chunk_count");
	refuse_gguf("imatrix", META_ALL | META_DATASETS_AS_STRING, good, 2, "ARRAY of STRING");
	refuse_gguf("imatrix", META_ALL, good + 1, 1, "has no 'blk.0.attn_q.weight.counts'");
	refuse_gguf("imatrix", META_ALL, good, 1, "has no 'blk.0.attn_q.weight.in_sum2'");
	refuse_gguf("imatrix", META_ALL, good + 4, 1, "no entries");
	const struct tensor f16[] = { { "a.in_sum2", GGUF_TENSOR_F16, 4, 1, NULL },
				      { "a.counts", GGUF_TENSOR_F32, 1, 1, q_counts } };
	refuse_gguf("imatrix", META_ALL, f16, 2, "has type F16, must be F32");
	const struct tensor shape[] = { { "a.in_sum2", GGUF_TENSOR_F32, 2, 2, q_sums },
					{ "a.counts", GGUF_TENSOR_F32, 1, 1, q_counts } };
	refuse_gguf("imatrix", META_ALL, shape, 2, "one count per row");
	const struct tensor negative[] = { { "a.in_sum2", GGUF_TENSOR_F32, 4, 1, q_sums },
					   { "a.counts", GGUF_TENSOR_F32, 1, 1, neg } };
	refuse_gguf("imatrix", META_ALL, negative, 2, "count 0 is -1");
	static const float huge_count[1] = { 1e19f };
	const struct tensor huge[] = { { "a.in_sum2", GGUF_TENSOR_F32, 4, 1, q_sums },
				       { "a.counts", GGUF_TENSOR_F32, 1, 1, huge_count } };
	refuse_gguf("imatrix", META_ALL, huge, 2, "count 0 is 1e+19");
	const struct tensor nan[] = { { "a.in_sum2", GGUF_TENSOR_F32, 4, 1, q_sums },
				      { "a.counts", GGUF_TENSOR_F32, 1, 1, nan_count } };
	refuse_gguf("imatrix", META_ALL, nan, 2, "count 0 is nan");
	const struct tensor inf[] = { { "a.in_sum2", GGUF_TENSOR_F32, 4, 1, inf_sum },
				      { "a.counts", GGUF_TENSOR_F32, 1, 1, q_counts } };
	refuse_gguf("imatrix", META_ALL, inf, 2, "importance 1 is inf");
	const struct tensor unnamed[] = { { ".in_sum2", GGUF_TENSOR_F32, 4, 1, q_sums },
					  { ".counts", GGUF_TENSOR_F32, 1, 1, q_counts } };
	refuse_gguf("imatrix", META_ALL, unnamed, 2, "entry name of 0 bytes");
	/* A broken GGUF is reported as such, not read as a legacy file. */
	struct bytes b = { 0 };
	gguf_file(&b, "imatrix", META_ALL, good, 2);
	b.len -= 40; /* into the last tensor's data */
	expect_invalid(&b, "past the end");
	free(b.data);
}

/* ---- files ----------------------------------------------------------------------------- */

/* The content decides, not the name: a legacy file called .gguf and a GGUF called .dat. */
static void test_told_apart_by_content(void **state)
{
	(void)state;
	char dir[] = "/tmp/test_imatrix.XXXXXX", path[64];
	struct bytes legacy = { 0 }, gguf = { 0 };
	struct imatrix *im = NULL;
	struct fmt_error err = { "" };
	assert_non_null(mkdtemp(dir));
	legacy_file(&legacy);
	gguf_file(&gguf, "imatrix", META_ALL, good, 2);
	snprintf(path, sizeof(path), "%s/imatrix.gguf", dir);
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(legacy.data, 1, legacy.len, f), legacy.len);
	fclose(f);
	assert_int_equal(imatrix_read_file(&im, path, &err), 0);
	assert_int_equal(im->format, IMATRIX_LEGACY);
	imatrix_free(im);
	unlink(path);
	snprintf(path, sizeof(path), "%s/imatrix.dat", dir);
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(gguf.data, 1, gguf.len, f), gguf.len);
	fclose(f);
	assert_int_equal(imatrix_read_file(&im, path, &err), 0);
	assert_int_equal(im->format, IMATRIX_GGUF);
	imatrix_free(im);
	unlink(path);
	assert_int_equal(imatrix_read_file(&im, path, &err), FMT_ENOTFOUND);
	assert_null(im);
	rmdir(dir);
	free(legacy.data);
	free(gguf.data);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_legacy_values),
		cmocka_unit_test(test_legacy_short_trailers),
		cmocka_unit_test(test_legacy_truncated_everywhere),
		cmocka_unit_test(test_legacy_refusals),
		cmocka_unit_test(test_gguf_values),
		cmocka_unit_test(test_gguf_refusals),
		cmocka_unit_test(test_told_apart_by_content),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
