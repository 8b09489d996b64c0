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

#include <stdint.h>
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

/* Whether the CPU has AVX2 and FMA (and DICOMAID_NN_NO_FAST=1 is not set). Only consulted
 * while loading; loads may run on several threads at once, so the answer is recomputed. */
int nn_fast_available(void)
{
#if HAVE_X86
	__builtin_cpu_init();
	int ok = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
	const char *e = getenv("DICOMAID_NN_NO_FAST");
	return ok && !(e && *e == '1');
#else
	return 0;
#endif
}

/*
 * Winograd F(2x2, 3x3) (Lavin and Gray, "Fast Algorithms for Convolutional Neural Networks",
 * 2016) for 3x3, stride-1, undilated, ungrouped layers: each 2x2 output tile is
 * A^T [(G g G^T) . (B^T d B)] A over the 4x4 input patch d, so the 36 multiplications per tile
 * and channel pair of the direct form become 16, done as 16 GEMMs (one per position xi of the
 * 4x4 transformed tile) of U[xi] (M x C, transformed once at load) by V[xi] (C x tiles). The
 * tiles of a block of tile rows (items side by side) are transformed into V, multiplied by the
 * same register-blocked kernel, and transformed back by the epilogue, all in cache.
 * Its transforms only add and halve, so it stays within the engine's 1e-4 relative error.
 */
#define WINO_MIN_TILES 48

/* 0: leave the layer to the direct fast path; 1: set up (p->wino); NN_ENOMEM */
static int wino_setup(struct nn_params *p, int c, int m, int oh, int ow, int maxb)
{
	const char *e = getenv("DICOMAID_NN_WINO"); /* 0 off, 2 also narrow layers (tests) */
	int mode = e && *e ? atoi(e) : 1;
	if (mode == 0 || p->kh != 3 || p->kw != 3 || p->sh != 1 || p->sw != 1 || p->dh != 1 ||
	    p->dw != 1 || p->group != 1 || oh < 1 || ow < 1)
		return 0;
	if (mode != 2 && (c < 8 || m < 8))
		return 0; /* the transforms would cost more than the multiplications saved */
	p->ntx = (ow + 1) / 2;
	p->nty = (oh + 1) / 2;
	p->oh = oh;
	p->ow = ow;
	p->mpad = (m + MR - 1) / MR * MR;
	p->kdim = c;
	/* tile rows per block: transformed input and products of a block in about half of L2,
	 * but no fewer than WINO_MIN_TILES tiles so that weights are reused */
	e = getenv("DICOMAID_NN_GROUP_BYTES");
	int64_t budget = e && atoll(e) > 0 ? atoll(e) : 512 << 10;
	int64_t per_tile = (int64_t)16 * (c + p->mpad) * 4;
	int64_t tiles = budget / per_tile;
	if (tiles < WINO_MIN_TILES)
		tiles = WINO_MIN_TILES;
	int64_t rows = (tiles + p->ntx - 1) / p->ntx, all = (int64_t)p->nty * maxb;
	if (e && atoll(e) > 0 && atoll(e) < 1024)
		rows = 1; /* tests: many small blocks */
	if (rows > all)
		rows = all;
	p->wrows = (int)rows;
	int64_t t = rows * p->ntx;
	int64_t ldv = (t + NR - 1) / NR * NR;
	if (ldv < t + 8)
		ldv = t + 8; /* vector stores of a row's last tiles run up to 7 past it */
	ldv = (ldv + 7) / 8 * 8;
	if (ldv % 256 == 0)
		ldv += 8; /* no power-of-two stride between the channels' rows */
	p->ldv = ldv;
	if ((int64_t)16 * (c + p->mpad) * ldv >= INT32_MAX)
		return 0;
	p->koff = malloc(sizeof(int) * c);
	p->apack = aligned_alloc(64, ((size_t)16 * p->mpad * c * sizeof(float) + 63) / 64 * 64);
	if (!p->koff || !p->apack)
		return NN_ENOMEM;
	for (int ci = 0; ci < c; ci++)
		p->koff[ci] = (int)(ci * ldv);
	/* U = G g G^T, G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1]; packed [xi][mb][c][MR] */
	int nmb = p->mpad / MR;
	for (int o = 0; o < p->mpad; o++)
		for (int ci = 0; ci < c; ci++) {
			double gg[3][3] = {{0}}, t4[4][3], u[4][4];
			if (o < m)
				for (int i = 0; i < 9; i++)
					gg[i / 3][i % 3] = p->wt[((int64_t)o * c + ci) * 9 + i];
			for (int j = 0; j < 3; j++) {
				t4[0][j] = gg[0][j];
				t4[1][j] = 0.5 * (gg[0][j] + gg[1][j] + gg[2][j]);
				t4[2][j] = 0.5 * (gg[0][j] - gg[1][j] + gg[2][j]);
				t4[3][j] = gg[2][j];
			}
			for (int i = 0; i < 4; i++) {
				u[i][0] = t4[i][0];
				u[i][1] = 0.5 * (t4[i][0] + t4[i][1] + t4[i][2]);
				u[i][2] = 0.5 * (t4[i][0] - t4[i][1] + t4[i][2]);
				u[i][3] = t4[i][2];
			}
			for (int xi = 0; xi < 16; xi++)
				p->apack[(((int64_t)xi * nmb + o / MR) * c + ci) * MR + o % MR] =
					(float)u[xi / 4][xi % 4];
		}
	p->tile_outer = (int64_t)(NR + p->mpad) * c * 4 <= 24576;
	p->maxb = maxb;
	p->direct_in = 0;
	p->wino = 1;
	p->fast = 1;
	return 1;
}

/* per-thread row buffers of the Winograd path, in floats */
static int64_t wino_small(const struct nn_params *p)
{
	int64_t ne = (p->ntx + 1 + 7) / 8 * 8 + 8; /* one deinterleaved row, read 8 past */
	return 4 * (2 * ne + 16) + 8 * ne + 2 * 2 * ne + (p->ow + 64) + 64;
}

static int64_t wino_big(const struct nn_params *p)
{
	return (int64_t)16 * (p->kdim + p->mpad) * p->ldv;
}

/*
 * Prepares p for the fast path: offsets, packed weights, sizes. maxb is the most items a run
 * may carry; items are laid side by side inside each phase plane ([c][a][b][item][Hq][Wq]) so
 * one GEMM covers several. 0 (p->fast set), 1 (layer unsuitable) or NN_ENOMEM.
 */
int nn_fast_setup(struct nn_params *p, int c, int h, int w, int m, int oh, int ow, int maxb)
{
	int rc = wino_setup(p, c, m, oh, ow, maxb);
	if (rc != 0)
		return rc < 0 ? rc : 0;
	int g = p->group, cg = c / g, mg = m / g;
	int hp = h + p->pt + p->pb, wp = w + p->pl + p->pr;
	/* stride 1: a row's right padding can be the next row's left padding (reads past a
	 * row land in zeros as long as the row holds W + max(pl, pr)); one garbage column
	 * less per row */
	int shared = p->pl < p->pr ? p->pl : p->pr;
	if (p->sh == 1 && p->sw == 1 && shared <= (p->kw - 1) * p->dw)
		wp = w + (p->pl > p->pr ? p->pl : p->pr);
	/* items per GEMM: enough to give deep, small layers long rows, few enough that the
	 * transformed input and the raw output of a group stay cache-sized */
	int64_t per_item = ((int64_t)c * p->sh * p->sw + (int64_t)g * ((mg + MR - 1) / MR * MR)) *
			   ((int64_t)((hp + p->sh - 1) / p->sh) * ((wp + p->sw - 1) / p->sw)) * 4;
	const char *e = getenv("DICOMAID_NN_GROUP_BYTES"); /* tests and tuning */
	int64_t budget = e && atoll(e) > 0 ? atoll(e) : 512 << 10; /* L2 */
	int gmax = (int)(budget / (per_item ? per_item : 1));
	if (gmax < 1)
		gmax = 1;
	if (gmax > maxb)
		gmax = maxb;
	maxb = gmax;
	p->maxb = maxb;
	p->direct_in = maxb == 1 && p->kh == 1 && p->kw == 1 && p->sh == 1 && p->sw == 1 &&
		       p->pt == 0 && p->pl == 0 && p->pb == 0 && p->pr == 0;
	p->hq = (hp + p->sh - 1) / p->sh;
	p->wq = (wp + p->sw - 1) / p->sw;
	p->oh = oh;
	p->ow = ow;
	int64_t plane = (int64_t)p->hq * p->wq, cstride = plane * maxb;
	p->nq = (int64_t)c * p->sh * p->sw * cstride;
	p->slack = (int64_t)((p->kh - 1) * p->dh / p->sh + 2) * p->wq + 2 * NR + 64;
	p->ldy = ((int64_t)maxb * plane + NR - 1) / NR * NR;
	p->mpad = (mg + MR - 1) / MR * MR;
	if (p->nq + p->slack >= INT32_MAX)
		return 1; /* offsets are 32-bit: leave this layer to the im2col path */
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
				int64_t o = ((int64_t)(ci * p->sh + a) * p->sw + b) * cstride +
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
	/* loop order of the GEMM: tile outer when a B tile and all panels fit L1 */
	p->tile_outer = (int64_t)(NR + p->mpad) * K * 4 <= 24576;
	p->fast = 1;
	return 0;
}

int64_t nn_fast_scratch(const struct nn_params *p)
{
	if (p->wino)
		return wino_big(p) + wino_small(p);
	int64_t s = p->direct_in ? 0 : p->nq + p->slack;
	return s + (int64_t)p->group * p->mpad * p->ldy + 64 * (p->ow + 64);
}

#if HAVE_X86
__attribute__((target("avx2,fma"))) static void kern(int K, const float *a, const float *b,
						      const int *off, float *c, int64_t ldc)
{
	__m256 c00 = _mm256_setzero_ps(), c01 = c00, c02 = c00, c10 = c00, c11 = c00, c12 = c00;
	__m256 c20 = c00, c21 = c00, c22 = c00, c30 = c00, c31 = c00, c32 = c00;
	for (int k = 0; k < K; k++) {
		const float *bp = b + off[k];
		_mm_prefetch((const char *)(bp + NR + 16), _MM_HINT_T0);
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

/* one output channel x 24 columns (depthwise: one input channel per output channel); the
 * weights are row 0 of a [K][MR] panel */
__attribute__((target("avx2,fma"))) static void kern_row(int K, const float *a, const float *b,
							  const int *off, float *c)
{
	__m256 c0 = _mm256_setzero_ps(), c1 = c0, c2 = c0;
	for (int k = 0; k < K; k++) {
		const float *bp = b + off[k];
		__m256 av = _mm256_broadcast_ss(a + (int64_t)k * MR);
		c0 = _mm256_fmadd_ps(av, _mm256_loadu_ps(bp), c0);
		c1 = _mm256_fmadd_ps(av, _mm256_loadu_ps(bp + 8), c1);
		c2 = _mm256_fmadd_ps(av, _mm256_loadu_ps(bp + 16), c2);
	}
	_mm256_storeu_ps(c, c0);
	_mm256_storeu_ps(c + 8, c1);
	_mm256_storeu_ps(c + 16, c2);
}

struct job;
static void group_conv(struct job *jb_, struct nn_pool *pool, float *scratch);

struct job {
	const struct nn_params *p;
	int n, c, h, w, m;
	const float *x, *bias, *sum;
	float *y, *xq, *yp, *uprow;
	int64_t ncols, chunk;
	int nchunks;
};

/* transform task t = (channel, item): zero-padded, phase-split copy */
__attribute__((target("avx2,fma"))) static void transform_task(void *arg, int t, int tid)
{
	const struct job *jb = arg;
	const struct nn_params *p = jb->p;
	(void)tid;
	int ci = t / jb->n, item = t % jb->n, h = jb->h, w = jb->w;
	int64_t plane = (int64_t)p->hq * p->wq, cstride = plane * p->maxb;
	const float *x = jb->x + ((int64_t)item * jb->c + ci) * h * w;
	for (int a = 0; a < p->sh; a++)
		for (int b = 0; b < p->sw; b++) {
			float *dst = jb->xq + ((int64_t)(ci * p->sh + a) * p->sw + b) * cstride +
				     item * plane;
			for (int y = 0; y < p->hq; y++) {
				float *d = dst + (int64_t)y * p->wq;
				int iy = y * p->sh + a - p->pt;
				if (iy < 0 || iy >= h) {
					memset(d, 0, sizeof(float) * p->wq);
					continue;
				}
				const float *src = x + (int64_t)iy * w;
				if (p->sw == 1) {
					int lo = p->pl, hi = p->pl + w;
					if (hi > p->wq)
						hi = p->wq;
					memset(d, 0, sizeof(float) * lo);
					memcpy(d + lo, src, sizeof(float) * (size_t)(hi - lo));
					memset(d + hi, 0, sizeof(float) * (size_t)(p->wq - hi));
				} else {
					int x0 = (p->pl - b + p->sw - 1) / p->sw;
					int ix0 = x0 * p->sw + b - p->pl;
					int cnt = (w - ix0 + p->sw - 1) / p->sw;
					if (cnt > p->wq - x0)
						cnt = p->wq - x0;
					if (cnt < 0)
						cnt = 0;
					memset(d, 0, sizeof(float) * x0);
					memset(d + x0 + cnt, 0, sizeof(float) * (size_t)(p->wq - x0 - cnt));
					float *dd = d + x0;
					const float *ss = src + ix0;
					int k = 0;
					if (p->sw == 2) {
						/* every other element: shuffle the evens out of 16 */
						for (; k + 8 <= cnt && 2 * k + 16 <= w - ix0; k += 8) {
							__m256 lo = _mm256_loadu_ps(ss + 2 * k);
							__m256 hi = _mm256_loadu_ps(ss + 2 * k + 8);
							__m256 ev = _mm256_shuffle_ps(lo, hi, 0x88);
							ev = _mm256_castpd_ps(_mm256_permute4x64_pd(
								_mm256_castps_pd(ev), 0xd8));
							_mm256_storeu_ps(dd + k, ev);
						}
						for (; k < cnt; k++)
							dd[k] = ss[2 * k];
					} else {
						for (; k < cnt; k++)
							dd[k] = ss[k * p->sw];
					}
				}
			}
		}
}

/* y[0..nmb*MR)[c0..c1) = panels a (nmb panels of [K][MR]) times the K rows b + koff[k]; tile
 * outer (each NR-column tile of B against every panel) when the tile and all panels fit L1,
 * else panel outer (the panel stays in L1 while B streams) */
static void gemm_panels(int K, const float *a, int nmb, const float *b, const int *koff, float *y,
			int64_t ldy, int64_t c0, int64_t c1, int tile_outer)
{
	if (tile_outer) {
		for (int64_t c = c0; c < c1; c += NR)
			for (int mb = 0; mb < nmb; mb++)
				kern(K, a + (int64_t)mb * K * MR, b + c, koff, y + (int64_t)mb * MR * ldy + c,
				     ldy);
		return;
	}
	for (int mb = 0; mb < nmb; mb++)
		for (int64_t c = c0; c < c1; c += NR)
			kern(K, a + (int64_t)mb * K * MR, b + c, koff, y + (int64_t)mb * MR * ldy + c, ldy);
}

/* GEMM task: one chunk of output columns, all output channels */
static void gemm_task(void *arg, int t, int tid)
{
	const struct job *jb = arg;
	const struct nn_params *p = jb->p;
	(void)tid;
	int K = p->kdim, g = p->group, mb_n = p->mpad / MR;
	int64_t c0 = (int64_t)(t % jb->nchunks) * jb->chunk;
	int gi = t / jb->nchunks;
	int64_t c1 = c0 + jb->chunk < jb->ncols ? c0 + jb->chunk : jb->ncols;
	int cgp = K / (p->kh * p->kw) * p->sh * p->sw; /* phase planes per group */
	const float *xg = jb->xq + (int64_t)gi * cgp * p->hq * p->wq * p->maxb;
	(void)g;
	const float *a0 = p->apack + (int64_t)gi * mb_n * K * MR;
	float *y0 = jb->yp + (int64_t)gi * p->mpad * p->ldy;
	if (jb->m / p->group == 1) {
		/* one output channel per group (depthwise): skip the three empty panel rows */
		for (int64_t c = c0; c < c1; c += NR)
			kern_row(K, a0, xg + c, p->koff, y0 + c);
		return;
	}
	gemm_panels(K, a0, mb_n, xg, p->koff, y0, p->ldy, c0, c1, p->tile_outer);
}

/* The residual summand's plane for (item, output channel o), or NULL: full size, or smaller by
 * the nearest-upsampling factors sum_fh x sum_fw. */
static const float *sum_plane(const struct nn_params *p, const float *sum, int item, int m, int o)
{
	if (!sum)
		return NULL;
	int fh = p->sum_fh, fw = p->sum_fw;
	int64_t sw_ = fw ? p->ow / fw : p->ow;
	int64_t plane = fh ? (p->oh / fh) * sw_ : (int64_t)p->oh * p->ow;
	return sum + ((int64_t)item * m + o) * plane;
}

/* Row oy of a summand plane sm (NULL: none), nearest-upsampled into uprow when it is smaller;
 * *cached is the summand row held in uprow (-1: none yet). */
__attribute__((target("avx2,fma"))) static const float *
sum_row(const struct nn_params *p, const float *sm, int oy, float *uprow, int *cached)
{
	int fh = p->sum_fh, fw = p->sum_fw, ow = p->ow;
	if (!sm)
		return NULL;
	if (!fh)
		return sm + (int64_t)oy * ow;
	int sy = oy / fh;
	if (sy == *cached)
		return uprow;
	const float *srow = sm + (int64_t)sy * (ow / fw);
	if (fw == 2) {
		const __m256i idx = _mm256_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3);
		int q = 0;
		for (; q + 8 <= ow; q += 8)
			_mm256_storeu_ps(uprow + q,
					 _mm256_permutevar8x32_ps(
						 _mm256_castps128_ps256(_mm_loadu_ps(srow + q / 2)), idx));
		for (; q < ow; q++)
			uprow[q] = srow[q / 2];
	} else {
		for (int q = 0; q < ow; q++)
			uprow[q] = srow[q / fw];
	}
	*cached = sy;
	return uprow;
}

/* d[0..ow) = act(s + bias + r) (r may be NULL); d must not overlap s unless equal */
__attribute__((target("avx2,fma"))) static void finish_row(const struct nn_params *p,
							    const float *s, float *d, const float *r,
							    float bias, int ow)
{
	__m256 bv = _mm256_set1_ps(bias), zero = _mm256_setzero_ps();
	int ox = 0;
	int relu = p->act == ACT_RELU;
	if (relu || p->act == ACT_NONE) {
		for (; ox + 8 <= ow; ox += 8) {
			__m256 v = _mm256_add_ps(_mm256_loadu_ps(s + ox), bv);
			if (r)
				v = _mm256_add_ps(v, _mm256_loadu_ps(r + ox));
			if (relu)
				v = _mm256_max_ps(zero, v);
			_mm256_storeu_ps(d + ox, v);
		}
	}
	int tail = ox;
	for (; ox < ow; ox++) {
		float v = s[ox] + bias;
		if (r)
			v += r[ox];
		d[ox] = v;
	}
	if (relu) {
		for (ox = tail; ox < ow; ox++)
			d[ox] = d[ox] < 0 ? 0 : d[ox];
	} else if (p->act != ACT_NONE) {
		nn_act_apply(p->act, p->a0, p->a1, d, ow);
	}
}

/* epilogue task t = (output channel, item) */
static void epilogue_task(void *arg, int t, int tid)
{
	const struct job *jb = arg;
	const struct nn_params *p = jb->p;
	int o = t / jb->n, item = t % jb->n, m = jb->m;
	int g = p->group, mg = m / g;
	int oh = p->oh, ow = p->ow;
	int gi = o / mg, mm = o % mg;
	int64_t plane = (int64_t)p->hq * p->wq;
	const float *src = jb->yp + ((int64_t)gi * p->mpad + mm) * p->ldy + item * plane;
	float *dst = jb->y + ((int64_t)item * m + o) * oh * ow;
	const float *sm = sum_plane(p, jb->sum, item, m, o);
	float *uprow = jb->uprow + (int64_t)tid * (ow + 64);
	int cached = -1;
	for (int oy = 0; oy < oh; oy++)
		finish_row(p, src + (int64_t)oy * p->wq, dst + (int64_t)oy * ow,
			   sum_row(p, sm, oy, uprow, &cached), jb->bias[o], ow);
}


/* ---------------- Winograd F(2x2, 3x3) ---------------- */

struct wjob {
	const struct nn_params *p;
	int n, c, h, w, m;
	const float *x, *bias, *sum;
	float *y;
	float *scratch; /* thread tid's region: scratch + tid * stride */
	int64_t stride;
	float *v, *mx;  /* the block's buffers (phase-parallel mode) */
	int r0, r1;     /* the block's tile rows (phase-parallel mode) */
	int nblocks;
};

/* V[xi][ci][t] = (B^T d B)[xi] for every tile t of tile rows [r0, r1) (rows of all items in
 * turn), B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]. Vectorised across 8 tiles: each padded
 * input row is split into its even and odd columns, after which tile tx's four columns are
 * E[tx], O[tx], E[tx+1], O[tx+1]. */
__attribute__((target("avx2,fma"))) static void wino_input(const struct wjob *jb, float *v,
							    int r0, int r1, int ci, float *small)
{
	const struct nn_params *p = jb->p;
	int ntx = p->ntx, nty = p->nty, h = jb->h, w = jb->w;
	int64_t nv = (ntx + 1 + 7) / 8, ne = nv * 8 + 8, wpb = 2 * ne + 16, used = 16 * nv;
	float *P = small, *E = P + 4 * wpb, *O = E + 4 * ne;
	int64_t ldv = p->ldv, cst = (int64_t)jb->c * ldv;
	for (int r = r0; r < r1; r++) {
		int item = r / nty, ty = r % nty;
		const float *xc = jb->x + ((int64_t)item * jb->c + ci) * h * w;
		for (int a = 0; a < 4; a++) {
			float *pa = P + a * wpb;
			int iy = 2 * ty + a - p->pt;
			if (iy < 0 || iy >= h) {
				memset(pa, 0, sizeof(float) * (size_t)used);
			} else {
				memset(pa, 0, sizeof(float) * (size_t)p->pl);
				memcpy(pa + p->pl, xc + (int64_t)iy * w, sizeof(float) * (size_t)w);
				memset(pa + p->pl + w, 0, sizeof(float) * (size_t)(used - p->pl - w));
			}
			float *ea = E + a * ne, *oa = O + a * ne;
			for (int64_t k = 0; k < nv; k++) {
				__m256 lo = _mm256_loadu_ps(pa + 16 * k), hi = _mm256_loadu_ps(pa + 16 * k + 8);
				__m256 ev = _mm256_shuffle_ps(lo, hi, 0x88), od = _mm256_shuffle_ps(lo, hi, 0xdd);
				_mm256_storeu_ps(ea + 8 * k, _mm256_castpd_ps(_mm256_permute4x64_pd(
								     _mm256_castps_pd(ev), 0xd8)));
				_mm256_storeu_ps(oa + 8 * k, _mm256_castpd_ps(_mm256_permute4x64_pd(
								     _mm256_castps_pd(od), 0xd8)));
			}
		}
		/* rows: B^T d */
		for (float *q = E; q <= O; q += 4 * ne)
			for (int64_t k = 0; k < 8 * nv; k += 8) {
				__m256 d0 = _mm256_loadu_ps(q + k), d1 = _mm256_loadu_ps(q + ne + k);
				__m256 d2 = _mm256_loadu_ps(q + 2 * ne + k), d3 = _mm256_loadu_ps(q + 3 * ne + k);
				_mm256_storeu_ps(q + k, _mm256_sub_ps(d0, d2));
				_mm256_storeu_ps(q + ne + k, _mm256_add_ps(d1, d2));
				_mm256_storeu_ps(q + 2 * ne + k, _mm256_sub_ps(d2, d1));
				_mm256_storeu_ps(q + 3 * ne + k, _mm256_sub_ps(d1, d3));
			}
		/* columns: (B^T d) B, stored for tiles t0 + tx */
		float *vt = v + (int64_t)ci * ldv + (int64_t)(r - r0) * ntx;
		for (int a = 0; a < 4; a++) {
			const float *ea = E + a * ne, *oa = O + a * ne;
			float *v0 = vt + (int64_t)(4 * a) * cst;
			for (int tx = 0; tx < ntx; tx += 8) {
				__m256 e0 = _mm256_loadu_ps(ea + tx), e1 = _mm256_loadu_ps(ea + tx + 1);
				__m256 o0 = _mm256_loadu_ps(oa + tx), o1 = _mm256_loadu_ps(oa + tx + 1);
				_mm256_storeu_ps(v0 + tx, _mm256_sub_ps(e0, e1));
				_mm256_storeu_ps(v0 + cst + tx, _mm256_add_ps(o0, e1));
				_mm256_storeu_ps(v0 + 2 * cst + tx, _mm256_sub_ps(e1, o0));
				_mm256_storeu_ps(v0 + 3 * cst + tx, _mm256_sub_ps(o0, o1));
			}
		}
	}
}

/* M[xi] = U[xi] V[xi] over the first ncols tiles of the block */
static void wino_gemm(const struct nn_params *p, const float *v, float *mx, int xi, int64_t ncols)
{
	int C = p->kdim, nmb = p->mpad / MR;
	int64_t ldv = p->ldv;
	gemm_panels(C, p->apack + (int64_t)xi * nmb * C * MR, nmb, v + (int64_t)xi * C * ldv,
		    p->koff, mx + (int64_t)xi * p->mpad * ldv, ldv, 0, ncols, p->tile_outer);
}

/* output channel o of tile rows [r0, r1): Y = A^T M A, A^T = [1 1 1 0; 0 1 -1 -1], then bias,
 * summand and activation */
__attribute__((target("avx2,fma"))) static void wino_output(const struct wjob *jb,
							     const float *mx, int r0, int r1, int o,
							     float *small)
{
	const struct nn_params *p = jb->p;
	int ntx = p->ntx, nty = p->nty, oh = p->oh, ow = p->ow, m = jb->m;
	int64_t ne = (ntx + 1 + 7) / 8 * 8 + 8, ldv = p->ldv, xs = (int64_t)p->mpad * ldv;
	float *ob0 = small, *ob1 = ob0 + 2 * ne, *uprow = ob1 + 2 * ne;
	int cached = -1, last_item = -1;
	const float *sm = NULL;
	for (int r = r0; r < r1; r++) {
		int item = r / nty, ty = r % nty;
		if (item != last_item) {
			sm = sum_plane(p, jb->sum, item, m, o);
			cached = -1;
			last_item = item;
		}
		const float *mt = mx + (int64_t)o * ldv + (int64_t)(r - r0) * ntx;
		for (int tx = 0; tx < ntx; tx += 8) {
			__m256 s0[4], s1[4];
			for (int b = 0; b < 4; b++) {
				__m256 m0 = _mm256_loadu_ps(mt + b * xs + tx);
				__m256 m1 = _mm256_loadu_ps(mt + (4 + b) * xs + tx);
				__m256 m2 = _mm256_loadu_ps(mt + (8 + b) * xs + tx);
				__m256 m3 = _mm256_loadu_ps(mt + (12 + b) * xs + tx);
				s0[b] = _mm256_add_ps(_mm256_add_ps(m0, m1), m2);
				s1[b] = _mm256_sub_ps(_mm256_sub_ps(m1, m2), m3);
			}
			__m256 y00 = _mm256_add_ps(_mm256_add_ps(s0[0], s0[1]), s0[2]);
			__m256 y01 = _mm256_sub_ps(_mm256_sub_ps(s0[1], s0[2]), s0[3]);
			__m256 y10 = _mm256_add_ps(_mm256_add_ps(s1[0], s1[1]), s1[2]);
			__m256 y11 = _mm256_sub_ps(_mm256_sub_ps(s1[1], s1[2]), s1[3]);
			__m256 lo = _mm256_unpacklo_ps(y00, y01), hi = _mm256_unpackhi_ps(y00, y01);
			_mm256_storeu_ps(ob0 + 2 * tx, _mm256_permute2f128_ps(lo, hi, 0x20));
			_mm256_storeu_ps(ob0 + 2 * tx + 8, _mm256_permute2f128_ps(lo, hi, 0x31));
			lo = _mm256_unpacklo_ps(y10, y11);
			hi = _mm256_unpackhi_ps(y10, y11);
			_mm256_storeu_ps(ob1 + 2 * tx, _mm256_permute2f128_ps(lo, hi, 0x20));
			_mm256_storeu_ps(ob1 + 2 * tx + 8, _mm256_permute2f128_ps(lo, hi, 0x31));
		}
		float *dst = jb->y + ((int64_t)item * m + o) * oh * ow;
		for (int i = 0; i < 2 && 2 * ty + i < oh; i++) {
			int oy = 2 * ty + i;
			finish_row(p, i ? ob1 : ob0, dst + (int64_t)oy * ow,
				   sum_row(p, sm, oy, uprow, &cached), jb->bias[o], ow);
		}
	}
}

static int64_t wino_ncols(const struct nn_params *p, int r0, int r1)
{
	return ((int64_t)(r1 - r0) * p->ntx + NR - 1) / NR * NR;
}

/* block-parallel task: block t, all three stages, in this thread's region */
static void wino_block_task(void *arg, int t, int tid)
{
	const struct wjob *jb = arg;
	const struct nn_params *p = jb->p;
	int r0 = t * p->wrows, r1 = r0 + p->wrows;
	if (r1 > jb->n * p->nty)
		r1 = jb->n * p->nty;
	float *v = jb->scratch + (int64_t)tid * jb->stride;
	float *mx = v + (int64_t)16 * p->kdim * p->ldv;
	float *small = v + wino_big(p);
	for (int ci = 0; ci < jb->c; ci++)
		wino_input(jb, v, r0, r1, ci, small);
	int64_t ncols = wino_ncols(p, r0, r1);
	for (int xi = 0; xi < 16; xi++)
		wino_gemm(p, v, mx, xi, ncols);
	for (int o = 0; o < jb->m; o++)
		wino_output(jb, mx, r0, r1, o, small);
}

/* phase-parallel tasks: one block, its stages split across threads */
static void wino_input_task(void *arg, int t, int tid)
{
	const struct wjob *jb = arg;
	wino_input(jb, jb->v, jb->r0, jb->r1, t,
		   jb->scratch + (int64_t)tid * jb->stride + wino_big(jb->p));
}

static void wino_gemm_task(void *arg, int t, int tid)
{
	const struct wjob *jb = arg;
	(void)tid;
	wino_gemm(jb->p, jb->v, jb->mx, t, wino_ncols(jb->p, jb->r0, jb->r1));
}

static void wino_output_task(void *arg, int t, int tid)
{
	const struct wjob *jb = arg;
	wino_output(jb, jb->mx, jb->r0, jb->r1, t,
		    jb->scratch + (int64_t)tid * jb->stride + wino_big(jb->p));
}

static void wino_conv(const struct nn_params *p, int n, int c, int h, int w, const float *x,
		      int m, const float *bias, const float *sum, float *y, float *scratch,
		      int64_t scratch_stride, struct nn_pool *pool)
{
	struct wjob jb = {.p = p, .n = n, .c = c, .h = h, .w = w, .m = m, .x = x, .bias = bias,
			  .sum = sum, .y = y, .scratch = scratch, .stride = scratch_stride};
	int rows = n * p->nty;
	jb.nblocks = (rows + p->wrows - 1) / p->wrows;
	int threads = nn_pool_threads(pool);
	if (threads == 1 || jb.nblocks >= 4 * threads) {
		nn_pool_run(pool, wino_block_task, &jb, jb.nblocks);
		return;
	}
	/* few blocks: split each block's stages across the threads */
	jb.v = scratch;
	jb.mx = scratch + (int64_t)16 * c * p->ldv;
	for (int b = 0; b < jb.nblocks; b++) {
		jb.r0 = b * p->wrows;
		jb.r1 = jb.r0 + p->wrows < rows ? jb.r0 + p->wrows : rows;
		nn_pool_run(pool, wino_input_task, &jb, c);
		nn_pool_run(pool, wino_gemm_task, &jb, 16);
		nn_pool_run(pool, wino_output_task, &jb, m);
	}
}

static void group_conv(struct job *jb_, struct nn_pool *pool, float *scratch);

struct items_job {
	struct job base;
	float *scratch;
	int64_t stride;
	int groups;
};

static void setup_group(const struct job *src, int i0, struct job *jb)
{
	const struct nn_params *p = src->p;
	*jb = *src;
	jb->n = src->n - i0 < p->maxb ? src->n - i0 : p->maxb;
	jb->x = src->x + (int64_t)i0 * src->c * src->h * src->w;
	jb->y = src->y + (int64_t)i0 * src->m * p->oh * p->ow;
	if (src->sum) {
		int64_t si = (int64_t)src->m * p->oh * p->ow;
		if (p->sum_fh)
			si /= (int64_t)p->sum_fh * p->sum_fw;
		jb->sum = src->sum + (int64_t)i0 * si;
	}
}

static void prepare_scratch(const struct nn_params *p, struct job *jb, float *scratch)
{
	int64_t xs = p->direct_in ? 0 : p->nq + p->slack;
	jb->yp = scratch + xs;
	jb->uprow = jb->yp + (int64_t)p->group * p->mpad * p->ldy;
	if (!p->direct_in)
		/* slack after the last plane: read by columns that are thrown away */
		memset(scratch + p->nq, 0, sizeof(float) * (size_t)p->slack);
}

/* item-parallel task: one whole item group on one thread, in that thread's scratch */
static void items_task(void *arg, int t, int tid)
{
	struct items_job *ij = arg;
	struct job jb;
	float *scratch = ij->scratch + (int64_t)tid * ij->stride;
	setup_group(&ij->base, t * ij->base.p->maxb, &jb);
	prepare_scratch(ij->base.p, &jb, scratch);
	group_conv(&jb, NULL, scratch);
}

void nn_fast_conv(const struct nn_params *p, int n, int c, int h, int w, const float *x, int m,
		  const float *bias, const float *sum, float *y, float *scratch,
		  int64_t scratch_stride, struct nn_pool *pool)
{
	if (p->wino) {
		wino_conv(p, n, c, h, w, x, m, bias, sum, y, scratch, scratch_stride, pool);
		return;
	}
	struct job jb = {.p = p, .n = n, .c = c, .h = h, .w = w, .m = m, .x = x, .bias = bias,
			 .sum = sum, .y = y};
	int groups = (n + p->maxb - 1) / p->maxb;
	int threads = nn_pool_threads(pool);
	if (threads > 1 && groups >= threads) {
		/* enough items: each thread convolves whole groups in its own cache */
		struct items_job ij = {.base = jb, .scratch = scratch, .stride = scratch_stride,
				       .groups = groups};
		nn_pool_run(pool, items_task, &ij, groups);
		return;
	}
	for (int i0 = 0; i0 < n; i0 += p->maxb) {
		struct job g;
		setup_group(&jb, i0, &g);
		prepare_scratch(p, &g, scratch);
		group_conv(&g, pool, scratch);
	}
}

static void group_conv(struct job *jb_, struct nn_pool *pool, float *scratch)
{
	struct job jb = *jb_;
	const struct nn_params *p = jb.p;
	int n = jb.n, c = jb.c, m = jb.m;
	int64_t plane = (int64_t)p->hq * p->wq;
	if (p->direct_in) {
		jb.xq = (float *)jb.x;
	} else {
		jb.xq = scratch;
		nn_pool_run(pool, transform_task, &jb, c * n);
		if (n < p->maxb) {
			/* the last row of item n-1 may read into item n's first row (shared
			 * padding): keep that row zero */
			int64_t cstride = plane * p->maxb;
			for (int64_t q = 0; q < (int64_t)c * p->sh * p->sw; q++)
				memset(scratch + q * cstride + n * plane, 0, sizeof(float) * p->wq);
		}
	}
	/* output columns: items side by side, the last one only up to its last valid row */
	jb.ncols = ((int64_t)(n - 1) * plane + (int64_t)p->oh * p->wq + NR - 1) / NR * NR;
	int cgp = p->kdim / (p->kh * p->kw) * p->sh * p->sw;
	int64_t halo = (int64_t)((p->kh - 1) * p->dh / p->sh + 1) * p->wq;
	int64_t chunk = (int64_t)32768 / cgp - halo;
	int threads = nn_pool_threads(pool);
	int64_t even = (jb.ncols + 2 * threads - 1) / (2 * threads);
	if (threads > 1 && chunk > even)
		chunk = even;
	chunk = chunk / NR * NR;
	if (chunk < NR)
		chunk = NR;
	jb.chunk = chunk;
	jb.nchunks = (int)((jb.ncols + chunk - 1) / chunk);
	nn_pool_run(pool, gemm_task, &jb, jb.nchunks * p->group);
	nn_pool_run(pool, epilogue_task, &jb, m * n);
}

#else

void nn_fast_conv(const struct nn_params *p, int n, int c, int h, int w, const float *x, int m,
		  const float *bias, const float *sum, float *y, float *scratch,
		  int64_t scratch_stride, struct nn_pool *pool)
{
	(void)scratch_stride;
	(void)p, (void)n, (void)c, (void)h, (void)w, (void)x, (void)m, (void)bias, (void)sum;
	(void)y, (void)scratch, (void)pool;
}

#endif
