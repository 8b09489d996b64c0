/*
 * DICOM Upper Layer PDU codec (PS3.8 9.3; user information sub-items PS3.7 D.3.3).
 *
 * Owns the translation between PDU bytes and the structs of pdu.h. Decoders walk the
 * caller's buffer with explicit bounds: every length field is checked against what is left
 * of its container before anything is read through it, so a truncated or lying PDU yields
 * an error code, never a read past the buffer. Encoders write through a bounded writer that
 * records overflow instead of writing past cap. No allocation, no I/O, no logging.
 */
#include "ul/pdu.h"

#include <assert.h>
#include <string.h>

/* ---- big-endian helpers (PS3.8 9.3.1) ----------------------------------------- */

static uint16_t be16(const uint8_t *p) { return (uint16_t)((p[0] << 8) | p[1]); }

static uint32_t be32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* ---- errors ----------------------------------------------------------------------- */

int ul_abort_reason_for(int err)
{
	switch (err) {
	case UL_E_PDU_TYPE:
		return 1; /* unrecognized PDU */
	case UL_E_UNEXPECTED:
		return 2; /* unexpected PDU */
	case UL_E_ITEM_TYPE:
		return 4; /* unrecognized PDU parameter */
	case UL_E_ITEM_UNEXPECTED:
		return 5; /* unexpected PDU parameter */
	case UL_E_LENGTH:
	case UL_E_PROTOCOL_VERSION:
	case UL_E_NO_APP_CONTEXT:
	case UL_E_NO_PC:
	case UL_E_PC_ID:
	case UL_E_PC_SYNTAX:
	case UL_E_NO_USER_INFO:
	case UL_E_UID:
	case UL_E_VALUE:
	case UL_E_PDV:
		return 6; /* invalid PDU parameter value */
	default:
		return 0; /* reason not specified */
	}
}

const char *ul_strerror(int err)
{
	switch (err) {
	case 0:
		return "success";
	case UL_NEED_MORE:
		return "incomplete PDU header";
	case UL_E_PDU_TYPE:
		return "unrecognized PDU type";
	case UL_E_UNEXPECTED:
		return "unexpected PDU";
	case UL_E_ITEM_TYPE:
		return "unrecognized item type";
	case UL_E_ITEM_UNEXPECTED:
		return "unexpected or repeated item";
	case UL_E_LENGTH:
		return "length field inconsistent with its container";
	case UL_E_PROTOCOL_VERSION:
		return "protocol version 1 not supported by peer";
	case UL_E_NO_APP_CONTEXT:
		return "no application context item";
	case UL_E_NO_PC:
		return "no presentation context item";
	case UL_E_PC_ID:
		return "presentation context ID even, zero or repeated";
	case UL_E_PC_SYNTAX:
		return "presentation context without a valid abstract or transfer syntax";
	case UL_E_NO_USER_INFO:
		return "user information item or its maximum length / implementation UID missing";
	case UL_E_UID:
		return "invalid UID";
	case UL_E_VALUE:
		return "invalid parameter value";
	case UL_E_PDV:
		return "malformed PDV item";
	case UL_E_NOSPACE:
		return "output buffer too small";
	case UL_E_INVAL:
		return "invalid value to encode";
	case UL_E_FSM_BLANK:
		return "event not allowed in this state";
	default:
		return "unknown error";
	}
}

/* ---- framing ---------------------------------------------------------------------- */

int ul_pdu_header(const uint8_t *buf, size_t len, uint8_t *type, uint32_t *body_len)
{
	if (len < UL_HEADER_LEN)
		return UL_NEED_MORE;
	*type = buf[0];
	*body_len = be32(buf + 2);
	return 0;
}

int ul_pdu_check(uint8_t type, uint32_t body_len)
{
	switch (type) {
	case UL_PDU_ASSOC_RQ:
	case UL_PDU_ASSOC_AC:
		return body_len >= UL_MIN_ASSOC_BODY ? 0 : UL_E_LENGTH;
	case UL_PDU_PDATA_TF:
		return body_len >= 6 ? 0 : UL_E_LENGTH;
	case UL_PDU_ASSOC_RJ:
	case UL_PDU_RELEASE_RQ:
	case UL_PDU_RELEASE_RP:
	case UL_PDU_ABORT:
		return body_len == 4 ? 0 : UL_E_LENGTH;
	default:
		return UL_E_PDU_TYPE;
	}
}

/* ---- decode helpers ----------------------------------------------------------------- */

/*
 * One item or sub-item: type at p[0], reserved p[1], 16-bit length p[2..3] (PS3.8 9.3.2).
 * Reads the header at buf[*off] and checks the value fits within len; advances *off past it.
 */
static int next_item(const uint8_t *buf, size_t len, size_t *off, uint8_t *type,
		     const uint8_t **val, size_t *vlen)
{
	if (len - *off < 4)
		return UL_E_LENGTH;
	const uint8_t *p = buf + *off;
	size_t n = be16(p + 2);
	if (n > len - *off - 4)
		return UL_E_LENGTH;
	*type = p[0];
	*val = p + 4;
	*vlen = n;
	*off += 4 + n;
	return 0;
}

/*
 * A UID value (PS3.5 9.1) into dst[UL_UID_MAX + 1]. Trailing NUL and space padding is
 * tolerated and dropped (some peers pad to even length); what remains must be 1..64
 * printable non-space ASCII bytes, so that no embedded NUL can shorten it silently.
 * required == false accepts an empty value (dst = ""). dst is zero-filled in all cases.
 */
static int copy_uid(char *dst, const uint8_t *src, size_t n, bool required)
{
	memset(dst, 0, UL_UID_MAX + 1); /* no stale bytes after the terminator */
	while (n > 0 && (src[n - 1] == 0 || src[n - 1] == ' '))
		n--;
	if (n == 0) {
		dst[0] = 0;
		return required ? UL_E_UID : 0;
	}
	if (n > UL_UID_MAX)
		return UL_E_UID;
	for (size_t i = 0; i < n; i++)
		if (src[i] <= 0x20 || src[i] >= 0x7f)
			return UL_E_UID;
	memcpy(dst, src, n);
	dst[n] = 0;
	return 0;
}

/*
 * A 16-byte AE title field into dst[17]: leading and trailing spaces are not significant
 * (PS3.5 6.2, VR AE), trailing NULs are tolerated. strict (the RQ) rejects control and
 * non-ASCII bytes; otherwise (the AC's reserved copy) they become '?' so logs stay clean.
 */
static int copy_ae(char *dst, const uint8_t *src, bool strict)
{
	size_t b = 0, e = UL_AE_MAX;
	while (e > 0 && (src[e - 1] == ' ' || src[e - 1] == 0))
		e--;
	while (b < e && src[b] == ' ')
		b++;
	size_t n = 0;
	for (size_t i = b; i < e; i++) {
		uint8_t c = src[i];
		if (c < 0x20 || c >= 0x7f) {
			if (strict)
				return UL_E_VALUE;
			c = '?';
		}
		dst[n++] = (char)c;
	}
	dst[n] = 0;
	return 0;
}

/* Copies at most cap bytes, returns how many; sets *trunc when n > cap. */
static uint16_t copy_field(uint8_t *dst, size_t cap, const uint8_t *src, size_t n, bool *trunc)
{
	if (n > cap) {
		*trunc = true;
		n = cap;
	}
	memcpy(dst, src, n);
	return (uint16_t)n;
}

/* User information item 50H (PS3.8 9.3.2.3, PS3.7 D.3.3). v/n is the item value. */
static int decode_user_info(const uint8_t *v, size_t n, struct ul_user_info *ui)
{
	bool seen_max = false, seen_impl = false, seen_ver = false, seen_async = false;
	bool seen_uid_rq = false, seen_uid_ac = false;
	size_t off = 0;
	while (off < n) {
		uint8_t t;
		const uint8_t *s;
		size_t sn;
		int rc = next_item(v, n, &off, &t, &s, &sn);
		if (rc < 0)
			return rc;
		switch (t) {
		case UL_SUB_MAX_LENGTH: /* PS3.8 D.1: one UL */
			if (seen_max)
				return UL_E_ITEM_UNEXPECTED;
			if (sn != 4)
				return UL_E_LENGTH;
			ui->max_length = be32(s);
			seen_max = true;
			break;
		case UL_SUB_IMPL_CLASS_UID: /* PS3.7 D.3.3.2.1 */
			if (seen_impl)
				return UL_E_ITEM_UNEXPECTED;
			rc = copy_uid(ui->impl_class_uid, s, sn, true);
			if (rc < 0)
				return rc;
			seen_impl = true;
			break;
		case UL_SUB_IMPL_VERSION: { /* PS3.7 D.3.3.2.3: 1-16 chars; longer ones cut */
			if (seen_ver)
				return UL_E_ITEM_UNEXPECTED;
			size_t k = sn < UL_IMPL_VERSION_MAX ? sn : UL_IMPL_VERSION_MAX;
			while (k > 0 && (s[k - 1] == ' ' || s[k - 1] == 0))
				k--;
			for (size_t i = 0; i < k; i++)
				ui->impl_version[i] = (s[i] < 0x20 || s[i] >= 0x7f) ? '?' : (char)s[i];
			ui->impl_version[k] = 0;
			seen_ver = true;
			break;
		}
		case UL_SUB_ASYNC_OPS: /* PS3.7 D.3.3.3: two US */
			if (seen_async)
				return UL_E_ITEM_UNEXPECTED;
			if (sn != 4)
				return UL_E_LENGTH;
			ui->has_async = true;
			ui->max_invoked = be16(s);
			ui->max_performed = be16(s + 2);
			seen_async = true;
			break;
		case UL_SUB_ROLE: { /* PS3.7 D.3.3.4: UID length, UID, SCU role, SCP role */
			if (sn < 4)
				return UL_E_LENGTH;
			size_t ul = be16(s);
			if (ul + 4 != sn)
				return UL_E_LENGTH;
			char uid[UL_UID_MAX + 1];
			rc = copy_uid(uid, s + 2, ul, true);
			if (rc < 0)
				return rc;
			if (ui->n_roles < UL_MAX_ROLES) {
				struct ul_role *r = &ui->roles[ui->n_roles++];
				memcpy(r->uid, uid, sizeof uid);
				r->scu = s[2 + ul];
				r->scp = s[3 + ul];
			}
			break;
		}
		case UL_SUB_EXT_NEG: { /* PS3.7 D.3.3.5: UID length, UID, application info */
			if (sn < 2)
				return UL_E_LENGTH;
			size_t ul = be16(s);
			if (ul > sn - 2)
				return UL_E_LENGTH;
			char uid[UL_UID_MAX + 1];
			rc = copy_uid(uid, s + 2, ul, true);
			if (rc < 0)
				return rc;
			if (ui->n_ext_neg < UL_MAX_EXT_NEG) {
				struct ul_ext_neg *x = &ui->ext_neg[ui->n_ext_neg++];
				bool trunc = false;
				memcpy(x->uid, uid, sizeof uid);
				x->info_len = copy_field(x->info, sizeof x->info, s + 2 + ul,
							 sn - 2 - ul, &trunc);
			}
			break;
		}
		case UL_SUB_USER_IDENTITY_RQ: { /* PS3.7 D.3.3.7.1 */
			if (seen_uid_rq)
				return UL_E_ITEM_UNEXPECTED;
			if (sn < 6)
				return UL_E_LENGTH;
			size_t pl = be16(s + 2);
			if (pl > sn - 6)
				return UL_E_LENGTH;
			size_t sl = be16(s + 4 + pl);
			if (6 + pl + sl != sn)
				return UL_E_LENGTH;
			ui->has_user_identity = true;
			ui->ui_type = s[0];
			ui->ui_positive_rsp = s[1];
			ui->ui_primary_len = copy_field(ui->ui_primary, sizeof ui->ui_primary, s + 4,
							pl, &ui->ui_truncated);
			ui->ui_secondary_len = copy_field(ui->ui_secondary, sizeof ui->ui_secondary,
							  s + 6 + pl, sl, &ui->ui_truncated);
			seen_uid_rq = true;
			break;
		}
		case UL_SUB_USER_IDENTITY_AC: { /* PS3.7 D.3.3.7.2 */
			if (seen_uid_ac)
				return UL_E_ITEM_UNEXPECTED;
			if (sn < 2)
				return UL_E_LENGTH;
			size_t rl = be16(s);
			if (2 + rl != sn)
				return UL_E_LENGTH;
			ui->has_ui_response = true;
			ui->ui_response_len = copy_field(ui->ui_response, sizeof ui->ui_response,
							 s + 2, rl, &ui->ui_truncated);
			seen_uid_ac = true;
			break;
		}
		default:
			/* 57H and sub-items this node does not know: PS3.7 D.3.3 lets an
			 * implementation ignore what it does not support. */
			break;
		}
	}
	/* PS3.8 9.3.2.3 / PS3.7 D.3.3.2: maximum length and implementation class UID are
	 * mandatory in both RQ and AC. */
	if (!seen_max || !seen_impl)
		return UL_E_NO_USER_INFO;
	return 0;
}

/* Presentation context item 20H (PS3.8 9.3.2.2). */
static int decode_pc_rq(const uint8_t *v, size_t n, struct ul_pc_rq *pc)
{
	if (n < 4)
		return UL_E_LENGTH;
	pc->id = v[0];
	if (pc->id == 0 || (pc->id & 1) == 0)
		return UL_E_PC_ID;
	bool seen_as = false;
	size_t off = 4, total_ts = 0;
	while (off < n) {
		uint8_t t;
		const uint8_t *s;
		size_t sn;
		int rc = next_item(v, n, &off, &t, &s, &sn);
		if (rc < 0)
			return rc;
		if (t == UL_ITEM_ABSTRACT_SYNTAX) {
			if (seen_as)
				return UL_E_PC_SYNTAX;
			rc = copy_uid(pc->abstract, s, sn, true);
			if (rc < 0)
				return rc;
			seen_as = true;
		} else if (t == UL_ITEM_TRANSFER_SYNTAX) {
			char uid[UL_UID_MAX + 1];
			rc = copy_uid(uid, s, sn, true);
			if (rc < 0)
				return rc;
			if (pc->n_ts < UL_MAX_TS)
				memcpy(pc->ts[pc->n_ts++], uid, sizeof uid);
			total_ts++;
		} else {
			return UL_E_ITEM_TYPE;
		}
	}
	if (!seen_as || total_ts == 0)
		return UL_E_PC_SYNTAX;
	return 0;
}

/* Presentation context item 21H (PS3.8 9.3.3.2). The 40H of a context that was not
 * accepted "shall not be tested" (Table 9-18): it may be missing, empty or repeated. */
static int decode_pc_ac(const uint8_t *v, size_t n, struct ul_pc_ac *pc)
{
	if (n < 4)
		return UL_E_LENGTH;
	pc->id = v[0];
	pc->result = v[2];
	if (pc->id == 0 || (pc->id & 1) == 0)
		return UL_E_PC_ID;
	if (pc->result > UL_PC_TS_UNSUPPORTED)
		return UL_E_VALUE;
	bool accepted = pc->result == UL_PC_ACCEPT;
	unsigned n_ts = 0;
	size_t off = 4;
	while (off < n) {
		uint8_t t;
		const uint8_t *s;
		size_t sn;
		int rc = next_item(v, n, &off, &t, &s, &sn);
		if (rc < 0)
			return rc;
		if (t != UL_ITEM_TRANSFER_SYNTAX)
			return UL_E_ITEM_TYPE;
		if (accepted) {
			if (n_ts > 0)
				return UL_E_PC_SYNTAX;
			rc = copy_uid(pc->ts, s, sn, true);
			if (rc < 0)
				return rc;
		} else if (n_ts == 0 && copy_uid(pc->ts, s, sn, false) < 0) {
			pc->ts[0] = 0;
		}
		n_ts++;
	}
	if (accepted && n_ts == 0)
		return UL_E_PC_SYNTAX;
	return 0;
}

/*
 * The part common to RQ and AC (PS3.8 Tables 9-11 and 9-17): fixed fields, then items.
 * ac selects 21H items into pcs_ac, otherwise 20H items into pcs_rq.
 */
struct assoc_common {
	uint16_t *protocol_version;
	char *called, *calling, *app_context;
	unsigned *n_pc;
	struct ul_pc_rq *pcs_rq;
	struct ul_pc_ac *pcs_ac;
	struct ul_user_info *ui;
};

static int decode_assoc(const uint8_t *body, size_t len, const struct assoc_common *c)
{
	bool ac = c->pcs_ac != NULL;
	if (len < UL_MIN_ASSOC_BODY)
		return UL_E_LENGTH;
	/* body offsets: 0 version, 2 reserved, 4 called AE, 20 calling AE, 36 reserved (32) */
	*c->protocol_version = be16(body);
	int rc = copy_ae(c->called, body + 4, !ac);
	if (rc < 0)
		return rc;
	rc = copy_ae(c->calling, body + 20, !ac);
	if (rc < 0)
		return rc;
	/* PS3.8 9.3.2: "shall only test that bit 0 is set". */
	if ((*c->protocol_version & 1) == 0)
		return UL_E_PROTOCOL_VERSION;

	uint8_t seen_id[256 / 8] = {0};
	bool seen_app = false, seen_ui = false;
	size_t off = UL_MIN_ASSOC_BODY;
	while (off < len) {
		uint8_t t;
		const uint8_t *v;
		size_t n;
		rc = next_item(body, len, &off, &t, &v, &n);
		if (rc < 0)
			return rc;
		switch (t) {
		case UL_ITEM_APP_CONTEXT:
			if (seen_app)
				return UL_E_ITEM_UNEXPECTED;
			rc = copy_uid(c->app_context, v, n, true);
			if (rc < 0)
				return rc;
			seen_app = true;
			break;
		case UL_ITEM_PC_RQ:
		case UL_ITEM_PC_AC:
			if (t != (ac ? UL_ITEM_PC_AC : UL_ITEM_PC_RQ))
				return UL_E_ITEM_UNEXPECTED;
			/* Distinct odd IDs bound the count at 128 (PS3.8 9.3.2.2): once 128
			 * are in, any further context repeats an ID or has an invalid one. */
			if (*c->n_pc == UL_MAX_PC)
				return UL_E_PC_ID;
			if (n >= 1 && (seen_id[v[0] >> 3] & (1u << (v[0] & 7))))
				return UL_E_PC_ID;
			rc = ac ? decode_pc_ac(v, n, &c->pcs_ac[*c->n_pc])
				: decode_pc_rq(v, n, &c->pcs_rq[*c->n_pc]);
			if (rc < 0)
				return rc;
			seen_id[v[0] >> 3] |= (uint8_t)(1u << (v[0] & 7));
			(*c->n_pc)++;
			break;
		case UL_ITEM_USER_INFO:
			if (seen_ui)
				return UL_E_ITEM_UNEXPECTED;
			rc = decode_user_info(v, n, c->ui);
			if (rc < 0)
				return rc;
			seen_ui = true;
			break;
		case UL_ITEM_ABSTRACT_SYNTAX:
		case UL_ITEM_TRANSFER_SYNTAX:
			return UL_E_ITEM_UNEXPECTED;
		default:
			return UL_E_ITEM_TYPE;
		}
	}
	if (!seen_app)
		return UL_E_NO_APP_CONTEXT;
	if (*c->n_pc == 0)
		return UL_E_NO_PC;
	if (!seen_ui)
		return UL_E_NO_USER_INFO;
	return 0;
}

int ul_assoc_rq_decode(const uint8_t *body, size_t len, struct ul_assoc_rq *out)
{
	memset(out, 0, sizeof *out);
	struct assoc_common c = {
		.protocol_version = &out->protocol_version,
		.called = out->called,
		.calling = out->calling,
		.app_context = out->app_context,
		.n_pc = &out->n_pc,
		.pcs_rq = out->pc,
		.ui = &out->ui,
	};
	return decode_assoc(body, len, &c);
}

int ul_assoc_ac_decode(const uint8_t *body, size_t len, struct ul_assoc_ac *out)
{
	memset(out, 0, sizeof *out);
	struct assoc_common c = {
		.protocol_version = &out->protocol_version,
		.called = out->called,
		.calling = out->calling,
		.app_context = out->app_context,
		.n_pc = &out->n_pc,
		.pcs_ac = out->pc,
		.ui = &out->ui,
	};
	return decode_assoc(body, len, &c);
}

/* ---- encode helpers ------------------------------------------------------------------ */

/* Bounded writer: past cap it only counts, so the caller learns the size it would need. */
struct wr {
	uint8_t *p;
	size_t cap, off;
};

static void w8(struct wr *w, uint8_t v)
{
	if (w->off < w->cap)
		w->p[w->off] = v;
	w->off++;
}

static void w16(struct wr *w, uint16_t v)
{
	w8(w, (uint8_t)(v >> 8));
	w8(w, (uint8_t)v);
}

static void wbytes(struct wr *w, const void *src, size_t n)
{
	if (w->off <= w->cap && n <= w->cap - w->off)
		memcpy(w->p + w->off, src, n);
	w->off += n;
}

static void wzero(struct wr *w, size_t n)
{
	for (size_t i = 0; i < n; i++)
		w8(w, 0);
}

/* Opens an item: writes type, reserved and a placeholder length; returns its offset. */
static size_t item_open(struct wr *w, uint8_t type)
{
	size_t at = w->off;
	w8(w, type);
	w8(w, 0);
	w16(w, 0);
	return at;
}

/* Closes the item opened at `at`: patches its 16-bit length. */
static int item_close(struct wr *w, size_t at)
{
	size_t n = w->off - at - 4;
	if (n > 0xffff)
		return UL_E_INVAL;
	if (at + 4 <= w->cap)
		put16(w->p + at + 2, (uint16_t)n);
	return 0;
}

/* strlen bounded by max + 1 (C11 has no strnlen): max + 1 means "too long". */
static size_t slen(const char *s, size_t max)
{
	size_t n = 0;
	while (n <= max && s[n])
		n++;
	return n;
}

static int valid_uid(const char *s, bool required)
{
	size_t n = slen(s, UL_UID_MAX);
	if (n > UL_UID_MAX || (required && n == 0))
		return 0;
	return 1;
}

static int w_uid_item(struct wr *w, uint8_t type, const char *uid)
{
	size_t at = item_open(w, type);
	wbytes(w, uid, strlen(uid));
	return item_close(w, at);
}

/* AE title, space padded to 16 bytes (PS3.8 9.3.2). */
static void w_ae(struct wr *w, const char *ae)
{
	size_t n = strlen(ae);
	wbytes(w, ae, n);
	for (; n < UL_AE_MAX; n++)
		w8(w, ' ');
}

static int check_user_info(const struct ul_user_info *ui)
{
	if (!valid_uid(ui->impl_class_uid, true) ||
	    slen(ui->impl_version, UL_IMPL_VERSION_MAX) > UL_IMPL_VERSION_MAX ||
	    ui->n_roles > UL_MAX_ROLES || ui->n_ext_neg > UL_MAX_EXT_NEG ||
	    ui->ui_primary_len > UL_UI_FIELD_MAX || ui->ui_secondary_len > UL_UI_FIELD_MAX ||
	    ui->ui_response_len > UL_UI_FIELD_MAX)
		return UL_E_INVAL;
	for (unsigned i = 0; i < ui->n_roles; i++)
		if (!valid_uid(ui->roles[i].uid, true))
			return UL_E_INVAL;
	for (unsigned i = 0; i < ui->n_ext_neg; i++)
		if (!valid_uid(ui->ext_neg[i].uid, true) ||
		    ui->ext_neg[i].info_len > UL_EXT_NEG_INFO_MAX)
			return UL_E_INVAL;
	return 0;
}

static int w_user_info(struct wr *w, const struct ul_user_info *ui)
{
	int rc = 0;
	size_t at = item_open(w, UL_ITEM_USER_INFO);

	size_t s = item_open(w, UL_SUB_MAX_LENGTH);
	w16(w, (uint16_t)(ui->max_length >> 16));
	w16(w, (uint16_t)ui->max_length);
	rc |= item_close(w, s);

	rc |= w_uid_item(w, UL_SUB_IMPL_CLASS_UID, ui->impl_class_uid);

	if (ui->has_async) {
		s = item_open(w, UL_SUB_ASYNC_OPS);
		w16(w, ui->max_invoked);
		w16(w, ui->max_performed);
		rc |= item_close(w, s);
	}
	for (unsigned i = 0; i < ui->n_roles; i++) {
		const struct ul_role *r = &ui->roles[i];
		s = item_open(w, UL_SUB_ROLE);
		w16(w, (uint16_t)strlen(r->uid));
		wbytes(w, r->uid, strlen(r->uid));
		w8(w, r->scu);
		w8(w, r->scp);
		rc |= item_close(w, s);
	}
	if (ui->impl_version[0]) {
		s = item_open(w, UL_SUB_IMPL_VERSION);
		wbytes(w, ui->impl_version, strlen(ui->impl_version));
		rc |= item_close(w, s);
	}
	for (unsigned i = 0; i < ui->n_ext_neg; i++) {
		const struct ul_ext_neg *x = &ui->ext_neg[i];
		s = item_open(w, UL_SUB_EXT_NEG);
		w16(w, (uint16_t)strlen(x->uid));
		wbytes(w, x->uid, strlen(x->uid));
		wbytes(w, x->info, x->info_len);
		rc |= item_close(w, s);
	}
	if (ui->has_user_identity) {
		s = item_open(w, UL_SUB_USER_IDENTITY_RQ);
		w8(w, ui->ui_type);
		w8(w, ui->ui_positive_rsp);
		w16(w, ui->ui_primary_len);
		wbytes(w, ui->ui_primary, ui->ui_primary_len);
		w16(w, ui->ui_secondary_len);
		wbytes(w, ui->ui_secondary, ui->ui_secondary_len);
		rc |= item_close(w, s);
	}
	if (ui->has_ui_response) {
		s = item_open(w, UL_SUB_USER_IDENTITY_AC);
		w16(w, ui->ui_response_len);
		wbytes(w, ui->ui_response, ui->ui_response_len);
		rc |= item_close(w, s);
	}
	rc |= item_close(w, at);
	return rc ? UL_E_INVAL : 0;
}

/* Header and fixed fields shared by RQ and AC (PS3.8 Tables 9-11, 9-17). */
static int w_assoc_head(struct wr *w, uint8_t type, uint16_t version, const char *called,
			const char *calling, const char *app_context)
{
	if (slen(called, UL_AE_MAX) > UL_AE_MAX || slen(calling, UL_AE_MAX) > UL_AE_MAX ||
	    !valid_uid(app_context, true))
		return UL_E_INVAL;
	w8(w, type);
	w8(w, 0);
	w16(w, 0); /* PDU length patched by finish_pdu */
	w16(w, 0);
	w16(w, version);
	w16(w, 0);
	w_ae(w, called);
	w_ae(w, calling);
	wzero(w, 32);
	return w_uid_item(w, UL_ITEM_APP_CONTEXT, app_context);
}

static int finish_pdu(struct wr *w, size_t *written)
{
	if (w->off > w->cap) {
		*written = w->off; /* what it would take */
		return UL_E_NOSPACE;
	}
	if ((uint64_t)w->off - UL_HEADER_LEN > UINT32_MAX)
		return UL_E_INVAL;
	put32(w->p + 2, (uint32_t)(w->off - UL_HEADER_LEN));
	*written = w->off;
	return 0;
}

static bool odd_distinct(uint8_t id, uint8_t seen[32])
{
	if (id == 0 || (id & 1) == 0 || (seen[id >> 3] & (1u << (id & 7))))
		return false;
	seen[id >> 3] |= (uint8_t)(1u << (id & 7));
	return true;
}

int ul_assoc_rq_encode(const struct ul_assoc_rq *in, uint8_t *out, size_t cap, size_t *written)
{
	*written = 0;
	if (in->n_pc == 0 || in->n_pc > UL_MAX_PC || check_user_info(&in->ui) < 0)
		return UL_E_INVAL;
	uint8_t seen[32] = {0};
	for (unsigned i = 0; i < in->n_pc; i++) {
		const struct ul_pc_rq *pc = &in->pc[i];
		if (!odd_distinct(pc->id, seen) || !valid_uid(pc->abstract, true) ||
		    pc->n_ts == 0 || pc->n_ts > UL_MAX_TS)
			return UL_E_INVAL;
		for (unsigned j = 0; j < pc->n_ts; j++)
			if (!valid_uid(pc->ts[j], true))
				return UL_E_INVAL;
	}
	struct wr w = {out, cap, 0};
	int rc = w_assoc_head(&w, UL_PDU_ASSOC_RQ, in->protocol_version, in->called, in->calling,
			      in->app_context);
	if (rc < 0)
		return rc;
	for (unsigned i = 0; i < in->n_pc; i++) {
		const struct ul_pc_rq *pc = &in->pc[i];
		size_t at = item_open(&w, UL_ITEM_PC_RQ);
		w8(&w, pc->id);
		wzero(&w, 3);
		rc |= w_uid_item(&w, UL_ITEM_ABSTRACT_SYNTAX, pc->abstract);
		for (unsigned j = 0; j < pc->n_ts; j++)
			rc |= w_uid_item(&w, UL_ITEM_TRANSFER_SYNTAX, pc->ts[j]);
		rc |= item_close(&w, at);
	}
	rc |= w_user_info(&w, &in->ui);
	if (rc)
		return UL_E_INVAL;
	return finish_pdu(&w, written);
}

int ul_assoc_ac_encode(const struct ul_assoc_ac *in, uint8_t *out, size_t cap, size_t *written)
{
	*written = 0;
	if (in->n_pc == 0 || in->n_pc > UL_MAX_PC || check_user_info(&in->ui) < 0)
		return UL_E_INVAL;
	uint8_t seen[32] = {0};
	for (unsigned i = 0; i < in->n_pc; i++) {
		const struct ul_pc_ac *pc = &in->pc[i];
		if (!odd_distinct(pc->id, seen) || pc->result > UL_PC_TS_UNSUPPORTED ||
		    !valid_uid(pc->ts, pc->result == UL_PC_ACCEPT))
			return UL_E_INVAL;
	}
	struct wr w = {out, cap, 0};
	int rc = w_assoc_head(&w, UL_PDU_ASSOC_AC, in->protocol_version, in->called, in->calling,
			      in->app_context);
	if (rc < 0)
		return rc;
	for (unsigned i = 0; i < in->n_pc; i++) {
		const struct ul_pc_ac *pc = &in->pc[i];
		size_t at = item_open(&w, UL_ITEM_PC_AC);
		w8(&w, pc->id);
		w8(&w, 0);
		w8(&w, pc->result);
		w8(&w, 0);
		/* PS3.8 9.3.3.2: exactly one 40H, not significant unless accepted. */
		rc |= w_uid_item(&w, UL_ITEM_TRANSFER_SYNTAX, pc->ts);
		rc |= item_close(&w, at);
	}
	rc |= w_user_info(&w, &in->ui);
	if (rc)
		return UL_E_INVAL;
	return finish_pdu(&w, written);
}

/* ---- fixed-size PDUs ----------------------------------------------------------------- */

static void fixed_pdu(uint8_t out[10], uint8_t type, uint8_t b8, uint8_t b9)
{
	out[0] = type;
	out[1] = 0;
	put32(out + 2, 4);
	out[6] = 0;
	out[7] = 0;
	out[8] = b8;
	out[9] = b9;
}

int ul_assoc_rj_decode(const uint8_t *body, size_t len, uint8_t *result, uint8_t *source,
		       uint8_t *reason)
{
	if (len != 4)
		return UL_E_LENGTH;
	/* body: 0 reserved, 1 result, 2 source, 3 reason/diag (PS3.8 Table 9-21) */
	if (body[1] != UL_RJ_PERMANENT && body[1] != UL_RJ_TRANSIENT)
		return UL_E_VALUE;
	if (body[2] < UL_RJ_SRC_USER || body[2] > UL_RJ_SRC_PRESENTATION)
		return UL_E_VALUE;
	*result = body[1];
	*source = body[2];
	*reason = body[3];
	return 0;
}

void ul_assoc_rj_encode(uint8_t out[10], uint8_t result, uint8_t source, uint8_t reason)
{
	fixed_pdu(out, UL_PDU_ASSOC_RJ, source, reason);
	out[7] = result;
}

int ul_release_decode(const uint8_t *body, size_t len)
{
	(void)body;
	return len == 4 ? 0 : UL_E_LENGTH;
}

void ul_release_rq_encode(uint8_t out[10]) { fixed_pdu(out, UL_PDU_RELEASE_RQ, 0, 0); }

void ul_release_rp_encode(uint8_t out[10]) { fixed_pdu(out, UL_PDU_RELEASE_RP, 0, 0); }

int ul_abort_decode(const uint8_t *body, size_t len, uint8_t *source, uint8_t *reason)
{
	if (len != 4)
		return UL_E_LENGTH;
	/* body: 0-1 reserved, 2 source, 3 reason/diag (PS3.8 Table 9-26) */
	*source = body[2];
	*reason = body[3];
	return 0;
}

void ul_abort_encode(uint8_t out[10], uint8_t source, uint8_t reason)
{
	fixed_pdu(out, UL_PDU_ABORT, source, reason);
}

/* ---- P-DATA-TF ----------------------------------------------------------------------- */

int ul_pdata_next(const uint8_t *body, size_t len, size_t *off, struct ul_pdv *pdv)
{
	if (*off >= len)
		return (*off == 0) ? UL_E_PDV : 0; /* PS3.8 9.3.5: one or more PDV items */
	size_t left = len - *off;
	if (left < 4)
		return UL_E_PDV;
	const uint8_t *p = body + *off;
	uint32_t n = be32(p);
	if (n < 2 || n > left - 4)
		return UL_E_PDV;
	/* PS3.8 9.3.5.1: odd context ID; Annex E.2: bits 2-7 of the header are 0. */
	if (p[4] == 0 || (p[4] & 1) == 0 || (p[5] & 0xfc) != 0)
		return UL_E_PDV;
	pdv->pc_id = p[4];
	pdv->mch = p[5];
	pdv->data = p + 6;
	pdv->len = n - 2;
	*off += 4 + (size_t)n;
	return 1;
}

void ul_pdata_header_encode(uint8_t out[12], uint32_t data_len, uint8_t pc_id, uint8_t mch)
{
	assert(data_len <= UINT32_MAX - 6);
	assert((pc_id & 1) && mch <= 3);
	out[0] = UL_PDU_PDATA_TF;
	out[1] = 0;
	put32(out + 2, data_len + 6);
	put32(out + 6, data_len + 2);
	out[10] = pc_id;
	out[11] = mch;
}

size_t ul_pdata_max_fragment(uint32_t peer_max, size_t local_cap)
{
	if (peer_max == 0)
		return local_cap;
	if (peer_max < 7)
		return 0;
	size_t m = (size_t)peer_max - 6;
	return m < local_cap ? m : local_cap;
}
