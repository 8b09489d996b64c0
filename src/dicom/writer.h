/*
 * Writing data set elements (PS3.5 7.1) into a growable byte buffer, in Explicit VR Little
 * Endian or Implicit VR Little Endian: what dicomaid needs for DIMSE command sets (always
 * implicit LE, PS3.7 6.3.1), C-FIND identifiers and the Part 10 meta header. Values are padded
 * to even length (PS3.5 7.1.1): UI with NUL, other strings with a space, OB/UN with NUL.
 * No I/O. Every function returns 0 or a negative errno (-ENOMEM, -EINVAL).
 */
#ifndef DICOMAID_DICOM_WRITER_H
#define DICOMAID_DICOM_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Growable buffer. Zero-initialise ({0}) before use; owns `data`; release with dcm_buf_free(). */
struct dcm_buf {
	uint8_t *data;
	size_t len, cap;
};

/* Free the data and reset to empty. Safe on an empty or already freed buffer. */
void dcm_buf_free(struct dcm_buf *b);
/* Make room for `extra` more bytes. */
int dcm_buf_reserve(struct dcm_buf *b, size_t extra);
/* Append raw bytes (`data` borrowed). */
int dcm_buf_append(struct dcm_buf *b, const void *data, size_t len);

/* An element header only (for sequences and large values written separately). `vr` is two
 * upper-case letters (ignored when !explicit_vr); length may be 0xFFFFFFFF for SQ/OB/OW/UN.
 * -EINVAL if the length does not fit a 16-bit-length VR. */
int dcm_put_header(struct dcm_buf *b, uint32_t tag, const char *vr, uint32_t length,
		   bool explicit_vr);

/* An item (FFFE,E000) with `length`, or a delimiter tag with length 0 (PS3.5 7.5). Same in
 * both VR encodings. */
int dcm_put_item_tag(struct dcm_buf *b, uint32_t tag, uint32_t length);

/* A string element; `s` borrowed, written without its NUL and padded to even length. */
int dcm_put_str(struct dcm_buf *b, uint32_t tag, const char *vr, const char *s, bool explicit_vr);
/* US / UL single values (VR "US"/"UL"). */
int dcm_put_u16(struct dcm_buf *b, uint32_t tag, uint16_t v, bool explicit_vr);
int dcm_put_u32(struct dcm_buf *b, uint32_t tag, uint32_t v, bool explicit_vr);
/* Any binary value of `len` bytes (borrowed), padded with one NUL if odd. */
int dcm_put_bytes(struct dcm_buf *b, uint32_t tag, const char *vr, const void *data, size_t len,
		  bool explicit_vr);

#endif
