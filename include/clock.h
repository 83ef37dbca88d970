/*
 * clock — the only source of `now`, and every rule of time in §1.
 *
 * Instants are int64_t seconds since the Unix epoch (UTC), whole seconds.
 * Dates are int32_t days since 1970-01-01 of the proleptic Gregorian
 * calendar, without a zone ("day numbers").  Calendar logic uses the
 * portfolio zone set by clock_tz_set() (IANA name, read through tzdata).
 * Parsers accept exactly the profile of interfaces.md §1 and return -1
 * with a static reason in *why (never NULL on failure).
 */
#ifndef DUNND_CLOCK_H
#define DUNND_CLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CLOCK_TS_LEN   32 /* "9999-12-31T23:59:59+14:00" and NUL */
#define CLOCK_DATE_LEN 11 /* "YYYY-MM-DD" and NUL */
#define CLOCK_DAY      86400

/* 1970-01-01T00:00:00Z and the end of 9999-12-31 in UTC. */
#define CLOCK_MIN_DAY 0
#define CLOCK_MAX_DAY 2932896 /* 9999-12-31 */

/* Proleptic Gregorian conversions (no zone). */
int32_t clock_days_from_civil(int y, int m, int d);
void clock_civil_from_days(int32_t day, int *y, int *m, int *d);

/*
 * RFC 3339 with explicit offset: YYYY-MM-DDTHH:MM:SS[.f]Z|±HH:MM (T/t,
 * Z/z; fraction 1-9 digits, truncated; offset <= 23:59; second 60
 * rejected; years 1970-9999).  len is the byte length of s.
 */
int clock_parse_ts(const char *s, size_t len, int64_t *t /* OUT */,
    const char **why /* OUT */);
/* Exactly YYYY-MM-DD, a real date, years 1970-9999. */
int clock_parse_date(const char *s, size_t len, int32_t *day /* OUT */,
    const char **why /* OUT */);
/* 1-6 digits and a unit m, h, d, w, in seconds (elapsed time). */
int clock_parse_duration(const char *s, size_t len, int64_t *secs /* OUT */,
    const char **why /* OUT */);
/* "HH:MM" (00:00-23:59) in minutes after midnight. */
int clock_parse_hhmm(
    const char *s, int *minutes /* OUT */, const char **why /* OUT */);

/*
 * Sets the portfolio zone.  -1 when tzdata has no such zone (glibc would
 * silently use UTC: we refuse instead).  Until called, the zone is UTC.
 */
int clock_tz_set(const char *name);
const char *clock_tz_name(void);

/* The local date of instant t in the portfolio zone. */
int32_t clock_local_date(int64_t t);
/* The zone's UTC offset at t, seconds east. */
int clock_utc_offset(int64_t t);
/*
 * The first instant of local date day (a local midnight; on a day where
 * midnight does not exist, the first instant that is on that date).
 */
int64_t clock_day_start(int32_t day);
/* The first instant of local date day whose local time is >= minutes. */
int64_t clock_day_at(int32_t day, int minutes);
/* The next local midnight after t: clock_day_start(local date of t + 1). */
int64_t clock_next_midnight(int64_t t);

/* "2026-11-27T09:00:00+08:00": whole seconds, the zone's offset at t. */
void clock_format_ts(int64_t t, char buf[CLOCK_TS_LEN]);
/* "YYYY-MM-DD". */
void clock_format_date(int32_t day, char buf[CLOCK_DATE_LEN]);

/*
 * The process's clock.  By default the wall clock; clock_test_start()
 * freezes it at t (the --test-clock of §6) and only clock_test_set() moves
 * it.  clock_now() is read once per processing step and passed down.
 */
int64_t clock_wall(void);
/* A monotonic clock in milliseconds, for timeouts (not for moments). */
int64_t clock_mono_ms(void);
/* The monotonic clock in nanoseconds (latency measurements). */
int64_t clock_mono_ns(void);
void clock_test_start(int64_t t);
bool clock_is_test(void);
void clock_test_set(int64_t t);
int64_t clock_now(void);

#endif
