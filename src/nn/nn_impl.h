/*
 * Internal representation of a loaded model, shared by the loader (load.c), the load-time
 * constant evaluator (fold.c), shape inference (shape.c), the planner (plan.c), the kernels
 * (kernels.c) and the executor (run.c). Nothing here is visible outside src/nn.
 *
 * The graph is kept in SSA form: values (tensors) and nodes that name their input and output
 * values by index. Shapes are per item: a "batched" value carries the run-time batch in
 * dimension 0 and has dims[0] == 1 here; at run time its dimension 0 is the batch.
 */
#ifndef DICOMAID_NN_IMPL_H
#define DICOMAID_NN_IMPL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "nn/nn.h"

/* ONNX TensorProto.DataType codes the engine handles. */
enum { DT_FLOAT = 1, DT_INT32 = 6, DT_INT64 = 7, DT_BOOL = 9, DT_DOUBLE = 11 };

/* Largest constant (elements) a load-time fold may produce: 16 Mi elements (64 MiB as
 * float, 128 MiB as int64) holds any shape computation and any folded activation-sized
 * constant of the models we run, and keeps a hostile few-kB file from asking for GiBs. */
#define NN_MAX_CONST_ELEMS ((int64_t)1 << 24)
/* Largest activation. */
#define NN_MAX_TENSOR_ELEMS ((int64_t)1 << 31)

struct nn_val {
	char *name;     /* owned */
	int dtype;      /* DT_FLOAT or DT_INT64 (bools folded as int64) */
	int known;      /* shape known (set by inference) */
	int ndim;
	int64_t dims[NN_MAX_DIMS];
	int64_t nelem;  /* per item */
	int batched;
	int is_const;   /* data is in f or i, fixed at load */
	float *f;       /* owned; DT_FLOAT constants */
	int64_t *i;     /* owned; DT_INT64 constants */
	int producer;   /* node index, -1 for inputs and initializers */
	int is_input;
	int is_output;
	int nuses;      /* consumers among live nodes */
	int first, last; /* exec steps of definition and last use (plan) */
	int planned;    /* lives in the arena */
	int64_t off;    /* arena offset in floats at the maximum batch, -1 when not planned */
	int64_t size;   /* arena floats at max batch */
	int64_t off1, size1; /* the same in the one-item arena */
	int is_param;   /* float initializer from the file */
};

enum act { ACT_NONE, ACT_RELU, ACT_LEAKY, ACT_SIGMOID, ACT_TANH, ACT_CLIP, ACT_HSWISH,
	   ACT_HSIGMOID };

enum op {
	OP_UNKNOWN = 0,
	OP_CONV, OP_CONVT, OP_BN, OP_RELU, OP_LEAKY, OP_SIGMOID, OP_TANH, OP_CLIP, OP_HSWISH,
	OP_HSIGMOID, OP_SOFTMAX, OP_MAXPOOL, OP_AVGPOOL, OP_GAP, OP_GMP, OP_ADD, OP_SUB,
	OP_MUL, OP_DIV, OP_CONCAT, OP_RESIZE, OP_UPSAMPLE, OP_FLATTEN, OP_RESHAPE,
	OP_TRANSPOSE, OP_SQUEEZE, OP_UNSQUEEZE, OP_GEMM, OP_MATMUL, OP_IDENTITY, OP_CONSTANT,
	OP_PAD, OP_SLICE, OP_DROPOUT,
	/* load-time (constant) ops */
	OP_SHAPE, OP_GATHER, OP_CAST, OP_CONSTOFSHAPE, OP_RANGE, OP_EXPAND, OP_FLOOR, OP_CEIL,
	OP_NEG, OP_SQRT, OP_EQUAL, OP_WHERE, OP_LESS, OP_GREATER, OP_NOT, OP_MIN, OP_MAX,
	OP_ABS, OP_POW, OP_RECIPROCAL, OP_EXP, OP_SPLIT,
	OP_COUNT
};

/* Parsed parameters of a runtime node (only the fields its op uses are set). */
struct nn_params {
	/* Conv / ConvTranspose / pooling: 2-D only */
	int kh, kw, sh, sw, dh, dw;
	int pt, pl, pb, pr;     /* pads top, left, bottom, right */
	int group;
	int oph, opw;           /* ConvTranspose output_padding */
	int ceil_mode, count_include_pad;
	/* fused or standalone activation */
	int act;
	float a0, a1;           /* leaky alpha; clip min/max; hardsigmoid alpha/beta */
	/* BN (standalone): per-channel scale and shift, owned */
	float *scale, *shift;
	/* Softmax, Concat, Flatten */
	int axis;
	int axis_len;           /* softmax: elements reduced */
	int legacy;             /* softmax < 13: flatten from axis */
	/* Transpose */
	int perm[NN_MAX_DIMS];
	/* Resize */
	int linear;             /* 0 nearest, 1 (bi)linear */
	int ctm;                /* coordinate transformation mode */
	int nearest_mode;
	float rs_h, rs_w;       /* scales used in the coordinate transform */
	/* Gemm */
	int trans_a, trans_b;
	float alpha, beta;
	/* Slice / Pad: per-dimension start/step (slice) or begin pads (pad) */
	int64_t start[NN_MAX_DIMS], step[NN_MAX_DIMS];
	int64_t pad_end[NN_MAX_DIMS];
	int padmode;            /* 0 constant, 1 reflect, 2 edge */
	float padval;
	/* Conv / ConvTranspose: owned copies of the weights (BN folded in) and bias (M) */
	float *wt, *bias;
	/* Conv: input index of a residual added after bias, before act; -1 none */
	int sum_in;
	int sum_fh, sum_fw;     /* > 0: the summand is nearest-upsampled by these factors */
	/* Resize: integer nearest replication factors (0 when not such a resize) */
	int rep_h, rep_w;
	/* fast path (conv_fast.c): phase-split padded input, offset table, packed panels */
	int fast, direct_in, tile_outer;
	int hq, wq, oh, ow, mpad, kdim, maxb;
	int64_t nq, ldy, slack;
	int *koff;              /* owned */
	float *apack;           /* owned */
	/* Winograd F(2x2, 3x3) (conv_fast.c): apack holds the transformed weights, koff the
	 * channel offsets of one transformed-input block; ntx x nty output tiles per item,
	 * wrows tile rows per block, ldv the block's row stride */
	int wino, ntx, nty, wrows;
	int64_t ldv;
	/* statistics */
	double flops;
};

struct nn_node {
	char *name;      /* owned; generated if the file has none */
	char *op_type;   /* owned */
	enum op op;
	int nin, nout;
	int *in;         /* owned; value index or -1 for an omitted optional input */
	int *out;        /* owned */
	int opset;
	int dead;        /* folded, fused or unused: not executed */
	struct nn_params p;
	const void *attrs; /* borrowed Onnx__NodeProto during load only */
};

struct nn_opcount {
	char *op;
	int n;
};

struct nn_model {
	int nvals, cap_vals;
	struct nn_val *vals;
	int nnodes;
	struct nn_node *nodes;
	int *order;      /* topological order of all nodes */
	int nexec;
	int *exec;       /* live runtime nodes in order */
	int input;       /* value index of the graph input */
	int noutputs;
	int *outputs;    /* value indices */
	int max_batch;
	int static_batch; /* > 0: the model has a fixed batch (nothing is batched) */
	int item_ok;      /* input and every output batched: runs may go item by item */
	int opset;
	int64_t params;
	double flops;
	int nopc;
	struct nn_opcount *opc;
	int64_t arena_floats;   /* activations at max batch */
	int64_t arena1_floats;  /* activations of one item (item-by-item execution) */
	int64_t scratch_floats; /* im2col etc. */
	/* name hash (open addressing over vals) */
	int hcap;
	int *hash;
};

struct nn_ctx {
	const struct nn_model *m;
	float *arena;
	float *scratch;
	float **ptr;     /* per value: data pointer for this run */
	double *prof;    /* borrowed; per exec step seconds, or NULL */
	struct nn_pool *pool; /* owned; NULL when single-threaded */
	int threads;
	float *arena1;   /* owned; threads one-item arenas */
	float **ptr1;    /* owned; threads x nvals pointer tables into arena1 */
};

/* load.c helpers used by the other load stages */
int nn_err(char *err, size_t errlen, const char *label, const struct nn_node *n, int code,
	   const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* shape.c: infer output shapes / parse params of node ni; may fold it to constants. */
struct nn_loadctx {
	struct nn_model *m;
	const char *label;
	char *err;
	size_t errlen;
};
int nn_infer_node(struct nn_loadctx *lc, int ni);
int nn_fold_node(struct nn_loadctx *lc, int ni);     /* fold.c */
int nn_fold_supported(enum op op);                  /* fold.c */
int nn_plan(struct nn_loadctx *lc);                  /* plan.c */

/* attribute access (load.c), on the node's borrowed NodeProto */
int nn_attr_int(const struct nn_node *n, const char *name, int64_t def, int64_t *out);
int nn_attr_float(const struct nn_node *n, const char *name, float def, float *out);
/* returns count (<= max) or -1 when absent; -2 when more than max */
int nn_attr_ints(const struct nn_node *n, const char *name, int64_t *out, int max);
int nn_attr_floats(const struct nn_node *n, const char *name, float *out, int max);
/* string attribute into buf; returns 1 when present, 0 when absent */
int nn_attr_str(const struct nn_node *n, const char *name, char *buf, size_t len);
const void *nn_attr_tensor(const struct nn_node *n, const char *name);
int nn_tensor_to_val(struct nn_loadctx *lc, const struct nn_node *n, const void *tensor,
		     struct nn_val *v);

int nn_val_new(struct nn_model *m, const char *name);
int64_t nn_shape_elems(const int64_t *dims, int ndim);

/* kernels.c */
void nn_act_apply(int act, float a0, float a1, float *x, int64_t n);
void nn_conv(const struct nn_params *p, int n, int c, int h, int w, const float *x,
	     int m, int oh, int ow, const float *wt, const float *bias, const float *sum,
	     float *y, float *scratch);
void nn_convt(const struct nn_params *p, int n, int c, int h, int w, const float *x,
	      int m, int oh, int ow, const float *wt, const float *bias, float *y,
	      float *scratch);
void nn_pool(const struct nn_params *p, int maxpool, int nc, int h, int w, const float *x,
	     int oh, int ow, float *y);
void nn_resize(const struct nn_params *p, int nc, int h, int w, const float *x, int oh,
	       int ow, float *y);
struct nn_pool;
struct nn_pool *nn_pool_new(int nthreads);
void nn_pool_free(struct nn_pool *p);
int nn_pool_threads(const struct nn_pool *p);
void nn_pool_run(struct nn_pool *p, void (*fn)(void *, int, int), void *arg, int ntasks);
int nn_fast_available(void);
int nn_fast_setup(struct nn_params *p, int c, int h, int w, int m, int oh, int ow, int maxb);
int64_t nn_fast_scratch(const struct nn_params *p);
void nn_fast_conv(const struct nn_params *p, int n, int c, int h, int w, const float *x, int m,
		  const float *bias, const float *sum, float *y, float *scratch,
		  int64_t scratch_stride, struct nn_pool *pool);
void nn_resize_check_replicate(struct nn_params *p, int h, int w, int oh, int ow);
int64_t nn_conv_scratch(const struct nn_params *p, int c, int m, int oh, int ow, int h,
			int w, int transposed);

#endif
