# src/analysis: the detector's analysis of a series (pixel reader, series selection,
# preprocessing per the model manifest, inference on src/nn, decoding, lesion linking) and
# the dicomaid-detect command-line tool that runs exactly that path.
noinst_LIBRARIES += src/analysis/libanalysis.a
src_analysis_libanalysis_a_SOURCES = \
	src/analysis/analysis.c src/analysis/analysis.h \
	src/analysis/decode.c src/analysis/decode.h \
	src/analysis/geometry.c src/analysis/geometry.h \
	src/analysis/link.c src/analysis/link.h \
	src/analysis/manifest.c \
	src/analysis/pixels.c src/analysis/pixels.h \
	src/analysis/preprocess.c src/analysis/preprocess.h \
	src/analysis/series.c src/analysis/series.h \
	src/analysis/sha256.c src/analysis/sha256.h
src_analysis_libanalysis_a_CFLAGS = $(AM_CFLAGS) -O2 $(INIH_CFLAGS) $(ZLIB_CFLAGS)

# Link line for anything using libanalysis.a
ANALYSIS_LIBS = src/analysis/libanalysis.a src/nn/libnn.a src/dicom/libdicom.a \
	$(INIH_LIBS) $(ZLIB_LIBS) $(PROTOBUFC_LIBS) $(OPENBLAS_LIBS) -lm

bin_PROGRAMS += src/dicomaid-detect
src_dicomaid_detect_SOURCES = src/analysis/detect.c
src_dicomaid_detect_CFLAGS = $(AM_CFLAGS)
src_dicomaid_detect_LDADD = $(ANALYSIS_LIBS) $(REPORT_LIBS) $(PTHREAD_LIBS)

# Criterion tests: decoding, linking, geometry, the pixel reader, the manifest.
ANALYSIS_TESTS = tests/analysis/decode_test tests/analysis/link_test \
	tests/analysis/geometry_test tests/analysis/pixels_test tests/analysis/manifest_test
check_PROGRAMS += $(ANALYSIS_TESTS)
TESTS += $(ANALYSIS_TESTS)
tests_analysis_decode_test_SOURCES = tests/analysis/decode_test.c
tests_analysis_decode_test_CFLAGS = $(TEST_CFLAGS)
tests_analysis_decode_test_LDADD = $(ANALYSIS_LIBS) $(TEST_LIBS)
tests_analysis_link_test_SOURCES = tests/analysis/link_test.c
tests_analysis_link_test_CFLAGS = $(TEST_CFLAGS)
tests_analysis_link_test_LDADD = $(ANALYSIS_LIBS) $(TEST_LIBS)
tests_analysis_geometry_test_SOURCES = tests/analysis/geometry_test.c
tests_analysis_geometry_test_CFLAGS = $(TEST_CFLAGS)
tests_analysis_geometry_test_LDADD = $(ANALYSIS_LIBS) $(TEST_LIBS)
tests_analysis_pixels_test_SOURCES = tests/analysis/pixels_test.c tests/analysis/fixture.h
tests_analysis_pixels_test_CFLAGS = $(TEST_CFLAGS)
tests_analysis_pixels_test_LDADD = $(ANALYSIS_LIBS) $(TEST_LIBS)
tests_analysis_manifest_test_SOURCES = tests/analysis/manifest_test.c
tests_analysis_manifest_test_CFLAGS = $(TEST_CFLAGS)
tests_analysis_manifest_test_LDADD = $(ANALYSIS_LIBS) $(TEST_LIBS)

# End to end: a hand-made detector and a study with a known answer (mkfixture), compared
# byte for byte with the expected JSON; the JSON checker validates the output's shape.
check_PROGRAMS += tests/analysis/mkfixture tests/analysis/jsoncheck
tests_analysis_mkfixture_SOURCES = tests/analysis/mkfixture.c tests/analysis/fixture.h
tests_analysis_mkfixture_CFLAGS = $(AM_CFLAGS) $(PROTOBUFC_CFLAGS)
tests_analysis_mkfixture_LDADD = $(ANALYSIS_LIBS)
tests_analysis_jsoncheck_SOURCES = tests/analysis/jsoncheck.c
tests_analysis_jsoncheck_CFLAGS = $(AM_CFLAGS)
TESTS += tests/analysis/detect_tiny.sh
EXTRA_DIST += tests/analysis/detect_tiny.sh tests/analysis/tiny64.json tests/analysis/tiny128.json

# The same on a small simulator study with the bundled model (models/, from the detector's
# training branch).
TESTS += tests/analysis/detect_sim.sh
EXTRA_DIST += tests/analysis/detect_sim.sh tests/analysis/fixtures/sim/truth.json \
	tests/analysis/fixtures/sim/uids.txt tests/analysis/fixtures/sim/IM0028.dcm \
	tests/analysis/fixtures/sim/IM0029.dcm tests/analysis/fixtures/sim/IM0030.dcm \
	tests/analysis/fixtures/sim/IM0031.dcm

# The evaluation of the detector through this path (run by hand; see its docstring).
EXTRA_DIST += tools/eval_detect.py
