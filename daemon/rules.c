/*
 * rules — the rule set once loaded: the names of facts, task types,
 * sizes and risk classes, stage lookup, the evaluation of conditions
 * against an account's facts, and rules_free().
 *
 * Called by whoever reads a rule set (dunnd, eval, explain, protocol,
 * dunnctl) and by the loader, which builds it (rules_load.c and the
 * other daemon/rules_*.c, through rules_int.h); of the loader it calls
 * only rules_cal_free().
 *
 * Invariants of a returned set:
 *   (1) nstages >= 1 and every stage, script, schedule and window index
 *       is valid;
 *   (2) names are unique in each of the five namespaces;
 *   (3) no cycle of rules that can follow each other (§4.8) exists, so an
 *       evaluation in which no fact changed changes nothing.
 */
#include "rules.h"
#include "rules_int.h"

#include <stdlib.h>
#include <string.h>

static const char *const fact_names[RULES_FACT_COUNT] = {
	"balance",
	"overdue_amount",
	"disputed_amount",
	"undisputed_overdue",
	"overdue_invoices",
	"days_overdue",
	"days_to_due",
	"late_trend",
	"on_time_ratio",
	"first_miss",
	"promises_broken",
	"promises_kept",
	"promise_pending",
	"unreached",
	"days_in_stage",
	"stage",
	"size",
	"risk",
	"tags",
	"decision_maker",
};

static const enum rules_fact_kind fact_kinds[RULES_FACT_COUNT] = {
	[RULES_FACT_BALANCE] = RULES_KIND_NUMBER,
	[RULES_FACT_OVERDUE_AMOUNT] = RULES_KIND_NUMBER,
	[RULES_FACT_DISPUTED_AMOUNT] = RULES_KIND_NUMBER,
	[RULES_FACT_UNDISPUTED_OVERDUE] = RULES_KIND_NUMBER,
	[RULES_FACT_OVERDUE_INVOICES] = RULES_KIND_NUMBER,
	[RULES_FACT_DAYS_OVERDUE] = RULES_KIND_NUMBER,
	[RULES_FACT_DAYS_TO_DUE] = RULES_KIND_NUMBER,
	[RULES_FACT_LATE_TREND] = RULES_KIND_NUMBER,
	[RULES_FACT_ON_TIME_RATIO] = RULES_KIND_NUMBER,
	[RULES_FACT_FIRST_MISS] = RULES_KIND_BOOL,
	[RULES_FACT_PROMISES_BROKEN] = RULES_KIND_NUMBER,
	[RULES_FACT_PROMISES_KEPT] = RULES_KIND_NUMBER,
	[RULES_FACT_PROMISE_PENDING] = RULES_KIND_BOOL,
	[RULES_FACT_UNREACHED] = RULES_KIND_NUMBER,
	[RULES_FACT_DAYS_IN_STAGE] = RULES_KIND_NUMBER,
	[RULES_FACT_STAGE] = RULES_KIND_SET,
	[RULES_FACT_SIZE] = RULES_KIND_SET,
	[RULES_FACT_RISK] = RULES_KIND_SET,
	[RULES_FACT_TAGS] = RULES_KIND_TAGS,
	[RULES_FACT_DECISION_MAKER] = RULES_KIND_BOOL,
};

static const char *const task_names[RULES_TASK_COUNT] = {
	"call",
	"visit",
	"letter",
	"email",
	"sms",
	"credit_hold",
	"review",
	"legal_referral",
	"credit_release",
	"approval",
};
static const char *const size_names[RULES_SIZE_COUNT] = {
	"small",
	"medium",
	"large",
};

static const char *const risk_names[RULES_RISK_COUNT] = {
	"A",
	"B",
	"C",
	"D",
	"E",
};

static void
strv_free(char **v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

int
ld_find_stage(const struct ruleset *rs, const char *name)
{
	size_t i;

	for (i = 0; i < rs->nstages; i++) {
		if (rs->stages[i].name != NULL &&
		    strcmp(rs->stages[i].name, name) == 0)
			return (int)i;
	}
	return -1;
}

static void
when_free(struct rules_when *w)
{
	size_t i;

	for (i = 0; i < w->n; i++) {
		free(w->conds[i].stages);
		strv_free(w->conds[i].any, w->conds[i].nany);
		strv_free(w->conds[i].none, w->conds[i].nnone);
	}
	free(w->conds);
}

void
rules_free(struct ruleset *rs)
{
	size_t i;

	if (rs == NULL)
		return;
	for (i = 0; i < rs->nstages; i++) {
		free((char *)rs->stages[i].name);
		free(rs->stages[i].tasks);
		when_free(&rs->stages[i].hold_when);
		when_free(&rs->stages[i].release_when);
		free(rs->stages[i].rules);
	}
	for (i = 0; i < rs->nrules; i++) {
		free((char *)rs->rules[i].name);
		free(rs->rules[i].from);
		when_free(&rs->rules[i].when);
	}
	for (i = 0; i < rs->nalerts; i++) {
		free((char *)rs->alerts[i].name);
		when_free(&rs->alerts[i].when);
	}
	for (i = 0; i < rs->nscripts; i++) {
		free((char *)rs->scripts[i].name);
		strv_free(rs->scripts[i].checklist, rs->scripts[i].nchecklist);
	}
	free(rs->stages);
	free(rs->rules);
	free(rs->alerts);
	free(rs->scripts);
	free(rs->uses.windows);
	rules_cal_free(rs);
	strv_free(rs->files, rs->nfiles);
	free(rs);
}

/* Evaluation helpers. */

static bool
tags_hold(const struct rules_cond *c, const struct rules_factvals *fv)
{
	size_t i, k;
	bool any = c->nany == 0;

	for (i = 0; i < fv->ntags; i++) {
		for (k = 0; k < c->nnone; k++) {
			if (strcmp(fv->tags[i], c->none[k]) == 0)
				return false;
		}
		for (k = 0; !any && k < c->nany; k++) {
			if (strcmp(fv->tags[i], c->any[k]) == 0)
				any = true;
		}
	}
	return any;
}

bool
rules_cond_holds(const struct rules_cond *c, const struct rules_factvals *fv)
{
	double v;

	switch (c->fact) {
	case RULES_FACT_BALANCE:
		v = (double)fv->balance;
		break;
	case RULES_FACT_OVERDUE_AMOUNT:
		v = (double)fv->overdue_amount;
		break;
	case RULES_FACT_DISPUTED_AMOUNT:
		v = (double)fv->disputed_amount;
		break;
	case RULES_FACT_UNDISPUTED_OVERDUE:
		v = (double)fv->undisputed_overdue;
		break;
	case RULES_FACT_OVERDUE_INVOICES:
		v = (double)fv->overdue_invoices;
		break;
	case RULES_FACT_DAYS_OVERDUE:
		v = (double)fv->days_overdue;
		break;
	case RULES_FACT_DAYS_TO_DUE:
		if (!fv->has_days_to_due)
			return false;
		v = (double)fv->days_to_due;
		break;
	case RULES_FACT_LATE_TREND:
		v = fv->late_trend;
		break;
	case RULES_FACT_ON_TIME_RATIO:
		if (!fv->has_on_time_ratio)
			return false;
		v = fv->on_time_ratio;
		break;
	case RULES_FACT_PROMISES_BROKEN:
		v = (double)fv->promises_broken[c->window];
		break;
	case RULES_FACT_PROMISES_KEPT:
		v = (double)fv->promises_kept[c->window];
		break;
	case RULES_FACT_UNREACHED:
		v = (double)fv->unreached;
		break;
	case RULES_FACT_DAYS_IN_STAGE:
		v = (double)fv->days_in_stage;
		break;
	case RULES_FACT_FIRST_MISS:
		return fv->first_miss == c->value;
	case RULES_FACT_PROMISE_PENDING:
		return fv->promise_pending == c->value;
	case RULES_FACT_STAGE:
		return rules_stageset_has(c->stages, fv->stage);
	case RULES_FACT_SIZE:
		return (c->mask >> fv->size) & 1;
	case RULES_FACT_RISK:
		return fv->has_risk && ((c->mask >> fv->risk) & 1);
	case RULES_FACT_TAGS:
		return tags_hold(c, fv);
	case RULES_FACT_DECISION_MAKER:
		return fv->decision_maker == c->value;
	default:
		return false;
	}
	return (!c->has_min || v >= c->min) && (!c->has_max || v <= c->max);
}

bool
rules_when_holds(const struct rules_when *w, const struct rules_factvals *fv)
{
	size_t i;

	for (i = 0; i < w->n; i++) {
		if (!rules_cond_holds(&w->conds[i], fv))
			return false;
	}
	return true;
}

const char *
rules_fact_name(enum rules_fact f)
{
	return (unsigned)f < RULES_FACT_COUNT ? fact_names[f] : "?";
}

enum rules_fact_kind
rules_fact_kind(enum rules_fact f)
{
	return fact_kinds[(unsigned)f < RULES_FACT_COUNT ? f : 0];
}

const char *
rules_task_type_name(enum rules_task_type t)
{
	return (unsigned)t < RULES_TASK_COUNT ? task_names[t] : "?";
}

const char *
rules_size_name(enum rules_size s)
{
	return (unsigned)s < RULES_SIZE_COUNT ? size_names[s] : "?";
}

const char *
rules_risk_name(int risk)
{
	return risk >= 0 && risk < RULES_RISK_COUNT ? risk_names[risk] : "?";
}

const struct cal_schedule *
rules_schedule_for(
    const struct ruleset *rs, int named, enum rules_task_type type)
{
	if (named >= 0 && (size_t)named < rs->nschedules)
		return &rs->schedules[named];
	if (type < RULES_TASK_COUNT && rs->type_schedule[type] >= 0)
		return &rs->schedules[rs->type_schedule[type]];
	return NULL;
}

int
rules_stage_lookup(const struct ruleset *rs, const char *name, size_t *stage)
{
	int i = ld_find_stage(rs, name);

	if (i == -1)
		return 0;
	*stage = (size_t)i;
	return 1;
}
