/*
 * The pixel reader of the analysis layer: one DICOM Part 10 file in, the attributes the
 * detector needs (identity, geometry PS3.3 C.7.6.2, pixel description PS3.3 C.7.6.3) and the
 * first frame's stored values through the Modality LUT (rescale, PS3.3 C.11.1) out, as float.
 *
 * Today the values are decoded here for the native (uncompressed) transfer syntaxes: Implicit
 * VR LE, Explicit VR LE, Explicit VR BE and Deflated Explicit VR LE (PS3.5 A.1-A.5). An
 * encapsulated syntax (RLE, JPEG, JPEG-LS, ...) is read for its attributes and reported
 * through pix_image.skip, with no pixels; the dcmtk adapter will replace the inside of
 * pix_read_file() later without changing this header.
 *
 * No global state, no logging: safe in any number of threads.
 */
#ifndef DICOMAID_ANALYSIS_PIXELS_H
#define DICOMAID_ANALYSIS_PIXELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum pix_error {
	PIX_ENOTDICOM = -3001, /* no Part 10 preamble/"DICM" (PS3.10 7.1): not a DICOM file */
	PIX_ECORRUPT = -3002,  /* a DICOM file that cannot be parsed or whose pixel data is short */
	PIX_EIO = -3003,       /* the file cannot be read */
	PIX_ETOOBIG = -3004,   /* larger than PIX_MAX_FILE_BYTES, or an absurd image size */
	PIX_ENOMEM = -3005,
	PIX_EUNSUPP = -3006,   /* the external decoder cannot decode this syntax or layout */
};

#define PIX_MAX_FILE_BYTES (1024u * 1024u * 1024u)
#define PIX_MAX_DIM 8192       /* refused above this many rows or columns */

/* Flags of pix_read_file()/pix_read_mem(). */
#define PIX_READ_PIXELS 1u     /* decode the pixels (otherwise the attributes only) */

struct pix_image {
	/* identity (trailing padding removed, PS3.5 6.2); "" when absent */
	char study_uid[65];        /* (0020,000D) */
	char series_uid[65];       /* (0020,000E) */
	char sop_uid[65];          /* (0008,0018); falls back on (0002,0003) */
	char sop_class_uid[65];    /* (0008,0016) */
	char modality[17];         /* (0008,0060) */
	char ts_uid[65];           /* (0002,0010) */
	int instance_number;       /* (0020,0013); 0 when absent */
	/* geometry; the has_* flag says whether the element was present and well formed */
	bool has_position, has_orientation, has_spacing;
	double ipp[3];             /* (0020,0032) Image Position (Patient), mm */
	double iop[6];             /* (0020,0037) row direction cosines, then column's */
	double spacing[2];         /* (0028,0030) row spacing (between rows), column spacing, mm */
	double thickness;          /* (0018,0050) Slice Thickness; 0 when absent */
	/* pixel description */
	int rows, cols;            /* (0028,0010), (0028,0011) */
	int samples;               /* (0028,0002), default 1 */
	int bits_allocated;        /* (0028,0100) */
	int bits_stored;           /* (0028,0101), default bits_allocated */
	int high_bit;              /* (0028,0102), default bits_stored - 1 */
	int pixel_rep;             /* (0028,0103): 0 unsigned, 1 two's complement */
	int frames;                /* (0028,0008), default 1 */
	char photometric[17];      /* (0028,0004) */
	double slope, intercept;   /* (0028,1053), (0028,1052); default 1 and 0 */
	/* result */
	float *pixels;             /* rows*cols, row-major, rescaled; owned, NULL unless decoded */
	char skip[160];            /* why the pixels cannot be decoded here; "" when they can */
	bool external;             /* compressed: decoded by the external decoder (see below) */
};

/*
 * An external decoder for the compressed transfer syntaxes this reader does not decode
 * (JPEG, JPEG-LS, RLE): given the file, it returns the frame's modality values (rows*cols,
 * malloc'ed) or <0 with a one-line err: PIX_EUNSUPP when it cannot decode that transfer
 * syntax or pixel layout at all, any other value for data it fails on. The daemon and
 * dicomaid-detect install the dcmtk
 * adapter's (src/report) at start-up; without one such files are skipped with a reason.
 * Set it once, before any thread reads images.
 */
typedef int (*pix_decoder_fn)(const char *path, float **pixels, int rows, int cols, char *err,
			      size_t errlen);
void pix_set_external_decoder(pix_decoder_fn fn);

/*
 * Read the file at `path` (borrowed). On 0 `out` is filled; when flags has PIX_READ_PIXELS
 * and skip is "" the pixels are decoded (out->pixels owned: release with pix_image_free()).
 * A file this reader cannot decode (compressed syntax, colour, several frames, bits it does
 * not know, missing Pixel Data) still returns 0, with the reason in out->skip and no pixels.
 * Errors: PIX_ENOTDICOM (quietly skippable), PIX_EIO, PIX_ECORRUPT, PIX_ETOOBIG, PIX_ENOMEM,
 * PIX_EUNSUPP (the external decoder does not handle the file's syntax: out->ts_uid names
 * it), with one line in err (when errlen > 0). `out` needs pix_image_free() in every case.
 */
int pix_read_file(const char *path, unsigned flags, struct pix_image *out, char *err,
		  size_t errlen);

/* The same on a whole file held in memory (borrowed, only read during the call). */
int pix_read_mem(const uint8_t *buf, size_t len, unsigned flags, struct pix_image *out,
		 char *err, size_t errlen);

/* Free out->pixels and clear it. Safe on a zeroed struct and twice. */
void pix_image_free(struct pix_image *im);

/* A static name of a PIX_E* code. */
const char *pix_strerror(int err);

#endif
