/*
 * Fills struct dcm_attrs (attrs.h) from the top level of a data set. Strings: trailing spaces
 * and NULs removed (PS3.5 6.2), and leading spaces too for the VRs whose leading spaces are
 * insignificant (AE CS DA DS IS LO SH TM UI); PN keeps them. US values are rendered as decimal
 * text in the value's byte order. A value longer than its field is cut and `truncated` set;
 * so is a wanted value longer than DCM_MAX_CAPTURE (it is then left empty).
 */
#include <stdio.h>
#include <string.h>

#include "dicom/attrs_parser.h"

#define F(tag, field) { tag, offsetof(struct dcm_attrs, field), sizeof ((struct dcm_attrs *)0)->field }

struct field {
	uint32_t tag;
	size_t off, size;
};

static const struct field fields[] = {
	F(0x00080005, specific_charset),
	F(0x00100020, patient_id),
	F(0x00100010, patient_name),
	F(0x00100030, patient_birth_date),
	F(0x00100040, patient_sex),
	F(0x0020000D, study_uid),
	F(0x00080020, study_date),
	F(0x00080030, study_time),
	F(0x00081030, study_description),
	F(0x00080050, accession_number),
	F(0x00200010, study_id),
	F(0x0020000E, series_uid),
	F(0x00200011, series_number),
	F(0x00080060, modality),
	F(0x0008103E, series_description),
	F(0x00080018, sop_instance_uid),
	F(0x00080016, sop_class_uid),
	F(0x00200013, instance_number),
	F(0x00280010, rows),
	F(0x00280011, columns),
	F(0x00280008, number_of_frames),
	F(0x00200032, image_position),
	F(0x00200037, image_orientation),
	F(0x00280030, pixel_spacing),
	F(0x00180050, slice_thickness),
	F(0x00201002, images_in_acquisition),
};

static const struct field *find_field(uint32_t tag)
{
	for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
		if (fields[i].tag == tag)
			return &fields[i];
	return NULL;
}

static int on_element(void *ctx, const struct dcm_elem *e)
{
	struct dcm_attrs_parser *ap = ctx;

	if (e->depth != 0 || find_field(e->tag) == NULL)
		return 0;
	if (e->length > DCM_MAX_CAPTURE) {
		ap->out->truncated = true;
		return 0;
	}
	return DCM_WANT_VALUE;
}

static bool leading_insignificant(const char *vr)
{
	static const char list[] = "AECSDADSISLOSHTMUIUN";
	for (size_t i = 0; list[i]; i += 2)
		if (vr[0] == list[i] && vr[1] == list[i + 1])
			return true;
	return false;
}

static void store(struct dcm_attrs *a, const struct field *f, const char *s, size_t n)
{
	char *dst = (char *)a + f->off;

	if (n >= f->size) {
		n = f->size - 1;
		a->truncated = true;
	}
	memcpy(dst, s, n);
	dst[n] = '\0';
}

static int on_value(void *ctx, const struct dcm_elem *e, const uint8_t *val, size_t len)
{
	struct dcm_attrs_parser *ap = ctx;
	const struct field *f = find_field(e->tag);
	const char *s = (const char *)val;

	if (f == NULL)
		return 0;
	if (e->tag == DCM_TAG(0x0028, 0x0010) || e->tag == DCM_TAG(0x0028, 0x0011)) {
		char num[8];
		int n;
		/* US (PS3.3 C.7.6.3); an explicit VR other than US is not trusted */
		if (len != 2 || (e->vr[0] && strcmp(e->vr, "US") != 0 && strcmp(e->vr, "UN") != 0))
			return 0;
		n = snprintf(num, sizeof num, "%u", (unsigned)dcm_get_u16(e, val));
		store(ap->out, f, num, (size_t)n);
		return 0;
	}
	while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\0'))
		len--;
	if (leading_insignificant(e->vr))
		while (len > 0 && s[0] == ' ') {
			s++;
			len--;
		}
	store(ap->out, f, s, len);
	return 0;
}

int dcm_attrs_parser_init(struct dcm_attrs_parser *ap, const struct dcm_ts *ts,
			  struct dcm_attrs *out)
{
	struct dcm_parser_cb cb = {.ctx = ap, .on_element = on_element, .on_value = on_value};

	memset(out, 0, sizeof *out);
	ap->out = out;
	return dcm_parser_init(&ap->p, ts, &cb);
}

int dcm_attrs_parser_feed(struct dcm_attrs_parser *ap, const uint8_t *buf, size_t len)
{
	return dcm_parser_feed(&ap->p, buf, len);
}

int dcm_attrs_parser_finish(struct dcm_attrs_parser *ap)
{
	return dcm_parser_finish(&ap->p);
}

void dcm_attrs_parser_free(struct dcm_attrs_parser *ap)
{
	dcm_parser_free(&ap->p);
}

int dcm_attrs_parse(const struct dcm_ts *ts, const uint8_t *buf, size_t len,
		    struct dcm_attrs *out)
{
	struct dcm_attrs_parser ap;
	int rc = dcm_attrs_parser_init(&ap, ts, out);

	if (rc == 0)
		rc = dcm_attrs_parser_feed(&ap, buf, len);
	if (rc == 0)
		rc = dcm_attrs_parser_finish(&ap);
	dcm_attrs_parser_free(&ap);
	return rc;
}
