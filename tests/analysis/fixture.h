/*
 * Test helper (header-only): writes a single-frame MR image as a Part 10 file in memory with
 * src/dicom's writer, with every attribute the analysis reads, so tests can make series of
 * any geometry and pixel encoding without binary fixtures.
 */
#ifndef DICOMAID_TESTS_ANALYSIS_FIXTURE_H
#define DICOMAID_TESTS_ANALYSIS_FIXTURE_H

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "dicom/part10.h"
#include "dicom/uid.h"
#include "dicom/writer.h"

struct fx_image {
	const char *study_uid, *series_uid, *sop_uid;
	const char *modality;          /* NULL: "MR" */
	const char *photometric;       /* NULL: "MONOCHROME2" */
	bool implicit_vr;
	int rows, cols;
	int bits_allocated, bits_stored, high_bit, pixel_rep;
	double ipp[3], iop[6], spacing[2], thickness;
	const char *slope, *intercept; /* DS text or NULL (absent) */
	int instance;
	const void *pixels;            /* raw little-endian stored values, rows*cols*bytes */
};

static inline int fx_ds(char *out, size_t len, const double *v, int n)
{
	size_t o = 0;
	out[0] = '\0';
	for (int i = 0; i < n && o < len; i++)
		o += (size_t)snprintf(out + o, len - o, "%s%.6g", i ? "\\" : "", v[i]);
	return 0;
}

/* Append a Part 10 file for `im` to out (zeroed dcm_buf). Returns 0 or a negative errno. */
static inline int fx_write(struct dcm_buf *out, const struct fx_image *im)
{
	struct dcm_meta meta;
	bool ex = !im->implicit_vr;
	char t[256];
	int rc = 0;
	size_t bytes = (size_t)im->rows * (size_t)im->cols * (size_t)(im->bits_allocated / 8);

	memset(&meta, 0, sizeof meta);
	snprintf(meta.sop_class_uid, sizeof meta.sop_class_uid, "1.2.840.10008.5.1.4.1.1.4");
	snprintf(meta.sop_instance_uid, sizeof meta.sop_instance_uid, "%s", im->sop_uid);
	snprintf(meta.ts_uid, sizeof meta.ts_uid, "%s",
		 ex ? DCM_TS_EXPLICIT_LE : DCM_TS_IMPLICIT_LE);
	rc |= dcm_part10_write_header(out, &meta);
	rc |= dcm_put_str(out, 0x00080016, "UI", meta.sop_class_uid, ex);
	rc |= dcm_put_str(out, 0x00080018, "UI", im->sop_uid, ex);
	rc |= dcm_put_str(out, 0x00080060, "CS", im->modality ? im->modality : "MR", ex);
	fx_ds(t, sizeof t, &im->thickness, 1);
	rc |= dcm_put_str(out, 0x00180050, "DS", t, ex);
	rc |= dcm_put_str(out, 0x0020000D, "UI", im->study_uid, ex);
	rc |= dcm_put_str(out, 0x0020000E, "UI", im->series_uid, ex);
	snprintf(t, sizeof t, "%d", im->instance);
	rc |= dcm_put_str(out, 0x00200013, "IS", t, ex);
	fx_ds(t, sizeof t, im->ipp, 3);
	rc |= dcm_put_str(out, 0x00200032, "DS", t, ex);
	fx_ds(t, sizeof t, im->iop, 6);
	rc |= dcm_put_str(out, 0x00200037, "DS", t, ex);
	rc |= dcm_put_u16(out, 0x00280002, 1, ex);
	rc |= dcm_put_str(out, 0x00280004, "CS", im->photometric ? im->photometric : "MONOCHROME2",
			  ex);
	rc |= dcm_put_u16(out, 0x00280010, (uint16_t)im->rows, ex);
	rc |= dcm_put_u16(out, 0x00280011, (uint16_t)im->cols, ex);
	fx_ds(t, sizeof t, im->spacing, 2);
	rc |= dcm_put_str(out, 0x00280030, "DS", t, ex);
	rc |= dcm_put_u16(out, 0x00280100, (uint16_t)im->bits_allocated, ex);
	rc |= dcm_put_u16(out, 0x00280101, (uint16_t)im->bits_stored, ex);
	rc |= dcm_put_u16(out, 0x00280102, (uint16_t)im->high_bit, ex);
	rc |= dcm_put_u16(out, 0x00280103, (uint16_t)im->pixel_rep, ex);
	if (im->intercept)
		rc |= dcm_put_str(out, 0x00281052, "DS", im->intercept, ex);
	if (im->slope)
		rc |= dcm_put_str(out, 0x00281053, "DS", im->slope, ex);
	rc |= dcm_put_bytes(out, 0x7FE00010, im->bits_allocated == 8 ? "OB" : "OW", im->pixels,
			    bytes, ex);
	return rc ? -EINVAL : 0;
}

static inline int fx_save(const char *path, const struct fx_image *im)
{
	struct dcm_buf b = {0};
	FILE *f;
	int rc = fx_write(&b, im);

	if (rc == 0) {
		f = fopen(path, "wb");
		if (f == NULL || fwrite(b.data, 1, b.len, f) != b.len)
			rc = -EIO;
		if (f && fclose(f) != 0)
			rc = -EIO;
	}
	dcm_buf_free(&b);
	return rc;
}

#endif
