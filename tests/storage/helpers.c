/* Helpers of the storage tests; see helpers.h. */
#include "config.h"

#include "helpers.h"

#include <dirent.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

char *th_tmpdir(void)
{
	char *p = strdup("/tmp/dicomaid-storage-test-XXXXXX");

	if (p == NULL || mkdtemp(p) == NULL) {
		free(p);
		return NULL;
	}
	return p;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

void th_rmtree(const char *path)
{
	if (path != NULL)
		nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static int nfiles;

static int count_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)path;
	(void)ftw;
	if (flag == FTW_F && S_ISREG(st->st_mode))
		nfiles++;
	return 0;
}

int th_count_files(const char *dir)
{
	nfiles = 0;
	if (nftw(dir, count_one, 16, FTW_PHYS) != 0)
		return -1;
	return nfiles;
}

unsigned char *th_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	unsigned char *buf = NULL;
	long n;

	if (f == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
		buf = malloc((size_t)n + 1);
		if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
			free(buf);
			buf = NULL;
		} else if (buf) {
			*len = (size_t)n;
		}
	}
	fclose(f);
	return buf;
}

void th_attrs(struct dcm_attrs *a, const char *study, const char *series, const char *sop)
{
	memset(a, 0, sizeof *a);
	snprintf(a->study_uid, sizeof a->study_uid, "%s", study);
	snprintf(a->series_uid, sizeof a->series_uid, "%s", series);
	snprintf(a->sop_instance_uid, sizeof a->sop_instance_uid, "%s", sop);
	strcpy(a->specific_charset, "ISO_IR 100");
	strcpy(a->patient_id, "PID-1");
	strcpy(a->patient_name, "Doe^Jane");
	strcpy(a->patient_birth_date, "19700101");
	strcpy(a->patient_sex, "F");
	strcpy(a->study_date, "20260101");
	strcpy(a->study_time, "120000");
	strcpy(a->study_description, "MR BRAIN");
	strcpy(a->accession_number, "ACC1");
	strcpy(a->study_id, "1");
	strcpy(a->series_number, "3");
	strcpy(a->modality, "MR");
	strcpy(a->series_description, "T1 AX");
	strcpy(a->sop_class_uid, "1.2.840.10008.5.1.4.1.1.4");
	strcpy(a->instance_number, "7");
	strcpy(a->rows, "256");
	strcpy(a->columns, "256");
	strcpy(a->image_position, "-120\\-120\\35.5");
	strcpy(a->image_orientation, "1\\0\\0\\0\\1\\0");
	strcpy(a->pixel_spacing, "0.9375\\0.9375");
	strcpy(a->slice_thickness, "5");
}

static sqlite3_stmt *q_prepare(sqlite3 **db, const char *path, const char *sql)
{
	sqlite3_stmt *st = NULL;

	if (sqlite3_open_v2(path, db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
		return NULL;
	sqlite3_busy_timeout(*db, 5000);
	if (sqlite3_prepare_v2(*db, sql, -1, &st, NULL) != SQLITE_OK)
		return NULL;
	return st;
}

int64_t th_q_int(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = q_prepare(&db, path, sql);
	int64_t v = -1;

	if (st != NULL) {
		int rc = sqlite3_step(st);

		if (rc == SQLITE_ROW)
			v = sqlite3_column_int64(st, 0);
		else if (rc == SQLITE_DONE)
			v = -2;
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

const char *th_q_text(const char *path, const char *sql, char *buf, size_t cap)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = q_prepare(&db, path, sql);

	snprintf(buf, cap, "<error>");
	if (st != NULL) {
		int rc = sqlite3_step(st);

		if (rc == SQLITE_ROW) {
			const unsigned char *t = sqlite3_column_text(st, 0);
			snprintf(buf, cap, "%s", t ? (const char *)t : "");
		} else if (rc == SQLITE_DONE) {
			snprintf(buf, cap, "<none>");
		}
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	return buf;
}
