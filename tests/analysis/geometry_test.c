/*
 * Patient geometry on an oblique stack (PS3.3 C.7.6.2.1.1): pixel -> mm, the slice normal,
 * sorting a shuffled series along it, and a lesion's centre, extent and volume; plus the
 * series checks (mixed orientations, two images at one position, missing position).
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/analysis.h"
#include "analysis/geometry.h"
#include "analysis/series.h"

/* R = Rz(30 deg) * Rx(20 deg): X = R ex, Y = R ey, N = R ez */
static void rot(double X[3], double Y[3], double N[3])
{
	double a = 30 * M_PI / 180, b = 20 * M_PI / 180;
	double ca = cos(a), sa = sin(a), cb = cos(b), sb = sin(b);
	X[0] = ca; X[1] = sa; X[2] = 0;
	Y[0] = -sa * cb; Y[1] = ca * cb; Y[2] = sb;
	N[0] = sa * sb; N[1] = -ca * sb; N[2] = cb;
}

static const double O[3] = {-100, 50, 20};

static void make_series(struct series *s, int n, const int *order)
{
	double X[3], Y[3], N[3];

	rot(X, Y, N);
	memset(s, 0, sizeof *s);
	snprintf(s->modality, sizeof s->modality, "MR");
	s->n = (size_t)n;
	s->slices = calloc((size_t)n, sizeof *s->slices);
	for (int i = 0; i < n; i++) {
		struct pix_image *h = &s->slices[i].hdr;
		int k = order[i]; /* true position index */
		for (int j = 0; j < 3; j++) {
			/* stacked 3 mm apart along N, with an in-plane drift that must not matter */
			h->ipp[j] = O[j] + 3.0 * k * N[j] + 0.7 * k * X[j];
			h->iop[j] = X[j];
			h->iop[3 + j] = Y[j];
		}
		h->spacing[0] = 0.8; /* between rows */
		h->spacing[1] = 0.5; /* between columns */
		h->thickness = 3;
		h->rows = 100;
		h->cols = 120;
		h->has_position = h->has_orientation = h->has_spacing = true;
		snprintf(h->sop_uid, sizeof h->sop_uid, "1.2.%d", k);
	}
}

Test(geometry, pixel_to_patient_oblique)
{
	double X[3], Y[3], N[3], iop[6], p[3], n[3];
	double sp[2] = {0.8, 0.5};

	rot(X, Y, N);
	memcpy(iop, X, sizeof X);
	memcpy(iop + 3, Y, sizeof Y);
	geo_pixel_to_patient(O, iop, sp, 10, 20, p);
	for (int k = 0; k < 3; k++)
		cr_assert_float_eq(p[k], O[k] + 10 * 0.5 * X[k] + 20 * 0.8 * Y[k], 1e-9);
	cr_assert(geo_normal(iop, n));
	for (int k = 0; k < 3; k++)
		cr_assert_float_eq(n[k], N[k], 1e-12);
	double bad[6] = {1, 0, 0, 1, 0, 0}; /* parallel */
	cr_assert_not(geo_normal(bad, n));
}

Test(geometry, sort_and_lesion_geometry)
{
	static const int order[5] = {3, 0, 4, 1, 2};
	struct series s;
	double X[3], Y[3], N[3], c[3], e[3], vol;

	rot(X, Y, N);
	make_series(&s, 5, order);
	cr_assert_eq(series_check(&s), 0, "%s", s.skip);
	for (int i = 0; i < 5; i++) {
		char want[16];
		snprintf(want, sizeof want, "1.2.%d", i);
		cr_assert_str_eq(s.slices[i].hdr.sop_uid, want);
	}
	cr_assert_float_eq(s.slice_spacing, 3.0, 1e-9);

	/* a lesion on slices 1 and 2: 21 x 11 pixel boxes, probabilities 0.9 and 0.3 */
	struct an_box b[2] = {
		{.slice = 1, .col_min = 40, .row_min = 30, .col_max = 60, .row_max = 40,
		 .probability = 0.9f},
		{.slice = 2, .col_min = 44, .row_min = 30, .col_max = 64, .row_max = 40,
		 .probability = 0.3f},
	};
	analysis_lesion_geometry(&s, b, 2, c, e, &vol);
	/* centre: score-weighted mean of box centres (50, 35) and (54, 35) on slices 1, 2 */
	for (int k = 0; k < 3; k++) {
		double p1 = O[k] + 3.0 * 1 * N[k] + 0.7 * 1 * X[k] + 50 * 0.5 * X[k] + 35 * 0.8 * Y[k];
		double p2 = O[k] + 3.0 * 2 * N[k] + 0.7 * 2 * X[k] + 54 * 0.5 * X[k] + 35 * 0.8 * Y[k];
		cr_assert_float_eq(c[k], (0.9 * p1 + 0.3 * p2) / 1.2, 1e-5, "axis %d", k);
	}
	/* extent along X: slice 1 spans columns 39.5..60.5 from ipp1, slice 2 43.5..64.5 from
	 * ipp2 which is 0.7 mm further along X: [0.7 + 19.75, 1.4 + 32.25] */
	cr_assert_float_eq(e[0], (1.4 + 64.5 * 0.5) - (0.7 + 39.5 * 0.5), 1e-6);
	cr_assert_float_eq(e[1], 11 * 0.8, 1e-6);
	cr_assert_float_eq(e[2], 3 + 3, 1e-9);
	cr_assert_float_eq(vol, 2 * M_PI / 4 * (21 * 0.5) * (11 * 0.8) * 3, 1e-6);
	free(s.slices);
}

Test(geometry, series_checks)
{
	static const int order[3] = {0, 1, 2};
	struct series s;

	make_series(&s, 3, order);
	s.slices[2].hdr.iop[0] += 0.01; /* a second orientation */
	cr_assert_neq(series_check(&s), 0);
	cr_assert(strstr(s.skip, "orientation") != NULL, "%s", s.skip);
	free(s.slices);

	make_series(&s, 3, order);
	memcpy(s.slices[2].hdr.ipp, s.slices[1].hdr.ipp, sizeof s.slices[1].hdr.ipp);
	cr_assert_neq(series_check(&s), 0);
	cr_assert(strstr(s.skip, "one slice position") != NULL, "%s", s.skip);
	free(s.slices);

	make_series(&s, 3, order);
	s.slices[0].hdr.has_position = false;
	cr_assert_neq(series_check(&s), 0);
	free(s.slices);

	make_series(&s, 3, order);
	s.slices[1].hdr.cols = 64;
	cr_assert_neq(series_check(&s), 0);
	free(s.slices);

	make_series(&s, 3, order);
	snprintf(s.slices[1].hdr.skip, sizeof s.slices[1].hdr.skip, "unsupported transfer syntax X");
	cr_assert_neq(series_check(&s), 0);
	cr_assert_str_eq(s.skip, "unsupported transfer syntax X");
	free(s.slices);
}

Test(geometry, series_set_groups_and_orders)
{
	struct series_set set;
	struct pix_image h;

	series_set_init(&set);
	memset(&h, 0, sizeof h);
	const char *uids[][2] = {{"1.9", "1.9.2"}, {"1.1", "1.1.5"}, {"1.9", "1.9.1"},
				 {"1.9", "1.9.2"}};
	for (int i = 0; i < 4; i++) {
		snprintf(h.study_uid, sizeof h.study_uid, "%s", uids[i][0]);
		snprintf(h.series_uid, sizeof h.series_uid, "%s", uids[i][1]);
		h.has_position = h.has_orientation = true;
		h.iop[0] = h.iop[4] = 1;
		h.ipp[2] = i;
		h.rows = h.cols = 8;
		snprintf(h.sop_uid, sizeof h.sop_uid, "1.5.%d", i);
		cr_assert_eq(series_set_add(&set, "/x", &h), 0);
	}
	/* a second copy of an instance is not added */
	h.ipp[2] = 7;
	cr_assert_eq(series_set_add(&set, "/y", &h), 1);
	series_set_finish(&set);
	cr_assert_eq(set.n, 3);
	cr_assert_str_eq(set.v[0].series_uid, "1.1.5");
	cr_assert_str_eq(set.v[1].series_uid, "1.9.1");
	cr_assert_str_eq(set.v[2].series_uid, "1.9.2");
	cr_assert_eq(set.v[2].n, 2);
	cr_assert_str_empty(set.v[2].skip, "%s", set.v[2].skip);
	cr_assert_float_eq(set.v[2].slices[0].hdr.spacing[0], 1.0, 0); /* missing: 1\1 */
	series_set_free(&set);
}
