/*
 * ctl_cmd_explain — dunnctl explain: an account's facts, the verdicts of
 * the rules and alerts condition by condition, its history and open
 * tasks (also the report of each account test-rules runs).
 *
 * Called by dunnctl.c's command table and ctl_cmd_rules.c through
 * ctl_int.h.
 */
#include "ctl_int.h"

#include <string.h>

/* §3's money facts, shown as amounts. */
static bool
is_money_fact(const char *name)
{
	static const char *const names[] = { "balance", "overdue_amount",
		"disputed_amount", "undisputed_overdue", NULL };
	size_t i;

	for (i = 0; names[i] != NULL; i++) {
		if (strcmp(name, names[i]) == 0)
			return true;
	}
	return false;
}

/*
 * explain shows money in one unit, major units with two decimals as in
 * its facts: a copy of obj (a test, or a history's facts) whose integer
 * members are amounts (every one when all, else those of money facts).
 */
static json_t *
money_view(json_t *obj, bool all)
{
	json_t *out, *v;
	const char *k;
	struct buf b;

	if (!json_is_object(obj))
		return json_incref(obj);
	out = json_object();
	buf_init(&b);
	json_object_foreach(obj, k, v)
	{
		if (json_is_integer(v) && (all || is_money_fact(k)))
			json_object_set_new(
			    out, k, json_string(ctl_money(&b, v, NULL)));
		else
			json_object_set(out, k, v);
	}
	buf_fini(&b);
	return out;
}

static void
explain_facts(json_t *facts, const char *cur)
{
	const char *k;
	json_t *v;
	size_t w = 0;
	struct buf b;

	ctl_say("facts\n");
	json_object_foreach(facts, k, v)
	{
		if (strlen(k) > w)
			w = strlen(k);
	}
	buf_init(&b);
	json_object_foreach(facts, k, v)
	{
		ctl_say("  %-*s  %s\n", (int)w, k,
		    is_money_fact(k) ? ctl_money(&b, v, cur) : ctl_text(&b, v));
	}
	if (json_object_size(facts) == 0)
		ctl_say("  none\n");
	buf_fini(&b);
}

/* The rules' or the alerts' verdicts, condition by condition. */
static void
explain_verdicts(const char *title, json_t *list)
{
	json_t *r, *c, *from, *name, *until;
	const char *fact;
	size_t i, k;
	struct buf b;

	ctl_say("%s\n", title);
	if (json_array_size(list) == 0)
		ctl_say("  none\n");
	buf_init(&b);
	json_array_foreach(list, i, r)
	{
		bool holds = json_is_true(json_object_get(r, "holds"));

		if ((name = json_object_get(r, "rule")) == NULL &&
		    (name = json_object_get(r, "alert")) == NULL)
			name = json_object_get(r, "name");
		buf_clear(&b);
		ctl_put(&b, holds ? "  + " : "  - ", name);
		if ((from = json_object_get(r, "from")) != NULL)
			buf_printf(&b, ": %s,",
			    json_is_true(from) ? "from this stage"
			                       : "not from this stage");
		else
			buf_printf(&b, ":");
		buf_printf(&b, " %s", holds ? "holds" : "does not hold");
		until = json_object_get(r, "cooldown_until");
		if (until != NULL && !json_is_null(until))
			ctl_put(&b, ", cooldown until ", until);
		buf_append(&b, "", 1);
		ctl_say("%s\n", buf_data(&b));
		json_array_foreach(json_object_get(r, "conditions"), k, c)
		{
			buf_clear(&b);
			buf_printf(&b, "      %c ",
			    json_is_true(json_object_get(c, "holds")) ? '+'
			                                              : '-');
			buf_printf(&b, "%-18s ",
			    json_string_value(json_object_get(c, "fact"))
			        ? json_string_value(json_object_get(c, "fact"))
			        : "-");
			fact = json_string_value(json_object_get(c, "fact"));
			if (fact != NULL && is_money_fact(fact)) {
				json_t *t = money_view(
				    json_object_get(c, "test"), true);

				ctl_money_text(
				    &b, json_object_get(c, "value"), NULL);
				ctl_put(&b, "  test ", t);
				json_decref(t);
			} else {
				ctl_value_text(
				    &b, json_object_get(c, "value"), false);
				ctl_put(
				    &b, "  test ", json_object_get(c, "test"));
			}
			buf_append(&b, "", 1);
			ctl_say("%s\n", buf_data(&b));
		}
	}
	buf_fini(&b);
}

static void
explain_history(json_t *history)
{
	json_t *h;
	size_t i;
	struct buf b;

	ctl_say("history\n");
	if (json_array_size(history) == 0)
		ctl_say("  none\n");
	buf_init(&b);
	json_array_foreach(history, i, h)
	{
		buf_clear(&b);
		ctl_put(&b, "  ", json_object_get(h, "at"));
		ctl_put(&b, "  ", json_object_get(h, "from"));
		ctl_put(&b, " -> ", json_object_get(h, "to"));
		ctl_put(&b, "  rule ", json_object_get(h, "rule"));
		if (json_object_size(json_object_get(h, "facts")) > 0) {
			json_t *f =
			    money_view(json_object_get(h, "facts"), false);

			ctl_put(&b, "  ", f);
			json_decref(f);
		}
		buf_append(&b, "", 1);
		ctl_say("%s\n", buf_data(&b));
	}
	buf_fini(&b);
}

/* explain: a report of one account, section after section. */
void
ctl_explain_report(struct ctl *ctl, const char *line, json_t *rec, void *arg)
{
	json_t *tasks = json_object_get(rec, "open_tasks");
	json_t *next = json_object_get(rec, "next");
	json_t *name = json_object_get(rec, "name"), *task;
	struct table t;
	struct buf b;
	size_t i;

	(void)ctl;
	(void)line;
	(void)arg;
	buf_init(&b);
	ctl_put(&b, "account ", json_object_get(rec, "account"));
	if (json_is_string(name))
		ctl_put(&b, " (", name), buf_printf(&b, ")");
	ctl_put(&b, ": stage ", json_object_get(rec, "stage"));
	if (json_is_true(json_object_get(rec, "paused")))
		buf_printf(&b, ", paused");
	if (json_is_true(json_object_get(rec, "credit_held")))
		buf_printf(&b, ", credit held");
	buf_append(&b, "", 1);
	ctl_say("%s\n", buf_data(&b));
	explain_facts(json_object_get(rec, "facts"), ctl_currency(rec));
	explain_verdicts("rules", json_object_get(rec, "rules"));
	explain_verdicts("alerts", json_object_get(rec, "alerts"));
	explain_history(json_object_get(rec, "history"));
	ctl_say("open tasks\n");
	ctl_table_init(&t, ctl_open_task_cols);
	json_array_foreach(tasks, i, task)
	{
		ctl_task_cells(&t, task, true);
	}
	if (ctl_table_rows(&t) > 0)
		ctl_table_print(&t, 2);
	else
		ctl_say("  none\n");
	ctl_table_fini(&t);
	/* §4.5: what waits for a person's sign-off, and what it gates. */
	json_array_foreach(tasks, i, task)
	{
		json_t *gated = json_object_get(task, "for");

		if (!json_is_object(gated))
			continue;
		buf_clear(&b);
		ctl_put(
		    &b, "  pending approval ", json_object_get(task, "task"));
		ctl_put(&b, " gates a ", json_object_get(gated, "type"));
		if (json_object_get(gated, "script") != NULL)
			ctl_put(
			    &b, " (script ", json_object_get(gated, "script")),
			    buf_printf(&b, ")");
		ctl_put(&b, ", ", json_object_get(task, "source"));
		buf_append(&b, "", 1);
		ctl_say("%s\n", buf_data(&b));
	}
	/* The last tasks closed, with the outcome of each done one. */
	tasks = json_object_get(rec, "recent_tasks");
	if (json_array_size(tasks) > 0)
		ctl_say("recent tasks\n");
	json_array_foreach(tasks, i, task)
	{
		buf_clear(&b);
		ctl_put(&b, "  ", json_object_get(task, "task"));
		ctl_put(&b, " ", json_object_get(task, "type"));
		ctl_put(&b, " ", json_object_get(task, "status"));
		if (json_object_get(task, "result") != NULL) {
			ctl_put(&b, ": ", json_object_get(task, "result"));
			ctl_put(&b, " at ", json_object_get(task, "done_at"));
		}
		if (json_object_get(task, "note") != NULL)
			ctl_put(&b, " - ", json_object_get(task, "note"));
		buf_append(&b, "", 1);
		ctl_say("%s\n", buf_data(&b));
	}
	buf_clear(&b);
	if (json_is_object(next) && json_object_get(next, "at") != NULL) {
		ctl_put(&b, "next  ", json_object_get(next, "at"));
		ctl_put(&b, "  ", json_object_get(next, "what"));
	} else
		buf_printf(&b, "next  nothing due");
	buf_append(&b, "", 1);
	ctl_say("%s\n", buf_data(&b));
	buf_fini(&b);
}

int
ctl_cmd_explain(struct ctl *ctl)
{
	const char *account;
	json_t *req;

	if (ctl_parse_args(ctl, NULL, &account, 1) != 1)
		ctl_die_usage("explain needs ACCOUNT");
	req = json_pack("{s:s}", "cmd", "explain");
	ctl_set_string(req, "account", account);
	return ctl_simple(ctl, req, ctl_explain_report);
}
