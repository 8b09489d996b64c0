/*
 * A small driver for the shell tests (tests/dicom/part10_dcmdump.sh) that cross-check the
 * codec against dcmtk:
 *   dcmtool write TS-UID OUT   write a Part 10 file (our header + a data set made with the
 *                              writer; deflated with zlib when TS is Deflated Explicit LE)
 *   dcmtool attrs FILE         read FILE's header, parse its data set with the attrs
 *                              collector, print key=value lines
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "dicom/attrs_parser.h"
#include "dicom/part10.h"
#include "dicom/writer.h"

static int build_dataset(struct dcm_buf *b, bool ex, const char *sop_uid)
{
	static const uint16_t pixels[4] = {0, 100, 200, 300};
	int rc = 0;

	rc |= dcm_put_str(b, DCM_TAG(0x0008, 0x0005), "CS", "ISO_IR 100", ex);
	rc |= dcm_put_str(b, DCM_TAG(0x0008, 0x0016), "UI", "1.2.840.10008.5.1.4.1.1.4", ex);
	rc |= dcm_put_str(b, DCM_TAG(0x0008, 0x0018), "UI", sop_uid, ex);
	rc |= dcm_put_str(b, DCM_TAG(0x0008, 0x0020), "DA", "20261125", ex);
	rc |= dcm_put_str(b, DCM_TAG(0x0008, 0x0060), "CS", "MR", ex);
	rc |= dcm_put_header(b, DCM_TAG(0x0008, 0x1140), "SQ", DCM_UNDEFINED_LENGTH, ex);
	rc |= dcm_put_item_tag(b, DCM_TAG_ITEM, DCM_UNDEFINED_LENGTH);
	rc |= dcm_put_str(b, DCM_TAG(0x0008, 0x1150), "UI", "1.2.840.10008.5.1.4.1.1.4", ex);
	rc |= dcm_put_str(b, DCM_TAG(0x0008, 0x1155), "UI", "1.2.3.4.5.6", ex);
	rc |= dcm_put_item_tag(b, DCM_TAG_ITEM_DELIM, 0);
	rc |= dcm_put_item_tag(b, DCM_TAG_SEQ_DELIM, 0);
	rc |= dcm_put_str(b, DCM_TAG(0x0010, 0x0010), "PN", "Test^Dicomaid", ex);
	rc |= dcm_put_str(b, DCM_TAG(0x0010, 0x0020), "LO", "DA001", ex);
	rc |= dcm_put_str(b, DCM_TAG(0x0020, 0x000D), "UI", "1.2.826.0.1.3680043.9.1", ex);
	rc |= dcm_put_str(b, DCM_TAG(0x0020, 0x000E), "UI", "1.2.826.0.1.3680043.9.1.1", ex);
	rc |= dcm_put_str(b, DCM_TAG(0x0020, 0x0013), "IS", "3", ex);
	rc |= dcm_put_u16(b, DCM_TAG(0x0028, 0x0002), 1, ex);
	rc |= dcm_put_str(b, DCM_TAG(0x0028, 0x0004), "CS", "MONOCHROME2", ex);
	rc |= dcm_put_u16(b, DCM_TAG(0x0028, 0x0010), 2, ex);
	rc |= dcm_put_u16(b, DCM_TAG(0x0028, 0x0011), 2, ex);
	rc |= dcm_put_u16(b, DCM_TAG(0x0028, 0x0100), 16, ex);
	rc |= dcm_put_u16(b, DCM_TAG(0x0028, 0x0101), 16, ex);
	rc |= dcm_put_u16(b, DCM_TAG(0x0028, 0x0102), 15, ex);
	rc |= dcm_put_u16(b, DCM_TAG(0x0028, 0x0103), 0, ex);
	rc |= dcm_put_bytes(b, DCM_TAG_PIXEL_DATA, "OW", pixels, sizeof pixels, ex);
	return rc ? -1 : 0;
}

static int deflate_buf(const struct dcm_buf *in, struct dcm_buf *out)
{
	z_stream zs = {0};
	int zrc;

	if (deflateInit2(&zs, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return -1;
	if (dcm_buf_reserve(out, deflateBound(&zs, in->len) + 1) < 0)
		return -1;
	zs.next_in = in->data;
	zs.avail_in = (uInt)in->len;
	zs.next_out = out->data + out->len;
	zs.avail_out = (uInt)(out->cap - out->len);
	zrc = deflate(&zs, Z_FINISH);
	out->len += zs.total_out;
	deflateEnd(&zs);
	if (zrc != Z_STREAM_END)
		return -1;
	if (out->len & 1)
		out->data[out->len++] = 0; /* PS3.10: pad the deflated data set to even length */
	return 0;
}

static int cmd_write(const char *ts_uid, const char *path)
{
	const struct dcm_ts *ts = dcm_ts_find(ts_uid);
	struct dcm_meta m = {0};
	struct dcm_buf file = {0}, ds = {0};
	FILE *f;
	int rc = 1;

	if (ts == NULL || ts->big_endian || ts->encapsulated) {
		fprintf(stderr, "dcmtool: cannot write %s\n", ts_uid);
		return 2;
	}
	strcpy(m.sop_class_uid, "1.2.840.10008.5.1.4.1.1.4");
	if (dcm_uid_generate(m.sop_instance_uid) < 0)
		return 1;
	strcpy(m.ts_uid, ts_uid);
	strcpy(m.source_ae, "DCMTOOL");
	if (dcm_part10_write_header(&file, &m) < 0 ||
	    build_dataset(&ds, ts->explicit_vr, m.sop_instance_uid) < 0)
		goto out;
	if (ts->deflated ? deflate_buf(&ds, &file) < 0 : dcm_buf_append(&file, ds.data, ds.len) < 0)
		goto out;
	f = fopen(path, "wb");
	if (f == NULL || fwrite(file.data, 1, file.len, f) != file.len || fclose(f) != 0) {
		perror(path);
		goto out;
	}
	printf("sop_instance_uid=%s\n", m.sop_instance_uid);
	rc = 0;
out:
	dcm_buf_free(&file);
	dcm_buf_free(&ds);
	return rc;
}

static int cmd_attrs(const char *path)
{
	FILE *f = fopen(path, "rb");
	struct dcm_meta m;
	struct dcm_attrs a;
	const struct dcm_ts *ts;
	uint8_t *d;
	long n;
	size_t off;
	int rc;

	if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0) {
		perror(path);
		return 1;
	}
	rewind(f);
	d = malloc((size_t)n + 1);
	if (d == NULL || fread(d, 1, (size_t)n, f) != (size_t)n)
		return 1;
	fclose(f);
	if ((rc = dcm_part10_read_header(d, (size_t)n, &m, &off)) < 0) {
		fprintf(stderr, "dcmtool: %s: %s\n", path, dcm_strerror(rc));
		return 1;
	}
	if ((ts = dcm_ts_find(m.ts_uid)) == NULL) {
		fprintf(stderr, "dcmtool: %s: unknown transfer syntax %s\n", path, m.ts_uid);
		return 1;
	}
	/* feed in odd-sized chunks, as PDV fragments would arrive */
	struct dcm_attrs_parser ap;
	rc = dcm_attrs_parser_init(&ap, ts, &a);
	for (size_t i = off; rc == 0 && i < (size_t)n; i += 97)
		rc = dcm_attrs_parser_feed(&ap, d + i, (size_t)n - i < 97 ? (size_t)n - i : 97);
	if (rc == 0)
		rc = dcm_attrs_parser_finish(&ap);
	dcm_attrs_parser_free(&ap);
	free(d);
	if (rc < 0) {
		fprintf(stderr, "dcmtool: %s: %s\n", path, dcm_strerror(rc));
		return 1;
	}
	printf("ts=%s\nmeta_sop_instance_uid=%s\nimpl_class_uid=%s\n", m.ts_uid,
	       m.sop_instance_uid, m.impl_class_uid);
	printf("patient_name=%s\npatient_id=%s\nmodality=%s\nsop_instance_uid=%s\n"
	       "sop_class_uid=%s\nstudy_uid=%s\nseries_uid=%s\nrows=%s\ncolumns=%s\n"
	       "instance_number=%s\nimage_position=%s\npixel_spacing=%s\nslice_thickness=%s\n"
	       "specific_charset=%s\nstudy_date=%s\ntruncated=%d\n",
	       a.patient_name, a.patient_id, a.modality, a.sop_instance_uid, a.sop_class_uid,
	       a.study_uid, a.series_uid, a.rows, a.columns, a.instance_number, a.image_position,
	       a.pixel_spacing, a.slice_thickness, a.specific_charset, a.study_date, a.truncated);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "write") == 0)
		return cmd_write(argv[2], argv[3]);
	if (argc == 3 && strcmp(argv[1], "attrs") == 0)
		return cmd_attrs(argv[2]);
	fprintf(stderr, "usage: dcmtool write TS-UID OUT | dcmtool attrs FILE\n");
	return 2;
}
