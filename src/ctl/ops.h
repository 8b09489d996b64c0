/*
 * Operations glue of the daemon, on the libuv loop: the control socket served to
 * dicomaidctl (proto.h), the service manager notifications (READY=1 once listening with the
 * index open, STATUS= each second when it changed, STOPPING=1 when the shutdown begins,
 * WATCHDOG=1 from a timer at half the watchdog interval, so a stuck loop gets the service
 * restarted) and the throughput figures for `status`.
 *
 * Its handles do not keep the loop alive (uv_unref): the server's shutdown decides when
 * uv_run returns, and closes them through server.on_finished.
 */
#ifndef DICOMAID_CTL_OPS_H
#define DICOMAID_CTL_OPS_H

#include <uv.h>

struct server;
struct ops;

/*
 * Starts serving the control socket at socket_path (created mode 0660; a stale socket file
 * is replaced, a live one is an error) or, when control_fd >= 0, on that inherited
 * listening socket (socket activation; socket_path is then only shown). Installs the
 * server's on_stopping/on_finished hooks. srv is borrowed and must outlive the ops.
 * Returns 0 with *out the caller's (free with ops_free after the loop ended), or a negative
 * libuv code after logging why.
 */
int ops_start(uv_loop_t *loop, struct server *srv, const char *socket_path, int control_fd,
	      struct ops **out);

/* Everything is up: tells the service manager READY=1 and starts the watchdog. */
void ops_ready(struct ops *o);

/* After uv_run has returned and the closed handles have been run down: frees o. */
void ops_free(struct ops *o);

#endif
