/* Dequantization: ggml's dequantize_row_* (ggml-quants.c), same float expressions in the
 * same order, so that the F32 values are identical to llama.cpp's. Scalar: every
 * output is one or two IEEE operations on its own inputs, which the compiler may
 * vectorise without changing a bit; only F16 and BF16, the input of every quantize and
 * convert, have explicit SIMD paths (quant_simd.h). */
#include "quant_internal.h"

#include "util/error.h"

static void dequant_q4_0(const void *src, float *y, int64_t k)
{
	const block_q4_0 *x = src;
	const int qk = QK4_0;
	for (int64_t i = 0; i < k / qk; i++) {
		const float d = quant_fp32(x[i].d);
		for (int j = 0; j < qk / 2; ++j) {
			const int x0 = (x[i].qs[j] & 0x0F) - 8;
			const int x1 = (x[i].qs[j] >> 4) - 8;
			y[i * qk + j + 0] = x0 * d;
			y[i * qk + j + qk / 2] = x1 * d;
		}
	}
}

static void dequant_q4_1(const void *src, float *y, int64_t k)
{
	const block_q4_1 *x = src;
	const int qk = QK4_0;
	for (int64_t i = 0; i < k / qk; i++) {
		const float d = quant_fp32(x[i].d);
		const float m = quant_fp32(x[i].m);
		for (int j = 0; j < qk / 2; ++j) {
			const int x0 = (x[i].qs[j] & 0x0F);
			const int x1 = (x[i].qs[j] >> 4);
			y[i * qk + j + 0] = x0 * d + m;
			y[i * qk + j + qk / 2] = x1 * d + m;
		}
	}
}

static void dequant_q5_0(const void *src, float *y, int64_t k)
{
	const block_q5_0 *x = src;
	const int qk = QK4_0;
	for (int64_t i = 0; i < k / qk; i++) {
		const float d = quant_fp32(x[i].d);
		uint32_t qh;
		memcpy(&qh, x[i].qh, sizeof(qh));
		for (int j = 0; j < qk / 2; ++j) {
			const uint8_t xh_0 = (uint8_t)(((qh >> (j + 0)) << 4) & 0x10);
			const uint8_t xh_1 = (uint8_t)(((qh >> (j + 12))) & 0x10);
			const int32_t x0 = ((x[i].qs[j] & 0x0F) | xh_0) - 16;
			const int32_t x1 = ((x[i].qs[j] >> 4) | xh_1) - 16;
			y[i * qk + j + 0] = x0 * d;
			y[i * qk + j + qk / 2] = x1 * d;
		}
	}
}

static void dequant_q5_1(const void *src, float *y, int64_t k)
{
	const block_q5_1 *x = src;
	const int qk = QK4_0;
	for (int64_t i = 0; i < k / qk; i++) {
		const float d = quant_fp32(x[i].d);
		const float m = quant_fp32(x[i].m);
		uint32_t qh;
		memcpy(&qh, x[i].qh, sizeof(qh));
		for (int j = 0; j < qk / 2; ++j) {
			const uint8_t xh_0 = (uint8_t)(((qh >> (j + 0)) << 4) & 0x10);
			const uint8_t xh_1 = (uint8_t)(((qh >> (j + 12))) & 0x10);
			const int x0 = (x[i].qs[j] & 0x0F) | xh_0;
			const int x1 = (x[i].qs[j] >> 4) | xh_1;
			y[i * qk + j + 0] = x0 * d + m;
			y[i * qk + j + qk / 2] = x1 * d + m;
		}
	}
}

static void dequant_q8_0(const void *src, float *y, int64_t k)
{
	const block_q8_0 *x = src;
	for (int64_t i = 0; i < k / QK8_0; i++) {
		const float d = quant_fp32(x[i].d);
		for (int j = 0; j < QK8_0; ++j)
			y[i * QK8_0 + j] = x[i].qs[j] * d;
	}
}

static void dequant_q2_K(const void *src, float *y, int64_t k)
{
	const block_q2_K *x = src;
	for (int64_t i = 0; i < k / QK_K; i++) {
		const float d = quant_fp32(x[i].d);
		const float min = quant_fp32(x[i].dmin);
		const uint8_t *q = x[i].qs;
		int is = 0;
		float dl, ml;
		for (int n = 0; n < QK_K; n += 128) {
			int shift = 0;
			for (int j = 0; j < 4; ++j) {
				uint8_t sc = x[i].scales[is++];
				dl = d * (sc & 0xF);
				ml = min * (sc >> 4);
				for (int l = 0; l < 16; ++l)
					*y++ = dl * ((int8_t)((q[l] >> shift) & 3)) - ml;
				sc = x[i].scales[is++];
				dl = d * (sc & 0xF);
				ml = min * (sc >> 4);
				for (int l = 0; l < 16; ++l)
					*y++ = dl * ((int8_t)((q[l + 16] >> shift) & 3)) - ml;
				shift += 2;
			}
			q += 32;
		}
	}
}

static void dequant_q3_K(const void *src, float *y, int64_t k)
{
	const block_q3_K *x = src;
	const uint32_t kmask1 = 0x03030303;
	const uint32_t kmask2 = 0x0f0f0f0f;
	uint32_t aux[4];
	int8_t scales[16];
	for (int64_t i = 0; i < k / QK_K; i++) {
		const float d_all = quant_fp32(x[i].d);
		const uint8_t *q = x[i].qs;
		const uint8_t *hm = x[i].hmask;
		uint8_t m = 1;
		memcpy(aux, x[i].scales, 12);
		uint32_t tmp = aux[2];
		aux[2] = ((aux[0] >> 4) & kmask2) | (((tmp >> 4) & kmask1) << 4);
		aux[3] = ((aux[1] >> 4) & kmask2) | (((tmp >> 6) & kmask1) << 4);
		aux[0] = (aux[0] & kmask2) | (((tmp >> 0) & kmask1) << 4);
		aux[1] = (aux[1] & kmask2) | (((tmp >> 2) & kmask1) << 4);
		memcpy(scales, aux, sizeof(scales));
		int is = 0;
		float dl;
		for (int n = 0; n < QK_K; n += 128) {
			int shift = 0;
			for (int j = 0; j < 4; ++j) {
				dl = d_all * (scales[is++] - 32);
				for (int l = 0; l < 16; ++l)
					*y++ = dl * ((int8_t)((q[l + 0] >> shift) & 3) -
						     ((hm[l + 0] & m) ? 0 : 4));
				dl = d_all * (scales[is++] - 32);
				for (int l = 0; l < 16; ++l)
					*y++ = dl * ((int8_t)((q[l + 16] >> shift) & 3) -
						     ((hm[l + 16] & m) ? 0 : 4));
				shift += 2;
				m = (uint8_t)(m << 1);
			}
			q += 32;
		}
	}
}

static void get_scale_min_k4(int j, const uint8_t *q, uint8_t *d, uint8_t *m)
{
	if (j < 4) {
		*d = q[j] & 63;
		*m = q[j + 4] & 63;
	} else {
		*d = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
		*m = (uint8_t)((q[j + 4] >> 4) | ((q[j - 0] >> 6) << 4));
	}
}

static void dequant_q4_K(const void *src, float *y, int64_t k)
{
	const block_q4_K *x = src;
	for (int64_t i = 0; i < k / QK_K; i++) {
		const uint8_t *q = x[i].qs;
		const float d = quant_fp32(x[i].d);
		const float min = quant_fp32(x[i].dmin);
		int is = 0;
		uint8_t sc, m;
		for (int j = 0; j < QK_K; j += 64) {
			get_scale_min_k4(is + 0, x[i].scales, &sc, &m);
			const float d1 = d * sc;
			const float m1 = min * m;
			get_scale_min_k4(is + 1, x[i].scales, &sc, &m);
			const float d2 = d * sc;
			const float m2 = min * m;
			for (int l = 0; l < 32; ++l)
				*y++ = d1 * (q[l] & 0xF) - m1;
			for (int l = 0; l < 32; ++l)
				*y++ = d2 * (q[l] >> 4) - m2;
			q += 32;
			is += 2;
		}
	}
}

static void dequant_q5_K(const void *src, float *y, int64_t k)
{
	const block_q5_K *x = src;
	for (int64_t i = 0; i < k / QK_K; i++) {
		const uint8_t *ql = x[i].qs;
		const uint8_t *qh = x[i].qh;
		const float d = quant_fp32(x[i].d);
		const float min = quant_fp32(x[i].dmin);
		int is = 0;
		uint8_t sc, m;
		uint8_t u1 = 1, u2 = 2;
		for (int j = 0; j < QK_K; j += 64) {
			get_scale_min_k4(is + 0, x[i].scales, &sc, &m);
			const float d1 = d * sc;
			const float m1 = min * m;
			get_scale_min_k4(is + 1, x[i].scales, &sc, &m);
			const float d2 = d * sc;
			const float m2 = min * m;
			for (int l = 0; l < 32; ++l)
				*y++ = d1 * ((ql[l] & 0xF) + (qh[l] & u1 ? 16 : 0)) - m1;
			for (int l = 0; l < 32; ++l)
				*y++ = d2 * ((ql[l] >> 4) + (qh[l] & u2 ? 16 : 0)) - m2;
			ql += 32;
			is += 2;
			u1 = (uint8_t)(u1 << 2);
			u2 = (uint8_t)(u2 << 2);
		}
	}
}

static void dequant_q6_K(const void *src, float *y, int64_t k)
{
	const block_q6_K *x = src;
	for (int64_t i = 0; i < k / QK_K; i++) {
		const float d = quant_fp32(x[i].d);
		const uint8_t *ql = x[i].ql;
		const uint8_t *qh = x[i].qh;
		const int8_t *sc = x[i].scales;
		for (int n = 0; n < QK_K; n += 128) {
			for (int l = 0; l < 32; ++l) {
				int is = l / 16;
				const int8_t q1 =
					(int8_t)((int8_t)((ql[l + 0] & 0xF) | (((qh[l] >> 0) & 3) << 4)) -
						 32);
				const int8_t q2 =
					(int8_t)((int8_t)((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) -
						 32);
				const int8_t q3 =
					(int8_t)((int8_t)((ql[l + 0] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
				const int8_t q4 =
					(int8_t)((int8_t)((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) -
						 32);
				y[l + 0] = d * sc[is + 0] * q1;
				y[l + 32] = d * sc[is + 2] * q2;
				y[l + 64] = d * sc[is + 4] * q3;
				y[l + 96] = d * sc[is + 6] * q4;
			}
			y += 128;
			ql += 64;
			qh += 32;
			sc += 8;
		}
	}
}

static void dequant_iq4_nl(const void *src, float *y, int64_t k)
{
	const block_iq4_nl *x = src;
	for (int64_t i = 0; i < k / QK4_0; i++, y += QK4_0) {
		const float d = quant_fp32(x[i].d);
		for (int j = 0; j < QK4_0 / 2; ++j) {
			y[j] = d * quant_iq4_levels[x[i].qs[j] & 0xf];
			y[j + QK4_0 / 2] = d * quant_iq4_levels[x[i].qs[j] >> 4];
		}
	}
}

static void dequant_iq4_xs(const void *src, float *y, int64_t k)
{
	const block_iq4_xs *x = src;
	for (int64_t i = 0; i < k / QK_K; i++) {
		const float d = quant_fp32(x[i].d);
		const uint8_t *qs = x[i].qs;
		for (int ib = 0; ib < QK_K / 32; ++ib, y += 32, qs += 16) {
			const int ls = ((x[i].scales_l[ib / 2] >> 4 * (ib % 2)) & 0xf) |
				       (((x[i].scales_h >> 2 * ib) & 3) << 4);
			const float dl = d * (ls - 32);
			for (int j = 0; j < 16; ++j) {
				y[j] = dl * quant_iq4_levels[qs[j] & 0xf];
				y[j + 16] = dl * quant_iq4_levels[qs[j] >> 4];
			}
		}
	}
}

/* The F16 and BF16 rows may sit at any alignment (convert reads them from the mapped
 * safetensors data); the SIMD paths of the active instruction set take over whole
 * vectors, with the same bits. */
static void dequant_f16(const void *src, float *y, int64_t n)
{
	const unsigned char *x = src;
	for (int64_t i = 0; i < n; i++)
		y[i] = quant_fp32(quant_load16(x + 2 * i));
}

static void dequant_bf16(const void *src, float *y, int64_t n)
{
	const unsigned char *x = src;
	for (int64_t i = 0; i < n; i++)
		y[i] = quant_float((uint32_t)quant_load16(x + 2 * i) << 16);
}

static void dequant_f32(const void *src, float *y, int64_t n)
{
	memcpy(y, src, (size_t)n * sizeof(float));
}

static dequant_row_fn dequant_function(enum quant_isa isa, uint32_t type)
{
	const struct quant_kernels *k = quant_isa_kernels(isa);
	if (k && type < QUANT_TYPE_SLOTS && k->to_f32[type])
		return k->to_f32[type];
	switch (type) {
	case QUANT_F32: return dequant_f32;
	case QUANT_F16: return dequant_f16;
	case QUANT_BF16: return dequant_bf16;
	case QUANT_Q4_0: return dequant_q4_0;
	case QUANT_Q4_1: return dequant_q4_1;
	case QUANT_Q5_0: return dequant_q5_0;
	case QUANT_Q5_1: return dequant_q5_1;
	case QUANT_Q8_0: return dequant_q8_0;
	case QUANT_Q2_K: return dequant_q2_K;
	case QUANT_Q3_K: return dequant_q3_K;
	case QUANT_Q4_K: return dequant_q4_K;
	case QUANT_Q5_K: return dequant_q5_K;
	case QUANT_Q6_K: return dequant_q6_K;
	case QUANT_IQ4_NL: return dequant_iq4_nl;
	case QUANT_IQ4_XS: return dequant_iq4_xs;
	default: return NULL;
	}
}

void dequant_row(uint32_t type, const void *src, float *dst, int64_t n)
{
	dequant_row_fn fn = dequant_function(quant_isa_active(), type);
	if (fn)
		fn(src, dst, n);
}

int dequant_row_isa(enum quant_isa isa, uint32_t type, const void *src, float *dst, int64_t n)
{
	if (!quant_isa_supported(isa))
		return modl_error_set(MODL_EINVALID, "instruction set %s is not available here",
				      quant_isa_name(isa));
	dequant_row_fn fn = dequant_function(isa == QUANT_ISA_AUTO ? quant_isa_active() : isa, type);
	if (!fn)
		return modl_error_set(MODL_EINVALID, "tensor type %u cannot be dequantized", type);
	fn(src, dst, n);
	return 0;
}
