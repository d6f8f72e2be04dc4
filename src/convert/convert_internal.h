/* What the files of src/convert/ share: the architecture description, the tensor plan,
 * the vocabulary and the naming metadata, each filled by its own file and read by
 * pipeline.c, which writes the GGUF. */
#ifndef MODL_CONVERT_INTERNAL_H
#define MODL_CONVERT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "formats/gguf.h"
#include "formats/hf_config.h"
#include "formats/safetensors.h"
#include "convert.h"

/* ---- the model (llama.c) ----------------------------------------------------------------- */

struct convert_arch {
	const char *hf_name;   /* config.json architectures[0] */
	const char *gguf_name; /* general.architecture and the key prefix */
	int permute_qk;        /* un-permute q_proj/k_proj rows (doc/gguf.md §3) */
	int write_vocab_keys;  /* <arch>.vocab_size and <arch>.rope.dimension_count */
};

struct convert_model {
	const struct convert_arch *arch;
	const char *config_path;
	struct hf_config config;
	cJSON *config_json; /* the whole config.json, for the keys hf_config leaves out */
	uint32_t n_layer, n_embd, n_ff, n_head, n_head_kv, head_dim, n_ctx, n_vocab;
	int tied; /* no output.weight: token_embd.weight is the output */
};

struct convert_tensor {
	char name[GGUF_NAME_MAX + 1];
	long source; /* tensor index in the checkpoint; -1: generated */
	uint32_t n_dims;
	uint64_t ne[GGUF_DIMS_MAX];
	uint32_t type;          /* the output type */
	uint32_t permute_heads; /* un-permute rows in this many heads; 0: rows in order */
	float *data;            /* a generated tensor's values (F32) */
	uint64_t size_out;
};

struct convert_plan {
	struct convert_tensor *tensors; /* in the output's order (quant_mix_compare) */
	size_t count;
	uint64_t parameters;
	uint32_t float_type; /* the checkpoint's own float type: F32, F16 or BF16 */
};

/* Reads and checks config.json in dir; refuses an unsupported architecture. */
int convert_model_load(struct convert_model *m, const char *dir);
void convert_model_free(struct convert_model *m);

/* Maps the checkpoint's tensors to GGUF names, checks each shape against config.json and
 * that nothing is missing or left over, adds rope_freqs.weight for llama3 scaling, and
 * sorts the list in llama.cpp's order. Types are chosen later (pipeline.c). */
int convert_plan_build(struct convert_plan *plan, const struct convert_model *m, const struct safetensors *st,
		       const char *dir);
void convert_plan_free(struct convert_plan *plan);
/* 1 when the plan has no output.weight: token_embd.weight is the output. */
int convert_plan_tied(const struct convert_plan *plan);

/* The <arch>.* keys of doc/gguf.md §3, with their exact types. */
int convert_model_write_keys(const struct convert_model *m, struct gguf_writer *w);

/* ---- the tokenizer (vocab.c) ------------------------------------------------------------- */

enum {
	CONVERT_SPECIAL_BOS,
	CONVERT_SPECIAL_EOS,
	CONVERT_SPECIAL_UNK,
	CONVERT_SPECIAL_SEP,
	CONVERT_SPECIAL_PAD,
	CONVERT_SPECIAL_CLS,
	CONVERT_SPECIAL_MASK,
	CONVERT_SPECIAL_EOT,
	CONVERT_SPECIAL_EOM,
	CONVERT_SPECIAL_PREFIX,
	CONVERT_SPECIAL_SUFFIX,
	CONVERT_SPECIAL_MIDDLE,
	CONVERT_SPECIAL_COUNT
};

struct convert_template {
	char *name; /* NULL: the default template */
	char *text;
};

struct convert_vocab {
	char model[16];     /* tokenizer.ggml.model: "llama" or "gpt2" */
	char pre[64];       /* tokenizer.ggml.pre */
	const char *source; /* the file the tokens came from, for messages */
	uint32_t n;         /* tokens (= the embedding's rows) */
	char **tokens;
	size_t *lengths;
	float *scores; /* NULL for gpt2 */
	int32_t *types;
	char **merges; /* gpt2 */
	size_t merge_count;
	long special[CONVERT_SPECIAL_COUNT];             /* -1: not set */
	int add_bos, add_eos, add_sep, add_space_prefix; /* -1: not set */
	struct convert_template *templates;
	size_t template_count;
};

/* Reads the tokenizer in dir (tokenizer.model, else tokenizer.json) with
 * tokenizer_config.json, added_tokens.json, the chat templates and config.json's ids.
 * n_vocab is the embedding's row count; pre_override is --pre. */
int convert_vocab_load(struct convert_vocab *v, const struct convert_model *m, const char *dir,
		       const char *pre_override);
void convert_vocab_free(struct convert_vocab *v);
int convert_vocab_write_keys(const struct convert_vocab *v, struct gguf_writer *w);
/* tokenizer.ggml.pre names llama.cpp knows (for --pre). */
int convert_pre_is_known(const char *name);
const char *convert_pre_names(void);

/* ---- names (naming.c) ---------------------------------------------------------------------- */

struct convert_naming {
	char *name, *basename, *finetune, *version, *size_label, *license;
};

/* general.* from --name, the model card (README.md front matter), config.json's
 * _name_or_path, the repo id (repo_id, may be NULL) and the folder name, as gguf-py's
 * Metadata does; the size label from the parameter count when no name carries one. */
int convert_naming_load(struct convert_naming *n, const char *dir, const char *repo_id, const cJSON *config,
			const char *name_override, uint64_t parameters);
void convert_naming_free(struct convert_naming *n);
int convert_naming_write_keys(const struct convert_naming *n, struct gguf_writer *w);
/* <Basename or Name>-<SizeLabel>[-<Finetune>][-<Version>]-<TYPE>.gguf, with the
 * characters that cannot stand in a file name replaced. */
int convert_default_name(const struct convert_naming *n, const char *type_name, char **out);
/* gguf-py's size label: 260K, 1.2B, 8.0B, 70B. */
void convert_size_label(uint64_t parameters, char *out, size_t size);

/* ---- files (source.c) ----------------------------------------------------------------------- */

/* SRC: an existing directory is read as it is; anything else is REPO[@REV] in the cache
 * (its snapshot directory; repo_id gets the repo's id). MODL_ENOTFOUND when not cached. */
int convert_resolve_source(const struct convert_options *o, char **dir, char **repo_id);

/* Reads dir/name (at most max bytes). MODL_ENOTFOUND when absent (no message set). */
int convert_read_file(const char *dir, const char *name, size_t max, char **out, size_t *len);
/* Parses JSON text strictly (UTF-8, serde_json's syntax, no repeated key): MODL_EINVALID
 * "PATH: what" otherwise. */
int convert_parse_json(const char *path, const char *text, size_t len, cJSON **out);
/* Maps a formats/ status to a MODL_E* code with "path: message". */
int convert_fmt_failure(int rc, const char *path, const char *message);

#endif
