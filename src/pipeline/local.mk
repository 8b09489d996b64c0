# src/pipeline: automatic analysis in the daemon (scheduler, workers, result delivery).
noinst_LIBRARIES += src/pipeline/libpipeline.a
src_pipeline_libpipeline_a_SOURCES = src/pipeline/pipeline.c src/pipeline/pipeline.h \
	src/pipeline/track.c src/pipeline/track.h
src_pipeline_libpipeline_a_CFLAGS = $(AM_CFLAGS) $(UV_CFLAGS) $(SQLITE_CFLAGS) $(INIH_CFLAGS) \
	$(OPENBLAS_CFLAGS)

check_PROGRAMS += tests/pipeline/track_test
TESTS += tests/pipeline/track_test
tests_pipeline_track_test_CFLAGS = $(TEST_CFLAGS)
tests_pipeline_track_test_LDADD = src/pipeline/libpipeline.a $(TEST_LIBS) -lm
