/*
 * Test helper: builds small ONNX models in memory with the protobuf-c structs of
 * src/nn/onnx.proto, so operator and malformed-model tests need no fixture files. Every
 * allocation goes on one list freed by mb_free(). Header-only (static functions).
 */
#ifndef DICOMAID_TESTS_NN_ONNX_BUILD_H
#define DICOMAID_TESTS_NN_ONNX_BUILD_H

#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nn/nn.h"
#include "nn/onnx.pb-c.h"

struct mb {
	Onnx__ModelProto m;
	Onnx__GraphProto g;
	Onnx__OperatorSetIdProto opset;
	Onnx__OperatorSetIdProto *opsets[1];
	void **allocs;
	size_t nalloc;
};

static inline void *mb_alloc(struct mb *b, size_t n)
{
	void *p = calloc(1, n ? n : 1);
	b->allocs = realloc(b->allocs, sizeof(void *) * (b->nalloc + 1));
	b->allocs[b->nalloc++] = p;
	return p;
}

static inline char *mb_str(struct mb *b, const char *s)
{
	char *p = mb_alloc(b, strlen(s) + 1);
	strcpy(p, s);
	return p;
}

/* grows a pointer array held in (*arr, *n) by one; returns the slot */
static inline void **mb_push(struct mb *b, void ***arr, size_t *n)
{
	void **na = mb_alloc(b, sizeof(void *) * (*n + 1));
	if (*n)
		memcpy(na, *arr, sizeof(void *) * *n);
	*arr = na;
	return &na[(*n)++];
}

static inline void mb_init(struct mb *b, int opset)
{
	memset(b, 0, sizeof *b);
	onnx__model_proto__init(&b->m);
	onnx__graph_proto__init(&b->g);
	onnx__operator_set_id_proto__init(&b->opset);
	b->opset.has_version = 1;
	b->opset.version = opset;
	b->opset.domain = mb_str(b, "");
	b->opsets[0] = &b->opset;
	b->m.n_opset_import = 1;
	b->m.opset_import = b->opsets;
	b->m.has_ir_version = 1;
	b->m.ir_version = 8;
	b->m.graph = &b->g;
	b->g.name = mb_str(b, "test");
}

static inline void mb_free(struct mb *b)
{
	for (size_t i = 0; i < b->nalloc; i++)
		free(b->allocs[i]);
	free(b->allocs);
	b->allocs = NULL;
	b->nalloc = 0;
}

static inline Onnx__ValueInfoProto *mb_vi(struct mb *b, const char *name, int ndim, const int64_t *dims)
{
	Onnx__ValueInfoProto *v = mb_alloc(b, sizeof *v);
	onnx__value_info_proto__init(v);
	v->name = mb_str(b, name);
	if (ndim < 0)
		return v;
	Onnx__TypeProto *t = mb_alloc(b, sizeof *t);
	onnx__type_proto__init(t);
	Onnx__TypeProto__Tensor *tt = mb_alloc(b, sizeof *tt);
	onnx__type_proto__tensor__init(tt);
	tt->has_elem_type = 1;
	tt->elem_type = 1;
	Onnx__TensorShapeProto *sh = mb_alloc(b, sizeof *sh);
	onnx__tensor_shape_proto__init(sh);
	sh->n_dim = (size_t)ndim;
	sh->dim = mb_alloc(b, sizeof(void *) * (size_t)(ndim ? ndim : 1));
	for (int i = 0; i < ndim; i++) {
		Onnx__TensorShapeProto__Dimension *d = mb_alloc(b, sizeof *d);
		onnx__tensor_shape_proto__dimension__init(d);
		if (dims[i] < 0) {
			d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
			d->dim_param = mb_str(b, "N");
		} else {
			d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
			d->dim_value = dims[i];
		}
		sh->dim[i] = d;
	}
	tt->shape = sh;
	t->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
	t->tensor_type = tt;
	v->type = t;
	return v;
}

/* input with shape dims (negative = symbolic) */
static inline void mb_input(struct mb *b, const char *name, int ndim, const int64_t *dims)
{
	*mb_push(b, (void ***)&b->g.input, &b->g.n_input) = mb_vi(b, name, ndim, dims);
}

static inline void mb_output(struct mb *b, const char *name)
{
	*mb_push(b, (void ***)&b->g.output, &b->g.n_output) = mb_vi(b, name, -1, NULL);
}

static inline Onnx__TensorProto *mb_tensor(struct mb *b, const char *name, int dtype, int ndim,
				    const int64_t *dims, const void *data, size_t bytes)
{
	Onnx__TensorProto *t = mb_alloc(b, sizeof *t);
	onnx__tensor_proto__init(t);
	t->name = mb_str(b, name);
	t->has_data_type = 1;
	t->data_type = dtype;
	t->n_dims = (size_t)ndim;
	t->dims = mb_alloc(b, sizeof(int64_t) * (size_t)(ndim ? ndim : 1));
	memcpy(t->dims, dims, sizeof(int64_t) * (size_t)ndim);
	t->has_raw_data = 1;
	t->raw_data.len = bytes;
	t->raw_data.data = mb_alloc(b, bytes);
	memcpy(t->raw_data.data, data, bytes);
	return t;
}

static inline int64_t mb_count(int ndim, const int64_t *dims)
{
	int64_t n = 1;
	for (int i = 0; i < ndim; i++)
		n *= dims[i];
	return n;
}

static inline void mb_init_f(struct mb *b, const char *name, int ndim, const int64_t *dims,
		      const float *data)
{
	*mb_push(b, (void ***)&b->g.initializer, &b->g.n_initializer) =
		mb_tensor(b, name, 1, ndim, dims, data, sizeof(float) * mb_count(ndim, dims));
}

static inline void mb_init_i(struct mb *b, const char *name, int ndim, const int64_t *dims,
		      const int64_t *data)
{
	*mb_push(b, (void ***)&b->g.initializer, &b->g.n_initializer) =
		mb_tensor(b, name, 7, ndim, dims, data, sizeof(int64_t) * mb_count(ndim, dims));
}

/* 1-D int64 initializer from a list */
static inline void mb_ints(struct mb *b, const char *name, int n, ...)
{
	int64_t v[16];
	va_list ap;
	va_start(ap, n);
	for (int i = 0; i < n; i++)
		v[i] = va_arg(ap, int64_t);
	va_end(ap);
	int64_t d[1] = {n};
	mb_init_i(b, name, 1, d, v);
}

static inline void mb_split(struct mb *b, const char *list, char ***out, size_t *n)
{
	*n = 0;
	*out = NULL;
	if (!list)
		return;
	const char *s = list;
	for (;;) {
		const char *e = strchr(s, ',');
		size_t l = e ? (size_t)(e - s) : strlen(s);
		char *x = mb_alloc(b, l + 1);
		memcpy(x, s, l);
		*mb_push(b, (void ***)out, n) = x;
		if (!e)
			break;
		s = e + 1;
	}
}

/* node op(ins) -> outs; ins/outs comma-separated ("" entries allowed for omitted inputs) */
static inline Onnx__NodeProto *mb_node(struct mb *b, const char *op, const char *name, const char *ins,
				const char *outs)
{
	Onnx__NodeProto *n = mb_alloc(b, sizeof *n);
	onnx__node_proto__init(n);
	n->op_type = mb_str(b, op);
	n->name = mb_str(b, name);
	mb_split(b, ins, &n->input, &n->n_input);
	mb_split(b, outs, &n->output, &n->n_output);
	*mb_push(b, (void ***)&b->g.node, &b->g.n_node) = n;
	return n;
}

static inline Onnx__AttributeProto *mb_attr(struct mb *b, Onnx__NodeProto *n, const char *name, int type)
{
	Onnx__AttributeProto *a = mb_alloc(b, sizeof *a);
	onnx__attribute_proto__init(a);
	a->name = mb_str(b, name);
	a->has_type = 1;
	a->type = type;
	*mb_push(b, (void ***)&n->attribute, &n->n_attribute) = a;
	return a;
}

static inline void mb_attr_i(struct mb *b, Onnx__NodeProto *n, const char *name, int64_t v)
{
	Onnx__AttributeProto *a = mb_attr(b, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
	a->has_i = 1;
	a->i = v;
}

static inline void mb_attr_f(struct mb *b, Onnx__NodeProto *n, const char *name, float v)
{
	Onnx__AttributeProto *a = mb_attr(b, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT);
	a->has_f = 1;
	a->f = v;
}

static inline void mb_attr_s(struct mb *b, Onnx__NodeProto *n, const char *name, const char *v)
{
	Onnx__AttributeProto *a = mb_attr(b, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING);
	a->has_s = 1;
	a->s.len = strlen(v);
	a->s.data = (uint8_t *)mb_str(b, v);
}

static inline void mb_attr_ints(struct mb *b, Onnx__NodeProto *n, const char *name, int cnt, ...)
{
	Onnx__AttributeProto *a = mb_attr(b, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
	a->n_ints = (size_t)cnt;
	a->ints = mb_alloc(b, sizeof(int64_t) * (size_t)(cnt ? cnt : 1));
	va_list ap;
	va_start(ap, cnt);
	for (int i = 0; i < cnt; i++)
		a->ints[i] = va_arg(ap, int64_t);
	va_end(ap);
}

/* serialises the model into a malloc'd buffer (caller frees) */
static inline uint8_t *mb_pack(struct mb *b, size_t *len)
{
	*len = onnx__model_proto__get_packed_size(&b->m);
	uint8_t *buf = malloc(*len ? *len : 1);
	onnx__model_proto__pack(&b->m, buf);
	return buf;
}

static inline int mb_load(struct mb *b, const struct nn_load_opts *o, struct nn_model **m, char *err,
		   size_t errlen)
{
	size_t len;
	uint8_t *buf = mb_pack(b, &len);
	int rc = nn_model_load_mem(buf, len, "t.onnx", o, m, err, errlen);
	free(buf);
	return rc;
}

#endif
