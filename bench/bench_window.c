/*
 * bench_window — the cost of a task's window (interfaces.md §4.9) with the
 * default rule set's calendar and schedules (rules/), against target P10
 * of targets.md: at most 2 µs per task.
 *
 * Two mixes, in CPU time of this one thread (the machine may be shared):
 * a night sweep (every task emitted at the same local midnight, as the
 * daily sweep emits them) and spread emissions (moments scattered over
 * 120 days of 2026, holidays included, as batches emit them).  Tasks cycle through the schedules of the set
 * and the calendar alone; a quarter of the accounts have a cash-in day,
 * one task in eight has a taken date.  Not a test: it prints figures.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "calendar.h"
#include "clock.h"
#include "rules.h"
#include "util.h"

#define TARGET_US 2.0 /* P10 */
#define NTASKS    100000
#define ROUNDS    5

/* A small deterministic generator: the same mix on every run. */
static uint64_t rng = 88172645463325252ULL;

static uint64_t
next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

struct task {
	int64_t emit;
	const struct cal_schedule *sch;
	int cash_in_day;
	int32_t taken;
	size_t ntaken;
};

static void
make_tasks(const struct ruleset *rs, struct task *t, size_t n, bool night)
{
	int64_t start = clock_day_start(clock_days_from_civil(2026, 9, 1));
	size_t i, k;

	for (i = 0; i < n; i++) {
		if (night)
			t[i].emit = start;
		else
			t[i].emit =
			    start + (int64_t)(next_rand() % (120 * 86400));
		/* The schedules, then the calendar alone. */
		k = next_rand() % (rs->nschedules + 1);
		t[i].sch = k < rs->nschedules ? &rs->schedules[k] : NULL;
		t[i].cash_in_day =
		    next_rand() % 4 == 0 ? (int)(next_rand() % 31) + 1 : 0;
		t[i].ntaken = next_rand() % 8 == 0;
		t[i].taken =
		    clock_local_date(t[i].emit) + (int32_t)(next_rand() % 3);
	}
}

/* Seconds per window, the median of ROUNDS passes over the tasks. */
static double
run(const struct ruleset *rs, const struct task *t, size_t n, int64_t *checksum)
{
	struct cal_request req;
	struct cal_window w;
	double v[ROUNDS], t0;
	size_t i, r;

	for (r = 0; r < ROUNDS; r++) {
		t0 = bench_cpu();
		for (i = 0; i < n; i++) {
			memset(&req, 0, sizeof(req));
			req.cal = rs->cal;
			req.sch = t[i].sch;
			req.emit = t[i].emit;
			req.cash_in_day = t[i].cash_in_day;
			req.taken = &t[i].taken;
			req.ntaken = t[i].ntaken;
			cal_window_choose(&req, &w);
			*checksum += w.not_before - t[i].emit;
		}
		v[r] = (bench_cpu() - t0) / (double)n;
	}
	return bench_median(v, ROUNDS);
}

int
main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : "rules";
	struct ruleset *rs;
	struct diags ds;
	struct task *t;
	int64_t checksum = 0;
	double night, spread, worst;
	size_t i;

	if (clock_tz_set("Asia/Shanghai") == -1) {
		fprintf(stderr, "bench_window: no zone Asia/Shanghai\n");
		return 1;
	}
	diags_init(&ds);
	if ((rs = rules_load_dir(dir, &ds)) == NULL || rs->cal == NULL) {
		char line[1024];

		for (i = 0; i < ds.n; i++) {
			diag_format(&ds.v[i], line, sizeof(line));
			fprintf(stderr, "%s\n", line);
		}
		fprintf(stderr,
		    "bench_window: %s: no rule set with a calendar\n", dir);
		return 1;
	}
	diags_fini(&ds);
	t = xcalloc(NTASKS, sizeof(*t));
	make_tasks(rs, t, NTASKS, true);
	night = run(rs, t, NTASKS, &checksum);
	make_tasks(rs, t, NTASKS, false);
	spread = run(rs, t, NTASKS, &checksum);
	worst = night > spread ? night : spread;
	printf(
	    "windows (default calendar, %zu schedules, %d tasks x %d rounds, median):\n",
	    rs->nschedules, NTASKS, ROUNDS);
	printf(
	    "  night sweep (one emission moment): %8.3f us/task  %10.0f windows/s\n",
	    night * 1e6, 1 / night);
	printf(
	    "  spread over 120 days:              %8.3f us/task  %10.0f windows/s\n",
	    spread * 1e6, 1 / spread);
	printf(
	    "P10 target <= %.1f us per task: %s (%.3f us)  [checksum %lld]\n",
	    TARGET_US, worst * 1e6 <= TARGET_US ? "met" : "MISSED", worst * 1e6,
	    (long long)checksum);
	free(t);
	rules_free(rs);
	return 0;
}
