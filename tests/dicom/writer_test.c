/*
 * The element writer (exact bytes in both encodings, padding, all-or-nothing on error), its
 * round trip through the parser, the Part 10 header writer/reader and dcm_uid_generate.
 */
#include <string.h>

#include <criterion/criterion.h>

#include "dicom/attrs_parser.h"
#include "dicom/parser.h"
#include "dicom/part10.h"
#include "dicom/writer.h"

static void expect_bytes(const struct dcm_buf *b, const void *want, size_t n)
{
	cr_assert_eq(b->len, n, "len %zu, want %zu", b->len, n);
	cr_assert_eq(memcmp(b->data, want, n), 0);
}

Test(writer, explicit_strings_pad)
{
	struct dcm_buf b = {0};

	cr_assert_eq(dcm_put_str(&b, DCM_TAG(0x0008, 0x0018), "UI", "1.2.3", true), 0);
	expect_bytes(&b, "\x08\x00\x18\x00UI\x06\x00" "1.2.3\0", 14);
	b.len = 0;
	cr_assert_eq(dcm_put_str(&b, DCM_TAG(0x0010, 0x0040), "CS", "F", true), 0);
	expect_bytes(&b, "\x10\x00\x40\x00" "CS\x02\x00" "F ", 10);
	b.len = 0;
	cr_assert_eq(dcm_put_str(&b, DCM_TAG(0x0010, 0x0020), "LO", "", true), 0);
	expect_bytes(&b, "\x10\x00\x20\x00LO\x00\x00", 8);
	b.len = 0;
	cr_assert_eq(dcm_put_str(&b, DCM_TAG(0x0040, 0xA160), "UT", "abc", true), 0);
	expect_bytes(&b, "\x40\x00\x60\xA1UT\0\0\x04\0\0\0abc ", 16);
	dcm_buf_free(&b);
	dcm_buf_free(&b);
	cr_assert_null(b.data);
}

Test(writer, implicit_and_numbers)
{
	struct dcm_buf b = {0};

	cr_assert_eq(dcm_put_str(&b, DCM_TAG(0x0000, 0x0002), "UI", "1.2", false), 0);
	expect_bytes(&b, "\x00\x00\x02\x00\x04\x00\x00\x00" "1.2\0", 12);
	b.len = 0;
	cr_assert_eq(dcm_put_u16(&b, DCM_TAG(0x0000, 0x0100), 0x8001, false), 0);
	expect_bytes(&b, "\x00\x00\x00\x01\x02\x00\x00\x00\x01\x80", 10);
	b.len = 0;
	cr_assert_eq(dcm_put_u16(&b, DCM_TAG(0x0028, 0x0010), 512, true), 0);
	expect_bytes(&b, "\x28\x00\x10\x00US\x02\x00\x00\x02", 10);
	b.len = 0;
	cr_assert_eq(dcm_put_u32(&b, DCM_TAG(0x0000, 0x0000), 0x01020304, false), 0);
	expect_bytes(&b, "\x00\x00\x00\x00\x04\x00\x00\x00\x04\x03\x02\x01", 12);
	b.len = 0;
	cr_assert_eq(dcm_put_u32(&b, DCM_TAG(0x0002, 0x0000), 7, true), 0);
	expect_bytes(&b, "\x02\x00\x00\x00UL\x04\x00\x07\x00\x00\x00", 12);
	b.len = 0;
	cr_assert_eq(dcm_put_bytes(&b, DCM_TAG(0x0002, 0x0001), "OB", "\x00\x01", 2, true), 0);
	expect_bytes(&b, "\x02\x00\x01\x00OB\0\0\x02\0\0\0\x00\x01", 14);
	b.len = 0;
	cr_assert_eq(dcm_put_bytes(&b, DCM_TAG(0x0009, 0x1000), "OB", "\x07", 1, true), 0);
	expect_bytes(&b, "\x09\x00\x00\x10OB\0\0\x02\0\0\0\x07\x00", 14);
	b.len = 0;
	cr_assert_eq(dcm_put_header(&b, DCM_TAG(0x0008, 0x1140), "SQ", DCM_UNDEFINED_LENGTH, true), 0);
	cr_assert_eq(dcm_put_item_tag(&b, DCM_TAG_ITEM, DCM_UNDEFINED_LENGTH), 0);
	cr_assert_eq(dcm_put_item_tag(&b, DCM_TAG_ITEM_DELIM, 0), 0);
	cr_assert_eq(dcm_put_item_tag(&b, DCM_TAG_SEQ_DELIM, 0), 0);
	expect_bytes(&b, "\x08\x00\x40\x11SQ\0\0\xff\xff\xff\xff"
			 "\xfe\xff\x00\xe0\xff\xff\xff\xff"
			 "\xfe\xff\x0d\xe0\0\0\0\0"
			 "\xfe\xff\xdd\xe0\0\0\0\0", 36);
	dcm_buf_free(&b);
}

Test(writer, errors_leave_buffer)
{
	struct dcm_buf b = {0};
	static char big[70000];

	memset(big, 'a', sizeof big - 1);
	cr_assert_eq(dcm_put_str(&b, DCM_TAG(0x0008, 0x0060), "CS", "MR", true), 0);
	cr_assert_eq(dcm_put_str(&b, DCM_TAG(0x0010, 0x0020), "LO", big, true), -EINVAL);
	cr_assert_eq(dcm_put_str(&b, DCM_TAG(0x0010, 0x0020), "lo", "x", true), -EINVAL);
	cr_assert_eq(dcm_put_str(&b, DCM_TAG(0x0010, 0x0020), "LO", NULL, true), -EINVAL);
	cr_assert_eq(b.len, 10);
	/* long-form VRs and implicit VR take it */
	cr_assert_eq(dcm_put_str(&b, DCM_TAG(0x0040, 0xA160), "UT", big, true), 0);
	cr_assert_eq(dcm_put_str(&b, DCM_TAG(0x0010, 0x0020), "LO", big, false), 0);
	cr_assert_eq(b.len, 10 + 12 + 70000 + 8 + 70000);
	dcm_buf_free(&b);
}

static int count_el(void *ctx, const struct dcm_elem *e)
{
	++*(int *)ctx;
	return 0;
}

Test(writer, round_trip_through_parser)
{
	for (int ex = 0; ex < 2; ex++) {
		struct dcm_buf b = {0};
		struct dcm_attrs a;
		int n = 0;
		struct dcm_parser_cb cb = {.ctx = &n, .on_element = count_el};
		struct dcm_parser p;
		const struct dcm_ts *ts = dcm_ts_find(ex ? DCM_TS_EXPLICIT_LE : DCM_TS_IMPLICIT_LE);

		cr_assert_eq(dcm_put_str(&b, DCM_TAG(0x0008, 0x0016), "UI", "1.2.840.10008.5.1.4.1.1.4", ex), 0);
		cr_assert_eq(dcm_put_str(&b, DCM_TAG(0x0008, 0x0018), "UI", "1.2.3.4", ex), 0);
		cr_assert_eq(dcm_put_str(&b, DCM_TAG(0x0008, 0x0060), "CS", "MR", ex), 0);
		cr_assert_eq(dcm_put_header(&b, DCM_TAG(0x0008, 0x1140), "SQ", DCM_UNDEFINED_LENGTH, ex), 0);
		cr_assert_eq(dcm_put_item_tag(&b, DCM_TAG_ITEM, DCM_UNDEFINED_LENGTH), 0);
		cr_assert_eq(dcm_put_str(&b, DCM_TAG(0x0008, 0x0060), "CS", "CT", ex), 0); /* depth 1 */
		cr_assert_eq(dcm_put_item_tag(&b, DCM_TAG_ITEM_DELIM, 0), 0);
		cr_assert_eq(dcm_put_item_tag(&b, DCM_TAG_SEQ_DELIM, 0), 0);
		cr_assert_eq(dcm_put_str(&b, DCM_TAG(0x0010, 0x0010), "PN", "Doe^Jane", ex), 0);
		cr_assert_eq(dcm_put_u16(&b, DCM_TAG(0x0028, 0x0010), 512, ex), 0);
		cr_assert_eq(dcm_put_u16(&b, DCM_TAG(0x0028, 0x0011), 256, ex), 0);
		cr_assert_eq(dcm_put_str(&b, DCM_TAG(0x0020, 0x0032), "DS", "-1.5\\2\\3.25", ex), 0);
		cr_assert_eq(dcm_put_str(&b, DCM_TAG(0x0020, 0x0013), "IS", " 7", ex), 0);
		cr_assert_eq(dcm_attrs_parse(ts, b.data, b.len, &a), 0);
		cr_assert_str_eq(a.sop_class_uid, "1.2.840.10008.5.1.4.1.1.4");
		cr_assert_str_eq(a.sop_instance_uid, "1.2.3.4");
		cr_assert_str_eq(a.modality, "MR");
		cr_assert_str_eq(a.patient_name, "Doe^Jane");
		cr_assert_str_eq(a.rows, "512");
		cr_assert_str_eq(a.columns, "256");
		cr_assert_str_eq(a.image_position, "-1.5\\2\\3.25");
		cr_assert_str_eq(a.instance_number, "7");
		cr_assert_str_eq(a.patient_id, "");
		cr_assert_not(a.truncated);
		cr_assert_eq(dcm_parser_init(&p, ts, &cb), 0);
		cr_assert_eq(dcm_parser_feed(&p, b.data, b.len), 0);
		cr_assert_eq(dcm_parser_finish(&p), 0);
		dcm_parser_free(&p);
		cr_assert_eq(n, 10);
		dcm_buf_free(&b);
	}
}

Test(attrs, truncation_flag)
{
	struct dcm_buf b = {0};
	struct dcm_attrs a;
	char longid[80];

	memset(longid, 'x', sizeof longid - 1);
	longid[sizeof longid - 1] = '\0';
	cr_assert_eq(dcm_put_str(&b, DCM_TAG(0x0010, 0x0020), "LO", longid, true), 0);
	cr_assert_eq(dcm_attrs_parse(dcm_ts_find(DCM_TS_EXPLICIT_LE), b.data, b.len, &a), 0);
	cr_assert(a.truncated);
	cr_assert_eq(strlen(a.patient_id), 64);
	dcm_buf_free(&b);
}

static void fill_meta(struct dcm_meta *m)
{
	memset(m, 0, sizeof *m);
	strcpy(m->sop_class_uid, "1.2.840.10008.5.1.4.1.1.4");
	strcpy(m->sop_instance_uid, "1.2.3.4.5");
	strcpy(m->ts_uid, DCM_TS_EXPLICIT_LE);
}

Test(part10, write_read_round_trip)
{
	struct dcm_buf b = {0};
	struct dcm_meta m, r;
	size_t off;
	uint32_t gl;

	cr_assert(dcm_uid_valid(DCM_IMPL_CLASS_UID));
	cr_assert_leq(strlen(DCM_IMPL_VERSION), 16);
	fill_meta(&m);
	strcpy(m.source_ae, "DICOMAID");
	cr_assert_eq(dcm_part10_write_header(&b, &m), 0);
	for (int i = 0; i < 128; i++)
		cr_assert_eq(b.data[i], 0);
	cr_assert_eq(memcmp(b.data + 128, "DICM", 4), 0);
	cr_assert_eq(memcmp(b.data + 132, "\x02\x00\x00\x00UL\x04\x00", 8), 0);
	gl = (uint32_t)b.data[140] | (uint32_t)b.data[141] << 8 | (uint32_t)b.data[142] << 16 |
	     (uint32_t)b.data[143] << 24;
	cr_assert_eq(gl, b.len - 144);
	/* 0001 (14) + 0002 (8+26) + 0003 (8+10) + 0010 (8+20) + 0012 (8+44) + 0013 (8+12) + 0016 (8+8) */
	cr_assert_eq(gl, 14 + 34 + 18 + 28 + 52 + 20 + 16);
	cr_assert_eq(memcmp(b.data + 144, "\x02\x00\x01\x00OB\0\0\x02\0\0\0\x00\x01", 14), 0);
	cr_assert_eq(dcm_part10_read_header(b.data, b.len, &r, &off), 0);
	cr_assert_eq(off, b.len);
	cr_assert_str_eq(r.sop_class_uid, m.sop_class_uid);
	cr_assert_str_eq(r.sop_instance_uid, m.sop_instance_uid);
	cr_assert_str_eq(r.ts_uid, m.ts_uid);
	cr_assert_str_eq(r.impl_class_uid, DCM_IMPL_CLASS_UID);
	cr_assert_str_eq(r.impl_version, DCM_IMPL_VERSION);
	cr_assert_str_eq(r.source_ae, "DICOMAID");
	for (size_t k = 0; k < b.len; k++)
		cr_assert_eq(dcm_part10_read_header(b.data, k, &r, &off), DCM_EMORE, "at %zu", k);
	dcm_buf_free(&b);
}

Test(part10, optional_fields_and_errors)
{
	struct dcm_buf b = {0};
	struct dcm_meta m, r;
	size_t off, old;

	fill_meta(&m);
	strcpy(m.impl_class_uid, "1.2.3");
	cr_assert_eq(dcm_part10_write_header(&b, &m), 0);
	cr_assert_eq(dcm_part10_read_header(b.data, b.len, &r, &off), 0);
	cr_assert_str_eq(r.impl_class_uid, "1.2.3");
	cr_assert_str_eq(r.impl_version, "");
	cr_assert_str_eq(r.source_ae, "");
	old = b.len;
	strcpy(m.ts_uid, "1.2.840.10008.1.2.01");
	cr_assert_eq(dcm_part10_write_header(&b, &m), -EINVAL);
	fill_meta(&m);
	memset(m.source_ae, 'A', sizeof m.source_ae);
	cr_assert_eq(dcm_part10_write_header(&b, &m), -EINVAL);
	cr_assert_eq(b.len, old);
	dcm_buf_free(&b);
}

Test(part10, missing_group_length)
{
	struct dcm_buf b = {0};
	struct dcm_meta m, r;
	size_t off, hdr;

	fill_meta(&m);
	cr_assert_eq(dcm_part10_write_header(&b, &m), 0);
	/* drop (0002,0000): the group then ends where group 0008 starts */
	memmove(b.data + 132, b.data + 144, b.len - 144);
	b.len -= 12;
	hdr = b.len;
	cr_assert_eq(dcm_part10_read_header(b.data, b.len, &r, &off), DCM_EMORE);
	cr_assert_eq(dcm_put_str(&b, DCM_TAG(0x0008, 0x0060), "CS", "MR", true), 0);
	cr_assert_eq(dcm_part10_read_header(b.data, hdr + 3, &r, &off), DCM_EMORE);
	cr_assert_eq(dcm_part10_read_header(b.data, hdr + 4, &r, &off), 0);
	cr_assert_eq(off, hdr);
	cr_assert_str_eq(r.sop_instance_uid, "1.2.3.4.5");
	dcm_buf_free(&b);
}

Test(part10, uid_generate)
{
	char a[65], b[65];

	for (int i = 0; i < 100; i++) {
		cr_assert_eq(dcm_uid_generate(a), 0);
		cr_assert_eq(dcm_uid_generate(b), 0);
		cr_assert(dcm_uid_valid(a), "%s", a);
		cr_assert_eq(strncmp(a, "2.25.", 5), 0);
		cr_assert_leq(strlen(a), 5 + 39);
		cr_assert_str_neq(a, b);
		/* the decimal is a version-4, variant-1 UUID (RFC 4122 4.4) */
		__extension__ unsigned __int128 x = 0;
		for (const char *s = a + 5; *s; s++)
			x = x * 10 + (unsigned)(*s - '0');
		cr_assert_eq((unsigned)(x >> 76) & 0xF, 4, "%s", a);
		cr_assert_eq((unsigned)(x >> 62) & 0x3, 2, "%s", a);
	}
}
