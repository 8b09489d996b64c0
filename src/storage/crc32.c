/*
 * CRC-32 (crc32.h) through ISA-L, Debian's libisal: crc32_gzip_refl() is the gzip/zlib CRC
 * (reflected, pre- and post-inverted, so calls chain exactly like zlib's crc32()) and picks
 * at run time the fastest code the CPU has (carry-less multiplication folding on x86-64 with
 * PCLMULQDQ, about ten times zlib's table code; a table elsewhere).
 */
#include "config.h"

#include "storage/crc32.h"

#include <isa-l/crc.h>

uint32_t store_crc32(uint32_t crc, const void *buf, size_t len)
{
	return len ? crc32_gzip_refl(crc, buf, len) : crc;
}
