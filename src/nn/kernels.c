/*
 * Compute kernels for the heavy operators on NCHW float32: convolution (im2col + sgemm, a
 * direct path for 1x1 stride-1 convolutions, a direct depthwise kernel), transposed
 * convolution (sgemm + col2im), max/average pooling and Resize, with the bias, residual and
 * activation epilogue fused into the convolution. Semantics follow the ONNX operator
 * definitions (Conv-11, ConvTranspose-11, MaxPool-12, AveragePool-11, Resize-13). The kernels
 * never allocate: scratch comes from the caller, sized by nn_conv_scratch().
 */
#include "config.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

#include "nn/nn_impl.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
/* branch-free ReLU; max(0, v) keeps NaN as NaN like the scalar form below */
__attribute__((target("avx2"))) static int64_t relu_avx2(float *x, int64_t n)
{
	const __m256 zero = _mm256_setzero_ps();
	int64_t i = 0;
	for (; i + 8 <= n; i += 8)
		_mm256_storeu_ps(x + i, _mm256_max_ps(zero, _mm256_loadu_ps(x + i)));
	return i;
}
#endif

void nn_act_apply(int act, float a0, float a1, float *x, int64_t n)
{
	switch (act) {
	case ACT_RELU: {
		int64_t i = 0;
#if defined(__x86_64__) && defined(__GNUC__)
		if (n >= 8 && __builtin_cpu_supports("avx2"))
			i = relu_avx2(x, n);
#endif
		for (; i < n; i++)
			x[i] = x[i] < 0 ? 0 : x[i];
		break;
	}
	case ACT_LEAKY:
		for (int64_t i = 0; i < n; i++)
			x[i] = x[i] >= 0 ? x[i] : x[i] * a0;
		break;
	case ACT_SIGMOID:
		for (int64_t i = 0; i < n; i++)
			x[i] = 1.0f / (1.0f + expf(-x[i]));
		break;
	case ACT_TANH:
		for (int64_t i = 0; i < n; i++)
			x[i] = tanhf(x[i]);
		break;
	case ACT_CLIP:
		for (int64_t i = 0; i < n; i++) {
			float v = x[i] < a0 ? a0 : x[i];
			x[i] = v > a1 ? a1 : v;
		}
		break;
	case ACT_HSWISH:
		for (int64_t i = 0; i < n; i++) {
			float t = x[i] / 6.0f + 0.5f;
			t = t < 0 ? 0 : t > 1 ? 1 : t;
			x[i] = x[i] * t;
		}
		break;
	case ACT_HSIGMOID:
		for (int64_t i = 0; i < n; i++) {
			float t = a0 * x[i] + a1;
			x[i] = t < 0 ? 0 : t > 1 ? 1 : t;
		}
		break;
	default:
		break;
	}
}

static int is_pointwise(const struct nn_params *p)
{
	return p->kh == 1 && p->kw == 1 && p->sh == 1 && p->sw == 1 && p->pt == 0 && p->pl == 0 &&
	       p->pb == 0 && p->pr == 0;
}

static int is_depthwise(const struct nn_params *p, int c)
{
	return p->group > 1 && p->group == c;
}

int64_t nn_conv_scratch(const struct nn_params *p, int c, int m, int oh, int ow, int h, int w,
			int transposed)
{
	if (transposed)
		return (int64_t)(m / p->group) * p->kh * p->kw * h * w;
	if (is_pointwise(p) || is_depthwise(p, c))
		return 0;
	return (int64_t)(c / p->group) * p->kh * p->kw * oh * ow;
}

/* col[(ci*kh + i)*kw + j][oy*ow + ox] = x[ci][oy*sh - pt + i*dh][ox*sw - pl + j*dw] or 0 */
static void im2col(const struct nn_params *p, int c, int h, int w, const float *x, int oh,
		   int ow, float *col)
{
	for (int ci = 0; ci < c; ci++) {
		const float *xc = x + (int64_t)ci * h * w;
		for (int i = 0; i < p->kh; i++)
			for (int j = 0; j < p->kw; j++) {
				float *dst = col + ((int64_t)(ci * p->kh + i) * p->kw + j) * oh * ow;
				int xoff = j * p->dw - p->pl;
				/* valid ox range: 0 <= ox*sw + xoff < w */
				int lo = xoff >= 0 ? 0 : (-xoff + p->sw - 1) / p->sw;
				int hi = w - xoff <= 0 ? 0 : (w - xoff + p->sw - 1) / p->sw;
				if (hi > ow)
					hi = ow;
				if (lo > hi)
					lo = hi;
				for (int oy = 0; oy < oh; oy++) {
					int iy = oy * p->sh - p->pt + i * p->dh;
					float *d = dst + (int64_t)oy * ow;
					if (iy < 0 || iy >= h) {
						memset(d, 0, sizeof(float) * ow);
						continue;
					}
					const float *s = xc + (int64_t)iy * w + xoff;
					for (int ox = 0; ox < lo; ox++)
						d[ox] = 0;
					if (p->sw == 1) {
						memcpy(d + lo, s + lo, sizeof(float) * (hi - lo));
					} else {
						for (int ox = lo; ox < hi; ox++)
							d[ox] = s[ox * p->sw];
					}
					for (int ox = hi; ox < ow; ox++)
						d[ox] = 0;
				}
			}
	}
}

/* y[o][.] = act(y[o][.] + bias[o] + sum[o][.]) over m channels of plane size hw */
static void epilogue(const struct nn_params *p, int m, int oh, int ow, float *y,
		     const float *bias, const float *sum)
{
	int64_t hw = (int64_t)oh * ow;
	for (int o = 0; o < m; o++) {
		float *yo = y + (int64_t)o * hw;
		float b = bias ? bias[o] : 0;
		if (sum && p->sum_fh) {
			/* summand nearest-upsampled by (sum_fh, sum_fw) */
			int sw = ow / p->sum_fw;
			const float *so = sum + (int64_t)o * (oh / p->sum_fh) * sw;
			for (int yy = 0; yy < oh; yy++) {
				const float *sr = so + (int64_t)(yy / p->sum_fh) * sw;
				float *yr = yo + (int64_t)yy * ow;
				for (int xx = 0; xx < ow; xx++)
					yr[xx] += b + sr[xx / p->sum_fw];
			}
		} else if (sum) {
			const float *so = sum + (int64_t)o * hw;
			for (int64_t k = 0; k < hw; k++)
				yo[k] += b + so[k];
		} else if (b != 0) {
			for (int64_t k = 0; k < hw; k++)
				yo[k] += b;
		}
		if (p->act != ACT_NONE) {
			nn_act_apply(p->act, p->a0, p->a1, yo, hw);
		}
	}
}

static void depthwise(const struct nn_params *p, int c, int h, int w, const float *x, int m,
		      int oh, int ow, const float *wt, float *y)
{
	int mult = m / c;
	int kh = p->kh, kw = p->kw;
	for (int o = 0; o < m; o++) {
		const float *xc = x + (int64_t)(o / mult) * h * w;
		const float *wk = wt + (int64_t)o * kh * kw;
		float *yo = y + (int64_t)o * oh * ow;
		for (int oy = 0; oy < oh; oy++) {
			for (int ox = 0; ox < ow; ox++) {
				float s = 0;
				int iy0 = oy * p->sh - p->pt, ix0 = ox * p->sw - p->pl;
				for (int i = 0; i < kh; i++) {
					int iy = iy0 + i * p->dh;
					if (iy < 0 || iy >= h)
						continue;
					const float *row = xc + (int64_t)iy * w;
					for (int j = 0; j < kw; j++) {
						int ix = ix0 + j * p->dw;
						if (ix >= 0 && ix < w)
							s += row[ix] * wk[i * kw + j];
					}
				}
				yo[(int64_t)oy * ow + ox] = s;
			}
		}
	}
}

void nn_conv(const struct nn_params *p, int n, int c, int h, int w, const float *x, int m,
	     int oh, int ow, const float *wt, const float *bias, const float *sum, float *y,
	     float *scratch)
{
	int g = p->group, cg = c / g, mg = m / g;
	int64_t ohw = (int64_t)oh * ow, hw = (int64_t)h * w;
	int K = cg * p->kh * p->kw;
	for (int b = 0; b < n; b++) {
		const float *xb = x + (int64_t)b * c * hw;
		float *yb = y + (int64_t)b * m * ohw;
		if (is_depthwise(p, c)) {
			depthwise(p, c, h, w, xb, m, oh, ow, wt, yb);
		} else {
			for (int gi = 0; gi < g; gi++) {
				const float *xg = xb + (int64_t)gi * cg * hw;
				const float *col = xg;
				if (!is_pointwise(p)) {
					im2col(p, cg, h, w, xg, oh, ow, scratch);
					col = scratch;
				}
				cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, mg, (int)ohw,
					    K, 1.0f, wt + (int64_t)gi * mg * K, K, col, (int)ohw,
					    0.0f, yb + (int64_t)gi * mg * ohw, (int)ohw);
			}
		}
		int64_t sum_item = p->sum_fh ? (int64_t)m * ohw / ((int64_t)p->sum_fh * p->sum_fw)
					     : (int64_t)m * ohw;
		epilogue(p, m, oh, ow, yb, bias, sum ? sum + (int64_t)b * sum_item : NULL);
	}
}

void nn_convt(const struct nn_params *p, int n, int c, int h, int w, const float *x, int m,
	      int oh, int ow, const float *wt, const float *bias, float *y, float *scratch)
{
	int g = p->group, cg = c / g, mg = m / g;
	int64_t hw = (int64_t)h * w, ohw = (int64_t)oh * ow;
	int kk = p->kh * p->kw;
	int rows = mg * kk;
	for (int b = 0; b < n; b++) {
		const float *xb = x + (int64_t)b * c * hw;
		float *yb = y + (int64_t)b * m * ohw;
		for (int o = 0; o < m; o++) {
			float bv = bias ? bias[o] : 0;
			float *yo = yb + (int64_t)o * ohw;
			for (int64_t k = 0; k < ohw; k++)
				yo[k] = bv;
		}
		for (int gi = 0; gi < g; gi++) {
			/* col[mg*kh*kw][hw] = W_g^T x_g, W_g = [cg][mg*kh*kw] */
			cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, rows, (int)hw, cg, 1.0f,
				    wt + (int64_t)gi * cg * rows, rows, xb + (int64_t)gi * cg * hw,
				    (int)hw, 0.0f, scratch, (int)hw);
			for (int mo = 0; mo < mg; mo++) {
				float *yo = yb + (int64_t)(gi * mg + mo) * ohw;
				for (int i = 0; i < p->kh; i++)
					for (int j = 0; j < p->kw; j++) {
						const float *cr =
							scratch + ((int64_t)(mo * p->kh + i) * p->kw + j) * hw;
						/* input columns whose output column lands inside */
						int xoff = j * p->dw - p->pl;
						int lo = xoff >= 0 ? 0 : (-xoff + p->sw - 1) / p->sw;
						int hi = ow - xoff <= 0 ? 0 : (ow - xoff + p->sw - 1) / p->sw;
						if (hi > w)
							hi = w;
						for (int iy = 0; iy < h; iy++) {
							int oy = iy * p->sh - p->pt + i * p->dh;
							if (oy < 0 || oy >= oh)
								continue;
							float *yr = yo + (int64_t)oy * ow;
							const float *cx = cr + (int64_t)iy * w;
							if (p->sw == 1) {
								for (int ix = lo; ix < hi; ix++)
									yr[ix + xoff] += cx[ix];
							} else {
								for (int ix = lo; ix < hi; ix++)
									yr[ix * p->sw + xoff] += cx[ix];
							}
						}
					}
			}
		}
		if (p->act != ACT_NONE)
			nn_act_apply(p->act, p->a0, p->a1, yb, m * ohw);
	}
}

#if defined(__x86_64__) && defined(__GNUC__)
/* 2x2 stride-2 max pooling of one plane, no padding: rows pairwise, then column pairs */
__attribute__((target("avx2"))) static void maxpool2x2_avx2(int h, int w, const float *x, int oh,
							    int ow, float *y)
{
	for (int oy = 0; oy < oh; oy++) {
		const float *r0 = x + (int64_t)(2 * oy) * w, *r1 = r0 + w;
		float *d = y + (int64_t)oy * ow;
		int ox = 0;
		for (; ox + 8 <= ow && 2 * ox + 16 <= w; ox += 8) {
			__m256 a = _mm256_max_ps(_mm256_loadu_ps(r0 + 2 * ox), _mm256_loadu_ps(r1 + 2 * ox));
			__m256 b = _mm256_max_ps(_mm256_loadu_ps(r0 + 2 * ox + 8),
						 _mm256_loadu_ps(r1 + 2 * ox + 8));
			__m256 ev = _mm256_shuffle_ps(a, b, 0x88), od = _mm256_shuffle_ps(a, b, 0xdd);
			__m256 mx = _mm256_max_ps(ev, od);
			mx = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(mx), 0xd8));
			_mm256_storeu_ps(d + ox, mx);
		}
		for (; ox < ow; ox++) {
			float m0 = r0[2 * ox] > r0[2 * ox + 1] ? r0[2 * ox] : r0[2 * ox + 1];
			float m1 = r1[2 * ox] > r1[2 * ox + 1] ? r1[2 * ox] : r1[2 * ox + 1];
			d[ox] = m0 > m1 ? m0 : m1;
		}
	}
}
#endif

void nn_pool(const struct nn_params *p, int maxpool, int nc, int h, int w, const float *x,
	     int oh, int ow, float *y)
{
#if defined(__x86_64__) && defined(__GNUC__)
	if (maxpool && p->kh == 2 && p->kw == 2 && p->sh == 2 && p->sw == 2 && p->dh == 1 &&
	    p->dw == 1 && p->pt == 0 && p->pl == 0 && 2 * oh <= h && 2 * ow <= w &&
	    __builtin_cpu_supports("avx2")) {
		for (int64_t pl = 0; pl < nc; pl++)
			maxpool2x2_avx2(h, w, x + pl * h * w, oh, ow, y + pl * oh * ow);
		return;
	}
#endif
	int dh = maxpool ? p->dh : 1, dw = maxpool ? p->dw : 1;
	/* output columns whose whole window is inside the image: no bounds checks there */
	int ox_lo = (p->pl + p->sw - 1) / p->sw;
	int ox_hi = w - 1 - (p->kw - 1) * dw + p->pl;
	ox_hi = ox_hi < 0 ? 0 : ox_hi / p->sw + 1;
	if (ox_hi > ow)
		ox_hi = ow;
	for (int64_t pl = 0; pl < nc; pl++) {
		const float *xp = x + pl * h * w;
		float *yp = y + pl * oh * ow;
		for (int oy = 0; oy < oh; oy++) {
			int ys = oy * p->sh - p->pt;
			int row_in = ys >= 0 && ys + (p->kh - 1) * dh < h;
			for (int ox = 0; ox < ow; ox++) {
				int xs = ox * p->sw - p->pl;
				if (row_in && ox >= ox_lo && ox < ox_hi) {
					const float *wp = xp + (int64_t)ys * w + xs;
					float acc = maxpool ? wp[0] : 0;
					for (int i = 0; i < p->kh; i++)
						for (int j = 0; j < p->kw; j++) {
							float v = wp[(int64_t)i * dh * w + j * dw];
							if (maxpool)
								acc = v > acc ? v : acc;
							else
								acc += v;
						}
					yp[oy * ow + ox] = maxpool ? acc : acc / (p->kh * p->kw);
					continue;
				}
				if (maxpool) {
					float mx = -INFINITY;
					for (int i = 0; i < p->kh; i++) {
						int iy = ys + i * p->dh;
						if (iy < 0 || iy >= h)
							continue;
						for (int j = 0; j < p->kw; j++) {
							int ix = xs + j * p->dw;
							if (ix >= 0 && ix < w && xp[iy * w + ix] > mx)
								mx = xp[iy * w + ix];
						}
					}
					yp[oy * ow + ox] = mx;
				} else {
					float s = 0;
					int cnt = 0;
					for (int i = 0; i < p->kh; i++) {
						int iy = ys + i;
						if (iy < 0 || iy >= h)
							continue;
						for (int j = 0; j < p->kw; j++) {
							int ix = xs + j;
							if (ix >= 0 && ix < w) {
								s += xp[iy * w + ix];
								cnt++;
							}
						}
					}
					if (p->count_include_pad) {
						int ye = ys + p->kh, xe = xs + p->kw;
						if (ye > h + p->pb)
							ye = h + p->pb;
						if (xe > w + p->pr)
							xe = w + p->pr;
						cnt = (ye - ys) * (xe - xs);
					}
					yp[oy * ow + ox] = cnt ? s / cnt : 0;
				}
			}
		}
	}
}

/* Resize coordinate transform (ONNX Resize-13), output index -> input coordinate */
static float src_coord(int ctm, int xo, float scale, int in, int out)
{
	switch (ctm) {
	case 0: /* half_pixel */
		return ((float)xo + 0.5f) / scale - 0.5f;
	case 1: /* asymmetric */
		return (float)xo / scale;
	case 2: /* align_corners */
		return out == 1 ? 0.0f : (float)xo * (float)(in - 1) / (float)(out - 1);
	default: /* pytorch_half_pixel */
		return out > 1 ? ((float)xo + 0.5f) / scale - 0.5f : 0.0f;
	}
}

static int nearest_index(int mode, float c, int in)
{
	float f = floorf(c);
	int r;
	switch (mode) {
	case 0: /* round_prefer_floor */
		r = c - f == 0.5f ? (int)f : (int)floorf(c + 0.5f);
		break;
	case 1: /* round_prefer_ceil */
		r = c - f == 0.5f ? (int)f + 1 : (int)floorf(c + 0.5f);
		break;
	case 2:
		r = (int)f;
		break;
	default:
		r = (int)ceilf(c);
		break;
	}
	return r < 0 ? 0 : r >= in ? in - 1 : r;
}

/* Sets rep_h/rep_w when this nearest resize is an exact integer replication
 * (out[o] = in[o / f] on both axes), which has a fast path and fuses into convolutions. */
void nn_resize_check_replicate(struct nn_params *p, int h, int w, int oh, int ow)
{
	p->rep_h = p->rep_w = 0;
	if (p->linear || oh % h || ow % w)
		return;
	int fh = oh / h, fw = ow / w;
	for (int o = 0; o < oh; o++)
		if (nearest_index(p->nearest_mode, src_coord(p->ctm, o, p->rs_h, h, oh), h) != o / fh)
			return;
	for (int o = 0; o < ow; o++)
		if (nearest_index(p->nearest_mode, src_coord(p->ctm, o, p->rs_w, w, ow), w) != o / fw)
			return;
	p->rep_h = fh;
	p->rep_w = fw;
}

void nn_resize(const struct nn_params *p, int nc, int h, int w, const float *x, int oh, int ow,
	       float *y)
{
	if (p->rep_h) {
		for (int64_t pl = 0; pl < nc; pl++) {
			const float *xp = x + pl * h * w;
			float *yp = y + pl * oh * ow;
			for (int iy = 0; iy < h; iy++) {
				float *row = yp + (int64_t)iy * p->rep_h * ow;
				const float *src = xp + (int64_t)iy * w;
				if (p->rep_w == 2) {
					for (int ix = 0; ix < w; ix++)
						row[2 * ix] = row[2 * ix + 1] = src[ix];
				} else {
					for (int ox = 0; ox < ow; ox++)
						row[ox] = src[ox / p->rep_w];
				}
				for (int r = 1; r < p->rep_h; r++)
					memcpy(row + (int64_t)r * ow, row, sizeof(float) * ow);
			}
		}
		return;
	}
	/* per-column source indices and weights, computed once per call (on the stack for
	 * widths up to RS_TAB; wider images compute them per pixel) */
	enum { RS_TAB = 2048 };
	int cx0[RS_TAB], cx1[RS_TAB];
	float cwx[RS_TAB];
	int tab = ow <= RS_TAB;
	for (int ox = 0; tab && ox < ow; ox++) {
		float cx = src_coord(p->ctm, ox, p->rs_w, w, ow);
		if (!p->linear) {
			cx0[ox] = nearest_index(p->nearest_mode, cx, w);
			continue;
		}
		cx = cx < 0 ? 0 : cx > w - 1 ? (float)(w - 1) : cx;
		cx0[ox] = (int)cx;
		cx1[ox] = cx0[ox] + 1 < w ? cx0[ox] + 1 : w - 1;
		cwx[ox] = cx - cx0[ox];
	}
	for (int64_t pl = 0; pl < nc; pl++) {
		const float *xp = x + pl * h * w;
		float *yp = y + pl * oh * ow;
		for (int oy = 0; oy < oh; oy++) {
			float cy = src_coord(p->ctm, oy, p->rs_h, h, oh);
			float *d = yp + (int64_t)oy * ow;
			if (!p->linear) {
				const float *row = xp + (int64_t)nearest_index(p->nearest_mode, cy, h) * w;
				if (tab) {
					for (int ox = 0; ox < ow; ox++)
						d[ox] = row[cx0[ox]];
				} else {
					for (int ox = 0; ox < ow; ox++)
						d[ox] = row[nearest_index(
							p->nearest_mode,
							src_coord(p->ctm, ox, p->rs_w, w, ow), w)];
				}
				continue;
			}
			cy = cy < 0 ? 0 : cy > h - 1 ? (float)(h - 1) : cy;
			int y0 = (int)cy, y1 = y0 + 1 < h ? y0 + 1 : h - 1;
			float wy = cy - y0;
			const float *r0 = xp + (int64_t)y0 * w, *r1 = xp + (int64_t)y1 * w;
			for (int ox = 0; ox < ow; ox++) {
				int x0, x1;
				float wx;
				if (tab) {
					x0 = cx0[ox];
					x1 = cx1[ox];
					wx = cwx[ox];
				} else {
					float cx = src_coord(p->ctm, ox, p->rs_w, w, ow);
					cx = cx < 0 ? 0 : cx > w - 1 ? (float)(w - 1) : cx;
					x0 = (int)cx;
					x1 = x0 + 1 < w ? x0 + 1 : w - 1;
					wx = cx - x0;
				}
				float top = r0[x0] + (r0[x1] - r0[x0]) * wx;
				float bot = r1[x0] + (r1[x1] - r1[x0]) * wx;
				d[ox] = top + (bot - top) * wy;
			}
		}
	}
}
