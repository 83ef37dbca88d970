/*
 * Unit tests of facts: every fact of interfaces.md §3 on hand-built
 * accounts, with the edge cases of its definition; the outcome tail
 * behind `unreached`; and facts_next_change().  Portfolio zone
 * Asia/Shanghai (no DST), one case in Europe/Berlin across the change
 * of 2026-03-29.  Expected instants were computed with python3 zoneinfo.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "facts.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
#define DAY      CLOCK_DAY

/* 2026-11-27, and 09:00 and the next midnight in Shanghai (+08:00). */
#define TODAY         20784
#define NOW           1795741200
#define NEXT_MIDNIGHT 1795795200

/* Europe/Berlin: CET until 2026-03-29T02:00+01:00, then CEST. */
#define BE_0328_1200 1774695600 /* 2026-03-28T12:00:00+01:00 */
#define BE_0329_0130 1774744200 /* 2026-03-29T01:30:00+01:00 */
#define BE_0329_1200 1774778400 /* 2026-03-29T12:00:00+02:00 */
#define BE_0330_0000 1774821600 /* 2026-03-30T00:00:00+02:00 */

static const int64_t windows_7_90[] = { 7 * DAY, 90 * DAY };

static struct facts_params params = {
	.trend_window = 6,
	.grace_days = 0,
	.windows = windows_7_90,
	.nwindows = NELEM(windows_7_90),
};

static struct facts_out out;

/* An open invoice: amount, open, disputed, due relative to TODAY. */
static struct acct_invoice
open_inv(int64_t amount, int64_t open, int64_t disputed, int32_t due_rel)
{
	struct acct_invoice iv = { 0 };

	iv.open = open;
	iv.disputed = disputed;
	iv.due = TODAY + due_rel;
	iv.issued = iv.due - 30;
	iv.settle_day = open < amount ? TODAY - 1 : INT32_MIN;
	return iv;
}

/* A settled invoice due on TODAY + due_rel, settled on TODAY + settle_rel. */
static struct acct_invoice
settled_inv(int32_t due_rel, int32_t settle_rel)
{
	struct acct_invoice iv = { 0 };

	iv.open = 0;
	iv.due = TODAY + due_rel;
	iv.issued = iv.due - 30;
	iv.settle_day = TODAY + settle_rel;
	return iv;
}

static struct acct_promise
promise(enum acct_verdict v, int64_t verdict_at, int64_t break_at)
{
	struct acct_promise pr = { 0 };

	pr.amount = 500;
	pr.verdict = v;
	pr.verdict_at = verdict_at;
	pr.break_at = break_at;
	return pr;
}

/* An account in stage 1 since a day ago, with invoices v[0..n). */
static void
acct_init(struct acct *a, struct acct_invoice *v, size_t n)
{
	size_t i;

	memset(a, 0, sizeof(*a));
	a->size = RULES_SIZE_MEDIUM;
	a->risk = -1;
	a->inv = v;
	a->ninv = (uint32_t)n;
	a->stage = 1;
	a->stage_entered = NOW - DAY;
	/* Arrival breaks ties of the invoice order; the tests list it. */
	for (i = 0; i < n; i++)
		v[i].seq = (uint32_t)i + 1;
}

/* Forgets a's outcomes (the tests' accounts own nothing else). */
static void
outcomes_free(struct acct *a)
{
	if (a->x != NULL)
		free(a->x->tail);
	free(a->x);
	a->x = NULL;
}

static const struct rules_factvals *
compute(const struct acct *a)
{
	facts_compute(a, &params, NOW, TODAY, &out);
	return &out.fv;
}

static int
setup(void **state)
{
	(void)state;
	if (clock_tz_set("Asia/Shanghai") == -1)
		return -1;
	facts_out_init(&out, NELEM(windows_7_90));
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	facts_out_fini(&out);
	return 0;
}

/* Each test starts from the defaults. */
static int
reset(void **state)
{
	(void)state;
	params.trend_window = 6;
	params.grace_days = 0;
	params.windows = windows_7_90;
	params.nwindows = NELEM(windows_7_90);
	return clock_tz_set("Asia/Shanghai");
}

static void
test_empty_account(void **state)
{
	static char *tags[] = { "vip", "legal_hold" };
	const struct rules_factvals *fv;
	struct acct a;

	(void)state;
	acct_init(&a, NULL, 0);
	a.tags = tags;
	a.ntags = NELEM(tags);
	fv = compute(&a);
	assert_int_equal(fv->balance, 0);
	assert_int_equal(fv->overdue_amount, 0);
	assert_int_equal(fv->disputed_amount, 0);
	assert_int_equal(fv->undisputed_overdue, 0);
	assert_int_equal(fv->overdue_invoices, 0);
	assert_int_equal(fv->days_overdue, 0);
	assert_false(fv->has_days_to_due);
	assert_true(fv->late_trend == 0);
	assert_false(fv->has_on_time_ratio);
	assert_false(fv->first_miss);
	assert_int_equal(fv->promises_broken[0], 0);
	assert_int_equal(fv->promises_kept[1], 0);
	assert_false(fv->promise_pending);
	assert_int_equal(fv->unreached, 0);
	assert_int_equal(fv->days_in_stage, 1);
	assert_int_equal(fv->stage, 1);
	assert_int_equal(fv->size, RULES_SIZE_MEDIUM);
	assert_false(fv->has_risk);
	assert_int_equal(fv->ntags, 2);
	assert_string_equal(fv->tags[1], "legal_hold");

	a.risk = 3;
	fv = compute(&a);
	assert_true(fv->has_risk);
	assert_int_equal(fv->risk, 3);

	/* A rule set without promises_* windows: NULL counts. */
	params.nwindows = 0;
	fv = compute(&a);
	assert_null(fv->promises_broken);
	assert_null(fv->promises_kept);
}

static void
test_partial_payment(void **state)
{
	struct acct_invoice v[] = {
		open_inv(1000, 400, 0, -1), /* overdue since today */
		open_inv(2000, 2000, 0, 10),
	};
	const struct rules_factvals *fv;
	struct acct a;

	(void)state;
	acct_init(&a, v, NELEM(v));
	fv = compute(&a);
	assert_int_equal(fv->balance, 2400);
	assert_int_equal(fv->overdue_amount, 400);
	assert_int_equal(fv->undisputed_overdue, 400);
	assert_int_equal(fv->disputed_amount, 0);
	assert_int_equal(fv->overdue_invoices, 1);
	assert_int_equal(fv->days_overdue, 1);
	assert_true(fv->has_days_to_due);
	assert_int_equal(fv->days_to_due, 10);
}

static void
test_dispute_on_overdue_invoice(void **state)
{
	struct acct_invoice v[] = {
		open_inv(1000, 1000, 300, -20),
		open_inv(500, 500, 0, 5),
	};
	const struct rules_factvals *fv;
	struct acct a;

	(void)state;
	acct_init(&a, v, NELEM(v));
	/* disputed <= open: the disputed part is 300. */
	fv = compute(&a);
	assert_int_equal(fv->balance, 1500);
	assert_int_equal(fv->overdue_amount, 1000);
	assert_int_equal(fv->disputed_amount, 300);
	assert_int_equal(fv->undisputed_overdue, 700);
	assert_int_equal(fv->overdue_invoices, 1);
	assert_int_equal(fv->days_overdue, 20);

	/* Payments of 800 reduced the undisputed part first: 200 open,
	 * all of it disputed (min(300, 200)). */
	v[0].open = 200;
	fv = compute(&a);
	assert_int_equal(fv->balance, 700);
	assert_int_equal(fv->overdue_amount, 200);
	assert_int_equal(fv->disputed_amount, 200);
	assert_int_equal(fv->undisputed_overdue, 0);
	assert_int_equal(fv->overdue_invoices, 0);
	assert_int_equal(fv->days_overdue, 0);
	assert_int_equal(fv->days_to_due, 5);

	/* A dispute of the whole of a not-yet-due invoice. */
	v[1].disputed = 500;
	fv = compute(&a);
	assert_int_equal(fv->disputed_amount, 700);
	assert_false(fv->has_days_to_due);
}

static void
test_overdue_invoices_skip_fully_disputed(void **state)
{
	struct acct_invoice v[] = {
		open_inv(1000, 1000, 1000, -40), /* fully disputed */
		open_inv(1000, 600, 100, -25),
		open_inv(1000, 1000, 0, -3),
		settled_inv(-2, -2),
	};
	const struct rules_factvals *fv;
	struct acct a;

	(void)state;
	acct_init(&a, v, NELEM(v));
	fv = compute(&a);
	assert_int_equal(fv->balance, 2600);
	assert_int_equal(fv->overdue_amount, 2600);
	assert_int_equal(fv->disputed_amount, 1100);
	assert_int_equal(fv->undisputed_overdue, 1500);
	assert_int_equal(fv->overdue_invoices, 2);
	/* The earliest counted one, not the fully disputed one. */
	assert_int_equal(fv->days_overdue, 25);
	assert_false(fv->has_days_to_due);
}

static void
test_days_to_due(void **state)
{
	struct acct_invoice v[] = {
		open_inv(1000, 1000, 0, -1),
		settled_inv(2, 0),             /* settled: skipped */
		open_inv(1000, 1000, 1000, 3), /* fully disputed: skipped */
		open_inv(1000, 1000, 0, 8),
	};
	const struct rules_factvals *fv;
	struct acct a;

	(void)state;
	acct_init(&a, v, NELEM(v));
	fv = compute(&a);
	assert_true(fv->has_days_to_due);
	assert_int_equal(fv->days_to_due, 8);

	/* Nothing open not yet due: absent. */
	acct_init(&a, v, 3);
	fv = compute(&a);
	assert_false(fv->has_days_to_due);
	assert_int_equal(fv->overdue_invoices, 1);
}

static void
test_due_today_is_not_overdue(void **state)
{
	struct acct_invoice v[] = {
		open_inv(1000, 1000, 0, 0),
	};
	const struct rules_factvals *fv;
	struct acct a;

	(void)state;
	acct_init(&a, v, NELEM(v));
	fv = compute(&a);
	assert_int_equal(fv->overdue_amount, 0);
	assert_int_equal(fv->overdue_invoices, 0);
	assert_int_equal(fv->days_overdue, 0);
	assert_true(fv->has_days_to_due);
	assert_int_equal(fv->days_to_due, 0);
	assert_true(fv->late_trend == 0);

	/* The next day it is overdue by one day. */
	facts_compute(&a, &params, NEXT_MIDNIGHT, TODAY + 1, &out);
	assert_int_equal(out.fv.overdue_amount, 1000);
	assert_int_equal(out.fv.overdue_invoices, 1);
	assert_int_equal(out.fv.days_overdue, 1);
	assert_false(out.fv.has_days_to_due);
}

static void
test_late_trend_few_points(void **state)
{
	struct acct_invoice v[] = {
		settled_inv(-60, -50), open_inv(1000, 1000, 0, -20),
		open_inv(1000, 1000, 0, 3), /* not overdue: no point */
	};
	struct acct a;

	(void)state;
	acct_init(&a, v, NELEM(v));
	assert_true(compute(&a)->late_trend == 0);
	acct_init(&a, NULL, 0);
	assert_true(compute(&a)->late_trend == 0);
}

static void
test_late_trend_slopes(void **state)
{
	/* d = 0, 2, 4: slope 2. */
	struct acct_invoice three[] = {
		settled_inv(-90, -90),
		settled_inv(-60, -58),
		settled_inv(-30, -26),
	};
	/*
	 * d = 1, 3, 2, 6, 8, the last one open (its disputed part does not
	 * matter): Σ(k - 2)(d - 4) = 6 + 1 + 0 + 2 + 8 = 17, Σ(k - 2)² = 10.
	 */
	struct acct_invoice five[] = {
		settled_inv(-150, -149),
		settled_inv(-120, -117),
		settled_inv(-90, -88),
		settled_inv(-40, -34),
		open_inv(1000, 700, 300, -8),
	};
	/* Early payments count as d = 0: d = 0, 0, 6 -> slope 3. */
	struct acct_invoice early[] = {
		settled_inv(-90, -95),
		settled_inv(-60, -61),
		open_inv(1000, 1000, 0, -6),
	};
	struct acct a;

	(void)state;
	acct_init(&a, three, NELEM(three));
	assert_true(compute(&a)->late_trend == 2.0);

	acct_init(&a, five, NELEM(five));
	assert_true(compute(&a)->late_trend == 1.7);
	/* The open point grows with the date: d = 1, 3, 2, 6, 18 -> 3.7. */
	facts_compute(&a, &params, NOW + 10 * DAY, TODAY + 10, &out);
	assert_true(out.fv.late_trend == 3.7);

	acct_init(&a, early, NELEM(early));
	assert_true(compute(&a)->late_trend == 3.0);
}

static void
test_late_trend_window(void **state)
{
	/*
	 * Eight points, d = 9, 9, 0, 1, 2, 3, 4, 5 with an open invoice
	 * not yet due after them (no point): with trend_window 6 only the
	 * last six count, d = 0 ... 5, slope 1.
	 */
	struct acct_invoice v[] = {
		settled_inv(-300, -291),
		settled_inv(-270, -261),
		settled_inv(-240, -240),
		settled_inv(-210, -209),
		settled_inv(-180, -178),
		settled_inv(-150, -147),
		settled_inv(-120, -116),
		open_inv(1000, 1000, 0, -5),
		open_inv(1000, 1000, 0, 30),
	};
	struct acct a;

	(void)state;
	acct_init(&a, v, NELEM(v));
	assert_true(compute(&a)->late_trend == 1.0);

	/*
	 * Exactly trend_window points, d = 9, 0, 1, 2, 3, 4:
	 * Σ(k - 2.5) d = -22.5 - 0.5 + 1 + 4.5 + 10 = -7.5, Σ(k - 2.5)² =
	 * 17.5, slope -3/7.
	 */
	acct_init(&a, v + 1, 6);
	assert_true(compute(&a)->late_trend == -3.0 / 7.0);

	/* trend_window 3: d = 3, 4, 5 -> 1; a window of 2 -> 0. */
	params.trend_window = 3;
	acct_init(&a, v, NELEM(v));
	assert_true(compute(&a)->late_trend == 1.0);
	params.trend_window = 2;
	assert_true(compute(&a)->late_trend == 0);
}

static void
test_credited_at_issue_is_settled(void **state)
{
	/* Fully credited on its issue day, before its due: on time. */
	struct acct_invoice v[] = {
		settled_inv(-50, -80),
		settled_inv(-40, -40),
		settled_inv(-30, -60),
		open_inv(1000, 1000, 0, -1),
	};
	const struct rules_factvals *fv;
	struct acct a;

	(void)state;
	acct_init(&a, v, NELEM(v));
	fv = compute(&a);
	assert_true(fv->has_on_time_ratio);
	assert_true(fv->on_time_ratio == 1.0);
	assert_true(fv->first_miss);
	assert_int_equal(fv->balance, 1000);
}

static void
test_on_time_ratio(void **state)
{
	struct acct_invoice v[] = {
		settled_inv(-100, -90), /* 10 days late */
		settled_inv(-80, -80),  /* on the due day */
		settled_inv(-60, -58),  /* 2 late */
		settled_inv(-40, -37),  /* 3 late */
		open_inv(1000, 1000, 0, -5),
	};
	const struct rules_factvals *fv;
	struct acct a;

	(void)state;
	acct_init(&a, v, NELEM(v));
	fv = compute(&a);
	assert_true(fv->has_on_time_ratio);
	assert_true(fv->on_time_ratio == 0.25);

	params.grace_days = 2;
	assert_true(compute(&a)->on_time_ratio == 0.5);
	params.grace_days = 3;
	assert_true(compute(&a)->on_time_ratio == 0.75);

	/* Only the last trend_window settled: 3 of the last 3 with grace 3. */
	params.trend_window = 3;
	assert_true(compute(&a)->on_time_ratio == 1.0);

	/* Nothing settled: absent. */
	acct_init(&a, v + 4, 1);
	assert_false(compute(&a)->has_on_time_ratio);
}

static void
test_first_miss(void **state)
{
	struct acct_invoice v[] = {
		settled_inv(-90, -91),
		settled_inv(-60, -60),
		settled_inv(-30, -33),
		open_inv(1000, 1000, 0, -2),
	};
	struct acct_invoice late[] = {
		settled_inv(-120, -100), /* late, outside a window of 3 */
		settled_inv(-90, -91),
		settled_inv(-60, -60),
		settled_inv(-30, -33),
		open_inv(1000, 1000, 0, -2),
	};
	const struct rules_factvals *fv;
	struct acct a;

	(void)state;
	/* Exactly 3 settled on time + 1 overdue. */
	acct_init(&a, v, NELEM(v));
	fv = compute(&a);
	assert_true(fv->first_miss);
	assert_true(fv->on_time_ratio == 1.0);

	/* 2 settled: not enough history. */
	acct_init(&a, v + 1, 3);
	assert_false(compute(&a)->first_miss);

	/* Nothing overdue (the open invoice fully disputed). */
	acct_init(&a, v, NELEM(v));
	v[3].disputed = 1000;
	assert_false(compute(&a)->first_miss);
	v[3].disputed = 0;

	/* One settled late. */
	v[1].settle_day = v[1].due + 1;
	assert_false(compute(&a)->first_miss);
	/* ... within grace_days: on time again. */
	params.grace_days = 1;
	assert_true(compute(&a)->first_miss);
	params.grace_days = 0;

	/*
	 * ≥ 3 settled counts all of them; the ratio only the window: with
	 * trend_window 3 the late one is out of the window.
	 */
	acct_init(&a, late, NELEM(late));
	assert_false(compute(&a)->first_miss);
	params.trend_window = 3;
	assert_true(compute(&a)->first_miss);
	/* A window of 2 holds 2 settled, yet 4 exist: still true. */
	params.trend_window = 2;
	assert_true(compute(&a)->first_miss);
}

static void
test_promise_windows(void **state)
{
	struct acct_promise pr[] = {
		/* Broken exactly 7 days ago: out of 7d, in 90d. */
		promise(ACCT_BROKEN, NOW - 7 * DAY, NOW - 7 * DAY),
		/* Broken now: in both. */
		promise(ACCT_BROKEN, NOW, NOW),
		/* Broken 90 days ago: in neither. */
		promise(ACCT_BROKEN, NOW - 90 * DAY, NOW - 90 * DAY),
		/* Kept one second inside 90d. */
		promise(ACCT_KEPT, NOW - 90 * DAY + 1, NOW),
		/* Kept one second inside 7d. */
		promise(ACCT_KEPT, NOW - 7 * DAY + 1, NOW + DAY),
		/* Kept in the future (never by the contract): not counted. */
		promise(ACCT_KEPT, NOW + 1, NOW + DAY),
	};
	const struct rules_factvals *fv;
	struct acct a;

	(void)state;
	acct_init(&a, NULL, 0);
	a.prom = pr;
	a.nprom = NELEM(pr);
	fv = compute(&a);
	assert_int_equal(fv->promises_broken[0], 1);
	assert_int_equal(fv->promises_broken[1], 2);
	assert_int_equal(fv->promises_kept[0], 1);
	assert_int_equal(fv->promises_kept[1], 2);
	assert_false(fv->promise_pending);

	pr[5].verdict = ACCT_PENDING;
	fv = compute(&a);
	assert_true(fv->promise_pending);
	assert_int_equal(fv->promises_kept[1], 2);
}

static void
test_many_windows(void **state)
{
	int64_t w[12];
	struct acct_promise pr[] = {
		promise(ACCT_BROKEN, NOW - 5 * DAY - 1, NOW - 5 * DAY),
		promise(ACCT_KEPT, NOW - 10 * DAY, NOW),
	};
	struct facts_out big;
	struct acct a;
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(w); i++)
		w[i] = (int64_t)(i + 1) * DAY;
	params.windows = w;
	params.nwindows = NELEM(w);
	facts_out_init(&big, NELEM(w));
	acct_init(&a, NULL, 0);
	a.prom = pr;
	a.nprom = NELEM(pr);
	facts_compute(&a, &params, NOW, TODAY, &big);
	for (i = 0; i < NELEM(w); i++) {
		assert_int_equal(big.fv.promises_broken[i], i >= 5);
		assert_int_equal(big.fv.promises_kept[i], i >= 10);
	}
	facts_out_fini(&big);
}

static void
test_unreached(void **state)
{
	struct acct a;

	(void)state;
	acct_init(&a, NULL, 0);
	/* no_answer, wrong_contact before any other outcome: 2. */
	facts_outcome_add(&a, NOW - 100, 1, true);
	facts_outcome_add(&a, NOW - 90, 2, true);
	assert_int_equal(compute(&a)->unreached, 2);

	/* reached at -80: the tail is gone. */
	facts_outcome_add(&a, NOW - 80, 3, false);
	assert_int_equal(compute(&a)->unreached, 0);
	facts_outcome_add(&a, NOW - 70, 4, true);
	facts_outcome_add(&a, NOW - 50, 5, true);
	assert_int_equal(compute(&a)->unreached, 2);

	/* Late arrivals: an unreached one older than the last other
	 * changes nothing; one between -70 and -50 is counted. */
	facts_outcome_add(&a, NOW - 85, 6, true);
	assert_int_equal(compute(&a)->unreached, 2);
	facts_outcome_add(&a, NOW - 60, 7, true);
	assert_int_equal(compute(&a)->unreached, 3);
	assert_int_equal(a.x->tail[1].at, NOW - 60);

	/* An other outcome older than the last other: nothing. */
	facts_outcome_add(&a, NOW - 95, 8, false);
	assert_int_equal(compute(&a)->unreached, 3);
	assert_int_equal(a.x->last_other.at, NOW - 80);

	/* An other one arriving late at -65: drops the tail before it. */
	facts_outcome_add(&a, NOW - 65, 9, false);
	assert_int_equal(compute(&a)->unreached, 2);
	assert_int_equal(a.x->last_other.arrival, 9);
	assert_int_equal(a.x->tail[0].at, NOW - 60);
	assert_int_equal(a.x->tail[1].at, NOW - 50);

	/* Same at: arrival decides.  An other one at -50 arriving later
	 * than the unreached at -50 follows it: the tail empties. */
	facts_outcome_add(&a, NOW - 50, 10, false);
	assert_int_equal(compute(&a)->unreached, 0);
	/* An unreached one at -50 arriving later still follows it. */
	facts_outcome_add(&a, NOW - 50, 11, true);
	assert_int_equal(compute(&a)->unreached, 1);

	/* Growth past the first capacity, out of order. */
	facts_outcome_add(&a, NOW - 10, 12, true);
	facts_outcome_add(&a, NOW - 30, 13, true);
	facts_outcome_add(&a, NOW - 20, 14, true);
	facts_outcome_add(&a, NOW - 40, 15, true);
	facts_outcome_add(&a, NOW, 16, true);
	assert_int_equal(compute(&a)->unreached, 6);
	assert_int_equal(a.x->tail[0].arrival, 11);
	assert_int_equal(a.x->tail[1].at, NOW - 40);
	assert_int_equal(a.x->tail[2].at, NOW - 30);
	assert_int_equal(a.x->tail[3].at, NOW - 20);
	assert_int_equal(a.x->tail[4].at, NOW - 10);
	assert_int_equal(a.x->tail[5].at, NOW);

	outcomes_free(&a);
	assert_int_equal(compute(&a)->unreached, 0);

	/* An other outcome first, on an account without a tail yet. */
	facts_outcome_add(&a, NOW - 10, 20, false);
	assert_int_equal(compute(&a)->unreached, 0);
	assert_null(a.x->tail);
	facts_outcome_add(&a, NOW - 20, 21, true);
	assert_int_equal(compute(&a)->unreached, 0);
	facts_outcome_add(&a, NOW - 5, 22, true);
	assert_int_equal(compute(&a)->unreached, 1);
	/* Equal instants: arrival orders them, whatever the call order. */
	facts_outcome_add(&a, NOW - 5, 26, true);
	facts_outcome_add(&a, NOW - 5, 24, true);
	assert_int_equal(a.x->tail[0].arrival, 22);
	assert_int_equal(a.x->tail[1].arrival, 24);
	assert_int_equal(a.x->tail[2].arrival, 26);
	facts_outcome_add(&a, NOW - 5, 25, false); /* an other between */
	assert_int_equal(compute(&a)->unreached, 1);
	assert_int_equal(a.x->tail[0].arrival, 26);
	outcomes_free(&a);
}

static void
test_days_in_stage(void **state)
{
	struct acct a;

	(void)state;
	acct_init(&a, NULL, 0);
	a.stage_entered = NOW - DAY + 1; /* 23:59:59 ago */
	assert_int_equal(compute(&a)->days_in_stage, 0);
	a.stage_entered = NOW - DAY; /* 24:00:00 ago */
	assert_int_equal(compute(&a)->days_in_stage, 1);
	a.stage_entered = NOW - 2 * DAY + 1;
	assert_int_equal(compute(&a)->days_in_stage, 1);
	a.stage_entered = NOW;
	assert_int_equal(compute(&a)->days_in_stage, 0);
}

/* Whole 24-hour periods and local midnights across a DST change. */
static void
test_berlin_dst(void **state)
{
	struct acct_invoice v[] = {
		open_inv(1000, 1000, 0, 0),
	};
	int32_t d0328 = clock_days_from_civil(2026, 3, 28);
	struct acct a;

	(void)state;
	assert_int_equal(clock_tz_set("Europe/Berlin"), 0);
	acct_init(&a, v, NELEM(v));
	v[0].due = d0328;
	a.stage_entered = BE_0328_1200;

	/* Noon to noon across the change is 23 h: not a whole period. */
	facts_compute(&a, &params, BE_0329_1200, d0328 + 1, &out);
	assert_int_equal(out.fv.days_in_stage, 0);
	assert_int_equal(out.fv.days_overdue, 1);
	facts_compute(&a, &params, BE_0329_1200 + 3600, d0328 + 1, &out);
	assert_int_equal(out.fv.days_in_stage, 1);

	/* The tick is entry + 24 h (13:00 CEST), not the local noon. */
	assert_int_equal(facts_next_change(&a, &params,
	                     1u << RULES_FACT_DAYS_IN_STAGE, BE_0329_1200),
	    BE_0328_1200 + DAY);
	/* The next midnight is 21.5 h after 01:30 CET (a 23-hour day). */
	assert_int_equal(facts_next_change(&a, &params,
	                     1u << RULES_FACT_DAYS_OVERDUE, BE_0329_0130),
	    BE_0330_0000);
	assert_int_equal(BE_0330_0000 - BE_0329_0130, 21 * 3600 + 1800);
	/* Due 03-29: overdue from the start of 03-30. */
	v[0].due = d0328 + 1;
	assert_int_equal(facts_next_change(&a, &params,
	                     1u << RULES_FACT_OVERDUE_INVOICES, BE_0328_1200),
	    BE_0330_0000);
}

static void
test_next_change_none(void **state)
{
	struct acct_invoice v[] = {
		settled_inv(-90, -91),
		settled_inv(-60, -50),
		settled_inv(-30, -33),
	};
	struct acct a;

	(void)state;
	acct_init(&a, NULL, 0);
	assert_int_equal(facts_next_change(&a, &params, 0, NOW), INT64_MAX);
	/* Every fact but days_in_stage, on an empty account. */
	assert_int_equal(facts_next_change(&a, &params,
	                     ((1u << RULES_FACT_COUNT) - 1) &
	                         ~(1u << RULES_FACT_DAYS_IN_STAGE),
	                     NOW),
	    INT64_MAX);
	/* Settled invoices only: nothing moves with the date. */
	acct_init(&a, v, NELEM(v));
	assert_int_equal(facts_next_change(&a, &params,
	                     ((1u << RULES_FACT_COUNT) - 1) &
	                         ~(1u << RULES_FACT_DAYS_IN_STAGE),
	                     NOW),
	    INT64_MAX);
}

static void
test_next_change_midnight(void **state)
{
	struct acct_invoice v[] = {
		open_inv(1000, 1000, 0, -3),
		open_inv(1000, 1000, 1000, 2), /* fully disputed */
		open_inv(1000, 1000, 0, 5),
	};
	int64_t after2 = clock_day_start(TODAY + 3);
	int64_t after5 = clock_day_start(TODAY + 6);
	struct acct a;

	(void)state;
	acct_init(&a, v, NELEM(v));
	/* Overdue already: days_overdue grows at each midnight. */
	assert_int_equal(
	    facts_next_change(&a, &params, 1u << RULES_FACT_DAYS_OVERDUE, NOW),
	    NEXT_MIDNIGHT);
	/* days_to_due shrinks at each midnight. */
	assert_int_equal(
	    facts_next_change(&a, &params, 1u << RULES_FACT_DAYS_TO_DUE, NOW),
	    NEXT_MIDNIGHT);
	/* overdue_amount: when the disputed invoice falls due (+2). */
	assert_int_equal(facts_next_change(
	                     &a, &params, 1u << RULES_FACT_OVERDUE_AMOUNT, NOW),
	    after2);
	/* overdue_invoices, undisputed_overdue: only the +5 one counts. */
	assert_int_equal(facts_next_change(&a, &params,
	                     1u << RULES_FACT_OVERDUE_INVOICES, NOW),
	    after5);
	assert_int_equal(facts_next_change(&a, &params,
	                     1u << RULES_FACT_UNDISPUTED_OVERDUE, NOW),
	    after5);
	/* Balance, disputed_amount, on_time_ratio: never by time. */
	assert_int_equal(facts_next_change(&a, &params,
	                     (1u << RULES_FACT_BALANCE) |
	                         (1u << RULES_FACT_DISPUTED_AMOUNT) |
	                         (1u << RULES_FACT_ON_TIME_RATIO) |
	                         (1u << RULES_FACT_UNREACHED),
	                     NOW),
	    INT64_MAX);

	/* Without an overdue one, days_overdue starts at +5's end. */
	acct_init(&a, v + 1, 2);
	assert_int_equal(
	    facts_next_change(&a, &params, 1u << RULES_FACT_DAYS_OVERDUE, NOW),
	    after5);
	/* Due today: tomorrow is overdue. */
	v[2].due = TODAY;
	assert_int_equal(facts_next_change(&a, &params,
	                     1u << RULES_FACT_OVERDUE_INVOICES, NOW),
	    NEXT_MIDNIGHT);
}

static void
test_next_change_trend_first_miss(void **state)
{
	struct acct_invoice v[] = {
		settled_inv(-90, -91),
		settled_inv(-60, -60),
		open_inv(1000, 1000, 0, -10),
		open_inv(1000, 1000, 0, 4),
	};
	const uint32_t trend = 1u << RULES_FACT_LATE_TREND;
	const uint32_t miss = 1u << RULES_FACT_FIRST_MISS;
	struct acct a;

	(void)state;
	/* Three points, one open: the slope moves at midnight. */
	acct_init(&a, v, NELEM(v));
	assert_int_equal(
	    facts_next_change(&a, &params, trend, NOW), NEXT_MIDNIGHT);
	/* Two points: 0 until the +4 one becomes a point. */
	acct_init(&a, v + 1, 3);
	assert_int_equal(facts_next_change(&a, &params, trend, NOW),
	    clock_day_start(TODAY + 5));
	/* The open point out of a window of 2 settled-only points. */
	{
		struct acct_invoice w[] = {
			open_inv(1000, 1000, 0, -10),
			settled_inv(-5, -5),
			settled_inv(-3, -4),
			settled_inv(-1, -1),
		};

		params.trend_window = 3;
		acct_init(&a, w, NELEM(w));
		assert_int_equal(
		    facts_next_change(&a, &params, trend, NOW), INT64_MAX);
		params.trend_window = 4;
		assert_int_equal(
		    facts_next_change(&a, &params, trend, NOW), NEXT_MIDNIGHT);
		params.trend_window = 6;
	}

	/* first_miss: 3 on time, nothing overdue, one falling due at +4. */
	v[2] = settled_inv(-30, -30);
	acct_init(&a, v, NELEM(v));
	assert_false(compute(&a)->first_miss);
	assert_int_equal(facts_next_change(&a, &params, miss, NOW),
	    clock_day_start(TODAY + 5));
	/* Already a miss: only events change it. */
	v[3].due = TODAY - 1;
	assert_true(compute(&a)->first_miss);
	assert_int_equal(facts_next_change(&a, &params, miss, NOW), INT64_MAX);
	/* A late one: the ratio stays < 1 whatever the date. */
	v[3].due = TODAY + 4;
	v[0].settle_day = v[0].due + 3;
	assert_int_equal(facts_next_change(&a, &params, miss, NOW), INT64_MAX);
}

static void
test_next_change_promises(void **state)
{
	struct acct_promise pr[] = {
		promise(ACCT_PENDING, 0, NOW + 5 * 3600),
		promise(ACCT_BROKEN, NOW - 10 * DAY, NOW - 10 * DAY),
		promise(ACCT_KEPT, NOW - 3 * DAY, NOW + DAY),
	};
	const uint32_t pending = 1u << RULES_FACT_PROMISE_PENDING;
	const uint32_t broken = 1u << RULES_FACT_PROMISES_BROKEN;
	const uint32_t kept = 1u << RULES_FACT_PROMISES_KEPT;
	struct acct a;

	(void)state;
	acct_init(&a, NULL, 0);
	a.prom = pr;
	a.nprom = NELEM(pr);
	/* The pending one breaks in 5 h. */
	assert_int_equal(
	    facts_next_change(&a, &params, pending, NOW), NOW + 5 * 3600);
	assert_int_equal(
	    facts_next_change(&a, &params, broken, NOW), NOW + 5 * 3600);
	/* Kept: leaves 7d in 4 days. */
	assert_int_equal(
	    facts_next_change(&a, &params, kept, NOW), NOW + 4 * DAY);

	/* Without the pending one: the broken one leaves 90d in 80 days. */
	a.nprom = 2;
	a.prom = pr + 1;
	assert_int_equal(
	    facts_next_change(&a, &params, broken, NOW), NOW + 80 * DAY);
	assert_int_equal(
	    facts_next_change(&a, &params, pending, NOW), INT64_MAX);
	/* Exactly at the 7d edge it is out of 7d: next is 90d's end. */
	pr[1].verdict_at = NOW - 7 * DAY;
	assert_int_equal(
	    facts_next_change(&a, &params, broken, NOW), NOW + 83 * DAY);
	/* Out of every window: nothing. */
	pr[1].verdict_at = NOW - 90 * DAY;
	assert_int_equal(
	    facts_next_change(&a, &params, broken, NOW), INT64_MAX);
	/* A break moment already past (verdict not yet given): not > now. */
	pr[1].verdict = ACCT_PENDING;
	pr[1].break_at = NOW;
	assert_int_equal(
	    facts_next_change(&a, &params, broken, NOW), INT64_MAX);
}

static void
test_next_change_stage_tick_and_min(void **state)
{
	struct acct_invoice v[] = {
		open_inv(1000, 1000, 0, -3),
	};
	struct acct_promise pr[] = {
		promise(ACCT_PENDING, 0, NOW + 3600),
	};
	const uint32_t dis = 1u << RULES_FACT_DAYS_IN_STAGE;
	struct acct a;

	(void)state;
	acct_init(&a, NULL, 0);
	a.stage_entered = NOW - DAY - DAY / 2;
	assert_int_equal(facts_next_change(&a, &params, dis, NOW),
	    a.stage_entered + 2 * DAY);
	/* On a tick: the next one. */
	a.stage_entered = NOW - DAY;
	assert_int_equal(facts_next_change(&a, &params, dis, NOW), NOW + DAY);
	/* Entered now: in 24 h. */
	a.stage_entered = NOW;
	assert_int_equal(facts_next_change(&a, &params, dis, NOW), NOW + DAY);

	/* The earliest of several: break in 1 h, midnight in 15 h. */
	acct_init(&a, v, NELEM(v));
	a.prom = pr;
	a.nprom = NELEM(pr);
	a.stage_entered = NOW - 10;
	assert_int_equal(facts_next_change(&a, &params,
	                     dis | (1u << RULES_FACT_DAYS_OVERDUE) |
	                         (1u << RULES_FACT_PROMISE_PENDING),
	                     NOW),
	    NOW + 3600);
	assert_int_equal(facts_next_change(&a, &params,
	                     dis | (1u << RULES_FACT_DAYS_OVERDUE), NOW),
	    NEXT_MIDNIGHT);
}

/*
 * Property: no tested fact changes strictly between now and
 * facts_next_change(now).  Facts move only at local midnights, break
 * moments, verdict moments + windows and days_in_stage ticks
 * (facts.c invariant (3)), so comparing the facts at every such moment
 * in between with those at now proves the answer is never late.
 * Pending promises whose break moment has passed are broken first, as
 * eval does (§4.4 step 1).
 */
#define PROP_INV  8
#define PROP_PROM 3
#define PROP_TAIL 64

static uint64_t prop_rng = 42;

static int
prop_rnd(int n)
{
	prop_rng = prop_rng * 6364136223846793005ULL + 1442695040888963407ULL;
	return (int)((prop_rng >> 33) % (uint64_t)n);
}

/* a last: struct acct ends in its flexible id (empty here). */
struct prop_acct {
	struct acct_invoice inv[PROP_INV];
	struct acct_promise prom[PROP_PROM];
	struct acct a;
};

static void
prop_gen(struct prop_acct *pa, int64_t now)
{
	int32_t today = clock_local_date(now), due = today - 60 + prop_rnd(30);
	struct acct_invoice *iv;
	struct acct_promise *pr;
	int i, n = prop_rnd(PROP_INV + 1);
	/* A good payer: what is due is paid on time (first_miss to come). */
	bool good = prop_rnd(3) == 0;

	acct_init(&pa->a, pa->inv, (size_t)n);
	for (i = 0; i < n; i++) {
		iv = &pa->inv[i];
		memset(iv, 0, sizeof(*iv));
		due += prop_rnd(15);
		iv->due = due;
		iv->issued = due - 30;
		iv->seq = (uint32_t)i + 1;
		if (good && due < today) {
			iv->settle_day = due - prop_rnd(3);
			continue;
		}
		switch (good ? 3 : prop_rnd(4)) {
		case 0:
		case 1:
			iv->settle_day = due + prop_rnd(9) - 4;
			break;
		case 2:
			iv->open = 1 + prop_rnd(1000);
			break;
		default:
			iv->open = 1000;
			break;
		}
		if (iv->open > 0 && prop_rnd(3) == 0)
			iv->disputed = 1 + prop_rnd(1200);
	}
	pa->a.prom = pa->prom;
	pa->a.nprom = (uint32_t)prop_rnd(PROP_PROM + 1);
	for (i = 0; i < (int)pa->a.nprom; i++) {
		pr = &pa->prom[i];
		memset(pr, 0, sizeof(*pr));
		pr->verdict = (enum acct_verdict)prop_rnd(3);
		pr->break_at = now + prop_rnd(10 * DAY) - 2 * DAY;
		if (pr->verdict == ACCT_PENDING && pr->break_at <= now)
			pr->break_at = now + 1 + prop_rnd(DAY);
		pr->verdict_at = now - prop_rnd(100 * DAY);
	}
	pa->a.stage_entered = now - prop_rnd(5 * DAY);
}

/* Gives the verdicts due by t, as eval does first (§4.4 step 1). */
static void
prop_verdicts(struct prop_acct *pa, int64_t t)
{
	size_t i;

	for (i = 0; i < pa->a.nprom; i++) {
		if (pa->prom[i].verdict == ACCT_PENDING &&
		    pa->prom[i].break_at <= t) {
			pa->prom[i].verdict = ACCT_BROKEN;
			pa->prom[i].verdict_at = pa->prom[i].break_at;
		}
	}
}

/* The facts of pa at t, as an evaluation at t would see them. */
static void
prop_facts(const struct prop_acct *pa, int64_t t, struct facts_out *o)
{
	struct prop_acct c = *pa;

	c.a.inv = c.inv;
	c.a.prom = c.prom;
	prop_verdicts(&c, t);
	facts_compute(&c.a, &params, t, clock_local_date(t), o);
}

/* Whether fact f, if tested, is the same in a and b. */
#define SAME(f, expr) (!(tested & (1u << (f))) || (expr))

static void
prop_same(const struct facts_out *x, const struct facts_out *y, uint32_t tested,
    int64_t t0, int64_t t)
{
	const struct rules_factvals *a = &x->fv, *b = &y->fv;
	size_t w;
	bool same = SAME(RULES_FACT_BALANCE, a->balance == b->balance) &&
	    SAME(RULES_FACT_OVERDUE_AMOUNT,
	        a->overdue_amount == b->overdue_amount) &&
	    SAME(RULES_FACT_DISPUTED_AMOUNT,
	        a->disputed_amount == b->disputed_amount) &&
	    SAME(RULES_FACT_UNDISPUTED_OVERDUE,
	        a->undisputed_overdue == b->undisputed_overdue) &&
	    SAME(RULES_FACT_OVERDUE_INVOICES,
	        a->overdue_invoices == b->overdue_invoices) &&
	    SAME(RULES_FACT_DAYS_OVERDUE, a->days_overdue == b->days_overdue) &&
	    SAME(RULES_FACT_DAYS_TO_DUE,
	        a->has_days_to_due == b->has_days_to_due &&
	            a->days_to_due == b->days_to_due) &&
	    SAME(RULES_FACT_LATE_TREND, a->late_trend == b->late_trend) &&
	    SAME(RULES_FACT_ON_TIME_RATIO,
	        a->has_on_time_ratio == b->has_on_time_ratio &&
	            a->on_time_ratio == b->on_time_ratio) &&
	    SAME(RULES_FACT_FIRST_MISS, a->first_miss == b->first_miss) &&
	    SAME(RULES_FACT_PROMISE_PENDING,
	        a->promise_pending == b->promise_pending) &&
	    SAME(RULES_FACT_UNREACHED, a->unreached == b->unreached) &&
	    SAME(
	        RULES_FACT_DAYS_IN_STAGE, a->days_in_stage == b->days_in_stage);

	for (w = 0; w < params.nwindows; w++)
		same = same &&
		    SAME(RULES_FACT_PROMISES_BROKEN,
		        a->promises_broken[w] == b->promises_broken[w]) &&
		    SAME(RULES_FACT_PROMISES_KEPT,
		        a->promises_kept[w] == b->promises_kept[w]);
	if (!same)
		fail_msg("facts (tested 0x%x) at %lld differ from those at "
		         "%lld, before the next change",
		    (unsigned)tested, (long long)t, (long long)t0);
}

/* Every moment in (t0, next) at which a fact could move. */
static void
prop_check(
    const struct prop_acct *pa, uint32_t tested, int64_t t0, int64_t next)
{
	struct facts_out o0, o1;
	int64_t t;
	size_t i, w;

	facts_out_init(&o0, params.nwindows);
	facts_out_init(&o1, params.nwindows);
	prop_facts(pa, t0, &o0);
	for (t = clock_next_midnight(t0); t < next;
	     t = clock_next_midnight(t)) {
		prop_facts(pa, t, &o1);
		prop_same(&o0, &o1, tested, t0, t);
	}
	for (t = pa->a.stage_entered + DAY; t < next; t += DAY) {
		if (t <= t0)
			continue;
		prop_facts(pa, t, &o1);
		prop_same(&o0, &o1, tested, t0, t);
	}
	for (i = 0; i < pa->a.nprom; i++) {
		for (w = 0; w <= params.nwindows; w++) {
			t = w == params.nwindows
			    ? pa->prom[i].break_at
			    : pa->prom[i].verdict_at + params.windows[w];
			if (pa->prom[i].verdict == ACCT_PENDING &&
			    w < params.nwindows)
				t = pa->prom[i].break_at + params.windows[w];
			if (t > t0 && t < next) {
				prop_facts(pa, t, &o1);
				prop_same(&o0, &o1, tested, t0, t);
			}
		}
	}
	if (next - 1 > t0 && next != INT64_MAX) {
		prop_facts(pa, next - 1, &o1);
		prop_same(&o0, &o1, tested, t0, next - 1);
	}
	facts_out_fini(&o0);
	facts_out_fini(&o1);
}

static void
prop_run(int64_t start, int accounts)
{
	static const int64_t windows[] = { 3 * DAY, 7 * DAY, 90 * DAY };
	const uint32_t all = (1u << RULES_FACT_COUNT) - 1;
	struct prop_acct pa;
	int64_t t, next;
	uint32_t tested;
	int i, step;

	params.windows = windows;
	params.nwindows = NELEM(windows);
	for (i = 0; i < accounts; i++) {
		params.trend_window = 2 + prop_rnd(11);
		params.grace_days = prop_rnd(4);
		prop_gen(&pa, start);
		/* All facts, one fact, or a random subset. */
		if (i % 3 == 0)
			tested = all;
		else if (i % 3 == 1)
			tested = 1u << prop_rnd(RULES_FACT_COUNT);
		else
			tested = (uint32_t)prop_rnd(1 << RULES_FACT_COUNT);
		t = start;
		for (step = 0; step < 40; step++) {
			/* The evaluation at t, then the next moment. */
			prop_verdicts(&pa, t);
			next = facts_next_change(&pa.a, &params, tested, t);
			assert_true(next > t);
			if (next == INT64_MAX) {
				/* Then nothing changes, ever: check a year. */
				prop_check(&pa, tested, t, t + 400 * DAY);
				break;
			}
			prop_check(&pa, tested, t, next);
			t = next;
		}
	}
}

static void
test_next_change_never_late(void **state)
{
	(void)state;
	prop_run(NOW, 3000);
	/* Across both DST changes of 2026 in Berlin. */
	assert_int_equal(clock_tz_set("Europe/Berlin"), 0);
	prop_run(BE_0328_1200 - 3 * DAY, 1000);
	prop_run(1792400000 /* 2026-10-22 */, 1000);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_empty_account, reset),
		cmocka_unit_test_setup(test_partial_payment, reset),
		cmocka_unit_test_setup(test_dispute_on_overdue_invoice, reset),
		cmocka_unit_test_setup(
		    test_overdue_invoices_skip_fully_disputed, reset),
		cmocka_unit_test_setup(test_days_to_due, reset),
		cmocka_unit_test_setup(test_due_today_is_not_overdue, reset),
		cmocka_unit_test_setup(test_late_trend_few_points, reset),
		cmocka_unit_test_setup(test_late_trend_slopes, reset),
		cmocka_unit_test_setup(test_late_trend_window, reset),
		cmocka_unit_test_setup(
		    test_credited_at_issue_is_settled, reset),
		cmocka_unit_test_setup(test_on_time_ratio, reset),
		cmocka_unit_test_setup(test_first_miss, reset),
		cmocka_unit_test_setup(test_promise_windows, reset),
		cmocka_unit_test_setup(test_many_windows, reset),
		cmocka_unit_test_setup(test_unreached, reset),
		cmocka_unit_test_setup(test_days_in_stage, reset),
		cmocka_unit_test_setup(test_berlin_dst, reset),
		cmocka_unit_test_setup(test_next_change_none, reset),
		cmocka_unit_test_setup(test_next_change_midnight, reset),
		cmocka_unit_test_setup(
		    test_next_change_trend_first_miss, reset),
		cmocka_unit_test_setup(test_next_change_promises, reset),
		cmocka_unit_test_setup(
		    test_next_change_stage_tick_and_min, reset),
		cmocka_unit_test_setup(test_next_change_never_late, reset),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
