/*
 * Test-only SCP that lets dcmtk's echoscu and storescu talk to the dimse layer over a real
 * socket (blocking POSIX I/O, no libuv): it accepts every presentation context with its first
 * transfer syntax (a hand-written A-ASSOCIATE-AC, PS3.8 9.3.3; the real UL codec lives in
 * src/ul), feeds each P-DATA-TF variable field to dimse_rx_pdata(), answers C-ECHO-RQ and
 * C-STORE-RQ through dimse_tx_command() within the peer's Maximum Length, writes received data
 * sets to files, and handles A-RELEASE. Not part of the daemon.
 *
 * usage: mini_scp PORTFILE OUTDIR N_ASSOCIATIONS
 * Binds 127.0.0.1 on an ephemeral port, writes the port to PORTFILE, serves N associations one
 * after another, exits 0 when each ended in an orderly release with no DIMSE error.
 */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dimse/rx.h"
#include "dimse/status.h"
#include "dimse/tx.h"

#define MAX_PDU_BODY (1u << 20) /* what this test SCP reads; it announces 16384 */
#define OUR_MAX_LENGTH 16384

struct conn {
	int fd;
	uint32_t peer_max;        /* peer's Maximum Length sub-item (PS3.8 D.1), 0 = none */
	const char *outdir;
	struct dimse_rx rx;
	struct dimse_cmd pending; /* C-STORE-RQ whose data set is arriving */
	FILE *out;                /* data set file being written */
	int n_stored;
	int error;
};

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int read_all(int fd, uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t r = read(fd, p, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static uint16_t be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }

static int send_cmd(struct conn *c, uint8_t pc_id, const struct dimse_cmd *cmd)
{
	struct dimse_txbuf b = { 0 };
	int rc = dimse_tx_command(&b, pc_id, cmd, c->peer_max);
	if (rc == 0)
		rc = write_all(c->fd, b.data, b.len);
	dimse_txbuf_free(&b);
	return rc;
}

static int on_command(void *ctx, uint8_t pc_id, const struct dimse_cmd *cmd)
{
	struct conn *c = ctx;
	struct dimse_cmd rsp;
	char line[512];

	dimse_cmd_describe(cmd, line, sizeof(line));
	fprintf(stderr, "mini_scp: pc=%u %s\n", pc_id, line);
	switch (cmd->command_field) {
	case DIMSE_C_ECHO_RQ:
		dimse_echo_rsp(&rsp, cmd, DIMSE_SUCCESS);
		return send_cmd(c, pc_id, &rsp);
	case DIMSE_C_STORE_RQ: {
		char path[4096];
		snprintf(path, sizeof(path), "%s/%d.ds", c->outdir, c->n_stored++);
		c->out = fopen(path, "wb");
		c->pending = *cmd;
		return c->out ? 0 : -1;
	}
	default:
		return -1;
	}
}

static int on_data(void *ctx, uint8_t pc_id, const uint8_t *buf, size_t len, bool last)
{
	struct conn *c = ctx;
	struct dimse_cmd rsp;

	if (c->out == NULL || (len > 0 && fwrite(buf, 1, len, c->out) != len))
		return -1;
	if (!last)
		return 0;
	if (fclose(c->out) != 0)
		return -1;
	c->out = NULL;
	dimse_store_rsp(&rsp, &c->pending, DIMSE_SUCCESS);
	return send_cmd(c, pc_id, &rsp);
}

/* A-ASSOCIATE-AC for the RQ body (PS3.8 9.3.2 / 9.3.3): same fixed part, application context
 * echoed, each presentation context accepted with its first transfer syntax. */
static int send_ac(struct conn *c, const uint8_t *rq, size_t len)
{
	static uint8_t ac[65536];
	size_t pos = 68, n = 6 + 68;
	static const char impl_uid[] = "1.2.826.0.1.3680043.10.1";

	if (len < 68)
		return -1;
	memcpy(ac + 6, rq, 68);
	while (pos + 4 <= len) {
		uint8_t type = rq[pos];
		size_t il = be16(rq + pos + 2);
		const uint8_t *v = rq + pos + 4;
		if (pos + 4 + il > len)
			return -1;
		if (type == 0x10) {
			memcpy(ac + n, rq + pos, 4 + il);
			n += 4 + il;
		} else if (type == 0x20 && il >= 4) {
			size_t sp = 4;
			while (sp + 4 <= il) {
				size_t sl = be16(v + sp + 2);
				if (v[sp] == 0x40) {
					ac[n] = 0x21;
					ac[n + 1] = 0;
					ac[n + 2] = (uint8_t)((4 + 4 + sl) >> 8);
					ac[n + 3] = (uint8_t)(4 + 4 + sl);
					ac[n + 4] = v[0]; /* PC-ID */
					ac[n + 5] = 0;
					ac[n + 6] = 0;    /* result: acceptance */
					ac[n + 7] = 0;
					memcpy(ac + n + 8, v + sp, 4 + sl);
					n += 8 + 4 + sl;
					break;
				}
				sp += 4 + sl;
			}
		} else if (type == 0x50) {
			size_t sp = 0;
			while (sp + 4 <= il) {
				size_t sl = be16(v + sp + 2);
				if (v[sp] == 0x51 && sl == 4)
					c->peer_max = be32(v + sp + 4);
				sp += 4 + sl;
			}
		}
		pos += 4 + il;
	}
	/* User Information: Maximum Length 16384, Implementation Class UID */
	ac[n] = 0x50;
	ac[n + 1] = 0;
	ac[n + 2] = 0;
	ac[n + 3] = (uint8_t)(8 + 4 + sizeof(impl_uid) - 1);
	ac[n + 4] = 0x51;
	ac[n + 5] = 0;
	ac[n + 6] = 0;
	ac[n + 7] = 4;
	ac[n + 8] = 0;
	ac[n + 9] = 0;
	ac[n + 10] = OUR_MAX_LENGTH >> 8;
	ac[n + 11] = OUR_MAX_LENGTH & 0xFF;
	ac[n + 12] = 0x52;
	ac[n + 13] = 0;
	ac[n + 14] = 0;
	ac[n + 15] = sizeof(impl_uid) - 1;
	memcpy(ac + n + 16, impl_uid, sizeof(impl_uid) - 1);
	n += 16 + sizeof(impl_uid) - 1;
	ac[0] = 0x02;
	ac[1] = 0;
	ac[2] = (uint8_t)((n - 6) >> 24);
	ac[3] = (uint8_t)((n - 6) >> 16);
	ac[4] = (uint8_t)((n - 6) >> 8);
	ac[5] = (uint8_t)(n - 6);
	return write_all(c->fd, ac, n);
}

/* Serve one association; 0 after an orderly release. */
static int serve(int fd, const char *outdir)
{
	static uint8_t body[MAX_PDU_BODY];
	struct conn c = { .fd = fd, .outdir = outdir };
	struct dimse_rx_cb cb = { &c, on_command, on_data };
	int rc = -1;

	dimse_rx_init(&c.rx, &cb);
	for (;;) {
		uint8_t h[6];
		uint32_t len;
		if (read_all(fd, h, 6) < 0)
			break;
		len = be32(h + 2);
		if (len > MAX_PDU_BODY || read_all(fd, body, len) < 0)
			break;
		if (len > OUR_MAX_LENGTH && h[0] == 0x04) {
			fprintf(stderr, "mini_scp: P-DATA-TF of %u bytes exceeds our maximum\n", len);
			break;
		}
		if (h[0] == 0x01) {
			if (send_ac(&c, body, len) < 0)
				break;
		} else if (h[0] == 0x04) {
			int e = dimse_rx_pdata(&c.rx, body, len);
			if (e < 0) {
				fprintf(stderr, "mini_scp: dimse error %d: %s\n", e, dimse_strerror(e));
				break;
			}
		} else if (h[0] == 0x05) {
			static const uint8_t rp[10] = { 0x06, 0, 0, 0, 0, 4, 0, 0, 0, 0 };
			if (write_all(fd, rp, sizeof(rp)) == 0 && dimse_rx_idle(&c.rx))
				rc = 0;
			break;
		} else {
			fprintf(stderr, "mini_scp: unexpected PDU type %u\n", h[0]);
			break;
		}
	}
	if (c.out)
		fclose(c.out);
	dimse_rx_free(&c.rx);
	return rc;
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	int lfd, i, n, failures = 0;
	FILE *pf;

	if (argc != 4) {
		fprintf(stderr, "usage: mini_scp PORTFILE OUTDIR N\n");
		return 2;
	}
	n = atoi(argv[3]);
	alarm(60); /* never hang a test run */
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 4) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&sa, &sl) < 0) {
		perror("mini_scp");
		return 1;
	}
	{ /* publish the port atomically: write a temp file, rename */
		char tmp[4096];
		snprintf(tmp, sizeof(tmp), "%s.tmp", argv[1]);
		pf = fopen(tmp, "w");
		if (pf == NULL || fprintf(pf, "%u\n", ntohs(sa.sin_port)) < 0 || fclose(pf) != 0 ||
		    rename(tmp, argv[1]) != 0)
			return 1;
	}
	for (i = 0; i < n; i++) {
		int fd = accept(lfd, NULL, NULL);
		if (fd < 0)
			return 1;
		if (serve(fd, argv[2]) < 0)
			failures++;
		close(fd);
	}
	close(lfd);
	return failures ? 1 : 0;
}
