/*
 * Outbound associations (dicomaid as association requestor and C-STORE SCU) on the libuv
 * loop: C-MOVE sub-operations now, result delivery later. The Upper Layer state machine is
 * the same table as for inbound associations (ul/fsm.h), driven with is_requestor set.
 *
 * Life cycle: scu_open() resolves nothing (host must be an address or a name the system
 * resolver answers quickly: resolution runs on the threadpool), connects, sends the
 * A-ASSOCIATE-RQ and calls on_ready when the AC arrives (or on_closed with an error).
 * Then scu_store() sends one C-STORE at a time; on_store_rsp reports each response.
 * scu_release() ends the association; on_closed is always the last callback, after which
 * the scu is freed by the library.
 */
#ifndef DICOMAID_NET_SCU_H
#define DICOMAID_NET_SCU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct scu;
struct tls_ctx;

/* One proposed presentation context: a SOP Class with the transfer syntaxes offered. */
struct scu_context {
	char abstract[65];
	unsigned n_ts;
	char ts[4][65];
};

struct scu_params {
	const char *host;              /* IP literal or host name */
	int port;
	const char *calling_ae;        /* our AE title */
	const char *called_ae;         /* the peer's */
	const struct scu_context *contexts; /* copied; at most 128 */
	unsigned n_contexts;
	uint32_t max_pdu;              /* what we announce */
	unsigned timeout_s;            /* connect / negotiation / each response */
	uint64_t log_id;               /* shown as scu=N in log lines */
	struct tls_ctx *tls;           /* the scu holds a reference (tls_ctx_ref): the association
	                                * runs over TLS (PS3.15 B.1) as this client context says
	                                * (the server's certificate is verified and must name
	                                * host); NULL = plain TCP */
};

struct scu_callbacks {
	void *ctx;
	/* The association is established. */
	void (*on_ready)(struct scu *s, void *ctx);
	/* The response to the C-STORE sent by scu_store (status as received). */
	void (*on_store_rsp)(struct scu *s, void *ctx, uint16_t status);
	/* The association is gone: err 0 after an orderly release, else a negative libuv or
	 * -ECONNREFUSED/-ETIMEDOUT/-EPROTO style code, with why a one-line reason. */
	void (*on_closed)(struct scu *s, void *ctx, int err, const char *why);
	/* The response to the C-ECHO sent by scu_echo (status as received). */
	void (*on_echo_rsp)(struct scu *s, void *ctx, uint16_t status);
};

int scu_open(uv_loop_t *loop, const struct scu_params *p, const struct scu_callbacks *cb,
	     struct scu **out);

/* The accepted transfer syntax for abstract syntax sop_class that equals ts_uid, or false. */
bool scu_accepts(const struct scu *s, const char *sop_class, const char *ts_uid);

/*
 * Sends a C-STORE-RQ with the data set (the bytes after the Part 10 header, in ts_uid).
 * data is copied. Only one store may be outstanding. Returns 0 or a negative code
 * (-ENOTSUP when no accepted context carries this class in this transfer syntax).
 */
int scu_store(struct scu *s, const char *sop_class, const char *sop_instance, const char *ts_uid,
	      const uint8_t *data, size_t len, const char *move_originator_ae,
	      uint16_t move_originator_id);

/*
 * Sends a C-ECHO-RQ (PS3.7 9.1.5) on an accepted Verification context (PS3.4 A.4);
 * on_echo_rsp reports the response. Only one echo may be outstanding. Returns 0 or a
 * negative code (-ENOTSUP when the peer accepted no Verification context).
 */
int scu_echo(struct scu *s);

/* Orderly release (A-RELEASE-RQ); on_closed follows. */
void scu_release(struct scu *s);
/* A-ABORT and close; on_closed follows. */
void scu_abort(struct scu *s);

#endif
