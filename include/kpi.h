/*
 * kpi — the collection KPIs of `report kpi` (§7): per local calendar
 * month and currency, DSO, the collection effectiveness index, the
 * promise-kept rate and the roll rates between stages, with the
 * balances they are made of, computed from the stored events as now
 * known (a reversal or a history import restates every month).
 */
#ifndef DUNND_KPI_H
#define DUNND_KPI_H

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
 * Appends to out one object per month (oldest first: the month of now
 * and the months - 1 before it) and currency (in byte order), with the
 * members of §7 and the extras README lists.  Reads the engine's
 * accounts and the store with read-only queries, changes nothing.  -1
 * when the store could not be read (logged); out may then hold part.
 */
int kpi_report(struct engine *e, const struct ruleset *rs, int64_t now,
    int months, json_t *out);

#endif
