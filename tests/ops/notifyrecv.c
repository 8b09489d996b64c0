/*
 * notifyrecv PATH SECONDS: binds a UNIX datagram socket at PATH (as systemd's
 * NOTIFY_SOCKET) and prints each message received, one line per assignment
 * (sd_notify(3) messages are newline-separated), flushing each, for SECONDS seconds or
 * until SIGTERM. For tests/ops/activate.sh.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc != 3)
		return 2;
	int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", argv[1]);
	unlink(argv[1]);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		perror("notifyrecv");
		return 1;
	}
	time_t end = time(NULL) + atoi(argv[2]);
	struct timeval tv = { .tv_sec = 0, .tv_usec = 200000 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	char buf[4096];
	while (time(NULL) < end) {
		ssize_t n = recv(fd, buf, sizeof buf - 1, 0);
		if (n <= 0)
			continue;
		buf[n] = '\0';
		for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n"))
			printf("%s\n", line);
		fflush(stdout);
	}
	unlink(argv[1]);
	return 0;
}
