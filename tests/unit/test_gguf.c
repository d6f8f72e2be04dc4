/* formats/gguf: every check of the reader has a crafted file that trips it (built here,
 * byte by byte, into a temp dir), the writer's typed API refuses wrong types, and the
 * real llama.cpp files in ../shared/data come back byte for byte through the writer. */
#include "unit.h"
#include "bytes.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "formats/gguf.h"

static char tmpdir[64];
static char path[128];

/* ---- bytes ----------------------------------------------------------------------------- */

static void put_str(struct bytes *b, const char *s)
{
	put_u64(b, strlen(s));
	put(b, s, strlen(s));
}

static void put_header(struct bytes *b, uint32_t version, uint64_t n_tensors, uint64_t n_kv)
{
	put(b, "GGUF", 4);
	put_u32(b, version);
	put_u64(b, n_tensors);
	put_u64(b, n_kv);
}

static void put_kv_u32(struct bytes *b, const char *key, uint32_t v)
{
	put_str(b, key);
	put_u32(b, GGUF_VALUE_UINT32);
	put_u32(b, v);
}

static void put_kv_str(struct bytes *b, const char *key, const char *v)
{
	put_str(b, key);
	put_u32(b, GGUF_VALUE_STRING);
	put_str(b, v);
}

static void put_tensor(struct bytes *b, const char *name, uint32_t n_dims, const uint64_t *ne, uint32_t type,
		       uint64_t offset)
{
	put_str(b, name);
	put_u32(b, n_dims);
	for (uint32_t i = 0; i < n_dims; i++)
		put_u64(b, ne[i]);
	put_u32(b, type);
	put_u64(b, offset);
}

static void pad_to(struct bytes *b, size_t alignment)
{
	while (b->len % alignment)
		put_u8(b, 0);
}

static void put_data(struct bytes *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		put_u8(b, (uint8_t)(i * 13 + 5));
}

static void write_file(const char *file, const void *data, size_t len)
{
	FILE *f = fopen(file, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

/* A valid file: 2 pairs, 2 tensors (F32 [4, 2] then Q4_0 [32]), all data present. */
static void valid_file(struct bytes *b)
{
	static const uint64_t ne_a[] = { 4, 2 }, ne_b[] = { 32 };
	put_header(b, 3, 2, 2);
	put_kv_str(b, "general.architecture", "llama");
	put_str(b, "tokenizer.ggml.scores");
	put_u32(b, GGUF_VALUE_ARRAY);
	put_u32(b, GGUF_VALUE_FLOAT32);
	put_u64(b, 2);
	put_u32(b, 0x3f800000);
	put_u32(b, 0xc0000000);
	put_tensor(b, "a.weight", 2, ne_a, GGUF_TENSOR_F32, 0);
	put_tensor(b, "b.weight", 1, ne_b, GGUF_TENSOR_Q4_0, 32);
	pad_to(b, 32);
	put_data(b, 32); /* a: 32 bytes */
	put_data(b, 18); /* b: one Q4_0 block */
	pad_to(b, 32);
}

/* Writes b, opens it, and expects code with msg in the message. */
static void expect_failure(struct bytes *b, int code, const char *msg)
{
	struct gguf_reader *r = NULL;
	struct fmt_error err = { "" };
	write_file(path, b->data, b->len);
	int rc = gguf_read_open(&r, path, &err);
	if (rc != code || !strstr(err.message, msg))
		print_error("expected %d with '%s', got %d: '%s'\n", code, msg, rc, err.message);
	assert_int_equal(rc, code);
	assert_non_null(strstr(err.message, msg));
	assert_null(r);
	free(b->data);
	b->data = NULL;
	b->len = 0;
}

static struct gguf_reader *expect_valid(struct bytes *b)
{
	struct gguf_reader *r = NULL;
	struct fmt_error err = { "" };
	write_file(path, b->data, b->len);
	int rc = gguf_read_open(&r, path, &err);
	if (rc)
		print_error("unexpected failure: %s\n", err.message);
	assert_int_equal(rc, 0);
	free(b->data);
	b->data = NULL;
	b->len = 0;
	return r;
}

/* ---- the reader ------------------------------------------------------------------------ */

static void test_valid_file(void **state)
{
	(void)state;
	struct bytes b = { 0 };
	union gguf_scalar v;
	valid_file(&b);
	struct gguf_reader *r = expect_valid(&b);
	assert_int_equal(gguf_read_version(r), 3);
	assert_int_equal(gguf_read_alignment(r), 32);
	assert_int_equal(gguf_read_kv_count(r), 2);
	assert_int_equal(gguf_read_tensor_count(r), 2);
	const struct gguf_kv *kv = gguf_read_find_kv(r, "tokenizer.ggml.scores");
	assert_non_null(kv);
	assert_int_equal(kv->type, GGUF_VALUE_ARRAY);
	assert_int_equal(kv->element_type, GGUF_VALUE_FLOAT32);
	assert_int_equal(gguf_kv_element(kv, 1, &v), 0);
	assert_true(v.f32 == -2.0f);
	assert_int_equal(gguf_kv_element(kv, 2, &v), FMT_EINVALID);
	const struct gguf_tensor_info *t = gguf_read_tensor(r, 1);
	assert_string_equal(t->name, "b.weight");
	assert_int_equal(t->size, 18);
	assert_int_equal(t->offset, 32);
	const unsigned char *data = gguf_read_tensor_data(r, 0);
	assert_int_equal(data[1], 18);
	assert_int_equal(gguf_read_data_offset(r) % 32, 0);
	gguf_read_close(r);
}

static void test_typed_getters(void **state)
{
	(void)state;
	struct bytes b = { 0 };
	struct fmt_error err = { "" };
	uint32_t u;
	struct gguf_string s;
	put_header(&b, 3, 0, 2);
	put_kv_str(&b, "general.architecture", "llama");
	put_str(&b, "llama.context_length");
	put_u32(&b, GGUF_VALUE_UINT64);
	put_u64(&b, 4096);
	struct gguf_reader *r = expect_valid(&b);
	assert_int_equal(gguf_kv_get_string(gguf_read_find_kv(r, "general.architecture"), &s, &err), 0);
	assert_int_equal(s.len, 5);
	assert_memory_equal(s.data, "llama", 5);
	assert_int_equal(gguf_kv_get_u32(gguf_read_find_kv(r, "llama.context_length"), &u, &err),
			 FMT_EINVALID);
	assert_non_null(strstr(err.message, "UINT64, expected UINT32"));
	gguf_read_close(r);
}

static void test_bad_magic(void **state)
{
	(void)state;
	struct bytes b = { 0 };
	valid_file(&b);
	b.data[3] = 'X';
	expect_failure(&b, FMT_EINVALID, "magic");
	put(&b, "GG", 2);
	expect_failure(&b, FMT_EINVALID, "magic");
}

static void test_versions(void **state)
{
	(void)state;
	struct bytes b = { 0 };
	put_header(&b, 0, 0, 0);
	expect_failure(&b, FMT_EINVALID, "version 0");
	put_header(&b, 1, 0, 0);
	expect_failure(&b, FMT_EUNSUPPORTED, "v1");
	put_header(&b, 4, 0, 0);
	expect_failure(&b, FMT_EUNSUPPORTED, "version 4");
	/* Big-endian v3: the version field holds 00 00 00 03. */
	put_header(&b, 0x03000000, 0, 0);
	expect_failure(&b, FMT_EUNSUPPORTED, "big-endian");
	/* v2 has the same layout as v3. */
	valid_file(&b);
	b.data[4] = 2;
	struct gguf_reader *r = expect_valid(&b);
	assert_int_equal(gguf_read_version(r), 2);
	gguf_read_close(r);
}

static void test_counts_against_file_size(void **state)
{
	(void)state;
	struct bytes b = { 0 };
	/* Counts no file of this size can hold: refused before any allocation. */
	put_header(&b, 3, 0, (uint64_t)1 << 40);
	put_kv_u32(&b, "a", 1);
	expect_failure(&b, FMT_EINVALID, "metadata count");
	put_header(&b, 3, (uint64_t)1 << 40, 0);
	expect_failure(&b, FMT_EINVALID, "tensor count");
	put_header(&b, 3, UINT64_MAX, 0); /* negative as gguf.cpp's int64_t */
	expect_failure(&b, FMT_EINVALID, "tensor count");
	put_header(&b, 3, 0, UINT64_MAX);
	expect_failure(&b, FMT_EINVALID, "metadata count");
	/* 3 pairs claimed, room for 2 at most (a pair takes 14 bytes or more). */
	put_header(&b, 3, 0, 3);
	put_kv_u32(&b, "general.file_type", 1);
	expect_failure(&b, FMT_EINVALID, "metadata count");
}

static void test_string_lengths(void **state)
{
	(void)state;
	struct bytes b = { 0 };
	put_header(&b, 3, 0, 1);
	put_u64(&b, 1000); /* key length past the end */
	put(&b, "general.name", 12);
	put_u32(&b, 0);
	expect_failure(&b, FMT_EINVALID, "past the end of the file");
	put_header(&b, 3, 0, 1);
	put_str(&b, "general.name");
	put_u32(&b, GGUF_VALUE_STRING);
	put_u64(&b, GGUF_STRING_MAX + 1); /* over gguf.cpp's 1 GiB limit */
	put(&b, "abc", 3);
	expect_failure(&b, FMT_EINVALID, "limit 1073741824");
	put_header(&b, 3, 0, 1);
	put_str(&b, "general.name");
	put_u32(&b, GGUF_VALUE_STRING);
	put_u64(&b, 4);
	put(&b, "abc", 3);
	expect_failure(&b, FMT_EINVALID, "past the end of the file");
}

static void test_array_lengths(void **state)
{
	(void)state;
	struct bytes b = { 0 };
	put_header(&b, 3, 0, 1);
	put_str(&b, "tokenizer.ggml.token_type");
	put_u32(&b, GGUF_VALUE_ARRAY);
	put_u32(&b, GGUF_VALUE_INT32);
	put_u64(&b, 1000000);
	put_u32(&b, 1);
	expect_failure(&b, FMT_EINVALID, "needs at least 4000000 bytes");
	put_header(&b, 3, 0, 1);
	put_str(&b, "tokenizer.ggml.tokens");
	put_u32(&b, GGUF_VALUE_ARRAY);
	put_u32(&b, GGUF_VALUE_STRING);
	put_u64(&b, 100); /* each string takes at least 8 bytes */
	put_str(&b, "a");
	expect_failure(&b, FMT_EINVALID, "needs at least 800 bytes");
	put_header(&b, 3, 0, 1);
	put_str(&b, "x");
	put_u32(&b, GGUF_VALUE_ARRAY);
	put_u32(&b, GGUF_VALUE_UINT8);
	put_u64(&b, GGUF_ARRAY_MAX + 1);
	expect_failure(&b, FMT_EINVALID, "over the limit");
	/* A string element whose length runs past the end. */
	put_header(&b, 3, 0, 1);
	put_str(&b, "tokenizer.ggml.tokens");
	put_u32(&b, GGUF_VALUE_ARRAY);
	put_u32(&b, GGUF_VALUE_STRING);
	put_u64(&b, 2);
	put_str(&b, "a");
	put_u64(&b, 50);
	put(&b, "bc", 2);
	expect_failure(&b, FMT_EINVALID, "array string");
}

static void test_value_types(void **state)
{
	(void)state;
	struct bytes b = { 0 };
	put_header(&b, 3, 0, 1);
	put_str(&b, "x");
	put_u32(&b, GGUF_VALUE_COUNT);
	put_u32(&b, 0);
	expect_failure(&b, FMT_EINVALID, "invalid value type 13");
	put_header(&b, 3, 0, 1);
	put_str(&b, "x");
	put_u32(&b, GGUF_VALUE_ARRAY);
	put_u32(&b, 200);
	put_u64(&b, 0);
	expect_failure(&b, FMT_EINVALID, "invalid array element type 200");
	put_header(&b, 3, 0, 1);
	put_str(&b, "x");
	put_u32(&b, GGUF_VALUE_ARRAY);
	put_u32(&b, GGUF_VALUE_ARRAY);
	put_u64(&b, 1);
	put_u32(&b, GGUF_VALUE_UINT8);
	put_u64(&b, 0);
	expect_failure(&b, FMT_EINVALID, "nested arrays");
}

static void test_keys(void **state)
{
	(void)state;
	struct bytes b = { 0 };
	put_header(&b, 3, 0, 1);
	put_kv_u32(&b, "", 1);
	expect_failure(&b, FMT_EINVALID, "empty key");
	put_header(&b, 3, 0, 2);
	put_kv_u32(&b, "general.file_type", 1);
	put_kv_u32(&b, "general.file_type", 2);
	expect_failure(&b, FMT_EINVALID, "duplicate key 'general.file_type'");
	put_header(&b, 3, 0, 1);
	put_u64(&b, 3);
	put(&b, "a\0b", 3);
	put_u32(&b, GGUF_VALUE_UINT8);
	put_u8(&b, 1);
	expect_failure(&b, FMT_EINVALID, "NUL");
	char *long_key = malloc(GGUF_KEY_MAX + 2);
	assert_non_null(long_key);
	memset(long_key, 'k', GGUF_KEY_MAX + 1);
	long_key[GGUF_KEY_MAX + 1] = '\0';
	put_header(&b, 3, 0, 1);
	put_kv_u32(&b, long_key, 1);
	expect_failure(&b, FMT_EINVALID, "limit 65535");
	free(long_key);
}

static void test_tensor_names(void **state)
{
	(void)state;
	static const uint64_t ne[] = { 8 };
	char name[80];
	struct bytes b = { 0 };
	memset(name, 'n', sizeof(name));
	name[GGUF_NAME_MAX] = '\0'; /* 63 bytes: fine */
	put_header(&b, 3, 1, 0);
	put_tensor(&b, name, 1, ne, GGUF_TENSOR_F32, 0);
	pad_to(&b, 32);
	put_data(&b, 32);
	gguf_read_close(expect_valid(&b));
	name[GGUF_NAME_MAX] = 'n';
	name[GGUF_NAME_MAX + 1] = '\0'; /* 64 bytes */
	put_header(&b, 3, 1, 0);
	put_tensor(&b, name, 1, ne, GGUF_TENSOR_F32, 0);
	pad_to(&b, 32);
	put_data(&b, 32);
	expect_failure(&b, FMT_EINVALID, "limit 63");
	put_header(&b, 3, 1, 0);
	put_tensor(&b, "", 1, ne, GGUF_TENSOR_F32, 0);
	pad_to(&b, 32);
	put_data(&b, 32);
	expect_failure(&b, FMT_EINVALID, "empty name");
	put_header(&b, 3, 2, 0);
	put_tensor(&b, "w", 1, ne, GGUF_TENSOR_F32, 0);
	put_tensor(&b, "w", 1, ne, GGUF_TENSOR_F32, 32);
	pad_to(&b, 32);
	put_data(&b, 64);
	expect_failure(&b, FMT_EINVALID, "duplicate tensor name 'w'");
}

static void test_tensor_shapes_and_types(void **state)
{
	(void)state;
	static const uint64_t five[] = { 1, 1, 1, 1, 1 }, q16[] = { 16 };
	static const uint64_t big[] = { (uint64_t)1 << 32, (uint64_t)1 << 32 };
	static const uint64_t negative[] = { (uint64_t)1 << 63 };
	static const uint32_t bad_types[] = { 4, 5, 31, 36, GGUF_TENSOR_COUNT, 1000 };
	struct bytes b = { 0 };
	put_header(&b, 3, 1, 0);
	put_tensor(&b, "w", 5, five, GGUF_TENSOR_F32, 0);
	expect_failure(&b, FMT_EINVALID, "5 dimensions");
	for (size_t i = 0; i < sizeof(bad_types) / sizeof(bad_types[0]); i++) {
		put_header(&b, 3, 1, 0);
		put_tensor(&b, "w", 1, five, bad_types[i], 0);
		expect_failure(&b, FMT_EINVALID, "invalid tensor type");
	}
	put_header(&b, 3, 1, 0);
	put_tensor(&b, "w", 1, q16, GGUF_TENSOR_Q4_0, 0);
	expect_failure(&b, FMT_EINVALID, "not a multiple of the Q4_0 block size 32");
	put_header(&b, 3, 1, 0);
	put_tensor(&b, "w", 2, big, GGUF_TENSOR_F32, 0);
	expect_failure(&b, FMT_EINVALID, "overflow");
	put_header(&b, 3, 1, 0);
	put_tensor(&b, "w", 1, negative, GGUF_TENSOR_F32, 0);
	expect_failure(&b, FMT_EINVALID, "overflow");
}

static void test_offsets(void **state)
{
	(void)state;
	static const uint64_t ne[] = { 2 };
	struct bytes b = { 0 };
	put_header(&b, 3, 1, 0);
	put_tensor(&b, "a", 1, ne, GGUF_TENSOR_F32, 32); /* the first must be at 0 */
	pad_to(&b, 32);
	put_data(&b, 64);
	expect_failure(&b, FMT_EINVALID, "offset 32, expected 0");
	put_header(&b, 3, 2, 0);
	put_tensor(&b, "a", 1, ne, GGUF_TENSOR_F32, 0);
	put_tensor(&b, "b", 1, ne, GGUF_TENSOR_F32, 8); /* not padded to 32 */
	pad_to(&b, 32);
	put_data(&b, 64);
	expect_failure(&b, FMT_EINVALID, "offset 8, expected 32");
	put_header(&b, 3, 2, 0);
	put_tensor(&b, "a", 1, ne, GGUF_TENSOR_F32, 0);
	put_tensor(&b, "b", 1, ne, GGUF_TENSOR_F32, 64); /* a gap */
	pad_to(&b, 32);
	put_data(&b, 96);
	expect_failure(&b, FMT_EINVALID, "offset 64, expected 32");
	/* Data cut short: the second tensor ends past the end of the file. */
	valid_file(&b);
	b.len -= 14 + 10;
	expect_failure(&b, FMT_EINVALID, "'b.weight': data at file offset");
}

static void test_alignment(void **state)
{
	(void)state;
	static const uint64_t ne[] = { 2 };
	struct bytes b = { 0 };
	put_header(&b, 3, 0, 1);
	put_kv_str(&b, "general.alignment", "32");
	expect_failure(&b, FMT_EINVALID, "must be UINT32");
	put_header(&b, 3, 0, 1);
	put_kv_u32(&b, "general.alignment", 0);
	expect_failure(&b, FMT_EINVALID, "power of two");
	put_header(&b, 3, 0, 1);
	put_kv_u32(&b, "general.alignment", 48);
	expect_failure(&b, FMT_EINVALID, "power of two");
	/* 64: the data section and each tensor are padded to 64. */
	put_header(&b, 3, 2, 1);
	put_kv_u32(&b, "general.alignment", 64);
	put_tensor(&b, "a", 1, ne, GGUF_TENSOR_F32, 0);
	put_tensor(&b, "b", 1, ne, GGUF_TENSOR_F32, 64);
	pad_to(&b, 64);
	size_t data = b.len;
	put_data(&b, 72);
	struct gguf_reader *r = expect_valid(&b);
	assert_int_equal(gguf_read_alignment(r), 64);
	assert_int_equal(gguf_read_data_offset(r), data);
	gguf_read_close(r);
}

/* Every cut of a valid file before the end of its last tensor's data must fail cleanly
 * (under ASan: no read past the mapping). */
static void test_every_truncation(void **state)
{
	(void)state;
	struct bytes b = { 0 };
	valid_file(&b);
	size_t data_end = b.len - 14; /* the last padding is optional */
	unsigned char *full = b.data;
	for (size_t len = 0; len < data_end; len++) {
		struct gguf_reader *r = NULL;
		assert_int_equal(gguf_read_memory(&r, full, len, NULL), FMT_EINVALID);
		assert_null(r);
	}
	struct gguf_reader *r = NULL;
	assert_int_equal(gguf_read_memory(&r, full, data_end, NULL), 0);
	gguf_read_close(r);
	free(full);
}

/* ---- the writer ------------------------------------------------------------------------ */

static unsigned char *slurp(const char *file, size_t *len)
{
	FILE *f = fopen(file, "rb");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	*len = (size_t)ftell(f);
	fseek(f, 0, SEEK_SET);
	unsigned char *p = malloc(*len ? *len : 1);
	assert_non_null(p);
	assert_int_equal(fread(p, 1, *len, f), *len);
	fclose(f);
	return p;
}

static int open_out(void)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	return fd;
}

static void test_writer_types_of_known_keys(void **state)
{
	(void)state;
	static const float scores[] = { 0.5f };
	static const int32_t types[] = { 1 };
	struct fmt_error err = { "" };
	struct gguf_writer *w;
	int fd = open_out();
	/* Each refusal needs a fresh writer: errors are sticky. */
#define TRY(call, text)                                               \
	do {                                                          \
		assert_int_equal(gguf_writer_begin(&w, fd, &err), 0); \
		assert_int_equal((call), FMT_EINVALID);               \
		assert_non_null(strstr(err.message, text));           \
		gguf_writer_free(w);                                  \
	} while (0)
	TRY(gguf_writer_add_u64(w, "llama.context_length", 4096), "must be UINT32");
	TRY(gguf_writer_add_f64(w, "llama.attention.layer_norm_rms_epsilon", 1e-5), "must be FLOAT32");
	TRY(gguf_writer_add_i32(w, "tokenizer.ggml.bos_token_id", 1), "must be UINT32");
	TRY(gguf_writer_add_array_f32(w, "tokenizer.ggml.token_type", scores, 1), "ARRAY of INT32");
	TRY(gguf_writer_add_u32(w, "general.alignment", 48), "power of two");
	TRY(gguf_writer_add_string(w, "tokenizer.ggml.add_bos_token", "true"), "must be BOOL");
#undef TRY
	/* The right types pass, per-layer head counts included. */
	assert_int_equal(gguf_writer_begin(&w, fd, &err), 0);
	assert_int_equal(gguf_writer_add_u32(w, "llama.context_length", 4096), 0);
	assert_int_equal(gguf_writer_add_f32(w, "llama.attention.layer_norm_rms_epsilon", 1e-5f), 0);
	assert_int_equal(gguf_writer_add_u32(w, "tokenizer.ggml.bos_token_id", 1), 0);
	assert_int_equal(gguf_writer_add_array_i32(w, "tokenizer.ggml.token_type", types, 1), 0);
	assert_int_equal(gguf_writer_add_array_f32(w, "tokenizer.ggml.scores", scores, 1), 0);
	assert_int_equal(gguf_writer_add_array_i32(w, "openelm.attention.head_count", types, 1), 0);
	assert_int_equal(gguf_writer_add_bool(w, "tokenizer.ggml.add_bos_token", 1), 0);
	assert_int_equal(gguf_writer_add_u64(w, "my.own.key", 1), 0);
	assert_int_equal(gguf_writer_finish(w), 0);
	gguf_writer_free(w);
	close(fd);
}

/* A copy reproduces its file, types included, even where a typed add would refuse. */
static void test_writer_copy_keeps_types(void **state)
{
	(void)state;
	struct bytes b = { 0 };
	struct fmt_error err = { "" };
	struct gguf_writer *w;
	put_header(&b, 3, 0, 1);
	put_str(&b, "llama.context_length");
	put_u32(&b, GGUF_VALUE_INT32);
	put_u32(&b, 4096);
	size_t len = b.len;
	unsigned char *original = malloc(len);
	assert_non_null(original);
	memcpy(original, b.data, len);
	struct gguf_reader *r = expect_valid(&b);
	char out[200];
	snprintf(out, sizeof(out), "%s/copy.gguf", tmpdir);
	int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(gguf_writer_begin(&w, fd, &err), 0);
	assert_int_equal(gguf_writer_copy_kv(w, gguf_read_kv(r, 0)), 0);
	assert_int_equal(gguf_writer_finish(w), 0);
	gguf_writer_free(w);
	close(fd);
	gguf_read_close(r);
	size_t copy_len;
	unsigned char *copy = slurp(out, &copy_len);
	assert_int_equal(copy_len, len);
	assert_memory_equal(copy, original, len);
	unlink(out);
	free(copy);
	free(original);
}

static void test_writer_refusals(void **state)
{
	(void)state;
	static const uint64_t ne[] = { 4 }, q16[] = { 16 };
	char long_name[70];
	struct fmt_error err = { "" };
	struct gguf_writer *w;
	int fd = open_out();
	memset(long_name, 'x', 64);
	long_name[64] = '\0';
	assert_int_equal(gguf_writer_begin(&w, fd, &err), 0);
	assert_int_equal(gguf_writer_add_u32(w, "a", 1), 0);
	assert_int_equal(gguf_writer_add_u32(w, "a", 2), FMT_EINVALID);
	assert_non_null(strstr(err.message, "duplicate metadata key 'a'"));
	/* Sticky: a later good call still reports the first failure. */
	assert_int_equal(gguf_writer_add_u32(w, "b", 2), FMT_EINVALID);
	assert_int_equal(gguf_writer_finish(w), FMT_EINVALID);
	gguf_writer_free(w);
#define REFUSE(call, text)                                            \
	do {                                                          \
		assert_int_equal(gguf_writer_begin(&w, fd, &err), 0); \
		assert_int_equal((call), FMT_EINVALID);               \
		assert_non_null(strstr(err.message, text));           \
		gguf_writer_free(w);                                  \
	} while (0)
	REFUSE(gguf_writer_add_u32(w, "", 1), "empty");
	REFUSE(gguf_writer_add_tensor(w, long_name, GGUF_TENSOR_F32, 1, ne), "limit 63");
	REFUSE(gguf_writer_add_tensor(w, "t", 31, 1, ne), "invalid tensor type");
	REFUSE(gguf_writer_add_tensor(w, "t", GGUF_TENSOR_Q8_0, 1, q16), "block size 32");
	REFUSE(gguf_writer_add_tensor(w, "t", GGUF_TENSOR_F32, 5, ne), "5 dimensions");
	/* These follow a good call: FIRST(call) is 0 when it succeeded. */
#define FIRST(call) assert_int_equal((call), 0)
#define THEN(first, call) ((first), (call))
	REFUSE(THEN(FIRST(gguf_writer_add_tensor(w, "t", GGUF_TENSOR_F32, 1, ne)),
		    gguf_writer_add_tensor(w, "t", GGUF_TENSOR_F32, 1, ne)),
	       "duplicate tensor name");
	REFUSE(THEN(FIRST(gguf_writer_add_tensor(w, "t", GGUF_TENSOR_F32, 1, ne)),
		    gguf_writer_write_tensor_data(w, "0123456789abcdefX", 17)),
	       "beyond the last tensor");
	REFUSE(THEN(FIRST(gguf_writer_add_tensor(w, "t", GGUF_TENSOR_F32, 1, ne)),
		    THEN(FIRST(gguf_writer_write_tensor_data(w, "0123", 4)), gguf_writer_finish(w))),
	       "4 of its 16 bytes");
	REFUSE(THEN(FIRST(gguf_writer_add_tensor(w, "t", GGUF_TENSOR_F32, 1, ne)),
		    THEN(FIRST(gguf_writer_write_tensor_data(w, "0123", 4)),
			 gguf_writer_add_u32(w, "late", 1))),
	       "after tensor data");
#undef FIRST
#undef THEN
#undef REFUSE
	close(fd);
}

/* Every value type written, read back equal. */
static void test_writer_all_types(void **state)
{
	(void)state;
	static const uint16_t u16s[] = { 1, 65535 };
	static const double f64s[] = { 0.25, -1e300 };
	static const char *const strs[] = { "a", "", "\342\226\201b" };
	static const size_t lens[] = { 1, 0, 4 };
	struct fmt_error err = { "" };
	struct gguf_writer *w;
	struct gguf_reader *r;
	union gguf_scalar v;
	int fd = open_out();
	assert_int_equal(gguf_writer_begin(&w, fd, &err), 0);
	assert_int_equal(gguf_writer_add_u8(w, "u8", 250), 0);
	assert_int_equal(gguf_writer_add_i8(w, "i8", -5), 0);
	assert_int_equal(gguf_writer_add_u16(w, "u16", 65000), 0);
	assert_int_equal(gguf_writer_add_i16(w, "i16", -32000), 0);
	assert_int_equal(gguf_writer_add_u32(w, "u32", 4000000000u), 0);
	assert_int_equal(gguf_writer_add_i32(w, "i32", -7), 0);
	assert_int_equal(gguf_writer_add_f32(w, "f32", 0.1f), 0);
	assert_int_equal(gguf_writer_add_bool(w, "bool", 7), 0);
	assert_int_equal(gguf_writer_add_u64(w, "u64", UINT64_MAX), 0);
	assert_int_equal(gguf_writer_add_i64(w, "i64", INT64_MIN), 0);
	assert_int_equal(gguf_writer_add_f64(w, "f64", 1.0 / 3), 0);
	assert_int_equal(gguf_writer_add_string_n(w, "nul", "a\0b", 3), 0);
	assert_int_equal(gguf_writer_add_array_u16(w, "a.u16", u16s, 2), 0);
	assert_int_equal(gguf_writer_add_array_f64(w, "a.f64", f64s, 2), 0);
	assert_int_equal(gguf_writer_add_array_string(w, "a.str", strs, lens, 3), 0);
	assert_int_equal(gguf_writer_finish(w), 0);
	gguf_writer_free(w);
	close(fd);
	assert_int_equal(gguf_read_open(&r, path, &err), 0);
	assert_int_equal(gguf_read_kv_count(r), 15);
#define SCALAR(key, member, expected)                                               \
	do {                                                                        \
		assert_int_equal(gguf_kv_scalar(gguf_read_find_kv(r, key), &v), 0); \
		assert_true(v.member == (expected));                                \
	} while (0)
	SCALAR("u8", u8, 250);
	SCALAR("i8", i8, -5);
	SCALAR("u16", u16, 65000);
	SCALAR("i16", i16, -32000);
	SCALAR("u32", u32, 4000000000u);
	SCALAR("i32", i32, -7);
	SCALAR("f32", f32, 0.1f);
	SCALAR("bool", b, 1);
	SCALAR("u64", u64, UINT64_MAX);
	SCALAR("i64", i64, INT64_MIN);
	SCALAR("f64", f64, 1.0 / 3);
#undef SCALAR
	assert_int_equal(gguf_kv_scalar(gguf_read_find_kv(r, "nul"), &v), 0);
	assert_int_equal(v.str.len, 3);
	assert_memory_equal(v.str.data, "a\0b", 3);
	const struct gguf_kv *kv = gguf_read_find_kv(r, "a.u16");
	assert_int_equal(kv->element_type, GGUF_VALUE_UINT16);
	assert_int_equal(gguf_kv_element(kv, 1, &v), 0);
	assert_int_equal(v.u16, 65535);
	assert_int_equal(gguf_kv_element(gguf_read_find_kv(r, "a.f64"), 1, &v), 0);
	assert_true(v.f64 == -1e300);
	kv = gguf_read_find_kv(r, "a.str");
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(gguf_kv_element(kv, i, &v), 0);
		assert_int_equal(v.str.len, lens[i]);
		assert_memory_equal(v.str.data, strs[i], lens[i]);
	}
	gguf_read_close(r);
}

static void write_tensors(size_t chunk, size_t big, unsigned char *pattern)
{
	static const uint64_t ne_a[] = { 256, 3 }, ne_b[] = { 5 };
	uint64_t ne_big[] = { big / 2 };
	struct fmt_error err = { "" };
	struct gguf_writer *w;
	int fd = open_out();
	assert_int_equal(gguf_writer_begin(&w, fd, &err), 0);
	assert_int_equal(gguf_writer_add_u32(w, "general.alignment", 64), 0);
	assert_int_equal(gguf_writer_add_tensor(w, "a", GGUF_TENSOR_Q4_K, 2, ne_a), 0);
	assert_int_equal(gguf_writer_add_tensor(w, "b", GGUF_TENSOR_I8, 1, ne_b), 0);
	assert_int_equal(gguf_writer_add_tensor(w, "big", GGUF_TENSOR_BF16, 1, ne_big), 0);
	size_t total = 3 * 144 + 5 + big;
	for (size_t at = 0; at < total; at += chunk)
		assert_int_equal(gguf_writer_write_tensor_data(w, pattern + at,
							       total - at < chunk ? total - at : chunk),
				 0);
	assert_int_equal(gguf_writer_finish(w), 0);
	gguf_writer_free(w);
	close(fd);
}

/* Chunks of any size, across tensors, give the same file; each tensor is padded. */
static void test_writer_streams(void **state)
{
	(void)state;
	size_t big = 3 << 20, total = 3 * 144 + 5 + big, len_a, len_b;
	unsigned char *pattern = malloc(total);
	assert_non_null(pattern);
	for (size_t i = 0; i < total; i++)
		pattern[i] = (unsigned char)(i * 31 + (i >> 8));
	write_tensors(7, big, pattern);
	unsigned char *a = slurp(path, &len_a);
	write_tensors(total, big, pattern); /* one call, larger than the output buffer */
	unsigned char *b = slurp(path, &len_b);
	assert_int_equal(len_a, len_b);
	assert_memory_equal(a, b, len_a);
	struct gguf_reader *r;
	struct fmt_error err = { "" };
	assert_int_equal(gguf_read_open(&r, path, &err), 0);
	assert_int_equal(gguf_read_data_offset(r) % 64, 0);
	assert_int_equal(gguf_read_tensor(r, 1)->offset, 448);
	assert_int_equal(gguf_read_tensor(r, 2)->offset, 512);
	assert_memory_equal(gguf_read_tensor_data(r, 0), pattern, 3 * 144);
	assert_memory_equal(gguf_read_tensor_data(r, 1), pattern + 3 * 144, 5);
	assert_memory_equal(gguf_read_tensor_data(r, 2), pattern + 3 * 144 + 5, big);
	assert_int_equal(len_a, gguf_read_data_offset(r) + 512 + big); /* padded at the end */
	gguf_read_close(r);
	free(a);
	free(b);
	free(pattern);
}

/* Writing 96 MiB of tensor data through one 64 KiB chunk must not grow the process by
 * anything like the data: the writer holds the header and one output buffer only. */
static void test_writer_memory_is_bounded(void **state)
{
	(void)state;
	const size_t chunk = 64 << 10, total = (size_t)96 << 20;
	uint64_t ne[] = { total / 4 };
	struct fmt_error err = { "" };
	struct gguf_writer *w;
	struct rusage before, after;
	unsigned char *data = calloc(1, chunk);
	assert_non_null(data);
	int fd = open_out();
	getrusage(RUSAGE_SELF, &before);
	assert_int_equal(gguf_writer_begin(&w, fd, &err), 0);
	assert_int_equal(gguf_writer_add_tensor(w, "big", GGUF_TENSOR_F32, 1, ne), 0);
	for (size_t at = 0; at < total; at += chunk)
		assert_int_equal(gguf_writer_write_tensor_data(w, data, chunk), 0);
	assert_int_equal(gguf_writer_finish(w), 0);
	gguf_writer_free(w);
	getrusage(RUSAGE_SELF, &after);
	close(fd);
	free(data);
	assert_true(after.ru_maxrss - before.ru_maxrss < 24 * 1024); /* kilobytes */
	unlink(path);
}

/* ---- real files ------------------------------------------------------------------------ */

/* clang-format off */
static const char *const real_files[] = {
	"../shared/data/llamacpp-vocab/ggml-vocab-gpt-2.gguf",
	"../shared/data/llamacpp-vocab/ggml-vocab-llama-spm.gguf",
	"../shared/data/llamacpp-vocab/ggml-vocab-phi-3.gguf",
	"../shared/data/llama-2-tiny-random-gguf/llama-2-tiny-random.gguf",
};
/* clang-format on */

static void copy_through_writer(const char *in, const char *out)
{
	struct fmt_error err = { "" };
	struct gguf_reader *r;
	struct gguf_writer *w;
	int rc = gguf_read_open(&r, in, &err);
	if (rc)
		print_error("%s: %s\n", in, err.message);
	assert_int_equal(rc, 0);
	int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(gguf_writer_begin(&w, fd, &err), 0);
	for (size_t i = 0; i < gguf_read_kv_count(r); i++)
		assert_int_equal(gguf_writer_copy_kv(w, gguf_read_kv(r, i)), 0);
	for (size_t i = 0; i < gguf_read_tensor_count(r); i++) {
		const struct gguf_tensor_info *t = gguf_read_tensor(r, i);
		assert_int_equal(gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne), 0);
	}
	for (size_t i = 0; i < gguf_read_tensor_count(r); i++)
		assert_int_equal(gguf_writer_write_tensor_data(w, gguf_read_tensor_data(r, i),
							       gguf_read_tensor(r, i)->size),
				 0);
	assert_int_equal(gguf_writer_finish(w), 0);
	gguf_writer_free(w);
	close(fd);
	gguf_read_close(r);
}

static void test_real_files_round_trip(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(real_files) / sizeof(real_files[0]); i++) {
		size_t len_a, len_b;
		struct stat st;
		if (stat(real_files[i], &st))
			fail_msg("%s is missing: the shared test data must be present", real_files[i]);
		copy_through_writer(real_files[i], path);
		unsigned char *a = slurp(real_files[i], &len_a), *b = slurp(path, &len_b);
		assert_int_equal(len_a, len_b);
		assert_memory_equal(a, b, len_a);
		free(a);
		free(b);
	}
}

static void test_real_file_contents(void **state)
{
	(void)state;
	struct fmt_error err = { "" };
	struct gguf_reader *r;
	uint32_t u;
	assert_int_equal(gguf_read_open(&r, real_files[3], &err), 0);
	/* From SOURCE.txt: 18 pairs, 12 tensors, token_embd [8, 32000] F16, 32000 tokens. */
	assert_int_equal(gguf_read_kv_count(r), 18);
	assert_int_equal(gguf_read_tensor_count(r), 12);
	const struct gguf_tensor_info *t = gguf_read_tensor(r, 0);
	assert_string_equal(t->name, "token_embd.weight");
	assert_int_equal(t->type, GGUF_TENSOR_F16);
	assert_int_equal(t->ne[0], 8);
	assert_int_equal(t->ne[1], 32000);
	assert_int_equal(gguf_kv_get_u32(gguf_read_find_kv(r, "llama.block_count"), &u, &err), 0);
	assert_int_equal(u, 1);
	assert_int_equal(gguf_read_find_kv(r, "tokenizer.ggml.tokens")->count, 32000);
	gguf_read_close(r);
}

static int setup(void **state)
{
	(void)state;
	strcpy(tmpdir, "/tmp/modl-test-gguf-XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	snprintf(path, sizeof(path), "%s/t.gguf", tmpdir);
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
		cmocka_unit_test(test_valid_file),
		cmocka_unit_test(test_typed_getters),
		cmocka_unit_test(test_bad_magic),
		cmocka_unit_test(test_versions),
		cmocka_unit_test(test_counts_against_file_size),
		cmocka_unit_test(test_string_lengths),
		cmocka_unit_test(test_array_lengths),
		cmocka_unit_test(test_value_types),
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_tensor_names),
		cmocka_unit_test(test_tensor_shapes_and_types),
		cmocka_unit_test(test_offsets),
		cmocka_unit_test(test_alignment),
		cmocka_unit_test(test_every_truncation),
		cmocka_unit_test(test_writer_types_of_known_keys),
		cmocka_unit_test(test_writer_copy_keeps_types),
		cmocka_unit_test(test_writer_refusals),
		cmocka_unit_test(test_writer_all_types),
		cmocka_unit_test(test_writer_streams),
		cmocka_unit_test(test_writer_memory_is_bounded),
		cmocka_unit_test(test_real_files_round_trip),
		cmocka_unit_test(test_real_file_contents),
	};
	/* clang-format on */
	return cmocka_run_group_tests(tests, setup, teardown);
}
