/*
 * Real files: the MR_small*.dcm set shipped by Debian's python3-pydicom (the same 64x64 MR
 * slice in every transfer syntax). Read the Part 10 header with dcm_part10_read_header, parse
 * the data set with the attrs collector, and compare with the values dcmdump (dcmtk 3.6.7)
 * prints for these files. The directory comes from $DICOMAID_TEST_FILES, default below.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "dicom/attrs_parser.h"
#include "dicom/part10.h"
#include "events.h"

#define DEFAULT_DIR "/usr/lib/python3/dist-packages/pydicom/data/test_files"

static uint8_t *slurp(const char *name, size_t *len)
{
	const char *dir = getenv("DICOMAID_TEST_FILES");
	char path[4096];
	FILE *f;
	uint8_t *d;
	long n;

	snprintf(path, sizeof path, "%s/%s", dir && *dir ? dir : DEFAULT_DIR, name);
	f = fopen(path, "rb");
	cr_assert_not_null(f, "cannot open %s (install python3-pydicom or set DICOMAID_TEST_FILES)",
			   path);
	cr_assert_eq(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	cr_assert_gt(n, 0);
	rewind(f);
	d = malloc((size_t)n);
	cr_assert_not_null(d);
	cr_assert_eq(fread(d, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return d;
}

struct file_case {
	const char *name;
	size_t size;
	const char *ts;
	unsigned group_length;
	const char *impl_uid, *impl_version, *source_ae;
	const char *pixel_event;     /* the (7FE0,0010) event line, up to d= */
	const char *fragment_event;  /* last fragment, or NULL */
	bool trailing_padding;       /* (FFFC,FFFC) present */
};

static const struct file_case cases[] = {
	{"MR_small.dcm", 9830, "1.2.840.10008.1.2.1", 190, "1.3.6.1.4.1.5962.2", "DCTOOL100",
	 "CLUNIE1", "E (7FE0,0010) OW len=8192 d=0", NULL, true},
	{"MR_small_implicit.dcm", 9702, "1.2.840.10008.1.2", 204, "1.2.276.0.7230010.3.0.3.6.3",
	 "OFFIS_DCMTK_363", "CLUNIE1", "E (7FE0,0010) OW len=8192 d=0", NULL, false},
	{"MR_small_bigendian.dcm", 9708, "1.2.840.10008.1.2.2", 206, "1.2.276.0.7230010.3.0.3.6.3",
	 "OFFIS_DCMTK_363", "CLUNIE1", "E (7FE0,0010) OW len=8192 d=0", NULL, false},
	{"MR_small_expb.dcm", 9846, "1.2.840.10008.1.2.2", 206, "1.2.276.0.7230010.3.0.3.6.2",
	 "OFFIS_DCMTK_362", "CLUNIE1", "E (7FE0,0010) OW len=8192 d=0", NULL, true},
	{"MR_small_padded.dcm", 9958, "1.2.840.10008.1.2.1", 190, "1.3.6.1.4.1.5962.2", "DCTOOL100",
	 "CLUNIE1", "E (7FE0,0010) OW len=8320 d=0", NULL, true},
	{"MR_small_RLE.dcm", 7790, "1.2.840.10008.1.2.5", 206, "1.2.276.0.7230010.3.0.3.6.1",
	 "OFFIS_DCMTK_361", "CLUNIE1", "E (7FE0,0010) OB len=4294967295 d=0",
	 "I (FFFE,E000) - len=6108 d=1", true},
	{"MR_small_jpeg_ls_lossless.dcm", 6124, "1.2.840.10008.1.2.4.80", 222,
	 "1.2.826.0.1.3680043.2.1143.107.104.103.115.2.2.4", "GDCM 2.2.4", "gdcmconv",
	 "E (7FE0,0010) OW len=4294967295 d=0", "I (FFFE,E000) - len=4430 d=1", true},
	{"MR_small_jp2klossless.dcm", 0, "1.2.840.10008.1.2.4.90", 222,
	 "1.2.826.0.1.3680043.2.1143.107.104.103.115.2.2.4", "GDCM 2.2.4", "gdcmconv",
	 "E (7FE0,0010) OW len=4294967295 d=0", "I (FFFE,E000) - len=4314 d=1", true},
};

#define SOP_INSTANCE "1.3.6.1.4.1.5962.1.1.4.1.1.20040826185059.5457"

static void check_attrs(const struct dcm_attrs *a)
{
	cr_assert_str_eq(a->specific_charset, "");
	cr_assert_str_eq(a->patient_id, "4MR1");
	cr_assert_str_eq(a->patient_name, "CompressedSamples^MR1");
	cr_assert_str_eq(a->patient_birth_date, "");
	cr_assert_str_eq(a->patient_sex, "F");
	cr_assert_str_eq(a->study_uid, "1.3.6.1.4.1.5962.1.2.4.20040826185059.5457");
	cr_assert_str_eq(a->study_date, "20040826");
	cr_assert_str_eq(a->study_time, "185059");
	cr_assert_str_eq(a->study_description, "");
	cr_assert_str_eq(a->accession_number, "");
	cr_assert_str_eq(a->study_id, "4MR1");
	cr_assert_str_eq(a->series_uid, "1.3.6.1.4.1.5962.1.3.4.1.20040826185059.5457");
	cr_assert_str_eq(a->series_number, "1");
	cr_assert_str_eq(a->modality, "MR");
	cr_assert_str_eq(a->series_description, "");
	cr_assert_str_eq(a->sop_instance_uid, SOP_INSTANCE);
	cr_assert_str_eq(a->sop_class_uid, "1.2.840.10008.5.1.4.1.1.4");
	cr_assert_str_eq(a->instance_number, "1");
	cr_assert_str_eq(a->rows, "64");
	cr_assert_str_eq(a->columns, "64");
	cr_assert_str_eq(a->number_of_frames, "");
	cr_assert_str_eq(a->image_position, "-83.9063\\-91.2000\\6.6406");
	cr_assert_str_eq(a->image_orientation, "1.0000\\0.0000\\0.0000\\0.0000\\1.0000\\0.0000");
	cr_assert_str_eq(a->pixel_spacing, "0.3125\\0.3125");
	cr_assert_str_eq(a->slice_thickness, "0.8000");
	cr_assert_not(a->truncated);
}

static void check_file(const struct file_case *c)
{
	size_t len, off;
	uint8_t *d = slurp(c->name, &len);
	struct dcm_meta m;
	const struct dcm_ts *ts;
	struct dcm_attrs a, b;
	char *ev, *ev1, *last;
	int rc;

	if (c->size)
		cr_assert_eq(len, c->size, "%s", c->name);
	/* the header reader asks for more until it has the whole meta group */
	cr_assert_eq(dcm_part10_read_header(d, 100, &m, &off), DCM_EMORE);
	cr_assert_eq(dcm_part10_read_header(d, 144 + c->group_length - 1, &m, &off), DCM_EMORE);
	cr_assert_eq(dcm_part10_read_header(d, len, &m, &off), 0, "%s", c->name);
	cr_assert_eq(off, 144 + c->group_length);
	cr_assert_eq(dcm_part10_read_header(d, off, &m, &off), 0);
	cr_assert_str_eq(m.ts_uid, c->ts);
	cr_assert_str_eq(m.sop_class_uid, "1.2.840.10008.5.1.4.1.1.4");
	cr_assert_str_eq(m.sop_instance_uid, SOP_INSTANCE);
	cr_assert_str_eq(m.impl_class_uid, c->impl_uid);
	cr_assert_str_eq(m.impl_version, c->impl_version);
	cr_assert_str_eq(m.source_ae, c->source_ae);
	ts = dcm_ts_find(m.ts_uid);
	cr_assert_not_null(ts);

	/* attributes, whole and in two pieces split at every offset, and byte by byte */
	cr_assert_eq(dcm_attrs_parse(ts, d + off, len - off, &a), 0, "%s", c->name);
	check_attrs(&a);
	cr_assert_str_eq(a.sop_instance_uid, m.sop_instance_uid);
	for (size_t k = 0; k <= len - off; k++) {
		struct dcm_attrs_parser ap;
		cr_assert_eq(dcm_attrs_parser_init(&ap, ts, &b), 0);
		cr_assert_eq(dcm_attrs_parser_feed(&ap, d + off, k), 0);
		cr_assert_eq(dcm_attrs_parser_feed(&ap, d + off + k, len - off - k), 0);
		cr_assert_eq(dcm_attrs_parser_finish(&ap), 0);
		dcm_attrs_parser_free(&ap);
		cr_assert_eq(memcmp(&a, &b, sizeof a), 0, "%s split at %zu", c->name, k);
	}

	/* the event stream: pixel data and its fragments, padding, byte-by-byte identical */
	rc = ev_parse(ts, d + off, len - off, len, 0, &ev, 64);
	cr_assert_eq(rc, 0, "%s", ev);
	rc = ev_parse(ts, d + off, len - off, 0, 1, &ev1, 64);
	cr_assert_eq(rc, 0);
	cr_assert_str_eq(ev, ev1);
	cr_assert(strstr(ev, c->pixel_event) != NULL, "%s: no \"%s\" in\n%s", c->name,
		  c->pixel_event, ev);
	if (c->fragment_event) {
		cr_assert(strstr(ev, c->fragment_event) != NULL, "%s", c->name);
		cr_assert(strstr(ev, "X (7FE0,0010)") != NULL);
	}
	cr_assert_eq(strstr(ev, "E (FFFC,FFFC)") != NULL, c->trailing_padding, "%s", c->name);
	/* the data set ends with pixel data or its padding */
	last = strstr(ev, "E (7FE0,0010)");
	cr_assert_null(strstr(last, "E (0"), "%s", c->name);
	free(ev);
	free(ev1);

	/* a truncated file fails at finish, nothing more */
	cr_assert_eq(dcm_attrs_parse(ts, d + off, len - off - 1, &b), DCM_ETRUNC);
	free(d);
}

Test(files, mr_small) { check_file(&cases[0]); }
Test(files, mr_small_implicit) { check_file(&cases[1]); }
Test(files, mr_small_bigendian) { check_file(&cases[2]); }
Test(files, mr_small_expb) { check_file(&cases[3]); }
Test(files, mr_small_padded) { check_file(&cases[4]); }
Test(files, mr_small_rle) { check_file(&cases[5]); }
Test(files, mr_small_jpeg_ls_lossless) { check_file(&cases[6]); }
Test(files, mr_small_jp2klossless) { check_file(&cases[7]); }

Test(files, bad_headers)
{
	size_t len, off;
	uint8_t *d = slurp("MR_small.dcm", &len);
	struct dcm_meta m;

	/* not DICM */
	d[128] = 'X';
	cr_assert_eq(dcm_part10_read_header(d, len, &m, &off), DCM_EMETA);
	d[128] = 'D';
	/* a group length that ends inside an element */
	d[140] -= 2;
	cr_assert_eq(dcm_part10_read_header(d, len, &m, &off), DCM_EMETA);
	/* one that overstates the group is tolerated: the group ends at the next group */
	d[140] += 4;
	cr_assert_eq(dcm_part10_read_header(d, len, &m, &off), 0);
	cr_assert_eq(off, 334);
	d[140] -= 2;
	/* a VR that is not explicit */
	d[136] = 0;
	cr_assert_eq(dcm_part10_read_header(d, len, &m, &off), DCM_EMETA);
	free(d);
}
