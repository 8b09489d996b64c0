/* Entry point of the DIMSE fuzz driver (fuzz_dimse.c); shared by fuzz_test.c and libFuzzer. */
#ifndef DICOMAID_TESTS_DIMSE_FUZZ_H
#define DICOMAID_TESTS_DIMSE_FUZZ_H
#include <stddef.h>
#include <stdint.h>
/* Returns 0, or -1 when a codec property is violated. data is borrowed. */
int dimse_fuzz_one(const uint8_t *data, size_t size);
#endif
