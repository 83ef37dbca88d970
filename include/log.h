/*
 * log — process-wide logging to stderr (OpenBSD log.c style).
 *
 * Under systemd ($JOURNAL_STREAM set) each line starts with its journald
 * priority "<3>".."<7>".  Every function preserves errno.
 */
#ifndef DUNND_LOG_H
#define DUNND_LOG_H

#include <stdbool.h>

enum log_level {
	LOG_LEVEL_ERR = 3,
	LOG_LEVEL_WARNING = 4,
	LOG_LEVEL_INFO = 6,
	LOG_LEVEL_DEBUG = 7,
};

extern int log_verbose;

/* Sets the level; not in the foreground, lines go to syslog instead. */
void log_init(bool foreground, int level);
/* Parses "err", "warning", "info", "debug"; -1 if unknown. */
int log_level_parse(const char *name);
/* Sets the program name printed by fatal() outside the daemon. */
void log_procname(const char *name);

void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fatal(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

/* Tests the level before formatting: hot paths pay one comparison. */
#define log_debug(...)                                                         \
	do {                                                                   \
		if (log_verbose >= LOG_LEVEL_DEBUG)                            \
			log_debug_(__VA_ARGS__);                               \
	} while (0)

#endif
