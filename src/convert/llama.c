/* The LLaMA family (doc/gguf.md §3): config.json to the <arch>.* keys, the checkpoint's
 * tensors to GGUF names with their shapes checked against the config, the Q/K rows to
 * un-permute, and the generated rope_freqs.weight of Llama 3.1+ scaling.
 *
 * Qwen2 shares the layout (its own key prefix, no permutation, Q/K/V biases). */
#include "convert_internal.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "util/strbuf.h"
#include "quant/mix.h"
#include "quant/quant.h"

/* clang-format off */
static const struct convert_arch arches[] = {
	{ "LlamaForCausalLM", "llama", 1, 1 },
	{ "MistralForCausalLM", "llama", 1, 1 },
	{ "Qwen2ForCausalLM", "qwen2", 0, 0 },
};
/* clang-format on */
#define ARCH_COUNT (sizeof(arches) / sizeof(arches[0]))

/* config.json's model_type, for the rare file without architectures. */
static const char *const model_types[ARCH_COUNT] = { "llama", "mistral", "qwen2" };

const char *convert_supported_architectures(void)
{
	return "LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM";
}

/* ---- config.json ------------------------------------------------------------------------- */

static int require(const char *path, const struct hf_config_u32 *v, const char *name, uint32_t *out)
{
	if (!v->present)
		return modl_error_set(MODL_EINVALID, "%s: %s is missing", path, name);
	*out = v->value;
	return 0;
}

static int find_arch(struct convert_model *m)
{
	const struct hf_config *c = &m->config;
	const char *name = c->architecture_count ? c->architectures[0] : NULL;
	for (size_t i = 0; i < ARCH_COUNT; i++)
		if (name ? !strcmp(name, arches[i].hf_name) : !strcmp(c->model_type, model_types[i]))
			m->arch = &arches[i];
	if (m->arch)
		return 0;
	if (name)
		return modl_error_set(MODL_EINVALID, "%s: architecture %s is not supported (supported: %s)",
				      m->config_path, name, convert_supported_architectures());
	return modl_error_set(MODL_EINVALID, "%s: no architectures%s%s%s (supported: %s)", m->config_path,
			      c->model_type[0] ? " and model_type \"" : "", c->model_type,
			      c->model_type[0] ? "\" is not one of them" : "",
			      convert_supported_architectures());
}

static int check_rope_scaling(const struct convert_model *m)
{
	const struct hf_rope_scaling *r = &m->config.rope_scaling;
	if (!r->present || !strcmp(r->rope_type, "default"))
		return 0;
	if (!strcmp(r->rope_type, "linear") || !strcmp(r->rope_type, "llama3"))
		return 0;
	if (!strcmp(r->rope_type, "yarn")) {
		if (!r->original_max_position_embeddings.present)
			return modl_error_set(MODL_EINVALID,
					      "%s: rope_scaling yarn needs original_max_position_embeddings",
					      m->config_path);
		return 0;
	}
	/* dynamic NTK and longrope: llama.cpp has no such scaling for these architectures, and a
	 * file without it would silently differ from the model beyond the original context. */
	return modl_error_set(MODL_EINVALID,
			      "%s: rope_scaling type \"%s\" is not supported (supported: "
			      "linear, yarn, llama3)",
			      m->config_path, r->rope_type);
}

int convert_model_load(struct convert_model *m, const char *dir)
{
	struct fmt_error err = { "" };
	char *text = NULL;
	size_t len;
	int rc;
	memset(m, 0, sizeof(*m));
	rc = convert_read_file(dir, "config.json", 4 << 20, &text, &len);
	if (rc == MODL_ENOTFOUND)
		return modl_error_set(MODL_EINVALID,
				      "%s: no config.json (not a Hugging Face model directory)", dir);
	if (rc)
		return rc;
	struct strbuf path = STRBUF_INIT;
	if ((rc = strbuf_addf(&path, "%s/config.json", dir)))
		goto out;
	m->config_path = strbuf_take(&path);
	if ((rc = hf_config_parse(&m->config, text, len, &err))) {
		rc = convert_fmt_failure(rc, m->config_path, err.message);
		goto out;
	}
	if ((rc = convert_parse_json(m->config_path, text, len, &m->config_json)) || (rc = find_arch(m)))
		goto out;
	const struct hf_config *c = &m->config;
	if ((rc = require(m->config_path, &c->hidden_size, "hidden_size", &m->n_embd)) ||
	    (rc = require(m->config_path, &c->num_hidden_layers, "num_hidden_layers", &m->n_layer)) ||
	    (rc = require(m->config_path, &c->num_attention_heads, "num_attention_heads", &m->n_head)) ||
	    (rc = require(m->config_path, &c->intermediate_size, "intermediate_size", &m->n_ff)) ||
	    (rc = require(m->config_path, &c->vocab_size, "vocab_size", &m->n_vocab)) ||
	    (rc = require(m->config_path, &c->max_position_embeddings, "max_position_embeddings", &m->n_ctx)))
		goto out;
	if (!c->rms_norm_eps.present) {
		rc = modl_error_set(MODL_EINVALID, "%s: rms_norm_eps is missing", m->config_path);
		goto out;
	}
	m->n_head_kv = c->num_key_value_heads.present ? c->num_key_value_heads.value : m->n_head;
	m->head_dim = c->head_dim.present ? c->head_dim.value : m->n_embd / m->n_head;
	if (m->head_dim % 2) {
		rc = modl_error_set(MODL_EINVALID,
				    "%s: head_dim %u is odd (rotary embeddings pair dimensions)",
				    m->config_path, m->head_dim);
		goto out;
	}
	if ((uint64_t)m->n_head * m->head_dim > (1u << 20)) {
		rc = modl_error_set(MODL_EINVALID, "%s: num_attention_heads x head_dim is too large",
				    m->config_path);
		goto out;
	}
	rc = check_rope_scaling(m);
out:
	free(text);
	if (rc)
		convert_model_free(m);
	return rc;
}

void convert_model_free(struct convert_model *m)
{
	free((char *)m->config_path);
	cJSON_Delete(m->config_json);
	memset(m, 0, sizeof(*m));
}

/* ---- the keys ---------------------------------------------------------------------------- */

static int add_u32(struct gguf_writer *w, const char *arch, const char *suffix, uint32_t v)
{
	char key[128];
	snprintf(key, sizeof(key), "%s.%s", arch, suffix);
	return gguf_writer_add_u32(w, key, v);
}

static int add_f32(struct gguf_writer *w, const char *arch, const char *suffix, double v)
{
	char key[128];
	snprintf(key, sizeof(key), "%s.%s", arch, suffix);
	return gguf_writer_add_f32(w, key, (float)v);
}

static int write_rope_scaling(const struct convert_model *m, struct gguf_writer *w)
{
	const struct hf_rope_scaling *r = &m->config.rope_scaling;
	const char *a = m->arch->gguf_name;
	char key[128];
	int rc = 0;
	if (!r->present || (strcmp(r->rope_type, "linear") && strcmp(r->rope_type, "yarn")))
		return 0; /* none, or llama3: rope_freqs.weight carries it */
	snprintf(key, sizeof(key), "%s.rope.scaling.type", a);
	if ((rc = gguf_writer_add_string(w, key, r->rope_type)) ||
	    (rc = add_f32(w, a, "rope.scaling.factor", r->factor.value)))
		return rc;
	if (strcmp(r->rope_type, "yarn"))
		return 0;
	if ((rc = add_u32(w, a, "rope.scaling.original_context_length",
			  r->original_max_position_embeddings.value)))
		return rc;
	const cJSON *rs = cJSON_GetObjectItemCaseSensitive(m->config_json, "rope_scaling");
	if (!cJSON_IsObject(rs))
		rs = cJSON_GetObjectItemCaseSensitive(m->config_json, "rope_parameters");
	const cJSON *ext = cJSON_GetObjectItemCaseSensitive(rs, "extrapolation_factor");
	if (cJSON_IsNumber(ext) && (rc = add_f32(w, a, "rope.scaling.yarn_ext_factor", ext->valuedouble)))
		return rc;
	if (r->attention_factor.present &&
	    (rc = add_f32(w, a, "rope.scaling.yarn_attn_factor", r->attention_factor.value)))
		return rc;
	if (r->beta_fast.present && (rc = add_f32(w, a, "rope.scaling.yarn_beta_fast", r->beta_fast.value)))
		return rc;
	if (r->beta_slow.present && (rc = add_f32(w, a, "rope.scaling.yarn_beta_slow", r->beta_slow.value)))
		return rc;
	return 0;
}

/* In the order gguf-py writes them (TextModel.set_gguf_parameters, then LlamaModel's). */
int convert_model_write_keys(const struct convert_model *m, struct gguf_writer *w)
{
	const struct hf_config *c = &m->config;
	const char *a = m->arch->gguf_name;
	int rc;
	if ((rc = add_u32(w, a, "block_count", m->n_layer)) ||
	    (rc = add_u32(w, a, "context_length", m->n_ctx)) ||
	    (rc = add_u32(w, a, "embedding_length", m->n_embd)) ||
	    (rc = add_u32(w, a, "feed_forward_length", m->n_ff)) ||
	    (rc = add_u32(w, a, "attention.head_count", m->n_head)) ||
	    (rc = add_u32(w, a, "attention.head_count_kv", m->n_head_kv)) ||
	    (rc = write_rope_scaling(m, w)) ||
	    (rc = add_f32(w, a, "rope.freq_base", c->rope_theta.present ? c->rope_theta.value : 10000.0)) ||
	    (rc = add_f32(w, a, "attention.layer_norm_rms_epsilon", c->rms_norm_eps.value)))
		return rc;
	if (c->head_dim.present && ((rc = add_u32(w, a, "attention.key_length", m->head_dim)) ||
				    (rc = add_u32(w, a, "attention.value_length", m->head_dim))))
		return rc;
	if (m->arch->write_vocab_keys && ((rc = add_u32(w, a, "vocab_size", m->n_vocab)) ||
					  (rc = add_u32(w, a, "rope.dimension_count", m->head_dim))))
		return rc;
	return 0;
}

/* ---- tensor names and shapes ------------------------------------------------------------- */

enum dim { D_VOCAB, D_EMBD, D_FF, D_Q, D_KV };

struct layer_tensor {
	const char *hf;   /* after "model.layers.N." */
	const char *gguf; /* after "blk.N." */
	int n_dims;
	enum dim rows, cols; /* PyTorch order: [rows, cols] or [rows] */
	int permute;         /* 1: q (n_head), 2: k (n_head_kv) */
	int required;        /* 1: always, 2: for archs without Q/K permutation (qwen2) */
};

/* clang-format off */
static const struct layer_tensor layer_tensors[] = {
	{ "input_layernorm.weight", "attn_norm.weight", 1, D_EMBD, 0, 0, 1 },
	{ "post_attention_layernorm.weight", "ffn_norm.weight", 1, D_EMBD, 0, 0, 1 },
	{ "self_attn.q_proj.weight", "attn_q.weight", 2, D_Q, D_EMBD, 1, 1 },
	{ "self_attn.k_proj.weight", "attn_k.weight", 2, D_KV, D_EMBD, 2, 1 },
	{ "self_attn.v_proj.weight", "attn_v.weight", 2, D_KV, D_EMBD, 0, 1 },
	{ "self_attn.o_proj.weight", "attn_output.weight", 2, D_EMBD, D_Q, 0, 1 },
	{ "self_attn.q_proj.bias", "attn_q.bias", 1, D_Q, 0, 1, 2 },
	{ "self_attn.k_proj.bias", "attn_k.bias", 1, D_KV, 0, 2, 2 },
	{ "self_attn.v_proj.bias", "attn_v.bias", 1, D_KV, 0, 0, 2 },
	{ "self_attn.o_proj.bias", "attn_output.bias", 1, D_EMBD, 0, 0, 0 },
	{ "mlp.gate_proj.weight", "ffn_gate.weight", 2, D_FF, D_EMBD, 0, 1 },
	{ "mlp.up_proj.weight", "ffn_up.weight", 2, D_FF, D_EMBD, 0, 1 },
	{ "mlp.down_proj.weight", "ffn_down.weight", 2, D_EMBD, D_FF, 0, 1 },
	{ "mlp.gate_proj.bias", "ffn_gate.bias", 1, D_FF, 0, 0, 0 },
	{ "mlp.up_proj.bias", "ffn_up.bias", 1, D_FF, 0, 0, 0 },
	{ "mlp.down_proj.bias", "ffn_down.bias", 1, D_EMBD, 0, 0, 0 },
};
/* clang-format on */
#define LAYER_TENSOR_COUNT (sizeof(layer_tensors) / sizeof(layer_tensors[0]))

static uint64_t dim_value(const struct convert_model *m, enum dim d)
{
	switch (d) {
	case D_VOCAB: return m->n_vocab;
	case D_EMBD: return m->n_embd;
	case D_FF: return m->n_ff;
	case D_Q: return (uint64_t)m->n_head * m->head_dim;
	default: return (uint64_t)m->n_head_kv * m->head_dim;
	}
}

/* What a checkpoint tensor becomes: its GGUF name and expected shape, or dropped. */
struct mapping {
	int dropped;
	char gguf[GGUF_NAME_MAX + 1];
	int n_dims;
	uint64_t shape[2]; /* PyTorch order */
	uint32_t permute_heads;
	long layer;      /* -1: not a layer tensor */
	int layer_index; /* in layer_tensors */
	int is_output;
};

static int map_name(const struct convert_model *m, const char *name, struct mapping *out)
{
	memset(out, 0, sizeof(*out));
	out->layer = -1;
	out->layer_index = -1;
	static const char inv_freq[] = ".rotary_emb.inv_freq";
	size_t len = strlen(name), k = sizeof(inv_freq) - 1;
	if (len > k && !strcmp(name + len - k, inv_freq)) {
		out->dropped = 1; /* recomputed by llama.cpp */
		return 1;
	}
	if (!strcmp(name, "model.embed_tokens.weight") || !strcmp(name, "lm_head.weight")) {
		out->is_output = name[0] == 'l';
		snprintf(out->gguf, sizeof(out->gguf), "%s",
			 out->is_output ? "output.weight" : "token_embd.weight");
		out->n_dims = 2;
		out->shape[0] = m->n_vocab;
		out->shape[1] = m->n_embd;
		return 1;
	}
	if (!strcmp(name, "model.norm.weight")) {
		snprintf(out->gguf, sizeof(out->gguf), "output_norm.weight");
		out->n_dims = 1;
		out->shape[0] = m->n_embd;
		return 1;
	}
	/* model.layers.N.<suffix>, N in decimal without leading zeros */
	const char *digits = name + 13, *suffix;
	unsigned long layer = 0;
	if (strncmp(name, "model.layers.", 13) || *digits < '0' || *digits > '9' ||
	    (digits[0] == '0' && digits[1] != '.'))
		return 0;
	for (suffix = digits; *suffix >= '0' && *suffix <= '9'; suffix++)
		if (suffix - digits < 9)
			layer = layer * 10 + (unsigned long)(*suffix - '0');
		else
			layer = ULONG_MAX;
	if (*suffix++ != '.')
		return 0;
	for (size_t i = 0; i < LAYER_TENSOR_COUNT; i++) {
		const struct layer_tensor *t = &layer_tensors[i];
		if (strcmp(suffix, t->hf))
			continue;
		if (layer >= m->n_layer)
			return -1;
		out->layer = (long)layer;
		out->layer_index = (int)i;
		snprintf(out->gguf, sizeof(out->gguf), "blk.%lu.%s", layer, t->gguf);
		out->n_dims = t->n_dims;
		out->shape[0] = dim_value(m, t->rows);
		out->shape[1] = t->n_dims == 2 ? dim_value(m, t->cols) : 0;
		if (m->arch->permute_qk && t->permute)
			out->permute_heads = t->permute == 1 ? m->n_head : m->n_head_kv;
		return 1;
	}
	return 0;
}

static void shape_text(char *buf, size_t size, size_t n_dims, const uint64_t *shape)
{
	size_t k = (size_t)snprintf(buf, size, "[");
	for (size_t i = 0; i < n_dims && k < size; i++)
		k += (size_t)snprintf(buf + k, size - k, "%s%llu", i ? ", " : "",
				      (unsigned long long)shape[i]);
	if (k < size)
		snprintf(buf + k, size - k, "]");
}

static uint32_t float_type_of(enum safetensors_dtype d)
{
	return d == SAFETENSORS_BF16 ? QUANT_BF16 : d == SAFETENSORS_F16 ? QUANT_F16 : QUANT_F32;
}

/* Where a tensor of the checkpoint lives, for messages: its shard when sharded. */
static const char *tensor_file(const struct safetensors *st, const struct safetensors_tensor *t,
			       const char *dir)
{
	const char *path = safetensors_file_path(st, t->file);
	return path ? path : dir;
}

static int check_tensor(const struct convert_model *m, const struct safetensors *st, const char *dir,
			const struct safetensors_tensor *t, const struct mapping *map)
{
	char have[128], want[128];
	if (t->dtype != SAFETENSORS_BF16 && t->dtype != SAFETENSORS_F16 && t->dtype != SAFETENSORS_F32)
		return modl_error_set(MODL_EINVALID, "%s: tensor %s has dtype %s (supported: BF16, F16, F32)",
				      tensor_file(st, t, dir), t->name, safetensors_dtype_name(t->dtype));
	int ok = t->n_dims == (size_t)map->n_dims && t->shape[0] == map->shape[0] &&
		 (map->n_dims == 1 || t->shape[1] == map->shape[1]);
	if (ok)
		return 0;
	shape_text(have, sizeof(have), t->n_dims, t->shape);
	shape_text(want, sizeof(want), (size_t)map->n_dims, map->shape);
	return modl_error_set(MODL_EINVALID, "%s: tensor %s has shape %s but %s says %s",
			      tensor_file(st, t, dir), t->name, have, m->config_path, want);
}

static int plan_compare(const void *a, const void *b)
{
	return quant_mix_compare(((const struct convert_tensor *)a)->name,
				 ((const struct convert_tensor *)b)->name);
}

/* Llama 3.1+ "llama3" scaling: per-frequency divisors (conversion/llama.py
 * generate_extra_tensors, the same ramp as transformers' _compute_llama3_parameters),
 * in float32 as torch computes them. */
static int add_rope_freqs(struct convert_plan *plan, const struct convert_model *m)
{
	const struct hf_rope_scaling *r = &m->config.rope_scaling;
	uint32_t n = m->head_dim / 2;
	float *f = calloc(n ? n : 1, sizeof(float));
	if (!f)
		return modl_error_oom();
	float base = (float)(m->config.rope_theta.present ? m->config.rope_theta.value : 10000.0);
	float factor = (float)(r->factor.present ? r->factor.value : 8.0);
	float low = (float)(r->low_freq_factor.present ? r->low_freq_factor.value : 1.0);
	float high = (float)(r->high_freq_factor.present ? r->high_freq_factor.value : 4.0);
	float old_ctx = (float)(r->original_max_position_embeddings.present
					? r->original_max_position_embeddings.value
					: 8192);
	float low_wavelen = old_ctx / low, high_wavelen = old_ctx / high;
	for (uint32_t i = 0; i < n; i++) {
		float freq = 1.0f / powf(base, (float)(2 * i) / (float)m->head_dim);
		float wavelen = (float)(2 * M_PI) / freq;
		if (wavelen < high_wavelen) {
			f[i] = 1.0f;
		} else if (wavelen > low_wavelen) {
			f[i] = factor;
		} else {
			float smooth = (old_ctx / wavelen - low) / (high - low);
			f[i] = 1.0f / ((1.0f - smooth) / factor + smooth);
		}
	}
	struct convert_tensor *t = &plan->tensors[plan->count++];
	memset(t, 0, sizeof(*t));
	snprintf(t->name, sizeof(t->name), "rope_freqs.weight");
	t->source = -1;
	t->n_dims = 1;
	t->ne[0] = n;
	t->ne[1] = t->ne[2] = t->ne[3] = 1;
	t->type = QUANT_F32;
	t->data = f;
	plan->parameters += n;
	return 0;
}

/* Every tensor the architecture needs is there (llama.cpp would refuse the file). */
static int check_complete(const struct convert_model *m, const unsigned char *seen, int have_embd,
			  int have_norm, int have_output, const char *dir)
{
	if (!have_embd)
		return modl_error_set(MODL_EINVALID, "%s: the checkpoint has no model.embed_tokens.weight",
				      dir);
	if (!have_norm)
		return modl_error_set(MODL_EINVALID, "%s: the checkpoint has no model.norm.weight", dir);
	if (!have_output && m->config.has_tie_word_embeddings && !m->config.tie_word_embeddings)
		return modl_error_set(MODL_EINVALID,
				      "%s: the checkpoint has no lm_head.weight although %s "
				      "says tie_word_embeddings false",
				      dir, m->config_path);
	for (uint32_t l = 0; l < m->n_layer; l++)
		for (size_t i = 0; i < LAYER_TENSOR_COUNT; i++) {
			const struct layer_tensor *t = &layer_tensors[i];
			int needed = t->required == 1 || (t->required == 2 && !m->arch->permute_qk);
			if (needed && !seen[(size_t)l * LAYER_TENSOR_COUNT + i])
				return modl_error_set(MODL_EINVALID,
						      "%s: the checkpoint has no model.layers.%u.%s "
						      "(config.json says %u layers)",
						      dir, l, t->hf, m->n_layer);
		}
	return 0;
}

int convert_plan_build(struct convert_plan *plan, const struct convert_model *m, const struct safetensors *st,
		       const char *dir)
{
	size_t n = safetensors_tensor_count(st);
	unsigned char *seen = calloc((size_t)m->n_layer * LAYER_TENSOR_COUNT + 1, 1);
	int have_embd = 0, have_norm = 0, have_output = 0, rc = 0;
	long lm_head = -1;
	memset(plan, 0, sizeof(*plan));
	plan->tensors = calloc(n + 2, sizeof(*plan->tensors));
	if (!seen || !plan->tensors) {
		rc = modl_error_oom();
		goto out;
	}
	plan->float_type = QUANT_F32;
	for (size_t i = 0; i < n && !rc; i++) {
		const struct safetensors_tensor *t = safetensors_tensor(st, i);
		struct mapping map;
		int found = map_name(m, t->name, &map);
		if (found < 0) {
			rc = modl_error_set(MODL_EINVALID,
					    "%s: tensor %s belongs to a layer beyond the %u of %s",
					    tensor_file(st, t, dir), t->name, m->n_layer, m->config_path);
			break;
		}
		if (!found) {
			rc = modl_error_set(MODL_EINVALID, "%s: tensor %s is not part of a %s checkpoint",
					    tensor_file(st, t, dir), t->name, m->arch->hf_name);
			break;
		}
		if (map.dropped)
			continue;
		if ((rc = check_tensor(m, st, dir, t, &map)))
			break;
		if (map.layer >= 0)
			seen[(size_t)map.layer * LAYER_TENSOR_COUNT + (size_t)map.layer_index] = 1;
		if (!strcmp(map.gguf, "token_embd.weight")) {
			have_embd = 1;
			plan->float_type = float_type_of(t->dtype);
		}
		have_norm |= !strcmp(map.gguf, "output_norm.weight");
		if (map.is_output) {
			have_output = 1;
			lm_head = (long)i;
			/* Tied: the embedding is the output; never write the same matrix twice. */
			if (m->config.has_tie_word_embeddings && m->config.tie_word_embeddings)
				continue;
		}
		struct convert_tensor *c = &plan->tensors[plan->count++];
		snprintf(c->name, sizeof(c->name), "%s", map.gguf);
		c->source = (long)i;
		c->n_dims = (uint32_t)map.n_dims;
		c->ne[0] = map.n_dims == 2 ? map.shape[1] : map.shape[0];
		c->ne[1] = map.n_dims == 2 ? map.shape[0] : 1;
		c->ne[2] = c->ne[3] = 1;
		c->permute_heads = map.permute_heads;
		c->type = QUANT_F32;
		plan->parameters += t->n_elements;
	}
	(void)lm_head;
	if (rc || (rc = check_complete(m, seen, have_embd, have_norm, have_output, dir)))
		goto out;
	if (m->config.rope_scaling.present && !strcmp(m->config.rope_scaling.rope_type, "llama3") &&
	    (rc = add_rope_freqs(plan, m)))
		goto out;
	qsort(plan->tensors, plan->count, sizeof(*plan->tensors), plan_compare);
out:
	free(seen);
	if (rc)
		convert_plan_free(plan);
	return rc;
}

void convert_plan_free(struct convert_plan *plan)
{
	for (size_t i = 0; plan->tensors && i < plan->count; i++)
		free(plan->tensors[i].data);
	free(plan->tensors);
	memset(plan, 0, sizeof(*plan));
}

int convert_plan_tied(const struct convert_plan *plan)
{
	for (size_t i = 0; i < plan->count; i++)
		if (!strcmp(plan->tensors[i].name, "output.weight"))
			return 0;
	return 1;
}
