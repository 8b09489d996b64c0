/*
 * The daemon's side of the systemd service protocol, over libsystemd: readiness and status
 * notifications (sd_notify(3): READY=1, STATUS=, STOPPING=1, WATCHDOG=1), the watchdog
 * interval (sd_watchdog_enabled(3)) and socket activation (sd_listen_fds(3)). Without a
 * service manager (no NOTIFY_SOCKET, no LISTEN_FDS) every call is a harmless no-op, so the
 * daemon runs the same from a shell.
 */
#ifndef DICOMAID_CTL_SD_H
#define DICOMAID_CTL_SD_H

#include <stddef.h>
#include <stdint.h>

#define SYSTEMD_MAX_FDS 8

/* Sockets passed by the service manager. */
struct systemd_fds {
	int tcp[SYSTEMD_MAX_FDS];   /* listening TCP sockets for the SCP */
	unsigned n_tcp;
	int control;                /* the FileDescriptorName=control UNIX socket, or -1 */
};

/*
 * Collects the sockets passed by socket activation (LISTEN_PID/LISTEN_FDS/LISTEN_FDNAMES,
 * unset afterwards so that children do not see them). A socket named "control" must be a
 * listening UNIX stream socket; every other one a listening TCP socket. The fds are set
 * close-on-exec and become the caller's. Returns 0 (out->n_tcp == 0 and control == -1 when
 * nothing was passed) or -1 with a one-line reason in err.
 */
int systemd_listen_fds(struct systemd_fds *out, char *err, size_t errlen);

/* sd_notify(0, state) with printf formatting; no-op outside systemd. */
void systemd_notify(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The watchdog timeout in microseconds when WATCHDOG=1 is expected from us, else 0. */
uint64_t systemd_watchdog_usec(void);

#endif
