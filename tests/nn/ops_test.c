/*
 * Per-operator tests of the CNN engine: each builds a one- or few-node ONNX model in memory
 * (onnx_build.h), runs it through nn_model_load_mem/nn_run at a batch > 1, and compares with a
 * plain reference loop written here from the ONNX operator definitions. Sizes are odd on
 * purpose; cases cover padding, strides, dilations, groups, depthwise, broadcasting.
 */
#include "config.h"

#include <unistd.h>
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>

#include "nn/nn.h"
#include "onnx_build.h"

#define I64(x) ((int64_t)(x))

static uint32_t rng = 1;
static float frand(void)
{
	rng = rng * 1664525u + 1013904223u;
	return (float)((rng >> 8) & 0xffff) / 32768.0f - 1.0f;
}
static float *rand_buf(int64_t n)
{
	float *p = malloc(sizeof(float) * (size_t)(n ? n : 1));
	for (int64_t i = 0; i < n; i++)
		p[i] = frand();
	return p;
}

static void expect_close(const float *got, const float *want, int64_t n, const char *what)
{
	float mx = 1e-3f, err = 0;
	int64_t at = 0;
	for (int64_t i = 0; i < n; i++)
		if (fabsf(want[i]) > mx)
			mx = fabsf(want[i]);
	for (int64_t i = 0; i < n; i++) {
		float e = fabsf(got[i] - want[i]);
		if (!(e <= err)) {
			err = e;
			at = i;
		}
	}
	cr_expect(err / mx <= 1e-4f, "%s: rel err %g at %lld (got %g want %g)", what, err / mx,
		  (long long)at, got[at], want[at]);
}

/* Loads b with max_batch, runs batch items of x, returns output 0 (copied, caller frees). */
static float *run1(struct mb *b, int max_batch, int batch, const float *x, int64_t *out_elems)
{
	struct nn_load_opts o = {.max_batch = max_batch};
	struct nn_model *m;
	char err[512];
	int rc = mb_load(b, &o, &m, err, sizeof err);
	cr_assert_eq(rc, 0, "load failed: %s", err);
	struct nn_ctx *c = nn_ctx_new(m);
	cr_assert_not_null(c);
	float *outs[8];
	cr_assert_eq(nn_run(c, batch, x, outs), 0);
	struct nn_tensor_info t;
	nn_model_output(m, 0, &t);
	int64_t n = 1;
	for (int i = 0; i < t.ndim; i++)
		n *= (i == 0 && t.batched) ? batch : t.dims[i];
	float *r = malloc(sizeof(float) * (size_t)n);
	memcpy(r, outs[0], sizeof(float) * (size_t)n);
	*out_elems = n;
	/* again with more threads than items: layer by layer, the batch inside each kernel
	 * (the run above went item by item); both must agree */
	cr_assert_eq(nn_ctx_set_threads(c, batch + 1), 0);
	cr_assert_eq(nn_run(c, batch, x, outs), 0);
	expect_close(outs[0], r, n, "layer-wise vs item-wise");
	nn_ctx_free(c);
	nn_model_free(m);
	return r;
}

/* ---------------- Conv ---------------- */

struct conv_case {
	int c, h, w, m, kh, kw, sh, sw, dh, dw, pt, pl, pb, pr, g, bias;
};

static void ref_conv(const struct conv_case *k, int n, const float *x, const float *wt,
		     const float *bias, float *y, int oh, int ow)
{
	int cg = k->c / k->g, mg = k->m / k->g;
	for (int b = 0; b < n; b++)
		for (int o = 0; o < k->m; o++)
			for (int oy = 0; oy < oh; oy++)
				for (int ox = 0; ox < ow; ox++) {
					double s = bias ? bias[o] : 0;
					int g = o / mg;
					for (int ci = 0; ci < cg; ci++)
						for (int i = 0; i < k->kh; i++)
							for (int j = 0; j < k->kw; j++) {
								int iy = oy * k->sh - k->pt + i * k->dh;
								int ix = ox * k->sw - k->pl + j * k->dw;
								if (iy < 0 || iy >= k->h || ix < 0 || ix >= k->w)
									continue;
								s += x[((b * k->c + g * cg + ci) * k->h + iy) * k->w + ix] *
								     wt[((o * cg + ci) * k->kh + i) * k->kw + j];
							}
					y[((b * k->m + o) * oh + oy) * ow + ox] = (float)s;
				}
}

static void conv_case_run(const struct conv_case *k, int relu)
{
	struct mb b;
	mb_init(&b, 13);
	int64_t in[4] = {-1, k->c, k->h, k->w};
	mb_input(&b, "x", 4, in);
	int64_t wd[4] = {k->m, k->c / k->g, k->kh, k->kw};
	int64_t nw = mb_count(4, wd);
	float *wt = rand_buf(nw), *bias = rand_buf(k->m);
	mb_init_f(&b, "w", 4, wd, wt);
	int64_t bd[1] = {k->m};
	if (k->bias)
		mb_init_f(&b, "b", 1, bd, bias);
	Onnx__NodeProto *n = mb_node(&b, "Conv", "conv", k->bias ? "x,w,b" : "x,w", relu ? "c" : "y");
	mb_attr_ints(&b, n, "kernel_shape", 2, I64(k->kh), I64(k->kw));
	mb_attr_ints(&b, n, "strides", 2, I64(k->sh), I64(k->sw));
	mb_attr_ints(&b, n, "dilations", 2, I64(k->dh), I64(k->dw));
	mb_attr_ints(&b, n, "pads", 4, I64(k->pt), I64(k->pl), I64(k->pb), I64(k->pr));
	mb_attr_i(&b, n, "group", k->g);
	if (relu)
		mb_node(&b, "Relu", "relu", "c", "y");
	mb_output(&b, "y");
	int N = 3;
	float *x = rand_buf((int64_t)N * k->c * k->h * k->w);
	int oh = (k->h + k->pt + k->pb - (k->kh - 1) * k->dh - 1) / k->sh + 1;
	int ow = (k->w + k->pl + k->pr - (k->kw - 1) * k->dw - 1) / k->sw + 1;
	int64_t ny = (int64_t)N * k->m * oh * ow, got_n;
	float *want = malloc(sizeof(float) * ny);
	ref_conv(k, N, x, wt, k->bias ? bias : NULL, want, oh, ow);
	if (relu)
		for (int64_t i = 0; i < ny; i++)
			want[i] = want[i] > 0 ? want[i] : 0;
	float *got = run1(&b, 4, N, x, &got_n);
	cr_assert_eq(got_n, ny);
	char what[200];
	snprintf(what, sizeof what, "conv c%d %dx%d m%d k%dx%d s%d,%d d%d,%d p%d,%d,%d,%d g%d", k->c,
		 k->h, k->w, k->m, k->kh, k->kw, k->sh, k->sw, k->dh, k->dw, k->pt, k->pl, k->pb,
		 k->pr, k->g);
	expect_close(got, want, ny, what);
	free(got);
	free(want);
	free(x);
	free(wt);
	free(bias);
	mb_free(&b);
}

static const struct conv_case conv_cases[] = {
	/* c  h   w   m kh kw sh sw dh dw pt pl pb pr g bias */
	{3, 11, 13, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1},   /* same padding */
	{3, 11, 13, 5, 3, 3, 1, 1, 1, 1, 0, 0, 0, 0, 1, 0},   /* valid */
	{4, 17, 9, 6, 3, 5, 2, 3, 1, 1, 1, 2, 0, 1, 1, 1},    /* strides, asymmetric pads */
	{4, 15, 15, 4, 3, 3, 1, 1, 2, 3, 2, 3, 2, 3, 1, 1},   /* dilations */
	{6, 9, 10, 9, 3, 3, 1, 2, 1, 1, 1, 1, 1, 1, 3, 1},    /* groups */
	{5, 12, 11, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 5, 1},   /* depthwise */
	{4, 12, 11, 8, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 4, 1},   /* depthwise x2, strided */
	{4, 7, 9, 8, 5, 5, 1, 1, 2, 2, 4, 4, 4, 4, 4, 0},     /* depthwise dilated */
	{7, 13, 5, 3, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1},    /* pointwise */
	{7, 13, 5, 3, 1, 1, 2, 2, 1, 1, 0, 0, 0, 0, 1, 1},    /* pointwise strided */
	{1, 31, 29, 8, 7, 7, 2, 2, 1, 1, 3, 3, 3, 3, 1, 1},   /* stem-like */
	{16, 8, 8, 32, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1},   /* wider */
	{3, 6, 6, 4, 1, 3, 1, 1, 1, 1, 0, 1, 0, 1, 1, 1},     /* 1x3 */
	{2, 4, 4, 2, 3, 3, 3, 3, 1, 1, 2, 2, 2, 2, 2, 1},     /* pads larger than input part */
	{32, 9, 11, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1},  /* K = 288 > one K block */
	{67, 6, 7, 21, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1},   /* K = 603, M not a multiple of 4 */
	{40, 9, 8, 24, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1, 0},   /* strided, K = 360 */
};

Test(conv, reference_cases)
{
	for (size_t i = 0; i < sizeof conv_cases / sizeof conv_cases[0]; i++)
		conv_case_run(&conv_cases[i], 0);
}

Test(conv, fused_relu)
{
	for (size_t i = 0; i < sizeof conv_cases / sizeof conv_cases[0]; i++)
		conv_case_run(&conv_cases[i], 1);
}

/* 3x3 stride-1 layers the Winograd F(2x2, 3x3) path takes (run with DICOMAID_NN_WINO=2, which
 * also takes narrow ones): odd and even output sizes (partial last tiles in both directions),
 * rows of more and fewer than 8 tiles, asymmetric and zero pads, pads wider than the kernel */
static const struct conv_case wino_cases[] = {
	/* c  h   w   m kh kw sh sw dh dw pt pl pb pr g bias */
	{8, 17, 37, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1},   /* odd sizes, 19 tiles a row */
	{9, 16, 16, 13, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1},  /* even, M not a multiple of 4 */
	{5, 11, 13, 6, 3, 3, 1, 1, 1, 1, 0, 2, 2, 0, 1, 1},   /* asymmetric pads */
	{3, 10, 9, 4, 3, 3, 1, 1, 1, 1, 0, 0, 0, 0, 1, 0},    /* valid */
	{2, 5, 6, 3, 3, 3, 1, 1, 1, 1, 3, 2, 2, 3, 1, 1},     /* pads wider than the kernel */
	{1, 1, 1, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1},     /* one pixel */
	{40, 6, 7, 36, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1},   /* deeper */
};

static void wino_all_cases(void)
{
	for (size_t i = 0; i < sizeof wino_cases / sizeof wino_cases[0]; i++) {
		conv_case_run(&wino_cases[i], 0);
		conv_case_run(&wino_cases[i], 1);
	}
	for (size_t i = 0; i < sizeof conv_cases / sizeof conv_cases[0]; i++)
		conv_case_run(&conv_cases[i], 1);
}

Test(conv, winograd_cases)
{
	setenv("DICOMAID_NN_WINO", "2", 1);
	wino_all_cases();
}

Test(conv, winograd_small_blocks)
{
	/* one tile row per block: many blocks, each thread taking whole blocks */
	setenv("DICOMAID_NN_WINO", "2", 1);
	setenv("DICOMAID_NN_GROUP_BYTES", "1", 1);
	wino_all_cases();
}

Test(conv, direct_cases_without_winograd)
{
	setenv("DICOMAID_NN_WINO", "0", 1);
	for (size_t i = 0; i < sizeof wino_cases / sizeof wino_cases[0]; i++)
		conv_case_run(&wino_cases[i], 1);
}

/* Conv -> BatchNormalization -> Add(residual) -> Relu: BN folded, add and relu fused */
Test(conv, bn_fold_residual)
{
	struct mb b;
	mb_init(&b, 13);
	int C = 4, H = 7, W = 9, N = 2;
	int64_t in[4] = {-1, C, H, W};
	mb_input(&b, "x", 4, in);
	int64_t wd[4] = {C, C, 3, 3}, cd[1] = {C};
	float *wt = rand_buf(C * C * 9);
	float sc[4] = {0.5f, 1.5f, -1, 2}, sh[4] = {0.1f, -0.2f, 0.3f, 0}, mu[4] = {0.2f, 0, -0.1f, 1},
	      var[4] = {1, 0.5f, 2, 0.25f};
	mb_init_f(&b, "w", 4, wd, wt);
	mb_init_f(&b, "s", 1, cd, sc);
	mb_init_f(&b, "t", 1, cd, sh);
	mb_init_f(&b, "mu", 1, cd, mu);
	mb_init_f(&b, "var", 1, cd, var);
	Onnx__NodeProto *n = mb_node(&b, "Conv", "conv", "x,w", "c");
	mb_attr_ints(&b, n, "pads", 4, I64(1), I64(1), I64(1), I64(1));
	n = mb_node(&b, "BatchNormalization", "bn", "c,s,t,mu,var", "bnout");
	mb_attr_f(&b, n, "epsilon", 1e-3f);
	mb_node(&b, "Add", "add", "bnout,x", "sum");
	mb_node(&b, "Relu", "relu", "sum", "y");
	mb_output(&b, "y");
	float *x = rand_buf(N * C * H * W);
	struct conv_case k = {C, H, W, C, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0};
	float *want = malloc(sizeof(float) * N * C * H * W);
	ref_conv(&k, N, x, wt, NULL, want, H, W);
	for (int i = 0; i < N * C * H * W; i++) {
		int c = (i / (H * W)) % C;
		float v = (want[i] - mu[c]) / sqrtf(var[c] + 1e-3f) * sc[c] + sh[c] + x[i];
		want[i] = v > 0 ? v : 0;
	}
	struct nn_load_opts o = {.max_batch = 2};
	struct nn_model *m;
	char err[256];
	cr_assert_eq(mb_load(&b, &o, &m, err, sizeof err), 0, "%s", err);
	cr_expect_eq(nn_model_exec_nodes(m), 1, "conv, bn, add and relu should fuse into one node");
	nn_model_free(m);
	int64_t gn;
	float *got = run1(&b, 2, N, x, &gn);
	expect_close(got, want, gn, "conv+bn+add+relu");
	free(got);
	free(want);
	free(x);
	free(wt);
	mb_free(&b);
}

/* ---------------- ConvTranspose ---------------- */

struct convt_case {
	int c, h, w, m, kh, kw, sh, sw, dh, dw, pt, pl, pb, pr, oph, opw, g;
};

static void convt_case_run(const struct convt_case *k)
{
	struct mb b;
	mb_init(&b, 13);
	int64_t in[4] = {-1, k->c, k->h, k->w};
	mb_input(&b, "x", 4, in);
	int mg = k->m / k->g, cg = k->c / k->g;
	int64_t wd[4] = {k->c, mg, k->kh, k->kw}, bd[1] = {k->m};
	float *wt = rand_buf(mb_count(4, wd)), *bias = rand_buf(k->m);
	mb_init_f(&b, "w", 4, wd, wt);
	mb_init_f(&b, "b", 1, bd, bias);
	Onnx__NodeProto *n = mb_node(&b, "ConvTranspose", "up", "x,w,b", "y");
	mb_attr_ints(&b, n, "strides", 2, I64(k->sh), I64(k->sw));
	mb_attr_ints(&b, n, "dilations", 2, I64(k->dh), I64(k->dw));
	mb_attr_ints(&b, n, "pads", 4, I64(k->pt), I64(k->pl), I64(k->pb), I64(k->pr));
	mb_attr_ints(&b, n, "output_padding", 2, I64(k->oph), I64(k->opw));
	mb_attr_i(&b, n, "group", k->g);
	mb_output(&b, "y");
	int N = 2;
	int oh = k->sh * (k->h - 1) + k->oph + (k->kh - 1) * k->dh + 1 - k->pt - k->pb;
	int ow = k->sw * (k->w - 1) + k->opw + (k->kw - 1) * k->dw + 1 - k->pl - k->pr;
	float *x = rand_buf((int64_t)N * k->c * k->h * k->w);
	int64_t ny = (int64_t)N * k->m * oh * ow, gn;
	float *want = calloc(ny, sizeof(float));
	/* scatter definition: y[o][iy*s - p + i*d] += x[c][iy] * w[c][o'][i] */
	for (int bb = 0; bb < N; bb++) {
		for (int o = 0; o < k->m; o++)
			for (int q = 0; q < oh * ow; q++)
				want[(bb * k->m + o) * oh * ow + q] = bias[o];
		for (int c = 0; c < k->c; c++) {
			int g = c / cg;
			for (int iy = 0; iy < k->h; iy++)
				for (int ix = 0; ix < k->w; ix++)
					for (int j = 0; j < mg; j++)
						for (int i = 0; i < k->kh; i++)
							for (int l = 0; l < k->kw; l++) {
								int oy = iy * k->sh - k->pt + i * k->dh;
								int ox = ix * k->sw - k->pl + l * k->dw;
								if (oy < 0 || oy >= oh || ox < 0 || ox >= ow)
									continue;
								int o = g * mg + j;
								want[((bb * k->m + o) * oh + oy) * ow + ox] +=
									x[((bb * k->c + c) * k->h + iy) * k->w + ix] *
									wt[((c * mg + j) * k->kh + i) * k->kw + l];
							}
		}
	}
	float *got = run1(&b, 2, N, x, &gn);
	cr_assert_eq(gn, ny);
	expect_close(got, want, ny, "convtranspose");
	free(got);
	free(want);
	free(x);
	free(wt);
	free(bias);
	mb_free(&b);
}

Test(convt, reference_cases)
{
	static const struct convt_case cases[] = {
		{4, 5, 6, 3, 2, 2, 2, 2, 1, 1, 0, 0, 0, 0, 0, 0, 1},
		{3, 7, 5, 4, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1},
		{4, 4, 5, 6, 3, 4, 3, 2, 1, 1, 0, 1, 2, 0, 0, 1, 2},
		{2, 5, 5, 2, 3, 3, 1, 1, 2, 2, 1, 1, 1, 1, 0, 0, 1},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		convt_case_run(&cases[i]);
}

/* ---------------- pooling ---------------- */

static void pool_run(const char *op, int C, int H, int W, int k, int s, int p, int ceil_mode,
		     int cip, int dil)
{
	struct mb b;
	mb_init(&b, 13);
	int64_t in[4] = {-1, C, H, W};
	mb_input(&b, "x", 4, in);
	Onnx__NodeProto *n = mb_node(&b, op, "pool", "x", "y");
	mb_attr_ints(&b, n, "kernel_shape", 2, I64(k), I64(k));
	mb_attr_ints(&b, n, "strides", 2, I64(s), I64(s));
	mb_attr_ints(&b, n, "pads", 4, I64(p), I64(p), I64(p), I64(p));
	mb_attr_i(&b, n, "ceil_mode", ceil_mode);
	if (!strcmp(op, "AveragePool"))
		mb_attr_i(&b, n, "count_include_pad", cip);
	else
		mb_attr_ints(&b, n, "dilations", 2, I64(dil), I64(dil));
	mb_output(&b, "y");
	int ext = (k - 1) * dil + 1;
	int oh, ow;
	if (ceil_mode) {
		oh = (H + 2 * p - ext + s - 1) / s + 1;
		ow = (W + 2 * p - ext + s - 1) / s + 1;
		if ((oh - 1) * s >= H + p)
			oh--;
		if ((ow - 1) * s >= W + p)
			ow--;
	} else {
		oh = (H + 2 * p - ext) / s + 1;
		ow = (W + 2 * p - ext) / s + 1;
	}
	int N = 2;
	float *x = rand_buf(N * C * H * W);
	int64_t ny = (int64_t)N * C * oh * ow, gn;
	float *want = malloc(sizeof(float) * ny);
	for (int pl = 0; pl < N * C; pl++)
		for (int oy = 0; oy < oh; oy++)
			for (int ox = 0; ox < ow; ox++) {
				float mx = -INFINITY, sum = 0;
				int cnt = 0, cntpad = 0;
				for (int i = 0; i < k; i++)
					for (int j = 0; j < k; j++) {
						int iy = oy * s - p + i * dil, ix = ox * s - p + j * dil;
						if (iy < H + p && ix < W + p)
							cntpad++;
						if (iy < 0 || ix < 0 || iy >= H || ix >= W)
							continue;
						float v = x[(pl * H + iy) * W + ix];
						mx = v > mx ? v : mx;
						sum += v;
						cnt++;
					}
				want[(pl * oh + oy) * ow + ox] =
					!strcmp(op, "MaxPool") ? mx : sum / (cip ? cntpad : cnt);
			}
	float *got = run1(&b, 2, N, x, &gn);
	cr_assert_eq(gn, ny, "%s: %lld elements, want %lld", op, (long long)gn, (long long)ny);
	expect_close(got, want, ny, op);
	free(got);
	free(want);
	free(x);
	mb_free(&b);
}

Test(pool, max_and_average)
{
	pool_run("MaxPool", 3, 9, 11, 3, 2, 1, 0, 0, 1);
	pool_run("MaxPool", 3, 9, 11, 3, 2, 1, 1, 0, 1);
	pool_run("MaxPool", 2, 8, 8, 2, 2, 0, 0, 0, 1);
	pool_run("MaxPool", 3, 10, 37, 2, 2, 0, 0, 0, 1);
	pool_run("MaxPool", 2, 11, 41, 2, 2, 0, 1, 0, 1);
	pool_run("AveragePool", 2, 12, 40, 2, 2, 0, 0, 0, 1);
	pool_run("MaxPool", 2, 12, 40, 3, 2, 1, 0, 0, 1);
	pool_run("AveragePool", 2, 13, 40, 3, 1, 1, 0, 1, 1);
	pool_run("MaxPool", 2, 10, 9, 3, 1, 1, 0, 0, 2);
	pool_run("AveragePool", 3, 9, 11, 3, 2, 1, 0, 0, 1);
	pool_run("AveragePool", 3, 9, 11, 3, 2, 1, 0, 1, 1);
	pool_run("AveragePool", 3, 10, 7, 3, 2, 1, 1, 1, 1);
	pool_run("AveragePool", 2, 7, 7, 2, 2, 0, 1, 0, 1);
}

Test(pool, global_average)
{
	struct mb b;
	mb_init(&b, 13);
	int64_t in[4] = {-1, 3, 5, 7};
	mb_input(&b, "x", 4, in);
	mb_node(&b, "GlobalAveragePool", "gap", "x", "y");
	mb_output(&b, "y");
	float *x = rand_buf(2 * 3 * 35);
	float want[6];
	for (int p = 0; p < 6; p++) {
		double s = 0;
		for (int i = 0; i < 35; i++)
			s += x[p * 35 + i];
		want[p] = (float)(s / 35);
	}
	int64_t gn;
	float *got = run1(&b, 2, 2, x, &gn);
	cr_assert_eq(gn, 6);
	expect_close(got, want, 6, "gap");
	free(got);
	free(x);
	mb_free(&b);
}

/* ---------------- broadcasting arithmetic ---------------- */

static float apply_op(const char *op, float a, float b)
{
	if (!strcmp(op, "Add"))
		return a + b;
	if (!strcmp(op, "Sub"))
		return a - b;
	if (!strcmp(op, "Mul"))
		return a * b;
	return a / b;
}

/* y = x op const, const of shape cd (numpy broadcasting), both operand orders */
static void bcast_const(const char *op, int cnd, const int64_t *cdims, int swap)
{
	struct mb b;
	mb_init(&b, 13);
	int N = 3, C = 4, H = 5, W = 6;
	int64_t in[4] = {-1, C, H, W};
	mb_input(&b, "x", 4, in);
	int64_t cn = mb_count(cnd, cdims);
	float *cv = rand_buf(cn);
	for (int64_t i = 0; i < cn; i++)
		cv[i] += cv[i] >= 0 ? 0.5f : -0.5f; /* keep away from 0 for Div */
	mb_init_f(&b, "k", cnd, cdims, cv);
	mb_node(&b, op, "op", swap ? "k,x" : "x,k", "y");
	mb_output(&b, "y");
	float *x = rand_buf(N * C * H * W);
	for (int i = 0; i < N * C * H * W; i++)
		x[i] += x[i] >= 0 ? 0.5f : -0.5f;
	float *want = malloc(sizeof(float) * N * C * H * W);
	int64_t full[4] = {N, C, H, W};
	for (int i = 0; i < N * C * H * W; i++) {
		int64_t idx[4] = {i / (C * H * W), (i / (H * W)) % C, (i / W) % H, i % W};
		int64_t ci = 0;
		for (int d = 0; d < cnd; d++) {
			int fd = 4 - cnd + d;
			ci = ci * cdims[d] + (cdims[d] == 1 ? 0 : idx[fd]);
		}
		(void)full;
		want[i] = swap ? apply_op(op, cv[ci], x[i]) : apply_op(op, x[i], cv[ci]);
	}
	int64_t gn;
	float *got = run1(&b, 4, N, x, &gn);
	cr_assert_eq(gn, N * C * H * W);
	char what[64];
	snprintf(what, sizeof what, "%s const rank %d swap %d", op, cnd, swap);
	expect_close(got, want, gn, what);
	free(got);
	free(want);
	free(x);
	free(cv);
	mb_free(&b);
}

Test(binary, broadcast_constants)
{
	const char *ops[4] = {"Add", "Sub", "Mul", "Div"};
	int64_t s0[1] = {1}, s1[3] = {4, 1, 1}, s2[1] = {6}, s3[2] = {5, 1}, s4[4] = {1, 4, 5, 6},
		s5[3] = {4, 5, 6}, s6[4] = {1, 1, 5, 1};
	for (int o = 0; o < 4; o++)
		for (int sw = 0; sw < 2; sw++) {
			bcast_const(ops[o], 0, s0, sw);
			bcast_const(ops[o], 1, s0, sw);
			bcast_const(ops[o], 3, s1, sw);
			bcast_const(ops[o], 1, s2, sw);
			bcast_const(ops[o], 2, s3, sw);
			bcast_const(ops[o], 4, s4, sw);
			bcast_const(ops[o], 3, s5, sw);
			bcast_const(ops[o], 4, s6, sw);
		}
}

/* two runtime tensors [N,C,1,W] op [N,C,H,1] made by slicing the input */
Test(binary, broadcast_two_runtime)
{
	const char *ops[4] = {"Add", "Sub", "Mul", "Div"};
	for (int o = 0; o < 4; o++) {
		struct mb b;
		mb_init(&b, 13);
		int N = 2, C = 3, H = 5, W = 7;
		int64_t in[4] = {-1, C, H, W};
		mb_input(&b, "x", 4, in);
		mb_ints(&b, "s0", 1, I64(0));
		mb_ints(&b, "e1", 1, I64(1));
		mb_ints(&b, "ah", 1, I64(2));
		mb_ints(&b, "aw", 1, I64(3));
		mb_node(&b, "Slice", "row", "x,s0,e1,ah", "r");
		mb_node(&b, "Slice", "col", "x,s0,e1,aw", "c");
		mb_node(&b, ops[o], "op", "r,c", "y");
		mb_output(&b, "y");
		float *x = rand_buf(N * C * H * W);
		for (int i = 0; i < N * C * H * W; i++)
			x[i] += x[i] >= 0 ? 0.5f : -0.5f;
		float *want = malloc(sizeof(float) * N * C * H * W);
		for (int p = 0; p < N * C; p++)
			for (int h = 0; h < H; h++)
				for (int w = 0; w < W; w++)
					want[(p * H + h) * W + w] = apply_op(
						ops[o], x[(p * H + 0) * W + w], x[(p * H + h) * W + 0]);
		int64_t gn;
		float *got = run1(&b, 2, N, x, &gn);
		cr_assert_eq(gn, N * C * H * W);
		expect_close(got, want, gn, ops[o]);
		free(got);
		free(want);
		free(x);
		mb_free(&b);
	}
}

/* ---------------- activations, softmax ---------------- */

Test(act, all)
{
	const char *ops[] = {"Relu", "LeakyRelu", "Sigmoid", "Tanh", "Clip", "HardSwish",
			     "HardSigmoid"};
	for (size_t o = 0; o < sizeof ops / sizeof ops[0]; o++) {
		struct mb b;
		mb_init(&b, 14);
		int64_t in[2] = {-1, 37};
		mb_input(&b, "x", 2, in);
		Onnx__NodeProto *n;
		if (!strcmp(ops[o], "Clip")) {
			int64_t sd[1] = {0};
			float lo = -0.3f, hi = 0.6f;
			mb_init_f(&b, "lo", 0, sd, &lo);
			mb_init_f(&b, "hi", 0, sd, &hi);
			n = mb_node(&b, "Clip", "act", "x,lo,hi", "y");
		} else {
			n = mb_node(&b, ops[o], "act", "x", "y");
		}
		if (!strcmp(ops[o], "LeakyRelu"))
			mb_attr_f(&b, n, "alpha", 0.2f);
		if (!strcmp(ops[o], "HardSigmoid")) {
			mb_attr_f(&b, n, "alpha", 0.25f);
			mb_attr_f(&b, n, "beta", 0.4f);
		}
		mb_output(&b, "y");
		float x[74], want[74];
		for (int i = 0; i < 74; i++) {
			x[i] = (float)(i - 37) / 6.0f;
			float v = x[i], r;
			switch (o) {
			case 0: r = v > 0 ? v : 0; break;
			case 1: r = v >= 0 ? v : 0.2f * v; break;
			case 2: r = 1 / (1 + expf(-v)); break;
			case 3: r = tanhf(v); break;
			case 4: r = v < -0.3f ? -0.3f : v > 0.6f ? 0.6f : v; break;
			case 5: r = v * fmaxf(0, fminf(1, v / 6 + 0.5f)); break;
			default: r = fmaxf(0, fminf(1, 0.25f * v + 0.4f)); break;
			}
			want[i] = r;
		}
		int64_t gn;
		float *got = run1(&b, 2, 2, x, &gn);
		cr_assert_eq(gn, 74);
		expect_close(got, want, 74, ops[o]);
		free(got);
		mb_free(&b);
	}
}

static void softmax_run(int opset, int axis, int legacy_flat)
{
	struct mb b;
	mb_init(&b, opset);
	int N = 2, C = 3, L = 4;
	int64_t in[3] = {-1, C, L};
	mb_input(&b, "x", 3, in);
	Onnx__NodeProto *n = mb_node(&b, "Softmax", "sm", "x", "y");
	mb_attr_i(&b, n, "axis", axis);
	mb_output(&b, "y");
	float *x = rand_buf(N * C * L), want[24];
	for (int i = 0; i < N * C * L; i++)
		x[i] *= 3;
	if (legacy_flat) {
		/* opset < 13: softmax over the flattened [C*L] of each item */
		for (int bb = 0; bb < N; bb++) {
			double s = 0;
			for (int i = 0; i < C * L; i++)
				s += exp(x[bb * C * L + i]);
			for (int i = 0; i < C * L; i++)
				want[bb * C * L + i] = (float)(exp(x[bb * C * L + i]) / s);
		}
	} else {
		/* over axis 1 (C) */
		for (int bb = 0; bb < N; bb++)
			for (int l = 0; l < L; l++) {
				double s = 0;
				for (int c = 0; c < C; c++)
					s += exp(x[(bb * C + c) * L + l]);
				for (int c = 0; c < C; c++)
					want[(bb * C + c) * L + l] = (float)(exp(x[(bb * C + c) * L + l]) / s);
			}
	}
	int64_t gn;
	float *got = run1(&b, 2, N, x, &gn);
	expect_close(got, want, 24, "softmax");
	free(got);
	free(x);
	mb_free(&b);
}

Test(act, softmax)
{
	softmax_run(13, 1, 0);
	softmax_run(11, 1, 1);
}

/* ---------------- Resize ---------------- */

static float coord(const char *ctm, int xo, float scale, int in, int out)
{
	if (!strcmp(ctm, "asymmetric"))
		return xo / scale;
	if (!strcmp(ctm, "align_corners"))
		return out == 1 ? 0 : xo * (float)(in - 1) / (out - 1);
	if (!strcmp(ctm, "pytorch_half_pixel") && out == 1)
		return 0;
	return (xo + 0.5f) / scale - 0.5f;
}

static void resize_run(const char *mode, const char *ctm, const char *nm, int H, int W, int OH,
		       int OW, int use_sizes)
{
	struct mb b;
	mb_init(&b, 13);
	int C = 2, N = 2;
	int64_t in[4] = {-1, C, H, W};
	mb_input(&b, "x", 4, in);
	float sc[4] = {1, 1, (float)OH / H, (float)OW / W};
	int64_t d4[1] = {4};
	if (use_sizes) {
		mb_ints(&b, "sizes", 4, I64(1), I64(C), I64(OH), I64(OW));
	} else {
		mb_init_f(&b, "scales", 1, d4, sc);
	}
	Onnx__NodeProto *n =
		mb_node(&b, "Resize", "rs", use_sizes ? "x,,,sizes" : "x,,scales", "y");
	mb_attr_s(&b, n, "mode", mode);
	mb_attr_s(&b, n, "coordinate_transformation_mode", ctm);
	if (nm)
		mb_attr_s(&b, n, "nearest_mode", nm);
	mb_output(&b, "y");
	float *x = rand_buf(N * C * H * W);
	int64_t ny = (int64_t)N * C * OH * OW, gn;
	float *want = malloc(sizeof(float) * ny);
	for (int p = 0; p < N * C; p++)
		for (int oy = 0; oy < OH; oy++)
			for (int ox = 0; ox < OW; ox++) {
				float cy = coord(ctm, oy, sc[2], H, OH), cx = coord(ctm, ox, sc[3], W, OW);
				float v;
				if (!strcmp(mode, "nearest")) {
					int iy, ix;
					if (!strcmp(nm, "floor")) {
						iy = (int)floorf(cy);
						ix = (int)floorf(cx);
					} else { /* round_prefer_floor */
						iy = cy - floorf(cy) == 0.5f ? (int)floorf(cy) : (int)roundf(cy);
						ix = cx - floorf(cx) == 0.5f ? (int)floorf(cx) : (int)roundf(cx);
					}
					iy = iy < 0 ? 0 : iy >= H ? H - 1 : iy;
					ix = ix < 0 ? 0 : ix >= W ? W - 1 : ix;
					v = x[(p * H + iy) * W + ix];
				} else {
					cy = fminf(fmaxf(cy, 0), H - 1);
					cx = fminf(fmaxf(cx, 0), W - 1);
					int y0 = (int)cy, x0 = (int)cx;
					int y1 = y0 + 1 < H ? y0 + 1 : H - 1, x1 = x0 + 1 < W ? x0 + 1 : W - 1;
					float fy = cy - y0, fx = cx - x0;
					const float *q = x + p * H * W;
					v = q[y0 * W + x0] * (1 - fy) * (1 - fx) + q[y0 * W + x1] * (1 - fy) * fx +
					    q[y1 * W + x0] * fy * (1 - fx) + q[y1 * W + x1] * fy * fx;
				}
				want[(p * OH + oy) * OW + ox] = v;
			}
	float *got = run1(&b, 2, N, x, &gn);
	cr_assert_eq(gn, ny);
	char what[128];
	snprintf(what, sizeof what, "resize %s %s %dx%d->%dx%d", mode, ctm, H, W, OH, OW);
	expect_close(got, want, ny, what);
	free(got);
	free(want);
	free(x);
	mb_free(&b);
}

Test(resize, modes)
{
	resize_run("nearest", "asymmetric", "floor", 5, 7, 10, 14, 0);
	resize_run("nearest", "half_pixel", "round_prefer_floor", 6, 8, 3, 4, 0);
	resize_run("nearest", "asymmetric", "floor", 4, 4, 12, 8, 0);
	resize_run("linear", "align_corners", NULL, 5, 7, 9, 13, 1);
	resize_run("linear", "pytorch_half_pixel", NULL, 5, 7, 10, 14, 0);
	resize_run("linear", "half_pixel", NULL, 6, 6, 3, 3, 0);
	resize_run("linear", "asymmetric", NULL, 3, 5, 6, 10, 0);
	/* wider than the per-call column table */
	resize_run("linear", "half_pixel", NULL, 2, 1100, 4, 2200, 0);
	resize_run("nearest", "half_pixel", "round_prefer_floor", 2, 1500, 3, 2250, 1);
}

Test(resize, unsupported_mode_is_named)
{
	struct mb b;
	mb_init(&b, 13);
	int64_t in[4] = {1, 1, 4, 4}, d4[1] = {4};
	float sc[4] = {1, 1, 2, 2};
	mb_input(&b, "x", 4, in);
	mb_init_f(&b, "scales", 1, d4, sc);
	Onnx__NodeProto *n = mb_node(&b, "Resize", "up3", "x,,scales", "y");
	mb_attr_s(&b, n, "mode", "cubic");
	mb_output(&b, "y");
	struct nn_model *m;
	char err[256];
	cr_assert_lt(mb_load(&b, NULL, &m, err, sizeof err), 0);
	cr_expect_str_eq(err, "t.onnx: node \"up3\" (Resize): mode \"cubic\" is not supported");
	mb_free(&b);
}

/* ---------------- data movement ---------------- */

Test(move, concat_transpose_flatten_gemm)
{
	/* y = Gemm(Flatten(Transpose(Concat(x, 2*x), perm 0,2,3,1)), B^T) + c */
	struct mb b;
	mb_init(&b, 13);
	int N = 3, C = 2, H = 3, W = 4, F = 2 * C * H * W, O = 5;
	int64_t in[4] = {-1, C, H, W}, sd[1] = {1}, bd[2] = {O, F}, cd[1] = {O};
	mb_input(&b, "x", 4, in);
	float two = 2;
	float *B = rand_buf(O * F), *cv = rand_buf(O);
	mb_init_f(&b, "two", 1, sd, &two);
	mb_init_f(&b, "B", 2, bd, B);
	mb_init_f(&b, "c", 1, cd, cv);
	mb_node(&b, "Mul", "dbl", "x,two", "x2");
	Onnx__NodeProto *n = mb_node(&b, "Concat", "cat", "x,x2", "cat");
	mb_attr_i(&b, n, "axis", 1);
	n = mb_node(&b, "Transpose", "tr", "cat", "t");
	mb_attr_ints(&b, n, "perm", 4, I64(0), I64(2), I64(3), I64(1));
	mb_node(&b, "Flatten", "fl", "t", "f");
	n = mb_node(&b, "Gemm", "fc", "f,B,c", "y");
	mb_attr_i(&b, n, "transB", 1);
	mb_attr_f(&b, n, "alpha", 0.5f);
	mb_output(&b, "y");
	float *x = rand_buf(N * C * H * W);
	float *flat = malloc(sizeof(float) * N * F), *want = malloc(sizeof(float) * N * O);
	for (int bb = 0; bb < N; bb++)
		for (int h = 0; h < H; h++)
			for (int w = 0; w < W; w++)
				for (int c = 0; c < 2 * C; c++) {
					float v = x[((bb * C + c % C) * H + h) * W + w] * (c >= C ? 2 : 1);
					flat[bb * F + (h * W + w) * 2 * C + c] = v;
				}
	for (int bb = 0; bb < N; bb++)
		for (int o = 0; o < O; o++) {
			double s = 0;
			for (int k = 0; k < F; k++)
				s += flat[bb * F + k] * B[o * F + k];
			want[bb * O + o] = (float)(0.5 * s + cv[o]);
		}
	int64_t gn;
	float *got = run1(&b, 4, N, x, &gn);
	cr_assert_eq(gn, N * O);
	expect_close(got, want, gn, "concat/transpose/flatten/gemm");
	free(got);
	free(want);
	free(flat);
	free(x);
	free(B);
	free(cv);
	mb_free(&b);
}

Test(move, matmul_3d_by_2d_and_batched)
{
	/* x [N, 4, 6] ; y = (x @ W) @ (x^T) -> [N, 4, 4] */
	struct mb b;
	mb_init(&b, 13);
	int N = 2, R = 4, K = 6;
	int64_t in[3] = {-1, R, K}, wd[2] = {K, K};
	mb_input(&b, "x", 3, in);
	float *W = rand_buf(K * K);
	mb_init_f(&b, "W", 2, wd, W);
	mb_node(&b, "MatMul", "mm1", "x,W", "a");
	Onnx__NodeProto *n = mb_node(&b, "Transpose", "tr", "x", "xt");
	mb_attr_ints(&b, n, "perm", 3, I64(0), I64(2), I64(1));
	mb_node(&b, "MatMul", "mm2", "a,xt", "y");
	mb_output(&b, "y");
	float *x = rand_buf(N * R * K), want[32], a[48];
	for (int bb = 0; bb < N; bb++) {
		for (int i = 0; i < R; i++)
			for (int j = 0; j < K; j++) {
				float s = 0;
				for (int k = 0; k < K; k++)
					s += x[(bb * R + i) * K + k] * W[k * K + j];
				a[i * K + j] = s;
			}
		for (int i = 0; i < R; i++)
			for (int j = 0; j < R; j++) {
				float s = 0;
				for (int k = 0; k < K; k++)
					s += a[i * K + k] * x[(bb * R + j) * K + k];
				want[(bb * R + i) * R + j] = s;
			}
	}
	int64_t gn;
	float *got = run1(&b, 2, N, x, &gn);
	cr_assert_eq(gn, N * R * R);
	expect_close(got, want, gn, "matmul");
	free(got);
	free(x);
	free(W);
	mb_free(&b);
}

static void pad_run(const char *mode, int pt, int pl, int pb, int pr)
{
	struct mb b;
	mb_init(&b, 13);
	int N = 2, C = 2, H = 4, W = 5;
	int64_t in[4] = {-1, C, H, W}, sd[1] = {1};
	mb_input(&b, "x", 4, in);
	mb_ints(&b, "pads", 8, I64(0), I64(0), I64(pt), I64(pl), I64(0), I64(0), I64(pb), I64(pr));
	float cv = 0.75f;
	mb_init_f(&b, "cv", 0, sd, &cv);
	Onnx__NodeProto *n = mb_node(&b, "Pad", "pad", "x,pads,cv", "y");
	mb_attr_s(&b, n, "mode", mode);
	mb_output(&b, "y");
	int OH = H + pt + pb, OW = W + pl + pr;
	float *x = rand_buf(N * C * H * W);
	int64_t ny = (int64_t)N * C * OH * OW, gn;
	float *want = malloc(sizeof(float) * ny);
	for (int p = 0; p < N * C; p++)
		for (int oy = 0; oy < OH; oy++)
			for (int ox = 0; ox < OW; ox++) {
				int iy = oy - pt, ix = ox - pl;
				float v;
				if (!strcmp(mode, "constant")) {
					v = (iy < 0 || ix < 0 || iy >= H || ix >= W) ? cv
										   : x[(p * H + iy) * W + ix];
				} else if (!strcmp(mode, "edge")) {
					iy = iy < 0 ? 0 : iy >= H ? H - 1 : iy;
					ix = ix < 0 ? 0 : ix >= W ? W - 1 : ix;
					v = x[(p * H + iy) * W + ix];
				} else {
					iy = iy < 0 ? -iy : iy >= H ? 2 * (H - 1) - iy : iy;
					ix = ix < 0 ? -ix : ix >= W ? 2 * (W - 1) - ix : ix;
					v = x[(p * H + iy) * W + ix];
				}
				want[(p * OH + oy) * OW + ox] = v;
			}
	float *got = run1(&b, 2, N, x, &gn);
	cr_assert_eq(gn, ny);
	expect_close(got, want, ny, mode);
	free(got);
	free(want);
	free(x);
	mb_free(&b);
}

Test(move, pad_modes)
{
	pad_run("constant", 1, 2, 3, 0);
	pad_run("edge", 2, 0, 1, 3);
	pad_run("reflect", 3, 1, 2, 4);
	pad_run("constant", -1, 1, 0, -2);
}

Test(move, slice_steps)
{
	/* x[:, :, 5:0:-2, 1::3] */
	struct mb b;
	mb_init(&b, 13);
	int N = 2, C = 3, H = 7, W = 8;
	int64_t in[4] = {-1, C, H, W};
	mb_input(&b, "x", 4, in);
	mb_ints(&b, "st", 2, I64(5), I64(1));
	mb_ints(&b, "en", 2, I64(0), INT64_MAX);
	mb_ints(&b, "ax", 2, I64(2), I64(-1));
	mb_ints(&b, "sp", 2, I64(-2), I64(3));
	mb_node(&b, "Slice", "sl", "x,st,en,ax,sp", "y");
	mb_output(&b, "y");
	float *x = rand_buf(N * C * H * W), want[2 * 3 * 3 * 3];
	int k = 0;
	for (int p = 0; p < N * C; p++)
		for (int h = 5; h > 0; h -= 2)
			for (int w = 1; w < W; w += 3)
				want[k++] = x[(p * H + h) * W + w];
	int64_t gn;
	float *got = run1(&b, 2, N, x, &gn);
	cr_assert_eq(gn, k);
	expect_close(got, want, k, "slice");
	free(got);
	free(x);
	mb_free(&b);
}

/* torch's flatten pattern: Shape -> Gather -> Unsqueeze -> Concat -> Reshape, at batch 3 */
Test(fold, shape_subgraph)
{
	struct mb b;
	mb_init(&b, 13);
	int64_t in[4] = {-1, 2, 3, 4};
	mb_input(&b, "x", 4, in);
	int64_t sd[1] = {0};
	int64_t zero = 0;
	mb_init_i(&b, "zero", 0, sd, &zero);
	mb_ints(&b, "ax0", 1, I64(0));
	mb_ints(&b, "minus1", 1, I64(-1));
	mb_node(&b, "Relu", "r", "x", "xr");
	mb_node(&b, "Shape", "shape", "xr", "shp");
	Onnx__NodeProto *n = mb_node(&b, "Gather", "g", "shp,zero", "n");
	mb_attr_i(&b, n, "axis", 0);
	mb_node(&b, "Unsqueeze", "u", "n,ax0", "n1");
	n = mb_node(&b, "Concat", "cat", "n1,minus1", "newshape");
	mb_attr_i(&b, n, "axis", 0);
	mb_node(&b, "Reshape", "rs", "xr,newshape", "y");
	mb_output(&b, "y");
	struct nn_load_opts o = {.max_batch = 3};
	struct nn_model *m;
	char err[256];
	cr_assert_eq(mb_load(&b, &o, &m, err, sizeof err), 0, "%s", err);
	struct nn_tensor_info t;
	nn_model_output(m, 0, &t);
	cr_expect_eq(t.ndim, 2);
	cr_expect_eq(t.dims[1], 24);
	cr_expect(t.batched);
	cr_expect_eq(nn_model_exec_nodes(m), 2, "shape nodes must be folded");
	nn_model_free(m);
	float *x = rand_buf(72), want[72];
	for (int i = 0; i < 72; i++)
		want[i] = x[i] > 0 ? x[i] : 0;
	int64_t gn;
	float *got = run1(&b, 3, 3, x, &gn);
	cr_assert_eq(gn, 72);
	expect_close(got, want, 72, "reshape");
	free(got);
	free(x);
	mb_free(&b);
}

Test(plan, buffers_are_reused)
{
	/* a chain of 12 activations: liveness lets the arena hold ~2 tensors, not 12 */
	struct mb b;
	mb_init(&b, 13);
	int64_t in[4] = {-1, 8, 32, 32};
	mb_input(&b, "x", 4, in);
	char prev[16] = "x", cur[16], name[16];
	for (int i = 0; i < 12; i++) {
		snprintf(cur, sizeof cur, i == 11 ? "y" : "t%d", i);
		snprintf(name, sizeof name, "n%d", i);
		mb_node(&b, i % 2 ? "Sigmoid" : "Tanh", name, prev, cur);
		strcpy(prev, cur);
	}
	mb_output(&b, "y");
	struct nn_load_opts o = {.max_batch = 2};
	struct nn_model *m;
	char err[256];
	cr_assert_eq(mb_load(&b, &o, &m, err, sizeof err), 0, "%s", err);
	size_t one = 2 * 8 * 32 * 32 * sizeof(float);
	cr_expect_leq(nn_model_arena_bytes(m), 2 * one + 1024, "arena %zu bytes for tensors of %zu",
		     nn_model_arena_bytes(m), one);
	nn_model_free(m);
	float *x = rand_buf(2 * 8 * 1024);
	float *want = malloc(sizeof(float) * 2 * 8 * 1024);
	for (int i = 0; i < 2 * 8 * 1024; i++) {
		float v = x[i];
		for (int k = 0; k < 12; k++)
			v = k % 2 ? 1 / (1 + expf(-v)) : tanhf(v);
		want[i] = v;
	}
	int64_t gn;
	float *got = run1(&b, 2, 2, x, &gn);
	expect_close(got, want, gn, "chain");
	free(got);
	free(want);
	free(x);
	mb_free(&b);
}

Test(run, batch_smaller_than_max_and_bad_batch)
{
	struct mb b;
	mb_init(&b, 13);
	int64_t in[4] = {-1, 1, 4, 4};
	mb_input(&b, "x", 4, in);
	mb_node(&b, "Relu", "r", "x", "y");
	mb_output(&b, "y");
	struct nn_load_opts o = {.max_batch = 4};
	struct nn_model *m;
	char err[256];
	cr_assert_eq(mb_load(&b, &o, &m, err, sizeof err), 0, "%s", err);
	struct nn_ctx *c = nn_ctx_new(m);
	float x[64], *out[1];
	for (int i = 0; i < 64; i++)
		x[i] = (float)(i % 3) - 1;
	cr_expect_eq(nn_run(c, 2, x, out), 0);
	for (int i = 0; i < 32; i++)
		cr_expect_eq(out[0][i], x[i] > 0 ? x[i] : 0);
	cr_expect_eq(nn_run(c, 5, x, out), NN_EARG);
	cr_expect_eq(nn_run(c, 0, x, out), NN_EARG);
	nn_ctx_free(c);
	nn_model_free(m);
	mb_free(&b);
}

/* ---------------- fused upsample-add, threads, item groups ---------------- */

/* y = Relu(Resize2x(MaxPool2x2(x)) + Conv3x3(x)): the nearest upsample and the add fuse
 * into the convolution's epilogue. Run with 1 and 3 threads and small item groups. */
static void upsample_add_run(int threads)
{
	struct mb b;
	mb_init(&b, 13);
	int N = 5, C = 3, H = 10, W = 14, M = 3;
	int64_t in[4] = {-1, C, H, W}, wd[4] = {M, C, 3, 3}, d4[1] = {4};
	mb_input(&b, "x", 4, in);
	float *wt = rand_buf(M * C * 9), sc[4] = {1, 1, 2, 2};
	mb_init_f(&b, "w", 4, wd, wt);
	mb_init_f(&b, "scales", 1, d4, sc);
	Onnx__NodeProto *n = mb_node(&b, "MaxPool", "mp", "x", "p");
	mb_attr_ints(&b, n, "kernel_shape", 2, I64(2), I64(2));
	mb_attr_ints(&b, n, "strides", 2, I64(2), I64(2));
	n = mb_node(&b, "Resize", "up", "p,,scales", "u");
	mb_attr_s(&b, n, "mode", "nearest");
	mb_attr_s(&b, n, "coordinate_transformation_mode", "asymmetric");
	mb_attr_s(&b, n, "nearest_mode", "floor");
	n = mb_node(&b, "Conv", "conv", "x,w", "c");
	mb_attr_ints(&b, n, "pads", 4, I64(1), I64(1), I64(1), I64(1));
	mb_node(&b, "Add", "add", "u,c", "s");
	mb_node(&b, "Relu", "relu", "s", "y");
	mb_output(&b, "y");
	float *x = rand_buf(N * C * H * W);
	float *want = malloc(sizeof(float) * N * M * H * W);
	struct conv_case k = {C, H, W, M, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0};
	ref_conv(&k, N, x, wt, NULL, want, H, W);
	for (int bb = 0; bb < N; bb++)
		for (int o = 0; o < M; o++)
			for (int yy = 0; yy < H; yy++)
				for (int xx = 0; xx < W; xx++) {
					const float *xp = x + ((bb * C + o) * H + yy / 2 * 2) * W + xx / 2 * 2;
					float mx = fmaxf(fmaxf(xp[0], xp[1]), fmaxf(xp[W], xp[W + 1]));
					float *v = &want[((bb * M + o) * H + yy) * W + xx];
					*v = fmaxf(*v + mx, 0);
				}
	struct nn_load_opts o = {.max_batch = N};
	struct nn_model *m;
	char err[256];
	cr_assert_eq(mb_load(&b, &o, &m, err, sizeof err), 0, "%s", err);
	cr_expect_eq(nn_model_exec_nodes(m), 2, "resize, add and relu fuse into the conv");
	struct nn_ctx *c = nn_ctx_new(m);
	cr_assert_eq(nn_ctx_set_threads(c, threads), 0);
	float *outs[1];
	for (int rep = 0; rep < 2; rep++) {
		cr_assert_eq(nn_run(c, N, x, outs), 0);
		expect_close(outs[0], want, N * M * H * W, "upsample+add+relu");
	}
	cr_assert_eq(nn_run(c, 2, x, outs), 0);
	expect_close(outs[0], want, 2 * M * H * W, "upsample+add+relu, batch 2");
	nn_ctx_free(c);
	nn_model_free(m);
	free(want);
	free(x);
	free(wt);
	mb_free(&b);
}

Test(fused, upsample_add_one_thread) { upsample_add_run(1); }
Test(fused, upsample_add_three_threads) { upsample_add_run(3); }

Test(fused, upsample_add_winograd)
{
	setenv("DICOMAID_NN_WINO", "2", 1);
	upsample_add_run(1);
	upsample_add_run(3);
	setenv("DICOMAID_NN_GROUP_BYTES", "1", 1);
	upsample_add_run(2);
}

Test(fused, small_item_groups_and_threads)
{
	/* one item per GEMM group: exercises the group loop of the fast path */
	setenv("DICOMAID_NN_GROUP_BYTES", "1", 1);
	upsample_add_run(2);
	for (size_t i = 0; i < sizeof conv_cases / sizeof conv_cases[0]; i++)
		conv_case_run(&conv_cases[i], 1);
}

/* Split along channels (sizes 1, 3, 2), swapped back by Concat: y = [c, a, b] */
Test(move, split_and_concat)
{
	struct mb b;
	mb_init(&b, 13);
	int N = 2, C = 6, H = 3, W = 5;
	int64_t in[4] = {-1, C, H, W};
	mb_input(&b, "x", 4, in);
	mb_ints(&b, "sizes", 3, I64(1), I64(3), I64(2));
	Onnx__NodeProto *n = mb_node(&b, "Split", "sp", "x,sizes", "a,b,c");
	mb_attr_i(&b, n, "axis", 1);
	n = mb_node(&b, "Concat", "cat", "c,a,b", "y");
	mb_attr_i(&b, n, "axis", 1);
	mb_output(&b, "y");
	float *x = rand_buf(N * C * H * W), want[180];
	const int src_ch[6] = {4, 5, 0, 1, 2, 3};
	for (int bb = 0; bb < N; bb++)
		for (int c = 0; c < C; c++)
			memcpy(want + (bb * C + c) * H * W, x + (bb * C + src_ch[c]) * H * W,
			       sizeof(float) * H * W);
	int64_t gn;
	float *got = run1(&b, 2, N, x, &gn);
	cr_assert_eq(gn, N * C * H * W);
	expect_close(got, want, gn, "split/concat");
	free(got);
	free(x);
	mb_free(&b);
}

/* Conv1d (NCW): runs as a 2-D convolution of height 1 */
Test(conv, one_dimensional)
{
	struct mb b;
	mb_init(&b, 13);
	int N = 2, C = 3, L = 17, M = 4, K = 5, S = 2, P = 2;
	int64_t in[3] = {-1, C, L}, wd[3] = {M, C, K}, bd[1] = {M};
	mb_input(&b, "x", 3, in);
	float *wt = rand_buf(M * C * K), *bias = rand_buf(M);
	mb_init_f(&b, "w", 3, wd, wt);
	mb_init_f(&b, "b", 1, bd, bias);
	Onnx__NodeProto *n = mb_node(&b, "Conv", "c1d", "x,w,b", "y");
	mb_attr_ints(&b, n, "strides", 1, I64(S));
	mb_attr_ints(&b, n, "pads", 2, I64(P), I64(P));
	mb_output(&b, "y");
	int OL = (L + 2 * P - K) / S + 1;
	float *x = rand_buf(N * C * L);
	float *want = malloc(sizeof(float) * N * M * OL);
	for (int bb = 0; bb < N; bb++)
		for (int o = 0; o < M; o++)
			for (int ox = 0; ox < OL; ox++) {
				double s = bias[o];
				for (int c = 0; c < C; c++)
					for (int k = 0; k < K; k++) {
						int ix = ox * S - P + k;
						if (ix >= 0 && ix < L)
							s += x[(bb * C + c) * L + ix] * wt[(o * C + c) * K + k];
					}
				want[(bb * M + o) * OL + ox] = (float)s;
			}
	int64_t gn;
	float *got = run1(&b, 2, N, x, &gn);
	cr_assert_eq(gn, N * M * OL);
	expect_close(got, want, gn, "conv1d");
	free(got);
	free(want);
	free(x);
	free(wt);
	free(bias);
	mb_free(&b);
}
