/*
 * DIMSE command sets (PS3.7 6.3, 9.3, Annex E): a pure codec between the group-0000 elements
 * of a command and struct dimse_cmd. Command sets are always Implicit VR Little Endian
 * (PS3.7 6.3.1), so this file carries its own tiny encoder and decoder and depends on no other
 * layer. No allocation, no I/O, no logging. Also the error codes shared by rx.c and tx.c.
 */
#ifndef DICOMAID_DIMSE_COMMAND_H
#define DICOMAID_DIMSE_COMMAND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Command Field values (PS3.7 E.1-1). Responses are the request value | 0x8000. */
enum {
	DIMSE_C_STORE_RQ = 0x0001,
	DIMSE_C_STORE_RSP = 0x8001,
	DIMSE_C_GET_RQ = 0x0010,
	DIMSE_C_GET_RSP = 0x8010,
	DIMSE_C_FIND_RQ = 0x0020,
	DIMSE_C_FIND_RSP = 0x8020,
	DIMSE_C_MOVE_RQ = 0x0021,
	DIMSE_C_MOVE_RSP = 0x8021,
	DIMSE_C_ECHO_RQ = 0x0030,
	DIMSE_C_ECHO_RSP = 0x8030,
	DIMSE_C_CANCEL_RQ = 0x0FFF,
	/* N-services: named and decoded, not encoded (dicomaid answers them 0211H). */
	DIMSE_N_EVENT_REPORT_RQ = 0x0100,
	DIMSE_N_GET_RQ = 0x0110,
	DIMSE_N_SET_RQ = 0x0120,
	DIMSE_N_ACTION_RQ = 0x0130,
	DIMSE_N_CREATE_RQ = 0x0140,
	DIMSE_N_DELETE_RQ = 0x0150,
};

/* Command Data Set Type (0000,0800), PS3.7 E.1-1: 0101H means no data set; any other value
 * means one follows. dcmtk and pynetdicom send 0001H for "present"; so do we. */
#define DIMSE_NO_DATA_SET 0x0101u
#define DIMSE_DATA_SET_PRESENT 0x0001u

/* Message control header bits of a PDV (PS3.8 E.2); bits 2-7 are zero. */
#define DIMSE_MCH_COMMAND 0x01u /* fragment belongs to a command set (else data set) */
#define DIMSE_MCH_LAST 0x02u    /* last fragment of that command set / data set */

/* Priority (0000,0700) */
enum { DIMSE_PRIORITY_MEDIUM = 0, DIMSE_PRIORITY_HIGH = 1, DIMSE_PRIORITY_LOW = 2 };

/* Bits of dimse_cmd.has_counts: which Number of ... Sub-operations (0000,1020-1023) are set. */
#define DIMSE_COUNT_REMAINING 0x1u
#define DIMSE_COUNT_COMPLETED 0x2u
#define DIMSE_COUNT_FAILED 0x4u
#define DIMSE_COUNT_WARNING 0x8u
#define DIMSE_COUNT_ALL 0xFu

#define DIMSE_MAX_OFFENDING 8
/* Largest command set dimse_cmd_encode() can produce (every field at full length is ~600). */
#define DIMSE_MAX_ENCODED 1024

/* Well-known SOP Class: Verification (PS3.4 A.4) */
#define DIMSE_VERIFICATION_SOP_CLASS "1.2.840.10008.1.1"

/*
 * One command set. Strings are NUL-terminated and trimmed (no padding); an empty string means
 * the element is absent. Integers are valid only when their has_* flag is set, except
 * command_field, data_set_type and priority (always sent when the message type uses them).
 */
struct dimse_cmd {
	uint16_t command_field;              /* (0000,0100) DIMSE_C_* */
	uint16_t message_id;                 /* (0000,0110) */
	uint16_t message_id_responded;       /* (0000,0120) */
	bool has_message_id, has_message_id_responded;
	char affected_sop_class[65];         /* (0000,0002) UI */
	char affected_sop_instance[65];      /* (0000,1000) UI */
	char requested_sop_class[65];        /* (0000,0003) UI, decoded only */
	char requested_sop_instance[65];     /* (0000,1001) UI, decoded only */
	uint16_t priority;                   /* (0000,0700) DIMSE_PRIORITY_* */
	uint16_t data_set_type;              /* (0000,0800) DIMSE_NO_DATA_SET or present */
	uint16_t status;                     /* (0000,0900) see status.h */
	bool has_status;
	char move_destination[17];           /* (0000,0600) AE */
	char move_originator_ae[17];         /* (0000,1030) AE */
	uint16_t move_originator_id;         /* (0000,1031) */
	bool has_move_originator_id;
	uint16_t n_remaining, n_completed, n_failed, n_warning; /* (0000,1020-1023) */
	unsigned has_counts;                 /* DIMSE_COUNT_* bits */
	uint32_t offending_element[DIMSE_MAX_OFFENDING]; /* (0000,0901) AT, group << 16 | element */
	unsigned n_offending;                /* kept values; extra received values are dropped */
	char error_comment[65];              /* (0000,0902) LO */
	uint16_t error_id;                   /* (0000,0903) */
	bool has_error_id;
};

/* Error codes of the dimse layer: all in [-5199, -5100], away from -errno and UV_* values so
 * that callback errors passed through dimse_rx_pdv() stay distinguishable. */
enum {
	DIMSE_E_TRUNCATED = -5100,     /* element header or value runs past the buffer */
	DIMSE_E_GROUP = -5101,         /* element outside group 0000 */
	DIMSE_E_ODD_LENGTH = -5102,    /* odd or undefined value length */
	DIMSE_E_NO_GROUP_LENGTH = -5103, /* (0000,0000) missing or not first */
	DIMSE_E_GROUP_LENGTH = -5104,  /* (0000,0000) value differs from the bytes that follow */
	DIMSE_E_NO_COMMAND_FIELD = -5105,
	DIMSE_E_NO_DATA_SET_TYPE = -5106,
	DIMSE_E_ORDER = -5107,         /* tags not in strictly ascending order */
	DIMSE_E_VALUE = -5108,         /* bad value length or content for a known element */
	DIMSE_E_NOSPACE = -5109,       /* output buffer too small */
	DIMSE_E_INVAL = -5110,         /* encode: unsupported field or missing mandatory value */
	DIMSE_E_NOMEM = -5111,
	DIMSE_E_MCH = -5112,           /* message control header with reserved bits set */
	DIMSE_E_DATA_WITHOUT_COMMAND = -5113, /* data PDV before any command */
	DIMSE_E_UNEXPECTED_DATA = -5114, /* data PDV after a command that has no data set */
	DIMSE_E_DATA_IN_COMMAND = -5115, /* data PDV before the last command fragment */
	DIMSE_E_UNEXPECTED_COMMAND = -5116, /* command PDV while a data set is expected */
	DIMSE_E_PC_CHANGED = -5117,    /* presentation context ID changed inside a message */
	DIMSE_E_COMMAND_TOO_BIG = -5118, /* command exceeds DIMSE_MAX_COMMAND */
	DIMSE_E_PDV = -5119,           /* malformed PDV item in a P-DATA-TF variable field */
	DIMSE_E_FAILED = -5120,        /* receiver already failed; abort the association */
};

/* Static English text for a dimse error code (or "unknown error"). */
const char *dimse_strerror(int err);

/*
 * Decode a complete command set (PS3.7 6.3.1, Implicit VR LE). Strict: every element in group
 * 0000, even defined lengths, tags strictly ascending, (0000,0000) first with value equal to
 * the number of bytes after it (which must be all of buf), Command Field and Command Data Set
 * Type present. Unknown group-0000 tags are skipped. UI values lose trailing NUL/space, AE and
 * LO values leading/trailing spaces; values longer than their field are DIMSE_E_VALUE.
 * buf is borrowed; *out is fully overwritten on success and unspecified on error.
 * Returns 0 or a negative DIMSE_E_*.
 */
int dimse_cmd_decode(const uint8_t *buf, size_t len, struct dimse_cmd *out);

/*
 * Encode the elements that PS3.7 9.3 / DICOM-FACTS 4.6 define for c->command_field (C-ECHO,
 * C-STORE, C-FIND, C-GET, C-MOVE requests and responses, C-CANCEL-RQ) in ascending tag order,
 * with an exact group length. UI values are padded to even length with NUL, AE/LO with space.
 * Responses also carry Offending Element / Error Comment / Error ID when set. Mandatory values
 * missing (e.g. message ID, status, SOP Instance for C-STORE, Move Destination) or a message
 * that must have no data set but has data_set_type != 0101H give DIMSE_E_INVAL; a too small
 * buffer DIMSE_E_NOSPACE (DIMSE_MAX_ENCODED always suffices). out is borrowed.
 */
int dimse_cmd_encode(const struct dimse_cmd *c, uint8_t *out, size_t cap, size_t *written);

/* True when a data set follows this command (Command Data Set Type != 0101H). */
bool dimse_has_data_set(const struct dimse_cmd *c);

/* Static name, e.g. "C-STORE-RQ"; "UNKNOWN" for other values. */
const char *dimse_command_name(uint16_t field);

/* True for response command fields (bit 15 set). */
static inline bool dimse_is_response(uint16_t field) { return (field & 0x8000) != 0; }

/* Zero *c and set command_field and the data set type the message normally has
 * (no data set for C-ECHO, C-STORE-RSP, C-CANCEL and responses; present for C-STORE/FIND/
 * GET/MOVE requests). */
void dimse_cmd_init(struct dimse_cmd *c, uint16_t field);

/*
 * Response builders. All zero *rsp first, then set command_field = rq field | 0x8000,
 * Message ID Being Responded To = rq->message_id, Affected SOP Class UID from rq, the status
 * and no data set. dimse_store_rsp also copies the Affected SOP Instance UID;
 * dimse_echo_rsp uses the Verification SOP Class when rq has none. rq and rsp are borrowed
 * and may not alias.
 */
void dimse_rsp_init(struct dimse_cmd *rsp, const struct dimse_cmd *rq, uint16_t status);
void dimse_echo_rsp(struct dimse_cmd *rsp, const struct dimse_cmd *rq, uint16_t status);
void dimse_store_rsp(struct dimse_cmd *rsp, const struct dimse_cmd *rq, uint16_t status);

/* C-FIND-RSP (PS3.4 C.4.1.2.3): like dimse_rsp_init, with data_set_type present exactly when
 * status is pending (FF00/FF01), because only pending responses carry an Identifier. */
void dimse_find_rsp(struct dimse_cmd *rsp, const struct dimse_cmd *rq, uint16_t status);

/* C-MOVE-RSP / C-GET-RSP (PS3.4 C.4.2.3.1, C.4.3.3.1): dimse_rsp_init plus the four
 * sub-operation counts; remaining is sent only for pending responses (it is meaningless in a
 * final one), the other three always. No data set (set data_set_type for a final response
 * that carries a Failed SOP Instance UID List). */
void dimse_retrieve_rsp(struct dimse_cmd *rsp, const struct dimse_cmd *rq, uint16_t status,
			uint16_t remaining, uint16_t completed, uint16_t failed, uint16_t warning);

/* Request builders: dimse_cmd_init plus the mandatory fields. Strings are copied (truncated
 * to the field; callers pass valid UIDs/AEs). */
void dimse_echo_rq(struct dimse_cmd *c, uint16_t message_id);
void dimse_store_rq(struct dimse_cmd *c, uint16_t message_id, const char *sop_class,
		    const char *sop_instance, uint16_t priority);
/* C-CANCEL-RQ for the request with message ID message_id (PS3.7 9.3.2.3). */
void dimse_cancel_rq(struct dimse_cmd *c, uint16_t message_id);

/*
 * One-line operator description in key=value form, e.g.
 * "C-STORE-RQ msg_id=1 class=1.2.840.10008.5.1.4.1.1.4 instance=1.2.3 priority=0 data_set=yes";
 * only present fields appear; statuses print as 0x%04X. Never contains patient data (command
 * sets hold none). Same contract as snprintf: returns the length it needed, out always
 * NUL-terminated when cap > 0.
 */
int dimse_cmd_describe(const struct dimse_cmd *c, char *out, size_t cap);

#endif
