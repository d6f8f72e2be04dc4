/* The vectorised quantizers, written once against a small vector layer and included by
 * quant_avx2.c, quant_avx512.c and quant_neon.c, which define that layer (types vf, vi,
 * vm with VL lanes, the VI/VK function attributes, S() naming) before including this.
 *
 * How the K-quant searches stay byte-identical to the scalar reference: each lane runs
 * the reference algorithm for one sub-block, element after element, in the reference's
 * order. No reduction is reordered, no division becomes a reciprocal multiply, no
 * multiply-add is fused; a data-dependent `if` becomes a per-lane mask. The vector
 * min/max used are the x86 ones (a < b ? a : b), which are exactly the reference's
 * `if (x < min) min = x` including signed zeros. Blocks holding a NaN or an infinity go
 * to the scalar reference (NaN payload and sign propagation is the one thing lanes could
 * do differently).
 *
 * The legacy types (block 32) are vectorised across the 32 elements of a block: their
 * only reductions are max/min, which do not depend on order, plus the reference's
 * "first element wins" tie rule, reproduced explicitly. */

#define NV (32 / VL)
#define ALIGNED _Alignas(64)

/* ---- small helpers on top of the layer --------------------------------------------------- */

VI vi vi_nearest(vf v)
{
	vf t = vf_add(v, vf_set1(12582912.f));
	return vi_sub(vi_and(vi_bits(t), vi_set1(0x007fffff)), vi_set1(0x00400000));
}

VI vi vi_clamp(vi v, int lo, int hi)
{
	return vi_max(vi_set1(lo), vi_min(vi_set1(hi), v));
}

VI vf vf_neg(vf v)
{
	return vf_from_bits(vi_xor(vi_bits(v), vi_set1((int32_t)0x80000000)));
}

/* (int8_t) of a truncating float cast, sign-extended back to 32 bits. */
VI vi vi_trunc_i8(vf v)
{
	return vi_srai24(vi_shl24(vi_trunc(v)));
}

VK int S(all_finite)(const float *x, int n)
{
	vm bad = vm_none();
	for (int i = 0; i < n; i += VL) {
		vi e = vi_and(vi_bits(vf_load(x + i)), vi_set1(0x7f800000));
		bad = vm_or(bad, vi_eq(e, vi_set1(0x7f800000)));
	}
	return !vm_any(bad);
}

/* Index of the first of the n elements whose value equals v (IEEE ==); n if none. */
VK int S(first_equal)(const vf *xv, int n, float v, int absolute)
{
	vf t = vf_set1(v);
	for (int j = 0; j < n / VL; j++) {
		uint32_t bits = vm_bits(vf_eq(absolute ? vf_abs(xv[j]) : xv[j], t));
		if (bits)
			return j * VL + __builtin_ctz(bits);
	}
	return n;
}

/* ---- F16 / BF16 ---------------------------------------------------------------------- */

VK void S(row_f16)(const float *x, void *out, int64_t n)
{
	uint16_t *y = out;
	int64_t i = 0;
	for (; i + VL <= n; i += VL)
		vf_store_fp16(y + i, vf_load(x + i));
	for (; i < n; i++)
		y[i] = quant_fp16(x[i]);
}

VK void S(row_bf16)(const float *x, void *out, int64_t n)
{
	uint16_t *y = out;
	int64_t i = 0;
	for (; i + VL <= n; i += VL) {
		vi u = vi_bits(vf_load(x + i));
		vm nan = vi_gt(vi_and(u, vi_set1(0x7fffffff)), vi_set1(0x7f800000));
		vi q = vi_or(vi_srl16(u), vi_set1(64));
		vi r = vi_srl16(vi_add(u, vi_add(vi_set1(0x7fff), vi_and(vi_srl16(u), vi_set1(1)))));
		vi_store_u16(y + i, vi_blend(nan, q, r));
	}
	for (; i < n; i++)
		y[i] = quant_fp32_to_bf16(x[i]);
}

/* F16C/FCVT widening is exact for every half, subnormals included, and quiets a
 * signalling NaN as the reference's multiply does: the same bits for all 65,536 inputs. */
VK void S(dequant_f16)(const void *src, float *y, int64_t n)
{
	const unsigned char *x = src;
	int64_t i = 0;
	for (; i + VL <= n; i += VL)
		vf_store(y + i, vf_load_fp16(x + 2 * i));
	for (; i < n; i++)
		y[i] = quant_fp32(quant_load16(x + 2 * i));
}

VK void S(dequant_bf16)(const void *src, float *y, int64_t n)
{
	const unsigned char *x = src;
	int64_t i = 0;
	for (; i + VL <= n; i += VL)
		vf_store(y + i, vf_from_bits(vi_shl16(vi_load_u16(x + 2 * i))));
	for (; i < n; i++)
		y[i] = quant_float((uint32_t)quant_load16(x + 2 * i) << 16);
}

/* ---- legacy types, one block of 32 at a time ------------------------------------------ */

VK void S(row_q8_0)(const float *x, void *out, int64_t k)
{
	block_q8_0 *y = out;
	for (int64_t i = 0; i < k / QK8_0; i++) {
		const float *xb = x + i * QK8_0;
		if (!S(all_finite)(xb, QK8_0)) {
			quant_ref_q8_0(xb, &y[i], QK8_0);
			continue;
		}
		vf xv[NV];
		vf amax = vf_zero();
		for (int v = 0; v < NV; v++) {
			xv[v] = vf_load(xb + v * VL);
			amax = vf_max_c(vf_abs(xv[v]), amax);
		}
		const float d = vf_hmax(amax) / ((1 << 7) - 1);
		const float id = d ? 1.0f / d : 0.0f;
		y[i].d = quant_fp16(d);
		for (int v = 0; v < NV; v++)
			vi_store_u8((uint8_t *)y[i].qs + v * VL,
				    vi_trunc(vf_round_away(vf_mul(xv[v], vf_set1(id)))));
	}
}

/* max and amax of Q4_0/Q5_0: the element of largest magnitude, the first one on ties,
 * +0 when all are zero (the reference's initial value). */
VK float S(signed_max)(const float *xb, const vf *xv)
{
	vf amax = vf_zero();
	for (int v = 0; v < NV; v++)
		amax = vf_max_c(vf_abs(xv[v]), amax);
	float am = vf_hmax(amax);
	if (am == 0)
		return 0.0f;
	return xb[S(first_equal)(xv, 32, am, 1)];
}

VK void S(row_q4_0)(const float *x, void *out, int64_t k)
{
	block_q4_0 *y = out;
	for (int64_t i = 0; i < k / QK4_0; i++) {
		const float *xb = x + i * QK4_0;
		if (!S(all_finite)(xb, QK4_0)) {
			quant_ref_q4_0(xb, &y[i], QK4_0);
			continue;
		}
		vf xv[NV];
		for (int v = 0; v < NV; v++)
			xv[v] = vf_load(xb + v * VL);
		const float max = S(signed_max)(xb, xv);
		const float d = max / -8;
		const float id = d ? 1.0f / d : 0.0f;
		y[i].d = quant_fp16(d);
		vi q[NV];
		for (int v = 0; v < NV; v++)
			q[v] = vi_min(vi_trunc_i8(vf_add(vf_mul(xv[v], vf_set1(id)), vf_set1(8.5f))),
				      vi_set1(15));
		for (int v = 0; v < NV / 2; v++)
			vi_store_u8(y[i].qs + v * VL,
				    vi_or(vi_and(q[v], vi_set1(0xff)), vi_shl4(q[v + NV / 2])));
	}
}

VK void S(row_q5_0)(const float *x, void *out, int64_t k)
{
	block_q5_0 *y = out;
	for (int64_t i = 0; i < k / QK4_0; i++) {
		const float *xb = x + i * QK4_0;
		if (!S(all_finite)(xb, QK4_0)) {
			quant_ref_q5_0(xb, &y[i], QK4_0);
			continue;
		}
		vf xv[NV];
		for (int v = 0; v < NV; v++)
			xv[v] = vf_load(xb + v * VL);
		const float max = S(signed_max)(xb, xv);
		const float d = max / -16;
		const float id = d ? 1.0f / d : 0.0f;
		y[i].d = quant_fp16(d);
		vi q[NV];
		uint32_t qh = 0;
		for (int v = 0; v < NV; v++) {
			q[v] = vi_min(vi_trunc_i8(vf_add(vf_mul(xv[v], vf_set1(id)), vf_set1(16.5f))),
				      vi_set1(31));
			qh |= vm_bits(vi_ne(vi_and(q[v], vi_set1(0x10)), vi_zero())) << (v * VL);
		}
		for (int v = 0; v < NV / 2; v++)
			vi_store_u8(y[i].qs + v * VL, vi_or(vi_and(q[v], vi_set1(0x0f)),
							    vi_shl4(vi_and(q[v + NV / 2], vi_set1(0x0f)))));
		memcpy(&y[i].qh, &qh, sizeof(qh));
	}
}

/* min and max of Q4_1/Q5_1 as the reference's strict comparisons leave them: on a zero
 * result, the sign of the first zero. */
VK void S(min_max)(const float *xb, const vf *xv, float *minp, float *maxp)
{
	vf mn = xv[0], mx = xv[0];
	for (int v = 1; v < NV; v++) {
		mn = vf_min_c(xv[v], mn);
		mx = vf_max_c(xv[v], mx);
	}
	float min = vf_hmin(mn), max = vf_hmax(mx);
	if (min == 0)
		min = xb[S(first_equal)(xv, 32, 0.0f, 0)];
	if (max == 0)
		max = xb[S(first_equal)(xv, 32, 0.0f, 0)];
	*minp = min;
	*maxp = max;
}

VK void S(row_q4_1)(const float *x, void *out, int64_t k)
{
	block_q4_1 *y = out;
	for (int64_t i = 0; i < k / QK4_0; i++) {
		const float *xb = x + i * QK4_0;
		if (!S(all_finite)(xb, QK4_0)) {
			quant_ref_q4_1(xb, &y[i], QK4_0);
			continue;
		}
		vf xv[NV];
		for (int v = 0; v < NV; v++)
			xv[v] = vf_load(xb + v * VL);
		float min, max;
		S(min_max)(xb, xv, &min, &max);
		const float d = (max - min) / ((1 << 4) - 1);
		const float id = d ? 1.0f / d : 0.0f;
		y[i].d = quant_fp16(d);
		y[i].m = quant_fp16(min);
		vi q[NV];
		for (int v = 0; v < NV; v++)
			q[v] = vi_min(vi_trunc_i8(vf_add(vf_mul(vf_sub(xv[v], vf_set1(min)), vf_set1(id)),
							 vf_set1(0.5f))),
				      vi_set1(15));
		for (int v = 0; v < NV / 2; v++)
			vi_store_u8(y[i].qs + v * VL,
				    vi_or(vi_and(q[v], vi_set1(0xff)), vi_shl4(q[v + NV / 2])));
	}
}

VK void S(row_q5_1)(const float *x, void *out, int64_t k)
{
	block_q5_1 *y = out;
	for (int64_t i = 0; i < k / QK4_0; i++) {
		const float *xb = x + i * QK4_0;
		if (!S(all_finite)(xb, QK4_0)) {
			quant_ref_q5_1(xb, &y[i], QK4_0);
			continue;
		}
		vf xv[NV];
		for (int v = 0; v < NV; v++)
			xv[v] = vf_load(xb + v * VL);
		float min, max;
		S(min_max)(xb, xv, &min, &max);
		const float d = (max - min) / ((1 << 5) - 1);
		const float id = d ? 1.0f / d : 0.0f;
		y[i].d = quant_fp16(d);
		y[i].m = quant_fp16(min);
		vi q[NV];
		uint32_t qh = 0;
		for (int v = 0; v < NV; v++) {
			q[v] = vi_trunc(
				vf_add(vf_mul(vf_sub(xv[v], vf_set1(min)), vf_set1(id)), vf_set1(0.5f)));
			qh |= vm_bits(vi_ne(vi_and(q[v], vi_set1(0x10)), vi_zero())) << (v * VL);
		}
		for (int v = 0; v < NV / 2; v++)
			vi_store_u8(y[i].qs + v * VL, vi_or(vi_and(q[v], vi_set1(0x0f)),
							    vi_shl4(vi_and(q[v + NV / 2], vi_set1(0x0f)))));
		memcpy(&y[i].qh, &qh, sizeof(qh));
	}
}

/* ---- the K-quant searches, one sub-block per lane ---------------------------------------- */

/* make_qkx2_quants for VL sub-blocks of n values: xt and wt hold value i of every lane at
 * [i*VL + lane]. Results per lane: scale, the_min, levels L (at [i*VL + lane]). */
VI void S(qkx2_group)(int n, int nmax, const float *xt, const float *wt, float rmin, float rdelta, int nstep,
		      int use_mad, float *scale_out, float *the_min_out, int32_t *Lt)
{
	ALIGNED float laux[32 * VL];
	ALIGNED float lbest[32 * VL];
	vf min = vf_load(xt), max = min;
	vf sum_w = vf_load(wt);
	vf sum_x = vf_mul(sum_w, min);
	for (int i = 1; i < n; i++) {
		vf x = vf_load(xt + i * VL), w = vf_load(wt + i * VL);
		min = vf_min_c(x, min);
		max = vf_max_c(x, max);
		sum_w = vf_add(sum_w, w);
		sum_x = vf_add(sum_x, vf_mul(w, x));
	}
	min = vf_min_c(vf_zero(), min); /* if (min > 0) min = 0 */
	const vf min0 = min;
	const vm degenerate = vf_eq(max, min);
	vf iscale = vf_div(vf_set1((float)nmax), vf_sub(max, min));
	vf scale = vf_div(vf_set1(1.0f), iscale);
	vf best = vf_zero();
	for (int i = 0; i < n; i++) {
		vf x = vf_load(xt + i * VL), w = vf_load(wt + i * VL);
		vf l = vi_to_vf(vi_clamp(vi_nearest(vf_mul(iscale, vf_sub(x, min))), 0, nmax));
		vf_store(lbest + i * VL, l);
		vf diff = vf_sub(vf_add(vf_mul(scale, l), min), x);
		diff = use_mad ? vf_abs(diff) : vf_mul(diff, diff);
		best = vf_add(best, vf_mul(w, diff));
	}
	/* min changes when a candidate wins: the next candidates use the new one, in
	 * iscale and in x - min, as in the reference. */
	for (int is = 0; is <= nstep; ++is) {
		const float c = rmin + rdelta * is + nmax;
		iscale = vf_div(vf_set1(c), vf_sub(max, min));
		vf sum_l = vf_zero(), sum_l2 = vf_zero(), sum_xl = vf_zero();
		for (int i = 0; i < n; i++) {
			vf x = vf_load(xt + i * VL), w = vf_load(wt + i * VL);
			vf l = vi_to_vf(vi_clamp(vi_nearest(vf_mul(iscale, vf_sub(x, min))), 0, nmax));
			vf_store(laux + i * VL, l);
			vf wl = vf_mul(w, l);
			sum_l = vf_add(sum_l, wl);
			sum_l2 = vf_add(sum_l2, vf_mul(wl, l));
			sum_xl = vf_add(sum_xl, vf_mul(wl, x));
		}
		vf D = vf_sub(vf_mul(sum_w, sum_l2), vf_mul(sum_l, sum_l));
		vm ok = vf_gt(D, vf_zero());
		if (!vm_any(ok))
			continue;
		vf this_scale = vf_div(vf_sub(vf_mul(sum_w, sum_xl), vf_mul(sum_x, sum_l)), D);
		vf this_min = vf_div(vf_sub(vf_mul(sum_l2, sum_x), vf_mul(sum_l, sum_xl)), D);
		vm pos = vf_gt(this_min, vf_zero());
		this_min = vf_blend(pos, vf_zero(), this_min);
		this_scale = vf_blend(pos, vf_div(sum_xl, sum_l2), this_scale);
		vf cur = vf_zero();
		for (int i = 0; i < n; i++) {
			vf diff = vf_sub(vf_add(vf_mul(this_scale, vf_load(laux + i * VL)), this_min),
					 vf_load(xt + i * VL));
			diff = use_mad ? vf_abs(diff) : vf_mul(diff, diff);
			cur = vf_add(cur, vf_mul(vf_load(wt + i * VL), diff));
		}
		vm better = vm_and(ok, vf_lt(cur, best));
		if (!vm_any(better))
			continue;
		for (int i = 0; i < n; i++)
			vf_store(lbest + i * VL,
				 vf_blend(better, vf_load(laux + i * VL), vf_load(lbest + i * VL)));
		best = vf_blend(better, cur, best);
		scale = vf_blend(better, this_scale, scale);
		min = vf_blend(better, this_min, min);
	}
	vf_store(scale_out, vf_blend(degenerate, vf_zero(), scale));
	vf_store(the_min_out, vf_neg(vf_blend(degenerate, min0, min)));
	for (int i = 0; i < n; i++)
		vi_store(Lt + i * VL, vi_blend(degenerate, vi_zero(), vf_to_vi(vf_load(lbest + i * VL))));
}

/* make_qx_quants(16, nmax, x, L, rmse_type 1, NULL) per lane (Q6_K). */
VI void S(qx_group)(int n, int nmax, const float *xt, float *scale_out, int32_t *Lt)
{
	ALIGNED float wt[16 * VL];
	ALIGNED float wxt[16 * VL];
	ALIGNED int32_t laux[16 * VL];
	vf amax = vf_zero(), max = vf_zero();
	for (int i = 0; i < n; i++) {
		vf x = vf_load(xt + i * VL);
		vf ax = vf_abs(x);
		vm gt = vf_gt(ax, amax);
		amax = vf_blend(gt, ax, amax);
		max = vf_blend(gt, x, max);
		vf w = vf_mul(x, x);
		vf_store(wt + i * VL, w);
		vf_store(wxt + i * VL, vf_mul(w, x));
	}
	const vm degenerate = vf_lt(amax, vf_set1(GROUP_MAX_EPS));
	vf iscale = vf_div(vf_set1((float)-nmax), max);
	vf sumlx = vf_zero(), suml2 = vf_zero();
	for (int i = 0; i < n; i++) {
		vi li = vi_clamp(vi_nearest(vf_mul(iscale, vf_load(xt + i * VL))), -nmax, nmax - 1);
		vi_store(Lt + i * VL, li);
		vf l = vi_to_vf(li);
		sumlx = vf_add(sumlx, vf_mul(vf_load(wxt + i * VL), l));
		suml2 = vf_add(suml2, vf_mul(vf_mul(vf_load(wt + i * VL), l), l));
	}
	vf scale = vf_blend(vf_eq(suml2, vf_zero()), vf_zero(), vf_div(sumlx, suml2));
	vf best = vf_mul(scale, sumlx);
	for (int is = -9; is <= 9; ++is) {
		if (is == 0)
			continue;
		const float c = -(nmax + 0.1f * is);
		iscale = vf_div(vf_set1(c), max);
		sumlx = suml2 = vf_zero();
		for (int i = 0; i < n; i++) {
			vi li = vi_clamp(vi_nearest(vf_mul(iscale, vf_load(xt + i * VL))), -nmax, nmax - 1);
			vi_store(laux + i * VL, li);
			vf l = vi_to_vf(li);
			sumlx = vf_add(sumlx, vf_mul(vf_load(wxt + i * VL), l));
			suml2 = vf_add(suml2, vf_mul(vf_mul(vf_load(wt + i * VL), l), l));
		}
		vm better = vm_and(vf_gt(suml2, vf_zero()), vf_gt(vf_mul(sumlx, sumlx), vf_mul(best, suml2)));
		if (!vm_any(better))
			continue;
		for (int i = 0; i < n; i++)
			vi_store(Lt + i * VL, vi_blend(better, vi_load(laux + i * VL), vi_load(Lt + i * VL)));
		scale = vf_blend(better, vf_div(sumlx, suml2), scale);
		best = vf_blend(better, vf_mul(scale, sumlx), best);
	}
	vf_store(scale_out, vf_blend(degenerate, vf_zero(), scale));
	for (int i = 0; i < n; i++)
		vi_store(Lt + i * VL,
			 vi_blend(degenerate, vi_zero(), vi_add(vi_load(Lt + i * VL), vi_set1(nmax))));
}

/* make_q3_quants(16, nmax, x, L, do_rmse) per lane (Q3_K). A lane whose pass changed
 * nothing would change nothing in the next pass either, so running the passes until no
 * lane changes is the reference's per-lane early exit. */
VI void S(q3_group)(int n, int nmax, const float *xt, float *scale_out, int32_t *Lt)
{
	ALIGNED float wt[16 * VL];
	ALIGNED float wxt[16 * VL];
	vf amax = vf_zero(), max = vf_zero();
	for (int i = 0; i < n; i++) {
		vf x = vf_load(xt + i * VL);
		vf ax = vf_abs(x);
		vm gt = vf_gt(ax, amax);
		amax = vf_blend(gt, ax, amax);
		max = vf_blend(gt, x, max);
		vf w = vf_mul(x, x);
		vf_store(wt + i * VL, w);
		vf_store(wxt + i * VL, vf_mul(w, x));
	}
	const vm degenerate = vf_lt(amax, vf_set1(GROUP_MAX_EPS));
	vf iscale = vf_div(vf_set1((float)-nmax), max);
	vf sumlx = vf_zero(), suml2 = vf_zero();
	for (int i = 0; i < n; i++) {
		vi li = vi_clamp(vi_nearest(vf_mul(iscale, vf_load(xt + i * VL))), -nmax, nmax - 1);
		vi_store(Lt + i * VL, li);
		vf l = vi_to_vf(li);
		sumlx = vf_add(sumlx, vf_mul(vf_load(wxt + i * VL), l));
		suml2 = vf_add(suml2, vf_mul(vf_mul(vf_load(wt + i * VL), l), l));
	}
	for (int itry = 0; itry < 5; ++itry) {
		vm changed = vm_none();
		for (int i = 0; i < n; i++) {
			vf w = vf_load(wt + i * VL), wx = vf_load(wxt + i * VL);
			vi Li = vi_load(Lt + i * VL);
			vf L = vi_to_vf(Li);
			vf slx = vf_sub(sumlx, vf_mul(wx, L));
			vm pos = vf_gt(slx, vf_zero());
			if (!vm_any(pos))
				continue;
			vf sl2 = vf_sub(suml2, vf_mul(vf_mul(w, L), L));
			vi nl = vi_clamp(vi_nearest(vf_div(vf_mul(vf_load(xt + i * VL), sl2), slx)), -nmax,
					 nmax - 1);
			vm differs = vm_and(pos, vi_ne(nl, Li));
			if (!vm_any(differs))
				continue;
			vf nlf = vi_to_vf(nl);
			slx = vf_add(slx, vf_mul(wx, nlf));
			sl2 = vf_add(sl2, vf_mul(vf_mul(w, nlf), nlf));
			vm take = vm_and(differs, vm_and(vf_gt(sl2, vf_zero()),
							 vf_gt(vf_mul(vf_mul(slx, slx), suml2),
							       vf_mul(vf_mul(sumlx, sumlx), sl2))));
			vi_store(Lt + i * VL, vi_blend(take, nl, Li));
			sumlx = vf_blend(take, slx, sumlx);
			suml2 = vf_blend(take, sl2, suml2);
			changed = vm_or(changed, take);
		}
		if (!vm_any(changed))
			break;
	}
	vf scale = vf_blend(vf_gt(suml2, vf_zero()), vf_div(sumlx, suml2), vf_zero());
	vf_store(scale_out, vf_blend(degenerate, vf_zero(), scale));
	for (int i = 0; i < n; i++)
		vi_store(Lt + i * VL,
			 vi_blend(degenerate, vi_zero(), vi_add(vi_load(Lt + i * VL), vi_set1(nmax))));
}

/* ---- K-quant rows: batches of super-blocks whose sub-blocks fill whole vectors --------- */

/* The reference's requantization (quant_ref.c requant), element-wise. */
VK void S(requant)(const float *x, int sb, int nsub, const float *d, const float *dm, int lo, int hi,
		   int offset, uint8_t *L)
{
	for (int j = 0; j < nsub; ++j) {
		if (!d[j])
			continue;
		const vf dv = vf_set1(d[j]);
		for (int i = 0; i < sb; i += VL) {
			vf v = vf_load(x + sb * j + i);
			if (dm)
				v = vf_add(v, vf_set1(dm[j]));
			vi l = vi_clamp(vi_nearest(vf_div(v, dv)), lo, hi);
			vi_store_u8(L + sb * j + i, vi_add(l, vi_set1(offset)));
		}
	}
}

/* One specialised copy of each search per type: constant sizes and options let the
 * compiler unroll and drop the untaken branches. */
VK void S(search_q2_K)(const float *xt, const float *wt, float *sc, float *mn, int32_t *Lt)
{
	S(qkx2_group)(16, 3, xt, wt, -0.5f, 0.1f, 15, 1, sc, mn, Lt);
}

VK void S(search_q4_K)(const float *xt, const float *wt, float *sc, float *mn, int32_t *Lt)
{
	S(qkx2_group)(32, 15, xt, wt, -1.f, 0.1f, 20, 0, sc, mn, Lt);
}

VK void S(search_q5_K)(const float *xt, const float *wt, float *sc, float *mn, int32_t *Lt)
{
	S(qkx2_group)(32, 31, xt, wt, -0.5f, 0.1f, 15, 0, sc, mn, Lt);
}

VK void S(search_q3_K)(const float *xt, float *sc, int32_t *Lt)
{
	S(q3_group)(16, 4, xt, sc, Lt);
}

VK void S(search_q6_K)(const float *xt, float *sc, int32_t *Lt)
{
	S(qx_group)(16, 32, xt, sc, Lt);
}

/* Copies sub-blocks first..first+VL-1 (of sb values each, `count` of them real, the rest
 * zero) into lane layout. */
VK void S(transpose_in)(const float *x, int sb, int first, int count, float *xt)
{
	for (int lane = 0; lane < VL; lane++) {
		int s = first + lane;
		for (int i = 0; i < sb; i++)
			xt[i * VL + lane] = s < count ? x[s * sb + i] : 0.0f;
	}
}

#define KQ_BATCH(spb) ((VL) > (spb) ? (VL) / (spb) : 1) /* super-blocks per batch */

VK void S(row_q4_K_or_q5_K)(const float *x, void *out, int64_t k, int q5)
{
	enum { SPB = 8, B = KQ_BATCH(8) };
	const int64_t nb = k / QK_K;
	ALIGNED float xt[32 * VL];
	ALIGNED float wt[32 * VL];
	ALIGNED int32_t Lt[32 * VL];
	ALIGNED float sc[VL], mn[VL];
	float scales[B * SPB], mins[B * SPB];
	uint8_t L[B * QK_K];
	for (int64_t b0 = 0; b0 < nb; b0 += B) {
		const int cnt = (int)(nb - b0 < B ? nb - b0 : B);
		const float *xb = x + b0 * QK_K;
		if (!S(all_finite)(xb, cnt * QK_K)) {
			if (q5)
				quant_ref_q5_K(xb, (block_q5_K *)out + b0, cnt * QK_K);
			else
				quant_ref_q4_K(xb, (block_q4_K *)out + b0, cnt * QK_K);
			continue;
		}
		for (int g = 0; g < cnt * SPB; g += VL) {
			S(transpose_in)(xb, 32, g, cnt * SPB, xt);
			vf sum_x2 = vf_zero();
			for (int i = 0; i < 32; i++) {
				vf v = vf_load(xt + i * VL);
				sum_x2 = vf_add(sum_x2, vf_mul(v, v));
			}
			vf av_x = vf_sqrt(vf_div(sum_x2, vf_set1(32.0f)));
			for (int i = 0; i < 32; i++)
				vf_store(wt + i * VL, vf_add(av_x, vf_abs(vf_load(xt + i * VL))));
			if (q5)
				S(search_q5_K)(xt, wt, sc, mn, Lt);
			else
				S(search_q4_K)(xt, wt, sc, mn, Lt);
			for (int lane = 0; lane < VL && g + lane < cnt * SPB; lane++) {
				int s = g + lane;
				scales[s] = sc[lane];
				mins[s] = mn[lane];
				for (int i = 0; i < 32; i++)
					L[s * 32 + i] = (uint8_t)Lt[i * VL + lane];
			}
		}
		for (int j = 0; j < cnt; j++) {
			float d[SPB], dm[SPB];
			block_q4_K *y4 = (block_q4_K *)out + b0 + j;
			block_q5_K *y5 = (block_q5_K *)out + b0 + j;
			if (q5)
				quant_scales_q5_K(scales + j * SPB, mins + j * SPB, y5, d, dm);
			else
				quant_scales_q4_K(scales + j * SPB, mins + j * SPB, y4, d, dm);
			S(requant)(xb + j * QK_K, 32, SPB, d, dm, 0, q5 ? 31 : 15, 0, L + j * QK_K);
			if (q5)
				quant_pack_q5_K(L + j * QK_K, y5);
			else
				quant_pack_q4_K(L + j * QK_K, y4);
		}
	}
}

VK void S(row_q4_K)(const float *x, void *out, int64_t k)
{
	S(row_q4_K_or_q5_K)(x, out, k, 0);
}

VK void S(row_q5_K)(const float *x, void *out, int64_t k)
{
	S(row_q4_K_or_q5_K)(x, out, k, 1);
}

/* Q2_K, Q3_K, Q6_K: 16 sub-blocks of 16 per super-block. */
enum { KIND_Q2_K, KIND_Q3_K, KIND_Q6_K };

VK void S(row_16)(const float *x, void *out, int64_t k, int kind)
{
	enum { SPB = 16, B = KQ_BATCH(16) };
	const int64_t nb = k / QK_K;
	ALIGNED float xt[16 * VL];
	ALIGNED float wt[16 * VL];
	ALIGNED int32_t Lt[16 * VL];
	ALIGNED float sc[VL], mn[VL];
	float scales[B * SPB], mins[B * SPB];
	uint8_t L[B * QK_K];
	for (int64_t b0 = 0; b0 < nb; b0 += B) {
		const int cnt = (int)(nb - b0 < B ? nb - b0 : B);
		const float *xb = x + b0 * QK_K;
		if (!S(all_finite)(xb, cnt * QK_K)) {
			if (kind == KIND_Q2_K)
				quant_ref_q2_K(xb, (block_q2_K *)out + b0, cnt * QK_K);
			else if (kind == KIND_Q3_K)
				quant_ref_q3_K(xb, (block_q3_K *)out + b0, cnt * QK_K);
			else
				quant_ref_q6_K(xb, (block_q6_K *)out + b0, cnt * QK_K);
			continue;
		}
		for (int g = 0; g < cnt * SPB; g += VL) {
			S(transpose_in)(xb, 16, g, cnt * SPB, xt);
			if (kind == KIND_Q2_K) {
				for (int i = 0; i < 16; i++)
					vf_store(wt + i * VL, vf_abs(vf_load(xt + i * VL)));
				S(search_q2_K)(xt, wt, sc, mn, Lt);
			} else if (kind == KIND_Q3_K) {
				S(search_q3_K)(xt, sc, Lt);
			} else {
				S(search_q6_K)(xt, sc, Lt);
			}
			for (int lane = 0; lane < VL && g + lane < cnt * SPB; lane++) {
				int s = g + lane;
				scales[s] = sc[lane];
				mins[s] = kind == KIND_Q2_K ? mn[lane] : 0.0f;
				for (int i = 0; i < 16; i++)
					L[s * 16 + i] = (uint8_t)Lt[i * VL + lane];
			}
		}
		for (int j = 0; j < cnt; j++) {
			const float *xj = xb + j * QK_K;
			uint8_t *Lj = L + j * QK_K;
			float d[SPB], dm[SPB];
			if (kind == KIND_Q2_K) {
				block_q2_K *y = (block_q2_K *)out + b0 + j;
				quant_scales_q2_K(scales + j * SPB, mins + j * SPB, y, d, dm);
				S(requant)(xj, 16, SPB, d, dm, 0, 3, 0, Lj);
				quant_pack_q2_K(Lj, y);
			} else if (kind == KIND_Q3_K) {
				block_q3_K *y = (block_q3_K *)out + b0 + j;
				quant_scales_q3_K(scales + j * SPB, y, d);
				S(requant)(xj, 16, SPB, d, NULL, -4, 3, 4, Lj);
				quant_pack_q3_K(Lj, y);
			} else {
				block_q6_K *y = (block_q6_K *)out + b0 + j;
				if (quant_scales_q6_K(scales + j * SPB, y, d)) {
					S(requant)(xj, 16, SPB, d, NULL, -32, 31, 32, Lj);
					quant_pack_q6_K(Lj, y);
				}
			}
		}
	}
}

VK void S(row_q2_K)(const float *x, void *out, int64_t k)
{
	S(row_16)(x, out, k, KIND_Q2_K);
}

VK void S(row_q3_K)(const float *x, void *out, int64_t k)
{
	S(row_16)(x, out, k, KIND_Q3_K);
}

VK void S(row_q6_K)(const float *x, void *out, int64_t k)
{
	S(row_16)(x, out, k, KIND_Q6_K);
}

static const struct quant_kernels S(kernels) = {
	.row = {
		[QUANT_F16] = S(row_f16),
		[QUANT_BF16] = S(row_bf16),
		[QUANT_Q4_0] = S(row_q4_0),
		[QUANT_Q4_1] = S(row_q4_1),
		[QUANT_Q5_0] = S(row_q5_0),
		[QUANT_Q5_1] = S(row_q5_1),
		[QUANT_Q8_0] = S(row_q8_0),
		[QUANT_Q2_K] = S(row_q2_K),
		[QUANT_Q3_K] = S(row_q3_K),
		[QUANT_Q4_K] = S(row_q4_K),
		[QUANT_Q5_K] = S(row_q5_K),
		[QUANT_Q6_K] = S(row_q6_K),
	},
	.to_f32 = {
		[QUANT_F16] = S(dequant_f16),
		[QUANT_BF16] = S(dequant_bf16),
	},
};
