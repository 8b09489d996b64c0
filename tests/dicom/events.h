/*
 * Test helpers for the dicom parser: a vector builder that writes elements in any of the three
 * encodings, and an event recorder that turns a parse into text, so that parses of the same
 * bytes fed in different chunkings can be compared.
 */
#ifndef DICOMAID_TESTS_DICOM_EVENTS_H
#define DICOMAID_TESTS_DICOM_EVENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dicom/parser.h"

struct vb {
	uint8_t *d;
	size_t n, cap;
	bool ex, be;   /* encoding of what is written next */
};

void vb_init(struct vb *v, bool explicit_vr, bool big_endian);
void vb_free(struct vb *v);
void vb_raw(struct vb *v, const void *data, size_t n);
void vb_u16(struct vb *v, uint16_t x);
void vb_u32(struct vb *v, uint32_t x);
/* An element header; vr ignored in implicit VR. */
void vb_hdr(struct vb *v, uint32_t tag, const char *vr, uint32_t len);
/* Header + value (len bytes of data). */
void vb_el(struct vb *v, uint32_t tag, const char *vr, const void *data, uint32_t len);
void vb_str(struct vb *v, uint32_t tag, const char *vr, const char *s);
/* Item / delimiter: tag + 32-bit length, no VR. */
void vb_item(struct vb *v, uint32_t tag, uint32_t len);

/* Events of one parse, as text; rc lines record feed/finish failures. `cap_max`: values up to
 * this length are captured and printed in hex. Returns the final rc (0 or an error). */
int ev_parse(const struct dcm_ts *ts, const uint8_t *d, size_t n, size_t first, size_t step,
	     char **text, unsigned cap_max);

/* Parse whole, then split at every offset, then byte by byte, and assert every event stream
 * is identical; returns the whole-buffer stream (caller frees) and its final rc in *rc. */
char *ev_check_splits(const struct dcm_ts *ts, const uint8_t *d, size_t n, int *rc);

#endif
