/*
 * rules — the rule set (interfaces.md §4): rule files in, an immutable
 * struct ruleset out, every error and warning as FILE:LINE (§4.8).
 *
 * The ruleset is public and read directly by eval and schedule.  It is
 * laid out for evaluating many accounts: stages are an array indexed by
 * position (stage 0 is where accounts start), references are indices,
 * stage sets are bitsets, each stage lists the rules that can leave it,
 * and conditions carry numbers already converted.  Nothing in it changes
 * after rules_load_*() returns; a reload builds a new one (style.md §5).
 */
#ifndef DUNND_RULES_H
#define DUNND_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "calendar.h"
#include "hash.h"
#include "util.h"

/* Every fact of §3, in the order of its table. */
enum rules_fact {
	RULES_FACT_BALANCE,
	RULES_FACT_OVERDUE_AMOUNT,
	RULES_FACT_DISPUTED_AMOUNT,
	RULES_FACT_UNDISPUTED_OVERDUE,
	RULES_FACT_OVERDUE_INVOICES,
	RULES_FACT_DAYS_OVERDUE,
	RULES_FACT_DAYS_TO_DUE,
	RULES_FACT_LATE_TREND,
	RULES_FACT_ON_TIME_RATIO,
	RULES_FACT_FIRST_MISS,
	RULES_FACT_PROMISES_BROKEN,
	RULES_FACT_PROMISES_KEPT,
	RULES_FACT_PROMISE_PENDING,
	RULES_FACT_UNREACHED,
	RULES_FACT_DAYS_IN_STAGE,
	RULES_FACT_STAGE,
	RULES_FACT_SIZE,
	RULES_FACT_RISK,
	RULES_FACT_TAGS,
	RULES_FACT_DECISION_MAKER,
	RULES_FACT_COUNT
};

/* How a fact is tested (§4.2). */
enum rules_fact_kind {
	RULES_KIND_NUMBER, /* { min; max; } (+ window for promises_*) */
	RULES_KIND_BOOL,   /* true / false */
	RULES_KIND_SET,    /* stage, size, risk: a name or a list */
	RULES_KIND_TAGS,   /* { any; none; } */
};

enum rules_task_type {
	RULES_TASK_CALL,
	RULES_TASK_VISIT,
	RULES_TASK_LETTER,
	RULES_TASK_EMAIL,
	RULES_TASK_SMS,
	RULES_TASK_CREDIT_HOLD,
	RULES_TASK_REVIEW,
	RULES_TASK_LEGAL_REFERRAL,
	/* dunnd's own (§4.5): never a stage or alert task's type. */
	RULES_TASK_CREDIT_RELEASE,
	RULES_TASK_APPROVAL,
	RULES_TASK_COUNT
};

enum rules_size {
	RULES_SIZE_SMALL,
	RULES_SIZE_MEDIUM,
	RULES_SIZE_LARGE,
	RULES_SIZE_COUNT
};

/* Risk classes "A" ... "E" are the numbers 0 ... 4. */
#define RULES_RISK_COUNT 5

#define RULES_TREND_WINDOW_DEFAULT 6
#define RULES_WINDOW_DEFAULT_S     (90 * 86400)  /* promises_* (§3) */
#define RULES_WINDOW_MAX_S         (366 * 86400) /* §1 */

/*
 * A set of stages: bit (i % 64) of word i / 64 is stage i.  A set has
 * ruleset.stage_words words.
 */
static inline bool
rules_stageset_has(const uint64_t *set, size_t stage)
{
	return (set[stage / 64] >> (stage % 64)) & 1;
}

/*
 * One condition of a `when` or `hold_when`.  Only the members of its
 * fact's kind are meaningful.
 */
struct rules_cond {
	enum rules_fact fact;
	int line;
	/* RULES_KIND_NUMBER: inclusive bounds; neither = "is present". */
	bool has_min, has_max;
	double min, max;
	/* promises_broken/_kept: the window, and its index in uses.windows. */
	int64_t window_s;
	size_t window;
	/* RULES_KIND_BOOL. */
	bool value;
	/* stage: a stage set; size, risk: bit (1 << value) for each value. */
	uint64_t *stages;
	unsigned mask;
	/* tags: any/none, n = 0 when not given. */
	char **any, **none;
	size_t nany, nnone;
};

/* All conditions must hold; an empty set always holds. */
struct rules_when {
	struct rules_cond *conds;
	size_t n;
};

/* One cadence step of a stage (§4.5). */
struct rules_task {
	enum rules_task_type type;
	int script;      /* index in ruleset.scripts, -1 = none */
	int64_t after_s; /* clock reading of the first task */
	int64_t every_s; /* 0 = no repeat */
	int max;         /* with every: tasks per entry, 0 = unlimited;
			    without every the step yields one task */
	int schedule;    /* index in ruleset.schedules, -1 = by type */
	bool approval;   /* §4.5: an approval task in its place */
	bool supersede;  /* §4.5: cancels the step's previous open task */
	int line;
};

struct rules_stage {
	const char *name;
	const char *file;
	int line;
	struct rules_task *tasks;
	size_t ntasks;
	bool has_hold; /* hold_when given (an empty one always holds) */
	struct rules_when hold_when;
	bool has_release; /* release_when given (§4.5 credit release) */
	struct rules_when release_when;
	/*
	 * The rules that can leave this stage, in rule order: from holds
	 * it and to differs from it (§4.4 step 3).
	 */
	size_t *rules;
	size_t nrules;
};

struct rules_rule {
	const char *name;
	const char *file;
	int line;
	uint64_t *from; /* stage set */
	bool from_all;  /* written as "*" */
	size_t to;
	struct rules_when when;
};

struct rules_alert {
	const char *name;
	const char *file;
	int line;
	struct rules_when when;
	enum rules_task_type type;
	int script;         /* -1 = none */
	int schedule;       /* index in ruleset.schedules, -1 = by type */
	int64_t cooldown_s; /* 0 = none: fires once per account */
};

struct rules_script {
	const char *name;
	const char *file;
	int line;
	char **checklist;
	size_t nchecklist;
};

/* What the set tests: the scheduler derives due moments from it (§4.3). */
struct rules_uses {
	uint32_t facts;   /* bit (1 << RULES_FACT_x) per fact tested */
	int64_t *windows; /* distinct promises_* windows, ascending */
	size_t nwindows;
	int64_t max_window_s; /* the longest of them, 0 = none */
};

/*
 * grace_days beyond this (more days than years 1970-9999 hold) mean the
 * same: every settled invoice is on time.  Keeps due + grace in 32 bits.
 */
#define RULES_GRACE_DAYS_MAX 3000000

struct ruleset {
	struct rules_stage *stages;
	size_t nstages; /* >= 1 */
	size_t stage_words;
	struct rules_rule *rules;
	size_t nrules;
	struct rules_alert *alerts;
	size_t nalerts;
	struct rules_script *scripts;
	size_t nscripts;
	int trend_window;        /* 2-12 */
	int grace_days;          /* 0 - RULES_GRACE_DAYS_MAX */
	int64_t promise_grace_s; /* >= 0 */
	struct calendar *cal;    /* §4.9; NULL: every moment is working time */
	struct cal_schedule *schedules;
	size_t nschedules;
	/* The schedule whose types hold each task type, -1 = none. */
	int type_schedule[RULES_TASK_COUNT];
	struct rules_uses uses;
	char version[HASH_HEX_LEN]; /* rules_version (§4.7) */
	char **files;               /* file names in read order */
	size_t nfiles;
};

/*
 * The facts of one account at one moment, as rules_cond_holds() reads
 * them.  The caller owns every pointer.  Absent facts (§3) have their
 * has_ flag false.  promises_broken/_kept hold one count per window of
 * uses.windows (same index), NULL when the set uses none.
 */
struct rules_factvals {
	int64_t balance;
	int64_t overdue_amount;
	int64_t disputed_amount;
	int64_t undisputed_overdue;
	int64_t overdue_invoices;
	int64_t days_overdue;
	int64_t days_to_due;
	double late_trend;
	double on_time_ratio;
	const int64_t *promises_broken;
	const int64_t *promises_kept;
	int64_t unreached;
	int64_t days_in_stage;
	size_t stage;
	enum rules_size size;
	int risk; /* 0-4 = A-E */
	const char *const *tags;
	size_t ntags;
	bool has_days_to_due, has_on_time_ratio, has_risk;
	bool first_miss, promise_pending, decision_maker;
};

/*
 * Loads the rule set of directory dir: its files ending in ".conf" and
 * not starting with ".", in byte order of names (§4.1).  Every error and
 * warning is appended to ds (then sorted by file and line); returns NULL
 * when there is an error.  The caller frees with rules_free().
 */
struct ruleset *rules_load_dir(const char *dir, struct diags *ds);

/*
 * The same from n files in memory (simulate, §8): names[i] holds
 * texts[i].  Names are filtered and ordered as in a directory.
 */
struct ruleset *rules_load_files(const char *const *names,
    const char *const *texts, size_t n, struct diags *ds);

void rules_free(struct ruleset *rs);

/*
 * check-rules and dunnd --check: loads dir, prints every error and
 * warning to out, one per line.  Returns 0 without errors, else 1.
 */
int rules_check(const char *dir, FILE *out);

/* Whether one condition holds; a condition on an absent fact is false. */
bool rules_cond_holds(
    const struct rules_cond *c, const struct rules_factvals *fv);
/* Whether every condition of w holds. */
bool rules_when_holds(
    const struct rules_when *w, const struct rules_factvals *fv);

/*
 * The schedule of a stage or alert task (§4.9): schedule index named
 * (rules_task.schedule, rules_alert.schedule; -1 = none), else the one
 * whose types hold type, else NULL (then only the calendar applies).
 * A view into rs.
 */
const struct cal_schedule *rules_schedule_for(
    const struct ruleset *rs, int named, enum rules_task_type type);

/* Names as written in rule files ("days_overdue", "credit_hold", "A"). */
const char *rules_fact_name(enum rules_fact f);
enum rules_fact_kind rules_fact_kind(enum rules_fact f);
const char *rules_task_type_name(enum rules_task_type t);
const char *rules_size_name(enum rules_size s);
const char *rules_risk_name(int risk);
/* 1 found (index in *stage), 0 no such stage. */
int rules_stage_lookup(
    const struct ruleset *rs, const char *name, size_t *stage /* OUT */);

#endif
