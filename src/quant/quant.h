/* The quantization core (doc/gguf.md §5): every type of doc/cli.md, byte-identical to ggml's
 * quantizers (ggml_quantize_chunk, with or without importance weights where this core
 * has the weighted kernel), whatever the thread count. Types are ggml/GGUF tensor type
 * ids. */
#ifndef MODL_QUANT_H
#define MODL_QUANT_H

#include <stddef.h>
#include <stdint.h>

#include "formats/gguf.h"

/* The GGUF tensor type ids (formats/gguf.h), under the names this core uses. */
enum quant_type {
	QUANT_F32 = GGUF_TENSOR_F32,
	QUANT_F16 = GGUF_TENSOR_F16,
	QUANT_Q4_0 = GGUF_TENSOR_Q4_0,
	QUANT_Q4_1 = GGUF_TENSOR_Q4_1,
	QUANT_Q5_0 = GGUF_TENSOR_Q5_0,
	QUANT_Q5_1 = GGUF_TENSOR_Q5_1,
	QUANT_Q8_0 = GGUF_TENSOR_Q8_0,
	QUANT_Q2_K = GGUF_TENSOR_Q2_K,
	QUANT_Q3_K = GGUF_TENSOR_Q3_K,
	QUANT_Q4_K = GGUF_TENSOR_Q4_K,
	QUANT_Q5_K = GGUF_TENSOR_Q5_K,
	QUANT_Q6_K = GGUF_TENSOR_Q6_K,
	QUANT_IQ4_NL = GGUF_TENSOR_IQ4_NL,
	QUANT_IQ4_XS = GGUF_TENSOR_IQ4_XS,
	QUANT_BF16 = GGUF_TENSOR_BF16,
};

/* Block size (elements) and bytes per block; 0 for a type this core does not know. */
int quant_type_known(uint32_t type);
uint32_t quant_block_size(uint32_t type);
uint32_t quant_type_size(uint32_t type);
const char *quant_type_name(uint32_t type);
/* Bytes of one row of n elements (n a multiple of the block size). */
size_t quant_row_size(uint32_t type, int64_t n);

/* Quantizes nrows rows of n_per_row F32 values (src, row-major) into dst, which holds
 * nrows * quant_row_size(type, n_per_row) bytes, on `threads` worker threads (chunks of
 * whole rows handed out by the pool; the bytes never depend on the thread count).
 * Returns 0, or MODL_EINVALID when n_per_row is not a multiple of the block size. */
int quant_rows(uint32_t type, const float *src, void *dst, int64_t nrows, int64_t n_per_row,
	       unsigned threads);

/* 1 when ggml's quantizer of this type reads importance weights (an imatrix changes its
 * bytes): the legacy 4/5-bit types, the K-quants, the i-quants; not F32, F16, BF16, Q8_0. */
int quant_type_uses_weights(uint32_t type);

/* quant_rows with llama.cpp's importance weights, as ggml_quantize_chunk's quant_weights:
 * `weights` holds n_per_row values, one per column, used for every row (an imatrix entry:
 * sum of squared activations per column over count), or is NULL, which is exactly
 * quant_rows. Types whose ggml quantizer ignores weights ignore them here too.
 * MODL_EINVALID for a type that reads them but whose weighted kernel this core does not
 * have yet (today only IQ4_NL and IQ4_XS have one). */
int quant_rows_weighted(uint32_t type, const float *src, void *dst, int64_t nrows, int64_t n_per_row,
			const float *weights, unsigned threads);
/* One row of n values with the same weights (n of them, or NULL); same errors. */
int quant_row_weighted(uint32_t type, const float *src, void *dst, int64_t n, const float *weights);

/* One row, on the calling thread (the scalar reference or the chosen SIMD path). */
void quant_row(uint32_t type, const float *src, void *dst, int64_t n);
/* The inverse: n values of one row back to F32 (F16 and BF16 at any alignment, on the
 * active instruction set; the bits never depend on the path). */
void dequant_row(uint32_t type, const void *src, float *dst, int64_t n);

/* Checks one quantized row as llama.cpp's ggml_validate_row_data does after each chunk:
 * every fp16 block scale (d, and m/dmin where the type has one) and every F32/F16/BF16
 * value must be finite. Returns 0, or MODL_EINVALID naming the first bad block. */
int quant_validate_row(uint32_t type, const void *row, int64_t n);

/* Instruction sets of the quantizers. QUANT_ISA_AUTO picks the best one the CPU has
 * (__builtin_cpu_supports on x86-64: AVX512F, else AVX2 with F16C; NEON on arm64).
 * Every path produces the same bytes as the scalar reference, which tests check. */
enum quant_isa {
	QUANT_ISA_AUTO = 0,
	QUANT_ISA_SCALAR = 1,
	QUANT_ISA_AVX2 = 2,
	QUANT_ISA_AVX512 = 3,
	QUANT_ISA_NEON = 4,
};
const char *quant_isa_name(enum quant_isa isa);
/* 1 when this build and this CPU can run isa (SCALAR always can; AUTO resolves). */
int quant_isa_supported(enum quant_isa isa);
/* The path quant_row and quant_rows use; resolved from the CPU on first use. */
enum quant_isa quant_isa_active(void);
/* Forces a path for the whole process (tests, benchmarks); AUTO goes back to the CPU's
 * choice. MODL_EINVALID when isa is not supported here. */
int quant_set_isa(enum quant_isa isa);
/* One row on an explicit path, whatever quant_isa_active() says. MODL_EINVALID when the
 * path is not supported or n is not a multiple of the block size. */
int quant_row_isa(enum quant_isa isa, uint32_t type, const float *src, void *dst, int64_t n);
/* dequant_row on an explicit path. MODL_EINVALID when the path is not supported or the
 * type is unknown. */
int dequant_row_isa(enum quant_isa isa, uint32_t type, const void *src, float *dst, int64_t n);

/* ggml's conversions: F16 and BF16 (round to nearest even; NaN kept quiet). */
uint16_t quant_fp32_to_fp16(float f);
float quant_fp16_to_fp32(uint16_t h);
uint16_t quant_fp32_to_bf16(float f);
float quant_bf16_to_fp32(uint16_t h);

#endif
