/*
 * One inbound association: its TCP handle, its timer (ARTIM while no association exists,
 * the idle timeout once it does), the Upper Layer state machine (PS3.8 9.2), the receive
 * buffer that frames PDUs, the negotiated presentation contexts and the DIMSE reassembly.
 * The struct is freed only in the last close callback, and only when no storage operation
 * still refers to it (refs).
 */
#ifndef DICOMAID_NET_ASSOC_H
#define DICOMAID_NET_ASSOC_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "dicom/uid.h"
#include "dimse/command.h"
#include "dimse/rx.h"
#include "net/transport.h"
#include "ul/fsm.h"

struct server;
struct store_op;
struct qr_rq;
struct index_dimse_failure;
struct tls_ctx;

/* Failed responses kept one by one for the audit (all are counted). */
#define ASSOC_MAX_FAILS 64

/* One negotiated presentation context (PS3.8 9.3.3.2). */
struct pctx {
	uint8_t id;                   /* odd, 1-255 */
	uint8_t result;               /* 0 acceptance, 3 abstract syntax, 4 transfer syntaxes */
	const struct dcm_ts *ts;      /* the accepted transfer syntax (result 0) */
	char abstract[65];            /* the abstract syntax (SOP Class UID) */
	bool scp_role;                /* the requestor is SCP: we may send C-STORE (C-GET) */
};

struct assoc {
	uv_tcp_t tcp;                 /* the connection; data points to this struct */
	struct transport tp;          /* TCP or TLS over tcp: every write goes through it */
	uv_timer_t timer;             /* ARTIM (Sta2, Sta13) or idle timeout (Sta6) */
	struct server *srv;
	struct assoc *prev, *next;    /* server's list */
	uint64_t id;                  /* stable id in every log line: assoc=N */
	struct ul_assoc_sm sm;        /* Upper Layer state */
	char peer_ip[64];             /* remote address, text */
	char calling_ae[17];          /* from the A-ASSOCIATE-RQ, trimmed */
	char called_ae[17];
	unsigned services;            /* CONFIG_SVC_* the calling peer may use */
	uint32_t peer_max_pdu;        /* the peer's maximum P-DATA-TF length (0 = no limit) */
	struct pctx *pcs;             /* answered presentation contexts, n_pcs of them */
	unsigned n_pcs;
	struct dimse_rx rx;           /* DIMSE message reassembly */
	bool rx_init;
	uint8_t *rbuf;                /* receive buffer: PDUs being framed; NULL while empty */
	size_t rlen, rcap;
	struct store_op *cur_store;   /* the C-STORE whose data set is arriving, if any */
	struct qr_rq *cur_qr;         /* the Q/R request whose identifier is arriving */
	void *qr_active;              /* the running C-FIND/MOVE/GET operation */
	void *qr_get;                 /* the same, when it is a C-GET (gets C-STORE-RSPs) */
	atomic_bool *qr_cancel;       /* its cancel flag (C-CANCEL, association closing) */
	uint16_t next_msg_id;         /* for C-STOREs we send (C-GET sub-operations) */
	unsigned ops_pending;         /* stores received but not yet answered */
	size_t write_bytes_inflight;  /* data-set bytes queued to disk, for backpressure */
	unsigned refs;                /* store operations that still point here */
	unsigned handles_open;        /* tcp + timer until their close callbacks */
	bool established;             /* counted in server->n_established */
	bool reading;                 /* uv_read_start active */
	bool read_paused;             /* reading stopped because disk writes backed up */
	bool release_pending;         /* A-RELEASE-RQ received; RP waits for ops_pending == 0 */
	bool closing;                 /* uv_close called: callbacks must do nothing */
	uint64_t instances;           /* instances stored on this association */
	char (*series)[65];           /* series UIDs stored on this association (analysis waits
	                               * until it closes), n_series of them */
	unsigned n_series;
	int64_t audit_id;             /* row in the associations table, once written */
	uint8_t audit_state;          /* 0 none, 1 begin queued, 2 begin written */
	bool audit_end_wanted;        /* closed while the begin row was being written */
	uint64_t t_start_ms;
	const char *outcome;          /* for the end-of-association log line */
	char detail[96];              /* why it was rejected or aborted (audit), "" = nothing */
	uint64_t failures;            /* responses sent with a failure status (audit) */
	struct index_dimse_failure *fails; /* the first ASSOC_MAX_FAILS of them, n_fails; owned
	                               * until handed to the audit row */
	unsigned n_fails;
};

/* Accepts the pending connection on listener (one of the server's listeners). With tls
 * (borrowed, the server's), the connection is a TLS server end (PS3.15 B.1): the handshake
 * must complete within ARTIM, before any PDU is read. */
void assoc_accept(struct server *srv, uv_stream_t *listener, struct tls_ctx *tls);

/* Sends a DIMSE command (no data set) on presentation context pc_id. */
int assoc_send_command(struct assoc *a, uint8_t pc_id, const struct dimse_cmd *cmd);

/* Sends a DIMSE message: the command, then the data set (len bytes, may be 0 for none)
 * on presentation context pc_id, split to the peer's maximum PDU length. */
int assoc_send_message(struct assoc *a, uint8_t pc_id, const struct dimse_cmd *cmd,
		       const uint8_t *data, size_t len);

/* An accepted context for sop_class in transfer syntax ts_uid on which the requestor took
 * the SCP role (we send C-STORE there, for C-GET), or NULL. */
const struct pctx *assoc_find_scp_role_pc(const struct assoc *a, const char *sop_class,
					  const char *ts_uid);

/* Local abort (AA-1): sends A-ABORT and closes. reason is logged. */
void assoc_abort(struct assoc *a, const char *why);

/* A storage operation finished (answered or dropped): may send a deferred A-RELEASE-RP. */
void assoc_op_done(struct assoc *a);

/* Stops or resumes reading from the socket (disk backpressure). */
void assoc_pause_reading(struct assoc *a);
void assoc_resume_reading(struct assoc *a);

/* Remembers that this association stored into series_uid. */
void assoc_note_series(struct assoc *a, const char *series_uid);

void assoc_ref(struct assoc *a);
void assoc_unref(struct assoc *a);

/* The accepted presentation context with this id, or NULL. */
const struct pctx *assoc_find_pc(const struct assoc *a, uint8_t pc_id);

uint64_t now_ms(void);

#endif
