/*
 * The instance store and its committer thread: temp files in <root>/incoming, published by
 * rename into <root>/<StudyUID>/<SeriesUID>/<SOPInstanceUID>.dcm, then made durable together
 * with their index rows by one round of concurrent syncs per batch (group commit across all
 * associations). One batch:
 *  1. write each request's tail (its last bytes, kept in memory by the submitter, creating
 *     the part if it has none yet), validate each part, compute its CRC-32 unless the
 *     submitter did, and start its writeback (sync_file_range, no waiting);
 *  2. rename each part into place (directories created as needed); a part that replaces an
 *     indexed file (duplicates = overwrite) is fdatasynced before its rename;
 *  3. the fdatasync of every file and the fsync of every directory touched start on helper
 *     threads; meanwhile one index transaction (not waiting for the disk) adds the rows (each
 *     new file's row gets a store_pending row with its CRC, and the previous batches'
 *     store_pending rows go);
 *  4. the committer fdatasyncs the index's WAL while those syncs finish: all at once, so a
 *     journaling file system commits them in one journal commit instead of three sequential
 *     rounds, and at one association the transaction's CPU time hides behind the file's
 *     sync;
 *  5. only then are the requests completed (result 0: the C-STORE-RSP may say success).
 * Crash safety: an instance is acknowledged only after step 4, so its file, directory entry
 * and row are on disk. A crash before that may leave a row whose file is missing or
 * incomplete; such rows are still in store_pending, and store_open checks each one (size,
 * CRC-32) and removes the instance when its file does not match: it was never acknowledged.
 * A crash may also leave a renamed file without a row (an orphan, never acknowledged); the
 * next store of that SOP Instance replaces it whatever the duplicates policy.
 * UIDs reach a path only after store_uid_valid (PS3.5 9.1: digits and dots, <= 64).
 * A failure of one item (bad UID, EIO, ENOSPC) removes its part and leaves the others alone;
 * a failed index transaction or WAL sync fails the whole batch and removes the files it added.
 */
#include "config.h"

#include "storage/store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "storage/crc32.h"
#include "util/log.h"

#define INCOMING "incoming"
#define PART_SUFFIX ".part"

struct store {
	char *root;                  /* absolute path of the storage root */
	char *incoming;              /* <root>/incoming */
	int rootfd;                  /* O_DIRECTORY fd of root: final paths are relative to it */
	int incfd;                   /* O_DIRECTORY fd of incoming/ */
	bool fsync;                  /* cfg.fsync */
	unsigned sync_threads;       /* cfg.sync_threads, 1..STORE_SYNC_THREADS_MAX */
	enum store_dup_policy dup;   /* cfg.duplicates */
	void (*notify)(void *);      /* cfg.notify */
	void *notify_arg;
	struct index *ix;            /* borrowed; used by the committer thread only */

	pthread_t thread;            /* the committer */
	bool thread_running;         /* started and not joined yet */
	pthread_mutex_t lock;        /* guards everything below */
	pthread_cond_t wake;         /* signalled on submit and on stop */
	struct store_req *q_head, *q_tail; /* submitted, FIFO */
	struct store_req *d_head, *d_tail; /* done, FIFO, for store_drain */
	size_t d_count;
	bool stopping;               /* store_close began: no more submits */
	/* Committer thread only: a failed item's row could not be deleted again, so its
	 * store_pending row must stay for the start-up check (never cleared while open). */
	bool keep_pending;
	/* Committer thread only: the series directory ("<study>/<series>") the last placed file
	 * went to; the next file of that series skips the two mkdirs (a rename that then finds
	 * no directory makes them and tries again). */
	char known_dir[2 * DCM_UID_MAX + 2];
	struct store_stats stats;
	uint64_t part_seq;           /* makes part names unique within this process */
	bool direct_refused;         /* an O_DIRECT open failed with EINVAL: not tried again */

	/* Helper threads of par_run (sync_threads - 1 of them), started by store_open. */
	pthread_t helpers[STORE_SYNC_THREADS_MAX];
	size_t nhelpers;
	pthread_mutex_t plock;       /* guards the four fields below */
	pthread_cond_t pwake;        /* a job was posted, or stop */
	pthread_cond_t pdone;        /* a helper left the job */
	struct par_job *pjob;        /* the job helpers may join; NULL when none */
	size_t pslots;               /* how many more helpers may join pjob */
	uint64_t pgen;               /* incremented per job: a helper joins each job once */
	size_t pactive;              /* helpers working on pjob */
	bool pstop;
};

/* A directory to fsync at the end of a batch, relative to root ("." for root itself). */
struct dirsync {
	char rel[2 * DCM_UID_MAX + 2];
};

/* Per-request state of one batch. */
struct item {
	struct store_req *req;
	uint32_t crc;                /* CRC-32 of the file (fsync on) */
	bool placed;                 /* renamed into its final path */
	bool created;                /* ...where no indexed file was: remove again on failure */
	bool recheck;                /* ...over a file placed earlier in this batch */
	int row_err;                 /* its index row failed (step 3): removed after the syncs */
};

bool store_uid_valid(const char *uid)
{
	size_t len = 0;
	bool comp_empty = true;

	if (uid == NULL)
		return false;
	for (const char *p = uid; *p; p++, len++) {
		if (len >= DCM_UID_MAX)
			return false;
		if (*p == '.') {
			if (comp_empty)
				return false;
			comp_empty = true;
		} else if (*p >= '0' && *p <= '9') {
			comp_empty = false;
		} else {
			return false;
		}
	}
	return !comp_empty; /* also rejects "" and a trailing dot */
}

static int64_t now_ms(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* mkdir -p for the root (absolute or relative). */
static int mkdir_p(const char *path, mode_t mode)
{
	char buf[PATH_MAX];
	size_t len = strlen(path);

	if (len == 0 || len >= sizeof buf)
		return -ENAMETOOLONG;
	memcpy(buf, path, len + 1);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, mode) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, mode) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

static int fsync_dirat(struct store *s, int dirfd, const char *rel)
{
	int fd = openat(dirfd, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int r = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		r = -errno;
	close(fd);
	pthread_mutex_lock(&s->lock);
	s->stats.fsyncs++;
	pthread_mutex_unlock(&s->lock);
	return r;
}

/* The name of a part inside incoming/, or NULL when path is not one of ours. */
static const char *part_name(const struct store *s, const char *path)
{
	size_t n = strlen(s->incoming);
	const char *name;

	if (strncmp(path, s->incoming, n) != 0 || path[n] != '/')
		return NULL;
	name = path + n + 1;
	if (*name == '\0' || strchr(name, '/') != NULL)
		return NULL;
	return name;
}

static void unlink_part(struct store *s, const char *path)
{
	const char *name = part_name(s, path);

	if (name != NULL && unlinkat(s->incfd, name, 0) < 0 && errno != ENOENT)
		log_warn("event=part_unlink_fail path=%s err=%d", path, -errno);
}

/* Removes incoming/ *.part left by a previous run (their transfers were never answered). */
static int remove_stale_parts(struct store *s)
{
	int fd = dup(s->incfd);
	DIR *d;
	struct dirent *e;
	int removed = 0;

	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (d == NULL) {
		close(fd);
		return -errno;
	}
	while ((e = readdir(d)) != NULL) {
		size_t len = strlen(e->d_name);
		size_t sl = strlen(PART_SUFFIX);

		if (len <= sl || strcmp(e->d_name + len - sl, PART_SUFFIX) != 0)
			continue;
		if (e->d_type != DT_REG && e->d_type != DT_UNKNOWN)
			continue;
		if (unlinkat(s->incfd, e->d_name, 0) == 0)
			removed++;
		else
			log_warn("event=stale_part_unlink_fail name=%s err=%d", e->d_name, -errno);
	}
	closedir(d);
	return removed;
}

static int file_crc(int fd, int64_t size, uint32_t *crc);

/* Whether a path from the index is one the store could have written (relative, no ".."):
 * only such a path is ever unlinked by the start-up check. */
static bool rel_path_sane(const char *p)
{
	return p[0] != '\0' && p[0] != '/' && strstr(p, "..") == NULL;
}

/* 0 when the file at rel matches the size and CRC-32 of its row, 1 when it does not (missing,
 * other size, other CRC), negative when it cannot be told (then nothing is removed). */
static int pending_check(struct store *s, const struct index_pending *p)
{
	struct stat st;
	uint32_t crc = 0;
	int fd, r;

	fd = openat(s->rootfd, p->rel_path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 1 : -errno;
	if (fstat(fd, &st) < 0)
		r = -errno;
	else if (!S_ISREG(st.st_mode) || st.st_size != p->size)
		r = 1;
	else if ((r = file_crc(fd, st.st_size, &crc)) == 0)
		r = crc == p->file_crc32 ? 0 : 1;
	close(fd);
	return r;
}

/*
 * After an unclean stop: every instance still in store_pending had its syncs in flight, so it
 * was never acknowledged unless they all completed. Its file is checked; one that is missing
 * or does not match its row is removed with its row. Then store_pending is emptied.
 */
static int recover_pending(struct store *s, int *checked, int *removed)
{
	enum { CHUNK = 256 };
	struct index_pending *v = malloc(CHUNK * sizeof *v);
	int64_t after = 0;
	int n, r = 0;

	*checked = *removed = 0;
	if (v == NULL)
		return -ENOMEM;
	while ((n = index_pending_list(s->ix, after, v, CHUNK)) > 0) {
		for (int i = 0; i < n; i++) {
			int c = rel_path_sane(v[i].rel_path) ? pending_check(s, &v[i]) : -EINVAL;

			after = v[i].instance_ref;
			(*checked)++;
			if (c < 0) {
				log_err("event=store_recover_check_fail path=%s err=%d: kept",
					v[i].rel_path, c);
				continue;
			}
			if (c == 0)
				continue;
			log_warn("event=store_recover_remove sop=%s path=%s: file missing or not the "
				 "one indexed; it was never acknowledged", v[i].sop_uid, v[i].rel_path);
			if (unlinkat(s->rootfd, v[i].rel_path, 0) < 0 && errno != ENOENT)
				log_err("event=store_recover_unlink_fail path=%s err=%d", v[i].rel_path,
					-errno);
			r = index_delete_instance(s->ix, v[i].sop_uid);
			if (r < 0 && r != -ENOENT)
				goto out;
			r = 0;
			(*removed)++;
		}
		if (n < CHUNK)
			break;
	}
	if (n < 0)
		r = n;
	if (r == 0 && *checked > 0)
		r = index_clear_pending(s->ix);
out:
	free(v);
	return r;
}

#define TERMINATE(field) ((field)[sizeof(field) - 1] = '\0')

/* The request's strings are the caller's fixed arrays: make sure each ends inside its array
 * before anything reads them as C strings (the UIDs are checked unterminated first). */
static void terminate_strings(struct store_req *req)
{
	struct dcm_attrs *a = &req->attrs;

	TERMINATE(req->ts_uid);
	TERMINATE(req->calling_ae);
	TERMINATE(a->specific_charset);
	TERMINATE(a->patient_id);
	TERMINATE(a->patient_name);
	TERMINATE(a->patient_birth_date);
	TERMINATE(a->patient_sex);
	TERMINATE(a->study_date);
	TERMINATE(a->study_time);
	TERMINATE(a->study_description);
	TERMINATE(a->accession_number);
	TERMINATE(a->study_id);
	TERMINATE(a->series_number);
	TERMINATE(a->modality);
	TERMINATE(a->series_description);
	TERMINATE(a->sop_class_uid);
	TERMINATE(a->instance_number);
	TERMINATE(a->rows);
	TERMINATE(a->columns);
	TERMINATE(a->number_of_frames);
	TERMINATE(a->image_position);
	TERMINATE(a->image_orientation);
	TERMINATE(a->pixel_spacing);
	TERMINATE(a->slice_thickness);
}

/* A UID that filled its field while the parser reported a truncation may be the first 64
 * characters of a longer (illegal) value: storing it would file the instance under another
 * UID, so it is refused like any invalid UID. */
static bool uid_maybe_truncated(const struct dcm_attrs *a, const char *uid)
{
	return a->truncated && strlen(uid) == DCM_UID_MAX;
}

/* CRC-32 of the whole file behind fd (read back from the page cache). */
static int file_crc(int fd, int64_t size, uint32_t *crc)
{
	unsigned char buf[64 * 1024];
	uint32_t c = 0;
	int64_t off = 0;

	while (off < size) {
		ssize_t k = pread(fd, buf, sizeof buf, off);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -errno;
		if (k == 0)
			return -EIO; /* shorter than fstat said */
		c = store_crc32(c, buf, (size_t)k);
		off += k;
	}
	*crc = c;
	return 0;
}

/* All of p[0..n) at off: a write to a regular file may take fewer bytes than asked. */
static int write_all(int fd, const uint8_t *p, size_t n, int64_t off)
{
	while (n > 0) {
		ssize_t k = pwrite(fd, p, n, (off_t)off);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return k < 0 ? -errno : -EIO;
		p += k;
		n -= (size_t)k;
		off += k;
	}
	return 0;
}

/* The request's tail into its part, creating the part first when it has none (see
 * store_req); at most once per request. Returns 1 when it wrote the tail now, 0 when there
 * was nothing to write, or a negative errno (-EINVAL: no part and no tail). */
static int write_tail(struct store *s, struct store_req *req)
{
	int r;

	if (req->tail_len == 0 || req->tail_written)
		return req->fd >= 0 ? 0 : -EINVAL;
	if (req->fd < 0 && (r = store_part_create(s, req->part_path, &req->fd)) < 0)
		return r;
	if ((r = write_all(req->fd, req->tail, req->tail_len, req->tail_offset)) < 0)
		return r;
	req->tail_written = true;
	return 1;
}

/* Step 1 for one request: tail written, validated; with fsync, CRC-32 and writeback started
 * (the fd stays open for the fdatasync of step 4). On failure the fd is closed. */
static int prepare(struct store *s, struct item *it)
{
	struct store_req *req = it->req;
	const struct dcm_attrs *a = &req->attrs;
	struct stat st;
	int r = 0, w;

	if (!store_uid_valid(a->study_uid) || !store_uid_valid(a->series_uid) ||
	    !store_uid_valid(a->sop_instance_uid))
		r = -EINVAL;
	else if (uid_maybe_truncated(a, a->study_uid) || uid_maybe_truncated(a, a->series_uid) ||
		 uid_maybe_truncated(a, a->sop_instance_uid))
		r = -EINVAL;
	else if ((w = write_tail(s, req)) < 0)
		r = w;
	else if (part_name(s, req->part_path) == NULL)
		r = -EINVAL;
	else if (fstat(req->fd, &st) < 0)
		r = -errno;
	else if (!S_ISREG(st.st_mode))
		r = -EINVAL;
	else if (req->size > 0 && st.st_size != req->size)
		r = -EIO; /* the writer lost bytes */
	if (r == 0)
		req->size = st.st_size;
	if (r == 0 && s->fsync) {
		if (req->crc_size == req->size)
			it->crc = req->crc; /* computed as it was written: no read-back */
		else if (req->ahead_size == req->size)
			it->crc = req->ahead_crc;
		else
			r = file_crc(req->fd, req->size, &it->crc);
	}
	/* Writeback started, not waited for: the fdatasync of step 4 waits for it beside the
	 * directory and WAL syncs. (Waiting here put the data write before those syncs instead
	 * of beside them; measured at 1 association, 128 KiB files, ext4: ~3 % fewer instances/s.
	 * On a journaling file system in ordered mode the journal commit of step 4 writes the
	 * renamed file's data first anyway.) */
	if (r == 0 && s->fsync)
		(void)sync_file_range(req->fd, 0, 0, SYNC_FILE_RANGE_WRITE);
	if (r < 0 && req->fd >= 0) {
		close(req->fd);
		req->fd = -1;
	}
	return r;
}

/*
 * A set of tasks run by the committer and up to sync_threads - 1 helper threads: step 1 for
 * every item, or the syncs of step 4. Syncs issued at once let a journaling file system
 * commit its journal once for all of them (measured on ext4: 100 fdatasyncs took ~300 ms one
 * after the other, ~15 ms from 8 threads). A helper thread that cannot be created just leaves
 * more work to the others.
 */
/* Queued requests one batch's look-ahead makes ready at most. */
#define STORE_AHEAD_MAX 64

struct par_job {
	size_t n;                    /* tasks */
	void (*run)(struct par_job *job, size_t i);
	pthread_mutex_t lock;        /* guards next */
	size_t next;                 /* next task to take */
	/* the tasks' data */
	struct store *s;
	struct item *items;
	const struct dirsync *ds;
	size_t nds;
	int *res;                    /* step 4: result per task */
	size_t nitems;               /* step 4: items (one file sync each) */
	struct store_req *ahead_v[STORE_AHEAD_MAX]; /* step 4: queued requests to make ready */
	size_t nahead;
	bool woke;                   /* par_start woke helpers */
	/* Optional: what par_join's thread does instead of waiting for the helpers, one piece
	 * at a time, while it returns true. */
	bool (*idle)(struct store *s);
};

static void *par_worker(void *arg)
{
	struct par_job *job = arg;

	for (;;) {
		size_t i;

		pthread_mutex_lock(&job->lock);
		i = job->next++;
		pthread_mutex_unlock(&job->lock);
		if (i >= job->n)
			return NULL;
		job->run(job, i);
	}
}

static void *helper_main(void *arg)
{
	struct store *s = arg;
	uint64_t seen = 0;

	pthread_mutex_lock(&s->plock);
	for (;;) {
		struct par_job *job;

		while (!s->pstop && (s->pjob == NULL || s->pgen == seen || s->pslots == 0))
			pthread_cond_wait(&s->pwake, &s->plock);
		if (s->pstop)
			break;
		seen = s->pgen;
		job = s->pjob;
		s->pslots--;
		s->pactive++;
		pthread_mutex_unlock(&s->plock);
		par_worker(job);
		pthread_mutex_lock(&s->plock);
		if (--s->pactive == 0)
			pthread_cond_signal(&s->pdone);
	}
	pthread_mutex_unlock(&s->plock);
	return NULL;
}

/* Starts job on up to helpers helper threads (no more than it has tasks); par_join runs the
 * tasks left on the calling thread and returns when all are done. In between, the calling
 * thread may do other work. */
static void par_start(struct store *s, struct par_job *job, size_t helpers)
{
	size_t want = helpers < job->n ? helpers : job->n;

	if (want > s->nhelpers)
		want = s->nhelpers;
	job->woke = want > 0;
	pthread_mutex_init(&job->lock, NULL);
	job->next = 0;
	if (job->woke) {
		pthread_mutex_lock(&s->plock);
		s->pjob = job;
		s->pgen++;
		s->pslots = want;
		for (size_t i = 0; i < want; i++)
			pthread_cond_signal(&s->pwake);
		pthread_mutex_unlock(&s->plock);
	}
}

static void par_join(struct store *s, struct par_job *job)
{
	par_worker(job);
	if (job->woke) {
		/* every task is taken: no helper may join any more; wait for those in it */
		pthread_mutex_lock(&s->plock);
		s->pjob = NULL;
		s->pslots = 0;
		while (s->pactive > 0) {
			if (job->idle) {
				/* rather than wait idle, do one piece of work that does not
				 * hold up the helpers, then look again */
				pthread_mutex_unlock(&s->plock);
				bool did = job->idle(s);
				pthread_mutex_lock(&s->plock);
				/* the last helper may have finished meanwhile: its signal came
				 * while nobody waited, so look at pactive again before waiting */
				if (did || s->pactive == 0)
					continue;
			}
			pthread_cond_wait(&s->pdone, &s->plock);
		}
		pthread_mutex_unlock(&s->plock);
	}
	pthread_mutex_destroy(&job->lock);
}

/* Runs every task of job on the calling thread and up to want_threads - 1 helpers. */
static void par_run(struct store *s, struct par_job *job, size_t want_threads)
{
	par_start(s, job, want_threads > 1 ? want_threads - 1 : 0);
	par_join(s, job);
}

static void helpers_stop(struct store *s)
{
	pthread_mutex_lock(&s->plock);
	s->pstop = true;
	pthread_cond_broadcast(&s->pwake);
	pthread_mutex_unlock(&s->plock);
	for (size_t i = 0; i < s->nhelpers; i++)
		pthread_join(s->helpers[i], NULL);
	s->nhelpers = 0;
}

static void prepare_task(struct par_job *job, size_t i)
{
	struct store_req *req = job->items[i].req;

	req->final_rel_path[0] = '\0';
	req->result = prepare(job->s, &job->items[i]);
	terminate_strings(req);
	if (req->result < 0) {
		log_warn("event=store_fail stage=prepare sop=%.64s err=%d",
			 req->attrs.sop_instance_uid, req->result);
		unlink_part(job->s, req->part_path);
	}
}

/* Step 1 for the whole batch, on several threads (tails are written, CRCs of parts without
 * one computed). */
static void prepare_parts(struct store *s, struct item *items, size_t n)
{
	struct par_job job = { .n = n, .run = prepare_task, .s = s, .items = items };

	par_run(s, &job, n);
}

static void dirsync_add(struct dirsync **v, size_t *n, size_t *cap, const char *rel)
{
	for (size_t i = 0; i < *n; i++)
		if (strcmp((*v)[i].rel, rel) == 0)
			return;
	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 8;
		struct dirsync *nv = realloc(*v, nc * sizeof *nv);

		if (nv == NULL)
			fatal("out of memory");
		*v = nv;
		*cap = nc;
	}
	snprintf((*v)[*n].rel, sizeof (*v)[*n].rel, "%s", rel);
	(*n)++;
}

static int mkdir_at(int dirfd, const char *rel, bool *created)
{
	*created = false;
	if (mkdirat(dirfd, rel, 0750) == 0) {
		*created = true;
		return 0;
	}
	return errno == EEXIST ? 0 : -errno;
}

/* Whether an earlier item of this batch was placed at req's final path. */
static bool placed_in_batch(const struct item *items, size_t upto, const struct store_req *req)
{
	for (size_t i = 0; i < upto; i++)
		if (items[i].placed && strcmp(items[i].req->final_rel_path, req->final_rel_path) == 0)
			return true;
	return false;
}

/* Whether the file at the final path is a stored instance (indexed, or placed earlier in this
 * batch) rather than an orphan of a crash between rename and index commit. */
static bool known_instance(struct store *s, struct item *items, size_t upto,
			   const struct store_req *req)
{
	char path[256];
	int r;

	if (placed_in_batch(items, upto, req))
		return true;
	r = index_lookup_instance(s->ix, req->attrs.sop_instance_uid, path, sizeof path);
	if (r == -ENOENT)
		return false;
	if (r < 0)
		return true; /* cannot tell: do not destroy what may be a stored instance */
	return strcmp(path, req->final_rel_path) == 0;
}

/* Step 2 for one request: directories, duplicates policy, rename into place. */
static int place(struct store *s, struct item *items, size_t idx, struct dirsync **ds,
		 size_t *nds, size_t *cds)
{
	struct store_req *req = items[idx].req;
	const struct dcm_attrs *a = &req->attrs;
	char series_dir[2 * DCM_UID_MAX + 2];
	struct stat st;
	bool created, known;
	int r;

	snprintf(series_dir, sizeof series_dir, "%s/%s", a->study_uid, a->series_uid);
	snprintf(req->final_rel_path, sizeof req->final_rel_path, "%s/%s.dcm", series_dir,
		 a->sop_instance_uid);

	known = strcmp(s->known_dir, series_dir) == 0;
	if (!known && (r = mkdir_at(s->rootfd, a->study_uid, &created)) < 0)
		return r;
	if (!known && created)
		dirsync_add(ds, nds, cds, ".");
	if (!known && (r = mkdir_at(s->rootfd, series_dir, &created)) < 0)
		return r;
	if (!known && created)
		dirsync_add(ds, nds, cds, a->study_uid);

	items[idx].created = true;
	if (fstatat(s->rootfd, req->final_rel_path, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		if (known_instance(s, items, idx, req)) {
			if (s->dup == DUP_KEEP)
				return STORE_DUPLICATE_KEPT;
			if (s->dup == DUP_REJECT)
				return STORE_DUPLICATE_REJECTED;
			items[idx].created = false; /* overwrite: the index row stays valid */
			/* The stored file is replaced by a complete one or not at all, and no
			 * store_pending row (whose check could remove the instance) is added,
			 * unless the file replaced is this batch's own (not acknowledged yet). */
			items[idx].recheck = placed_in_batch(items, idx, req);
			if (s->fsync && fdatasync(req->fd) < 0)
				return -errno;
		} else {
			log_warn("event=store_orphan_replaced path=%s", req->final_rel_path);
		}
	} else if (errno != ENOENT) {
		return -errno;
	}
	if (renameat(s->incfd, part_name(s, req->part_path), s->rootfd, req->final_rel_path) < 0) {
		if (errno == ENOENT && known) {
			s->known_dir[0] = '\0'; /* removed behind our back: make it again */
			return place(s, items, idx, ds, nds, cds);
		}
		return -errno;
	}
	snprintf(s->known_dir, sizeof s->known_dir, "%s", series_dir);
	items[idx].placed = true;
	dirsync_add(ds, nds, cds, series_dir);
	return 0;
}

/* Fails a placed item after the rename: removes the file if this batch brought it. */
static void unplace(struct store *s, struct item *it, int err)
{
	struct store_req *req = it->req;

	if (it->created && unlinkat(s->rootfd, req->final_rel_path, 0) < 0 && errno != ENOENT)
		log_err("event=store_unplace_fail path=%s err=%d", req->final_rel_path, -errno);
	if (!it->created)
		log_warn("event=store_overwrite_unindexed path=%s err=%d: the file is the new one, "
			 "its index row describes the old one", req->final_rel_path, err);
	it->placed = false;
	req->result = err;
}

static bool under_dir(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	if (strcmp(dir, ".") == 0)
		return true;
	return strncmp(path, dir, n) == 0 && path[n] == '/';
}

/*
 * While the syncs of one batch wait for the disk, the requests queued for the next batch are
 * made ready on the helper threads, one task each: the tail written (the part created first
 * when there is none), writeback started, the CRC-32 computed when the writer gave none. The
 * next batch's step 1 then finds little left to do. An error is left for prepare() to meet
 * again and report. Only the committer takes requests off the queue, and it is inside this
 * batch, so the queued requests stay valid; submitters only append.
 */
static void ahead_one(struct store *s, struct store_req *r)
{
	struct stat st;

	int w = write_tail(s, r);

	if (w < 0)
		return;
	if (w > 0) {
		pthread_mutex_lock(&s->lock);
		s->stats.ahead++;
		pthread_mutex_unlock(&s->lock);
	}
	(void)sync_file_range(r->fd, 0, 0, SYNC_FILE_RANGE_WRITE);
	if (r->crc_size > 0)
		return; /* the writer's CRC is used */
	if (fstat(r->fd, &st) == 0 && S_ISREG(st.st_mode) &&
	    file_crc(r->fd, st.st_size, &r->ahead_crc) == 0)
		r->ahead_size = st.st_size;
}

/* Up to max queued requests the look-ahead has not seen yet, among the first
 * STORE_AHEAD_MAX of the queue (further is far enough ahead), marked seen, into v. */
static size_t ahead_take(struct store *s, struct store_req **v, size_t max)
{
	size_t n = 0, seen = 0;

	pthread_mutex_lock(&s->lock);
	for (struct store_req *r = s->q_head; r && n < max && seen < STORE_AHEAD_MAX;
	     r = r->next, seen++)
		if (!r->ahead_done) {
			r->ahead_done = true;
			v[n++] = r;
		}
	pthread_mutex_unlock(&s->lock);
	return n;
}

/* par_join's idle work during the syncs: the look-ahead for one request that queued after
 * the syncs started. */
static bool ahead_late(struct store *s)
{
	struct store_req *r;

	if (ahead_take(s, &r, 1) == 0)
		return false;
	ahead_one(s, r);
	return true;
}

/* Step 4 tasks: [0, nds) directories, [nds, nds + nitems) files, one per item, then
 * ahead_one for each of ahead_v. The index WAL is synced by the committer itself, after its
 * transaction. */
static void sync_task(struct par_job *job, size_t i)
{
	struct store *s = job->s;

	if (i >= job->nds + job->nitems) {
		ahead_one(s, job->ahead_v[i - job->nds - job->nitems]);
	} else if (i < job->nds) {
		job->res[i] = fsync_dirat(s, s->rootfd, job->ds[i].rel);
	} else {
		struct store_req *req = job->items[i - job->nds].req;

		job->res[i] = 0;
		if (job->items[i - job->nds].placed && fdatasync(req->fd) < 0)
			job->res[i] = -errno;
	}
}

/* Fails placed items after their rows were committed: files removed (unplace), rows of the
 * files this batch created deleted again. */
static void fail_committed(struct store *s, struct item *it, int err)
{
	bool created = it->created;
	int r;

	if (!it->placed)
		return;
	log_err("event=store_fail stage=sync path=%s err=%d", it->req->final_rel_path, err);
	unplace(s, it, err);
	if (created && (r = index_delete_instance(s->ix, it->req->attrs.sop_instance_uid)) < 0 &&
	    r != -ENOENT) {
		log_err("event=store_unindex_fail sop=%s err=%d: removed at the next start",
			it->req->attrs.sop_instance_uid, r);
		s->keep_pending = true;
	}
}

/* Step 4, first half: the syncs of the placed files and their directories start on the
 * helper threads, so that they run while the committer does step 3 and syncs the WAL. */
static void sync_start(struct store *s, struct par_job *job, struct item *items, size_t n,
		       const struct dirsync *ds, size_t nds)
{
	*job = (struct par_job){ .n = nds + n, .run = sync_task, .s = s, .items = items,
				 .ds = ds, .nds = nds, .nitems = n, .idle = ahead_late };
	/* the look-ahead: requests already queued for the next batch */
	job->nahead = ahead_take(s, job->ahead_v, STORE_AHEAD_MAX);
	job->n += job->nahead;
	job->res = calloc(job->n, sizeof *job->res);
	if (job->res == NULL)
		fatal("out of memory");
	par_start(s, job, job->n);
}

/* Step 4, second half, once par_join returned: fails the items whose file, directory or
 * (wal < 0) index WAL did not reach the disk. */
static void sync_results(struct store *s, struct par_job *job, int wal)
{
	struct item *items = job->items;
	const struct dirsync *ds = job->ds;
	size_t nds = job->nds, n = job->nitems;

	if (wal < 0) {
		log_err("event=store_wal_sync_fail err=%d", wal);
		for (size_t j = 0; j < n; j++)
			fail_committed(s, &items[j], wal);
	}
	for (size_t i = 0; i < nds; i++) {
		if (job->res[i] == 0)
			continue;
		log_err("event=store_dir_fsync_fail dir=%s err=%d", ds[i].rel, job->res[i]);
		for (size_t j = 0; j < n; j++)
			if (items[j].placed && under_dir(items[j].req->final_rel_path, ds[i].rel))
				fail_committed(s, &items[j], job->res[i]);
	}
	for (size_t j = 0; j < n; j++)
		if (job->res[nds + j] < 0)
			fail_committed(s, &items[j], job->res[nds + j]);
	free(job->res);
}

static void commit_batch(struct store *s, struct store_req *batch)
{
	int64_t t0 = now_ms(CLOCK_MONOTONIC), t_sync, t_place, t_index, t_end;
	int64_t received = now_ms(CLOCK_REALTIME);
	struct dirsync *ds = NULL;
	size_t nds = 0, cds = 0, n = 0, nput = 0, i;
	struct item *items;
	struct index_instance *put;
	size_t *put_item, nplaced;
	int *put_res;
	uint64_t fsyncs = 0, stored = 0;
	int ixr = 0, wal = 0;
	bool syncing;
	struct par_job job;

	for (struct store_req *r = batch; r; r = r->next)
		n++;
	items = calloc(n, sizeof *items);
	put = calloc(n, sizeof *put);
	put_item = calloc(n, sizeof *put_item);
	put_res = calloc(n, sizeof *put_res);
	if (!items || !put || !put_item || !put_res)
		fatal("out of memory");
	i = 0;
	for (struct store_req *r = batch; r; r = r->next)
		items[i++].req = r;

	/* 1. validated, data written back (see prepare) */
	prepare_parts(s, items, n);
	t_sync = now_ms(CLOCK_MONOTONIC);
	/* 2. into place */
	for (i = 0; i < n; i++) {
		struct store_req *req = items[i].req;

		if (req->result < 0)
			continue;
		req->result = place(s, items, i, &ds, &nds, &cds);
		if (req->result != 0) {
			if (req->result < 0)
				log_warn("event=store_fail stage=place path=%s err=%d",
					 req->final_rel_path, req->result);
			unlink_part(s, req->part_path);
		}
	}
	t_place = now_ms(CLOCK_MONOTONIC);
	/* 4 begins: the files and directories start syncing on the helpers */
	nplaced = 0;
	for (i = 0; i < n; i++)
		nplaced += items[i].placed;
	syncing = s->fsync && nplaced > 0;
	if (syncing)
		sync_start(s, &job, items, n, ds, nds);
	/* 3. one index transaction, durable only with step 4 */
	for (i = 0; i < n; i++) {
		struct store_req *req = items[i].req;

		if (!items[i].placed)
			continue;
		put[nput] = (struct index_instance){
			.a = &req->attrs,
			.ts_uid = req->ts_uid,
			.rel_path = req->final_rel_path,
			.size = req->size,
			.received_ms = received,
			.calling_ae = req->calling_ae,
			.pending = s->fsync && (items[i].created || items[i].recheck),
			.file_crc32 = items[i].crc,
		};
		put_item[nput++] = i;
	}
	ixr = index_put_batch_flags(s->ix, put, nput, put_res,
				    INDEX_PUT_NOSYNC |
				    (s->keep_pending ? 0 : INDEX_PUT_CLEAR_PENDING));
	for (i = 0; i < nput; i++) {
		if (put_res[i] < 0) {
			log_err("event=store_fail stage=index path=%s err=%d",
				items[put_item[i]].req->final_rel_path, put_res[i]);
			items[put_item[i]].row_err = put_res[i];
		}
	}
	t_index = now_ms(CLOCK_MONOTONIC);
	/* 4 ends: the WAL synced here, while the helpers may still sync files; the committer
	 * then helps with the syncs left and waits for the others */
	if (syncing) {
		bool wal_sync = ixr == 0 && nput > 0;

		wal = wal_sync ? index_sync_wal(s->ix) : 0;
		par_join(s, &job);
		fsyncs = wal_sync + nplaced; /* fsync_dirat counts the directories */
	}
	/* no helper uses a descriptor any more: the files whose row failed go */
	for (i = 0; i < n; i++)
		if (items[i].row_err < 0 && items[i].placed)
			unplace(s, &items[i], items[i].row_err);
	if (syncing)
		sync_results(s, &job, wal);
	for (i = 0; i < n; i++) {
		struct store_req *req = items[i].req;

		if (req->fd >= 0 && close(req->fd) < 0 && errno != EINTR && req->result >= 0) {
			/* a deferred write error (e.g. EIO, ENOSPC on some file systems) */
			int err = -errno;

			if (items[i].placed)
				fail_committed(s, &items[i], err);
			else
				req->result = err;
		}
		req->fd = -1;
		if (items[i].placed)
			stored++;
	}

	free(put_res);
	free(put_item);
	free(put);
	free(items);
	free(ds);

	pthread_mutex_lock(&s->lock);
	s->stats.batches++;
	s->stats.items += n;
	s->stats.stored += stored;
	s->stats.fsyncs += fsyncs;
	if (ixr < 0)
		s->stats.index_failures++;
	if (s->d_tail)
		s->d_tail->next = batch;
	else
		s->d_head = batch;
	while (batch->next)
		batch = batch->next;
	s->d_tail = batch;
	s->d_count += n;
	pthread_mutex_unlock(&s->lock);

	t_end = now_ms(CLOCK_MONOTONIC);
	log_debug("event=commit items=%zu stored=%llu ms=%lld prepare_ms=%lld place_ms=%lld "
		  "index_ms=%lld sync_ms=%lld", n, (unsigned long long)stored,
		  (long long)(t_end - t0), (long long)(t_sync - t0), (long long)(t_place - t_sync),
		  (long long)(t_index - t_place), (long long)(t_end - t_index));
	if (s->notify)
		s->notify(s->notify_arg);
}

static void *committer(void *arg)
{
	struct store *s = arg;

	pthread_mutex_lock(&s->lock);
	for (;;) {
		struct store_req *batch;

		while (s->q_head == NULL && !s->stopping)
			pthread_cond_wait(&s->wake, &s->lock);
		if (s->q_head == NULL)
			break; /* stopping, and nothing left */
		batch = s->q_head;
		s->q_head = s->q_tail = NULL;
		pthread_mutex_unlock(&s->lock);
		commit_batch(s, batch);
		pthread_mutex_lock(&s->lock);
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

int store_open(const struct store_config *cfg, struct index *ix, struct store **out)
{
	struct store *s;
	char real[PATH_MAX];
	bool created;
	int r, removed, checked = 0, unpending = 0;

	if (cfg == NULL || cfg->root == NULL || ix == NULL)
		return -EINVAL;
	if ((r = mkdir_p(cfg->root, 0750)) < 0) {
		log_err("event=store_open_fail root=%s err=%d", cfg->root, r);
		return r;
	}
	if (realpath(cfg->root, real) == NULL)
		return -errno;
	s = calloc(1, sizeof *s);
	if (s == NULL)
		return -ENOMEM;
	s->rootfd = s->incfd = -1;
	s->fsync = cfg->fsync;
	s->sync_threads = cfg->sync_threads == 0 ? STORE_SYNC_THREADS_DEFAULT
			  : cfg->sync_threads > STORE_SYNC_THREADS_MAX ? STORE_SYNC_THREADS_MAX
			  : cfg->sync_threads;
	s->dup = cfg->duplicates;
	s->notify = cfg->notify;
	s->notify_arg = cfg->notify_arg;
	s->ix = ix;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->wake, NULL);
	pthread_mutex_init(&s->plock, NULL);
	pthread_cond_init(&s->pwake, NULL);
	pthread_cond_init(&s->pdone, NULL);
	s->root = strdup(real);
	if (s->root == NULL || asprintf(&s->incoming, "%s/%s", real, INCOMING) < 0) {
		s->incoming = NULL;
		r = -ENOMEM;
		goto fail;
	}
	s->rootfd = open(real, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->rootfd < 0) {
		r = -errno;
		goto fail;
	}
	if ((r = mkdir_at(s->rootfd, INCOMING, &created)) < 0)
		goto fail;
	if (created && s->fsync && (r = fsync_dirat(s, s->rootfd, ".")) < 0)
		goto fail;
	s->incfd = openat(s->rootfd, INCOMING, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->incfd < 0) {
		r = -errno;
		goto fail;
	}
	removed = remove_stale_parts(s);
	if (removed < 0) {
		r = removed;
		goto fail;
	}
	if (removed > 0 && s->fsync)
		fsync_dirat(s, s->incfd, ".");
	if ((r = recover_pending(s, &checked, &unpending)) < 0)
		goto fail;
	/* helpers with a small stack: they only write, sync and checksum (64 KiB buffer) */
	{
		pthread_attr_t attr;

		pthread_attr_init(&attr);
		pthread_attr_setstacksize(&attr, 256 * 1024);
		while (s->nhelpers + 1 < s->sync_threads &&
		       pthread_create(&s->helpers[s->nhelpers], &attr, helper_main, s) == 0)
			s->nhelpers++;
		pthread_attr_destroy(&attr);
	}
	if ((r = -pthread_create(&s->thread, NULL, committer, s)) < 0)
		goto fail;
	s->thread_running = true;
	log_info("event=store_open root=%s fsync=%s duplicates=%s stale_parts=%d "
		 "pending_checked=%d pending_removed=%d", s->root, s->fsync ? "yes" : "no",
		 s->dup == DUP_OVERWRITE ? "overwrite" : s->dup == DUP_KEEP ? "keep" : "reject",
		 removed, checked, unpending);
	*out = s;
	return 0;

fail:
	log_err("event=store_open_fail root=%s err=%d", cfg->root, r);
	store_free(s);
	return r;
}

int store_part_create(struct store *s, char path[PATH_MAX], int *fd)
{
	for (int tries = 0; tries < 100; tries++) {
		uint64_t seq;
		char name[64];
		int f;

		pthread_mutex_lock(&s->lock);
		seq = ++s->part_seq;
		pthread_mutex_unlock(&s->lock);
		snprintf(name, sizeof name, "%ld-%llu-%llx" PART_SUFFIX, (long)getpid(),
			 (unsigned long long)seq,
			 (unsigned long long)(now_ms(CLOCK_REALTIME) & 0xffffff));
		f = openat(s->incfd, name, O_CREAT | O_EXCL | O_CLOEXEC | O_RDWR, 0640);
		if (f < 0) {
			if (errno == EEXIST)
				continue;
			return -errno;
		}
		if (snprintf(path, PATH_MAX, "%s/%s", s->incoming, name) >= PATH_MAX) {
			close(f);
			unlinkat(s->incfd, name, 0);
			return -ENAMETOOLONG;
		}
		*fd = f;
		return 0;
	}
	return -EEXIST;
}

int store_part_open_direct(struct store *s, const char *path)
{
	const char *name = part_name(s, path);
	bool off;
	int fd;

	pthread_mutex_lock(&s->lock);
	off = !s->fsync || s->direct_refused;
	pthread_mutex_unlock(&s->lock);
	if (off || name == NULL)
		return -EOPNOTSUPP;
	fd = openat(s->incfd, name, O_WRONLY | O_DIRECT | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0)
		return fd;
	if (errno != EINVAL)
		return -errno;
	pthread_mutex_lock(&s->lock);
	off = s->direct_refused;
	s->direct_refused = true;
	pthread_mutex_unlock(&s->lock);
	if (!off)
		log_info("event=direct_io_unavailable root=%s: parts are written through the page "
			 "cache", s->root);
	return -EOPNOTSUPP;
}

void store_part_discard(struct store *s, const char *path, int fd)
{
	if (fd >= 0)
		close(fd);
	if (path != NULL && *path != '\0')
		unlink_part(s, path);
}

int store_submit(struct store *s, struct store_req *req)
{
	pthread_mutex_lock(&s->lock);
	if (s->stopping || !s->thread_running) {
		pthread_mutex_unlock(&s->lock);
		return -ESHUTDOWN;
	}
	req->next = NULL;
	req->result = 0;
	req->ahead_size = -1;
	req->ahead_done = false;
	req->tail_written = false;
	if (s->q_tail)
		s->q_tail->next = req;
	else
		s->q_head = req;
	s->q_tail = req;
	pthread_cond_signal(&s->wake);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

size_t store_drain(struct store *s, struct store_req **done)
{
	size_t n;

	pthread_mutex_lock(&s->lock);
	*done = s->d_head;
	n = s->d_count;
	s->d_head = s->d_tail = NULL;
	s->d_count = 0;
	pthread_mutex_unlock(&s->lock);
	return n;
}

const char *store_root(const struct store *s)
{
	return s->root;
}

bool store_wants_crc(const struct store *s)
{
	return s->fsync;
}

void store_get_stats(struct store *s, struct store_stats *out)
{
	pthread_mutex_lock(&s->lock);
	*out = s->stats;
	pthread_mutex_unlock(&s->lock);
}

void store_close(struct store *s)
{
	bool join;

	pthread_mutex_lock(&s->lock);
	join = s->thread_running;
	s->stopping = true;
	pthread_cond_signal(&s->wake);
	pthread_mutex_unlock(&s->lock);
	if (!join)
		return;
	pthread_join(s->thread, NULL);
	pthread_mutex_lock(&s->lock);
	s->thread_running = false;
	pthread_mutex_unlock(&s->lock);
	helpers_stop(s);
	/* every batch completed its syncs: nothing is pending any more (unless a failed item's
	 * row is still there, which the next start removes) */
	if (s->fsync && !s->keep_pending && index_clear_pending(s->ix) < 0)
		log_warn("event=store_close_pending_fail: checked again at the next start");
	log_info("event=store_close batches=%llu items=%llu fsyncs=%llu ahead=%llu",
		 (unsigned long long)s->stats.batches, (unsigned long long)s->stats.items,
		 (unsigned long long)s->stats.fsyncs, (unsigned long long)s->stats.ahead);
	if (s->notify)
		s->notify(s->notify_arg);
}

void store_free(struct store *s)
{
	if (s == NULL)
		return;
	store_close(s);
	helpers_stop(s); /* when store_open failed after starting them */
	if (s->incfd >= 0)
		close(s->incfd);
	if (s->rootfd >= 0)
		close(s->rootfd);
	pthread_cond_destroy(&s->wake);
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->pdone);
	pthread_cond_destroy(&s->pwake);
	pthread_mutex_destroy(&s->plock);
	free(s->incoming);
	free(s->root);
	free(s);
}
