/*
 * jsoncheck: reads standard input (at most 16 MiB) and exits 0 when it is one valid JSON
 * document (RFC 8259, json_validate), else prints the offset of the error and exits 1.
 * With -l, every line of the input must be one document (the control protocol).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/json.h"

int main(int argc, char **argv)
{
	int per_line = argc > 1 && strcmp(argv[1], "-l") == 0;
	size_t cap = 16u << 20, len = 0;
	char *buf = malloc(cap);
	if (!buf)
		return 2;
	size_t n;
	while ((n = fread(buf + len, 1, cap - len, stdin)) > 0)
		len += n;
	if (len == cap) {
		fprintf(stderr, "jsoncheck: input too large\n");
		free(buf);
		return 2;
	}
	size_t at = 0;
	if (!per_line) {
		int rc = json_validate(buf, len, &at);
		free(buf);
		if (rc < 0) {
			fprintf(stderr, "jsoncheck: invalid JSON at offset %zu\n", at);
			return 1;
		}
		return 0;
	}
	size_t start = 0, lines = 0;
	while (start < len) {
		char *nl = memchr(buf + start, '\n', len - start);
		size_t end = nl ? (size_t)(nl - buf) : len;
		if (json_validate(buf + start, end - start, &at) < 0) {
			fprintf(stderr, "jsoncheck: line %zu: invalid JSON at offset %zu\n", lines + 1, at);
			free(buf);
			return 1;
		}
		lines++;
		start = end + 1;
	}
	free(buf);
	if (lines == 0) {
		fprintf(stderr, "jsoncheck: no input\n");
		return 1;
	}
	return 0;
}
