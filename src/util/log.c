/*
 * Log lines to stderr, whole lines in one write so that lines from several threads
 * never interleave.
 */
#include "util/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static enum log_level max_level = LOG_LVL_INFO;

void log_set_level(enum log_level lvl) { max_level = lvl; }
enum log_level log_get_level(void) { return max_level; }

static void vlog(enum log_level lvl, const char *fmt, va_list ap)
{
	char line[2048];
	int n = snprintf(line, sizeof line, "<%d>", (int)lvl);
	int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
	if (m < 0)
		m = 0;
	size_t len = (size_t)n + (size_t)m;
	if (len > sizeof line - 2)
		len = sizeof line - 2;
	line[len++] = '\n';
	ssize_t w = write(STDERR_FILENO, line, len);
	(void)w;
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	if (lvl > max_level)
		return;
	va_list ap;
	va_start(ap, fmt);
	vlog(lvl, fmt, ap);
	va_end(ap);
}

void fatal(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog(LOG_LVL_ERR, fmt, ap);
	va_end(ap);
	exit(1);
}
