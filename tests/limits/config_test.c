/*
 * The limit keys of dicomaid.conf(5) (issue 8): [server] max_associations_per_peer and
 * max_send_queue, [storage] max_instance_size and min_free_space. Their defaults, the size
 * syntax (bytes, K/M/G/T binary multiples, "KiB" too), the percentage form of
 * min_free_space, range errors reported as "file:line: message", and config_write writing
 * them back so that they load to the same values.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/config.h"

static char path[64];

static const char *write_tmp(const char *text)
{
	strcpy(path, "/tmp/dicomaid-limits-config-XXXXXX");
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	FILE *f = fdopen(fd, "w");
	fputs(text, f);
	fclose(f);
	return path;
}

static int load(const char *text, struct config *c, char *err, size_t errlen)
{
	int rc = config_load(write_tmp(text), c, err, errlen);
	unlink(path);
	return rc;
}

/* The error message without its "path:" prefix. */
static const char *after_path(const char *err)
{
	size_t n = strlen(path);
	cr_assert(strncmp(err, path, n) == 0, "%s", err);
	return err + n + 1;
}

Test(limits_config, defaults)
{
	struct config c;
	config_defaults(&c);
	cr_expect_eq(c.max_associations_per_peer, 16);
	cr_expect_eq(c.max_send_queue, 4u << 20);
	cr_expect_eq(c.max_instance_size, (uint64_t)2 << 30);
	cr_expect_eq(c.min_free_space, (uint64_t)1 << 30);
	cr_expect_eq(c.min_free_percent, 0);
}

Test(limits_config, sizes_and_suffixes)
{
	struct config c;
	char err[512] = "";
	cr_assert_eq(load("[server]\nmax_associations_per_peer = 0\nmax_send_queue = 64K\n"
			  "[storage]\nmax_instance_size = 3GiB\nmin_free_space = 1048576\n",
			  &c, err, sizeof err), 0, "%s", err);
	cr_expect_eq(c.max_associations_per_peer, 0);
	cr_expect_eq(c.max_send_queue, 65536u);
	cr_expect_eq(c.max_instance_size, (uint64_t)3 << 30);
	cr_expect_eq(c.min_free_space, 1048576u);
	cr_expect_eq(c.min_free_percent, 0);
	config_free(&c);

	cr_assert_eq(load("[storage]\nmax_instance_size = 0\nmin_free_space = 2t\n", &c, err,
			  sizeof err), 0, "%s", err);
	cr_expect_eq(c.max_instance_size, 0u);
	cr_expect_eq(c.min_free_space, (uint64_t)2 << 40);
	config_free(&c);
}

Test(limits_config, percentage)
{
	struct config c;
	char err[512] = "";
	cr_assert_eq(load("[storage]\nmin_free_space = 5%\n", &c, err, sizeof err), 0, "%s", err);
	cr_expect_eq(c.min_free_percent, 5);
	cr_expect_eq(c.min_free_space, 0u);
	config_free(&c);
}

Test(limits_config, errors)
{
	static const struct { const char *text, *msg; } cases[] = {
		{ "[server]\nmax_associations_per_peer = 4097\n",
		  "2: server.max_associations_per_peer: 4097 is out of range (0..4096)" },
		{ "[server]\n\nmax_send_queue = 1K\n",
		  "3: server.max_send_queue: 1K is out of range (4096..1073741824 bytes)" },
		{ "[server]\nmax_send_queue = 2G\n",
		  "2: server.max_send_queue: 2G is out of range (4096..1073741824 bytes)" },
		{ "[storage]\nmax_instance_size = 12X\n",
		  "2: storage.max_instance_size: '12X' is not a size (bytes, or a number with K, M, G or T)" },
		{ "[storage]\nmax_instance_size = -1\n",
		  "2: storage.max_instance_size: '-1' is not a size (bytes, or a number with K, M, G or T)" },
		{ "[storage]\nmax_instance_size = 99999999999999999999999\n",
		  "2: storage.max_instance_size: 99999999999999999999999 is out of range (0..18446744073709551615 bytes)" },
		{ "[storage]\nmax_instance_size = 17179869184T\n",
		  "2: storage.max_instance_size: 17179869184T is out of range (0..18446744073709551615 bytes)" },
		{ "[storage]\nmin_free_space = 100%\n",
		  "2: storage.min_free_space: 100 is out of range (0..99)" },
		{ "[storage]\nmin_free_space = %\n", "2: storage.min_free_space: a number is required" },
		{ "[storage]\nmin_free_space = 1G\nmin_free_space = 5%\n",
		  "3: duplicate key 'min_free_space' in [storage] (first on line 2)" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct config c;
		char err[512] = "";
		cr_expect_eq(load(cases[i].text, &c, err, sizeof err), -1, "case %zu loaded", i);
		cr_expect_str_eq(after_path(err), cases[i].msg, "case %zu", i);
	}
}

/* config_write (the effective configuration) writes the limits back exactly. */
Test(limits_config, write_reads_back)
{
	static const char *const texts[] = {
		"[server]\nmax_associations_per_peer = 3\nmax_send_queue = 1M\n"
		"[storage]\nmax_instance_size = 5G\nmin_free_space = 7%\n",
		"[storage]\nmin_free_space = 123456\n",
	};
	for (size_t i = 0; i < 2; i++) {
		struct config a, b;
		char err[512] = "", out[] = "/tmp/dicomaid-limits-write-XXXXXX";
		cr_assert_eq(load(texts[i], &a, err, sizeof err), 0, "%s", err);
		int fd = mkstemp(out);
		cr_assert_geq(fd, 0);
		FILE *f = fdopen(fd, "w");
		cr_assert_eq(config_write(&a, f), 0);
		fclose(f);
		cr_assert_eq(config_load(out, &b, err, sizeof err), 0, "%s", err);
		unlink(out);
		cr_expect_eq(a.max_associations_per_peer, b.max_associations_per_peer);
		cr_expect_eq(a.max_send_queue, b.max_send_queue);
		cr_expect_eq(a.max_instance_size, b.max_instance_size);
		cr_expect_eq(a.min_free_space, b.min_free_space);
		cr_expect_eq(a.min_free_percent, b.min_free_percent);
		config_free(&a);
		config_free(&b);
	}
}
