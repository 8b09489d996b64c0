/*
 * C-ECHO SCP (PS3.4 Annex A, PS3.7 9.1.5): answers Success on the same context.
 */
#include "dimse/status.h"
#include "net/assoc.h"
#include "services/services.h"
#include "util/log.h"

int echo_handle(struct assoc *a, const struct pctx *pc, const struct dimse_cmd *cmd)
{
	struct dimse_cmd rsp;
	dimse_echo_rsp(&rsp, cmd, DIMSE_SUCCESS);
	log_info("assoc=%llu event=echo msg_id=%u", (unsigned long long)a->id, cmd->message_id);
	return assoc_send_command(a, pc->id, &rsp);
}
