/*
 * dsbytes FILE: writes the data set of a Part 10 file (everything after the meta header) to
 * stdout, so tests can compare what was stored with what was sent, byte for byte.
 */
#include <stdio.h>
#include <stdlib.h>

#include "dicom/part10.h"

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: dsbytes FILE\n");
		return 2;
	}
	FILE *f = fopen(argv[1], "rb");
	if (!f) {
		perror(argv[1]);
		return 1;
	}
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	unsigned char *buf = malloc(n > 0 ? (size_t)n : 1);
	if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
		fprintf(stderr, "%s: read error\n", argv[1]);
		return 1;
	}
	fclose(f);
	struct dcm_meta m;
	size_t off = 0;
	if (dcm_part10_read_header(buf, (size_t)n, &m, &off) < 0) {
		fprintf(stderr, "%s: not a Part 10 file\n", argv[1]);
		return 1;
	}
	fwrite(buf + off, 1, (size_t)n - off, stdout);
	free(buf);
	return 0;
}
