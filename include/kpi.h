/*
 * kpi — the collection KPIs of `report kpi` (§7): per local calendar
 * month and currency, DSO, the collection effectiveness index, the
 * promise-kept rate and the roll rates between stages, with the
 * balances they are made of, computed from the stored events as now
 * known (a reversal or a history import restates every month).
 */
#ifndef DUNND_KPI_H
#define DUNND_KPI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define KPI_MONTHS_DEFAULT 6   /* §7 */
#define KPI_MONTHS_MAX     120 /* ten years: enough for any trend */

/*
 * Aging classes of a month-end balance by days past due (P9): not yet
 * due (<= 0), in collection (1-90), doubtful (91-180), bad (181-365),
 * dead (366 and more).
 */
#define KPI_NCLASS 5
extern const char *const kpi_class_names[KPI_NCLASS];
extern const int kpi_class_max[KPI_NCLASS - 1]; /* 0, 90, 180, 365 */

struct engine;
struct ruleset;
struct store;

/*
 * Ingest's hook into report kpi's daily totals (one row per currency,
 * effective day and due day, summed): an invoice adds its amount as
 * invoiced on its issue day; an application of money adds its amount
 * as applied on kpi_app_day(), and its undoing (a reversal) subtracts
 * it.  Runs in the caller's transaction; -1 on a database error
 * (logged).
 */
int kpi_note(struct store *s, const char *currency, int32_t eff, int32_t due,
    int64_t invoiced, int64_t applied);
/*
 * The day from which an application at instant at to an invoice issued
 * on day issued counts in R (§7: money applied before the first instant
 * of D + 1, on invoices issued on or before D): the later of the two.
 */
int32_t kpi_app_day(int64_t at, int32_t issued);

/*
 * At start, before serving: makes the daily totals match the portfolio
 * zone.  A new database (no invoice yet) only records the zone; one
 * whose totals were built for another zone, or never (an older
 * database), gets them rebuilt from every invoice and application, in
 * one transaction.  -1 on a database error (logged).
 */
int kpi_prepare(struct engine *e);

/*
 * A report runs in a thread of its own, on a read-only connection whose
 * snapshot is the database as of the last commit, so that the loop goes
 * on serving (ingest, the feed) meanwhile.
 *
 * kpi_start(), on the loop's thread outside any transaction: copies
 * what the report needs of memory (the accounts' ids, stages and
 * currencies, the promise verdicts, the stage names of rs), opens the
 * snapshot and starts the thread, which calls wake(wake_arg) (when not
 * NULL) as it ends.  NULL when it cannot (logged).
 */
struct kpi_job;
struct kpi_job *kpi_start(struct engine *e, const struct ruleset *rs,
    int64_t now, int months, void (*wake)(void *), void *wake_arg);
/* Whether the thread is done (any thread may ask). */
bool kpi_ended(struct kpi_job *j);
/*
 * Waits for the thread (asking it to stop first when abort), then
 * appends to out one object per month (oldest first: the month of now
 * and the months - 1 before it) and currency (in byte order), with the
 * members of §7 and the extras README lists, and frees j.  -1 with err
 * when the snapshot could not be read or abort.
 */
int kpi_finish(
    struct kpi_job *j, bool abort, json_t *out, char *err, size_t errlen);

#endif
