/*
 * ctl_cmd_report — dunnctl report: aging as a table (piped) or charts
 * (ctl_report.c, on a terminal), with grand totals per currency; kpi,
 * drawn by ctl_report.c once every record is in.
 *
 * Called by dunnctl.c's command table through ctl_int.h.
 */
#include "ctl_int.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl_report.h"
#include "kpi.h"

#define SCREEN_WIDTH 80 /* human tables aim at a classic terminal */
#define BAR_MIN      10 /* report aging: width of the share bars */
#define BAR_MAX      30

static const char *const aging_buckets[] = { "not_due", "1-30", "31-60",
	"61-90", "91+", NULL };

static const struct col aging_cols[] = {
	{ "STAGE", false },
	{ "CUR", false },
	{ "BUCKET", false },
	{ "AMOUNT", true },
	{ "SHARE", false },
	{ "", true }, /* percent */
	{ NULL, false },
};

static void
keep_record(struct ctl *ctl, const char *line, json_t *rec, void *arg)
{
	(void)ctl;
	(void)line;
	json_array_append(arg, rec);
}

/*
 * report aging: a currency in more than one stage gets a record of its
 * own with stage "all": each bucket and the total summed over its
 * stages (amounts of different currencies are never added).
 */
static void
add_grand_totals(json_t *recs)
{
	json_t *sums = json_object(), *rec, *sum, *v;
	const char *cur;
	size_t i, k, n = json_array_size(recs);

	for (i = 0; i < n; i++) {
		rec = json_array_get(recs, i);
		if ((cur = json_string_value(
		         json_object_get(rec, "currency"))) == NULL)
			continue;
		if ((sum = json_object_get(sums, cur)) == NULL) {
			sum = json_pack("{s:s,s:s,s:i}", "stage", "all",
			    "currency", cur, "stages", 0);
			json_object_set_new(sums, cur, sum);
		}
		json_object_set_new(sum, "stages",
		    json_integer(
		        json_integer_value(json_object_get(sum, "stages")) +
		        1));
		for (k = 0; k <= 5; k++) {
			const char *key = k < 5 ? aging_buckets[k] : "total";

			v = json_object_get(sum, key);
			json_object_set_new(sum, key,
			    json_integer(json_integer_value(v) +
			        json_integer_value(json_object_get(rec, key))));
		}
	}
	/* In the order each currency first appears. */
	for (i = 0; i < n; i++) {
		cur = json_string_value(
		    json_object_get(json_array_get(recs, i), "currency"));
		sum = cur != NULL ? json_object_get(sums, cur) : NULL;
		if (sum == NULL)
			continue;
		if (json_integer_value(json_object_get(sum, "stages")) > 1)
			json_array_append(recs, sum);
		json_object_del(sums, cur);
	}
	json_decref(sums);
}

/*
 * report aging: per stage and currency, one row per bucket with its
 * share of that stage's total as a bar of '#', the bars as wide as 80
 * columns leave (BAR_MIN to BAR_MAX).
 */
static void
aging_done(struct ctl *ctl, json_t *fin, void *arg)
{
	json_t *recs = arg, *rec;
	struct table t;
	struct buf b;
	size_t w[6], i, k, n, bar, used, cell;
	json_int_t total;

	(void)ctl;
	if (json_array_size(recs) == 0) {
		if (json_is_true(json_object_get(fin, "ok")))
			ctl_say("no open amounts\n");
		return;
	}
	add_grand_totals(recs);
	ctl_table_init(&t, aging_cols);
	buf_init(&b);
	json_array_foreach(recs, i, rec)
	{
		for (k = 0; aging_buckets[k] != NULL; k++) {
			ctl_table_add(
			    &t, k == 0 ? ctl_field(&b, rec, "stage") : "");
			ctl_table_add(
			    &t, k == 0 ? ctl_field(&b, rec, "currency") : "");
			ctl_table_add(&t, aging_buckets[k]);
			ctl_table_add(&t,
			    ctl_money(&b,
			        json_object_get(rec, aging_buckets[k]), NULL));
			ctl_table_add(&t, "");
			ctl_table_add(&t, "");
		}
		ctl_table_add(&t, "");
		ctl_table_add(&t, "");
		ctl_table_add(&t, "total");
		ctl_table_add(
		    &t, ctl_money(&b, json_object_get(rec, "total"), NULL));
		ctl_table_add(&t, "");
		ctl_table_add(&t, "");
	}
	/* The bars get what the other columns leave of the screen. */
	ctl_table_width(&t, w);
	used = w[0] + w[1] + w[2] + w[3] + strlen("100.0%") + 2 * 5;
	bar = used + BAR_MIN < SCREEN_WIDTH ? SCREEN_WIDTH - used : BAR_MIN;
	if (bar > BAR_MAX)
		bar = BAR_MAX;
	json_array_foreach(recs, i, rec)
	{
		total = json_integer_value(json_object_get(rec, "total"));
		for (k = 0; aging_buckets[k] != NULL; k++) {
			json_int_t part = json_integer_value(
			    json_object_get(rec, aging_buckets[k]));
			int64_t pm = ctl_share(part, total, 1000);

			/* Six rows a record: five buckets and the total. */
			cell = (i * 6 + k) * t.ncols;
			n = (size_t)ctl_share(part, total, (int64_t)bar);
			free(t.cells[cell + 4]);
			t.cells[cell + 4] = xmalloc(n + 1);
			memset(t.cells[cell + 4], '#', n);
			t.cells[cell + 4][n] = '\0';
			buf_clear(&b);
			if (total > 0)
				buf_printf(&b, "%d.%d%%", (int)(pm / 10),
				    (int)(pm % 10));
			else
				buf_printf(&b, "-");
			buf_append(&b, "", 1);
			free(t.cells[cell + 5]);
			t.cells[cell + 5] = xstrdup(buf_data(&b));
		}
	}
	ctl_table_print(&t, 0);
	ctl_table_fini(&t);
	buf_fini(&b);
}

/* report kpi: drawn by ctl_report once every record is in. */
static void
kpi_done(struct ctl *ctl, json_t *fin, void *arg)
{
	(void)ctl;
	if (json_is_true(json_object_get(fin, "ok")))
		ctl_report_kpi(arg, stdout, isatty(STDOUT_FILENO));
}

/* report aging on a terminal: charts (ctl_report); piped: the table. */
static void
aging_show(struct ctl *ctl, json_t *fin, void *arg)
{
	if (isatty(STDOUT_FILENO) && json_array_size(arg) > 0)
		ctl_report_aging_chart(arg, stdout);
	else
		aging_done(ctl, fin, arg);
}

int
ctl_cmd_report(struct ctl *ctl)
{
	struct opt opts[] = { { "--months", "N", NULL }, { NULL, NULL, NULL } };
	const char *name;
	json_t *recs = json_array(), *req;
	struct view v = { keep_record, aging_show, recs, false };
	int rc;

	if (ctl_parse_args(ctl, opts, &name, 1) != 1)
		ctl_die_usage("report needs a report name: aging or kpi");
	req = json_pack("{s:s,s:s}", "cmd", "report", "name", name);
	if (strcmp(name, "kpi") == 0) {
		v.done = kpi_done;
		if (opts[0].value != NULL) {
			json_int_t n = ctl_parse_seq("--months", opts[0].value);

			if (n < 1 || n > KPI_MONTHS_MAX)
				ctl_die_usage(
				    "report kpi: --months must be 1-%d",
				    KPI_MONTHS_MAX);
			json_object_set_new(req, "months", json_integer(n));
		}
	} else if (strcmp(name, "aging") != 0 || opts[0].value != NULL)
		ctl_die_usage(
		    "report: unknown report \"%s\" (there are: aging, kpi [--months N])",
		    name);
	rc = ctl_exchange(ctl, ctl_request_line(req), &v);
	json_decref(recs);
	return rc;
}
