/* report.h: the C face of dicomaid's one C++ adapter over dcmtk 3.6.7 (the C++ files in src/report/).
 *
 * It owns three jobs that need a full DICOM toolkit: decoding the pixel data of a stored image in
 * every transfer syntax the SCP accepts (PS3.5 Annex A.4; modality LUT of PS3.3 C.11.1 applied),
 * writing the analysis result as a Comprehensive 3D SR with root template TID 1500 "Imaging
 * Measurement Report" and one TID 1410 measurement group per lesion (PS3.16 Annex A; PS3.3
 * A.35.13), and writing a Grayscale Softcopy Presentation State that draws each box (PS3.3 A.33.1).
 * Every function is C11-callable, reentrant and safe to call from several worker threads at once:
 * dcmtk's codec registration and context-group setup run exactly once (pthread_once) and dcmtk's
 * codec list and data dictionary are guarded by its own read/write locks.
 *
 * Error convention: 0 on success, a negative REPORT_E* code on failure; when err is not NULL a
 * NUL-terminated human-readable reason (no patient data) is written into err[0..errlen-1].
 * Strings in the structs are NUL-terminated fixed arrays in the DICOM character repertoire of
 * the source (copied byte for byte; specific_character_set names it).
 */
#ifndef DICOMAID_REPORT_H
#define DICOMAID_REPORT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum {
	REPORT_EINVAL = -1,   /* bad argument or findings that violate the contract below */
	REPORT_EIO = -2,      /* file cannot be read or written */
	REPORT_EFORMAT = -3,  /* not a usable image: missing/inconsistent attributes, corrupt data */
	REPORT_EUNSUPP = -4,  /* transfer syntax or photometric layout not decodable (e.g. JPEG 2000) */
	REPORT_ENOMEM = -5,   /* allocation failed or the image exceeds REPORT_MAX_PIXELS */
	REPORT_EINVALID = -6, /* the built document failed dcmtk's document checks; nothing written */
};

#define REPORT_UID_LEN 65        /* UI: 64 characters + NUL (PS3.5 6.2) */
#define REPORT_MAX_PIXELS (1u << 28) /* rows*cols*frames cap checked before allocating */

/* Patient and study attributes (Patient C.7.1.1, General Study C.7.2.1). Filled by
 * report_decode_pixels() from the source image; copied verbatim into the SR and GSPS. */
struct report_study {
	char specific_character_set[65]; /* (0008,0005), empty = default repertoire */
	char patient_name[256];          /* (0010,0010) */
	char patient_id[65];             /* (0010,0020) */
	char patient_birth_date[9];      /* (0010,0030) */
	char patient_sex[17];            /* (0010,0040) */
	char study_instance_uid[REPORT_UID_LEN]; /* (0020,000D), required for writing */
	char study_date[9];              /* (0008,0020) */
	char study_time[17];             /* (0008,0030) */
	char referring_physician[256];   /* (0008,0090) */
	char study_id[17];               /* (0020,0010) */
	char accession_number[17];       /* (0008,0050) */
	char study_description[65];      /* (0008,1030) */
};

/* One decoded image (all frames). pixels and frame_positions are owned by the struct: release
 * with report_image_free(). Layout: frame-major, then row-major: pixels[(f*rows + r)*cols + c]. */
struct report_image {
	float *pixels;          /* modality values: stored value * RescaleSlope + RescaleIntercept */
	uint32_t rows, cols, frames;
	int has_position;       /* Image Position (Patient) (0020,0032) present */
	double position[3];
	int has_orientation;    /* Image Orientation (Patient) (0020,0037) present */
	double orientation[6];  /* row direction cosines, then column direction cosines */
	int has_spacing;        /* Pixel Spacing (0028,0030) present */
	double spacing[2];      /* row spacing (between rows), column spacing, mm */
	double slice_thickness; /* (0018,0050), 0 when absent */
	double *frame_positions; /* frames*3 Image Position (Patient) values of each frame from
	                            the Per-frame Functional Groups (PS3.3 C.7.6.16.2.3), owned;
	                            NULL unless every frame has one (then position = frame 1) */
	double window_center, window_width; /* first VOI window (0028,1050/1051), width 0 = none */
	int32_t instance_number; /* (0020,0013), 0 when absent */
	char modality[17];
	char sop_class_uid[REPORT_UID_LEN];
	char sop_instance_uid[REPORT_UID_LEN];
	char series_instance_uid[REPORT_UID_LEN];
	char frame_of_reference_uid[REPORT_UID_LEN];
	char transfer_syntax_uid[REPORT_UID_LEN]; /* as stored in the file */
	struct report_study study;
};

/* Reads the Part 10 file at path and decodes its pixel data (native LE/BE, deflate, JPEG
 * baseline/extended/lossless, JPEG-LS, RLE) into out. Only one-sample (MONOCHROME1/2) images are
 * accepted; JPEG 2000 gives REPORT_EUNSUPP, damaged pixel data REPORT_EFORMAT. On success out is
 * filled and the caller frees it with report_image_free(); on failure out holds nothing to free.
 * path, err: borrowed. */
int report_decode_pixels(const char *path, struct report_image *out, char *err, size_t errlen);

/* Releases img->pixels and img->frame_positions and zeroes *img. NULL and zeroed structs are fine. */
void report_image_free(struct report_image *img);

/* A coded concept (PS3.3 Table 8.8-1). An empty value means "not given". */
struct report_code {
	char value[65];   /* Code Value (or Long Code Value beyond 16 chars) */
	char scheme[17];  /* Coding Scheme Designator, e.g. "SCT" */
	char meaning[65]; /* Code Meaning */
};

/* One image the analysis read (Image Library entry and evidence). */
struct report_source_image {
	char sop_class_uid[REPORT_UID_LEN];
	char sop_instance_uid[REPORT_UID_LEN];
	char series_instance_uid[REPORT_UID_LEN]; /* must belong to f->study.study_instance_uid */
	uint32_t rows, cols;
	uint32_t frame;   /* 1-based frame of a multi-frame image, 0 for a single-frame image */
	double window_center, window_width; /* for the GSPS VOI LUT; width 0 = none */
	double spacing[2]; /* Pixel Spacing (row, column) mm for the GSPS; 0 = unknown (square) */
};

/* A lesion's box on one slice, in the continuous image coordinates of PS3.3 C.18.6.1.1:
 * (0,0) is the top-left corner of the top-left pixel, x = column, y = row. A box that covers the
 * 0-based pixel indices c0..c1 and r0..r1 inclusive is col_min=c0, col_max=c1+1, row_min=r0,
 * row_max=r1+1. Must satisfy 0 <= min < max <= cols/rows of the image. */
struct report_box {
	char sop_instance_uid[REPORT_UID_LEN]; /* one of f->images[] (with the same frame) */
	uint32_t frame;                        /* as in report_source_image.frame */
	float col_min, row_min, col_max, row_max;
};

/* One 3-D lesion: its boxes on every slice it spans. */
struct report_lesion {
	struct report_code type;  /* Finding value; empty = (126952004,SCT,"Neoplasm of brain") */
	char tracking_id[65];     /* Tracking Identifier TEXT, e.g. "Lesion 1" (required) */
	char tracking_uid[REPORT_UID_LEN]; /* Tracking Unique Identifier (required; keep it stable
	                                      across re-analyses of the same lesion) */
	double probability;       /* 0..1, written as Certainty of Finding in % */
	double size_mm;           /* longest diameter, written as Long Axis in mm; < 0 = omit */
	double volume_mm3;        /* written as Volume in mm3; < 0 = omit */
	double centre[3];         /* patient coordinates, mm (for the caller's index; not encoded
	                             in the SR or GSPS at present) */
	const struct report_box *boxes; /* borrowed, n_boxes >= 1 */
	size_t n_boxes;
};

/* Everything the SR and GSPS writers need. All pointers are borrowed. Empty UID fields in the
 * "output identity" block are generated (report_new_uid); the generated values are not returned,
 * so a caller that must index the result either fills them itself or reads the file back. */
struct report_findings {
	struct report_study study;                 /* copied from the source images */
	const struct report_source_image *images;  /* n_images >= 1: every image analysed */
	size_t n_images;
	const struct report_lesion *lesions;       /* n_lesions == 0: explicit negative report */
	size_t n_lesions;
	struct report_code procedure;              /* Procedure reported; empty = (24590-2,LN,"Brain MRI") */
	char algorithm_name[65], algorithm_version[65];       /* TID 4019, required */
	char device_observer_uid[REPORT_UID_LEN];  /* TID 1004, required; changes with the model */
	char device_observer_name[65];
	char device_manufacturer[65];              /* also General Equipment Manufacturer */
	char device_model_name[65];
	/* output identity */
	char sr_series_instance_uid[REPORT_UID_LEN], sr_sop_instance_uid[REPORT_UID_LEN];
	int32_t sr_series_number;                  /* 0 = 900 */
	int sr_comprehensive_2d; /* nonzero: Comprehensive SR (1.2.840.10008.5.1.4.1.1.88.33) for a
	                            PACS without 88.34; same tree (no SCOORD3D is used) */
	char gsps_series_instance_uid[REPORT_UID_LEN], gsps_sop_instance_uid[REPORT_UID_LEN];
	int32_t gsps_series_number;                /* 0 = 901 */
	/* the SR this one supersedes (Predecessor Documents Sequence); empty = none */
	char predecessor_sop_class_uid[REPORT_UID_LEN]; /* empty = Comprehensive 3D SR */
	char predecessor_sop_instance_uid[REPORT_UID_LEN];
	char predecessor_series_instance_uid[REPORT_UID_LEN];
	char predecessor_study_instance_uid[REPORT_UID_LEN]; /* empty = this study */
};

/* Writes the TID 1500 Comprehensive 3D SR (1.2.840.10008.5.1.4.1.1.88.34, or Comprehensive SR
 * when f->sr_comprehensive_2d) for f to out_path
 * (Explicit VR Little Endian Part 10, written to out_path.tmp then renamed; no fsync). The document
 * is validated in-process first (template and IOD checks, a strict read-back of the encoded data
 * set, every referenced image present in the evidence); a failing document is not written and
 * REPORT_EINVALID returns the reason. f, out_path, err: borrowed. */
int report_write_sr(const struct report_findings *f, const char *out_path, char *err, size_t errlen);

/* Writes a Grayscale Softcopy Presentation State (1.2.840.10008.5.1.4.1.1.11.1) referencing every
 * image of f, with one closed 5-point POLYLINE (PIXEL units) and a text label per box; same
 * validation and write rules as report_write_sr(). f, out_path, err: borrowed. */
int report_write_gsps(const struct report_findings *f, const char *out_path, char *err, size_t errlen);

/* Writes a new "2.25." UUID-derived UID (PS3.5 B.2) into out; thread-safe. */
void report_new_uid(char out[REPORT_UID_LEN]);

#ifdef __cplusplus
}
#endif

#endif
