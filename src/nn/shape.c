/*
 * Static shape inference and attribute parsing for the operators that run at inference time,
 * following the ONNX Operators specification (ai.onnx, opsets 7-21): every output's shape is
 * fixed at load from the (per-item) input shape, every attribute is range-checked and turned
 * into struct nn_params, and anything the kernels do not implement is refused here with a
 * clear reason, so nn_run() never meets a surprise.
 *
 * The batch rule: a "batched" tensor carries the run-time batch in dimension 0 (dims[0] == 1
 * per item). An operator that would move, merge or reduce that dimension is refused when the
 * model is loaded with max_batch > 1; with max_batch == 1 the batch is simply dropped.
 */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/nn_impl.h"

#define FAIL(code, ...) nn_err(lc->err, lc->errlen, lc->label, n, code, __VA_ARGS__)

static struct nn_val *IN(struct nn_model *m, const struct nn_node *n, int k)
{
	return k < n->nin && n->in[k] >= 0 ? &m->vals[n->in[k]] : NULL;
}

/* Sets output k's shape; enforces the batch rule. */
static int set_out(struct nn_loadctx *lc, struct nn_node *n, int k, int ndim,
		   const int64_t *dims, int batched)
{
	struct nn_model *m = lc->m;
	if (k >= n->nout || n->out[k] < 0)
		return k == 0 ? FAIL(NN_EINVALID, "missing output") : 0;
	struct nn_val *o = &m->vals[n->out[k]];
	if (ndim > NN_MAX_DIMS)
		return FAIL(NN_EUNSUPP, "output rank %d too large", ndim);
	for (int d = 0; d < ndim; d++)
		if (dims[d] <= 0)
			return FAIL(NN_EINVALID, "output dimension %d is %lld", d,
				    (long long)dims[d]);
	int64_t ne = nn_shape_elems(dims, ndim);
	if (ne < 0 || ne * (batched ? m->max_batch : 1) > NN_MAX_TENSOR_ELEMS)
		return FAIL(NN_EUNSUPP, "output is too large");
	if (batched && (ndim < 1 || dims[0] != 1)) {
		if (m->max_batch > 1)
			return FAIL(NN_EUNSUPP,
				    "the operation moves or merges the batch dimension "
				    "(load with max batch 1)");
		batched = 0;
	}
	o->dtype = DT_FLOAT;
	o->ndim = ndim;
	memmove(o->dims, dims, sizeof(int64_t) * ndim);
	o->nelem = ne;
	o->batched = batched;
	o->known = 1;
	return 0;
}

static int batch_err(struct nn_loadctx *lc, struct nn_node *n, int *batched)
{
	if (lc->m->max_batch > 1)
		return FAIL(NN_EUNSUPP, "the operation acts on the batch dimension "
					"(load with max batch 1)");
	*batched = 0;
	return 0;
}

static int need_float(struct nn_loadctx *lc, struct nn_node *n, int k)
{
	const struct nn_val *v = IN(lc->m, n, k);
	if (!v)
		return FAIL(NN_EINVALID, "missing input %d", k);
	if (!v->known)
		return FAIL(NN_EINVALID, "input %d has an unknown shape", k);
	if (v->dtype != DT_FLOAT)
		return FAIL(NN_EUNSUPP, "input %d is not float (int tensors must be constant)", k);
	return 0;
}

static int const_ints(struct nn_loadctx *lc, struct nn_node *n, int k, int64_t *out, int max,
		      int *cnt)
{
	const struct nn_val *v = IN(lc->m, n, k);
	if (!v) {
		*cnt = -1;
		return 0;
	}
	if (!v->is_const || v->dtype != DT_INT64)
		return FAIL(NN_EUNSUPP, "input %d must be a constant int64 tensor", k);
	if (v->nelem > max)
		return FAIL(NN_EINVALID, "input %d has too many elements", k);
	for (int64_t i = 0; i < v->nelem; i++)
		out[i] = v->i[i];
	*cnt = (int)v->nelem;
	return 0;
}

static int const_floats(struct nn_loadctx *lc, struct nn_node *n, int k, float *out, int max,
			int *cnt)
{
	const struct nn_val *v = IN(lc->m, n, k);
	if (!v) {
		*cnt = -1;
		return 0;
	}
	if (!v->is_const || v->dtype != DT_FLOAT)
		return FAIL(NN_EUNSUPP, "input %d must be a constant float tensor", k);
	if (v->nelem > max)
		return FAIL(NN_EINVALID, "input %d has too many elements", k);
	for (int64_t i = 0; i < v->nelem; i++)
		out[i] = v->f[i];
	*cnt = (int)v->nelem;
	return 0;
}

static int norm_axis(int64_t a, int rank, int *out)
{
	if (a < -rank || a >= rank)
		return -1;
	*out = (int)(a < 0 ? a + rank : a);
	return 0;
}

/* Window attributes shared by Conv, ConvTranspose and the pools (2-D, or 1-D as H=1). */
static int window_attrs(struct nn_loadctx *lc, struct nn_node *n, int sp, const int64_t *wk,
			struct nn_params *p, char *autopad, size_t aplen)
{
	int64_t ks[2] = {1, 1}, st[2] = {1, 1}, dl[2] = {1, 1}, pd[4] = {0, 0, 0, 0};
	int c;
	c = nn_attr_ints(n, "kernel_shape", ks, 2);
	if (c >= 0 && c != sp)
		return FAIL(NN_EINVALID, "kernel_shape has %d entries for %d spatial dims", c, sp);
	if (c < 0) {
		if (!wk)
			return FAIL(NN_EINVALID, "kernel_shape is required");
		ks[0] = wk[0];
		ks[1] = sp == 2 ? wk[1] : 1;
	} else if (wk && (ks[0] != wk[0] || (sp == 2 && ks[1] != wk[1]))) {
		return FAIL(NN_EINVALID, "kernel_shape disagrees with the weights");
	}
	c = nn_attr_ints(n, "strides", st, 2);
	if (c >= 0 && c != sp)
		return FAIL(NN_EINVALID, "strides has %d entries", c);
	c = nn_attr_ints(n, "dilations", dl, 2);
	if (c >= 0 && c != sp)
		return FAIL(NN_EINVALID, "dilations has %d entries", c);
	c = nn_attr_ints(n, "pads", pd, 4);
	if (c >= 0 && c != 2 * sp)
		return FAIL(NN_EINVALID, "pads has %d entries", c);
	if (sp == 1) {
		/* 1-D: the spatial axis is W; H is a dummy 1 */
		ks[1] = ks[0];
		ks[0] = 1;
		st[1] = st[0];
		st[0] = 1;
		dl[1] = dl[0];
		dl[0] = 1;
		if (c >= 0) {
			pd[3] = pd[1];
			pd[1] = pd[0];
			pd[0] = 0;
			pd[2] = 0;
		}
	} else if (c >= 0) {
		/* ONNX order: [x1_begin, x2_begin, x1_end, x2_end] = [t, l, b, r] */
	}
	for (int i = 0; i < 2; i++) {
		if (ks[i] < 1 || ks[i] > 1024 || st[i] < 1 || st[i] > 1024 || dl[i] < 1 ||
		    dl[i] > 1024)
			return FAIL(NN_EINVALID, "kernel, stride or dilation out of range");
	}
	for (int i = 0; i < 4; i++)
		if (pd[i] < 0 || pd[i] > 4096)
			return FAIL(NN_EINVALID, "pad out of range");
	p->kh = (int)ks[0];
	p->kw = (int)ks[1];
	p->sh = (int)st[0];
	p->sw = (int)st[1];
	p->dh = (int)dl[0];
	p->dw = (int)dl[1];
	p->pt = (int)pd[0];
	p->pl = (int)pd[1];
	p->pb = (int)pd[2];
	p->pr = (int)pd[3];
	nn_attr_str(n, "auto_pad", autopad, aplen);
	if (autopad[0] && strcmp(autopad, "NOTSET") && strcmp(autopad, "SAME_UPPER") &&
	    strcmp(autopad, "SAME_LOWER") && strcmp(autopad, "VALID"))
		return FAIL(NN_EINVALID, "auto_pad \"%s\" is not valid", autopad);
	return 0;
}

/* Output size of a window op along one axis; applies auto_pad. -1 if empty. */
static int64_t win_out(const char *ap, int64_t in, int k, int s, int d, int *pb, int *pe,
		       int ceil_mode)
{
	int64_t ext = (int64_t)(k - 1) * d + 1;
	if (!strcmp(ap, "VALID")) {
		*pb = *pe = 0;
	} else if (!strcmp(ap, "SAME_UPPER") || !strcmp(ap, "SAME_LOWER")) {
		int64_t out = (in + s - 1) / s;
		int64_t tot = (out - 1) * s + ext - in;
		if (tot < 0)
			tot = 0;
		if (!strcmp(ap, "SAME_UPPER")) {
			*pb = (int)(tot / 2);
			*pe = (int)(tot - tot / 2);
		} else {
			*pe = (int)(tot / 2);
			*pb = (int)(tot - tot / 2);
		}
		return out;
	}
	int64_t span = in + *pb + *pe - ext;
	if (span < 0)
		return -1;
	int64_t out;
	if (ceil_mode) {
		out = (span + s - 1) / s + 1;
		if ((out - 1) * s >= in + *pb)
			out--;
	} else {
		out = span / s + 1;
	}
	return out;
}

static int infer_window(struct nn_loadctx *lc, struct nn_node *n, const struct nn_val *x,
			const int64_t *wk, int ceil_mode, int64_t *oh, int64_t *ow, int *sp)
{
	if (x->ndim != 4 && x->ndim != 3)
		return FAIL(NN_EUNSUPP, "only 1-D and 2-D (NCW / NCHW) inputs are supported");
	*sp = x->ndim - 2;
	char ap[32];
	int rc = window_attrs(lc, n, *sp, wk, &n->p, ap, sizeof ap);
	if (rc < 0)
		return rc;
	int64_t H = *sp == 2 ? x->dims[2] : 1, W = x->dims[*sp == 2 ? 3 : 2];
	struct nn_params *p = &n->p;
	*oh = win_out(*sp == 2 ? ap : "NOTSET", H, p->kh, p->sh, p->dh, &p->pt, &p->pb, ceil_mode);
	*ow = win_out(ap, W, p->kw, p->sw, p->dw, &p->pl, &p->pr, ceil_mode);
	if (*oh < 1 || *ow < 1)
		return FAIL(NN_EINVALID, "the window is larger than the padded input");
	return 0;
}

static int infer_conv(struct nn_loadctx *lc, struct nn_node *n)
{
	struct nn_model *m = lc->m;
	int rc;
	if ((rc = need_float(lc, n, 0)) < 0)
		return rc;
	struct nn_val *x = IN(m, n, 0), *w = IN(m, n, 1), *b = IN(m, n, 2);
	if (!w || !w->is_const || w->dtype != DT_FLOAT)
		return FAIL(NN_EUNSUPP, "weights must be a constant float tensor");
	if (w->ndim != x->ndim)
		return FAIL(NN_EINVALID, "weights have rank %d, input %d", w->ndim, x->ndim);
	int64_t g;
	nn_attr_int(n, "group", 1, &g);
	int64_t C = x->dims[1];
	if (g < 1 || C % g)
		return FAIL(NN_EINVALID, "group %lld does not divide %lld input channels",
			    (long long)g, (long long)C);
	n->p.group = (int)g;
	int sp;
	int64_t oh, ow, M;
	const int64_t *wk = w->dims + 2;
	if (n->op == OP_CONV) {
		M = w->dims[0];
		if (w->dims[1] * g != C)
			return FAIL(NN_EINVALID,
				    "weights expect %lld input channels per group, input has %lld "
				    "channels in %lld groups",
				    (long long)w->dims[1], (long long)C, (long long)g);
		if (M % g)
			return FAIL(NN_EINVALID, "group does not divide output channels");
		if ((rc = infer_window(lc, n, x, wk, 0, &oh, &ow, &sp)) < 0)
			return rc;
		n->p.flops = 2.0 * M * (double)(C / g) * n->p.kh * n->p.kw * oh * ow;
	} else {
		if (w->dims[0] != C)
			return FAIL(NN_EINVALID, "weights expect %lld input channels, input has %lld",
				    (long long)w->dims[0], (long long)C);
		M = w->dims[1] * g;
		int spd = x->ndim - 2;
		char ap[32];
		if (spd != 1 && spd != 2)
			return FAIL(NN_EUNSUPP, "only 1-D and 2-D inputs are supported");
		sp = spd;
		if ((rc = window_attrs(lc, n, sp, wk, &n->p, ap, sizeof ap)) < 0)
			return rc;
		int64_t opd[2] = {0, 0}, osh[2];
		int c = nn_attr_ints(n, "output_padding", opd, 2);
		if (c >= 0 && c != sp)
			return FAIL(NN_EINVALID, "output_padding has %d entries", c);
		if (sp == 1) {
			opd[1] = opd[0];
			opd[0] = 0;
		}
		struct nn_params *p = &n->p;
		if (opd[0] < 0 || opd[1] < 0 || opd[0] >= (p->sh > p->dh ? p->sh : p->dh) ||
		    opd[1] >= (p->sw > p->dw ? p->sw : p->dw))
			return FAIL(NN_EINVALID, "output_padding out of range");
		p->oph = (int)opd[0];
		p->opw = (int)opd[1];
		int64_t H = sp == 2 ? x->dims[2] : 1, W = x->dims[sp == 2 ? 3 : 2];
		int64_t full_h = (int64_t)p->sh * (H - 1) + p->oph + (int64_t)(p->kh - 1) * p->dh + 1;
		int64_t full_w = (int64_t)p->sw * (W - 1) + p->opw + (int64_t)(p->kw - 1) * p->dw + 1;
		c = nn_attr_ints(n, "output_shape", osh, 2);
		int same = !strcmp(ap, "SAME_UPPER") || !strcmp(ap, "SAME_LOWER");
		if (c >= 0 || same) {
			int64_t th, tw;
			if (c >= 0) {
				if (c != sp)
					return FAIL(NN_EINVALID, "output_shape has %d entries", c);
				th = sp == 2 ? osh[0] : 1;
				tw = osh[sp == 2 ? 1 : 0];
			} else {
				th = H * p->sh;
				tw = W * p->sw;
			}
			int64_t toth = full_h - th, totw = full_w - tw;
			if (toth < 0 || totw < 0)
				return FAIL(NN_EINVALID, "output_shape is too large");
			int upper = !strcmp(ap, "SAME_UPPER");
			p->pt = (int)(upper ? toth / 2 : toth - toth / 2);
			p->pb = (int)(toth - p->pt);
			p->pl = (int)(upper ? totw / 2 : totw - totw / 2);
			p->pr = (int)(totw - p->pl);
		} else if (!strcmp(ap, "VALID")) {
			p->pt = p->pb = p->pl = p->pr = 0;
		}
		oh = full_h - p->pt - p->pb;
		ow = full_w - p->pl - p->pr;
		if (oh < 1 || ow < 1)
			return FAIL(NN_EINVALID, "pads leave an empty output");
		n->p.flops = 2.0 * C * (double)(M / g) * p->kh * p->kw * H * W;
	}
	if (b && (!b->is_const || b->dtype != DT_FLOAT || b->nelem != M))
		return FAIL(NN_EINVALID, "bias must be a constant float tensor of %lld elements",
			    (long long)M);
	int64_t od[4] = {x->dims[0], M, oh, ow};
	if (sp == 1) {
		od[2] = ow;
		return set_out(lc, n, 0, 3, od, x->batched);
	}
	return set_out(lc, n, 0, 4, od, x->batched);
}

static int infer_pool(struct nn_loadctx *lc, struct nn_node *n)
{
	struct nn_model *m = lc->m;
	int rc;
	if ((rc = need_float(lc, n, 0)) < 0)
		return rc;
	struct nn_val *x = IN(m, n, 0);
	if (n->nout > 1 && n->out[1] >= 0)
		return FAIL(NN_EUNSUPP, "the Indices output is not supported");
	int64_t v;
	nn_attr_int(n, "ceil_mode", 0, &v);
	n->p.ceil_mode = v != 0;
	nn_attr_int(n, "count_include_pad", 0, &v);
	n->p.count_include_pad = v != 0;
	nn_attr_int(n, "storage_order", 0, &v);
	if (v)
		return FAIL(NN_EUNSUPP, "storage_order 1 is not supported");
	int sp;
	int64_t oh, ow;
	if ((rc = infer_window(lc, n, x, NULL, n->p.ceil_mode, &oh, &ow, &sp)) < 0)
		return rc;
	if (n->op == OP_AVGPOOL && (n->p.dh != 1 || n->p.dw != 1))
		return FAIL(NN_EUNSUPP, "AveragePool dilations are not supported");
	if (n->p.pt >= n->p.kh || n->p.pb >= n->p.kh || n->p.pl >= n->p.kw || n->p.pr >= n->p.kw)
		return FAIL(NN_EINVALID, "pads must be smaller than the kernel");
	int64_t od[4] = {x->dims[0], x->dims[1], oh, ow};
	if (sp == 1) {
		od[2] = ow;
		return set_out(lc, n, 0, 3, od, x->batched);
	}
	return set_out(lc, n, 0, 4, od, x->batched);
}

static int infer_bn(struct nn_loadctx *lc, struct nn_node *n)
{
	struct nn_model *m = lc->m;
	int rc;
	if ((rc = need_float(lc, n, 0)) < 0)
		return rc;
	struct nn_val *x = IN(m, n, 0);
	if (x->ndim < 2)
		return FAIL(NN_EINVALID, "input rank must be at least 2");
	int64_t C = x->dims[1];
	const struct nn_val *pv[4];
	for (int k = 0; k < 4; k++) {
		pv[k] = IN(m, n, k + 1);
		if (!pv[k] || !pv[k]->is_const || pv[k]->dtype != DT_FLOAT || pv[k]->nelem != C)
			return FAIL(NN_EINVALID,
				    "scale, bias, mean and var must be constant float tensors of %lld "
				    "elements",
				    (long long)C);
	}
	int64_t tm;
	nn_attr_int(n, "training_mode", 0, &tm);
	if (tm || (n->nout > 1 && n->out[1] >= 0))
		return FAIL(NN_EUNSUPP, "training mode is not supported");
	float eps;
	nn_attr_float(n, "epsilon", 1e-5f, &eps);
	if (!(eps >= 0))
		return FAIL(NN_EINVALID, "epsilon is invalid");
	n->p.scale = malloc(sizeof(float) * C);
	n->p.shift = malloc(sizeof(float) * C);
	if (!n->p.scale || !n->p.shift)
		return NN_ENOMEM;
	for (int64_t c = 0; c < C; c++) {
		double s = pv[0]->f[c] / sqrt((double)pv[3]->f[c] + eps);
		n->p.scale[c] = (float)s;
		n->p.shift[c] = (float)(pv[1]->f[c] - pv[2]->f[c] * s);
	}
	return set_out(lc, n, 0, x->ndim, x->dims, x->batched);
}

static int infer_binary(struct nn_loadctx *lc, struct nn_node *n)
{
	struct nn_model *m = lc->m;
	int rc;
	if (n->nin != 2)
		return FAIL(NN_EINVALID, "needs two inputs");
	if ((rc = need_float(lc, n, 0)) < 0 || (rc = need_float(lc, n, 1)) < 0)
		return rc;
	struct nn_val *a = IN(m, n, 0), *b = IN(m, n, 1);
	int nd = a->ndim > b->ndim ? a->ndim : b->ndim;
	int64_t od[NN_MAX_DIMS];
	for (int d = 0; d < nd; d++) {
		int da = d - (nd - a->ndim), db = d - (nd - b->ndim);
		int64_t x = da >= 0 ? a->dims[da] : 1, y = db >= 0 ? b->dims[db] : 1;
		if (x != y && x != 1 && y != 1)
			return FAIL(NN_EINVALID, "shapes do not broadcast at dimension %d (%lld vs %lld)",
				    d, (long long)x, (long long)y);
		od[d] = x == 1 ? y : x;
	}
	int batched = a->batched || b->batched;
	if (batched) {
		if ((a->batched && a->ndim != nd) || (b->batched && b->ndim != nd) ||
		    (!a->batched && a->ndim == nd && a->dims[0] != 1) ||
		    (!b->batched && b->ndim == nd && b->dims[0] != 1))
			if ((rc = batch_err(lc, n, &batched)) < 0)
				return rc;
	}
	return set_out(lc, n, 0, nd, od, batched);
}

static int infer_concat(struct nn_loadctx *lc, struct nn_node *n)
{
	struct nn_model *m = lc->m;
	int rc;
	if (n->nin < 1)
		return FAIL(NN_EINVALID, "needs inputs");
	for (int k = 0; k < n->nin; k++)
		if ((rc = need_float(lc, n, k)) < 0)
			return rc;
	struct nn_val *x = IN(m, n, 0);
	int64_t a;
	nn_attr_int(n, "axis", 0, &a);
	int axis;
	if (norm_axis(a, x->ndim, &axis) < 0)
		return FAIL(NN_EINVALID, "axis %lld out of range", (long long)a);
	int64_t od[NN_MAX_DIMS];
	memcpy(od, x->dims, sizeof od);
	od[axis] = 0;
	int nb = 0;
	for (int k = 0; k < n->nin; k++) {
		struct nn_val *v = IN(m, n, k);
		if (v->ndim != x->ndim)
			return FAIL(NN_EINVALID, "inputs differ in rank");
		for (int d = 0; d < x->ndim; d++)
			if (d != axis && v->dims[d] != x->dims[d])
				return FAIL(NN_EINVALID,
					    "input %d has %lld at dimension %d, input 0 has %lld", k,
					    (long long)v->dims[d], d, (long long)x->dims[d]);
		od[axis] += v->dims[axis];
		nb += v->batched;
	}
	int batched = nb > 0;
	if (batched && (nb != n->nin || axis == 0))
		if ((rc = batch_err(lc, n, &batched)) < 0)
			return rc;
	n->p.axis = axis;
	return set_out(lc, n, 0, x->ndim, od, batched);
}

static int infer_resize(struct nn_loadctx *lc, struct nn_node *n)
{
	struct nn_model *m = lc->m;
	int rc;
	if ((rc = need_float(lc, n, 0)) < 0)
		return rc;
	struct nn_val *x = IN(m, n, 0);
	if (x->ndim != 4)
		return FAIL(NN_EUNSUPP, "only 4-D (NCHW) inputs are supported");
	char mode[32], ctm[40], nm[40];
	nn_attr_str(n, "mode", mode, sizeof mode);
	if (!mode[0])
		strcpy(mode, "nearest");
	if (!strcmp(mode, "nearest"))
		n->p.linear = 0;
	else if (!strcmp(mode, "linear") || !strcmp(mode, "bilinear"))
		n->p.linear = 1;
	else
		return FAIL(NN_EUNSUPP, "mode \"%s\" is not supported", mode);
	float scales[NN_MAX_DIMS];
	int64_t sizes[NN_MAX_DIMS];
	int ns = -1, nz = -1;
	if (n->op == OP_UPSAMPLE) {
		strcpy(ctm, "asymmetric");
		strcpy(nm, "floor");
		if (n->opset < 9) {
			ns = nn_attr_floats(n, "scales", scales, NN_MAX_DIMS);
		} else if ((rc = const_floats(lc, n, 1, scales, NN_MAX_DIMS, &ns)) < 0) {
			return rc;
		}
		if (ns < 0)
			return FAIL(NN_EINVALID, "scales are required");
	} else {
		if (n->opset < 11) {
			strcpy(ctm, "asymmetric");
			strcpy(nm, "floor");
			if ((rc = const_floats(lc, n, 1, scales, NN_MAX_DIMS, &ns)) < 0)
				return rc;
		} else {
			nn_attr_str(n, "coordinate_transformation_mode", ctm, sizeof ctm);
			if (!ctm[0])
				strcpy(ctm, "half_pixel");
			nn_attr_str(n, "nearest_mode", nm, sizeof nm);
			if (!nm[0])
				strcpy(nm, "round_prefer_floor");
			if ((rc = const_floats(lc, n, 2, scales, NN_MAX_DIMS, &ns)) < 0)
				return rc;
			if ((rc = const_ints(lc, n, 3, sizes, NN_MAX_DIMS, &nz)) < 0)
				return rc;
			if (ns == 0)
				ns = -1;
			if (nz == 0)
				nz = -1;
		}
		int64_t aa = 0;
		nn_attr_int(n, "antialias", 0, &aa);
		if (aa)
			return FAIL(NN_EUNSUPP, "antialias is not supported");
		if (nn_attr_ints(n, "axes", sizes + 4, 4) >= 0)
			return FAIL(NN_EUNSUPP, "the axes attribute is not supported");
		char kar[32];
		if (nn_attr_str(n, "keep_aspect_ratio_policy", kar, sizeof kar) &&
		    strcmp(kar, "stretch"))
			return FAIL(NN_EUNSUPP, "keep_aspect_ratio_policy \"%s\" is not supported",
				    kar);
	}
	if (!strcmp(ctm, "half_pixel"))
		n->p.ctm = 0;
	else if (!strcmp(ctm, "asymmetric"))
		n->p.ctm = 1;
	else if (!strcmp(ctm, "align_corners"))
		n->p.ctm = 2;
	else if (!strcmp(ctm, "pytorch_half_pixel"))
		n->p.ctm = 3;
	else
		return FAIL(NN_EUNSUPP, "coordinate_transformation_mode \"%s\" is not supported",
			    ctm);
	if (!strcmp(nm, "round_prefer_floor"))
		n->p.nearest_mode = 0;
	else if (!strcmp(nm, "round_prefer_ceil"))
		n->p.nearest_mode = 1;
	else if (!strcmp(nm, "floor"))
		n->p.nearest_mode = 2;
	else if (!strcmp(nm, "ceil"))
		n->p.nearest_mode = 3;
	else
		return FAIL(NN_EUNSUPP, "nearest_mode \"%s\" is not supported", nm);
	int64_t od[4];
	if (nz > 0) {
		if (nz != 4)
			return FAIL(NN_EINVALID, "sizes must have 4 entries");
		if (sizes[0] != x->dims[0] || sizes[1] != x->dims[1])
			return FAIL(NN_EUNSUPP, "only H and W may be resized");
		od[0] = x->dims[0];
		od[1] = x->dims[1];
		od[2] = sizes[2];
		od[3] = sizes[3];
		if (od[2] < 1 || od[3] < 1 || od[2] > 65536 || od[3] > 65536)
			return FAIL(NN_EINVALID, "sizes out of range");
		n->p.rs_h = (float)od[2] / (float)x->dims[2];
		n->p.rs_w = (float)od[3] / (float)x->dims[3];
	} else {
		if (ns != 4)
			return FAIL(NN_EINVALID, "scales must have 4 entries (or sizes be given)");
		if (scales[0] != 1 || scales[1] != 1)
			return FAIL(NN_EUNSUPP, "only H and W may be resized");
		if (!(scales[2] > 0 && scales[2] < 1024 && scales[3] > 0 && scales[3] < 1024))
			return FAIL(NN_EINVALID, "scales out of range");
		od[0] = x->dims[0];
		od[1] = x->dims[1];
		od[2] = (int64_t)floor((double)x->dims[2] * scales[2]);
		od[3] = (int64_t)floor((double)x->dims[3] * scales[3]);
		n->p.rs_h = scales[2];
		n->p.rs_w = scales[3];
	}
	nn_resize_check_replicate(&n->p, (int)x->dims[2], (int)x->dims[3], (int)od[2], (int)od[3]);
	return set_out(lc, n, 0, 4, od, x->batched);
}

static int infer_reshape_like(struct nn_loadctx *lc, struct nn_node *n)
{
	struct nn_model *m = lc->m;
	int rc;
	if ((rc = need_float(lc, n, 0)) < 0)
		return rc;
	struct nn_val *x = IN(m, n, 0);
	int64_t od[NN_MAX_DIMS];
	int nd = 0;
	int batched = x->batched;
	switch (n->op) {
	case OP_IDENTITY:
	case OP_DROPOUT:
		if (n->op == OP_DROPOUT && n->nout > 1 && n->out[1] >= 0)
			return FAIL(NN_EUNSUPP, "the mask output is not supported");
		nd = x->ndim;
		memcpy(od, x->dims, sizeof od);
		break;
	case OP_FLATTEN: {
		int64_t a;
		nn_attr_int(n, "axis", 1, &a);
		if (a < 0)
			a += x->ndim;
		if (a < 0 || a > x->ndim)
			return FAIL(NN_EINVALID, "axis out of range");
		if (a == 0 && batched && (rc = batch_err(lc, n, &batched)) < 0)
			return rc;
		nd = 2;
		od[0] = nn_shape_elems(x->dims, (int)a);
		od[1] = nn_shape_elems(x->dims + a, x->ndim - (int)a);
		break;
	}
	case OP_RESHAPE: {
		int ns;
		if ((rc = const_ints(lc, n, 1, od, NN_MAX_DIMS, &ns)) < 0)
			return rc;
		if (ns < 0)
			return FAIL(NN_EINVALID, "missing shape");
		int64_t allowzero;
		nn_attr_int(n, "allowzero", 0, &allowzero);
		int neg = -1;
		int64_t known = 1;
		for (int d = 0; d < ns; d++) {
			if (od[d] == 0 && !allowzero) {
				if (d >= x->ndim)
					return FAIL(NN_EINVALID, "0 in shape beyond input rank");
				od[d] = x->dims[d];
			}
			if (od[d] == -1) {
				if (neg >= 0)
					return FAIL(NN_EINVALID, "more than one -1 in shape");
				neg = d;
			} else if (od[d] <= 0) {
				return FAIL(NN_EINVALID, "invalid dimension %lld in shape",
					    (long long)od[d]);
			} else {
				if (known > NN_MAX_TENSOR_ELEMS / od[d])
					return FAIL(NN_EINVALID, "shape too large");
				known *= od[d];
			}
		}
		if (neg >= 0) {
			if (x->nelem % known)
				return FAIL(NN_EINVALID, "cannot infer -1: %lld elements into %lld",
					    (long long)x->nelem, (long long)known);
			od[neg] = x->nelem / known;
		} else if (known != x->nelem) {
			return FAIL(NN_EINVALID, "shape has %lld elements, input %lld",
				    (long long)known, (long long)x->nelem);
		}
		nd = ns;
		break;
	}
	case OP_SQUEEZE:
	case OP_UNSQUEEZE: {
		int64_t axes[NN_MAX_DIMS];
		int na;
		if (n->opset >= 13) {
			if ((rc = const_ints(lc, n, 1, axes, NN_MAX_DIMS, &na)) < 0)
				return rc;
		} else {
			na = nn_attr_ints(n, "axes", axes, NN_MAX_DIMS);
			if (na == -2)
				return FAIL(NN_EINVALID, "too many axes");
		}
		int mark[NN_MAX_DIMS] = {0};
		if (n->op == OP_UNSQUEEZE) {
			if (na < 0)
				return FAIL(NN_EINVALID, "axes are required");
			int rank = x->ndim + na;
			if (rank > NN_MAX_DIMS)
				return FAIL(NN_EUNSUPP, "rank too large");
			for (int k = 0; k < na; k++) {
				int a;
				if (norm_axis(axes[k], rank, &a) < 0 || mark[a])
					return FAIL(NN_EINVALID, "bad axis %lld", (long long)axes[k]);
				mark[a] = 1;
			}
			if (mark[0] && batched && (rc = batch_err(lc, n, &batched)) < 0)
				return rc;
			int j = 0;
			for (int d = 0; d < rank; d++)
				od[nd++] = mark[d] ? 1 : x->dims[j++];
		} else {
			for (int k = 0; k < na; k++) {
				int a;
				if (norm_axis(axes[k], x->ndim, &a) < 0 || x->dims[a] != 1)
					return FAIL(NN_EINVALID, "cannot squeeze axis %lld",
						    (long long)axes[k]);
				mark[a] = 1;
			}
			if (na < 0)
				for (int d = 0; d < x->ndim; d++)
					mark[d] = x->dims[d] == 1 && !(d == 0 && batched);
			if (mark[0] && batched && (rc = batch_err(lc, n, &batched)) < 0)
				return rc;
			for (int d = 0; d < x->ndim; d++)
				if (!mark[d])
					od[nd++] = x->dims[d];
		}
		break;
	}
	default:
		return FAIL(NN_EUNSUPP, "internal: not a reshape");
	}
	return set_out(lc, n, 0, nd, od, batched);
}

static int infer_transpose(struct nn_loadctx *lc, struct nn_node *n)
{
	struct nn_model *m = lc->m;
	int rc;
	if ((rc = need_float(lc, n, 0)) < 0)
		return rc;
	struct nn_val *x = IN(m, n, 0);
	int64_t perm[NN_MAX_DIMS];
	int np = nn_attr_ints(n, "perm", perm, NN_MAX_DIMS);
	if (np < 0) {
		np = x->ndim;
		for (int d = 0; d < np; d++)
			perm[d] = np - 1 - d;
	}
	if (np != x->ndim)
		return FAIL(NN_EINVALID, "perm has %d entries for rank %d", np, x->ndim);
	int seen[NN_MAX_DIMS] = {0};
	int64_t od[NN_MAX_DIMS];
	for (int d = 0; d < np; d++) {
		if (perm[d] < 0 || perm[d] >= np || seen[perm[d]]++)
			return FAIL(NN_EINVALID, "perm is not a permutation");
		n->p.perm[d] = (int)perm[d];
		od[d] = x->dims[perm[d]];
	}
	int batched = x->batched;
	if (batched && perm[0] != 0 && (rc = batch_err(lc, n, &batched)) < 0)
		return rc;
	return set_out(lc, n, 0, np, od, batched);
}

static int infer_softmax(struct nn_loadctx *lc, struct nn_node *n)
{
	struct nn_model *m = lc->m;
	int rc;
	if ((rc = need_float(lc, n, 0)) < 0)
		return rc;
	struct nn_val *x = IN(m, n, 0);
	int64_t a;
	n->p.legacy = n->opset < 13;
	nn_attr_int(n, "axis", n->p.legacy ? 1 : -1, &a);
	int axis;
	if (x->ndim < 1 || norm_axis(a, x->ndim, &axis) < 0)
		return FAIL(NN_EINVALID, "axis out of range");
	int batched = x->batched;
	if (axis == 0 && batched && (rc = batch_err(lc, n, &batched)) < 0)
		return rc;
	n->p.axis = axis;
	n->p.axis_len = (int)(n->p.legacy ? nn_shape_elems(x->dims + axis, x->ndim - axis)
					  : x->dims[axis]);
	return set_out(lc, n, 0, x->ndim, x->dims, batched);
}

static int infer_gemm(struct nn_loadctx *lc, struct nn_node *n)
{
	struct nn_model *m = lc->m;
	int rc;
	if ((rc = need_float(lc, n, 0)) < 0 || (rc = need_float(lc, n, 1)) < 0)
		return rc;
	struct nn_val *a = IN(m, n, 0), *b = IN(m, n, 1), *c = IN(m, n, 2);
	int64_t ta, tb;
	nn_attr_int(n, "transA", 0, &ta);
	nn_attr_int(n, "transB", 0, &tb);
	nn_attr_float(n, "alpha", 1, &n->p.alpha);
	nn_attr_float(n, "beta", 1, &n->p.beta);
	n->p.trans_a = ta != 0;
	n->p.trans_b = tb != 0;
	if (a->ndim != 2 || b->ndim != 2)
		return FAIL(NN_EINVALID, "A and B must be matrices");
	int64_t M = ta ? a->dims[1] : a->dims[0], K = ta ? a->dims[0] : a->dims[1];
	int64_t K2 = tb ? b->dims[1] : b->dims[0], N = tb ? b->dims[0] : b->dims[1];
	if (K != K2)
		return FAIL(NN_EINVALID, "inner dimensions differ (%lld vs %lld)", (long long)K,
			    (long long)K2);
	int batched = a->batched;
	if (b->batched || (batched && ta))
		if ((rc = batch_err(lc, n, &batched)) < 0)
			return rc;
	if (c) {
		if ((rc = need_float(lc, n, 2)) < 0)
			return rc;
		if (c->batched || c->ndim > 2 ||
		    (c->ndim == 2 && (c->dims[0] != 1 && c->dims[0] != M)) ||
		    (c->ndim >= 1 && c->dims[c->ndim - 1] != 1 && c->dims[c->ndim - 1] != N))
			return FAIL(NN_EINVALID, "C does not broadcast to [M, N]");
		if (batched && c->ndim == 2 && c->dims[0] != 1)
			return FAIL(NN_EUNSUPP, "C varies along the batch");
	}
	n->p.flops = 2.0 * M * N * K;
	int64_t od[2] = {M, N};
	return set_out(lc, n, 0, 2, od, batched);
}

static int infer_matmul(struct nn_loadctx *lc, struct nn_node *n)
{
	struct nn_model *m = lc->m;
	int rc;
	if ((rc = need_float(lc, n, 0)) < 0 || (rc = need_float(lc, n, 1)) < 0)
		return rc;
	struct nn_val *a = IN(m, n, 0), *b = IN(m, n, 1);
	if (a->ndim < 2 || b->ndim < 2)
		return FAIL(NN_EUNSUPP, "1-D operands are not supported");
	int64_t M = a->dims[a->ndim - 2], K = a->dims[a->ndim - 1];
	int64_t K2 = b->dims[b->ndim - 2], N = b->dims[b->ndim - 1];
	if (K != K2)
		return FAIL(NN_EINVALID, "inner dimensions differ (%lld vs %lld)", (long long)K,
			    (long long)K2);
	int nd = a->ndim > b->ndim ? a->ndim : b->ndim;
	int64_t od[NN_MAX_DIMS];
	for (int d = 0; d < nd - 2; d++) {
		int da = d - (nd - a->ndim), db = d - (nd - b->ndim);
		int64_t x = da >= 0 ? a->dims[da] : 1, y = db >= 0 ? b->dims[db] : 1;
		if (x != y && x != 1 && y != 1)
			return FAIL(NN_EINVALID, "batch dimensions do not broadcast");
		od[d] = x == 1 ? y : x;
	}
	od[nd - 2] = M;
	od[nd - 1] = N;
	int batched = a->batched || b->batched;
	if (batched) {
		if (b->batched && b->ndim != nd)
			if ((rc = batch_err(lc, n, &batched)) < 0)
				return rc;
		if (a->batched && a->ndim != nd)
			if ((rc = batch_err(lc, n, &batched)) < 0)
				return rc;
		if (b->batched && b->ndim == 2)
			if ((rc = batch_err(lc, n, &batched)) < 0)
				return rc;
	}
	n->p.flops = 2.0 * (double)nn_shape_elems(od, nd - 2) * M * N * K;
	return set_out(lc, n, 0, nd, od, batched);
}

static int infer_pad(struct nn_loadctx *lc, struct nn_node *n)
{
	struct nn_model *m = lc->m;
	int rc;
	if ((rc = need_float(lc, n, 0)) < 0)
		return rc;
	struct nn_val *x = IN(m, n, 0);
	int64_t pads[2 * NN_MAX_DIMS];
	int np;
	char mode[32];
	nn_attr_str(n, "mode", mode, sizeof mode);
	float val = 0;
	if (n->opset < 11) {
		np = nn_attr_ints(n, "pads", pads, 2 * NN_MAX_DIMS);
		nn_attr_float(n, "value", 0, &val);
	} else {
		if ((rc = const_ints(lc, n, 1, pads, 2 * NN_MAX_DIMS, &np)) < 0)
			return rc;
		int cnt;
		float cv[1];
		struct nn_val *cvv = IN(m, n, 2);
		if (cvv && cvv->nelem != 1)
			return FAIL(NN_EINVALID, "constant_value must be a scalar");
		if ((rc = const_floats(lc, n, 2, cv, 1, &cnt)) < 0)
			return rc;
		if (cnt == 1)
			val = cv[0];
		if (IN(m, n, 3))
			return FAIL(NN_EUNSUPP, "the axes input is not supported");
	}
	if (np != 2 * x->ndim)
		return FAIL(NN_EINVALID, "pads has %d entries for rank %d", np, x->ndim);
	if (!mode[0] || !strcmp(mode, "constant"))
		n->p.padmode = 0;
	else if (!strcmp(mode, "reflect"))
		n->p.padmode = 1;
	else if (!strcmp(mode, "edge"))
		n->p.padmode = 2;
	else
		return FAIL(NN_EUNSUPP, "mode \"%s\" is not supported", mode);
	n->p.padval = val;
	int64_t od[NN_MAX_DIMS];
	int batched = x->batched;
	for (int d = 0; d < x->ndim; d++) {
		int64_t b = pads[d], e = pads[d + x->ndim];
		if (b < -65536 || b > 65536 || e < -65536 || e > 65536)
			return FAIL(NN_EINVALID, "pad out of range");
		n->p.start[d] = b;
		n->p.pad_end[d] = e;
		od[d] = x->dims[d] + b + e;
		if (n->p.padmode == 1 && (b >= x->dims[d] || e >= x->dims[d]))
			return FAIL(NN_EINVALID, "reflect pad must be smaller than the dimension");
		if (d == 0 && (b || e) && batched && (rc = batch_err(lc, n, &batched)) < 0)
			return rc;
	}
	return set_out(lc, n, 0, x->ndim, od, batched);
}

static int infer_slice(struct nn_loadctx *lc, struct nn_node *n)
{
	struct nn_model *m = lc->m;
	int rc;
	if ((rc = need_float(lc, n, 0)) < 0)
		return rc;
	struct nn_val *x = IN(m, n, 0);
	int64_t st[NN_MAX_DIMS], en[NN_MAX_DIMS], ax[NN_MAX_DIMS], sp[NN_MAX_DIMS];
	int ns, ne, na, nsp = -1;
	if (n->opset < 10) {
		ns = nn_attr_ints(n, "starts", st, NN_MAX_DIMS);
		ne = nn_attr_ints(n, "ends", en, NN_MAX_DIMS);
		na = nn_attr_ints(n, "axes", ax, NN_MAX_DIMS);
	} else if ((rc = const_ints(lc, n, 1, st, NN_MAX_DIMS, &ns)) < 0 ||
		   (rc = const_ints(lc, n, 2, en, NN_MAX_DIMS, &ne)) < 0 ||
		   (rc = const_ints(lc, n, 3, ax, NN_MAX_DIMS, &na)) < 0 ||
		   (rc = const_ints(lc, n, 4, sp, NN_MAX_DIMS, &nsp)) < 0) {
		return rc;
	}
	if (ns < 0 || ns != ne || (na >= 0 && na != ns) || (nsp >= 0 && nsp != ns))
		return FAIL(NN_EINVALID, "starts/ends/axes/steps disagree");
	int64_t od[NN_MAX_DIMS];
	for (int d = 0; d < x->ndim; d++) {
		n->p.start[d] = 0;
		n->p.step[d] = 1;
		od[d] = x->dims[d];
	}
	int batched = x->batched;
	for (int k = 0; k < ns; k++) {
		int a;
		if (norm_axis(na >= 0 ? ax[k] : k, x->ndim, &a) < 0)
			return FAIL(NN_EINVALID, "axis out of range");
		int64_t step = nsp >= 0 ? sp[k] : 1, len = x->dims[a];
		if (step == 0)
			return FAIL(NN_EINVALID, "step is zero");
		int64_t lo = st[k], hi = en[k];
		if (lo < 0)
			lo += len;
		if (hi < 0)
			hi += len;
		if (step > 0) {
			lo = lo < 0 ? 0 : lo > len ? len : lo;
			hi = hi < 0 ? 0 : hi > len ? len : hi;
			od[a] = hi > lo ? 1 + (hi - lo - 1) / step : 0; /* no overflow for any step */
		} else {
			lo = lo < 0 ? -1 : lo > len - 1 ? len - 1 : lo;
			hi = hi < -1 ? -1 : hi > len - 1 ? len - 1 : hi;
			od[a] = lo > hi ? 1 + (lo - hi - 1) / (step == INT64_MIN ? INT64_MAX : -step) : 0;
		}
		n->p.start[a] = lo;
		n->p.step[a] = step;
		if (a == 0 && batched && (lo != 0 || step != 1 || od[0] != 1))
			if ((rc = batch_err(lc, n, &batched)) < 0)
				return rc;
	}
	return set_out(lc, n, 0, x->ndim, od, batched);
}

static int infer_split(struct nn_loadctx *lc, struct nn_node *n)
{
	struct nn_model *m = lc->m;
	int rc;
	if ((rc = need_float(lc, n, 0)) < 0)
		return rc;
	struct nn_val *x = IN(m, n, 0);
	int64_t a;
	nn_attr_int(n, "axis", 0, &a);
	int axis;
	if (x->ndim < 1 || norm_axis(a, x->ndim, &axis) < 0)
		return FAIL(NN_EINVALID, "axis out of range");
	int64_t sp[64];
	int nsp = -1;
	if (n->opset >= 13) {
		if ((rc = const_ints(lc, n, 1, sp, 64, &nsp)) < 0)
			return rc;
	} else {
		nsp = nn_attr_ints(n, "split", sp, 64);
	}
	if (nsp < 0) {
		nsp = n->nout;
		int64_t each = (x->dims[axis] + nsp - 1) / nsp; /* opset 18: last may be smaller */
		for (int k = 0; k < nsp; k++) {
			int64_t left = x->dims[axis] - each * k;
			sp[k] = left < each ? left : each;
		}
	}
	if (nsp != n->nout)
		return FAIL(NN_EINVALID, "%d split sizes for %d outputs", nsp, n->nout);
	for (int k = 0; k < n->nout; k++)
		if (n->out[k] < 0)
			return FAIL(NN_EUNSUPP, "omitted outputs are not supported");
	int64_t tot = 0;
	for (int k = 0; k < nsp; k++) {
		if (sp[k] <= 0)
			return FAIL(NN_EINVALID, "split size %lld", (long long)sp[k]);
		tot += sp[k];
	}
	if (tot != x->dims[axis])
		return FAIL(NN_EINVALID, "split sizes add up to %lld, the axis has %lld",
			    (long long)tot, (long long)x->dims[axis]);
	int batched = x->batched;
	if (axis == 0 && batched && (rc = batch_err(lc, n, &batched)) < 0)
		return rc;
	n->p.axis = axis;
	for (int k = 0; k < nsp; k++) {
		int64_t od[NN_MAX_DIMS];
		memcpy(od, x->dims, sizeof od);
		od[axis] = sp[k];
		if ((rc = set_out(lc, n, k, x->ndim, od, batched)) < 0)
			return rc;
	}
	return 0;
}

int nn_infer_node(struct nn_loadctx *lc, int ni)
{
	struct nn_model *m = lc->m;
	struct nn_node *n = &m->nodes[ni];
	int rc;
	switch (n->op) {
	case OP_CONV:
	case OP_CONVT:
		return infer_conv(lc, n);
	case OP_MAXPOOL:
	case OP_AVGPOOL:
		return infer_pool(lc, n);
	case OP_GAP:
	case OP_GMP: {
		if ((rc = need_float(lc, n, 0)) < 0)
			return rc;
		struct nn_val *x = IN(m, n, 0);
		if (x->ndim < 3)
			return FAIL(NN_EINVALID, "input rank must be at least 3");
		int64_t od[NN_MAX_DIMS];
		for (int d = 0; d < x->ndim; d++)
			od[d] = d < 2 ? x->dims[d] : 1;
		return set_out(lc, n, 0, x->ndim, od, x->batched);
	}
	case OP_BN:
		return infer_bn(lc, n);
	case OP_RELU: case OP_LEAKY: case OP_SIGMOID: case OP_TANH: case OP_CLIP:
	case OP_HSWISH: case OP_HSIGMOID: {
		if ((rc = need_float(lc, n, 0)) < 0)
			return rc;
		struct nn_val *x = IN(m, n, 0);
		struct nn_params *p = &n->p;
		switch (n->op) {
		case OP_RELU: p->act = ACT_RELU; break;
		case OP_LEAKY:
			p->act = ACT_LEAKY;
			nn_attr_float(n, "alpha", 0.01f, &p->a0);
			break;
		case OP_SIGMOID: p->act = ACT_SIGMOID; break;
		case OP_TANH: p->act = ACT_TANH; break;
		case OP_HSWISH: p->act = ACT_HSWISH; break;
		case OP_HSIGMOID:
			p->act = ACT_HSIGMOID;
			nn_attr_float(n, "alpha", 0.2f, &p->a0);
			nn_attr_float(n, "beta", 0.5f, &p->a1);
			break;
		default: {
			p->act = ACT_CLIP;
			p->a0 = -INFINITY;
			p->a1 = INFINITY;
			if (n->opset < 11) {
				nn_attr_float(n, "min", -INFINITY, &p->a0);
				nn_attr_float(n, "max", INFINITY, &p->a1);
			} else {
				float v[1];
				int c;
				for (int k = 1; k <= 2; k++) {
					struct nn_val *bv = IN(m, n, k);
					if (bv && bv->nelem != 1)
						return FAIL(NN_EINVALID, "min/max must be scalars");
					if ((rc = const_floats(lc, n, k, v, 1, &c)) < 0)
						return rc;
					if (c == 1) {
						if (k == 1)
							p->a0 = v[0];
						else
							p->a1 = v[0];
					}
				}
			}
		}
		}
		return set_out(lc, n, 0, x->ndim, x->dims, x->batched);
	}
	case OP_SOFTMAX:
		return infer_softmax(lc, n);
	case OP_ADD: case OP_SUB: case OP_MUL: case OP_DIV:
		return infer_binary(lc, n);
	case OP_CONCAT:
		return infer_concat(lc, n);
	case OP_RESIZE:
	case OP_UPSAMPLE:
		return infer_resize(lc, n);
	case OP_FLATTEN: case OP_RESHAPE: case OP_SQUEEZE: case OP_UNSQUEEZE:
	case OP_IDENTITY: case OP_DROPOUT:
		return infer_reshape_like(lc, n);
	case OP_TRANSPOSE:
		return infer_transpose(lc, n);
	case OP_GEMM:
		return infer_gemm(lc, n);
	case OP_MATMUL:
		return infer_matmul(lc, n);
	case OP_PAD:
		return infer_pad(lc, n);
	case OP_SLICE:
		return infer_slice(lc, n);
	case OP_SPLIT:
		return infer_split(lc, n);
	default:
		return FAIL(NN_EUNSUPP, "operator is only supported on constant inputs");
	}
}
