/*
 * The streaming data set parser (see parser.h). It is a byte-driven state machine:
 *
 *   ST_HDR    assembling an element header: 8 bytes (tag + VR + 16-bit length in explicit VR,
 *             tag + 32-bit length in implicit VR and for items, PS3.5 7.1.2/7.1.3/7.5), or 12
 *             when an explicit VR is one of the long forms (2 reserved bytes + 32-bit length);
 *   ST_VALUE  counting (or capturing) the value bytes of the current element or fragment;
 *   ST_DONE   after a successful finish; ST_FAILED after any error (sticky).
 *
 * Open sequences and items form a stack of frames. A frame of defined length ends at a known
 * stream offset; one of undefined length ends at its delimiter. Each frame also records the
 * nearest defined end among itself and its ancestors (`limit`), so every header and value is
 * checked against the innermost enclosing defined length before it is accepted. Offsets are
 * 64-bit: a data set may exceed 4 GiB when sequences are undefined-length.
 */
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "dicom/parser.h"

enum { ST_HDR = 1, ST_VALUE, ST_DONE, ST_FAILED };
enum { FR_SEQ = 1, FR_PIXSEQ, FR_ITEM };

#define NO_END UINT64_MAX
#define INFLATE_CHUNK 16384

struct zbox {
	z_stream zs;
	uint8_t out[INFLATE_CHUNK];  /* bounded output chunk handed to process() */
};

static uint16_t rd16(bool be, const uint8_t *b)
{
	return be ? (uint16_t)(b[0] << 8 | b[1]) : (uint16_t)(b[1] << 8 | b[0]);
}

static uint32_t rd32(bool be, const uint8_t *b)
{
	return be ? (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3]
	          : (uint32_t)b[3] << 24 | (uint32_t)b[2] << 16 | (uint32_t)b[1] << 8 | b[0];
}

uint16_t dcm_get_u16(const struct dcm_elem *e, const uint8_t *val)
{
	return rd16(e->big_endian, val);
}

uint32_t dcm_get_u32(const struct dcm_elem *e, const uint8_t *val)
{
	return rd32(e->big_endian, val);
}

static struct dcm_frame *top_frame(struct dcm_parser *p)
{
	return p->nframes ? &p->frames[p->nframes - 1] : NULL;
}

static int call(struct dcm_parser *p, int (*fn)(void *, const struct dcm_elem *),
		const struct dcm_elem *e)
{
	return fn ? fn(p->cb.ctx, e) : 0;
}

/* Bytes per value of the fixed-width numeric VRs (PS3.5 6.2); 0 for the others. */
static unsigned vr_width(const char *vr)
{
	static const char w2[] = "USSS", w4[] = "ULSLFLAT", w8[] = "FDSVUV";
	for (unsigned i = 0; w2[i]; i += 2)
		if (vr[0] == w2[i] && vr[1] == w2[i + 1])
			return 2;
	for (unsigned i = 0; w4[i]; i += 2)
		if (vr[0] == w4[i] && vr[1] == w4[i + 1])
			return 4;
	for (unsigned i = 0; w8[i]; i += 2)
		if (vr[0] == w8[i] && vr[1] == w8[i + 1])
			return 8;
	return 0;
}

/* PS3.5 7.1.1: value lengths are even. A numeric VR whose length is not a multiple of its
 * width cannot be decoded and is always an error; other odd lengths only in strict mode
 * (real senders produce them; they are counted). */
static int check_length(struct dcm_parser *p, const char *vr, uint32_t len)
{
	unsigned w = vr[0] ? vr_width(vr) : 0;

	if (w && len % w)
		return DCM_EBADLEN;
	if (len & 1) {
		if (p->strict)
			return DCM_EBADLEN;
		p->odd_lengths++;
	}
	return 0;
}

/* Pop the top frame and report its end. */
static int pop_frame(struct dcm_parser *p)
{
	struct dcm_frame *f = top_frame(p);
	struct dcm_elem el = f->el;

	p->nframes--;
	if (f->kind != FR_ITEM)
		p->sq_depth--;
	return call(p, p->cb.on_end, &el);
}

/* Close every frame whose defined length is used up at the current offset. An undefined-length
 * frame that reaches an enclosing defined end without its delimiter is an error. */
static int close_ended(struct dcm_parser *p)
{
	struct dcm_frame *f;
	int rc;

	while ((f = top_frame(p)) != NULL) {
		if (f->end != NO_END) {
			if (p->pos < f->end)
				break;
			if (p->pos > f->end)
				return DCM_EBADLEN;
			if ((rc = pop_frame(p)) < 0)
				return rc;
		} else {
			if (f->limit != NO_END && p->pos >= f->limit)
				return DCM_EDELIM;
			break;
		}
	}
	return 0;
}

static int push_frame(struct dcm_parser *p, int kind, const struct dcm_elem *e,
		      bool explicit_vr, bool be)
{
	struct dcm_frame *parent = top_frame(p);
	struct dcm_frame *f;
	uint64_t limit = parent ? parent->limit : NO_END;

	if (p->nframes >= sizeof p->frames / sizeof p->frames[0])
		return DCM_EDEPTH;
	f = &p->frames[p->nframes++];
	f->el = *e;
	f->kind = (uint8_t)kind;
	f->explicit_vr = explicit_vr;
	f->big_endian = be;
	if (e->length == DCM_UNDEFINED_LENGTH) {
		f->end = NO_END;
		f->limit = limit;
	} else {
		f->end = p->pos + e->length;
		f->limit = f->end;
	}
	if (kind != FR_ITEM)
		p->sq_depth++;
	return 0;
}

static int finish_value(struct dcm_parser *p)
{
	int rc;

	p->state = ST_HDR;
	if (p->cur_capture && p->cb.on_value) {
		rc = p->cb.on_value(p->cb.ctx, &p->cur, p->cap, p->cap_len);
		if (rc < 0)
			return rc;
	}
	return close_ended(p);
}

/* Start reading the value of `e` (header already consumed); `want` is the callback's answer. */
static int start_value(struct dcm_parser *p, const struct dcm_elem *e, int want)
{
	p->cur = *e;
	p->cur_capture = want == DCM_WANT_VALUE && e->length <= DCM_MAX_CAPTURE && p->cb.on_value;
	p->cap_len = 0;
	p->value_left = e->length;
	if (e->length == 0)
		return finish_value(p);
	p->state = ST_VALUE;
	return 0;
}

/* (FFFE,xxxx): item, item delimiter, sequence delimiter (PS3.5 7.5, A.4). */
static int handle_item(struct dcm_parser *p, uint32_t tag, uint32_t length, bool be)
{
	struct dcm_frame *top = top_frame(p);
	struct dcm_elem e = {.tag = tag, .length = length, .depth = p->sq_depth,
			     .big_endian = be, .value_offset = p->pos};
	uint64_t limit = top ? top->limit : NO_END;
	bool undefined = length == DCM_UNDEFINED_LENGTH;
	int rc;

	switch (tag) {
	case DCM_TAG_ITEM:
		if (!top || top->kind == FR_ITEM)
			return DCM_EDELIM;
		if (!undefined) {
			if ((rc = check_length(p, "", length)) < 0)
				return rc;
			if (p->pos + length > limit)
				return DCM_EBADLEN;
		}
		if (top->kind == FR_PIXSEQ) {
			/* A.4: fragments have defined lengths and hold raw bytes */
			if (undefined)
				return DCM_EBADLEN;
			if ((rc = call(p, p->cb.on_item, &e)) < 0)
				return rc;
			return start_value(p, &e, rc);
		}
		if ((rc = call(p, p->cb.on_item, &e)) < 0)
			return rc;
		if ((rc = push_frame(p, FR_ITEM, &e, top->explicit_vr, top->big_endian)) < 0)
			return rc;
		return close_ended(p);
	case DCM_TAG_ITEM_DELIM:
		if (!top || top->kind != FR_ITEM || top->end != NO_END)
			return DCM_EDELIM;
		if (length != 0)
			return DCM_EBADLEN;
		if ((rc = pop_frame(p)) < 0)
			return rc;
		return close_ended(p);
	case DCM_TAG_SEQ_DELIM:
		if (!top || top->kind == FR_ITEM || top->end != NO_END)
			return DCM_EDELIM;
		if (length != 0)
			return DCM_EBADLEN;
		if ((rc = pop_frame(p)) < 0)
			return rc;
		return close_ended(p);
	default:
		return DCM_EDELIM;
	}
}

static bool vr_is(const char *vr, const char *want)
{
	return vr[0] == want[0] && vr[1] == want[1];
}

/* A complete header is in p->hdr. Returns 1 when 4 more header bytes are needed. */
static int handle_header(struct dcm_parser *p)
{
	struct dcm_frame *top = top_frame(p);
	bool ex = top ? top->explicit_vr : p->ts->explicit_vr;
	bool be = top ? top->big_endian : p->ts->big_endian;
	uint64_t limit = top ? top->limit : NO_END;
	const uint8_t *h = p->hdr;
	uint32_t tag = (uint32_t)rd16(be, h) << 16 | rd16(be, h + 2);
	struct dcm_elem e = {.tag = tag, .depth = p->sq_depth, .big_endian = be};
	bool is_seq = false, is_pix = false, child_implicit = false, undefined;
	int rc;

	if (DCM_GROUP(tag) != 0xFFFE && ex) {
		if (h[4] < 'A' || h[4] > 'Z' || h[5] < 'A' || h[5] > 'Z')
			return DCM_EBADVR;
		if (dcm_vr_is_long((const char *)h + 4) && p->hdr_need == 8) {
			p->hdr_need = 12;
			return 1;
		}
	}
	p->hdr_have = 0;
	p->hdr_need = 8;
	if (p->pos > limit)
		return DCM_EBADLEN;
	if (DCM_GROUP(tag) == 0xFFFE)
		return handle_item(p, tag, rd32(be, h + 4), be);
	if (top && top->kind != FR_ITEM)
		return DCM_EDELIM; /* an element directly inside a sequence, outside any item */

	if (ex) {
		e.vr[0] = (char)h[4];
		e.vr[1] = (char)h[5];
		e.length = dcm_vr_is_long(e.vr) ? rd32(be, h + 8) : rd16(be, h + 6);
	} else {
		memcpy(e.vr, dcm_dict_vr(tag), 3);
		e.length = rd32(be, h + 4);
	}
	e.value_offset = p->pos;
	undefined = e.length == DCM_UNDEFINED_LENGTH;

	if (!ex) {
		if (undefined && tag == DCM_TAG_PIXEL_DATA) {
			is_pix = true;
			memcpy(e.vr, "OB", 3);
		} else if (undefined) {
			is_seq = true; /* PS3.5 7.5: undefined length in implicit VR is a sequence */
			memcpy(e.vr, "SQ", 3);
		} else if (vr_is(e.vr, "SQ")) {
			is_seq = true;
		}
	} else if (vr_is(e.vr, "SQ")) {
		is_seq = true;
	} else if (undefined) {
		if (vr_is(e.vr, "UN")) {
			is_seq = true;          /* PS3.5 6.2.2: implicit VR LE sequence inside */
			child_implicit = true;
		} else if (vr_is(e.vr, "OB") || vr_is(e.vr, "OW")) {
			is_pix = true;          /* PS3.5 A.4 encapsulated fragments */
		} else {
			return DCM_EBADLEN;
		}
	}

	if (is_seq || is_pix) {
		if (!undefined) {
			if ((rc = check_length(p, "", e.length)) < 0)
				return rc;
			if (p->pos + e.length > limit)
				return DCM_EBADLEN;
		}
		if (p->sq_depth >= DCM_MAX_DEPTH)
			return DCM_EDEPTH;
		if ((rc = call(p, p->cb.on_element, &e)) < 0)
			return rc;
		rc = push_frame(p, is_pix ? FR_PIXSEQ : FR_SEQ, &e,
				child_implicit ? false : ex, child_implicit ? false : be);
		if (rc < 0)
			return rc;
		return close_ended(p);
	}

	if ((rc = check_length(p, e.vr, e.length)) < 0)
		return rc;
	if (p->pos + e.length > limit)
		return DCM_EBADLEN;
	if ((rc = call(p, p->cb.on_element, &e)) < 0)
		return rc;
	return start_value(p, &e, rc);
}

/* Parse plain (inflated) data set bytes. */
static int process(struct dcm_parser *p, const uint8_t *data, size_t len)
{
	int rc;

	if (p->max_bytes && (len > p->max_bytes || p->pos > p->max_bytes - len))
		return DCM_ETOOBIG;
	while (len > 0) {
		size_t n;

		if (p->state == ST_HDR) {
			n = p->hdr_need - p->hdr_have;
			if (n > len)
				n = len;
			memcpy(p->hdr + p->hdr_have, data, n);
			p->hdr_have += (unsigned)n;
			p->pos += n;
			data += n;
			len -= n;
			if (p->hdr_have < p->hdr_need)
				break;
			if ((rc = handle_header(p)) < 0)
				return rc;
		} else {
			n = p->value_left < len ? (size_t)p->value_left : len;
			if (p->cur_capture) {
				memcpy(p->cap + p->cap_len, data, n);
				p->cap_len += n;
			}
			p->value_left -= n;
			p->pos += n;
			data += n;
			len -= n;
			if (p->value_left == 0 && (rc = finish_value(p)) < 0)
				return rc;
		}
	}
	return 0;
}

static bool all_zero(const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (b[i])
			return false;
	return true;
}

/* PS3.5 A.5: the data set is one raw deflate stream (RFC 1951, no zlib header). Output is
 * handed on in INFLATE_CHUNK pieces. After the stream's end only NUL padding may follow. */
static int inflate_feed(struct dcm_parser *p, const uint8_t *buf, size_t len)
{
	struct zbox *z = p->z;
	int rc, zrc;

	if (p->z_end)
		return all_zero(buf, len) ? 0 : DCM_EDEFLATE;
	while (len > 0) {
		/* avail_in is a uInt: feed huge buffers in slices */
		uInt slice = len > (1u << 30) ? (1u << 30) : (uInt)len;
		z->zs.next_in = (Bytef *)buf;
		z->zs.avail_in = slice;
		do {
			z->zs.next_out = z->out;
			z->zs.avail_out = sizeof z->out;
			zrc = inflate(&z->zs, Z_NO_FLUSH);
			/* what was inflated before an error is parsed first, so the error reported
			 * does not depend on how the input was chunked */
			if (sizeof z->out - z->zs.avail_out > 0) {
				rc = process(p, z->out, sizeof z->out - z->zs.avail_out);
				if (rc < 0)
					return rc;
			}
			if (zrc == Z_MEM_ERROR)
				return -ENOMEM;
			if (zrc != Z_OK && zrc != Z_STREAM_END && zrc != Z_BUF_ERROR)
				return DCM_EDEFLATE;
			if (zrc == Z_STREAM_END) {
				p->z_end = true;
				if (!all_zero(z->zs.next_in, z->zs.avail_in))
					return DCM_EDEFLATE;
				break;
			}
			if (zrc == Z_BUF_ERROR)
				break;
		} while (z->zs.avail_in > 0 || z->zs.avail_out == 0);
		if (p->z_end)
			return all_zero(buf + slice, len - slice) ? 0 : DCM_EDEFLATE;
		buf += slice;
		len -= slice;
	}
	return 0;
}

int dcm_parser_init(struct dcm_parser *p, const struct dcm_ts *ts, const struct dcm_parser_cb *cb)
{
	memset(p, 0, sizeof *p);
	p->state = ST_FAILED;
	p->err = -EINVAL;
	if (ts == NULL)
		return -EINVAL;
	p->ts = ts;
	if (cb)
		p->cb = *cb;
	if (ts->deflated) {
		struct zbox *z = calloc(1, sizeof *z);
		if (z == NULL)
			return p->err = -ENOMEM;
		if (inflateInit2(&z->zs, -15) != Z_OK) {
			free(z);
			return p->err = DCM_EDEFLATE;
		}
		p->z = z;
	}
	p->state = ST_HDR;
	p->err = 0;
	p->hdr_need = 8;
	return 0;
}

void dcm_parser_set_limit(struct dcm_parser *p, uint64_t max_bytes)
{
	p->max_bytes = max_bytes;
}

void dcm_parser_set_strict(struct dcm_parser *p, bool strict)
{
	p->strict = strict;
}

static int fail(struct dcm_parser *p, int rc)
{
	p->state = ST_FAILED;
	p->err = rc;
	return rc;
}

int dcm_parser_feed(struct dcm_parser *p, const uint8_t *buf, size_t len)
{
	int rc;

	if (p->state == ST_FAILED)
		return p->err;
	if (p->state == ST_DONE)
		return DCM_ESTATE;
	rc = p->z ? inflate_feed(p, buf, len) : process(p, buf, len);
	return rc < 0 ? fail(p, rc) : 0;
}

int dcm_parser_finish(struct dcm_parser *p)
{
	if (p->state == ST_FAILED)
		return p->err;
	if (p->state == ST_DONE)
		return DCM_ESTATE;
	if ((p->z && !p->z_end) || p->state != ST_HDR || p->hdr_have != 0 || p->nframes != 0)
		return fail(p, DCM_ETRUNC);
	p->state = ST_DONE;
	return 0;
}

void dcm_parser_free(struct dcm_parser *p)
{
	struct zbox *z = p->z;

	if (z) {
		inflateEnd(&z->zs);
		free(z);
		p->z = NULL;
	}
}
