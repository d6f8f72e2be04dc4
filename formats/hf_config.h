/* A strict parser of a Hugging Face config.json into the hyperparameters the converter
 * needs (doc/gguf.md §3): every field has its JSON type checked and its value in a sane
 * range, so that a typo or a hostile file is refused here rather than turning into a
 * GGUF that llama.cpp cannot load. Unknown fields are ignored; null counts as absent. */
#ifndef MODL_HF_CONFIG_H
#define MODL_HF_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "fmt.h"

#define HF_CONFIG_MAX_ARCHITECTURES 8
#define HF_CONFIG_MAX_TOKEN_IDS 16
#define HF_CONFIG_NAME_SIZE 64 /* architecture, model_type and dtype names, with the NUL */

struct hf_config_u32 {
	int present;
	uint32_t value;
};

struct hf_config_f64 {
	int present;
	double value;
};

/* rope_scaling (or transformers 5's rope_parameters). */
struct hf_rope_scaling {
	int present;
	char rope_type[HF_CONFIG_NAME_SIZE]; /* default, linear, dynamic, yarn, longrope, llama3 */
	struct hf_config_f64 factor, low_freq_factor, high_freq_factor;
	struct hf_config_f64 beta_fast, beta_slow, attention_factor, mscale, mscale_all_dim;
	struct hf_config_u32 original_max_position_embeddings;
};

/* bos_token_id / eos_token_id: an integer or a list of them (Llama 3.1's eos). */
struct hf_token_ids {
	int present;
	int is_list;
	size_t count;
	uint32_t ids[HF_CONFIG_MAX_TOKEN_IDS];
};

struct hf_config {
	size_t architecture_count;
	char architectures[HF_CONFIG_MAX_ARCHITECTURES][HF_CONFIG_NAME_SIZE];
	char model_type[HF_CONFIG_NAME_SIZE]; /* "" when absent */
	struct hf_config_u32 hidden_size, intermediate_size, num_hidden_layers;
	struct hf_config_u32 num_attention_heads, num_key_value_heads, head_dim;
	struct hf_config_u32 max_position_embeddings, vocab_size;
	struct hf_config_f64 rms_norm_eps, rope_theta;
	struct hf_rope_scaling rope_scaling;
	int has_tie_word_embeddings, tie_word_embeddings;
	struct hf_token_ids bos_token_id, eos_token_id;
	char torch_dtype[HF_CONFIG_NAME_SIZE]; /* torch_dtype or dtype; "" when absent */
};

/* Parses len bytes of JSON. FMT_EINVALID with the field and the problem in err. */
int hf_config_parse(struct hf_config *out, const char *json, size_t len, struct fmt_error *err);

#endif
