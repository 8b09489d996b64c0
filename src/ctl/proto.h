/*
 * The control protocol between dicomaidctl and the daemon (documented in dicomaidctl(1)):
 * over a UNIX stream socket the client sends one request per line,
 *     COMMAND [ARGUMENT ...] LF
 * printable ASCII words separated by single spaces, at most CTL_MAX_LINE bytes with the
 * LF; the daemon answers each with one line holding a flat JSON object (json.h), always
 * with "ok": true or false, and on false "code" (one of the CTL_CODE_* strings) and
 * "error" (a sentence for people). Requests are answered in order.
 */
#ifndef DICOMAID_CTL_PROTO_H
#define DICOMAID_CTL_PROTO_H

#include <stddef.h>

#define CTL_MAX_LINE 1024
#define CTL_MAX_ARGS 4
#define CTL_MAX_CONNECTIONS 16

/* Error codes in a {"ok":false} answer. */
#define CTL_CODE_USAGE "usage"             /* unknown command or wrong arguments */
#define CTL_CODE_NOT_FOUND "not_found"     /* e.g. no such [peer] */
#define CTL_CODE_FAILED "failed"           /* the operation ran and failed */
#define CTL_CODE_UNSUPPORTED "unsupported" /* not in this build (no analysis queue) */

struct ctl_request {
	char words[CTL_MAX_ARGS + 1][256]; /* words[0] is the command */
	unsigned n;                        /* number of words, >= 1 */
};

/*
 * Parses one request line (without its LF; a trailing CR is ignored). Returns 0, or -1
 * with a reason in err when the line is empty, has a byte outside 0x21..0x7e other than
 * single spaces between words, a word over 255 bytes, or more than CTL_MAX_ARGS arguments.
 * Pure.
 */
int ctl_parse_request(const char *line, size_t len, struct ctl_request *rq, char *err,
		      size_t errlen);

#endif
