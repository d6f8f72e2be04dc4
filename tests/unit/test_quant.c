#include "unit.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "quant/quant.h"

static const uint32_t all_types[] = { QUANT_F32,  QUANT_F16,  QUANT_BF16, QUANT_Q4_0,   QUANT_Q4_1,
				      QUANT_Q5_0, QUANT_Q5_1, QUANT_Q8_0, QUANT_Q2_K,   QUANT_Q3_K,
				      QUANT_Q4_K, QUANT_Q5_K, QUANT_Q6_K, QUANT_IQ4_NL, QUANT_IQ4_XS };
#define NTYPES (sizeof(all_types) / sizeof(all_types[0]))
static const enum quant_isa simd_isas[] = { QUANT_ISA_AVX2, QUANT_ISA_AVX512, QUANT_ISA_NEON };

static uint64_t rng = 1;

static uint64_t next(void)
{
	uint64_t z = (rng += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static float gauss(void)
{
	double u1 = ((double)(next() >> 11) + 1.0) * 0x1.0p-53;
	double u2 = (double)(next() >> 11) * 0x1.0p-53;
	return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

static float bits_float(uint32_t u)
{
	float f;
	memcpy(&f, &u, 4);
	return f;
}

/* Rows in which every 16 values pick a shape: noise at several scales, zeros, a
 * constant, a lone value, outliers, ties on a power-of-two grid, subnormals. */
static void fill_mixed(float *x, int64_t n)
{
	for (int64_t i = 0; i < n; i += 16) {
		uint64_t kind = next() % 10;
		float scale = (float)pow(10.0, (double)(next() % 9) - 6.0);
		float c = gauss();
		int64_t lone = (int64_t)(next() % 16);
		for (int64_t j = i; j < i + 16 && j < n; j++) {
			switch (kind) {
			case 0: x[j] = 0.0f; break;
			case 1: x[j] = c; break;
			case 2: x[j] = j - i == lone ? c : 0.0f; break;
			case 3: x[j] = gauss() * scale * ((next() % 50) ? 1.0f : 1000.0f); break;
			case 4: x[j] = (float)((int)(next() % 33) - 16) * 0x1.0p-4f; break;
			case 5: x[j] = bits_float((uint32_t)(next() & 0x807fffff)); break;
			case 6: x[j] = (j & 1 ? -1.0f : 1.0f) * scale; break;
			default: x[j] = gauss() * scale; break;
			}
		}
	}
}

static float *alloc_floats(int64_t n)
{
	float *p = malloc(sizeof(float) * (size_t)n);
	assert_non_null(p);
	return p;
}

/* ---- the type table ---------------------------------------------------------------------- */

static void test_type_table(void **state)
{
	(void)state;
	/* clang-format off */
	static const struct { uint32_t type, block, size; const char *name; } want[] = {
		{ QUANT_F32, 1, 4, "F32" },      { QUANT_F16, 1, 2, "F16" },
		{ QUANT_BF16, 1, 2, "BF16" },    { QUANT_Q4_0, 32, 18, "Q4_0" },
		{ QUANT_Q4_1, 32, 20, "Q4_1" },  { QUANT_Q5_0, 32, 22, "Q5_0" },
		{ QUANT_Q5_1, 32, 24, "Q5_1" },  { QUANT_Q8_0, 32, 34, "Q8_0" },
		{ QUANT_Q2_K, 256, 84, "Q2_K" }, { QUANT_Q3_K, 256, 110, "Q3_K" },
		{ QUANT_Q4_K, 256, 144, "Q4_K" }, { QUANT_Q5_K, 256, 176, "Q5_K" },
		{ QUANT_Q6_K, 256, 210, "Q6_K" }, { QUANT_IQ4_NL, 32, 18, "IQ4_NL" },
		{ QUANT_IQ4_XS, 256, 136, "IQ4_XS" },
	};
	/* clang-format on */
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		assert_true(quant_type_known(want[i].type));
		assert_int_equal(quant_block_size(want[i].type), want[i].block);
		assert_int_equal(quant_type_size(want[i].type), want[i].size);
		assert_string_equal(quant_type_name(want[i].type), want[i].name);
		assert_int_equal(quant_row_size(want[i].type, 4096),
				 (size_t)(4096 / want[i].block) * want[i].size);
	}
	assert_false(quant_type_known(9));                /* Q8_1: activations only */
	assert_false(quant_type_known(QUANT_IQ4_XS - 2)); /* IQ3_S: not yet */
	assert_int_equal(quant_block_size(16), 0);
	assert_null(quant_type_name(99));
}

/* ---- every SIMD path equals the scalar reference ------------------------------------------ */

static void test_simd_equals_scalar(void **state)
{
	(void)state;
	static const int64_t lengths[] = { 256, 512, 768, 2816, 4096 };
	int paths = 0;
	for (size_t ii = 0; ii < sizeof(simd_isas) / sizeof(simd_isas[0]); ii++) {
		if (!quant_isa_supported(simd_isas[ii]))
			continue;
		paths++;
		for (size_t t = 0; t < NTYPES; t++) {
			uint32_t type = all_types[t];
			for (int rep = 0; rep < 40; rep++) {
				int64_t n = lengths[rep % 5];
				rng = 1000u * t + (uint64_t)rep * 7 + ii;
				float *x = alloc_floats(n);
				if (rep % 4 == 0)
					fill_mixed(x, n);
				else
					for (int64_t i = 0; i < n; i++)
						x[i] = gauss() * (rep % 4 == 1 ? 0.02f : 1.0f);
				size_t bytes = quant_row_size(type, n);
				unsigned char *a = malloc(bytes), *b = malloc(bytes);
				assert_non_null(a);
				assert_non_null(b);
				memset(a, 0x11, bytes);
				memset(b, 0x22, bytes);
				assert_int_equal(quant_row_isa(QUANT_ISA_SCALAR, type, x, a, n), 0);
				assert_int_equal(quant_row_isa(simd_isas[ii], type, x, b, n), 0);
				if (memcmp(a, b, bytes) != 0)
					fail_msg("%s: %s differs from scalar (row %d, n %lld)",
						 quant_type_name(type), quant_isa_name(simd_isas[ii]), rep,
						 (long long)n);
				free(a);
				free(b);
				free(x);
			}
		}
	}
	/* on x86-64 the CPU this runs on must expose at least AVX2 for the paths to be tested */
#if defined(__x86_64__)
	__builtin_cpu_init();
	if (__builtin_cpu_supports("avx2"))
		assert_true(paths >= 1);
	if (__builtin_cpu_supports("avx512f"))
		assert_true(quant_isa_supported(QUANT_ISA_AVX512));
#endif
}

static void test_isa_selection(void **state)
{
	(void)state;
	assert_true(quant_isa_supported(QUANT_ISA_SCALAR));
	enum quant_isa best = quant_isa_active();
	assert_true(best != QUANT_ISA_AUTO);
	assert_int_equal(quant_set_isa(QUANT_ISA_SCALAR), 0);
	assert_int_equal(quant_isa_active(), QUANT_ISA_SCALAR);
	assert_int_equal(quant_set_isa(QUANT_ISA_AUTO), 0);
	assert_int_equal(quant_isa_active(), best);
	for (size_t i = 0; i < sizeof(simd_isas) / sizeof(simd_isas[0]); i++)
		if (!quant_isa_supported(simd_isas[i])) {
			assert_int_equal(quant_set_isa(simd_isas[i]), MODL_EINVALID);
			float x[32] = { 0 };
			unsigned char y[34];
			assert_int_equal(quant_row_isa(simd_isas[i], QUANT_Q8_0, x, y, 32), MODL_EINVALID);
		}
	assert_string_equal(quant_isa_name(QUANT_ISA_AVX512), "avx512");
}

/* ---- thread count never changes the bytes ------------------------------------------------ */

static void test_threads_identical(void **state)
{
	(void)state;
	const int64_t n = 512, nrows = 203; /* many chunks, a ragged last one */
	float *x = alloc_floats(n * nrows);
	rng = 77;
	fill_mixed(x, n * nrows);
	for (size_t t = 0; t < NTYPES; t++) {
		uint32_t type = all_types[t];
		size_t bytes = quant_row_size(type, n) * (size_t)nrows;
		unsigned char *one = malloc(bytes), *many = malloc(bytes);
		assert_non_null(one);
		assert_non_null(many);
		assert_int_equal(quant_rows(type, x, one, nrows, n, 1), 0);
		static const unsigned counts[] = { 2, 7, 0 };
		for (size_t c = 0; c < 3; c++) {
			memset(many, 0xA5, bytes);
			assert_int_equal(quant_rows(type, x, many, nrows, n, counts[c]), 0);
			if (memcmp(one, many, bytes) != 0)
				fail_msg("%s: %u threads differ from 1", quant_type_name(type), counts[c]);
		}
		/* and the row-at-a-time entry point agrees */
		size_t rb = quant_row_size(type, n);
		for (int64_t r = 0; r < nrows; r += 50) {
			quant_row(type, x + r * n, many, n);
			assert_memory_equal(many, one + (size_t)r * rb, rb);
		}
		free(one);
		free(many);
	}
	free(x);
}

/* ---- rows that do not fit the block size are refused -------------------------------------- */

static void test_bad_row_length(void **state)
{
	(void)state;
	float x[512] = { 0 };
	unsigned char y[1024];
	modl_error_clear();
	assert_int_equal(quant_rows(QUANT_Q4_K, x, y, 1, 300, 1), MODL_EINVALID);
	assert_non_null(strstr(modl_error_message(), "Q4_K"));
	assert_int_equal(quant_rows(QUANT_Q6_K, x, y, 2, 96, 1), MODL_EINVALID);
	assert_int_equal(quant_rows(QUANT_Q8_0, x, y, 1, 48, 1), MODL_EINVALID);
	assert_int_equal(quant_row_isa(QUANT_ISA_SCALAR, QUANT_Q4_0, x, y, 33), MODL_EINVALID);
	assert_int_equal(quant_rows(9, x, y, 1, 32, 1), MODL_EINVALID);
	assert_int_equal(quant_rows(QUANT_Q8_0, x, y, -1, 32, 1), MODL_EINVALID);
	/* fits: 96 is three Q8_0 blocks; nothing at all is fine too */
	assert_int_equal(quant_rows(QUANT_Q8_0, x, y, 1, 96, 1), 0);
	assert_int_equal(quant_rows(QUANT_Q4_K, x, y, 0, 256, 4), 0);
	assert_int_equal(quant_validate_row(QUANT_Q4_K, y, 100), MODL_EINVALID);
}

/* ---- F16 / BF16 -------------------------------------------------------------------------- */

static void test_fp16_edges(void **state)
{
	(void)state;
	/* clang-format off */
	static const struct { uint32_t in; uint16_t out; } cases[] = {
		{ 0x00000000, 0x0000 }, /* +0 */
		{ 0x80000000, 0x8000 }, /* -0 */
		{ 0x3f800000, 0x3c00 }, /* 1 */
		{ 0xc0000000, 0xc000 }, /* -2 */
		{ 0x7f800000, 0x7c00 }, /* +inf */
		{ 0xff800000, 0xfc00 }, /* -inf */
		{ 0x7fc00000, 0x7e00 }, /* NaN */
		{ 0xffc00000, 0xfe00 }, /* -NaN keeps its sign */
		{ 0x7f800001, 0x7e00 }, /* signalling NaN with payload: quiet, payload dropped */
		{ 0x7fffffff, 0x7e00 },
		{ 0x477fe000, 0x7bff }, /* 65504, the largest half */
		{ 0x477fefff, 0x7bff }, /* just below the midpoint to infinity */
		{ 0x477ff000, 0x7c00 }, /* 65520: tie, rounds to even = inf */
		{ 0x33800000, 0x0001 }, /* 2^-24, smallest subnormal */
		{ 0x33000000, 0x0000 }, /* 2^-25: tie between 0 and 2^-24, even = 0 */
		{ 0x33000001, 0x0001 }, /* just above the tie */
		{ 0x33c00000, 0x0002 }, /* 3 * 2^-25: tie between 1 and 2 ulps, even = 2 */
		{ 0x38800000, 0x0400 }, /* 2^-14, smallest normal */
		{ 0x387fc000, 0x03ff }, /* largest subnormal */
		{ 0x3f801000, 0x3c00 }, /* 1 + 2^-11: tie, even = 1 */
		{ 0x3f803000, 0x3c02 }, /* 1 + 3 * 2^-11: tie, even = 1 + 2^-9 */
		{ 0x3f801001, 0x3c01 }, /* just above the tie */
		{ 0x00000001, 0x0000 }, /* float subnormal: far below half range */
	};
	/* clang-format on */
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		float f = bits_float(cases[i].in);
		if (quant_fp32_to_fp16(f) != cases[i].out)
			fail_msg("fp16(0x%08x) = 0x%04x, want 0x%04x", cases[i].in, quant_fp32_to_fp16(f),
				 cases[i].out);
	}
	/* back to F32: exact for every half, NaN stays NaN with its sign */
	assert_true(quant_fp16_to_fp32(0x0001) == 0x1.0p-24f);
	assert_true(quant_fp16_to_fp32(0x7bff) == 65504.0f);
	assert_true(isinf(quant_fp16_to_fp32(0xfc00)) && quant_fp16_to_fp32(0xfc00) < 0);
	assert_true(isnan(quant_fp16_to_fp32(0xfe00)) && signbit(quant_fp16_to_fp32(0xfe00)));
	for (uint32_t h = 0; h < 65536; h++) {
		uint16_t u = (uint16_t)h;
		if ((u & 0x7c00) == 0x7c00 && (u & 0x3ff))
			continue; /* NaN payloads are canonicalised on the way back */
		assert_int_equal(quant_fp32_to_fp16(quant_fp16_to_fp32(u)), u);
	}
}

static void test_bf16_edges(void **state)
{
	(void)state;
	/* clang-format off */
	static const struct { uint32_t in; uint16_t out; } cases[] = {
		{ 0x3f800000, 0x3f80 }, { 0x80000000, 0x8000 },
		{ 0x3f808000, 0x3f80 }, /* tie, even stays */
		{ 0x3f818000, 0x3f82 }, /* tie, odd rounds up */
		{ 0x3f808001, 0x3f81 }, /* above the tie */
		{ 0x7f7fffff, 0x7f80 }, /* FLT_MAX rounds to inf */
		{ 0x7f800000, 0x7f80 }, { 0xff800000, 0xff80 },
		{ 0x7fc00000, 0x7fc0 }, /* NaN */
		{ 0x7f800001, 0x7fc0 }, /* signalling NaN: made quiet */
		{ 0xffa12345, 0xffe1 }, /* payload's top bits kept, quiet bit set */
		{ 0x00008000, 0x0000 }, /* subnormal tie: even = 0 (no flush) */
		{ 0x00018000, 0x0002 }, /* subnormal tie, odd rounds up */
		{ 0x007fffff, 0x0080 },
	};
	/* clang-format on */
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (quant_fp32_to_bf16(bits_float(cases[i].in)) != cases[i].out)
			fail_msg("bf16(0x%08x) = 0x%04x, want 0x%04x", cases[i].in,
				 quant_fp32_to_bf16(bits_float(cases[i].in)), cases[i].out);
	assert_true(quant_bf16_to_fp32(0x3f80) == 1.0f);
	assert_true(quant_bf16_to_fp32(0x0001) == bits_float(0x00010000));
}

/* F32 -> F16 and BF16 rows of n values on every SIMD path the CPU has equal the scalar
 * path; with check_values, each value also equals the scalar one-value conversion. */
static void half_rows_match(const float *x, size_t n, int check_values)
{
	uint16_t *a = malloc(n * 2), *b = malloc(n * 2);
	assert_non_null(a);
	assert_non_null(b);
	for (size_t ii = 0; ii < sizeof(simd_isas) / sizeof(simd_isas[0]); ii++) {
		if (!quant_isa_supported(simd_isas[ii]))
			continue;
		for (int half = 0; half < 2; half++) {
			uint32_t type = half ? QUANT_BF16 : QUANT_F16;
			assert_int_equal(quant_row_isa(QUANT_ISA_SCALAR, type, x, a, (int64_t)n), 0);
			assert_int_equal(quant_row_isa(simd_isas[ii], type, x, b, (int64_t)n), 0);
			assert_memory_equal(a, b, n * 2);
			for (size_t i = 0; check_values && i < n; i++)
				assert_int_equal(a[i],
						 half ? quant_fp32_to_bf16(x[i]) : quant_fp32_to_fp16(x[i]));
		}
	}
	free(a);
	free(b);
}

/* The vectorised F16/BF16 rows against the scalar conversion on special values. */
static void test_half_rows_simd(void **state)
{
	(void)state;
	enum { N = 4096 + 7 };
	float *x = alloc_floats(N);
	rng = 5;
	for (int i = 0; i < N; i++) {
		uint32_t r = (uint32_t)next();
		switch (i % 4) {
		case 0: x[i] = bits_float(r); break;                             /* anything, NaNs included */
		case 1: x[i] = bits_float((r & 0x807fffff) | 0x33000000); break; /* half subnormal range */
		case 2: x[i] = bits_float((r & 0x80001fff) | 0x3f800000 | ((r & 1) << 12)); break;
		default: x[i] = bits_float((r & 0x8000ffff) | 0x477f0000); break; /* near 65504 */
		}
	}
	half_rows_match(x, N, 1);
	free(x);
}

/* F32 -> F16 and BF16 rows (convert --type F16/BF16) on every path against the scalar
 * conversion: every sign, exponent and top 7 mantissa bits, each with low 16 bits that
 * sit on, just below and just above the rounding ties of normal and subnormal halves. */
static void test_half_rows_sweep(void **state)
{
	(void)state;
	static const uint16_t lows[] = { 0x0000, 0x0001, 0x0fff, 0x1000, 0x1001, 0x1fff, 0x2000,
					 0x3000, 0x4000, 0x7fff, 0x8000, 0x8001, 0xc000, 0xffff };
	enum { NL = sizeof(lows) / sizeof(lows[0]), N = 65536 * NL };
	float *x = alloc_floats(N);
	for (uint32_t i = 0; i < N; i++)
		x[i] = bits_float((i / NL) << 16 | lows[i % NL]);
	half_rows_match(x, N, 0);
	free(x);
}

/* What the scalar F16 -> F32 conversion gives: the exact value, and for a NaN the same
 * sign and payload made quiet (ggml's multiply by 2^-112 quiets it). */
static uint32_t fp16_expected_bits(uint16_t h)
{
	uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
	if (exp == 0x1f)
		return sign | 0x7f800000 | mant << 13 | (mant ? 0x00400000 : 0);
	union {
		float f;
		uint32_t u;
	} v = { .f = ldexpf((float)(exp ? (mant | 0x400) : mant), (int)(exp ? exp : 1) - 25) };
	return sign | v.u;
}

/* F16 and BF16 rows to F32 on every path: all 65,536 bit patterns of each, at an odd
 * address too (safetensors data need not be aligned), and every short length (the
 * vector tails), bit for bit against the scalar conversion; nothing written past n. */
static void test_half_to_f32_all_patterns(void **state)
{
	(void)state;
	enum { N = 65536, TAIL = 70 };
	unsigned char *in = malloc(2 * N + 1);
	float *want = alloc_floats(N), *got = alloc_floats(N + 1);
	assert_non_null(in);
	for (int half = 0; half < 2; half++) {
		uint32_t type = half ? QUANT_BF16 : QUANT_F16;
		for (int misalign = 0; misalign < 2; misalign++) {
			unsigned char *p = in + misalign;
			for (uint32_t h = 0; h < N; h++) {
				uint16_t u = (uint16_t)(h * 40503u); /* every pattern once, shuffled */
				memcpy(p + 2 * h, &u, 2);
			}
			assert_int_equal(dequant_row_isa(QUANT_ISA_SCALAR, type, p, want, N), 0);
			for (uint32_t h = 0; h < N; h++) {
				uint16_t u;
				memcpy(&u, p + 2 * h, 2);
				uint32_t bits, expect = half ? (uint32_t)u << 16 : fp16_expected_bits(u);
				memcpy(&bits, &want[h], 4);
				if (bits != expect)
					fail_msg("scalar %s 0x%04x -> 0x%08x, want 0x%08x",
						 quant_type_name(type), u, bits, expect);
			}
			for (int isa = QUANT_ISA_AVX2; isa <= QUANT_ISA_NEON; isa++) {
				if (!quant_isa_supported((enum quant_isa)isa))
					continue;
				assert_int_equal(dequant_row_isa((enum quant_isa)isa, type, p, got, N), 0);
				assert_memory_equal(got, want, N * sizeof(float));
				for (int n = 0; n < TAIL; n++) {
					int first = (n * 977) % (N - TAIL);
					got[n] = 12345.0f;
					assert_int_equal(dequant_row_isa((enum quant_isa)isa, type,
									 p + 2 * first, got, n),
							 0);
					assert_memory_equal(got, want + first, (size_t)n * sizeof(float));
					assert_true(got[n] == 12345.0f);
				}
			}
		}
	}
	assert_int_equal(dequant_row_isa(QUANT_ISA_SCALAR, 99, in, got, 1), MODL_EINVALID);
	free(in);
	free(want);
	free(got);
}

/* ---- dequantize(quantize(x)) stays close to x ------------------------------------------------ */

static void test_roundtrip_error(void **state)
{
	(void)state;
	/* root-mean-square error relative to the standard deviation of Gaussian rows; each
	 * bound is about 1.3x the value measured when the oracle tests passed */
	/* clang-format off */
	static const struct { uint32_t type; double bound; } want[] = {
		{ QUANT_F32, 0.0 },     { QUANT_F16, 0.0003 },  { QUANT_BF16, 0.0022 },
		{ QUANT_Q8_0, 0.007 },  { QUANT_Q6_K, 0.023 },  { QUANT_Q5_1, 0.049 },
		{ QUANT_Q5_0, 0.055 },  { QUANT_Q5_K, 0.047 },  { QUANT_Q4_1, 0.10 },
		{ QUANT_Q4_0, 0.11 },   { QUANT_Q4_K, 0.092 },  { QUANT_Q3_K, 0.195 },
		{ QUANT_Q2_K, 0.38 },   { QUANT_IQ4_NL, 0.099 }, { QUANT_IQ4_XS, 0.099 },
	};
	/* clang-format on */
	const int64_t n = 8192;
	float *x = alloc_floats(n), *y = alloc_floats(n);
	unsigned char *q = malloc((size_t)n * 4);
	assert_non_null(q);
	rng = 99;
	for (int64_t i = 0; i < n; i++)
		x[i] = gauss();
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		assert_int_equal(quant_rows(want[i].type, x, q, 1, n, 1), 0);
		assert_int_equal(quant_validate_row(want[i].type, q, n), 0);
		dequant_row(want[i].type, q, y, n);
		double se = 0;
		for (int64_t j = 0; j < n; j++)
			se += ((double)x[j] - y[j]) * ((double)x[j] - y[j]);
		double rmse = sqrt(se / (double)n);
		if (rmse > want[i].bound)
			fail_msg("%s: rmse %.5f above %.5f", quant_type_name(want[i].type), rmse,
				 want[i].bound);
	}
	/* legacy symmetric types: every value within one step d of the block (Q8_0: half a
	 * step plus rounding of d to fp16) */
	for (int64_t b = 0; b < n / 32; b++) {
		float amax = 0;
		for (int j = 0; j < 32; j++)
			amax = fmaxf(amax, fabsf(x[b * 32 + j]));
		assert_int_equal(quant_rows(QUANT_Q8_0, x + b * 32, q, 1, 32, 1), 0);
		dequant_row(QUANT_Q8_0, q, y, 32);
		for (int j = 0; j < 32; j++)
			assert_true(fabsf(x[b * 32 + j] - y[j]) <= amax / 127 * 0.51f + amax * 1e-3f);
		assert_int_equal(quant_rows(QUANT_Q4_0, x + b * 32, q, 1, 32, 1), 0);
		dequant_row(QUANT_Q4_0, q, y, 32);
		for (int j = 0; j < 32; j++)
			assert_true(fabsf(x[b * 32 + j] - y[j]) <= amax / 8 * 1.01f);
	}
	free(q);
	free(x);
	free(y);
}

static void test_validate(void **state)
{
	(void)state;
	unsigned char q[34] = { 0 };
	assert_int_equal(quant_validate_row(QUANT_Q8_0, q, 32), 0);
	q[1] = 0x7c; /* d = +inf */
	assert_int_equal(quant_validate_row(QUANT_Q8_0, q, 32), MODL_EINVALID);
	uint16_t h[2] = { 0x3c00, 0x7e00 };
	assert_int_equal(quant_validate_row(QUANT_F16, h, 2), MODL_EINVALID);
	assert_int_equal(quant_validate_row(QUANT_F16, h, 1), 0);
	/* a huge value: fine as F32, an infinite scale once quantized */
	float x[256];
	for (int i = 0; i < 256; i++)
		x[i] = i == 3 ? 1e30f : 0.5f;
	unsigned char k[8 * 34];
	assert_int_equal(quant_validate_row(QUANT_F32, x, 256), 0);
	assert_int_equal(quant_rows(QUANT_Q8_0, x, k, 1, 256, 1), 0);
	assert_int_equal(quant_validate_row(QUANT_Q8_0, k, 256), MODL_EINVALID);
	assert_int_equal(quant_validate_row(QUANT_Q8_0, k + 34, 224), 0);
	/* the i-quants' fp16 d leads their blocks */
	unsigned char iq[136] = { 0 };
	assert_int_equal(quant_validate_row(QUANT_IQ4_NL, iq, 32), 0);
	assert_int_equal(quant_validate_row(QUANT_IQ4_XS, iq, 256), 0);
	iq[1] = 0xfe; /* d = NaN */
	assert_int_equal(quant_validate_row(QUANT_IQ4_NL, iq, 32), MODL_EINVALID);
	assert_int_equal(quant_validate_row(QUANT_IQ4_XS, iq, 256), MODL_EINVALID);
}

/* ---- importance weights ------------------------------------------------------------------- */

/* Sum over the row of w * (x - dequantized x)². */
static double weighted_error(uint32_t type, const float *x, const float *w, const void *q, int64_t n)
{
	float *y = alloc_floats(n);
	dequant_row(type, q, y, n);
	double e = 0;
	for (int64_t i = 0; i < n; i++)
		e += w[i] * ((double)x[i] - y[i]) * ((double)x[i] - y[i]);
	free(y);
	return e;
}

static void test_weighted(void **state)
{
	(void)state;
	const int64_t n = 1024, nrows = 67;
	float *x = alloc_floats(n * nrows), *w = alloc_floats(n);
	rng = 4242;
	for (int64_t i = 0; i < n * nrows; i++)
		x[i] = gauss() * 0.02f;
	for (int64_t i = 0; i < n; i++) /* a few columns matter far more than the rest */
		w[i] = i % 37 == 0 ? 50.0f : (float)(next() % 100) * 0.01f;
	const size_t cap = (size_t)(n * nrows) * 4;
	unsigned char *plain = malloc(cap), *a = malloc(cap), *b = malloc(cap);
	assert_non_null(plain);
	assert_non_null(a);
	assert_non_null(b);
	for (size_t t = 0; t < NTYPES; t++) {
		uint32_t type = all_types[t];
		size_t bytes = quant_row_size(type, n) * (size_t)nrows, rb = quant_row_size(type, n);
		assert_int_equal(quant_rows(type, x, plain, nrows, n, 1), 0);
		/* NULL weights are exactly quant_rows */
		assert_int_equal(quant_rows_weighted(type, x, a, nrows, n, NULL, 3), 0);
		assert_memory_equal(a, plain, bytes);
		modl_error_clear();
		int rc = quant_rows_weighted(type, x, a, nrows, n, w, 1);
		if (type == QUANT_IQ4_NL || type == QUANT_IQ4_XS) {
			assert_int_equal(rc, 0);
			assert_true(quant_type_uses_weights(type));
			assert_memory_not_equal(a, plain, bytes);
			/* threads and the one-row entry point agree */
			assert_int_equal(quant_rows_weighted(type, x, b, nrows, n, w, 7), 0);
			assert_memory_equal(a, b, bytes);
			assert_int_equal(quant_row_weighted(type, x + 5 * n, b, n, w), 0);
			assert_memory_equal(b, a + 5 * rb, rb);
			/* the weights do their job: less error where they are large */
			double we = 0, pe = 0;
			for (int64_t r = 0; r < nrows; r++) {
				we += weighted_error(type, x + r * n, w, a + (size_t)r * rb, n);
				pe += weighted_error(type, x + r * n, w, plain + (size_t)r * rb, n);
			}
			if (!(we < pe * 0.97))
				fail_msg("%s: weighted error %g not below unweighted %g",
					 quant_type_name(type), we, pe);
		} else if (quant_type_uses_weights(type)) {
			/* ggml reads them, this core has no weighted kernel yet: refused, not ignored */
			assert_int_equal(rc, MODL_EINVALID);
			assert_non_null(strstr(modl_error_message(), quant_type_name(type)));
			assert_int_equal(quant_row_weighted(type, x, b, n, w), MODL_EINVALID);
		} else {
			/* F32, F16, BF16, Q8_0: ggml ignores the weights */
			assert_int_equal(rc, 0);
			assert_memory_equal(a, plain, bytes);
		}
	}
	assert_false(quant_type_uses_weights(QUANT_Q8_0));
	assert_true(quant_type_uses_weights(QUANT_Q4_K));
	assert_false(quant_type_uses_weights(99));
	free(plain);
	free(a);
	free(b);
	free(x);
	free(w);
}

/* ---- bytes worked out by hand from doc/gguf.md §5.2 ------------------------------------------- */

/* Q8_0: amax = 127 makes d = 127/127 = 1 exactly (fp16 0x3C00) and id = 1, so each byte
 * is roundf(x): halves go away from zero (2.5 -> 3, -2.5 -> -3), unlike nearest_int. */
static void test_q8_0_known_block(void **state)
{
	(void)state;
	const float x[32] = { 127,  -127,  0.5f, -0.5f, 1.5f,    2.5f,   -2.5f, 0.49f,
			      3.7f, -3.7f, 0,    -0.0f, 100.25f, -99.5f, 64,    1 };
	const int8_t qs[32] = { 127, -127, 1, -1, 2, 3, -3, 0, 4, -4, 0, 0, 100, -100, 64, 1 };
	unsigned char want[34] = { 0x00, 0x3c };
	memcpy(want + 2, qs, 32);
	for (int isa = QUANT_ISA_SCALAR; isa <= QUANT_ISA_NEON; isa++) {
		if (!quant_isa_supported((enum quant_isa)isa))
			continue;
		unsigned char got[34];
		assert_int_equal(quant_row_isa((enum quant_isa)isa, QUANT_Q8_0, x, got, 32), 0);
		assert_memory_equal(got, want, 34);
	}
	/* a zero block: d = 0, id = 0, all bytes zero */
	const float z[32] = { 0 };
	unsigned char got[34], zero[34] = { 0 };
	quant_row(QUANT_Q8_0, z, got, 32);
	assert_memory_equal(got, zero, 34);
	float back[32];
	dequant_row(QUANT_Q8_0, want, back, 32);
	assert_true(back[5] == 3.0f && back[13] == -100.0f);
}

/* Q4_0: d = max / -8 where max is the signed value of largest magnitude (the first one on
 * ties); q = MIN(15, (int8_t)(x * id + 8.5f)), a truncation; qs[j] = q[j] | q[j+16] << 4. */
static void test_q4_0_known_blocks(void **state)
{
	(void)state;
	/* block 1: max = -8 -> d = 1 (0x3C00), id = 1 */
	float x[64] = { -8, 7.6f, 0, -0.5f, 0.49f, 0.5f, -7.9f, 3.25f, -3.5f, 1, 2, 3, 4, 5, 6, 7 };
	/* q: 0, 15 (16 clamped), 8, 8, 8, 9, 0, 11, 5, 9, 10, 11, 12, 13, 14, 15; the upper 16
	 * values are 0 -> q = 8 */
	static const uint8_t q1[16] = { 0, 15, 8, 8, 8, 9, 0, 11, 5, 9, 10, 11, 12, 13, 14, 15 };
	/* block 2: 4 comes before -4, so max = 4 -> d = -0.5 (0xB800), id = -2:
	 * 4 -> 0.5 -> 0; -4 -> 16.5 -> 15; 1 -> 6.5 -> 6; -1 -> 10.5 -> 10; 0 -> 8 */
	x[32] = 4;
	x[33] = -4;
	x[34] = 1;
	x[35] = -1;
	x[48] = -4; /* pairs with x[32] in byte 0 */
	unsigned char want[36] = { 0x00, 0x3c };
	for (int j = 0; j < 16; j++)
		want[2 + j] = (uint8_t)(q1[j] | 8 << 4);
	want[18] = 0x00;
	want[19] = 0xb8;
	static const uint8_t q2lo[16] = { 0, 15, 6, 10, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8 };
	for (int j = 0; j < 16; j++)
		want[20 + j] = (uint8_t)(q2lo[j] | (j == 0 ? 15 : 8) << 4);
	for (int isa = QUANT_ISA_SCALAR; isa <= QUANT_ISA_NEON; isa++) {
		if (!quant_isa_supported((enum quant_isa)isa))
			continue;
		unsigned char got[36];
		assert_int_equal(quant_row_isa((enum quant_isa)isa, QUANT_Q4_0, x, got, 64), 0);
		assert_memory_equal(got, want, 36);
	}
	/* all zeros: max stays +0, d = 0 / -8 = -0 (fp16 0x8000), every q = 8 */
	const float z[32] = { 0 };
	unsigned char got[18];
	quant_row(QUANT_Q4_0, z, got, 32);
	assert_int_equal(got[0], 0x00);
	assert_int_equal(got[1], 0x80);
	for (int j = 2; j < 18; j++)
		assert_int_equal(got[j], 0x88);
	float back[64];
	dequant_row(QUANT_Q4_0, want, back, 64);
	assert_true(back[0] == -8.0f && back[1] == 7.0f && back[32] == 4.0f && back[33] == -3.5f);
}

/* IQ4_NL: a block that is exactly the 16 levels twice fits them at scale 1 (the trial
 * that maps the largest magnitude, -127, onto level 0), so d = 1 (0x3C00) and byte j holds
 * level j twice; zeros give d = 0 and the level nearest 0, 1 (index 8). IQ4_XS: eight such
 * blocks give d = -1/32 (0xA800) and block codes -32 (stored 0), so d * -32 = 1 again. */
static void test_iq4_known_blocks(void **state)
{
	(void)state;
	static const int8_t levels[16] = { -127, -104, -83, -65, -49, -35, -22, -10,
					   1,    13,   25,  38,  53,  69,  89,  113 };
	float x[256], back[256];
	for (int j = 0; j < 256; j++)
		x[j] = levels[j % 16];
	unsigned char nl[18], xs[136];
	assert_int_equal(quant_row_weighted(QUANT_IQ4_NL, x, nl, 32, NULL), 0);
	assert_int_equal(nl[0], 0x00);
	assert_int_equal(nl[1], 0x3c);
	for (int j = 0; j < 16; j++)
		assert_int_equal(nl[2 + j], j | j << 4);
	dequant_row(QUANT_IQ4_NL, nl, back, 32);
	assert_memory_equal(back, x, sizeof(float) * 32);
	quant_row(QUANT_IQ4_XS, x, xs, 256);
	assert_int_equal(xs[0], 0x00);
	assert_int_equal(xs[1], 0xa8);
	for (int j = 2; j < 8; j++)
		assert_int_equal(xs[j], 0); /* scales_h, scales_l */
	for (int j = 0; j < 128; j++)
		assert_int_equal(xs[8 + j], (j % 16) | (j % 16) << 4);
	dequant_row(QUANT_IQ4_XS, xs, back, 256);
	assert_memory_equal(back, x, sizeof(float) * 256);
	const float z[32] = { 0 };
	quant_row(QUANT_IQ4_NL, z, nl, 32);
	assert_int_equal(nl[0] | nl[1], 0);
	for (int j = 2; j < 18; j++)
		assert_int_equal(nl[j], 0x88);
}

int main(void)
{
	/* clang-format off */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_type_table),
		cmocka_unit_test(test_simd_equals_scalar),
		cmocka_unit_test(test_isa_selection),
		cmocka_unit_test(test_threads_identical),
		cmocka_unit_test(test_bad_row_length),
		cmocka_unit_test(test_fp16_edges),
		cmocka_unit_test(test_bf16_edges),
		cmocka_unit_test(test_half_rows_simd),
		cmocka_unit_test(test_half_rows_sweep),
		cmocka_unit_test(test_half_to_f32_all_patterns),
		cmocka_unit_test(test_roundtrip_error),
		cmocka_unit_test(test_validate),
		cmocka_unit_test(test_q8_0_known_block),
		cmocka_unit_test(test_q4_0_known_blocks),
		cmocka_unit_test(test_weighted),
		cmocka_unit_test(test_iq4_known_blocks),
	};
	/* clang-format on */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
