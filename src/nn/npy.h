/*
 * NumPy .npy files (format version 1.0/2.0/3.0, see numpy.lib.format) holding little-endian
 * float32 arrays in C order: the exchange format of `dicomaid-nn run` and the golden tests.
 * Pure over byte buffers plus two small file helpers.
 */
#ifndef DICOMAID_NN_NPY_H
#define DICOMAID_NN_NPY_H

#include <stddef.h>
#include <stdint.h>

#define NPY_MAX_DIMS 8

/*
 * Parses a .npy image in buf. On success *data points into buf (borrowed, possibly
 * unaligned: copy it out), dims/ndim give the shape. Returns 0, or -1 with a reason in err.
 * Only '<f4' (or '|f4'-equivalent little-endian float32), fortran_order False is accepted.
 */
int npy_parse(const uint8_t *buf, size_t len, const uint8_t **data, int64_t *dims, int *ndim,
	      char *err, size_t errlen);

/* Reads path (at most max_bytes) into a malloc'd float array (*out, caller frees). */
int npy_read(const char *path, size_t max_bytes, float **out, int64_t *dims, int *ndim,
	     char *err, size_t errlen);

/* Writes data with the given shape to path (version 1.0 header). Returns 0 or -1 (errno). */
int npy_write(const char *path, const float *data, const int64_t *dims, int ndim);

#endif
