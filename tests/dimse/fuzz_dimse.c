/*
 * Fuzz driver for the pure DIMSE code (STYLE habit 2). dimse_fuzz_one() takes arbitrary bytes:
 * first byte odd: the rest is a command set for dimse_cmd_decode(); a decoded C-service command
 * that re-encodes must decode again to the same bytes (encode(decode(x)) is a fixed point),
 * and its dimse_cmd_describe() line must be complete and free of line breaks.
 * First byte even: the rest is a PDV stream [pc id, control header, n, n bytes]... fed to
 * dimse_rx_pdv(). Returns 0, or -1 when a property is violated (crashes are caught by ASan).
 * fuzz_test.c runs it on mutated seeds in every `make check`; for a libFuzzer campaign:
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -DDIMSE_LIBFUZZER -Isrc \
 *     tests/dimse/fuzz_dimse.c src/dimse/command.c src/dimse/rx.c src/dimse/tx.c -o fuzz_dimse
 */
#include <stdlib.h>
#include <string.h>

#include "dimse/command.h"
#include "dimse/rx.h"
#include "fuzz_dimse.h"

static int fz_cmd(void *ctx, uint8_t pc, const struct dimse_cmd *c)
{
	size_t *n = ctx;
	(*n)++;
	return dimse_command_name(c->command_field) != NULL ? 0 : -1;
}

static int fz_data(void *ctx, uint8_t pc, const uint8_t *buf, size_t len, bool last)
{
	volatile uint8_t sink = 0;
	size_t i;
	for (i = 0; i < len; i++) /* touch every byte: ASan checks the bounds */
		sink ^= buf[i];
	(void)sink;
	return 0;
}

static int fuzz_command(const uint8_t *data, size_t size)
{
	struct dimse_cmd c, c2;
	uint8_t e1[DIMSE_MAX_ENCODED], e2[DIMSE_MAX_ENCODED];
	size_t n1, n2;

	char line[1024];
	int len;

	if (dimse_cmd_decode(data, size, &c) < 0)
		return 0;
	/* the log description is complete, one line, printable */
	len = dimse_cmd_describe(&c, line, sizeof(line));
	if (len < 0 || (size_t)len >= sizeof(line) || strlen(line) != (size_t)len ||
	    strpbrk(line, "\r\n") != NULL)
		return -1;
	if (dimse_cmd_encode(&c, e1, sizeof(e1), &n1) < 0)
		return 0; /* e.g. N-service or missing mandatory field: refused, fine */
	if (dimse_cmd_decode(e1, n1, &c2) < 0)
		return -1;
	if (dimse_cmd_encode(&c2, e2, sizeof(e2), &n2) < 0 || n1 != n2 || memcmp(e1, e2, n1) != 0)
		return -1;
	return 0;
}

static int fuzz_rx(const uint8_t *data, size_t size)
{
	size_t ncmd = 0;
	struct dimse_rx_cb cb = { &ncmd, fz_cmd, fz_data };
	struct dimse_rx rx;
	int rc = 0;

	dimse_rx_init(&rx, &cb);
	while (size >= 3) {
		size_t n = data[2] < size - 3 ? data[2] : size - 3;
		uint8_t *copy = malloc(n ? n : 1); /* exact-size copy so overreads are caught */
		if (copy == NULL)
			break;
		memcpy(copy, data + 3, n);
		rc = dimse_rx_pdv(&rx, data[0], data[1], copy, n);
		free(copy);
		if (rc == -1)
			break;
		if (rc < 0 && dimse_rx_pdv(&rx, 1, 3, data, 0) != rc)
			rc = -1; /* errors must be sticky */
		if (rc < 0)
			break;
		data += 3 + n;
		size -= 3 + n;
	}
	dimse_rx_free(&rx);
	return rc == -1 ? -1 : 0;
}

int dimse_fuzz_one(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	if (data[0] & 1) {
		/* exact-size heap copy so that ASan sees reads past the end */
		uint8_t *copy = malloc(size - 1 ? size - 1 : 1);
		int rc;
		if (copy == NULL)
			return 0;
		memcpy(copy, data + 1, size - 1);
		rc = fuzz_command(copy, size - 1);
		free(copy);
		return rc;
	}
	return fuzz_rx(data + 1, size - 1);
}

#ifdef DIMSE_LIBFUZZER
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (dimse_fuzz_one(data, size) != 0)
		abort();
	return 0;
}
#endif
