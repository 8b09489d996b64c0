/*
 * DIMSE command set codec (PS3.7 6.3.1, 9.3, Annex E). Owns the mapping between group-0000
 * Implicit VR Little Endian elements and struct dimse_cmd, the per-message field tables
 * (which elements each C-service message carries) and the dimse error strings.
 * Pure: no allocation, no I/O.
 */
#include "dimse/command.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "dimse/status.h"

/* ---- error strings ---------------------------------------------------------------------- */

const char *dimse_strerror(int err)
{
	switch (err) {
	case 0: return "success";
	case DIMSE_E_TRUNCATED: return "command element truncated";
	case DIMSE_E_GROUP: return "command element outside group 0000";
	case DIMSE_E_ODD_LENGTH: return "odd or undefined command element length";
	case DIMSE_E_NO_GROUP_LENGTH: return "command group length (0000,0000) missing";
	case DIMSE_E_GROUP_LENGTH: return "command group length (0000,0000) wrong";
	case DIMSE_E_NO_COMMAND_FIELD: return "command field (0000,0100) missing";
	case DIMSE_E_NO_DATA_SET_TYPE: return "command data set type (0000,0800) missing";
	case DIMSE_E_ORDER: return "command elements not in ascending tag order";
	case DIMSE_E_VALUE: return "bad command element value";
	case DIMSE_E_NOSPACE: return "output buffer too small";
	case DIMSE_E_INVAL: return "invalid or incomplete command for its type";
	case DIMSE_E_NOMEM: return "out of memory";
	case DIMSE_E_MCH: return "message control header has reserved bits set";
	case DIMSE_E_DATA_WITHOUT_COMMAND: return "data set fragment without a command";
	case DIMSE_E_UNEXPECTED_DATA: return "data set fragment after a command without data set";
	case DIMSE_E_DATA_IN_COMMAND: return "data set fragment before the command was complete";
	case DIMSE_E_UNEXPECTED_COMMAND: return "command fragment while a data set is expected";
	case DIMSE_E_PC_CHANGED: return "presentation context changed inside a message";
	case DIMSE_E_COMMAND_TOO_BIG: return "command set larger than the limit";
	case DIMSE_E_PDV: return "malformed PDV item";
	case DIMSE_E_FAILED: return "DIMSE receiver failed earlier";
	default: return "unknown error";
	}
}

const char *dimse_command_name(uint16_t field)
{
	switch (field) {
	case DIMSE_C_STORE_RQ: return "C-STORE-RQ";
	case DIMSE_C_STORE_RSP: return "C-STORE-RSP";
	case DIMSE_C_GET_RQ: return "C-GET-RQ";
	case DIMSE_C_GET_RSP: return "C-GET-RSP";
	case DIMSE_C_FIND_RQ: return "C-FIND-RQ";
	case DIMSE_C_FIND_RSP: return "C-FIND-RSP";
	case DIMSE_C_MOVE_RQ: return "C-MOVE-RQ";
	case DIMSE_C_MOVE_RSP: return "C-MOVE-RSP";
	case DIMSE_C_ECHO_RQ: return "C-ECHO-RQ";
	case DIMSE_C_ECHO_RSP: return "C-ECHO-RSP";
	case DIMSE_C_CANCEL_RQ: return "C-CANCEL-RQ";
	case DIMSE_N_EVENT_REPORT_RQ: return "N-EVENT-REPORT-RQ";
	case DIMSE_N_EVENT_REPORT_RQ | 0x8000: return "N-EVENT-REPORT-RSP";
	case DIMSE_N_GET_RQ: return "N-GET-RQ";
	case DIMSE_N_GET_RQ | 0x8000: return "N-GET-RSP";
	case DIMSE_N_SET_RQ: return "N-SET-RQ";
	case DIMSE_N_SET_RQ | 0x8000: return "N-SET-RSP";
	case DIMSE_N_ACTION_RQ: return "N-ACTION-RQ";
	case DIMSE_N_ACTION_RQ | 0x8000: return "N-ACTION-RSP";
	case DIMSE_N_CREATE_RQ: return "N-CREATE-RQ";
	case DIMSE_N_CREATE_RQ | 0x8000: return "N-CREATE-RSP";
	case DIMSE_N_DELETE_RQ: return "N-DELETE-RQ";
	case DIMSE_N_DELETE_RQ | 0x8000: return "N-DELETE-RSP";
	default: return "UNKNOWN";
	}
}

bool dimse_has_data_set(const struct dimse_cmd *c)
{
	return c->data_set_type != DIMSE_NO_DATA_SET;
}

/* ---- tags ------------------------------------------------------------------------------- */

enum {
	T_GROUP_LENGTH = 0x0000,
	T_AFF_CLASS = 0x0002,
	T_REQ_CLASS = 0x0003,
	T_COMMAND_FIELD = 0x0100,
	T_MSG_ID = 0x0110,
	T_MSG_ID_RSP = 0x0120,
	T_MOVE_DEST = 0x0600,
	T_PRIORITY = 0x0700,
	T_CDST = 0x0800,
	T_STATUS = 0x0900,
	T_OFFENDING = 0x0901,
	T_ERR_COMMENT = 0x0902,
	T_ERR_ID = 0x0903,
	T_AFF_INST = 0x1000,
	T_REQ_INST = 0x1001,
	T_N_REMAINING = 0x1020,
	T_N_COMPLETED = 0x1021,
	T_N_FAILED = 0x1022,
	T_N_WARNING = 0x1023,
	T_MOVE_ORIG_AE = 0x1030,
	T_MOVE_ORIG_ID = 0x1031,
};

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* ---- decode ----------------------------------------------------------------------------- */

enum str_kind { STR_UI, STR_AE_LO };

/* Copy a trimmed string value into dst (size dstsize incl. NUL). PS3.5 6.2: UI is padded with
 * NUL, AE/LO with spaces and their leading spaces are insignificant. */
static int take_str(char *dst, size_t dstsize, const uint8_t *v, uint32_t n, enum str_kind k)
{
	while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\0'))
		n--;
	if (k == STR_AE_LO)
		while (n > 0 && v[0] == ' ')
			v++, n--;
	if (n >= dstsize || memchr(v, '\0', n) != NULL)
		return DIMSE_E_VALUE;
	memcpy(dst, v, n);
	dst[n] = '\0';
	return 0;
}

static int take_us(uint16_t *dst, const uint8_t *v, uint32_t n)
{
	if (n != 2)
		return DIMSE_E_VALUE;
	*dst = rd16(v);
	return 0;
}

int dimse_cmd_decode(const uint8_t *buf, size_t len, struct dimse_cmd *out)
{
	bool have_field = false, have_cdst = false;
	uint32_t prev_elem = 0;
	size_t pos;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	/* (0000,0000) UL 4 first: PS3.7 E.1-1 makes it mandatory and PS3.5 7.1 orders by tag. */
	if (len < 8)
		return DIMSE_E_TRUNCATED;
	if (rd16(buf) != 0x0000)
		return DIMSE_E_GROUP;
	if (rd16(buf + 2) != T_GROUP_LENGTH || rd32(buf + 4) != 4)
		return DIMSE_E_NO_GROUP_LENGTH;
	if (len < 12)
		return DIMSE_E_TRUNCATED;
	if ((uint64_t)rd32(buf + 8) != (uint64_t)(len - 12))
		return DIMSE_E_GROUP_LENGTH;

	for (pos = 12; pos < len; ) {
		uint16_t group, elem;
		uint32_t vlen;
		const uint8_t *v;

		if (len - pos < 8)
			return DIMSE_E_TRUNCATED;
		group = rd16(buf + pos);
		elem = rd16(buf + pos + 2);
		vlen = rd32(buf + pos + 4);
		if (group != 0x0000)
			return DIMSE_E_GROUP;
		if (vlen & 1) /* also rejects undefined length FFFFFFFFH */
			return DIMSE_E_ODD_LENGTH;
		if (elem <= prev_elem)
			return DIMSE_E_ORDER;
		prev_elem = elem;
		pos += 8;
		if (vlen > len - pos)
			return DIMSE_E_TRUNCATED;
		v = buf + pos;
		pos += vlen;

		switch (elem) {
		case T_AFF_CLASS:
			rc = take_str(out->affected_sop_class, sizeof(out->affected_sop_class), v, vlen, STR_UI);
			break;
		case T_REQ_CLASS:
			rc = take_str(out->requested_sop_class, sizeof(out->requested_sop_class), v, vlen, STR_UI);
			break;
		case T_COMMAND_FIELD:
			rc = take_us(&out->command_field, v, vlen);
			have_field = true;
			break;
		case T_MSG_ID:
			rc = take_us(&out->message_id, v, vlen);
			out->has_message_id = true;
			break;
		case T_MSG_ID_RSP:
			rc = take_us(&out->message_id_responded, v, vlen);
			out->has_message_id_responded = true;
			break;
		case T_MOVE_DEST:
			rc = take_str(out->move_destination, sizeof(out->move_destination), v, vlen, STR_AE_LO);
			break;
		case T_PRIORITY:
			rc = take_us(&out->priority, v, vlen);
			break;
		case T_CDST:
			rc = take_us(&out->data_set_type, v, vlen);
			have_cdst = true;
			break;
		case T_STATUS:
			rc = take_us(&out->status, v, vlen);
			out->has_status = true;
			break;
		case T_OFFENDING: { /* AT, VM 1-n: each value is group, element (US each, LE) */
			uint32_t i;
			if (vlen % 4 != 0)
				return DIMSE_E_VALUE;
			for (i = 0; i < vlen / 4 && i < DIMSE_MAX_OFFENDING; i++)
				out->offending_element[i] = (uint32_t)rd16(v + 4 * i) << 16 | rd16(v + 4 * i + 2);
			out->n_offending = i;
			break;
		}
		case T_ERR_COMMENT:
			rc = take_str(out->error_comment, sizeof(out->error_comment), v, vlen, STR_AE_LO);
			break;
		case T_ERR_ID:
			rc = take_us(&out->error_id, v, vlen);
			out->has_error_id = true;
			break;
		case T_AFF_INST:
			rc = take_str(out->affected_sop_instance, sizeof(out->affected_sop_instance), v, vlen, STR_UI);
			break;
		case T_REQ_INST:
			rc = take_str(out->requested_sop_instance, sizeof(out->requested_sop_instance), v, vlen, STR_UI);
			break;
		case T_N_REMAINING:
			rc = take_us(&out->n_remaining, v, vlen);
			out->has_counts |= DIMSE_COUNT_REMAINING;
			break;
		case T_N_COMPLETED:
			rc = take_us(&out->n_completed, v, vlen);
			out->has_counts |= DIMSE_COUNT_COMPLETED;
			break;
		case T_N_FAILED:
			rc = take_us(&out->n_failed, v, vlen);
			out->has_counts |= DIMSE_COUNT_FAILED;
			break;
		case T_N_WARNING:
			rc = take_us(&out->n_warning, v, vlen);
			out->has_counts |= DIMSE_COUNT_WARNING;
			break;
		case T_MOVE_ORIG_AE:
			rc = take_str(out->move_originator_ae, sizeof(out->move_originator_ae), v, vlen, STR_AE_LO);
			break;
		case T_MOVE_ORIG_ID:
			rc = take_us(&out->move_originator_id, v, vlen);
			out->has_move_originator_id = true;
			break;
		default: /* unknown or N-service element: skipped (PS3.7 leaves them to the service) */
			break;
		}
		if (rc < 0)
			return rc;
	}
	if (!have_field)
		return DIMSE_E_NO_COMMAND_FIELD;
	if (!have_cdst)
		return DIMSE_E_NO_DATA_SET_TYPE;
	return 0;
}

/* ---- encode ----------------------------------------------------------------------------- */

/* Which optional parts of struct dimse_cmd a message carries (F_*), which of them are
 * mandatory, and its data set rule. PS3.7 9.3.1-9.3.5 (tables 9.3-1 .. 9.3-13), 9.3.2.3. */
enum {
	F_AFF_CLASS = 1 << 0,
	F_MSG_ID = 1 << 1,
	F_MSG_ID_RSP = 1 << 2,
	F_MOVE_DEST = 1 << 3,
	F_PRIORITY = 1 << 4,
	F_STATUS = 1 << 5,
	F_ERROR = 1 << 6,     /* Offending Element, Error Comment, Error ID (PS3.7 C.4) */
	F_AFF_INST = 1 << 7,
	F_COUNTS = 1 << 8,
	F_MOVE_ORIG = 1 << 9, /* Move Originator AE Title / Message ID (C-STORE sub-operation) */
};
enum ds_rule { DS_NONE, DS_REQUIRED, DS_ANY };

struct msg_spec {
	uint16_t field;
	unsigned fields, mandatory;
	enum ds_rule ds;
};

#define RSP_BASE (F_AFF_CLASS | F_MSG_ID_RSP | F_STATUS | F_ERROR)
#define RSP_MAND (F_MSG_ID_RSP | F_STATUS)
#define RQ_MAND (F_AFF_CLASS | F_MSG_ID)

static const struct msg_spec specs[] = {
	{ DIMSE_C_ECHO_RQ, F_AFF_CLASS | F_MSG_ID, RQ_MAND, DS_NONE },
	{ DIMSE_C_ECHO_RSP, RSP_BASE, RSP_MAND, DS_NONE },
	{ DIMSE_C_STORE_RQ, F_AFF_CLASS | F_MSG_ID | F_PRIORITY | F_AFF_INST | F_MOVE_ORIG,
	  RQ_MAND | F_AFF_INST, DS_REQUIRED },
	{ DIMSE_C_STORE_RSP, RSP_BASE | F_AFF_INST, RSP_MAND, DS_NONE },
	{ DIMSE_C_FIND_RQ, F_AFF_CLASS | F_MSG_ID | F_PRIORITY, RQ_MAND, DS_REQUIRED },
	{ DIMSE_C_FIND_RSP, RSP_BASE, RSP_MAND, DS_ANY },
	{ DIMSE_C_GET_RQ, F_AFF_CLASS | F_MSG_ID | F_PRIORITY, RQ_MAND, DS_REQUIRED },
	{ DIMSE_C_GET_RSP, RSP_BASE | F_COUNTS, RSP_MAND, DS_ANY },
	{ DIMSE_C_MOVE_RQ, F_AFF_CLASS | F_MSG_ID | F_PRIORITY | F_MOVE_DEST,
	  RQ_MAND | F_MOVE_DEST, DS_REQUIRED },
	{ DIMSE_C_MOVE_RSP, RSP_BASE | F_COUNTS, RSP_MAND, DS_ANY },
	{ DIMSE_C_CANCEL_RQ, F_MSG_ID_RSP, F_MSG_ID_RSP, DS_NONE },
};

static const struct msg_spec *find_spec(uint16_t field)
{
	size_t i;
	for (i = 0; i < sizeof(specs) / sizeof(specs[0]); i++)
		if (specs[i].field == field)
			return &specs[i];
	return NULL;
}

struct writer {
	uint8_t *out;
	size_t cap, pos;
	int err;
};

static void w_bytes(struct writer *w, const void *p, size_t n)
{
	if (w->err)
		return;
	if (w->cap - w->pos < n) {
		w->err = DIMSE_E_NOSPACE;
		return;
	}
	memcpy(w->out + w->pos, p, n);
	w->pos += n;
}

static void w_header(struct writer *w, uint16_t elem, uint32_t vlen)
{
	uint8_t h[8] = { 0, 0, (uint8_t)elem, (uint8_t)(elem >> 8), (uint8_t)vlen,
			 (uint8_t)(vlen >> 8), (uint8_t)(vlen >> 16), (uint8_t)(vlen >> 24) };
	w_bytes(w, h, sizeof(h));
}

static void w_us(struct writer *w, uint16_t elem, uint16_t val)
{
	uint8_t v[2] = { (uint8_t)val, (uint8_t)(val >> 8) };
	w_header(w, elem, 2);
	w_bytes(w, v, 2);
}

/* String element padded to even length with pad (NUL for UI, space for AE/LO; PS3.5 6.2). */
static void w_str(struct writer *w, uint16_t elem, const char *s, char pad)
{
	size_t n = strlen(s);
	w_header(w, elem, (uint32_t)(n + (n & 1)));
	w_bytes(w, s, n);
	if (n & 1)
		w_bytes(w, &pad, 1);
}

/* A string field is valid when NUL-terminated within its array and not longer than max. */
static bool str_ok(const char *s, size_t arrsize, size_t max)
{
	const char *nul = memchr(s, '\0', arrsize);
	return nul != NULL && (size_t)(nul - s) <= max;
}

int dimse_cmd_encode(const struct dimse_cmd *c, uint8_t *out, size_t cap, size_t *written)
{
	const struct msg_spec *sp = find_spec(c->command_field);
	struct writer w = { out, cap, 0, 0 };
	unsigned f, have = 0;

	if (sp == NULL)
		return DIMSE_E_INVAL;
	f = sp->fields;

	if (!str_ok(c->affected_sop_class, sizeof(c->affected_sop_class), 64) ||
	    !str_ok(c->affected_sop_instance, sizeof(c->affected_sop_instance), 64) ||
	    !str_ok(c->move_destination, sizeof(c->move_destination), 16) ||
	    !str_ok(c->move_originator_ae, sizeof(c->move_originator_ae), 16) ||
	    !str_ok(c->error_comment, sizeof(c->error_comment), 64) ||
	    c->n_offending > DIMSE_MAX_OFFENDING)
		return DIMSE_E_INVAL;

	if (c->affected_sop_class[0])
		have |= F_AFF_CLASS;
	if (c->has_message_id)
		have |= F_MSG_ID;
	if (c->has_message_id_responded)
		have |= F_MSG_ID_RSP;
	if (c->move_destination[0])
		have |= F_MOVE_DEST;
	if (c->has_status)
		have |= F_STATUS;
	if (c->affected_sop_instance[0])
		have |= F_AFF_INST;
	if ((have & sp->mandatory) != sp->mandatory)
		return DIMSE_E_INVAL;
	if (sp->ds == DS_NONE && c->data_set_type != DIMSE_NO_DATA_SET)
		return DIMSE_E_INVAL;
	if (sp->ds == DS_REQUIRED && c->data_set_type == DIMSE_NO_DATA_SET)
		return DIMSE_E_INVAL;

	/* group length placeholder, patched below */
	w_header(&w, T_GROUP_LENGTH, 4);
	w_bytes(&w, "\0\0\0\0", 4);
	if ((f & F_AFF_CLASS) && c->affected_sop_class[0])
		w_str(&w, T_AFF_CLASS, c->affected_sop_class, '\0');
	w_us(&w, T_COMMAND_FIELD, c->command_field);
	if (f & F_MSG_ID)
		w_us(&w, T_MSG_ID, c->message_id);
	if (f & F_MSG_ID_RSP)
		w_us(&w, T_MSG_ID_RSP, c->message_id_responded);
	if (f & F_MOVE_DEST)
		w_str(&w, T_MOVE_DEST, c->move_destination, ' ');
	if (f & F_PRIORITY)
		w_us(&w, T_PRIORITY, c->priority);
	w_us(&w, T_CDST, c->data_set_type);
	if (f & F_STATUS)
		w_us(&w, T_STATUS, c->status);
	if ((f & F_ERROR) && c->n_offending > 0) {
		unsigned i;
		w_header(&w, T_OFFENDING, 4 * c->n_offending);
		for (i = 0; i < c->n_offending; i++) {
			uint32_t t = c->offending_element[i];
			uint8_t v[4] = { (uint8_t)(t >> 16), (uint8_t)(t >> 24), (uint8_t)t, (uint8_t)(t >> 8) };
			w_bytes(&w, v, 4);
		}
	}
	if ((f & F_ERROR) && c->error_comment[0])
		w_str(&w, T_ERR_COMMENT, c->error_comment, ' ');
	if ((f & F_ERROR) && c->has_error_id)
		w_us(&w, T_ERR_ID, c->error_id);
	if ((f & F_AFF_INST) && c->affected_sop_instance[0])
		w_str(&w, T_AFF_INST, c->affected_sop_instance, '\0');
	if (f & F_COUNTS) {
		if (c->has_counts & DIMSE_COUNT_REMAINING)
			w_us(&w, T_N_REMAINING, c->n_remaining);
		if (c->has_counts & DIMSE_COUNT_COMPLETED)
			w_us(&w, T_N_COMPLETED, c->n_completed);
		if (c->has_counts & DIMSE_COUNT_FAILED)
			w_us(&w, T_N_FAILED, c->n_failed);
		if (c->has_counts & DIMSE_COUNT_WARNING)
			w_us(&w, T_N_WARNING, c->n_warning);
	}
	if ((f & F_MOVE_ORIG) && c->move_originator_ae[0])
		w_str(&w, T_MOVE_ORIG_AE, c->move_originator_ae, ' ');
	if ((f & F_MOVE_ORIG) && c->has_move_originator_id)
		w_us(&w, T_MOVE_ORIG_ID, c->move_originator_id);
	if (w.err)
		return w.err;

	{
		uint32_t gl = (uint32_t)(w.pos - 12);
		out[8] = (uint8_t)gl;
		out[9] = (uint8_t)(gl >> 8);
		out[10] = (uint8_t)(gl >> 16);
		out[11] = (uint8_t)(gl >> 24);
	}
	*written = w.pos;
	return 0;
}

/* ---- builders --------------------------------------------------------------------------- */

static void copy_str(char *dst, size_t dstsize, const char *src)
{
	size_t n = 0;
	if (src != NULL)
		while (n < dstsize - 1 && src[n] != '\0')
			n++;
	if (n > 0)
		memcpy(dst, src, n);
	dst[n] = '\0';
}

void dimse_cmd_init(struct dimse_cmd *c, uint16_t field)
{
	memset(c, 0, sizeof(*c));
	c->command_field = field;
	switch (field) {
	case DIMSE_C_STORE_RQ:
	case DIMSE_C_FIND_RQ:
	case DIMSE_C_GET_RQ:
	case DIMSE_C_MOVE_RQ:
		c->data_set_type = DIMSE_DATA_SET_PRESENT;
		break;
	default:
		c->data_set_type = DIMSE_NO_DATA_SET;
		break;
	}
}

void dimse_rsp_init(struct dimse_cmd *rsp, const struct dimse_cmd *rq, uint16_t status)
{
	dimse_cmd_init(rsp, (uint16_t)(rq->command_field | 0x8000));
	memcpy(rsp->affected_sop_class, rq->affected_sop_class, sizeof(rsp->affected_sop_class));
	rsp->affected_sop_class[sizeof(rsp->affected_sop_class) - 1] = '\0';
	rsp->message_id_responded = rq->message_id;
	rsp->has_message_id_responded = true;
	rsp->status = status;
	rsp->has_status = true;
}

void dimse_echo_rsp(struct dimse_cmd *rsp, const struct dimse_cmd *rq, uint16_t status)
{
	dimse_rsp_init(rsp, rq, status);
	rsp->command_field = DIMSE_C_ECHO_RSP;
	if (!rsp->affected_sop_class[0])
		copy_str(rsp->affected_sop_class, sizeof(rsp->affected_sop_class),
			 DIMSE_VERIFICATION_SOP_CLASS);
}

void dimse_store_rsp(struct dimse_cmd *rsp, const struct dimse_cmd *rq, uint16_t status)
{
	dimse_rsp_init(rsp, rq, status);
	rsp->command_field = DIMSE_C_STORE_RSP;
	memcpy(rsp->affected_sop_instance, rq->affected_sop_instance,
	       sizeof(rsp->affected_sop_instance));
	rsp->affected_sop_instance[sizeof(rsp->affected_sop_instance) - 1] = '\0';
}

void dimse_echo_rq(struct dimse_cmd *c, uint16_t message_id)
{
	dimse_cmd_init(c, DIMSE_C_ECHO_RQ);
	copy_str(c->affected_sop_class, sizeof(c->affected_sop_class), DIMSE_VERIFICATION_SOP_CLASS);
	c->message_id = message_id;
	c->has_message_id = true;
}

void dimse_store_rq(struct dimse_cmd *c, uint16_t message_id, const char *sop_class,
		    const char *sop_instance, uint16_t priority)
{
	dimse_cmd_init(c, DIMSE_C_STORE_RQ);
	copy_str(c->affected_sop_class, sizeof(c->affected_sop_class), sop_class);
	copy_str(c->affected_sop_instance, sizeof(c->affected_sop_instance), sop_instance);
	c->message_id = message_id;
	c->has_message_id = true;
	c->priority = priority;
}

void dimse_find_rsp(struct dimse_cmd *rsp, const struct dimse_cmd *rq, uint16_t status)
{
	dimse_rsp_init(rsp, rq, status);
	rsp->command_field = DIMSE_C_FIND_RSP;
	rsp->data_set_type = dimse_status_is_pending(status) ? DIMSE_DATA_SET_PRESENT
							      : DIMSE_NO_DATA_SET;
}

void dimse_retrieve_rsp(struct dimse_cmd *rsp, const struct dimse_cmd *rq, uint16_t status,
			uint16_t remaining, uint16_t completed, uint16_t failed, uint16_t warning)
{
	dimse_rsp_init(rsp, rq, status);
	rsp->n_remaining = remaining;
	rsp->n_completed = completed;
	rsp->n_failed = failed;
	rsp->n_warning = warning;
	rsp->has_counts = DIMSE_COUNT_COMPLETED | DIMSE_COUNT_FAILED | DIMSE_COUNT_WARNING;
	if (dimse_status_is_pending(status))
		rsp->has_counts |= DIMSE_COUNT_REMAINING;
}

void dimse_cancel_rq(struct dimse_cmd *c, uint16_t message_id)
{
	dimse_cmd_init(c, DIMSE_C_CANCEL_RQ);
	c->message_id_responded = message_id;
	c->has_message_id_responded = true;
}

/* ---- description for logs -------------------------------------------------------------- */

struct sbuf {
	char *out;
	size_t cap, len;
};

static void sb_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;
	char *dst = b->len < b->cap ? b->out + b->len : NULL;
	size_t room = b->len < b->cap ? b->cap - b->len : 0;

	va_start(ap, fmt);
	n = vsnprintf(dst, room, fmt, ap);
	va_end(ap);
	if (n > 0)
		b->len += (size_t)n;
}

/* " key=value" with value from the peer: anything outside printable ASCII, quotes and
 * backslashes become '?', so a hostile value cannot forge log lines or fields. */
static void sb_str(struct sbuf *b, const char *key, const char *s, size_t max, bool quote)
{
	char tmp[72];
	size_t i;

	for (i = 0; i < max && s[i] != '\0' && i < sizeof(tmp) - 1; i++)
		tmp[i] = (s[i] < 0x20 || s[i] > 0x7E || s[i] == '"' || s[i] == '\\' ||
			  (!quote && s[i] == ' ')) ? '?' : s[i];
	tmp[i] = '\0';
	sb_printf(b, quote ? " %s=\"%s\"" : " %s=%s", key, tmp);
}

int dimse_cmd_describe(const struct dimse_cmd *c, char *out, size_t cap)
{
	struct sbuf b = { out, cap, 0 };
	static const char *const count_names[4] = { "remaining", "completed", "failed", "warning" };
	const uint16_t counts[4] = { c->n_remaining, c->n_completed, c->n_failed, c->n_warning };
	unsigned i;

	if (cap > 0)
		out[0] = '\0';
	sb_printf(&b, "%s", dimse_command_name(c->command_field));
	if (!strcmp(dimse_command_name(c->command_field), "UNKNOWN"))
		sb_printf(&b, " field=0x%04X", c->command_field);
	if (c->has_message_id)
		sb_printf(&b, " msg_id=%u", c->message_id);
	if (c->has_message_id_responded)
		sb_printf(&b, " responding_to=%u", c->message_id_responded);
	if (c->has_status)
		sb_printf(&b, " status=0x%04X", c->status);
	if (c->affected_sop_class[0])
		sb_str(&b, "class", c->affected_sop_class, 64, false);
	if (c->affected_sop_instance[0])
		sb_str(&b, "instance", c->affected_sop_instance, 64, false);
	if (c->command_field == DIMSE_C_STORE_RQ || c->command_field == DIMSE_C_FIND_RQ ||
	    c->command_field == DIMSE_C_GET_RQ || c->command_field == DIMSE_C_MOVE_RQ)
		sb_printf(&b, " priority=%u", c->priority);
	if (c->move_destination[0])
		sb_str(&b, "move_dest", c->move_destination, 16, false);
	if (c->move_originator_ae[0])
		sb_str(&b, "move_originator", c->move_originator_ae, 16, false);
	if (c->has_move_originator_id)
		sb_printf(&b, " move_originator_id=%u", c->move_originator_id);
	for (i = 0; i < 4; i++)
		if (c->has_counts & (1u << i))
			sb_printf(&b, " %s=%u", count_names[i], counts[i]);
	sb_printf(&b, " data_set=%s", dimse_has_data_set(c) ? "yes" : "no");
	if (c->has_error_id)
		sb_printf(&b, " error_id=%u", c->error_id);
	for (i = 0; i < c->n_offending && i < DIMSE_MAX_OFFENDING; i++)
		sb_printf(&b, " offending=(%04X,%04X)", (unsigned)(c->offending_element[i] >> 16),
			  (unsigned)(c->offending_element[i] & 0xFFFF));
	if (c->error_comment[0])
		sb_str(&b, "error_comment", c->error_comment, 64, true);
	return b.len > (size_t)0x7FFFFFFF ? 0x7FFFFFFF : (int)b.len;
}
