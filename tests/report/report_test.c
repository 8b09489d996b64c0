/* report_test.c: the dcmtk adapter from C (which also proves a C program links libreport.a):
 * pixel decoding of every MR_small variant pydicom ships plus variants made here with dcmtk's
 * own encoders, compared value by value with an independent read of the native file's Pixel
 * Data; clean errors for JPEG 2000 and damaged files; concurrent decoding from threads; the
 * SR and GSPS writers' contract (written, rejected with nothing on disk). The content of the
 * written objects is checked by validate.sh with dsrdump, dciodvfy and dcmpschk. */
#include "report/report.h"
#include "sample.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FILES "/usr/lib/python3/dist-packages/pydicom/data/test_files"

static char tmpdir[64];

static void setup(void)
{
	strcpy(tmpdir, "/tmp/report_test.XXXXXX");
	cr_assert_not_null(mkdtemp(tmpdir));
}

static void teardown(void)
{
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	cr_assert_eq(system(cmd), 0);
}

static char *read_all(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	cr_assert_not_null(fp, "open %s", path);
	fseek(fp, 0, SEEK_END);
	long n = ftell(fp);
	fseek(fp, 0, SEEK_SET);
	char *buf = malloc((size_t)n + 1);
	cr_assert_eq(fread(buf, 1, (size_t)n, fp), (size_t)n);
	fclose(fp);
	*len = (size_t)n;
	return buf;
}

static void write_all(const char *path, const char *buf, size_t len)
{
	FILE *fp = fopen(path, "wb");
	cr_assert_not_null(fp);
	cr_assert_eq(fwrite(buf, 1, len, fp), len);
	fclose(fp);
}

/* Independent reference: the values of a native little-endian file's (7FE0,0010), found by
 * its tag bytes (explicit "OW" or implicit VR), read as unsigned little-endian samples of
 * `bytes` bytes each (no rescale in these files). */
static int64_t *raw_values(const char *path, int bytes, int is_signed, size_t *count)
{
	size_t len;
	char *buf = read_all(path, &len);
	const char tag[4] = {'\xe0', '\x7f', '\x10', '\x00'};
	char *p = memmem(buf, len, tag, sizeof tag);
	cr_assert_not_null(p);
	size_t at;
	uint32_t vlen;
	if (memcmp(p + 4, "OW", 2) == 0 || memcmp(p + 4, "OB", 2) == 0) {
		vlen = (uint8_t)p[8] | (uint8_t)p[9] << 8 | (uint8_t)p[10] << 16 |
		       (uint32_t)(uint8_t)p[11] << 24;
		at = 12;
	} else {
		vlen = (uint8_t)p[4] | (uint8_t)p[5] << 8 | (uint8_t)p[6] << 16 |
		       (uint32_t)(uint8_t)p[7] << 24;
		at = 8;
	}
	cr_assert_leq(p + at + vlen, buf + len);
	size_t n = vlen / (size_t)bytes;
	int64_t *v = malloc(n * sizeof *v);
	for (size_t i = 0; i < n; i++) {
		uint64_t x = 0;
		for (int b = bytes - 1; b >= 0; b--)
			x = x << 8 | (uint8_t)p[at + i * (size_t)bytes + (size_t)b];
		if (is_signed && bytes == 2)
			v[i] = (int16_t)x;
		else
			v[i] = (int64_t)x;
	}
	free(buf);
	*count = n;
	return v;
}

static int16_t *reference(size_t *count)
{
	int64_t *v = raw_values(FILES "/MR_small.dcm", 2, 1, count);
	int16_t *r = malloc(*count * sizeof *r);
	for (size_t i = 0; i < *count; i++)
		r[i] = (int16_t)v[i];
	free(v);
	return r;
}

/* Makes tmpdir/name from MR_small.dcm with a dcmtk encoder command (IN and OUT substituted). */
static const char *variant(const char *name, const char *tool, const char *opts)
{
	static char out[256];
	char cmd[512];
	snprintf(out, sizeof out, "%s/%s", tmpdir, name);
	snprintf(cmd, sizeof cmd, "%s %s '%s' '%s' 2>/dev/null", tool, opts, FILES "/MR_small.dcm", out);
	cr_assert_eq(system(cmd), 0, "%s", cmd);
	return out;
}

static void expect_identical(const char *path, const char *ts)
{
	size_t n;
	int16_t *ref = reference(&n);
	struct report_image img;
	char err[256] = "";
	int rc = report_decode_pixels(path, &img, err, sizeof err);
	cr_assert_eq(rc, 0, "%s: %s", path, err);
	cr_assert_eq(img.rows, 64);
	cr_assert_eq(img.cols, 64);
	cr_assert_eq(img.frames, 1);
	cr_assert_eq(n, 64u * 64u);
	if (ts)
		cr_assert_str_eq(img.transfer_syntax_uid, ts);
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(img.pixels[i], (float)ref[i], "%s: pixel %zu: %f != %d", path, i,
		             img.pixels[i], ref[i]);
	cr_assert(img.has_position && img.has_orientation && img.has_spacing);
	cr_assert_gt(img.spacing[0], 0.0);
	cr_assert_str_eq(img.modality, "MR");
	cr_assert_str_eq(img.sop_class_uid, "1.2.840.10008.5.1.4.1.1.4");
	cr_assert_neq(img.study.study_instance_uid[0], '\0');
	cr_assert_neq(img.series_instance_uid[0], '\0');
	report_image_free(&img);
	cr_assert_null(img.pixels);
	free(ref);
}

TestSuite(decode, .init = setup, .fini = teardown);

Test(decode, pydicom_variants_identical)
{
	expect_identical(FILES "/MR_small.dcm", "1.2.840.10008.1.2.1");
	expect_identical(FILES "/MR_small_implicit.dcm", "1.2.840.10008.1.2");
	expect_identical(FILES "/MR_small_bigendian.dcm", "1.2.840.10008.1.2.2");
	expect_identical(FILES "/MR_small_expb.dcm", "1.2.840.10008.1.2.2");
	expect_identical(FILES "/MR_small_padded.dcm", "1.2.840.10008.1.2.1");
	expect_identical(FILES "/MR_small_RLE.dcm", "1.2.840.10008.1.2.5");
	expect_identical(FILES "/MR_small_jpeg_ls_lossless.dcm", "1.2.840.10008.1.2.4.80");
}

Test(decode, dcmtk_encoded_lossless_identical)
{
	expect_identical(variant("deflate.dcm", "dcmconv", "+td"), "1.2.840.10008.1.2.1.99");
	expect_identical(variant("sv1.dcm", "dcmcjpeg", "+e1"), "1.2.840.10008.1.2.4.70");
	expect_identical(variant("p14.dcm", "dcmcjpeg", "+el"), "1.2.840.10008.1.2.4.57");
	expect_identical(variant("jls.dcm", "dcmcjpls", "+el"), "1.2.840.10008.1.2.4.80");
	expect_identical(variant("rle.dcm", "dcmcrle", ""), "1.2.840.10008.1.2.5");
}

Test(decode, near_lossless_within_bound)
{
	size_t n;
	int16_t *ref = reference(&n);
	struct report_image img;
	char err[256];
	/* dcmtk's JPEG-LS encoder refuses signed input for near-lossless; MR_small's values are
	 * all positive, so the same pixels marked unsigned make the source. */
	char cmd[1024], p[160];
	snprintf(p, sizeof p, "%s/near.dcm", tmpdir);
	snprintf(cmd, sizeof cmd, "cp '%s' '%s/u.dcm' && dcmodify -nb -m '(0028,0103)=0' '%s/u.dcm' "
	         ">/dev/null 2>&1 && dcmcjpls +en '%s/u.dcm' '%s'", FILES "/MR_small.dcm", tmpdir,
	         tmpdir, tmpdir, p);
	cr_assert_eq(system(cmd), 0, "%s", cmd);
	cr_assert_eq(report_decode_pixels(p, &img, err, sizeof err), 0, "%s", err);
	cr_assert_str_eq(img.transfer_syntax_uid, "1.2.840.10008.1.2.4.81");
	int maxdiff = 0;
	for (size_t i = 0; i < n; i++) {
		cr_assert_geq(ref[i], 0);
		int d = abs((int)img.pixels[i] - ref[i]);
		maxdiff = d > maxdiff ? d : maxdiff;
	}
	cr_assert_leq(maxdiff, 2, "NEAR=2 allows 2, got %d", maxdiff); /* dcmcjpls +en: NEAR 2 */
	report_image_free(&img);
	free(ref);
}

Test(decode, lossy_jpeg_decodes)
{
	static const char *const opts[] = {"+eb", "+ee"};
	static const char *const ts[] = {"1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51"};
	for (int i = 0; i < 2; i++) {
		struct report_image img;
		char err[256], name[32];
		snprintf(name, sizeof name, "lossy%d.dcm", i);
		const char *p = variant(name, "dcmcjpeg", opts[i]);
		cr_assert_eq(report_decode_pixels(p, &img, err, sizeof err), 0, "%s", err);
		cr_assert_str_eq(img.transfer_syntax_uid, ts[i]);
		cr_assert_eq(img.rows, 64);
		cr_assert_eq(img.cols, 64);
		float mn = img.pixels[0], mx = img.pixels[0];
		for (size_t k = 0; k < 64 * 64; k++) {
			mn = img.pixels[k] < mn ? img.pixels[k] : mn;
			mx = img.pixels[k] > mx ? img.pixels[k] : mx;
		}
		cr_assert_gt(mx, mn, "decoded image is flat");
		report_image_free(&img);
	}
}

/* Multi-frame: pydicom's 15-frame 32-bit RT Dose in implicit LE, explicit BE and RLE. */
Test(decode, multiframe_32bit_variants_identical)
{
	size_t n;
	int64_t *ref = raw_values(FILES "/rtdose.dcm", 4, 0, &n);
	static const char *const files[] = {"rtdose.dcm", "rtdose_expb.dcm", "rtdose_rle.dcm"};
	for (int f = 0; f < 3; f++) {
		char path[256], err[256] = "";
		snprintf(path, sizeof path, "%s/%s", FILES, files[f]);
		struct report_image img;
		cr_assert_eq(report_decode_pixels(path, &img, err, sizeof err), 0, "%s: %s", path, err);
		cr_assert_eq(img.frames, 15);
		cr_assert_eq((size_t)img.rows * img.cols * img.frames, n);
		for (size_t i = 0; i < n; i++)
			cr_assert_eq((double)img.pixels[i], (double)(float)ref[i], "%s: value %zu",
			             files[f], i);
		report_image_free(&img);
	}
	free(ref);
}

/* Per-frame Plane Position (Enhanced MR layout, PS3.3 C.7.6.16.2.3): the 15-frame dose file
 * given a Per-frame Functional Groups Sequence with z = 2.5 * frame by dcmodify. */
Test(decode, per_frame_positions)
{
	static char cmd[8192];
	char path[128];
	snprintf(path, sizeof path, "%s/pf.dcm", tmpdir);
	int n = snprintf(cmd, sizeof cmd, "cp '%s' '%s' && dcmodify -nb", FILES "/rtdose.dcm", path);
	for (int f = 0; f < 15; f++)
		n += snprintf(cmd + n, sizeof cmd - (size_t)n,
		              " -i '(5200,9230)[%d].(0020,9113)[0].(0020,0032)=-10\\20.5\\%g'", f,
		              2.5 * f);
	snprintf(cmd + n, sizeof cmd - (size_t)n, " '%s' >/dev/null 2>&1", path);
	cr_assert_eq(system(cmd), 0, "%s", cmd);
	struct report_image img;
	char err[256] = "";
	cr_assert_eq(report_decode_pixels(path, &img, err, sizeof err), 0, "%s", err);
	cr_assert_eq(img.frames, 15);
	cr_assert_not_null(img.frame_positions);
	for (int f = 0; f < 15; f++) {
		cr_assert_eq(img.frame_positions[3 * f], -10.0);
		cr_assert_eq(img.frame_positions[3 * f + 1], 20.5);
		cr_assert_eq(img.frame_positions[3 * f + 2], 2.5 * f);
	}
	cr_assert(img.has_position);
	cr_assert_eq(img.position[2], 0.0);
	report_image_free(&img);
	cr_assert_null(img.frame_positions);
	/* without per-frame groups: no array */
	cr_assert_eq(report_decode_pixels(FILES "/rtdose.dcm", &img, err, sizeof err), 0, "%s", err);
	cr_assert_null(img.frame_positions);
	report_image_free(&img);
}

/* 12-bit JPEG extended from other encoders: decodes, and both files hold the same picture. */
Test(decode, jpeg_extended_from_other_encoders)
{
	struct report_image a, b;
	char err[256] = "";
	cr_assert_eq(report_decode_pixels(FILES "/JPGExtended.dcm", &a, err, sizeof err), 0, "%s", err);
	cr_assert_eq(report_decode_pixels(FILES "/JPEG-lossy.dcm", &b, err, sizeof err), 0, "%s", err);
	cr_assert_str_eq(a.transfer_syntax_uid, "1.2.840.10008.1.2.4.51");
	cr_assert_eq(a.rows, b.rows);
	cr_assert_eq(a.cols, b.cols);
	cr_assert_eq(memcmp(a.pixels, b.pixels, (size_t)a.rows * a.cols * sizeof(float)), 0);
	float mx = 0;
	for (size_t i = 0; i < (size_t)a.rows * a.cols; i++)
		mx = a.pixels[i] > mx ? a.pixels[i] : mx;
	cr_assert_gt(mx, 0.0f);
	cr_assert_leq(mx, 4095.0f); /* 12 bits stored */
	report_image_free(&a);
	report_image_free(&b);
}

/* A Modality LUT Sequence replaces the rescale: LUT entry k = 3k + 7 for 4096 entries. */
Test(decode, modality_lut_sequence)
{
	static char cmd[40000];
	char path[128];
	snprintf(path, sizeof path, "%s/mlut.dcm", tmpdir);
	int n = snprintf(cmd, sizeof cmd, "cp '%s' '%s' && dcmodify -nb "
	                 "-i '(0028,3000)[0].(0028,3002)=4096\\0\\16' "
	                 "-i '(0028,3000)[0].(0028,3004)=US' -i '(0028,3000)[0].(0028,3006)=",
	                 FILES "/MR_small.dcm", path);
	for (int k = 0; k < 4096; k++)
		/* dcmodify reads OW values as hexadecimal */
		n += snprintf(cmd + n, sizeof cmd - (size_t)n, "%s%x", k ? "\\" : "", 3 * k + 7);
	snprintf(cmd + n, sizeof cmd - (size_t)n, "' '%s' >/dev/null 2>&1", path);
	cr_assert_eq(system(cmd), 0);
	size_t count;
	int16_t *ref = reference(&count);
	struct report_image img;
	char err[256] = "";
	cr_assert_eq(report_decode_pixels(path, &img, err, sizeof err), 0, "%s", err);
	for (size_t i = 0; i < count; i++)
		cr_assert_eq(img.pixels[i], (float)(3 * ref[i] + 7), "pixel %zu", i);
	report_image_free(&img);
	free(ref);
}

Test(decode, jpeg2000_is_a_clean_error)
{
	struct report_image img;
	char err[256] = "";
	cr_assert_eq(report_decode_pixels(FILES "/MR_small_jp2klossless.dcm", &img, err, sizeof err),
	             REPORT_EUNSUPP);
	cr_assert_not_null(strstr(err, "1.2.840.10008.1.2.4.90"), "%s", err);
	cr_assert_null(img.pixels);
}

Test(decode, missing_and_garbage_files)
{
	struct report_image img;
	char err[256], path[128];
	cr_assert_eq(report_decode_pixels("/nonexistent/x.dcm", &img, err, sizeof err), REPORT_EIO);
	snprintf(path, sizeof path, "%s/garbage.dcm", tmpdir);
	write_all(path, "this is not DICOM at all, not even close", 40);
	cr_assert_eq(report_decode_pixels(path, &img, err, sizeof err), REPORT_EFORMAT);
	cr_assert_null(img.pixels);
}

/* Damaged pixel data: truncation at every 97th byte of the native file, and flipped bytes in
 * the compressed bitstreams; each must give an error or (for bitstream damage that still
 * decodes) a full image, never a crash. Truncation inside Pixel Data must be an error. */
Test(decode, truncated_native_is_an_error)
{
	size_t len;
	char *buf = read_all(FILES "/MR_small.dcm", &len);
	char path[128];
	snprintf(path, sizeof path, "%s/trunc.dcm", tmpdir);
	for (size_t cut = 132; cut < len; cut += 97) {
		write_all(path, buf, cut);
		struct report_image img;
		char err[256];
		int rc = report_decode_pixels(path, &img, err, sizeof err);
		if (cut < len - 8192) /* anything short of the whole Pixel Data value */
			cr_assert_lt(rc, 0, "cut at %zu decoded", cut);
		if (rc == 0)
			report_image_free(&img);
		else
			cr_assert_null(img.pixels);
	}
	/* the last 8192 bytes are the value: every cut inside it must fail too */
	write_all(path, buf, len - 1000);
	struct report_image img;
	char err[256];
	cr_assert_eq(report_decode_pixels(path, &img, err, sizeof err), REPORT_EFORMAT);
	free(buf);
}

static void damage(const char *src, const char *name, size_t from_end, int expect_error)
{
	size_t len;
	char *buf = read_all(src, &len);
	/* overwrite bytes inside the last fragment (the bitstream's tail end) */
	for (size_t i = len - from_end; i < len - 8 && i < len - from_end + 64; i++)
		buf[i] = (char)(buf[i] ^ 0x5a);
	char path[128];
	snprintf(path, sizeof path, "%s/%s", tmpdir, name);
	write_all(path, buf, len);
	struct report_image img;
	char err[256] = "";
	int rc = report_decode_pixels(path, &img, err, sizeof err);
	if (expect_error)
		cr_assert_eq(rc, REPORT_EFORMAT, "%s: rc %d", name, rc);
	if (rc == 0) {
		cr_assert_eq(img.rows * img.cols, 64u * 64u);
		report_image_free(&img);
	} else {
		cr_assert_neq(err[0], '\0');
	}
	free(buf);
}

/* JPEG and JPEG-LS bitstreams carry enough structure for damage to be detected; RLE has no
 * check data (PS3.5 Annex G), so damage inside a segment can only be required not to crash. */
Test(decode, damaged_bitstreams)
{
	damage(FILES "/MR_small_jpeg_ls_lossless.dcm", "jls_bad.dcm", 2000, 1);
	damage(variant("sv1.dcm", "dcmcjpeg", "+e1"), "sv1_bad.dcm", 2000, 1);
	damage(FILES "/MR_small_RLE.dcm", "rle_bad.dcm", 3000, 0);
}

Test(decode, truncated_encapsulated_is_an_error)
{
	static const char *const files[] = {FILES "/MR_small_jpeg_ls_lossless.dcm",
	                                    FILES "/MR_small_RLE.dcm"};
	for (int f = 0; f < 2; f++) {
		size_t len;
		char *buf = read_all(files[f], &len);
		char path[128];
		snprintf(path, sizeof path, "%s/cut%d.dcm", tmpdir, f);
		for (size_t cut = 200; cut <= 2000; cut += 450) {
			write_all(path, buf, len - cut);
			struct report_image img;
			char err[256];
			cr_assert_eq(report_decode_pixels(path, &img, err, sizeof err), REPORT_EFORMAT,
			             "%s cut by %zu", files[f], cut);
		}
		free(buf);
	}
}

Test(decode, rle_header_damage_is_an_error)
{
	/* RLE header (PS3.5 G.4): segment count 1, first offset 64; a count of 15 with zero
	 * offsets points the segments outside the fragment. */
	size_t len;
	char *buf = read_all(FILES "/MR_small_RLE.dcm", &len);
	const char hdr[8] = {2, 0, 0, 0, 64, 0, 0, 0}; /* 16-bit: two segments, first at 64 */
	char *p = memmem(buf, len, hdr, sizeof hdr);
	cr_assert_not_null(p, "RLE header not found");
	memset(p, 0, 64);
	p[0] = 15;
	char path[128];
	snprintf(path, sizeof path, "%s/rlehdr.dcm", tmpdir);
	write_all(path, buf, len);
	struct report_image img;
	char err[256];
	cr_assert_eq(report_decode_pixels(path, &img, err, sizeof err), REPORT_EFORMAT);
	free(buf);
}

/* Several workers decoding at once (codecs registered once, no shared state per call). */
static void *worker(void *arg)
{
	const char *const *files = arg;
	size_t n;
	int16_t *ref = reference(&n);
	for (int round = 0; round < 10; round++)
		for (int i = 0; files[i]; i++) {
			struct report_image img;
			char err[256];
			if (report_decode_pixels(files[i], &img, err, sizeof err) != 0)
				return (void *)1;
			int bad = memcmp(&img.rows, &(uint32_t){64}, 4) != 0;
			for (size_t k = 0; !bad && k < n; k++)
				bad = img.pixels[k] != (float)ref[k];
			report_image_free(&img);
			if (bad)
				return (void *)2;
		}
	free(ref);
	return NULL;
}

Test(decode, concurrent_threads)
{
	static const char *const files[] = {FILES "/MR_small_RLE.dcm",
	                                    FILES "/MR_small_jpeg_ls_lossless.dcm",
	                                    FILES "/MR_small_bigendian.dcm", NULL};
	pthread_t t[4];
	for (int i = 0; i < 4; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, worker, (void *)files), 0);
	for (int i = 0; i < 4; i++) {
		void *r;
		pthread_join(t[i], &r);
		cr_assert_null(r, "thread %d failed (%p)", i, r);
	}
}

/* ---- SR and GSPS writers ---- */

TestSuite(writer, .init = setup, .fini = teardown);

static int file_has(const char *path, const char *needle)
{
	size_t len;
	char *buf = read_all(path, &len);
	int found = memmem(buf, len, needle, strlen(needle)) != NULL;
	int dicm = len > 132 && memcmp(buf + 128, "DICM", 4) == 0;
	free(buf);
	return found && dicm;
}

static int exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0;
}

Test(writer, sr_with_lesions_and_given_uids)
{
	static struct sample s;
	sample_fill(&s, 1);
	strcpy(s.f.sr_series_instance_uid, "2.25.5550001");
	strcpy(s.f.sr_sop_instance_uid, "2.25.5550002");
	char path[128], err[256] = "";
	snprintf(path, sizeof path, "%s/sr.dcm", tmpdir);
	cr_assert_eq(report_write_sr(&s.f, path, err, sizeof err), 0, "%s", err);
	cr_assert(file_has(path, "2.25.5550002"));
	cr_assert(file_has(path, "2.25.5550001"));
	cr_assert(file_has(path, "2.25.40002")); /* tracking UID of lesion 2 */
	cr_assert(file_has(path, "1.2.840.10008.5.1.4.1.1.88.34"));
	char tmp[160];
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	cr_assert(!exists(tmp));
}

Test(writer, negative_sr)
{
	static struct sample s;
	sample_fill(&s, 0);
	char path[128], err[256] = "";
	snprintf(path, sizeof path, "%s/neg.dcm", tmpdir);
	cr_assert_eq(report_write_sr(&s.f, path, err, sizeof err), 0, "%s", err);
	cr_assert(file_has(path, "111286")); /* No abnormality */
	cr_assert(!file_has(path, "125007")); /* no Measurement Group */
}

static void expect_rejected(struct sample *s, int code, const char *why)
{
	char path[128], err[256] = "";
	snprintf(path, sizeof path, "%s/bad.dcm", tmpdir);
	cr_assert_eq(report_write_sr(&s->f, path, err, sizeof err), code, "%s: %s", why, err);
	cr_assert_neq(err[0], '\0');
	cr_assert(!exists(path), "%s: written anyway", why);
	cr_assert_eq(report_write_gsps(&s->f, path, err, sizeof err) < 0, 1, "%s (GSPS)", why);
	cr_assert(!exists(path));
}

Test(writer, contract_violations_are_not_written)
{
	static struct sample s;
	sample_fill(&s, 1);
	s.boxes[0][1].col_max = 300; /* beyond 256 columns */
	expect_rejected(&s, REPORT_EINVAL, "box outside image");
	sample_fill(&s, 1);
	strcpy(s.boxes[1][0].sop_instance_uid, "2.25.999");
	expect_rejected(&s, REPORT_EINVAL, "box on an unknown image");
	sample_fill(&s, 1);
	s.lesions[1].tracking_uid[0] = '\0';
	expect_rejected(&s, REPORT_EINVAL, "no tracking UID");
	sample_fill(&s, 1);
	s.f.study.study_instance_uid[0] = '\0';
	expect_rejected(&s, REPORT_EINVAL, "no study");
	sample_fill(&s, 1);
	s.lesions[0].probability = 1.5;
	expect_rejected(&s, REPORT_EINVAL, "probability");
	sample_fill(&s, 1);
	strcpy(s.lesions[1].tracking_uid, s.lesions[0].tracking_uid);
	expect_rejected(&s, REPORT_EINVAL, "shared tracking UID");
	sample_fill(&s, 1);
	s.lesions[0].n_boxes = 0;
	expect_rejected(&s, REPORT_EINVAL, "lesion without boxes");
	sample_fill(&s, 1);
	s.boxes[0][0].row_min = s.boxes[0][0].row_max;
	expect_rejected(&s, REPORT_EINVAL, "empty box");
	sample_fill(&s, 1);
	s.f.device_observer_uid[0] = '\0';
	expect_rejected(&s, REPORT_EINVAL, "no device observer UID");
}

Test(writer, dcmtk_check_failure_is_not_written)
{
	static struct sample s;
	sample_fill(&s, 1);
	/* passes the struct contract, fails dcmtk's coded-entry check (backslash in SH) */
	strcpy(s.lesions[0].type.value, "1234\\5678");
	char path[128], err[256] = "";
	snprintf(path, sizeof path, "%s/bad.dcm", tmpdir);
	cr_assert_eq(report_write_sr(&s.f, path, err, sizeof err), REPORT_EINVALID, "%s", err);
	cr_assert(!exists(path));
}

Test(writer, gsps_with_and_without_lesions)
{
	static struct sample s;
	sample_fill(&s, 1);
	char path[128], err[256] = "";
	snprintf(path, sizeof path, "%s/pr.dcm", tmpdir);
	cr_assert_eq(report_write_gsps(&s.f, path, err, sizeof err), 0, "%s", err);
	cr_assert(file_has(path, "1.2.840.10008.5.1.4.1.1.11.1"));
	cr_assert(file_has(path, "Lesion 1: Intracranial meningioma 93%"));
	sample_fill(&s, 0);
	snprintf(path, sizeof path, "%s/pr0.dcm", tmpdir);
	cr_assert_eq(report_write_gsps(&s.f, path, err, sizeof err), 0, "%s", err);
}

/* Patient data in the source's character set is copied byte for byte, with the set named. */
Test(writer, specific_character_set_copied)
{
	static struct sample s;
	sample_fill(&s, 1);
	strcpy(s.f.study.specific_character_set, "ISO_IR 100");
	strcpy(s.f.study.patient_name, "M\xfcller^Hans");
	char path[128], err[256] = "";
	snprintf(path, sizeof path, "%s/latin1.dcm", tmpdir);
	cr_assert_eq(report_write_sr(&s.f, path, err, sizeof err), 0, "%s", err);
	cr_assert(file_has(path, "ISO_IR 100"));
	cr_assert(file_has(path, "M\xfcller^Hans"));
	snprintf(path, sizeof path, "%s/latin1pr.dcm", tmpdir);
	cr_assert_eq(report_write_gsps(&s.f, path, err, sizeof err), 0, "%s", err);
	cr_assert(file_has(path, "ISO_IR 100"));
	cr_assert(file_has(path, "M\xfcller^Hans"));
}

Test(writer, new_uids_are_distinct_and_valid)
{
	char a[REPORT_UID_LEN], b[REPORT_UID_LEN];
	report_new_uid(a);
	report_new_uid(b);
	cr_assert_str_neq(a, b);
	cr_assert_eq(strncmp(a, "2.25.", 5), 0);
	cr_assert_leq(strlen(a), 64);
	for (const char *p = a + 5; *p; p++)
		cr_assert(*p >= '0' && *p <= '9');
	cr_assert_neq(a[5], '0');
}

/* SR and GSPS writers and the decoder used from several threads at once. */
struct wjob {
	int id;
	int rc;
};

static void *writer_thread(void *arg)
{
	struct wjob *j = arg;
	static struct sample s[4];
	sample_fill(&s[j->id], j->id % 2 == 0);
	for (int round = 0; round < 5 && j->rc == 0; round++) {
		char path[160], err[256];
		snprintf(path, sizeof path, "%s/w%d_%d_sr.dcm", tmpdir, j->id, round);
		j->rc = report_write_sr(&s[j->id].f, path, err, sizeof err);
		if (j->rc == 0) {
			snprintf(path, sizeof path, "%s/w%d_%d_pr.dcm", tmpdir, j->id, round);
			j->rc = report_write_gsps(&s[j->id].f, path, err, sizeof err);
		}
		if (j->rc == 0) {
			struct report_image img;
			j->rc = report_decode_pixels(FILES "/MR_small_jpeg_ls_lossless.dcm", &img, err,
			                             sizeof err);
			report_image_free(&img);
		}
	}
	return NULL;
}

Test(writer, concurrent_threads)
{
	pthread_t t[4];
	struct wjob jobs[4];
	for (int i = 0; i < 4; i++) {
		jobs[i].id = i;
		jobs[i].rc = 0;
		cr_assert_eq(pthread_create(&t[i], NULL, writer_thread, &jobs[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		cr_assert_eq(jobs[i].rc, 0, "thread %d: %d", i, jobs[i].rc);
	}
	for (int i = 0; i < 4; i++)
		for (int r = 0; r < 5; r++) {
			char path[160];
			snprintf(path, sizeof path, "%s/w%d_%d_sr.dcm", tmpdir, i, r);
			cr_assert(file_has(path, i % 2 == 0 ? "125007" : "111286"), "%s", path);
		}
}
