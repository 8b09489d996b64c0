/*
 * Malformed and hostile models: every case must fail the load with one clean line
 * `t.onnx: ...` (naming the node and op where there is one) and never crash or allocate
 * without bound. Also the .npy codec's bounds checks.
 */
#include "config.h"

#include <unistd.h>
#include <criterion/criterion.h>
#include <stdio.h>

#include "nn/nn.h"
#include "nn/npy.h"
#include "onnx_build.h"

#define I64(x) ((int64_t)(x))

/* a valid small model: Conv(3x3) -> Relu -> output */
static void good_model(struct mb *b)
{
	mb_init(b, 13);
	int64_t in[4] = {-1, 2, 5, 5}, wd[4] = {3, 2, 3, 3};
	float w[54];
	for (int i = 0; i < 54; i++)
		w[i] = (float)i / 54;
	mb_input(b, "x", 4, in);
	mb_init_f(b, "w", 4, wd, w);
	mb_node(b, "Conv", "conv1", "x,w", "c");
	mb_node(b, "Relu", "relu1", "c", "y");
	mb_output(b, "y");
}

static void expect_fail(struct mb *b, const struct nn_load_opts *o, const char *must1,
			const char *must2)
{
	struct nn_model *m = (struct nn_model *)1;
	char err[512];
	int rc = mb_load(b, o, &m, err, sizeof err);
	cr_expect_lt(rc, 0, "load should fail (%s)", must1);
	cr_expect_null(m);
	cr_expect(strncmp(err, "t.onnx: ", 8) == 0, "error line: %s", err);
	cr_expect(strchr(err, '\n') == NULL, "one line: %s", err);
	if (must1)
		cr_expect(strstr(err, must1) != NULL, "'%s' not in: %s", must1, err);
	if (must2)
		cr_expect(strstr(err, must2) != NULL, "'%s' not in: %s", must2, err);
}

Test(load, good_model_loads)
{
	struct mb b;
	good_model(&b);
	struct nn_model *m;
	char err[256];
	cr_assert_eq(mb_load(&b, NULL, &m, err, sizeof err), 0, "%s", err);
	struct nn_tensor_info t;
	nn_model_output(m, 0, &t);
	cr_expect_eq(t.ndim, 4);
	cr_expect_eq(t.dims[1], 3);
	cr_expect_eq(t.dims[2], 3);
	cr_expect_eq(nn_model_params(m), 54);
	cr_expect_eq(nn_model_flops(m), 2.0 * 3 * 2 * 9 * 9);
	nn_model_free(m);
	mb_free(&b);
}

Test(load, every_truncation_fails_cleanly)
{
	struct mb b;
	good_model(&b);
	size_t len;
	uint8_t *buf = mb_pack(&b, &len);
	for (size_t cut = 0; cut < len; cut++) {
		uint8_t *copy = malloc(cut ? cut : 1); /* exact size so ASan sees overreads */
		memcpy(copy, buf, cut);
		struct nn_model *m;
		char err[512];
		int rc = nn_model_load_mem(copy, cut, "t.onnx", NULL, &m, err, sizeof err);
		cr_expect_lt(rc, 0, "prefix of %zu/%zu bytes loaded", cut, len);
		cr_expect(strncmp(err, "t.onnx: ", 8) == 0, "error line: %s", err);
		free(copy);
	}
	free(buf);
	mb_free(&b);
}

Test(load, garbage_bytes)
{
	uint8_t junk[4096];
	uint32_t s = 7;
	for (int trial = 0; trial < 200; trial++) {
		size_t n = 1 + (size_t)trial * 20;
		for (size_t i = 0; i < n; i++) {
			s = s * 1103515245u + 12345u;
			junk[i] = (uint8_t)(s >> 16);
		}
		struct nn_model *m;
		char err[512];
		int rc = nn_model_load_mem(junk, n, "t.onnx", NULL, &m, err, sizeof err);
		cr_expect_lt(rc, 0);
		cr_expect_null(m);
	}
}

Test(load, missing_file)
{
	struct nn_model *m;
	char err[512];
	cr_expect_eq(nn_model_load("/nonexistent/x.onnx", NULL, &m, err, sizeof err), NN_EIO);
	cr_expect(strstr(err, "/nonexistent/x.onnx: ") == err, "%s", err);
}

Test(load, file_size_cap)
{
	struct mb b;
	good_model(&b);
	size_t len;
	uint8_t *buf = mb_pack(&b, &len);
	struct nn_load_opts o = {.max_file_bytes = len - 1};
	struct nn_model *m;
	char err[256];
	cr_expect_eq(nn_model_load_mem(buf, len, "t.onnx", &o, &m, err, sizeof err), NN_EFORMAT);
	free(buf);
	mb_free(&b);
}

Test(load, wrong_initializer_size)
{
	struct mb b;
	good_model(&b);
	b.g.initializer[0]->raw_data.len -= 4;
	expect_fail(&b, NULL, "\"w\"", "54");
	mb_free(&b);
}

Test(load, huge_initializer_dims_do_not_allocate)
{
	struct mb b;
	good_model(&b);
	int64_t d[3] = {I64(1) << 20, I64(1) << 20, I64(1) << 20};
	float f = 1;
	int64_t one[1] = {1};
	mb_init_f(&b, "giant", 1, one, &f);
	Onnx__TensorProto *t = b.g.initializer[b.g.n_initializer - 1];
	t->n_dims = 3;
	t->dims = d;
	expect_fail(&b, NULL, "giant", NULL);
	t->n_dims = 0; /* d is on the stack: do not let mb_free see it */
	t->dims = NULL;
	mb_free(&b);
}

Test(load, negative_dims)
{
	struct mb b;
	good_model(&b);
	b.g.initializer[0]->dims[0] = -3;
	expect_fail(&b, NULL, "\"w\"", NULL);
	mb_free(&b);
}

Test(load, cycle)
{
	struct mb b;
	mb_init(&b, 13);
	int64_t in[2] = {1, 4};
	mb_input(&b, "x", 2, in);
	mb_node(&b, "Add", "a", "x,q", "p");
	mb_node(&b, "Relu", "loop", "p", "q");
	mb_output(&b, "q");
	expect_fail(&b, NULL, "cycle", NULL);
	mb_free(&b);
}

Test(load, unknown_op)
{
	struct mb b;
	good_model(&b);
	b.g.node[1]->op_type = mb_str(&b, "FooBar");
	expect_fail(&b, NULL, "node \"relu1\" (FooBar)", "not supported");
	mb_free(&b);
}

Test(load, foreign_domain)
{
	struct mb b;
	good_model(&b);
	b.g.node[1]->domain = mb_str(&b, "com.microsoft");
	expect_fail(&b, NULL, "relu1", "com.microsoft");
	mb_free(&b);
}

Test(load, undefined_input)
{
	struct mb b;
	good_model(&b);
	b.g.node[1]->input[0] = mb_str(&b, "nowhere");
	expect_fail(&b, NULL, "relu1", "nowhere");
	mb_free(&b);
}

Test(load, duplicate_output)
{
	struct mb b;
	good_model(&b);
	b.g.node[1]->output[0] = mb_str(&b, "c");
	expect_fail(&b, NULL, "relu1", "already defined");
	mb_free(&b);
}

Test(load, conv_channel_mismatch)
{
	struct mb b;
	good_model(&b);
	b.g.input[0]->type->tensor_type->shape->dim[1]->dim_value = 3;
	expect_fail(&b, NULL, "node \"conv1\" (Conv)", "channels");
	mb_free(&b);
}

Test(load, broadcast_mismatch)
{
	struct mb b;
	mb_init(&b, 13);
	int64_t in[4] = {1, 3, 4, 4}, kd[1] = {5};
	float k[5] = {0};
	mb_input(&b, "x", 4, in);
	mb_init_f(&b, "k", 1, kd, k);
	mb_node(&b, "Add", "add_bad", "x,k", "y");
	mb_output(&b, "y");
	expect_fail(&b, NULL, "node \"add_bad\" (Add)", "broadcast");
	mb_free(&b);
}

Test(load, reshape_count)
{
	struct mb b;
	mb_init(&b, 13);
	int64_t in[4] = {1, 3, 4, 4};
	mb_input(&b, "x", 4, in);
	mb_ints(&b, "shape", 2, I64(5), I64(7));
	mb_node(&b, "Reshape", "rs", "x,shape", "y");
	mb_output(&b, "y");
	expect_fail(&b, NULL, "node \"rs\" (Reshape)", NULL);
	mb_free(&b);
}

Test(load, constant_of_shape_absurd)
{
	struct mb b;
	mb_init(&b, 13);
	int64_t in[2] = {1, 4};
	mb_input(&b, "x", 2, in);
	mb_ints(&b, "shape", 3, I64(100000), I64(100000), I64(100000));
	mb_node(&b, "ConstantOfShape", "cos", "shape", "big");
	mb_node(&b, "Add", "add", "x,big", "y");
	mb_output(&b, "y");
	expect_fail(&b, NULL, "node \"cos\" (ConstantOfShape)", "too large");
	mb_free(&b);
}

Test(load, zero_stride)
{
	struct mb b;
	good_model(&b);
	mb_attr_ints(&b, b.g.node[0], "strides", 2, I64(0), I64(1));
	expect_fail(&b, NULL, "node \"conv1\" (Conv)", "stride");
	mb_free(&b);
}

Test(load, kernel_larger_than_input)
{
	struct mb b;
	good_model(&b);
	b.g.input[0]->type->tensor_type->shape->dim[2]->dim_value = 2;
	expect_fail(&b, NULL, "conv1", NULL);
	mb_free(&b);
}

Test(load, opset_out_of_range)
{
	struct mb b;
	good_model(&b);
	b.opset.version = 3;
	expect_fail(&b, NULL, "opset 3", NULL);
	mb_free(&b);
}

Test(load, two_inputs_unsupported)
{
	struct mb b;
	good_model(&b);
	int64_t d[2] = {1, 2};
	mb_input(&b, "x2", 2, d);
	expect_fail(&b, NULL, "inputs", NULL);
	mb_free(&b);
}

Test(load, output_not_produced)
{
	struct mb b;
	good_model(&b);
	mb_output(&b, "ghost");
	expect_fail(&b, NULL, "ghost", NULL);
	mb_free(&b);
}

Test(load, symbolic_dim_needs_shape)
{
	struct mb b;
	good_model(&b);
	b.g.input[0]->type->tensor_type->shape->dim[2]->value_case =
		ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
	b.g.input[0]->type->tensor_type->shape->dim[2]->dim_param = mb_str(&b, "H");
	expect_fail(&b, NULL, "symbolic", NULL);
	struct nn_load_opts o = {.input_ndim = 4, .input_shape = {1, 2, 7, 5}};
	struct nn_model *m;
	char err[256];
	cr_expect_eq(mb_load(&b, &o, &m, err, sizeof err), 0, "%s", err);
	struct nn_tensor_info t;
	nn_model_output(m, 0, &t);
	cr_expect_eq(t.dims[2], 5);
	nn_model_free(m);
	mb_free(&b);
}

Test(load, per_item_reshape_and_batch_axis_moves)
{
	/* Items are independent: Reshape to [1, 1, -1] acts per item; moving the batch axis is refused */
	struct mb b;
	mb_init(&b, 13);
	int64_t in[3] = {-1, 2, 3};
	mb_input(&b, "x", 3, in);
	mb_ints(&b, "shape", 3, I64(1), I64(1), I64(-1));
	mb_node(&b, "Reshape", "rs", "x,shape", "y");
	mb_output(&b, "y");
	struct nn_load_opts o = {.max_batch = 1};
	struct nn_model *m;
	char err[256];
	cr_expect_eq(mb_load(&b, &o, &m, err, sizeof err), 0, "%s", err);
	nn_model_free(m);
	o.max_batch = 2;
	cr_expect_eq(mb_load(&b, &o, &m, err, sizeof err), 0,
		     "[1,1,6] per item keeps the batch leading: %s", err);
	nn_model_free(m);
	/* Transpose moving the batch axis is refused when batching */
	struct mb b2;
	mb_init(&b2, 13);
	mb_input(&b2, "x", 3, in);
	Onnx__NodeProto *n = mb_node(&b2, "Transpose", "tr", "x", "y");
	mb_attr_ints(&b2, n, "perm", 3, I64(1), I64(0), I64(2));
	mb_output(&b2, "y");
	expect_fail(&b2, &o, "node \"tr\" (Transpose)", "batch");
	mb_free(&b2);
	mb_free(&b);
}

/* ---------------- npy ---------------- */

Test(npy, roundtrip_and_hostile_headers)
{
	char path[] = "/tmp/nn-npy-XXXXXX";
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	close(fd);
	float data[6] = {1, 2, 3, 4, 5, 6.5f};
	int64_t dims[2] = {2, 3};
	cr_assert_eq(npy_write(path, data, dims, 2), 0);
	float *back;
	int64_t bd[NPY_MAX_DIMS];
	int nd;
	char err[128];
	cr_assert_eq(npy_read(path, 1 << 20, &back, bd, &nd, err, sizeof err), 0, "%s", err);
	cr_expect_eq(nd, 2);
	cr_expect_eq(bd[0], 2);
	cr_expect_eq(bd[1], 3);
	cr_expect_eq(memcmp(back, data, sizeof data), 0);
	free(back);
	FILE *f = fopen(path, "rb");
	uint8_t buf[256];
	size_t len = fread(buf, 1, sizeof buf, f);
	fclose(f);
	unlink(path);
	const uint8_t *p;
	/* every truncation fails */
	for (size_t cut = 0; cut < len; cut++)
		cr_expect_lt(npy_parse(buf, cut, &p, bd, &nd, err, sizeof err), 0);
	cr_expect_eq(npy_parse(buf, len, &p, bd, &nd, err, sizeof err), 0);
	/* header length pointing past the end */
	uint8_t bad[256];
	memcpy(bad, buf, len);
	bad[8] = 0xff;
	bad[9] = 0xff;
	cr_expect_lt(npy_parse(bad, len, &p, bd, &nd, err, sizeof err), 0);
	/* wrong dtype */
	memcpy(bad, buf, len);
	char *d = memmem(bad, len, "<f4", 3);
	cr_assert_not_null(d);
	d[1] = 'f';
	d[2] = '8';
	cr_expect_lt(npy_parse(bad, len, &p, bd, &nd, err, sizeof err), 0);
	/* shape promising more data than present */
	memcpy(bad, buf, len);
	char *s = memmem(bad, len, "(2, 3)", 6);
	cr_assert_not_null(s);
	s[1] = '9';
	cr_expect_lt(npy_parse(bad, len, &p, bd, &nd, err, sizeof err), 0);
}

/* random byte mutations of a valid model: each load either succeeds (and then runs) or
 * fails with a well-formed error line; never crashes (run under ASan in CI) */
Test(load, mutated_models)
{
	struct mb b;
	good_model(&b);
	int64_t kd[1] = {3};
	float k[3] = {0.5f, -1, 2};
	mb_init_f(&b, "k", 1, kd, k);
	mb_ints(&b, "pads", 8, I64(0), I64(0), I64(1), I64(1), I64(0), I64(0), I64(1), I64(1));
	mb_node(&b, "Pad", "pad", "y,pads", "yp");
	Onnx__NodeProto *n = mb_node(&b, "MaxPool", "mp", "yp", "p");
	mb_attr_ints(&b, n, "kernel_shape", 2, I64(2), I64(2));
	b.g.output[0]->name = mb_str(&b, "p");
	size_t len;
	uint8_t *orig = mb_pack(&b, &len);
	uint8_t *buf = malloc(len);
	uint32_t s = 99;
	int loaded = 0;
	for (int it = 0; it < 3000; it++) {
		memcpy(buf, orig, len);
		int flips = 1 + it % 4;
		for (int f = 0; f < flips; f++) {
			s = s * 1103515245u + 12345u;
			size_t pos = (s >> 8) % len;
			s = s * 1103515245u + 12345u;
			buf[pos] = (it & 1) ? (uint8_t)(buf[pos] ^ (1u << ((s >> 9) & 7))) : (uint8_t)(s >> 16);
		}
		struct nn_model *m;
		char err[512];
		struct nn_load_opts o = {.max_batch = 2};
		int rc = nn_model_load_mem(buf, len, "t.onnx", &o, &m, err, sizeof err);
		if (rc < 0) {
			cr_assert(strncmp(err, "t.onnx: ", 8) == 0, "bad error line: %s", err);
			continue;
		}
		loaded++;
		struct nn_tensor_info t;
		nn_model_input(m, &t);
		/* batched input: 2 items; a fixed batch D: exactly D */
		int batch = t.batched ? 2 : nn_model_max_batch(m);
		int64_t total = t.batched ? 2 : 1;
		for (int d = t.batched ? 1 : 0; d < t.ndim; d++)
			total *= t.dims[d];
		struct nn_ctx *c = nn_ctx_new(m);
		if (c && total < (1 << 22)) {
			float *in = calloc((size_t)total, sizeof(float));
			float *outs[64];
			cr_expect_eq(nn_run(c, batch, in, outs), 0);
			free(in);
		}
		nn_ctx_free(c);
		nn_model_free(m);
	}
	cr_expect_gt(loaded, 0, "some mutations (e.g. in weights) must still load");
	free(buf);
	free(orig);
	mb_free(&b);
}

Test(load, working_memory_cap)
{
	struct mb b;
	good_model(&b);
	struct nn_load_opts o = {.max_batch = 1000, .max_arena_bytes = 100000};
	expect_fail(&b, &o, "working memory", NULL);
	o.max_batch = 1;
	struct nn_model *m;
	char err[256];
	cr_expect_eq(mb_load(&b, &o, &m, err, sizeof err), 0, "%s", err);
	nn_model_free(m);
	mb_free(&b);
}
