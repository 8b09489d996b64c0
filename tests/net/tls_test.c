/*
 * net/tls.c without sockets: a server and a client end joined in memory (the bytes one
 * end's tls_conn_take gives are fed to the other), with certificates made here with
 * OpenSSL (a CA, a server and a client certificate, and an unrelated CA with a client
 * certificate of its own) and written as PEM files into a temporary directory.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "net/tls.h"

static char dir[] = "/tmp/tls_test.XXXXXX";

static char *path(const char *name)
{
	static char buf[8][256];
	static int k;
	char *p = buf[k++ % 8];
	snprintf(p, 256, "%s/%s", dir, name);
	return p;
}

static void add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	cr_assert_not_null(ext);
	X509_add_ext(cert, ext, -1);
	X509_EXTENSION_free(ext);
}

/* Writes NAME.key and NAME.crt: a CA when issuer is NULL (self-signed), else a leaf
 * signed by issuer/issuer_key. The key and certificate are returned (caller frees). */
static void make_cert(const char *name, X509 *issuer, EVP_PKEY *issuer_key, X509 **cert_out,
		      EVP_PKEY **key_out)
{
	static long serial = 1;
	EVP_PKEY *key = EVP_EC_gen("P-256"); /* fast to make, unlike RSA */
	cr_assert_not_null(key);
	X509 *x = X509_new();
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_pubkey(x, key);
	X509_NAME *n = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)name, -1, -1, 0);
	X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : n);
	if (!issuer) {
		add_ext(x, x, NID_basic_constraints, "critical,CA:TRUE");
		add_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign");
	} else {
		add_ext(x, issuer, NID_basic_constraints, "CA:FALSE");
		add_ext(x, issuer, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1");
	}
	cr_assert(X509_sign(x, issuer ? issuer_key : key, EVP_sha256()) > 0);
	char file[64];
	snprintf(file, sizeof file, "%s.key", name);
	FILE *f = fopen(path(file), "w");
	cr_assert_not_null(f);
	PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
	fclose(f);
	snprintf(file, sizeof file, "%s.crt", name);
	f = fopen(path(file), "w");
	cr_assert_not_null(f);
	PEM_write_X509(f, x);
	fclose(f);
	*cert_out = x;
	*key_out = key;
}

static void setup(void)
{
	cr_assert_not_null(mkdtemp(dir));
	X509 *ca, *other, *c;
	EVP_PKEY *ca_key, *other_key, *k;
	make_cert("ca", NULL, NULL, &ca, &ca_key);
	make_cert("otherca", NULL, NULL, &other, &other_key);
	make_cert("server", ca, ca_key, &c, &k);
	X509_free(c);
	EVP_PKEY_free(k);
	make_cert("client", ca, ca_key, &c, &k);
	X509_free(c);
	EVP_PKEY_free(k);
	make_cert("rogue", other, other_key, &c, &k);
	X509_free(c);
	EVP_PKEY_free(k);
	X509_free(ca);
	X509_free(other);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(other_key);
}

static void teardown(void)
{
	static const char *const names[] = { "ca", "otherca", "server", "client", "rogue" };
	char file[64];
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		snprintf(file, sizeof file, "%s.key", names[i]);
		unlink(path(file));
		snprintf(file, sizeof file, "%s.crt", names[i]);
		unlink(path(file));
	}
	rmdir(dir);
}

TestSuite(tls, .init = setup, .fini = teardown);

static struct tls_ctx *ctx_new(enum tls_role role, const char *cert, const char *ca,
			       bool verify)
{
	char crt[64], key[64], err[512] = "";
	snprintf(crt, sizeof crt, "%s.crt", cert ? cert : "");
	snprintf(key, sizeof key, "%s.key", cert ? cert : "");
	struct tls_files f = { .certificate = cert ? path(crt) : NULL, .key = cert ? path(key) : NULL,
			       .ca = ca ? path(ca) : NULL, .verify_peer = verify };
	struct tls_ctx *ctx = NULL;
	cr_assert_eq(tls_ctx_new(role, &f, &ctx, err, sizeof err), 0, "%s", err);
	cr_assert_not_null(ctx);
	return ctx;
}

/* Moves what from has to send into to. Returns to's tls_conn_feed result (0 when nothing
 * was waiting and to's handshake is already done). */
static int pump(struct tls_conn *from, struct tls_conn *to, bool *moved)
{
	size_t n = tls_conn_pending(from);
	*moved = n > 0;
	if (n == 0 && tls_conn_established(to))
		return 0;
	uint8_t *buf = malloc(n ? n : 1);
	cr_assert_not_null(buf);
	cr_assert_eq(tls_conn_take(from, buf, n), n);
	int rc = tls_conn_feed(to, buf, n);
	free(buf);
	return rc;
}

/* Runs the handshake to its end; returns 0, or the first negative result (*who: 's'
 * server, 'c' client). */
static int handshake(struct tls_conn *s, struct tls_conn *c, char *who)
{
	int rc = tls_conn_feed(c, NULL, 0); /* ClientHello */
	cr_assert_geq(rc, 0, "%s", tls_conn_error(c));
	for (int round = 0; round < 20; round++) {
		bool m1, m2;
		rc = pump(c, s, &m1);
		if (rc < 0) {
			*who = 's';
			return rc;
		}
		rc = pump(s, c, &m2);
		if (rc < 0) {
			*who = 'c';
			return rc;
		}
		if (!m1 && !m2)
			break;
	}
	return 0;
}

/* All plaintext that arrives at to after moving from's output (feeds and reads). */
static size_t transfer(struct tls_conn *from, struct tls_conn *to, uint8_t *out, size_t cap,
		       int *rc_out)
{
	bool moved;
	*rc_out = pump(from, to, &moved);
	size_t total = 0, n;
	int rc;
	while ((rc = tls_conn_read(to, out + total, cap - total, &n)) == 0 && n > 0)
		total += n;
	if (*rc_out == 0)
		*rc_out = rc;
	return total;
}

Test(tls, handshake_and_data_both_ways)
{
	struct tls_ctx *sctx = ctx_new(TLS_SERVER, "server", "ca.crt", true);
	struct tls_ctx *cctx = ctx_new(TLS_CLIENT, "client", "ca.crt", true);
	struct tls_conn *s, *c;
	cr_assert_eq(tls_conn_new(sctx, &s), 0);
	cr_assert_eq(tls_conn_new(cctx, &c), 0);
	cr_assert_not(tls_conn_established(s));
	char who = 0;
	cr_assert_eq(handshake(s, c, &who), 0, "%c: %s %s", who, tls_conn_error(s), tls_conn_error(c));
	cr_assert(tls_conn_established(s));
	cr_assert(tls_conn_established(c));
	cr_expect_str_eq(tls_conn_version(s), "TLSv1.3");
	cr_expect_str_eq(tls_conn_version(c), "TLSv1.3");

	/* A PDU-sized message one way, 1 MiB the other (many records). */
	const uint8_t rq[] = { 0x01, 0x00, 0x00, 0x00, 0x00, 0x04, 'a', 'b', 'c', 'd' };
	cr_assert_eq(tls_conn_write(c, rq, sizeof rq), 0);
	uint8_t got[16];
	int rc;
	size_t n = transfer(c, s, got, sizeof got, &rc);
	cr_assert_eq(rc, 0, "%s", tls_conn_error(s));
	cr_assert_eq(n, sizeof rq);
	cr_assert_arr_eq(got, rq, sizeof rq);

	size_t big = 1u << 20;
	uint8_t *data = malloc(big), *back = malloc(big);
	cr_assert(data && back);
	for (size_t i = 0; i < big; i++)
		data[i] = (uint8_t)(i * 7 + (i >> 9));
	cr_assert_eq(tls_conn_write(s, data, big), 0);
	cr_expect_gt(tls_conn_pending(s), big); /* records carry overhead */
	n = transfer(s, c, back, big, &rc);
	cr_assert_eq(rc, 0, "%s", tls_conn_error(c));
	cr_assert_eq(n, big);
	cr_assert_arr_eq(back, data, big);
	free(data);
	free(back);

	/* close_notify: the other end reads "closed". */
	tls_conn_close_notify(c);
	n = transfer(c, s, got, sizeof got, &rc);
	cr_expect_eq(n, 0);
	cr_expect_eq(rc, 1);

	tls_conn_free(s);
	tls_conn_free(c);
	tls_ctx_free(sctx);
	tls_ctx_free(cctx);
}

/* A handshake between ends of sctx and cctx fails at end `side` ('s' or 'c') with a
 * reason holding want. */
/* A handshake between new connections of sctx and cctx (the client expecting the server to
 * be called name, unless NULL) fails on side ('s' or 'c') with a reason holding want. */
static void expect_refused_as(struct tls_ctx *sctx, struct tls_ctx *cctx, const char *name,
			      char side, const char *want)
{
	struct tls_conn *s, *c;
	cr_assert_eq(tls_conn_new(sctx, &s), 0);
	cr_assert_eq(tls_conn_new(cctx, &c), 0);
	if (name)
		cr_assert_eq(tls_conn_expect_peer(c, name), 0);
	char who = 0;
	cr_assert_eq(handshake(s, c, &who), -EPROTO);
	cr_expect_eq(who, side);
	struct tls_conn *at = side == 's' ? s : c;
	cr_expect_not(tls_conn_established(at));
	cr_expect(strstr(tls_conn_error(at), want) != NULL, "%s", tls_conn_error(at));
	cr_expect_gt(tls_conn_pending(at), 0, "no alert for the other end");
	/* Nothing goes through a failed end. */
	uint8_t b[4];
	size_t n;
	cr_expect_eq(tls_conn_write(at, b, sizeof b), -EPROTO);
	cr_expect_eq(tls_conn_read(at, b, sizeof b, &n), 0);
	cr_expect_eq(n, 0);
	tls_conn_free(s);
	tls_conn_free(c);
}

static void expect_refused(struct tls_ctx *sctx, struct tls_ctx *cctx, char side,
			   const char *want)
{
	expect_refused_as(sctx, cctx, NULL, side, want);
}

/* RFC 6125: the server's certificate (subjectAltName DNS:localhost, IP:127.0.0.1) must name
 * the host the client connected to, even though it chains to the trusted CA. */
Test(tls, client_checks_the_server_name)
{
	struct tls_ctx *sctx = ctx_new(TLS_SERVER, "server", "ca.crt", true);
	struct tls_ctx *cctx = ctx_new(TLS_CLIENT, "client", "ca.crt", true);
	static const char *const good[] = { "localhost", "127.0.0.1", "LOCALHOST" };
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		struct tls_conn *s, *c;
		cr_assert_eq(tls_conn_new(sctx, &s), 0);
		cr_assert_eq(tls_conn_new(cctx, &c), 0);
		cr_assert_eq(tls_conn_expect_peer(c, good[i]), 0);
		char who = 0;
		cr_expect_eq(handshake(s, c, &who), 0, "%s: %c: %s %s", good[i], who,
			     tls_conn_error(s), tls_conn_error(c));
		tls_conn_free(s);
		tls_conn_free(c);
	}
	expect_refused_as(sctx, cctx, "pacs.example.org", 'c', "hostname mismatch");
	expect_refused_as(sctx, cctx, "localhost.example.org", 'c', "hostname mismatch");
	expect_refused_as(sctx, cctx, "10.1.2.3", 'c', "IP address mismatch");
	expect_refused_as(sctx, cctx, "::1", 'c', "IP address mismatch");
	tls_ctx_free(sctx);
	tls_ctx_free(cctx);
}

Test(tls, client_certificate_from_another_ca_is_refused)
{
	struct tls_ctx *sctx = ctx_new(TLS_SERVER, "server", "ca.crt", true);
	struct tls_ctx *cctx = ctx_new(TLS_CLIENT, "rogue", "ca.crt", true);
	expect_refused(sctx, cctx, 's', "certificate verify failed");
	tls_ctx_free(sctx);
	tls_ctx_free(cctx);
}

Test(tls, client_without_certificate)
{
	/* Refused when the server verifies peers... */
	struct tls_ctx *sctx = ctx_new(TLS_SERVER, "server", "ca.crt", true);
	struct tls_ctx *cctx = ctx_new(TLS_CLIENT, NULL, "ca.crt", true);
	expect_refused(sctx, cctx, 's', "peer did not return a certificate");
	tls_ctx_free(sctx);

	/* ... served when it does not (and needs no CA then). */
	sctx = ctx_new(TLS_SERVER, "server", NULL, false);
	struct tls_conn *s, *c;
	cr_assert_eq(tls_conn_new(sctx, &s), 0);
	cr_assert_eq(tls_conn_new(cctx, &c), 0);
	char who = 0;
	cr_assert_eq(handshake(s, c, &who), 0, "%c: %s %s", who, tls_conn_error(s), tls_conn_error(c));
	cr_expect(tls_conn_established(s));
	tls_conn_free(s);
	tls_conn_free(c);
	tls_ctx_free(sctx);
	tls_ctx_free(cctx);
}

Test(tls, client_refuses_a_server_it_cannot_verify)
{
	struct tls_ctx *sctx = ctx_new(TLS_SERVER, "rogue", NULL, false);
	struct tls_ctx *cctx = ctx_new(TLS_CLIENT, "client", "ca.crt", true);
	expect_refused(sctx, cctx, 'c', "certificate verify failed");
	tls_ctx_free(sctx);
	tls_ctx_free(cctx);
}

/* tls_ctx_new refuses bad files with a reason naming the key at fault. */
static void expect_ctx_error(enum tls_role role, const char *cert, const char *key,
			     const char *ca, bool verify, const char *want)
{
	struct tls_files f = { .certificate = cert ? path(cert) : NULL, .key = key ? path(key) : NULL,
			       .ca = ca ? path(ca) : NULL, .verify_peer = verify };
	struct tls_ctx *ctx = (struct tls_ctx *)1;
	char err[512] = "";
	cr_expect_eq(tls_ctx_new(role, &f, &ctx, err, sizeof err), -1, "%s", want);
	cr_expect_null(ctx);
	cr_expect(strstr(err, want) != NULL, "'%s' does not say '%s'", err, want);
}

Test(tls, bad_files)
{
	expect_ctx_error(TLS_SERVER, "server.crt", "client.key", "ca.crt", true,
			 "does not match tls_certificate");
	expect_ctx_error(TLS_SERVER, "server.crt", "nosuch.key", "ca.crt", true,
			 "tls_key /tmp/tls_test.");
	expect_ctx_error(TLS_SERVER, "server.crt", "nosuch.key", "ca.crt", true,
			 "No such file or directory");
	expect_ctx_error(TLS_SERVER, "server.key", "server.key", "ca.crt", true,
			 "tls_certificate");
	expect_ctx_error(TLS_SERVER, "server.crt", "server.key", "nosuch.crt", true, "tls_ca");
	expect_ctx_error(TLS_SERVER, "server.crt", "server.key", "server.key", true,
			 "tls_ca");
	expect_ctx_error(TLS_SERVER, "server.crt", "server.key", NULL, true, "tls_ca is needed");
	expect_ctx_error(TLS_CLIENT, "client.crt", "client.key", NULL, false, "tls_ca is needed");
	expect_ctx_error(TLS_SERVER, NULL, NULL, "ca.crt", false, "needs tls_certificate");
	expect_ctx_error(TLS_SERVER, "server.crt", NULL, "ca.crt", false, "go together");
}

Test(tls, profile)
{
	/* BCP 195 (RFC 7525 4.2) suites only: forward secret, AEAD. */
	cr_expect(strstr(tls_cipher_list, "ECDHE-RSA-AES128-GCM-SHA256") != NULL);
	cr_expect(strstr(tls_cipher_list, "ECDHE-RSA-AES256-GCM-SHA384") != NULL);
	cr_expect(strstr(tls_cipher_list, "DHE-RSA-AES128-GCM-SHA256") != NULL);
	cr_expect(strstr(tls_cipher_list, "CBC") == NULL);
	cr_expect(strstr(tls_cipher_list, "RSA-AES128-SHA") == NULL);
}
