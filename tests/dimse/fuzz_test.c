/*
 * Runs the DIMSE fuzz driver (fuzz_dimse.c) on deterministic mutations of real command sets
 * and PDV streams: bit flips, byte overwrites with boundary values, truncation, insertion.
 * Under ASan/UBSan (CI) this catches out-of-bounds reads; everywhere it checks the re-encode
 * fixed point and sticky rx errors.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "dimse/command.h"
#include "fuzz_dimse.h"
#include "vectors.h"

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint32_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng >> 11);
}

/* seed = mode byte + payload */
static size_t make_seed(uint8_t *out, int which)
{
	size_t n = 1;
	switch (which) {
	case 0:
		out[0] = 1;
		memcpy(out + 1, ECHO_RQ_DCMTK, sizeof(ECHO_RQ_DCMTK));
		return 1 + sizeof(ECHO_RQ_DCMTK);
	case 1:
		out[0] = 1;
		memcpy(out + 1, STORE_RQ_DCMTK, sizeof(STORE_RQ_DCMTK));
		return 1 + sizeof(STORE_RQ_DCMTK);
	case 2:
		out[0] = 1;
		memcpy(out + 1, ECHO_RSP_HAND, sizeof(ECHO_RSP_HAND));
		return 1 + sizeof(ECHO_RSP_HAND);
	default: /* PDV stream: store command in two fragments, data, echo */
		out[0] = 0;
		out[n++] = 1; out[n++] = 1; out[n++] = 40;
		memcpy(out + n, STORE_RQ_DCMTK, 40); n += 40;
		out[n++] = 1; out[n++] = 3; out[n++] = (uint8_t)(sizeof(STORE_RQ_DCMTK) - 40);
		memcpy(out + n, STORE_RQ_DCMTK + 40, sizeof(STORE_RQ_DCMTK) - 40);
		n += sizeof(STORE_RQ_DCMTK) - 40;
		out[n++] = 1; out[n++] = 0; out[n++] = 5;
		memcpy(out + n, "abcde", 5); n += 5;
		out[n++] = 1; out[n++] = 2; out[n++] = 0;
		out[n++] = 1; out[n++] = 3; out[n++] = (uint8_t)sizeof(ECHO_RQ_DCMTK);
		memcpy(out + n, ECHO_RQ_DCMTK, sizeof(ECHO_RQ_DCMTK)); n += sizeof(ECHO_RQ_DCMTK);
		return n;
	}
}

Test(fuzz, seeds_pass)
{
	uint8_t buf[1024];
	int s;
	for (s = 0; s < 4; s++) {
		size_t n = make_seed(buf, s);
		cr_assert_eq(dimse_fuzz_one(buf, n), 0, "seed %d", s);
	}
}

Test(fuzz, mutations)
{
	static const uint8_t interesting[] = { 0x00, 0x01, 0x02, 0x03, 0x7F, 0x80, 0xFE, 0xFF };
	uint8_t buf[1100];
	int iter;

	for (iter = 0; iter < 60000; iter++) {
		size_t n = make_seed(buf, iter % 4);
		int k, nmut = 1 + (int)(next() % 4);
		for (k = 0; k < nmut; k++) {
			size_t at = 1 + next() % (n - 1);
			switch (next() % 5) {
			case 0: buf[at] ^= (uint8_t)(1u << (next() % 8)); break;
			case 1: buf[at] = interesting[next() % sizeof(interesting)]; break;
			case 2: n = at; break; /* truncate */
			case 3: /* insert a byte */
				if (n < sizeof(buf) - 1) {
					memmove(buf + at + 1, buf + at, n - at);
					buf[at] = (uint8_t)next();
					n++;
				}
				break;
			default: buf[at] = (uint8_t)next(); break;
			}
			if (n < 2)
				break;
		}
		cr_assert_eq(dimse_fuzz_one(buf, n), 0, "iteration %d", iter);
	}
}
