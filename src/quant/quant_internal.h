/* Shared by the quantizer files only: ggml's block layouts (doc/gguf.md §5.2, §5.4), the
 * bit-exact scalar primitives every path uses, and the per-instruction-set tables.
 *
 * Bit-exactness rules that every file under src/quant/ follows (breaking one changes
 * rare bytes, which only the oracle tests would catch):
 *  - float expressions are written in ggml's order, left to right, one IEEE operation
 *    at a time; no FMA contraction (ISO C mode makes gcc default to -ffp-contract=off,
 *    clang is told by the pragma below, and no file enables the FMA instruction set);
 *  - nearest_int is ggml's magic-number trick, reproduced bit for bit even for values
 *    out of its range;
 *  - float-to-integer casts that C leaves undefined (NaN, out of range) behave as the
 *    x86-64 reference does: cvttss2si gives INT32_MIN and the low byte is kept. */
#ifndef MODL_QUANT_INTERNAL_H
#define MODL_QUANT_INTERNAL_H

#include <stdint.h>
#include <string.h>

#include "quant.h"

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

#define QK4_0 32
#define QK8_0 32
#define QK_K 256
#define GROUP_MAX_EPS 1e-15f

typedef struct {
	uint16_t d;
	uint8_t qs[16];
} block_q4_0;
typedef struct {
	uint16_t d, m;
	uint8_t qs[16];
} block_q4_1;
typedef struct {
	uint16_t d;
	uint8_t qh[4];
	uint8_t qs[16];
} block_q5_0;
typedef struct {
	uint16_t d, m;
	uint8_t qh[4];
	uint8_t qs[16];
} block_q5_1;
typedef struct {
	uint16_t d;
	int8_t qs[32];
} block_q8_0;
typedef struct {
	uint8_t scales[16];
	uint8_t qs[64];
	uint16_t d, dmin;
} block_q2_K;
typedef struct {
	uint8_t hmask[32];
	uint8_t qs[64];
	uint8_t scales[12];
	uint16_t d;
} block_q3_K;
typedef struct {
	uint16_t d, dmin;
	uint8_t scales[12];
	uint8_t qs[128];
} block_q4_K;
typedef struct {
	uint16_t d, dmin;
	uint8_t scales[12];
	uint8_t qh[32];
	uint8_t qs[128];
} block_q5_K;
typedef struct {
	uint8_t ql[128];
	uint8_t qh[64];
	int8_t scales[16];
	uint16_t d;
} block_q6_K;
typedef struct {
	uint16_t d;
	uint8_t qs[16];
} block_iq4_nl;
typedef struct {
	uint16_t d;
	uint16_t scales_h;
	uint8_t scales_l[4];
	uint8_t qs[128];
} block_iq4_xs;

_Static_assert(sizeof(block_q4_0) == 18, "block_q4_0");
_Static_assert(sizeof(block_q4_1) == 20, "block_q4_1");
_Static_assert(sizeof(block_q5_0) == 22, "block_q5_0");
_Static_assert(sizeof(block_q5_1) == 24, "block_q5_1");
_Static_assert(sizeof(block_q8_0) == 34, "block_q8_0");
_Static_assert(sizeof(block_q2_K) == 84, "block_q2_K");
_Static_assert(sizeof(block_q3_K) == 110, "block_q3_K");
_Static_assert(sizeof(block_q4_K) == 144, "block_q4_K");
_Static_assert(sizeof(block_q5_K) == 176, "block_q5_K");
_Static_assert(sizeof(block_q6_K) == 210, "block_q6_K");
_Static_assert(sizeof(block_iq4_nl) == 18, "block_iq4_nl");
_Static_assert(sizeof(block_iq4_xs) == 136, "block_iq4_xs");

/* The 16 levels of IQ4_NL and IQ4_XS (ggml's kvalues_iq4nl), ascending. */
extern const int8_t quant_iq4_levels[16];

static inline uint32_t quant_bits(float f)
{
	uint32_t u;
	memcpy(&u, &f, sizeof(u));
	return u;
}

static inline float quant_float(uint32_t u)
{
	float f;
	memcpy(&f, &u, sizeof(f));
	return f;
}

/* ggml's nearest_int: round half to even for |f| <= 4194303, bit garbage (but always the
 * same garbage) outside. */
static inline int nearest_int(float f)
{
	float v = f + 12582912.f;
	return (int)(quant_bits(v) & 0x007fffff) - 0x00400000;
}

/* (int32_t)f as x86-64 computes it (cvttss2si), without C's undefined behaviour. */
static inline int32_t quant_trunc_i32(float f)
{
	if (f >= -2147483648.0f && f < 2147483648.0f)
		return (int32_t)f;
	return INT32_MIN;
}

/* (int8_t)f and (uint8_t)f as the reference compiles them: truncate to 32 bits, keep the
 * low byte. */
static inline int8_t quant_trunc_i8(float f)
{
	return (int8_t)(uint8_t)((uint32_t)quant_trunc_i32(f) & 0xff);
}

static inline uint8_t quant_trunc_u8(float f)
{
	return (uint8_t)((uint32_t)quant_trunc_i32(f) & 0xff);
}

/* Same float ops as quant_fp32_to_fp16 in quant.c, inlined for the hot paths. */
static inline uint16_t quant_fp16(float f)
{
	const float scale_to_inf = 0x1.0p+112f;
	const float scale_to_zero = 0x1.0p-110f;
	float base = (__builtin_fabsf(f) * scale_to_inf) * scale_to_zero;
	const uint32_t w = quant_bits(f);
	const uint32_t shl1_w = w + w;
	const uint32_t sign = w & UINT32_C(0x80000000);
	uint32_t bias = shl1_w & UINT32_C(0xFF000000);
	if (bias < UINT32_C(0x71000000))
		bias = UINT32_C(0x71000000);
	base = quant_float((bias >> 1) + UINT32_C(0x07800000)) + base;
	const uint32_t bits = quant_bits(base);
	const uint32_t exp_bits = (bits >> 13) & UINT32_C(0x00007C00);
	const uint32_t mantissa_bits = bits & UINT32_C(0x00000FFF);
	const uint32_t nonsign = exp_bits + mantissa_bits;
	return (uint16_t)((sign >> 16) | (shl1_w > UINT32_C(0xFF000000) ? UINT16_C(0x7E00) : nonsign));
}

/* A 16-bit value at any alignment (safetensors data need not be aligned). */
static inline uint16_t quant_load16(const void *p)
{
	uint16_t v;
	memcpy(&v, p, sizeof(v));
	return v;
}

static inline float quant_fp32(uint16_t h)
{
	const uint32_t w = (uint32_t)h << 16;
	const uint32_t sign = w & UINT32_C(0x80000000);
	const uint32_t two_w = w + w;
	const uint32_t exp_offset = UINT32_C(0xE0) << 23;
	const float exp_scale = 0x1.0p-112f;
	const float normalized_value = quant_float((two_w >> 4) + exp_offset) * exp_scale;
	const uint32_t magic_mask = UINT32_C(126) << 23;
	const float magic_bias = 0.5f;
	const float denormalized_value = quant_float((two_w >> 17) | magic_mask) - magic_bias;
	const uint32_t denormalized_cutoff = UINT32_C(1) << 27;
	const uint32_t result = sign | (two_w < denormalized_cutoff ? quant_bits(denormalized_value)
								    : quant_bits(normalized_value));
	return quant_float(result);
}

/* 1 when every one of the n values is finite. The SIMD paths hand blocks with NaN or Inf
 * to the scalar reference: NaN payloads and signs then propagate exactly as there. */
static inline int quant_all_finite(const float *x, int n)
{
	uint32_t bad = 0;
	for (int i = 0; i < n; i++)
		bad |= (uint32_t)((quant_bits(x[i]) & 0x7f800000u) == 0x7f800000u);
	return !bad;
}

/* ---- scalar reference: one row of blocks (quant_ref.c) ---------------------------------- */
typedef void (*quant_row_fn)(const float *x, void *y, int64_t n);

void quant_ref_q4_0(const float *x, void *y, int64_t n);
void quant_ref_q4_1(const float *x, void *y, int64_t n);
void quant_ref_q5_0(const float *x, void *y, int64_t n);
void quant_ref_q5_1(const float *x, void *y, int64_t n);
void quant_ref_q8_0(const float *x, void *y, int64_t n);
void quant_ref_q2_K(const float *x, void *y, int64_t n);
void quant_ref_q3_K(const float *x, void *y, int64_t n);
void quant_ref_q4_K(const float *x, void *y, int64_t n);
void quant_ref_q5_K(const float *x, void *y, int64_t n);
void quant_ref_q6_K(const float *x, void *y, int64_t n);
void quant_ref_f16(const float *x, void *y, int64_t n);
void quant_ref_bf16(const float *x, void *y, int64_t n);

/* Quantizers that take llama.cpp's importance weights: qw holds one weight per value of
 * the row (the imatrix entry of its tensor), or is NULL for the unweighted result. */
typedef void (*quant_wrow_fn)(const float *x, void *y, int64_t n, const float *qw);

void quant_ref_iq4_nl(const float *x, void *y, int64_t n, const float *qw); /* quant_iq4.c */
void quant_ref_iq4_xs(const float *x, void *y, int64_t n, const float *qw);

/* The super-block steps of each K-quant reference, shared with the SIMD paths. From the
 * per-sub-block search results (scales, mins), quant_scales_* writes the block's scale
 * fields (6-bit/4-bit/8-bit codes, fp16 d and dmin) and returns per sub-block the float
 * scale d[j] and offset dm[j] of the requantization, computed from the rounded codes;
 * d[j] == 0 means the sub-block keeps its search levels. quant_scales_q6_K returns 0
 * when the whole block was zero-filled (no requantization or packing then).
 * quant_pack_* packs the 256 final levels (already offset to be non-negative). */
void quant_scales_q2_K(const float *scales, const float *mins, block_q2_K *y, float *d, float *dm);
void quant_scales_q3_K(const float *scales, block_q3_K *y, float *d);
void quant_scales_q4_K(const float *scales, const float *mins, block_q4_K *y, float *d, float *dm);
void quant_scales_q5_K(const float *scales, const float *mins, block_q5_K *y, float *d, float *dm);
int quant_scales_q6_K(const float *scales, block_q6_K *y, float *d);
void quant_pack_q2_K(const uint8_t *L, block_q2_K *y);
void quant_pack_q3_K(uint8_t *L, block_q3_K *y); /* modifies L */
void quant_pack_q4_K(const uint8_t *L, block_q4_K *y);
void quant_pack_q5_K(const uint8_t *L, block_q5_K *y);
void quant_pack_q6_K(const uint8_t *L, block_q6_K *y);

/* ---- vectorised paths ----------------------------------------------------------------- */
/* Per type id (0..QUANT_TYPE_SLOTS-1), NULL where the path has no kernel of its own (the
 * scalar reference is used). */
#define QUANT_TYPE_SLOTS 31
typedef void (*dequant_row_fn)(const void *x, float *y, int64_t n);
struct quant_kernels {
	quant_row_fn row[QUANT_TYPE_SLOTS];
	dequant_row_fn to_f32[QUANT_TYPE_SLOTS]; /* F16 and BF16 rows to F32 */
};

/* Each returns NULL when the build has no such path. */
const struct quant_kernels *quant_kernels_avx2(void);
const struct quant_kernels *quant_kernels_avx512(void);
const struct quant_kernels *quant_kernels_neon(void);
/* The table of an explicit path; NULL for SCALAR, AUTO and paths this build lacks. */
const struct quant_kernels *quant_isa_kernels(enum quant_isa isa);

#endif
