/* The NEON quantizers (arm64): the vector layer of quant_simd.h on 4 lanes. NEON is in
 * the arm64 baseline, so no run-time check is needed. Two differences from x86 are
 * evened out here so that the bytes stay those of the x86-64 reference: float-to-int
 * conversion saturates on arm64 (cvttss2si gives INT32_MIN instead), and the compiler
 * would fuse a*b+c into one FMA (contraction is off in ISO C mode and by the clang
 * pragma of quant_internal.h). */
#include "quant_internal.h"

#if defined(__aarch64__) && defined(__ARM_NEON)
#include <arm_neon.h>

#define VL 4
#define S(name) neon_##name
#define VI static inline __attribute__((always_inline))
#define VK static

typedef float32x4_t vf;
typedef int32x4_t vi;
typedef uint32x4_t vm;

/* clang-format off */
VI vf vf_load(const float *p) { return vld1q_f32(p); }
VI void vf_store(float *p, vf v) { vst1q_f32(p, v); }
VI vf vf_set1(float f) { return vdupq_n_f32(f); }
VI vf vf_zero(void) { return vdupq_n_f32(0.0f); }
VI vf vf_add(vf a, vf b) { return vaddq_f32(a, b); }
VI vf vf_sub(vf a, vf b) { return vsubq_f32(a, b); }
VI vf vf_mul(vf a, vf b) { return vmulq_f32(a, b); }
VI vf vf_div(vf a, vf b) { return vdivq_f32(a, b); }
VI vf vf_sqrt(vf a) { return vsqrtq_f32(a); }
VI vi vi_bits(vf a) { return vreinterpretq_s32_f32(a); }
VI vf vf_from_bits(vi a) { return vreinterpretq_f32_s32(a); }
VI vf vf_abs(vf a) { return vabsq_f32(a); }
VI vf vf_blend(vm m, vf t, vf f) { return vbslq_f32(m, t, f); }
/* clang-format on */
/* a < b ? a : b and a > b ? a : b, exactly (FMIN/FMAX differ on zeros and NaN). */
/* clang-format off */
VI vf vf_min_c(vf a, vf b) { return vbslq_f32(vcltq_f32(a, b), a, b); }
VI vf vf_max_c(vf a, vf b) { return vbslq_f32(vcgtq_f32(a, b), a, b); }
VI float vf_hmax(vf a) { return vmaxvq_f32(a); } /* finite inputs only */
VI float vf_hmin(vf a) { return vminvq_f32(a); }
VI vm vf_eq(vf a, vf b) { return vceqq_f32(a, b); }
VI vm vf_lt(vf a, vf b) { return vcltq_f32(a, b); }
VI vm vf_gt(vf a, vf b) { return vcgtq_f32(a, b); }
VI vf vi_to_vf(vi a) { return vcvtq_f32_s32(a); }
VI vi vf_to_vi(vf a) { return vcvtq_s32_f32(a); }
/* clang-format on */
/* x86 semantics: INT32_MIN for NaN and out of range (FCVTZS would saturate). */
VI vi vi_trunc(vf a)
{
	vm in = vandq_u32(vcgeq_f32(a, vdupq_n_f32(-2147483648.0f)),
			  vcltq_f32(a, vdupq_n_f32(2147483648.0f)));
	return vbslq_s32(in, vcvtq_s32_f32(a), vdupq_n_s32(INT32_MIN));
}
VI vf vf_round_away(vf a)
{
	return vrndaq_f32(a);
}

/* clang-format off */
VI vi vi_set1(int32_t v) { return vdupq_n_s32(v); }
VI vi vi_zero(void) { return vdupq_n_s32(0); }
VI vi vi_load(const int32_t *p) { return vld1q_s32(p); }
VI void vi_store(int32_t *p, vi v) { vst1q_s32(p, v); }
VI vi vi_add(vi a, vi b) { return vaddq_s32(a, b); }
VI vi vi_sub(vi a, vi b) { return vsubq_s32(a, b); }
VI vi vi_and(vi a, vi b) { return vandq_s32(a, b); }
VI vi vi_or(vi a, vi b) { return vorrq_s32(a, b); }
VI vi vi_xor(vi a, vi b) { return veorq_s32(a, b); }
VI vi vi_min(vi a, vi b) { return vminq_s32(a, b); }
VI vi vi_max(vi a, vi b) { return vmaxq_s32(a, b); }
VI vi vi_shl4(vi a) { return vshlq_n_s32(a, 4); }
VI vi vi_shl24(vi a) { return vshlq_n_s32(a, 24); }
VI vi vi_shl16(vi a) { return vshlq_n_s32(a, 16); }
VI vi vi_srai24(vi a) { return vshrq_n_s32(a, 24); }
VI vi vi_srl16(vi a) { return vreinterpretq_s32_u32(vshrq_n_u32(vreinterpretq_u32_s32(a), 16)); }
VI vm vi_eq(vi a, vi b) { return vceqq_s32(a, b); }
VI vm vi_ne(vi a, vi b) { return vmvnq_u32(vceqq_s32(a, b)); }
VI vm vi_gt(vi a, vi b) { return vcgtq_s32(a, b); }
VI vi vi_blend(vm m, vi t, vi f) { return vbslq_s32(m, t, f); }
/* clang-format on */
VI void vi_store_u8(uint8_t *p, vi v)
{
	uint16x4_t h = vmovn_u32(vreinterpretq_u32_s32(v));
	uint8x8_t b = vmovn_u16(vcombine_u16(h, h));
	uint32_t w = vget_lane_u32(vreinterpret_u32_u8(b), 0);
	memcpy(p, &w, 4);
}
/* VL 16-bit values at any alignment, zero-extended to the lanes / widened from half. */
VI vi vi_load_u16(const void *p)
{
	return vreinterpretq_s32_u32(vmovl_u16(vld1_u16((const uint16_t *)p)));
}
VI vf vf_load_fp16(const void *p)
{
	return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16((const uint16_t *)p)));
}
VI void vi_store_u16(uint16_t *p, vi v)
{
	vst1_u16(p, vmovn_u32(vreinterpretq_u32_s32(v)));
}

/* clang-format off */
VI vm vm_none(void) { return vdupq_n_u32(0); }
VI vm vm_and(vm a, vm b) { return vandq_u32(a, b); }
VI vm vm_or(vm a, vm b) { return vorrq_u32(a, b); }
VI int vm_any(vm m) { return vmaxvq_u32(m) != 0; }
/* clang-format on */
VI uint32_t vm_bits(vm m)
{
	const uint32x4_t w = { 1, 2, 4, 8 };
	return vaddvq_u32(vandq_u32(m, w));
}

/* FCVT to half rounds to nearest even (the default FPCR mode) like ggml's software
 * conversion; only NaN differs (ggml writes 0x7E00 with the sign). */
VI void vf_store_fp16(uint16_t *p, vf v)
{
	vi h = vreinterpretq_s32_u32(vmovl_u16(vreinterpret_u16_f16(vcvt_f16_f32(v))));
	vi nan = vi_or(vi_srl16(vi_and(vi_bits(v), vi_set1((int32_t)0x80000000))), vi_set1(0x7E00));
	vi_store_u16(p, vi_blend(vmvnq_u32(vceqq_f32(v, v)), nan, h));
}

#include "quant_simd.h"

const struct quant_kernels *quant_kernels_neon(void)
{
	return &S(kernels);
}

#else

const struct quant_kernels *quant_kernels_neon(void)
{
	return NULL;
}

#endif
