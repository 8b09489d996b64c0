/*
 * The DICOM file format (PS3.10 7.1): the 128-byte preamble, "DICM", and the File Meta
 * Information (group 0002, always Explicit VR Little Endian), written and read; plus new UIDs
 * under the UUID root 2.25 (PS3.5 B.2). The reader works on a memory buffer holding at least
 * the start of the file and asks for more bytes with DCM_EMORE.
 */
#ifndef DICOMAID_DICOM_PART10_H
#define DICOMAID_DICOM_PART10_H

#include <stddef.h>
#include <stdint.h>

#include "dicom/writer.h"

/* dicomaid's Implementation Class UID (2.25 + a UUID generated once) and version name. */
#define DCM_IMPL_CLASS_UID "2.25.183397019632319029108732013223820263953"
#define DCM_IMPL_VERSION "DICOMAID_010"

#define DCM_PREAMBLE_LEN 128
#define DCM_META_MAX 65536   /* reader's bound on the meta group's size */

struct dcm_meta {
	char sop_class_uid[65];     /* (0002,0002) Media Storage SOP Class UID */
	char sop_instance_uid[65];  /* (0002,0003) Media Storage SOP Instance UID */
	char ts_uid[65];            /* (0002,0010) Transfer Syntax UID */
	char impl_class_uid[65];    /* (0002,0012) Implementation Class UID */
	char impl_version[17];      /* (0002,0013) Implementation Version Name, may be "" */
	char source_ae[17];         /* (0002,0016) Source Application Entity Title, may be "" */
};

/* Append preamble, "DICM" and group 0002 to `out` (not cleared first): (0002,0000) with the
 * exact group length, (0002,0001) = 00\01, 0002, 0003, 0010, 0012, 0013 and 0016 (the last two
 * only when non-empty). An empty impl_class_uid/impl_version is replaced by dicomaid's.
 * Returns 0, -EINVAL (a required UID invalid or an over-long field) or -ENOMEM; on error `out`
 * keeps its old length. `m` is borrowed. */
int dcm_part10_write_header(struct dcm_buf *out, const struct dcm_meta *m);

/* Parse a Part 10 header from the first `len` bytes of a file (`buf` borrowed). On success
 * fills `m` (values trimmed) and *dataset_offset (where the data set starts) and returns 0.
 * Returns DCM_EMORE when the header does not fit in `len` bytes, DCM_EMETA when it is
 * malformed (no "DICM", not explicit VR LE, missing or invalid Transfer Syntax UID, a value
 * too long, group larger than DCM_META_MAX). A missing (0002,0000) is tolerated: the group
 * then ends at the first tag outside group 0002, so at least 4 bytes of the data set (or
 * the whole file) must be in the buffer. */
int dcm_part10_read_header(const uint8_t *buf, size_t len, struct dcm_meta *m,
			   size_t *dataset_offset);

/* Write a new UID "2.25.<decimal of a random version-4 UUID>" (at most 44 chars + NUL) into
 * `out`. Uses getrandom(2). Returns 0 or a negative errno. */
int dcm_uid_generate(char out[65]);

#endif
