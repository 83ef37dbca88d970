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

#include <assert.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "account.h"
#include "clock.h"
#include "engine.h"
#include "calendar.h"
#include "event.h"
#include "facts.h"
#include "hash.h"
#include "jdoc.h"
#include "log.h"
#include "protocol.h"
#include "store.h"
#include "util.h"

void
eval_task_id(int64_t num, char buf[32])
{
	snprintf(buf, 32, "T-%06" PRId64, num);
}

int64_t
eval_task_num(const char *id)
{
	char again[32];
	int64_t num;

	if (strncmp(id, "T-", 2) != 0 || id[2] < '0' || id[2] > '9')
		return -1;
	num = strtoll(id + 2, NULL, 10);
	if (num <= 0)
		return -1;
	eval_task_id(num, again);
	return strcmp(again, id) == 0 ? num : -1;
}

/* Member k: the instant t as §1 writes it (ASCII: no check needed). */
static void
w_ts(struct buf *b, const char *k, int64_t t)
{
	char ts[CLOCK_TS_LEN];

	clock_format_ts(t, ts);
	proto_w_str(b, k, ts);
}

json_t *
eval_json_ts(int64_t t)
{
	char buf[CLOCK_TS_LEN];

	clock_format_ts(t, buf);
	/* ASCII by construction: no UTF-8 check. */
	return json_string_nocheck(buf);
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
	case RULES_FACT_DECISION_MAKER:
		return json_boolean(fv->decision_maker);
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
	if (store_exec_q(e->store, Q_TASK_STATUS, "it", num, status) == -1)
		e->failed = true;
}

/* A cancel record for open task num of a (the caller drops it). */
static void
cancel_one(
    struct engine *e, const struct acct *a, int64_t num, const char *reason)
{
	struct buf *b;
	char id[32];

	eval_task_id(num, id);
	b = engine_feed_begin(e);
	proto_w_str(b, "kind", "cancel");
	proto_w_str(b, "task", id);
	proto_w_str(b, "account", a->id);
	proto_w_str(b, "reason", reason);
	w_ts(b, "at", e->now);
	engine_feed_end(e);
	task_status(e, num, "cancelled");
}

void
eval_cancel_tasks(
    struct engine *e, struct acct *a, bool stage_only, const char *reason)
{
	size_t i, keep = 0;
	engine_touch(e, a);
	for (i = 0; i < a->ntasks; i++) {
		/* §4.5: holds and releases outlast stages and pauses. */
		if ((stage_only && a->tasks[i].alert >= 0) ||
		    a->tasks[i].type == RULES_TASK_CREDIT_HOLD ||
		    a->tasks[i].type == RULES_TASK_CREDIT_RELEASE) {
			a->tasks[keep++] = a->tasks[i];
			continue;
		}
		cancel_one(e, a, a->tasks[i].num, reason);
	}
	a->ntasks = keep;
}

/* §5: what one task is, besides its account and the facts. */
struct emit {
	enum rules_task_type type;
	int script;                          /* index in scripts, -1 none */
	const struct cal_schedule *schedule; /* NULL: the calendar alone */
	const char *source;
	const char *reason;
	int alert;       /* index of its alert, -1 a stage or release task */
	int step;        /* its cadence step, -1 none */
	bool first_only; /* its window has only the first slot (§4.9) */
	json_t *factors; /* borrowed; NULL: computed from the facts */
	json_t *extra;   /* borrowed; members added to the record, or NULL */
};

/* §5: dunnd's own and the hold: no one to talk to. */
static bool
internal_task(enum rules_task_type type)
{
	return type == RULES_TASK_CREDIT_HOLD ||
	    type == RULES_TASK_CREDIT_RELEASE || type == RULES_TASK_APPROVAL;
}

/*
 * §5, P6: the contact of a task of type: among the contacts its channel
 * can use (a phone for calls and SMS, an email for emails, any
 * otherwise), the first listed whose role comes earliest in the size's
 * preference, else the first listed; "ask_for" when that is nobody or
 * not a decision-maker.  Read from the store: only emissions read it.
 */
static void
pick_contact(struct engine *e, const struct acct *a, enum rules_task_type type,
    struct buf *b)
{
	enum event_role pref[3];
	size_t npref = facts_pref_roles(a->size, pref), rank;
	size_t best_rank = SIZE_MAX, left_rank = npref;
	const char *need = NULL, *text;
	const struct jnode *nd;
	struct jdoc j;
	uint32_t k, m, best = 0, role;
	bool has_need;
	int rc;

	if (internal_task(type)) {
		proto_w_null(b, "contact");
		return;
	}
	if (type == RULES_TASK_CALL || type == RULES_TASK_SMS)
		need = "phone";
	else if (type == RULES_TASK_EMAIL)
		need = "email";
	/*
	 * Read once per evaluation (its tasks share the account's list;
	 * events, which change it, come between evaluations only).
	 */
	if (e->contacts_of != a || !e->contacts_ok) {
		rc = store_q(e->store, Q_ACCOUNT_CONTACTS, "t", a->id);
		if (rc == -1)
			e->failed = true;
		text = rc == 1 ? store_col_text(e->store, Q_ACCOUNT_CONTACTS, 0)
		               : "[]";
		buf_clear(&e->contacts);
		buf_append(&e->contacts, text, strlen(text) + 1);
		store_done(e->store, Q_ACCOUNT_CONTACTS);
		e->contacts_ok = e->contacts_of == a && rc != -1;
	}
	/*
	 * The stored contacts are dunnd's own compact JSON: an array of
	 * objects of strings.  jdoc reads them without an allocation; only
	 * the chosen contact is written (its names and strings unescaped
	 * by jdoc, escaped again as the record's own).
	 */
	text = buf_data(&e->contacts);
	jdoc_init(&j, text, strlen(text));
	if (jdoc_parse(&j) == -1 || j.nodes[0].type != J_ARRAY)
		j.nodes[0].next = 1; /* none */
	for (k = 1; k < j.nodes[0].next; k = j.nodes[k].next) {
		if (j.nodes[k].type != J_OBJECT)
			continue;
		role = 0;
		has_need = need == NULL;
		for (m = k + 1; m < j.nodes[k].next; m = j.nodes[m + 1].next) {
			nd = &j.nodes[m];
			if (nd->len == 4 &&
			    memcmp(jdoc_bytes(&j, nd), "role", 4) == 0 &&
			    j.nodes[m + 1].type == J_STRING)
				role = m + 1;
			if (need != NULL && nd->len == strlen(need) &&
			    memcmp(jdoc_bytes(&j, nd), need, nd->len) == 0)
				has_need = true;
		}
		rank = npref;
		for (m = 0; role != 0 && m < npref; m++) {
			const char *want = event_role_name(pref[m]);

			if (strlen(want) == j.nodes[role].len &&
			    memcmp(jdoc_bytes(&j, &j.nodes[role]), want,
			        j.nodes[role].len) == 0) {
				rank = m;
				break;
			}
		}
		if (!has_need) {
			if (rank < left_rank)
				left_rank = rank;
			continue;
		}
		if (best == 0 || rank < best_rank) {
			best = k;
			best_rank = rank;
		}
	}
	if (best != 0) {
		proto_w_open(b, "contact", '{');
		for (m = best + 1; m < j.nodes[best].next;
		     m = j.nodes[m + 1].next) {
			proto_w_keyn(
			    b, jdoc_bytes(&j, &j.nodes[m]), j.nodes[m].len);
			if (j.nodes[m + 1].type == J_STRING)
				proto_w_strn(b, NULL,
				    jdoc_bytes(&j, &j.nodes[m + 1]),
				    j.nodes[m + 1].len);
			else
				proto_w_null(b, NULL);
		}
		proto_w_close(b, '}');
	} else
		proto_w_null(b, "contact");
	jdoc_fini(&j);
	if ((best == 0 || best_rank >= npref) && npref > 0)
		proto_w_str(b, "ask_for",
		    event_role_name(pref[left_rank < npref ? left_rank : 0]));
}

/*
 * §4.9: the last windows chosen for tasks with no open task of their
 * type, with their record members (the many tasks of one moment share a
 * handful of windows): the records copy the members' written text.  A
 * window is a pure function of the key: the rule set by its
 * rules_version (content, not address: a reload to other rules at the
 * same moment misses), the schedule by index, the zone by name.
 * File-static like clock's caches: a memo, not state.
 */
#define MEMO_SLOTS 8
static struct window_memo {
	char version[HASH_HEX_LEN];
	char *zone;
	int64_t now, catchup_end;
	long sch; /* index in rs->schedules, -1 none */
	int cash_in_day;
	bool first_only;
	int32_t nb_day;
	char *members; /* ",\"window_rank\":...": NULL, an empty slot */
	size_t len;
} memo[MEMO_SLOTS];
static size_t memo_next;

static bool
memo_is(const struct window_memo *w, const struct engine *e, long sch,
    const struct cal_request *req)
{
	return w->members != NULL && w->now == e->now &&
	    w->catchup_end == e->catchup_end && w->sch == sch &&
	    w->first_only == req->first_only &&
	    w->cash_in_day == req->cash_in_day &&
	    memcmp(w->version, e->rs->version, sizeof(w->version)) == 0 &&
	    strcmp(w->zone, clock_tz_name()) == 0;
}

/* The record members of window w. */
static void
window_members(
    struct buf *b, const struct cal_schedule *sch, const struct cal_window *w)
{
	size_t i;

	if (sch != NULL)
		proto_w_str(b, "schedule", sch->name);
	/* The rank names and reasons are ASCII (calendar.c). */
	proto_w_str(b, "window_rank", cal_rank_name(w->rank));
	proto_w_str(b, "window_reason", w->reason);
	w_ts(b, "not_before", w->not_before);
	w_ts(b, "not_after", w->not_after);
	proto_w_open(b, "windows", '[');
	for (i = 0; i < w->nparts; i++) {
		proto_w_open(b, NULL, '[');
		w_ts(b, NULL, w->parts[i][0]);
		w_ts(b, NULL, w->parts[i][1]);
		proto_w_close(b, ']');
	}
	proto_w_close(b, ']');
}

/*
 * §4.9: the window of a task emitted now; its members written into b
 * (the record has members before them).  Returns the local date of its
 * not_before (the one-per-day rule's key).
 */
static int32_t
choose_window(
    struct engine *e, const struct acct *a, const struct emit *m, struct buf *b)
{
	const struct ruleset *rs = e->rs;
	struct window_memo *wm;
	struct cal_request req;
	struct cal_window w;
	int32_t taken_buf[16], *taken = taken_buf, nb_day;
	size_t i, j, from;
	long sch;

	memset(&req, 0, sizeof(req));
	req.cal = rs->cal;
	req.sch = m->schedule;
	req.emit = e->now;
	req.first_only = m->first_only || req.sch == NULL;
	req.cash_in_day = a->cash_in_day;
	sch = req.sch != NULL ? (long)(req.sch - rs->schedules) : -1;
	for (i = 0; i < a->ntasks; i++) {
		if (a->tasks[i].type != (uint8_t)m->type)
			continue;
		if (req.ntaken == 0 && a->ntasks > 16)
			taken = xcalloc(a->ntasks, sizeof(*taken));
		taken[req.ntaken++] = a->tasks[i].nb_day;
	}
	req.taken = taken;
	for (j = 0; req.ntaken == 0 && j < MEMO_SLOTS; j++) {
		if (memo_is(&memo[j], e, sch, &req)) {
			buf_append(b, memo[j].members, memo[j].len);
			return memo[j].nb_day;
		}
	}
	cal_window_choose(&req, &w);
	/* §4.9 catch-up: no window that ends before the catch-up does. */
	if (e->catchup_end > e->now && w.not_after < e->catchup_end) {
		req.emit = e->catchup_end;
		cal_window_choose(&req, &w);
	}
	from = buf_size(b);
	window_members(b, req.sch, &w);
	nb_day = clock_local_date(w.not_before);
	if (taken != taken_buf)
		free(taken);
	if (req.ntaken > 0)
		return nb_day;
	wm = &memo[memo_next++ % MEMO_SLOTS];
	free(wm->members);
	wm->len = buf_size(b) - from;
	wm->members = xmalloc(wm->len);
	memcpy(wm->members, buf_data(b) + from, wm->len);
	free(wm->zone);
	wm->zone = xstrdup(clock_tz_name());
	memcpy(wm->version, rs->version, sizeof(wm->version));
	wm->now = e->now;
	wm->catchup_end = e->catchup_end;
	wm->sch = sch;
	wm->cash_in_day = req.cash_in_day;
	wm->first_only = req.first_only;
	wm->nb_day = nb_day;
	return nb_day;
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

/* §5: priority_factors from the facts at emission, in f[PF_N]. */
enum {
	PF_AMOUNT,
	PF_AGE,
	PF_RISK,
	PF_STAGE,
	PF_N
};
static const char *const pf_names[PF_N] = { "amount", "age", "risk", "stage" };

static void
priority_factors(const struct engine *e, const struct acct *a,
    const struct rules_factvals *fv, int64_t amount_due, int64_t f[PF_N])
{
	static const int64_t risk_w[RULES_RISK_COUNT] = { 0, 25, 50, 75, 100 };
	const struct ruleset *rs = e->rs;
	int64_t f_amount, f_age, f_risk, f_stage;

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
	f[PF_AMOUNT] = f_amount;
	f[PF_AGE] = f_age;
	f[PF_RISK] = f_risk;
	f[PF_STAGE] = f_stage;
}

/* Appends a task record and opens the task. */
static void
emit_task(struct engine *e, struct acct *a, const struct rules_factvals *fv,
    const struct emit *m)
{
	const struct ruleset *rs = e->rs;
	const struct rules_script *sc;
	struct acct_task t;
	int64_t amount_due, seq, num, priority = 0, f[PF_N];
	struct buf *b;
	const char *k;
	json_t *v;
	char id[32];
	size_t i;

	amount_due = fv->undisputed_overdue > 0
	    ? fv->undisputed_overdue
	    : fv->balance - fv->disputed_amount;
	if (m->factors != NULL) {
		json_object_foreach(m->factors, k, v) priority +=
		    json_integer_value(v);
	} else {
		priority_factors(e, a, fv, amount_due, f);
		for (i = 0; i < PF_N; i++)
			priority += f[i];
	}

	num = ++e->task_num;
	eval_task_id(num, id);
	b = engine_feed_begin(e);
	proto_w_str(b, "kind", "task");
	proto_w_str(b, "task", id);
	proto_w_str(b, "account", a->id);
	proto_w_str(b, "type", rules_task_type_name(m->type));
	proto_w_str(b, "stage", rs->stages[a->stage].name);
	proto_w_str(b, "source", m->source);
	if (m->script >= 0) {
		sc = &rs->scripts[m->script];
		proto_w_str(b, "script", sc->name);
		proto_w_open(b, "checklist", '[');
		for (i = 0; i < sc->nchecklist; i++)
			proto_w_str(b, NULL, sc->checklist[i]);
		proto_w_close(b, ']');
	}
	pick_contact(e, a, m->type, b);
	proto_w_int(b, "priority", priority);
	if (m->factors != NULL)
		proto_w_json(b, "priority_factors", m->factors);
	else {
		proto_w_open(b, "priority_factors", '{');
		for (i = 0; i < PF_N; i++)
			proto_w_int(b, pf_names[i], f[i]);
		proto_w_close(b, '}');
	}
	memset(&t, 0, sizeof(t));
	t.nb_day = choose_window(e, a, m, b);
	proto_w_int(b, "amount_due", amount_due);
	proto_w_str(b, "currency", a->currency);
	proto_w_int(b, "days_overdue", fv->days_overdue);
	proto_w_str(b, "reason", m->reason);
	w_ts(b, "created", e->now);
	/* Its members are none of the above (approval, for). */
	if (m->extra != NULL)
		proto_w_members(b, m->extra);

	seq = engine_feed_end(e);
	if (seq == -1)
		return;
	if (store_exec_q(e->store, Q_TASK_ADD, "iittttiii", num, seq, a->id,
	        rules_task_type_name(m->type), rs->stages[a->stage].name,
	        m->source, priority, (int64_t)(m->alert >= 0), e->now) == -1)
		e->failed = true;
	t.num = num;
	t.alert = (int16_t)m->alert;
	t.step = (int16_t)m->step;
	t.type = (uint8_t)m->type;
	acct_task_add(a, &t);
	/* §4.5: the credit is held from the emission of a credit_hold. */
	if (m->type == RULES_TASK_CREDIT_HOLD)
		a->credit_held = true;
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
	struct buf *b;
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
			b = engine_feed_begin(e);
			proto_w_str(b, "kind", "transition");
			proto_w_str(b, "account", a->id);
			proto_w_str(b, "from", rs->stages[from].name);
			proto_w_str(b, "to", rs->stages[r->to].name);
			proto_w_str(b, "rule", r->name);
			w_ts(b, "at", e->now);
			seq = engine_feed_end(e);
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
 * Cancels open task num of a (0: none), superseded by the task that
 * emit_task() appends next; its cancel record comes just before that
 * task's.
 */
static void
supersede_num(struct engine *e, struct acct *a, int64_t num)
{
	char next[32], reason[64];

	if (num == 0 || !acct_task_remove(a, num))
		return;
	eval_task_id(e->task_num + 1, next); /* emit_task()'s */
	snprintf(reason, sizeof(reason), "superseded by %s", next);
	cancel_one(e, a, num, reason);
}

/*
 * §4.5 supersede, two lookups for one cancel (supersede_num()):
 *
 * - supersede(): a cadence step's next occurrence supersedes its
 *   previous one (its source prev, "stage:NAME#K/N"), if still open and
 *   of this stage entry.  Steps are matched by position (the source's
 *   #K), also after a reload.  Read from the store.
 * - supersede_step(): an approved gated task supersedes the step's
 *   latest open task.  Read from memory.
 *
 * They are not folded into one in-memory lookup because the open tasks
 * in memory (struct acct_task) know neither their occurrence N nor their
 * creation instant, and the answers differ where (1) a credit_hold step
 * has every and supersede: holds outlive stage entries, and only the
 * store tells a hold of this entry from one of an earlier entry of the
 * same stage; (2) a reload turned supersede or every on for a step whose
 * earlier occurrences are still open: by source only occurrence N - 1 is
 * superseded (none when it is done), the latest in memory may be an
 * older one.  Keeping N and the creation instant per open task would
 * make them one at the price of a new saved-state version; the store is
 * read once per emission of a superseding step, never by a quiet sweep.
 */
static void
supersede(struct engine *e, struct acct *a, const char *prev)
{
	int64_t num = 0;
	int rc;

	rc = store_q(
	    e->store, Q_TASK_OPEN_SOURCE, "tti", a->id, prev, a->stage_entered);
	if (rc == 1)
		num = store_col_int(e->store, Q_TASK_OPEN_SOURCE, 0);
	store_done(e->store, Q_TASK_OPEN_SOURCE);
	if (rc == -1)
		e->failed = true;
	if (rc == 1)
		supersede_num(e, a, num);
}

/*
 * The step's latest open task (of the stage entry: stage tasks do not
 * outlive it; holds, which do, are left alone), superseded.
 */
static void
supersede_step(struct engine *e, struct acct *a, size_t k)
{
	int64_t num = 0;
	size_t i;

	for (i = 0; i < a->ntasks; i++) {
		if (a->tasks[i].alert < 0 && a->tasks[i].step == (int16_t)k &&
		    a->tasks[i].type != RULES_TASK_CREDIT_HOLD &&
		    a->tasks[i].num > num)
			num = a->tasks[i].num;
	}
	supersede_num(e, a, num);
}

/* The index of script name in rs, -1 when it has none by that name. */
static int
script_index(const struct ruleset *rs, const char *name)
{
	size_t i;

	for (i = 0; name != NULL && i < rs->nscripts; i++) {
		if (strcmp(rs->scripts[i].name, name) == 0)
			return (int)i;
	}
	return -1;
}

/*
 * §4.5 approval: the task that approval task num of a gates, emitted now
 * if a is still in the stage entry the approval was emitted in.  Only
 * for step k (the approval's step); returns whether num was that step's.
 *
 * Read from the store (the approval's record): the stage, the creation
 * instant, the reason and the gated type and script as they were at
 * emission.  The rule set cannot stand in for them (a reload may have
 * changed the step since), and keeping them per open approval in memory
 * would need a new saved-state version for a read made once per
 * approval decision, never by a sweep without one.
 */
static bool
approved_task(struct engine *e, struct acct *a, const struct rules_factvals *fv,
    int64_t num, size_t k)
{
	const struct rules_stage *st = &e->rs->stages[a->stage];
	const char *src, *hash, *stage, *type_name;
	json_t *rec = NULL, *for_, *extra;
	char id[32], source[160], reason[200];
	struct emit m;
	int64_t created;
	const char *why;
	int rc, type, step = -1;

	eval_task_id(num, id);
	rc = store_q(e->store, Q_TASK_OPEN_INFO, "i", num);
	if (rc == 1) {
		src = store_col_text(e->store, Q_TASK_OPEN_INFO, 1);
		if ((hash = strrchr(src, '#')) != NULL)
			step = (int)strtol(hash + 1, NULL, 10) - 1;
		snprintf(source, sizeof(source), "%s", src);
		rec = json_loads(
		    store_col_text(e->store, Q_TASK_OPEN_INFO, 2), 0, NULL);
	}
	store_done(e->store, Q_TASK_OPEN_INFO);
	if (rc == -1)
		e->failed = true;
	if (rec == NULL || step != (int)k) {
		json_decref(rec);
		return false;
	}
	stage = json_string_value(json_object_get(rec, "stage"));
	src = json_string_value(json_object_get(rec, "created"));
	for_ = json_object_get(rec, "for");
	type_name = json_string_value(json_object_get(for_, "type"));
	for (type = 0; type < RULES_TASK_COUNT; type++) {
		if (type_name != NULL &&
		    strcmp(type_name, rules_task_type_name(type)) == 0)
			break;
	}
	/* Still the stage entry the approval was emitted in? */
	if (stage == NULL || strcmp(stage, st->name) != 0 || src == NULL ||
	    clock_parse_ts(src, strlen(src), &created, &why) == -1 ||
	    a->stage_entered > created || type >= RULES_TASK_COUNT) {
		json_decref(rec);
		return true;
	}
	engine_touch(e, a);
	if (k < st->ntasks && st->tasks[k].supersede &&
	    st->tasks[k].every_s > 0)
		supersede_step(e, a, k);
	extra = json_pack("{s:s}", "approval", id);
	snprintf(reason, sizeof(reason), "%s, approved in %s",
	    json_string_value(json_object_get(rec, "reason")), id);
	m = (struct emit){ .type = (enum rules_task_type)type,
		.script = script_index(
		    e->rs, json_string_value(json_object_get(for_, "script"))),
		.schedule = rules_schedule_for(e->rs,
		    k < st->ntasks ? st->tasks[k].schedule : -1,
		    (enum rules_task_type)type),
		.source = source,
		.reason = reason,
		.alert = -1,
		.step = (int)k,
		.extra = extra };
	emit_task(e, a, fv, &m);
	json_decref(extra);
	json_decref(rec);
	return true;
}

/* §4.5: the gated tasks of step k approved by the batch in progress. */
static void
approved_tasks(
    struct engine *e, struct acct *a, const struct rules_factvals *fv, size_t k)
{
	size_t i;

	for (i = 0; i < e->napproved; i++) {
		if (e->approved[i].a == a)
			approved_task(e, a, fv, e->approved[i].num, k);
	}
}

static void
cadence(struct engine *e, struct acct *a, const struct rules_factvals *fv)
{
	const struct rules_stage *st = &e->rs->stages[a->stage];
	const struct rules_task *t;
	char source[160], reason[200], after[32], prev[160];
	struct emit m;
	json_t *for_ = NULL;
	bool held, resumed;
	int64_t clk;
	size_t k;

	fit_steps(e, a);
	held = st->has_hold && rules_when_holds(&st->hold_when, fv);
	/*
	 * §4.9: steps the clock reached while the account was held or
	 * paused are emitted now that it is neither, with the first slot
	 * only (P4: do what you said, on time).  The clock stands still at
	 * such an evaluation; it was stopped since an earlier one (a stage
	 * entered now starts it for the first time).
	 */
	resumed = !held && !a->cad_running && a->stage_entered != e->now;
	cadence_set(e, a, !held, held);
	clk = cadence_clock(a, e->now);
	for (k = 0; k < st->ntasks; k++) {
		t = &st->tasks[k];
		/* §4.5: approved now, emitted whether or not held. */
		if (e->napproved > 0)
			approved_tasks(e, a, fv, k);
		while (!held && a->emitted[k] < step_limit(t) &&
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
			if (t->supersede && t->every_s > 0 &&
			    a->emitted[k] > 0) {
				snprintf(prev, sizeof(prev), "stage:%s#%zu/%u",
				    st->name, k + 1, a->emitted[k]);
				supersede(e, a, prev);
			}
			a->emitted[k]++;
			m = (struct emit){ .type = t->type,
				.script = t->script,
				.schedule = rules_schedule_for(
				    e->rs, t->schedule, t->type),
				.source = source,
				.reason = reason,
				.alert = -1,
				.step = (int)k,
				.first_only = resumed };
			/*
			 * §4.5 approval: a person signs off first.  The
			 * approval task has the calendar's first slot, no
			 * contact; "for" names what it gates.
			 */
			if (t->approval) {
				for_ = json_pack("{s:s}", "type",
				    rules_task_type_name(t->type));
				if (t->script >= 0)
					json_object_set_new(for_, "script",
					    json_string(
					        e->rs->scripts[t->script]
					            .name));
				m.extra = json_pack("{s:o}", "for", for_);
				m.type = RULES_TASK_APPROVAL;
				m.script = -1;
				m.schedule = NULL;
				m.first_only = true;
			}
			emit_task(e, a, fv, &m);
			json_decref(m.extra);
		}
	}
}

static void
alerts(struct engine *e, struct acct *a, const struct rules_factvals *fv)
{
	const struct rules_alert *al;
	char source[160], reason[200];
	struct emit m;
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
		m = (struct emit){ .type = al->type,
			.script = al->script,
			.schedule =
			    rules_schedule_for(e->rs, al->schedule, al->type),
			.source = source,
			.reason = reason,
			.alert = (int)i,
			.step = -1 };
		emit_task(e, a, fv, &m);
	}
}

/*
 * The priority_factors of the credit_hold task that began a's hold (the
 * first one after its last release), NULL when the store has none.
 * Read from the store once per release (as approved_task()): in memory
 * they would be four numbers more per held account in a new saved-state
 * version, with the same read to fill them from an older database.
 */
static json_t *
hold_factors(struct engine *e, const struct acct *a)
{
	json_t *rec, *f = NULL;
	int rc;

	rc = store_q(e->store, Q_CREDIT_HOLD_BEGIN, "t", a->id);
	if (rc == 1) {
		rec = json_loads(
		    store_col_text(e->store, Q_CREDIT_HOLD_BEGIN, 0), 0, NULL);
		f = json_incref(json_object_get(rec, "priority_factors"));
		json_decref(rec);
	}
	store_done(e->store, Q_CREDIT_HOLD_BEGIN);
	if (rc == -1)
		e->failed = true;
	return f;
}

/*
 * §4.5 credit release (P10): after the transitions, a held credit in a
 * stage whose release_when holds is released: the open credit_hold
 * tasks are cancelled (emission order), then one credit_release task.
 */
static void
release(struct engine *e, struct acct *a, const struct rules_factvals *fv)
{
	const struct rules_stage *st = &e->rs->stages[a->stage];
	char source[160];
	struct emit m;
	size_t i, keep = 0;

	if (!a->credit_held || !st->has_release ||
	    !rules_when_holds(&st->release_when, fv))
		return;
	engine_touch(e, a);
	for (i = 0; i < a->ntasks; i++) {
		if (a->tasks[i].type != RULES_TASK_CREDIT_HOLD) {
			a->tasks[keep++] = a->tasks[i];
			continue;
		}
		cancel_one(e, a, a->tasks[i].num, "credit released");
	}
	a->ntasks = keep;
	snprintf(source, sizeof(source), "release:%s", st->name);
	m = (struct emit){ .type = RULES_TASK_CREDIT_RELEASE,
		.script = -1,
		.schedule =
		    rules_schedule_for(e->rs, -1, RULES_TASK_CREDIT_RELEASE),
		.source = source,
		.reason = "credit released: back in good standing",
		.alert = -1,
		.step = -1,
		.factors = hold_factors(e, a) };
	emit_task(e, a, fv, &m);
	json_decref(m.factors);
	a->credit_held = false;
}

/* Whether a has an open task that a pause or a stage change withdraws. */
static bool
has_cancellable(const struct acct *a)
{
	size_t i;

	for (i = 0; i < a->ntasks; i++) {
		if (a->tasks[i].type != RULES_TASK_CREDIT_HOLD &&
		    a->tasks[i].type != RULES_TASK_CREDIT_RELEASE)
			return true;
	}
	return false;
}

static void eval_one(struct engine *e, struct acct *a);

void
eval_account(struct engine *e, struct acct *a)
{
	e->contacts_of = a;
	e->contacts_ok = false;
	eval_one(e, a);
	e->contacts_of = NULL;
}

static void
eval_one(struct engine *e, struct acct *a)
{
	struct rules_factvals *fv = &e->fo.fv;

	e->nevals++;
	facts_compute(a, &e->fp, e->now, e->today, &e->fo);
	if (verdicts(e, a, fv->balance))
		facts_compute(a, &e->fp, e->now, e->today, &e->fo);
	if (a->paused) {
		if (has_cancellable(a))
			eval_cancel_tasks(e, a, false, "account paused");
		cadence_set(e, a, false, a->held);
		return;
	}
	transitions(e, a, fv);
	release(e, a, fv);
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

/*
 * When w's truth for a can next change by time alone, a lower bound
 * (INT64_MAX: only an event can change it): while it holds, the first
 * moment one of its conditions can stop holding; while it does not, it
 * cannot hold before every condition that fails now can hold.
 */
static int64_t
when_next(const struct acct *a, const struct rules_when *w,
    const struct rules_factvals *fv, int64_t now, const struct facts_moments *m,
    bool *holds /* OUT */)
{
	int64_t down = INT64_MAX, up = INT64_MIN, t;
	size_t i;

	*holds = true;
	for (i = 0; i < w->n; i++) {
		t = facts_cond_next(a, &w->conds[i], fv, now, m);
		if (t < down)
			down = t;
		if (!rules_cond_holds(&w->conds[i], fv)) {
			*holds = false;
			if (t > up)
				up = t;
		}
	}
	return *holds ? down : up;
}

static void
sooner(int64_t *next, int64_t t)
{
	if (t < *next)
		*next = t;
}

/*
 * The wake-up of an account at a fixpoint: the first moment a condition
 * whose truth decides something can change (when_next() of the current
 * stage's transition rules, its hold_when, its release_when while the
 * credit is held, the alerts that can still fire), a pending promise's
 * break, a verdict's window.  false when evaluating a at now would
 * change something (a rule, hold, release or alert decides otherwise
 * than the last evaluation did): the caller keeps every fact change.
 */
static bool
wake_at_fixpoint(struct engine *e, const struct acct *a, int64_t now,
    int64_t *next /* OUT */)
{
	const struct ruleset *rs = e->rs;
	const struct rules_stage *st = &rs->stages[a->stage];
	struct rules_factvals *fv = &e->fo_wake.fv;
	const struct rules_alert *al;
	struct facts_moments m;
	int64_t t;
	size_t i;
	bool holds;

	facts_compute_changes(a, &e->fp,
	    rs->uses.facts | (1u << RULES_FACT_PROMISE_PENDING), now,
	    &e->fo_wake, &m);
	*next = m.next[RULES_FACT_PROMISE_PENDING];
	sooner(next, m.next[RULES_FACT_PROMISES_BROKEN]);
	sooner(next, m.next[RULES_FACT_PROMISES_KEPT]);
	for (i = 0; i < st->nrules; i++) {
		if (rs->rules[st->rules[i]].to == a->stage)
			continue;
		t = when_next(
		    a, &rs->rules[st->rules[i]].when, fv, now, &m, &holds);
		if (holds)
			return false;
		sooner(next, t);
	}
	if (st->has_hold) {
		t = when_next(a, &st->hold_when, fv, now, &m, &holds);
		if (holds != a->held || holds == a->cad_running)
			return false;
		sooner(next, t);
	} else if (a->held || !a->cad_running) {
		return false;
	}
	if (a->credit_held && st->has_release) {
		t = when_next(a, &st->release_when, fv, now, &m, &holds);
		if (holds)
			return false;
		sooner(next, t);
	}
	for (i = 0; i < rs->nalerts; i++) {
		al = &rs->alerts[i];
		/* Fired, no cooldown: never again (§4.6). */
		if (i < a->nalerts && a->alert_last[i] != INT64_MIN &&
		    al->cooldown_s == 0)
			continue;
		t = when_next(a, &al->when, fv, now, &m, &holds);
		if (holds &&
		    (i >= a->nalerts || a->alert_last[i] == INT64_MIN ||
		        now >= a->alert_last[i] + al->cooldown_s))
			return false;
		sooner(next, t);
	}
	return true;
}

int64_t
eval_next_wake(struct engine *e, const struct acct *a, int64_t now)
{
	const struct ruleset *rs = e->rs;
	int64_t next, due;
	size_t k;

	if (e->wake_every_change || a->paused || a->stage >= rs->nstages ||
	    !wake_at_fixpoint(e, a, now, &next))
		return eval_next_due(e, a, now);
	for (k = 0; k < rs->stages[a->stage].ntasks; k++) {
		due = eval_step_at(e, a, k);
		if (due <= now)
			due = now + 1; /* due now: evaluated again at once */
		sooner(&next, due);
	}
	for (k = 0; k < rs->nalerts; k++) {
		due = eval_cooldown_end(e, a, k);
		if (due > now)
			sooner(&next, due);
	}
	assert(next > now); /* a moment <= now would be popped for ever */
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
