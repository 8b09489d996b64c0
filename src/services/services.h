/*
 * DIMSE service dispatch for inbound associations: a complete command goes to its service
 * (C-ECHO, C-STORE); data-set fragments go to the operation waiting for them.
 */
#ifndef DICOMAID_SERVICES_SERVICES_H
#define DICOMAID_SERVICES_SERVICES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dimse/command.h"

struct assoc;
struct pctx;
struct server;
struct store_op;

/* A command arrived on an accepted context. Returns 0, or <0 to abort the association. */
int services_command(struct assoc *a, const struct pctx *pc, const struct dimse_cmd *cmd);
/* A data-set fragment arrived. Returns 0, or <0 to abort the association. */
int services_data(struct assoc *a, uint8_t pc_id, const uint8_t *buf, size_t len, bool last);

/* C-ECHO SCP (PS3.4 Annex A). */
int echo_handle(struct assoc *a, const struct pctx *pc, const struct dimse_cmd *cmd);

/* C-STORE SCP (PS3.4 Annex B). */
int store_handle_rq(struct assoc *a, const struct pctx *pc, const struct dimse_cmd *cmd);
/* A C-STORE that will be refused with status: its data set is read and dropped. */
int store_handle_refused(struct assoc *a, const struct pctx *pc, const struct dimse_cmd *cmd,
			 uint16_t status);
int store_handle_data(struct assoc *a, struct store_op *op, const uint8_t *buf, size_t len,
		      bool last);
/* The association went away mid-transfer: the partial file is discarded, no answer sent. */
void services_store_abandon(struct store_op *op);
/* Query/Retrieve SCP (PS3.4 Annex C): C-FIND, C-MOVE, C-GET. */
int qr_handle_rq(struct assoc *a, const struct pctx *pc, const struct dimse_cmd *cmd);
/* A Q/R request that will be refused with status once its identifier has arrived. */
int qr_handle_refused(struct assoc *a, const struct pctx *pc, const struct dimse_cmd *cmd,
		      uint16_t status);
int qr_handle_data(struct assoc *a, const uint8_t *buf, size_t len, bool last);
void qr_cancel(struct assoc *a, const struct dimse_cmd *cmd);
void qr_store_rsp(struct assoc *a, const struct dimse_cmd *cmd);
/* The association is closing: stop what runs, drop what was being received. */
void qr_abandon(struct assoc *a);

/* The storage committer finished a batch: answer each waiting C-STORE. Loop thread. */
void services_store_committed(struct server *srv);

#endif
