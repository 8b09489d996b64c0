/*
 * libsystemd glue (see sd.h). sd_listen_fds_with_names(3) gives the passed sockets in the
 * order of the socket unit's Listen*= lines, starting at SD_LISTEN_FDS_START (3).
 */
#include "ctl/sd.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <systemd/sd-daemon.h>

int systemd_listen_fds(struct systemd_fds *out, char *err, size_t errlen)
{
	out->n_tcp = 0;
	out->control = -1;
	char **names = NULL;
	int n = sd_listen_fds_with_names(1, &names);
	if (n < 0) {
		snprintf(err, errlen, "sd_listen_fds: %s", strerror(-n));
		return -1;
	}
	int rc = 0;
	for (int k = 0; k < n; k++) {
		int fd = SD_LISTEN_FDS_START + k;
		const char *name = names && names[k] ? names[k] : "unknown";
		fcntl(fd, F_SETFD, FD_CLOEXEC);
		if (rc < 0)
			continue;
		if (strcmp(name, "control") == 0) {
			if (out->control >= 0 || sd_is_socket_unix(fd, SOCK_STREAM, 1, NULL, 0) <= 0) {
				snprintf(err, errlen, "passed socket %d (%s) is not a single listening "
					 "UNIX stream socket", fd, name);
				rc = -1;
				continue;
			}
			out->control = fd;
			continue;
		}
		if (sd_is_socket_inet(fd, 0, SOCK_STREAM, 1, 0) <= 0) {
			snprintf(err, errlen, "passed socket %d (%s) is not a listening TCP socket "
				 "(name the control socket FileDescriptorName=control)", fd, name);
			rc = -1;
			continue;
		}
		if (out->n_tcp == SYSTEMD_MAX_FDS) {
			snprintf(err, errlen, "more than %d listening sockets passed", SYSTEMD_MAX_FDS);
			rc = -1;
			continue;
		}
		out->tcp[out->n_tcp++] = fd;
	}
	if (names) {
		for (int k = 0; k < n; k++)
			free(names[k]);
		free(names);
	}
	return rc;
}

void systemd_notify(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	sd_notify(0, buf);
}

uint64_t systemd_watchdog_usec(void)
{
	uint64_t usec = 0;
	return sd_watchdog_enabled(0, &usec) > 0 ? usec : 0;
}
