# src/dimse: DIMSE command codec (PS3.7), message reassembly from PDVs and P-DATA-TF framing.
# Pure code: no uv.h, no sockets, no other dicomaid layer.
noinst_LIBRARIES += src/dimse/libdimse.a
src_dimse_libdimse_a_SOURCES = \
	src/dimse/command.c src/dimse/command.h \
	src/dimse/status.h \
	src/dimse/rx.c src/dimse/rx.h \
	src/dimse/tx.c src/dimse/tx.h

check_PROGRAMS += tests/dimse/command_test tests/dimse/rx_test tests/dimse/tx_test
TESTS += tests/dimse/command_test tests/dimse/rx_test tests/dimse/tx_test
tests_dimse_command_test_SOURCES = tests/dimse/command_test.c tests/dimse/vectors.h
tests_dimse_command_test_CFLAGS = $(TEST_CFLAGS)
tests_dimse_command_test_LDADD = src/dimse/libdimse.a $(TEST_LIBS)
tests_dimse_rx_test_SOURCES = tests/dimse/rx_test.c tests/dimse/vectors.h
tests_dimse_rx_test_CFLAGS = $(TEST_CFLAGS)
tests_dimse_rx_test_LDADD = src/dimse/libdimse.a $(TEST_LIBS)
tests_dimse_tx_test_SOURCES = tests/dimse/tx_test.c tests/dimse/vectors.h
tests_dimse_tx_test_CFLAGS = $(TEST_CFLAGS)
tests_dimse_tx_test_LDADD = src/dimse/libdimse.a $(TEST_LIBS)

# Fuzz driver: run on mutated seeds by fuzz_test; also buildable for libFuzzer (see its header).
check_PROGRAMS += tests/dimse/fuzz_test
TESTS += tests/dimse/fuzz_test
tests_dimse_fuzz_test_SOURCES = tests/dimse/fuzz_test.c tests/dimse/fuzz_dimse.c \
	tests/dimse/fuzz_dimse.h tests/dimse/vectors.h
tests_dimse_fuzz_test_CFLAGS = $(TEST_CFLAGS)
tests_dimse_fuzz_test_LDADD = src/dimse/libdimse.a $(TEST_LIBS)

# Interop with dcmtk echoscu/storescu through a test-only blocking SCP (needs Debian dcmtk).
check_PROGRAMS += tests/dimse/mini_scp
tests_dimse_mini_scp_SOURCES = tests/dimse/mini_scp.c
tests_dimse_mini_scp_LDADD = src/dimse/libdimse.a
TESTS += tests/dimse/dcmtk_interop.sh
EXTRA_DIST += tests/dimse/dcmtk_interop.sh
check_PROGRAMS += tests/dimse/mini_scu
tests_dimse_mini_scu_SOURCES = tests/dimse/mini_scu.c
tests_dimse_mini_scu_LDADD = src/dimse/libdimse.a
TESTS += tests/dimse/dcmtk_scu.sh
EXTRA_DIST += tests/dimse/dcmtk_scu.sh
