/*
 * libFuzzer target for the C-FIND/C-MOVE/C-GET identifier parser (src/query/parse.c,
 * query_parse; PS3.4 C.4.1.1.3, C.4.2.1.4). Input: byte 0 picks the information model (bit 0),
 * the operation (bits 1-2) and the transfer syntax of the identifier (bits 3-5); the rest is the
 * identifier data set as a peer would send it. Properties: a success gives a query whose
 * accessors and summary work and a failure gives a QUERY_ST_* status and a one-line reason.
 * Build: `make fuzz` (tests/fuzz/local.mk).
 */
#include <stdlib.h>
#include <string.h>

#include "dicom/parser.h"
#include "query/query.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

static const char *const ts_uids[] = {
	DCM_TS_IMPLICIT_LE, DCM_TS_EXPLICIT_LE, DCM_TS_EXPLICIT_BE, DCM_TS_DEFLATED_LE,
};

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	struct query *q = NULL;
	uint16_t status = 0;
	char err[256], sum[512];
	enum query_model model;
	enum query_op op;
	const struct dcm_ts *ts;
	uint8_t *copy;
	int rc;

	if (n < 1)
		return 0;
	model = (d[0] & 1) ? QUERY_STUDY_ROOT : QUERY_PATIENT_ROOT;
	op = (enum query_op)(((d[0] >> 1) & 3) % 3);
	ts = dcm_ts_find(ts_uids[((d[0] >> 3) & 7) % (sizeof ts_uids / sizeof ts_uids[0])]);
	if (ts == NULL)
		abort();
	/* exact-size heap copy, so ASan sees any read past the identifier */
	copy = malloc(n - 1 ? n - 1 : 1);
	if (copy == NULL)
		return 0;
	memcpy(copy, d + 1, n - 1);
	err[0] = '\0';
	rc = query_parse(copy, n - 1, ts, model, op, &q, &status, err, sizeof err);
	if (rc == 0) {
		if (q == NULL || query_model(q) != model || query_op(q) != op)
			abort();
		if (query_level_name(query_level(q)) == NULL)
			abort();
		(void)query_unsupported_keys(q);
		query_summary(q, sum, sizeof sum);
		if (strlen(sum) >= sizeof sum || strpbrk(sum, "\r\n") != NULL)
			abort();
		query_free(q);
	} else {
		if (q != NULL || status == 0 || strlen(err) >= sizeof err ||
		    strpbrk(err, "\r\n") != NULL)
			abort();
	}
	free(copy);
	return 0;
}
