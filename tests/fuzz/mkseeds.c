/*
 * Writes the PDU and DIMSE seed corpora (tests/fuzz/corpus/{pdu,dimse}) from the captured dcmtk
 * vectors of tests/ul and tests/dimse. Run by hand from the source tree root:
 *   cc -Itests/ul -Itests/dimse tests/fuzz/mkseeds.c -o /tmp/mkseeds && /tmp/mkseeds
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vectors.h"             /* tests/ul */
#include "../dimse/vectors.h"    /* tests/dimse */

static void put(const char *path, const uint8_t *a, size_t na, const uint8_t *b, size_t nb)
{
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(a, 1, na, f) != na || (nb && fwrite(b, 1, nb, f) != nb) || fclose(f)) {
		perror(path);
		exit(1);
	}
}

int main(void)
{
	static const uint8_t odd = 1;
	uint8_t s[1024];
	size_t n = 0;

	put("tests/fuzz/corpus/pdu/echoscu_rq", echoscu_rq, sizeof echoscu_rq, NULL, 0);
	put("tests/fuzz/corpus/pdu/storescp_ac", storescp_ac, sizeof storescp_ac, NULL, 0);
	put("tests/fuzz/corpus/pdu/echoscu_pdata_cmd", echoscu_pdata_cmd, sizeof echoscu_pdata_cmd, NULL, 0);
	put("tests/fuzz/corpus/pdu/storescp_pdata_rsp", storescp_pdata_rsp, sizeof storescp_pdata_rsp, NULL, 0);
	put("tests/fuzz/corpus/pdu/echoscu_release_rq", echoscu_release_rq, sizeof echoscu_release_rq, NULL, 0);
	put("tests/fuzz/corpus/pdu/storescp_release_rp", storescp_release_rp, sizeof storescp_release_rp, NULL, 0);
	/* DIMSE: odd first byte = a command set */
	put("tests/fuzz/corpus/dimse/echo_rq", &odd, 1, ECHO_RQ_DCMTK, sizeof ECHO_RQ_DCMTK);
	put("tests/fuzz/corpus/dimse/store_rq", &odd, 1, STORE_RQ_DCMTK, sizeof STORE_RQ_DCMTK);
	put("tests/fuzz/corpus/dimse/echo_rsp", &odd, 1, ECHO_RSP_HAND, sizeof ECHO_RSP_HAND);
	/* even first byte = a PDV stream [pc, control header, n, n bytes]... */
	s[n++] = 0;
	s[n++] = 1; s[n++] = 1; s[n++] = 40;
	memcpy(s + n, STORE_RQ_DCMTK, 40); n += 40;
	s[n++] = 1; s[n++] = 3; s[n++] = (uint8_t)(sizeof STORE_RQ_DCMTK - 40);
	memcpy(s + n, STORE_RQ_DCMTK + 40, sizeof STORE_RQ_DCMTK - 40);
	n += sizeof STORE_RQ_DCMTK - 40;
	s[n++] = 1; s[n++] = 0; s[n++] = 5;
	memcpy(s + n, "abcde", 5); n += 5;
	s[n++] = 1; s[n++] = 2; s[n++] = 0;
	s[n++] = 1; s[n++] = 3; s[n++] = (uint8_t)sizeof ECHO_RQ_DCMTK;
	memcpy(s + n, ECHO_RQ_DCMTK, sizeof ECHO_RQ_DCMTK); n += sizeof ECHO_RQ_DCMTK;
	put("tests/fuzz/corpus/dimse/pdv_stream", s, n, NULL, 0);
	return 0;
}
