/*
 * explain — explain, report aging and simulate (explain.h).
 *
 * Facts are computed here exactly as eval computes them, from memory;
 * the history and open tasks are read from the store.  promises_* in
 * `facts` use the 90-day window (§7), whatever windows the rules use.
 */
#include "explain.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "account.h"
#include "clock.h"
#include "engine.h"
#include "eval.h"
#include "facts.h"
#include "rules.h"
#include "store.h"
#include "util.h"

/* Every fact of §3 by name, absent ones left out (90d windows). */
static json_t *
all_facts(struct engine *e, const struct acct *a, int64_t now)
{
	static const int64_t w90[1] = { RULES_WINDOW_DEFAULT_S };
	struct facts_params p = e->fp;
	struct facts_out fo;
	json_t *o = json_object(), *v;
	int f;

	p.windows = w90;
	p.nwindows = 1;
	facts_out_init(&fo, 1);
	facts_compute(a, &p, now, clock_local_date(now), &fo);
	for (f = 0; f < RULES_FACT_COUNT; f++) {
		v = eval_fact_json(e->rs, &fo.fv, (enum rules_fact)f, 0);
		if (v != NULL)
			json_object_set_new(
			    o, rules_fact_name((enum rules_fact)f), v);
	}
	facts_out_fini(&fo);
	return o;
}

static json_t *
name_list(char **v, size_t n)
{
	json_t *arr = json_array();
	size_t i;

	for (i = 0; i < n; i++)
		json_array_append_new(arr, json_string(v[i]));
	return arr;
}

/* A bound as written: integers stay integers. */
static json_t *
number(double v)
{
	if (v >= -9e15 && v <= 9e15 && v == (double)(int64_t)v)
		return json_integer((json_int_t)v);
	return json_real(v);
}

/* The test of a condition as the rule file wrote it. */
static json_t *
cond_test(const struct ruleset *rs, const struct rules_cond *c)
{
	json_t *o, *arr;
	size_t i;
	int k;

	switch (rules_fact_kind(c->fact)) {
	case RULES_KIND_NUMBER:
		o = json_object();
		if (c->has_min)
			json_object_set_new(o, "min", number(c->min));
		if (c->has_max)
			json_object_set_new(o, "max", number(c->max));
		if (c->fact == RULES_FACT_PROMISES_BROKEN ||
		    c->fact == RULES_FACT_PROMISES_KEPT) {
			char buf[32];

			eval_fmt_duration(c->window_s, buf);
			json_object_set_new(o, "window", json_string(buf));
		}
		return o;
	case RULES_KIND_BOOL:
		return json_boolean(c->value);
	case RULES_KIND_SET:
		arr = json_array();
		if (c->fact == RULES_FACT_STAGE) {
			for (i = 0; i < rs->nstages; i++)
				if (rules_stageset_has(c->stages, i))
					json_array_append_new(arr,
					    json_string(rs->stages[i].name));
		} else if (c->fact == RULES_FACT_SIZE) {
			for (k = 0; k < RULES_SIZE_COUNT; k++)
				if (c->mask & (1u << k))
					json_array_append_new(arr,
					    json_string(rules_size_name(
					        (enum rules_size)k)));
		} else {
			for (k = 0; k < RULES_RISK_COUNT; k++)
				if (c->mask & (1u << k))
					json_array_append_new(arr,
					    json_string(rules_risk_name(k)));
		}
		return arr;
	case RULES_KIND_TAGS:
		o = json_object();
		if (c->nany > 0)
			json_object_set_new(
			    o, "any", name_list(c->any, c->nany));
		if (c->nnone > 0)
			json_object_set_new(
			    o, "none", name_list(c->none, c->nnone));
		return o;
	}
	return json_null();
}

static json_t *
conditions(const struct ruleset *rs, const struct rules_when *w,
    const struct rules_factvals *fv)
{
	json_t *arr = json_array(), *v;
	size_t i;

	for (i = 0; i < w->n; i++) {
		v = eval_fact_json(
		    rs, fv, w->conds[i].fact, w->conds[i].window);
		json_array_append_new(arr,
		    json_pack("{s:s,s:o,s:o,s:b}", "fact",
		        rules_fact_name(w->conds[i].fact), "value",
		        v != NULL ? v : json_null(), "test",
		        cond_test(rs, &w->conds[i]), "holds",
		        rules_cond_holds(&w->conds[i], fv)));
	}
	return arr;
}

static json_t *
history(struct engine *e, const struct acct *a)
{
	struct store *s = e->store;
	json_t *arr = json_array(), *facts;
	int rc;

	for (rc = store_q(s, Q_TRANSITIONS_OF, "t", a->id); rc == 1;
	     rc = store_next(s, Q_TRANSITIONS_OF)) {
		facts =
		    json_loads(store_col_text(s, Q_TRANSITIONS_OF, 4), 0, NULL);
		json_array_append_new(arr,
		    json_pack("{s:s,s:s,s:s,s:o,s:o,s:I}", "rule",
		        store_col_text(s, Q_TRANSITIONS_OF, 2), "from",
		        store_col_text(s, Q_TRANSITIONS_OF, 0), "to",
		        store_col_text(s, Q_TRANSITIONS_OF, 1), "at",
		        eval_json_ts(store_col_int(s, Q_TRANSITIONS_OF, 3)),
		        "facts", facts != NULL ? facts : json_object(), "seq",
		        (json_int_t)store_col_int(s, Q_TRANSITIONS_OF, 5)));
	}
	store_done(s, Q_TRANSITIONS_OF);
	return arr;
}

static json_t *
open_tasks(struct engine *e, const struct acct *a)
{
	struct store *s = e->store;
	json_t *arr = json_array(), *rec;
	int64_t seq = 0;
	int rc, rows;

	do {
		rows = 0;
		for (rc = store_q(
		         s, Q_TASKS_PAGE, "itni", seq, a->id, (int64_t)256);
		     rc == 1; rc = store_next(s, Q_TASKS_PAGE)) {
			rows++;
			seq = store_col_int(s, Q_TASKS_PAGE, 0);
			if (strcmp(store_col_text(s, Q_TASKS_PAGE, 2), "open"))
				continue;
			rec = json_loads(
			    store_col_text(s, Q_TASKS_PAGE, 1), 0, NULL);
			if (rec == NULL)
				continue;
			json_object_set_new(rec, "status", json_string("open"));
			json_array_append_new(arr, rec);
		}
		store_done(s, Q_TASKS_PAGE);
	} while (rc == 0 && rows == 256);
	return arr;
}

/*
 * The account's last tasks that are no longer open, oldest first, as
 * tasks --json shows them: a done one with the outcome that closed it.
 */
#define RECENT_TASKS 10

static json_t *
recent_tasks(struct engine *e, const struct acct *a)
{
	struct store *s = e->store;
	json_t *arr = json_array(), *rec;
	int rc;

	for (rc =
	         store_q(s, Q_TASKS_CLOSED, "ti", a->id, (int64_t)RECENT_TASKS);
	     rc == 1; rc = store_next(s, Q_TASKS_CLOSED)) {
		rec = json_loads(store_col_text(s, Q_TASKS_CLOSED, 1), 0, NULL);
		if (rec == NULL)
			continue;
		json_object_set_new(rec, "status",
		    json_string(store_col_text(s, Q_TASKS_CLOSED, 2)));
		if (!store_col_null(s, Q_TASKS_CLOSED, 3)) {
			json_object_set_new(rec, "result",
			    json_string(store_col_text(s, Q_TASKS_CLOSED, 3)));
			if (!store_col_null(s, Q_TASKS_CLOSED, 4))
				json_object_set_new(rec, "note",
				    json_string(
				        store_col_text(s, Q_TASKS_CLOSED, 4)));
			json_object_set_new(rec, "done_at",
			    eval_json_ts(store_col_int(s, Q_TASKS_CLOSED, 5)));
		}
		json_array_insert_new(arr, 0, rec);
	}
	store_done(s, Q_TASKS_CLOSED);
	return arr;
}

/* What falls due at the account's next due moment, in words. */
static json_t *
next_due(struct engine *e, const struct acct *a, int64_t now)
{
	const struct ruleset *rs = e->rs;
	const struct rules_stage *st = &rs->stages[a->stage];
	uint32_t tested = rs->uses.facts | (1u << RULES_FACT_PROMISE_PENDING);
	int64_t at = eval_next_due(e, a, now), f;
	json_t *what = json_array();
	char buf[200];
	size_t k;

	if (at == INT64_MAX)
		return json_pack("{s:n,s:o}", "at", "what", what);
	for (k = 0; k < a->nprom; k++)
		if (a->prom[k].verdict == ACCT_PENDING &&
		    a->prom[k].break_at == at) {
			/* Its id is in the store (by seq). */
			if (store_q(e->store, Q_EVENT_ID, "i",
			        (int64_t)a->prom[k].seq) == 1)
				snprintf(buf, sizeof(buf),
				    "promise %s is broken unless kept before",
				    store_col_text(e->store, Q_EVENT_ID, 0));
			else
				snprintf(buf, sizeof(buf),
				    "a promise is broken unless kept before");
			store_done(e->store, Q_EVENT_ID);
			json_array_append_new(what, json_string(buf));
		}
	for (k = 0; k < st->ntasks; k++) {
		if (eval_step_at(e, a, k) != at)
			continue;
		snprintf(buf, sizeof(buf), "%s cadence step %zu (%s)", st->name,
		    k + 1, rules_task_type_name(st->tasks[k].type));
		json_array_append_new(what, json_string(buf));
	}
	for (k = 0; k < rs->nalerts; k++) {
		if (eval_cooldown_end(e, a, k) != at)
			continue;
		snprintf(buf, sizeof(buf), "cooldown of alert %s ends",
		    rs->alerts[k].name);
		json_array_append_new(what, json_string(buf));
	}
	f = facts_next_change(a, &e->fp, tested, now);
	if (f == at)
		json_array_append_new(what,
		    json_string(at == clock_next_midnight(now)
		            ? "a new local day: facts the rules test change"
		            : "facts the rules test change"));
	return json_pack("{s:o,s:o}", "at", eval_json_ts(at), "what", what);
}

json_t *
explain_account(struct engine *e, struct acct *a, int64_t now)
{
	const struct ruleset *rs = e->rs;
	struct rules_factvals *fv = &e->fo.fv;
	json_t *rules, *alerts, *o;
	size_t i;
	int64_t until;

	facts_compute(a, &e->fp, now, clock_local_date(now), &e->fo);
	o = json_pack("{s:s,s:s,s:b,s:b,s:o}", "account", a->id, "stage",
	    rs->stages[a->stage].name, "paused", a->paused, "credit_held",
	    a->credit_held, "facts", all_facts(e, a, now));
	/* all_facts() used its own facts_out: fv is still ours. */
	rules = json_array();
	for (i = 0; i < rs->nrules; i++) {
		const struct rules_rule *r = &rs->rules[i];

		json_array_append_new(rules,
		    json_pack("{s:s,s:s,s:b,s:b,s:o}", "rule", r->name, "to",
		        rs->stages[r->to].name, "from",
		        rules_stageset_has(r->from, a->stage) &&
		            r->to != a->stage,
		        "holds", rules_when_holds(&r->when, fv), "conditions",
		        conditions(rs, &r->when, fv)));
	}
	json_object_set_new(o, "rules", rules);
	alerts = json_array();
	for (i = 0; i < rs->nalerts; i++) {
		const struct rules_alert *al = &rs->alerts[i];
		/*
		 * §7 "alerts (likewise ...)": named as a rule's entry is,
		 * the name also as "alert"; no "from": alerts apply after
		 * the transitions, in every stage.
		 */
		json_t *ao = json_pack("{s:s,s:s,s:b,s:o}", "rule", al->name,
		    "alert", al->name, "holds", rules_when_holds(&al->when, fv),
		    "conditions", conditions(rs, &al->when, fv));

		if (i < a->nalerts && a->alert_last[i] != INT64_MIN) {
			json_object_set_new(
			    ao, "last_fired", eval_json_ts(a->alert_last[i]));
			until = al->cooldown_s > 0
			    ? a->alert_last[i] + al->cooldown_s
			    : INT64_MAX;
			json_object_set_new(ao, "cooldown_until",
			    until == INT64_MAX ? json_string("never")
			                       : eval_json_ts(until));
		} else
			json_object_set_new(ao, "cooldown_until", json_null());
		json_array_append_new(alerts, ao);
	}
	json_object_set_new(o, "alerts", alerts);
	json_object_set_new(o, "history", history(e, a));
	json_object_set_new(o, "open_tasks", open_tasks(e, a));
	json_object_set_new(o, "recent_tasks", recent_tasks(e, a));
	json_object_set_new(o, "next", next_due(e, a, now));
	return o;
}

/* report aging. */

enum {
	B_NOT_DUE,
	B_1_30,
	B_31_60,
	B_61_90,
	B_91,
	B_TOTAL,
	B_COUNT
};
static const char *const bucket_names[B_COUNT] = { "not_due", "1-30", "31-60",
	"61-90", "91+", "total" };

struct aging_row {
	size_t stage;
	char currency[4];
	int64_t b[B_COUNT];
};

static int
cmp_row(const void *x, const void *y)
{
	const struct aging_row *p = x, *q = y;

	if (p->stage != q->stage)
		return p->stage < q->stage ? -1 : 1;
	return strcmp(p->currency, q->currency);
}

void
explain_aging(struct engine *e, int64_t now, json_t *out)
{
	struct acct *const *all;
	struct aging_row *rows = NULL, *r;
	int32_t today = clock_local_date(now), age;
	size_t n, i, k, nrows = 0;
	json_t *o;
	int b;

	all = engine_sorted(e, &n);
	for (i = 0; i < n; i++) {
		const struct acct *a = all[i];

		for (k = 0; k < nrows; k++)
			if (rows[k].stage == a->stage &&
			    strcmp(rows[k].currency, a->currency) == 0)
				break;
		if (k == nrows) {
			rows = xreallocarray(rows, nrows + 1, sizeof(*rows));
			memset(&rows[nrows], 0, sizeof(*rows));
			rows[nrows].stage = a->stage;
			memcpy(rows[nrows].currency, a->currency, 4);
			nrows++;
		}
		r = &rows[k];
		for (k = 0; k < a->ninv; k++) {
			if (a->inv[k].open == 0)
				continue;
			age = today - a->inv[k].due;
			b = age <= 0    ? B_NOT_DUE
			    : age <= 30 ? B_1_30
			    : age <= 60 ? B_31_60
			    : age <= 90 ? B_61_90
			                : B_91;
			r->b[b] += a->inv[k].open;
			r->b[B_TOTAL] += a->inv[k].open;
		}
	}
	/* qsort() of no rows would pass it NULL (undefined behaviour). */
	if (nrows > 1)
		qsort(rows, nrows, sizeof(*rows), cmp_row);
	for (i = 0; i < nrows; i++) {
		o = json_pack("{s:s,s:s}", "stage",
		    e->rs->stages[rows[i].stage].name, "currency",
		    rows[i].currency);
		for (b = 0; b < B_COUNT; b++)
			json_object_set_new(
			    o, bucket_names[b], json_integer(rows[i].b[b]));
		json_array_append_new(out, o);
	}
	free(rows);
}

/* simulate. */

void
explain_simulate(
    struct engine *e, const struct ruleset *rs, int64_t now, json_t *out)
{
	struct acct *const *all;
	struct facts_params p;
	struct facts_out fo;
	struct rules_factvals *fv = &fo.fv;
	const struct rules_rule *r;
	bool *entered = xcalloc(rs->nstages, sizeof(*entered));
	size_t n, i, k, stage, start;
	bool hopped;

	facts_params_from_ruleset(&p, rs);
	facts_out_init(&fo, rs->uses.nwindows > 1 ? rs->uses.nwindows : 1);
	all = engine_sorted(e, &n);
	for (i = 0; i < n; i++) {
		struct acct *a = all[i];
		const char *cur = e->rs->stages[a->stage].name;

		if (rules_stage_lookup(rs, cur, &start) != 1)
			start = 0;
		facts_compute(a, &p, now, clock_local_date(now), &fo);
		fv->stage = start;
		memset(entered, 0, rs->nstages * sizeof(*entered));
		stage = start;
		entered[stage] = true;
		/* §4.4 step 2: a paused account does not move (a vanished
		 * stage still sends it to the first, as a reload would). */
		do {
			if (a->paused)
				break;
			hopped = false;
			for (k = 0; k < rs->stages[stage].nrules; k++) {
				r = &rs->rules[rs->stages[stage].rules[k]];
				if (entered[r->to] ||
				    !rules_when_holds(&r->when, fv))
					continue;
				stage = r->to;
				entered[stage] = true;
				fv->stage = stage;
				fv->days_in_stage = 0;
				hopped = true;
				break;
			}
		} while (hopped);
		if (strcmp(rs->stages[stage].name, cur) != 0)
			json_array_append_new(out,
			    json_pack("{s:s,s:s,s:s}", "account", a->id, "from",
			        cur, "to", rs->stages[stage].name));
	}
	facts_out_fini(&fo);
	free(entered);
}
