/*
 * Grouping instances into series and checking each series is one sorted stack (series.h).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/geometry.h"
#include "analysis/series.h"

void series_set_init(struct series_set *set)
{
	memset(set, 0, sizeof *set);
}

static struct series *find_or_add(struct series_set *set, const struct pix_image *hdr)
{
	struct series *s;

	for (size_t i = 0; i < set->n; i++)
		if (strcmp(set->v[i].series_uid, hdr->series_uid) == 0)
			return &set->v[i];
	if (set->n == set->cap) {
		size_t cap = set->cap ? set->cap * 2 : 8;
		struct series *v = realloc(set->v, cap * sizeof *v);
		if (v == NULL)
			return NULL;
		set->v = v;
		set->cap = cap;
	}
	s = &set->v[set->n++];
	memset(s, 0, sizeof *s);
	snprintf(s->series_uid, sizeof s->series_uid, "%s", hdr->series_uid);
	snprintf(s->study_uid, sizeof s->study_uid, "%s", hdr->study_uid);
	snprintf(s->modality, sizeof s->modality, "%s", hdr->modality);
	return s;
}

int series_set_add(struct series_set *set, const char *path, const struct pix_image *hdr)
{
	struct series *s = find_or_add(set, hdr);
	struct series_slice *sl;

	if (s == NULL)
		return -ENOMEM;
	/* the same instance twice (two copies of one file): keep the first */
	if (hdr->sop_uid[0])
		for (size_t i = 0; i < s->n; i++)
			if (strcmp(s->slices[i].hdr.sop_uid, hdr->sop_uid) == 0)
				return 1;
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 16;
		struct series_slice *v = realloc(s->slices, cap * sizeof *v);
		if (v == NULL)
			return -ENOMEM;
		s->slices = v;
		s->cap = cap;
	}
	sl = &s->slices[s->n];
	memset(sl, 0, sizeof *sl);
	sl->path = strdup(path);
	if (sl->path == NULL)
		return -ENOMEM;
	sl->hdr = *hdr;
	sl->hdr.pixels = NULL;
	s->n++;
	return 0;
}

static int cmp_series(const void *a, const void *b)
{
	const struct series *x = a, *y = b;
	int c = strcmp(x->study_uid, y->study_uid);
	return c ? c : strcmp(x->series_uid, y->series_uid);
}

static int cmp_slice(const void *a, const void *b)
{
	const struct series_slice *x = a, *y = b;
	if (x->pos < y->pos)
		return -1;
	if (x->pos > y->pos)
		return 1;
	return strcmp(x->hdr.sop_uid, y->hdr.sop_uid);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

#define ORIENT_TOL 1e-3    /* direction cosine difference still "one orientation" */
#define SPACING_TOL 1e-3   /* relative pixel spacing difference */
#define POS_TOL 1e-3       /* mm: two images closer than this share a position */

int series_check(struct series *s)
{
	const struct pix_image *h0;

	s->skip[0] = '\0';
	if (s->n == 0) {
		snprintf(s->skip, sizeof s->skip, "no images");
		return -1;
	}
	h0 = &s->slices[0].hdr;
	for (size_t i = 0; i < s->n; i++) {
		struct pix_image *hm = &s->slices[i].hdr;
		if (!hm->has_spacing) { /* models/README.md: missing Pixel Spacing counts as 1\1 */
			hm->spacing[0] = 1;
			hm->spacing[1] = 1;
		}
	}
	for (size_t i = 0; i < s->n; i++) {
		const struct pix_image *h = &s->slices[i].hdr;
		if (h->skip[0]) {
			snprintf(s->skip, sizeof s->skip, "%s", h->skip);
			return -1;
		}
		if (!h->has_position || !h->has_orientation) {
			snprintf(s->skip, sizeof s->skip,
				 "image %s lacks Image Position or Image Orientation (Patient)",
				 h->sop_uid);
			return -1;
		}
		if (h->rows != h0->rows || h->cols != h0->cols ||
		    fabs(h->spacing[0] - h0->spacing[0]) > SPACING_TOL * h0->spacing[0] ||
		    fabs(h->spacing[1] - h0->spacing[1]) > SPACING_TOL * h0->spacing[1]) {
			snprintf(s->skip, sizeof s->skip, "images differ in size or pixel spacing");
			return -1;
		}
		for (int k = 0; k < 6; k++)
			if (fabs(h->iop[k] - h0->iop[k]) > ORIENT_TOL) {
				snprintf(s->skip, sizeof s->skip, "more than one orientation");
				return -1;
			}
	}
	if (!geo_normal(h0->iop, s->normal)) {
		snprintf(s->skip, sizeof s->skip, "invalid Image Orientation (Patient)");
		return -1;
	}
	for (size_t i = 0; i < s->n; i++)
		s->slices[i].pos = geo_dot(s->slices[i].hdr.ipp, s->normal);
	qsort(s->slices, s->n, sizeof *s->slices, cmp_slice);
	s->slice_spacing = 0;
	if (s->n > 1) {
		double *d = malloc((s->n - 1) * sizeof *d);
		if (d == NULL) {
			snprintf(s->skip, sizeof s->skip, "out of memory");
			return -1;
		}
		for (size_t i = 0; i + 1 < s->n; i++) {
			d[i] = s->slices[i + 1].pos - s->slices[i].pos;
			if (d[i] < POS_TOL) {
				free(d);
				snprintf(s->skip, sizeof s->skip,
					 "several images at one slice position (%.3f mm)",
					 s->slices[i].pos);
				return -1;
			}
		}
		qsort(d, s->n - 1, sizeof *d, cmp_double);
		s->slice_spacing = d[(s->n - 1) / 2];
		free(d);
	}
	return 0;
}

void series_set_finish(struct series_set *set)
{
	if (set->n > 1)
		qsort(set->v, set->n, sizeof *set->v, cmp_series);
	for (size_t i = 0; i < set->n; i++)
		series_check(&set->v[i]);
}

void series_set_free(struct series_set *set)
{
	for (size_t i = 0; i < set->n; i++) {
		for (size_t j = 0; j < set->v[i].n; j++)
			free(set->v[i].slices[j].path);
		free(set->v[i].slices);
	}
	free(set->v);
	memset(set, 0, sizeof *set);
}
