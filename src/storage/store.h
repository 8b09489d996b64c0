/*
 * The instance store: files under one root, laid out as
 * <root>/<StudyUID>/<SeriesUID>/<SOPInstanceUID>.dcm, each first written by the event-loop
 * glue into <root>/incoming/<unique>.part and published by the committer thread (DESIGN.md,
 * Storage): the parts of a batch are renamed into place and indexed in one transaction, then
 * the files, their directories and the index's WAL are synced in one concurrent round (group
 * commit), and the loop is woken through cfg.notify. A C-STORE-RSP with success status may be
 * sent only for a request that came back from store_drain() with result 0 (or
 * STORE_DUPLICATE_KEPT): only then is the instance on disk and indexed. Rows whose syncs were
 * in flight at a crash are checked against their files by store_open (store.c).
 *
 * This header includes no uv.h: the glue passes a notify function (e.g. one calling
 * uv_async_send, whose wake-ups coalesce; store_drain returns everything done so far).
 *
 * Threads: store_open/store_close/store_free on the owner's thread; store_part_create,
 * store_part_discard, store_submit, store_drain, store_get_stats from any thread.
 */
#ifndef DICOMAID_STORAGE_STORE_H
#define DICOMAID_STORAGE_STORE_H

#include <errno.h>
#include <limits.h>
#ifndef PATH_MAX /* strict -std=c11 without _GNU_SOURCE/_POSIX_C_SOURCE: same value */
#include <linux/limits.h>
#endif
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dicom/attrs.h"
#include "storage/index.h"

struct store;

enum store_dup_policy {
	DUP_OVERWRITE, /* the new file replaces the stored one (rename over it) */
	DUP_KEEP,      /* the stored file stays; the new one is dropped, STORE_DUPLICATE_KEPT */
	DUP_REJECT,    /* the stored file stays; the request fails, STORE_DUPLICATE_REJECTED */
};

/* store_req.result besides 0 (stored) and negative errno-style codes. A file found at the
 * final path that the index does not know (left by a crash between rename and commit) is
 * not a duplicate: it is overwritten whatever the policy. */
#define STORE_DUPLICATE_KEPT 1               /* success: an identical SOP Instance was kept */
#define STORE_DUPLICATE_REJECTED (-EEXIST)   /* failure: policy DUP_REJECT */

#define STORE_SYNC_THREADS_DEFAULT 16
#define STORE_SYNC_THREADS_MAX 32

struct store_config {
	const char *root;            /* storage root; created if missing; copied */
	bool fsync;                  /* false: no fdatasync/fsync (tests, benchmarks only) */
	enum store_dup_policy duplicates;
	/* Threads that sync one batch's files, directories and index WAL together, and
	 * checksum its parts (the committer included; started once, by store_open);
	 * 0 means STORE_SYNC_THREADS_DEFAULT, at most STORE_SYNC_THREADS_MAX. */
	unsigned sync_threads;
	/* Called on the committer thread after each batch is on the done list and once more
	 * from store_close, with no store lock held (it may call store_drain). Must not block:
	 * typically uv_async_send(notify_arg). May be NULL. */
	void (*notify)(void *notify_arg);
	void *notify_arg;
};

/* One instance to publish. Allocated and owned by the caller; between store_submit and its
 * return by store_drain the store owns it and the caller must not touch it. */
struct store_req {
	/* in */
	int fd;                      /* the part, written but for its tail (below), or -1 when
				      * the whole file is the tail; the store closes it */
	char part_path[PATH_MAX];    /* as returned by store_part_create; the store fills it
				      * in when fd is -1 */
	struct dcm_attrs attrs;      /* from the streaming parser; UIDs are validated here */
	char ts_uid[65];             /* transfer syntax UID the file is encoded in */
	char calling_ae[17];         /* for the index */
	int64_t size;                /* bytes written; checked against the file when > 0 */
	/* Optional: store_crc32() of the first crc_size bytes the writer wrote, computed as it
	 * wrote them; when crc_size equals the file's size the store takes it for the file's
	 * store_pending row instead of reading the file back. 0 when none. */
	int64_t crc_size;
	uint32_t crc;
	/* Optional: the file's last tail_len bytes, not written yet: the committer writes them at
	 * tail_offset, through the page cache, creating the part first (store_part_create) when
	 * fd is -1. The bytes must stay valid until the request is drained. Small instances
	 * thereby reach the disk without a threadpool round trip, and their data is written back
	 * by the fdatasync that runs beside the directory and WAL syncs, not before them. */
	const uint8_t *tail;
	size_t tail_len;
	int64_t tail_offset;
	void *token;                 /* the caller's (e.g. association + message id) */
	/* Optional: called by whoever drains (the loop) instead of the default handling, e.g.
	 * to wake an analysis worker waiting for its result file to be committed. */
	void (*done_cb)(struct store_req *req);
	/* out */
	int result;                  /* 0, STORE_DUPLICATE_KEPT, or negative */
	char final_rel_path[256];    /* "<study>/<series>/<sop>.dcm" when result >= 0 */
	/* link: free for the caller's use while it owns the req; the store's while it has it */
	struct store_req *next;
	/* the store's while it has the req: a CRC-32 computed while the previous batch synced */
	uint32_t ahead_crc;
	int64_t ahead_size;          /* bytes ahead_crc covers; -1 when none */
	bool ahead_done;             /* the look-ahead has seen it */
	bool tail_written;           /* the tail is in the part already (look-ahead) */
};

struct store_stats {
	uint64_t batches;            /* group commits run */
	uint64_t items;              /* requests completed (any result) */
	uint64_t stored;             /* of which result 0 */
	uint64_t fsyncs;             /* fdatasync (files, index WAL) + directory fsync calls */
	uint64_t index_failures;     /* batches whose index transaction failed */
	uint64_t ahead;              /* tails written while the batch before synced */
};

/*
 * Creates root and root/incoming/ as needed, removes stale incoming/ *.part files (logged),
 * checks the instances an unclean stop left pending (store_pending: a file missing or whose
 * size or CRC-32 differs from its row is removed with its row; logged), and starts the
 * committer thread. ix is borrowed and must outlive the store; only the
 * committer thread uses it while the store is open. *out is released with store_close()
 * then store_free(). Returns 0 or a negative errno-style code.
 */
int store_open(const struct store_config *cfg, struct index *ix, struct store **out);

/*
 * Creates incoming/<unique>.part (O_CREAT|O_EXCL|O_CLOEXEC|O_RDWR, mode 0640: the committer
 * reads it back for its CRC-32); its
 * absolute path is written to path and the fd to *fd. The caller writes the Part 10 file
 * into it and then either submits it or calls store_part_discard.
 */
int store_part_create(struct store *s, char path[PATH_MAX], int *fd);

/* Alignment of the offsets, lengths and buffer addresses of writes to a direct descriptor. */
#define STORE_DIRECT_ALIGN 4096

/*
 * Opens the part at path (from store_part_create) a second time, write-only and bypassing the
 * page cache (O_DIRECT): what is written with it goes to the device at once and the kernel
 * copies nothing (with fsync on, the data goes there before the C-STORE-RSP anyway). Writes
 * through it must be aligned to STORE_DIRECT_ALIGN; the rest goes through the part's own fd.
 * Returns a descriptor the caller closes, or -EOPNOTSUPP: fsync is off, or the file system
 * refused O_DIRECT once (logged; not tried again). Other negative codes: errno of open.
 */
int store_part_open_direct(struct store *s, const char *path);

/* Closes fd (if >= 0) and unlinks path: a transfer that will not be stored. */
void store_part_discard(struct store *s, const char *path, int fd);

/*
 * Queues req for the committer thread. On 0 the store owns req until store_drain returns
 * it (always, whatever its result). -ESHUTDOWN after store_close: req stays the caller's,
 * who must discard the part.
 */
int store_submit(struct store *s, struct store_req *req);

/* Takes every completed request, in completion order, linked by ->next (NULL-terminated),
 * into *done; returns how many. The caller owns them again. */
size_t store_drain(struct store *s, struct store_req **done);

/* The absolute path of the storage root (final_rel_path is relative to it). Borrowed,
 * valid until store_free. */
const char *store_root(const struct store *s);

/* Whether committed files get a CRC-32 (store_pending rows; fsync on): a writer that does
 * not compute one (store_req.crc_size) need not when this is false. Fixed at store_open. */
bool store_wants_crc(const struct store *s);

/* Counters so far (a consistent snapshot). */
void store_get_stats(struct store *s, struct store_stats *out);

/* Completes every queued request, stops the committer thread and calls notify once more.
 * Completed requests remain available to store_drain until store_free. Idempotent. */
void store_close(struct store *s);

/* Releases a closed store (closing it first if needed). Requests not drained yet are
 * dropped without being freed: drain before. NULL is ignored. */
void store_free(struct store *s);

/* A UID usable as a path component: 1..64 chars of digits and dots, no empty component
 * (PS3.5 9.1). Anything else is never put into a path. */
bool store_uid_valid(const char *uid);

#endif
