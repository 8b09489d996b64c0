/* rtool.c: driver for tests/report/validate.sh: writes the sample SR/GSPS files, or decodes an
 * image and prints its size and pixel statistics.
 *   rtool sr|negsr|gsps|predsr OUT     rtool decode FILE */
#include "report/report.h"
#include "sample.h"

#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
	char err[512] = "";
	if (argc != 3) {
		fprintf(stderr, "usage: rtool sr|negsr|gsps|predsr OUT | decode FILE\n");
		return 2;
	}
	static struct sample s;
	int rc;
	if (strcmp(argv[1], "decode") == 0) {
		struct report_image img;
		rc = report_decode_pixels(argv[2], &img, err, sizeof err);
		if (rc != 0) {
			fprintf(stderr, "rtool: %s (%d)\n", err, rc);
			return 1;
		}
		double sum = 0;
		float mn = img.pixels[0], mx = img.pixels[0];
		size_t n = (size_t)img.rows * img.cols * img.frames;
		for (size_t i = 0; i < n; i++) {
			sum += img.pixels[i];
			mn = img.pixels[i] < mn ? img.pixels[i] : mn;
			mx = img.pixels[i] > mx ? img.pixels[i] : mx;
		}
		printf("%u %u %u %.1f %.1f %.1f %s\n", img.rows, img.cols, img.frames, sum, mn, mx,
		       img.transfer_syntax_uid);
		report_image_free(&img);
		return 0;
	}
	sample_fill(&s, strcmp(argv[1], "negsr") != 0);
	if (strcmp(argv[1], "predsr") == 0) {
		strcpy(s.f.predecessor_sop_instance_uid, "2.25.7000001");
		strcpy(s.f.predecessor_series_instance_uid, "2.25.7000000");
	}
	if (strcmp(argv[1], "gsps") == 0)
		rc = report_write_gsps(&s.f, argv[2], err, sizeof err);
	else
		rc = report_write_sr(&s.f, argv[2], err, sizeof err);
	if (rc != 0) {
		fprintf(stderr, "rtool: %s (%d)\n", err, rc);
		return 1;
	}
	return 0;
}
