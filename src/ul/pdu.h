/*
 * DICOM Upper Layer PDU codec (PS3.8 9.3): the seven PDU types, their items and the
 * user-information sub-items of PS3.7 Annex D.3.3, as pure functions over byte buffers.
 *
 * This file owns the wire format only. It includes neither uv.h nor any socket header,
 * never allocates and never logs: decoders read a caller's buffer and fill a caller's
 * fixed-size struct; encoders write into a caller's buffer of stated capacity. All PDU
 * and item integers are big-endian (PS3.8 9.3.1).
 *
 * Framing (what the libuv glue does): accumulate bytes until ul_pdu_header() returns 0,
 * check type and length with ul_pdu_check() and against the local maximum BEFORE any
 * allocation, then, once 6 + body_len bytes are buffered, hand the body (the bytes after
 * the 6-byte header) to the decoder of that type.
 *
 * Errors are 0-or-negative: UL_NEED_MORE, or one of enum ul_err. Every decode error maps
 * to an A-ABORT reason through ul_abort_reason_for(); ul_strerror() names it for logs.
 * All pointers taken by these functions are borrowed for the duration of the call only.
 *
 * Sizes: struct ul_assoc_rq is about 280 KB (128 contexts x 32 transfer syntaxes), the AC
 * about 19 KB: allocate them on the heap (one per association), never on a stack.
 */
#ifndef DICOMAID_UL_PDU_H
#define DICOMAID_UL_PDU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* PDU types, PS3.8 Table 9-11 .. 9-26. */
enum ul_pdu_type {
	UL_PDU_ASSOC_RQ = 0x01,
	UL_PDU_ASSOC_AC = 0x02,
	UL_PDU_ASSOC_RJ = 0x03,
	UL_PDU_PDATA_TF = 0x04,
	UL_PDU_RELEASE_RQ = 0x05,
	UL_PDU_RELEASE_RP = 0x06,
	UL_PDU_ABORT = 0x07,
};

/* Item and sub-item types, PS3.8 9.3.2/9.3.3 and PS3.7 D.3.3. */
enum ul_item_type {
	UL_ITEM_APP_CONTEXT = 0x10,
	UL_ITEM_PC_RQ = 0x20,
	UL_ITEM_PC_AC = 0x21,
	UL_ITEM_ABSTRACT_SYNTAX = 0x30,
	UL_ITEM_TRANSFER_SYNTAX = 0x40,
	UL_ITEM_USER_INFO = 0x50,
	UL_SUB_MAX_LENGTH = 0x51,
	UL_SUB_IMPL_CLASS_UID = 0x52,
	UL_SUB_ASYNC_OPS = 0x53,
	UL_SUB_ROLE = 0x54,
	UL_SUB_IMPL_VERSION = 0x55,
	UL_SUB_EXT_NEG = 0x56,
	UL_SUB_COMMON_EXT_NEG = 0x57,
	UL_SUB_USER_IDENTITY_RQ = 0x58,
	UL_SUB_USER_IDENTITY_AC = 0x59,
};

/* The only application context name of DICOM, PS3.7 A.2.1. */
#define UL_APP_CONTEXT "1.2.840.10008.3.1.1.1"

#define UL_HEADER_LEN 6      /* type, reserved, 4-byte length (PS3.8 9.3.1) */
#define UL_UID_MAX 64        /* PS3.5 9.1 */
#define UL_AE_MAX 16         /* PS3.8 9.3.2: 16 bytes, space padded */
#define UL_MAX_PC 128        /* odd IDs 1..255: at most 128 contexts (PS3.8 9.3.2.2) */
#define UL_MAX_TS 32         /* transfer syntaxes kept per context; extras skipped */
#define UL_MAX_ROLES 128     /* 54H sub-items kept; extras skipped */
#define UL_MAX_EXT_NEG 16    /* 56H sub-items kept; extras skipped */
#define UL_EXT_NEG_INFO_MAX 16 /* application information bytes kept per 56H */
#define UL_UI_FIELD_MAX 256  /* bytes kept of each user-identity field (58H/59H) */
#define UL_IMPL_VERSION_MAX 16 /* PS3.7 D.3.3.2.3 */
#define UL_MIN_ASSOC_BODY 68 /* fixed part of an RQ/AC body: 2+2+16+16+32 */

enum ul_err {
	UL_NEED_MORE = -1,         /* framing: fewer than 6 bytes buffered */
	UL_E_PDU_TYPE = -2,        /* unrecognized PDU type (abort reason 1) */
	UL_E_UNEXPECTED = -3,      /* PDU not expected in this state (abort reason 2) */
	UL_E_ITEM_TYPE = -4,       /* unrecognized item/sub-item type (abort reason 4) */
	UL_E_ITEM_UNEXPECTED = -5, /* item where it does not belong, or repeated (reason 5) */
	UL_E_LENGTH = -6,          /* a length field disagrees with its container (reason 6) */
	UL_E_PROTOCOL_VERSION = -7, /* bit 0 of the protocol version clear (PS3.8 9.3.2):
				     * answer with A-ASSOCIATE-RJ 1/2/2, not an abort */
	UL_E_NO_APP_CONTEXT = -8,  /* no 10H item (reason 6) */
	UL_E_NO_PC = -9,           /* no presentation context item (reason 6) */
	UL_E_PC_ID = -10,          /* context ID even, zero or repeated (reason 6) */
	UL_E_PC_SYNTAX = -11,      /* 30H missing/repeated or no 40H (reason 6) */
	UL_E_NO_USER_INFO = -12,   /* no 50H, or 50H without 51H or 52H (reason 6) */
	UL_E_UID = -13,            /* empty, over 64 chars, or control bytes (reason 6) */
	UL_E_VALUE = -14,          /* other invalid parameter value (reason 6) */
	UL_E_PDV = -15,            /* malformed PDV item (reason 6) */
	UL_E_NOSPACE = -16,        /* encode: output buffer too small */
	UL_E_INVAL = -17,          /* encode: the struct to encode is not valid */
	UL_E_FSM_BLANK = -18,      /* fsm.h: a cell PS3.8 Table 9-10 leaves blank */
};

/* A-ABORT reason (PS3.8 9.3.8, source 2) for a decode error: 1 unrecognized PDU,
 * 2 unexpected PDU, 4 unrecognized parameter, 5 unexpected parameter, 6 invalid value;
 * 0 (not specified) for anything that is not a peer's fault. */
int ul_abort_reason_for(int err);

/* Static, never NULL. */
const char *ul_strerror(int err);

/* ---- framing ---------------------------------------------------------------- */

/* Reads the 6-byte PDU header from buf (borrowed, len bytes). Returns 0 and fills *type and
 * *body_len (the PDU-length field: bytes after the header) when len >= 6, else
 * UL_NEED_MORE. Checks nothing else: see ul_pdu_check(). */
int ul_pdu_header(const uint8_t *buf, size_t len, uint8_t *type, uint32_t *body_len);

/* Checks a header before the body is read: UL_E_PDU_TYPE for a type outside 01H-07H,
 * UL_E_LENGTH for a body length no PDU of that type can have (RJ, release and abort bodies
 * are exactly 4; RQ/AC at least 68; P-DATA-TF at least one 6-byte PDV). 0 otherwise.
 * The local size limit is the caller's business. */
int ul_pdu_check(uint8_t type, uint32_t body_len);

/* ---- A-ASSOCIATE-RQ / -AC (PS3.8 9.3.2, 9.3.3) ------------------------------ */

struct ul_pc_rq {
	uint8_t id;                     /* odd, 1..255 */
	char abstract[UL_UID_MAX + 1];  /* 30H */
	unsigned n_ts;                  /* 40H kept, 1..UL_MAX_TS */
	char ts[UL_MAX_TS][UL_UID_MAX + 1];
};

/* Presentation context results, PS3.8 Table 9-18. */
enum ul_pc_result {
	UL_PC_ACCEPT = 0,
	UL_PC_USER_REJECT = 1,
	UL_PC_NO_REASON = 2,
	UL_PC_ABSTRACT_UNSUPPORTED = 3,
	UL_PC_TS_UNSUPPORTED = 4,
};

struct ul_pc_ac {
	uint8_t id;
	uint8_t result;                 /* enum ul_pc_result */
	char ts[UL_UID_MAX + 1];        /* significant only when result == 0; may be "" else */
};

/* SCP/SCU role selection, PS3.7 D.3.3.4. */
struct ul_role {
	char uid[UL_UID_MAX + 1];
	uint8_t scu, scp;
};

/* SOP class extended negotiation, PS3.7 D.3.3.5. */
struct ul_ext_neg {
	char uid[UL_UID_MAX + 1];
	uint8_t info[UL_EXT_NEG_INFO_MAX];
	uint16_t info_len;              /* bytes kept in info (the rest is dropped) */
};

/* User information item 50H and its sub-items. Unknown sub-items and 57H are skipped. */
struct ul_user_info {
	uint32_t max_length;            /* 51H: max P-DATA-TF variable field; 0 = unlimited */
	char impl_class_uid[UL_UID_MAX + 1];        /* 52H, required */
	char impl_version[UL_IMPL_VERSION_MAX + 1]; /* 55H, "" when absent; longer ones cut */
	bool has_async;                 /* 53H present; PS3.7 D.3.3.3 default is 1/1 */
	uint16_t max_invoked, max_performed;
	unsigned n_roles;
	struct ul_role roles[UL_MAX_ROLES];
	unsigned n_ext_neg;
	struct ul_ext_neg ext_neg[UL_MAX_EXT_NEG];
	/* 58H user identity negotiation (RQ), PS3.7 D.3.3.7.1 */
	bool has_user_identity;
	uint8_t ui_type;                /* 1 user, 2 user+passcode, 3 Kerberos, 4 SAML, 5 JWT */
	uint8_t ui_positive_rsp;        /* 1: the requestor wants a 59H back */
	uint16_t ui_primary_len;        /* bytes kept in ui_primary */
	uint16_t ui_secondary_len;      /* bytes kept in ui_secondary (type 2 passcode) */
	bool ui_truncated;              /* a field was longer than UL_UI_FIELD_MAX */
	uint8_t ui_primary[UL_UI_FIELD_MAX];
	uint8_t ui_secondary[UL_UI_FIELD_MAX];
	/* 59H user identity server response (AC), PS3.7 D.3.3.7.2 */
	bool has_ui_response;
	uint16_t ui_response_len;       /* bytes kept in ui_response */
	uint8_t ui_response[UL_UI_FIELD_MAX];
};

struct ul_assoc_rq {
	uint16_t protocol_version;      /* bit 0 set (0x0001) */
	char called[UL_AE_MAX + 1];     /* leading/trailing spaces trimmed on decode */
	char calling[UL_AE_MAX + 1];
	char app_context[UL_UID_MAX + 1];
	unsigned n_pc;
	struct ul_pc_rq pc[UL_MAX_PC];
	struct ul_user_info ui;
};

/* The AE titles of an AC are "reserved" (PS3.8 9.3.3): the acceptor echoes the RQ's, the
 * requestor must not test them; they are decoded for logging only. */
struct ul_assoc_ac {
	uint16_t protocol_version;
	char called[UL_AE_MAX + 1];
	char calling[UL_AE_MAX + 1];
	char app_context[UL_UID_MAX + 1];
	unsigned n_pc;
	struct ul_pc_ac pc[UL_MAX_PC];
	struct ul_user_info ui;
};

/* Decode the body (after the 6-byte header) of an A-ASSOCIATE-RQ. body and out borrowed;
 * out is overwritten entirely (zeroed first), also on error. Strict per PS3.8: bit 0 of the
 * protocol version, exactly one 10H, at least one 20H (odd, distinct IDs; one 30H; one or
 * more 40H), exactly one 50H with 51H and 52H; item lengths exactly tile their container.
 * Lenient: reserved fields untested, UIDs may end in NUL or space, unknown user-info
 * sub-items skipped, transfer syntaxes past UL_MAX_TS and roles past UL_MAX_ROLES skipped.
 * On UL_E_PROTOCOL_VERSION the AE titles are already filled in, for the reject's log line. */
int ul_assoc_rq_decode(const uint8_t *body, size_t len, struct ul_assoc_rq *out);

/* The same for an A-ASSOCIATE-AC: 21H items instead of 20H; a context's 40H must be
 * present and valid only when its result is 0 (PS3.8 9.3.3.2). */
int ul_assoc_ac_decode(const uint8_t *body, size_t len, struct ul_assoc_ac *out);

/* Encode a whole PDU (header included) into out[0..cap). in and out borrowed. Returns 0 and
 * sets *written; UL_E_NOSPACE when cap is too small, with *written = the size needed (so
 * cap 0 measures; nothing is written past cap; out holds nothing useful); UL_E_INVAL
 * when in is not encodable (no context, even ID, a UID over 64 chars, an AE title over 16,
 * empty implementation class UID or abstract syntax, n_ts 0 or over UL_MAX_TS...).
 * AE titles are space padded to 16 bytes; UIDs are written without padding. Sub-items
 * are written in the order 51H 52H 53H 54H* 55H 56H* 58H 59H, each only when present. */
int ul_assoc_rq_encode(const struct ul_assoc_rq *in, uint8_t *out, size_t cap, size_t *written);
int ul_assoc_ac_encode(const struct ul_assoc_ac *in, uint8_t *out, size_t cap, size_t *written);

/* ---- A-ASSOCIATE-RJ, A-RELEASE, A-ABORT (PS3.8 9.3.4, 9.3.6-9.3.8) ----------- */

/* RJ result: 1 rejected-permanent, 2 rejected-transient. Source/reason: PS3.8 Table 9-21. */
enum { UL_RJ_PERMANENT = 1, UL_RJ_TRANSIENT = 2 };
enum { UL_RJ_SRC_USER = 1, UL_RJ_SRC_ACSE = 2, UL_RJ_SRC_PRESENTATION = 3 };
/* A-ABORT source: 0 service-user, 2 service-provider (1 reserved). */
enum { UL_ABORT_SRC_USER = 0, UL_ABORT_SRC_PROVIDER = 2 };

/* body is the 4 bytes after the header; len must be 4. Result must be 1 or 2 and source
 * 1..3 (UL_E_VALUE otherwise); the reason is returned as sent. */
int ul_assoc_rj_decode(const uint8_t *body, size_t len, uint8_t *result, uint8_t *source,
		       uint8_t *reason);
void ul_assoc_rj_encode(uint8_t out[10], uint8_t result, uint8_t source, uint8_t reason);

/* A-RELEASE-RQ/RP bodies: len must be 4, the reserved bytes are not tested. */
int ul_release_decode(const uint8_t *body, size_t len);
void ul_release_rq_encode(uint8_t out[10]);
void ul_release_rp_encode(uint8_t out[10]);

/* A-ABORT: len must be 4; source and reason returned as sent (the association ends
 * whatever they say, so they are not tested). */
int ul_abort_decode(const uint8_t *body, size_t len, uint8_t *source, uint8_t *reason);
void ul_abort_encode(uint8_t out[10], uint8_t source, uint8_t reason);

/* ---- P-DATA-TF (PS3.8 9.3.5, message control header PS3.8 E.2) ------------- */

#define UL_MCH_COMMAND 0x01 /* bit 0: command (1) or data set (0) fragment */
#define UL_MCH_LAST 0x02    /* bit 1: last fragment of this command or data set */
#define UL_PDATA_OVERHEAD 12 /* PDU header 6 + PDV item length 4 + context ID + MCH */

struct ul_pdv {
	uint8_t pc_id;
	uint8_t mch;            /* message control header, 0..3 */
	const uint8_t *data;    /* points into the body passed to ul_pdata_next (borrowed) */
	size_t len;             /* fragment length (item length - 2); may be 0 */
};

/* Iterate the PDV items of a P-DATA-TF body. Start with *off = 0. Returns 1 and fills
 * *pdv (advancing *off), 0 at the end of the body, or UL_E_PDV when an item is
 * malformed: fewer than 4 bytes left, item length < 2 or past the body, context ID even
 * or zero, bits 2-7 of the control header set, or a body with no item at all. */
int ul_pdata_next(const uint8_t *body, size_t len, size_t *off, struct ul_pdv *pdv);

/* Writes the 12 bytes that precede data_len bytes of fragment in a P-DATA-TF PDU carrying
 * exactly one PDV: PDU header (length data_len + 6) and PDV header (length data_len + 2).
 * Requires data_len <= UINT32_MAX - 6, pc_id odd, mch <= 3 (asserted). */
void ul_pdata_header_encode(uint8_t out[12], uint32_t data_len, uint8_t pc_id, uint8_t mch);

/* Largest fragment that fits one PDV per PDU within the peer's 51H maximum length
 * (PS3.8 D.1: the limit covers the PDV item, i.e. fragment + 6), capped at local_cap.
 * peer_max 0 means unlimited. Returns 0 when peer_max is below 7 (nothing fits). */
size_t ul_pdata_max_fragment(uint32_t peer_max, size_t local_cap);

#endif
