/* rtool.c: driver for tests/report/validate.sh: writes the sample SR/GSPS files, or decodes an
 * image and prints its size and pixel statistics.
 *   rtool sr|sr2d|negsr|gsps|predsr|mfsr|mfgsps OUT     rtool decode FILE */
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
	s.f.sr_comprehensive_2d = strcmp(argv[1], "sr2d") == 0;
	if (strncmp(argv[1], "mf", 2) == 0) { /* one 8-frame Enhanced MR instance */
		for (int i = 0; i < SAMPLE_N_IMAGES; i++) {
			strcpy(s.images[i].sop_class_uid, "1.2.840.10008.5.1.4.1.1.4.1");
			strcpy(s.images[i].sop_instance_uid, "2.25.3100001");
			s.images[i].frame = (uint32_t)i + 1;
		}
		for (int l = 0; l < SAMPLE_N_LESIONS; l++)
			for (int k = 0; k < SAMPLE_BOXES; k++) {
				strcpy(s.boxes[l][k].sop_instance_uid, "2.25.3100001");
				s.boxes[l][k].frame = (uint32_t)(1 + 2 * l + k) + 1;
			}
	}
	if (strcmp(argv[1], "gsps") == 0 || strcmp(argv[1], "mfgsps") == 0)
		rc = report_write_gsps(&s.f, argv[2], err, sizeof err);
	else
		rc = report_write_sr(&s.f, argv[2], err, sizeof err);
	if (rc != 0) {
		fprintf(stderr, "rtool: %s (%d)\n", err, rc);
		return 1;
	}
	return 0;
}
