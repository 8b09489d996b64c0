/*
 * Resampling and intensity statistics for the network input (see preprocess.h).
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/preprocess.h"

void prep_map_fit(int rows, int cols, const double spacing[2], int h, int w, bool pad_centre,
		  struct prep_map *m)
{
	double dr = spacing[0], dc = spacing[1], sc, ox, oy;

	if (!pad_centre) {
		m->ax = (double)cols / w;
		m->bx = 0;
		m->ay = (double)rows / h;
		m->by = 0;
		return;
	}
	sc = cols * dc / w;
	if (rows * dr / h > sc)
		sc = rows * dr / h;
	ox = (w - cols * dc / sc) / 2;
	oy = (h - rows * dr / sc) / 2;
	/* image edge coordinate = (input edge coordinate - ox) * s / dc */
	m->ax = sc / dc;
	m->bx = -ox * sc / dc;
	m->ay = sc / dr;
	m->by = -oy * sc / dr;
}

static float at(const float *src, int cols, int r, int c)
{
	return src[(size_t)r * (size_t)cols + (size_t)c];
}

/* Area of [a0,a1) that lies in [b0,b1). */
static double overlap(double a0, double a1, double b0, double b1)
{
	double lo = a0 > b0 ? a0 : b0, hi = a1 < b1 ? a1 : b1;
	return hi > lo ? hi - lo : 0;
}

void prep_resample(const float *src, int rows, int cols, const struct prep_map *m,
		   enum prep_method meth, float fill, float *dst, int h, int w)
{
	for (int y = 0; y < h; y++) {
		for (int x = 0; x < w; x++) {
			/* image index coordinates (pixel centre at i) of the input pixel centre */
			double fx = m->ax * (x + 0.5) + m->bx - 0.5;
			double fy = m->ay * (y + 0.5) + m->by - 0.5;
			float v = fill;

			if (meth == PREP_AREA) {
				double x0 = m->ax * x + m->bx, x1 = m->ax * (x + 1) + m->bx;
				double y0 = m->ay * y + m->by, y1 = m->ay * (y + 1) + m->by;
				int c0 = (int)floor(x0), c1 = (int)ceil(x1);
				int r0 = (int)floor(y0), r1 = (int)ceil(y1);
				double sum = 0, wsum = 0;
				if (c0 < 0) c0 = 0;
				if (r0 < 0) r0 = 0;
				if (c1 > cols) c1 = cols;
				if (r1 > rows) r1 = rows;
				for (int r = r0; r < r1; r++) {
					double wy = overlap(y0, y1, r, r + 1);
					for (int c = c0; c < c1; c++) {
						double wt = wy * overlap(x0, x1, c, c + 1);
						sum += wt * at(src, cols, r, c);
						wsum += wt;
					}
				}
				/* outside the image counts as fill */
				double full = (x1 - x0) * (y1 - y0);
				if (wsum > 0)
					v = (float)((sum + (full - wsum) * fill) / full);
			} else if (fx >= -0.5 && fx <= cols - 0.5 && fy >= -0.5 && fy <= rows - 0.5) {
				if (meth == PREP_NEAREST) {
					int c = (int)floor(fx + 0.5), r = (int)floor(fy + 0.5);
					if (c >= cols) c = cols - 1;
					if (r >= rows) r = rows - 1;
					v = at(src, cols, r, c);
				} else {
					double cx = fx < 0 ? 0 : fx > cols - 1 ? cols - 1 : fx;
					double cy = fy < 0 ? 0 : fy > rows - 1 ? rows - 1 : fy;
					int c0 = (int)floor(cx), r0 = (int)floor(cy);
					int c1 = c0 + 1 < cols ? c0 + 1 : c0;
					int r1 = r0 + 1 < rows ? r0 + 1 : r0;
					double tx = cx - c0, ty = cy - r0;
					double top = at(src, cols, r0, c0) * (1 - tx) + at(src, cols, r0, c1) * tx;
					double bot = at(src, cols, r1, c0) * (1 - tx) + at(src, cols, r1, c1) * tx;
					v = (float)(top * (1 - ty) + bot * ty);
				}
			}
			dst[(size_t)y * (size_t)w + (size_t)x] = v;
		}
	}
}

/* Quickselect: after the call a[k] holds the k-th smallest, smaller ones before it. */
static void select_k(float *a, size_t n, size_t k)
{
	size_t lo = 0, hi = n - 1;

	while (lo < hi) {
		float pivot = a[lo + (hi - lo) / 2];
		size_t i = lo, j = hi;
		while (i <= j) {
			while (a[i] < pivot)
				i++;
			while (a[j] > pivot)
				j--;
			if (i <= j) {
				float t = a[i];
				a[i] = a[j];
				a[j] = t;
				i++;
				if (j == 0)
					break;
				j--;
			}
		}
		if (k <= j)
			hi = j;
		else if (k >= i)
			lo = i;
		else
			return;
	}
}

int prep_percentile(const float *v, size_t n, const double *p, int np, double *out)
{
	float *a;

	if (n == 0)
		return -EINVAL;
	a = malloc(n * sizeof *a);
	if (a == NULL)
		return -ENOMEM;
	for (int q = 0; q < np; q++) {
		double rank = floor(p[q] / 100.0 * (double)(n - 1));
		size_t k = rank < 0 ? 0 : rank > (double)(n - 1) ? n - 1 : (size_t)rank;
		memcpy(a, v, n * sizeof *a);
		select_k(a, n, k);
		out[q] = a[k];
	}
	free(a);
	return 0;
}

size_t prep_mean_std(const float *v, size_t n, double above, double *mean, double *std)
{
	double s = 0, ss = 0;
	size_t cnt = 0;

	for (size_t i = 0; i < n; i++)
		if (v[i] > above) {
			s += v[i];
			cnt++;
		}
	*mean = cnt ? s / (double)cnt : 0;
	for (size_t i = 0; i < n; i++)
		if (v[i] > above) {
			double d = v[i] - *mean;
			ss += d * d;
		}
	*std = cnt ? sqrt(ss / (double)cnt) : 0;
	return cnt;
}
