/*
 * rawpeer: a scriptable raw-socket DICOM peer for the bad-input tests (tests/badinput/).
 * It connects to 127.0.0.1 only and runs the steps given on the command line in order,
 * printing one line for each step that observes something, so that a shell test can compare
 * the output with the answer PS3.8 / PS3.7 prescribe. It builds well-formed PDUs with the
 * project's own codecs (src/ul, src/dimse) and can also send arbitrary bytes.
 *
 * Usage: rawpeer [options] STEP...
 *   -p PORT        port on 127.0.0.1 (required)
 *   -b ADDR        local source address (a 127.x.y.z loopback address)
 *   -t MS          read timeout per step (default 5000)
 *   -aet AE -aec AE  calling / called AE title (RAWPEER / DICOMAID)
 *   -pc ABSTRACT[,TS...]   one presentation context per -pc (IDs 1, 3, 5...); default
 *                  Verification with Implicit VR Little Endian
 *   -maxpdu N      the Maximum Length we announce (51H), default 16384
 *   -rcvbuf N      SO_RCVBUF of our socket (a small one makes a peer that stops reading
 *                  fill the daemon's send queue quickly)
 * Steps (output in brackets):
 *   assoc          send A-ASSOCIATE-RQ, read the answer   [AC pcs=1:0,3:3 max_pdu=N | RJ ... ]
 *   rqpatch:OFF=HH[,OFF=HH...]  send the RQ with bytes at PDU offsets replaced, read answer
 *   rqtrunc:N      send only the first N bytes of the RQ (no read)
 *   hex:HEX        send raw bytes (no read)
 *   pdata-len:N    send a P-DATA-TF header claiming a body of N bytes and 6 bytes of it
 *   read           read one PDU                           [AC|RJ|ABORT|RELEASE_RP|PDATA|CLOSED|TIMEOUT]
 *   wait-close     read until the daemon closes (PDUs printed first, on the same line)
 *                                                        [[ABORT ... ]CLOSED ms=N | TIMEOUT]
 *   echo[:PC]      C-ECHO-RQ, read the C-ECHO-RSP          [STATUS 0xXXXX]
 *                  (a response PDU longer than our -maxpdu prints OVERSIZE length=N max=M)
 *   store:PC:CLASS:INSTANCE:FILE[:LIMIT]  C-STORE-RQ and the data set of FILE (a Part 10
 *                  meta header is skipped); with LIMIT only the first LIMIT data-set bytes
 *                  are sent, never flagged last, and nothing is read   [STATUS 0xXXXX | SENT n]
 *   store-nodata:PC:CLASS:INSTANCE  C-STORE-RQ whose Command Data Set Type says none
 *   abort          send A-ABORT (service-user source)
 *   release        A-RELEASE-RQ, read the answer           [RELEASED | ...]
 *   sleep:MS       pause
 *   waitfile:PATH  wait (up to 60 s) until PATH exists      [WAITED | NOFILE]
 *   mark:TEXT      print TEXT (a label in the output)
 *   echo-flood:N   send N C-ECHO-RQs on context 1 without reading any response
 *                                                        [FLOOD sent | FLOOD broken]
 *   drip:N:MS      send N zero bytes one at a time, MS ms apart, stopping early when the
 *                  daemon sends something or closes      [DRIP done | DRIP stopped ms=T]
 * Exit status: 0 when every step ran (whatever the daemon answered), 2 on usage errors,
 * 3 when the connection could not be made.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "dimse/command.h"
#include "dimse/tx.h"
#include "ul/pdu.h"

#define MAX_PCS 16
#define MAX_BODY (64u * 1024 * 1024)

static int port;
static const char *src_addr;
static int timeout_ms = 5000;
static const char *aet = "RAWPEER", *aec = "DICOMAID";
static const char *pc_spec[MAX_PCS];
static unsigned n_pc_spec;
static uint32_t our_max_pdu = 16384;
static uint32_t peer_max_pdu = 16384;
static int fd = -1;
static int rcvbuf;
static uint16_t next_msg_id = 1;

static void usage(const char *why)
{
	fprintf(stderr, "rawpeer: %s (see the comment at the top of rawpeer.c)\n", why);
	exit(2);
}

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void do_connect(void)
{
	if (fd >= 0)
		return;
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0) {
		perror("socket");
		exit(3);
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (rcvbuf > 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
	if (src_addr) {
		struct sockaddr_in sa = { .sin_family = AF_INET };
		if (inet_pton(AF_INET, src_addr, &sa.sin_addr) != 1)
			usage("bad -b address");
		if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
			perror("bind");
			exit(3);
		}
	}
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		perror("connect");
		exit(3);
	}
}

/* Sends everything; a peer that closed is not an error of ours (the next read says so). */
static void send_all(const uint8_t *p, size_t n)
{
	do_connect();
	while (n > 0) {
		ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		p += k;
		n -= (size_t)k;
	}
}

enum rd { RD_OK, RD_CLOSED, RD_TIMEOUT };

/* Reads exactly n bytes before the deadline. */
static enum rd read_n(uint8_t *p, size_t n, uint64_t deadline)
{
	while (n > 0) {
		uint64_t now = mono_ms();
		if (now >= deadline)
			return RD_TIMEOUT;
		struct pollfd pf = { .fd = fd, .events = POLLIN };
		int r = poll(&pf, 1, (int)(deadline - now));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return RD_TIMEOUT;
		ssize_t k = recv(fd, p, n, 0);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return RD_CLOSED;
		p += k;
		n -= (size_t)k;
	}
	return RD_OK;
}

struct pdu {
	uint8_t type;
	uint32_t len;
	uint8_t *body;
};

static enum rd read_pdu(struct pdu *pdu, uint64_t deadline)
{
	uint8_t h[6];
	do_connect();
	enum rd r = read_n(h, 6, deadline);
	if (r != RD_OK)
		return r;
	pdu->type = h[0];
	pdu->len = (uint32_t)h[2] << 24 | (uint32_t)h[3] << 16 | (uint32_t)h[4] << 8 | h[5];
	if (pdu->len > MAX_BODY) {
		printf("HUGE type=0x%02x length=%u\n", pdu->type, pdu->len);
		exit(0);
	}
	pdu->body = malloc(pdu->len ? pdu->len : 1);
	if (!pdu->body)
		exit(4);
	r = read_n(pdu->body, pdu->len, deadline);
	if (r != RD_OK) {
		free(pdu->body);
		pdu->body = NULL;
	}
	return r;
}

/* One line describing a PDU (no newline). */
static void describe_pdu(const struct pdu *pdu, char *out, size_t cap)
{
	const uint8_t *b = pdu->body;
	switch (pdu->type) {
	case UL_PDU_ASSOC_AC: {
		struct ul_assoc_ac *ac = calloc(1, sizeof *ac);
		if (!ac)
			exit(4);
		int rc = ul_assoc_ac_decode(b, pdu->len, ac);
		if (rc < 0) {
			snprintf(out, cap, "AC undecodable err=\"%s\"", ul_strerror(rc));
			free(ac);
			return;
		}
		size_t n = (size_t)snprintf(out, cap, "AC pcs=");
		for (unsigned i = 0; i < ac->n_pc && n < cap; i++)
			n += (size_t)snprintf(out + n, cap - n, "%s%u:%u", i ? "," : "", ac->pc[i].id,
					      ac->pc[i].result);
		if (n < cap)
			snprintf(out + n, cap - n, " max_pdu=%u", ac->ui.max_length);
		peer_max_pdu = ac->ui.max_length;
		free(ac);
		return;
	}
	case UL_PDU_ASSOC_RJ:
		if (pdu->len == 4)
			snprintf(out, cap, "RJ result=%u source=%u reason=%u", b[1], b[2], b[3]);
		else
			snprintf(out, cap, "RJ length=%u", pdu->len);
		return;
	case UL_PDU_ABORT:
		if (pdu->len == 4)
			snprintf(out, cap, "ABORT source=%u reason=%u", b[2], b[3]);
		else
			snprintf(out, cap, "ABORT length=%u", pdu->len);
		return;
	case UL_PDU_RELEASE_RP:
		snprintf(out, cap, "RELEASE_RP");
		return;
	case UL_PDU_RELEASE_RQ:
		snprintf(out, cap, "RELEASE_RQ");
		return;
	case UL_PDU_PDATA_TF:
		snprintf(out, cap, "PDATA length=%u", pdu->len);
		return;
	default:
		snprintf(out, cap, "PDU type=0x%02x length=%u", pdu->type, pdu->len);
		return;
	}
}

static const char *rd_name(enum rd r) { return r == RD_CLOSED ? "CLOSED" : "TIMEOUT"; }

/* Reads one PDU and prints it. */
static void step_read(void)
{
	struct pdu pdu;
	enum rd r = read_pdu(&pdu, mono_ms() + (uint64_t)timeout_ms);
	if (r != RD_OK) {
		puts(rd_name(r));
		return;
	}
	char line[2048];
	describe_pdu(&pdu, line, sizeof line);
	puts(line);
	free(pdu.body);
}

static void step_wait_close(void)
{
	uint64_t t0 = mono_ms(), deadline = t0 + (uint64_t)timeout_ms;
	char line[4096] = "";
	size_t n = 0;
	for (;;) {
		struct pdu pdu;
		enum rd r = read_pdu(&pdu, deadline);
		if (r == RD_TIMEOUT) {
			printf("%sTIMEOUT\n", line);
			return;
		}
		if (r == RD_CLOSED) {
			printf("%sCLOSED ms=%llu\n", line, (unsigned long long)(mono_ms() - t0));
			return;
		}
		if (n < sizeof line - 64) {
			describe_pdu(&pdu, line + n, sizeof line - n - 2);
			n = strlen(line);
			line[n++] = ' ';
			line[n] = 0;
		}
		free(pdu.body);
	}
}

/* ---- A-ASSOCIATE-RQ ------------------------------------------------------------------ */

static size_t build_rq(uint8_t *out, size_t cap)
{
	struct ul_assoc_rq *rq = calloc(1, sizeof *rq);
	if (!rq)
		exit(4);
	rq->protocol_version = 1;
	snprintf(rq->called, sizeof rq->called, "%s", aec);
	snprintf(rq->calling, sizeof rq->calling, "%s", aet);
	snprintf(rq->app_context, sizeof rq->app_context, "%s", UL_APP_CONTEXT);
	static const char *def = "1.2.840.10008.1.1,1.2.840.10008.1.2";
	unsigned n = n_pc_spec ? n_pc_spec : 1;
	for (unsigned i = 0; i < n; i++) {
		struct ul_pc_rq *pc = &rq->pc[rq->n_pc++];
		pc->id = (uint8_t)(2 * i + 1);
		char buf[1024];
		snprintf(buf, sizeof buf, "%s", n_pc_spec ? pc_spec[i] : def);
		char *save = NULL, *tok = strtok_r(buf, ",", &save);
		snprintf(pc->abstract, sizeof pc->abstract, "%s", tok ? tok : "");
		while ((tok = strtok_r(NULL, ",", &save)) && pc->n_ts < UL_MAX_TS)
			snprintf(pc->ts[pc->n_ts++], sizeof pc->ts[0], "%s", tok);
		if (pc->n_ts == 0)
			snprintf(pc->ts[pc->n_ts++], sizeof pc->ts[0], "1.2.840.10008.1.2");
	}
	rq->ui.max_length = our_max_pdu;
	snprintf(rq->ui.impl_class_uid, sizeof rq->ui.impl_class_uid, "1.2.826.0.1.3680043.9.7777.99");
	snprintf(rq->ui.impl_version, sizeof rq->ui.impl_version, "RAWPEER");
	size_t len = 0;
	int rc = ul_assoc_rq_encode(rq, out, cap, &len);
	free(rq);
	if (rc < 0)
		usage("cannot encode the A-ASSOCIATE-RQ (bad -pc?)");
	return len;
}

/* ---- DIMSE --------------------------------------------------------------------------- */

/* Reads P-DATA-TF PDUs until a complete command arrives and prints its status; any other
 * PDU, a close or a timeout is printed instead. */
static void read_response(void)
{
	uint64_t deadline = mono_ms() + (uint64_t)timeout_ms;
	uint8_t cmd[8192];
	size_t cmd_len = 0;
	for (;;) {
		struct pdu pdu;
		enum rd r = read_pdu(&pdu, deadline);
		if (r != RD_OK) {
			puts(rd_name(r));
			return;
		}
		if (pdu.type == UL_PDU_PDATA_TF && our_max_pdu && pdu.len > our_max_pdu) {
			/* PS3.8 D.1: the daemon must respect the Maximum Length we announced. */
			printf("OVERSIZE length=%u max=%u\n", pdu.len, our_max_pdu);
			free(pdu.body);
			return;
		}
		if (pdu.type != UL_PDU_PDATA_TF) {
			char line[2048];
			describe_pdu(&pdu, line, sizeof line);
			puts(line);
			free(pdu.body);
			return;
		}
		size_t off = 0;
		struct ul_pdv pdv;
		int rc;
		while ((rc = ul_pdata_next(pdu.body, pdu.len, &off, &pdv)) == 1) {
			if (!(pdv.mch & UL_MCH_COMMAND))
				continue;
			if (cmd_len + pdv.len > sizeof cmd) {
				puts("BADRSP too long");
				free(pdu.body);
				return;
			}
			memcpy(cmd + cmd_len, pdv.data, pdv.len);
			cmd_len += pdv.len;
			if (pdv.mch & UL_MCH_LAST) {
				struct dimse_cmd c;
				int drc = dimse_cmd_decode(cmd, cmd_len, &c);
				if (drc < 0)
					printf("BADRSP err=\"%s\"\n", dimse_strerror(drc));
				else if (!c.has_status)
					printf("BADRSP no-status command=%s\n",
					       dimse_command_name(c.command_field));
				else
					printf("STATUS 0x%04X\n", c.status);
				free(pdu.body);
				return;
			}
		}
		free(pdu.body);
		if (rc < 0) {
			puts("BADRSP malformed P-DATA-TF");
			return;
		}
	}
}

static void send_txbuf(struct dimse_txbuf *tx)
{
	send_all(tx->data, tx->len);
	dimse_txbuf_reset(tx);
}

static void step_echo(uint8_t pc)
{
	struct dimse_cmd c;
	dimse_echo_rq(&c, next_msg_id++);
	snprintf(c.affected_sop_class, sizeof c.affected_sop_class, "%s", DIMSE_VERIFICATION_SOP_CLASS);
	struct dimse_txbuf tx = { 0 };
	if (dimse_tx_command(&tx, pc, &c, peer_max_pdu) < 0)
		usage("cannot encode C-ECHO-RQ");
	send_txbuf(&tx);
	dimse_txbuf_free(&tx);
	read_response();
}

/* The data set of a file: after a Part 10 meta header when there is one (PS3.10 7.1). */
static uint8_t *load_dataset(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		perror(path);
		exit(2);
	}
	fseek(f, 0, SEEK_END);
	long sz = ftell(f);
	fseek(f, 0, SEEK_SET);
	uint8_t *buf = malloc(sz > 0 ? (size_t)sz : 1);
	if (!buf || (sz > 0 && fread(buf, 1, (size_t)sz, f) != (size_t)sz))
		usage("cannot read the data-set file");
	fclose(f);
	size_t off = 0;
	if (sz >= 144 && memcmp(buf + 128, "DICM", 4) == 0 && buf[132] == 2 && buf[133] == 0 &&
	    buf[134] == 0 && buf[135] == 0 && memcmp(buf + 136, "UL", 2) == 0) {
		uint32_t gl = (uint32_t)buf[140] | (uint32_t)buf[141] << 8 | (uint32_t)buf[142] << 16 |
			      (uint32_t)buf[143] << 24;
		off = 144 + (size_t)gl;
		if (off > (size_t)sz)
			usage("bad meta header group length");
	}
	*len = (size_t)sz - off;
	memmove(buf, buf + off, *len);
	return buf;
}

static void step_store(char *args, bool with_data)
{
	char *save = NULL;
	char *pc_s = strtok_r(args, ":", &save);
	char *cls = strtok_r(NULL, ":", &save);
	char *inst = strtok_r(NULL, ":", &save);
	char *file = with_data ? strtok_r(NULL, ":", &save) : NULL;
	char *limit_s = with_data ? strtok_r(NULL, ":", &save) : NULL;
	if (!pc_s || !cls || !inst || (with_data && !file))
		usage("store:PC:CLASS:INSTANCE:FILE[:LIMIT]");
	uint8_t pc = (uint8_t)atoi(pc_s);
	struct dimse_cmd c;
	dimse_store_rq(&c, next_msg_id++, cls, inst, DIMSE_PRIORITY_MEDIUM);
	struct dimse_txbuf tx = { 0 };
	if (!with_data) {
		/* The codec refuses to encode this invalid message (PS3.7 9.3.1.1: a C-STORE-RQ
		 * has a data set), so patch Command Data Set Type (0000,0800) by hand. */
		uint8_t cmd[DIMSE_MAX_ENCODED + 12];
		size_t n = 0;
		if (dimse_cmd_encode(&c, cmd + 12, sizeof cmd - 12, &n) < 0)
			usage("cannot encode C-STORE-RQ");
		static const uint8_t tag[] = { 0x00, 0x00, 0x00, 0x08, 0x02, 0x00, 0x00, 0x00 };
		uint8_t *p = memmem(cmd + 12, n, tag, sizeof tag);
		if (!p)
			usage("no (0000,0800) in the command");
		p[8] = 0x01;
		p[9] = 0x01;
		ul_pdata_header_encode(cmd, (uint32_t)n, pc, UL_MCH_COMMAND | UL_MCH_LAST);
		send_all(cmd, n + 12);
		read_response();
		return;
	}
	if (dimse_tx_command(&tx, pc, &c, peer_max_pdu) < 0)
		usage("cannot encode C-STORE-RQ");
	send_txbuf(&tx);
	{
		size_t len;
		uint8_t *ds = load_dataset(file, &len);
		bool partial = false;
		if (limit_s) {
			size_t lim = strtoul(limit_s, NULL, 0);
			if (lim < len) {
				len = lim;
				partial = true;
			}
		}
		/* Streamed in 64 KiB pieces so a large data set never sits whole in one buffer. */
		for (size_t off = 0; off < len || (off == 0 && len == 0);) {
			size_t k = len - off > 65536 ? 65536 : len - off;
			bool last = !partial && off + k == len;
			if (dimse_tx_data(&tx, pc, ds + off, k, last, peer_max_pdu) < 0)
				usage("cannot frame the data set");
			send_txbuf(&tx);
			off += k;
			if (len == 0)
				break;
		}
		free(ds);
		if (partial) {
			printf("SENT %zu\n", len);
			dimse_txbuf_free(&tx);
			return;
		}
	}
	dimse_txbuf_free(&tx);
	read_response();
}

/* Sends everything or reports that the connection broke. */
static bool send_all_ok(const uint8_t *p, size_t n)
{
	do_connect();
	while (n > 0) {
		ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return false;
		p += k;
		n -= (size_t)k;
	}
	return true;
}

static void step_echo_flood(unsigned long n)
{
	struct dimse_cmd c;
	struct dimse_txbuf tx = { 0 };
	for (unsigned long i = 0; i < n; i++) {
		dimse_echo_rq(&c, next_msg_id++);
		snprintf(c.affected_sop_class, sizeof c.affected_sop_class, "%s",
			 DIMSE_VERIFICATION_SOP_CLASS);
		if (dimse_tx_command(&tx, 1, &c, peer_max_pdu) < 0)
			usage("cannot encode C-ECHO-RQ");
		if (tx.len < 65536 && i + 1 < n)
			continue; /* batch a few RQs per send */
		bool ok = send_all_ok(tx.data, tx.len);
		dimse_txbuf_reset(&tx);
		if (!ok) {
			puts("FLOOD broken");
			dimse_txbuf_free(&tx);
			return;
		}
	}
	dimse_txbuf_free(&tx);
	puts("FLOOD sent");
}

static void step_drip(const char *args)
{
	unsigned long n = 0, ms = 0;
	if (sscanf(args, "%lu:%lu", &n, &ms) != 2)
		usage("drip:N:MS");
	do_connect();
	uint64_t t0 = mono_ms();
	for (unsigned long i = 0; i < n; i++) {
		struct pollfd pf = { .fd = fd, .events = POLLIN };
		if (poll(&pf, 1, (int)ms) > 0) {
			printf("DRIP stopped ms=%llu\n", (unsigned long long)(mono_ms() - t0));
			return;
		}
		uint8_t zero = 0;
		if (!send_all_ok(&zero, 1)) {
			printf("DRIP stopped ms=%llu\n", (unsigned long long)(mono_ms() - t0));
			return;
		}
	}
	puts("DRIP done");
}

/* ---- raw bytes ----------------------------------------------------------------------- */

static size_t parse_hex(const char *s, uint8_t *out, size_t cap)
{
	size_t n = 0;
	while (*s) {
		if (*s == ' ' || *s == '_' || *s == ':') {
			s++;
			continue;
		}
		unsigned v;
		if (sscanf(s, "%2x", &v) != 1 || !s[1] || n >= cap)
			usage("bad hex");
		out[n++] = (uint8_t)v;
		s += 2;
	}
	return n;
}

static void step(char *arg)
{
	if (strcmp(arg, "assoc") == 0 || strncmp(arg, "rqpatch:", 8) == 0 ||
	    strncmp(arg, "rqtrunc:", 8) == 0) {
		static uint8_t rq[1 << 16];
		size_t len = build_rq(rq, sizeof rq);
		if (strncmp(arg, "rqtrunc:", 8) == 0) {
			size_t n = strtoul(arg + 8, NULL, 0);
			send_all(rq, n < len ? n : len);
			return;
		}
		if (arg[0] == 'r') {
			char *save = NULL;
			for (char *tok = strtok_r(arg + 8, ",", &save); tok;
			     tok = strtok_r(NULL, ",", &save)) {
				unsigned off, val;
				if (sscanf(tok, "%u=%x", &off, &val) != 2 || off >= len)
					usage("rqpatch:OFF=HH[,OFF=HH...]");
				rq[off] = (uint8_t)val;
			}
		}
		send_all(rq, len);
		step_read();
	} else if (strncmp(arg, "hex:", 4) == 0) {
		static uint8_t buf[1 << 16];
		size_t n = parse_hex(arg + 4, buf, sizeof buf);
		send_all(buf, n);
	} else if (strncmp(arg, "pdata-len:", 10) == 0) {
		uint32_t n = (uint32_t)strtoul(arg + 10, NULL, 0);
		uint8_t p[12] = { UL_PDU_PDATA_TF, 0, (uint8_t)(n >> 24), (uint8_t)(n >> 16),
				  (uint8_t)(n >> 8), (uint8_t)n, 0, 0, 0, 2, 1, 3 };
		send_all(p, sizeof p);
	} else if (strcmp(arg, "read") == 0) {
		step_read();
	} else if (strcmp(arg, "wait-close") == 0) {
		do_connect();
		step_wait_close();
	} else if (strcmp(arg, "echo") == 0 || strncmp(arg, "echo:", 5) == 0) {
		step_echo(arg[4] == ':' ? (uint8_t)atoi(arg + 5) : 1);
	} else if (strncmp(arg, "store:", 6) == 0) {
		step_store(arg + 6, true);
	} else if (strncmp(arg, "store-nodata:", 13) == 0) {
		step_store(arg + 13, false);
	} else if (strcmp(arg, "abort") == 0) {
		uint8_t p[10];
		ul_abort_encode(p, UL_ABORT_SRC_USER, 0);
		send_all(p, sizeof p);
	} else if (strcmp(arg, "release") == 0) {
		uint8_t p[10];
		ul_release_rq_encode(p);
		send_all(p, sizeof p);
		struct pdu pdu;
		enum rd r = read_pdu(&pdu, mono_ms() + (uint64_t)timeout_ms);
		if (r != RD_OK) {
			puts(rd_name(r));
			return;
		}
		if (pdu.type == UL_PDU_RELEASE_RP) {
			puts("RELEASED");
		} else {
			char line[2048];
			describe_pdu(&pdu, line, sizeof line);
			puts(line);
		}
		free(pdu.body);
	} else if (strncmp(arg, "sleep:", 6) == 0) {
		long ms = strtol(arg + 6, NULL, 0);
		struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
		nanosleep(&ts, NULL);
	} else if (strncmp(arg, "waitfile:", 9) == 0) {
		for (int i = 0; i < 600; i++) {
			if (access(arg + 9, F_OK) == 0) {
				puts("WAITED");
				return;
			}
			struct timespec ts = { 0, 100000000L };
			nanosleep(&ts, NULL);
		}
		puts("NOFILE");
	} else if (strncmp(arg, "echo-flood:", 11) == 0) {
		step_echo_flood(strtoul(arg + 11, NULL, 0));
	} else if (strncmp(arg, "drip:", 5) == 0) {
		step_drip(arg + 5);
	} else if (strncmp(arg, "mark:", 5) == 0) {
		puts(arg + 5);
	} else {
		fprintf(stderr, "rawpeer: unknown step '%s'\n", arg);
		exit(2);
	}
	fflush(stdout);
}

int main(int argc, char **argv)
{
	int i = 1;
	for (; i < argc && argv[i][0] == '-'; i++) {
		const char *o = argv[i];
		if (i + 1 >= argc)
			usage("option without a value");
		const char *v = argv[++i];
		if (strcmp(o, "-p") == 0)
			port = atoi(v);
		else if (strcmp(o, "-b") == 0)
			src_addr = v;
		else if (strcmp(o, "-t") == 0)
			timeout_ms = atoi(v);
		else if (strcmp(o, "-aet") == 0)
			aet = v;
		else if (strcmp(o, "-aec") == 0)
			aec = v;
		else if (strcmp(o, "-pc") == 0) {
			if (n_pc_spec >= MAX_PCS)
				usage("too many -pc");
			pc_spec[n_pc_spec++] = v;
		} else if (strcmp(o, "-maxpdu") == 0)
			our_max_pdu = (uint32_t)strtoul(v, NULL, 0);
		else if (strcmp(o, "-rcvbuf") == 0)
			rcvbuf = atoi(v);
		else
			usage("unknown option");
	}
	if (port <= 0 || port > 65535)
		usage("-p PORT is required");
	if (i >= argc)
		usage("no steps");
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (; i < argc; i++)
		step(argv[i]);
	if (fd >= 0)
		close(fd);
	return 0;
}
