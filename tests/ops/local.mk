# tests/ops: the control protocol codecs, dicomaidctl against a running daemon, socket
# activation, the systemd units and the man pages.
check_PROGRAMS += tests/ops/json_test tests/ops/jsoncheck tests/ops/known_keys \
	tests/ops/notifyrecv tests/ops/ctlraw
TESTS += tests/ops/json_test
tests_ops_json_test_SOURCES = tests/ops/json_test.c
tests_ops_json_test_CFLAGS = $(TEST_CFLAGS)
tests_ops_json_test_LDADD = src/ctl/libctl.a $(TEST_LIBS)
# jsoncheck: exits 0 when standard input is one valid JSON document (for the shell tests).
tests_ops_jsoncheck_SOURCES = tests/ops/jsoncheck.c
tests_ops_jsoncheck_LDADD = src/ctl/libctl.a
# known_keys: prints config_known_keys, one per line (for man.sh).
tests_ops_known_keys_SOURCES = tests/ops/known_keys.c
tests_ops_known_keys_CFLAGS = $(AM_CFLAGS) $(INIH_CFLAGS)
tests_ops_known_keys_LDADD = src/util/libutil.a $(INIH_LIBS)
# notifyrecv: a NOTIFY_SOCKET stand-in; ctlraw: the control protocol without dicomaidctl.
tests_ops_notifyrecv_SOURCES = tests/ops/notifyrecv.c
tests_ops_ctlraw_SOURCES = tests/ops/ctlraw.c

TESTS += tests/ops/man.sh tests/ops/units.sh tests/ops/ctl.sh tests/ops/activate.sh
EXTRA_DIST += tests/ops/man.sh tests/ops/units.sh tests/ops/ctl.sh tests/ops/activate.sh
