/*
 * rules_int.h — private to the rules module: what its files share while
 * loading.  Not a public header: nothing outside daemon/rules*.c
 * includes it, and nothing in it is in the ruleset a caller reads.
 *
 * The files, each calling only those below it (but for rules_free(),
 * which frees the calendar's part with rules_cal_free()):
 *   rules_load.c      the loader: phases in order, finishing a good set
 *   rules_read.c      phases 1-3: reading, prescan, libconfig parsing
 *   rules_analyse.c   phase 6: unreachable stages, shadows, cycles
 *   rules_imply.c     whether conditions can hold together or imply
 *   rules_items.c     phases 4-5: top level, names, every item
 *   rules_calendar.c  calendar, holidays, schedules (§4.9)
 *   rules_cond.c      the conditions of a when
 *   rules_setting.c   the floor: FILE:LINE reports, settings' values
 *   rules.c           the rule set: names, lookups, evaluation, free
 */
#ifndef DUNND_RULES_INT_H
#define DUNND_RULES_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libconfig.h>

#include "rules.h"
#include "util.h"

/* The lists of the top level: concatenated in file order (§4.1). */
enum {
	L_STAGES,
	L_RULES,
	L_ALERTS,
	L_SCRIPTS,
	L_SCHEDULES,
	L_COUNT
};

/* Sets of facts, as masks of 1u << RULES_FACT_*. */
#define F(x)     (1u << RULES_FACT_##x)
#define PROMISES (F(PROMISES_BROKEN) | F(PROMISES_KEPT))

/* One element of a top-level list, and the file it came from. */
struct item {
	config_setting_t *s;
	const char *file;
};

/* The single settings other than calendar: at most once (§4.1). */
enum {
	S_TREND_WINDOW,
	S_GRACE_DAYS,
	S_PROMISE_GRACE,
	S_COUNT
};

/* The two date lists: holidays and extra_workdays (§4.9). */
enum {
	D_HOLIDAYS,
	D_EXTRA,
	D_COUNT
};

/* A top-level holidays or extra_workdays list. */
struct datelist {
	struct item it;
	int kind; /* D_HOLIDAYS or D_EXTRA */
};

/* One rule file as read. */
struct src {
	const char *name; /* owned by the ruleset's files */
	char *text;       /* its bytes, NUL-terminated */
	size_t len;
	bool readable; /* read whole, no NUL byte */
	bool parsed;
	size_t syntax; /* its syntax error's index in the diags, or SIZE_MAX */
	config_t cfg;
};

struct loader {
	struct diags *ds;
	const char *where; /* the directory, for errors without a file */
	size_t errors0;    /* errors in ds before this load */
	struct ruleset *rs;
	struct src *src;
	size_t nsrc;
	struct item *items[L_COUNT];
	size_t nitems[L_COUNT];
	const char *single_file[S_COUNT]; /* where first set, NULL = not */
	int single_line[S_COUNT];
	bool *rule_ok; /* every part of the rule resolved: analysed */
	bool *to_ok;   /* its `to` resolved */
	/* §4.9, filled by rules_cal_top_level(). */
	struct item calendar;   /* s = NULL: no calendar */
	struct datelist *dates; /* top-level lists, in file order */
	size_t ndates;
	struct item schedules_at; /* the first `schedules` setting */
	bool cal_ok;       /* the calendar's workdays and hours are good */
	bool *sched_named; /* per schedule: a task names it */
};

/* Reports one error or warning at FILE:LINE (§4.8). */
void ld_report(struct loader *ld, const char *file, int line, bool warning,
    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

#define err_at(ld, file, line, ...)                                            \
	ld_report(ld, file, line, false, __VA_ARGS__)
#define warn_at(ld, file, line, ...)                                           \
	ld_report(ld, file, line, true, __VA_ARGS__)

/*
 * The line of setting s in its file.  libconfig dates a scalar when the
 * parser reduces it, after the token that follows: the last element of
 * a list written one per line would get the line of the closing bracket.
 * ld_elem_line() moves it back to the element's own line.
 */
int ld_elem_line(const config_setting_t *s, int line);

static inline int
line_of(const config_setting_t *s)
{
	return ld_elem_line(s, (int)config_setting_source_line(s));
}

static inline bool
is_collection(const config_setting_t *s)
{
	return config_setting_is_list(s) || config_setting_is_array(s);
}

/* Reports every member of group g not named in keys (NULL-terminated). */
void ld_check_keys(struct loader *ld, const char *file, config_setting_t *g,
    const char *what, const char *const *keys);
/* The member key of group g, reported at the group's line if missing. */
config_setting_t *ld_need(struct loader *ld, const char *file,
    config_setting_t *g, const char *what, const char *key);
/*
 * The duration of setting s (named key, inside what; "" = top level).
 * positive: must be > 0.  Reports and returns -1 when it is not good.
 */
int ld_get_duration(struct loader *ld, const char *file,
    const config_setting_t *s, const char *what, const char *key, bool positive,
    int64_t *secs /* OUT */);
/* An integer setting's value; false when s is not an integer. */
bool ld_get_integer(const config_setting_t *s, int64_t *v /* OUT */);
/* "stage \"x\"" for messages, or just the kind for an unnamed item. */
void ld_item_label(
    const char *kind, config_setting_t *g, char *buf, size_t len);
/* The task type named name (any of RULES_TASK_COUNT), -1 = none. */
int ld_task_type(const char *name);

/*
 * rules_read.c.  ld_add_src() adds a file of the set (the ruleset takes
 * the name); ld_read_file() reads the regular file name of directory
 * dfd whole (-1 with errno); ld_parse_src() prescans and parses one
 * file, reporting its syntax error; ld_keep_syntax_only() drops the
 * diags added since n0 except the files' syntax errors.
 */
void ld_add_src(struct loader *ld, char *name);
int ld_read_file(
    int dfd, const char *name, char **text /* OUT */, size_t *len /* OUT */);
void ld_parse_src(struct loader *ld, struct src *s);
void ld_keep_syntax_only(struct loader *ld, size_t n0);

/* rules.c: the index of the stage named name, -1 = none. */
int ld_find_stage(const struct ruleset *rs, const char *name);

/*
 * rules_cond.c.  ld_parse_when() parses a when, hold_when or
 * release_when group s into w (false when reported; w is kept for
 * rules_free() even then).  ld_each_name() calls take() for a string or
 * each of a non-empty list of strings (expect describes the value for
 * messages; false when reported); ld_take_stage() is the take() that
 * adds a stage (or "*" when star_ok) to the set of a struct stage_arg.
 */
struct stage_arg {
	uint64_t *set;
	bool star_ok, star;
};

bool ld_parse_when(struct loader *ld, const char *file, config_setting_t *s,
    const char *what, struct rules_when *w);
bool ld_each_name(struct loader *ld, const char *file, config_setting_t *s,
    const char *path, const char *expect,
    bool (*take)(struct loader *, const char *, config_setting_t *,
        const char *, const char *, void *),
    void *arg);
bool ld_take_stage(struct loader *ld, const char *file, config_setting_t *s,
    const char *path, const char *name, void *arg);

/*
 * rules_items.c.  ld_top_level() takes the top-level settings of one
 * parsed file; once every file's are taken, ld_take_name() checks and
 * records the name of item i of list (false when the item is not a
 * group); then ld_parse_script(), ld_parse_stage(), ld_parse_rule() and
 * ld_parse_alert() parse item i of their list, in this order.
 */
void ld_top_level(struct loader *ld, struct src *s);
bool ld_take_name(struct loader *ld, int list, size_t i);
void ld_parse_script(struct loader *ld, size_t i);
void ld_parse_stage(struct loader *ld, size_t i);
void ld_parse_rule(struct loader *ld, size_t i);
void ld_parse_alert(struct loader *ld, size_t i);

/* The conditions of one when by fact (a when tests a fact at most once). */
struct condmap {
	const struct rules_cond *c[RULES_FACT_COUNT];
};

/*
 * rules_imply.c.  ld_compatible(): whether the whens of two rules can
 * hold together, stage aside; ld_cond_implied(): whether the conditions
 * l of a later rule, starting from one of the stages in start, imply
 * condition e of an earlier one.
 */
bool ld_compatible(const struct condmap *a, const struct condmap *b);
bool ld_cond_implied(const struct ruleset *rs, const struct condmap *l,
    const uint64_t *start, const struct rules_cond *e);

/*
 * rules_analyse.c: the analysis of the whole set once every item is
 * parsed (§4.8): unreachable stages and shadowed rules are warnings,
 * rule cycles errors.
 */
void ld_analyse(struct loader *ld);

/*
 * rules_calendar.c.  Order of the calls in a load: rules_cal_top_level()
 * for each top-level setting (1 = it was one of calendar, holidays,
 * extra_workdays); once the names of every list are taken,
 * rules_cal_parse() (calendar, dates, schedules, type_schedule); while
 * parsing stage and alert tasks, rules_cal_task_schedule(); after them,
 * rules_cal_check() (the warnings that need the whole set).
 */
int rules_cal_top_level(
    struct loader *ld, const char *file, config_setting_t *m);
void rules_cal_parse(struct loader *ld);
/*
 * The `schedule` key of task group g (type known when type_ok): its
 * index in ruleset.schedules, -1 when absent or reported.
 */
int rules_cal_task_schedule(struct loader *ld, const char *file,
    config_setting_t *g, const char *what, enum rules_task_type type,
    bool type_ok);
void rules_cal_check(struct loader *ld);
/* Frees what rules_cal_*() put into rs (calendar and schedules). */
void rules_cal_free(struct ruleset *rs);

#endif
