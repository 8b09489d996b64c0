# tests/nn/golden.mk: golden tests of the CNN engine against PyTorch's outputs (issue 3).
# Included from Makefile.am.  tests/nn/golden.sh runs src/dicomaid-nn on every committed fixture
# in tests/nn/fixtures/ (regenerate with `/usr/bin/python3 tools/nn_fixtures.py tests/nn/fixtures`;
# CI needs no Python) and compares with tests/nn/npycmp; it also feeds malformed models.
check_PROGRAMS += tests/nn/npycmp
tests_nn_npycmp_SOURCES = tests/nn/npycmp.c
tests_nn_npycmp_LDADD = -lm

TESTS += tests/nn/golden.sh

EXTRA_DIST += tests/nn/golden.sh tests/nn/fixtures tools/nn_fixtures.py tools/detector_net.py \
	tools/torch_bench.py tools/ort_crosscheck.js \
	bench/nn_bench.sh bench/sgemm_shapes.c bench/README-nn.md
