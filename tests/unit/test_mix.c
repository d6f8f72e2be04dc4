/* Per-tensor type selection (src/quant/mix.c) against doc/gguf.md §5.6. The expected types
 * are written down from the document (the Llama-3-8B Q4_K_M worked example and the
 * "other mixtures in short" paragraph, the use_more_bits layers for n = 32, the fallback
 * table of doc/peers.md), not computed with the code under test. */
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "quant/mix.h"
#include "quant/quant.h"

/* ---- a llama-shaped model ---------------------------------------------------------------- */

struct tensor {
	char name[64];
	uint32_t n_dims;
	uint64_t ne[4];
	uint32_t type; /* chosen */
	int layer;     /* -1 outside the blocks */
};

struct model {
	struct tensor *t;
	size_t n;
	struct quant_mix_model info;
};

static void add(struct model *m, int layer, const char *name, uint32_t n_dims, uint64_t ne0, uint64_t ne1)
{
	struct tensor *t = &m->t[m->n++];
	memset(t, 0, sizeof(*t));
	if (layer >= 0)
		snprintf(t->name, sizeof(t->name), "blk.%d.%s", layer, name);
	else
		snprintf(t->name, sizeof(t->name), "%s", name);
	t->n_dims = n_dims;
	t->ne[0] = ne0;
	t->ne[1] = n_dims > 1 ? ne1 : 1;
	t->ne[2] = t->ne[3] = 1;
	t->layer = layer;
}

/* Tensors in an order that is not llama.cpp's (the file order of convert_hf_to_gguf),
 * so that the test also proves the sort. */
static void build(struct model *m, uint32_t n_layer, uint32_t n_embd, uint32_t n_head, uint32_t n_head_kv,
		  uint32_t n_ff, uint32_t n_vocab, int tied)
{
	uint32_t kv = n_embd / n_head * n_head_kv;
	m->t = calloc(3 + 9 * (size_t)n_layer, sizeof(*m->t));
	assert_non_null(m->t);
	m->n = 0;
	add(m, -1, "token_embd.weight", 2, n_embd, n_vocab);
	for (uint32_t l = 0; l < n_layer; l++) {
		int i = (int)l;
		add(m, i, "attn_norm.weight", 1, n_embd, 0);
		add(m, i, "attn_q.weight", 2, n_embd, n_embd);
		add(m, i, "attn_k.weight", 2, n_embd, kv);
		add(m, i, "attn_v.weight", 2, n_embd, kv);
		add(m, i, "attn_output.weight", 2, n_embd, n_embd);
		add(m, i, "ffn_norm.weight", 1, n_embd, 0);
		add(m, i, "ffn_gate.weight", 2, n_embd, n_ff);
		add(m, i, "ffn_up.weight", 2, n_embd, n_ff);
		add(m, i, "ffn_down.weight", 2, n_ff, n_embd);
	}
	add(m, -1, "output_norm.weight", 1, n_embd, 0);
	if (!tied)
		add(m, -1, "output.weight", 2, n_embd, n_vocab);
	m->info = (struct quant_mix_model){
		.n_layer = n_layer, .n_head = n_head, .n_head_kv = n_head_kv, .tied_embeddings = tied
	};
}

static int by_llama_order(const void *a, const void *b)
{
	return quant_mix_compare(((const struct tensor *)a)->name, ((const struct tensor *)b)->name);
}

static void release(struct model *m)
{
	free(m->t);
	m->t = NULL;
}

static const struct tensor *find(const struct model *m, const char *name)
{
	for (size_t i = 0; i < m->n; i++)
		if (strcmp(m->t[i].name, name) == 0)
			return &m->t[i];
	fail_msg("no tensor %s", name);
	return NULL;
}

static uint32_t type_of(const struct model *m, int layer, const char *name)
{
	char full[64];
	if (layer >= 0)
		snprintf(full, sizeof(full), "blk.%d.%s", layer, name);
	else
		snprintf(full, sizeof(full), "%s", name);
	return find(m, full)->type;
}

static size_t count(const struct model *m, uint32_t type)
{
	size_t n = 0;
	for (size_t i = 0; i < m->n; i++)
		n += m->t[i].type == type;
	return n;
}

/* Llama-3-8B: 32 layers, n_embd 4096, 32 heads, 8 KV heads, ffn 14336, vocab 128256,
 * untied output. The 1-D norms are F32 in the file: give them F32 as current type. */
static void build_llama3_8b(struct model *m)
{
	build(m, 32, 4096, 32, 8, 14336, 128256, 0);
}

static void choose_f32_norms(struct model *m, uint32_t ftype)
{
	struct quant_mix *mix;
	qsort(m->t, m->n, sizeof(*m->t), by_llama_order);
	assert_int_equal(quant_mix_begin(&mix, ftype, &m->info), 0);
	for (size_t i = 0; i < m->n; i++) {
		struct tensor *t = &m->t[i];
		uint32_t current = t->n_dims == 1 ? QUANT_F32 : QUANT_F16;
		t->type = quant_mix_tensor_type(mix, t->name, t->n_dims, t->ne, current);
	}
	quant_mix_end(mix);
}

/* ---- doc/gguf.md's worked example ---------------------------------------------------------- */

/* "use_more_bits(i, n) ... n=32 → layers 0-3, 6,9,12,15,18,21,24,27, 28-31 (16 of 32)" */
static const int more_bits_32[] = { 0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31 };

static int in_more_bits(int layer)
{
	for (size_t i = 0; i < sizeof(more_bits_32) / sizeof(more_bits_32[0]); i++)
		if (more_bits_32[i] == layer)
			return 1;
	return 0;
}

static void test_llama3_8b_q4_k_m(void **state)
{
	(void)state;
	struct model m;
	build_llama3_8b(&m);
	choose_f32_norms(&m, QUANT_FTYPE_Q4_K_M);
	/* "65 f32 + 193 q4_K + 33 q6_K = 291 tensors" */
	assert_int_equal(m.n, 291);
	assert_int_equal(count(&m, QUANT_F32), 65);
	assert_int_equal(count(&m, QUANT_Q4_K), 193);
	assert_int_equal(count(&m, QUANT_Q6_K), 33);
	/* "token_embd Q4_K, output Q6_K, norms F32, attn_v & ffn_down Q6_K on the 16
	 * use_more_bits layers else Q4_K, everything else Q4_K" */
	assert_int_equal(type_of(&m, -1, "token_embd.weight"), QUANT_Q4_K);
	assert_int_equal(type_of(&m, -1, "output.weight"), QUANT_Q6_K);
	assert_int_equal(type_of(&m, -1, "output_norm.weight"), QUANT_F32);
	int more = 0;
	for (int l = 0; l < 32; l++) {
		uint32_t want = in_more_bits(l) ? QUANT_Q6_K : QUANT_Q4_K;
		more += in_more_bits(l);
		assert_int_equal(type_of(&m, l, "attn_v.weight"), want);
		assert_int_equal(type_of(&m, l, "ffn_down.weight"), want);
		assert_int_equal(type_of(&m, l, "attn_q.weight"), QUANT_Q4_K);
		assert_int_equal(type_of(&m, l, "attn_k.weight"), QUANT_Q4_K);
		assert_int_equal(type_of(&m, l, "attn_output.weight"), QUANT_Q4_K);
		assert_int_equal(type_of(&m, l, "ffn_gate.weight"), QUANT_Q4_K);
		assert_int_equal(type_of(&m, l, "ffn_up.weight"), QUANT_Q4_K);
		assert_int_equal(type_of(&m, l, "attn_norm.weight"), QUANT_F32);
		assert_int_equal(type_of(&m, l, "ffn_norm.weight"), QUANT_F32);
	}
	assert_int_equal(more, 16);
	release(&m);
}

/* The document's order: "output.weight, output_norm.weight, rope_freqs.weight,
 * token_embd.weight, blk.0.attn_k…, blk.0.attn_norm, blk.0.attn_output, blk.0.attn_q,
 * blk.0.attn_v, blk.0.ffn_down, blk.0.ffn_gate, blk.0.ffn_norm, blk.0.ffn_up, blk.1…" and
 * blocks by number, not by text (blk.2 before blk.10). */
static void test_order(void **state)
{
	(void)state;
	/* clang-format off */
	const char *want[] = {
		"output.weight", "output_norm.weight", "rope_freqs.weight", "token_embd.weight",
		"blk.0.attn_k.weight", "blk.0.attn_norm.weight", "blk.0.attn_output.weight",
		"blk.0.attn_q.weight", "blk.0.attn_v.weight", "blk.0.ffn_down.weight",
		"blk.0.ffn_gate.weight", "blk.0.ffn_norm.weight", "blk.0.ffn_up.weight",
		"blk.1.attn_k.weight", "blk.2.attn_k.weight", "blk.10.attn_k.weight",
	};
	/* clang-format on */
	size_t n = sizeof(want) / sizeof(want[0]);
	const char *got[sizeof(want) / sizeof(want[0])];
	for (size_t i = 0; i < n; i++)
		got[i] = want[(i * 7 + 3) % n]; /* a permutation (7 is prime to 16) */
	for (size_t i = 1; i < n; i++)          /* insertion sort with the comparator */
		for (size_t j = i; j > 0 && quant_mix_compare(got[j - 1], got[j]) > 0; j--) {
			const char *s = got[j];
			got[j] = got[j - 1];
			got[j - 1] = s;
		}
	for (size_t i = 0; i < n; i++)
		assert_string_equal(got[i], want[i]);
	assert_true(quant_mix_compare("blk.9.x", "blk.10.x") < 0);
	assert_true(quant_mix_compare("token_embd.weight", "blk.0.attn_k.weight") < 0);
	assert_int_equal(quant_mix_compare("blk.3.attn_q.weight", "blk.3.attn_q.weight"), 0);
}

/* ---- "Other mixtures in short (same model)" ------------------------------------------- */

static void expect_mixture(uint32_t ftype, uint32_t embd, uint32_t out, uint32_t rest, const uint32_t *attn_v,
			   const uint32_t *ffn_down, uint32_t attn_output)
{
	struct model m;
	build_llama3_8b(&m);
	choose_f32_norms(&m, ftype);
	assert_int_equal(type_of(&m, -1, "token_embd.weight"), embd);
	assert_int_equal(type_of(&m, -1, "output.weight"), out);
	assert_int_equal(type_of(&m, -1, "output_norm.weight"), QUANT_F32);
	for (int l = 0; l < 32; l++) {
		assert_int_equal(type_of(&m, l, "attn_v.weight"), attn_v[l]);
		assert_int_equal(type_of(&m, l, "ffn_down.weight"), ffn_down[l]);
		assert_int_equal(type_of(&m, l, "attn_output.weight"), attn_output);
		assert_int_equal(type_of(&m, l, "attn_q.weight"), rest);
		assert_int_equal(type_of(&m, l, "attn_k.weight"), rest);
		assert_int_equal(type_of(&m, l, "ffn_gate.weight"), rest);
		assert_int_equal(type_of(&m, l, "ffn_up.weight"), rest);
		assert_int_equal(type_of(&m, l, "attn_norm.weight"), QUANT_F32);
	}
	release(&m);
}

static void fill(uint32_t *v, uint32_t value)
{
	for (int l = 0; l < 32; l++)
		v[l] = value;
}

static void test_other_mixtures(void **state)
{
	(void)state;
	uint32_t v[32], d[32];

	/* Q4_K_S: attn_v layers 0–3 and ffn_down layers 0–3 Q5_K, rest Q4_K, output Q6_K */
	fill(v, QUANT_Q4_K);
	for (int l = 0; l < 4; l++)
		v[l] = QUANT_Q5_K;
	expect_mixture(QUANT_FTYPE_Q4_K_S, QUANT_Q4_K, QUANT_Q6_K, QUANT_Q4_K, v, v, QUANT_Q4_K);

	/* Q5_K_M: Q5_K + (attn_v, ffn_down) use_more_bits → Q6_K */
	for (int l = 0; l < 32; l++)
		v[l] = in_more_bits(l) ? QUANT_Q6_K : QUANT_Q5_K;
	expect_mixture(QUANT_FTYPE_Q5_K_M, QUANT_Q5_K, QUANT_Q6_K, QUANT_Q5_K, v, v, QUANT_Q5_K);

	/* Q5_K_S: all Q5_K, output Q6_K */
	fill(v, QUANT_Q5_K);
	expect_mixture(QUANT_FTYPE_Q5_K_S, QUANT_Q5_K, QUANT_Q6_K, QUANT_Q5_K, v, v, QUANT_Q5_K);

	/* Q6_K: all Q6_K */
	fill(v, QUANT_Q6_K);
	expect_mixture(QUANT_FTYPE_Q6_K, QUANT_Q6_K, QUANT_Q6_K, QUANT_Q6_K, v, v, QUANT_Q6_K);

	/* Q8_0: all Q8_0 incl. output/token_embd */
	fill(v, QUANT_Q8_0);
	expect_mixture(QUANT_FTYPE_Q8_0, QUANT_Q8_0, QUANT_Q8_0, QUANT_Q8_0, v, v, QUANT_Q8_0);

	/* Q3_K_M: attn_v L0–1 Q5_K else Q4_K; ffn_down L0–1 Q5_K else Q4_K; attn_output
	 * Q4_K; rest Q3_K (output: rule 1, Q6_K) */
	fill(v, QUANT_Q4_K);
	v[0] = v[1] = QUANT_Q5_K;
	expect_mixture(QUANT_FTYPE_Q3_K_M, QUANT_Q3_K, QUANT_Q6_K, QUANT_Q3_K, v, v, QUANT_Q4_K);

	/* Q3_K_L: attn_v/ffn_down/attn_output Q5_K, rest Q3_K */
	fill(v, QUANT_Q5_K);
	expect_mixture(QUANT_FTYPE_Q3_K_L, QUANT_Q3_K, QUANT_Q6_K, QUANT_Q3_K, v, v, QUANT_Q5_K);

	/* Q3_K_S: all Q3_K */
	fill(v, QUANT_Q3_K);
	expect_mixture(QUANT_FTYPE_Q3_K_S, QUANT_Q3_K, QUANT_Q6_K, QUANT_Q3_K, v, v, QUANT_Q3_K);

	/* Q2_K: attn_v Q4_K (GQA≥4), ffn_down Q3_K, attn_output Q3_K, rest Q2_K (incl.
	 * untied token_embd) */
	fill(v, QUANT_Q4_K);
	fill(d, QUANT_Q3_K);
	expect_mixture(QUANT_FTYPE_Q2_K, QUANT_Q2_K, QUANT_Q6_K, QUANT_Q2_K, v, d, QUANT_Q3_K);

	/* Q4_0/Q4_1/Q5_0/Q5_1: all that type except output Q6_K */
	static const uint32_t legacy[][2] = { { QUANT_FTYPE_Q4_0, QUANT_Q4_0 },
					      { QUANT_FTYPE_Q4_1, QUANT_Q4_1 },
					      { QUANT_FTYPE_Q5_0, QUANT_Q5_0 },
					      { QUANT_FTYPE_Q5_1, QUANT_Q5_1 } };
	for (size_t i = 0; i < 4; i++) {
		fill(v, legacy[i][1]);
		expect_mixture(legacy[i][0], legacy[i][1], QUANT_Q6_K, legacy[i][1], v, v, legacy[i][1]);
	}

	/* Float file types: every quantizable tensor in that type, the norms as they are */
	static const uint32_t floats[][2] = { { QUANT_FTYPE_F16, QUANT_F16 },
					      { QUANT_FTYPE_BF16, QUANT_BF16 },
					      { QUANT_FTYPE_ALL_F32, QUANT_F32 } };
	for (size_t i = 0; i < 3; i++) {
		fill(v, floats[i][1]);
		expect_mixture(floats[i][0], floats[i][1], floats[i][1], floats[i][1], v, v, floats[i][1]);
	}
}

/* Q2_K attn_v: "(n_gqa ≥ 4 ? Q4_K : Q3_K)" — a model without GQA gets Q3_K. */
static void test_q2_k_without_gqa(void **state)
{
	(void)state;
	struct model m;
	build(&m, 32, 4096, 32, 32, 11008, 32000, 0);
	choose_f32_norms(&m, QUANT_FTYPE_Q2_K);
	for (int l = 0; l < 32; l++)
		assert_int_equal(type_of(&m, l, "attn_v.weight"), QUANT_Q3_K);
	release(&m);
}

/* "model type 70B (llama, 80 layers, GQA) and type ∈ {Q3_K, Q4_K} → Q5_K" */
static void test_70b(void **state)
{
	(void)state;
	struct model m;
	build(&m, 80, 8192, 64, 8, 28672, 32000, 0);
	choose_f32_norms(&m, QUANT_FTYPE_Q4_K_M);
	/* n = 80: use_more_bits is i < 10 || i >= 70 || (i - 10) % 3 == 2 */
	assert_int_equal(type_of(&m, 0, "attn_v.weight"), QUANT_Q6_K);
	assert_int_equal(type_of(&m, 10, "attn_v.weight"), QUANT_Q5_K); /* Q4_K → Q5_K */
	assert_int_equal(type_of(&m, 12, "attn_v.weight"), QUANT_Q6_K);
	assert_int_equal(type_of(&m, 10, "ffn_down.weight"), QUANT_Q4_K); /* attn_v only */
	choose_f32_norms(&m, QUANT_FTYPE_Q3_K_S);
	assert_int_equal(type_of(&m, 40, "attn_v.weight"), QUANT_Q5_K); /* Q3_K → Q5_K */
	assert_int_equal(type_of(&m, 40, "attn_q.weight"), QUANT_Q3_K);
	release(&m);
	/* without GQA (65B) no bump */
	build(&m, 80, 8192, 64, 64, 22016, 32000, 0);
	choose_f32_norms(&m, QUANT_FTYPE_Q3_K_S);
	assert_int_equal(type_of(&m, 40, "attn_v.weight"), QUANT_Q3_K);
	release(&m);
}

/* "n_expert == 8 → Q8_0" for attn_v and attn_k. */
static void test_eight_experts(void **state)
{
	(void)state;
	struct model m;
	build(&m, 32, 4096, 32, 8, 14336, 32000, 0);
	m.info.n_expert = 8;
	choose_f32_norms(&m, QUANT_FTYPE_Q4_K_M);
	assert_int_equal(type_of(&m, 5, "attn_v.weight"), QUANT_Q8_0);
	assert_int_equal(type_of(&m, 5, "attn_k.weight"), QUANT_Q8_0);
	assert_int_equal(type_of(&m, 5, "attn_output.weight"), QUANT_Q5_K);
	release(&m);
}

/* ---- tied embeddings ---------------------------------------------------------------------- */

static void test_tied_and_untied(void **state)
{
	(void)state;
	struct model m;
	/* "token_embd.weight when tied" takes the output rule: Q6_K unless the type is Q8_0 */
	/* clang-format off */
	static const uint32_t cases[][3] = {
		/* ftype, tied token_embd, untied token_embd */
		{ QUANT_FTYPE_Q4_K_M, QUANT_Q6_K, QUANT_Q4_K },
		{ QUANT_FTYPE_Q2_K, QUANT_Q6_K, QUANT_Q2_K },
		{ QUANT_FTYPE_Q4_0, QUANT_Q6_K, QUANT_Q4_0 },
		{ QUANT_FTYPE_Q5_1, QUANT_Q6_K, QUANT_Q5_1 },
		{ QUANT_FTYPE_Q8_0, QUANT_Q8_0, QUANT_Q8_0 },
		{ QUANT_FTYPE_Q6_K, QUANT_Q6_K, QUANT_Q6_K },
		{ QUANT_FTYPE_F16, QUANT_F16, QUANT_F16 },
	};
	/* clang-format on */
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		build(&m, 4, 512, 8, 2, 1536, 32000, 1);
		choose_f32_norms(&m, cases[i][0]);
		assert_int_equal(type_of(&m, -1, "token_embd.weight"), cases[i][1]);
		release(&m);
		build(&m, 4, 512, 8, 2, 1536, 32000, 0);
		choose_f32_norms(&m, cases[i][0]);
		assert_int_equal(type_of(&m, -1, "token_embd.weight"), cases[i][2]);
		release(&m);
	}
}

/* ---- fallbacks ----------------------------------------------------------------------------- */

static uint32_t one(uint32_t ftype, const char *name, uint64_t ne0, uint64_t ne1, int tied,
		    unsigned *fallbacks)
{
	struct quant_mix *mix;
	struct quant_mix_model info = {
		.n_layer = 24, .n_head = 14, .n_head_kv = 2, .tied_embeddings = tied
	};
	uint64_t ne[2] = { ne0, ne1 };
	assert_int_equal(quant_mix_begin(&mix, ftype, &info), 0);
	uint32_t t = quant_mix_tensor_type(mix, name, 2, ne, QUANT_BF16);
	if (fallbacks)
		*fallbacks = quant_mix_fallbacks(mix);
	quant_mix_end(mix);
	return t;
}

static void test_fallback_not_divisible_by_256(void **state)
{
	(void)state;
	unsigned fb;
	/* ne[0] = 896 (Qwen2-0.5B): 896 % 256 != 0, 896 % 32 == 0. doc/peers.md: Q2_K/Q3_K →
	 * Q4_0, Q4_K → Q5_0, Q5_K → Q5_1, Q6_K → Q8_0 */
	/* clang-format off */
	static const uint32_t cases[][2] = {
		{ QUANT_FTYPE_Q2_K, QUANT_Q4_0 },   { QUANT_FTYPE_Q3_K_S, QUANT_Q4_0 },
		{ QUANT_FTYPE_Q3_K_M, QUANT_Q4_0 }, { QUANT_FTYPE_Q4_K_S, QUANT_Q5_0 },
		{ QUANT_FTYPE_Q4_K_M, QUANT_Q5_0 }, { QUANT_FTYPE_Q5_K_S, QUANT_Q5_1 },
		{ QUANT_FTYPE_Q5_K_M, QUANT_Q5_1 }, { QUANT_FTYPE_Q6_K, QUANT_Q8_0 },
	};
	/* clang-format on */
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(one(cases[i][0], "blk.5.attn_q.weight", 896, 896, 0, &fb), cases[i][1]);
		assert_int_equal(fb, 1);
	}
	/* 32-block types fit: no fallback */
	assert_int_equal(one(QUANT_FTYPE_Q4_0, "blk.5.attn_q.weight", 896, 896, 0, &fb), QUANT_Q4_0);
	assert_int_equal(fb, 0);
	assert_int_equal(one(QUANT_FTYPE_Q8_0, "blk.5.attn_q.weight", 896, 896, 0, &fb), QUANT_Q8_0);
	/* a rule's type falls back too: Q4_K_M attn_v in a use_more_bits layer is Q6_K → Q8_0 */
	assert_int_equal(one(QUANT_FTYPE_Q4_K_M, "blk.0.attn_v.weight", 896, 128, 0, &fb), QUANT_Q8_0);
	/* Q2_K ffn_down is Q3_K; rows of 4832 = 151 * 32 → Q4_0 */
	assert_int_equal(one(QUANT_FTYPE_Q2_K, "blk.0.ffn_down.weight", 4832, 896, 0, &fb), QUANT_Q4_0);
	/* rows of 4864 = 19 * 256 need no fallback: Q4_K_S ffn_down of the first layer is Q5_K */
	assert_int_equal(one(QUANT_FTYPE_Q4_K_S, "blk.0.ffn_down.weight", 4864, 896, 0, &fb), QUANT_Q5_K);
	assert_int_equal(fb, 0);
	/* output: "if ne[0] % blck(default) != 0 → Q8_0" */
	assert_int_equal(one(QUANT_FTYPE_Q4_K_M, "output.weight", 896, 151936, 0, &fb), QUANT_Q8_0);
	assert_int_equal(fb, 0);
	/* tied token_embd likewise */
	assert_int_equal(one(QUANT_FTYPE_Q4_K_M, "token_embd.weight", 896, 151936, 1, &fb), QUANT_Q8_0);
	/* untied token_embd: the default type, then the fallback */
	assert_int_equal(one(QUANT_FTYPE_Q4_K_M, "token_embd.weight", 896, 151936, 0, &fb), QUANT_Q5_0);
	/* Q4_0 file: 896 % 32 == 0 so the output rule gives Q6_K, whose fallback is Q8_0 */
	assert_int_equal(one(QUANT_FTYPE_Q4_0, "output.weight", 896, 151936, 0, &fb), QUANT_Q8_0);
	assert_int_equal(fb, 1);
}

static void test_fallback_not_divisible_by_32(void **state)
{
	(void)state;
	unsigned fb;
	/* "if still not divisible by 32 → F16" */
	static const uint32_t ftypes[] = { QUANT_FTYPE_Q2_K,   QUANT_FTYPE_Q3_K_M, QUANT_FTYPE_Q4_K_M,
					   QUANT_FTYPE_Q5_K_S, QUANT_FTYPE_Q6_K,   QUANT_FTYPE_Q4_0,
					   QUANT_FTYPE_Q4_1,   QUANT_FTYPE_Q5_0,   QUANT_FTYPE_Q5_1,
					   QUANT_FTYPE_Q8_0 };
	for (size_t i = 0; i < sizeof(ftypes) / sizeof(ftypes[0]); i++) {
		assert_int_equal(one(ftypes[i], "blk.1.attn_q.weight", 1000, 1000, 0, &fb), QUANT_F16);
		assert_int_equal(fb, 1);
		/* output: Q8_0 by rule 1, then F16 */
		assert_int_equal(one(ftypes[i], "output.weight", 1000, 32000, 0, &fb), QUANT_F16);
	}
	/* float file types have no block size to fall back from */
	assert_int_equal(one(QUANT_FTYPE_F16, "blk.1.attn_q.weight", 1000, 1000, 0, &fb), QUANT_F16);
	assert_int_equal(fb, 0);
	assert_int_equal(one(QUANT_FTYPE_ALL_F32, "blk.1.attn_q.weight", 1000, 1000, 0, &fb), QUANT_F32);
}

/* ---- what is not quantized ---------------------------------------------------------------- */

static void test_kept_as_is(void **state)
{
	(void)state;
	struct quant_mix *mix;
	struct quant_mix_model info = { .n_layer = 2, .n_head = 8, .n_head_kv = 8 };
	assert_int_equal(quant_mix_begin(&mix, QUANT_FTYPE_Q4_K_M, &info), 0);
	uint64_t v1[1] = { 4096 }, m2[2] = { 4096, 4096 }, col[2] = { 4096, 1 };
	/* 1-D */
	assert_int_equal(quant_mix_tensor_type(mix, "blk.0.attn_norm.weight", 1, v1, QUANT_F32), QUANT_F32);
	assert_int_equal(quant_mix_tensor_type(mix, "rope_freqs.weight", 1, v1, QUANT_F32), QUANT_F32);
	/* a norm that is 2-D */
	assert_int_equal(quant_mix_tensor_type(mix, "blk.0.ffn_norm.weight", 2, m2, QUANT_F16), QUANT_F16);
	/* not a "weight" */
	assert_int_equal(quant_mix_tensor_type(mix, "blk.0.attn_q.bias", 2, m2, QUANT_F16), QUANT_F16);
	/* MoE router, positional embeddings */
	assert_int_equal(quant_mix_tensor_type(mix, "blk.0.ffn_gate_inp.weight", 2, m2, QUANT_F32),
			 QUANT_F32);
	assert_int_equal(quant_mix_tensor_type(mix, "position_embd.weight", 2, m2, QUANT_F16), QUANT_F16);
	/* [4096, 1] has one dimension for ggml_n_dims */
	assert_int_equal(quant_mix_tensor_type(mix, "blk.0.attn_q.weight", 2, col, QUANT_F16), QUANT_F16);
	/* and a normal matrix is quantized */
	assert_int_equal(quant_mix_tensor_type(mix, "blk.0.attn_q.weight", 2, m2, QUANT_F16), QUANT_Q4_K);
	assert_false(quant_mix_allows_quantization("blk.0.attn_norm.weight", 2, m2));
	assert_true(quant_mix_allows_quantization("blk.0.ffn_up.weight", 2, m2));
	quant_mix_end(mix);
}

/* Counters: the attn_v counter follows the visits, not the block number in the name, as
 * llama.cpp's i_attention_wv does; and n_attention_wv from the caller when given. */
static void test_counters(void **state)
{
	(void)state;
	struct quant_mix *mix;
	struct quant_mix_model info = { .n_layer = 32, .n_head = 32, .n_head_kv = 8 };
	uint64_t ne[2] = { 4096, 1024 };
	assert_int_equal(quant_mix_begin(&mix, QUANT_FTYPE_Q4_K_M, &info), 0);
	/* visits 0..3 are use_more_bits whatever the names say */
	for (int i = 0; i < 4; i++)
		assert_int_equal(quant_mix_tensor_type(mix, "blk.7.attn_v.weight", 2, ne, QUANT_F16),
				 QUANT_Q6_K);
	assert_int_equal(quant_mix_tensor_type(mix, "blk.7.attn_v.weight", 2, ne, QUANT_F16), QUANT_Q4_K);
	quant_mix_end(mix);
	/* n_attention_wv = 8: use_more_bits(i, 8) = i < 1 || i >= 7 || (i - 1) % 3 == 2 */
	info.n_attention_wv = 8;
	assert_int_equal(quant_mix_begin(&mix, QUANT_FTYPE_Q4_K_M, &info), 0);
	static const uint32_t want[8] = { QUANT_Q6_K, QUANT_Q4_K, QUANT_Q4_K, QUANT_Q6_K,
					  QUANT_Q4_K, QUANT_Q4_K, QUANT_Q6_K, QUANT_Q6_K };
	for (int i = 0; i < 8; i++)
		assert_int_equal(quant_mix_tensor_type(mix, "blk.0.attn_v.weight", 2, ne, QUANT_F16),
				 want[i]);
	quant_mix_end(mix);
	assert_true(quant_mix_is_attention_v("blk.0.attn_v.weight"));
	assert_true(quant_mix_is_attention_v("blk.0.attn_qkv.weight"));
	assert_true(quant_mix_is_attention_v("blk.0.attn_kv_b.weight"));
	assert_false(quant_mix_is_attention_v("blk.0.attn_k.weight"));
}

/* MoE models take the layer from the name and refuse one without it (llama.cpp throws). */
static void test_expert_layer_from_name(void **state)
{
	(void)state;
	struct quant_mix *mix;
	struct quant_mix_model info = { .n_layer = 32, .n_head = 32, .n_head_kv = 8, .n_expert = 4 };
	uint64_t ne[3] = { 14336, 4096, 4 };
	uint32_t t;
	assert_int_equal(quant_mix_begin(&mix, QUANT_FTYPE_Q4_K_M, &info), 0);
	assert_int_equal(quant_mix_select(mix, "blk.5.ffn_down_exps.weight", 3, ne, QUANT_F16, &t), 0);
	assert_int_equal(t, QUANT_Q4_K); /* layer 5 is not use_more_bits for n = 32 */
	assert_int_equal(quant_mix_select(mix, "blk.6.ffn_down_exps.weight", 3, ne, QUANT_F16, &t), 0);
	assert_int_equal(t, QUANT_Q6_K);
	assert_int_equal(quant_mix_select(mix, "blk.40.ffn_down_exps.weight", 3, ne, QUANT_F16, &t),
			 MODL_EINVALID);
	assert_int_equal(quant_mix_tensor_type(mix, "ffn_down_exps.weight", 3, ne, QUANT_F16),
			 QUANT_MIX_INVALID);
	quant_mix_end(mix);
}

/* ---- names of the file types ------------------------------------------------------------- */

static void test_ftype_names(void **state)
{
	(void)state;
	/* doc/cli.md's TYPE list and doc/gguf.md §5.5's llama_ftype values */
	static const struct {
		const char *name;
		uint32_t ftype, type;
		/* clang-format off */
	} want[] = {
		{ "F32", 0, QUANT_F32 },      { "F16", 1, QUANT_F16 },      { "BF16", 32, QUANT_BF16 },
		{ "Q8_0", 7, QUANT_Q8_0 },    { "Q4_0", 2, QUANT_Q4_0 },    { "Q4_1", 3, QUANT_Q4_1 },
		{ "Q5_0", 8, QUANT_Q5_0 },    { "Q5_1", 9, QUANT_Q5_1 },    { "Q2_K", 10, QUANT_Q2_K },
		{ "Q3_K_S", 11, QUANT_Q3_K }, { "Q3_K_M", 12, QUANT_Q3_K }, { "Q3_K_L", 13, QUANT_Q3_K },
		{ "Q4_K_S", 14, QUANT_Q4_K }, { "Q4_K_M", 15, QUANT_Q4_K }, { "Q5_K_S", 16, QUANT_Q5_K },
		{ "Q5_K_M", 17, QUANT_Q5_K }, { "Q6_K", 18, QUANT_Q6_K },
	};
	/* clang-format on */
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		uint32_t f = 999;
		assert_int_equal(quant_ftype_from_name(want[i].name, &f), 0);
		assert_int_equal(f, want[i].ftype);
		assert_string_equal(quant_ftype_name(f), want[i].name);
		assert_int_equal(quant_ftype_default_type(f), want[i].type);
		char lower[16];
		size_t n = strlen(want[i].name);
		for (size_t j = 0; j <= n; j++)
			lower[j] =
				(char)(want[i].name[j] >= 'A' && want[i].name[j] <= 'Z' ? want[i].name[j] + 32
											: want[i].name[j]);
		assert_int_equal(quant_ftype_from_name(lower, &f), 0);
		assert_int_equal(f, want[i].ftype);
	}
	uint32_t f;
	assert_int_equal(quant_ftype_from_name("Q4_K", &f), MODL_EUSAGE);
	assert_int_equal(quant_ftype_from_name("IQ4_XS", &f), MODL_EUSAGE);
	assert_int_equal(quant_ftype_from_name("", &f), MODL_EUSAGE);
	assert_null(quant_ftype_name(19));
	struct quant_mix *mix;
	struct quant_mix_model info = { .n_layer = 1 };
	assert_int_equal(quant_mix_begin(&mix, 19, &info), MODL_EUSAGE);
	assert_null(mix);
}

int main(void)
{
	/* clang-format off */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_llama3_8b_q4_k_m),
		cmocka_unit_test(test_order),
		cmocka_unit_test(test_other_mixtures),
		cmocka_unit_test(test_q2_k_without_gqa),
		cmocka_unit_test(test_70b),
		cmocka_unit_test(test_eight_experts),
		cmocka_unit_test(test_tied_and_untied),
		cmocka_unit_test(test_fallback_not_divisible_by_256),
		cmocka_unit_test(test_fallback_not_divisible_by_32),
		cmocka_unit_test(test_kept_as_is),
		cmocka_unit_test(test_counters),
		cmocka_unit_test(test_expert_layer_from_name),
		cmocka_unit_test(test_ftype_names),
	};
	/* clang-format on */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
