/*
 * libFuzzer target for the configuration parser (src/util/config.c, on libinih). The input is
 * the text of a configuration file; it is written to a memfd and config_load() reads it through
 * /proc/self/fd/N, as it would a file. Property: whatever loads, config_write() prints, and that
 * text loads again and prints identically (the check-only mode relies on it).
 * Build: `make fuzz` (tests/fuzz/local.mk).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "util/config.h"
#include "util/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

static int fd = -1;
static char path[64];

static int put(const void *buf, size_t n)
{
	if (ftruncate(fd, 0) != 0 || lseek(fd, 0, SEEK_SET) != 0)
		return -1;
	return write(fd, buf, n) == (ssize_t)n ? 0 : -1;
}

/* config_write of c into a malloc'd string (caller frees); NULL on failure */
static char *print(const struct config *c, size_t *len)
{
	char *s = NULL;
	FILE *f = open_memstream(&s, len);
	if (f == NULL)
		abort();
	if (config_write(c, f) != 0)
		abort();
	fclose(f);
	return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	struct config c1, c2;
	char err[512];
	char *w1, *w2;
	size_t l1, l2;

	if (fd < 0) {
		log_set_level(LOG_LVL_ERR); /* warnings for unknown keys would flood the output */
		fd = memfd_create("fuzz_config", 0);
		if (fd < 0)
			abort();
		snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	}
	if (put(d, n) != 0)
		abort();
	err[0] = '\0';
	if (config_load(path, &c1, err, sizeof err) != 0) {
		if (err[0] == '\0' || strpbrk(err, "\n") != NULL)
			abort();
		config_free(&c1);
		return 0;
	}
	w1 = print(&c1, &l1);
	config_free(&c1);
	/* Known gap (reported): a value that begins with ';' or '#' loads (inih only takes an
	 * inline comment after whitespace) but config_write's "key = value" turns it into a
	 * comment. The INI format has no quoting; such values are not round-tripped here. */
	if (strstr(w1, "= ;") != NULL || strstr(w1, "= #") != NULL) {
		free(w1);
		return 0;
	}
	if (put(w1, l1) != 0)
		abort();
	if (config_load(path, &c2, err, sizeof err) != 0) {
		fprintf(stderr, "config_write output does not load: %s\n--\n%s--\n", err, w1);
		abort();
	}
	w2 = print(&c2, &l2);
	config_free(&c2);
	if (l1 != l2 || memcmp(w1, w2, l1) != 0) {
		fprintf(stderr, "config_write is not a fixed point:\n--\n%s--\n%s--\n", w1, w2);
		abort();
	}
	free(w1);
	free(w2);
	return 0;
}
