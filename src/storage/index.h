/*
 * The SQLite index of stored instances (patients, studies, series, instances) and the
 * association audit. It only records what is already durable on disk: the store's committer
 * thread calls index_put_batch after the files are fsynced and renamed (DESIGN.md, Storage).
 *
 * One struct index is one SQLite connection with its prepared statements. Calls on one
 * struct index are serialised by a mutex, so any thread may use it, but every call may block
 * on disk I/O (a read-write index commits with synchronous=FULL): never call it on the event
 * loop thread. The daemon keeps one read-write index for the committer thread and opens
 * read-only ones for query threads.
 *
 * Errors are 0 or a negative errno-style code: -ENOSPC (SQLITE_FULL), -EIO (I/O error,
 * corruption), -EBUSY (locked past busy_timeout), -EROFS, -ENOMEM, -EINVAL (constraint),
 * -ENOENT (not found), -EPROTO (database schema newer than this build).
 */
#ifndef DICOMAID_STORAGE_INDEX_H
#define DICOMAID_STORAGE_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dicom/attrs.h"

struct index;

/* Milliseconds SQLite waits for a lock held by another connection before -EBUSY. */
#define INDEX_BUSY_TIMEOUT_MS 5000

/*
 * Opens (creating it when !readonly) the database at db_path: WAL journal, synchronous=FULL
 * (a commit is durable before it returns), foreign_keys=ON, busy_timeout. A read-write open
 * applies the embedded migrations the database lacks, each in its own transaction, and sets
 * PRAGMA user_version to the number applied. A database whose user_version is newer than
 * this build knows is refused (-EPROTO); so is a read-only open of an older one.
 * On success *out is the caller's, released with index_close(). On failure a message is in
 * err (errlen bytes, may be NULL/0) and *out is untouched.
 */
int index_open(const char *db_path, bool readonly, struct index **out, char *err,
	       size_t errlen);

/* Finalises the statements and closes the connection. NULL is ignored. */
void index_close(struct index *ix);

/* The schema version of an open database (PRAGMA user_version). */
int index_schema_version(struct index *ix);

/* Number of migrations built into this binary (= newest user_version we know). */
size_t index_schema_latest(void);

/* One committed instance. All pointers are borrowed for the duration of the call. */
struct index_instance {
	const struct dcm_attrs *a;  /* UIDs already validated by the caller */
	const char *ts_uid;         /* transfer syntax of the stored file */
	const char *rel_path;       /* file path relative to the storage root */
	int64_t size;               /* file size in bytes */
	int64_t received_ms;        /* Unix ms when committed */
	const char *calling_ae;     /* may be NULL or "" */
	/* Durability not confirmed yet (the store's group commit, store.c): a store_pending row
	 * with file_crc32 is added in the same transaction (sql/007_store_pending.sql). */
	bool pending;
	uint32_t file_crc32;        /* CRC-32 of the whole file, when pending */
};

/*
 * Records n instances in one transaction. For each item the patient (by Patient ID), study
 * and series rows are upserted (a non-empty new value replaces the stored one; empty values
 * never erase) and the instance row is inserted or, for a known SOP Instance UID, replaced in
 * place (its id is kept). row_result (n ints, may be NULL) gets 0 or a negative code per item;
 * a failed item is rolled back alone (savepoint) and the others are still committed.
 * Returns 0 when the transaction committed (see row_result), or a negative code when nothing
 * was committed; every row_result is then that code.
 */
int index_put_batch(struct index *ix, const struct index_instance *v, size_t n,
		    int *row_result);

/* Flags of index_put_batch_flags. */
enum {
	/* Commit without waiting for the disk (PRAGMA synchronous = NORMAL for this transaction
	 * only): the commit is durable once index_sync_wal() has returned 0 afterwards. */
	INDEX_PUT_NOSYNC = 1u << 0,
	/* Empty store_pending first, in the same transaction (the previous batches' syncs have
	 * all completed). */
	INDEX_PUT_CLEAR_PENDING = 1u << 1,
};

/* index_put_batch with INDEX_PUT_* flags (index_put_batch is flags 0). */
int index_put_batch_flags(struct index *ix, const struct index_instance *v, size_t n,
			  int *row_result, unsigned flags);

/*
 * Makes every transaction committed so far on ix durable: fdatasync of the WAL file (through
 * SQLite's own file object, SQLITE_FCNTL_JOURNAL_POINTER). The sync runs without the index
 * lock held, so other users' statements do not wait for it. Must not race index_close.
 */
int index_sync_wal(struct index *ix);

/* One store_pending row, for the start-up check (see sql/007_store_pending.sql). */
struct index_pending {
	int64_t instance_ref;       /* instances.id */
	char sop_uid[65];
	char rel_path[256];
	int64_t size;
	uint32_t file_crc32;
};

/* Copies at most cap store_pending rows with instance_ref > after into v, in instance_ref
 * order; returns how many (or a negative code). */
int index_pending_list(struct index *ix, int64_t after, struct index_pending *v, size_t cap);

/* Removes the instance row of sop_uid (and its store_pending row); 0 or -ENOENT. A durable
 * commit. */
int index_delete_instance(struct index *ix, const char *sop_uid);

/* Empties store_pending in a durable commit (clean stop; after the start-up check). */
int index_clear_pending(struct index *ix);

/* Copies the file path of an indexed SOP Instance UID into rel_path (cap bytes).
 * 0 found, -ENOENT unknown, -ENAMETOOLONG when cap is too small, other negative on error. */
int index_lookup_instance(struct index *ix, const char *sop_uid, char *rel_path, size_t cap);

/* Audit: inserts an association row and returns its id in *id. Strings are borrowed. */
int index_assoc_begin(struct index *ix, const char *peer, const char *calling,
		      const char *called, int64_t now_ms, int64_t *id);

/* Audit: closes the association row id. -ENOENT when there is no such row. */
int index_assoc_end(struct index *ix, int64_t id, int64_t now_ms, int64_t instances,
		    const char *outcome);

/* One failed DIMSE response, for the audit (sql/004_audit.sql). UIDs only, no patient data. */
struct index_dimse_failure {
	int64_t at_ms;
	uint16_t command;             /* Command Field of the response, e.g. 0x8001 */
	uint16_t message_id;          /* Message ID Being Responded To */
	uint16_t status;
	char sop_class[65];
	char sop_instance[65];
	char comment[65];
};

/* Audit: sets the association row id's detail (NULL or "" = none) and failure count, and
 * adds one dimse_failures row per element of f (n of them, borrowed), in one transaction.
 * -ENOENT when there is no such row. */
int index_assoc_audit(struct index *ix, int64_t id, const char *detail, int64_t failures,
		      const struct index_dimse_failure *f, size_t n);

/*
 * Direct use of the connection by the other storage modules (jobs.c): index_lock takes the
 * index's lock and returns the connection, index_unlock gives it back. Every statement run
 * in between must be finished (reset or finalized) before unlocking.
 */
struct sqlite3;
struct sqlite3 *index_lock(struct index *ix);
void index_unlock(struct index *ix);
/* SQLite result code -> 0 or a negative errno-style code, as the index functions return. */
int index_sql_errno(int sqlite_rc);

/* durable false ([storage] fsync = no, benchmarks only): commits no longer wait for the
 * disk (PRAGMA synchronous = OFF). Default true (FULL). */
int index_set_durable(struct index *ix, bool durable);

#endif
