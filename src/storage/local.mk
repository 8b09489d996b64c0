# src/storage: instance files (temp file, fsync, rename), the group-commit thread and the
# SQLite index with its embedded schema migrations (sql/NNN_name.sql, applied in order).
noinst_LIBRARIES += src/storage/libstorage.a
src_storage_libstorage_a_SOURCES = \
	src/storage/index.c src/storage/index.h \
	src/storage/store.c src/storage/store.h \
	src/storage/crc32.c src/storage/crc32.h \
	src/storage/jobs.c src/storage/jobs.h \
	src/storage/schema.h
nodist_src_storage_libstorage_a_SOURCES = src/storage/schema_sql.c
src_storage_libstorage_a_CFLAGS = $(AM_CFLAGS) $(SQLITE_CFLAGS) $(ZLIB_CFLAGS) $(ISAL_CFLAGS)

# Migrations, in the order they are applied (name order). Add sql/002_*.sql etc. here.
STORAGE_SQL = sql/001_init.sql sql/002_query.sql sql/003_analysis.sql sql/004_audit.sql sql/005_expected.sql \
	sql/006_tracking.sql sql/007_store_pending.sql
EXTRA_DIST += $(STORAGE_SQL) src/storage/schema_gen.awk
BUILT_SOURCES += src/storage/schema_sql.c
CLEANFILES += src/storage/schema_sql.c

# Every sql/*.sql must be listed above (else `make dist` would lose it); they are embedded in
# name order whatever the order of the list (regenerated when the list changes: Makefile).
src/storage/schema_sql.c: $(STORAGE_SQL) $(srcdir)/src/storage/schema_gen.awk Makefile
	$(AM_V_GEN)for f in $(srcdir)/sql/*.sql; do \
	  case " $(STORAGE_SQL) " in *" sql/$${f##*/} "*) ;; \
	  *) echo "$$f: not listed in STORAGE_SQL (src/storage/local.mk)" >&2; exit 1;; esac; \
	done; \
	$(MKDIR_P) src/storage && \
	$(AWK) -f $(srcdir)/src/storage/schema_gen.awk \
	  `for f in $(STORAGE_SQL); do echo $(srcdir)/$$f; done | LC_ALL=C sort` > $@.tmp && \
	mv $@.tmp $@

STORAGE_LIBS = src/storage/libstorage.a src/util/libutil.a $(SQLITE_LIBS) $(ZLIB_LIBS) $(ISAL_LIBS) \
	$(PTHREAD_LIBS)

check_PROGRAMS += tests/storage/index_test tests/storage/store_test
TESTS += tests/storage/index_test tests/storage/store_test
tests_storage_index_test_SOURCES = tests/storage/index_test.c tests/storage/helpers.c \
	tests/storage/helpers.h
tests_storage_index_test_CFLAGS = $(TEST_CFLAGS) $(SQLITE_CFLAGS)
tests_storage_index_test_LDADD = $(STORAGE_LIBS) $(TEST_LIBS)
tests_storage_store_test_SOURCES = tests/storage/store_test.c tests/storage/helpers.c \
	tests/storage/helpers.h
tests_storage_store_test_CFLAGS = $(TEST_CFLAGS) $(SQLITE_CFLAGS)
tests_storage_store_test_LDADD = $(STORAGE_LIBS) $(TEST_LIBS)

check_PROGRAMS += tests/storage/crc32_test
TESTS += tests/storage/crc32_test
tests_storage_crc32_test_SOURCES = tests/storage/crc32_test.c
tests_storage_crc32_test_CFLAGS = $(TEST_CFLAGS) $(ZLIB_CFLAGS)
tests_storage_crc32_test_LDADD = src/storage/libstorage.a $(ISAL_LIBS) $(ZLIB_LIBS) $(TEST_LIBS)

# Group-commit benchmark, built by `make check`, run by hand (see its header).
check_PROGRAMS += tests/storage/store_bench
tests_storage_store_bench_SOURCES = tests/storage/store_bench.c tests/storage/helpers.c \
	tests/storage/helpers.h tests/storage/header_check.c
tests_storage_store_bench_CFLAGS = $(AM_CFLAGS) $(SQLITE_CFLAGS)
tests_storage_store_bench_LDADD = $(STORAGE_LIBS)

check_PROGRAMS += tests/storage/jobs_test
TESTS += tests/storage/jobs_test
tests_storage_jobs_test_SOURCES = tests/storage/jobs_test.c tests/storage/helpers.c \
	tests/storage/helpers.h
tests_storage_jobs_test_CFLAGS = $(TEST_CFLAGS) $(SQLITE_CFLAGS)
tests_storage_jobs_test_LDADD = $(STORAGE_LIBS) $(TEST_LIBS)

# Start-up check of instances an unclean stop left pending (needs dcmtk, sqlite3, python3).
TESTS += tests/storage/recover_pending.sh
EXTRA_DIST += tests/storage/recover_pending.sh
