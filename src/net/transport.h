/*
 * The byte transport under an association (PS3.8 9.1.1 "TCP transport connection"): plain
 * TCP, or TLS (PS3.15 B.1) through net/tls.h with every socket operation left on libuv.
 * Inbound (net/assoc.c) and outbound (net/scu.c) associations talk to this instead of
 * uv_write: on plain TCP each call is one uv_write of the bytes given, as before; on TLS the
 * bytes are encrypted first and the records written in one uv_write.
 *
 * Reading: the owner keeps its own libuv read callbacks, and passes each count read to
 * transport_input. On plain TCP it reads straight into its receive buffer, as before. On
 * TLS its alloc callback hands out the transport's ciphertext buffer (transport_alloc),
 * and transport_input appends the plaintext to the owner's receive buffer.
 *
 * Ownership: the stream is borrowed (the owner's uv_tcp_t, closed by the owner);
 * the TLS state and buffers are owned, released by transport_free once the stream is
 * closed. Loop thread only.
 */
#ifndef DICOMAID_NET_TRANSPORT_H
#define DICOMAID_NET_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct tls_ctx;
struct tls_conn;

struct transport {
	uv_stream_t *stream;      /* borrowed: the connection */
	struct tls_conn *tls;     /* owned; NULL = plain TCP */
	uint8_t *cbuf;            /* TLS: ciphertext read buffer, owned; made at the first read */
	const char *kind;         /* "assoc" or "scu", for log lines */
	uint64_t id;              /* the owner's log id */
	bool peer_closed;         /* TLS: close_notify received */
};

/* Results of transport_input besides 0 and negative errors. */
#define TRANSPORT_READY 1         /* the TLS handshake completed in this call */
#define TRANSPORT_CLOSED 2        /* the peer ended the TLS session (close_notify) */

/* Plain TCP over stream. Cannot fail. */
void transport_init_plain(struct transport *t, uv_stream_t *stream, const char *kind,
			  uint64_t id);

/* TLS over stream in ctx's role (ctx borrowed, must outlive t). Returns 0 or -ENOMEM. */
int transport_init_tls(struct transport *t, uv_stream_t *stream, struct tls_ctx *ctx,
		       const char *kind, uint64_t id);

/* Releases what t owns; idempotent. Call once the stream is closed. */
void transport_free(struct transport *t);

static inline bool transport_is_tls(const struct transport *t) { return t->tls != NULL; }

/* Is the connection ready for DICOM (always for TCP; TLS handshake complete)? */
bool transport_ready(const struct transport *t);

/* Client side: sends the TLS ClientHello. Returns 0 or a negative error. */
int transport_start(struct transport *t);

/* Sends len bytes (copied). Returns 0 or a negative libuv/errno code. */
int transport_send(struct transport *t, const uint8_t *data, size_t len);

/* Sends len bytes of data, a malloc'd buffer whose ownership is taken (freed when the
 * write is done, or at once on error or on TLS after encryption). */
int transport_send_owned(struct transport *t, uint8_t *data, size_t len);

/* TLS: the buffer libuv should read ciphertext into (an owner's alloc callback). */
void transport_alloc(struct transport *t, uv_buf_t *buf);

/*
 * nread bytes arrived. Plain TCP: they were read into the owner's receive buffer (*buf,
 * *len bytes used of *cap), and are counted in *len. TLS: they are ciphertext in the
 * transport_alloc buffer; this drives the handshake and sends what it produces, and
 * appends the plaintext to the owner's buffer (grown with realloc as needed).
 * Returns 0, TRANSPORT_READY, TRANSPORT_CLOSED, or a negative error: -EPROTO (TLS
 * failure, one-line reason in transport_error; any alert for the peer has been sent) or
 * -ENOMEM.
 */
int transport_input(struct transport *t, size_t nread, uint8_t **buf, size_t *len,
		    size_t *cap);

/* TLS: sends a close_notify, best effort, before the owner closes the stream. */
void transport_close_notify(struct transport *t);

/* The last TLS failure ("" for none). */
const char *transport_error(const struct transport *t);

/* "TLSv1.3 TLS_AES_256_GCM_SHA384"-style summary for log lines, into buf. */
const char *transport_describe(const struct transport *t, char *buf, size_t cap);

#endif
