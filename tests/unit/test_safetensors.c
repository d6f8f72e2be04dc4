/* formats/safetensors: each check of the reference reader has a crafted file that trips
 * it (built here into a temp dir), rows convert exactly from BF16/F16/F32 at any
 * alignment, sharded checkpoints are checked against their weight_map, and the real
 * stories260K checkpoint reads back the bytes it holds. */
#include "unit.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "formats/safetensors.h"
#include "quant/quant.h"

static char tmpdir[64];
static char path[160];

static void write_file(const char *file, const void *data, size_t len)
{
	FILE *f = fopen(file, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

/* A safetensors file: the 8-byte length, the header as given, then data bytes. */
static void write_st(const char *file, const char *header, size_t header_len, const void *data,
		     size_t data_len)
{
	size_t len = 8 + header_len + data_len;
	unsigned char *p = malloc(len);
	assert_non_null(p);
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)((uint64_t)header_len >> (8 * i));
	memcpy(p + 8, header, header_len);
	for (size_t i = 0; i < data_len; i++)
		p[8 + header_len + i] = data ? ((const unsigned char *)data)[i] : (unsigned char)(i * 7);
	write_file(file, p, len);
	free(p);
}

static void expect_failure_at(const char *file, int code, const char *msg)
{
	struct safetensors *st = NULL;
	struct fmt_error err = { "" };
	int rc = safetensors_open(&st, file, &err);
	if (rc != code || !strstr(err.message, msg))
		print_error("expected %d with '%s', got %d: '%s'\n", code, msg, rc, err.message);
	assert_int_equal(rc, code);
	assert_non_null(strstr(err.message, msg));
	assert_null(st);
}

/* The header as text, data_len bytes of data after it. */
static void expect_failure(const char *header, size_t data_len, const char *msg)
{
	write_st(path, header, strlen(header), NULL, data_len);
	expect_failure_at(path, FMT_EINVALID, msg);
}

static struct safetensors *open_ok(const char *file)
{
	struct safetensors *st = NULL;
	struct fmt_error err = { "" };
	int rc = safetensors_open(&st, file, &err);
	if (rc)
		print_error("unexpected failure: %s\n", err.message);
	assert_int_equal(rc, 0);
	return st;
}

static struct safetensors *valid(const char *header, size_t data_len)
{
	write_st(path, header, strlen(header), NULL, data_len);
	return open_ok(path);
}

/* ---- the byte layout ------------------------------------------------------------------- */

static void test_header_length(void **state)
{
	(void)state;
	unsigned char small[7] = { 2, 0, 0, 0, 0, 0, 0 };
	write_file(path, small, sizeof(small));
	expect_failure_at(path, FMT_EINVALID, "too small");
	unsigned char big[16] = { 0 };
	uint64_t n = 100000001; /* MAX_HEADER_SIZE + 1 */
	for (int i = 0; i < 8; i++)
		big[i] = (unsigned char)(n >> (8 * i));
	write_file(path, big, sizeof(big));
	expect_failure_at(path, FMT_EINVALID, "over the limit");
	unsigned char past[12] = { 5, 0, 0, 0, 0, 0, 0, 0, '{', '}', ' ', ' ' };
	write_file(path, past, sizeof(past));
	expect_failure_at(path, FMT_EINVALID, "past the end of the file");
	unsigned char max[12] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, '{', '}' };
	write_file(path, max, sizeof(max));
	expect_failure_at(path, FMT_EINVALID, "over the limit");
}

static void test_header_text(void **state)
{
	(void)state;
	expect_failure("{\"a\xff\": 1}", 0, "not valid UTF-8 (file offset 11)");
	expect_failure("{\"\xc0\xaf\": 1}", 0, "UTF-8");     /* overlong '/' */
	expect_failure("{\"\xed\xa0\x80\": 1}", 0, "UTF-8"); /* a surrogate */
	expect_failure(" {}", 0, "start with '{'");
	expect_failure("[]", 0, "start with '{'");
	expect_failure("", 0, "start with '{'");
	expect_failure("{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]},}", 4,
		       "invalid header JSON");
	expect_failure("{", 0, "invalid header JSON");
	expect_failure("{} x", 0, "unexpected text after the value");
	expect_failure("{}\n\x01", 0, "invalid header JSON");
	expect_failure("{\"a\tb\": 1}", 0, "control character");
	expect_failure("{\"a\\qb\": 1}", 0, "invalid escape");
	expect_failure("{\"\\ud800x\": 1}", 0, "surrogate");
	expect_failure("{\"\\udc00\": 1}", 0, "surrogate");
	expect_failure("{\"__metadata__\": {\"a\": \"b\"}, \"x\": {\"dtype\": \"F32\", \"shape\": [01], "
		       "\"data_offsets\": [0, 4]}}",
		       4, "invalid header JSON");
	/* Right-padding with spaces is allowed, as is whitespace JSON accepts. */
	struct safetensors *st = valid("{\"__metadata__\": {\"format\": \"pt\"}}  \n\t   ", 0);
	assert_int_equal(safetensors_tensor_count(st), 0);
	assert_true(safetensors_file_has_metadata(st, 0));
	const struct safetensors_metadata_entry *e = safetensors_metadata(st, 0, 0);
	assert_string_equal(e->key, "format");
	assert_string_equal(e->value, "pt");
	safetensors_close(st);
}

static void test_depth_limit(void **state)
{
	(void)state;
	char header[1024];
	size_t n = 0;
	n += (size_t)sprintf(
		header, "{\"x\": {\"dtype\": \"U8\", \"shape\": [1], \"data_offsets\": [0, 1], \"extra\": ");
	for (int i = 0; i < 200; i++)
		header[n++] = '[';
	for (int i = 0; i < 200; i++)
		header[n++] = ']';
	strcpy(header + n, "}}");
	expect_failure(header, 1, "nested too deeply");
}

static void test_duplicates(void **state)
{
	(void)state;
	expect_failure("{\"a\": {\"dtype\": \"U8\", \"shape\": [1], \"data_offsets\": [0, 1]}, "
		       "\"a\": {\"dtype\": \"U8\", \"shape\": [1], \"data_offsets\": [1, 2]}}",
		       2, "duplicate key 'a'");
	/* An escaped spelling of the same name is the same name. */
	expect_failure("{\"a\": {\"dtype\": \"U8\", \"shape\": [1], \"data_offsets\": [0, 1]}, "
		       "\"\\u0061\": {\"dtype\": \"U8\", \"shape\": [1], \"data_offsets\": [1, 2]}}",
		       2, "duplicate key 'a'");
	expect_failure("{\"__metadata__\": {}, \"__metadata__\": {}}", 0, "duplicate key '__metadata__'");
	expect_failure("{\"__metadata__\": {\"k\": \"1\", \"k\": \"2\"}}", 0,
		       "duplicate key 'k' in __metadata__");
	expect_failure(
		"{\"a\": {\"dtype\": \"U8\", \"dtype\": \"U8\", \"shape\": [1], \"data_offsets\": [0, 1]}}",
		1, "duplicate field \"dtype\"");
}

static void test_fields(void **state)
{
	(void)state;
	expect_failure("{\"__metadata__\": {\"k\": 1}}", 0, "must be a string");
	expect_failure("{\"__metadata__\": [\"k\"]}", 0, "must be an object");
	expect_failure("{\"a\": [1]}", 0, "expected an object");
	expect_failure("{\"a\": {\"dtype\": \"Q4\", \"shape\": [1], \"data_offsets\": [0, 1]}}", 1,
		       "unknown dtype \"Q4\"");
	expect_failure("{\"a\": {\"dtype\": 8, \"shape\": [1], \"data_offsets\": [0, 1]}}", 1,
		       "dtype at file offset");
	expect_failure("{\"a\": {\"shape\": [1], \"data_offsets\": [0, 1]}}", 1, "missing \"dtype\"");
	expect_failure("{\"a\": {\"dtype\": \"U8\", \"data_offsets\": [0, 1]}}", 1, "missing \"shape\"");
	expect_failure("{\"a\": {\"dtype\": \"U8\", \"shape\": [1]}}", 1, "missing \"data_offsets\"");
	expect_failure("{\"a\": {\"dtype\": \"U8\", \"shape\": [-1], \"data_offsets\": [0, 1]}}", 1,
		       "non-negative integer");
	expect_failure("{\"a\": {\"dtype\": \"U8\", \"shape\": [1.0], \"data_offsets\": [0, 1]}}", 1,
		       "fraction or an exponent");
	expect_failure("{\"a\": {\"dtype\": \"U8\", \"shape\": [1e0], \"data_offsets\": [0, 1]}}", 1,
		       "fraction or an exponent");
	expect_failure(
		"{\"a\": {\"dtype\": \"U8\", \"shape\": [18446744073709551616], \"data_offsets\": [0, 1]}}",
		1, "64 bits");
	expect_failure("{\"a\": {\"dtype\": \"U8\", \"shape\": [1], \"data_offsets\": [0, 1, 1]}}", 1,
		       "expected 2");
	expect_failure("{\"a\": {\"dtype\": \"U8\", \"shape\": \"1\", \"data_offsets\": [0, 1]}}", 1,
		       "expected an array");
	expect_failure("{\"a\\u0000b\": {\"dtype\": \"U8\", \"shape\": [1], \"data_offsets\": [0, 1]}}", 1,
		       "NUL");
	/* Unknown fields are ignored, as the reference does. */
	struct safetensors *st =
		valid("{\"a\": {\"dtype\": \"U8\", \"shape\": [1], \"data_offsets\": [0, 1], "
		      "\"note\": {\"x\": [1.5, null, true]}}}",
		      1);
	assert_int_equal(safetensors_tensor_count(st), 1);
	safetensors_close(st);
}

/* ---- Metadata::validate ---------------------------------------------------------------- */

static void test_offsets(void **state)
{
	(void)state;
	expect_failure("{\"a\": {\"dtype\": \"U8\", \"shape\": [2], \"data_offsets\": [1, 3]}}", 3,
		       "should begin at 0");
	expect_failure("{\"a\": {\"dtype\": \"U8\", \"shape\": [2], \"data_offsets\": [0, 2]}, "
		       "\"b\": {\"dtype\": \"U8\", \"shape\": [2], \"data_offsets\": [3, 5]}}",
		       5, "'b': data_offsets [3, 5] should begin at 2"); /* a gap */
	expect_failure("{\"a\": {\"dtype\": \"U8\", \"shape\": [2], \"data_offsets\": [0, 2]}, "
		       "\"b\": {\"dtype\": \"U8\", \"shape\": [2], \"data_offsets\": [1, 3]}}",
		       3, "should begin at 2"); /* an overlap */
	expect_failure("{\"a\": {\"dtype\": \"U8\", \"shape\": [0], \"data_offsets\": [0, 0]}, "
		       "\"b\": {\"dtype\": \"U8\", \"shape\": [0], \"data_offsets\": [3, 2]}}",
		       3, "should begin at 0"); /* end before begin */
	/* Listed out of order but contiguous once sorted: fine, returned in data order. */
	struct safetensors *st =
		valid("{\"b\": {\"dtype\": \"U8\", \"shape\": [3], \"data_offsets\": [2, 5]}, "
		      "\"a\": {\"dtype\": \"U16\", \"shape\": [1], \"data_offsets\": [0, 2]}}",
		      5);
	assert_string_equal(safetensors_tensor(st, 0)->name, "a");
	assert_string_equal(safetensors_tensor(st, 1)->name, "b");
	assert_int_equal(safetensors_tensor(st, 1)->file_offset, 8 + safetensors_file_header_size(st, 0) + 2);
	assert_int_equal(safetensors_find(st, "b"), 1);
	assert_int_equal(safetensors_find(st, "c"), -1);
	safetensors_close(st);
}

static void test_sizes(void **state)
{
	(void)state;
	expect_failure("{\"a\": {\"dtype\": \"F32\", \"shape\": [2, 3], \"data_offsets\": [0, 20]}}", 20,
		       "hold 20 bytes, but shape [2, 3] of F32 needs 24");
	expect_failure(
		"{\"a\": {\"dtype\": \"F32\", \"shape\": [4294967296, 4294967296, 2], \"data_offsets\": [0, 0]}}",
		0, "overflows");
	/* The product is checked step by step, as try_fold does: a later 0 does not save it. */
	expect_failure(
		"{\"a\": {\"dtype\": \"U8\", \"shape\": [4294967296, 4294967296, 0], \"data_offsets\": [0, 0]}}",
		0, "overflows");
	expect_failure(
		"{\"a\": {\"dtype\": \"U64\", \"shape\": [2305843009213693952], \"data_offsets\": [0, 0]}}",
		0, "bit size");
	expect_failure("{\"a\": {\"dtype\": \"F4\", \"shape\": [3], \"data_offsets\": [0, 2]}}", 2,
		       "not a whole number of bytes");
	/* The data must cover the rest of the file: one byte too many, or too few. */
	expect_failure("{\"a\": {\"dtype\": \"U8\", \"shape\": [2], \"data_offsets\": [0, 2]}}", 3,
		       "cover the rest of the file");
	expect_failure("{\"a\": {\"dtype\": \"U8\", \"shape\": [2], \"data_offsets\": [0, 2]}}", 1,
		       "cover the rest of the file");
	/* Zero-size tensors and scalars. */
	struct safetensors *st =
		valid("{\"s\": {\"dtype\": \"F32\", \"shape\": [], \"data_offsets\": [0, 4]}, "
		      "\"z\": {\"dtype\": \"F32\", \"shape\": [3, 0], \"data_offsets\": [4, 4]}, "
		      "\"f4\": {\"dtype\": \"F4\", \"shape\": [2, 2], \"data_offsets\": [4, 6]}}",
		      6);
	const struct safetensors_tensor *t = safetensors_tensor(st, 0);
	assert_string_equal(t->name, "s");
	assert_int_equal(t->n_elements, 1);
	assert_int_equal(t->row_count, 1);
	assert_int_equal(t->row_length, 1);
	t = safetensors_tensor(st, safetensors_find(st, "z"));
	assert_int_equal(t->n_elements, 0);
	assert_int_equal(t->row_count, 3);
	assert_int_equal(t->row_length, 0);
	safetensors_close(st);
}

static void test_every_dtype_by_name(void **state)
{
	(void)state;
	static const struct {
		const char *name;
		unsigned bits;
		/* clang-format off */
	} names[] = { /* doc/gguf.md §1 */
		{ "BOOL", 8 }, { "F4", 4 }, { "F6_E2M3", 6 }, { "F6_E3M2", 6 }, { "U8", 8 }, { "I8", 8 },
		{ "F8_E5M2", 8 }, { "F8_E4M3", 8 }, { "F8_E8M0", 8 }, { "F8_E4M3FNUZ", 8 },
		{ "F8_E5M2FNUZ", 8 }, { "I16", 16 }, { "U16", 16 }, { "F16", 16 }, { "BF16", 16 },
		{ "I32", 32 }, { "U32", 32 }, { "F32", 32 }, { "C64", 64 }, { "F64", 64 },
		{ "I64", 64 }, { "U64", 64 },
	};
	/* clang-format on */
	char header[4096];
	size_t n = 0, offset = 0, count = sizeof(names) / sizeof(names[0]);
	n += (size_t)sprintf(header + n, "{");
	for (size_t i = 0; i < count; i++) {
		size_t bytes = 8 * names[i].bits / 8; /* shape [8] */
		n += (size_t)sprintf(
			header + n,
			"%s\"t%02zu\": {\"dtype\": \"%s\", \"shape\": [8], \"data_offsets\": [%zu, %zu]}",
			i ? ", " : "", i, names[i].name, offset, offset + bytes);
		offset += bytes;
	}
	sprintf(header + n, "}");
	struct safetensors *st = valid(header, offset);
	assert_int_equal(safetensors_tensor_count(st), count);
	for (size_t i = 0; i < count; i++) {
		const struct safetensors_tensor *t = safetensors_tensor(st, i);
		assert_string_equal(safetensors_dtype_name(t->dtype), names[i].name);
		assert_int_equal(safetensors_dtype_bits(t->dtype), names[i].bits);
	}
	safetensors_close(st);
}

/* ---- rows ------------------------------------------------------------------------------ */

/* Row r of tensor i in the mapping (convert turns it into F32 with dequant_row). */
static const unsigned char *row_bytes(const struct safetensors *st, size_t i, uint64_t r)
{
	const struct safetensors_tensor *t = safetensors_tensor(st, i);
	return (const unsigned char *)safetensors_tensor_data(st, i) +
	       r * t->row_length * (safetensors_dtype_bits(t->dtype) / 8);
}

/* Header lengths of 13 and 14 put the data at odd and at 2 mod 4 file offsets; the rows
 * convert from there. */
static void test_rows_unaligned(void **state)
{
	(void)state;
	static const uint16_t f16[] = { 0x3c00, 0xc000, 0x0001, 0x03ff, 0x7bff, 0x7c00, 0xfc00, 0x8000 };
	const float f16_expected[] = { 1.0f,     -2.0f,    ldexpf(1, -24), ldexpf(1023, -24),
				       65504.0f, INFINITY, -INFINITY,      -0.0f };
	static const uint16_t bf16[] = { 0x3f80, 0x4049, 0xff80, 0x0001 };
	static const float f32[] = { 1.5f, -3.25e-7f, 1e30f };
	for (size_t pad = 0; pad < 4; pad++) {
		char header[512];
		unsigned char data[64];
		size_t n = 0;
		int len = sprintf(
			header,
			"{\"h\": {\"dtype\": \"F16\", \"shape\": [2, 4], \"data_offsets\": [0, 16]}, "
			"\"b\": {\"dtype\": \"BF16\", \"shape\": [4], \"data_offsets\": [16, 24]}, "
			"\"f\": {\"dtype\": \"F32\", \"shape\": [1, 3], \"data_offsets\": [24, 36]}}%*s",
			(int)pad, "");
		for (size_t i = 0; i < 8; i++) {
			data[n++] = (unsigned char)f16[i];
			data[n++] = (unsigned char)(f16[i] >> 8);
		}
		for (size_t i = 0; i < 4; i++) {
			data[n++] = (unsigned char)bf16[i];
			data[n++] = (unsigned char)(bf16[i] >> 8);
		}
		for (size_t i = 0; i < 3; i++) {
			uint32_t u;
			memcpy(&u, &f32[i], 4);
			for (int k = 0; k < 4; k++)
				data[n++] = (unsigned char)(u >> (8 * k));
		}
		write_st(path, header, (size_t)len, data, n);
		struct safetensors *st = open_ok(path);
		float row[4];
		size_t h = (size_t)safetensors_find(st, "h"), b = (size_t)safetensors_find(st, "b");
		size_t f = (size_t)safetensors_find(st, "f");
		assert_int_equal(safetensors_tensor(st, h)->file_offset % 4, (8 + (size_t)len) % 4);
		for (uint64_t r = 0; r < 2; r++) {
			dequant_row(QUANT_F16, row_bytes(st, h, r), row, 4);
			for (int i = 0; i < 4; i++) {
				assert_true(row[i] == f16_expected[r * 4 + i]);
				assert_int_equal(signbit(row[i]) != 0, signbit(f16_expected[r * 4 + i]) != 0);
			}
		}
		dequant_row(QUANT_BF16, row_bytes(st, b, 0), row, 4);
		assert_true(row[0] == 1.0f);
		assert_true(row[1] == 3.140625f);
		assert_true(row[2] == -INFINITY);
		assert_true(row[3] == ldexpf(1, -133));
		dequant_row(QUANT_F32, row_bytes(st, f, 0), row, 3);
		assert_memory_equal(row, f32, sizeof(f32));
		safetensors_close(st);
	}
}

/* ---- checkpoints ----------------------------------------------------------------------- */

static void shard(const char *dir, const char *name, const char *tensors_json, size_t data_len)
{
	char file[256];
	snprintf(file, sizeof(file), "%s/%s", dir, name);
	write_st(file, tensors_json, strlen(tensors_json), NULL, data_len);
}

static void index_file(const char *dir, const char *json)
{
	char file[256];
	snprintf(file, sizeof(file), "%s/model.safetensors.index.json", dir);
	write_file(file, json, strlen(json));
}

static void clear_dir(const char *dir)
{
	static const char *const names[] = { "model.safetensors.index.json", "model-1.safetensors",
					     "model-2.safetensors", "model.safetensors", "other.json" };
	char file[256];
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(file, sizeof(file), "%s/%s", dir, names[i]);
		unlink(file);
	}
	rmdir(dir);
}

static void make_shards(const char *dir)
{
	mkdir(dir, 0755);
	shard(dir, "model-1.safetensors",
	      "{\"__metadata__\": {\"format\": \"pt\"}, \"a\": {\"dtype\": \"U8\", \"shape\": [2], \"data_offsets\": [0, 2]}, "
	      "\"b\": {\"dtype\": \"U8\", \"shape\": [1], \"data_offsets\": [2, 3]}}",
	      3);
	shard(dir, "model-2.safetensors",
	      "{\"__metadata__\": {\"format\": \"pt\"}, \"c\": {\"dtype\": \"BF16\", \"shape\": [2], \"data_offsets\": [0, 4]}}",
	      4);
}

static void test_sharded(void **state)
{
	(void)state;
	char dir[128], index[200];
	snprintf(dir, sizeof(dir), "%s/sharded", tmpdir);
	snprintf(index, sizeof(index), "%s/model.safetensors.index.json", dir);
	make_shards(dir);
	index_file(dir,
		   "{\"metadata\": {\"total_size\": 7}, \"weight_map\": {\"c\": \"model-2.safetensors\", "
		   "\"a\": \"model-1.safetensors\", \"b\": \"model-1.safetensors\"}}");
	/* The directory and the index itself open the same checkpoint. */
	for (int how = 0; how < 2; how++) {
		struct safetensors *st = open_ok(how ? index : dir);
		uint64_t total;
		assert_int_equal(safetensors_file_count(st), 2);
		assert_int_equal(safetensors_tensor_count(st), 3);
		assert_string_equal(safetensors_tensor(st, 2)->name, "c");
		assert_int_equal(safetensors_tensor(st, 2)->file, 1);
		assert_non_null(safetensors_index_path(st));
		assert_true(safetensors_index_total_size(st, &total));
		assert_int_equal(total, 7);
		safetensors_close(st);
	}
	index_file(dir, "{\"weight_map\": {\"a\": \"model-1.safetensors\", \"b\": \"model-1.safetensors\", "
			"\"c\": \"model-2.safetensors\", \"d\": \"model-2.safetensors\"}}");
	expect_failure_at(dir, FMT_EINVALID,
			  "weight_map lists tensor 'd' in model-2.safetensors, which does not hold it");
	index_file(dir, "{\"weight_map\": {\"a\": \"model-1.safetensors\", \"c\": \"model-2.safetensors\"}}");
	expect_failure_at(dir, FMT_EINVALID, "tensor 'b' in model-1.safetensors is not listed in weight_map");
	index_file(dir, "{\"weight_map\": {\"a\": \"model-1.safetensors\", \"b\": \"model-2.safetensors\", "
			"\"c\": \"model-2.safetensors\"}}");
	expect_failure_at(dir, FMT_EINVALID,
			  "'b' is in model-1.safetensors but weight_map puts it in model-2.safetensors");
	index_file(dir, "{\"weight_map\": {\"a\": \"model-1.safetensors\", \"b\": \"model-1.safetensors\", "
			"\"c\": \"model-3.safetensors\"}}");
	expect_failure_at(dir, FMT_EINVALID, "model-3.safetensors: cannot open");
	index_file(dir, "{\"weight_map\": {\"a\": \"../model-1.safetensors\"}}");
	expect_failure_at(dir, FMT_EINVALID, "not a plain file name");
	index_file(dir, "{\"weight_map\": {\"a\": \"model-1.safetensors\", \"a\": \"model-1.safetensors\"}}");
	expect_failure_at(dir, FMT_EINVALID, "duplicate key 'a' in weight_map");
	index_file(dir, "{\"weight_map\": [\"model-1.safetensors\"]}");
	expect_failure_at(dir, FMT_EINVALID, "no \"weight_map\" object");
	index_file(dir, "{\"weight_map\": {\"a\": 1}}");
	expect_failure_at(dir, FMT_EINVALID, "must be a file name string");
	index_file(dir, "{\"weight_map\": {\"a\": \"model-1.safetensors\",}}");
	expect_failure_at(dir, FMT_EINVALID, "index is not valid JSON");
	index_file(dir, "{\"metadata\": {\"total_size\": -1}, \"weight_map\": {}}");
	expect_failure_at(dir, FMT_EINVALID, "total_size");
	/* A bad shard is named in the message. */
	shard(dir, "model-2.safetensors",
	      "{\"c\": {\"dtype\": \"BF16\", \"shape\": [2], \"data_offsets\": [0, 4]}}", 5);
	index_file(dir, "{\"weight_map\": {\"a\": \"model-1.safetensors\", \"b\": \"model-1.safetensors\", "
			"\"c\": \"model-2.safetensors\"}}");
	expect_failure_at(dir, FMT_EINVALID, "model-2.safetensors: tensor data ends");
	clear_dir(dir);
}

static void test_directories(void **state)
{
	(void)state;
	char dir[128];
	snprintf(dir, sizeof(dir), "%s/plain", tmpdir);
	/* No index: model*.safetensors, names unique across them. */
	make_shards(dir);
	struct safetensors *st = open_ok(dir);
	assert_int_equal(safetensors_file_count(st), 2);
	assert_int_equal(safetensors_tensor_count(st), 3);
	safetensors_close(st);
	shard(dir, "model-2.safetensors",
	      "{\"a\": {\"dtype\": \"U8\", \"shape\": [1], \"data_offsets\": [0, 1]}}", 1);
	expect_failure_at(dir, FMT_EINVALID,
			  "tensor 'a' is in both model-1.safetensors and model-2.safetensors");
	clear_dir(dir);
	mkdir(dir, 0755);
	expect_failure_at(dir, FMT_ENOTFOUND, "no model.safetensors.index.json");
	shard(dir, "model.safetensors", "{}", 0);
	st = open_ok(dir);
	assert_int_equal(safetensors_tensor_count(st), 0);
	assert_false(safetensors_file_has_metadata(st, 0));
	safetensors_close(st);
	clear_dir(dir);
	expect_failure_at(dir, FMT_ENOTFOUND, "cannot open");
}

/* ---- the real checkpoint --------------------------------------------------------------- */

static void test_real_checkpoint(void **state)
{
	(void)state;
	const char *file = "../shared/data/stories260K-hf/model.safetensors";
	struct stat s;
	if (stat(file, &s))
		fail_msg("%s is missing: the shared test data must be present", file);
	struct safetensors *st = open_ok(file);
	/* From SOURCE.txt: 47 F32 tensors, model.norm.weight [64]. */
	assert_int_equal(safetensors_tensor_count(st), 47);
	long i = safetensors_find(st, "model.norm.weight");
	assert_true(i >= 0);
	const struct safetensors_tensor *t = safetensors_tensor(st, (size_t)i);
	assert_int_equal(t->dtype, SAFETENSORS_F32);
	assert_int_equal(t->row_length, 64);
	/* The row must be the file's own bytes at the tensor's offset. */
	float row[64], raw[64];
	FILE *f = fopen(file, "rb");
	assert_non_null(f);
	assert_int_equal(fseek(f, (long)t->file_offset, SEEK_SET), 0);
	assert_int_equal(fread(raw, 4, 64, f), 64);
	fclose(f);
	dequant_row(QUANT_F32, row_bytes(st, (size_t)i, 0), row, 64);
	assert_memory_equal(row, raw, sizeof(raw));
	i = safetensors_find(st, "model.embed_tokens.weight");
	t = safetensors_tensor(st, (size_t)i);
	assert_int_equal(t->row_count, 512);
	assert_int_equal(t->row_length, 64);
	dequant_row(QUANT_F32, row_bytes(st, (size_t)i, 511), row, 64);
	assert_memory_equal(row, (const char *)safetensors_tensor_data(st, (size_t)i) + 511 * 64 * 4,
			    sizeof(row));
	safetensors_close(st);
}

static void test_memory_reader(void **state)
{
	(void)state;
	const char header[] = "{\"a\": {\"dtype\": \"U8\", \"shape\": [2], \"data_offsets\": [0, 2]}}";
	unsigned char buf[sizeof(header) + 9];
	size_t n = sizeof(header) - 1;
	for (int i = 0; i < 8; i++)
		buf[i] = (unsigned char)(n >> (8 * i));
	memcpy(buf + 8, header, n);
	buf[8 + n] = 1;
	buf[9 + n] = 2;
	/* Every shorter prefix fails cleanly. */
	for (size_t len = 0; len < n + 10; len++) {
		struct safetensors *st = NULL;
		assert_int_equal(safetensors_open_memory(&st, buf, len, NULL), FMT_EINVALID);
		assert_null(st);
	}
	struct safetensors *st = NULL;
	assert_int_equal(safetensors_open_memory(&st, buf, n + 10, NULL), 0);
	assert_null(safetensors_file_path(st, 0));
	safetensors_close(st);
}

static int setup(void **state)
{
	(void)state;
	strcpy(tmpdir, "/tmp/modl-test-st-XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	snprintf(path, sizeof(path), "%s/t.safetensors", tmpdir);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(path);
	return rmdir(tmpdir);
}

int main(void)
{
	/* clang-format off */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_header_length),
		cmocka_unit_test(test_header_text),
		cmocka_unit_test(test_depth_limit),
		cmocka_unit_test(test_duplicates),
		cmocka_unit_test(test_fields),
		cmocka_unit_test(test_offsets),
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_every_dtype_by_name),
		cmocka_unit_test(test_rows_unaligned),
		cmocka_unit_test(test_sharded),
		cmocka_unit_test(test_directories),
		cmocka_unit_test(test_real_checkpoint),
		cmocka_unit_test(test_memory_reader),
	};
	/* clang-format on */
	return cmocka_run_group_tests(tests, setup, teardown);
}
