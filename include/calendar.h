/*
 * calendar — working time (interfaces.md §4.9): the rule set's calendar
 * and schedules, and the window of a task chosen from them at emission.
 *
 * The loader (rules) fills struct calendar and struct cal_schedule; the
 * window of one task is a pure function of them, the emission moment,
 * the account's cash-in day and the dates already taken by open tasks
 * of the same type.  It looks at most 367 local dates and costs
 * microseconds: no scan of the year per task.
 */
#ifndef DUNND_CALENDAR_H
#define DUNND_CALENDAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Weekdays as bits: bit 0 = mon ... bit 6 = sun. */
#define CAL_MON 0
#define CAL_SUN 6

/* One window of a day, local minutes after midnight, start < end <= 1440. */
struct cal_hours {
	int start_min, end_min;
};

struct calendar {
	unsigned workdays;       /* weekday bits; default mon-fri */
	struct cal_hours *hours; /* ascending, no overlaps; default 09-18 */
	size_t nhours;
	int32_t *holidays; /* day numbers (clock.h), ascending, unique */
	size_t nholidays;
	int32_t *extra_workdays; /* ascending, unique */
	size_t nextra;
};

struct cal_schedule {
	const char *name;
	const char *file;
	int line;
	uint32_t types; /* bit (1 << enum rules_task_type) per listed type */
	/*
	 * The schedule's own hours narrowed by the calendar's (the
	 * intersection, window by window); the calendar's when it has none.
	 */
	struct cal_hours *hours;
	size_t nhours;
	int prefer[7]; /* weekdays (0 = mon), best first */
	size_t nprefer;
	unsigned avoid;       /* weekday bits */
	int defer_days;       /* 0-31 */
	int64_t min_window_s; /* default 30 min */
	bool cash_in;
};

enum cal_rank {
	CAL_RANK_FIRST,
	CAL_RANK_CASH_IN,
	CAL_RANK_PREFER,
	CAL_RANK_NEUTRAL,
	CAL_RANK_AVOID,
	CAL_RANK_NONE,
};

#define CAL_PARTS_MAX 48 /* windows of one day, at most */

/* What a task's window is chosen from. */
struct cal_request {
	const struct calendar *cal;     /* NULL: no calendar (all working) */
	const struct cal_schedule *sch; /* NULL: none */
	int64_t emit;                   /* E: the emission moment */
	bool first_only; /* only the first slot (held/paused step, approval) */
	int cash_in_day; /* 1-31, 0 = unknown */
	/* Local dates that already hold an open task of this type. */
	const int32_t *taken;
	size_t ntaken;
};

/* The chosen window (§4.9, §5). */
struct cal_window {
	int64_t not_before, not_after;
	int64_t parts[CAL_PARTS_MAX][2]; /* [from, to) */
	size_t nparts;
	enum cal_rank rank;
	char reason[128];
};

/*
 * Chooses the window of a task emitted at req->emit (§4.9): the first
 * slot and the defer_days slots after it, compared by (cash-in class,
 * weekday class, date); E ... E + 24 h when there is no slot within 366
 * days, or neither calendar nor schedule.
 */
void cal_window_choose(const struct cal_request *req, struct cal_window *w);

/* Whether local date day is a working day of cal (NULL: every day). */
bool cal_is_workday(const struct calendar *cal, int32_t day);

/* The weekday of local date day: 0 = mon ... 6 = sun. */
int cal_weekday(int32_t day);
/* "Monday" ... "Sunday" for 0 ... 6. */
const char *cal_weekday_name(int wd);

/* "first", "cash_in", "prefer", "neutral", "avoid", "none". */
const char *cal_rank_name(enum cal_rank r);

#endif
