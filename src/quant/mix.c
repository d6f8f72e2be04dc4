/* Per-tensor type selection: llama.cpp's llama_tensor_get_type (src/llama-quant.cpp of
 * the llama.cpp that node-llama-cpp 3.22.1 bundles, described in doc/gguf.md §5.6) for the
 * non-IQ file types of doc/cli.md.
 *
 * The rules are stateful: the attn_v and ffn_down rules look at a counter of how many
 * such tensors came before (llama.cpp's i_attention_wv, i_ffn_down), so the caller must
 * present the tensors in llama.cpp's order (quant_mix_compare), and every tensor once,
 * including those that are not quantized. Changing the order changes which layers get
 * more bits, and then the file no longer matches llama-quantize's. */
#include "mix.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/error.h"
#include "util/strbuf.h"
#include "quant.h"

struct quant_mix {
	uint32_t ftype;
	uint32_t default_type;
	struct quant_mix_model model;
	int is_70b;
	int n_attention_wv, n_ffn;
	int i_attention_wv, i_ffn_down, i_ffn_gate, i_ffn_up;
	unsigned n_fallback;
};

/* llama.cpp's tensor_category, reduced to what the non-IQ rules look at. */
enum category {
	CAT_TOKEN_EMBD,
	CAT_ATTENTION_Q,
	CAT_ATTENTION_V,
	CAT_ATTENTION_K,
	CAT_ATTENTION_QKV,
	CAT_ATTENTION_KV_B,
	CAT_ATTENTION_OUTPUT,
	CAT_FFN_UP,
	CAT_FFN_GATE,
	CAT_FFN_DOWN,
	CAT_OUTPUT,
	CAT_OTHER,
};

static const struct {
	const char *name;
	uint32_t ftype;
	uint32_t default_type;
	/* clang-format off */
} ftypes[] = {
	{ "F32", QUANT_FTYPE_ALL_F32, QUANT_F32 },
	{ "F16", QUANT_FTYPE_F16, QUANT_F16 },
	{ "BF16", QUANT_FTYPE_BF16, QUANT_BF16 },
	{ "Q8_0", QUANT_FTYPE_Q8_0, QUANT_Q8_0 },
	{ "Q4_0", QUANT_FTYPE_Q4_0, QUANT_Q4_0 },
	{ "Q4_1", QUANT_FTYPE_Q4_1, QUANT_Q4_1 },
	{ "Q5_0", QUANT_FTYPE_Q5_0, QUANT_Q5_0 },
	{ "Q5_1", QUANT_FTYPE_Q5_1, QUANT_Q5_1 },
	{ "Q2_K", QUANT_FTYPE_Q2_K, QUANT_Q2_K },
	{ "Q3_K_S", QUANT_FTYPE_Q3_K_S, QUANT_Q3_K },
	{ "Q3_K_M", QUANT_FTYPE_Q3_K_M, QUANT_Q3_K },
	{ "Q3_K_L", QUANT_FTYPE_Q3_K_L, QUANT_Q3_K },
	{ "Q4_K_S", QUANT_FTYPE_Q4_K_S, QUANT_Q4_K },
	{ "Q4_K_M", QUANT_FTYPE_Q4_K_M, QUANT_Q4_K },
	{ "Q5_K_S", QUANT_FTYPE_Q5_K_S, QUANT_Q5_K },
	{ "Q5_K_M", QUANT_FTYPE_Q5_K_M, QUANT_Q5_K },
	{ "Q6_K", QUANT_FTYPE_Q6_K, QUANT_Q6_K },
};
/* clang-format on */
#define N_FTYPES (sizeof(ftypes) / sizeof(ftypes[0]))

static int ftype_index(uint32_t ftype)
{
	for (size_t i = 0; i < N_FTYPES; i++)
		if (ftypes[i].ftype == ftype)
			return (int)i;
	return -1;
}

int quant_ftype_from_name(const char *name, uint32_t *ftype)
{
	for (size_t i = 0; name && i < N_FTYPES; i++) {
		if (strcasecmp(name, ftypes[i].name) == 0) {
			*ftype = ftypes[i].ftype;
			return 0;
		}
	}
	struct strbuf names;
	int rc;
	strbuf_init(&names);
	if (quant_ftype_names(&names))
		rc = modl_error_oom();
	else
		rc = modl_error_set(MODL_EUSAGE, "unknown type '%s' (%s)", name ? name : "", names.buf);
	strbuf_free(&names);
	return rc;
}

int quant_ftype_names(struct strbuf *sb)
{
	for (size_t i = 0; i < N_FTYPES; i++)
		if (strbuf_addf(sb, "%s%s", i ? " " : "", ftypes[i].name))
			return MODL_EFAIL;
	return 0;
}

const char *quant_ftype_name(uint32_t ftype)
{
	int i = ftype_index(ftype);
	return i < 0 ? NULL : ftypes[i].name;
}

uint32_t quant_ftype_default_type(uint32_t ftype)
{
	int i = ftype_index(ftype);
	return i < 0 ? QUANT_MIX_INVALID : ftypes[i].default_type;
}

/* ---- the model-wide state -------------------------------------------------------------- */

/* llama.cpp's LLM_TYPE_70B, the only model type the rules look at (the load_arch_hparams
 * of each architecture). */
static int model_is_70b(const struct quant_mix_model *m)
{
	const char *arch = m->arch ? m->arch : "llama";
	if (strcmp(arch, "llama") == 0)
		return m->n_expert != 8 && m->n_layer == 80 && m->n_head != m->n_head_kv;
	if (strcmp(arch, "qwen2") == 0 || strcmp(arch, "deci") == 0 || strcmp(arch, "olmo") == 0)
		return m->n_layer == 80;
	if (strcmp(arch, "jais2") == 0)
		return m->n_layer == 68;
	return 0;
}

int quant_mix_begin(struct quant_mix **out, uint32_t ftype, const struct quant_mix_model *model)
{
	*out = NULL;
	int i = ftype_index(ftype);
	if (i < 0)
		return modl_error_set(MODL_EUSAGE, "file type %u is not supported", ftype);
	struct quant_mix *mix = calloc(1, sizeof(*mix));
	if (!mix)
		return modl_error_oom();
	mix->ftype = ftype;
	mix->default_type = ftypes[i].default_type;
	mix->model = *model;
	mix->model.arch = NULL; /* not kept: the caller's string need not outlive begin */
	mix->is_70b = model_is_70b(model);
	mix->n_attention_wv = (int)(model->n_attention_wv ? model->n_attention_wv : model->n_layer);
	mix->n_ffn = (int)model->n_layer;
	*out = mix;
	return 0;
}

void quant_mix_end(struct quant_mix *mix)
{
	free(mix);
}

unsigned quant_mix_fallbacks(const struct quant_mix *mix)
{
	return mix->n_fallback;
}

/* ---- names ------------------------------------------------------------------------------ */

static int contains(const char *s, const char *part)
{
	return strstr(s, part) != NULL;
}

static int ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

/* tensor_get_category: the order of the tests matters ("ffn_up" before "ffn_gate"...). */
static enum category category_of(const char *name)
{
	if (strcmp(name, "output.weight") == 0)
		return CAT_OUTPUT;
	if (strcmp(name, "token_embd.weight") == 0 || strcmp(name, "per_layer_token_embd.weight") == 0)
		return CAT_TOKEN_EMBD;
	if (contains(name, "attn_qkv.weight"))
		return CAT_ATTENTION_QKV;
	if (contains(name, "attn_kv_b.weight"))
		return CAT_ATTENTION_KV_B;
	if (contains(name, "attn_v.weight"))
		return CAT_ATTENTION_V;
	if (contains(name, "attn_k.weight"))
		return CAT_ATTENTION_K;
	if (contains(name, "attn_q.weight"))
		return CAT_ATTENTION_Q;
	if (contains(name, "attn_output.weight"))
		return CAT_ATTENTION_OUTPUT;
	if (contains(name, "ffn_up"))
		return CAT_FFN_UP;
	if (contains(name, "ffn_gate"))
		return CAT_FFN_GATE;
	if (contains(name, "ffn_down"))
		return CAT_FFN_DOWN;
	return CAT_OTHER;
}

static int category_is_attn_v(enum category c)
{
	return c == CAT_ATTENTION_V || c == CAT_ATTENTION_QKV || c == CAT_ATTENTION_KV_B;
}

int quant_mix_is_attention_v(const char *name)
{
	return category_is_attn_v(category_of(name));
}

/* ggml_n_dims: trailing dimensions of size 1 do not count, so a [4096, 1] tensor is 1-D. */
static int effective_dims(uint32_t n_dims, const uint64_t *ne)
{
	for (int i = (int)(n_dims < 4 ? n_dims : 4) - 1; i >= 1; i--)
		if (ne[i] > 1)
			return i + 1;
	return 1;
}

/* tensor_allows_quantization with llama.cpp's defaults (quantize_output_tensor, no
 * only_copy). The list is llama.cpp's whole list, not only llama's tensors, so that a
 * file of another architecture keeps the same tensors unquantized. */
int quant_mix_allows_quantization(const char *name, uint32_t n_dims, const uint64_t *ne)
{
	/* clang-format off */
	static const char *const never[] = {
		"_norm.weight", "ffn_gate_inp.weight", "ffn_gate_tid2eid.weight", "altup", "laurel",
		"per_layer_model_proj", "ssm_conv1d", "shortconv.conv.weight",
		"indexer.k_proj.weight", "indexer.q_proj.weight", "time_mix_first.weight",
		"time_mix_w0.weight", "time_mix_w1.weight", "time_mix_w2.weight",
		"time_mix_v0.weight", "time_mix_v1.weight", "time_mix_v2.weight",
		"time_mix_a0.weight", "time_mix_a1.weight", "time_mix_a2.weight",
		"time_mix_g1.weight", "time_mix_g2.weight", "time_mix_decay_w1.weight",
		"time_mix_decay_w2.weight", "time_mix_lerp_fused.weight", "attn_rel_b.weight",
		".position_embd", "sam.pos_embd", "sam.neck.", "sam.net_", ".rel_pos",
		".patch_embd", ".patch_merger", "a.rvq.codebook", "mm.a.code_embd",
	};
	/* clang-format on */
	if (effective_dims(n_dims, ne) < 2)
		return 0;
	if (!ends_with(name, "weight"))
		return 0;
	for (size_t i = 0; i < sizeof(never) / sizeof(never[0]); i++)
		if (contains(name, never[i]))
			return 0;
	return strcmp(name, "position_embd.weight") != 0 && strcmp(name, "token_types.weight") != 0;
}

/* The block number llama.cpp's loader parses (sscanf, so "blk.7x" is block 7 too), or -1. */
static int block_number(const char *name)
{
	int layer = -1;
	if (sscanf(name, "blk.%d.", &layer) != 1)
		layer = -1;
	return layer;
}

int quant_mix_compare(const char *a, const char *b)
{
	int la = block_number(a), lb = block_number(b);
	if (la != lb)
		return la < lb ? -1 : 1;
	return strcmp(a, b);
}

/* ---- the rules -------------------------------------------------------------------------- */

static int is_quantized(uint32_t type)
{
	return type != QUANT_F32 && type != QUANT_F16 && type != QUANT_BF16;
}

static int use_more_bits(int i_layer, int n_layers)
{
	return i_layer < n_layers / 8 || i_layer >= 7 * n_layers / 8 || (i_layer - n_layers / 8) % 3 == 2;
}

static uint32_t n_gqa(const struct quant_mix *mix)
{
	return mix->model.n_head_kv ? mix->model.n_head / mix->model.n_head_kv : 0;
}

/* layer_info: the counter, or for MoE models the number in the name. */
static int layer_of(const struct quant_mix *mix, int counter, const char *name, int *layer)
{
	*layer = counter;
	if (mix->model.n_expert > 1) {
		if (sscanf(name, "blk.%d.", layer) != 1)
			return modl_error_set(MODL_EINVALID, "failed to determine the layer of tensor %s",
					      name);
		if (*layer < 0 || *layer >= mix->n_ffn)
			return modl_error_set(MODL_EINVALID, "bad layer %d for tensor %s: must be in [0, %d)",
					      *layer, name, mix->n_ffn);
	}
	return 0;
}

static uint32_t output_type(uint32_t type, const uint64_t *ne)
{
	if (ne[0] % quant_block_size(type) != 0)
		return QUANT_Q8_0;
	return type != QUANT_Q8_0 ? QUANT_Q6_K : type;
}

static uint32_t attn_v_type(struct quant_mix *mix, uint32_t type)
{
	uint32_t f = mix->ftype;
	if (f == QUANT_FTYPE_Q2_K)
		type = n_gqa(mix) >= 4 ? QUANT_Q4_K : QUANT_Q3_K;
	else if (f == QUANT_FTYPE_Q3_K_M)
		type = mix->i_attention_wv < 2 ? QUANT_Q5_K : QUANT_Q4_K;
	else if (f == QUANT_FTYPE_Q3_K_L)
		type = QUANT_Q5_K;
	else if ((f == QUANT_FTYPE_Q4_K_M || f == QUANT_FTYPE_Q5_K_M) &&
		 use_more_bits(mix->i_attention_wv, mix->n_attention_wv))
		type = QUANT_Q6_K;
	else if (f == QUANT_FTYPE_Q4_K_S && mix->i_attention_wv < 4)
		type = QUANT_Q5_K;
	/* 70B: eight heads share attn_v, which is 8x smaller than attn_q: more bits are cheap */
	if (mix->is_70b && (type == QUANT_Q3_K || type == QUANT_Q4_K))
		type = QUANT_Q5_K;
	if (mix->model.n_expert == 8)
		type = QUANT_Q8_0;
	mix->i_attention_wv++;
	return type;
}

static int ffn_down_type(struct quant_mix *mix, const char *name, uint32_t *type)
{
	int i, n = mix->n_ffn, rc = layer_of(mix, mix->i_ffn_down, name, &i);
	if (rc != 0)
		return rc;
	switch (mix->ftype) {
	case QUANT_FTYPE_Q2_K: *type = QUANT_Q3_K; break;
	case QUANT_FTYPE_Q3_K_M:
		/* llama.cpp keeps Q3_K only on FALCON's non-use_more_bits layers */
		*type = i < n / 16 ? QUANT_Q5_K : QUANT_Q4_K;
		break;
	case QUANT_FTYPE_Q3_K_L: *type = QUANT_Q5_K; break;
	case QUANT_FTYPE_Q4_K_M:
	case QUANT_FTYPE_Q5_K_M:
		if (use_more_bits(i, n))
			*type = QUANT_Q6_K;
		break;
	case QUANT_FTYPE_Q4_K_S:
		if (i < n / 8)
			*type = QUANT_Q5_K;
		break;
	default: break; /* Q4_0/Q5_0 change only with an importance matrix */
	}
	mix->i_ffn_down++;
	return 0;
}

static uint32_t attn_output_type(const struct quant_mix *mix, uint32_t type)
{
	uint32_t f = mix->ftype;
	if (mix->model.n_expert == 8) {
		if (f == QUANT_FTYPE_Q2_K || f == QUANT_FTYPE_Q3_K_S || f == QUANT_FTYPE_Q3_K_M ||
		    f == QUANT_FTYPE_Q4_K_S || f == QUANT_FTYPE_Q4_K_M)
			type = QUANT_Q5_K;
	} else if (f == QUANT_FTYPE_Q2_K) {
		type = QUANT_Q3_K;
	} else if (f == QUANT_FTYPE_Q3_K_M) {
		type = QUANT_Q4_K;
	} else if (f == QUANT_FTYPE_Q3_K_L) {
		type = QUANT_Q5_K;
	}
	return type;
}

/* llama_tensor_get_type_impl for the non-IQ file types. attn_qkv takes the attn_v rules:
 * llama.cpp tests category_is_attn_v first, so its own attn_qkv branch (doc/gguf.md §5.6
 * rule 7) is never reached. */
static int rules_type(struct quant_mix *mix, const char *name, const uint64_t *ne, uint32_t *type)
{
	enum category c = category_of(name);
	int layer;

	if (c == CAT_OUTPUT || (mix->model.tied_embeddings && c == CAT_TOKEN_EMBD)) {
		*type = output_type(*type, ne);
	} else if (c == CAT_TOKEN_EMBD) {
		/* untied: the default type */
	} else if (category_is_attn_v(c)) {
		*type = attn_v_type(mix, *type);
	} else if (c == CAT_ATTENTION_K) {
		if (mix->model.n_expert == 8)
			*type = QUANT_Q8_0;
	} else if (c == CAT_FFN_DOWN) {
		return ffn_down_type(mix, name, type);
	} else if (c == CAT_ATTENTION_OUTPUT) {
		*type = attn_output_type(mix, *type);
	} else if (c == CAT_FFN_GATE || c == CAT_FFN_UP) {
		/* only IQ3_XS changes these; the counters still advance (and parse MoE names) */
		int *counter = c == CAT_FFN_GATE ? &mix->i_ffn_gate : &mix->i_ffn_up;
		int rc = layer_of(mix, *counter, name, &layer);
		if (rc != 0)
			return rc;
		(*counter)++;
	}
	return 0;
}

/* tensor_type_fallback, the table of the llama.cpp node-llama-cpp bundles (doc/peers.md):
 * Q2_K/Q3_K -> Q4_0, Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0, then F16 when the row is
 * not a multiple of 32 either. */
static uint32_t fallback_type(struct quant_mix *mix, const uint64_t *ne, uint32_t type)
{
	if (ne[0] % quant_block_size(type) == 0)
		return type;
	mix->n_fallback++;
	switch (type) {
	case QUANT_Q2_K:
	case QUANT_Q3_K: type = QUANT_Q4_0; break;
	case QUANT_Q4_K: type = QUANT_Q5_0; break;
	case QUANT_Q5_K: type = QUANT_Q5_1; break;
	case QUANT_Q6_K: type = QUANT_Q8_0; break;
	default: break; /* a 32-block type: only F16 is left */
	}
	if (ne[0] % quant_block_size(type) != 0)
		type = QUANT_F16;
	return type;
}

int quant_mix_select(struct quant_mix *mix, const char *name, uint32_t n_dims, const uint64_t *ne,
		     uint32_t current, uint32_t *type)
{
	*type = current;
	if (n_dims < 1 || !quant_mix_allows_quantization(name, n_dims, ne))
		return 0;
	uint32_t t = mix->default_type;
	if (is_quantized(t)) {
		int rc = rules_type(mix, name, ne, &t);
		if (rc != 0)
			return rc;
		t = fallback_type(mix, ne, t);
	}
	*type = t;
	return 0;
}

uint32_t quant_mix_tensor_type(struct quant_mix *mix, const char *name, uint32_t n_dims, const uint64_t *ne,
			       uint32_t current)
{
	uint32_t type;
	return quant_mix_select(mix, name, n_dims, ne, current, &type) == 0 ? type : QUANT_MIX_INVALID;
}
