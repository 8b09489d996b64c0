/*
 * Tests for util/config: defaults, a complete file, every error class with its exact
 * "file:line: message", peer lookup, and the shipped etc/dicomaid.conf (which must load,
 * document every key, and state the defaults the code uses).
 */
#define _POSIX_C_SOURCE 200809L /* mkstemp */
#include "util/config.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A temporary file holding text; removed by the fixture at the end of each test. */
static char tmp_path[64];

static void cleanup(void)
{
	if (tmp_path[0])
		unlink(tmp_path);
	tmp_path[0] = '\0';
}

TestSuite(config, .fini = cleanup);

static const char *write_tmp(const char *text)
{
	cleanup();
	strcpy(tmp_path, "/tmp/dicomaid-config-test-XXXXXX");
	int fd = mkstemp(tmp_path);
	cr_assert(fd >= 0, "mkstemp");
	size_t len = strlen(text);
	cr_assert_eq(write(fd, text, len), (ssize_t)len);
	close(fd);
	return tmp_path;
}

static void assert_defaults(const struct config *c)
{
	cr_expect_str_eq(c->ae_title, "DICOMAID");
	cr_expect_str_eq(c->bind, "0.0.0.0");
	cr_expect_eq(c->port, 11112);
	cr_expect_eq(c->max_associations, 64);
	cr_expect_eq(c->max_pdu, 65536u);
	cr_expect_eq(c->artim_timeout, 30);
	cr_expect_eq(c->idle_timeout, 300);
	cr_expect_eq(c->shutdown_timeout, 30);
	cr_expect_str_eq(c->storage_path, "./dicomaid-data");
	cr_expect_eq(c->storage_fsync, 1);
	cr_expect_eq(c->duplicates, CONFIG_DUP_OVERWRITE);
	cr_expect_str_eq(c->index_database, "./dicomaid-data/index.sqlite");
	cr_expect_eq(c->require_known_peers, 0);
	cr_expect_eq(c->log_level, LOG_LVL_INFO);
}

/* Load text; expect failure with exactly "<tmp>:<tail>" and defaults left behind. */
static void expect_error(const char *text, const char *tail)
{
	struct config c;
	char err[512], want[512];
	const char *path = write_tmp(text);
	snprintf(want, sizeof want, "%s:%s", path, tail);
	err[0] = '\0';
	cr_assert_eq(config_load(path, &c, err, sizeof err), -1, "accepted: %s", text);
	cr_expect_str_eq(err, want);
	cr_expect_null(strchr(err, '\n'));
	cr_expect_null(c.peers);
	cr_expect_eq(c.n_peers, 0);
	assert_defaults(&c);
	cr_expect_str_eq(c.source, "");
	config_free(&c);
}

static void load_ok(const char *text, struct config *c)
{
	char err[512] = "";
	const char *path = write_tmp(text);
	int rc = config_load(path, c, err, sizeof err);
	cr_assert_eq(rc, 0, "rejected: %s", err);
	cr_expect_str_eq(c->source, path);
}

Test(config, defaults)
{
	struct config c;
	memset(&c, 0x5a, sizeof c);
	config_defaults(&c);
	assert_defaults(&c);
	cr_expect_null(c.peers);
	cr_expect_eq(c.n_peers, 0);
	cr_expect_str_eq(c.source, "");
	config_free(&c);
	config_free(&c); /* idempotent */
	config_free(NULL);
}

Test(config, empty_file_gives_defaults)
{
	struct config c;
	load_ok("", &c);
	assert_defaults(&c);
	config_free(&c);
	load_ok("; only a comment\n# another\n\n[server]\n[storage]\n", &c);
	assert_defaults(&c);
	config_free(&c);
}

static const char full_text[] =
	"\xEF\xBB\xBF# full\n"
	"[server]\n"
	"ae_title = MY AE\n"
	"bind = ::1\n"
	"port = 4242 ; inline comment\n"
	"max_associations = 8\n"
	"max_pdu = 16384\n"
	"artim_timeout = 10\n"
	"idle_timeout = 600\n"
	"shutdown_timeout = 0\n"
	"[storage]\n"
	"path = /var/lib/dicomaid\n"
	"fsync = off\n"
	"duplicates = reject\n"
	"[index]\n"
	"database = /var/lib/dicomaid/db/index.sqlite\n"
	"[access]\n"
	"require_known_peers = TRUE\n"
	"[log]\n"
	"level = debug\n"
	"[peer pacs]\n"
	"ae_title = PACS\n"
	"host = pacs.example.org\n"
	"port = 104\n"
	"\n"
	"  [peer ct-1]  ; indented header, comment after it\n"
	"  ae_title : CT_01\n"
	"  host = 192.0.2.7\n";

Test(config, full_file)
{
	struct config c;
	load_ok(full_text, &c);
	cr_expect_str_eq(c.ae_title, "MY AE");
	cr_expect_str_eq(c.bind, "::1");
	cr_expect_eq(c.port, 4242);
	cr_expect_eq(c.max_associations, 8);
	cr_expect_eq(c.max_pdu, 16384u);
	cr_expect_eq(c.artim_timeout, 10);
	cr_expect_eq(c.idle_timeout, 600);
	cr_expect_eq(c.shutdown_timeout, 0);
	cr_expect_str_eq(c.storage_path, "/var/lib/dicomaid");
	cr_expect_eq(c.storage_fsync, 0);
	cr_expect_eq(c.duplicates, CONFIG_DUP_REJECT);
	cr_expect_str_eq(c.index_database, "/var/lib/dicomaid/db/index.sqlite");
	cr_expect_eq(c.require_known_peers, 1);
	cr_expect_eq(c.log_level, LOG_LVL_DEBUG);
	cr_assert_eq(c.n_peers, 2);
	cr_expect_str_eq(c.peers[0].name, "pacs");
	cr_expect_str_eq(c.peers[0].ae_title, "PACS");
	cr_expect_str_eq(c.peers[0].host, "pacs.example.org");
	cr_expect_eq(c.peers[0].port, 104);
	cr_expect_eq(c.peers[0].line, 21);
	cr_expect_str_eq(c.peers[1].name, "ct-1");
	cr_expect_str_eq(c.peers[1].ae_title, "CT_01");
	cr_expect_str_eq(c.peers[1].host, "192.0.2.7");
	cr_expect_eq(c.peers[1].port, 0);
	cr_expect_eq(c.peers[1].line, 26);
	config_free(&c);
	cr_expect_null(c.peers);
	cr_expect_eq(c.n_peers, 0);
}

Test(config, database_defaults_to_storage_path)
{
	struct config c;
	load_ok("[storage]\npath = /srv/dcm\n", &c);
	cr_expect_str_eq(c.index_database, "/srv/dcm/index.sqlite");
	config_free(&c);
	load_ok("[storage]\npath = /srv/dcm/\n", &c);
	cr_expect_str_eq(c.index_database, "/srv/dcm/index.sqlite");
	config_free(&c);
	/* An explicit database wins, in either order. */
	load_ok("[index]\ndatabase = /db/x.sqlite\n[storage]\npath = /srv/dcm\n", &c);
	cr_expect_str_eq(c.index_database, "/db/x.sqlite");
	config_free(&c);
}

Test(config, booleans)
{
	static const char *const yes[] = { "yes", "true", "1", "on", "YES", "On" };
	static const char *const no[] = { "no", "false", "0", "off", "No", "FALSE" };
	char text[128];
	struct config c;
	for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
		snprintf(text, sizeof text, "[storage]\nfsync = %s\n[access]\nrequire_known_peers = %s\n",
		         no[i], yes[i]);
		load_ok(text, &c);
		cr_expect_eq(c.storage_fsync, 0, "%s", no[i]);
		cr_expect_eq(c.require_known_peers, 1, "%s", yes[i]);
		config_free(&c);
	}
}

Test(config, enums_and_bounds_accepted)
{
	struct config c;
	load_ok("[server]\nmax_pdu = 4096\nport = 1\nmax_associations = 4096\n"
	        "[storage]\nduplicates = keep\n[log]\nlevel = warning\n",
	        &c);
	cr_expect_eq(c.max_pdu, 4096u);
	cr_expect_eq(c.port, 1);
	cr_expect_eq(c.max_associations, 4096);
	cr_expect_eq(c.duplicates, CONFIG_DUP_KEEP);
	cr_expect_eq(c.log_level, LOG_LVL_WARNING);
	config_free(&c);
	load_ok("[server]\nmax_pdu = 16777216\nport = 65535\nae_title = A\n[log]\nlevel = error\n", &c);
	cr_expect_eq(c.max_pdu, 16777216u);
	cr_expect_eq(c.port, 65535);
	cr_expect_str_eq(c.ae_title, "A");
	cr_expect_eq(c.log_level, LOG_LVL_ERR);
	config_free(&c);
}

Test(config, error_unknown_key)
{
	expect_error("[server]\nport = 104\nae_titel = X\n", "3: unknown key 'ae_titel' in [server]");
	expect_error("[peer a]\nae_title = A\nhostname = h\n", "3: unknown key 'hostname' in [peer a]");
	/* A key of another section is unknown here. */
	expect_error("[server]\npath = /x\n", "2: unknown key 'path' in [server]");
	expect_error("port = 104\n", "1: key 'port' outside any section");
}

Test(config, error_unknown_section)
{
	expect_error("[server]\nport = 104\n\n[servr]\nport = 105\n", "4: unknown section [servr]");
	/* Found even when the section is empty (libinih alone would not see it). */
	expect_error("[server]\n[bogus]\n", "2: unknown section [bogus]");
	expect_error("[ server ]\n", "1: unknown section [ server ]");
	expect_error("[peerx]\n", "1: unknown section [peerx]");
}

Test(config, error_bad_port)
{
	expect_error("[server]\nport = 70000\n", "2: server.port: 70000 is out of range (1..65535)");
	expect_error("[server]\nport = 0\n", "2: server.port: 0 is out of range (1..65535)");
	expect_error("[server]\nport = 104x\n", "2: server.port: '104x' is not a number");
	expect_error("[server]\nport = -1\n", "2: server.port: '-1' is not a number");
	expect_error("[server]\nport =\n", "2: server.port: a number is required");
	expect_error("[server]\nport = 99999999999999999999999\n",
	             "2: server.port: 99999999999999999999999 is out of range (1..65535)");
	expect_error("[peer p]\nae_title = P\nport = 65536\n",
	             "3: peer.port: 65536 is out of range (1..65535)");
}

Test(config, error_bad_bool)
{
	expect_error("[storage]\nfsync = maybe\n",
	             "2: storage.fsync: 'maybe' is not a boolean (yes/no/true/false/on/off/1/0)");
	expect_error("[access]\nrequire_known_peers = 2\n",
	             "2: access.require_known_peers: '2' is not a boolean (yes/no/true/false/on/off/1/0)");
}

Test(config, error_duplicate_key)
{
	expect_error("[server]\nport = 104\nbind = ::\nport = 105\n",
	             "4: duplicate key 'port' in [server] (first on line 2)");
	expect_error("[peer a]\nae_title = A\nae_title = B\n",
	             "3: duplicate key 'ae_title' in [peer a] (first on line 2)");
	/* Same key in two different peers is fine. */
	struct config c;
	load_ok("[peer a]\nae_title = A\n[peer b]\nae_title = B\n", &c);
	cr_expect_eq(c.n_peers, 2);
	config_free(&c);
}

Test(config, error_duplicate_section)
{
	expect_error("[server]\nport = 104\n[log]\n[server]\nbind = ::\n",
	             "4: duplicate section [server] (first on line 1)");
}

Test(config, error_duplicate_peer)
{
	expect_error("[peer pacs]\nae_title = PACS\n\n[peer ct]\nae_title = CT\n[peer pacs]\nae_title = P2\n",
	             "6: duplicate peer 'pacs' (first on line 1)");
	expect_error("[peer a]\nae_title = SAME\n[peer b]\nae_title = SAME\n",
	             "4: peer.ae_title: AE title 'SAME' is also used by [peer a] (line 1)");
}

Test(config, error_peer_without_ae_title)
{
	expect_error("[peer pacs]\nhost = pacs.example.org\n[log]\nlevel = info\n",
	             "1: [peer pacs] has no ae_title");
	/* At end of file, and for an empty section. */
	expect_error("[log]\nlevel = info\n[peer last]\nport = 104\n", "3: [peer last] has no ae_title");
	expect_error("[peer a]\nae_title = A\n[peer empty]\n", "3: [peer empty] has no ae_title");
	expect_error("[peer]\nae_title = A\n", "1: a peer section needs a name: [peer NAME]");
	expect_error("[peer a/b]\n", "1: peer name 'a/b' must be 1..64 of A-Z a-z 0-9 . _ -");
	/* 65 characters: too long; shown cut at 64 in the message. */
	expect_error("[peer 0123456789012345678901234567890123456789012345678901234567890123x]\n",
	             "1: peer name '0123456789012345678901234567890123456789012345678901234567890123...' "
	             "must be 1..64 of A-Z a-z 0-9 . _ -");
}

Test(config, long_peer_names)
{
	/* 64 characters, and two names that agree on their first 49 (libinih's section cut). */
	struct config c;
	load_ok("[peer 0123456789012345678901234567890123456789012345678901234567890123]\n"
	        "ae_title = A\n"
	        "[peer 0123456789012345678901234567890123456789012345678_b]\n"
	        "ae_title = B\n"
	        "[peer 0123456789012345678901234567890123456789012345678_c]\n"
	        "ae_title = C\n",
	        &c);
	cr_assert_eq(c.n_peers, 3);
	cr_expect_str_eq(c.peers[0].name,
	                 "0123456789012345678901234567890123456789012345678901234567890123");
	cr_expect_str_eq(c.peers[2].name, "0123456789012345678901234567890123456789012345678_c");
	cr_expect_str_eq(config_find_peer(&c, "C")->name, c.peers[2].name);
	config_free(&c);
	expect_error("[peer 0123456789012345678901234567890123456789012345678_b]\nae_title = B\n"
	             "[peer 0123456789012345678901234567890123456789012345678_b]\nae_title = C\n",
	             "3: duplicate peer '0123456789012345678901234567890123456789012345678_b' "
	             "(first on line 1)");
}

Test(config, error_ae_title)
{
	expect_error("[server]\nae_title = ABCDEFGHIJKLMNOPQ\n",
	             "2: server.ae_title: AE title 'ABCDEFGHIJKLMNOPQ' is longer than 16 characters");
	expect_error("[peer x]\nae_title = 0123456789abcdefg\n",
	             "2: peer.ae_title: AE title '0123456789abcdefg' is longer than 16 characters");
	expect_error("[server]\nae_title = A\\B\n",
	             "2: server.ae_title: AE title 'A\\B' may only hold printable ASCII characters, no backslash");
	expect_error("[server]\nae_title = A\tB\n",
	             "2: server.ae_title: AE title 'A?B' may only hold printable ASCII characters, no backslash");
	expect_error("[server]\nae_title =    \n",
	             "2: server.ae_title: AE title must not be empty or all spaces");
	/* Exactly 16 is fine. */
	struct config c;
	load_ok("[server]\nae_title = ABCDEFGHIJKLMNOP\n", &c);
	cr_expect_str_eq(c.ae_title, "ABCDEFGHIJKLMNOP");
	config_free(&c);
}

Test(config, error_max_pdu)
{
	expect_error("[server]\nmax_pdu = 0\n", "2: server.max_pdu: 0 is out of range (4096..16777216)");
	expect_error("[server]\nmax_pdu = 4095\n",
	             "2: server.max_pdu: 4095 is out of range (4096..16777216)");
	expect_error("[server]\nmax_pdu = 16777217\n",
	             "2: server.max_pdu: 16777217 is out of range (4096..16777216)");
}

Test(config, error_other_values)
{
	expect_error("[server]\nbind = localhost\n",
	             "2: server.bind: 'localhost' is not an IPv4 or IPv6 address");
	expect_error("[server]\nmax_associations = 0\n",
	             "2: server.max_associations: 0 is out of range (1..4096)");
	expect_error("[server]\nartim_timeout = 0\n",
	             "2: server.artim_timeout: 0 is out of range (1..3600)");
	expect_error("[server]\nidle_timeout = 86401\n",
	             "2: server.idle_timeout: 86401 is out of range (1..86400)");
	expect_error("[server]\nshutdown_timeout = 3601\n",
	             "2: server.shutdown_timeout: 3601 is out of range (0..3600)");
	expect_error("[storage]\nduplicates = ignore\n",
	             "2: storage.duplicates: 'ignore' is not one of overwrite, keep, reject");
	expect_error("[storage]\npath =\n", "2: storage.path: a path is required");
	expect_error("[log]\nlevel = verbose\n",
	             "2: log.level: 'verbose' is not one of error, warning, notice, info, debug");
	expect_error("[peer p]\nae_title = P\nhost = bad_host!\n",
	             "3: peer.host: 'bad_host!' is not a host name or IP address");
	expect_error("[peer p]\nae_title = P\nhost = 300.1.2.3\n",
	             "3: peer.host: '300.1.2.3' is not a host name or IP address");
	expect_error("[peer p]\nae_title = P\nhost = -a.example\n",
	             "3: peer.host: '-a.example' is not a host name or IP address");
	/* '#' after a value is not a comment, so the value is wrong. */
	expect_error("[server]\nport = 104 # comment\n", "2: server.port: '104 # comment' is not a number");
}

Test(config, error_syntax)
{
	expect_error("[server]\nport 104\n",
	             "2: syntax error: expected 'key = value', '[section]' or a comment");
	expect_error("[server\nport = 104\n", "1: missing ']' in section header");
	expect_error("[server] port = 104\n", "1: unexpected text after section header");
	/* The first error by line wins, whoever finds it. */
	expect_error("[server]\njunk\nport = 0\n",
	             "2: syntax error: expected 'key = value', '[section]' or a comment");
	expect_error("[server]\nport = 0\njunk\n", "2: server.port: 0 is out of range (1..65535)");
}

Test(config, error_nul_byte)
{
	/* write_tmp takes a C string, so write this file by hand. */
	static const char text[] = "[server]\nport = 1\0junk\nbind = ::\n";
	struct config c;
	char err[512], want[512];
	const char *path = write_tmp("");
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	fwrite(text, 1, sizeof text - 1, f);
	fclose(f);
	cr_assert_eq(config_load(path, &c, err, sizeof err), -1);
	snprintf(want, sizeof want, "%s:2: NUL byte in line", path);
	cr_expect_str_eq(err, want);
}

Test(config, error_long_line)
{
	char text[512];
	memset(text, 0, sizeof text);
	strcpy(text, "[storage]\npath = /");
	memset(text + strlen(text), 'a', 300);
	strcat(text, "\n");
	expect_error(text, "2: line too long (more than 198 characters)");
	/* 198 characters are fine. */
	memset(text, 0, sizeof text);
	strcpy(text, "[storage]\npath = /");
	memset(text + strlen(text), 'b', 198 - strlen("path = /"));
	strcat(text, "\n[log]\nlevel = debug\n");
	struct config c;
	load_ok(text, &c);
	cr_expect_eq(strlen(c.storage_path), 198 - strlen("path = "));
	cr_expect_eq(c.log_level, LOG_LVL_DEBUG);
	config_free(&c);
}

Test(config, indented_keys_are_keys)
{
	/* libinih would read these as continuation lines of ae_title if left to defaults. */
	struct config c;
	load_ok("[server]\n  ae_title = X\n  port = 5\n\tbind = ::\n", &c);
	cr_expect_str_eq(c.ae_title, "X");
	cr_expect_eq(c.port, 5);
	cr_expect_str_eq(c.bind, "::");
	config_free(&c);
}

Test(config, crlf_line_ends)
{
	struct config c;
	load_ok("[server]\r\nport = 5\r\n[peer p] ; x\r\nae_title = P\r\n", &c);
	cr_expect_eq(c.port, 5);
	cr_assert_eq(c.n_peers, 1);
	cr_expect_str_eq(c.peers[0].ae_title, "P");
	config_free(&c);
}

Test(config, cannot_open)
{
	struct config c;
	char err[512];
	cr_assert_eq(config_load("/nonexistent/dicomaid.conf", &c, err, sizeof err), -1);
	cr_expect_str_eq(err, "/nonexistent/dicomaid.conf: cannot open: No such file or directory");
	assert_defaults(&c);
	/* err may be omitted. */
	cr_expect_eq(config_load("/nonexistent/dicomaid.conf", &c, NULL, 0), -1);
}

Test(config, find_peer)
{
	struct config c;
	load_ok("[peer pacs]\nae_title = PACS\n[peer ws]\nae_title = WORK STATION\nhost = ::1\n", &c);
	const struct config_peer *p = config_find_peer(&c, "PACS");
	cr_assert_not_null(p);
	cr_expect_str_eq(p->name, "pacs");
	/* A space-padded 16-byte field from an A-ASSOCIATE-RQ matches too. */
	p = config_find_peer(&c, "  WORK STATION  ");
	cr_assert_not_null(p);
	cr_expect_str_eq(p->name, "ws");
	cr_expect_str_eq(p->host, "::1");
	cr_expect_null(config_find_peer(&c, "pacs")); /* exact case */
	cr_expect_null(config_find_peer(&c, "PACS2"));
	cr_expect_null(config_find_peer(&c, "PAC"));
	cr_expect_null(config_find_peer(&c, ""));
	cr_expect_null(config_find_peer(&c, NULL));
	config_free(&c);
	cr_expect_null(config_find_peer(&c, "PACS"));
}

Test(config, known_keys)
{
	size_t n = 0;
	for (; config_known_keys[n]; n++)
		cr_expect_not_null(strchr(config_known_keys[n], '.'), "%s", config_known_keys[n]);
	cr_expect_eq(n, 41);
	cr_expect_str_eq(config_known_keys[0], "server.ae_title");
	bool found_peer = false;
	for (size_t i = 0; i < n; i++)
		found_peer |= strcmp(config_known_keys[i], "peer.ae_title") == 0;
	cr_expect(found_peer);
}

/* ---- etc/dicomaid.conf ---------------------------------------------------------------- */

static void example_path(char *out, size_t len)
{
	const char *top = getenv("top_srcdir");
	snprintf(out, len, "%s/etc/dicomaid.conf", top && *top ? top : ABS_TOP_SRCDIR);
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	cr_assert_not_null(f, "%s", path);
	static char buf[65536];
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	return buf;
}

Test(config, example_file_loads)
{
	char path[4096], err[512] = "";
	struct config c;
	example_path(path, sizeof path);
	cr_assert_eq(config_load(path, &c, err, sizeof err), 0, "%s", err);
	assert_defaults(&c);
	cr_expect_eq(c.n_peers, 0);
	config_free(&c);
}

/* Every "#key = value" line of the example, uncommented, must give the defaults: the file
 * documents what the code does. */
Test(config, example_file_states_the_defaults)
{
	char path[4096];
	example_path(path, sizeof path);
	const char *src = slurp(path);
	static char out[65536];
	size_t o = 0;
	for (const char *l = src; *l;) {
		const char *e = strchr(l, '\n');
		size_t len = e ? (size_t)(e - l + 1) : strlen(l);
		/* "#word" with no space after '#' is a commented-out setting or header. */
		if (l[0] == '#' && l[1] != ' ' && l[1] != '\n' && l[1] != '\0') {
			l++;
			len--;
		}
		cr_assert_lt(o + len, sizeof out);
		memcpy(out + o, l, len);
		o += len;
		l += len;
	}
	out[o] = '\0';
	struct config c;
	load_ok(out, &c);
	assert_defaults(&c);
	cr_assert_eq(c.n_peers, 1);
	cr_expect_str_eq(c.peers[0].ae_title, "PACS");
	config_free(&c);

	/* Each known key appears as a setting "#key = " in the example. */
	for (size_t i = 0; config_known_keys[i]; i++) {
		char want[128];
		snprintf(want, sizeof want, "\n#%s = ", strchr(config_known_keys[i], '.') + 1);
		cr_expect_not_null(strstr(src, want), "%s not documented", config_known_keys[i]);
	}
}

/* ---- config_write ---------------------------------------------------------------------- */

static void assert_same(const struct config *a, const struct config *b)
{
	cr_expect_str_eq(a->ae_title, b->ae_title);
	cr_expect_str_eq(a->bind, b->bind);
	cr_expect_eq(a->port, b->port);
	cr_expect_eq(a->max_associations, b->max_associations);
	cr_expect_eq(a->max_pdu, b->max_pdu);
	cr_expect_eq(a->artim_timeout, b->artim_timeout);
	cr_expect_eq(a->idle_timeout, b->idle_timeout);
	cr_expect_eq(a->shutdown_timeout, b->shutdown_timeout);
	cr_expect_str_eq(a->storage_path, b->storage_path);
	cr_expect_eq(a->storage_fsync, b->storage_fsync);
	cr_expect_eq(a->duplicates, b->duplicates);
	cr_expect_str_eq(a->index_database, b->index_database);
	cr_expect_eq(a->require_known_peers, b->require_known_peers);
	cr_expect_eq(a->log_level, b->log_level);
	cr_assert_eq(a->n_peers, b->n_peers);
	for (size_t i = 0; i < a->n_peers; i++) {
		cr_expect_str_eq(a->peers[i].name, b->peers[i].name);
		cr_expect_str_eq(a->peers[i].ae_title, b->peers[i].ae_title);
		cr_expect_str_eq(a->peers[i].host, b->peers[i].host);
		cr_expect_eq(a->peers[i].port, b->peers[i].port);
		cr_expect_eq(a->peers[i].tls, b->peers[i].tls);
	}
	cr_expect_eq(a->tls_port, b->tls_port);
	cr_expect_str_eq(a->tls_certificate, b->tls_certificate);
	cr_expect_str_eq(a->tls_key, b->tls_key);
	cr_expect_str_eq(a->tls_ca, b->tls_ca);
	cr_expect_eq(a->tls_verify_peer, b->tls_verify_peer);
	cr_assert_eq(a->n_dests, b->n_dests);
	for (size_t i = 0; i < a->n_dests; i++)
		cr_expect_eq(a->dests[i].tls, b->dests[i].tls);
}

/* Write c, load the result, expect the same values. */
static void round_trip(const struct config *c)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	cr_assert_not_null(f);
	cr_assert_eq(config_write(c, f), 0);
	fclose(f);
	struct config back;
	load_ok(buf, &back);
	assert_same(c, &back);
	config_free(&back);
	free(buf);
}

Test(config, write_round_trips)
{
	struct config c;
	config_defaults(&c);
	round_trip(&c);
	load_ok(full_text, &c);
	round_trip(&c);
	config_free(&c);
}

/* ---- robustness: every prefix and single-byte damage of a valid file ------------------- */

/* Either loads, or fails with "path:N: message" where N is a line of the text. */
static void load_any(const char *text, size_t len)
{
	struct config c;
	char err[512] = "", head[128];
	const char *path = write_tmp("");
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	fwrite(text, 1, len, f);
	fclose(f);
	size_t lines = 1;
	for (size_t i = 0; i < len; i++)
		lines += text[i] == '\n';
	if (config_load(path, &c, err, sizeof err) == 0) {
		config_free(&c);
		return;
	}
	int n = snprintf(head, sizeof head, "%s:", path);
	cr_assert_eq(strncmp(err, head, (size_t)n), 0, "%s", err);
	char *end;
	long line = strtol(err + n, &end, 10);
	cr_assert(line >= 1 && (size_t)line <= lines, "line %ld of %zu: %s", line, lines, err);
	cr_assert_eq(strncmp(end, ": ", 2), 0, "%s", err);
	cr_assert_null(strchr(err, '\n'));
	cr_assert_null(c.peers);
}

Test(config, every_prefix)
{
	size_t len = strlen(full_text);
	for (size_t k = 0; k <= len; k++)
		load_any(full_text, k);
}

Test(config, every_byte_damaged)
{
	static const char bad[] = { '[', '=', '\n', ' ', '\0', (char)0xff };
	size_t len = strlen(full_text);
	char copy[sizeof full_text];
	for (size_t k = 0; k < len; k++) {
		for (size_t b = 0; b < sizeof bad; b++) {
			memcpy(copy, full_text, len);
			copy[k] = bad[b];
			load_any(copy, len);
		}
	}
}

Test(config, peer_services_and_query)
{
	char path[] = "/tmp/cfgtest.XXXXXX";
	int fd = mkstemp(path);
	cr_assert(fd >= 0);
	const char *text = "[query]\nmax_matches = 5\npn_case_insensitive = no\n"
			   "[peer a]\nae_title = A\nservices = find, move\n[peer b]\nae_title = B\n";
	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	struct config c;
	char err[256];
	cr_assert_eq(config_load(path, &c, err, sizeof err), 0, "%s", err);
	cr_expect_eq(c.max_matches, 5);
	cr_expect_eq(c.pn_case_insensitive, 0);
	cr_expect_eq(config_find_peer(&c, "A")->services, CONFIG_SVC_FIND | CONFIG_SVC_MOVE);
	cr_expect_eq(config_find_peer(&c, "B")->services, CONFIG_SVC_ALL);
	config_free(&c);
	fd = open(path, O_WRONLY | O_TRUNC);
	const char *bad = "[peer a]\nae_title = A\nservices = find,print\n";
	cr_assert_eq(write(fd, bad, strlen(bad)), (ssize_t)strlen(bad));
	close(fd);
	cr_expect_eq(config_load(path, &c, err, sizeof err), -1);
	cr_expect(strstr(err, ":3: peer.services: 'find,print' is not a list") != NULL, "%s", err);
	unlink(path);
}

Test(config, analysis_and_destinations)
{
	char path[] = "/tmp/cfgtest.XXXXXX";
	int fd = mkstemp(path);
	cr_assert(fd >= 0);
	const char *text = "[analysis]\nworkers = 2\nstable_seconds = 3\ngsps = no\n"
			   "[destination pacs]\nae_title = PACS\nhost = 127.0.0.1\nport = 104\n"
			   "[destination archive]\nae_title = ARCH\nhost = localhost\nport = 11113\n"
			   "results = no\n";
	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	struct config c;
	char err[256];
	cr_assert_eq(config_load(path, &c, err, sizeof err), 0, "%s", err);
	cr_expect_eq(c.analysis_workers, 2);
	cr_expect_eq(c.stable_seconds, 3);
	cr_expect_eq(c.analysis_gsps, 0);
	cr_expect_eq(c.analysis_enabled, 1);
	cr_assert_eq(c.n_dests, 2);
	cr_expect_str_eq(c.dests[0].ae_title, "PACS");
	cr_expect_eq(c.dests[0].results, 1);
	cr_expect_eq(c.dests[1].port, 11113);
	cr_expect_eq(c.dests[1].results, 0);
	cr_expect_eq(c.n_peers, 0, "destinations are not peers");
	config_free(&c);
	fd = open(path, O_WRONLY | O_TRUNC);
	const char *bad = "[destination pacs]\nae_title = PACS\nhost = 127.0.0.1\n";
	cr_assert_eq(write(fd, bad, strlen(bad)), (ssize_t)strlen(bad));
	close(fd);
	cr_expect_eq(config_load(path, &c, err, sizeof err), -1);
	cr_expect(strstr(err, ":1: [destination pacs] has no port") != NULL, "%s", err);
	unlink(path);
}

/* [server] tls_*, [peer]/[destination] tls (the files are loaded by the daemon, not here). */
Test(config, tls)
{
	struct config c;
	config_defaults(&c);
	cr_expect_eq(c.tls_port, 0);
	cr_expect_eq(c.tls_verify_peer, 1);
	const char *text = "[server]\nport = 104\ntls_port = 2762\ntls_certificate = /etc/s.crt\n"
			   "tls_key = /etc/s.key\ntls_ca = /etc/ca.crt\n"
			   "[peer pacs]\nae_title = PACS\nhost = 10.0.0.1\nport = 2762\ntls = yes\n"
			   "[peer plain]\nae_title = PLAIN\n"
			   "[destination d]\nae_title = D\nhost = h\nport = 1\ntls = yes\n";
	load_ok(text, &c);
	cr_expect_eq(c.tls_port, 2762);
	cr_expect_str_eq(c.tls_certificate, "/etc/s.crt");
	cr_expect_str_eq(c.tls_key, "/etc/s.key");
	cr_expect_str_eq(c.tls_ca, "/etc/ca.crt");
	cr_expect_eq(c.tls_verify_peer, 1);
	cr_expect_eq(c.tls_line[0], 3);
	cr_expect_eq(c.tls_line[2], 5);
	cr_expect_eq(c.peers[0].tls, 1);
	cr_expect_eq(c.peers[1].tls, 0);
	cr_expect_eq(c.dests[0].tls, 1);
	round_trip(&c);
	config_free(&c);
	load_ok("[server]\ntls_port = 2762\ntls_certificate = a\ntls_key = b\n"
		"tls_verify_peer = no\n", &c);
	cr_expect_eq(c.tls_verify_peer, 0);
	round_trip(&c);
	config_free(&c);

	expect_error("[server]\ntls_port = 2762\n",
		     "2: server.tls_port: needs tls_certificate and tls_key");
	expect_error("[server]\ntls_port = 2762\ntls_certificate = a\n",
		     "3: server.tls_certificate: tls_key is missing");
	expect_error("[server]\ntls_key = b\n", "2: server.tls_key: tls_certificate is missing");
	expect_error("[server]\ntls_port = 2762\ntls_certificate = a\ntls_key = b\n",
		     "2: server.tls_verify_peer: needs tls_ca (or tls_verify_peer = no)");
	expect_error("[server]\ntls_port = 2762\ntls_certificate = a\ntls_key = b\n"
		     "tls_verify_peer = yes\n",
		     "5: server.tls_verify_peer: needs tls_ca (or tls_verify_peer = no)");
	expect_error("[server]\nport = 2762\ntls_port = 2762\ntls_certificate = a\ntls_key = b\n"
		     "tls_ca = c\n", "3: server.tls_port: 2762 is also server.port");
	expect_error("[server]\ntls_port = 65536\n",
		     "2: server.tls_port: 65536 is out of range (0..65535)");
	expect_error("[peer x]\nae_title = X\ntls = yes\n",
		     "1: [peer x] tls = yes needs [server] tls_ca to verify it");
	expect_error("[destination y]\nae_title = Y\nhost = h\nport = 1\ntls = maybe\n",
		     "5: destination.tls: 'maybe' is not a boolean (yes/no/true/false/on/off/1/0)");
}
