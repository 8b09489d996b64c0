/*
 * The detector's analysis of one series: the public interface of src/analysis for the
 * dicomaid-detect tool and the daemon's analysis workers.
 *
 *   analysis_model_load()   manifest (INI, see models/README.md) + its ONNX file -> an
 *                           immutable struct analysis_model, shareable by any threads
 *   analysis_ctx_new()      one per worker thread (the engine's scratch arena)
 *   series_set_*()          (series.h) group files into series, sort stacks
 *   analysis_run_series()   pixels -> preprocessing -> batched inference -> per-slice
 *                           boxes -> 3-D lesions -> study probability
 *
 * No global state. The caller sets OpenBLAS's thread count. Functions return 0 or a negative
 * code and write one line into err (errlen > 0).
 */
#ifndef DICOMAID_ANALYSIS_ANALYSIS_H
#define DICOMAID_ANALYSIS_ANALYSIS_H

#include <stdbool.h>
#include <stddef.h>

#include "analysis/decode.h"
#include "analysis/link.h"
#include "analysis/preprocess.h"
#include "analysis/series.h"

enum analysis_error {
	AN_EMANIFEST = -3101,  /* manifest unreadable or invalid */
	AN_EMODEL = -3102,     /* ONNX file unreadable, or its inputs/outputs do not fit */
	AN_ENOTAPPLIC = -3103, /* the series is not one the model analyses (reason in err) */
	AN_EPIXELS = -3104,    /* an image of the series cannot be read or decoded */
	AN_ENOMEM = -3105,
	AN_ERUN = -3106,       /* the engine refused a run */
};

enum an_norm {
	AN_NORM_NONE = 0,
	AN_NORM_ZSCORE,        /* (v - mean) / std */
	AN_NORM_PERCENTILE,    /* (v - P[p_low]) / (P[p_high] - P[p_low]) */
	AN_NORM_MINMAX,        /* (v - min) / (max - min) */
};

struct an_label {
	char name[32];         /* JSON name: "glioma", "meningioma", "pituitary" */
	char code_value[32];   /* coded concept of the finding (PS3.3 8.8), e.g. SNOMED CT */
	char code_scheme[16];  /* e.g. "SCT" */
	char code_meaning[96];
};

enum an_fit {
	AN_FIT_STRETCH = 0,    /* the whole image stretched onto the input grid */
	AN_FIT_PAD_CENTRE,     /* scaled by one factor so its longer side fills the grid, centred,
	                          the rest padded with pad_value */
};

/* The model manifest, parsed (keys: models/README.md). Read-only after load. */
struct an_manifest {
	/* [model] */
	char name[96];         /* name */
	char algorithm[96];    /* algorithm (a description) */
	char version[32];      /* algorithm version */
	char manufacturer[64]; /* optional */
	char device_uid[65];   /* Device Observer UID: changes whenever the weights change */
	char sha256[65];       /* of the ONNX file, as the manifest states it ("" if absent) */
	char onnx_path[4096];  /* onnx, resolved against the manifest's folder */
	char input_name[64];   /* the graph input ("" = the first) */
	int max_batch;         /* slices per engine run (optional, default 8) */
	/* [input] */
	int width, height;     /* size (square) or width/height: the network input grid */
	int channels;          /* neighbouring slices stacked as channels (odd), centred */
	enum prep_method resample;
	enum an_fit fit;
	float pad_value;       /* network input value of padding (after normalisation) */
	enum an_norm norm;
	bool norm_volume;      /* scope = series: statistics over the whole series; slice: each */
	double p_low, p_high;  /* percentiles (AN_NORM_PERCENTILE) */
	bool clip;             /* clip_min/clip_max given */
	double clip_min, clip_max;
	char modality[17];     /* series modality required ("" = any; default MR) */
	int min_slices;        /* shortest series analysed (default 1) */
	/* [output] */
	int stride;
	char head_heat[64], head_size[64], head_offset[64], head_types[64]; /* output names;
	                          offset and types may be "" */
	int classes;           /* heat-map channels (= labels when there is no types head) */
	bool heat_logits;      /* heatmap_activation: sigmoid still to apply */
	bool size_log;
	float size_unit;       /* size_units: input pixels per unit (cells: stride; pixels: 1) */
	float centre_shift;    /* see decode.h */
	bool mirror_average;   /* mirror_average = columns: each item also runs mirrored
	                          left-right, the maps averaged (decode.h dec_mirror_mean) */
	/* [decode] */
	float peak_threshold;  /* candidate peaks (also what linking sees) */
	float report_threshold;/* study_threshold: lesions reported at or above this */
	int nms_kernel, max_per_slice;
	enum lnk_metric link_metric; /* link_overlap (LNK_IOMIN) or link_iou (LNK_IOU) */
	float link_iou, link_centre_mm;
	int link_max_gap, lesion_min_slices;
	enum lnk_agg lesion_agg;
	/* [label NAME], ordered by index */
	int nlabels;
	struct an_label labels[DEC_MAX_TYPES];
};

struct analysis_model;
struct nn_ctx;

/* Longest series analysed (its pixels are held in memory as float during the run). */
#define AN_MAX_SLICES 1000
/* Largest angle between the slice normal and the patient's foot-head axis of a series still
 * treated as axial (the bundled model knows axial slices, models/README.md [input] 4). */
#define AN_MAX_TILT_DEG 30

/*
 * Parse the manifest at path and load the ONNX file it names, after checking the file's
 * SHA-256 against the manifest's sha256 when it states one. On success *out owns the model
 * (analysis_model_free). Errors: AN_EMANIFEST with "path:line: message", AN_EMODEL (file
 * unreadable, digest differs, inputs/outputs do not fit the manifest), AN_ENOMEM.
 */
int analysis_model_load(const char *manifest_path, struct analysis_model **out, char *err,
			size_t errlen);

/* Parse a manifest only (no ONNX load); dir resolves the ONNX file name. For tests/tools.
 * label prefixes error lines. */
int analysis_manifest_parse(const char *text, const char *label, const char *dir,
			    struct an_manifest *out, char *err, size_t errlen);

void analysis_model_free(struct analysis_model *m);

/* The manifest (borrowed from m). */
const struct an_manifest *analysis_model_manifest(const struct analysis_model *m);

/* Inference cost per slice in FLOP (from the engine). */
double analysis_model_flops(const struct analysis_model *m);

/* A per-thread context (the engine's arena); borrows m. NULL on ENOMEM. Free with
 * analysis_ctx_free(). */
struct nn_ctx *analysis_ctx_new(const struct analysis_model *m);
void analysis_ctx_free(struct nn_ctx *c);

/* One box of a lesion, on one image. */
struct an_box {
	int slice;             /* index into the series' sorted slices */
	const char *sop_uid;   /* borrowed from the series */
	int col_min, row_min, col_max, row_max; /* inclusive pixel indices, clipped */
	float probability;
};

struct an_lesion {
	int type;              /* index into manifest labels; -1 when the model gives none */
	float probability;
	double centre_mm[3];   /* patient coordinates (LPS, PS3.3 C.7.6.2.1.1) */
	double extent_mm[3];   /* along row direction, column direction, slice normal */
	double volume_mm3;     /* sum over slices of the box's inscribed ellipse x spacing */
	int nboxes;
	struct an_box *boxes;  /* owned by the result, slice order */
};

struct analysis_result {
	float study_probability; /* the highest probability of all linked lesions (reported or
	                            not); 0 when there is none (models/README.md [decode] 6) */
	int nlesions;          /* reported lesions: probability >= the threshold asked for */
	struct an_lesion *lesions; /* owned, highest probability first */
	int nslices;
	double seconds;        /* wall time of the run */
};

/*
 * Whether the model analyses series s (checked, sorted: series.h). Returns true, or false
 * with the reason in why.
 */
bool analysis_applicable(const struct analysis_model *m, const struct series *s, char *why,
			 size_t whylen);

/*
 * Analyse series s (borrowed; must outlive out, whose boxes borrow its SOP UIDs) with model
 * m and context ctx (the calling thread's). threshold < 0 uses the manifest's report
 * threshold. On success out is filled (free with analysis_result_free). Errors:
 * AN_ENOTAPPLIC, AN_EPIXELS, AN_ENOMEM, AN_ERUN with a line in err; out is then empty.
 */
int analysis_run_series(const struct analysis_model *m, struct nn_ctx *ctx,
			const struct series *s, float threshold, struct analysis_result *out,
			char *err, size_t errlen);

/* The same, also writing DIR/<series UID>.input.npy (slices x 1 x H x W, the network input)
 * and DIR/<series UID>.<output name>.npy for each output head used (slices x C x h x w), for
 * checking the C path against another implementation of models/README.md. dump_dir may be
 * NULL (no files). */
int analysis_run_series_dump(const struct analysis_model *m, struct nn_ctx *ctx,
			     const struct series *s, float threshold, const char *dump_dir,
			     struct analysis_result *out, char *err, size_t errlen);

void analysis_result_free(struct analysis_result *r);

/* The lesion geometry of analysis_run_series, exposed for tests: centre, extent and volume
 * of boxes b[0..n) on series s. */
void analysis_lesion_geometry(const struct series *s, const struct an_box *b, int n,
			      double centre[3], double extent[3], double *volume);

/* Map a box found on the input grid (decode.h input index coordinates) back to inclusive
 * pixel indices of an image of rows x cols, clipped: pixels at least half covered. */
void analysis_box_to_pixels(const struct prep_map *map, const struct dec_box *b, int rows,
			    int cols, int *col_min, int *row_min, int *col_max, int *row_max);

#endif
