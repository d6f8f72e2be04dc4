/* The AVX-512 quantizers: the vector layer of quant_simd.h on 16 lanes of zmm registers,
 * compiled for AVX512F through function attributes (the library itself stays baseline
 * x86-64) and chosen at run time from the CPU flags. The FMA instructions are never
 * asked for: contraction is off (ISO C mode, clang pragma), so that every product and
 * sum is rounded on its own, as in the reference. */
#include "quant_internal.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#define VL 16
#define S(name) avx512_##name
#define V_TARGET __attribute__((target("avx512f")))
#define VI static inline __attribute__((always_inline)) V_TARGET
#define VK static V_TARGET

typedef __m512 vf;
typedef __m512i vi;
typedef __mmask16 vm;

/* clang-format off */
VI vf vf_load(const float *p) { return _mm512_loadu_ps(p); }
VI void vf_store(float *p, vf v) { _mm512_storeu_ps(p, v); }
VI vf vf_set1(float f) { return _mm512_set1_ps(f); }
VI vf vf_zero(void) { return _mm512_setzero_ps(); }
VI vf vf_add(vf a, vf b) { return _mm512_add_ps(a, b); }
VI vf vf_sub(vf a, vf b) { return _mm512_sub_ps(a, b); }
VI vf vf_mul(vf a, vf b) { return _mm512_mul_ps(a, b); }
VI vf vf_div(vf a, vf b) { return _mm512_div_ps(a, b); }
VI vf vf_sqrt(vf a) { return _mm512_sqrt_ps(a); }
VI vi vi_bits(vf a) { return _mm512_castps_si512(a); }
VI vf vf_from_bits(vi a) { return _mm512_castsi512_ps(a); }
VI vf vf_abs(vf a) { return vf_from_bits(_mm512_and_si512(vi_bits(a), _mm512_set1_epi32(0x7fffffff))); }
/* clang-format on */
/* a < b ? a : b and a > b ? a : b, exactly (x86 MINPS/MAXPS). */
/* clang-format off */
VI vf vf_min_c(vf a, vf b) { return _mm512_min_ps(a, b); }
VI vf vf_max_c(vf a, vf b) { return _mm512_max_ps(a, b); }
VI float vf_hmax(vf a) { return _mm512_reduce_max_ps(a); }
VI float vf_hmin(vf a) { return _mm512_reduce_min_ps(a); }
VI vm vf_eq(vf a, vf b) { return _mm512_cmp_ps_mask(a, b, _CMP_EQ_OQ); }
VI vm vf_lt(vf a, vf b) { return _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ); }
VI vm vf_gt(vf a, vf b) { return _mm512_cmp_ps_mask(a, b, _CMP_GT_OQ); }
VI vf vf_blend(vm m, vf t, vf f) { return _mm512_mask_blend_ps(m, f, t); }
VI vf vi_to_vf(vi a) { return _mm512_cvtepi32_ps(a); }
VI vi vf_to_vi(vf a) { return _mm512_cvttps_epi32(a); }
/* clang-format on */
/* cvttps2dq: INT32_MIN for NaN and out of range, as the reference's scalar casts. */
VI vi vi_trunc(vf a)
{
	return _mm512_cvttps_epi32(a);
}

/* Integer-valued result of roundf(a) (half away from zero), for a conversion to int. */
VI vf vf_round_away(vf a)
{
	vf t = _mm512_roundscale_ps(a, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
	vm up = _mm512_cmp_ps_mask(vf_abs(vf_sub(a, t)), vf_set1(0.5f), _CMP_GE_OQ);
	vf one = vf_from_bits(
		_mm512_or_si512(vi_bits(vf_set1(1.0f)),
				_mm512_and_si512(vi_bits(a), _mm512_set1_epi32((int32_t)0x80000000))));
	return vf_blend(up, vf_add(t, one), t);
}

/* clang-format off */
VI vi vi_set1(int32_t v) { return _mm512_set1_epi32(v); }
VI vi vi_zero(void) { return _mm512_setzero_si512(); }
VI vi vi_load(const int32_t *p) { return _mm512_loadu_si512(p); }
VI void vi_store(int32_t *p, vi v) { _mm512_storeu_si512(p, v); }
VI vi vi_add(vi a, vi b) { return _mm512_add_epi32(a, b); }
VI vi vi_sub(vi a, vi b) { return _mm512_sub_epi32(a, b); }
VI vi vi_and(vi a, vi b) { return _mm512_and_si512(a, b); }
VI vi vi_or(vi a, vi b) { return _mm512_or_si512(a, b); }
VI vi vi_xor(vi a, vi b) { return _mm512_xor_si512(a, b); }
VI vi vi_min(vi a, vi b) { return _mm512_min_epi32(a, b); }
VI vi vi_max(vi a, vi b) { return _mm512_max_epi32(a, b); }
VI vi vi_shl4(vi a) { return _mm512_slli_epi32(a, 4); }
VI vi vi_shl24(vi a) { return _mm512_slli_epi32(a, 24); }
VI vi vi_shl16(vi a) { return _mm512_slli_epi32(a, 16); }
VI vi vi_srai24(vi a) { return _mm512_srai_epi32(a, 24); }
VI vi vi_srl16(vi a) { return _mm512_srli_epi32(a, 16); }
VI vm vi_eq(vi a, vi b) { return _mm512_cmpeq_epi32_mask(a, b); }
VI vm vi_ne(vi a, vi b) { return _mm512_cmpneq_epi32_mask(a, b); }
VI vm vi_gt(vi a, vi b) { return _mm512_cmpgt_epi32_mask(a, b); }
VI vi vi_blend(vm m, vi t, vi f) { return _mm512_mask_blend_epi32(m, f, t); }
/* clang-format on */
/* The low byte / low 16 bits of each lane, stored contiguously. */
VI void vi_store_u8(uint8_t *p, vi v)
{
	_mm_storeu_si128((__m128i *)p, _mm512_cvtepi32_epi8(v));
}
/* VL 16-bit values at any alignment, zero-extended to the lanes / widened from half. */
VI vi vi_load_u16(const void *p)
{
	return _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)p));
}
VI vf vf_load_fp16(const void *p)
{
	return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p));
}
VI void vi_store_u16(uint16_t *p, vi v)
{
	_mm256_storeu_si256((__m256i *)p, _mm512_cvtepi32_epi16(v));
}

/* clang-format off */
VI vm vm_none(void) { return 0; }
VI vm vm_and(vm a, vm b) { return (vm)(a & b); }
VI vm vm_or(vm a, vm b) { return (vm)(a | b); }
VI int vm_any(vm m) { return m != 0; }
VI uint32_t vm_bits(vm m) { return (uint32_t)m; }
/* clang-format on */

/* F16C rounding is IEEE round-to-nearest-even like ggml's software conversion; only NaN
 * differs (ggml writes 0x7E00 with the sign, whatever the payload). */
VI void vf_store_fp16(uint16_t *p, vf v)
{
	vi h = _mm512_cvtepu16_epi32(_mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
	vi nan = vi_or(vi_srl16(vi_and(vi_bits(v), vi_set1((int32_t)0x80000000))), vi_set1(0x7E00));
	vi_store_u16(p, vi_blend(_mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q), nan, h));
}

#include "quant_simd.h"

const struct quant_kernels *quant_kernels_avx512(void)
{
	__builtin_cpu_init();
	if (__builtin_cpu_supports("avx512f"))
		return &S(kernels);
	return NULL;
}

#else

const struct quant_kernels *quant_kernels_avx512(void)
{
	return NULL;
}

#endif
