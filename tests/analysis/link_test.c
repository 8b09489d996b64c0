/*
 * Linking per-slice boxes into lesions (src/analysis/link.h): two lesions side by side,
 * bridged and unbridged gaps, one box per slice per lesion, the type vote, min_slices, and
 * intersection-over-smaller vs IoU.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "analysis/link.h"

static struct lnk_box box(int slice, int c0, int r0, int c1, int r1, float score, int type)
{
	struct lnk_box b;
	memset(&b, 0, sizeof b);
	b.slice = slice;
	b.col_min = c0;
	b.row_min = r0;
	b.col_max = c1;
	b.row_max = r1;
	b.score = score;
	b.type = type;
	if (type >= 0)
		b.type_prob[type] = 1;
	return b;
}

static struct lnk_params params(void)
{
	struct lnk_params p = {.metric = LNK_IOMIN, .iou_min = 0.3f, .spacing = {1, 1},
			       .max_gap = 1, .min_slices = 1, .agg = LNK_AGG_MAX, .ntypes = 3};
	return p;
}

Test(link, two_lesions_gap_and_vote)
{
	/* lesion A around (20..40) on slices 2,3,5 (gap of one at 4), types 0,1,0;
	 * lesion B around (100..120) on slices 3,4; given in scrambled order */
	struct lnk_box b[] = {
		box(5, 22, 22, 38, 38, 0.6f, 0),
		box(3, 100, 100, 120, 120, 0.7f, 2),
		box(2, 20, 20, 40, 40, 0.5f, 0),
		box(3, 21, 21, 41, 41, 0.9f, 1),
		box(4, 101, 101, 119, 119, 0.8f, 2),
	};
	int of[5];
	struct lnk_lesion les[5];
	struct lnk_params p = params();
	int n = lnk_link(b, 5, &p, of, les);

	cr_assert_eq(n, 2);
	/* ordered by probability: A (0.9) then B (0.8) */
	cr_assert_float_eq(les[0].probability, 0.9f, 1e-6);
	cr_assert_eq(les[0].nboxes, 3);
	cr_assert_eq(les[0].first_slice, 2);
	cr_assert_eq(les[0].last_slice, 5);
	/* vote: type 0 has 0.6 + 0.5 = 1.1 > type 1's 0.9 */
	cr_assert_eq(les[0].type, 0);
	cr_assert_float_eq(les[0].type_prob[0], 1.1f / 2.0f, 1e-6);
	cr_assert_eq(les[1].type, 2);
	cr_assert_eq(les[1].nboxes, 2);
	cr_assert_eq(of[0], 0);
	cr_assert_eq(of[2], 0);
	cr_assert_eq(of[3], 0);
	cr_assert_eq(of[1], 1);
	cr_assert_eq(of[4], 1);

	/* without gap bridging A splits at slice 4: slices 2-3 and 5 */
	p.max_gap = 0;
	n = lnk_link(b, 5, &p, of, les);
	cr_assert_eq(n, 3);
	cr_assert_neq(of[0], of[2]);
	cr_assert_eq(of[2], of[3]);
	/* and min_slices = 2 drops the lone box on slice 5 */
	p.min_slices = 2;
	n = lnk_link(b, 5, &p, of, les);
	cr_assert_eq(n, 2);
	cr_assert_eq(of[0], -1);
	/* mean aggregation */
	p.agg = LNK_AGG_MEAN;
	p.max_gap = 1;
	p.min_slices = 1;
	n = lnk_link(b, 5, &p, of, les);
	cr_assert_eq(n, 2);
	cr_assert_float_eq(les[of[0]].probability, (0.6f + 0.5f + 0.9f) / 3, 1e-6);
	cr_assert_float_eq(les[of[1]].probability, (0.7f + 0.8f) / 2, 1e-6);
	cr_assert_eq(of[1], 0); /* B now ranks first */
}

Test(link, one_box_per_slice_and_best_overlap)
{
	/* two overlapping boxes on slice 1 can't both join the lesion of slice 0 */
	struct lnk_box b[] = {
		box(0, 10, 10, 30, 30, 0.9f, 0),
		box(1, 10, 10, 30, 30, 0.8f, 0),
		box(1, 12, 12, 32, 32, 0.7f, 0),
	};
	int of[3];
	struct lnk_lesion les[3];
	struct lnk_params p = params();

	cr_assert_eq(lnk_link(b, 3, &p, of, les), 2);
	cr_assert_eq(of[0], of[1]);
	cr_assert_neq(of[0], of[2]);
}

Test(link, tapering_ends_iomin_vs_iou)
{
	/* a small end box inside a big middle one: IoU 0.0625, inside-smaller 1 */
	struct lnk_box b[] = {
		box(0, 0, 0, 39, 39, 0.9f, 0),
		box(1, 15, 15, 24, 24, 0.5f, 0),
	};
	int of[2];
	struct lnk_lesion les[2];
	struct lnk_params p = params();

	cr_assert_float_eq(lnk_iou(&b[0], &b[1]), 100.0 / 1600.0, 1e-12);
	cr_assert_float_eq(lnk_iomin(&b[0], &b[1]), 1.0, 1e-12);
	cr_assert_eq(lnk_link(b, 2, &p, of, les), 1);
	p.metric = LNK_IOU;
	cr_assert_eq(lnk_link(b, 2, &p, of, les), 2);
	/* centre distance links them again */
	p.centre_mm = 5;
	cr_assert_eq(lnk_link(b, 2, &p, of, les), 1);
	/* disjoint boxes never link by overlap 0 */
	struct lnk_box d[] = {box(0, 0, 0, 9, 9, 0.9f, 0), box(1, 50, 50, 59, 59, 0.9f, 0)};
	p = params();
	p.iou_min = 0;
	cr_assert_eq(lnk_link(d, 2, &p, of, les), 2);
	cr_assert_eq(lnk_link(d, 0, &p, of, les), 0);
}
