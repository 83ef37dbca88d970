/*
 * ctl_report — dunnctl's rendering of report kpi, report aging (on a
 * terminal) and metrics (ctl_report.h).  Pure formatting of received
 * records: money as major.minor with two decimals computed with
 * integers (§1), ratios as the daemon sent them, rounded only here.
 *
 * Charts use U+2581-U+2588 (sparklines, eight heights) and
 * U+2588-U+258F (bars in eighths of a cell); they are drawn only when
 * stdout is a terminal, so pipes and files get plain tables.
 */
#include "ctl_report.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kpi.h"
#include "util.h"

#define BAR_WIDTH 30

static const char *const spark[8] = { "\u2581", "\u2582", "\u2583", "\u2584",
	"\u2585", "\u2586", "\u2587", "\u2588" };
/* A bar cell filled k/8 from the left, k = 1..8. */
static const char *const eighth[9] = { "", "\u258f", "\u258e", "\u258d",
	"\u258c", "\u258b", "\u258a", "\u2589", "\u2588" };

void
ctl_sparkline(const double *v, size_t n, char *out, size_t outlen)
{
	double lo = INFINITY, hi = -INFINITY;
	size_t i, used = 0;
	int h;

	for (i = 0; i < n; i++)
		if (!isnan(v[i])) {
			lo = v[i] < lo ? v[i] : lo;
			hi = v[i] > hi ? v[i] : hi;
		}
	out[0] = '\0';
	for (i = 0; i < n; i++) {
		const char *c = " ";

		if (!isnan(v[i])) {
			h = hi > lo ? (int)((v[i] - lo) / (hi - lo) * 7 + 0.5)
			            : 3;
			c = spark[h];
		}
		if (used + strlen(c) + 1 > outlen)
			break;
		memcpy(out + used, c, strlen(c) + 1);
		used += strlen(c);
	}
}

void
ctl_bar(double part, double whole, int width, char *out, size_t outlen)
{
	long cells =
	    whole > 0 && part > 0 ? lround(part / whole * width * 8) : 0;
	size_t used = 0;
	const char *c;

	out[0] = '\0';
	if (cells > (long)width * 8)
		cells = (long)width * 8;
	for (; cells > 0; cells -= 8) {
		c = eighth[cells >= 8 ? 8 : cells];
		if (used + strlen(c) + 1 > outlen)
			break;
		memcpy(out + used, c, strlen(c) + 1);
		used += strlen(c);
	}
}

/* Money in minor units as major.minor (two decimals). */
static const char *
money(int64_t v, char *buf, size_t len)
{
	uint64_t a = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;

	snprintf(buf, len, "%s%llu.%02llu", v < 0 ? "-" : "",
	    (unsigned long long)(a / 100), (unsigned long long)(a % 100));
	return buf;
}

static int64_t
ival(json_t *rec, const char *key)
{
	return json_integer_value(json_object_get(rec, key));
}

/* A ratio member, NaN when absent (its denominator was 0). */
static double
rval(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_number(v) ? json_number_value(v) : NAN;
}

static const char *
num(double v, const char *fmt, char *buf, size_t len)
{
	if (isnan(v))
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, fmt, v);
	return buf;
}

/* The currencies of recs, in order of first appearance. */
static size_t
currencies(json_t *recs, const char ***out)
{
	const char **v = xcalloc(json_array_size(recs) + 1, sizeof(*v));
	size_t n = 0, i, j;
	json_t *rec;
	const char *c;

	json_array_foreach(recs, i, rec)
	{
		c = json_string_value(json_object_get(rec, "currency"));
		for (j = 0; j < n && strcmp(v[j], c) != 0; j++)
			;
		if (j == n)
			v[n++] = c;
	}
	*out = v;
	return n;
}

/* The records of one currency, oldest month first (as received). */
static size_t
of_currency(json_t *recs, const char *cur, json_t ***out)
{
	json_t **v = xcalloc(json_array_size(recs) + 1, sizeof(*v)), *rec;
	size_t n = 0, i;

	json_array_foreach(recs, i, rec)
	{
		if (strcmp(json_string_value(json_object_get(rec, "currency")),
		        cur) == 0)
			v[n++] = rec;
	}
	*out = v;
	return n;
}

/*
 * "Are we collecting faster than last month?": the two latest months
 * with a DSO, compared (a lower DSO collects faster).
 */
static void
verdict(FILE *out, json_t **v, size_t n, const char *cur)
{
	long i, last = -1, prev = -1;
	char a[32], b[32];

	for (i = (long)n - 1; i >= 0; i--)
		if (!isnan(rval(v[i], "dso"))) {
			if (last == -1)
				last = i;
			else if (prev == -1)
				prev = i;
		}
	if (last == -1 || prev == -1) {
		fprintf(out,
		    "%s: not enough months with invoices to compare DSO\n",
		    cur);
		return;
	}
	fprintf(out, "%s: DSO %s %s days vs %s %s days: %s\n", cur,
	    json_string_value(json_object_get(v[last], "month")),
	    num(rval(v[last], "dso"), "%.1f", a, sizeof(a)),
	    json_string_value(json_object_get(v[prev], "month")),
	    num(rval(v[prev], "dso"), "%.1f", b, sizeof(b)),
	    rval(v[last], "dso") < rval(v[prev], "dso")
	        ? "collecting faster"
	        : (rval(v[last], "dso") > rval(v[prev], "dso")
	                  ? "collecting slower"
	                  : "the same pace"));
}

static void
spark_line(FILE *out, const char *label, json_t **v, size_t n, const char *key,
    double scale, const char *fmt)
{
	double *x = xcalloc(n + 1, sizeof(*x));
	char line[8 * KPI_MONTHS_MAX + 8], a[32];
	size_t i;

	for (i = 0; i < n; i++)
		x[i] = rval(v[i], key) * scale;
	ctl_sparkline(x, n, line, sizeof(line));
	fprintf(out, "  %-17s %s  %s\n", label, line,
	    num(n > 0 ? x[n - 1] : NAN, fmt, a, sizeof(a)));
	free(x);
}

/* On a terminal: the trend of each KPI and the latest month's aging. */
static void
charts(FILE *out, json_t **v, size_t n, const char *cur)
{
	json_t *aging = json_object_get(v[n - 1], "aging");
	int64_t e = ival(v[n - 1], "E"), part;
	char bar[4 * BAR_WIDTH + 1], m[32];
	int cl;

	fprintf(out,
	    "%s, %s to %s (sparkline: oldest left; latest value right)\n", cur,
	    json_string_value(json_object_get(v[0], "month")),
	    json_string_value(json_object_get(v[n - 1], "month")));
	spark_line(out, "DSO (days)", v, n, "dso", 1, "%.1f");
	spark_line(out, "CEI (%)", v, n, "cei", 100, "%.1f%%");
	spark_line(
	    out, "promises kept (%)", v, n, "promise_kept_rate", 100, "%.1f%%");
	spark_line(
	    out, "tasks w/ outcome", v, n, "outcome_share", 100, "%.1f%%");
	fprintf(out, "  aging of E at %s\n",
	    json_string_value(json_object_get(v[n - 1], "end")));
	for (cl = 0; cl < KPI_NCLASS; cl++) {
		part = ival(aging, kpi_class_names[cl]);
		ctl_bar((double)part, (double)e, BAR_WIDTH, bar, sizeof(bar));
		fprintf(out, "    %-13s %-*s %14s  %5.1f%%\n",
		    kpi_class_names[cl],
		    /* %-*s pads bytes: a block is 3 bytes, one column. */
		    (int)(strlen(bar) + BAR_WIDTH - (strlen(bar) / 3)), bar,
		    money(part, m, sizeof(m)),
		    e > 0 ? 100.0 * (double)part / (double)e : 0.0);
	}
}

void
ctl_report_kpi(json_t *recs, FILE *out, bool tty)
{
	const char **curs;
	json_t **v, *rec, *roll;
	size_t nc, n, c, i;
	char b[32], s[32], e[32], cc[32], x1[32], x2[32], x3[32], x4[32];
	const char *k;
	json_t *r;
	int cl;

	if (json_array_size(recs) == 0) {
		fprintf(out, "no accounts\n");
		return;
	}
	fprintf(out, "%-7s  %-3s  %14s  %14s  %14s  %14s  %6s  %6s  %6s  %6s\n",
	    "MONTH", "CUR", "B", "S", "E", "C", "DSO", "CEI", "KEPT",
	    "OUTCOME");
	json_array_foreach(recs, i, rec)
	{
		fprintf(out,
		    "%-7s  %-3s  %14s  %14s  %14s  %14s  %6s  %6s  %6s  %6s\n",
		    json_string_value(json_object_get(rec, "month")),
		    json_string_value(json_object_get(rec, "currency")),
		    money(ival(rec, "B"), b, sizeof(b)),
		    money(ival(rec, "S"), s, sizeof(s)),
		    money(ival(rec, "E"), e, sizeof(e)),
		    money(ival(rec, "C"), cc, sizeof(cc)),
		    num(rval(rec, "dso"), "%.1f", x1, sizeof(x1)),
		    num(rval(rec, "cei") * 100, "%.1f%%", x2, sizeof(x2)),
		    num(rval(rec, "promise_kept_rate") * 100, "%.1f%%", x3,
		        sizeof(x3)),
		    num(rval(rec, "outcome_share") * 100, "%.1f%%", x4,
		        sizeof(x4)));
	}
	fprintf(out,
	    "\nroll rates (of the accounts in a stage at the month's start, the share in a later stage at its end)\n");
	json_array_foreach(recs, i, rec)
	{
		roll = json_object_get(rec, "roll_rates");
		fprintf(out, "%-7s  %-3s ",
		    json_string_value(json_object_get(rec, "month")),
		    json_string_value(json_object_get(rec, "currency")));
		if (json_object_size(roll) == 0)
			fprintf(out, " -");
		json_object_foreach(roll, k, r)
		    fprintf(out, " %s %.1f%%", k, json_number_value(r) * 100);
		fprintf(out, "\n");
	}
	fprintf(out,
	    "\naging of E by days past due (not_due <= 0, in_collection 1-90, doubtful 91-180, bad 181-365, dead > 365)\n");
	fprintf(out, "%-7s  %-3s", "MONTH", "CUR");
	for (cl = 0; cl < KPI_NCLASS; cl++)
		fprintf(out, "  %14s", kpi_class_names[cl]);
	fprintf(out, "\n");
	json_array_foreach(recs, i, rec)
	{
		fprintf(out, "%-7s  %-3s",
		    json_string_value(json_object_get(rec, "month")),
		    json_string_value(json_object_get(rec, "currency")));
		for (cl = 0; cl < KPI_NCLASS; cl++)
			fprintf(out, "  %14s",
			    money(ival(json_object_get(rec, "aging"),
			              kpi_class_names[cl]),
			        b, sizeof(b)));
		fprintf(out, "\n");
	}
	fprintf(out, "\n");
	nc = currencies(recs, &curs);
	for (c = 0; c < nc; c++) {
		n = of_currency(recs, curs[c], &v);
		if (tty) {
			charts(out, v, n, curs[c]);
			fprintf(out, "\n");
		}
		verdict(out, v, n, curs[c]);
		free(v);
	}
	free(curs);
}

static const char *const buckets[] = { "not_due", "1-30", "31-60", "61-90",
	"91+", NULL };

void
ctl_report_aging_chart(json_t *recs, FILE *out)
{
	json_t *rec;
	int64_t total, part;
	char bar[4 * BAR_WIDTH + 1], m[32];
	size_t i;
	int k;

	json_array_foreach(recs, i, rec)
	{
		total = ival(rec, "total");
		fprintf(out, "%s %s  total %s\n",
		    json_string_value(json_object_get(rec, "stage")),
		    json_string_value(json_object_get(rec, "currency")),
		    money(total, m, sizeof(m)));
		for (k = 0; buckets[k] != NULL; k++) {
			part = ival(rec, buckets[k]);
			ctl_bar((double)part, (double)total, BAR_WIDTH, bar,
			    sizeof(bar));
			fprintf(out, "  %-8s %-*s %14s  %5.1f%%\n", buckets[k],
			    (int)(strlen(bar) + BAR_WIDTH - strlen(bar) / 3),
			    bar, money(part, m, sizeof(m)),
			    total > 0 ? 100.0 * (double)part / (double)total
			              : 0.0);
		}
	}
}

void
ctl_report_metrics(json_t *rec, FILE *out)
{
	const char *t = json_string_value(json_object_get(rec, "text"));

	if (t != NULL)
		fputs(t, out);
}
