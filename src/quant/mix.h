/* Per-tensor type selection (doc/gguf.md §5.6, llama.cpp's llama-quant.cpp): which ggml type
 * each tensor of a llama-family model gets for a file type (Q4_K_M...), including the
 * use_more_bits layers, the output/tied-embedding rule, and the fallback for rows not
 * divisible by the block size. Shared by `modl quantize` and `modl convert`, so that
 * both produce llama-quantize's mixture. */
#ifndef MODL_QUANT_MIX_H
#define MODL_QUANT_MIX_H

#include <stdint.h>

/* llama_ftype values (general.file_type), doc/gguf.md §5.5. */
enum quant_ftype {
	QUANT_FTYPE_ALL_F32 = 0,
	QUANT_FTYPE_F16 = 1,
	QUANT_FTYPE_Q4_0 = 2,
	QUANT_FTYPE_Q4_1 = 3,
	QUANT_FTYPE_Q8_0 = 7,
	QUANT_FTYPE_Q5_0 = 8,
	QUANT_FTYPE_Q5_1 = 9,
	QUANT_FTYPE_Q2_K = 10,
	QUANT_FTYPE_Q3_K_S = 11,
	QUANT_FTYPE_Q3_K_M = 12,
	QUANT_FTYPE_Q3_K_L = 13,
	QUANT_FTYPE_Q4_K_S = 14,
	QUANT_FTYPE_Q4_K_M = 15,
	QUANT_FTYPE_Q5_K_S = 16,
	QUANT_FTYPE_Q5_K_M = 17,
	QUANT_FTYPE_Q6_K = 18,
	QUANT_FTYPE_BF16 = 32,
};

/* The TYPE names of doc/cli.md, case-insensitive ("Q4_K_M", "bf16"). MODL_EUSAGE otherwise. */
int quant_ftype_from_name(const char *name, uint32_t *ftype);
/* Appends every TYPE name, space-separated, in the table's order: the one list that error
 * messages print and that the help, man pages and completions are tested against. */
struct strbuf;
int quant_ftype_names(struct strbuf *sb);
const char *quant_ftype_name(uint32_t ftype);
/* The ggml type most tensors get (Q4_K for Q4_K_M...). */
uint32_t quant_ftype_default_type(uint32_t ftype);

/* What the rules need to know about the whole model before the first tensor. */
struct quant_mix_model {
	uint32_t n_layer; /* block count */
	uint32_t n_head, n_head_kv;
	uint32_t n_expert;   /* 0 for dense models */
	int tied_embeddings; /* no output.weight: token_embd.weight is the output */
	/* Optional (zero means "as for a dense llama"): */
	const char *arch;        /* general.architecture; NULL is "llama" (decides the 70B
				  * attn_v rule: llama 80 layers + GQA, qwen2/deci/olmo 80) */
	uint32_t n_attention_wv; /* tensors named *attn_v.weight, *attn_qkv.weight or
				  * *attn_kv_b.weight in the whole model; 0: n_layer */
};

struct quant_mix;

int quant_mix_begin(struct quant_mix **out, uint32_t ftype, const struct quant_mix_model *model);
void quant_mix_end(struct quant_mix *mix);

/* The type for the next tensor, given in llama.cpp's processing order (non-block
 * tensors first, then by block number and name: quant_mix_compare sorts names so) with
 * its GGUF name, dimensions and current type. 1-D tensors, norms and other tensors
 * llama.cpp does not quantize keep `current` (F32 stays F32); the fallback for ne[0]
 * not divisible by the block size is applied. */
uint32_t quant_mix_tensor_type(struct quant_mix *mix, const char *name, uint32_t n_dims, const uint64_t *ne,
			       uint32_t current);
/* quant_mix_tensor_type's answer when quant_mix_select fails. */
#define QUANT_MIX_INVALID UINT32_MAX

/* The same, with llama.cpp's refusals as errors: MODL_EINVALID (message set) for an
 * expert tensor whose block number cannot be parsed or is out of range. */
int quant_mix_select(struct quant_mix *mix, const char *name, uint32_t n_dims, const uint64_t *ne,
		     uint32_t current, uint32_t *type);

/* Tensors so far whose row length forced a fallback type (llama.cpp's n_fallback). */
unsigned quant_mix_fallbacks(const struct quant_mix *mix);

/* 1 when llama.cpp would quantize this tensor at all (doc/gguf.md §5.6 "Quantize at all?"):
 * at least 2 dimensions larger than 1, a name ending in "weight", not a norm, ... */
int quant_mix_allows_quantization(const char *name, uint32_t n_dims, const uint64_t *ne);

/* 1 for the category counters: a name that counts towards n_attention_wv. */
int quant_mix_is_attention_v(const char *name);

/* strcmp-like order of llama.cpp's weight map: block number (-1 for non-block tensors)
 * ascending, then name. */
int quant_mix_compare(const char *a, const char *b);

#endif
