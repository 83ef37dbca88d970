/*
 * log — process-wide logging to stderr, journald-friendly.
 *
 * Lines are "module: what happened: why".  When $JOURNAL_STREAM is set
 * (stderr is connected to journald) each line is prefixed with its
 * priority so journald files it at the right level (style.md §8).
 */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

int log_verbose = LOG_LEVEL_INFO;
static bool log_prefix;
static bool log_syslog;
static const char *log_name = "dunnd";

void
log_init(bool foreground, int level)
{
	log_verbose = level;
	if (!foreground && !log_syslog) {
		openlog(log_name, LOG_PID | LOG_NDELAY, LOG_DAEMON);
		log_syslog = true;
	}
	log_prefix = getenv("JOURNAL_STREAM") != NULL;
}

void
log_procname(const char *name)
{
	log_name = name;
}

int
log_level_parse(const char *name)
{
	if (strcmp(name, "err") == 0)
		return LOG_LEVEL_ERR;
	if (strcmp(name, "warning") == 0)
		return LOG_LEVEL_WARNING;
	if (strcmp(name, "info") == 0)
		return LOG_LEVEL_INFO;
	if (strcmp(name, "debug") == 0)
		return LOG_LEVEL_DEBUG;
	return -1;
}

static void
vlog(int pri, const char *fmt, va_list ap, const char *errstr)
{
	char buf[4096];

	if (pri > log_verbose)
		return;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	if (log_syslog) {
		if (errstr != NULL)
			syslog(pri, "%s: %s", buf, errstr);
		else
			syslog(pri, "%s", buf);
		return;
	}
	if (log_prefix)
		fprintf(stderr, "<%d>", pri);
	if (errstr != NULL)
		fprintf(stderr, "%s: %s\n", buf, errstr);
	else
		fprintf(stderr, "%s\n", buf);
	fflush(stderr);
}

#define LOGFN(name, pri, witherr)                                              \
	void name(const char *fmt, ...)                                        \
	{                                                                      \
		int saved = errno;                                             \
		va_list ap;                                                    \
                                                                               \
		va_start(ap, fmt);                                             \
		vlog(pri, fmt, ap, witherr ? strerror(saved) : NULL);          \
		va_end(ap);                                                    \
		errno = saved;                                                 \
	}

LOGFN(log_warn, LOG_LEVEL_WARNING, 1)
LOGFN(log_warnx, LOG_LEVEL_WARNING, 0)
LOGFN(log_err, LOG_LEVEL_ERR, 0)
LOGFN(log_info, LOG_LEVEL_INFO, 0)
LOGFN(log_debug_, LOG_LEVEL_DEBUG, 0)

void
fatal(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_LEVEL_ERR, fmt, ap, strerror(saved));
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_LEVEL_ERR, fmt, ap, NULL);
	va_end(ap);
	exit(1);
}
