/*
 * dicomaid's CNN engine: loads a standard ONNX model (opset 7-21, default domain) and runs it
 * on float32 NCHW tensors with OpenBLAS. This header is the whole public interface of src/nn.
 *
 * Life cycle: nn_model_load() parses and checks the file, folds the int64 shape subgraphs that
 * exporters emit, infers every tensor's shape for the input shape it is given, fuses
 * BatchNormalization and activations into convolutions and plans one scratch arena by tensor
 * liveness. The resulting struct nn_model is immutable and may be shared by any number of
 * threads. Each thread creates its own struct nn_ctx (the arena, allocated once) and calls
 * nn_run() on it as often as it likes; nn_run() allocates nothing.
 *
 * Batch: the model's first input is NCHW-like with the batch as dimension 0. A maximum batch is
 * fixed at load (nn_load_opts.max_batch); every run picks a batch 1..max. Shapes reported by the
 * introspection calls are per item (dimension 0 equal to 1 for tensors that carry the batch).
 * Items are independent: each is computed as if the model ran at batch 1, so a file exported
 * at batch 1 runs at any batch. Operators that move or mix the batch dimension (Transpose of
 * axis 0, Concat/Softmax along it, ...) are refused at load when max_batch > 1.
 * Exception: a model whose input declares a fixed batch D > 1 (exported without a dynamic batch
 * axis) bakes D into its shape constants; it is loaded statically, nothing is "batched",
 * nn_model_max_batch() is D and every run must pass batch == D.
 *
 * Execution: a batch of one runs layer by layer, the context's threads (nn_ctx_set_threads)
 * sharing each convolution; a batch of at least as many items as threads runs item by item,
 * each thread taking whole items through the whole graph in its own one-item arena (no
 * per-layer synchronisation, activations stay in that core's caches). Convolutions use an
 * AVX2/FMA kernel when the CPU has one (environment DICOMAID_NN_NO_FAST=1 forces the portable
 * im2col + OpenBLAS path); both are tested against the same reference loops.
 *
 * Errors: functions return 0 or a negative NN_E* code; loaders also write one line,
 * `LABEL: node "NAME" (OP): reason` or `LABEL: reason`, into err (truncated to errlen).
 * The caller sets OpenBLAS's thread count (openblas_set_num_threads) itself.
 */
#ifndef DICOMAID_NN_NN_H
#define DICOMAID_NN_NN_H

#include <stddef.h>
#include <stdint.h>

#define NN_MAX_DIMS 8

enum nn_error {
	NN_OK = 0,
	NN_EIO = -1,      /* file cannot be read */
	NN_EFORMAT = -2,  /* not a well-formed ONNX protobuf, or too large */
	NN_EINVALID = -3, /* graph breaks the ONNX rules (types, shapes, cycles, sizes) */
	NN_EUNSUPP = -4,  /* valid ONNX the engine does not implement */
	NN_ENOMEM = -5,
	NN_EARG = -6,     /* bad argument to an API call */
};

/* Load options; all-zero is a valid default (max batch 1, declared input shape). */
struct nn_load_opts {
	int max_batch;                    /* largest batch nn_run accepts; 0 means 1 */
	int input_ndim;                   /* 0: use the input shape declared in the model */
	int64_t input_shape[NN_MAX_DIMS]; /* full input shape when input_ndim > 0; dim 0
					     (the batch) is ignored unless the model fixes
					     it, then it must match */
	size_t max_file_bytes;            /* 0 means 1 GiB */
	size_t max_arena_bytes;           /* per-context working memory at max batch and one
					     thread; 0 means 4 GiB */
};

struct nn_model;
struct nn_ctx;

/* Shape and name of a graph input or output. name is borrowed from the model. */
struct nn_tensor_info {
	const char *name;
	int ndim;
	int64_t dims[NN_MAX_DIMS]; /* per item: dims[0] == 1 when batched */
	int batched;               /* 1 when dimension 0 is the run-time batch */
};

/*
 * Loads the ONNX file at path. On success *out owns the model (free with nn_model_free). On
 * failure *out is NULL, err holds one line starting with path, and the return is negative.
 * o may be NULL. A file larger than o->max_file_bytes is refused before it is read.
 */
int nn_model_load(const char *path, const struct nn_load_opts *o, struct nn_model **out,
		  char *err, size_t errlen);

/* Same from a buffer (borrowed, only read during the call); label prefixes error lines. */
int nn_model_load_mem(const void *buf, size_t len, const char *label,
		      const struct nn_load_opts *o, struct nn_model **out, char *err,
		      size_t errlen);

void nn_model_free(struct nn_model *m);

/* Introspection. All returned strings are borrowed from m. */
int nn_model_max_batch(const struct nn_model *m);
int nn_model_num_outputs(const struct nn_model *m);
int nn_model_input(const struct nn_model *m, struct nn_tensor_info *info);
int nn_model_output(const struct nn_model *m, int i, struct nn_tensor_info *info);
/* Number of float parameters in the file's initializers. */
int64_t nn_model_params(const struct nn_model *m);
/* Floating-point operations per input item (2 per multiply-add of Conv, ConvTranspose,
 * Gemm and MatMul). */
double nn_model_flops(const struct nn_model *m);
/* Operator histogram of the file's graph: entry i (0..) gives an op type and how many
 * nodes of that type the file has; returns -1 past the end. */
int nn_model_op_count(const struct nn_model *m, int i, const char **op, int *count);
/* Nodes executed per run after folding and fusion. */
int nn_model_exec_nodes(const struct nn_model *m);
/* Bytes of the per-context arena (activations + scratch) at the maximum batch. */
size_t nn_model_arena_bytes(const struct nn_model *m);

/* A per-thread execution context; borrows m, which must outlive it. NULL on ENOMEM. */
struct nn_ctx *nn_ctx_new(const struct nn_model *m);
void nn_ctx_free(struct nn_ctx *c);

/*
 * Sets the number of threads (1..64) c uses for the engine's own convolution kernels; the
 * caller's thread is one of them. Default 1. OpenBLAS's own count is set separately
 * (openblas_set_num_threads). Returns 0, NN_EARG or NN_ENOMEM.
 */
int nn_ctx_set_threads(struct nn_ctx *c, int threads);

/*
 * Runs the model on batch items (1..max_batch) of input laid out as the input's per-item
 * shape times batch, C order. outputs (array of nn_model_num_outputs() pointers) receives
 * pointers into c, valid until the next nn_run or nn_ctx_free on c; batched outputs hold
 * batch items. Returns 0 or NN_EARG.
 */
int nn_run(struct nn_ctx *c, int batch, const float *input, float **outputs);

/*
 * Profiling: when acc (borrowed, nn_model_exec_nodes() doubles) is set, each nn_run adds the
 * seconds spent in executed node i to acc[i]. NULL turns it off. nn_model_exec_name gives
 * node i's name and op type (borrowed).
 */
void nn_ctx_set_profile(struct nn_ctx *c, double *acc);
void nn_model_exec_name(const struct nn_model *m, int i, const char **name, const char **op);

#endif
