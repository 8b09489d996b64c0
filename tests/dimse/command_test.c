/*
 * Tests for src/dimse/command.c: the command-set codec (PS3.7 6.3.1, 9.3, Annex E).
 * Real dcmtk vectors, a hand-built C-ECHO-RSP, round trips for every C-service message,
 * strictness of the decoder (group length, order, lengths) and truncation at every offset.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "dimse/command.h"
#include "dimse/status.h"
#include "vectors.h"

static void put_le16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void put_le32(uint8_t *p, uint32_t v)
{
	put_le16(p, (uint16_t)v);
	put_le16(p + 2, (uint16_t)(v >> 16));
}

/* Every field of two commands equal (reports the first that differs). */
static void assert_cmd_eq(const struct dimse_cmd *a, const struct dimse_cmd *b)
{
	unsigned i;
	cr_assert_eq(a->command_field, b->command_field, "command_field %04x %04x", a->command_field, b->command_field);
	cr_assert_eq(a->has_message_id, b->has_message_id);
	cr_assert_eq(a->message_id, b->message_id);
	cr_assert_eq(a->has_message_id_responded, b->has_message_id_responded);
	cr_assert_eq(a->message_id_responded, b->message_id_responded);
	cr_assert_str_eq(a->affected_sop_class, b->affected_sop_class);
	cr_assert_str_eq(a->affected_sop_instance, b->affected_sop_instance);
	cr_assert_str_eq(a->requested_sop_class, b->requested_sop_class);
	cr_assert_str_eq(a->requested_sop_instance, b->requested_sop_instance);
	cr_assert_eq(a->priority, b->priority);
	cr_assert_eq(a->data_set_type, b->data_set_type);
	cr_assert_eq(a->has_status, b->has_status);
	cr_assert_eq(a->status, b->status);
	cr_assert_str_eq(a->move_destination, b->move_destination);
	cr_assert_str_eq(a->move_originator_ae, b->move_originator_ae);
	cr_assert_eq(a->has_move_originator_id, b->has_move_originator_id);
	cr_assert_eq(a->move_originator_id, b->move_originator_id);
	cr_assert_eq(a->has_counts, b->has_counts);
	cr_assert_eq(a->n_remaining, b->n_remaining);
	cr_assert_eq(a->n_completed, b->n_completed);
	cr_assert_eq(a->n_failed, b->n_failed);
	cr_assert_eq(a->n_warning, b->n_warning);
	cr_assert_eq(a->n_offending, b->n_offending);
	for (i = 0; i < a->n_offending; i++)
		cr_assert_eq(a->offending_element[i], b->offending_element[i]);
	cr_assert_str_eq(a->error_comment, b->error_comment);
	cr_assert_eq(a->has_error_id, b->has_error_id);
	cr_assert_eq(a->error_id, b->error_id);
}

/* Encode, check the group length and tag order by hand, decode, compare. */
static void round_trip(const struct dimse_cmd *c)
{
	uint8_t buf[DIMSE_MAX_ENCODED];
	size_t n = 0, pos;
	struct dimse_cmd back;
	uint16_t prev = 0;
	int rc;

	rc = dimse_cmd_encode(c, buf, sizeof(buf), &n);
	cr_assert_eq(rc, 0, "encode %s: %s", dimse_command_name(c->command_field), dimse_strerror(rc));
	cr_assert_eq(n % 2, 0);
	cr_assert_eq((size_t)(buf[8] | buf[9] << 8 | buf[10] << 16 | (uint32_t)buf[11] << 24), n - 12);
	for (pos = 12; pos < n; ) {
		uint16_t elem = (uint16_t)(buf[pos + 2] | buf[pos + 3] << 8);
		uint32_t vl = buf[pos + 4] | buf[pos + 5] << 8 | buf[pos + 6] << 16 | (uint32_t)buf[pos + 7] << 24;
		cr_assert_eq(buf[pos] | buf[pos + 1], 0, "group 0000");
		cr_assert_gt(elem, prev, "ascending");
		cr_assert_eq(vl % 2, 0, "even length");
		prev = elem;
		pos += 8 + vl;
	}
	cr_assert_eq(pos, n);
	rc = dimse_cmd_decode(buf, n, &back);
	cr_assert_eq(rc, 0, "decode %s: %s", dimse_command_name(c->command_field), dimse_strerror(rc));
	assert_cmd_eq(&back, c);
}

static void set_str(char *dst, size_t size, const char *s)
{
	cr_assert_lt(strlen(s), size);
	strcpy(dst, s);
}
#define SET(field, s) set_str((field), sizeof(field), (s))

static const char *UID_MR = "1.2.840.10008.5.1.4.1.1.4";
static const char *UID_INST = "1.2.826.0.1.3680043.2.1125.1.42";
static const char *UID_FIND = "1.2.840.10008.5.1.4.1.2.2.1";
static const char *UID_MOVE = "1.2.840.10008.5.1.4.1.2.2.2";
static const char *UID_GET = "1.2.840.10008.5.1.4.1.2.2.3";

/* ---- real and hand-built vectors ------------------------------------------------------- */

Test(vectors, dcmtk_echo_rq_decodes)
{
	struct dimse_cmd c;
	cr_assert_eq(dimse_cmd_decode(ECHO_RQ_DCMTK, sizeof(ECHO_RQ_DCMTK), &c), 0);
	cr_assert_eq(c.command_field, DIMSE_C_ECHO_RQ);
	cr_assert_str_eq(c.affected_sop_class, DIMSE_VERIFICATION_SOP_CLASS);
	cr_assert(c.has_message_id);
	cr_assert_eq(c.message_id, 1);
	cr_assert_not(c.has_message_id_responded);
	cr_assert_not(c.has_status);
	cr_assert_eq(c.data_set_type, DIMSE_NO_DATA_SET);
	cr_assert_not(dimse_has_data_set(&c));
	cr_assert_str_eq(dimse_command_name(c.command_field), "C-ECHO-RQ");
}

Test(vectors, dcmtk_store_rq_decodes)
{
	struct dimse_cmd c;
	cr_assert_eq(dimse_cmd_decode(STORE_RQ_DCMTK, sizeof(STORE_RQ_DCMTK), &c), 0);
	cr_assert_eq(c.command_field, DIMSE_C_STORE_RQ);
	cr_assert_str_eq(c.affected_sop_class, UID_MR);
	cr_assert_str_eq(c.affected_sop_instance, UID_INST);
	cr_assert_eq(c.message_id, 1);
	cr_assert_eq(c.priority, DIMSE_PRIORITY_MEDIUM);
	cr_assert_eq(c.data_set_type, 0x0001);
	cr_assert(dimse_has_data_set(&c));
	cr_assert_eq(c.move_originator_ae[0], '\0');
	cr_assert_not(c.has_move_originator_id);
}

/* Our encoder must produce the same bytes as dcmtk for the same content. */
Test(vectors, reencode_matches_dcmtk)
{
	struct dimse_cmd c;
	uint8_t buf[DIMSE_MAX_ENCODED];
	size_t n;

	dimse_echo_rq(&c, 1);
	cr_assert_eq(dimse_cmd_encode(&c, buf, sizeof(buf), &n), 0);
	cr_assert_eq(n, sizeof(ECHO_RQ_DCMTK));
	cr_assert_arr_eq(buf, ECHO_RQ_DCMTK, n);

	dimse_store_rq(&c, 1, UID_MR, UID_INST, DIMSE_PRIORITY_MEDIUM);
	cr_assert_eq(dimse_cmd_encode(&c, buf, sizeof(buf), &n), 0);
	cr_assert_eq(n, sizeof(STORE_RQ_DCMTK));
	cr_assert_arr_eq(buf, STORE_RQ_DCMTK, n);
}

Test(vectors, echo_rsp_exact_bytes)
{
	struct dimse_cmd rq, rsp;
	uint8_t buf[DIMSE_MAX_ENCODED];
	size_t n;

	cr_assert_eq(dimse_cmd_decode(ECHO_RQ_DCMTK, sizeof(ECHO_RQ_DCMTK), &rq), 0);
	dimse_echo_rsp(&rsp, &rq, DIMSE_SUCCESS);
	cr_assert_eq(dimse_cmd_encode(&rsp, buf, sizeof(buf), &n), 0);
	cr_assert_eq(n, sizeof(ECHO_RSP_HAND));
	cr_assert_arr_eq(buf, ECHO_RSP_HAND, n);

	/* and without an Affected SOP Class in the request, Verification is used */
	rq.affected_sop_class[0] = '\0';
	dimse_echo_rsp(&rsp, &rq, DIMSE_SUCCESS);
	cr_assert_str_eq(rsp.affected_sop_class, DIMSE_VERIFICATION_SOP_CLASS);
}

Test(vectors, store_rsp_builder)
{
	struct dimse_cmd rq, rsp;
	cr_assert_eq(dimse_cmd_decode(STORE_RQ_DCMTK, sizeof(STORE_RQ_DCMTK), &rq), 0);
	rq.message_id = 777;
	dimse_store_rsp(&rsp, &rq, DIMSE_WARNING_COERCION);
	cr_assert_eq(rsp.command_field, DIMSE_C_STORE_RSP);
	cr_assert_str_eq(rsp.affected_sop_class, UID_MR);
	cr_assert_str_eq(rsp.affected_sop_instance, UID_INST);
	cr_assert(rsp.has_message_id_responded);
	cr_assert_eq(rsp.message_id_responded, 777);
	cr_assert_not(rsp.has_message_id);
	cr_assert(rsp.has_status);
	cr_assert_eq(rsp.status, 0xB000);
	cr_assert_eq(rsp.data_set_type, DIMSE_NO_DATA_SET);
	round_trip(&rsp);
}

/* ---- round trips for every message type ------------------------------------------------ */

Test(roundtrip, echo)
{
	struct dimse_cmd rq, rsp;
	dimse_echo_rq(&rq, 65535);
	round_trip(&rq);
	dimse_echo_rsp(&rsp, &rq, DIMSE_SUCCESS);
	round_trip(&rsp);
	/* failure response with error fields */
	dimse_echo_rsp(&rsp, &rq, DIMSE_PROCESSING_FAILURE);
	SET(rsp.error_comment, "disk on fire");
	rsp.error_id = 7;
	rsp.has_error_id = true;
	round_trip(&rsp);
}

Test(roundtrip, store)
{
	struct dimse_cmd rq, rsp;
	dimse_store_rq(&rq, 3, UID_MR, UID_INST, DIMSE_PRIORITY_LOW);
	round_trip(&rq);
	/* as a C-MOVE sub-operation: Move Originator AE Title and Message ID (PS3.7 9.3.1.1) */
	SET(rq.move_originator_ae, "MOVESCU");
	rq.move_originator_id = 99;
	rq.has_move_originator_id = true;
	round_trip(&rq);
	dimse_store_rsp(&rsp, &rq, DIMSE_DATASET_MISMATCH);
	rsp.offending_element[0] = 0x00100010;
	rsp.offending_element[1] = 0x7FE00010;
	rsp.n_offending = 2;
	SET(rsp.error_comment, "bad");
	round_trip(&rsp);
}

Test(roundtrip, find)
{
	struct dimse_cmd rq, rsp;
	dimse_cmd_init(&rq, DIMSE_C_FIND_RQ);
	SET(rq.affected_sop_class, UID_FIND);
	rq.message_id = 10;
	rq.has_message_id = true;
	rq.priority = DIMSE_PRIORITY_HIGH;
	round_trip(&rq);
	dimse_rsp_init(&rsp, &rq, DIMSE_PENDING);
	cr_assert_eq(rsp.command_field, DIMSE_C_FIND_RSP);
	rsp.data_set_type = DIMSE_DATA_SET_PRESENT; /* pending: identifier follows */
	round_trip(&rsp);
	dimse_rsp_init(&rsp, &rq, DIMSE_SUCCESS);
	round_trip(&rsp);
}

Test(roundtrip, get_and_move)
{
	uint16_t fields[2] = { DIMSE_C_GET_RQ, DIMSE_C_MOVE_RQ };
	const char *uids[2] = { UID_GET, UID_MOVE };
	int i;

	for (i = 0; i < 2; i++) {
		struct dimse_cmd rq, rsp;
		dimse_cmd_init(&rq, fields[i]);
		SET(rq.affected_sop_class, uids[i]);
		rq.message_id = (uint16_t)(20 + i);
		rq.has_message_id = true;
		if (fields[i] == DIMSE_C_MOVE_RQ)
			SET(rq.move_destination, "STORESCP");
		round_trip(&rq);

		dimse_rsp_init(&rsp, &rq, DIMSE_PENDING);
		rsp.n_remaining = 5;
		rsp.n_completed = 6;
		rsp.n_failed = 0;
		rsp.n_warning = 1;
		rsp.has_counts = DIMSE_COUNT_ALL;
		round_trip(&rsp);
		/* final: counts except remaining, Failed SOP Instance UID List identifier */
		dimse_rsp_init(&rsp, &rq, DIMSE_WARNING_SUBOPS_FAILED);
		rsp.has_counts = DIMSE_COUNT_COMPLETED | DIMSE_COUNT_FAILED | DIMSE_COUNT_WARNING;
		rsp.n_completed = 9;
		rsp.n_failed = 2;
		rsp.data_set_type = DIMSE_DATA_SET_PRESENT;
		round_trip(&rsp);
	}
}

Test(roundtrip, cancel)
{
	struct dimse_cmd c;
	uint8_t buf[DIMSE_MAX_ENCODED];
	size_t n;

	dimse_cmd_init(&c, DIMSE_C_CANCEL_RQ);
	c.message_id_responded = 10;
	c.has_message_id_responded = true;
	round_trip(&c);
	/* exactly group length, Command Field, Message ID Being Responded To, CDST */
	cr_assert_eq(dimse_cmd_encode(&c, buf, sizeof(buf), &n), 0);
	cr_assert_eq(n, 12 + 3 * 10);
}

/* Fields that do not belong to a message type are not written. */
Test(roundtrip, foreign_fields_not_written)
{
	struct dimse_cmd c, back;
	uint8_t buf[DIMSE_MAX_ENCODED];
	size_t n;

	dimse_echo_rq(&c, 5);
	c.priority = 2;
	c.status = 0xC000;
	c.has_status = true;
	SET(c.move_destination, "X");
	SET(c.affected_sop_instance, "1.2.3");
	c.has_counts = DIMSE_COUNT_ALL;
	SET(c.error_comment, "no");
	cr_assert_eq(dimse_cmd_encode(&c, buf, sizeof(buf), &n), 0);
	cr_assert_eq(n, sizeof(ECHO_RQ_DCMTK));
	cr_assert_eq(dimse_cmd_decode(buf, n, &back), 0);
	cr_assert_not(back.has_status);
	cr_assert_eq(back.priority, 0);
	cr_assert_eq(back.move_destination[0], '\0');
	cr_assert_eq(back.has_counts, 0);
}

/* ---- encoder refusals ------------------------------------------------------------------ */

Test(encode, refuses_incomplete_or_unknown)
{
	struct dimse_cmd c;
	uint8_t buf[DIMSE_MAX_ENCODED];
	size_t n;

	dimse_echo_rq(&c, 1);
	c.has_message_id = false;
	cr_assert_eq(dimse_cmd_encode(&c, buf, sizeof(buf), &n), DIMSE_E_INVAL);

	dimse_echo_rq(&c, 1);
	c.data_set_type = DIMSE_DATA_SET_PRESENT; /* C-ECHO never has a data set */
	cr_assert_eq(dimse_cmd_encode(&c, buf, sizeof(buf), &n), DIMSE_E_INVAL);

	dimse_store_rq(&c, 1, UID_MR, "", 0);
	cr_assert_eq(dimse_cmd_encode(&c, buf, sizeof(buf), &n), DIMSE_E_INVAL);
	dimse_store_rq(&c, 1, "", UID_INST, 0);
	cr_assert_eq(dimse_cmd_encode(&c, buf, sizeof(buf), &n), DIMSE_E_INVAL);
	dimse_store_rq(&c, 1, UID_MR, UID_INST, 0);
	c.data_set_type = DIMSE_NO_DATA_SET; /* C-STORE-RQ needs its data set */
	cr_assert_eq(dimse_cmd_encode(&c, buf, sizeof(buf), &n), DIMSE_E_INVAL);

	dimse_cmd_init(&c, DIMSE_C_MOVE_RQ);
	SET(c.affected_sop_class, UID_MOVE);
	c.has_message_id = true;
	cr_assert_eq(dimse_cmd_encode(&c, buf, sizeof(buf), &n), DIMSE_E_INVAL); /* no destination */

	{
		struct dimse_cmd rq;
		dimse_echo_rq(&rq, 1);
		dimse_echo_rsp(&c, &rq, 0);
		c.has_status = false;
		cr_assert_eq(dimse_cmd_encode(&c, buf, sizeof(buf), &n), DIMSE_E_INVAL);
	}

	dimse_cmd_init(&c, DIMSE_N_GET_RQ);
	cr_assert_eq(dimse_cmd_encode(&c, buf, sizeof(buf), &n), DIMSE_E_INVAL);
	dimse_cmd_init(&c, 0x1234);
	cr_assert_eq(dimse_cmd_encode(&c, buf, sizeof(buf), &n), DIMSE_E_INVAL);

	/* unterminated string */
	dimse_echo_rq(&c, 1);
	memset(c.affected_sop_class, '1', sizeof(c.affected_sop_class));
	cr_assert_eq(dimse_cmd_encode(&c, buf, sizeof(buf), &n), DIMSE_E_INVAL);
	dimse_echo_rq(&c, 1);
	c.n_offending = DIMSE_MAX_OFFENDING + 1;
	cr_assert_eq(dimse_cmd_encode(&c, buf, sizeof(buf), &n), DIMSE_E_INVAL);
}

Test(encode, nospace_at_every_capacity)
{
	struct dimse_cmd c;
	uint8_t buf[DIMSE_MAX_ENCODED];
	size_t n, cap;

	dimse_store_rq(&c, 1, UID_MR, UID_INST, 0);
	cr_assert_eq(dimse_cmd_encode(&c, buf, sizeof(buf), &n), 0);
	for (cap = 0; cap < n; cap++) {
		size_t w = 12345;
		memset(buf, 0xEE, sizeof(buf));
		cr_assert_eq(dimse_cmd_encode(&c, buf, cap, &w), DIMSE_E_NOSPACE, "cap %zu", cap);
		cr_assert_eq(w, 12345);
		cr_assert_eq(buf[cap], 0xEE, "wrote past cap %zu", cap);
	}
	cr_assert_eq(dimse_cmd_encode(&c, buf, n, &n), 0);
}

/* Every field at its maximum length still fits DIMSE_MAX_ENCODED. */
Test(encode, max_sizes_fit)
{
	struct dimse_cmd c, back;
	uint8_t buf[DIMSE_MAX_ENCODED];
	size_t n;
	unsigned i;

	dimse_cmd_init(&c, DIMSE_C_MOVE_RSP);
	memset(c.affected_sop_class, '1', 64);
	memset(c.error_comment, 'x', 64);
	c.has_message_id_responded = c.has_status = c.has_error_id = true;
	c.has_counts = DIMSE_COUNT_ALL;
	for (i = 0; i < DIMSE_MAX_OFFENDING; i++)
		c.offending_element[i] = 0x00080010 + i;
	c.n_offending = DIMSE_MAX_OFFENDING;
	cr_assert_eq(dimse_cmd_encode(&c, buf, sizeof(buf), &n), 0);
	cr_assert_eq(dimse_cmd_decode(buf, n, &back), 0);
	assert_cmd_eq(&back, &c);

	dimse_store_rq(&c, 1, "", "", 0);
	memset(c.affected_sop_class, '1', 64);
	memset(c.affected_sop_instance, '2', 64);
	memset(c.move_originator_ae, 'A', 16);
	c.has_move_originator_id = true;
	round_trip(&c);
}

/* ---- decoder strictness ---------------------------------------------------------------- */

static size_t copy_vec(uint8_t *dst, const uint8_t *src, size_t n)
{
	memcpy(dst, src, n);
	return n;
}

/* Append an element (value borrowed) and fix the group length. */
static size_t append_elem(uint8_t *buf, size_t n, uint16_t group, uint16_t elem,
			  const void *val, uint32_t vlen)
{
	put_le16(buf + n, group);
	put_le16(buf + n + 2, elem);
	put_le32(buf + n + 4, vlen);
	memcpy(buf + n + 8, val, vlen);
	n += 8 + vlen;
	put_le32(buf + 8, (uint32_t)(n - 12));
	return n;
}

Test(decode, group_length_wrong_or_missing)
{
	uint8_t buf[256];
	struct dimse_cmd c;
	size_t n = copy_vec(buf, ECHO_RQ_DCMTK, sizeof(ECHO_RQ_DCMTK));

	put_le32(buf + 8, (uint32_t)(n - 12 + 2));
	cr_assert_eq(dimse_cmd_decode(buf, n, &c), DIMSE_E_GROUP_LENGTH);
	put_le32(buf + 8, (uint32_t)(n - 12 - 2));
	cr_assert_eq(dimse_cmd_decode(buf, n, &c), DIMSE_E_GROUP_LENGTH);
	put_le32(buf + 8, 0xFFFFFFFF);
	cr_assert_eq(dimse_cmd_decode(buf, n, &c), DIMSE_E_GROUP_LENGTH);
	/* bytes after the group: the whole buffer must be the command */
	put_le32(buf + 8, (uint32_t)(n - 12));
	buf[n] = 0;
	buf[n + 1] = 0;
	cr_assert_eq(dimse_cmd_decode(buf, n + 2, &c), DIMSE_E_GROUP_LENGTH);
	/* missing: start directly with (0000,0002) */
	cr_assert_eq(dimse_cmd_decode(ECHO_RQ_DCMTK + 12, sizeof(ECHO_RQ_DCMTK) - 12, &c),
		     DIMSE_E_NO_GROUP_LENGTH);
	/* group length with a value length other than 4 */
	n = copy_vec(buf, ECHO_RQ_DCMTK, sizeof(ECHO_RQ_DCMTK));
	put_le32(buf + 4, 2);
	cr_assert_eq(dimse_cmd_decode(buf, n, &c), DIMSE_E_NO_GROUP_LENGTH);
	/* sanity: the untouched vector decodes */
	n = copy_vec(buf, ECHO_RQ_DCMTK, sizeof(ECHO_RQ_DCMTK));
	cr_assert_eq(dimse_cmd_decode(buf, n, &c), 0);
}

Test(decode, hand_built_with_unknown_and_padding)
{
	uint8_t buf[512];
	struct dimse_cmd c;
	size_t n = 0;
	uint8_t us[2];

	/* (0000,0000) placeholder */
	n = append_elem(buf, 0, 0, 0x0000, "\0\0\0\0", 4);
	n = append_elem(buf, n, 0, 0x0002, UID_MOVE, (uint32_t)strlen(UID_MOVE) + 1); /* 28: NUL pad */
	put_le16(us, DIMSE_C_MOVE_RQ);
	n = append_elem(buf, n, 0, 0x0100, us, 2);
	put_le16(us, 0x4242);
	n = append_elem(buf, n, 0, 0x0110, us, 2);
	n = append_elem(buf, n, 0, 0x0600, "  DEST  ", 8); /* AE: leading/trailing spaces */
	put_le16(us, 1);
	n = append_elem(buf, n, 0, 0x0700, us, 2);
	put_le16(us, 0x0102); /* any value other than 0101H means present */
	n = append_elem(buf, n, 0, 0x0800, us, 2);
	n = append_elem(buf, n, 0, 0x0801, "xy", 2); /* unknown tag: skipped */
	n = append_elem(buf, n, 0, 0x1001, "1.2.3 ", 6); /* Requested SOP Instance, space pad */
	n = append_elem(buf, n, 0, 0x5010, "", 0); /* unknown, empty */
	cr_assert_eq(dimse_cmd_decode(buf, n, &c), 0);
	cr_assert_eq(c.command_field, DIMSE_C_MOVE_RQ);
	cr_assert_str_eq(c.affected_sop_class, UID_MOVE);
	cr_assert_eq(c.message_id, 0x4242);
	cr_assert_str_eq(c.move_destination, "DEST");
	cr_assert_eq(c.priority, 1);
	cr_assert_eq(c.data_set_type, 0x0102);
	cr_assert(dimse_has_data_set(&c));
	cr_assert_str_eq(c.requested_sop_instance, "1.2.3");
}

/* Builds the echo vector with one element replaced by (elem, val, vlen). */
static int decode_echo_with(uint16_t group, uint16_t elem, const void *val, uint32_t vlen)
{
	uint8_t buf[512];
	struct dimse_cmd c;
	size_t n = copy_vec(buf, ECHO_RQ_DCMTK, sizeof(ECHO_RQ_DCMTK));
	n = append_elem(buf, n, group, elem, val, vlen);
	return dimse_cmd_decode(buf, n, &c);
}

Test(decode, element_errors)
{
	uint8_t big[80];
	struct dimse_cmd c;
	uint8_t buf[512];
	size_t n;

	cr_assert_eq(decode_echo_with(0, 0x5000, "", 0), 0);
	cr_assert_eq(decode_echo_with(0x0008, 0x0016, "1.2\0", 4), DIMSE_E_GROUP);
	cr_assert_eq(decode_echo_with(0, 0x5000, "abc", 3), DIMSE_E_ODD_LENGTH);
	cr_assert_eq(decode_echo_with(0, 0x0800, "\x01\x01", 2), DIMSE_E_ORDER); /* duplicate */
	cr_assert_eq(decode_echo_with(0, 0x0700, "\x00\x00", 2), DIMSE_E_ORDER); /* backwards */
	cr_assert_eq(decode_echo_with(0, 0x0900, "\x00\x00\x00\x00", 4), DIMSE_E_VALUE); /* US 4 */
	cr_assert_eq(decode_echo_with(0, 0x0900, "", 0), DIMSE_E_VALUE);
	cr_assert_eq(decode_echo_with(0, 0x0901, "\x10\x00\x10", 2), DIMSE_E_VALUE); /* AT 2 */
	memset(big, '1', sizeof(big));
	cr_assert_eq(decode_echo_with(0, 0x1000, big, 64), 0);
	cr_assert_eq(decode_echo_with(0, 0x1000, big, 66), DIMSE_E_VALUE); /* UI > 64 */
	cr_assert_eq(decode_echo_with(0, 0x1030, big, 16), 0);
	cr_assert_eq(decode_echo_with(0, 0x1030, big, 18), DIMSE_E_VALUE); /* AE > 16 */
	cr_assert_eq(decode_echo_with(0, 0x1000, "1.2\0" "3.4\0", 8), DIMSE_E_VALUE); /* inner NUL */

	/* a value length running past the end */
	n = copy_vec(buf, ECHO_RQ_DCMTK, sizeof(ECHO_RQ_DCMTK));
	n = append_elem(buf, n, 0, 0x5000, "ab", 2);
	put_le32(buf + n - 6, 4);
	cr_assert_eq(dimse_cmd_decode(buf, n, &c), DIMSE_E_TRUNCATED);

	/* missing Command Field / Command Data Set Type */
	n = append_elem(buf, 0, 0, 0x0000, "\0\0\0\0", 4);
	n = append_elem(buf, n, 0, 0x0800, "\x01\x01", 2);
	cr_assert_eq(dimse_cmd_decode(buf, n, &c), DIMSE_E_NO_COMMAND_FIELD);
	n = append_elem(buf, 0, 0, 0x0000, "\0\0\0\0", 4);
	n = append_elem(buf, n, 0, 0x0100, "\x30\x00", 2);
	cr_assert_eq(dimse_cmd_decode(buf, n, &c), DIMSE_E_NO_DATA_SET_TYPE);
	n = append_elem(buf, n, 0, 0x0800, "\x01\x01", 2);
	cr_assert_eq(dimse_cmd_decode(buf, n, &c), 0);
	cr_assert_eq(dimse_cmd_decode(buf, 0, &c), DIMSE_E_TRUNCATED);
}

Test(decode, offending_elements_capped)
{
	uint8_t at[4 * (DIMSE_MAX_OFFENDING + 2)];
	struct dimse_cmd c;
	uint8_t buf[512];
	size_t n, i;

	for (i = 0; i < DIMSE_MAX_OFFENDING + 2; i++) {
		put_le16(at + 4 * i, 0x0010);
		put_le16(at + 4 * i + 2, (uint16_t)(0x0010 + i));
	}
	n = copy_vec(buf, ECHO_RQ_DCMTK, sizeof(ECHO_RQ_DCMTK));
	n = append_elem(buf, n, 0, 0x0901, at, sizeof(at));
	cr_assert_eq(dimse_cmd_decode(buf, n, &c), 0);
	cr_assert_eq(c.n_offending, DIMSE_MAX_OFFENDING);
	cr_assert_eq(c.offending_element[0], 0x00100010);
	cr_assert_eq(c.offending_element[7], 0x00100017);
}

/* Every prefix of a valid command fails cleanly. With the group length patched to the prefix,
 * a prefix decodes exactly when it ends on an element boundary at or after the Command Data
 * Set Type (the last required element in tag order). */
static void truncate_everywhere(const uint8_t *vec, size_t len)
{
	uint8_t buf[512];
	struct dimse_cmd c;
	size_t cut, pos, cdst_end = 0;
	bool boundary[512] = { false };

	cr_assert_lt(len, sizeof(buf));
	for (pos = 12; pos < len; ) {
		uint16_t elem = (uint16_t)(vec[pos + 2] | vec[pos + 3] << 8);
		uint32_t vl = vec[pos + 4] | vec[pos + 5] << 8 | vec[pos + 6] << 16 | (uint32_t)vec[pos + 7] << 24;
		pos += 8 + vl;
		boundary[pos] = true;
		if (elem == 0x0800)
			cdst_end = pos;
	}
	cr_assert_gt(cdst_end, 0);
	for (cut = 0; cut < len; cut++) {
		int rc;
		memcpy(buf, vec, cut);
		rc = dimse_cmd_decode(buf, cut, &c);
		cr_assert_lt(rc, 0, "prefix %zu decoded", cut);
		cr_assert_str_neq(dimse_strerror(rc), "unknown error");
		if (cut >= 12) {
			bool expect_ok = boundary[cut] && cut >= cdst_end;
			put_le32(buf + 8, (uint32_t)(cut - 12));
			rc = dimse_cmd_decode(buf, cut, &c);
			cr_assert_eq(rc == 0, expect_ok, "patched prefix %zu: %s", cut, dimse_strerror(rc));
		}
	}
}

Test(decode, truncated_at_every_offset)
{
	struct dimse_cmd c;
	uint8_t buf[DIMSE_MAX_ENCODED];
	size_t n;

	truncate_everywhere(ECHO_RQ_DCMTK, sizeof(ECHO_RQ_DCMTK));
	truncate_everywhere(STORE_RQ_DCMTK, sizeof(STORE_RQ_DCMTK));
	truncate_everywhere(ECHO_RSP_HAND, sizeof(ECHO_RSP_HAND));
	dimse_cmd_init(&c, DIMSE_C_GET_RSP);
	SET(c.affected_sop_class, UID_GET);
	c.has_message_id_responded = c.has_status = c.has_error_id = true;
	c.has_counts = DIMSE_COUNT_ALL;
	c.n_offending = 1;
	SET(c.error_comment, "odd");
	cr_assert_eq(dimse_cmd_encode(&c, buf, sizeof(buf), &n), 0);
	truncate_everywhere(buf, n);
}

/* ---- names, errors, statuses ----------------------------------------------------------- */

Test(misc, names_and_errors)
{
	int e;
	cr_assert_str_eq(dimse_command_name(DIMSE_C_STORE_RQ), "C-STORE-RQ");
	cr_assert_str_eq(dimse_command_name(DIMSE_C_MOVE_RSP), "C-MOVE-RSP");
	cr_assert_str_eq(dimse_command_name(DIMSE_C_CANCEL_RQ), "C-CANCEL-RQ");
	cr_assert_str_eq(dimse_command_name(0x8140), "N-CREATE-RSP");
	cr_assert_str_eq(dimse_command_name(0x4444), "UNKNOWN");
	for (e = DIMSE_E_FAILED; e <= DIMSE_E_TRUNCATED; e++)
		cr_assert_str_neq(dimse_strerror(e), "unknown error", "code %d", e);
	cr_assert_str_eq(dimse_strerror(-1), "unknown error");
	cr_assert(dimse_is_response(DIMSE_C_ECHO_RSP));
	cr_assert_not(dimse_is_response(DIMSE_C_ECHO_RQ));
}

Test(misc, status_kinds)
{
	cr_assert_eq(dimse_status_kind(DIMSE_SUCCESS), DIMSE_STATUS_SUCCESS);
	cr_assert_eq(dimse_status_kind(DIMSE_PENDING), DIMSE_STATUS_PENDING);
	cr_assert_eq(dimse_status_kind(DIMSE_PENDING_OPTIONAL_KEYS), DIMSE_STATUS_PENDING);
	cr_assert(dimse_status_is_pending(0xFF01));
	cr_assert_not(dimse_status_is_pending(0xFE00));
	cr_assert_eq(dimse_status_kind(DIMSE_CANCEL), DIMSE_STATUS_CANCEL);
	cr_assert_eq(dimse_status_kind(DIMSE_WARNING_ELEMENTS_DISCARDED), DIMSE_STATUS_WARNING);
	cr_assert_eq(dimse_status_kind(DIMSE_WARNING_RESPONSE_LIMIT), DIMSE_STATUS_WARNING);
	cr_assert_eq(dimse_status_kind(0x0107), DIMSE_STATUS_WARNING);
	cr_assert_eq(dimse_status_kind(DIMSE_OUT_OF_RESOURCES), DIMSE_STATUS_FAILURE);
	cr_assert_eq(dimse_status_kind(DIMSE_MOVE_DEST_UNKNOWN), DIMSE_STATUS_FAILURE);
	cr_assert_eq(dimse_status_kind(DIMSE_CANNOT_UNDERSTAND), DIMSE_STATUS_FAILURE);
	cr_assert_eq(dimse_status_kind(0xC001), DIMSE_STATUS_FAILURE);
	cr_assert_eq(dimse_status_kind(DIMSE_SOP_CLASS_NOT_SUPPORTED), DIMSE_STATUS_FAILURE);
	cr_assert_eq(DIMSE_MISTYPED_ARGUMENT, 0x0212);
	cr_assert_eq(DIMSE_NOT_AUTHORIZED, 0x0124);
}

/* ---- more builders and the log description --------------------------------------------- */

Test(builders, find_retrieve_cancel)
{
	struct dimse_cmd rq, rsp;

	dimse_cmd_init(&rq, DIMSE_C_FIND_RQ);
	SET(rq.affected_sop_class, UID_FIND);
	rq.message_id = 12;
	rq.has_message_id = true;
	dimse_find_rsp(&rsp, &rq, DIMSE_PENDING);
	cr_assert_eq(rsp.command_field, DIMSE_C_FIND_RSP);
	cr_assert(dimse_has_data_set(&rsp));
	round_trip(&rsp);
	dimse_find_rsp(&rsp, &rq, DIMSE_PENDING_OPTIONAL_KEYS);
	cr_assert(dimse_has_data_set(&rsp));
	dimse_find_rsp(&rsp, &rq, DIMSE_SUCCESS);
	cr_assert_not(dimse_has_data_set(&rsp));
	cr_assert_eq(rsp.message_id_responded, 12);
	round_trip(&rsp);
	dimse_find_rsp(&rsp, &rq, DIMSE_CANCEL);
	cr_assert_not(dimse_has_data_set(&rsp));

	dimse_cmd_init(&rq, DIMSE_C_MOVE_RQ);
	SET(rq.affected_sop_class, UID_MOVE);
	SET(rq.move_destination, "DEST");
	rq.message_id = 13;
	rq.has_message_id = true;
	dimse_retrieve_rsp(&rsp, &rq, DIMSE_PENDING, 4, 3, 2, 1);
	cr_assert_eq(rsp.command_field, DIMSE_C_MOVE_RSP);
	cr_assert_eq(rsp.has_counts, DIMSE_COUNT_ALL);
	cr_assert_eq(rsp.n_remaining, 4);
	cr_assert_eq(rsp.n_completed, 3);
	cr_assert_eq(rsp.n_failed, 2);
	cr_assert_eq(rsp.n_warning, 1);
	cr_assert_eq(rsp.move_destination[0], '\0', "destination is not echoed");
	round_trip(&rsp);
	dimse_retrieve_rsp(&rsp, &rq, DIMSE_WARNING_SUBOPS_FAILED, 0, 3, 2, 1);
	cr_assert_eq(rsp.has_counts, DIMSE_COUNT_ALL & ~DIMSE_COUNT_REMAINING);
	round_trip(&rsp);

	dimse_cancel_rq(&rq, 13);
	cr_assert_eq(rq.command_field, DIMSE_C_CANCEL_RQ);
	cr_assert_eq(rq.message_id_responded, 13);
	cr_assert_not(dimse_has_data_set(&rq));
	round_trip(&rq);
}

Test(describe, key_values)
{
	struct dimse_cmd c;
	char line[512];
	int n;

	cr_assert_eq(dimse_cmd_decode(STORE_RQ_DCMTK, sizeof(STORE_RQ_DCMTK), &c), 0);
	n = dimse_cmd_describe(&c, line, sizeof(line));
	cr_assert_str_eq(line, "C-STORE-RQ msg_id=1 class=1.2.840.10008.5.1.4.1.1.4 "
			       "instance=1.2.826.0.1.3680043.2.1125.1.42 priority=0 data_set=yes");
	cr_assert_eq((size_t)n, strlen(line));

	/* truncation: snprintf contract */
	cr_assert_eq(dimse_cmd_describe(&c, line, 11), n);
	cr_assert_str_eq(line, "C-STORE-RQ");
	cr_assert_eq(dimse_cmd_describe(&c, NULL, 0), n);

	dimse_cmd_init(&c, DIMSE_C_GET_RSP);
	c.message_id_responded = 2;
	c.has_message_id_responded = true;
	c.status = 0xA702;
	c.has_status = true;
	c.has_counts = DIMSE_COUNT_FAILED;
	c.n_failed = 9;
	c.offending_element[0] = 0x00080018;
	c.n_offending = 1;
	SET(c.error_comment, "evil\n\"line\"");
	dimse_cmd_describe(&c, line, sizeof(line));
	cr_assert_str_eq(line, "C-GET-RSP responding_to=2 status=0xA702 failed=9 data_set=no "
			       "offending=(0008,0018) error_comment=\"evil??line?\"");

	dimse_cmd_init(&c, 0x4321);
	dimse_cmd_describe(&c, line, sizeof(line));
	cr_assert_str_eq(line, "UNKNOWN field=0x4321 data_set=no");
}
