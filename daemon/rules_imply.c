/*
 * rules_imply — what the analysis of a rule set (interfaces.md §4.8)
 * asks of conditions: whether the whens of two rules can hold together
 * on one account, and whether the conditions of one rule imply a
 * condition of another.  Pure functions of the conditions.
 *
 * Called by the analysis (rules_analyse.c) through rules_int.h.
 */
#include "rules_int.h"

#include <math.h>
#include <string.h>

/* §4.8: balance = 0 means these facts are 0. */
#define SETTLED_ZERO                                                           \
	(F(OVERDUE_AMOUNT) | F(UNDISPUTED_OVERDUE) | F(DISPUTED_AMOUNT) |      \
	    F(OVERDUE_INVOICES) | F(DAYS_OVERDUE))
/* Facts that can be absent (§3). */
#define MAY_BE_ABSENT (F(DAYS_TO_DUE) | F(ON_TIME_RATIO) | F(RISK))
/* Numeric facts that take fractions; the others are whole numbers. */
#define FRACTIONAL (F(LATE_TREND) | F(ON_TIME_RATIO))

static bool
in_strv(const char *s, char *const *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (strcmp(s, v[i]) == 0)
			return true;
	}
	return false;
}

/* The bounds of a numeric condition; whole-number facts round inwards. */
static void
bounds(const struct rules_cond *c, double *lo, double *hi)
{
	*lo = c->has_min ? c->min : -INFINITY;
	*hi = c->has_max ? c->max : INFINITY;
	if (!((1u << c->fact) & FRACTIONAL)) {
		*lo = ceil(*lo);
		*hi = floor(*hi);
	}
}

static bool
number_possible(const struct rules_cond *a, const struct rules_cond *b)
{
	double alo, ahi, blo, bhi;

	if (a == NULL)
		a = b, b = NULL;
	bounds(a, &alo, &ahi);
	if (b == NULL)
		return alo <= ahi;
	if (((1u << a->fact) & PROMISES) && a->window_s != b->window_s)
		return alo <= ahi && number_possible(b, NULL);
	bounds(b, &blo, &bhi);
	return fmax(alo, blo) <= fmin(ahi, bhi);
}

/*
 * §4.8: (A, N) and (A', N') are disjoint when a given A or A' has nothing
 * outside N and N'.  A missing tags condition is (absent, {}).
 */
static bool
tags_disjoint(const struct rules_cond *a, const struct rules_cond *b)
{
	const struct rules_cond *x;
	size_t i, k;

	for (k = 0; k < 2; k++) {
		x = k == 0 ? a : b;
		if (x == NULL || x->nany == 0)
			continue;
		for (i = 0; i < x->nany; i++) {
			if (!(a != NULL &&
			        in_strv(x->any[i], a->none, a->nnone)) &&
			    !(b != NULL &&
			        in_strv(x->any[i], b->none, b->nnone)))
				break;
		}
		if (i == x->nany)
			return true;
	}
	return false;
}

/* Whether the conditions a and b on one fact (either may be NULL) can hold
 * together. */
static bool
pair_possible(int f, const struct rules_cond *a, const struct rules_cond *b)
{
	if (a == NULL && b == NULL)
		return true;
	switch (rules_fact_kind(f)) {
	case RULES_KIND_NUMBER:
		return number_possible(a, b);
	case RULES_KIND_BOOL:
		return a == NULL || b == NULL || a->value == b->value;
	case RULES_KIND_SET:
		/* Stage sets never reach here (§4.8 leaves stage out). */
		if (a == NULL || b == NULL)
			return (a != NULL ? a : b)->mask != 0;
		return (a->mask & b->mask) != 0;
	case RULES_KIND_TAGS:
		return !tags_disjoint(a, b);
	}
	return true;
}

/* A balance condition that only 0 satisfies (balance is a whole number
 * >= 0). */
static bool
forces_settled(const struct rules_cond *balance)
{
	return balance != NULL && balance->has_max && balance->max < 1;
}

/* Whether condition c can hold on a settled account (§4.8). */
static bool
holds_settled(const struct rules_cond *c)
{
	double lo, hi;

	if ((1u << c->fact) & SETTLED_ZERO) {
		bounds(c, &lo, &hi);
		return lo <= 0 && hi >= 0;
	}
	switch (c->fact) {
	case RULES_FACT_DAYS_TO_DUE:
		return false; /* absent */
	case RULES_FACT_FIRST_MISS:
	case RULES_FACT_PROMISE_PENDING:
		return !c->value;
	default:
		return true;
	}
}

/* Whether the whens of a and b can hold together, stage aside (§4.8). */
bool
ld_compatible(const struct condmap *a, const struct condmap *b)
{
	int f;

	for (f = 0; f < RULES_FACT_COUNT; f++) {
		if (f != RULES_FACT_STAGE &&
		    !pair_possible(f, a->c[f], b->c[f]))
			return false;
	}
	if (forces_settled(a->c[RULES_FACT_BALANCE]) ||
	    forces_settled(b->c[RULES_FACT_BALANCE])) {
		for (f = 0; f < RULES_FACT_COUNT; f++) {
			if ((a->c[f] != NULL && !holds_settled(a->c[f])) ||
			    (b->c[f] != NULL && !holds_settled(b->c[f])))
				return false;
		}
	}
	return true;
}

/* (A, N) implies (A', N') when N' is in N and either A' is absent or A is
 * given with A - N in A' (§4.8). */
static bool
tags_implied(const struct rules_cond *l, const struct rules_cond *e)
{
	size_t i;

	for (i = 0; i < e->nnone; i++) {
		if (l == NULL || !in_strv(e->none[i], l->none, l->nnone))
			return false;
	}
	if (e->nany == 0)
		return true;
	if (l == NULL || l->nany == 0)
		return false;
	for (i = 0; i < l->nany; i++) {
		if (!in_strv(l->any[i], l->none, l->nnone) &&
		    !in_strv(l->any[i], e->any, e->nany))
			return false;
	}
	return true;
}

/*
 * Whether the conditions l of the later rule imply condition e of the
 * earlier one, the later rule starting from one of the stages in start.
 */
bool
ld_cond_implied(const struct ruleset *rs, const struct condmap *l,
    const uint64_t *start, const struct rules_cond *e)
{
	const struct rules_cond *c = l->c[e->fact];
	double llo, lhi, elo, ehi;
	unsigned full;
	size_t w;

	switch (rules_fact_kind(e->fact)) {
	case RULES_KIND_NUMBER:
		bounds(e, &elo, &ehi);
		if (c != NULL && c->window_s == e->window_s) {
			bounds(c, &llo, &lhi);
			if (llo >= elo && lhi <= ehi)
				return true;
		}
		if (forces_settled(l->c[RULES_FACT_BALANCE]) &&
		    ((1u << e->fact) & SETTLED_ZERO))
			return elo <= 0 && ehi >= 0;
		/* "is present" of a fact that always is. */
		return !e->has_min && !e->has_max &&
		    !((1u << e->fact) & MAY_BE_ABSENT);
	case RULES_KIND_BOOL:
		if (c != NULL)
			return c->value == e->value;
		return !e->value && forces_settled(l->c[RULES_FACT_BALANCE]) &&
		    (e->fact == RULES_FACT_FIRST_MISS ||
		        e->fact == RULES_FACT_PROMISE_PENDING);
	case RULES_KIND_SET:
		if (e->fact == RULES_FACT_STAGE) {
			for (w = 0; w < rs->stage_words; w++) {
				uint64_t s =
				    start[w] & (c ? c->stages[w] : ~0ull);

				if (s & ~e->stages[w])
					return false;
			}
			return true;
		}
		full = e->fact == RULES_FACT_SIZE
		    ? (1u << RULES_SIZE_COUNT) - 1
		    : (1u << RULES_RISK_COUNT) - 1;
		if (e->fact == RULES_FACT_SIZE && (e->mask & full) == full)
			return true;
		return c != NULL && (c->mask & ~e->mask) == 0;
	case RULES_KIND_TAGS:
		return tags_implied(c, e);
	}
	return false;
}
