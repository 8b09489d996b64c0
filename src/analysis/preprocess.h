/*
 * Preprocessing of slices for the network, as a model manifest prescribes: in-plane
 * resampling onto the input grid and intensity normalisation. Pure functions on caller's
 * buffers (prep_percentile allocates a scratch copy).
 *
 * Coordinates: "edge coordinates" put pixel i on [i, i+1). The input grid maps to the image
 * per axis by an affine map  image_edge = a * input_edge + b  (struct prep_map), so that
 * boxes found on the input grid map back with the same numbers.
 */
#ifndef DICOMAID_ANALYSIS_PREPROCESS_H
#define DICOMAID_ANALYSIS_PREPROCESS_H

#include <stdbool.h>
#include <stddef.h>

enum prep_method {
	PREP_BILINEAR = 0,  /* sample at input pixel centres, image borders clamped (as
	                       torch.nn.functional.interpolate, align_corners=False) */
	PREP_AREA,          /* mean of the image area each input pixel covers (exact overlap) */
	PREP_NEAREST,       /* the image pixel containing the input pixel's centre */
};

struct prep_map {
	double ax, bx;      /* columns: image_edge_x = ax * input_edge_x + bx */
	double ay, by;      /* rows */
};

/* The map for an image of rows x cols onto an input grid of h x w. pad_centre false: the
 * whole image stretched onto the grid. pad_centre true (models/README.md [input] step 3): one
 * scale s = max(cols*dc / w, rows*dr / h) mm per input pixel for both axes, the image centred
 * and the rest padded. spacing = {row spacing dr, column spacing dc} mm. */
void prep_map_fit(int rows, int cols, const double spacing[2], int h, int w, bool pad_centre,
		  struct prep_map *m);

/* Resample src (rows x cols, borrowed) onto dst (h x w, caller's). Input pixels whose centre
 * falls outside the image get `fill` (bilinear and nearest clamp only within half a pixel). */
void prep_resample(const float *src, int rows, int cols, const struct prep_map *m,
		   enum prep_method meth, float fill, float *dst, int h, int w);

/* The p-th percentiles (0..100) of v[0..n) by nearest rank: the value of index
 * floor(p/100 * (n-1)) of the sorted values (models/README.md [input] step 2). Allocates a
 * copy; returns 0 or -ENOMEM (-EINVAL when n == 0). */
int prep_percentile(const float *v, size_t n, const double *p, int np, double *out);

/* Mean and population standard deviation of v[0..n) over values > above (use -INFINITY for
 * all). Returns the number of values used. */
size_t prep_mean_std(const float *v, size_t n, double above, double *mean, double *std);

#endif
