/*
 * Load-time constant folding. Exporters (torch.onnx in particular) compute shapes at run time
 * with small int64 subgraphs (Shape -> Gather -> Unsqueeze -> Concat -> Reshape, Range,
 * ConstantOfShape, Expand, Where/Equal guards). Once the input shape is fixed every such value
 * is a constant, so this file evaluates those nodes once, at load, on the constants they read,
 * following the operator definitions of the ONNX Operators specification (ai.onnx opsets
 * 7-21). Integer tensors are kept as int64 (booleans as 0/1), float tensors as float.
 * Results are capped at NN_MAX_CONST_ELEMS elements so a hostile shape cannot make the loader
 * allocate without bound.
 */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/nn_impl.h"

#define FAIL(code, ...) nn_err(lc->err, lc->errlen, lc->label, n, code, __VA_ARGS__)

int nn_fold_supported(enum op op)
{
	switch (op) {
	case OP_CONSTANT: case OP_IDENTITY: case OP_DROPOUT: case OP_CAST: case OP_SHAPE:
	case OP_GATHER: case OP_CONSTOFSHAPE: case OP_UNSQUEEZE: case OP_SQUEEZE:
	case OP_CONCAT: case OP_RANGE: case OP_EXPAND: case OP_RESHAPE: case OP_SLICE:
	case OP_FLATTEN: case OP_TRANSPOSE: case OP_ADD: case OP_SUB: case OP_MUL: case OP_DIV:
	case OP_POW: case OP_EQUAL: case OP_LESS: case OP_GREATER: case OP_MIN: case OP_MAX:
	case OP_WHERE: case OP_FLOOR: case OP_CEIL: case OP_NEG: case OP_SQRT: case OP_NOT:
	case OP_ABS: case OP_RECIPROCAL: case OP_EXP: case OP_SPLIT: case OP_RELU:
	case OP_SIGMOID: case OP_TANH:
		return 1;
	default:
		return 0;
	}
}

static size_t esz(const struct nn_val *v) { return v->dtype == DT_FLOAT ? 4 : 8; }
static void *vdata(const struct nn_val *v) { return v->dtype == DT_FLOAT ? (void *)v->f : (void *)v->i; }

/* Gives value out a fresh constant buffer of the given type and shape. */
static int alloc_const(struct nn_loadctx *lc, const struct nn_node *n, struct nn_val *o,
		       int dtype, int ndim, const int64_t *dims)
{
	if (ndim > NN_MAX_DIMS)
		return FAIL(NN_EUNSUPP, "result has %d dimensions", ndim);
	int64_t ne = nn_shape_elems(dims, ndim);
	if (ne < 0 || ne > NN_MAX_CONST_ELEMS)
		return FAIL(NN_EINVALID, "constant result is invalid or too large");
	free(o->f);
	free(o->i);
	o->f = NULL;
	o->i = NULL;
	o->dtype = dtype;
	o->ndim = ndim;
	memmove(o->dims, dims, sizeof(int64_t) * ndim);
	o->nelem = ne;
	o->known = 1;
	o->is_const = 1;
	o->batched = 0;
	size_t a = ne ? (size_t)ne : 1;
	if (dtype == DT_FLOAT)
		o->f = calloc(a, sizeof(float));
	else
		o->i = calloc(a, sizeof(int64_t));
	if (!o->f && !o->i)
		return NN_ENOMEM;
	return 0;
}

static double getd(const struct nn_val *v, int64_t k) { return v->dtype == DT_FLOAT ? v->f[k] : (double)v->i[k]; }

/* Numpy broadcast of up to 3 shapes into out; -1 on mismatch. */
static int bcast_shape(const struct nn_val **in, int nin, int *ondim, int64_t *od)
{
	int nd = 0;
	for (int k = 0; k < nin; k++)
		if (in[k]->ndim > nd)
			nd = in[k]->ndim;
	for (int d = 0; d < nd; d++) {
		int64_t r = 1;
		for (int k = 0; k < nin; k++) {
			int dd = d - (nd - in[k]->ndim);
			if (dd < 0)
				continue;
			int64_t x = in[k]->dims[dd];
			if (x == r || x == 1)
				continue;
			if (r == 1)
				r = x;
			else
				return -1;
		}
		od[d] = r;
	}
	*ondim = nd;
	return 0;
}

static int64_t bcast_index(const int64_t *od, int ond, const struct nn_val *v, int64_t k)
{
	int64_t idx = 0, stride = 1;
	for (int d = ond - 1; d >= 0; d--) {
		int64_t c = k % od[d];
		k /= od[d];
		int dd = d - (ond - v->ndim);
		if (dd < 0)
			break;
		if (v->dims[dd] != 1)
			idx += c * stride;
		stride *= v->dims[dd];
	}
	return idx;
}

static int read_ints(struct nn_loadctx *lc, const struct nn_node *n, int slot, int64_t *out,
		     int max, int *cnt)
{
	const struct nn_model *m = lc->m;
	if (slot >= n->nin || n->in[slot] < 0) {
		*cnt = -1;
		return 0;
	}
	const struct nn_val *v = &m->vals[n->in[slot]];
	if (!v->is_const || v->dtype != DT_INT64)
		return FAIL(NN_EUNSUPP, "input %d must be a constant int64 tensor", slot);
	if (v->nelem > max)
		return FAIL(NN_EUNSUPP, "input %d has too many elements", slot);
	for (int64_t k = 0; k < v->nelem; k++)
		out[k] = v->i[k];
	*cnt = (int)v->nelem;
	return 0;
}

/* axes from attribute (opset < 13) or input 1 */
static int get_axes(struct nn_loadctx *lc, const struct nn_node *n, int64_t *axes, int *cnt)
{
	if (n->opset >= 13 || (n->nin > 1 && n->in[1] >= 0)) {
		int rc = read_ints(lc, n, 1, axes, NN_MAX_DIMS, cnt);
		if (rc < 0)
			return rc;
		if (*cnt >= 0)
			return 0;
	}
	*cnt = nn_attr_ints(n, "axes", axes, NN_MAX_DIMS);
	if (*cnt == -2)
		return FAIL(NN_EUNSUPP, "too many axes");
	return 0;
}

static int elementwise(struct nn_loadctx *lc, struct nn_node *n)
{
	struct nn_model *m = lc->m;
	const struct nn_val *in[3];
	int nin = n->nin > 3 ? 3 : n->nin;
	if (n->op == OP_MIN || n->op == OP_MAX) {
		if (n->nin != 2 && n->nin != 1)
			return FAIL(NN_EUNSUPP, "only one or two inputs are supported");
	}
	for (int k = 0; k < nin; k++) {
		if (n->in[k] < 0)
			return FAIL(NN_EINVALID, "missing input %d", k);
		in[k] = &m->vals[n->in[k]];
	}
	int nd;
	int64_t od[NN_MAX_DIMS];
	if (bcast_shape(in, nin, &nd, od) < 0)
		return FAIL(NN_EINVALID, "input shapes do not broadcast");
	int isfloat = 0;
	int first = n->op == OP_WHERE ? 1 : 0;
	for (int k = first; k < nin; k++)
		if (in[k]->dtype == DT_FLOAT)
			isfloat = 1;
	int cmp = n->op == OP_EQUAL || n->op == OP_LESS || n->op == OP_GREATER || n->op == OP_NOT;
	int odt = (isfloat && !cmp) ? DT_FLOAT : DT_INT64;
	if (n->op == OP_SQRT || n->op == OP_EXP || n->op == OP_RECIPROCAL ||
	    n->op == OP_SIGMOID || n->op == OP_TANH)
		odt = DT_FLOAT;
	struct nn_val tmp = {0};
	int rc = alloc_const(lc, n, &tmp, odt, nd, od);
	if (rc < 0)
		return rc;
	for (int64_t k = 0; k < tmp.nelem; k++) {
		int64_t ia = bcast_index(od, nd, in[0], k);
		int64_t ib = nin > 1 ? bcast_index(od, nd, in[1], k) : 0;
		if (!isfloat && odt == DT_INT64 && n->op != OP_WHERE) {
			int64_t a = in[0]->dtype == DT_FLOAT ? (int64_t)in[0]->f[ia] : in[0]->i[ia];
			int64_t b = 0, r = 0;
			if (nin > 1)
				b = in[1]->dtype == DT_FLOAT ? (int64_t)in[1]->f[ib] : in[1]->i[ib];
			switch (n->op) {
			case OP_ADD: r = (int64_t)((uint64_t)a + (uint64_t)b); break;
			case OP_SUB: r = (int64_t)((uint64_t)a - (uint64_t)b); break;
			case OP_MUL: r = (int64_t)((uint64_t)a * (uint64_t)b); break;
			case OP_DIV:
				if (b == 0 || (a == INT64_MIN && b == -1)) {
					free(tmp.i);
					return FAIL(NN_EINVALID, "integer division by zero");
				}
				r = a / b;
				break;
			case OP_POW: {
				r = 1;
				for (int64_t e = 0; e < b && e < 64; e++)
					r = (int64_t)((uint64_t)r * (uint64_t)a);
				break;
			}
			case OP_EQUAL: r = a == b; break;
			case OP_LESS: r = a < b; break;
			case OP_GREATER: r = a > b; break;
			case OP_MIN: r = nin > 1 ? (a < b ? a : b) : a; break;
			case OP_MAX: r = nin > 1 ? (a > b ? a : b) : a; break;
			case OP_NOT: r = !a; break;
			case OP_NEG: r = (int64_t)(0 - (uint64_t)a); break;
			case OP_ABS: r = a < 0 ? (int64_t)(0 - (uint64_t)a) : a; break;
			case OP_RELU: r = a > 0 ? a : 0; break;
			default: r = a; break; /* Floor, Ceil of ints */
			}
			tmp.i[k] = r;
			continue;
		}
		if (n->op == OP_WHERE) {
			int64_t ic = bcast_index(od, nd, in[2], k);
			int c = getd(in[0], ia) != 0;
			const struct nn_val *src = c ? in[1] : in[2];
			int64_t si = c ? ib : ic;
			if (odt == DT_FLOAT)
				tmp.f[k] = (float)getd(src, si);
			else
				tmp.i[k] = src->dtype == DT_FLOAT ? (int64_t)src->f[si] : src->i[si];
			continue;
		}
		double a = getd(in[0], ia), b = nin > 1 ? getd(in[1], ib) : 0, r = 0;
		switch (n->op) {
		case OP_ADD: r = a + b; break;
		case OP_SUB: r = a - b; break;
		case OP_MUL: r = a * b; break;
		case OP_DIV: r = a / b; break;
		case OP_POW: r = pow(a, b); break;
		case OP_EQUAL: r = a == b; break;
		case OP_LESS: r = a < b; break;
		case OP_GREATER: r = a > b; break;
		case OP_MIN: r = nin > 1 ? fmin(a, b) : a; break;
		case OP_MAX: r = nin > 1 ? fmax(a, b) : a; break;
		case OP_NOT: r = a == 0; break;
		case OP_FLOOR: r = floor(a); break;
		case OP_CEIL: r = ceil(a); break;
		case OP_NEG: r = -a; break;
		case OP_SQRT: r = sqrt(a); break;
		case OP_ABS: r = fabs(a); break;
		case OP_RECIPROCAL: r = 1.0 / a; break;
		case OP_EXP: r = exp(a); break;
		case OP_RELU: r = a > 0 ? a : 0; break;
		case OP_SIGMOID: r = 1.0 / (1.0 + exp(-a)); break;
		case OP_TANH: r = tanh(a); break;
		default: r = a; break;
		}
		if (odt == DT_FLOAT)
			tmp.f[k] = (float)r;
		else
			tmp.i[k] = (int64_t)r;
	}
	struct nn_val *o = &m->vals[n->out[0]];
	free(o->f);
	free(o->i);
	char *name = o->name;
	int prod = o->producer;
	*o = tmp;
	o->name = name;
	o->producer = prod;
	o->off = -1;
	return 0;
}

/* Moves tmp's data into out value v (keeping its identity fields). */
static void install(struct nn_val *o, struct nn_val *tmp)
{
	free(o->f);
	free(o->i);
	char *name = o->name;
	int prod = o->producer;
	*o = *tmp;
	o->name = name;
	o->producer = prod;
	o->off = -1;
}

static int norm_axis(int64_t a, int rank, int64_t *out)
{
	if (a < -rank || a >= rank)
		return -1;
	*out = a < 0 ? a + rank : a;
	return 0;
}

int nn_fold_node(struct nn_loadctx *lc, int ni)
{
	struct nn_model *m = lc->m;
	struct nn_node *n = &m->nodes[ni];
	n->dead = 1;
	if (n->nout < 1 || n->out[0] < 0)
		return FAIL(NN_EINVALID, "node has no output");
	struct nn_val *o = &m->vals[n->out[0]];
	const struct nn_val *x = n->nin > 0 && n->in[0] >= 0 ? &m->vals[n->in[0]] : NULL;
	struct nn_val tmp = {0};
	int rc = 0;
	if (n->op != OP_CONSTANT && !x)
		return FAIL(NN_EINVALID, "missing input");
	if (x && !x->known)
		return FAIL(NN_EINVALID, "input shape is unknown");
	switch (n->op) {
	case OP_CONSTANT: {
		const void *t = nn_attr_tensor(n, "value");
		if (t) {
			rc = nn_tensor_to_val(lc, n, t, &tmp);
			if (rc < 0) {
				free(tmp.f);
				free(tmp.i);
				return rc;
			}
			break;
		}
		float f;
		int64_t iv;
		int64_t d1[1];
		if (nn_attr_float(n, "value_float", 0, &f)) {
			if ((rc = alloc_const(lc, n, &tmp, DT_FLOAT, 0, d1)) < 0)
				return rc;
			tmp.f[0] = f;
		} else if (nn_attr_int(n, "value_int", 0, &iv)) {
			if ((rc = alloc_const(lc, n, &tmp, DT_INT64, 0, d1)) < 0)
				return rc;
			tmp.i[0] = iv;
		} else {
			int64_t vals[256];
			float fv[256];
			int c = nn_attr_ints(n, "value_ints", vals, 256);
			if (c >= 0) {
				d1[0] = c;
				if ((rc = alloc_const(lc, n, &tmp, DT_INT64, 1, d1)) < 0)
					return rc;
				memcpy(tmp.i, vals, sizeof(int64_t) * c);
			} else if ((c = nn_attr_floats(n, "value_floats", fv, 256)) >= 0) {
				d1[0] = c;
				if ((rc = alloc_const(lc, n, &tmp, DT_FLOAT, 1, d1)) < 0)
					return rc;
				memcpy(tmp.f, fv, sizeof(float) * c);
			} else {
				return FAIL(NN_EUNSUPP, "no supported value attribute");
			}
		}
		break;
	}
	case OP_IDENTITY:
	case OP_DROPOUT:
		if ((rc = alloc_const(lc, n, &tmp, x->dtype, x->ndim, x->dims)) < 0)
			return rc;
		memcpy(vdata(&tmp), vdata(x), esz(x) * x->nelem);
		if (n->op == OP_DROPOUT && n->nout > 1 && n->out[1] >= 0)
			return FAIL(NN_EUNSUPP, "the mask output is not supported");
		break;
	case OP_CAST: {
		int64_t to;
		nn_attr_int(n, "to", 0, &to);
		int dt;
		if (to == DT_FLOAT || to == DT_DOUBLE || to == 10 /* float16 */)
			dt = DT_FLOAT;
		else if (to == DT_INT64 || to == DT_INT32 || to == DT_BOOL || to == 2 || to == 3 ||
			 to == 4 || to == 5 || to == 12 || to == 13)
			dt = DT_INT64;
		else
			return FAIL(NN_EUNSUPP, "cast to type %lld is not supported", (long long)to);
		if ((rc = alloc_const(lc, n, &tmp, dt, x->ndim, x->dims)) < 0)
			return rc;
		for (int64_t k = 0; k < x->nelem; k++) {
			if (dt == DT_FLOAT)
				tmp.f[k] = (float)getd(x, k);
			else if (to == DT_BOOL)
				tmp.i[k] = getd(x, k) != 0;
			else
				tmp.i[k] = x->dtype == DT_FLOAT ? (int64_t)x->f[k] : x->i[k];
		}
		break;
	}
	case OP_SHAPE: {
		int64_t st = 0, en = x->ndim;
		nn_attr_int(n, "start", 0, &st);
		nn_attr_int(n, "end", x->ndim, &en);
		if (st < 0)
			st += x->ndim;
		if (en < 0)
			en += x->ndim;
		st = st < 0 ? 0 : st > x->ndim ? x->ndim : st;
		en = en < 0 ? 0 : en > x->ndim ? x->ndim : en;
		int64_t d1[1] = {en > st ? en - st : 0};
		if ((rc = alloc_const(lc, n, &tmp, DT_INT64, 1, d1)) < 0)
			return rc;
		for (int64_t k = 0; k < d1[0]; k++)
			tmp.i[k] = x->dims[st + k];
		break;
	}
	case OP_GATHER: {
		if (n->nin < 2 || n->in[1] < 0)
			return FAIL(NN_EINVALID, "missing indices");
		const struct nn_val *ix = &m->vals[n->in[1]];
		if (ix->dtype != DT_INT64)
			return FAIL(NN_EINVALID, "indices must be integers");
		int64_t axis;
		nn_attr_int(n, "axis", 0, &axis);
		if (x->ndim < 1 || norm_axis(axis, x->ndim, &axis) < 0)
			return FAIL(NN_EINVALID, "axis out of range");
		int64_t od[NN_MAX_DIMS];
		int nd = 0;
		if (x->ndim - 1 + ix->ndim > NN_MAX_DIMS)
			return FAIL(NN_EUNSUPP, "result rank too large");
		for (int d = 0; d < axis; d++)
			od[nd++] = x->dims[d];
		for (int d = 0; d < ix->ndim; d++)
			od[nd++] = ix->dims[d];
		for (int d = (int)axis + 1; d < x->ndim; d++)
			od[nd++] = x->dims[d];
		if ((rc = alloc_const(lc, n, &tmp, x->dtype, nd, od)) < 0)
			return rc;
		int64_t outer = nn_shape_elems(x->dims, (int)axis);
		int64_t inner = nn_shape_elems(x->dims + axis + 1, x->ndim - (int)axis - 1);
		int64_t len = x->dims[axis];
		size_t es = esz(x);
		char *dst = vdata(&tmp);
		const char *src = vdata(x);
		for (int64_t a = 0; a < outer; a++)
			for (int64_t j = 0; j < ix->nelem; j++) {
				int64_t id = ix->i[j];
				if (id < 0)
					id += len;
				if (id < 0 || id >= len) {
					free(vdata(&tmp));
					return FAIL(NN_EINVALID, "index %lld out of range",
						    (long long)ix->i[j]);
				}
				memcpy(dst + ((a * ix->nelem + j) * inner) * es,
				       src + ((a * len + id) * inner) * es, es * inner);
			}
		break;
	}
	case OP_CONSTOFSHAPE: {
		if (x->dtype != DT_INT64 || x->ndim != 1 || x->nelem > NN_MAX_DIMS)
			return FAIL(NN_EINVALID, "shape input must be a 1-D int64 tensor");
		const void *t = nn_attr_tensor(n, "value");
		struct nn_val val = {0};
		int dt = DT_FLOAT;
		if (t) {
			if ((rc = nn_tensor_to_val(lc, n, t, &val)) < 0) {
				free(val.f);
				free(val.i);
				return rc;
			}
			if (val.nelem != 1) {
				free(val.f);
				free(val.i);
				return FAIL(NN_EINVALID, "value must have one element");
			}
			dt = val.dtype;
		}
		rc = alloc_const(lc, n, &tmp, dt, (int)x->nelem, x->i);
		if (rc >= 0 && t)
			for (int64_t k = 0; k < tmp.nelem; k++) {
				if (dt == DT_FLOAT)
					tmp.f[k] = val.f[0];
				else
					tmp.i[k] = val.i[0];
			}
		free(val.f);
		free(val.i);
		if (rc < 0)
			return rc;
		break;
	}
	case OP_UNSQUEEZE:
	case OP_SQUEEZE: {
		int64_t axes[NN_MAX_DIMS];
		int na;
		if ((rc = get_axes(lc, n, axes, &na)) < 0)
			return rc;
		int64_t od[NN_MAX_DIMS];
		int nd = 0;
		if (n->op == OP_UNSQUEEZE) {
			if (na < 0)
				return FAIL(NN_EINVALID, "axes are required");
			int rank = x->ndim + na;
			if (rank > NN_MAX_DIMS)
				return FAIL(NN_EUNSUPP, "result rank too large");
			int mark[NN_MAX_DIMS] = {0};
			for (int k = 0; k < na; k++) {
				int64_t a;
				if (norm_axis(axes[k], rank, &a) < 0 || mark[a])
					return FAIL(NN_EINVALID, "bad axis %lld", (long long)axes[k]);
				mark[a] = 1;
			}
			int j = 0;
			for (int d = 0; d < rank; d++)
				od[nd++] = mark[d] ? 1 : x->dims[j++];
		} else {
			int mark[NN_MAX_DIMS] = {0};
			for (int k = 0; k < na; k++) {
				int64_t a;
				if (norm_axis(axes[k], x->ndim, &a) < 0 || x->dims[a] != 1)
					return FAIL(NN_EINVALID, "cannot squeeze axis %lld",
						    (long long)axes[k]);
				mark[a] = 1;
			}
			for (int d = 0; d < x->ndim; d++)
				if (!(na < 0 ? x->dims[d] == 1 : mark[d]))
					od[nd++] = x->dims[d];
		}
		if ((rc = alloc_const(lc, n, &tmp, x->dtype, nd, od)) < 0)
			return rc;
		memcpy(vdata(&tmp), vdata(x), esz(x) * x->nelem);
		break;
	}
	case OP_FLATTEN: {
		int64_t axis;
		nn_attr_int(n, "axis", 1, &axis);
		if (axis < 0)
			axis += x->ndim;
		if (axis < 0 || axis > x->ndim)
			return FAIL(NN_EINVALID, "axis out of range");
		int64_t od[2] = {nn_shape_elems(x->dims, (int)axis),
				 nn_shape_elems(x->dims + axis, x->ndim - (int)axis)};
		if ((rc = alloc_const(lc, n, &tmp, x->dtype, 2, od)) < 0)
			return rc;
		memcpy(vdata(&tmp), vdata(x), esz(x) * x->nelem);
		break;
	}
	case OP_RESHAPE: {
		int64_t sh[NN_MAX_DIMS];
		int ns;
		if (n->opset < 5)
			return FAIL(NN_EUNSUPP, "Reshape-1 is not supported");
		if ((rc = read_ints(lc, n, 1, sh, NN_MAX_DIMS, &ns)) < 0)
			return rc;
		if (ns < 0)
			return FAIL(NN_EINVALID, "missing shape");
		int64_t allowzero;
		nn_attr_int(n, "allowzero", 0, &allowzero);
		int neg = -1;
		int64_t known = 1;
		for (int d = 0; d < ns; d++) {
			if (sh[d] == 0 && !allowzero) {
				if (d >= x->ndim)
					return FAIL(NN_EINVALID, "0 in shape beyond input rank");
				sh[d] = x->dims[d];
			}
			if (sh[d] == -1) {
				if (neg >= 0)
					return FAIL(NN_EINVALID, "more than one -1 in shape");
				neg = d;
			} else if (sh[d] < 0) {
				return FAIL(NN_EINVALID, "negative dimension in shape");
			} else {
				if (sh[d] && known > NN_MAX_CONST_ELEMS / sh[d] + 1)
					return FAIL(NN_EINVALID, "shape too large");
				known *= sh[d];
			}
		}
		if (neg >= 0) {
			if (known == 0 || x->nelem % known)
				return FAIL(NN_EINVALID, "cannot infer -1 in shape");
			sh[neg] = x->nelem / known;
		} else if (known != x->nelem) {
			return FAIL(NN_EINVALID, "shape has %lld elements, input %lld",
				    (long long)known, (long long)x->nelem);
		}
		if ((rc = alloc_const(lc, n, &tmp, x->dtype, ns, sh)) < 0)
			return rc;
		memcpy(vdata(&tmp), vdata(x), esz(x) * x->nelem);
		break;
	}
	case OP_CONCAT: {
		int64_t axis;
		nn_attr_int(n, "axis", 0, &axis);
		if (x->ndim < 1 || norm_axis(axis, x->ndim, &axis) < 0)
			return FAIL(NN_EINVALID, "axis out of range");
		int64_t od[NN_MAX_DIMS];
		memcpy(od, x->dims, sizeof od);
		od[axis] = 0;
		int dt = x->dtype;
		for (int k = 0; k < n->nin; k++) {
			const struct nn_val *v = &m->vals[n->in[k]];
			if (n->in[k] < 0 || v->ndim != x->ndim || v->dtype != dt)
				return FAIL(NN_EINVALID, "inputs differ in rank or type");
			for (int d = 0; d < x->ndim; d++)
				if (d != axis && v->dims[d] != x->dims[d])
					return FAIL(NN_EINVALID, "input shapes differ");
			od[axis] += v->dims[axis];
		}
		if ((rc = alloc_const(lc, n, &tmp, dt, x->ndim, od)) < 0)
			return rc;
		int64_t outer = nn_shape_elems(x->dims, (int)axis);
		int64_t inner = nn_shape_elems(x->dims + axis + 1, x->ndim - (int)axis - 1);
		size_t es = esz(x);
		char *dst = vdata(&tmp);
		for (int64_t a = 0; a < outer; a++)
			for (int k = 0; k < n->nin; k++) {
				const struct nn_val *v = &m->vals[n->in[k]];
				size_t chunk = es * inner * v->dims[axis];
				memcpy(dst, (const char *)vdata(v) + a * chunk, chunk);
				dst += chunk;
			}
		break;
	}
	case OP_RANGE: {
		if (n->nin < 3 || n->in[1] < 0 || n->in[2] < 0)
			return FAIL(NN_EINVALID, "Range needs three inputs");
		const struct nn_val *l = &m->vals[n->in[1]], *dl = &m->vals[n->in[2]];
		if (x->nelem != 1 || l->nelem != 1 || dl->nelem != 1)
			return FAIL(NN_EINVALID, "inputs must be scalars");
		double s = getd(x, 0), e = getd(l, 0), d = getd(dl, 0);
		if (d == 0)
			return FAIL(NN_EINVALID, "delta is zero");
		double cnt = ceil((e - s) / d);
		if (cnt < 0)
			cnt = 0;
		if (cnt > (double)NN_MAX_CONST_ELEMS)
			return FAIL(NN_EINVALID, "range too long");
		int64_t od[1] = {(int64_t)cnt};
		if ((rc = alloc_const(lc, n, &tmp, x->dtype, 1, od)) < 0)
			return rc;
		for (int64_t k = 0; k < od[0]; k++) {
			if (x->dtype == DT_FLOAT)
				tmp.f[k] = (float)(s + d * k);
			else
				tmp.i[k] = x->i[0] + dl->i[0] * k;
		}
		break;
	}
	case OP_EXPAND: {
		int64_t sh[NN_MAX_DIMS];
		int ns;
		if ((rc = read_ints(lc, n, 1, sh, NN_MAX_DIMS, &ns)) < 0)
			return rc;
		if (ns < 0)
			return FAIL(NN_EINVALID, "missing shape");
		struct nn_val shv = {0};
		shv.ndim = ns;
		memcpy(shv.dims, sh, sizeof(int64_t) * ns);
		const struct nn_val *pair[2] = {x, &shv};
		int nd;
		int64_t od[NN_MAX_DIMS];
		if (bcast_shape(pair, 2, &nd, od) < 0)
			return FAIL(NN_EINVALID, "shape does not broadcast");
		if ((rc = alloc_const(lc, n, &tmp, x->dtype, nd, od)) < 0)
			return rc;
		for (int64_t k = 0; k < tmp.nelem; k++) {
			int64_t ia = bcast_index(od, nd, x, k);
			if (x->dtype == DT_FLOAT)
				tmp.f[k] = x->f[ia];
			else
				tmp.i[k] = x->i[ia];
		}
		break;
	}
	case OP_SLICE: {
		int64_t st[NN_MAX_DIMS], en[NN_MAX_DIMS], ax[NN_MAX_DIMS], sp[NN_MAX_DIMS];
		int ns, ne, na, nsp;
		if (n->opset < 10) {
			ns = nn_attr_ints(n, "starts", st, NN_MAX_DIMS);
			ne = nn_attr_ints(n, "ends", en, NN_MAX_DIMS);
			na = nn_attr_ints(n, "axes", ax, NN_MAX_DIMS);
			nsp = -1;
		} else {
			if ((rc = read_ints(lc, n, 1, st, NN_MAX_DIMS, &ns)) < 0 ||
			    (rc = read_ints(lc, n, 2, en, NN_MAX_DIMS, &ne)) < 0 ||
			    (rc = read_ints(lc, n, 3, ax, NN_MAX_DIMS, &na)) < 0 ||
			    (rc = read_ints(lc, n, 4, sp, NN_MAX_DIMS, &nsp)) < 0)
				return rc;
		}
		if (ns < 0 || ns != ne || (na >= 0 && na != ns) || (nsp >= 0 && nsp != ns))
			return FAIL(NN_EINVALID, "starts/ends/axes/steps disagree");
		int64_t b[NN_MAX_DIMS], s[NN_MAX_DIMS], od[NN_MAX_DIMS];
		for (int d = 0; d < x->ndim; d++) {
			b[d] = 0;
			s[d] = 1;
			od[d] = x->dims[d];
		}
		for (int k = 0; k < ns; k++) {
			int64_t a = na >= 0 ? ax[k] : k;
			if (norm_axis(a, x->ndim, &a) < 0)
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
			b[a] = lo;
			s[a] = step;
		}
		if ((rc = alloc_const(lc, n, &tmp, x->dtype, x->ndim, od)) < 0)
			return rc;
		for (int64_t k = 0; k < tmp.nelem; k++) {
			int64_t r = k, idx = 0, stride = 1;
			for (int d = x->ndim - 1; d >= 0; d--) {
				int64_t c = r % od[d];
				r /= od[d];
				idx += (b[d] + c * s[d]) * stride;
				stride *= x->dims[d];
			}
			if (x->dtype == DT_FLOAT)
				tmp.f[k] = x->f[idx];
			else
				tmp.i[k] = x->i[idx];
		}
		break;
	}
	case OP_TRANSPOSE: {
		int64_t perm[NN_MAX_DIMS];
		int np = nn_attr_ints(n, "perm", perm, NN_MAX_DIMS);
		if (np < 0) {
			np = x->ndim;
			for (int d = 0; d < np; d++)
				perm[d] = np - 1 - d;
		}
		if (np != x->ndim)
			return FAIL(NN_EINVALID, "perm has the wrong length");
		int64_t od[NN_MAX_DIMS], istr[NN_MAX_DIMS];
		int seen[NN_MAX_DIMS] = {0};
		for (int d = 0; d < np; d++) {
			if (perm[d] < 0 || perm[d] >= np || seen[perm[d]]++)
				return FAIL(NN_EINVALID, "perm is not a permutation");
			od[d] = x->dims[perm[d]];
		}
		int64_t st = 1;
		for (int d = np - 1; d >= 0; d--) {
			istr[d] = st;
			st *= x->dims[d];
		}
		if ((rc = alloc_const(lc, n, &tmp, x->dtype, np, od)) < 0)
			return rc;
		for (int64_t k = 0; k < tmp.nelem; k++) {
			int64_t r = k, idx = 0;
			for (int d = np - 1; d >= 0; d--) {
				idx += (r % od[d]) * istr[perm[d]];
				r /= od[d];
			}
			if (x->dtype == DT_FLOAT)
				tmp.f[k] = x->f[idx];
			else
				tmp.i[k] = x->i[idx];
		}
		break;
	}
	case OP_SPLIT: {
		int64_t axis;
		nn_attr_int(n, "axis", 0, &axis);
		if (x->ndim < 1 || norm_axis(axis, x->ndim, &axis) < 0)
			return FAIL(NN_EINVALID, "axis out of range");
		int64_t sp[64];
		int nsp = -1;
		if (n->opset >= 13) {
			if ((rc = read_ints(lc, n, 1, sp, 64, &nsp)) < 0)
				return rc;
		} else {
			nsp = nn_attr_ints(n, "split", sp, 64);
		}
		if (nsp < 0) {
			nsp = n->nout;
			if (x->dims[axis] % nsp)
				return FAIL(NN_EUNSUPP, "uneven split");
			for (int k = 0; k < nsp; k++)
				sp[k] = x->dims[axis] / nsp;
		}
		if (nsp != n->nout)
			return FAIL(NN_EINVALID, "split count differs from outputs");
		int64_t tot = 0;
		for (int k = 0; k < nsp; k++) {
			if (sp[k] < 0)
				return FAIL(NN_EINVALID, "negative split");
			tot += sp[k];
		}
		if (tot != x->dims[axis])
			return FAIL(NN_EINVALID, "split sizes do not add up");
		int64_t outer = nn_shape_elems(x->dims, (int)axis);
		int64_t inner = nn_shape_elems(x->dims + axis + 1, x->ndim - (int)axis - 1);
		int64_t pos = 0;
		size_t es = esz(x);
		for (int k = 0; k < nsp; k++) {
			int64_t od[NN_MAX_DIMS];
			memcpy(od, x->dims, sizeof od);
			od[axis] = sp[k];
			struct nn_val t2 = {0};
			if ((rc = alloc_const(lc, n, &t2, x->dtype, x->ndim, od)) < 0)
				return rc;
			for (int64_t a = 0; a < outer; a++)
				memcpy((char *)vdata(&t2) + a * sp[k] * inner * es,
				       (const char *)vdata(x) + (a * x->dims[axis] + pos) * inner * es,
				       sp[k] * inner * es);
			pos += sp[k];
			if (n->out[k] >= 0)
				install(&m->vals[n->out[k]], &t2);
			else
				free(vdata(&t2));
		}
		return 0;
	}
	default:
		if (n->op == OP_SHAPE)
			return FAIL(NN_EUNSUPP, "cannot fold");
		return elementwise(lc, n);
	}
	install(o, &tmp);
	return 0;
}
