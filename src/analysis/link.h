/*
 * Linking per-slice boxes into 3-D lesions (pure: only scratch memory, freed before return;
 * no I/O). Slices are processed in stack order; a box joins the best track whose last box lies
 * on one of the previous 1 + max_gap slices, when the two boxes overlap (overlap >= iou_min,
 * and > 0; the overlap is the 2-D IoU or, with LNK_IOMIN, the intersection over the smaller
 * box's area) or, when centre_mm > 0, their centres are within centre_mm in the image plane;
 * of several such tracks the one of largest overlap wins; otherwise the box starts a new one.
 * Each track takes at most one box per slice (higher scores choose first). A track becomes a
 * lesion when it has at least min_slices boxes; its probability is the maximum or the mean
 * of its box scores, its type the argmax of the score-weighted sum of its boxes' type
 * probabilities (a soft vote).
 */
#ifndef DICOMAID_ANALYSIS_LINK_H
#define DICOMAID_ANALYSIS_LINK_H

#include "analysis/decode.h"

struct lnk_box {
	int slice;                     /* index in the sorted stack */
	int col_min, row_min, col_max, row_max; /* inclusive pixel indices */
	float score;
	int type;                      /* -1: none */
	float type_prob[DEC_MAX_TYPES];
};

enum lnk_agg { LNK_AGG_MAX = 0, LNK_AGG_MEAN = 1 };
enum lnk_metric { LNK_IOU = 0, LNK_IOMIN = 1 };

struct lnk_params {
	enum lnk_metric metric;        /* how overlap is measured */
	float iou_min;                 /* link when overlap >= this ... */
	float centre_mm;               /* ... or centre distance <= this (mm; 0 disables) */
	double spacing[2];             /* pixel spacing {row, column} of the series, mm */
	int max_gap;                   /* slices without a box a lesion may bridge */
	int min_slices;                /* fewest boxes a lesion keeps */
	enum lnk_agg agg;              /* lesion probability from its box scores */
	int ntypes;                    /* size of type_prob in use, 0..DEC_MAX_TYPES */
};

struct lnk_lesion {
	int first_slice, last_slice;
	int nboxes;
	float probability;
	int type;                      /* -1: no type information */
	float type_prob[DEC_MAX_TYPES];/* normalised vote */
};

/*
 * Link n boxes (any order; borrowed). lesion_of[i] (n entries, caller's) receives the lesion
 * index of box i or -1 when its track was dropped (shorter than min_slices). out (caller's,
 * room for n lesions) receives the lesions, highest probability first. Returns the number of
 * lesions, or -1 for bad arguments or when scratch (2n ints) cannot be allocated.
 */
int lnk_link(const struct lnk_box *boxes, int n, const struct lnk_params *p, int *lesion_of,
	     struct lnk_lesion *out);

/* 2-D IoU of two inclusive pixel boxes (0 when disjoint). */
double lnk_iou(const struct lnk_box *a, const struct lnk_box *b);

/* Intersection over the smaller box's area (0 when disjoint; 1 when one holds the other). */
double lnk_iomin(const struct lnk_box *a, const struct lnk_box *b);

#endif
