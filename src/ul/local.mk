# src/ul: DICOM Upper Layer, pure: PDU codec (pdu.c) and association state machine (fsm.c).
noinst_LIBRARIES += src/ul/libul.a
src_ul_libul_a_SOURCES = src/ul/pdu.c src/ul/pdu.h src/ul/fsm.c src/ul/fsm.h

check_PROGRAMS += tests/ul/pdu_test tests/ul/fsm_test tests/ul/pdu_fuzz
TESTS += tests/ul/pdu_test tests/ul/fsm_test tests/ul/pdu_fuzz
tests_ul_pdu_test_SOURCES = tests/ul/pdu_test.c tests/ul/vectors.h
EXTRA_DIST += tests/ul/data/getscu_rq.bin
tests_ul_pdu_test_CFLAGS = $(TEST_CFLAGS)
tests_ul_pdu_test_LDADD = src/ul/libul.a $(TEST_LIBS)
tests_ul_fsm_test_SOURCES = tests/ul/fsm_test.c
tests_ul_fsm_test_CFLAGS = $(TEST_CFLAGS)
tests_ul_fsm_test_LDADD = src/ul/libul.a $(TEST_LIBS)
# The fuzz driver: here a deterministic mutation run; with clang and -DUL_LIBFUZZER a
# libFuzzer target (command in the file's header).
tests_ul_pdu_fuzz_SOURCES = tests/ul/pdu_fuzz.c tests/ul/vectors.h
tests_ul_pdu_fuzz_LDADD = src/ul/libul.a
