/*
 * Test-only SCU that drives dcmtk's storescp with the dimse layer over a real socket (blocking
 * POSIX I/O, no libuv): a hand-written A-ASSOCIATE-RQ (PS3.8 9.3.2; the real UL codec lives in
 * src/ul) proposing Verification (Implicit VR LE) and one storage SOP Class (Explicit VR LE),
 * then C-ECHO-RQ and C-STORE-RQ built with the dimse builders and framed by dimse_tx within the
 * peer's Maximum Length, responses reassembled by dimse_rx, then A-RELEASE. Not part of the
 * daemon.
 *
 * usage: mini_scu PORT CALLED_AE SOP_CLASS SOP_INSTANCE FILE
 * FILE is a Part 10 file in Explicit VR Little Endian; its data set (after the meta header) is
 * sent. Exits 0 when both responses are Success and the release completes.
 */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "dimse/rx.h"
#include "dimse/status.h"
#include "dimse/tx.h"

#define PC_ECHO 1
#define PC_STORE 3
#define OUR_MAX_LENGTH 16384
#define TS_IMPLICIT "1.2.840.10008.1.2"
#define TS_EXPLICIT "1.2.840.10008.1.2.1"

static int fd = -1;
static uint32_t peer_max;
static struct dimse_cmd last_rsp;
static int n_rsp;

static void die(const char *msg)
{
	fprintf(stderr, "mini_scu: %s\n", msg);
	exit(1);
}

static void write_all(const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			die("write failed");
		p += w;
		n -= (size_t)w;
	}
}

static void read_all(uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t r = read(fd, p, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			die("connection closed");
		p += r;
		n -= (size_t)r;
	}
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static uint16_t be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }

/* Append an item: type, reserved, 2-byte length, value. */
static size_t item(uint8_t *p, uint8_t type, const void *v, size_t n)
{
	p[0] = type;
	p[1] = 0;
	p[2] = (uint8_t)(n >> 8);
	p[3] = (uint8_t)n;
	memcpy(p + 4, v, n);
	return 4 + n;
}

static size_t pc_item(uint8_t *p, uint8_t id, const char *as, const char *ts)
{
	uint8_t v[256] = { id, 0, 0, 0 };
	size_t n = 4;
	n += item(v + n, 0x30, as, strlen(as));
	n += item(v + n, 0x40, ts, strlen(ts));
	return item(p, 0x20, v, n);
}

static void send_rq(const char *called, const char *sop_class)
{
	static const char app[] = "1.2.840.10008.3.1.1.1";
	static const char impl[] = "1.2.826.0.1.3680043.10.1";
	uint8_t pdu[1024], ui[128];
	size_t n = 6, u = 0;
	uint8_t maxlen[4] = { 0, 0, OUR_MAX_LENGTH >> 8, OUR_MAX_LENGTH & 0xFF };

	memset(pdu, 0, sizeof(pdu));
	pdu[0] = 0x01;
	pdu[7] = 0x01; /* protocol version 0001H */
	memset(pdu + 10, ' ', 32);
	memcpy(pdu + 10, called, strlen(called) < 16 ? strlen(called) : 16);
	memcpy(pdu + 26, "DIMSESCU", 8);
	n = 6 + 68;
	n += item(pdu + n, 0x10, app, strlen(app));
	n += pc_item(pdu + n, PC_ECHO, DIMSE_VERIFICATION_SOP_CLASS, TS_IMPLICIT);
	n += pc_item(pdu + n, PC_STORE, sop_class, TS_EXPLICIT);
	u += item(ui + u, 0x51, maxlen, 4);
	u += item(ui + u, 0x52, impl, strlen(impl));
	n += item(pdu + n, 0x50, ui, u);
	pdu[2] = (uint8_t)((n - 6) >> 24);
	pdu[3] = (uint8_t)((n - 6) >> 16);
	pdu[4] = (uint8_t)((n - 6) >> 8);
	pdu[5] = (uint8_t)(n - 6);
	write_all(pdu, n);
}

/* Read one PDU into a malloc'd body (caller frees); returns its type. */
static uint8_t read_pdu(uint8_t **body, uint32_t *len)
{
	uint8_t h[6];
	read_all(h, 6);
	*len = be32(h + 2);
	if (*len > (1u << 20))
		die("PDU too large");
	*body = malloc(*len ? *len : 1);
	if (*body == NULL)
		die("out of memory");
	read_all(*body, *len);
	return h[0];
}

static void read_ac(void)
{
	uint8_t *b;
	uint32_t len;
	size_t pos = 68;
	int accepted = 0;

	if (read_pdu(&b, &len) != 0x02)
		die("association not accepted");
	while (pos + 4 <= len) {
		size_t il = be16(b + pos + 2);
		const uint8_t *v = b + pos + 4;
		if (pos + 4 + il > len)
			die("bad AC item");
		if (b[pos] == 0x21 && il >= 4 && v[2] == 0)
			accepted |= v[0] == PC_ECHO ? 1 : v[0] == PC_STORE ? 2 : 0;
		if (b[pos] == 0x50) {
			size_t sp = 0;
			while (sp + 4 <= il) {
				size_t sl = be16(v + sp + 2);
				if (v[sp] == 0x51 && sl == 4)
					peer_max = be32(v + sp + 4);
				sp += 4 + sl;
			}
		}
		pos += 4 + il;
	}
	free(b);
	if (accepted != 3)
		die("presentation contexts not accepted");
	fprintf(stderr, "mini_scu: associated, peer max length %u\n", peer_max);
}

static int on_command(void *ctx, uint8_t pc_id, const struct dimse_cmd *cmd)
{
	char line[512];
	dimse_cmd_describe(cmd, line, sizeof(line));
	fprintf(stderr, "mini_scu: pc=%u %s\n", pc_id, line);
	last_rsp = *cmd;
	n_rsp++;
	return 0;
}

/* Read P-DATA-TF PDUs until one more response command has arrived. */
static void wait_response(struct dimse_rx *rx)
{
	int want = n_rsp + 1;
	while (n_rsp < want) {
		uint8_t *b;
		uint32_t len;
		int rc;
		if (read_pdu(&b, &len) != 0x04)
			die("expected P-DATA-TF");
		if (len > OUR_MAX_LENGTH)
			die("P-DATA-TF larger than our maximum");
		rc = dimse_rx_pdata(rx, b, len);
		free(b);
		if (rc < 0) {
			fprintf(stderr, "mini_scu: %s\n", dimse_strerror(rc));
			exit(1);
		}
	}
}

static void flush(struct dimse_txbuf *tx)
{
	write_all(tx->data, tx->len);
	dimse_txbuf_reset(tx);
}

/* Data set of a Part 10 file: after the 128-byte preamble, "DICM" and the group 0002
 * elements, whose length (0002,0000) UL gives (Explicit VR LE: tag, "UL", 2-byte length). */
static uint8_t *load_data_set(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	static uint8_t buf[4 << 20];
	size_t n, off;
	uint8_t *ds;

	if (f == NULL)
		die("cannot open file");
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	if (n < 144 || memcmp(buf + 128, "DICM", 4) != 0 || memcmp(buf + 132, "\x02\x00\x00\x00UL", 6) != 0)
		die("not a Part 10 file");
	off = 144 + (size_t)(buf[140] | buf[141] << 8 | buf[142] << 16 | (uint32_t)buf[143] << 24);
	if (off > n)
		die("bad meta header");
	*len = n - off;
	ds = malloc(*len);
	if (ds == NULL)
		die("out of memory");
	memcpy(ds, buf + off, *len);
	return ds;
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa;
	struct dimse_rx_cb cb = { NULL, on_command, NULL };
	struct dimse_rx rx;
	struct dimse_txbuf tx = { 0 };
	struct dimse_cmd cmd;
	uint8_t *ds, *b;
	size_t dslen, pos;
	uint32_t len;
	int tries;

	if (argc != 6) {
		fprintf(stderr, "usage: mini_scu PORT CALLED_AE SOP_CLASS SOP_INSTANCE FILE\n");
		return 2;
	}
	alarm(60);
	ds = load_data_set(argv[5], &dslen);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons((uint16_t)atoi(argv[1]));
	for (tries = 0;; tries++) { /* the peer may still be starting */
		struct timespec ts = { 0, 100 * 1000 * 1000 };
		fd = socket(AF_INET, SOCK_STREAM, 0);
		if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			break;
		if (fd >= 0)
			close(fd);
		if (tries == 100)
			die("cannot connect");
		nanosleep(&ts, NULL);
	}
	dimse_rx_init(&rx, &cb);
	send_rq(argv[2], argv[3]);
	read_ac();

	dimse_echo_rq(&cmd, 1);
	if (dimse_tx_command(&tx, PC_ECHO, &cmd, peer_max) < 0)
		die("tx echo");
	flush(&tx);
	wait_response(&rx);
	if (last_rsp.command_field != DIMSE_C_ECHO_RSP || last_rsp.status != DIMSE_SUCCESS ||
	    last_rsp.message_id_responded != 1)
		die("bad C-ECHO-RSP");

	dimse_store_rq(&cmd, 2, argv[3], argv[4], DIMSE_PRIORITY_MEDIUM);
	if (dimse_tx_command(&tx, PC_STORE, &cmd, peer_max) < 0)
		die("tx store");
	for (pos = 0; pos < dslen; pos += 10000) { /* streamed in 10000-byte pieces */
		size_t n = dslen - pos < 10000 ? dslen - pos : 10000;
		if (dimse_tx_data(&tx, PC_STORE, ds + pos, n, pos + n == dslen, peer_max) < 0)
			die("tx data");
		flush(&tx);
	}
	wait_response(&rx);
	if (last_rsp.command_field != DIMSE_C_STORE_RSP || last_rsp.status != DIMSE_SUCCESS ||
	    last_rsp.message_id_responded != 2 || strcmp(last_rsp.affected_sop_instance, argv[4]) != 0)
		die("bad C-STORE-RSP");

	{
		static const uint8_t rq[10] = { 0x05, 0, 0, 0, 0, 4, 0, 0, 0, 0 };
		write_all(rq, sizeof(rq));
		if (read_pdu(&b, &len) != 0x06)
			die("no A-RELEASE-RP");
		free(b);
	}
	close(fd);
	dimse_rx_free(&rx);
	dimse_txbuf_free(&tx);
	free(ds);
	fprintf(stderr, "mini_scu: done\n");
	return 0;
}
