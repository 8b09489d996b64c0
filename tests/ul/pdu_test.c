/*
 * Tests of the Upper Layer PDU codec (src/ul/pdu.c): real PDUs captured from dcmtk,
 * hand-built vectors with real-world quirks, round trips of every PDU and item type, and
 * the malformed cases: every length field off by one, every truncation, every rule of
 * PS3.8 9.3 that the decoder enforces. Inputs are copied into exact-size heap buffers so
 * that AddressSanitizer catches any read past the end.
 */
#include "ul/pdu.h"
#include "vectors.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers ------------------------------------------------------------------------ */

/* An exact-size heap copy (at least 1 byte so malloc never returns NULL for 0). */
static uint8_t *dup_exact(const uint8_t *p, size_t n)
{
	uint8_t *q = malloc(n ? n : 1);
	cr_assert_not_null(q);
	if (n)
		memcpy(q, p, n);
	return q;
}

/* The structs are large (about 280 KB): keep them off the stack. */
static struct ul_assoc_rq *rq_new(void)
{
	struct ul_assoc_rq *r = calloc(1, sizeof *r);
	cr_assert_not_null(r);
	return r;
}

static struct ul_assoc_ac *ac_new(void)
{
	struct ul_assoc_ac *a = calloc(1, sizeof *a);
	cr_assert_not_null(a);
	return a;
}

/* Decodes a whole PDU (header included) through the framing functions, as the glue does. */
static int decode_rq_pdu(const uint8_t *pdu, size_t n, struct ul_assoc_rq *out)
{
	uint8_t type;
	uint32_t blen;
	cr_assert_eq(ul_pdu_header(pdu, n, &type, &blen), 0);
	cr_assert_eq(type, UL_PDU_ASSOC_RQ);
	cr_assert_eq(blen, n - 6);
	cr_assert_eq(ul_pdu_check(type, blen), 0);
	uint8_t *body = dup_exact(pdu + 6, blen);
	int rc = ul_assoc_rq_decode(body, blen, out);
	free(body);
	return rc;
}

static int decode_ac_pdu(const uint8_t *pdu, size_t n, struct ul_assoc_ac *out)
{
	uint8_t type;
	uint32_t blen;
	cr_assert_eq(ul_pdu_header(pdu, n, &type, &blen), 0);
	cr_assert_eq(type, UL_PDU_ASSOC_AC);
	cr_assert_eq(blen, n - 6);
	uint8_t *body = dup_exact(pdu + 6, blen);
	int rc = ul_assoc_ac_decode(body, blen, out);
	free(body);
	return rc;
}

/* Decodes body[0..n) as an RQ (ac false) or AC (ac true) from an exact-size copy. */
static int decode_body(bool ac, const uint8_t *body, size_t n)
{
	uint8_t *b = dup_exact(body, n);
	int rc;
	if (ac) {
		struct ul_assoc_ac *a = ac_new();
		rc = ul_assoc_ac_decode(b, n, a);
		free(a);
	} else {
		struct ul_assoc_rq *r = rq_new();
		rc = ul_assoc_rq_decode(b, n, r);
		free(r);
	}
	free(b);
	return rc;
}

/*
 * Offsets (within the body) of every 16-bit item and sub-item length field of an RQ/AC
 * body: top-level items, the sub-items of 20H/21H (after 4 bytes of ID/reserved) and the
 * sub-items of 50H. Trusts the (valid) input.
 */
static size_t length_fields(const uint8_t *b, size_t n, size_t *offs, size_t max)
{
	size_t k = 0;
	for (size_t off = 68; off + 4 <= n;) {
		size_t il = (size_t)(b[off + 2] << 8 | b[off + 3]);
		cr_assert_lt(k, max);
		offs[k++] = off + 2;
		size_t sub = 0;
		if (b[off] == 0x20 || b[off] == 0x21)
			sub = off + 8;
		else if (b[off] == 0x50)
			sub = off + 4;
		for (size_t s = sub; sub && s + 4 <= off + 4 + il;) {
			cr_assert_lt(k, max);
			offs[k++] = s + 2;
			s += 4 + (size_t)(b[s + 2] << 8 | b[s + 3]);
		}
		off += 4 + il;
	}
	return k;
}

/* Every length field of a valid RQ/AC PDU off by one in each direction must fail, and so
 * must the PDU length off by one (the body one byte short, or one zero byte long). */
static void check_lengths_off_by_one(bool ac, const uint8_t *pdu, size_t n)
{
	const uint8_t *body = pdu + 6;
	size_t blen = n - 6;
	cr_assert_eq(decode_body(ac, body, blen), 0);

	size_t offs[2048];
	size_t k = length_fields(body, blen, offs, 2048);
	cr_assert_gt(k, 4);
	uint8_t *copy = dup_exact(body, blen);
	for (size_t i = 0; i < k; i++) {
		size_t o = offs[i];
		unsigned v = (unsigned)(body[o] << 8 | body[o + 1]);
		for (int d = -1; d <= 1; d += 2) {
			unsigned nv = (unsigned)((int)v + d);
			memcpy(copy, body, blen);
			copy[o] = (uint8_t)(nv >> 8);
			copy[o + 1] = (uint8_t)nv;
			int rc = decode_body(ac, copy, blen);
			cr_expect_lt(rc, 0, "length field at body offset %zu (%u%+d) accepted", o, v,
				     d);
		}
	}
	free(copy);

	cr_expect_lt(decode_body(ac, body, blen - 1), 0);
	uint8_t *longer = calloc(1, blen + 1);
	memcpy(longer, body, blen);
	cr_expect_lt(decode_body(ac, longer, blen + 1), 0);
	free(longer);
}

/* Every proper prefix of a valid body fails cleanly (no crash, no over-read). */
static void check_all_prefixes(bool ac, const uint8_t *body, size_t blen)
{
	for (size_t k = 0; k < blen; k++)
		cr_expect_lt(decode_body(ac, body, k), 0, "prefix of %zu bytes accepted", k);
}

/* ---- framing -------------------------------------------------------------------------- */

Test(framing, header_needs_six_bytes)
{
	uint8_t type = 0xee;
	uint32_t blen = 0xeeeeeeee;
	for (size_t k = 0; k < 6; k++) {
		uint8_t *b = dup_exact(echoscu_rq, k);
		cr_assert_eq(ul_pdu_header(b, k, &type, &blen), UL_NEED_MORE);
		free(b);
	}
	cr_assert_eq(type, 0xee, "out-params untouched on UL_NEED_MORE");
	cr_assert_eq(ul_pdu_header(echoscu_rq, 6, &type, &blen), 0);
	cr_assert_eq(type, 1);
	cr_assert_eq(blen, 205);
	/* big-endian, all four bytes */
	const uint8_t big[6] = {0x04, 0x00, 0x12, 0x34, 0x56, 0x78};
	cr_assert_eq(ul_pdu_header(big, 6, &type, &blen), 0);
	cr_assert_eq(blen, 0x12345678u);
}

Test(framing, check_types_and_lengths)
{
	cr_assert_eq(ul_pdu_check(0x00, 4), UL_E_PDU_TYPE);
	cr_assert_eq(ul_pdu_check(0x08, 4), UL_E_PDU_TYPE);
	cr_assert_eq(ul_pdu_check(0xff, 4), UL_E_PDU_TYPE);
	cr_assert_eq(ul_pdu_check(UL_PDU_ASSOC_RQ, 67), UL_E_LENGTH);
	cr_assert_eq(ul_pdu_check(UL_PDU_ASSOC_RQ, 68), 0);
	cr_assert_eq(ul_pdu_check(UL_PDU_ASSOC_AC, 67), UL_E_LENGTH);
	cr_assert_eq(ul_pdu_check(UL_PDU_PDATA_TF, 5), UL_E_LENGTH);
	cr_assert_eq(ul_pdu_check(UL_PDU_PDATA_TF, 6), 0);
	for (uint8_t t = 3; t <= 7; t++) {
		if (t == UL_PDU_PDATA_TF)
			continue;
		cr_assert_eq(ul_pdu_check(t, 4), 0);
		cr_assert_eq(ul_pdu_check(t, 3), UL_E_LENGTH);
		cr_assert_eq(ul_pdu_check(t, 5), UL_E_LENGTH);
	}
}

/* ---- real A-ASSOCIATE-RQ / -AC from dcmtk ------------------------------------------- */

Test(assoc_rq, echoscu_capture)
{
	struct ul_assoc_rq *r = rq_new();
	cr_assert_eq(decode_rq_pdu(echoscu_rq, sizeof echoscu_rq, r), 0);
	cr_assert_eq(r->protocol_version, 1);
	cr_assert_str_eq(r->called, "STORESCP");
	cr_assert_str_eq(r->calling, "ECHOSCU");
	cr_assert_str_eq(r->app_context, UL_APP_CONTEXT);
	cr_assert_eq(r->n_pc, 1);
	cr_assert_eq(r->pc[0].id, 1);
	cr_assert_str_eq(r->pc[0].abstract, "1.2.840.10008.1.1");
	cr_assert_eq(r->pc[0].n_ts, 1);
	cr_assert_str_eq(r->pc[0].ts[0], "1.2.840.10008.1.2");
	cr_assert_eq(r->ui.max_length, 16384);
	cr_assert_str_eq(r->ui.impl_class_uid, "1.2.276.0.7230010.3.0.3.6.7");
	cr_assert_str_eq(r->ui.impl_version, "OFFIS_DCMTK_367");
	cr_assert_not(r->ui.has_async);
	cr_assert_eq(r->ui.n_roles, 0);
	cr_assert_not(r->ui.has_user_identity);

	/* Re-encoding gives dcmtk's bytes back, except the FFH it put in a reserved byte. */
	uint8_t out[512];
	size_t w = 0;
	cr_assert_eq(ul_assoc_rq_encode(r, out, sizeof out, &w), 0);
	cr_assert_eq(w, sizeof echoscu_rq);
	uint8_t expect[sizeof echoscu_rq];
	memcpy(expect, echoscu_rq, sizeof expect);
	cr_assert_eq(expect[74 + 25 + 6], 0xff); /* 20H item: ID, reserved, reserved(FFH) */
	expect[74 + 25 + 6] = 0;
	cr_assert_arr_eq(out, expect, w);
	free(r);
}

Test(assoc_ac, storescp_capture)
{
	struct ul_assoc_ac *a = ac_new();
	cr_assert_eq(decode_ac_pdu(storescp_ac, sizeof storescp_ac, a), 0);
	cr_assert_eq(a->protocol_version, 1);
	cr_assert_str_eq(a->called, "STORESCP");
	cr_assert_str_eq(a->calling, "ECHOSCU");
	cr_assert_str_eq(a->app_context, UL_APP_CONTEXT);
	cr_assert_eq(a->n_pc, 1);
	cr_assert_eq(a->pc[0].id, 1);
	cr_assert_eq(a->pc[0].result, UL_PC_ACCEPT);
	cr_assert_str_eq(a->pc[0].ts, "1.2.840.10008.1.2");
	cr_assert_eq(a->ui.max_length, 16384);
	cr_assert_str_eq(a->ui.impl_version, "OFFIS_DCMTK_367");

	uint8_t out[512];
	size_t w = 0;
	cr_assert_eq(ul_assoc_ac_encode(a, out, sizeof out, &w), 0);
	cr_assert_eq(w, sizeof storescp_ac);
	cr_assert_arr_eq(out, storescp_ac, w, "AC re-encodes to storescp's exact bytes");
	free(a);
}

Test(assoc_rq, real_lengths_off_by_one) { check_lengths_off_by_one(false, echoscu_rq, sizeof echoscu_rq); }
Test(assoc_ac, real_lengths_off_by_one) { check_lengths_off_by_one(true, storescp_ac, sizeof storescp_ac); }
Test(assoc_rq, real_every_prefix_fails) { check_all_prefixes(false, echoscu_rq + 6, sizeof echoscu_rq - 6); }
Test(assoc_ac, real_every_prefix_fails) { check_all_prefixes(true, storescp_ac + 6, sizeof storescp_ac - 6); }

/* An AC body is not an RQ body and vice versa (21H vs 20H items). */
Test(assoc_rq, ac_is_not_rq)
{
	cr_assert_eq(decode_body(false, storescp_ac + 6, sizeof storescp_ac - 6),
		     UL_E_ITEM_UNEXPECTED);
	cr_assert_eq(decode_body(true, echoscu_rq + 6, sizeof echoscu_rq - 6),
		     UL_E_ITEM_UNEXPECTED);
}

/* ---- a hand-built RQ with real-world quirks ----------------------------------------- */

static const uint8_t quirky_rq[] = {
	0x01, 0x00, 0x00, 0x00, 0x01, 0x66, /* A-ASSOCIATE-RQ, PDU length 358 */
	0x00, 0x03, 0xbe, 0xef,             /* version 0003H (bit 0 set + an unknown bit), reserved junk */
	/* called AE "  DICOMAID      ": two leading spaces (not significant, PS3.5 AE) */
	0x20, 0x20, 'D', 'I', 'C', 'O', 'M', 'A', 'I', 'D', 0x20, 0x20, 0x20, 0x20, 0x20, 0x20,
	/* calling AE "MODALITY" padded with NULs instead of spaces */
	'M', 'O', 'D', 'A', 'L', 'I', 'T', 'Y', 0, 0, 0, 0, 0, 0, 0, 0,
	/* 32 reserved bytes, not zero: must not be tested */
	0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa,
	0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa,
	/* 10H application context, length 22: the UID padded with a NUL to even length */
	0x10, 0x00, 0x00, 0x16,
	'1', '.', '2', '.', '8', '4', '0', '.', '1', '0', '0', '0', '8', '.', '3', '.', '1', '.',
	'1', '.', '1', 0x00,
	/* 20H presentation context, length 79, ID 1, reserved bytes 1-3 junk */
	0x20, 0x00, 0x00, 0x4f, 0x01, 0x11, 0x22, 0x33,
	/* 30H abstract syntax, length 26: MR Image Storage + NUL */
	0x30, 0x00, 0x00, 0x1a,
	'1', '.', '2', '.', '8', '4', '0', '.', '1', '0', '0', '0', '8', '.', '5', '.', '1', '.',
	'4', '.', '1', '.', '1', '.', '4', 0x00,
	/* 40H transfer syntax, length 20: explicit VR little endian + space */
	0x40, 0x00, 0x00, 0x14,
	'1', '.', '2', '.', '8', '4', '0', '.', '1', '0', '0', '0', '8', '.', '1', '.', '2', '.',
	'1', ' ',
	/* 40H transfer syntax, length 17: implicit VR little endian */
	0x40, 0x00, 0x00, 0x11,
	'1', '.', '2', '.', '8', '4', '0', '.', '1', '0', '0', '0', '8', '.', '1', '.', '2',
	/* 20H presentation context, length 46, ID 3 */
	0x20, 0x00, 0x00, 0x2e, 0x03, 0x00, 0x00, 0x00,
	/* 30H abstract syntax, length 17: Verification */
	0x30, 0x00, 0x00, 0x11,
	'1', '.', '2', '.', '8', '4', '0', '.', '1', '0', '0', '0', '8', '.', '1', '.', '1',
	/* 40H transfer syntax, length 17: implicit VR little endian */
	0x40, 0x00, 0x00, 0x11,
	'1', '.', '2', '.', '8', '4', '0', '.', '1', '0', '0', '0', '8', '.', '1', '.', '2',
	/* 50H user information, length 127 */
	0x50, 0x00, 0x00, 0x7f,
	/* 51H maximum length 0: no limit (PS3.8 D.1) */
	0x51, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00,
	/* 52H implementation class UID, length 12, "1.2.3.4.5.6" + NUL */
	0x52, 0x00, 0x00, 0x0c, '1', '.', '2', '.', '3', '.', '4', '.', '5', '.', '6', 0x00,
	/* 5FH: a sub-item type this node does not know, length 3: skipped */
	0x5f, 0x00, 0x00, 0x03, 0xaa, 0xbb, 0xcc,
	/* 53H asynchronous operations window: 5 invoked, 1 performed */
	0x53, 0x00, 0x00, 0x04, 0x00, 0x05, 0x00, 0x01,
	/* 54H role selection, length 29: UID length 25, MR Image Storage, SCU 0, SCP 1 */
	0x54, 0x00, 0x00, 0x1d, 0x00, 0x19,
	'1', '.', '2', '.', '8', '4', '0', '.', '1', '0', '0', '0', '8', '.', '5', '.', '1', '.',
	'4', '.', '1', '.', '1', '.', '4', 0x00, 0x01,
	/* 55H implementation version name "QUIRK" */
	0x55, 0x00, 0x00, 0x05, 'Q', 'U', 'I', 'R', 'K',
	/* 57H common extended negotiation, length 2 (UID length 0): skipped */
	0x57, 0x00, 0x00, 0x02, 0x00, 0x00,
	/* 56H extended negotiation, length 21: UID length 17, Verification, info 01 02 */
	0x56, 0x00, 0x00, 0x15, 0x00, 0x11,
	'1', '.', '2', '.', '8', '4', '0', '.', '1', '0', '0', '0', '8', '.', '1', '.', '1',
	0x01, 0x02,
	/* 58H user identity, length 11: type 1 (username), positive response requested,
	 * primary "alice" (5), secondary empty (0) */
	0x58, 0x00, 0x00, 0x0b, 0x01, 0x01, 0x00, 0x05, 'a', 'l', 'i', 'c', 'e', 0x00, 0x00,
};

Test(assoc_rq, quirks)
{
	cr_assert_eq(sizeof quirky_rq, 6 + 358);
	struct ul_assoc_rq *r = rq_new();
	cr_assert_eq(decode_rq_pdu(quirky_rq, sizeof quirky_rq, r), 0);
	cr_assert_eq(r->protocol_version, 3);
	cr_assert_str_eq(r->called, "DICOMAID");
	cr_assert_str_eq(r->calling, "MODALITY");
	cr_assert_str_eq(r->app_context, UL_APP_CONTEXT);
	cr_assert_eq(r->n_pc, 2);
	cr_assert_eq(r->pc[0].id, 1);
	cr_assert_str_eq(r->pc[0].abstract, "1.2.840.10008.5.1.4.1.1.4");
	cr_assert_eq(r->pc[0].n_ts, 2);
	cr_assert_str_eq(r->pc[0].ts[0], "1.2.840.10008.1.2.1");
	cr_assert_str_eq(r->pc[0].ts[1], "1.2.840.10008.1.2");
	cr_assert_eq(r->pc[1].id, 3);
	cr_assert_str_eq(r->pc[1].abstract, "1.2.840.10008.1.1");
	cr_assert_eq(r->ui.max_length, 0);
	cr_assert_str_eq(r->ui.impl_class_uid, "1.2.3.4.5.6");
	cr_assert_str_eq(r->ui.impl_version, "QUIRK");
	cr_assert(r->ui.has_async);
	cr_assert_eq(r->ui.max_invoked, 5);
	cr_assert_eq(r->ui.max_performed, 1);
	cr_assert_eq(r->ui.n_roles, 1);
	cr_assert_str_eq(r->ui.roles[0].uid, "1.2.840.10008.5.1.4.1.1.4");
	cr_assert_eq(r->ui.roles[0].scu, 0);
	cr_assert_eq(r->ui.roles[0].scp, 1);
	cr_assert_eq(r->ui.n_ext_neg, 1);
	cr_assert_str_eq(r->ui.ext_neg[0].uid, "1.2.840.10008.1.1");
	cr_assert_eq(r->ui.ext_neg[0].info_len, 2);
	cr_assert_eq(r->ui.ext_neg[0].info[0], 1);
	cr_assert_eq(r->ui.ext_neg[0].info[1], 2);
	cr_assert(r->ui.has_user_identity);
	cr_assert_eq(r->ui.ui_type, 1);
	cr_assert_eq(r->ui.ui_positive_rsp, 1);
	cr_assert_eq(r->ui.ui_primary_len, 5);
	cr_assert_arr_eq(r->ui.ui_primary, "alice", 5);
	cr_assert_eq(r->ui.ui_secondary_len, 0);
	cr_assert_not(r->ui.ui_truncated);
	cr_assert_not(r->ui.has_ui_response);
	free(r);
}

Test(assoc_rq, quirks_lengths_off_by_one) { check_lengths_off_by_one(false, quirky_rq, sizeof quirky_rq); }
Test(assoc_rq, quirks_every_prefix_fails) { check_all_prefixes(false, quirky_rq + 6, sizeof quirky_rq - 6); }

/* Flipping any single byte must never crash or over-read; many flips must still decode
 * (reserved bytes, UID digits) and many must fail. A fixed-seed sweep. */
Test(assoc_rq, byte_flips_never_crash)
{
	const uint8_t *body = quirky_rq + 6;
	size_t n = sizeof quirky_rq - 6;
	uint8_t *b = dup_exact(body, n);
	struct ul_assoc_rq *r = rq_new();
	unsigned ok = 0, bad = 0;
	static const uint8_t vals[] = {0x00, 0x01, 0x20, 0x7f, 0x80, 0xff};
	for (size_t i = 0; i < n; i++) {
		for (size_t v = 0; v < sizeof vals; v++) {
			memcpy(b, body, n);
			b[i] = vals[v];
			if (ul_assoc_rq_decode(b, n, r) == 0)
				ok++;
			else
				bad++;
		}
	}
	cr_assert_gt(ok, 100);
	cr_assert_gt(bad, 100);
	free(r);
	free(b);
}

/* ---- malformed RQs built from parts ------------------------------------------------- */

/* A tiny byte builder for the variants below (test-only). */
struct bb {
	uint8_t b[4096];
	size_t n;
};

static void bb_u8(struct bb *w, uint8_t v) { w->b[w->n++] = v; }
static void bb_u16(struct bb *w, unsigned v)
{
	bb_u8(w, (uint8_t)(v >> 8));
	bb_u8(w, (uint8_t)v);
}
static void bb_mem(struct bb *w, const void *p, size_t n)
{
	memcpy(w->b + w->n, p, n);
	w->n += n;
}
static void bb_item(struct bb *w, uint8_t type, const void *v, size_t n)
{
	bb_u8(w, type);
	bb_u8(w, 0);
	bb_u16(w, (unsigned)n);
	bb_mem(w, v, n);
}
static void bb_str_item(struct bb *w, uint8_t type, const char *s) { bb_item(w, type, s, strlen(s)); }

/* Knobs of a generated RQ body; zero-initialised = a valid minimal RQ. */
struct rq_opts {
	uint16_t version;      /* 0 = 1 */
	bool no_app, dup_app, no_pc, no_ui, no_max, no_impl, dup_max, bad_max_len;
	bool no_as, dup_as, no_ts, pc_junk_item;
	bool top_unknown, top_pc_ac, top_bare_ts;
	int n_pc;              /* 0 = 1 */
	const uint8_t *ids;    /* per-context IDs, default 1,3,5... */
	const char *as_uid;    /* abstract syntax override */
	int n_ts;              /* 0 = 1 */
	const char *called16;  /* exactly 16 bytes override */
	bool role_bad_len, async_bad_len, uid_rq_bad_len, uid_ac_bad_len, ext_bad_len;
	bool dup_impl, dup_ver, dup_async, dup_ident;
};

static size_t build_rq(const struct rq_opts *o, uint8_t *out)
{
	struct bb w = {.n = 0};
	bb_u16(&w, o->version ? o->version : 1);
	bb_u16(&w, 0);
	bb_mem(&w, o->called16 ? o->called16 : "DICOMAID        ", 16);
	bb_mem(&w, "SCU             ", 16);
	for (int i = 0; i < 32; i++)
		bb_u8(&w, 0);
	if (!o->no_app)
		bb_str_item(&w, 0x10, UL_APP_CONTEXT);
	if (o->dup_app)
		bb_str_item(&w, 0x10, UL_APP_CONTEXT);
	if (o->top_unknown)
		bb_str_item(&w, 0x60, "x");
	if (o->top_bare_ts)
		bb_str_item(&w, 0x40, "1.2.840.10008.1.2");
	int npc = o->no_pc ? 0 : (o->n_pc ? o->n_pc : 1);
	for (int p = 0; p < npc; p++) {
		struct bb pc = {.n = 0};
		bb_u8(&pc, o->ids ? o->ids[p] : (uint8_t)(2 * p + 1));
		bb_u8(&pc, 0);
		bb_u8(&pc, 0);
		bb_u8(&pc, 0);
		if (!o->no_as)
			bb_str_item(&pc, 0x30, o->as_uid ? o->as_uid : "1.2.840.10008.1.1");
		if (o->dup_as)
			bb_str_item(&pc, 0x30, "1.2.840.10008.1.1");
		int nts = o->no_ts ? 0 : (o->n_ts ? o->n_ts : 1);
		for (int t = 0; t < nts; t++) {
			char ts[40];
			snprintf(ts, sizeof ts, "1.2.840.10008.1.2.%d", t + 1);
			bb_str_item(&pc, 0x40, ts);
		}
		if (o->pc_junk_item)
			bb_str_item(&pc, 0x50, "x");
		bb_item(&w, o->top_pc_ac ? 0x21 : 0x20, pc.b, pc.n);
	}
	if (!o->no_ui) {
		struct bb ui = {.n = 0};
		static const uint8_t max[4] = {0, 0, 0x40, 0};
		if (!o->no_max)
			bb_item(&ui, 0x51, max, o->bad_max_len ? 3 : 4);
		if (o->dup_max)
			bb_item(&ui, 0x51, max, 4);
		if (!o->no_impl)
			bb_str_item(&ui, 0x52, "1.2.3");
		if (o->dup_impl)
			bb_str_item(&ui, 0x52, "1.2.3");
		bb_str_item(&ui, 0x55, "V1");
		if (o->dup_ver)
			bb_str_item(&ui, 0x55, "V1");
		static const uint8_t async[4] = {0, 1, 0, 1};
		bb_item(&ui, 0x53, async, o->async_bad_len ? 3 : 4);
		if (o->dup_async)
			bb_item(&ui, 0x53, async, 4);
		/* 54H: UID length 5 "1.2.3", SCU 1, SCP 0; bad: UID length says 6 */
		static const uint8_t role[] = {0, 5, '1', '.', '2', '.', '3', 1, 0};
		static const uint8_t role_bad[] = {0, 6, '1', '.', '2', '.', '3', 1, 0};
		bb_item(&ui, 0x54, o->role_bad_len ? role_bad : role, sizeof role);
		/* 56H: UID length 5, 1 byte of info; bad: UID length 9 > item */
		static const uint8_t ext[] = {0, 5, '1', '.', '2', '.', '3', 1};
		static const uint8_t ext_bad[] = {0, 9, '1', '.', '2', '.', '3', 1};
		bb_item(&ui, 0x56, o->ext_bad_len ? ext_bad : ext, sizeof ext);
		/* 58H: type 2, no response wanted, "bob" / "pw"; bad: secondary length 3 */
		static const uint8_t ident[] = {2, 0, 0, 3, 'b', 'o', 'b', 0, 2, 'p', 'w'};
		static const uint8_t ident_bad[] = {2, 0, 0, 3, 'b', 'o', 'b', 0, 3, 'p', 'w'};
		bb_item(&ui, 0x58, o->uid_rq_bad_len ? ident_bad : ident, sizeof ident);
		if (o->dup_ident)
			bb_item(&ui, 0x58, ident, sizeof ident);
		if (o->uid_ac_bad_len) {
			static const uint8_t rsp_bad[] = {0, 3, 'o', 'k'};
			bb_item(&ui, 0x59, rsp_bad, sizeof rsp_bad);
		}
		bb_item(&w, 0x50, ui.b, ui.n);
	}
	memcpy(out, w.b, w.n);
	return w.n;
}

static int rq_variant(const struct rq_opts *o)
{
	uint8_t buf[4096];
	size_t n = build_rq(o, buf);
	return decode_body(false, buf, n);
}

Test(assoc_rq, builder_baseline_is_valid)
{
	struct rq_opts o = {0};
	uint8_t buf[4096];
	size_t n = build_rq(&o, buf);
	struct ul_assoc_rq *r = rq_new();
	cr_assert_eq(ul_assoc_rq_decode(buf, n, r), 0);
	cr_assert_eq(r->ui.n_roles, 1);
	cr_assert_eq(r->ui.roles[0].scu, 1);
	cr_assert_eq(r->ui.ui_type, 2);
	cr_assert_eq(r->ui.ui_secondary_len, 2);
	cr_assert_arr_eq(r->ui.ui_secondary, "pw", 2);
	cr_assert_eq(r->ui.n_ext_neg, 1);
	cr_assert_eq(r->ui.ext_neg[0].info_len, 1);
	free(r);
	check_all_prefixes(false, buf, n);
}

Test(assoc_rq, strict_rules)
{
	/* PS3.8 9.3.2: only bit 0 of the protocol version is tested */
	cr_expect_eq(rq_variant(&(struct rq_opts){.version = 2}), UL_E_PROTOCOL_VERSION);
	cr_expect_eq(rq_variant(&(struct rq_opts){.version = 0x8000}), UL_E_PROTOCOL_VERSION);
	cr_expect_eq(rq_variant(&(struct rq_opts){.version = 0xffff}), 0);
	/* exactly one application context item */
	cr_expect_eq(rq_variant(&(struct rq_opts){.no_app = true}), UL_E_NO_APP_CONTEXT);
	cr_expect_eq(rq_variant(&(struct rq_opts){.dup_app = true}), UL_E_ITEM_UNEXPECTED);
	/* at least one presentation context, odd distinct IDs */
	cr_expect_eq(rq_variant(&(struct rq_opts){.no_pc = true}), UL_E_NO_PC);
	static const uint8_t even[] = {2}, zero[] = {0}, dup[] = {1, 3, 1}, odd255[] = {255, 1};
	cr_expect_eq(rq_variant(&(struct rq_opts){.n_pc = 1, .ids = even}), UL_E_PC_ID);
	cr_expect_eq(rq_variant(&(struct rq_opts){.n_pc = 1, .ids = zero}), UL_E_PC_ID);
	cr_expect_eq(rq_variant(&(struct rq_opts){.n_pc = 3, .ids = dup}), UL_E_PC_ID);
	cr_expect_eq(rq_variant(&(struct rq_opts){.n_pc = 2, .ids = odd255}), 0);
	/* 20H: one 30H, one or more 40H, nothing else */
	cr_expect_eq(rq_variant(&(struct rq_opts){.no_as = true}), UL_E_PC_SYNTAX);
	cr_expect_eq(rq_variant(&(struct rq_opts){.dup_as = true}), UL_E_PC_SYNTAX);
	cr_expect_eq(rq_variant(&(struct rq_opts){.no_ts = true}), UL_E_PC_SYNTAX);
	cr_expect_eq(rq_variant(&(struct rq_opts){.pc_junk_item = true}), UL_E_ITEM_TYPE);
	/* user information: present, with 51H (length 4) and 52H, no repeats */
	cr_expect_eq(rq_variant(&(struct rq_opts){.no_ui = true}), UL_E_NO_USER_INFO);
	cr_expect_eq(rq_variant(&(struct rq_opts){.no_max = true}), UL_E_NO_USER_INFO);
	cr_expect_eq(rq_variant(&(struct rq_opts){.no_impl = true}), UL_E_NO_USER_INFO);
	cr_expect_eq(rq_variant(&(struct rq_opts){.bad_max_len = true}), UL_E_LENGTH);
	cr_expect_eq(rq_variant(&(struct rq_opts){.dup_max = true}), UL_E_ITEM_UNEXPECTED);
	cr_expect_eq(rq_variant(&(struct rq_opts){.dup_impl = true}), UL_E_ITEM_UNEXPECTED);
	cr_expect_eq(rq_variant(&(struct rq_opts){.dup_ver = true}), UL_E_ITEM_UNEXPECTED);
	cr_expect_eq(rq_variant(&(struct rq_opts){.dup_async = true}), UL_E_ITEM_UNEXPECTED);
	cr_expect_eq(rq_variant(&(struct rq_opts){.dup_ident = true}), UL_E_ITEM_UNEXPECTED);
	/* inner lengths of sub-items must agree with the sub-item length */
	cr_expect_eq(rq_variant(&(struct rq_opts){.async_bad_len = true}), UL_E_LENGTH);
	cr_expect_eq(rq_variant(&(struct rq_opts){.role_bad_len = true}), UL_E_LENGTH);
	cr_expect_eq(rq_variant(&(struct rq_opts){.ext_bad_len = true}), UL_E_LENGTH);
	cr_expect_eq(rq_variant(&(struct rq_opts){.uid_rq_bad_len = true}), UL_E_LENGTH);
	cr_expect_eq(rq_variant(&(struct rq_opts){.uid_ac_bad_len = true}), UL_E_LENGTH);
	/* items that do not belong at the top level */
	cr_expect_eq(rq_variant(&(struct rq_opts){.top_unknown = true}), UL_E_ITEM_TYPE);
	cr_expect_eq(rq_variant(&(struct rq_opts){.top_pc_ac = true}), UL_E_ITEM_UNEXPECTED);
	cr_expect_eq(rq_variant(&(struct rq_opts){.top_bare_ts = true}), UL_E_ITEM_UNEXPECTED);
}

Test(assoc_rq, uid_rules)
{
	char uid64[65], uid65[66];
	memset(uid64, '1', 64);
	uid64[64] = 0;
	memset(uid65, '1', 65);
	uid65[65] = 0;
	cr_expect_eq(rq_variant(&(struct rq_opts){.as_uid = uid64}), 0);
	cr_expect_eq(rq_variant(&(struct rq_opts){.as_uid = uid65}), UL_E_UID);
	cr_expect_eq(rq_variant(&(struct rq_opts){.as_uid = ""}), UL_E_UID);
	cr_expect_eq(rq_variant(&(struct rq_opts){.as_uid = " "}), UL_E_UID);
	cr_expect_eq(rq_variant(&(struct rq_opts){.as_uid = "1.2 3"}), UL_E_UID);
	cr_expect_eq(rq_variant(&(struct rq_opts){.as_uid = "1.2\n"}), UL_E_UID);
	cr_expect_eq(rq_variant(&(struct rq_opts){.as_uid = "1.2.3 "}), 0);
	/* 64 characters plus a NUL pad is still 64 */
	char padded[66];
	memcpy(padded, uid64, 64);
	padded[64] = ' ';
	padded[65] = 0;
	cr_expect_eq(rq_variant(&(struct rq_opts){.as_uid = padded}), 0);
}

/* An embedded NUL would silently shorten the UID: rejected (the pad only at the end). */
Test(assoc_rq, uid_embedded_nul)
{
	struct bb w = {.n = 0};
	uint8_t buf[4096];
	size_t n = build_rq(&(struct rq_opts){.as_uid = "1.2.840.10008.1.1"}, buf);
	/* find the 30H value and put a NUL in its middle */
	for (size_t i = 68; i + 4 < n; i++) {
		if (buf[i] == 0x30 && buf[i + 3] == 17 && buf[i + 4] == '1') {
			buf[i + 4 + 5] = 0;
			w.n = 1;
			break;
		}
	}
	cr_assert_eq(w.n, 1);
	cr_expect_eq(decode_body(false, buf, n), UL_E_UID);
}

Test(assoc_rq, ae_titles)
{
	cr_expect_eq(rq_variant(&(struct rq_opts){.called16 = "  AE  WITH SPACE"}), 0);
	cr_expect_eq(rq_variant(&(struct rq_opts){.called16 = "                "}), 0);
	cr_expect_eq(rq_variant(&(struct rq_opts){.called16 = "BAD\nAE          "}), UL_E_VALUE);
	cr_expect_eq(rq_variant(&(struct rq_opts){.called16 = "BAD\x80"
							    "AE          "}),
		     UL_E_VALUE);
	uint8_t buf[4096];
	size_t n = build_rq(&(struct rq_opts){.called16 = "  AE  WITH SPACE"}, buf);
	struct ul_assoc_rq *r = rq_new();
	cr_assert_eq(ul_assoc_rq_decode(buf, n, r), 0);
	cr_assert_str_eq(r->called, "AE  WITH SPACE");
	cr_assert_str_eq(r->calling, "SCU");
	n = build_rq(&(struct rq_opts){.called16 = "                "}, buf);
	cr_assert_eq(ul_assoc_rq_decode(buf, n, r), 0);
	cr_assert_str_eq(r->called, "");
	free(r);
}

/* More than UL_MAX_TS transfer syntaxes: extras skipped, parsing goes on. */
Test(assoc_rq, many_transfer_syntaxes)
{
	uint8_t buf[4096];
	size_t n = build_rq(&(struct rq_opts){.n_pc = 2, .n_ts = 40}, buf);
	struct ul_assoc_rq *r = rq_new();
	cr_assert_eq(ul_assoc_rq_decode(buf, n, r), 0);
	cr_assert_eq(r->n_pc, 2);
	cr_assert_eq(r->pc[0].n_ts, UL_MAX_TS);
	cr_assert_str_eq(r->pc[0].ts[UL_MAX_TS - 1], "1.2.840.10008.1.2.32");
	cr_assert_eq(r->pc[1].id, 3);
	cr_assert_eq(r->pc[1].n_ts, UL_MAX_TS);
	free(r);
}

/* 128 contexts (every odd ID) decode; a 129th cannot be distinct and odd. */
Test(assoc_rq, context_count_limit)
{
	uint8_t ids[129];
	for (int i = 0; i < 128; i++)
		ids[i] = (uint8_t)(2 * i + 1);
	ids[128] = 2;
	static uint8_t buf[65536];
	struct rq_opts o = {.n_pc = 128, .ids = ids};
	/* build_rq's builder holds 4 KB: use the encoder for the big ones */
	struct ul_assoc_rq *r = rq_new();
	r->protocol_version = 1;
	strcpy(r->called, "A");
	strcpy(r->calling, "B");
	strcpy(r->app_context, UL_APP_CONTEXT);
	r->n_pc = 128;
	for (int i = 0; i < 128; i++) {
		r->pc[i].id = ids[i];
		strcpy(r->pc[i].abstract, "1.2.840.10008.1.1");
		r->pc[i].n_ts = 1;
		strcpy(r->pc[i].ts[0], "1.2.840.10008.1.2");
	}
	strcpy(r->ui.impl_class_uid, "1.2.3");
	size_t w;
	cr_assert_eq(ul_assoc_rq_encode(r, buf, sizeof buf, &w), 0);
	cr_assert_eq(decode_body(false, buf + 6, w - 6), 0);
	(void)o;

	/* append a 129th context (ID 2, then ID 1 again) before the user information */
	uint8_t extra[] = {0x20, 0, 0, 46, 0x02, 0, 0, 0, 0x30, 0, 0, 17, '1', '.', '2', '.', '8',
			   '4', '0', '.', '1', '0', '0', '0', '8', '.', '1', '.', '1', 0x40, 0, 0, 17,
			   '1', '.', '2', '.', '8', '4', '0', '.', '1', '0', '0', '0', '8', '.', '1',
			   '.', '2'};
	static uint8_t big[65536 + 64];
	size_t ui_at = 0;
	for (size_t i = w - 1; i > 74; i--)
		if (buf[i] == 0x50 && buf[i + 4] == 0x51) {
			ui_at = i;
			break;
		}
	cr_assert_gt(ui_at, 0);
	for (int id = 1; id <= 2; id++) {
		extra[4] = (uint8_t)id;
		memcpy(big, buf + 6, ui_at - 6);
		memcpy(big + ui_at - 6, extra, sizeof extra);
		memcpy(big + ui_at - 6 + sizeof extra, buf + ui_at, w - ui_at);
		cr_expect_eq(decode_body(false, big, w - 6 + sizeof extra), UL_E_PC_ID);
	}
	free(r);
}

/* Long user-identity fields are cut at UL_UI_FIELD_MAX and flagged, not rejected. */
Test(assoc_rq, long_user_identity_truncated)
{
	struct ul_assoc_rq *r = rq_new();
	r->protocol_version = 1;
	strcpy(r->app_context, UL_APP_CONTEXT);
	r->n_pc = 1;
	r->pc[0].id = 1;
	strcpy(r->pc[0].abstract, "1.2");
	r->pc[0].n_ts = 1;
	strcpy(r->pc[0].ts[0], "1.2");
	strcpy(r->ui.impl_class_uid, "1.2.3");
	size_t w;
	static uint8_t buf[4096];
	cr_assert_eq(ul_assoc_rq_encode(r, buf, sizeof buf, &w), 0);
	/* hand-append a 58H with a 1000-byte JWT into the 50H item (the last item) */
	static uint8_t big[8192];
	memcpy(big, buf, w);
	size_t ui_at = 0;
	for (size_t i = 74; i < w; i++)
		if (big[i] == 0x50 && big[i + 4] == 0x51)
			ui_at = i;
	cr_assert_gt(ui_at, 0);
	size_t add = 4 + 6 + 1000;
	uint8_t *p = big + w;
	*p++ = 0x58, *p++ = 0, *p++ = (uint8_t)((6 + 1000) >> 8), *p++ = (uint8_t)(6 + 1000);
	*p++ = 5, *p++ = 0, *p++ = 1000 >> 8, *p++ = 1000 & 0xff;
	memset(p, 'j', 1000);
	p += 1000;
	*p++ = 0, *p++ = 0;
	unsigned uil = (unsigned)(big[ui_at + 2] << 8 | big[ui_at + 3]) + (unsigned)add;
	big[ui_at + 2] = (uint8_t)(uil >> 8);
	big[ui_at + 3] = (uint8_t)uil;
	cr_assert_eq(ul_assoc_rq_decode(big + 6, w - 6 + add, r), 0);
	cr_assert(r->ui.has_user_identity);
	cr_assert_eq(r->ui.ui_type, 5);
	cr_assert_eq(r->ui.ui_primary_len, UL_UI_FIELD_MAX);
	cr_assert(r->ui.ui_truncated);
	free(r);
}

/* ---- round trips ------------------------------------------------------------------------ */

static void fill_ui(struct ul_user_info *ui)
{
	ui->max_length = 0x00012345;
	strcpy(ui->impl_class_uid, "1.2.826.0.1.3680043.10.1");
	strcpy(ui->impl_version, "DICOMAID_0.1.0");
	ui->has_async = true;
	ui->max_invoked = 7;
	ui->max_performed = 3;
	ui->n_roles = 3;
	for (unsigned i = 0; i < 3; i++) {
		snprintf(ui->roles[i].uid, sizeof ui->roles[i].uid, "1.2.840.10008.5.1.4.1.1.%u", i + 1);
		ui->roles[i].scu = (uint8_t)(i & 1);
		ui->roles[i].scp = 1;
	}
	ui->n_ext_neg = 2;
	strcpy(ui->ext_neg[0].uid, "1.2.840.10008.5.1.4.1.2.2.1");
	ui->ext_neg[0].info_len = 3;
	memcpy(ui->ext_neg[0].info, "\x01\x01\x00", 3);
	strcpy(ui->ext_neg[1].uid, "1.2.840.10008.5.1.4.1.2.1.1");
	ui->ext_neg[1].info_len = 0;
	ui->has_user_identity = true;
	ui->ui_type = 2;
	ui->ui_positive_rsp = 1;
	ui->ui_primary_len = 4;
	memcpy(ui->ui_primary, "user", 4);
	ui->ui_secondary_len = 6;
	memcpy(ui->ui_secondary, "secret", 6);
	ui->has_ui_response = true;
	ui->ui_response_len = 2;
	memcpy(ui->ui_response, "ok", 2);
}

Test(assoc_rq, round_trip_everything)
{
	struct ul_assoc_rq *in = rq_new(), *out = rq_new();
	in->protocol_version = 1;
	strcpy(in->called, "DICOMAID");
	strcpy(in->calling, "SIXTEEN_CHARS_AE");
	strcpy(in->app_context, UL_APP_CONTEXT);
	in->n_pc = 5;
	for (unsigned i = 0; i < 5; i++) {
		struct ul_pc_rq *pc = &in->pc[i];
		pc->id = (uint8_t)(255 - 2 * i);
		snprintf(pc->abstract, sizeof pc->abstract, "1.2.840.10008.5.1.4.1.1.%u", i);
		pc->n_ts = i + 1;
		for (unsigned t = 0; t <= i; t++)
			snprintf(pc->ts[t], sizeof pc->ts[t], "1.2.840.10008.1.2.4.%u", 50 + t);
	}
	memset(in->pc[4].abstract, '9', 64);
	in->pc[4].abstract[64] = 0;
	fill_ui(&in->ui);

	static uint8_t buf[16384];
	size_t w = 0;
	cr_assert_eq(ul_assoc_rq_encode(in, buf, sizeof buf, &w), 0);
	cr_assert_eq(decode_rq_pdu(buf, w, out), 0);
	cr_assert_eq(memcmp(in, out, sizeof *in), 0, "RQ round trip differs");
	cr_assert_str_eq((const char *)buf + 10, "DICOMAID        SIXTEEN_CHARS_AE");
	check_lengths_off_by_one(false, buf, w);
	check_all_prefixes(false, buf + 6, w - 6);

	/* Every capacity short of the size fails with UL_E_NOSPACE, says the size it needs,
	 * and never writes past cap (ASan: exact-size buffers). */
	for (size_t cap = 0; cap < w; cap++) {
		uint8_t *small = malloc(cap ? cap : 1);
		size_t got = 99;
		cr_assert_eq(ul_assoc_rq_encode(in, small, cap, &got), UL_E_NOSPACE);
		cr_assert_eq(got, w);
		free(small);
	}
	uint8_t *exact = malloc(w);
	size_t got = 0;
	cr_assert_eq(ul_assoc_rq_encode(in, exact, w, &got), 0);
	cr_assert_eq(got, w);
	cr_assert_arr_eq(exact, buf, w);
	free(exact);
	free(in);
	free(out);
}

Test(assoc_ac, round_trip_everything)
{
	struct ul_assoc_ac *in = ac_new(), *out = ac_new();
	in->protocol_version = 1;
	strcpy(in->called, "DICOMAID");
	strcpy(in->calling, "MODALITY");
	strcpy(in->app_context, UL_APP_CONTEXT);
	in->n_pc = 5;
	for (unsigned i = 0; i < 5; i++) {
		in->pc[i].id = (uint8_t)(2 * i + 1);
		in->pc[i].result = (uint8_t)i; /* 0 accept .. 4 TS not supported */
		if (i == 0 || i == 3)
			strcpy(in->pc[i].ts, "1.2.840.10008.1.2.1");
	}
	fill_ui(&in->ui);
	static uint8_t buf[16384];
	size_t w = 0;
	cr_assert_eq(ul_assoc_ac_encode(in, buf, sizeof buf, &w), 0);
	cr_assert_eq(decode_ac_pdu(buf, w, out), 0);
	cr_assert_eq(memcmp(in, out, sizeof *in), 0, "AC round trip differs");
	check_all_prefixes(true, buf + 6, w - 6);
	check_lengths_off_by_one(true, buf, w);
	for (size_t cap = 0; cap < w; cap++) {
		uint8_t *small = malloc(cap ? cap : 1);
		size_t got = 0;
		cr_assert_eq(ul_assoc_ac_encode(in, small, cap, &got), UL_E_NOSPACE);
		cr_assert_eq(got, w);
		free(small);
	}
	free(in);
	free(out);
}

/* A rejected context's 40H is not tested (PS3.8 Table 9-18); an accepted one's is. */
Test(assoc_ac, rejected_context_ts_not_tested)
{
	struct bb w = {.n = 0};
	bb_u16(&w, 1);
	bb_u16(&w, 0);
	bb_mem(&w, "A               B               ", 32);
	for (int i = 0; i < 32; i++)
		bb_u8(&w, 0);
	bb_str_item(&w, 0x10, UL_APP_CONTEXT);
	/* ID 1 rejected (3) with a garbage 40H; ID 3 rejected (4) with no 40H at all; ID 5
	 * rejected (1) with two 40H */
	static const uint8_t pc1[] = {1, 0, 3, 0, 0x40, 0, 0, 3, 'x', 0x01, 'y'};
	static const uint8_t pc3[] = {3, 0, 4, 0};
	static const uint8_t pc5[] = {5, 0, 1, 0, 0x40, 0, 0, 1, '1', 0x40, 0, 0, 1, '2'};
	bb_item(&w, 0x21, pc1, sizeof pc1);
	bb_item(&w, 0x21, pc3, sizeof pc3);
	bb_item(&w, 0x21, pc5, sizeof pc5);
	size_t ui_at = w.n;
	static const uint8_t ui[] = {0x51, 0, 0, 4, 0, 0, 0, 0, 0x52, 0, 0, 1, '1'};
	bb_item(&w, 0x50, ui, sizeof ui);
	struct ul_assoc_ac *a = ac_new();
	uint8_t *b = dup_exact(w.b, w.n);
	cr_assert_eq(ul_assoc_ac_decode(b, w.n, a), 0);
	cr_assert_eq(a->n_pc, 3);
	cr_assert_eq(a->pc[0].result, 3);
	cr_assert_str_eq(a->pc[0].ts, "");
	cr_assert_eq(a->pc[1].result, 4);
	cr_assert_str_eq(a->pc[2].ts, "1");
	free(b);

	/* the same with an accepted context lacking its 40H, or with two */
	w.n = ui_at;
	static const uint8_t acc_none[] = {7, 0, 0, 0};
	bb_item(&w, 0x21, acc_none, sizeof acc_none);
	bb_item(&w, 0x50, ui, sizeof ui);
	cr_expect_eq(decode_body(true, w.b, w.n), UL_E_PC_SYNTAX);
	w.n = ui_at;
	static const uint8_t acc_two[] = {7, 0, 0, 0, 0x40, 0, 0, 1, '1', 0x40, 0, 0, 1, '2'};
	bb_item(&w, 0x21, acc_two, sizeof acc_two);
	bb_item(&w, 0x50, ui, sizeof ui);
	cr_expect_eq(decode_body(true, w.b, w.n), UL_E_PC_SYNTAX);
	/* a result outside 0..4 */
	w.n = ui_at;
	static const uint8_t bad_result[] = {7, 0, 5, 0};
	bb_item(&w, 0x21, bad_result, sizeof bad_result);
	bb_item(&w, 0x50, ui, sizeof ui);
	cr_expect_eq(decode_body(true, w.b, w.n), UL_E_VALUE);
	free(a);
}

/* The AE-title fields of an AC are reserved: odd bytes are sanitised, never rejected. */
Test(assoc_ac, reserved_ae_not_tested)
{
	uint8_t pdu[sizeof storescp_ac];
	memcpy(pdu, storescp_ac, sizeof pdu);
	pdu[10] = '\n';
	pdu[26] = 0xff;
	struct ul_assoc_ac *a = ac_new();
	cr_assert_eq(decode_ac_pdu(pdu, sizeof pdu, a), 0);
	cr_assert_str_eq(a->called, "?TORESCP");
	cr_assert_str_eq(a->calling, "?CHOSCU");
	free(a);
}

Test(assoc_rq, encode_rejects_invalid_structs)
{
	struct ul_assoc_rq *r = rq_new();
	r->protocol_version = 1;
	strcpy(r->app_context, UL_APP_CONTEXT);
	r->n_pc = 1;
	r->pc[0].id = 1;
	strcpy(r->pc[0].abstract, "1.2");
	r->pc[0].n_ts = 1;
	strcpy(r->pc[0].ts[0], "1.2");
	strcpy(r->ui.impl_class_uid, "1.2.3");
	static uint8_t buf[4096];
	size_t w;
	cr_assert_eq(ul_assoc_rq_encode(r, buf, sizeof buf, &w), 0);

	r->pc[0].id = 2;
	cr_expect_eq(ul_assoc_rq_encode(r, buf, sizeof buf, &w), UL_E_INVAL);
	r->pc[0].id = 1;
	r->n_pc = 0;
	cr_expect_eq(ul_assoc_rq_encode(r, buf, sizeof buf, &w), UL_E_INVAL);
	r->n_pc = 2;
	r->pc[1] = r->pc[0]; /* same ID twice */
	cr_expect_eq(ul_assoc_rq_encode(r, buf, sizeof buf, &w), UL_E_INVAL);
	r->n_pc = 1;
	r->pc[0].n_ts = 0;
	cr_expect_eq(ul_assoc_rq_encode(r, buf, sizeof buf, &w), UL_E_INVAL);
	r->pc[0].n_ts = UL_MAX_TS + 1;
	cr_expect_eq(ul_assoc_rq_encode(r, buf, sizeof buf, &w), UL_E_INVAL);
	r->pc[0].n_ts = 1;
	r->pc[0].abstract[0] = 0;
	cr_expect_eq(ul_assoc_rq_encode(r, buf, sizeof buf, &w), UL_E_INVAL);
	strcpy(r->pc[0].abstract, "1.2");
	memset(r->called, 'A', sizeof r->called); /* 17 chars, no terminator in range */
	cr_expect_eq(ul_assoc_rq_encode(r, buf, sizeof buf, &w), UL_E_INVAL);
	r->called[0] = 0;
	r->ui.impl_class_uid[0] = 0;
	cr_expect_eq(ul_assoc_rq_encode(r, buf, sizeof buf, &w), UL_E_INVAL);
	strcpy(r->ui.impl_class_uid, "1.2.3");
	memset(r->app_context, '1', sizeof r->app_context); /* 65 chars */
	cr_expect_eq(ul_assoc_rq_encode(r, buf, sizeof buf, &w), UL_E_INVAL);
	strcpy(r->app_context, UL_APP_CONTEXT);
	r->ui.n_roles = UL_MAX_ROLES + 1;
	cr_expect_eq(ul_assoc_rq_encode(r, buf, sizeof buf, &w), UL_E_INVAL);
	r->ui.n_roles = 0;
	r->ui.ui_primary_len = UL_UI_FIELD_MAX + 1;
	cr_expect_eq(ul_assoc_rq_encode(r, buf, sizeof buf, &w), UL_E_INVAL);
	r->ui.ui_primary_len = 0;
	cr_expect_eq(ul_assoc_rq_encode(r, buf, sizeof buf, &w), 0);
	free(r);
}

/* ---- A-ASSOCIATE-RJ, A-RELEASE, A-ABORT --------------------------------------------- */

Test(fixed, associate_rj)
{
	uint8_t out[10];
	ul_assoc_rj_encode(out, UL_RJ_PERMANENT, UL_RJ_SRC_USER, 7);
	/* 03H, reserved, length 4, reserved, result 1, source 1, reason 7 (called AE unknown) */
	static const uint8_t expect[10] = {0x03, 0, 0, 0, 0, 4, 0, 1, 1, 7};
	cr_assert_arr_eq(out, expect, 10);
	uint8_t res, src, rsn;
	cr_assert_eq(ul_assoc_rj_decode(out + 6, 4, &res, &src, &rsn), 0);
	cr_assert_eq(res, 1);
	cr_assert_eq(src, 1);
	cr_assert_eq(rsn, 7);
	ul_assoc_rj_encode(out, UL_RJ_TRANSIENT, UL_RJ_SRC_PRESENTATION, 2);
	cr_assert_eq(ul_assoc_rj_decode(out + 6, 4, &res, &src, &rsn), 0);
	cr_assert_eq(res, 2);
	cr_assert_eq(src, 3);
	cr_assert_eq(rsn, 2);
	cr_assert_eq(ul_assoc_rj_decode(out + 6, 3, &res, &src, &rsn), UL_E_LENGTH);
	cr_assert_eq(ul_assoc_rj_decode(out + 6, 5, &res, &src, &rsn), UL_E_LENGTH);
	static const uint8_t bad_result[4] = {0, 3, 1, 1}, bad_source[4] = {0, 1, 4, 1},
			     zero_source[4] = {0, 1, 0, 1};
	cr_assert_eq(ul_assoc_rj_decode(bad_result, 4, &res, &src, &rsn), UL_E_VALUE);
	cr_assert_eq(ul_assoc_rj_decode(bad_source, 4, &res, &src, &rsn), UL_E_VALUE);
	cr_assert_eq(ul_assoc_rj_decode(zero_source, 4, &res, &src, &rsn), UL_E_VALUE);
}

Test(fixed, release_matches_dcmtk)
{
	uint8_t out[10];
	ul_release_rq_encode(out);
	cr_assert_arr_eq(out, echoscu_release_rq, 10);
	ul_release_rp_encode(out);
	cr_assert_arr_eq(out, storescp_release_rp, 10);
	cr_assert_eq(ul_release_decode(echoscu_release_rq + 6, 4), 0);
	cr_assert_eq(ul_release_decode(storescp_release_rp + 6, 4), 0);
	static const uint8_t junk[5] = {0xff, 0xff, 0xff, 0xff, 0};
	cr_assert_eq(ul_release_decode(junk, 4), 0, "reserved bytes are not tested");
	cr_assert_eq(ul_release_decode(junk, 3), UL_E_LENGTH);
	cr_assert_eq(ul_release_decode(junk, 5), UL_E_LENGTH);
}

Test(fixed, abort)
{
	uint8_t out[10];
	ul_abort_encode(out, UL_ABORT_SRC_PROVIDER, 6);
	/* 07H, reserved, length 4, 2 reserved, source 2, reason 6 */
	static const uint8_t expect[10] = {0x07, 0, 0, 0, 0, 4, 0, 0, 2, 6};
	cr_assert_arr_eq(out, expect, 10);
	uint8_t src = 0xee, rsn = 0xee;
	cr_assert_eq(ul_abort_decode(out + 6, 4, &src, &rsn), 0);
	cr_assert_eq(src, 2);
	cr_assert_eq(rsn, 6);
	ul_abort_encode(out, UL_ABORT_SRC_USER, 0);
	cr_assert_eq(ul_abort_decode(out + 6, 4, &src, &rsn), 0);
	cr_assert_eq(src, 0);
	cr_assert_eq(rsn, 0);
	cr_assert_eq(ul_abort_decode(out + 6, 3, &src, &rsn), UL_E_LENGTH);
	cr_assert_eq(ul_abort_decode(out + 6, 0, &src, &rsn), UL_E_LENGTH);
}

/* ---- P-DATA-TF ---------------------------------------------------------------------- */

Test(pdata, dcmtk_echo_command)
{
	uint8_t type;
	uint32_t blen;
	cr_assert_eq(ul_pdu_header(echoscu_pdata_cmd, sizeof echoscu_pdata_cmd, &type, &blen), 0);
	cr_assert_eq(type, UL_PDU_PDATA_TF);
	cr_assert_eq(ul_pdu_check(type, blen), 0);
	uint8_t *body = dup_exact(echoscu_pdata_cmd + 6, blen);
	size_t off = 0;
	struct ul_pdv pdv;
	cr_assert_eq(ul_pdata_next(body, blen, &off, &pdv), 1);
	cr_assert_eq(pdv.pc_id, 1);
	cr_assert_eq(pdv.mch, UL_MCH_COMMAND | UL_MCH_LAST);
	cr_assert_eq(pdv.len, 68);
	cr_assert_eq(pdv.data, body + 6);
	cr_assert_eq(pdv.data[0], 0x00); /* (0000,0000) group length tag */
	cr_assert_eq(ul_pdata_next(body, blen, &off, &pdv), 0);
	cr_assert_eq(ul_pdata_next(body, blen, &off, &pdv), 0, "end is sticky");
	free(body);

	/* our header encoder produces the same 12 bytes dcmtk sent */
	uint8_t hdr[12];
	ul_pdata_header_encode(hdr, 68, 1, UL_MCH_COMMAND | UL_MCH_LAST);
	cr_assert_arr_eq(hdr, echoscu_pdata_cmd, 12);
	ul_pdata_header_encode(hdr, 78, 1, 3);
	cr_assert_arr_eq(hdr, storescp_pdata_rsp, 12);
}

/* A body of three PDVs: command last, data (not last), data last with 0-byte fragment. */
static const uint8_t three_pdvs[] = {
	0x00, 0x00, 0x00, 0x05, 0x01, 0x03, 'c', 'm', 'd', /* len 5, ctx 1, command+last */
	0x00, 0x00, 0x00, 0x04, 0x03, 0x00, 'd', '1',      /* len 4, ctx 3, data */
	0x00, 0x00, 0x00, 0x02, 0x03, 0x02,                /* len 2, ctx 3, data+last, empty */
};

Test(pdata, several_pdvs)
{
	uint8_t *b = dup_exact(three_pdvs, sizeof three_pdvs);
	size_t off = 0;
	struct ul_pdv p;
	cr_assert_eq(ul_pdata_next(b, sizeof three_pdvs, &off, &p), 1);
	cr_assert_eq(p.pc_id, 1);
	cr_assert_eq(p.mch, 3);
	cr_assert_eq(p.len, 3);
	cr_assert_arr_eq(p.data, "cmd", 3);
	cr_assert_eq(off, 9);
	cr_assert_eq(ul_pdata_next(b, sizeof three_pdvs, &off, &p), 1);
	cr_assert_eq(p.pc_id, 3);
	cr_assert_eq(p.mch, 0);
	cr_assert_arr_eq(p.data, "d1", 2);
	cr_assert_eq(ul_pdata_next(b, sizeof three_pdvs, &off, &p), 1);
	cr_assert_eq(p.mch, UL_MCH_LAST);
	cr_assert_eq(p.len, 0);
	cr_assert_eq(ul_pdata_next(b, sizeof three_pdvs, &off, &p), 0);
	free(b);

	/* every truncation: the PDVs before the cut come out, then a clean error or end */
	for (size_t k = 0; k < sizeof three_pdvs; k++) {
		uint8_t *t = dup_exact(three_pdvs, k);
		size_t o = 0;
		int rc, n = 0;
		while ((rc = ul_pdata_next(t, k, &o, &p)) == 1)
			n++;
		bool boundary = (k == 9 || k == 17);
		cr_expect_eq(rc, boundary ? 0 : UL_E_PDV, "cut at %zu", k);
		cr_expect_eq(n, k >= 17 ? 2 : k >= 9 ? 1 : 0, "cut at %zu", k);
		free(t);
	}
}

Test(pdata, malformed)
{
	struct ul_pdv p;
	size_t off;
	/* item length 1 (< 2: no room for context ID and header) */
	static const uint8_t short_len[] = {0, 0, 0, 1, 1, 3};
	off = 0;
	cr_expect_eq(ul_pdata_next(short_len, sizeof short_len, &off, &p), UL_E_PDV);
	/* item length 0 */
	static const uint8_t zero_len[] = {0, 0, 0, 0, 1, 3};
	off = 0;
	cr_expect_eq(ul_pdata_next(zero_len, sizeof zero_len, &off, &p), UL_E_PDV);
	/* item length one past the body */
	static const uint8_t past[] = {0, 0, 0, 3, 1, 3};
	off = 0;
	cr_expect_eq(ul_pdata_next(past, sizeof past, &off, &p), UL_E_PDV);
	/* huge length (would wrap a 32-bit sum) */
	static const uint8_t huge[] = {0xff, 0xff, 0xff, 0xff, 1, 3};
	off = 0;
	cr_expect_eq(ul_pdata_next(huge, sizeof huge, &off, &p), UL_E_PDV);
	/* even context ID, zero context ID */
	static const uint8_t even[] = {0, 0, 0, 2, 2, 3}, zero[] = {0, 0, 0, 2, 0, 3};
	off = 0;
	cr_expect_eq(ul_pdata_next(even, sizeof even, &off, &p), UL_E_PDV);
	off = 0;
	cr_expect_eq(ul_pdata_next(zero, sizeof zero, &off, &p), UL_E_PDV);
	/* message control header bits 2..7, each */
	for (int bit = 2; bit < 8; bit++) {
		uint8_t m[] = {0, 0, 0, 2, 1, (uint8_t)(1u << bit)};
		off = 0;
		cr_expect_eq(ul_pdata_next(m, sizeof m, &off, &p), UL_E_PDV, "bit %d", bit);
	}
	/* valid first PDV, then 1..3 stray bytes */
	for (size_t extra = 1; extra < 4; extra++) {
		uint8_t m[9] = {0, 0, 0, 2, 1, 3, 0, 0, 0};
		uint8_t *t = dup_exact(m, 6 + extra);
		off = 0;
		cr_expect_eq(ul_pdata_next(t, 6 + extra, &off, &p), 1);
		cr_expect_eq(ul_pdata_next(t, 6 + extra, &off, &p), UL_E_PDV);
		free(t);
	}
	/* a P-DATA-TF with no PDV at all */
	off = 0;
	cr_expect_eq(ul_pdata_next(short_len, 0, &off, &p), UL_E_PDV);
	/* all four legal control headers */
	for (uint8_t m = 0; m < 4; m++) {
		uint8_t ok[] = {0, 0, 0, 2, 255, m};
		off = 0;
		cr_expect_eq(ul_pdata_next(ok, sizeof ok, &off, &p), 1);
		cr_expect_eq(p.mch, m);
		cr_expect_eq(p.pc_id, 255);
	}
}

Test(pdata, header_encode_big)
{
	uint8_t h[12];
	ul_pdata_header_encode(h, 0x01020304, 255, 0);
	static const uint8_t expect[12] = {0x04, 0, 0x01, 0x02, 0x03, 0x0a,
					   0x01, 0x02, 0x03, 0x06, 0xff, 0x00};
	cr_assert_arr_eq(h, expect, 12);
	/* what we encode, we iterate */
	uint8_t pdu[12 + 5];
	ul_pdata_header_encode(pdu, 5, 7, UL_MCH_LAST);
	memcpy(pdu + 12, "hello", 5);
	uint8_t type;
	uint32_t blen;
	cr_assert_eq(ul_pdu_header(pdu, sizeof pdu, &type, &blen), 0);
	cr_assert_eq(blen, sizeof pdu - 6);
	size_t off = 0;
	struct ul_pdv p;
	cr_assert_eq(ul_pdata_next(pdu + 6, blen, &off, &p), 1);
	cr_assert_eq(p.pc_id, 7);
	cr_assert_eq(p.len, 5);
	cr_assert_arr_eq(p.data, "hello", 5);
	cr_assert_eq(ul_pdata_next(pdu + 6, blen, &off, &p), 0);
}

Test(pdata, max_fragment)
{
	cr_assert_eq(ul_pdata_max_fragment(16384, 1 << 20), 16378);
	cr_assert_eq(ul_pdata_max_fragment(16384, 100), 100);
	cr_assert_eq(ul_pdata_max_fragment(0, 1 << 20), 1 << 20);
	cr_assert_eq(ul_pdata_max_fragment(7, 1 << 20), 1);
	cr_assert_eq(ul_pdata_max_fragment(6, 1 << 20), 0);
	cr_assert_eq(ul_pdata_max_fragment(0xffffffffu, 1u << 30), 1u << 30);
}

/* ---- errors --------------------------------------------------------------------------- */

Test(errors, abort_reasons_and_names)
{
	cr_assert_eq(ul_abort_reason_for(UL_E_PDU_TYPE), 1);
	cr_assert_eq(ul_abort_reason_for(UL_E_UNEXPECTED), 2);
	cr_assert_eq(ul_abort_reason_for(UL_E_ITEM_TYPE), 4);
	cr_assert_eq(ul_abort_reason_for(UL_E_ITEM_UNEXPECTED), 5);
	int sixes[] = {UL_E_LENGTH, UL_E_PROTOCOL_VERSION, UL_E_NO_APP_CONTEXT, UL_E_NO_PC,
		       UL_E_PC_ID, UL_E_PC_SYNTAX, UL_E_NO_USER_INFO, UL_E_UID, UL_E_VALUE,
		       UL_E_PDV};
	for (size_t i = 0; i < sizeof sixes / sizeof sixes[0]; i++)
		cr_assert_eq(ul_abort_reason_for(sixes[i]), 6);
	cr_assert_eq(ul_abort_reason_for(UL_E_NOSPACE), 0);
	cr_assert_eq(ul_abort_reason_for(0), 0);
	/* every code has its own message */
	for (int a = UL_E_FSM_BLANK; a <= 0; a++) {
		cr_assert_str_neq(ul_strerror(a), "unknown error", "code %d", a);
		for (int b = a + 1; b <= 0; b++)
			cr_assert_str_neq(ul_strerror(a), ul_strerror(b), "%d vs %d", a, b);
	}
	cr_assert_str_eq(ul_strerror(-999), "unknown error");
}

/* ---- framing over a byte stream split anywhere --------------------------------------- */

/*
 * What the glue does with ul_pdu_header: buffer bytes, and each time a whole PDU is
 * there, decode it and drop it. Feeds `stream` in two chunks cut at `cut` (or byte by byte
 * when cut is 0) and records the PDU types decoded, in order.
 */
static size_t reassemble(const uint8_t *stream, size_t n, size_t cut, uint8_t *types)
{
	static uint8_t buf[1024];
	size_t have = 0, count = 0, fed = 0;
	struct ul_assoc_rq *r = rq_new();
	while (fed < n) {
		size_t chunk = cut ? (fed < cut ? cut - fed : n - fed) : 1;
		memcpy(buf + have, stream + fed, chunk);
		have += chunk;
		fed += chunk;
		for (;;) {
			uint8_t type;
			uint32_t blen;
			if (ul_pdu_header(buf, have, &type, &blen) == UL_NEED_MORE)
				break;
			cr_assert_eq(ul_pdu_check(type, blen), 0);
			cr_assert_leq(blen, sizeof buf - 6, "length checked before buffering");
			if (have < 6 + (size_t)blen)
				break;
			uint8_t *body = dup_exact(buf + 6, blen);
			size_t off = 0;
			struct ul_pdv pdv;
			switch (type) {
			case UL_PDU_ASSOC_RQ:
				cr_assert_eq(ul_assoc_rq_decode(body, blen, r), 0);
				cr_assert_str_eq(r->calling, "ECHOSCU");
				break;
			case UL_PDU_PDATA_TF:
				cr_assert_eq(ul_pdata_next(body, blen, &off, &pdv), 1);
				cr_assert_eq(pdv.len, 68);
				cr_assert_eq(ul_pdata_next(body, blen, &off, &pdv), 0);
				break;
			case UL_PDU_RELEASE_RQ:
				cr_assert_eq(ul_release_decode(body, blen), 0);
				break;
			default:
				cr_assert_fail("unexpected PDU type %u", type);
			}
			free(body);
			types[count++] = type;
			memmove(buf, buf + 6 + blen, have - 6 - blen);
			have -= 6 + blen;
		}
	}
	cr_assert_eq(have, 0, "bytes left over");
	free(r);
	return count;
}

Test(framing, stream_split_at_every_offset)
{
	/* echoscu's side of a C-ECHO association: RQ, P-DATA-TF, A-RELEASE-RQ */
	static uint8_t stream[sizeof echoscu_rq + sizeof echoscu_pdata_cmd +
			      sizeof echoscu_release_rq];
	size_t n = 0;
	memcpy(stream + n, echoscu_rq, sizeof echoscu_rq);
	n += sizeof echoscu_rq;
	memcpy(stream + n, echoscu_pdata_cmd, sizeof echoscu_pdata_cmd);
	n += sizeof echoscu_pdata_cmd;
	memcpy(stream + n, echoscu_release_rq, sizeof echoscu_release_rq);
	n += sizeof echoscu_release_rq;
	static const uint8_t want[3] = {UL_PDU_ASSOC_RQ, UL_PDU_PDATA_TF, UL_PDU_RELEASE_RQ};
	for (size_t cut = 0; cut < n; cut++) {
		uint8_t types[8];
		cr_assert_eq(reassemble(stream, n, cut, types), 3, "cut at %zu", cut);
		cr_assert_arr_eq(types, want, 3, "cut at %zu", cut);
	}
}

/* A version the node does not speak is answered with A-ASSOCIATE-RJ (source 2, reason 2),
 * and that reject is logged with the AE titles: they are decoded before the version test. */
Test(assoc_rq, version_error_keeps_ae_titles)
{
	uint8_t buf[4096];
	size_t n = build_rq(&(struct rq_opts){.version = 2}, buf);
	struct ul_assoc_rq *r = rq_new();
	cr_assert_eq(ul_assoc_rq_decode(buf, n, r), UL_E_PROTOCOL_VERSION);
	cr_assert_str_eq(r->called, "DICOMAID");
	cr_assert_str_eq(r->calling, "SCU");
	cr_assert_eq(r->protocol_version, 2);
	free(r);
}

/* ---- a big real RQ: dcmtk getscu ------------------------------------------------------ */

/*
 * tests/ul/data/getscu_rq.bin: the A-ASSOCIATE-RQ of `getscu -aet GETSCU -aec DICOMAID -P`
 * (dcmtk 3.6.7), captured with `nc -l 127.0.0.1 11196`: 17435 bytes, 121 presentation
 * contexts (Patient Root GET + 120 storage classes) and 120 SCP/SCU role selection items
 * (SCU 0, SCP 1), as a C-GET SCU must send (PS3.4 C.4.3.3).
 */
static uint8_t *load_getscu(size_t *n)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/tests/ul/data/getscu_rq.bin", ABS_TOP_SRCDIR);
	FILE *f = fopen(path, "rb");
	cr_assert_not_null(f, "%s", path);
	static uint8_t buf[32768];
	*n = fread(buf, 1, sizeof buf, f);
	fclose(f);
	cr_assert_eq(*n, 17435);
	return dup_exact(buf, *n);
}

Test(assoc_rq, getscu_capture)
{
	size_t n;
	uint8_t *pdu = load_getscu(&n);
	struct ul_assoc_rq *r = rq_new();
	cr_assert_eq(decode_rq_pdu(pdu, n, r), 0);
	cr_assert_str_eq(r->called, "DICOMAID");
	cr_assert_str_eq(r->calling, "GETSCU");
	cr_assert_eq(r->n_pc, 121);
	for (unsigned i = 0; i < r->n_pc; i++) {
		cr_assert_eq(r->pc[i].id, 2 * i + 1);
		cr_assert_geq(r->pc[i].n_ts, 1);
	}
	cr_assert_str_eq(r->pc[0].abstract, "1.2.840.10008.5.1.4.1.2.1.3"); /* Patient Root GET */
	cr_assert_eq(r->ui.n_roles, 120);
	for (unsigned i = 0; i < r->ui.n_roles; i++) {
		cr_assert_eq(r->ui.roles[i].scu, 0);
		cr_assert_eq(r->ui.roles[i].scp, 1);
		/* each role names a proposed storage abstract syntax */
		cr_assert_str_eq(r->ui.roles[i].uid, r->pc[i + 1].abstract);
	}

	/* Re-encoded: dcmtk's bytes, less the FFH it puts in each 20H's reserved byte. */
	static uint8_t out[32768];
	size_t w;
	cr_assert_eq(ul_assoc_rq_encode(r, out, sizeof out, &w), 0);
	cr_assert_eq(w, n);
	unsigned ffs = 0;
	for (size_t off = 74; off < n;) {
		size_t il = (size_t)(pdu[off + 2] << 8 | pdu[off + 3]);
		if (pdu[off] == 0x20 && pdu[off + 6] == 0xff) {
			pdu[off + 6] = 0;
			ffs++;
		}
		off += 4 + il;
	}
	cr_assert_eq(ffs, 121);
	cr_assert_arr_eq(out, pdu, n);
	free(r);
	free(pdu);
}

Test(assoc_rq, getscu_lengths_and_prefixes, .timeout = 120)
{
	size_t n;
	uint8_t *pdu = load_getscu(&n);
	check_lengths_off_by_one(false, pdu, n);
	/* every 7th prefix (and the last 300 bytes, all): 17 K full decodes otherwise */
	for (size_t k = 0; k < n - 6; k += (k > n - 306 ? 1 : 7))
		cr_expect_lt(decode_body(false, pdu + 6, k), 0, "prefix %zu", k);
	free(pdu);
}
