/*
 * Generates an index for the Query/Retrieve benchmark (issue 6): `gen_index DB [STUDIES
 * [SERIES [INSTANCES]]]` creates or extends the SQLite index DB (schema applied by index_open)
 * with STUDIES studies (default 10000) of SERIES series (default 3: MR, MR, and every tenth
 * study an SR series holding a Comprehensive 3D SR) of INSTANCES instances (default 5), spread
 * over STUDIES/2 patients, study dates over 2000-2024. Rows go in through index_put_batch,
 * 1000 instances a transaction, exactly as the store's committer writes them; no files are
 * written (file paths are fictitious). Deterministic: the same arguments give the same rows.
 * Example: tests/query/gen_index /tmp/bench.sqlite && time findscu ... (see bench/).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dicom/attrs.h"
#include "storage/index.h"

#define BATCH 1000

/* Values are bounded by the arguments; fields are sized for them (truncation is harmless). */
#pragma GCC diagnostic ignored "-Wformat-truncation"
#pragma GCC diagnostic ignored "-Wformat-extra-args"
#define set(dst, cap, fmt, a, b, c) snprintf(dst, cap, fmt, (long)(a), (long)(b), (long)(c))

int main(int argc, char **argv)
{
	long studies = argc > 2 ? atol(argv[2]) : 10000;
	long nseries = argc > 3 ? atol(argv[3]) : 3;
	long ninst = argc > 4 ? atol(argv[4]) : 5;
	struct index *ix;
	char err[256];
	struct dcm_attrs *a;
	struct index_instance *v;
	char (*paths)[64];
	size_t n = 0;
	long total = 0;
	int r;

	if (argc < 2 || studies <= 0 || nseries <= 0 || ninst <= 0) {
		fprintf(stderr, "usage: %s DB [STUDIES [SERIES [INSTANCES]]]\n", argv[0]);
		return 2;
	}
	if (index_open(argv[1], false, &ix, err, sizeof err) < 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	a = calloc(BATCH, sizeof *a);
	v = calloc(BATCH, sizeof *v);
	paths = calloc(BATCH, sizeof *paths);
	if (a == NULL || v == NULL || paths == NULL)
		return 1;
	for (long s = 0; s < studies; s++) {
		long pat = s / 2;

		for (long se = 0; se < nseries; se++) {
			bool sr = se == nseries - 1 && nseries > 1 && s % 10 == 0;

			for (long in = 0; in < (sr ? 1 : ninst); in++) {
				struct dcm_attrs *x = &a[n];

				memset(x, 0, sizeof *x);
				strcpy(x->specific_charset, "ISO_IR 100");
				set(x->patient_id, sizeof x->patient_id, "PID%06ld", pat, 0, 0);
				set(x->patient_name, sizeof x->patient_name, "PATIENT%ld^GIVEN%ld", pat,
				    pat % 97, 0);
				set(x->patient_birth_date, sizeof x->patient_birth_date, "19%02ld%02ld%02ld",
				    40 + pat % 60, 1 + pat % 12, 1 + pat % 28);
				strcpy(x->patient_sex, pat % 2 ? "F" : "M");
				set(x->study_uid, sizeof x->study_uid, "1.2.826.0.1.3680043.10.1.%ld", s + 1,
				    0, 0);
				set(x->study_date, sizeof x->study_date, "20%02ld%02ld%02ld", s % 25,
				    1 + (s / 25) % 12, 1 + (s / 300) % 28);
				set(x->study_time, sizeof x->study_time, "%02ld%02ld00", 7 + s % 12, s % 60,
				    0);
				strcpy(x->study_description, "MR BRAIN");
				set(x->accession_number, sizeof x->accession_number, "ACC%07ld", s + 1, 0,
				    0);
				set(x->study_id, sizeof x->study_id, "%ld", s + 1, 0, 0);
				set(x->series_uid, sizeof x->series_uid, "1.2.826.0.1.3680043.10.1.%ld.%ld",
				    s + 1, se + 1, 0);
				set(x->series_number, sizeof x->series_number, "%ld", se + 1, 0, 0);
				strcpy(x->modality, sr ? "SR" : "MR");
				strcpy(x->series_description, sr ? "AI findings" : "T1");
				set(x->sop_instance_uid, sizeof x->sop_instance_uid,
				    "1.2.826.0.1.3680043.10.1.%ld.%ld.%ld", s + 1, se + 1, in + 1);
				strcpy(x->sop_class_uid, sr ? "1.2.840.10008.5.1.4.1.1.88.34"
							    : "1.2.840.10008.5.1.4.1.1.4");
				set(x->instance_number, sizeof x->instance_number, "%ld", in + 1, 0, 0);
				if (!sr) {
					strcpy(x->rows, "256");
					strcpy(x->columns, "256");
				}
				snprintf(paths[n], sizeof paths[n], "gen/%ld/%ld/%ld.dcm", s + 1, se + 1,
					 in + 1);
				v[n] = (struct index_instance){.a = x, .ts_uid = "1.2.840.10008.1.2.1",
							       .rel_path = paths[n], .size = 140000,
							       .received_ms = 1700000000000 + total,
							       .calling_ae = "GEN"};
				n++;
				total++;
				if (n == BATCH) {
					r = index_put_batch(ix, v, n, NULL);
					if (r < 0) {
						fprintf(stderr, "index_put_batch: %d\n", r);
						return 1;
					}
					n = 0;
				}
			}
		}
	}
	if (n > 0 && index_put_batch(ix, v, n, NULL) < 0)
		return 1;
	index_close(ix);
	printf("%s: %ld studies, %ld instances\n", argv[1], studies, total);
	free(a);
	free(v);
	free(paths);
	return 0;
}
