# Integration tests: the daemon against dcmtk's command-line peers over 127.0.0.1.
check_PROGRAMS += tests/integration/dsbytes
tests_integration_dsbytes_SOURCES = tests/integration/dsbytes.c
tests_integration_dsbytes_LDADD = src/dicom/libdicom.a $(ZLIB_LIBS)
TESTS += tests/integration/echo.sh tests/integration/store.sh tests/integration/qr.sh \
	tests/integration/analysis.sh tests/integration/analysis_crash.sh \
	tests/integration/analysis_pacsdown.sh tests/integration/analysis_pacshang.sh \
	tests/integration/analysis_bad.sh
EXTRA_DIST += tests/integration/lib.sh tests/integration/echo.sh tests/integration/store.sh \
	tests/integration/qr.sh tests/integration/analysis.sh tests/integration/analysis_lib.sh \
	tests/integration/analysis_crash.sh tests/integration/analysis_pacsdown.sh \
	tests/integration/analysis_pacshang.sh tests/integration/analysis_bad.sh
