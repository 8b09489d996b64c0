/*
 * The index schema, embedded at build time: sql/NNN_name.sql become schema_migrations[] in
 * name order (generated src/storage/schema_sql.c, see src/storage/local.mk). Migration i
 * (0-based) brings the database from PRAGMA user_version i to i + 1; its file name must start
 * with the number i + 1 (index_open checks this).
 */
#ifndef DICOMAID_STORAGE_SCHEMA_H
#define DICOMAID_STORAGE_SCHEMA_H

#include <stddef.h>

struct schema_migration {
	const char *name; /* file name, e.g. "001_init.sql" */
	const char *sql;  /* its whole text */
};

/* schema_migrations_count entries, followed by a { NULL, NULL } terminator. */
extern const struct schema_migration schema_migrations[];
extern const size_t schema_migrations_count;

#endif
