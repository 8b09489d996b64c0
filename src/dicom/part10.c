/*
 * Part 10 file meta information (PS3.10 7.1) and UUID-derived UIDs (PS3.5 B.2, ITU-T X.667).
 * The meta group is always Explicit VR Little Endian whatever the data set's transfer syntax.
 */
#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include "dicom/dict.h"
#include "dicom/error.h"
#include "dicom/part10.h"
#include "dicom/uid.h"

static bool fits(const char *s, size_t max)
{
	for (size_t i = 0; i <= max; i++)
		if (s[i] == '\0')
			return true;
	return false;
}

int dcm_part10_write_header(struct dcm_buf *out, const struct dcm_meta *m)
{
	static const uint8_t version[2] = {0x00, 0x01};
	const char *impl_uid = m->impl_class_uid[0] ? m->impl_class_uid : DCM_IMPL_CLASS_UID;
	const char *impl_ver = m->impl_class_uid[0] ? m->impl_version : DCM_IMPL_VERSION;
	size_t old = out->len, gl_pos;
	uint8_t zero[DCM_PREAMBLE_LEN] = {0};
	uint32_t gl;
	int rc;

	if (!dcm_uid_valid(m->sop_class_uid) || !dcm_uid_valid(m->sop_instance_uid) ||
	    !dcm_uid_valid(m->ts_uid) || !dcm_uid_valid(impl_uid) ||
	    !fits(impl_ver, 16) || !fits(m->source_ae, 16))
		return -EINVAL;
	if ((rc = dcm_buf_append(out, zero, sizeof zero)) < 0 ||
	    (rc = dcm_buf_append(out, "DICM", 4)) < 0 ||
	    (rc = dcm_put_u32(out, DCM_TAG(0x0002, 0x0000), 0, true)) < 0)
		goto fail;
	gl_pos = out->len;
	if ((rc = dcm_put_bytes(out, DCM_TAG(0x0002, 0x0001), "OB", version, 2, true)) < 0 ||
	    (rc = dcm_put_str(out, DCM_TAG(0x0002, 0x0002), "UI", m->sop_class_uid, true)) < 0 ||
	    (rc = dcm_put_str(out, DCM_TAG(0x0002, 0x0003), "UI", m->sop_instance_uid, true)) < 0 ||
	    (rc = dcm_put_str(out, DCM_TAG(0x0002, 0x0010), "UI", m->ts_uid, true)) < 0 ||
	    (rc = dcm_put_str(out, DCM_TAG(0x0002, 0x0012), "UI", impl_uid, true)) < 0)
		goto fail;
	if (impl_ver[0] && (rc = dcm_put_str(out, DCM_TAG(0x0002, 0x0013), "SH", impl_ver, true)) < 0)
		goto fail;
	if (m->source_ae[0] &&
	    (rc = dcm_put_str(out, DCM_TAG(0x0002, 0x0016), "AE", m->source_ae, true)) < 0)
		goto fail;
	/* (0002,0000): bytes after the end of this element up to the end of the group */
	gl = (uint32_t)(out->len - gl_pos);
	out->data[gl_pos - 4] = (uint8_t)gl;
	out->data[gl_pos - 3] = (uint8_t)(gl >> 8);
	out->data[gl_pos - 2] = (uint8_t)(gl >> 16);
	out->data[gl_pos - 1] = (uint8_t)(gl >> 24);
	return 0;
fail:
	out->len = old;
	return rc;
}

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Copy a string value into dst (size cap incl. NUL), trimmed; DCM_EMETA if too long. */
static int copy_str(char *dst, size_t cap, const uint8_t *v, uint32_t n)
{
	while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\0'))
		n--;
	while (n > 0 && v[0] == ' ') {
		v++;
		n--;
	}
	if (n >= cap)
		return DCM_EMETA;
	memcpy(dst, v, n);
	dst[n] = '\0';
	return 0;
}

int dcm_part10_read_header(const uint8_t *buf, size_t len, struct dcm_meta *m,
			   size_t *dataset_offset)
{
	size_t off = DCM_PREAMBLE_LEN + 4, end = SIZE_MAX;
	int rc;

	memset(m, 0, sizeof *m);
	if (len < off)
		return DCM_EMORE;
	if (memcmp(buf + DCM_PREAMBLE_LEN, "DICM", 4) != 0)
		return DCM_EMETA;
	for (;;) {
		uint16_t group, elem;
		uint32_t vlen;
		size_t hlen;
		const uint8_t *h = buf + off;

		if (off == end)
			break;
		if (off - DCM_PREAMBLE_LEN > DCM_META_MAX)
			return DCM_EMETA;
		if (len - off < 4)
			return DCM_EMORE;
		group = le16(h);
		elem = le16(h + 2);
		if (group != 0x0002)
			break; /* tolerate a (0002,0000) that overstates the group */
		if (len - off < 8)
			return DCM_EMORE;
		if (h[4] < 'A' || h[4] > 'Z' || h[5] < 'A' || h[5] > 'Z')
			return DCM_EMETA; /* PS3.10 7.1: the meta group is explicit VR */
		if (dcm_vr_is_long((const char *)h + 4)) {
			if (len - off < 12)
				return DCM_EMORE;
			vlen = le32(h + 8);
			hlen = 12;
		} else {
			vlen = le16(h + 6);
			hlen = 8;
		}
		if (vlen > DCM_META_MAX)
			return DCM_EMETA;
		if (len - off - hlen < vlen)
			return DCM_EMORE;
		h += hlen;
		rc = 0;
		switch (elem) {
		case 0x0000:
			if (vlen != 4)
				return DCM_EMETA;
			if (le32(h) > DCM_META_MAX)
				return DCM_EMETA;
			end = off + hlen + 4 + le32(h);
			break;
		case 0x0002: rc = copy_str(m->sop_class_uid, sizeof m->sop_class_uid, h, vlen); break;
		case 0x0003: rc = copy_str(m->sop_instance_uid, sizeof m->sop_instance_uid, h, vlen); break;
		case 0x0010: rc = copy_str(m->ts_uid, sizeof m->ts_uid, h, vlen); break;
		case 0x0012: rc = copy_str(m->impl_class_uid, sizeof m->impl_class_uid, h, vlen); break;
		case 0x0013: rc = copy_str(m->impl_version, sizeof m->impl_version, h, vlen); break;
		case 0x0016: rc = copy_str(m->source_ae, sizeof m->source_ae, h, vlen); break;
		default: break;
		}
		if (rc < 0)
			return rc;
		off += hlen + vlen;
		if (off > end)
			return DCM_EMETA;
	}
	if (!dcm_uid_valid(m->ts_uid))
		return DCM_EMETA;
	*dataset_offset = off;
	return 0;
}

int dcm_uid_generate(char out[65])
{
	uint8_t r[16];
	uint32_t limb[4];
	char digits[40];
	size_t got = 0, nd = 0;

	while (got < sizeof r) {
		ssize_t n = getrandom(r + got, sizeof r - got, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		got += (size_t)n;
	}
	r[6] = (uint8_t)((r[6] & 0x0F) | 0x40); /* RFC 4122 version 4 */
	r[8] = (uint8_t)((r[8] & 0x3F) | 0x80); /* RFC 4122 variant */
	for (int i = 0; i < 4; i++)
		limb[i] = (uint32_t)r[4 * i] << 24 | (uint32_t)r[4 * i + 1] << 16 |
			  (uint32_t)r[4 * i + 2] << 8 | r[4 * i + 3];
	/* repeated division of the 128-bit big-endian number by 10 */
	do {
		uint64_t rem = 0;
		bool nonzero = false;
		for (int i = 0; i < 4; i++) {
			uint64_t cur = rem << 32 | limb[i];
			limb[i] = (uint32_t)(cur / 10);
			rem = cur % 10;
			nonzero |= limb[i] != 0;
		}
		digits[nd++] = (char)('0' + rem);
		if (!nonzero)
			break;
	} while (nd < sizeof digits);
	memcpy(out, "2.25.", 5);
	for (size_t i = 0; i < nd; i++)
		out[5 + i] = digits[nd - 1 - i];
	out[5 + nd] = '\0';
	return 0;
}
