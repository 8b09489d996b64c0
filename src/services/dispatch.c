/*
 * Routes complete DIMSE commands to their service and data-set fragments to the C-STORE
 * operation receiving them. Anything else gets the standard refusal: an unrecognized
 * operation (0211) on a command we cannot serve, so the peer is never left waiting.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "dimse/status.h"
#include "net/assoc.h"
#include "services/services.h"
#include "services/sop_classes.h"
#include "util/config.h"
#include "util/log.h"

/* The [peer] services bit a request needs; 0 for anything else. */
static unsigned service_bit(uint16_t field)
{
	switch (field) {
	case 0x0030: return CONFIG_SVC_ECHO;
	case 0x0001: return CONFIG_SVC_STORE;
	case 0x0020: return CONFIG_SVC_FIND;
	case 0x0021: return CONFIG_SVC_MOVE;
	case 0x0010: return CONFIG_SVC_GET;
	default: return 0;
	}
}

/* Answers a request that will not be served with a failure status and no data set. */
static int refuse(struct assoc *a, const struct pctx *pc, const struct dimse_cmd *cmd,
		  uint16_t status)
{
	struct dimse_cmd rsp;
	memset(&rsp, 0, sizeof rsp);
	rsp.command_field = (uint16_t)(cmd->command_field | 0x8000);
	rsp.message_id_responded = cmd->message_id;
	rsp.has_message_id_responded = true;
	snprintf(rsp.affected_sop_class, sizeof rsp.affected_sop_class, "%s", cmd->affected_sop_class);
	if (cmd->command_field == 0x0001)
		snprintf(rsp.affected_sop_instance, sizeof rsp.affected_sop_instance, "%s",
			 cmd->affected_sop_instance);
	rsp.data_set_type = 0x0101;
	rsp.status = status;
	rsp.has_status = true;
	return assoc_send_command(a, pc->id, &rsp);
}

int services_command(struct assoc *a, const struct pctx *pc, const struct dimse_cmd *cmd)
{
	unsigned bit = service_bit(cmd->command_field);
	if (bit && !(a->services & bit)) {
		log_warn("assoc=%llu event=not_authorized calling=%s command=%s",
			 (unsigned long long)a->id, a->calling_ae,
			 dimse_command_name(cmd->command_field));
		if (dimse_has_data_set(cmd)) {
			/* The data set still arrives: C-STORE swallows it and answers 0124. */
			if (cmd->command_field == 0x0001)
				return store_handle_refused(a, pc, cmd, DIMSE_NOT_AUTHORIZED);
			return qr_handle_refused(a, pc, cmd, DIMSE_NOT_AUTHORIZED);
		}
		return refuse(a, pc, cmd, DIMSE_NOT_AUTHORIZED);
	}
	switch (cmd->command_field) {
	case 0x0030: /* C-ECHO-RQ */
		if (strcmp(pc->abstract, UID_VERIFICATION) != 0)
			break;
		return echo_handle(a, pc, cmd);
	case 0x0001: /* C-STORE-RQ */
		return store_handle_rq(a, pc, cmd);
	case 0x0020: /* C-FIND-RQ */
	case 0x0021: /* C-MOVE-RQ */
	case 0x0010: /* C-GET-RQ */
		return qr_handle_rq(a, pc, cmd);
	case 0x0FFF: /* C-CANCEL-RQ */
		qr_cancel(a, cmd);
		return 0;
	case 0x8001: /* C-STORE-RSP: a C-GET sub-operation answered */
		qr_store_rsp(a, cmd);
		return 0;
	default:
		break;
	}
	log_warn("assoc=%llu event=unsupported_command command=%s abstract=%s",
		 (unsigned long long)a->id, dimse_command_name(cmd->command_field), pc->abstract);
	if (cmd->command_field & 0x8000)
		return 0; /* a response we did not ask for: nothing to answer */
	if (dimse_has_data_set(cmd))
		return -EPROTO;
	return refuse(a, pc, cmd, DIMSE_UNRECOGNIZED_OPERATION);
}

int services_data(struct assoc *a, uint8_t pc_id, const uint8_t *buf, size_t len, bool last)
{
	if (a->cur_qr)
		return qr_handle_data(a, buf, len, last);
	if (!a->cur_store) {
		log_warn("assoc=%llu event=bad_message why=\"data set without a C-STORE\"",
			 (unsigned long long)a->id);
		return -EPROTO;
	}
	return store_handle_data(a, a->cur_store, buf, len, last);
}
