/*
 * DIMSE send framing: builds P-DATA-TF PDUs (PS3.8 9.3.5) holding one PDV each (9.3.5.1,
 * Annex E.2) from an encoded command set or data set bytes, honouring the peer's Maximum
 * Length (PS3.8 D.1: it bounds the P-DATA-TF variable field, i.e. PDV header + fragment).
 * Owns struct dimse_txbuf, the growable buffer the PDUs are appended to.
 */
#include "dimse/tx.h"

#include <stdlib.h>
#include <string.h>

void dimse_txbuf_init(struct dimse_txbuf *b)
{
	b->data = NULL;
	b->len = b->cap = 0;
}

void dimse_txbuf_free(struct dimse_txbuf *b)
{
	free(b->data);
	dimse_txbuf_init(b);
}

void dimse_txbuf_reset(struct dimse_txbuf *b)
{
	b->len = 0;
}

uint8_t *dimse_txbuf_steal(struct dimse_txbuf *b, size_t *len)
{
	uint8_t *p = b->len ? b->data : NULL;

	*len = b->len;
	if (p == NULL)
		free(b->data);
	dimse_txbuf_init(b);
	return p;
}

static int reserve(struct dimse_txbuf *b, size_t extra)
{
	size_t cap;
	uint8_t *p;

	if (extra <= b->cap - b->len)
		return 0;
	if (extra > SIZE_MAX / 2 - b->len)
		return DIMSE_E_NOMEM;
	cap = b->cap ? b->cap : 1024;
	while (cap - b->len < extra)
		cap *= 2;
	p = realloc(b->data, cap);
	if (p == NULL)
		return DIMSE_E_NOMEM;
	b->data = p;
	b->cap = cap;
	return 0;
}

static void put32be(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* Largest fragment per PDU for this max_pdu, or 0 when max_pdu cannot carry one byte. */
static size_t max_fragment(uint32_t max_pdu)
{
	if (max_pdu == 0)
		max_pdu = DIMSE_TX_DEFAULT_PDU;
	return max_pdu > 6 ? (size_t)max_pdu - 6 : 0;
}

/*
 * Append PDUs for bytes[0..len) with control header base (0 or DIMSE_MCH_COMMAND); the final
 * fragment gets DIMSE_MCH_LAST when last. Space for everything is reserved first so that a
 * failure leaves out unchanged.
 */
static int emit(struct dimse_txbuf *out, uint8_t pc_id, uint8_t base, const uint8_t *bytes,
		size_t len, bool last, uint32_t max_pdu)
{
	size_t frag = max_fragment(max_pdu), npdu, pos = 0;
	int rc;

	if (frag == 0)
		return DIMSE_E_INVAL;
	if (len == 0 && !last)
		return 0;
	npdu = len == 0 ? 1 : (len - 1) / frag + 1;
	if (npdu > (SIZE_MAX - len) / DIMSE_TX_OVERHEAD)
		return DIMSE_E_NOMEM;
	rc = reserve(out, len + npdu * DIMSE_TX_OVERHEAD);
	if (rc < 0)
		return rc;
	do {
		size_t n = len - pos < frag ? len - pos : frag;
		uint8_t *p = out->data + out->len;
		bool final = pos + n == len;

		p[0] = 0x04; /* P-DATA-TF, PS3.8 9.3.5 */
		p[1] = 0x00;
		put32be(p + 2, (uint32_t)(n + 6));  /* PDU length: PDV item incl. its length field */
		put32be(p + 6, (uint32_t)(n + 2));  /* PDV item length: pc id + mch + fragment */
		p[10] = pc_id;
		p[11] = (uint8_t)(base | (final && last ? DIMSE_MCH_LAST : 0));
		if (n > 0)
			memcpy(p + 12, bytes + pos, n);
		out->len += DIMSE_TX_OVERHEAD + n;
		pos += n;
	} while (pos < len);
	return 0;
}

int dimse_tx_command(struct dimse_txbuf *out, uint8_t pc_id, const struct dimse_cmd *cmd,
		     uint32_t max_pdu)
{
	uint8_t buf[DIMSE_MAX_ENCODED];
	size_t n;
	int rc;

	if (max_fragment(max_pdu) == 0)
		return DIMSE_E_INVAL;
	rc = dimse_cmd_encode(cmd, buf, sizeof(buf), &n);
	if (rc < 0)
		return rc == DIMSE_E_NOSPACE ? DIMSE_E_INVAL : rc;
	return emit(out, pc_id, DIMSE_MCH_COMMAND, buf, n, true, max_pdu);
}

int dimse_tx_data(struct dimse_txbuf *out, uint8_t pc_id, const uint8_t *data, size_t len,
		  bool last, uint32_t max_pdu)
{
	return emit(out, pc_id, 0x00, data, len, last, max_pdu);
}
