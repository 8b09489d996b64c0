/*
 * mkfixture OUTDIR SIZE [OFFSET_X [logits]]: writes a hand-made detector and a study whose
 * answer is known, for tests/analysis/detect_tiny.sh:
 *
 *   OUTDIR/tiny.onnx  input "image" N x 1 x 64 x 64; A = AveragePool 4x4/4 of the image;
 *                     heatmap = Sigmoid(Conv1x1(A)), weights {20, 8, 0}, biases {-35, -12, -10}
 *                     (so a cell of mean 2 scores sigmoid(5) as glioma, mean 1.5 scores 0.5 as
 *                     meningioma, mean 1 stays below 0.1); size = {2, 3} cells; offset =
 *                     {OFFSET_X (default 0.5), 0.5}; with "logits" the graph leaves out the
 *                     Sigmoid (heatmap = the logits) and the manifest says so
 *   OUTDIR/tiny.ini   its manifest, in the bundled model's form (models/README.md)
 *   OUTDIR/study/     5 axial MR slices of SIZE x SIZE (64 or 128) covering 64 mm, 3 mm apart,
 *                     alternating explicit / implicit VR, with Rescale Slope 2 / Intercept -50:
 *                     background 100 with a dark strip (the first 6 mm of columns), lesion A
 *                     (value 300) at mm columns 28-31, rows 32-35 on slices 1-3, lesion B (150)
 *                     at mm columns 48-51, rows 12-15 on slice 4; files written in scrambled
 *                     order; plus a CT series (skipped: modality), a sagittal MR series
 *                     (skipped: not axial) and a non-DICOM file.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../nn/onnx_build.h"
#include "fixture.h"

static int write_model(const char *path, float offset_x, bool logits)
{
	struct mb b;
	int64_t in_dims[4] = {-1, 1, 64, 64};
	int64_t w3[4] = {3, 1, 1, 1}, w2[4] = {2, 1, 1, 1}, d3[1] = {3}, d2[1] = {2};
	float hw[3] = {20, 8, 0}, hb[3] = {-35, -12, -10};
	float zero[2] = {0, 0}, sb[2] = {2, 3}, ob[2] = {offset_x, 0.5f};
	Onnx__NodeProto *n;
	size_t len;
	uint8_t *buf;
	FILE *f;
	int rc = 0;

	mb_init(&b, 13);
	mb_input(&b, "image", 4, in_dims);
	mb_init_f(&b, "hw", 4, w3, hw);
	mb_init_f(&b, "hb", 1, d3, hb);
	mb_init_f(&b, "sw", 4, w2, zero);
	mb_init_f(&b, "sb", 1, d2, sb);
	mb_init_f(&b, "ow", 4, w2, zero);
	mb_init_f(&b, "ob", 1, d2, ob);
	n = mb_node(&b, "AveragePool", "pool", "image", "a");
	mb_attr_ints(&b, n, "kernel_shape", 2, (int64_t)4, (int64_t)4);
	mb_attr_ints(&b, n, "strides", 2, (int64_t)4, (int64_t)4);
	if (logits) {
		mb_node(&b, "Conv", "heat", "a,hw,hb", "heatmap");
	} else {
		mb_node(&b, "Conv", "heat", "a,hw,hb", "h");
		mb_node(&b, "Sigmoid", "sig", "h", "heatmap");
	}
	mb_node(&b, "Conv", "size", "a,sw,sb", "size");
	mb_node(&b, "Conv", "offset", "a,ow,ob", "offset");
	mb_output(&b, "heatmap");
	mb_output(&b, "size");
	mb_output(&b, "offset");
	buf = mb_pack(&b, &len);
	f = fopen(path, "wb");
	if (f == NULL || fwrite(buf, 1, len, f) != len)
		rc = -1;
	if (f && fclose(f) != 0)
		rc = -1;
	free(buf);
	mb_free(&b);
	return rc;
}

static const char manifest[] =
	"; the hand-made detector of tests/analysis/mkfixture.c\n"
	"[model]\n"
	"name = tiny-test-detector\n"
	"algorithm = hand-made test network\n"
	"version = 1\n"
	"device_uid = 2.25.4242\n"
	"onnx = tiny.onnx\n"
	"input_name = image\n"
	"\n[input]\n"
	"size = 64\nchannels = 1\nresample = bilinear\nfit = pad_centre\npad_value = 0.0\n"
	"normalise = percentile\nscope = series\np_low = 1.0\np_high = 99.0\n"
	"clip_min = 0.0\nclip_max = 2.0\norientation = as_stored\n"
	"\n[output]\n"
	"stride = 4\nheatmap = heatmap\nheatmap_activation = sigmoid_applied\nsize = size\n"
	"size_units = cells\noffset = offset\nclasses = 3\n"
	"\n[decode]\n"
	"peak_threshold = 0.1\nnms_kernel = 3\nmax_peaks = 8\nlink_overlap = 0.3\nlink_gap = 1\n"
	"min_slices = 1\nstudy_threshold = 0.5\n"
	"\n[label glioma]\nindex = 0\ncode = 393564001\nscheme = SCT\nmeaning = Glioma of brain\n"
	"\n[label meningioma]\nindex = 1\ncode = 302820008\nscheme = SCT\n"
	"meaning = Intracranial meningioma\n"
	"\n[label pituitary]\nindex = 2\ncode = 254956000\nscheme = SCT\n"
	"meaning = Pituitary adenoma\n";

/* The manifest above; with logits, heatmap_activation = none. */
static int write_manifest(const char *path, bool logits)
{
	static const char act[] = "heatmap_activation = sigmoid_applied";
	const char *at = strstr(manifest, act);
	FILE *f = fopen(path, "w");

	if (f == NULL)
		return -1;
	if (fprintf(f, "%.*s%s%s", (int)(at - manifest), manifest,
		    logits ? "heatmap_activation = none" : act, at + strlen(act)) < 0) {
		fclose(f);
		return -1;
	}
	return fclose(f) == 0 ? 0 : -1;
}

/* value (after the Modality LUT) at mm position (x, y) of slice z */
static double value(double x, double y, int z)
{
	if (x < 6)
		return 0;
	if (z >= 1 && z <= 3 && x >= 28 && x < 32 && y >= 32 && y < 36)
		return 300;
	if (z == 4 && x >= 48 && x < 52 && y >= 12 && y < 16)
		return 150;
	return 100;
}

static int write_series(const char *dir, int size, const char *modality, const char *series,
			int nslices, bool sagittal)
{
	static const int order[5] = {3, 0, 4, 1, 2};
	double px = 64.0 / size;
	uint16_t *pix = malloc((size_t)size * size * sizeof *pix);
	char path[1024], sop[64];

	if (pix == NULL)
		return -1;
	for (int i = 0; i < nslices; i++) {
		int z = order[i % 5];
		struct fx_image im = {
			.study_uid = "2.25.1001", .series_uid = series, .sop_uid = sop,
			.modality = modality, .implicit_vr = z % 2, .rows = size, .cols = size,
			.bits_allocated = 16, .bits_stored = 16, .high_bit = 15, .pixel_rep = 0,
			.ipp = {-32, -32, 10 + 3 * z}, .iop = {1, 0, 0, 0, 1, 0}, .spacing = {px, px},
			.thickness = 3, .slope = "2", .intercept = "-50", .instance = z + 1,
			.pixels = pix,
		};
		if (sagittal) { /* rows foot-wards, columns anterior-wards, stacked along x */
			double iop[6] = {0, 1, 0, 0, 0, -1}, ipp[3] = {10 + 3 * z, -32, 32};
			memcpy(im.iop, iop, sizeof iop);
			memcpy(im.ipp, ipp, sizeof ipp);
		}
		for (int r = 0; r < size; r++)
			for (int c = 0; c < size; c++) /* stored = (value - intercept) / slope */
				pix[r * size + c] =
					(uint16_t)((value((c + 0.5) * px, (r + 0.5) * px, z) + 50) / 2);
		snprintf(sop, sizeof sop, "%s.%d", series, z + 1);
		snprintf(path, sizeof path, "%s/%s%s%d.dcm", dir, modality, sagittal ? "sag" : "", i);
		if (fx_save(path, &im) != 0) {
			free(pix);
			return -1;
		}
	}
	free(pix);
	return 0;
}

int main(int argc, char **argv)
{
	char path[1024];
	FILE *f;
	int size;
	bool logits = argc == 5 && strcmp(argv[4], "logits") == 0;

	if (argc < 3 || argc > 5 || (argc == 5 && !logits) || (size = atoi(argv[2])) < 16) {
		fprintf(stderr, "usage: mkfixture OUTDIR SIZE [OFFSET_X [logits]]\n");
		return 2;
	}
	snprintf(path, sizeof path, "%s/study", argv[1]);
	if ((mkdir(argv[1], 0755) != 0 && errno != EEXIST) ||
	    (mkdir(path, 0755) != 0 && errno != EEXIST)) {
		perror(argv[1]);
		return 1;
	}
	snprintf(path, sizeof path, "%s/tiny.onnx", argv[1]);
	if (write_model(path, argc >= 4 ? (float)atof(argv[3]) : 0.5f, logits) != 0)
		return 1;
	snprintf(path, sizeof path, "%s/tiny.ini", argv[1]);
	if (write_manifest(path, logits) != 0)
		return 1;
	snprintf(path, sizeof path, "%s/study", argv[1]);
	if (write_series(path, size, "MR", "2.25.1001.1", 5, false) != 0 ||
	    write_series(path, size, "CT", "2.25.1001.2", 2, false) != 0 ||
	    write_series(path, size, "MR", "2.25.1001.3", 2, true) != 0)
		return 1;
	snprintf(path, sizeof path, "%s/study/README.txt", argv[1]);
	f = fopen(path, "w");
	if (f == NULL || fputs("not DICOM\n", f) < 0 || fclose(f) != 0)
		return 1;
	return 0;
}
