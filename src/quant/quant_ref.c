/* The scalar reference quantizers: ggml's quantize_row_*_ref (ggml-quants.c, llama.cpp
 * v0.5.0 as bundled by node-llama-cpp 3.22.1), transcribed statement by statement so
 * that the bytes are the same for every input (doc/gguf.md §5). Expression order, the three
 * rounding rules (nearest_int, roundf, truncating casts) and the requantization with the
 * fp16-rounded scales are all load-bearing; see quant_internal.h. Each K-quant is split
 * into the per-sub-block search, the scale quantization (quant_scales_*), the
 * requantization and the packing (quant_pack_*); the SIMD paths share the scale and
 * packing steps and vectorise the other two. */
#include "quant_internal.h"

#include <float.h>
#include <math.h>

#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

void quant_ref_q4_0(const float *x, void *out, int64_t k)
{
	block_q4_0 *y = out;
	const int qk = QK4_0;
	const int64_t nb = k / qk;
	for (int64_t i = 0; i < nb; i++) {
		float amax = 0.0f;
		float max = 0.0f;
		for (int j = 0; j < qk; j++) {
			const float v = x[i * qk + j];
			if (amax < fabsf(v)) {
				amax = fabsf(v);
				max = v;
			}
		}
		const float d = max / -8;
		const float id = d ? 1.0f / d : 0.0f;
		y[i].d = quant_fp16(d);
		for (int j = 0; j < qk / 2; ++j) {
			const float x0 = x[i * qk + 0 + j] * id;
			const float x1 = x[i * qk + qk / 2 + j] * id;
			const uint8_t xi0 = (uint8_t)MIN(15, quant_trunc_i8(x0 + 8.5f));
			const uint8_t xi1 = (uint8_t)MIN(15, quant_trunc_i8(x1 + 8.5f));
			y[i].qs[j] = xi0;
			y[i].qs[j] |= (uint8_t)(xi1 << 4);
		}
	}
}

void quant_ref_q4_1(const float *x, void *out, int64_t k)
{
	block_q4_1 *y = out;
	const int qk = QK4_0;
	const int64_t nb = k / qk;
	for (int64_t i = 0; i < nb; i++) {
		float min = FLT_MAX;
		float max = -FLT_MAX;
		for (int j = 0; j < qk; j++) {
			const float v = x[i * qk + j];
			if (v < min)
				min = v;
			if (v > max)
				max = v;
		}
		const float d = (max - min) / ((1 << 4) - 1);
		const float id = d ? 1.0f / d : 0.0f;
		y[i].d = quant_fp16(d);
		y[i].m = quant_fp16(min);
		for (int j = 0; j < qk / 2; ++j) {
			const float x0 = (x[i * qk + 0 + j] - min) * id;
			const float x1 = (x[i * qk + qk / 2 + j] - min) * id;
			const uint8_t xi0 = (uint8_t)MIN(15, quant_trunc_i8(x0 + 0.5f));
			const uint8_t xi1 = (uint8_t)MIN(15, quant_trunc_i8(x1 + 0.5f));
			y[i].qs[j] = xi0;
			y[i].qs[j] |= (uint8_t)(xi1 << 4);
		}
	}
}

void quant_ref_q5_0(const float *x, void *out, int64_t k)
{
	block_q5_0 *y = out;
	const int qk = QK4_0;
	const int64_t nb = k / qk;
	for (int64_t i = 0; i < nb; i++) {
		float amax = 0.0f;
		float max = 0.0f;
		for (int j = 0; j < qk; j++) {
			const float v = x[i * qk + j];
			if (amax < fabsf(v)) {
				amax = fabsf(v);
				max = v;
			}
		}
		const float d = max / -16;
		const float id = d ? 1.0f / d : 0.0f;
		y[i].d = quant_fp16(d);
		uint32_t qh = 0;
		for (int j = 0; j < qk / 2; ++j) {
			const float x0 = x[i * qk + 0 + j] * id;
			const float x1 = x[i * qk + qk / 2 + j] * id;
			const uint8_t xi0 = (uint8_t)MIN(31, quant_trunc_i8(x0 + 16.5f));
			const uint8_t xi1 = (uint8_t)MIN(31, quant_trunc_i8(x1 + 16.5f));
			y[i].qs[j] = (uint8_t)((xi0 & 0x0F) | ((xi1 & 0x0F) << 4));
			qh |= ((xi0 & 0x10u) >> 4) << (j + 0);
			qh |= ((xi1 & 0x10u) >> 4) << (j + qk / 2);
		}
		memcpy(&y[i].qh, &qh, sizeof(qh));
	}
}

void quant_ref_q5_1(const float *x, void *out, int64_t k)
{
	block_q5_1 *y = out;
	const int qk = QK4_0;
	const int64_t nb = k / qk;
	for (int64_t i = 0; i < nb; i++) {
		float min = FLT_MAX;
		float max = -FLT_MAX;
		for (int j = 0; j < qk; j++) {
			const float v = x[i * qk + j];
			if (v < min)
				min = v;
			if (v > max)
				max = v;
		}
		const float d = (max - min) / ((1 << 5) - 1);
		const float id = d ? 1.0f / d : 0.0f;
		y[i].d = quant_fp16(d);
		y[i].m = quant_fp16(min);
		uint32_t qh = 0;
		for (int j = 0; j < qk / 2; ++j) {
			const float x0 = (x[i * qk + 0 + j] - min) * id;
			const float x1 = (x[i * qk + qk / 2 + j] - min) * id;
			const uint8_t xi0 = quant_trunc_u8(x0 + 0.5f);
			const uint8_t xi1 = quant_trunc_u8(x1 + 0.5f);
			y[i].qs[j] = (uint8_t)((xi0 & 0x0F) | ((xi1 & 0x0F) << 4));
			qh |= ((xi0 & 0x10u) >> 4) << (j + 0);
			qh |= ((xi1 & 0x10u) >> 4) << (j + qk / 2);
		}
		memcpy(&y[i].qh, &qh, sizeof(qh));
	}
}

void quant_ref_q8_0(const float *x, void *out, int64_t k)
{
	block_q8_0 *y = out;
	const int64_t nb = k / QK8_0;
	for (int64_t i = 0; i < nb; i++) {
		float amax = 0.0f;
		for (int j = 0; j < QK8_0; j++) {
			const float v = x[i * QK8_0 + j];
			amax = MAX(amax, fabsf(v));
		}
		const float d = amax / ((1 << 7) - 1);
		const float id = d ? 1.0f / d : 0.0f;
		y[i].d = quant_fp16(d);
		for (int j = 0; j < QK8_0; ++j) {
			const float x0 = x[i * QK8_0 + j] * id;
			y[i].qs[j] = quant_trunc_i8(roundf(x0));
		}
	}
}

void quant_ref_f16(const float *x, void *out, int64_t n)
{
	uint16_t *y = out;
	for (int64_t i = 0; i < n; i++)
		y[i] = quant_fp16(x[i]);
}

void quant_ref_bf16(const float *x, void *out, int64_t n)
{
	uint16_t *y = out;
	for (int64_t i = 0; i < n; i++)
		y[i] = quant_fp32_to_bf16(x[i]);
}

/* ---- the search helpers (doc/gguf.md §5.3) ------------------------------------------------- */

/* make_qx_quants with rmse_type 1 and no importance weights (w = x²), the only variant
 * the reference quantizers use (Q6_K). */
static float make_qx_quants(int n, int nmax, const float *x, int8_t *L)
{
	float max = 0;
	float amax = 0;
	for (int i = 0; i < n; ++i) {
		float ax = fabsf(x[i]);
		if (ax > amax) {
			amax = ax;
			max = x[i];
		}
	}
	if (amax < GROUP_MAX_EPS) {
		for (int i = 0; i < n; ++i)
			L[i] = 0;
		return 0.f;
	}
	float iscale = -nmax / max;
	float sumlx = 0;
	float suml2 = 0;
	for (int i = 0; i < n; ++i) {
		int l = nearest_int(iscale * x[i]);
		l = MAX(-nmax, MIN(nmax - 1, l));
		L[i] = (int8_t)(l + nmax);
		float w = x[i] * x[i];
		sumlx += w * x[i] * l;
		suml2 += w * l * l;
	}
	float scale = suml2 ? sumlx / suml2 : 0.0f;
	float best = scale * sumlx;
	for (int is = -9; is <= 9; ++is) {
		if (is == 0)
			continue;
		iscale = -(nmax + 0.1f * is) / max;
		sumlx = suml2 = 0;
		for (int i = 0; i < n; ++i) {
			int l = nearest_int(iscale * x[i]);
			l = MAX(-nmax, MIN(nmax - 1, l));
			float w = x[i] * x[i];
			sumlx += w * x[i] * l;
			suml2 += w * l * l;
		}
		if (suml2 > 0 && sumlx * sumlx > best * suml2) {
			for (int i = 0; i < n; ++i) {
				int l = nearest_int(iscale * x[i]);
				L[i] = (int8_t)(nmax + MAX(-nmax, MIN(nmax - 1, l)));
			}
			scale = sumlx / suml2;
			best = scale * sumlx;
		}
	}
	return scale;
}

/* make_q3_quants with do_rmse (Q3_K). */
static float make_q3_quants(int n, int nmax, const float *x, int8_t *L)
{
	float max = 0;
	float amax = 0;
	for (int i = 0; i < n; ++i) {
		float ax = fabsf(x[i]);
		if (ax > amax) {
			amax = ax;
			max = x[i];
		}
	}
	if (amax < GROUP_MAX_EPS) {
		for (int i = 0; i < n; ++i)
			L[i] = 0;
		return 0.f;
	}
	float iscale = -nmax / max;
	float sumlx = 0;
	float suml2 = 0;
	for (int i = 0; i < n; ++i) {
		int l = nearest_int(iscale * x[i]);
		l = MAX(-nmax, MIN(nmax - 1, l));
		L[i] = (int8_t)l;
		float w = x[i] * x[i];
		sumlx += w * x[i] * l;
		suml2 += w * l * l;
	}
	for (int itry = 0; itry < 5; ++itry) {
		int n_changed = 0;
		for (int i = 0; i < n; ++i) {
			float w = x[i] * x[i];
			float slx = sumlx - w * x[i] * L[i];
			if (slx > 0) {
				float sl2 = suml2 - w * L[i] * L[i];
				int new_l = nearest_int(x[i] * sl2 / slx);
				new_l = MAX(-nmax, MIN(nmax - 1, new_l));
				if (new_l != L[i]) {
					slx += w * x[i] * new_l;
					sl2 += w * new_l * new_l;
					if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
						L[i] = (int8_t)new_l;
						sumlx = slx;
						suml2 = sl2;
						++n_changed;
					}
				}
			}
		}
		if (!n_changed)
			break;
	}
	for (int i = 0; i < n; ++i)
		L[i] = (int8_t)(L[i] + nmax);
	return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

static float make_qkx2_quants(int n, int nmax, const float *x, const float *weights, uint8_t *L,
			      float *the_min, uint8_t *Laux, float rmin, float rdelta, int nstep, int use_mad)
{
	float min = x[0];
	float max = x[0];
	float sum_w = weights[0];
	float sum_x = sum_w * x[0];
	for (int i = 1; i < n; ++i) {
		if (x[i] < min)
			min = x[i];
		if (x[i] > max)
			max = x[i];
		float w = weights[i];
		sum_w += w;
		sum_x += w * x[i];
	}
	if (min > 0)
		min = 0;
	if (max == min) {
		for (int i = 0; i < n; ++i)
			L[i] = 0;
		*the_min = -min;
		return 0.f;
	}
	float iscale = nmax / (max - min);
	float scale = 1 / iscale;
	float best_error = 0;
	for (int i = 0; i < n; ++i) {
		int l = nearest_int(iscale * (x[i] - min));
		L[i] = (uint8_t)MAX(0, MIN(nmax, l));
		float diff = scale * L[i] + min - x[i];
		diff = use_mad ? fabsf(diff) : diff * diff;
		float w = weights[i];
		best_error += w * diff;
	}
	for (int is = 0; is <= nstep; ++is) {
		iscale = (rmin + rdelta * is + nmax) / (max - min);
		float sum_l = 0, sum_l2 = 0, sum_xl = 0;
		for (int i = 0; i < n; ++i) {
			int l = nearest_int(iscale * (x[i] - min));
			l = MAX(0, MIN(nmax, l));
			Laux[i] = (uint8_t)l;
			float w = weights[i];
			sum_l += w * l;
			sum_l2 += w * l * l;
			sum_xl += w * l * x[i];
		}
		float D = sum_w * sum_l2 - sum_l * sum_l;
		if (D > 0) {
			float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
			float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
			if (this_min > 0) {
				this_min = 0;
				this_scale = sum_xl / sum_l2;
			}
			float cur_error = 0;
			for (int i = 0; i < n; ++i) {
				float diff = this_scale * Laux[i] + this_min - x[i];
				diff = use_mad ? fabsf(diff) : diff * diff;
				float w = weights[i];
				cur_error += w * diff;
			}
			if (cur_error < best_error) {
				for (int i = 0; i < n; ++i)
					L[i] = Laux[i];
				best_error = cur_error;
				scale = this_scale;
				min = this_min;
			}
		}
	}
	*the_min = -min;
	return scale;
}

/* ---- K-quants (doc/gguf.md §5.4) ----------------------------------------------------------- */

/* The requantization with the fp16-rounded scales: sub-block j (of sb values) gets
 * clamp(nearest_int((x + dm[j]) / d[j]), lo, hi) + offset, or x / d[j] when dm is NULL;
 * a sub-block whose d[j] is 0 keeps the levels of the search. */
static void requant(const float *x, int sb, int nsub, const float *d, const float *dm, int lo, int hi,
		    int offset, uint8_t *L)
{
	for (int j = 0; j < nsub; ++j) {
		if (!d[j])
			continue;
		for (int ii = 0; ii < sb; ++ii) {
			int l = dm ? nearest_int((x[sb * j + ii] + dm[j]) / d[j])
				   : nearest_int(x[sb * j + ii] / d[j]);
			L[sb * j + ii] = (uint8_t)(MAX(lo, MIN(hi, l)) + offset);
		}
	}
}

void quant_ref_q2_K(const float *x, void *out, int64_t k)
{
	block_q2_K *y = out;
	const int64_t nb = k / QK_K;
	uint8_t L[QK_K];
	uint8_t Laux[16];
	float weights[16];
	float mins[QK_K / 16];
	float scales[QK_K / 16];
	for (int64_t i = 0; i < nb; i++) {
		for (int j = 0; j < QK_K / 16; ++j) {
			for (int l = 0; l < 16; ++l)
				weights[l] = fabsf(x[16 * j + l]);
			scales[j] = make_qkx2_quants(16, 3, x + 16 * j, weights, L + 16 * j, &mins[j], Laux,
						     -0.5f, 0.1f, 15, 1);
		}
		float d[QK_K / 16], dm[QK_K / 16];
		quant_scales_q2_K(scales, mins, y + i, d, dm);
		requant(x, 16, QK_K / 16, d, dm, 0, 3, 0, L);
		quant_pack_q2_K(L, y + i);
		x += QK_K;
	}
}

void quant_scales_q2_K(const float *scales, const float *mins, block_q2_K *y, float *d, float *dm)
{
	const float q4scale = 15.f;
	float max_scale = 0;
	float max_min = 0;
	for (int j = 0; j < QK_K / 16; ++j) {
		if (scales[j] > max_scale)
			max_scale = scales[j];
		if (mins[j] > max_min)
			max_min = mins[j];
	}
	if (max_scale > 0) {
		float iscale = q4scale / max_scale;
		for (int j = 0; j < QK_K / 16; ++j)
			y->scales[j] = (uint8_t)nearest_int(iscale * scales[j]);
		y->d = quant_fp16(max_scale / q4scale);
	} else {
		for (int j = 0; j < QK_K / 16; ++j)
			y->scales[j] = 0;
		y->d = quant_fp16(0.f);
	}
	if (max_min > 0) {
		float iscale = q4scale / max_min;
		for (int j = 0; j < QK_K / 16; ++j) {
			int l = nearest_int(iscale * mins[j]);
			y->scales[j] |= (uint8_t)((uint32_t)l << 4);
		}
		y->dmin = quant_fp16(max_min / q4scale);
	} else {
		y->dmin = quant_fp16(0.f);
	}
	for (int j = 0; j < QK_K / 16; ++j) {
		d[j] = quant_fp32(y->d) * (y->scales[j] & 0xF);
		dm[j] = quant_fp32(y->dmin) * (y->scales[j] >> 4);
	}
}

/* The 2-bit packing of Q2_K and Q3_K: four levels 32 apart share a byte. */
static void pack_2bit(const uint8_t *L, uint8_t *qs)
{
	for (int j = 0; j < QK_K; j += 128)
		for (int l = 0; l < 32; ++l)
			qs[j / 4 + l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) |
						  (L[j + l + 96] << 6));
}

void quant_pack_q2_K(const uint8_t *L, block_q2_K *y)
{
	pack_2bit(L, y->qs);
}

void quant_ref_q3_K(const float *x, void *out, int64_t k)
{
	block_q3_K *y = out;
	const int64_t nb = k / QK_K;
	int8_t L[QK_K];
	float scales[QK_K / 16];
	for (int64_t i = 0; i < nb; i++) {
		for (int j = 0; j < QK_K / 16; ++j)
			scales[j] = make_q3_quants(16, 4, x + 16 * j, L + 16 * j);
		float d[QK_K / 16];
		quant_scales_q3_K(scales, y + i, d);
		requant(x, 16, QK_K / 16, d, NULL, -4, 3, 4, (uint8_t *)L);
		quant_pack_q3_K((uint8_t *)L, y + i);
		x += QK_K;
	}
}

void quant_scales_q3_K(const float *scales, block_q3_K *y, float *d)
{
	float max_scale = 0;
	float amax = 0;
	for (int j = 0; j < QK_K / 16; ++j) {
		float scale = fabsf(scales[j]);
		if (scale > amax) {
			amax = scale;
			max_scale = scales[j];
		}
	}
	memset(y->scales, 0, 12);
	if (max_scale) {
		float iscale = -32.f / max_scale;
		for (int j = 0; j < QK_K / 16; ++j) {
			int8_t l = (int8_t)nearest_int(iscale * scales[j]);
			l = (int8_t)(MAX(-32, MIN(31, l)) + 32);
			if (j < 8)
				y->scales[j] = (uint8_t)(l & 0xF);
			else
				y->scales[j - 8] |= (uint8_t)((l & 0xF) << 4);
			l = (int8_t)(l >> 4);
			y->scales[j % 4 + 8] |= (uint8_t)(l << (2 * (j / 4)));
		}
		y->d = quant_fp16(1 / iscale);
	} else {
		y->d = quant_fp16(0.f);
	}
	for (int j = 0; j < QK_K / 16; ++j) {
		int8_t sc = (int8_t)(j < 8 ? y->scales[j] & 0xF : y->scales[j - 8] >> 4);
		sc = (int8_t)((sc | (((y->scales[8 + j % 4] >> (2 * (j / 4))) & 3) << 4)) - 32);
		d[j] = quant_fp32(y->d) * sc;
	}
}

/* Levels 0..7: the high bit of element e goes to hmask[e % 32] bit e / 32, the low two
 * bits to the 2-bit packing. */
void quant_pack_q3_K(uint8_t *L, block_q3_K *y)
{
	memset(y->hmask, 0, QK_K / 8);
	int m = 0;
	uint8_t hm = 1;
	for (int j = 0; j < QK_K; ++j) {
		y->hmask[m] |= (uint8_t)((L[j] >> 2) * hm);
		L[j] &= 3;
		if (++m == QK_K / 8) {
			m = 0;
			hm = (uint8_t)(hm << 1);
		}
	}
	pack_2bit(L, y->qs);
}

/* The sub-block weights of Q4_K and Q5_K: av_x + |x| with av_x = sqrt(mean x²). */
static void weights_q45_K(const float *x, float *weights)
{
	float sum_x2 = 0;
	for (int l = 0; l < 32; ++l)
		sum_x2 += x[l] * x[l];
	float av_x = sqrtf(sum_x2 / 32);
	for (int l = 0; l < 32; ++l)
		weights[l] = av_x + fabsf(x[l]);
}

void quant_ref_q4_K(const float *x, void *out, int64_t k)
{
	block_q4_K *y = out;
	const int64_t nb = k / QK_K;
	uint8_t L[QK_K];
	uint8_t Laux[32];
	float weights[32];
	float mins[QK_K / 32];
	float scales[QK_K / 32];
	for (int64_t i = 0; i < nb; i++) {
		for (int j = 0; j < QK_K / 32; ++j) {
			weights_q45_K(x + 32 * j, weights);
			scales[j] = make_qkx2_quants(32, 15, x + 32 * j, weights, L + 32 * j, &mins[j], Laux,
						     -1.f, 0.1f, 20, 0);
		}
		float d[QK_K / 32], dm[QK_K / 32];
		quant_scales_q4_K(scales, mins, y + i, d, dm);
		requant(x, 32, QK_K / 32, d, dm, 0, 15, 0, L);
		quant_pack_q4_K(L, y + i);
		x += QK_K;
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

/* The 6-bit scale/min packing shared by Q4_K and Q5_K, and the per-sub-block d, dm of
 * the requantization. */
static void scales_q45_K(const float *scales, const float *mins, uint8_t *s12, uint16_t *dp, uint16_t *dminp,
			 float *d, float *dm)
{
	float max_scale = 0;
	float max_min = 0;
	for (int j = 0; j < QK_K / 32; ++j) {
		if (scales[j] > max_scale)
			max_scale = scales[j];
		if (mins[j] > max_min)
			max_min = mins[j];
	}
	float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
	float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
	for (int j = 0; j < QK_K / 32; ++j) {
		uint8_t ls = (uint8_t)nearest_int(inv_scale * scales[j]);
		uint8_t lm = (uint8_t)nearest_int(inv_min * mins[j]);
		ls = MIN(63, ls);
		lm = MIN(63, lm);
		if (j < 4) {
			s12[j] = ls;
			s12[j + 4] = lm;
		} else {
			s12[j + 4] = (uint8_t)((ls & 0xF) | ((lm & 0xF) << 4));
			s12[j - 4] |= (uint8_t)((ls >> 4) << 6);
			s12[j - 0] |= (uint8_t)((lm >> 4) << 6);
		}
	}
	*dp = quant_fp16(max_scale / 63.f);
	*dminp = quant_fp16(max_min / 63.f);
	uint8_t sc, m;
	for (int j = 0; j < QK_K / 32; ++j) {
		get_scale_min_k4(j, s12, &sc, &m);
		d[j] = quant_fp32(*dp) * sc;
		dm[j] = quant_fp32(*dminp) * m;
	}
}

void quant_scales_q4_K(const float *scales, const float *mins, block_q4_K *y, float *d, float *dm)
{
	scales_q45_K(scales, mins, y->scales, &y->d, &y->dmin, d, dm);
}

void quant_pack_q4_K(const uint8_t *L, block_q4_K *y)
{
	uint8_t *q = y->qs;
	for (int j = 0; j < QK_K; j += 64) {
		for (int l = 0; l < 32; ++l)
			q[l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 4));
		q += 32;
	}
}

void quant_ref_q5_K(const float *x, void *out, int64_t k)
{
	block_q5_K *y = out;
	const int64_t nb = k / QK_K;
	uint8_t L[QK_K];
	float mins[QK_K / 32];
	float scales[QK_K / 32];
	float weights[32];
	uint8_t Laux[32];
	for (int64_t i = 0; i < nb; i++) {
		for (int j = 0; j < QK_K / 32; ++j) {
			weights_q45_K(x + 32 * j, weights);
			scales[j] = make_qkx2_quants(32, 31, x + 32 * j, weights, L + 32 * j, &mins[j], Laux,
						     -0.5f, 0.1f, 15, 0);
		}
		float d[QK_K / 32], dm[QK_K / 32];
		quant_scales_q5_K(scales, mins, y + i, d, dm);
		requant(x, 32, QK_K / 32, d, dm, 0, 31, 0, L);
		quant_pack_q5_K(L, y + i);
		x += QK_K;
	}
}

void quant_scales_q5_K(const float *scales, const float *mins, block_q5_K *y, float *d, float *dm)
{
	scales_q45_K(scales, mins, y->scales, &y->d, &y->dmin, d, dm);
}

/* Levels 0..31: bit 4 of L[64c + j] goes to qh[j] bit 2c, of L[64c + 32 + j] to bit
 * 2c + 1; the low nibbles pair up as in Q4_K. */
void quant_pack_q5_K(const uint8_t *L, block_q5_K *y)
{
	uint8_t *qh = y->qh;
	uint8_t *ql = y->qs;
	memset(qh, 0, QK_K / 8);
	for (int c = 0; c < QK_K / 64; c++) {
		for (int j = 0; j < 32; ++j) {
			int l1 = L[64 * c + j];
			int l2 = L[64 * c + j + 32];
			qh[j] |= (uint8_t)(((l1 >> 4) | ((l2 >> 4) << 1)) << (2 * c));
			ql[j] = (uint8_t)((l1 & 15) | ((l2 & 15) << 4));
		}
		ql += 32;
	}
}

void quant_ref_q6_K(const float *x, void *out, int64_t k)
{
	block_q6_K *y = out;
	const int64_t nb = k / QK_K;
	int8_t L[QK_K];
	float scales[QK_K / 16];
	for (int64_t i = 0; i < nb; i++) {
		for (int ib = 0; ib < QK_K / 16; ++ib)
			scales[ib] = make_qx_quants(16, 32, x + 16 * ib, L + 16 * ib);
		float d[QK_K / 16];
		if (quant_scales_q6_K(scales, y + i, d)) {
			requant(x, 16, QK_K / 16, d, NULL, -32, 31, 32, (uint8_t *)L);
			quant_pack_q6_K((uint8_t *)L, y + i);
		}
		x += QK_K;
	}
}

int quant_scales_q6_K(const float *scales, block_q6_K *y, float *d)
{
	float max_scale = 0;
	float max_abs_scale = 0;
	for (int ib = 0; ib < QK_K / 16; ++ib) {
		const float abs_scale = fabsf(scales[ib]);
		if (abs_scale > max_abs_scale) {
			max_abs_scale = abs_scale;
			max_scale = scales[ib];
		}
	}
	if (max_abs_scale < GROUP_MAX_EPS) {
		memset(y, 0, sizeof(*y));
		y->d = quant_fp16(0.f);
		return 0;
	}
	float iscale = -128.f / max_scale;
	y->d = quant_fp16(1 / iscale);
	for (int ib = 0; ib < QK_K / 16; ++ib)
		y->scales[ib] = (int8_t)MIN(127, nearest_int(iscale * scales[ib]));
	for (int j = 0; j < QK_K / 16; ++j)
		d[j] = quant_fp32(y->d) * y->scales[j];
	return 1;
}

void quant_pack_q6_K(const uint8_t *L, block_q6_K *y)
{
	uint8_t *ql = y->ql;
	uint8_t *qh = y->qh;
	for (int j = 0; j < QK_K; j += 128) {
		for (int l = 0; l < 32; ++l) {
			const uint8_t q1 = L[j + l + 0] & 0xF;
			const uint8_t q2 = L[j + l + 32] & 0xF;
			const uint8_t q3 = L[j + l + 64] & 0xF;
			const uint8_t q4 = L[j + l + 96] & 0xF;
			ql[l + 0] = (uint8_t)(q1 | (q3 << 4));
			ql[l + 32] = (uint8_t)(q2 | (q4 << 4));
			qh[l] = (uint8_t)((L[j + l] >> 4) | ((L[j + l + 32] >> 4) << 2) |
					  ((L[j + l + 64] >> 4) << 4) | ((L[j + l + 96] >> 4) << 6));
		}
		ql += 64;
		qh += 32;
	}
}
