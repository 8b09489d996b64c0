/*
 * Tests for src/dimse/tx.c: P-DATA-TF framing (PS3.8 9.3.5, 9.3.5.1, Annex E.2, D.1).
 * Exact header bytes, splitting at the max_pdu boundaries, and a full loop: the PDUs produced
 * are parsed back and fed through dimse_rx to recover the same command and data set.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "dimse/rx.h"
#include "dimse/tx.h"
#include "vectors.h"

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Walk a buffer of PDUs checking framing invariants; returns the number of PDUs and the sum of
 * fragment bytes; each PDU carries one PDV whose variable field is <= max_pdu; all fragments
 * have the command bit == cmd; only the final one has the last bit when want_last. */
struct walk {
	size_t npdu, bytes;
	size_t frag_len[4096];
};

static void walk(const struct dimse_txbuf *b, uint8_t pc, bool cmd, bool want_last,
		 uint32_t max_pdu, struct walk *w)
{
	size_t pos = 0;
	memset(w, 0, sizeof(*w));
	while (pos < b->len) {
		uint32_t plen, ilen;
		uint8_t mch;
		cr_assert_geq(b->len - pos, 12);
		cr_assert_eq(b->data[pos], 0x04, "P-DATA-TF type");
		cr_assert_eq(b->data[pos + 1], 0x00, "reserved");
		plen = be32(b->data + pos + 2);
		ilen = be32(b->data + pos + 6);
		cr_assert_eq(plen, ilen + 4, "one PDV per PDU");
		if (max_pdu)
			cr_assert_leq(plen, max_pdu, "variable field within max_pdu");
		cr_assert_eq(b->data[pos + 10], pc);
		mch = b->data[pos + 11];
		cr_assert_eq(mch & 1, cmd ? 1 : 0);
		cr_assert_eq(mch & ~3, 0);
		pos += 6 + plen;
		cr_assert_leq(pos, b->len);
		cr_assert_eq((mch & 2) != 0, want_last && pos == b->len, "last bit only on the final PDV");
		cr_assert_lt(w->npdu, 4096);
		w->frag_len[w->npdu++] = ilen - 2;
		w->bytes += ilen - 2;
	}
}

Test(tx, echo_exact_bytes)
{
	struct dimse_txbuf b = { 0 };
	struct dimse_cmd c;
	static const uint8_t hdr[12] = {
		0x04, 0x00,             /* P-DATA-TF, reserved */
		0x00, 0x00, 0x00, 0x4A, /* PDU length = 4 + 2 + 68 = 74 */
		0x00, 0x00, 0x00, 0x46, /* PDV item length = 2 + 68 = 70 */
		0x01,                   /* presentation context ID */
		0x03,                   /* command, last */
	};

	dimse_echo_rq(&c, 1);
	cr_assert_eq(dimse_tx_command(&b, 1, &c, 0), 0);
	cr_assert_eq(b.len, 12 + sizeof(ECHO_RQ_DCMTK));
	cr_assert_arr_eq(b.data, hdr, 12);
	cr_assert_arr_eq(b.data + 12, ECHO_RQ_DCMTK, sizeof(ECHO_RQ_DCMTK));
	dimse_txbuf_free(&b);
	cr_assert_null(b.data);
}

/* max_pdu around the command size L: L+6 fits one PDU, L+5 needs two, 7 needs L. */
Test(tx, command_split_boundaries)
{
	struct dimse_txbuf b;
	struct dimse_cmd c;
	struct walk *w = malloc(sizeof(*w));
	const size_t L = sizeof(STORE_RQ_DCMTK);
	uint32_t m;

	dimse_txbuf_init(&b);
	dimse_store_rq(&c, 1, "1.2.840.10008.5.1.4.1.1.4", "1.2.826.0.1.3680043.2.1125.1.42", 0);
	for (m = 7; m <= L + 20; m++) {
		size_t k, expect = (L + (m - 6) - 1) / (m - 6);
		dimse_txbuf_reset(&b);
		cr_assert_eq(dimse_tx_command(&b, 3, &c, m), 0);
		walk(&b, 3, true, true, m, w);
		cr_assert_eq(w->npdu, expect, "max_pdu %u", m);
		cr_assert_eq(w->bytes, L);
		for (k = 0; k + 1 < w->npdu; k++)
			cr_assert_eq(w->frag_len[k], m - 6, "full fragments first");
		cr_assert_eq(b.len, L + 12 * expect);
	}
	dimse_txbuf_reset(&b);
	cr_assert_eq(dimse_tx_command(&b, 3, &c, L + 6), 0);
	walk(&b, 3, true, true, L + 6, w);
	cr_assert_eq(w->npdu, 1);
	dimse_txbuf_reset(&b);
	cr_assert_eq(dimse_tx_command(&b, 3, &c, L + 5), 0);
	walk(&b, 3, true, true, L + 5, w);
	cr_assert_eq(w->npdu, 2);
	cr_assert_eq(w->frag_len[1], 1);
	free(w);
	dimse_txbuf_free(&b);
}

Test(tx, invalid_arguments_leave_buffer)
{
	struct dimse_txbuf b = { 0 };
	struct dimse_cmd c;
	uint32_t m;

	dimse_echo_rq(&c, 1);
	cr_assert_eq(dimse_tx_command(&b, 1, &c, 0), 0);
	for (m = 1; m <= 6; m++) {
		cr_assert_eq(dimse_tx_command(&b, 1, &c, m), DIMSE_E_INVAL, "max_pdu %u", m);
		cr_assert_eq(dimse_tx_data(&b, 1, (const uint8_t *)"x", 1, true, m), DIMSE_E_INVAL);
	}
	c.has_message_id = false;
	cr_assert_eq(dimse_tx_command(&b, 1, &c, 0), DIMSE_E_INVAL);
	cr_assert_eq(b.len, 12 + sizeof(ECHO_RQ_DCMTK));
	dimse_txbuf_free(&b);
}

Test(tx, data_fragments)
{
	struct dimse_txbuf b = { 0 };
	struct walk *w = malloc(sizeof(*w));
	size_t len = 100000, i;
	uint8_t *d = malloc(len);

	for (i = 0; i < len; i++)
		d[i] = (uint8_t)(i ^ (i >> 8));
	/* default limit: 16 KiB variable fields */
	cr_assert_eq(dimse_tx_data(&b, 5, d, len, true, 0), 0);
	walk(&b, 5, false, true, DIMSE_TX_DEFAULT_PDU, w);
	cr_assert_eq(w->npdu, (len + DIMSE_TX_DEFAULT_PDU - 7) / (DIMSE_TX_DEFAULT_PDU - 6));
	cr_assert_eq(w->bytes, len);
	cr_assert_eq(be32(b.data + 2), DIMSE_TX_DEFAULT_PDU);

	/* huge limit: one PDU */
	dimse_txbuf_reset(&b);
	cr_assert_eq(dimse_tx_data(&b, 5, d, len, true, 0xFFFFFFFFu), 0);
	walk(&b, 5, false, true, 0, w);
	cr_assert_eq(w->npdu, 1);

	/* streamed in three calls, last only on the final call */
	dimse_txbuf_reset(&b);
	cr_assert_eq(dimse_tx_data(&b, 5, d, 1000, false, 512), 0);
	cr_assert_eq(dimse_tx_data(&b, 5, d + 1000, 0, false, 512), 0); /* appends nothing */
	cr_assert_eq(dimse_tx_data(&b, 5, d + 1000, 1000, true, 512), 0);
	walk(&b, 5, false, true, 512, w);
	cr_assert_eq(w->npdu, 4); /* 506 + 494, 506 + 494 */
	cr_assert_eq(w->frag_len[1], 494);
	cr_assert_eq(w->bytes, 2000);

	/* zero-length last: one empty PDV with mch 02 */
	dimse_txbuf_reset(&b);
	cr_assert_eq(dimse_tx_data(&b, 9, NULL, 0, true, 0), 0);
	cr_assert_eq(b.len, 12);
	cr_assert_eq(be32(b.data + 2), 6);
	cr_assert_eq(be32(b.data + 6), 2);
	cr_assert_eq(b.data[11], 0x02);
	free(d);
	free(w);
	dimse_txbuf_free(&b);
}

Test(tx, steal)
{
	struct dimse_txbuf b = { 0 };
	struct dimse_cmd c;
	size_t n = 99;
	uint8_t *p = dimse_txbuf_steal(&b, &n);

	cr_assert_null(p);
	cr_assert_eq(n, 0);
	dimse_echo_rq(&c, 1);
	cr_assert_eq(dimse_tx_command(&b, 1, &c, 0), 0);
	p = dimse_txbuf_steal(&b, &n);
	cr_assert_not_null(p);
	cr_assert_eq(n, 12 + sizeof(ECHO_RQ_DCMTK));
	cr_assert_eq(b.len, 0);
	cr_assert_null(b.data);
	free(p);
}

/* ---- full loop through rx --------------------------------------------------------------- */

struct sink {
	struct dimse_cmd cmd[4];
	int n_cmd;
	uint8_t *data;
	size_t data_len;
	int n_last;
};

static int s_cmd(void *ctx, uint8_t pc, const struct dimse_cmd *c)
{
	struct sink *s = ctx;
	cr_assert_lt(s->n_cmd, 4);
	s->cmd[s->n_cmd++] = *c;
	return 0;
}

static int s_data(void *ctx, uint8_t pc, const uint8_t *buf, size_t len, bool last)
{
	struct sink *s = ctx;
	if (len)
		memcpy(s->data + s->data_len, buf, len);
	s->data_len += len;
	s->n_last += last;
	return 0;
}

/* Feed every PDU's variable field to rx. */
static void feed_pdus(struct dimse_rx *rx, const struct dimse_txbuf *b)
{
	size_t pos = 0;
	while (pos < b->len) {
		uint32_t plen = be32(b->data + pos + 2);
		cr_assert_eq(b->data[pos], 0x04);
		cr_assert_eq(dimse_rx_pdata(rx, b->data + pos + 6, plen), 0);
		pos += 6 + plen;
	}
	cr_assert_eq(pos, b->len);
}

Test(tx, loop_through_rx)
{
	static const uint32_t limits[] = { 7, 8, 50, 133, 16384, 0 };
	size_t li, dlen = 40000, i;
	uint8_t *d = malloc(dlen);

	for (i = 0; i < dlen; i++)
		d[i] = (uint8_t)(i * 13);
	for (li = 0; li < sizeof(limits) / sizeof(limits[0]); li++) {
		struct sink s = { .data = malloc(dlen) };
		struct dimse_rx_cb cb = { &s, s_cmd, s_data };
		struct dimse_rx rx;
		struct dimse_txbuf b = { 0 };
		struct dimse_cmd c, rsp;
		uint8_t e1[DIMSE_MAX_ENCODED], e2[DIMSE_MAX_ENCODED];
		size_t n1, n2;

		dimse_rx_init(&rx, &cb);
		dimse_store_rq(&c, 77, "1.2.840.10008.5.1.4.1.1.4", "1.2.3.4.5.6.7", DIMSE_PRIORITY_HIGH);
		strcpy(c.move_originator_ae, "ORIGIN");
		c.move_originator_id = 4;
		c.has_move_originator_id = true;
		cr_assert_eq(dimse_tx_command(&b, 11, &c, limits[li]), 0);
		cr_assert_eq(dimse_tx_data(&b, 11, d, dlen / 3, false, limits[li]), 0);
		cr_assert_eq(dimse_tx_data(&b, 11, d + dlen / 3, dlen - dlen / 3, true, limits[li]), 0);
		dimse_store_rsp(&rsp, &c, 0);
		cr_assert_eq(dimse_tx_command(&b, 11, &rsp, limits[li]), 0);
		feed_pdus(&rx, &b);

		cr_assert(dimse_rx_idle(&rx));
		cr_assert_eq(s.n_cmd, 2);
		cr_assert_eq(dimse_cmd_encode(&c, e1, sizeof(e1), &n1), 0);
		cr_assert_eq(dimse_cmd_encode(&s.cmd[0], e2, sizeof(e2), &n2), 0);
		cr_assert_eq(n1, n2);
		cr_assert_arr_eq(e1, e2, n1, "same command back, max_pdu %u", limits[li]);
		cr_assert_str_eq(s.cmd[0].move_originator_ae, "ORIGIN");
		cr_assert_eq(s.cmd[1].command_field, DIMSE_C_STORE_RSP);
		cr_assert_eq(s.cmd[1].message_id_responded, 77);
		cr_assert_eq(s.data_len, dlen);
		cr_assert_arr_eq(s.data, d, dlen);
		cr_assert_eq(s.n_last, 1);
		dimse_rx_free(&rx);
		dimse_txbuf_free(&b);
		free(s.data);
	}
	free(d);
}
