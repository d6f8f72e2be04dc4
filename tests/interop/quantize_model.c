/* Writes a llama-shaped GGUF model with random weights through modl's GGUF writer, for
 * the quantize tests and benchmark (tests/interop/test_quantize_llama.py,
 * tests/e2e/test_quantize.py, bench/quantize.py):
 *
 *   quantize_model OUT.gguf [--layers N] [--embd N] [--heads N] [--kv-heads N] [--ff N]
 *                  [--vocab N] [--type F16|BF16|F32] [--tied] [--seed N]
 *                  [--vocab-from FILE.gguf] [--odd-tensor] [--bad TENSOR=nan|inf]
 *                  [--extra-kvs]
 *
 * Tensors are written in convert_hf_to_gguf's order (token_embd, blocks, output_norm,
 * output), which is not llama.cpp's, so that re-ordering is exercised. --vocab-from
 * copies the tokenizer.* keys of a real model (the vocabulary size must then match it),
 * so that llama.cpp can load and run the result. --odd-tensor adds a matrix whose rows
 * (100) no block size divides. --bad puts a NaN or an infinity into one tensor.
 * --extra-kvs adds keys of every value type plus a stale general.quantization_version
 * in the middle, to check that metadata survive in order.
 *
 * Built by the tests from formats/ alone (no quantization code: the F16/BF16 rounding is
 * written out below), so that it does not depend on what it helps to test. */
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "formats/gguf.h"

struct options {
	unsigned layers, embd, heads, kv_heads, ff, vocab, seed;
	uint32_t type;
	int tied, odd_tensor, extra_kvs;
	const char *vocab_from, *bad_tensor, *bad_kind;
};

static uint64_t rng_state;

static uint64_t rng_next(void)
{
	uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

/* About normal (Irwin–Hall of four uniforms), mean 0, deviation 1. Fast enough for a
 * gigabyte of weights. */
static float roughly_normal(void)
{
	uint64_t r = rng_next();
	int s = (int)(r & 0xffff) + (int)(r >> 16 & 0xffff) + (int)(r >> 32 & 0xffff) + (int)(r >> 48);
	return ((float)s - 131070.0f) * (1.0f / 37837.0f);
}

/* IEEE binary16, round to nearest even (subnormals included). */
static uint16_t to_f16(float f)
{
	uint32_t x;
	memcpy(&x, &f, 4);
	uint32_t sign = (x >> 16) & 0x8000, abs = x & 0x7fffffff;
	if (abs > 0x7f800000)
		return (uint16_t)(sign | 0x7e00);
	if (abs >= 0x477ff000) /* rounds to infinity */
		return (uint16_t)(sign | 0x7c00);
	if (abs < 0x38800000) { /* subnormal or zero in binary16 */
		float a;
		memcpy(&a, &abs, 4);
		float scaled = a * 16777216.0f; /* 2^24: units of the smallest subnormal */
		uint32_t q = (uint32_t)scaled;
		float rem = scaled - (float)q;
		if (rem > 0.5f || (rem == 0.5f && (q & 1)))
			q++;
		return (uint16_t)(sign | q);
	}
	uint32_t mant = abs & 0x7fffff, exp = (abs >> 23) - 112;
	uint32_t h = exp << 10 | mant >> 13, rest = mant & 0x1fff;
	if (rest > 0x1000 || (rest == 0x1000 && (h & 1)))
		h++;
	return (uint16_t)(sign | h);
}

static uint16_t to_bf16(float f)
{
	uint32_t x;
	memcpy(&x, &f, 4);
	if ((x & 0x7fffffff) > 0x7f800000)
		return (uint16_t)((x >> 16) | 64);
	return (uint16_t)((x + 0x7fff + ((x >> 16) & 1)) >> 16);
}

static int fail(const char *what, const struct fmt_error *err)
{
	fprintf(stderr, "quantize_model: %s: %s\n", what, err ? err->message : "");
	return 1;
}

struct tensor {
	char name[64];
	uint32_t n_dims;
	uint64_t ne[2];
	uint32_t type;
	float scale; /* deviation; 0 for a norm (ones with a little noise) */
};

static void add(struct tensor *t, size_t *n, const char *name, uint32_t n_dims, uint64_t ne0, uint64_t ne1,
		uint32_t type, float scale)
{
	struct tensor *x = &t[(*n)++];
	snprintf(x->name, sizeof(x->name), "%s", name);
	x->n_dims = n_dims;
	x->ne[0] = ne0;
	x->ne[1] = ne1;
	x->type = n_dims == 1 ? GGUF_TENSOR_F32 : type;
	x->scale = scale;
}

static size_t plan(const struct options *o, struct tensor *t)
{
	size_t n = 0;
	char name[64];
	unsigned kv = o->embd / o->heads * o->kv_heads;
	add(t, &n, "token_embd.weight", 2, o->embd, o->vocab, o->type, 0.02f);
	for (unsigned l = 0; l < o->layers; l++) {
		static const struct {
			const char *name;
			int dims;
		} parts[] = { { "attn_norm", 1 }, { "attn_q", 2 },      { "attn_k", 2 },
			      { "attn_v", 2 },    { "attn_output", 2 }, { "ffn_norm", 1 },
			      { "ffn_gate", 2 },  { "ffn_up", 2 },      { "ffn_down", 2 } };
		for (size_t p = 0; p < sizeof(parts) / sizeof(parts[0]); p++) {
			const char *part = parts[p].name;
			uint64_t ne0 = o->embd, ne1 = o->embd;
			if (!strcmp(part, "attn_k") || !strcmp(part, "attn_v"))
				ne1 = kv;
			else if (!strcmp(part, "ffn_gate") || !strcmp(part, "ffn_up"))
				ne1 = o->ff;
			else if (!strcmp(part, "ffn_down"))
				ne0 = o->ff;
			snprintf(name, sizeof(name), "blk.%u.%s.weight", l, part);
			add(t, &n, name, (uint32_t)parts[p].dims, ne0, ne1, o->type,
			    parts[p].dims == 1 ? 0.0f : 0.02f * (1.0f + 0.1f * (float)(l % 3)));
		}
		if (o->odd_tensor && l == 0)
			add(t, &n, "blk.0.odd_proj.weight", 2, 100, 64, o->type, 0.05f);
	}
	add(t, &n, "output_norm.weight", 1, o->embd, 1, GGUF_TENSOR_F32, 0.0f);
	if (!o->tied)
		add(t, &n, "output.weight", 2, o->embd, o->vocab, o->type, 0.02f);
	return n;
}

static int write_metadata(struct gguf_writer *w, const struct options *o)
{
	struct gguf_reader *vocab = NULL;
	struct fmt_error err;
	uint32_t ftype = o->type == GGUF_TENSOR_F16 ? 1 : o->type == GGUF_TENSOR_BF16 ? 32 : 0;
	int rc = 0;
	rc = rc ? rc : gguf_writer_add_string(w, "general.architecture", "llama");
	rc = rc ? rc : gguf_writer_add_string(w, "general.name", "modl quantize test model");
	if (o->extra_kvs) {
		/* a stale key that quantize must move (llama.cpp removes and appends it) */
		rc = rc ? rc : gguf_writer_add_u32(w, "general.quantization_version", 1);
		rc = rc ? rc : gguf_writer_add_u8(w, "test.u8", 200);
		rc = rc ? rc : gguf_writer_add_i64(w, "test.i64", -5);
		rc = rc ? rc : gguf_writer_add_f64(w, "test.f64", 0.1);
		rc = rc ? rc : gguf_writer_add_bool(w, "test.bool", 1);
		rc = rc ? rc : gguf_writer_add_string(w, "test.string", "h\xc3\xa9llo");
		static const int16_t arr[] = { -1, 2, -3 };
		rc = rc ? rc : gguf_writer_add_array_i16(w, "test.array", arr, 3);
	}
	rc = rc ? rc : gguf_writer_add_u32(w, "llama.context_length", 2048);
	rc = rc ? rc : gguf_writer_add_u32(w, "llama.embedding_length", o->embd);
	rc = rc ? rc : gguf_writer_add_u32(w, "llama.block_count", o->layers);
	rc = rc ? rc : gguf_writer_add_u32(w, "llama.feed_forward_length", o->ff);
	rc = rc ? rc : gguf_writer_add_u32(w, "llama.rope.dimension_count", o->embd / o->heads);
	rc = rc ? rc : gguf_writer_add_u32(w, "llama.attention.head_count", o->heads);
	rc = rc ? rc : gguf_writer_add_u32(w, "llama.attention.head_count_kv", o->kv_heads);
	rc = rc ? rc : gguf_writer_add_f32(w, "llama.attention.layer_norm_rms_epsilon", 1e-5f);
	rc = rc ? rc : gguf_writer_add_f32(w, "llama.rope.freq_base", 10000.0f);
	rc = rc ? rc : gguf_writer_add_u32(w, "general.file_type", ftype);
	if (rc || !o->vocab_from)
		return rc;
	if ((rc = gguf_read_open(&vocab, o->vocab_from, &err)))
		return fail(o->vocab_from, &err);
	for (size_t i = 0; !rc && i < gguf_read_kv_count(vocab); i++) {
		const struct gguf_kv *kv = gguf_read_kv(vocab, i);
		if (!strncmp(kv->key, "tokenizer.", 10))
			rc = gguf_writer_copy_kv(w, kv);
	}
	gguf_read_close(vocab);
	return rc;
}

/* One row at a time: memory stays small whatever the model. */
static int write_data(struct gguf_writer *w, const struct options *o, const struct tensor *t)
{
	size_t n = (size_t)t->ne[0], esize = t->type == GGUF_TENSOR_F32 ? 4 : 2;
	unsigned char *row = malloc(n * esize);
	int rc = 0;
	int bad = o->bad_tensor && !strcmp(o->bad_tensor, t->name);
	if (!row)
		return -1;
	for (uint64_t r = 0; !rc && r < (t->n_dims == 1 ? 1 : t->ne[1]); r++) {
		/* rows differ in scale, as real weights do */
		float row_scale = t->scale * (0.5f + (float)(rng_next() % 1000) / 1000.0f);
		for (size_t i = 0; i < n; i++) {
			float v = t->scale == 0.0f ? 1.0f + 0.05f * roughly_normal()
						   : row_scale * roughly_normal();
			if (bad && r == (t->n_dims == 1 ? 0 : t->ne[1] / 2) && i == n / 3)
				v = !strcmp(o->bad_kind, "inf") ? INFINITY : NAN;
			if (t->type == GGUF_TENSOR_F32)
				memcpy(row + 4 * i, &v, 4);
			else {
				uint16_t h = t->type == GGUF_TENSOR_F16 ? to_f16(v) : to_bf16(v);
				memcpy(row + 2 * i, &h, 2);
			}
		}
		rc = gguf_writer_write_tensor_data(w, row, n * esize);
	}
	free(row);
	return rc;
}

static int parse(int argc, char **argv, struct options *o, const char **out)
{
	*o = (struct options){ .layers = 2,
			       .embd = 256,
			       .heads = 4,
			       .kv_heads = 2,
			       .ff = 512,
			       .vocab = 1000,
			       .seed = 1,
			       .type = GGUF_TENSOR_F16 };
	*out = NULL;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		unsigned *num = !strcmp(a, "--layers")     ? &o->layers
				: !strcmp(a, "--embd")     ? &o->embd
				: !strcmp(a, "--heads")    ? &o->heads
				: !strcmp(a, "--kv-heads") ? &o->kv_heads
				: !strcmp(a, "--ff")       ? &o->ff
				: !strcmp(a, "--vocab")    ? &o->vocab
				: !strcmp(a, "--seed")     ? &o->seed
							   : NULL;
		if (num && v) {
			*num = (unsigned)strtoul(v, NULL, 10);
			i++;
		} else if (!strcmp(a, "--type") && v) {
			o->type = !strcmp(v, "BF16")  ? GGUF_TENSOR_BF16
				  : !strcmp(v, "F32") ? GGUF_TENSOR_F32
						      : GGUF_TENSOR_F16;
			i++;
		} else if (!strcmp(a, "--vocab-from") && v) {
			o->vocab_from = v;
			i++;
		} else if (!strcmp(a, "--bad") && v && strchr(v, '=')) {
			static char name[64];
			snprintf(name, sizeof(name), "%.*s", (int)(strchr(v, '=') - v), v);
			o->bad_tensor = name;
			o->bad_kind = strchr(v, '=') + 1;
			i++;
		} else if (!strcmp(a, "--tied")) {
			o->tied = 1;
		} else if (!strcmp(a, "--odd-tensor")) {
			o->odd_tensor = 1;
		} else if (!strcmp(a, "--extra-kvs")) {
			o->extra_kvs = 1;
		} else if (a[0] != '-' && !*out) {
			*out = a;
		} else {
			fprintf(stderr, "quantize_model: bad argument %s\n", a);
			return 2;
		}
	}
	if (!*out || !o->heads || !o->kv_heads || !o->layers) {
		fprintf(stderr, "usage: quantize_model OUT.gguf [options] (see the source)\n");
		return 2;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct options o;
	struct fmt_error err;
	struct gguf_writer *w = NULL;
	const char *out;
	int rc = parse(argc, argv, &o, &out);
	if (rc)
		return rc;
	rng_state = o.seed * 0x9E3779B97F4A7C15ull + 12345;
	struct tensor *t = calloc(4 + 10 * (size_t)o.layers, sizeof(*t));
	int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (!t || fd < 0)
		return fail(out, NULL);
	size_t n = plan(&o, t);
	if (gguf_writer_begin(&w, fd, &err) || write_metadata(w, &o))
		return fail("metadata", &err);
	for (size_t i = 0; i < n; i++)
		if (gguf_writer_add_tensor(w, t[i].name, t[i].type, t[i].n_dims, t[i].ne))
			return fail(t[i].name, &err);
	for (size_t i = 0; i < n; i++)
		if (write_data(w, &o, &t[i]))
			return fail(t[i].name, &err);
	if (gguf_writer_finish(w) || close(fd))
		return fail("finish", &err);
	gguf_writer_free(w);
	free(t);
	return 0;
}
