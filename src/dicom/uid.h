/*
 * UIDs and transfer syntaxes: the PS3.5 9.1 validity rule, the trailing-padding trim every
 * string value needs (PS3.5 6.2), and the table of transfer syntaxes dicomaid knows, with the
 * properties the parser needs and the acceptor's preference order (see DICOM-FACTS.md 5).
 * Pure: no allocation, no I/O. The table is static and read-only.
 */
#ifndef DICOMAID_DICOM_UID_H
#define DICOMAID_DICOM_UID_H

#include <stdbool.h>
#include <stddef.h>

/* PS3.5 9.1: non-empty, at most 64 characters, digits and '.' only, no empty component and
 * no leading zero in a multi-digit component. `s` is borrowed; NULL is invalid. */
bool dcm_uid_valid(const char *s);

/* Strip trailing spaces and NULs in place (PS3.5 6.2 padding). `s` is borrowed, may be "". */
void dcm_trim(char *s);

#define DCM_TS_IMPLICIT_LE "1.2.840.10008.1.2"
#define DCM_TS_EXPLICIT_LE "1.2.840.10008.1.2.1"
#define DCM_TS_DEFLATED_LE "1.2.840.10008.1.2.1.99"
#define DCM_TS_EXPLICIT_BE "1.2.840.10008.1.2.2"
#define DCM_TS_RLE "1.2.840.10008.1.2.5"

struct dcm_ts {
	const char *uid;
	const char *name;
	bool explicit_vr;   /* false only for Implicit VR Little Endian */
	bool big_endian;    /* only the retired Explicit VR Big Endian */
	bool deflated;      /* the whole data set is a raw deflate stream (PS3.5 A.5) */
	bool encapsulated;  /* pixel data are fragments in an undefined-length item sequence (A.4) */
	bool accepted;      /* dicomaid's storage SCP accepts it (decodable by dcmtk, or native) */
	int rank;           /* preference among several offered in one context: higher is better;
	                       0 for syntaxes that are not accepted */
};

/* The entry for `uid` (trailing padding is not tolerated: trim first), or NULL if unknown.
 * The result points into a static table. */
const struct dcm_ts *dcm_ts_find(const char *uid);

/* The whole table; *n receives its length. Static, read-only. */
const struct dcm_ts *dcm_ts_all(size_t *n);

/* The acceptor's pick among the `n` transfer syntax UIDs a peer offers in one presentation
 * context (PS3.8 9.3.2.2): the accepted one with the highest rank, or NULL when none is
 * accepted (reject the context with result 4, PS3.8 9.3.3.2). `uids` is borrowed; NULL
 * entries and unknown UIDs are skipped. */
const struct dcm_ts *dcm_ts_choose(const char *const *uids, size_t n);

#endif
