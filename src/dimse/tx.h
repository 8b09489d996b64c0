/*
 * DIMSE message framing on the sending side (PS3.8 9.3.5, 9.3.5.1, Annex E.2): commands and
 * data set fragments become complete P-DATA-TF PDUs, one PDV per PDU, each PDU's variable
 * field within the peer's Maximum Length (PS3.8 D.1). Output is appended to a growable byte
 * buffer that the caller writes to the socket. No I/O, no uv.h.
 */
#ifndef DICOMAID_DIMSE_TX_H
#define DICOMAID_DIMSE_TX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dimse/command.h"

/* Variable-field size used when the peer announced no limit (max_pdu 0). */
#define DIMSE_TX_DEFAULT_PDU (16 * 1024)
/* Bytes of PDU header (type, reserved, length) plus PDV header (length, pc id, mch). */
#define DIMSE_TX_OVERHEAD 12

/* Growable output buffer. data[0..len) holds finished PDUs; owned, freed with
 * dimse_txbuf_free(). Zero-initialising is the same as dimse_txbuf_init(). */
struct dimse_txbuf {
	uint8_t *data;
	size_t len, cap;
};

void dimse_txbuf_init(struct dimse_txbuf *b);
void dimse_txbuf_free(struct dimse_txbuf *b);
/* Forget the contents, keep the memory. */
void dimse_txbuf_reset(struct dimse_txbuf *b);
/* Hand the bytes over (caller frees with free()); *len gets their count; b is left empty.
 * Returns NULL (and *len 0) when the buffer is empty. */
uint8_t *dimse_txbuf_steal(struct dimse_txbuf *b, size_t *len);

/*
 * Encode cmd (dimse_cmd_encode) and append the P-DATA-TF PDU(s) carrying it on context pc_id,
 * fragments flagged command (mch bit 0), the final one also last (bit 1). max_pdu is the
 * peer's Maximum Length (0 = no limit, DIMSE_TX_DEFAULT_PDU used); each fragment is at most
 * max_pdu - 6 bytes. Returns 0, DIMSE_E_INVAL (max_pdu 1..6 or a cmd encode refuses),
 * DIMSE_E_NOMEM; on error out is unchanged. cmd and out are borrowed.
 */
int dimse_tx_command(struct dimse_txbuf *out, uint8_t pc_id, const struct dimse_cmd *cmd,
		     uint32_t max_pdu);

/*
 * Append data set bytes data[0..len) as P-DATA-TF PDU(s) on pc_id, split like
 * dimse_tx_command. Call repeatedly to stream a data set; last marks the final call, whose
 * final fragment gets bit 1 (a zero-length last call emits one empty last PDV, which PS3.8
 * allows). len 0 without last appends nothing. Returns as dimse_tx_command.
 */
int dimse_tx_data(struct dimse_txbuf *out, uint8_t pc_id, const uint8_t *data, size_t len,
		  bool last, uint32_t max_pdu);

#endif
