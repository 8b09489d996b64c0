/*
 * SHA-256 (FIPS 180-4), for checking a model file against its manifest's digest.
 * Pure except sha256_file(); no global state.
 */
#ifndef DICOMAID_ANALYSIS_SHA256_H
#define DICOMAID_ANALYSIS_SHA256_H

#include <stddef.h>
#include <stdint.h>

struct sha256 {
	uint32_t h[8];
	uint64_t len;       /* bytes hashed so far */
	uint8_t buf[64];
	size_t used;
};

void sha256_init(struct sha256 *s);
void sha256_update(struct sha256 *s, const void *data, size_t n);
/* Finish and write 64 lower-case hex digits and a NUL. s is spent afterwards. */
void sha256_hex(struct sha256 *s, char out[65]);
/* Digest of the file at path (borrowed). 0, or -1 when it cannot be read. */
int sha256_file(const char *path, char out[65]);

#endif
