# Integration tests: the daemon against dcmtk's command-line peers over 127.0.0.1.
check_PROGRAMS += tests/integration/dsbytes
tests_integration_dsbytes_SOURCES = tests/integration/dsbytes.c
tests_integration_dsbytes_LDADD = src/dicom/libdicom.a $(ZLIB_LIBS)
TESTS += tests/integration/echo.sh tests/integration/store.sh tests/integration/qr.sh \
	tests/integration/analysis.sh tests/integration/analysis_crash.sh \
	tests/integration/analysis_pacsdown.sh tests/integration/analysis_pacshang.sh \
	tests/integration/analysis_bad.sh tests/integration/analysis_negative.sh \
	tests/integration/analysis_reanalysis.sh tests/integration/analysis_orphan.sh \
	tests/integration/analysis_syntaxes.sh
EXTRA_DIST += tests/integration/lib.sh tests/integration/echo.sh tests/integration/store.sh \
	tests/integration/qr.sh tests/integration/analysis.sh tests/integration/analysis_lib.sh \
	tests/integration/analysis_crash.sh tests/integration/analysis_pacsdown.sh \
	tests/integration/analysis_pacshang.sh tests/integration/analysis_bad.sh \
	tests/integration/analysis_negative.sh tests/integration/analysis_reanalysis.sh \
	tests/integration/analysis_orphan.sh tests/integration/analysis_syntaxes.sh
# A lesion-free simulated study (tests/analysis/fixtures/neg/truth.json says where from).
EXTRA_DIST += tests/analysis/fixtures/neg/truth.json tests/analysis/fixtures/neg/IM0031.dcm \
	tests/analysis/fixtures/neg/IM0032.dcm tests/analysis/fixtures/neg/IM0033.dcm \
	tests/analysis/fixtures/neg/IM0034.dcm
