/*
 * TLS over OpenSSL memory BIOs (see tls.h): the profile, loading and checking the
 * certificate files, and one SSL object per connection between a read BIO (ciphertext
 * from the peer) and a write BIO (ciphertext for the peer).
 */
#include "net/tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

/* RFC 7525 4.2 (BCP 195) recommended suites, as in dcmtk's non-downgrading BCP 195
 * profile (PS3.15 B.9): ECDHE/DHE key exchange, AES-GCM. The ECDSA twins let an EC
 * certificate be used. TLS 1.3 suites are OpenSSL's defaults (all AEAD). */
const char tls_cipher_list[] =
	"ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384:"
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
	"DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384";

struct tls_ctx {
	SSL_CTX *ssl;
	enum tls_role role;
	int refs;                 /* holders; loop thread only */
};

struct tls_conn {
	SSL *ssl;                 /* owns both BIOs (SSL_set_bio) */
	BIO *rbio;                /* ciphertext from the peer */
	BIO *wbio;                /* ciphertext for the peer */
	bool established;
	char err[200];
};

/* The reason of the oldest queued OpenSSL error, "" when none; clears the queue. */
static void openssl_reason(char *buf, size_t cap)
{
	unsigned long e = ERR_get_error();
	buf[0] = '\0';
	if (e) {
		const char *r = ERR_reason_error_string(e);
		if (r)
			snprintf(buf, cap, "%s", r);
		else
			ERR_error_string_n(e, buf, cap);
	}
	ERR_clear_error();
}

/* A key password would be asked for on the terminal: refuse instead (keys are read by a
 * daemon; an encrypted key is reported as not loadable). */
static int no_password(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return 0;
}

/* Can path be opened for reading? Gives the system's reason first, which reads better than
 * OpenSSL's "system lib" for a missing file. */
static int readable(const char *what, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		snprintf(err, errlen, "%s %s: %s", what, path, strerror(errno));
		return -1;
	}
	fclose(f);
	return 0;
}

static int ctx_fail(SSL_CTX *ssl, const char *what, const char *path, const char *msg,
		    char *err, size_t errlen)
{
	char reason[160];
	openssl_reason(reason, sizeof reason);
	snprintf(err, errlen, "%s %s: %s%s%s", what, path, msg, reason[0] ? ": " : "", reason);
	SSL_CTX_free(ssl);
	return -1;
}

int tls_ctx_new(enum tls_role role, const struct tls_files *f, struct tls_ctx **out,
		char *err, size_t errlen)
{
	*out = NULL;
	ERR_clear_error();
	if ((f->certificate == NULL) != (f->key == NULL)) {
		snprintf(err, errlen, "tls_certificate and tls_key go together");
		return -1;
	}
	if (role == TLS_SERVER && !f->certificate) {
		snprintf(err, errlen, "a TLS server needs tls_certificate and tls_key");
		return -1;
	}
	if (!f->ca && (role == TLS_CLIENT || f->verify_peer)) {
		snprintf(err, errlen, "tls_ca is needed to verify the peer's certificate");
		return -1;
	}
	SSL_CTX *ssl = SSL_CTX_new(role == TLS_SERVER ? TLS_server_method() : TLS_client_method());
	if (!ssl) {
		snprintf(err, errlen, "cannot create a TLS context (out of memory)");
		ERR_clear_error();
		return -1;
	}
	/* BCP 195: TLS 1.2 at least, no compression, no renegotiation. */
	if (SSL_CTX_set_min_proto_version(ssl, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_set_cipher_list(ssl, tls_cipher_list) != 1)
		return ctx_fail(ssl, "TLS", "profile", "cannot be set", err, errlen);
	SSL_CTX_set_options(ssl, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
				 SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_mode(ssl, SSL_MODE_RELEASE_BUFFERS);
	/* No session resumption: associations are long-lived, and a daemon's session cache
	 * would only grow (each session keeps the peer's certificate). */
	SSL_CTX_set_session_cache_mode(ssl, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_options(ssl, SSL_OP_NO_TICKET);
	SSL_CTX_set_num_tickets(ssl, 0);
	SSL_CTX_set_default_passwd_cb(ssl, no_password);
	if (role == TLS_SERVER) {
		SSL_CTX_set_dh_auto(ssl, 1); /* the DHE suites */
		static const unsigned char sid[] = "dicomaid";
		SSL_CTX_set_session_id_context(ssl, sid, sizeof sid - 1);
	}
	if (f->certificate) {
		if (readable("tls_certificate", f->certificate, err, errlen) < 0 ||
		    readable("tls_key", f->key, err, errlen) < 0) {
			SSL_CTX_free(ssl);
			return -1;
		}
		if (SSL_CTX_use_certificate_chain_file(ssl, f->certificate) != 1)
			return ctx_fail(ssl, "tls_certificate", f->certificate,
					"not a PEM certificate", err, errlen);
		if (SSL_CTX_use_PrivateKey_file(ssl, f->key, SSL_FILETYPE_PEM) != 1) {
			/* OpenSSL compares the key with the certificate as it loads it. */
			bool mismatch = ERR_GET_REASON(ERR_peek_last_error()) ==
					X509_R_KEY_VALUES_MISMATCH;
			return ctx_fail(ssl, "tls_key", f->key, mismatch
					? "does not match tls_certificate"
					: "not an unencrypted PEM private key", err, errlen);
		}
		if (SSL_CTX_check_private_key(ssl) != 1)
			return ctx_fail(ssl, "tls_key", f->key, "does not match tls_certificate",
					err, errlen);
	}
	if (f->ca) {
		if (readable("tls_ca", f->ca, err, errlen) < 0) {
			SSL_CTX_free(ssl);
			return -1;
		}
		if (SSL_CTX_load_verify_locations(ssl, f->ca, NULL) != 1)
			return ctx_fail(ssl, "tls_ca", f->ca, "not a PEM certificate file", err,
					errlen);
	}
	if (role == TLS_SERVER && f->verify_peer) {
		/* Ask for a certificate issued by one of these CAs (RFC 5246 7.4.4). */
		STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(f->ca);
		if (!names)
			return ctx_fail(ssl, "tls_ca", f->ca, "holds no CA certificate", err, errlen);
		SSL_CTX_set_client_CA_list(ssl, names);
		SSL_CTX_set_verify(ssl, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	} else if (role == TLS_CLIENT) {
		SSL_CTX_set_verify(ssl, SSL_VERIFY_PEER, NULL);
	} else {
		SSL_CTX_set_verify(ssl, SSL_VERIFY_NONE, NULL);
	}
	struct tls_ctx *ctx = calloc(1, sizeof *ctx);
	if (!ctx) {
		SSL_CTX_free(ssl);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	ctx->ssl = ssl;
	ctx->role = role;
	ctx->refs = 1;
	*out = ctx;
	return 0;
}

struct tls_ctx *tls_ctx_ref(struct tls_ctx *ctx)
{
	if (ctx)
		ctx->refs++;
	return ctx;
}

void tls_ctx_free(struct tls_ctx *ctx)
{
	if (!ctx || --ctx->refs > 0)
		return;
	SSL_CTX_free(ctx->ssl);
	free(ctx);
}

int tls_conn_new(struct tls_ctx *ctx, struct tls_conn **out)
{
	*out = NULL;
	struct tls_conn *c = calloc(1, sizeof *c);
	if (!c)
		return -ENOMEM;
	c->ssl = SSL_new(ctx->ssl);
	c->rbio = BIO_new(BIO_s_mem());
	c->wbio = BIO_new(BIO_s_mem());
	if (!c->ssl || !c->rbio || !c->wbio) {
		SSL_free(c->ssl);
		BIO_free(c->rbio);
		BIO_free(c->wbio);
		free(c);
		ERR_clear_error();
		return -ENOMEM;
	}
	/* An empty read BIO means "more to come" (retry), never end of file. */
	BIO_set_mem_eof_return(c->rbio, -1);
	BIO_set_mem_eof_return(c->wbio, -1);
	SSL_set_bio(c->ssl, c->rbio, c->wbio);
	if (ctx->role == TLS_SERVER)
		SSL_set_accept_state(c->ssl);
	else
		SSL_set_connect_state(c->ssl);
	*out = c;
	return 0;
}

int tls_conn_expect_peer(struct tls_conn *c, const char *host)
{
	unsigned char addr[16];
	X509_VERIFY_PARAM *param = SSL_get0_param(c->ssl);
	int ok;
	if (inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1) {
		ok = X509_VERIFY_PARAM_set1_ip_asc(param, host);
	} else {
		/* RFC 6125 6.4.3: a wildcard only as the whole left-most label. */
		X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		ok = SSL_set1_host(c->ssl, host) == 1 &&
		     SSL_set_tlsext_host_name(c->ssl, host) == 1;
	}
	if (ok != 1) {
		ERR_clear_error();
		return -EINVAL;
	}
	return 0;
}

void tls_conn_free(struct tls_conn *c)
{
	if (!c)
		return;
	SSL_free(c->ssl); /* frees rbio and wbio */
	free(c);
}

/* After an SSL call returned r: 0 for "wants more input", -EPROTO with c->err set. */
static int conn_fail(struct tls_conn *c, int r)
{
	int e = SSL_get_error(c->ssl, r);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
		ERR_clear_error();
		return 0;
	}
	char reason[160];
	openssl_reason(reason, sizeof reason);
	long v = SSL_get_verify_result(c->ssl);
	if (!reason[0])
		snprintf(reason, sizeof reason, "%s", e == SSL_ERROR_SYSCALL
			 ? "unexpected end of the TLS stream" : "TLS protocol error");
	if (v != X509_V_OK)
		snprintf(c->err, sizeof c->err, "%s (%s)", reason, X509_verify_cert_error_string(v));
	else
		snprintf(c->err, sizeof c->err, "%s", reason);
	return -EPROTO;
}

int tls_conn_feed(struct tls_conn *c, const uint8_t *data, size_t len)
{
	while (len > 0) {
		int chunk = len > INT_MAX ? INT_MAX : (int)len;
		int w = BIO_write(c->rbio, data, chunk);
		if (w <= 0) {
			ERR_clear_error();
			snprintf(c->err, sizeof c->err, "out of memory");
			return -ENOMEM;
		}
		data += w;
		len -= (size_t)w;
	}
	if (c->established)
		return 0;
	ERR_clear_error();
	int r = SSL_do_handshake(c->ssl);
	if (r == 1) {
		c->established = true;
		return 1;
	}
	return conn_fail(c, r);
}

int tls_conn_read(struct tls_conn *c, uint8_t *buf, size_t cap, size_t *n)
{
	*n = 0;
	if (!c->established)
		return 0;
	ERR_clear_error();
	size_t got = 0;
	int r = SSL_read_ex(c->ssl, buf, cap, &got);
	if (r == 1) {
		*n = got;
		return 0;
	}
	if (SSL_get_error(c->ssl, r) == SSL_ERROR_ZERO_RETURN) {
		ERR_clear_error();
		return 1;
	}
	return conn_fail(c, r);
}

int tls_conn_write(struct tls_conn *c, const uint8_t *data, size_t len)
{
	if (!c->established) {
		snprintf(c->err, sizeof c->err, "write before the TLS handshake completed");
		return -EPROTO;
	}
	while (len > 0) {
		ERR_clear_error();
		size_t done = 0;
		int r = SSL_write_ex(c->ssl, data, len, &done);
		if (r != 1) {
			int rc = conn_fail(c, r);
			return rc < 0 ? rc : -EPROTO;
		}
		data += done;
		len -= done;
	}
	return 0;
}

void tls_conn_close_notify(struct tls_conn *c)
{
	if (!c->established)
		return;
	ERR_clear_error();
	(void)SSL_shutdown(c->ssl);
	ERR_clear_error();
}

size_t tls_conn_pending(const struct tls_conn *c)
{
	return BIO_ctrl_pending(c->wbio);
}

size_t tls_conn_take(struct tls_conn *c, uint8_t *buf, size_t cap)
{
	size_t got = 0;
	if (cap > 0 && BIO_read_ex(c->wbio, buf, cap, &got) != 1)
		got = 0;
	ERR_clear_error();
	return got;
}

bool tls_conn_established(const struct tls_conn *c)
{
	return c->established;
}

const char *tls_conn_error(const struct tls_conn *c)
{
	return c->err;
}

const char *tls_conn_version(const struct tls_conn *c)
{
	return SSL_get_version(c->ssl);
}

const char *tls_conn_cipher(const struct tls_conn *c)
{
	const char *n = SSL_get_cipher_name(c->ssl);
	return n ? n : "-";
}
