# src/dicom: the pure DICOM element codec (no libuv, no SQLite): UIDs and transfer syntaxes,
# the streaming data set parser, the attribute collector, the element writer, Part 10 meta.
noinst_LIBRARIES += src/dicom/libdicom.a
src_dicom_libdicom_a_SOURCES = \
	src/dicom/attrs.h \
	src/dicom/attrs_parser.c src/dicom/attrs_parser.h \
	src/dicom/dict.c src/dicom/dict.h \
	src/dicom/error.c src/dicom/error.h \
	src/dicom/parser.c src/dicom/parser.h \
	src/dicom/part10.c src/dicom/part10.h \
	src/dicom/uid.c src/dicom/uid.h \
	src/dicom/writer.c src/dicom/writer.h
src_dicom_libdicom_a_CFLAGS = $(AM_CFLAGS) $(ZLIB_CFLAGS)

# Link line for anything using libdicom.a
DICOM_LIBS = src/dicom/libdicom.a $(ZLIB_LIBS)

check_PROGRAMS += tests/dicom/uid_test tests/dicom/parser_test tests/dicom/files_test \
	tests/dicom/writer_test
TESTS += tests/dicom/uid_test tests/dicom/parser_test tests/dicom/files_test \
	tests/dicom/writer_test tests/dicom/part10_dcmdump.sh
EXTRA_DIST += tests/dicom/part10_dcmdump.sh

tests_dicom_uid_test_SOURCES = tests/dicom/uid_test.c
tests_dicom_uid_test_CFLAGS = $(TEST_CFLAGS)
tests_dicom_uid_test_LDADD = $(DICOM_LIBS) $(TEST_LIBS)

tests_dicom_parser_test_SOURCES = tests/dicom/parser_test.c tests/dicom/events.c tests/dicom/events.h
tests_dicom_parser_test_CFLAGS = $(TEST_CFLAGS) $(ZLIB_CFLAGS)
tests_dicom_parser_test_LDADD = $(DICOM_LIBS) $(TEST_LIBS)

tests_dicom_files_test_SOURCES = tests/dicom/files_test.c tests/dicom/events.c tests/dicom/events.h
tests_dicom_files_test_CFLAGS = $(TEST_CFLAGS)
tests_dicom_files_test_LDADD = $(DICOM_LIBS) $(TEST_LIBS)

tests_dicom_writer_test_SOURCES = tests/dicom/writer_test.c
tests_dicom_writer_test_CFLAGS = $(TEST_CFLAGS)
tests_dicom_writer_test_LDADD = $(DICOM_LIBS) $(TEST_LIBS)

# driver for the dcmtk cross-check
check_PROGRAMS += tests/dicom/dcmtool
tests_dicom_dcmtool_SOURCES = tests/dicom/dcmtool.c
tests_dicom_dcmtool_CFLAGS = $(AM_CFLAGS) $(ZLIB_CFLAGS)
tests_dicom_dcmtool_LDADD = $(DICOM_LIBS)

# mutation fuzzing in make check; the same target builds under libFuzzer (see fuzz_parser.c)
check_PROGRAMS += tests/dicom/fuzz_test
TESTS += tests/dicom/fuzz_test
tests_dicom_fuzz_test_SOURCES = tests/dicom/fuzz_test.c tests/dicom/fuzz_parser.c \
	tests/dicom/events.c tests/dicom/events.h
tests_dicom_fuzz_test_CFLAGS = $(TEST_CFLAGS) $(ZLIB_CFLAGS)
tests_dicom_fuzz_test_LDADD = $(DICOM_LIBS) $(TEST_LIBS)
