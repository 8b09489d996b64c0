/*
 * Query/Retrieve SCP (PS3.4 Annex C): C-FIND, C-MOVE and C-GET in the Patient Root and
 * Study Root models. The identifier is parsed and validated by src/query; queries run on
 * libuv's threadpool with read-only SQLite connections and stream their matches back to
 * the loop through a bounded queue and a uv_async (so the loop never touches SQLite and a
 * large result never sits in memory whole). C-CANCEL sets a flag the query checks between
 * matches.
 *
 * C-MOVE opens an outbound association to the destination (a [peer] with host and port,
 * src/net/scu.c) and sends each selected instance with C-STORE; C-GET sends them on the
 * requesting association itself, on the storage contexts for which the requestor took
 * the SCP role (PS3.7 D.3.3.4). Both report progress with pending responses carrying
 * the remaining/completed/failed/warning counts and end with a final response that lists
 * the failed SOP Instance UIDs (0008,0058) when there are any (PS3.4 C.4.2.1.5, C.4.3.1.4).
 *
 * Files are read on the threadpool; a sub-operation is sent only in the transfer syntax
 * the file is stored in (no transcoding yet): an instance whose syntax the peer did not
 * accept is a failed sub-operation, logged with the reason.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dicom/part10.h"
#include "dicom/writer.h"
#include "dimse/status.h"
#include "dimse/tx.h"
#include "net/assoc.h"
#include "net/scu.h"
#include "net/server.h"
#include "query/query.h"
#include "services/services.h"
#include "storage/store.h"
#include "util/config.h"
#include "util/log.h"

/* Matches queued between the query thread and the loop before the query waits. */
#define FIND_QUEUE_MAX 64
/* Bytes waiting in the socket's write queue above which C-FIND stops sending for a while. */
#define FIND_SENDQ_HIGH (256u * 1024)
/* Largest identifier accepted (PS3.4 gives no limit; real ones are a few hundred bytes). */
#define MAX_IDENTIFIER (256u * 1024)
/* Largest instance read into memory for a sub-operation. */
#define MAX_RETRIEVE_FILE (1u << 30)

/* ---- the request being received (command + identifier) --------------------------- */

struct qr_rq {
	struct dimse_cmd cmd;
	uint8_t pc_id;
	const struct dcm_ts *ts;
	uint8_t *buf;
	size_t len, cap;
	bool too_big;
	uint16_t refuse;               /* nonzero: answer this status once the identifier is read */
};

/* ---- responses -------------------------------------------------------------------- */

static void send_final(struct assoc *a, uint8_t pc_id, const struct dimse_cmd *rq, uint16_t status,
		       const uint16_t counts[4], bool with_counts, const uint8_t *ident, size_t ilen)
{
	if (a->closing)
		return;
	struct dimse_cmd rsp;
	if (rq->command_field == 0x0020) {
		dimse_find_rsp(&rsp, rq, status);
	} else {
		dimse_retrieve_rsp(&rsp, rq, status, with_counts ? counts[0] : 0,
				   with_counts ? counts[1] : 0, with_counts ? counts[2] : 0,
				   with_counts ? counts[3] : 0);
		if (!with_counts)
			rsp.has_counts = 0;
	}
	if (ident && ilen)
		rsp.data_set_type = 0x0001;
	if (assoc_send_message(a, pc_id, &rsp, ident, ilen) < 0)
		assoc_abort(a, "cannot send a response");
}

/* ---- C-FIND ----------------------------------------------------------------------- */

struct find_item {
	struct find_item *next;
	size_t len;
	uint8_t data[];
};

struct find_op {
	uv_work_t work;
	uv_async_t async;
	struct assoc *a;               /* referenced */
	uint8_t pc_id;
	struct dimse_cmd rq;
	const struct dcm_ts *ts;
	struct query *q;
	char db_path[4096];
	size_t max_matches;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct find_item *head, *tail;
	size_t queued;
	atomic_bool cancel;
	int rc;
	uint16_t status;
	bool capped;
	bool ff01;
	size_t sent;
	uv_timer_t retry;              /* flow control: look again when the peer has read */
	int handles;                   /* async + retry until their close callbacks */
	bool worker_done;              /* the query thread has finished */
	int work_status;
	bool final_sent;
	uint64_t t0;
};

static int find_emit(void *ctx, const uint8_t *ds, size_t len)
{
	struct find_op *op = ctx;
	struct find_item *it = malloc(sizeof *it + len);
	if (!it)
		return 1;
	it->next = NULL;
	it->len = len;
	memcpy(it->data, ds, len);
	pthread_mutex_lock(&op->mu);
	while (op->queued >= FIND_QUEUE_MAX && !atomic_load(&op->cancel))
		pthread_cond_wait(&op->cv, &op->mu);
	if (op->tail)
		op->tail->next = it;
	else
		op->head = it;
	op->tail = it;
	op->queued++;
	pthread_mutex_unlock(&op->mu);
	uv_async_send(&op->async);
	return atomic_load(&op->cancel) ? 1 : 0;
}

static void find_run(uv_work_t *w)
{
	struct find_op *op = (struct find_op *)w;
	sqlite3 *db = NULL;
	char err[256];
	if (query_db_open(op->db_path, &db, err, sizeof err) < 0) {
		log_err("event=find_failed err=\"%s\"", err);
		op->rc = -1;
		op->status = QUERY_ST_DB;
		return;
	}
	op->rc = query_find(db, op->q, op->ts, op->max_matches, find_emit, op, &op->capped,
			    &op->status);
	sqlite3_close(db);
}

static void find_free(uv_handle_t *h)
{
	struct find_op *op = h->data;
	if (--op->handles > 0)
		return;
	struct assoc *a = op->a;
	query_free(op->q);
	pthread_mutex_destroy(&op->mu);
	pthread_cond_destroy(&op->cv);
	free(op);
	assoc_op_done(a);
	assoc_unref(a);
}

/* The query thread is done and every match is sent: the final response (loop thread). */
static void find_final(struct find_op *op)
{
	struct assoc *a = op->a;
	op->final_sent = true;
	if (a->qr_active == op) {
		a->qr_active = NULL;
		a->qr_cancel = NULL;
	}
	uint16_t st;
	const char *what;
	if (op->work_status == UV_ECANCELED || atomic_load(&op->cancel)) {
		st = DIMSE_CANCEL;
		what = "cancelled";
	} else if (op->rc < 0) {
		st = op->status ? op->status : DIMSE_OUT_OF_RESOURCES;
		what = "failed";
	} else if (op->capped) {
		st = DIMSE_WARNING_RESPONSE_LIMIT;
		what = "capped";
	} else {
		st = DIMSE_SUCCESS;
		what = "done";
	}
	log_info("assoc=%llu event=find level=%s matches=%zu outcome=%s status=0x%04X ms=%llu",
		 (unsigned long long)a->id, query_level_name(query_level(op->q)), op->sent, what, st,
		 (unsigned long long)(now_ms() - op->t0));
	send_final(a, op->pc_id, &op->rq, st, NULL, false, NULL, 0);
	uv_timer_stop(&op->retry);
	uv_close((uv_handle_t *)&op->async, find_free);
	uv_close((uv_handle_t *)&op->retry, find_free);
}

static void on_find_retry(uv_timer_t *t);

/*
 * Sends queued matches as pending responses (loop thread), one at a time, for as long as
 * the peer keeps reading: above FIND_SENDQ_HIGH bytes waiting in the socket's write queue
 * it stops and looks again shortly (a slow reader slows the query down instead of piling
 * its responses up in memory). Cancelled queries and closed associations just drop them.
 */
static void find_flush(struct find_op *op)
{
	struct assoc *a = op->a;
	if (op->final_sent)
		return;
	for (;;) {
		bool dropping = a->closing || atomic_load(&op->cancel);
		if (!dropping && uv_stream_get_write_queue_size((uv_stream_t *)&a->tcp) > FIND_SENDQ_HIGH) {
			uv_timer_start(&op->retry, on_find_retry, 5, 0);
			return;
		}
		pthread_mutex_lock(&op->mu);
		struct find_item *it = op->head;
		if (it) {
			op->head = it->next;
			if (!op->head)
				op->tail = NULL;
			op->queued--;
			pthread_cond_signal(&op->cv);
		}
		pthread_mutex_unlock(&op->mu);
		if (!it)
			break;
		if (!dropping) {
			struct dimse_cmd rsp;
			dimse_find_rsp(&rsp, &op->rq, op->ff01 ? DIMSE_PENDING_OPTIONAL_KEYS : DIMSE_PENDING);
			if (assoc_send_message(a, op->pc_id, &rsp, it->data, it->len) < 0)
				atomic_store(&op->cancel, true);
			op->sent++;
		}
		free(it);
	}
	if (op->worker_done)
		find_final(op);
}

static void on_find_retry(uv_timer_t *t)
{
	find_flush(t->data);
}

static void on_find_async(uv_async_t *h)
{
	find_flush(h->data);
}

static void find_done(uv_work_t *w, int status)
{
	struct find_op *op = (struct find_op *)w;
	op->worker_done = true;
	op->work_status = status;
	find_flush(op);
}

static int start_find(struct assoc *a, struct qr_rq *rq, struct query *q)
{
	struct find_op *op = calloc(1, sizeof *op);
	if (!op)
		return -ENOMEM;
	op->a = a;
	op->pc_id = rq->pc_id;
	op->rq = rq->cmd;
	op->ts = rq->ts;
	op->q = q;
	op->t0 = now_ms();
	op->ff01 = query_unsupported_keys(q);
	snprintf(op->db_path, sizeof op->db_path, "%s", a->srv->cfg->index_database);
	op->max_matches = (size_t)a->srv->cfg->max_matches;
	pthread_mutex_init(&op->mu, NULL);
	pthread_cond_init(&op->cv, NULL);
	atomic_init(&op->cancel, false);
	uv_async_init(a->srv->loop, &op->async, on_find_async);
	op->async.data = op;
	uv_timer_init(a->srv->loop, &op->retry);
	op->retry.data = op;
	op->handles = 2;
	assoc_ref(a);
	a->ops_pending++;
	a->qr_active = op;
	a->qr_cancel = &op->cancel;
	int rc = uv_queue_work(a->srv->loop, &op->work, find_run, find_done);
	if (rc < 0) {
		op->rc = -1;
		op->status = DIMSE_OUT_OF_RESOURCES;
		find_done(&op->work, 0);
	}
	return 0;
}

/* ---- C-MOVE and C-GET ------------------------------------------------------------- */

struct retr_op {
	uv_work_t work;                /* listing, then each file read */
	struct assoc *a;               /* the requestor's association, referenced */
	uint8_t pc_id;
	struct dimse_cmd rq;
	bool is_get;
	struct query *q;
	char db_path[4096];
	char root[4096];
	/* listing */
	struct query_instance *list;
	size_t n;
	int rc;
	uint16_t status;
	/* progress */
	size_t next;                   /* index of the instance being sent */
	uint16_t completed, failed, warning;
	char *failed_uids;             /* backslash-separated, for (0008,0058) */
	size_t failed_len;
	atomic_bool cancel;
	bool cancelled;
	/* the instance being read/sent */
	uint8_t *file;
	size_t file_len;
	int read_err;
	/* C-MOVE */
	const struct config_peer *dest;
	char dest_ae[17], dest_host[256];
	int dest_port;
	bool dest_tls;                 /* [peer] tls = yes: the sub-association uses TLS */
	struct scu *scu;
	bool scu_ready;
	int scu_err;
	/* C-GET */
	uint16_t sub_msg_id;
	uint64_t t0;
};

static void retr_next(struct retr_op *op);

static void add_failed(struct retr_op *op, const char *uid)
{
	size_t n = strlen(uid);
	char *p = realloc(op->failed_uids, op->failed_len + n + 2);
	if (!p)
		return;
	op->failed_uids = p;
	if (op->failed_len)
		p[op->failed_len++] = '\\';
	memcpy(p + op->failed_len, uid, n);
	op->failed_len += n;
	p[op->failed_len] = '\0';
}

static void retr_free(struct retr_op *op)
{
	struct assoc *a = op->a;
	if (a->qr_active == op) {
		a->qr_active = NULL;
		a->qr_cancel = NULL;
		a->qr_get = NULL;
	}
	query_free(op->q);
	free(op->list);
	free(op->failed_uids);
	free(op->file);
	free(op);
	assoc_op_done(a);
	assoc_unref(a);
}

static void retr_final(struct retr_op *op)
{
	struct assoc *a = op->a;
	/* Instances not attempted count as failed (cancel keeps them remaining). */
	uint16_t remaining = (uint16_t)(op->n - op->next);
	uint16_t st;
	if (op->cancelled) {
		st = DIMSE_CANCEL;
	} else {
		for (size_t i = op->next; i < op->n; i++) {
			op->failed++;
			add_failed(op, op->list[i].sop_instance_uid);
		}
		remaining = 0;
		if (op->scu_err && op->completed == 0 && op->n > 0)
			st = DIMSE_OUT_OF_RESOURCES_SUBOPS;
		else if (op->failed || op->warning)
			st = DIMSE_WARNING_SUBOPS_FAILED;
		else
			st = DIMSE_SUCCESS;
	}
	uint16_t counts[4] = { remaining, op->completed, op->failed, op->warning };
	struct dcm_buf ident = { 0 };
	if (op->failed_len) {
		/* Failed SOP Instance UID List (0008,0058), in the context's transfer syntax. */
		const struct pctx *pc = assoc_find_pc(a, op->pc_id);
		bool explicit_vr = pc && pc->ts->explicit_vr;
		dcm_put_str(&ident, 0x00080058, "UI", op->failed_uids, explicit_vr);
	}
	log_info("assoc=%llu event=%s dest=%s instances=%zu completed=%u failed=%u warning=%u "
		 "status=0x%04X ms=%llu",
		 (unsigned long long)a->id, op->is_get ? "get" : "move",
		 op->is_get ? a->calling_ae : op->dest_ae, op->n, op->completed, op->failed,
		 op->warning, st, (unsigned long long)(now_ms() - op->t0));
	send_final(a, op->pc_id, &op->rq, st, counts, true, ident.data, ident.len);
	dcm_buf_free(&ident);
	retr_free(op);
}

static void retr_pending(struct retr_op *op)
{
	struct assoc *a = op->a;
	if (a->closing)
		return;
	struct dimse_cmd rsp;
	dimse_retrieve_rsp(&rsp, &op->rq, DIMSE_PENDING, (uint16_t)(op->n - op->next),
			   op->completed, op->failed, op->warning);
	assoc_send_message(a, op->pc_id, &rsp, NULL, 0);
}

/* A sub-operation ended with this C-STORE status (or a local failure). */
static void retr_sub_done(struct retr_op *op, uint16_t status, const char *why)
{
	const struct query_instance *qi = &op->list[op->next];
	if (status == DIMSE_SUCCESS) {
		op->completed++;
	} else if ((status & 0xF000) == 0xB000) {
		op->warning++;
	} else {
		op->failed++;
		add_failed(op, qi->sop_instance_uid);
		log_warn("assoc=%llu event=suboperation_failed sop_instance=%s status=0x%04X "
			 "why=\"%s\"",
			 (unsigned long long)op->a->id, qi->sop_instance_uid, status, why ? why : "");
	}
	free(op->file);
	op->file = NULL;
	op->next++;
	if (atomic_load(&op->cancel))
		op->cancelled = true;
	if (op->next < op->n && !op->cancelled)
		retr_pending(op);
	retr_next(op);
}

static void read_run(uv_work_t *w)
{
	struct retr_op *op = (struct retr_op *)w;
	const struct query_instance *qi = &op->list[op->next];
	char path[8192];
	snprintf(path, sizeof path, "%s/%s", op->root, qi->rel_path);
	op->read_err = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		op->read_err = -errno;
		return;
	}
	struct stat st;
	if (fstat(fd, &st) < 0 || st.st_size <= 0 || (uint64_t)st.st_size > MAX_RETRIEVE_FILE) {
		op->read_err = -EFBIG;
		close(fd);
		return;
	}
	op->file = malloc((size_t)st.st_size);
	if (!op->file) {
		op->read_err = -ENOMEM;
		close(fd);
		return;
	}
	size_t got = 0;
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, op->file + got, (size_t)st.st_size - got);
		if (r <= 0) {
			op->read_err = r < 0 ? -errno : -EIO;
			break;
		}
		got += (size_t)r;
	}
	close(fd);
	op->file_len = got;
}

/* The data set of the file just read, after its Part 10 header. */
static int file_dataset(struct retr_op *op, const uint8_t **ds, size_t *len, struct dcm_meta *m)
{
	size_t off = 0;
	if (dcm_part10_read_header(op->file, op->file_len, m, &off) < 0)
		return -EINVAL;
	*ds = op->file + off;
	*len = op->file_len - off;
	return 0;
}

static void get_send(struct retr_op *op);

static void read_done(uv_work_t *w, int status)
{
	struct retr_op *op = (struct retr_op *)w;
	const struct query_instance *qi = &op->list[op->next];
	if (status < 0 || op->read_err < 0) {
		char why[400];
		snprintf(why, sizeof why, "cannot read %s: %s", qi->rel_path,
			 strerror(op->read_err < 0 ? -op->read_err : ECANCELED));
		retr_sub_done(op, DIMSE_OUT_OF_RESOURCES, why);
		return;
	}
	if (op->is_get) {
		get_send(op);
		return;
	}
	const uint8_t *ds;
	size_t len;
	struct dcm_meta m;
	if (file_dataset(op, &ds, &len, &m) < 0) {
		retr_sub_done(op, DIMSE_OUT_OF_RESOURCES, "stored file has no valid Part 10 header");
		return;
	}
	int rc = scu_store(op->scu, qi->sop_class_uid, qi->sop_instance_uid, m.ts_uid, ds, len,
			   op->a->calling_ae, op->rq.message_id);
	if (rc < 0)
		retr_sub_done(op, DIMSE_OUT_OF_RESOURCES,
			      rc == -ENOTSUP ? "destination did not accept this SOP class in the "
					       "stored transfer syntax"
					     : "cannot send");
}

/* Starts the next sub-operation, or finishes. */
static void retr_next(struct retr_op *op)
{
	if (op->a->closing) {
		op->cancelled = true;
	}
	if (op->next >= op->n || op->cancelled || (!op->is_get && op->scu_err)) {
		if (!op->is_get && op->scu && !op->scu_err) {
			scu_release(op->scu); /* retr_final runs from on_closed */
			return;
		}
		if (!op->is_get && op->scu)
			return; /* on_closed finishes */
		retr_final(op);
		return;
	}
	if (uv_queue_work(op->a->srv->loop, &op->work, read_run, read_done) < 0)
		retr_sub_done(op, DIMSE_OUT_OF_RESOURCES, "cannot queue a file read");
}

/* C-MOVE: the destination association's callbacks. */
static void move_ready(struct scu *s, void *ctx)
{
	struct retr_op *op = ctx;
	(void)s;
	op->scu_ready = true;
	retr_next(op);
}

static void move_store_rsp(struct scu *s, void *ctx, uint16_t status)
{
	struct retr_op *op = ctx;
	(void)s;
	retr_sub_done(op, status, "destination refused the instance");
}

static void move_closed(struct scu *s, void *ctx, int err, const char *why)
{
	struct retr_op *op = ctx;
	(void)s;
	op->scu = NULL;
	if (err) {
		op->scu_err = err;
		log_warn("assoc=%llu event=move_destination_failed dest=%s why=\"%s\"",
			 (unsigned long long)op->a->id, op->dest_ae, why);
		if (op->file) {
			/* A sub-operation was in flight: it failed with the association. */
			retr_sub_done(op, DIMSE_OUT_OF_RESOURCES, why);
			return;
		}
	}
	retr_final(op);
}

static void move_connect(struct retr_op *op)
{
	/* One context per (SOP Class, stored transfer syntax) pair, at most 128. */
	struct scu_context *ctx = calloc(128, sizeof *ctx);
	unsigned n = 0;
	if (!ctx) {
		op->scu_err = -ENOMEM;
		retr_final(op);
		return;
	}
	for (size_t i = 0; i < op->n; i++) {
		const struct query_instance *qi = &op->list[i];
		bool seen = false;
		for (unsigned k = 0; k < n && !seen; k++)
			seen = strcmp(ctx[k].abstract, qi->sop_class_uid) == 0 &&
			       strcmp(ctx[k].ts[0], qi->ts_uid) == 0;
		if (seen || n == 128)
			continue;
		snprintf(ctx[n].abstract, sizeof ctx[n].abstract, "%s", qi->sop_class_uid);
		snprintf(ctx[n].ts[0], sizeof ctx[n].ts[0], "%s", qi->ts_uid);
		ctx[n].n_ts = 1;
		n++;
	}
	struct scu_params p = {
		.host = op->dest_host,
		.port = op->dest_port,
		.calling_ae = op->a->srv->cfg->ae_title,
		.called_ae = op->dest_ae,
		.contexts = ctx,
		.n_contexts = n,
		.max_pdu = op->a->srv->cfg->max_pdu,
		.timeout_s = 30,
		.log_id = op->a->id,
		.tls = op->dest_tls ? op->a->srv->tls_client : NULL,
	};
	struct scu_callbacks cb = { .ctx = op, .on_ready = move_ready,
				    .on_store_rsp = move_store_rsp, .on_closed = move_closed };
	int rc = scu_open(op->a->srv->loop, &p, &cb, &op->scu);
	free(ctx);
	if (rc < 0) {
		op->scu = NULL;
		op->scu_err = rc;
		retr_final(op);
	}
}

/* C-GET: sends the instance on the requestor's own association. */
static void get_send(struct retr_op *op)
{
	struct assoc *a = op->a;
	const struct query_instance *qi = &op->list[op->next];
	const uint8_t *ds;
	size_t len;
	struct dcm_meta m;
	if (file_dataset(op, &ds, &len, &m) < 0) {
		retr_sub_done(op, DIMSE_OUT_OF_RESOURCES, "stored file has no valid Part 10 header");
		return;
	}
	const struct pctx *pc = assoc_find_scp_role_pc(a, qi->sop_class_uid, m.ts_uid);
	if (!pc) {
		retr_sub_done(op, DIMSE_OUT_OF_RESOURCES,
			      "no accepted context with the SCP role for this SOP class in the "
			      "stored transfer syntax");
		return;
	}
	struct dimse_cmd cmd;
	op->sub_msg_id = a->next_msg_id++;
	if (a->next_msg_id == 0)
		a->next_msg_id = 1;
	dimse_store_rq(&cmd, op->sub_msg_id, qi->sop_class_uid, qi->sop_instance_uid, 0);
	if (assoc_send_message(a, pc->id, &cmd, ds, len) < 0)
		retr_sub_done(op, DIMSE_OUT_OF_RESOURCES, "cannot send");
	/* retr_sub_done runs when the C-STORE-RSP arrives (qr_store_rsp). */
}

void qr_store_rsp(struct assoc *a, const struct dimse_cmd *cmd)
{
	struct retr_op *op = a->qr_get;
	if (!op || !op->is_get || !op->file || cmd->message_id_responded != op->sub_msg_id) {
		log_warn("assoc=%llu event=unexpected_store_rsp msg_id=%u", (unsigned long long)a->id,
			 cmd->message_id_responded);
		return;
	}
	retr_sub_done(op, cmd->status, "the requestor refused the instance");
}

static void list_run(uv_work_t *w)
{
	struct retr_op *op = (struct retr_op *)w;
	sqlite3 *db = NULL;
	char err[256];
	if (query_db_open(op->db_path, &db, err, sizeof err) < 0) {
		log_err("event=retrieve_failed err=\"%s\"", err);
		op->rc = -1;
		op->status = QUERY_ST_DB;
		return;
	}
	op->rc = query_retrieve(db, op->q, &op->list, &op->n, &op->status);
	sqlite3_close(db);
}

static void list_done(uv_work_t *w, int status)
{
	struct retr_op *op = (struct retr_op *)w;
	if (status < 0 || op->rc < 0) {
		uint16_t counts[4] = { 0, 0, 0, 0 };
		send_final(op->a, op->pc_id, &op->rq,
			   op->status ? op->status : DIMSE_OUT_OF_RESOURCES_MATCHES, counts, false,
			   NULL, 0);
		retr_free(op);
		return;
	}
	if (op->n > 0xFFFF) {
		/* The counts are US (PS3.7 Annex E): more sub-operations cannot be reported. */
		op->n = 0xFFFF;
	}
	if (op->n == 0 || op->is_get) {
		retr_next(op);
		return;
	}
	move_connect(op);
}

static int start_retrieve(struct assoc *a, struct qr_rq *rq, struct query *q, bool is_get)
{
	struct retr_op *op = calloc(1, sizeof *op);
	if (!op)
		return -ENOMEM;
	op->a = a;
	op->pc_id = rq->pc_id;
	op->rq = rq->cmd;
	op->is_get = is_get;
	op->q = q;
	op->t0 = now_ms();
	atomic_init(&op->cancel, false);
	snprintf(op->db_path, sizeof op->db_path, "%s", a->srv->cfg->index_database);
	snprintf(op->root, sizeof op->root, "%s", store_root(a->srv->store));
	assoc_ref(a);
	a->ops_pending++;
	a->qr_active = op;
	a->qr_cancel = &op->cancel;
	if (is_get)
		a->qr_get = op;
	if (!is_get) {
		const struct config_peer *p = config_find_peer(a->srv->cfg, rq->cmd.move_destination);
		if (!p || !p->port) {
			log_warn("assoc=%llu event=move_refused dest=%s why=\"unknown move destination\"",
				 (unsigned long long)a->id, rq->cmd.move_destination);
			uint16_t counts[4] = { 0, 0, 0, 0 };
			send_final(a, rq->pc_id, &rq->cmd, DIMSE_MOVE_DEST_UNKNOWN, counts, false, NULL, 0);
			retr_free(op);
			return 0;
		}
		snprintf(op->dest_ae, sizeof op->dest_ae, "%s", p->ae_title);
		snprintf(op->dest_host, sizeof op->dest_host, "%s", p->host[0] ? p->host : a->peer_ip);
		op->dest_port = p->port;
		op->dest_tls = p->tls;
	}
	if (uv_queue_work(a->srv->loop, &op->work, list_run, list_done) < 0) {
		op->rc = -1;
		list_done(&op->work, 0);
	}
	return 0;
}

/* ---- dispatch ----------------------------------------------------------------------- */

int qr_handle_rq(struct assoc *a, const struct pctx *pc, const struct dimse_cmd *cmd)
{
	if (a->cur_qr || a->qr_active) {
		/* One operation at a time: the asynchronous window is 1 (PS3.7 D.3.3.3). */
		log_warn("assoc=%llu event=bad_message why=\"Q/R request while another runs\"",
			 (unsigned long long)a->id);
		return -EPROTO;
	}
	if (!dimse_has_data_set(cmd))
		return -EPROTO; /* C-FIND/MOVE/GET-RQ always carry an identifier (PS3.7 9.3) */
	struct qr_rq *rq = calloc(1, sizeof *rq);
	if (!rq)
		return -ENOMEM;
	rq->cmd = *cmd;
	rq->pc_id = pc->id;
	rq->ts = pc->ts;
	a->cur_qr = rq;
	return 0;
}

int qr_handle_refused(struct assoc *a, const struct pctx *pc, const struct dimse_cmd *cmd,
		      uint16_t status)
{
	int rc = qr_handle_rq(a, pc, cmd);
	if (rc == 0)
		a->cur_qr->refuse = status;
	return rc;
}

static void qr_dispatch(struct assoc *a, struct qr_rq *rq)
{
	enum query_model model;
	enum query_op op;
	uint16_t status = QUERY_ST_PARSE;
	char err[256] = "";
	struct query *q = NULL;
	uint16_t zero[4] = { 0, 0, 0, 0 };
	if (rq->refuse) {
		send_final(a, rq->pc_id, &rq->cmd, rq->refuse, zero, false, NULL, 0);
		return;
	}
	if (query_sop_class(rq->cmd.affected_sop_class, &model, &op) < 0) {
		send_final(a, rq->pc_id, &rq->cmd, DIMSE_SOP_CLASS_NOT_SUPPORTED, zero, false, NULL, 0);
		return;
	}
	if (rq->too_big) {
		snprintf(err, sizeof err, "identifier larger than %u bytes", MAX_IDENTIFIER);
		status = QUERY_ST_PARSE;
	} else if (query_parse(rq->buf, rq->len, rq->ts, model, op, &q, &status, err, sizeof err) == 0) {
		int rc = op == QUERY_FIND ? start_find(a, rq, q)
					  : start_retrieve(a, rq, q, op == QUERY_GET);
		if (rc == 0)
			return;
		query_free(q);
		status = DIMSE_OUT_OF_RESOURCES;
		snprintf(err, sizeof err, "out of memory");
	}
	log_warn("assoc=%llu event=qr_refused command=%s status=0x%04X why=\"%s\"",
		 (unsigned long long)a->id, dimse_command_name(rq->cmd.command_field), status, err);
	send_final(a, rq->pc_id, &rq->cmd, status, zero, false, NULL, 0);
}

int qr_handle_data(struct assoc *a, const uint8_t *buf, size_t len, bool last)
{
	struct qr_rq *rq = a->cur_qr;
	if (!rq->too_big && !rq->refuse) {
		if (rq->len + len > MAX_IDENTIFIER) {
			rq->too_big = true;
		} else {
			if (rq->len + len > rq->cap) {
				size_t cap = rq->cap ? rq->cap * 2 : 4096;
				while (cap < rq->len + len)
					cap *= 2;
				uint8_t *p = realloc(rq->buf, cap);
				if (!p)
					return -ENOMEM;
				rq->buf = p;
				rq->cap = cap;
			}
			memcpy(rq->buf + rq->len, buf, len);
			rq->len += len;
		}
	}
	if (last) {
		a->cur_qr = NULL;
		qr_dispatch(a, rq);
		free(rq->buf);
		free(rq);
	}
	return 0;
}

void qr_cancel(struct assoc *a, const struct dimse_cmd *cmd)
{
	if (!a->qr_active || !a->qr_cancel) {
		log_debug("assoc=%llu event=cancel_ignored msg_id=%u", (unsigned long long)a->id,
			  cmd->message_id_responded);
		return;
	}
	log_info("assoc=%llu event=cancel msg_id=%u", (unsigned long long)a->id,
		 cmd->message_id_responded);
	atomic_store(a->qr_cancel, true);
}

void qr_abandon(struct assoc *a)
{
	if (a->cur_qr) {
		free(a->cur_qr->buf);
		free(a->cur_qr);
		a->cur_qr = NULL;
	}
	if (a->qr_active && a->qr_cancel)
		atomic_store(a->qr_cancel, true);
	struct retr_op *get = a->qr_get;
	if (get && get->file) {
		/* A C-GET sub-operation waits for a response that will never come. */
		retr_sub_done(get, DIMSE_OUT_OF_RESOURCES, "association closed");
	}
}
