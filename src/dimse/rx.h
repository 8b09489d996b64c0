/*
 * DIMSE message reassembly on the receiving side of one association (PS3.7 6.3, PS3.8 9.3.5.1
 * and Annex E.2). Input is PDVs (presentation context ID, message control header, fragment) as
 * the upper layer delivers them; output is one on_command() call per complete command set and
 * a stream of on_data() calls for its data set. Command fragments are buffered (capped at
 * DIMSE_MAX_COMMAND); data set fragments are never buffered here. No I/O, no uv.h.
 */
#ifndef DICOMAID_DIMSE_RX_H
#define DICOMAID_DIMSE_RX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dimse/command.h"

/* Largest command set accepted (bytes). Real ones are a few hundred bytes. */
#define DIMSE_MAX_COMMAND (16 * 1024)

struct dimse_rx_cb {
	void *ctx; /* passed back to the callbacks, borrowed */
	/* A whole command was decoded. cmd is borrowed for the call. A data set follows iff
	 * dimse_has_data_set(cmd). Return 0 or a negative code (propagated by dimse_rx_pdv). */
	int (*on_command)(void *ctx, uint8_t pc_id, const struct dimse_cmd *cmd);
	/* A data set fragment, in order; buf is borrowed for the call (it points into the
	 * caller's PDU). last is set exactly once per data set, possibly with len 0. */
	int (*on_data)(void *ctx, uint8_t pc_id, const uint8_t *buf, size_t len, bool last);
};

enum dimse_rx_state {
	DIMSE_RX_IDLE,    /* between messages */
	DIMSE_RX_COMMAND, /* command fragments arriving */
	DIMSE_RX_DATA,    /* command done, data set fragments arriving */
	DIMSE_RX_FAILED,  /* protocol or callback error: every later call fails */
};

/* Per-association receiver. Embed it; fields are private to rx.c. */
struct dimse_rx {
	enum dimse_rx_state state;
	struct dimse_rx_cb cb;
	uint8_t pc_id;       /* context of the message in progress (COMMAND/DATA states) */
	bool after_no_data;  /* IDLE because the last command had no data set */
	int error;           /* first error, returned again while FAILED */
	uint8_t *cmd_buf;    /* command fragments so far, owned, grows up to DIMSE_MAX_COMMAND */
	size_t cmd_len, cmd_cap;
	struct dimse_cmd cmd; /* last decoded command */
};

/* Initialise rx (idle, no allocation). cb is copied. */
void dimse_rx_init(struct dimse_rx *rx, const struct dimse_rx_cb *cb);

/*
 * Feed one PDV: pc_id, message control header mch, fragment data[0..len) (borrowed).
 * Returns 0, a negative DIMSE_E_* protocol error (DIMSE_E_MCH, _DATA_WITHOUT_COMMAND,
 * _UNEXPECTED_DATA, _DATA_IN_COMMAND, _UNEXPECTED_COMMAND, _PC_CHANGED, _COMMAND_TOO_BIG,
 * _NOMEM or a dimse_cmd_decode() error) or the negative value a callback returned. After any
 * error the receiver is FAILED and returns that error again: the caller aborts the
 * association (PS3.8 AA-8). Callbacks must not call dimse_rx_free() on rx.
 */
int dimse_rx_pdv(struct dimse_rx *rx, uint8_t pc_id, uint8_t mch, const uint8_t *data, size_t len);

/*
 * Feed a whole P-DATA-TF variable field (PS3.8 9.3.5: one or more PDV items, each a 4-byte
 * big-endian item length >= 2, context ID, control header, fragment). Returns as
 * dimse_rx_pdv(), or DIMSE_E_PDV for a malformed item (empty field included).
 */
int dimse_rx_pdata(struct dimse_rx *rx, const uint8_t *field, size_t len);

/* True between messages (no command or data set partly received). */
bool dimse_rx_idle(const struct dimse_rx *rx);

/* Release the command buffer; rx may be re-initialised afterwards. */
void dimse_rx_free(struct dimse_rx *rx);

#endif
