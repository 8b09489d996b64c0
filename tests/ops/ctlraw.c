/*
 * ctlraw SOCKET: connects to a control socket, sends standard input as it is, shuts down
 * the sending side and prints whatever the daemon answers until it closes. For testing
 * the protocol below dicomaidctl (tests/ops/ctl.sh). Exit 0, or 3 when it cannot connect.
 */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc != 2)
		return 2;
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", argv[1]);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		perror("ctlraw");
		return 3;
	}
	struct timeval tv = { .tv_sec = 20 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	char buf[65536];
	size_t n;
	while ((n = fread(buf, 1, sizeof buf, stdin)) > 0)
		if (send(fd, buf, n, MSG_NOSIGNAL) < 0)
			break;
	shutdown(fd, SHUT_WR);
	ssize_t r;
	while ((r = recv(fd, buf, sizeof buf, 0)) > 0)
		fwrite(buf, 1, (size_t)r, stdout);
	close(fd);
	return 0;
}
