/*
 * The daemon's configuration: an INI file (parsed by libinih) turned into one plain struct.
 * This file owns the key names, their defaults, their bounds and the error messages; the
 * keys are a contract documented in dicomaid.conf(5) and etc/dicomaid.conf.
 *
 * The file is strict (STYLE habit 11): an unknown section or key, a key given twice, a
 * section given twice or a bad value is an error, reported as one line
 * "file:line: message". Loading stops at the first error.
 *
 *   [server]   ae_title bind port max_associations max_associations_per_peer
 *              max_send_queue max_pdu artim_timeout idle_timeout shutdown_timeout
 *              tls_port tls_certificate tls_key tls_ca tls_verify_peer
 *   [storage]  path fsync duplicates max_instance_size min_free_space
 *   [index]    database
 *   [peer NAME] ae_title (required) host port services tls   (any number, NAME unique)
 *   [destination NAME] ae_title host port results tls
 *   [access]   require_known_peers
 *   [log]      level
 *   [control]  socket
 *
 * Syntax is libinih's: "key = value" (or "key: value"), comments start with ';' or '#' at
 * the start of a line, or with " ;" after a value. Lines are at most CONFIG_MAX_LINE
 * characters; values are not continued over several lines.
 */
#ifndef DICOMAID_UTIL_CONFIG_H
#define DICOMAID_UTIL_CONFIG_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifndef PATH_MAX /* <limits.h> leaves it out in strict C11 mode; this is Linux's value */
#define PATH_MAX 4096
#endif

#include "util/log.h"

/* AE title: PS3.5 6.2 (VR AE), 16 characters at most. */
#define CONFIG_AE_TITLE_MAX 16
/* [peer NAME]: NAME is 1..CONFIG_PEER_NAME_MAX of [A-Za-z0-9._-]. (Section names are read
 * from the header lines here, so libinih's 49-character cut does not apply.) */
#define CONFIG_PEER_NAME_MAX 64
/* Longest accepted line, without its newline (libinih's line buffer is 200 bytes). */
#define CONFIG_MAX_LINE 198

/* Bounds, checked by config_load and documented in dicomaid.conf(5). */
#define CONFIG_MAX_PDU_MIN 4096u          /* PS3.8 D.1: 0 (unlimited) is not allowed here */
#define CONFIG_MAX_PDU_MAX 16777216u
#define CONFIG_MAX_ASSOCIATIONS_MAX 4096
#define CONFIG_ARTIM_TIMEOUT_MAX 3600     /* seconds, PS3.8 9.1.5 */
#define CONFIG_IDLE_TIMEOUT_MAX 86400     /* seconds */
#define CONFIG_SHUTDOWN_TIMEOUT_MAX 3600  /* seconds; 0 = do not wait for transfers */
#define CONFIG_MAX_SEND_QUEUE_MIN 4096u   /* bytes */
#define CONFIG_MAX_SEND_QUEUE_MAX (1u << 30)

enum config_duplicates {
	CONFIG_DUP_OVERWRITE = 0, /* a new copy of a SOP Instance UID replaces the stored one */
	CONFIG_DUP_KEEP,          /* keep the stored copy, answer Success, drop the new one */
	CONFIG_DUP_REJECT,        /* keep the stored copy, answer the C-STORE with a failure */
};

/* One [peer NAME] section. */
struct config_peer {
	char name[65];     /* NAME from the section header */
	char ae_title[17]; /* its AE title, no leading/trailing spaces; unique among peers */
	char host[256];    /* "" = any host; else a hostname or IP literal the peer must come from */
	int port;          /* 0 = not given; else 1..65535, for outbound associations */
	int line;          /* line of the section header, for messages */
	unsigned services; /* CONFIG_SVC_* bits this peer may use; default all */
	int results;       /* [destination NAME] only: 1 = analysis results are sent there */
	int tls;           /* 1 = outbound associations to it use TLS (PS3.15 B.1); default 0 */
};

/* [peer NAME] services = echo,store,find,move,get */
enum {
	CONFIG_SVC_ECHO = 1u << 0,
	CONFIG_SVC_STORE = 1u << 1,
	CONFIG_SVC_FIND = 1u << 2,
	CONFIG_SVC_MOVE = 1u << 3,
	CONFIG_SVC_GET = 1u << 4,
	CONFIG_SVC_ALL = 0x1f,
};

struct config {
	/* [server] */
	char ae_title[17];         /* our AE title (Called AE we answer to), default DICOMAID */
	char bind[64];             /* IPv4 or IPv6 literal to listen on, default 0.0.0.0 */
	int port;                  /* TCP port, 1..65535, default 11112 */
	int max_associations;      /* concurrent associations, 1..4096, default 64 */
	int max_associations_per_peer; /* concurrent associations from one peer address,
	                            * 0..4096 (0 = no limit), default 16 */
	uint64_t max_send_queue;   /* bytes waiting to be sent to a peer that does not read
	                            * before its association is aborted, default 4 MiB */
	uint32_t max_pdu;          /* Maximum Length we announce (PS3.8 D.1), default 65536 */
	int artim_timeout;         /* seconds, 1..3600, default 30 (PS3.8 9.1.5) */
	int idle_timeout;          /* seconds without a PDU before abort, 1..86400, default 300 */
	int shutdown_timeout;      /* seconds SIGTERM waits for running transfers, default 30 */
	int tls_port;              /* TLS port (PS3.15 B.1), 1..65535; 0 = none (default) */
	char tls_certificate[PATH_MAX]; /* PEM certificate (chain); "" = none */
	char tls_key[PATH_MAX];    /* its PEM private key, unencrypted; "" = none */
	char tls_ca[PATH_MAX];     /* PEM CA certificate(s) peers are verified against */
	int tls_verify_peer;       /* 1 = TLS clients must present a certificate issued by
	                            * tls_ca (default); 0 = none is asked for */
	int tls_line[4];           /* lines of tls_port, tls_certificate, tls_key, tls_ca
	                            * in source (0 = not given), for start-up messages */
	/* [storage] */
	char storage_path[PATH_MAX]; /* instance files, default ./dicomaid-data (relative
	                              * paths are taken relative to the working directory) */
	int storage_fsync;           /* 1 = fsync files and directories (default), 0 = don't */
	enum config_duplicates duplicates; /* default CONFIG_DUP_OVERWRITE */
	uint64_t max_instance_size;  /* largest data set accepted, bytes; 0 = no limit;
	                              * default 2 GiB */
	uint64_t min_free_space;     /* free bytes below which storing stops, default 1 GiB;
	                              * 0 = no low-water mark (unless min_free_percent) */
	int min_free_percent;        /* the same as a percentage of the file system, 0..99;
	                              * nonzero replaces min_free_space */
	/* [index] */
	char index_database[PATH_MAX]; /* SQLite file, default <storage_path>/index.sqlite */
	/* [analysis] */
	int analysis_enabled;        /* 1 = analyse complete series (default) */
	int analysis_workers;        /* worker threads, 1..64; 0 = one per core (default) */
	int stable_seconds;          /* quiet time before a series is analysed, default 10 */
	char analysis_model[PATH_MAX]; /* model manifest; "" = the bundled model */
	int analysis_gsps;           /* 1 = also write a presentation state (default) */
	/* [destination NAME] sections: where results go (C-STORE SCU) */
	struct config_peer *dests;   /* owned; ae_title, host, port, results */
	size_t n_dests;
	/* [query] */
	int max_matches;             /* C-FIND responses per query, 1..1000000, default 10000 */
	int pn_case_insensitive;     /* 1 = person names match ignoring case (default) */
	/* [access] */
	int require_known_peers;     /* 1 = only AE titles listed as [peer ...]; default 0 */
	/* [log] */
	enum log_level log_level;    /* default LOG_LVL_INFO */
	/* [control] */
	char control_socket[108];    /* dicomaidctl's UNIX socket (sun_path size), default
	                              * <storage_path>/dicomaid.sock; "" when that default
	                              * is too long for a socket path (must be set then) */
	/* [peer NAME] sections, in file order */
	struct config_peer *peers;   /* owned; freed by config_free */
	size_t n_peers;
	char source[PATH_MAX];       /* file it was loaded from; "" for the embedded defaults */
};

/* Fill c with the embedded defaults. c owns nothing afterwards (peers == NULL), so
 * config_free is optional. Any previous content of c is overwritten, not freed. */
void config_defaults(struct config *c);

/*
 * Load the defaults, then the file at path on top of them. c need not be initialised; its
 * previous content is overwritten, not freed.
 * Returns 0 on success: c holds the result and owns its peers (free with config_free).
 * Returns -1 on error: err (if errlen > 0) holds one line "path:line: message" (file-level
 * errors such as "cannot open" have no line: "path: message"), and c holds the embedded
 * defaults and owns nothing.
 * Not thread-safe: libinih's options are process-wide; call it at start-up or reload.
 */
int config_load(const char *path, struct config *c, char *err, size_t errlen);

/* Release what c owns (its peers) and leave c->peers == NULL, n_peers == 0. Idempotent;
 * c == NULL is allowed. */
void config_free(struct config *c);

/* The peer whose AE title is ae_title, or NULL. Leading and trailing spaces of ae_title are
 * not significant (PS3.5 6.2, AE), so a space-padded field from an A-ASSOCIATE-RQ can be
 * passed as is; comparison is otherwise exact. The result is borrowed from c and valid until
 * config_free(c). */
const struct config_peer *config_find_peer(const struct config *c, const char *ae_title);

/* Every key as "section.key" ("peer.ae_title" for the [peer NAME] keys), NULL-terminated. */
extern const char *const config_known_keys[];

/* Write c as a configuration file that config_load reads back to the same values: every
 * key, defaults included, then the peers. For a check-only mode (print the effective
 * configuration). f is borrowed. Returns 0, or -1 if writing failed. */
int config_write(const struct config *c, FILE *f);

/* Names for messages and for config_write. */
const char *config_duplicates_name(enum config_duplicates d);
const char *config_log_level_name(enum log_level l);

#endif
