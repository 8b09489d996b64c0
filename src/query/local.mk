# src/query: Query/Retrieve over the index (PS3.4 Annex C): identifier parsing and validation,
# matching rules as SQL over a read-only connection, C-FIND response identifiers, the instance
# list of C-MOVE/C-GET. The services layer (src/services) does the DIMSE side.
noinst_LIBRARIES += src/query/libquery.a
src_query_libquery_a_SOURCES = \
	src/query/query.h src/query/internal.h \
	src/query/keys.c src/query/charset.c src/query/parse.c src/query/find.c \
	src/query/srkeys.c
src_query_libquery_a_CFLAGS = $(AM_CFLAGS) $(SQLITE_CFLAGS)

# Link line for anything using libquery.a (index_schema_latest comes from libstorage.a)
QUERY_LIBS = src/query/libquery.a src/storage/libstorage.a src/dicom/libdicom.a \
	src/util/libutil.a $(SQLITE_LIBS) $(ZLIB_LIBS) $(ISAL_LIBS) $(PTHREAD_LIBS)

check_PROGRAMS += tests/query/query_test
TESTS += tests/query/query_test
tests_query_query_test_SOURCES = tests/query/query_test.c
tests_query_query_test_CFLAGS = $(TEST_CFLAGS) $(SQLITE_CFLAGS)
tests_query_query_test_LDADD = $(QUERY_LIBS) $(TEST_LIBS)

# Generator of a large index for the C-FIND benchmark (see its header); built by make check.
check_PROGRAMS += tests/query/gen_index
tests_query_gen_index_SOURCES = tests/query/gen_index.c
tests_query_gen_index_CFLAGS = $(AM_CFLAGS) $(SQLITE_CFLAGS)
tests_query_gen_index_LDADD = $(QUERY_LIBS)

# C-FIND latency on such an index, library level (see its header); built by make check.
check_PROGRAMS += tests/query/find_bench
tests_query_find_bench_SOURCES = tests/query/find_bench.c
tests_query_find_bench_CFLAGS = $(AM_CFLAGS) $(SQLITE_CFLAGS)
tests_query_find_bench_LDADD = $(QUERY_LIBS)
