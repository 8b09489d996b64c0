/*
 * Element writer (see writer.h): little-endian only, explicit (PS3.5 7.1.2) or implicit
 * (7.1.3) VR. The buffer grows geometrically; an element is either written whole or the
 * buffer is left as it was.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dicom/dict.h"
#include "dicom/writer.h"

void dcm_buf_free(struct dcm_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

int dcm_buf_reserve(struct dcm_buf *b, size_t extra)
{
	size_t want, cap;
	uint8_t *d;

	if (extra > SIZE_MAX - b->len)
		return -ENOMEM;
	want = b->len + extra;
	if (want <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 256;
	while (cap < want)
		cap = cap > SIZE_MAX / 2 ? want : cap * 2;
	d = realloc(b->data, cap);
	if (d == NULL)
		return -ENOMEM;
	b->data = d;
	b->cap = cap;
	return 0;
}

int dcm_buf_append(struct dcm_buf *b, const void *data, size_t len)
{
	int rc = dcm_buf_reserve(b, len);

	if (rc < 0)
		return rc;
	if (len)
		memcpy(b->data + b->len, data, len);
	b->len += len;
	return 0;
}

static void le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

int dcm_put_header(struct dcm_buf *b, uint32_t tag, const char *vr, uint32_t length,
		   bool explicit_vr)
{
	uint8_t h[12];
	size_t n;

	le16(h, DCM_GROUP(tag));
	le16(h + 2, DCM_ELEMENT(tag));
	if (!explicit_vr) {
		le32(h + 4, length);
		n = 8;
	} else {
		if (vr == NULL || vr[0] < 'A' || vr[0] > 'Z' || vr[1] < 'A' || vr[1] > 'Z')
			return -EINVAL;
		h[4] = (uint8_t)vr[0];
		h[5] = (uint8_t)vr[1];
		if (dcm_vr_is_long(vr)) {
			h[6] = h[7] = 0;
			le32(h + 8, length);
			n = 12;
		} else {
			if (length > 0xFFFF)
				return -EINVAL;
			le16(h + 6, (uint16_t)length);
			n = 8;
		}
	}
	return dcm_buf_append(b, h, n);
}

int dcm_put_item_tag(struct dcm_buf *b, uint32_t tag, uint32_t length)
{
	uint8_t h[8];

	le16(h, DCM_GROUP(tag));
	le16(h + 2, DCM_ELEMENT(tag));
	le32(h + 4, length);
	return dcm_buf_append(b, h, sizeof h);
}

/* Header + value + one pad byte when odd, all or nothing. */
static int put_value(struct dcm_buf *b, uint32_t tag, const char *vr, const void *data,
		     size_t len, uint8_t pad, bool explicit_vr)
{
	size_t old = b->len, padded = len + (len & 1);
	int rc;

	if (padded > 0xFFFFFFFEu)
		return -EINVAL;
	if ((rc = dcm_buf_reserve(b, padded + 12)) < 0)
		return rc;
	if ((rc = dcm_put_header(b, tag, vr, (uint32_t)padded, explicit_vr)) < 0) {
		b->len = old;
		return rc;
	}
	dcm_buf_append(b, data, len);   /* cannot fail: reserved */
	if (len & 1)
		dcm_buf_append(b, &pad, 1);
	return 0;
}

int dcm_put_str(struct dcm_buf *b, uint32_t tag, const char *vr, const char *s, bool explicit_vr)
{
	uint8_t pad = (vr && vr[0] == 'U' && vr[1] == 'I') ? 0 : ' ';

	if (s == NULL)
		return -EINVAL;
	return put_value(b, tag, vr, s, strlen(s), pad, explicit_vr);
}

int dcm_put_u16(struct dcm_buf *b, uint32_t tag, uint16_t v, bool explicit_vr)
{
	uint8_t d[2];

	le16(d, v);
	return put_value(b, tag, "US", d, 2, 0, explicit_vr);
}

int dcm_put_u32(struct dcm_buf *b, uint32_t tag, uint32_t v, bool explicit_vr)
{
	uint8_t d[4];

	le32(d, v);
	return put_value(b, tag, "UL", d, 4, 0, explicit_vr);
}

int dcm_put_bytes(struct dcm_buf *b, uint32_t tag, const char *vr, const void *data, size_t len,
		  bool explicit_vr)
{
	if (data == NULL && len)
		return -EINVAL;
	return put_value(b, tag, vr, data, len, 0, explicit_vr);
}
