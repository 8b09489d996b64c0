/*
 * Query/Retrieve over the index (PS3.4 Annex C): parsing and validating a C-FIND, C-MOVE or
 * C-GET identifier against the Patient Root or Study Root information model, running it on a
 * read-only SQLite connection, encoding the C-FIND response identifiers, and listing the
 * instances a C-MOVE/C-GET selects. No networking: the services layer calls these on a worker
 * thread and does the DIMSE side (pending responses, C-CANCEL, sub-operations).
 *
 * Matching (PS3.4 C.2.2.2): single value, list of UIDs, universal, wild card (* and ?), range
 * (DA, TM, open ends), sequence (an empty sequence key is universal and returned empty).
 * Baseline hierarchical only (no relational queries: they need Extended Negotiation).
 * Keys the index cannot answer (optional keys it does not hold, sequence keys with values) are
 * returned empty and do not restrict the matches; query_unsupported_keys() then says so, and the
 * caller answers FF01 instead of FF00 (PS3.4 C.4.1.1.4). Keys dicomaid does not know at all
 * (and private keys other than the lesion key) are accepted that way too; known keys of another
 * level are refused (A900).
 * SR document keys at IMAGE level (Content Date/Time, Completion/Verification Flag, Concept Name
 * Code Sequence, Content Template Sequence) are read from the stored SR files when the storage
 * root is configured (query_options): returned, and matched (the Concept Name item's Code
 * Value / Coding Scheme Designator / Code Meaning by single value or wild card, C.2.2.2.6).
 *
 * Extra key (dicomaid private, to document in dicomaid(8)): private creator (0071,00xx)
 * "DICOMAID QR 1" with element (0071,xx01) CS "Lesion Found" at STUDY level (any block xx
 * 10..FF, PS3.5 7.8.1). Query value "YES" selects studies holding a Comprehensive 3D SR (the
 * class of dicomaid's analysis results), "NO" the others; empty returns YES/NO for each study.
 * Until the findings tables exist that means "analysed"; with them it will mean "a finding was
 * recorded" (find.c, LESION_EXISTS). Without the private key: SOP Classes in Study (0008,0062)
 * = 1.2.840.10008.5.1.4.1.1.88.34, or an IMAGE level query on Concept Name Code Sequence.
 *
 * Failure statuses chosen (PS3.4 C.4.1.1.4, C.4.2.1.5, C.4.3.1.4; Cxxx is "unable to process",
 * implementation-specific):
 *   A900 QUERY_ST_MISMATCH   identifier does not match the SOP class: no or bad Query/Retrieve
 *                            Level, level not in the model, a key not allowed at that level, a
 *                            unique key of a higher level missing or not a single value, a
 *                            C-MOVE/C-GET without the unique key of its level
 *   C000 QUERY_ST_PARSE      the identifier does not parse as a data set
 *   C001 QUERY_ST_BAD_UID    a UID or UID list key that is not a backslash list of valid UIDs
 *   C002 QUERY_ST_BAD_VALUE  a malformed date, time or range, a non-numeric IS/US key
 *   C003 QUERY_ST_CHARSET    a Specific Character Set other than default, ISO_IR 6, ISO_IR 100,
 *                            ISO_IR 192 with non-ASCII values in the keys
 *   C004 QUERY_ST_DB         the index failed (I/O, locked past the busy timeout, schema)
 *   C005 QUERY_ST_TS         query_find asked for a response transfer syntax other than
 *                            Implicit or Explicit VR Little Endian (negotiate only those)
 *   A700 QUERY_ST_NOMEM      C-FIND out of resources (memory)
 *   A701 QUERY_ST_NOMEM_RETRIEVE  C-MOVE/C-GET out of resources: unable to calculate matches
 * Success/warning statuses stay with the caller: 0000, FF00/FF01, FE00, B001 (capped, see
 * query_find).
 */
#ifndef DICOMAID_QUERY_QUERY_H
#define DICOMAID_QUERY_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "dicom/uid.h"

enum query_model { QUERY_PATIENT_ROOT, QUERY_STUDY_ROOT };
enum query_op { QUERY_FIND, QUERY_MOVE, QUERY_GET };
enum query_level { QUERY_PATIENT, QUERY_STUDY, QUERY_SERIES, QUERY_IMAGE };

#define QUERY_ST_MISMATCH 0xA900
#define QUERY_ST_PARSE 0xC000
#define QUERY_ST_BAD_UID 0xC001
#define QUERY_ST_BAD_VALUE 0xC002
#define QUERY_ST_CHARSET 0xC003
#define QUERY_ST_DB 0xC004
#define QUERY_ST_TS 0xC005
#define QUERY_ST_NOMEM 0xA700
#define QUERY_ST_NOMEM_RETRIEVE 0xA701

/* SOP Class UIDs of PS3.4 C.6 (DICOM-FACTS.md 4.8). */
#define QUERY_UID_PATIENT_ROOT_FIND "1.2.840.10008.5.1.4.1.2.1.1"
#define QUERY_UID_PATIENT_ROOT_MOVE "1.2.840.10008.5.1.4.1.2.1.2"
#define QUERY_UID_PATIENT_ROOT_GET "1.2.840.10008.5.1.4.1.2.1.3"
#define QUERY_UID_STUDY_ROOT_FIND "1.2.840.10008.5.1.4.1.2.2.1"
#define QUERY_UID_STUDY_ROOT_MOVE "1.2.840.10008.5.1.4.1.2.2.2"
#define QUERY_UID_STUDY_ROOT_GET "1.2.840.10008.5.1.4.1.2.2.3"

/* The private key block of the lesion key (see above). */
#define QUERY_PRIVATE_GROUP 0x0071
#define QUERY_PRIVATE_CREATOR "DICOMAID QR 1"
#define QUERY_PRIVATE_LESION_ELEM 0x01     /* (0071,xx01) CS Lesion Found */

/* SOP classes whose presence in a study means "an analysis result is stored" for the lesion key
 * until the findings tables exist: Comprehensive 3D SR (DICOM-FACTS.md 1.1). */
#define QUERY_UID_COMPREHENSIVE_3D_SR "1.2.840.10008.5.1.4.1.1.88.34"

struct query;                                   /* parsed, validated identifier */

/* Process-wide options, read by query_parse (set them once at start-up, before any thread
 * parses; the strings are copied). Defaults: all false / NULL. */
struct query_options {
	/* Person Name single-value and wild card matching ignore ASCII case (PS3.4 C.2.2.2.1
	 * leaves it to the implementation; LIKE / COLLATE NOCASE, ASCII letters only). */
	bool pn_case_insensitive;
	/* Returned as Retrieve AE Title (0008,0054) when asked for; NULL: returned empty. */
	const char *retrieve_ae;
	/* The storage root the index's file paths are relative to. When set, the SR document
	 * keys of the IMAGE level (Content Date/Time, Completion/Verification Flag, Concept Name
	 * Code Sequence, Content Template Sequence) are read from the stored SR files, returned
	 * and matched; when NULL they are returned empty and not matched (FF01). */
	const char *storage_root;
};
void query_set_options(const struct query_options *opt);

/* Model and op from the Affected SOP Class UID (1.2.840.10008.5.1.4.1.2.{1,2}.{1,2,3}); 0, or
 * -1 if uid (borrowed) is none of them. */
int query_sop_class(const char *uid, enum query_model *model, enum query_op *op);

/*
 * Parses the identifier data set ds (len bytes as received, borrowed; transfer syntax ts,
 * borrowed) and validates it per PS3.4 C.4.1.1.3 / C.4.2.1.4 / C.6 for the model and op. On
 * success returns 0 and *out is the caller's (query_free). On failure returns <0, *out is NULL,
 * *status gets one of the QUERY_ST_* failure statuses above and err (errlen bytes, may be NULL)
 * a one-line reason fit for a log line (no patient data: tags and UIDs only).
 * C-MOVE/C-GET: only the unique keys select instances; other keys at or above the level are
 * accepted and ignored.
 */
int query_parse(const uint8_t *ds, size_t len, const struct dcm_ts *ts, enum query_model model,
		enum query_op op, struct query **out, uint16_t *status, char *err, size_t errlen);
/* NULL is ignored. */
void query_free(struct query *q);
enum query_level query_level(const struct query *q);
enum query_model query_model(const struct query *q);
enum query_op query_op(const struct query *q);
/* "PATIENT", "STUDY", "SERIES" or "IMAGE" (static). */
const char *query_level_name(enum query_level level);
/* True when the identifier had keys with values that were not used for matching (optional keys
 * the index does not hold, sequence keys with items): answer FF01 rather than FF00. */
bool query_unsupported_keys(const struct query *q);

/* A one-line description for log lines, without values (no patient data): "model=STUDY
 * level=SERIES keys=7 matching=(0008,0060),(0020,000D)". Writes at most cap bytes (truncated,
 * NUL-terminated) into buf; returns buf. */
const char *query_summary(const struct query *q, char *buf, size_t cap);

/* Read-only connection to the index at index_path (WAL readers don't block the writer), with
 * the schema version checked (the read-write index must have migrated it first) and dicomaid's
 * SQL functions registered. *db is the caller's, closed with sqlite3_close(). 0 or <0 (err). */
int query_db_open(const char *index_path, sqlite3 **db, char *err, size_t errlen);

/*
 * C-FIND: runs the query (one read transaction) and for each match builds the response
 * identifier: every key of the request (filled; empty when unknown), the unique key of the level
 * always filled, plus Query/Retrieve Level and Specific Character Set, in tag order, encoded in
 * ts (Implicit or Explicit VR Little Endian). The identifier is passed to emit (ds borrowed for
 * the call). emit returning nonzero stops the query (C-CANCEL): query_find then returns 1.
 * At most max_matches (0 = no limit) are emitted; *capped (may be NULL) tells whether more
 * existed (answer B001 then). Returns 0 when all were emitted, 1 when emit stopped it, or <0
 * with *status set (QUERY_ST_DB, QUERY_ST_NOMEM, QUERY_ST_TS).
 * Text is returned in the request's character set when it can hold it (default or ISO_IR 100),
 * otherwise in ISO_IR 192 (UTF-8); Specific Character Set says which.
 */
int query_find(sqlite3 *db, const struct query *q, const struct dcm_ts *ts, size_t max_matches,
	       int (*emit)(void *ctx, const uint8_t *ds, size_t len), void *ctx, bool *capped,
	       uint16_t *status);

/* C-MOVE / C-GET: the instances the identifier selects (any level), in study, series, instance
 * order. *list is malloc'ed (caller frees with free(); NULL when *n is 0). 0 or <0 with *status
 * (QUERY_ST_DB, QUERY_ST_NOMEM_RETRIEVE). */
struct query_instance {
	char sop_class_uid[65];
	char sop_instance_uid[65];
	char ts_uid[65];          /* transfer syntax of the stored file */
	char rel_path[256];       /* relative to the storage root */
	int64_t size;             /* file size, bytes */
};
int query_retrieve(sqlite3 *db, const struct query *q, struct query_instance **list, size_t *n,
		   uint16_t *status);

#endif
