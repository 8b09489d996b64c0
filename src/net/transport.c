/*
 * The byte transport of an association on libuv: plain TCP writes, or TLS records made by
 * net/tls.c from memory BIOs and written with uv_write (see transport.h).
 */
#include "net/transport.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/tls.h"
#include "util/log.h"

/* Ciphertext read buffer (a few TLS records). */
#define CBUF_SIZE (64u * 1024)
/* The plaintext of one TLS record at most (RFC 8446 5.1): room kept free before reading. */
#define RECORD_MAX 16384u
/* A large message is encrypted and written this much at a time, so that its ciphertext
 * is never held whole besides the plaintext. */
#define SEND_SLICE (256u * 1024)

struct send_req {
	uv_write_t req;
	const char *kind;         /* the owner's, for the log line */
	uint64_t id;
	uint8_t *owned;           /* freed when done; NULL when the data is inline */
	uint8_t data[];
};

static void on_sent(uv_write_t *req, int status)
{
	struct send_req *s = (struct send_req *)req;
	if (status < 0 && status != UV_ECANCELED)
		log_debug("%s=%llu event=send_failed err=%s", s->kind, (unsigned long long)s->id,
			  uv_strerror(status));
	free(s->owned);
	free(s);
}

/* A write request with room for n bytes inline, or NULL. */
static struct send_req *req_new(const struct transport *t, size_t n)
{
	struct send_req *s = malloc(sizeof *s + n);
	if (s) {
		s->kind = t->kind;
		s->id = t->id;
		s->owned = NULL;
	}
	return s;
}

/* Queues len bytes at data (inline in s, or s->owned) in one uv_write; s is freed on error. */
static int req_write(struct transport *t, struct send_req *s, const uint8_t *data, size_t len)
{
	uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
	int rc = uv_write(&s->req, t->stream, &b, 1, on_sent);
	if (rc < 0) {
		free(s->owned);
		free(s);
	}
	return rc;
}

/* TLS: writes every waiting record in one uv_write. */
static int flush(struct transport *t)
{
	size_t n = tls_conn_pending(t->tls);
	if (n == 0)
		return 0;
	struct send_req *s = req_new(t, n);
	if (!s)
		return -ENOMEM;
	size_t got = tls_conn_take(t->tls, s->data, n);
	return req_write(t, s, s->data, got);
}

void transport_init_plain(struct transport *t, uv_stream_t *stream, const char *kind,
			  uint64_t id)
{
	memset(t, 0, sizeof *t);
	t->stream = stream;
	t->kind = kind;
	t->id = id;
}

int transport_init_tls(struct transport *t, uv_stream_t *stream, struct tls_ctx *ctx,
		       const char *kind, uint64_t id)
{
	transport_init_plain(t, stream, kind, id);
	return tls_conn_new(ctx, &t->tls) < 0 ? -ENOMEM : 0;
}

void transport_free(struct transport *t)
{
	tls_conn_free(t->tls);
	t->tls = NULL;
	free(t->cbuf);
	t->cbuf = NULL;
}

bool transport_ready(const struct transport *t)
{
	return !t->tls || tls_conn_established(t->tls);
}

int transport_start(struct transport *t)
{
	if (!t->tls)
		return 0;
	int rc = tls_conn_feed(t->tls, NULL, 0);
	int frc = flush(t);
	return rc < 0 ? rc : frc;
}

int transport_send(struct transport *t, const uint8_t *data, size_t len)
{
	if (!t->tls) {
		struct send_req *s = req_new(t, len);
		if (!s)
			return -ENOMEM;
		memcpy(s->data, data, len);
		return req_write(t, s, s->data, len);
	}
	do {
		size_t n = len < SEND_SLICE ? len : SEND_SLICE;
		int rc = tls_conn_write(t->tls, data, n);
		int frc = flush(t);
		if (rc < 0 || frc < 0)
			return rc < 0 ? rc : frc;
		data += n;
		len -= n;
	} while (len > 0);
	return 0;
}

int transport_send_owned(struct transport *t, uint8_t *data, size_t len)
{
	if (!t->tls) {
		struct send_req *s = req_new(t, 0);
		if (!s) {
			free(data);
			return -ENOMEM;
		}
		s->owned = data;
		return req_write(t, s, data, len);
	}
	int rc = transport_send(t, data, len);
	free(data);
	return rc;
}

void transport_alloc(struct transport *t, uv_buf_t *buf)
{
	/* Made at the first read: a connection that never sends holds no buffer. On failure
	 * libuv reports UV_ENOBUFS to the read callback. */
	if (!t->cbuf)
		t->cbuf = malloc(CBUF_SIZE);
	*buf = uv_buf_init((char *)t->cbuf, t->cbuf ? CBUF_SIZE : 0);
}

/* Room for one more record's plaintext at the end of the owner's buffer. */
static int make_room(uint8_t **buf, size_t *len, size_t *cap)
{
	if (*cap - *len >= RECORD_MAX)
		return 0;
	size_t ncap = *cap ? *cap : 64u * 1024;
	while (ncap - *len < RECORD_MAX)
		ncap *= 2;
	uint8_t *p = realloc(*buf, ncap);
	if (!p)
		return -ENOMEM;
	*buf = p;
	*cap = ncap;
	return 0;
}

int transport_input(struct transport *t, size_t nread, uint8_t **buf, size_t *len,
		    size_t *cap)
{
	if (!t->tls) { /* read straight into the owner's buffer */
		*len += nread;
		return 0;
	}
	int hs = tls_conn_feed(t->tls, t->cbuf, nread);
	if (hs < 0) {
		flush(t); /* the alert, if OpenSSL made one */
		return hs;
	}
	int rc = 0;
	for (;;) {
		if (make_room(buf, len, cap) < 0) {
			rc = -ENOMEM;
			break;
		}
		size_t n = 0;
		rc = tls_conn_read(t->tls, *buf + *len, *cap - *len, &n);
		*len += n;
		if (rc != 0 || n == 0)
			break;
	}
	/* Handshake messages, session tickets, alerts: whatever the reads produced. */
	int frc = flush(t);
	if (rc < 0)
		return rc;
	if (rc == 1) {
		t->peer_closed = true;
		return TRANSPORT_CLOSED;
	}
	if (frc < 0)
		return frc;
	return hs == 1 ? TRANSPORT_READY : 0;
}

void transport_close_notify(struct transport *t)
{
	if (!t->tls || t->peer_closed || !tls_conn_established(t->tls))
		return;
	tls_conn_close_notify(t->tls);
	flush(t);
}

const char *transport_error(const struct transport *t)
{
	return t->tls ? tls_conn_error(t->tls) : "";
}

const char *transport_describe(const struct transport *t, char *buf, size_t cap)
{
	if (!t->tls)
		snprintf(buf, cap, "tcp");
	else
		snprintf(buf, cap, "%s %s", tls_conn_version(t->tls), tls_conn_cipher(t->tls));
	return buf;
}
