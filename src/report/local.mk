# src/report: the one C++ adapter over dcmtk (pixel decoding, TID 1500 SR, GSPS) behind the C
# header src/report/report.h. Anything linking libreport.a from C adds $(REPORT_LIBS), which
# ends in -lstdc++ so that the C linker driver can link the C++ objects.
noinst_LIBRARIES += src/report/libreport.a
src_report_libreport_a_SOURCES = src/report/report.h src/report/report_impl.hh \
	src/report/common.cc src/report/decode.cc src/report/sr.cc src/report/gsps.cc
# dcmtk 3.6.7 on Debian was configured with C++17 (its osconfig.h refuses older standards)
src_report_libreport_a_CXXFLAGS = $(AM_CXXFLAGS) -std=c++17 $(DCMTK_CFLAGS)
REPORT_LIBS = src/report/libreport.a $(DCMTK_LIBS) -lstdc++ -lm $(PTHREAD_LIBS)

check_PROGRAMS += tests/report/report_test tests/report/rtool
TESTS += tests/report/report_test tests/report/validate.sh
EXTRA_DIST += tests/report/validate.sh

tests_report_report_test_SOURCES = tests/report/report_test.c tests/report/sample.c \
	tests/report/sample.h
tests_report_report_test_CFLAGS = $(TEST_CFLAGS)
tests_report_report_test_LDADD = $(REPORT_LIBS) $(TEST_LIBS)

# driver for the shell test: writes sample SR/GSPS files, decodes images
tests_report_rtool_SOURCES = tests/report/rtool.c tests/report/sample.c tests/report/sample.h
tests_report_rtool_CFLAGS = $(AM_CFLAGS)
tests_report_rtool_LDADD = $(REPORT_LIBS)
