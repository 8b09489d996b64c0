/*
 * C-FIND latency over an index made by gen_index (issue 6 benchmark, library level: no
 * network): `find_bench DB [REPEAT]` runs typical study-level queries (Study Root, every
 * required key plus the derived ones) REPEAT times (default 5) and prints, per query, the
 * matches, the best wall time and matches/s including the encoding of each response.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dicom/dict.h"
#include "dicom/writer.h"
#include "query/query.h"

static int count(void *ctx, const uint8_t *ds, size_t len)
{
	(void)ds;
	(void)len;
	(*(size_t *)ctx)++;
	return 0;
}

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

struct kv {
	uint32_t tag;
	const char *vr, *val;
};

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		struct kv k[3];
	} qs[] = {
		{"all studies", {{0, NULL, NULL}}},
		{"PatientName=PATIENT12*", {{DCM_TAG(0x0010, 0x0010), "PN", "PATIENT12*"}}},
		{"PatientID=PID000123", {{DCM_TAG(0x0010, 0x0020), "LO", "PID000123"}}},
		{"StudyDate=20240101-", {{DCM_TAG(0x0008, 0x0020), "DA", "20240101-"}}},
		{"AccessionNumber=ACC0005000", {{DCM_TAG(0x0008, 0x0050), "SH", "ACC0005000"}}},
		{"ModalitiesInStudy=SR", {{DCM_TAG(0x0008, 0x0061), "CS", "SR"}}},
		{"PatientName=*GIVEN5 (no index)", {{DCM_TAG(0x0010, 0x0010), "PN", "*GIVEN5"}}},
	};
	static const struct kv ret[] = {
		{DCM_TAG(0x0008, 0x0020), "DA", ""}, {DCM_TAG(0x0008, 0x0030), "TM", ""},
		{DCM_TAG(0x0008, 0x0050), "SH", ""}, {DCM_TAG(0x0008, 0x0052), "CS", "STUDY"},
		{DCM_TAG(0x0008, 0x0061), "CS", ""}, {DCM_TAG(0x0010, 0x0010), "PN", ""},
		{DCM_TAG(0x0010, 0x0020), "LO", ""}, {DCM_TAG(0x0020, 0x000D), "UI", ""},
		{DCM_TAG(0x0020, 0x0010), "SH", ""}, {DCM_TAG(0x0020, 0x1206), "IS", ""},
		{DCM_TAG(0x0020, 0x1208), "IS", ""},
	};
	const struct dcm_ts *ts = dcm_ts_find(DCM_TS_IMPLICIT_LE);
	int repeat = argc > 2 ? atoi(argv[2]) : 5;
	sqlite3 *db;
	char err[256];

	if (argc < 2 || repeat <= 0) {
		fprintf(stderr, "usage: %s DB [REPEAT]\n", argv[0]);
		return 2;
	}
	if (query_db_open(argv[1], &db, err, sizeof err) < 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++) {
		struct dcm_buf b = {0};
		struct query *q;
		uint16_t st;
		double best = 1e9;
		size_t n = 0;

		for (size_t k = 0; k < sizeof ret / sizeof ret[0]; k++) {
			const char *v = ret[k].val;

			for (size_t j = 0; j < 3 && qs[i].k[j].tag; j++)
				if (qs[i].k[j].tag == ret[k].tag)
					v = qs[i].k[j].val;
			dcm_put_str(&b, ret[k].tag, ret[k].vr, v, false);
		}
		if (query_parse(b.data, b.len, ts, QUERY_STUDY_ROOT, QUERY_FIND, &q, &st, err,
				sizeof err) < 0) {
			fprintf(stderr, "%s: %04X %s\n", qs[i].name, st, err);
			return 1;
		}
		for (int r = 0; r < repeat; r++) {
			double t0 = now();

			n = 0;
			if (query_find(db, q, ts, 0, count, &n, NULL, &st) < 0) {
				fprintf(stderr, "%s: find failed %04X\n", qs[i].name, st);
				return 1;
			}
			if (now() - t0 < best)
				best = now() - t0;
		}
		printf("%-34s %6zu matches %9.2f ms %10.0f matches/s\n", qs[i].name, n, best * 1e3,
		       n / best);
		query_free(q);
		dcm_buf_free(&b);
	}
	sqlite3_close(db);
	return 0;
}
