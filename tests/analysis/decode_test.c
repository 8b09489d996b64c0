/*
 * Heat-map decoding (src/analysis/decode.h) on hand-made maps, and the mapping of boxes back
 * to image pixels (models/README.md [decode] step 3 and [input] step 3).
 */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "analysis/analysis.h"
#include "analysis/decode.h"

#define H 16
#define W 16
#define P (H * W)

static float heat[3 * P], size[2 * P], offset[2 * P];

static void clear_maps(void)
{
	memset(heat, 0, sizeof heat);
	for (int i = 0; i < P; i++) {
		size[i] = 2;       /* width, cells */
		size[P + i] = 3;   /* height, cells */
		offset[i] = 0.5f;
		offset[P + i] = 0.25f;
	}
}

static struct dec_maps maps(int ch)
{
	struct dec_maps m = {.h = H, .w = W, .heat_ch = ch, .heat = heat, .size = size,
			     .offset = offset};
	return m;
}

static struct dec_params params(void)
{
	struct dec_params p = {.stride = 4, .threshold = 0.1f, .nms_kernel = 3,
			       .size_unit = 4, .max_boxes = 8};
	return p;
}

Test(decode, two_peaks_boxes_and_order)
{
	struct dec_box b[8];
	struct dec_maps m;
	struct dec_params p = params();
	int n;

	clear_maps();
	heat[5 * W + 7] = 0.9f;       /* peak A at (x 7, y 5), class 0 */
	heat[5 * W + 8] = 0.5f;       /* its neighbour: suppressed */
	heat[P + 12 * W + 2] = 0.7f;  /* peak B at (2, 12), class 1 */
	heat[2 * P + 12 * W + 3] = 0.69f; /* class 2 next to B: suppressed by B */
	heat[0] = 0.05f;              /* below threshold */
	m = maps(3);
	n = dec_decode(&m, &p, b, 8);
	cr_assert_eq(n, 2);
	/* A: cx = (7 + 0.5) * 4 = 30, cy = (5 + 0.25) * 4 = 21, w = 8, h = 12 */
	cr_assert_float_eq(b[0].score, 0.9f, 1e-6);
	cr_assert_eq(b[0].type, 0);
	cr_assert_float_eq(b[0].x0, 26, 1e-5);
	cr_assert_float_eq(b[0].x1, 34, 1e-5);
	cr_assert_float_eq(b[0].y0, 15, 1e-5);
	cr_assert_float_eq(b[0].y1, 27, 1e-5);
	cr_assert_eq(b[1].type, 1);
	cr_assert_float_eq(b[1].score, 0.7f, 1e-6);
	cr_assert_float_eq(b[1].x0, 2.5f * 4 - 4, 1e-5);
	cr_assert_float_eq(b[1].type_prob[1], 1.0f, 0);
}

Test(decode, plateau_keeps_first_in_raster_order)
{
	struct dec_box b[8];
	struct dec_maps m;
	struct dec_params p = params();

	clear_maps();
	for (int y = 6; y <= 7; y++)
		for (int x = 3; x <= 4; x++)
			heat[y * W + x] = 0.8f;
	m = maps(1);
	cr_assert_eq(dec_decode(&m, &p, b, 8), 1);
	cr_assert_float_eq(b[0].x0, (3 + 0.5f) * 4 - 4, 1e-5);
	cr_assert_float_eq(b[0].y0, (6 + 0.25f) * 4 - 6, 1e-5);
	cr_assert_eq(b[0].type, -1); /* one channel, no types */
}

Test(decode, kernel_threshold_cap_and_logits)
{
	struct dec_box b[8];
	struct dec_maps m;
	struct dec_params p = params();

	clear_maps();
	/* two peaks two cells apart: separate with a 3x3 window, one with 5x5 */
	heat[8 * W + 4] = 0.6f;
	heat[8 * W + 6] = 0.5f;
	m = maps(1);
	cr_assert_eq(dec_decode(&m, &p, b, 8), 2);
	p.nms_kernel = 5;
	cr_assert_eq(dec_decode(&m, &p, b, 8), 1);
	p.nms_kernel = 4; /* even: refused */
	cr_assert_eq(dec_decode(&m, &p, b, 8), -1);
	p.nms_kernel = 3;
	p.max_boxes = 1;
	cr_assert_eq(dec_decode(&m, &p, b, 8), 1);
	cr_assert_float_eq(b[0].score, 0.6f, 1e-6);
	p.max_boxes = 8;
	p.threshold = 0.55f;
	cr_assert_eq(dec_decode(&m, &p, b, 8), 1);
	/* logits: 0 -> 0.5 everywhere is a plateau; one cell at 2 -> sigmoid 0.8808 */
	clear_maps();
	heat[3 * W + 3] = 2.0f;
	p.threshold = 0.6f;
	p.heat_logits = true;
	cr_assert_eq(dec_decode(&m, &p, b, 8), 1);
	cr_assert_float_eq(b[0].score, 1 / (1 + expf(-2)), 1e-6);
	cr_assert_float_eq(dec_max_score(&m, &p), 1 / (1 + expf(-2)), 1e-6);
}

Test(decode, negative_size_is_a_point_and_types_head)
{
	static float types[3 * P];
	struct dec_box b[8];
	struct dec_maps m;
	struct dec_params p = params();

	clear_maps();
	heat[4 * W + 4] = 0.9f;
	size[4 * W + 4] = -1;
	memset(types, 0, sizeof types);
	types[2 * P + 4 * W + 4] = logf(2); /* softmax: 1/4, 1/4, 2/4 */
	m = maps(1);
	m.ntypes = 3;
	m.types = types;
	cr_assert_eq(dec_decode(&m, &p, b, 8), 1);
	cr_assert_float_eq(b[0].x0, b[0].x1, 0);
	cr_assert_eq(b[0].type, 2);
	cr_assert_float_eq(b[0].type_prob[2], 0.5f, 1e-6);
	cr_assert_float_eq(b[0].type_prob[0], 0.25f, 1e-6);
}

/* [decode] step 3: col_min = round(x0 * s/dc - ox...), col_max = round(x1 ...) - 1 */
Test(decode, boxes_back_to_pixels)
{
	struct prep_map map;
	struct dec_box b = {.x0 = 26, .x1 = 34, .y0 = 15, .y1 = 27};
	double sp[2] = {1, 1};
	int c0, r0, c1, r1;

	/* identity: 256 x 256 onto 256 */
	prep_map_fit(256, 256, sp, 256, 256, true, &map);
	analysis_box_to_pixels(&map, &b, 256, 256, &c0, &r0, &c1, &r1);
	cr_assert_eq(c0, 26);
	cr_assert_eq(c1, 33);
	cr_assert_eq(r0, 15);
	cr_assert_eq(r1, 26);
	/* 512 x 512 onto 256: everything doubles */
	prep_map_fit(512, 512, sp, 256, 256, true, &map);
	analysis_box_to_pixels(&map, &b, 512, 512, &c0, &r0, &c1, &r1);
	cr_assert_eq(c0, 52);
	cr_assert_eq(c1, 67);
	cr_assert_eq(r0, 30);
	cr_assert_eq(r1, 53);
	/* 256 rows x 128 columns of 1 mm: s = 1, ox = 64: input x 70 is column 6 */
	prep_map_fit(256, 128, sp, 256, 256, true, &map);
	b.x0 = 70;
	b.x1 = 80;
	analysis_box_to_pixels(&map, &b, 256, 128, &c0, &r0, &c1, &r1);
	cr_assert_eq(c0, 6);
	cr_assert_eq(c1, 15);
	/* clipped to the image, and never empty */
	b.x0 = 10;
	b.x1 = 20; /* entirely in the left padding */
	analysis_box_to_pixels(&map, &b, 256, 128, &c0, &r0, &c1, &r1);
	cr_assert_eq(c0, 0);
	cr_assert_eq(c1, 0);
	/* anisotropic pixels: 200 x 100 of 0.5 x 1 mm (row spacing 0.5): 100 mm x 100 mm */
	double sp2[2] = {0.5, 1};
	prep_map_fit(200, 100, sp2, 256, 256, true, &map);
	cr_assert_float_eq(map.ax, 100.0 / 256, 1e-12);
	cr_assert_float_eq(map.ay, 200.0 / 256, 1e-12);
	cr_assert_float_eq(map.bx, 0, 1e-12);
}

Test(decode, mirror_mean)
{
	/* a 2 x 3 plane and the plane of the mirrored item: b[y][x] pairs with a[y][2 - x] */
	float a[6] = {1, 2, 3, 4, 5, 6};
	const float b[6] = {30, 20, 10, 60, 50, 40};
	float off[6] = {0.25f, 0.5f, 0.1f, 0, 1, 0.5f};
	const float boff[6] = {0.9f, 0.5f, 0.75f, 0.5f, 0.5f, 1};

	dec_mirror_mean(a, b, 2, 3, 1, 0);
	for (int i = 0; i < 6; i++)
		cr_assert_float_eq(a[i], 5.5f * (float)(i + 1), 1e-6, "cell %d: %g", i, a[i]);
	/* column offsets: the mirrored item's dx' stands for 1 - dx' (centre_shift 0), so
	 * matching predictions average to themselves; cell 4 disagrees: (1 + (1 - 0.5)) / 2 */
	dec_mirror_mean(off, boff, 2, 3, -1, 1);
	const float want[6] = {0.25f, 0.5f, 0.1f, 0, 0.75f, 0.5f};
	for (int i = 0; i < 6; i++)
		cr_assert_float_eq(off[i], want[i], 1e-6, "offset %d: %g", i, off[i]);
}
