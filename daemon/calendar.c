/*
 * calendar — the window of a task (interfaces.md §4.9), a pure function
 * of the rule set's calendar and the task's schedule, the emission
 * moment E, the account's cash-in day and the dates already taken by
 * open tasks of the same type.  Called by eval at each emission; calls
 * only clock (local dates and day bounds, whose answers clock caches).
 *
 * Invariants:
 * (1) Dates are looked at one by one from the local date of E, and only
 *     until the candidates are found (the first slot and defer_days
 *     more): a task costs a handful of dates, not a year.  At most the
 *     367 dates E's ... E's + 366 are ever looked at.
 * (2) A window on date D is [first instant of D whose local time >=
 *     start, the same for end) (24:00 = the next local midnight), so a
 *     window in a DST gap is empty and one across a repeated hour holds
 *     it twice; slot sizes are elapsed seconds of those instants.
 * (3) Candidates are compared by (cash-in class, weekday class, date),
 *     strictly: among equals the earliest date wins.
 */
#include "calendar.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "clock.h"

#define MIN_WINDOW_DEFAULT_S (30 * 60) /* no schedule: §4.9 */
#define LOOK_DAYS            366       /* dates after E's looked at */
#define CASH_IN_AHEAD        3         /* D+1 ... D+3 */

static const char *const weekday_names[7] = { "Monday", "Tuesday", "Wednesday",
	"Thursday", "Friday", "Saturday", "Sunday" };

static const char *const rank_names[] = {
	[CAL_RANK_FIRST] = "first",
	[CAL_RANK_CASH_IN] = "cash_in",
	[CAL_RANK_PREFER] = "prefer",
	[CAL_RANK_NEUTRAL] = "neutral",
	[CAL_RANK_AVOID] = "avoid",
	[CAL_RANK_NONE] = "none",
};

/* The whole day: the hours of a schedule-less task without a calendar. */
static const struct cal_hours whole_day = { 0, 24 * 60 };

int
cal_weekday(int32_t day)
{
	/* 1970-01-01 (day 0) was a Thursday (3). */
	int r = (int)((day + 3) % 7);

	return r < 0 ? r + 7 : r;
}

const char *
cal_weekday_name(int wd)
{
	assert(wd >= 0 && wd < 7);
	return weekday_names[wd];
}

const char *
cal_rank_name(enum cal_rank r)
{
	return rank_names[r];
}

/* Binary search of an ascending array of dates. */
static bool
has_date(const int32_t *v, size_t n, int32_t day)
{
	size_t lo = 0, hi = n, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (v[mid] == day)
			return true;
		if (v[mid] < day)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

bool
cal_is_workday(const struct calendar *cal, int32_t day)
{
	if (cal == NULL)
		return true;
	if (has_date(cal->extra_workdays, cal->nextra, day))
		return true;
	return (cal->workdays & (1u << cal_weekday(day))) &&
	    !has_date(cal->holidays, cal->nholidays, day);
}

static bool
is_taken(const struct cal_request *req, int32_t day)
{
	size_t i;

	for (i = 0; i < req->ntaken; i++) {
		if (req->taken[i] == day)
			return true;
	}
	return false;
}

/*
 * One local date's bounds.  A date of exactly 24 hours has one offset
 * throughout (clock.h: offset changes are days apart, and one inside the
 * date would change its length), so its bound of local time m is its
 * start + m minutes: two clock lookups per date, shared with the next
 * date, instead of two per window.  Other dates ask clock for each bound.
 */
struct day {
	int32_t day;
	int64_t start, end; /* [first instant, next date's first instant) */
	bool uniform;       /* end - start == 24 h */
};

static void
day_init(struct day *d, int32_t day)
{
	d->day = day;
	d->start = clock_day_start(day);
	d->end = clock_day_start(day + 1);
	d->uniform = d->end - d->start == CLOCK_DAY;
}

/* The bound of local time minutes (0-1440) on the date (invariant (2)). */
static int64_t
bound(const struct day *d, int minutes)
{
	if (minutes >= 24 * 60)
		return d->end;
	if (d->uniform)
		return d->start + (int64_t)minutes * 60;
	return clock_day_at(d->day, minutes);
}

/* The seconds of the date's windows at or after emit. */
static int64_t
slot_seconds(
    const struct cal_hours *h, size_t nh, const struct day *d, int64_t emit)
{
	int64_t total = 0, from, to;
	size_t i;

	if (d->end <= emit)
		return 0;
	for (i = 0; i < nh; i++) {
		to = bound(d, h[i].end_min);
		if (to <= emit)
			continue;
		from = bound(d, h[i].start_min);
		if (from < emit)
			from = emit;
		if (from < to)
			total += to - from;
	}
	return total;
}

/* Days in month m (1-12) of year y. */
static int
month_days(int y, int m)
{
	static const int days[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31,
		30, 31 };

	if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return 29;
	return days[m - 1];
}

/*
 * Cash-in class (§4.9): the k in 1-3 for which D+k is the account's
 * cash-in day of its month (min(C, the month's days)), 0 = none.  *dom
 * gets that day of month.
 */
static int
cash_in_ahead(int32_t day, int cash_in_day, int *dom)
{
	int y, m, d, k, target;

	for (k = 1; k <= CASH_IN_AHEAD; k++) {
		clock_civil_from_days(day + k, &y, &m, &d);
		target = month_days(y, m);
		if (cash_in_day < target)
			target = cash_in_day;
		if (d == target) {
			*dom = d;
			return k;
		}
	}
	return 0;
}

/* A candidate's classes, lower is better (invariant (3)). */
struct cand {
	int32_t day;
	int cash;  /* 0 = before the cash-in day, 1 = not */
	int wdcls; /* position in prefer; nprefer; nprefer + 1 = avoided */
	int wdpos; /* position in prefer, -1 = not there */
	int ahead; /* cash == 0: D + ahead is the cash-in day */
	int dom;   /* that day of month */
};

static void
classify(const struct cal_request *req, int32_t day, struct cand *c)
{
	const struct cal_schedule *s = req->sch;
	int wd = cal_weekday(day);
	size_t i;

	c->day = day;
	c->cash = 1;
	c->ahead = 0;
	c->dom = 0;
	c->wdpos = -1;
	c->wdcls = (int)s->nprefer;
	if (s->cash_in && req->cash_in_day >= 1 && req->cash_in_day <= 31 &&
	    (c->ahead = cash_in_ahead(day, req->cash_in_day, &c->dom)) > 0)
		c->cash = 0;
	for (i = 0; i < s->nprefer; i++) {
		if (s->prefer[i] == wd) {
			c->wdcls = c->wdpos = (int)i;
			return;
		}
	}
	if (s->avoid & (1u << wd))
		c->wdcls = (int)s->nprefer + 1;
}

static bool
better(const struct cand *a, const struct cand *b)
{
	if (a->cash != b->cash)
		return a->cash < b->cash;
	return a->wdcls < b->wdcls; /* equal: the earlier date, b, stays */
}

/* E ... E + 24 h, rank none. */
static void
window_none(struct cal_window *w, int64_t emit, const char *why)
{
	w->not_before = emit;
	w->not_after = emit + 24 * 3600;
	w->parts[0][0] = w->not_before;
	w->parts[0][1] = w->not_after;
	w->nparts = 1;
	w->rank = CAL_RANK_NONE;
	snprintf(w->reason, sizeof(w->reason), "%s", why);
}

/* D's windows cut to instants >= emit, the empty ones left out. */
static void
fill_parts(struct cal_window *w, const struct cal_hours *h, size_t nh,
    int32_t day, int64_t emit)
{
	struct day d;
	int64_t from, to;
	size_t i;

	day_init(&d, day);

	assert(nh <= CAL_PARTS_MAX);
	w->nparts = 0;
	for (i = 0; i < nh; i++) {
		from = bound(&d, h[i].start_min);
		to = bound(&d, h[i].end_min);
		if (from < emit)
			from = emit;
		if (from >= to)
			continue;
		w->parts[w->nparts][0] = from;
		w->parts[w->nparts][1] = to;
		w->nparts++;
	}
	assert(w->nparts > 0);
	w->not_before = w->parts[0][0];
	w->not_after = w->parts[w->nparts - 1][1];
}

/* What the dates skipped before the first slot were. */
struct skipped {
	bool holiday; /* a workday off (holidays) */
	bool dayoff;  /* a weekday not in workdays */
	bool taken;   /* an open task of the same type */
	bool late;    /* E's date was working, but too little was left */
};

static void
reason_first(struct cal_window *w, const struct skipped *sk, int32_t day,
    int32_t d0, int64_t emit)
{
	if (day == d0 && w->not_before == emit)
		snprintf(
		    w->reason, sizeof(w->reason), "first working time: now");
	else if (day == d0)
		snprintf(w->reason, sizeof(w->reason),
		    "first working time, later today");
	else if (sk->holiday)
		snprintf(w->reason, sizeof(w->reason),
		    "first working time after the holiday");
	else if (sk->taken)
		snprintf(w->reason, sizeof(w->reason),
		    "first working day without another open task of this type");
	else if (sk->late)
		snprintf(w->reason, sizeof(w->reason),
		    "first working time: the next working day");
	else
		snprintf(w->reason, sizeof(w->reason),
		    "first working time after the days off (%s)",
		    cal_weekday_name(cal_weekday(day)));
}

static void
reason_ranked(struct cal_window *w, const struct cal_schedule *s,
    const struct cand *c, int cash_in_day, int ncand)
{
	const char *wd = cal_weekday_name(cal_weekday(c->day));

	if (c->cash == 0) {
		w->rank = CAL_RANK_CASH_IN;
		if (c->dom != cash_in_day)
			snprintf(w->reason, sizeof(w->reason),
			    "%s, %d day%s before cash-in day %d (the %dth this month)",
			    wd, c->ahead, c->ahead == 1 ? "" : "s", cash_in_day,
			    c->dom);
		else
			snprintf(w->reason, sizeof(w->reason),
			    "%s, %d day%s before cash-in day %d", wd, c->ahead,
			    c->ahead == 1 ? "" : "s", cash_in_day);
	} else if (c->wdpos == 0) {
		w->rank = CAL_RANK_PREFER;
		snprintf(w->reason, sizeof(w->reason), "%s preferred", wd);
	} else if (c->wdpos > 0) {
		w->rank = CAL_RANK_PREFER;
		snprintf(w->reason, sizeof(w->reason),
		    "%s preferred (choice %d of %zu)", wd, c->wdpos + 1,
		    s->nprefer);
	} else if (c->wdcls == (int)s->nprefer) {
		w->rank = CAL_RANK_NEUTRAL;
		snprintf(w->reason, sizeof(w->reason),
		    "%s: no preferred day among the %d candidate days", wd,
		    ncand);
	} else {
		w->rank = CAL_RANK_AVOID;
		snprintf(w->reason, sizeof(w->reason),
		    "%s avoided, but so are the other %d candidate days", wd,
		    ncand - 1);
	}
}

void
cal_window_choose(const struct cal_request *req, struct cal_window *w)
{
	const struct calendar *cal = req->cal;
	const struct cal_schedule *sch = req->sch;
	const struct cal_hours *hours;
	struct skipped sk = { false, false, false, false };
	struct cand best = { 0 }, c = { 0 };
	struct day dd;
	size_t nhours;
	int64_t min_s, emit = req->emit;
	int32_t d0, day, last;
	int want, ncand = 0;

	if (cal == NULL && sch == NULL) {
		window_none(w, emit,
		    "no calendar and no schedule: any time within 24 hours");
		return;
	}
	if (sch != NULL) {
		hours = sch->hours;
		nhours = sch->nhours;
		min_s = sch->min_window_s;
	} else {
		hours = cal->hours;
		nhours = cal->nhours;
		min_s = MIN_WINDOW_DEFAULT_S;
	}
	if (nhours == 0) { /* cannot come from the loader */
		hours = &whole_day;
		nhours = 1;
	}
	want = 1;
	if (sch != NULL && !req->first_only)
		want += sch->defer_days;
	d0 = clock_local_date(emit);
	last = d0 + LOOK_DAYS;
	/* Invariant (1): stop as soon as every candidate is found. */
	for (day = d0; day <= last && ncand < want; day++) {
		if (!cal_is_workday(cal, day)) {
			if (ncand == 0 && cal != NULL) {
				if (cal->workdays & (1u << cal_weekday(day)))
					sk.holiday = true;
				else
					sk.dayoff = true;
			}
			continue;
		}
		if (req->ntaken > 0 && is_taken(req, day)) {
			sk.taken |= ncand == 0;
			continue;
		}
		day_init(&dd, day);
		if (slot_seconds(hours, nhours, &dd, emit) < min_s) {
			sk.late |= ncand == 0 && day == d0;
			continue;
		}
		if (sch != NULL)
			classify(req, day, &c);
		else
			c.day = day;
		if (ncand == 0 || better(&c, &best))
			best = c;
		ncand++;
	}
	if (ncand == 0) {
		window_none(w, emit,
		    "no working time within 366 days: any time within 24 hours");
		return;
	}
	fill_parts(w, hours, nhours, best.day, emit);
	if (ncand == 1) {
		w->rank = CAL_RANK_FIRST;
		reason_first(w, &sk, best.day, d0, emit);
		return;
	}
	reason_ranked(w, sch, &best, req->cash_in_day, ncand);
}
