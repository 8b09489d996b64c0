/*
 * The daemon's operations glue (see ops.h): control socket, systemd notifications,
 * watchdog and throughput. Everything runs on the loop thread; what reads or writes the
 * index (queue depths, reanalyze, retry) runs on libuv's threadpool (uv_queue_work).
 *
 * A control connection reads request lines into a fixed buffer (CTL_MAX_LINE, the cap is
 * checked before anything is kept: a longer line is answered with an error and the
 * connection closed) and answers them in order. `echo` and the index commands are
 * asynchronous: reading stops until they are answered, and so it does while more than
 * MAX_QUEUED_BYTES of answers wait for a client that does not read them. A connection is
 * freed once its handle is closed and no operation in flight refers to it (refs).
 */
#include "ctl/ops.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "config.h"
#include "ctl/admin.h"
#include "ctl/json.h"
#include "ctl/proto.h"
#include "ctl/sd.h"
#include "dicom/uid.h"
#include "net/assoc.h"
#include "net/scu.h"
#include "net/server.h"
#include "storage/jobs.h"
#include "util/log.h"

#define RATE_WINDOW 60 /* seconds of history for "the last minute" */
#define VERIFICATION_SOP_CLASS "1.2.840.10008.1.1" /* PS3.4 A.4 */
#define ECHO_TIMEOUT_S 10
#define COUNTS_EVERY 5 /* seconds between queue-depth refreshes for STATUS= */
/* Answers queued to a client that does not read them: past this, its requests wait. */
#define MAX_QUEUED_BYTES (256u * 1024)

struct conn;

struct ops {
	uv_loop_t *loop;
	struct server *srv;                /* borrowed */
	uv_pipe_t listener;
	uv_timer_t tick;                   /* 1 s: throughput samples, STATUS= */
	uv_timer_t watchdog;               /* WATCHDOG=1 at half the interval */
	char path[108];                    /* socket file we created ("" when inherited) */
	bool listener_open, tick_open, watchdog_open;
	struct conn *conns;                /* open control connections */
	unsigned n_conns;
	uint64_t samples[RATE_WINDOW + 1]; /* instances_stored at each of the last seconds */
	unsigned n_samples, next_sample;
	char last_status[256];             /* last STATUS= sent */
	struct jobs_counts counts;         /* queue depths, refreshed every COUNTS_EVERY s */
	bool counts_valid, counts_busy;
	unsigned ticks;
	uint64_t echo_id;                  /* for scu=N log ids of echoes */
};

struct conn {
	uv_pipe_t pipe;
	struct ops *o;
	struct conn *prev, *next;
	char buf[CTL_MAX_LINE];            /* bytes of requests not yet answered */
	size_t len;
	unsigned refs;                     /* 1 for the handle + 1 per write or operation
	                                    * in flight */
	bool closing;
	bool busy;                         /* an operation runs: answer it before the rest */
	bool close_after_write;
	bool reading;                      /* uv_read_start active */
};

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf);
static void conn_process(struct conn *c);

/* ---- throughput ------------------------------------------------------------------ */

static uint64_t instances_last_minute(const struct ops *o)
{
	if (o->n_samples == 0)
		return 0;
	/* The oldest sample in the window (at most RATE_WINDOW seconds old). */
	unsigned oldest = o->n_samples < RATE_WINDOW + 1
		? 0 : o->next_sample; /* ring full: the slot about to be overwritten */
	return o->srv->instances_stored - o->samples[oldest];
}

static void send_status(struct ops *o)
{
	char st[256], q[128] = "";
	if (o->counts_valid)
		snprintf(q, sizeof q, "; analysis %lld pending, %lld running, %lld failed; "
			 "deliveries %lld pending, %lld failed",
			 (long long)o->counts.pending, (long long)o->counts.running,
			 (long long)o->counts.failed, (long long)o->counts.deliveries_pending,
			 (long long)o->counts.deliveries_failed);
	snprintf(st, sizeof st, "%s%u associations, %llu instances received, %llu in the last "
		 "minute%s", o->srv->stopping ? "Stopping: " : "",
		 o->srv->n_established, (unsigned long long)o->srv->instances_stored,
		 (unsigned long long)instances_last_minute(o), q);
	if (strcmp(st, o->last_status) != 0) {
		systemd_notify("STATUS=%s", st);
		memcpy(o->last_status, st, sizeof st);
	}
}

static void queue_db(struct ops *o, struct conn *c, int kind, const char *uid);

static void on_tick(uv_timer_t *t)
{
	struct ops *o = t->data;
	if (o->ticks++ % COUNTS_EVERY == 0 && !o->counts_busy && !o->srv->stopping)
		queue_db(o, NULL, 0, NULL);
	o->samples[o->next_sample] = o->srv->instances_stored;
	o->next_sample = (o->next_sample + 1) % (RATE_WINDOW + 1);
	if (o->n_samples < RATE_WINDOW + 1)
		o->n_samples++;
	send_status(o);
}

static void on_watchdog(uv_timer_t *t)
{
	(void)t;
	systemd_notify("WATCHDOG=1");
}

/* ---- connections ----------------------------------------------------------------- */

static void conn_unref(struct conn *c)
{
	if (--c->refs == 0)
		free(c);
}

static void on_conn_closed(uv_handle_t *h)
{
	struct conn *c = h->data;
	struct ops *o = c->o;
	if (c->prev)
		c->prev->next = c->next;
	else
		o->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	o->n_conns--;
	conn_unref(c);
}

static void conn_close(struct conn *c)
{
	if (c->closing)
		return;
	c->closing = true;
	uv_close((uv_handle_t *)&c->pipe, on_conn_closed);
}

struct wreq {
	uv_write_t req;
	struct conn *c;
	char *data;
};

static void on_written(uv_write_t *req, int status)
{
	struct wreq *w = (struct wreq *)req;
	struct conn *c = w->c;
	free(w->data);
	free(w);
	if (status < 0 || c->close_after_write)
		conn_close(c);
	else if (!c->closing && !c->busy && !c->reading)
		conn_process(c); /* the client read its answers: go on */
	conn_unref(c);
}

/* Sends the answer in b (one JSON object) plus LF; consumes b. */
static void conn_reply(struct conn *c, struct jbuf *b)
{
	jb_raw(b, "\n");
	if (c->closing || b->oom) {
		if (b->oom)
			conn_close(c);
		jb_free(b);
		return;
	}
	struct wreq *w = malloc(sizeof *w);
	if (!w) {
		jb_free(b);
		conn_close(c);
		return;
	}
	w->c = c;
	w->data = b->p; /* taken from b */
	uv_buf_t buf = uv_buf_init(w->data, (unsigned)b->len);
	b->p = NULL;
	jb_free(b);
	c->refs++;
	if (uv_write(&w->req, (uv_stream_t *)&c->pipe, &buf, 1, on_written) < 0) {
		free(w->data);
		free(w);
		conn_unref(c);
		conn_close(c);
	}
}

static void reply_error(struct conn *c, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void reply_error(struct conn *c, const char *code, const char *fmt, ...)
{
	char msg[600];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	struct jbuf b;
	jb_init(&b);
	jb_obj_begin(&b);
	jb_key(&b, "ok");
	jb_bool(&b, false);
	jb_key(&b, "code");
	jb_str(&b, code);
	jb_key(&b, "error");
	jb_str(&b, msg);
	jb_obj_end(&b);
	conn_reply(c, &b);
}

/* ---- commands -------------------------------------------------------------------- */

/* ---- index work (threadpool) ------------------------------------------------------ */

enum db_kind { DB_COUNTS = 0, DB_REANALYZE, DB_RETRY };

struct db_op {
	uv_work_t w;
	struct ops *o;
	struct conn *c;                    /* NULL: a refresh for STATUS= */
	enum db_kind kind;
	char uid[65];
	int rc;
	struct jobs_counts counts;
	int n1, n2;
};

static void db_run(uv_work_t *req)
{
	struct db_op *op = (struct db_op *)req;
	struct index *ix = op->o->srv->index;
	switch (op->kind) {
	case DB_COUNTS:
		op->rc = jobs_counts(ix, &op->counts);
		break;
	case DB_REANALYZE:
		op->rc = admin_reanalyze(ix, op->uid, &op->n1);
		break;
	case DB_RETRY:
		op->rc = admin_retry(ix, (int64_t)now_ms(), &op->n1, &op->n2);
		break;
	}
}

static void status_reply(struct conn *c, const struct jobs_counts *jc)
{
	struct ops *o = c->o;
	struct server *srv = o->srv;
	struct jbuf b;
	jb_init(&b);
	jb_obj_begin(&b);
	jb_key(&b, "ok");
	jb_bool(&b, true);
	jb_key(&b, "version");
	jb_str(&b, PACKAGE_VERSION);
	jb_key(&b, "pid");
	jb_int(&b, (int64_t)getpid());
	jb_key(&b, "ae_title");
	jb_str(&b, srv->cfg->ae_title);
	jb_key(&b, "uptime_s");
	jb_int(&b, (int64_t)((uv_now(o->loop) - srv->started_ms) / 1000u));
	jb_key(&b, "stopping");
	jb_bool(&b, srv->stopping);
	jb_key(&b, "listeners");
	jb_int(&b, srv->listeners_open ? srv->n_listeners : 0);
	jb_key(&b, "connections");
	jb_int(&b, srv->n_assocs);
	jb_key(&b, "associations");
	jb_int(&b, srv->n_established);
	jb_key(&b, "max_associations");
	jb_int(&b, srv->cfg->max_associations);
	jb_key(&b, "instances_received");
	jb_int(&b, (int64_t)srv->instances_stored);
	jb_key(&b, "instances_last_minute");
	jb_int(&b, (int64_t)instances_last_minute(o));
	jb_key(&b, "analysis_enabled");
	jb_bool(&b, srv->cfg->analysis_enabled != 0);
	/* Queue depths by state (storage/jobs.h); null when the index could not be read. */
	static const char *const keys[] = {
		"jobs_pending", "jobs_running", "jobs_done", "jobs_failed", "jobs_not_applicable",
		"deliveries_pending", "deliveries_sending", "deliveries_sent", "deliveries_failed",
	};
	int64_t v[] = { 0, 0, 0, 0, 0, 0, 0, 0, 0 };
	if (jc) {
		int64_t w[] = { jc->pending, jc->running, jc->done, jc->failed, jc->not_applicable,
				jc->deliveries_pending, jc->deliveries_sending, jc->deliveries_sent,
				jc->deliveries_failed };
		memcpy(v, w, sizeof v);
	}
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		jb_key(&b, keys[i]);
		if (jc)
			jb_int(&b, v[i]);
		else
			jb_null(&b);
	}
	jb_obj_end(&b);
	conn_reply(c, &b);
}

static void db_done(uv_work_t *req, int status)
{
	struct db_op *op = (struct db_op *)req;
	struct ops *o = op->o;
	struct conn *c = op->c;
	if (status < 0 && op->rc == 0)
		op->rc = status;
	if (op->kind == DB_COUNTS && op->rc == 0) {
		o->counts = op->counts;
		o->counts_valid = true;
	}
	if (!c) {
		o->counts_busy = false;
		if (op->rc == 0)
			send_status(o);
		else
			log_warn("event=queue_counts_failed err=\"%s\"", strerror(-op->rc));
		free(op);
		return;
	}
	if (op->kind == DB_COUNTS) {
		if (op->rc < 0)
			log_warn("event=queue_counts_failed err=\"%s\"", strerror(-op->rc));
		status_reply(c, op->rc == 0 ? &op->counts : NULL);
	} else if (op->rc == -ENOENT) {
		reply_error(c, CTL_CODE_NOT_FOUND, "no study or series %s in the index", op->uid);
	} else if (op->rc < 0) {
		reply_error(c, CTL_CODE_FAILED, "index: %s", strerror(-op->rc));
	} else {
		struct jbuf b;
		jb_init(&b);
		jb_obj_begin(&b);
		jb_key(&b, "ok");
		jb_bool(&b, true);
		if (op->kind == DB_REANALYZE) {
			log_notice("event=ctl_reanalyze uid=%s series=%d", op->uid, op->n1);
			jb_key(&b, "uid");
			jb_str(&b, op->uid);
			jb_key(&b, "series");
			jb_int(&b, op->n1);
		} else {
			log_notice("event=ctl_retry jobs=%d deliveries=%d", op->n1, op->n2);
			jb_key(&b, "jobs");
			jb_int(&b, op->n1);
			jb_key(&b, "deliveries");
			jb_int(&b, op->n2);
		}
		jb_obj_end(&b);
		conn_reply(c, &b);
	}
	free(op);
	c->busy = false;
	if (!c->closing)
		conn_process(c);
	conn_unref(c);
}

/* Runs kind on the threadpool; with c, c waits for the answer (busy). */
static void queue_db(struct ops *o, struct conn *c, int kind, const char *uid)
{
	struct db_op *op = calloc(1, sizeof *op);
	if (!op) {
		if (c)
			reply_error(c, CTL_CODE_FAILED, "out of memory");
		return;
	}
	op->o = o;
	op->c = c;
	op->kind = (enum db_kind)kind;
	if (uid)
		snprintf(op->uid, sizeof op->uid, "%s", uid);
	int rc = uv_queue_work(o->loop, &op->w, db_run, db_done);
	if (rc < 0) {
		free(op);
		if (c)
			reply_error(c, CTL_CODE_FAILED, "cannot queue the work: %s", uv_strerror(rc));
		return;
	}
	if (c) {
		c->busy = true;
		c->refs++;
	} else {
		o->counts_busy = true;
	}
}

static void cmd_status(struct conn *c)
{
	queue_db(c->o, c, DB_COUNTS, NULL);
}

static void cmd_reload(struct conn *c)
{
	char msg[600];
	if (server_reload(c->o->srv, msg, sizeof msg) < 0) {
		reply_error(c, CTL_CODE_FAILED, "reload failed: %s", msg);
		return;
	}
	struct jbuf b;
	jb_init(&b);
	jb_obj_begin(&b);
	jb_key(&b, "ok");
	jb_bool(&b, true);
	jb_key(&b, "peers");
	jb_int(&b, (int64_t)c->o->srv->cfg->n_peers);
	jb_key(&b, "require_known_peers");
	jb_bool(&b, c->o->srv->cfg->require_known_peers != 0);
	jb_obj_end(&b);
	conn_reply(c, &b);
}

struct echo_op {
	struct conn *c;
	char peer[65];
	char ae_title[17];
	char host[256];
	int port;
	uint64_t t0;
	bool got_rsp;
	uint16_t status;
	int send_err;
};

static void echo_ready(struct scu *s, void *ctx)
{
	struct echo_op *e = ctx;
	int rc = scu_echo(s);
	if (rc < 0) {
		e->send_err = rc;
		scu_release(s);
	}
}

static void echo_rsp(struct scu *s, void *ctx, uint16_t status)
{
	struct echo_op *e = ctx;
	e->got_rsp = true;
	e->status = status;
	scu_release(s);
}

static void echo_closed(struct scu *s, void *ctx, int err, const char *why)
{
	(void)s;
	struct echo_op *e = ctx;
	struct conn *c = e->c;
	uint64_t ms = uv_now(c->o->loop) - e->t0;
	if (e->got_rsp && e->status == 0x0000) {
		log_notice("event=ctl_echo peer=%s called=%s status=0x0000 ms=%llu", e->peer,
			   e->ae_title, (unsigned long long)ms);
		struct jbuf b;
		jb_init(&b);
		jb_obj_begin(&b);
		jb_key(&b, "ok");
		jb_bool(&b, true);
		jb_key(&b, "peer");
		jb_str(&b, e->peer);
		jb_key(&b, "ae_title");
		jb_str(&b, e->ae_title);
		jb_key(&b, "host");
		jb_str(&b, e->host);
		jb_key(&b, "port");
		jb_int(&b, e->port);
		jb_key(&b, "status");
		jb_int(&b, e->status);
		jb_key(&b, "ms");
		jb_int(&b, (int64_t)ms);
		jb_obj_end(&b);
		conn_reply(c, &b);
	} else if (e->got_rsp) {
		log_warn("event=ctl_echo peer=%s called=%s status=0x%04x", e->peer, e->ae_title,
			 e->status);
		reply_error(c, CTL_CODE_FAILED, "C-ECHO to %s (%s at %s:%d) answered status 0x%04x",
			    e->peer, e->ae_title, e->host, e->port, e->status);
	} else {
		const char *reason = e->send_err == -ENOTSUP
			? "the peer accepted no Verification presentation context"
			: (err ? why : "released without a response");
		log_warn("event=ctl_echo peer=%s called=%s failed=\"%s\"", e->peer, e->ae_title,
			 reason);
		reply_error(c, CTL_CODE_FAILED, "C-ECHO to %s (%s at %s:%d) failed: %s", e->peer,
			    e->ae_title, e->host, e->port, reason);
	}
	free(e);
	c->busy = false;
	if (!c->closing) {
		conn_process(c);
	}
	conn_unref(c);
}

static void cmd_echo(struct conn *c, const char *dest)
{
	struct ops *o = c->o;
	const struct config *cfg = o->srv->cfg;
	const struct config_peer *p = NULL;
	for (size_t i = 0; i < cfg->n_peers && !p; i++)
		if (strcmp(cfg->peers[i].name, dest) == 0)
			p = &cfg->peers[i];
	if (!p)
		p = config_find_peer(cfg, dest);
	if (!p) {
		reply_error(c, CTL_CODE_NOT_FOUND, "no [peer %s] and no peer with AE title %s in %s",
			    dest, dest, cfg->source[0] ? cfg->source : "the configuration");
		return;
	}
	if (!p->host[0] || !p->port) {
		reply_error(c, CTL_CODE_FAILED, "[peer %s] needs host and port to be called", p->name);
		return;
	}
	struct echo_op *e = calloc(1, sizeof *e);
	if (!e) {
		reply_error(c, CTL_CODE_FAILED, "out of memory");
		return;
	}
	e->c = c;
	snprintf(e->peer, sizeof e->peer, "%s", p->name);
	snprintf(e->ae_title, sizeof e->ae_title, "%s", p->ae_title);
	snprintf(e->host, sizeof e->host, "%s", p->host);
	e->port = p->port;
	e->t0 = uv_now(o->loop);
	struct scu_context ctx = { .abstract = VERIFICATION_SOP_CLASS, .n_ts = 2,
				   .ts = { "1.2.840.10008.1.2.1", "1.2.840.10008.1.2" } };
	struct scu_params sp = {
		.host = e->host,
		.port = e->port,
		.calling_ae = cfg->ae_title,
		.called_ae = e->ae_title,
		.contexts = &ctx,
		.n_contexts = 1,
		.max_pdu = cfg->max_pdu,
		.timeout_s = ECHO_TIMEOUT_S,
		.log_id = ++o->echo_id,
		.tls = p->tls ? o->srv->tls_client : NULL,
	};
	struct scu_callbacks cb = { .ctx = e, .on_ready = echo_ready, .on_echo_rsp = echo_rsp,
				    .on_closed = echo_closed };
	struct scu *s;
	int rc = scu_open(o->loop, &sp, &cb, &s);
	if (rc < 0) {
		free(e);
		reply_error(c, CTL_CODE_FAILED, "cannot open an association: %s", uv_strerror(rc));
		return;
	}
	c->busy = true;
	c->refs++;
}

static void dispatch(struct conn *c, const struct ctl_request *rq)
{
	const char *cmd = rq->words[0];
	unsigned nargs = rq->n - 1;
	log_info("event=ctl_request command=%s args=%u", cmd, nargs);
	if (strcmp(cmd, "status") == 0 && nargs == 0) {
		cmd_status(c);
	} else if (strcmp(cmd, "reload") == 0 && nargs == 0) {
		cmd_reload(c);
	} else if (strcmp(cmd, "echo") == 0 && nargs == 1) {
		cmd_echo(c, rq->words[1]);
	} else if (strcmp(cmd, "reanalyze") == 0 && nargs == 1) {
		if (!c->o->srv->cfg->analysis_enabled)
			reply_error(c, CTL_CODE_UNSUPPORTED, "analysis is off ([analysis] enabled = no)");
		else if (!dcm_uid_valid(rq->words[1]))
			reply_error(c, CTL_CODE_USAGE, "'%s' is not a UID", rq->words[1]);
		else
			queue_db(c->o, c, DB_REANALYZE, rq->words[1]);
	} else if (strcmp(cmd, "retry") == 0 && nargs == 0) {
		queue_db(c->o, c, DB_RETRY, NULL);
	} else if (strcmp(cmd, "status") == 0 || strcmp(cmd, "reload") == 0 ||
		   strcmp(cmd, "echo") == 0 || strcmp(cmd, "reanalyze") == 0 ||
		   strcmp(cmd, "retry") == 0) {
		reply_error(c, CTL_CODE_USAGE, "wrong number of arguments for %s", cmd);
	} else {
		reply_error(c, CTL_CODE_USAGE, "unknown command '%s' (status, reload, echo, "
			    "reanalyze, retry)", cmd);
	}
}

/* Answers the complete lines in c->buf, in order, until one has to wait (echo). */
static void conn_process(struct conn *c)
{
	while (!c->closing && !c->busy && c->pipe.write_queue_size <= MAX_QUEUED_BYTES) {
		char *nl = memchr(c->buf, '\n', c->len);
		if (!nl)
			break;
		size_t n = (size_t)(nl - c->buf);
		struct ctl_request rq;
		char err[128];
		if (ctl_parse_request(c->buf, n, &rq, err, sizeof err) < 0)
			reply_error(c, CTL_CODE_USAGE, "bad request: %s", err);
		else
			dispatch(c, &rq);
		memmove(c->buf, nl + 1, c->len - n - 1);
		c->len -= n + 1;
	}
	if (c->closing)
		return;
	if (c->busy || c->pipe.write_queue_size > MAX_QUEUED_BYTES) {
		/* Wait for the echo, or for the client to read: on_written resumes. */
		if (c->reading)
			uv_read_stop((uv_stream_t *)&c->pipe);
		c->reading = false;
		return;
	}
	if (c->len == sizeof c->buf) {
		/* A full buffer without a line end: the line is too long. */
		c->close_after_write = true;
		if (c->reading)
			uv_read_stop((uv_stream_t *)&c->pipe);
		c->reading = false;
		reply_error(c, CTL_CODE_USAGE, "request longer than %d bytes", CTL_MAX_LINE);
		return;
	}
	if (!c->reading && uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_read) == 0)
		c->reading = true;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct conn *c = h->data;
	(void)suggested;
	*buf = uv_buf_init(c->buf + c->len, (unsigned)(sizeof c->buf - c->len));
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
	struct conn *c = st->data;
	(void)buf;
	if (c->closing)
		return;
	if (nread < 0) {
		/* EOF or error: answers still queued are dropped with the connection. */
		conn_close(c);
		return;
	}
	c->len += (size_t)nread;
	conn_process(c);
}

static void on_connection(uv_stream_t *l, int status)
{
	struct ops *o = l->data;
	if (status < 0) {
		log_warn("event=ctl_accept_error err=%s", uv_strerror(status));
		return;
	}
	struct conn *c = calloc(1, sizeof *c);
	if (!c) {
		log_err("event=ctl_accept_error err=\"out of memory\"");
		return;
	}
	c->o = o;
	c->refs = 1;
	uv_pipe_init(o->loop, &c->pipe, 0);
	c->pipe.data = c;
	c->next = o->conns;
	if (o->conns)
		o->conns->prev = c;
	o->conns = c;
	o->n_conns++;
	if (uv_accept(l, (uv_stream_t *)&c->pipe) < 0) {
		conn_close(c);
		return;
	}
	uv_unref((uv_handle_t *)&c->pipe);
	if (o->n_conns > CTL_MAX_CONNECTIONS) {
		log_warn("event=ctl_refused reason=\"more than %d control connections\"",
			 CTL_MAX_CONNECTIONS);
		c->close_after_write = true;
		reply_error(c, CTL_CODE_FAILED, "too many control connections (at most %d)",
			    CTL_MAX_CONNECTIONS);
		return;
	}
	conn_process(c);
}

/* ---- life cycle ------------------------------------------------------------------ */

static void close_noop(uv_handle_t *h) { (void)h; }

static void on_stopping(void *arg)
{
	struct ops *o = arg;
	systemd_notify("STOPPING=1");
	send_status(o);
}

/* The last association is gone and uv_run is about to return: close our handles. */
static void on_finished(void *arg)
{
	struct ops *o = arg;
	if (o->listener_open) {
		uv_close((uv_handle_t *)&o->listener, close_noop);
		o->listener_open = false;
		if (o->path[0])
			unlink(o->path);
	}
	if (o->tick_open) {
		uv_close((uv_handle_t *)&o->tick, close_noop);
		o->tick_open = false;
	}
	if (o->watchdog_open) {
		uv_close((uv_handle_t *)&o->watchdog, close_noop);
		o->watchdog_open = false;
	}
	for (struct conn *c = o->conns; c; c = c->next)
		conn_close(c);
}

/* Is there a live server on the socket file at path? Then it is not ours to replace. */
static int check_stale(const char *path)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode)) {
		log_err("event=startup_failed control_socket=%s err=\"exists and is not a socket\"",
			path);
		return UV_EEXIST;
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
	int rc = connect(fd, (struct sockaddr *)&sa, sizeof sa);
	int e = errno;
	close(fd);
	if (rc == 0) {
		log_err("event=startup_failed control_socket=%s err=\"another daemon is serving "
			"it\"", path);
		return UV_EADDRINUSE;
	}
	if (e != ECONNREFUSED) {
		log_err("event=startup_failed control_socket=%s err=\"%s\"", path, strerror(e));
		return -e;
	}
	log_notice("event=ctl_stale_socket path=%s action=replaced", path);
	unlink(path);
	return 0;
}

int ops_start(uv_loop_t *loop, struct server *srv, const char *socket_path, int control_fd,
	      struct ops **out)
{
	if (control_fd < 0 && !socket_path[0]) {
		log_err("event=startup_failed err=\"control.socket: <storage path>/dicomaid.sock "
			"is longer than a UNIX socket path may be; set [control] socket\"");
		return UV_ENAMETOOLONG;
	}
	struct ops *o = calloc(1, sizeof *o);
	if (!o)
		return UV_ENOMEM;
	o->loop = loop;
	o->srv = srv;
	uv_pipe_init(loop, &o->listener, 0);
	o->listener.data = o;
	o->listener_open = true;
	int rc;
	if (control_fd >= 0) {
		rc = uv_pipe_open(&o->listener, control_fd);
	} else {
		rc = check_stale(socket_path);
		if (rc == 0)
			rc = uv_pipe_bind(&o->listener, socket_path);
		if (rc == 0) {
			snprintf(o->path, sizeof o->path, "%s", socket_path);
			/* Owner and group are the access control (dicomaidctl(1)). */
			if (chmod(socket_path, 0660) < 0)
				rc = -errno;
		}
	}
	if (rc == 0)
		rc = uv_listen((uv_stream_t *)&o->listener, 16, on_connection);
	if (rc < 0) {
		log_err("event=startup_failed control_socket=%s err=%s", socket_path,
			uv_strerror(rc));
		uv_close((uv_handle_t *)&o->listener, close_noop);
		if (o->path[0])
			unlink(o->path);
		uv_run(loop, UV_RUN_NOWAIT);
		free(o);
		return rc;
	}
	uv_unref((uv_handle_t *)&o->listener);
	uv_timer_init(loop, &o->tick);
	o->tick.data = o;
	o->tick_open = true;
	uv_timer_start(&o->tick, on_tick, 0, 1000);
	uv_unref((uv_handle_t *)&o->tick);
	srv->on_stopping = on_stopping;
	srv->on_finished = on_finished;
	srv->hook_arg = o;
	log_notice("event=control_listening socket=%s%s", socket_path,
		   control_fd >= 0 ? " activated=yes" : "");
	*out = o;
	return 0;
}

void ops_ready(struct ops *o)
{
	uint64_t usec = systemd_watchdog_usec();
	if (usec) {
		uint64_t ms = usec / 2000u ? usec / 2000u : 1;
		uv_timer_init(o->loop, &o->watchdog);
		o->watchdog.data = o;
		o->watchdog_open = true;
		uv_timer_start(&o->watchdog, on_watchdog, ms, ms);
		uv_unref((uv_handle_t *)&o->watchdog);
		log_notice("event=watchdog interval_ms=%llu", (unsigned long long)ms);
	}
	systemd_notify("READY=1");
	send_status(o);
}

void ops_free(struct ops *o)
{
	free(o);
}
