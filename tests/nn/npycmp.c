/* npycmp: compares two float32 NumPy .npy files for the golden tests of the CNN engine.
 *
 * Owns the .npy reader the tests use (so `make check` needs no Python) and the comparison rule
 * of tests/nn/golden.sh:
 *
 *     rel_err = max_i |actual_i - expected_i| / max(max_i |expected_i|, 1e-3)
 *
 * i.e. the largest absolute difference, scaled by the largest magnitude of the expected tensor
 * (floored at 1e-3 so an all-but-zero tensor is compared absolutely).  The files match when the
 * shapes are identical, no element of either is NaN or infinite, and rel_err <= tol (default
 * 1e-4, the tolerance issue 3 sets for PyTorch's outputs).
 *
 * Usage: npycmp [-t TOL] ACTUAL.npy EXPECTED.npy
 * Prints one line "ACTUAL: ok|MISMATCH shape=(...) rel_err=... max_abs_err=... at=i ..." and
 * exits 0 on a match, 1 on a mismatch, 2 on a usage, I/O or format error.
 *
 * Format (NumPy NEP 1, "A simple file format for NumPy arrays"): magic "\x93NUMPY", major and
 * minor version bytes, header length (uint16 LE for version 1.x, uint32 LE for 2.x and 3.x), then
 * an ASCII (3.x: UTF-8) Python dict literal with keys 'descr', 'fortran_order', 'shape', padded
 * with spaces and ended by '\n'; the raw array data follows.  Only '<f4' in C order is accepted.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NPY_MAX_DIMS 8
#define NPY_MAX_FILE ((size_t)1 << 30) /* 1 GiB: fixtures are kilobytes */
#define NPY_MAX_HEADER 65536u

struct npy_array {
	int ndim;
	uint64_t shape[NPY_MAX_DIMS];
	uint64_t count;      /* product of shape (1 for a 0-d array) */
	const float *data;   /* borrowed: points into the file buffer (aligned copy, see npy_load) */
};

/* Skips spaces in [*p, end). */
static void skip_ws(const char **p, const char *end)
{
	while (*p < end && (**p == ' ' || **p == '\t' || **p == '\n' || **p == '\r'))
		(*p)++;
}

/* Finds the value following key 'name' (quoted with ' or ") and its ':' in the header dict.
 * Returns a pointer to the first non-space character of the value, or NULL. */
static const char *dict_value(const char *hdr, const char *end, const char *name)
{
	size_t n = strlen(name);
	for (const char *p = hdr; p + n + 2 <= end; p++) {
		if ((*p == '\'' || *p == '"') && p[n + 1] == *p && memcmp(p + 1, name, n) == 0) {
			const char *q = p + n + 2;
			skip_ws(&q, end);
			if (q >= end || *q != ':')
				return NULL;
			q++;
			skip_ws(&q, end);
			return q < end ? q : NULL;
		}
	}
	return NULL;
}

/* Parses the header dict hdr[0..len) into out (shape, count).  Pure; 0 or -EINVAL. */
static int npy_parse_dict(const char *hdr, size_t len, struct npy_array *out, const char **why)
{
	const char *end = hdr + len;
	const char *v;

	v = dict_value(hdr, end, "descr");
	if (!v || end - v < 5 || (v[0] != '\'' && v[0] != '"') || memcmp(v + 1, "<f4", 3) != 0 || v[4] != v[0]) {
		*why = "descr is not '<f4' (little-endian float32)";
		return -EINVAL;
	}
	v = dict_value(hdr, end, "fortran_order");
	if (!v || end - v < 5 || memcmp(v, "False", 5) != 0) {
		*why = "fortran_order is not False";
		return -EINVAL;
	}
	v = dict_value(hdr, end, "shape");
	if (!v || *v != '(') {
		*why = "no shape tuple";
		return -EINVAL;
	}
	v++;
	out->ndim = 0;
	out->count = 1;
	for (;;) {
		skip_ws(&v, end);
		if (v >= end) {
			*why = "unterminated shape";
			return -EINVAL;
		}
		if (*v == ')')
			break;
		if (*v < '0' || *v > '9') {
			*why = "bad shape";
			return -EINVAL;
		}
		uint64_t d = 0;
		while (v < end && *v >= '0' && *v <= '9') {
			d = d * 10 + (uint64_t)(*v - '0');
			if (d > NPY_MAX_FILE) {
				*why = "dimension too large";
				return -EINVAL;
			}
			v++;
		}
		if (out->ndim == NPY_MAX_DIMS) {
			*why = "too many dimensions";
			return -EINVAL;
		}
		out->shape[out->ndim++] = d;
		out->count *= d;
		if (out->count > NPY_MAX_FILE / sizeof(float)) {
			*why = "array too large";
			return -EINVAL;
		}
		skip_ws(&v, end);
		if (v < end && *v == ',')
			v++;
		else if (v < end && *v != ')') {
			*why = "bad shape separator";
			return -EINVAL;
		}
	}
	return 0;
}

/* Parses a whole .npy file held in buf[0..len).  On success out->data points into buf (which
 * the caller keeps alive and 4-byte aligned at the data offset, see npy_load).  0 or -EINVAL. */
static int npy_parse(const unsigned char *buf, size_t len, struct npy_array *out, size_t *data_off,
                     const char **why)
{
	static const unsigned char magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
	size_t hlen, hstart;

	if (len < 10 || memcmp(buf, magic, 6) != 0) {
		*why = "not a .npy file (bad magic)";
		return -EINVAL;
	}
	if (buf[6] == 1) {
		hlen = (size_t)buf[8] | (size_t)buf[9] << 8;
		hstart = 10;
	} else if (buf[6] == 2 || buf[6] == 3) {
		if (len < 12) {
			*why = "truncated header";
			return -EINVAL;
		}
		hlen = (size_t)buf[8] | (size_t)buf[9] << 8 | (size_t)buf[10] << 16 | (size_t)buf[11] << 24;
		hstart = 12;
	} else {
		*why = "unsupported .npy version";
		return -EINVAL;
	}
	if (hlen > NPY_MAX_HEADER || hlen > len - hstart) {
		*why = "truncated or oversized header";
		return -EINVAL;
	}
	if (npy_parse_dict((const char *)buf + hstart, hlen, out, why) < 0)
		return -EINVAL;
	*data_off = hstart + hlen;
	if (len - *data_off != out->count * sizeof(float)) {
		*why = "data size does not match the shape";
		return -EINVAL;
	}
	return 0;
}

/* Reads path into a malloc'd buffer whose data part is copied to an aligned float array.
 * On success *floats (caller frees with free()) holds the data and out->data points to it. */
static int npy_load(const char *path, struct npy_array *out, float **floats)
{
	FILE *f = fopen(path, "rb");
	unsigned char *buf = NULL;
	size_t len = 0, cap = 0, off = 0;
	const char *why = NULL;
	int rc = -1;

	*floats = NULL;
	if (!f) {
		fprintf(stderr, "npycmp: %s: %s\n", path, strerror(errno));
		return -1;
	}
	for (;;) {
		if (len == cap) {
			size_t ncap = cap ? cap * 2 : 65536;
			if (ncap > NPY_MAX_FILE + NPY_MAX_HEADER + 16) {
				fprintf(stderr, "npycmp: %s: file too large\n", path);
				goto out;
			}
			unsigned char *nb = realloc(buf, ncap);
			if (!nb) {
				fprintf(stderr, "npycmp: %s: out of memory\n", path);
				goto out;
			}
			buf = nb;
			cap = ncap;
		}
		size_t n = fread(buf + len, 1, cap - len, f);
		len += n;
		if (n == 0) {
			if (ferror(f)) {
				fprintf(stderr, "npycmp: %s: read error\n", path);
				goto out;
			}
			break;
		}
	}
	if (npy_parse(buf, len, out, &off, &why) < 0) {
		fprintf(stderr, "npycmp: %s: %s\n", path, why);
		goto out;
	}
	*floats = malloc(out->count ? out->count * sizeof(float) : 1);
	if (!*floats) {
		fprintf(stderr, "npycmp: %s: out of memory\n", path);
		goto out;
	}
	/* '<f4': little-endian; assemble explicitly so the host's byte order does not matter */
	for (uint64_t i = 0; i < out->count; i++) {
		const unsigned char *b = buf + off + 4 * i;
		uint32_t u = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
		memcpy(&(*floats)[i], &u, 4);
	}
	out->data = *floats;
	rc = 0;
out:
	free(buf);
	fclose(f);
	return rc;
}

static void print_shape(const struct npy_array *a)
{
	printf("(");
	for (int i = 0; i < a->ndim; i++)
		printf("%s%llu", i ? "," : "", (unsigned long long)a->shape[i]);
	printf(")");
}

int main(int argc, char **argv)
{
	double tol = 1e-4;
	int argi = 1;

	if (argc == 5 && strcmp(argv[1], "-t") == 0) {
		char *end;
		tol = strtod(argv[2], &end);
		if (*end || !(tol >= 0)) {
			fprintf(stderr, "npycmp: bad tolerance %s\n", argv[2]);
			return 2;
		}
		argi = 3;
	} else if (argc != 3) {
		fprintf(stderr, "usage: npycmp [-t TOL] ACTUAL.npy EXPECTED.npy\n");
		return 2;
	}
	const char *apath = argv[argi], *bpath = argv[argi + 1];
	struct npy_array a, b;
	float *abuf, *bbuf;
	if (npy_load(apath, &a, &abuf) < 0)
		return 2;
	if (npy_load(bpath, &b, &bbuf) < 0) {
		free(abuf);
		return 2;
	}

	int rc = 0;
	if (a.ndim != b.ndim || memcmp(a.shape, b.shape, sizeof(a.shape[0]) * (size_t)a.ndim) != 0) {
		printf("%s: MISMATCH shape=", apath);
		print_shape(&a);
		printf(" expected shape=");
		print_shape(&b);
		printf("\n");
		rc = 1;
		goto out;
	}

	double max_err = 0, max_ref = 0;
	uint64_t at = 0, nonfinite = 0;
	for (uint64_t i = 0; i < a.count; i++) {
		double x = a.data[i], y = b.data[i];
		if (!isfinite(x) || !isfinite(y)) {
			if (nonfinite++ == 0)
				at = i;
			continue;
		}
		double e = fabs(x - y);
		if (e > max_err && nonfinite == 0) {
			max_err = e;
			at = i;
		}
		if (fabs(y) > max_ref)
			max_ref = fabs(y);
	}
	double rel = max_err / (max_ref > 1e-3 ? max_ref : 1e-3);
	rc = (nonfinite == 0 && rel <= tol) ? 0 : 1;
	printf("%s: %s shape=", apath, rc ? "MISMATCH" : "ok");
	print_shape(&a);
	printf(" rel_err=%.3g tol=%.3g max_abs_err=%.3g max_abs_ref=%.4g", rel, tol, max_err, max_ref);
	if (a.count)
		printf(" at=%llu actual=%.9g expected=%.9g", (unsigned long long)at, (double)a.data[at],
		       (double)b.data[at]);
	if (nonfinite)
		printf(" nonfinite=%llu", (unsigned long long)nonfinite);
	printf("\n");
out:
	free(abuf);
	free(bbuf);
	return rc;
}
