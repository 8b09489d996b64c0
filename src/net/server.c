/*
 * The listener, signals and shutdown of the SCP (see server.h).
 *
 * Shutdown (SIGTERM/SIGINT): the listener closes at once; associations that are still
 * negotiating are closed; established ones may finish their transfers until
 * [server] shutdown_timeout, after which they are aborted. When the last one is gone the
 * loop's remaining handles are closed and uv_run returns; main then closes the store
 * (which drains the committer) and the index.
 */
#include "net/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "net/assoc.h"
#include "net/tls.h"
#include "pipeline/pipeline.h"
#include "services/services.h"
#include "util/log.h"

#define PEER_MAX_ADDRS 8

struct peer_addrs {
	unsigned n;
	char ip[PEER_MAX_ADDRS][64];
};

void server_resolve_peers(struct server *srv)
{
	free(srv->peer_addrs);
	srv->peer_addrs = calloc(srv->cfg->n_peers ? srv->cfg->n_peers : 1, sizeof *srv->peer_addrs);
	if (!srv->peer_addrs)
		return;
	for (size_t i = 0; i < srv->cfg->n_peers; i++) {
		const struct config_peer *p = &srv->cfg->peers[i];
		struct peer_addrs *pa = &srv->peer_addrs[i];
		if (!p->host[0])
			continue;
		struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res = NULL;
		int rc = getaddrinfo(p->host, NULL, &hints, &res);
		if (rc != 0) {
			log_warn("event=peer_unresolved peer=%s host=%s err=\"%s\"", p->name, p->host,
				 gai_strerror(rc));
			continue;
		}
		for (struct addrinfo *ai = res; ai && pa->n < PEER_MAX_ADDRS; ai = ai->ai_next) {
			const void *src = ai->ai_family == AF_INET
				? (const void *)&((struct sockaddr_in *)ai->ai_addr)->sin_addr
				: (const void *)&((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr;
			if (inet_ntop(ai->ai_family, src, pa->ip[pa->n], sizeof pa->ip[0]))
				pa->n++;
		}
		freeaddrinfo(res);
	}
}

bool server_peer_host_matches(const struct server *srv, const struct config_peer *p,
			      const char *ip)
{
	if (strcmp(p->host, ip) == 0)
		return true;
	if (!srv->peer_addrs)
		return false;
	const struct peer_addrs *pa = &srv->peer_addrs[p - srv->cfg->peers];
	for (unsigned i = 0; i < pa->n; i++)
		if (strcmp(pa->ip[i], ip) == 0)
			return true;
	return false;
}

bool server_disk_low(struct server *srv)
{
	const struct config *c = srv->cfg;
	if (c->min_free_space == 0 && c->min_free_percent == 0)
		return false;
	uint64_t now = uv_now(srv->loop);
	if (srv->disk_checked_ms && now - srv->disk_checked_ms < 1000) {
		if (srv->disk_low || srv->disk_written <= srv->disk_free_margin)
			return srv->disk_low;
		/* Written past the margin the last statvfs left: look again now. */
	}
	srv->disk_checked_ms = now ? now : 1;
	/* Writes still queued on the threadpool are not in this statvfs yet: they keep
	 * counting against the margin it leaves. */
	srv->disk_written = srv->disk_inflight;
	struct statvfs sv;
	if (statvfs(c->storage_path, &sv) < 0) {
		/* Unknown: keep the last answer; a full disk still fails writes with A700. */
		log_debug("event=statvfs_failed path=%s err=\"%s\"", c->storage_path, strerror(errno));
		return srv->disk_low;
	}
	uint64_t avail = (uint64_t)sv.f_bavail * sv.f_frsize;
	uint64_t need = c->min_free_percent
		? (uint64_t)sv.f_blocks * sv.f_frsize / 100u * (uint64_t)c->min_free_percent
		: c->min_free_space;
	/* what is still queued counts as used: it is on its way to this file system */
	bool low = avail < need || avail - need <= srv->disk_written;
	if (low && !srv->disk_low)
		log_warn("event=disk_low path=%s free=%llu min_free=%llu", c->storage_path,
			 (unsigned long long)avail, (unsigned long long)need);
	else if (!low && srv->disk_low)
		log_notice("event=disk_ok path=%s free=%llu min_free=%llu", c->storage_path,
			   (unsigned long long)avail, (unsigned long long)need);
	srv->disk_low = low;
	srv->disk_free = avail;
	srv->disk_free_margin = low ? 0 : avail - need;
	return low;
}

void server_disk_wrote(struct server *srv, uint64_t n)
{
	srv->disk_written += n;
	srv->disk_inflight += n;
}

void server_disk_landed(struct server *srv, uint64_t n)
{
	srv->disk_inflight = n <= srv->disk_inflight ? srv->disk_inflight - n : 0;
}

/* A connection on a listener; on [server] tls_port's, the association runs over TLS
 * (PS3.15 B.1). */
static void on_connection(uv_stream_t *listener, int status)
{
	struct server *srv = listener->data;
	bool tls = listener == (uv_stream_t *)&srv->tls_listener;
	if (status < 0) {
		log_warn("event=accept_error tls=%s err=%s", tls ? "yes" : "no", uv_strerror(status));
		return;
	}
	if (srv->stopping)
		return;
	assoc_accept(srv, listener, tls ? srv->tls_server : NULL);
}

static void on_committed(uv_async_t *h)
{
	struct server *srv = h->data;
	services_store_committed(srv);
}

void server_committer_notify(void *arg)
{
	struct server *srv = arg;
	if (srv->committed_ready)
		uv_async_send(&srv->committed);
}

static void close_cb_noop(uv_handle_t *h) { (void)h; }

/* Everything is closed: let uv_run return. */
static void finish_shutdown(struct server *srv)
{
	/* Answers for the last commits (their associations are gone; nothing is sent). */
	services_store_committed(srv);
	if (!uv_is_closing((uv_handle_t *)&srv->shutdown_timer))
		uv_close((uv_handle_t *)&srv->shutdown_timer, close_cb_noop);
	if (!uv_is_closing((uv_handle_t *)&srv->sig_term)) {
		uv_close((uv_handle_t *)&srv->sig_term, close_cb_noop);
		uv_close((uv_handle_t *)&srv->sig_int, close_cb_noop);
		uv_close((uv_handle_t *)&srv->sig_hup, close_cb_noop);
	}
	/* The committer's async handle is closed by main after the store is drained. */
	uv_unref((uv_handle_t *)&srv->committed);
	if (srv->on_finished)
		srv->on_finished(srv->hook_arg);
}

void server_assoc_gone(struct server *srv)
{
	if (srv->stopping && srv->n_assocs == 0)
		finish_shutdown(srv);
}

static void on_shutdown_timeout(uv_timer_t *t)
{
	struct server *srv = t->data;
	for (struct assoc *a = srv->assocs, *n; a; a = n) {
		n = a->next;
		if (!a->closing) {
			a->outcome = "shutdown";
			assoc_abort(a, "shutdown timeout");
		}
	}
}

void server_stop(struct server *srv)
{
	if (srv->stopping)
		return;
	srv->stopping = true;
	log_notice("event=stopping associations=%u", srv->n_assocs);
	pipeline_stop_loop(srv);
	if (srv->on_stopping)
		srv->on_stopping(srv->hook_arg);
	if (srv->listeners_open) {
		for (unsigned i = 0; i < srv->n_listeners; i++)
			uv_close((uv_handle_t *)&srv->listeners[i], close_cb_noop);
		srv->listeners_open = false;
	}
	if (srv->tls_listening) {
		uv_close((uv_handle_t *)&srv->tls_listener, close_cb_noop);
		srv->tls_listening = false;
	}
	/* Connections with no association yet have nothing to finish. */
	for (struct assoc *a = srv->assocs, *n; a; a = n) {
		n = a->next;
		if (!a->closing && !a->established) {
			a->outcome = "shutdown";
			assoc_abort(a, "shutting down");
		}
	}
	if (srv->n_assocs == 0) {
		finish_shutdown(srv);
		return;
	}
	uv_timer_start(&srv->shutdown_timer, on_shutdown_timeout,
		       (uint64_t)srv->cfg->shutdown_timeout * 1000u, 0);
}

int server_reload(struct server *srv, char *msg, size_t cap)
{
	if (!srv->config_path) {
		snprintf(msg, cap, "no configuration file (running on the embedded default)");
		log_notice("event=reload skipped=\"no configuration file\"");
		return -1;
	}
	struct config fresh;
	char err[512];
	if (config_load(srv->config_path, &fresh, err, sizeof err) < 0) {
		log_err("event=reload_failed err=\"%s\"", err);
		snprintf(msg, cap, "%s", err);
		return -1;
	}
	/* TLS: when TLS was configured at start-up the files are read anew (renewed
	 * certificates, a new CA bundle), for connections made from now on; the TLS listener
	 * itself (tls_port) stays as started. A peer cannot switch to TLS without a CA (it would
	 * otherwise be called in the clear). Any failure keeps everything as it was. */
	struct tls_ctx *new_server = NULL, *new_client = NULL;
	bool tls_reload = srv->tls_server || srv->tls_client;
	if (tls_reload) {
		int port = fresh.tls_port;
		fresh.tls_port = srv->tls_server ? srv->cfg->tls_port : 0;
		if (port != fresh.tls_port)
			log_warn("event=reload note=\"tls_port %d takes effect at restart\"", port);
		if (server_tls_load(&fresh, &new_server, &new_client, msg, cap) < 0) {
			log_err("event=reload_failed err=\"%s\"", msg);
			config_free(&fresh);
			return -1;
		}
	}
	for (size_t i = 0; i < fresh.n_peers; i++) {
		if (fresh.peers[i].tls && !new_client) { /* no client context: none before either */
			snprintf(msg, cap, "%s:%d: [peer %s] tls = yes, but no tls_ca %s",
				 srv->config_path, fresh.peers[i].line, fresh.peers[i].name,
				 tls_reload ? "is configured" : "was loaded at start-up (restart dicomaid)");
			log_err("event=reload_failed err=\"%s\"", msg);
			tls_ctx_free(new_server);
			tls_ctx_free(new_client);
			config_free(&fresh);
			return -1;
		}
	}
	if (tls_reload) {
		server_free_tls(srv);
		srv->tls_server = new_server;
		srv->tls_client = new_client;
		struct config *c = srv->cfg;
		memcpy(c->tls_certificate, fresh.tls_certificate, sizeof c->tls_certificate);
		memcpy(c->tls_key, fresh.tls_key, sizeof c->tls_key);
		memcpy(c->tls_ca, fresh.tls_ca, sizeof c->tls_ca);
		c->tls_verify_peer = fresh.tls_verify_peer;
		log_notice("event=tls_reloaded server=%s client=%s verify_peer=%s",
			   new_server ? "yes" : "no", new_client ? "yes" : "no",
			   c->tls_verify_peer ? "yes" : "no");
	}
	/* Besides TLS, only the peer list and the access rule change on reload. */
	struct config_peer *old = srv->cfg->peers;
	srv->cfg->peers = fresh.peers;
	srv->cfg->n_peers = fresh.n_peers;
	srv->cfg->require_known_peers = fresh.require_known_peers;
	fresh.peers = old;
	config_free(&fresh);
	server_resolve_peers(srv);
	log_notice("event=reload peers=%zu require_known_peers=%s", srv->cfg->n_peers,
		   srv->cfg->require_known_peers ? "yes" : "no");
	snprintf(msg, cap, "peers=%zu require_known_peers=%s", srv->cfg->n_peers,
		 srv->cfg->require_known_peers ? "yes" : "no");
	return 0;
}

static void on_signal(uv_signal_t *s, int signum)
{
	struct server *srv = s->data;
	if (signum == SIGHUP) {
		char msg[600];
		server_reload(srv, msg, sizeof msg);
		return;
	}
	log_notice("event=signal signal=%s", signum == SIGTERM ? "TERM" : "INT");
	server_stop(srv);
}

/* Binds l (initialised here, l->data = srv) to [server] bind and port and listens. */
static int listen_on(struct server *srv, uv_tcp_t *l, int port)
{
	struct config *cfg = srv->cfg;
	struct sockaddr_storage addr;
	int rc = uv_ip4_addr(cfg->bind, port, (struct sockaddr_in *)&addr);
	if (rc < 0)
		rc = uv_ip6_addr(cfg->bind, port, (struct sockaddr_in6 *)&addr);
	if (rc < 0) {
		log_err("event=bad_bind_address bind=%s", cfg->bind);
		return rc;
	}
	uv_tcp_init(srv->loop, l);
	l->data = srv;
	rc = uv_tcp_bind(l, (const struct sockaddr *)&addr, 0);
	if (rc == 0)
		rc = uv_listen((uv_stream_t *)l, 128, on_connection);
	if (rc < 0)
		log_err("event=listen_failed bind=%s port=%d err=%s", cfg->bind, port, uv_strerror(rc));
	return rc;
}

/* The configured [server] bind and port. */
static int listen_configured(struct server *srv)
{
	struct config *cfg = srv->cfg;
	srv->n_listeners = 1;
	srv->listeners_open = true;
	int rc = listen_on(srv, &srv->listeners[0], cfg->port);
	if (rc < 0)
		return rc;
	log_notice("event=listening ae_title=%s bind=%s port=%d max_associations=%d max_pdu=%u",
		   cfg->ae_title, cfg->bind, cfg->port, cfg->max_associations, cfg->max_pdu);
	return 0;
}

/* [server] tls_port on [server] bind, also under socket activation (the sockets passed
 * replace the plain port only). Logged as event=tls_listening before the plain listener's
 * "event=listening", which tells the world both ports are up. */
static int listen_tls(struct server *srv)
{
	struct config *cfg = srv->cfg;
	srv->tls_listening = true;
	int rc = listen_on(srv, &srv->tls_listener, cfg->tls_port);
	if (rc < 0)
		return rc;
	log_notice("event=tls_listening ae_title=%s bind=%s tls_port=%d verify_peer=%s",
		   cfg->ae_title, cfg->bind, cfg->tls_port, cfg->tls_verify_peer ? "yes" : "no");
	return 0;
}

int server_tls_load(const struct config *cfg, struct tls_ctx **server_ctx,
		    struct tls_ctx **client_ctx, char *err, size_t cap)
{
	struct tls_files f = {
		.certificate = cfg->tls_certificate[0] ? cfg->tls_certificate : NULL,
		.key = cfg->tls_key[0] ? cfg->tls_key : NULL,
		.ca = cfg->tls_ca[0] ? cfg->tls_ca : NULL,
		.verify_peer = cfg->tls_verify_peer,
	};
	struct tls_ctx *made[2] = { NULL, NULL };
	char why[400];
	for (int role = TLS_SERVER; role <= TLS_CLIENT; role++) {
		if (role == TLS_SERVER ? !cfg->tls_port : !f.ca)
			continue;
		if (tls_ctx_new((enum tls_role)role, &f, &made[role], why, sizeof why) == 0)
			continue;
		tls_ctx_free(made[TLS_SERVER]);
		/* The key naming the file at fault gives the line (tls_port otherwise). */
		int k = strncmp(why, "tls_certificate", 15) == 0 ? 1
			: strncmp(why, "tls_key", 7) == 0 ? 2 : strncmp(why, "tls_ca", 6) == 0 ? 3 : 0;
		if (cfg->source[0] && cfg->tls_line[k] > 0)
			snprintf(err, cap, "%s:%d: %s", cfg->source, cfg->tls_line[k], why);
		else if (cfg->source[0])
			snprintf(err, cap, "%s: %s", cfg->source, why);
		else
			snprintf(err, cap, "%s", why);
		return -1;
	}
	/* A NULL out-pointer: checked only. */
	if (server_ctx)
		*server_ctx = made[TLS_SERVER];
	else
		tls_ctx_free(made[TLS_SERVER]);
	if (client_ctx)
		*client_ctx = made[TLS_CLIENT];
	else
		tls_ctx_free(made[TLS_CLIENT]);
	return 0;
}

void server_free_tls(struct server *srv)
{
	tls_ctx_free(srv->tls_server);
	tls_ctx_free(srv->tls_client);
	srv->tls_server = srv->tls_client = NULL;
}

/* Sockets passed by the service manager, already bound and listening (sd_listen_fds). */
static int listen_inherited(struct server *srv, const int *fds, unsigned n)
{
	if (n > SERVER_MAX_LISTENERS) {
		log_err("event=listen_failed err=\"%u sockets passed, at most %d\"", n,
			SERVER_MAX_LISTENERS);
		return UV_EINVAL;
	}
	srv->listeners_open = true;
	for (unsigned i = 0; i < n; i++) {
		uv_tcp_t *l = &srv->listeners[i];
		uv_tcp_init(srv->loop, l);
		l->data = srv;
		srv->n_listeners = i + 1;
		int rc = uv_tcp_open(l, fds[i]);
		if (rc == 0)
			rc = uv_listen((uv_stream_t *)l, 128, on_connection);
		char where[80] = "?";
		struct sockaddr_storage ss;
		int sl = sizeof ss;
		if (rc == 0 && uv_tcp_getsockname(l, (struct sockaddr *)&ss, &sl) == 0) {
			char ip[64] = "?";
			int port = 0;
			if (ss.ss_family == AF_INET) {
				uv_ip4_name((struct sockaddr_in *)&ss, ip, sizeof ip);
				port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
			} else if (ss.ss_family == AF_INET6) {
				uv_ip6_name((struct sockaddr_in6 *)&ss, ip, sizeof ip);
				port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
			}
			snprintf(where, sizeof where, "bind=%s port=%d", ip, port);
		}
		if (rc < 0) {
			log_err("event=listen_failed fd=%d err=%s", fds[i], uv_strerror(rc));
			return rc;
		}
		log_notice("event=listening ae_title=%s %s fd=%d activated=yes max_associations=%d "
			   "max_pdu=%u", srv->cfg->ae_title, where, fds[i],
			   srv->cfg->max_associations, srv->cfg->max_pdu);
	}
	return 0;
}

int server_start(struct server *srv, uv_loop_t *loop, struct config *cfg,
		 const char *config_path, struct store *store, struct index *index,
		 const int *fds, unsigned n_fds)
{
	memset(srv, 0, sizeof *srv);
	srv->loop = loop;
	srv->cfg = cfg;
	srv->config_path = config_path;
	srv->store = store;
	srv->index = index;
	srv->started_ms = uv_now(loop);
	server_resolve_peers(srv);

	uv_async_init(loop, &srv->committed, on_committed);
	srv->committed.data = srv;
	srv->committed_ready = true;
	uv_timer_init(loop, &srv->shutdown_timer);
	srv->shutdown_timer.data = srv;
	uv_signal_init(loop, &srv->sig_term);
	uv_signal_init(loop, &srv->sig_int);
	uv_signal_init(loop, &srv->sig_hup);
	srv->sig_term.data = srv->sig_int.data = srv->sig_hup.data = srv;
	uv_signal_start(&srv->sig_term, on_signal, SIGTERM);
	uv_signal_start(&srv->sig_int, on_signal, SIGINT);
	uv_signal_start(&srv->sig_hup, on_signal, SIGHUP);
	if (cfg->tls_port || cfg->tls_ca[0]) {
		char err[PATH_MAX + 512];
		if (server_tls_load(cfg, &srv->tls_server, &srv->tls_client, err, sizeof err) < 0) {
			log_err("event=startup_failed err=\"%s\"", err);
			return UV_EINVAL;
		}
	}
	if (cfg->tls_port) {
		int rc = listen_tls(srv);
		if (rc < 0)
			return rc;
	}
	/* Last, so that "event=listening" means signals are handled too. */
	return n_fds ? listen_inherited(srv, fds, n_fds) : listen_configured(srv);
}
