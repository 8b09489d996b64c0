/* Group-commit benchmark (not a test): T threads each publish N instances of S bytes through
 * the store, as associations would, and the program prints the throughput and how many
 * batches and fsyncs it took. Usage: store_bench [threads] [per-thread] [bytes] [fsync 0/1]
 * (DEBUG=1 in the environment: one line per batch with the time of each stage).
 * Runs in a temporary directory under /tmp, removed at the end. */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "helpers.h"
#include "storage/index.h"
#include "storage/store.h"
#include "util/log.h"

static struct store *st;
static int per, bytes;
static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t c = PTHREAD_COND_INITIALIZER;
static long done_count, failed;

static void notify(void *arg)
{
	struct store_req *d, *next;

	(void)arg;
	store_drain(st, &d);
	pthread_mutex_lock(&m);
	for (; d; d = next) {
		next = d->next;
		done_count++;
		failed += d->result != 0;
		free(d);
	}
	pthread_cond_broadcast(&c);
	pthread_mutex_unlock(&m);
}

static void *sender(void *arg)
{
	int id = (int)(intptr_t)arg;
	char *buf = malloc((size_t)bytes);

	memset(buf, 'x', (size_t)bytes);
	for (int i = 0; i < per; i++) {
		struct store_req *r = calloc(1, sizeof *r);

		if (store_part_create(st, r->part_path, &r->fd) < 0 ||
		    write(r->fd, buf, (size_t)bytes) != bytes) {
			perror("part");
			exit(1);
		}
		th_attrs(&r->attrs, "1.2.3", "1.2.3.1", "1");
		snprintf(r->attrs.sop_instance_uid, sizeof r->attrs.sop_instance_uid,
			 "1.2.3.1.%d.%d", id, i);
		strcpy(r->ts_uid, "1.2.840.10008.1.2.1");
		r->size = bytes;
		if (store_submit(st, r) < 0)
			exit(1);
	}
	free(buf);
	return NULL;
}

int main(int argc, char **argv)
{
	int threads = argc > 1 ? atoi(argv[1]) : 4;
	char err[256], db[600], root[600];
	char *dir = th_tmpdir();
	struct index *ix;
	struct store_config cfg = { .notify = notify };
	struct store_stats s;
	struct timespec t0, t1;
	pthread_t th[64];
	double secs;

	per = argc > 2 ? atoi(argv[2]) : 500;
	bytes = argc > 3 ? atoi(argv[3]) : 65536;
	cfg.fsync = argc > 4 ? atoi(argv[4]) != 0 : true;
	if (getenv("DEBUG"))
		log_set_level(LOG_LVL_DEBUG);
	if (threads < 1 || threads > 64 || per < 1 || bytes < 1 || dir == NULL)
		return 2;
	snprintf(db, sizeof db, "%s/index.db", dir);
	snprintf(root, sizeof root, "%s/store", dir);
	cfg.root = root;
	if (index_open(db, false, &ix, err, sizeof err) < 0 || store_open(&cfg, ix, &st) < 0) {
		fprintf(stderr, "open: %s\n", err);
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < threads; i++)
		pthread_create(&th[i], NULL, sender, (void *)(intptr_t)i);
	for (int i = 0; i < threads; i++)
		pthread_join(th[i], NULL);
	pthread_mutex_lock(&m);
	while (done_count < (long)threads * per)
		pthread_cond_wait(&c, &m);
	pthread_mutex_unlock(&m);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	store_get_stats(st, &s);
	store_close(st);
	store_free(st);
	index_close(ix);
	secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("threads=%d items=%ld bytes=%d fsync=%d failed=%ld secs=%.3f items_per_s=%.0f "
	       "MB_per_s=%.1f batches=%llu items_per_batch=%.1f fsyncs=%llu\n",
	       threads, done_count, bytes, cfg.fsync, failed, secs, (double)done_count / secs,
	       (double)done_count * bytes / secs / 1e6, (unsigned long long)s.batches,
	       (double)s.items / (double)s.batches, (unsigned long long)s.fsyncs);
	th_rmtree(dir);
	free(dir);
	return failed != 0;
}
