/*
 * Unit tests of the engine's wake-ups (eval_next_wake()): an account at
 * a fixpoint is woken only when a condition's truth can change, not at
 * every change of a fact (§4.3: evaluating at more moments is
 * indistinguishable, so at fewer ones must be too).
 *
 * The proof is a comparison: the same random portfolio, events and
 * clock run twice on a real engine (engine_fx.h), once waking at every
 * fact change (engine.wake_every_change, the contract's due moments) and
 * once as dunnd does; the feeds must be the same, byte for byte, record
 * for record, while the second run evaluates fewer accounts.  Two rule
 * sets: the shipped one and one that tests every day-moving fact with
 * lower and upper bounds, holds, releases and alerts with and without
 * cooldowns.
 *
 * Zone Asia/Shanghai (+08:00); the portfolio starts 2026-11-01T00:00.
 */
#include "engine_fx.h"

#include <signal.h>

#define START "2026-11-01T00:00:00+08:00"
#define NACCT 40
#define NDAYS 110

static const char rules_days[] =
    "stages = (\n"
    "  { name = \"current\"; release_when = { balance = { max = 0; }; }; },\n"
    "  { name = \"soon\"; hold_when = { days_to_due = { min = 2; max = 2; }; };\n"
    "    tasks = ( { type = \"email\"; after = \"0d\"; every = \"1d\";\n"
    "                max = 3; } ); },\n"
    "  { name = \"late\"; hold_when = { promise_pending = true; };\n"
    "    tasks = ( { type = \"call\"; after = \"0d\"; },\n"
    "              { type = \"call\"; after = \"2d\"; every = \"3d\";\n"
    "                supersede = true; } ); },\n"
    "  { name = \"hard\"; tasks = ( { type = \"credit_hold\"; after = \"0d\"; },\n"
    "              { type = \"letter\"; after = \"1d\"; } ); },\n"
    "  { name = \"legal\"; tasks = ( { type = \"legal_referral\"; after = \"2d\"; } ); }\n"
    ");\n"
    "rules = (\n"
    "  { name = \"back\"; from = \"*\"; to = \"current\";\n"
    "    when = { balance = { max = 0; }; }; },\n"
    "  { name = \"soon\"; from = \"current\"; to = \"soon\";\n"
    "    when = { days_to_due = { min = 1; max = 5; }; }; },\n"
    "  { name = \"unsoon\"; from = \"soon\"; to = \"current\";\n"
    "    when = { days_to_due = { min = 6; }; days_overdue = { max = 0; }; }; },\n"
    "  { name = \"late\"; from = [\"current\", \"soon\"]; to = \"late\";\n"
    "    when = { days_overdue = { min = 1; max = 40; }; }; },\n"
    "  { name = \"stale\"; from = \"late\"; to = \"hard\";\n"
    "    when = { days_in_stage = { min = 9; }; days_overdue = { min = 5; }; }; },\n"
    "  { name = \"band\"; from = \"late\"; to = \"hard\";\n"
    "    when = { days_overdue = { min = 12; max = 20; };\n"
    "             overdue_amount = { min = 3000; }; }; },\n"
    "  { name = \"broken\"; from = \"late\"; to = \"hard\";\n"
    "    when = { promises_broken = { min = 1; window = \"10d\"; }; }; },\n"
    "  { name = \"trend\"; from = \"late\"; to = \"hard\";\n"
    "    when = { late_trend = { min = 2; }; days_overdue = { min = 3; }; }; },\n"
    "  { name = \"old\"; from = \"hard\"; to = \"legal\";\n"
    "    when = { days_overdue = { min = 41; }; days_in_stage = { min = 20; }; }; }\n"
    ");\n"
    "alerts = (\n"
    "  { name = \"big\"; when = { overdue_invoices = { min = 2; };\n"
    "      days_overdue = { min = 7; max = 30; }; };\n"
    "    task = { type = \"review\"; }; cooldown = \"4d\"; },\n"
    "  { name = \"once\"; when = { days_in_stage = { min = 3; max = 6; }; };\n"
    "    task = { type = \"review\"; }; },\n"
    "  { name = \"miss\"; when = { first_miss = true; };\n"
    "    task = { type = \"review\"; }; cooldown = \"5d\"; },\n"
    "  { name = \"kept\"; when = { promises_kept = { min = 1; window = \"7d\"; }; };\n"
    "    task = { type = \"review\"; }; cooldown = \"2d\"; },\n"
    "  { name = \"soon-big\"; when = { days_to_due = { max = 1; };\n"
    "      balance = { min = 20000; }; };\n"
    "    task = { type = \"review\"; }; cooldown = \"3d\"; },\n"
    "  { name = \"far\"; when = { days_to_due = { min = 15; }; };\n"
    "    task = { type = \"email\"; }; cooldown = \"3d\"; }\n"
    ");\n"
    "trend_window = 4;\n"
    "grace_days = 1;\n"
    "promise_grace = \"1d\";\n";

/* Two stages; late from 30 days overdue (the directed tests). */
static const char rules_late_30[] =
    "stages = ( { name = \"current\"; }, { name = \"late\"; } );\n"
    "rules = ( { name = \"late\"; from = \"current\"; to = \"late\";\n"
    "    when = { days_overdue = { min = 30; }; }; } );\n";

/* The one account of the directed tests. */
#define ACCOUNT_A                                                              \
	"{'type':'account','id':'a1','account':'A','name':'N',"                \
	"'currency':'CNY','size':'small'}\n"

static uint64_t rng;

static unsigned
rnd(unsigned n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (unsigned)(rng % n);
}

/* Opens the engine as fx_start_clock() does, waking as every says. */
static void
start(struct ruleset *rs, int64_t t0, bool every)
{
	char err[STORE_ERR_LEN];

	fx.rs = rs;
	assert_int_equal(store_open(fx.path, &fx.s, err, sizeof(err)), 0);
	clock_test_start(t0);
	assert_int_equal(engine_open(&fx.e, fx.s, fx.rs, false, 5, t0), 0);
	fx.e.wake_every_change = every;
	fx.open = true;
	assert_int_equal(engine_reload(&fx.e, fx.rs, t0, NULL, 0), 0);
}

/*
 * Stops and starts again at the stored clock position, as dunnd does
 * (fx_restart()); the reference run then wakes every account at its
 * every-change moment (engine_open() scheduled them before the flag).
 */
static uint64_t evals_before; /* evaluations of the engines closed */

static void
restart(bool every)
{
	struct acct *const *all;
	size_t n, i;

	evals_before += fx.e.nevals;
	fx_restart();
	fx.e.wake_every_change = every;
	if (every) {
		all = engine_sorted(&fx.e, &n);
		for (i = 0; i < n; i++)
			engine_reschedule(&fx.e, all[i]);
	}
}

static struct ruleset *
load_rules(const char *text)
{
	const char *name = "rules.conf";
	struct ruleset *rs;
	struct diags ds;

	diags_init(&ds);
	rs = text != NULL ? rules_load_files(&name, &text, 1, &ds)
	                  : rules_load_dir("rules", &ds);
	for (size_t i = 0; i < ds.n; i++) {
		char line[DIAG_MSG_MAX + 300];

		diag_format(&ds.v[i], line, sizeof(line));
		print_message("%s\n", line);
	}
	diags_fini(&ds);
	assert_non_null(rs);
	return rs;
}

/*
 * text with its day bounds moved: the rule set a reload half way
 * through a run installs (its accounts' wake-ups by the old bounds
 * are no longer right).
 */
static char *
moved_bounds(const char *text)
{
	static const char *const from[] = { "min = 1; max = 5;",
		"min = 12; max = 20;", "min = 9;", "min = 30;", "min = 15;",
		"min = 60;", "max = 3;" };
	static const char *const to[] = { "min = 1; max = 4;",
		"min = 6; max = 24;", "min = 4;", "min = 21;", "min = 10;",
		"min = 45;", "max = 2;" };
	struct buf b;
	const char *p = text, *hit;
	size_t i, best;
	char *out;

	buf_init(&b);
	for (;;) {
		hit = NULL;
		best = 0;
		for (i = 0; i < sizeof(from) / sizeof(from[0]); i++) {
			const char *q = strstr(p, from[i]);

			if (q != NULL && (hit == NULL || q < hit)) {
				hit = q;
				best = i;
			}
		}
		if (hit == NULL)
			break;
		buf_append(&b, p, (size_t)(hit - p));
		buf_append(&b, to[best], strlen(to[best]));
		p = hit + strlen(from[best]);
	}
	buf_append(&b, p, strlen(p) + 1);
	out = xstrdup(buf_data(&b));
	buf_fini(&b);
	return out;
}

/* The shipped rules (rules/, read order) with moved bounds. */
static struct ruleset *
shipped_moved(void)
{
	static const char *const files[] = { "00-settings.conf",
		"05-calendar.conf", "10-stages.conf", "15-holidays-2026.conf",
		"15-holidays-2027.conf", "20-rules.conf", "30-alerts.conf",
		"40-scripts.conf" };
	enum {
		N = sizeof(files) / sizeof(files[0])
	};
	const char *texts[N];
	char *moved[N], chunk[4096], path[64];
	struct ruleset *rs;
	struct diags ds;
	struct buf b;
	size_t i, n;
	FILE *f;

	for (i = 0; i < N; i++) {
		buf_init(&b);
		snprintf(path, sizeof(path), "rules/%s", files[i]);
		f = fopen(path, "r");
		assert_non_null(f);
		while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
			buf_append(&b, chunk, n);
		fclose(f);
		buf_append(&b, "", 1);
		moved[i] = moved_bounds(buf_data(&b));
		texts[i] = moved[i];
		buf_fini(&b);
	}
	diags_init(&ds);
	rs = rules_load_files(files, texts, N, &ds);
	for (i = 0; i < ds.n; i++) {
		char line[DIAG_MSG_MAX + 300];

		diag_format(&ds.v[i], line, sizeof(line));
		print_message("%s\n", line);
	}
	diags_fini(&ds);
	for (i = 0; i < N; i++)
		free(moved[i]);
	assert_non_null(rs);
	return rs;
}

/* A live reload at t to rules (NULL: the shipped set) with moved bounds. */
static void
reload_other(const char *rules, int64_t t)
{
	char *text = rules != NULL ? moved_bounds(rules) : NULL;
	struct ruleset *nrs =
	    rules != NULL ? load_rules(text) : shipped_moved();

	assert_int_equal(engine_run_until(&fx.e, t), 0);
	assert_int_equal(engine_reload(&fx.e, nrs, t, NULL, 0), 0);
	rules_free(fx.rs);
	fx.rs = nrs;
	free(text);
}

/* Account k's invoice j: issued, due (day numbers), amount. */
struct inv {
	int32_t due;
	int64_t amount;
	bool paid, disputed;
};

static struct inv invs[NACCT][12];
static int ninv[NACCT];

static void
add_invoice(struct buf *b, int k, int32_t issued, int32_t due, int64_t amount)
{
	char d1[CLOCK_DATE_LEN], d2[CLOCK_DATE_LEN];
	int j = ninv[k]++;

	clock_format_date(issued, d1);
	clock_format_date(due, d2);
	buf_printf(b,
	    "{'type':'invoice','id':'i%d-%d','account':'A%02d',"
	    "'invoice':'I%d-%d','amount':%lld,'issued':'%s','due':'%s'}\n",
	    k, j, k, k, j, (long long)amount, d1, d2);
	invs[k][j] = (struct inv){ .due = due, .amount = amount };
}

/*
 * One day's events for random accounts at at (payments, partial or
 * whole, late or early; promises; disputes and their resolution; new
 * invoices; tags; pauses), written to b.  Some are refused (a payment
 * of a paid invoice): the same in both runs.
 */
static void
day_events(struct buf *b, int day, int32_t today, int64_t at, unsigned *ev)
{
	char ts[CLOCK_TS_LEN], d[CLOCK_DATE_LEN];
	int k, j, r, n = 1 + (int)rnd(6);

	clock_format_ts(at, ts);
	while (n-- > 0) {
		k = (int)rnd(NACCT);
		j = ninv[k] > 0 ? (int)rnd((unsigned)ninv[k]) : 0;
		r = (int)rnd(100);
		(*ev)++;
		if (r < 30 && ninv[k] > 0 && !invs[k][j].paid) {
			int64_t amt = rnd(3) == 0 ? invs[k][j].amount / 2
			                          : invs[k][j].amount;

			buf_printf(b,
			    "{'type':'payment','id':'p%u','account':'A%02d',"
			    "'invoice':'I%d-%d','amount':%lld,'at':'%s'}\n",
			    *ev, k, k, j, (long long)amt, ts);
			if (amt == invs[k][j].amount)
				invs[k][j].paid = true;
			else
				invs[k][j].amount -= amt;
		} else if (r < 45 && ninv[k] < 12) {
			add_invoice(b, k, today - (int32_t)rnd(10),
			    today + (int32_t)rnd(20) - 3,
			    1000 + (int64_t)rnd(40) * 500);
		} else if (r < 60) {
			clock_format_date(today + (int32_t)rnd(6), d);
			buf_printf(b,
			    "{'type':'promise','id':'q%u','account':'A%02d',"
			    "'amount':%lld,'due':'%s','at':'%s'}\n",
			    *ev, k, 500 + (long long)rnd(8) * 500, d, ts);
		} else if (r < 68 && ninv[k] > 0 && !invs[k][j].paid &&
		    !invs[k][j].disputed) {
			buf_printf(b,
			    "{'type':'dispute','id':'d%u','account':'A%02d',"
			    "'invoice':'I%d-%d','amount':500,'reason':'late',"
			    "'at':'%s'}\n",
			    *ev, k, k, j, ts);
			invs[k][j].disputed = true;
		} else if (r < 74 && ninv[k] > 0 && invs[k][j].disputed) {
			buf_printf(b,
			    "{'type':'dispute_resolved','id':'r%u',"
			    "'account':'A%02d','invoice':'I%d-%d','at':'%s'}\n",
			    *ev, k, k, j, ts);
			invs[k][j].disputed = false;
		} else if (r < 78) {
			buf_printf(b,
			    "{'type':'account','id':'t%u','account':'A%02d',"
			    "'paused':%s}\n",
			    *ev, k, rnd(2) ? "true" : "false");
		} else if (r < 80) {
			buf_printf(b,
			    "{'type':'account','id':'g%u','account':'A%02d',"
			    "'tags':%s}\n",
			    *ev, k, rnd(2) ? "['watch']" : "[]");
		}
	}
	(void)day;
}

/*
 * Runs the scenario of seed under rules (NULL: the shipped rule set),
 * waking at every fact change or not; returns every feed record, one a
 * line, and the evaluations made in *nevals.
 */
/* The whole feed, a record a line (members sorted). */
static char *
feed_text(void)
{
	struct buf out;
	json_t *feed;
	int64_t head;
	char *s;

	buf_init(&out);
	for (head = 0;;) {
		size_t i;

		feed = fx_feed(head);
		if (json_array_size(feed) == 0) {
			json_decref(feed);
			break;
		}
		for (i = 0; i < json_array_size(feed); i++) {
			s = json_dumps(json_array_get(feed, i),
			    JSON_COMPACT | JSON_SORT_KEYS);
			buf_printf(&out, "%s\n", s);
			free(s);
		}
		head = fx_int(
		    json_array_get(feed, json_array_size(feed) - 1), "seq");
		json_decref(feed);
	}
	s = xstrdup(buf_size(&out) > 0 ? buf_data(&out) : "");
	buf_fini(&out);
	return s;
}

static char *
run(const char *rules, unsigned seed, bool every, uint64_t *nevals)
{
	int64_t t0 = T(START), at;
	int32_t d0 = clock_local_date(t0), today;
	struct ingest_batch ib;
	struct buf b;
	unsigned ev = 0;
	int k, j, day, n;
	char *text;

	assert_int_equal(fx_setup(NULL), 0);
	start(load_rules(rules), t0, every);
	rng = 0x9e3779b97f4a7c15ULL * (seed + 1);
	evals_before = 0;
	memset(ninv, 0, sizeof(ninv));
	buf_init(&b);
	for (k = 0; k < NACCT; k++) {
		buf_printf(&b,
		    "{'type':'account','id':'a%d','account':'A%02d',"
		    "'name':'N%d','currency':'CNY','size':'%s','contacts':"
		    "[{'role':'%s','name':'C','phone':'1'}]}\n",
		    k, k, k, rnd(2) ? "small" : "large",
		    rnd(2) ? "owner" : "cfo");
		n = 1 + (int)rnd(6);
		for (j = 0; j < n; j++) {
			/* Due from 60 days ago to 30 days ahead. */
			int32_t due = d0 - 60 + (int32_t)rnd(90);

			add_invoice(&b, k, due - 30, due,
			    1000 + (int64_t)rnd(40) * 500);
			/* Older ones mostly paid, on time or late. */
			if (due < d0 - 5 && rnd(3) != 0) {
				char ts[CLOCK_TS_LEN];
				int32_t pd = due - 2 + (int32_t)rnd(12);

				if (pd >= d0)
					pd = d0 - 1;
				clock_format_ts(
				    clock_day_start(pd) + 10 * HOUR, ts);
				buf_printf(&b,
				    "{'type':'payment','id':'o%d-%d',"
				    "'account':'A%02d','invoice':'I%d-%d',"
				    "'amount':%lld,'at':'%s'}\n",
				    k, j, k, k, j,
				    (long long)invs[k][ninv[k] - 1].amount, ts);
				invs[k][ninv[k] - 1].paid = true;
			}
		}
	}
	fx_run(t0, buf_data(&b), true, &ib);
	ingest_batch_fini(&ib);
	for (day = 0; day < NDAYS; day++) {
		today = d0 + day;
		/* Half way, a reload to other thresholds (§4.7). */
		if (day == NDAYS / 2)
			reload_other(rules, clock_day_start(today) + 11 * HOUR);
		/* Some days have no event: only the clock moves. */
		if (rnd(4) == 0)
			continue;
		at = clock_day_start(today) + (int64_t)rnd(24 * 60) * 60;
		buf_clear(&b);
		day_events(&b, day, today, at, &ev);
		if (buf_size(&b) == 0)
			continue;
		fx_run(at, buf_data(&b), true, &ib);
		ingest_batch_fini(&ib);
		/* Now and then a restart, a little later. */
		if (rnd(10) == 0) {
			assert_int_equal(engine_run_until(&fx.e,
			                     at + (int64_t)rnd(30) * HOUR),
			    0);
			restart(every);
		}
	}
	assert_int_equal(
	    engine_run_until(&fx.e, clock_day_start(d0 + NDAYS)), 0);
	*nevals = evals_before + fx.e.nevals;

	text = feed_text();
	buf_fini(&b);
	fx_teardown(NULL);
	return text;
}

/* The first line where a and b differ, for the failure message. */
static void
assert_same_feed(const char *a, const char *b)
{
	size_t line = 1;
	const char *p = a, *q = b;

	while (*p != '\0' && *p == *q) {
		line += *p == '\n';
		p++;
		q++;
	}
	if (*p != *q)
		fail_msg("feeds differ at record %zu:\n  every change: %.300s\n"
		         "  wake-ups:     %.300s",
		    line, p - (p > a ? 1 : 0), q - (q > b ? 1 : 0));
}

static void
compare(const char *rules, unsigned seeds)
{
	uint64_t ne_every = 0, ne_wake = 0, n1, n2;
	unsigned seed;
	char *a, *b;
	size_t records = 0;

	for (seed = 0; seed < seeds; seed++) {
		a = run(rules, seed, true, &n1);
		b = run(rules, seed, false, &n2);
		assert_same_feed(a, b);
		for (const char *p = a; *p != '\0'; p++)
			records += *p == '\n';
		ne_every += n1;
		ne_wake += n2;
		free(a);
		free(b);
	}
	print_message("%zu records alike; evaluations: %llu waking at every "
	              "fact change, %llu with the wake-ups\n",
	    records, (unsigned long long)ne_every, (unsigned long long)ne_wake);
	/* The scenarios make work (tasks, transitions) ... */
	assert_true(records > 200 * seeds);
	/* ... and the wake-ups skip evaluations (not a reference run). */
	assert_true(ne_wake * 10 < ne_every * 8);
}

/* §4.3: the shipped rules (rules/: the tests run from the checkout). */
static void
test_same_feed_shipped_rules(void **state)
{
	(void)state;
	compare(NULL, 6);
}

/* Every day-moving fact with both bounds, holds, release and alerts. */
static void
test_same_feed_day_facts(void **state)
{
	(void)state;
	compare(rules_days, 6);
}

/*
 * The crossing day, exactly: an account 5 days overdue under rules
 * testing days_overdue >= 1 and >= 30 is woken at the midnight it turns
 * 30 days overdue, not at the next one; explain's `next` (the
 * contract's due moment) is still the next midnight.
 */
static void
test_woken_at_the_crossing(void **state)
{
	static const char rules[] =
	    "stages = ( { name = \"current\"; }, { name = \"late\"; },\n"
	    "  { name = \"long\"; } );\n"
	    "rules = (\n"
	    "  { name = \"late\"; from = \"current\"; to = \"late\";\n"
	    "    when = { days_overdue = { min = 1; }; }; },\n"
	    "  { name = \"long\"; from = \"late\"; to = \"long\";\n"
	    "    when = { days_overdue = { min = 30; }; }; } );\n";
	struct acct *a;
	json_t *feed;
	int64_t t0 = T("2026-11-10T09:00:00+08:00");

	(void)state;
	fx_start(rules, t0);
	/* Due 11-05: 5 days overdue on 11-10. */
	fx_ok(t0,
	    ACCOUNT_A
	    "{'type':'invoice','id':'i1','account':'A','invoice':'I',"
	    "'amount':100,'issued':'2026-10-01','due':'2026-11-05'}\n");
	a = fx_acct("A");
	assert_string_equal(fx.rs->stages[a->stage].name, "late");
	/* 30 days overdue on 12-05. */
	assert_int_equal(a->due_at, T("2026-12-05T00:00:00+08:00"));
	assert_int_equal(
	    eval_next_due(&fx.e, a, t0), T("2026-11-11T00:00:00+08:00"));
	assert_int_equal(
	    engine_run_until(&fx.e, T("2026-12-05T00:00:00+08:00")), 0);
	feed = fx_feed(0);
	assert_string_equal(
	    fx_str(json_array_get(feed, json_array_size(feed) - 1), "to"),
	    "long");
	assert_string_equal(
	    fx_str(json_array_get(feed, json_array_size(feed) - 1), "at"),
	    "2026-12-05T00:00:00+08:00");
	json_decref(feed);
}

/*
 * days_to_due is the first undisputed invoice not yet due's: when that
 * one falls due it jumps to the next one's.  An alert testing
 * days_to_due >= 15, false at 2 days to due, holds at that moment
 * (the next invoice 28 days away), though the count-down alone would
 * never make it hold.
 */
static void
test_woken_when_days_to_due_jumps(void **state)
{
	static const char rules[] =
	    "stages = ( { name = \"current\"; } );\n"
	    "alerts = ( { name = \"far\"; when = { days_to_due = { min = 15; }; };\n"
	    "  task = { type = \"email\"; }; } );\n";
	struct acct *a;
	json_t *feed;
	int64_t t0 = T("2026-11-10T09:00:00+08:00");

	(void)state;
	fx_start(rules, t0);
	/* An overdue invoice (days_overdue moves daily), one due 11-12
	 * and one due 12-10. */
	fx_ok(t0,
	    ACCOUNT_A
	    "{'type':'invoice','id':'i0','account':'A','invoice':'I0',"
	    "'amount':100,'issued':'2026-10-01','due':'2026-11-01'}\n"
	    "{'type':'invoice','id':'i1','account':'A','invoice':'I1',"
	    "'amount':100,'issued':'2026-10-01','due':'2026-11-12'}\n"
	    "{'type':'invoice','id':'i2','account':'A','invoice':'I2',"
	    "'amount':100,'issued':'2026-11-01','due':'2026-12-10'}\n");
	a = fx_acct("A");
	/* I1 is overdue from 11-13: days_to_due becomes 27. */
	assert_int_equal(a->due_at, T("2026-11-13T00:00:00+08:00"));
	assert_int_equal(
	    engine_run_until(&fx.e, T("2026-11-14T00:00:00+08:00")), 0);
	feed = fx_feed(0);
	assert_int_equal(json_array_size(feed), 1);
	assert_string_equal(fx_str(json_array_get(feed, 0), "kind"), "task");
	assert_string_equal(fx_str(json_array_get(feed, 0), "created"),
	    "2026-11-13T00:00:00+08:00");
	json_decref(feed);
}

/*
 * A live reload that lowers a threshold: an account the reload's
 * evaluation leaves unchanged (no alerts to remap: nothing of it is
 * touched) wakes by the new rules, at the midnight it crosses the new
 * bound, as when waking at every fact change (found by review: it kept
 * the old rules' wake-up, and the daily sweep moved it 5 minutes late).
 */
static char *
run_reload(bool every)
{
	int64_t t0 = T("2026-11-10T09:00:00+08:00");
	struct ruleset *nrs;
	json_t *feed;
	char *s, *text;

	assert_int_equal(fx_setup(NULL), 0);
	fx_start(rules_late_30, t0);
	fx.e.wake_every_change = every;
	/* 3 days overdue: by the first rules woken on 12-07. */
	fx_ok(t0,
	    ACCOUNT_A
	    "{'type':'invoice','id':'i1','account':'A','invoice':'I',"
	    "'amount':100,'issued':'2026-10-01','due':'2026-11-07'}\n");
	text = xstrdup(rules_late_30);
	memcpy(strstr(text, "min = 30"), "min =  5", 8);
	nrs = load_rules(text);
	free(text);
	assert_int_equal(engine_reload(&fx.e, nrs, t0 + HOUR, NULL, 0), 0);
	rules_free(fx.rs);
	fx.rs = nrs;
	assert_int_equal(
	    engine_run_until(&fx.e, T("2026-11-20T00:00:00+08:00")), 0);
	feed = fx_feed(0);
	assert_int_equal(json_array_size(feed), 1);
	s = xstrdup(fx_str(json_array_get(feed, 0), "at"));
	json_decref(feed);
	fx_teardown(NULL);
	return s;
}

static void
test_reload_wakes_by_the_new_rules(void **state)
{
	char *a, *b;

	(void)state;
	a = run_reload(true);
	b = run_reload(false);
	/* 5 days overdue at the start of 11-12. */
	assert_string_equal(a, "2026-11-12T00:00:00+08:00");
	assert_string_equal(b, a);
	free(a);
	free(b);
}

static void
on_alarm(int sig)
{
	static const char m[] = "test_wake: engine_run_until hangs\n";

	(void)sig;
	if (write(2, m, sizeof(m) - 1) < 0)
		_exit(4);
	_exit(3);
}

/*
 * A wake-up is never in the past, even where a zone change takes the
 * local date back: America/St_Johns, 2005-10-30 00:00:59 NDT became
 * 2005-10-29 23:01 NST, so for 59 minutes the start of 10-30 has
 * passed while today is 10-29 again.  An invoice 29 days overdue
 * arriving then, under days_overdue >= 30, is woken at the next
 * midnight (found by review: it was woken at the start of 10-30, in
 * the past, and run_moment() popped it for ever).
 */
static void
test_wake_never_in_the_past(void **state)
{
	int64_t t0 = T("2005-10-20T12:00:00-02:30");
	int64_t now = T("2005-10-30T03:00:00Z"); /* 10-29 23:30 NST */
	struct acct *a;

	(void)state;
	assert_int_equal(clock_tz_set("America/St_Johns"), 0);
	fx_start(rules_late_30, t0);
	fx_ok(t0, ACCOUNT_A);
	fx_ok(now,
	    "{'type':'invoice','id':'i1','account':'A','invoice':'I',"
	    "'amount':100,'issued':'2005-09-01','due':'2005-09-30'}\n");
	a = fx_acct("A");
	assert_true(a->due_at > now);
	signal(SIGALRM, on_alarm);
	alarm(10);
	assert_int_equal(engine_run_until(&fx.e, now + 2 * HOUR), 0);
	alarm(0);
	assert_true(a->due_at > now + 2 * HOUR);
	assert_int_equal(clock_tz_set("Asia/Shanghai"), 0);
}

/*
 * A busy moment is committed in parts (engine.c run_bulk()): 5,000
 * accounts cross a bound at each of two midnights (a transition and a
 * task each, then a cancel), in parts of `chunk` changed accounts.  The
 * feed is the one a single step writes; so it is when a part fails (a
 * trigger refuses the feed's rows past a seq) and the moment is run
 * again, when dunnd stops then (parts committed, the clock position
 * just before the moment) and starts again, and when a part's commit
 * fails (a trigger refuses the part's clock position): the accounts of
 * the parts not yet run go back to the heap (bulk_abort()).
 */
#define BUSY_N 5000

#define BUSY_RULES                                                             \
	"stages = ( { name = \"current\"; },\n"                                \
	"  { name = \"late\"; tasks = ( { type = \"call\"; } ); },\n"          \
	"  { name = \"long\"; tasks = ( { type = \"letter\"; } ); } );\n"      \
	"rules = (\n"                                                          \
	"  { name = \"late\"; from = \"current\"; to = \"late\";\n"            \
	"    when = { days_overdue = { min = 2; }; }; },\n"                    \
	"  { name = \"long\"; from = \"late\"; to = \"long\";\n"               \
	"    when = { days_overdue = { min = 4; }; }; }"

static const char rules_busy[] = BUSY_RULES " );\n";

/* BUSY_N accounts, each owing one invoice due on 2026-11-10; the head. */
static int64_t
busy_portfolio(const char *rules, size_t chunk)
{
	struct ingest_batch ib;
	struct buf b;
	int k;

	fx_start(rules, T("2026-11-10T09:00:00+08:00"));
	fx.e.chunk = chunk;
	buf_init(&b);
	for (k = 0; k < BUSY_N; k++)
		buf_printf(&b,
		    "{'type':'account','id':'a%d','account':'B%04d',"
		    "'name':'N','currency':'CNY','size':'small','contacts':"
		    "[{'role':'owner','name':'O','phone':'1'}]}\n"
		    "{'type':'invoice','id':'i%d','account':'B%04d',"
		    "'invoice':'I%d','amount':1000,'issued':'2026-10-01',"
		    "'due':'2026-11-10'}\n",
		    k, k, k, k, k);
	fx_run(T("2026-11-10T09:00:00+08:00"), buf_data(&b), false, &ib);
	assert_true(ib.committed);
	ingest_batch_fini(&ib);
	buf_fini(&b);
	return fx_head();
}

/*
 * The night's third part refused (parts of 700 accounts, two records
 * each): two parts committed, the moment not done, the clock just
 * before it.
 */
static void
busy_cut(int64_t head, int64_t night)
{
	char sql[200];

	snprintf(sql, sizeof(sql),
	    "CREATE TRIGGER no_feed BEFORE INSERT ON feed WHEN new.seq > %lld "
	    "BEGIN SELECT RAISE(ABORT, 'down'); END;",
	    (long long)head + 2 * 700 * 2 + 100);
	fx_sql(sql);
	assert_int_equal(engine_run_until(&fx.e, night + DAY), -1);
	assert_int_equal(fx.e.clock_pos, night - 1);
	assert_int_equal(fx_head(), head + 2 * 700 * 2);
	assert_int_equal(engine_next_due(&fx.e), night);
	assert_int_equal(engine_start_pos(&fx.e), night);
	fx_sql("DROP TRIGGER no_feed;");
}

enum busy_how {
	BUSY_ONE_STEP,
	BUSY_PARTS,
	BUSY_FAIL,
	BUSY_FAIL_RESTART,
	BUSY_COMMIT_FAILS,
};

static char *
busy_run(enum busy_how how)
{
	int64_t night = T("2026-11-12T00:00:00+08:00"), head;
	char sql[160], *text;

	assert_int_equal(fx_setup(NULL), 0);
	head = busy_portfolio(rules_busy, how == BUSY_ONE_STEP ? 0 : 700);
	if (how == BUSY_FAIL || how == BUSY_FAIL_RESTART) {
		busy_cut(head, night);
		if (how == BUSY_FAIL_RESTART)
			fx_restart();
	}
	if (how == BUSY_COMMIT_FAILS) {
		snprintf(sql, sizeof(sql),
		    "CREATE TRIGGER no_pos BEFORE UPDATE ON meta "
		    "WHEN new.key = 'clock_pos' AND new.value = %lld "
		    "BEGIN SELECT RAISE(ABORT, 'down'); END;",
		    (long long)night - 1);
		fx_sql(sql);
		assert_int_equal(engine_run_until(&fx.e, night + DAY), -1);
		assert_true(fx.e.clock_pos < night - 1);
		assert_int_equal(fx_head(), head);
		assert_int_equal(fx.e.bulk_t, INT64_MAX);
		assert_int_equal(engine_next_due(&fx.e), night);
		fx_sql("DROP TRIGGER no_pos;");
	}
	assert_int_equal(engine_run_until(&fx.e, night + 3 * DAY), 0);
	assert_int_equal(fx.e.bulk_t, INT64_MAX);
	/* 2 records (transition, task) at the first night, 3 at the second. */
	assert_int_equal(fx_head(), head + 5 * BUSY_N);
	text = feed_text();
	fx_teardown(NULL);
	return text;
}

static void
test_busy_moment_in_parts(void **state)
{
	char *one = busy_run(BUSY_ONE_STEP), *other;
	enum busy_how how;

	(void)state;
	for (how = BUSY_PARTS; how <= BUSY_COMMIT_FAILS; how++) {
		other = busy_run(how);
		assert_same_feed(one, other);
		free(other);
	}
	free(one);
}

/*
 * A start after a busy moment was cut between its parts runs from the
 * moment, not from just before it: a start's reload (the rules changed
 * while stopped: an alert on the stage the moment moved accounts to)
 * and its first batch (paying one of them off) come at the moment, and
 * no record is dated before one committed earlier (review finding: the
 * start ran from the stored clock position, the second before).
 */
static const char rules_busy_alert[] = BUSY_RULES
    ",\n"
    "  { name = \"settled\"; from = \"*\"; to = \"current\";\n"
    "    when = { balance = { max = 0; }; }; } );\n"
    "alerts = ( { name = \"in-late\"; when = { stage = \"late\"; };\n"
    "    task = { type = \"review\"; }; } );\n";

static void
test_start_after_a_cut_moment(void **state)
{
	int64_t night = T("2026-11-12T00:00:00+08:00"), head, pos, t, last;
	char err[STORE_ERR_LEN];
	struct ruleset *nrs;
	json_t *feed, *r;
	const char *ts, *why;
	size_t i, n = 0;

	(void)state;
	head = busy_portfolio(rules_busy, 700);
	busy_cut(head, night);

	/* dunnd starts again with changed rules: reload, then a batch. */
	engine_close(&fx.e);
	store_close(fx.s);
	fx.open = false;
	nrs = load_rules(rules_busy_alert);
	rules_free(fx.rs);
	fx.rs = nrs;
	assert_int_equal(store_open(fx.path, &fx.s, err, sizeof(err)), 0);
	assert_int_equal(store_meta_get_int(fx.s, "clock_pos", &pos), 1);
	assert_int_equal(engine_open(&fx.e, fx.s, nrs, false, 5, pos), 0);
	fx.open = true;
	assert_int_equal(engine_start_pos(&fx.e), night);
	assert_int_equal(
	    engine_reload(&fx.e, nrs, engine_start_pos(&fx.e), NULL, 0), 0);
	fx_ok(engine_start_pos(&fx.e),
	    "{'type':'payment','id':'p0','account':'B0000','amount':1000,"
	    "'at':'2026-11-11T10:00:00+08:00'}");
	assert_int_equal(engine_run_until(&fx.e, night + HOUR), 0);
	assert_int_equal(engine_start_pos(&fx.e), fx.e.clock_pos);

	/* Every account moved at the night, each alert fired at it. */
	for (last = 0, feed = fx_feed(head); json_array_size(feed) > 0;
	     feed = fx_feed(head)) {
		for (i = 0; i < json_array_size(feed); i++, n++) {
			r = json_array_get(feed, i);
			ts = json_object_get(r, "at") != NULL
			    ? fx_str(r, "at")
			    : fx_str(r, "created");
			assert_int_equal(
			    clock_parse_ts(ts, strlen(ts), &t, &why), 0);
			if (t < last)
				fail_msg(
				    "seq %lld (%s) at %s, after a record at "
				    "%lld",
				    (long long)fx_int(r, "seq"),
				    fx_str(r, "kind"), ts, (long long)last);
			last = t;
			assert_true(t >= night);
		}
		head = fx_int(
		    json_array_get(feed, json_array_size(feed) - 1), "seq");
		json_decref(feed);
	}
	json_decref(feed);
	assert_true(n >= 3 * BUSY_N);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_same_feed_shipped_rules),
		cmocka_unit_test(test_same_feed_day_facts),
		cmocka_unit_test_setup_teardown(
		    test_woken_at_the_crossing, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(
		    test_woken_when_days_to_due_jumps, fx_setup, fx_teardown),
		cmocka_unit_test(test_reload_wakes_by_the_new_rules),
		cmocka_unit_test_setup_teardown(
		    test_wake_never_in_the_past, fx_setup, fx_teardown),
		cmocka_unit_test(test_busy_moment_in_parts),
		cmocka_unit_test_setup_teardown(
		    test_start_after_a_cut_moment, fx_setup, fx_teardown),
	};

	clock_tz_set("Asia/Shanghai");
	log_init(true, LOG_LEVEL_WARNING);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
