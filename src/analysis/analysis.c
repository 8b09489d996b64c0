/*
 * One series through the detector (analysis.h), exactly as models/README.md prescribes:
 * Modality LUT values (pixels.c) -> series-wide percentile normalisation and clipping ->
 * bilinear resampling onto the padded, centred input grid -> batched inference on the
 * engine (src/nn) -> per-slice peaks and boxes (decode.c) mapped back to each image's
 * pixels -> lesions linked across slices (link.c) -> centre, extent and volume in patient
 * coordinates (geometry.c, PS3.3 C.7.6.2.1.1) -> study probability.
 * Also the model itself: the manifest (manifest.c) and its ONNX file on the engine.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "analysis/analysis.h"
#include "analysis/geometry.h"
#include "analysis/sha256.h"
#include "nn/nn.h"
#include "nn/npy.h"

#define MANIFEST_MAX_BYTES (256 * 1024)

struct analysis_model {
	struct an_manifest man;
	struct nn_model *nn;
	int batch;                 /* items per nn_run */
	int nout;                  /* engine outputs */
	int out_heat, out_size, out_offset, out_types; /* output indexes; -1 when absent */
	int map_h, map_w;          /* output map size */
	int heat_ch, ntypes;
};

static void seterr(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static char *read_text(const char *path, size_t max, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	size_t n;

	if (f == NULL) {
		seterr(err, errlen, "%s: cannot open: %m", path);
		return NULL;
	}
	buf = malloc(max + 1);
	if (buf == NULL) {
		fclose(f);
		seterr(err, errlen, "%s: out of memory", path);
		return NULL;
	}
	n = fread(buf, 1, max + 1, f);
	if (ferror(f) || n > max) {
		seterr(err, errlen, "%s: %s", path, n > max ? "file too large" : "read error");
		fclose(f);
		free(buf);
		return NULL;
	}
	fclose(f);
	buf[n] = '\0';
	if (strlen(buf) != n) {
		seterr(err, errlen, "%s: contains a NUL byte", path);
		free(buf);
		return NULL;
	}
	return buf;
}

/* Find output `name`; check it is (1, ch, map_h, map_w) per item. */
static int find_output(struct analysis_model *m, const char *name, int ch, char *err,
		       size_t errlen)
{
	for (int i = 0; i < m->nout; i++) {
		struct nn_tensor_info ti;
		if (nn_model_output(m->nn, i, &ti) != 0 || strcmp(ti.name, name) != 0)
			continue;
		if (ti.ndim != 4 || ti.dims[0] != 1 || (ch > 0 && ti.dims[1] != ch) ||
		    ti.dims[2] != m->map_h || ti.dims[3] != m->map_w) {
			seterr(err, errlen,
			       "output \"%s\" has shape %dD [%lld,%lld,%lld,%lld], expected "
			       "[1,%d,%d,%d]", name, ti.ndim, (long long)ti.dims[0],
			       (long long)(ti.ndim > 1 ? ti.dims[1] : 0),
			       (long long)(ti.ndim > 2 ? ti.dims[2] : 0),
			       (long long)(ti.ndim > 3 ? ti.dims[3] : 0), ch, m->map_h, m->map_w);
			return -2;
		}
		return i;
	}
	seterr(err, errlen, "the model has no output \"%s\"", name);
	return -1;
}

int analysis_model_load(const char *manifest_path, struct analysis_model **out, char *err,
			size_t errlen)
{
	struct analysis_model *m;
	struct nn_load_opts o;
	struct nn_tensor_info in;
	char dir[4096], sub[512];
	const char *slash;
	char *text;
	int rc;

	*out = NULL;
	text = read_text(manifest_path, MANIFEST_MAX_BYTES, err, errlen);
	if (text == NULL)
		return AN_EMANIFEST;
	slash = strrchr(manifest_path, '/');
	if (slash == NULL)
		snprintf(dir, sizeof dir, ".");
	else
		snprintf(dir, sizeof dir, "%.*s", (int)(slash - manifest_path), manifest_path);
	if (slash == manifest_path)
		snprintf(dir, sizeof dir, "/");
	m = calloc(1, sizeof *m);
	if (m == NULL) {
		free(text);
		return AN_ENOMEM;
	}
	rc = analysis_manifest_parse(text, manifest_path, dir, &m->man, err, errlen);
	free(text);
	if (rc != 0) {
		free(m);
		return rc;
	}

	if (m->man.sha256[0]) {
		char digest[65];
		if (sha256_file(m->man.onnx_path, digest) != 0) {
			seterr(err, errlen, "%s: cannot read: %m", m->man.onnx_path);
			free(m);
			return AN_EMODEL;
		}
		if (strcasecmp(digest, m->man.sha256) != 0) {
			seterr(err, errlen, "%s: SHA-256 %s differs from the manifest's %s (%s)",
			       m->man.onnx_path, digest, m->man.sha256, manifest_path);
			free(m);
			return AN_EMODEL;
		}
	}
	memset(&o, 0, sizeof o);
	o.max_batch = m->man.max_batch;
	o.input_ndim = 4;
	o.input_shape[0] = 1;
	o.input_shape[1] = m->man.channels;
	o.input_shape[2] = m->man.height;
	o.input_shape[3] = m->man.width;
	rc = nn_model_load(m->man.onnx_path, &o, &m->nn, err, errlen);
	if (rc != 0) {
		free(m);
		return AN_EMODEL;
	}
	m->batch = nn_model_max_batch(m->nn);
	m->nout = nn_model_num_outputs(m->nn);
	if (nn_model_input(m->nn, &in) != 0 || in.ndim != 4 || in.dims[1] != m->man.channels ||
	    in.dims[2] != m->man.height || in.dims[3] != m->man.width) {
		seterr(err, errlen, "%s: the model's input does not take %d x %d x %d", manifest_path,
		       m->man.channels, m->man.height, m->man.width);
		goto fail;
	}
	if (m->man.input_name[0] && strcmp(in.name, m->man.input_name) != 0) {
		seterr(err, errlen, "%s: the model's input is \"%s\", the manifest says \"%s\"",
		       manifest_path, in.name, m->man.input_name);
		goto fail;
	}
	m->map_h = m->man.height / m->man.stride;
	m->map_w = m->man.width / m->man.stride;
	m->heat_ch = m->man.classes;
	m->ntypes = m->man.head_types[0] ? m->man.nlabels : 0;
	m->out_offset = m->out_types = -1;
	if ((m->out_heat = find_output(m, m->man.head_heat, m->heat_ch, sub, sizeof sub)) < 0 ||
	    (m->out_size = find_output(m, m->man.head_size, 2, sub, sizeof sub)) < 0 ||
	    (m->man.head_offset[0] &&
	     (m->out_offset = find_output(m, m->man.head_offset, 2, sub, sizeof sub)) < 0) ||
	    (m->man.head_types[0] &&
	     (m->out_types = find_output(m, m->man.head_types, m->ntypes, sub, sizeof sub)) < 0)) {
		seterr(err, errlen, "%s: %s", m->man.onnx_path, sub);
		goto fail;
	}
	if (m->ntypes == 0 && m->heat_ch > 1 && m->heat_ch != m->man.nlabels) {
		seterr(err, errlen, "%s: %d heat-map channels but %d labels", manifest_path,
		       m->heat_ch, m->man.nlabels);
		goto fail;
	}
	*out = m;
	return 0;
fail:
	nn_model_free(m->nn);
	free(m);
	return AN_EMODEL;
}

void analysis_model_free(struct analysis_model *m)
{
	if (m == NULL)
		return;
	nn_model_free(m->nn);
	free(m);
}

const struct an_manifest *analysis_model_manifest(const struct analysis_model *m)
{
	return &m->man;
}

double analysis_model_flops(const struct analysis_model *m)
{
	return nn_model_flops(m->nn) * (m->man.mirror_average ? 2 : 1);
}

struct nn_ctx *analysis_ctx_new(const struct analysis_model *m)
{
	return nn_ctx_new(m->nn);
}

void analysis_ctx_free(struct nn_ctx *c)
{
	nn_ctx_free(c);
}

bool analysis_applicable(const struct analysis_model *m, const struct series *s, char *why,
			 size_t whylen)
{
	if (s->skip[0]) {
		seterr(why, whylen, "%s", s->skip);
		return false;
	}
	if (m->man.modality[0] && strcmp(s->modality, m->man.modality) != 0) {
		seterr(why, whylen, "modality %s, the model analyses %s",
		       s->modality[0] ? s->modality : "(none)", m->man.modality);
		return false;
	}
	if (fabs(s->normal[2]) < cos(AN_MAX_TILT_DEG * M_PI / 180)) {
		seterr(why, whylen, "not an axial stack (slice normal %.2f\\%.2f\\%.2f)",
		       s->normal[0], s->normal[1], s->normal[2]);
		return false;
	}
	if (s->n > AN_MAX_SLICES) {
		seterr(why, whylen, "%zu images, more than the %d analysed", s->n, AN_MAX_SLICES);
		return false;
	}
	if ((int)s->n < m->man.min_slices) {
		seterr(why, whylen, "%zu images, the model needs at least %d", s->n,
		       m->man.min_slices);
		return false;
	}
	return true;
}

void analysis_box_to_pixels(const struct prep_map *map, const struct dec_box *b, int rows,
			    int cols, int *col_min, int *row_min, int *col_max, int *row_max)
{
	/* models/README.md [decode] step 3: image edge = a * input edge + b, rounded */
	double c0 = floor(map->ax * b->x0 + map->bx + 0.5);
	double c1 = floor(map->ax * b->x1 + map->bx + 0.5) - 1;
	double r0 = floor(map->ay * b->y0 + map->by + 0.5);
	double r1 = floor(map->ay * b->y1 + map->by + 0.5) - 1;

#define CLAMP(v, hi) ((v) < 0 ? 0 : (v) > (hi) ? (hi) : (v))
	c0 = CLAMP(c0, cols - 1);
	c1 = CLAMP(c1, cols - 1);
	r0 = CLAMP(r0, rows - 1);
	r1 = CLAMP(r1, rows - 1);
#undef CLAMP
	if (c1 < c0)
		c1 = c0;
	if (r1 < r0)
		r1 = r0;
	*col_min = (int)c0;
	*col_max = (int)c1;
	*row_min = (int)r0;
	*row_max = (int)r1;
}

void analysis_lesion_geometry(const struct series *s, const struct an_box *b, int n,
			      double centre[3], double extent[3], double *volume)
{
	double wsum = 0, lo[3], hi[3], axes[3][3];
	const double *iop;
	int minz = 0, maxz = 0;

	centre[0] = centre[1] = centre[2] = 0;
	extent[0] = extent[1] = extent[2] = 0;
	*volume = 0;
	if (n == 0)
		return;
	iop = s->slices[b[0].slice].hdr.iop;
	for (int k = 0; k < 3; k++) {
		axes[0][k] = iop[k];
		axes[1][k] = iop[3 + k];
		axes[2][k] = s->normal[k];
		lo[k] = INFINITY;
		hi[k] = -INFINITY;
	}
	minz = maxz = b[0].slice;
	for (int i = 0; i < n; i++) {
		const struct pix_image *h = &s->slices[b[i].slice].hdr;
		double p[3], w = b[i].probability > 0 ? b[i].probability : 1e-6;
		double slab = s->slice_spacing > 0 ? s->slice_spacing
			      : h->thickness > 0 ? h->thickness : 1.0;
		double wmm = (b[i].col_max - b[i].col_min + 1) * h->spacing[1];
		double hmm = (b[i].row_max - b[i].row_min + 1) * h->spacing[0];

		/* models/README.md [decode] step 5: score-weighted mean of box centres */
		geo_pixel_to_patient(h->ipp, h->iop, h->spacing, (b[i].col_min + b[i].col_max) / 2.0,
				     (b[i].row_min + b[i].row_max) / 2.0, p);
		for (int k = 0; k < 3; k++)
			centre[k] += w * p[k];
		wsum += w;
		/* in-plane extent from the box corners (pixel edges) */
		for (int corner = 0; corner < 4; corner++) {
			double c = (corner & 1) ? b[i].col_max + 0.5 : b[i].col_min - 0.5;
			double r = (corner & 2) ? b[i].row_max + 0.5 : b[i].row_min - 0.5;
			geo_pixel_to_patient(h->ipp, h->iop, h->spacing, c, r, p);
			for (int a = 0; a < 2; a++) {
				double d = geo_dot(p, axes[a]);
				if (d < lo[a]) lo[a] = d;
				if (d > hi[a]) hi[a] = d;
			}
		}
		if (b[i].slice < minz) minz = b[i].slice;
		if (b[i].slice > maxz) maxz = b[i].slice;
		/* an ellipse inscribed in the box, through the slab of this slice */
		*volume += M_PI / 4 * wmm * hmm * slab;
	}
	for (int k = 0; k < 3; k++)
		centre[k] /= wsum;
	extent[0] = hi[0] - lo[0];
	extent[1] = hi[1] - lo[1];
	{
		double slab = s->slice_spacing > 0 ? s->slice_spacing
			      : s->slices[minz].hdr.thickness > 0 ? s->slices[minz].hdr.thickness
								  : 1.0;
		extent[2] = s->slices[maxz].pos - s->slices[minz].pos + slab;
	}
}

/* Normalisation (models/README.md [input] step 2), in place: statistics over the series
 * (scope = series) or each slice, then clipping. */
static int normalise(const struct an_manifest *man, float *const *pix, size_t nslices,
		     size_t npix)
{
	double lo = 0, hi = 0;
	size_t total = nslices * npix;
	float *all = NULL;

	if (man->norm == AN_NORM_NONE)
		goto clip;
	/* statistics: either all pixels of the series, or each slice's */
	for (size_t z = 0; z < (man->norm_volume ? 1 : nslices); z++) {
		const float *v;
		size_t n;
		if (man->norm_volume) {
			all = malloc(total * sizeof *all);
			if (all == NULL)
				return AN_ENOMEM;
			for (size_t k = 0; k < nslices; k++)
				memcpy(all + k * npix, pix[k], npix * sizeof *all);
			v = all;
			n = total;
		} else {
			v = pix[z];
			n = npix;
		}
		if (man->norm == AN_NORM_PERCENTILE) {
			double p[2] = {man->p_low, man->p_high}, q[2];
			if (prep_percentile(v, n, p, 2, q) != 0) {
				free(all);
				return AN_ENOMEM;
			}
			lo = q[0];
			hi = q[1];
		} else if (man->norm == AN_NORM_MINMAX) {
			lo = INFINITY;
			hi = -INFINITY;
			for (size_t i = 0; i < n; i++) {
				if (v[i] < lo) lo = v[i];
				if (v[i] > hi) hi = v[i];
			}
		} else { /* zscore: lo = mean, hi = mean + std */
			double mean, sd;
			prep_mean_std(v, n, -INFINITY, &mean, &sd);
			lo = mean;
			hi = mean + sd;
		}
		free(all);
		all = NULL;
		for (size_t k = man->norm_volume ? 0 : z; k < (man->norm_volume ? nslices : z + 1);
		     k++) {
			float *d = pix[k];
			for (size_t i = 0; i < npix; i++)
				d[i] = hi > lo ? (float)((d[i] - lo) / (hi - lo)) : 0.0f;
		}
	}
clip:
	if (man->clip)
		for (size_t k = 0; k < nslices; k++)
			for (size_t i = 0; i < npix; i++) {
				float *d = &pix[k][i];
				if (*d < man->clip_min) *d = (float)man->clip_min;
				if (*d > man->clip_max) *d = (float)man->clip_max;
			}
	return 0;
}

void analysis_result_free(struct analysis_result *r)
{
	if (r == NULL)
		return;
	for (int i = 0; i < r->nlesions; i++)
		free(r->lesions[i].boxes);
	free(r->lesions);
	memset(r, 0, sizeof *r);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Write the series' network input and one output head (all slices) as .npy files. */
static int dump_npy(const char *dir, const char *uid, const char *what, const float *data,
		    size_t n, int ch, int h, int w, char *err, size_t errlen)
{
	char path[4096];
	int64_t dims[4] = {(int64_t)n, ch, h, w};

	snprintf(path, sizeof path, "%s/%s.%s.npy", dir, uid, what);
	if (npy_write(path, data, dims, 4) != 0) {
		seterr(err, errlen, "%s: cannot write", path);
		return AN_ERUN;
	}
	return 0;
}

/* One engine run of nb items. A model exported with a fixed batch takes exactly that many
 * items (nn.h): then a short last batch is padded with empty items. *ran: items run. */
static int run_items(const struct analysis_model *m, struct nn_ctx *ctx, float *batch, int nb,
		     float **outs, int *ran)
{
	size_t item = (size_t)m->man.channels * (size_t)m->man.width * (size_t)m->man.height;
	int r = nn_run(ctx, nb, batch, outs);

	*ran = nb;
	if (r != 0 && nb < m->batch) {
		memset(batch + (size_t)nb * item, 0, (size_t)(m->batch - nb) * item * sizeof *batch);
		*ran = m->batch;
		r = nn_run(ctx, m->batch, batch, outs);
	}
	return r;
}

/* Reverse the columns of n planes of h x w, in place. */
static void mirror_columns(float *p, size_t n, int h, int w)
{
	for (size_t i = 0; i < n * (size_t)h; i++) {
		float *row = p + i * (size_t)w;
		for (int a = 0, b = w - 1; a < b; a++, b--) {
			float t = row[a];
			row[a] = row[b];
			row[b] = t;
		}
	}
}

static float logistic(float x)
{
	return 1.0f / (1.0f + expf(-x));
}

/* mean[k] (the first run's head k, nb items of ch[k] planes; NULL for an absent head) := the
 * mean of it and of the mirrored run's (outs[idx[k]]), mirrored back: dec_mirror_mean per
 * plane, the column offset negated about the mirrored centre, heat logits turned into
 * probabilities first. */
static void average_mirrored(const struct analysis_model *m, float *const mean[4],
			     const int idx[4], const int ch[4], float **outs, int nb)
{
	size_t plane = (size_t)m->map_h * (size_t)m->map_w;
	float add = 1.0f - 2.0f * m->man.centre_shift / (float)m->man.stride;

	for (int k = 0; k < 4; k++) {
		if (mean[k] == NULL)
			continue;
		size_t nv = (size_t)nb * (size_t)ch[k] * plane;
		float *b = outs[idx[k]];
		if (k == 0 && m->man.heat_logits)
			for (size_t i = 0; i < nv; i++) {
				mean[0][i] = logistic(mean[0][i]);
				b[i] = logistic(b[i]);
			}
		for (size_t pl = 0; pl < (size_t)nb * (size_t)ch[k]; pl++) {
			bool col = k == 2 && pl % 2 == 0; /* offset channel 0: columns */
			dec_mirror_mean(mean[k] + pl * plane, b + pl * plane, m->map_h, m->map_w,
					col ? -1.0f : 1.0f, col ? add : 0.0f);
		}
	}
}

int analysis_run_series(const struct analysis_model *m, struct nn_ctx *ctx,
			const struct series *s, float threshold, struct analysis_result *out,
			char *err, size_t errlen)
{
	return analysis_run_series_dump(m, ctx, s, threshold, NULL, out, err, errlen);
}

int analysis_run_series_dump(const struct analysis_model *m, struct nn_ctx *ctx,
			     const struct series *s, float threshold, const char *dump_dir,
			     struct analysis_result *out, char *err, size_t errlen)
{
	float *dump_out[4] = {NULL, NULL, NULL, NULL};
	float *mean[4] = {NULL, NULL, NULL, NULL}; /* mirror_average: the averaged heads */
	int head_idx[4] = {m->out_heat, m->out_size, m->out_offset, m->out_types};
	int head_ch[4] = {m->heat_ch, 2, 2, m->ntypes};
	const char *dump_name[4] = {m->man.head_heat, m->man.head_size, m->man.head_offset,
				    m->man.head_types};
	const struct an_manifest *man = &m->man;
	size_t n = s->n, npix, inpix = (size_t)man->width * man->height;
	float **pix = NULL, *input = NULL, *batch = NULL;
	struct lnk_box *boxes = NULL;
	int nboxes = 0, capboxes = 0, rc = 0;
	int *lesion_of = NULL;
	struct lnk_lesion *les = NULL;
	double t0 = now_s();
	char why[256];
	int rows, cols;
	struct prep_map map;
	struct dec_params dp;

	memset(out, 0, sizeof *out);
	if (threshold < 0)
		threshold = man->report_threshold;
	if (!analysis_applicable(m, s, why, sizeof why)) {
		seterr(err, errlen, "%s", why);
		return AN_ENOTAPPLIC;
	}
	rows = s->slices[0].hdr.rows;
	cols = s->slices[0].hdr.cols;
	npix = (size_t)rows * (size_t)cols;

	/* 1. values through the Modality LUT */
	pix = calloc(n, sizeof *pix);
	if (pix == NULL)
		return AN_ENOMEM;
	for (size_t z = 0; z < n; z++) {
		struct pix_image im;
		char e[256];
		int r = pix_read_file(s->slices[z].path, PIX_READ_PIXELS, &im, e, sizeof e);
		if (r == 0 && im.skip[0]) {
			snprintf(e, sizeof e, "%s", im.skip);
			r = AN_EPIXELS;
		} else if (r == 0 && (im.rows != rows || im.cols != cols || im.pixels == NULL)) {
			snprintf(e, sizeof e, "image changed since it was grouped");
			r = AN_EPIXELS;
		}
		if (r == PIX_EUNSUPP) {
			/* a syntax the decoder lacks: the model does not apply, as for one the
			 * header check already knew (series.c) */
			seterr(err, errlen, "unsupported transfer syntax %s (%s: %s)", im.ts_uid,
			       s->slices[z].path, e);
			pix_image_free(&im);
			rc = AN_ENOTAPPLIC;
			goto done;
		}
		if (r != 0) {
			pix_image_free(&im);
			seterr(err, errlen, "%s: %s", s->slices[z].path, e);
			rc = r == PIX_ENOMEM ? AN_ENOMEM : AN_EPIXELS;
			goto done;
		}
		pix[z] = im.pixels; /* ownership moves to pix */
	}
	/* 2. normalisation, in place */
	rc = normalise(man, pix, n, npix);
	if (rc != 0)
		goto done;
	/* 3. resampling of every slice onto the input grid */
	prep_map_fit(rows, cols, s->slices[0].hdr.spacing, man->height, man->width,
		     man->fit == AN_FIT_PAD_CENTRE, &map);
	input = malloc(n * inpix * sizeof *input);
	batch = malloc((size_t)m->batch * (size_t)man->channels * inpix * sizeof *batch);
	if (input == NULL || batch == NULL) {
		rc = AN_ENOMEM;
		goto done;
	}
	for (size_t z = 0; z < n; z++) {
		prep_resample(pix[z], rows, cols, &map, man->resample, man->pad_value,
			      input + z * inpix, man->height, man->width);
		free(pix[z]);
		pix[z] = NULL;
	}
	size_t plane = (size_t)m->map_h * (size_t)m->map_w;
	if (dump_dir) {
		rc = dump_npy(dump_dir, s->series_uid, "input", input, n, 1, man->height, man->width,
			      err, errlen);
		if (rc != 0)
			goto done;
		for (int k = 0; k < 4; k++)
			if (head_idx[k] >= 0 &&
			    (dump_out[k] = malloc(n * (size_t)head_ch[k] * plane * sizeof(float))) ==
				    NULL) {
				rc = AN_ENOMEM;
				goto done;
			}
	}
	for (int k = 0; k < 4 && man->mirror_average; k++)
		if (head_idx[k] >= 0 &&
		    (mean[k] = malloc((size_t)m->batch * (size_t)head_ch[k] * plane *
				      sizeof(float))) == NULL) {
			rc = AN_ENOMEM;
			goto done;
		}

	/* 4. inference in batches (with mirror_average twice: the second run on the batch
	 * mirrored left-right, its maps mirrored back and averaged with the first's, the heat
	 * as probabilities); 5. per-slice decoding */
	memset(&dp, 0, sizeof dp);
	dp.stride = man->stride;
	dp.heat_logits = man->heat_logits && !man->mirror_average;
	dp.threshold = man->peak_threshold;
	dp.nms_kernel = man->nms_kernel;
	dp.size_unit = man->size_unit;
	dp.size_log = man->size_log;
	dp.centre_shift = man->centre_shift;
	dp.max_boxes = man->max_per_slice;
	for (size_t z0 = 0; z0 < n; z0 += (size_t)m->batch) {
		int nb = (int)(n - z0 < (size_t)m->batch ? n - z0 : (size_t)m->batch);
		float *outs[16];
		int run_nb = nb;
		for (int b = 0; b < nb; b++)
			for (int c = 0; c < man->channels; c++) {
				long zz = (long)(z0 + (size_t)b) + c - man->channels / 2;
				if (zz < 0)
					zz = 0;
				if (zz >= (long)n)
					zz = (long)n - 1;
				memcpy(batch + ((size_t)b * man->channels + c) * inpix,
				       input + (size_t)zz * inpix, inpix * sizeof *batch);
			}
		if (m->nout > 16) {
			seterr(err, errlen, "the model has more than 16 outputs");
			rc = AN_ERUN;
			goto done;
		}
		const float *head[4] = {NULL, NULL, NULL, NULL};
		if (run_items(m, ctx, batch, nb, outs, &run_nb) != 0) {
			seterr(err, errlen, "the engine refused a batch of %d", run_nb);
			rc = AN_ERUN;
			goto done;
		}
		for (int k = 0; k < 4; k++)
			if (head_idx[k] >= 0)
				head[k] = outs[head_idx[k]];
		if (man->mirror_average) {
			for (int k = 0; k < 4; k++)
				if (mean[k]) {
					memcpy(mean[k], head[k],
					       (size_t)nb * (size_t)head_ch[k] * plane * sizeof(float));
					head[k] = mean[k];
				}
			mirror_columns(batch, (size_t)nb * (size_t)man->channels, man->height,
				       man->width);
			if (run_items(m, ctx, batch, nb, outs, &run_nb) != 0) {
				seterr(err, errlen, "the engine refused a mirrored batch of %d", run_nb);
				rc = AN_ERUN;
				goto done;
			}
			average_mirrored(m, mean, head_idx, head_ch, outs, nb);
		}
		for (int k = 0; k < 4; k++)
			if (dump_out[k])
				memcpy(dump_out[k] + z0 * (size_t)head_ch[k] * plane, head[k],
				       (size_t)nb * (size_t)head_ch[k] * plane * sizeof(float));
		for (int b = 0; b < nb; b++) {
			struct dec_maps mp;
			struct dec_box db[64];
			int nd, want = man->max_per_slice < 64 ? man->max_per_slice : 64;

			mp.h = m->map_h;
			mp.w = m->map_w;
			mp.heat_ch = m->heat_ch;
			mp.heat = head[0] + (size_t)b * plane * (size_t)m->heat_ch;
			mp.size = head[1] + (size_t)b * plane * 2;
			mp.offset = head[2] ? head[2] + (size_t)b * plane * 2 : NULL;
			mp.ntypes = m->ntypes;
			mp.types = head[3] ? head[3] + (size_t)b * plane * (size_t)m->ntypes : NULL;
			nd = dec_decode(&mp, &dp, db, want);
			if (nd < 0) {
				seterr(err, errlen, "decoding failed");
				rc = AN_ERUN;
				goto done;
			}
			if (nboxes + nd > capboxes) {
				int cap = capboxes ? capboxes * 2 : 64;
				struct lnk_box *nbx;
				while (cap < nboxes + nd)
					cap *= 2;
				nbx = realloc(boxes, (size_t)cap * sizeof *nbx);
				if (nbx == NULL) {
					rc = AN_ENOMEM;
					goto done;
				}
				boxes = nbx;
				capboxes = cap;
			}
			for (int k = 0; k < nd; k++) {
				struct lnk_box *lb = &boxes[nboxes++];
				memset(lb, 0, sizeof *lb);
				lb->slice = (int)z0 + b;
				analysis_box_to_pixels(&map, &db[k], rows, cols, &lb->col_min,
						       &lb->row_min, &lb->col_max, &lb->row_max);
				lb->score = db[k].score;
				lb->type = db[k].type;
				memcpy(lb->type_prob, db[k].type_prob, sizeof lb->type_prob);
			}
		}
	}

	for (int k = 0; k < 4 && dump_dir; k++)
		if (dump_out[k] && (rc = dump_npy(dump_dir, s->series_uid, dump_name[k], dump_out[k], n,
						  head_ch[k], m->map_h, m->map_w, err, errlen)) != 0)
			goto done;

	/* 6. linking into lesions */
	struct lnk_params lp;
	memset(&lp, 0, sizeof lp);
	lp.metric = man->link_metric;
	lp.iou_min = man->link_iou;
	lp.centre_mm = man->link_centre_mm;
	lp.spacing[0] = s->slices[0].hdr.spacing[0];
	lp.spacing[1] = s->slices[0].hdr.spacing[1];
	lp.max_gap = man->link_max_gap;
	lp.min_slices = man->lesion_min_slices;
	lp.agg = man->lesion_agg;
	lp.ntypes = m->ntypes > 0 ? m->ntypes : (m->heat_ch > 1 ? m->heat_ch : 0);
	lesion_of = malloc((size_t)(nboxes > 0 ? nboxes : 1) * sizeof *lesion_of);
	les = malloc((size_t)(nboxes > 0 ? nboxes : 1) * sizeof *les);
	if (lesion_of == NULL || les == NULL) {
		rc = AN_ENOMEM;
		goto done;
	}
	int nles = lnk_link(boxes, nboxes, &lp, lesion_of, les);
	if (nles < 0) {
		rc = AN_ENOMEM;
		goto done;
	}
	/* 7. results: every lesion at or above threshold, highest probability first */
	out->study_probability = nles > 0 ? les[0].probability : 0.0f;
	out->nslices = (int)n;
	out->lesions = calloc((size_t)(nles > 0 ? nles : 1), sizeof *out->lesions);
	if (out->lesions == NULL) {
		rc = AN_ENOMEM;
		goto done;
	}
	for (int li = 0; li < nles; li++) {
		struct an_lesion *L;
		int k = 0;
		if (les[li].probability < threshold)
			continue;
		L = &out->lesions[out->nlesions++];
		L->type = les[li].type;
		L->probability = les[li].probability;
		L->nboxes = les[li].nboxes;
		L->boxes = calloc((size_t)L->nboxes, sizeof *L->boxes);
		if (L->boxes == NULL) {
			rc = AN_ENOMEM;
			goto done;
		}
		/* boxes in slice order (lnk_link keeps one box per slice per lesion) */
		for (int z = les[li].first_slice; z <= les[li].last_slice; z++)
			for (int i = 0; i < nboxes; i++)
				if (lesion_of[i] == li && boxes[i].slice == z && k < L->nboxes) {
					struct an_box *ab = &L->boxes[k++];
					ab->slice = z;
					ab->sop_uid = s->slices[z].hdr.sop_uid;
					ab->col_min = boxes[i].col_min;
					ab->row_min = boxes[i].row_min;
					ab->col_max = boxes[i].col_max;
					ab->row_max = boxes[i].row_max;
					ab->probability = boxes[i].score;
				}
		L->nboxes = k;
		analysis_lesion_geometry(s, L->boxes, L->nboxes, L->centre_mm, L->extent_mm,
					 &L->volume_mm3);
	}
done:
	for (int k = 0; k < 4; k++) {
		free(dump_out[k]);
		free(mean[k]);
	}
	if (pix)
		for (size_t z = 0; z < n; z++)
			free(pix[z]);
	free(pix);
	free(input);
	free(batch);
	free(boxes);
	free(lesion_of);
	free(les);
	if (rc != 0)
		analysis_result_free(out);
	else
		out->seconds = now_s() - t0;
	return rc;
}
