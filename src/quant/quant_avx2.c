/* The AVX2 quantizers: the vector layer of quant_simd.h on 8 lanes of ymm registers,
 * compiled for AVX2 and F16C through function attributes (not FMA: every product and sum
 * is rounded on its own, as in the reference) and chosen at run time from the CPU flags. */
#include "quant_internal.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#include <immintrin.h>

#define VL 8
#define S(name) avx2_##name
#define V_TARGET __attribute__((target("avx2,f16c")))
#define VI static inline __attribute__((always_inline)) V_TARGET
#define VK static V_TARGET

typedef __m256 vf;
typedef __m256i vi;
typedef __m256i vm; /* all-ones / all-zeros lanes */

/* clang-format off */
VI vf vf_load(const float *p) { return _mm256_loadu_ps(p); }
VI void vf_store(float *p, vf v) { _mm256_storeu_ps(p, v); }
VI vf vf_set1(float f) { return _mm256_set1_ps(f); }
VI vf vf_zero(void) { return _mm256_setzero_ps(); }
VI vf vf_add(vf a, vf b) { return _mm256_add_ps(a, b); }
VI vf vf_sub(vf a, vf b) { return _mm256_sub_ps(a, b); }
VI vf vf_mul(vf a, vf b) { return _mm256_mul_ps(a, b); }
VI vf vf_div(vf a, vf b) { return _mm256_div_ps(a, b); }
VI vf vf_sqrt(vf a) { return _mm256_sqrt_ps(a); }
VI vi vi_bits(vf a) { return _mm256_castps_si256(a); }
VI vf vf_from_bits(vi a) { return _mm256_castsi256_ps(a); }
VI vf vf_abs(vf a) { return vf_from_bits(_mm256_and_si256(vi_bits(a), _mm256_set1_epi32(0x7fffffff))); }
/* clang-format on */
/* a < b ? a : b and a > b ? a : b, exactly (x86 MINPS/MAXPS). */
VI vf vf_min_c(vf a, vf b)
{
	return _mm256_min_ps(a, b);
}
VI vf vf_max_c(vf a, vf b)
{
	return _mm256_max_ps(a, b);
}
VI float vf_hmax(vf a)
{
	__m128 m = _mm_max_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
	m = _mm_max_ps(m, _mm_movehl_ps(m, m));
	m = _mm_max_ss(m, _mm_shuffle_ps(m, m, 1));
	return _mm_cvtss_f32(m);
}
VI float vf_hmin(vf a)
{
	__m128 m = _mm_min_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
	m = _mm_min_ps(m, _mm_movehl_ps(m, m));
	m = _mm_min_ss(m, _mm_shuffle_ps(m, m, 1));
	return _mm_cvtss_f32(m);
}
/* clang-format off */
VI vm vf_eq(vf a, vf b) { return vi_bits(_mm256_cmp_ps(a, b, _CMP_EQ_OQ)); }
VI vm vf_lt(vf a, vf b) { return vi_bits(_mm256_cmp_ps(a, b, _CMP_LT_OQ)); }
VI vm vf_gt(vf a, vf b) { return vi_bits(_mm256_cmp_ps(a, b, _CMP_GT_OQ)); }
VI vf vf_blend(vm m, vf t, vf f) { return _mm256_blendv_ps(f, t, vf_from_bits(m)); }
VI vf vi_to_vf(vi a) { return _mm256_cvtepi32_ps(a); }
VI vi vf_to_vi(vf a) { return _mm256_cvttps_epi32(a); }
/* clang-format on */
/* cvttps2dq: INT32_MIN for NaN and out of range, as the reference's scalar casts. */
VI vi vi_trunc(vf a)
{
	return _mm256_cvttps_epi32(a);
}

/* Integer-valued result of roundf(a) (half away from zero), for a conversion to int. */
VI vf vf_round_away(vf a)
{
	vf t = _mm256_round_ps(a, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
	vm up = vi_bits(_mm256_cmp_ps(vf_abs(vf_sub(a, t)), vf_set1(0.5f), _CMP_GE_OQ));
	vf one = vf_from_bits(
		_mm256_or_si256(vi_bits(vf_set1(1.0f)),
				_mm256_and_si256(vi_bits(a), _mm256_set1_epi32((int32_t)0x80000000))));
	return vf_blend(up, vf_add(t, one), t);
}

/* clang-format off */
VI vi vi_set1(int32_t v) { return _mm256_set1_epi32(v); }
VI vi vi_zero(void) { return _mm256_setzero_si256(); }
VI vi vi_load(const int32_t *p) { return _mm256_loadu_si256((const __m256i *)p); }
VI void vi_store(int32_t *p, vi v) { _mm256_storeu_si256((__m256i *)p, v); }
VI vi vi_add(vi a, vi b) { return _mm256_add_epi32(a, b); }
VI vi vi_sub(vi a, vi b) { return _mm256_sub_epi32(a, b); }
VI vi vi_and(vi a, vi b) { return _mm256_and_si256(a, b); }
VI vi vi_or(vi a, vi b) { return _mm256_or_si256(a, b); }
VI vi vi_xor(vi a, vi b) { return _mm256_xor_si256(a, b); }
VI vi vi_min(vi a, vi b) { return _mm256_min_epi32(a, b); }
VI vi vi_max(vi a, vi b) { return _mm256_max_epi32(a, b); }
VI vi vi_shl4(vi a) { return _mm256_slli_epi32(a, 4); }
VI vi vi_shl24(vi a) { return _mm256_slli_epi32(a, 24); }
VI vi vi_shl16(vi a) { return _mm256_slli_epi32(a, 16); }
VI vi vi_srai24(vi a) { return _mm256_srai_epi32(a, 24); }
VI vi vi_srl16(vi a) { return _mm256_srli_epi32(a, 16); }
VI vm vi_eq(vi a, vi b) { return _mm256_cmpeq_epi32(a, b); }
VI vm vi_ne(vi a, vi b) { return _mm256_xor_si256(_mm256_cmpeq_epi32(a, b), _mm256_set1_epi32(-1)); }
VI vm vi_gt(vi a, vi b) { return _mm256_cmpgt_epi32(a, b); }
VI vi vi_blend(vm m, vi t, vi f) { return _mm256_blendv_epi8(f, t, m); }
/* clang-format on */
/* The low byte / low 16 bits of each lane, stored contiguously. */
VI void vi_store_u8(uint8_t *p, vi v)
{
	const vi pick = _mm256_setr_epi8(0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 0, 4, 8,
					 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1);
	vi b = _mm256_permutevar8x32_epi32(_mm256_shuffle_epi8(v, pick),
					   _mm256_setr_epi32(0, 4, 1, 1, 1, 1, 1, 1));
	_mm_storel_epi64((__m128i *)p, _mm256_castsi256_si128(b));
}
/* VL 16-bit values at any alignment, zero-extended to the lanes / widened from half. */
VI vi vi_load_u16(const void *p)
{
	return _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p));
}
VI vf vf_load_fp16(const void *p)
{
	return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
}
VI void vi_store_u16(uint16_t *p, vi v)
{
	const vi pick = _mm256_setr_epi8(0, 1, 4, 5, 8, 9, 12, 13, -1, -1, -1, -1, -1, -1, -1, -1, 0, 1, 4, 5,
					 8, 9, 12, 13, -1, -1, -1, -1, -1, -1, -1, -1);
	vi b = _mm256_permute4x64_epi64(_mm256_shuffle_epi8(v, pick), 0x08);
	_mm_storeu_si128((__m128i *)p, _mm256_castsi256_si128(b));
}

/* clang-format off */
VI vm vm_none(void) { return _mm256_setzero_si256(); }
VI vm vm_and(vm a, vm b) { return _mm256_and_si256(a, b); }
VI vm vm_or(vm a, vm b) { return _mm256_or_si256(a, b); }
VI int vm_any(vm m) { return !_mm256_testz_si256(m, m); }
VI uint32_t vm_bits(vm m) { return (uint32_t)_mm256_movemask_ps(vf_from_bits(m)); }
/* clang-format on */

/* F16C rounding is IEEE round-to-nearest-even like ggml's software conversion; only NaN
 * differs (ggml writes 0x7E00 with the sign, whatever the payload). */
VI void vf_store_fp16(uint16_t *p, vf v)
{
	vi h = _mm256_cvtepu16_epi32(_mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
	vi nan = vi_or(vi_srl16(vi_and(vi_bits(v), vi_set1((int32_t)0x80000000))), vi_set1(0x7E00));
	vi_store_u16(p, vi_blend(vi_bits(_mm256_cmp_ps(v, v, _CMP_UNORD_Q)), nan, h));
}

#include "quant_simd.h"

const struct quant_kernels *quant_kernels_avx2(void)
{
	unsigned eax, ebx, ecx, edx;
	__builtin_cpu_init();
	/* F16C: CPUID leaf 1, ECX bit 29 (clang's __builtin_cpu_supports has no "f16c"). */
	if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx) || !(ecx & (1u << 29)))
		return NULL;
	if (__builtin_cpu_supports("avx2"))
		return &S(kernels);
	return NULL;
}

#else

const struct quant_kernels *quant_kernels_avx2(void)
{
	return NULL;
}

#endif
