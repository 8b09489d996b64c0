/* sgemm_shapes: OpenBLAS cblas_sgemm throughput at given GEMM shapes (bench/nn_bench.sh).
 *
 * Owns the "what can the BLAS do at our shapes" half of the CNN benchmark (issue 3): a
 * convolution lowered to im2col is one sgemm C[M x N] = A[M x K] * B[K x N] with M = output
 * channels per group, K = input channels per group * kh * kw, N = output H * W * batch.
 *
 *   sgemm_shapes [-t SECONDS] < shapes      lines "M K N COUNT [name]" (tools/detector_net.py
 *                                           --gemm-shapes); prints GFLOP/s per shape and the
 *                                           whole-network aggregate
 *   sgemm_shapes [-t SECONDS] -s SIZE       square SIZE^3 sgemm (the peak reference)
 *   -r CALLS instead of -t: exactly CALLS timed calls per shape after the warm-up, so that a
 *   whole-process timing taken from outside covers a known number of FLOPs (see bench/README-nn.md)
 *
 * Last line: "sgemm_gflops=<float>" (aggregate = sum of flops / sum of times, each shape weighted
 * by COUNT, i.e. what a network made only of these GEMMs would achieve).  Threads: OpenBLAS reads
 * OPENBLAS_NUM_THREADS; the count in use is printed.  Row-major, no transposes, beta = 0.
 */
#define _POSIX_C_SOURCE 200809L
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static float *fill(size_t n, unsigned seed)
{
	float *p = malloc(n * sizeof(float));
	if (!p) {
		fprintf(stderr, "sgemm_shapes: out of memory (%zu floats)\n", n);
		exit(2);
	}
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = (float)((seed >> 9) & 0xffff) / 65536.0f - 0.5f;
	}
	return p;
}

/* Times one shape for at least min_s seconds, or for exactly reps calls when reps > 0 (after one
 * warm-up call); returns seconds per call. */
static double time_sgemm(int m, int k, int n, double min_s, long reps_fixed)
{
	float *a = fill((size_t)m * k, 1), *b = fill((size_t)k * n, 2), *c = fill((size_t)m * n, 3);
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0f, a, k, b, n, 0.0f, c, n);
	long reps = 0;
	double t0 = now(), el;
	do {
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0f, a, k, b, n, 0.0f, c, n);
		reps++;
		el = now() - t0;
	} while (reps_fixed > 0 ? reps < reps_fixed : el < min_s);
	free(a);
	free(b);
	free(c);
	return el / (double)reps;
}

int main(int argc, char **argv)
{
	double min_s = 0.2;
	long reps = 0;
	int square = 0;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-t") == 0 && i + 1 < argc)
			min_s = atof(argv[++i]);
		else if (strcmp(argv[i], "-r") == 0 && i + 1 < argc)
			reps = atol(argv[++i]);
		else if (strcmp(argv[i], "-s") == 0 && i + 1 < argc)
			square = atoi(argv[++i]);
		else {
			fprintf(stderr, "usage: sgemm_shapes [-t SECONDS | -r CALLS] [-s SIZE] < shapes\n");
			return 2;
		}
	}
	printf("openblas threads=%d config=%s\n", openblas_get_num_threads(), openblas_get_config());
	if (square > 0) {
		double t = time_sgemm(square, square, square, min_s, reps);
		double gf = 2.0 * square * square * (double)square / t / 1e9;
		printf("square %d: %.2f ms %.1f GFLOP/s\n", square, t * 1e3, gf);
		printf("sgemm_gflops=%.2f\n", gf);
		return 0;
	}
	char line[256];
	double tot_flop = 0, tot_time = 0;
	while (fgets(line, sizeof line, stdin)) {
		int m, k, n, count;
		char name[128] = "";
		if (sscanf(line, "%d %d %d %d %127s", &m, &k, &n, &count, name) < 4 || m <= 0 || k <= 0 ||
		    n <= 0 || count <= 0) {
			if (line[0] != '#' && line[0] != '\n')
				fprintf(stderr, "sgemm_shapes: skipping line: %s", line);
			continue;
		}
		double t = time_sgemm(m, k, n, min_s, reps);
		double flop = 2.0 * m * (double)k * n;
		printf("  %-14s M=%-4d K=%-5d N=%-8d x%d  %8.3f ms  %6.1f GFLOP/s\n", name, m, k, n, count,
		       t * 1e3, flop / t / 1e9);
		tot_flop += flop * count;
		tot_time += t * count;
	}
	if (tot_time <= 0) {
		fprintf(stderr, "sgemm_shapes: no shapes read\n");
		return 2;
	}
	printf("total %.3f GFLOP in %.2f ms\n", tot_flop / 1e9, tot_time * 1e3);
	printf("sgemm_gflops=%.2f\n", tot_flop / tot_time / 1e9);
	return 0;
}
