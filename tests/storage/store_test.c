/* Tests of src/storage/store.c: the committer thread publishes parts at the right paths with
 * the right bytes and rows, applies the duplicates policy, rejects UIDs that are not safe in a
 * path, cleans stale parts, and fails one item of a batch (bad fd, short file, ENOSPC) without
 * touching the others. ENOSPC uses a small tmpfs in a private mount namespace when the test
 * may mount (root); otherwise the same isolation is shown with a failing fd. */
#include "config.h"

#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>
#include <zlib.h>

#include "helpers.h"
#include "storage/crc32.h"
#include "storage/index.h"
#include "storage/store.h"

#define TS_EXPLICIT_LE "1.2.840.10008.1.2.1"

static char *dir;
static char root[600], db[600];
static struct index *ix;
static struct store *st;
static unsigned sync_threads; /* store_config.sync_threads of the next open_all */

/* What the notify callback saw; `hold` parks the committer inside notify so that the
 * requests submitted meanwhile all form the next batch. */
static struct {
	pthread_mutex_t m;
	pthread_cond_t c;
	unsigned notified;
	bool hold, held;
} W = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, false, false };

static void notify_cb(void *arg)
{
	cr_assert_eq(arg, &W);
	pthread_mutex_lock(&W.m);
	W.notified++;
	pthread_cond_broadcast(&W.c);
	if (W.hold) {
		W.held = true;
		pthread_cond_broadcast(&W.c);
		while (W.hold)
			pthread_cond_wait(&W.c, &W.m);
	}
	pthread_mutex_unlock(&W.m);
}

static void setup(void)
{
	dir = th_tmpdir();
	cr_assert_not_null(dir);
	snprintf(root, sizeof root, "%s/store", dir);
	snprintf(db, sizeof db, "%s/index.db", dir);
	ix = NULL;
	st = NULL;
}

static void teardown(void)
{
	if (st)
		store_free(st);
	index_close(ix);
	th_rmtree(dir);
	free(dir);
}

TestSuite(store, .init = setup, .fini = teardown, .timeout = 60);

static void open_all(bool fsync, enum store_dup_policy dup)
{
	char err[256];
	struct store_config cfg = { .root = root, .fsync = fsync, .duplicates = dup,
				    .sync_threads = sync_threads, .notify = notify_cb,
				    .notify_arg = &W };

	if (ix == NULL)
		cr_assert_eq(index_open(db, false, &ix, err, sizeof err), 0, "%s", err);
	cr_assert_eq(store_open(&cfg, ix, &st), 0);
}

/* A written part with the given UIDs; the content is derived from `tag`. */
static struct store_req *mk_req(const char *study, const char *series, const char *sop,
				const char *tag)
{
	struct store_req *r = calloc(1, sizeof *r);
	char data[256];
	int len;

	cr_assert_not_null(r);
	cr_assert_eq(store_part_create(st, r->part_path, &r->fd), 0);
	len = snprintf(data, sizeof data, "DICM part for %s (%s)\n", sop, tag);
	cr_assert_eq(write(r->fd, data, (size_t)len), len);
	th_attrs(&r->attrs, study, series, sop);
	strcpy(r->ts_uid, TS_EXPLICIT_LE);
	strcpy(r->calling_ae, "TESTSCU");
	r->size = len;
	return r;
}

static void submit(struct store_req *r)
{
	cr_assert_eq(store_submit(st, r), 0);
}

/* Waits until n requests came back; stores them in out[] in completion order. */
static void collect(struct store_req **out, size_t n)
{
	size_t got = 0;
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 20;
	while (got < n) {
		struct store_req *done, *next;
		unsigned seen;

		pthread_mutex_lock(&W.m);
		seen = W.notified;
		pthread_mutex_unlock(&W.m);
		store_drain(st, &done);
		for (; done; done = next) {
			next = done->next;
			cr_assert_lt(got, n, "more requests came back than were submitted");
			out[got++] = done;
		}
		if (got == n)
			break;
		pthread_mutex_lock(&W.m);
		while (W.notified == seen)
			cr_assert_neq(pthread_cond_timedwait(&W.c, &W.m, &until), ETIMEDOUT,
				      "timed out with %zu of %zu", got, n);
		pthread_mutex_unlock(&W.m);
	}
}

static struct store_req *collect1(void)
{
	struct store_req *r;

	collect(&r, 1);
	return r;
}

static void hold_next_batch(void)
{
	pthread_mutex_lock(&W.m);
	W.hold = true;
	W.held = false;
	pthread_mutex_unlock(&W.m);
}

static void wait_held(void)
{
	pthread_mutex_lock(&W.m);
	while (!W.held)
		pthread_cond_wait(&W.c, &W.m);
	pthread_mutex_unlock(&W.m);
}

static void release_batch(void)
{
	pthread_mutex_lock(&W.m);
	W.hold = false;
	pthread_cond_broadcast(&W.c);
	pthread_mutex_unlock(&W.m);
}

/* Submits a primer request (study, series, sop) and waits until the committer holds it in
 * its batch: what is submitted next is committed together, in the batch after it, once
 * release_batch() is called. */
static void hold_behind_primer(const char *study, const char *series, const char *sop)
{
	hold_next_batch();
	submit(mk_req(study, series, sop, "primer"));
	wait_held();
}

/* The file of a stored request holds exactly the bytes written for `tag`. */
static void assert_stored(const struct store_req *r, const char *tag)
{
	char path[1024], want[256], rel[256];
	unsigned char *got;
	size_t len = 0;

	snprintf(rel, sizeof rel, "%s/%s/%s.dcm", r->attrs.study_uid, r->attrs.series_uid,
		 r->attrs.sop_instance_uid);
	cr_assert_str_eq(r->final_rel_path, rel);
	snprintf(path, sizeof path, "%s/%s", root, rel);
	snprintf(want, sizeof want, "DICM part for %s (%s)\n", r->attrs.sop_instance_uid, tag);
	got = th_read_file(path, &len);
	cr_assert_not_null(got, "%s missing", path);
	cr_assert_eq(len, strlen(want));
	cr_assert_arr_eq(got, want, len);
	free(got);
}

static bool exists(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0;
}

static int64_t count_instances(void)
{
	return th_q_int(db, "SELECT count(*) FROM instances");
}

static int incoming_files(void)
{
	char p[1024];

	snprintf(p, sizeof p, "%s/incoming", root);
	return th_count_files(p);
}

Test(store, uid_check)
{
	char long_uid[80];

	cr_assert(store_uid_valid("1.2.840.10008.1.2.1"));
	cr_assert(store_uid_valid("0"));
	memset(long_uid, '1', 64);
	long_uid[64] = '\0';
	cr_assert(store_uid_valid(long_uid));
	long_uid[64] = '1';
	long_uid[65] = '\0';
	cr_assert_not(store_uid_valid(long_uid));
	cr_assert_not(store_uid_valid(""));
	cr_assert_not(store_uid_valid(NULL));
	cr_assert_not(store_uid_valid("../x"));
	cr_assert_not(store_uid_valid("1.2.abc"));
	cr_assert_not(store_uid_valid("1..2"));
	cr_assert_not(store_uid_valid(".1"));
	cr_assert_not(store_uid_valid("1.2."));
	cr_assert_not(store_uid_valid("1/2"));
	cr_assert_not(store_uid_valid("1.2 "));
}

Test(store, open_creates_layout_and_removes_stale_parts)
{
	char p[1024];
	int fd;

	snprintf(p, sizeof p, "%s/incoming", root);
	cr_assert_eq(mkdir(root, 0750), 0);
	cr_assert_eq(mkdir(p, 0750), 0);
	const char *names[] = { "a.part", "123-4-5.part", "keep.txt" };
	for (int i = 0; i < 3; i++) {
		snprintf(p, sizeof p, "%s/incoming/%s", root, names[i]);
		fd = open(p, O_CREAT | O_WRONLY, 0640);
		cr_assert_geq(fd, 0);
		close(fd);
	}
	open_all(true, DUP_OVERWRITE);
	cr_assert_eq(incoming_files(), 1);
	snprintf(p, sizeof p, "%s/incoming/keep.txt", root);
	cr_assert(exists(p), "only *.part files are removed");

	/* parts are created O_EXCL with unique names, mode 0640 */
	char a[PATH_MAX], b[PATH_MAX];
	int fa, fb;
	struct stat sb;
	cr_assert_eq(store_part_create(st, a, &fa), 0);
	cr_assert_eq(store_part_create(st, b, &fb), 0);
	cr_assert_str_neq(a, b);
	cr_assert_not_null(strstr(a, "/incoming/"));
	cr_assert_eq(stat(a, &sb), 0);
	cr_assert_eq(sb.st_mode & 0777, 0640);
	store_part_discard(st, a, fa);
	store_part_discard(st, b, fb);
	cr_assert_not(exists(a));
	cr_assert_not(exists(b));
	cr_assert_eq(incoming_files(), 1);
}

struct submitter {
	int id;
	int n;
	struct store_req **reqs;
};

static void *submit_thread(void *arg)
{
	struct submitter *t = arg;
	char series[32], sop[48];

	for (int i = 0; i < t->n; i++) {
		snprintf(series, sizeof series, "1.2.3.%d", i % 3);
		snprintf(sop, sizeof sop, "1.2.3.%d.%d.%d", i % 3, t->id, i);
		t->reqs[i] = mk_req("1.2.3", series, sop, "concurrent");
		submit(t->reqs[i]);
	}
	return NULL;
}

/* Joins the submitter threads, then collects n requests and checks that each was stored
 * with the bytes written for tag and its descriptor closed. */
static void join_collect_stored(pthread_t *th, int threads, struct store_req **done, int n,
				const char *tag)
{
	for (int i = 0; i < threads; i++)
		pthread_join(th[i], NULL);
	collect(done, (size_t)n);
	for (int i = 0; i < n; i++) {
		cr_assert_eq(done[i]->result, 0, "%s: %d", done[i]->attrs.sop_instance_uid,
			     done[i]->result);
		assert_stored(done[i], tag);
		cr_assert_eq(done[i]->fd, -1);
	}
}

/* Tail-only requests (the C-STORE SCP's small data sets) from several threads, paced so that
 * some queue while a batch syncs: those get their part created and written by the
 * look-ahead. Each thread stops once the store reports look-ahead work (at least MIN requests
 * each, at most MAX). Every file is whole, with the writer's CRC in store_pending. */
struct tail_submitter {
	int id, min, max, n;
	struct store_req **reqs;
	char (*data)[64];
};

static void *tail_submit_thread(void *arg)
{
	struct tail_submitter *t = arg;
	const struct timespec pause = { 0, 30 * 1000 };

	for (t->n = 0; t->n < t->max; t->n++) {
		struct store_req *r;
		struct store_stats stats;
		char sop[48], *d = t->data[t->n];
		int len;

		if (t->n >= t->min && t->n % 10 == 0) {
			store_get_stats(st, &stats);
			if (stats.ahead > 0)
				break;
		}
		r = calloc(1, sizeof *r);
		cr_assert_not_null(r);
		snprintf(sop, sizeof sop, "1.2.4.%d.%d", t->id, t->n);
		len = snprintf(d, sizeof t->data[0], "DICM part for %s (ahead)\n", sop);
		r->fd = -1;
		r->tail = (const uint8_t *)d;
		r->tail_len = (size_t)len;
		r->size = len;
		r->crc = store_crc32(0, r->tail, r->tail_len);
		r->crc_size = len;
		th_attrs(&r->attrs, "1.2.4", "1.2.4.1", sop);
		strcpy(r->ts_uid, TS_EXPLICIT_LE);
		t->reqs[t->n] = r;
		submit(r);
		nanosleep(&pause, NULL);
	}
	return NULL;
}

Test(store, queued_tails_written_ahead)
{
	enum { THREADS = 4, MIN = 25, MAX = 1500 };
	static char data[THREADS * MAX][64];
	static struct store_req *reqs[THREADS * MAX], *done[THREADS * MAX];
	pthread_t th[THREADS];
	struct tail_submitter sub[THREADS];
	struct store_stats stats;
	int n = 0;

	open_all(true, DUP_REJECT);
	for (int i = 0; i < THREADS; i++) {
		sub[i] = (struct tail_submitter){ i, MIN, MAX, 0, reqs + i * MAX, data + i * MAX };
		cr_assert_eq(pthread_create(&th[i], NULL, tail_submit_thread, &sub[i]), 0);
	}
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < THREADS; i++)
		n += sub[i].n;
	join_collect_stored(th, 0, done, n, "ahead");
	cr_assert_eq(count_instances(), n);
	cr_assert_eq(incoming_files(), 0);
	store_get_stats(st, &stats);
	cr_assert_eq(stats.stored, (uint64_t)n);
	cr_assert_gt(stats.ahead, 0, "no request was made ready while a batch synced "
		     "(%d requests, %llu batches)", n, (unsigned long long)stats.batches);
	cr_assert_leq(stats.ahead, (uint64_t)n);
	/* the rows still pending (the last batch's) carry the CRC of the bytes written */
	cr_assert_gt(th_q_int(db, "SELECT count(*) FROM store_pending"), 0);
	for (int i = 0; i < n; i++) {
		char q[256];
		const struct store_req *r = done[i];

		snprintf(q, sizeof q, "SELECT coalesce((SELECT p.file_crc32 FROM store_pending p "
			 "JOIN instances i ON i.id = p.instance_ref WHERE i.sop_instance_uid = '%s'), "
			 "%lld)", r->attrs.sop_instance_uid, (long long)r->crc);
		cr_assert_eq(th_q_int(db, q), (int64_t)r->crc, "%s", r->attrs.sop_instance_uid);
	}
	for (int i = 0; i < n; i++)
		free(done[i]);
	store_close(st);
}

Test(store, concurrent_submits_all_stored)
{
	enum { THREADS = 4, PER = 50, N = THREADS * PER };
	pthread_t th[THREADS];
	struct submitter sub[THREADS];
	struct store_req *reqs[N], *done[N];
	struct store_stats stats;

	open_all(true, DUP_REJECT);
	for (int i = 0; i < THREADS; i++) {
		sub[i] = (struct submitter){ i, PER, reqs + i * PER };
		cr_assert_eq(pthread_create(&th[i], NULL, submit_thread, &sub[i]), 0);
	}
	join_collect_stored(th, THREADS, done, N, "concurrent");
	/* every request came back exactly once */
	for (int i = 0; i < N; i++) {
		int seen = 0;
		for (int j = 0; j < N; j++)
			seen += done[j] == reqs[i];
		cr_assert_eq(seen, 1);
	}
	cr_assert_eq(count_instances(), N);
	cr_assert_eq(th_q_int(db, "SELECT count(*) FROM series"), 3);
	cr_assert_eq(th_q_int(db, "SELECT count(*) FROM studies"), 1);
	cr_assert_eq(th_q_int(db, "SELECT count(*) FROM instances WHERE file_size <= 0 OR "
				  "transfer_syntax <> '" TS_EXPLICIT_LE "' OR "
				  "calling_ae <> 'TESTSCU'"), 0);
	cr_assert_eq(th_count_files(root), N);
	cr_assert_eq(incoming_files(), 0);
	store_get_stats(st, &stats);
	cr_assert_eq(stats.items, N);
	cr_assert_eq(stats.stored, N);
	cr_assert_geq(stats.batches, 1);
	cr_assert_leq(stats.batches, N);
	cr_assert_geq(stats.fsyncs, N + stats.batches, "one fdatasync per file, dirs per batch");
	cr_log_info("store: %llu items in %llu batches, %llu fsyncs",
		    (unsigned long long)stats.items, (unsigned long long)stats.batches,
		    (unsigned long long)stats.fsyncs);
	for (int i = 0; i < N; i++)
		free(reqs[i]);
}

Test(store, fsync_off)
{
	struct store_req *r[3], *done[3];
	struct store_stats stats;

	open_all(false, DUP_OVERWRITE);
	r[0] = mk_req("1.2", "1.2.1", "1.2.1.1", "a");
	r[1] = mk_req("1.2", "1.2.1", "1.2.1.2", "a");
	r[2] = mk_req("1.3", "1.3.1", "1.3.1.1", "a");
	for (int i = 0; i < 3; i++)
		submit(r[i]);
	collect(done, 3);
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(done[i]->result, 0);
		assert_stored(done[i], "a");
		free(done[i]);
	}
	store_get_stats(st, &stats);
	cr_assert_eq(stats.fsyncs, 0);
	cr_assert_eq(count_instances(), 3);
}

/* Stores one part made by mk_req, asserts it was stored, and returns its request. */
static struct store_req *store_one(const char *study, const char *series, const char *sop,
				   const char *tag)
{
	struct store_req *r = mk_req(study, series, sop, tag);

	submit(r);
	r = collect1();
	cr_assert_eq(r->result, 0, "%s: %d", sop, r->result);
	assert_stored(r, tag);
	return r;
}

/* Stores sop 1.2.3.4.5 with tag "first", then with tag "second"; returns the second's req. */
static struct store_req *store_twice(enum store_dup_policy dup)
{
	struct store_req *r;

	open_all(true, dup);
	free(store_one("1.2.3", "1.2.3.4", "1.2.3.4.5", "first"));
	r = mk_req("1.2.3", "1.2.3.4", "1.2.3.4.5", "second-longer");
	submit(r);
	r = collect1();
	cr_assert_eq(count_instances(), 1);
	cr_assert_eq(incoming_files(), 0, "the part is published or removed");
	cr_assert_eq(th_count_files(root), 1);
	return r;
}

Test(store, duplicate_overwrite)
{
	struct store_req *r = store_twice(DUP_OVERWRITE);

	cr_assert_eq(r->result, 0);
	assert_stored(r, "second-longer");
	cr_assert_eq(th_q_int(db, "SELECT file_size FROM instances"), r->size);
	/* an overwrite is synced before its rename and never left pending (its check could
	 * remove the instance acknowledged first) */
	cr_assert_eq(th_q_int(db, "SELECT count(*) FROM store_pending"), 0);
	free(r);
}

Test(store, duplicate_keep)
{
	struct store_req *r = store_twice(DUP_KEEP);

	cr_assert_eq(r->result, STORE_DUPLICATE_KEPT);
	assert_stored(r, "first");
	cr_assert_eq(th_q_int(db, "SELECT file_size FROM instances"),
		     (int64_t)strlen("DICM part for 1.2.3.4.5 (first)\n"));
	free(r);
}

Test(store, duplicate_reject)
{
	struct store_req *r = store_twice(DUP_REJECT);

	cr_assert_eq(r->result, STORE_DUPLICATE_REJECTED);
	cr_assert_lt(r->result, 0);
	assert_stored(r, "first");
	free(r);
}

Test(store, duplicate_keep_within_one_batch)
{
	struct store_req *r[3], *done[3];

	sync_threads = 1; /* the committer syncs alone */
	open_all(true, DUP_KEEP);
	hold_behind_primer("1.9", "1.9.1", "1.9.1.1");
	r[0] = mk_req("1.2.3", "1.2.3.4", "1.2.3.4.5", "first");
	r[1] = mk_req("1.2.3", "1.2.3.4", "1.2.3.4.5", "second");
	submit(r[0]);
	submit(r[1]);
	release_batch();
	collect(done, 3);
	cr_assert_eq(r[0]->result, 0);
	cr_assert_eq(r[1]->result, STORE_DUPLICATE_KEPT);
	assert_stored(r[1], "first");
	cr_assert_eq(count_instances(), 2);
	cr_assert_eq(incoming_files(), 0);
	for (int i = 0; i < 3; i++)
		free(done[i]);
}

Test(store, unindexed_file_is_an_orphan_not_a_duplicate)
{
	struct store_req *r;
	char p[1024];
	FILE *f;

	open_all(true, DUP_REJECT);
	snprintf(p, sizeof p, "mkdir -p %s/1.2.3/1.2.3.4", root);
	cr_assert_eq(system(p), 0);
	snprintf(p, sizeof p, "%s/1.2.3/1.2.3.4/1.2.3.4.5.dcm", root);
	f = fopen(p, "w");
	cr_assert_not_null(f);
	fputs("left by a crash before the index commit", f);
	fclose(f);
	r = mk_req("1.2.3", "1.2.3.4", "1.2.3.4.5", "resent");
	submit(r);
	r = collect1();
	cr_assert_eq(r->result, 0);
	assert_stored(r, "resent");
	cr_assert_eq(count_instances(), 1);
	free(r);
}

Test(store, invalid_uids_never_reach_a_path)
{
	const char *bad[] = { "../x", "1.2.abc", "", "1..2", ".1", "1.2.", "/etc", "1.2 " };
	enum { NB = sizeof bad / sizeof bad[0] };
	struct store_req *done[3 * NB + 3], *r;
	char p[1024];

	open_all(true, DUP_OVERWRITE);
	for (int i = 0; i < NB; i++) {
		submit(mk_req("1.2", "1.2.3", bad[i], "bad-sop"));
		submit(mk_req(bad[i], "1.2.3", "1.2.3.4", "bad-study"));
		submit(mk_req("1.2", bad[i], "1.2.3.4", "bad-series"));
	}
	/* 65 digits cannot be held with a NUL by struct dcm_attrs: the field is full and
	 * unterminated, which the check must see without reading past it */
	r = mk_req("1.2", "1.2.3", "1.2.3.4", "too-long-sop");
	memset(r->attrs.sop_instance_uid, '1', sizeof r->attrs.sop_instance_uid);
	submit(r);
	r = mk_req("1.2", "1.2.3", "1.2.3.4", "too-long-study");
	memset(r->attrs.study_uid, '1', sizeof r->attrs.study_uid);
	submit(r);
	r = mk_req("1.2", "1.2.3", "1.2.3.4", "too-long-series");
	memset(r->attrs.series_uid, '1', sizeof r->attrs.series_uid);
	submit(r);
	collect(done, 3 * NB + 3);
	for (int i = 0; i < 3 * NB + 3; i++) {
		cr_assert_eq(done[i]->result, -EINVAL);
		free(done[i]);
	}
	cr_assert_eq(th_count_files(root), 0, "no file anywhere under the root");
	snprintf(p, sizeof p, "%s/x", dir);
	cr_assert_not(exists(p));
	snprintf(p, sizeof p, "%s/1.2", root);
	cr_assert_not(exists(p), "no directory made for a rejected request");
	cr_assert_eq(count_instances(), 0);
}

Test(store, failing_item_does_not_affect_its_batch)
{
	struct store_req *r[4], *done[5];
	char bad_part[PATH_MAX], short_part[PATH_MAX];

	sync_threads = 3; /* fewer sync threads than items */
	open_all(true, DUP_OVERWRITE);
	hold_behind_primer("1.9", "1.9.1", "1.9.1.1");
	r[0] = mk_req("1.2", "1.2.1", "1.2.1.1", "ok");
	r[1] = mk_req("1.2", "1.2.1", "1.2.1.2", "bad-fd");
	close(r[1]->fd); /* the writer lost its fd, and there is no tail to write: invalid */
	r[1]->fd = -1;
	strcpy(bad_part, r[1]->part_path);
	r[2] = mk_req("1.2", "1.2.1", "1.2.1.3", "short");
	r[2]->size += 100; /* fewer bytes on disk than the writer wrote */
	strcpy(short_part, r[2]->part_path);
	r[3] = mk_req("1.3", "1.3.1", "1.3.1.1", "ok");
	for (int i = 0; i < 4; i++)
		submit(r[i]);
	release_batch();
	collect(done, 5);

	struct store_stats stats;
	store_get_stats(st, &stats);
	cr_assert_eq(stats.batches, 2, "the four requests formed one batch");
	cr_assert_eq(r[0]->result, 0);
	assert_stored(r[0], "ok");
	cr_assert_eq(r[1]->result, -EINVAL);
	cr_assert_eq(r[2]->result, -EIO);
	cr_assert_eq(r[3]->result, 0);
	assert_stored(r[3], "ok");
	cr_assert_not(exists(bad_part));
	cr_assert_not(exists(short_part));
	cr_assert_eq(incoming_files(), 0);
	cr_assert_eq(th_count_files(root), 3);
	cr_assert_eq(count_instances(), 3);
	cr_assert_eq(th_q_int(db, "SELECT count(*) FROM instances WHERE sop_instance_uid "
				  "IN ('1.2.1.2', '1.2.1.3')"), 0);
	for (int i = 0; i < 5; i++)
		free(done[i]);
}

Test(store, failed_index_commit_removes_the_new_files)
{
	char err[256];
	struct index *rw;
	struct store_req *r[2], *done[2];

	/* a read-only index makes every index transaction fail (-EROFS) */
	cr_assert_eq(index_open(db, false, &rw, err, sizeof err), 0, "%s", err);
	index_close(rw);
	cr_assert_eq(index_open(db, true, &ix, err, sizeof err), 0, "%s", err);
	open_all(true, DUP_OVERWRITE);
	r[0] = mk_req("1.2", "1.2.1", "1.2.1.1", "x");
	r[1] = mk_req("1.2", "1.2.1", "1.2.1.2", "x");
	submit(r[0]);
	submit(r[1]);
	collect(done, 2);
	cr_assert_eq(r[0]->result, -EROFS);
	cr_assert_eq(r[1]->result, -EROFS);
	cr_assert_eq(th_count_files(root), 0, "nothing stays on disk that is not indexed");
	struct store_stats stats;
	store_get_stats(st, &stats);
	cr_assert_geq(stats.index_failures, 1);
	cr_assert_eq(stats.stored, 0);
	free(r[0]);
	free(r[1]);
}

Test(store, close_finishes_queued_requests)
{
	enum { N = 20 };
	struct store_req *done, *r, *next;
	size_t n;
	int ok = 0;

	open_all(true, DUP_OVERWRITE);
	for (int i = 0; i < N; i++) {
		char sop[32];
		snprintf(sop, sizeof sop, "1.2.1.%d", i);
		submit(mk_req("1.2", "1.2.1", sop, "c"));
	}
	store_close(st);
	n = store_drain(st, &done);
	for (r = done; r; r = next) {
		next = r->next;
		ok += r->result == 0;
		free(r);
	}
	cr_assert_eq(n, N);
	cr_assert_eq(ok, N);
	cr_assert_eq(count_instances(), N);
	r = mk_req("1.2", "1.2.1", "1.2.1.99", "late");
	cr_assert_eq(store_submit(st, r), -ESHUTDOWN);
	store_part_discard(st, r->part_path, r->fd);
	free(r);
	cr_assert_eq(incoming_files(), 0);
	store_close(st); /* idempotent */
}

/* A tmpfs of our own at path, in a private mount namespace of this test process (Criterion
 * runs each test in its own process), so it vanishes with the process. */
static bool private_tmpfs(const char *path, const char *opts)
{
	if (mkdir(path, 0750) < 0 && errno != EEXIST)
		return false;
	if (unshare(CLONE_NEWNS) < 0) {
		cr_log_warn("unshare(CLONE_NEWNS): %s", strerror(errno));
		return false;
	}
	if (mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("tmpfs", path, "tmpfs", 0, opts) < 0) {
		cr_log_warn("mount tmpfs: %s", strerror(errno));
		return false;
	}
	return true;
}

/* Without privileges: the failing item is a part whose fd is gone (as when the glue's write
 * failed), shown to fail alone in its batch. */
static void failing_fd_fallback(void)
{
	struct store_req *r[2], *done[3];

	cr_log_warn("tmpfs unavailable: ENOSPC replaced by a failing fd");
	open_all(true, DUP_OVERWRITE);
	hold_behind_primer("1.9", "1.9.1", "1.9.1.1");
	r[0] = mk_req("1.2", "1.2.1", "1.2.1.1", "ok");
	r[1] = mk_req("1.2", "1.2.1", "1.2.1.2", "bad");
	close(r[1]->fd);
	r[1]->fd = -1;
	submit(r[0]);
	submit(r[1]);
	release_batch();
	collect(done, 3);
	cr_assert_eq(r[0]->result, 0);
	cr_assert_lt(r[1]->result, 0);
	cr_assert_eq(incoming_files(), 0);
	for (int i = 0; i < 3; i++)
		free(done[i]);
}

Test(store, enospc_on_mkdir_fails_one_item)
{
	char mnt[512], p[1024];
	struct store_req *r[3], *done[4];
	int nfill = 0;

	snprintf(mnt, sizeof mnt, "%s/mnt", dir);
	if (!private_tmpfs(mnt, "size=4m,nr_inodes=64")) {
		failing_fd_fallback();
		return;
	}
	snprintf(root, sizeof root, "%s/store", mnt);
	open_all(true, DUP_OVERWRITE);
	hold_behind_primer("1.1", "1.1.1", "1.1.1.1");
	r[0] = mk_req("1.1", "1.1.2", "1.1.2.1", "new-series"); /* needs 1 inode */
	r[1] = mk_req("1.9", "1.9.1", "1.9.1.1", "new-study");  /* needs 2 inodes */
	r[2] = mk_req("1.1", "1.1.1", "1.1.1.2", "old-series"); /* needs none */
	/* use every inode left, then give one back */
	for (;; nfill++) {
		snprintf(p, sizeof p, "%s/fill-%d", mnt, nfill);
		int fd = open(p, O_CREAT | O_WRONLY, 0600);
		if (fd < 0) {
			cr_assert_eq(errno, ENOSPC, "%s", strerror(errno));
			break;
		}
		close(fd);
	}
	cr_assert_gt(nfill, 0);
	snprintf(p, sizeof p, "%s/fill-0", mnt);
	cr_assert_eq(unlink(p), 0);
	for (int i = 0; i < 3; i++)
		submit(r[i]);
	release_batch();
	collect(done, 4);
	cr_assert_eq(r[0]->result, 0);
	assert_stored(r[0], "new-series");
	cr_assert_eq(r[1]->result, -ENOSPC, "%d", r[1]->result);
	cr_assert_eq(r[2]->result, 0);
	assert_stored(r[2], "old-series");
	cr_assert_eq(incoming_files(), 0, "the failed part is removed");
	cr_assert_eq(count_instances(), 3);
	for (int i = 0; i < 4; i++)
		free(done[i]);
	store_free(st);
	st = NULL;
	umount(mnt);
}

Test(store, enospc_in_index_fails_batch_and_recovers)
{
	char mnt[512], p[1024];
	struct store_req *r[2], *done[2];
	char buf[4096];
	int fill;

	snprintf(mnt, sizeof mnt, "%s/mnt", dir);
	if (!private_tmpfs(mnt, "size=1m")) {
		failing_fd_fallback();
		return;
	}
	snprintf(db, sizeof db, "%s/index.db", mnt);
	open_all(true, DUP_OVERWRITE);
	r[0] = mk_req("1.1", "1.1.1", "1.1.1.1", "primer");
	submit(r[0]);
	r[0] = collect1();
	cr_assert_eq(r[0]->result, 0);
	free(r[0]);
	/* fill the file system that holds the database */
	snprintf(p, sizeof p, "%s/fill", mnt);
	fill = open(p, O_CREAT | O_WRONLY, 0600);
	cr_assert_geq(fill, 0);
	memset(buf, 'x', sizeof buf);
	while (write(fill, buf, sizeof buf) > 0)
		;
	cr_assert_eq(errno, ENOSPC);
	close(fill);
	r[0] = mk_req("1.1", "1.1.1", "1.1.1.2", "full");
	r[1] = mk_req("1.1", "1.1.2", "1.1.2.1", "full");
	submit(r[0]);
	submit(r[1]);
	collect(done, 2);
	cr_assert_eq(done[0]->result, -ENOSPC, "%d", done[0]->result);
	cr_assert_eq(done[1]->result, -ENOSPC, "%d", done[1]->result);
	cr_assert_eq(th_count_files(root), 1, "only the primer stays: no unindexed file");
	cr_assert_eq(incoming_files(), 0);
	free(done[0]);
	free(done[1]);

	/* space comes back: the next batch commits */
	cr_assert_eq(unlink(p), 0);
	r[0] = mk_req("1.1", "1.1.1", "1.1.1.2", "again");
	submit(r[0]);
	r[0] = collect1();
	cr_assert_eq(r[0]->result, 0);
	assert_stored(r[0], "again");
	free(r[0]);
	cr_assert_eq(count_instances(), 2);
	store_free(st);
	st = NULL;
	index_close(ix);
	ix = NULL;
	umount(mnt);
}

Test(store, uid_at_full_length_with_truncation_is_refused)
{
	char uid64[65];
	struct store_req *r[3], *done[3];

	memset(uid64, '1', 64);
	uid64[64] = '\0';
	open_all(false, DUP_OVERWRITE);
	r[0] = mk_req("1.2", "1.2.1", uid64, "full-length");    /* legal: 64 chars */
	r[1] = mk_req("1.2", "1.2.1", uid64 + 1, "truncated-other"); /* a description was cut */
	r[1]->attrs.truncated = true;
	r[2] = mk_req("1.2", "1.2.1", uid64, "maybe-cut");      /* the UID itself may be cut */
	r[2]->attrs.truncated = true;
	submit(r[0]);
	r[0] = collect1();
	submit(r[1]);
	submit(r[2]);
	collect(done, 2);
	cr_assert_eq(r[0]->result, 0);
	assert_stored(r[0], "full-length");
	cr_assert_eq(r[1]->result, 0);
	cr_assert_eq(r[2]->result, -EINVAL);
	assert_stored(r[0], "full-length");
	cr_assert_eq(count_instances(), 2);
	for (int i = 0; i < 3; i++)
		free(r[i]);
}

/* CRC-32 of a whole file, as the store computes it. */
static uint32_t crc_of(const char *path)
{
	size_t len = 0;
	unsigned char *b = th_read_file(path, &len);
	uLong c;

	cr_assert_not_null(b, "%s", path);
	c = crc32(crc32(0L, Z_NULL, 0), b, (uInt)len);
	free(b);
	return (uint32_t)c;
}

static void exec_sql(const char *sql)
{
	sqlite3 *h = index_lock(ix);
	char *msg = NULL;
	int rc = sqlite3_exec(h, sql, NULL, NULL, &msg);

	index_unlock(ix);
	cr_assert_eq(rc, SQLITE_OK, "%s: %s", sql, msg ? msg : "");
	sqlite3_free(msg);
}

static void path_of(char *out, size_t cap, const char *rel)
{
	snprintf(out, cap, "%s/%s", root, rel);
}

/* A new file's row is pending (with the file's CRC) until the next batch; an overwrite is
 * not; a clean close leaves nothing pending. */
Test(store, rows_pending_until_the_next_batch)
{
	struct store_req *r;
	char p[1024], sql[512];

	open_all(true, DUP_OVERWRITE);
	r = mk_req("1.2", "1.2.1", "1.2.1.1", "first");
	submit(r);
	r = collect1();
	cr_assert_eq(r->result, 0);
	path_of(p, sizeof p, r->final_rel_path);
	cr_assert_eq(th_q_int(db, "SELECT count(*) FROM store_pending"), 1);
	snprintf(sql, sizeof sql, "SELECT p.file_crc32 FROM store_pending p JOIN instances i ON "
		 "i.id = p.instance_ref WHERE i.sop_instance_uid = '1.2.1.1'");
	cr_assert_eq(th_q_int(db, sql), (int64_t)crc_of(p));
	free(r);

	r = mk_req("1.2", "1.2.1", "1.2.1.2", "second");
	submit(r);
	r = collect1();
	cr_assert_eq(r->result, 0);
	cr_assert_eq(th_q_int(db, "SELECT count(*) FROM store_pending"), 1, "the first is cleared");
	cr_assert_eq(th_q_int(db, "SELECT i.sop_instance_uid = '1.2.1.2' FROM store_pending p "
				  "JOIN instances i ON i.id = p.instance_ref"), 1);
	free(r);
	store_close(st);
	cr_assert_eq(th_q_int(db, "SELECT count(*) FROM store_pending"), 0);
}

/* A CRC the writer computed as it wrote is taken when it covers the whole file (the store does
 * not read it back); one that covers another length is ignored and the file read back. */
Test(store, writer_crc_used_when_it_covers_the_file)
{
	struct store_req *r;
	char p[1024];

	open_all(true, DUP_OVERWRITE);
	r = mk_req("1.2", "1.2.1", "1.2.1.1", "first");
	path_of(p, sizeof p, "1.2/1.2.1/1.2.1.1.dcm");
	r->crc = 0x1234567u; /* not the file's: shows which one the row got */
	r->crc_size = r->size;
	submit(r);
	r = collect1();
	cr_assert_eq(r->result, 0);
	cr_assert_eq(th_q_int(db, "SELECT file_crc32 FROM store_pending"), 0x1234567);
	free(r);

	r = mk_req("1.2", "1.2.1", "1.2.1.2", "second");
	path_of(p, sizeof p, "1.2/1.2.1/1.2.1.2.dcm");
	r->crc = 0x1234567u;
	r->crc_size = r->size - 1;
	submit(r);
	r = collect1();
	cr_assert_eq(r->result, 0);
	cr_assert_eq(th_q_int(db, "SELECT file_crc32 FROM store_pending"), (int64_t)crc_of(p));
	free(r);
	store_close(st);
}

/* A request whose file is all tail (fd -1): the committer creates the part, writes it and
 * stores it like any other; the writer's CRC still covers the whole file. */
static void tail_only(bool fsync)
{
	struct store_req *r = calloc(1, sizeof *r), *got;
	char want[64];
	int len = snprintf(want, sizeof want, "DICM part for 1.2.1.1 (tail)\n");

	open_all(fsync, DUP_OVERWRITE);
	cr_assert_not_null(r);
	r->fd = -1;
	r->tail = (const uint8_t *)want;
	r->tail_len = (size_t)len;
	th_attrs(&r->attrs, "1.2", "1.2.1", "1.2.1.1");
	strcpy(r->ts_uid, TS_EXPLICIT_LE);
	r->size = len;
	r->crc = store_crc32(0, r->tail, r->tail_len);
	r->crc_size = len;
	submit(r);
	got = collect1();
	cr_assert_eq(got, r);
	cr_assert_eq(r->result, 0);
	assert_stored(r, "tail");
	cr_assert_eq(r->fd, -1);
	cr_assert_neq(r->part_path[0], '\0', "the store named the part it created");
	cr_assert_not(exists(r->part_path));
	cr_assert_eq(incoming_files(), 0);
	if (fsync)
		cr_assert_eq(th_q_int(db, "SELECT file_crc32 FROM store_pending"),
			     (int64_t)store_crc32(0, (const uint8_t *)want, (size_t)len));
	free(r);
	store_close(st);
}

Test(store, tail_only_request_fsync) { tail_only(true); }
Test(store, tail_only_request_no_fsync) { tail_only(false); }

/* A part written up to some offset plus a tail: the committer writes the tail at its offset;
 * a tail that cannot be written (the part is read-only) fails that request alone. */
Test(store, tail_completes_a_written_part)
{
	struct store_req *r[2], *done[3];
	const char *rest = "(tail)\n";
	char head[64];

	open_all(true, DUP_OVERWRITE);
	hold_behind_primer("1.9", "1.9.1", "1.9.1.1");
	for (int i = 0; i < 2; i++) {
		char sop[16];
		int len;

		snprintf(sop, sizeof sop, "1.2.1.%d", i + 1);
		r[i] = calloc(1, sizeof *r[i]);
		cr_assert_not_null(r[i]);
		cr_assert_eq(store_part_create(st, r[i]->part_path, &r[i]->fd), 0);
		len = snprintf(head, sizeof head, "DICM part for %s ", sop);
		cr_assert_eq(write(r[i]->fd, head, (size_t)len), len);
		r[i]->tail = (const uint8_t *)rest;
		r[i]->tail_len = strlen(rest);
		r[i]->tail_offset = len;
		r[i]->size = len + (int64_t)strlen(rest);
		th_attrs(&r[i]->attrs, "1.2", "1.2.1", sop);
		strcpy(r[i]->ts_uid, TS_EXPLICIT_LE);
	}
	/* the second part's descriptor cannot write: its tail fails */
	int ro = open(r[1]->part_path, O_RDONLY | O_CLOEXEC);
	cr_assert_geq(ro, 0);
	close(r[1]->fd);
	r[1]->fd = ro;
	submit(r[0]);
	submit(r[1]);
	release_batch();
	collect(done, 3);
	cr_assert_eq(r[0]->result, 0);
	assert_stored(r[0], "tail");
	cr_assert_eq(r[1]->result, -EBADF);
	cr_assert_eq(incoming_files(), 0);
	cr_assert_eq(count_instances(), 2, "the primer and the first");
	for (int i = 0; i < 3; i++)
		free(done[i]);
	store_close(st);
}

/* A part's direct descriptor (fsync on): aligned blocks through it and the tail through the
 * part's fd make the file; with fsync off there is none. */
Test(store, direct_descriptor_writes_the_part)
{
	struct store_req *r = calloc(1, sizeof *r);
	enum { N = 3 * STORE_DIRECT_ALIGN + 100 };
	unsigned char *buf = aligned_alloc(STORE_DIRECT_ALIGN, 4 * STORE_DIRECT_ALIGN);
	unsigned char back[N];
	char p[1024];
	int dfd;

	cr_assert_not_null(r);
	cr_assert_not_null(buf);
	for (int i = 0; i < N; i++)
		buf[i] = (unsigned char)(i * 7 + 3);
	open_all(true, DUP_OVERWRITE);
	cr_assert_eq(store_part_create(st, r->part_path, &r->fd), 0);
	dfd = store_part_open_direct(st, r->part_path);
	cr_assert_geq(dfd, 0, "O_DIRECT open: %d", dfd);
	cr_assert_eq(pwrite(dfd, buf, 3 * STORE_DIRECT_ALIGN, 0), 3 * STORE_DIRECT_ALIGN);
	cr_assert_eq(pwrite(r->fd, buf + 3 * STORE_DIRECT_ALIGN, 100, 3 * STORE_DIRECT_ALIGN), 100);
	close(dfd);
	cr_assert_eq(store_part_open_direct(st, "/elsewhere/x.part"), -EOPNOTSUPP);
	th_attrs(&r->attrs, "1.2", "1.2.1", "1.2.1.1");
	strcpy(r->ts_uid, TS_EXPLICIT_LE);
	r->size = N;
	submit(r);
	r = collect1();
	cr_assert_eq(r->result, 0);
	path_of(p, sizeof p, r->final_rel_path);
	FILE *f = fopen(p, "rb");
	cr_assert_not_null(f);
	cr_assert_eq(fread(back, 1, sizeof back, f), N);
	cr_assert_eq(fgetc(f), EOF);
	fclose(f);
	cr_assert_eq(memcmp(back, buf, N), 0);
	cr_assert_eq(th_q_int(db, "SELECT file_crc32 FROM store_pending"), (int64_t)crc_of(p));
	free(r);
	store_close(st);
	store_free(st);
	st = NULL;

	open_all(false, DUP_OVERWRITE);
	r = mk_req("1.2", "1.2.1", "1.2.1.2", "nofsync");
	cr_assert_eq(store_part_open_direct(st, r->part_path), -EOPNOTSUPP);
	store_part_discard(st, r->part_path, r->fd);
	free(r);
	free(buf);
}

/* The next file of a series goes into its known directory without making it again; a
 * series directory removed behind the store's back is made again. */
Test(store, series_directory_removed_between_files)
{
	char p[1024];

	open_all(true, DUP_OVERWRITE);
	free(store_one("1.2", "1.2.1", "1.2.1.1", "first"));
	free(store_one("1.2", "1.2.1", "1.2.1.2", "second"));

	path_of(p, sizeof p, "1.2/1.2.1/1.2.1.1.dcm");
	cr_assert_eq(unlink(p), 0);
	path_of(p, sizeof p, "1.2/1.2.1/1.2.1.2.dcm");
	cr_assert_eq(unlink(p), 0);
	path_of(p, sizeof p, "1.2/1.2.1");
	cr_assert_eq(rmdir(p), 0);
	free(store_one("1.2", "1.2.1", "1.2.1.3", "third"));
	store_close(st);
}

Test(store, fsync_off_leaves_nothing_pending)
{
	struct store_req *r;

	open_all(false, DUP_OVERWRITE);
	r = mk_req("1.2", "1.2.1", "1.2.1.1", "x");
	submit(r);
	r = collect1();
	cr_assert_eq(r->result, 0);
	cr_assert_eq(th_q_int(db, "SELECT count(*) FROM store_pending"), 0);
	free(r);
}

/*
 * What an unclean stop can leave, crafted: rows still pending whose file is intact (kept),
 * truncated, of another content (other CRC) or missing (all three removed, file and row), and
 * a row that is not pending (never checked, even with its file gone). store_open checks them.
 */
Test(store, open_checks_pending_rows)
{
	static const char *const sops[5] = { "1.2.1.1", "1.2.1.2", "1.2.1.3", "1.2.1.4",
					     "1.2.1.5" };
	struct store_req *done[5];
	char p[5][1024], sql[512];

	open_all(true, DUP_OVERWRITE);
	for (int i = 0; i < 5; i++)
		submit(mk_req("1.2", "1.2.1", sops[i], "crash"));
	collect(done, 5);
	for (int i = 0; i < 5; i++) {
		struct store_req *r = done[i];
		int k = (int)(strrchr(r->attrs.sop_instance_uid, '.')[1] - '1');

		cr_assert_eq(r->result, 0);
		path_of(p[k], sizeof p[k], r->final_rel_path);
		free(r);
	}
	store_free(st); /* a clean stop: nothing pending */
	st = NULL;
	cr_assert_eq(th_q_int(db, "SELECT count(*) FROM store_pending"), 0);

	/* the state a crash in the middle of a group commit leaves: rows 1-4 pending */
	for (int i = 0; i < 4; i++) {
		snprintf(sql, sizeof sql, "INSERT INTO store_pending(instance_ref, file_crc32) "
			 "SELECT id, %lld FROM instances WHERE sop_instance_uid = '%s'",
			 (long long)crc_of(p[i]) + (i == 2), sops[i]);
		exec_sql(sql);
	}
	cr_assert_eq(truncate(p[1], 5), 0);   /* 2: data not all on disk */
	cr_assert_eq(unlink(p[3]), 0);        /* 4: rename not on disk */
	cr_assert_eq(unlink(p[4]), 0);        /* 5: not pending: left alone */

	open_all(true, DUP_OVERWRITE);
	cr_assert(exists(p[0]), "an intact pending file is kept");
	cr_assert_not(exists(p[1]), "a truncated pending file is removed");
	cr_assert_not(exists(p[2]), "a pending file with another CRC is removed");
	cr_assert_eq(th_q_int(db, "SELECT count(*) FROM store_pending"), 0);
	cr_assert_str_eq(th_q_text(db, "SELECT group_concat(sop_instance_uid, ' ') FROM "
				       "(SELECT sop_instance_uid FROM instances ORDER BY 1)", sql,
				   sizeof sql), "1.2.1.1 1.2.1.5",
			 "the removed instances' rows are gone, the others stay");
	cr_assert_eq(th_count_files(root), 1);

	/* and the store works on: the removed instance can be stored again */
	struct store_req *r = mk_req("1.2", "1.2.1", "1.2.1.2", "again");
	submit(r);
	r = collect1();
	cr_assert_eq(r->result, 0);
	assert_stored(r, "again");
	free(r);
}

/* The same SOP Instance twice in one batch with duplicates = overwrite: the second replaces a
 * file that is not acknowledged yet, so its row stays pending (checked after a crash) with the
 * CRC of the file that stays. */
Test(store, overwrite_within_one_batch_stays_pending)
{
	struct store_req *r[2], *done[3];
	char p[1024];

	open_all(true, DUP_OVERWRITE);
	hold_behind_primer("1.9", "1.9.1", "1.9.1.1");
	r[0] = mk_req("1.2.3", "1.2.3.4", "1.2.3.4.5", "first");
	r[1] = mk_req("1.2.3", "1.2.3.4", "1.2.3.4.5", "second-longer");
	submit(r[0]);
	submit(r[1]);
	release_batch();
	collect(done, 3);
	cr_assert_eq(r[0]->result, 0);
	cr_assert_eq(r[1]->result, 0);
	assert_stored(r[1], "second-longer");
	path_of(p, sizeof p, r[1]->final_rel_path);
	cr_assert_eq(th_q_int(db, "SELECT p.file_crc32 FROM store_pending p JOIN instances i ON "
				  "i.id = p.instance_ref WHERE i.sop_instance_uid = '1.2.3.4.5'"),
		     (int64_t)crc_of(p));
	cr_assert_eq(th_q_int(db, "SELECT file_size FROM instances WHERE "
				  "sop_instance_uid = '1.2.3.4.5'"), r[1]->size);
	for (int i = 0; i < 3; i++)
		free(done[i]);
}
