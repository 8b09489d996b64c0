/* Tests of src/storage/index.c: migrations, read-only opens, the batched upserts, lookups and
 * the association audit. Each test works in its own temporary directory. */
#include "config.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "helpers.h"
#include "storage/index.h"
#include "storage/schema.h"

static char *dir;
static char db[512];
static char err[256];

static void setup(void)
{
	dir = th_tmpdir();
	cr_assert_not_null(dir);
	snprintf(db, sizeof db, "%s/index.db", dir);
	err[0] = '\0';
}

static void teardown(void)
{
	th_rmtree(dir);
	free(dir);
}

TestSuite(index, .init = setup, .fini = teardown);

static struct index *open_rw(void)
{
	struct index *ix = NULL;
	int r = index_open(db, false, &ix, err, sizeof err);

	cr_assert_eq(r, 0, "index_open: %d %s", r, err);
	cr_assert_not_null(ix);
	return ix;
}

static void exec_raw(const char *sql)
{
	sqlite3 *h;

	cr_assert_eq(sqlite3_open(db, &h), SQLITE_OK);
	cr_assert_eq(sqlite3_exec(h, sql, NULL, NULL, NULL), SQLITE_OK, "%s", sqlite3_errmsg(h));
	sqlite3_close(h);
}

Test(index, embedded_migrations_are_numbered_in_order)
{
	cr_assert_geq(schema_migrations_count, 1);
	cr_assert_eq(index_schema_latest(), schema_migrations_count);
	for (size_t i = 0; i < schema_migrations_count; i++) {
		cr_assert_eq(strtol(schema_migrations[i].name, NULL, 10), (long)i + 1, "%s",
			     schema_migrations[i].name);
		cr_assert_not_null(strstr(schema_migrations[i].name, ".sql"));
		cr_assert_gt(strlen(schema_migrations[i].sql), 0);
	}
	cr_assert_null(schema_migrations[schema_migrations_count].name);
	cr_assert_str_eq(schema_migrations[0].name, "001_init.sql");
	/* the text is embedded byte for byte, quotes and backslashes included */
	cr_assert_not_null(strstr(schema_migrations[0].sql, "'HHMMSS.FFFFFF'"));
	cr_assert_not_null(strstr(schema_migrations[0].sql, "CREATE TABLE associations"));
}

Test(index, fresh_database_gets_every_migration)
{
	struct index *ix = open_rw();
	char buf[64];
	const char *tables[] = { "patients", "studies", "series", "instances", "associations" };

	cr_assert_eq(index_schema_version(ix), (int)schema_migrations_count);
	index_close(ix);
	cr_assert_eq(th_q_int(db, "PRAGMA user_version"), (int64_t)schema_migrations_count);
	cr_assert_str_eq(th_q_text(db, "PRAGMA journal_mode", buf, sizeof buf), "wal");
	for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++) {
		char sql[128];

		snprintf(sql, sizeof sql,
			 "SELECT count(*) FROM sqlite_master WHERE type='table' AND name='%s'",
			 tables[i]);
		cr_assert_eq(th_q_int(db, sql), 1, "table %s", tables[i]);
	}
	cr_assert_eq(th_q_int(db, "SELECT count(*) FROM sqlite_master WHERE type='index' "
				  "AND name='studies_date'"), 1);
}

Test(index, reopen_is_idempotent_and_keeps_data)
{
	struct index *ix = open_rw();
	int64_t id = 0;

	cr_assert_eq(index_assoc_begin(ix, "127.0.0.1:1234", "MOD", "DICOMAID", 1000, &id), 0);
	index_close(ix);
	ix = open_rw();
	cr_assert_eq(index_schema_version(ix), (int)schema_migrations_count);
	index_close(ix);
	ix = open_rw();
	index_close(ix);
	cr_assert_eq(th_q_int(db, "SELECT count(*) FROM associations"), 1);
	cr_assert_eq(th_q_int(db, "PRAGMA user_version"), (int64_t)schema_migrations_count);
}

Test(index, readonly_open)
{
	struct index *ix = open_rw(), *ro = NULL;
	struct dcm_attrs a;
	struct index_instance in;
	char path[256];
	int res = 1;

	th_attrs(&a, "1.2.3", "1.2.3.4", "1.2.3.4.5");
	in = (struct index_instance){ &a, "1.2.840.10008.1.2.1", "1.2.3/1.2.3.4/1.2.3.4.5.dcm",
				      10, 5, "MOD", false, 0 };
	cr_assert_eq(index_put_batch(ix, &in, 1, &res), 0);
	cr_assert_eq(index_open(db, true, &ro, err, sizeof err), 0, "%s", err);
	cr_assert_eq(index_lookup_instance(ro, "1.2.3.4.5", path, sizeof path), 0);
	cr_assert_str_eq(path, "1.2.3/1.2.3.4/1.2.3.4.5.dcm");
	/* a read-only index cannot write */
	cr_assert_eq(index_put_batch(ro, &in, 1, &res), -EROFS);
	cr_assert_eq(res, -EROFS);
	index_close(ro);
	index_close(ix);
}

Test(index, readonly_open_of_missing_or_old_database_fails)
{
	struct index *ro = NULL;

	cr_assert_lt(index_open(db, true, &ro, err, sizeof err), 0);
	cr_assert_null(ro);
	exec_raw("CREATE TABLE t(x)"); /* user_version 0: not migrated */
	cr_assert_eq(index_open(db, true, &ro, err, sizeof err), -EPROTO);
	cr_assert_null(ro);
	cr_assert_neq(err[0], '\0');
}

Test(index, newer_schema_is_refused)
{
	struct index *ix = open_rw();
	char sql[64];

	index_close(ix);
	snprintf(sql, sizeof sql, "PRAGMA user_version = %zu", schema_migrations_count + 1);
	exec_raw(sql);
	ix = NULL;
	cr_assert_eq(index_open(db, false, &ix, err, sizeof err), -EPROTO);
	cr_assert_null(ix);
	cr_assert_not_null(strstr(err, "newer"), "%s", err);
	cr_assert_eq(index_open(db, true, &ix, err, sizeof err), -EPROTO);
}

Test(index, failed_migration_rolls_back)
{
	struct index *ix = NULL;

	/* a table the migration wants to create already exists: the migration fails and
	 * leaves neither its other tables nor a new user_version behind */
	exec_raw("CREATE TABLE studies(x)");
	cr_assert_lt(index_open(db, false, &ix, err, sizeof err), 0);
	cr_assert_null(ix);
	cr_assert_not_null(strstr(err, "001_init.sql"), "%s", err);
	cr_assert_eq(th_q_int(db, "PRAGMA user_version"), 0);
	cr_assert_eq(th_q_int(db, "SELECT count(*) FROM sqlite_master WHERE name='patients'"), 0);
}

Test(index, batch_upserts_patient_study_series)
{
	struct index *ix = open_rw();
	struct dcm_attrs a1, a2;
	struct index_instance in[2];
	int res[2] = { 1, 1 };
	char buf[128];

	th_attrs(&a1, "1.2.3", "1.2.3.4", "1.2.3.4.1");
	th_attrs(&a2, "1.2.3", "1.2.3.4", "1.2.3.4.2");
	strcpy(a2.instance_number, "8");
	in[0] = (struct index_instance){ &a1, "1.2.840.10008.1.2.1", "p1", 100, 1000, "MOD", false, 0 };
	in[1] = (struct index_instance){ &a2, "1.2.840.10008.1.2.1", "p2", 200, 1000, "MOD", false, 0 };
	cr_assert_eq(index_put_batch(ix, in, 2, res), 0);
	cr_assert_eq(res[0], 0);
	cr_assert_eq(res[1], 0);
	cr_assert_eq(th_q_int(db, "SELECT count(*) FROM patients"), 1);
	cr_assert_eq(th_q_int(db, "SELECT count(*) FROM studies"), 1);
	cr_assert_eq(th_q_int(db, "SELECT count(*) FROM series"), 1);
	cr_assert_eq(th_q_int(db, "SELECT count(*) FROM instances"), 2);
	cr_assert_eq(th_q_int(db, "SELECT count(DISTINCT series_ref) FROM instances"), 1);
	cr_assert_eq(th_q_int(db, "SELECT rows FROM instances WHERE instance_number = 8"), 256);
	cr_assert_eq(th_q_int(db, "SELECT number FROM series"), 3);
	cr_assert_str_eq(th_q_text(db, "SELECT image_position FROM instances LIMIT 1", buf,
				   sizeof buf), "-120\\-120\\35.5");
	cr_assert_eq(th_q_int(db, "SELECT created_at FROM studies"), 1000);

	/* a later instance: new values update, empty values do not erase */
	int64_t old_id = th_q_int(db, "SELECT id FROM instances WHERE sop_instance_uid='1.2.3.4.1'");
	strcpy(a1.study_description, "MR BRAIN WITH CONTRAST");
	a1.accession_number[0] = '\0';
	a1.modality[0] = '\0';
	strcpy(a1.series_description, "T1 AX POST");
	strcpy(a1.patient_name, "Doe^Jane^M");
	a1.patient_sex[0] = '\0';
	strcpy(a1.rows, "abc");      /* not a number: NULL */
	in[0] = (struct index_instance){ &a1, "1.2.840.10008.1.2", "p1b", 150, 2000, NULL, false, 0 };
	cr_assert_eq(index_put_batch(ix, in, 1, res), 0);
	cr_assert_eq(res[0], 0);
	cr_assert_eq(th_q_int(db, "SELECT count(*) FROM instances"), 2);
	cr_assert_eq(th_q_int(db, "SELECT id FROM instances WHERE sop_instance_uid='1.2.3.4.1'"),
		     old_id, "instance row replaced in place");
	cr_assert_str_eq(th_q_text(db, "SELECT description FROM studies", buf, sizeof buf),
			 "MR BRAIN WITH CONTRAST");
	cr_assert_str_eq(th_q_text(db, "SELECT accession FROM studies", buf, sizeof buf), "ACC1");
	cr_assert_str_eq(th_q_text(db, "SELECT modality FROM series", buf, sizeof buf), "MR");
	cr_assert_str_eq(th_q_text(db, "SELECT description FROM series", buf, sizeof buf),
			 "T1 AX POST");
	cr_assert_str_eq(th_q_text(db, "SELECT name FROM patients", buf, sizeof buf), "Doe^Jane^M");
	cr_assert_str_eq(th_q_text(db, "SELECT sex FROM patients", buf, sizeof buf), "F");
	cr_assert_eq(th_q_int(db, "SELECT created_at FROM studies"), 1000);
	cr_assert_eq(th_q_int(db, "SELECT updated_at FROM studies"), 2000);
	cr_assert_str_eq(th_q_text(db, "SELECT file_path FROM instances WHERE "
				       "sop_instance_uid='1.2.3.4.1'", buf, sizeof buf), "p1b");
	cr_assert_eq(th_q_int(db, "SELECT file_size FROM instances WHERE "
				  "sop_instance_uid='1.2.3.4.1'"), 150);
	cr_assert_eq(th_q_int(db, "SELECT count(*) FROM instances WHERE rows IS NULL"), 1);
	cr_assert_eq(th_q_int(db, "SELECT count(*) FROM instances WHERE calling_ae IS NULL"), 1);

	/* another series of another patient in the same batch as a known one */
	struct dcm_attrs a3;
	th_attrs(&a3, "1.2.9", "1.2.9.1", "1.2.9.1.1");
	strcpy(a3.patient_id, "PID-2");
	in[0] = (struct index_instance){ &a3, "1.2.840.10008.1.2.1", "p3", 1, 3000, "X", false, 0 };
	in[1] = (struct index_instance){ &a2, "1.2.840.10008.1.2.1", "p2", 200, 3000, "MOD", false, 0 };
	cr_assert_eq(index_put_batch(ix, in, 2, res), 0);
	cr_assert_eq(th_q_int(db, "SELECT count(*) FROM patients"), 2);
	cr_assert_eq(th_q_int(db, "SELECT count(*) FROM studies"), 2);
	cr_assert_eq(th_q_int(db, "SELECT count(*) FROM series"), 2);
	cr_assert_eq(th_q_int(db, "SELECT count(*) FROM instances"), 3);
	cr_assert_eq(th_q_int(db, "SELECT count(*) FROM studies s JOIN patients p ON "
				  "s.patient_ref = p.id WHERE p.patient_id = 'PID-2' AND "
				  "s.study_uid = '1.2.9'"), 1);
	index_close(ix);
}

static long wal_frames(void)
{
	char wal[600];
	FILE *f;
	long size;

	snprintf(wal, sizeof wal, "%s-wal", db);
	f = fopen(wal, "rb");
	cr_assert_not_null(f, "%s", wal);
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	fclose(f);
	return size <= 32 ? 0 : (size - 32) / (4096 + 24); /* header, frames of 4 KiB pages */
}

/* The next instance of the same series reuses the patient, study and series rows (only the
 * study's updated_at is written); any change of their attributes still updates them. */
Test(index, repeated_series_skips_unchanged_upserts)
{
	struct index *ix = open_rw();
	struct dcm_attrs a1, a2;
	struct index_instance in;
	int res = 1;
	long f0, f1, f2;
	char buf[128];

	th_attrs(&a1, "1.2.3", "1.2.3.4", "1.2.3.4.1");
	th_attrs(&a2, "1.2.3", "1.2.3.4", "1.2.3.4.2");
	in = (struct index_instance){ &a1, "1.2.840.10008.1.2.1", "p1", 100, 1000, "MOD", true, 7 };
	cr_assert_eq(index_put_batch_flags(ix, &in, 1, &res, INDEX_PUT_NOSYNC), 0);
	cr_assert_eq(res, 0);
	f0 = wal_frames();
	in = (struct index_instance){ &a2, "1.2.840.10008.1.2.1", "p2", 100, 2000, "MOD", true, 8 };
	cr_assert_eq(index_put_batch_flags(ix, &in, 1, &res, INDEX_PUT_NOSYNC), 0);
	cr_assert_eq(res, 0);
	f1 = wal_frames();
	/* instances + 4 indexes, store_pending, the series touched by the trigger + series_due,
	 * studies + studies_updated: 10; the full upserts wrote ~20 */
	cr_assert_leq(f1 - f0, 12, "%ld pages written for a repeated series", f1 - f0);
	cr_assert_eq(th_q_int(db, "SELECT updated_at FROM studies"), 2000);
	cr_assert_eq(th_q_int(db, "SELECT created_at FROM studies"), 1000);
	cr_assert_eq(th_q_int(db, "SELECT count(*) FROM instances"), 2);
	cr_assert_eq(th_q_int(db, "SELECT count(DISTINCT series_ref) FROM instances"), 1);
	cr_assert_eq(th_q_int(db, "SELECT count(*) FROM store_pending"), 2);

	/* an older time does not move updated_at back */
	th_attrs(&a2, "1.2.3", "1.2.3.4", "1.2.3.4.3");
	in = (struct index_instance){ &a2, "1.2.840.10008.1.2.1", "p3", 100, 1500, "MOD", false, 0 };
	cr_assert_eq(index_put_batch(ix, &in, 1, &res), 0);
	cr_assert_eq(th_q_int(db, "SELECT updated_at FROM studies"), 2000);

	/* a changed series or patient attribute is written */
	strcpy(a2.series_description, "T2 AX");
	strcpy(a2.patient_name, "Doe^Janet");
	strcpy(a2.sop_instance_uid, "1.2.3.4.4");
	in = (struct index_instance){ &a2, "1.2.840.10008.1.2.1", "p4", 100, 3000, "MOD", false, 0 };
	cr_assert_eq(index_put_batch(ix, &in, 1, &res), 0);
	cr_assert_str_eq(th_q_text(db, "SELECT description FROM series", buf, sizeof buf), "T2 AX");
	cr_assert_str_eq(th_q_text(db, "SELECT name FROM patients", buf, sizeof buf), "Doe^Janet");
	cr_assert_eq(th_q_int(db, "SELECT updated_at FROM studies"), 3000);

	/* the study's rows removed behind the index's back: the next instance recreates them */
	exec_raw("PRAGMA foreign_keys = ON; DELETE FROM studies");
	cr_assert_eq(th_q_int(db, "SELECT count(*) FROM series"), 0);
	strcpy(a2.sop_instance_uid, "1.2.3.4.5");
	in = (struct index_instance){ &a2, "1.2.840.10008.1.2.1", "p5", 100, 4000, "MOD", false, 0 };
	cr_assert_eq(index_put_batch(ix, &in, 1, &res), 0);
	cr_assert_eq(res, 0);
	cr_assert_eq(th_q_int(db, "SELECT count(*) FROM studies"), 1);
	cr_assert_eq(th_q_int(db, "SELECT count(*) FROM series"), 1);
	cr_assert_eq(th_q_int(db, "SELECT count(*) FROM instances i JOIN series s ON "
				  "i.series_ref = s.id JOIN studies t ON s.study_ref = t.id"), 1);
	f2 = wal_frames();
	cr_assert_gt(f2, f1);
	index_close(ix);
}

/* An item that fails after its upserts is rolled back alone, and its rows are not taken for
 * the next item of the same series (it finds or creates them anew). */
Test(index, failed_item_then_same_series)
{
	struct index *ix = open_rw();
	struct dcm_attrs a1, bad, a3;
	struct index_instance in[3];
	int res[3] = { 1, 1, 1 };

	th_attrs(&a1, "1.2.3", "1.2.3.4", "1.2.3.4.1");
	th_attrs(&bad, "1.2.3", "1.2.3.5", "1.2.3.5.1");
	th_attrs(&a3, "1.2.3", "1.2.3.5", "1.2.3.5.2");
	in[0] = (struct index_instance){ &a1, "1.2.840.10008.1.2.1", "p1", 1, 1, NULL, false, 0 };
	cr_assert_eq(index_put_batch(ix, in, 1, res), 0);
	exec_raw("CREATE TRIGGER refuse BEFORE INSERT ON instances "
		 "WHEN NEW.sop_instance_uid = '1.2.3.5.1' BEGIN SELECT RAISE(ABORT, 'no'); END");
	in[0] = (struct index_instance){ &bad, "1.2.840.10008.1.2.1", "p2", 1, 2, NULL, false, 0 };
	in[1] = (struct index_instance){ &a3, "1.2.840.10008.1.2.1", "p3", 1, 3, NULL, false, 0 };
	cr_assert_eq(index_put_batch(ix, in, 2, res), 0);
	cr_assert_eq(res[0], -EINVAL, "%d", res[0]);
	cr_assert_eq(res[1], 0, "%d", res[1]);
	cr_assert_eq(th_q_int(db, "SELECT count(*) FROM instances"), 2);
	cr_assert_eq(th_q_int(db, "SELECT count(*) FROM series"), 2);
	cr_assert_eq(th_q_int(db, "SELECT count(*) FROM instances i JOIN series s ON "
				  "i.series_ref = s.id WHERE s.series_uid = '1.2.3.5'"), 1);
	cr_assert_eq(th_q_int(db, "SELECT updated_at FROM studies"), 3);
	index_close(ix);
}

Test(index, bad_item_fails_alone)
{
	struct index *ix = open_rw();
	struct dcm_attrs a1, bad, a3;
	struct index_instance in[3];
	int res[3] = { 1, 1, 1 };

	th_attrs(&a1, "1.2.3", "1.2.3.4", "1.2.3.4.1");
	th_attrs(&bad, "", "1.2.3.4", "1.2.3.4.2");
	th_attrs(&a3, "1.2.3", "1.2.3.4", "1.2.3.4.3");
	in[0] = (struct index_instance){ &a1, "1.2.840.10008.1.2.1", "p1", 1, 1, NULL, false, 0 };
	in[1] = (struct index_instance){ &bad, "1.2.840.10008.1.2.1", "p2", 1, 1, NULL, false, 0 };
	in[2] = (struct index_instance){ &a3, "1.2.840.10008.1.2.1", NULL, 1, 1, NULL, false, 0 };
	cr_assert_eq(index_put_batch(ix, in, 3, res), 0);
	cr_assert_eq(res[0], 0);
	cr_assert_eq(res[1], -EINVAL);
	cr_assert_eq(res[2], -EINVAL);
	cr_assert_eq(th_q_int(db, "SELECT count(*) FROM instances"), 1);
	index_close(ix);
}

Test(index, lookup)
{
	struct index *ix = open_rw();
	struct dcm_attrs a;
	struct index_instance in;
	char path[64], tiny[4];

	th_attrs(&a, "1.2.3", "1.2.3.4", "1.2.3.4.5");
	in = (struct index_instance){ &a, "1.2.840.10008.1.2.1", "1.2.3/1.2.3.4/1.2.3.4.5.dcm",
				      10, 5, "MOD", false, 0 };
	cr_assert_eq(index_put_batch(ix, &in, 1, NULL), 0);
	cr_assert_eq(index_lookup_instance(ix, "1.2.3.4.5", path, sizeof path), 0);
	cr_assert_str_eq(path, "1.2.3/1.2.3.4/1.2.3.4.5.dcm");
	cr_assert_eq(index_lookup_instance(ix, "1.2.3.4.6", path, sizeof path), -ENOENT);
	cr_assert_eq(index_lookup_instance(ix, "1.2.3.4.5", tiny, sizeof tiny), -ENAMETOOLONG);
	index_close(ix);
}

Test(index, association_audit)
{
	struct index *ix = open_rw();
	int64_t id1 = 0, id2 = 0;
	char buf[64];

	cr_assert_eq(index_assoc_begin(ix, "10.0.0.1:4000", "CT1", "DICOMAID", 1000, &id1), 0);
	cr_assert_eq(index_assoc_begin(ix, "10.0.0.2:4000", "CT2", "DICOMAID", 1001, &id2), 0);
	cr_assert_neq(id1, id2);
	cr_assert_eq(index_assoc_end(ix, id1, 5000, 42, "released"), 0);
	cr_assert_eq(index_assoc_end(ix, id2 + 100, 5000, 0, "aborted"), -ENOENT);
	index_close(ix);
	snprintf(buf, sizeof buf, "SELECT instances_received FROM associations WHERE id=%lld",
		 (long long)id1);
	cr_assert_eq(th_q_int(db, buf), 42);
	cr_assert_str_eq(th_q_text(db, "SELECT outcome FROM associations WHERE calling_ae='CT1'",
				   buf, sizeof buf), "released");
	cr_assert_eq(th_q_int(db, "SELECT ended_at FROM associations WHERE calling_ae='CT1'"), 5000);
	cr_assert_eq(th_q_int(db, "SELECT count(*) FROM associations WHERE ended_at IS NULL"), 1);
	cr_assert_str_eq(th_q_text(db, "SELECT peer FROM associations WHERE calling_ae='CT2'",
				   buf, sizeof buf), "10.0.0.2:4000");
}
