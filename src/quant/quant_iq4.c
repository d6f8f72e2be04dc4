/* The 4-bit non-linear i-quants: IQ4_NL (blocks of 32 values, one fp16 scale) and IQ4_XS
 * (super-blocks of 256: an fp16 scale and a 6-bit scale per 32 values). Each value is an
 * index into a fixed table of 16 levels. The bytes are those of ggml's quantize_iq4_nl and
 * quantize_iq4_xs in the llama.cpp that node-llama-cpp 3.22.1 bundles (the functions
 * ggml_quantize_chunk calls, with and without importance weights), which the oracle test
 * checks; the rules of quant_internal.h apply.
 *
 * Per block of 32 the search tries the scale that maps the largest magnitude onto the
 * outermost level, then 15 more (the largest magnitude onto -127 + t, t = -7..7), and keeps
 * the least-squares scale of the best fit. Its fit weights are x² without importance
 * weights, and qw * sqrt(sigma2 + x²) with them, sigma2 being twice the mean square of
 * the block (IQ4_NL) or super-block (IQ4_XS). The levels are then chosen again with the
 * final scale: IQ4_NL's own, IQ4_XS's rounded to its 6-bit code (but not to fp16). */
#include "quant_internal.h"

#include <math.h>

#define IQ4_BLOCK 32
#define IQ4_TRIES 7

const int8_t quant_iq4_levels[16] = {
	-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113
};

/* The level nearest to x by bisection, as ggml's best_index_int8 decides it: the ends
 * clamp, a tie of the two float distances goes to the upper level, and NaN (which no
 * comparison holds for) ends on the top level. */
static int nearest_level(float x)
{
	const int8_t *v = quant_iq4_levels;
	if (x <= v[0])
		return 0;
	if (x >= v[15])
		return 15;
	int lo = 0, hi = 15;
	while (hi - lo > 1) {
		int mid = (lo + hi) / 2;
		if (x < v[mid])
			hi = mid;
		else
			lo = mid;
	}
	return x - v[lo] < v[hi] - x ? lo : hi;
}

/* sigma2 of the importance weights: twice the mean square of the n values. */
static float twice_mean_square(const float *x, int n)
{
	float sum = 0;
	for (int j = 0; j < n; ++j)
		sum += x[j] * x[j];
	return sum * (2.f / n);
}

static void fit_weights(const float *xb, const float *qw, float sigma2, float *w)
{
	for (int j = 0; j < IQ4_BLOCK; ++j)
		w[j] = qw ? qw[j] * sqrtf(sigma2 + xb[j] * xb[j]) : xb[j] * xb[j];
}

/* The weighted sums of one trial at inverse scale id: sum w·q·x and sum w·q². */
static void trial(const float *xb, const float *w, float id, float *sumqx, float *sumq2)
{
	float sqx = 0, sq2 = 0;
	for (int j = 0; j < IQ4_BLOCK; ++j) {
		float q = quant_iq4_levels[nearest_level(id * xb[j])];
		sqx += w[j] * q * xb[j];
		sq2 += w[j] * q * q;
	}
	*sumqx = sqx;
	*sumq2 = sq2;
}

/* The best scale of one block of 32, or 0 for a block of (near) zeros. */
static float block_scale(const float *xb, const float *w)
{
	float amax = 0, max = 0;
	for (int j = 0; j < IQ4_BLOCK; ++j) {
		float ax = fabsf(xb[j]);
		if (ax > amax) {
			amax = ax;
			max = xb[j];
		}
	}
	if (amax < GROUP_MAX_EPS)
		return 0;
	const float outer = quant_iq4_levels[0];
	float d = -max / outer;
	float sumqx, sumq2;
	trial(xb, w, 1 / d, &sumqx, &sumq2);
	d = sumq2 > 0 ? sumqx / sumq2 : 0.f;
	float best = d * sumqx;
	for (int t = -IQ4_TRIES; t <= IQ4_TRIES; ++t) {
		trial(xb, w, (float)(t + quant_iq4_levels[0]) / max, &sumqx, &sumq2);
		if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
			d = sumqx / sumq2;
			best = d * sumqx;
		}
	}
	return d;
}

/* 32 values at inverse scale id: value j and j + 16 share byte j (low, high nibble). */
static void pack_block(const float *xb, float id, uint8_t *qs)
{
	for (int j = 0; j < IQ4_BLOCK / 2; ++j)
		qs[j] = (uint8_t)(nearest_level(id * xb[j]) | (nearest_level(id * xb[j + 16]) << 4));
}

void quant_ref_iq4_nl(const float *x, void *out, int64_t n, const float *qw)
{
	block_iq4_nl *y = out;
	float w[IQ4_BLOCK];
	for (int64_t i = 0; i < n / IQ4_BLOCK; i++, x += IQ4_BLOCK) {
		const float *qwb = qw ? qw + i * IQ4_BLOCK : NULL;
		fit_weights(x, qwb, qwb ? twice_mean_square(x, IQ4_BLOCK) : 0, w);
		float d = block_scale(x, w);
		y[i].d = quant_fp16(d);
		pack_block(x, d ? 1 / d : 0, y[i].qs);
	}
}

/* IQ4_XS's super-block scale: the scale of largest magnitude maps onto code -32; each
 * block keeps the 6-bit code nearest to its own scale, stored offset by 32 (low nibbles
 * in scales_l, high bit pairs in scales_h). */
static void xs_superblock(const float *x, const float *qw, block_iq4_xs *y)
{
	float scales[QK_K / IQ4_BLOCK], w[IQ4_BLOCK];
	float sigma2 = qw ? twice_mean_square(x, QK_K) : 0;
	float max_scale = 0, amax_scale = 0;
	for (int ib = 0; ib < QK_K / IQ4_BLOCK; ++ib) {
		fit_weights(x + ib * IQ4_BLOCK, qw ? qw + ib * IQ4_BLOCK : NULL, sigma2, w);
		scales[ib] = block_scale(x + ib * IQ4_BLOCK, w);
		if (fabsf(scales[ib]) > amax_scale) {
			amax_scale = fabsf(scales[ib]);
			max_scale = scales[ib];
		}
	}
	float d = -max_scale / 32;
	y->d = quant_fp16(d);
	y->scales_h = 0;
	float id = d ? 1 / d : 0.f;
	for (int ib = 0; ib < QK_K / IQ4_BLOCK; ++ib) {
		int l = nearest_int(id * scales[ib]);
		l = l < -32 ? -32 : l > 31 ? 31 : l;
		float dl = d * l;
		pack_block(x + ib * IQ4_BLOCK, dl ? 1 / dl : 0.f, y->qs + ib * (IQ4_BLOCK / 2));
		l += 32;
		if (ib % 2 == 0)
			y->scales_l[ib / 2] = (uint8_t)(l & 0xf);
		else
			y->scales_l[ib / 2] |= (uint8_t)((l & 0xf) << 4);
		y->scales_h |= (uint16_t)((l >> 4) << (2 * ib));
	}
}

void quant_ref_iq4_xs(const float *x, void *out, int64_t n, const float *qw)
{
	block_iq4_xs *y = out;
	for (int64_t i = 0; i < n / QK_K; i++)
		xs_superblock(x + i * QK_K, qw ? qw + i * QK_K : NULL, y + i);
}
