/* Oracle for modl's quantization core: ggml's own reference quantizers, loaded with
 * dlopen from the libggml-base.so that node-llama-cpp ships (llama.cpp v0.5.0).
 *
 * For every type, row class, row length, instruction set and thread count, quantizes a
 * matrix with ggml_quantize_chunk (no importance matrix: the quantize_row_*_ref path)
 * and with modl's quant_rows, and compares the bytes; then dequantizes ggml's bytes with
 * ggml's dequantize_row_* and with modl's dequant_row and compares the float bits. Types
 * with a weighted kernel in modl are also run with importance weights (ggml's
 * quant_weights, one per column: "dense" ones spread over orders of magnitude, "sparse"
 * ones mostly zero, whole blocks included) against quant_rows_weighted. Also compares
 * the F16/BF16 scalar conversions on every 16-bit pattern and on a sweep of 32-bit
 * patterns. Prints one line per case and a closing summary line:
 *   case type=Q4_K weights=none class=normal n=4096 isa=avx512 threads=7 bytes=... mismatches=0
 *   dequant type=Q4_K weights=none class=normal n=4096 mismatches=0
 *   summary cases=N mismatches=M types=F16,BF16,...
 * Usage: quant_oracle LIBGGML_BASE_SO [--quick | --bench]
 * --bench instead prints the single-thread throughput (GB/s of F32 input) of ggml's
 * reference and of each of modl's paths, per type. */
#include <dlfcn.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "quant/quant.h"

typedef size_t (*quantize_chunk_fn)(int type, const float *src, void *dst, int64_t start, int64_t nrows,
				    int64_t n_per_row, const float *imatrix);
typedef void (*dequant_fn)(const void *x, float *y, int64_t k);
typedef void (*quantize_init_fn)(int type);
typedef uint16_t (*to_half_fn)(float);
typedef float (*from_half_fn)(uint16_t);

static quantize_chunk_fn ggml_quantize_chunk;
static quantize_init_fn ggml_quantize_init;
static to_half_fn ggml_fp32_to_fp16, ggml_fp32_to_bf16;
static from_half_fn ggml_fp16_to_fp32, ggml_bf16_to_fp32;

/* weighted: modl has the importance-weighted kernel, so the weighted cases run too. */
struct type_case {
	uint32_t type;
	const char *dequant_symbol;
	int weighted;
	dequant_fn dequant;
	int covered;
};

/* clang-format off */
static struct type_case types[] = {
	{ QUANT_F16, "ggml_fp16_to_fp32_row", 0, NULL, 0 },
	{ QUANT_BF16, "ggml_bf16_to_fp32_row", 0, NULL, 0 },
	{ QUANT_Q4_0, "dequantize_row_q4_0", 0, NULL, 0 },
	{ QUANT_Q4_1, "dequantize_row_q4_1", 0, NULL, 0 },
	{ QUANT_Q5_0, "dequantize_row_q5_0", 0, NULL, 0 },
	{ QUANT_Q5_1, "dequantize_row_q5_1", 0, NULL, 0 },
	{ QUANT_Q8_0, "dequantize_row_q8_0", 0, NULL, 0 },
	{ QUANT_Q2_K, "dequantize_row_q2_K", 0, NULL, 0 },
	{ QUANT_Q3_K, "dequantize_row_q3_K", 0, NULL, 0 },
	{ QUANT_Q4_K, "dequantize_row_q4_K", 0, NULL, 0 },
	{ QUANT_Q5_K, "dequantize_row_q5_K", 0, NULL, 0 },
	{ QUANT_Q6_K, "dequantize_row_q6_K", 0, NULL, 0 },
	{ QUANT_IQ4_NL, "dequantize_row_iq4_nl", 1, NULL, 0 },
	{ QUANT_IQ4_XS, "dequantize_row_iq4_xs", 1, NULL, 0 },
};
/* clang-format on */

enum weights_kind { W_NONE, W_DENSE, W_SPARSE, W_COUNT };
static const char *weights_names[W_COUNT] = { "none", "dense", "sparse" };
#define NTYPES (sizeof(types) / sizeof(types[0]))

/* ---- deterministic inputs -------------------------------------------------------------- */

static uint64_t rng_state;

static uint64_t rng_next(void)
{
	uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static float uniform(void) /* [-1, 1) */
{
	return (float)((double)(rng_next() >> 11) * 0x1.0p-53 * 2.0 - 1.0);
}

static float gaussian(void)
{
	double u1 = ((double)(rng_next() >> 11) + 1.0) * 0x1.0p-53;
	double u2 = (double)(rng_next() >> 11) * 0x1.0p-53;
	return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

static float from_bits(uint32_t u)
{
	float f;
	memcpy(&f, &u, 4);
	return f;
}

enum row_class {
	C_ZEROS,
	C_CONSTANT,
	C_TINY,
	C_SUBNORMAL,
	C_OUTLIERS,
	C_EXTREME,
	C_ALTERNATING,
	C_NORMAL,
	C_UNIFORM,
	C_TIES,
	C_BLOCKS,
	C_NONFINITE,
	C_COUNT
};
/* clang-format off */
static const char *class_names[C_COUNT] = {
	"zeros", "constant", "tiny", "subnormal", "outliers", "extreme", "alternating",
	"normal", "uniform", "ties", "blocks", "nonfinite",
};
/* clang-format on */

static float value_of(enum row_class c, int64_t i, float param);

/* One element of "blocks": each run of 16 values takes another class. */
static float block_value(int64_t i)
{
	static const enum row_class pick[] = { C_ZEROS,       C_CONSTANT, C_TINY,    C_SUBNORMAL, C_OUTLIERS,
					       C_ALTERNATING, C_NORMAL,   C_UNIFORM, C_TIES };
	uint64_t h = (uint64_t)(i / 16) * 0x9E3779B97F4A7C15ull;
	enum row_class c = pick[(h >> 40) % (sizeof(pick) / sizeof(pick[0]))];
	if (((h >> 20) & 7) == 0) /* a lone non-zero value in zeros */
		return (i % 16) == (int64_t)((h >> 8) % 16) ? gaussian() : 0.0f;
	return value_of(c, i, (float)((h >> 30) % 7) - 3.0f);
}

static float value_of(enum row_class c, int64_t i, float param)
{
	switch (c) {
	case C_ZEROS: return (rng_next() & 3) ? 0.0f : -0.0f;
	case C_CONSTANT: return param == 0 ? 0.37f : param * 0.25f;
	case C_TINY: return gaussian() * 1e-20f;
	case C_SUBNORMAL: {
		uint64_t r = rng_next();
		if ((r & 7) == 0)
			return 0.0f;
		return from_bits((uint32_t)((r >> 8) & 0x807fffff) >> ((r >> 40) % 20));
	}
	case C_OUTLIERS: {
		float v = gaussian() * 0.02f;
		if ((rng_next() % 61) == 0)
			v = (rng_next() & 1 ? 1 : -1) * (float)pow(10.0, 2 + (double)(rng_next() % 5));
		return v;
	}
	case C_EXTREME: {
		uint64_t r = rng_next() % 97;
		if (r == 0)
			return (rng_next() & 1) ? 3.0e38f : -3.4028234e38f;
		if (r == 1)
			return (rng_next() & 1) ? 1e30f : -1e25f;
		return gaussian();
	}
	case C_ALTERNATING: return (i & 1 ? -1.0f : 1.0f) * (0.5f + (float)((i / 32) % 5) * 0.125f);
	case C_NORMAL: return gaussian() * 0.02f;
	case C_UNIFORM: return uniform();
	case C_TIES: /* small integers on a power-of-two grid: exact .5 cases everywhere */
		return (float)((int)(rng_next() % 33) - 16) * 0x1.0p-6f;
	case C_BLOCKS: return block_value(i);
	case C_NONFINITE: {
		uint64_t r = rng_next() % 211;
		if (r == 0)
			return NAN;
		if (r == 1)
			return -INFINITY;
		if (r == 2)
			return INFINITY;
		if (r == 3)
			return -NAN;
		/* No NaN with a payload: where two NaNs meet (x + dm with dm = inf * 0), which
		 * payload survives depends on the operand order the compiler chose, which C
		 * leaves open; llama.cpp rejects such blocks (non-finite scales) anyway. */
		return gaussian();
	}
	default: return 0.0f;
	}
}

static void fill(float *x, int64_t count, enum row_class c, uint64_t seed)
{
	rng_state = seed;
	float param = (float)((seed % 5)) - 2.0f;
	for (int64_t i = 0; i < count; i++)
		x[i] = value_of(c, i, param);
}

/* Importance weights of one column each, as an imatrix gives them (mean squared
 * activations: non-negative, orders of magnitude apart). "sparse" zeroes most columns
 * and some whole runs of 32 (a block whose fit has no weight at all). */
static void fill_weights(float *w, int64_t n, enum weights_kind kind, uint64_t seed)
{
	rng_state = seed;
	for (int64_t i = 0; i < n; i++) {
		float v = (float)exp(gaussian() * 2.0) * 0.01f;
		if (kind == W_SPARSE && ((i / 32) % 5 == 1 || rng_next() % 4 != 0))
			v = 0.0f;
		else if (rng_next() % 29 == 0)
			v = (rng_next() & 1) ? 0.0f : v * 1e6f;
		w[i] = v;
	}
}

/* ---- comparisons ------------------------------------------------------------------------ */

static int64_t count_mismatch(const unsigned char *a, const unsigned char *b, size_t n)
{
	int64_t bad = 0;
	for (size_t i = 0; i < n; i++)
		bad += a[i] != b[i];
	return bad;
}

static void *must_sym(void *lib, const char *name)
{
	void *p = dlsym(lib, name);
	if (!p) {
		fprintf(stderr, "quant_oracle: %s not exported: %s\n", name, dlerror());
		exit(2);
	}
	return p;
}

static int64_t check_conversions(int quick)
{
	int64_t bad = 0;
	for (uint32_t h = 0; h < 65536; h++) {
		float a = quant_fp16_to_fp32((uint16_t)h), b = ggml_fp16_to_fp32((uint16_t)h);
		bad += memcmp(&a, &b, 4) != 0;
		a = quant_bf16_to_fp32((uint16_t)h);
		b = ggml_bf16_to_fp32((uint16_t)h);
		bad += memcmp(&a, &b, 4) != 0;
	}
	/* every 32-bit pattern with a stride that is odd, so all low-bit shapes occur */
	uint64_t step = quick ? 65521 : 4099;
	int64_t n = 0;
	for (uint64_t u = 0; u < 0x100000000ull; u += step, n++) {
		float f = from_bits((uint32_t)u);
		bad += quant_fp32_to_fp16(f) != ggml_fp32_to_fp16(f);
		bad += quant_fp32_to_bf16(f) != ggml_fp32_to_bf16(f);
	}
	printf("conversions patterns=%lld mismatches=%lld\n", (long long)(n + 65536), (long long)bad);
	return bad;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Seconds per call of fn, best of a few runs of at least 0.3 s each. */
#define TIME_BEST(result, call)                               \
	do {                                                  \
		double best_ = 1e30;                          \
		for (int rep_ = 0; rep_ < 3; rep_++) {        \
			int iters_ = 0;                       \
			double t0_ = now(), t1_;              \
			do {                                  \
				call;                         \
				iters_++;                     \
			} while ((t1_ = now()) - t0_ < 0.3);  \
			if ((t1_ - t0_) / iters_ < best_)     \
				best_ = (t1_ - t0_) / iters_; \
		}                                             \
		result = best_;                               \
	} while (0)

static int bench(void)
{
	const int64_t n = 4096, nrows = 64;
	float *x = malloc(sizeof(float) * (size_t)(n * nrows));
	unsigned char *q = malloc((size_t)(n * nrows) * 4);
	if (!x || !q)
		return 2;
	fill(x, n * nrows, C_NORMAL, 42);
	const double gb = (double)(n * nrows) * 4 / 1e9;
	static const enum quant_isa isas[] = { QUANT_ISA_SCALAR, QUANT_ISA_AVX2, QUANT_ISA_AVX512,
					       QUANT_ISA_NEON };
	printf("%-5s %10s", "type", "ggml-ref");
	for (size_t i = 0; i < 4; i++)
		if (quant_isa_supported(isas[i]))
			printf(" %10s", quant_isa_name(isas[i]));
	printf("   (GB/s of F32 input, 1 thread, %lld x %lld normal values)\n", (long long)nrows,
	       (long long)n);
	for (size_t t = 0; t < NTYPES; t++) {
		uint32_t type = types[t].type;
		double s;
		TIME_BEST(s, ggml_quantize_chunk((int)type, x, q, 0, nrows, n, NULL));
		printf("%-5s %10.3f", quant_type_name(type), gb / s);
		for (size_t i = 0; i < 4; i++) {
			if (!quant_isa_supported(isas[i]))
				continue;
			quant_set_isa(isas[i]);
			TIME_BEST(s, quant_rows(type, x, q, nrows, n, 1));
			printf(" %10.3f", gb / s);
		}
		quant_set_isa(QUANT_ISA_AUTO);
		printf("\n");
		fflush(stdout);
	}
	free(x);
	free(q);
	return 0;
}

/* One matrix of nrows rows of n values and its buffers. */
struct matrix {
	int64_t n, nrows;
	size_t bytes;
	float *x, *w, *y_ref, *y_modl;
	unsigned char *q_ref, *q_modl;
};

static int matrix_alloc(struct matrix *m, uint32_t type)
{
	size_t count = (size_t)(m->n * m->nrows);
	m->bytes = quant_row_size(type, m->n) * (size_t)m->nrows;
	m->x = malloc(sizeof(float) * count);
	m->w = malloc(sizeof(float) * (size_t)m->n);
	m->y_ref = malloc(sizeof(float) * count);
	m->y_modl = malloc(sizeof(float) * count);
	m->q_ref = malloc(m->bytes);
	m->q_modl = malloc(m->bytes);
	return m->x && m->w && m->y_ref && m->y_modl && m->q_ref && m->q_modl ? 0 : -1;
}

static void matrix_free(struct matrix *m)
{
	free(m->x);
	free(m->w);
	free(m->y_ref);
	free(m->y_modl);
	free(m->q_ref);
	free(m->q_modl);
}

/* Quantizes m->x with ggml and with modl on every path and thread count, then
 * dequantizes ggml's bytes with both; prints the lines, returns the mismatches. */
static int64_t run_case(struct type_case *tc, struct matrix *m, enum weights_kind wk, int c, int64_t *cases)
{
	static const unsigned thread_counts[] = { 1, 2, 7 };
	static const enum quant_isa isas[] = { QUANT_ISA_SCALAR, QUANT_ISA_AVX2, QUANT_ISA_AVX512,
					       QUANT_ISA_NEON };
	const char *name = quant_type_name(tc->type);
	const float *weights = wk == W_NONE ? NULL : m->w;
	const int64_t n = m->n;
	int64_t total_bad = 0;
	memset(m->q_ref, 0xAA, m->bytes);
	size_t got = ggml_quantize_chunk((int)tc->type, m->x, m->q_ref, 0, m->nrows, n, weights);
	if (got != m->bytes) {
		printf("case type=%s weights=%s class=%s n=%lld size ggml=%zu modl=%zu mismatches=1\n", name,
		       weights_names[wk], class_names[c], (long long)n, got, m->bytes);
		return 1;
	}
	for (size_t ii = 0; ii < sizeof(isas) / sizeof(isas[0]); ii++) {
		if (!quant_isa_supported(isas[ii]))
			continue;
		quant_set_isa(isas[ii]);
		for (size_t ti = 0; ti < 3; ti++) {
			memset(m->q_modl, 0x55, m->bytes);
			int rc = quant_rows_weighted(tc->type, m->x, m->q_modl, m->nrows, n, weights,
						     thread_counts[ti]);
			int64_t bad =
				rc != 0 ? (int64_t)m->bytes : count_mismatch(m->q_ref, m->q_modl, m->bytes);
			printf("case type=%s weights=%s class=%s n=%lld isa=%s threads=%u bytes=%zu mismatches=%lld\n",
			       name, weights_names[wk], class_names[c], (long long)n,
			       quant_isa_name(isas[ii]), thread_counts[ti], m->bytes, (long long)bad);
			total_bad += bad;
			(*cases)++;
		}
	}
	quant_set_isa(QUANT_ISA_AUTO);
	/* dequantization of the same (ggml's) bytes, row by row */
	size_t row_bytes = quant_row_size(tc->type, n);
	for (int64_t r = 0; r < m->nrows; r++) {
		tc->dequant(m->q_ref + (size_t)r * row_bytes, m->y_ref + r * n, n);
		dequant_row(tc->type, m->q_ref + (size_t)r * row_bytes, m->y_modl + r * n, n);
	}
	int64_t dbad = count_mismatch((unsigned char *)m->y_ref, (unsigned char *)m->y_modl,
				      sizeof(float) * (size_t)(n * m->nrows));
	printf("dequant type=%s weights=%s class=%s n=%lld mismatches=%lld\n", name, weights_names[wk],
	       class_names[c], (long long)n, (long long)dbad);
	tc->covered = 1;
	return total_bad + dbad;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: quant_oracle LIBGGML_BASE_SO [--quick]\n");
		return 2;
	}
	int quick = argc > 2 && strcmp(argv[2], "--quick") == 0;
	void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
	if (!lib) {
		fprintf(stderr, "quant_oracle: %s\n", dlerror());
		return 2;
	}
	ggml_quantize_chunk = (quantize_chunk_fn)must_sym(lib, "ggml_quantize_chunk");
	ggml_quantize_init = (quantize_init_fn)must_sym(lib, "ggml_quantize_init");
	ggml_fp32_to_fp16 = (to_half_fn)must_sym(lib, "ggml_fp32_to_fp16");
	ggml_fp32_to_bf16 = (to_half_fn)must_sym(lib, "ggml_fp32_to_bf16");
	ggml_fp16_to_fp32 = (from_half_fn)must_sym(lib, "ggml_fp16_to_fp32");
	ggml_bf16_to_fp32 = (from_half_fn)must_sym(lib, "ggml_bf16_to_fp32");
	for (size_t t = 0; t < NTYPES; t++)
		types[t].dequant = (dequant_fn)must_sym(lib, types[t].dequant_symbol);
	if (argc > 2 && strcmp(argv[2], "--bench") == 0)
		return bench();

	int64_t total_bad = check_conversions(quick);
	int64_t cases = 0;
	static const int64_t lengths[] = { 96, 256, 512, 4096, 4128, 11008 };
	const int64_t target_elements = quick ? 32768 : 131072;

	for (size_t t = 0; t < NTYPES; t++) {
		ggml_quantize_init((int)types[t].type);
		for (size_t li = 0; li < sizeof(lengths) / sizeof(lengths[0]); li++) {
			int64_t n = lengths[li];
			if (n % quant_block_size(types[t].type) != 0)
				continue;
			struct matrix m = { .n = n,
					    .nrows = target_elements / n < 7 ? 7 : target_elements / n };
			if (matrix_alloc(&m, types[t].type) != 0)
				return 2;
			for (int w = 0; w < (types[t].weighted ? W_COUNT : 1); w++) {
				fill_weights(m.w, n, (enum weights_kind)w, 31u * (uint64_t)n + (uint64_t)w);
				for (int c = 0; c < C_COUNT; c++) {
					fill(m.x, n * m.nrows, (enum row_class)c,
					     1000003u * (uint64_t)(t + 1) + 7919u * (uint64_t)n +
						     (uint64_t)c);
					total_bad += run_case(&types[t], &m, (enum weights_kind)w, c, &cases);
				}
			}
			matrix_free(&m);
		}
	}
	printf("summary cases=%lld mismatches=%lld types=", (long long)cases, (long long)total_bad);
	for (size_t t = 0, first = 1; t < NTYPES; t++)
		if (types[t].covered) {
			printf("%s%s", first ? "" : ",", quant_type_name(types[t].type));
			first = 0;
		}
	printf("\n");
	return total_bad == 0 ? 0 : 1;
}
