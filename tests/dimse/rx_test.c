/*
 * Tests for src/dimse/rx.c: DIMSE message reassembly from PDVs (PS3.8 9.3.5.1, Annex E.2).
 * Fragmentation at every size, streaming of data set bytes in order, every protocol error,
 * callback error propagation, the command size cap and P-DATA-TF field parsing.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "dimse/rx.h"
#include "vectors.h"

#define MCH_DATA 0x00
#define MCH_DATA_LAST 0x02
#define MCH_CMD 0x01
#define MCH_CMD_LAST 0x03

/* What the callbacks saw. */
struct rec {
	int n_cmd;
	struct dimse_cmd cmd[8];
	uint8_t cmd_pc[8];
	bool idle_in_cb[8];
	uint8_t data[200000];
	size_t data_len;
	int n_data_calls, n_last;
	size_t last_len;
	uint8_t data_pc;
	char log[256]; /* 'C' per command, 'd' per fragment, 'L' per last fragment */
	int cmd_ret, data_ret; /* what the callbacks return */
	struct dimse_rx *rx;
};

static void logc(struct rec *r, char ch)
{
	size_t n = strlen(r->log);
	if (n + 1 < sizeof(r->log)) {
		r->log[n] = ch;
		r->log[n + 1] = '\0';
	}
}

static int on_command(void *ctx, uint8_t pc_id, const struct dimse_cmd *cmd)
{
	struct rec *r = ctx;
	if (r->n_cmd < 8) {
		r->cmd[r->n_cmd] = *cmd;
		r->cmd_pc[r->n_cmd] = pc_id;
		r->idle_in_cb[r->n_cmd] = dimse_rx_idle(r->rx);
	}
	r->n_cmd++;
	logc(r, 'C');
	return r->cmd_ret;
}

static int on_data(void *ctx, uint8_t pc_id, const uint8_t *buf, size_t len, bool last)
{
	struct rec *r = ctx;
	cr_assert_leq(r->data_len + len, sizeof(r->data));
	if (len > 0)
		memcpy(r->data + r->data_len, buf, len);
	r->data_len += len;
	r->n_data_calls++;
	r->data_pc = pc_id;
	if (last) {
		r->n_last++;
		r->last_len = len;
	}
	logc(r, last ? 'L' : 'd');
	return r->data_ret;
}

static struct rec *R;
static struct dimse_rx RX;

static void setup(void)
{
	struct dimse_rx_cb cb;
	R = calloc(1, sizeof(*R));
	cr_assert_not_null(R);
	cb.ctx = R;
	cb.on_command = on_command;
	cb.on_data = on_data;
	dimse_rx_init(&RX, &cb);
	R->rx = &RX;
}

static void teardown(void)
{
	dimse_rx_free(&RX);
	free(R);
}

TestSuite(rx, .init = setup, .fini = teardown);

static int feed_cmd(uint8_t pc, const uint8_t *cmd, size_t len)
{
	return dimse_rx_pdv(&RX, pc, MCH_CMD_LAST, cmd, len);
}

Test(rx, echo_in_one_pdv)
{
	cr_assert(dimse_rx_idle(&RX));
	cr_assert_eq(feed_cmd(1, ECHO_RQ_DCMTK, sizeof(ECHO_RQ_DCMTK)), 0);
	cr_assert_eq(R->n_cmd, 1);
	cr_assert_eq(R->cmd[0].command_field, DIMSE_C_ECHO_RQ);
	cr_assert_eq(R->cmd_pc[0], 1);
	cr_assert(R->idle_in_cb[0], "no data set: idle already inside the callback");
	cr_assert(dimse_rx_idle(&RX));
	/* and a second message on another context */
	cr_assert_eq(feed_cmd(3, ECHO_RQ_DCMTK, sizeof(ECHO_RQ_DCMTK)), 0);
	cr_assert_eq(R->n_cmd, 2);
	cr_assert_eq(R->cmd_pc[1], 3);
	cr_assert_eq(R->n_data_calls, 0);
}

/* The C-STORE-RQ command split into fragments of every size from 1 to its length, followed by
 * a data set split into fragments of a different size; everything arrives once and in order. */
Test(rx, store_split_every_size)
{
	static uint8_t ds[5000];
	size_t i, frag;
	int msgs = 0;

	for (i = 0; i < sizeof(ds); i++)
		ds[i] = (uint8_t)(i * 7 + i / 256);
	for (frag = 1; frag <= sizeof(STORE_RQ_DCMTK); frag++) {
		size_t pos, dfrag = frag * 37 % 997 + 1;
		R->data_len = 0;
		for (pos = 0; pos < sizeof(STORE_RQ_DCMTK); pos += frag) {
			size_t n = sizeof(STORE_RQ_DCMTK) - pos < frag ? sizeof(STORE_RQ_DCMTK) - pos : frag;
			bool last = pos + n == sizeof(STORE_RQ_DCMTK);
			cr_assert(last || !dimse_rx_idle(&RX) || pos == 0);
			cr_assert_eq(dimse_rx_pdv(&RX, 5, last ? MCH_CMD_LAST : MCH_CMD, STORE_RQ_DCMTK + pos, n), 0);
			if (!last)
				cr_assert_eq(R->n_cmd, msgs, "command delivered before its last fragment");
		}
		msgs++;
		cr_assert_eq(R->n_cmd, msgs);
		cr_assert_not(dimse_rx_idle(&RX), "waiting for the data set");
		for (pos = 0; pos < sizeof(ds); pos += dfrag) {
			size_t n = sizeof(ds) - pos < dfrag ? sizeof(ds) - pos : dfrag;
			bool last = pos + n == sizeof(ds);
			cr_assert_eq(dimse_rx_pdv(&RX, 5, last ? MCH_DATA_LAST : MCH_DATA, ds + pos, n), 0);
		}
		cr_assert(dimse_rx_idle(&RX));
		cr_assert_eq(R->data_len, sizeof(ds));
		cr_assert_arr_eq(R->data, ds, sizeof(ds));
		cr_assert_eq(R->n_last, msgs);
		cr_assert_eq(R->data_pc, 5);
	}
	cr_assert_eq(R->cmd[0].command_field, DIMSE_C_STORE_RQ);
	cr_assert_str_eq(R->cmd[0].affected_sop_instance, "1.2.826.0.1.3680043.2.1125.1.42");
}

Test(rx, zero_length_fragments)
{
	/* empty command fragments are harmless; an empty last data PDV is legal (PS3.8 E.2) */
	cr_assert_eq(dimse_rx_pdv(&RX, 1, MCH_CMD, NULL, 0), 0);
	cr_assert_eq(dimse_rx_pdv(&RX, 1, MCH_CMD_LAST, STORE_RQ_DCMTK, sizeof(STORE_RQ_DCMTK)), 0);
	cr_assert_eq(dimse_rx_pdv(&RX, 1, MCH_DATA, (const uint8_t *)"abcdefghij", 10), 0);
	cr_assert_eq(dimse_rx_pdv(&RX, 1, MCH_DATA, NULL, 0), 0);
	cr_assert_eq(dimse_rx_pdv(&RX, 1, MCH_DATA_LAST, NULL, 0), 0);
	cr_assert(dimse_rx_idle(&RX));
	cr_assert_str_eq(R->log, "CdL");
	cr_assert_eq(R->data_len, 10);
	cr_assert_eq(R->n_last, 1);
	cr_assert_eq(R->last_len, 0);
}

static void assert_sticky(int err)
{
	/* once failed, everything returns the first error and no callback runs */
	int n_cmd = R->n_cmd, n_data = R->n_data_calls;
	cr_assert_eq(feed_cmd(1, ECHO_RQ_DCMTK, sizeof(ECHO_RQ_DCMTK)), err);
	cr_assert_eq(dimse_rx_pdv(&RX, 1, MCH_DATA_LAST, NULL, 0), err);
	cr_assert_eq(R->n_cmd, n_cmd);
	cr_assert_eq(R->n_data_calls, n_data);
	cr_assert_not(dimse_rx_idle(&RX));
}

Test(rx, data_without_command)
{
	cr_assert_eq(dimse_rx_pdv(&RX, 1, MCH_DATA_LAST, (const uint8_t *)"x", 1), DIMSE_E_DATA_WITHOUT_COMMAND);
	cr_assert_eq(R->n_data_calls, 0);
	assert_sticky(DIMSE_E_DATA_WITHOUT_COMMAND);
}

Test(rx, data_after_store_completed)
{
	cr_assert_eq(feed_cmd(1, STORE_RQ_DCMTK, sizeof(STORE_RQ_DCMTK)), 0);
	cr_assert_eq(dimse_rx_pdv(&RX, 1, MCH_DATA_LAST, (const uint8_t *)"ab", 2), 0);
	cr_assert_eq(dimse_rx_pdv(&RX, 1, MCH_DATA, (const uint8_t *)"x", 1), DIMSE_E_DATA_WITHOUT_COMMAND);
}

Test(rx, data_after_no_data_set_command)
{
	cr_assert_eq(feed_cmd(1, ECHO_RQ_DCMTK, sizeof(ECHO_RQ_DCMTK)), 0);
	cr_assert_eq(dimse_rx_pdv(&RX, 1, MCH_DATA, (const uint8_t *)"x", 1), DIMSE_E_UNEXPECTED_DATA);
	cr_assert_eq(R->n_data_calls, 0);
	assert_sticky(DIMSE_E_UNEXPECTED_DATA);
}

Test(rx, data_inside_command)
{
	cr_assert_eq(dimse_rx_pdv(&RX, 1, MCH_CMD, STORE_RQ_DCMTK, 20), 0);
	cr_assert_eq(dimse_rx_pdv(&RX, 1, MCH_DATA, (const uint8_t *)"x", 1), DIMSE_E_DATA_IN_COMMAND);
	assert_sticky(DIMSE_E_DATA_IN_COMMAND);
}

Test(rx, command_while_data_expected)
{
	cr_assert_eq(feed_cmd(1, STORE_RQ_DCMTK, sizeof(STORE_RQ_DCMTK)), 0);
	cr_assert_eq(dimse_rx_pdv(&RX, 1, MCH_DATA, (const uint8_t *)"abc", 3), 0);
	cr_assert_eq(feed_cmd(1, ECHO_RQ_DCMTK, sizeof(ECHO_RQ_DCMTK)), DIMSE_E_UNEXPECTED_COMMAND);
	cr_assert_eq(R->n_cmd, 1);
	assert_sticky(DIMSE_E_UNEXPECTED_COMMAND);
}

Test(rx, command_right_after_data_command)
{
	/* no data at all before the next command: also an error */
	cr_assert_eq(feed_cmd(1, STORE_RQ_DCMTK, sizeof(STORE_RQ_DCMTK)), 0);
	cr_assert_eq(dimse_rx_pdv(&RX, 1, MCH_CMD, ECHO_RQ_DCMTK, 4), DIMSE_E_UNEXPECTED_COMMAND);
}

Test(rx, pc_changes_in_command)
{
	cr_assert_eq(dimse_rx_pdv(&RX, 1, MCH_CMD, ECHO_RQ_DCMTK, 10), 0);
	cr_assert_eq(dimse_rx_pdv(&RX, 3, MCH_CMD_LAST, ECHO_RQ_DCMTK + 10, sizeof(ECHO_RQ_DCMTK) - 10),
		     DIMSE_E_PC_CHANGED);
	cr_assert_eq(R->n_cmd, 0);
	assert_sticky(DIMSE_E_PC_CHANGED);
}

Test(rx, pc_changes_between_command_and_data)
{
	cr_assert_eq(feed_cmd(1, STORE_RQ_DCMTK, sizeof(STORE_RQ_DCMTK)), 0);
	cr_assert_eq(dimse_rx_pdv(&RX, 3, MCH_DATA_LAST, (const uint8_t *)"x", 1), DIMSE_E_PC_CHANGED);
	cr_assert_eq(R->n_data_calls, 0);
}

Test(rx, pc_changes_in_data)
{
	cr_assert_eq(feed_cmd(7, STORE_RQ_DCMTK, sizeof(STORE_RQ_DCMTK)), 0);
	cr_assert_eq(dimse_rx_pdv(&RX, 7, MCH_DATA, (const uint8_t *)"x", 1), 0);
	cr_assert_eq(dimse_rx_pdv(&RX, 9, MCH_DATA_LAST, (const uint8_t *)"y", 1), DIMSE_E_PC_CHANGED);
	cr_assert_eq(R->n_data_calls, 1);
}

Test(rx, reserved_mch_bits)
{
	int bit;
	for (bit = 2; bit < 8; bit++) {
		teardown();
		setup();
		cr_assert_eq(dimse_rx_pdv(&RX, 1, (uint8_t)(MCH_CMD_LAST | 1u << bit), ECHO_RQ_DCMTK,
					  sizeof(ECHO_RQ_DCMTK)), DIMSE_E_MCH);
		cr_assert_eq(R->n_cmd, 0);
	}
}

Test(rx, command_that_does_not_decode)
{
	uint8_t bad[sizeof(ECHO_RQ_DCMTK)];
	memcpy(bad, ECHO_RQ_DCMTK, sizeof(bad));
	bad[8] ^= 2; /* group length off by two */
	cr_assert_eq(feed_cmd(1, bad, sizeof(bad)), DIMSE_E_GROUP_LENGTH);
	cr_assert_eq(R->n_cmd, 0);
	assert_sticky(DIMSE_E_GROUP_LENGTH);
}

/* A valid command padded with an unknown element to exactly total bytes. */
static uint8_t *padded_command(size_t total)
{
	uint8_t *b = calloc(1, total);
	size_t n = sizeof(ECHO_RQ_DCMTK);
	uint32_t vl = (uint32_t)(total - n - 8);
	cr_assert_not_null(b);
	memcpy(b, ECHO_RQ_DCMTK, n);
	b[n + 2] = 0x00; /* (0000,5000): unknown, skipped */
	b[n + 3] = 0x50;
	b[n + 4] = (uint8_t)vl;
	b[n + 5] = (uint8_t)(vl >> 8);
	b[n + 6] = (uint8_t)(vl >> 16);
	b[n + 7] = (uint8_t)(vl >> 24);
	b[8] = (uint8_t)(total - 12);
	b[9] = (uint8_t)((total - 12) >> 8);
	b[10] = (uint8_t)((total - 12) >> 16);
	return b;
}

Test(rx, command_cap)
{
	uint8_t *b = padded_command(DIMSE_MAX_COMMAND);
	size_t pos;

	/* exactly the cap, in 1000-byte fragments: accepted */
	for (pos = 0; pos < DIMSE_MAX_COMMAND; pos += 1000) {
		size_t n = DIMSE_MAX_COMMAND - pos < 1000 ? DIMSE_MAX_COMMAND - pos : 1000;
		bool last = pos + n == DIMSE_MAX_COMMAND;
		cr_assert_eq(dimse_rx_pdv(&RX, 1, last ? MCH_CMD_LAST : MCH_CMD, b + pos, n), 0);
	}
	cr_assert_eq(R->n_cmd, 1);
	free(b);

	/* one byte more: refused as soon as the cap is crossed, before the last fragment */
	b = padded_command(DIMSE_MAX_COMMAND + 2);
	cr_assert_eq(dimse_rx_pdv(&RX, 1, MCH_CMD, b, DIMSE_MAX_COMMAND), 0);
	cr_assert_eq(dimse_rx_pdv(&RX, 1, MCH_CMD, b + DIMSE_MAX_COMMAND, 1), DIMSE_E_COMMAND_TOO_BIG);
	cr_assert_eq(R->n_cmd, 1);
	assert_sticky(DIMSE_E_COMMAND_TOO_BIG);
	free(b);
}

Test(rx, command_cap_single_huge_pdv)
{
	uint8_t *b = padded_command(DIMSE_MAX_COMMAND + 1000);
	cr_assert_eq(feed_cmd(1, b, DIMSE_MAX_COMMAND + 1000), DIMSE_E_COMMAND_TOO_BIG);
	free(b);
}

Test(rx, on_command_error_propagates)
{
	R->cmd_ret = -42;
	cr_assert_eq(feed_cmd(1, ECHO_RQ_DCMTK, sizeof(ECHO_RQ_DCMTK)), -42);
	cr_assert_eq(R->n_cmd, 1);
	assert_sticky(-42);
}

Test(rx, on_data_error_propagates)
{
	cr_assert_eq(feed_cmd(1, STORE_RQ_DCMTK, sizeof(STORE_RQ_DCMTK)), 0);
	R->data_ret = -28; /* e.g. -ENOSPC from the spool */
	cr_assert_eq(dimse_rx_pdv(&RX, 1, MCH_DATA, (const uint8_t *)"abc", 3), -28);
	assert_sticky(-28);
}

Test(rx, callbacks_optional)
{
	struct dimse_rx rx;
	struct dimse_rx_cb cb = { 0 };
	dimse_rx_init(&rx, &cb);
	cr_assert_eq(dimse_rx_pdv(&rx, 1, MCH_CMD_LAST, STORE_RQ_DCMTK, sizeof(STORE_RQ_DCMTK)), 0);
	cr_assert_eq(dimse_rx_pdv(&rx, 1, MCH_DATA_LAST, (const uint8_t *)"a", 1), 0);
	cr_assert(dimse_rx_idle(&rx));
	dimse_rx_free(&rx);
	dimse_rx_free(&rx); /* idempotent */
}

/* ---- P-DATA-TF variable fields ----------------------------------------------------------- */

static size_t put_pdv(uint8_t *p, uint8_t pc, uint8_t mch, const void *frag, size_t n)
{
	uint32_t il = (uint32_t)n + 2;
	p[0] = (uint8_t)(il >> 24);
	p[1] = (uint8_t)(il >> 16);
	p[2] = (uint8_t)(il >> 8);
	p[3] = (uint8_t)il;
	p[4] = pc;
	p[5] = mch;
	if (n)
		memcpy(p + 6, frag, n);
	return 6 + n;
}

Test(rx, pdata_several_pdvs)
{
	uint8_t f[512];
	size_t n = 0;

	n += put_pdv(f + n, 1, MCH_CMD, STORE_RQ_DCMTK, 50);
	n += put_pdv(f + n, 1, MCH_CMD_LAST, STORE_RQ_DCMTK + 50, sizeof(STORE_RQ_DCMTK) - 50);
	n += put_pdv(f + n, 1, MCH_DATA, "hello ", 6);
	n += put_pdv(f + n, 1, MCH_DATA_LAST, "world", 5);
	n += put_pdv(f + n, 1, MCH_CMD_LAST, ECHO_RQ_DCMTK, sizeof(ECHO_RQ_DCMTK));
	cr_assert_eq(dimse_rx_pdata(&RX, f, n), 0);
	cr_assert_str_eq(R->log, "CdLC");
	cr_assert_eq(R->data_len, 11);
	cr_assert_arr_eq(R->data, "hello world", 11);
	cr_assert_eq(R->cmd[1].command_field, DIMSE_C_ECHO_RQ);
}

Test(rx, pdata_malformed)
{
	uint8_t f[64] = { 0 };
	size_t n, cut;

	/* empty field */
	cr_assert_eq(dimse_rx_pdata(&RX, f, 0), DIMSE_E_PDV);
	teardown();
	setup();
	/* item length 1 (< pc id + header) */
	n = put_pdv(f, 1, MCH_CMD, "", 0);
	f[3] = 1;
	cr_assert_eq(dimse_rx_pdata(&RX, f, n), DIMSE_E_PDV);
	/* item length past the end, at every cut of a two-PDV field */
	n = put_pdv(f, 1, MCH_CMD, "abcd", 4);
	n += put_pdv(f + n, 1, MCH_CMD, "efgh", 4);
	for (cut = 1; cut < n; cut++) {
		int rc;
		teardown();
		setup();
		rc = dimse_rx_pdata(&RX, f, cut);
		if (cut == 10)
			cr_assert_eq(rc, 0, "boundary after the first PDV");
		else
			cr_assert_eq(rc, DIMSE_E_PDV, "cut %zu", cut);
	}
	/* item length 0xFFFFFFFF */
	teardown();
	setup();
	n = put_pdv(f, 1, MCH_CMD, "ab", 2);
	f[0] = f[1] = f[2] = f[3] = 0xFF;
	cr_assert_eq(dimse_rx_pdata(&RX, f, n), DIMSE_E_PDV);
	assert_sticky(DIMSE_E_PDV);
}
