# tests/fuzz: libFuzzer targets (clang) for every parser that reads untrusted bytes, their seed
# corpora, and the script that runs them for a bounded time. Not part of `make all`/`check`:
#   make fuzz [FUZZ_CC=clang]           builds tests/fuzz/fuzz_{pdu,dimse,dataset,query,config,onnx}
#   tests/fuzz/run.sh SECONDS [TARGET]  runs each target that long on a copy of its corpus and
#                                       fails on any crash, leak, timeout or sanitizer report
# Each target is compiled from the sources it exercises (so coverage instrumentation reaches
# them) whatever CC configure picked; the C layers' own drivers are reused where they exist.
FUZZ_CC = clang
FUZZ_CFLAGS = -g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=all
FUZZ_CPPFLAGS = -D_GNU_SOURCE -I$(top_srcdir)/src -I$(top_builddir)/src -I$(top_builddir)
FUZZ_BUILD = $(AM_V_GEN)$(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_CPPFLAGS)

FUZZ_TARGETS = tests/fuzz/fuzz_pdu tests/fuzz/fuzz_dimse tests/fuzz/fuzz_dataset \
	tests/fuzz/fuzz_query tests/fuzz/fuzz_config tests/fuzz/fuzz_onnx
FUZZ_DICOM_SRC = $(top_srcdir)/src/dicom/attrs_parser.c $(top_srcdir)/src/dicom/dict.c \
	$(top_srcdir)/src/dicom/error.c $(top_srcdir)/src/dicom/parser.c \
	$(top_srcdir)/src/dicom/part10.c $(top_srcdir)/src/dicom/uid.c \
	$(top_srcdir)/src/dicom/writer.c
FUZZ_DIMSE_SRC = $(top_srcdir)/tests/dimse/fuzz_dimse.c $(top_srcdir)/src/dimse/command.c \
	$(top_srcdir)/src/dimse/rx.c $(top_srcdir)/src/dimse/tx.c
FUZZ_QUERY_SRC = $(top_srcdir)/tests/fuzz/fuzz_query.c $(top_srcdir)/src/query/keys.c \
	$(top_srcdir)/src/query/charset.c $(top_srcdir)/src/query/parse.c \
	$(top_srcdir)/src/query/find.c $(top_srcdir)/src/query/srkeys.c \
	$(top_srcdir)/src/storage/index.c src/storage/schema_sql.c \
	$(top_srcdir)/src/util/log.c $(FUZZ_DICOM_SRC)
FUZZ_CONFIG_SRC = $(top_srcdir)/tests/fuzz/fuzz_config.c $(top_srcdir)/src/util/config.c \
	$(top_srcdir)/src/util/log.c
FUZZ_ONNX_SRC = $(top_srcdir)/tests/fuzz/fuzz_onnx.c $(top_srcdir)/src/nn/load.c \
	$(top_srcdir)/src/nn/fold.c $(top_srcdir)/src/nn/shape.c $(top_srcdir)/src/nn/plan.c \
	$(top_srcdir)/src/nn/kernels.c $(top_srcdir)/src/nn/conv_fast.c \
	$(top_srcdir)/src/nn/pool.c $(top_srcdir)/src/nn/run.c $(top_srcdir)/src/nn/npy.c \
	src/nn/onnx.pb-c.c

.PHONY: fuzz fuzz-run
fuzz: $(FUZZ_TARGETS)
fuzz-run: fuzz
	$(SHELL) $(top_srcdir)/tests/fuzz/run.sh $${FUZZ_SECONDS:-60}

tests/fuzz/fuzz_pdu: $(top_srcdir)/tests/ul/pdu_fuzz.c $(top_srcdir)/src/ul/pdu.c
	@$(MKDIR_P) tests/fuzz
	$(FUZZ_BUILD) -DUL_LIBFUZZER -I$(top_srcdir)/tests/ul $^ -o $@
tests/fuzz/fuzz_dimse: $(FUZZ_DIMSE_SRC)
	@$(MKDIR_P) tests/fuzz
	$(FUZZ_BUILD) -DDIMSE_LIBFUZZER -I$(top_srcdir)/tests/dimse $^ -o $@
tests/fuzz/fuzz_dataset: $(top_srcdir)/tests/dicom/fuzz_parser.c $(FUZZ_DICOM_SRC)
	@$(MKDIR_P) tests/fuzz
	$(FUZZ_BUILD) -DDICOMAID_LIBFUZZER $(ZLIB_CFLAGS) $^ -o $@ $(ZLIB_LIBS)
tests/fuzz/fuzz_query: $(FUZZ_QUERY_SRC)
	@$(MKDIR_P) tests/fuzz
	$(FUZZ_BUILD) $(SQLITE_CFLAGS) $(ZLIB_CFLAGS) $^ -o $@ $(SQLITE_LIBS) $(ZLIB_LIBS) \
		$(PTHREAD_LIBS)
tests/fuzz/fuzz_config: $(FUZZ_CONFIG_SRC)
	@$(MKDIR_P) tests/fuzz
	$(FUZZ_BUILD) $(INIH_CFLAGS) $^ -o $@ $(INIH_LIBS)
tests/fuzz/fuzz_onnx: $(FUZZ_ONNX_SRC)
	@$(MKDIR_P) tests/fuzz
	$(FUZZ_BUILD) $(PROTOBUFC_CFLAGS) $(OPENBLAS_CFLAGS) $^ -o $@ $(PROTOBUFC_LIBS) \
		$(OPENBLAS_LIBS) $(PTHREAD_LIBS) -lm

CLEANFILES += $(FUZZ_TARGETS)
EXTRA_DIST += tests/fuzz/fuzz_query.c tests/fuzz/fuzz_config.c tests/fuzz/fuzz_onnx.c \
	tests/fuzz/run.sh tests/fuzz/README.md tests/fuzz/corpus

# Crash consistency under SIGKILL (owned here with the other reliability tests): C-STORE
# alone, and the whole pipeline (store, analysis, delivery to a PACS).
TESTS += tests/integration/crash_store.sh tests/integration/crash_pipeline.sh
EXTRA_DIST += tests/integration/crash_store.sh tests/integration/crash_pipeline.sh \
	tests/integration/crash_lib.sh tests/fuzz/mkseeds.c tests/fuzz/mkseeds.py \
	tests/fuzz/lsan.supp
