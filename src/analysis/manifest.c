/*
 * The model manifest (an INI file next to the ONNX file; contract in models/README.md),
 * parsed with libinih into struct an_manifest (analysis.h). Strict: unknown sections and
 * keys, bad numbers and missing required keys are errors, reported "label:line: message"
 * (the first one only). Defaults are written below, next to each key.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ini.h>

#include "analysis/analysis.h"
#include "dicom/uid.h"

struct mparse {
	struct an_manifest *m;
	const char *dir;
	char msg[256];          /* first error */
	bool failed;
	bool seen_width, seen_height, seen_file, seen_heat, seen_size, seen_stride;
	bool size_cells;         /* size_units = cells (the default) */
	int label_index[DEC_MAX_TYPES]; /* index = of each label, -1 when not given */
	char label_sec[DEC_MAX_TYPES][64]; /* section names of the labels, in order */
};

static int fail(struct mparse *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(struct mparse *p, const char *fmt, ...)
{
	va_list ap;

	if (!p->failed) {
		va_start(ap, fmt);
		vsnprintf(p->msg, sizeof p->msg, fmt, ap);
		va_end(ap);
		p->failed = true;
	}
	return 0; /* libinih: stop reporting this line as fine; ini_parse returns its number */
}

static int get_double(struct mparse *p, const char *sec, const char *key, const char *v,
		      double lo, double hi, double *out)
{
	char *end;
	double d;

	errno = 0;
	d = strtod(v, &end);
	while (*end == ' ' || *end == '\t')
		end++;
	if (end == v || *end != '\0' || errno != 0 || !isfinite(d))
		return fail(p, "[%s] %s: '%s' is not a number", sec, key, v);
	if (d < lo || d > hi)
		return fail(p, "[%s] %s: %g is out of range (%g..%g)", sec, key, d, lo, hi);
	*out = d;
	return 1;
}

static int get_int(struct mparse *p, const char *sec, const char *key, const char *v, int lo,
		   int hi, int *out)
{
	double d;

	if (!get_double(p, sec, key, v, lo, hi, &d))
		return 0;
	if (d != floor(d))
		return fail(p, "[%s] %s: '%s' is not an integer", sec, key, v);
	*out = (int)d;
	return 1;
}

static int get_float(struct mparse *p, const char *sec, const char *key, const char *v,
		     double lo, double hi, float *out)
{
	double d;

	if (!get_double(p, sec, key, v, lo, hi, &d))
		return 0;
	*out = (float)d;
	return 1;
}

static int get_bool(struct mparse *p, const char *sec, const char *key, const char *v,
		    bool *out)
{
	if (!strcasecmp(v, "yes") || !strcasecmp(v, "true") || !strcasecmp(v, "on") ||
	    !strcmp(v, "1")) {
		*out = true;
		return 1;
	}
	if (!strcasecmp(v, "no") || !strcasecmp(v, "false") || !strcasecmp(v, "off") ||
	    !strcmp(v, "0")) {
		*out = false;
		return 1;
	}
	return fail(p, "[%s] %s: '%s' is not a boolean (yes/no)", sec, key, v);
}

static int get_str(struct mparse *p, const char *sec, const char *key, const char *v, char *dst,
		   size_t size)
{
	size_t n = strlen(v);

	if (n >= size)
		return fail(p, "[%s] %s: value longer than %zu characters", sec, key, size - 1);
	memcpy(dst, v, n + 1);
	return 1;
}

static int get_enum(struct mparse *p, const char *sec, const char *key, const char *v,
		    const char *const *names, int *out)
{
	for (int i = 0; names[i]; i++)
		if (!strcasecmp(v, names[i])) {
			*out = i;
			return 1;
		}
	return fail(p, "[%s] %s: unknown value '%s'", sec, key, v);
}

#define KEY(k) (strcmp(name, (k)) == 0)

static int sec_model(struct mparse *p, const char *name, const char *v)
{
	struct an_manifest *m = p->m;
	const char *s = "model";

	if (KEY("name"))
		return get_str(p, s, name, v, m->name, sizeof m->name);
	if (KEY("algorithm"))
		return get_str(p, s, name, v, m->algorithm, sizeof m->algorithm);
	if (KEY("version"))
		return get_str(p, s, name, v, m->version, sizeof m->version);
	if (KEY("manufacturer"))
		return get_str(p, s, name, v, m->manufacturer, sizeof m->manufacturer);
	if (KEY("sha256")) {
		if (strlen(v) != 64 || strspn(v, "0123456789abcdefABCDEF") != 64)
			return fail(p, "[model] sha256: not 64 hexadecimal digits");
		return get_str(p, s, name, v, m->sha256, sizeof m->sha256);
	}
	if (KEY("input_name"))
		return get_str(p, s, name, v, m->input_name, sizeof m->input_name);
	if (KEY("device_uid")) {
		if (!get_str(p, s, name, v, m->device_uid, sizeof m->device_uid))
			return 0;
		if (!dcm_uid_valid(m->device_uid))
			return fail(p, "[model] device_uid: '%s' is not a valid UID (PS3.5 9.1)", v);
		return 1;
	}
	if (KEY("onnx")) {
		int n;
		if (v[0] == '\0')
			return fail(p, "[model] onnx: empty");
		if (v[0] == '/' || p->dir == NULL || p->dir[0] == '\0')
			n = snprintf(m->onnx_path, sizeof m->onnx_path, "%s", v);
		else
			n = snprintf(m->onnx_path, sizeof m->onnx_path, "%s/%s", p->dir, v);
		if (n < 0 || (size_t)n >= sizeof m->onnx_path)
			return fail(p, "[model] onnx: path too long");
		p->seen_file = true;
		return 1;
	}
	if (KEY("max_batch"))
		return get_int(p, s, name, v, 1, 256, &m->max_batch);
	return fail(p, "[model] unknown key '%s'", name);
}

static int sec_input(struct mparse *p, const char *name, const char *v)
{
	static const char *const resample[] = {"bilinear", "area", "nearest", NULL};
	static const char *const fit[] = {"stretch", "pad_centre", NULL};
	static const char *const norm[] = {"none", "zscore", "percentile", "minmax", NULL};
	static const char *const scope[] = {"slice", "series", NULL};
	static const char *const orient[] = {"as_stored", NULL};
	struct an_manifest *m = p->m;
	const char *s = "input";
	int e = 0;

	if (KEY("size")) {
		p->seen_width = p->seen_height = true;
		if (!get_int(p, s, name, v, 8, 4096, &m->width))
			return 0;
		m->height = m->width;
		return 1;
	}
	if (KEY("width")) {
		p->seen_width = true;
		return get_int(p, s, name, v, 8, 4096, &m->width);
	}
	if (KEY("height")) {
		p->seen_height = true;
		return get_int(p, s, name, v, 8, 4096, &m->height);
	}
	if (KEY("channels")) {
		if (!get_int(p, s, name, v, 1, 15, &m->channels))
			return 0;
		if ((m->channels & 1) == 0)
			return fail(p, "[input] channels: must be odd (slices centred on the one "
				    "analysed)");
		return 1;
	}
	if (KEY("resample")) {
		if (!get_enum(p, s, name, v, resample, &e))
			return 0;
		m->resample = (enum prep_method)e;
		return 1;
	}
	if (KEY("fit")) {
		if (!get_enum(p, s, name, v, fit, &e))
			return 0;
		m->fit = (enum an_fit)e;
		return 1;
	}
	if (KEY("pad_value"))
		return get_float(p, s, name, v, -1e9, 1e9, &m->pad_value);
	if (KEY("normalise") || KEY("normalize")) {
		if (!get_enum(p, s, name, v, norm, &e))
			return 0;
		m->norm = (enum an_norm)e;
		return 1;
	}
	if (KEY("scope")) {
		if (!get_enum(p, s, name, v, scope, &e))
			return 0;
		m->norm_volume = e == 1;
		return 1;
	}
	if (KEY("p_low"))
		return get_double(p, s, name, v, 0, 100, &m->p_low);
	if (KEY("p_high"))
		return get_double(p, s, name, v, 0, 100, &m->p_high);
	if (KEY("clip_min")) {
		m->clip = true;
		return get_double(p, s, name, v, -1e9, 1e9, &m->clip_min);
	}
	if (KEY("clip_max")) {
		m->clip = true;
		return get_double(p, s, name, v, -1e9, 1e9, &m->clip_max);
	}
	if (KEY("orientation"))
		return get_enum(p, s, name, v, orient, &e);
	if (KEY("modality"))
		return get_str(p, s, name, v, m->modality, sizeof m->modality);
	if (KEY("min_slices"))
		return get_int(p, s, name, v, 1, 100000, &m->min_slices);
	return fail(p, "[input] unknown key '%s'", name);
}

static int sec_output(struct mparse *p, const char *name, const char *v)
{
	/* heatmap_activation: what the graph already applied */
	static const char *const act[] = {"sigmoid_applied", "none", NULL};
	static const char *const units[] = {"cells", "pixels", NULL};
	static const char *const mirror[] = {"none", "columns", NULL};
	struct an_manifest *m = p->m;
	const char *s = "output";
	int e = 0;

	if (KEY("stride")) {
		p->seen_stride = true;
		return get_int(p, s, name, v, 1, 64, &m->stride);
	}
	if (KEY("heatmap")) {
		p->seen_heat = true;
		return get_str(p, s, name, v, m->head_heat, sizeof m->head_heat);
	}
	if (KEY("size")) {
		p->seen_size = true;
		return get_str(p, s, name, v, m->head_size, sizeof m->head_size);
	}
	if (KEY("offset"))
		return get_str(p, s, name, v, m->head_offset, sizeof m->head_offset);
	if (KEY("types"))
		return get_str(p, s, name, v, m->head_types, sizeof m->head_types);
	if (KEY("classes"))
		return get_int(p, s, name, v, 1, DEC_MAX_TYPES, &m->classes);
	if (KEY("heatmap_activation")) {
		if (!get_enum(p, s, name, v, act, &e))
			return 0;
		m->heat_logits = e == 1;
		return 1;
	}
	if (KEY("size_units")) {
		if (!get_enum(p, s, name, v, units, &e))
			return 0;
		p->size_cells = e == 0;
		return 1;
	}
	if (KEY("size_log"))
		return get_bool(p, s, name, v, &m->size_log);
	if (KEY("centre_shift"))
		return get_float(p, s, name, v, -64, 64, &m->centre_shift);
	if (KEY("mirror_average")) {
		if (!get_enum(p, s, name, v, mirror, &e))
			return 0;
		m->mirror_average = e == 1;
		return 1;
	}
	return fail(p, "[output] unknown key '%s'", name);
}

static int sec_decode(struct mparse *p, const char *name, const char *v)
{
	static const char *const agg[] = {"max", "mean", NULL};
	struct an_manifest *m = p->m;
	const char *s = "decode";
	int e = 0;

	if (KEY("peak_threshold"))
		return get_float(p, s, name, v, 0, 1, &m->peak_threshold);
	if (KEY("study_threshold"))
		return get_float(p, s, name, v, 0, 1, &m->report_threshold);
	if (KEY("nms_kernel")) {
		if (!get_int(p, s, name, v, 1, 31, &m->nms_kernel))
			return 0;
		if ((m->nms_kernel & 1) == 0)
			return fail(p, "[decode] nms_kernel: must be odd");
		return 1;
	}
	if (KEY("max_peaks"))
		return get_int(p, s, name, v, 1, 1000, &m->max_per_slice);
	if (KEY("link_iou")) {
		m->link_metric = LNK_IOU;
		return get_float(p, s, name, v, 0, 1, &m->link_iou);
	}
	if (KEY("link_overlap")) {
		m->link_metric = LNK_IOMIN;
		return get_float(p, s, name, v, 0, 1, &m->link_iou);
	}
	if (KEY("link_centre_mm"))
		return get_float(p, s, name, v, 0, 1000, &m->link_centre_mm);
	if (KEY("link_gap"))
		return get_int(p, s, name, v, 0, 100, &m->link_max_gap);
	if (KEY("min_slices"))
		return get_int(p, s, name, v, 1, 1000, &m->lesion_min_slices);
	if (KEY("lesion_probability")) {
		if (!get_enum(p, s, name, v, agg, &e))
			return 0;
		m->lesion_agg = (enum lnk_agg)e;
		return 1;
	}
	return fail(p, "[decode] unknown key '%s'", name);
}

/* [label NAME]: NAME is the JSON name; order of appearance = output channel order. */
static int sec_label(struct mparse *p, const char *section, const char *name, const char *v)
{
	struct an_manifest *m = p->m;
	const char *lname = section + 5;
	struct an_label *l = NULL;
	int i;

	while (*lname == ' ' || *lname == '.' || *lname == ':')
		lname++;
	if (*lname == '\0')
		return fail(p, "[%s] a label section needs a name: [label NAME]", section);
	for (i = 0; i < m->nlabels; i++)
		if (strcmp(p->label_sec[i], section) == 0) {
			l = &m->labels[i];
			break;
		}
	if (l == NULL) {
		if (m->nlabels == DEC_MAX_TYPES)
			return fail(p, "more than %d labels", DEC_MAX_TYPES);
		i = m->nlabels++;
		snprintf(p->label_sec[i], sizeof p->label_sec[i], "%s", section);
		l = &m->labels[i];
		memset(l, 0, sizeof *l);
		if (strlen(lname) >= sizeof l->name)
			return fail(p, "[%s] label name too long", section);
		snprintf(l->name, sizeof l->name, "%s", lname);
		p->label_index[i] = -1;
	}
	if (KEY("index"))
		return get_int(p, section, name, v, 0, DEC_MAX_TYPES - 1, &p->label_index[i]);
	if (KEY("code") || KEY("code_value"))
		return get_str(p, section, name, v, l->code_value, sizeof l->code_value);
	if (KEY("scheme") || KEY("coding_scheme"))
		return get_str(p, section, name, v, l->code_scheme, sizeof l->code_scheme);
	if (KEY("meaning") || KEY("code_meaning"))
		return get_str(p, section, name, v, l->code_meaning, sizeof l->code_meaning);
	return fail(p, "[%s] unknown key '%s'", section, name);
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
	struct mparse *p = user;

	if (p->failed)
		return 0;
	if (!strcmp(section, "model"))
		return sec_model(p, name, value);
	if (!strcmp(section, "input"))
		return sec_input(p, name, value);
	if (!strcmp(section, "output"))
		return sec_output(p, name, value);
	if (!strcmp(section, "decode"))
		return sec_decode(p, name, value);
	if (!strncmp(section, "label", 5))
		return sec_label(p, section, name, value);
	return fail(p, "unknown section [%s]", section);
}

static void defaults(struct an_manifest *m)
{
	memset(m, 0, sizeof *m);
	m->max_batch = 8;
	m->channels = 1;
	m->resample = PREP_BILINEAR;
	m->fit = AN_FIT_STRETCH;
	m->pad_value = 0;
	m->norm = AN_NORM_PERCENTILE;
	m->norm_volume = true;
	m->p_low = 1;
	m->p_high = 99;
	m->clip = false;
	m->clip_min = -INFINITY;
	m->clip_max = INFINITY;
	snprintf(m->modality, sizeof m->modality, "MR");
	m->min_slices = 1;
	m->heat_logits = false;
	m->size_unit = 1;
	m->centre_shift = 0;
	m->peak_threshold = 0.1f;
	m->report_threshold = 0.5f;
	m->nms_kernel = 3;
	m->max_per_slice = 8;
	m->link_metric = LNK_IOMIN;
	m->link_iou = 0.3f;
	m->link_centre_mm = 0;
	m->link_max_gap = 1;
	m->lesion_min_slices = 1;
	m->lesion_agg = LNK_AGG_MAX;
}

/* Order labels by their index keys (all given, 0..n-1 each once) or keep file order. */
static int order_labels(struct mparse *p, const char **why)
{
	struct an_manifest *m = p->m;
	struct an_label sorted[DEC_MAX_TYPES];
	int given = 0;

	for (int i = 0; i < m->nlabels; i++)
		given += p->label_index[i] >= 0;
	if (given == 0)
		return 0;
	if (given != m->nlabels) {
		*why = "either every [label NAME] has an index or none has";
		return -1;
	}
	for (int k = 0; k < m->nlabels; k++) {
		int found = -1;
		for (int i = 0; i < m->nlabels; i++)
			if (p->label_index[i] == k) {
				if (found >= 0) {
					*why = "two labels have the same index";
					return -1;
				}
				found = i;
			}
		if (found < 0) {
			*why = "label indexes must be 0..n-1";
			return -1;
		}
		sorted[k] = m->labels[found];
	}
	memcpy(m->labels, sorted, (size_t)m->nlabels * sizeof sorted[0]);
	return 0;
}

int analysis_manifest_parse(const char *text, const char *label, const char *dir,
			    struct an_manifest *out, char *err, size_t errlen)
{
	struct mparse p;
	int line;

	defaults(out);
	memset(&p, 0, sizeof p);
	p.m = out;
	p.dir = dir;
	p.size_cells = true;
	line = ini_parse_string(text, handler, &p);
	if (line != 0 || p.failed) {
		if (errlen) {
			if (p.failed)
				snprintf(err, errlen, "%s:%d: %s", label, line, p.msg);
			else
				snprintf(err, errlen, "%s:%d: syntax error", label, line);
		}
		return AN_EMANIFEST;
	}
#define REQUIRE(cond, what)                                                               \
	do {                                                                              \
		if (!(cond)) {                                                            \
			if (errlen)                                                       \
				snprintf(err, errlen, "%s: %s", label, what);             \
			return AN_EMANIFEST;                                              \
		}                                                                         \
	} while (0)
	REQUIRE(p.seen_file, "[model] onnx is required");
	REQUIRE(out->name[0] && out->version[0] && out->device_uid[0],
		"[model] name, version and device_uid are required");
	REQUIRE(p.seen_width && p.seen_height, "[input] width and height are required");
	REQUIRE(p.seen_stride, "[output] stride is required");
	REQUIRE(p.seen_heat && p.seen_size, "[output] heatmap and size are required");
	REQUIRE(out->width % out->stride == 0 && out->height % out->stride == 0,
		"[input] width and height must be multiples of [output] stride");
	REQUIRE(out->norm != AN_NORM_PERCENTILE || out->p_low < out->p_high,
		"[input] p_low must be below p_high");
	REQUIRE(out->head_types[0] == '\0' || out->nlabels > 0,
		"[output] types needs [label NAME] sections");
	for (int i = 0; i < out->nlabels; i++)
		REQUIRE(out->labels[i].code_value[0] && out->labels[i].code_scheme[0] &&
				out->labels[i].code_meaning[0],
			"every [label NAME] needs code, scheme and meaning");
	const char *why = NULL;
	REQUIRE(order_labels(&p, &why) == 0, why);
	if (out->classes == 0)
		out->classes = out->head_types[0] ? 1 : (out->nlabels > 0 ? out->nlabels : 1);
	REQUIRE(out->head_types[0] || out->classes == 1 || out->classes == out->nlabels,
		"[output] classes must equal the number of [label NAME] sections");
	REQUIRE(out->clip_min <= out->clip_max, "[input] clip_min must not exceed clip_max");
#undef REQUIRE
	out->size_unit = p.size_cells ? (float)out->stride : 1.0f;
	return 0;
}
