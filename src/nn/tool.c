/*
 * dicomaid-nn: the engine's command-line tool for model authors.
 *   dicomaid-nn info MODEL.onnx            inputs, outputs, ops, parameters, FLOPs per input
 *   dicomaid-nn run MODEL.onnx IN.npy -o DIR   runs the model, writes DIR/<output>.npy
 *   dicomaid-nn bench MODEL.onnx --batch N --threads T [--seconds S | --iters N]
 *     (--iters N: exactly N timed runs after one warm-up, so that a whole-process timing from
 *     outside measures a known amount of work)
 * The bench's last line is exactly `slices_per_s=<float> gflops=<float>`; other scripts
 * parse it.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "nn/nn.h"
#include "nn/npy.h"

void openblas_set_num_threads(int);

static void usage(void)
{
	fprintf(stderr,
		"usage: dicomaid-nn info MODEL.onnx [--shape D0,D1,...]\n"
		"       dicomaid-nn run MODEL.onnx INPUT.npy -o OUTDIR [--threads T]\n"
		"       dicomaid-nn bench MODEL.onnx --batch N --threads T [--seconds S | --iters N] "
		"[--shape D0,D1,...] [--profile]\n");
	exit(2);
}

static int parse_shape(const char *s, struct nn_load_opts *o)
{
	o->input_ndim = 0;
	while (*s) {
		char *e;
		long long v = strtoll(s, &e, 10);
		if (e == s || v <= 0 || o->input_ndim == NN_MAX_DIMS)
			return -1;
		o->input_shape[o->input_ndim++] = v;
		s = *e == ',' ? e + 1 : e;
		if (*e && *e != ',')
			return -1;
	}
	return o->input_ndim ? 0 : -1;
}

static void print_dims(const struct nn_tensor_info *t)
{
	printf("[");
	for (int i = 0; i < t->ndim; i++)
		printf(i ? ", %s%lld" : "%s%lld", "", (long long)t->dims[i]);
	printf("]%s", t->batched ? " (dim 0 = batch)" : "");
}

static int cmd_info(int argc, char **argv)
{
	struct nn_load_opts o = {0};
	if (argc < 1)
		usage();
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--shape") && i + 1 < argc) {
			if (parse_shape(argv[++i], &o) < 0)
				usage();
		} else {
			usage();
		}
	}
	struct nn_model *m;
	char err[600];
	if (nn_model_load(argv[0], &o, &m, err, sizeof err) < 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	struct nn_tensor_info t;
	nn_model_input(m, &t);
	printf("input: %s ", t.name);
	print_dims(&t);
	printf("\n");
	for (int i = 0; i < nn_model_num_outputs(m); i++) {
		nn_model_output(m, i, &t);
		printf("output: %s ", t.name);
		print_dims(&t);
		printf("\n");
	}
	printf("ops:");
	const char *op;
	int cnt;
	for (int i = 0; nn_model_op_count(m, i, &op, &cnt) == 0; i++)
		printf(" %s=%d", op, cnt);
	printf("\n");
	printf("executed_nodes: %d\n", nn_model_exec_nodes(m));
	printf("parameters: %lld\n", (long long)nn_model_params(m));
	printf("flops_per_input: %.0f (%.3f GFLOP)\n", nn_model_flops(m), nn_model_flops(m) / 1e9);
	printf("arena_bytes: %zu\n", nn_model_arena_bytes(m));
	nn_model_free(m);
	return 0;
}

/* output file name: keep [A-Za-z0-9._-], map the rest to '_', never start with '.' */
static void sanitize(const char *name, char *out, size_t len)
{
	size_t j = 0;
	for (size_t i = 0; name[i] && j + 1 < len && j < 200; i++) {
		char c = name[i];
		int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			 (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
		out[j++] = ok ? c : '_';
	}
	out[j] = 0;
	if (j == 0 || out[0] == '.')
		out[0] = '_';
	if (j == 0)
		out[1] = 0;
}

static int cmd_run(int argc, char **argv)
{
	const char *model = NULL, *in = NULL, *outdir = NULL;
	int threads = 1;
	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "-o") && i + 1 < argc)
			outdir = argv[++i];
		else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
			threads = atoi(argv[++i]);
		else if (!model)
			model = argv[i];
		else if (!in)
			in = argv[i];
		else
			usage();
	}
	if (!model || !in || !outdir || threads < 1)
		usage();
	openblas_set_num_threads(threads);
	float *data;
	int64_t dims[NPY_MAX_DIMS];
	int nd;
	char err[600];
	if (npy_read(in, (size_t)1 << 32, &data, dims, &nd, err, sizeof err) < 0) {
		fprintf(stderr, "%s: %s\n", in, err);
		return 1;
	}
	/* first pass: learn the input rank */
	struct nn_load_opts o = {0};
	struct nn_model *m;
	int rc = nn_model_load(model, &o, &m, err, sizeof err);
	int mrank = 0;
	if (rc == 0) {
		struct nn_tensor_info t;
		nn_model_input(m, &t);
		mrank = t.ndim;
		nn_model_free(m);
	} else {
		/* the declared shape may be symbolic: take the array's rank */
		mrank = nd;
	}
	int batch;
	if (nd == mrank) {
		batch = (int)dims[0];
		o.input_ndim = nd;
		memcpy(o.input_shape, dims, sizeof(int64_t) * nd);
	} else if (nd == mrank - 1) {
		batch = 1;
		o.input_ndim = mrank;
		o.input_shape[0] = 1;
		memcpy(o.input_shape + 1, dims, sizeof(int64_t) * nd);
	} else {
		fprintf(stderr, "%s: array has %d dimensions, the model input %d\n", in, nd, mrank);
		free(data);
		return 1;
	}
	if (batch < 1) {
		fprintf(stderr, "%s: empty batch\n", in);
		free(data);
		return 1;
	}
	o.max_batch = batch;
	if (nn_model_load(model, &o, &m, err, sizeof err) < 0) {
		fprintf(stderr, "%s\n", err);
		free(data);
		return 1;
	}
	struct nn_ctx *c = nn_ctx_new(m);
	if (c && nn_ctx_set_threads(c, threads) < 0) {
		fprintf(stderr, "cannot start %d threads\n", threads);
		return 1;
	}
	int no = nn_model_num_outputs(m);
	float **outs = calloc((size_t)no, sizeof *outs);
	if (!c || !outs) {
		fprintf(stderr, "out of memory\n");
		return 1;
	}
	if (nn_run(c, batch, data, outs) < 0) {
		fprintf(stderr, "run failed\n");
		return 1;
	}
	if (mkdir(outdir, 0777) < 0 && errno != EEXIST) {
		fprintf(stderr, "%s: %s\n", outdir, strerror(errno));
		return 1;
	}
	int ret = 0;
	for (int i = 0; i < no; i++) {
		struct nn_tensor_info t;
		nn_model_output(m, i, &t);
		if (t.batched)
			t.dims[0] = batch;
		char fn[256], path[4096];
		sanitize(t.name, fn, sizeof fn);
		snprintf(path, sizeof path, "%s/%s.npy", outdir, fn);
		if (npy_write(path, outs[i], t.dims, t.ndim) < 0) {
			fprintf(stderr, "%s: %s\n", path, strerror(errno));
			ret = 1;
		}
	}
	free(outs);
	nn_ctx_free(c);
	nn_model_free(m);
	free(data);
	return ret;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double cpu_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmd_bench(int argc, char **argv)
{
	const char *model = NULL;
	int batch = 1, threads = 1, profile = 0;
	double seconds = 3;
	long iters = 0;
	struct nn_load_opts o = {0};
	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--batch") && i + 1 < argc)
			batch = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
			threads = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--profile"))
			profile = 1;
		else if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
			seconds = atof(argv[++i]);
		else if (!strcmp(argv[i], "--iters") && i + 1 < argc)
			iters = atol(argv[++i]);
		else if (!strcmp(argv[i], "--shape") && i + 1 < argc) {
			if (parse_shape(argv[++i], &o) < 0)
				usage();
		} else if (!model)
			model = argv[i];
		else
			usage();
	}
	if (!model || batch < 1 || threads < 1 || !(seconds > 0) || iters < 0)
		usage();
	openblas_set_num_threads(threads);
	o.max_batch = batch;
	struct nn_model *m;
	char err[600];
	if (nn_model_load(model, &o, &m, err, sizeof err) < 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	struct nn_tensor_info t;
	nn_model_input(m, &t);
	size_t per = 1;
	for (int i = 1; i < t.ndim; i++)
		per *= (size_t)t.dims[i];
	float *in = malloc(per * batch * sizeof(float));
	float **outs = calloc((size_t)nn_model_num_outputs(m), sizeof *outs);
	struct nn_ctx *c = nn_ctx_new(m);
	if (c && nn_ctx_set_threads(c, threads) < 0) {
		fprintf(stderr, "cannot start %d threads\n", threads);
		return 1;
	}
	if (!in || !outs || !c) {
		fprintf(stderr, "out of memory\n");
		return 1;
	}
	unsigned s = 12345;
	for (size_t i = 0; i < per * batch; i++) {
		s = s * 1103515245u + 12345u;
		in[i] = (float)((s >> 8) & 0xffff) / 65536.0f;
	}
	nn_run(c, batch, in, outs); /* warm-up */
	double *prof = NULL;
	if (profile) {
		prof = calloc((size_t)nn_model_exec_nodes(m), sizeof(double));
		nn_ctx_set_profile(c, prof);
	}
	int runs = 0;
	double c0 = cpu_now();
	double t0 = now(), t1;
	/* best: the fastest block of runs covering at least 16 slices (so batch sizes compare
	 * over windows of equal work on a shared machine) */
	int block = batch >= 16 ? 1 : (16 + batch - 1) / batch, inblock = 0;
	double best = 1e30, prev = t0;
	do {
		nn_run(c, batch, in, outs);
		runs++;
		t1 = now();
		if (++inblock == block) {
			if ((t1 - prev) / block < best)
				best = (t1 - prev) / block;
			prev = t1;
			inblock = 0;
		}
	} while (iters ? runs < iters : (t1 - t0 < seconds || best > 1e29));
	if (best > 1e29)
		best = (t1 - t0) / runs;
	double cpu = cpu_now() - c0;
	double sps = (double)runs * batch / (t1 - t0);
	printf("model=%s batch=%d threads=%d runs=%d seconds=%.3f cpu_seconds=%.3f "
	       "slices_per_cpu_s=%.3f best_run_ms=%.3f best_slices_per_s=%.3f\n",
	       model, batch, threads, runs, t1 - t0, cpu, (double)runs * batch / cpu, best * 1e3,
	       batch / best);
	if (prof) {
		for (int i = 0; i < nn_model_exec_nodes(m); i++) {
			const char *nm, *op;
			nn_model_exec_name(m, i, &nm, &op);
			printf("profile %-28s %-14s %8.3f ms\n", nm, op, prof[i] * 1e3 / runs);
		}
		free(prof);
	}
	printf("slices_per_s=%.3f gflops=%.3f\n", sps, sps * nn_model_flops(m) / 1e9);
	nn_ctx_free(c);
	free(outs);
	free(in);
	nn_model_free(m);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 3)
		usage();
	if (!strcmp(argv[1], "info"))
		return cmd_info(argc - 2, argv + 2);
	if (!strcmp(argv[1], "run"))
		return cmd_run(argc - 2, argv + 2);
	if (!strcmp(argv[1], "bench"))
		return cmd_bench(argc - 2, argv + 2);
	usage();
	return 2;
}
