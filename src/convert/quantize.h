/* modl quantize: one GGUF file to another with llama-quantize's per-tensor types (doc/gguf.md
 * §5.6, src/quant/mix.h) and bytes (src/quant/quant.h).
 *
 * The model is streamed: tensors are read from the mapped input, converted to F32 and
 * quantized a chunk of rows at a time on the worker pool, and written in order, so that
 * memory stays at a few MiB per thread whatever the model's size. The output appears
 * under its name only when complete (temporary name in the same directory, fsync,
 * rename); on any failure the partial file is removed. */
#ifndef MODL_QUANTIZE_H
#define MODL_QUANTIZE_H

#include <stdint.h>

#include "formats/gguf.h"
#include "util/progress.h"

struct quantize_options {
	uint32_t ftype;            /* enum quant_ftype */
	unsigned threads;          /* 0: MODL_THREADS, else every core */
	int allow_requantize;      /* accept already-quantized tensors as input */
	struct progress *progress; /* NULL: none */
};

struct quantize_result {
	uint32_t ftype;
	unsigned threads;
	uint64_t tensors, elements;
	uint64_t bytes_in, bytes_out;              /* tensor data, as llama.cpp's "model size" counts it */
	uint64_t file_in, file_out;                /* whole files */
	uint64_t converted, copied;                /* tensors written in a new type / unchanged */
	unsigned fallbacks;                        /* tensors whose rows forced a fallback type */
	uint64_t count_by_type[GGUF_TENSOR_COUNT]; /* output tensors per ggml type */
	uint64_t bytes_by_type[GGUF_TENSOR_COUNT];
	double seconds;
};

/* Quantizes in_path into out_path. Errors: MODL_EINVALID for a malformed input, a tensor
 * with a NaN or an infinity (the message names it), an already-quantized tensor without
 * allow_requantize; MODL_ENOTFOUND for a missing input; MODL_EFAIL for I/O (disk full);
 * MODL_EUSAGE for an unknown ftype. */
int quantize_file(const char *in_path, const char *out_path, const struct quantize_options *o,
		  struct quantize_result *result);

#endif
