/*
 * CRC-32 (crc32.h). The fast path follows Gopal et al., "Fast CRC Computation for Generic
 * Polynomials Using PCLMULQDQ Instruction" (Intel, 2009), in the bit-reflected domain: four
 * 128-bit accumulators are folded 64 bytes forward per step (multiplication by x^(512+-32)
 * mod P), folded into one, then into 64 and 32 bits, and the last step is a Barrett
 * reduction. The constants are the paper's for P(x) = 0x104C11DB7, bit-reflected and shifted
 * left by one as its reflected-domain derivation requires:
 *   k1 = x^(4*128+32) mod P, k2 = x^(4*128-32) mod P   (fold 4 x 128 bits)
 *   k3 = x^(128+32) mod P,   k4 = x^(128-32) mod P     (fold 128 bits)
 *   k5 = x^64 mod P                                    (128 -> 64 bits)
 *   mu = floor(x^64 / P), and P itself                  (Barrett, 64 -> 32 bits)
 * The pre- and post-inversion of the CRC (ITU-T V.42 8.1.1.6.2) are done around the folding;
 * whatever is left after the last whole 16 bytes goes through zlib.
 */
#include "config.h"

#include "storage/crc32.h"

#include <zlib.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define CRC_TARGET __attribute__((target("pclmul,sse4.1")))

/* CRC of buf[0..len) from the inverted state crc, len >= 64 and a multiple of 16; returns the
 * inverted state. */
static CRC_TARGET uint32_t fold_pclmul(uint32_t crc, const unsigned char *buf, size_t len)
{
	const __m128i k1k2 = _mm_set_epi64x(0x01c6e41596LL, 0x0154442bd4LL);
	const __m128i k3k4 = _mm_set_epi64x(0x00ccaa009eLL, 0x01751997d0LL);
	const __m128i k5 = _mm_set_epi64x(0, 0x0163cd6124LL);
	const __m128i pmu = _mm_set_epi64x(0x01f7011641LL, 0x01db710641LL); /* lo P, hi mu */
	const __m128i low32 = _mm_setr_epi32(-1, 0, -1, 0);
	__m128i a0, a1, a2, a3, t;

	a0 = _mm_xor_si128(_mm_loadu_si128((const __m128i *)buf), _mm_cvtsi32_si128((int)crc));
	a1 = _mm_loadu_si128((const __m128i *)(buf + 16));
	a2 = _mm_loadu_si128((const __m128i *)(buf + 32));
	a3 = _mm_loadu_si128((const __m128i *)(buf + 48));
	buf += 64;
	len -= 64;

	/* each accumulator a moves 512 bits on: a.lo * k1 ^ a.hi * k2 ^ the next 16 bytes */
#define FOLD(acc, k, next)                                                              \
	do {                                                                            \
		t = _mm_clmulepi64_si128((acc), (k), 0x00);                            \
		(acc) = _mm_clmulepi64_si128((acc), (k), 0x11);                        \
		(acc) = _mm_xor_si128(_mm_xor_si128((acc), t), (next));                \
	} while (0)
	while (len >= 64) {
		FOLD(a0, k1k2, _mm_loadu_si128((const __m128i *)buf));
		FOLD(a1, k1k2, _mm_loadu_si128((const __m128i *)(buf + 16)));
		FOLD(a2, k1k2, _mm_loadu_si128((const __m128i *)(buf + 32)));
		FOLD(a3, k1k2, _mm_loadu_si128((const __m128i *)(buf + 48)));
		buf += 64;
		len -= 64;
	}
	/* four accumulators into one, 128 bits apart; then the remaining 16-byte blocks */
	FOLD(a0, k3k4, a1);
	FOLD(a0, k3k4, a2);
	FOLD(a0, k3k4, a3);
	while (len >= 16) {
		FOLD(a0, k3k4, _mm_loadu_si128((const __m128i *)buf));
		buf += 16;
		len -= 16;
	}
#undef FOLD

	/* 128 -> 96 bits: lo * k4 added to hi */
	t = _mm_clmulepi64_si128(a0, k3k4, 0x10);
	a0 = _mm_xor_si128(_mm_srli_si128(a0, 8), t);
	/* 96 -> 64 bits: the low 32 bits times k5 added to the rest */
	t = _mm_srli_si128(a0, 4);
	a0 = _mm_clmulepi64_si128(_mm_and_si128(a0, low32), k5, 0x00);
	a0 = _mm_xor_si128(a0, t);
	/* Barrett: q = (low 32 bits * mu) mod x^32, crc = bits 32..63 of (a ^ q * P) */
	t = _mm_clmulepi64_si128(_mm_and_si128(a0, low32), pmu, 0x10);
	t = _mm_clmulepi64_si128(_mm_and_si128(t, low32), pmu, 0x00);
	a0 = _mm_xor_si128(a0, t);
	return (uint32_t)_mm_extract_epi32(a0, 1);
}

/* A test of bits libgcc read from CPUID at start-up: cheap enough per call. */
static int have_pclmul(void)
{
	return __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.1");
}
#endif

uint32_t store_crc32(uint32_t crc, const void *buf, size_t len)
{
	const unsigned char *p = buf;

	if (len == 0)
		return crc;
#if defined(__x86_64__) && defined(__GNUC__)
	if (len >= 64 && have_pclmul()) {
		size_t n = len & ~(size_t)15;

		crc = ~fold_pclmul(~crc, p, n);
		p += n;
		len -= n;
		if (len == 0)
			return crc;
	}
#endif
	return (uint32_t)crc32_z(crc, p, len);
}
