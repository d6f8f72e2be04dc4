/* modl convert: a Hugging Face checkpoint (config.json, safetensors, tokenizer) to a GGUF
 * that llama.cpp loads, in one pass and in any of the file types of `modl quantize`.
 *
 * Architectures: LlamaForCausalLM and MistralForCausalLM (GGUF "llama": the Q/K rows
 * un-permuted, doc/gguf.md §3), Qwen2ForCausalLM (GGUF "qwen2": no permutation, Q/K/V
 * biases). Tokenizers: SentencePiece tokenizer.model, or tokenizer.json (byte-level BPE,
 * or SentencePiece-style BPE with byte fallback).
 *
 * One pass: tensors are read from the mapped safetensors, converted to F32 a chunk of
 * rows at a time (Q/K rows taken in un-permuted order), quantized by the core with the
 * per-tensor mixture of `modl quantize` (src/quant/mix.h) and streamed to a temporary
 * file next to the output, which is renamed when complete. No intermediate file, and
 * memory bounded by a few chunks per thread. */
#ifndef MODL_CONVERT_H
#define MODL_CONVERT_H

#include <stdint.h>

#include "formats/gguf.h"
#include "util/progress.h"
#include "util/settings.h"

struct convert_options {
	const char *source; /* a directory, or REPO[@REV] looked up in the Hugging Face cache */
	const char *output; /* NULL: ./<Name>-<SizeLabel>-<TYPE>.gguf (convert_default_name) */
	const char *type;   /* F32 F16 BF16 Q8_0 ... Q4_K_M ...; NULL: the checkpoint's float type */
	const char *name;   /* general.name; NULL: from the model card, config or folder name */
	const char *pre;    /* tokenizer.ggml.pre for a BPE tokenizer; NULL: from the table */
	unsigned threads;   /* 0: MODL_THREADS, else every core */
	const struct modl_settings *settings; /* where the cache is (HF_HUB_CACHE...) */
	struct progress *progress;            /* NULL: none */
};

struct convert_result {
	char *source_dir;         /* the directory that was read */
	char *output;             /* the file written */
	char *architecture;       /* "llama", "qwen2" */
	char *hf_architecture;    /* "LlamaForCausalLM" ... */
	char *name;               /* general.name */
	char *size_label;         /* general.size_label */
	uint32_t ftype;           /* general.file_type */
	const char *type_name;    /* "Q4_K_M" */
	const char *source_dtype; /* "BF16", "F16", "F32" */
	char tokenizer_model[16]; /* "llama" or "gpt2" */
	char tokenizer_pre[64];
	uint32_t n_vocab;
	unsigned threads;
	unsigned fallbacks; /* tensors whose row length forced a fallback type */
	uint64_t tensors, parameters;
	uint64_t bytes_in;  /* tensor bytes read from the safetensors */
	uint64_t bytes_out; /* tensor bytes written */
	uint64_t file_out;  /* the whole output file */
	uint64_t count_by_type[GGUF_TENSOR_COUNT];
	double seconds;
};

/* Errors: MODL_ENOTFOUND for a SRC that is neither a directory nor a cached repo (the
 * message says to run modl pull); MODL_EINVALID ("FILE: what is wrong") for an
 * unsupported architecture, a config.json, checkpoint or tokenizer that is missing,
 * malformed or disagrees with the rest; MODL_EUSAGE for an unknown TYPE or --pre;
 * MODL_EFAIL for I/O. On failure no output file is left behind. */
int convert_run(const struct convert_options *o, struct convert_result *result);
void convert_result_free(struct convert_result *result);

/* The architectures convert accepts, comma-separated, for messages and --help. */
const char *convert_supported_architectures(void);

#endif
