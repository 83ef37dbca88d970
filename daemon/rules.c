/*
 * rules — rule files (libconfig) into an immutable struct ruleset.
 *
 * Called by dunnd (start, reload, --check), protocol (simulate) and
 * dunnctl (check-rules).  With conf.c the only includer of <libconfig.h>
 * (and rules_calendar.c, its part for the calendar and schedules of §4.9,
 * which shares the loader through the private rules_int.h).
 *
 * Loading runs in phases; each keeps going after an error, so one run
 * reports every error of the set (interfaces.md §4.8, style.md §4):
 *   1. read the files in byte order of names and hash their bytes into
 *      rules_version (§4.7);
 *   2. prescan each text: refuse @include before libconfig would expand
 *      it (the directive is blanked, so the rest is still checked), and
 *      mark integers beyond 32 bits as 64-bit: libconfig 1.5 truncates
 *      them silently (a balance of 5000000000 would become 705032704);
 *   3. parse with libconfig: at most one syntax error per file;
 *   4. top level: the five lists concatenated in file order, the four
 *      single settings (calendar included) at most once across all files,
 *      the holidays and extra_workdays lists;
 *   5. the names of every list first, so that references resolve across
 *      files in any order; the calendar and schedules (rules_calendar.c);
 *      then every item; then the calendar's warnings that need them all;
 *   6. analysis: unreachable stages, shadowed rules, rule cycles (§4.8).
 * A set with an error is freed and NULL returned: nothing is applied.
 *
 * Invariants of a returned set:
 *   (1) nstages >= 1 and every stage, script, schedule and window index
 *       is valid;
 *   (2) names are unique in each of the five namespaces;
 *   (3) no cycle of rules that can follow each other (§4.8) exists, so an
 *       evaluation in which no fact changed changes nothing.
 */
#include "rules.h"
#include "rules_int.h"

#include <sys/stat.h>

#include <assert.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libconfig.h>

#include "clock.h"

static const char *const fact_names[RULES_FACT_COUNT] = {
	"balance",
	"overdue_amount",
	"disputed_amount",
	"undisputed_overdue",
	"overdue_invoices",
	"days_overdue",
	"days_to_due",
	"late_trend",
	"on_time_ratio",
	"first_miss",
	"promises_broken",
	"promises_kept",
	"promise_pending",
	"unreached",
	"days_in_stage",
	"stage",
	"size",
	"risk",
	"tags",
	"decision_maker",
};

static const enum rules_fact_kind fact_kinds[RULES_FACT_COUNT] = {
	[RULES_FACT_BALANCE] = RULES_KIND_NUMBER,
	[RULES_FACT_OVERDUE_AMOUNT] = RULES_KIND_NUMBER,
	[RULES_FACT_DISPUTED_AMOUNT] = RULES_KIND_NUMBER,
	[RULES_FACT_UNDISPUTED_OVERDUE] = RULES_KIND_NUMBER,
	[RULES_FACT_OVERDUE_INVOICES] = RULES_KIND_NUMBER,
	[RULES_FACT_DAYS_OVERDUE] = RULES_KIND_NUMBER,
	[RULES_FACT_DAYS_TO_DUE] = RULES_KIND_NUMBER,
	[RULES_FACT_LATE_TREND] = RULES_KIND_NUMBER,
	[RULES_FACT_ON_TIME_RATIO] = RULES_KIND_NUMBER,
	[RULES_FACT_FIRST_MISS] = RULES_KIND_BOOL,
	[RULES_FACT_PROMISES_BROKEN] = RULES_KIND_NUMBER,
	[RULES_FACT_PROMISES_KEPT] = RULES_KIND_NUMBER,
	[RULES_FACT_PROMISE_PENDING] = RULES_KIND_BOOL,
	[RULES_FACT_UNREACHED] = RULES_KIND_NUMBER,
	[RULES_FACT_DAYS_IN_STAGE] = RULES_KIND_NUMBER,
	[RULES_FACT_STAGE] = RULES_KIND_SET,
	[RULES_FACT_SIZE] = RULES_KIND_SET,
	[RULES_FACT_RISK] = RULES_KIND_SET,
	[RULES_FACT_TAGS] = RULES_KIND_TAGS,
	[RULES_FACT_DECISION_MAKER] = RULES_KIND_BOOL,
};

static const char *const task_names[RULES_TASK_COUNT] = {
	"call",
	"visit",
	"letter",
	"email",
	"sms",
	"credit_hold",
	"review",
	"legal_referral",
	"credit_release",
	"approval",
};
static const char *const size_names[RULES_SIZE_COUNT] = {
	"small",
	"medium",
	"large",
};

static const char *const risk_names[RULES_RISK_COUNT] = {
	"A",
	"B",
	"C",
	"D",
	"E",
};

static void
strv_free(char **v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

int
ld_find_stage(const struct ruleset *rs, const char *name)
{
	size_t i;

	for (i = 0; i < rs->nstages; i++) {
		if (rs->stages[i].name != NULL &&
		    strcmp(rs->stages[i].name, name) == 0)
			return (int)i;
	}
	return -1;
}

/* Phase 1: reading. */

static bool
conf_name(const char *name)
{
	size_t n = strlen(name);

	return name[0] != '.' && n >= 5 && strcmp(name + n - 5, ".conf") == 0 &&
	    strchr(name, '/') == NULL;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Finishing a good set: what it uses, and per-stage rule lists. */

static int
cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

static void
use_when(struct rules_uses *u, struct rules_when *w, bool assign)
{
	struct rules_cond *c;
	size_t i, k;

	for (i = 0; i < w->n; i++) {
		c = &w->conds[i];
		u->facts |= 1u << c->fact;
		if (!((1u << c->fact) & PROMISES))
			continue;
		if (!assign) {
			u->windows = xreallocarray(
			    u->windows, u->nwindows + 1, sizeof(*u->windows));
			u->windows[u->nwindows++] = c->window_s;
			continue;
		}
		for (k = 0; u->windows[k] != c->window_s; k++)
			;
		c->window = k;
	}
}

static void
use_all(struct ruleset *rs, bool assign)
{
	size_t i;

	for (i = 0; i < rs->nstages; i++) {
		use_when(&rs->uses, &rs->stages[i].hold_when, assign);
		/* §4.3: release_when's facts have due moments too. */
		use_when(&rs->uses, &rs->stages[i].release_when, assign);
	}
	for (i = 0; i < rs->nrules; i++)
		use_when(&rs->uses, &rs->rules[i].when, assign);
	for (i = 0; i < rs->nalerts; i++)
		use_when(&rs->uses, &rs->alerts[i].when, assign);
}

static void
finish(struct ruleset *rs)
{
	struct rules_uses *u = &rs->uses;
	struct rules_stage *st;
	size_t i, k, r;

	use_all(rs, false);
	if (u->nwindows > 0)
		qsort(u->windows, u->nwindows, sizeof(*u->windows), cmp_i64);
	for (i = k = 0; i < u->nwindows; i++) {
		if (k == 0 || u->windows[k - 1] != u->windows[i])
			u->windows[k++] = u->windows[i];
	}
	u->nwindows = k;
	u->max_window_s = k > 0 ? u->windows[k - 1] : 0;
	use_all(rs, true);
	for (i = 0; i < rs->nstages; i++) {
		st = &rs->stages[i];
		st->rules =
		    xcalloc(rs->nrules ? rs->nrules : 1, sizeof(*st->rules));
		for (r = 0; r < rs->nrules; r++) {
			if (rules_stageset_has(rs->rules[r].from, i) &&
			    rs->rules[r].to != i)
				st->rules[st->nrules++] = r;
		}
	}
}

/* The whole load, once the files are in ld->src. */
static struct ruleset *
load(struct loader *ld)
{
	struct ruleset *rs = ld->rs;
	struct hash128 h;
	uint8_t digest[HASH_LEN], lenbuf[8];
	size_t i, k, n0;
	bool all_parsed = true, syntax = false;
	uint64_t n;

	/*
	 * rules_version: each file's length (8 bytes, little-endian), then
	 * its bytes, in read order; the lengths keep "ab"+"c" apart from
	 * "a"+"bc".
	 */
	hash_init(&h);
	for (i = 0; i < ld->nsrc; i++) {
		n = ld->src[i].len;
		for (k = 0; k < 8; k++)
			lenbuf[k] = (uint8_t)(n >> (8 * k));
		hash_update(&h, lenbuf, 8);
		if (ld->src[i].text != NULL)
			hash_update(&h, ld->src[i].text, ld->src[i].len);
	}
	hash_final(&h, digest);
	hash_hex(digest, rs->version);

	n0 = ld->ds->n;
	for (i = 0; i < ld->nsrc; i++) {
		ld->src[i].syntax = SIZE_MAX;
		if (ld->src[i].text != NULL)
			ld_parse_src(ld, &ld->src[i]);
		if (ld->src[i].syntax != SIZE_MAX)
			syntax = true;
	}
	/*
	 * §4.8: with a syntax error only the syntax errors are reported; the
	 * other checks need the whole set and would cascade.
	 */
	if (syntax)
		ld_keep_syntax_only(ld, n0);
	for (i = 0; i < ld->nsrc; i++) {
		if (ld->src[i].parsed && !syntax)
			ld_top_level(ld, &ld->src[i]);
		else
			all_parsed = false;
	}

	rs->nstages = ld->nitems[L_STAGES];
	rs->stage_words = rs->nstages / 64 + 1;
	rs->stages = xcalloc(rs->nstages + 1, sizeof(*rs->stages));
	rs->nrules = ld->nitems[L_RULES];
	rs->rules = xcalloc(rs->nrules + 1, sizeof(*rs->rules));
	rs->nalerts = ld->nitems[L_ALERTS];
	rs->alerts = xcalloc(rs->nalerts + 1, sizeof(*rs->alerts));
	rs->nscripts = ld->nitems[L_SCRIPTS];
	rs->scripts = xcalloc(rs->nscripts + 1, sizeof(*rs->scripts));
	rs->nschedules = ld->nitems[L_SCHEDULES];
	rs->schedules = xcalloc(rs->nschedules + 1, sizeof(*rs->schedules));
	ld->sched_named = xcalloc(rs->nschedules + 1, sizeof(*ld->sched_named));
	ld->rule_ok = xcalloc(rs->nrules + 1, sizeof(*ld->rule_ok));
	ld->to_ok = xcalloc(rs->nrules + 1, sizeof(*ld->to_ok));

	/* Names first: references resolve across files in any order. */
	for (k = 0; k < L_COUNT; k++) {
		for (i = 0; i < ld->nitems[k]; i++)
			ld_take_name(ld, (int)k, i);
	}
	/* The calendar and schedules before the tasks that name them. */
	rules_cal_parse(ld);
	for (i = 0; i < rs->nscripts; i++) {
		if (config_setting_is_group(ld->items[L_SCRIPTS][i].s))
			ld_parse_script(ld, i);
	}
	for (i = 0; i < rs->nstages; i++) {
		if (config_setting_is_group(ld->items[L_STAGES][i].s))
			ld_parse_stage(ld, i);
	}
	for (i = 0; i < rs->nrules; i++) {
		if (config_setting_is_group(ld->items[L_RULES][i].s))
			ld_parse_rule(ld, i);
	}
	for (i = 0; i < rs->nalerts; i++) {
		if (config_setting_is_group(ld->items[L_ALERTS][i].s))
			ld_parse_alert(ld, i);
	}
	rules_cal_check(ld);
	if (rs->nstages == 0 && all_parsed) {
		if (ld->nsrc == 0)
			err_at(ld, ld->where, 0,
			    "no stages: there is no rule file (*.conf)");
		else
			err_at(ld, ld->src[0].name, 1,
			    "no stages: a rule set needs at least one stage, e.g. stages = ( { name = \"current\"; } );");
	}
	ld_analyse(ld);

	for (i = 0; i < ld->nsrc; i++) {
		if (ld->src[i].readable)
			config_destroy(&ld->src[i].cfg);
		free(ld->src[i].text);
	}
	for (k = 0; k < L_COUNT; k++)
		free(ld->items[k]);
	free(ld->dates);
	free(ld->sched_named);
	free(ld->src);
	free(ld->rule_ok);
	free(ld->to_ok);
	diags_sort(ld->ds);
	if (ld->ds->errors > ld->errors0) {
		rules_free(rs);
		return NULL;
	}
	finish(rs);
	return rs;
}

static void
loader_init(struct loader *ld, struct diags *ds, const char *where)
{
	memset(ld, 0, sizeof(*ld));
	ld->ds = ds;
	ld->errors0 = ds->errors;
	ld->where = where;
	ld->rs = xcalloc(1, sizeof(*ld->rs));
	ld->rs->trend_window = RULES_TREND_WINDOW_DEFAULT;
	for (size_t i = 0; i < RULES_TASK_COUNT; i++)
		ld->rs->type_schedule[i] = -1;
}

struct ruleset *
rules_load_dir(const char *dir, struct diags *ds)
{
	struct loader ld;
	struct dirent *de;
	struct stat st;
	char **names = NULL;
	size_t n = 0, i;
	DIR *d;

	if ((d = opendir(dir)) == NULL) {
		diags_add(ds, dir, 0, false,
		    "cannot read the rules directory: %s", strerror(errno));
		return NULL;
	}
	errno = 0;
	while ((de = readdir(d)) != NULL) {
		if (!conf_name(de->d_name))
			continue;
		names = xreallocarray(names, n + 1, sizeof(*names));
		names[n++] = xstrdup(de->d_name);
	}
	if (errno != 0) {
		diags_add(ds, dir, 0, false,
		    "cannot read the rules directory: %s", strerror(errno));
		for (i = 0; i < n; i++)
			free(names[i]);
		free(names);
		closedir(d);
		return NULL;
	}
	if (n > 0)
		qsort(names, n, sizeof(*names), cmp_str);
	loader_init(&ld, ds, dir);
	for (i = 0; i < n; i++) {
		/* Subdirectories and other non-files are not rule files. */
		if (fstatat(dirfd(d), names[i], &st, 0) == 0 &&
		    !S_ISREG(st.st_mode)) {
			free(names[i]);
			continue;
		}
		ld_add_src(&ld, names[i]);
		if (ld_read_file(dirfd(d), names[i], &ld.src[ld.nsrc - 1].text,
		        &ld.src[ld.nsrc - 1].len) == -1)
			diags_add(ds, names[i], 0, false,
			    "cannot read the file: %s", strerror(errno));
	}
	free(names);
	closedir(d);
	return load(&ld);
}

struct ruleset *
rules_load_files(const char *const *names, const char *const *texts, size_t n,
    struct diags *ds)
{
	struct loader ld;
	const char **sorted = xcalloc(n + 1, sizeof(*sorted));
	size_t m = 0, i, k;
	struct src *s;

	for (i = 0; i < n; i++) {
		if (conf_name(names[i]))
			sorted[m++] = names[i];
	}
	qsort(sorted, m, sizeof(*sorted), cmp_str);
	loader_init(&ld, ds, "(files)");
	for (i = 0; i < m; i++) {
		if (i > 0 && strcmp(sorted[i], sorted[i - 1]) == 0) {
			diags_add(
			    ds, sorted[i], 0, false, "the file is given twice");
			continue;
		}
		for (k = 0; names[k] != sorted[i]; k++)
			;
		ld_add_src(&ld, xstrdup(sorted[i]));
		s = &ld.src[ld.nsrc - 1];
		s->len = strlen(texts[k]);
		s->text = xstrndup(texts[k], s->len);
	}
	free(sorted);
	return load(&ld);
}

static void
when_free(struct rules_when *w)
{
	size_t i;

	for (i = 0; i < w->n; i++) {
		free(w->conds[i].stages);
		strv_free(w->conds[i].any, w->conds[i].nany);
		strv_free(w->conds[i].none, w->conds[i].nnone);
	}
	free(w->conds);
}

void
rules_free(struct ruleset *rs)
{
	size_t i;

	if (rs == NULL)
		return;
	for (i = 0; i < rs->nstages; i++) {
		free((char *)rs->stages[i].name);
		free(rs->stages[i].tasks);
		when_free(&rs->stages[i].hold_when);
		when_free(&rs->stages[i].release_when);
		free(rs->stages[i].rules);
	}
	for (i = 0; i < rs->nrules; i++) {
		free((char *)rs->rules[i].name);
		free(rs->rules[i].from);
		when_free(&rs->rules[i].when);
	}
	for (i = 0; i < rs->nalerts; i++) {
		free((char *)rs->alerts[i].name);
		when_free(&rs->alerts[i].when);
	}
	for (i = 0; i < rs->nscripts; i++) {
		free((char *)rs->scripts[i].name);
		strv_free(rs->scripts[i].checklist, rs->scripts[i].nchecklist);
	}
	free(rs->stages);
	free(rs->rules);
	free(rs->alerts);
	free(rs->scripts);
	free(rs->uses.windows);
	rules_cal_free(rs);
	strv_free(rs->files, rs->nfiles);
	free(rs);
}

int
rules_check(const char *dir, FILE *out)
{
	struct ruleset *rs;
	struct diags ds;
	char line[sizeof(ds.v->file) + DIAG_MSG_MAX + 32];
	size_t i;
	int ret;

	diags_init(&ds);
	rs = rules_load_dir(dir, &ds);
	for (i = 0; i < ds.n; i++) {
		diag_format(&ds.v[i], line, sizeof(line));
		fprintf(out, "%s\n", line);
	}
	ret = rs == NULL ? 1 : 0;
	rules_free(rs);
	diags_fini(&ds);
	return ret;
}

/* Evaluation helpers. */

static bool
tags_hold(const struct rules_cond *c, const struct rules_factvals *fv)
{
	size_t i, k;
	bool any = c->nany == 0;

	for (i = 0; i < fv->ntags; i++) {
		for (k = 0; k < c->nnone; k++) {
			if (strcmp(fv->tags[i], c->none[k]) == 0)
				return false;
		}
		for (k = 0; !any && k < c->nany; k++) {
			if (strcmp(fv->tags[i], c->any[k]) == 0)
				any = true;
		}
	}
	return any;
}

bool
rules_cond_holds(const struct rules_cond *c, const struct rules_factvals *fv)
{
	double v;

	switch (c->fact) {
	case RULES_FACT_BALANCE:
		v = (double)fv->balance;
		break;
	case RULES_FACT_OVERDUE_AMOUNT:
		v = (double)fv->overdue_amount;
		break;
	case RULES_FACT_DISPUTED_AMOUNT:
		v = (double)fv->disputed_amount;
		break;
	case RULES_FACT_UNDISPUTED_OVERDUE:
		v = (double)fv->undisputed_overdue;
		break;
	case RULES_FACT_OVERDUE_INVOICES:
		v = (double)fv->overdue_invoices;
		break;
	case RULES_FACT_DAYS_OVERDUE:
		v = (double)fv->days_overdue;
		break;
	case RULES_FACT_DAYS_TO_DUE:
		if (!fv->has_days_to_due)
			return false;
		v = (double)fv->days_to_due;
		break;
	case RULES_FACT_LATE_TREND:
		v = fv->late_trend;
		break;
	case RULES_FACT_ON_TIME_RATIO:
		if (!fv->has_on_time_ratio)
			return false;
		v = fv->on_time_ratio;
		break;
	case RULES_FACT_PROMISES_BROKEN:
		v = (double)fv->promises_broken[c->window];
		break;
	case RULES_FACT_PROMISES_KEPT:
		v = (double)fv->promises_kept[c->window];
		break;
	case RULES_FACT_UNREACHED:
		v = (double)fv->unreached;
		break;
	case RULES_FACT_DAYS_IN_STAGE:
		v = (double)fv->days_in_stage;
		break;
	case RULES_FACT_FIRST_MISS:
		return fv->first_miss == c->value;
	case RULES_FACT_PROMISE_PENDING:
		return fv->promise_pending == c->value;
	case RULES_FACT_STAGE:
		return rules_stageset_has(c->stages, fv->stage);
	case RULES_FACT_SIZE:
		return (c->mask >> fv->size) & 1;
	case RULES_FACT_RISK:
		return fv->has_risk && ((c->mask >> fv->risk) & 1);
	case RULES_FACT_TAGS:
		return tags_hold(c, fv);
	case RULES_FACT_DECISION_MAKER:
		return fv->decision_maker == c->value;
	default:
		return false;
	}
	return (!c->has_min || v >= c->min) && (!c->has_max || v <= c->max);
}

bool
rules_when_holds(const struct rules_when *w, const struct rules_factvals *fv)
{
	size_t i;

	for (i = 0; i < w->n; i++) {
		if (!rules_cond_holds(&w->conds[i], fv))
			return false;
	}
	return true;
}

const char *
rules_fact_name(enum rules_fact f)
{
	return (unsigned)f < RULES_FACT_COUNT ? fact_names[f] : "?";
}

enum rules_fact_kind
rules_fact_kind(enum rules_fact f)
{
	return fact_kinds[(unsigned)f < RULES_FACT_COUNT ? f : 0];
}

const char *
rules_task_type_name(enum rules_task_type t)
{
	return (unsigned)t < RULES_TASK_COUNT ? task_names[t] : "?";
}

const char *
rules_size_name(enum rules_size s)
{
	return (unsigned)s < RULES_SIZE_COUNT ? size_names[s] : "?";
}

const char *
rules_risk_name(int risk)
{
	return risk >= 0 && risk < RULES_RISK_COUNT ? risk_names[risk] : "?";
}

const struct cal_schedule *
rules_schedule_for(
    const struct ruleset *rs, int named, enum rules_task_type type)
{
	if (named >= 0 && (size_t)named < rs->nschedules)
		return &rs->schedules[named];
	if (type < RULES_TASK_COUNT && rs->type_schedule[type] >= 0)
		return &rs->schedules[rs->type_schedule[type]];
	return NULL;
}

int
rules_stage_lookup(const struct ruleset *rs, const char *name, size_t *stage)
{
	int i = ld_find_stage(rs, name);

	if (i == -1)
		return 0;
	*stage = (size_t)i;
	return 1;
}
