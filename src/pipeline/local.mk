# src/pipeline: automatic analysis in the daemon (scheduler, workers, result delivery).
noinst_LIBRARIES += src/pipeline/libpipeline.a
src_pipeline_libpipeline_a_SOURCES = src/pipeline/pipeline.c src/pipeline/pipeline.h
src_pipeline_libpipeline_a_CFLAGS = $(AM_CFLAGS) $(UV_CFLAGS) $(SQLITE_CFLAGS) $(INIH_CFLAGS) \
	$(OPENBLAS_CFLAGS)
