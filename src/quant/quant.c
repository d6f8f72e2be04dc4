/* The quantization core's entry points: the type table, quant_rows (rows handed out in
 * chunks by the process's worker pool), the choice of instruction set, the F16/BF16
 * conversions and the row validation llama.cpp applies after quantizing. */
#include "quant_internal.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "formats/gguf.h"
#include "util/error.h"
#include "util/pool.h"

/* The types this core quantizes: the scalar reference without importance weights (ref),
 * the one with them (weighted; when present it also serves the unweighted case, with
 * NULL weights), and whether ggml's quantizer reads the weights at all. Names, elements
 * per block and bytes per block are GGUF's, read from the one table in
 * formats/gguf_types.c (the block structs of quant_internal.h assert the same sizes at
 * compile time, and test_quant checks that the two agree). */
struct type_info {
	uint32_t type;
	quant_row_fn ref;
	quant_wrow_fn weighted;
	int uses_weights;
};

/* clang-format off */
static const struct type_info types[] = {
	{ QUANT_F32, NULL, NULL, 0 },
	{ QUANT_F16, quant_ref_f16, NULL, 0 },
	{ QUANT_Q4_0, quant_ref_q4_0, NULL, 1 },
	{ QUANT_Q4_1, quant_ref_q4_1, NULL, 1 },
	{ QUANT_Q5_0, quant_ref_q5_0, NULL, 1 },
	{ QUANT_Q5_1, quant_ref_q5_1, NULL, 1 },
	{ QUANT_Q8_0, quant_ref_q8_0, NULL, 0 },
	{ QUANT_Q2_K, quant_ref_q2_K, NULL, 1 },
	{ QUANT_Q3_K, quant_ref_q3_K, NULL, 1 },
	{ QUANT_Q4_K, quant_ref_q4_K, NULL, 1 },
	{ QUANT_Q5_K, quant_ref_q5_K, NULL, 1 },
	{ QUANT_Q6_K, quant_ref_q6_K, NULL, 1 },
	{ QUANT_IQ4_NL, NULL, quant_ref_iq4_nl, 1 },
	{ QUANT_IQ4_XS, NULL, quant_ref_iq4_xs, 1 },
	{ QUANT_BF16, quant_ref_bf16, NULL, 0 },
};
/* clang-format on */

/* Rows per pool task: at least this many elements, so that small rows do not make the
 * workers fight over the lock (llama.cpp uses the same minimum chunk). */
#define CHUNK_MIN_ELEMENTS 16384

static const struct type_info *type_lookup(uint32_t type)
{
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (types[i].type == type)
			return &types[i];
	return NULL;
}

int quant_type_known(uint32_t type)
{
	return type_lookup(type) != NULL;
}

uint32_t quant_block_size(uint32_t type)
{
	uint32_t block = 0;
	if (type_lookup(type))
		gguf_tensor_type_traits(type, &block, NULL);
	return block;
}

uint32_t quant_type_size(uint32_t type)
{
	uint32_t size = 0;
	if (type_lookup(type))
		gguf_tensor_type_traits(type, NULL, &size);
	return size;
}

int quant_type_uses_weights(uint32_t type)
{
	const struct type_info *t = type_lookup(type);
	return t && t->uses_weights;
}

const char *quant_type_name(uint32_t type)
{
	return type_lookup(type) ? gguf_tensor_type_name(type) : NULL;
}

size_t quant_row_size(uint32_t type, int64_t n)
{
	uint32_t block = quant_block_size(type);
	if (!block || n < 0)
		return 0;
	return (size_t)(n / block) * quant_type_size(type);
}

/* ---- instruction sets ------------------------------------------------------------------ */

static atomic_int active_isa = QUANT_ISA_AUTO;

const char *quant_isa_name(enum quant_isa isa)
{
	switch (isa) {
	case QUANT_ISA_AUTO: return "auto";
	case QUANT_ISA_SCALAR: return "scalar";
	case QUANT_ISA_AVX2: return "avx2";
	case QUANT_ISA_AVX512: return "avx512";
	case QUANT_ISA_NEON: return "neon";
	}
	return "unknown";
}

const struct quant_kernels *quant_isa_kernels(enum quant_isa isa)
{
	switch (isa) {
	case QUANT_ISA_AVX2: return quant_kernels_avx2();
	case QUANT_ISA_AVX512: return quant_kernels_avx512();
	case QUANT_ISA_NEON: return quant_kernels_neon();
	default: return NULL;
	}
}

int quant_isa_supported(enum quant_isa isa)
{
	if (isa == QUANT_ISA_AUTO || isa == QUANT_ISA_SCALAR)
		return 1;
	return quant_isa_kernels(isa) != NULL;
}

static enum quant_isa isa_detect(void)
{
	if (quant_kernels_avx512())
		return QUANT_ISA_AVX512;
	if (quant_kernels_avx2())
		return QUANT_ISA_AVX2;
	if (quant_kernels_neon())
		return QUANT_ISA_NEON;
	return QUANT_ISA_SCALAR;
}

enum quant_isa quant_isa_active(void)
{
	int isa = atomic_load(&active_isa);
	if (isa == QUANT_ISA_AUTO) {
		isa = (int)isa_detect();
		atomic_store(&active_isa, isa);
	}
	return (enum quant_isa)isa;
}

int quant_set_isa(enum quant_isa isa)
{
	if (!quant_isa_supported(isa))
		return modl_error_set(MODL_EINVALID, "instruction set %s is not available here",
				      quant_isa_name(isa));
	atomic_store(&active_isa, isa == QUANT_ISA_AUTO ? (int)isa_detect() : (int)isa);
	return 0;
}

/* ---- one row ---------------------------------------------------------------------------- */

/* What quantizes a row: a weighted quantizer (with its weights, possibly NULL), else an
 * unweighted one, else (F32) a copy. */
struct row_kernel {
	quant_row_fn fn;
	quant_wrow_fn wfn;
	const float *weights;
};

/* The kernel of type t on path isa. Importance weights a type's ggml quantizer ignores
 * are ignored; those it reads but this core cannot apply yet are an error. The SIMD
 * tables hold unweighted kernels: they serve a row unless weights go to a weighted one. */
static int row_kernel(enum quant_isa isa, const struct type_info *t, const float *weights,
		      struct row_kernel *k)
{
	const struct quant_kernels *simd = quant_isa_kernels(isa);
	*k = (struct row_kernel){ .fn = t->ref, .wfn = t->weighted, .weights = weights };
	if (weights && !t->weighted && t->uses_weights)
		return modl_error_set(MODL_EINVALID, "%s cannot be quantized with importance weights yet",
				      quant_type_name(t->type));
	if (simd && t->type < QUANT_TYPE_SLOTS && simd->row[t->type] && !(weights && t->weighted))
		k->fn = simd->row[t->type];
	if (k->fn && !weights)
		k->wfn = NULL;
	return 0;
}

static void row_run(const struct row_kernel *k, const float *src, void *dst, int64_t n)
{
	if (k->wfn)
		k->wfn(src, dst, n, k->weights);
	else if (k->fn)
		k->fn(src, dst, n);
	else
		memcpy(dst, src, (size_t)n * sizeof(float)); /* F32 */
}

static int check_row(const struct type_info *t, uint32_t type, int64_t n)
{
	if (!t)
		return modl_error_set(MODL_EINVALID, "tensor type %u cannot be quantized", type);
	if (n < 0 || n % quant_block_size(t->type) != 0)
		return modl_error_set(MODL_EINVALID,
				      "row of %lld values is not a multiple of the %s block size %u",
				      (long long)n, quant_type_name(t->type), quant_block_size(t->type));
	return 0;
}

/* One row on path isa (AUTO: the active one), with or without weights. */
static int row_isa(enum quant_isa isa, uint32_t type, const float *src, void *dst, int64_t n,
		   const float *weights)
{
	const struct type_info *t = type_lookup(type);
	struct row_kernel k;
	int rc = check_row(t, type, n);
	if (rc != 0)
		return rc;
	if (!quant_isa_supported(isa))
		return modl_error_set(MODL_EINVALID, "instruction set %s is not available here",
				      quant_isa_name(isa));
	if (isa == QUANT_ISA_AUTO)
		isa = quant_isa_active();
	if ((rc = row_kernel(isa, t, weights, &k)) != 0)
		return rc;
	row_run(&k, src, dst, n);
	return 0;
}

void quant_row(uint32_t type, const float *src, void *dst, int64_t n)
{
	row_isa(QUANT_ISA_AUTO, type, src, dst, n, NULL);
}

int quant_row_weighted(uint32_t type, const float *src, void *dst, int64_t n, const float *weights)
{
	return row_isa(QUANT_ISA_AUTO, type, src, dst, n, weights);
}

int quant_row_isa(enum quant_isa isa, uint32_t type, const float *src, void *dst, int64_t n)
{
	return row_isa(isa, type, src, dst, n, NULL);
}

/* ---- many rows on the pool ------------------------------------------------------------- */

struct rows_job {
	pthread_mutex_t lock;
	int64_t next_row; /* under lock */
	int64_t nrows, n_per_row, chunk_rows;
	size_t row_bytes;
	const float *src;
	unsigned char *dst;
	struct row_kernel kernel;
};

static void rows_worker(void *ctx, unsigned index)
{
	struct rows_job *job = ctx;
	(void)index;
	for (;;) {
		pthread_mutex_lock(&job->lock);
		int64_t first = job->next_row;
		job->next_row += job->chunk_rows;
		pthread_mutex_unlock(&job->lock);
		if (first >= job->nrows)
			return;
		int64_t last = first + job->chunk_rows;
		if (last > job->nrows)
			last = job->nrows;
		for (int64_t r = first; r < last; r++)
			row_run(&job->kernel, job->src + r * job->n_per_row,
				job->dst + (size_t)r * job->row_bytes, job->n_per_row);
	}
}

int quant_rows(uint32_t type, const float *src, void *dst, int64_t nrows, int64_t n_per_row, unsigned threads)
{
	return quant_rows_weighted(type, src, dst, nrows, n_per_row, NULL, threads);
}

int quant_rows_weighted(uint32_t type, const float *src, void *dst, int64_t nrows, int64_t n_per_row,
			const float *weights, unsigned threads)
{
	const struct type_info *t = type_lookup(type);
	int rc = check_row(t, type, n_per_row);
	if (rc != 0)
		return rc;
	if (nrows < 0)
		return modl_error_set(MODL_EINVALID, "negative row count %lld", (long long)nrows);
	struct row_kernel kernel;
	if ((rc = row_kernel(quant_isa_active(), t, weights, &kernel)) != 0)
		return rc;
	if (nrows == 0 || n_per_row == 0)
		return 0;
	struct rows_job job = {
		.nrows = nrows,
		.n_per_row = n_per_row,
		.chunk_rows = n_per_row >= CHUNK_MIN_ELEMENTS
				      ? 1
				      : (CHUNK_MIN_ELEMENTS + n_per_row - 1) / n_per_row,
		.row_bytes = quant_row_size(type, n_per_row),
		.src = src,
		.dst = dst,
		.kernel = kernel,
	};
	if (threads == 0)
		threads = pool_default_threads();
	int64_t chunks = (nrows + job.chunk_rows - 1) / job.chunk_rows;
	if ((int64_t)threads > chunks)
		threads = (unsigned)chunks;
	if (pthread_mutex_init(&job.lock, NULL) != 0)
		return modl_error_set(MODL_EFAIL, "cannot create a lock");
	if (threads <= 1)
		rows_worker(&job, 0);
	else
		rc = pool_run(threads, rows_worker, &job);
	pthread_mutex_destroy(&job.lock);
	return rc;
}

/* ---- F16 / BF16 ------------------------------------------------------------------------ */

uint16_t quant_fp32_to_fp16(float f)
{
	return quant_fp16(f);
}

float quant_fp16_to_fp32(uint16_t h)
{
	return quant_fp32(h);
}

/* ggml_compute_fp32_to_bf16: round to nearest even; a NaN keeps its top bits and is made
 * quiet. */
uint16_t quant_fp32_to_bf16(float f)
{
	uint32_t u = quant_bits(f);
	if ((u & 0x7fffffff) > 0x7f800000)
		return (uint16_t)((u >> 16) | 64);
	return (uint16_t)((u + (0x7fff + ((u >> 16) & 1))) >> 16);
}

float quant_bf16_to_fp32(uint16_t h)
{
	return quant_float((uint32_t)h << 16);
}

/* ---- validation (ggml_validate_row_data) ----------------------------------------------- */

static int fp16_finite(uint16_t h)
{
	return (h & 0x7c00) != 0x7c00;
}

int quant_validate_row(uint32_t type, const void *row, int64_t n)
{
	const struct type_info *t = type_lookup(type);
	int rc = check_row(t, type, n);
	if (rc != 0)
		return rc;
	const unsigned char *p = row;
	int64_t nb = n / quant_block_size(t->type);
	size_t block_bytes = quant_type_size(t->type);
	for (int64_t i = 0; i < nb; i++, p += block_bytes) {
		uint16_t d = 0, m = 0;
		int ok = 1;
		switch (type) {
		case QUANT_F32: {
			uint32_t u;
			memcpy(&u, p, 4);
			ok = (u & 0x7f800000) != 0x7f800000;
			break;
		}
		case QUANT_F16:
			memcpy(&d, p, 2);
			ok = fp16_finite(d);
			break;
		case QUANT_BF16:
			memcpy(&d, p, 2);
			ok = (d & 0x7f80) != 0x7f80;
			break;
		case QUANT_Q4_0:
		case QUANT_Q5_0:
		case QUANT_Q8_0:
		case QUANT_IQ4_NL:
		case QUANT_IQ4_XS:
			memcpy(&d, p, 2);
			ok = fp16_finite(d);
			break;
		case QUANT_Q4_1:
		case QUANT_Q5_1:
		case QUANT_Q4_K:
		case QUANT_Q5_K:
			memcpy(&d, p, 2);
			memcpy(&m, p + 2, 2);
			ok = fp16_finite(d) && fp16_finite(m);
			break;
		case QUANT_Q2_K:
			memcpy(&d, p + offsetof(block_q2_K, d), 2);
			memcpy(&m, p + offsetof(block_q2_K, dmin), 2);
			ok = fp16_finite(d) && fp16_finite(m);
			break;
		case QUANT_Q3_K:
			memcpy(&d, p + offsetof(block_q3_K, d), 2);
			ok = fp16_finite(d);
			break;
		case QUANT_Q6_K:
			memcpy(&d, p + offsetof(block_q6_K, d), 2);
			ok = fp16_finite(d);
			break;
		}
		if (!ok)
			return modl_error_set(MODL_EINVALID,
					      "%s data has a NaN or infinite value in block %lld",
					      quant_type_name(t->type), (long long)i);
	}
	return 0;
}
