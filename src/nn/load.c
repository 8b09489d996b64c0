/*
 * ONNX loader: reads a model file (size capped before reading), unpacks it with protobuf-c,
 * checks the graph against the ONNX IR rules (ONNX IR spec "Graphs": SSA names, inputs
 * produced before use, topological sortability, initializer sizes) and builds the SSA graph
 * of nn_impl.h. It then drives, node by node in topological order, constant folding
 * (fold.c) or shape inference (shape.c), and finally planning (plan.c). Every failure
 * becomes one line `LABEL: node "NAME" (OP): reason`. The protobuf message is borrowed by
 * the nodes during load only and freed before return.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nn/nn_impl.h"
#include "nn/onnx.pb-c.h"

int nn_err(char *err, size_t errlen, const char *label, const struct nn_node *n, int code,
	   const char *fmt, ...)
{
	if (err && errlen) {
		char msg[512];
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(msg, sizeof msg, fmt, ap);
		va_end(ap);
		if (n)
			snprintf(err, errlen, "%s: node \"%s\" (%s): %s", label, n->name,
				 n->op_type, msg);
		else
			snprintf(err, errlen, "%s: %s", label, msg);
		/* names come from the file: keep the message one line (control bytes as '?') */
		for (char *c = err; *c; c++)
			if ((unsigned char)*c < 0x20 || *c == 0x7f)
				*c = '?';
	}
	return code;
}

static const struct {
	const char *name;
	enum op op;
} op_names[] = {
	{"Conv", OP_CONV}, {"ConvTranspose", OP_CONVT}, {"BatchNormalization", OP_BN},
	{"Relu", OP_RELU}, {"LeakyRelu", OP_LEAKY}, {"Sigmoid", OP_SIGMOID}, {"Tanh", OP_TANH},
	{"Clip", OP_CLIP}, {"HardSwish", OP_HSWISH}, {"HardSigmoid", OP_HSIGMOID},
	{"Softmax", OP_SOFTMAX}, {"MaxPool", OP_MAXPOOL}, {"AveragePool", OP_AVGPOOL},
	{"GlobalAveragePool", OP_GAP}, {"GlobalMaxPool", OP_GMP}, {"Add", OP_ADD},
	{"Sub", OP_SUB}, {"Mul", OP_MUL}, {"Div", OP_DIV}, {"Concat", OP_CONCAT},
	{"Resize", OP_RESIZE}, {"Upsample", OP_UPSAMPLE}, {"Flatten", OP_FLATTEN},
	{"Reshape", OP_RESHAPE}, {"Transpose", OP_TRANSPOSE}, {"Squeeze", OP_SQUEEZE},
	{"Unsqueeze", OP_UNSQUEEZE}, {"Gemm", OP_GEMM}, {"MatMul", OP_MATMUL},
	{"Identity", OP_IDENTITY}, {"Constant", OP_CONSTANT}, {"Pad", OP_PAD},
	{"Slice", OP_SLICE}, {"Dropout", OP_DROPOUT}, {"Shape", OP_SHAPE},
	{"Gather", OP_GATHER}, {"Cast", OP_CAST}, {"ConstantOfShape", OP_CONSTOFSHAPE},
	{"Range", OP_RANGE}, {"Expand", OP_EXPAND}, {"Floor", OP_FLOOR}, {"Ceil", OP_CEIL},
	{"Neg", OP_NEG}, {"Sqrt", OP_SQRT}, {"Equal", OP_EQUAL}, {"Where", OP_WHERE},
	{"Less", OP_LESS}, {"Greater", OP_GREATER}, {"Not", OP_NOT}, {"Min", OP_MIN},
	{"Max", OP_MAX}, {"Abs", OP_ABS}, {"Pow", OP_POW}, {"Reciprocal", OP_RECIPROCAL},
	{"Exp", OP_EXP}, {"Split", OP_SPLIT},
};

static enum op op_lookup(const char *s)
{
	for (size_t i = 0; i < sizeof op_names / sizeof op_names[0]; i++)
		if (strcmp(op_names[i].name, s) == 0)
			return op_names[i].op;
	return OP_UNKNOWN;
}

int64_t nn_shape_elems(const int64_t *dims, int ndim)
{
	int64_t n = 1;
	for (int i = 0; i < ndim; i++) {
		if (dims[i] < 0)
			return -1;
		if (dims[i] && n > INT64_MAX / 4 / dims[i])
			return -1;
		n *= dims[i];
	}
	return n;
}

/* ---- name table ---- */

static uint32_t hash_str(const char *s)
{
	uint32_t h = 2166136261u;
	while (*s)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h;
}

static int lookup(const struct nn_model *m, const char *name)
{
	if (!m->hcap)
		return -1;
	for (uint32_t h = hash_str(name) & (m->hcap - 1);; h = (h + 1) & (m->hcap - 1)) {
		int v = m->hash[h];
		if (v < 0)
			return -1;
		if (strcmp(m->vals[v].name, name) == 0)
			return v;
	}
}

static int hash_insert(struct nn_model *m, int v)
{
	if ((m->nvals + 1) * 2 > m->hcap) {
		int ncap = m->hcap ? m->hcap * 2 : 64;
		int *nh = malloc(sizeof(int) * ncap);
		if (!nh)
			return NN_ENOMEM;
		for (int i = 0; i < ncap; i++)
			nh[i] = -1;
		free(m->hash);
		m->hash = nh;
		m->hcap = ncap;
		for (int i = 0; i < m->nvals; i++) {
			if (i == v)
				continue;
			uint32_t h = hash_str(m->vals[i].name) & (ncap - 1);
			while (nh[h] >= 0)
				h = (h + 1) & (ncap - 1);
			nh[h] = i;
		}
	}
	uint32_t h = hash_str(m->vals[v].name) & (m->hcap - 1);
	while (m->hash[h] >= 0)
		h = (h + 1) & (m->hcap - 1);
	m->hash[h] = v;
	return 0;
}

/* Adds a value named name (copied); returns its index or a negative code. */
int nn_val_new(struct nn_model *m, const char *name)
{
	if (m->nvals == m->cap_vals) {
		int ncap = m->cap_vals ? m->cap_vals * 2 : 64;
		struct nn_val *nv = realloc(m->vals, sizeof *nv * ncap);
		if (!nv)
			return NN_ENOMEM;
		m->vals = nv;
		m->cap_vals = ncap;
	}
	struct nn_val *v = &m->vals[m->nvals];
	memset(v, 0, sizeof *v);
	v->name = strdup(name);
	if (!v->name)
		return NN_ENOMEM;
	v->producer = -1;
	v->off = -1;
	int idx = m->nvals++;
	if (hash_insert(m, idx) < 0) {
		free(v->name);
		m->nvals--;
		return NN_ENOMEM;
	}
	return idx;
}

/* ---- attributes ---- */

static const Onnx__AttributeProto *attr_find(const struct nn_node *n, const char *name)
{
	const Onnx__NodeProto *np = n->attrs;
	if (!np)
		return NULL;
	for (size_t i = 0; i < np->n_attribute; i++)
		if (np->attribute[i]->name && strcmp(np->attribute[i]->name, name) == 0)
			return np->attribute[i];
	return NULL;
}

int nn_attr_int(const struct nn_node *n, const char *name, int64_t def, int64_t *out)
{
	const Onnx__AttributeProto *a = attr_find(n, name);
	*out = a ? a->i : def;
	return a != NULL;
}

int nn_attr_float(const struct nn_node *n, const char *name, float def, float *out)
{
	const Onnx__AttributeProto *a = attr_find(n, name);
	*out = a ? a->f : def;
	return a != NULL;
}

int nn_attr_ints(const struct nn_node *n, const char *name, int64_t *out, int max)
{
	const Onnx__AttributeProto *a = attr_find(n, name);
	if (!a)
		return -1;
	if (a->n_ints > (size_t)max)
		return -2;
	for (size_t i = 0; i < a->n_ints; i++)
		out[i] = a->ints[i];
	return (int)a->n_ints;
}

int nn_attr_floats(const struct nn_node *n, const char *name, float *out, int max)
{
	const Onnx__AttributeProto *a = attr_find(n, name);
	if (!a)
		return -1;
	if (a->n_floats > (size_t)max)
		return -2;
	for (size_t i = 0; i < a->n_floats; i++)
		out[i] = a->floats[i];
	return (int)a->n_floats;
}

int nn_attr_str(const struct nn_node *n, const char *name, char *buf, size_t len)
{
	const Onnx__AttributeProto *a = attr_find(n, name);
	if (!a || !a->has_s) {
		buf[0] = 0;
		return 0;
	}
	size_t l = a->s.len < len - 1 ? a->s.len : len - 1;
	memcpy(buf, a->s.data, l);
	buf[l] = 0;
	return 1;
}

const void *nn_attr_tensor(const struct nn_node *n, const char *name)
{
	const Onnx__AttributeProto *a = attr_find(n, name);
	return a ? a->t : NULL;
}

/* ---- tensors ---- */

/*
 * Fills v (dtype, shape, const data) from a TensorProto. Sizes are checked against the data
 * actually present in the parsed message before anything is allocated.
 */
int nn_tensor_to_val(struct nn_loadctx *lc, const struct nn_node *n, const void *tp,
		     struct nn_val *v)
{
	const Onnx__TensorProto *t = tp;
	const char *nm = t->name ? t->name : "";
	if (t->n_external_data || (t->has_data_location &&
				   t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL))
		return nn_err(lc->err, lc->errlen, lc->label, n, NN_EUNSUPP,
			      "tensor \"%s\": external data is not supported", nm);
	if (t->n_dims > NN_MAX_DIMS)
		return nn_err(lc->err, lc->errlen, lc->label, n, NN_EUNSUPP,
			      "tensor \"%s\" has %zu dimensions (max %d)", nm, t->n_dims,
			      NN_MAX_DIMS);
	v->ndim = (int)t->n_dims;
	for (size_t i = 0; i < t->n_dims; i++)
		v->dims[i] = t->dims[i];
	int64_t ne = nn_shape_elems(v->dims, v->ndim);
	if (ne < 0 || ne > NN_MAX_CONST_ELEMS)
		return nn_err(lc->err, lc->errlen, lc->label, n, NN_EINVALID,
			      "tensor \"%s\" has an invalid or too large shape", nm);
	v->nelem = ne;
	v->known = 1;
	v->is_const = 1;
	int dt = t->has_data_type ? t->data_type : 0;
	size_t esz;
	size_t have; /* elements present */
	const char *how;
	switch (dt) {
	case DT_FLOAT: esz = 4; break;
	case DT_DOUBLE: esz = 8; break;
	case DT_INT64: esz = 8; break;
	case DT_INT32: esz = 4; break;
	case DT_BOOL: esz = 1; break;
	default:
		return nn_err(lc->err, lc->errlen, lc->label, n, NN_EUNSUPP,
			      "tensor \"%s\": data type %d is not supported", nm, dt);
	}
	if (t->has_raw_data && t->raw_data.len) {
		how = "raw_data";
		if (t->raw_data.len % esz)
			have = (size_t)-1;
		else
			have = t->raw_data.len / esz;
	} else {
		how = "typed data";
		switch (dt) {
		case DT_FLOAT: have = t->n_float_data; break;
		case DT_DOUBLE: have = t->n_double_data; break;
		case DT_INT64: have = t->n_int64_data; break;
		default: have = t->n_int32_data; break; /* INT32, BOOL */
		}
	}
	if (have != (size_t)ne)
		return nn_err(lc->err, lc->errlen, lc->label, n, NN_EINVALID,
			      "tensor \"%s\": shape needs %lld elements but %s holds %lld", nm,
			      (long long)ne, how, have == (size_t)-1 ? -1LL : (long long)have);
	size_t alloc = ne ? (size_t)ne : 1;
	if (dt == DT_FLOAT || dt == DT_DOUBLE) {
		v->dtype = DT_FLOAT;
		v->f = malloc(alloc * sizeof(float));
		if (!v->f)
			return NN_ENOMEM;
		for (int64_t i = 0; i < ne; i++) {
			if (t->has_raw_data && t->raw_data.len) {
				if (dt == DT_FLOAT) {
					memcpy(&v->f[i], t->raw_data.data + 4 * i, 4);
				} else {
					double d;
					memcpy(&d, t->raw_data.data + 8 * i, 8);
					v->f[i] = (float)d;
				}
			} else {
				v->f[i] = dt == DT_FLOAT ? t->float_data[i]
							 : (float)t->double_data[i];
			}
		}
	} else {
		v->dtype = DT_INT64;
		v->i = malloc(alloc * sizeof(int64_t));
		if (!v->i)
			return NN_ENOMEM;
		for (int64_t i = 0; i < ne; i++) {
			if (t->has_raw_data && t->raw_data.len) {
				const uint8_t *p = t->raw_data.data + esz * i;
				if (dt == DT_INT64) {
					memcpy(&v->i[i], p, 8);
				} else if (dt == DT_INT32) {
					int32_t x;
					memcpy(&x, p, 4);
					v->i[i] = x;
				} else {
					v->i[i] = p[0] != 0;
				}
			} else {
				v->i[i] = dt == DT_INT64 ? t->int64_data[i] : t->int32_data[i];
			}
		}
	}
	return 0;
}

/* ---- model ---- */

void nn_model_free(struct nn_model *m)
{
	if (!m)
		return;
	for (int i = 0; i < m->nvals; i++) {
		free(m->vals[i].name);
		free(m->vals[i].f);
		free(m->vals[i].i);
	}
	for (int i = 0; i < m->nnodes; i++) {
		struct nn_node *n = &m->nodes[i];
		free(n->name);
		free(n->op_type);
		free(n->in);
		free(n->out);
		free(n->p.scale);
		free(n->p.shift);
		free(n->p.wt);
		free(n->p.bias);
		free(n->p.koff);
		free(n->p.apack);
	}
	for (int i = 0; i < m->nopc; i++)
		free(m->opc[i].op);
	free(m->opc);
	free(m->vals);
	free(m->nodes);
	free(m->order);
	free(m->exec);
	free(m->outputs);
	free(m->hash);
	free(m);
}

static int count_op(struct nn_model *m, const char *op)
{
	for (int i = 0; i < m->nopc; i++)
		if (strcmp(m->opc[i].op, op) == 0) {
			m->opc[i].n++;
			return 0;
		}
	struct nn_opcount *n = realloc(m->opc, sizeof *n * (m->nopc + 1));
	if (!n)
		return NN_ENOMEM;
	m->opc = n;
	m->opc[m->nopc].op = strdup(op);
	if (!m->opc[m->nopc].op)
		return NN_ENOMEM;
	m->opc[m->nopc++].n = 1;
	return 0;
}

/* Graph input: the one non-initializer input, with its shape fixed per item. */
static int setup_input(struct nn_loadctx *lc, const Onnx__GraphProto *g,
		       const struct nn_load_opts *o)
{
	struct nn_model *m = lc->m;
	const Onnx__ValueInfoProto *in = NULL;
	int nin = 0;
	for (size_t i = 0; i < g->n_input; i++) {
		const char *nm = g->input[i]->name;
		if (!nm || !*nm)
			return nn_err(lc->err, lc->errlen, lc->label, NULL, NN_EINVALID,
				      "graph input %zu has no name", i);
		int v = lookup(m, nm);
		if (v >= 0 && m->vals[v].is_const)
			continue; /* initializer listed as input (IR < 4): a constant */
		if (v >= 0)
			return nn_err(lc->err, lc->errlen, lc->label, NULL, NN_EINVALID,
				      "graph input \"%s\" is listed twice", nm);
		in = g->input[i];
		nin++;
		int nv = nn_val_new(m, nm);
		if (nv < 0)
			return nv;
		m->input = nv;
	}
	if (nin != 1)
		return nn_err(lc->err, lc->errlen, lc->label, NULL, NN_EUNSUPP,
			      "the graph has %d inputs; exactly one is supported", nin);
	struct nn_val *v = &m->vals[m->input];
	const Onnx__TypeProto *tp = in->type;
	if (!tp || tp->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || !tp->tensor_type)
		return nn_err(lc->err, lc->errlen, lc->label, NULL, NN_EUNSUPP,
			      "input \"%s\" is not a tensor", v->name);
	const Onnx__TypeProto__Tensor *tt = tp->tensor_type;
	if (tt->elem_type != DT_FLOAT)
		return nn_err(lc->err, lc->errlen, lc->label, NULL, NN_EUNSUPP,
			      "input \"%s\" has element type %d; only float is supported",
			      v->name, tt->elem_type);
	v->dtype = DT_FLOAT;
	v->is_input = 1;
	if (o && o->input_ndim > 0) {
		if (o->input_ndim > NN_MAX_DIMS)
			return nn_err(lc->err, lc->errlen, lc->label, NULL, NN_EARG,
				      "input shape has too many dimensions");
		if (tt->shape && tt->shape->n_dim != (size_t)o->input_ndim)
			return nn_err(lc->err, lc->errlen, lc->label, NULL, NN_EINVALID,
				      "input \"%s\" has %zu dimensions, the given shape %d",
				      v->name, tt->shape->n_dim, o->input_ndim);
		v->ndim = o->input_ndim;
		for (int i = 0; i < v->ndim; i++) {
			v->dims[i] = o->input_shape[i];
			if (i && tt->shape) {
				const Onnx__TensorShapeProto__Dimension *d = tt->shape->dim[i];
				if (d->value_case ==
					    ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE &&
				    d->dim_value != v->dims[i])
					return nn_err(lc->err, lc->errlen, lc->label, NULL,
						      NN_EINVALID,
						      "input \"%s\" dimension %d is %lld, the given "
						      "shape says %lld",
						      v->name, i, (long long)d->dim_value,
						      (long long)v->dims[i]);
			}
		}
	} else {
		if (!tt->shape)
			return nn_err(lc->err, lc->errlen, lc->label, NULL, NN_EUNSUPP,
				      "input \"%s\" has no declared shape; give one", v->name);
		if (tt->shape->n_dim > NN_MAX_DIMS || tt->shape->n_dim < 1)
			return nn_err(lc->err, lc->errlen, lc->label, NULL, NN_EUNSUPP,
				      "input \"%s\" has %zu dimensions", v->name,
				      tt->shape->n_dim);
		v->ndim = (int)tt->shape->n_dim;
		for (int i = 0; i < v->ndim; i++) {
			const Onnx__TensorShapeProto__Dimension *d = tt->shape->dim[i];
			if (d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE)
				v->dims[i] = d->dim_value;
			else if (i == 0)
				v->dims[i] = 1;
			else
				return nn_err(lc->err, lc->errlen, lc->label, NULL, NN_EUNSUPP,
					      "input \"%s\" dimension %d is symbolic; give the "
					      "input shape",
					      v->name, i);
		}
	}
	/* A model exported with a fixed batch D > 1 bakes D into its shape constants: run it
	 * statically at exactly D items. Otherwise shapes are inferred per item (batch 1). */
	int64_t declared0 = 0;
	if (tt->shape && tt->shape->n_dim > 0 &&
	    tt->shape->dim[0]->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE)
		declared0 = tt->shape->dim[0]->dim_value;
	if (declared0 > 1) {
		if (declared0 > 65536)
			return nn_err(lc->err, lc->errlen, lc->label, NULL, NN_EINVALID,
				      "input \"%s\" batch dimension %lld is too large", v->name,
				      (long long)declared0);
		if (o && o->input_ndim > 0 && o->input_shape[0] != declared0)
			return nn_err(lc->err, lc->errlen, lc->label, NULL, NN_EINVALID,
				      "input \"%s\" has a fixed batch of %lld, the given shape says "
				      "%lld",
				      v->name, (long long)declared0, (long long)o->input_shape[0]);
		v->dims[0] = declared0;
		m->static_batch = (int)declared0;
		m->max_batch = (int)declared0;
	} else {
		v->dims[0] = 1;
	}
	for (int i = 1; i < v->ndim; i++)
		if (v->dims[i] <= 0)
			return nn_err(lc->err, lc->errlen, lc->label, NULL, NN_EINVALID,
				      "input \"%s\" dimension %d is %lld", v->name, i,
				      (long long)v->dims[i]);
	v->nelem = nn_shape_elems(v->dims, v->ndim);
	if (v->nelem <= 0 || v->nelem > NN_MAX_TENSOR_ELEMS)
		return nn_err(lc->err, lc->errlen, lc->label, NULL, NN_EINVALID,
			      "input \"%s\" is too large", v->name);
	v->known = 1;
	v->batched = m->static_batch == 0;
	return 0;
}

/* Kahn's algorithm; a node left over sits on (or behind) a cycle. */
static int topo_sort(struct nn_loadctx *lc)
{
	struct nn_model *m = lc->m;
	int nn = m->nnodes;
	int *indeg = calloc(nn ? nn : 1, sizeof(int));
	int *queue = malloc(sizeof(int) * (nn ? nn : 1));
	/* consumers lists in CSR form */
	int total = 0;
	for (int i = 0; i < nn; i++)
		total += m->nodes[i].nin;
	int *cstart = calloc(m->nvals + 1, sizeof(int));
	int *cons = malloc(sizeof(int) * (total ? total : 1));
	m->order = malloc(sizeof(int) * (nn ? nn : 1));
	if (!indeg || !queue || !cstart || !cons || !m->order) {
		free(indeg);
		free(queue);
		free(cstart);
		free(cons);
		return NN_ENOMEM;
	}
	for (int i = 0; i < nn; i++)
		for (int k = 0; k < m->nodes[i].nin; k++) {
			int v = m->nodes[i].in[k];
			if (v >= 0 && m->vals[v].producer >= 0) {
				indeg[i]++;
				cstart[v + 1]++;
			}
		}
	for (int v = 0; v < m->nvals; v++)
		cstart[v + 1] += cstart[v];
	int *fill = calloc(m->nvals + 1, sizeof(int));
	if (!fill) {
		free(indeg);
		free(queue);
		free(cstart);
		free(cons);
		return NN_ENOMEM;
	}
	for (int i = 0; i < nn; i++)
		for (int k = 0; k < m->nodes[i].nin; k++) {
			int v = m->nodes[i].in[k];
			if (v >= 0 && m->vals[v].producer >= 0)
				cons[cstart[v] + fill[v]++] = i;
		}
	int qh = 0, qt = 0;
	for (int i = 0; i < nn; i++)
		if (!indeg[i])
			queue[qt++] = i;
	int no = 0;
	while (qh < qt) {
		int i = queue[qh++];
		m->order[no++] = i;
		for (int k = 0; k < m->nodes[i].nout; k++) {
			int v = m->nodes[i].out[k];
			if (v < 0)
				continue;
			for (int c = cstart[v]; c < cstart[v + 1]; c++)
				if (--indeg[cons[c]] == 0)
					queue[qt++] = cons[c];
		}
	}
	int rc = 0;
	if (no != nn) {
		int bad = 0;
		for (int i = 0; i < nn; i++)
			if (indeg[i]) {
				bad = i;
				break;
			}
		rc = nn_err(lc->err, lc->errlen, lc->label, &m->nodes[bad], NN_EINVALID,
			    "the graph has a cycle through this node");
	}
	free(indeg);
	free(queue);
	free(cstart);
	free(cons);
	free(fill);
	return rc;
}

static int build(struct nn_loadctx *lc, const Onnx__ModelProto *mp, const struct nn_load_opts *o)
{
	struct nn_model *m = lc->m;
	const Onnx__GraphProto *g = mp->graph;
	if (!g)
		return nn_err(lc->err, lc->errlen, lc->label, NULL, NN_EFORMAT,
			      "the model has no graph");
	m->opset = -1;
	for (size_t i = 0; i < mp->n_opset_import; i++) {
		const char *d = mp->opset_import[i]->domain;
		if (!d || !*d || strcmp(d, "ai.onnx") == 0)
			m->opset = (int)mp->opset_import[i]->version;
	}
	if (m->opset < 0)
		return nn_err(lc->err, lc->errlen, lc->label, NULL, NN_EINVALID,
			      "the model imports no default-domain opset");
	if (m->opset < 7 || m->opset > 21)
		return nn_err(lc->err, lc->errlen, lc->label, NULL, NN_EUNSUPP,
			      "opset %d is not supported (7-21)", m->opset);
	/* initializers */
	for (size_t i = 0; i < g->n_initializer; i++) {
		const Onnx__TensorProto *t = g->initializer[i];
		if (!t->name || !*t->name)
			return nn_err(lc->err, lc->errlen, lc->label, NULL, NN_EINVALID,
				      "initializer %zu has no name", i);
		if (lookup(m, t->name) >= 0)
			return nn_err(lc->err, lc->errlen, lc->label, NULL, NN_EINVALID,
				      "initializer \"%s\" is defined twice", t->name);
		int v = nn_val_new(m, t->name);
		if (v < 0)
			return v;
		int rc = nn_tensor_to_val(lc, NULL, t, &m->vals[v]);
		if (rc < 0)
			return rc;
		if (m->vals[v].dtype == DT_FLOAT) {
			m->vals[v].is_param = 1;
			m->params += m->vals[v].nelem;
		}
	}
	int rc = setup_input(lc, g, o);
	if (rc < 0)
		return rc;
	/* nodes */
	if (g->n_node > 1000000)
		return nn_err(lc->err, lc->errlen, lc->label, NULL, NN_EUNSUPP, "too many nodes");
	m->nodes = calloc(g->n_node ? g->n_node : 1, sizeof *m->nodes);
	if (!m->nodes)
		return NN_ENOMEM;
	for (size_t i = 0; i < g->n_node; i++) {
		const Onnx__NodeProto *np = g->node[i];
		struct nn_node *n = &m->nodes[m->nnodes++];
		char buf[32];
		snprintf(buf, sizeof buf, "#%zu", i);
		n->name = strdup(np->name && *np->name ? np->name : buf);
		n->op_type = strdup(np->op_type ? np->op_type : "");
		if (!n->name || !n->op_type)
			return NN_ENOMEM;
		n->attrs = np;
		n->opset = m->opset;
		if ((rc = count_op(m, n->op_type)) < 0)
			return rc;
		if (np->domain && *np->domain && strcmp(np->domain, "ai.onnx") != 0)
			return nn_err(lc->err, lc->errlen, lc->label, n, NN_EUNSUPP,
				      "operator domain \"%s\" is not supported", np->domain);
		n->op = op_lookup(n->op_type);
		if (n->op == OP_UNKNOWN)
			return nn_err(lc->err, lc->errlen, lc->label, n, NN_EUNSUPP,
				      "operator is not supported");
		if (np->n_input > 64 || np->n_output > 64)
			return nn_err(lc->err, lc->errlen, lc->label, n, NN_EUNSUPP,
				      "too many inputs or outputs");
		n->nin = (int)np->n_input;
		n->nout = (int)np->n_output;
		n->in = malloc(sizeof(int) * (n->nin + 1));
		n->out = malloc(sizeof(int) * (n->nout + 1));
		if (!n->in || !n->out)
			return NN_ENOMEM;
		for (int k = 0; k < n->nout; k++) {
			const char *on = np->output[k];
			if (!on || !*on) {
				n->out[k] = -1;
				continue;
			}
			if (lookup(m, on) >= 0)
				return nn_err(lc->err, lc->errlen, lc->label, n, NN_EINVALID,
					      "output \"%s\" is already defined", on);
			int v = nn_val_new(m, on);
			if (v < 0)
				return v;
			m->vals[v].producer = (int)i;
			n->out[k] = v;
		}
	}
	for (int i = 0; i < m->nnodes; i++) {
		struct nn_node *n = &m->nodes[i];
		const Onnx__NodeProto *np = n->attrs;
		for (int k = 0; k < n->nin; k++) {
			const char *in = np->input[k];
			if (!in || !*in) {
				n->in[k] = -1;
				continue;
			}
			int v = lookup(m, in);
			if (v < 0)
				return nn_err(lc->err, lc->errlen, lc->label, n, NN_EINVALID,
					      "input \"%s\" is not defined in the graph", in);
			n->in[k] = v;
		}
	}
	if ((rc = topo_sort(lc)) < 0)
		return rc;
	/* outputs */
	if (g->n_output < 1 || g->n_output > 64)
		return nn_err(lc->err, lc->errlen, lc->label, NULL, NN_EUNSUPP,
			      "the graph has %zu outputs", g->n_output);
	m->outputs = malloc(sizeof(int) * g->n_output);
	if (!m->outputs)
		return NN_ENOMEM;
	for (size_t i = 0; i < g->n_output; i++) {
		const char *on = g->output[i]->name;
		int v = on ? lookup(m, on) : -1;
		if (v < 0)
			return nn_err(lc->err, lc->errlen, lc->label, NULL, NN_EINVALID,
				      "graph output \"%s\" is not produced by any node",
				      on ? on : "");
		m->outputs[m->noutputs++] = v;
	}
	/* fold or infer, in order */
	for (int k = 0; k < m->nnodes; k++) {
		int ni = m->order[k];
		struct nn_node *n = &m->nodes[ni];
		int allconst = 1;
		for (int j = 0; j < n->nin; j++)
			if (n->in[j] >= 0 && !m->vals[n->in[j]].is_const)
				allconst = 0;
		if (n->op == OP_SHAPE || n->op == OP_CONSTANT || (allconst && nn_fold_supported(n->op)))
			rc = nn_fold_node(lc, ni);
		else
			rc = nn_infer_node(lc, ni);
		if (rc < 0)
			return rc;
	}
	for (int i = 0; i < m->noutputs; i++) {
		struct nn_val *v = &m->vals[m->outputs[i]];
		if (v->is_const || v->dtype != DT_FLOAT || v->is_input)
			return nn_err(lc->err, lc->errlen, lc->label, NULL, NN_EUNSUPP,
				      "graph output \"%s\" is not a computed float tensor",
				      v->name);
		v->is_output = 1;
	}
	return nn_plan(lc);
}

int nn_model_load_mem(const void *buf, size_t len, const char *label,
		      const struct nn_load_opts *o, struct nn_model **out, char *err,
		      size_t errlen)
{
	*out = NULL;
	if (err && errlen)
		err[0] = 0;
	if (!label)
		label = "model";
	struct nn_loadctx lc = {.label = label, .err = err, .errlen = errlen};
	size_t cap = o && o->max_file_bytes ? o->max_file_bytes : (size_t)1 << 30;
	if (len > cap)
		return nn_err(err, errlen, label, NULL, NN_EFORMAT, "file is larger than %zu bytes",
			      cap);
	if (o && (o->max_batch < 0 || o->max_batch > 65536))
		return nn_err(err, errlen, label, NULL, NN_EARG, "max batch out of range");
	Onnx__ModelProto *mp = onnx__model_proto__unpack(NULL, len, buf);
	if (!mp)
		return nn_err(err, errlen, label, NULL, NN_EFORMAT,
			      "not a valid ONNX model (truncated or corrupt protobuf)");
	struct nn_model *m = calloc(1, sizeof *m);
	if (!m) {
		onnx__model_proto__free_unpacked(mp, NULL);
		return NN_ENOMEM;
	}
	m->max_batch = o && o->max_batch ? o->max_batch : 1;
	m->input = -1;
	lc.m = m;
	int rc = build(&lc, mp, o);
	size_t arena_cap = o && o->max_arena_bytes ? o->max_arena_bytes : (size_t)4 << 30;
	if (rc == 0 && nn_model_arena_bytes(m) > arena_cap)
		rc = nn_err(err, errlen, label, NULL, NN_EUNSUPP,
			    "needs %zu bytes of working memory (limit %zu)", nn_model_arena_bytes(m),
			    arena_cap);
	for (int i = 0; i < m->nnodes; i++)
		m->nodes[i].attrs = NULL;
	onnx__model_proto__free_unpacked(mp, NULL);
	if (rc < 0) {
		if (rc == NN_ENOMEM && err && errlen && !err[0])
			nn_err(err, errlen, label, NULL, rc, "out of memory");
		nn_model_free(m);
		return rc;
	}
	*out = m;
	return 0;
}

int nn_model_load(const char *path, const struct nn_load_opts *o, struct nn_model **out,
		  char *err, size_t errlen)
{
	*out = NULL;
	size_t cap = o && o->max_file_bytes ? o->max_file_bytes : (size_t)1 << 30;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return nn_err(err, errlen, path, NULL, NN_EIO, "cannot open: %s", strerror(errno));
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return nn_err(err, errlen, path, NULL, NN_EIO, "not a regular file");
	}
	if ((uint64_t)st.st_size > cap) {
		close(fd);
		return nn_err(err, errlen, path, NULL, NN_EFORMAT,
			      "file is larger than %zu bytes", cap);
	}
	size_t len = (size_t)st.st_size;
	uint8_t *buf = malloc(len ? len : 1);
	if (!buf) {
		close(fd);
		return nn_err(err, errlen, path, NULL, NN_ENOMEM, "out of memory");
	}
	size_t got = 0;
	while (got < len) {
		ssize_t r = read(fd, buf + got, len - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	if (got != len) {
		free(buf);
		return nn_err(err, errlen, path, NULL, NN_EIO, "short read");
	}
	int rc = nn_model_load_mem(buf, len, path, o, out, err, errlen);
	free(buf);
	return rc;
}

/* ---- introspection ---- */

int nn_model_max_batch(const struct nn_model *m) { return m->max_batch; }
int nn_model_num_outputs(const struct nn_model *m) { return m->noutputs; }
int64_t nn_model_params(const struct nn_model *m) { return m->params; }
double nn_model_flops(const struct nn_model *m) { return m->flops; }
int nn_model_exec_nodes(const struct nn_model *m) { return m->nexec; }

size_t nn_model_arena_bytes(const struct nn_model *m)
{
	return (size_t)(m->arena_floats + m->scratch_floats) * sizeof(float);
}

static void fill_info(const struct nn_val *v, struct nn_tensor_info *info)
{
	info->name = v->name;
	info->ndim = v->ndim;
	for (int i = 0; i < v->ndim; i++)
		info->dims[i] = v->dims[i];
	info->batched = v->batched;
}

int nn_model_input(const struct nn_model *m, struct nn_tensor_info *info)
{
	fill_info(&m->vals[m->input], info);
	return 0;
}

int nn_model_output(const struct nn_model *m, int i, struct nn_tensor_info *info)
{
	if (i < 0 || i >= m->noutputs)
		return NN_EARG;
	fill_info(&m->vals[m->outputs[i]], info);
	return 0;
}

int nn_model_op_count(const struct nn_model *m, int i, const char **op, int *count)
{
	if (i < 0 || i >= m->nopc)
		return -1;
	*op = m->opc[i].op;
	*count = m->opc[i].n;
	return 0;
}
