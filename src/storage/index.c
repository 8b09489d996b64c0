/*
 * The SQLite index: opening a connection with the durability settings the store relies on,
 * the schema migrations embedded from sql/NNN_*.sql, the batched upsert the committer thread
 * runs once per group commit, and the association audit rows. Every statement is prepared
 * once at open and kept in struct index; a mutex serialises users of one connection.
 * DICOM attribute semantics: PS3.3 A.1.2 (patient/study/series/instance hierarchy).
 */
#include "config.h"

#include "storage/index.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "storage/schema.h"
#include "util/log.h"

enum stmt_id {
	ST_BEGIN,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_SAVEPOINT,
	ST_RELEASE,
	ST_ROLLBACK_TO,
	ST_PATIENT,
	ST_STUDY,
	ST_STUDY_TOUCH,
	ST_SERIES,
	ST_INSTANCE,
	ST_LOOKUP,
	ST_ASSOC_BEGIN,
	ST_ASSOC_END,
	ST_PENDING_ADD,
	ST_PENDING_DROP,
	ST_PENDING_CLEAR,
	ST_COUNT
};

static const char *const stmt_sql[ST_COUNT] = {
	[ST_BEGIN] = "BEGIN IMMEDIATE",
	[ST_COMMIT] = "COMMIT",
	[ST_ROLLBACK] = "ROLLBACK",
	[ST_SAVEPOINT] = "SAVEPOINT item",
	[ST_RELEASE] = "RELEASE item",
	[ST_ROLLBACK_TO] = "ROLLBACK TO item",
	/* Non-empty new values win; NULL (absent) never erases what an earlier instance said. */
	[ST_PATIENT] =
		"INSERT INTO patients(patient_id, name, birth_date, sex) VALUES(?1, ?2, ?3, ?4) "
		"ON CONFLICT(patient_id) DO UPDATE SET "
		"name = coalesce(excluded.name, name), "
		"birth_date = coalesce(excluded.birth_date, birth_date), "
		"sex = coalesce(excluded.sex, sex) "
		"RETURNING id",
	/* ?9: the instance names a patient (non-empty Patient ID), so the study follows it. */
	[ST_STUDY] =
		"INSERT INTO studies(study_uid, patient_ref, study_date, study_time, description, "
		"accession, study_id, created_at, updated_at) "
		"VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8) "
		"ON CONFLICT(study_uid) DO UPDATE SET "
		"patient_ref = CASE WHEN ?9 THEN excluded.patient_ref ELSE patient_ref END, "
		"study_date = coalesce(excluded.study_date, study_date), "
		"study_time = coalesce(excluded.study_time, study_time), "
		"description = coalesce(excluded.description, description), "
		"accession = coalesce(excluded.accession, accession), "
		"study_id = coalesce(excluded.study_id, study_id), "
		"updated_at = max(updated_at, excluded.updated_at) "
		"RETURNING id",
	/* The study upsert when nothing but the time changes (see struct put_cache). */
	[ST_STUDY_TOUCH] = "UPDATE studies SET updated_at = max(updated_at, ?2) WHERE id = ?1",
	[ST_SERIES] =
		"INSERT INTO series(series_uid, study_ref, number, modality, description, "
		"expected_instances) VALUES(?1, ?2, ?3, ?4, ?5, ?6) "
		"ON CONFLICT(series_uid) DO UPDATE SET "
		"study_ref = excluded.study_ref, "
		"expected_instances = coalesce(excluded.expected_instances, expected_instances), "
		"number = coalesce(excluded.number, number), "
		"modality = coalesce(excluded.modality, modality), "
		"description = coalesce(excluded.description, description) "
		"RETURNING id",
	/* A new file for a known SOP Instance UID replaces the row in place (id kept, so rows
	 * of later tables that point at it stay valid). */
	[ST_INSTANCE] =
		"INSERT INTO instances(sop_instance_uid, series_ref, sop_class_uid, "
		"instance_number, rows, columns, frames, image_position, image_orientation, "
		"pixel_spacing, slice_thickness, transfer_syntax, file_path, file_size, "
		"received_at, calling_ae, specific_charset) "
		"VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17) "
		"ON CONFLICT(sop_instance_uid) DO UPDATE SET "
		"series_ref = excluded.series_ref, sop_class_uid = excluded.sop_class_uid, "
		"instance_number = excluded.instance_number, rows = excluded.rows, "
		"columns = excluded.columns, frames = excluded.frames, "
		"image_position = excluded.image_position, "
		"image_orientation = excluded.image_orientation, "
		"pixel_spacing = excluded.pixel_spacing, "
		"slice_thickness = excluded.slice_thickness, "
		"transfer_syntax = excluded.transfer_syntax, file_path = excluded.file_path, "
		"file_size = excluded.file_size, received_at = excluded.received_at, "
		"calling_ae = excluded.calling_ae, specific_charset = excluded.specific_charset "
		"RETURNING id",
	[ST_LOOKUP] = "SELECT file_path FROM instances WHERE sop_instance_uid = ?1",
	[ST_ASSOC_BEGIN] =
		"INSERT INTO associations(peer, calling_ae, called_ae, started_at) "
		"VALUES(?1, ?2, ?3, ?4)",
	[ST_ASSOC_END] =
		"UPDATE associations SET ended_at = ?2, instances_received = ?3, outcome = ?4 "
		"WHERE id = ?1",
	[ST_PENDING_ADD] =
		"INSERT OR REPLACE INTO store_pending(instance_ref, file_crc32) VALUES(?1, ?2)",
	/* a row replaced by a durable one is no longer pending (its file is the new one) */
	[ST_PENDING_DROP] = "DELETE FROM store_pending WHERE instance_ref = ?1",
	[ST_PENDING_CLEAR] = "DELETE FROM store_pending",
};

/*
 * What the last instance put (its savepoint released) left in the patient, study and series
 * rows. The upserts only ever set a column to a non-empty value of the instance (or keep it),
 * so the next instance carrying the same patient, study or series attributes would rewrite
 * those rows, and every index on a column they SET, with the values they already hold (~11 of
 * the ~20 pages a one-instance transaction wrote to the WAL): it reuses the ids instead, and
 * the study only gets its updated_at (ST_STUDY_TOUCH). Nothing else writes those columns
 * (jobs and dicomaidctl touch series.analysis_due/updated_at only, no code deletes a patient,
 * study or series); any failure or rollback in a batch forgets the cache.
 */
struct put_cache {
	bool valid;
	struct dcm_attrs a;          /* the attributes of that instance */
	int64_t patient, study, series; /* the row ids it was filed under */
};

struct index {
	sqlite3 *db;                 /* the connection */
	bool readonly;               /* opened SQLITE_OPEN_READONLY */
	bool durable;                /* synchronous = FULL (index_set_durable) */
	pthread_mutex_t lock;        /* serialises every use of db and stmt[] */
	sqlite3_stmt *stmt[ST_COUNT]; /* prepared at open, reset after each use */
	struct put_cache last;       /* index_put_batch_flags only, under lock */
};

/* SQLite result code → negative errno-style code (see index.h). */
static int sql_errno(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_ROW:
	case SQLITE_DONE:
		return 0;
	case SQLITE_FULL:
		return -ENOSPC;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EBUSY;
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_READONLY:
		return -EROFS;
	case SQLITE_CONSTRAINT:
	case SQLITE_MISMATCH:
	case SQLITE_RANGE:
		return -EINVAL;
	case SQLITE_CANTOPEN:
		return -ENOENT;
	case SQLITE_PERM:
	case SQLITE_AUTH:
		return -EACCES;
	default: /* SQLITE_IOERR, SQLITE_CORRUPT, SQLITE_NOTADB, ... */
		return -EIO;
	}
}

static void set_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* Runs a statement without results (or ignores its rows) and resets it. */
static int run(struct index *ix, enum stmt_id id)
{
	sqlite3_stmt *st = ix->stmt[id];
	int rc;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		;
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_DONE ? 0 : sql_errno(rc);
}

/* Runs an upsert ... RETURNING id; *id gets the row id. */
static int run_returning(struct index *ix, enum stmt_id id, int64_t *rowid)
{
	sqlite3_stmt *st = ix->stmt[id];
	int rc = sqlite3_step(st);

	if (rc == SQLITE_ROW) {
		*rowid = sqlite3_column_int64(st, 0);
		rc = sqlite3_step(st);
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_DONE)
		return sql_errno(rc);
	return 0;
}

/* An absent element (NULL or "") is bound as SQL NULL. The text outlives the statement run. */
static void bind_text(sqlite3_stmt *st, int col, const char *s)
{
	if (s == NULL || *s == '\0')
		sqlite3_bind_null(st, col);
	else
		sqlite3_bind_text(st, col, s, -1, SQLITE_STATIC);
}

/* IS / US decimal text (PS3.5 6.2: optional sign, leading/trailing spaces) → INTEGER, or
 * NULL when absent or not a number. */
static void bind_int_text(sqlite3_stmt *st, int col, const char *s)
{
	char *end;
	long long v;

	if (s == NULL || *s == '\0') {
		sqlite3_bind_null(st, col);
		return;
	}
	errno = 0;
	v = strtoll(s, &end, 10);
	while (*end == ' ')
		end++;
	if (end == s || *end != '\0' || errno != 0)
		sqlite3_bind_null(st, col);
	else
		sqlite3_bind_int64(st, col, v);
}

static int64_t pragma_int(sqlite3 *db, const char *sql, int *rc_out)
{
	sqlite3_stmt *st = NULL;
	int64_t v = -1;
	int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);

	if (rc == SQLITE_OK) {
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			v = sqlite3_column_int64(st, 0);
			rc = SQLITE_OK;
		}
	}
	sqlite3_finalize(st);
	*rc_out = rc;
	return v;
}

size_t index_schema_latest(void)
{
	return schema_migrations_count;
}

/* Applies the migrations the database lacks. Each runs in its own IMMEDIATE transaction that
 * first re-reads user_version, so two processes opening a fresh file do not both apply it. */
static int migrate(sqlite3 *db, char *err, size_t errlen)
{
	for (;;) {
		char *msg = NULL;
		char setv[64];
		int rc;
		int64_t v;
		const struct schema_migration *m;

		rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, &msg);
		if (rc != SQLITE_OK)
			goto fail;
		v = pragma_int(db, "PRAGMA user_version", &rc);
		if (rc != SQLITE_OK)
			goto fail_rollback;
		if (v >= (int64_t)schema_migrations_count)
			return sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK ? 0 : -EIO;
		m = &schema_migrations[v];
		if (strtol(m->name, NULL, 10) != v + 1) {
			sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
			set_err(err, errlen, "%s: migration %lld must be numbered %lld", m->name,
				(long long)v, (long long)v + 1);
			return -EPROTO;
		}
		rc = sqlite3_exec(db, m->sql, NULL, NULL, &msg);
		if (rc != SQLITE_OK)
			goto fail_rollback_name;
		snprintf(setv, sizeof setv, "PRAGMA user_version = %lld", (long long)v + 1);
		rc = sqlite3_exec(db, setv, NULL, NULL, &msg);
		if (rc != SQLITE_OK)
			goto fail_rollback_name;
		rc = sqlite3_exec(db, "COMMIT", NULL, NULL, &msg);
		if (rc != SQLITE_OK)
			goto fail_rollback_name;
		log_info("event=index_migrate file=%s user_version=%lld", m->name,
			 (long long)v + 1);
		continue;

	fail_rollback_name:
		set_err(err, errlen, "%s: %s", m->name, msg ? msg : sqlite3_errstr(rc));
		sqlite3_free(msg);
		if (!sqlite3_get_autocommit(db))
			sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		return sql_errno(rc);
	fail_rollback:
		if (!sqlite3_get_autocommit(db))
			sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	fail:
		set_err(err, errlen, "migrate: %s", msg ? msg : sqlite3_errmsg(db));
		sqlite3_free(msg);
		return sql_errno(rc);
	}
}

int index_open(const char *db_path, bool readonly, struct index **out, char *err,
	       size_t errlen)
{
	struct index *ix;
	int flags = readonly ? SQLITE_OPEN_READONLY
			     : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
	int rc, r;
	int64_t v;

	ix = calloc(1, sizeof *ix);
	if (ix == NULL) {
		set_err(err, errlen, "out of memory");
		return -ENOMEM;
	}
	ix->readonly = readonly;
	ix->durable = true;
	pthread_mutex_init(&ix->lock, NULL);

	rc = sqlite3_open_v2(db_path, &ix->db, flags | SQLITE_OPEN_NOFOLLOW, NULL);
	if (rc != SQLITE_OK) {
		set_err(err, errlen, "%s: %s", db_path,
			ix->db ? sqlite3_errmsg(ix->db) : sqlite3_errstr(rc));
		r = sql_errno(rc);
		goto fail;
	}
	sqlite3_extended_result_codes(ix->db, 1);
	sqlite3_busy_timeout(ix->db, INDEX_BUSY_TIMEOUT_MS);

	if (!readonly) {
		sqlite3_stmt *st = NULL;
		bool wal = false;

		rc = sqlite3_prepare_v2(ix->db, "PRAGMA journal_mode = WAL", -1, &st, NULL);
		if (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
			const unsigned char *mode = sqlite3_column_text(st, 0);
			wal = mode && strcmp((const char *)mode, "wal") == 0;
		}
		rc = sqlite3_finalize(st);
		if (!wal) {
			set_err(err, errlen, "%s: cannot enable WAL: %s", db_path,
				sqlite3_errmsg(ix->db));
			r = rc != SQLITE_OK ? sql_errno(rc) : -EIO;
			goto fail;
		}
	}
	rc = sqlite3_exec(ix->db, "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY",
			  NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		set_err(err, errlen, "%s: %s", db_path, sqlite3_errmsg(ix->db));
		r = sql_errno(rc);
		goto fail;
	}

	v = pragma_int(ix->db, "PRAGMA user_version", &rc);
	if (rc != SQLITE_OK) {
		set_err(err, errlen, "%s: %s", db_path, sqlite3_errmsg(ix->db));
		r = sql_errno(rc);
		goto fail;
	}
	if (v > (int64_t)schema_migrations_count) {
		set_err(err, errlen, "%s: schema version %lld is newer than this build (%zu)",
			db_path, (long long)v, schema_migrations_count);
		r = -EPROTO;
		goto fail;
	}
	if (readonly && v < (int64_t)schema_migrations_count) {
		set_err(err, errlen, "%s: schema version %lld, need %zu (open it read-write first)",
			db_path, (long long)v, schema_migrations_count);
		r = -EPROTO;
		goto fail;
	}
	if (!readonly) {
		r = migrate(ix->db, err, errlen);
		if (r < 0)
			goto fail;
	}

	for (int i = 0; i < ST_COUNT; i++) {
		rc = sqlite3_prepare_v3(ix->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
					&ix->stmt[i], NULL);
		if (rc != SQLITE_OK) {
			set_err(err, errlen, "%s: prepare: %s", db_path, sqlite3_errmsg(ix->db));
			r = sql_errno(rc);
			goto fail;
		}
	}
	*out = ix;
	return 0;

fail:
	index_close(ix);
	return r < 0 ? r : -EIO;
}

void index_close(struct index *ix)
{
	if (ix == NULL)
		return;
	for (int i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(ix->stmt[i]);
	sqlite3_close(ix->db); /* all statements are finalised, so this cannot be BUSY */
	pthread_mutex_destroy(&ix->lock);
	free(ix);
}

int index_schema_version(struct index *ix)
{
	int rc;
	int64_t v;

	pthread_mutex_lock(&ix->lock);
	v = pragma_int(ix->db, "PRAGMA user_version", &rc);
	pthread_mutex_unlock(&ix->lock);
	return rc == SQLITE_OK ? (int)v : sql_errno(rc);
}

#define SAME(x, y, f) (strcmp((x)->f, (y)->f) == 0)

static bool same_patient(const struct dcm_attrs *x, const struct dcm_attrs *y)
{
	return SAME(x, y, patient_id) && SAME(x, y, patient_name) &&
	       SAME(x, y, patient_birth_date) && SAME(x, y, patient_sex);
}

/* Same patient too: the study's patient_ref would not change either. */
static bool same_study(const struct dcm_attrs *x, const struct dcm_attrs *y)
{
	return same_patient(x, y) && SAME(x, y, study_uid) && SAME(x, y, study_date) &&
	       SAME(x, y, study_time) && SAME(x, y, study_description) &&
	       SAME(x, y, accession_number) && SAME(x, y, study_id);
}

static bool same_series(const struct dcm_attrs *x, const struct dcm_attrs *y)
{
	return same_study(x, y) && SAME(x, y, series_uid) && SAME(x, y, series_number) &&
	       SAME(x, y, modality) && SAME(x, y, series_description) &&
	       SAME(x, y, images_in_acquisition);
}

/* Only the study's updated_at, for an instance of the cached study: *done is false when its
 * row is not there (then the caller upserts as usual). */
static int touch_study(struct index *ix, int64_t study, int64_t received_ms, bool *done)
{
	sqlite3_stmt *st = ix->stmt[ST_STUDY_TOUCH];
	int r;

	sqlite3_bind_int64(st, 1, study);
	sqlite3_bind_int64(st, 2, received_ms);
	r = run(ix, ST_STUDY_TOUCH);
	*done = r == 0 && sqlite3_changes(ix->db) == 1;
	return r;
}

static int put_patient(struct index *ix, const struct dcm_attrs *a, int64_t *patient)
{
	sqlite3_stmt *st = ix->stmt[ST_PATIENT];

	sqlite3_bind_text(st, 1, a->patient_id, -1, SQLITE_STATIC); /* '' is a key too */
	bind_text(st, 2, a->patient_name);
	bind_text(st, 3, a->patient_birth_date);
	bind_text(st, 4, a->patient_sex);
	return run_returning(ix, ST_PATIENT, patient);
}

static int put_study(struct index *ix, const struct index_instance *in, int64_t patient,
		     int64_t *study)
{
	const struct dcm_attrs *a = in->a;
	sqlite3_stmt *st = ix->stmt[ST_STUDY];

	sqlite3_bind_text(st, 1, a->study_uid, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, patient);
	bind_text(st, 3, a->study_date);
	bind_text(st, 4, a->study_time);
	bind_text(st, 5, a->study_description);
	bind_text(st, 6, a->accession_number);
	bind_text(st, 7, a->study_id);
	sqlite3_bind_int64(st, 8, in->received_ms);
	sqlite3_bind_int(st, 9, a->patient_id[0] != '\0');
	return run_returning(ix, ST_STUDY, study);
}

static int put_series(struct index *ix, const struct dcm_attrs *a, int64_t study,
		      int64_t *series)
{
	sqlite3_stmt *st = ix->stmt[ST_SERIES];

	sqlite3_bind_text(st, 1, a->series_uid, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, study);
	bind_int_text(st, 3, a->series_number);
	bind_text(st, 4, a->modality);
	bind_text(st, 5, a->series_description);
	bind_int_text(st, 6, a->images_in_acquisition);
	return run_returning(ix, ST_SERIES, series);
}

/* The patient, study and series rows of one instance: upserted, or taken from ix->last
 * when the instance repeats their attributes (see struct put_cache). */
static int put_parents(struct index *ix, const struct index_instance *in, struct put_cache *ids)
{
	const struct dcm_attrs *a = in->a;
	const struct put_cache *c = &ix->last;
	bool pat = c->valid && same_patient(&c->a, a);
	bool stu = pat && same_study(&c->a, a);
	bool ser = stu && same_series(&c->a, a);
	bool touched;
	int r;

	*ids = (struct put_cache){ .patient = c->patient, .study = c->study, .series = c->series };
	if (stu) {
		if ((r = touch_study(ix, c->study, in->received_ms, &touched)) < 0)
			return r;
		if (!touched)
			pat = stu = ser = false; /* the cached study row went away: no shortcut */
	}
	if (!pat && (r = put_patient(ix, a, &ids->patient)) < 0)
		return r;
	if (!stu && (r = put_study(ix, in, ids->patient, &ids->study)) < 0)
		return r;
	if (!ser && (r = put_series(ix, a, ids->study, &ids->series)) < 0)
		return r;
	return 0;
}

/* The upserts of one instance; called inside the batch transaction. ids gets the rows it was
 * filed under. */
static int put_one(struct index *ix, const struct index_instance *in, struct put_cache *ids)
{
	const struct dcm_attrs *a = in->a;
	sqlite3_stmt *st;
	int64_t series, instance;
	int r;

	if ((r = put_parents(ix, in, ids)) < 0)
		return r;
	series = ids->series;
	st = ix->stmt[ST_INSTANCE];
	sqlite3_bind_text(st, 1, a->sop_instance_uid, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, series);
	bind_text(st, 3, a->sop_class_uid);
	bind_int_text(st, 4, a->instance_number);
	bind_int_text(st, 5, a->rows);
	bind_int_text(st, 6, a->columns);
	bind_int_text(st, 7, a->number_of_frames);
	bind_text(st, 8, a->image_position);
	bind_text(st, 9, a->image_orientation);
	bind_text(st, 10, a->pixel_spacing);
	bind_text(st, 11, a->slice_thickness);
	sqlite3_bind_text(st, 12, in->ts_uid ? in->ts_uid : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 13, in->rel_path, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 14, in->size);
	sqlite3_bind_int64(st, 15, in->received_ms);
	bind_text(st, 16, in->calling_ae);
	bind_text(st, 17, a->specific_charset);
	if ((r = run_returning(ix, ST_INSTANCE, &instance)) < 0)
		return r;

	if (in->pending) {
		st = ix->stmt[ST_PENDING_ADD];
		sqlite3_bind_int64(st, 1, instance);
		sqlite3_bind_int64(st, 2, in->file_crc32);
		return run(ix, ST_PENDING_ADD);
	}
	sqlite3_bind_int64(ix->stmt[ST_PENDING_DROP], 1, instance);
	return run(ix, ST_PENDING_DROP);
}

static bool item_valid(const struct index_instance *in)
{
	return in->a != NULL && in->rel_path != NULL && in->a->study_uid[0] != '\0' &&
	       in->a->series_uid[0] != '\0' && in->a->sop_instance_uid[0] != '\0';
}

int index_put_batch(struct index *ix, const struct index_instance *v, size_t n,
		    int *row_result)
{
	return index_put_batch_flags(ix, v, n, row_result, 0);
}

int index_put_batch_flags(struct index *ix, const struct index_instance *v, size_t n,
			  int *row_result, unsigned flags)
{
	bool nosync = (flags & INDEX_PUT_NOSYNC) != 0;
	struct put_cache ids;
	int whole = 0;
	size_t i;

	if (n == 0 && !(flags & INDEX_PUT_CLEAR_PENDING))
		return 0;
	pthread_mutex_lock(&ix->lock);
	nosync = nosync && ix->durable && !ix->readonly;
	/* Not a prepared statement: PRAGMA synchronous takes effect when it is compiled. */
	if (nosync && sqlite3_exec(ix->db, "PRAGMA synchronous = NORMAL", NULL, NULL, NULL) != SQLITE_OK)
		nosync = false; /* then it simply stays a durable commit */
	whole = ix->readonly ? -EROFS : run(ix, ST_BEGIN);
	if (whole == 0 && (flags & INDEX_PUT_CLEAR_PENDING))
		whole = run(ix, ST_PENDING_CLEAR);
	for (i = 0; whole == 0 && i < n; i++) {
		int r = item_valid(&v[i]) ? 0 : -EINVAL;

		if (r == 0)
			r = run(ix, ST_SAVEPOINT);
		if (r == 0) {
			r = put_one(ix, &v[i], &ids);
			if (r == 0)
				r = run(ix, ST_RELEASE);
			if (r == 0) {
				ids.valid = true;
				ids.a = *v[i].a;
				ix->last = ids;
			}
			if (r < 0) {
				ix->last.valid = false; /* its rows may be rolled back */
				if (sqlite3_get_autocommit(ix->db)) {
					/* SQLite rolled the whole transaction back (I/O error,
					 * disk full): nothing of the batch survives. */
					whole = r;
					break;
				}
				if (run(ix, ST_ROLLBACK_TO) < 0 || run(ix, ST_RELEASE) < 0)
					whole = r;
			}
		}
		if (row_result)
			row_result[i] = r;
		if (r < 0 && whole == 0)
			log_warn("event=index_put_fail sop=%s err=%d", v[i].a ? v[i].a->sop_instance_uid : "",
				 r);
	}
	if (whole == 0) {
		whole = run(ix, ST_COMMIT);
		if (whole < 0 && !sqlite3_get_autocommit(ix->db))
			run(ix, ST_ROLLBACK);
	} else if (!sqlite3_get_autocommit(ix->db)) {
		run(ix, ST_ROLLBACK);
	}
	if (nosync && sqlite3_exec(ix->db, "PRAGMA synchronous = FULL", NULL, NULL, NULL) != SQLITE_OK)
		log_err("event=index_sync_restore_fail: later commits may not wait for the disk");
	if (whole < 0)
		ix->last.valid = false; /* nothing of the batch is there */
	pthread_mutex_unlock(&ix->lock);
	if (whole < 0) {
		log_err("event=index_commit_fail items=%zu err=%d", n, whole);
		if (row_result)
			for (i = 0; i < n; i++)
				row_result[i] = whole;
	}
	return whole;
}

int index_lookup_instance(struct index *ix, const char *sop_uid, char *rel_path, size_t cap)
{
	sqlite3_stmt *st;
	int rc, r = -ENOENT;

	pthread_mutex_lock(&ix->lock);
	st = ix->stmt[ST_LOOKUP];
	sqlite3_bind_text(st, 1, sop_uid, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const unsigned char *p = sqlite3_column_text(st, 0);
		size_t len = p ? strlen((const char *)p) : 0;

		if (len + 1 > cap) {
			r = -ENAMETOOLONG;
		} else {
			memcpy(rel_path, p ? (const char *)p : "", len + 1);
			r = 0;
		}
	} else if (rc != SQLITE_DONE) {
		r = sql_errno(rc);
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	pthread_mutex_unlock(&ix->lock);
	return r;
}

int index_assoc_begin(struct index *ix, const char *peer, const char *calling,
		      const char *called, int64_t now_ms, int64_t *id)
{
	sqlite3_stmt *st;
	int r;

	pthread_mutex_lock(&ix->lock);
	st = ix->stmt[ST_ASSOC_BEGIN];
	sqlite3_bind_text(st, 1, peer ? peer : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, calling ? calling : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, called ? called : "", -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, now_ms);
	r = run(ix, ST_ASSOC_BEGIN);
	if (r == 0)
		*id = sqlite3_last_insert_rowid(ix->db);
	pthread_mutex_unlock(&ix->lock);
	return r;
}

int index_assoc_end(struct index *ix, int64_t id, int64_t now_ms, int64_t instances,
		    const char *outcome)
{
	sqlite3_stmt *st;
	int r;

	pthread_mutex_lock(&ix->lock);
	st = ix->stmt[ST_ASSOC_END];
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, now_ms);
	sqlite3_bind_int64(st, 3, instances);
	bind_text(st, 4, outcome);
	r = run(ix, ST_ASSOC_END);
	if (r == 0 && sqlite3_changes(ix->db) == 0)
		r = -ENOENT;
	pthread_mutex_unlock(&ix->lock);
	return r;
}

static const char *dimse_rsp_name(uint16_t field)
{
	switch (field) {
	case 0x8001: return "C-STORE-RSP";
	case 0x8010: return "C-GET-RSP";
	case 0x8020: return "C-FIND-RSP";
	case 0x8021: return "C-MOVE-RSP";
	case 0x8030: return "C-ECHO-RSP";
	default: return "other";
	}
}

int index_assoc_audit(struct index *ix, int64_t id, const char *detail, int64_t failures,
		      const struct index_dimse_failure *f, size_t n)
{
	sqlite3_stmt *up = NULL, *ins = NULL;
	int r;

	pthread_mutex_lock(&ix->lock);
	if (ix->readonly) {
		pthread_mutex_unlock(&ix->lock);
		return -EROFS;
	}
	r = run(ix, ST_BEGIN);
	if (r < 0)
		goto out;
	r = sql_errno(sqlite3_prepare_v2(ix->db,
		"UPDATE associations SET detail = ?2, failures = ?3 WHERE id = ?1", -1, &up, NULL));
	if (r == 0)
		r = sql_errno(sqlite3_prepare_v2(ix->db,
			"INSERT INTO dimse_failures(association_ref, at, command, message_id, status, "
			"sop_class_uid, sop_instance_uid, comment) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
			-1, &ins, NULL));
	if (r == 0) {
		sqlite3_bind_int64(up, 1, id);
		bind_text(up, 2, detail);
		sqlite3_bind_int64(up, 3, failures);
		int rc = sqlite3_step(up);
		r = rc == SQLITE_DONE ? 0 : sql_errno(rc);
		if (r == 0 && sqlite3_changes(ix->db) == 0)
			r = -ENOENT;
	}
	for (size_t i = 0; r == 0 && i < n; i++) {
		sqlite3_reset(ins);
		sqlite3_bind_int64(ins, 1, id);
		sqlite3_bind_int64(ins, 2, f[i].at_ms);
		sqlite3_bind_text(ins, 3, dimse_rsp_name(f[i].command), -1, SQLITE_STATIC);
		sqlite3_bind_int(ins, 4, f[i].message_id);
		sqlite3_bind_int(ins, 5, f[i].status);
		bind_text(ins, 6, f[i].sop_class);
		bind_text(ins, 7, f[i].sop_instance);
		bind_text(ins, 8, f[i].comment);
		int rc = sqlite3_step(ins);
		r = rc == SQLITE_DONE ? 0 : sql_errno(rc);
	}
	sqlite3_finalize(up);
	sqlite3_finalize(ins);
	if (r == 0)
		r = run(ix, ST_COMMIT);
	if (r < 0)
		run(ix, ST_ROLLBACK);
out:
	pthread_mutex_unlock(&ix->lock);
	return r;
}

sqlite3 *index_lock(struct index *ix)
{
	pthread_mutex_lock(&ix->lock);
	return ix->db;
}

void index_unlock(struct index *ix)
{
	pthread_mutex_unlock(&ix->lock);
}

int index_sql_errno(int sqlite_rc)
{
	return sql_errno(sqlite_rc);
}

int index_set_durable(struct index *ix, bool durable)
{
	pthread_mutex_lock(&ix->lock);
	int rc = sqlite3_exec(ix->db, durable ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = OFF",
			      NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		ix->durable = durable;
	pthread_mutex_unlock(&ix->lock);
	return sql_errno(rc);
}

int index_sync_wal(struct index *ix)
{
	sqlite3_file *f = NULL;
	int rc;

	pthread_mutex_lock(&ix->lock);
	if (!ix->durable || ix->readonly) {
		pthread_mutex_unlock(&ix->lock);
		return 0;
	}
	rc = sqlite3_file_control(ix->db, "main", SQLITE_FCNTL_JOURNAL_POINTER, &f);
	if (rc == SQLITE_OK && (f == NULL || f->pMethods == NULL))
		rc = SQLITE_IOERR; /* WAL mode with no WAL file open: cannot happen after a commit */
	pthread_mutex_unlock(&ix->lock);
	/* The sync runs unlocked, so that other users of the connection (audit rows) do not
	 * wait for the disk behind it: the WAL file object stays open, with the same
	 * descriptor, until the connection closes (index_close, after the store's last use),
	 * and its sync only reads the descriptor and path. */
	if (rc == SQLITE_OK)
		rc = f->pMethods->xSync(f, SQLITE_SYNC_NORMAL);
	return sql_errno(rc);
}

/* Runs one statement (no parameters but those bound by the caller, a pointer at most) in
 * autocommit: a durable commit when the connection is. */
static int exec_autocommit(struct index *ix, const char *sql, const char *text_param)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if (ix->readonly)
		return -EROFS;
	rc = sqlite3_prepare_v2(ix->db, sql, -1, &st, NULL);
	if (rc == SQLITE_OK) {
		if (text_param != NULL)
			sqlite3_bind_text(st, 1, text_param, -1, SQLITE_STATIC);
		rc = sqlite3_step(st);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : sql_errno(rc);
}

int index_pending_list(struct index *ix, int64_t after, struct index_pending *v, size_t cap)
{
	sqlite3_stmt *st = NULL;
	size_t n = 0;
	int rc;

	pthread_mutex_lock(&ix->lock);
	rc = sqlite3_prepare_v2(ix->db,
		"SELECT i.sop_instance_uid, i.file_path, i.file_size, p.file_crc32, i.id "
		"FROM store_pending p JOIN instances i ON i.id = p.instance_ref "
		"WHERE p.instance_ref > ?1 ORDER BY p.instance_ref",
		-1, &st, NULL);
	if (rc == SQLITE_OK)
		sqlite3_bind_int64(st, 1, after);
	while (rc == SQLITE_OK && n < cap && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *uid = (const char *)sqlite3_column_text(st, 0);
		const char *path = (const char *)sqlite3_column_text(st, 1);

		rc = SQLITE_OK;
		snprintf(v[n].sop_uid, sizeof v[n].sop_uid, "%s", uid ? uid : "");
		snprintf(v[n].rel_path, sizeof v[n].rel_path, "%s", path ? path : "");
		v[n].size = sqlite3_column_int64(st, 2);
		v[n].file_crc32 = (uint32_t)sqlite3_column_int64(st, 3);
		v[n].instance_ref = sqlite3_column_int64(st, 4);
		n++;
	}
	sqlite3_finalize(st);
	pthread_mutex_unlock(&ix->lock);
	if (rc != SQLITE_OK && rc != SQLITE_DONE)
		return sql_errno(rc);
	return (int)n;
}

int index_delete_instance(struct index *ix, const char *sop_uid)
{
	int r;

	pthread_mutex_lock(&ix->lock);
	r = exec_autocommit(ix, "DELETE FROM instances WHERE sop_instance_uid = ?1", sop_uid);
	if (r == 0 && sqlite3_changes(ix->db) == 0)
		r = -ENOENT;
	pthread_mutex_unlock(&ix->lock);
	return r;
}

int index_clear_pending(struct index *ix)
{
	int r;

	pthread_mutex_lock(&ix->lock);
	r = exec_autocommit(ix, "DELETE FROM store_pending", NULL);
	pthread_mutex_unlock(&ix->lock);
	return r;
}
