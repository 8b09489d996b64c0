/*
 * dicomaidctl: the operator's command-line client (dicomaidctl(1)). It reads the daemon's
 * configuration file to find the control socket and the index. Commands that act on the
 * running daemon (status, reload, echo, reanalyze, retry) go over the control socket
 * (ctl/proto.h); listings that only read the index (studies, study, findings) open the
 * SQLite database read-only themselves, so they work while the daemon is down.
 *
 * Exit status (a contract, documented in the man page): see enum exit_code.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "config.h"
#include "ctl/json.h"
#include "ctl/proto.h"
#include "storage/index.h"
#include "util/config.h"

enum exit_code {
	EXIT_OK = 0,
	EXIT_FAILED = 1,      /* the command ran and failed, or config/index unreadable */
	EXIT_USAGE = 2,       /* bad command line */
	EXIT_NOT_RUNNING = 3, /* no daemon on the control socket */
	EXIT_NOT_FOUND = 4,   /* the study / peer named does not exist */
	EXIT_UNSUPPORTED = 5, /* analysis off, or an index without analysis tables */
};

#define DEFAULT_CONFIG SYSCONFDIR "/dicomaid/dicomaid.conf"
/* How long we wait for the daemon's answer: an echo may take its own 10 s timeout. */
#define ANSWER_TIMEOUT_S 60

static bool opt_json;
static const char *progname = "dicomaidctl";

static void usage(FILE *f)
{
	fprintf(f,
		"usage: dicomaidctl [-c FILE] [--json] COMMAND [ARGS]\n"
		"commands:\n"
		"  status                          state of the running daemon\n"
		"  studies [--since DATE] [--patient ID]\n"
		"                                  studies in the index (received since DATE)\n"
		"  study UID                       one study: series, analysis, findings\n"
		"  findings [--positive]           latest analysis of each series, findings\n"
		"  reanalyze STUDY|SERIES          queue a study or series for analysis again\n"
		"  retry                           retry failed jobs and deliveries\n"
		"  echo DESTINATION                C-ECHO a [peer] (by name or AE title)\n"
		"  reload                          re-read the configuration (as SIGHUP)\n"
		"options:\n"
		"  -c, --config FILE   configuration file (default " DEFAULT_CONFIG ",\n"
		"                      or the embedded default when that does not exist)\n"
		"  -j, --json          JSON output\n"
		"  -V, --version       print the version and exit\n"
		"  -h, --help          this help\n");
}

static int fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(int code, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "%s: ", progname);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return code;
}

/* Prints b (one JSON document) and a newline; frees b. */
static int emit(struct jbuf *b)
{
	jb_raw(b, "\n");
	if (b->oom) {
		jb_free(b);
		return fail(EXIT_FAILED, "out of memory");
	}
	fputs(b->p, stdout);
	jb_free(b);
	return EXIT_OK;
}

/* ---- daemon commands ------------------------------------------------------------- */

/*
 * Sends one request line to the daemon and reads the one-line answer into ans (cap bytes,
 * NUL terminated, without its LF). Returns EXIT_OK, or an exit code after printing why.
 */
static int ask_daemon(const struct config *cfg, const char *request, char *ans, size_t cap)
{
	if (!cfg->control_socket[0])
		return fail(EXIT_FAILED, "%s: [control] socket is not set and <storage path>/"
			    "dicomaid.sock is too long for a socket path", cfg->source);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return fail(EXIT_FAILED, "socket: %s", strerror(errno));
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", cfg->control_socket);
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		int e = errno;
		close(fd);
		if (e == ENOENT || e == ECONNREFUSED)
			return fail(EXIT_NOT_RUNNING, "dicomaid is not running (nothing listens on %s)",
				    cfg->control_socket);
		if (e == EACCES)
			return fail(EXIT_FAILED, "%s: permission denied (control needs the socket's "
				    "owner or group)", cfg->control_socket);
		return fail(EXIT_FAILED, "%s: %s", cfg->control_socket, strerror(e));
	}
	struct timeval tv = { .tv_sec = ANSWER_TIMEOUT_S };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	size_t rl = strlen(request), off = 0;
	while (off < rl) {
		ssize_t n = send(fd, request + off, rl - off, MSG_NOSIGNAL);
		if (n < 0) {
			int e = errno;
			close(fd);
			return fail(EXIT_FAILED, "sending to %s: %s", cfg->control_socket, strerror(e));
		}
		off += (size_t)n;
	}
	size_t len = 0;
	for (;;) {
		if (len + 1 >= cap) {
			close(fd);
			return fail(EXIT_FAILED, "answer from the daemon is too long");
		}
		ssize_t n = recv(fd, ans + len, cap - 1 - len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int e = n < 0 ? errno : 0;
			close(fd);
			if (e == EAGAIN || e == EWOULDBLOCK)
				return fail(EXIT_FAILED, "no answer from the daemon in %d s",
					    ANSWER_TIMEOUT_S);
			return fail(EXIT_FAILED, "the daemon closed the connection%s%s",
				    e ? ": " : " without an answer", e ? strerror(e) : "");
		}
		len += (size_t)n;
		ans[len] = '\0';
		char *nl = memchr(ans, '\n', len);
		if (nl) {
			*nl = '\0';
			break;
		}
	}
	close(fd);
	return EXIT_OK;
}

static int code_exit(const char *code)
{
	if (strcmp(code, CTL_CODE_NOT_FOUND) == 0)
		return EXIT_NOT_FOUND;
	if (strcmp(code, CTL_CODE_UNSUPPORTED) == 0)
		return EXIT_UNSUPPORTED;
	if (strcmp(code, CTL_CODE_USAGE) == 0)
		return EXIT_USAGE;
	return EXIT_FAILED;
}

static const char *member_text(const struct json_member *m)
{
	switch (m->type) {
	case JSON_TRUE: return "yes";
	case JSON_FALSE: return "no";
	case JSON_NULL: return "unknown";
	default: return m->value;
	}
}

/* Human labels for the status answer; keys not listed are printed as they are. */
static const struct { const char *key, *label; } status_labels[] = {
	{ "version", "version" },
	{ "pid", "pid" },
	{ "ae_title", "AE title" },
	{ "uptime_s", "uptime (s)" },
	{ "stopping", "stopping" },
	{ "listeners", "listening sockets" },
	{ "connections", "connections" },
	{ "associations", "associations open" },
	{ "max_associations", "associations max" },
	{ "instances_received", "instances received" },
	{ "instances_last_minute", "instances last minute" },
	{ "analysis_enabled", "analysis enabled" },
	{ "jobs_pending", "analysis pending" },
	{ "jobs_running", "analysis running" },
	{ "jobs_done", "analysis done" },
	{ "jobs_failed", "analysis failed" },
	{ "jobs_not_applicable", "analysis not applicable" },
	{ "deliveries_pending", "deliveries pending" },
	{ "deliveries_sending", "deliveries sending" },
	{ "deliveries_sent", "deliveries sent" },
	{ "deliveries_failed", "deliveries failed" },
};

static int daemon_command(const struct config *cfg, const char *request)
{
	char ans[8192];
	int rc = ask_daemon(cfg, request, ans, sizeof ans);
	if (rc != EXIT_OK)
		return rc;
	size_t len = strlen(ans);
	struct json_member m;
	if (json_flat_get(ans, len, "ok", &m) < 0 || (m.type != JSON_TRUE && m.type != JSON_FALSE))
		return fail(EXIT_FAILED, "unexpected answer from the daemon: %.200s", ans);
	if (m.type == JSON_FALSE) {
		struct json_member code, err;
		const char *c = json_flat_get(ans, len, "code", &code) == 0 ? code.value : "failed";
		if (opt_json)
			puts(ans);
		if (json_flat_get(ans, len, "error", &err) < 0)
			snprintf(err.value, sizeof err.value, "failed");
		return fail(code_exit(c), "%s", err.value);
	}
	if (opt_json) {
		puts(ans);
		return EXIT_OK;
	}
	size_t pos = 0;
	int r;
	while ((r = json_flat_next(ans, len, &pos, &m)) == 1) {
		if (strcmp(m.key, "ok") == 0)
			continue;
		const char *label = m.key;
		for (size_t i = 0; i < sizeof status_labels / sizeof status_labels[0]; i++)
			if (strcmp(status_labels[i].key, m.key) == 0)
				label = status_labels[i].label;
		printf("%-24s %s\n", label, member_text(&m));
	}
	if (r < 0)
		return fail(EXIT_FAILED, "unexpected answer from the daemon: %.200s", ans);
	return EXIT_OK;
}

/* ---- index listings -------------------------------------------------------------- */

/* The schema version of db (PRAGMA user_version), or -1 with *err set to SQLite's code. */
static int read_version(sqlite3 *db, int *err)
{
	sqlite3_stmt *st;
	int version = -1;
	*err = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL);
	if (*err == SQLITE_OK) {
		*err = sqlite3_step(st);
		if (*err == SQLITE_ROW) {
			version = sqlite3_column_int(st, 0);
			*err = SQLITE_OK;
		}
		sqlite3_finalize(st);
	}
	return version;
}

/* "file:PATH?immutable=1" with PATH percent-encoded where a URI needs it. */
static void immutable_uri(const char *path, char *out, size_t cap)
{
	size_t o = (size_t)snprintf(out, cap, "file:");
	for (const char *p = path; *p && o + 4 < cap; p++) {
		if (*p == '?' || *p == '#' || *p == '%')
			o += (size_t)snprintf(out + o, cap - o, "%%%02X", (unsigned char)*p);
		else
			out[o++] = *p;
	}
	snprintf(out + o, cap - o, "?immutable=1");
}

/*
 * Opens the index read-only. A WAL database needs its -shm file: while the daemon runs it
 * exists and a reader only has to read it; after the daemon stopped it is gone and a
 * reader without write access to the directory (an operator in the dicomaid group)
 * cannot create it. Then, and only then, the file is opened immutable: nobody writes it.
 */
static int open_index(const struct config *cfg, sqlite3 **out, int *schema)
{
	sqlite3 *db = NULL;
	int err = SQLITE_OK, version = -1;
	int rc = sqlite3_open_v2(cfg->index_database, &db, SQLITE_OPEN_READONLY, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_busy_timeout(db, INDEX_BUSY_TIMEOUT_MS);
		version = read_version(db, &err);
		if (version < 0 && (err == SQLITE_READONLY || err == SQLITE_CANTOPEN)) {
			char uri[2 * PATH_MAX];
			immutable_uri(cfg->index_database, uri, sizeof uri);
			sqlite3_close(db);
			db = NULL;
			rc = sqlite3_open_v2(uri, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL);
			if (rc == SQLITE_OK)
				version = read_version(db, &err);
		}
	}
	if (rc != SQLITE_OK) {
		int e = errno;
		int code = fail(EXIT_FAILED, "cannot open the index %s: %s%s%s", cfg->index_database,
				db ? sqlite3_errmsg(db) : sqlite3_errstr(rc),
				rc == SQLITE_CANTOPEN && e ? ": " : "",
				rc == SQLITE_CANTOPEN && e ? strerror(e) : "");
		sqlite3_close(db);
		return code;
	}
	if (version < 1) {
		int code = fail(EXIT_FAILED, "%s: not a dicomaid index (%s)", cfg->index_database,
				version < 0 ? sqlite3_errmsg(db) : "schema version 0");
		sqlite3_close(db);
		return code;
	}
	if ((size_t)version > index_schema_latest()) {
		sqlite3_close(db);
		return fail(EXIT_FAILED, "%s: index schema %d is newer than this dicomaidctl "
			    "knows (%zu); use the dicomaidctl of the running dicomaid",
			    cfg->index_database, version, index_schema_latest());
	}
	*out = db;
	if (schema)
		*schema = version;
	return EXIT_OK;
}

/* The analysis tables (analyses, findings, deliveries) arrived with schema version 3. */
#define SCHEMA_ANALYSIS 3

static const char *col(sqlite3_stmt *st, int i)
{
	return (const char *)sqlite3_column_text(st, i); /* NULL for SQL NULL */
}

/* Unix ms as "YYYY-MM-DD HH:MM:SS" local time. */
static const char *fmt_ms(int64_t ms, char out[32])
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	if (!localtime_r(&t, &tm) || !strftime(out, 32, "%Y-%m-%d %H:%M:%S", &tm))
		snprintf(out, 32, "?");
	return out;
}

/* DATE as YYYY-MM-DD or YYYYMMDD, local midnight, into Unix ms. */
static int parse_date(const char *s, int64_t *ms)
{
	char d[9];
	size_t n = strlen(s);
	if (n == 10 && s[4] == '-' && s[7] == '-') {
		memcpy(d, s, 4);
		memcpy(d + 4, s + 5, 2);
		memcpy(d + 6, s + 8, 2);
	} else if (n == 8) {
		memcpy(d, s, 8);
	} else {
		return -1;
	}
	d[8] = '\0';
	if (strspn(d, "0123456789") != 8)
		return -1;
	struct tm tm = { 0 };
	tm.tm_year = (d[0] - '0') * 1000 + (d[1] - '0') * 100 + (d[2] - '0') * 10 + (d[3] - '0') - 1900;
	tm.tm_mon = (d[4] - '0') * 10 + (d[5] - '0') - 1;
	tm.tm_mday = (d[6] - '0') * 10 + (d[7] - '0');
	tm.tm_isdst = -1;
	if (tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31)
		return -1;
	time_t t = mktime(&tm);
	if (t == (time_t)-1)
		return -1;
	*ms = (int64_t)t * 1000;
	return 0;
}

static int cmd_studies(const struct config *cfg, int argc, char **argv)
{
	const char *patient = NULL;
	int64_t since = -1;
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--since") == 0 && i + 1 < argc) {
			if (parse_date(argv[++i], &since) < 0)
				return fail(EXIT_USAGE, "--since %s: not a date (YYYY-MM-DD)", argv[i]);
		} else if (strcmp(argv[i], "--patient") == 0 && i + 1 < argc) {
			patient = argv[++i];
		} else {
			return fail(EXIT_USAGE, "studies: unexpected '%s' (--since DATE, --patient ID)",
				    argv[i]);
		}
	}
	sqlite3 *db;
	int rc = open_index(cfg, &db, NULL);
	if (rc != EXIT_OK)
		return rc;
	static const char sql[] =
		"SELECT s.study_uid, p.patient_id, p.name, s.study_date, s.study_time, "
		"s.accession, s.description, "
		"(SELECT group_concat(m, ',') FROM (SELECT DISTINCT modality AS m FROM series "
		"  WHERE study_ref = s.id AND modality IS NOT NULL ORDER BY m)), "
		"(SELECT count(*) FROM series WHERE study_ref = s.id), "
		"(SELECT count(*) FROM instances i JOIN series se ON i.series_ref = se.id "
		"  WHERE se.study_ref = s.id), "
		"s.created_at, s.updated_at "
		"FROM studies s JOIN patients p ON s.patient_ref = p.id "
		"WHERE (?1 < 0 OR s.created_at >= ?1) AND (?2 IS NULL OR p.patient_id = ?2) "
		"ORDER BY s.created_at DESC, s.id DESC";
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		rc = fail(EXIT_FAILED, "index query: %s", sqlite3_errmsg(db));
		sqlite3_close(db);
		return rc;
	}
	sqlite3_bind_int64(st, 1, since);
	if (patient)
		sqlite3_bind_text(st, 2, patient, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 2);
	struct jbuf b;
	jb_init(&b);
	jb_arr_begin(&b);
	if (!opt_json)
		printf("%-10s %-16s %-8s %6s %9s  %-19s  %s\n", "DATE", "PATIENT ID", "MOD",
		       "SERIES", "INSTANCES", "RECEIVED", "STUDY UID");
	int step;
	unsigned n = 0;
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		char t1[32], t2[32];
		n++;
		if (opt_json) {
			jb_obj_begin(&b);
			jb_key(&b, "study_uid"); jb_str(&b, col(st, 0));
			jb_key(&b, "patient_id"); jb_str(&b, col(st, 1));
			jb_key(&b, "patient_name"); jb_str(&b, col(st, 2));
			jb_key(&b, "study_date"); jb_str(&b, col(st, 3));
			jb_key(&b, "study_time"); jb_str(&b, col(st, 4));
			jb_key(&b, "accession"); jb_str(&b, col(st, 5));
			jb_key(&b, "description"); jb_str(&b, col(st, 6));
			jb_key(&b, "modalities"); jb_str(&b, col(st, 7) ? col(st, 7) : "");
			jb_key(&b, "series"); jb_int(&b, sqlite3_column_int64(st, 8));
			jb_key(&b, "instances"); jb_int(&b, sqlite3_column_int64(st, 9));
			jb_key(&b, "received_first"); jb_str(&b, fmt_ms(sqlite3_column_int64(st, 10), t1));
			jb_key(&b, "received_last"); jb_str(&b, fmt_ms(sqlite3_column_int64(st, 11), t2));
			jb_obj_end(&b);
		} else {
			const char *date = col(st, 3);
			char dd[11] = "-";
			if (date && strlen(date) == 8)
				snprintf(dd, sizeof dd, "%.4s-%.2s-%.2s", date, date + 4, date + 6);
			printf("%-10s %-16s %-8s %6lld %9lld  %-19s  %s\n", dd,
			       col(st, 1) && *col(st, 1) ? col(st, 1) : "-",
			       col(st, 7) ? col(st, 7) : "-",
			       (long long)sqlite3_column_int64(st, 8),
			       (long long)sqlite3_column_int64(st, 9),
			       fmt_ms(sqlite3_column_int64(st, 10), t1), col(st, 0));
		}
	}
	jb_arr_end(&b);
	if (step != SQLITE_DONE) {
		rc = fail(EXIT_FAILED, "index query: %s", sqlite3_errmsg(db));
		jb_free(&b);
	} else if (opt_json) {
		rc = emit(&b);
	} else {
		jb_free(&b);
		printf("(%u %s)\n", n, n == 1 ? "study" : "studies");
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	return rc;
}

/* ---- analysis results ---------------------------------------------------------- */

/* The latest analysis of each series and its findings (sql/003_analysis.sql). */
static const char q_findings[] =
	"SELECT lesion, type, code_meaning, probability, centre_x, centre_y, centre_z, "
	"extent_x, extent_y, extent_z, volume_mm3, slices, tracking_uid "
	"FROM findings WHERE analysis_ref = ?1 ORDER BY lesion";

static void json_real_or_null(struct jbuf *b, sqlite3_stmt *st, int i)
{
	if (sqlite3_column_type(st, i) == SQLITE_NULL)
		jb_null(b);
	else
		jb_real(b, sqlite3_column_double(st, i));
}

/* Writes the findings of analysis aid: as a JSON array into b, or as text lines. */
static int emit_findings(sqlite3 *db, int64_t aid, struct jbuf *b, const char *indent)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, q_findings, -1, &st, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_int64(st, 1, aid);
	if (opt_json)
		jb_arr_begin(b);
	int step;
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		if (opt_json) {
			jb_obj_begin(b);
			jb_key(b, "lesion"); jb_int(b, sqlite3_column_int64(st, 0));
			jb_key(b, "type"); jb_str(b, col(st, 1));
			jb_key(b, "code_meaning"); jb_str(b, col(st, 2));
			jb_key(b, "probability"); json_real_or_null(b, st, 3);
			jb_key(b, "centre_mm");
			jb_arr_begin(b);
			for (int k = 4; k <= 6; k++)
				json_real_or_null(b, st, k);
			jb_arr_end(b);
			jb_key(b, "extent_mm");
			jb_arr_begin(b);
			for (int k = 7; k <= 9; k++)
				json_real_or_null(b, st, k);
			jb_arr_end(b);
			jb_key(b, "volume_mm3"); json_real_or_null(b, st, 10);
			jb_key(b, "slices"); jb_int(b, sqlite3_column_int64(st, 11));
			jb_key(b, "tracking_uid"); jb_str(b, col(st, 12));
			jb_obj_end(b);
		} else {
			const char *type = col(st, 1) && *col(st, 1) ? col(st, 1) : "lesion";
			printf("%s#%lld %s, probability %.2f, centre (%.1f, %.1f, %.1f) mm, "
			       "%.1f cm3, %lld slices\n", indent, (long long)sqlite3_column_int64(st, 0),
			       type, sqlite3_column_double(st, 3), sqlite3_column_double(st, 4),
			       sqlite3_column_double(st, 5), sqlite3_column_double(st, 6),
			       sqlite3_column_double(st, 10) / 1000.0,
			       (long long)sqlite3_column_int64(st, 11));
		}
	}
	if (opt_json)
		jb_arr_end(b);
	sqlite3_finalize(st);
	return step == SQLITE_DONE ? 0 : -1;
}

static int cmd_study(const struct config *cfg, const char *uid)
{
	sqlite3 *db;
	int schema = 0;
	int rc = open_index(cfg, &db, &schema);
	if (rc != EXIT_OK)
		return rc;
	bool have_analysis = schema >= SCHEMA_ANALYSIS;
	sqlite3_stmt *st = NULL, *se = NULL, *an = NULL;
	static const char q_study[] =
		"SELECT s.id, s.study_uid, p.patient_id, p.name, p.birth_date, p.sex, "
		"s.study_date, s.study_time, s.accession, s.study_id, s.description, "
		"s.created_at, s.updated_at "
		"FROM studies s JOIN patients p ON s.patient_ref = p.id WHERE s.study_uid = ?1";
	static const char q_series[] =
		"SELECT se.series_uid, se.number, se.modality, se.description, count(i.id), "
		"coalesce(sum(i.file_size), 0), min(i.received_at), max(i.received_at), se.id "
		"FROM series se LEFT JOIN instances i ON i.series_ref = se.id "
		"WHERE se.study_ref = ?1 GROUP BY se.id ORDER BY se.number, se.series_uid";
	static const char q_analysis[] =
		"SELECT id, state, updated_at, study_probability, "
		"coalesce(lesions, (SELECT count(*) FROM findings f WHERE f.analysis_ref = a.id)), "
		"last_error, sr_uid, attempts FROM analyses a WHERE series_ref = ?1 "
		"ORDER BY id DESC LIMIT 1";
	if (sqlite3_prepare_v2(db, q_study, -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, q_series, -1, &se, NULL) != SQLITE_OK ||
	    (have_analysis && sqlite3_prepare_v2(db, q_analysis, -1, &an, NULL) != SQLITE_OK)) {
		rc = fail(EXIT_FAILED, "index query: %s", sqlite3_errmsg(db));
		goto out;
	}
	sqlite3_bind_text(st, 1, uid, -1, SQLITE_STATIC);
	int step = sqlite3_step(st);
	if (step == SQLITE_DONE) {
		rc = fail(EXIT_NOT_FOUND, "no study %s in %s", uid, cfg->index_database);
		goto out;
	}
	if (step != SQLITE_ROW) {
		rc = fail(EXIT_FAILED, "index query: %s", sqlite3_errmsg(db));
		goto out;
	}
	char t1[32], t2[32];
	struct jbuf b;
	jb_init(&b);
	if (opt_json) {
		jb_obj_begin(&b);
		jb_key(&b, "study_uid"); jb_str(&b, col(st, 1));
		jb_key(&b, "patient_id"); jb_str(&b, col(st, 2));
		jb_key(&b, "patient_name"); jb_str(&b, col(st, 3));
		jb_key(&b, "patient_birth_date"); jb_str(&b, col(st, 4));
		jb_key(&b, "patient_sex"); jb_str(&b, col(st, 5));
		jb_key(&b, "study_date"); jb_str(&b, col(st, 6));
		jb_key(&b, "study_time"); jb_str(&b, col(st, 7));
		jb_key(&b, "accession"); jb_str(&b, col(st, 8));
		jb_key(&b, "study_id"); jb_str(&b, col(st, 9));
		jb_key(&b, "description"); jb_str(&b, col(st, 10));
		jb_key(&b, "received_first"); jb_str(&b, fmt_ms(sqlite3_column_int64(st, 11), t1));
		jb_key(&b, "received_last"); jb_str(&b, fmt_ms(sqlite3_column_int64(st, 12), t2));
		jb_key(&b, "series");
		jb_arr_begin(&b);
	} else {
		printf("study       %s\n", col(st, 1));
		printf("patient id  %s\n", col(st, 2) && *col(st, 2) ? col(st, 2) : "-");
		printf("patient     %s\n", col(st, 3) ? col(st, 3) : "-");
		printf("study date  %s %s\n", col(st, 6) ? col(st, 6) : "-", col(st, 7) ? col(st, 7) : "");
		printf("accession   %s\n", col(st, 8) ? col(st, 8) : "-");
		printf("description %s\n", col(st, 10) ? col(st, 10) : "-");
		printf("received    %s .. %s\n\n", fmt_ms(sqlite3_column_int64(st, 11), t1),
		       fmt_ms(sqlite3_column_int64(st, 12), t2));
		printf("%6s %-4s %9s %12s  %-16s %s\n", "NUMBER", "MOD", "INSTANCES", "BYTES",
		       "ANALYSIS", "SERIES UID");
	}
	sqlite3_bind_int64(se, 1, sqlite3_column_int64(st, 0));
	while ((step = sqlite3_step(se)) == SQLITE_ROW) {
		/* The series' latest analysis, if any. */
		bool analysed = false;
		if (an) {
			sqlite3_reset(an);
			sqlite3_bind_int64(an, 1, sqlite3_column_int64(se, 8));
			int as = sqlite3_step(an);
			if (as != SQLITE_ROW && as != SQLITE_DONE) {
				rc = fail(EXIT_FAILED, "index query: %s", sqlite3_errmsg(db));
				jb_free(&b);
				goto out;
			}
			analysed = as == SQLITE_ROW;
		}
		if (opt_json) {
			jb_obj_begin(&b);
			jb_key(&b, "series_uid"); jb_str(&b, col(se, 0));
			jb_key(&b, "number");
			if (sqlite3_column_type(se, 1) == SQLITE_NULL)
				jb_null(&b);
			else
				jb_int(&b, sqlite3_column_int64(se, 1));
			jb_key(&b, "modality"); jb_str(&b, col(se, 2));
			jb_key(&b, "description"); jb_str(&b, col(se, 3));
			jb_key(&b, "instances"); jb_int(&b, sqlite3_column_int64(se, 4));
			jb_key(&b, "bytes"); jb_int(&b, sqlite3_column_int64(se, 5));
			/* null: never analysed (or no analysis tables in this index) */
			jb_key(&b, "analysis");
			if (!analysed) {
				jb_null(&b);
			} else {
				jb_obj_begin(&b);
				jb_key(&b, "state"); jb_str(&b, col(an, 1));
				jb_key(&b, "updated"); jb_str(&b, fmt_ms(sqlite3_column_int64(an, 2), t1));
				jb_key(&b, "attempts"); jb_int(&b, sqlite3_column_int64(an, 7));
				jb_key(&b, "study_probability"); json_real_or_null(&b, an, 3);
				jb_key(&b, "lesions"); jb_int(&b, sqlite3_column_int64(an, 4));
				jb_key(&b, "error"); jb_str(&b, col(an, 5));
				jb_key(&b, "sr_uid"); jb_str(&b, col(an, 6));
				jb_key(&b, "findings");
				if (emit_findings(db, sqlite3_column_int64(an, 0), &b, "") < 0) {
					rc = fail(EXIT_FAILED, "index query: %s", sqlite3_errmsg(db));
					jb_free(&b);
					goto out;
				}
				jb_obj_end(&b);
			}
			jb_obj_end(&b);
		} else {
			char state[40] = "-";
			if (analysed && strcmp(col(an, 1), "done") == 0)
				snprintf(state, sizeof state, "done, %lld found",
					 (long long)sqlite3_column_int64(an, 4));
			else if (analysed)
				snprintf(state, sizeof state, "%s", col(an, 1));
			printf("%6s %-4s %9lld %12lld  %-16s %s\n",
			       col(se, 1) ? col(se, 1) : "-", col(se, 2) ? col(se, 2) : "-",
			       (long long)sqlite3_column_int64(se, 4),
			       (long long)sqlite3_column_int64(se, 5), state, col(se, 0));
			if (analysed && col(an, 5) && *col(an, 5))
				printf("%6s %s\n", "", col(an, 5));
			if (analysed && emit_findings(db, sqlite3_column_int64(an, 0), &b,
						       "         ") < 0) {
				rc = fail(EXIT_FAILED, "index query: %s", sqlite3_errmsg(db));
				goto out;
			}
		}
	}
	if (step != SQLITE_DONE) {
		jb_free(&b);
		rc = fail(EXIT_FAILED, "index query: %s", sqlite3_errmsg(db));
		goto out;
	}
	if (opt_json) {
		jb_arr_end(&b);
		jb_obj_end(&b);
		rc = emit(&b);
	} else {
		jb_free(&b);
		if (!have_analysis)
			printf("(this index has no analysis tables: schema %d)\n", schema);
	}
out:
	sqlite3_finalize(st);
	sqlite3_finalize(se);
	sqlite3_finalize(an);
	sqlite3_close(db);
	return rc;
}

/* The latest completed analysis of every series, with its findings; --positive keeps those
 * that found something. */
static int cmd_findings(const struct config *cfg, int argc, char **argv)
{
	bool positive = false;
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--positive") != 0)
			return fail(EXIT_USAGE, "findings: unexpected '%s' (--positive)", argv[i]);
		positive = true;
	}
	sqlite3 *db;
	int schema = 0;
	int rc = open_index(cfg, &db, &schema);
	if (rc != EXIT_OK)
		return rc;
	if (schema < SCHEMA_ANALYSIS) {
		sqlite3_close(db);
		return fail(EXIT_UNSUPPORTED, "%s has no analysis tables (schema %d; a dicomaid "
			    "with analysis upgrades it when it starts)", cfg->index_database, schema);
	}
	static const char sql[] =
		"SELECT a.id, st.study_uid, se.series_uid, p.patient_id, se.modality, a.updated_at, "
		"a.model_uid, a.study_probability, "
		"coalesce(a.lesions, (SELECT count(*) FROM findings f WHERE f.analysis_ref = a.id)) AS n, "
		"a.sr_uid "
		"FROM analyses a JOIN series se ON a.series_ref = se.id "
		"JOIN studies st ON se.study_ref = st.id JOIN patients p ON st.patient_ref = p.id "
		"WHERE a.state = 'done' AND a.id = (SELECT max(a2.id) FROM analyses a2 "
		"  WHERE a2.series_ref = a.series_ref AND a2.state = 'done') "
		"AND (?1 = 0 OR n > 0) "
		"ORDER BY a.updated_at DESC, a.id DESC";
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		rc = fail(EXIT_FAILED, "index query: %s", sqlite3_errmsg(db));
		sqlite3_close(db);
		return rc;
	}
	sqlite3_bind_int(st, 1, positive);
	struct jbuf b;
	jb_init(&b);
	jb_arr_begin(&b);
	int step;
	unsigned n = 0;
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		char t[32];
		n++;
		if (opt_json) {
			jb_obj_begin(&b);
			jb_key(&b, "study_uid"); jb_str(&b, col(st, 1));
			jb_key(&b, "series_uid"); jb_str(&b, col(st, 2));
			jb_key(&b, "patient_id"); jb_str(&b, col(st, 3));
			jb_key(&b, "modality"); jb_str(&b, col(st, 4));
			jb_key(&b, "analysed"); jb_str(&b, fmt_ms(sqlite3_column_int64(st, 5), t));
			jb_key(&b, "model_uid"); jb_str(&b, col(st, 6));
			jb_key(&b, "study_probability"); json_real_or_null(&b, st, 7);
			jb_key(&b, "lesions"); jb_int(&b, sqlite3_column_int64(st, 8));
			jb_key(&b, "sr_uid"); jb_str(&b, col(st, 9));
			jb_key(&b, "findings");
			if (emit_findings(db, sqlite3_column_int64(st, 0), &b, "") < 0)
				break;
			jb_obj_end(&b);
		} else {
			printf("%s  %-16s %lld found (p=%.2f)  study %s series %s\n",
			       fmt_ms(sqlite3_column_int64(st, 5), t),
			       col(st, 3) && *col(st, 3) ? col(st, 3) : "-",
			       (long long)sqlite3_column_int64(st, 8), sqlite3_column_double(st, 7),
			       col(st, 1), col(st, 2));
			if (emit_findings(db, sqlite3_column_int64(st, 0), &b, "    ") < 0)
				break;
		}
	}
	jb_arr_end(&b);
	if (step != SQLITE_DONE) {
		rc = fail(EXIT_FAILED, "index query: %s", sqlite3_errmsg(db));
		jb_free(&b);
	} else if (opt_json) {
		rc = emit(&b);
	} else {
		jb_free(&b);
		printf("(%u %s)\n", n, n == 1 ? "analysis" : "analyses");
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	return rc;
}

/* ---- main ------------------------------------------------------------------------ */

static bool is_uid(const char *s)
{
	size_t n = strlen(s);
	return n >= 1 && n <= 64 && strspn(s, "0123456789.") == n;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "json", no_argument, NULL, 'j' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config_path = NULL;
	int ch;
	/* '+': options end at the command; its own options follow it. */
	while ((ch = getopt_long(argc, argv, "+c:jVh", opts, NULL)) != -1) {
		switch (ch) {
		case 'c': config_path = optarg; break;
		case 'j': opt_json = true; break;
		case 'V': printf("dicomaidctl %s\n", PACKAGE_VERSION); return EXIT_OK;
		case 'h': usage(stdout); return EXIT_OK;
		default: usage(stderr); return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	const char *cmd = argv[optind];
	/* --json is also accepted after the command. */
	int nargs = 0;
	char **args = argv + optind + 1;
	for (int i = optind + 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0 || strcmp(argv[i], "-j") == 0)
			opt_json = true;
		else
			args[nargs++] = argv[i];
	}

	/* Check the command line before reading anything. */
	static const struct { const char *name; int min, max; } cmds[] = {
		{ "status", 0, 0 }, { "studies", 0, 4 }, { "study", 1, 1 }, { "findings", 0, 1 },
		{ "reanalyze", 1, 1 }, { "retry", 0, 0 }, { "echo", 1, 1 }, { "reload", 0, 0 },
	};
	bool known = false;
	for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
		if (strcmp(cmds[i].name, cmd) != 0)
			continue;
		known = true;
		if (nargs < cmds[i].min || nargs > cmds[i].max) {
			fail(EXIT_USAGE, "%s: wrong number of arguments", cmd);
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (!known) {
		fail(EXIT_USAGE, "unknown command '%s'", cmd);
		usage(stderr);
		return EXIT_USAGE;
	}
	if ((strcmp(cmd, "study") == 0 || strcmp(cmd, "reanalyze") == 0) && !is_uid(args[0]))
		return fail(EXIT_USAGE, "%s: '%s' is not a UID (digits and dots, at most 64)", cmd,
			    args[0]);
	if (strcmp(cmd, "echo") == 0) {
		struct ctl_request rq;
		char err[128], line[300];
		snprintf(line, sizeof line, "echo %s", args[0]);
		if (strlen(args[0]) > 64 || ctl_parse_request(line, strlen(line), &rq, err, sizeof err) < 0 ||
		    rq.n != 2)
			return fail(EXIT_USAGE, "echo: '%s' is not a peer name or AE title", args[0]);
	}

	/* Without -c: the installed configuration file, or, when there is none, the embedded
	 * default that `dicomaid` without -c runs on (./dicomaid-data in this folder). */
	struct config cfg;
	char err[600];
	if (!config_path && access(DEFAULT_CONFIG, F_OK) != 0 && errno == ENOENT)
		config_defaults(&cfg);
	else if (config_load(config_path ? config_path : DEFAULT_CONFIG, &cfg, err, sizeof err) < 0)
		return fail(EXIT_FAILED, "%s", err);

	int rc;
	char request[CTL_MAX_LINE];
	if (strcmp(cmd, "studies") == 0) {
		rc = cmd_studies(&cfg, nargs, args);
	} else if (strcmp(cmd, "study") == 0) {
		rc = cmd_study(&cfg, args[0]);
	} else if (strcmp(cmd, "findings") == 0) {
		rc = cmd_findings(&cfg, nargs, args);
	} else {
		snprintf(request, sizeof request, "%s%s%s\n", cmd, nargs ? " " : "",
			 nargs ? args[0] : "");
		rc = daemon_command(&cfg, request);
	}
	config_free(&cfg);
	if (fflush(stdout) != 0 || ferror(stdout))
		return fail(EXIT_FAILED, "writing the output: %s", strerror(errno));
	return rc;
}
