/*
 * Executor: per-thread contexts (one arena sized by the load-time memory plan plus conv
 * scratch) and nn_run(), which walks the planned node list once per call and dispatches to
 * the kernels. The light operators (broadcasting arithmetic, concat, softmax, transpose,
 * slice, pad, gemm/matmul, pooling to 1x1, standalone BN and activations) live here. Actual
 * shapes are the planned per-item shapes with dimension 0 of batched tensors set to the run's
 * batch. Nothing here allocates.
 */
#include "config.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nn/nn_impl.h"

void nn_ctx_set_profile(struct nn_ctx *c, double *acc) { c->prof = acc; }

void nn_model_exec_name(const struct nn_model *m, int i, const char **name, const char **op)
{
	const struct nn_node *n = &m->nodes[m->exec[i]];
	*name = n->name;
	*op = n->op_type;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* (re)builds the per-thread one-item arenas and their pointer tables */
static int setup_item_arenas(struct nn_ctx *c, int threads)
{
	const struct nn_model *m = c->m;
	size_t per = (size_t)m->arena1_floats;
	float *a = aligned_alloc(64, (per * (size_t)threads * 4 + 64) / 64 * 64);
	float **p = calloc((size_t)threads * (m->nvals ? m->nvals : 1), sizeof(float *));
	if (!a || !p) {
		free(a);
		free(p);
		return NN_ENOMEM;
	}
	free(c->arena1);
	free(c->ptr1);
	c->arena1 = a;
	c->ptr1 = p;
	for (int t = 0; t < threads; t++)
		for (int v = 0; v < m->nvals; v++) {
			const struct nn_val *val = &m->vals[v];
			float **row = p + (size_t)t * m->nvals;
			if (val->is_const)
				row[v] = val->f;
			else if (val->planned)
				row[v] = a + (size_t)t * per + val->off1;
		}
	return 0;
}

struct nn_ctx *nn_ctx_new(const struct nn_model *m)
{
	struct nn_ctx *c = calloc(1, sizeof *c);
	if (!c)
		return NULL;
	c->m = m;
	c->threads = 1;
	c->ptr = calloc(m->nvals ? m->nvals : 1, sizeof(float *));
	c->arena = aligned_alloc(64, ((size_t)(m->arena_floats + 64) * 4 + 64) / 64 * 64);
	c->scratch = aligned_alloc(64, ((size_t)(m->scratch_floats + 64) * 4 + 64) / 64 * 64);
	if (!c->ptr || !c->arena || !c->scratch ||
	    (m->max_batch > 1 && setup_item_arenas(c, 1) < 0)) {
		nn_ctx_free(c);
		return NULL;
	}
	for (int v = 0; v < m->nvals; v++) {
		const struct nn_val *val = &m->vals[v];
		if (val->is_const)
			c->ptr[v] = val->f;
		else if (val->planned)
			c->ptr[v] = c->arena + val->off;
	}
	return c;
}

void nn_ctx_free(struct nn_ctx *c)
{
	if (!c)
		return;
	nn_pool_free(c->pool);
	free(c->ptr);
	free(c->arena);
	free(c->scratch);
	free(c->arena1);
	free(c->ptr1);
	free(c);
}

int nn_ctx_set_threads(struct nn_ctx *c, int threads)
{
	if (threads < 1 || threads > 64)
		return NN_EARG;
	nn_pool_free(c->pool);
	c->pool = NULL;
	c->threads = 1;
	/* one scratch region and one item arena per thread */
	size_t per = (size_t)(c->m->scratch_floats + 64);
	float *s = aligned_alloc(64, (per * (size_t)threads * 4 + 64) / 64 * 64);
	if (!s)
		return NN_ENOMEM;
	free(c->scratch);
	c->scratch = s;
	if (c->m->max_batch > 1 && setup_item_arenas(c, threads) < 0)
		return NN_ENOMEM;
	if (threads > 1 && !(c->pool = nn_pool_new(threads - 1)))
		return NN_ENOMEM;
	c->threads = threads;
	return 0;
}

/* actual dims of value v at batch b; returns element count */
static int64_t adims(const struct nn_val *v, int b, int64_t *d)
{
	int64_t n = 1;
	for (int i = 0; i < v->ndim; i++) {
		d[i] = v->dims[i];
		if (i == 0 && v->batched)
			d[i] = b;
		n *= d[i];
	}
	return n;
}

static void binary(enum op op, const struct nn_val *va, const float *a, const struct nn_val *vb,
		   const float *b, const struct nn_val *vy, float *y, int batch)
{
	int64_t od[NN_MAX_DIMS], ad[NN_MAX_DIMS], bd[NN_MAX_DIMS];
	int nd = vy->ndim;
	int64_t total = adims(vy, batch, od);
	/* align ranks: broadcast flags per dim */
	int64_t ta[NN_MAX_DIMS], tb[NN_MAX_DIMS];
	adims(va, batch, ad);
	adims(vb, batch, bd);
	for (int d = 0; d < nd; d++) {
		int da = d - (nd - va->ndim), db = d - (nd - vb->ndim);
		ta[d] = da >= 0 ? ad[da] : 1;
		tb[d] = db >= 0 ? bd[db] : 1;
	}
	/* coalesce dims with the same broadcast pattern */
	int64_t cd[NN_MAX_DIMS];
	int ca[NN_MAX_DIMS], cb[NN_MAX_DIMS];
	int nc = 0;
	for (int d = 0; d < nd; d++) {
		if (od[d] == 1)
			continue;
		int fa = ta[d] != 1, fb = tb[d] != 1;
		if (nc && ca[nc - 1] == fa && cb[nc - 1] == fb) {
			cd[nc - 1] *= od[d];
		} else {
			cd[nc] = od[d];
			ca[nc] = fa;
			cb[nc] = fb;
			nc++;
		}
	}
	if (nc == 0) {
		cd[0] = 1;
		ca[0] = cb[0] = 1;
		nc = 1;
	}
	/* strides in the coalesced view */
	int64_t sa[NN_MAX_DIMS], sb[NN_MAX_DIMS];
	int64_t pa = 1, pb = 1;
	for (int d = nc - 1; d >= 0; d--) {
		sa[d] = ca[d] ? pa : 0;
		sb[d] = cb[d] ? pb : 0;
		if (ca[d])
			pa *= cd[d];
		if (cb[d])
			pb *= cd[d];
	}
	int64_t inner = cd[nc - 1], isa = sa[nc - 1], isb = sb[nc - 1];
	int64_t cnt[NN_MAX_DIMS] = {0};
	int64_t oa = 0, ob = 0;
	for (int64_t o = 0; o < total; o += inner) {
		const float *pa_ = a + oa, *pb_ = b + ob;
		float *py = y + o;
		switch (op) {
		case OP_ADD:
			if (isa && isb)
				for (int64_t k = 0; k < inner; k++) py[k] = pa_[k] + pb_[k];
			else if (isa)
				for (int64_t k = 0; k < inner; k++) py[k] = pa_[k] + pb_[0];
			else if (isb)
				for (int64_t k = 0; k < inner; k++) py[k] = pa_[0] + pb_[k];
			else
				for (int64_t k = 0; k < inner; k++) py[k] = pa_[0] + pb_[0];
			break;
		case OP_SUB:
			for (int64_t k = 0; k < inner; k++) py[k] = pa_[k * isa] - pb_[k * isb];
			break;
		case OP_MUL:
			if (isa && !isb)
				for (int64_t k = 0; k < inner; k++) py[k] = pa_[k] * pb_[0];
			else
				for (int64_t k = 0; k < inner; k++) py[k] = pa_[k * isa] * pb_[k * isb];
			break;
		default:
			for (int64_t k = 0; k < inner; k++) py[k] = pa_[k * isa] / pb_[k * isb];
			break;
		}
		/* advance outer counters */
		for (int d = nc - 2; d >= 0; d--) {
			cnt[d]++;
			oa += sa[d];
			ob += sb[d];
			if (cnt[d] < cd[d])
				break;
			oa -= sa[d] * cd[d];
			ob -= sb[d] * cd[d];
			cnt[d] = 0;
		}
	}
}

static void softmax(const struct nn_params *p, const struct nn_val *vx, const float *x, float *y,
		    int batch)
{
	int64_t d[NN_MAX_DIMS];
	int64_t total = adims(vx, batch, d);
	int64_t len = p->axis_len;
	int64_t inner = 1;
	if (!p->legacy)
		for (int i = p->axis + 1; i < vx->ndim; i++)
			inner *= d[i];
	int64_t outer = total / (len * inner);
	for (int64_t o = 0; o < outer; o++)
		for (int64_t i = 0; i < inner; i++) {
			const float *xs = x + o * len * inner + i;
			float *ys = y + o * len * inner + i;
			float mx = -INFINITY;
			for (int64_t k = 0; k < len; k++)
				if (xs[k * inner] > mx)
					mx = xs[k * inner];
			float s = 0;
			for (int64_t k = 0; k < len; k++) {
				float e = expf(xs[k * inner] - mx);
				ys[k * inner] = e;
				s += e;
			}
			float r = 1.0f / s;
			for (int64_t k = 0; k < len; k++)
				ys[k * inner] *= r;
		}
}

static void transpose(const struct nn_params *p, const struct nn_val *vx, const float *x,
		      float *y, int batch)
{
	int64_t d[NN_MAX_DIMS] = {0}, istr[NN_MAX_DIMS] = {0}, od[NN_MAX_DIMS] = {0}, ostr[NN_MAX_DIMS] = {0};
	int nd = vx->ndim;
	int64_t total = adims(vx, batch, d);
	if (nd == 0) {
		y[0] = x[0];
		return;
	}
	int64_t s = 1;
	for (int i = nd - 1; i >= 0; i--) {
		istr[i] = s;
		s *= d[i];
	}
	for (int i = 0; i < nd; i++) {
		od[i] = d[p->perm[i]];
		ostr[i] = istr[p->perm[i]];
	}
	int64_t cnt[NN_MAX_DIMS] = {0}, off = 0;
	int64_t inner = od[nd - 1], is = ostr[nd - 1];
	for (int64_t o = 0; o < total; o += inner) {
		for (int64_t k = 0; k < inner; k++)
			y[o + k] = x[off + k * is];
		for (int i = nd - 2; i >= 0; i--) {
			cnt[i]++;
			off += ostr[i];
			if (cnt[i] < od[i])
				break;
			off -= ostr[i] * od[i];
			cnt[i] = 0;
		}
	}
}

static void slice(const struct nn_params *p, const struct nn_val *vx, const float *x,
		  const struct nn_val *vy, float *y, int batch)
{
	int64_t d[NN_MAX_DIMS], od[NN_MAX_DIMS], istr[NN_MAX_DIMS];
	int nd = vx->ndim;
	adims(vx, batch, d);
	int64_t total = adims(vy, batch, od);
	int64_t s = 1;
	for (int i = nd - 1; i >= 0; i--) {
		istr[i] = s;
		s *= d[i];
	}
	int64_t base = 0;
	for (int i = 0; i < nd; i++)
		base += p->start[i] * istr[i];
	int64_t cnt[NN_MAX_DIMS] = {0}, off = base;
	int64_t inner = od[nd - 1], is = p->step[nd - 1];
	for (int64_t o = 0; o < total; o += inner) {
		if (is == 1)
			memcpy(y + o, x + off, sizeof(float) * inner);
		else
			for (int64_t k = 0; k < inner; k++)
				y[o + k] = x[off + k * is];
		for (int i = nd - 2; i >= 0; i--) {
			cnt[i]++;
			off += p->step[i] * istr[i];
			if (cnt[i] < od[i])
				break;
			off -= p->step[i] * istr[i] * od[i];
			cnt[i] = 0;
		}
	}
}

static int64_t pad_src(int mode, int64_t i, int64_t len)
{
	if (i >= 0 && i < len)
		return i;
	if (mode == 0)
		return -1;
	if (mode == 2)
		return i < 0 ? 0 : len - 1;
	/* reflect (pads < len checked at load) */
	if (len == 1)
		return 0;
	int64_t period = 2 * (len - 1);
	i = i % period;
	if (i < 0)
		i += period;
	return i < len ? i : period - i;
}

static void pad(const struct nn_params *p, const struct nn_val *vx, const float *x,
		const struct nn_val *vy, float *y, int batch)
{
	int64_t d[NN_MAX_DIMS], od[NN_MAX_DIMS], istr[NN_MAX_DIMS];
	int nd = vx->ndim;
	adims(vx, batch, d);
	int64_t total = adims(vy, batch, od);
	int64_t s = 1;
	for (int i = nd - 1; i >= 0; i--) {
		istr[i] = s;
		s *= d[i];
	}
	int64_t cnt[NN_MAX_DIMS] = {0};
	int64_t inner = od[nd - 1];
	for (int64_t o = 0; o < total; o += inner) {
		int64_t off = 0;
		int oob = 0;
		for (int i = 0; i < nd - 1; i++) {
			int64_t si = pad_src(p->padmode, cnt[i] - p->start[i], d[i]);
			if (si < 0)
				oob = 1;
			off += si * istr[i];
		}
		if (p->padmode == 0) {
			/* constant: [fill][copy of the row][fill] */
			int64_t b = p->start[nd - 1], len = d[nd - 1];
			int64_t lo = b > 0 ? b : 0, hi = b + len < inner ? b + len : inner;
			if (oob || hi <= lo) {
				lo = hi = 0;
			}
			for (int64_t k = 0; k < lo; k++)
				y[o + k] = p->padval;
			if (hi > lo)
				memcpy(y + o + lo, x + off + (lo - b), sizeof(float) * (size_t)(hi - lo));
			for (int64_t k = hi > lo ? hi : 0; k < inner; k++)
				y[o + k] = p->padval;
		} else {
			for (int64_t k = 0; k < inner; k++) {
				int64_t si = pad_src(p->padmode, k - p->start[nd - 1], d[nd - 1]);
				y[o + k] = (oob || si < 0) ? p->padval : x[off + si];
			}
		}
		for (int i = nd - 2; i >= 0; i--) {
			if (++cnt[i] < od[i])
				break;
			cnt[i] = 0;
		}
	}
}

static void matmul(const struct nn_val *va, const float *a, const struct nn_val *vb,
		   const float *b, const struct nn_val *vy, float *y, int batch)
{
	int64_t ad[NN_MAX_DIMS], bd[NN_MAX_DIMS], od[NN_MAX_DIMS];
	int64_t na = adims(va, batch, ad);
	adims(vb, batch, bd);
	adims(vy, batch, od);
	int K = (int)ad[va->ndim - 1], N = (int)bd[vb->ndim - 1];
	if (vb->ndim == 2) {
		int M = (int)(na / K);
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, a, K, b, N,
			    0.0f, y, N);
		return;
	}
	int nd = vy->ndim;
	int M = (int)od[nd - 2];
	int64_t lead = 1;
	for (int i = 0; i < nd - 2; i++)
		lead *= od[i];
	for (int64_t l = 0; l < lead; l++) {
		/* map l to a/b offsets with broadcasting */
		int64_t r = l, oa = 0, ob = 0, sa = (int64_t)M * K, sb = (int64_t)K * N;
		for (int i = nd - 3; i >= 0; i--) {
			int64_t c = r % od[i];
			r /= od[i];
			int ia = i - (nd - va->ndim), ib = i - (nd - vb->ndim);
			if (ia >= 0) {
				if (ad[ia] != 1)
					oa += c * sa;
				sa *= ad[ia];
			}
			if (ib >= 0) {
				if (bd[ib] != 1)
					ob += c * sb;
				sb *= bd[ib];
			}
		}
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, a + oa, K,
			    b + ob, N, 0.0f, y + l * M * N, N);
	}
}

static void gemm(const struct nn_node *n, const struct nn_model *m, float **ptr, int batch)
{
	const struct nn_val *va = &m->vals[n->in[0]], *vb = &m->vals[n->in[1]];
	const struct nn_val *vy = &m->vals[n->out[0]];
	int64_t ad[2], bd[2], od[2];
	adims(va, batch, ad);
	adims(vb, batch, bd);
	adims(vy, batch, od);
	int M = (int)od[0], N = (int)od[1];
	int K = (int)(n->p.trans_a ? ad[0] : ad[1]);
	float *y = ptr[n->out[0]];
	float beta = 0;
	if (n->nin > 2 && n->in[2] >= 0) {
		const struct nn_val *vc = &m->vals[n->in[2]];
		const float *c = ptr[n->in[2]];
		int64_t cr = vc->ndim == 2 ? vc->dims[0] : 1;
		int64_t cc = vc->ndim >= 1 ? vc->dims[vc->ndim - 1] : 1;
		for (int i = 0; i < M; i++)
			for (int j = 0; j < N; j++)
				y[(int64_t)i * N + j] =
					c[(cr == 1 ? 0 : (int64_t)i * cc) + (cc == 1 ? 0 : j)];
		beta = n->p.beta;
	}
	cblas_sgemm(CblasRowMajor, n->p.trans_a ? CblasTrans : CblasNoTrans,
		    n->p.trans_b ? CblasTrans : CblasNoTrans, M, N, K, n->p.alpha, ptr[n->in[0]],
		    (int)ad[1], ptr[n->in[1]], (int)bd[1], beta, y, N);
}

/* Runs every planned node once on the tensors of ptr, at the given batch. */
static void exec_nodes(const struct nn_model *m, float **ptr, int batch, float *scratch,
		       int64_t scratch_stride, struct nn_pool *pool, double *prof)
{
	double t0 = prof ? now_s() : 0;
	for (int s = 0; s < m->nexec; s++) {
		if (prof && s) {
			double t1 = now_s();
			prof[s - 1] += t1 - t0;
			t0 = t1;
		}
		const struct nn_node *n = &m->nodes[m->exec[s]];
		const struct nn_val *vx = &m->vals[n->in[0]];
		const struct nn_val *vy = &m->vals[n->out[0]];
		const float *x = ptr[n->in[0]];
		float *y = ptr[n->out[0]];
		int64_t xd[NN_MAX_DIMS], yd[NN_MAX_DIMS];
		int64_t xn = adims(vx, batch, xd), yn = adims(vy, batch, yd);
		switch (n->op) {
		case OP_CONV:
		case OP_CONVT: {
			int sp2 = vx->ndim == 4;
			int h = sp2 ? (int)xd[2] : 1, w = (int)xd[sp2 ? 3 : 2];
			int oh = sp2 ? (int)yd[2] : 1, ow = (int)yd[sp2 ? 3 : 2];
			if (n->op == OP_CONV && n->p.fast)
				nn_fast_conv(&n->p, (int)xd[0], (int)xd[1], h, w, x, (int)yd[1],
					     n->p.bias, n->p.sum_in ? ptr[n->in[n->nin - 1]] : NULL,
					     y, scratch, scratch_stride, pool);
			else if (n->op == OP_CONV)
				nn_conv(&n->p, (int)xd[0], (int)xd[1], h, w, x, (int)yd[1], oh, ow,
					n->p.wt, n->p.bias, n->p.sum_in ? ptr[n->in[n->nin - 1]] : NULL,
					y, scratch);
			else
				nn_convt(&n->p, (int)xd[0], (int)xd[1], h, w, x, (int)yd[1], oh, ow,
					 n->p.wt, n->p.bias, y, scratch);
			break;
		}
		case OP_MAXPOOL:
		case OP_AVGPOOL: {
			int sp2 = vx->ndim == 4;
			nn_pool(&n->p, n->op == OP_MAXPOOL, (int)(xd[0] * xd[1]),
				sp2 ? (int)xd[2] : 1, (int)xd[sp2 ? 3 : 2], x, sp2 ? (int)yd[2] : 1,
				(int)yd[sp2 ? 3 : 2], y);
			break;
		}
		case OP_GAP:
		case OP_GMP: {
			int64_t planes = xd[0] * xd[1], len = xn / planes;
			for (int64_t p = 0; p < planes; p++) {
				const float *xp = x + p * len;
				float acc = n->op == OP_GAP ? 0 : -INFINITY;
				for (int64_t k = 0; k < len; k++)
					acc = n->op == OP_GAP ? acc + xp[k] : (xp[k] > acc ? xp[k] : acc);
				y[p] = n->op == OP_GAP ? acc / (float)len : acc;
			}
			break;
		}
		case OP_BN: {
			int64_t C = xd[1], len = xn / (xd[0] * C);
			for (int64_t b = 0; b < xd[0]; b++)
				for (int64_t ch = 0; ch < C; ch++) {
					const float *xp = x + (b * C + ch) * len;
					float *yp = y + (b * C + ch) * len;
					float sc = n->p.scale[ch], sh = n->p.shift[ch];
					for (int64_t k = 0; k < len; k++)
						yp[k] = xp[k] * sc + sh;
				}
			break;
		}
		case OP_RELU: case OP_LEAKY: case OP_SIGMOID: case OP_TANH: case OP_CLIP:
		case OP_HSWISH: case OP_HSIGMOID:
			memcpy(y, x, sizeof(float) * xn);
			nn_act_apply(n->p.act, n->p.a0, n->p.a1, y, yn);
			break;
		case OP_SOFTMAX:
			softmax(&n->p, vx, x, y, batch);
			break;
		case OP_ADD: case OP_SUB: case OP_MUL: case OP_DIV:
			binary(n->op, vx, x, &m->vals[n->in[1]], ptr[n->in[1]], vy, y, batch);
			break;
		case OP_CONCAT: {
			int64_t outer = 1, inner = 1;
			for (int i = 0; i < n->p.axis; i++)
				outer *= yd[i];
			for (int i = n->p.axis + 1; i < vy->ndim; i++)
				inner *= yd[i];
			float *dst = y;
			for (int64_t o = 0; o < outer; o++)
				for (int k = 0; k < n->nin; k++) {
					const struct nn_val *vk = &m->vals[n->in[k]];
					int64_t chunk = vk->dims[n->p.axis] * inner;
					memcpy(dst, ptr[n->in[k]] + o * chunk, sizeof(float) * chunk);
					dst += chunk;
				}
			break;
		}
		case OP_SPLIT: {
			int64_t outer = 1, inner = 1;
			for (int i = 0; i < n->p.axis; i++)
				outer *= xd[i];
			for (int i = n->p.axis + 1; i < vx->ndim; i++)
				inner *= xd[i];
			int64_t full = vx->dims[n->p.axis] * inner, pos = 0;
			for (int k = 0; k < n->nout; k++) {
				const struct nn_val *vk = &m->vals[n->out[k]];
				int64_t chunk = vk->dims[n->p.axis] * inner;
				float *dst = ptr[n->out[k]];
				for (int64_t o = 0; o < outer; o++)
					memcpy(dst + o * chunk, x + o * full + pos, sizeof(float) * chunk);
				pos += chunk;
			}
			break;
		}
		case OP_RESIZE:
		case OP_UPSAMPLE:
			nn_resize(&n->p, (int)(xd[0] * xd[1]), (int)xd[2], (int)xd[3], x, (int)yd[2],
				  (int)yd[3], y);
			break;
		case OP_FLATTEN: case OP_RESHAPE: case OP_SQUEEZE: case OP_UNSQUEEZE:
		case OP_IDENTITY: case OP_DROPOUT:
			if (y != x)
				memcpy(y, x, sizeof(float) * xn);
			break;
		case OP_TRANSPOSE:
			transpose(&n->p, vx, x, y, batch);
			break;
		case OP_GEMM:
			gemm(n, m, ptr, batch);
			break;
		case OP_MATMUL:
			matmul(vx, x, &m->vals[n->in[1]], ptr[n->in[1]], vy, y, batch);
			break;
		case OP_PAD:
			pad(&n->p, vx, x, vy, y, batch);
			break;
		case OP_SLICE:
			slice(&n->p, vx, x, vy, y, batch);
			break;
		default:
			break; /* unreachable: refused at load */
		}
	}
	if (prof && m->nexec)
		prof[m->nexec - 1] += now_s() - t0;
}

struct item_run {
	struct nn_ctx *c;
	const float *input;
	int64_t in_per;
};

/* one item through the whole graph in thread tid's own arena (depth first: the item's
 * activations stay in that core's caches) */
static void item_task(void *arg, int item, int tid)
{
	const struct item_run *ir = arg;
	struct nn_ctx *c = ir->c;
	const struct nn_model *m = c->m;
	float **ptr = c->ptr1 + (size_t)tid * m->nvals;
	ptr[m->input] = (float *)ir->input + item * ir->in_per;
	for (int i = 0; i < m->noutputs; i++) {
		const struct nn_val *o = &m->vals[m->outputs[i]];
		ptr[m->outputs[i]] = c->arena + o->off + (o->batched ? item * o->nelem : 0);
	}
	int64_t stride = m->scratch_floats + 64;
	exec_nodes(m, ptr, 1, c->scratch + tid * stride, stride, NULL,
		   c->threads == 1 ? c->prof : NULL);
}

int nn_run(struct nn_ctx *c, int batch, const float *input, float **outputs)
{
	const struct nn_model *m = c->m;
	if (batch < 1 || batch > m->max_batch || !input || !outputs ||
	    (m->static_batch && batch != m->static_batch))
		return NN_EARG;
	if (batch >= 2 && batch >= c->threads && c->ptr1 && m->item_ok) {
		/* several items: each thread runs whole items, no synchronisation per layer */
		struct item_run ir = {c, input, m->vals[m->input].nelem};
		nn_pool_run(c->pool, item_task, &ir, batch);
	} else {
		c->ptr[m->input] = (float *)input; /* only ever read */
		exec_nodes(m, c->ptr, batch, c->scratch, m->scratch_floats + 64, c->pool, c->prof);
	}
	for (int i = 0; i < m->noutputs; i++)
		outputs[i] = c->ptr[m->outputs[i]];
	return 0;
}
