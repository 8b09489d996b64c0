/*
 * Decoding a CenterNet-style detector's output maps for one slice into boxes (pure: no
 * allocation, no I/O, no global state). The maps are per item, channel-major (C x H x W) at
 * 1/stride of the network input:
 *   heat    C_h channels of object-centre scores (probabilities, or logits when
 *           decode_params.heat_logits); with C_h > 1 and no type map, channel k is type k;
 *   size    2 channels, box width then height (in units of decode_params.size_unit);
 *   offset  optional, 2 channels, sub-cell centre offset x then y, in cells;
 *   types   optional, K channels of type logits (softmax at the peak).
 * A cell's score is the maximum over the heat channels. A peak is a cell whose score reaches
 * the threshold and is the maximum of its k x k window (max-pool NMS; on a plateau the first
 * cell in row-major order wins); the best max_boxes peaks are kept (models/README.md [decode]).
 *
 * Coordinates: continuous input coordinates where input pixel j spans [j, j+1); a box is
 * [x0, x1) x [y0, y1), so one covering input pixels 10..19 has x0 = 10, x1 = 20.
 */
#ifndef DICOMAID_ANALYSIS_DECODE_H
#define DICOMAID_ANALYSIS_DECODE_H

#include <stdbool.h>

#define DEC_MAX_TYPES 8

struct dec_box {
	float x0, y0, x1, y1;          /* edges, continuous input coordinates (see above) */
	float score;                   /* centre score, a probability */
	int type;                      /* argmax of type_prob; -1 when the model gives no type */
	float type_prob[DEC_MAX_TYPES];
};

struct dec_maps {
	int h, w;                      /* map size */
	int heat_ch;                   /* C_h >= 1 */
	const float *heat;             /* heat_ch*h*w, borrowed */
	const float *size;             /* 2*h*w, borrowed */
	const float *offset;           /* 2*h*w or NULL */
	int ntypes;                    /* K, 0 when types == NULL */
	const float *types;            /* ntypes*h*w or NULL */
};

struct dec_params {
	int stride;                    /* input pixels per map cell */
	bool heat_logits;              /* apply the logistic function to heat first */
	float threshold;               /* minimum centre score of a peak */
	int nms_kernel;                /* odd window of the max-pool NMS, >= 1 */
	float size_unit;               /* input pixels per size unit (1: pixels; stride: cells) */
	bool size_log;                 /* size holds log(size) */
	float centre_shift;            /* centre_x = (x + dx) * stride + centre_shift (0 for the
	                                  bundled model: offsets run 0..1 across the cell) */
	int max_boxes;                 /* keep at most this many, best first */
};

/* Decode one item's maps. Writes up to min(max, p->max_boxes) boxes, best score first, into
 * out (borrowed) and returns how many, or -1 for bad arguments. */
int dec_decode(const struct dec_maps *maps, const struct dec_params *p, struct dec_box *out,
	       int max);

/*
 * Mirror averaging (models/README.md [output] mirror_average), one h x w plane:
 * a[y][x] = (a[y][x] + add + sign * b[y][w - 1 - x]) / 2, where b is the same map computed on
 * the item with its columns reversed. For the column offset, sign = -1 and
 * add = 1 - 2 * centre_shift / stride (a centre at input column u of the mirrored item lies at
 * column W - u of the item, W = w * stride); for every other map sign = 1 and add = 0.
 */
void dec_mirror_mean(float *a, const float *b, int h, int w, float sign, float add);

/* The highest centre score of an item's heat maps (after the logistic when heat_logits). */
float dec_max_score(const struct dec_maps *maps, const struct dec_params *p);

#endif
