/*
 * fsync_shim.c — LD_PRELOAD library that makes a program's file writes durable before it
 * closes them, so that dcmtk's storescp (which never syncs) can be compared fairly with a
 * SCP that only answers C-STORE-RSP once the instance is on stable storage.
 *
 * Build:  cc -O2 -Wall -Wextra -shared -fPIC -o fsync_shim.so bench/fsync_shim.c -ldl
 * Use:    LD_PRELOAD=$PWD/fsync_shim.so storescp ...
 *
 * What it wraps (and nothing else):
 *   open, open64, openat, openat64, creat, creat64
 *       call the real function; when it succeeds and the access mode is O_WRONLY or O_RDWR
 *       (or O_CREAT is set) the returned descriptor is remembered as "written".
 *   fopen, fopen64, freopen, freopen64, fdopen
 *       call the real function; when the mode string contains 'w', 'a' or '+' the stream's
 *       descriptor (fileno) is remembered as "written".  (glibc's fopen opens the file with an
 *       internal open that an LD_PRELOAD wrapper of open() does not see, hence these wrappers.)
 *   close(fd)
 *       for a remembered descriptor of a regular file: fdatasync(fd), note the file's directory
 *       (readlink /proc/self/fd/N), call the real close, then open the directory O_RDONLY and
 *       fsync it, so the file's directory entry is durable too.  Others: just the real close.
 *   fclose(stream)
 *       for a remembered descriptor: fflush(stream), fdatasync(fileno), note the directory,
 *       real fclose, fsync the directory.  (glibc's fclose closes its descriptor internally, so
 *       the close() wrapper would not see it.)
 *   rename, renameat, renameat2
 *       call the real function; on success fsync the directory of the new path and, when it is
 *       a different directory, of the old path.
 *
 * Limits: descriptors >= SHIM_MAX_FD (65536) are not tracked; dup()ed descriptors are not
 * tracked; writes through mmap are not synced (storescp does not use these).  Sync errors are
 * reported on stderr once and otherwise ignored: the shim never changes a call's result.
 * Thread-safe for the per-descriptor flags (atomic bytes).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SHIM_MAX_FD 65536

/* written[fd] != 0: fd was opened by this process for writing and must be synced on close. */
static atomic_uchar written[SHIM_MAX_FD];
static atomic_int warned;

/* Resolve the next definition of NAME (the real libc one) once, lazily. */
#define REAL(ret, name, params)                                         \
	static ret(*real_##name) params;                                    \
	static ret(*get_##name(void)) params                                \
	{                                                                   \
		if (!real_##name)                                               \
			real_##name = (ret(*) params)dlsym(RTLD_NEXT, #name);       \
		return real_##name;                                             \
	}

REAL(int, open, (const char *, int, ...))
REAL(int, open64, (const char *, int, ...))
REAL(int, openat, (int, const char *, int, ...))
REAL(int, openat64, (int, const char *, int, ...))
REAL(int, creat, (const char *, mode_t))
REAL(int, creat64, (const char *, mode_t))
REAL(FILE *, fopen, (const char *, const char *))
REAL(FILE *, fopen64, (const char *, const char *))
REAL(FILE *, freopen, (const char *, const char *, FILE *))
REAL(FILE *, freopen64, (const char *, const char *, FILE *))
REAL(FILE *, fdopen, (int, const char *))
REAL(int, close, (int))
REAL(int, fclose, (FILE *))
REAL(int, rename, (const char *, const char *))
REAL(int, renameat, (int, const char *, int, const char *))
REAL(int, renameat2, (int, const char *, int, const char *, unsigned int))

static void warn_once(const char *what, int err)
{
	if (atomic_exchange(&warned, 1) == 0)
		fprintf(stderr, "fsync_shim: %s: %s\n", what, strerror(err));
}

static void mark(int fd, int flags)
{
	int acc = flags & O_ACCMODE;
	/* store, not just set: a descriptor number reused after a close we did not see
	 * (e.g. inside libc) must not keep a stale flag */
	if (fd >= 0 && fd < SHIM_MAX_FD)
		atomic_store(&written[fd], acc == O_WRONLY || acc == O_RDWR || (flags & O_CREAT));
}

static void mark_mode(int fd, const char *mode)
{
	if (fd >= 0 && fd < SHIM_MAX_FD)
		atomic_store(&written[fd], mode && strpbrk(mode, "wa+") != NULL);
}

/* fsync the directory DIR (a path); errors are warned about once. */
static void sync_dir(const char *dir)
{
	int d = get_open()(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (d < 0) {
		warn_once("open directory", errno);
		return;
	}
	if (fsync(d) != 0)
		warn_once("fsync directory", errno);
	get_close()(d);
}

/* Directory part of PATH into OUT (size PATH_MAX); relative names resolve against DIRFD/cwd
 * because we open the result relative to the cwd, which is right for AT_FDCWD; for another
 * dirfd we go through /proc/self/fd/DIRFD. */
static void dir_of(int dirfd, const char *path, char *out)
{
	const char *slash = strrchr(path, '/');
	if (path[0] != '/' && dirfd != AT_FDCWD) {
		if (slash)
			snprintf(out, PATH_MAX, "/proc/self/fd/%d/%.*s", dirfd, (int)(slash - path), path);
		else
			snprintf(out, PATH_MAX, "/proc/self/fd/%d", dirfd);
		return;
	}
	if (!slash)
		snprintf(out, PATH_MAX, ".");
	else if (slash == path)
		snprintf(out, PATH_MAX, "/");
	else
		snprintf(out, PATH_MAX, "%.*s", (int)(slash - path), path);
}

/* Before closing a tracked FD: fdatasync it and put its directory in DIR.  Returns 1 if the
 * caller must fsync DIR after the close, 0 otherwise. */
static int before_close(int fd, char *dir)
{
	if (fd < 0 || fd >= SHIM_MAX_FD || !atomic_exchange(&written[fd], 0))
		return 0;
	struct stat st;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
		return 0;
	if (fdatasync(fd) != 0)
		warn_once("fdatasync", errno);
	char link[64], target[PATH_MAX];
	snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
	ssize_t n = readlink(link, target, sizeof target - 1);
	if (n <= 0)
		return 0;
	target[n] = '\0';
	dir_of(AT_FDCWD, target, dir);
	return 1;
}

static int getmode(int flags, va_list ap)
{
	return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE ? va_arg(ap, int) : 0;
}

int open(const char *path, int flags, ...)
{
	va_list ap;
	va_start(ap, flags);
	int mode = getmode(flags, ap);
	va_end(ap);
	int fd = get_open()(path, flags, mode);
	mark(fd, flags);
	return fd;
}

int open64(const char *path, int flags, ...)
{
	va_list ap;
	va_start(ap, flags);
	int mode = getmode(flags, ap);
	va_end(ap);
	int fd = get_open64()(path, flags, mode);
	mark(fd, flags);
	return fd;
}

int openat(int dirfd, const char *path, int flags, ...)
{
	va_list ap;
	va_start(ap, flags);
	int mode = getmode(flags, ap);
	va_end(ap);
	int fd = get_openat()(dirfd, path, flags, mode);
	mark(fd, flags);
	return fd;
}

int openat64(int dirfd, const char *path, int flags, ...)
{
	va_list ap;
	va_start(ap, flags);
	int mode = getmode(flags, ap);
	va_end(ap);
	int fd = get_openat64()(dirfd, path, flags, mode);
	mark(fd, flags);
	return fd;
}

int creat(const char *path, mode_t mode)
{
	int fd = get_creat()(path, mode);
	mark(fd, O_WRONLY | O_CREAT);
	return fd;
}

int creat64(const char *path, mode_t mode)
{
	int fd = get_creat64()(path, mode);
	mark(fd, O_WRONLY | O_CREAT);
	return fd;
}

FILE *fopen(const char *path, const char *mode)
{
	FILE *f = get_fopen()(path, mode);
	if (f)
		mark_mode(fileno(f), mode);
	return f;
}

FILE *fopen64(const char *path, const char *mode)
{
	FILE *f = get_fopen64()(path, mode);
	if (f)
		mark_mode(fileno(f), mode);
	return f;
}

FILE *freopen(const char *path, const char *mode, FILE *stream)
{
	FILE *f = get_freopen()(path, mode, stream);
	if (f)
		mark_mode(fileno(f), mode);
	return f;
}

FILE *freopen64(const char *path, const char *mode, FILE *stream)
{
	FILE *f = get_freopen64()(path, mode, stream);
	if (f)
		mark_mode(fileno(f), mode);
	return f;
}

FILE *fdopen(int fd, const char *mode)
{
	FILE *f = get_fdopen()(fd, mode);
	if (f)
		mark_mode(fd, mode);
	return f;
}

int close(int fd)
{
	char dir[PATH_MAX];
	int sync = before_close(fd, dir);
	int r = get_close()(fd);
	if (sync) {
		int e = errno;
		sync_dir(dir);
		errno = e;
	}
	return r;
}

int fclose(FILE *stream)
{
	char dir[PATH_MAX];
	int sync = 0;
	int fd = stream ? fileno(stream) : -1;
	if (fd >= 0 && fd < SHIM_MAX_FD && atomic_load(&written[fd])) {
		fflush(stream);
		sync = before_close(fd, dir);
	}
	int r = get_fclose()(stream);
	if (sync) {
		int e = errno;
		sync_dir(dir);
		errno = e;
	}
	return r;
}

static void after_rename(int olddirfd, const char *oldpath, int newdirfd, const char *newpath)
{
	char a[PATH_MAX], b[PATH_MAX];
	int e = errno;
	dir_of(newdirfd, newpath, b);
	sync_dir(b);
	dir_of(olddirfd, oldpath, a);
	if (strcmp(a, b) != 0)
		sync_dir(a);
	errno = e;
}

int rename(const char *oldpath, const char *newpath)
{
	int r = get_rename()(oldpath, newpath);
	if (r == 0)
		after_rename(AT_FDCWD, oldpath, AT_FDCWD, newpath);
	return r;
}

int renameat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath)
{
	int r = get_renameat()(olddirfd, oldpath, newdirfd, newpath);
	if (r == 0)
		after_rename(olddirfd, oldpath, newdirfd, newpath);
	return r;
}

int renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath,
	      unsigned int flags)
{
	int r = get_renameat2()(olddirfd, oldpath, newdirfd, newpath, flags);
	if (r == 0)
		after_rename(olddirfd, oldpath, newdirfd, newpath);
	return r;
}
