/*
 * facts — the facts of interfaces.md §3 of one account from its
 * in-memory state (account.h), the moments at which time alone changes
 * them (§4.3), and the outcome tail behind `unreached`.
 *
 * eval calls facts_compute() for every evaluation, a million times in a
 * daily sweep (targets.md P3), so it makes one pass over the invoices,
 * one over the promises, and allocates nothing.  After an evaluation
 * eval_next_wake() arms the account's next wake-up from
 * facts_compute_changes() (fact by fact) and facts_cond_next() (when a
 * condition's truth can change); explain's `next` is
 * facts_next_change().
 *
 * Invariants:
 * (1) a->inv is sorted in invoice order (due, issued, arrival), so "the
 *     earliest invoice" of §3 is the first one met, and the last
 *     trend_window invoices of a kind are the last ones met.
 * (2) Outcomes: a->tail holds exactly the unreached outcomes after
 *     a->last_other (all of them when !has_other), sorted by (at,
 *     arrival).  Arrival is unique, so no two outcomes compare equal.
 * (3) Time alone moves only `today` (at local midnights), `now` against
 *     verdict moments and windows, pending promises' break moments and
 *     days_in_stage ticks.  facts_next_change() lists exactly these.
 */
#include "facts.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "event.h"
#include "util.h"

/* The largest trend_window of a rule set (§4.1: 2-12). */
#define TREND_MAX 12

#define BIT(f) (1u << (f))

/* Facts that move with `today` (invariant (3)). */
#define TODAY_FACTS                                                            \
	(BIT(RULES_FACT_OVERDUE_AMOUNT) | BIT(RULES_FACT_UNDISPUTED_OVERDUE) | \
	    BIT(RULES_FACT_OVERDUE_INVOICES) | BIT(RULES_FACT_DAYS_OVERDUE) |  \
	    BIT(RULES_FACT_DAYS_TO_DUE) | BIT(RULES_FACT_LATE_TREND) |         \
	    BIT(RULES_FACT_FIRST_MISS))

/*
 * One pass over the invoices at local date today: everything both
 * facts_compute() and facts_next_change() need.
 */
struct scan {
	int64_t balance;
	int64_t overdue_amount;
	int64_t disputed_amount;
	int64_t undisputed_overdue;
	int64_t overdue_invoices;
	int32_t first_overdue_due; /* valid if overdue_invoices > 0 */
	bool has_undisp_due;       /* undisputed open > 0, due >= today */
	int32_t undisp_due;        /* the first such due */
	bool has_open_due;         /* open > 0, due >= today */
	int32_t open_due;          /* the first such due */
	/*
	 * late_trend: the last trend_window points in a ring, ring[next]
	 * the oldest once npoints >= trend_window; openmask bit i set when
	 * the i-th newest point is an open invoice (its d grows daily).
	 */
	int32_t ring[TREND_MAX];
	size_t npoints;
	uint32_t openmask;
	/* on_time_ratio: bit i set when the i-th newest settled was on time. */
	size_t nsettled;
	uint32_t ontime;
};

/* A settled invoice as a point of the windows (one step of the scan). */
static inline void
scan_settled(struct scan *s, int32_t due, int32_t settle_day, int tw,
    int grace_days, int *next)
{
	int32_t d = settle_day - due;

	s->ontime = s->ontime << 1 | (settle_day <= due + grace_days);
	s->nsettled++;
	s->openmask <<= 1;
	s->ring[*next] = d > 0 ? d : 0;
	*next = *next + 1 == tw ? 0 : *next + 1;
	s->npoints++;
}

/* Whether invoice iv comes before settled invoice st (invoice order). */
static inline bool
inv_before(const struct acct_invoice *iv, const struct acct_settled *st)
{
	return acct_order_before(iv->due, iv->issued, iv->seq, st->due,
	    acct_settled_issued(st), st->seq);
}

static inline void
scan_invoices(const struct acct *a, int tw, int grace_days, int32_t today,
    struct scan *s /* OUT */)
{
	const struct acct_invoice *iv = a->inv, *end = a->inv + a->ninv;
	const struct acct_settled *st = a->set, *send = a->set + a->nset;
	int64_t open, dopen, undisp;
	int32_t d;
	int next = 0;

	assert(tw >= 1 && tw <= TREND_MAX);
	s->balance = 0;
	s->overdue_amount = 0;
	s->disputed_amount = 0;
	s->undisputed_overdue = 0;
	s->overdue_invoices = 0;
	s->first_overdue_due = 0;
	s->has_undisp_due = false;
	s->undisp_due = 0;
	s->has_open_due = false;
	s->open_due = 0;
	s->npoints = 0;
	s->openmask = 0;
	/*
	 * Settled invoices dropped from memory come before every kept one
	 * and at least ACCT_SETTLED_KEEP >= tw settled points follow them:
	 * they only count (first_miss).
	 */
	s->nsettled = (size_t)a->nsettled_old;
	s->ontime = 0;

	for (;;) {
		/* The two lists merged in invoice order (invariant 1). */
		if (st < send && (iv == end || !inv_before(iv, st))) {
			scan_settled(s, st->due, acct_settled_day(st), tw,
			    grace_days, &next);
			st++;
			continue;
		}
		if (iv == end)
			break;
		open = iv->open;
		/* §2.3: payments reduce the undisputed part first. */
		dopen = iv->disputed < open ? iv->disputed : open;
		undisp = open - dopen;
		s->balance += open;
		s->disputed_amount += dopen;
		if (iv->due < today) {
			s->overdue_amount += open;
			s->undisputed_overdue += undisp;
			if (undisp > 0 && s->overdue_invoices++ == 0)
				s->first_overdue_due = iv->due;
		} else {
			if (undisp > 0 && !s->has_undisp_due) {
				s->has_undisp_due = true;
				s->undisp_due = iv->due;
			}
			if (open > 0 && !s->has_open_due) {
				s->has_open_due = true;
				s->open_due = iv->due;
			}
		}

		/* late_trend points: settled, or open and overdue. */
		if (open == 0) {
			scan_settled(
			    s, iv->due, iv->settle_day, tw, grace_days, &next);
			iv++;
			continue;
		} else if (iv->due < today) {
			d = today - iv->due;
			s->openmask = s->openmask << 1 | 1;
		} else {
			iv++;
			continue;
		}
		s->ring[next] = d > 0 ? d : 0;
		next = next + 1 == tw ? 0 : next + 1;
		s->npoints++;
		iv++;
	}
}

/*
 * The least-squares slope through (k, d_k), k = 0 ... n - 1, of the last
 * n = min(npoints, tw) points: with k̄ = (n - 1) / 2 and
 * Σ(k - k̄)² = n(n² - 1) / 12 it is
 * (12 Σ k d_k - 6 (n - 1) Σ d_k) / (n (n² - 1)): integers to the one
 * division, so the result is the exact slope correctly rounded.
 */
static double
trend_slope(const struct scan *s, int tw)
{
	size_t n = s->npoints < (size_t)tw ? s->npoints : (size_t)tw;
	size_t first = s->npoints < (size_t)tw ? 0 : s->npoints % (size_t)tw;
	size_t k, i;
	int64_t sd = 0, skd = 0, num, den;

	if (n < 3)
		return 0;
	for (k = 0, i = first; k < n; k++) {
		sd += s->ring[i];
		skd += (int64_t)k * s->ring[i];
		i = i + 1 == (size_t)tw ? 0 : i + 1;
	}
	num = 12 * skd - 6 * (int64_t)(n - 1) * sd;
	den = (int64_t)n * ((int64_t)n * (int64_t)n - 1);
	return (double)num / (double)den;
}

/* Settled invoices in the on_time_ratio window, and how many on time. */
static size_t
ontime_window(const struct scan *s, int tw, size_t *on /* OUT */)
{
	uint32_t mask = ((uint32_t)1 << tw) - 1;

	*on = (size_t)__builtin_popcount(s->ontime & mask);
	return s->nsettled < (size_t)tw ? s->nsettled : (size_t)tw;
}

void
facts_params_from_ruleset(struct facts_params *p, const struct ruleset *rs)
{
	p->trend_window = rs->trend_window;
	p->grace_days = rs->grace_days;
	p->windows = rs->uses.windows;
	p->nwindows = rs->uses.nwindows;
}

void
facts_out_init(struct facts_out *out, size_t nwindows)
{
	memset(out, 0, sizeof(*out));
	if (nwindows <= FACTS_WINDOWS_INLINE) {
		out->cap = FACTS_WINDOWS_INLINE;
		out->heap = NULL;
	} else {
		out->cap = nwindows;
		out->heap = xcalloc(2 * nwindows, sizeof(*out->heap));
	}
}

void
facts_out_fini(struct facts_out *out)
{
	free(out->heap);
	out->heap = NULL;
	out->cap = 0;
}

static void
compute_from(const struct acct *a, const struct facts_params *p, int64_t now,
    int32_t today, const struct scan *s, struct facts_out *out)
{
	struct rules_factvals *fv = &out->fv;
	const struct acct_promise *pr, *pend = a->prom + a->nprom;
	int64_t *broken, *kept, age;
	size_t settled, on, w;
	bool pending = false;

	assert(p->nwindows <= out->cap);

	fv->balance = s->balance;
	fv->overdue_amount = s->overdue_amount;
	fv->disputed_amount = s->disputed_amount;
	fv->undisputed_overdue = s->undisputed_overdue;
	fv->overdue_invoices = s->overdue_invoices;
	fv->days_overdue =
	    s->overdue_invoices > 0 ? today - s->first_overdue_due : 0;
	fv->has_days_to_due = s->has_undisp_due;
	fv->days_to_due = s->has_undisp_due ? s->undisp_due - today : 0;
	fv->late_trend = trend_slope(s, p->trend_window);
	settled = ontime_window(s, p->trend_window, &on);
	fv->has_on_time_ratio = settled > 0;
	fv->on_time_ratio = settled > 0 ? (double)on / (double)settled : 0;
	/* P5: always on time, and now a miss. */
	fv->first_miss =
	    s->nsettled >= 3 && on == settled && s->overdue_invoices >= 1;

	/* Promises: a verdict counts when now - window < verdict_at <= now. */
	broken = out->heap != NULL ? out->heap : out->inline_counts;
	kept = broken + out->cap;
	memset(broken, 0, p->nwindows * sizeof(*broken));
	memset(kept, 0, p->nwindows * sizeof(*kept));
	for (pr = a->prom; pr < pend; pr++) {
		if (pr->verdict == ACCT_PENDING) {
			pending = true;
			continue;
		}
		if (pr->verdict_at > now)
			continue;
		age = now - pr->verdict_at;
		/* Windows ascend: once age < window, every later one holds. */
		for (w = 0; w < p->nwindows && age >= p->windows[w]; w++)
			;
		for (; w < p->nwindows; w++) {
			if (pr->verdict == ACCT_BROKEN)
				broken[w]++;
			else
				kept[w]++;
		}
	}
	fv->promises_broken = p->nwindows > 0 ? broken : NULL;
	fv->promises_kept = p->nwindows > 0 ? kept : NULL;
	fv->promise_pending = pending;

	fv->unreached = a->x != NULL ? (int64_t)a->x->ntail : 0;
	age = floor_div(now - a->stage_entered, CLOCK_DAY);
	fv->days_in_stage = age > 0 ? age : 0;
	fv->stage = a->stage;
	fv->size = (enum rules_size)a->size;
	fv->has_risk = a->risk >= 0;
	fv->risk = a->risk >= 0 ? a->risk : 0;
	fv->tags = (const char *const *)a->tags;
	fv->ntags = a->ntags;
	fv->decision_maker = (a->roles & facts_pref_mask(a->size)) != 0;
}

void
facts_compute(const struct acct *a, const struct facts_params *p, int64_t now,
    int32_t today, struct facts_out *out)
{
	struct scan s;

	scan_invoices(a, p->trend_window, p->grace_days, today, &s);
	compute_from(a, p, now, today, &s, out);
}

/* §5, P6: who decides payments, by company size. */
static const enum event_role pref_roles[RULES_SIZE_COUNT][3] = {
	[RULES_SIZE_SMALL] = { EVENT_ROLE_OWNER, EVENT_ROLE_PRESIDENT },
	[RULES_SIZE_MEDIUM] = { EVENT_ROLE_GENERAL_MANAGER, EVENT_ROLE_CFO,
	    EVENT_ROLE_FINANCE_DIRECTOR },
	[RULES_SIZE_LARGE] = { EVENT_ROLE_AP_MANAGER,
	    EVENT_ROLE_FINANCIAL_CONTROLLER },
};

size_t
facts_pref_roles(int size, enum event_role roles[3])
{
	size_t n = 0;

	if (size < 0 || size >= RULES_SIZE_COUNT)
		return 0;
	while (n < 3 && pref_roles[size][n] != EVENT_ROLE_NONE) {
		roles[n] = pref_roles[size][n];
		n++;
	}
	return n;
}

uint16_t
facts_pref_mask(int size)
{
	enum event_role roles[3];
	size_t i, n = facts_pref_roles(size, roles);
	uint16_t m = 0;

	for (i = 0; i < n; i++)
		m |= (uint16_t)(1u << roles[i]);
	return m;
}

/* Whether outcome (at, arrival) comes before o. */
static bool
outcome_before(int64_t at, int64_t arrival, const struct acct_outcome *o)
{
	return at < o->at || (at == o->at && arrival < o->arrival);
}

void
facts_outcome_add(
    struct acct *a, int64_t at, int64_t arrival, bool unreached_kind)
{
	struct acct_extra *x = acct_extra(a);
	size_t i, drop;

	/* Older than the last other outcome: it is followed by one. */
	if (x->has_other && outcome_before(at, arrival, &x->last_other))
		return;

	if (!unreached_kind) {
		x->has_other = true;
		x->last_other.at = at;
		x->last_other.arrival = arrival;
		/* invariant (2): drop the tail before the new last other. */
		for (drop = 0; drop < x->ntail; drop++)
			if (outcome_before(at, arrival, &x->tail[drop]))
				break;
		if (drop > 0) {
			memmove(x->tail, x->tail + drop,
			    (x->ntail - drop) * sizeof(*x->tail));
			x->ntail -= (uint32_t)drop;
		}
		return;
	}

	x->tail = xreallocarray(x->tail, x->ntail + 1, sizeof(*x->tail));
	/* Outcomes mostly arrive in order: search from the end. */
	for (i = x->ntail; i > 0; i--)
		if (!outcome_before(at, arrival, &x->tail[i - 1]))
			break;
	memmove(
	    x->tail + i + 1, x->tail + i, (x->ntail - i) * sizeof(*x->tail));
	x->tail[i].at = at;
	x->tail[i].arrival = arrival;
	x->ntail++;
}

/*
 * The start of local date day + 1: when an invoice due on day becomes
 * overdue.  Never <= now, even where a zone change moved the clock back
 * across midnight (see clock_next_midnight()).
 */
static int64_t
overdue_from(int32_t day, int64_t now)
{
	int64_t t = clock_day_start(day + 1);

	return t > now ? t : clock_next_midnight(now);
}

static inline void
earliest(int64_t *next, int64_t t)
{
	if (t < *next)
		*next = t;
}

/*
 * The next moment each today-dependent fact changes (m->next[f]), and
 * when the first undisputed open invoice not yet due falls due.
 */
static void
next_today_changes(const struct facts_params *p, int64_t now,
    const struct scan *s, struct facts_moments *m)
{
	int64_t midnight = clock_next_midnight(now), *nx = m->next;
	int64_t t_open = INT64_MAX, t_undisp = INT64_MAX;
	size_t settled, on, n;
	uint32_t mask;
	/* When the first (un)disputed open invoice not yet due becomes due. */
	if (s->has_open_due)
		t_open = overdue_from(s->open_due, now);
	if (s->has_undisp_due)
		t_undisp = overdue_from(s->undisp_due, now);
	m->undisp_due_at = t_undisp;

	/*
	 * overdue_amount counts every open amount; the other two only
	 * change for an invoice with an undisputed part.
	 */
	nx[RULES_FACT_OVERDUE_AMOUNT] = t_open;
	nx[RULES_FACT_UNDISPUTED_OVERDUE] = t_undisp;
	nx[RULES_FACT_OVERDUE_INVOICES] = t_undisp;
	/* today - due grows daily once there is one, else it appears. */
	nx[RULES_FACT_DAYS_OVERDUE] =
	    s->overdue_invoices > 0 ? midnight : t_undisp;
	/* due - today shrinks daily while present; never reappears. */
	if (s->has_undisp_due)
		nx[RULES_FACT_DAYS_TO_DUE] = midnight;
	/*
	 * late_trend: an open point's d grows daily, which matters only in
	 * the window and with >= 3 points; an open invoice falling due adds
	 * a point.
	 */
	n = s->npoints < (size_t)p->trend_window ? s->npoints
	                                         : (size_t)p->trend_window;
	mask = ((uint32_t)1 << p->trend_window) - 1;
	nx[RULES_FACT_LATE_TREND] =
	    n >= 3 && (s->openmask & mask) != 0 ? midnight : t_open;
	/*
	 * first_miss: settled invoices and their ratio do not move with
	 * time; overdue_invoices >= 1 can only start to hold.
	 */
	settled = ontime_window(s, p->trend_window, &on);
	if (s->nsettled >= 3 && on == settled && s->overdue_invoices == 0)
		nx[RULES_FACT_FIRST_MISS] = t_undisp;
}

/*
 * The moments of facts_compute_changes(), from a's invoices scanned at
 * now's date (NULL: scanned here).
 */
static void
next_changes_from(const struct acct *a, const struct facts_params *p,
    uint32_t tested, int64_t now, const struct scan *sp,
    struct facts_moments *m)
{
	const struct acct_promise *pr, *pend = a->prom + a->nprom;
	int64_t *nx = m->next, k;
	struct scan s;
	size_t w, f;

	for (f = 0; f < RULES_FACT_COUNT; f++)
		nx[f] = INT64_MAX;
	m->undisp_due_at = INT64_MAX;
	if (tested & TODAY_FACTS) {
		if (sp == NULL) {
			scan_invoices(a, p->trend_window, p->grace_days,
			    clock_local_date(now), &s);
			sp = &s;
		}
		next_today_changes(p, now, sp, m);
	}

	for (pr = a->prom; pr < pend; pr++) {
		if (pr->verdict == ACCT_PENDING) {
			/* §3.1: broken at its break moment, no event needed. */
			if (pr->break_at > now) {
				earliest(&nx[RULES_FACT_PROMISE_PENDING],
				    pr->break_at);
				earliest(&nx[RULES_FACT_PROMISES_BROKEN],
				    pr->break_at);
			}
			continue;
		}
		f = pr->verdict == ACCT_BROKEN ? RULES_FACT_PROMISES_BROKEN
		                               : RULES_FACT_PROMISES_KEPT;
		if (pr->verdict_at > now)
			earliest(&nx[f], pr->verdict_at);
		/* It leaves window w at verdict_at + w (ascending). */
		for (w = 0; w < p->nwindows; w++) {
			if (pr->verdict_at > now - p->windows[w]) {
				earliest(
				    &nx[f], pr->verdict_at + p->windows[w]);
				break;
			}
		}
	}

	k = floor_div(now - a->stage_entered, CLOCK_DAY) + 1;
	nx[RULES_FACT_DAYS_IN_STAGE] =
	    a->stage_entered + (k > 1 ? k : 1) * CLOCK_DAY;
	for (f = 0; f < RULES_FACT_COUNT; f++)
		if (!(tested & BIT(f)))
			nx[f] = INT64_MAX;
}

void
facts_compute_changes(const struct acct *a, const struct facts_params *p,
    uint32_t tested, int64_t now, struct facts_out *out,
    struct facts_moments *m)
{
	int32_t today = clock_local_date(now);
	struct scan s;

	scan_invoices(a, p->trend_window, p->grace_days, today, &s);
	compute_from(a, p, now, today, &s, out);
	next_changes_from(a, p, tested, now, &s, m);
}

int64_t
facts_next_change(const struct acct *a, const struct facts_params *p,
    uint32_t tested, int64_t now)
{
	struct facts_moments m;
	int64_t next = INT64_MAX;
	size_t f;

	next_changes_from(a, p, tested, now, NULL, &m);
	for (f = 0; f < RULES_FACT_COUNT; f++)
		earliest(&next, m.next[f]);
	return next;
}

/*
 * The first day k >= 1 after today at which the integer fact v (v0 today,
 * moving by step = +1 or -1 a day) enters or leaves c's inclusive bounds;
 * 0 when it never does.
 */
static int64_t
day_crossing(const struct rules_cond *c, int64_t v0, int step)
{
	/* The integers c holds for: [lo, hi]. */
	double lo = c->has_min ? ceil(c->min) : -HUGE_VAL;
	double hi = c->has_max ? floor(c->max) : HUGE_VAL;
	double v = (double)v0, k;

	if (lo > hi)
		return 0; /* never holds */
	if (step > 0)
		k = v < lo ? lo - v : v <= hi ? hi + 1 - v : HUGE_VAL;
	else
		k = v > hi ? v - hi : v >= lo ? v - lo + 1 : HUGE_VAL;
	/* Beyond a century the daily sweep (§4.3) is the wake-up. */
	return k >= 1 && k <= 36600 ? (int64_t)k : 0;
}

/*
 * The start of the local date k days after now's.  Never <= now, even
 * where a zone change moved the clock back across midnight and that
 * date has begun already (then the next midnight: early, not late).
 */
static int64_t
day_after(int64_t now, int64_t k)
{
	int64_t t = clock_day_start(clock_local_date(now) + (int32_t)k);

	return t > now ? t : clock_next_midnight(now);
}

int64_t
facts_cond_next(const struct acct *a, const struct rules_cond *c,
    const struct rules_factvals *fv, int64_t now, const struct facts_moments *m)
{
	int64_t k, t;

	switch (c->fact) {
	case RULES_FACT_DAYS_OVERDUE:
		/* Without an overdue invoice: 0 until one falls due. */
		if (fv->overdue_invoices == 0)
			return m->next[c->fact];
		k = day_crossing(c, fv->days_overdue, +1);
		return k > 0 ? day_after(now, k) : INT64_MAX;
	case RULES_FACT_DAYS_TO_DUE:
		/* Absent: it never comes back by time alone. */
		if (!fv->has_days_to_due)
			return INT64_MAX;
		k = day_crossing(c, fv->days_to_due, -1);
		t = k > 0 ? day_after(now, k) : INT64_MAX;
		/* Its invoice falling due moves it to the next one's. */
		return t < m->undisp_due_at ? t : m->undisp_due_at;
	case RULES_FACT_DAYS_IN_STAGE:
		k = day_crossing(c, fv->days_in_stage, +1);
		if (k == 0)
			return INT64_MAX;
		t = a->stage_entered + (fv->days_in_stage + k) * CLOCK_DAY;
		return t > now ? t : m->next[c->fact];
	default:
		return m->next[c->fact];
	}
}
