/*
 * rules_load — the loader: rule files (libconfig) into an immutable
 * struct ruleset, and the report of check-rules and --check.
 *
 * Called by dunnd (start, reload, --check), protocol (simulate) and
 * dunnctl (check-rules), through rules.h.  With conf.c the rules
 * module is the only includer of <libconfig.h>; its files share the
 * loader through the private rules_int.h, which says who does what.
 *
 * Loading runs in phases; each keeps going after an error, so one run
 * reports every error of the set (interfaces.md §4.8, style.md §4):
 *   1. read the files (rules_read.c) in byte order of names and hash their bytes into
 *      rules_version (§4.7);
 *   2. prescan each text (rules_read.c): refuse @include before libconfig would expand
 *      it (the directive is blanked, so the rest is still checked), and
 *      mark integers beyond 32 bits as 64-bit: libconfig 1.5 truncates
 *      them silently (a balance of 5000000000 would become 705032704);
 *   3. parse with libconfig (rules_read.c): at most one syntax error per file;
 *   4. top level (rules_items.c): the five lists concatenated in file order, the four
 *      single settings (calendar included) at most once across all files,
 *      the holidays and extra_workdays lists;
 *   5. the names of every list first, so that references resolve across
 *      files in any order; the calendar and schedules (rules_calendar.c);
 *      then every item (rules_items.c, conditions in rules_cond.c); then
 *      the calendar's warnings that need them all;
 *   6. analysis (rules_analyse.c): unreachable stages, shadowed rules, rule cycles (§4.8).
 * A set with an error is freed and NULL returned: nothing is applied.
 * A good one is finished here: the facts and promise windows it uses,
 * and the rules of each stage.
 */
#include "rules.h"
#include "rules_int.h"

#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libconfig.h>

#include "hash.h"

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
