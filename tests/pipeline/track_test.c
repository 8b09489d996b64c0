/*
 * Lesion identity across analyses (src/pipeline/track.c): overlap and distance matching,
 * one-to-one assignment, types ignored, identifiers never reused.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "pipeline/track.h"

static const double AXIAL[3][3] = { { 1, 0, 0 }, { 0, 1, 0 }, { 0, 0, 1 } };
static int uid_counter;

static void fake_uid(char out[65])
{
	snprintf(out, 65, "9.9.%d", ++uid_counter);
}

static struct job_prev_finding prev_at(const char *type, double x, double y, double z, double ex,
				       double ey, double ez, const char *uid, const char *id)
{
	struct job_prev_finding p;
	memset(&p, 0, sizeof p);
	snprintf(p.type, sizeof p.type, "%s", type);
	p.centre[0] = x, p.centre[1] = y, p.centre[2] = z;
	p.extent[0] = ex, p.extent[1] = ey, p.extent[2] = ez;
	snprintf(p.tracking_uid, sizeof p.tracking_uid, "%s", uid);
	snprintf(p.tracking_id, sizeof p.tracking_id, "%s", id);
	return p;
}

static struct track_lesion les_at(double x, double y, double z, double ex, double ey, double ez)
{
	struct track_lesion l;
	memset(&l, 0, sizeof l);
	l.centre[0] = x, l.centre[1] = y, l.centre[2] = z;
	l.extent[0] = ex, l.extent[1] = ey, l.extent[2] = ez;
	return l;
}

Test(track, iou_of_boxes)
{
	double c[3] = { 0, 0, 0 }, e[3] = { 10, 10, 10 }, c2[3] = { 5, 0, 0 }, far[3] = { 20, 0, 0 };
	cr_expect_float_eq(track_iou(c, e, c, e, AXIAL), 1.0, 1e-12);
	/* half overlapping along x: 500 / (1000 + 1000 - 500) */
	cr_expect_float_eq(track_iou(c, e, c2, e, AXIAL), 1.0 / 3.0, 1e-12);
	cr_expect_float_eq(track_iou(c, e, far, e, AXIAL), 0.0, 1e-12);
	/* in a frame rotated 90 degrees about z the row axis is y: the x shift is along columns */
	const double rot[3][3] = { { 0, 1, 0 }, { -1, 0, 0 }, { 0, 0, 1 } };
	double ew[3] = { 4, 40, 10 }; /* 4 mm along rows (y), 40 mm along columns (x) */
	double c3[3] = { 15, 0, 0 };
	cr_expect_float_eq(track_iou(c, ew, c3, ew, rot), 25.0 / 55.0, 1e-12,
			   "a shift along the long axis keeps 25 of 40 mm");
	cr_expect_float_eq(track_iou(c, ew, c3, ew, AXIAL), 0.0, 1e-12);
}

Test(track, same_lesion_keeps_identifiers_despite_type_change)
{
	struct job_prev_finding prev[2] = {
		prev_at("glioma", 0, 0, 30, 20, 20, 12, "1.2.1", "Lesion 1"),
		prev_at("meningioma", 60, 0, 30, 10, 10, 6, "1.2.2", "Lesion 2"),
	};
	/* the first lesion, seen on one more slice and now typed differently; the second gone;
	 * a new one elsewhere */
	struct track_lesion les[2] = { les_at(1, -1, 32, 20, 22, 16), les_at(-60, 40, 0, 8, 8, 6) };
	uid_counter = 0;
	track_assign(prev, 2, AXIAL, les, 2, fake_uid);
	cr_expect_str_eq(les[0].tracking_uid, "1.2.1");
	cr_expect_str_eq(les[0].tracking_id, "Lesion 1");
	cr_expect_str_eq(les[1].tracking_uid, "9.9.1");
	cr_expect_str_eq(les[1].tracking_id, "Lesion 3", "a new lesion never takes a used number");
}

Test(track, distance_fallback_and_threshold)
{
	/* small boxes that do not overlap but whose centres are 12 mm apart: same lesion */
	struct job_prev_finding prev[1] = { prev_at("", 0, 0, 0, 4, 4, 4, "1.2.1", "Lesion 1") };
	struct track_lesion near[1] = { les_at(12, 0, 0, 4, 4, 4) };
	track_assign(prev, 1, AXIAL, near, 1, fake_uid);
	cr_expect_str_eq(near[0].tracking_uid, "1.2.1");
	/* 16 mm apart: another lesion */
	struct track_lesion far[1] = { les_at(16, 0, 0, 4, 4, 4) };
	uid_counter = 0;
	track_assign(prev, 1, AXIAL, far, 1, fake_uid);
	cr_expect_str_eq(far[0].tracking_uid, "9.9.1");
	cr_expect_str_eq(far[0].tracking_id, "Lesion 2");
}

Test(track, one_to_one_best_overlap)
{
	/* each new lesion in turn (most probable first) takes the unused previous one that it
	 * overlaps most; a third new lesion finds both taken */
	struct job_prev_finding prev[2] = {
		prev_at("", 0, 0, 0, 10, 10, 10, "1.2.1", "Lesion 1"),
		prev_at("", 8, 0, 0, 10, 10, 10, "1.2.2", "Lesion 4"),
	};
	struct track_lesion les[3] = { les_at(7, 0, 0, 10, 10, 10), les_at(1, 0, 0, 10, 10, 10),
				       les_at(2, 0, 0, 10, 10, 10) };
	uid_counter = 0;
	track_assign(prev, 2, AXIAL, les, 3, fake_uid);
	cr_expect_str_eq(les[0].tracking_uid, "1.2.2", "best overlap, not first in the list");
	cr_expect_str_eq(les[0].tracking_id, "Lesion 4");
	cr_expect_str_eq(les[1].tracking_uid, "1.2.1");
	cr_expect_str_eq(les[2].tracking_uid, "9.9.1", "a previous lesion is matched once");
	cr_expect_str_eq(les[2].tracking_id, "Lesion 5");
}

Test(track, legacy_findings_without_identifier)
{
	/* rows written before identifiers were stored stand for "Lesion <rank>" */
	struct job_prev_finding prev[2] = {
		prev_at("", 0, 0, 0, 10, 10, 10, "1.2.1", ""),
		prev_at("", 50, 0, 0, 10, 10, 10, "1.2.2", ""),
	};
	struct track_lesion les[2] = { les_at(50, 1, 0, 10, 10, 10), les_at(-50, 0, 0, 10, 10, 10) };
	uid_counter = 0;
	track_assign(prev, 2, AXIAL, les, 2, fake_uid);
	cr_expect_str_eq(les[0].tracking_uid, "1.2.2");
	cr_expect_str_eq(les[0].tracking_id, "Lesion 2");
	cr_expect_str_eq(les[1].tracking_id, "Lesion 3");
}

Test(track, no_predecessor)
{
	struct track_lesion les[2] = { les_at(0, 0, 0, 10, 10, 10), les_at(0, 0, 0, 10, 10, 10) };
	uid_counter = 0;
	track_assign(NULL, 0, AXIAL, les, 2, fake_uid);
	cr_expect_str_eq(les[0].tracking_id, "Lesion 1");
	cr_expect_str_eq(les[1].tracking_id, "Lesion 2");
	cr_expect_str_eq(les[0].tracking_uid, "9.9.1");
	cr_expect_str_eq(les[1].tracking_uid, "9.9.2");
}
