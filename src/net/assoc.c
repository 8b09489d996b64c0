/*
 * Inbound associations on libuv: framing PDUs out of the byte stream, driving the Upper
 * Layer state machine (PS3.8 9.2, acceptor side), negotiating presentation contexts, and
 * handing complete DIMSE commands and data-set fragments to the services.
 *
 * One read callback feeds the pure PDU codec; each PDU becomes a state-machine event; the
 * machine's action is performed here (send a PDU, start or stop the timer, close).
 */
#include "net/assoc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "net/server.h"
#include "query/query.h"
#include "storage/index.h"
#include "services/services.h"
#include "services/sop_classes.h"
#include "ul/pdu.h"
#include "dicom/part10.h"
#include "dimse/status.h"
#include "dimse/tx.h"
#include "util/config.h"
#include "util/log.h"

/* Largest A-ASSOCIATE-RQ we take: 128 presentation contexts with many transfer syntaxes. */
#define MAX_ASSOC_RQ_LEN (1u << 20)
/* Read buffer granted to libuv when the buffer is empty (see read_cap). */
#define READ_CHUNK (64u * 1024)
/* Stop reading when this many data-set bytes wait for the disk. */
#define WRITE_HIGH_WATER (4u * 1024 * 1024)
#define WRITE_LOW_WATER (1u * 1024 * 1024)

uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void assoc_event(struct assoc *a, enum ul_event ev, const void *arg);
static void assoc_close(struct assoc *a);

/* ---- audit (the associations table) ---------------------------------------------------
 * Rows are written on libuv's threadpool: the loop never touches SQLite. A row is begun
 * when the association is accepted and ended when the connection closes; a rejected or
 * aborted one is written whole at close.
 */

enum { AUDIT_BEGIN, AUDIT_END, AUDIT_WHOLE };

struct audit_work {
	uv_work_t w;
	struct assoc *a;              /* referenced for AUDIT_BEGIN only */
	struct index *ix;
	int kind;
	int64_t id;
	int rc;
	char peer[64], calling[17], called[17], outcome[32], detail[96];
	int64_t start_ms, end_ms, instances, failures;
	struct index_dimse_failure *fails; /* owned (END, WHOLE) */
	unsigned n_fails;
};

static void audit_run(uv_work_t *w)
{
	struct audit_work *aw = (struct audit_work *)w;
	aw->rc = 0;
	if (aw->kind != AUDIT_END)
		aw->rc = index_assoc_begin(aw->ix, aw->peer, aw->calling, aw->called, aw->start_ms,
					   &aw->id);
	if (aw->rc == 0 && aw->kind != AUDIT_BEGIN)
		aw->rc = index_assoc_end(aw->ix, aw->id, aw->end_ms, aw->instances, aw->outcome);
	if (aw->rc == 0 && aw->kind != AUDIT_BEGIN && (aw->detail[0] || aw->failures))
		aw->rc = index_assoc_audit(aw->ix, aw->id, aw->detail, aw->failures, aw->fails,
					   aw->n_fails);
}

static void audit_queue(struct assoc *a, int kind);

static void audit_done(uv_work_t *w, int status)
{
	struct audit_work *aw = (struct audit_work *)w;
	if (aw->rc < 0)
		log_err("event=audit_failed assoc_row=%lld err=\"%s\"", (long long)aw->id,
			strerror(-aw->rc));
	if (aw->kind == AUDIT_BEGIN) {
		struct assoc *a = aw->a;
		a->audit_id = aw->id;
		a->audit_state = 2;
		if (a->audit_end_wanted)
			audit_queue(a, AUDIT_END);
		assoc_unref(a);
	}
	free(aw->fails);
	free(aw);
}

static void audit_queue(struct assoc *a, int kind)
{
	struct audit_work *aw = calloc(1, sizeof *aw);
	if (!aw)
		return;
	aw->ix = a->srv->index;
	aw->kind = kind;
	aw->id = a->audit_id;
	snprintf(aw->peer, sizeof aw->peer, "%s", a->peer_ip);
	snprintf(aw->calling, sizeof aw->calling, "%s", a->calling_ae);
	snprintf(aw->called, sizeof aw->called, "%s", a->called_ae);
	snprintf(aw->outcome, sizeof aw->outcome, "%s", a->outcome ? a->outcome : "closed");
	aw->start_ms = (int64_t)a->t_start_ms;
	aw->end_ms = (int64_t)now_ms();
	aw->instances = (int64_t)a->instances;
	if (kind != AUDIT_BEGIN) {
		snprintf(aw->detail, sizeof aw->detail, "%s", a->detail);
		aw->failures = (int64_t)a->failures;
		aw->fails = a->fails;
		aw->n_fails = a->n_fails;
		a->fails = NULL;
		a->n_fails = 0;
	}
	if (kind == AUDIT_BEGIN) {
		aw->a = a;
		assoc_ref(a);
		a->audit_state = 1;
	}
	if (uv_queue_work(a->srv->loop, &aw->w, audit_run, audit_done) < 0) {
		if (kind == AUDIT_BEGIN)
			assoc_unref(a);
		free(aw->fails);
		free(aw);
	}
}

/* The connection closed: finish (or write whole) its audit row. */
static void audit_close(struct assoc *a)
{
	switch (a->audit_state) {
	case 0:
		audit_queue(a, AUDIT_WHOLE);
		break;
	case 1:
		a->audit_end_wanted = true;
		break;
	default:
		audit_queue(a, AUDIT_END);
		break;
	}
}

/* ---- sending ---------------------------------------------------------------------- */

/* Queues bytes (one or more whole PDUs) in one write. */
static int send_bytes(struct assoc *a, const uint8_t *data, size_t len)
{
	if (a->closing)
		return -ECANCELED;
	/* A peer that does not read what we send (PS3.8 leaves flow control to TCP) must not
	 * make us queue without bound: when more than [server] max_send_queue bytes still wait
	 * from earlier writes, the association is dropped. The check is made before this write,
	 * so one large message (a C-GET sub-operation) never trips it by itself. No A-ABORT
	 * is sent: it would wait behind the bytes the peer is not reading. */
	size_t queued = uv_stream_get_write_queue_size((uv_stream_t *)&a->tcp);
	if (queued > a->srv->cfg->max_send_queue) {
		log_warn("assoc=%llu event=send_queue_full peer=%s queued=%zu limit=%llu "
			 "action=close", (unsigned long long)a->id, a->peer_ip, queued,
			 (unsigned long long)a->srv->cfg->max_send_queue);
		a->outcome = "send-queue-full";
		snprintf(a->detail, sizeof a->detail, "peer does not read: %zu bytes queued", queued);
		assoc_close(a);
		return -ENOBUFS;
	}
	return transport_send(&a->tp, data, len);
}

int assoc_send_command(struct assoc *a, uint8_t pc_id, const struct dimse_cmd *cmd)
{
	return assoc_send_message(a, pc_id, cmd, NULL, 0);
}

/* Audit (issue 8): every response we send with a failure status (PS3.7 Annex C) is
 * logged, counted and, for the first ASSOC_MAX_FAILS, kept for the dimse_failures table. */
static void note_failure(struct assoc *a, const struct dimse_cmd *cmd)
{
	a->failures++;
	log_warn("assoc=%llu event=failed_status command=%s msg_id=%u status=0x%04X "
		 "sop_class=%s sop_instance=%s comment=\"%s\"",
		 (unsigned long long)a->id, dimse_command_name(cmd->command_field),
		 cmd->message_id_responded, cmd->status,
		 cmd->affected_sop_class[0] ? cmd->affected_sop_class : "-",
		 cmd->affected_sop_instance[0] ? cmd->affected_sop_instance : "-",
		 cmd->error_comment);
	if (a->n_fails >= ASSOC_MAX_FAILS)
		return;
	if (!a->fails) {
		a->fails = calloc(ASSOC_MAX_FAILS, sizeof *a->fails);
		if (!a->fails)
			return;
	}
	struct index_dimse_failure *f = &a->fails[a->n_fails++];
	f->at_ms = (int64_t)now_ms();
	f->command = cmd->command_field;
	f->message_id = cmd->message_id_responded;
	f->status = cmd->status;
	snprintf(f->sop_class, sizeof f->sop_class, "%s", cmd->affected_sop_class);
	snprintf(f->sop_instance, sizeof f->sop_instance, "%s", cmd->affected_sop_instance);
	snprintf(f->comment, sizeof f->comment, "%s", cmd->error_comment);
}

int assoc_send_message(struct assoc *a, uint8_t pc_id, const struct dimse_cmd *cmd,
		       const uint8_t *data, size_t len)
{
	if (cmd->has_status && dimse_status_kind(cmd->status) == DIMSE_STATUS_FAILURE &&
	    !a->closing)
		note_failure(a, cmd);
	struct dimse_txbuf tx = { 0 };
	int rc = dimse_tx_command(&tx, pc_id, cmd, a->peer_max_pdu);
	if (rc == 0 && len > 0)
		rc = dimse_tx_data(&tx, pc_id, data, len, true, a->peer_max_pdu);
	if (rc == 0) {
		assoc_event(a, UL_EVT9, NULL);
		rc = send_bytes(a, tx.data, tx.len);
	}
	dimse_txbuf_free(&tx);
	return rc;
}

/* ---- timer ------------------------------------------------------------------------ */

static void on_timer(uv_timer_t *t)
{
	struct assoc *a = t->data;
	if (a->closing)
		return;
	if (a->sm.state == UL_STA6) {
		log_warn("assoc=%llu event=idle_timeout seconds=%d", (unsigned long long)a->id,
			 a->srv->cfg->idle_timeout);
		a->outcome = "idle-timeout";
		snprintf(a->detail, sizeof a->detail, "no complete PDU for %d s",
			 a->srv->cfg->idle_timeout);
		assoc_event(a, UL_EVT15, NULL);
	} else if (!transport_ready(&a->tp)) {
		/* The TLS handshake is bounded by ARTIM too (the transport connection is not
		 * open for DICOM before it completes). */
		log_warn("assoc=%llu event=tls_failed peer=%s why=\"handshake not complete in %d s\"",
			 (unsigned long long)a->id, a->peer_ip, a->srv->cfg->artim_timeout);
		a->outcome = "tls-handshake-timeout";
		snprintf(a->detail, sizeof a->detail, "TLS handshake not complete after %d s",
			 a->srv->cfg->artim_timeout);
		assoc_event(a, UL_EVT18, NULL);
	} else {
		if (a->sm.state == UL_STA2)
			log_warn("assoc=%llu event=artim_timeout peer=%s", (unsigned long long)a->id,
				 a->peer_ip);
		if (!a->outcome) {
			a->outcome = "artim-timeout";
			snprintf(a->detail, sizeof a->detail, "ARTIM expired in %s after %d s",
				 ul_state_name(a->sm.state), a->srv->cfg->artim_timeout);
		}
		assoc_event(a, UL_EVT18, NULL);
	}
}

static void start_artim(struct assoc *a)
{
	uv_timer_start(&a->timer, on_timer, (uint64_t)a->srv->cfg->artim_timeout * 1000u, 0);
}

/*
 * The idle timer runs from the A-ASSOCIATE-AC and is restarted only by a complete P-DATA-TF
 * PDU (DT-2), never by the bytes of a partial one: a peer that trickles a PDU byte by byte
 * (slowloris) must complete it within idle_timeout, which bounds the PDU's assembly time.
 * Before the association (Sta2) and after a reject, release or abort (Sta13) ARTIM bounds
 * the connection the same way (PS3.8 9.1.5).
 */
static void start_idle(struct assoc *a)
{
	if (a->srv->cfg->idle_timeout > 0)
		uv_timer_start(&a->timer, on_timer, (uint64_t)a->srv->cfg->idle_timeout * 1000u, 0);
}

/* ---- closing ---------------------------------------------------------------------- */

static void maybe_free(struct assoc *a)
{
	if (a->handles_open > 0 || a->refs > 0)
		return;
	struct server *srv = a->srv;
	if (a->prev)
		a->prev->next = a->next;
	else
		srv->assocs = a->next;
	if (a->next)
		a->next->prev = a->prev;
	srv->n_assocs--;
	if (a->rx_init)
		dimse_rx_free(&a->rx);
	transport_free(&a->tp);
	free(a->pcs);
	free(a->rbuf);
	free(a->series);
	free(a->fails);
	free(a);
	server_assoc_gone(srv);
}

static void on_handle_closed(uv_handle_t *h)
{
	struct assoc *a = h->data;
	a->handles_open--;
	maybe_free(a);
}

void assoc_ref(struct assoc *a) { a->refs++; }

/* At most this many series are remembered per association; past it the oldest is dropped
 * (a series stays unanalysed no longer than its association plus stable_seconds anyway). */
#define ASSOC_MAX_SERIES 64

void assoc_note_series(struct assoc *a, const char *series_uid)
{
	for (unsigned i = 0; i < a->n_series; i++)
		if (strcmp(a->series[i], series_uid) == 0)
			return;
	if (!a->series) {
		a->series = calloc(ASSOC_MAX_SERIES, sizeof *a->series);
		if (!a->series)
			return;
	}
	if (a->n_series == ASSOC_MAX_SERIES) {
		memmove(a->series[0], a->series[1], (ASSOC_MAX_SERIES - 1) * sizeof a->series[0]);
		a->n_series--;
	}
	snprintf(a->series[a->n_series++], sizeof a->series[0], "%s", series_uid);
}

void assoc_unref(struct assoc *a)
{
	a->refs--;
	maybe_free(a);
}

/* Closes the transport (the "close transport connection" of AA-2..AA-5, AR-3, AR-5). */
static void assoc_close(struct assoc *a)
{
	if (a->closing)
		return;
	a->closing = true;
	if (a->established) {
		a->established = false;
		a->srv->n_established--;
	}
	if (a->cur_store) {
		services_store_abandon(a->cur_store);
		a->cur_store = NULL;
	}
	qr_abandon(a);
	log_info("assoc=%llu event=closed peer=%s calling=%s called=%s instances=%llu "
		 "outcome=%s ms=%llu",
		 (unsigned long long)a->id, a->peer_ip, a->calling_ae[0] ? a->calling_ae : "-",
		 a->called_ae[0] ? a->called_ae : "-", (unsigned long long)a->instances,
		 a->outcome ? a->outcome : "closed",
		 (unsigned long long)(now_ms() - a->t_start_ms));
	audit_close(a);
	transport_close_notify(&a->tp);
	uv_timer_stop(&a->timer);
	uv_close((uv_handle_t *)&a->timer, on_handle_closed);
	uv_close((uv_handle_t *)&a->tcp, on_handle_closed);
}

/* ---- negotiation (PS3.8 9.3.2 / 9.3.3, PS3.7 D.3.3) ---------------------------------- */

static bool ae_equal(const char *a, const char *b)
{
	return strcmp(a, b) == 0;
}

/*
 * The best transfer syntax the peer offers for this context. As a receiver we prefer the
 * peer's lossless compression, then Explicit VR LE, then Implicit VR LE (the dcm_ts rank).
 * On a context where we will send (the requestor takes the SCP role, C-GET), we prefer
 * what instances are usually stored in: Explicit VR LE, then Implicit VR LE.
 */
static const struct dcm_ts *choose_ts(const struct ul_pc_rq *pc, bool sending)
{
	const struct dcm_ts *best = NULL;
	int best_rank = -1000;
	for (unsigned i = 0; i < pc->n_ts; i++) {
		const struct dcm_ts *ts = dcm_ts_find(pc->ts[i]);
		if (!ts || !ts->accepted)
			continue;
		int rank = ts->rank;
		if (sending)
			rank = !ts->explicit_vr ? 900 : (!ts->big_endian && !ts->encapsulated &&
							 !ts->deflated) ? 1000 : ts->rank;
		if (!best || rank > best_rank) {
			best = ts;
			best_rank = rank;
		}
	}
	return best;
}

/* Did the requestor propose the SCP role for this SOP class (PS3.7 D.3.3.4)? */
static bool wants_scp_role(const struct ul_assoc_rq *rq, const char *uid)
{
	for (unsigned i = 0; i < rq->ui.n_roles && i < UL_MAX_ROLES; i++)
		if (rq->ui.roles[i].scp && strcmp(rq->ui.roles[i].uid, uid) == 0)
			return true;
	return false;
}

static bool is_qr_class(const char *uid)
{
	enum query_model m;
	enum query_op o;
	return query_sop_class(uid, &m, &o) == 0;
}

const struct pctx *assoc_find_scp_role_pc(const struct assoc *a, const char *sop_class,
					  const char *ts_uid)
{
	for (unsigned i = 0; i < a->n_pcs; i++) {
		const struct pctx *c = &a->pcs[i];
		if (c->result == 0 && c->scp_role && strcmp(c->abstract, sop_class) == 0 &&
		    strcmp(c->ts->uid, ts_uid) == 0)
			return c;
	}
	return NULL;
}

/* An IPv4 peer may show as an IPv4-mapped IPv6 address on a dual-stack listener. */
static const char *plain_ip(const char *ip)
{
	return strncmp(ip, "::ffff:", 7) == 0 && strchr(ip + 7, '.') ? ip + 7 : ip;
}

/*
 * Is the calling AE a configured peer, connecting from its host when one is given? A host
 * given as a name is compared with the names the resolver had for it when the peer list
 * was (re)loaded (server_resolve_peers), so no lookup happens here on the loop.
 */
static bool peer_known(const struct assoc *a)
{
	const struct config_peer *p = config_find_peer(a->srv->cfg, a->calling_ae);
	if (!p)
		return false;
	if (!p->host[0])
		return true;
	return server_peer_host_matches(a->srv, p, plain_ip(a->peer_ip));
}

static void send_reject(struct assoc *a, uint8_t result, uint8_t source, uint8_t reason,
			const char *why)
{
	uint8_t pdu[10];
	ul_assoc_rj_encode(pdu, result, source, reason);
	log_warn("assoc=%llu event=rejected peer=%s calling=%s called=%s result=%u source=%u "
		 "reason=%u why=\"%s\"",
		 (unsigned long long)a->id, a->peer_ip, a->calling_ae, a->called_ae, result, source,
		 reason, why);
	a->outcome = "rejected";
	snprintf(a->detail, sizeof a->detail, "RJ %u/%u/%u %s", result, source, reason, why);
	assoc_event(a, UL_EVT8, pdu);
}

/* The argument of Evt6: the A-ASSOCIATE-RQ, decoded before the event is fed (an RQ that
 * does not decode is Evt19, PS3.8 Table 9-10), and the decoder's result. */
struct rq_arg {
	const struct ul_assoc_rq *rq;
	int rc;
};

/* Established associations from this peer address. */
static unsigned established_from(const struct server *srv, const char *ip)
{
	unsigned n = 0;
	for (const struct assoc *o = srv->assocs; o; o = o->next)
		if (o->established && !o->closing && strcmp(plain_ip(o->peer_ip), plain_ip(ip)) == 0)
			n++;
	return n;
}

/* AE-6 then the local decision: accept (Evt7 → AE-7) or reject (Evt8 → AE-8). rq borrowed. */
static void negotiate(struct assoc *a, const struct ul_assoc_rq *rq, int rc)
{
	struct server *srv = a->srv;
	struct ul_assoc_ac *ac = calloc(1, sizeof *ac);
	if (!ac) {
		send_reject(a, 2, 3, 2, "out of memory");
		return;
	}
	if (rc == UL_E_PROTOCOL_VERSION) {
		send_reject(a, 1, 2, 2, "protocol version not supported");
		goto out;
	}
	snprintf(a->calling_ae, sizeof a->calling_ae, "%s", rq->calling);
	snprintf(a->called_ae, sizeof a->called_ae, "%s", rq->called);

	if (strcmp(rq->app_context, UID_APPLICATION_CONTEXT) != 0) {
		send_reject(a, 1, 1, 2, "application context name not supported");
		goto out;
	}
	if (!ae_equal(rq->called, srv->cfg->ae_title)) {
		send_reject(a, 1, 1, 7, "called AE title not recognized");
		goto out;
	}
	if (srv->cfg->require_known_peers && !peer_known(a)) {
		send_reject(a, 1, 1, 3, "calling AE title not recognized");
		goto out;
	}
	if (srv->stopping) {
		send_reject(a, 2, 3, 1, "shutting down");
		goto out;
	}
	if (server_disk_low(srv)) {
		/* PS3.8 Table 9-21: transient, service-provider (presentation), temporary
		 * congestion: the peer may try again once space is freed. Nothing is deleted. */
		send_reject(a, 2, 3, 1, "free space below min_free_space");
		goto out;
	}
	if (srv->n_established >= (unsigned)srv->cfg->max_associations) {
		send_reject(a, 2, 3, 2, "max_associations reached");
		goto out;
	}
	if (srv->cfg->max_associations_per_peer > 0 &&
	    established_from(srv, a->peer_ip) >= (unsigned)srv->cfg->max_associations_per_peer) {
		/* Counted per peer address: a calling AE title is whatever the peer says. */
		send_reject(a, 2, 3, 2, "max_associations_per_peer reached");
		goto out;
	}

	const struct config_peer *known = config_find_peer(srv->cfg, a->calling_ae);
	a->services = known ? known->services : CONFIG_SVC_ALL;

	/* Presentation contexts: answer every one (PS3.8 9.3.3.2). */
	a->pcs = calloc(rq->n_pc ? rq->n_pc : 1, sizeof *a->pcs);
	if (!a->pcs) {
		send_reject(a, 2, 3, 2, "out of memory");
		goto out;
	}
	unsigned n_ok = 0;
	for (unsigned i = 0; i < rq->n_pc; i++) {
		const struct ul_pc_rq *p = &rq->pc[i];
		struct pctx *c = &a->pcs[a->n_pcs++];
		c->id = p->id;
		snprintf(c->abstract, sizeof c->abstract, "%s", p->abstract);
		struct ul_pc_ac *r = &ac->pc[ac->n_pc++];
		r->id = p->id;
		bool storage = sop_class_is_storage(p->abstract);
		if (strcmp(p->abstract, UID_VERIFICATION) != 0 && !storage && !is_qr_class(p->abstract)) {
			c->result = r->result = 3;
			snprintf(r->ts, sizeof r->ts, "%s", p->n_ts ? p->ts[0] : "1.2.840.10008.1.2");
			log_info("assoc=%llu event=pc_rejected pc=%u abstract=%s result=3",
				 (unsigned long long)a->id, p->id, p->abstract);
			continue;
		}
		c->scp_role = storage && wants_scp_role(rq, p->abstract);
		const struct dcm_ts *ts = choose_ts(p, c->scp_role);
		if (!ts) {
			c->result = r->result = 4;
			snprintf(r->ts, sizeof r->ts, "%s", p->n_ts ? p->ts[0] : "1.2.840.10008.1.2");
			log_info("assoc=%llu event=pc_rejected pc=%u abstract=%s result=4",
				 (unsigned long long)a->id, p->id, p->abstract);
			continue;
		}
		c->result = r->result = 0;
		c->ts = ts;
		snprintf(r->ts, sizeof r->ts, "%s", ts->uid);
		log_debug("assoc=%llu event=pc_accepted pc=%u abstract=%s ts=%s",
			  (unsigned long long)a->id, p->id, p->abstract, ts->uid);
		n_ok++;
	}

	/* Answer: AE titles echoed, our user information (PS3.7 D.3.3). */
	ac->protocol_version = 1;
	snprintf(ac->called, sizeof ac->called, "%s", rq->called);
	snprintf(ac->calling, sizeof ac->calling, "%s", rq->calling);
	snprintf(ac->app_context, sizeof ac->app_context, "%s", UID_APPLICATION_CONTEXT);
	ac->ui.max_length = srv->cfg->max_pdu;
	snprintf(ac->ui.impl_class_uid, sizeof ac->ui.impl_class_uid, "%s", DCM_IMPL_CLASS_UID);
	snprintf(ac->ui.impl_version, sizeof ac->ui.impl_version, "%s", DCM_IMPL_VERSION);
	if (rq->ui.has_async) {
		/* Negotiated down to one operation each way (PS3.7 D.3.3.3). */
		ac->ui.has_async = true;
		ac->ui.max_invoked = 1;
		ac->ui.max_performed = 1;
	}
	for (unsigned i = 0; i < rq->ui.n_roles && i < UL_MAX_ROLES; i++) {
		/* The requestor may be SCU of what it proposes, and SCP of storage classes (to
		 * receive C-GET sub-operations); we answer each role item (PS3.7 D.3.3.4). */
		struct ul_role *r = &ac->ui.roles[ac->ui.n_roles++];
		snprintf(r->uid, sizeof r->uid, "%s", rq->ui.roles[i].uid);
		r->scu = rq->ui.roles[i].scu;
		r->scp = rq->ui.roles[i].scp && sop_class_is_storage(rq->ui.roles[i].uid) ? 1 : 0;
	}
	a->peer_max_pdu = rq->ui.max_length;

	size_t cap = 512 + (size_t)ac->n_pc * 80 + (size_t)ac->ui.n_roles * 80;
	uint8_t *pdu = malloc(cap);
	size_t n = 0;
	if (!pdu || ul_assoc_ac_encode(ac, pdu, cap, &n) < 0) {
		free(pdu);
		send_reject(a, 2, 3, 2, "cannot encode A-ASSOCIATE-AC");
		goto out;
	}
	a->established = true;
	srv->n_established++;
	audit_queue(a, AUDIT_BEGIN);
	log_info("assoc=%llu event=accepted peer=%s calling=%s called=%s contexts=%u accepted=%u "
		 "peer_max_pdu=%u impl=%s",
		 (unsigned long long)a->id, a->peer_ip, a->calling_ae, a->called_ae, rq->n_pc, n_ok,
		 a->peer_max_pdu, rq->ui.impl_class_uid);
	struct { const uint8_t *p; size_t n; } out_pdu = { pdu, n };
	assoc_event(a, UL_EVT7, &out_pdu);
	free(pdu);
out:
	free(ac);
}

const struct pctx *assoc_find_pc(const struct assoc *a, uint8_t pc_id)
{
	for (unsigned i = 0; i < a->n_pcs; i++)
		if (a->pcs[i].id == pc_id)
			return a->pcs[i].result == 0 ? &a->pcs[i] : NULL;
	return NULL;
}

/* ---- DIMSE ------------------------------------------------------------------------ */

static int on_dimse_command(void *ctx, uint8_t pc_id, const struct dimse_cmd *cmd)
{
	struct assoc *a = ctx;
	const struct pctx *pc = assoc_find_pc(a, pc_id);
	if (!pc) {
		log_warn("assoc=%llu event=bad_message why=\"command on a presentation context "
			 "that was not accepted\" pc=%u",
			 (unsigned long long)a->id, pc_id);
		return -EPROTO;
	}
	return services_command(a, pc, cmd);
}

static int on_dimse_data(void *ctx, uint8_t pc_id, const uint8_t *buf, size_t len, bool last)
{
	struct assoc *a = ctx;
	return services_data(a, pc_id, buf, len, last);
}

static void handle_pdata(struct assoc *a, const uint8_t *body, size_t len)
{
	size_t off = 0;
	struct ul_pdv pdv;
	int rc;
	while ((rc = ul_pdata_next(body, len, &off, &pdv)) == 1) {
		rc = dimse_rx_pdv(&a->rx, pdv.pc_id, pdv.mch, pdv.data, pdv.len);
		if (a->closing)
			return; /* closed while handling it (e.g. send queue full): that is the outcome */
		if (rc < 0) {
			log_warn("assoc=%llu event=dimse_error err=\"%s\"", (unsigned long long)a->id,
				 rc > -4096 && rc < 0 && rc > -200 ? strerror(-rc) : dimse_strerror(rc));
			a->outcome = "dimse-error";
			assoc_abort(a, "DIMSE protocol error");
			return;
		}
	}
	if (rc < 0) {
		log_warn("assoc=%llu event=bad_pdu pdu=P-DATA-TF err=\"%s\"",
			 (unsigned long long)a->id, ul_strerror(rc));
		a->outcome = "bad-pdu";
		assoc_event(a, UL_EVT19, &rc);
	}
}

/* ---- the state machine's actions (PS3.8 9.2.2, acceptor side) ------------------------ */

static void send_abort(struct assoc *a, uint8_t source, uint8_t reason)
{
	uint8_t pdu[10];
	ul_abort_encode(pdu, source, reason);
	send_bytes(a, pdu, sizeof pdu);
}

void assoc_abort(struct assoc *a, const char *why)
{
	if (a->closing)
		return;
	log_warn("assoc=%llu event=abort why=\"%s\"", (unsigned long long)a->id, why);
	if (!a->detail[0])
		snprintf(a->detail, sizeof a->detail, "%s", why);
	if (!a->outcome)
		a->outcome = "aborted";
	assoc_event(a, UL_EVT15, NULL);
}

static void send_release_rp(struct assoc *a)
{
	uint8_t pdu[10];
	ul_release_rp_encode(pdu);
	assoc_event(a, UL_EVT14, pdu);
}

void assoc_op_done(struct assoc *a)
{
	if (a->ops_pending > 0)
		a->ops_pending--;
	if (!a->closing && a->release_pending && a->ops_pending == 0 && !a->cur_store) {
		a->release_pending = false;
		send_release_rp(a);
	}
}

/*
 * Feeds one event to the state machine and performs the action it names. arg carries the
 * event's data: the PDU body for received PDUs, the bytes to send for local responses.
 */
static void assoc_event(struct assoc *a, enum ul_event ev, const void *arg)
{
	enum ul_state from = a->sm.state;
	enum ul_action act;
	if (ul_sm_event(&a->sm, ev, &act) < 0) {
		log_err("assoc=%llu event=fsm_error state=%s ev=%s", (unsigned long long)a->id,
			ul_state_name(from), ul_event_name(ev));
		assoc_close(a);
		return;
	}
	log_debug("assoc=%llu fsm=%s+%s->%s action=%s", (unsigned long long)a->id,
		  ul_state_name(from), ul_event_name(ev), ul_state_name(a->sm.state),
		  ul_action_name(act));

	switch (act) {
	case UL_AE5: /* connection accepted: start ARTIM */
		start_artim(a);
		break;
	case UL_AE6: { /* A-ASSOCIATE-RQ: stop ARTIM, decide */
		const struct rq_arg *r = arg;
		uv_timer_stop(&a->timer);
		negotiate(a, r->rq, r->rc);
		break;
	}
	case UL_AE7: { /* send A-ASSOCIATE-AC */
		const struct { const uint8_t *p; size_t n; } *b = arg;
		send_bytes(a, b->p, b->n);
		dimse_rx_init(&a->rx, &(struct dimse_rx_cb){ .ctx = a, .on_command = on_dimse_command,
							      .on_data = on_dimse_data });
		a->rx_init = true;
		start_idle(a);
		break;
	}
	case UL_AE8: /* send A-ASSOCIATE-RJ, start ARTIM */
		send_bytes(a, arg, 10);
		start_artim(a);
		break;
	case UL_DT1: /* P-DATA request: the caller sends the bytes */
		break;
	case UL_DT2: { /* P-DATA-TF received */
		const struct { const uint8_t *p; size_t n; } *b = arg;
		start_idle(a);
		handle_pdata(a, b->p, b->n);
		break;
	}
	case UL_AR2: /* A-RELEASE-RQ received: answer once every operation is answered */
		if (a->ops_pending == 0 && !a->cur_store)
			send_release_rp(a);
		else
			a->release_pending = true;
		break;
	case UL_AR4: /* send A-RELEASE-RP, start ARTIM; the peer closes */
		send_bytes(a, arg, 10);
		if (!a->outcome)
			a->outcome = "released";
		start_artim(a);
		break;
	case UL_AA1: /* local abort, or a PDU Sta2 does not expect: A-ABORT (service-user) */
		if (ev != UL_EVT15 && ev != UL_EVT19) { /* Evt19 is logged where it is found */
			if (!a->outcome)
				a->outcome = "protocol-error";
			log_warn("assoc=%llu event=unexpected_pdu state=%s ev=%s action=AA-1",
				 (unsigned long long)a->id, ul_state_name(from), ul_event_name(ev));
		}
		send_abort(a, 0, 0);
		if (a->cur_store) {
			services_store_abandon(a->cur_store);
			a->cur_store = NULL;
		}
		start_artim(a);
		break;
	case UL_AA2: /* ARTIM expired: close */
	case UL_AA5: /* transport closed before an association */
		assoc_close(a);
		break;
	case UL_AA3: /* A-ABORT received: close */
		if (!a->outcome)
			a->outcome = "aborted-by-peer";
		log_info("assoc=%llu event=abort_received", (unsigned long long)a->id);
		assoc_close(a);
		break;
	case UL_AA4: /* transport closed unexpectedly */
		if (!a->outcome)
			a->outcome = "connection-lost";
		assoc_close(a);
		break;
	case UL_AA6: /* ignore the PDU (Sta13) */
		break;
	case UL_AA7: /* send A-ABORT (Sta13) */
		send_abort(a, 2, 2);
		break;
	case UL_AA8: { /* invalid or unexpected PDU: A-ABORT from the provider, start ARTIM */
		uint8_t reason = 2; /* unexpected PDU */
		if (ev == UL_EVT19 && arg)
			reason = (uint8_t)ul_abort_reason_for(*(const int *)arg);
		if (!a->outcome)
			a->outcome = "protocol-error";
		log_warn("assoc=%llu event=abort_sent source=2 reason=%u state=%s ev=%s",
			 (unsigned long long)a->id, reason, ul_state_name(from), ul_event_name(ev));
		if (!a->detail[0])
			snprintf(a->detail, sizeof a->detail, "A-ABORT 2/%u in %s on %s", reason,
				 ul_state_name(from), ul_event_name(ev));
		send_abort(a, 2, reason);
		if (a->cur_store) {
			services_store_abandon(a->cur_store);
			a->cur_store = NULL;
		}
		start_artim(a);
		break;
	}
	case UL_AR5: /* transport closed after release */
	case UL_AR3:
		assoc_close(a);
		break;
	default:
		/* Requestor-side actions (AE-1..AE-4, AR-1, AR-6..AR-10) have no meaning for an
		 * acceptor: the machine only reaches them through local requests we never make. */
		log_warn("assoc=%llu event=unexpected_action action=%s", (unsigned long long)a->id,
			 ul_action_name(act));
		break;
	}
}

/* ---- reading ---------------------------------------------------------------------- */

static bool ensure_capacity(struct assoc *a, size_t need)
{
	if (a->rcap >= need)
		return true;
	size_t cap = a->rcap ? a->rcap : READ_CHUNK;
	while (cap < need)
		cap *= 2;
	uint8_t *p = realloc(a->rbuf, cap);
	if (!p)
		return false;
	a->rbuf = p;
	a->rcap = cap;
	return true;
}

/* A fresh receive buffer holds two P-DATA-TF PDUs of the largest length we accept, so that
 * a PDU never makes it grow (a realloc copying what it holds) and one read can take more
 * than one PDU. */
static size_t read_cap(const struct assoc *a)
{
	size_t two = 2 * (6 + (size_t)a->srv->cfg->max_pdu);
	return two > READ_CHUNK ? two : READ_CHUNK;
}

/* Whether the receive buffer can go while it is empty: not while a data set is arriving (its
 * next PDU is on its way); an idle association holds no buffer. */
static bool rbuf_release_ok(const struct assoc *a)
{
	return !a->closing && a->rlen == 0 && a->rbuf && !a->cur_store;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct assoc *a = h->data;
	if (transport_is_tls(&a->tp)) {
		transport_alloc(&a->tp, buf);
		return;
	}
	if (a->rcap - a->rlen < 4096 &&
	    !ensure_capacity(a, a->rlen + (a->rcap ? READ_CHUNK : read_cap(a)))) {
		*buf = uv_buf_init(NULL, 0);
		return;
	}
	*buf = uv_buf_init((char *)a->rbuf + a->rlen, (unsigned)(a->rcap - a->rlen));
}

/* The largest PDU body we accept in the current state, checked before buffering it. */
static uint32_t max_body(const struct assoc *a, uint8_t type)
{
	switch (type) {
	case UL_PDU_ASSOC_RQ:
		return MAX_ASSOC_RQ_LEN;
	case UL_PDU_PDATA_TF:
		return a->srv->cfg->max_pdu;
	default:
		return 64;
	}
}

static const char *pdu_name(uint8_t type)
{
	static const char *const names[] = { "?", "A-ASSOCIATE-RQ", "A-ASSOCIATE-AC",
		"A-ASSOCIATE-RJ", "P-DATA-TF", "A-RELEASE-RQ", "A-RELEASE-RP", "A-ABORT" };
	return type < 8 ? names[type] : "unknown";
}

static enum ul_event event_for_pdu(uint8_t type)
{
	switch (type) {
	case UL_PDU_ASSOC_RQ: return UL_EVT6;
	case UL_PDU_ASSOC_AC: return UL_EVT3;
	case UL_PDU_ASSOC_RJ: return UL_EVT4;
	case UL_PDU_PDATA_TF: return UL_EVT10;
	case UL_PDU_RELEASE_RQ: return UL_EVT12;
	case UL_PDU_RELEASE_RP: return UL_EVT13;
	case UL_PDU_ABORT: return UL_EVT16;
	default: return UL_EVT19;
	}
}

/* Frames and handles every complete PDU in the buffer. */
static void process_input(struct assoc *a)
{
	size_t pos = 0;
	size_t need = 0; /* a partial PDU whose header passed the checks: its whole size */
	while (!a->closing && a->rlen - pos >= 6) {
		uint8_t type;
		uint32_t blen;
		ul_pdu_header(a->rbuf + pos, a->rlen - pos, &type, &blen);
		enum ul_event ev = event_for_pdu(type);
		if (ev == UL_EVT19) {
			int err = UL_E_PDU_TYPE;
			log_warn("assoc=%llu event=bad_pdu type=0x%02x", (unsigned long long)a->id, type);
			a->outcome = "bad-pdu";
			assoc_event(a, UL_EVT19, &err);
			break;
		}
		int chk = ul_pdu_check(type, blen);
		if (chk < 0) {
			log_warn("assoc=%llu event=bad_pdu pdu=%s type=0x%02x length=%u err=\"%s\"",
				 (unsigned long long)a->id, pdu_name(type), type, blen, ul_strerror(chk));
			a->outcome = "bad-pdu";
			assoc_event(a, UL_EVT19, &chk);
			break;
		}
		if (blen > max_body(a, type)) {
			int err = UL_E_LENGTH;
			log_warn("assoc=%llu event=pdu_too_long type=0x%02x length=%u limit=%u",
				 (unsigned long long)a->id, type, blen, max_body(a, type));
			a->outcome = "pdu-too-long";
			assoc_event(a, UL_EVT19, &err);
			break;
		}
		if (a->rlen - pos < 6 + (size_t)blen) {
			need = 6 + (size_t)blen;
			break;
		}
		const uint8_t *body = a->rbuf + pos + 6;
		pos += 6 + (size_t)blen;
		if (ev == UL_EVT6 && a->sm.state == UL_STA2) {
			/* PS3.8 Table 9-10: an A-ASSOCIATE-RQ that does not decode is an invalid PDU
			 * (Evt19 → AA-1 in Sta2), not Evt6. */
			struct ul_assoc_rq *rq = calloc(1, sizeof *rq);
			if (!rq) {
				assoc_abort(a, "out of memory");
				return;
			}
			int rc = ul_assoc_rq_decode(body, blen, rq);
			if (rc < 0 && rc != UL_E_PROTOCOL_VERSION) {
				log_warn("assoc=%llu event=bad_pdu pdu=A-ASSOCIATE-RQ err=\"%s\"",
					 (unsigned long long)a->id, ul_strerror(rc));
				a->outcome = "bad-pdu";
				assoc_event(a, UL_EVT19, &rc);
			} else {
				struct rq_arg r = { rq, rc };
				assoc_event(a, UL_EVT6, &r);
			}
			free(rq);
		} else if (ev == UL_EVT16) {
			assoc_event(a, ev, NULL);
		} else {
			struct { const uint8_t *p; size_t n; } b = { body, blen };
			assoc_event(a, ev, &b);
		}
	}
	if (a->closing)
		return;
	/* Compact: keep the partial PDU at the front. */
	if (pos > 0) {
		memmove(a->rbuf, a->rbuf + pos, a->rlen - pos);
		a->rlen -= pos;
	}
	if (rbuf_release_ok(a)) {
		free(a->rbuf);
		a->rbuf = NULL;
		a->rcap = 0;
	} else if (need > 0 && !ensure_capacity(a, need)) {
		/* room for the rest of the partial PDU; a header the loop refused (a length
		 * beyond the limit, an unknown type) set no need: its claimed length is never
		 * allocated */
		assoc_abort(a, "out of memory");
	}
}

/*
 * nread bytes arrived (on TLS: ciphertext, whose plaintext is appended to rbuf). Returns
 * false when the connection was closed here: a failed TLS handshake is logged as one line
 * (peer address and OpenSSL's reason, nothing from the certificate), audited as a
 * connection without an association, and closed (after the alert, if OpenSSL made one);
 * the daemon goes on serving.
 */
static bool received(struct assoc *a, size_t nread, bool *peer_closed)
{
	bool was_ready = transport_ready(&a->tp);
	int rc = transport_input(&a->tp, nread, &a->rbuf, &a->rlen, &a->rcap);
	if (rc == TRANSPORT_READY) {
		char d[96];
		log_info("assoc=%llu event=tls_established peer=%s tls=\"%s\"",
			 (unsigned long long)a->id, a->peer_ip, transport_describe(&a->tp, d, sizeof d));
	} else if (rc == TRANSPORT_CLOSED) {
		*peer_closed = true;
	} else if (rc < 0) {
		const char *why = rc == -ENOMEM ? "out of memory" : transport_error(&a->tp);
		log_warn("assoc=%llu event=tls_failed peer=%s stage=%s why=\"%s\"",
			 (unsigned long long)a->id, a->peer_ip, was_ready ? "data" : "handshake", why);
		if (!a->outcome)
			a->outcome = was_ready ? "tls-error" : "tls-handshake-failed";
		if (!a->detail[0])
			snprintf(a->detail, sizeof a->detail, "TLS: %s", why);
		assoc_close(a);
		return false;
	}
	return true;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct assoc *a = s->data;
	if (a->closing)
		return;
	if (nread < 0) {
		if (nread != UV_EOF)
			log_debug("assoc=%llu event=read_error err=%s", (unsigned long long)a->id,
				  uv_strerror((int)nread));
		assoc_event(a, UL_EVT17, NULL);
		return;
	}
	if (nread == 0)
		return;
	bool peer_closed = false;
	if (!received(a, (size_t)nread, &peer_closed))
		return;
	process_input(a);
	if (peer_closed && !a->closing) {
		/* close_notify: the peer will send nothing more (RFC 8446 6.1). */
		assoc_event(a, UL_EVT17, NULL);
		return;
	}
}

void assoc_pause_reading(struct assoc *a)
{
	if (a->closing || !a->reading)
		return;
	uv_read_stop((uv_stream_t *)&a->tcp);
	a->reading = false;
	a->read_paused = true;
}

void assoc_resume_reading(struct assoc *a)
{
	if (a->closing || a->reading)
		return;
	a->read_paused = false;
	if (uv_read_start((uv_stream_t *)&a->tcp, on_alloc, on_read) == 0)
		a->reading = true;
}

void assoc_accept(struct server *srv, uv_stream_t *listener, struct tls_ctx *tls)
{
	struct assoc *a = calloc(1, sizeof *a);
	if (!a) {
		log_err("event=accept_failed err=\"out of memory\"");
		return;
	}
	a->srv = srv;
	uv_tcp_init(srv->loop, &a->tcp);
	a->tcp.data = a;
	transport_init_plain(&a->tp, (uv_stream_t *)&a->tcp, "assoc", 0);
	a->handles_open = 1;
	a->next = srv->assocs;
	if (srv->assocs)
		srv->assocs->prev = a;
	srv->assocs = a;
	srv->n_assocs++;
	if (uv_accept(listener, (uv_stream_t *)&a->tcp) < 0) {
		a->closing = true;
		uv_close((uv_handle_t *)&a->tcp, on_handle_closed);
		return;
	}
	uv_timer_init(srv->loop, &a->timer);
	a->timer.data = a;
	a->handles_open = 2;
	a->id = ++srv->next_assoc_id;
	a->tp.id = a->id;
	a->next_msg_id = 1;
	a->t_start_ms = now_ms();
	ul_sm_init(&a->sm, false);
	uv_tcp_nodelay(&a->tcp, 1);

	struct sockaddr_storage ss;
	int sl = sizeof ss;
	if (uv_tcp_getpeername(&a->tcp, (struct sockaddr *)&ss, &sl) == 0) {
		if (ss.ss_family == AF_INET)
			uv_ip4_name((struct sockaddr_in *)&ss, a->peer_ip, sizeof a->peer_ip);
		else
			uv_ip6_name((struct sockaddr_in6 *)&ss, a->peer_ip, sizeof a->peer_ip);
	}
	log_info("assoc=%llu event=connected peer=%s tls=%s", (unsigned long long)a->id, a->peer_ip,
		 tls ? "yes" : "no");
	assoc_event(a, UL_EVT5, NULL);
	if (tls && transport_init_tls(&a->tp, (uv_stream_t *)&a->tcp, tls, "assoc", a->id) < 0) {
		a->outcome = "tls-error";
		snprintf(a->detail, sizeof a->detail, "TLS: out of memory");
		assoc_close(a);
		return;
	}
	if (uv_read_start((uv_stream_t *)&a->tcp, on_alloc, on_read) == 0)
		a->reading = true;
	else
		assoc_close(a);
}
