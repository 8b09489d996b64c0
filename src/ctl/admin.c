/* Operator writes to the analysis queue (see admin.h). */
#include "ctl/admin.h"

#include <errno.h>
#include <sqlite3.h>

static int sql_err(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_BUSY: case SQLITE_LOCKED: return -EBUSY;
	case SQLITE_FULL: return -ENOSPC;
	case SQLITE_READONLY: return -EROFS;
	case SQLITE_NOMEM: return -ENOMEM;
	default: return -EIO;
	}
}

/* Runs one statement with the bound text/integer arguments; *changes gets sqlite3_changes. */
static int run(sqlite3 *db, const char *sql, const char *text, int64_t num, int *changes)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return rc;
	if (text)
		sqlite3_bind_text(st, 1, text, -1, SQLITE_STATIC);
	else
		sqlite3_bind_int64(st, 1, num);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return rc;
	if (changes)
		*changes = sqlite3_changes(db);
	return SQLITE_OK;
}

int admin_reanalyze(struct index *ix, const char *uid, int *n_series)
{
	*n_series = 0;
	sqlite3 *db = index_lock(ix);
	/* A series committed before the analysis schema has no updated_at: make it quiet.
	 * Documents (our own results among them) are never analysed (storage/jobs.c). */
	int rc = run(db,
		     "UPDATE series SET analysis_due = 1, updated_at = coalesce(updated_at, 0) "
		     "WHERE (series_uid = ?1 OR "
		     "study_ref = (SELECT id FROM studies WHERE study_uid = ?1)) "
		     "AND coalesce(modality, '') NOT IN ('SR', 'PR', 'KO', 'SEG', 'DOC')",
		     uid, 0, n_series);
	index_unlock(ix);
	if (rc != SQLITE_OK)
		return sql_err(rc);
	return *n_series ? 0 : -ENOENT;
}

int admin_retry(struct index *ix, int64_t now_ms, int *jobs, int *deliveries)
{
	*jobs = *deliveries = 0;
	sqlite3 *db = index_lock(ix);
	int rc = run(db, "BEGIN IMMEDIATE", NULL, 0, NULL);
	if (rc == SQLITE_OK)
		rc = run(db,
			 "UPDATE analyses SET state = 'pending', attempts = 0, next_attempt_at = 0, "
			 "updated_at = ?1 WHERE state = 'failed'",
			 NULL, now_ms, jobs);
	if (rc == SQLITE_OK)
		rc = run(db,
			 "UPDATE deliveries SET state = 'pending', attempts = 0, next_attempt_at = 0, "
			 "updated_at = ?1 WHERE state = 'failed'",
			 NULL, now_ms, deliveries);
	if (rc == SQLITE_OK)
		rc = run(db, "COMMIT", NULL, 0, NULL);
	if (rc != SQLITE_OK) {
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		*jobs = *deliveries = 0;
	}
	index_unlock(ix);
	return rc == SQLITE_OK ? 0 : sql_err(rc);
}
