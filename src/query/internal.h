/*
 * Internals shared by the files of src/query: the key table (which attribute belongs to which
 * level, how the index answers it), the parsed form of an identifier, and the character-set
 * helpers. Not for use outside src/query.
 */
#ifndef DICOMAID_QUERY_INTERNAL_H
#define DICOMAID_QUERY_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "query/query.h"

/* How a key is matched (PS3.4 C.2.2.2) against the index. */
enum qmatch {
	QM_NONE,        /* not held: returned empty, a value is "unsupported" (FF01) */
	QM_TEXT,        /* single value / wild card / universal on a text column */
	QM_UID,         /* single value / list of UIDs */
	QM_DATE,        /* DA single value or range */
	QM_TIME,        /* TM single value or range */
	QM_INT,         /* IS/US single value (list allowed) */
	QM_MODALITIES,  /* Modalities in Study: any series modality matches */
	QM_SOPCLASSES,  /* SOP Classes in Study: any instance class matches (UID list) */
	QM_LESION,      /* dicomaid private Lesion Found, YES / NO */
	QM_SPECIAL,     /* Specific Character Set, Query/Retrieve Level, private creator... */
	QM_SR,          /* SR document key read from the stored file (srkeys.c), by its VR */
};

#define QK_UNIQUE 0x01     /* unique key of its level */
#define QK_REQUIRED 0x02   /* required key of its level (R) */
#define QK_ANYLEVEL 0x04   /* allowed at every level (SCS, level, timezone, availability) */

/* One attribute dicomaid knows as a key. `level` is its level in the Patient Root model;
 * in Study Root the PATIENT keys are STUDY keys (PS3.4 C.6.2.1). */
struct qkey_def {
	uint32_t tag;
	char vr[3];
	enum query_level level;
	unsigned flags;
	enum qmatch match;
	const char *col;    /* SQL expression returning the value (aliases p, st, se, i), or NULL */
};

/* The definition of tag, or NULL when dicomaid does not know it as a key. */
const struct qkey_def *qkey_find(uint32_t tag);
/* The definition of the unique key of a level. */
const struct qkey_def *qkey_unique(enum query_level level);
/* A key's level in the model. */
enum query_level qkey_level(const struct qkey_def *d, enum query_model model);

/* One key of a parsed identifier. */
struct qkey {
	uint32_t tag;
	char vr[3];
	const struct qkey_def *def;  /* NULL: unknown/private key, returned empty */
	enum qmatch match;           /* def->match, or QM_LESION / QM_SPECIAL for private keys */
	char *value;                 /* owned, UTF-8, padding trimmed; "" for universal */
	bool sequence;               /* SQ: returned as an empty sequence */
	bool matching;               /* takes part in matching (a non-universal supported key) */
	bool returned;               /* part of the response (false: only added for matching) */
	char *item[3];               /* Concept Name Code Sequence key item: Code Value,
	                                Coding Scheme Designator, Code Meaning (owned, UTF-8;
	                                NULL or "" = universal) */
};

enum qcharset { QCS_DEFAULT, QCS_LATIN1, QCS_UTF8, QCS_OTHER };

struct query {
	enum query_model model;
	enum query_op op;
	enum query_level level;
	struct qkey *keys;           /* owned, sorted by tag, unique tags */
	size_t nkeys;
	char charset[65];            /* Specific Character Set of the request as received */
	enum qcharset cs;
	bool unsupported;            /* see query_unsupported_keys() */
	bool pn_ci;                  /* case-insensitive PN matching (options at parse time) */
	uint16_t private_block;      /* element block xx of the lesion key (0 when absent) */
	char retrieve_ae[17];        /* returned as Retrieve AE Title (0008,0054) */
	char *root;                  /* storage root (owned) for SR keys; NULL: not configured */
	bool sr_file;                /* IMAGE level with SR keys: read SR files (needs root) */
	bool sr_filter;              /* some SR key takes part in matching */
};

/* SR document attributes of one stored SR instance (srkeys.c). Strings "" when absent. */
struct qsr {
	bool loaded;
	char content_date[17];
	char content_time[33];
	char completion[17];
	char verification[17];
	bool has_cn;                 /* Concept Name Code Sequence had an item */
	char cn[3][65];              /* its Code Value, Coding Scheme Designator, Code Meaning */
	bool has_tpl;                /* Content Template Sequence had an item */
	char tpl[2][65];             /* Mapping Resource, Template Identifier */
};
/* Reads the SR attributes of root/rel_path (both borrowed) into *sr. 0 or <0. */
int qsr_load(const char *root, const char *rel_path, struct qsr *sr);
/* Wild card / single value matching of a backslash list of patterns (C.2.2.2.1, .4). */
bool qmatch_text(const char *list, const char *value, bool ci);
/* DA (time=false) or TM range or single value (C.2.2.2.5) against a stored value. */
bool qmatch_range(const char *range, const char *value, bool time);

/* Character sets (PS3.5 6.1, PS3.3 C.12.1.1.2). */
enum qcharset qcs_from_scs(const char *scs);
/* Converts src (len bytes) in charset cs to UTF-8, malloc'ed and NUL-terminated, or NULL
 * (out of memory, or QCS_UTF8 that is not valid UTF-8 when strict). QCS_DEFAULT bytes above
 * 0x7F are read as Latin-1 (what senders without Specific Character Set mostly mean).
 * QCS_OTHER is copied unchanged. */
char *qcs_to_utf8(enum qcharset cs, const char *src, size_t len, bool strict);
/* UTF-8 to Latin-1 into a malloc'ed string; NULL when not representable or out of memory
 * (*unrepresentable tells which). */
char *qcs_utf8_to_latin1(const char *s, bool *unrepresentable);
bool qcs_is_ascii(const char *s);

/* "HHMMSS.FFFFFF" from a TM value (colons of the old form removed), padded with zeros
 * (high=false) or with the latest time the value denotes (high=true). -1 if malformed. */
int qtm_norm(const char *tm, size_t len, bool high, char out[14]);

#endif
