/*
 * sync_pattern — the disk's floor under one association's durable C-STORE, without any DICOM:
 * per "instance", the file system calls that each server makes before it may answer, timed one
 * instance after the other (as at one association, where the peer waits for each answer).
 *
 *   shim      create, write, fdatasync, close, fsync of the directory: storescp with
 *             bench/fsync_shim.so (two syncs, one after the other)
 *   parallel  create in a spool folder, write, rename into the final folder, then fdatasync of
 *             the file, fsync of the directory and fdatasync of an index WAL (WAL_PAGES pages
 *             overwritten first) on three threads at once: dicomaid's group commit of one
 *             instance
 *   serial    the same three syncs one after the other
 *   file-only create, write, fdatasync (a lower bound: no directory, no index)
 *
 * usage: sync_pattern DIR [N [SIZE [WAL_PAGES]]]   (defaults 400 instances of 132526 bytes,
 * 10 WAL pages of 4 KiB: a 256x256 MR slice and dicomaid's index pages per instance).
 * Prints the median and 90th percentile in milliseconds of each pattern, interleaved in
 * rounds of 50 so that a drift of the machine affects all alike. DIR must be on the disk to
 * measure (not tmpfs); everything it creates there is removed at the end.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum { SHIM, PARALLEL, SERIAL, FILE_ONLY, NPAT };
static const char *names[NPAT] = { "shim", "parallel", "serial", "file-only" };

static const char *dir;
static char *buf;
static size_t size;
static int walfd, spoolfd, finalfd;
static size_t wal_pages, wal_next;
static unsigned long seq;

static void die(const char *what)
{
	fprintf(stderr, "sync_pattern: %s: %s\n", what, strerror(errno));
	exit(1);
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void write_all(int fd, const char *p, size_t n, off_t off)
{
	while (n > 0) {
		ssize_t k = pwrite(fd, p, n, off);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			die("pwrite");
		p += k;
		n -= (size_t)k;
		off += k;
	}
}

struct sync_arg {
	int fd;
	bool data_only;
	pthread_t t;
};

static void *sync_main(void *p)
{
	struct sync_arg *a = p;

	if ((a->data_only ? fdatasync(a->fd) : fsync(a->fd)) < 0)
		die("sync");
	return NULL;
}

static void wal_write(void)
{
	for (size_t i = 0; i < wal_pages; i++) {
		write_all(walfd, buf, 4096, (off_t)(wal_next * 4096));
		wal_next = (wal_next + 1) % 1000; /* a WAL that restarts after 1000 pages */
	}
}

static double one(int pat)
{
	char name[64];
	double t0 = now_ms();
	int fd;

	snprintf(name, sizeof name, "%lu.dcm", ++seq);
	fd = openat(pat == PARALLEL || pat == SERIAL ? spoolfd : finalfd, name,
		    O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0640);
	if (fd < 0)
		die("create");
	write_all(fd, buf, size, 0);
	switch (pat) {
	case SHIM:
		if (fdatasync(fd) < 0 || fsync(finalfd) < 0)
			die("sync");
		break;
	case FILE_ONLY:
		if (fdatasync(fd) < 0)
			die("sync");
		break;
	case PARALLEL:
	case SERIAL: {
		struct sync_arg a[3] = { { fd, true, 0 }, { finalfd, false, 0 }, { walfd, true, 0 } };

		if (renameat(spoolfd, name, finalfd, name) < 0)
			die("rename");
		wal_write();
		for (int i = 0; i < 3; i++) {
			if (pat == SERIAL)
				sync_main(&a[i]);
			else if (pthread_create(&a[i].t, NULL, sync_main, &a[i]) != 0)
				die("pthread_create");
		}
		if (pat == PARALLEL)
			for (int i = 0; i < 3; i++)
				pthread_join(a[i].t, NULL);
		break;
	}
	}
	if (close(fd) < 0)
		die("close");
	return now_ms() - t0;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	size_t n = 400;
	double *t[NPAT];
	char path[4096];

	if (argc < 2) {
		fprintf(stderr, "usage: sync_pattern DIR [N [SIZE [WAL_PAGES]]]\n");
		return 2;
	}
	dir = argv[1];
	n = argc > 2 ? strtoul(argv[2], NULL, 10) : 400;
	size = argc > 3 ? strtoul(argv[3], NULL, 10) : 132526;
	wal_pages = argc > 4 ? strtoul(argv[4], NULL, 10) : 10;
	n = (n + 49) / 50 * 50;
	buf = malloc(size > 4096 ? size : 4096);
	if (!buf)
		die("malloc");
	for (size_t i = 0; i < (size > 4096 ? size : 4096); i++)
		buf[i] = (char)(i * 7 + 1);
	snprintf(path, sizeof path, "%s/spool", dir);
	if (mkdir(path, 0750) < 0 && errno != EEXIST)
		die("mkdir spool");
	spoolfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	snprintf(path, sizeof path, "%s/final", dir);
	if (mkdir(path, 0750) < 0 && errno != EEXIST)
		die("mkdir final");
	finalfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	snprintf(path, sizeof path, "%s/index-wal", dir);
	walfd = open(path, O_CREAT | O_RDWR | O_CLOEXEC, 0640);
	if (spoolfd < 0 || finalfd < 0 || walfd < 0)
		die("open");
	/* the WAL exists at its full size, as after its first 1000 pages */
	for (size_t i = 0; i < 1000; i++)
		write_all(walfd, buf, 4096, (off_t)(i * 4096));
	if (fsync(walfd) < 0 || fsync(finalfd) < 0)
		die("fsync");
	for (int p = 0; p < NPAT; p++)
		if (!(t[p] = calloc(n, sizeof *t[p])))
			die("calloc");
	for (size_t r = 0; r < n; r += 50)
		for (int p = 0; p < NPAT; p++)
			for (size_t i = r; i < r + 50; i++)
				t[p][i] = one(p);
	printf("per instance of %zu bytes, %zu instances each, %zu WAL pages (ms):\n", size, n,
	       wal_pages);
	for (int p = 0; p < NPAT; p++) {
		qsort(t[p], n, sizeof *t[p], cmp);
		printf("  %-10s median %.3f  p90 %.3f\n", names[p], t[p][n / 2], t[p][n * 9 / 10]);
	}
	/* clean up */
	for (unsigned long i = 1; i <= seq; i++) {
		char name[64];

		snprintf(name, sizeof name, "%lu.dcm", i);
		unlinkat(finalfd, name, 0);
		unlinkat(spoolfd, name, 0);
	}
	snprintf(path, sizeof path, "%s/spool", dir);
	rmdir(path);
	snprintf(path, sizeof path, "%s/final", dir);
	rmdir(path);
	snprintf(path, sizeof path, "%s/index-wal", dir);
	unlink(path);
	return 0;
}
