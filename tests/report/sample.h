/* sample.h: a fixed set of findings for the report tests: one MR series of SAMPLE_N_IMAGES
 * 256x256 slices and, when asked, two lesions over three slices each (they share slice 3). */
#ifndef DICOMAID_TESTS_REPORT_SAMPLE_H
#define DICOMAID_TESTS_REPORT_SAMPLE_H

#include "report/report.h"

#define SAMPLE_N_IMAGES 8
#define SAMPLE_N_LESIONS 2
#define SAMPLE_BOXES 3

struct sample {
	struct report_findings f;
	struct report_source_image images[SAMPLE_N_IMAGES];
	struct report_lesion lesions[SAMPLE_N_LESIONS];
	struct report_box boxes[SAMPLE_N_LESIONS][SAMPLE_BOXES];
};

/* Fills s; with_lesions = 0 gives the negative case. The pointers in s->f point into s. */
void sample_fill(struct sample *s, int with_lesions);

#endif
