/*
 * The streaming parser on hand-built vectors: every VR in implicit VR LE, explicit VR LE and
 * explicit VR BE; sequences and items of defined and undefined length nested three deep;
 * encapsulated pixel data; UN of undefined length; deflate; and every error. Each vector is
 * also fed split at every offset, byte by byte and in 3-byte chunks (ev_check_splits), and
 * must give the same event stream.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <zlib.h>

#include "dicom/parser.h"
#include "events.h"

static const struct dcm_ts *ts_of(const char *uid)
{
	const struct dcm_ts *t = dcm_ts_find(uid);
	cr_assert_not_null(t);
	return t;
}

/* Every VR of PS3.5 6.2 with a short valid value; numeric VRs get whole multiples. */
static const struct {
	const char *vr;
	const char *val;
	uint32_t len;
} vrs[] = {
	{"AE", "STORESCP", 8}, {"AS", "042Y", 4}, {"AT", "\x08\x00\x18\x00", 4}, {"CS", "MR", 2},
	{"DA", "20040826", 8}, {"DS", "0.8 ", 4}, {"DT", "20040826185059", 14},
	{"FL", "\0\0\x80\x3f", 4}, {"FD", "\0\0\0\0\0\0\xf0\x3f", 8}, {"IS", "12", 2},
	{"LO", "TOSHIBA ", 8}, {"LT", "long text ", 10}, {"OB", "\x01\x02", 2},
	{"OD", "\0\0\0\0\0\0\xf0\x3f", 8}, {"OF", "\0\0\x80\x3f", 4}, {"OL", "\1\0\0\0", 4},
	{"OV", "\1\0\0\0\0\0\0\0", 8}, {"OW", "\x40\x00\x41\x00", 4}, {"PN", "Doe^John", 8},
	{"SH", "4MR1", 4}, {"SL", "\xff\xff\xff\xff", 4}, {"SS", "\xfe\xff", 2},
	{"ST", "short text", 10}, {"SV", "\xff\xff\xff\xff\xff\xff\xff\xff", 8},
	{"TM", "185059", 6}, {"UC", "unlimited ", 10}, {"UI", "1.2.3\0", 6},
	{"UL", "\x40\0\0\0", 4}, {"UN", "\x09\x08", 2}, {"UR", "http://x/ ", 10},
	{"US", "\x40\x00", 2}, {"UT", "text", 4}, {"UV", "\1\0\0\0\0\0\0\0", 8},
};
#define NVRS (sizeof vrs / sizeof vrs[0])

static void build_all_vrs(struct vb *v)
{
	for (size_t i = 0; i < NVRS; i++)
		vb_el(v, DCM_TAG(0x0019, 0x1010 + i), vrs[i].vr, vrs[i].val, vrs[i].len);
	/* an empty SQ and an empty value */
	vb_hdr(v, DCM_TAG(0x0019, 0x1100), "SQ", 0);
	vb_hdr(v, DCM_TAG(0x0019, 0x1101), "LO", 0);
}

static void check_all_vrs(const char *uid, bool be)
{
	struct vb v;
	int rc;
	char *ev, line[256];
	size_t hdr_off = 0;

	vb_init(&v, true, be);
	build_all_vrs(&v);
	ev = ev_check_splits(ts_of(uid), v.d, v.n, &rc);
	cr_assert_eq(rc, 0, "%s", ev);
	for (size_t i = 0; i < NVRS; i++) {
		size_t hl = dcm_vr_is_long(vrs[i].vr) ? 12 : 8;
		snprintf(line, sizeof line, "E (0019,%04zX) %s len=%u d=0 off=%zu%s\n", 0x1010 + i,
			 vrs[i].vr, vrs[i].len, hdr_off + hl, be ? " BE" : "");
		cr_expect(strstr(ev, line) != NULL, "missing %s in\n%s", line, ev);
		hdr_off += hl + vrs[i].len;
	}
	cr_assert(strstr(ev, "E (0019,1100) SQ len=0 d=0") != NULL);
	cr_assert(strstr(ev, "X (0019,1100) SQ len=0 d=0") != NULL);
	cr_assert(strstr(ev, "E (0019,1101) LO len=0 d=0") != NULL);
	/* values are delivered raw (no byte swapping) */
	cr_assert(strstr(ev, "E (0019,1013) CS len=2 d=0") != NULL);
	cr_assert(strstr(ev, "V 4d52\n") != NULL);
	free(ev);
	vb_free(&v);
}

Test(parser, all_vrs_explicit_le) { check_all_vrs(DCM_TS_EXPLICIT_LE, false); }
Test(parser, all_vrs_explicit_be) { check_all_vrs(DCM_TS_EXPLICIT_BE, true); }

struct num_ctx {
	uint16_t u16;
	uint32_t u32;
	int n;
};

static int num_el(void *ctx, const struct dcm_elem *e)
{
	return DCM_WANT_VALUE;
}

static int num_val(void *ctx, const struct dcm_elem *e, const uint8_t *val, size_t len)
{
	struct num_ctx *c = ctx;
	if (strcmp(e->vr, "US") == 0)
		c->u16 = dcm_get_u16(e, val);
	if (strcmp(e->vr, "UL") == 0)
		c->u32 = dcm_get_u32(e, val);
	c->n++;
	return 0;
}

Test(parser, big_endian_numbers)
{
	struct vb v;
	struct num_ctx c = {0};
	struct dcm_parser_cb cb = {.ctx = &c, .on_element = num_el, .on_value = num_val};
	struct dcm_parser p;

	vb_init(&v, true, true);
	vb_hdr(&v, DCM_TAG(0x0028, 0x0010), "US", 2);
	vb_u16(&v, 512);
	vb_hdr(&v, DCM_TAG(0x0028, 0x9999), "UL", 4);
	vb_u32(&v, 0x01020304);
	cr_assert_eq(v.d[0], 0x00);
	cr_assert_eq(v.d[1], 0x28);
	cr_assert_eq(dcm_parser_init(&p, ts_of(DCM_TS_EXPLICIT_BE), &cb), 0);
	cr_assert_eq(dcm_parser_feed(&p, v.d, v.n), 0);
	cr_assert_eq(dcm_parser_finish(&p), 0);
	dcm_parser_free(&p);
	cr_assert_eq(c.n, 2);
	cr_assert_eq(c.u16, 512);
	cr_assert_eq(c.u32, 0x01020304);
	vb_free(&v);
}

Test(parser, implicit_vr_dictionary)
{
	struct vb v;
	int rc;
	char *ev;

	vb_init(&v, false, false);
	vb_el(&v, DCM_TAG(0x0008, 0x0016), NULL, "1.2.840.10008.5.1.4.1.1.4", 26);
	vb_str(&v, DCM_TAG(0x0008, 0x0060), NULL, "MR");
	vb_str(&v, DCM_TAG(0x0010, 0x0010), NULL, "Doe^J ");
	vb_hdr(&v, DCM_TAG(0x0028, 0x0010), NULL, 2);
	vb_u16(&v, 256);
	vb_str(&v, DCM_TAG(0x0009, 0x0010), NULL, "ACME");     /* private creator: LO */
	vb_str(&v, DCM_TAG(0x0009, 0x1001), NULL, "??");       /* unknown: UN */
	vb_hdr(&v, DCM_TAG(0x0008, 0x0000), NULL, 4);          /* group length: UL */
	vb_u32(&v, 7);
	vb_el(&v, DCM_TAG(0x0000, 0x0100), NULL, "\x01\x00", 2); /* command field: US */
	ev = ev_check_splits(ts_of(DCM_TS_IMPLICIT_LE), v.d, v.n, &rc);
	cr_assert_eq(rc, 0);
	cr_assert_str_eq(ev,
		"E (0008,0016) UI len=26 d=0 off=8\n"
		"V 312e322e3834302e31303030382e352e312e342e312e312e3400\n"
		"E (0008,0060) CS len=2 d=0 off=42\n"
		"V 4d52\n"
		"E (0010,0010) PN len=6 d=0 off=52\n"
		"V 446f655e4a20\n"
		"E (0028,0010) US len=2 d=0 off=66\n"
		"V 0001\n"
		"E (0009,0010) LO len=4 d=0 off=76\n"
		"V 41434d45\n"
		"E (0009,1001) UN len=2 d=0 off=88\n"
		"V 3f3f\n"
		"E (0008,0000) UL len=4 d=0 off=98\n"
		"V 07000000\n"
		"E (0000,0100) US len=2 d=0 off=110\n"
		"V 0100\n");
	free(ev);
	vb_free(&v);
}

int dcm_dict_check_sorted_(void);

Test(dict, sorted_and_rules)
{
	cr_assert_eq(dcm_dict_check_sorted_(), 0);
	cr_assert_str_eq(dcm_dict_vr(DCM_TAG(0x0028, 0x0010)), "US");
	cr_assert_str_eq(dcm_dict_vr(DCM_TAG(0x0040, 0xA730)), "SQ");
	cr_assert_str_eq(dcm_dict_vr(DCM_TAG(0x0000, 0x1000)), "UI");
	cr_assert_str_eq(dcm_dict_vr(DCM_TAG(0x0029, 0x0000)), "UL");
	cr_assert_str_eq(dcm_dict_vr(DCM_TAG(0x0029, 0x0011)), "LO");
	cr_assert_str_eq(dcm_dict_vr(DCM_TAG(0x0028, 0x0011)), "US");
	cr_assert_str_eq(dcm_dict_vr(DCM_TAG(0x0028, 0x0012)), "UN");
	cr_assert_str_eq(dcm_dict_vr(DCM_TAG(0x0029, 0x1011)), "UN");
	cr_assert(dcm_vr_is_long("OB") && dcm_vr_is_long("UV") && dcm_vr_is_long("ZZ"));
	cr_assert(!dcm_vr_is_long("US") && !dcm_vr_is_long("UI") && !dcm_vr_is_long("AT"));
	cr_assert(dcm_vr_known("SV") && !dcm_vr_known("ZZ"));
}

/* ---- sequences ---------------------------------------------------------------------- */

/* Remove the " len=N", " off=N" and " BE" fields so streams of differently encoded vectors
 * can be compared. */
static char *normalize(const char *ev)
{
	char *out = malloc(strlen(ev) + 1), *o = out;

	cr_assert_not_null(out);
	while (*ev) {
		if (strncmp(ev, " len=", 5) == 0 || strncmp(ev, " off=", 5) == 0) {
			ev += 5;
			while (*ev >= '0' && *ev <= '9')
				ev++;
		} else if (strncmp(ev, " BE", 3) == 0) {
			ev += 3;
		} else {
			*o++ = *ev++;
		}
	}
	*o = '\0';
	return out;
}

static void put_container(struct vb *out, uint32_t tag, const struct vb *content, bool defined)
{
	uint32_t len = defined ? (uint32_t)content->n : DCM_UNDEFINED_LENGTH;

	if (tag == DCM_TAG_ITEM)
		vb_item(out, DCM_TAG_ITEM, len);
	else
		vb_hdr(out, tag, "SQ", len);
	vb_raw(out, content->d, content->n);
	if (!defined)
		vb_item(out, tag == DCM_TAG_ITEM ? DCM_TAG_ITEM_DELIM : DCM_TAG_SEQ_DELIM, 0);
}

/* Three nested sequences; bit i of `defined` picks defined length for container i
 * (0: outer SQ, 1: its first item, 2: middle SQ, 3: its item, 4: inner SQ, 5: its item). */
static void build_nested(struct vb *v, bool ex, bool be, unsigned defined)
{
	struct vb c[6], e;
	for (int i = 0; i < 6; i++)
		vb_init(&c[i], ex, be);
	vb_init(&e, ex, be);
	/* innermost item content */
	vb_str(&c[5], DCM_TAG(0x0040, 0xA040), "CS", "TEXT");
	put_container(&c[4], DCM_TAG_ITEM, &c[5], defined & 32);
	put_container(&c[3], DCM_TAG(0x0040, 0xA730), &c[4], defined & 16);
	put_container(&c[2], DCM_TAG_ITEM, &c[3], defined & 8);
	vb_el(&c[1], DCM_TAG(0x0008, 0x1150), "UI", "1.2", 4);
	put_container(&c[1], DCM_TAG(0x0008, 0x1199), &c[2], defined & 4);
	put_container(&c[0], DCM_TAG_ITEM, &c[1], defined & 2);
	put_container(&c[0], DCM_TAG_ITEM, &e, true); /* a second, empty item */
	vb_str(v, DCM_TAG(0x0008, 0x0060), "CS", "MR");
	put_container(v, DCM_TAG(0x0008, 0x1140), &c[0], defined & 1);
	vb_str(v, DCM_TAG(0x0010, 0x0020), "LO", "ID");
	for (int i = 0; i < 6; i++)
		vb_free(&c[i]);
	vb_free(&e);
}

static const char nested_expected[] =
	"E (0008,0060) CS d=0\n"
	"V 4d52\n"
	"E (0008,1140) SQ d=0\n"
	"I (FFFE,E000) - d=1\n"
	"E (0008,1150) UI d=1\n"
	"V 312e3200\n"
	"E (0008,1199) SQ d=1\n"
	"I (FFFE,E000) - d=2\n"
	"E (0040,A730) SQ d=2\n"
	"I (FFFE,E000) - d=3\n"
	"E (0040,A040) CS d=3\n"
	"V 54455854\n"
	"X (FFFE,E000) - d=3\n"
	"X (0040,A730) SQ d=2\n"
	"X (FFFE,E000) - d=2\n"
	"X (0008,1199) SQ d=1\n"
	"X (FFFE,E000) - d=1\n"
	"I (FFFE,E000) - d=1\n"
	"X (FFFE,E000) - d=1\n"
	"X (0008,1140) SQ d=0\n"
	"E (0010,0020) LO d=0\n"
	"V 4944\n";

static void check_nested(const char *uid, bool ex, bool be)
{
	for (unsigned defined = 0; defined < 64; defined++) {
		struct vb v;
		int rc;
		char *ev, *norm;

		vb_init(&v, ex, be);
		build_nested(&v, ex, be, defined);
		ev = ev_check_splits(ts_of(uid), v.d, v.n, &rc);
		cr_assert_eq(rc, 0, "variant %u: %s", defined, ev);
		norm = normalize(ev);
		cr_assert_str_eq(norm, nested_expected, "variant %u", defined);
		free(norm);
		free(ev);
		vb_free(&v);
	}
}

Test(parser, nested_explicit_le) { check_nested(DCM_TS_EXPLICIT_LE, true, false); }
Test(parser, nested_explicit_be) { check_nested(DCM_TS_EXPLICIT_BE, true, true); }
Test(parser, nested_implicit_le) { check_nested(DCM_TS_IMPLICIT_LE, false, false); }

Test(parser, defined_length_offsets)
{
	struct vb v;
	int rc;
	char *ev;

	vb_init(&v, true, false);
	build_nested(&v, true, false, 63);
	ev = ev_check_splits(ts_of(DCM_TS_EXPLICIT_LE), v.d, v.n, &rc);
	cr_assert_eq(rc, 0);
	/* outer SQ: header at 10, value at 22; its length covers everything up to the LO */
	cr_assert(strstr(ev, "E (0008,1140) SQ len=80 d=0 off=22\n") != NULL, "%s", ev);
	cr_assert(strstr(ev, "E (0010,0020) LO len=2 d=0 off=110\n") != NULL, "%s", ev);
	cr_assert_eq(v.n, 112);
	free(ev);
	vb_free(&v);
}

/* PS3.5 6.2.2: UN of undefined length holds a sequence in implicit VR LE, even in a big
 * endian data set. */
Test(parser, un_undefined_is_implicit_sequence)
{
	struct vb v, imp;
	int rc;
	char *ev;

	vb_init(&v, true, true);
	vb_init(&imp, false, false);
	vb_item(&imp, DCM_TAG_ITEM, DCM_UNDEFINED_LENGTH);
	vb_str(&imp, DCM_TAG(0x0040, 0xA040), NULL, "TEXT");
	vb_hdr(&imp, DCM_TAG(0x0019, 0x1002), NULL, DCM_UNDEFINED_LENGTH); /* nested implicit SQ */
	vb_item(&imp, DCM_TAG_SEQ_DELIM, 0);
	vb_item(&imp, DCM_TAG_ITEM_DELIM, 0);
	vb_item(&imp, DCM_TAG_SEQ_DELIM, 0);
	vb_hdr(&v, DCM_TAG(0x0019, 0x1001), "UN", DCM_UNDEFINED_LENGTH);
	vb_raw(&v, imp.d, imp.n);
	vb_hdr(&v, DCM_TAG(0x0028, 0x0010), "US", 2);
	vb_u16(&v, 64);
	ev = ev_check_splits(ts_of(DCM_TS_EXPLICIT_BE), v.d, v.n, &rc);
	cr_assert_eq(rc, 0, "%s", ev);
	cr_assert_str_eq(ev,
		"E (0019,1001) UN len=4294967295 d=0 off=12 BE\n"
		"I (FFFE,E000) - len=4294967295 d=1 off=20\n"
		"E (0040,A040) CS len=4 d=1 off=28\n"
		"V 54455854\n"
		"E (0019,1002) SQ len=4294967295 d=1 off=40\n"
		"X (0019,1002) SQ len=4294967295 d=1 off=40\n"
		"X (FFFE,E000) - len=4294967295 d=1 off=20\n"
		"X (0019,1001) UN len=4294967295 d=0 off=12 BE\n"
		"E (0028,0010) US len=2 d=0 off=72 BE\n"
		"V 0040\n");
	free(ev);
	vb_free(&v);
	vb_free(&imp);
}

/* ---- encapsulated pixel data (PS3.5 A.4) ---------------------------------------------- */

static void build_encapsulated(struct vb *v)
{
	vb_el(v, DCM_TAG(0x0028, 0x0010), "US", "\x40\x00", 2);
	vb_hdr(v, DCM_TAG_PIXEL_DATA, "OB", DCM_UNDEFINED_LENGTH);
	vb_item(v, DCM_TAG_ITEM, 0);              /* empty basic offset table */
	vb_item(v, DCM_TAG_ITEM, 6);
	vb_raw(v, "\xff\xd8\xff\xf7\x00\x0b", 6);
	vb_item(v, DCM_TAG_ITEM, 4);
	vb_raw(v, "\xff\xd9\x00\x00", 4);
	vb_item(v, DCM_TAG_SEQ_DELIM, 0);
	vb_el(v, DCM_TAG(0xFFFC, 0xFFFC), "OB", "\0\0", 2);
}

Test(parser, encapsulated_pixel_data)
{
	struct vb v;
	int rc;
	char *ev;

	vb_init(&v, true, false);
	build_encapsulated(&v);
	ev = ev_check_splits(ts_of(DCM_TS_RLE), v.d, v.n, &rc);
	cr_assert_eq(rc, 0, "%s", ev);
	cr_assert_str_eq(ev,
		"E (0028,0010) US len=2 d=0 off=8\n"
		"V 4000\n"
		"E (7FE0,0010) OB len=4294967295 d=0 off=22\n"
		"I (FFFE,E000) - len=0 d=1 off=30\n"
		"V \n"
		"I (FFFE,E000) - len=6 d=1 off=38\n"
		"V ffd8fff7000b\n"
		"I (FFFE,E000) - len=4 d=1 off=52\n"
		"V ffd90000\n"
		"X (7FE0,0010) OB len=4294967295 d=0 off=22\n"
		"E (FFFC,FFFC) OB len=2 d=0 off=76\n"
		"V 0000\n");
	free(ev);
	vb_free(&v);
}

Test(parser, encapsulated_big_fragment_not_buffered)
{
	/* a fragment larger than DCM_MAX_CAPTURE is counted, never delivered */
	struct vb v;
	int rc;
	char *ev;
	static uint8_t big[5000];

	vb_init(&v, true, false);
	vb_hdr(&v, DCM_TAG_PIXEL_DATA, "OB", DCM_UNDEFINED_LENGTH);
	vb_item(&v, DCM_TAG_ITEM, 0);
	vb_item(&v, DCM_TAG_ITEM, sizeof big);
	vb_raw(&v, big, sizeof big);
	vb_item(&v, DCM_TAG_SEQ_DELIM, 0);
	rc = ev_parse(ts_of(DCM_TS_RLE), v.d, v.n, 100, 7, &ev, 100000);
	cr_assert_eq(rc, 0);
	cr_assert_str_eq(ev,
		"E (7FE0,0010) OB len=4294967295 d=0 off=12\n"
		"I (FFFE,E000) - len=0 d=1 off=20\n"
		"V \n"
		"I (FFFE,E000) - len=5000 d=1 off=28\n"
		"X (7FE0,0010) OB len=4294967295 d=0 off=12\n");
	free(ev);
	vb_free(&v);
}

/* ---- capture bound, callbacks -------------------------------------------------------- */

Test(parser, capture_bound)
{
	struct vb v;
	int rc;
	char *ev;
	static char val[DCM_MAX_CAPTURE + 2];

	memset(val, 'A', sizeof val);
	vb_init(&v, true, false);
	vb_el(&v, DCM_TAG(0x0019, 0x1001), "UT", val, DCM_MAX_CAPTURE);
	vb_el(&v, DCM_TAG(0x0019, 0x1002), "UT", val, DCM_MAX_CAPTURE + 2);
	rc = ev_parse(ts_of(DCM_TS_EXPLICIT_LE), v.d, v.n, 5, 0, &ev, 100000);
	cr_assert_eq(rc, 0);
	/* first value delivered (a V line of 2048 hex digits), second not */
	cr_assert(strstr(ev, "E (0019,1002)") != NULL);
	cr_assert_eq(strlen(strstr(ev, "V ")), 2 + 2 * DCM_MAX_CAPTURE + 1 +
		     strlen(strstr(ev, "E (0019,1002)")));
	free(ev);
	vb_free(&v);
}

static int abort_second(void *ctx, const struct dcm_elem *e)
{
	int *n = ctx;
	return ++*n == 2 ? -42 : 0;
}

Test(parser, callback_abort_is_sticky)
{
	struct vb v;
	int n = 0;
	struct dcm_parser_cb cb = {.ctx = &n, .on_element = abort_second};
	struct dcm_parser p;

	vb_init(&v, true, false);
	vb_str(&v, DCM_TAG(0x0008, 0x0060), "CS", "MR");
	vb_str(&v, DCM_TAG(0x0010, 0x0020), "LO", "ID");
	vb_str(&v, DCM_TAG(0x0010, 0x0040), "CS", "F ");
	cr_assert_eq(dcm_parser_init(&p, ts_of(DCM_TS_EXPLICIT_LE), &cb), 0);
	cr_assert_eq(dcm_parser_feed(&p, v.d, v.n), -42);
	cr_assert_eq(n, 2);
	cr_assert_eq(dcm_parser_feed(&p, v.d, 1), -42);
	cr_assert_eq(dcm_parser_finish(&p), -42);
	cr_assert_eq(n, 2);
	dcm_parser_free(&p);
	vb_free(&v);
}

Test(parser, no_callbacks_and_state)
{
	struct vb v;
	struct dcm_parser p;

	vb_init(&v, true, false);
	build_nested(&v, true, false, 5);
	cr_assert_eq(dcm_parser_init(&p, ts_of(DCM_TS_EXPLICIT_LE), NULL), 0);
	cr_assert_eq(dcm_parser_feed(&p, v.d, v.n), 0);
	cr_assert_eq(dcm_parser_offset(&p), v.n);
	cr_assert_eq(dcm_parser_finish(&p), 0);
	cr_assert_eq(dcm_parser_feed(&p, v.d, 1), DCM_ESTATE);
	dcm_parser_free(&p);
	cr_assert_eq(dcm_parser_init(&p, NULL, NULL), -EINVAL);
	cr_assert_eq(dcm_parser_feed(&p, v.d, 1), -EINVAL);
	dcm_parser_free(&p);
	vb_free(&v);
}

/* ---- deflate (PS3.5 A.5) -------------------------------------------------------------- */

static void deflate_raw(const struct vb *in, struct vb *out)
{
	z_stream zs = {0};
	uint8_t buf[256];
	int zrc;

	vb_init(out, true, false);
	cr_assert_eq(deflateInit2(&zs, 9, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY), Z_OK);
	zs.next_in = in->d;
	zs.avail_in = (uInt)in->n;
	do {
		zs.next_out = buf;
		zs.avail_out = sizeof buf;
		zrc = deflate(&zs, Z_FINISH);
		cr_assert(zrc == Z_OK || zrc == Z_STREAM_END);
		vb_raw(out, buf, sizeof buf - zs.avail_out);
	} while (zrc != Z_STREAM_END);
	deflateEnd(&zs);
}

static void build_deflate_input(struct vb *v)
{
	static uint8_t zeros[70000];

	vb_init(v, true, false);
	build_all_vrs(v);
	build_nested(v, true, false, 0x15);
	vb_el(v, DCM_TAG(0x0019, 0x2000), "OB", zeros, sizeof zeros); /* > several inflate chunks */
	build_encapsulated(v);
}

Test(parser, deflate_equals_plain)
{
	struct vb plain, z;
	int rc, rcz;
	char *ev, *evz;

	build_deflate_input(&plain);
	deflate_raw(&plain, &z);
	cr_assert_lt(z.n, plain.n / 10);
	rc = ev_parse(ts_of(DCM_TS_EXPLICIT_LE), plain.d, plain.n, plain.n, 0, &ev, 64);
	cr_assert_eq(rc, 0, "%s", ev);
	evz = ev_check_splits(ts_of(DCM_TS_DEFLATED_LE), z.d, z.n, &rcz);
	cr_assert_eq(rcz, 0, "%s", evz);
	cr_assert_str_eq(evz, ev);
	free(ev);
	free(evz);
	/* one NUL pad byte after the stream is fine (PS3.10 file padding) */
	vb_raw(&z, "\0", 1);
	evz = ev_check_splits(ts_of(DCM_TS_DEFLATED_LE), z.d, z.n, &rcz);
	cr_assert_eq(rcz, 0);
	free(evz);
	/* anything else after the end is an error */
	z.d[z.n - 1] = 'x';
	rcz = ev_parse(ts_of(DCM_TS_DEFLATED_LE), z.d, z.n, z.n, 0, &evz, 64);
	cr_assert_eq(rcz, DCM_EDEFLATE);
	free(evz);
	rcz = ev_parse(ts_of(DCM_TS_DEFLATED_LE), z.d, z.n, z.n - 1, 0, &evz, 64);
	cr_assert_eq(rcz, DCM_EDEFLATE);
	free(evz);
	/* a cut stream is truncated at finish */
	rcz = ev_parse(ts_of(DCM_TS_DEFLATED_LE), z.d, z.n - 10, z.n, 0, &evz, 64);
	cr_assert_eq(rcz, DCM_ETRUNC);
	free(evz);
	vb_free(&plain);
	vb_free(&z);
}

Test(parser, deflate_corrupt)
{
	/* BFINAL=1, BTYPE=11 (reserved): RFC 1951 3.2.3 */
	static const uint8_t bad[] = {0x07, 0x00, 0x00, 0x00};
	char *ev;

	cr_assert_eq(ev_parse(ts_of(DCM_TS_DEFLATED_LE), bad, sizeof bad, 1, 1, &ev, 64),
		     DCM_EDEFLATE);
	free(ev);
}

Test(parser, deflate_empty_data_set)
{
	struct vb plain, z;
	char *ev;

	vb_init(&plain, true, false);
	deflate_raw(&plain, &z);
	cr_assert_eq(ev_parse(ts_of(DCM_TS_DEFLATED_LE), z.d, z.n, 1, 1, &ev, 64), 0);
	cr_assert_str_eq(ev, "");
	free(ev);
	cr_assert_eq(ev_parse(ts_of(DCM_TS_DEFLATED_LE), z.d, 0, 0, 0, &ev, 64), DCM_ETRUNC);
	free(ev);
	vb_free(&plain);
	vb_free(&z);
}

/* ---- errors ---------------------------------------------------------------------------- */

/* The error must come at the same point whatever the chunking; returns the events. */
static void expect_err(const char *uid, struct vb *v, int want)
{
	int rc;
	char *ev = ev_check_splits(ts_of(uid), v->d, v->n, &rc);

	cr_assert_eq(rc, want, "rc %d (%s), want %d (%s)\n%s", rc, dcm_strerror(rc), want,
		     dcm_strerror(want), ev);
	free(ev);
	vb_free(v);
}

Test(errors, truncated)
{
	struct vb v;

	/* inside a tag */
	vb_init(&v, true, false);
	vb_str(&v, DCM_TAG(0x0008, 0x0060), "CS", "MR");
	vb_raw(&v, "\x10\x00", 2);
	expect_err(DCM_TS_EXPLICIT_LE, &v, DCM_ETRUNC);
	/* inside the 4-byte length of a long VR */
	vb_init(&v, true, false);
	vb_raw(&v, "\x19\x00\x01\x10OB\0\0\x04\x00", 10);
	expect_err(DCM_TS_EXPLICIT_LE, &v, DCM_ETRUNC);
	/* inside a value */
	vb_init(&v, true, false);
	vb_hdr(&v, DCM_TAG(0x0010, 0x0020), "LO", 10);
	vb_raw(&v, "abc", 3);
	expect_err(DCM_TS_EXPLICIT_LE, &v, DCM_ETRUNC);
	/* an undefined-length sequence still open */
	vb_init(&v, false, false);
	vb_hdr(&v, DCM_TAG(0x0008, 0x1140), NULL, DCM_UNDEFINED_LENGTH);
	vb_item(&v, DCM_TAG_ITEM, DCM_UNDEFINED_LENGTH);
	vb_item(&v, DCM_TAG_ITEM_DELIM, 0);
	expect_err(DCM_TS_IMPLICIT_LE, &v, DCM_ETRUNC);
	/* a defined-length item still open */
	vb_init(&v, true, false);
	vb_hdr(&v, DCM_TAG(0x0008, 0x1140), "SQ", 20);
	vb_item(&v, DCM_TAG_ITEM, 12);
	vb_str(&v, DCM_TAG(0x0008, 0x0060), "CS", "MR");
	expect_err(DCM_TS_EXPLICIT_LE, &v, DCM_ETRUNC);
	/* pixel data without its sequence delimiter */
	vb_init(&v, true, false);
	vb_hdr(&v, DCM_TAG_PIXEL_DATA, "OB", DCM_UNDEFINED_LENGTH);
	vb_item(&v, DCM_TAG_ITEM, 0);
	expect_err(DCM_TS_RLE, &v, DCM_ETRUNC);
}

Test(errors, bad_length)
{
	struct vb v;

	/* item longer than its defined-length sequence */
	vb_init(&v, true, false);
	vb_hdr(&v, DCM_TAG(0x0008, 0x1140), "SQ", 16);
	vb_item(&v, DCM_TAG_ITEM, 10);
	vb_str(&v, DCM_TAG(0x0008, 0x0060), "CS", "MR");
	vb_str(&v, DCM_TAG(0x0008, 0x0060), "CS", "MR");
	expect_err(DCM_TS_EXPLICIT_LE, &v, DCM_EBADLEN);
	/* element value running past the end of its item */
	vb_init(&v, true, false);
	vb_hdr(&v, DCM_TAG(0x0008, 0x1140), "SQ", 18);
	vb_item(&v, DCM_TAG_ITEM, 10);
	vb_str(&v, DCM_TAG(0x0008, 0x0060), "CS", "MRMR");
	expect_err(DCM_TS_EXPLICIT_LE, &v, DCM_EBADLEN);
	/* a header crossing the end of a defined-length item */
	vb_init(&v, true, false);
	vb_hdr(&v, DCM_TAG(0x0008, 0x1140), "SQ", 22);
	vb_item(&v, DCM_TAG_ITEM, 14);
	vb_str(&v, DCM_TAG(0x0008, 0x0060), "CS", "MR");
	vb_str(&v, DCM_TAG(0x0008, 0x0060), "CS", "MR");
	expect_err(DCM_TS_EXPLICIT_LE, &v, DCM_EBADLEN);
	/* US whose length is not a multiple of 2 */
	vb_init(&v, true, false);
	vb_el(&v, DCM_TAG(0x0028, 0x0010), "US", "\x40\x00\x00", 3);
	expect_err(DCM_TS_EXPLICIT_LE, &v, DCM_EBADLEN);
	/* the same in implicit VR, where the dictionary says US */
	vb_init(&v, false, false);
	vb_el(&v, DCM_TAG(0x0028, 0x0011), NULL, "\x40\x00\x00", 3);
	expect_err(DCM_TS_IMPLICIT_LE, &v, DCM_EBADLEN);
	/* FD of 4 bytes */
	vb_init(&v, true, true);
	vb_el(&v, DCM_TAG(0x0019, 0x0010), "FD", "\0\0\0\0", 4);
	expect_err(DCM_TS_EXPLICIT_BE, &v, DCM_EBADLEN);
	/* undefined length on a VR that cannot have it */
	vb_init(&v, true, false);
	vb_hdr(&v, DCM_TAG(0x0019, 0x1000), "UT", DCM_UNDEFINED_LENGTH);
	expect_err(DCM_TS_EXPLICIT_LE, &v, DCM_EBADLEN);
	/* a fragment of undefined length */
	vb_init(&v, true, false);
	vb_hdr(&v, DCM_TAG_PIXEL_DATA, "OB", DCM_UNDEFINED_LENGTH);
	vb_item(&v, DCM_TAG_ITEM, DCM_UNDEFINED_LENGTH);
	expect_err(DCM_TS_RLE, &v, DCM_EBADLEN);
	/* a delimiter with a non-zero length */
	vb_init(&v, true, false);
	vb_hdr(&v, DCM_TAG(0x0008, 0x1140), "SQ", DCM_UNDEFINED_LENGTH);
	vb_item(&v, DCM_TAG_SEQ_DELIM, 4);
	expect_err(DCM_TS_EXPLICIT_LE, &v, DCM_EBADLEN);
}

Test(errors, odd_length_strict_and_tolerated)
{
	struct vb v;
	struct dcm_parser p;

	vb_init(&v, true, false);
	vb_el(&v, DCM_TAG(0x0010, 0x0020), "LO", "abc", 3);
	vb_str(&v, DCM_TAG(0x0008, 0x0060), "CS", "MR");
	cr_assert_eq(dcm_parser_init(&p, ts_of(DCM_TS_EXPLICIT_LE), NULL), 0);
	cr_assert_eq(dcm_parser_feed(&p, v.d, v.n), 0);
	cr_assert_eq(dcm_parser_finish(&p), 0);
	cr_assert_eq(p.odd_lengths, 1);
	dcm_parser_free(&p);
	cr_assert_eq(dcm_parser_init(&p, ts_of(DCM_TS_EXPLICIT_LE), NULL), 0);
	dcm_parser_set_strict(&p, true);
	cr_assert_eq(dcm_parser_feed(&p, v.d, v.n), DCM_EBADLEN);
	dcm_parser_free(&p);
	vb_free(&v);
}

Test(errors, delimiters_misplaced)
{
	struct vb v;

	/* item delimiter at top level */
	vb_init(&v, true, false);
	vb_item(&v, DCM_TAG_ITEM_DELIM, 0);
	expect_err(DCM_TS_EXPLICIT_LE, &v, DCM_EDELIM);
	/* sequence delimiter at top level */
	vb_init(&v, false, false);
	vb_item(&v, DCM_TAG_SEQ_DELIM, 0);
	expect_err(DCM_TS_IMPLICIT_LE, &v, DCM_EDELIM);
	/* item at top level */
	vb_init(&v, true, true);
	vb_item(&v, DCM_TAG_ITEM, 0);
	expect_err(DCM_TS_EXPLICIT_BE, &v, DCM_EDELIM);
	/* sequence delimiter closing a defined-length sequence */
	vb_init(&v, true, false);
	vb_hdr(&v, DCM_TAG(0x0008, 0x1140), "SQ", 8);
	vb_item(&v, DCM_TAG_SEQ_DELIM, 0);
	expect_err(DCM_TS_EXPLICIT_LE, &v, DCM_EDELIM);
	/* item delimiter inside a defined-length item */
	vb_init(&v, true, false);
	vb_hdr(&v, DCM_TAG(0x0008, 0x1140), "SQ", DCM_UNDEFINED_LENGTH);
	vb_item(&v, DCM_TAG_ITEM, 8);
	vb_item(&v, DCM_TAG_ITEM_DELIM, 0);
	expect_err(DCM_TS_EXPLICIT_LE, &v, DCM_EDELIM);
	/* sequence delimiter inside an item (item not closed) */
	vb_init(&v, true, false);
	vb_hdr(&v, DCM_TAG(0x0008, 0x1140), "SQ", DCM_UNDEFINED_LENGTH);
	vb_item(&v, DCM_TAG_ITEM, DCM_UNDEFINED_LENGTH);
	vb_item(&v, DCM_TAG_SEQ_DELIM, 0);
	expect_err(DCM_TS_EXPLICIT_LE, &v, DCM_EDELIM);
	/* an element directly inside a sequence */
	vb_init(&v, true, false);
	vb_hdr(&v, DCM_TAG(0x0008, 0x1140), "SQ", DCM_UNDEFINED_LENGTH);
	vb_str(&v, DCM_TAG(0x0008, 0x0060), "CS", "MR");
	expect_err(DCM_TS_EXPLICIT_LE, &v, DCM_EDELIM);
	/* an element inside pixel data fragments */
	vb_init(&v, true, false);
	vb_hdr(&v, DCM_TAG_PIXEL_DATA, "OW", DCM_UNDEFINED_LENGTH);
	vb_str(&v, DCM_TAG(0x0008, 0x0060), "CS", "MR");
	expect_err(DCM_TS_RLE, &v, DCM_EDELIM);
	/* an undefined-length item that runs into the end of its defined-length sequence */
	vb_init(&v, true, false);
	vb_hdr(&v, DCM_TAG(0x0008, 0x1140), "SQ", 18);
	vb_item(&v, DCM_TAG_ITEM, DCM_UNDEFINED_LENGTH);
	vb_str(&v, DCM_TAG(0x0008, 0x0060), "CS", "MR");
	vb_str(&v, DCM_TAG(0x0008, 0x0060), "CS", "MR");
	expect_err(DCM_TS_EXPLICIT_LE, &v, DCM_EDELIM);
	/* unknown (FFFE,xxxx) tag */
	vb_init(&v, true, false);
	vb_item(&v, DCM_TAG(0xFFFE, 0xE001), 0);
	expect_err(DCM_TS_EXPLICIT_LE, &v, DCM_EDELIM);
}

Test(errors, bad_vr)
{
	struct vb v;

	vb_init(&v, true, false);
	vb_raw(&v, "\x08\x00\x60\x00mr\x02\x00MR", 10);
	expect_err(DCM_TS_EXPLICIT_LE, &v, DCM_EBADVR);
	vb_init(&v, true, false);
	vb_raw(&v, "\x08\x00\x60\x00\0\0\x02\x00MR", 10);
	expect_err(DCM_TS_EXPLICIT_LE, &v, DCM_EBADVR);
}

static void build_deep(struct vb *v, int levels, bool defined_items)
{
	/* levels nested undefined-length sequences, each with one item */
	for (int i = 0; i < levels; i++) {
		vb_hdr(v, DCM_TAG(0x0019, 0x1000 + i), "SQ", DCM_UNDEFINED_LENGTH);
		vb_item(v, DCM_TAG_ITEM, DCM_UNDEFINED_LENGTH);
	}
	vb_str(v, DCM_TAG(0x0008, 0x0060), "CS", "MR");
	for (int i = 0; i < levels; i++) {
		vb_item(v, DCM_TAG_ITEM_DELIM, 0);
		vb_item(v, DCM_TAG_SEQ_DELIM, 0);
	}
	(void)defined_items;
}

Test(errors, nesting_depth)
{
	struct vb v;
	int rc;
	char *ev;

	vb_init(&v, true, false);
	build_deep(&v, DCM_MAX_DEPTH, false);
	rc = ev_parse(ts_of(DCM_TS_EXPLICIT_LE), v.d, v.n, 3, 5, &ev, 64);
	cr_assert_eq(rc, 0);
	cr_assert(strstr(ev, "E (0008,0060) CS len=2 d=32") != NULL);
	free(ev);
	vb_free(&v);
	vb_init(&v, true, false);
	build_deep(&v, DCM_MAX_DEPTH + 1, false);
	expect_err(DCM_TS_EXPLICIT_LE, &v, DCM_EDEPTH);
	/* pixel data inside the 32nd sequence's item makes 33 */
	vb_init(&v, true, false);
	for (int i = 0; i < DCM_MAX_DEPTH; i++) {
		vb_hdr(&v, DCM_TAG(0x0019, 0x1000 + i), "SQ", DCM_UNDEFINED_LENGTH);
		vb_item(&v, DCM_TAG_ITEM, DCM_UNDEFINED_LENGTH);
	}
	vb_hdr(&v, DCM_TAG_PIXEL_DATA, "OB", DCM_UNDEFINED_LENGTH);
	expect_err(DCM_TS_EXPLICIT_LE, &v, DCM_EDEPTH);
}

Test(errors, size_limit)
{
	struct vb v;
	struct dcm_parser p;

	vb_init(&v, true, false);
	vb_str(&v, DCM_TAG(0x0008, 0x0060), "CS", "MR");
	cr_assert_eq(dcm_parser_init(&p, ts_of(DCM_TS_EXPLICIT_LE), NULL), 0);
	dcm_parser_set_limit(&p, v.n);
	cr_assert_eq(dcm_parser_feed(&p, v.d, v.n), 0);
	cr_assert_eq(dcm_parser_feed(&p, v.d, 1), DCM_ETOOBIG);
	dcm_parser_free(&p);
	vb_free(&v);
}
