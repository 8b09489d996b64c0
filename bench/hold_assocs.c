/*
 * hold_assocs.c — open N idle DICOM associations to a SCP on 127.0.0.1, hold them S seconds,
 * then release them; used by bench/store_bench.sh to measure the SCP's resident memory per
 * idle association (VmRSS before and while held).
 *
 * Usage: hold_assocs [-a CALLED_AE] [-c CALLING_AE] PORT N SECONDS
 *   N <= 2000, SECONDS <= 120; the peer is always 127.0.0.1.
 *
 * Each association is one TCP connection on which we write one A-ASSOCIATE-RQ PDU
 * (PS3.8 9.3.2) proposing only the Verification SOP Class with Implicit VR Little Endian, and
 * read the answer (A-ASSOCIATE-AC, PS3.8 9.3.3, or -RJ, 9.3.4).  After all N are open it prints
 * "held A rejected R failed F" on stdout (and flushes), sleeps SECONDS, then sends A-RELEASE-RQ
 * (PS3.8 9.3.6) on each open association, waits for A-RELEASE-RP (9.3.7) and closes.  It prints
 * "released K" at the end.  Exit status 0 when every association was accepted and released,
 * 1 otherwise, 2 on usage errors.  SIGINT/SIGTERM end the hold early (the release still runs).
 *
 * All PDU integers are big-endian (PS3.8 9.3.1).  RLIMIT_NOFILE is raised to N + 32 when the
 * hard limit allows.  Every socket has a 10 s send/receive timeout so a stuck peer cannot hang
 * the benchmark.
 */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define MAX_N 2000
#define MAX_S 120

static const char APP_CONTEXT[] = "1.2.840.10008.3.1.1.1";   /* PS3.7 A.2.1 */
static const char VERIFICATION[] = "1.2.840.10008.1.1";      /* PS3.4 A.4 */
static const char IMPLICIT_LE[] = "1.2.840.10008.1.2";       /* PS3.5 10.1 */
static const char IMPL_CLASS[] = "1.2.826.0.1.3680043.10.1046.2"; /* identifies this tool */
static const char IMPL_VERSION[] = "HOLD_ASSOCS_1";

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static uint8_t *put16(uint8_t *p, unsigned v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
	return p + 2;
}

static uint8_t *put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
	return p + 4;
}

/* An item: type, reserved, 2-byte length, value (PS3.8 9.3.2.x). */
static uint8_t *put_item(uint8_t *p, uint8_t type, const void *val, size_t len)
{
	*p++ = type;
	*p++ = 0;
	p = put16(p, (unsigned)len);
	memcpy(p, val, len);
	return p + len;
}

/* AE title field: 16 bytes, space padded (PS3.8 9.3.2, PS3.5 6.2 AE). */
static uint8_t *put_ae(uint8_t *p, const char *ae)
{
	size_t n = strlen(ae);
	memset(p, ' ', 16);
	memcpy(p, ae, n > 16 ? 16 : n);
	return p + 16;
}

/* Build the A-ASSOCIATE-RQ into BUF (>= 512 bytes); returns its total length. */
static size_t build_rq(uint8_t *buf, const char *called, const char *calling)
{
	uint8_t *p = buf;
	*p++ = 0x01;                 /* PDU type A-ASSOCIATE-RQ */
	*p++ = 0;
	uint8_t *len_at = p;
	p += 4;                      /* PDU length, filled below */
	p = put16(p, 1);             /* protocol version */
	p = put16(p, 0);             /* reserved */
	p = put_ae(p, called);
	p = put_ae(p, calling);
	memset(p, 0, 32);            /* reserved */
	p += 32;
	p = put_item(p, 0x10, APP_CONTEXT, strlen(APP_CONTEXT));

	/* Presentation context item 20H: ID 1 (odd), 3 reserved, 30H, 40H (PS3.8 9.3.2.2) */
	uint8_t pc[128], *q = pc;
	*q++ = 1;
	*q++ = 0;
	*q++ = 0;
	*q++ = 0;
	q = put_item(q, 0x30, VERIFICATION, strlen(VERIFICATION));
	q = put_item(q, 0x40, IMPLICIT_LE, strlen(IMPLICIT_LE));
	p = put_item(p, 0x20, pc, (size_t)(q - pc));

	/* User information 50H: 51H max length, 52H implementation class, 55H version (PS3.7 D.3.3) */
	uint8_t ui[128], *u = ui;
	uint8_t maxlen[4];
	put32(maxlen, 16384);
	u = put_item(u, 0x51, maxlen, 4);
	u = put_item(u, 0x52, IMPL_CLASS, strlen(IMPL_CLASS));
	u = put_item(u, 0x55, IMPL_VERSION, strlen(IMPL_VERSION));
	p = put_item(p, 0x50, ui, (size_t)(u - ui));

	put32(len_at, (uint32_t)(p - buf - 6));
	return (size_t)(p - buf);
}

static int write_all(int fd, const uint8_t *b, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, b, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

static int read_all(int fd, uint8_t *b, size_t n)
{
	while (n > 0) {
		ssize_t r = read(fd, b, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		b += r;
		n -= (size_t)r;
	}
	return 0;
}

/* Read one PDU and discard its body (bounded to 1 MiB); returns its type or -1. */
static int read_pdu(int fd)
{
	uint8_t h[6], junk[4096];
	if (read_all(fd, h, 6) != 0)
		return -1;
	uint32_t len = (uint32_t)h[2] << 24 | (uint32_t)h[3] << 16 | (uint32_t)h[4] << 8 | h[5];
	if (len > (1u << 20))
		return -1;   /* no association answer is this large */
	while (len > 0) {
		size_t k = len > sizeof junk ? sizeof junk : len;
		if (read_all(fd, junk, k) != 0)
			return -1;
		len -= (uint32_t)k;
	}
	return h[0];
}

static int connect_local(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	struct timeval tv = { .tv_sec = 10 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void usage(void)
{
	fprintf(stderr, "usage: hold_assocs [-a CALLED_AE] [-c CALLING_AE] PORT N SECONDS "
			"(N <= %d, SECONDS <= %d, peer 127.0.0.1)\n", MAX_N, MAX_S);
	exit(2);
}

int main(int argc, char **argv)
{
	const char *called = "DICOMAID", *calling = "HOLDASSOCS";
	int opt;
	while ((opt = getopt(argc, argv, "a:c:")) != -1) {
		if (opt == 'a')
			called = optarg;
		else if (opt == 'c')
			calling = optarg;
		else
			usage();
	}
	if (argc - optind != 3)
		usage();
	int port = atoi(argv[optind]);
	int n = atoi(argv[optind + 1]);
	int secs = atoi(argv[optind + 2]);
	if (port < 1 || port > 65535 || n < 1 || n > MAX_N || secs < 0 || secs > MAX_S ||
	    strlen(called) > 16 || strlen(calling) > 16)
		usage();

	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)n + 32) {
		rl.rlim_cur = (rlim_t)n + 32;
		if (rl.rlim_max != RLIM_INFINITY && rl.rlim_cur > rl.rlim_max)
			rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			perror("hold_assocs: setrlimit");
	}
	struct sigaction sa = { .sa_handler = on_signal };
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	uint8_t rq[512];
	size_t rqlen = build_rq(rq, called, calling);
	int *fds = calloc((size_t)n, sizeof *fds);
	if (!fds)
		return 1;
	int held = 0, rejected = 0, failed = 0;
	for (int i = 0; i < n && !stop; i++) {
		fds[i] = -1;
		int fd = connect_local(port);
		if (fd < 0) {
			failed++;
			continue;
		}
		int t = write_all(fd, rq, rqlen) == 0 ? read_pdu(fd) : -1;
		if (t == 0x02) {
			fds[i] = fd;
			held++;
		} else {
			if (t == 0x03)
				rejected++;
			else
				failed++;
			close(fd);
		}
	}
	printf("held %d rejected %d failed %d\n", held, rejected, failed);
	fflush(stdout);

	struct timespec end;
	clock_gettime(CLOCK_MONOTONIC, &end);
	end.tv_sec += secs;
	for (;;) {
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (stop || now.tv_sec > end.tv_sec ||
		    (now.tv_sec == end.tv_sec && now.tv_nsec >= end.tv_nsec))
			break;
		struct timespec nap = { 0, 100 * 1000 * 1000 };
		nanosleep(&nap, NULL);
	}

	/* A-RELEASE-RQ: type 05, length 4, 4 reserved bytes (PS3.8 9.3.6) */
	static const uint8_t release_rq[10] = { 0x05, 0, 0, 0, 0, 4, 0, 0, 0, 0 };
	int released = 0;
	for (int i = 0; i < n; i++) {
		if (fds[i] < 0)
			continue;
		if (write_all(fds[i], release_rq, sizeof release_rq) == 0 && read_pdu(fds[i]) == 0x06)
			released++;
		close(fds[i]);
	}
	printf("released %d\n", released);
	free(fds);
	return (held == n && released == n) ? 0 : 1;
}
