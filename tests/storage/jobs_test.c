/*
 * The analysis and delivery queues (storage/jobs.c, sql/003_analysis.sql): scheduling of
 * quiet series, busy series skipped, claim order and exclusivity, retry with backoff, crash
 * recovery of running jobs and sending deliveries, findings and deliveries recorded with
 * the job in one transaction, and a series that receives late instances queued again.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/index.h"
#include "storage/jobs.h"
#include "tests/storage/helpers.h"

static char *dir;
static char db[4096];
static struct index *ix;

static const char *expected_count = "";
static const char *modality = "MR";

static void put(const char *series, const char *sop, int64_t at)
{
	struct dcm_attrs a;
	th_attrs(&a, "1.2.3.1", series, sop);
	snprintf(a.modality, sizeof a.modality, "%s", modality);
	snprintf(a.images_in_acquisition, sizeof a.images_in_acquisition, "%s", expected_count);
	struct index_instance v = { .a = &a, .ts_uid = "1.2.840.10008.1.2.1", .rel_path = sop,
				    .size = 10, .received_ms = at, .calling_ae = "T" };
	int r = 0;
	cr_assert_eq(index_put_batch(ix, &v, 1, &r), 0);
	cr_assert_eq(r, 0);
}

/* One quiet series, scheduled and claimed as *j. */
static void claim_first(struct job *j)
{
	put("1.2.3.1.1", "1.2.3.1.1.1", 1000);
	int created;
	cr_assert_eq(jobs_schedule(ix, 5000, 5000, NULL, 0, &created), 0);
	cr_assert_eq(created, 1);
	cr_assert_eq(jobs_claim(ix, 6000, j), 1);
}

static void setup(void)
{
	dir = th_tmpdir();
	snprintf(db, sizeof db, "%s/index.sqlite", dir);
	char err[256];
	cr_assert_eq(index_open(db, false, &ix, err, sizeof err), 0, "%s", err);
}

static void teardown(void)
{
	index_close(ix);
	th_rmtree(dir);
	free(dir);
}

TestSuite(jobs, .init = setup, .fini = teardown);

Test(jobs, schedules_quiet_series_only)
{
	put("1.2.3.1.1", "1.2.3.1.1.1", 1000);
	put("1.2.3.1.1", "1.2.3.1.1.2", 2000);
	put("1.2.3.1.2", "1.2.3.1.2.1", 9000);
	int created = -1;
	/* Cutoff 5000: only the first series is quiet. */
	cr_assert_eq(jobs_schedule(ix, 5000, 10000, NULL, 0, &created), 0);
	cr_expect_eq(created, 1);
	cr_expect_eq(th_q_int(db, "SELECT instances FROM analyses"), 2);
	/* Again: nothing new (the series is no longer due). */
	cr_assert_eq(jobs_schedule(ix, 5000, 10000, NULL, 0, &created), 0);
	cr_expect_eq(created, 0);
	/* The second series is busy (an association still sends it), then quiet. */
	const char *busy[] = { "1.2.3.1.2" };
	cr_assert_eq(jobs_schedule(ix, 20000, 21000, busy, 1, &created), 0);
	cr_expect_eq(created, 0);
	cr_assert_eq(jobs_schedule(ix, 20000, 21000, NULL, 0, &created), 0);
	cr_expect_eq(created, 1);
}

Test(jobs, claim_retry_recover)
{
	put("1.2.3.1.1", "1.2.3.1.1.1", 1000);
	int created;
	cr_assert_eq(jobs_schedule(ix, 5000, 5000, NULL, 0, &created), 0);
	struct job j, k;
	cr_assert_eq(jobs_claim(ix, 6000, &j), 1);
	cr_expect_str_eq(j.series_uid, "1.2.3.1.1");
	cr_expect_str_eq(j.study_uid, "1.2.3.1");
	cr_expect_str_eq(j.modality, "MR");
	cr_expect_eq(j.attempts, 1);
	cr_expect_eq(jobs_claim(ix, 6000, &k), 0, "a running job is not claimed twice");
	/* Failure with a retry later: not due before next_ms. */
	cr_assert_eq(jobs_fail(ix, j.id, 6000, "decoder said no", true, 9000), 0);
	cr_expect_eq(jobs_claim(ix, 8000, &k), 0);
	cr_assert_eq(jobs_claim(ix, 9000, &k), 1);
	cr_expect_eq(k.attempts, 2);
	/* The process dies while it runs: recovery makes it pending again. */
	int nj = 0, nd = 0;
	cr_assert_eq(jobs_recover(ix, &nj, &nd), 0);
	cr_expect_eq(nj, 1);
	cr_assert_eq(jobs_claim(ix, 9000, &k), 1);
	cr_expect_eq(k.attempts, 3);
	cr_assert_eq(jobs_fail(ix, k.id, 9500, "gave up", false, 0), 0);
	char buf[64];
	cr_expect_str_eq(th_q_text(db, "SELECT state || ':' || last_error FROM analyses", buf,
				   sizeof buf), "failed:gave up");
}

Test(jobs, done_records_findings_and_deliveries)
{
	put("1.2.3.1.1", "1.2.3.1.1.1", 1000);
	int created;
	cr_assert_eq(jobs_schedule(ix, 5000, 5000, NULL, 0, &created), 0);
	struct job j;
	cr_assert_eq(jobs_claim(ix, 6000, &j), 1);
	struct job_instance *list;
	size_t n;
	cr_assert_eq(jobs_series_instances(ix, j.series_ref, &list, &n), 0);
	cr_assert_eq(n, 1);
	cr_expect_str_eq(list[0].rel_path, "1.2.3.1.1.1");
	free(list);
	struct job_finding f = { .type = "glioma", .code_value = "393564001", .code_scheme = "SCT",
				 .code_meaning = "Glioma", .probability = 0.9, .slices = 4,
				 .extent = { 10, 12, 6 }, .tracking_uid = "2.25.1",
				 .tracking_id = "Lesion 3" };
	struct job_result_file files[] = {
		{ "2.25.10", "1.2.840.10008.5.1.4.1.1.88.34", "1.2.840.10008.1.2.1", "a/b/sr.dcm" },
		{ "2.25.11", "1.2.840.10008.5.1.4.1.1.11.1", "1.2.840.10008.1.2.1", "a/b/pr.dcm" },
	};
	const char *dests[] = { "pacs", "viewer" };
	struct job_result r = { .model_uid = "2.25.99", .study_probability = 0.9, .findings = &f,
				.n_findings = 1, .files = files, .n_files = 2, .destinations = dests,
				.n_destinations = 2 };
	cr_assert_eq(jobs_done(ix, j.id, 7000, &r), 0);
	cr_expect_eq(th_q_int(db, "SELECT count(*) FROM findings WHERE type = 'glioma'"), 1);
	cr_expect_eq(th_q_int(db, "SELECT count(*) FROM deliveries WHERE state = 'pending'"), 4);
	char buf[64];
	cr_expect_str_eq(th_q_text(db, "SELECT sr_uid FROM analyses", buf, sizeof buf), "2.25.10");

	struct delivery d;
	cr_assert_eq(deliveries_claim(ix, 8000, &d), 1);
	cr_expect_str_eq(d.destination, "pacs");
	cr_assert_eq(deliveries_finish(ix, d.id, 8000, false, "connection refused", true, 12000), 0);
	int nj, nd;
	struct delivery d2;
	cr_assert_eq(deliveries_claim(ix, 8000, &d2), 1);
	cr_expect_neq(d2.id, d.id, "the failed one waits for its backoff");
	cr_assert_eq(jobs_recover(ix, &nj, &nd), 0);
	cr_expect_eq(nd, 1, "the one being sent returns to pending after a crash");
	cr_assert_eq(deliveries_claim(ix, 12000, &d2), 1);
	cr_expect_eq(d2.id, d.id);
	cr_assert_eq(deliveries_finish(ix, d2.id, 12000, true, "0x0000", false, 0), 0);
	struct jobs_counts c;
	cr_assert_eq(jobs_counts(ix, &c), 0);
	cr_expect_eq(c.done, 1);
	cr_expect_eq(c.deliveries_sent, 1);
	cr_expect_eq(c.deliveries_pending, 3);

	/* A late instance makes the series due again; the new job names its predecessor. */
	put("1.2.3.1.1", "1.2.3.1.1.2", 20000);
	cr_assert_eq(jobs_schedule(ix, 30000, 30000, NULL, 0, &created), 0);
	cr_expect_eq(created, 1);
	struct job j2;
	cr_assert_eq(jobs_claim(ix, 30000, &j2), 1);
	cr_expect_eq(j2.predecessor_id, j.id);
	cr_expect_str_eq(j2.predecessor_sr, "2.25.10");
	/* The SR is not in the index (this test never stored it): nothing to reference. */
	cr_expect_str_eq(j2.predecessor_sr_series, "");
	struct job_prev_finding *prev;
	size_t n_prev;
	cr_assert_eq(jobs_findings(ix, j2.predecessor_id, &prev, &n_prev), 0);
	cr_assert_eq(n_prev, 1);
	cr_expect_str_eq(prev[0].tracking_uid, "2.25.1");
	cr_expect_str_eq(prev[0].tracking_id, "Lesion 3");
	cr_expect_float_eq(prev[0].extent[1], 12.0, 1e-9);
	free(prev);
}

Test(jobs, predecessor_sr_located_in_the_index)
{
	struct job j;
	claim_first(&j);
	int created;
	struct job_result_file sr = { "2.25.20", "1.2.840.10008.5.1.4.1.1.88.34",
				      "1.2.840.10008.1.2.1", "x/sr.dcm" };
	struct job_result r = { .model_uid = "2.25.99", .files = &sr, .n_files = 1 };
	cr_assert_eq(jobs_done(ix, j.id, 7000, &r), 0);
	modality = "SR"; /* the SR, stored in its own series of the study (never analysed) */
	put("1.2.3.1.99", "2.25.20", 7000);
	modality = "MR";
	put("1.2.3.1.1", "1.2.3.1.1.2", 8000);
	cr_assert_eq(jobs_schedule(ix, 30000, 30000, NULL, 0, &created), 0);
	struct job j2;
	cr_assert_eq(jobs_claim(ix, 30000, &j2), 1);
	cr_expect_str_eq(j2.series_uid, "1.2.3.1.1");
	cr_expect_str_eq(j2.predecessor_sr, "2.25.20");
	cr_expect_str_eq(j2.predecessor_sr_series, "1.2.3.1.99");
	cr_expect_str_eq(j2.predecessor_sr_study, "1.2.3.1");
}

Test(jobs, result_uids_fixed_by_the_first_attempt)
{
	struct job j;
	claim_first(&j);
	struct job_uids u = { "2.25.1", "2.25.2", "2.25.3", "2.25.4" };
	cr_assert_eq(jobs_result_uids(ix, j.id, &u), 0);
	cr_expect_str_eq(u.sr_sop, "2.25.2");
	/* a crash, the job runs again with fresh UIDs: it gets the first attempt's back */
	int nj;
	cr_assert_eq(jobs_recover(ix, &nj, NULL), 0);
	cr_expect_eq(nj, 1);
	struct job again;
	cr_assert_eq(jobs_claim(ix, 7000, &again), 1);
	cr_expect_eq(again.id, j.id);
	struct job_uids v = { "2.25.5", "2.25.6", "2.25.7", "2.25.8" };
	cr_assert_eq(jobs_result_uids(ix, again.id, &v), 0);
	cr_expect_str_eq(v.sr_series, "2.25.1");
	cr_expect_str_eq(v.sr_sop, "2.25.2");
	cr_expect_str_eq(v.gsps_series, "2.25.3");
	cr_expect_str_eq(v.gsps_sop, "2.25.4");
	struct job_uids w = { "2.25.9", "2.25.9", "2.25.9", "2.25.9" };
	cr_expect_lt(jobs_result_uids(ix, 999, &w), 0, "no such job");
}

Test(jobs, complete_by_declared_count)
{
	/* The series says it has 2 images: ready when both are in, quiet or not, busy or not. */
	expected_count = "2";
	put("1.2.3.1.7", "1.2.3.1.7.1", 9000);
	int created = -1;
	const char *busy[] = { "1.2.3.1.7" };
	cr_assert_eq(jobs_schedule(ix, 5000, 9500, busy, 1, &created), 0);
	cr_expect_eq(created, 0, "one of two: not ready before stable_seconds");
	put("1.2.3.1.7", "1.2.3.1.7.2", 9100);
	cr_assert_eq(jobs_schedule(ix, 5000, 9500, busy, 1, &created), 0);
	cr_expect_eq(created, 1, "two of two: ready at once");
	cr_expect_eq(th_q_int(db, "SELECT expected_instances FROM series"), 2);
	expected_count = "";
}
