/*
 * Unit tests of calendar: the window of a task (interfaces.md §4.9) as a
 * table of cases.  Each case gives the zone, the calendar and schedule,
 * the emission moment E, the account's cash-in day and the dates taken
 * by open tasks of the same type; it expects the window's parts, rank
 * and reason.  Weekdays and DST instants were checked with python3
 * zoneinfo.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calendar.h"
#include "clock.h"
#include "util.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

#define MON (1u << 0)
#define TUE (1u << 1)
#define WED (1u << 2)
#define THU (1u << 3)
#define FRI (1u << 4)
#define SAT (1u << 5)
#define SUN (1u << 6)

/* The example portfolio's office: Monday-Friday, lunch 12:00-13:30. */
static struct cal_hours office[] = { { 9 * 60, 12 * 60 },
	{ 13 * 60 + 30, 18 * 60 } };
/* 2026: Oct 1-8 off (the weekdays of it listed), Sep 27 and Oct 10 on. */
static int32_t cn_holidays[6];
static int32_t cn_extra[2];
static struct calendar cn = { MON | TUE | WED | THU | FRI, office, 2,
	cn_holidays, 6, cn_extra, 2 };

/* Every day, two windows: one in Berlin's March gap, one normal. */
static struct cal_hours gap_hours[] = { { 2 * 60, 2 * 60 + 30 },
	{ 9 * 60, 18 * 60 } };
static struct calendar every_day_gap = { 0x7f, gap_hours, 2, NULL, 0, NULL, 0 };
/* Every day, across the hour that repeats on Berlin's October change. */
static struct cal_hours repeat_hours[] = { { 2 * 60, 3 * 60 } };
static struct calendar every_day_repeat = { 0x7f, repeat_hours, 1, NULL, 0,
	NULL, 0 };
/* São Paulo 2018: midnight skipped on Nov 4, 23:00-24:00 twice Feb 17. */
static struct cal_hours sp_hours[] = { { 0, 2 * 60 }, { 22 * 60, 24 * 60 } };
static struct calendar every_day_sp = { 0x7f, sp_hours, 2, NULL, 0, NULL, 0 };
/* Mondays only, and (filled below) every Monday a holiday. */
static struct cal_hours nine_ten[] = { { 9 * 60, 10 * 60 } };
static int32_t all_mondays[60];
static struct calendar mondays_off = { MON, nine_ten, 1, all_mondays, 0, NULL,
	0 };

/* Schedules, with hours already narrowed by cn's (as the loader does). */
static struct cal_hours afternoon[] = { { 14 * 60, 17 * 60 + 30 } };
static struct cal_schedule first_call = { "first-call", "x", 1, 0, office, 2,
	{ 0 }, 0, 0, 0, 30 * 60, false };
static struct cal_schedule calls = { "calls", "x", 1, 1, afternoon, 1,
	{ 4, 3, 1 }, 3, MON | WED, 2, 30 * 60, true };
static struct cal_schedule calls4 = { "calls4", "x", 1, 1, afternoon, 1,
	{ 4, 3, 1 }, 3, MON | WED, 4, 30 * 60, true };
static struct cal_schedule calls0 = { "calls0", "x", 1, 1, afternoon, 1,
	{ 4, 3, 1 }, 3, MON | WED, 0, 30 * 60, true };
static struct cal_schedule calls_long = { "calls-long", "x", 1, 1, afternoon, 1,
	{ 4, 3, 1 }, 3, MON | WED, 2, 60 * 60, true };
static struct cal_hours visit_hours[] = { { 9 * 60, 9 * 60 + 15 },
	{ 14 * 60, 17 * 60 } };
static struct cal_schedule visits = { "visits", "x", 1, 2, visit_hours, 2,
	{ 4, 3, 1 }, 3, 0, 4, 15 * 60, true };
static struct cal_schedule fri_only = { "fri", "x", 1, 1, afternoon, 1, { 4 },
	1, 0, 2, 30 * 60, false };
static struct cal_schedule fri_avoid = { "fri-avoid", "x", 1, 1, afternoon, 1,
	{ 4 }, 1, MON | TUE | WED, 2, 30 * 60, false };
static struct cal_schedule too_long = { "too-long", "x", 1, 1, nine_ten, 1,
	{ 0 }, 0, 0, 0, 2 * 3600, false };
static struct cal_hours evening[] = { { 20 * 60, 22 * 60 } };
static struct cal_schedule evenings = { "evenings", "x", 1, 1, evening, 1,
	{ 0 }, 0, 0, 0, 30 * 60, false };

struct wcase {
	const char *title;
	const char *zone;
	const struct calendar *cal;
	const struct cal_schedule *sch;
	const char *emit;
	bool first_only;
	int cash_in_day;
	const char *taken[3];
	const char *parts; /* "from/to,from/to" */
	enum cal_rank rank;
	const char *reason;
};

#define SH "Asia/Shanghai"

static const struct wcase cases[] = {
	/* Weekday preference within defer_days (P7). */
	{ "Monday emission, Friday preferred within defer_days", SH, &cn,
	    &calls4, "2026-11-23T10:00:00+08:00", false, 0, { NULL },
	    "2026-11-27T14:00:00+08:00/2026-11-27T17:30:00+08:00",
	    CAL_RANK_PREFER, "Friday preferred" },
	{ "Monday emission, two days of deferral: Tuesday", SH, &cn, &calls,
	    "2026-11-23T10:00:00+08:00", false, 0, { NULL },
	    "2026-11-24T14:00:00+08:00/2026-11-24T17:30:00+08:00",
	    CAL_RANK_PREFER, "Tuesday preferred (choice 3 of 3)" },
	{ "defer_days 0: the first slot, whatever the weekday", SH, &cn,
	    &calls0, "2026-11-23T10:00:00+08:00", false, 0, { NULL },
	    "2026-11-23T14:00:00+08:00/2026-11-23T17:30:00+08:00",
	    CAL_RANK_FIRST, "first working time, later today" },
	{ "first_only (released after a hold): no deferral", SH, &cn, &calls4,
	    "2026-11-23T15:00:00+08:00", true, 0, { NULL },
	    "2026-11-23T15:00:00+08:00/2026-11-23T17:30:00+08:00",
	    CAL_RANK_FIRST, "first working time: now" },
	{ "no preferred day among the candidates: the earliest", SH, &cn,
	    &fri_only, "2026-11-23T10:00:00+08:00", false, 0, { NULL },
	    "2026-11-23T14:00:00+08:00/2026-11-23T17:30:00+08:00",
	    CAL_RANK_NEUTRAL,
	    "Monday: no preferred day among the 3 candidate days" },
	{ "every candidate avoided: the earliest", SH, &cn, &fri_avoid,
	    "2026-11-23T10:00:00+08:00", false, 0, { NULL },
	    "2026-11-23T14:00:00+08:00/2026-11-23T17:30:00+08:00",
	    CAL_RANK_AVOID,
	    "Monday avoided, but so are the other 2 candidate days" },
	/* The first working time (P1). */
	{ "emission in office hours: at once", SH, &cn, &first_call,
	    "2026-11-24T10:15:30+08:00", false, 0, { NULL },
	    "2026-11-24T10:15:30+08:00/2026-11-24T12:00:00+08:00,"
	    "2026-11-24T13:30:00+08:00/2026-11-24T18:00:00+08:00",
	    CAL_RANK_FIRST, "first working time: now" },
	{ "emission after hours: the next morning", SH, &cn, &first_call,
	    "2026-11-24T19:00:00+08:00", false, 0, { NULL },
	    "2026-11-25T09:00:00+08:00/2026-11-25T12:00:00+08:00,"
	    "2026-11-25T13:30:00+08:00/2026-11-25T18:00:00+08:00",
	    CAL_RANK_FIRST, "first working time: the next working day" },
	{ "emission at midnight: the same day's morning", SH, &cn, &first_call,
	    "2026-11-24T00:00:00+08:00", false, 0, { NULL },
	    "2026-11-24T09:00:00+08:00/2026-11-24T12:00:00+08:00,"
	    "2026-11-24T13:30:00+08:00/2026-11-24T18:00:00+08:00",
	    CAL_RANK_FIRST, "first working time, later today" },
	{ "emission at lunch: the afternoon", SH, &cn, &first_call,
	    "2026-11-24T12:30:00+08:00", false, 0, { NULL },
	    "2026-11-24T13:30:00+08:00/2026-11-24T18:00:00+08:00",
	    CAL_RANK_FIRST, "first working time, later today" },
	{ "emission exactly at a window's end (half-open)", SH, &cn,
	    &first_call, "2026-11-24T12:00:00+08:00", false, 0, { NULL },
	    "2026-11-24T13:30:00+08:00/2026-11-24T18:00:00+08:00",
	    CAL_RANK_FIRST, "first working time, later today" },
	{ "emission exactly at the last window's end", SH, &cn, &first_call,
	    "2026-11-24T18:00:00+08:00", false, 0, { NULL },
	    "2026-11-25T09:00:00+08:00/2026-11-25T12:00:00+08:00,"
	    "2026-11-25T13:30:00+08:00/2026-11-25T18:00:00+08:00",
	    CAL_RANK_FIRST, "first working time: the next working day" },
	{ "min_window: 15 minutes left are no slot", SH, &cn, &first_call,
	    "2026-11-24T17:45:00+08:00", false, 0, { NULL },
	    "2026-11-25T09:00:00+08:00/2026-11-25T12:00:00+08:00,"
	    "2026-11-25T13:30:00+08:00/2026-11-25T18:00:00+08:00",
	    CAL_RANK_FIRST, "first working time: the next working day" },
	{ "min_window: 30 minutes left across lunch are a slot", SH, &cn,
	    &first_call, "2026-11-24T11:50:00+08:00", false, 0, { NULL },
	    "2026-11-24T11:50:00+08:00/2026-11-24T12:00:00+08:00,"
	    "2026-11-24T13:30:00+08:00/2026-11-24T18:00:00+08:00",
	    CAL_RANK_FIRST, "first working time: now" },
	{ "min_window 1h: 45 minutes are no slot, the day is skipped", SH, &cn,
	    &calls_long, "2026-11-24T16:45:00+08:00", false, 0, { NULL },
	    "2026-11-27T14:00:00+08:00/2026-11-27T17:30:00+08:00",
	    CAL_RANK_PREFER, "Friday preferred" },
	{ "emission on a holiday: after the holiday", SH, &cn, &first_call,
	    "2026-10-01T10:00:00+08:00", false, 0, { NULL },
	    "2026-10-09T09:00:00+08:00/2026-10-09T12:00:00+08:00,"
	    "2026-10-09T13:30:00+08:00/2026-10-09T18:00:00+08:00",
	    CAL_RANK_FIRST, "first working time after the holiday" },
	{ "the Saturday before a make-up working day: that Sunday", SH, &cn,
	    &first_call, "2026-09-26T10:00:00+08:00", false, 0, { NULL },
	    "2026-09-27T09:00:00+08:00/2026-09-27T12:00:00+08:00,"
	    "2026-09-27T13:30:00+08:00/2026-09-27T18:00:00+08:00",
	    CAL_RANK_FIRST, "first working time after the days off (Sunday)" },
	{ "the make-up Saturday itself is working time", SH, &cn, &first_call,
	    "2026-10-10T08:00:00+08:00", false, 0, { NULL },
	    "2026-10-10T09:00:00+08:00/2026-10-10T12:00:00+08:00,"
	    "2026-10-10T13:30:00+08:00/2026-10-10T18:00:00+08:00",
	    CAL_RANK_FIRST, "first working time, later today" },
	{ "no schedule: the calendar's hours, the first slot", SH, &cn, NULL,
	    "2026-11-28T10:00:00+08:00", false, 25, { NULL },
	    "2026-11-30T09:00:00+08:00/2026-11-30T12:00:00+08:00,"
	    "2026-11-30T13:30:00+08:00/2026-11-30T18:00:00+08:00",
	    CAL_RANK_FIRST, "first working time after the days off (Monday)" },
	/* The cash-in class (P7). */
	{ "cash_in_day 31 in February: the 28th", SH, &cn, &calls,
	    "2026-02-24T10:00:00+08:00", false, 31, { NULL },
	    "2026-02-26T14:00:00+08:00/2026-02-26T17:30:00+08:00",
	    CAL_RANK_CASH_IN,
	    "Thursday, 2 days before cash-in day 31 (the 28th this month)" },
	{ "cash-in class beats an avoided weekday", SH, &cn, &calls,
	    "2026-03-23T10:00:00+08:00", false, 28, { NULL },
	    "2026-03-25T14:00:00+08:00/2026-03-25T17:30:00+08:00",
	    CAL_RANK_CASH_IN, "Wednesday, 3 days before cash-in day 28" },
	{ "cash-in day across a month end", SH, &cn, &calls,
	    "2026-04-29T10:00:00+08:00", false, 1, { NULL },
	    "2026-04-30T14:00:00+08:00/2026-04-30T17:30:00+08:00",
	    CAL_RANK_CASH_IN, "Thursday, 1 day before cash-in day 1" },
	{ "cash-in day across a year end, on an avoided weekday", SH, &cn,
	    &calls, "2026-12-28T10:00:00+08:00", false, 2, { NULL },
	    "2026-12-30T14:00:00+08:00/2026-12-30T17:30:00+08:00",
	    CAL_RANK_CASH_IN, "Wednesday, 3 days before cash-in day 2" },
	{ "no cash-in day on the account: weekdays decide", SH, &cn, &calls,
	    "2026-03-23T10:00:00+08:00", false, 0, { NULL },
	    "2026-03-24T14:00:00+08:00/2026-03-24T17:30:00+08:00",
	    CAL_RANK_PREFER, "Tuesday preferred (choice 3 of 3)" },
	/* One task of a type per account per day. */
	{ "an open same-type task on the best date", SH, &cn, &calls4,
	    "2026-11-23T10:00:00+08:00", false, 0, { "2026-11-27" },
	    "2026-11-26T14:00:00+08:00/2026-11-26T17:30:00+08:00",
	    CAL_RANK_PREFER, "Thursday preferred (choice 2 of 3)" },
	{ "taken dates do not count as candidates", SH, &cn, &calls,
	    "2026-11-23T10:00:00+08:00", false, 0,
	    { "2026-11-23", "2026-11-24", "2026-11-25" },
	    "2026-11-27T14:00:00+08:00/2026-11-27T17:30:00+08:00",
	    CAL_RANK_PREFER, "Friday preferred" },
	{ "a taken first date: the next working day", SH, &cn, &first_call,
	    "2026-11-23T10:00:00+08:00", false, 0, { "2026-11-23" },
	    "2026-11-24T09:00:00+08:00/2026-11-24T12:00:00+08:00,"
	    "2026-11-24T13:30:00+08:00/2026-11-24T18:00:00+08:00",
	    CAL_RANK_FIRST,
	    "first working day without another open task of this type" },
	{ "visits: two parts, 15 minutes after opening", SH, &cn, &visits,
	    "2026-11-23T10:00:00+08:00", false, 0, { NULL },
	    "2026-11-27T09:00:00+08:00/2026-11-27T09:15:00+08:00,"
	    "2026-11-27T14:00:00+08:00/2026-11-27T17:00:00+08:00",
	    CAL_RANK_PREFER, "Friday preferred" },
	/* DST (invariant (2) of calendar.c). */
	{ "Berlin, spring: a window inside the gap is empty", "Europe/Berlin",
	    &every_day_gap, NULL, "2026-03-29T01:00:00+01:00", false, 0,
	    { NULL }, "2026-03-29T09:00:00+02:00/2026-03-29T18:00:00+02:00",
	    CAL_RANK_FIRST, "first working time, later today" },
	{ "Berlin, autumn: the repeated hour is in the window twice",
	    "Europe/Berlin", &every_day_repeat, NULL,
	    "2026-10-25T00:30:00+02:00", false, 0, { NULL },
	    "2026-10-25T02:00:00+02:00/2026-10-25T03:00:00+01:00",
	    CAL_RANK_FIRST, "first working time, later today" },
	{ "Berlin, autumn: from the second 02:30 on", "Europe/Berlin",
	    &every_day_repeat, NULL, "2026-10-25T02:30:00+01:00", false, 0,
	    { NULL }, "2026-10-25T02:30:00+01:00/2026-10-25T03:00:00+01:00",
	    CAL_RANK_FIRST, "first working time: now" },
	{ "Sao Paulo, spring: midnight skipped, the day starts at 01:00",
	    "America/Sao_Paulo", &every_day_sp, NULL,
	    "2018-11-03T23:30:00-03:00", false, 0, { NULL },
	    "2018-11-03T23:30:00-03:00/2018-11-04T01:00:00-02:00",
	    CAL_RANK_FIRST, "first working time: now" },
	{ "Sao Paulo, the skipped midnight's day", "America/Sao_Paulo",
	    &every_day_sp, NULL, "2018-11-04T01:00:00-02:00", false, 0,
	    { NULL },
	    "2018-11-04T01:00:00-02:00/2018-11-04T02:00:00-02:00,"
	    "2018-11-04T22:00:00-02:00/2018-11-05T00:00:00-02:00",
	    CAL_RANK_FIRST, "first working time: now" },
	{ "Sao Paulo, autumn: 23:00-24:00 twice, up to the next midnight",
	    "America/Sao_Paulo", &every_day_sp, NULL,
	    "2018-02-17T21:00:00-02:00", false, 0, { NULL },
	    "2018-02-17T22:00:00-02:00/2018-02-18T00:00:00-03:00",
	    CAL_RANK_FIRST, "first working time, later today" },
	/* Fallbacks: E ... E + 24 h. */
	{ "neither calendar nor schedule", SH, NULL, NULL,
	    "2026-11-23T03:04:05+08:00", false, 0, { NULL },
	    "2026-11-23T03:04:05+08:00/2026-11-24T03:04:05+08:00",
	    CAL_RANK_NONE,
	    "no calendar and no schedule: any time within 24 hours" },
	{ "a schedule without a calendar: every day works", SH, NULL, &evenings,
	    "2026-11-28T21:45:00+08:00", false, 0, { NULL },
	    "2026-11-29T20:00:00+08:00/2026-11-29T22:00:00+08:00",
	    CAL_RANK_FIRST, "first working time: the next working day" },
	{ "nothing within 366 days: min_window never fits", SH, &cn, &too_long,
	    "2026-11-23T08:00:00+08:00", false, 0, { NULL },
	    "2026-11-23T08:00:00+08:00/2026-11-24T08:00:00+08:00",
	    CAL_RANK_NONE,
	    "no working time within 366 days: any time within 24 hours" },
	{ "nothing within 366 days: every Monday a holiday", SH, &mondays_off,
	    NULL, "2026-11-23T08:00:00+08:00", false, 0, { NULL },
	    "2026-11-23T08:00:00+08:00/2026-11-24T08:00:00+08:00",
	    CAL_RANK_NONE,
	    "no working time within 366 days: any time within 24 hours" },
};

static int32_t
day_of(const char *s)
{
	const char *why;
	int32_t d;

	assert_int_equal(clock_parse_date(s, strlen(s), &d, &why), 0);
	return d;
}

static void
fill_dates(void)
{
	static const char *const hol[] = { "2026-10-01", "2026-10-02",
		"2026-10-05", "2026-10-06", "2026-10-07", "2026-10-08" };
	int32_t mon;
	size_t i;

	for (i = 0; i < NELEM(hol); i++)
		cn_holidays[i] = day_of(hol[i]);
	cn_extra[0] = day_of("2026-09-27");
	cn_extra[1] = day_of("2026-10-10");
	/* Every Monday from 2026-11-23 on, past 366 days. */
	mon = day_of("2026-11-23");
	for (i = 0; i < NELEM(all_mondays); i++)
		all_mondays[i] = mon + 7 * (int32_t)i;
	mondays_off.nholidays = NELEM(all_mondays);
}

static void
format_parts(const struct cal_window *w, char *buf, size_t len)
{
	char a[CLOCK_TS_LEN], b[CLOCK_TS_LEN];
	size_t i, n = 0;

	buf[0] = '\0';
	for (i = 0; i < w->nparts; i++) {
		clock_format_ts(w->parts[i][0], a);
		clock_format_ts(w->parts[i][1], b);
		n += (size_t)snprintf(
		    buf + n, len - n, "%s%s/%s", i ? "," : "", a, b);
	}
}

static void
test_windows(void **state)
{
	const struct wcase *c;
	struct cal_request req;
	struct cal_window w;
	int32_t taken[3];
	char parts[1024];
	const char *why;
	size_t i, k, bad = 0;

	(void)state;
	fill_dates();
	for (i = 0; i < NELEM(cases); i++) {
		c = &cases[i];
		assert_int_equal(clock_tz_set(c->zone), 0);
		memset(&req, 0, sizeof(req));
		req.cal = c->cal;
		req.sch = c->sch;
		assert_int_equal(
		    clock_parse_ts(c->emit, strlen(c->emit), &req.emit, &why),
		    0);
		req.first_only = c->first_only;
		req.cash_in_day = c->cash_in_day;
		for (k = 0; k < 3 && c->taken[k] != NULL; k++)
			taken[k] = day_of(c->taken[k]);
		req.taken = taken;
		req.ntaken = k;
		cal_window_choose(&req, &w);
		format_parts(&w, parts, sizeof(parts));
		if (strcmp(parts, c->parts) != 0 || w.rank != c->rank ||
		    strcmp(w.reason, c->reason) != 0 ||
		    w.not_before != w.parts[0][0] ||
		    w.not_after != w.parts[w.nparts - 1][1]) {
			print_error(
			    "case \"%s\":\n got: %s %s \"%s\"\nwant: %s %s \"%s\"\n",
			    c->title, parts, cal_rank_name(w.rank), w.reason,
			    c->parts, cal_rank_name(c->rank), c->reason);
			bad++;
		}
	}
	assert_int_equal(bad, 0);
}

static void
test_weekdays_and_workdays(void **state)
{
	(void)state;
	fill_dates();
	assert_int_equal(cal_weekday(0), 3); /* 1970-01-01, a Thursday */
	assert_int_equal(cal_weekday(day_of("2026-11-23")), 0);
	assert_int_equal(cal_weekday(day_of("2026-11-29")), 6);
	assert_int_equal(cal_weekday(-1), 2);
	assert_string_equal(cal_weekday_name(4), "Friday");
	assert_true(cal_is_workday(NULL, day_of("2026-11-29")));
	assert_true(cal_is_workday(&cn, day_of("2026-11-23")));
	assert_false(cal_is_workday(&cn, day_of("2026-11-28")));
	assert_false(cal_is_workday(&cn, day_of("2026-10-01")));
	assert_true(cal_is_workday(&cn, day_of("2026-10-10")));
	assert_true(cal_is_workday(&cn, day_of("2026-09-27")));
	assert_false(cal_is_workday(&cn, day_of("2026-10-04")));
	assert_string_equal(cal_rank_name(CAL_RANK_FIRST), "first");
	assert_string_equal(cal_rank_name(CAL_RANK_CASH_IN), "cash_in");
	assert_string_equal(cal_rank_name(CAL_RANK_NONE), "none");
}

/*
 * However many Mondays are holidays, at most 367 dates are looked at:
 * a window is chosen in bounded time even with nothing to find.
 */
static void
test_every_candidate_within_366_days(void **state)
{
	static struct cal_schedule far = { "far", "x", 1, 1, nine_ten, 1, { 0 },
		0, 0, 31, 30 * 60, false };
	struct cal_request req = { 0 };
	struct cal_window w;
	const char *why;

	(void)state;
	fill_dates();
	assert_int_equal(clock_tz_set(SH), 0);
	/* Mondays only, the first 52 of them off: one slot left, day 364. */
	mondays_off.nholidays = 52;
	req.cal = &mondays_off;
	req.sch = &far;
	assert_int_equal(
	    clock_parse_ts("2026-11-23T08:00:00+08:00", 25, &req.emit, &why),
	    0);
	cal_window_choose(&req, &w);
	assert_int_equal(w.rank, CAL_RANK_FIRST);
	assert_int_equal(
	    clock_local_date(w.not_before), day_of("2026-11-23") + 364);
	mondays_off.nholidays = NELEM(all_mondays);
}

/*
 * A reference written the slow and obvious way, for random cases: every
 * bound straight from clock_day_at() (no shortcut for 24-hour dates),
 * every candidate kept, then the lowest (cash-in, weekday, date) taken.
 */
struct ref_cand {
	int32_t day;
	int cash, wdcls;
};

static int
ref_month_days(int y, int m)
{
	int32_t a = clock_days_from_civil(y, m, 1);
	int32_t b = m == 12 ? clock_days_from_civil(y + 1, 1, 1)
	                    : clock_days_from_civil(y, m + 1, 1);

	return (int)(b - a);
}

static int64_t
ref_bound(int32_t day, int min)
{
	return min == 24 * 60 ? clock_day_start(day + 1)
	                      : clock_day_at(day, min);
}

static bool
ref_workday(const struct calendar *cal, int32_t day)
{
	size_t i;

	if (cal == NULL)
		return true;
	for (i = 0; i < cal->nextra; i++) {
		if (cal->extra_workdays[i] == day)
			return true;
	}
	for (i = 0; i < cal->nholidays; i++) {
		if (cal->holidays[i] == day)
			return false;
	}
	return (cal->workdays >> cal_weekday(day)) & 1;
}

/* The reference's chosen day, -1 = none; *ncand the candidates. */
static int32_t
ref_choose(const struct cal_request *req, int *ncand)
{
	const struct cal_hours *h =
	    req->sch != NULL ? req->sch->hours : req->cal->hours;
	size_t nh = req->sch != NULL ? req->sch->nhours : req->cal->nhours;
	int64_t min_s = req->sch != NULL ? req->sch->min_window_s : 1800;
	int want = 1 +
	    (req->sch != NULL && !req->first_only ? req->sch->defer_days : 0);
	struct ref_cand best = { -1, 9, 99 }, c;
	int32_t d0 = clock_local_date(req->emit), d;
	int y, m, dd, k, target;
	size_t i;

	*ncand = 0;
	for (d = d0; d <= d0 + 366 && *ncand < want; d++) {
		int64_t total = 0, from, to;
		bool taken = false;

		if (!ref_workday(req->cal, d))
			continue;
		for (i = 0; i < req->ntaken; i++)
			taken |= req->taken[i] == d;
		if (taken)
			continue;
		for (i = 0; i < nh; i++) {
			from = ref_bound(d, h[i].start_min);
			to = ref_bound(d, h[i].end_min);
			if (from < req->emit)
				from = req->emit;
			if (to > from)
				total += to - from;
		}
		if (total < min_s)
			continue;
		c.day = d;
		c.cash = 1;
		c.wdcls = 0;
		if (req->sch != NULL) {
			const struct cal_schedule *s = req->sch;
			int wd = cal_weekday(d);

			for (k = 1;
			     k <= 3 && s->cash_in && req->cash_in_day > 0;
			     k++) {
				clock_civil_from_days(d + k, &y, &m, &dd);
				target = ref_month_days(y, m);
				if (req->cash_in_day < target)
					target = req->cash_in_day;
				if (dd == target)
					c.cash = 0;
			}
			c.wdcls = (int)s->nprefer;
			for (i = s->nprefer; i-- > 0;) {
				if (s->prefer[i] == wd)
					c.wdcls = (int)i;
			}
			if (c.wdcls == (int)s->nprefer &&
			    ((s->avoid >> wd) & 1))
				c.wdcls++;
		}
		if (best.day == -1 || c.cash < best.cash ||
		    (c.cash == best.cash && c.wdcls < best.wdcls))
			best = c;
		(*ncand)++;
	}
	return best.day;
}

/* Random hours: 1-4 ascending windows, some touching, some to 24:00. */
static size_t
random_hours(struct cal_hours *h, unsigned *seed)
{
	int at = (int)(rand_r(seed) % 600), n = 1 + (int)(rand_r(seed) % 4);
	size_t k = 0;

	while (k < (size_t)n && at < 24 * 60) {
		int len = 15 + (int)(rand_r(seed) % 300);

		h[k].start_min = at;
		h[k].end_min = at + len > 24 * 60 ? 24 * 60 : at + len;
		at = h[k].end_min +
		    (int)(rand_r(seed) % 3 == 0 ? 0 : rand_r(seed) % 240);
		k++;
	}
	return k;
}

static void
test_random_against_reference(void **state)
{
	static const char *const zones[] = { "Asia/Shanghai", "Europe/Berlin",
		"America/Sao_Paulo", "America/St_Johns", "Pacific/Apia" };
	/* Around DST changes and year ends, and ordinary days. */
	static const char *const bases[] = { "2026-03-28T20:00:00Z",
		"2026-10-24T20:00:00Z", "2018-11-03T12:00:00Z",
		"2018-02-16T12:00:00Z", "2011-12-28T00:00:00Z",
		"2026-12-29T00:00:00Z", "2027-02-20T00:00:00Z" };
	struct cal_hours ch[8], sh[8], nh[16];
	int32_t hol[8], extra[4], taken[3];
	struct calendar cal;
	struct cal_schedule sch;
	struct cal_request req;
	struct cal_window w;
	unsigned seed = 20261207;
	int i, ncand, bad = 0;
	const char *why;
	size_t k;

	(void)state;
	for (i = 0; i < 3000; i++) {
		const char *base = bases[rand_r(&seed) % NELEM(bases)];
		int32_t ref, d0;

		assert_int_equal(
		    clock_tz_set(zones[rand_r(&seed) % NELEM(zones)]), 0);
		assert_int_equal(
		    clock_parse_ts(base, strlen(base), &req.emit, &why), 0);
		req.emit += (int64_t)(rand_r(&seed) % (6 * 86400));
		d0 = clock_local_date(req.emit);
		memset(&cal, 0, sizeof(cal));
		cal.workdays = 1u + rand_r(&seed) % 127;
		cal.hours = ch;
		cal.nhours = random_hours(ch, &seed);
		/* Holidays and extra days near E, ascending, disjoint. */
		for (k = 0; k < NELEM(hol); k++)
			hol[k] = d0 + (int32_t)(2 * k + rand_r(&seed) % 2);
		cal.holidays = hol;
		cal.nholidays = rand_r(&seed) % (NELEM(hol) + 1);
		for (k = 0; k < NELEM(extra); k++)
			extra[k] = d0 + 20 + (int32_t)(2 * k);
		cal.extra_workdays = extra;
		cal.nextra = rand_r(&seed) % (NELEM(extra) + 1);
		/* A schedule narrowed as the loader does, or none. */
		memset(&sch, 0, sizeof(sch));
		k = random_hours(sh, &seed);
		sch.nhours = 0;
		for (size_t a = 0; a < k; a++) {
			for (size_t b = 0; b < cal.nhours; b++) {
				int lo = sh[a].start_min > ch[b].start_min
				    ? sh[a].start_min
				    : ch[b].start_min;
				int hi = sh[a].end_min < ch[b].end_min
				    ? sh[a].end_min
				    : ch[b].end_min;

				if (lo < hi) {
					nh[sch.nhours].start_min = lo;
					nh[sch.nhours++].end_min = hi;
				}
			}
		}
		sch.hours = nh;
		sch.nprefer = rand_r(&seed) % 4;
		for (k = 0; k < sch.nprefer; k++)
			sch.prefer[k] = (int)((k * 3 + rand_r(&seed) % 2) % 7);
		if (sch.nprefer == 3 && sch.prefer[1] == sch.prefer[2])
			sch.nprefer = 2;
		if (sch.nprefer == 2 && sch.prefer[0] == sch.prefer[1])
			sch.nprefer = 1;
		sch.avoid = rand_r(&seed) % 128;
		for (k = 0; k < sch.nprefer; k++)
			sch.avoid &= ~(1u << sch.prefer[k]);
		sch.defer_days = (int)(rand_r(&seed) % 6);
		sch.min_window_s = 60 * (1 + (int64_t)(rand_r(&seed) % 120));
		sch.cash_in = rand_r(&seed) % 2;
		req.cal = &cal;
		req.sch = sch.nhours > 0 && rand_r(&seed) % 4 ? &sch : NULL;
		req.first_only = rand_r(&seed) % 5 == 0;
		req.cash_in_day = (int)(rand_r(&seed) % 32);
		for (k = 0; k < NELEM(taken); k++)
			taken[k] = d0 + (int32_t)(rand_r(&seed) % 5);
		req.taken = taken;
		req.ntaken = rand_r(&seed) % (NELEM(taken) + 1);

		cal_window_choose(&req, &w);
		ref = ref_choose(&req, &ncand);
		if (ref == -1) {
			if (w.rank != CAL_RANK_NONE ||
			    w.not_after - w.not_before != 86400 ||
			    w.not_before != req.emit)
				bad++;
			continue;
		}
		/* The same day, the same rank kind, parts inside it. */
		if (clock_local_date(w.not_before) != ref ||
		    (ncand == 1) != (w.rank == CAL_RANK_FIRST) ||
		    w.not_before < req.emit || w.nparts == 0) {
			print_error(
			    "case %d: day %d want %d, rank %s, %d candidates\n",
			    i, clock_local_date(w.not_before), ref,
			    cal_rank_name(w.rank), ncand);
			bad++;
			continue;
		}
		for (k = 0; k < w.nparts; k++) {
			if (w.parts[k][0] >= w.parts[k][1] ||
			    (k > 0 && w.parts[k][0] < w.parts[k - 1][1]))
				bad++;
		}
	}
	assert_int_equal(bad, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_windows),
		cmocka_unit_test(test_weekdays_and_workdays),
		cmocka_unit_test(test_every_candidate_within_366_days),
		cmocka_unit_test(test_random_against_reference),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
