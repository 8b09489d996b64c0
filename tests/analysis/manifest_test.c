/*
 * The model manifest parser (analysis_manifest_parse, keys of models/README.md): a valid
 * manifest in the bundled model's form, and the errors with their line numbers.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "analysis/analysis.h"
#include "analysis/sha256.h"

static const char good[] =
	"; comment\n"
	"[model]\n"
	"name = brain-tumour-detector\n"
	"algorithm = test\n"
	"version = 1.2\n"
	"device_uid = 2.25.1234\n"
	"sha256 = ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\n"
	"onnx = m.onnx\n"
	"input_name = image\n"
	"\n"
	"[input]\n"
	"size = 256\n"
	"channels = 1\n"
	"resample = bilinear\n"
	"fit = pad_centre\n"
	"pad_value = 0.0\n"
	"normalise = percentile\n"
	"scope = series\n"
	"p_low = 1.0\n"
	"p_high = 99.0\n"
	"clip_min = 0.0\n"
	"clip_max = 2.0\n"
	"orientation = as_stored\n"
	"\n"
	"[output]\n"
	"stride = 4\n"
	"heatmap = heatmap\n"
	"heatmap_activation = sigmoid_applied\n"
	"size = size\n"
	"size_units = cells\n"
	"offset = offset\n"
	"classes = 3\n"
	"\n"
	"[decode]\n"
	"peak_threshold = 0.1\n"
	"nms_kernel = 3\n"
	"max_peaks = 8\n"
	"link_overlap = 0.3\n"
	"link_gap = 1\n"
	"min_slices = 1\n"
	"study_threshold = 0.5\n"
	"\n"
	"[label meningioma]\n"
	"index = 1\n"
	"code = 302820008\n"
	"scheme = SCT\n"
	"meaning = Intracranial meningioma\n"
	"\n"
	"[label glioma]\n"
	"index = 0\n"
	"code = 393564001\n"
	"scheme = SCT\n"
	"meaning = Glioma of brain\n"
	"\n"
	"[label pituitary]\n"
	"index = 2\n"
	"code = 254956000\n"
	"scheme = SCT\n"
	"meaning = Pituitary adenoma\n";

Test(manifest, bundled_form)
{
	struct an_manifest m;
	char err[256] = "";

	cr_assert_eq(analysis_manifest_parse(good, "t.ini", "/models", &m, err, sizeof err), 0,
		     "%s", err);
	cr_assert_str_eq(m.onnx_path, "/models/m.onnx");
	cr_assert_str_eq(m.device_uid, "2.25.1234");
	cr_assert_eq(m.width, 256);
	cr_assert_eq(m.height, 256);
	cr_assert_eq(m.fit, AN_FIT_PAD_CENTRE);
	cr_assert_eq(m.norm, AN_NORM_PERCENTILE);
	cr_assert(m.norm_volume);
	cr_assert(m.clip);
	cr_assert_float_eq(m.clip_max, 2.0, 0);
	cr_assert_eq(m.stride, 4);
	cr_assert_float_eq(m.size_unit, 4.0f, 0);
	cr_assert_not(m.heat_logits);
	cr_assert_eq(m.classes, 3);
	cr_assert_eq(m.max_per_slice, 8);
	cr_assert_eq(m.link_metric, LNK_IOMIN);
	cr_assert_float_eq(m.link_iou, 0.3f, 1e-7);
	cr_assert_float_eq(m.report_threshold, 0.5f, 1e-7);
	cr_assert_eq(m.nlabels, 3);
	/* ordered by index, not by appearance */
	cr_assert_str_eq(m.labels[0].name, "glioma");
	cr_assert_str_eq(m.labels[1].name, "meningioma");
	cr_assert_str_eq(m.labels[1].code_value, "302820008");
	cr_assert_str_eq(m.labels[2].code_meaning, "Pituitary adenoma");
	cr_assert_str_eq(m.modality, "MR");
	cr_assert_not(m.mirror_average);
}

/* Replace the line starting with `key` (first occurrence) by `line` ("" deletes it). */
static void edit(char *out, size_t len, const char *key, const char *line)
{
	const char *p = strstr(good, key);
	const char *e;

	cr_assert_not_null(p, "%s", key);
	e = strchr(p, '\n') + 1;
	snprintf(out, len, "%.*s%s%s", (int)(p - good), good, line, e);
}

static void expect_error(const char *key, const char *line, const char *want)
{
	static char text[sizeof good + 256];
	struct an_manifest m;
	char err[256] = "";

	edit(text, sizeof text, key, line);
	cr_assert_eq(analysis_manifest_parse(text, "t.ini", ".", &m, err, sizeof err),
		     AN_EMANIFEST, "%s -> accepted", line);
	cr_assert(strstr(err, want) != NULL, "'%s' gave '%s', wanted '%s'", line, err, want);
}

Test(manifest, errors)
{
	expect_error("size = 256", "size = 25x\n", "t.ini:12: [input] size: '25x' is not a number");
	expect_error("size = 256", "size = 2\n", "out of range");
	expect_error("size = 256", "size = 254\n", "multiples of [output] stride");
	expect_error("resample", "resample = bicubic\n", "t.ini:14: [input] resample: unknown value");
	expect_error("channels", "channels = 2\n", "must be odd");
	expect_error("nms_kernel", "nms_kernel = 4\n", "must be odd");
	expect_error("max_peaks", "max_peakz = 4\n", "t.ini:37: [decode] unknown key 'max_peakz'");
	expect_error("[decode]", "[decoder]\n", "unknown section [decoder]");
	expect_error("device_uid", "device_uid = 2.25.01\n", "not a valid UID");
	expect_error("device_uid", "", "name, version and device_uid are required");
	expect_error("onnx =", "", "[model] onnx is required");
	expect_error("heatmap =", "", "heatmap and size are required");
	expect_error("p_high", "p_high = 0.5\n", "p_low must be below p_high");
	expect_error("index = 2", "index = 1\n", "two labels have the same index");
	expect_error("index = 2", "", "either every [label NAME] has an index or none has");
	expect_error("classes", "classes = 2\n", "classes must equal the number");
	expect_error("code = 254956000", "", "needs code, scheme and meaning");
	expect_error("size_units", "size_units = furlongs\n", "unknown value 'furlongs'");
	expect_error("peak_threshold", "peak_threshold = 1.5\n", "out of range");
	expect_error("heatmap_activation", "heatmap_activation = softmax\n", "unknown value");
	expect_error("classes", "classes = 3\nmirror_average = rows\n",
		     "[output] mirror_average: unknown value 'rows'");
	expect_error("; comment", "this is not ini\n", "t.ini:1:");
	expect_error("sha256", "sha256 = abc\n", "[model] sha256: not 64 hexadecimal digits");
}

Test(manifest, defaults_and_alternatives)
{
	static char text[sizeof good + 256];
	struct an_manifest m;
	char err[256] = "";

	/* link_iou chooses IoU; size_units pixels; logits */
	edit(text, sizeof text, "link_overlap", "link_iou = 0.25\n");
	cr_assert_eq(analysis_manifest_parse(text, "t.ini", "", &m, err, sizeof err), 0, "%s",
		     err);
	cr_assert_eq(m.link_metric, LNK_IOU);
	cr_assert_str_eq(m.onnx_path, "m.onnx");
	edit(text, sizeof text, "size_units", "size_units = pixels\n");
	cr_assert_eq(analysis_manifest_parse(text, "t.ini", "d", &m, err, sizeof err), 0);
	cr_assert_float_eq(m.size_unit, 1.0f, 0);
	edit(text, sizeof text, "heatmap_activation", "heatmap_activation = none\n");
	cr_assert_eq(analysis_manifest_parse(text, "t.ini", "d", &m, err, sizeof err), 0);
	cr_assert(m.heat_logits);
	edit(text, sizeof text, "scope", "scope = slice\n");
	cr_assert_eq(analysis_manifest_parse(text, "t.ini", "d", &m, err, sizeof err), 0);
	cr_assert_not(m.norm_volume);
	edit(text, sizeof text, "classes", "classes = 3\nmirror_average = columns\n");
	cr_assert_eq(analysis_manifest_parse(text, "t.ini", "d", &m, err, sizeof err), 0, "%s",
		     err);
	cr_assert(m.mirror_average);
}

Test(manifest, load_reports_missing_files)
{
	struct analysis_model *am = NULL;
	char err[256] = "";

	cr_assert_eq(analysis_model_load("/nonexistent/m.ini", &am, err, sizeof err),
		     AN_EMANIFEST);
	cr_assert_null(am);
	cr_assert(strstr(err, "/nonexistent/m.ini") == err, "%s", err);
}

/* FIPS 180-4 examples (NIST CSRC "SHA256.pdf"): one block, two blocks. */
Test(manifest, sha256_vectors)
{
	struct sha256 s;
	char hex[65];
	static const char two[] = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";

	sha256_init(&s);
	sha256_update(&s, "abc", 3);
	sha256_hex(&s, hex);
	cr_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	sha256_init(&s);
	for (size_t i = 0; i < sizeof two - 1; i++) /* byte by byte across the block edge */
		sha256_update(&s, two + i, 1);
	sha256_hex(&s, hex);
	cr_assert_str_eq(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
	sha256_init(&s);
	sha256_hex(&s, hex);
	cr_assert_str_eq(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}
