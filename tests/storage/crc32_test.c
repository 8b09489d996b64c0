/* Tests of src/storage/crc32.c: store_crc32 equals zlib's crc32() for every length around the
 * fast path's thresholds, every alignment, chained calls and known check values. */
#include "config.h"

#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "storage/crc32.h"

static unsigned char *random_bytes(size_t n, unsigned seed)
{
	unsigned char *b = malloc(n + 64);
	uint32_t x = seed * 2654435761u + 1;

	cr_assert_not_null(b);
	for (size_t i = 0; i < n + 64; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		b[i] = (unsigned char)x;
	}
	return b;
}

/* ITU-T V.42 / ISO 3309 check value: CRC-32 of "123456789" is 0xCBF43926. */
Test(crc32, check_values)
{
	unsigned char big[4096];

	cr_assert_eq(store_crc32(0, "123456789", 9), 0xCBF43926u);
	cr_assert_eq(store_crc32(0, NULL, 0), 0);
	cr_assert_eq(store_crc32(0x12345678u, NULL, 0), 0x12345678u);
	memset(big, 0, sizeof big);
	cr_assert_eq(store_crc32(0, big, sizeof big), (uint32_t)crc32(0, big, sizeof big));
	memset(big, 0xff, sizeof big);
	cr_assert_eq(store_crc32(0, big, sizeof big), (uint32_t)crc32(0, big, sizeof big));
}

Test(crc32, equals_zlib_for_every_length_and_alignment)
{
	enum { MAXLEN = 1100 };
	unsigned char *b = random_bytes(MAXLEN, 7);

	for (size_t off = 0; off < 16; off++)
		for (size_t len = 0; len <= MAXLEN; len++) {
			uint32_t want = (uint32_t)crc32(0, b + off, (uInt)len);
			uint32_t got = store_crc32(0, b + off, len);

			cr_assert_eq(got, want, "off %zu len %zu: %08x, zlib %08x", off, len, got, want);
		}
	free(b);
}

Test(crc32, chained_calls_and_initial_values)
{
	enum { N = 300000 };
	unsigned char *b = random_bytes(N, 11);
	uint32_t whole = (uint32_t)crc32(0, b, N);
	const size_t cuts[] = { 1, 15, 63, 64, 65, 4096, 65536, 131071, 262144, N - 1 };

	cr_assert_eq(store_crc32(0, b, N), whole);
	for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
		uint32_t c = store_crc32(0, b, cuts[i]);

		c = store_crc32(c, b + cuts[i], N - cuts[i]);
		cr_assert_eq(c, whole, "cut at %zu", cuts[i]);
	}
	/* many small pieces, as the PDVs of a data set arrive */
	uint32_t c = 0;
	for (size_t at = 0, step = 1; at < N; at += step, step = step * 7 % 1013 + 1)
		c = store_crc32(c, b + at, at + step > N ? N - at : step);
	cr_assert_eq(c, whole);
	for (uint32_t init = 1; init < 0xF0000000u; init = init * 5 + 0x01234567u)
		cr_assert_eq(store_crc32(init, b + 3, 5000), (uint32_t)crc32(init, b + 3, 5000),
			     "initial %08x", init);
	free(b);
}
