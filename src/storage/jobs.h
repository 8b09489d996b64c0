/*
 * The durable analysis queue and the result delivery queue (sql/003_analysis.sql), on the
 * index's connection. Every function takes the index lock for its own duration, may block on
 * disk and so never runs on the event loop: the scheduler and the delivery scans call these
 * from libuv's threadpool, the analysis workers from their own threads.
 *
 * Job states: pending -> running -> done | failed | not-applicable; a failure with attempts
 * left goes back to pending with a later next_attempt_at (backoff). Deliveries: pending ->
 * sending -> sent | failed, or back to pending with a backoff.
 */
#ifndef DICOMAID_STORAGE_JOBS_H
#define DICOMAID_STORAGE_JOBS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "storage/index.h"

/*
 * Start-up recovery: jobs left running and deliveries left sending by a process that died
 * return to pending. *jobs / *deliveries (may be NULL) get how many.
 */
int jobs_recover(struct index *ix, int *jobs, int *deliveries);

/*
 * Turns every series marked due whose last instance was committed before cutoff_ms, or that
 * holds the instance count it declared (Images in Acquisition), into a pending job (unless
 * one is already pending for it), skipping quiet ones among the series UIDs in busy
 * (borrowed, n_busy of them: series an open association is still sending). *created gets how
 * many jobs were made.
 */
int jobs_schedule(struct index *ix, int64_t cutoff_ms, int64_t now_ms, const char *const *busy,
		  size_t n_busy, int *created);

struct job {
	int64_t id;
	int64_t series_ref;
	int attempts;                 /* including this one */
	char series_uid[65];
	char study_uid[65];
	char modality[17];
	int64_t predecessor_id;       /* the last done analysis of this series, 0 if none */
	char predecessor_sr[65];      /* its SR's SOP Instance UID, "" if none */
	char predecessor_sr_series[65]; /* that SR's Series and Study Instance UIDs, from the */
	char predecessor_sr_study[65];  /* index; "" when it is no longer stored */
};

/* Claims the oldest due pending job: 1 and *out filled, 0 when none is due, <0 on error. */
int jobs_claim(struct index *ix, int64_t now_ms, struct job *out);

/* The stored instances of a series, in instance number order. */
struct job_instance {
	char sop_instance_uid[65];
	char sop_class_uid[65];
	char transfer_syntax[65];
	char rel_path[256];
};
/* *list is malloc'ed (free()); *n may be 0. */
int jobs_series_instances(struct index *ix, int64_t series_ref, struct job_instance **list,
			  size_t *n);

struct job_finding {
	const char *type;             /* "glioma" ... or "" */
	const char *code_value, *code_scheme, *code_meaning;
	double probability;
	double centre[3], extent[3];
	double volume_mm3;
	int slices;
	const char *tracking_uid;
	const char *tracking_id;      /* Tracking Identifier, e.g. "Lesion 1" */
};

struct job_result_file {
	const char *sop_instance_uid;
	const char *sop_class_uid;
	const char *transfer_syntax;
	const char *rel_path;
};

struct job_result {
	const char *model_uid;
	double study_probability;
	const struct job_finding *findings;
	size_t n_findings;
	const struct job_result_file *files; /* SR (and GSPS): stored, to deliver */
	size_t n_files;
	const char *const *destinations; /* [destination NAME]s that take results */
	size_t n_destinations;
};

/* Marks the job done, records its findings and queues a delivery of each file to each
 * destination, in one transaction. */
int jobs_done(struct index *ix, int64_t job_id, int64_t now_ms, const struct job_result *r);

/* A failure: back to pending at next_ms when retry, else failed; reason is one line. */
int jobs_fail(struct index *ix, int64_t job_id, int64_t now_ms, const char *reason, bool retry,
	      int64_t next_ms);

/* The series is not one the model analyses (not MR, not an axial stack, ...). */
int jobs_not_applicable(struct index *ix, int64_t job_id, int64_t now_ms, const char *reason);

/* The findings of an earlier analysis (to keep the Tracking Identifiers and UIDs of the same
 * lesions). tracking_id is "" for findings recorded before schema version 6. */
struct job_prev_finding {
	char type[32];
	double centre[3], extent[3];
	char tracking_uid[65];
	char tracking_id[65];
};
int jobs_findings(struct index *ix, int64_t analysis_id, struct job_prev_finding **list,
		  size_t *n);

/* The UIDs of a job's results (SR and presentation state, each a new series). */
struct job_uids {
	char sr_series[65], sr_sop[65], gsps_series[65], gsps_sop[65];
};

/*
 * Fixes the UIDs of the job's results before they are written: on the first call for a job
 * the UIDs in *u (fresh ones, from the caller) are recorded; on a later attempt of the same
 * job the recorded ones replace them in *u. So a job that stored its SR and then died before
 * jobs_done writes the same SOP Instances again on its retry (the store replaces or keeps
 * them) instead of adding a second, different SR to the study.
 */
int jobs_result_uids(struct index *ix, int64_t job_id, struct job_uids *u);

struct delivery {
	int64_t id;
	int attempts;                 /* including this one */
	char destination[65];
	char sop_instance_uid[65];
	char sop_class_uid[65];
	char transfer_syntax[65];
	char rel_path[256];
};

/* Claims the oldest due pending delivery (-> sending): 1, 0 when none, <0 on error. */
int deliveries_claim(struct index *ix, int64_t now_ms, struct delivery *out);

/* The same, skipping the destinations named in skip[0..n_skip) (those with an attempt in
 * flight, so that one destination that hangs holds at most one delivery slot). skip is
 * borrowed; n_skip <= 64. */
int deliveries_claim_except(struct index *ix, int64_t now_ms, const char *const *skip,
			    size_t n_skip, struct delivery *out);

/* After an attempt: sent (ok), or back to pending at next_ms (retry), or failed. */
int deliveries_finish(struct index *ix, int64_t id, int64_t now_ms, bool ok, const char *status,
		      bool retry, int64_t next_ms);

/* Queue depths, for logs and dicomaidctl. */
struct jobs_counts {
	int64_t pending, running, done, failed, not_applicable;
	int64_t deliveries_pending, deliveries_sending, deliveries_sent, deliveries_failed;
};
int jobs_counts(struct index *ix, struct jobs_counts *out);

#endif
