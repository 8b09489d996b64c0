/*
 * The SCP server: the libuv loop's listener, the set of open associations, the wake-up from
 * the storage committer, signals and the orderly shutdown. Everything here runs on the loop
 * thread; heavy or blocking work (fsync, SQLite writes) is handed to the storage committer.
 */
#ifndef DICOMAID_NET_SERVER_H
#define DICOMAID_NET_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "util/config.h"

struct assoc;
struct tls_ctx;
struct store;
struct index;

/* Listening sockets: the configured [server] bind/port, or those passed by socket
 * activation (sd_listen_fds: e.g. ports 104 and 11112). */
#define SERVER_MAX_LISTENERS 8

struct server {
	uv_loop_t *loop;
	uv_tcp_t listeners[SERVER_MAX_LISTENERS]; /* the SCP port(s) */
	unsigned n_listeners;          /* initialised entries of listeners */
	uv_tcp_t tls_listener;         /* [server] tls_port, when set (never socket-activated) */
	bool tls_listening;            /* tls_listener is initialised */
	struct tls_ctx *tls_server;    /* owned: accepted TLS connections; NULL = no tls_port */
	struct tls_ctx *tls_client;    /* owned: outbound TLS (peers and destinations with
	                                * tls = yes); NULL when tls_ca is not set */
	uv_async_t committed;          /* the storage committer finished a batch */
	uv_signal_t sig_term, sig_int, sig_hup;
	uv_timer_t shutdown_timer;     /* bounds how long SIGTERM waits for transfers */
	struct config *cfg;            /* borrowed; peers replaced on SIGHUP */
	const char *config_path;       /* NULL when running on the embedded default */
	struct store *store;           /* borrowed */
	struct index *index;           /* borrowed */
	struct assoc *assocs;          /* open associations, doubly linked */
	unsigned n_assocs;             /* connections open (any state) */
	unsigned n_established;        /* associations counted against max_associations */
	uint64_t next_assoc_id;
	uint64_t instances_stored;
	struct peer_addrs *peer_addrs; /* resolved [peer] hosts, one per cfg->peers entry */
	bool stopping;                 /* no new connections; exit once the last one closes */
	bool listeners_open;
	uint64_t started_ms;           /* uv_now at server_start, for the uptime */
	/* Called once when the orderly shutdown begins (systemd STOPPING=1), and once when
	 * the last association is gone and the loop is about to end (close own handles).
	 * Either may be NULL; hook_arg is passed to both. Set after server_start. */
	void (*on_stopping)(void *hook_arg);
	void (*on_finished)(void *hook_arg);
	void *hook_arg;
	bool committed_ready;          /* the async handle exists (notify may use it) */
	int exit_code;
	/* [storage] min_free_space: the last statvfs of the storage path (server_disk_low) */
	uint64_t disk_checked_ms;      /* uv_now when it was taken; 0 = never */
	uint64_t disk_free;            /* bytes available to us then */
	uint64_t disk_free_margin;     /* how far above the mark it was then */
	uint64_t disk_written;         /* data-set bytes queued to disk since (server_disk_wrote) */
	uint64_t disk_inflight;        /* of all queued bytes, those whose write has not returned */
	bool disk_low;                 /* below the low-water mark then */
};

/*
 * Sets up the listener(s), signals and the committer wake-up on loop. cfg, store and index
 * are borrowed and must outlive the loop run. With n_fds > 0, fds are listening TCP
 * sockets inherited from the service manager (socket activation), opened with uv_tcp_open
 * instead of binding [server] bind/port; they are owned by the server from then on.
 * Returns 0 or a negative libuv error.
 */
int server_start(struct server *srv, uv_loop_t *loop, struct config *cfg,
		 const char *config_path, struct store *store, struct index *index,
		 const int *fds, unsigned n_fds);

/*
 * Loads the [server] tls_* files into TLS contexts (net/tls.h): *server_ctx when tls_port
 * is set, *client_ctx when tls_ca is set (a NULL pointer: loaded, checked and freed).
 * The results are the caller's (tls_ctx_free, or server_free_tls once in srv). Returns 0,
 * or -1 with "file:line: message" in err (the line of the key naming the file at fault),
 * e.g. a key that does not match the certificate. Used at start-up and by --check-config.
 */
int server_tls_load(const struct config *cfg, struct tls_ctx **server_ctx,
		    struct tls_ctx **client_ctx, char *err, size_t cap);

/* Drops the server's hold on its TLS contexts (at exit, and on reload before the new ones). */
void server_free_tls(struct server *srv);

/*
 * Re-reads the configuration file (SIGHUP, dicomaidctl reload): the peer list and
 * [access] change, and when TLS was configured at start-up its files are read anew (new
 * connections use them; tls_port stays). Returns 0 with a summary in msg, or -1 with the reason in msg (the
 * running configuration is then unchanged). msg (cap bytes) is the caller's.
 */
int server_reload(struct server *srv, char *msg, size_t cap);

/* Resolves every peer's host to its addresses (at start and on SIGHUP; may block on DNS). */
void server_resolve_peers(struct server *srv);

/* Does ip (text form) belong to peer p's configured host? */
bool server_peer_host_matches(const struct server *srv, const struct config_peer *p,
			      const char *ip);

/*
 * Is the storage file system below [storage] min_free_space? statvfs runs at most once a
 * second; in between, the last answer less what was written since is used. Changes are
 * logged (event=disk_low / event=disk_ok).
 * Loop thread.
 */
bool server_disk_low(struct server *srv);

/* n bytes are on their way to the storage file system: until the next statvfs they are
 * taken off the cached free space, so a fast transfer cannot run past the mark unseen. */
void server_disk_wrote(struct server *srv, uint64_t n);

/* n of those bytes have been written (their write returned, whatever its result): a statvfs
 * taken from now on sees them, so they stop counting against the cached free space then. */
void server_disk_landed(struct server *srv, uint64_t n);

/* Begins the orderly shutdown (as SIGTERM does). */
void server_stop(struct server *srv);

/* Called by an association when it is fully closed and freed: may finish the shutdown. */
void server_assoc_gone(struct server *srv);

/* The storage committer's notify callback (any thread): wakes the loop. */
void server_committer_notify(void *arg);

#endif
