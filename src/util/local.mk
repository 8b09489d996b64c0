# src/util: logging, configuration, small helpers shared by every layer.
noinst_LIBRARIES += src/util/libutil.a
src_util_libutil_a_SOURCES = src/util/log.c src/util/log.h \
	src/util/config.c src/util/config.h
src_util_libutil_a_CFLAGS = $(AM_CFLAGS) $(INIH_CFLAGS)

# The documented example configuration (installed to sysconfdir later by the lead).
dist_noinst_DATA += etc/dicomaid.conf

# Unit tests. Programs linking libutil.a also need $(INIH_LIBS).
check_PROGRAMS += tests/util/config_test
TESTS += tests/util/config_test
tests_util_config_test_SOURCES = tests/util/config_test.c
tests_util_config_test_CFLAGS = $(TEST_CFLAGS)
tests_util_config_test_LDADD = src/util/libutil.a $(INIH_LIBS) $(TEST_LIBS)
