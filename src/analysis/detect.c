/*
 * dicomaid-detect [--model MANIFEST] [--threshold P] [--verbose] [--dump DIR] DIR...
 *
 * The command-line detector (issue 4): reads every DICOM Part 10 file under the folders
 * (recursively; other files are skipped quietly and counted), groups them by series, runs
 * each series through exactly the analysis the daemon uses (analysis.h), and prints on stdout
 *
 *   {"studies": [{"study_instance_uid": "...", "series_instance_uid": "...",
 *                 "study_probability": 0.97,
 *                 "lesions": [{"type": "glioma", "probability": 0.93, "centre_mm": [x, y, z],
 *                              "boxes": [{"sop_instance_uid": "...", "col_min": 10,
 *                                         "row_min": 20, "col_max": 40, "row_max": 52}]}]}]}
 *
 * one entry per series (ordered by study then series UID), keys in this order; a series the
 * model does not analyse has "skipped": "reason" instead of "study_probability" and an empty
 * lesion list. Compressed images (RLE, JPEG, JPEG-LS) are decoded by the dcmtk adapter
 * (src/report), as in the daemon. Boxes are inclusive pixel indices. Errors: one line each on stderr.
 * Exit status: 0 all went well, 1 an error (model, unreadable file or folder, a series that
 * failed), 2 usage.
 */
#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "analysis/analysis.h"
#include "report/report.h"

#define PROG "dicomaid-detect"
#define MODEL_FILE "/models/brain-tumour-detector.ini"

static const char usage_text[] =
	"usage: " PROG " [--model MANIFEST] [--threshold P] [--verbose] [--dump DIR] DIR...\n"
	"  --model MANIFEST  model manifest (default: the bundled model)\n"
	"  --threshold P     list lesions with probability >= P only (default 0: all)\n"
	"  --verbose         a summary line per series and file counts on stderr\n"
	"  --dump DIR        write each series' network input and outputs as .npy files\n";

/* The walk's state; nftw has no user pointer, so it lives in this one static for the
 * duration of main() only (the library code it calls keeps no state). */
static struct walk {
	struct series_set set;
	unsigned long dicom, other, errors;
} W;

static int visit(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	struct pix_image im;
	char err[256];
	int rc;

	(void)st;
	(void)ftw;
	if (flag == FTW_DNR || flag == FTW_NS) {
		fprintf(stderr, PROG ": %s: cannot read\n", path);
		W.errors++;
		return 0;
	}
	if (flag != FTW_F)
		return 0;
	rc = pix_read_file(path, 0, &im, err, sizeof err);
	if (rc == PIX_ENOTDICOM) {
		W.other++;
		return 0;
	}
	if (rc != 0) {
		fprintf(stderr, PROG ": %s: %s\n", path, err[0] ? err : pix_strerror(rc));
		W.errors++;
		return 0;
	}
	W.dicom++;
	if (series_set_add(&W.set, path, &im) < 0) {
		fprintf(stderr, PROG ": out of memory\n");
		return -1;
	}
	return 0;
}

/* JSON string (RFC 8259 7): quotes, backslash and control characters escaped; bytes >= 0x80
 * pass through (UIDs and reasons are ASCII). */
static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c == '\n')
			fputs("\\n", f);
		else if (c == '\t')
			fputs("\\t", f);
		else if (c < 0x20 || c == 0x7f)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

/* Compressed syntaxes (RLE, JPEG, JPEG-LS) through the dcmtk adapter, as the daemon does
 * (pixels.h external decoder): the first frame's modality values. */
static int dcmtk_decode(const char *path, float **pixels, int rows, int cols, char *err,
			size_t errlen)
{
	struct report_image img;
	size_t n = (size_t)rows * (size_t)cols;
	int rc;

	memset(&img, 0, sizeof img);
	rc = report_decode_pixels(path, &img, err, errlen);
	if (rc < 0)
		return rc == REPORT_EUNSUPP ? PIX_EUNSUPP : rc;
	if ((int)img.rows != rows || (int)img.cols != cols || img.frames < 1) {
		snprintf(err, errlen, "decoded image is %ux%u, header says %dx%d", img.rows,
			 img.cols, rows, cols);
		report_image_free(&img);
		return -1;
	}
	*pixels = malloc(n * sizeof **pixels);
	if (*pixels == NULL) {
		report_image_free(&img);
		return -1;
	}
	memcpy(*pixels, img.pixels, n * sizeof **pixels);
	report_image_free(&img);
	return 0;
}

static void default_model(char *out, size_t len)
{
	char exe[PATH_MAX], probe[PATH_MAX + 32];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);

	/* run from the build tree (src/dicomaid-detect next to ../config.status): the source
	 * tree's model; otherwise the installed one */
	if (n > 0) {
		char *slash;
		exe[n] = '\0';
		slash = strrchr(exe, '/');
		if (slash) {
			*slash = '\0';
			snprintf(probe, sizeof probe, "%s/../config.status", exe);
			if (access(probe, F_OK) == 0) {
				snprintf(out, len, "%s", ABS_TOP_SRCDIR MODEL_FILE);
				return;
			}
		}
	}
	snprintf(out, len, "%s", PKGDATADIR MODEL_FILE);
}

static const char *type_name(const struct an_manifest *man, int type)
{
	return type >= 0 && type < man->nlabels ? man->labels[type].name : NULL;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"model", required_argument, NULL, 'm'},
		{"threshold", required_argument, NULL, 't'},
		{"verbose", no_argument, NULL, 'v'},
		{"dump", required_argument, NULL, 'd'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	char model_path[PATH_MAX + 64] = "";
	float threshold = 0;
	bool verbose = false;
	const char *dump_dir = NULL;
	struct analysis_model *model = NULL;
	struct nn_ctx *ctx = NULL;
	char err[512];
	int c, status = 0;

	while ((c = getopt_long(argc, argv, "m:t:vd:h", opts, NULL)) != -1) {
		switch (c) {
		case 'm':
			snprintf(model_path, sizeof model_path, "%s", optarg);
			break;
		case 't': {
			char *end;
			double d = strtod(optarg, &end);
			if (end == optarg || *end || !(d >= 0 && d <= 1)) {
				fprintf(stderr, PROG ": --threshold: '%s' is not a number in 0..1\n",
					optarg);
				return 2;
			}
			threshold = (float)d;
			break;
		}
		case 'v':
			verbose = true;
			break;
		case 'd':
			dump_dir = optarg;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return 0;
		default:
			fputs(usage_text, stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		fputs(usage_text, stderr);
		return 2;
	}
	if (model_path[0] == '\0')
		default_model(model_path, sizeof model_path);
	pix_set_external_decoder(dcmtk_decode);

	if (analysis_model_load(model_path, &model, err, sizeof err) != 0) {
		fprintf(stderr, PROG ": %s\n", err);
		return 1;
	}
	ctx = analysis_ctx_new(model);
	if (ctx == NULL) {
		fprintf(stderr, PROG ": out of memory\n");
		analysis_model_free(model);
		return 1;
	}

	if (verbose) {
		const struct an_manifest *mm = analysis_model_manifest(model);
		fprintf(stderr, PROG ": model %s %s (%s), %.3f GFLOP per slice\n", mm->name,
			mm->version, model_path, analysis_model_flops(model) / 1e9);
	}
	series_set_init(&W.set);
	for (int i = optind; i < argc; i++) {
		struct stat st;
		if (stat(argv[i], &st) != 0) {
			fprintf(stderr, PROG ": %s: %s\n", argv[i], strerror(errno));
			W.errors++;
			continue;
		}
		if (nftw(argv[i], visit, 32, FTW_PHYS) != 0) {
			fprintf(stderr, PROG ": %s: walk failed\n", argv[i]);
			W.errors++;
		}
	}
	series_set_finish(&W.set);

	const struct an_manifest *man = analysis_model_manifest(model);
	FILE *f = stdout;
	fputs("{\"studies\": [", f);
	for (size_t i = 0; i < W.set.n; i++) {
		const struct series *s = &W.set.v[i];
		struct analysis_result r;
		char why[256];
		int rc = AN_ENOTAPPLIC;

		if (analysis_applicable(model, s, why, sizeof why))
			rc = analysis_run_series_dump(model, ctx, s, threshold, dump_dir, &r, why,
						      sizeof why);
		if (rc != 0 && rc != AN_ENOTAPPLIC) {
			fprintf(stderr, PROG ": series %s: %s\n", s->series_uid, why);
			W.errors++;
		}
		fputs(i ? ",\n  {" : "\n  {", f);
		fputs("\"study_instance_uid\": ", f);
		json_str(f, s->study_uid);
		fputs(", \"series_instance_uid\": ", f);
		json_str(f, s->series_uid);
		if (rc != 0) {
			fputs(", \"skipped\": ", f);
			json_str(f, why);
			fputs(", \"lesions\": []}", f);
			if (verbose)
				fprintf(stderr, PROG ": series %s skipped: %s\n", s->series_uid, why);
			continue;
		}
		fprintf(f, ", \"study_probability\": %.4f, \"lesions\": [", r.study_probability);
		for (int l = 0; l < r.nlesions; l++) {
			const struct an_lesion *L = &r.lesions[l];
			const char *tn = type_name(man, L->type);
			fputs(l ? ",\n    {" : "\n    {", f);
			fputs("\"type\": ", f);
			if (tn)
				json_str(f, tn);
			else
				fputs("null", f);
			fprintf(f, ", \"probability\": %.4f, \"centre_mm\": [%.2f, %.2f, %.2f], "
				   "\"boxes\": [", L->probability, L->centre_mm[0], L->centre_mm[1],
				L->centre_mm[2]);
			for (int b = 0; b < L->nboxes; b++) {
				const struct an_box *B = &L->boxes[b];
				fputs(b ? ",\n      {" : "\n      {", f);
				fputs("\"sop_instance_uid\": ", f);
				json_str(f, B->sop_uid);
				fprintf(f, ", \"col_min\": %d, \"row_min\": %d, \"col_max\": %d, "
					   "\"row_max\": %d}", B->col_min, B->row_min, B->col_max,
					B->row_max);
			}
			fputs("]}", f);
		}
		fputs("]}", f);
		if (verbose)
			fprintf(stderr, PROG ": series %s: %d slices, %d lesions, p=%.4f, %.2f s\n",
				s->series_uid, r.nslices, r.nlesions, r.study_probability, r.seconds);
		analysis_result_free(&r);
	}
	fputs(W.set.n ? "\n]}\n" : "]}\n", f);
	if (fflush(f) != 0 || ferror(f)) {
		fprintf(stderr, PROG ": writing the output failed\n");
		status = 1;
	}
	if (verbose)
		fprintf(stderr, PROG ": %lu DICOM files, %lu other files skipped, %zu series, "
			"%lu errors\n", W.dicom, W.other, W.set.n, W.errors);
	if (W.errors)
		status = 1;
	series_set_free(&W.set);
	analysis_ctx_free(ctx);
	analysis_model_free(model);
	return status;
}
