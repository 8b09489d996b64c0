/*
 * Greedy slice-by-slice tracking of boxes into lesions (see link.h).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/link.h"

static double area(const struct lnk_box *a)
{
	return (double)(a->col_max - a->col_min + 1) * (double)(a->row_max - a->row_min + 1);
}

static double inter(const struct lnk_box *a, const struct lnk_box *b)
{
	int x0 = a->col_min > b->col_min ? a->col_min : b->col_min;
	int x1 = a->col_max < b->col_max ? a->col_max : b->col_max;
	int y0 = a->row_min > b->row_min ? a->row_min : b->row_min;
	int y1 = a->row_max < b->row_max ? a->row_max : b->row_max;

	if (x1 < x0 || y1 < y0)
		return 0.0;
	return (double)(x1 - x0 + 1) * (double)(y1 - y0 + 1);
}

double lnk_iomin(const struct lnk_box *a, const struct lnk_box *b)
{
	double ua = area(a), ub = area(b);
	return inter(a, b) / (ua < ub ? ua : ub);
}

double lnk_iou(const struct lnk_box *a, const struct lnk_box *b)
{
	int x0 = a->col_min > b->col_min ? a->col_min : b->col_min;
	int x1 = a->col_max < b->col_max ? a->col_max : b->col_max;
	int y0 = a->row_min > b->row_min ? a->row_min : b->row_min;
	int y1 = a->row_max < b->row_max ? a->row_max : b->row_max;
	double inter, ua, ub;

	if (x1 < x0 || y1 < y0)
		return 0.0;
	inter = (double)(x1 - x0 + 1) * (double)(y1 - y0 + 1);
	ua = (double)(a->col_max - a->col_min + 1) * (double)(a->row_max - a->row_min + 1);
	ub = (double)(b->col_max - b->col_min + 1) * (double)(b->row_max - b->row_min + 1);
	return inter / (ua + ub - inter);
}

static double centre_dist_mm(const struct lnk_box *a, const struct lnk_box *b,
			     const double spacing[2])
{
	double dc = ((a->col_min + a->col_max) - (b->col_min + b->col_max)) / 2.0 * spacing[1];
	double dr = ((a->row_min + a->row_max) - (b->row_min + b->row_max)) / 2.0 * spacing[0];
	return sqrt(dc * dc + dr * dr);
}

/* qsort context is not portable: sort an index array by (slice asc, score desc) with an
 * insertion sort; box counts per series are small (tens to hundreds). */
static void sort_order(const struct lnk_box *b, int n, int *idx)
{
	for (int i = 0; i < n; i++)
		idx[i] = i;
	for (int i = 1; i < n; i++) {
		int v = idx[i], j = i;
		while (j > 0 && (b[idx[j - 1]].slice > b[v].slice ||
				 (b[idx[j - 1]].slice == b[v].slice &&
				  b[idx[j - 1]].score < b[v].score))) {
			idx[j] = idx[j - 1];
			j--;
		}
		idx[j] = v;
	}
}

int lnk_link(const struct lnk_box *b, int n, const struct lnk_params *p, int *lesion_of,
	     struct lnk_lesion *out)
{
	int *idx, *track_of, ntracks = 0, nles = 0;
	struct track {
		int last_box;   /* index into b of its latest box */
		int first_slice, last_slice, nboxes;
		int extended_at;
	} *t;

	if (n < 0 || (n > 0 && (b == NULL || lesion_of == NULL || out == NULL)) || p == NULL ||
	    p->ntypes < 0 || p->ntypes > DEC_MAX_TYPES || p->max_gap < 0)
		return -1;
	if (n == 0)
		return 0;
	idx = malloc(2 * (size_t)n * sizeof *idx);
	t = malloc((size_t)n * sizeof *t);
	if (idx == NULL || t == NULL) {
		free(idx);
		free(t);
		return -1;
	}
	track_of = idx + n;
	sort_order(b, n, idx);

	for (int k = 0; k < n; k++) {
		int i = idx[k], best = -1;
		double best_iou = -1, best_d = INFINITY;

		for (int j = 0; j < ntracks; j++) {
			const struct lnk_box *lb = &b[t[j].last_box];
			double iou, d;
			if (t[j].extended_at == b[i].slice || lb->slice >= b[i].slice ||
			    lb->slice < b[i].slice - 1 - p->max_gap)
				continue;
			iou = p->metric == LNK_IOMIN ? lnk_iomin(lb, &b[i]) : lnk_iou(lb, &b[i]);
			d = centre_dist_mm(lb, &b[i], p->spacing);
			if (!(iou >= p->iou_min && iou > 0) && !(p->centre_mm > 0 && d <= p->centre_mm))
				continue;
			if (iou > best_iou || (iou == best_iou && d < best_d)) {
				best = j;
				best_iou = iou;
				best_d = d;
			}
		}
		if (best < 0) {
			best = ntracks++;
			t[best].first_slice = b[i].slice;
			t[best].nboxes = 0;
		}
		t[best].last_box = i;
		t[best].last_slice = b[i].slice;
		t[best].extended_at = b[i].slice;
		t[best].nboxes++;
		track_of[i] = best;
	}

	/* tracks -> lesions; idx is reused as the track -> lesion map */
	int *les_of_track = idx;
	for (int j = 0; j < ntracks; j++) {
		les_of_track[j] = -1;
		if (t[j].nboxes < p->min_slices)
			continue;
		struct lnk_lesion *l = &out[nles];
		memset(l, 0, sizeof *l);
		l->first_slice = t[j].first_slice;
		l->last_slice = t[j].last_slice;
		l->type = -1;
		les_of_track[j] = nles++;
	}
	for (int i = 0; i < n; i++) {
		int li = les_of_track[track_of[i]];
		struct lnk_lesion *l;
		lesion_of[i] = li;
		if (li < 0)
			continue;
		l = &out[li];
		l->nboxes++;
		if (p->agg == LNK_AGG_MEAN)
			l->probability += b[i].score;
		else if (b[i].score > l->probability)
			l->probability = b[i].score;
		for (int k = 0; k < p->ntypes; k++)
			l->type_prob[k] += b[i].score * b[i].type_prob[k];
	}
	for (int li = 0; li < nles; li++) {
		struct lnk_lesion *l = &out[li];
		float sum = 0;
		if (p->agg == LNK_AGG_MEAN)
			l->probability /= (float)l->nboxes;
		for (int k = 0; k < p->ntypes; k++)
			sum += l->type_prob[k];
		for (int k = 0; k < p->ntypes && sum > 0; k++) {
			l->type_prob[k] /= sum;
			if (l->type < 0 || l->type_prob[k] > l->type_prob[l->type])
				l->type = k;
		}
	}
	/* order lesions by probability (stable insertion sort) and renumber boxes */
	int *perm = track_of; /* track_of is no longer needed: reuse as old -> new */
	int *order = malloc((size_t)(nles > 0 ? nles : 1) * sizeof *order);
	if (order == NULL) {
		free(idx);
		free(t);
		return -1;
	}
	for (int i = 0; i < nles; i++)
		order[i] = i;
	for (int i = 1; i < nles; i++) {
		int v = order[i], j = i;
		while (j > 0 && out[order[j - 1]].probability < out[v].probability) {
			order[j] = order[j - 1];
			j--;
		}
		order[j] = v;
	}
	struct lnk_lesion *tmp = malloc((size_t)(nles > 0 ? nles : 1) * sizeof *tmp);
	if (tmp == NULL) {
		free(order);
		free(idx);
		free(t);
		return -1;
	}
	for (int i = 0; i < nles; i++) {
		tmp[i] = out[order[i]];
		perm[order[i]] = i;
	}
	memcpy(out, tmp, (size_t)nles * sizeof *out);
	free(tmp);
	for (int i = 0; i < n; i++)
		if (lesion_of[i] >= 0)
			lesion_of[i] = perm[lesion_of[i]];
	free(order);
	free(idx);
	free(t);
	return nles;
}
