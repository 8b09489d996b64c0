/* Request-line parsing for the control protocol (see proto.h). */
#include "ctl/proto.h"

#include <stdio.h>
#include <string.h>

int ctl_parse_request(const char *line, size_t len, struct ctl_request *rq, char *err,
		      size_t errlen)
{
	memset(rq, 0, sizeof *rq);
	if (len > 0 && line[len - 1] == '\r')
		len--;
	if (len == 0) {
		snprintf(err, errlen, "empty request");
		return -1;
	}
	size_t i = 0;
	while (i < len) {
		if (rq->n == CTL_MAX_ARGS + 1) {
			snprintf(err, errlen, "too many arguments (at most %d)", CTL_MAX_ARGS);
			return -1;
		}
		size_t start = i;
		while (i < len && line[i] != ' ') {
			unsigned char c = (unsigned char)line[i];
			if (c < 0x21 || c > 0x7e) {
				snprintf(err, errlen, "byte 0x%02x at offset %zu is not printable ASCII",
					 c, i);
				return -1;
			}
			i++;
		}
		size_t n = i - start;
		if (n == 0) {
			snprintf(err, errlen, "words must be separated by single spaces");
			return -1;
		}
		if (n >= sizeof rq->words[0]) {
			snprintf(err, errlen, "word at offset %zu is longer than %zu bytes", start,
				 sizeof rq->words[0] - 1);
			return -1;
		}
		memcpy(rq->words[rq->n], line + start, n);
		rq->words[rq->n][n] = '\0';
		rq->n++;
		if (i < len) {
			i++; /* the space */
			if (i == len) {
				snprintf(err, errlen, "trailing space");
				return -1;
			}
		}
	}
	return 0;
}
