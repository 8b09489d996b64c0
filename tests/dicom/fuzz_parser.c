/*
 * Fuzz target for the data set parser and the Part 10 reader (STYLE.md: every parser has a
 * fuzz driver). Input: byte 0 picks the transfer syntax, byte 1 a split point, the rest is
 * the data set. The data is parsed whole and split in two, capturing every value; both runs
 * must end with the same code, and it must be 0 or a known error.
 *
 * libFuzzer:  clang -g -O1 -fsanitize=fuzzer,address,undefined -DDICOMAID_LIBFUZZER \
 *                 -Isrc tests/dicom/fuzz_parser.c src/dicom/(*).c -lz -o fuzz_parser
 * Without DICOMAID_LIBFUZZER the file only defines dcm_fuzz_one(), which
 * tests/dicom/fuzz_test.c drives with deterministic mutations in `make check`.
 */
#include <stdlib.h>
#include <string.h>

#include "dicom/attrs_parser.h"
#include "dicom/parser.h"
#include "dicom/part10.h"

int dcm_fuzz_one(const uint8_t *d, size_t n);

static const char *const fuzz_ts[] = {
	DCM_TS_IMPLICIT_LE, DCM_TS_EXPLICIT_LE, DCM_TS_EXPLICIT_BE, DCM_TS_DEFLATED_LE, DCM_TS_RLE,
};

struct fuzz_ctx {
	uint64_t sum;  /* touches every delivered byte, so ASan sees every read */
	unsigned events;
};

static int f_el(void *ctx, const struct dcm_elem *e)
{
	((struct fuzz_ctx *)ctx)->events++;
	return DCM_WANT_VALUE;
}

static int f_val(void *ctx, const struct dcm_elem *e, const uint8_t *v, size_t len)
{
	struct fuzz_ctx *c = ctx;
	if (len != e->length || len > DCM_MAX_CAPTURE)
		abort();
	for (size_t i = 0; i < len; i++)
		c->sum += v[i];
	return 0;
}

static int parse(const struct dcm_ts *ts, const uint8_t *d, size_t n, size_t split,
		 struct fuzz_ctx *c)
{
	struct dcm_parser_cb cb = {.ctx = c, .on_element = f_el, .on_value = f_val,
				   .on_item = f_el, .on_end = f_el};
	struct dcm_parser p;
	int rc = dcm_parser_init(&p, ts, &cb);

	if (rc == 0)
		rc = dcm_parser_feed(&p, d, split);
	if (rc == 0)
		rc = dcm_parser_feed(&p, d + split, n - split);
	if (rc == 0)
		rc = dcm_parser_finish(&p);
	dcm_parser_free(&p);
	return rc;
}

int dcm_fuzz_one(const uint8_t *d, size_t n)
{
	const struct dcm_ts *ts;
	struct fuzz_ctx a = {0}, b = {0};
	struct dcm_attrs attrs;
	struct dcm_meta m;
	size_t split, off;
	int rc1, rc2;

	if (n < 2)
		return 0;
	ts = dcm_ts_find(fuzz_ts[d[0] % (sizeof fuzz_ts / sizeof fuzz_ts[0])]);
	split = (size_t)d[1] * (n - 2) / 255;
	d += 2;
	n -= 2;
	rc1 = parse(ts, d, n, n, &a);
	rc2 = parse(ts, d, n, split, &b);
	if (rc1 != rc2 || a.sum != b.sum || a.events != b.events)
		abort();
	if (rc1 != 0 && rc1 != -ENOMEM && (rc1 < DCM_ESTATE || rc1 > DCM_ETRUNC))
		abort();
	(void)dcm_attrs_parse(ts, d, n, &attrs);
	for (size_t i = 0; i < sizeof attrs.rows; i++)
		if (attrs.rows[i] == '\0')
			break;
		else if (i == sizeof attrs.rows - 1)
			abort();
	rc1 = dcm_part10_read_header(d, n, &m, &off);
	if (rc1 == 0 && (off > n || !dcm_uid_valid(m.ts_uid)))
		abort();
	return 0;
}

#ifdef DICOMAID_LIBFUZZER
int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);
int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	return dcm_fuzz_one(d, n);
}
#endif
