/*
 * ctl_cmd_list — dunnctl's listings of accounts and tasks: accounts,
 * tasks, tasks --open and the collector's queue, tasks --workable.
 *
 * Called by dunnctl.c's command table through ctl_int.h.
 */
#include "ctl_int.h"

#include <stdint.h>
#include <string.h>

#include "clock.h"
#include "rules.h"

static const struct col account_cols[] = {
	{ "ACCOUNT", false },
	{ "STAGE", false },
	{ "BALANCE", true },
	{ "OVERDUE", true },
	{ "DISPUTED", true },
	{ "DAYS", true },
	{ "BROKEN", true },
	{ "TAGS", false },
	{ NULL, false },
};

static void
account_row(struct ctl *ctl, const char *line, json_t *rec, void *arg)
{
	struct listing *l = arg;
	const char *cur = ctl_currency(rec);
	json_t *tags, *tag;
	struct buf b;
	size_t i;

	(void)ctl;
	(void)line;
	buf_init(&b);
	ctl_table_add(&l->t, ctl_field(&b, rec, "account"));
	/* 80 columns: "paused" rides with the stage, the currency with
	 * the balance (the row's other amounts are in it too). */
	buf_clear(&b);
	ctl_value_text(&b, json_object_get(rec, "stage"), false);
	if (json_is_true(json_object_get(rec, "paused")))
		buf_printf(&b, " (paused)");
	buf_append(&b, "", 1);
	ctl_table_add(&l->t, buf_data(&b));
	ctl_table_add(
	    &l->t, ctl_money(&b, json_object_get(rec, "balance"), cur));
	ctl_table_add(
	    &l->t, ctl_money(&b, json_object_get(rec, "overdue_amount"), NULL));
	/* Most accounts have no dispute: "-" keeps the table quiet. */
	ctl_table_add(&l->t,
	    json_integer_value(json_object_get(rec, "disputed_amount")) == 0
	        ? "-"
	        : ctl_money(&b, json_object_get(rec, "disputed_amount"), NULL));
	ctl_table_add(&l->t, ctl_field(&b, rec, "days_overdue"));
	ctl_table_add(&l->t, ctl_field(&b, rec, "promises_broken"));
	tags = json_object_get(rec, "tags");
	buf_clear(&b);
	json_array_foreach(tags, i, tag)
	    buf_printf(&b, "%s%s", i > 0 ? "," : "", json_string_value(tag));
	buf_append(&b, "", 1);
	ctl_table_add(&l->t, json_array_size(tags) > 0 ? buf_data(&b) : "-");
	buf_fini(&b);
}

int
ctl_cmd_accounts(struct ctl *ctl)
{
	struct opt opts[] = { { "--stage", "S", NULL }, { NULL, NULL, NULL } };
	struct listing l = { .none = "no accounts" };
	struct view v = { account_row, ctl_listing_done, &l, false };
	json_t *req;

	ctl_parse_args(ctl, opts, NULL, 0);
	req = json_pack("{s:s}", "cmd", "accounts");
	if (opts[0].value != NULL) {
		ctl_set_string(req, "stage", opts[0].value);
		l.none = "no accounts in that stage";
	}
	return ctl_listing_exchange(
	    ctl, account_cols, ctl_request_line(req), &v);
}

static const struct col task_cols[] = {
	{ "TASK", false },
	{ "ACCOUNT", false },
	{ "TYPE", false },
	{ "STAGE", false },
	{ "PRIORITY", true },
	{ "STATUS", false },
	{ "CREATED", false },
	{ "SOURCE", false },
	{ NULL, false },
};

/* explain's open tasks: the account and the status go without saying. */
const struct col ctl_open_task_cols[] = {
	{ "TASK", false },
	{ "TYPE", false },
	{ "STAGE", false },
	{ "PRIORITY", true },
	{ "CREATED", false },
	{ "SOURCE", false },
	{ NULL, false },
};

/* "2026-11-27T09:00:00+08:00" as "2026-11-27 09:00" (local, §1). */
static const char *
minute(struct buf *b, json_t *v)
{
	const char *s = json_string_value(v);

	if (s == NULL || strlen(s) < 19 || (s[10] != 'T' && s[10] != 't'))
		return ctl_text(b, v);
	buf_clear(b);
	buf_printf(b, "%.10s %.5s", s, s + 11);
	buf_append(b, "", 1);
	return buf_data(b);
}

void
ctl_task_cells(struct table *t, json_t *rec, bool open_only)
{
	struct buf b;

	buf_init(&b);
	ctl_table_add(t, ctl_field(&b, rec, "task"));
	if (!open_only)
		ctl_table_add(t, ctl_field(&b, rec, "account"));
	ctl_table_add(t, ctl_field(&b, rec, "type"));
	ctl_table_add(t, ctl_field(&b, rec, "stage"));
	ctl_table_add(t, ctl_field(&b, rec, "priority"));
	if (!open_only)
		ctl_table_add(t, ctl_field(&b, rec, "status"));
	ctl_table_add(t, minute(&b, json_object_get(rec, "created")));
	ctl_table_add(t, ctl_field(&b, rec, "source"));
	buf_fini(&b);
}

static void
task_row(struct ctl *ctl, const char *line, json_t *rec, void *arg)
{
	struct listing *l = arg;

	(void)ctl;
	(void)line;
	ctl_task_cells(&l->t, rec, false);
}

/* The collector's queue (tasks --workable): when, and whom to ask for. */
static const struct col workable_cols[] = {
	{ "TASK", false },
	{ "ACCOUNT", false },
	{ "TYPE", false },
	{ "PRIORITY", true },
	{ "FROM", false },
	{ "UNTIL", false },
	{ "CONTACT", false },
	{ "SCRIPT", false },
	{ NULL, false },
};

static void
workable_row(struct ctl *ctl, const char *line, json_t *rec, void *arg)
{
	struct listing *l = arg;
	json_t *contact = json_object_get(rec, "contact");
	const char *ask = json_string_value(json_object_get(rec, "ask_for"));
	struct buf b;

	(void)ctl;
	(void)line;
	buf_init(&b);
	ctl_table_add(&l->t, ctl_field(&b, rec, "task"));
	ctl_table_add(&l->t, ctl_field(&b, rec, "account"));
	ctl_table_add(&l->t, ctl_field(&b, rec, "type"));
	ctl_table_add(&l->t, ctl_field(&b, rec, "priority"));
	ctl_table_add(&l->t, minute(&b, json_object_get(rec, "not_before")));
	ctl_table_add(&l->t, minute(&b, json_object_get(rec, "not_after")));
	buf_clear(&b);
	if (json_is_object(contact))
		buf_printf(&b, "%s (%s)",
		    json_string_value(json_object_get(contact, "name")),
		    json_string_value(json_object_get(contact, "role")));
	if (ask != NULL)
		buf_printf(
		    &b, "%sask for the %s", buf_size(&b) ? "; " : "", ask);
	if (buf_size(&b) == 0)
		buf_printf(&b, "-");
	buf_append(&b, "", 1);
	ctl_table_add(&l->t, buf_data(&b));
	ctl_table_add(&l->t, ctl_field(&b, rec, "script"));
	buf_fini(&b);
}

int
ctl_cmd_tasks(struct ctl *ctl)
{
	struct opt opts[] = { { "--open", NULL, NULL }, { "--type", "T", NULL },
		{ "--account", "A", NULL }, { "--workable", NULL, NULL },
		{ "--at", "TIME", NULL }, { NULL, NULL, NULL } };
	struct listing l = { .none = "no tasks" };
	struct view v = { task_row, ctl_listing_done, &l, false };
	json_t *req;
	int64_t at;
	const char *why;
	int i;

	ctl_parse_args(ctl, opts, NULL, 0);
	req = json_pack("{s:s}", "cmd", "tasks");
	if (opts[0].value != NULL)
		json_object_set_new(req, "open", json_true());
	/* §7: --workable lists open tasks; --at only with it. */
	if (opts[3].value != NULL) {
		json_object_set_new(req, "workable", json_true());
		v.record = workable_row;
		l.none = "no workable tasks";
	}
	if (opts[4].value != NULL) {
		if (opts[3].value == NULL)
			ctl_die_usage("tasks: --at goes with --workable");
		if (clock_parse_ts(
		        opts[4].value, strlen(opts[4].value), &at, &why) == -1)
			ctl_die_usage("tasks: --at: %s", why);
		ctl_set_string(req, "at", opts[4].value);
	}
	if (opts[1].value != NULL) {
		/* The task types are fixed by §4.1: a typo is a usage error. */
		for (i = 0; i < RULES_TASK_COUNT; i++) {
			if (strcmp(opts[1].value, rules_task_type_name(i)) == 0)
				break;
		}
		if (i == RULES_TASK_COUNT)
			ctl_die_usage(
			    "tasks: unknown task type \"%s\"", opts[1].value);
		ctl_set_string(req, "type", opts[1].value);
	}
	if (opts[2].value != NULL)
		ctl_set_string(req, "account", opts[2].value);
	return ctl_listing_exchange(ctl,
	    opts[3].value != NULL ? workable_cols : task_cols,
	    ctl_request_line(req), &v);
}
