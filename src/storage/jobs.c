/*
 * Analysis and delivery queues in SQLite (see jobs.h). Statements are prepared per call:
 * these run a few times per series or result, never per instance, so the cost is noise
 * next to the work they schedule.
 */
#include "storage/jobs.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Binds parameters given as a format: 'i' int64, 's' text (NULL binds NULL), 'd' double. */
static int bindv(sqlite3_stmt *st, const char *fmt, va_list ap)
{
	for (int i = 0; fmt && fmt[i]; i++) {
		int rc;
		switch (fmt[i]) {
		case 'i':
			rc = sqlite3_bind_int64(st, i + 1, va_arg(ap, int64_t));
			break;
		case 'd':
			rc = sqlite3_bind_double(st, i + 1, va_arg(ap, double));
			break;
		default: {
			const char *s = va_arg(ap, const char *);
			rc = s ? sqlite3_bind_text(st, i + 1, s, -1, SQLITE_TRANSIENT)
			       : sqlite3_bind_null(st, i + 1);
			break;
		}
		}
		if (rc != SQLITE_OK)
			return rc;
	}
	return SQLITE_OK;
}

static void copy_col(sqlite3_stmt *st, int col, char *dst, size_t cap)
{
	const unsigned char *t = sqlite3_column_text(st, col);
	snprintf(dst, cap, "%s", t ? (const char *)t : "");
}

/* Prepares sql, binds its parameters (see bindv) and steps it once. With fill, the statement
 * returns at most one row (UPDATE ... RETURNING, a lookup): fill(st, ctx) reads it when there
 * is one. SQLITE_OK with *found 0 or 1 (a row came back), or the error. */
static int run_v(sqlite3 *db, const char *sql, void (*fill)(sqlite3_stmt *, void *), void *ctx,
		 int *found, const char *fmt, va_list ap)
{
	sqlite3_stmt *st = NULL;
	*found = 0;
	int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
	if (rc == SQLITE_OK)
		rc = bindv(st, fmt, ap);
	if (rc == SQLITE_OK) {
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			*found = 1;
			if (fill) {
				fill(st, ctx);
				rc = sqlite3_step(st);
			} else {
				rc = SQLITE_DONE;
			}
		}
		if (rc == SQLITE_DONE)
			rc = SQLITE_OK;
	}
	sqlite3_finalize(st);
	return rc;
}

/* Runs one statement with its parameters (see bindv); SQLITE_OK or the error. */
static int exec_fmt(sqlite3 *db, const char *sql, const char *fmt, ...)
{
	int found;
	va_list ap;
	va_start(ap, fmt);
	int rc = run_v(db, sql, NULL, NULL, &found, fmt, ap);
	va_end(ap);
	return rc;
}

/* The same for a statement that returns at most one row, read by fill (see run_v). */
static int query_one(sqlite3 *db, const char *sql, void (*fill)(sqlite3_stmt *, void *),
		     void *ctx, int *found, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = run_v(db, sql, fill, ctx, found, fmt, ap);
	va_end(ap);
	return rc;
}

int jobs_recover(struct index *ix, int *jobs, int *deliveries)
{
	sqlite3 *db = index_lock(ix);
	int rc = exec_fmt(db, "UPDATE analyses SET state = 'pending' WHERE state = 'running'", NULL);
	int nj = sqlite3_changes(db);
	if (rc == SQLITE_OK)
		rc = exec_fmt(db, "UPDATE deliveries SET state = 'pending' WHERE state = 'sending'",
			      NULL);
	int nd = sqlite3_changes(db);
	index_unlock(ix);
	if (jobs)
		*jobs = nj;
	if (deliveries)
		*deliveries = nd;
	return index_sql_errno(rc);
}

int jobs_schedule(struct index *ix, int64_t cutoff_ms, int64_t now_ms, const char *const *busy,
		  size_t n_busy, int *created)
{
	*created = 0;
	sqlite3 *db = index_lock(ix);
	sqlite3_stmt *sel = NULL;
	int rc = exec_fmt(db, "BEGIN IMMEDIATE", NULL);
	if (rc != SQLITE_OK)
		goto out;
	/* Documents (reports, presentation states, our own results) are never analysed. */
	rc = exec_fmt(db,
		      "UPDATE series SET analysis_due = 0 WHERE analysis_due = 1 AND "
		      "modality IN ('SR', 'PR', 'KO', 'SEG', 'DOC')",
		      NULL);
	if (rc != SQLITE_OK)
		goto rollback;
	/* Quiet series, and series that already hold the count they declared. */
	rc = sqlite3_prepare_v2(db,
				"SELECT id, series_uid, n, complete FROM (SELECT s.id, s.series_uid, "
				"s.updated_at, (SELECT count(*) FROM instances i WHERE i.series_ref = s.id) "
				"AS n, s.expected_instances AS expected, "
				"coalesce(s.expected_instances, 0) > 0 AND "
				"(SELECT count(*) FROM instances i WHERE i.series_ref = s.id) >= "
				"s.expected_instances AS complete "
				"FROM series s WHERE s.analysis_due = 1) WHERE updated_at < ?1 OR complete",
				-1, &sel, NULL);
	if (rc != SQLITE_OK)
		goto rollback;
	sqlite3_bind_int64(sel, 1, cutoff_ms);
	while ((rc = sqlite3_step(sel)) == SQLITE_ROW) {
		int64_t sid = sqlite3_column_int64(sel, 0);
		const char *uid = (const char *)sqlite3_column_text(sel, 1);
		int64_t count = sqlite3_column_int64(sel, 2);
		bool complete = sqlite3_column_int(sel, 3) != 0;
		bool is_busy = false;
		for (size_t k = 0; k < n_busy && !is_busy && !complete; k++)
			is_busy = uid && strcmp(busy[k], uid) == 0;
		if (is_busy)
			continue;
		/* One pending job per series is enough: it will see every instance. */
		rc = exec_fmt(db,
			      "INSERT INTO analyses(series_ref, state, instances, created_at, "
			      "updated_at, predecessor_ref) "
			      "SELECT ?1, 'pending', ?2, ?3, ?3, "
			      "(SELECT max(id) FROM analyses WHERE series_ref = ?1 AND state = 'done') "
			      "WHERE NOT EXISTS (SELECT 1 FROM analyses WHERE series_ref = ?1 AND "
			      "state = 'pending')",
			      "iii", sid, count, now_ms);
		if (rc != SQLITE_OK)
			goto rollback;
		*created += sqlite3_changes(db);
		rc = exec_fmt(db, "UPDATE series SET analysis_due = 0 WHERE id = ?1", "i", sid);
		if (rc != SQLITE_OK)
			goto rollback;
	}
	if (rc != SQLITE_DONE)
		goto rollback;
	sqlite3_finalize(sel);
	sel = NULL;
	rc = exec_fmt(db, "COMMIT", NULL);
	if (rc == SQLITE_OK)
		goto out;
rollback:
	sqlite3_finalize(sel);
	exec_fmt(db, "ROLLBACK", NULL);
	*created = 0;
out:
	index_unlock(ix);
	return index_sql_errno(rc == SQLITE_DONE ? SQLITE_OK : rc);
}

static void fill_claim(sqlite3_stmt *st, void *ctx)
{
	struct job *out = ctx;
	out->id = sqlite3_column_int64(st, 0);
	out->series_ref = sqlite3_column_int64(st, 1);
	out->attempts = sqlite3_column_int(st, 2);
	out->predecessor_id = sqlite3_column_int64(st, 3);
}

static void fill_claim_names(sqlite3_stmt *st, void *ctx)
{
	struct job *out = ctx;
	copy_col(st, 0, out->series_uid, sizeof out->series_uid);
	copy_col(st, 1, out->study_uid, sizeof out->study_uid);
	copy_col(st, 2, out->modality, sizeof out->modality);
	copy_col(st, 3, out->predecessor_sr, sizeof out->predecessor_sr);
	copy_col(st, 4, out->predecessor_sr_series, sizeof out->predecessor_sr_series);
	copy_col(st, 5, out->predecessor_sr_study, sizeof out->predecessor_sr_study);
}

int jobs_claim(struct index *ix, int64_t now_ms, struct job *out)
{
	memset(out, 0, sizeof *out);
	sqlite3 *db = index_lock(ix);
	int found = 0;
	int rc = query_one(db,
			   "UPDATE analyses SET state = 'running', attempts = attempts + 1, "
			   "updated_at = ?1 WHERE id = (SELECT id FROM analyses WHERE "
			   "state = 'pending' AND next_attempt_at <= ?1 ORDER BY id LIMIT 1) "
			   "RETURNING id, series_ref, attempts, predecessor_ref",
			   fill_claim, out, &found, "i", now_ms);
	if (rc == SQLITE_OK && found) {
		/* The predecessor SR's series and study come from the SR's own index entry
		 * (empty when it is no longer stored: then there is nothing to reference). */
		int row;
		rc = query_one(db,
			       "SELECT s.series_uid, st.study_uid, coalesce(s.modality, ''), "
			       "p.sr_uid, ps.series_uid, pst.study_uid "
			       "FROM series s JOIN studies st ON st.id = s.study_ref "
			       "LEFT JOIN analyses p ON p.id = ?2 "
			       "LEFT JOIN instances pi ON pi.sop_instance_uid = p.sr_uid "
			       "LEFT JOIN series ps ON ps.id = pi.series_ref "
			       "LEFT JOIN studies pst ON pst.id = ps.study_ref "
			       "WHERE s.id = ?1",
			       fill_claim_names, out, &row, "ii", out->series_ref,
			       out->predecessor_id);
	}
	index_unlock(ix);
	if (rc != SQLITE_OK)
		return index_sql_errno(rc);
	return found;
}

int jobs_series_instances(struct index *ix, int64_t series_ref, struct job_instance **list,
			  size_t *n)
{
	*list = NULL;
	*n = 0;
	sqlite3 *db = index_lock(ix);
	sqlite3_stmt *st = NULL;
	size_t cap = 0;
	int rc = sqlite3_prepare_v2(db,
				    "SELECT sop_instance_uid, sop_class_uid, transfer_syntax, file_path "
				    "FROM instances WHERE series_ref = ?1 "
				    "ORDER BY instance_number, sop_instance_uid",
				    -1, &st, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_int64(st, 1, series_ref);
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			if (*n == cap) {
				cap = cap ? cap * 2 : 64;
				struct job_instance *p = realloc(*list, cap * sizeof **list);
				if (!p) {
					rc = SQLITE_NOMEM;
					break;
				}
				*list = p;
			}
			struct job_instance *ji = &(*list)[(*n)++];
			copy_col(st, 0, ji->sop_instance_uid, sizeof ji->sop_instance_uid);
			copy_col(st, 1, ji->sop_class_uid, sizeof ji->sop_class_uid);
			copy_col(st, 2, ji->transfer_syntax, sizeof ji->transfer_syntax);
			copy_col(st, 3, ji->rel_path, sizeof ji->rel_path);
		}
		if (rc == SQLITE_DONE)
			rc = SQLITE_OK;
	}
	sqlite3_finalize(st);
	index_unlock(ix);
	if (rc != SQLITE_OK) {
		free(*list);
		*list = NULL;
		*n = 0;
	}
	return index_sql_errno(rc);
}

int jobs_done(struct index *ix, int64_t job_id, int64_t now_ms, const struct job_result *r)
{
	sqlite3 *db = index_lock(ix);
	int rc = exec_fmt(db, "BEGIN IMMEDIATE", NULL);
	if (rc != SQLITE_OK)
		goto out;
	const char *sr = NULL, *gsps = NULL;
	for (size_t i = 0; i < r->n_files; i++) {
		if (strncmp(r->files[i].sop_class_uid, "1.2.840.10008.5.1.4.1.1.88.", 27) == 0)
			sr = r->files[i].sop_instance_uid;
		else
			gsps = r->files[i].sop_instance_uid;
	}
	rc = exec_fmt(db,
		      "UPDATE analyses SET state = 'done', updated_at = ?2, model_uid = ?3, "
		      "study_probability = ?4, lesions = ?5, sr_uid = ?6, gsps_uid = ?7, "
		      "last_error = NULL WHERE id = ?1",
		      "iisdiss", job_id, now_ms, r->model_uid, r->study_probability,
		      (int64_t)r->n_findings, sr, gsps);
	for (size_t i = 0; rc == SQLITE_OK && i < r->n_findings; i++) {
		const struct job_finding *f = &r->findings[i];
		rc = exec_fmt(db,
			      "INSERT INTO findings(analysis_ref, lesion, type, code_value, code_scheme, "
			      "code_meaning, probability, centre_x, centre_y, centre_z, extent_x, "
			      "extent_y, extent_z, volume_mm3, slices, tracking_uid, tracking_id) "
			      "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, "
			      "?16, ?17)",
			      "iissssdddddddidss", job_id, (int64_t)(i + 1), f->type, f->code_value,
			      f->code_scheme, f->code_meaning, f->probability, f->centre[0],
			      f->centre[1], f->centre[2], f->extent[0], f->extent[1], f->extent[2],
			      f->volume_mm3, (int64_t)f->slices, f->tracking_uid, f->tracking_id);
	}
	for (size_t d = 0; rc == SQLITE_OK && d < r->n_destinations; d++)
		for (size_t i = 0; rc == SQLITE_OK && i < r->n_files; i++) {
			const struct job_result_file *f = &r->files[i];
			rc = exec_fmt(db,
				      "INSERT OR IGNORE INTO deliveries(destination, sop_instance_uid, "
				      "sop_class_uid, transfer_syntax, rel_path, analysis_ref, state, "
				      "created_at, updated_at) VALUES(?1, ?2, ?3, ?4, ?5, ?6, 'pending', "
				      "?7, ?7)",
				      "sssssii", r->destinations[d], f->sop_instance_uid, f->sop_class_uid,
				      f->transfer_syntax, f->rel_path, job_id, now_ms);
		}
	if (rc == SQLITE_OK)
		rc = exec_fmt(db, "COMMIT", NULL);
	else
		exec_fmt(db, "ROLLBACK", NULL);
out:
	index_unlock(ix);
	return index_sql_errno(rc);
}

int jobs_fail(struct index *ix, int64_t job_id, int64_t now_ms, const char *reason, bool retry,
	      int64_t next_ms)
{
	sqlite3 *db = index_lock(ix);
	int rc = exec_fmt(db,
			  "UPDATE analyses SET state = ?2, last_error = ?3, updated_at = ?4, "
			  "next_attempt_at = ?5 WHERE id = ?1",
			  "issii", job_id, retry ? "pending" : "failed", reason, now_ms, next_ms);
	index_unlock(ix);
	return index_sql_errno(rc);
}

int jobs_not_applicable(struct index *ix, int64_t job_id, int64_t now_ms, const char *reason)
{
	sqlite3 *db = index_lock(ix);
	int rc = exec_fmt(db,
			  "UPDATE analyses SET state = 'not-applicable', last_error = ?2, "
			  "updated_at = ?3 WHERE id = ?1",
			  "isi", job_id, reason, now_ms);
	index_unlock(ix);
	return index_sql_errno(rc);
}

int jobs_findings(struct index *ix, int64_t analysis_id, struct job_prev_finding **list,
		  size_t *n)
{
	*list = NULL;
	*n = 0;
	sqlite3 *db = index_lock(ix);
	sqlite3_stmt *st = NULL;
	size_t cap = 0;
	int rc = sqlite3_prepare_v2(db,
				    "SELECT coalesce(type, ''), centre_x, centre_y, centre_z, "
				    "coalesce(tracking_uid, ''), coalesce(extent_x, 0), "
				    "coalesce(extent_y, 0), coalesce(extent_z, 0), "
				    "coalesce(tracking_id, '') FROM findings WHERE analysis_ref = ?1 "
				    "ORDER BY lesion",
				    -1, &st, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_int64(st, 1, analysis_id);
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			if (*n == cap) {
				cap = cap ? cap * 2 : 8;
				struct job_prev_finding *p = realloc(*list, cap * sizeof **list);
				if (!p) {
					rc = SQLITE_NOMEM;
					break;
				}
				*list = p;
			}
			struct job_prev_finding *f = &(*list)[(*n)++];
			copy_col(st, 0, f->type, sizeof f->type);
			for (int k = 0; k < 3; k++)
				f->centre[k] = sqlite3_column_double(st, 1 + k);
			copy_col(st, 4, f->tracking_uid, sizeof f->tracking_uid);
			for (int k = 0; k < 3; k++)
				f->extent[k] = sqlite3_column_double(st, 5 + k);
			copy_col(st, 8, f->tracking_id, sizeof f->tracking_id);
		}
		if (rc == SQLITE_DONE)
			rc = SQLITE_OK;
	}
	sqlite3_finalize(st);
	index_unlock(ix);
	if (rc != SQLITE_OK) {
		free(*list);
		*list = NULL;
		*n = 0;
	}
	return index_sql_errno(rc);
}

static void fill_uids(sqlite3_stmt *st, void *ctx)
{
	struct job_uids *u = ctx;
	copy_col(st, 0, u->sr_series, sizeof u->sr_series);
	copy_col(st, 1, u->sr_sop, sizeof u->sr_sop);
	copy_col(st, 2, u->gsps_series, sizeof u->gsps_series);
	copy_col(st, 3, u->gsps_sop, sizeof u->gsps_sop);
}

int jobs_result_uids(struct index *ix, int64_t job_id, struct job_uids *u)
{
	sqlite3 *db = index_lock(ix);
	int found = 0;
	/* One statement: the first attempt's UIDs win, whatever ran before. */
	int rc = query_one(db,
			   "UPDATE analyses SET plan_sr_series_uid = coalesce(plan_sr_series_uid, ?2), "
			   "plan_sr_uid = coalesce(plan_sr_uid, ?3), "
			   "plan_gsps_series_uid = coalesce(plan_gsps_series_uid, ?4), "
			   "plan_gsps_uid = coalesce(plan_gsps_uid, ?5) WHERE id = ?1 "
			   "RETURNING plan_sr_series_uid, plan_sr_uid, plan_gsps_series_uid, "
			   "plan_gsps_uid",
			   fill_uids, u, &found, "issss", job_id, u->sr_series, u->sr_sop,
			   u->gsps_series, u->gsps_sop);
	index_unlock(ix);
	if (rc != SQLITE_OK)
		return index_sql_errno(rc);
	return found ? 0 : -ENOENT;
}

int deliveries_claim(struct index *ix, int64_t now_ms, struct delivery *out)
{
	return deliveries_claim_except(ix, now_ms, NULL, 0, out);
}

static void fill_delivery(sqlite3_stmt *st, void *ctx)
{
	struct delivery *out = ctx;
	out->id = sqlite3_column_int64(st, 0);
	out->attempts = sqlite3_column_int(st, 1);
	copy_col(st, 2, out->destination, sizeof out->destination);
	copy_col(st, 3, out->sop_instance_uid, sizeof out->sop_instance_uid);
	copy_col(st, 4, out->sop_class_uid, sizeof out->sop_class_uid);
	copy_col(st, 5, out->transfer_syntax, sizeof out->transfer_syntax);
	copy_col(st, 6, out->rel_path, sizeof out->rel_path);
}

int deliveries_claim_except(struct index *ix, int64_t now_ms, const char *const *skip,
			    size_t n_skip, struct delivery *out)
{
	memset(out, 0, sizeof *out);
	if (n_skip > 64)
		return -EINVAL;
	/* "AND destination NOT IN (?2, ?3, ...)" for the destinations to skip */
	char not_in[64 * 6 + 64] = "";
	size_t len = 0;
	for (size_t i = 0; i < n_skip; i++)
		len += (size_t)snprintf(not_in + len, sizeof not_in - len, "%s?%zu",
					i ? ", " : " AND destination NOT IN (", i + 2);
	if (n_skip)
		snprintf(not_in + len, sizeof not_in - len, ")");
	char sql[1024];
	snprintf(sql, sizeof sql,
		 "UPDATE deliveries SET state = 'sending', attempts = attempts + 1, updated_at = ?1 "
		 "WHERE id = (SELECT id FROM deliveries WHERE state = 'pending' AND "
		 "next_attempt_at <= ?1%s ORDER BY id LIMIT 1) "
		 "RETURNING id, attempts, destination, sop_instance_uid, sop_class_uid, "
		 "transfer_syntax, rel_path",
		 not_in);
	sqlite3 *db = index_lock(ix);
	sqlite3_stmt *st = NULL;
	int found = 0;
	int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_int64(st, 1, now_ms);
		for (size_t i = 0; i < n_skip; i++)
			sqlite3_bind_text(st, (int)i + 2, skip[i], -1, SQLITE_TRANSIENT);
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			fill_delivery(st, out);
			found = 1;
			rc = sqlite3_step(st);
		}
		if (rc == SQLITE_DONE)
			rc = SQLITE_OK;
	}
	sqlite3_finalize(st);
	index_unlock(ix);
	return rc == SQLITE_OK ? found : index_sql_errno(rc);
}

int deliveries_finish(struct index *ix, int64_t id, int64_t now_ms, bool ok, const char *status,
		      bool retry, int64_t next_ms)
{
	sqlite3 *db = index_lock(ix);
	int rc = exec_fmt(db,
			  "UPDATE deliveries SET state = ?2, last_status = ?3, updated_at = ?4, "
			  "next_attempt_at = ?5 WHERE id = ?1",
			  "issii", id, ok ? "sent" : retry ? "pending" : "failed", status, now_ms,
			  next_ms);
	index_unlock(ix);
	return index_sql_errno(rc);
}

int jobs_counts(struct index *ix, struct jobs_counts *out)
{
	memset(out, 0, sizeof *out);
	sqlite3 *db = index_lock(ix);
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db,
				    "SELECT 'a' || state, count(*) FROM analyses GROUP BY state "
				    "UNION ALL SELECT 'd' || state, count(*) FROM deliveries GROUP BY state",
				    -1, &st, NULL);
	if (rc == SQLITE_OK) {
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			const char *k = (const char *)sqlite3_column_text(st, 0);
			int64_t v = sqlite3_column_int64(st, 1);
			if (!k)
				continue;
			if (!strcmp(k, "apending")) out->pending = v;
			else if (!strcmp(k, "arunning")) out->running = v;
			else if (!strcmp(k, "adone")) out->done = v;
			else if (!strcmp(k, "afailed")) out->failed = v;
			else if (!strcmp(k, "anot-applicable")) out->not_applicable = v;
			else if (!strcmp(k, "dpending")) out->deliveries_pending = v;
			else if (!strcmp(k, "dsending")) out->deliveries_sending = v;
			else if (!strcmp(k, "dsent")) out->deliveries_sent = v;
			else if (!strcmp(k, "dfailed")) out->deliveries_failed = v;
		}
		if (rc == SQLITE_DONE)
			rc = SQLITE_OK;
	}
	sqlite3_finalize(st);
	index_unlock(ix);
	return index_sql_errno(rc);
}
