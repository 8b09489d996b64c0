/* Shared helpers of the storage tests: temporary directories, sample attributes, direct
 * SQLite queries that check what the index wrote. */
#ifndef DICOMAID_TESTS_STORAGE_HELPERS_H
#define DICOMAID_TESTS_STORAGE_HELPERS_H

#include <stddef.h>
#include <stdint.h>

#include "dicom/attrs.h"

/* mkdtemp under /tmp; returns a malloc'ed path (caller frees after th_rmtree). */
char *th_tmpdir(void);
/* rm -rf; ignores errors. */
void th_rmtree(const char *path);
/* Counts regular files below dir (recursively). */
int th_count_files(const char *dir);
/* Reads a whole file; returns malloc'ed bytes and *len, or NULL. */
unsigned char *th_read_file(const char *path, size_t *len);

/* Fills a with the given UIDs and plausible values for the other fields. */
void th_attrs(struct dcm_attrs *a, const char *study, const char *series, const char *sop);

/* First column of the first row of sql on db (read-only connection), as int64 / text
 * (text copied into buf, "" for NULL). -1 / "<error>" on error, -2 / "<none>" when no row. */
int64_t th_q_int(const char *db, const char *sql);
const char *th_q_text(const char *db, const char *sql, char *buf, size_t cap);

#endif
