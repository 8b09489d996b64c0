/*
 * Lesion identity across analyses of one series: which lesion of a re-analysis is which
 * lesion of the analysis it supersedes, so that it keeps its TID 1500 Tracking Identifier
 * (DCM 112039) and Tracking Unique Identifier (DCM 112040). Pure: no I/O, no allocation.
 */
#ifndef DICOMAID_PIPELINE_TRACK_H
#define DICOMAID_PIPELINE_TRACK_H

#include <stddef.h>

#include "storage/jobs.h"

#define TRACK_MIN_IOU 0.1   /* boxes overlapping at least this much are the same lesion */
#define TRACK_MAX_MM 15.0   /* else centres at most this far apart (mm) */

/* A lesion of the new analysis: its box in, its identifiers out. */
struct track_lesion {
	double centre[3];          /* patient coordinates, mm */
	double extent[3];          /* mm along axes[0..2] of track_assign() */
	char tracking_id[65];      /* out: "Lesion N" */
	char tracking_uid[65];     /* out */
};

/*
 * Gives each of les[0..n) (highest probability first) its identifiers. A lesion is the same
 * as the previous analysis' lesion whose box overlaps its own most (3-D IoU in the series
 * frame >= TRACK_MIN_IOU) or, when none overlaps that much, whose centre is nearest within
 * TRACK_MAX_MM; each previous lesion is matched at most once, in the order of les. Types are
 * not compared (the model may type the same lesion differently with more slices). A matched
 * lesion keeps both identifiers; any other gets new_uid()'s UID and "Lesion N" with N above
 * every number the previous analysis used, so an identifier never names two lesions.
 * axes: the series' row and column direction cosines and slice normal (unit vectors); the
 * extents of prev and les are along them. prev[i].tracking_id "" (findings recorded before
 * identifiers were stored) stands for "Lesion i+1". prev, axes borrowed.
 */
void track_assign(const struct job_prev_finding *prev, size_t n_prev, const double axes[3][3],
		  struct track_lesion *les, size_t n, void (*new_uid)(char out[65]));

/* Intersection over union of two boxes (centre, extent along axes). */
double track_iou(const double ca[3], const double ea[3], const double cb[3], const double eb[3],
		 const double axes[3][3]);

#endif
