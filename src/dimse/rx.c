/*
 * DIMSE receive state machine: PDVs in, decoded commands and streamed data set fragments out
 * (PS3.8 9.3.5.1, Annex E.2; PS3.7 6.3). Owns the per-association command buffer and the
 * message framing rules: a message is one command set (fragments with bit 0 set) optionally
 * followed by one data set (bit 0 clear), all on one presentation context.
 */
#include "dimse/rx.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

void dimse_rx_init(struct dimse_rx *rx, const struct dimse_rx_cb *cb)
{
	memset(rx, 0, sizeof(*rx));
	rx->cb = *cb;
	rx->state = DIMSE_RX_IDLE;
}

void dimse_rx_free(struct dimse_rx *rx)
{
	free(rx->cmd_buf);
	rx->cmd_buf = NULL;
	rx->cmd_len = rx->cmd_cap = 0;
}

bool dimse_rx_idle(const struct dimse_rx *rx)
{
	return rx->state == DIMSE_RX_IDLE;
}

/*
 * The one place the state changes. Allowed moves (PS3.8 E.2 message framing):
 *   IDLE -> COMMAND     first command fragment
 *   COMMAND -> IDLE     last command fragment, Command Data Set Type 0101H
 *   COMMAND -> DATA     last command fragment, a data set follows
 *   DATA -> IDLE        last data set fragment
 *   any -> FAILED       protocol or callback error (terminal)
 */
static void rx_move(struct dimse_rx *rx, enum dimse_rx_state to)
{
	assert(to == DIMSE_RX_FAILED ||
	       (rx->state == DIMSE_RX_IDLE && to == DIMSE_RX_COMMAND) ||
	       (rx->state == DIMSE_RX_COMMAND && (to == DIMSE_RX_IDLE || to == DIMSE_RX_DATA)) ||
	       (rx->state == DIMSE_RX_DATA && to == DIMSE_RX_IDLE));
	rx->state = to;
}

static int fail(struct dimse_rx *rx, int err)
{
	rx_move(rx, DIMSE_RX_FAILED);
	rx->error = err;
	return err;
}

/* Append a command fragment, growing the buffer; the cap is checked before allocating. */
static int cmd_append(struct dimse_rx *rx, const uint8_t *data, size_t len)
{
	if (len > DIMSE_MAX_COMMAND - rx->cmd_len)
		return DIMSE_E_COMMAND_TOO_BIG;
	if (rx->cmd_len + len > rx->cmd_cap) {
		size_t cap = rx->cmd_cap ? rx->cmd_cap : 512;
		uint8_t *p;
		while (cap < rx->cmd_len + len)
			cap *= 2;
		if (cap > DIMSE_MAX_COMMAND)
			cap = DIMSE_MAX_COMMAND;
		p = realloc(rx->cmd_buf, cap);
		if (p == NULL)
			return DIMSE_E_NOMEM;
		rx->cmd_buf = p;
		rx->cmd_cap = cap;
	}
	if (len > 0)
		memcpy(rx->cmd_buf + rx->cmd_len, data, len);
	rx->cmd_len += len;
	return 0;
}

static int on_command_fragment(struct dimse_rx *rx, uint8_t pc_id, bool last,
			       const uint8_t *data, size_t len)
{
	int rc;

	if (rx->state == DIMSE_RX_DATA)
		return DIMSE_E_UNEXPECTED_COMMAND;
	if (rx->state == DIMSE_RX_IDLE) {
		rx_move(rx, DIMSE_RX_COMMAND);
		rx->pc_id = pc_id;
		rx->cmd_len = 0;
		rx->after_no_data = false;
	} else if (pc_id != rx->pc_id) {
		return DIMSE_E_PC_CHANGED;
	}
	rc = cmd_append(rx, data, len);
	if (rc < 0 || !last)
		return rc;

	rc = dimse_cmd_decode(rx->cmd_buf, rx->cmd_len, &rx->cmd);
	if (rc < 0)
		return rc;
	if (dimse_has_data_set(&rx->cmd)) {
		rx_move(rx, DIMSE_RX_DATA);
	} else {
		rx_move(rx, DIMSE_RX_IDLE);
		rx->after_no_data = true;
	}
	/* state is set before the callback so that it sees dimse_rx_idle() correctly */
	return rx->cb.on_command ? rx->cb.on_command(rx->cb.ctx, pc_id, &rx->cmd) : 0;
}

static int on_data_fragment(struct dimse_rx *rx, uint8_t pc_id, bool last,
			    const uint8_t *data, size_t len)
{
	switch (rx->state) {
	case DIMSE_RX_IDLE:
		return rx->after_no_data ? DIMSE_E_UNEXPECTED_DATA : DIMSE_E_DATA_WITHOUT_COMMAND;
	case DIMSE_RX_COMMAND:
		return DIMSE_E_DATA_IN_COMMAND;
	default:
		break;
	}
	if (pc_id != rx->pc_id)
		return DIMSE_E_PC_CHANGED;
	if (last)
		rx_move(rx, DIMSE_RX_IDLE);
	if (len == 0 && !last)
		return 0; /* nothing to deliver */
	return rx->cb.on_data ? rx->cb.on_data(rx->cb.ctx, pc_id, data, len, last) : 0;
}

int dimse_rx_pdv(struct dimse_rx *rx, uint8_t pc_id, uint8_t mch, const uint8_t *data, size_t len)
{
	bool last = (mch & DIMSE_MCH_LAST) != 0;
	int rc;

	if (rx->state == DIMSE_RX_FAILED)
		return rx->error;
	if (mch & ~(DIMSE_MCH_COMMAND | DIMSE_MCH_LAST)) /* PS3.8 E.2: bits 2-7 are 0 */
		return fail(rx, DIMSE_E_MCH);
	if (mch & DIMSE_MCH_COMMAND)
		rc = on_command_fragment(rx, pc_id, last, data, len);
	else
		rc = on_data_fragment(rx, pc_id, last, data, len);
	return rc < 0 ? fail(rx, rc) : 0;
}

int dimse_rx_pdata(struct dimse_rx *rx, const uint8_t *field, size_t len)
{
	size_t pos = 0;

	if (rx->state == DIMSE_RX_FAILED)
		return rx->error;
	if (len == 0) /* PS3.8 9.3.5: one or more PDV items */
		return fail(rx, DIMSE_E_PDV);
	while (pos < len) {
		uint32_t ilen;
		int rc;

		if (len - pos < 6)
			return fail(rx, DIMSE_E_PDV);
		ilen = (uint32_t)field[pos] << 24 | (uint32_t)field[pos + 1] << 16 |
		       (uint32_t)field[pos + 2] << 8 | field[pos + 3];
		if (ilen < 2 || ilen > len - pos - 4)
			return fail(rx, DIMSE_E_PDV);
		rc = dimse_rx_pdv(rx, field[pos + 4], field[pos + 5], field + pos + 6, ilen - 2);
		if (rc < 0)
			return rc;
		pos += 4 + (size_t)ilen;
	}
	return 0;
}
