# Limits and hostile peers (issue 8): the real daemon against rawpeer (tests/badinput) and
# dcmtk tools; each test asserts the standard answer, a log line, the audit row, and that
# other associations are unaffected.
LIMITS_TESTS = tests/limits/assocs.sh tests/limits/slow.sh tests/limits/sendq.sh \
	tests/limits/size.sh tests/limits/disk.sh tests/limits/audit.sh
TESTS += $(LIMITS_TESTS)
EXTRA_DIST += tests/limits/lib.sh $(LIMITS_TESTS)

# The limit keys of the configuration (src/util/config.c).
check_PROGRAMS += tests/limits/config_test
TESTS += tests/limits/config_test
tests_limits_config_test_SOURCES = tests/limits/config_test.c
tests_limits_config_test_CFLAGS = $(TEST_CFLAGS)
tests_limits_config_test_LDADD = src/util/libutil.a $(INIH_LIBS) $(TEST_LIBS)
