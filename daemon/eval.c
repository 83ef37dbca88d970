/*
 * eval — one evaluation (§4.4) and the records it appends (§5).
 *
 * Invariants:
 * (1) Nothing of the account changes before engine_touch(): the step
 *     can then be undone (engine.h).
 * (2) An evaluation in which no fact changed changes nothing: no
 *     record, no touch (a sweep over a quiet portfolio writes nothing).
 * (3) The cadence clock reads cad_acc + (now - cad_mark) while running;
 *     cad_acc and cad_mark change only when running flips or the stage
 *     is entered, so a quiet evaluation leaves them alone.
 * (4) Feed order within one evaluation (§5): transitions, the cancels
 *     of the stage left, stage tasks (step, then occurrence), alert
 *     tasks (alert order).
 */
#include "eval.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "account.h"
#include "clock.h"
#include "engine.h"
#include "facts.h"
#include "log.h"
#include "protocol.h"
#include "store.h"
#include "util.h"

void
eval_task_id(int64_t num, char buf[32])
{
	snprintf(buf, 32, "T-%06" PRId64, num);
}

json_t *
eval_json_ts(int64_t t)
{
	char buf[CLOCK_TS_LEN];

	clock_format_ts(t, buf);
	return json_string(buf);
}

json_t *
eval_fact_json(const struct ruleset *rs, const struct rules_factvals *fv,
    enum rules_fact f, size_t window)
{
	json_t *arr;
	size_t i;

	switch (f) {
	case RULES_FACT_BALANCE:
		return json_integer(fv->balance);
	case RULES_FACT_OVERDUE_AMOUNT:
		return json_integer(fv->overdue_amount);
	case RULES_FACT_DISPUTED_AMOUNT:
		return json_integer(fv->disputed_amount);
	case RULES_FACT_UNDISPUTED_OVERDUE:
		return json_integer(fv->undisputed_overdue);
	case RULES_FACT_OVERDUE_INVOICES:
		return json_integer(fv->overdue_invoices);
	case RULES_FACT_DAYS_OVERDUE:
		return json_integer(fv->days_overdue);
	case RULES_FACT_DAYS_TO_DUE:
		return fv->has_days_to_due ? json_integer(fv->days_to_due)
		                           : NULL;
	case RULES_FACT_LATE_TREND:
		return json_real(fv->late_trend);
	case RULES_FACT_ON_TIME_RATIO:
		return fv->has_on_time_ratio ? json_real(fv->on_time_ratio)
		                             : NULL;
	case RULES_FACT_FIRST_MISS:
		return json_boolean(fv->first_miss);
	case RULES_FACT_PROMISES_BROKEN:
		return fv->promises_broken
		    ? json_integer(fv->promises_broken[window])
		    : json_integer(0);
	case RULES_FACT_PROMISES_KEPT:
		return fv->promises_kept
		    ? json_integer(fv->promises_kept[window])
		    : json_integer(0);
	case RULES_FACT_PROMISE_PENDING:
		return json_boolean(fv->promise_pending);
	case RULES_FACT_UNREACHED:
		return json_integer(fv->unreached);
	case RULES_FACT_DAYS_IN_STAGE:
		return json_integer(fv->days_in_stage);
	case RULES_FACT_STAGE:
		return json_string(rs->stages[fv->stage].name);
	case RULES_FACT_SIZE:
		return json_string(rules_size_name(fv->size));
	case RULES_FACT_RISK:
		return fv->has_risk ? json_string(rules_risk_name(fv->risk))
		                    : NULL;
	case RULES_FACT_TAGS:
		arr = json_array();
		for (i = 0; i < fv->ntags; i++)
			json_array_append_new(arr, json_string(fv->tags[i]));
		return arr;
	default:
		return NULL;
	}
}

/* The facts a `when` tested, by name, as they are (explain history). */
static json_t *
when_facts(const struct ruleset *rs, const struct rules_factvals *fv,
    const struct rules_when *w)
{
	json_t *o = json_object(), *v;
	size_t i;

	for (i = 0; i < w->n; i++) {
		v = eval_fact_json(
		    rs, fv, w->conds[i].fact, w->conds[i].window);
		json_object_set_new(o, rules_fact_name(w->conds[i].fact),
		    v != NULL ? v : json_null());
	}
	return o;
}

static void
task_status(struct engine *e, int64_t num, const char *status)
{
	char id[32];

	eval_task_id(num, id);
	if (store_exec_q(e->store, Q_TASK_STATUS, "tt", id, status) == -1)
		e->failed = true;
}

void
eval_cancel_tasks(
    struct engine *e, struct acct *a, bool stage_only, const char *reason)
{
	size_t i, keep = 0;
	char id[32];

	engine_touch(e, a);
	for (i = 0; i < a->ntasks; i++) {
		if (stage_only && a->tasks[i].alert >= 0) {
			a->tasks[keep++] = a->tasks[i];
			continue;
		}
		eval_task_id(a->tasks[i].num, id);
		engine_feed_append(e,
		    json_pack("{s:i,s:s,s:s,s:s,s:s,s:o}", "seq", 0, "kind",
		        "cancel", "task", id, "account", a->id, "reason",
		        reason, "at", eval_json_ts(e->now)));
		task_status(e, a->tasks[i].num, "cancelled");
	}
	a->ntasks = keep;
}

/* §5: the contact by the size's preference, else the first listed. */
static json_t *
pick_contact(struct engine *e, const struct acct *a)
{
	static const char *const pref[RULES_SIZE_COUNT][3] = {
		[RULES_SIZE_SMALL] = { "owner", "president", NULL },
		[RULES_SIZE_MEDIUM] = { "general_manager", "cfo",
		    "finance_director" },
		[RULES_SIZE_LARGE] = { "ap_manager", "financial_controller",
		    NULL },
	};
	json_t *list, *c, *best = NULL;
	size_t i, k;
	int rc;

	rc = store_q(e->store, Q_ACCOUNT_INFO, "t", a->id);
	if (rc != 1) {
		store_done(e->store, Q_ACCOUNT_INFO);
		if (rc == -1)
			e->failed = true;
		return json_null();
	}
	list = json_loads(store_col_text(e->store, Q_ACCOUNT_INFO, 1), 0, NULL);
	store_done(e->store, Q_ACCOUNT_INFO);
	if (!json_is_array(list) || json_array_size(list) == 0) {
		json_decref(list);
		return json_null();
	}
	if (a->size >= 0 && a->size < RULES_SIZE_COUNT) {
		for (k = 0; k < 3 && best == NULL; k++) {
			if (pref[a->size][k] == NULL)
				break;
			json_array_foreach(list, i, c)
			{
				if (strcmp(json_string_value(
				               json_object_get(c, "role")),
				        pref[a->size][k]) == 0) {
					best = c;
					break;
				}
			}
		}
	}
	if (best == NULL)
		best = json_array_get(list, 0);
	json_incref(best);
	json_decref(list);
	return best;
}

static int64_t
digits(int64_t v)
{
	int64_t n = 1;

	while (v >= 10) {
		v /= 10;
		n++;
	}
	return n;
}

/* Appends a task record and opens the task. */
static void
emit_task(struct engine *e, struct acct *a, const struct rules_factvals *fv,
    enum rules_task_type type, int script, const char *source, int alert,
    const char *reason)
{
	const struct ruleset *rs = e->rs;
	const struct rules_script *sc;
	static const int64_t risk_w[RULES_RISK_COUNT] = { 0, 25, 50, 75, 100 };
	int64_t amount_due, f_amount, f_age, f_risk, f_stage, seq, num;
	json_t *rec, *list;
	char id[32];
	size_t i;

	amount_due = fv->undisputed_overdue > 0
	    ? fv->undisputed_overdue
	    : fv->balance - fv->disputed_amount;
	f_amount = 40 * digits(amount_due);
	if (f_amount > 400)
		f_amount = 400;
	f_age = 3 * fv->days_overdue;
	if (f_age > 300)
		f_age = 300;
	f_risk = fv->has_risk ? risk_w[fv->risk] : 50;
	f_stage = rs->nstages > 1
	    ? 200 * (int64_t)a->stage / (int64_t)(rs->nstages - 1)
	    : 0;

	num = ++e->task_num;
	eval_task_id(num, id);
	rec = json_pack("{s:i,s:s,s:s,s:s,s:s,s:s,s:s}", "seq", 0, "kind",
	    "task", "task", id, "account", a->id, "type",
	    rules_task_type_name(type), "stage", rs->stages[a->stage].name,
	    "source", source);
	if (script >= 0) {
		sc = &rs->scripts[script];
		list = json_array();
		for (i = 0; i < sc->nchecklist; i++)
			json_array_append_new(
			    list, json_string(sc->checklist[i]));
		json_object_set_new(rec, "script", json_string(sc->name));
		json_object_set_new(rec, "checklist", list);
	}
	json_object_set_new(rec, "contact", pick_contact(e, a));
	json_object_set_new(
	    rec, "priority", json_integer(f_amount + f_age + f_risk + f_stage));
	json_object_set_new(rec, "priority_factors",
	    json_pack("{s:I,s:I,s:I,s:I}", "amount", (json_int_t)f_amount,
	        "age", (json_int_t)f_age, "risk", (json_int_t)f_risk, "stage",
	        (json_int_t)f_stage));
	json_object_set_new(rec, "not_before", eval_json_ts(e->now));
	json_object_set_new(rec, "not_after", eval_json_ts(e->now + CLOCK_DAY));
	json_object_set_new(rec, "amount_due", json_integer(amount_due));
	json_object_set_new(rec, "currency", json_string(a->currency));
	json_object_set_new(
	    rec, "days_overdue", json_integer(fv->days_overdue));
	json_object_set_new(rec, "reason", json_string(reason));
	json_object_set_new(rec, "created", eval_json_ts(e->now));

	seq = engine_feed_append(e, rec);
	if (seq == -1)
		return;
	if (store_exec_q(e->store, Q_TASK_ADD, "tittttiii", id, seq, a->id,
	        rules_task_type_name(type), rs->stages[a->stage].name, source,
	        f_amount + f_age + f_risk + f_stage, (int64_t)(alert >= 0),
	        e->now) == -1)
		e->failed = true;
	acct_task_add(a, num, alert);
}

/* §4.4 step 1: verdicts due now. Returns whether one was given. */
static bool
verdicts(struct engine *e, struct acct *a, int64_t balance)
{
	struct acct_promise *pr;
	bool changed = false;
	size_t i;

	for (i = 0; i < a->nprom; i++) {
		pr = &a->prom[i];
		if (pr->verdict != ACCT_PENDING)
			continue;
		if (e->now >= pr->break_at) {
			engine_touch(e, a);
			pr->verdict = ACCT_BROKEN;
			pr->verdict_at = pr->break_at;
			changed = true;
		} else if (balance == 0) {
			engine_touch(e, a);
			pr->verdict = ACCT_KEPT;
			pr->verdict_at = e->now;
			changed = true;
		}
	}
	return changed;
}

/* The tasks a step yields per stage entry; UINT32_MAX unlimited. */
static uint32_t
step_limit(const struct rules_task *t)
{
	if (t->every_s == 0)
		return 1;
	return t->max > 0 ? (uint32_t)t->max : UINT32_MAX;
}

/* Sizes a's per-step counts to its stage (a reload may change it). */
static void
fit_steps(struct engine *e, struct acct *a)
{
	size_t n = e->rs->stages[a->stage].ntasks;

	if (a->nemitted == n)
		return;
	engine_touch(e, a);
	acct_arrays(a, a->nalerts, a->ntasks, (uint32_t)n);
}

static void
fit_alerts(struct engine *e, struct acct *a)
{
	size_t n = e->rs->nalerts, i = a->nalerts;

	if (a->nalerts == n)
		return;
	engine_touch(e, a);
	acct_arrays(a, (uint32_t)n, a->ntasks, a->nemitted);
	for (; i < n; i++)
		a->alert_last[i] = INT64_MIN;
}

static int64_t
cadence_clock(const struct acct *a, int64_t now)
{
	return a->cad_acc + (a->cad_running ? now - a->cad_mark : 0);
}

/* §4.5: the cadence runs or stops from now on. */
static void
cadence_set(struct engine *e, struct acct *a, bool running, bool held)
{
	if (a->cad_running == running && a->held == held)
		return;
	engine_touch(e, a);
	a->cad_acc = cadence_clock(a, e->now);
	a->cad_mark = e->now;
	a->cad_running = running;
	a->held = held;
}

static void
transitions(struct engine *e, struct acct *a, struct rules_factvals *fv)
{
	const struct ruleset *rs = e->rs;
	const struct rules_stage *st;
	const struct rules_rule *r, *first = NULL;
	size_t from = a->stage, start = a->stage, i;
	char reason[256];
	int64_t seq;
	char *facts;
	json_t *fj;
	bool hopped;

	memset(e->entered, 0, rs->nstages * sizeof(*e->entered));
	e->entered[start] = true;
	do {
		hopped = false;
		st = &rs->stages[from];
		for (i = 0; i < st->nrules; i++) {
			r = &rs->rules[st->rules[i]];
			if (e->entered[r->to] ||
			    !rules_when_holds(&r->when, fv))
				continue;
			engine_touch(e, a);
			if (first == NULL)
				first = r;
			seq = engine_feed_append(e,
			    json_pack("{s:i,s:s,s:s,s:s,s:s,s:s,s:o}", "seq", 0,
			        "kind", "transition", "account", a->id, "from",
			        rs->stages[from].name, "to",
			        rs->stages[r->to].name, "rule", r->name, "at",
			        eval_json_ts(e->now)));
			fj = when_facts(rs, fv, &r->when);
			facts = proto_dumps(fj, JSON_COMPACT);
			json_decref(fj);
			if (seq != -1 &&
			    store_exec_q(e->store, Q_TRANSITION_ADD, "titttit",
			        a->id, seq, rs->stages[from].name,
			        rs->stages[r->to].name, r->name, e->now,
			        facts) == -1)
				e->failed = true;
			free(facts);
			from = r->to;
			e->entered[from] = true;
			a->stage = from;
			a->stage_entered = e->now;
			fv->stage = from;
			fv->days_in_stage = 0;
			hopped = true;
			break;
		}
	} while (hopped);
	if (first == NULL)
		return;
	snprintf(reason, sizeof(reason), "left stage %s (rule %s)",
	    rs->stages[start].name, first->name);
	eval_cancel_tasks(e, a, true, reason);
	/* §4.5: each stage entry starts the cadence clock at 0. */
	a->cad_acc = 0;
	a->cad_mark = e->now;
	a->cad_running = false;
	a->held = false;
	a->nemitted = 0;
	fit_steps(e, a);
	if (a->nemitted > 0)
		memset(a->emitted, 0, a->nemitted * sizeof(*a->emitted));
}

void
eval_fmt_duration(int64_t s, char buf[32])
{
	if (s % CLOCK_DAY == 0)
		snprintf(buf, 32, "%" PRId64 "d", s / CLOCK_DAY);
	else if (s % 3600 == 0)
		snprintf(buf, 32, "%" PRId64 "h", s / 3600);
	else
		snprintf(buf, 32, "%" PRId64 "m", s / 60);
}

/*
 * §4.5 supersede: the step's previous task of this stage entry (its
 * source prev), if still open, is cancelled by the task about to be
 * emitted, its cancel record just before that task's.  Steps are
 * matched by position (the source's #K), also after a reload.
 */
static void
supersede(struct engine *e, struct acct *a, const char *prev)
{
	char id[32], next[32], reason[64];
	int64_t num = 0;
	int rc;

	rc = store_q(
	    e->store, Q_TASK_OPEN_SOURCE, "tti", a->id, prev, a->stage_entered);
	if (rc == 1)
		num = strtoll(store_col_text(e->store, Q_TASK_OPEN_SOURCE, 0) + 2,
		    NULL, 10);
	store_done(e->store, Q_TASK_OPEN_SOURCE);
	if (rc == -1)
		e->failed = true;
	if (rc != 1 || !acct_task_remove(a, num))
		return;
	eval_task_id(num, id);
	eval_task_id(e->task_num + 1, next); /* emit_task()'s */
	snprintf(reason, sizeof(reason), "superseded by %s", next);
	engine_feed_append(e,
	    json_pack("{s:i,s:s,s:s,s:s,s:s,s:o}", "seq", 0, "kind", "cancel",
	        "task", id, "account", a->id, "reason", reason, "at",
	        eval_json_ts(e->now)));
	task_status(e, num, "cancelled");
}

static void
cadence(struct engine *e, struct acct *a, const struct rules_factvals *fv)
{
	const struct rules_stage *st = &e->rs->stages[a->stage];
	const struct rules_task *t;
	char source[160], reason[200], after[32], prev[160];
	bool held;
	int64_t clk;
	size_t k;

	fit_steps(e, a);
	held = st->has_hold && rules_when_holds(&st->hold_when, fv);
	cadence_set(e, a, !held, held);
	if (held)
		return;
	clk = cadence_clock(a, e->now);
	for (k = 0; k < st->ntasks; k++) {
		t = &st->tasks[k];
		while (a->emitted[k] < step_limit(t) &&
		    t->after_s + (int64_t)a->emitted[k] * t->every_s <= clk) {
			engine_touch(e, a);
			if (t->every_s > 0)
				snprintf(source, sizeof(source),
				    "stage:%s#%zu/%u", st->name, k + 1,
				    a->emitted[k] + 1);
			else
				snprintf(source, sizeof(source), "stage:%s#%zu",
				    st->name, k + 1);
			eval_fmt_duration(t->after_s, after);
			snprintf(reason, sizeof(reason),
			    "%s cadence step %zu (after %s)", st->name, k + 1,
			    after);
			if (t->supersede && t->every_s > 0 && a->emitted[k] > 0) {
				snprintf(prev, sizeof(prev), "stage:%s#%zu/%u",
				    st->name, k + 1, a->emitted[k]);
				supersede(e, a, prev);
			}
			a->emitted[k]++;
			emit_task(
			    e, a, fv, t->type, t->script, source, -1, reason);
		}
	}
}

static void
alerts(struct engine *e, struct acct *a, const struct rules_factvals *fv)
{
	const struct rules_alert *al;
	char source[160], reason[200];
	size_t i;

	fit_alerts(e, a);
	for (i = 0; i < e->rs->nalerts; i++) {
		al = &e->rs->alerts[i];
		if (a->alert_last[i] != INT64_MIN &&
		    (al->cooldown_s == 0 ||
		        e->now < a->alert_last[i] + al->cooldown_s))
			continue;
		if (!rules_when_holds(&al->when, fv))
			continue;
		engine_touch(e, a);
		a->alert_last[i] = e->now;
		snprintf(source, sizeof(source), "alert:%s", al->name);
		snprintf(reason, sizeof(reason), "alert %s", al->name);
		emit_task(
		    e, a, fv, al->type, al->script, source, (int)i, reason);
	}
}

void
eval_account(struct engine *e, struct acct *a)
{
	struct rules_factvals *fv = &e->fo.fv;

	facts_compute(a, &e->fp, e->now, e->today, &e->fo);
	if (verdicts(e, a, fv->balance))
		facts_compute(a, &e->fp, e->now, e->today, &e->fo);
	if (a->paused) {
		if (a->ntasks > 0)
			eval_cancel_tasks(e, a, false, "account paused");
		cadence_set(e, a, false, a->held);
		return;
	}
	transitions(e, a, fv);
	cadence(e, a, fv);
	alerts(e, a, fv);
}

int64_t
eval_next_due(struct engine *e, const struct acct *a, int64_t now)
{
	const struct ruleset *rs = e->rs;
	uint32_t tested = rs->uses.facts | (1u << RULES_FACT_PROMISE_PENDING);
	int64_t next, due;
	size_t k;

	next = facts_next_change(a, &e->fp, tested, now);
	if (a->stage >= rs->nstages)
		return next;
	for (k = 0; k < rs->stages[a->stage].ntasks; k++) {
		due = eval_step_at(e, a, k);
		if (due <= now)
			due = now + 1; /* due now: evaluated again at once */
		if (due < next)
			next = due;
	}
	for (k = 0; k < rs->nalerts; k++) {
		due = eval_cooldown_end(e, a, k);
		if (due > now && due < next)
			next = due;
	}
	return next;
}

int64_t
eval_step_at(const struct engine *e, const struct acct *a, size_t k)
{
	const struct rules_task *t = &e->rs->stages[a->stage].tasks[k];

	if (!a->cad_running || a->paused || k >= a->nemitted ||
	    a->emitted[k] >= step_limit(t))
		return INT64_MAX;
	return a->cad_mark +
	    (t->after_s + (int64_t)a->emitted[k] * t->every_s - a->cad_acc);
}

int64_t
eval_cooldown_end(const struct engine *e, const struct acct *a, size_t k)
{
	int64_t cooldown = e->rs->alerts[k].cooldown_s;

	if (a->paused || k >= a->nalerts || a->alert_last[k] == INT64_MIN ||
	    cooldown == 0)
		return INT64_MAX;
	return a->alert_last[k] + cooldown;
}
