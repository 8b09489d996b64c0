/*
 * Fast convolution path for x86-64 CPUs with AVX2 and FMA (chosen at run time; the portable
 * im2col + sgemm path in kernels.c is the fallback and the reference).
 *
 * Idea: no im2col. The input of each item is copied once into a zero-padded, phase-split
 * layout Xq[c][a][b][Hq][Wq] = Xpad[c][y*sh + a][x*sw + b] (for stride 1 just the padded
 * image). Then every filter tap (c, i, j) reads, for output pixel p = oy*Wq + ox, the element
 * Xq[koff[k] + p]: a contiguous run over p. So out[m][p] = sum_k W[m][k] * Xq[koff[k] + p] is a
 * GEMM whose B matrix is addressed through a per-layer table of K offsets, computed by a
 * 4x24 register-blocked AVX2 micro-kernel on weights packed once at load (panels of 4 output
 * channels, [K][4]). Columns ox >= OW of the Wq-wide grid are computed and thrown away by the
 * epilogue, which adds bias and residual, applies the activation and writes NCHW output.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "nn/nn_impl.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HAVE_X86 1
#else
#define HAVE_X86 0
#endif

#define MR 4
#define NR 24

int nn_fast_available(void)
{
#if HAVE_X86
	static int cached = -1;
	if (cached < 0) {
		__builtin_cpu_init();
		cached = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
		const char *e = getenv("DICOMAID_NN_NO_FAST");
		if (e && *e == '1')
			cached = 0;
	}
	return cached;
#else
	return 0;
#endif
}

/* Prepares p for the fast path: offsets, packed weights, sizes. 0 or NN_ENOMEM. */
int nn_fast_setup(struct nn_params *p, int c, int h, int w, int m, int oh, int ow)
{
	int g = p->group, cg = c / g, mg = m / g;
	int hp = h + p->pt + p->pb, wp = w + p->pl + p->pr;
	p->direct_in = p->kh == 1 && p->kw == 1 && p->sh == 1 && p->sw == 1 && p->pt == 0 &&
		       p->pl == 0 && p->pb == 0 && p->pr == 0;
	p->hq = (hp + p->sh - 1) / p->sh;
	p->wq = (wp + p->sw - 1) / p->sw;
	p->oh = oh;
	p->ow = ow;
	int64_t plane = (int64_t)p->hq * p->wq;
	p->nq = (int64_t)c * p->sh * p->sw * plane;
	p->npix = ((int64_t)oh * p->wq + NR - 1) / NR * NR;
	p->mpad = (mg + MR - 1) / MR * MR;
	int K = cg * p->kh * p->kw;
	p->kdim = K;
	p->koff = malloc(sizeof(int) * K);
	p->apack = aligned_alloc(64, ((size_t)g * p->mpad * K * sizeof(float) + 63) / 64 * 64);
	if (!p->koff || !p->apack)
		return NN_ENOMEM;
	for (int ci = 0; ci < cg; ci++)
		for (int i = 0; i < p->kh; i++)
			for (int j = 0; j < p->kw; j++) {
				int r = i * p->dh, q = j * p->dw;
				int a = r % p->sh, b = q % p->sw;
				int64_t o = ((int64_t)(ci * p->sh + a) * p->sw + b) * plane +
					    (int64_t)(r / p->sh) * p->wq + q / p->sw;
				p->koff[(ci * p->kh + i) * p->kw + j] = (int)o;
			}
	/* panels: [g][mb][k][MR] */
	for (int gi = 0; gi < g; gi++)
		for (int mb = 0; mb < p->mpad / MR; mb++)
			for (int k = 0; k < K; k++)
				for (int r = 0; r < MR; r++) {
					int mm = mb * MR + r;
					float v = mm < mg ? p->wt[((int64_t)(gi * mg + mm)) * K + k] : 0;
					p->apack[(((int64_t)gi * (p->mpad / MR) + mb) * K + k) * MR + r] = v;
				}
	p->fast = 1;
	return 0;
}

int64_t nn_fast_scratch(const struct nn_params *p)
{
	int64_t s = p->direct_in ? 0 : p->nq + 2 * (int64_t)p->wq + 2 * NR + 64;
	return s + (int64_t)p->group * p->mpad * p->npix + 64;
}

#if HAVE_X86

__attribute__((target("avx2,fma"))) static void kern(int K, const float *a, const float *b,
						      const int *off, float *c, int64_t ldc)
{
	__m256 c00 = _mm256_setzero_ps(), c01 = c00, c02 = c00, c10 = c00, c11 = c00, c12 = c00;
	__m256 c20 = c00, c21 = c00, c22 = c00, c30 = c00, c31 = c00, c32 = c00;
	for (int k = 0; k < K; k++) {
		const float *bp = b + off[k];
		__m256 b0 = _mm256_loadu_ps(bp), b1 = _mm256_loadu_ps(bp + 8),
		       b2 = _mm256_loadu_ps(bp + 16);
		__m256 av = _mm256_broadcast_ss(a);
		c00 = _mm256_fmadd_ps(av, b0, c00);
		c01 = _mm256_fmadd_ps(av, b1, c01);
		c02 = _mm256_fmadd_ps(av, b2, c02);
		av = _mm256_broadcast_ss(a + 1);
		c10 = _mm256_fmadd_ps(av, b0, c10);
		c11 = _mm256_fmadd_ps(av, b1, c11);
		c12 = _mm256_fmadd_ps(av, b2, c12);
		av = _mm256_broadcast_ss(a + 2);
		c20 = _mm256_fmadd_ps(av, b0, c20);
		c21 = _mm256_fmadd_ps(av, b1, c21);
		c22 = _mm256_fmadd_ps(av, b2, c22);
		av = _mm256_broadcast_ss(a + 3);
		c30 = _mm256_fmadd_ps(av, b0, c30);
		c31 = _mm256_fmadd_ps(av, b1, c31);
		c32 = _mm256_fmadd_ps(av, b2, c32);
		a += MR;
	}
	_mm256_storeu_ps(c, c00);
	_mm256_storeu_ps(c + 8, c01);
	_mm256_storeu_ps(c + 16, c02);
	c += ldc;
	_mm256_storeu_ps(c, c10);
	_mm256_storeu_ps(c + 8, c11);
	_mm256_storeu_ps(c + 16, c12);
	c += ldc;
	_mm256_storeu_ps(c, c20);
	_mm256_storeu_ps(c + 8, c21);
	_mm256_storeu_ps(c + 16, c22);
	c += ldc;
	_mm256_storeu_ps(c, c30);
	_mm256_storeu_ps(c + 8, c31);
	_mm256_storeu_ps(c + 16, c32);
}

/* zero-padded, phase-split copy of one item (c channels) */
static void transform(const struct nn_params *p, int c, int h, int w, const float *x, float *xq)
{
	int64_t plane = (int64_t)p->hq * p->wq;
	memset(xq, 0, sizeof(float) * (size_t)(p->nq + 2 * (int64_t)p->wq + 2 * NR + 64));
	for (int ci = 0; ci < c; ci++)
		for (int a = 0; a < p->sh; a++)
			for (int b = 0; b < p->sw; b++) {
				float *dst = xq + ((int64_t)(ci * p->sh + a) * p->sw + b) * plane;
				for (int y = 0; y < p->hq; y++) {
					int iy = y * p->sh + a - p->pt;
					if (iy < 0 || iy >= h)
						continue;
					const float *src = x + ((int64_t)ci * h + iy) * w;
					float *d = dst + (int64_t)y * p->wq;
					if (p->sw == 1) {
						/* x range: 0 <= xx - pl < w */
						int lo = p->pl, hi = p->pl + w;
						if (hi > p->wq)
							hi = p->wq;
						memcpy(d + lo, src, sizeof(float) * (size_t)(hi - lo));
					} else {
						for (int xx = 0; xx < p->wq; xx++) {
							int ix = xx * p->sw + b - p->pl;
							if (ix >= 0 && ix < w)
								d[xx] = src[ix];
						}
					}
				}
			}
}

__attribute__((target("avx2,fma"))) static void epilogue(const struct nn_params *p, int m,
							 const float *yp, const float *bias,
							 const float *sum, float *y)
{
	int g = p->group, mg = m / g;
	int oh = p->oh, ow = p->ow;
	for (int o = 0; o < m; o++) {
		int gi = o / mg, mm = o % mg;
		const float *src = yp + ((int64_t)gi * p->mpad + mm) * p->npix;
		float *dst = y + (int64_t)o * oh * ow;
		const float *sm = sum ? sum + (int64_t)o * oh * ow : NULL;
		__m256 bv = _mm256_set1_ps(bias[o]);
		__m256 zero = _mm256_setzero_ps();
		for (int oy = 0; oy < oh; oy++) {
			const float *s = src + (int64_t)oy * p->wq;
			float *d = dst + (int64_t)oy * ow;
			const float *r = sm ? sm + (int64_t)oy * ow : NULL;
			int ox = 0;
			if (p->act == ACT_RELU || p->act == ACT_NONE) {
				int relu = p->act == ACT_RELU;
				for (; ox + 8 <= ow; ox += 8) {
					__m256 v = _mm256_add_ps(_mm256_loadu_ps(s + ox), bv);
					if (r)
						v = _mm256_add_ps(v, _mm256_loadu_ps(r + ox));
					if (relu)
						v = _mm256_max_ps(v, zero);
					_mm256_storeu_ps(d + ox, v);
				}
			}
			for (; ox < ow; ox++) {
				float v = s[ox] + bias[o];
				if (r)
					v += r[ox];
				d[ox] = v;
			}
			if (p->act != ACT_NONE && p->act != ACT_RELU)
				nn_act_apply(p->act, p->a0, p->a1, d, ow);
			else if (p->act == ACT_RELU)
				for (ox = ow & ~7; ox < ow; ox++)
					d[ox] = d[ox] > 0 ? d[ox] : 0;
		}
	}
}

/* computes columns [n0, n1) of the output grid for all output channels */
static void gemm_range(const struct nn_params *p, const float *xq, float *yp, int64_t n0,
		       int64_t n1)
{
	int K = p->kdim, g = p->group, mb_n = p->mpad / MR;
	int cgp = K / (p->kh * p->kw) * p->sh * p->sw; /* phase planes per group */
	int64_t plane = (int64_t)p->hq * p->wq;
	/* chunk so the B window of a chunk stays in L2 */
	int64_t chunk = (int64_t)65536 / ((int64_t)(K / (p->kh * p->kw)) * p->kh + 1);
	chunk = chunk / NR * NR;
	if (chunk < NR)
		chunk = NR;
	for (int gi = 0; gi < g; gi++) {
		const float *xg = xq + (int64_t)gi * cgp * plane;
		for (int64_t c0 = n0; c0 < n1; c0 += chunk) {
			int64_t c1 = c0 + chunk < n1 ? c0 + chunk : n1;
			for (int mb = 0; mb < mb_n; mb++) {
				const float *a = p->apack + ((int64_t)gi * mb_n + mb) * K * MR;
				float *yb = yp + ((int64_t)gi * p->mpad + mb * MR) * p->npix;
				for (int64_t t = c0; t < c1; t += NR)
					kern(K, a, xg + t, p->koff, yb + t, p->npix);
			}
		}
	}
}

void nn_fast_conv(const struct nn_params *p, int n, int c, int h, int w, const float *x, int m,
		  const float *bias, const float *sum, float *y, float *scratch,
		  struct nn_pool *pool)
{
	(void)pool;
	int64_t xs = p->direct_in ? 0 : p->nq + 2 * (int64_t)p->wq + 2 * NR + 64;
	float *yp = scratch + xs;
	for (int b = 0; b < n; b++) {
		const float *xb = x + (int64_t)b * c * h * w;
		const float *xq = xb;
		if (!p->direct_in) {
			transform(p, c, h, w, xb, scratch);
			xq = scratch;
		}
		gemm_range(p, xq, yp, 0, p->npix);
		epilogue(p, m, yp, bias, sum ? sum + (int64_t)b * m * p->oh * p->ow : NULL,
			 y + (int64_t)b * m * p->oh * p->ow);
	}
}

#else

void nn_fast_conv(const struct nn_params *p, int n, int c, int h, int w, const float *x, int m,
		  const float *bias, const float *sum, float *y, float *scratch,
		  struct nn_pool *pool)
{
	(void)p, (void)n, (void)c, (void)h, (void)w, (void)x, (void)m, (void)bias, (void)sum;
	(void)y, (void)scratch, (void)pool;
}

#endif
