/* Writes GGUF files with modl's writer, for test_gguf_interop.py to read with modl and
 * with @huggingface/gguf:
 *   gguf_write_sample sample OUT   a file with every value type, every array element
 *                                  type, awkward strings, alignment 64, and tensors of
 *                                  several types streamed in small chunks
 *   gguf_write_sample copy IN OUT  IN read and written again through the writer
 * The test builds it from formats/ (it needs nothing else). */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "formats/gguf.h"

static int write_sample(struct gguf_writer *w)
{
	static const uint8_t u8[] = { 0, 1, 255 };
	static const int8_t i8[] = { -128, 0, 127 };
	static const uint16_t u16[] = { 0, 1, 65535 };
	static const int16_t i16[] = { -32768, 0, 32767 };
	static const uint32_t u32[] = { 0, 1, 4294967295u };
	static const int32_t i32[] = { INT32_MIN, -1, INT32_MAX };
	static const float f32[] = { -1000.0f, 1e-5f, 3.4028235e38f, 1.4e-45f, -0.0f };
	static const uint8_t bools[] = { 1, 0, 1 };
	static const uint64_t u64[] = { 0, 9007199254740993ull, UINT64_MAX };
	static const int64_t i64[] = { INT64_MIN, -9007199254740993ll, INT64_MAX };
	static const double f64[] = { -1e300, 0.1, 5e-324 };
	static const char *const strings[] = { "",
					       "plain",
					       "\xe2\x96\x81hello",
					       "tab\there",
					       "quote\" back\\slash",
					       "new\nline",
					       "\x01\x1f ctl",
					       "\357\273\277bom first",
					       "emoji \xf0\x9f\xa6\x99" };
	static const size_t n_strings = sizeof(strings) / sizeof(strings[0]);
	static const struct {
		const char *name;
		uint32_t type, n_dims;
		uint64_t ne[4];
		/* clang-format off */
	} tensors[] = {
		{ "token_embd.weight", GGUF_TENSOR_F16, 2, { 8, 5 } },
		{ "blk.0.attn_norm.weight", GGUF_TENSOR_F32, 1, { 8 } },
		{ "blk.0.attn_q.weight", GGUF_TENSOR_Q4_0, 2, { 64, 3 } },
		{ "blk.0.ffn_down.weight", GGUF_TENSOR_Q8_0, 2, { 32, 2 } },
		{ "blk.0.ffn_up.weight", GGUF_TENSOR_Q4_K, 2, { 256, 1 } },
		{ "blk.0.experts", GGUF_TENSOR_BF16, 3, { 2, 3, 4 } },
		{ "blk.0.cube", GGUF_TENSOR_I8, 4, { 3, 1, 2, 1 } },
		{ "empty", GGUF_TENSOR_F32, 2, { 0, 4 } },
		{ "\xc3\xbcnicode.weight", GGUF_TENSOR_F32, 1, { 3 } },
	};
	/* clang-format on */
	int rc = 0;
	rc = rc ? rc : gguf_writer_add_string(w, "general.architecture", "llama");
	rc = rc ? rc : gguf_writer_add_u32(w, "general.alignment", 64);
	rc = rc ? rc : gguf_writer_add_string(w, "general.name", "modl sample \xe2\x9c\x93 \xc3\xbc");
	rc = rc ? rc : gguf_writer_add_u32(w, "llama.context_length", 4096);
	rc = rc ? rc : gguf_writer_add_f32(w, "llama.attention.layer_norm_rms_epsilon", 1e-5f);
	rc = rc ? rc : gguf_writer_add_u8(w, "test.u8", 200);
	rc = rc ? rc : gguf_writer_add_i8(w, "test.i8", -100);
	rc = rc ? rc : gguf_writer_add_u16(w, "test.u16", 60000);
	rc = rc ? rc : gguf_writer_add_i16(w, "test.i16", -30000);
	rc = rc ? rc : gguf_writer_add_u32(w, "test.u32", 4000000000u);
	rc = rc ? rc : gguf_writer_add_i32(w, "test.i32", -2000000000);
	rc = rc ? rc : gguf_writer_add_f32(w, "test.f32", 3.14159274f);
	rc = rc ? rc : gguf_writer_add_bool(w, "test.bool", 1);
	rc = rc ? rc : gguf_writer_add_bool(w, "test.bool_false", 0);
	rc = rc ? rc : gguf_writer_add_string(w, "test.string_empty", "");
	rc = rc ? rc : gguf_writer_add_string(w, "test.string", "\357\273\277a \"chat\" {{ template }}\n");
	rc = rc ? rc : gguf_writer_add_u64(w, "test.u64", UINT64_MAX);
	rc = rc ? rc : gguf_writer_add_i64(w, "test.i64", INT64_MIN);
	rc = rc ? rc : gguf_writer_add_f64(w, "test.f64", -1e300);
	rc = rc ? rc : gguf_writer_add_array_u8(w, "test.array.u8", u8, 3);
	rc = rc ? rc : gguf_writer_add_array_i8(w, "test.array.i8", i8, 3);
	rc = rc ? rc : gguf_writer_add_array_u16(w, "test.array.u16", u16, 3);
	rc = rc ? rc : gguf_writer_add_array_i16(w, "test.array.i16", i16, 3);
	rc = rc ? rc : gguf_writer_add_array_u32(w, "test.array.u32", u32, 3);
	rc = rc ? rc : gguf_writer_add_array_i32(w, "test.array.i32", i32, 3);
	rc = rc ? rc : gguf_writer_add_array_f32(w, "test.array.f32", f32, 5);
	rc = rc ? rc : gguf_writer_add_array_bool(w, "test.array.bool", bools, 3);
	rc = rc ? rc : gguf_writer_add_array_u64(w, "test.array.u64", u64, 3);
	rc = rc ? rc : gguf_writer_add_array_i64(w, "test.array.i64", i64, 3);
	rc = rc ? rc : gguf_writer_add_array_f64(w, "test.array.f64", f64, 3);
	rc = rc ? rc : gguf_writer_add_array_string(w, "test.array.string", strings, NULL, n_strings);
	rc = rc ? rc : gguf_writer_add_array_u32(w, "test.array.empty", u32, 0);
	for (size_t i = 0; !rc && i < sizeof(tensors) / sizeof(tensors[0]); i++)
		rc = gguf_writer_add_tensor(w, tensors[i].name, tensors[i].type, tensors[i].n_dims,
					    tensors[i].ne);
	/* Data in 5-byte chunks, across tensor boundaries: the writer pads between them. */
	uint64_t total = 0, nbytes;
	for (size_t i = 0; !rc && i < sizeof(tensors) / sizeof(tensors[0]); i++)
		if (!(rc = gguf_tensor_nbytes(tensors[i].type, tensors[i].n_dims, tensors[i].ne, &nbytes)))
			total += nbytes;
	for (uint64_t at = 0; !rc && at < total; at += 5) {
		unsigned char chunk[5];
		size_t n = total - at < 5 ? (size_t)(total - at) : 5;
		for (size_t k = 0; k < n; k++)
			chunk[k] = (unsigned char)((at + k) * 7 + 3);
		rc = gguf_writer_write_tensor_data(w, chunk, n);
	}
	return rc ? rc : gguf_writer_finish(w);
}

static int copy(struct gguf_writer *w, const char *in, struct fmt_error *err)
{
	struct gguf_reader *r;
	int rc = gguf_read_open(&r, in, err);
	if (rc)
		return rc;
	for (size_t i = 0; !rc && i < gguf_read_kv_count(r); i++)
		rc = gguf_writer_copy_kv(w, gguf_read_kv(r, i));
	for (size_t i = 0; !rc && i < gguf_read_tensor_count(r); i++) {
		const struct gguf_tensor_info *t = gguf_read_tensor(r, i);
		rc = gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne);
	}
	for (size_t i = 0; !rc && i < gguf_read_tensor_count(r); i++)
		rc = gguf_writer_write_tensor_data(w, gguf_read_tensor_data(r, i),
						   gguf_read_tensor(r, i)->size);
	if (!rc)
		rc = gguf_writer_finish(w);
	gguf_read_close(r);
	return rc;
}

int main(int argc, char **argv)
{
	struct fmt_error err = { "" };
	struct gguf_writer *w = NULL;
	int sample = argc == 3 && !strcmp(argv[1], "sample"), rc;
	if (!sample && !(argc == 4 && !strcmp(argv[1], "copy"))) {
		fprintf(stderr, "usage: gguf_write_sample sample OUT | copy IN OUT\n");
		return 2;
	}
	const char *out = argv[argc - 1];
	int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0) {
		perror(out);
		return 1;
	}
	rc = gguf_writer_begin(&w, fd, &err);
	if (!rc)
		rc = sample ? write_sample(w) : copy(w, argv[2], &err);
	gguf_writer_free(w);
	if (close(fd) && !rc) {
		perror(out);
		return 1;
	}
	if (rc)
		fprintf(stderr, "gguf_write_sample: %s\n", err.message);
	return rc ? 1 : 0;
}
