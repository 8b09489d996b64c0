/*
 * DICOM TLS (PS3.15 B.1 "The Basic TLS Secure Transport Connection Profile", and the
 * BCP 195 profiles of PS3.15 B.9/B.10) over OpenSSL, without sockets: each connection is
 * an SSL object between two memory BIOs. Ciphertext that arrived from the peer is fed in
 * (tls_conn_feed), plaintext comes out (tls_conn_read); plaintext to send goes in
 * (tls_conn_write) and the records to put on the wire are taken out (tls_conn_take). The
 * caller moves the bytes (net/transport.c does it on the libuv loop), so this file includes
 * neither uv.h nor any socket header, and a test can connect two ends in memory.
 *
 * The profile is dcmtk's default "Non-downgrading BCP 195 TLS Profile": TLS 1.2 or 1.3
 * only; for TLS 1.2 the ECDHE/DHE AES-GCM suites of RFC 7525 4.2 (BCP 195); no TLS
 * compression (RFC 7525 3.3), no renegotiation. Certificates and keys are PEM files.
 *
 * Ownership: a tls_ctx is made at start-up (and again on reload, when the files are read
 * anew); whoever keeps one to make connections later holds a reference (tls_ctx_ref). A
 * context may be freed before the tls_conns made from it (OpenSSL counts its own
 * references). Neither is thread-safe to share across threads
 * while in use; everything here runs on the loop thread.
 */
#ifndef DICOMAID_NET_TLS_H
#define DICOMAID_NET_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tls_ctx;
struct tls_conn;

enum tls_role {
	TLS_SERVER, /* we accept: present our certificate, maybe ask for the peer's */
	TLS_CLIENT, /* we connect: verify the server against the CA, present ours if given */
};

/* Files for a context; paths are borrowed for the call only. */
struct tls_files {
	const char *certificate;  /* PEM certificate (chain), or NULL: none (client only) */
	const char *key;          /* PEM private key matching it, unencrypted; NULL with it */
	const char *ca;           /* PEM trusted CA certificate(s), or NULL */
	bool verify_peer;         /* server: require and verify a client certificate;
	                           * client: always verifies the server (needs ca) */
};

/* The TLS 1.2 cipher list of the profile (OpenSSL names), for the man page and tests. */
extern const char tls_cipher_list[];

/*
 * Makes a context for role with the BCP 195 profile, loading and checking the files: the
 * certificate and key must load and match, the CA must load. Returns 0 and *out (free with
 * tls_ctx_free), or -1 with a one-line reason in err, which names the file at fault
 * ("tls_key: /path: key does not match the certificate").
 */
int tls_ctx_new(enum tls_role role, const struct tls_files *f, struct tls_ctx **out,
		char *err, size_t errlen);
/* Contexts are counted (loop thread only): tls_ctx_ref adds a holder and returns ctx,
 * tls_ctx_free drops one and frees the context with the last. NULL is allowed in both. A
 * connection made from a context does not need a hold on it (OpenSSL keeps its own). */
struct tls_ctx *tls_ctx_ref(struct tls_ctx *ctx);
void tls_ctx_free(struct tls_ctx *ctx);

/* A connection in role of ctx. Returns 0 and *out (free with tls_conn_free), or -ENOMEM. */
int tls_conn_new(struct tls_ctx *ctx, struct tls_conn **out);
/* NULL is allowed. */
/*
 * Client side: the server's certificate must name host (RFC 6125: an IP literal must be one
 * of its IP subjectAltNames, a DNS name one of its DNS subjectAltNames, or its CN when it has
 * none), on top of chaining to tls_ca; a DNS name is also sent as SNI. Call before the first
 * tls_conn_feed. Returns 0, or -EINVAL when host cannot be used as a name.
 */
int tls_conn_expect_peer(struct tls_conn *c, const char *host);

void tls_conn_free(struct tls_conn *c);

/*
 * Ciphertext from the peer (len may be 0: a client calls tls_conn_feed(c, NULL, 0) once
 * to produce its ClientHello). Drives the handshake while it is not complete.
 * Returns 1 when the handshake completed in this call, 0 otherwise, or -EPROTO when it
 * failed (reason in tls_conn_error; an alert for the peer may wait in tls_conn_take).
 */
int tls_conn_feed(struct tls_conn *c, const uint8_t *data, size_t len);

/*
 * Plaintext received: up to cap bytes into buf, *n set to the count (0 = nothing now).
 * Returns 0, 1 when the peer closed the TLS session (close_notify: no more data), or
 * -EPROTO on a TLS error (reason in tls_conn_error).
 */
int tls_conn_read(struct tls_conn *c, uint8_t *buf, size_t cap, size_t *n);

/* Encrypts len bytes of plaintext (handshake complete). Returns 0 or -EPROTO/-ENOMEM. */
int tls_conn_write(struct tls_conn *c, const uint8_t *data, size_t len);

/* Queues a close_notify alert (RFC 8446 6.1); harmless before the handshake completed. */
void tls_conn_close_notify(struct tls_conn *c);

/* Bytes of ciphertext waiting to be sent. */
size_t tls_conn_pending(const struct tls_conn *c);
/* Moves up to cap waiting bytes into buf; returns how many. */
size_t tls_conn_take(struct tls_conn *c, uint8_t *buf, size_t cap);

bool tls_conn_established(const struct tls_conn *c);
/* The last failure, one line ("" when none); valid until the next call on c. */
const char *tls_conn_error(const struct tls_conn *c);
/* The negotiated protocol ("TLSv1.3") and cipher suite names, for the log. */
const char *tls_conn_version(const struct tls_conn *c);
const char *tls_conn_cipher(const struct tls_conn *c);

#endif
