/*
 * Unit tests of clock: every parse rule with good and bad input, the
 * zone rules on ordinary, DST, skipped-midnight and skipped-day dates,
 * and the test clock.  Expected instants were computed independently
 * with python3 zoneinfo and checked against zdump -v (tzdata 2025b).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sys/stat.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* Days of some dates used below (python3: (date - date(1970,1,1)).days). */
#define D_2007_11_04 13821
#define D_2011_12_30 15338
#define D_2018_02_17 17579
#define D_2018_11_04 17839
#define D_2026_03_29 20541
#define D_2026_10_25 20751
#define D_2026_11_27 20784

/* 2026-11-27T01:00:00Z = 2026-11-27T09:00:00+08:00. */
#define T_SH_0900 1795741200

static void
use_zone(const char *name)
{
	assert_int_equal(clock_tz_set(name), 0);
	assert_string_equal(clock_tz_name(), name);
}

/* Offset-independent local date, straight from glibc. */
static int32_t
glibc_local_date(int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	assert_non_null(localtime_r(&tt, &tm));
	return clock_days_from_civil(
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
}

static int64_t
wall_of(int64_t t)
{
	return t + clock_utc_offset(t);
}

/*
 * The first instant whose local wall time is >= wall, by a plain scan:
 * every offset change since 1970 and every hit of a whole-minute wall
 * time fall on a whole minute.
 */
static int64_t
brute_first_at(int64_t wall)
{
	int64_t t, s;

	for (t = wall - 16 * 3600; wall_of(t) < wall; t += 60)
		;
	for (s = t - 59; s < t && wall_of(s) < wall; s++)
		;
	return s;
}

/* Invariant (1): until clock_tz_set() the zone is UTC, whatever TZ says. */
static void
test_default_is_utc(void **state)
{
	char buf[CLOCK_TS_LEN];

	(void)state;
	setenv("TZ", "Asia/Shanghai", 1);
	tzset();
	assert_string_equal(clock_tz_name(), "UTC");
	assert_false(clock_is_test());
	assert_int_equal(clock_utc_offset(T_SH_0900), 0);
	assert_int_equal(clock_local_date(1795708800 - 1), D_2026_11_27 - 1);
	assert_int_equal(
	    clock_day_start(D_2026_11_27), (int64_t)D_2026_11_27 * CLOCK_DAY);
	assert_int_equal(clock_day_at(D_2026_11_27, 5),
	    (int64_t)D_2026_11_27 * CLOCK_DAY + 300);
	clock_format_ts(T_SH_0900, buf);
	assert_string_equal(buf, "2026-11-27T01:00:00+00:00");
	unsetenv("TZ");
	tzset();
}

static void
test_civil_round_trip(void **state)
{
	int32_t day;
	int y, m, d, py = 0, pm = 0, pd = 0;

	(void)state;
	clock_civil_from_days(0, &y, &m, &d);
	assert_true(y == 1970 && m == 1 && d == 1);
	clock_civil_from_days(CLOCK_MAX_DAY, &y, &m, &d);
	assert_true(y == 9999 && m == 12 && d == 31);
	assert_int_equal(clock_days_from_civil(9999, 12, 31), CLOCK_MAX_DAY);
	assert_int_equal(clock_days_from_civil(2000, 2, 29), 11016);
	assert_int_equal(clock_days_from_civil(2024, 2, 29), 19782);
	assert_int_equal(clock_days_from_civil(2100, 2, 28), 47540);
	assert_int_equal(clock_days_from_civil(1, 1, 1), -719162);
	/* Every day of 0001-01-01 .. 9999-12-31: a bijection, in order. */
	for (day = -719162; day <= CLOCK_MAX_DAY; day++) {
		clock_civil_from_days(day, &y, &m, &d);
		if (clock_days_from_civil(y, m, d) != day)
			fail_msg("day %d -> %04d-%02d-%02d", (int)day, y, m, d);
		if (day > -719162 &&
		    !((y == py && m == pm && d == pd + 1) ||
		        (y == py && m == pm + 1 && d == 1) ||
		        (y == py + 1 && m == 1 && pm == 12 && d == 1)))
			fail_msg("day %d does not follow %04d-%02d-%02d",
			    (int)day, py, pm, pd);
		py = y;
		pm = m;
		pd = d;
	}
	/* 2000 is a leap year, 2100 is not. */
	clock_civil_from_days(11016, &y, &m, &d);
	assert_true(y == 2000 && m == 2 && d == 29);
	clock_civil_from_days(47540 + 1, &y, &m, &d);
	assert_true(y == 2100 && m == 3 && d == 1);
}

struct ts_case {
	const char *s;
	int64_t t;       /* on success */
	const char *why; /* NULL: accepted */
};

static const struct ts_case ts_cases[] = {
	{ "2026-11-27T09:00:00+08:00", T_SH_0900, NULL },
	{ "2026-11-27T01:00:00Z", T_SH_0900, NULL },
	{ "2026-11-27t01:00:00z", T_SH_0900, NULL },
	{ "2026-11-27t01:00:00Z", T_SH_0900, NULL },
	{ "2026-11-27T01:00:00z", T_SH_0900, NULL },
	{ "2026-11-27T01:00:00-00:00", T_SH_0900, NULL },
	{ "2026-11-27T01:00:00.5Z", T_SH_0900, NULL },
	{ "2026-11-27T01:00:00.999999999Z", T_SH_0900, NULL },
	{ "2026-11-27T00:59:59.999999999Z", T_SH_0900 - 1, NULL },
	{ "2026-11-27T09:00:00.0+08:00", T_SH_0900, NULL },
	{ "2026-11-27T23:59:00+23:59", 1795737600, NULL },
	{ "2026-11-26T01:01:00-23:59", T_SH_0900, NULL },
	{ "1970-01-01T00:00:00Z", 0, NULL },
	{ "1970-01-01T00:00:00-01:00", 3600, NULL },
	{ "2024-02-29T12:00:00Z", 1709208000, NULL },
	{ "2000-02-29T00:00:00Z", 951782400, NULL },
	{ "9999-12-31T23:59:59Z", 253402300799, NULL },
	{ "9999-12-31T23:59:59+01:00", 253402297199, NULL },

	{ "", 0, "not an RFC 3339 timestamp" },
	{ "2026-11-27", 0, "not an RFC 3339 timestamp" },
	{ "2026-11-27 01:00:00Z", 0, "not an RFC 3339 timestamp" },
	{ "2026-11-27T01:00Z", 0, "not an RFC 3339 timestamp" },
	{ "2026-11-27T01:00:00", 0, "not an RFC 3339 timestamp" },
	{ "2026-11-27T01:00:00,5Z", 0, "not an RFC 3339 timestamp" },
	{ "2026-11-27T01:00:00.Z", 0, "not an RFC 3339 timestamp" },
	{ "2026-11-27T01:00:00.1234567890Z", 0,
	    "fraction longer than 9 digits" },
	{ " 2026-11-27T01:00:00Z", 0, "not an RFC 3339 timestamp" },
	{ "2026-11-27T01:00:00Z ", 0, "not an RFC 3339 timestamp" },
	{ "2026-11-27T01:00:00Z\n", 0, "not an RFC 3339 timestamp" },
	{ "2026-11-27T01:00:00+0800", 0, "not an RFC 3339 timestamp" },
	{ "2026-11-27T01:00:00+08", 0, "not an RFC 3339 timestamp" },
	{ "2026-11-27T01:00:00+8:00", 0, "not an RFC 3339 timestamp" },
	{ "2026-11-27T01:00:00UTC", 0, "not an RFC 3339 timestamp" },
	/* U+2212 MINUS SIGN is not "-". */
	{ "2026-11-27T01:00:00\342\210\22208:00", 0,
	    "not an RFC 3339 timestamp" },
	{ "2026-11-27X01:00:00Z", 0, "not an RFC 3339 timestamp" },
	{ "2026-1-27T01:00:00Z", 0, "not an RFC 3339 timestamp" },
	{ "2026/11/27T01:00:00Z", 0, "not an RFC 3339 timestamp" },
	{ "+2026-11-27T01:00:00Z", 0, "not an RFC 3339 timestamp" },
	{ "10000-01-01T00:00:00Z", 0, "not an RFC 3339 timestamp" },
	{ "2026-1x-27T01:00:00+24:00", 0, "not an RFC 3339 timestamp" },
	{ "2026-11-27T01:00:00+24:00", 0,
	    "offset out of range (at most 23:59)" },
	{ "2026-11-27T01:00:00-08:60", 0,
	    "offset out of range (at most 23:59)" },
	{ "2026-11-27T01:00:60Z", 0, "second 60 not allowed" },
	{ "2016-12-31T23:59:60Z", 0, "second 60 not allowed" },
	{ "2026-11-27T01:00:61Z", 0, "invalid time of day" },
	{ "2026-11-27T24:00:00Z", 0, "invalid time of day" },
	{ "2026-11-27T23:60:00Z", 0, "invalid time of day" },
	{ "2023-02-29T00:00:00Z", 0, "invalid date" },
	{ "2100-02-29T00:00:00Z", 0, "invalid date" },
	{ "2024-02-30T00:00:00Z", 0, "invalid date" },
	{ "2026-04-31T00:00:00Z", 0, "invalid date" },
	{ "2026-13-01T00:00:00Z", 0, "invalid date" },
	{ "2026-00-10T00:00:00Z", 0, "invalid date" },
	{ "2026-11-00T00:00:00Z", 0, "invalid date" },
	{ "1969-12-31T23:59:59Z", 0, "year out of range 1970-9999" },
	{ "1900-02-29T00:00:00Z", 0, "year out of range 1970-9999" },
	{ "0000-01-01T00:00:00Z", 0, "year out of range 1970-9999" },
	{ "1970-01-01T00:00:00+01:00", 0,
	    "timestamp before 1970-01-01T00:00:00Z" },
	{ "9999-12-31T23:59:59-00:01", 0,
	    "timestamp after 9999-12-31T23:59:59Z" },
};

static void
test_parse_ts(void **state)
{
	const struct ts_case *c;
	const char *why;
	int64_t t;
	size_t i;
	int rc;

	(void)state;
	for (i = 0; i < NELEM(ts_cases); i++) {
		c = &ts_cases[i];
		t = -42;
		why = NULL;
		rc = clock_parse_ts(c->s, strlen(c->s), &t, &why);
		if (c->why == NULL) {
			if (rc != 0 || t != c->t)
				fail_msg("\"%s\": rc %d t %lld (%s)", c->s, rc,
				    (long long)t, why ? why : "-");
		} else {
			if (rc != -1 || why == NULL || strcmp(why, c->why) != 0)
				fail_msg("\"%s\": rc %d why \"%s\"", c->s, rc,
				    why ? why : "(null)");
			assert_int_equal(t, -42); /* OUT untouched */
		}
	}
}

/* len is the byte length: a NUL or bytes beyond it are not ignored. */
static void
test_parse_ts_len(void **state)
{
	const char s[] = "2026-11-27T01:00:00Z\0garbage";
	const char *why;
	int64_t t;

	(void)state;
	assert_int_equal(clock_parse_ts(s, 20, &t, &why), 0);
	assert_int_equal(t, T_SH_0900);
	assert_int_equal(clock_parse_ts(s, 21, &t, &why), -1);
	assert_int_equal(clock_parse_ts(s, 19, &t, &why), -1);
	assert_int_equal(clock_parse_ts(s, 0, &t, &why), -1);
	assert_string_equal(why, "not an RFC 3339 timestamp");
}

struct date_case {
	const char *s;
	int32_t day;
	const char *why;
};

static const struct date_case date_cases[] = {
	{ "1970-01-01", 0, NULL },
	{ "2000-02-29", 11016, NULL },
	{ "2024-02-29", 19782, NULL },
	{ "2026-11-27", D_2026_11_27, NULL },
	{ "9999-12-31", CLOCK_MAX_DAY, NULL },

	{ "", 0, "not a date YYYY-MM-DD" },
	{ "2026-1-01", 0, "not a date YYYY-MM-DD" },
	{ "2026-01-1", 0, "not a date YYYY-MM-DD" },
	{ "2026/01/01", 0, "not a date YYYY-MM-DD" },
	{ "2026-01-01T", 0, "not a date YYYY-MM-DD" },
	{ "2026-01-01T00:00:00Z", 0, "not a date YYYY-MM-DD" },
	{ " 2026-01-01", 0, "not a date YYYY-MM-DD" },
	{ "2026-01-01 ", 0, "not a date YYYY-MM-DD" },
	{ "20260101", 0, "not a date YYYY-MM-DD" },
	{ "10000-01-01", 0, "not a date YYYY-MM-DD" },
	{ "1969-12-31", 0, "year out of range 1970-9999" },
	{ "2023-02-29", 0, "invalid date" },
	{ "2100-02-29", 0, "invalid date" },
	{ "2026-13-01", 0, "invalid date" },
	{ "2026-06-31", 0, "invalid date" },
	{ "2026-00-01", 0, "invalid date" },
};

static void
test_parse_date(void **state)
{
	const struct date_case *c;
	const char *why;
	int32_t day;
	size_t i;
	int rc;

	(void)state;
	for (i = 0; i < NELEM(date_cases); i++) {
		c = &date_cases[i];
		day = -42;
		why = NULL;
		rc = clock_parse_date(c->s, strlen(c->s), &day, &why);
		if (c->why == NULL) {
			if (rc != 0 || day != c->day)
				fail_msg(
				    "\"%s\": rc %d day %d", c->s, rc, (int)day);
		} else if (rc != -1 || why == NULL ||
		    strcmp(why, c->why) != 0 || day != -42)
			fail_msg("\"%s\": rc %d why \"%s\"", c->s, rc,
			    why ? why : "(null)");
	}
}

struct dur_case {
	const char *s;
	int64_t secs;
	const char *why;
};

static const struct dur_case dur_cases[] = {
	{ "0d", 0, NULL },
	{ "1m", 60, NULL },
	{ "90m", 5400, NULL },
	{ "1h", 3600, NULL },
	{ "5d", 432000, NULL },
	{ "366d", 31622400, NULL },
	{ "2w", 1209600, NULL },
	{ "000001h", 3600, NULL },
	{ "999999w", 604799395200, NULL },

	{ "", 0, "duration must start with 1-6 digits" },
	{ "d", 0, "duration must start with 1-6 digits" },
	{ " 1d", 0, "duration must start with 1-6 digits" },
	{ "-1d", 0, "duration must start with 1-6 digits" },
	{ "+1d", 0, "duration must start with 1-6 digits" },
	{ "1234567d", 0, "duration has more than 6 digits" },
	{ "99999999999999999999999999d", 0, "duration has more than 6 digits" },
	{ "1", 0, "duration has no unit (m, h, d or w)" },
	{ "1.5d", 0, "unknown duration unit (m, h, d or w)" },
	{ "1D", 0, "unknown duration unit (m, h, d or w)" },
	{ "1s", 0, "unknown duration unit (m, h, d or w)" },
	{ "1d ", 0, "unknown duration unit (m, h, d or w)" },
	{ "1dd", 0, "unknown duration unit (m, h, d or w)" },
	{ "1 d", 0, "unknown duration unit (m, h, d or w)" },
};

static void
test_parse_duration(void **state)
{
	const struct dur_case *c;
	const char *why;
	int64_t secs;
	size_t i;
	int rc;

	(void)state;
	for (i = 0; i < NELEM(dur_cases); i++) {
		c = &dur_cases[i];
		secs = -42;
		why = NULL;
		rc = clock_parse_duration(c->s, strlen(c->s), &secs, &why);
		if (c->why == NULL) {
			if (rc != 0 || secs != c->secs)
				fail_msg("\"%s\": rc %d secs %lld", c->s, rc,
				    (long long)secs);
		} else if (rc != -1 || why == NULL ||
		    strcmp(why, c->why) != 0 || secs != -42)
			fail_msg("\"%s\": rc %d why \"%s\"", c->s, rc,
			    why ? why : "(null)");
	}
	/* len bounds the string: "5d" of "5dx". */
	assert_int_equal(clock_parse_duration("5dx", 2, &secs, &why), 0);
	assert_int_equal(secs, 432000);
}

struct hhmm_case {
	const char *s;
	int minutes;
	const char *why;
};

static const struct hhmm_case hhmm_cases[] = {
	{ "00:00", 0, NULL },
	{ "00:05", 5, NULL },
	{ "12:30", 750, NULL },
	{ "23:59", 1439, NULL },

	{ "", 0, "not a time HH:MM" },
	{ "1:00", 0, "not a time HH:MM" },
	{ "01:0", 0, "not a time HH:MM" },
	{ "0100", 0, "not a time HH:MM" },
	{ "01-00", 0, "not a time HH:MM" },
	{ "01:00 ", 0, "not a time HH:MM" },
	{ " 01:00", 0, "not a time HH:MM" },
	{ "01:00:00", 0, "not a time HH:MM" },
	{ "ab:cd", 0, "not a time HH:MM" },
	{ "24:00", 0, "time out of range 00:00-23:59" },
	{ "23:60", 0, "time out of range 00:00-23:59" },
	{ "99:99", 0, "time out of range 00:00-23:59" },
};

static void
test_parse_hhmm(void **state)
{
	const struct hhmm_case *c;
	const char *why;
	size_t i;
	int rc, minutes;

	(void)state;
	for (i = 0; i < NELEM(hhmm_cases); i++) {
		c = &hhmm_cases[i];
		minutes = -42;
		why = NULL;
		rc = clock_parse_hhmm(c->s, &minutes, &why);
		if (c->why == NULL) {
			if (rc != 0 || minutes != c->minutes)
				fail_msg("\"%s\": rc %d minutes %d", c->s, rc,
				    minutes);
		} else if (rc != -1 || why == NULL ||
		    strcmp(why, c->why) != 0 || minutes != -42)
			fail_msg("\"%s\": rc %d why \"%s\"", c->s, rc,
			    why ? why : "(null)");
	}
}

static void
test_tz_set(void **state)
{
	static const char *refused[] = {
		"Nowhere/Land",
		"../etc/passwd",
		"",
		"/usr/share/zoneinfo/UTC", /* absolute */
		"Asia/../Asia/Shanghai",
		"./UTC",
		"Asia//Shanghai",
		"Asia/Shanghai/",
		":Asia/Shanghai", /* glibc syntax, not a name */
		"Asia/Shanghai ",
		"CST-8",     /* a POSIX TZ string, no file */
		"Asia",      /* a directory */
		"zone.tab",  /* not TZif */
		"right/UTC", /* counts leap seconds */
		"asia/shanghai",
	};
	size_t i;

	(void)state;
	use_zone("Asia/Shanghai");
	for (i = 0; i < NELEM(refused); i++) {
		if (clock_tz_set(refused[i]) != -1)
			fail_msg("\"%s\" accepted", refused[i]);
		/* A refused name leaves the zone as it was. */
		assert_string_equal(clock_tz_name(), "Asia/Shanghai");
		assert_int_equal(clock_utc_offset(T_SH_0900), 8 * 3600);
	}
	use_zone("UTC");
	assert_int_equal(clock_utc_offset(T_SH_0900), 0);
	use_zone("Etc/GMT+5"); /* POSIX sign: 5 h west */
	assert_int_equal(clock_utc_offset(T_SH_0900), -5 * 3600);
	use_zone("posix/Europe/Berlin");
	assert_int_equal(clock_utc_offset(T_SH_0900), 3600);
}

/* $TZDIR replaces /usr/share/zoneinfo, for the check and for glibc. */
static void
test_tz_set_tzdir(void **state)
{
	char dir[] = "/tmp/test_clock.XXXXXX", path[128], cmd[256];

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(cmd, sizeof(cmd),
	    "mkdir %s/Test && cp /usr/share/zoneinfo/Asia/Shanghai "
	    "%s/Test/Zone && echo junk > %s/Test/Junk",
	    dir, dir, dir);
	assert_int_equal(system(cmd), 0);
	setenv("TZDIR", dir, 1);
	assert_int_equal(clock_tz_set("Asia/Shanghai"), -1);
	assert_int_equal(clock_tz_set("Test/Junk"), -1);
	use_zone("Test/Zone");
	assert_int_equal(clock_utc_offset(T_SH_0900), 8 * 3600);
	setenv("TZDIR", "", 1); /* empty: the default, as in glibc */
	use_zone("Europe/Berlin");
	unsetenv("TZDIR");
	snprintf(path, sizeof(path), "rm -r %s", dir);
	assert_int_equal(system(path), 0);
}

static void
test_shanghai(void **state)
{
	int64_t start = 1795708800; /* 2026-11-26T16:00:00Z */
	char buf[CLOCK_TS_LEN];
	int64_t t;

	(void)state;
	use_zone("Asia/Shanghai");
	assert_int_equal(clock_utc_offset(T_SH_0900), 8 * 3600);
	/* The local date rolls over at 16:00Z. */
	assert_int_equal(clock_local_date(start - 1), D_2026_11_27 - 1);
	assert_int_equal(clock_local_date(start), D_2026_11_27);
	assert_int_equal(clock_local_date(T_SH_0900), D_2026_11_27);
	assert_int_equal(clock_day_start(D_2026_11_27), start);
	assert_int_equal(clock_day_start(D_2026_11_27 + 1), start + CLOCK_DAY);
	assert_int_equal(clock_day_at(D_2026_11_27, 9 * 60), T_SH_0900);
	assert_int_equal(clock_day_at(D_2026_11_27, 5), start + 300);
	assert_int_equal(clock_next_midnight(start - 1), start);
	assert_int_equal(clock_next_midnight(start), start + CLOCK_DAY);
	assert_int_equal(clock_next_midnight(T_SH_0900), start + CLOCK_DAY);
	clock_format_ts(T_SH_0900, buf);
	assert_string_equal(buf, "2026-11-27T09:00:00+08:00");
	clock_format_ts(0, buf);
	assert_string_equal(buf, "1970-01-01T08:00:00+08:00");
	/* Repeated calls around the boundary, through the date cache. */
	for (t = start - 120; t < start + 120; t++) {
		assert_int_equal(clock_local_date(t),
		    t < start ? D_2026_11_27 - 1 : D_2026_11_27);
		assert_int_equal(clock_local_date(t),
		    t < start ? D_2026_11_27 - 1 : D_2026_11_27);
	}
}

static void
test_berlin_dst(void **state)
{
	/* 2026-03-29: 02:00 CET -> 03:00 CEST at 01:00Z, a 23 h day. */
	int64_t mar = 1774738800, mar_next = 1774821600, jump = 1774746000;
	/* 2026-10-25: 03:00 CEST -> 02:00 CET at 01:00Z, a 25 h day. */
	int64_t oct = 1792879200, oct_next = 1792969200, back = 1792890000;
	char buf[CLOCK_TS_LEN];
	int64_t t;
	int pass;

	(void)state;
	use_zone("Europe/Berlin");
	assert_int_equal(clock_day_start(D_2026_03_29), mar);
	assert_int_equal(clock_day_start(D_2026_03_29 + 1), mar_next);
	assert_int_equal(mar_next - mar, 23 * 3600);
	assert_int_equal(clock_utc_offset(jump - 1), 3600);
	assert_int_equal(clock_utc_offset(jump), 7200);
	/* 02:00-02:59 do not exist: the first instant after the gap. */
	assert_int_equal(clock_day_at(D_2026_03_29, 2 * 60), jump);
	assert_int_equal(clock_day_at(D_2026_03_29, 2 * 60 + 30), jump);
	assert_int_equal(clock_day_at(D_2026_03_29, 3 * 60), jump);
	assert_int_equal(clock_day_at(D_2026_03_29, 3 * 60 + 1), jump + 60);
	assert_int_equal(clock_day_at(D_2026_03_29, 60 + 59), jump - 60);
	assert_int_equal(clock_day_at(D_2026_03_29, 0), mar);
	clock_format_ts(jump - 1, buf);
	assert_string_equal(buf, "2026-03-29T01:59:59+01:00");
	clock_format_ts(jump, buf);
	assert_string_equal(buf, "2026-03-29T03:00:00+02:00");

	assert_int_equal(clock_day_start(D_2026_10_25), oct);
	assert_int_equal(clock_day_start(D_2026_10_25 + 1), oct_next);
	assert_int_equal(oct_next - oct, 25 * 3600);
	assert_int_equal(clock_utc_offset(back - 1), 7200);
	assert_int_equal(clock_utc_offset(back), 3600);
	/* 02:00-02:59 occur twice: the first time, in CEST. */
	assert_int_equal(clock_day_at(D_2026_10_25, 2 * 60), back - 3600);
	assert_int_equal(clock_day_at(D_2026_10_25, 2 * 60 + 30), back - 1800);
	assert_int_equal(clock_day_at(D_2026_10_25, 3 * 60), back + 3600);
	clock_format_ts(back - 1800, buf);
	assert_string_equal(buf, "2026-10-25T02:30:00+02:00");
	clock_format_ts(back + 1800, buf);
	assert_string_equal(buf, "2026-10-25T02:30:00+01:00");
	assert_int_equal(clock_next_midnight(back), oct_next);
	assert_int_equal(clock_next_midnight(mar), mar_next);

	/* Every minute of both days, twice (the second pass is cached). */
	for (pass = 0; pass < 2; pass++) {
		for (t = mar - 7200; t < mar_next + 7200; t += 60)
			assert_int_equal(
			    clock_local_date(t), glibc_local_date(t));
		for (t = oct - 7200; t < oct_next + 7200; t += 60)
			assert_int_equal(
			    clock_local_date(t), glibc_local_date(t));
	}
}

/* 2018-11-04: clocks jumped 00:00 -> 01:00, midnight did not exist. */
static void
test_sao_paulo(void **state)
{
	int64_t nov3 = 1541214000, nov4 = 1541300400, nov5 = 1541383200;
	int64_t feb17 = 1518832800, feb18 = 1518922800;
	char buf[CLOCK_TS_LEN];

	(void)state;
	use_zone("America/Sao_Paulo");
	assert_int_equal(clock_day_start(D_2018_11_04 - 1), nov3);
	assert_int_equal(clock_day_start(D_2018_11_04), nov4);
	assert_int_equal(clock_day_start(D_2018_11_04 + 1), nov5);
	assert_int_equal(nov5 - nov4, 23 * 3600);
	clock_format_ts(nov4, buf);
	assert_string_equal(buf, "2018-11-04T01:00:00-02:00");
	assert_int_equal(clock_local_date(nov4 - 1), D_2018_11_04 - 1);
	assert_int_equal(clock_local_date(nov4), D_2018_11_04);
	assert_int_equal(clock_next_midnight(nov3 + 12 * 3600), nov4);
	/* 00:00-00:59 skipped: day_at of them is 01:00 local. */
	assert_int_equal(clock_day_at(D_2018_11_04, 0), nov4);
	assert_int_equal(clock_day_at(D_2018_11_04, 5), nov4);
	assert_int_equal(clock_day_at(D_2018_11_04, 30), nov4);
	assert_int_equal(clock_day_at(D_2018_11_04, 60), nov4);
	assert_int_equal(clock_day_at(D_2018_11_04, 61), nov4 + 60);

	/* 2018-02-18 00:00 -02 became 2018-02-17 23:00 -03: a 25 h day. */
	assert_int_equal(clock_day_start(D_2018_02_17), feb17);
	assert_int_equal(clock_day_start(D_2018_02_17 + 1), feb18);
	assert_int_equal(feb18 - feb17, 25 * 3600);
	assert_int_equal(clock_day_at(D_2018_02_17, 23 * 60 + 30), 1518917400);
	clock_format_ts(1518917400, buf);
	assert_string_equal(buf, "2018-02-17T23:30:00-02:00");
	clock_format_ts(1518917400 + 3600, buf);
	assert_string_equal(buf, "2018-02-17T23:30:00-03:00");
}

/*
 * St. John's 1987-2010 fell back at 00:01 NDT to 23:01 NST: local date
 * 2007-11-04 began at 02:30Z for one minute, then 2007-11-03 came back.
 */
static void
test_st_johns_back_across_midnight(void **state)
{
	int64_t first = 1194143400, again = first + 3600;
	char buf[CLOCK_TS_LEN];
	int64_t t;

	(void)state;
	use_zone("America/St_Johns");
	assert_int_equal(clock_day_start(D_2007_11_04), first);
	assert_int_equal(clock_local_date(first), D_2007_11_04);
	assert_int_equal(clock_local_date(first + 60), D_2007_11_04 - 1);
	assert_int_equal(clock_local_date(again), D_2007_11_04);
	clock_format_ts(first, buf);
	assert_string_equal(buf, "2007-11-04T00:00:00-02:30");
	clock_format_ts(again, buf);
	assert_string_equal(buf, "2007-11-04T00:00:00-03:30");
	/* The next midnight is always after t. */
	assert_int_equal(clock_next_midnight(first - 1), first);
	assert_int_equal(clock_next_midnight(first + 60), again);
	assert_int_equal(clock_next_midnight(again - 1), again);
	for (t = first - 3600; t < again + 3600; t += 30) {
		assert_true(clock_next_midnight(t) > t);
		assert_int_equal(clock_local_date(t), glibc_local_date(t));
	}
}

/* Samoa skipped 2011-12-30 entirely: it "starts" with 2011-12-31. */
static void
test_apia_skipped_day(void **state)
{
	int64_t jump = 1325239200; /* 2011-12-30T10:00:00Z */
	char buf[CLOCK_TS_LEN];

	(void)state;
	use_zone("Pacific/Apia");
	assert_int_equal(clock_local_date(jump - 1), D_2011_12_30 - 1);
	assert_int_equal(clock_local_date(jump), D_2011_12_30 + 1);
	assert_int_equal(clock_day_start(D_2011_12_30), jump);
	assert_int_equal(clock_day_start(D_2011_12_30 + 1), jump);
	assert_int_equal(clock_day_at(D_2011_12_30, 5), jump);
	assert_int_equal(clock_next_midnight(jump - 1), jump);
	clock_format_ts(jump, buf);
	assert_string_equal(buf, "2011-12-31T00:00:00+14:00");
}

/*
 * Against a brute-force scan, on every day around an offset change in
 * 1990-2040 of zones with DST, 30-minute DST, odd offsets and day jumps.
 */
static void
test_against_brute_force(void **state)
{
	static const char *zones[] = {
		"Europe/Berlin",
		"America/Sao_Paulo",
		"America/St_Johns",
		"America/New_York",
		"Australia/Lord_Howe",
		"Asia/Kathmandu",
		"Pacific/Apia",
		"Pacific/Kiritimati",
		"Antarctica/Casey",
	};
	static const int minutes[] = { 0, 1, 59, 60, 90, 120, 150, 180, 1439 };
	int32_t d, from, to, k;
	int64_t w, got, want;
	size_t i, j;
	int checked;

	(void)state;
	from = clock_days_from_civil(1990, 1, 1);
	to = clock_days_from_civil(2040, 1, 1);
	for (i = 0; i < NELEM(zones); i++) {
		use_zone(zones[i]);
		checked = 0;
		for (d = from; d < to; d++) {
			if (clock_utc_offset((int64_t)d * CLOCK_DAY) ==
			    clock_utc_offset((int64_t)(d + 1) * CLOCK_DAY))
				continue;
			for (k = d - 1; k <= d + 1; k++) {
				for (j = 0; j < NELEM(minutes); j++) {
					w = (int64_t)k * CLOCK_DAY +
					    minutes[j] * 60;
					got = clock_day_at(k, minutes[j]);
					want = brute_first_at(w);
					if (got != want)
						fail_msg("%s day %d min %d: "
						         "%lld != %lld",
						    zones[i], (int)k,
						    minutes[j], (long long)got,
						    (long long)want);
				}
				assert_int_equal(
				    clock_day_start(k), clock_day_at(k, 0));
			}
			checked++;
		}
		if (strcmp(zones[i], "Asia/Kathmandu") != 0)
			assert_true(checked > 0);
	}
}

/*
 * The offset cache (by UTC day, filled on a first miss) answers what
 * glibc does: each instant of the days around every offset change in
 * 2020-2030 asked three times (the fill, then hits), in a different
 * order each time, and the dates and timestamps built on it.
 */
static void
test_offset_cache(void **state)
{
	static const char *zones[] = {
		"Europe/Berlin",
		"America/Sao_Paulo",
		"America/St_Johns",
		"Australia/Lord_Howe",
		"Pacific/Apia",
		"Asia/Shanghai",
	};
	int32_t d, from, to, k;
	int64_t t, t0;
	time_t tt;
	struct tm tm;
	char buf[CLOCK_TS_LEN];
	size_t i;
	int pass, checked, step;

	(void)state;
	from = clock_days_from_civil(2020, 1, 1);
	to = clock_days_from_civil(2030, 1, 1);
	for (i = 0; i < NELEM(zones); i++) {
		use_zone(zones[i]);
		checked = 0;
		for (d = from; d < to; d++) {
			tt = (time_t)((int64_t)d * CLOCK_DAY);
			assert_non_null(localtime_r(&tt, &tm));
			t0 = tm.tm_gmtoff;
			tt = (time_t)((int64_t)(d + 1) * CLOCK_DAY);
			assert_non_null(localtime_r(&tt, &tm));
			if (t0 == tm.tm_gmtoff && d % 97 != 0)
				continue;
			for (pass = 0; pass < 3; pass++) {
				step = pass == 1 ? -900 : 900;
				for (k = 0; k < 3 * 96; k++) {
					t = pass == 1
					    ? (int64_t)(d + 2) * CLOCK_DAY - 1 +
					        (int64_t)k * step
					    : (int64_t)(d - 1) * CLOCK_DAY +
					        (int64_t)k * step + pass;
					tt = (time_t)t;
					assert_non_null(localtime_r(&tt, &tm));
					if (clock_utc_offset(t) != tm.tm_gmtoff)
						fail_msg("%s at %lld pass %d: "
						         "%d != %ld",
						    zones[i], (long long)t,
						    pass, clock_utc_offset(t),
						    (long)tm.tm_gmtoff);
					assert_int_equal(clock_local_date(t),
					    glibc_local_date(t));
					clock_format_ts(t, buf);
					assert_int_equal(
					    (buf[19] == '-' ? -1 : 1) *
					        ((buf[20] - '0') * 600 +
					            (buf[21] - '0') * 60 +
					            (buf[23] - '0') * 10 +
					            (buf[24] - '0')),
					    tm.tm_gmtoff / 60);
				}
			}
			checked++;
		}
		assert_true(checked > 0);
	}
}

static void
test_format_round_trip(void **state)
{
	static const char *zones[] = {
		"UTC",
		"Asia/Shanghai",
		"Europe/Berlin",
		"America/Sao_Paulo",
		"America/St_Johns",
		"Asia/Kathmandu",
		"Pacific/Kiritimati",
		"Pacific/Pago_Pago",
		"Africa/Monrovia",
	};
	char buf[CLOCK_TS_LEN];
	const char *why;
	int64_t t, back;
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(zones); i++) {
		use_zone(zones[i]);
		for (t = CLOCK_DAY; t < 4200000000LL; t += 7919 * 13) {
			clock_format_ts(t, buf);
			assert_int_equal(strlen(buf), 25);
			if (clock_parse_ts(buf, strlen(buf), &back, &why) != 0)
				fail_msg("%s: %s: %s", zones[i], buf, why);
			assert_int_equal(back, t);
		}
		t = 253402300799 - 15 * 3600; /* local year 9999 everywhere */
		clock_format_ts(t, buf);
		assert_int_equal(
		    clock_parse_ts(buf, strlen(buf), &back, &why), 0);
		assert_int_equal(back, t);
	}
	/* Liberia's -00:44:30 until 1972: minutes only, the same instant. */
	use_zone("Africa/Monrovia");
	clock_format_ts(44582400, buf); /* 1971-06-01T00:00:00Z */
	assert_string_equal(buf, "1971-05-31T23:16:00-00:44");
	use_zone("Asia/Kathmandu");
	clock_format_ts(T_SH_0900, buf);
	assert_string_equal(buf, "2026-11-27T06:45:00+05:45");
	use_zone("Pacific/Pago_Pago");
	clock_format_ts(T_SH_0900, buf);
	assert_string_equal(buf, "2026-11-26T14:00:00-11:00");
}

static void
test_format_date(void **state)
{
	char buf[CLOCK_DATE_LEN];
	const char *why;
	int32_t day, back;

	(void)state;
	clock_format_date(0, buf);
	assert_string_equal(buf, "1970-01-01");
	clock_format_date(D_2026_11_27, buf);
	assert_string_equal(buf, "2026-11-27");
	clock_format_date(CLOCK_MAX_DAY, buf);
	assert_string_equal(buf, "9999-12-31");
	/* Outside years 0000-9999 the output is clamped, never longer. */
	clock_format_date(CLOCK_MAX_DAY + 1, buf);
	assert_string_equal(buf, "9999-12-31");
	clock_format_date(-800000, buf);
	assert_string_equal(buf, "0000-01-01");
	for (day = 0; day <= CLOCK_MAX_DAY; day += 97) {
		clock_format_date(day, buf);
		assert_int_equal(clock_parse_date(buf, 10, &back, &why), 0);
		assert_int_equal(back, day);
	}
}

/* Runs last: test mode cannot be left. */
static void
test_test_clock(void **state)
{
	int64_t wall, now;

	(void)state;
	assert_false(clock_is_test());
	wall = clock_wall();
	now = clock_now();
	assert_true(wall > 1767225600); /* after 2026-01-01 */
	assert_true(now >= wall && now - wall < 5);
	clock_test_start(T_SH_0900);
	assert_true(clock_is_test());
	assert_int_equal(clock_now(), T_SH_0900);
	assert_int_equal(clock_now(), T_SH_0900); /* frozen */
	clock_test_set(T_SH_0900 + 86400);
	assert_int_equal(clock_now(), T_SH_0900 + 86400);
	assert_true(clock_wall() >= wall);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_default_is_utc),
		cmocka_unit_test(test_civil_round_trip),
		cmocka_unit_test(test_parse_ts),
		cmocka_unit_test(test_parse_ts_len),
		cmocka_unit_test(test_parse_date),
		cmocka_unit_test(test_parse_duration),
		cmocka_unit_test(test_parse_hhmm),
		cmocka_unit_test(test_tz_set),
		cmocka_unit_test(test_tz_set_tzdir),
		cmocka_unit_test(test_shanghai),
		cmocka_unit_test(test_berlin_dst),
		cmocka_unit_test(test_sao_paulo),
		cmocka_unit_test(test_st_johns_back_across_midnight),
		cmocka_unit_test(test_apia_skipped_day),
		cmocka_unit_test(test_against_brute_force),
		cmocka_unit_test(test_offset_cache),
		cmocka_unit_test(test_format_round_trip),
		cmocka_unit_test(test_format_date),
		cmocka_unit_test(test_test_clock),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
