# src/nn: the CNN engine (ONNX loader on protobuf-c, graph planner, kernels on OpenBLAS) and the
# dicomaid-nn tool for model authors. Shares no code with the network side.
noinst_LIBRARIES += src/nn/libnn.a
src_nn_libnn_a_SOURCES = src/nn/nn.h src/nn/nn_impl.h src/nn/load.c src/nn/fold.c \
	src/nn/shape.c src/nn/plan.c src/nn/kernels.c src/nn/conv_fast.c src/nn/pool.c src/nn/run.c src/nn/npy.c src/nn/npy.h
nodist_src_nn_libnn_a_SOURCES = src/nn/onnx.pb-c.c src/nn/onnx.pb-c.h
src_nn_libnn_a_CFLAGS = $(AM_CFLAGS) -O3 $(PROTOBUFC_CFLAGS) $(OPENBLAS_CFLAGS)
NN_LIBS = src/nn/libnn.a $(PROTOBUFC_LIBS) $(OPENBLAS_LIBS) -lm

# protoc-c output is generated at build time from the checked-in message definitions.
BUILT_SOURCES += src/nn/onnx.pb-c.c src/nn/onnx.pb-c.h
CLEANFILES += src/nn/onnx.pb-c.c src/nn/onnx.pb-c.h
EXTRA_DIST += src/nn/onnx.proto
src/nn/onnx.pb-c.h: src/nn/onnx.pb-c.c
src/nn/onnx.pb-c.c: $(top_srcdir)/src/nn/onnx.proto
	$(AM_V_GEN)$(MKDIR_P) src/nn && \
	$(PROTOC_C) --proto_path=$(top_srcdir)/src/nn --c_out=src/nn $(top_srcdir)/src/nn/onnx.proto

bin_PROGRAMS += src/dicomaid-nn
src_dicomaid_nn_SOURCES = src/nn/tool.c
src_dicomaid_nn_CFLAGS = $(AM_CFLAGS) $(OPENBLAS_CFLAGS)
src_dicomaid_nn_LDADD = $(NN_LIBS) $(PTHREAD_LIBS)

# Criterion tests: operators against reference loops, malformed models, npy codec.
check_PROGRAMS += tests/nn/ops_test tests/nn/load_test
TESTS += tests/nn/ops_test tests/nn/load_test
tests_nn_ops_test_SOURCES = tests/nn/ops_test.c tests/nn/onnx_build.h
tests_nn_ops_test_CFLAGS = $(TEST_CFLAGS) $(PROTOBUFC_CFLAGS)
tests_nn_ops_test_LDADD = $(NN_LIBS) $(PTHREAD_LIBS) $(TEST_LIBS)
tests_nn_load_test_SOURCES = tests/nn/load_test.c tests/nn/onnx_build.h
tests_nn_load_test_CFLAGS = $(TEST_CFLAGS) $(PROTOBUFC_CFLAGS)
tests_nn_load_test_LDADD = $(NN_LIBS) $(PTHREAD_LIBS) $(TEST_LIBS)
