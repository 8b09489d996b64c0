/*
 * .npy reader and writer (NumPy format spec, numpy/lib/format.py: magic "\x93NUMPY", major,
 * minor, header length (2 bytes for 1.0, 4 for 2.0/3.0), a Python dict literal padded with
 * spaces to a multiple of 64 bytes, then the raw data). The header dict is parsed only as far
 * as needed: descr, fortran_order and shape; everything is bounds-checked.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nn/npy.h"

static int fail(char *err, size_t errlen, const char *msg)
{
	if (err && errlen)
		snprintf(err, errlen, "%s", msg);
	return -1;
}

/* finds 'key' in the header and returns a pointer just past the ':' */
static const char *find_key(const char *h, size_t hl, const char *key)
{
	size_t kl = strlen(key);
	for (size_t i = 0; i + kl + 2 <= hl; i++) {
		if ((h[i] == '\'' || h[i] == '"') && memcmp(h + i + 1, key, kl) == 0 &&
		    h[i + 1 + kl] == h[i]) {
			size_t j = i + kl + 2;
			while (j < hl && (h[j] == ' '))
				j++;
			if (j < hl && h[j] == ':')
				return h + j + 1;
		}
	}
	return NULL;
}

int npy_parse(const uint8_t *buf, size_t len, const uint8_t **data, int64_t *dims, int *ndim,
	      char *err, size_t errlen)
{
	if (len < 10 || memcmp(buf, "\x93NUMPY", 6) != 0)
		return fail(err, errlen, "not a .npy file");
	int major = buf[6];
	size_t hl, hs;
	if (major == 1) {
		hl = buf[8] | (size_t)buf[9] << 8;
		hs = 10;
	} else if (major == 2 || major == 3) {
		if (len < 12)
			return fail(err, errlen, "truncated header");
		hl = buf[8] | (size_t)buf[9] << 8 | (size_t)buf[10] << 16 | (size_t)buf[11] << 24;
		hs = 12;
	} else {
		return fail(err, errlen, "unsupported .npy version");
	}
	if (hl > 65536 || hs + hl > len)
		return fail(err, errlen, "truncated or oversized header");
	const char *h = (const char *)buf + hs;
	const char *d = find_key(h, hl, "descr");
	const char *f = find_key(h, hl, "fortran_order");
	const char *s = find_key(h, hl, "shape");
	if (!d || !f || !s)
		return fail(err, errlen, "header lacks descr, fortran_order or shape");
	const char *end = h + hl;
	while (d < end && *d == ' ')
		d++;
	if (end - d < 5 || (memcmp(d, "'<f4'", 5) != 0 && memcmp(d, "\"<f4\"", 5) != 0))
		return fail(err, errlen, "array is not little-endian float32 ('<f4')");
	while (f < end && *f == ' ')
		f++;
	if (end - f < 5 || memcmp(f, "False", 5) != 0)
		return fail(err, errlen, "Fortran-order arrays are not supported");
	while (s < end && *s == ' ')
		s++;
	if (s >= end || *s != '(')
		return fail(err, errlen, "bad shape");
	s++;
	int nd = 0;
	int64_t total = 1;
	for (;;) {
		while (s < end && (*s == ' ' || *s == ','))
			s++;
		if (s >= end)
			return fail(err, errlen, "bad shape");
		if (*s == ')')
			break;
		if (*s < '0' || *s > '9')
			return fail(err, errlen, "bad shape");
		int64_t v = 0;
		while (s < end && *s >= '0' && *s <= '9') {
			if (v > ((int64_t)1 << 40))
				return fail(err, errlen, "dimension too large");
			v = v * 10 + (*s++ - '0');
		}
		if (s < end && *s == 'L')
			s++;
		if (nd == NPY_MAX_DIMS)
			return fail(err, errlen, "too many dimensions");
		dims[nd++] = v;
		if (v && total > ((int64_t)1 << 40) / v)
			return fail(err, errlen, "array too large");
		total *= v;
	}
	size_t off = hs + hl;
	if ((uint64_t)total * 4 != len - off)
		return fail(err, errlen, "data size does not match the shape");
	*ndim = nd;
	*data = buf + off;
	return 0;
}

int npy_read(const char *path, size_t max_bytes, float **out, int64_t *dims, int *ndim,
	     char *err, size_t errlen)
{
	*out = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fail(err, errlen, strerror(errno));
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size > max_bytes) {
		close(fd);
		return fail(err, errlen, "not a regular file or too large");
	}
	size_t len = (size_t)st.st_size;
	uint8_t *buf = malloc(len ? len : 1);
	if (!buf) {
		close(fd);
		return fail(err, errlen, "out of memory");
	}
	size_t got = 0;
	while (got < len) {
		ssize_t r = read(fd, buf + got, len - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	const uint8_t *data;
	if (got != len || npy_parse(buf, len, &data, dims, ndim, err, errlen) < 0) {
		if (got != len)
			fail(err, errlen, "short read");
		free(buf);
		return -1;
	}
	size_t n = (len - (size_t)(data - buf)) / 4;
	float *f = malloc(n ? n * 4 : 4);
	if (!f) {
		free(buf);
		return fail(err, errlen, "out of memory");
	}
	memcpy(f, data, n * 4);
	free(buf);
	*out = f;
	return 0;
}

int npy_write(const char *path, const float *data, const int64_t *dims, int ndim)
{
	char hdr[512];
	char shape[200];
	size_t sl = 0;
	int64_t total = 1;
	for (int i = 0; i < ndim; i++) {
		sl += (size_t)snprintf(shape + sl, sizeof shape - sl, "%lld,%s", (long long)dims[i],
				       i + 1 < ndim ? " " : "");
		total *= dims[i];
	}
	if (ndim > 1 && sl)
		shape[--sl] = 0; /* numpy writes "(1, 2)" but "(3,)" */
	int hl = snprintf(hdr + 10, sizeof hdr - 10,
			  "{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }", shape);
	int tot = 10 + hl + 1;
	int padded = (tot + 63) / 64 * 64;
	memset(hdr + 10 + hl, ' ', (size_t)(padded - tot));
	hdr[padded - 1] = '\n';
	memcpy(hdr, "\x93NUMPY\x01\x00", 8);
	hdr[8] = (char)((padded - 10) & 0xff);
	hdr[9] = (char)((padded - 10) >> 8);
	FILE *f = fopen(path, "wb");
	if (!f)
		return -1;
	int ok = fwrite(hdr, 1, (size_t)padded, f) == (size_t)padded &&
		 fwrite(data, 4, (size_t)total, f) == (size_t)total;
	if (fclose(f) != 0)
		ok = 0;
	return ok ? 0 : -1;
}
