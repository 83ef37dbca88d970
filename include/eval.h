/*
 * eval — one evaluation of one account (§4.4): promise verdicts, pause,
 * transitions, the final stage's cadence (§4.5), alerts (§4.6), each
 * change recorded in the feed (§5) inside the engine's current step.
 */
#ifndef DUNND_EVAL_H
#define DUNND_EVAL_H

#include <stdint.h>

#include <jansson.h>

#include "rules.h"

struct acct;
struct engine;

/* Evaluates a at e->now (a step must be open). */
void eval_account(struct engine *e, struct acct *a);

/*
 * The first moment > now at which a's evaluation can change something
 * (§4.3): a fact its rule set tests, a promise break, the next cadence
 * step, an alert cooldown end.  INT64_MAX when none.
 */
int64_t eval_next_due(struct engine *e, const struct acct *a, int64_t now);

/*
 * The moment the engine wakes a up (engine_reschedule): eval_next_due()
 * less the fact changes that cannot change an outcome.  At a fixpoint
 * (evaluating a at now would change nothing), only a change of a
 * condition's truth can: days_overdue 5 -> 6 wakes no one when the rules
 * test days_overdue >= 1 and >= 30, and a when one of whose failing
 * conditions only an event can make hold is not woken for at all.
 * Elsewhere eval_next_due().  Evaluating at the moments skipped would
 * change nothing (§4.3), so the feed is the same; explain's `next` stays
 * eval_next_due()'s.
 */
int64_t eval_next_wake(struct engine *e, const struct acct *a, int64_t now);

/*
 * When a's cadence step k (of its stage) yields its next task if the
 * cadence keeps running, and when alert k's cooldown ends: INT64_MAX
 * when the step is done or stopped (held, paused), or there is no
 * cooldown running.
 */
int64_t eval_step_at(const struct engine *e, const struct acct *a, size_t k);
int64_t eval_cooldown_end(
    const struct engine *e, const struct acct *a, size_t k);

/*
 * The value of fact f in fv as JSON (window: index in uses.windows for
 * promises_*), NULL when the fact is absent.
 */
json_t *eval_fact_json(const struct ruleset *rs,
    const struct rules_factvals *fv, enum rules_fact f, size_t window);

/* Withdraws every open task of a (paused, reload): cancel records. */
void eval_cancel_tasks(
    struct engine *e, struct acct *a, bool stage_only, const char *reason);

/* An instant as the feed writes it: "2026-11-27T09:00:00+08:00". */
json_t *eval_json_ts(int64_t t);

/* A duration as rule files write it: "5d", "36h", "90m". */
void eval_fmt_duration(int64_t s, char buf[32]);

/* The task id of task number num ("T-000417"). */
void eval_task_id(int64_t num, char buf[32]);
/* The number N of task id T-N as eval_task_id() writes it, else -1. */
int64_t eval_task_num(const char *id);

#endif
