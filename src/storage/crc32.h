/*
 * CRC-32 of the store's integrity checks (store_pending rows, sql/007_store_pending.sql): the
 * CRC of ISO 3309 / ITU-T V.42 (polynomial 0x04C11DB7, bit-reflected, initial and final value
 * 0xFFFFFFFF), the one zlib's crc32() computes, and equal to it for any input, so rows written
 * by either stay comparable. Computed by ISA-L (libisal), which folds with carry-less
 * multiplications where the CPU has them (~10x zlib's table code).
 * Pure: no allocation, no I/O, thread-safe.
 */
#ifndef DICOMAID_STORAGE_CRC32_H
#define DICOMAID_STORAGE_CRC32_H

#include <stddef.h>
#include <stdint.h>

/* The CRC-32 of buf[0..len) continuing crc (0 to start): store_crc32(store_crc32(0, a, n),
 * b, m) is the CRC of a followed by b, as zlib's crc32(). buf is borrowed; NULL only with
 * len 0. */
uint32_t store_crc32(uint32_t crc, const void *buf, size_t len);

#endif
