/*
 * Lesion identity across analyses (see track.h): box overlap in the series frame, centre
 * distance as the fallback, greedy one-to-one matching in the order of the new lesions, and
 * "Lesion N" identifiers that are never reused for another lesion of the series.
 */
#include "pipeline/track.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

double track_iou(const double ca[3], const double ea[3], const double cb[3], const double eb[3],
		 const double axes[3][3])
{
	double inter = 1, va = 1, vb = 1;
	for (int k = 0; k < 3; k++) {
		double d = 0;
		for (int j = 0; j < 3; j++)
			d += (cb[j] - ca[j]) * axes[k][j];
		double lo = fmax(-ea[k] / 2, d - eb[k] / 2);
		double hi = fmin(ea[k] / 2, d + eb[k] / 2);
		inter *= hi > lo ? hi - lo : 0;
		va *= ea[k];
		vb *= eb[k];
	}
	double uni = va + vb - inter;
	return uni > 0 ? inter / uni : 0;
}

/* The previous finding l is matched to, or -1. */
static long match(const struct job_prev_finding *prev, size_t n_prev, const bool *used,
		  const struct track_lesion *l, const double axes[3][3])
{
	long best_iou_i = -1, best_d_i = -1;
	double best_iou = TRACK_MIN_IOU, best_d = TRACK_MAX_MM;
	for (size_t i = 0; i < n_prev; i++) {
		if (used[i] || !prev[i].tracking_uid[0])
			continue;
		double iou = track_iou(l->centre, l->extent, prev[i].centre, prev[i].extent, axes);
		double d = 0;
		for (int k = 0; k < 3; k++)
			d += (prev[i].centre[k] - l->centre[k]) * (prev[i].centre[k] - l->centre[k]);
		d = sqrt(d);
		if (iou >= best_iou) {
			best_iou = iou;
			best_iou_i = (long)i;
		}
		if (d <= best_d) {
			best_d = d;
			best_d_i = (long)i;
		}
	}
	return best_iou_i >= 0 ? best_iou_i : best_d_i;
}

/* The N of "Lesion N", 0 for any other identifier. */
static int lesion_number(const char *id)
{
	int n = 0, len = 0;
	if (sscanf(id, "Lesion %d%n", &n, &len) == 1 && id[len] == '\0' && n > 0)
		return n;
	return 0;
}

void track_assign(const struct job_prev_finding *prev, size_t n_prev, const double axes[3][3],
		  struct track_lesion *les, size_t n, void (*new_uid)(char out[65]))
{
	enum { MAX_PREV = 256 };
	bool used[MAX_PREV] = { false };
	if (n_prev > MAX_PREV)
		n_prev = MAX_PREV; /* a model reports far fewer lesions per series */
	int next = 1;
	for (size_t i = 0; i < n_prev; i++) {
		int k = prev[i].tracking_id[0] ? lesion_number(prev[i].tracking_id) : (int)i + 1;
		if (k >= next)
			next = k + 1;
	}
	for (size_t i = 0; i < n; i++) {
		struct track_lesion *l = &les[i];
		long m = match(prev, n_prev, used, l, axes);
		if (m >= 0) {
			used[m] = true;
			snprintf(l->tracking_uid, sizeof l->tracking_uid, "%s", prev[m].tracking_uid);
			if (prev[m].tracking_id[0])
				snprintf(l->tracking_id, sizeof l->tracking_id, "%s", prev[m].tracking_id);
			else
				snprintf(l->tracking_id, sizeof l->tracking_id, "Lesion %ld", m + 1);
		} else {
			new_uid(l->tracking_uid);
			snprintf(l->tracking_id, sizeof l->tracking_id, "Lesion %d", next++);
		}
	}
}
