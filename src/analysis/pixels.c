/*
 * The native pixel reader (see pixels.h). The Part 10 header gives the transfer syntax
 * (PS3.10 7.1); the data set runs through the streaming parser of src/dicom, whose callbacks
 * pick the top-level attributes below and note where Pixel Data's value lies (PS3.5 7.1);
 * the value is then read from the buffer directly. A deflated data set (PS3.5 A.5) is inflated
 * whole first and parsed as Explicit VR Little Endian. Stored values are unpacked per
 * PS3.5 8.1.1 / PS3.3 C.7.6.3.1 (Bits Allocated/Stored, High Bit, Pixel Representation),
 * MONOCHROME1 is inverted to MONOCHROME2's sense, and the Modality LUT's linear rescale
 * (PS3.3 C.11.1.1.2) is applied.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "analysis/pixels.h"
#include "dicom/error.h"
#include "dicom/parser.h"
#include "dicom/part10.h"
#include "dicom/uid.h"

struct collect {
	struct pix_image *im;
	bool have_pixels;
	bool pixels_encapsulated;
	uint64_t pix_off;          /* value offset within the (inflated) data set */
	uint32_t pix_len;
	struct dcm_elem pix_el;    /* header of Pixel Data, for its byte order */
	bool have_sop_uid;
};

static void seterr(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* The attributes taken; all at depth 0. */
static const uint32_t wanted[] = {
	0x0020000D, 0x0020000E, 0x00080018, 0x00080016, 0x00080060, 0x00200013,
	0x00200032, 0x00200037, 0x00280030, 0x00180050,
	0x00280010, 0x00280011, 0x00280002, 0x00280100, 0x00280101, 0x00280102,
	0x00280103, 0x00280008, 0x00280004, 0x00281053, 0x00281052,
};

static bool is_wanted(uint32_t tag)
{
	for (size_t i = 0; i < sizeof wanted / sizeof wanted[0]; i++)
		if (wanted[i] == tag)
			return true;
	return false;
}

static int on_element(void *ctx, const struct dcm_elem *e)
{
	struct collect *c = ctx;

	if (e->depth != 0)
		return 0;
	if (e->tag == DCM_TAG_PIXEL_DATA) {
		c->have_pixels = true;
		c->pix_el = *e;
		c->pix_off = e->value_offset;
		c->pix_len = e->length;
		c->pixels_encapsulated = e->length == DCM_UNDEFINED_LENGTH;
		return 0;
	}
	return is_wanted(e->tag) ? DCM_WANT_VALUE : 0;
}

/* Copy a string value without padding (PS3.5 6.2) into dst[size]. */
static void copy_str(char *dst, size_t size, const uint8_t *val, size_t len)
{
	while (len > 0 && (val[len - 1] == ' ' || val[len - 1] == '\0'))
		len--;
	while (len > 0 && val[0] == ' ') {
		val++;
		len--;
	}
	if (len >= size)
		len = size - 1;
	memcpy(dst, val, len);
	dst[len] = '\0';
}

/* Parse up to `max` backslash-separated decimal strings (DS, IS: PS3.5 6.2). Returns how
 * many were read; stops at the first malformed value. */
static int parse_numbers(const uint8_t *val, size_t len, double *out, int max)
{
	char buf[DCM_MAX_CAPTURE + 1];
	char *p, *end;
	int n = 0;

	memcpy(buf, val, len);
	buf[len] = '\0';
	p = buf;
	while (n < max) {
		double d;
		while (*p == ' ')
			p++;
		errno = 0;
		d = strtod(p, &end);
		if (end == p || errno != 0 || !isfinite(d))
			break;
		out[n++] = d;
		p = end;
		while (*p == ' ' || *p == '\0') {
			if (*p == '\0')
				return n;
			p++;
		}
		if (*p != '\\')
			break;
		p++;
	}
	return n;
}

static int get_us(const struct dcm_elem *e, const uint8_t *val, size_t len)
{
	if (len < 2)
		return -1;
	return dcm_get_u16(e, val);
}

static int on_value(void *ctx, const struct dcm_elem *e, const uint8_t *val, size_t len)
{
	struct collect *c = ctx;
	struct pix_image *im = c->im;
	double v[6];

	switch (e->tag) {
	case 0x0020000D: copy_str(im->study_uid, sizeof im->study_uid, val, len); break;
	case 0x0020000E: copy_str(im->series_uid, sizeof im->series_uid, val, len); break;
	case 0x00080018:
		copy_str(im->sop_uid, sizeof im->sop_uid, val, len);
		c->have_sop_uid = im->sop_uid[0] != '\0';
		break;
	case 0x00080016: copy_str(im->sop_class_uid, sizeof im->sop_class_uid, val, len); break;
	case 0x00080060: copy_str(im->modality, sizeof im->modality, val, len); break;
	case 0x00280004: copy_str(im->photometric, sizeof im->photometric, val, len); break;
	case 0x00200013:
		if (parse_numbers(val, len, v, 1) == 1)
			im->instance_number = (int)v[0];
		break;
	case 0x00200032:
		if (parse_numbers(val, len, v, 3) == 3) {
			memcpy(im->ipp, v, sizeof im->ipp);
			im->has_position = true;
		}
		break;
	case 0x00200037:
		if (parse_numbers(val, len, v, 6) == 6) {
			memcpy(im->iop, v, sizeof im->iop);
			im->has_orientation = true;
		}
		break;
	case 0x00280030:
		if (parse_numbers(val, len, v, 2) == 2 && v[0] > 0 && v[1] > 0) {
			memcpy(im->spacing, v, sizeof im->spacing);
			im->has_spacing = true;
		}
		break;
	case 0x00180050:
		if (parse_numbers(val, len, v, 1) == 1)
			im->thickness = v[0];
		break;
	case 0x00281053:
		if (parse_numbers(val, len, v, 1) == 1)
			im->slope = v[0];
		break;
	case 0x00281052:
		if (parse_numbers(val, len, v, 1) == 1)
			im->intercept = v[0];
		break;
	case 0x00280008:
		if (parse_numbers(val, len, v, 1) == 1)
			im->frames = (int)v[0];
		break;
	case 0x00280010: im->rows = get_us(e, val, len); break;
	case 0x00280011: im->cols = get_us(e, val, len); break;
	case 0x00280002: im->samples = get_us(e, val, len); break;
	case 0x00280100: im->bits_allocated = get_us(e, val, len); break;
	case 0x00280101: im->bits_stored = get_us(e, val, len); break;
	case 0x00280102: im->high_bit = get_us(e, val, len); break;
	case 0x00280103: im->pixel_rep = get_us(e, val, len); break;
	default: break;
	}
	return 0;
}

/* Inflate a raw deflate stream (PS3.5 A.5) into a new buffer (*out, caller frees). */
static int inflate_all(const uint8_t *in, size_t inlen, uint8_t **out, size_t *outlen)
{
	z_stream z;
	size_t cap = inlen * 4 + 65536, have = 0;
	uint8_t *buf = malloc(cap);
	int zr;

	if (buf == NULL)
		return PIX_ENOMEM;
	memset(&z, 0, sizeof z);
	if (inflateInit2(&z, -15) != Z_OK) {
		free(buf);
		return PIX_ENOMEM;
	}
	z.next_in = (Bytef *)in;
	z.avail_in = (uInt)(inlen > UINT32_MAX ? UINT32_MAX : inlen);
	for (;;) {
		if (have == cap) {
			uint8_t *nb;
			if (cap >= PIX_MAX_FILE_BYTES) {
				inflateEnd(&z);
				free(buf);
				return PIX_ETOOBIG;
			}
			cap *= 2;
			nb = realloc(buf, cap);
			if (nb == NULL) {
				inflateEnd(&z);
				free(buf);
				return PIX_ENOMEM;
			}
			buf = nb;
		}
		z.next_out = buf + have;
		z.avail_out = (uInt)(cap - have > UINT32_MAX ? UINT32_MAX : cap - have);
		zr = inflate(&z, Z_NO_FLUSH);
		have = (size_t)(z.next_out - buf);
		if (zr == Z_STREAM_END)
			break;
		if (zr != Z_OK && !(zr == Z_BUF_ERROR && z.avail_out == 0)) {
			inflateEnd(&z);
			free(buf);
			return PIX_ECORRUPT;
		}
		if (z.avail_in == 0 && z.avail_out != 0) {
			/* input ended before the stream did */
			inflateEnd(&z);
			free(buf);
			return PIX_ECORRUPT;
		}
	}
	inflateEnd(&z);
	*out = buf;
	*outlen = have;
	return 0;
}

/* Unpack one stored value (PS3.5 8.1.1) at index i of a native frame. */
static int32_t stored_value(const uint8_t *p, size_t i, int bytes, bool be, int shift,
			    uint32_t mask, bool is_signed, int bits_stored)
{
	uint32_t raw;

	if (bytes == 1) {
		raw = p[i];
	} else if (bytes == 2) {
		const uint8_t *q = p + 2 * i;
		raw = be ? (uint32_t)q[0] << 8 | q[1] : (uint32_t)q[1] << 8 | q[0];
	} else {
		const uint8_t *q = p + 4 * i;
		raw = be ? (uint32_t)q[0] << 24 | (uint32_t)q[1] << 16 | (uint32_t)q[2] << 8 | q[3]
			 : (uint32_t)q[3] << 24 | (uint32_t)q[2] << 16 | (uint32_t)q[1] << 8 | q[0];
	}
	raw = (raw >> shift) & mask;
	if (is_signed && bits_stored < 32 && (raw >> (bits_stored - 1)) & 1u)
		return (int32_t)(raw | ~mask);
	return (int32_t)raw;
}

/* Why this image cannot be decoded natively, or NULL. */
static const char *check_decodable(const struct pix_image *im, char *why, size_t whylen)
{
	if (im->rows <= 0 || im->cols <= 0)
		return snprintf(why, whylen, "no Rows/Columns"), why;
	if (im->samples != 1 || (strcmp(im->photometric, "MONOCHROME1") != 0 &&
				 strcmp(im->photometric, "MONOCHROME2") != 0))
		return snprintf(why, whylen,
				"unsupported photometric interpretation %s (%d samples per pixel)",
				im->photometric[0] ? im->photometric : "(none)", im->samples), why;
	if (im->bits_allocated != 8 && im->bits_allocated != 16 && im->bits_allocated != 32)
		return snprintf(why, whylen, "unsupported Bits Allocated %d", im->bits_allocated),
		       why;
	if (im->bits_stored < 1 || im->bits_stored > im->bits_allocated ||
	    im->high_bit < im->bits_stored - 1 || im->high_bit >= im->bits_allocated)
		return snprintf(why, whylen, "inconsistent Bits Stored %d / High Bit %d",
				im->bits_stored, im->high_bit), why;
	if (im->frames != 1)
		return snprintf(why, whylen, "multi-frame image (%d frames) not supported",
				im->frames), why;
	return NULL;
}

static int decode(const uint8_t *ds, size_t dslen, const struct collect *c,
		  struct pix_image *im, char *err, size_t errlen)
{
	size_t n = (size_t)im->rows * (size_t)im->cols;
	int bytes = im->bits_allocated / 8;
	int shift = im->high_bit - im->bits_stored + 1;
	uint32_t mask = im->bits_stored == 32 ? 0xFFFFFFFFu : (1u << im->bits_stored) - 1;
	bool is_signed = im->pixel_rep == 1;
	bool mono1 = strcmp(im->photometric, "MONOCHROME1") == 0;
	const uint8_t *p;

	if (c->pix_off > dslen || c->pix_len > dslen - c->pix_off ||
	    (uint64_t)c->pix_len < (uint64_t)n * (uint64_t)bytes) {
		seterr(err, errlen, "pixel data is %u bytes, %zu needed", c->pix_len,
		       n * (size_t)bytes);
		return PIX_ECORRUPT;
	}
	p = ds + c->pix_off;
	im->pixels = malloc(n * sizeof *im->pixels);
	if (im->pixels == NULL)
		return PIX_ENOMEM;
	/* 8-bit values are bytes whatever the byte order (OB, PS3.5 A.2 note) */
	bool be = c->pix_el.big_endian && bytes > 1;
	for (size_t i = 0; i < n; i++) {
		int32_t v = stored_value(p, i, bytes, be, shift, mask, is_signed, im->bits_stored);
		double d;
		if (mono1) /* PS3.3 C.7.6.3.1.2: minimum is white; flip within the stored range */
			v = is_signed ? -v - 1 : (int32_t)(mask - (uint32_t)v);
		d = (double)v * im->slope + im->intercept;
		im->pixels[i] = (float)d;
	}
	return 0;
}

int pix_read_mem(const uint8_t *buf, size_t len, unsigned flags, struct pix_image *out,
		 char *err, size_t errlen)
{
	struct dcm_meta meta;
	size_t off = 0;
	const struct dcm_ts *ts;
	uint8_t *inflated = NULL;
	const uint8_t *ds;
	size_t dslen;
	struct collect c;
	struct dcm_parser p;
	struct dcm_parser_cb cb;
	int rc;

	memset(out, 0, sizeof *out);
	if (errlen)
		err[0] = '\0';
	if (len < DCM_PREAMBLE_LEN + 4 || memcmp(buf + DCM_PREAMBLE_LEN, "DICM", 4) != 0) {
		seterr(err, errlen, "not a DICOM Part 10 file");
		return PIX_ENOTDICOM;
	}
	rc = dcm_part10_read_header(buf, len, &meta, &off);
	if (rc != 0) {
		seterr(err, errlen, "bad File Meta Information: %s", dcm_strerror(rc));
		return PIX_ECORRUPT;
	}
	snprintf(out->ts_uid, sizeof out->ts_uid, "%s", meta.ts_uid);
	ts = dcm_ts_find(meta.ts_uid);
	if (ts == NULL) {
		seterr(err, errlen, "unknown transfer syntax %s", meta.ts_uid);
		return PIX_ECORRUPT;
	}
	ds = buf + off;
	dslen = len - off;
	if (ts->deflated) {
		rc = inflate_all(ds, dslen, &inflated, &dslen);
		if (rc != 0) {
			seterr(err, errlen, "deflated data set: %s", pix_strerror(rc));
			return rc;
		}
		ds = inflated;
		ts = dcm_ts_find(DCM_TS_EXPLICIT_LE);
	}

	out->samples = 1;
	out->frames = 1;
	out->slope = 1.0;
	out->intercept = 0.0;
	out->bits_stored = -1;
	out->high_bit = -1;
	memset(&c, 0, sizeof c);
	c.im = out;
	memset(&cb, 0, sizeof cb);
	cb.ctx = &c;
	cb.on_element = on_element;
	cb.on_value = on_value;
	rc = dcm_parser_init(&p, ts, &cb);
	if (rc == 0)
		rc = dcm_parser_feed(&p, ds, dslen);
	if (rc == 0)
		rc = dcm_parser_finish(&p);
	dcm_parser_free(&p);
	if (rc != 0) {
		seterr(err, errlen, "data set: %s", dcm_strerror(rc));
		free(inflated);
		return PIX_ECORRUPT;
	}
	if (!c.have_sop_uid)
		snprintf(out->sop_uid, sizeof out->sop_uid, "%s", meta.sop_instance_uid);
	if (out->bits_stored < 0)
		out->bits_stored = out->bits_allocated;
	if (out->high_bit < 0)
		out->high_bit = out->bits_stored - 1;
	if (out->slope == 0.0)
		out->slope = 1.0; /* a zero slope would erase the image; treat as absent */
	if (out->rows > PIX_MAX_DIM || out->cols > PIX_MAX_DIM) {
		seterr(err, errlen, "image of %d x %d is larger than %d", out->rows, out->cols,
		       PIX_MAX_DIM);
		free(inflated);
		return PIX_ETOOBIG;
	}

	const char *why;
	char whybuf[sizeof out->skip];
	if (ts->encapsulated || c.pixels_encapsulated) {
		snprintf(out->skip, sizeof out->skip, "unsupported transfer syntax %s (%s)",
			 meta.ts_uid, ts->name);
		/* Decodable by the external decoder when it is a syntax we accept (single frame,
		 * one sample: what the model reads). */
		out->external = ts->accepted && out->samples == 1 && out->frames <= 1 &&
				c.have_pixels;
	}
	else if (!c.have_pixels)
		snprintf(out->skip, sizeof out->skip, "no Pixel Data");
	else if ((why = check_decodable(out, whybuf, sizeof whybuf)) != NULL)
		snprintf(out->skip, sizeof out->skip, "%s", why);
	rc = 0;
	if ((flags & PIX_READ_PIXELS) && out->skip[0] == '\0')
		rc = decode(ds, dslen, &c, out, err, errlen);
	free(inflated);
	return rc;
}

static pix_decoder_fn external_decoder;

void pix_set_external_decoder(pix_decoder_fn fn) { external_decoder = fn; }

int pix_read_file(const char *path, unsigned flags, struct pix_image *out, char *err,
		  size_t errlen)
{
	FILE *f;
	long sz;
	uint8_t *buf;
	int rc;

	memset(out, 0, sizeof *out);
	f = fopen(path, "rb");
	if (f == NULL) {
		seterr(err, errlen, "%s", strerror(errno));
		return PIX_EIO;
	}
	if (fseek(f, 0, SEEK_END) != 0 || (sz = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
		seterr(err, errlen, "cannot size the file: %s", strerror(errno));
		fclose(f);
		return PIX_EIO;
	}
	if ((unsigned long)sz > PIX_MAX_FILE_BYTES) {
		seterr(err, errlen, "file of %ld bytes is too large", sz);
		fclose(f);
		return PIX_ETOOBIG;
	}
	buf = malloc(sz > 0 ? (size_t)sz : 1);
	if (buf == NULL) {
		fclose(f);
		return PIX_ENOMEM;
	}
	if (sz > 0 && fread(buf, 1, (size_t)sz, f) != (size_t)sz) {
		seterr(err, errlen, "read error");
		free(buf);
		fclose(f);
		return PIX_EIO;
	}
	fclose(f);
	rc = pix_read_mem(buf, (size_t)sz, flags, out, err, errlen);
	free(buf);
	if (rc == 0 && out->external && external_decoder) {
		/* A compressed syntax: the external decoder reads the pixels. */
		out->skip[0] = '\0';
		if (flags & PIX_READ_PIXELS) {
			rc = external_decoder(path, &out->pixels, out->rows, out->cols, err, errlen);
			if (rc < 0) {
				out->pixels = NULL;
				return rc == PIX_EUNSUPP ? PIX_EUNSUPP : PIX_ECORRUPT;
			}
		}
	}
	return rc;
}

void pix_image_free(struct pix_image *im)
{
	free(im->pixels);
	im->pixels = NULL;
}

const char *pix_strerror(int err)
{
	switch (err) {
	case 0: return "success";
	case PIX_ENOTDICOM: return "not a DICOM file";
	case PIX_ECORRUPT: return "corrupt DICOM file";
	case PIX_EIO: return "I/O error";
	case PIX_ETOOBIG: return "too large";
	case PIX_ENOMEM: return "out of memory";
	case PIX_EUNSUPP: return "unsupported transfer syntax";
	default: return "unknown error";
	}
}
