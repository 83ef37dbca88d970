/*
 * rules_items — phases 4 and 5 of a load: the top level of each file
 * (the five lists concatenated in file order, the single settings at
 * most once across all files), the names of every list, then each
 * script, stage with its tasks, rule and alert (interfaces.md §4.1-4.6).
 *
 * Called by the loader (rules_load.c) through rules_int.h; calls the
 * conditions (rules_cond.c), the calendar's part (rules_calendar.c),
 * the floor (rules_setting.c) and the rule set's names (rules.c).
 */
#include "rules_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libconfig.h>

/* An item's label in messages, `rule "name"`; long names are cut. */
#define LABEL_MAX 128

#define TASK_LIST                                                              \
	"call, visit, letter, email, sms, credit_hold, review, legal_referral"

static const char *const list_names[L_COUNT] = {
	"stages",
	"rules",
	"alerts",
	"scripts",
	"schedules",
};
static const char *const kind_names[L_COUNT] = {
	"stage",
	"rule",
	"alert",
	"script",
	"schedule",
};
static const char *const single_names[S_COUNT] = {
	"trend_window",
	"grace_days",
	"promise_grace",
};

static const char *const stage_keys[] = { "name", "tasks", "hold_when",
	"release_when", NULL };
static const char *const task_keys[] = { "type", "script", "schedule", "after",
	"every", "max", "approval", "supersede", NULL };
static const char *const rule_keys[] = { "name", "from", "to", "when", NULL };
static const char *const alert_keys[] = { "name", "when", "task", "cooldown",
	NULL };
static const char *const alert_task_keys[] = { "type", "script", "schedule",
	NULL };
static const char *const script_keys[] = { "name", "checklist", NULL };

static int
find_script(const struct ruleset *rs, const char *name)
{
	size_t i;

	for (i = 0; i < rs->nscripts; i++) {
		if (rs->scripts[i].name != NULL &&
		    strcmp(rs->scripts[i].name, name) == 0)
			return (int)i;
	}
	return -1;
}

/* Phase 4: the top level. */

static void
single_setting(struct loader *ld, const char *file, config_setting_t *m, int k)
{
	int64_t v;

	if (ld->single_file[k] != NULL) {
		err_at(ld, file, line_of(m), "%s is set twice (first at %s:%d)",
		    single_names[k], ld->single_file[k], ld->single_line[k]);
		return;
	}
	ld->single_file[k] = file;
	ld->single_line[k] = line_of(m);
	switch (k) {
	case S_TREND_WINDOW:
		if (!ld_get_integer(m, &v) || v < 2 || v > 12)
			err_at(ld, file, line_of(m),
			    "trend_window must be an integer from 2 to 12");
		else
			ld->rs->trend_window = (int)v;
		break;
	case S_GRACE_DAYS:
		if (!ld_get_integer(m, &v) || v < 0)
			err_at(ld, file, line_of(m),
			    "grace_days must be a whole number of days, 0 or more");
		else /* more days than 1970-9999 holds: all on time */
			ld->rs->grace_days = v > RULES_GRACE_DAYS_MAX
			    ? RULES_GRACE_DAYS_MAX
			    : (int)v;
		break;
	case S_PROMISE_GRACE:
		ld_get_duration(ld, file, m, "", "promise_grace", false,
		    &ld->rs->promise_grace_s);
		break;
	}
}

void
ld_top_level(struct loader *ld, struct src *s)
{
	config_setting_t *root = config_root_setting(&s->cfg), *m;
	const char *name;
	int i, j, n = config_setting_length(root), len;
	int k;

	for (i = 0; i < n; i++) {
		m = config_setting_get_elem(root, i);
		name = config_setting_name(m);
		for (k = 0; k < L_COUNT; k++) {
			if (strcmp(name, list_names[k]) == 0)
				break;
		}
		if (k < L_COUNT) {
			if (!is_collection(m)) {
				err_at(ld, s->name, line_of(m),
				    "%s must be a list ( { ... }, { ... } )",
				    name);
				continue;
			}
			if (k == L_SCHEDULES && ld->schedules_at.s == NULL) {
				ld->schedules_at.s = m;
				ld->schedules_at.file = s->name;
			}
			len = config_setting_length(m);
			ld->items[k] = xreallocarray(ld->items[k],
			    ld->nitems[k] + (size_t)len + 1,
			    sizeof(*ld->items[k]));
			for (j = 0; j < len; j++) {
				ld->items[k][ld->nitems[k]].s =
				    config_setting_get_elem(m, j);
				ld->items[k][ld->nitems[k]++].file = s->name;
			}
			continue;
		}
		for (k = 0; k < S_COUNT; k++) {
			if (strcmp(name, single_names[k]) == 0)
				break;
		}
		if (k < S_COUNT) {
			single_setting(ld, s->name, m, k);
			continue;
		}
		if (rules_cal_top_level(ld, s->name, m))
			continue;
		err_at(ld, s->name, line_of(m),
		    "unknown setting \"%s\" (allowed: stages, rules, alerts, scripts, schedules, trend_window, grace_days, promise_grace, calendar, holidays, extra_workdays)",
		    name);
	}
}

/* Phase 5: items. */

/* The name, file and line slots of item i of list. */
static void
item_slots(struct ruleset *rs, int list, size_t i, const char ***name,
    const char ***file, int **line)
{
	switch (list) {
	case L_STAGES:
		*name = &rs->stages[i].name;
		*file = &rs->stages[i].file;
		*line = &rs->stages[i].line;
		break;
	case L_RULES:
		*name = &rs->rules[i].name;
		*file = &rs->rules[i].file;
		*line = &rs->rules[i].line;
		break;
	case L_ALERTS:
		*name = &rs->alerts[i].name;
		*file = &rs->alerts[i].file;
		*line = &rs->alerts[i].line;
		break;
	case L_SCRIPTS:
		*name = &rs->scripts[i].name;
		*file = &rs->scripts[i].file;
		*line = &rs->scripts[i].line;
		break;
	default:
		*name = &rs->schedules[i].name;
		*file = &rs->schedules[i].file;
		*line = &rs->schedules[i].line;
		break;
	}
}

/*
 * Checks the name of item i of list and records name, file and line.  A
 * missing, bad or repeated name is reported and not recorded, so lookups
 * find the first definition.  Returns false when the item is not a group.
 */
bool
ld_take_name(struct loader *ld, int list, size_t i)
{
	const struct item *it = &ld->items[list][i];
	const char *kind = kind_names[list], *name, **nslot, **fslot, **of;
	config_setting_t *m;
	int *lslot, *ol;
	size_t j;

	item_slots(ld->rs, list, i, &nslot, &fslot, &lslot);
	*fslot = it->file;
	*lslot = line_of(it->s);
	if (!config_setting_is_group(it->s)) {
		err_at(ld, it->file, line_of(it->s),
		    "each entry of %s must be a group { name = \"...\"; ... }",
		    list_names[list]);
		return false;
	}
	if ((m = ld_need(ld, it->file, it->s, kind, "name")) == NULL)
		return true;
	if (config_setting_type(m) != CONFIG_TYPE_STRING ||
	    *(name = config_setting_get_string(m)) == '\0') {
		err_at(ld, it->file, line_of(m),
		    "%s: name must be a non-empty string", kind);
		return true;
	}
	if (list == L_STAGES && strcmp(name, "*") == 0) {
		err_at(ld, it->file, line_of(m),
		    "stage name \"*\" is reserved: in from it means every stage");
		return true;
	}
	for (j = 0; j < i; j++) {
		const char **on;

		item_slots(ld->rs, list, j, &on, &of, &ol);
		if (*on != NULL && strcmp(*on, name) == 0) {
			err_at(ld, it->file, line_of(m),
			    "%s \"%s\" is defined twice (first at %s:%d)", kind,
			    name, *of, *ol);
			return true;
		}
	}
	*nslot = xstrdup(name);
	return true;
}

/* type and script of a stage task or an alert's task. */
static bool
task_type_script(struct loader *ld, const char *file, config_setting_t *g,
    const char *what, enum rules_task_type *type, int *script)
{
	config_setting_t *m;
	const char *v;
	bool ok = true;
	int i;

	*script = -1;
	if ((m = ld_need(ld, file, g, what, "type")) == NULL) {
		ok = false;
	} else if (config_setting_type(m) != CONFIG_TYPE_STRING) {
		err_at(ld, file, line_of(m),
		    "%s: type must be one of " TASK_LIST, what);
		ok = false;
	} else {
		v = config_setting_get_string(m);
		for (i = 0; i < RULES_TASK_COUNT; i++) {
			if (strcmp(v, rules_task_type_name(i)) == 0)
				break;
		}
		if (i == RULES_TASK_COUNT) {
			err_at(ld, file, line_of(m),
			    "%s: unknown task type \"%s\" (allowed: " TASK_LIST
			    ")",
			    what, v);
			ok = false;
		} else if (i == RULES_TASK_CREDIT_RELEASE ||
		    i == RULES_TASK_APPROVAL) {
			err_at(ld, file, line_of(m),
			    "%s: task type \"%s\" is dunnd's own (dunnd "
			    "emits it itself), not allowed in a stage or alert",
			    what, v);
			ok = false;
		} else {
			*type = (enum rules_task_type)i;
		}
	}
	if ((m = config_setting_get_member(g, "script")) == NULL)
		return ok;
	if (config_setting_type(m) != CONFIG_TYPE_STRING) {
		err_at(ld, file, line_of(m),
		    "%s: script must be the name of a script", what);
		return false;
	}
	v = config_setting_get_string(m);
	if ((*script = find_script(ld->rs, v)) == -1) {
		err_at(ld, file, line_of(m),
		    "%s: unknown script \"%s\" (not in scripts)", what, v);
		return false;
	}
	return ok;
}

/* An optional boolean member key of group g (default false). */
static void
get_bool(struct loader *ld, const char *file, config_setting_t *g,
    const char *what, const char *key, bool *v)
{
	config_setting_t *m = config_setting_get_member(g, key);

	if (m == NULL)
		return;
	if (config_setting_type(m) != CONFIG_TYPE_BOOL) {
		err_at(ld, file, line_of(m), "%s: %s must be true or false",
		    what, key);
		return;
	}
	*v = config_setting_get_bool(m);
}

static void
parse_task(struct loader *ld, const char *file, config_setting_t *g,
    const char *stage, int pos, struct rules_task *t)
{
	char what[DIAG_MSG_MAX];
	config_setting_t *m;
	int64_t v;

	snprintf(what, sizeof(what), "%s, task %d", stage, pos);
	t->line = line_of(g);
	t->script = -1;
	t->schedule = -1;
	t->type = RULES_TASK_COUNT; /* not known yet */
	if (!config_setting_is_group(g)) {
		err_at(ld, file, line_of(g),
		    "%s must be a group { type = \"...\"; ... }", what);
		return;
	}
	ld_check_keys(ld, file, g, what, task_keys);
	task_type_script(ld, file, g, what, &t->type, &t->script);
	t->schedule = rules_cal_task_schedule(
	    ld, file, g, what, t->type, t->type != RULES_TASK_COUNT);
	get_bool(ld, file, g, what, "approval", &t->approval);
	get_bool(ld, file, g, what, "supersede", &t->supersede);
	if ((m = config_setting_get_member(g, "after")) != NULL)
		ld_get_duration(ld, file, m, what, "after", false, &t->after_s);
	if ((m = config_setting_get_member(g, "every")) != NULL)
		ld_get_duration(ld, file, m, what, "every", true, &t->every_s);
	if ((m = config_setting_get_member(g, "max")) != NULL) {
		if (!ld_get_integer(m, &v) || v < 1 || v > INT_MAX) {
			err_at(ld, file, line_of(m),
			    "%s: max must be a whole number of tasks, 1 or more",
			    what);
		} else {
			t->max = (int)v;
			if (v > 1 &&
			    config_setting_get_member(g, "every") == NULL)
				warn_at(ld, file, line_of(m),
				    "%s: max = %d has no effect without every (the step creates one task)",
				    what, t->max);
		}
	}
}

void
ld_parse_stage(struct loader *ld, size_t i)
{
	const struct item *it = &ld->items[L_STAGES][i];
	struct rules_stage *st = &ld->rs->stages[i];
	char label[LABEL_MAX], what[DIAG_MSG_MAX];
	config_setting_t *m;
	int k, n;

	ld_item_label("stage", it->s, label, sizeof(label));
	ld_check_keys(ld, it->file, it->s, label, stage_keys);
	if ((m = config_setting_get_member(it->s, "tasks")) != NULL) {
		if (!is_collection(m)) {
			err_at(ld, it->file, line_of(m),
			    "%s: tasks must be a list of tasks ( { type = \"call\"; ... }, ... )",
			    label);
		} else {
			n = config_setting_length(m);
			st->tasks = xcalloc((size_t)n, sizeof(*st->tasks));
			st->ntasks = (size_t)n;
			for (k = 0; k < n; k++)
				parse_task(ld, it->file,
				    config_setting_get_elem(m, k), label, k + 1,
				    &st->tasks[k]);
		}
	}
	if ((m = config_setting_get_member(it->s, "hold_when")) != NULL) {
		st->has_hold = true;
		snprintf(what, sizeof(what), "%s: hold_when", label);
		ld_parse_when(ld, it->file, m, what, &st->hold_when);
	}
	if ((m = config_setting_get_member(it->s, "release_when")) != NULL) {
		st->has_release = true;
		snprintf(what, sizeof(what), "%s: release_when", label);
		ld_parse_when(ld, it->file, m, what, &st->release_when);
		/* P10: the release would lift at once the hold the stage sets. */
		for (k = 0; k < (int)st->ntasks; k++) {
			if (st->tasks[k].type == RULES_TASK_CREDIT_HOLD)
				err_at(ld, it->file, st->tasks[k].line,
				    "%s, task %d: a credit_hold task is not allowed in a stage with release_when (the release would lift the hold at once)",
				    label, k + 1);
		}
	}
}

void
ld_parse_rule(struct loader *ld, size_t i)
{
	const struct item *it = &ld->items[L_RULES][i];
	struct rules_rule *r = &ld->rs->rules[i];
	char label[LABEL_MAX], what[DIAG_MSG_MAX];
	config_setting_t *from, *to, *when;
	struct stage_arg a = { 0 };
	const char *v;
	bool ok;
	int st;

	ld_item_label("rule", it->s, label, sizeof(label));
	ld_check_keys(ld, it->file, it->s, label, rule_keys);
	ok = r->name != NULL;
	from = ld_need(ld, it->file, it->s, label, "from");
	to = ld_need(ld, it->file, it->s, label, "to");
	when = ld_need(ld, it->file, it->s, label, "when");
	r->from = xcalloc(ld->rs->stage_words, sizeof(*r->from));
	if (from != NULL) {
		snprintf(what, sizeof(what), "%s: from", label);
		a.set = r->from;
		a.star_ok = true;
		if (!ld_each_name(ld, it->file, from, what,
		        "a stage name, \"*\" or a list of stage names",
		        ld_take_stage, &a))
			ok = false;
		r->from_all = a.star;
	} else {
		ok = false;
	}
	if (to == NULL) {
		ok = false;
	} else if (config_setting_type(to) != CONFIG_TYPE_STRING) {
		err_at(ld, it->file, line_of(to),
		    "%s: to must be the name of one stage", label);
		ok = false;
	} else if ((st = ld_find_stage(
	                ld->rs, v = config_setting_get_string(to))) == -1) {
		if (strcmp(v, "*") == 0)
			err_at(ld, it->file, line_of(to),
			    "%s: to must name one stage (\"*\" is only for from)",
			    label);
		else
			err_at(ld, it->file, line_of(to),
			    "%s: to: unknown stage \"%s\"", label, v);
		ok = false;
	} else {
		r->to = (size_t)st;
		ld->to_ok[i] = true;
	}
	if (when != NULL) {
		snprintf(what, sizeof(what), "%s: when", label);
		if (!ld_parse_when(ld, it->file, when, what, &r->when))
			ok = false;
	} else {
		ok = false;
	}
	ld->rule_ok[i] = ok;
}

void
ld_parse_alert(struct loader *ld, size_t i)
{
	const struct item *it = &ld->items[L_ALERTS][i];
	struct rules_alert *al = &ld->rs->alerts[i];
	char label[LABEL_MAX], what[DIAG_MSG_MAX];
	config_setting_t *m;

	ld_item_label("alert", it->s, label, sizeof(label));
	ld_check_keys(ld, it->file, it->s, label, alert_keys);
	al->script = -1;
	al->schedule = -1;
	if ((m = ld_need(ld, it->file, it->s, label, "when")) != NULL) {
		snprintf(what, sizeof(what), "%s: when", label);
		ld_parse_when(ld, it->file, m, what, &al->when);
	}
	if ((m = ld_need(ld, it->file, it->s, label, "task")) != NULL) {
		snprintf(what, sizeof(what), "%s: task", label);
		if (!config_setting_is_group(m)) {
			err_at(ld, it->file, line_of(m),
			    "%s must be a group { type = \"review\"; script = \"...\"; }",
			    what);
		} else {
			ld_check_keys(ld, it->file, m, what, alert_task_keys);
			al->type = RULES_TASK_COUNT; /* not known yet */
			task_type_script(
			    ld, it->file, m, what, &al->type, &al->script);
			al->schedule = rules_cal_task_schedule(ld, it->file, m,
			    what, al->type, al->type != RULES_TASK_COUNT);
			/* P10: a hold belongs to a stage, which can release it. */
			if (al->type == RULES_TASK_CREDIT_HOLD)
				err_at(ld, it->file,
				    line_of(
				        config_setting_get_member(m, "type")),
				    "%s: a credit_hold task is not allowed in an alert (only as a stage task, where a stage's release_when can lift it)",
				    what);
		}
	}
	if ((m = config_setting_get_member(it->s, "cooldown")) != NULL)
		ld_get_duration(
		    ld, it->file, m, label, "cooldown", true, &al->cooldown_s);
}

void
ld_parse_script(struct loader *ld, size_t i)
{
	const struct item *it = &ld->items[L_SCRIPTS][i];
	struct rules_script *sc = &ld->rs->scripts[i];
	char label[LABEL_MAX];
	config_setting_t *m, *e;
	int k, n;

	ld_item_label("script", it->s, label, sizeof(label));
	ld_check_keys(ld, it->file, it->s, label, script_keys);
	if ((m = ld_need(ld, it->file, it->s, label, "checklist")) == NULL)
		return;
	if (!is_collection(m)) {
		err_at(ld, it->file, line_of(m),
		    "%s: checklist must be a list of strings [ \"...\", ... ]",
		    label);
		return;
	}
	n = config_setting_length(m);
	sc->checklist = xcalloc((size_t)n, sizeof(*sc->checklist));
	for (k = 0; k < n; k++) {
		e = config_setting_get_elem(m, k);
		if (config_setting_type(e) != CONFIG_TYPE_STRING) {
			err_at(ld, it->file, line_of(e),
			    "%s: checklist must be a list of strings [ \"...\", ... ]",
			    label);
			continue;
		}
		sc->checklist[sc->nchecklist++] =
		    xstrdup(config_setting_get_string(e));
	}
}
