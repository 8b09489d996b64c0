/*
 * The analysis pipeline (see pipeline.h):
 *
 *  scheduler  a loop timer; each tick asks the threadpool to turn series that are due and
 *             quiet (no instance for stable_seconds, no open association sending them) into
 *             pending jobs (storage/jobs.c), then wakes the workers.
 *  workers    threads; each claims a job, reads the series' headers, checks the model
 *             applies, runs it (src/analysis), writes the SR (and GSPS) through the dcmtk
 *             adapter (src/report) into the storage's incoming folder, hands them to the
 *             storage committer and waits until they are durable and indexed, then records
 *             the findings and queues the deliveries in one transaction. Failures retry with
 *             backoff, then stay failed with the reason; series the model does not apply to
 *             are marked not-applicable with the reason.
 *  delivery   a loop timer; claims due deliveries (threadpool), reads the file, sends it with
 *             C-STORE over an outbound association (src/net/scu.c) and records the outcome:
 *             sent after a success status, else retried with exponential backoff. Each
 *             delivery has its own association, so a down destination blocks no other.
 */
#include "pipeline/pipeline.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cblas.h>

#include "analysis/analysis.h"
#include "analysis/pixels.h"
#include "analysis/series.h"
#include "dicom/attrs_parser.h"
#include "dicom/part10.h"
#include "dicom/uid.h"
#include "net/assoc.h"
#include "net/scu.h"
#include "net/server.h"
#include "pipeline/track.h"
#include "report/report.h"
#include "storage/jobs.h"
#include "storage/store.h"
#include "util/log.h"

#define MODEL_FILE "brain-tumour-detector.ini"
#define MAX_ATTEMPTS 3             /* analysis attempts before a job stays failed */
#define DELIVERY_MAX_ATTEMPTS 50
#define DELIVERY_MAX_INFLIGHT 4
#define SR_CLASS "1.2.840.10008.5.1.4.1.1.88.34"
#define GSPS_CLASS "1.2.840.10008.5.1.4.1.1.11.1"
#define EXPLICIT_LE "1.2.840.10008.1.2.1"

struct worker {
	pthread_t thread;
	int id;
	struct nn_ctx *ctx;
	/* waiting for the committer */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool commit_done;
};

static struct {
	struct server *srv;
	struct analysis_model *model;
	char manifest_path[4096];
	struct worker *workers;
	int n_workers;
	pthread_mutex_t mu;            /* guards wake */
	pthread_cond_t wake;           /* new jobs, or stopping */
	atomic_bool stopping;
	uv_timer_t sched_timer, deliver_timer;
	uv_async_t deliver_wake;       /* a worker queued results: claim them now */
	bool timers;
	bool sched_busy;               /* a schedule pass is on the threadpool */
	unsigned deliveries_inflight;
	bool claiming;                 /* a claim is on the threadpool (one at a time) */
	struct delivery_op *deliveries; /* in flight, for abort at shutdown */
	/* Test hook (DICOMAID_TEST_KILL_AFTER_RESULTS=1 in the environment at start-up): the
	 * process kills itself with SIGKILL after a job's results are stored and before the job
	 * is marked done, the one moment a crash leaves results without a done job
	 * (tests/integration/analysis_orphan.sh). */
	bool kill_after_results;
} P;

static int64_t ms_now(void) { return (int64_t)now_ms(); }

const char *pipeline_default_model(void)
{
	static char path[4096];
	snprintf(path, sizeof path, "%s/models/%s", PKGDATADIR, MODEL_FILE);
	if (access(path, R_OK) == 0)
		return path;
	snprintf(path, sizeof path, "%s/models/%s", ABS_TOP_SRCDIR, MODEL_FILE);
	return path;
}

/* The analysis pixel reader's decoder for compressed syntaxes: dcmtk, through the adapter. */
static int dcmtk_decode(const char *path, float **pixels, int rows, int cols, char *err,
			size_t errlen)
{
	struct report_image img;
	memset(&img, 0, sizeof img);
	int rc = report_decode_pixels(path, &img, err, errlen);
	if (rc < 0)
		return rc == REPORT_EUNSUPP ? PIX_EUNSUPP : rc;
	if ((int)img.rows != rows || (int)img.cols != cols || img.frames < 1) {
		snprintf(err, errlen, "decoded image is %ux%u, header says %dx%d", img.rows, img.cols,
			 rows, cols);
		report_image_free(&img);
		return -1;
	}
	*pixels = malloc((size_t)rows * (size_t)cols * sizeof **pixels);
	if (!*pixels) {
		report_image_free(&img);
		return -1;
	}
	memcpy(*pixels, img.pixels, (size_t)rows * (size_t)cols * sizeof **pixels);
	report_image_free(&img);
	return 0;
}

/* ---- workers ------------------------------------------------------------------------ */

/* From a worker: results were queued for delivery, wake the loop to claim them at once
 * rather than at the next delivery tick. */
static void poke_delivery(void)
{
	/* P.mu orders this against pipeline_stop_loop closing the handle. */
	pthread_mutex_lock(&P.mu);
	if (!atomic_load(&P.stopping))
		uv_async_send(&P.deliver_wake);
	pthread_mutex_unlock(&P.mu);
}

static void commit_done_cb(struct store_req *req)
{
	struct worker *w = req->token;
	pthread_mutex_lock(&w->mu);
	w->commit_done = true;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

/* Hands a written result file to the committer and waits until it is durable and indexed.
 * path is in the storage's incoming folder; returns 0 and the relative path, or <0. */
static int commit_result(struct worker *w, const char *path, const char *calling_ae,
			 char *rel_path, size_t cap, char *err, size_t errlen)
{
	struct store *store = P.srv->store;
	int fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "cannot reopen %s: %s", path, strerror(errno));
		return -errno;
	}
	struct stat st;
	uint8_t *buf = NULL;
	if (fstat(fd, &st) < 0 || st.st_size <= 0 || !(buf = malloc((size_t)st.st_size)) ||
	    pread(fd, buf, (size_t)st.st_size, 0) != st.st_size) {
		free(buf);
		store_part_discard(store, path, fd);
		snprintf(err, errlen, "cannot read back the result file");
		return -EIO;
	}
	struct store_req *req = calloc(1, sizeof *req);
	struct dcm_meta m;
	size_t off = 0;
	int rc = req ? dcm_part10_read_header(buf, (size_t)st.st_size, &m, &off) : -ENOMEM;
	const struct dcm_ts *ts = rc == 0 ? dcm_ts_find(m.ts_uid) : NULL;
	if (rc == 0 && ts)
		rc = dcm_attrs_parse(ts, buf + off, (size_t)st.st_size - off, &req->attrs);
	free(buf);
	if (rc < 0 || !ts) {
		free(req);
		store_part_discard(store, path, fd);
		snprintf(err, errlen, "result file does not parse back");
		return rc < 0 ? rc : -EINVAL;
	}
	req->fd = fd;
	snprintf(req->part_path, sizeof req->part_path, "%s", path);
	snprintf(req->ts_uid, sizeof req->ts_uid, "%s", m.ts_uid);
	snprintf(req->calling_ae, sizeof req->calling_ae, "%s", calling_ae);
	req->size = (int64_t)st.st_size;
	req->token = w;
	req->done_cb = commit_done_cb;
	pthread_mutex_lock(&w->mu);
	w->commit_done = false;
	pthread_mutex_unlock(&w->mu);
	rc = store_submit(store, req);
	if (rc < 0) {
		store_part_discard(store, path, fd);
		free(req);
		snprintf(err, errlen, "storage is shutting down");
		return rc;
	}
	pthread_mutex_lock(&w->mu);
	while (!w->commit_done)
		pthread_cond_wait(&w->cv, &w->mu);
	pthread_mutex_unlock(&w->mu);
	rc = req->result;
	/* A result's UIDs are ours (jobs_result_uids): an instance already stored under them is
	 * this job's own result from an attempt that died before jobs_done, so under the keep
	 * and reject duplicate policies the stored one stands and is delivered. */
	if (rc == 0 || rc == STORE_DUPLICATE_KEPT || rc == STORE_DUPLICATE_REJECTED) {
		snprintf(rel_path, cap, "%s", req->final_rel_path);
		rc = 0;
	} else {
		snprintf(err, errlen, "storing the result failed: %s", strerror(-rc));
	}
	free(req);
	return rc;
}

/* Patient and study attributes for the report, from the first image of the series. */
static int study_attrs(const char *path, struct report_study *rs)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return -errno;
	uint8_t *buf = malloc(256 * 1024);
	size_t n = buf ? fread(buf, 1, 256 * 1024, f) : 0;
	fclose(f);
	struct dcm_meta m;
	size_t off = 0;
	struct dcm_attrs a;
	memset(&a, 0, sizeof a);
	int rc = buf ? dcm_part10_read_header(buf, n, &m, &off) : -ENOMEM;
	const struct dcm_ts *ts = rc == 0 ? dcm_ts_find(m.ts_uid) : NULL;
	if (ts) {
		/* Only the header part is needed: a parse error past the study attributes (the
		 * buffer ends inside the pixel data) is expected and harmless. */
		struct dcm_attrs_parser ap;
		if (dcm_attrs_parser_init(&ap, ts, &a) == 0) {
			dcm_attrs_parser_feed(&ap, buf + off, n - off);
			dcm_attrs_parser_free(&ap);
		}
	}
	free(buf);
	if (!ts)
		return -EINVAL;
	memset(rs, 0, sizeof *rs);
	snprintf(rs->specific_character_set, sizeof rs->specific_character_set, "%s", a.specific_charset);
	snprintf(rs->patient_name, sizeof rs->patient_name, "%.255s", a.patient_name);
	snprintf(rs->patient_id, sizeof rs->patient_id, "%s", a.patient_id);
	snprintf(rs->patient_birth_date, sizeof rs->patient_birth_date, "%s", a.patient_birth_date);
	snprintf(rs->patient_sex, sizeof rs->patient_sex, "%s", a.patient_sex);
	snprintf(rs->study_instance_uid, sizeof rs->study_instance_uid, "%s", a.study_uid);
	snprintf(rs->study_date, sizeof rs->study_date, "%s", a.study_date);
	snprintf(rs->study_time, sizeof rs->study_time, "%s", a.study_time);
	snprintf(rs->study_id, sizeof rs->study_id, "%s", a.study_id);
	snprintf(rs->accession_number, sizeof rs->accession_number, "%s", a.accession_number);
	snprintf(rs->study_description, sizeof rs->study_description, "%s", a.study_description);
	return 0;
}

/* Gives each lesion of the new analysis its Tracking Identifier and UID (track.h): those of
 * the same lesion in the analysis this one supersedes, else new ones. */
static int track_lesions(const struct job_prev_finding *prev, size_t n_prev,
			 const struct an_lesion *les, struct report_lesion *rl, int n,
			 const struct series *s)
{
	const struct pix_image *h = &s->slices[0].hdr;
	const double axes[3][3] = { { h->iop[0], h->iop[1], h->iop[2] },
				    { h->iop[3], h->iop[4], h->iop[5] },
				    { s->normal[0], s->normal[1], s->normal[2] } };
	struct track_lesion *tl = calloc(n > 0 ? (size_t)n : 1, sizeof *tl);
	if (!tl)
		return -ENOMEM;
	for (int i = 0; i < n; i++) {
		memcpy(tl[i].centre, les[i].centre_mm, sizeof tl[i].centre);
		memcpy(tl[i].extent, les[i].extent_mm, sizeof tl[i].extent);
	}
	track_assign(prev, n_prev, axes, tl, (size_t)n, report_new_uid);
	for (int i = 0; i < n; i++) {
		snprintf(rl[i].tracking_id, sizeof rl[i].tracking_id, "%s", tl[i].tracking_id);
		snprintf(rl[i].tracking_uid, sizeof rl[i].tracking_uid, "%s", tl[i].tracking_uid);
	}
	free(tl);
	return 0;
}

/* Runs one claimed job to its end state. */
static void run_job(struct worker *w, const struct job *job)
{
	struct server *srv = P.srv;
	const struct an_manifest *man = analysis_model_manifest(P.model);
	const char *root = store_root(srv->store);
	char err[512] = "";
	struct job_instance *inst = NULL;
	size_t n_inst = 0;
	struct series_set set;
	struct analysis_result res;
	struct report_source_image *imgs = NULL;
	struct report_lesion *lesions = NULL;
	struct report_box *boxes = NULL;
	struct job_finding *finds = NULL;
	struct job_prev_finding *prev = NULL;
	size_t n_prev = 0;
	char sr_path[4096] = "", pr_path[4096] = "";
	bool retry = false;
	int64_t t0 = ms_now();
	series_set_init(&set);
	memset(&res, 0, sizeof res);

	if (strcmp(job->modality, "MR") != 0) {
		snprintf(err, sizeof err, "modality %s, not MR", job->modality[0] ? job->modality : "(none)");
		goto not_applicable;
	}
	if (jobs_series_instances(srv->index, job->series_ref, &inst, &n_inst) < 0) {
		snprintf(err, sizeof err, "cannot list the series' instances");
		retry = true;
		goto failed;
	}
	for (size_t i = 0; i < n_inst; i++) {
		char path[8192];
		snprintf(path, sizeof path, "%s/%s", root, inst[i].rel_path);
		struct pix_image im;
		memset(&im, 0, sizeof im);
		char perr[256] = "";
		int rc = pix_read_file(path, 0, &im, perr, sizeof perr);
		if (rc == 0 && series_set_add(&set, path, &im) != 0)
			rc = -ENOMEM;
		pix_image_free(&im);
		if (rc < 0) {
			snprintf(err, sizeof err, "%s: %s", inst[i].sop_instance_uid, perr[0] ? perr : "unreadable");
			goto failed;
		}
	}
	series_set_finish(&set);
	if (set.n != 1) {
		snprintf(err, sizeof err, "expected one series, found %zu", set.n);
		goto failed;
	}
	struct series *s = &set.v[0];
	if (!analysis_applicable(P.model, s, err, sizeof err))
		goto not_applicable;
	int rc = analysis_run_series(P.model, w->ctx, s, man->report_threshold, &res, err, sizeof err);
	if (rc == AN_ENOTAPPLIC)
		goto not_applicable;
	if (rc < 0) {
		retry = rc == AN_ENOMEM || rc == AN_ERUN;
		goto failed;
	}

	/* The report. */
	struct report_findings f;
	memset(&f, 0, sizeof f);
	if (study_attrs(s->slices[0].path, &f.study) < 0) {
		snprintf(err, sizeof err, "cannot read the study attributes");
		goto failed;
	}
	imgs = calloc(s->n, sizeof *imgs);
	lesions = calloc(res.nlesions ? (size_t)res.nlesions : 1, sizeof *lesions);
	finds = calloc(res.nlesions ? (size_t)res.nlesions : 1, sizeof *finds);
	size_t total_boxes = 0;
	for (int i = 0; i < res.nlesions; i++)
		total_boxes += (size_t)res.lesions[i].nboxes;
	boxes = calloc(total_boxes ? total_boxes : 1, sizeof *boxes);
	if (job->predecessor_id)
		jobs_findings(srv->index, job->predecessor_id, &prev, &n_prev);
	if (!imgs || !lesions || !finds || !boxes) {
		snprintf(err, sizeof err, "out of memory");
		retry = true;
		goto failed;
	}
	for (size_t i = 0; i < s->n; i++) {
		const struct pix_image *h = &s->slices[i].hdr;
		snprintf(imgs[i].sop_class_uid, sizeof imgs[i].sop_class_uid, "%s", h->sop_class_uid);
		snprintf(imgs[i].sop_instance_uid, sizeof imgs[i].sop_instance_uid, "%s", h->sop_uid);
		snprintf(imgs[i].series_instance_uid, sizeof imgs[i].series_instance_uid, "%s", h->series_uid);
		imgs[i].rows = (uint32_t)h->rows;
		imgs[i].cols = (uint32_t)h->cols;
		if (h->has_spacing) {
			imgs[i].spacing[0] = h->spacing[0];
			imgs[i].spacing[1] = h->spacing[1];
		}
	}
	f.images = imgs;
	f.n_images = s->n;
	if (track_lesions(prev, n_prev, res.lesions, lesions, res.nlesions, s) < 0) {
		snprintf(err, sizeof err, "out of memory");
		retry = true;
		goto failed;
	}
	size_t bi = 0;
	for (int i = 0; i < res.nlesions; i++) {
		const struct an_lesion *l = &res.lesions[i];
		struct report_lesion *rl = &lesions[i];
		const struct an_label *lab = l->type >= 0 && l->type < man->nlabels ? &man->labels[l->type] : NULL;
		if (lab) {
			snprintf(rl->type.value, sizeof rl->type.value, "%s", lab->code_value);
			snprintf(rl->type.scheme, sizeof rl->type.scheme, "%s", lab->code_scheme);
			snprintf(rl->type.meaning, sizeof rl->type.meaning, "%s", lab->code_meaning);
		}
		rl->probability = l->probability;
		rl->size_mm = l->extent_mm[0] > l->extent_mm[1] ? l->extent_mm[0] : l->extent_mm[1];
		rl->volume_mm3 = l->volume_mm3;
		memcpy(rl->centre, l->centre_mm, sizeof rl->centre);
		rl->boxes = &boxes[bi];
		rl->n_boxes = (size_t)l->nboxes;
		for (int k = 0; k < l->nboxes; k++, bi++) {
			const struct an_box *b = &l->boxes[k];
			snprintf(boxes[bi].sop_instance_uid, sizeof boxes[bi].sop_instance_uid, "%s", b->sop_uid);
			/* Continuous image coordinates: pixels col_min..col_max (inclusive) cover
			 * [col_min, col_max + 1) (PS3.3 C.10.5.1.2). */
			boxes[bi].col_min = (float)b->col_min;
			boxes[bi].row_min = (float)b->row_min;
			boxes[bi].col_max = (float)b->col_max + 1.0f;
			boxes[bi].row_max = (float)b->row_max + 1.0f;
		}
		struct job_finding *jf = &finds[i];
		jf->type = lab ? lab->name : "";
		jf->code_value = rl->type.value;
		jf->code_scheme = rl->type.scheme;
		jf->code_meaning = rl->type.meaning;
		jf->probability = l->probability;
		memcpy(jf->centre, l->centre_mm, sizeof jf->centre);
		memcpy(jf->extent, l->extent_mm, sizeof jf->extent);
		jf->volume_mm3 = l->volume_mm3;
		jf->slices = l->nboxes;
		jf->tracking_uid = rl->tracking_uid;
		jf->tracking_id = rl->tracking_id;
	}
	f.lesions = lesions;
	f.n_lesions = (size_t)res.nlesions;
	snprintf(f.algorithm_name, sizeof f.algorithm_name, "%.64s", man->name);
	snprintf(f.algorithm_version, sizeof f.algorithm_version, "%s", man->version);
	snprintf(f.device_observer_uid, sizeof f.device_observer_uid, "%s", man->device_uid);
	snprintf(f.device_observer_name, sizeof f.device_observer_name, "dicomaid");
	snprintf(f.device_manufacturer, sizeof f.device_manufacturer, "%s",
		 man->manufacturer[0] ? man->manufacturer : "dicomaid project");
	snprintf(f.device_model_name, sizeof f.device_model_name, "%.64s", man->name);
	/* The results' UIDs: fresh on the first attempt, the same on a retry, so that a retry
	 * after a crash between storing them and jobs_done rewrites the same objects. */
	struct job_uids uids;
	report_new_uid(uids.sr_series);
	report_new_uid(uids.sr_sop);
	report_new_uid(uids.gsps_series);
	report_new_uid(uids.gsps_sop);
	if (jobs_result_uids(srv->index, job->id, &uids) < 0) {
		snprintf(err, sizeof err, "cannot record the result UIDs");
		retry = true;
		goto failed;
	}
	snprintf(f.sr_series_instance_uid, sizeof f.sr_series_instance_uid, "%s", uids.sr_series);
	snprintf(f.sr_sop_instance_uid, sizeof f.sr_sop_instance_uid, "%s", uids.sr_sop);
	snprintf(f.gsps_series_instance_uid, sizeof f.gsps_series_instance_uid, "%s",
		 uids.gsps_series);
	snprintf(f.gsps_sop_instance_uid, sizeof f.gsps_sop_instance_uid, "%s", uids.gsps_sop);
	/* The SR this one supersedes (Predecessor Documents Sequence, PS3.3 C.17.2.3), when the
	 * index still holds it. */
	if (job->predecessor_sr[0] && job->predecessor_sr_series[0]) {
		snprintf(f.predecessor_sop_instance_uid, sizeof f.predecessor_sop_instance_uid, "%s",
			 job->predecessor_sr);
		snprintf(f.predecessor_series_instance_uid,
			 sizeof f.predecessor_series_instance_uid, "%s", job->predecessor_sr_series);
		snprintf(f.predecessor_study_instance_uid, sizeof f.predecessor_study_instance_uid,
			 "%s", job->predecessor_sr_study);
	}

	/* Write into incoming/, then commit through the storage committer. */
	int fd;
	if (store_part_create(srv->store, sr_path, &fd) < 0) {
		snprintf(err, sizeof err, "cannot create the SR file");
		retry = true;
		goto failed;
	}
	close(fd);
	if (report_write_sr(&f, sr_path, err, sizeof err) < 0) {
		store_part_discard(srv->store, sr_path, -1);
		sr_path[0] = '\0';
		goto failed; /* the document failed its checks: never sent */
	}
	struct job_result_file files[2];
	char sr_rel[256], pr_rel[256];
	size_t n_files = 0;
	rc = commit_result(w, sr_path, srv->cfg->ae_title, sr_rel, sizeof sr_rel, err, sizeof err);
	sr_path[0] = '\0';
	if (rc < 0) {
		retry = true;
		goto failed;
	}
	files[n_files++] = (struct job_result_file){ f.sr_sop_instance_uid, SR_CLASS, EXPLICIT_LE, sr_rel };
	if (srv->cfg->analysis_gsps && f.n_lesions > 0) {
		if (store_part_create(srv->store, pr_path, &fd) < 0) {
			snprintf(err, sizeof err, "cannot create the GSPS file");
			retry = true;
			goto failed;
		}
		close(fd);
		if (report_write_gsps(&f, pr_path, err, sizeof err) < 0) {
			store_part_discard(srv->store, pr_path, -1);
			pr_path[0] = '\0';
			goto failed;
		}
		rc = commit_result(w, pr_path, srv->cfg->ae_title, pr_rel, sizeof pr_rel, err, sizeof err);
		pr_path[0] = '\0';
		if (rc < 0) {
			retry = true;
			goto failed;
		}
		files[n_files++] = (struct job_result_file){ f.gsps_sop_instance_uid, GSPS_CLASS, EXPLICIT_LE, pr_rel };
	}
	if (P.kill_after_results) {
		log_notice("worker=%d event=test_kill_after_results job=%lld", w->id,
			   (long long)job->id);
		raise(SIGKILL);
	}
	const char *dests[64];
	size_t n_dests = 0;
	for (size_t i = 0; i < srv->cfg->n_dests && n_dests < 64; i++)
		if (srv->cfg->dests[i].results)
			dests[n_dests++] = srv->cfg->dests[i].name;
	struct job_result jr = { .model_uid = man->device_uid, .study_probability = res.study_probability,
				 .findings = finds, .n_findings = (size_t)res.nlesions, .files = files,
				 .n_files = n_files, .destinations = dests, .n_destinations = n_dests };
	if (jobs_done(srv->index, job->id, ms_now(), &jr) < 0) {
		snprintf(err, sizeof err, "cannot record the findings");
		retry = true;
		goto failed;
	}
	poke_delivery();
	log_info("worker=%d event=analysed job=%lld series=%s slices=%zu lesions=%d "
		 "study_probability=%.3f sr=%s ms=%lld",
		 w->id, (long long)job->id, job->series_uid, s->n, res.nlesions,
		 res.study_probability, f.sr_sop_instance_uid, (long long)(ms_now() - t0));
	goto out;

not_applicable:
	log_info("worker=%d event=not_applicable job=%lld series=%s why=\"%s\"", w->id,
		 (long long)job->id, job->series_uid, err);
	jobs_not_applicable(srv->index, job->id, ms_now(), err);
	goto out;
failed:
	retry = retry && job->attempts < MAX_ATTEMPTS;
	{
		int64_t next = ms_now() + 30000LL * (1LL << (job->attempts - 1 < 6 ? job->attempts - 1 : 6));
		log_warn("worker=%d event=analysis_failed job=%lld series=%s attempt=%d retry=%s "
			 "why=\"%s\"",
			 w->id, (long long)job->id, job->series_uid, job->attempts,
			 retry ? "yes" : "no", err);
		jobs_fail(srv->index, job->id, ms_now(), err, retry, next);
	}
out:
	if (sr_path[0])
		store_part_discard(srv->store, sr_path, -1);
	if (pr_path[0])
		store_part_discard(srv->store, pr_path, -1);
	analysis_result_free(&res);
	series_set_free(&set);
	free(inst);
	free(imgs);
	free(lesions);
	free(boxes);
	free(finds);
	free(prev);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	while (!atomic_load(&P.stopping)) {
		struct job job;
		int rc = jobs_claim(P.srv->index, ms_now(), &job);
		if (rc == 1) {
			run_job(w, &job);
			continue;
		}
		if (rc < 0)
			log_err("worker=%d event=claim_failed err=\"%s\"", w->id, strerror(-rc));
		/* Nothing due: sleep until woken by the scheduler or for a while (retries). */
		pthread_mutex_lock(&P.mu);
		if (!atomic_load(&P.stopping)) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += 2;
			pthread_cond_timedwait(&P.wake, &P.mu, &ts);
		}
		pthread_mutex_unlock(&P.mu);
	}
	return NULL;
}

static void wake_workers(void)
{
	pthread_mutex_lock(&P.mu);
	pthread_cond_broadcast(&P.wake);
	pthread_mutex_unlock(&P.mu);
}

/* ---- scheduler ---------------------------------------------------------------------- */

struct sched_work {
	uv_work_t w;
	int64_t cutoff, now;
	char (*busy)[65];
	size_t n_busy;
	const char **busy_ptrs;
	int created;
	int rc;
};

static void sched_run(uv_work_t *req)
{
	struct sched_work *sw = (struct sched_work *)req;
	sw->rc = jobs_schedule(P.srv->index, sw->cutoff, sw->now, sw->busy_ptrs, sw->n_busy,
			       &sw->created);
}

static void sched_done(uv_work_t *req, int status)
{
	struct sched_work *sw = (struct sched_work *)req;
	P.sched_busy = false;
	if (sw->rc < 0)
		log_err("event=schedule_failed err=\"%s\"", strerror(-sw->rc));
	else if (sw->created > 0) {
		log_info("event=series_complete jobs=%d", sw->created);
		wake_workers();
	}
	free(sw->busy);
	free(sw->busy_ptrs);
	free(sw);
	(void)status;
}

static void on_sched_timer(uv_timer_t *t)
{
	struct server *srv = t->data;
	if (P.sched_busy || atomic_load(&P.stopping))
		return;
	struct sched_work *sw = calloc(1, sizeof *sw);
	if (!sw)
		return;
	size_t cap = 0;
	for (struct assoc *a = srv->assocs; a; a = a->next)
		cap += a->n_series;
	sw->busy = calloc(cap ? cap : 1, sizeof *sw->busy);
	sw->busy_ptrs = calloc(cap ? cap : 1, sizeof *sw->busy_ptrs);
	if (!sw->busy || !sw->busy_ptrs) {
		free(sw->busy);
		free(sw->busy_ptrs);
		free(sw);
		return;
	}
	for (struct assoc *a = srv->assocs; a; a = a->next)
		for (unsigned i = 0; i < a->n_series; i++) {
			memcpy(sw->busy[sw->n_busy], a->series[i], sizeof sw->busy[0]);
			sw->busy_ptrs[sw->n_busy] = sw->busy[sw->n_busy];
			sw->n_busy++;
		}
	sw->now = ms_now();
	sw->cutoff = sw->now - (int64_t)srv->cfg->stable_seconds * 1000;
	P.sched_busy = true;
	if (uv_queue_work(srv->loop, &sw->w, sched_run, sched_done) < 0) {
		P.sched_busy = false;
		free(sw->busy);
		free(sw->busy_ptrs);
		free(sw);
	}
}

/* ---- delivery ----------------------------------------------------------------------- */

struct delivery_op {
	uv_work_t w;
	struct delivery d;
	/* destinations with an attempt in flight, skipped by the claim (copied on the loop) */
	char skip[64][65];
	const char *skip_ptrs[64];
	size_t n_skip;
	int claimed;                   /* 1: d is ours */
	uint8_t *file;
	size_t len;
	int read_err;
	const struct config_peer *dest;
	struct scu *scu;
	uint16_t status;
	bool have_status;
	char why[320];
	/* finishing */
	bool ok, retry;
	int64_t next_ms;
	struct delivery_op *next_inflight;
};

static void delivery_unlink(struct delivery_op *op)
{
	for (struct delivery_op **pp = &P.deliveries; *pp; pp = &(*pp)->next_inflight)
		if (*pp == op) {
			*pp = op->next_inflight;
			break;
		}
}

static void finish_run(uv_work_t *req)
{
	struct delivery_op *op = (struct delivery_op *)req;
	char status[64];
	if (op->have_status)
		snprintf(status, sizeof status, "0x%04X", op->status);
	else
		snprintf(status, sizeof status, "%.60s", op->why);
	deliveries_finish(P.srv->index, op->d.id, ms_now(), op->ok, status, op->retry, op->next_ms);
}

static void on_deliver_timer(uv_timer_t *t);

static void finish_done(uv_work_t *req, int status)
{
	struct delivery_op *op = (struct delivery_op *)req;
	(void)status;
	free(op->file);
	free(op);
	P.deliveries_inflight--;
	/* A slot is free: the next due delivery need not wait for the tick. */
	if (P.timers)
		on_deliver_timer(&P.deliver_timer);
}

/* Records the outcome of an attempt (threadpool) and frees the operation. */
static void delivery_finish(struct delivery_op *op)
{
	delivery_unlink(op);
	bool success = op->have_status && (op->status == 0 || (op->status & 0xF000) == 0xB000);
	op->ok = success;
	/* Refusals for the instance itself (0122 class, A9xx/Cxxx content) will not change. */
	bool permanent = op->have_status && !success && op->status != 0xA700 &&
			 (op->status & 0xFF00) != 0xA700;
	op->retry = !success && !permanent && op->d.attempts < DELIVERY_MAX_ATTEMPTS;
	int shift = op->d.attempts - 1 < 7 ? op->d.attempts - 1 : 7;
	op->next_ms = ms_now() + 5000LL * (1LL << shift);
	char why[340];
	if (op->have_status)
		snprintf(why, sizeof why, "status 0x%04X", op->status);
	else
		snprintf(why, sizeof why, "%s", op->why);
	if (success)
		log_info("event=delivered destination=%s sop_instance=%s status=0x%04X attempt=%d",
			 op->d.destination, op->d.sop_instance_uid, op->status, op->d.attempts);
	else
		log_warn("event=delivery_failed destination=%s sop_instance=%s attempt=%d retry=%s "
			 "why=\"%s\"",
			 op->d.destination, op->d.sop_instance_uid, op->d.attempts,
			 op->retry ? "yes" : "no", why);
	if (uv_queue_work(P.srv->loop, &op->w, finish_run, finish_done) < 0) {
		free(op->file);
		free(op);
		P.deliveries_inflight--;
	}
}

static void dl_ready(struct scu *s, void *ctx)
{
	struct delivery_op *op = ctx;
	struct dcm_meta m;
	size_t off = 0;
	if (dcm_part10_read_header(op->file, op->len, &m, &off) < 0) {
		snprintf(op->why, sizeof op->why, "stored result has no valid Part 10 header");
		scu_release(s);
		return;
	}
	int rc = scu_store(s, op->d.sop_class_uid, op->d.sop_instance_uid, m.ts_uid,
			   op->file + off, op->len - off, NULL, 0);
	if (rc < 0) {
		snprintf(op->why, sizeof op->why, "%s",
			 rc == -ENOTSUP ? "destination did not accept the SOP class" : "cannot send");
		scu_release(s);
	}
}

/* A confirmed success is recorded at once, before the release: a crash after the PACS
 * answered must not leave the row 'sending' (it would be sent again at start-up). */
struct mark_sent {
	uv_work_t w;
	int64_t id;
	char status[16];
};

static void mark_run(uv_work_t *req)
{
	struct mark_sent *m = (struct mark_sent *)req;
	deliveries_finish(P.srv->index, m->id, ms_now(), true, m->status, false, 0);
}

static void mark_done(uv_work_t *req, int status)
{
	(void)status;
	free(req);
}

static void dl_store_rsp(struct scu *s, void *ctx, uint16_t status)
{
	struct delivery_op *op = ctx;
	op->status = status;
	op->have_status = true;
	if (status == 0 || (status & 0xF000) == 0xB000) {
		struct mark_sent *m = calloc(1, sizeof *m);
		if (m) {
			m->id = op->d.id;
			snprintf(m->status, sizeof m->status, "0x%04X", status);
			if (uv_queue_work(P.srv->loop, &m->w, mark_run, mark_done) < 0)
				free(m);
		}
	}
	scu_release(s);
}

static void dl_closed(struct scu *s, void *ctx, int err, const char *why)
{
	struct delivery_op *op = ctx;
	(void)s;
	op->scu = NULL;
	if (!op->have_status && !op->why[0])
		snprintf(op->why, sizeof op->why, "%s", err ? why : "no response");
	delivery_finish(op);
}

static void claim_run(uv_work_t *req)
{
	struct delivery_op *op = (struct delivery_op *)req;
	op->claimed = deliveries_claim_except(P.srv->index, ms_now(), op->skip_ptrs, op->n_skip,
					      &op->d);
	if (op->claimed != 1)
		return;
	char path[8192];
	snprintf(path, sizeof path, "%s/%s", store_root(P.srv->store), op->d.rel_path);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0 || st.st_size <= 0) {
		op->read_err = -errno;
		if (fd >= 0)
			close(fd);
		return;
	}
	op->file = malloc((size_t)st.st_size);
	if (op->file && pread(fd, op->file, (size_t)st.st_size, 0) == st.st_size)
		op->len = (size_t)st.st_size;
	else
		op->read_err = -EIO;
	close(fd);
}

static void claim_done(uv_work_t *req, int status)
{
	struct delivery_op *op = (struct delivery_op *)req;
	struct server *srv = P.srv;
	(void)status;
	P.claiming = false;
	if (op->claimed != 1) {
		if (op->claimed < 0)
			log_err("event=delivery_claim_failed err=\"%s\"", strerror(-op->claimed));
		free(op);
		P.deliveries_inflight--;
		return;
	}
	op->next_inflight = P.deliveries;
	P.deliveries = op;
	for (size_t i = 0; i < srv->cfg->n_dests; i++)
		if (strcmp(srv->cfg->dests[i].name, op->d.destination) == 0)
			op->dest = &srv->cfg->dests[i];
	if (!op->dest || op->read_err < 0 || atomic_load(&P.stopping)) {
		snprintf(op->why, sizeof op->why, "%s",
			 !op->dest ? "destination no longer configured"
			 : op->read_err < 0 ? "cannot read the stored result" : "shutting down");
		delivery_finish(op);
		return;
	}
	struct scu_context ctx;
	memset(&ctx, 0, sizeof ctx);
	snprintf(ctx.abstract, sizeof ctx.abstract, "%s", op->d.sop_class_uid);
	snprintf(ctx.ts[0], sizeof ctx.ts[0], "%s", op->d.transfer_syntax);
	ctx.n_ts = 1;
	struct scu_params p = { .host = op->dest->host, .port = op->dest->port,
				.calling_ae = srv->cfg->ae_title, .called_ae = op->dest->ae_title,
				.contexts = &ctx, .n_contexts = 1, .max_pdu = srv->cfg->max_pdu,
				.timeout_s = 30, .log_id = (uint64_t)op->d.id,
				.tls = op->dest->tls ? srv->tls_client : NULL };
	struct scu_callbacks cb = { .ctx = op, .on_ready = dl_ready, .on_store_rsp = dl_store_rsp,
				    .on_closed = dl_closed };
	if (scu_open(srv->loop, &p, &cb, &op->scu) < 0) {
		op->scu = NULL;
		snprintf(op->why, sizeof op->why, "cannot open an association");
		delivery_finish(op);
		return;
	}
	/* More may be due: look again at once. */
	on_deliver_timer(&P.deliver_timer);
}

static void on_deliver_timer(uv_timer_t *t)
{
	(void)t;
	if (atomic_load(&P.stopping) || P.claiming ||
	    P.deliveries_inflight >= DELIVERY_MAX_INFLIGHT || P.srv->cfg->n_dests == 0)
		return;
	struct delivery_op *op = calloc(1, sizeof *op);
	if (!op)
		return;
	/* One attempt per destination at a time: a destination that hangs until the
	 * association timeout then holds one slot, never all of them. */
	for (struct delivery_op *o = P.deliveries; o && op->n_skip < 64; o = o->next_inflight) {
		bool seen = false;
		for (size_t i = 0; i < op->n_skip && !seen; i++)
			seen = strcmp(op->skip[i], o->d.destination) == 0;
		if (seen)
			continue;
		snprintf(op->skip[op->n_skip], sizeof op->skip[0], "%s", o->d.destination);
		op->skip_ptrs[op->n_skip] = op->skip[op->n_skip];
		op->n_skip++;
	}
	P.deliveries_inflight++;
	P.claiming = true;
	if (uv_queue_work(P.srv->loop, &op->w, claim_run, claim_done) < 0) {
		free(op);
		P.deliveries_inflight--;
		P.claiming = false;
	}
}

/* ---- life cycle ----------------------------------------------------------------------- */

static void on_deliver_wake(uv_async_t *a)
{
	(void)a;
	on_deliver_timer(&P.deliver_timer);
}

int pipeline_start(struct server *srv)
{
	memset(&P, 0, sizeof P);
	P.srv = srv;
	pix_set_external_decoder(dcmtk_decode);
	pthread_mutex_init(&P.mu, NULL);
	pthread_cond_init(&P.wake, NULL);
	atomic_init(&P.stopping, false);
	const char *hook = getenv("DICOMAID_TEST_KILL_AFTER_RESULTS");
	P.kill_after_results = hook && strcmp(hook, "1") == 0;

	int nj = 0, nd = 0;
	if (jobs_recover(srv->index, &nj, &nd) == 0 && (nj || nd))
		log_notice("event=queue_recovered jobs=%d deliveries=%d", nj, nd);

	uv_timer_init(srv->loop, &P.deliver_timer);
	P.deliver_timer.data = srv;
	uv_timer_start(&P.deliver_timer, on_deliver_timer, 1000, 1000);
	uv_timer_init(srv->loop, &P.sched_timer);
	P.sched_timer.data = srv;
	uv_async_init(srv->loop, &P.deliver_wake, on_deliver_wake);
	P.timers = true;
	if (!srv->cfg->analysis_enabled) {
		log_notice("event=analysis_disabled");
		return 0;
	}
	snprintf(P.manifest_path, sizeof P.manifest_path, "%s",
		 srv->cfg->analysis_model[0] ? srv->cfg->analysis_model : pipeline_default_model());
	char err[512];
	if (analysis_model_load(P.manifest_path, &P.model, err, sizeof err) < 0) {
		log_err("event=analysis_unavailable model=%s err=\"%s\"", P.manifest_path, err);
		return -1;
	}
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	if (cores < 1)
		cores = 1;
	int n = srv->cfg->analysis_workers > 0 ? srv->cfg->analysis_workers : (int)cores;
	int blas = (int)cores / n > 0 ? (int)cores / n : 1;
	openblas_set_num_threads(blas);
	P.workers = calloc((size_t)n, sizeof *P.workers);
	if (!P.workers)
		return -1;
	for (int i = 0; i < n; i++) {
		struct worker *w = &P.workers[i];
		w->id = i + 1;
		pthread_mutex_init(&w->mu, NULL);
		pthread_cond_init(&w->cv, NULL);
		w->ctx = analysis_ctx_new(P.model);
		if (!w->ctx || pthread_create(&w->thread, NULL, worker_main, w) != 0) {
			log_err("event=worker_start_failed worker=%d", w->id);
			if (w->ctx)
				analysis_ctx_free(w->ctx);
			break;
		}
		P.n_workers++;
	}
	uv_timer_start(&P.sched_timer, on_sched_timer, 500, 500);
	const struct an_manifest *man = analysis_model_manifest(P.model);
	log_notice("event=analysis_ready model=\"%s\" version=%s device_uid=%s workers=%d "
		   "blas_threads=%d stable_seconds=%d destinations=%zu",
		   man->name, man->version, man->device_uid, P.n_workers, blas,
		   srv->cfg->stable_seconds, srv->cfg->n_dests);
	return 0;
}

void pipeline_stop_loop(struct server *srv)
{
	(void)srv;
	pthread_mutex_lock(&P.mu);
	atomic_store(&P.stopping, true);
	pthread_mutex_unlock(&P.mu);
	wake_workers();
	if (P.timers) {
		uv_timer_stop(&P.sched_timer);
		uv_timer_stop(&P.deliver_timer);
		uv_close((uv_handle_t *)&P.sched_timer, NULL);
		uv_close((uv_handle_t *)&P.deliver_timer, NULL);
		uv_close((uv_handle_t *)&P.deliver_wake, NULL);
		P.timers = false;
	}
	for (struct delivery_op *op = P.deliveries; op; op = op->next_inflight)
		if (op->scu)
			scu_abort(op->scu);
}

void pipeline_join(void)
{
	atomic_store(&P.stopping, true);
	wake_workers();
	for (int i = 0; i < P.n_workers; i++) {
		pthread_join(P.workers[i].thread, NULL);
		analysis_ctx_free(P.workers[i].ctx);
		pthread_mutex_destroy(&P.workers[i].mu);
		pthread_cond_destroy(&P.workers[i].cv);
	}
	free(P.workers);
	P.workers = NULL;
	P.n_workers = 0;
	if (P.model)
		analysis_model_free(P.model);
	P.model = NULL;
}
