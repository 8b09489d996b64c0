/*
 * Fuzz driver for the Upper Layer PDU codec: every decoder of src/ul/pdu.c over arbitrary
 * bytes, and a re-encode of whatever decodes (which must decode again to the same struct).
 *
 * Two builds from this one file:
 *  - libFuzzer (clang): clang -fsanitize=fuzzer,address,undefined -DUL_LIBFUZZER -Isrc
 *      -Itests/ul tests/ul/pdu_fuzz.c src/ul/pdu.c -o pdu_fuzz && ./pdu_fuzz
 *  - the test suite (any C11 compiler): a deterministic mutation run over the captured
 *    dcmtk PDUs, so every `make check` exercises the decoders with a few hundred thousand
 *    mangled inputs; exits non-zero if a decode/encode/decode round trip disagrees.
 */
#include "ul/pdu.h"
#include "vectors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct ul_assoc_rq rq, rq2;
static struct ul_assoc_ac ac, ac2;
static uint8_t enc[1 << 20];

/* Whatever decodes must encode and decode back to the same struct (less the flag that
 * says a user-identity field was cut: the re-encoded one is already short). */
static void check_rq_round_trip(void)
{
	size_t w;
	rq.ui.ui_truncated = false;
	if (ul_assoc_rq_encode(&rq, enc, sizeof enc, &w) != 0)
		abort();
	if (ul_assoc_rq_decode(enc + 6, w - 6, &rq2) != 0 || memcmp(&rq, &rq2, sizeof rq) != 0)
		abort();
}

static void check_ac_round_trip(void)
{
	size_t w;
	ac.ui.ui_truncated = false;
	/* a decoded AC may hold a rejected context whose TS is "": still encodable */
	if (ul_assoc_ac_encode(&ac, enc, sizeof enc, &w) != 0)
		abort();
	if (ul_assoc_ac_decode(enc + 6, w - 6, &ac2) != 0 || memcmp(&ac, &ac2, sizeof ac) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t type, a, b, c;
	uint32_t blen;

	/* as a framed PDU */
	if (ul_pdu_header(data, size, &type, &blen) == 0 && ul_pdu_check(type, blen) == 0 &&
	    blen <= size - 6) {
		const uint8_t *body = data + 6;
		switch (type) {
		case UL_PDU_ASSOC_RQ:
			if (ul_assoc_rq_decode(body, blen, &rq) == 0)
				check_rq_round_trip();
			break;
		case UL_PDU_ASSOC_AC:
			if (ul_assoc_ac_decode(body, blen, &ac) == 0)
				check_ac_round_trip();
			break;
		case UL_PDU_ASSOC_RJ:
			(void)ul_assoc_rj_decode(body, blen, &a, &b, &c);
			break;
		case UL_PDU_PDATA_TF: {
			size_t off = 0;
			struct ul_pdv pdv;
			size_t total = 0;
			while (ul_pdata_next(body, blen, &off, &pdv) == 1)
				total += pdv.len + 6;
			if (total > blen)
				abort();
			break;
		}
		case UL_PDU_RELEASE_RQ:
		case UL_PDU_RELEASE_RP:
			(void)ul_release_decode(body, blen);
			break;
		case UL_PDU_ABORT:
			(void)ul_abort_decode(body, blen, &a, &b);
			break;
		}
	}
	/* and the raw bytes as each kind of body, which reaches deeper than framed input */
	if (ul_assoc_rq_decode(data, size, &rq) == 0)
		check_rq_round_trip();
	if (ul_assoc_ac_decode(data, size, &ac) == 0)
		check_ac_round_trip();
	return 0;
}

#ifndef UL_LIBFUZZER
/* xorshift32: fixed seed, so a failure reproduces */
static uint32_t rnd(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

int main(int argc, char **argv)
{
	static const struct {
		const uint8_t *p;
		size_t n;
	} seeds[] = {
		{echoscu_rq, sizeof echoscu_rq},
		{storescp_ac, sizeof storescp_ac},
		{echoscu_pdata_cmd, sizeof echoscu_pdata_cmd},
		{storescp_pdata_rsp, sizeof storescp_pdata_rsp},
		{echoscu_release_rq, sizeof echoscu_release_rq},
	};
	long iters = argc > 1 ? atol(argv[1]) : 20000;
	uint32_t s = 0x2545f491u;
	uint8_t buf[512];
	long decoded = 0;
	for (long i = 0; i < iters; i++) {
		size_t k = rnd(&s) % (sizeof seeds / sizeof seeds[0]);
		size_t n = seeds[k].n;
		memcpy(buf, seeds[k].p, n);
		unsigned flips = 1 + rnd(&s) % 4;
		for (unsigned f = 0; f < flips; f++) {
			uint32_t r = rnd(&s);
			switch (r % 4) {
			case 0: /* random byte */
				buf[rnd(&s) % n] = (uint8_t)rnd(&s);
				break;
			case 1: /* nudge a byte: hits length fields */
				buf[rnd(&s) % n] += (r & 16) ? 1 : 0xff;
				break;
			case 2: /* truncate */
				n = rnd(&s) % n + 1;
				break;
			default: /* zero a byte */
				buf[rnd(&s) % n] = 0;
				break;
			}
		}
		/* exact-size heap copy so ASan sees over-reads */
		uint8_t *in = malloc(n);
		if (!in)
			return 2;
		memcpy(in, buf, n);
		LLVMFuzzerTestOneInput(in, n);
		if (n >= 6 && ul_assoc_rq_decode(in + 6, n - 6, &rq) == 0)
			decoded++;
		free(in);
	}
	printf("pdu_fuzz: %ld inputs, %ld still decoded as an RQ\n", iters, decoded);
	/* the mutations must leave some inputs valid, or the run proves little */
	return decoded > 0 ? 0 : 1;
}
#endif
