/*
 * Configuration loading: libinih does the INI parsing; this file owns everything above it.
 * Every key is one row of CONFIG_KEYS (section, name, setter), so the dispatch table and
 * config_known_keys cannot drift apart. Strictness (STYLE habit 11) is implemented here:
 *
 * - libinih's handler sees only name=value lines and, in Debian's build
 *   (INI_HANDLER_LINENO 0, INI_CALL_HANDLER_ON_NEW_SECTION 0), no line numbers and no
 *   section headers. So the file is fed through ini_parse_stream with our own reader
 *   (read_line), which counts lines, rejects over-long lines (libinih would split them),
 *   and notes each "[section]" header line, so that empty, unknown and repeated sections
 *   and [peer] sections without ae_title are caught with the header's line number.
 * - Repeated keys are caught by remembering the line each key was first set on.
 * - libinih's multi-line values would read an indented "key = value" as the continuation
 *   of the previous value; they are switched off where the library allows it (Debian's
 *   build exports ini_allow_multiline) and any continuation that still reaches the
 *   handler is an error.
 *
 * Errors stop the load at the first one and are formatted "file:line: message".
 */
#define _POSIX_C_SOURCE 200809L /* strcasecmp, inet_pton */
#include "util/config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ini.h>

/* Debian's libinih makes its compile-time options run-time variables. Declared here (the
 * same declaration as Debian's ini.h) and weak, so that a libinih without it still links:
 * then &ini_allow_multiline is NULL and continuation lines are caught by handle_pair. */
extern bool ini_allow_multiline;
#pragma weak ini_allow_multiline

#define MAX_PEERS 4096
/* The longest line accepted (libinih's line buffer less the newline and NUL). */
#define CONFIG_MAX_LINE 198

enum section {
	SEC_NONE = 0, /* before the first header */
	SEC_SERVER,
	SEC_STORAGE,
	SEC_INDEX,
	SEC_ACCESS,
	SEC_QUERY,
	SEC_LOG,
	SEC_ANALYSIS,
	SEC_CONTROL,
	SEC_PEER,
	SEC_DEST,
	SEC_COUNT,
};

static const char *const section_names[SEC_COUNT] = {
	[SEC_NONE] = "", [SEC_SERVER] = "server", [SEC_STORAGE] = "storage",
	[SEC_INDEX] = "index", [SEC_ACCESS] = "access", [SEC_QUERY] = "query", [SEC_LOG] = "log",
	[SEC_PEER] = "peer", [SEC_ANALYSIS] = "analysis", [SEC_DEST] = "destination",
	[SEC_CONTROL] = "control",
};

/* Parser state, shared by the reader and the handler (both get it as their void *). */
struct parse {
	FILE *fp;                 /* borrowed */
	const char *path;         /* borrowed, for messages */
	struct config *c;         /* the result being filled in */
	int lineno;               /* line last handed to libinih, 1-based */
	char line[512];           /* that line, without its newline (continuation check) */
	enum section sec;         /* section of the lines being read */
	char sec_name[512];       /* its name as written between the brackets */
	int sec_line[SEC_COUNT];  /* header line of each non-peer section, 0 = not seen */
	int *key_line;            /* per CONFIG_KEYS row: line it was set on, 0 = not set */
	size_t peer_cap;          /* allocated entries of c->peers */
	bool done;                /* the reader has reached end of file */
	int read_errno;           /* nonzero: reading the file failed */
	bool nomem;               /* an allocation failed */
	int err_line;             /* line of the first error, 0 = none yet */
	char err[384];            /* its message */
};

typedef int (*setter_fn)(struct parse *p, const char *label, const char *value);

static int set_server_ae_title(struct parse *, const char *, const char *);
static int set_server_bind(struct parse *, const char *, const char *);
static int set_server_port(struct parse *, const char *, const char *);
static int set_server_max_associations(struct parse *, const char *, const char *);
static int set_server_max_associations_per_peer(struct parse *, const char *, const char *);
static int set_server_max_send_queue(struct parse *, const char *, const char *);
static int set_server_max_pdu(struct parse *, const char *, const char *);
static int set_server_artim_timeout(struct parse *, const char *, const char *);
static int set_server_idle_timeout(struct parse *, const char *, const char *);
static int set_server_shutdown_timeout(struct parse *, const char *, const char *);
static int set_server_tls_port(struct parse *, const char *, const char *);
static int set_server_tls_certificate(struct parse *, const char *, const char *);
static int set_server_tls_key(struct parse *, const char *, const char *);
static int set_server_tls_ca(struct parse *, const char *, const char *);
static int set_server_tls_verify_peer(struct parse *, const char *, const char *);
static int set_peer_tls(struct parse *, const char *, const char *);
static int set_dest_tls(struct parse *, const char *, const char *);
static int set_storage_path(struct parse *, const char *, const char *);
static int set_storage_fsync(struct parse *, const char *, const char *);
static int set_storage_duplicates(struct parse *, const char *, const char *);
static int set_storage_max_instance_size(struct parse *, const char *, const char *);
static int set_storage_min_free_space(struct parse *, const char *, const char *);
static int set_index_database(struct parse *, const char *, const char *);
static int set_peer_ae_title(struct parse *, const char *, const char *);
static int set_peer_host(struct parse *, const char *, const char *);
static int set_peer_port(struct parse *, const char *, const char *);
static int set_access_require_known_peers(struct parse *, const char *, const char *);
static int set_log_level(struct parse *, const char *, const char *);
static int set_peer_services(struct parse *, const char *, const char *);
static int set_analysis_enabled(struct parse *, const char *, const char *);
static int set_analysis_workers(struct parse *, const char *, const char *);
static int set_analysis_stable_seconds(struct parse *, const char *, const char *);
static int set_analysis_model(struct parse *, const char *, const char *);
static int set_analysis_gsps(struct parse *, const char *, const char *);
static int set_dest_ae_title(struct parse *, const char *, const char *);
static int set_dest_host(struct parse *, const char *, const char *);
static int set_dest_port(struct parse *, const char *, const char *);
static int set_dest_results(struct parse *, const char *, const char *);
static int set_query_max_matches(struct parse *, const char *, const char *);
static int set_query_pn_case_insensitive(struct parse *, const char *, const char *);
static int set_control_socket(struct parse *, const char *, const char *);

/* The contract: every key, its section and its setter. Order = order in the man page. */
#define CONFIG_KEYS(X)                                                    \
	X(SEC_SERVER, server, ae_title, set_server_ae_title)                  \
	X(SEC_SERVER, server, bind, set_server_bind)                          \
	X(SEC_SERVER, server, port, set_server_port)                          \
	X(SEC_SERVER, server, max_associations, set_server_max_associations)  \
	X(SEC_SERVER, server, max_associations_per_peer, set_server_max_associations_per_peer) \
	X(SEC_SERVER, server, max_send_queue, set_server_max_send_queue)      \
	X(SEC_SERVER, server, max_pdu, set_server_max_pdu)                    \
	X(SEC_SERVER, server, artim_timeout, set_server_artim_timeout)        \
	X(SEC_SERVER, server, idle_timeout, set_server_idle_timeout)          \
	X(SEC_SERVER, server, shutdown_timeout, set_server_shutdown_timeout)  \
	X(SEC_SERVER, server, tls_port, set_server_tls_port)                  \
	X(SEC_SERVER, server, tls_certificate, set_server_tls_certificate)    \
	X(SEC_SERVER, server, tls_key, set_server_tls_key)                    \
	X(SEC_SERVER, server, tls_ca, set_server_tls_ca)                      \
	X(SEC_SERVER, server, tls_verify_peer, set_server_tls_verify_peer)    \
	X(SEC_STORAGE, storage, path, set_storage_path)                       \
	X(SEC_STORAGE, storage, fsync, set_storage_fsync)                     \
	X(SEC_STORAGE, storage, duplicates, set_storage_duplicates)           \
	X(SEC_STORAGE, storage, max_instance_size, set_storage_max_instance_size) \
	X(SEC_STORAGE, storage, min_free_space, set_storage_min_free_space)   \
	X(SEC_INDEX, index, database, set_index_database)                     \
	X(SEC_PEER, peer, ae_title, set_peer_ae_title)                        \
	X(SEC_PEER, peer, host, set_peer_host)                                \
	X(SEC_PEER, peer, port, set_peer_port)                                \
	X(SEC_PEER, peer, services, set_peer_services)                        \
	X(SEC_PEER, peer, tls, set_peer_tls)                                  \
	X(SEC_ACCESS, access, require_known_peers, set_access_require_known_peers) \
	X(SEC_ANALYSIS, analysis, enabled, set_analysis_enabled)              \
	X(SEC_ANALYSIS, analysis, workers, set_analysis_workers)              \
	X(SEC_ANALYSIS, analysis, stable_seconds, set_analysis_stable_seconds) \
	X(SEC_ANALYSIS, analysis, model, set_analysis_model)                  \
	X(SEC_ANALYSIS, analysis, gsps, set_analysis_gsps)                    \
	X(SEC_DEST, destination, ae_title, set_dest_ae_title)                 \
	X(SEC_DEST, destination, host, set_dest_host)                         \
	X(SEC_DEST, destination, port, set_dest_port)                         \
	X(SEC_DEST, destination, results, set_dest_results)                   \
	X(SEC_DEST, destination, tls, set_dest_tls)                           \
	X(SEC_QUERY, query, max_matches, set_query_max_matches)               \
	X(SEC_QUERY, query, pn_case_insensitive, set_query_pn_case_insensitive) \
	X(SEC_LOG, log, level, set_log_level)                                 \
	X(SEC_CONTROL, control, socket, set_control_socket)

struct key_spec {
	enum section sec;
	const char *name;  /* key as written in the file */
	const char *label; /* "section.key", for messages */
	setter_fn set;
};

static const struct key_spec key_specs[] = {
#define X(sec, s, k, fn) { sec, #k, #s "." #k, fn },
	CONFIG_KEYS(X)
#undef X
};
#define N_KEYS (sizeof key_specs / sizeof key_specs[0])

const char *const config_known_keys[] = {
#define X(sec, s, k, fn) #s "." #k,
	CONFIG_KEYS(X)
#undef X
	NULL
};

/* ---- errors ------------------------------------------------------------------------- */

/* Record the first error, at line. Later ones are ignored: the load stops at the first. */
__attribute__((format(printf, 3, 4)))
static void fail(struct parse *p, int line, const char *fmt, ...)
{
	if (p->err_line)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(p->err, sizeof p->err, fmt, ap);
	va_end(ap);
	p->err_line = line > 0 ? line : 1;
}

/* A value as it may appear in a one-line message: printable ASCII, others as '?', cut at
 * 64 characters. Returns out. */
static const char *shown(const char *v, char out[72])
{
	size_t i = 0;
	for (; v[i] && i < 64; i++)
		out[i] = (v[i] >= 0x20 && v[i] < 0x7f) ? v[i] : '?';
	if (v[i]) {
		memcpy(out + i, "...", 3);
		i += 3;
	}
	out[i] = '\0';
	return out;
}

/* ---- value parsers: 0 or -1 after fail() ---------------------------------------------- */

/* Decimal digits only (no sign, no spaces, no 0x), lo..hi inclusive. */
static int parse_uint(struct parse *p, const char *label, const char *v, unsigned long lo,
                      unsigned long hi, unsigned long *out)
{
	char s[72];
	unsigned long n = 0;
	if (!*v) {
		fail(p, p->lineno, "%s: a number is required", label);
		return -1;
	}
	for (const char *q = v; *q; q++) {
		if (*q < '0' || *q > '9') {
			fail(p, p->lineno, "%s: '%s' is not a number", label, shown(v, s));
			return -1;
		}
		if (n > hi) /* keep going only to check the digits; stays > hi */
			continue;
		n = n * 10 + (unsigned long)(*q - '0');
	}
	if (n < lo || n > hi) {
		fail(p, p->lineno, "%s: %s is out of range (%lu..%lu)", label, shown(v, s), lo, hi);
		return -1;
	}
	*out = n;
	return 0;
}

static int parse_int(struct parse *p, const char *label, const char *v, int lo, int hi,
                     int *out)
{
	unsigned long n;
	if (parse_uint(p, label, v, (unsigned long)lo, (unsigned long)hi, &n) < 0)
		return -1;
	*out = (int)n;
	return 0;
}

/* A byte count: decimal digits, optionally followed by K, M, G or T (binary multiples,
 * "KiB" etc. also accepted, any case), lo..hi inclusive. */
static int parse_size(struct parse *p, const char *label, const char *v, uint64_t lo,
		      uint64_t hi, uint64_t *out)
{
	static const char *const suffixes[] = { "", "k", "m", "g", "t" };
	char s[72];
	const char *q = v;
	uint64_t n = 0;
	bool big = false;
	for (; *q >= '0' && *q <= '9'; q++) {
		if (n > UINT64_MAX / 100)
			big = true;
		else
			n = n * 10 + (uint64_t)(*q - '0');
	}
	if (q == v) {
		fail(p, p->lineno, "%s: '%s' is not a size (bytes, or a number with K, M, G or T)",
		     label, shown(v, s));
		return -1;
	}
	int shift = -1;
	for (int i = 0; i < 5; i++) {
		size_t sl = strlen(suffixes[i]);
		if (strncasecmp(q, suffixes[i], sl) != 0)
			continue;
		const char *rest = q + sl;
		if (*rest == '\0' || (i > 0 && (strcasecmp(rest, "ib") == 0 || strcasecmp(rest, "b") == 0))) {
			shift = 10 * i;
			break;
		}
	}
	if (shift < 0) {
		fail(p, p->lineno, "%s: '%s' is not a size (bytes, or a number with K, M, G or T)",
		     label, shown(v, s));
		return -1;
	}
	if (!big && shift > 0 && n > (UINT64_MAX >> shift))
		big = true;
	if (!big)
		n <<= shift;
	if (big || n < lo || n > hi) {
		fail(p, p->lineno, "%s: %s is out of range (%llu..%llu bytes)", label, shown(v, s),
		     (unsigned long long)lo, (unsigned long long)hi);
		return -1;
	}
	*out = n;
	return 0;
}

/* yes/no/true/false/on/off/1/0, letters in any case. */
static int parse_bool(struct parse *p, const char *label, const char *v, int *out)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };
	char s[72];
	for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
		if (strcasecmp(v, yes[i]) == 0) {
			*out = 1;
			return 0;
		}
		if (strcasecmp(v, no[i]) == 0) {
			*out = 0;
			return 0;
		}
	}
	fail(p, p->lineno, "%s: '%s' is not a boolean (yes/no/true/false/on/off/1/0)", label,
	     shown(v, s));
	return -1;
}

/* AE title, PS3.5 6.2: at most 16 characters of the Default Character Repertoire without
 * backslash (5CH) and control characters, not all spaces. libinih has already stripped
 * leading and trailing white space, which is not significant in an AE (PS3.5 6.2). */
static int parse_ae_title(struct parse *p, const char *label, const char *v, char out[17])
{
	char s[72];
	size_t len = strlen(v);
	if (len == 0 || strspn(v, " ") == len) {
		fail(p, p->lineno, "%s: AE title must not be empty or all spaces", label);
		return -1;
	}
	if (len > CONFIG_AE_TITLE_MAX) {
		fail(p, p->lineno, "%s: AE title '%s' is longer than %d characters", label,
		     shown(v, s), CONFIG_AE_TITLE_MAX);
		return -1;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)v[i];
		if (ch < 0x20 || ch >= 0x7f || ch == '\\') {
			fail(p, p->lineno,
			     "%s: AE title '%s' may only hold printable ASCII characters, no backslash",
			     label, shown(v, s));
			return -1;
		}
	}
	memcpy(out, v, len + 1);
	return 0;
}

static bool is_ip_literal(const char *v)
{
	unsigned char buf[16];
	return inet_pton(AF_INET, v, buf) == 1 || inet_pton(AF_INET6, v, buf) == 1;
}

/* Host name syntax, RFC 1123 2.1: labels of 1..63 letters, digits and '-', not starting or
 * ending with '-', at most 253 characters, one trailing dot allowed; the last label not all
 * digits (RFC 3696 2), so that "300.1.1.1" is not taken for a name. */
static bool is_hostname(const char *v)
{
	size_t len = strlen(v);
	if (len > 0 && v[len - 1] == '.')
		len--;
	if (len == 0 || len > 253)
		return false;
	size_t label = 0;
	bool all_digits = true;
	for (size_t i = 0; i <= len; i++) {
		char ch = i < len ? v[i] : '.';
		if (ch == '.') {
			if (label == 0 || label > 63 || v[i - 1] == '-')
				return false;
			if (i == len && all_digits)
				return false;
			label = 0;
			all_digits = true;
			continue;
		}
		if (!isalnum((unsigned char)ch) && ch != '-')
			return false;
		if (label == 0 && ch == '-')
			return false;
		if (!isdigit((unsigned char)ch))
			all_digits = false;
		label++;
	}
	return true;
}

static int parse_path(struct parse *p, const char *label, const char *v, char out[PATH_MAX])
{
	size_t len = strlen(v);
	if (len == 0) {
		fail(p, p->lineno, "%s: a path is required", label);
		return -1;
	}
	if (len >= PATH_MAX) {
		fail(p, p->lineno, "%s: path is longer than %d characters", label, PATH_MAX - 1);
		return -1;
	}
	memcpy(out, v, len + 1);
	return 0;
}

/* ---- setters, one per key --------------------------------------------------------------- */

static int set_server_ae_title(struct parse *p, const char *label, const char *v)
{
	return parse_ae_title(p, label, v, p->c->ae_title);
}

static int set_server_bind(struct parse *p, const char *label, const char *v)
{
	char s[72];
	if (!is_ip_literal(v) || strlen(v) >= sizeof p->c->bind) {
		fail(p, p->lineno, "%s: '%s' is not an IPv4 or IPv6 address", label, shown(v, s));
		return -1;
	}
	strcpy(p->c->bind, v);
	return 0;
}

static int set_server_port(struct parse *p, const char *label, const char *v)
{
	return parse_int(p, label, v, 1, 65535, &p->c->port);
}

static int set_server_max_associations(struct parse *p, const char *label, const char *v)
{
	return parse_int(p, label, v, 1, CONFIG_MAX_ASSOCIATIONS_MAX, &p->c->max_associations);
}

static int set_server_max_associations_per_peer(struct parse *p, const char *label,
						const char *v)
{
	return parse_int(p, label, v, 0, CONFIG_MAX_ASSOCIATIONS_MAX,
			 &p->c->max_associations_per_peer);
}

static int set_server_max_send_queue(struct parse *p, const char *label, const char *v)
{
	return parse_size(p, label, v, CONFIG_MAX_SEND_QUEUE_MIN, CONFIG_MAX_SEND_QUEUE_MAX,
			  &p->c->max_send_queue);
}

static int set_server_max_pdu(struct parse *p, const char *label, const char *v)
{
	unsigned long n;
	if (parse_uint(p, label, v, CONFIG_MAX_PDU_MIN, CONFIG_MAX_PDU_MAX, &n) < 0)
		return -1;
	p->c->max_pdu = (uint32_t)n;
	return 0;
}

static int set_server_artim_timeout(struct parse *p, const char *label, const char *v)
{
	return parse_int(p, label, v, 1, CONFIG_ARTIM_TIMEOUT_MAX, &p->c->artim_timeout);
}

static int set_server_idle_timeout(struct parse *p, const char *label, const char *v)
{
	return parse_int(p, label, v, 1, CONFIG_IDLE_TIMEOUT_MAX, &p->c->idle_timeout);
}

static int set_server_shutdown_timeout(struct parse *p, const char *label, const char *v)
{
	return parse_int(p, label, v, 0, CONFIG_SHUTDOWN_TIMEOUT_MAX, &p->c->shutdown_timeout);
}

/* 0 = no TLS port. */
static int set_server_tls_port(struct parse *p, const char *label, const char *v)
{
	p->c->tls_line[0] = p->lineno;
	return parse_int(p, label, v, 0, 65535, &p->c->tls_port);
}

static int set_server_tls_certificate(struct parse *p, const char *label, const char *v)
{
	p->c->tls_line[1] = p->lineno;
	return parse_path(p, label, v, p->c->tls_certificate);
}

static int set_server_tls_key(struct parse *p, const char *label, const char *v)
{
	p->c->tls_line[2] = p->lineno;
	return parse_path(p, label, v, p->c->tls_key);
}

static int set_server_tls_ca(struct parse *p, const char *label, const char *v)
{
	p->c->tls_line[3] = p->lineno;
	return parse_path(p, label, v, p->c->tls_ca);
}

static int set_server_tls_verify_peer(struct parse *p, const char *label, const char *v)
{
	return parse_bool(p, label, v, &p->c->tls_verify_peer);
}

static int set_storage_path(struct parse *p, const char *label, const char *v)
{
	return parse_path(p, label, v, p->c->storage_path);
}

static int set_storage_fsync(struct parse *p, const char *label, const char *v)
{
	return parse_bool(p, label, v, &p->c->storage_fsync);
}

static int set_storage_duplicates(struct parse *p, const char *label, const char *v)
{
	char s[72];
	for (int d = CONFIG_DUP_OVERWRITE; d <= CONFIG_DUP_REJECT; d++) {
		if (strcasecmp(v, config_duplicates_name((enum config_duplicates)d)) == 0) {
			p->c->duplicates = (enum config_duplicates)d;
			return 0;
		}
	}
	fail(p, p->lineno, "%s: '%s' is not one of overwrite, keep, reject", label, shown(v, s));
	return -1;
}

static int set_storage_max_instance_size(struct parse *p, const char *label, const char *v)
{
	return parse_size(p, label, v, 0, UINT64_MAX, &p->c->max_instance_size);
}

/* A size, or a percentage of the file system ("5%", 0..99). */
static int set_storage_min_free_space(struct parse *p, const char *label, const char *v)
{
	size_t len = strlen(v);
	if (len > 0 && v[len - 1] == '%') {
		char num[16];
		if (len - 1 >= sizeof num) {
			char s[72];
			fail(p, p->lineno, "%s: '%s' is not a percentage", label, shown(v, s));
			return -1;
		}
		memcpy(num, v, len - 1);
		num[len - 1] = '\0';
		if (parse_int(p, label, num, 0, 99, &p->c->min_free_percent) < 0)
			return -1;
		p->c->min_free_space = 0;
		return 0;
	}
	p->c->min_free_percent = 0;
	return parse_size(p, label, v, 0, UINT64_MAX, &p->c->min_free_space);
}

static int set_index_database(struct parse *p, const char *label, const char *v)
{
	return parse_path(p, label, v, p->c->index_database);
}

static struct config_peer *current_peer(struct parse *p)
{
	return &p->c->peers[p->c->n_peers - 1];
}

static int set_peer_ae_title(struct parse *p, const char *label, const char *v)
{
	struct config_peer *peer = current_peer(p);
	char ae[17], s[72];
	if (parse_ae_title(p, label, v, ae) < 0)
		return -1;
	/* Unique, so that config_find_peer has one answer. */
	for (size_t i = 0; i + 1 < p->c->n_peers; i++) {
		if (strcmp(p->c->peers[i].ae_title, ae) == 0) {
			fail(p, p->lineno, "%s: AE title '%s' is also used by [peer %s] (line %d)",
			     label, shown(ae, s), p->c->peers[i].name, p->c->peers[i].line);
			return -1;
		}
	}
	memcpy(peer->ae_title, ae, sizeof ae);
	return 0;
}

static int set_peer_host(struct parse *p, const char *label, const char *v)
{
	char s[72];
	if (strlen(v) >= sizeof current_peer(p)->host || (!is_ip_literal(v) && !is_hostname(v))) {
		fail(p, p->lineno, "%s: '%s' is not a host name or IP address", label, shown(v, s));
		return -1;
	}
	strcpy(current_peer(p)->host, v);
	return 0;
}

static int set_peer_port(struct parse *p, const char *label, const char *v)
{
	return parse_int(p, label, v, 1, 65535, &current_peer(p)->port);
}

/* A comma-separated list of echo, store, find, move, get (spaces allowed). */
static int set_peer_services(struct parse *p, const char *label, const char *v)
{
	static const struct { const char *name; unsigned bit; } names[] = {
		{ "echo", CONFIG_SVC_ECHO }, { "store", CONFIG_SVC_STORE }, { "find", CONFIG_SVC_FIND },
		{ "move", CONFIG_SVC_MOVE }, { "get", CONFIG_SVC_GET },
	};
	unsigned bits = 0;
	const char *s = v;
	char s72[72];
	while (*s) {
		while (*s == ' ' || *s == ',')
			s++;
		if (!*s)
			break;
		size_t n = strcspn(s, " ,");
		unsigned bit = 0;
		for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
			if (strlen(names[i].name) == n && strncasecmp(s, names[i].name, n) == 0)
				bit = names[i].bit;
		if (!bit) {
			fail(p, p->lineno, "%s: '%s' is not a list of echo, store, find, move, get",
			     label, shown(v, s72));
			return -1;
		}
		bits |= bit;
		s += n;
	}
	current_peer(p)->services = bits;
	return 0;
}

static int set_peer_tls(struct parse *p, const char *label, const char *v)
{
	return parse_bool(p, label, v, &current_peer(p)->tls);
}

static int set_analysis_enabled(struct parse *p, const char *label, const char *v)
{
	return parse_bool(p, label, v, &p->c->analysis_enabled);
}

static int set_analysis_workers(struct parse *p, const char *label, const char *v)
{
	return parse_int(p, label, v, 0, 64, &p->c->analysis_workers);
}

static int set_analysis_stable_seconds(struct parse *p, const char *label, const char *v)
{
	return parse_int(p, label, v, 1, 86400, &p->c->stable_seconds);
}

static int set_analysis_model(struct parse *p, const char *label, const char *v)
{
	if (!*v) { /* empty: the bundled model */
		p->c->analysis_model[0] = '\0';
		return 0;
	}
	return parse_path(p, label, v, p->c->analysis_model);
}

static int set_analysis_gsps(struct parse *p, const char *label, const char *v)
{
	return parse_bool(p, label, v, &p->c->analysis_gsps);
}

static struct config_peer *current_dest(struct parse *p)
{
	return &p->c->dests[p->c->n_dests - 1];
}

static int set_dest_ae_title(struct parse *p, const char *label, const char *v)
{
	return parse_ae_title(p, label, v, current_dest(p)->ae_title);
}

static int set_dest_host(struct parse *p, const char *label, const char *v)
{
	char s[72];
	if (strlen(v) >= sizeof current_dest(p)->host || (!is_ip_literal(v) && !is_hostname(v))) {
		fail(p, p->lineno, "%s: '%s' is not a host name or IP address", label, shown(v, s));
		return -1;
	}
	strcpy(current_dest(p)->host, v);
	return 0;
}

static int set_dest_port(struct parse *p, const char *label, const char *v)
{
	return parse_int(p, label, v, 1, 65535, &current_dest(p)->port);
}

static int set_dest_results(struct parse *p, const char *label, const char *v)
{
	return parse_bool(p, label, v, &current_dest(p)->results);
}

static int set_dest_tls(struct parse *p, const char *label, const char *v)
{
	return parse_bool(p, label, v, &current_dest(p)->tls);
}

static int set_query_max_matches(struct parse *p, const char *label, const char *v)
{
	return parse_int(p, label, v, 1, 1000000, &p->c->max_matches);
}

static int set_query_pn_case_insensitive(struct parse *p, const char *label, const char *v)
{
	return parse_bool(p, label, v, &p->c->pn_case_insensitive);
}

/* A UNIX socket path must fit struct sockaddr_un's sun_path with its NUL. */
static int set_control_socket(struct parse *p, const char *label, const char *v)
{
	if (strlen(v) >= sizeof p->c->control_socket) {
		fail(p, p->lineno, "%s: path is longer than %zu characters (a UNIX socket's limit)",
		     label, sizeof p->c->control_socket - 1);
		return -1;
	}
	char tmp[PATH_MAX];
	if (parse_path(p, label, v, tmp) < 0)
		return -1;
	strcpy(p->c->control_socket, tmp);
	return 0;
}

static int set_access_require_known_peers(struct parse *p, const char *label, const char *v)
{
	return parse_bool(p, label, v, &p->c->require_known_peers);
}

static int set_log_level(struct parse *p, const char *label, const char *v)
{
	char s[72];
	for (int l = LOG_LVL_ERR; l <= LOG_LVL_DEBUG; l++) {
		if (strcasecmp(v, config_log_level_name((enum log_level)l)) == 0) {
			p->c->log_level = (enum log_level)l;
			return 0;
		}
	}
	fail(p, p->lineno, "%s: '%s' is not one of error, warning, notice, info, debug", label,
	     shown(v, s));
	return -1;
}

/* ---- sections ----------------------------------------------------------------------- */

/* The section being left is complete: check what only its end can tell. */
static void end_section(struct parse *p)
{
	if (p->sec == SEC_PEER && current_peer(p)->ae_title[0] == '\0')
		fail(p, current_peer(p)->line, "[peer %s] has no ae_title", current_peer(p)->name);
	if (p->sec == SEC_DEST) {
		const struct config_peer *d = current_dest(p);
		const char *missing = !d->ae_title[0] ? "ae_title" : !d->host[0] ? "host"
				      : !d->port ? "port" : NULL;
		if (missing)
			fail(p, d->line, "[destination %s] has no %s", d->name, missing);
	}
	p->sec = SEC_NONE;
}

static bool valid_peer_name(const char *n)
{
	size_t len = strlen(n);
	return len >= 1 && len <= CONFIG_PEER_NAME_MAX &&
	       strspn(n, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == len;
}

static void begin_peer(struct parse *p, const char *name)
{
	char s[72];
	struct config *c = p->c;
	if (!*name) {
		fail(p, p->lineno, "a peer section needs a name: [peer NAME]");
		return;
	}
	if (!valid_peer_name(name)) {
		fail(p, p->lineno, "peer name '%s' must be 1..%d of A-Z a-z 0-9 . _ -", shown(name, s),
		     CONFIG_PEER_NAME_MAX);
		return;
	}
	for (size_t i = 0; i < c->n_peers; i++) {
		if (strcmp(c->peers[i].name, name) == 0) {
			fail(p, p->lineno, "duplicate peer '%s' (first on line %d)", name, c->peers[i].line);
			return;
		}
	}
	if (c->n_peers == MAX_PEERS) {
		fail(p, p->lineno, "too many peers (at most %d)", MAX_PEERS);
		return;
	}
	if (c->n_peers == p->peer_cap) {
		size_t cap = p->peer_cap ? p->peer_cap * 2 : 8;
		struct config_peer *np = realloc(c->peers, cap * sizeof *np);
		if (!np) {
			p->nomem = true;
			fail(p, p->lineno, "out of memory");
			return;
		}
		c->peers = np;
		p->peer_cap = cap;
	}
	struct config_peer *peer = &c->peers[c->n_peers++];
	memset(peer, 0, sizeof *peer);
	strcpy(peer->name, name);
	peer->services = CONFIG_SVC_ALL;
	peer->line = p->lineno;
	for (size_t k = 0; k < N_KEYS; k++)
		if (key_specs[k].sec == SEC_PEER)
			p->key_line[k] = 0;
	p->sec = SEC_PEER;
}

static void begin_dest(struct parse *p, const char *name)
{
	char s[72];
	struct config *c = p->c;
	if (!*name || !valid_peer_name(name)) {
		fail(p, p->lineno, "destination name '%s' must be 1..%d of A-Z a-z 0-9 . _ -",
		     shown(name, s), CONFIG_PEER_NAME_MAX);
		return;
	}
	for (size_t i = 0; i < c->n_dests; i++) {
		if (strcmp(c->dests[i].name, name) == 0) {
			fail(p, p->lineno, "duplicate destination '%s' (first on line %d)", name,
			     c->dests[i].line);
			return;
		}
	}
	if (c->n_dests == MAX_PEERS) {
		fail(p, p->lineno, "too many destinations (at most %d)", MAX_PEERS);
		return;
	}
	struct config_peer *nd = realloc(c->dests, (c->n_dests + 1) * sizeof *nd);
	if (!nd) {
		p->nomem = true;
		fail(p, p->lineno, "out of memory");
		return;
	}
	c->dests = nd;
	struct config_peer *d = &c->dests[c->n_dests++];
	memset(d, 0, sizeof *d);
	strcpy(d->name, name);
	d->results = 1;
	d->line = p->lineno;
	for (size_t k = 0; k < N_KEYS; k++)
		if (key_specs[k].sec == SEC_DEST)
			p->key_line[k] = 0;
	p->sec = SEC_DEST;
}

/* A "[name]" header on the current line (name as written, without the brackets). */
static void begin_section(struct parse *p, const char *name)
{
	char s[72];
	end_section(p);
	if (p->err_line)
		return;
	snprintf(p->sec_name, sizeof p->sec_name, "%s", name);
	if (strncmp(name, "peer", 4) == 0 && (name[4] == '\0' || name[4] == ' ' || name[4] == '\t')) {
		begin_peer(p, name + 4 + strspn(name + 4, " \t"));
		return;
	}
	if (strncmp(name, "destination", 11) == 0 &&
	    (name[11] == '\0' || name[11] == ' ' || name[11] == '\t')) {
		begin_dest(p, name + 11 + strspn(name + 11, " \t"));
		return;
	}
	for (int sec = SEC_SERVER; sec < SEC_COUNT; sec++) {
		if (sec == SEC_PEER || sec == SEC_DEST || strcmp(name, section_names[sec]) != 0)
			continue;
		if (p->sec_line[sec]) {
			fail(p, p->lineno, "duplicate section [%s] (first on line %d)", name,
			     p->sec_line[sec]);
			return;
		}
		p->sec_line[sec] = p->lineno;
		p->sec = (enum section)sec;
		return;
	}
	fail(p, p->lineno, "unknown section [%s]", shown(name, s));
}

/* ---- libinih callbacks -------------------------------------------------------------- */

/* ini_reader: fgets() that counts lines, refuses lines longer than libinih's buffer and
 * notes section headers. Returns NULL (end of input) once an error has been recorded, which
 * stops libinih at the first error. */
static char *read_line(char *buf, int num, void *stream)
{
	struct parse *p = stream;
	if (p->err_line || p->done)
		return NULL;
	if (!fgets(buf, num, p->fp)) {
		if (ferror(p->fp))
			p->read_errno = errno ? errno : EIO;
		p->done = true;
		end_section(p);
		return NULL;
	}
	p->lineno++;
	size_t n = strlen(buf);
	if (n == 0 || buf[n - 1] != '\n') {
		/* No line end: the last line, a line longer than buf, or a NUL byte in it. */
		int ch = getc(p->fp);
		if (ch != EOF) {
			if (n + 1 >= (size_t)num)
				fail(p, p->lineno, "line too long (more than %d characters)", num - 2);
			else
				fail(p, p->lineno, "NUL byte in line");
			return NULL;
		}
	}
	/* Keep the line for handle_pair, without its line end. */
	snprintf(p->line, sizeof p->line, "%s", buf);
	p->line[strcspn(p->line, "\r\n")] = '\0';

	/* A section header: '[' after optional white space (and a UTF-8 BOM on line 1, which
	 * libinih skips too). libinih takes the name up to the first ']'. */
	const char *s = p->line;
	if (p->lineno == 1 && strncmp(s, "\xEF\xBB\xBF", 3) == 0)
		s += 3;
	s += strspn(s, " \t\v\f");
	if (*s != '[')
		return buf;
	const char *close = strchr(s + 1, ']');
	if (!close) {
		fail(p, p->lineno, "missing ']' in section header");
		return NULL;
	}
	const char *rest = close + 1 + strspn(close + 1, " \t\v\f");
	if (*rest && *rest != ';' && *rest != '#') {
		fail(p, p->lineno, "unexpected text after section header");
		return NULL;
	}
	char name[sizeof p->line];
	memcpy(name, s + 1, (size_t)(close - (s + 1)));
	name[close - (s + 1)] = '\0';
	begin_section(p, name);
	return p->err_line ? NULL : buf;
}

/* ini_handler: one "name = value" of the current section (section as libinih saw it; ours
 * is p->sec, from the header lines). Returns 1, or 0 after recording an error. */
static int handle_pair(void *user, const char *section, const char *name, const char *value)
{
	struct parse *p = user;
	char s[72];
	(void)section;
	if (p->err_line)
		return 0;
	/* With multi-line values on, libinih passes an indented line as more of the previous
	 * key's value; the line then does not start with "name =" or "name :". */
	const char *raw = p->line;
	if (p->lineno == 1 && strncmp(raw, "\xEF\xBB\xBF", 3) == 0)
		raw += 3;
	raw += strspn(raw, " \t\v\f");
	size_t nl = strlen(name);
	const char *after = strncmp(raw, name, nl) == 0 ? raw + nl + strspn(raw + nl, " \t\v\f") : "";
	if (*after != '=' && *after != ':') {
		fail(p, p->lineno, "indented line continues the value of '%s'; remove the indentation",
		     shown(name, s));
		return 0;
	}
	if (p->sec == SEC_NONE) {
		fail(p, p->lineno, "key '%s' outside any section", shown(name, s));
		return 0;
	}
	/* Every accepted setting must fit on one line as "key = value" (what config_write
	 * produces), so a written configuration always loads again. */
	if (nl + 3 + strlen(value) > CONFIG_MAX_LINE) {
		fail(p, p->lineno, "%s: value too long (at most %zu characters)", shown(name, s),
		     nl + 3 < CONFIG_MAX_LINE ? CONFIG_MAX_LINE - nl - 3 : 0);
		return 0;
	}
	for (size_t k = 0; k < N_KEYS; k++) {
		const struct key_spec *ks = &key_specs[k];
		if (ks->sec != p->sec || strcmp(ks->name, name) != 0)
			continue;
		if (p->key_line[k]) {
			fail(p, p->lineno, "duplicate key '%s' in [%s] (first on line %d)", name,
			     p->sec_name, p->key_line[k]);
			return 0;
		}
		p->key_line[k] = p->lineno;
		return ks->set(p, ks->label, value) < 0 ? 0 : 1;
	}
	fail(p, p->lineno, "unknown key '%s' in [%s]", shown(name, s), p->sec_name);
	return 0;
}

/* ---- public ------------------------------------------------------------------------- */

void config_defaults(struct config *c)
{
	memset(c, 0, sizeof *c);
	strcpy(c->ae_title, "DICOMAID");
	strcpy(c->bind, "0.0.0.0");
	c->port = 11112;
	c->max_associations = 64;
	c->max_associations_per_peer = 16;
	c->max_send_queue = 4u << 20;
	c->max_pdu = 65536;
	c->artim_timeout = 30;
	c->idle_timeout = 300;
	c->shutdown_timeout = 30;
	c->tls_port = 0;
	c->tls_verify_peer = 1;
	strcpy(c->storage_path, "./dicomaid-data");
	c->storage_fsync = 1;
	c->duplicates = CONFIG_DUP_OVERWRITE;
	c->max_instance_size = (uint64_t)2 << 30;
	c->min_free_space = (uint64_t)1 << 30;
	c->min_free_percent = 0;
	strcpy(c->index_database, "./dicomaid-data/index.sqlite");
	strcpy(c->control_socket, "./dicomaid-data/dicomaid.sock");
	c->require_known_peers = 0;
	c->max_matches = 10000;
	c->analysis_enabled = 1;
	c->analysis_workers = 0;
	c->stable_seconds = 10;
	c->analysis_model[0] = '\0';
	c->analysis_gsps = 1;
	c->dests = NULL;
	c->n_dests = 0;
	c->pn_case_insensitive = 1;
	c->log_level = LOG_LVL_INFO;
	c->peers = NULL;
	c->n_peers = 0;
	c->source[0] = '\0';
}

/* index.database defaults to <storage.path>/index.sqlite. */
static int derive_database(struct parse *p, int database_line, int path_line)
{
	struct config *c = p->c;
	if (database_line)
		return 0;
	size_t len = strlen(c->storage_path);
	const char *sep = (len > 0 && c->storage_path[len - 1] == '/') ? "" : "/";
	int n = snprintf(c->index_database, sizeof c->index_database, "%s%sindex.sqlite",
	                 c->storage_path, sep);
	if (n < 0 || (size_t)n >= sizeof c->index_database) {
		fail(p, path_line, "storage.path: too long to hold index.sqlite; set index.database");
		return -1;
	}
	return 0;
}

/* control.socket defaults to <storage.path>/dicomaid.sock; when that does not fit a UNIX
 * socket path it stays "" and the daemon and dicomaidctl say to set control.socket. */
static void derive_socket(struct config *c, int socket_line)
{
	if (socket_line)
		return;
	size_t len = strlen(c->storage_path);
	const char *sep = (len > 0 && c->storage_path[len - 1] == '/') ? "" : "/";
	size_t seplen = strlen(sep), namelen = strlen("dicomaid.sock");
	if (len + seplen + namelen >= sizeof c->control_socket) {
		c->control_socket[0] = '\0';
		return;
	}
	memcpy(c->control_socket, c->storage_path, len);
	memcpy(c->control_socket + len, sep, seplen);
	memcpy(c->control_socket + len + seplen, "dicomaid.sock", namelen + 1);
}

/* The [server] tls_* keys go together; a peer or destination reached over TLS needs the CA
 * its certificate is verified against. The files themselves are loaded by the daemon
 * (net/tls.c), which reports them with these lines. */
static void check_tls(struct parse *p, int verify_line)
{
	struct config *c = p->c;
	const int *ln = c->tls_line;
	if (c->tls_certificate[0] && !c->tls_key[0]) {
		fail(p, ln[1], "server.tls_certificate: tls_key is missing");
		return;
	}
	if (c->tls_key[0] && !c->tls_certificate[0]) {
		fail(p, ln[2], "server.tls_key: tls_certificate is missing");
		return;
	}
	if (c->tls_port) {
		if (!c->tls_certificate[0]) {
			fail(p, ln[0], "server.tls_port: needs tls_certificate and tls_key");
			return;
		}
		if (c->tls_verify_peer && !c->tls_ca[0]) {
			fail(p, verify_line ? verify_line : ln[0],
			     "server.tls_verify_peer: needs tls_ca (or tls_verify_peer = no)");
			return;
		}
		if (c->tls_port == c->port) {
			fail(p, ln[0], "server.tls_port: %d is also server.port", c->tls_port);
			return;
		}
	}
	const struct { const char *what; const struct config_peer *v; size_t n; } lists[] = {
		{ "peer", c->peers, c->n_peers }, { "destination", c->dests, c->n_dests },
	};
	for (size_t l = 0; l < 2; l++)
		for (size_t i = 0; i < lists[l].n; i++)
			if (lists[l].v[i].tls && !c->tls_ca[0]) {
				fail(p, lists[l].v[i].line,
				     "[%s %s] tls = yes needs [server] tls_ca to verify it",
				     lists[l].what, lists[l].v[i].name);
				return;
			}
}

static size_t key_index(const char *label)
{
	for (size_t k = 0; k < N_KEYS; k++)
		if (strcmp(key_specs[k].label, label) == 0)
			return k;
	return N_KEYS;
}

int config_load(const char *path, struct config *c, char *err, size_t errlen)
{
	struct parse p;
	int key_line[N_KEYS] = { 0 };
	int rc = -1;

	config_defaults(c);
	memset(&p, 0, sizeof p);
	p.path = path;
	p.c = c;
	p.key_line = key_line;

	if (strlen(path) >= sizeof c->source) {
		if (errlen)
			snprintf(err, errlen, "%.64s...: path too long", path);
		return -1;
	}
	p.fp = fopen(path, "r");
	if (!p.fp) {
		if (errlen)
			snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return -1;
	}

	bool multiline_was = false;
	if (&ini_allow_multiline) {
		multiline_was = ini_allow_multiline;
		ini_allow_multiline = false;
	}
	int ini_rc = ini_parse_stream(read_line, &p, handle_pair, &p);
	if (&ini_allow_multiline)
		ini_allow_multiline = multiline_was;
	fclose(p.fp);

	if (p.read_errno) {
		if (errlen)
			snprintf(err, errlen, "%s: cannot read: %s", path, strerror(p.read_errno));
		goto out;
	}
	if (ini_rc < 0) { /* -2: libinih could not allocate its line buffer */
		if (errlen)
			snprintf(err, errlen, "%s: out of memory", path);
		goto out;
	}
	/* libinih reports the first line it could not parse (no '=', no ']'), a handler
	 * failure, or 0; we stop at our own first error, so the earlier of the two is first. */
	if (ini_rc > 0 && (!p.err_line || ini_rc < p.err_line)) {
		p.err_line = 0;
		fail(&p, ini_rc, "syntax error: expected 'key = value', '[section]' or a comment");
	}
	if (!p.err_line)
		derive_database(&p, key_line[key_index("index.database")],
		                key_line[key_index("storage.path")]);
	if (!p.err_line)
		derive_socket(c, key_line[key_index("control.socket")]);
	if (!p.err_line)
		check_tls(&p, key_line[key_index("server.tls_verify_peer")]);
	if (p.err_line) {
		if (errlen)
			snprintf(err, errlen, "%s:%d: %s", path, p.err_line, p.err);
		goto out;
	}
	strcpy(c->source, path);
	rc = 0;
out:
	if (rc < 0) {
		config_free(c);
		config_defaults(c);
	}
	return rc;
}

void config_free(struct config *c)
{
	if (!c)
		return;
	free(c->peers);
	c->peers = NULL;
	c->n_peers = 0;
	free(c->dests);
	c->dests = NULL;
	c->n_dests = 0;
}

const struct config_peer *config_find_peer(const struct config *c, const char *ae_title)
{
	if (!c || !ae_title)
		return NULL;
	/* PS3.5 6.2: leading and trailing spaces of an AE are not significant. */
	ae_title += strspn(ae_title, " ");
	size_t len = strlen(ae_title);
	while (len > 0 && ae_title[len - 1] == ' ')
		len--;
	if (len == 0 || len > CONFIG_AE_TITLE_MAX)
		return NULL;
	for (size_t i = 0; i < c->n_peers; i++) {
		const char *t = c->peers[i].ae_title;
		if (strlen(t) == len && memcmp(t, ae_title, len) == 0)
			return &c->peers[i];
	}
	return NULL;
}

int config_write(const struct config *c, FILE *f)
{
	bool c_socket_derived = false;
	fprintf(f, "# dicomaid configuration, effective values (from %s)\n",
	        c->source[0] ? c->source : "built-in defaults");
	fprintf(f, "[server]\nae_title = %s\nbind = %s\nport = %d\nmax_associations = %d\n"
	           "max_pdu = %lu\nartim_timeout = %d\nidle_timeout = %d\nshutdown_timeout = %d\n",
	        c->ae_title, c->bind, c->port, c->max_associations, (unsigned long)c->max_pdu,
	        c->artim_timeout, c->idle_timeout, c->shutdown_timeout);
	fprintf(f, "max_associations_per_peer = %d\nmax_send_queue = %llu\n",
		c->max_associations_per_peer, (unsigned long long)c->max_send_queue);
	fprintf(f, "tls_port = %d\ntls_verify_peer = %s\n", c->tls_port,
		c->tls_verify_peer ? "yes" : "no");
	if (c->tls_certificate[0])
		fprintf(f, "tls_certificate = %s\n", c->tls_certificate);
	if (c->tls_key[0])
		fprintf(f, "tls_key = %s\n", c->tls_key);
	if (c->tls_ca[0])
		fprintf(f, "tls_ca = %s\n", c->tls_ca);
	fprintf(f, "\n[storage]\npath = %s\nfsync = %s\nduplicates = %s\n", c->storage_path,
	        c->storage_fsync ? "yes" : "no", config_duplicates_name(c->duplicates));
	fprintf(f, "max_instance_size = %llu\n", (unsigned long long)c->max_instance_size);
	if (c->min_free_percent)
		fprintf(f, "min_free_space = %d%%\n", c->min_free_percent);
	else
		fprintf(f, "min_free_space = %llu\n", (unsigned long long)c->min_free_space);
	/* Paths derived from storage.path are left to be derived again: written out they can be
	 * longer than the longest line the parser takes. */
	{
		char derived[PATH_MAX + 32];
		size_t len = strlen(c->storage_path);
		snprintf(derived, sizeof derived, "%s%sindex.sqlite", c->storage_path,
			 len > 0 && c->storage_path[len - 1] == '/' ? "" : "/");
		if (strcmp(derived, c->index_database) != 0)
			fprintf(f, "\n[index]\ndatabase = %s\n", c->index_database);
		snprintf(derived, sizeof derived, "%s%sdicomaid.sock", c->storage_path,
			 len > 0 && c->storage_path[len - 1] == '/' ? "" : "/");
		if (c->control_socket[0] && strcmp(derived, c->control_socket) == 0)
			c_socket_derived = true;
	}
	fprintf(f, "\n[access]\nrequire_known_peers = %s\n", c->require_known_peers ? "yes" : "no");
	fprintf(f, "\n[query]\nmax_matches = %d\npn_case_insensitive = %s\n", c->max_matches,
		c->pn_case_insensitive ? "yes" : "no");
	fprintf(f, "\n[analysis]\nenabled = %s\nworkers = %d\nstable_seconds = %d\n",
		c->analysis_enabled ? "yes" : "no", c->analysis_workers, c->stable_seconds);
	if (c->analysis_model[0])
		fprintf(f, "model = %s\n", c->analysis_model);
	fprintf(f, "gsps = %s\n", c->analysis_gsps ? "yes" : "no");
	for (size_t i = 0; i < c->n_dests; i++) {
		const struct config_peer *d = &c->dests[i];
		fprintf(f, "\n[destination %s]\nae_title = %s\nhost = %s\nport = %d\nresults = %s\n"
			"tls = %s\n", d->name, d->ae_title, d->host, d->port,
			d->results ? "yes" : "no", d->tls ? "yes" : "no");
	}
	fprintf(f, "\n[log]\nlevel = %s\n", config_log_level_name(c->log_level));
	/* Empty: the default could not be derived (storage path too long for a UNIX socket);
	 * writing "socket =" would not load again, so the key is left out. */
	if (c->control_socket[0] && !c_socket_derived)
		fprintf(f, "\n[control]\nsocket = %s\n", c->control_socket);
	for (size_t i = 0; i < c->n_peers; i++) {
		const struct config_peer *peer = &c->peers[i];
		fprintf(f, "\n[peer %s]\nae_title = %s\n", peer->name, peer->ae_title);
		if (peer->host[0])
			fprintf(f, "host = %s\n", peer->host);
		if (peer->port)
			fprintf(f, "port = %d\n", peer->port);
		if (peer->tls)
			fprintf(f, "tls = yes\n");
		if (peer->services != CONFIG_SVC_ALL) {
			static const char *const svc[] = { "echo", "store", "find", "move", "get" };
			const char *sep = "";
			fprintf(f, "services = ");
			for (int b = 0; b < 5; b++)
				if (peer->services & (1u << b)) {
					fprintf(f, "%s%s", sep, svc[b]);
					sep = ",";
				}
			fprintf(f, "\n");
		}
	}
	return fflush(f) == 0 && !ferror(f) ? 0 : -1;
}

const char *config_duplicates_name(enum config_duplicates d)
{
	switch (d) {
	case CONFIG_DUP_OVERWRITE: return "overwrite";
	case CONFIG_DUP_KEEP: return "keep";
	case CONFIG_DUP_REJECT: return "reject";
	}
	return "?";
}

const char *config_log_level_name(enum log_level l)
{
	switch (l) {
	case LOG_LVL_ERR: return "error";
	case LOG_LVL_WARNING: return "warning";
	case LOG_LVL_NOTICE: return "notice";
	case LOG_LVL_INFO: return "info";
	case LOG_LVL_DEBUG: return "debug";
	}
	return "?";
}
