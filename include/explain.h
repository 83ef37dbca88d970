/*
 * explain — read-only views of the portfolio for operators (§7):
 * `explain ACCOUNT`, `report aging` and `simulate`.  Nothing here
 * changes an account, the feed or the store.
 */
#ifndef DUNND_EXPLAIN_H
#define DUNND_EXPLAIN_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

struct acct;
struct engine;
struct ruleset;

/* The §7 `explain` object of a at now (NULL on a database error). */
json_t *explain_account(struct engine *e, struct acct *a, int64_t now);

/*
 * `report aging` at now: one object per stage (in stage order) and
 * currency (byte order) with the five buckets and the total, appended
 * to out (an array).
 */
void explain_aging(struct engine *e, int64_t now, json_t *out);

/*
 * `simulate`: the stage each account would end in under rs at now
 * (transitions only, from its stage mapped by name, else rs's first),
 * for the accounts where it differs: {"account","from","to"} appended
 * to out.
 */
void explain_simulate(
    struct engine *e, const struct ruleset *rs, int64_t now, json_t *out);

#endif
