/*
 * libFuzzer target for the ONNX loader (src/nn/load.c and what it runs at load time: protobuf-c
 * unpacking, validation, shape inference, folding and planning). The input is the model file.
 * Properties: a load either succeeds with a model whose introspection works, or fails with a
 * NULL model and a one-line error. Build: `make fuzz` (tests/fuzz/local.mk).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/nn.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	struct nn_model *m = (struct nn_model *)1;
	struct nn_tensor_info info;
	char err[512];
	const char *op;
	int count;

	err[0] = '\0';
	if (nn_model_load_mem(d, n, "fuzz", NULL, &m, err, sizeof err) != 0) {
		if (m != NULL || err[0] == '\0' || strchr(err, '\n') != NULL)
			abort();
		return 0;
	}
	if (m == NULL)
		abort();
	if (nn_model_input(m, &info) != 0 || info.ndim < 1 || info.ndim > NN_MAX_DIMS)
		abort();
	for (int i = 0; i < nn_model_num_outputs(m); i++)
		if (nn_model_output(m, i, &info) != 0)
			abort();
	for (int i = 0; nn_model_op_count(m, i, &op, &count) == 0; i++)
		if (op == NULL || count <= 0)
			abort();
	(void)nn_model_max_batch(m);
	(void)nn_model_params(m);
	(void)nn_model_flops(m);
	(void)nn_model_exec_nodes(m);
	(void)nn_model_arena_bytes(m);
	nn_model_free(m);
	return 0;
}
