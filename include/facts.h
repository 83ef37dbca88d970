/*
 * facts — the facts of interfaces.md §3 of one account at one moment,
 * computed from its in-memory state (account.h), and the moments at
 * which they change by the passing of time alone (§4.3).
 *
 * Pure functions of their arguments: no SQLite, no globals, no
 * allocation in facts_compute().  facts_next_change() reads the
 * portfolio zone through clock.  Called by eval (facts_compute) and
 * schedule (facts_next_change); portfolio calls facts_outcome_add().
 */
#ifndef DUNND_FACTS_H
#define DUNND_FACTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "account.h"
#include "event.h"
#include "rules.h"

/*
 * What the rule set says about the facts (struct ruleset): trend_window
 * (2-12), grace_days (>= 0) and the distinct promises_* windows in use
 * (uses.windows, seconds, ascending; nwindows may be 0).  Borrowed.
 */
struct facts_params {
	int trend_window;
	int grace_days;
	const int64_t *windows;
	size_t nwindows;
};

/* Fills p from a loaded rule set; p borrows rs->uses.windows. */
void facts_params_from_ruleset(
    struct facts_params *p /* OUT */, const struct ruleset *rs);

/* Windows whose counts fit inside struct facts_out without the heap. */
#define FACTS_WINDOWS_INLINE 8

/*
 * The facts of one account.  fv is what rules_cond_holds() reads; its
 * promises_broken/_kept point into this struct (set again by each
 * facts_compute(), so a copy is usable after its next compute) and its
 * tags into the account.  Initialise once with facts_out_init() for up
 * to nwindows windows, reuse for any number of accounts, facts_out_fini().
 */
struct facts_out {
	struct rules_factvals fv;
	size_t cap; /* windows the counts can hold */
	/*
	 * cap broken counts, then cap kept counts: in heap when more than
	 * FACTS_WINDOWS_INLINE windows, else in inline_counts.
	 */
	int64_t *heap;
	int64_t inline_counts[2 * FACTS_WINDOWS_INLINE];
};

/* Prepares out for up to nwindows windows (heap only above the inline). */
/*
 * §5, P6: the contact roles that decide payments for a company of size
 * (enum rules_size), best first, in roles; returns how many (0 for an
 * unknown size).  facts_pref_mask(): the same as bits (1 << role).
 */
size_t facts_pref_roles(int size, enum event_role roles[3] /* OUT */);
uint16_t facts_pref_mask(int size);

void facts_out_init(struct facts_out *out, size_t nwindows);
void facts_out_fini(struct facts_out *out);

/*
 * Computes every fact of §3 of a at instant now; today is the local date
 * of now (clock_local_date(now), read once per processing step by the
 * caller).  Promise verdicts are read as they are in a: verdicts due at
 * now are given first (§4.4 step 1).  p->nwindows must be <= the count
 * out was initialised for.  One pass over the invoices, no allocation.
 */
void facts_compute(const struct acct *a, const struct facts_params *p,
    int64_t now, int32_t today, struct facts_out *out /* OUT */);

/*
 * Records an outcome of the account: at its instant, arrival its global
 * sequence number, unreached_kind for no_answer/wrong_contact.  Keeps
 * last_other and the tail of account.h in (at, arrival) order, whatever
 * order outcomes arrive in.  Grows a->tail with xreallocarray (dies on
 * out-of-memory, as every x*alloc).
 */
void facts_outcome_add(
    struct acct *a, int64_t at, int64_t arrival, bool unreached_kind);

/*
 * The first instant > now at which a fact of a in tested (bit
 * 1 << RULES_FACT_x per fact the rule set tests, rules_uses.facts) can
 * change without a new event: a local midnight, a pending promise's
 * break moment, a verdict leaving a window of p, a days_in_stage tick.
 * Exact or early, never late: an earlier moment only costs an
 * evaluation that changes nothing.  INT64_MAX when nothing can change.
 * Cadence steps and alert cooldowns are schedule's.
 */
int64_t facts_next_change(const struct acct *a, const struct facts_params *p,
    uint32_t tested, int64_t now);

/*
 * The same moments fact by fact: next[f] the first instant > now at
 * which fact f (of tested; INT64_MAX for the others) can change without
 * an event, and when the first undisputed open invoice not yet due falls
 * due (INT64_MAX: none).  One pass over the invoices.
 */
struct facts_moments {
	int64_t next[RULES_FACT_COUNT];
	int64_t undisp_due_at;
};

/*
 * facts_compute() at now's local date and the facts_moments of tested,
 * with one pass over the invoices (eval_next_wake(), after every
 * evaluation).
 */
void facts_compute_changes(const struct acct *a, const struct facts_params *p,
    uint32_t tested, int64_t now, struct facts_out *out /* OUT */,
    struct facts_moments *m /* OUT */);

/*
 * The first instant > now at which time alone can change whether c
 * holds for a, whose facts at now are fv and moments m (INT64_MAX: only
 * an event can).  Exact for days_overdue, days_to_due and days_in_stage,
 * whose values move by one a day: the day they enter or leave c's
 * bounds (a change inside or outside them changes no outcome); for the
 * other facts their next change, which is early, never late.
 */
int64_t facts_cond_next(const struct acct *a, const struct rules_cond *c,
    const struct rules_factvals *fv, int64_t now,
    const struct facts_moments *m);

#endif
