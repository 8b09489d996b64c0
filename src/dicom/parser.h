/*
 * A streaming, bounded push parser of a DICOM data set (PS3.5 7): the bytes after the Part 10
 * meta header, or the data set of a C-STORE as it arrives in P-DATA PDV fragments. Input may
 * be split anywhere (even inside a tag). The parser reports every element header, hands over
 * the whole value of elements the caller asks for (up to DCM_MAX_CAPTURE bytes) and skips all
 * other values by counting: a 500 MB pixel data element costs no memory.
 *
 * Handles implicit VR LE (VRs from dicom/dict.h, unknown tags are "UN"; an undefined length
 * means a sequence), explicit VR LE and BE (PS3.5 7.1.2), sequences and items of defined and
 * undefined length nested up to DCM_MAX_DEPTH (7.5), UN of undefined length holding an implicit
 * VR LE sequence (6.2.2), encapsulated pixel data (A.4), and Deflated Explicit VR LE (A.5,
 * raw deflate, inflated in bounded chunks).
 *
 * No I/O, no logging. The only allocation is zlib's inflate state for deflated syntaxes.
 */
#ifndef DICOMAID_DICOM_PARSER_H
#define DICOMAID_DICOM_PARSER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dicom/dict.h"
#include "dicom/error.h"
#include "dicom/uid.h"

#define DCM_MAX_DEPTH 32        /* nested sequences (pixel-data fragment sequences count) */
#define DCM_MAX_CAPTURE 1024    /* longest value on_value delivers */
#define DCM_UNDEFINED_LENGTH 0xFFFFFFFFu
#define DCM_WANT_VALUE 1        /* on_element/on_item: deliver this value to on_value */

struct dcm_elem {
	uint32_t tag;          /* (group << 16) | element; items use DCM_TAG_ITEM */
	char vr[3];            /* as encoded, or from the dictionary in implicit VR; "" for items */
	uint32_t length;       /* value length; DCM_UNDEFINED_LENGTH = undefined */
	unsigned depth;        /* 0 = top level; elements inside items of a top-level SQ are 1;
	                          an item has the depth of the elements it contains */
	bool big_endian;       /* byte order of the value (Explicit VR BE outside implicit UN) */
	uint64_t value_offset; /* offset of the value's first byte in the (inflated) data set */
};

/*
 * Callbacks. A return < 0 aborts parsing: the feed/finish in progress returns that code and the
 * parser stays failed. All pointers passed to callbacks are borrowed for the call only.
 */
struct dcm_parser_cb {
	void *ctx;
	/* Every element header except items and delimiters (SQ and encapsulated pixel data
	 * included). Return DCM_WANT_VALUE to have the value delivered whole by on_value
	 * (honoured only when length <= DCM_MAX_CAPTURE and the element is not a sequence),
	 * 0 to skip it. May be NULL (everything skipped). */
	int (*on_element)(void *ctx, const struct dcm_elem *e);
	/* The value asked for; len == e->length (0 for an empty value). May be NULL. */
	int (*on_value)(void *ctx, const struct dcm_elem *e, const uint8_t *val, size_t len);
	/* Optional. The start of an item (FFFE,E000) of a sequence, or of a pixel data fragment.
	 * For fragments DCM_WANT_VALUE works as for on_element. */
	int (*on_item)(void *ctx, const struct dcm_elem *e);
	/* Optional. The end of an item or of a sequence (whether by delimiter or by reaching its
	 * defined length); `e` is the opening element (the item, the SQ, or the pixel data). */
	int (*on_end)(void *ctx, const struct dcm_elem *e);
};

/* One open sequence or item. Internal, but visible so the parser can live on the stack. */
struct dcm_frame {
	struct dcm_elem el;    /* the opening element */
	uint64_t end;          /* stream offset where a defined-length frame ends; UINT64_MAX if undefined */
	uint64_t limit;        /* the nearest defined end of this frame or an ancestor; UINT64_MAX if none */
	uint8_t kind;          /* see parser.c */
	bool explicit_vr;      /* encoding of the contents */
	bool big_endian;
};

struct dcm_parser {
	struct dcm_parser_cb cb;     /* copied at init */
	const struct dcm_ts *ts;     /* borrowed, static table entry */
	uint64_t max_bytes;          /* limit on the (inflated) data set size; 0 = none */
	bool strict;                 /* reject every odd length (PS3.5 7.1.1), not only impossible ones */
	unsigned odd_lengths;        /* odd value lengths tolerated so far (non-strict mode) */

	int state;                   /* see parser.c */
	int err;                     /* sticky error once failed */
	uint64_t pos;                /* data set bytes consumed (after inflate) */
	uint8_t hdr[12];             /* element header being assembled */
	unsigned hdr_have, hdr_need;
	struct dcm_elem cur;         /* element whose value is being read */
	bool cur_capture;
	uint64_t value_left;         /* bytes of cur's value still to come */
	size_t cap_len;
	uint8_t cap[DCM_MAX_CAPTURE];
	unsigned nframes;            /* open frames */
	unsigned sq_depth;           /* open sequences (incl. pixel fragment sequences) */
	struct dcm_frame frames[2 * DCM_MAX_DEPTH];
	void *z;                     /* owned inflate state (deflated syntaxes only) */
	bool z_end;                  /* deflate stream ended */
};

/* Prepare `p` for a data set in transfer syntax `ts` (borrowed; must outlive p). `cb` is
 * copied. Returns 0, -EINVAL, -ENOMEM or DCM_EDEFLATE. Call dcm_parser_free() afterwards even
 * when init fails. */
int dcm_parser_init(struct dcm_parser *p, const struct dcm_ts *ts, const struct dcm_parser_cb *cb);

/* Optional settings, before the first feed. */
void dcm_parser_set_limit(struct dcm_parser *p, uint64_t max_bytes);
void dcm_parser_set_strict(struct dcm_parser *p, bool strict);

/* Push `len` bytes (borrowed). Consumes everything or fails: returns 0 or a negative code
 * (DCM_E*, or a callback's own code). After a failure every call returns the same code. */
int dcm_parser_feed(struct dcm_parser *p, const uint8_t *buf, size_t len);

/* End of data. 0 if the data set ended on an element boundary at top level with no item or
 * sequence open (of defined or undefined length) and, for deflate, the stream ended;
 * otherwise DCM_ETRUNC (or the sticky error). */
int dcm_parser_finish(struct dcm_parser *p);

/* Release the inflate state. Safe to call twice, and after a failed init. */
void dcm_parser_free(struct dcm_parser *p);

/* Data set bytes consumed so far (after inflate). */
static inline uint64_t dcm_parser_offset(const struct dcm_parser *p) { return p->pos; }

/* Read binary values in the byte order of `e` (val is borrowed, at least 2/4/8 bytes). */
uint16_t dcm_get_u16(const struct dcm_elem *e, const uint8_t *val);
uint32_t dcm_get_u32(const struct dcm_elem *e, const uint8_t *val);

#endif
