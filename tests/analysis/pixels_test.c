/*
 * The native pixel reader (src/analysis/pixels.h) against Debian's pydicom test files: the
 * same MR image in Explicit VR LE, Implicit VR LE and Explicit VR BE must give identical
 * values (signed 16-bit, checked against pydicom's own decoding: sum 2125338, min 127,
 * max 2145, [0,0] = 905, [31,17] = 287), a deflated file (PS3.5 A.5) decodes, compressed
 * syntaxes are reported as a skip reason, non-DICOM and truncated files are errors.
 * PYDICOM_FILES overrides the folder (as in tests/integration/lib.sh).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/pixels.h"

static char path_buf[1024];

static const char *tf(const char *name)
{
	const char *dir = getenv("PYDICOM_FILES");
	snprintf(path_buf, sizeof path_buf, "%s/%s",
		 dir ? dir : "/usr/lib/python3/dist-packages/pydicom/data/test_files", name);
	return path_buf;
}

static void read_ok(const char *name, struct pix_image *im)
{
	char err[256] = "";
	int rc = pix_read_file(tf(name), PIX_READ_PIXELS, im, err, sizeof err);
	cr_assert_eq(rc, 0, "%s: %d %s", name, rc, err);
	cr_assert_str_empty(im->skip, "%s: %s", name, im->skip);
	cr_assert_not_null(im->pixels);
}

Test(pixels, mr_small_three_syntaxes_agree)
{
	static const char *names[] = {"MR_small.dcm", "MR_small_implicit.dcm",
				      "MR_small_bigendian.dcm", "MR_small_expb.dcm"};
	struct pix_image ref;

	read_ok(names[0], &ref);
	cr_assert_eq(ref.rows, 64);
	cr_assert_eq(ref.cols, 64);
	cr_assert_eq(ref.pixel_rep, 1);
	cr_assert_eq(ref.bits_stored, 16);
	cr_assert_str_eq(ref.modality, "MR");
	cr_assert_str_eq(ref.photometric, "MONOCHROME2");
	cr_assert(ref.has_position && ref.has_orientation && ref.has_spacing);
	cr_assert_float_eq(ref.ipp[0], -83.9063, 1e-9);
	cr_assert_float_eq(ref.ipp[2], 6.6406, 1e-9);
	cr_assert_float_eq(ref.spacing[0], 0.3125, 1e-12);
	double sum = 0, mn = 1e9, mx = -1e9;
	for (int i = 0; i < 64 * 64; i++) {
		sum += ref.pixels[i];
		if (ref.pixels[i] < mn) mn = ref.pixels[i];
		if (ref.pixels[i] > mx) mx = ref.pixels[i];
	}
	cr_assert_float_eq(sum, 2125338.0, 0.5);
	cr_assert_float_eq(mn, 127.0, 0);
	cr_assert_float_eq(mx, 2145.0, 0);
	cr_assert_float_eq(ref.pixels[0], 905.0f, 0);
	cr_assert_float_eq(ref.pixels[31 * 64 + 17], 287.0f, 0);
	for (size_t k = 1; k < sizeof names / sizeof names[0]; k++) {
		struct pix_image im;
		read_ok(names[k], &im);
		cr_assert_eq(im.rows, 64);
		cr_assert_eq(memcmp(im.pixels, ref.pixels, 64 * 64 * sizeof(float)), 0,
			     "%s differs from MR_small.dcm", names[k]);
		cr_assert_str_eq(im.sop_uid, ref.sop_uid);
		cr_assert_str_eq(im.series_uid, ref.series_uid);
		pix_image_free(&im);
	}
	pix_image_free(&ref);
}

Test(pixels, deflated)
{
	struct pix_image im;

	read_ok("image_dfl.dcm", &im);
	cr_assert_eq(im.rows, 512);
	cr_assert_eq(im.cols, 512);
	cr_assert_eq(im.bits_allocated, 8);
	double sum = 0;
	for (int i = 0; i < 512 * 512; i++)
		sum += im.pixels[i];
	cr_assert_float_eq(sum, 33322688.0, 0.5); /* pydicom's decoding */
	cr_assert_float_eq(im.pixels[0], 213.0f, 0);
	cr_assert_float_eq(im.pixels[100 * 512 + 200], 41.0f, 0);
	pix_image_free(&im);
}

Test(pixels, compressed_is_a_skip_reason)
{
	static const char *names[] = {"MR_small_RLE.dcm", "MR_small_jpeg_ls_lossless.dcm"};
	for (size_t k = 0; k < 2; k++) {
		struct pix_image im;
		char err[256];
		int rc = pix_read_file(tf(names[k]), PIX_READ_PIXELS, &im, err, sizeof err);
		cr_assert_eq(rc, 0);
		cr_assert_null(im.pixels);
		cr_assert(strstr(im.skip, "unsupported transfer syntax") == im.skip, "%s",
			  im.skip);
		cr_assert_eq(im.rows, 64); /* attributes are still read */
		pix_image_free(&im);
	}
}

Test(pixels, header_only_and_rescale)
{
	FILE *f = fopen(tf("MR_small.dcm"), "rb");
	static uint8_t buf[20000];
	size_t n;
	struct pix_image im;
	char err[256];

	cr_assert_not_null(f);
	n = fread(buf, 1, sizeof buf, f);
	fclose(f);
	cr_assert_eq(pix_read_mem(buf, n, 0, &im, err, sizeof err), 0);
	cr_assert_null(im.pixels);
	cr_assert_float_eq(im.slope, 1.0, 0);
	cr_assert_float_eq(im.intercept, 0.0, 0);
	/* truncated inside Pixel Data: the parser reports it */
	cr_assert_eq(pix_read_mem(buf, n - 100, PIX_READ_PIXELS, &im, err, sizeof err),
		     PIX_ECORRUPT);
	pix_image_free(&im);
	/* not DICOM */
	memset(buf, 'x', 300);
	cr_assert_eq(pix_read_mem(buf, 300, PIX_READ_PIXELS, &im, err, sizeof err),
		     PIX_ENOTDICOM);
	cr_assert_eq(pix_read_mem(buf, 10, PIX_READ_PIXELS, &im, err, sizeof err),
		     PIX_ENOTDICOM);
	cr_assert_eq(pix_read_file("/nonexistent/x.dcm", 0, &im, err, sizeof err), PIX_EIO);
}

#include "fixture.h"

static struct fx_image base_image(void)
{
	struct fx_image im = {
		.study_uid = "1.2.3", .series_uid = "1.2.3.4", .sop_uid = "1.2.3.4.5",
		.rows = 2, .cols = 3, .bits_allocated = 16, .bits_stored = 12, .high_bit = 11,
		.pixel_rep = 1, .ipp = {1, 2, 3}, .iop = {1, 0, 0, 0, 1, 0}, .spacing = {0.5, 0.25},
		.thickness = 3, .instance = 7,
	};
	return im;
}

/* PS3.5 8.1.1: bits above High Bit are not part of the value; the sign bit of a 12-bit
 * two's complement value is bit 11. Rescale (PS3.3 C.11.1.1.2): out = v * slope + intercept. */
Test(pixels, bits_stored_sign_and_rescale)
{
	static const uint16_t raw[6] = {0x0000, 0x07FF, 0x0800, 0xF800, 0xFFFF, 0x1001};
	static const float want[6] = {-100, 2047 * 2 - 100, -2048 * 2 - 100, -2048 * 2 - 100,
				      -1 * 2 - 100, 1 * 2 - 100};
	for (int implicit = 0; implicit < 2; implicit++) {
		struct fx_image fx = base_image();
		struct dcm_buf b = {0};
		struct pix_image im;
		char err[256];
		fx.pixels = raw;
		fx.slope = "2";
		fx.intercept = "-100";
		fx.implicit_vr = implicit;
		cr_assert_eq(fx_write(&b, &fx), 0);
		cr_assert_eq(pix_read_mem(b.data, b.len, PIX_READ_PIXELS, &im, err, sizeof err), 0,
			     "%s", err);
		cr_assert_str_empty(im.skip);
		for (int i = 0; i < 6; i++)
			cr_assert_float_eq(im.pixels[i], want[i], 0, "pixel %d: %g", i,
					   im.pixels[i]);
		cr_assert_eq(im.instance_number, 7);
		cr_assert_float_eq(im.spacing[1], 0.25, 0);
		cr_assert_float_eq(im.thickness, 3, 0);
		pix_image_free(&im);
		dcm_buf_free(&b);
	}
}

/* MONOCHROME1 (PS3.3 C.7.6.3.1.2): inverted into MONOCHROME2's sense, unsigned 8-bit. */
Test(pixels, monochrome1_8bit)
{
	static const uint8_t raw[6] = {0, 1, 100, 200, 254, 255};
	struct fx_image fx = base_image();
	struct dcm_buf b = {0};
	struct pix_image im;
	char err[256];

	fx.bits_allocated = 8;
	fx.bits_stored = 8;
	fx.high_bit = 7;
	fx.pixel_rep = 0;
	fx.photometric = "MONOCHROME1";
	fx.pixels = raw;
	cr_assert_eq(fx_write(&b, &fx), 0);
	cr_assert_eq(pix_read_mem(b.data, b.len, PIX_READ_PIXELS, &im, err, sizeof err), 0);
	for (int i = 0; i < 6; i++)
		cr_assert_float_eq(im.pixels[i], 255.0f - raw[i], 0);
	pix_image_free(&im);
	dcm_buf_free(&b);
}

Test(pixels, colour_and_bad_bits_are_skip_reasons)
{
	static const uint16_t raw[6] = {0};
	struct fx_image fx = base_image();
	struct dcm_buf b = {0};
	struct pix_image im;
	char err[256];

	fx.pixels = raw;
	fx.photometric = "RGB";
	cr_assert_eq(fx_write(&b, &fx), 0);
	cr_assert_eq(pix_read_mem(b.data, b.len, PIX_READ_PIXELS, &im, err, sizeof err), 0);
	cr_assert_null(im.pixels);
	cr_assert(strstr(im.skip, "photometric") != NULL, "%s", im.skip);
	dcm_buf_free(&b);

	fx = base_image();
	fx.pixels = raw;
	fx.bits_stored = 13; /* high bit 11 < bits stored - 1 */
	cr_assert_eq(fx_write(&b, &fx), 0);
	cr_assert_eq(pix_read_mem(b.data, b.len, PIX_READ_PIXELS, &im, err, sizeof err), 0);
	cr_assert(strstr(im.skip, "Bits Stored") != NULL, "%s", im.skip);
	dcm_buf_free(&b);
}

/* External decoders (pixels.h): a compressed syntax goes to the installed decoder; one that
 * cannot decode it says PIX_EUNSUPP, which reaches the caller as such (the daemon then marks
 * the series not applicable), any other failure is corrupt data. */
static int stub_rc;
static int stub_calls;

static int stub_decoder(const char *path, float **pixels, int rows, int cols, char *err,
			size_t errlen)
{
	(void)path;
	stub_calls++;
	if (stub_rc < 0) {
		snprintf(err, errlen, "stub says %d", stub_rc);
		return stub_rc;
	}
	*pixels = calloc((size_t)rows * (size_t)cols, sizeof **pixels);
	(*pixels)[0] = 42;
	return 0;
}

Test(pixels, external_decoder_outcomes)
{
	struct pix_image im;
	char err[256];
	pix_set_external_decoder(stub_decoder);
	stub_rc = 0;
	int rc = pix_read_file(tf("MR_small_RLE.dcm"), PIX_READ_PIXELS, &im, err, sizeof err);
	cr_expect_eq(rc, 0);
	cr_expect_str_empty(im.skip);
	cr_assert_not_null(im.pixels);
	cr_expect_float_eq(im.pixels[0], 42.0f, 1e-6);
	pix_image_free(&im);

	stub_rc = PIX_EUNSUPP;
	rc = pix_read_file(tf("MR_small_jpeg_ls_lossless.dcm"), PIX_READ_PIXELS, &im, err, sizeof err);
	cr_expect_eq(rc, PIX_EUNSUPP);
	cr_expect_null(im.pixels);
	cr_expect_str_eq(im.ts_uid, "1.2.840.10008.1.2.4.80", "the header says which syntax");
	cr_expect_str_eq(err, "stub says -3006");
	pix_image_free(&im);

	stub_rc = -1;
	rc = pix_read_file(tf("MR_small_RLE.dcm"), PIX_READ_PIXELS, &im, err, sizeof err);
	cr_expect_eq(rc, PIX_ECORRUPT);
	pix_image_free(&im);

	/* not called for a header-only read, nor for an uncompressed file */
	stub_calls = 0;
	cr_expect_eq(pix_read_file(tf("MR_small_RLE.dcm"), 0, &im, err, sizeof err), 0);
	pix_image_free(&im);
	read_ok("MR_small.dcm", &im);
	pix_image_free(&im);
	cr_expect_eq(stub_calls, 0);
	pix_set_external_decoder(NULL);
}
