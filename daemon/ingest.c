/*
 * ingest — a batch of events: validation steps 7-10 of §2.2 against the
 * state, their meaning (§2.3, §3.1), and the batch's step (§2.4).
 *
 * Invariants:
 * (1) A line is checked completely before anything of it is applied:
 *     a rejected line leaves no trace, later lines see the state as if
 *     it were absent.
 * (2) Every accepted line touches its account (engine_touch) before
 *     changing it, so the step's undo list is also the batch's list of
 *     touched accounts in order of first appearance: the order in which
 *     they are evaluated.
 * (3) The store holds what memory does not need but reversals and
 *     promises do: events (ids and digests), invoice owners, and each
 *     account's money history (ledger.h: money with its applications,
 *     uncounted part and promise contributions), read when a line first
 *     needs it and written once when the batch is kept.  Memory and
 *     store change in the same step.
 */
#include "ingest.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "account.h"
#include "clock.h"
#include "engine.h"
#include "eval.h"
#include "event.h"
#include "kpi.h"
#include "kpisum.h"
#include "ledger.h"
#include "lines.h"
#include "log.h"
#include "rules.h"
#include "store.h"
#include "util.h"

#define TOTAL_MAX    ((int64_t)1 << 53) /* §2.2 step 10 */
#define WALL_SLACK_S 300                /* §2.2 step 9: now + 5 minutes */

/* What a line needs from the state, found by its checks. */
struct ctx {
	struct engine *e;
	int64_t limit; /* the latest acceptable `at` */
	int32_t limit_day;
	struct acct *a;
	long inv; /* index of the named invoice in a->inv, -1 none */
	char task_account[EVENT_ID_MAX + 1];
	int64_t task_created;
	bool task_open;
	bool task_cancelled;
	bool task_approval; /* an approval task (§4.5) */
	bool task_decided;  /* ... already approved or rejected */
	int64_t ref_at;     /* reversal: the `at` of the reversed event */
	int64_t ref_seq;    /* ... and its seq */
	struct diag *d;
	bool dberr;
};

static const char *const status_names[INGEST_NSTATUS] = {
	[INGEST_OK] = "ok",
	[INGEST_DUPLICATE] = "duplicate",
	[INGEST_ERROR] = "error",
	[INGEST_ROLLED_BACK] = "rolled_back",
};

const char *
ingest_status_name(enum ingest_status s)
{
	return status_names[s];
}

static int
dberr(struct ctx *c)
{
	c->dberr = true;
	return diag_set(
	    c->d, "", "database error: %s", store_errmsg(c->e->store));
}

/* Step 8: the account, an invoice of it, the currency. */
static int
check_account(struct ctx *c, const struct event *ev)
{
	c->a = engine_get(c->e, ev->account);
	if (c->a == NULL)
		return diag_set(
		    c->d, "account", "unknown account %s", ev->account);
	return 0;
}

static int
check_invoice(struct ctx *c, const struct event *ev)
{
	struct store *s = c->e->store;
	int rc = store_q(s, Q_INVOICE_GET, "t", ev->invoice);

	if (rc == -1) {
		store_done(s, Q_INVOICE_GET);
		return dberr(c);
	}
	if (rc == 0) {
		store_done(s, Q_INVOICE_GET);
		return diag_set(
		    c->d, "invoice", "unknown invoice %s", ev->invoice);
	}
	if (strcmp(store_col_text(s, Q_INVOICE_GET, 0), c->a->id) != 0) {
		diag_set(c->d, "invoice", "invoice %s belongs to account %s",
		    ev->invoice, store_col_text(s, Q_INVOICE_GET, 0));
		store_done(s, Q_INVOICE_GET);
		return -1;
	}
	/* Not among the open ones: settled (open 0, no open dispute). */
	c->inv = acct_invoice_find(c->a, store_col_int(s, Q_INVOICE_GET, 1));
	store_done(s, Q_INVOICE_GET);
	return 0;
}

/*
 * Step 8 for a reversal: the payment or credit it names, of the same
 * account, not reversed yet; c->ref_at and c->ref_seq from its ledger.
 */
static int
check_ref(struct ctx *c, const struct event *ev)
{
	struct store *s = c->e->store;
	struct ledger_money *m;
	struct ledger *lg;
	const char *type;
	int rc = store_q(s, Q_EVENT_REF, "t", ev->event_ref);

	if (rc == -1) {
		store_done(s, Q_EVENT_REF);
		return dberr(c);
	}
	if (rc == 0) {
		store_done(s, Q_EVENT_REF);
		return diag_set(
		    c->d, "event", "unknown event %s", ev->event_ref);
	}
	type = store_col_text(s, Q_EVENT_REF, 1);
	if (strcmp(type, "payment") != 0 && strcmp(type, "credit") != 0) {
		store_done(s, Q_EVENT_REF);
		return diag_set(c->d, "event",
		    "event %s is not an accepted payment or credit",
		    ev->event_ref);
	}
	if (strcmp(store_col_text(s, Q_EVENT_REF, 2), ev->account) != 0) {
		store_done(s, Q_EVENT_REF);
		return diag_set(c->d, "event",
		    "event %s belongs to another account", ev->event_ref);
	}
	c->ref_seq = store_col_int(s, Q_EVENT_REF, 0);
	store_done(s, Q_EVENT_REF);
	lg = ledgers_get(&c->e->ledgers, s, ev->account, false);
	if (lg == NULL || (m = ledger_find(lg, c->ref_seq)) == NULL)
		return dberr(c); /* a payment without its ledger entry */
	if (m->reversed)
		return diag_set(c->d, "event", "event %s is already reversed",
		    ev->event_ref);
	c->ref_at = m->at;
	return 0;
}

static int
check_currency(struct ctx *c, const struct event *ev)
{
	if (ev->currency[0] != '\0' && strcmp(ev->currency, c->a->currency))
		return diag_set(c->d, "currency",
		    "currency %s differs from the account's %s", ev->currency,
		    c->a->currency);
	return 0;
}

static int
check_task(struct ctx *c, const char *task)
{
	/* Not T-N as dunnd writes it: no task of dunnd's. */
	int64_t num = eval_task_num(task);
	int rc =
	    num > 0 ? store_q(c->e->store, Q_TASK_GET, "it", num, task) : 0;

	if (rc == 1) {
		snprintf(c->task_account, sizeof(c->task_account), "%s",
		    store_col_text(c->e->store, Q_TASK_GET, 0));
		c->task_created = store_col_int(c->e->store, Q_TASK_GET, 1);
		c->task_open =
		    strcmp(store_col_text(c->e->store, Q_TASK_GET, 2),
		        "open") == 0;
		c->task_cancelled =
		    strcmp(store_col_text(c->e->store, Q_TASK_GET, 2),
		        "cancelled") == 0;
		c->task_approval =
		    strcmp(store_col_text(c->e->store, Q_TASK_GET, 3),
		        "approval") == 0;
		c->task_decided = store_col_int(c->e->store, Q_TASK_GET, 4);
	}
	store_done(c->e->store, Q_TASK_GET);
	if (rc == -1)
		return dberr(c);
	if (rc == 0)
		return diag_set(c->d, "task", "unknown task %s", task);
	return 0;
}

/* Step 9: an `at` (field at). */
static int
check_at(struct ctx *c, const struct event *ev)
{
	char buf[CLOCK_TS_LEN];

	if (ev->at > c->limit) {
		clock_format_ts(c->limit, buf);
		return diag_set(
		    c->d, "at", "at is in the future (now is %s)", buf);
	}
	return 0;
}

/* Step 10: a total of accepted events above 2^53. */
static int
check_total(struct ctx *c, const char *field, int64_t total, int64_t amount,
    const char *what)
{
	if (amount > TOTAL_MAX - total)
		return diag_set(c->d, field,
		    "the account's total %s would exceed 2^53", what);
	return 0;
}

static int
check_line(struct ctx *c, const struct event *ev)
{
	struct engine *e = c->e;
	int64_t bal, open, disp;
	char buf[CLOCK_DATE_LEN];
	int rc;

	c->a = NULL;
	c->inv = -1;
	switch (ev->type) {
	case EVENT_ACCOUNT:
		c->a = engine_get(e, ev->account);
		if (c->a == NULL) {
			if (ev->name == NULL)
				return diag_set(c->d, "name",
				    "name is required for a new account");
			if (ev->currency[0] == '\0')
				return diag_set(c->d, "currency",
				    "currency is required for a new account");
			if (ev->size == EVENT_SIZE_NONE)
				return diag_set(c->d, "size",
				    "size is required for a new account");
			return 0;
		}
		return check_currency(c, ev);

	case EVENT_INVOICE:
		if (check_account(c, ev) == -1)
			return -1;
		rc = store_q(e->store, Q_INVOICE_GET, "t", ev->invoice);
		store_done(e->store, Q_INVOICE_GET);
		if (rc == -1)
			return dberr(c);
		if (rc == 1)
			return diag_set(c->d, "invoice",
			    "invoice %s already exists (another account's)",
			    ev->invoice);
		if (check_currency(c, ev) == -1)
			return -1;
		if (ev->issued_day > c->limit_day) {
			clock_format_date(c->limit_day, buf);
			return diag_set(
			    c->d, "issued", "issued is after today (%s)", buf);
		}
		if (ev->due_day < ev->issued_day)
			return diag_set(c->d, "due", "due is before issued");
		return check_total(
		    c, "amount", c->a->invoiced, ev->amount, "invoiced");

	case EVENT_PAYMENT:
		if (check_account(c, ev) == -1 ||
		    (ev->invoice[0] != '\0' && check_invoice(c, ev) == -1) ||
		    check_currency(c, ev) == -1 || check_at(c, ev) == -1)
			return -1;
		bal = acct_balance(c->a);
		if (ev->amount > bal &&
		    !(ev->has_allow_credit_balance && ev->allow_credit_balance))
			return diag_set(c->d, "amount",
			    "amount %" PRId64 " is above the balance %" PRId64
			    " (allow_credit_balance not given)",
			    ev->amount, bal);
		return check_total(c, "amount", c->a->paid, ev->amount, "paid");

	case EVENT_CREDIT:
		if (check_account(c, ev) == -1 || check_invoice(c, ev) == -1 ||
		    check_currency(c, ev) == -1 || check_at(c, ev) == -1)
			return -1;
		open = c->inv >= 0 ? c->a->inv[c->inv].open : 0;
		if (ev->amount > open)
			return diag_set(c->d, "amount",
			    "amount %" PRId64
			    " is above the invoice's open amount %" PRId64,
			    ev->amount, open);
		return check_total(
		    c, "amount", c->a->credited, ev->amount, "credited");

	case EVENT_PROMISE:
		if (check_account(c, ev) == -1)
			return -1;
		if (ev->task[0] != '\0') {
			if (check_task(c, ev->task) == -1)
				return -1;
			if (strcmp(c->task_account, ev->account) != 0)
				return diag_set(c->d, "task",
				    "task %s belongs to account %s", ev->task,
				    c->task_account);
		}
		if (check_currency(c, ev) == -1)
			return -1;
		if (ev->due_day < clock_local_date(ev->at))
			return diag_set(
			    c->d, "due", "due is before the date of at");
		if (check_at(c, ev) == -1)
			return -1;
		bal = acct_balance(c->a);
		if (ev->amount > bal)
			return diag_set(c->d, "amount",
			    "amount %" PRId64 " is above the balance %" PRId64,
			    ev->amount, bal);
		return 0;

	case EVENT_DISPUTE:
		if (check_account(c, ev) == -1 || check_invoice(c, ev) == -1 ||
		    check_currency(c, ev) == -1 || check_at(c, ev) == -1)
			return -1;
		open = c->inv >= 0 ? c->a->inv[c->inv].open : 0;
		disp = c->inv >= 0 ? c->a->inv[c->inv].disputed : 0;
		if (ev->amount > open - disp)
			return diag_set(c->d, "amount",
			    "amount %" PRId64
			    " is above the invoice's open amount minus its unresolved disputes (%" PRId64
			    ")",
			    ev->amount, open - disp > 0 ? open - disp : 0);
		return 0;

	case EVENT_DISPUTE_RESOLVED:
		if (check_account(c, ev) == -1 || check_invoice(c, ev) == -1)
			return -1;
		if (c->inv < 0 || c->a->inv[c->inv].disputed == 0)
			return diag_set(c->d, "invoice",
			    "invoice %s has no open dispute", ev->invoice);
		if (check_currency(c, ev) == -1 || check_at(c, ev) == -1)
			return -1;
		if (ev->has_upheld_amount) {
			open = c->a->inv[c->inv].open;
			disp = c->a->inv[c->inv].disputed;
			if (disp > open)
				disp = open;
			if (ev->upheld_amount > disp)
				return diag_set(c->d, "upheld_amount",
				    "upheld_amount %" PRId64
				    " is above the disputed open amount %" PRId64,
				    ev->upheld_amount, disp);
			return check_total(c, "upheld_amount", c->a->credited,
			    ev->upheld_amount, "credited");
		}
		return 0;

	case EVENT_OUTCOME:
		if (check_task(c, ev->task) == -1)
			return -1;
		/* §2.2 step 8: only a person's decision on an approval. */
		if ((ev->result == EVENT_RESULT_APPROVED ||
		        ev->result == EVENT_RESULT_REJECTED) &&
		    !c->task_approval)
			return diag_set(c->d, "result",
			    "%s is only for approval tasks; %s is not one",
			    event_result_name(ev->result), ev->task);
		c->a = engine_get(e, c->task_account);
		if (c->a == NULL)
			return dberr(c);
		if (check_at(c, ev) == -1)
			return -1;
		if (ev->at < c->task_created)
			return diag_set(
			    c->d, "at", "at is before the task was created");
		return 0;

	case EVENT_REVERSAL:
		if (check_account(c, ev) == -1)
			return -1;
		if (check_ref(c, ev) == -1)
			return -1;
		if (check_at(c, ev) == -1)
			return -1;
		if (ev->at < c->ref_at)
			return diag_set(c->d, "at",
			    "at is before the at of the reversed event");
		return 0;

	default:
		return diag_set(c->d, "type", "unknown type");
	}
}

/* Meaning (§2.3). */

static void
db(struct ctx *c, int rc)
{
	if (rc == -1)
		c->e->failed = true;
}

/* One application of money m (of ledger lg) to invoice i of a, recorded. */
static void
apply(struct ctx *c, struct acct *a, size_t i, struct ledger *lg,
    struct ledger_money *m, int64_t amount, int64_t at)
{
	struct acct_invoice *iv = &a->inv[i];
	int32_t day = clock_local_date(at);

	iv->open -= amount;
	if (day > iv->settle_day)
		iv->settle_day = day;
	ledger_app_add(lg, m, (int64_t)iv->seq, amount, at);
	kpisum_add(&c->e->kpi, a->currency, kpi_app_day(at, iv->issued),
	    iv->due, 0, amount);
}

/* Pours amount into the open invoices in invoice order; returns the rest. */
static int64_t
allocate(struct ctx *c, struct acct *a, struct ledger *lg,
    struct ledger_money *money, int64_t amount, int64_t at)
{
	size_t i;
	int64_t take;

	for (i = 0; i < a->ninv && amount > 0; i++) {
		take = a->inv[i].open < amount ? a->inv[i].open : amount;
		if (take > 0) {
			apply(c, a, i, lg, money, take, at);
			amount -= take;
		}
	}
	return amount;
}

/* Sorted pending promises whose span holds at, by due then arrival. */
static int
cmp_promise(const void *x, const void *y)
{
	const struct acct_promise *p = *(struct acct_promise *const *)x;
	const struct acct_promise *q = *(struct acct_promise *const *)y;

	if (p->due != q->due)
		return p->due < q->due ? -1 : 1;
	return p->seq < q->seq ? -1 : p->seq > q->seq;
}

/*
 * §3.1: money known now counts towards the pending promises whose span
 * holds its at.  Returns what is left uncounted.
 */
static int64_t
count_money(struct acct *a, struct ledger *lg, struct ledger_money *money,
    int64_t amount, int64_t at)
{
	struct acct_promise **v;
	size_t i, n = 0;
	int64_t take;

	if (a->nprom == 0)
		return amount;
	v = xcalloc(a->nprom, sizeof(*v));
	for (i = 0; i < a->nprom; i++)
		if (a->prom[i].verdict == ACCT_PENDING && a->prom[i].at <= at &&
		    at < a->prom[i].break_at)
			v[n++] = &a->prom[i];
	qsort(v, n, sizeof(*v), cmp_promise);
	for (i = 0; i < n && amount > 0; i++) {
		take = v[i]->amount - v[i]->counted;
		if (take > amount)
			take = amount;
		v[i]->counted += take;
		amount -= take;
		ledger_pm_add(lg, money, v[i]->seq, take);
		if (v[i]->counted >= v[i]->amount) {
			v[i]->verdict = ACCT_KEPT;
			v[i]->verdict_at = at;
		}
	}
	free(v);
	return amount;
}

static void
add_credit(struct acct *a, const char *money, int64_t amount, int64_t at,
    int64_t arrival)
{
	struct acct_extra *x = acct_extra(a);
	struct acct_credit *cr;

	x->cred = xreallocarray(x->cred, x->ncred + 1, sizeof(*x->cred));
	cr = &x->cred[x->ncred++];
	cr->money = xstrdup(money);
	cr->remaining = amount;
	cr->at = at;
	cr->arrival = arrival;
}

/*
 * Applies the unapplied credit, oldest portion first, to invoice only
 * (>= 0) or to every open invoice in invoice order (-1), each
 * application dated by date(portion).
 */
static void
use_credit(struct ctx *c, struct acct *a, long only, int64_t fixed_at)
{
	struct acct_extra *x = a->x;
	struct acct_credit *cr;
	struct ledger_money *m = NULL;
	struct ledger *lg;
	uint32_t k, keep = 0;
	size_t i;
	int64_t take, at, start;

	if (x == NULL || x->ncred == 0)
		return;
	lg = ledgers_get(&c->e->ledgers, c->e->store, a->id, false);
	if (lg == NULL) {
		c->e->failed = true;
		return;
	}
	for (k = 0; k < x->ncred; k++) {
		cr = &x->cred[k];
		for (i = only >= 0 ? (size_t)only : 0;
		     i < a->ninv && cr->remaining > 0; i++) {
			take = a->inv[i].open < cr->remaining ? a->inv[i].open
			                                      : cr->remaining;
			if (take > 0) {
				at = fixed_at;
				if (only >= 0) {
					/* §2.3: the later of the payment's
					 * at and the issued day, at most now */
					start =
					    clock_day_start(a->inv[i].issued);
					at = cr->at > start ? cr->at : start;
					if (at > c->e->now)
						at = c->e->now;
				}
				if (m == NULL || m->seq != cr->arrival)
					m = ledger_find(lg, cr->arrival);
				if (m == NULL) { /* credit without its entry */
					c->e->failed = true;
					return;
				}
				apply(c, a, i, lg, m, take, at);
				lg->dirty = true;
				cr->remaining -= take;
			}
			if (only >= 0)
				break;
		}
		if (cr->remaining > 0)
			x->cred[keep++] = *cr;
		else
			free(cr->money);
	}
	x->ncred = keep;
}

/* A payment, credit or upheld amount: its entry, allocation, counting. */
static void
apply_money(struct ctx *c, const struct event *ev, enum ledger_kind kind,
    int64_t amount, int64_t at, int64_t seq)
{
	struct acct *a = c->a;
	struct ledger *lg =
	    ledgers_get(&c->e->ledgers, c->e->store, a->id, true);
	struct ledger_money *m;
	int64_t rest = amount;

	if (lg == NULL) {
		c->e->failed = true;
		return;
	}
	m = ledger_add(lg, seq, kind, amount, at);
	if (c->inv >= 0) {
		int64_t take =
		    a->inv[c->inv].open < rest ? a->inv[c->inv].open : rest;

		if (take > 0)
			apply(c, a, (size_t)c->inv, lg, m, take, at);
		rest -= take;
	}
	if (rest > 0 && kind == LEDGER_PAYMENT)
		rest = allocate(c, a, lg, m, rest, at);
	if (rest > 0)
		add_credit(a, ev->id, rest, at, seq);
	m->uncounted = count_money(a, lg, m, amount, at);
}

static json_t *
contacts_json(const struct event *ev)
{
	json_t *arr = json_array(), *o;
	size_t i;

	for (i = 0; i < ev->ncontacts; i++) {
		o = json_pack("{s:s,s:s}", "role",
		    event_role_name(ev->contacts[i].role), "name",
		    ev->contacts[i].name);
		if (ev->contacts[i].phone != NULL)
			json_object_set_new(
			    o, "phone", json_string(ev->contacts[i].phone));
		if (ev->contacts[i].email != NULL)
			json_object_set_new(
			    o, "email", json_string(ev->contacts[i].email));
		json_array_append_new(arr, o);
	}
	return arr;
}

static char *
tags_text(const struct event *ev)
{
	json_t *arr = json_array();
	char *s;
	size_t i;

	for (i = 0; i < ev->ntags; i++)
		json_array_append_new(arr, json_string(ev->tags[i]));
	s = json_dumps(arr, JSON_COMPACT);
	json_decref(arr);
	return s;
}

static void
set_tags(struct acct *a, const struct event *ev)
{
	size_t i;

	for (i = 0; i < a->ntags; i++)
		free(a->tags[i]);
	free(a->tags);
	a->tags = ev->ntags ? xcalloc(ev->ntags, sizeof(*a->tags)) : NULL;
	for (i = 0; i < ev->ntags; i++)
		a->tags[i] = xstrdup(ev->tags[i]);
	a->ntags = ev->ntags;
}

/* The roles of the account's contacts, kept in memory (facts, §3). */
static void
set_roles(struct acct *a, const struct event *ev)
{
	size_t i;
	uint16_t bit;

	a->roles = a->phone_roles = a->email_roles = 0;
	for (i = 0; i < ev->ncontacts; i++) {
		bit = (uint16_t)(1u << ev->contacts[i].role);
		a->roles |= bit;
		if (ev->contacts[i].phone != NULL)
			a->phone_roles |= bit;
		if (ev->contacts[i].email != NULL)
			a->email_roles |= bit;
	}
}

/* An integer column's new value as text (INTEGER affinity), or NULL. */
static const char *
int_text(bool has, int64_t v, char buf[24])
{
	if (!has)
		return NULL;
	snprintf(buf, 24, "%" PRId64, v);
	return buf;
}

static void
apply_account(struct ctx *c, const struct event *ev, int64_t seq)
{
	struct engine *e = c->e;
	struct acct *a = c->a;
	char *contacts = NULL, *tags = NULL, risk[2] = { ev->risk, 0 };
	char b1[24], b2[24], b3[24];
	json_t *cj;

	if (ev->has_contacts) {
		cj = contacts_json(ev);
		contacts = json_dumps(cj, JSON_COMPACT);
		json_decref(cj);
	}
	if (ev->has_tags)
		tags = tags_text(ev);
	if (a == NULL) {
		a = c->a = engine_add(e, ev->account);
		snprintf(a->currency, sizeof(a->currency), "%s", ev->currency);
		a->stage = 0;
		a->stage_entered = e->now;
		a->cad_mark = e->now;
		db(c,
		    store_exec_q(e->store, Q_ACCOUNT_ADD, "titttti", a->id, seq,
		        ev->name, ev->currency, event_size_name(ev->size),
		        e->rs->stages[0].name, e->now));
	} else
		engine_touch(e, a);
	if (ev->size != EVENT_SIZE_NONE)
		a->size =
		    (int)ev->size - (int)EVENT_SIZE_SMALL + RULES_SIZE_SMALL;
	if (ev->risk)
		a->risk = ev->risk - 'A';
	if (ev->has_paused)
		a->paused = ev->paused;
	if (ev->has_tags)
		set_tags(a, ev);
	if (ev->has_contacts)
		set_roles(a, ev);
	if (ev->has_cash_in_day)
		a->cash_in_day = (uint8_t)ev->cash_in_day; /* 0 clears (§2) */
	db(c,
	    store_exec_q(e->store, Q_ACCOUNT_UPD, "ttttttttt", a->id, ev->name,
	        event_size_name(ev->size), ev->risk ? risk : NULL,
	        int_text(ev->has_cash_in_day, ev->cash_in_day, b1),
	        int_text(ev->has_distance_km, ev->distance_km, b2),
	        int_text(ev->has_paused, ev->paused, b3), contacts, tags));
	free(contacts);
	free(tags);
}

/*
 * The index in a->inv of invoice seq, brought back from the settled ones
 * (or from the store, when it was dropped from memory) if need be.
 */
static long
reopen(struct ctx *c, struct acct *a, int64_t seq)
{
	struct store *s = c->e->store;
	struct acct_invoice iv;
	long idx;
	int rc;

	if ((idx = acct_invoice_find(a, seq)) >= 0)
		return idx;
	if ((idx = acct_settled_reopen(a, seq)) >= 0)
		return idx;
	rc = store_q(s, Q_INVOICE_BY_SEQ, "it", seq, a->id);
	if (rc == 1) {
		memset(&iv, 0, sizeof(iv));
		iv.seq = (uint32_t)seq;
		iv.issued = (int32_t)store_col_int(s, Q_INVOICE_BY_SEQ, 0);
		iv.due = (int32_t)store_col_int(s, Q_INVOICE_BY_SEQ, 1);
		iv.settle_day = INT32_MIN;
		idx = (long)acct_invoice_insert(a, &iv);
		a->nsettled_old--;
	}
	store_done(s, Q_INVOICE_BY_SEQ);
	if (rc != 1)
		c->e->failed = true;
	return rc == 1 ? idx : -1;
}

static void
apply_reversal(struct ctx *c, const struct event *ev)
{
	struct engine *e = c->e;
	struct acct *a = c->a;
	struct ledger *lg = ledgers_get(&e->ledgers, e->store, a->id, true);
	struct ledger_money *m = lg ? ledger_find(lg, c->ref_seq) : NULL;
	int64_t *invs = NULL, last;
	size_t ninv = 0, i, k;
	uint32_t j;
	long idx;

	if (m == NULL) { /* check_ref() found it */
		e->failed = true;
		return;
	}
	/* The payment's unapplied portion goes first. */
	for (k = 0; a->x != NULL && k < a->x->ncred; k++) {
		struct acct_extra *x = a->x;

		if (strcmp(x->cred[k].money, ev->event_ref) == 0) {
			free(x->cred[k].money);
			memmove(x->cred + k, x->cred + k + 1,
			    (x->ncred - k - 1) * sizeof(*x->cred));
			x->ncred--;
			break;
		}
	}
	/* Every application of its money undone. */
	for (j = 0; j < m->napp; j++) {
		if (m->app[j].undone)
			continue;
		m->app[j].undone = true;
		idx = reopen(c, a, m->app[j].invoice);
		if (idx < 0)
			continue;
		a->inv[idx].open += m->app[j].amount;
		kpisum_add(&e->kpi, a->currency,
		    kpi_app_day(m->app[j].at, a->inv[idx].issued),
		    a->inv[idx].due, 0, -m->app[j].amount);
		invs = xreallocarray(invs, ninv + 1, sizeof(*invs));
		invs[ninv++] = a->inv[idx].seq;
	}
	/* Settle dates from the applications that remain. */
	for (i = 0; i < ninv; i++) {
		idx = acct_invoice_find(a, invs[i]);
		if (idx >= 0)
			a->inv[idx].settle_day =
			    ledger_app_last(lg, invs[i], &last)
			    ? clock_local_date(last)
			    : INT32_MIN;
	}
	free(invs);
	/* Its contributions to promises still pending are withdrawn. */
	for (j = 0; j < m->npm; j++)
		for (k = 0; k < a->nprom; k++)
			if (!m->pm[j].withdrawn &&
			    a->prom[k].verdict == ACCT_PENDING &&
			    a->prom[k].seq == m->pm[j].promise) {
				a->prom[k].counted -= m->pm[j].amount;
				m->pm[j].withdrawn = true;
			}
	m->reversed = true;
	m->uncounted = 0;
	/* Then the remaining credit, to the open invoices, dated now. */
	use_credit(c, a, -1, e->now);
}

/* Uncounted money by at, then seq (§3.1: oldest first). */
static int
cmp_money(const void *x, const void *y)
{
	const struct ledger_money *p = *(struct ledger_money *const *)x;
	const struct ledger_money *q = *(struct ledger_money *const *)y;

	if (p->at != q->at)
		return p->at < q->at ? -1 : 1;
	return p->seq < q->seq ? -1 : p->seq > q->seq;
}

static void
apply_promise(struct ctx *c, const struct event *ev, int64_t at, int64_t seq)
{
	struct engine *e = c->e;
	struct acct_promise pr, *p;
	struct acct *a = c->a;
	struct ledger_money **v = NULL;
	struct ledger *lg;
	int64_t take;
	size_t n = 0, i, idx;

	memset(&pr, 0, sizeof(pr));
	pr.amount = ev->amount;
	pr.at = at;
	pr.due = ev->due_day;
	pr.seq = (uint32_t)seq;
	pr.break_at = clock_day_start(ev->due_day + 1) + e->rs->promise_grace_s;
	pr.verdict = ACCT_PENDING;
	idx = acct_promise_add(a, &pr);
	p = &a->prom[idx];
	/* §3.1: the not-yet-counted money dated in its span, oldest first. */
	lg = ledgers_get(&e->ledgers, e->store, a->id, false);
	if (lg == NULL) {
		e->failed = true;
		return;
	}
	for (i = 0; i < lg->n; i++)
		if (lg->m[i].uncounted > 0 && lg->m[i].at >= pr.at &&
		    lg->m[i].at < pr.break_at) {
			v = xreallocarray(v, n + 1, sizeof(*v));
			v[n++] = &lg->m[i];
		}
	if (n > 1)
		qsort(v, n, sizeof(*v), cmp_money);
	for (i = 0; i < n && p->counted < p->amount; i++) {
		take = v[i]->uncounted;
		if (take > p->amount - p->counted)
			take = p->amount - p->counted;
		p->counted += take;
		v[i]->uncounted -= take;
		ledger_pm_add(lg, v[i], seq, take);
		lg->dirty = true;
		if (p->counted >= p->amount) {
			p->verdict = ACCT_KEPT;
			p->verdict_at = v[i]->at;
		}
	}
	free(v);
}

static void
apply_line(struct ctx *c, const struct event *ev, int64_t seq)
{
	struct engine *e = c->e;
	struct store *s = e->store;
	struct acct_invoice iv;
	int64_t at = ev->at;
	size_t i;

	if (ev->type != EVENT_ACCOUNT)
		engine_touch(e, c->a);
	/* §2.2 step 9: under the wall clock a later `at` is taken as now. */
	if (ev->has_at && at > e->now)
		at = e->now;
	switch (ev->type) {
	case EVENT_ACCOUNT:
		apply_account(c, ev, seq);
		break;
	case EVENT_INVOICE:
		memset(&iv, 0, sizeof(iv));
		iv.open = ev->amount;
		iv.seq = (uint32_t)seq;
		iv.settle_day = INT32_MIN;
		iv.issued = ev->issued_day;
		iv.due = ev->due_day;
		i = acct_invoice_insert(c->a, &iv);
		c->a->invoiced += ev->amount;
		db(c,
		    store_exec_q(s, Q_INVOICE_ADD, "ttiiii", ev->invoice,
		        c->a->id, seq, ev->amount, (int64_t)ev->issued_day,
		        (int64_t)ev->due_day));
		kpisum_add(&e->kpi, c->a->currency, ev->issued_day, ev->due_day,
		    ev->amount, 0);
		use_credit(c, c->a, (long)i, 0);
		break;
	case EVENT_PAYMENT:
		c->a->paid += ev->amount;
		apply_money(c, ev, LEDGER_PAYMENT, ev->amount, at, seq);
		break;
	case EVENT_CREDIT:
		c->a->credited += ev->amount;
		apply_money(c, ev, LEDGER_CREDIT, ev->amount, at, seq);
		break;
	case EVENT_PROMISE:
		apply_promise(c, ev, at, seq);
		break;
	case EVENT_DISPUTE:
		c->a->inv[c->inv].disputed += ev->amount;
		break;
	case EVENT_DISPUTE_RESOLVED:
		c->a->inv[c->inv].disputed = 0;
		if (ev->has_upheld_amount) {
			c->a->credited += ev->upheld_amount;
			apply_money(
			    c, ev, LEDGER_UPHELD, ev->upheld_amount, at, seq);
		}
		break;
	case EVENT_OUTCOME:
		if (c->task_open) {
			int64_t num = eval_task_num(ev->task);

			acct_task_remove(c->a, num);
			db(c, store_exec_q(s, Q_TASK_DONE, "it", num, ev->id));
			/* §5: before the batch's evaluations, in line order. */
			if (engine_feed_append(e,
			        json_pack("{s:i,s:s,s:s,s:s,s:s,s:o}", "seq", 0,
			            "kind", "done", "task", ev->task, "account",
			            c->a->id, "result",
			            event_result_name(ev->result), "at",
			            eval_json_ts(at))) == -1)
				c->dberr = true;
		}
		/*
		 * §4.5: the first approval of an approval task that was not
		 * withdrawn emits the gated task in this batch's evaluation.
		 */
		if (ev->result == EVENT_RESULT_APPROVED && c->task_approval &&
		    !c->task_decided && !c->task_cancelled)
			engine_approved_add(
			    e, c->a, strtoll(ev->task + 2, NULL, 10));
		/* §3 unreached: decisions on approvals are not contacts. */
		if (ev->result != EVENT_RESULT_APPROVED &&
		    ev->result != EVENT_RESULT_REJECTED)
			facts_outcome_add(c->a, at, seq,
			    ev->result == EVENT_RESULT_NO_ANSWER ||
			        ev->result == EVENT_RESULT_WRONG_CONTACT);
		db(c,
		    store_exec_q(s, Q_OUTCOME_ADD, "tttitit", ev->id, ev->task,
		        c->a->id, seq, event_result_name(ev->result), at,
		        ev->note));
		break;
	case EVENT_REVERSAL:
		apply_reversal(c, ev);
		break;
	default:
		break;
	}
	/* Settled invoices leave the open list (account.h). */
	acct_compact(c->a);
}

/* The batch. */

static struct ingest_result *
result_add(struct ingest_batch *b, uint64_t line, enum ingest_status st)
{
	struct ingest_result *r;

	if (b->n == b->cap) {
		b->cap = b->cap ? 2 * b->cap : 64;
		b->v = xreallocarray(b->v, b->cap, sizeof(*b->v));
	}
	r = &b->v[b->n++];
	memset(r, 0, sizeof(*r));
	r->line = line;
	r->status = st;
	return r;
}

static void
result_error(
    struct ingest_batch *b, const struct line *ln, const struct diag *d)
{
	struct ingest_result *r = result_add(b, ln->no, INGEST_ERROR);

	r->field = d->field[0] != '\0' ? xstrdup(d->field) : NULL;
	r->error = xstrdup(d->msg);
	r->input = xmalloc(ln->len + 1);
	memcpy(r->input, ln->s, ln->len);
	r->input[ln->len] = '\0';
	r->input_len = ln->len;
}

/*
 * Step 7: whether ev's id was seen (a committed event or an earlier
 * line of this batch).  Returns 0 when it is new, 1 when it repeats an
 * event of the same content (*seq its seq), 2 when the content differs,
 * -1 on a database error.
 */
static int
seen(struct store *s, const struct event *ev, int64_t *seq /* OUT */)
{
	const void *dg;
	size_t dlen;
	int rc = store_q(s, Q_EVENT_GET, "t", ev->id);

	if (rc == 1) {
		*seq = store_col_int(s, Q_EVENT_GET, 0);
		dg = store_col_blob(s, Q_EVENT_GET, 1, &dlen);
		rc = dlen == EVENT_DIGEST_LEN &&
		        memcmp(dg, ev->digest, dlen) == 0
		    ? 1
		    : 2;
	}
	store_done(s, Q_EVENT_GET);
	return rc;
}

/* Step 7 and the rest of one parsed line. */
static void
one_line(struct ctx *c, struct ingest_batch *b, const struct line *ln,
    struct event *ev, int64_t first_seq)
{
	struct engine *e = c->e;
	struct ingest_result *r;
	struct diag d;
	int64_t seq;

	memset(&d, 0, sizeof(d));
	c->d = &d;
	switch (seen(e->store, ev, &seq)) {
	case 1:
		r = result_add(b, ln->no, INGEST_DUPLICATE);
		r->batch_dup = seq >= first_seq;
		return;
	case 2:
		diag_set(&d, "id", "id reused with different content");
		result_error(b, ln, &d);
		return;
	case -1:
		dberr(c);
		result_error(b, ln, &d);
		return;
	}
	if (check_line(c, ev) == -1) {
		result_error(b, ln, &d);
		return;
	}
	seq = ++e->event_seq;
	apply_line(c, ev, seq);
	if (store_exec_q(e->store, Q_EVENT_ADD, "itttbit", seq, ev->id,
	        event_type_name(ev->type), c->a->id, ev->digest,
	        (size_t)EVENT_DIGEST_LEN, ev->has_at ? ev->at : (int64_t)0,
	        ev->canon) == -1)
		e->failed = true;
	result_add(b, ln->no, INGEST_OK);
}

/*
 * A batch that cannot be processed (its transaction did not begin):
 * each line still gets what it would get in a batch that does not
 * commit (§2.4): a repeat of a committed event stays duplicate, a
 * reused id is an error, the rest is rolled_back.
 */
static void
known_line(struct ctx *c, struct ingest_batch *b, const struct line *ln,
    const struct event *ev)
{
	struct diag d;
	int64_t seq;

	switch (seen(c->e->store, ev, &seq)) {
	case 1:
		result_add(b, ln->no, INGEST_DUPLICATE);
		break;
	case 2:
		memset(&d, 0, sizeof(d));
		diag_set(&d, "id", "id reused with different content");
		result_error(b, ln, &d);
		break;
	default:
		result_add(b, ln->no, INGEST_ROLLED_BACK);
		break;
	}
}

void
ingest_batch(struct engine *e, const char *data, size_t len, bool skip_bad,
    struct ingest_batch *b)
{
	struct lines lr;
	struct line ln;
	struct event ev;
	struct diag d;
	struct ctx c;
	int64_t first_seq;
	size_t i, ntouched;
	bool errors = false, keep, dbfail;

	memset(b, 0, sizeof(*b));
	memset(&c, 0, sizeof(c));
	c.e = e;
	c.limit = e->wall ? e->now + WALL_SLACK_S : e->now;
	c.limit_day = clock_local_date(c.limit);
	if (!e->in_step || engine_batch_begin(e) == -1)
		snprintf(b->cause, sizeof(b->cause),
		    "cannot begin a transaction: %s", store_errmsg(e->store));
	first_seq = e->event_seq + 1;

	lines_init(&lr, EVENT_LINE_MAX);
	lines_feed(&lr, data, len);
	lines_eof(&lr);
	while (lines_next(&lr, &ln) == 1) {
		if (ln.kind == LINE_BLANK)
			continue;
		memset(&d, 0, sizeof(d));
		if (ln.kind == LINE_TOO_LONG) {
			diag_set(&d, "", "line too long");
			result_error(b, &ln, &d);
			errors = true;
			continue;
		}
		if (event_parse(ln.s, ln.len, &ev, &d) == -1) {
			result_error(b, &ln, &d);
			event_fini(&ev);
			errors = true;
			continue;
		}
		if (e->in_batch)
			one_line(&c, b, &ln, &ev, first_seq);
		else
			/* No transaction: still tell repeats and reuses. */
			known_line(&c, b, &ln, &ev);
		event_fini(&ev);
		if (b->v[b->n - 1].status == INGEST_ERROR)
			errors = true;
	}
	lines_fini(&lr);
	if (!e->in_batch)
		return;

	dbfail = e->failed;
	keep = (skip_bad || !errors) && !c.dberr && !dbfail;
	/* report kpi's daily totals and the money histories of the batch */
	if (!keep) {
		kpisum_clear(&e->kpi);
		ledgers_clear(&e->ledgers);
	} else if (kpisum_flush(&e->kpi, e->store) == -1 ||
	    ledgers_flush(&e->ledgers, e->store) == -1) {
		kpisum_clear(&e->kpi);
		ledgers_clear(&e->ledgers);
		keep = false;
		c.dberr = true;
	}
	if (keep) {
		/* The touched accounts, in order of first appearance. */
		ntouched = e->nbundo;
		for (i = 0; i < ntouched; i++)
			eval_account(e, e->bundo[i].a);
		keep = !e->failed;
	}
	if (engine_batch_end(e, keep) == -1 && keep) {
		snprintf(b->cause, sizeof(b->cause),
		    "cannot keep the batch: %s", store_errmsg(e->store));
		keep = false;
	}
	if (!keep && (c.dberr || e->failed) && b->cause[0] == '\0')
		snprintf(b->cause, sizeof(b->cause), "database error: %s",
		    store_errmsg(e->store));
	b->committed = keep;
}

void
ingest_fail(struct ingest_batch *b, const char *cause)
{
	size_t n = strlen(cause);

	b->committed = false;
	if (n >= sizeof(b->cause))
		n = sizeof(b->cause) - 1;
	memcpy(b->cause, cause, n);
	b->cause[n] = '\0';
}

void
ingest_finish(struct ingest_batch *b)
{
	size_t i;

	memset(b->counts, 0, sizeof(b->counts));
	for (i = 0; i < b->n; i++) {
		if (!b->committed &&
		    (b->v[i].status == INGEST_OK ||
		        (b->v[i].status == INGEST_DUPLICATE &&
		            b->v[i].batch_dup)))
			b->v[i].status = INGEST_ROLLED_BACK;
		b->counts[b->v[i].status]++;
	}
}

void
ingest_run(struct engine *e, int64_t now, const char *data, size_t len,
    bool skip_bad, struct ingest_batch *b)
{
	char cause[sizeof(b->cause)];
	bool began = engine_step_begin(e, now) == 0;

	ingest_batch(e, data, len, skip_bad, b);
	if (began && engine_step_end(e, true) == -1 && b->committed) {
		snprintf(cause, sizeof(cause), "commit failed: %s",
		    store_errmsg(e->store));
		ingest_fail(b, cause);
	}
	ingest_finish(b);
}

void
ingest_batch_fini(struct ingest_batch *b)
{
	size_t i;

	for (i = 0; i < b->n; i++) {
		free(b->v[i].field);
		free(b->v[i].error);
		free(b->v[i].input);
	}
	free(b->v);
	memset(b, 0, sizeof(*b));
}
