/*
 * Series selection: instances (a file path and its attributes from pix_read_file() without
 * pixels) are grouped by Series Instance UID (PS3.3 C.7.3.1), and each series is checked to
 * be one stack -- one orientation, one image size and pixel spacing, every image decodable,
 * no two images at one position -- and sorted along the slice normal (Image Orientation's
 * row x column direction, PS3.3 C.7.6.2.1.1) by Image Position. A missing Pixel Spacing is
 * taken as 1\1 (models/README.md). A series that fails gets a
 * reason in `skip` and is kept so callers can report it. Model-specific checks (modality,
 * number of slices, obliquity) belong to analysis.h. No global state.
 */
#ifndef DICOMAID_ANALYSIS_SERIES_H
#define DICOMAID_ANALYSIS_SERIES_H

#include <stddef.h>

#include "analysis/pixels.h"

struct series_slice {
	char *path;                /* owned */
	struct pix_image hdr;      /* attributes; hdr.pixels is always NULL */
	double pos;                /* Image Position along the normal, mm */
};

struct series {
	char study_uid[65];
	char series_uid[65];
	char modality[17];
	size_t n;                  /* slices */
	size_t cap;
	struct series_slice *slices; /* owned; sorted by pos after series_set_finish() */
	double normal[3];          /* row x column direction of the first slice */
	double slice_spacing;      /* median distance between neighbouring slices, mm (0: one) */
	char skip[200];            /* why the series is not a usable stack; "" when it is */
};

struct series_set {
	size_t n, cap;
	struct series *v;          /* owned; ordered by (study, series UID) after finish */
};

void series_set_init(struct series_set *set);

/* Add one instance: path and hdr are copied (hdr->pixels is not kept). Returns 0, 1 when
 * the series already has an instance of that SOP Instance UID (not added), or -ENOMEM. */
int series_set_add(struct series_set *set, const char *path, const struct pix_image *hdr);

/* Order the series and check and sort each one (series_check()). */
void series_set_finish(struct series_set *set);

/* Check one series and sort its slices; sets s->skip on failure. Returns 0 when usable. */
int series_check(struct series *s);

void series_set_free(struct series_set *set);

#endif
