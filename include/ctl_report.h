/*
 * ctl_report — how dunnctl shows `report kpi`, `report aging` on a
 * terminal and `metrics` (§7): tables when piped, and on a terminal
 * also charts drawn with Unicode block characters (bars, sparklines).
 * It only formats records received from dunnd; --json never comes here.
 */
#ifndef DUNND_CTL_REPORT_H
#define DUNND_CTL_REPORT_H

#include <stdbool.h>
#include <stdio.h>

#include <jansson.h>

/* report kpi: recs holds the month records in the order received. */
void ctl_report_kpi(json_t *recs, FILE *out, bool tty);
/* report aging on a terminal: per stage and currency, a bar per bucket. */
void ctl_report_aging_chart(json_t *recs, FILE *out);
/* metrics: the exposition text of the record, as sent. */
void ctl_report_metrics(json_t *rec, FILE *out);

/* Formats helpers shared with the tests. */
/* A sparkline of n values (NaN: a gap) scaled between their min and max. */
void ctl_sparkline(const double *v, size_t n, char *out, size_t outlen);
/* A bar of width * part / whole cells, eighths included. */
void ctl_bar(double part, double whole, int width, char *out, size_t outlen);

#endif
