/*
 * Unit tests of eval: evaluations (§4.4) on a real engine
 * (engine_fx.h), driven by batches and by engine_run_until(), checked
 * in the account's state and in the feed records (§5) read back from
 * the store.  Expected values are computed by hand from interfaces.md;
 * the comment next to each cites the clause.
 *
 * Zone Asia/Shanghai (+08:00); the portfolio starts 2026-11-01T00:00;
 * sweep_at 00:05.
 */
#include "engine_fx.h"

#include <sqlite3.h>

#define START "2026-11-01T00:00:00+08:00"

/*
 * Stage positions: current 0, reminder 1, negotiation 2, pressure 3
 * (§5 priority: stage factor 200 * i / 3).  promise_grace 0d.
 */
static const char rules_eval[] =
    "stages = (\n"
    "  { name = \"current\"; },\n"
    "  { name = \"reminder\"; tasks = ( { type = \"email\"; } ); },\n"
    "  { name = \"negotiation\";\n"
    "    hold_when = { promise_pending = true; };\n"
    "    tasks = ( { type = \"call\"; after = \"0d\"; },\n"
    "              { type = \"call\"; after = \"5d\"; },\n"
    "              { type = \"visit\"; after = \"10d\"; every = \"2d\";\n"
    "                max = 2; } ); },\n"
    "  { name = \"pressure\"; tasks = ( { type = \"letter\"; } ); }\n"
    ");\n"
    "rules = (\n"
    "  { name = \"due-soon\"; from = \"current\"; to = \"reminder\";\n"
    "    when = { days_to_due = { max = 3; }; }; },\n"
    "  { name = \"overdue\"; from = [\"current\", \"reminder\"];\n"
    "    to = \"negotiation\"; when = { days_overdue = { min = 1; }; }; },\n"
    "  { name = \"long\"; from = \"negotiation\"; to = \"pressure\";\n"
    "    when = { days_overdue = { min = 30; }; }; },\n"
    "  { name = \"settled\"; from = \"*\"; to = \"current\";\n"
    "    when = { balance = { max = 0; }; }; }\n"
    ");\n"
    "alerts = ( { name = \"two-late\";\n"
    "    when = { overdue_invoices = { min = 2; }; };\n"
    "    task = { type = \"review\"; }; cooldown = \"3d\"; } );\n";

#define ACCT_A                                                                 \
	"{'type':'account','id':'a-A','account':'A','name':'Acme',"            \
	"'currency':'CNY','size':'medium','contacts':["                        \
	"{'role':'accountant','name':'Li','phone':'1'},"                       \
	"{'role':'cfo','name':'Wang','email':'w@example.com'}]}\n"

/* I1: 1000 due 2026-10-20 (23 days overdue on 11-12). */
#define INV_I1                                                                 \
	"{'type':'invoice','id':'i-I1','account':'A','invoice':'I1',"          \
	"'amount':1000,'issued':'2026-10-01','due':'2026-10-20'}\n"

static size_t
count_kind(const json_t *feed, const char *kind)
{
	size_t i, n = 0;

	for (i = 0; i < json_array_size(feed); i++)
		if (strcmp(fx_str(json_array_get(feed, i), "kind"), kind) == 0)
			n++;
	return n;
}

/* §4.4 step 3: chained hops, one evaluation. */
static void
test_chained_hops(void **state)
{
	int64_t now = T("2026-11-12T09:00:00+08:00");
	const json_t *r, *pf;
	json_t *feed;
	struct acct *a;

	(void)state;
	fx_start(rules_eval, T(START));
	/*
	 * I1 overdue (days_overdue 23) and I2 due in 2 days (days_to_due
	 * 2): current -> reminder (due-soon), then from reminder ->
	 * negotiation (overdue); long needs 30.
	 */
	fx_ok(now,
	    ACCT_A INV_I1 "{'type':'invoice','id':'i-I2','account':'A',"
	                  "'invoice':'I2','amount':500,'issued':'2026-11-01',"
	                  "'due':'2026-11-14'}");
	a = fx_acct("A");
	assert_int_equal(a->stage, 2);
	assert_int_equal(a->stage_entered, now);
	assert_int_equal(a->ntasks, 1);

	feed = fx_feed(0);
	/* §5: one transition per hop (same at), then the new stage tasks. */
	assert_int_equal(json_array_size(feed), 3);
	r = json_array_get(feed, 0);
	assert_int_equal(fx_int(r, "seq"), 1);
	assert_string_equal(fx_str(r, "kind"), "transition");
	assert_string_equal(fx_str(r, "account"), "A");
	assert_string_equal(fx_str(r, "from"), "current");
	assert_string_equal(fx_str(r, "to"), "reminder");
	assert_string_equal(fx_str(r, "rule"), "due-soon");
	assert_string_equal(fx_str(r, "at"), "2026-11-12T09:00:00+08:00");
	r = json_array_get(feed, 1);
	assert_int_equal(fx_int(r, "seq"), 2);
	assert_string_equal(fx_str(r, "kind"), "transition");
	assert_string_equal(fx_str(r, "from"), "reminder");
	assert_string_equal(fx_str(r, "to"), "negotiation");
	assert_string_equal(fx_str(r, "rule"), "overdue");
	assert_string_equal(fx_str(r, "at"), "2026-11-12T09:00:00+08:00");

	/*
	 * §4.4: only the final stage's cadence starts (no reminder email);
	 * its after=0d step now.
	 */
	r = json_array_get(feed, 2);
	assert_int_equal(fx_int(r, "seq"), 3);
	assert_string_equal(fx_str(r, "kind"), "task");
	assert_string_equal(fx_str(r, "task"), "T-000001");
	assert_string_equal(fx_str(r, "account"), "A");
	assert_string_equal(fx_str(r, "type"), "call");
	assert_string_equal(fx_str(r, "stage"), "negotiation");
	assert_string_equal(fx_str(r, "source"), "stage:negotiation#1");
	/* §5: no script: no script and checklist members. */
	assert_null(json_object_get(r, "script"));
	assert_null(json_object_get(r, "checklist"));
	/*
	 * §5 contact: medium prefers general_manager, cfo, ...; a call
	 * needs a phone, so the accountant (Li) is called and the cfo,
	 * whom only an email reaches, is asked for (P6).
	 */
	assert_string_equal(
	    fx_str(json_object_get(r, "contact"), "name"), "Li");
	assert_string_equal(fx_str(r, "ask_for"), "cfo");
	assert_string_equal(
	    fx_str(r, "not_before"), "2026-11-12T09:00:00+08:00");
	assert_string_equal(
	    fx_str(r, "not_after"), "2026-11-13T09:00:00+08:00");
	assert_string_equal(fx_str(r, "created"), "2026-11-12T09:00:00+08:00");
	/* §5: amount_due = undisputed_overdue 1000; days_overdue 23. */
	assert_int_equal(fx_int(r, "amount_due"), 1000);
	assert_string_equal(fx_str(r, "currency"), "CNY");
	assert_int_equal(fx_int(r, "days_overdue"), 23);
	/*
	 * §5 priority: amount 40 * 4 digits = 160, age 3 * 23 = 69, risk
	 * unset (C) 50, stage 200 * 2 / 3 = 133 (rounded down): 412.
	 */
	pf = json_object_get(r, "priority_factors");
	assert_int_equal(fx_int(pf, "amount"), 160);
	assert_int_equal(fx_int(pf, "age"), 69);
	assert_int_equal(fx_int(pf, "risk"), 50);
	assert_int_equal(fx_int(pf, "stage"), 133);
	assert_int_equal(fx_int(r, "priority"), 412);
	json_decref(feed);
}

/* §4.4 step 3: leaving a stage cancels its open stage tasks only. */
static void
test_leaving_stage_cancels_stage_tasks(void **state)
{
	int64_t now = T("2026-11-12T09:00:00+08:00");
	const json_t *r;
	json_t *feed;
	struct acct *a;

	(void)state;
	fx_start(rules_eval, T(START));
	/* Two overdue invoices: negotiation, and the alert fires. */
	fx_ok(now,
	    ACCT_A INV_I1 "{'type':'invoice','id':'i-I3','account':'A',"
	                  "'invoice':'I3','amount':500,'issued':'2026-10-01',"
	                  "'due':'2026-10-25'}");
	feed = fx_feed(0);
	/* §5 order: transition, stage task, then alert task. */
	assert_int_equal(json_array_size(feed), 3);
	r = json_array_get(feed, 0);
	assert_string_equal(fx_str(r, "rule"), "overdue");
	assert_string_equal(fx_str(r, "from"), "current");
	r = json_array_get(feed, 1);
	assert_string_equal(fx_str(r, "source"), "stage:negotiation#1");
	assert_string_equal(fx_str(r, "task"), "T-000001");
	r = json_array_get(feed, 2);
	assert_string_equal(fx_str(r, "source"), "alert:two-late");
	assert_string_equal(fx_str(r, "task"), "T-000002");
	assert_string_equal(fx_str(r, "type"), "review");
	/* §4.6: its task carries the final stage. */
	assert_string_equal(fx_str(r, "stage"), "negotiation");
	json_decref(feed);
	assert_int_equal(fx_acct("A")->ntasks, 2);

	/* Paid in full: settled -> current. */
	now = T("2026-11-13T10:00:00+08:00");
	fx_ok(now,
	    "{'type':'payment','id':'p1','account':'A','amount':1500,"
	    "'at':'2026-11-13T10:00:00+08:00'}");
	feed = fx_feed(3);
	assert_int_equal(json_array_size(feed), 2);
	r = json_array_get(feed, 0);
	assert_string_equal(fx_str(r, "kind"), "transition");
	assert_string_equal(fx_str(r, "from"), "negotiation");
	assert_string_equal(fx_str(r, "to"), "current");
	assert_string_equal(fx_str(r, "rule"), "settled");
	assert_string_equal(fx_str(r, "at"), "2026-11-13T10:00:00+08:00");
	r = json_array_get(feed, 1);
	assert_string_equal(fx_str(r, "kind"), "cancel");
	assert_string_equal(fx_str(r, "task"), "T-000001");
	assert_string_equal(fx_str(r, "account"), "A");
	assert_string_equal(fx_str(r, "at"), "2026-11-13T10:00:00+08:00");
	json_decref(feed);
	/* §4.6: stage changes do not cancel alert tasks. */
	a = fx_acct("A");
	assert_int_equal(a->stage, 0);
	assert_int_equal(a->ntasks, 1);
	assert_int_equal(a->tasks[0].num, 2);
	assert_int_equal(a->tasks[0].alert, 0);
}

/* §4.5: hold_when blocks even the after=0d step; the clock stops. */
static void
test_hold_until_promise_verdict(void **state)
{
	int64_t now = T("2026-11-12T09:00:00+08:00");
	int64_t brk = T("2026-11-14T00:00:00+08:00");
	int64_t step2 = T("2026-11-19T00:00:00+08:00");
	const json_t *r;
	json_t *feed;
	struct acct *a;

	(void)state;
	fx_start(rules_eval, T(START));
	/*
	 * I1 due 11-10: overdue, negotiation.  The promise is pending until
	 * its break moment, end of 11-13 + 0d grace = 11-14T00:00.
	 */
	fx_ok(now,
	    ACCT_A "{'type':'invoice','id':'i-I1','account':'A',"
	           "'invoice':'I1','amount':1000,'issued':'2026-10-01',"
	           "'due':'2026-11-10'}\n"
	           "{'type':'promise','id':'pr1','account':'A','amount':300,"
	           "'due':'2026-11-13','at':'2026-11-12T09:00:00+08:00'}");
	a = fx_acct("A");
	assert_int_equal(a->stage, 2);
	assert_true(a->held);
	assert_int_equal(a->ntasks, 0);
	/* Only the transition. */
	assert_int_equal(fx_head(), 1);

	assert_int_equal(engine_run_until(&fx.e, brk - 1), 0);
	assert_int_equal(fx_head(), 1);
	assert_int_equal(fx_prom("A", "pr1")->verdict, ACCT_PENDING);

	/*
	 * §3.1 broken at brk; §4.5 the step the clock reached while held
	 * (after 0d) is emitted at the first evaluation not held: brk.
	 */
	assert_int_equal(engine_run_until(&fx.e, brk), 0);
	assert_int_equal(fx_prom("A", "pr1")->verdict, ACCT_BROKEN);
	assert_false(fx_acct("A")->held);
	feed = fx_feed(1);
	assert_int_equal(json_array_size(feed), 1);
	r = json_array_get(feed, 0);
	assert_string_equal(fx_str(r, "source"), "stage:negotiation#1");
	assert_string_equal(fx_str(r, "created"), "2026-11-14T00:00:00+08:00");
	json_decref(feed);

	/* Step 2 (after 5d): the clock ran from 0 at brk: brk + 5d. */
	assert_int_equal(engine_run_until(&fx.e, step2 - 1), 0);
	assert_int_equal(fx_head(), 2);
	assert_int_equal(engine_run_until(&fx.e, step2), 0);
	feed = fx_feed(2);
	assert_int_equal(json_array_size(feed), 1);
	r = json_array_get(feed, 0);
	assert_string_equal(fx_str(r, "source"), "stage:negotiation#2");
	assert_string_equal(fx_str(r, "created"), "2026-11-19T00:00:00+08:00");
	json_decref(feed);

	/*
	 * Step 3 (after 10d, every 2d, max 2): brk + 10d and brk + 12d,
	 * sources /1 and /2 (§5), and no third.
	 */
	assert_int_equal(
	    engine_run_until(&fx.e, T("2026-12-05T00:00:00+08:00")), 0);
	feed = fx_feed(3);
	assert_int_equal(json_array_size(feed), 2);
	r = json_array_get(feed, 0);
	assert_string_equal(fx_str(r, "type"), "visit");
	assert_string_equal(fx_str(r, "source"), "stage:negotiation#3/1");
	assert_string_equal(fx_str(r, "created"), "2026-11-24T00:00:00+08:00");
	r = json_array_get(feed, 1);
	assert_string_equal(fx_str(r, "source"), "stage:negotiation#3/2");
	assert_string_equal(fx_str(r, "created"), "2026-11-26T00:00:00+08:00");
	json_decref(feed);
	assert_int_equal(fx_acct("A")->ntasks, 4);
}

/* §4.5: pausing cancels and stops the cadence clock. */
static void
test_pause_stops_cadence_clock(void **state)
{
	int64_t entry = T("2026-11-12T09:00:00+08:00");
	const json_t *r;
	json_t *feed;
	struct acct *a;

	(void)state;
	fx_start(rules_eval, T(START));
	fx_ok(entry,
	    ACCT_A "{'type':'invoice','id':'i-I1','account':'A',"
	           "'invoice':'I1','amount':1000,'issued':'2026-10-01',"
	           "'due':'2026-11-10'}");
	assert_int_equal(fx_acct("A")->stage, 2);
	assert_int_equal(fx_head(), 2); /* transition, call #1 */

	/* entry + 1d: paused; §4.4 step 2 its open tasks are cancelled. */
	fx_ok(entry + DAY,
	    "{'type':'account','id':'a-A2','account':'A','paused':true}");
	feed = fx_feed(2);
	assert_int_equal(json_array_size(feed), 1);
	r = json_array_get(feed, 0);
	assert_string_equal(fx_str(r, "kind"), "cancel");
	assert_string_equal(fx_str(r, "task"), "T-000001");
	assert_string_equal(fx_str(r, "at"), "2026-11-13T09:00:00+08:00");
	json_decref(feed);
	a = fx_acct("A");
	assert_int_equal(a->ntasks, 0);
	assert_false(a->cad_running);

	/* Nothing falls due while paused (entry + 5d passes). */
	fx_ok(entry + 6 * DAY,
	    "{'type':'account','id':'a-A3','account':'A','paused':false}");
	assert_int_equal(fx_head(), 3);
	/*
	 * §4.5: paused from entry + 1d to entry + 6d; the clock read 1d at
	 * the pause, so step 2 (after 5d) falls due 4d after the unpause:
	 * entry + 10d.  Withdrawn tasks are not issued again (no new #1).
	 */
	assert_int_equal(engine_run_until(&fx.e, entry + 10 * DAY - 1), 0);
	assert_int_equal(fx_head(), 3);
	assert_int_equal(engine_run_until(&fx.e, entry + 10 * DAY), 0);
	feed = fx_feed(3);
	assert_int_equal(json_array_size(feed), 1);
	r = json_array_get(feed, 0);
	assert_string_equal(fx_str(r, "source"), "stage:negotiation#2");
	assert_string_equal(fx_str(r, "created"), "2026-11-22T09:00:00+08:00");
	json_decref(feed);
}

/* The brief's case: a step due 5d after entry, 2d paused: entry + 7d. */
static void
test_pause_two_days_delays_step_two_days(void **state)
{
	int64_t entry = T("2026-11-12T09:00:00+08:00");
	const json_t *r;
	json_t *feed;

	(void)state;
	fx_start(rules_eval, T(START));
	fx_ok(entry,
	    ACCT_A "{'type':'invoice','id':'i-I1','account':'A',"
	           "'invoice':'I1','amount':1000,'issued':'2026-10-01',"
	           "'due':'2026-11-10'}");
	fx_ok(entry + DAY,
	    "{'type':'account','id':'a-A2','account':'A','paused':true}");
	/* §4.5: unpausing evaluates at once; the clock resumes at 1d. */
	fx_ok(entry + 3 * DAY,
	    "{'type':'account','id':'a-A3','account':'A','paused':false}");
	assert_int_equal(fx_head(), 3); /* transition, call #1, cancel */
	assert_true(fx_acct("A")->cad_running);
	assert_int_equal(engine_run_until(&fx.e, entry + 7 * DAY - 1), 0);
	assert_int_equal(fx_head(), 3);
	assert_int_equal(engine_run_until(&fx.e, entry + 7 * DAY), 0);
	feed = fx_feed(3);
	assert_int_equal(json_array_size(feed), 1);
	r = json_array_get(feed, 0);
	assert_string_equal(fx_str(r, "source"), "stage:negotiation#2");
	assert_string_equal(fx_str(r, "task"), "T-000002");
	assert_string_equal(fx_str(r, "created"), "2026-11-19T09:00:00+08:00");
	json_decref(feed);
}

/* §4.6: level-triggered, it fires again exactly at fire + cooldown. */
static void
test_alert_refires_at_cooldown_end(void **state)
{
	int64_t fire = T("2026-11-12T09:00:00+08:00");
	const json_t *r;
	json_t *feed;

	(void)state;
	fx_start(rules_eval, T(START));
	fx_ok(fire,
	    ACCT_A INV_I1 "{'type':'invoice','id':'i-I3','account':'A',"
	                  "'invoice':'I3','amount':500,'issued':'2026-10-01',"
	                  "'due':'2026-10-25'}");
	feed = fx_feed(0);
	assert_int_equal(count_kind(feed, "task"), 2);
	json_decref(feed);
	assert_int_equal(fx_head(), 3);

	assert_int_equal(engine_run_until(&fx.e, fire + 3 * DAY - 1), 0);
	assert_int_equal(fx_head(), 3);
	assert_int_equal(engine_run_until(&fx.e, fire + 3 * DAY), 0);
	feed = fx_feed(3);
	assert_int_equal(json_array_size(feed), 1);
	r = json_array_get(feed, 0);
	assert_string_equal(fx_str(r, "source"), "alert:two-late");
	assert_string_equal(fx_str(r, "task"), "T-000003");
	assert_string_equal(fx_str(r, "created"), "2026-11-15T09:00:00+08:00");
	/* Its stage is the account's at that moment. */
	assert_string_equal(fx_str(r, "stage"), "negotiation");
	json_decref(feed);
	/* The previous alert task stays open beside it. */
	assert_int_equal(fx_acct("A")->ntasks, 3);

	/* Once it no longer holds it does not fire at the next end. */
	fx_ok(fire + 4 * DAY,
	    "{'type':'payment','id':'p1','account':'A','amount':1000,"
	    "'invoice':'I1','at':'2026-11-16T09:00:00+08:00'}");
	assert_int_equal(engine_run_until(&fx.e, fire + 6 * DAY), 0);
	feed = fx_feed(4);
	assert_int_equal(count_kind(feed, "task"), 1); /* call #2 at +5d */
	json_decref(feed);
}

/* §4.8, eval invariant (2): an evaluation that changes nothing. */
static void
test_quiet_sweep_writes_nothing(void **state)
{
	int64_t now = T("2026-11-12T09:00:00+08:00");
	struct acct *const *all;
	char *before, *after;
	size_t nbefore, nafter, n, i;
	int64_t head;

	(void)state;
	fx_start(rules_eval, T(START));
	fx_ok(now, ACCT_A INV_I1);
	assert_int_equal(fx_acct("A")->stage, 2);
	head = fx_head();
	before = fx_state("A", &nbefore);

	/*
	 * A day with a local midnight (days_overdue 23 -> 24, tested by
	 * rules) and the 00:05 sweep, but no rule, step or alert due.
	 */
	assert_int_equal(engine_run_until(&fx.e, now + DAY), 0);
	assert_int_equal(fx.e.clock_pos, now + DAY);
	assert_int_equal(fx_head(), head);
	after = fx_state("A", &nafter);
	assert_int_equal(nafter, nbefore);
	assert_memory_equal(after, before, nbefore);
	free(after);

	/* The sweep's evaluation itself: no account touched. */
	assert_int_equal(engine_step_begin(&fx.e, now + DAY + HOUR), 0);
	all = engine_sorted(&fx.e, &n);
	for (i = 0; i < n; i++)
		eval_account(&fx.e, all[i]);
	assert_int_equal(fx.e.nundo, 0);
	assert_int_equal(engine_step_end(&fx.e, true), 0);
	assert_int_equal(fx_head(), head);
	after = fx_state("A", &nafter);
	assert_memory_equal(after, before, nbefore);
	free(after);
	free(before);
}

/*
 * §2.4: a batch evaluates the accounts it touched in order of first
 * appearance; §4.3: accounts due at one moment in byte order of id.
 */
static void
test_evaluation_order(void **state)
{
	int64_t now = T("2026-11-12T09:00:00+08:00");
	const json_t *r;
	json_t *feed;

	(void)state;
	fx_start(rules_eval, T(START));
	fx_ok(now,
	    "{'type':'account','id':'a-B','account':'B','name':'Bolt',"
	    "'currency':'CNY','size':'small'}\n" ACCT_A INV_I1
	    "{'type':'invoice','id':'i-IB','account':'B','invoice':'IB',"
	    "'amount':700,'issued':'2026-10-01','due':'2026-10-20'}");
	feed = fx_feed(0);
	assert_int_equal(json_array_size(feed), 4);
	r = json_array_get(feed, 0);
	assert_string_equal(fx_str(r, "account"), "B");
	assert_string_equal(fx_str(r, "kind"), "transition");
	r = json_array_get(feed, 1);
	assert_string_equal(fx_str(r, "account"), "B");
	assert_string_equal(fx_str(r, "task"), "T-000001");
	r = json_array_get(feed, 2);
	assert_string_equal(fx_str(r, "account"), "A");
	assert_string_equal(fx_str(r, "kind"), "transition");
	r = json_array_get(feed, 3);
	assert_string_equal(fx_str(r, "account"), "A");
	assert_string_equal(fx_str(r, "task"), "T-000002");
	json_decref(feed);

	/* Step 2 of both falls due at now + 5d: A before B. */
	assert_int_equal(engine_run_until(&fx.e, now + 5 * DAY), 0);
	feed = fx_feed(4);
	assert_int_equal(json_array_size(feed), 2);
	r = json_array_get(feed, 0);
	assert_string_equal(fx_str(r, "account"), "A");
	assert_string_equal(fx_str(r, "task"), "T-000003");
	assert_string_equal(fx_str(r, "created"), "2026-11-17T09:00:00+08:00");
	r = json_array_get(feed, 1);
	assert_string_equal(fx_str(r, "account"), "B");
	assert_string_equal(fx_str(r, "task"), "T-000004");
	json_decref(feed);
}

/* §4.5: a hold that starts midway stops the clock where it stands. */
static void
test_hold_midway_stops_clock(void **state)
{
	int64_t entry = T("2026-11-12T09:00:00+08:00");
	int64_t brk = T("2026-11-15T00:00:00+08:00");
	const json_t *r;
	json_t *feed;

	(void)state;
	fx_start(rules_eval, T(START));
	fx_ok(entry,
	    ACCT_A "{'type':'invoice','id':'i-I1','account':'A',"
	           "'invoice':'I1','amount':1000,'issued':'2026-10-01',"
	           "'due':'2026-11-10'}");
	assert_int_equal(fx_head(), 2); /* transition, call #1 */
	/* entry + 1d: a promise due 11-14 holds the account (clock 1d). */
	fx_ok(entry + DAY,
	    "{'type':'promise','id':'pr1','account':'A','amount':300,"
	    "'due':'2026-11-14','at':'2026-11-13T09:00:00+08:00'}");
	assert_true(fx_acct("A")->held);
	/* Without the hold step 2 would fall due at entry + 5d. */
	assert_int_equal(engine_run_until(&fx.e, entry + 5 * DAY), 0);
	assert_int_equal(fx_head(), 2);
	/*
	 * Broken at 11-15T00:00 (end of 11-14, grace 0d): the clock runs
	 * again from 1d; step 2 (after 5d) at brk + 4d = 11-19T00:00.
	 */
	assert_int_equal(fx_prom("A", "pr1")->verdict, ACCT_BROKEN);
	assert_int_equal(fx_prom("A", "pr1")->verdict_at, brk);
	assert_int_equal(engine_run_until(&fx.e, brk + 4 * DAY - 1), 0);
	assert_int_equal(fx_head(), 2);
	assert_int_equal(engine_run_until(&fx.e, brk + 4 * DAY), 0);
	feed = fx_feed(2);
	assert_int_equal(json_array_size(feed), 1);
	r = json_array_get(feed, 0);
	assert_string_equal(fx_str(r, "source"), "stage:negotiation#2");
	assert_string_equal(fx_str(r, "created"), "2026-11-19T00:00:00+08:00");
	json_decref(feed);
}

/*
 * §4.5: pausing cancels every open task, alert tasks included; §4.6:
 * cooldowns run paused or not, so an alert whose cooldown ended while
 * paused fires at the unpause.
 */
static void
test_pause_cancels_alert_tasks_and_cooldown_runs(void **state)
{
	int64_t fire = T("2026-11-12T09:00:00+08:00");
	const json_t *r;
	json_t *feed;

	(void)state;
	fx_start(rules_eval, T(START));
	fx_ok(fire,
	    ACCT_A INV_I1 "{'type':'invoice','id':'i-I3','account':'A',"
	                  "'invoice':'I3','amount':500,'issued':'2026-10-01',"
	                  "'due':'2026-10-25'}");
	assert_int_equal(fx_head(), 3); /* transition, call, review */
	fx_ok(fire + DAY,
	    "{'type':'account','id':'a-A2','account':'A','paused':true}");
	feed = fx_feed(3);
	assert_int_equal(json_array_size(feed), 2);
	r = json_array_get(feed, 0);
	assert_string_equal(fx_str(r, "kind"), "cancel");
	assert_string_equal(fx_str(r, "task"), "T-000001");
	r = json_array_get(feed, 1);
	assert_string_equal(fx_str(r, "kind"), "cancel");
	assert_string_equal(fx_str(r, "task"), "T-000002");
	json_decref(feed);
	assert_int_equal(fx_acct("A")->ntasks, 0);

	/* Nothing while paused, though the cooldown ends at fire + 3d. */
	assert_int_equal(engine_run_until(&fx.e, fire + 5 * DAY), 0);
	assert_int_equal(fx_head(), 5);
	fx_ok(fire + 5 * DAY,
	    "{'type':'account','id':'a-A3','account':'A','paused':false}");
	feed = fx_feed(5);
	assert_int_equal(json_array_size(feed), 1);
	r = json_array_get(feed, 0);
	assert_string_equal(fx_str(r, "source"), "alert:two-late");
	assert_string_equal(fx_str(r, "created"), "2026-11-17T09:00:00+08:00");
	json_decref(feed);
}

/* §4.5: promises still get their verdicts while paused (§3.1 timer). */
static void
test_paused_account_gets_verdicts(void **state)
{
	int64_t now = T("2026-11-12T09:00:00+08:00");
	int64_t brk = T("2026-11-14T00:00:00+08:00");

	(void)state;
	fx_start(rules_eval, T(START));
	fx_ok(now,
	    ACCT_A
	    "{'type':'invoice','id':'i-I1','account':'A',"
	    "'invoice':'I1','amount':1000,'issued':'2026-10-01',"
	    "'due':'2026-11-10'}\n"
	    "{'type':'promise','id':'pr1','account':'A','amount':300,"
	    "'due':'2026-11-13','at':'2026-11-12T09:00:00+08:00'}\n"
	    "{'type':'account','id':'a-A2','account':'A','paused':true}");
	assert_int_equal(fx_acct("A")->stage, 0); /* paused: no transition */
	assert_int_equal(fx_head(), 0);
	assert_int_equal(engine_run_until(&fx.e, brk), 0);
	assert_int_equal(fx_prom("A", "pr1")->verdict, ACCT_BROKEN);
	assert_int_equal(fx_prom("A", "pr1")->verdict_at, brk);
	/* §4.4 step 2: nothing else happens. */
	assert_int_equal(fx_head(), 0);
	assert_int_equal(fx_acct("A")->stage, 0);
}

/* §5 amount_due: balance - disputed_amount when nothing undisputed is overdue. */
static void
test_task_amount_due_without_overdue(void **state)
{
	int64_t now = T("2026-11-12T09:00:00+08:00");
	const json_t *r, *pf;
	json_t *feed;

	(void)state;
	fx_start(rules_eval, T(START));
	/* Due in 2 days: current -> reminder (due-soon), its email now. */
	fx_ok(now,
	    ACCT_A
	    "{'type':'invoice','id':'i-I1','account':'A',"
	    "'invoice':'I1','amount':1000,'issued':'2026-11-01',"
	    "'due':'2026-11-14'}\n"
	    "{'type':'dispute','id':'d1','account':'A','invoice':'I1',"
	    "'amount':300,'reason':'r','at':'2026-11-12T08:00:00+08:00'}\n"
	    "{'type':'account','id':'a-A2','account':'A','risk':'E'}");
	feed = fx_feed(0);
	assert_int_equal(json_array_size(feed), 2);
	r = json_array_get(feed, 1);
	assert_string_equal(fx_str(r, "type"), "email");
	assert_string_equal(fx_str(r, "source"), "stage:reminder#1");
	/* 1000 - 300 disputed = 700; days_overdue 0 (§3). */
	assert_int_equal(fx_int(r, "amount_due"), 700);
	assert_int_equal(fx_int(r, "days_overdue"), 0);
	/* 40 * 3 digits + 0 + risk E 100 + 200 * 1 / 3 = 66: 286. */
	pf = json_object_get(r, "priority_factors");
	assert_int_equal(fx_int(pf, "amount"), 120);
	assert_int_equal(fx_int(pf, "age"), 0);
	assert_int_equal(fx_int(pf, "risk"), 100);
	assert_int_equal(fx_int(pf, "stage"), 66);
	assert_int_equal(fx_int(r, "priority"), 286);
	json_decref(feed);
}

/*
 * §2.4, §6: what is committed survives a restart; the due moments are
 * armed again from the stored state (a held account's promise break).
 */
static void
test_restart_keeps_state_and_due_moments(void **state)
{
	int64_t now = T("2026-11-12T09:00:00+08:00");
	int64_t brk = T("2026-11-14T00:00:00+08:00");
	int64_t seq, tasks, head;
	char *before, *after;
	size_t nbefore, nafter;
	const json_t *r;
	json_t *feed;

	(void)state;
	fx_start(rules_eval, T(START));
	fx_ok(now,
	    ACCT_A INV_I1 "{'type':'promise','id':'pr1','account':'A',"
	                  "'amount':300,'due':'2026-11-13',"
	                  "'at':'2026-11-12T09:00:00+08:00'}\n"
	                  "{'type':'payment','id':'p1','account':'A',"
	                  "'amount':100,'at':'2026-11-12T09:00:00+08:00'}");
	assert_int_equal(engine_run_until(&fx.e, now + HOUR), 0);
	before = fx_state("A", &nbefore);
	seq = fx.e.event_seq;
	tasks = fx.e.task_num;
	head = fx_head();

	fx_restart();
	assert_int_equal(fx.e.clock_pos, now + HOUR);
	assert_int_equal(fx.e.event_seq, seq);
	assert_int_equal(fx.e.task_num, tasks);
	assert_int_equal(fx_head(), head);
	after = fx_state("A", &nafter);
	assert_int_equal(nafter, nbefore);
	assert_memory_equal(after, before, nbefore);
	free(after);
	free(before);
	assert_true(fx_acct("A")->held);
	assert_int_equal(fx_prom("A", "pr1")->counted, 100);

	assert_int_equal(engine_run_until(&fx.e, brk), 0);
	assert_int_equal(fx_prom("A", "pr1")->verdict, ACCT_BROKEN);
	feed = fx_feed(head);
	assert_int_equal(json_array_size(feed), 1);
	r = json_array_get(feed, 0);
	assert_string_equal(fx_str(r, "source"), "stage:negotiation#1");
	assert_string_equal(fx_str(r, "created"), "2026-11-14T00:00:00+08:00");
	json_decref(feed);
	/* Event ids stay known: the batch again is all duplicate. */
	{
		struct ingest_batch b;

		fx_run(brk + HOUR,
		    "{'type':'payment','id':'p1','account':'A',"
		    "'amount':100,'at':'2026-11-12T09:00:00+08:00'}",
		    false, &b);
		assert_int_equal(b.counts[INGEST_DUPLICATE], 1);
		ingest_batch_fini(&b);
	}
}

/*
 * Leaves pressure when the broken promise leaves the 7d window: no
 * cycle (§4.8: the two promises_broken conditions are disjoint).
 */
static const char rules_window[] =
    "stages = ( { name = \"current\"; },\n"
    "  { name = \"negotiation\"; tasks = ( { type = \"call\"; } ); },\n"
    "  { name = \"pressure\"; } );\n"
    "rules = (\n"
    "  { name = \"overdue\"; from = \"current\"; to = \"negotiation\";\n"
    "    when = { days_overdue = { min = 1; }; }; },\n"
    "  { name = \"broke\"; from = \"negotiation\"; to = \"pressure\";\n"
    "    when = { promises_broken = { min = 1; window = \"7d\"; }; }; },\n"
    "  { name = \"calm\"; from = \"pressure\"; to = \"negotiation\";\n"
    "    when = { promises_broken = { max = 0; window = \"7d\"; }; }; }\n"
    ");\n";

/*
 * §4.3: due at the break moment, and at verdict moment + window; §4.5:
 * a stage entered again starts its cadence again.
 */
static void
test_verdict_leaves_window(void **state)
{
	int64_t now = T("2026-11-12T09:00:00+08:00");
	int64_t brk = T("2026-11-14T00:00:00+08:00");
	const json_t *r;
	json_t *feed;

	(void)state;
	fx_start(rules_window, T(START));
	fx_ok(now,
	    ACCT_A "{'type':'invoice','id':'i-I1','account':'A',"
	           "'invoice':'I1','amount':1000,'issued':'2026-10-01',"
	           "'due':'2026-11-10'}\n"
	           "{'type':'promise','id':'pr1','account':'A','amount':300,"
	           "'due':'2026-11-13','at':'2026-11-12T09:00:00+08:00'}");
	assert_int_equal(fx_acct("A")->stage, 1);
	assert_int_equal(fx_head(), 2); /* transition, call T-000001 */
	/* §3.1, §4.4 step 1: the verdict, then the rule, at brk. */
	assert_int_equal(engine_run_until(&fx.e, brk), 0);
	assert_int_equal(fx_acct("A")->stage, 2);
	feed = fx_feed(2);
	assert_int_equal(json_array_size(feed), 2);
	r = json_array_get(feed, 0);
	assert_string_equal(fx_str(r, "rule"), "broke");
	assert_string_equal(fx_str(r, "at"), "2026-11-14T00:00:00+08:00");
	r = json_array_get(feed, 1);
	assert_string_equal(fx_str(r, "kind"), "cancel");
	assert_string_equal(fx_str(r, "task"), "T-000001");
	json_decref(feed);
	/* §3: the verdict counts in (now - 7d, now]: out at brk + 7d. */
	assert_int_equal(engine_run_until(&fx.e, brk + 7 * DAY - 1), 0);
	assert_int_equal(fx_acct("A")->stage, 2);
	assert_int_equal(fx_head(), 4);
	assert_int_equal(engine_run_until(&fx.e, brk + 7 * DAY), 0);
	assert_int_equal(fx_acct("A")->stage, 1);
	feed = fx_feed(4);
	assert_int_equal(json_array_size(feed), 2);
	r = json_array_get(feed, 0);
	assert_string_equal(fx_str(r, "rule"), "calm");
	assert_string_equal(fx_str(r, "from"), "pressure");
	assert_string_equal(fx_str(r, "at"), "2026-11-21T00:00:00+08:00");
	/* §4.5: each stage entry starts the cadence clock at 0. */
	r = json_array_get(feed, 1);
	assert_string_equal(fx_str(r, "source"), "stage:negotiation#1");
	assert_string_equal(fx_str(r, "task"), "T-000002");
	assert_string_equal(fx_str(r, "created"), "2026-11-21T00:00:00+08:00");
	json_decref(feed);
}

static const char rules_stale[] =
    "stages = ( { name = \"current\"; },\n"
    "  { name = \"negotiation\"; tasks = ( { type = \"call\"; } ); },\n"
    "  { name = \"pressure\"; tasks = ( { type = \"letter\"; } ); } );\n"
    "rules = (\n"
    "  { name = \"overdue\"; from = \"current\"; to = \"negotiation\";\n"
    "    when = { days_overdue = { min = 1; }; }; },\n"
    "  { name = \"stale\"; from = \"negotiation\"; to = \"pressure\";\n"
    "    when = { days_in_stage = { min = 3; }; }; }\n"
    ");\n";

/* §3 days_in_stage: whole 24-hour periods; §4.3 due at each tick. */
static void
test_days_in_stage_tick(void **state)
{
	int64_t entry = T("2026-11-12T09:00:00+08:00");
	const json_t *r;
	json_t *feed;

	(void)state;
	fx_start(rules_stale, T(START));
	fx_ok(entry,
	    ACCT_A "{'type':'invoice','id':'i-I1','account':'A',"
	           "'invoice':'I1','amount':1000,'issued':'2026-10-01',"
	           "'due':'2026-11-10'}");
	assert_int_equal(fx_acct("A")->stage, 1);
	assert_int_equal(fx_head(), 2);
	assert_int_equal(engine_run_until(&fx.e, entry + 3 * DAY - 1), 0);
	assert_int_equal(fx_acct("A")->stage, 1);
	assert_int_equal(fx_head(), 2);
	assert_int_equal(engine_run_until(&fx.e, entry + 3 * DAY), 0);
	assert_int_equal(fx_acct("A")->stage, 2);
	feed = fx_feed(2);
	assert_int_equal(json_array_size(feed), 3);
	r = json_array_get(feed, 0);
	assert_string_equal(fx_str(r, "rule"), "stale");
	assert_string_equal(fx_str(r, "at"), "2026-11-15T09:00:00+08:00");
	r = json_array_get(feed, 1);
	assert_string_equal(fx_str(r, "kind"), "cancel");
	assert_string_equal(fx_str(r, "task"), "T-000001");
	r = json_array_get(feed, 2);
	assert_string_equal(fx_str(r, "type"), "letter");
	assert_string_equal(fx_str(r, "created"), "2026-11-15T09:00:00+08:00");
	json_decref(feed);
}

/* rules_eval without negotiation, and with a second alert first. */
static const char rules_reloaded[] =
    "stages = ( { name = \"current\"; },\n"
    "  { name = \"watch\"; tasks = ( { type = \"sms\"; } ); } );\n"
    "rules = ( { name = \"settled\"; from = \"*\"; to = \"current\";\n"
    "    when = { balance = { max = 0; }; }; } );\n"
    "alerts = (\n"
    "  { name = \"other\"; when = { overdue_invoices = { min = 1; }; };\n"
    "    task = { type = \"review\"; }; cooldown = \"1d\"; },\n"
    "  { name = \"two-late\"; when = { overdue_invoices = { min = 2; }; };\n"
    "    task = { type = \"review\"; }; cooldown = \"3d\"; } );\n";

/*
 * §4.7: an account whose stage the new set lacks moves to the first
 * stage ("reload" transition, stage tasks cancelled, entered then);
 * alert cooldowns are kept by alert name.
 */
static void
test_reload_moves_lost_stage_and_keeps_cooldowns(void **state)
{
	int64_t fire = T("2026-11-12T09:00:00+08:00");
	const char *name = "rules.conf", *text = rules_reloaded;
	const char *old_alerts[] = { "two-late" };
	struct ruleset *nrs;
	struct diags ds;
	const json_t *r;
	json_t *feed;
	struct acct *a;

	(void)state;
	fx_start(rules_eval, T(START));
	fx_ok(fire,
	    ACCT_A INV_I1 "{'type':'invoice','id':'i-I3','account':'A',"
	                  "'invoice':'I3','amount':500,'issued':'2026-10-01',"
	                  "'due':'2026-10-25'}");
	assert_int_equal(fx_head(), 3); /* transition, call, review */

	diags_init(&ds);
	nrs = rules_load_files(&name, &text, 1, &ds);
	diags_fini(&ds);
	assert_non_null(nrs);
	assert_int_equal(engine_run_until(&fx.e, fire + DAY), 0);
	assert_int_equal(
	    engine_reload(&fx.e, nrs, fire + DAY, old_alerts, 1), 0);
	rules_free(fx.rs);
	fx.rs = nrs;

	a = fx_acct("A");
	assert_int_equal(a->stage, 0);
	assert_int_equal(a->stage_entered, fire + DAY);
	feed = fx_feed(3);
	assert_int_equal(json_array_size(feed), 3);
	r = json_array_get(feed, 0);
	assert_string_equal(fx_str(r, "kind"), "transition");
	assert_string_equal(fx_str(r, "from"), "negotiation");
	assert_string_equal(fx_str(r, "to"), "current");
	assert_string_equal(fx_str(r, "rule"), "reload");
	assert_string_equal(fx_str(r, "at"), "2026-11-13T09:00:00+08:00");
	r = json_array_get(feed, 1);
	assert_string_equal(fx_str(r, "kind"), "cancel");
	assert_string_equal(fx_str(r, "task"), "T-000001");
	/* The new alert fires; two-late's cooldown (by name) runs on. */
	r = json_array_get(feed, 2);
	assert_string_equal(fx_str(r, "source"), "alert:other");
	assert_string_equal(fx_str(r, "task"), "T-000003");
	json_decref(feed);
	/* The alert task T-000002 stays open (§4.6). */
	assert_int_equal(a->ntasks, 2);

	/* fire + 2d: other again; fire + 3d: other, then two-late. */
	assert_int_equal(engine_run_until(&fx.e, fire + 3 * DAY), 0);
	feed = fx_feed(6);
	assert_int_equal(json_array_size(feed), 3);
	r = json_array_get(feed, 0);
	assert_string_equal(fx_str(r, "source"), "alert:other");
	assert_string_equal(fx_str(r, "created"), "2026-11-14T09:00:00+08:00");
	r = json_array_get(feed, 1);
	assert_string_equal(fx_str(r, "source"), "alert:other");
	assert_string_equal(fx_str(r, "created"), "2026-11-15T09:00:00+08:00");
	r = json_array_get(feed, 2);
	assert_string_equal(fx_str(r, "source"), "alert:two-late");
	assert_string_equal(fx_str(r, "created"), "2026-11-15T09:00:00+08:00");
	assert_string_equal(fx_str(r, "stage"), "current");
	json_decref(feed);
}

/* The first column of sql's first row, from a second connection. */
static char *
side_value(const char *sql, size_t *len)
{
	sqlite3 *h;
	sqlite3_stmt *st;
	char *p;

	assert_int_equal(sqlite3_open(fx.path, &h), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(h, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	*len = (size_t)sqlite3_column_bytes(st, 0);
	p = xmalloc(*len + 1);
	memcpy(p, sqlite3_column_blob(st, 0), *len);
	p[*len] = '\0';
	sqlite3_finalize(st);
	sqlite3_close(h);
	return p;
}

/* A restart reads account back as it is in memory. */
static void
restart_keeps(const char *account)
{
	char *st, *st2;
	size_t nst, nst2;

	st = fx_state(account, &nst);
	fx_restart();
	st2 = fx_state(account, &nst2);
	assert_int_equal(nst2, nst);
	assert_memory_equal(st2, st, nst);
	free(st);
	free(st2);
}

/*
 * An evaluation that moves an account (new stage, cancels, tasks)
 * rewrites only the part of its state that evaluation changes, in
 * acct_eval, with the stage's name; its accounts row is not written (a
 * trigger counts the writes) and stays byte for byte, and a restart
 * reads the two parts back as they were.  An event that moves nothing
 * (a part payment) rewrites the accounts row and not acct_eval.
 */
static void
test_evaluation_saves_its_part_only(void **state)
{
	int64_t entry = T("2026-11-12T09:00:00+08:00");
	char *row, *row2, *st;
	size_t nrow, nrow2, nst;

	(void)state;
	fx_start(rules_eval, T(START));
	fx_ok(entry,
	    ACCT_A "{'type':'invoice','id':'i-I1','account':'A',"
	           "'invoice':'I1','amount':1000,'issued':'2026-10-01',"
	           "'due':'2026-11-10'}");
	assert_int_equal(fx_acct("A")->stage, 2);
	row = side_value("SELECT state FROM accounts WHERE id = 'A'", &nrow);
	st = side_value("SELECT stage FROM acct_eval WHERE id = 'A'", &nst);
	assert_string_equal(st, "negotiation");
	free(st);
	fx_sql("CREATE TABLE wlog(id TEXT);"
	       "CREATE TRIGGER acct_w AFTER UPDATE OF state ON accounts "
	       "BEGIN INSERT INTO wlog VALUES (new.id); END;"
	       "CREATE TRIGGER eval_w AFTER UPDATE ON acct_eval "
	       "BEGIN INSERT INTO wlog VALUES ('eval:' || new.id); END;");

	/* Steps at +5d and +10d, then "long" at 30 days overdue. */
	assert_int_equal(
	    engine_run_until(&fx.e, T("2026-12-10T00:00:00+08:00")), 0);
	assert_int_equal(fx_acct("A")->stage, 3);
	assert_true(fx_head() >= 6);
	row2 = side_value("SELECT state FROM accounts WHERE id = 'A'", &nrow2);
	assert_int_equal(nrow2, nrow);
	assert_memory_equal(row2, row, nrow);
	free(row2);
	st = side_value("SELECT count(*) FROM wlog WHERE id = 'A'", &nst);
	assert_string_equal(st, "0");
	free(st);
	st = side_value(
	    "SELECT count(*) > 0 FROM wlog WHERE id = 'eval:A'", &nst);
	assert_string_equal(st, "1");
	free(st);
	fx_sql("DELETE FROM wlog;");
	st = side_value("SELECT stage FROM acct_eval WHERE id = 'A'", &nst);
	assert_string_equal(st, "pressure");
	free(st);
	restart_keeps("A");

	fx_ok(T("2026-12-10T10:00:00+08:00"),
	    "{'type':'payment','id':'p1','account':'A','amount':100,"
	    "'at':'2026-12-10T10:00:00+08:00'}");
	row2 = side_value("SELECT state FROM accounts WHERE id = 'A'", &nrow2);
	assert_true(nrow2 != nrow || memcmp(row2, row, nrow) != 0);
	free(row2);
	free(row);
	st = side_value("SELECT group_concat(id) FROM wlog", &nst);
	assert_string_equal(st, "A");
	free(st);
	restart_keeps("A");
}

/*
 * Regression (was a bug): a due moment whose step fails to commit was
 * not processed again at its own time.  engine_step_end() rolls back and re-arms the
 * touched accounts with engine_reschedule() while e->in_step is still
 * true, i.e. with eval_next_due(now = the failed moment), which returns
 * a moment > now (run_moment() does the same for accounts it evaluated
 * without touching); the failed moment itself is dropped.  Engine
 * invariant (3) and §4.3 ("records produced then carry that moment",
 * "every moment <= P has been processed") and §5 ("emitted at the
 * moment it falls due ... never later") say it is processed again at
 * its time once the store works.  Here the feed insert fails at step
 * 2's moment 2026-11-17T09:00:00; expected created
 * "2026-11-17T09:00:00+08:00", actual "2026-11-17T09:00:01+08:00"
 * (cadence due <= now becomes now + 1 in eval_next_due()).
 */
static void
test_failed_moment_is_processed_again(void **state)
{
	int64_t entry = T("2026-11-12T09:00:00+08:00");
	char *before, *after;
	size_t nbefore, nafter;
	const json_t *r;
	json_t *feed;

	(void)state;
	fx_start(rules_eval, T(START));
	fx_ok(entry,
	    ACCT_A "{'type':'invoice','id':'i-I1','account':'A',"
	           "'invoice':'I1','amount':1000,'issued':'2026-10-01',"
	           "'due':'2026-11-10'}");
	assert_int_equal(engine_run_until(&fx.e, entry + 5 * DAY - 1), 0);
	before = fx_state("A", &nbefore);
	fx_sql("CREATE TRIGGER no_feed BEFORE INSERT ON feed "
	       "BEGIN SELECT RAISE(ABORT, 'feed down'); END;");
	/* store.c logs the failed statement once (style.md §4). */
	assert_int_equal(engine_run_until(&fx.e, entry + 6 * DAY), -1);
	assert_true(fx.e.clock_pos < entry + 5 * DAY);
	after = fx_state("A", &nafter);
	assert_int_equal(nafter, nbefore);
	assert_memory_equal(after, before, nbefore);
	free(after);
	free(before);
	assert_int_equal(fx_head(), 2);

	fx_sql("DROP TRIGGER no_feed;");
	assert_int_equal(engine_run_until(&fx.e, entry + 6 * DAY), 0);
	assert_int_equal(fx.e.clock_pos, entry + 6 * DAY);
	feed = fx_feed(2);
	assert_int_equal(json_array_size(feed), 1);
	r = json_array_get(feed, 0);
	assert_string_equal(fx_str(r, "source"), "stage:negotiation#2");
	assert_string_equal(fx_str(r, "task"), "T-000002");
	assert_string_equal(fx_str(r, "created"), "2026-11-17T09:00:00+08:00");
	json_decref(feed);
}

/*
 * Regression (was a bug), the same for a fact's moment: the days_in_stage tick at
 * entry + 3d (2026-11-15T09:00:00) fails to commit; once the store
 * works the account is next due at the following local midnight, so
 * the "stale" transition is recorded 15 hours late.  Expected
 * transition at "2026-11-15T09:00:00+08:00" (§4.3); actual at
 * "2026-11-16T00:00:00+08:00".
 */
static void
test_failed_fact_moment_is_processed_again(void **state)
{
	int64_t entry = T("2026-11-12T09:00:00+08:00");
	const json_t *r;
	json_t *feed;

	(void)state;
	fx_start(rules_stale, T(START));
	fx_ok(entry,
	    ACCT_A "{'type':'invoice','id':'i-I1','account':'A',"
	           "'invoice':'I1','amount':1000,'issued':'2026-10-01',"
	           "'due':'2026-11-10'}");
	assert_int_equal(engine_run_until(&fx.e, entry + 3 * DAY - 1), 0);
	fx_sql("CREATE TRIGGER no_feed BEFORE INSERT ON feed "
	       "BEGIN SELECT RAISE(ABORT, 'feed down'); END;");
	assert_int_equal(engine_run_until(&fx.e, entry + 4 * DAY), -1);
	assert_int_equal(fx.e.clock_pos, entry + 3 * DAY - 1);
	assert_int_equal(fx_acct("A")->stage, 1);
	fx_sql("DROP TRIGGER no_feed;");
	assert_int_equal(engine_run_until(&fx.e, entry + 4 * DAY), 0);
	feed = fx_feed(2);
	assert_int_equal(json_array_size(feed), 3);
	r = json_array_get(feed, 0);
	assert_string_equal(fx_str(r, "rule"), "stale");
	assert_string_equal(fx_str(r, "at"), "2026-11-15T09:00:00+08:00");
	json_decref(feed);
}

/* Builds with ASan/UBSan (make asan) stop at undefined behaviour. */
#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) ||                                        \
    __has_feature(undefined_behavior_sanitizer)
#define SANITIZED 1
#endif
#endif

/*
 * Regression (was a bug): transitions() in daemon/eval.c ended with
 *     memset(a->emitted, 0, a->nemitted * sizeof(*a->emitted));
 * where a->emitted is NULL when the account never was in a stage with
 * tasks (fit_steps() allocates only when the step count changes): a
 * transition from a stage without tasks into another stage without
 * tasks passes NULL to memset, undefined behaviour (C11 7.24.1p2).
 * UBSan: "eval.c:454: null pointer passed as argument 1, which is
 * declared to never be null" and make asan aborts.  Expected: no
 * undefined behaviour (e.g. test nemitted > 0 first).  The behaviour
 * checked below is right.
 */
static void
test_transition_between_stages_without_tasks(void **state)
{
	static const char rules[] =
	    "stages = ( { name = \"current\"; }, { name = \"late\"; } );\n"
	    "rules = ( { name = \"overdue\"; from = \"current\";\n"
	    "    to = \"late\"; when = { days_overdue = { min = 1; }; }; } );\n";
	int64_t now = T("2026-11-12T09:00:00+08:00");

	(void)state;
	fx_start(rules, T(START));
	fx_ok(now, ACCT_A INV_I1);
	assert_int_equal(fx_acct("A")->stage, 1);
	assert_int_equal(fx_acct("A")->stage_entered, now);
	assert_int_equal(fx_head(), 1);
}

/*
 * §4.9 windows, as chosen once per moment and shared by the records of
 * that moment: two accounts due at one moment get the same window; a
 * reload at that same moment to rules whose schedule (same name, same
 * place) has other hours gives the next task the new hours.
 */
#define RULES_MEMO(hours)                                                         \
	"calendar = { hours = [\"09:00-12:00\"]; };\n"                            \
	"schedules = ( { name = \"calls\"; types = [\"call\"]; hours = [\"" hours \
	"\"]; } );\n"                                                             \
	"stages = ( { name = \"current\"; },\n"                                   \
	"  { name = \"negotiation\"; tasks = ( { type = \"call\"; } ); } );\n"    \
	"rules = ( { name = \"overdue\"; from = \"current\";\n"                   \
	"    to = \"negotiation\"; when = { days_overdue = { min = 1; }; }; }"    \
	" );\n"

static const char rules_memo_a[] = RULES_MEMO("09:00-10:00");
static const char rules_memo_b[] = RULES_MEMO("10:00-11:00");

#define ACCT_INV(id)                                                           \
	"{'type':'account','id':'a-" id "','account':'" id "','name':'N',"     \
	"'currency':'CNY','size':'small','contacts':[{'role':'owner',"         \
	"'name':'O','phone':'1'}]}\n"                                          \
	"{'type':'invoice','id':'i-" id "','account':'" id "','invoice':'I" id \
	"','amount':1000,'issued':'2026-10-01','due':'2026-11-10'}\n"

static void
test_window_per_moment_and_reload(void **state)
{
	int64_t now = T("2026-11-12T08:00:00+08:00"); /* a Thursday */
	const char *name = "rules.conf", *text = rules_memo_b;
	struct ruleset *nrs;
	struct diags ds;
	const json_t *r;
	json_t *feed;
	char *a, *b;
	int i;

	(void)state;
	fx_start(rules_memo_a, T(START));
	fx_ok(now, ACCT_INV("P") ACCT_INV("Q"));
	fx_ok(now, ACCT_INV("R"));
	feed = fx_feed(0);
	assert_int_equal(json_array_size(feed), 6); /* 3 x transition, call */
	for (i = 1; i < 6; i += 2) {
		r = json_array_get(feed, (size_t)i);
		assert_string_equal(fx_str(r, "schedule"), "calls");
		assert_string_equal(
		    fx_str(r, "not_before"), "2026-11-12T09:00:00+08:00");
		assert_string_equal(
		    fx_str(r, "not_after"), "2026-11-12T10:00:00+08:00");
	}
	a = json_dumps(json_object_get(json_array_get(feed, 1), "windows"), 0);
	b = json_dumps(json_object_get(json_array_get(feed, 5), "windows"), 0);
	assert_string_equal(a, b);
	assert_string_equal(a,
	    "[[\"2026-11-12T09:00:00+08:00\", \"2026-11-12T10:00:00+08:00\"]]");
	free(a);
	free(b);
	json_decref(feed);

	diags_init(&ds);
	nrs = rules_load_files(&name, &text, 1, &ds);
	diags_fini(&ds);
	assert_non_null(nrs);
	assert_int_equal(engine_reload(&fx.e, nrs, now, NULL, 0), 0);
	rules_free(fx.rs);
	fx.rs = nrs;
	fx_ok(now, ACCT_INV("S"));
	feed = fx_feed(6);
	assert_int_equal(json_array_size(feed), 2);
	r = json_array_get(feed, 1);
	assert_string_equal(fx_str(r, "account"), "S");
	assert_string_equal(
	    fx_str(r, "not_before"), "2026-11-12T10:00:00+08:00");
	assert_string_equal(
	    fx_str(r, "not_after"), "2026-11-12T11:00:00+08:00");
	json_decref(feed);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define TEST(f) cmocka_unit_test_setup_teardown(f, fx_setup, fx_teardown)
		TEST(test_chained_hops),
		TEST(test_leaving_stage_cancels_stage_tasks),
		TEST(test_hold_until_promise_verdict),
		TEST(test_pause_stops_cadence_clock),
		TEST(test_pause_two_days_delays_step_two_days),
		TEST(test_alert_refires_at_cooldown_end),
		TEST(test_quiet_sweep_writes_nothing),
		TEST(test_evaluation_order),
		TEST(test_hold_midway_stops_clock),
		TEST(test_pause_cancels_alert_tasks_and_cooldown_runs),
		TEST(test_paused_account_gets_verdicts),
		TEST(test_task_amount_due_without_overdue),
		TEST(test_restart_keeps_state_and_due_moments),
		TEST(test_verdict_leaves_window),
		TEST(test_days_in_stage_tick),
		TEST(test_evaluation_saves_its_part_only),
		TEST(test_failed_moment_is_processed_again),
		TEST(test_failed_fact_moment_is_processed_again),
		TEST(test_reload_moves_lost_stage_and_keeps_cooldowns),
		TEST(test_transition_between_stages_without_tasks),
		TEST(test_window_per_moment_and_reload),
#undef TEST
	};

	log_init(true, LOG_LEVEL_WARNING);
	if (clock_tz_set("Asia/Shanghai") == -1)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
