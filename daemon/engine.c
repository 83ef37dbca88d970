/*
 * engine — the portfolio in memory, the heap of due moments and the
 * processing step (engine.h).
 *
 * Invariants:
 * (1) Between steps, memory equals what the store committed: a step
 *     that does not commit restores every account it touched from the
 *     state engine_touch() kept, and the counters (event seq, task
 *     number, feed head) from their values at the step's start.
 * (2) Every account is in the heap exactly when its due_at is finite;
 *     the heap is ordered by (due_at, id), so accounts due at one
 *     moment come out in byte order of id (§4.3).
 * (3) The clock position moves only forward, and only once every
 *     moment up to it has been processed and committed.
 */
#include "engine.h"

#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "eval.h"
#include "event.h"
#include "jdoc.h"
#include "log.h"
#include "protocol.h"
#include "rules.h"
#include "store.h"

/* The heap (invariant 2). */

static bool
heap_less(const struct acct *x, const struct acct *y)
{
	if (x->due_at != y->due_at)
		return x->due_at < y->due_at;
	return strcmp(x->id, y->id) < 0;
}

static void
heap_set(struct engine *e, size_t i, struct acct *a)
{
	e->heap[i] = a;
	a->heap_pos = (uint32_t)i;
}

static void
heap_up(struct engine *e, size_t i)
{
	struct acct *a = e->heap[i];

	while (i > 0 && heap_less(a, e->heap[(i - 1) / 2])) {
		heap_set(e, i, e->heap[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	heap_set(e, i, a);
}

static void
heap_down(struct engine *e, size_t i)
{
	struct acct *a = e->heap[i];
	size_t c;

	for (;;) {
		c = 2 * i + 1;
		if (c >= e->nheap)
			break;
		if (c + 1 < e->nheap && heap_less(e->heap[c + 1], e->heap[c]))
			c++;
		if (!heap_less(e->heap[c], a))
			break;
		heap_set(e, i, e->heap[c]);
		i = c;
	}
	heap_set(e, i, a);
}

static void
heap_remove(struct engine *e, struct acct *a)
{
	size_t i = a->heap_pos;
	struct acct *last;

	if (a->heap_pos == UINT32_MAX)
		return;
	a->heap_pos = UINT32_MAX;
	last = e->heap[--e->nheap];
	if (i == e->nheap)
		return;
	heap_set(e, i, last);
	heap_up(e, i);
	heap_down(e, last->heap_pos);
}

/* Sets a's due moment and its place in the heap. */
static void
schedule(struct engine *e, struct acct *a, int64_t due_at)
{
	if (due_at == INT64_MAX) {
		heap_remove(e, a);
		a->due_at = INT64_MAX;
		return;
	}
	if (a->heap_pos == UINT32_MAX) {
		if (e->nheap == e->capheap) {
			e->capheap = e->capheap ? 2 * e->capheap : 64;
			e->heap = xreallocarray(
			    e->heap, e->capheap, sizeof(*e->heap));
		}
		a->due_at = due_at;
		heap_set(e, e->nheap++, a);
		heap_up(e, a->heap_pos);
		return;
	}
	a->due_at = due_at;
	heap_up(e, a->heap_pos);
	heap_down(e, a->heap_pos);
}

void
engine_reschedule(struct engine *e, struct acct *a)
{
	schedule(
	    e, a, eval_next_wake(e, a, e->in_step ? e->now : e->clock_pos));
}

/*
 * At every change of a tested fact (eval_next_due()): never late, and
 * cheaper than eval_next_wake() (one pass over the invoices, no facts):
 * for every account at a start and the accounts a reload's evaluation
 * left unchanged, whose first wake-up then makes their later ones
 * eval_next_wake()'s (P6, P7: a start and a reload at 1 M as fast as
 * before the wake-ups).
 */
static void
reschedule_every_change(struct engine *e, struct acct *a)
{
	schedule(e, a, eval_next_due(e, a, e->in_step ? e->now : e->clock_pos));
}

/*
 * A start's heap: every account's first due moment (as
 * reschedule_every_change()), then the heap made in one pass from the
 * bottom up instead of by an insertion each.  The order the heap gives
 * is that of (due moment, id), however it was built.
 */
static void
heap_build(struct engine *e)
{
	struct acct *a;
	size_t pos = 0, i;
	int64_t at;

	e->nheap = 0;
	if (e->capheap < e->accounts.n) {
		e->capheap = e->accounts.n;
		e->heap = xreallocarray(e->heap, e->capheap, sizeof(*e->heap));
	}
	while ((a = idmap_next(&e->accounts, &pos)) != NULL) {
		a->heap_pos = UINT32_MAX;
		a->due_at = INT64_MAX;
		if (a->stage == ACCT_NO_STAGE ||
		    (at = eval_next_due(e, a, e->clock_pos)) == INT64_MAX)
			continue;
		a->due_at = at;
		heap_set(e, e->nheap++, a);
	}
	for (i = e->nheap / 2; i-- > 0;)
		heap_down(e, i);
}

/* The first sweep_at instant after t (§6: once per local date). */
static int64_t
sweep_after(const struct engine *e, int64_t t)
{
	int32_t day = clock_local_date(t);
	int64_t s;

	for (;; day++) {
		s = clock_day_at(day, e->sweep_min);
		if (s > t)
			return s;
	}
}

/* Account id was saved in stage name, which the rules lack. */
static void
lost_add(struct engine *e, const char *id, const char *name)
{
	size_t n = strlen(id);
	struct lost_stage *l = xmalloc(offsetof(struct lost_stage, id) + n + 1);

	l->name = xstrdup(name);
	memcpy(l->id, id, n + 1);
	idmap_put(&e->lost, l);
}

/* A task type by name (RULES_TASK_COUNT: unknown). */
static int
task_type_of(const char *name)
{
	int i;

	for (i = 0; i < RULES_TASK_COUNT; i++) {
		if (name != NULL && strcmp(name, rules_task_type_name(i)) == 0)
			break;
	}
	return i;
}

/*
 * A saved state before version 4 lacks the contact roles, the cash-in
 * day, the held credit (§4.5: held when the account's latest credit
 * task is a credit_hold) and each open task's type, step and window
 * date: read them from the store.  -1 on a database error.
 */
static int
complete_legacy(struct engine *e, struct acct *a)
{
	struct store *s = e->store;
	json_t *list, *c, *rec;
	const char *src, *hash;
	int64_t nb;
	const char *why;
	size_t i, j;
	int rc, role;
	uint16_t bit;

	if ((rc = store_q(s, Q_ACCOUNT_PEOPLE, "t", a->id)) == 1) {
		list =
		    json_loads(store_col_text(s, Q_ACCOUNT_PEOPLE, 0), 0, NULL);
		json_array_foreach(list, i, c)
		{
			for (role = 1; event_role_name(role) != NULL; role++) {
				if (strcmp(event_role_name(role),
				        json_string_value(
				            json_object_get(c, "role"))) == 0)
					break;
			}
			if (event_role_name(role) == NULL)
				continue;
			bit = (uint16_t)(1u << role);
			a->roles |= bit;
			if (json_object_get(c, "phone") != NULL)
				a->phone_roles |= bit;
			if (json_object_get(c, "email") != NULL)
				a->email_roles |= bit;
		}
		json_decref(list);
		a->cash_in_day = (uint8_t)store_col_int(s, Q_ACCOUNT_PEOPLE, 1);
	}
	store_done(s, Q_ACCOUNT_PEOPLE);
	if (rc == -1)
		return -1;
	if ((rc = store_q(s, Q_CREDIT_LAST, "t", a->id)) == 1)
		a->credit_held = strcmp(store_col_text(s, Q_CREDIT_LAST, 0),
		                     "credit_hold") == 0;
	store_done(s, Q_CREDIT_LAST);
	if (rc == -1)
		return -1;
	for (i = 0; i < a->ntasks; i++) {
		if ((rc = store_q(s, Q_TASK_OPEN_INFO, "i", a->tasks[i].num)) ==
		    1) {
			a->tasks[i].type = (uint8_t)task_type_of(
			    store_col_text(s, Q_TASK_OPEN_INFO, 0));
			/* "stage:NAME#K" or "stage:NAME#K/N": step K - 1. */
			src = store_col_text(s, Q_TASK_OPEN_INFO, 1);
			if (strncmp(src, "stage:", 6) == 0 &&
			    (hash = strrchr(src, '#')) != NULL)
				a->tasks[i].step =
				    (int16_t)(strtol(hash + 1, NULL, 10) - 1);
			rec = json_loads(
			    store_col_text(s, Q_TASK_OPEN_INFO, 2), 0, NULL);
			src = json_string_value(
			    json_object_get(rec, "not_before"));
			j = src != NULL ? strlen(src) : 0;
			if (src != NULL &&
			    clock_parse_ts(src, j, &nb, &why) == 0)
				a->tasks[i].nb_day = clock_local_date(nb);
			json_decref(rec);
		}
		store_done(s, Q_TASK_OPEN_INFO);
		if (rc == -1)
			return -1;
	}
	return 0;
}

int
engine_open(struct engine *e, struct store *s, const struct ruleset *rs,
    bool wall, int sweep_min, int64_t clock_pos)
{
	struct acct *a, **legacy = NULL;
	size_t nlegacy = 0, caplegacy = 0;
	const void *blob, *eblob;
	const char *stage;
	size_t len, elen, idx;
	int rc, erc, cmp;

	memset(e, 0, sizeof(*e));
	e->store = s;
	e->wall = wall;
	e->sweep_min = sweep_min;
	e->clock_pos = clock_pos;
	idmap_init(&e->accounts, offsetof(struct acct, id));
	idmap_init(&e->lost, offsetof(struct lost_stage, id));
	ledgers_init(&e->ledgers);
	buf_init(&e->scratch);
	buf_init(&e->rec);
	buf_init(&e->contacts);
	e->chunk = ENGINE_CHUNK;
	e->bulk_t = INT64_MAX;
	engine_set_rules(e, rs);

	if (store_q(s, Q_EVENT_MAXSEQ, "") != 1)
		goto dberr;
	e->event_seq = store_col_int(s, Q_EVENT_MAXSEQ, 0);
	store_done(s, Q_EVENT_MAXSEQ);
	if (store_q(s, Q_TASK_MAXNUM, "") != 1)
		goto dberr;
	e->task_num = store_col_int(s, Q_TASK_MAXNUM, 0);
	store_done(s, Q_TASK_MAXNUM);
	if (store_feed_head(s, &e->feed_head) == -1)
		return -1;
	/* A busy moment left in parts (engine_step_end()). */
	if (store_meta_get_int(s, "moment_open", &e->open_moment) == -1)
		goto dberr;
	if (e->open_moment != clock_pos + 1)
		e->open_moment = 0;

	/*
	 * The accounts and their evaluation parts, both in id order (SQLite's
	 * BINARY order is strcmp's for ids, which hold no NUL): side by side.
	 */
	if ((erc = store_q(s, Q_EVAL_LOAD, "")) == -1)
		goto dberr;
	for (rc = store_q(s, Q_ACCOUNT_LOAD, ""); rc == 1;
	     rc = store_next(s, Q_ACCOUNT_LOAD)) {
		a = acct_new(store_col_text(s, Q_ACCOUNT_LOAD, 0));
		blob = store_col_blob(s, Q_ACCOUNT_LOAD, 1, &len);
		stage = store_col_text(s, Q_ACCOUNT_LOAD, 2);
		eblob = NULL;
		elen = 0;
		cmp = erc == 1
		    ? strcmp(store_col_text(s, Q_EVAL_LOAD, 0), a->id)
		    : 1;
		if (cmp == 0) {
			eblob = store_col_blob(s, Q_EVAL_LOAD, 1, &elen);
			stage = store_col_text(s, Q_EVAL_LOAD, 2);
		}
		/* An evaluation part of no account: damaged too. */
		if (cmp < 0 || blob == NULL || (cmp == 0 && eblob == NULL) ||
		    (rc = acct_decode_parts(a, blob, len, eblob, elen)) == -1) {
			log_warnx(
			    "store: account %s: damaged saved state", a->id);
			acct_free(a);
			store_done(s, Q_ACCOUNT_LOAD);
			store_done(s, Q_EVAL_LOAD);
			free(legacy);
			return -1;
		}
		/* Saved whole by an earlier dunnd: split at its next save. */
		a->stale = cmp != 0;
		if (rc == 1) {
			if (nlegacy == caplegacy) {
				caplegacy = caplegacy ? 2 * caplegacy : 64;
				legacy = xreallocarray(
				    legacy, caplegacy, sizeof(*legacy));
			}
			legacy[nlegacy++] = a;
		}
		/* The stage by name: the rules may have changed meanwhile. */
		if (rules_stage_lookup(rs, stage, &idx) != 1 ||
		    idx >= ACCT_NO_STAGE) {
			a->stage = ACCT_NO_STAGE;
			lost_add(e, a->id, stage);
		} else {
			a->stage = (uint32_t)idx;
		}
		idmap_add(&e->accounts, a); /* ids: the primary key */
		if (cmp == 0 && (erc = store_next(s, Q_EVAL_LOAD)) == -1)
			break;
	}
	if (rc == 0 && erc == 1)
		log_warnx("store: account %s: damaged saved state (an "
		          "evaluation part without its account)",
		    store_col_text(s, Q_EVAL_LOAD, 0));
	store_done(s, Q_ACCOUNT_LOAD);
	store_done(s, Q_EVAL_LOAD);
	if (rc == 0 && erc == 1) {
		free(legacy);
		return -1;
	}
	if (rc == -1 || erc == -1) {
		free(legacy);
		goto dberr;
	}
	for (len = 0; len < nlegacy; len++) {
		if (complete_legacy(e, legacy[len]) == -1) {
			free(legacy);
			goto dberr;
		}
	}
	if (nlegacy > 0)
		log_info("store: %zu accounts saved by an earlier dunnd: "
		         "contact roles, cash-in days, held credit and open "
		         "tasks read from the store",
		    nlegacy);
	free(legacy);
	e->sorted_ok = false;
	e->next_sweep = sweep_after(e, clock_pos);
	heap_build(e);
	return 0;
dberr:
	log_warnx("store: cannot load the portfolio: %s", store_errmsg(s));
	return -1;
}

static void
lost_fini(struct engine *e)
{
	size_t pos = 0;
	struct lost_stage *l;

	while ((l = idmap_next(&e->lost, &pos)) != NULL) {
		free(l->name);
		free(l);
	}
	idmap_fini(&e->lost);
}

void
engine_close(struct engine *e)
{
	struct acct *a;
	size_t pos = 0;

	while ((a = idmap_next(&e->accounts, &pos)) != NULL)
		acct_free(a);
	idmap_fini(&e->accounts);
	lost_fini(e);
	free(e->sorted);
	free(e->heap);
	free(e->undo);
	free(e->bundo);
	free(e->approved);
	free(e->entered);
	buf_fini(&e->scratch);
	buf_fini(&e->rec);
	buf_fini(&e->contacts);
	kpisum_fini(&e->kpi);
	ledgers_fini(&e->ledgers);
	facts_out_fini(&e->fo);
	facts_out_fini(&e->fo_wake);
}

void
engine_set_rules(struct engine *e, const struct ruleset *rs)
{
	e->rs = rs;
	facts_params_from_ruleset(&e->fp, rs);
	facts_out_fini(&e->fo);
	facts_out_init(&e->fo, rs->uses.nwindows > 1 ? rs->uses.nwindows : 1);
	facts_out_fini(&e->fo_wake);
	facts_out_init(
	    &e->fo_wake, rs->uses.nwindows > 1 ? rs->uses.nwindows : 1);
	free(e->entered);
	e->entered = xcalloc(rs->nstages, sizeof(*e->entered));
}

struct acct *
engine_get(struct engine *e, const char *id)
{
	return idmap_get(&e->accounts, id);
}

/* Appends a's state (none when created) to an undo list. */
static void
undo_push(struct engine_undo **v, size_t *n, size_t *cap, struct acct *a,
    bool created)
{
	if (*n == *cap) {
		*cap = *cap ? 2 * *cap : 16;
		*v = xreallocarray(*v, *cap, sizeof(**v));
	}
	(*v)[*n].a = a;
	(*v)[*n].created = created;
	(*v)[*n].evlen = 0;
	buf_init(&(*v)[*n].state);
	if (!created)
		(*v)[*n].evlen = acct_encode(a, &(*v)[*n].state);
	(*n)++;
}

struct acct *
engine_add(struct engine *e, const char *id)
{
	struct acct *a = acct_new(id);

	a->stale = true;            /* its rows hold no state yet */
	idmap_add(&e->accounts, a); /* the caller found no account id */
	e->sorted_ok = false;
	undo_push(&e->undo, &e->nundo, &e->capundo, a, true);
	a->saved = true;
	if (e->in_batch) {
		undo_push(&e->bundo, &e->nbundo, &e->capbundo, a, true);
		a->bsaved = true;
	}
	engine_touch(e, a);
	return a;
}

static int
cmp_id(const void *x, const void *y)
{
	const struct acct *a = *(struct acct *const *)x;
	const struct acct *b = *(struct acct *const *)y;

	return strcmp(a->id, b->id);
}

struct acct *const *
engine_sorted(struct engine *e, size_t *n)
{
	struct acct *a;
	size_t pos = 0, i = 0;

	if (!e->sorted_ok) {
		e->sorted = xreallocarray(e->sorted,
		    e->accounts.n ? e->accounts.n : 1, sizeof(*e->sorted));
		while ((a = idmap_next(&e->accounts, &pos)) != NULL)
			e->sorted[i++] = a;
		qsort(e->sorted, i, sizeof(*e->sorted), cmp_id);
		e->sorted_ok = true;
	}
	*n = e->accounts.n;
	return e->sorted;
}

int
engine_step_begin(struct engine *e, int64_t now)
{
	if (store_begin(e->store) == -1)
		return -1;
	e->in_step = true;
	e->now = now;
	e->today = clock_local_date(now);
	e->undo_event_seq = e->event_seq;
	e->undo_task_num = e->task_num;
	e->undo_feed_head = e->feed_head;
	return 0;
}

void
engine_touch(struct engine *e, struct acct *a)
{
	if (e->in_batch && !a->bsaved) {
		undo_push(&e->bundo, &e->nbundo, &e->capbundo, a, false);
		a->bsaved = true;
	}
	if (!a->saved) {
		undo_push(&e->undo, &e->nundo, &e->capundo, a, false);
		a->saved = true;
	}
}

/*
 * Saves a's state at the step's end: each of its two parts
 * (acct_encode()) that may differ from what the store holds: the part
 * events change in its accounts row, the part evaluation changes in
 * acct_eval (an event that moves no stage writes the one, a night the
 * other).  The store holds what the step's undo copy u holds, unless a
 * was created in the step or a->stale.
 */
static int
save_one(struct engine *e, struct acct *a, const struct engine_undo *u)
{
	const char *data, *old;
	size_t evlen, len;
	bool known = !a->stale && !u->created;

	buf_clear(&e->scratch);
	evlen = acct_encode(a, &e->scratch);
	data = buf_data(&e->scratch);
	len = buf_size(&e->scratch);
	old = known ? buf_data(&u->state) : NULL;
	if ((!known || u->evlen != evlen || memcmp(old, data, evlen) != 0) &&
	    store_exec_q(e->store, Q_ACCOUNT_SAVE, "tb", a->id, data, evlen) ==
	        -1)
		return -1;
	if (!known || buf_size(&u->state) - u->evlen != len - evlen ||
	    memcmp(old + u->evlen, data + evlen, len - evlen) != 0)
		return store_exec_q(e->store, Q_EVAL_SAVE, "ttb", a->id,
		    e->rs->stages[a->stage].name, data + evlen, len - evlen);
	return 0;
}

/*
 * The accounts the step changed, at its end, in the order it first
 * touched them: the undo list holds each once, with its copy
 * (engine_touch()).  A moment evaluates its accounts in id order, and
 * their acct_eval rows are written in that order, page after page.
 * (Moments saved each account as soon as it was evaluated while a save
 * rewrote the accounts row, whose page the contact lookup had just
 * read; evaluations no longer write that row.)
 */
static int
save_touched(struct engine *e)
{
	size_t i;

	for (i = 0; i < e->nundo; i++)
		if (save_one(e, e->undo[i].a, &e->undo[i]) == -1)
			return -1;
	return 0;
}

/* Takes a (created in a refused batch) out of the step's lists. */
static void
forget_created(struct engine *e, struct acct *a)
{
	size_t i, k;

	for (i = k = 0; i < e->nundo; i++) {
		if (e->undo[i].a == a)
			buf_fini(&e->undo[i].state);
		else
			e->undo[k++] = e->undo[i];
	}
	e->nundo = k;
}

/*
 * Invariant (1): the accounts of undo list v back as they were, newest
 * change first; those created meanwhile are dropped (forget: also from
 * the step's lists, when v is a batch's).
 */
static void
restore(struct engine *e, struct engine_undo *v, size_t n, bool forget)
{
	struct engine_undo *u;
	size_t i;

	for (i = n; i > 0; i--) {
		u = &v[i - 1];
		if (!u->created) {
			if (acct_decode(u->a, buf_data(&u->state),
			        buf_size(&u->state)) == -1)
				fatalx("engine: cannot restore account %s",
				    u->a->id);
			continue;
		}
		if (forget)
			forget_created(e, u->a);
		heap_remove(e, u->a);
		idmap_del(&e->accounts, u->a->id);
		e->sorted_ok = false;
		acct_free(u->a);
	}
}

/*
 * After a step that touched many accounts (a sweep, a reload): its
 * bookkeeping arrays go, and so do the pages its undo copies left free
 * in the heap, so that memory at rest does not keep a busy day's peak
 * (targets.md P5, R9).
 */
#define STEP_KEEP 4096

static void
shrink_step_arrays(struct engine *e)
{
	if (e->capundo <= STEP_KEEP && e->capbundo <= STEP_KEEP)
		return;
	free(e->undo);
	free(e->bundo);
	e->undo = e->bundo = NULL;
	e->capundo = e->capbundo = 0;
#ifdef __GLIBC__
	malloc_trim(0);
#endif
}

static void
undo_step(struct engine *e)
{
	restore(e, e->undo, e->nundo, false);
	e->event_seq = e->undo_event_seq;
	e->task_num = e->undo_task_num;
	e->feed_head = e->undo_feed_head;
}

int
engine_step_end(struct engine *e, bool commit)
{
	size_t i;
	int rc = 0;
	int64_t pos, open;

	/* A moment committed in parts: done up to just before it. */
	pos = e->bulk_t <= e->now ? e->now - 1 : e->now;
	/* ... and the moment is open until then (engine_start_pos()). */
	open = e->bulk_t <= e->now                        ? e->now
	    : e->open_moment != 0 && pos < e->open_moment ? e->open_moment
	                                                  : 0;
	if (commit && !e->failed) {
		if (save_touched(e) == -1 ||
		    (pos >= e->clock_pos &&
		        store_meta_set_int(e->store, "clock_pos", pos) == -1) ||
		    (open != e->open_moment &&
		        store_meta_set_int(e->store, "moment_open", open) ==
		            -1) ||
		    store_commit(e->store) == -1)
			rc = -1;
		else
			e->open_moment = open;
	} else
		rc = -1;
	if (rc == -1) {
		store_rollback(e->store);
		undo_step(e);
		/* Invariant (3): the moment is to be processed again. */
		e->in_step = false;
	} else if (pos > e->clock_pos)
		e->clock_pos = pos;
	/* Restored or changed: arm them again (created ones are gone). */
	for (i = 0; i < e->nundo; i++) {
		if (rc == -1 && e->undo[i].created)
			continue;
		e->undo[i].a->saved = false;
		/* Committed: its row holds what it holds now. */
		if (rc == 0)
			e->undo[i].a->stale = false;
		engine_reschedule(e, e->undo[i].a);
	}
	for (i = 0; i < e->nundo; i++)
		buf_fini(&e->undo[i].state);
	e->nundo = 0;
	e->in_step = false;
	shrink_step_arrays(e);
	if (rc == 0 && e->feed_head != e->undo_feed_head &&
	    e->committed != NULL)
		e->committed(e->committed_arg);
	e->failed = false;
	return rc;
}

void
engine_approved_add(struct engine *e, struct acct *a, int64_t num)
{
	if (e->napproved == e->capapproved) {
		e->capapproved = e->capapproved ? 2 * e->capapproved : 16;
		e->approved = xreallocarray(
		    e->approved, e->capapproved, sizeof(*e->approved));
	}
	e->approved[e->napproved].a = a;
	e->approved[e->napproved].num = num;
	e->napproved++;
}

int
engine_batch_begin(struct engine *e)
{
	if (store_savepoint(e->store) == -1) {
		e->failed = true;
		return -1;
	}
	e->in_batch = true;
	e->nbundo = 0;
	e->napproved = 0;
	e->bundo_event_seq = e->event_seq;
	e->bundo_task_num = e->task_num;
	e->bundo_feed_head = e->feed_head;
	return 0;
}

int
engine_batch_end(struct engine *e, bool keep)
{
	size_t i;
	int rc = 0;

	if (keep) {
		if (store_release(e->store) == -1)
			rc = -1;
	} else {
		if (store_rollback_savepoint(e->store) == -1)
			rc = -1;
		restore(e, e->bundo, e->nbundo, true);
		e->event_seq = e->bundo_event_seq;
		e->task_num = e->bundo_task_num;
		e->feed_head = e->bundo_feed_head;
	}
	for (i = 0; i < e->nbundo; i++) {
		if (!(!keep && e->bundo[i].created))
			e->bundo[i].a->bsaved = false;
		buf_fini(&e->bundo[i].state);
	}
	e->nbundo = 0;
	e->napproved = 0;
	e->in_batch = false;
	if (rc == -1)
		e->failed = true;
	return rc;
}

/* Stores record text (NULL: it could not be made) as the next seq. */
static int64_t
feed_store(struct engine *e, const char *text)
{
	int64_t seq = e->feed_head + 1;

	if (text == NULL ||
	    store_exec_q(e->store, Q_FEED_ADD, "it", seq, text) == -1) {
		e->failed = true;
		return -1;
	}
	e->feed_head = seq;
	return seq;
}

int64_t
engine_feed_append(struct engine *e, json_t *rec)
{
	int64_t seq;
	char *text;

	json_object_set_new(rec, "seq", json_integer(e->feed_head + 1));
	text = proto_dumps(rec, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(rec);
	seq = feed_store(e, text);
	free(text);
	return seq;
}

struct buf *
engine_feed_begin(struct engine *e)
{
	buf_clear(&e->rec);
	proto_w_open(&e->rec, NULL, '{');
	proto_w_int(&e->rec, "seq", e->feed_head + 1);
	return &e->rec;
}

int64_t
engine_feed_end(struct engine *e)
{
	size_t len;

	proto_w_close(&e->rec, '}');
	/*
	 * A record is JSON, so UTF-8: a rule's name may not be (the loader
	 * takes libconfig's bytes), or a source cut at its buffer's end in
	 * the middle of a character.  Such a record fails its step, as
	 * jansson's refusal did when the records were trees.
	 */
	len = buf_size(&e->rec);
	if (jdoc_utf8_check(buf_data(&e->rec), len) != len) {
		log_warnx("engine: a feed record is not valid UTF-8 (a rule, "
		          "stage or script name?): its step is not committed");
		e->failed = true;
		return -1;
	}
	buf_append(&e->rec, "", 1);
	return feed_store(e, buf_data(&e->rec));
}

int64_t
engine_start_pos(const struct engine *e)
{
	return e->open_moment > e->clock_pos ? e->open_moment : e->clock_pos;
}

int64_t
engine_next_due(struct engine *e)
{
	int64_t t = e->nheap > 0 ? e->heap[0]->due_at : INT64_MAX;

	if (e->bulk_t < t)
		t = e->bulk_t; /* a busy moment's accounts not yet evaluated */
	return t < e->next_sweep ? t : e->next_sweep;
}

/*
 * A moment that many accounts are due at (a busy midnight: every
 * account with an overdue invoice counts one more day): popping each
 * from the heap costs a walk down it with a cache miss a level.  When
 * at least 1/BULK_FRACTION of the heap is due at exactly t, the due
 * accounts are taken from the id-ordered array instead (the heap's
 * order for one moment, invariant 2), the heap rebuilt from the rest at
 * once, and each evaluated as the heap path does.  Returns false (and
 * changes nothing) when the moment is not such a one.
 *
 * Such a moment is committed in parts, each step evaluating the due
 * accounts in id order until it has changed e->chunk of them: a night
 * in one transaction outgrew SQLite's page cache, which spilled pages to
 * the WAL and, when they changed again, rewrote them there and the
 * checksum of every frame after them at COMMIT.  Between the parts the
 * moment is pending (bulk_t, bulk_pos: the accounts due then are out of
 * the heap, in the id-ordered array from bulk_pos on), nothing else runs
 * (engine_run_until() does not yield), and the stored clock position is
 * t - 1: after a crash the moment is run again for the accounts still
 * due at t, and an account already evaluated at t is evaluated at t at
 * most once more, which changes nothing (an evaluation leaves the
 * account where the same moment would not move it further).  A part
 * that fails gives every account still due at t back to the heap
 * (bulk_abort()), and the moment is run again from the first of them.
 */
#define BULK_FRACTION 16
#define BULK_MIN      4096

/*
 * The heap's entries due at t, counted up to enough: those due at its
 * least moment t are a subtree from the root, so the walk visits them
 * and their children only (depth: the heap's height).
 */
static size_t
heap_count_at(const struct engine *e, size_t i, int64_t t, size_t enough)
{
	size_t n;

	if (enough == 0 || i >= e->nheap || e->heap[i]->due_at != t)
		return 0;
	n = 1;
	n += heap_count_at(e, 2 * i + 1, t, enough - n);
	n += heap_count_at(e, 2 * i + 2, t, enough - n);
	return n;
}

static bool
run_bulk(struct engine *e, int64_t t)
{
	struct acct *const *all;
	struct acct *a;
	size_t n, i, k, need = e->nheap / BULK_FRACTION;

	if (e->bulk_t != t) {
		if (need < BULK_MIN)
			need = BULK_MIN;
		/* An ordinary moment costs what it did: no scan, no sort. */
		if (e->nheap < BULK_MIN || e->heap[0]->due_at != t ||
		    heap_count_at(e, 0, t, need) < need)
			return false;
		/* t is the heap's least moment: none is due earlier. */
		for (i = k = 0; i < e->nheap; i++) {
			a = e->heap[i];
			if (a->due_at > t)
				heap_set(e, k++, a);
			else
				a->heap_pos = UINT32_MAX;
		}
		log_debug("engine: %zu accounts due at one moment, taken in "
		          "id order",
		    e->nheap - k);
		e->nheap = k;
		for (i = k / 2; i > 0; i--)
			heap_down(e, i - 1);
		e->bulk_t = t;
		e->bulk_pos = 0;
	}
	all = engine_sorted(e, &n);
	for (i = e->bulk_pos; i < n; i++) {
		a = all[i];
		if (a->due_at != t || a->heap_pos != UINT32_MAX)
			continue;
		a->due_at = INT64_MAX;
		eval_account(e, a);
		if (!a->saved)
			engine_reschedule(e, a);
		if (e->chunk > 0 && e->nundo >= e->chunk && !e->failed) {
			e->bulk_pos = i + 1;
			return true; /* the rest in the next part */
		}
	}
	e->bulk_t = INT64_MAX;
	return true;
}

/* A busy moment's part failed: every account still due goes back. */
static void
bulk_abort(struct engine *e)
{
	struct acct *const *all;
	size_t n, i;

	if (e->bulk_t == INT64_MAX)
		return;
	all = engine_sorted(e, &n);
	for (i = e->bulk_pos; i < n; i++)
		if (all[i]->due_at == e->bulk_t &&
		    all[i]->heap_pos == UINT32_MAX)
			schedule(e, all[i], e->bulk_t);
	e->bulk_t = INT64_MAX;
}

/* One due moment t: the accounts due then, or all of them at a sweep. */
static int
run_moment(struct engine *e, int64_t t)
{
	struct acct *const *all;
	struct acct *a;
	size_t n, i;

	if (engine_step_begin(e, t) == -1)
		return -1;
	if (e->next_sweep <= t) {
		all = engine_sorted(e, &n);
		for (i = 0; i < n; i++)
			eval_account(e, all[i]);
	} else if (!run_bulk(e, t)) {
		/* Heap order is id order within one moment (invariant 2). */
		while (e->nheap > 0 && e->heap[0]->due_at <= t) {
			a = e->heap[0];
			heap_remove(e, a);
			a->due_at = INT64_MAX;
			eval_account(e, a);
			/* Not due again at t: evaluations move it on. */
			if (!a->saved)
				engine_reschedule(e, a);
		}
	}
	if (engine_step_end(e, true) == -1) {
		bulk_abort(e);
		return -1;
	}
	if (e->next_sweep <= t) {
		e->next_sweep = sweep_after(e, t);
		/* An untouched account may still need its moment moved. */
		all = engine_sorted(e, &n);
		for (i = 0; i < n; i++)
			if (all[i]->due_at <= t)
				engine_reschedule(e, all[i]);
	}
	return 0;
}

int
engine_run_until(struct engine *e, int64_t until)
{
	int64_t t;

	while ((t = engine_next_due(e)) <= until) {
		if (t < e->clock_pos)
			t = e->clock_pos; /* a moment already passed: now */
		if (run_moment(e, t) == -1)
			return -1;
		/* Nothing comes between the parts of a moment. */
		if (e->bulk_t == INT64_MAX && e->yield != NULL &&
		    e->yield(e->yield_arg))
			return 1;
	}
	if (until > e->clock_pos) {
		if (store_meta_set_int(e->store, "clock_pos", until) == -1)
			return -1;
		e->clock_pos = until;
	}
	return 0;
}

/* §4.7: the account's stage is gone; it moves to the first stage. */
static void
reload_move(struct engine *e, struct acct *a, const char *old,
    const struct ruleset *nrs)
{
	char reason[200], ts[CLOCK_TS_LEN];
	int64_t seq;

	engine_touch(e, a);
	clock_format_ts(e->now, ts);
	seq = engine_feed_append(e,
	    json_pack("{s:i,s:s,s:s,s:s,s:s,s:s,s:s}", "seq", 0, "kind",
	        "transition", "account", a->id, "from", old, "to",
	        nrs->stages[0].name, "rule", "reload", "at", ts));
	if (seq != -1 &&
	    store_exec_q(e->store, Q_TRANSITION_ADD, "titttit", a->id, seq, old,
	        nrs->stages[0].name, "reload", e->now, "{}") == -1)
		e->failed = true;
	snprintf(
	    reason, sizeof(reason), "stage %s removed by a rule reload", old);
	eval_cancel_tasks(e, a, true, reason);
	a->stage = 0;
	a->stage_entered = e->now;
	a->cad_acc = 0;
	a->cad_mark = e->now;
	a->cad_running = false;
	a->held = false;
	a->nemitted = 0;
}

/* Cooldowns by alert name (§4.7). */
static void
remap_alerts(struct engine *e, struct acct *a, const char *const *old,
    size_t nold, const struct ruleset *nrs)
{
	int64_t *v;
	size_t i, j;
	bool same = a->nalerts == nrs->nalerts && nold == nrs->nalerts;

	for (i = 0; same && i < nold; i++)
		same = strcmp(old[i], nrs->alerts[i].name) == 0;
	if (same)
		return;
	engine_touch(e, a);
	v = xcalloc(nrs->nalerts ? nrs->nalerts : 1, sizeof(*v));
	for (i = 0; i < nrs->nalerts; i++) {
		v[i] = INT64_MIN;
		for (j = 0; j < nold && j < a->nalerts; j++)
			if (strcmp(old[j], nrs->alerts[i].name) == 0)
				v[i] = a->alert_last[j];
	}
	acct_arrays(a, (uint32_t)nrs->nalerts, a->ntasks, a->nemitted);
	memcpy(a->alert_last, v, nrs->nalerts * sizeof(*v));
	free(v);
}

/*
 * What a start needs to tell whether the rules changed while dunnd was
 * stopped (§6) and to keep cooldowns by alert name: the rules_version
 * and the alert names, in the step's transaction.
 */
static void
save_rules_meta(struct engine *e, const struct ruleset *rs)
{
	json_t *names = json_array();
	char *text;
	size_t i;

	for (i = 0; i < rs->nalerts; i++)
		json_array_append_new(names, json_string(rs->alerts[i].name));
	text = json_dumps(names, JSON_COMPACT);
	json_decref(names);
	if (store_meta_set_text(e->store, "rules_version", rs->version) == -1 ||
	    text == NULL || store_meta_set_text(e->store, "alerts", text) == -1)
		e->failed = true;
	free(text);
}

int
engine_reload(struct engine *e, const struct ruleset *nrs, int64_t now,
    const char *const *old_alerts, size_t nold_alerts)
{
	const struct ruleset *ors = e->rs;
	struct acct *const *all;
	const char *old;
	size_t n, i, idx;

	bulk_abort(e); /* never pending here (no yield within a moment) */
	if (engine_step_begin(e, now) == -1)
		return -1;
	all = engine_sorted(e, &n);
	for (i = 0; i < n; i++) {
		struct acct *a = all[i];

		old = NULL;
		if (a->stage == ACCT_NO_STAGE) {
			const struct lost_stage *l = idmap_get(&e->lost, a->id);

			old = l != NULL ? l->name : NULL;
		} else
			old = ors->stages[a->stage].name;
		if (old != NULL && rules_stage_lookup(nrs, old, &idx) == 1) {
			if (idx != a->stage) {
				engine_touch(e, a);
				a->stage = (uint32_t)idx;
			}
		} else
			reload_move(e, a, old != NULL ? old : "?", nrs);
		remap_alerts(e, a, old_alerts, nold_alerts, nrs);
	}
	engine_set_rules(e, nrs);
	for (i = 0; i < n; i++)
		eval_account(e, all[i]);
	/*
	 * An account the evaluation left unchanged still wakes by the old
	 * rules' conditions (eval_next_wake()): at every fact change now,
	 * which the new rules cannot make late.  Those it changed are
	 * rescheduled at the step's end.
	 */
	for (i = 0; i < n; i++)
		if (!all[i]->saved && all[i]->stage != ACCT_NO_STAGE)
			reschedule_every_change(e, all[i]);
	save_rules_meta(e, nrs);
	if (engine_step_end(e, true) == -1) {
		engine_set_rules(e, ors);
		all = engine_sorted(e, &n);
		for (i = 0; i < n; i++)
			if (all[i]->stage != ACCT_NO_STAGE)
				engine_reschedule(e, all[i]);
		return -1;
	}
	lost_fini(e);
	return 0;
}
