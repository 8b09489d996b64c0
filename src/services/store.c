/*
 * C-STORE SCP (PS3.4 Annex B, PS3.7 9.1.1). The data set is streamed to a temporary Part 10
 * file as its PDVs arrive: the loop thread appends the bytes to a chunk and hands full chunks
 * to libuv's threadpool (pwrite at a known offset; the chunk buffer itself is written, then
 * freed, and the next bytes go to a new one) and adds them to the file's CRC-32 (the
 * committer's store_pending row needs it: no reading the file back), while the streaming
 * parser picks the index attributes out of the same bytes. Memory per association stays bounded: when too
 * many bytes wait for the disk, reading from the socket stops until they are written.
 *
 * With fsync on, the whole 4 KiB blocks of each full chunk are written through a second,
 * O_DIRECT descriptor of the part (store_part_open_direct): the device gets them from the
 * chunk itself, where a buffered write would first copy them into the page cache (measured
 * here: ~0.18 ms of kernel CPU per 128 KiB file). The last chunk goes through the page cache
 * (below): there the direct write would be a device write of its own before the syncs, in
 * the time the peer waits for its answer. The committer's fdatasync has the same meaning
 * either way.
 *
 * The part file is created when the first full chunk is written. The last chunk is not
 * written here: when the last fragment arrives and the earlier chunks are written, the
 * operation goes to the storage committer with that chunk (store_req.tail); the committer
 * writes it (creating the part when the data set fit in one chunk), fsyncs, renames into
 * place and commits the index row in a batch with other associations' instances; only then
 * (services_store_committed) is the C-STORE-RSP sent (PS3.4 B.2.3).
 *
 * Failure statuses (PS3.4 B.2.3; the Cxxx values are dicomaid's, documented in dicomaid(8)):
 *   A700 out of resources (disk full, I/O error, cannot create the file, free space below
 *        [storage] min_free_space, data set larger than [storage] max_instance_size)
 *   A900 the data set's SOP Class UID does not match the command's
 *   C000 the data set cannot be parsed
 *   C001 the data set's SOP Instance UID does not match the command's
 *   C002 a Study, Series or SOP Instance UID is missing or not a valid UID
 *   0111 duplicate instance refused ([storage] duplicates = reject)
 *   0122 SOP Class not supported on this presentation context
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dicom/attrs_parser.h"
#include "dicom/part10.h"
#include "dicom/uid.h"
#include "dicom/writer.h"
#include "dimse/status.h"
#include "net/assoc.h"
#include "net/server.h"
#include "services/services.h"
#include "storage/crc32.h"
#include "storage/store.h"
#include "util/log.h"

/* Bytes gathered before one write is handed to the threadpool. */
#define CHUNK_SIZE (256u * 1024)
/* Stop reading from the peer when this many bytes of this association wait for the disk. */
#define HIGH_WATER (4u * 1024 * 1024)
#define LOW_WATER (1u * 1024 * 1024)

#define STATUS_INSTANCE_MISMATCH 0xC001
#define STATUS_INVALID_UID 0xC002

struct store_op {
	struct store_req req;          /* what the committer gets; req.token = this op */
	struct assoc *a;               /* referenced (assoc_ref) until the op is freed */
	uint8_t pc_id;
	uint16_t message_id;
	char sop_class[65];            /* from the command */
	char sop_instance[65];
	const struct dcm_ts *ts;
	struct dcm_attrs_parser ap;
	bool ap_init;
	struct write_req *w;           /* the chunk being filled (CHUNK_SIZE bytes), not yet handed
					* to a write; NULL until the next byte needs one */
	int dfd;                       /* the part opened O_DIRECT, or -1 (closed once every
					* write is done) */
	size_t chunk_len;              /* bytes in w */
	uint64_t offset;               /* file offset of w->data[0] */
	uint64_t data_bytes;           /* data-set bytes received so far */
	unsigned writes_inflight;
	size_t bytes_inflight;
	uint16_t fail_status;          /* nonzero: answer this failure, discard the file */
	char fail_comment[64];
	bool data_done;                /* the last fragment arrived */
	bool abandoned;                /* the association went away: answer nobody */
	bool submitted;                /* handed to the committer */
	bool crc;                      /* req.crc is computed (store_wants_crc) */
	uint64_t t_start_ms;
};

/* One chunk and, once handed to the threadpool, its write. */
struct write_req {
	uv_work_t work;                /* write_work on the threadpool, then on_written */
	struct store_op *op;
	int fd, dfd;                   /* the part, and its O_DIRECT descriptor or -1 */
	uint64_t offset;               /* file offset of data[0] */
	size_t len;                    /* bytes of data to write */
	ssize_t result;                /* len, or a negative errno */
	uint8_t *data;                 /* CHUNK_SIZE bytes aligned to STORE_DIRECT_ALIGN; the
					* allocation starts there, and this struct follows them */
};

_Static_assert(sizeof(struct write_req) <= STORE_DIRECT_ALIGN, "write_req after its chunk");
_Static_assert(CHUNK_SIZE % STORE_DIRECT_ALIGN == 0, "chunks start on aligned offsets");

static struct write_req *chunk_new(void)
{
	uint8_t *buf = aligned_alloc(STORE_DIRECT_ALIGN, CHUNK_SIZE + STORE_DIRECT_ALIGN);
	if (!buf)
		return NULL;
	struct write_req *w = (struct write_req *)(buf + CHUNK_SIZE);
	w->data = buf;
	return w;
}

static void chunk_free(struct write_req *w)
{
	if (w)
		free(w->data);
}

/* All of p[0..n) at off: a write to a regular file may take fewer bytes than asked. */
static ssize_t pwrite_all(int fd, const uint8_t *p, size_t n, uint64_t off)
{
	size_t done = 0;
	while (done < n) {
		ssize_t k = pwrite(fd, p + done, n - done, (off_t)(off + done));
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -errno;
		if (k == 0)
			return -EIO;
		done += (size_t)k;
	}
	return (ssize_t)done;
}

/* On the threadpool: the whole 4 KiB blocks through dfd, the rest through fd. A file system
 * that refuses the direct write (EINVAL: alignment) gets it all through fd. */
static void write_work(uv_work_t *req)
{
	struct write_req *w = (struct write_req *)req;
	size_t direct = 0;
	ssize_t r = 0;
	if (w->dfd >= 0 && w->offset % STORE_DIRECT_ALIGN == 0)
		direct = w->len & ~(size_t)(STORE_DIRECT_ALIGN - 1);
	if (direct > 0) {
		r = pwrite_all(w->dfd, w->data, direct, w->offset);
		if (r == -EINVAL) {
			direct = 0;
			r = 0;
		}
	}
	if (r >= 0 && direct < w->len)
		r = pwrite_all(w->fd, w->data + direct, w->len - direct, w->offset + direct);
	w->result = r < 0 ? r : (ssize_t)w->len;
}

static void op_close_direct(struct store_op *op)
{
	if (op->dfd >= 0)
		close(op->dfd);
	op->dfd = -1;
}

static void op_fail(struct store_op *op, uint16_t status, const char *comment)
{
	if (op->fail_status)
		return;
	op->fail_status = status;
	snprintf(op->fail_comment, sizeof op->fail_comment, "%s", comment);
}

static void op_free(struct store_op *op)
{
	if (op->ap_init)
		dcm_attrs_parser_free(&op->ap);
	chunk_free(op->w);
	op_close_direct(op);
	struct assoc *a = op->a;
	free(op);
	assoc_op_done(a);
	assoc_unref(a);
}

static void send_rsp(struct store_op *op, uint16_t status, const char *comment)
{
	struct assoc *a = op->a;
	if (op->abandoned || a->closing)
		return;
	struct dimse_cmd rsp;
	memset(&rsp, 0, sizeof rsp);
	rsp.command_field = 0x8001;
	rsp.message_id_responded = op->message_id;
	rsp.has_message_id_responded = true;
	snprintf(rsp.affected_sop_class, sizeof rsp.affected_sop_class, "%s", op->sop_class);
	snprintf(rsp.affected_sop_instance, sizeof rsp.affected_sop_instance, "%s", op->sop_instance);
	rsp.data_set_type = 0x0101;
	rsp.status = status;
	rsp.has_status = true;
	if (comment && comment[0])
		snprintf(rsp.error_comment, sizeof rsp.error_comment, "%s", comment);
	if (assoc_send_command(a, op->pc_id, &rsp) < 0)
		assoc_abort(a, "cannot send C-STORE-RSP");
}

/* Ends an operation that never reached the committer: discard the file, answer. */
static void op_finish_failed(struct store_op *op)
{
	op_close_direct(op);
	if (op->req.fd >= 0) {
		store_part_discard(op->a->srv->store, op->req.part_path, op->req.fd);
		op->req.fd = -1;
	}
	if (!op->abandoned) {
		log_warn("assoc=%llu event=store_failed sop_instance=%s status=0x%04X why=\"%s\"",
			 (unsigned long long)op->a->id, op->sop_instance, op->fail_status,
			 op->fail_comment);
		send_rsp(op, op->fail_status, op->fail_comment);
	}
	op_free(op);
}

static bool uid_ok(const char *s) { return s[0] && dcm_uid_valid(s); }

/* All bytes are on their way to disk and written: validate and hand to the committer. */
static void op_maybe_submit(struct store_op *op)
{
	if (!op->data_done || op->writes_inflight > 0 || op->submitted)
		return;
	op_close_direct(op);
	if (op->abandoned && !op->fail_status)
		op_fail(op, DIMSE_OUT_OF_RESOURCES, "association ended");
	if (!op->fail_status) {
		int rc = dcm_attrs_parser_finish(&op->ap);
		const struct dcm_attrs *at = &op->req.attrs;
		if (rc < 0)
			op_fail(op, DIMSE_CANNOT_UNDERSTAND, dcm_strerror(rc));
		else if (at->sop_class_uid[0] && strcmp(at->sop_class_uid, op->sop_class) != 0)
			op_fail(op, DIMSE_DATASET_MISMATCH, "SOP Class UID differs from the command's");
		else if (strcmp(at->sop_instance_uid, op->sop_instance) != 0)
			op_fail(op, STATUS_INSTANCE_MISMATCH,
				"SOP Instance UID differs from the command's");
		else if (!uid_ok(at->study_uid) || !uid_ok(at->series_uid) ||
			 !uid_ok(at->sop_instance_uid) ||
			 (at->truncated && (strlen(at->study_uid) == DCM_UID_MAX ||
					    strlen(at->series_uid) == DCM_UID_MAX)))
			/* A 64-character UID in a truncated record may have been cut. */
			op_fail(op, STATUS_INVALID_UID, "missing or invalid Study/Series/SOP UID");
	}
	if (op->fail_status) {
		op_finish_failed(op);
		return;
	}
	op->submitted = true;
	op->req.size = (int64_t)op->offset;
	/* every byte went through append() */
	op->req.crc_size = op->crc ? (int64_t)op->offset : 0;
	store_submit(op->a->srv->store, &op->req);
}

static void on_written(uv_work_t *req, int status)
{
	struct write_req *w = (struct write_req *)req;
	struct store_op *op = w->op;
	struct assoc *a = op->a;
	ssize_t result = status < 0 ? status : w->result;
	if (result < 0 && !op->fail_status) {
		/* Logged once per instance: the writes queued behind this one fail alike. */
		log_err("assoc=%llu event=write_failed path=%s err=%s", (unsigned long long)a->id,
			op->req.part_path, strerror((int)-result));
		op_fail(op, DIMSE_OUT_OF_RESOURCES, strerror((int)-result));
	} else if (result < 0) {
		/* already failed and logged */
	} else if ((size_t)result != w->len) {
		op_fail(op, DIMSE_OUT_OF_RESOURCES, "short write");
	}
	op->writes_inflight--;
	op->bytes_inflight -= w->len;
	a->write_bytes_inflight -= w->len;
	server_disk_landed(a->srv, w->len);
	chunk_free(w);
	if (a->read_paused && a->write_bytes_inflight <= LOW_WATER)
		assoc_resume_reading(a);
	op_maybe_submit(op);
}

/* Creates the part (and its O_DIRECT descriptor) for the first chunk that must be written
 * before the data set ends; a data set that fits in one chunk never needs it here: the
 * committer creates its part and writes it (store_req.tail). */
static int op_open_part(struct store_op *op)
{
	struct assoc *a = op->a;
	if (op->req.fd >= 0)
		return 0;
	int rc = store_part_create(a->srv->store, op->req.part_path, &op->req.fd);
	if (rc < 0) {
		log_err("assoc=%llu event=create_failed err=\"%s\"", (unsigned long long)a->id,
			strerror(-rc));
		op_fail(op, DIMSE_OUT_OF_RESOURCES, "cannot create a file");
		return rc;
	}
	rc = store_part_open_direct(a->srv->store, op->req.part_path);
	op->dfd = rc >= 0 ? rc : -1; /* without it, every byte goes through the page cache */
	return 0;
}

/* Hands the gathered chunk to the threadpool. */
static void flush_chunk(struct store_op *op)
{
	if (op->chunk_len == 0)
		return;
	struct assoc *a = op->a;
	if (op->fail_status) {
		op->offset += op->chunk_len;
		op->chunk_len = 0;
		return;
	}
	if (server_disk_low(a->srv)) {
		/* The low-water mark was crossed during the transfer: stop writing now rather
		 * than fill the disk; the partial file is discarded once the data set ends. */
		op_fail(op, DIMSE_OUT_OF_RESOURCES, "free space below min_free_space");
		op->offset += op->chunk_len;
		op->chunk_len = 0;
		return;
	}
	if (op_open_part(op) < 0) {
		op->offset += op->chunk_len;
		op->chunk_len = 0;
		return;
	}
	struct write_req *w = op->w;
	w->op = op;
	w->fd = op->req.fd;
	w->dfd = op->dfd;
	w->offset = op->offset;
	w->len = op->chunk_len;
	int rc = uv_queue_work(a->srv->loop, &w->work, write_work, on_written);
	if (rc < 0) {
		op_fail(op, DIMSE_OUT_OF_RESOURCES, uv_strerror(rc));
		op->chunk_len = 0;
		return;
	}
	op->w = NULL; /* the write owns it now (freed in on_written) */
	server_disk_wrote(a->srv, op->chunk_len);
	op->offset += op->chunk_len;
	op->chunk_len = 0;
	op->writes_inflight++;
	op->bytes_inflight += w->len;
	a->write_bytes_inflight += w->len;
	if (a->write_bytes_inflight >= HIGH_WATER)
		assoc_pause_reading(a);
}

static void append(struct store_op *op, const uint8_t *p, size_t n)
{
	while (n > 0) {
		if (!op->w && !(op->w = chunk_new())) {
			op_fail(op, DIMSE_OUT_OF_RESOURCES, "out of memory");
			return;
		}
		size_t room = CHUNK_SIZE - op->chunk_len;
		size_t k = n < room ? n : room;
		memcpy(op->w->data + op->chunk_len, p, k);
		/* the file's CRC-32 for its store_pending row, while the bytes are in cache */
		if (op->crc)
			op->req.crc = store_crc32(op->req.crc, op->w->data + op->chunk_len, k);
		op->chunk_len += k;
		p += k;
		n -= k;
		if (op->chunk_len == CHUNK_SIZE)
			flush_chunk(op);
	}
}

/* The last fragment arrived: the bytes not written yet stay in their chunk and go to the
 * committer with the request (store_req.tail), which writes them; one hand-off less per
 * instance than a threadpool write, and none at all for a data set that fits in one chunk. */
static void hand_tail(struct store_op *op)
{
	struct assoc *a = op->a;
	if (op->chunk_len == 0 || op->fail_status || server_disk_low(a->srv)) {
		/* nothing to hand over, or bytes to drop: flush_chunk fails the operation when
		 * the disk is low */
		flush_chunk(op);
		return;
	}
	op->req.tail = op->w->data;
	op->req.tail_len = op->chunk_len;
	op->req.tail_offset = (int64_t)op->offset;
	server_disk_wrote(a->srv, op->chunk_len);
	op->offset += op->chunk_len;
	op->chunk_len = 0; /* op->w stays: freed with the op, after the commit */
}

static struct store_op *op_new(struct assoc *a, const struct pctx *pc,
			       const struct dimse_cmd *cmd)
{
	struct store_op *op = calloc(1, sizeof *op);
	if (!op)
		return NULL;
	op->a = a;
	assoc_ref(a);
	a->ops_pending++;
	op->req.fd = -1;
	op->dfd = -1;
	op->req.token = op;
	op->crc = a->srv->store && store_wants_crc(a->srv->store);
	op->pc_id = pc->id;
	op->message_id = cmd->message_id;
	op->ts = pc->ts;
	op->t_start_ms = now_ms();
	snprintf(op->sop_class, sizeof op->sop_class, "%s", cmd->affected_sop_class);
	snprintf(op->sop_instance, sizeof op->sop_instance, "%s", cmd->affected_sop_instance);
	snprintf(op->req.ts_uid, sizeof op->req.ts_uid, "%s", pc->ts->uid);
	snprintf(op->req.calling_ae, sizeof op->req.calling_ae, "%s", a->calling_ae);
	return op;
}

int store_handle_refused(struct assoc *a, const struct pctx *pc, const struct dimse_cmd *cmd,
			 uint16_t status)
{
	if (a->cur_store)
		return -EPROTO;
	struct store_op *op = op_new(a, pc, cmd);
	if (!op)
		return -ENOMEM;
	a->cur_store = op;
	op_fail(op, status, "not authorized");
	return 0;
}

int store_handle_rq(struct assoc *a, const struct pctx *pc, const struct dimse_cmd *cmd)
{
	if (a->cur_store) {
		log_warn("assoc=%llu event=bad_message why=\"C-STORE-RQ while a data set is "
			 "arriving\"", (unsigned long long)a->id);
		return -EPROTO;
	}
	struct store_op *op = op_new(a, pc, cmd);
	if (!op)
		return -ENOMEM;
	if (!dimse_has_data_set(cmd)) {
		/* A C-STORE-RQ must carry a data set (PS3.7 9.3.1.1). */
		op_fail(op, DIMSE_CANNOT_UNDERSTAND, "C-STORE-RQ without a data set");
		op->data_done = true;
		op_finish_failed(op);
		return 0;
	}
	a->cur_store = op;
	if (strcmp(cmd->affected_sop_class, pc->abstract) != 0) {
		op_fail(op, DIMSE_SOP_CLASS_NOT_SUPPORTED,
			"Affected SOP Class differs from the presentation context");
		return 0;
	}
	if (!uid_ok(op->sop_instance)) {
		op_fail(op, STATUS_INVALID_UID, "Affected SOP Instance UID is not a valid UID");
		return 0;
	}
	if (server_disk_low(a->srv)) {
		/* Refused before the disk is full; the data set is read and dropped. */
		op_fail(op, DIMSE_OUT_OF_RESOURCES, "free space below min_free_space");
		return 0;
	}
	op->w = chunk_new();
	if (!op->w) {
		op_fail(op, DIMSE_OUT_OF_RESOURCES, "out of memory");
		return 0;
	}
	int rc = dcm_attrs_parser_init(&op->ap, op->ts, &op->req.attrs);
	if (rc < 0) {
		op_fail(op, DIMSE_OUT_OF_RESOURCES, "parser");
		return 0;
	}
	op->ap_init = true;

	/* The Part 10 header (PS3.10 7.1) goes first; the data set follows as received. */
	struct dcm_meta m;
	memset(&m, 0, sizeof m);
	snprintf(m.sop_class_uid, sizeof m.sop_class_uid, "%s", op->sop_class);
	snprintf(m.sop_instance_uid, sizeof m.sop_instance_uid, "%s", op->sop_instance);
	snprintf(m.ts_uid, sizeof m.ts_uid, "%s", op->ts->uid);
	snprintf(m.impl_class_uid, sizeof m.impl_class_uid, "%s", DCM_IMPL_CLASS_UID);
	snprintf(m.impl_version, sizeof m.impl_version, "%s", DCM_IMPL_VERSION);
	snprintf(m.source_ae, sizeof m.source_ae, "%s", a->calling_ae);
	struct dcm_buf hdr = { 0 };
	if (dcm_part10_write_header(&hdr, &m) < 0) {
		dcm_buf_free(&hdr);
		op_fail(op, DIMSE_OUT_OF_RESOURCES, "out of memory");
		return 0;
	}
	append(op, hdr.data, hdr.len);
	dcm_buf_free(&hdr);
	return 0;
}

int store_handle_data(struct assoc *a, struct store_op *op, const uint8_t *buf, size_t len,
		      bool last)
{
	op->data_bytes += len;
	uint64_t max = a->srv->cfg->max_instance_size;
	if (max && op->data_bytes > max && !op->fail_status) {
		/* The rest is read and dropped; the partial file is discarded at the end and
		 * the C-STORE answered A700 once the last fragment has arrived. */
		log_warn("assoc=%llu event=instance_too_large sop_instance=%s limit=%llu",
			 (unsigned long long)a->id, op->sop_instance, (unsigned long long)max);
		op_fail(op, DIMSE_OUT_OF_RESOURCES, "data set larger than max_instance_size");
		op->chunk_len = 0;
	}
	if (!op->fail_status) {
		int rc = dcm_attrs_parser_feed(&op->ap, buf, len);
		if (rc < 0)
			op_fail(op, DIMSE_CANNOT_UNDERSTAND, dcm_strerror(rc));
		else
			append(op, buf, len);
	}
	if (last) {
		hand_tail(op);
		op->data_done = true;
		a->cur_store = NULL;
		op_maybe_submit(op);
	}
	return 0;
}

void services_store_abandon(struct store_op *op)
{
	op->abandoned = true;
	op->data_done = true;
	op_fail(op, DIMSE_OUT_OF_RESOURCES, "association ended during the transfer");
	flush_chunk(op);
	op_maybe_submit(op);
}

void services_store_committed(struct server *srv)
{
	struct store_req *done = NULL;
	store_drain(srv->store, &done);
	while (done) {
		struct store_req *next = done->next;
		if (done->done_cb) {
			done->done_cb(done);
			done = next;
			continue;
		}
		struct store_op *op = done->token;
		struct assoc *a = op->a;
		uint16_t status = DIMSE_SUCCESS;
		server_disk_landed(srv, done->tail_len);
		const char *comment = "";
		if (done->result == 0 || done->result == STORE_DUPLICATE_KEPT) {
			srv->instances_stored++;
			a->instances++;
			assoc_note_series(a, done->attrs.series_uid);
			log_info("assoc=%llu event=stored sop_instance=%s study=%s series=%s bytes=%lld "
				 "ms=%llu%s",
				 (unsigned long long)a->id, op->sop_instance, done->attrs.study_uid,
				 done->attrs.series_uid, (long long)done->size,
				 (unsigned long long)(now_ms() - op->t_start_ms),
				 done->result == STORE_DUPLICATE_KEPT ? " duplicate=kept" : "");
		} else if (done->result == STORE_DUPLICATE_REJECTED) {
			status = DIMSE_DUPLICATE_INSTANCE;
			comment = "duplicate SOP Instance refused";
		} else if (done->result == -EINVAL) {
			status = STATUS_INVALID_UID;
			comment = "invalid UID";
		} else {
			status = DIMSE_OUT_OF_RESOURCES;
			comment = strerror(-done->result);
		}
		if (status != DIMSE_SUCCESS)
			log_warn("assoc=%llu event=store_failed sop_instance=%s status=0x%04X "
				 "why=\"%s\"",
				 (unsigned long long)a->id, op->sop_instance, status, comment);
		send_rsp(op, status, comment);
		op_free(op);
		done = next;
	}
}
