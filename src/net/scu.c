/*
 * Outbound associations: the requestor side of the Upper Layer (PS3.8 9.2, Sta4/Sta5/Sta7)
 * and a C-STORE SCU (PS3.4 B, PS3.7 9.1.1) on the libuv loop. See scu.h.
 */
#include "net/scu.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dicom/part10.h"
#include "dimse/command.h"
#include "dimse/rx.h"
#include "dimse/status.h"
#include "dimse/tx.h"
#include "net/tls.h"
#include "net/transport.h"
#include "ul/fsm.h"
#include "ul/pdu.h"
#include "util/log.h"

#define SCU_MAX_PC 128
#define READ_CHUNK (64u * 1024)
/* Largest PDU body we take from the peer: our announced maximum plus slack for the
 * fixed-size PDUs; an A-ASSOCIATE-AC is small. */
#define MAX_AC_LEN (256u * 1024)

struct scu_pc {
	uint8_t id;
	uint8_t result;
	char abstract[65];
	char ts[65];                   /* accepted transfer syntax (result 0) */
	unsigned n_offered;
	char offered[4][65];           /* the transfer syntaxes proposed */
};

struct scu {
	uv_tcp_t tcp;
	struct transport tp;           /* TCP or TLS over tcp */
	struct tls_ctx *tls;           /* borrowed; NULL = plain TCP */
	uv_timer_t timer;
	uv_getaddrinfo_t gai;
	uv_connect_t conn;
	uv_loop_t *loop;
	struct ul_assoc_sm sm;
	struct scu_callbacks cb;
	char host[256];
	int port;
	char calling_ae[17], called_ae[17];
	uint32_t max_pdu;
	uint32_t peer_max_pdu;
	unsigned timeout_s;
	uint64_t id;
	struct scu_pc pcs[SCU_MAX_PC];
	unsigned n_pcs;
	struct dimse_rx rx;
	bool rx_init;
	uint8_t *rbuf;
	size_t rlen, rcap;
	uint16_t next_msg_id;
	uint16_t store_msg_id;         /* outstanding C-STORE, 0 = none */
	uint16_t echo_msg_id;          /* outstanding C-ECHO, 0 = none */
	unsigned handles_open;
	bool tcp_init, timer_init;
	bool closing;
	bool ready_called;
	int err;                       /* for on_closed */
	char why[320];
};

static void scu_event(struct scu *s, enum ul_event ev, const void *arg);

static void set_err(struct scu *s, int err, const char *why)
{
	if (s->err == 0 && err != 0) {
		s->err = err;
		snprintf(s->why, sizeof s->why, "%s", why);
	}
}

/* ---- closing --------------------------------------------------------------------- */

static void on_closed_handle(uv_handle_t *h)
{
	struct scu *s = h->data;
	if (--s->handles_open > 0)
		return;
	if (s->cb.on_closed)
		s->cb.on_closed(s, s->cb.ctx, s->err, s->err ? s->why : "released");
	if (s->rx_init)
		dimse_rx_free(&s->rx);
	transport_free(&s->tp);
	tls_ctx_free(s->tls);
	free(s->rbuf);
	free(s);
}

static void scu_close(struct scu *s)
{
	if (s->closing)
		return;
	s->closing = true;
	if (s->timer_init) {
		uv_timer_stop(&s->timer);
		uv_close((uv_handle_t *)&s->timer, on_closed_handle);
	}
	if (s->tcp_init) {
		transport_close_notify(&s->tp);
		uv_close((uv_handle_t *)&s->tcp, on_closed_handle);
	}
}

/* ---- sending ---------------------------------------------------------------------- */

/* Queues whole PDUs in one write; takes ownership of data (malloc'd). */
static int send_owned(struct scu *s, uint8_t *data, size_t len)
{
	if (s->closing) {
		free(data);
		return -ECANCELED;
	}
	return transport_send_owned(&s->tp, data, len);
}

static int send_copy(struct scu *s, const uint8_t *data, size_t len)
{
	uint8_t *p = malloc(len);
	if (!p)
		return -ENOMEM;
	memcpy(p, data, len);
	return send_owned(s, p, len);
}

/* ---- timer ------------------------------------------------------------------------ */

static void on_timer(uv_timer_t *t)
{
	struct scu *s = t->data;
	if (s->closing)
		return;
	if (s->sm.state == UL_STA13 || s->sm.state == UL_STA1 || s->sm.state == UL_STA4) {
		set_err(s, -ETIMEDOUT, "timed out");
		if (s->sm.state == UL_STA13)
			scu_event(s, UL_EVT18, NULL);
		else
			scu_close(s);
		return;
	}
	log_warn("scu=%llu event=timeout state=%s", (unsigned long long)s->id,
		 ul_state_name(s->sm.state));
	set_err(s, -ETIMEDOUT, "peer did not answer in time");
	scu_event(s, UL_EVT15, NULL);
}

static void arm(struct scu *s, unsigned seconds)
{
	if (!s->closing)
		uv_timer_start(&s->timer, on_timer, (uint64_t)seconds * 1000u, 0);
}

/* ---- association ------------------------------------------------------------------ */

static int send_rq(struct scu *s, const struct scu_params *p_unused)
{
	(void)p_unused;
	struct ul_assoc_rq *rq = calloc(1, sizeof *rq);
	if (!rq)
		return -ENOMEM;
	rq->protocol_version = 1;
	snprintf(rq->called, sizeof rq->called, "%s", s->called_ae);
	snprintf(rq->calling, sizeof rq->calling, "%s", s->calling_ae);
	snprintf(rq->app_context, sizeof rq->app_context, "%s", UL_APP_CONTEXT);
	rq->n_pc = s->n_pcs;
	for (unsigned i = 0; i < s->n_pcs; i++) {
		rq->pc[i].id = s->pcs[i].id;
		snprintf(rq->pc[i].abstract, sizeof rq->pc[i].abstract, "%s", s->pcs[i].abstract);
	}
	rq->ui.max_length = s->max_pdu;
	snprintf(rq->ui.impl_class_uid, sizeof rq->ui.impl_class_uid, "%s", DCM_IMPL_CLASS_UID);
	snprintf(rq->ui.impl_version, sizeof rq->ui.impl_version, "%s", DCM_IMPL_VERSION);
	for (unsigned i = 0; i < s->n_pcs; i++) {
		rq->pc[i].n_ts = s->pcs[i].n_offered;
		for (unsigned k = 0; k < s->pcs[i].n_offered; k++)
			snprintf(rq->pc[i].ts[k], sizeof rq->pc[i].ts[k], "%s", s->pcs[i].offered[k]);
	}
	size_t need = 0;
	ul_assoc_rq_encode(rq, NULL, 0, &need);
	uint8_t *pdu = malloc(need ? need : 1);
	size_t n = 0;
	int rc = pdu ? ul_assoc_rq_encode(rq, pdu, need, &n) : -ENOMEM;
	free(rq);
	if (rc < 0) {
		free(pdu);
		return rc;
	}
	return send_owned(s, pdu, n);
}

static int on_command(void *ctx, uint8_t pc_id, const struct dimse_cmd *cmd)
{
	struct scu *s = ctx;
	(void)pc_id;
	if (cmd->command_field == DIMSE_C_ECHO_RSP && s->echo_msg_id &&
	    cmd->message_id_responded == s->echo_msg_id) {
		s->echo_msg_id = 0;
		uv_timer_stop(&s->timer);
		if (s->cb.on_echo_rsp)
			s->cb.on_echo_rsp(s, s->cb.ctx, cmd->status);
		return 0;
	}
	if (cmd->command_field != 0x8001 || !s->store_msg_id ||
	    cmd->message_id_responded != s->store_msg_id) {
		log_warn("scu=%llu event=unexpected_message command=%s", (unsigned long long)s->id,
			 dimse_command_name(cmd->command_field));
		return -EPROTO;
	}
	s->store_msg_id = 0;
	uv_timer_stop(&s->timer);
	if (s->cb.on_store_rsp)
		s->cb.on_store_rsp(s, s->cb.ctx, cmd->status);
	return 0;
}

static int on_data(void *ctx, uint8_t pc_id, const uint8_t *buf, size_t len, bool last)
{
	(void)ctx;
	(void)pc_id;
	(void)buf;
	(void)len;
	(void)last;
	return -EPROTO; /* a C-STORE-RSP carries no data set */
}

static void handle_ac(struct scu *s, const uint8_t *body, size_t len)
{
	struct ul_assoc_ac *ac = calloc(1, sizeof *ac);
	if (!ac) {
		set_err(s, -ENOMEM, "out of memory");
		scu_event(s, UL_EVT15, NULL);
		return;
	}
	int rc = ul_assoc_ac_decode(body, len, ac);
	if (rc < 0) {
		set_err(s, -EPROTO, ul_strerror(rc));
		free(ac);
		scu_event(s, UL_EVT19, &rc);
		return;
	}
	s->peer_max_pdu = ac->ui.max_length;
	unsigned accepted = 0;
	for (unsigned i = 0; i < ac->n_pc; i++)
		for (unsigned k = 0; k < s->n_pcs; k++)
			if (s->pcs[k].id == ac->pc[i].id) {
				s->pcs[k].result = ac->pc[i].result;
				snprintf(s->pcs[k].ts, sizeof s->pcs[k].ts, "%s", ac->pc[i].ts);
				if (ac->pc[i].result == 0)
					accepted++;
			}
	free(ac);
	log_info("scu=%llu event=accepted called=%s contexts=%u accepted=%u peer_max_pdu=%u",
		 (unsigned long long)s->id, s->called_ae, s->n_pcs, accepted, s->peer_max_pdu);
	dimse_rx_init(&s->rx, &(struct dimse_rx_cb){ .ctx = s, .on_command = on_command,
						      .on_data = on_data });
	s->rx_init = true;
	uv_timer_stop(&s->timer);
	s->ready_called = true;
	if (s->cb.on_ready)
		s->cb.on_ready(s, s->cb.ctx);
}

static void handle_pdata(struct scu *s, const uint8_t *body, size_t len)
{
	size_t off = 0;
	struct ul_pdv pdv;
	int rc;
	while ((rc = ul_pdata_next(body, len, &off, &pdv)) == 1) {
		rc = dimse_rx_pdv(&s->rx, pdv.pc_id, pdv.mch, pdv.data, pdv.len);
		if (rc < 0) {
			set_err(s, -EPROTO, "DIMSE protocol error from the peer");
			scu_event(s, UL_EVT15, NULL);
			return;
		}
		if (s->closing)
			return;
	}
	if (rc < 0) {
		set_err(s, -EPROTO, ul_strerror(rc));
		scu_event(s, UL_EVT19, &rc);
	}
}

struct pdu_arg {
	const uint8_t *p;
	size_t n;
};

static void scu_event(struct scu *s, enum ul_event ev, const void *arg)
{
	enum ul_state from = s->sm.state;
	enum ul_action act;
	if (ul_sm_event(&s->sm, ev, &act) < 0) {
		log_debug("scu=%llu fsm=blank state=%s ev=%s", (unsigned long long)s->id,
			  ul_state_name(from), ul_event_name(ev));
		return;
	}
	log_debug("scu=%llu fsm=%s+%s->%s action=%s", (unsigned long long)s->id,
		  ul_state_name(from), ul_event_name(ev), ul_state_name(s->sm.state),
		  ul_action_name(act));
	const struct pdu_arg *b = arg;
	uint8_t pdu[10];
	switch (act) {
	case UL_AE1: /* connect: issued by scu_open */
	case UL_DT1: /* P-DATA: the caller sends */
		break;
	case UL_AE2: /* connected: send A-ASSOCIATE-RQ */
		if (send_rq(s, NULL) < 0) {
			set_err(s, -ENOMEM, "cannot encode A-ASSOCIATE-RQ");
			scu_close(s);
		}
		arm(s, s->timeout_s);
		break;
	case UL_AE3: /* A-ASSOCIATE-AC */
		handle_ac(s, b->p, b->n);
		break;
	case UL_AE4: { /* A-ASSOCIATE-RJ: close */
		uint8_t result = 0, source = 0, reason = 0;
		ul_assoc_rj_decode(b->p, b->n, &result, &source, &reason);
		char why[320];
		snprintf(why, sizeof why, "association rejected result=%u source=%u reason=%u",
			 result, source, reason);
		set_err(s, -ECONNREFUSED, why);
		scu_close(s);
		break;
	}
	case UL_DT2:
		handle_pdata(s, b->p, b->n);
		break;
	case UL_AR1: /* send A-RELEASE-RQ */
		ul_release_rq_encode(pdu);
		send_copy(s, pdu, sizeof pdu);
		arm(s, s->timeout_s);
		break;
	case UL_AR2: /* peer asks to release: answer at once (nothing outstanding matters) */
		ul_release_rp_encode(pdu);
		scu_event(s, UL_EVT14, NULL);
		break;
	case UL_AR4: /* send A-RELEASE-RP, start ARTIM */
		ul_release_rp_encode(pdu);
		send_copy(s, pdu, sizeof pdu);
		arm(s, 5);
		break;
	case UL_AR3: /* release confirmed: close */
	case UL_AR5:
		scu_close(s);
		break;
	case UL_AA1: /* local abort: A-ABORT (service-user), wait for close */
		ul_abort_encode(pdu, 0, 0);
		send_copy(s, pdu, sizeof pdu);
		arm(s, 2);
		break;
	case UL_AA2: case UL_AA3: case UL_AA4: case UL_AA5:
		if (act == UL_AA3)
			set_err(s, -ECONNABORTED, "aborted by the peer");
		else if (act == UL_AA4)
			set_err(s, -ECONNRESET, "connection closed by the peer");
		scu_close(s);
		break;
	case UL_AA6:
		break;
	case UL_AA7:
	case UL_AA8: {
		uint8_t reason = 2;
		if (ev == UL_EVT19 && arg)
			reason = (uint8_t)ul_abort_reason_for(*(const int *)arg);
		set_err(s, -EPROTO, "protocol error");
		ul_abort_encode(pdu, 2, reason);
		send_copy(s, pdu, sizeof pdu);
		arm(s, 2);
		break;
	}
	default:
		log_warn("scu=%llu event=unexpected_action action=%s", (unsigned long long)s->id,
			 ul_action_name(act));
		break;
	}
}

/* ---- reading ---------------------------------------------------------------------- */

static bool ensure(struct scu *s, size_t need)
{
	if (s->rcap >= need)
		return true;
	size_t cap = s->rcap ? s->rcap : READ_CHUNK;
	while (cap < need)
		cap *= 2;
	uint8_t *p = realloc(s->rbuf, cap);
	if (!p)
		return false;
	s->rbuf = p;
	s->rcap = cap;
	return true;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct scu *s = h->data;
	(void)suggested;
	if (transport_is_tls(&s->tp)) {
		transport_alloc(&s->tp, buf);
		return;
	}
	if (s->rcap - s->rlen < 4096 && !ensure(s, s->rlen + READ_CHUNK)) {
		*buf = uv_buf_init(NULL, 0);
		return;
	}
	*buf = uv_buf_init((char *)s->rbuf + s->rlen, (unsigned)(s->rcap - s->rlen));
}

/* nread bytes arrived (on TLS: ciphertext, whose plaintext is appended to rbuf). The TLS
 * handshake's completion is the transport connection confirmation (Evt2: the
 * A-ASSOCIATE-RQ goes out). Returns false when the scu was closed here. */
static bool received(struct scu *s, size_t nread, bool *peer_closed)
{
	bool was_ready = transport_ready(&s->tp);
	int rc = transport_input(&s->tp, nread, &s->rbuf, &s->rlen, &s->rcap);
	if (rc < 0) {
		char why[320];
		snprintf(why, sizeof why, "TLS %s with %s:%d failed: %s",
			 was_ready ? "session" : "handshake", s->host, s->port,
			 rc == -ENOMEM ? "out of memory" : transport_error(&s->tp));
		log_warn("scu=%llu event=tls_failed host=%s port=%d why=\"%s\"",
			 (unsigned long long)s->id, s->host, s->port,
			 rc == -ENOMEM ? "out of memory" : transport_error(&s->tp));
		set_err(s, -EPROTO, why);
		scu_close(s);
		return false;
	}
	if (rc == TRANSPORT_CLOSED)
		*peer_closed = true;
	if (rc == TRANSPORT_READY) {
		char d[96];
		log_info("scu=%llu event=tls_established host=%s port=%d tls=\"%s\"",
			 (unsigned long long)s->id, s->host, s->port,
			 transport_describe(&s->tp, d, sizeof d));
		scu_event(s, UL_EVT2, NULL);
	}
	return !s->closing;
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
	struct scu *s = st->data;
	(void)buf;
	if (s->closing)
		return;
	if (nread < 0) {
		if (!transport_ready(&s->tp))
			set_err(s, -ECONNRESET, "connection closed during the TLS handshake");
		scu_event(s, UL_EVT17, NULL);
		return;
	}
	bool peer_closed = false;
	if (!received(s, (size_t)nread, &peer_closed))
		return;
	size_t pos = 0;
	while (!s->closing && s->rlen - pos >= 6) {
		uint8_t type;
		uint32_t blen;
		ul_pdu_header(s->rbuf + pos, s->rlen - pos, &type, &blen);
		int chk = ul_pdu_check(type, blen);
		uint32_t limit = type == UL_PDU_PDATA_TF ? s->max_pdu : MAX_AC_LEN;
		if (chk < 0 || blen > limit) {
			int err = chk < 0 ? chk : UL_E_LENGTH;
			set_err(s, -EPROTO, "invalid PDU from the peer");
			scu_event(s, UL_EVT19, &err);
			return;
		}
		if (s->rlen - pos < 6 + (size_t)blen)
			break;
		struct pdu_arg b = { s->rbuf + pos + 6, blen };
		pos += 6 + (size_t)blen;
		scu_event(s, ul_event_for_pdu(type), &b);
	}
	if (s->closing)
		return;
	if (peer_closed) {
		scu_event(s, UL_EVT17, NULL);
		return;
	}
	if (pos > 0)
		memmove(s->rbuf, s->rbuf + pos, s->rlen - pos);
	s->rlen -= pos;
	if (s->rlen >= 6) {
		uint8_t type;
		uint32_t blen;
		ul_pdu_header(s->rbuf, s->rlen, &type, &blen);
		if (!ensure(s, 6 + (size_t)blen)) {
			set_err(s, -ENOMEM, "out of memory");
			scu_event(s, UL_EVT15, NULL);
		}
	}
}

static void on_connect(uv_connect_t *req, int status)
{
	struct scu *s = req->data;
	if (s->closing)
		return;
	if (status < 0) {
		char why[320];
		snprintf(why, sizeof why, "cannot connect to %s:%d: %s", s->host, s->port,
			 uv_strerror(status));
		set_err(s, status, why);
		scu_close(s);
		return;
	}
	uv_tcp_nodelay(&s->tcp, 1);
	if (s->tls) {
		/* PS3.15 B.1: the TLS handshake first; Evt2 when it completes (tls_input). */
		int rc = transport_init_tls(&s->tp, (uv_stream_t *)&s->tcp, s->tls, "scu", s->id);
		if (rc == 0)
			rc = tls_conn_expect_peer(s->tp.tls, s->host);
		if (rc == 0)
			rc = transport_start(&s->tp);
		if (rc < 0) {
			set_err(s, rc, "cannot start TLS");
			scu_close(s);
			return;
		}
		uv_read_start((uv_stream_t *)&s->tcp, on_alloc, on_read);
		return;
	}
	uv_read_start((uv_stream_t *)&s->tcp, on_alloc, on_read);
	scu_event(s, UL_EVT2, NULL);
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
	struct scu *s = req->data;
	if (s->closing) {
		uv_freeaddrinfo(res);
		return;
	}
	if (status < 0 || !res) {
		char why[320];
		snprintf(why, sizeof why, "cannot resolve %s: %s", s->host, uv_strerror(status));
		set_err(s, status < 0 ? status : -EHOSTUNREACH, why);
		uv_freeaddrinfo(res);
		scu_close(s);
		return;
	}
	s->conn.data = s;
	int rc = uv_tcp_connect(&s->conn, &s->tcp, res->ai_addr, on_connect);
	uv_freeaddrinfo(res);
	if (rc < 0) {
		set_err(s, rc, uv_strerror(rc));
		scu_close(s);
	}
}

int scu_open(uv_loop_t *loop, const struct scu_params *p, const struct scu_callbacks *cb,
	     struct scu **out)
{
	if (p->n_contexts == 0 || p->n_contexts > SCU_MAX_PC)
		return -EINVAL;
	struct scu *s = calloc(1, sizeof *s);
	if (!s)
		return -ENOMEM;
	s->loop = loop;
	s->cb = *cb;
	snprintf(s->host, sizeof s->host, "%s", p->host);
	s->port = p->port;
	snprintf(s->calling_ae, sizeof s->calling_ae, "%s", p->calling_ae);
	snprintf(s->called_ae, sizeof s->called_ae, "%s", p->called_ae);
	s->max_pdu = p->max_pdu ? p->max_pdu : 65536;
	s->timeout_s = p->timeout_s ? p->timeout_s : 30;
	s->id = p->log_id;
	s->tls = tls_ctx_ref(p->tls);   /* a reload may replace the server's meanwhile */
	s->next_msg_id = 1;
	for (unsigned i = 0; i < p->n_contexts; i++) {
		struct scu_pc *pc = &s->pcs[s->n_pcs++];
		pc->id = (uint8_t)(2 * i + 1);
		pc->result = 0xff;
		snprintf(pc->abstract, sizeof pc->abstract, "%s", p->contexts[i].abstract);
		for (unsigned k = 0; k < p->contexts[i].n_ts && k < 4; k++)
			snprintf(pc->offered[pc->n_offered++], sizeof pc->offered[0], "%s",
				 p->contexts[i].ts[k]);
	}
	uv_tcp_init(loop, &s->tcp);
	s->tcp.data = s;
	s->tcp_init = true;
	transport_init_plain(&s->tp, (uv_stream_t *)&s->tcp, "scu", s->id);
	uv_timer_init(loop, &s->timer);
	s->timer.data = s;
	s->timer_init = true;
	s->handles_open = 2;
	ul_sm_init(&s->sm, true);
	scu_event(s, UL_EVT1, NULL);
	arm(s, s->timeout_s);
	char port[16];
	snprintf(port, sizeof port, "%d", p->port);
	s->gai.data = s;
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	int rc = uv_getaddrinfo(loop, &s->gai, on_resolved, s->host, port, &hints);
	if (rc < 0) {
		set_err(s, rc, uv_strerror(rc));
		scu_close(s);
	}
	log_info("scu=%llu event=connecting host=%s port=%d called=%s tls=%s",
		 (unsigned long long)s->id, s->host, s->port, s->called_ae, s->tls ? "yes" : "no");
	*out = s;
	return 0;
}

bool scu_accepts(const struct scu *s, const char *sop_class, const char *ts_uid)
{
	for (unsigned i = 0; i < s->n_pcs; i++)
		if (s->pcs[i].result == 0 && strcmp(s->pcs[i].abstract, sop_class) == 0 &&
		    strcmp(s->pcs[i].ts, ts_uid) == 0)
			return true;
	return false;
}

int scu_store(struct scu *s, const char *sop_class, const char *sop_instance, const char *ts_uid,
	      const uint8_t *data, size_t len, const char *move_originator_ae,
	      uint16_t move_originator_id)
{
	if (s->closing || s->sm.state != UL_STA6 || s->store_msg_id)
		return -EBUSY;
	const struct scu_pc *pc = NULL;
	for (unsigned i = 0; i < s->n_pcs && !pc; i++)
		if (s->pcs[i].result == 0 && strcmp(s->pcs[i].abstract, sop_class) == 0 &&
		    strcmp(s->pcs[i].ts, ts_uid) == 0)
			pc = &s->pcs[i];
	if (!pc)
		return -ENOTSUP;
	struct dimse_cmd cmd;
	uint16_t id = s->next_msg_id++;
	if (s->next_msg_id == 0)
		s->next_msg_id = 1;
	dimse_store_rq(&cmd, id, sop_class, sop_instance, 0);
	if (move_originator_ae && move_originator_ae[0]) {
		snprintf(cmd.move_originator_ae, sizeof cmd.move_originator_ae, "%s", move_originator_ae);
		cmd.move_originator_id = move_originator_id;
		cmd.has_move_originator_id = true;
	}
	struct dimse_txbuf tx = { 0 };
	int rc = dimse_tx_command(&tx, pc->id, &cmd, s->peer_max_pdu);
	if (rc == 0)
		rc = dimse_tx_data(&tx, pc->id, data, len, true, s->peer_max_pdu);
	if (rc < 0) {
		dimse_txbuf_free(&tx);
		return rc;
	}
	scu_event(s, UL_EVT9, NULL);
	size_t n = 0;
	uint8_t *bytes = dimse_txbuf_steal(&tx, &n);
	rc = send_owned(s, bytes, n);
	if (rc == 0) {
		s->store_msg_id = id;
		arm(s, s->timeout_s);
	}
	return rc;
}

int scu_echo(struct scu *s)
{
	if (s->closing || s->sm.state != UL_STA6 || s->echo_msg_id || s->store_msg_id)
		return -EBUSY;
	const struct scu_pc *pc = NULL;
	for (unsigned i = 0; i < s->n_pcs && !pc; i++)
		if (s->pcs[i].result == 0 && strcmp(s->pcs[i].abstract, "1.2.840.10008.1.1") == 0)
			pc = &s->pcs[i];
	if (!pc)
		return -ENOTSUP;
	struct dimse_cmd cmd;
	uint16_t id = s->next_msg_id++;
	if (s->next_msg_id == 0)
		s->next_msg_id = 1;
	dimse_echo_rq(&cmd, id);
	struct dimse_txbuf tx = { 0 };
	int rc = dimse_tx_command(&tx, pc->id, &cmd, s->peer_max_pdu);
	if (rc < 0) {
		dimse_txbuf_free(&tx);
		return rc;
	}
	scu_event(s, UL_EVT9, NULL);
	size_t n = 0;
	uint8_t *bytes = dimse_txbuf_steal(&tx, &n);
	rc = send_owned(s, bytes, n);
	if (rc == 0) {
		s->echo_msg_id = id;
		arm(s, s->timeout_s);
	}
	return rc;
}

void scu_release(struct scu *s)
{
	if (s->closing)
		return;
	if (s->sm.state == UL_STA6)
		scu_event(s, UL_EVT11, NULL);
	else
		scu_abort(s);
}

void scu_abort(struct scu *s)
{
	if (s->closing)
		return;
	if (s->sm.state == UL_STA4 || s->sm.state == UL_STA1) {
		set_err(s, -ECANCELED, "cancelled");
		scu_close(s);
		return;
	}
	set_err(s, -ECANCELED, "aborted");
	scu_event(s, UL_EVT15, NULL);
}
