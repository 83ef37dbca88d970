/*
 * account — the in-memory state of one account (account.h): its
 * lists, and its saved form (the `state` blobs of the accounts and
 * acct_eval tables).
 *
 * The saved form is a version byte, then every field in a fixed order:
 * integers as zigzag LEB128 varints, strings as a varint length and
 * their bytes; the fields events change first, then those evaluation
 * changes.  It is written at the commit of every transaction that
 * changed the account (the parts that changed) and read once at start,
 * and it is also the undo copy of a step or batch that may not commit.
 */
#include "account.h"

#include <stdlib.h>
#include <string.h>

#include "facts.h"
#include "util.h"

#define STATE_VERSION 5
/* Version 4 is the whole state in one blob, in the order of version 3
 * with the fields below appended: read, never written. */
#define STATE_VERSION_4 4
/* Version 3 lacks the contact roles, cash-in day, held credit, and each
 * open task's type, step and window date: read, then completed from the
 * store by the caller. */
#define STATE_VERSION_3 3

int64_t
acct_balance(const struct acct *a)
{
	int64_t sum = 0;
	size_t i;

	for (i = 0; i < a->ninv; i++)
		sum += a->inv[i].open;
	return sum;
}

int64_t
acct_credit_balance(const struct acct *a)
{
	int64_t sum = 0;
	size_t i;

	if (a->x != NULL)
		for (i = 0; i < a->x->ncred; i++)
			sum += a->x->cred[i].remaining;
	return sum;
}

long
acct_invoice_find(const struct acct *a, int64_t seq)
{
	size_t i;

	for (i = 0; i < a->ninv; i++)
		if (a->inv[i].seq == (uint32_t)seq)
			return (long)i;
	return -1;
}

static bool
invoice_before(const struct acct_invoice *x, const struct acct_invoice *y)
{
	return acct_order_before(
	    x->due, x->issued, x->seq, y->due, y->issued, y->seq);
}

size_t
acct_invoice_insert(struct acct *a, const struct acct_invoice *iv)
{
	size_t i;

	a->inv = xreallocarray(a->inv, a->ninv + 1, sizeof(*a->inv));
	for (i = a->ninv; i > 0 && invoice_before(iv, &a->inv[i - 1]); i--)
		;
	memmove(a->inv + i + 1, a->inv + i, (a->ninv - i) * sizeof(*a->inv));
	a->inv[i] = *iv;
	a->ninv++;
	return i;
}

static bool
settled_before(const struct acct_settled *x, const struct acct_settled *y)
{
	return acct_order_before(x->due, acct_settled_issued(x), x->seq, y->due,
	    acct_settled_issued(y), y->seq);
}

/* Whether iv's days fit a settled entry's 16-bit offsets. */
static bool
fits_settled(const struct acct_invoice *iv)
{
	int64_t before = (int64_t)iv->due - iv->issued,
	        late = (int64_t)iv->settle_day - iv->due;

	return before >= INT16_MIN && before <= INT16_MAX &&
	    late >= INT16_MIN && late <= INT16_MAX;
}

void
acct_compact(struct acct *a)
{
	struct acct_settled st;
	size_t i, k, j;

	for (i = k = 0; i < a->ninv; i++) {
		if (a->inv[i].open != 0 || a->inv[i].disputed != 0 ||
		    !fits_settled(&a->inv[i])) {
			a->inv[k++] = a->inv[i];
			continue;
		}
		st.due = a->inv[i].due;
		st.seq = a->inv[i].seq;
		st.issued_before = (int16_t)(a->inv[i].due - a->inv[i].issued);
		st.late = (int16_t)(a->inv[i].settle_day - a->inv[i].due);
		/* Exactly sized: most accounts keep only a few. */
		a->set = xreallocarray(a->set, a->nset + 1, sizeof(*a->set));
		for (j = a->nset; j > 0 && settled_before(&st, &a->set[j - 1]);
		     j--)
			a->set[j] = a->set[j - 1];
		a->set[j] = st;
		a->nset++;
		if (a->nset > ACCT_SETTLED_KEEP) {
			/* The earliest in invoice order leaves the window. */
			memmove(a->set, a->set + 1,
			    (a->nset - 1) * sizeof(*a->set));
			a->nset--;
			a->nsettled_old++;
		}
	}
	a->ninv = k;
}

long
acct_settled_reopen(struct acct *a, int64_t seq)
{
	struct acct_invoice iv;
	size_t j;

	for (j = 0; j < a->nset; j++) {
		if (a->set[j].seq != (uint32_t)seq)
			continue;
		memset(&iv, 0, sizeof(iv));
		iv.due = a->set[j].due;
		iv.issued = acct_settled_issued(&a->set[j]);
		iv.seq = a->set[j].seq;
		iv.settle_day = acct_settled_day(&a->set[j]);
		memmove(a->set + j, a->set + j + 1,
		    (a->nset - j - 1) * sizeof(*a->set));
		a->nset--;
		return (long)acct_invoice_insert(a, &iv);
	}
	return -1;
}

size_t
acct_promise_add(struct acct *a, const struct acct_promise *pr)
{
	a->prom = xreallocarray(a->prom, a->nprom + 1, sizeof(*a->prom));
	a->prom[a->nprom] = *pr;
	return a->nprom++;
}

void *
acct_arrays_block(const struct acct *a)
{
	if (a->alert_last != NULL)
		return a->alert_last;
	if (a->tasks != NULL)
		return a->tasks;
	return a->emitted;
}

void
acct_arrays(
    struct acct *a, uint32_t nalerts, uint32_t ntasks, uint32_t nemitted)
{
	size_t sa = (size_t)nalerts * sizeof(*a->alert_last),
	       st = (size_t)ntasks * sizeof(*a->tasks),
	       se = (size_t)nemitted * sizeof(*a->emitted);
	void *old = acct_arrays_block(a);
	char *blk = sa + st + se > 0 ? xcalloc(1, sa + st + se) : NULL;

	if (a->nalerts > 0 && nalerts > 0)
		memcpy(blk, a->alert_last,
		    (nalerts < a->nalerts ? nalerts : a->nalerts) *
		        sizeof(*a->alert_last));
	if (a->ntasks > 0 && ntasks > 0)
		memcpy(blk + sa, a->tasks,
		    (ntasks < a->ntasks ? ntasks : a->ntasks) *
		        sizeof(*a->tasks));
	if (a->nemitted > 0 && nemitted > 0)
		memcpy(blk + sa + st, a->emitted,
		    (nemitted < a->nemitted ? nemitted : a->nemitted) *
		        sizeof(*a->emitted));
	free(old);
	a->alert_last = nalerts > 0 ? (int64_t *)(void *)blk : NULL;
	a->tasks = ntasks > 0 ? (struct acct_task *)(void *)(blk + sa) : NULL;
	a->emitted = nemitted > 0 ? (uint32_t *)(void *)(blk + sa + st) : NULL;
	a->nalerts = nalerts;
	a->ntasks = ntasks;
	a->nemitted = nemitted;
}

void
acct_task_add(struct acct *a, const struct acct_task *t)
{
	acct_arrays(a, a->nalerts, a->ntasks + 1, a->nemitted);
	a->tasks[a->ntasks - 1] = *t;
}

bool
acct_task_remove(struct acct *a, int64_t num)
{
	size_t i;

	for (i = 0; i < a->ntasks; i++) {
		if (a->tasks[i].num == num) {
			memmove(a->tasks + i, a->tasks + i + 1,
			    (a->ntasks - i - 1) * sizeof(*a->tasks));
			a->ntasks--;
			return true;
		}
	}
	return false;
}

struct acct *
acct_new(const char *id)
{
	size_t n = strlen(id);
	struct acct *a = xcalloc(1, offsetof(struct acct, id) + n + 1);

	memcpy(a->id, id, n + 1);
	a->risk = -1;
	a->due_at = INT64_MAX;
	a->heap_pos = UINT32_MAX;
	return a;
}

struct acct_extra *
acct_extra(struct acct *a)
{
	if (a->x == NULL)
		a->x = xcalloc(1, sizeof(*a->x));
	return a->x;
}

void
acct_clear(struct acct *a)
{
	int64_t due_at = a->due_at;
	uint32_t heap_pos = a->heap_pos;
	/* The step's bookkeeping, not state (a restore keeps it). */
	bool saved = a->saved, bsaved = a->bsaved, stale = a->stale;
	size_t i;

	for (i = 0; i < a->ntags; i++)
		free(a->tags[i]);
	free(a->tags);
	free(a->inv);
	free(a->set);
	free(a->prom);
	if (a->x != NULL) {
		free(a->x->tail);
		for (i = 0; i < a->x->ncred; i++)
			free(a->x->cred[i].money);
		free(a->x->cred);
		free(a->x);
	}
	free(acct_arrays_block(a));

	/*
	 * Everything but the id and the scheduler's: the id may begin in
	 * the struct's tail padding, so not sizeof(*a).
	 */
	memset(a, 0, offsetof(struct acct, id));
	a->due_at = due_at;
	a->heap_pos = heap_pos;
	a->saved = saved;
	a->bsaved = bsaved;
	a->stale = stale;
	a->risk = -1;
}

void
acct_free(struct acct *a)
{
	if (a == NULL)
		return;
	acct_clear(a);
	free(a);
}

/* The saved form. */

/* Integers as zigzag LEB128 varints (util.h). */
static void
put_i64(struct buf *b, int64_t v)
{
	buf_put_varint(b, v);
}

static void
put_str(struct buf *b, const char *s)
{
	size_t n = strlen(s);

	put_i64(b, (int64_t)n);
	buf_append(b, s, n);
}

/*
 * The part of the saved form that events change: what the account owes
 * and was promised, its outcomes, credit and contacts.
 */
static void
put_events(const struct acct *a, struct buf *b)
{
	const struct acct_extra *x = a->x;
	size_t i;

	put_str(b, a->currency);
	put_i64(b, a->paused);
	put_i64(b, a->size);
	put_i64(b, a->risk);
	put_i64(b, a->ntags);
	for (i = 0; i < a->ntags; i++)
		put_str(b, a->tags[i]);
	put_i64(b, a->ninv);
	for (i = 0; i < a->ninv; i++) {
		const struct acct_invoice *iv = &a->inv[i];

		put_i64(b, iv->open);
		put_i64(b, iv->disputed);
		put_i64(b, iv->seq);
		put_i64(b, iv->issued);
		put_i64(b, iv->due);
		put_i64(b, iv->settle_day);
	}
	put_i64(b, a->nset);
	for (i = 0; i < a->nset; i++) {
		put_i64(b, a->set[i].due);
		put_i64(b, acct_settled_issued(&a->set[i]));
		put_i64(b, a->set[i].seq);
		put_i64(b, acct_settled_day(&a->set[i]));
	}
	put_i64(b, a->nsettled_old);
	put_i64(b, a->nprom);
	for (i = 0; i < a->nprom; i++) {
		const struct acct_promise *pr = &a->prom[i];

		put_i64(b, pr->seq);
		put_i64(b, pr->amount);
		put_i64(b, pr->counted);
		put_i64(b, pr->at);
		put_i64(b, pr->break_at);
		put_i64(b, pr->verdict_at);
		put_i64(b, pr->due);
		put_i64(b, pr->verdict);
	}
	put_i64(b, x != NULL && x->has_other);
	put_i64(b, x != NULL ? x->last_other.at : 0);
	put_i64(b, x != NULL ? x->last_other.arrival : 0);
	put_i64(b, x != NULL ? x->ntail : 0);
	for (i = 0; x != NULL && i < x->ntail; i++) {
		put_i64(b, x->tail[i].at);
		put_i64(b, x->tail[i].arrival);
	}
	put_i64(b, a->invoiced);
	put_i64(b, a->paid);
	put_i64(b, a->credited);
	put_i64(b, x != NULL ? x->ncred : 0);
	for (i = 0; x != NULL && i < x->ncred; i++) {
		put_str(b, x->cred[i].money);
		put_i64(b, x->cred[i].remaining);
		put_i64(b, x->cred[i].at);
		put_i64(b, x->cred[i].arrival);
	}
	put_i64(b, a->roles);
	put_i64(b, a->phone_roles);
	put_i64(b, a->email_roles);
	put_i64(b, a->cash_in_day);
}

/*
 * The part that evaluation changes: when the stage was entered, the
 * cadence, held credit, the tasks the stage's steps yielded, the alerts'
 * last firings and the open tasks.  A few dozen bytes.
 */
static void
put_eval(const struct acct *a, struct buf *b)
{
	size_t i;

	/* The index for an undo copy; the store keeps the stage's name. */
	put_i64(b, a->stage);
	put_i64(b, a->stage_entered);
	put_i64(b, a->cad_acc);
	put_i64(b, a->cad_mark);
	put_i64(b, a->cad_running);
	put_i64(b, a->held);
	put_i64(b, a->credit_held);
	put_i64(b, a->nemitted);
	for (i = 0; i < a->nemitted; i++)
		put_i64(b, a->emitted[i]);
	put_i64(b, a->nalerts);
	for (i = 0; i < a->nalerts; i++)
		put_i64(b, a->alert_last[i]);
	put_i64(b, a->ntasks);
	for (i = 0; i < a->ntasks; i++) {
		put_i64(b, a->tasks[i].num);
		put_i64(b, a->tasks[i].alert);
		put_i64(b, a->tasks[i].step);
		put_i64(b, a->tasks[i].type);
		put_i64(b, a->tasks[i].nb_day);
	}
}

size_t
acct_encode(const struct acct *a, struct buf *b)
{
	unsigned char v = STATE_VERSION;
	size_t start = buf_size(b);

	buf_append(b, &v, 1);
	put_events(a, b);
	start = buf_size(b) - start;
	put_eval(a, b);
	return start;
}

/*
 * Version 2 (session 2's databases) wrote every integer as 8 bytes
 * little-endian, strings with a 4-byte length, and promise ids: read
 * still, written never.
 */
#define STATE_VERSION_FIXED 2

struct reader {
	const unsigned char *p, *end;
	bool fixed; /* version 2 */
	bool bad;
};

static int64_t
get_i64(struct reader *r)
{
	uint64_t u = 0;
	int64_t v;
	int i;

	if (r->fixed) {
		if (r->end - r->p < 8) {
			r->bad = true;
			return 0;
		}
		for (i = 0; i < 8; i++)
			u |= (uint64_t)r->p[i] << (8 * i);
		r->p += 8;
		return (int64_t)u;
	}
	if (!varint_get(&r->p, r->end, &v)) {
		r->bad = true;
		return 0;
	}
	return v;
}

static size_t
get_len(struct reader *r)
{
	size_t n;

	if (!r->fixed)
		return (size_t)get_i64(r);
	if (r->end - r->p < 4) {
		r->bad = true;
		return 0;
	}
	n = (size_t)r->p[0] | (size_t)r->p[1] << 8 | (size_t)r->p[2] << 16 |
	    (size_t)r->p[3] << 24;
	r->p += 4;
	return n;
}

static char *
get_str(struct reader *r)
{
	size_t n = get_len(r);
	char *s;

	if (r->bad || (size_t)(r->end - r->p) < n) {
		r->bad = true;
		return xstrdup("");
	}
	s = xstrndup((const char *)r->p, n);
	r->p += n;
	return s;
}

/*
 * A count that the remaining bytes can hold, each element at least ints
 * integers and strs strings.
 */
static uint32_t
get_count(struct reader *r, size_t ints, size_t strs)
{
	int64_t n = get_i64(r);
	size_t elem = r->fixed ? ints * 8 + strs * 4 : ints + strs;

	if (n < 0 || n > UINT32_MAX ||
	    (uint64_t)n > (uint64_t)(r->end - r->p) / elem) {
		r->bad = true;
		return 0;
	}
	return (uint32_t)n;
}

/* A day number (or INT32_MIN, "none") as saved: 32 bits. */
static bool
day_ok(int64_t d)
{
	return d >= INT32_MIN && d <= INT32_MAX;
}

/* The fields every version begins with: currency to outcomes. */
static void
get_head(struct reader *r, struct acct *a)
{
	struct acct_extra *x;
	char *cur;
	uint32_t i, n;
	bool has_other;
	struct acct_outcome last;

	cur = get_str(r);
	snprintf(a->currency, sizeof(a->currency), "%s", cur);
	free(cur);
	a->paused = get_i64(r) != 0;
	a->size = (int8_t)get_i64(r);
	a->risk = (int8_t)get_i64(r);
	n = get_count(r, 0, 1);
	a->tags = n ? xcalloc(n, sizeof(*a->tags)) : NULL;
	for (i = 0; i < n; i++)
		a->tags[a->ntags++] = get_str(r);
	n = get_count(r, 6, 0);
	a->inv = n ? xcalloc(n, sizeof(*a->inv)) : NULL;
	for (i = 0; i < n; i++) {
		struct acct_invoice *iv = &a->inv[a->ninv++];

		iv->open = get_i64(r);
		iv->disputed = get_i64(r);
		iv->seq = (uint32_t)get_i64(r);
		iv->issued = (int32_t)get_i64(r);
		iv->due = (int32_t)get_i64(r);
		iv->settle_day = (int32_t)get_i64(r);
	}
	n = get_count(r, 4, 0);
	if (n > ACCT_SETTLED_KEEP)
		r->bad = true, n = 0;
	a->set = n ? xcalloc(n, sizeof(*a->set)) : NULL;
	for (i = 0; i < n; i++) {
		struct acct_invoice iv = { 0 };
		int64_t due = get_i64(r), issued = get_i64(r), seq = get_i64(r),
		        settle = get_i64(r);

		if (!day_ok(due) || !day_ok(issued) || !day_ok(settle) ||
		    seq < 0 || seq > UINT32_MAX) {
			r->bad = true;
			break;
		}
		iv.due = (int32_t)due;
		iv.issued = (int32_t)issued;
		iv.seq = (uint32_t)seq;
		iv.settle_day = (int32_t)settle;
		if (fits_settled(&iv)) {
			struct acct_settled *st = &a->set[a->nset++];

			st->due = iv.due;
			st->seq = iv.seq;
			st->issued_before = (int16_t)(iv.due - iv.issued);
			st->late = (int16_t)(iv.settle_day - iv.due);
		} else if (r->fixed) {
			/* Version 2 kept 32-bit days: far apart, it is an
			 * open-list entry now (acct_compact()). */
			acct_invoice_insert(a, &iv);
		} else {
			r->bad = true; /* later versions never write it */
		}
	}
	a->nsettled_old = (uint32_t)get_i64(r);
	n = get_count(r, 8, r->fixed ? 1 : 0);
	a->prom = n ? xcalloc(n, sizeof(*a->prom)) : NULL;
	for (i = 0; i < n; i++) {
		struct acct_promise *pr = &a->prom[a->nprom++];

		if (r->fixed)
			free(get_str(r)); /* the id: the seq finds it */
		else
			pr->seq = (uint32_t)get_i64(r);
		pr->amount = get_i64(r);
		pr->counted = get_i64(r);
		pr->at = get_i64(r);
		pr->break_at = get_i64(r);
		pr->verdict_at = get_i64(r);
		if (r->fixed)
			pr->seq = (uint32_t)get_i64(r); /* its arrival */
		pr->due = (int32_t)get_i64(r);
		pr->verdict = (uint8_t)get_i64(r);
	}
	has_other = get_i64(r) != 0;
	last.at = get_i64(r);
	last.arrival = get_i64(r);
	if (has_other) {
		x = acct_extra(a);
		x->has_other = true;
		x->last_other = last;
	}
	n = get_count(r, 2, 0);
	if (n > 0) {
		x = acct_extra(a);
		x->tail = xcalloc(n, sizeof(*x->tail));
		for (i = 0; i < n; i++) {
			x->tail[x->ntail].at = get_i64(r);
			x->tail[x->ntail++].arrival = get_i64(r);
		}
	}
}

/* Totals and unapplied credit. */
static void
get_money(struct reader *r, struct acct *a)
{
	struct acct_extra *x;
	uint32_t i, n;

	a->invoiced = get_i64(r);
	a->paid = get_i64(r);
	a->credited = get_i64(r);
	n = get_count(r, 3, 1);
	if (n > 0) {
		x = acct_extra(a);
		x->cred = xcalloc(n, sizeof(*x->cred));
		for (i = 0; i < n; i++) {
			struct acct_credit *c = &x->cred[x->ncred++];

			c->money = get_str(r);
			c->remaining = get_i64(r);
			c->at = get_i64(r);
			c->arrival = get_i64(r);
		}
	}
}

static void
get_cadence(struct reader *r, struct acct *a)
{
	a->cad_acc = get_i64(r);
	a->cad_mark = get_i64(r);
	a->cad_running = get_i64(r) != 0;
	a->held = get_i64(r) != 0;
}

/* The steps' tasks, the alerts' firings, the open tasks. */
static void
get_arrays(struct reader *r, struct acct *a, int version)
{
	uint32_t i, n;

	/* The three share one block (acct_arrays): sized one by one. */
	n = get_count(r, 1, 0);
	acct_arrays(a, 0, 0, n);
	for (i = 0; i < n; i++)
		a->emitted[i] = (uint32_t)get_i64(r);
	n = get_count(r, 1, 0);
	acct_arrays(a, n, 0, a->nemitted);
	for (i = 0; i < n; i++)
		a->alert_last[i] = get_i64(r);
	n = get_count(r, 2, 0);
	acct_arrays(a, a->nalerts, n, a->nemitted);
	for (i = 0; i < n; i++) {
		a->tasks[i].num = get_i64(r);
		a->tasks[i].alert = (int16_t)get_i64(r);
		a->tasks[i].step = -1;
		if (version < STATE_VERSION_4)
			continue;
		a->tasks[i].step = (int16_t)get_i64(r);
		a->tasks[i].type = (uint8_t)get_i64(r);
		a->tasks[i].nb_day = (int32_t)get_i64(r);
	}
}

static void
get_people(struct reader *r, struct acct *a)
{
	a->roles = (uint16_t)get_i64(r);
	a->phone_roles = (uint16_t)get_i64(r);
	a->email_roles = (uint16_t)get_i64(r);
	a->cash_in_day = (uint8_t)get_i64(r);
}

/* Versions 2 to 4: the whole state in one blob. */
static void
get_whole(struct reader *r, struct acct *a, int version)
{
	get_head(r, a);
	a->stage = (uint32_t)get_i64(r);
	a->stage_entered = get_i64(r);
	get_money(r, a);
	get_cadence(r, a);
	get_arrays(r, a, version);
	if (version >= STATE_VERSION_4) {
		get_people(r, a);
		a->credit_held = get_i64(r) != 0;
	}
}

static void
get_eval(struct reader *r, struct acct *a)
{
	a->stage = (uint32_t)get_i64(r);
	a->stage_entered = get_i64(r);
	get_cadence(r, a);
	a->credit_held = get_i64(r) != 0;
	get_arrays(r, a, STATE_VERSION);
}

int
acct_decode_parts(struct acct *a, const void *ev, size_t evlen,
    const void *eval, size_t evallen)
{
	struct reader r = { ev, (const unsigned char *)ev + evlen, false,
		false };
	struct reader re = { NULL, NULL, false, false };
	int version;

	acct_clear(a);
	if (evlen < 1)
		return -1;
	if (eval != NULL) {
		re.p = eval;
		re.end = re.p + evallen;
	}
	version = r.p[0];
	if (version != STATE_VERSION && version != STATE_VERSION_4 &&
	    version != STATE_VERSION_3 && version != STATE_VERSION_FIXED)
		return -1;
	r.fixed = *r.p++ == STATE_VERSION_FIXED;
	if (version != STATE_VERSION) {
		/* Its own evaluation part never comes with it. */
		if (eval != NULL)
			return -1;
		get_whole(&r, a, version);
	} else {
		get_head(&r, a);
		get_money(&r, a);
		get_people(&r, a);
		/* eval NULL: one blob, the two parts one after the other. */
		if (eval == NULL)
			get_eval(&r, a);
		else if (r.p == r.end)
			get_eval(&re, a);
		else
			r.bad = true;
	}
	if (r.bad || r.p != r.end || re.bad || re.p != re.end)
		return -1;
	return version < STATE_VERSION_4 ? 1 : 0;
}

int
acct_decode(struct acct *a, const void *data, size_t len)
{
	return acct_decode_parts(a, data, len, NULL, 0);
}
