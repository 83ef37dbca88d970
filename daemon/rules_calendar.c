/*
 * rules_calendar — the part of the rules loader for working time
 * (interfaces.md §4.9): the `calendar` setting, the top-level
 * `holidays` and `extra_workdays` lists, the `schedules` list, the
 * `schedule` key of stage and alert tasks, and the warnings that need
 * the whole rule set.  Called only by the loader (rules_load.c,
 * rules_items.c) and rules_free(), through rules_int.h.
 *
 * What it leaves in a good ruleset:
 *   (1) rs->cal is NULL exactly when no file sets `calendar`; its
 *       holidays and extra_workdays are ascending, unique and disjoint;
 *   (2) every schedule's hours are its own narrowed by the calendar's
 *       (without a calendar: by the whole day), non-empty, ascending,
 *       without overlaps, at most CAL_HOURS_MAX * 2 - 1 windows, and
 *       they hold at least min_window_s;
 *   (3) type_schedule[t] is the one schedule whose types hold t, or -1.
 */
#include "rules_int.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "calendar.h"
#include "clock.h"

/*
 * A list of windows holds at most this many: the intersection of two
 * lists then fits the CAL_PARTS_MAX parts of one day.
 */
#define CAL_HOURS_MAX 24

#define DEFAULT_WORKDAYS 0x1fu /* mon-fri */
#define DEFAULT_START    (9 * 60)
#define DEFAULT_END      (18 * 60)
#define MIN_WINDOW_S     (30 * 60)
#define DEFER_DAYS_MAX   31

#define WEEKDAY_LIST "mon, tue, wed, thu, fri, sat, sun"

static const char *const weekday_keys[7] = { "mon", "tue", "wed", "thu", "fri",
	"sat", "sun" };

static const char *const calendar_keys[] = { "workdays", "hours", "holidays",
	"extra_workdays", NULL };
static const char *const schedule_keys[] = { "name", "types", "hours", "prefer",
	"avoid", "defer_days", "min_window", "cash_in", NULL };
static const char *const date_list_names[D_COUNT] = { "holidays",
	"extra_workdays" };

/* One date of a holidays or extra_workdays list, as written. */
struct dent {
	int32_t day;
	int kind;
	const char *file;
	int line;
	size_t order; /* position in the concatenation (§4.1) */
};

int
rules_cal_top_level(struct loader *ld, const char *file, config_setting_t *m)
{
	const char *name = config_setting_name(m);
	int k;

	if (strcmp(name, "calendar") == 0) {
		if (ld->calendar.s != NULL) {
			err_at(ld, file, line_of(m),
			    "calendar is set twice (first at %s:%d)",
			    ld->calendar.file, line_of(ld->calendar.s));
			return 1;
		}
		ld->calendar.s = m;
		ld->calendar.file = file;
		return 1;
	}
	for (k = 0; k < D_COUNT; k++) {
		if (strcmp(name, date_list_names[k]) == 0)
			break;
	}
	if (k == D_COUNT)
		return 0;
	ld->dates =
	    xreallocarray(ld->dates, ld->ndates + 1, sizeof(*ld->dates));
	ld->dates[ld->ndates].it.s = m;
	ld->dates[ld->ndates].it.file = file;
	ld->dates[ld->ndates++].kind = k;
	return 1;
}

/* Weekday name to 0-6, -1 = none. */
static int
weekday_of(const char *s)
{
	int i;

	for (i = 0; i < 7; i++) {
		if (strcmp(s, weekday_keys[i]) == 0)
			return i;
	}
	return -1;
}

/*
 * A non-empty list of distinct weekdays: their bits in *bits and, when
 * order is not NULL, the weekdays in list order.  false when reported.
 */
static bool
parse_weekdays(struct loader *ld, const char *file, config_setting_t *m,
    const char *path, unsigned *bits, int *order, size_t *norder)
{
	config_setting_t *e;
	const char *v;
	bool ok = true;
	int i, n, wd;

	*bits = 0;
	if (!is_collection(m)) {
		err_at(ld, file, line_of(m),
		    "%s must be a list of weekdays [ \"mon\", ... ] (" WEEKDAY_LIST
		    ")",
		    path);
		return false;
	}
	if ((n = config_setting_length(m)) == 0) {
		err_at(ld, file, line_of(m),
		    "%s must not be empty: give at least one weekday (" WEEKDAY_LIST
		    ")",
		    path);
		return false;
	}
	for (i = 0; i < n; i++) {
		e = config_setting_get_elem(m, i);
		if (config_setting_type(e) != CONFIG_TYPE_STRING) {
			err_at(ld, file, line_of(e),
			    "%s must be a list of weekdays [ \"mon\", ... ] (" WEEKDAY_LIST
			    ")",
			    path);
			ok = false;
			continue;
		}
		v = config_setting_get_string(e);
		if ((wd = weekday_of(v)) == -1) {
			err_at(ld, file, line_of(e),
			    "%s: bad weekday \"%s\" (allowed: " WEEKDAY_LIST
			    ")",
			    path, v);
			ok = false;
		} else if (*bits & (1u << wd)) {
			err_at(ld, file, line_of(e),
			    "%s: weekday \"%s\" is repeated", path, v);
			ok = false;
		} else {
			*bits |= 1u << wd;
			if (order != NULL)
				order[(*norder)++] = wd;
		}
	}
	return ok;
}

/* "HH:MM-HH:MM", start < end, 24:00 only as an end.  false: bad. */
static bool
parse_window(const char *s, struct cal_hours *h)
{
	char a[6], b[6];
	const char *why;

	if (strlen(s) != 11 || s[5] != '-')
		return false;
	memcpy(a, s, 5);
	a[5] = '\0';
	memcpy(b, s + 6, 5);
	b[5] = '\0';
	if (clock_parse_hhmm(a, &h->start_min, &why) == -1)
		return false;
	if (strcmp(b, "24:00") == 0)
		h->end_min = 24 * 60;
	else if (clock_parse_hhmm(b, &h->end_min, &why) == -1)
		return false;
	return h->start_min < h->end_min;
}

/*
 * A non-empty list of windows, ascending and without overlaps (touching
 * allowed), into a new array *out of *n.  false when reported.
 */
static bool
parse_hours(struct loader *ld, const char *file, config_setting_t *m,
    const char *path, struct cal_hours **out, size_t *n)
{
	config_setting_t *e;
	struct cal_hours h;
	const char *v;
	bool ok = true;
	int i, len;

	*out = NULL;
	*n = 0;
	if (!is_collection(m)) {
		err_at(ld, file, line_of(m),
		    "%s must be a list of windows [ \"09:00-12:00\", ... ]",
		    path);
		return false;
	}
	if ((len = config_setting_length(m)) == 0) {
		err_at(ld, file, line_of(m),
		    "%s must not be empty: give at least one window \"HH:MM-HH:MM\"",
		    path);
		return false;
	}
	if (len > CAL_HOURS_MAX) {
		err_at(ld, file, line_of(m), "%s: more than %d windows", path,
		    CAL_HOURS_MAX);
		return false;
	}
	*out = xcalloc((size_t)len, sizeof(**out));
	for (i = 0; i < len; i++) {
		e = config_setting_get_elem(m, i);
		if (config_setting_type(e) != CONFIG_TYPE_STRING) {
			err_at(ld, file, line_of(e),
			    "%s must be a list of windows [ \"09:00-12:00\", ... ]",
			    path);
			ok = false;
			continue;
		}
		v = config_setting_get_string(e);
		if (!parse_window(v, &h)) {
			err_at(ld, file, line_of(e),
			    "%s: bad window \"%s\" (HH:MM-HH:MM, local time, start before end, 24:00 allowed as an end)",
			    path, v);
			ok = false;
			continue;
		}
		if (*n > 0 && h.start_min < (*out)[*n - 1].end_min) {
			err_at(ld, file, line_of(e),
			    "%s: window \"%s\" overlaps or comes before the one before it (windows ascending, without overlaps)",
			    path, v);
			ok = false;
			continue;
		}
		(*out)[(*n)++] = h;
	}
	if (!ok) {
		free(*out);
		*out = NULL;
		*n = 0;
	}
	return ok;
}

/* The intersection of two window lists, window by window. */
static size_t
intersect(const struct cal_hours *a, size_t na, const struct cal_hours *b,
    size_t nb, struct cal_hours *out)
{
	size_t i = 0, j = 0, n = 0;
	int lo, hi;

	while (i < na && j < nb) {
		lo = a[i].start_min > b[j].start_min ? a[i].start_min
		                                     : b[j].start_min;
		hi = a[i].end_min < b[j].end_min ? a[i].end_min : b[j].end_min;
		if (lo < hi) {
			out[n].start_min = lo;
			out[n++].end_min = hi;
		}
		if (a[i].end_min < b[j].end_min)
			i++;
		else
			j++;
	}
	return n;
}

static void
parse_calendar(struct loader *ld)
{
	struct calendar *cal = xcalloc(1, sizeof(*cal));
	const char *file = ld->calendar.file;
	config_setting_t *g = ld->calendar.s, *m;
	struct cal_hours *h;
	unsigned bits;
	size_t n;

	ld->rs->cal = cal;
	cal->workdays = DEFAULT_WORKDAYS;
	cal->hours = xcalloc(1, sizeof(*cal->hours));
	cal->hours[0].start_min = DEFAULT_START;
	cal->hours[0].end_min = DEFAULT_END;
	cal->nhours = 1;
	ld->cal_ok = true;
	if (!config_setting_is_group(g)) {
		err_at(ld, file, line_of(g),
		    "calendar must be a group { workdays = [ ... ]; hours = [ ... ]; ... }");
		ld->cal_ok = false;
		return;
	}
	ld_check_keys(ld, file, g, "calendar", calendar_keys);
	if ((m = config_setting_get_member(g, "workdays")) != NULL) {
		if (parse_weekdays(
		        ld, file, m, "calendar: workdays", &bits, NULL, NULL))
			cal->workdays = bits;
		else
			ld->cal_ok = false;
	}
	if ((m = config_setting_get_member(g, "hours")) != NULL) {
		if (parse_hours(ld, file, m, "calendar: hours", &h, &n)) {
			free(cal->hours);
			cal->hours = h;
			cal->nhours = n;
		} else {
			ld->cal_ok = false;
		}
	}
}

/* Appends the dates of list m (kind, at path) to *v. */
static void
take_dates(struct loader *ld, const char *file, config_setting_t *m,
    const char *path, int kind, struct dent **v, size_t *n)
{
	config_setting_t *e;
	const char *s, *why;
	int32_t day;
	int i, len;

	if (!is_collection(m)) {
		err_at(ld, file, line_of(m),
		    "%s must be a list of dates [ \"YYYY-MM-DD\", ... ]", path);
		return;
	}
	len = config_setting_length(m);
	*v = xreallocarray(*v, *n + (size_t)len + 1, sizeof(**v));
	for (i = 0; i < len; i++) {
		e = config_setting_get_elem(m, i);
		if (config_setting_type(e) != CONFIG_TYPE_STRING) {
			err_at(ld, file, line_of(e),
			    "%s must be a list of dates [ \"YYYY-MM-DD\", ... ]",
			    path);
			continue;
		}
		s = config_setting_get_string(e);
		if (clock_parse_date(s, strlen(s), &day, &why) == -1) {
			err_at(ld, file, line_of(e),
			    "%s: bad date \"%s\" (YYYY-MM-DD, a real date, years 1970-9999)",
			    path, s);
			continue;
		}
		(*v)[*n].day = day;
		(*v)[*n].kind = kind;
		(*v)[*n].file = file;
		(*v)[*n].line = line_of(e);
		(*v)[*n].order = *n;
		(*n)++;
	}
}

static int
cmp_dent(const void *a, const void *b)
{
	const struct dent *x = a, *y = b;

	if (x->day != y->day)
		return x->day < y->day ? -1 : 1;
	return (x->order > y->order) - (x->order < y->order);
}

/*
 * The calendar's date lists, then the top-level ones in file order: a
 * date given again is an error at its later occurrence (§4.1, §4.9).
 */
static void
parse_dates(struct loader *ld)
{
	struct calendar *cal = ld->rs->cal;
	struct dent *v = NULL, *first;
	char path[64], date[CLOCK_DATE_LEN];
	config_setting_t *m;
	size_t n = 0, i, k;
	int wd;

	for (k = 0; k < D_COUNT && ld->calendar.s != NULL &&
	     config_setting_is_group(ld->calendar.s);
	     k++) {
		m = config_setting_get_member(
		    ld->calendar.s, date_list_names[k]);
		if (m == NULL)
			continue;
		snprintf(
		    path, sizeof(path), "calendar: %s", date_list_names[k]);
		take_dates(ld, ld->calendar.file, m, path, (int)k, &v, &n);
	}
	for (i = 0; i < ld->ndates; i++) {
		const struct datelist *dl = &ld->dates[i];

		if (cal == NULL)
			err_at(ld, dl->it.file, line_of(dl->it.s),
			    "%s needs a calendar: without calendar = { ... } every moment is working time",
			    date_list_names[dl->kind]);
		take_dates(ld, dl->it.file, dl->it.s, date_list_names[dl->kind],
		    dl->kind, &v, &n);
	}
	if (n > 0)
		qsort(v, n, sizeof(*v), cmp_dent);
	for (i = 0; i < n; i = k) {
		first = &v[i];
		clock_format_date(first->day, date);
		for (k = i + 1; k < n && v[k].day == first->day; k++) {
			if (v[k].kind == first->kind)
				err_at(ld, v[k].file, v[k].line,
				    "%s: %s is repeated (first at %s:%d)",
				    date_list_names[v[k].kind], date,
				    first->file, first->line);
			else
				err_at(ld, v[k].file, v[k].line,
				    "%s: %s is also in %s (%s:%d): a date is either a holiday or an extra working day",
				    date_list_names[v[k].kind], date,
				    date_list_names[first->kind], first->file,
				    first->line);
		}
		if (cal == NULL)
			continue;
		wd = cal_weekday(first->day);
		if (first->kind == D_HOLIDAYS) {
			cal->holidays = xreallocarray(cal->holidays,
			    cal->nholidays + 1, sizeof(*cal->holidays));
			cal->holidays[cal->nholidays++] = first->day;
			if (ld->cal_ok && !(cal->workdays & (1u << wd)))
				warn_at(ld, first->file, first->line,
				    "holidays: %s is a %s, not a working day anyway (not in the calendar's workdays)",
				    date, cal_weekday_name(wd));
		} else {
			cal->extra_workdays = xreallocarray(cal->extra_workdays,
			    cal->nextra + 1, sizeof(*cal->extra_workdays));
			cal->extra_workdays[cal->nextra++] = first->day;
			if (ld->cal_ok && (cal->workdays & (1u << wd)))
				warn_at(ld, first->file, first->line,
				    "extra_workdays: %s is a %s, a working day anyway (in the calendar's workdays)",
				    date, cal_weekday_name(wd));
		}
	}
	free(v);
}

/* types: task types, each in the types of one schedule at most. */
static void
parse_types(struct loader *ld, const char *file, config_setting_t *m,
    const char *label, size_t idx, struct cal_schedule *sc)
{
	struct ruleset *rs = ld->rs;
	const struct cal_schedule *other;
	config_setting_t *e;
	const char *v;
	int i, n, t;

	if (!is_collection(m)) {
		err_at(ld, file, line_of(m),
		    "%s: types must be a list of task types [ \"call\", ... ]",
		    label);
		return;
	}
	if ((n = config_setting_length(m)) == 0) {
		err_at(ld, file, line_of(m),
		    "%s: types must not be empty: give at least one task type (or leave types out)",
		    label);
		return;
	}
	for (i = 0; i < n; i++) {
		e = config_setting_get_elem(m, i);
		if (config_setting_type(e) != CONFIG_TYPE_STRING) {
			err_at(ld, file, line_of(e),
			    "%s: types must be a list of task types [ \"call\", ... ]",
			    label);
			continue;
		}
		v = config_setting_get_string(e);
		t = ld_task_type(v);
		if (t == RULES_TASK_APPROVAL) {
			err_at(ld, file, line_of(e),
			    "%s: types: approval tasks take no schedule (their window is the calendar's alone)",
			    label);
			continue;
		}
		if (t == -1) {
			err_at(ld, file, line_of(e),
			    "%s: types: unknown task type \"%s\" (allowed: call, visit, letter, email, sms, credit_hold, credit_release, review, legal_referral)",
			    label, v);
			continue;
		}
		if (sc->types & (1u << t))
			continue; /* a repeat is harmless (§4.9) */
		sc->types |= 1u << t;
		if (rs->type_schedule[t] == -1) {
			rs->type_schedule[t] = (int)idx;
			continue;
		}
		other = &rs->schedules[rs->type_schedule[t]];
		err_at(ld, file, line_of(e),
		    "%s: types: \"%s\" is already in the types of schedule \"%s\" (%s:%d): a task type has one schedule",
		    label, v, other->name, other->file, other->line);
	}
}

/* "3h30m" for messages. */
static void
format_minutes(int min, char *buf, size_t len)
{
	if (min % 60 == 0)
		snprintf(buf, len, "%dh", min / 60);
	else if (min < 60)
		snprintf(buf, len, "%dm", min);
	else
		snprintf(buf, len, "%dh%02dm", min / 60, min % 60);
}

static void
parse_schedule(struct loader *ld, size_t idx)
{
	const struct item *it = &ld->items[L_SCHEDULES][idx];
	struct ruleset *rs = ld->rs;
	struct cal_schedule *sc = &rs->schedules[idx];
	struct cal_hours whole = { 0, 24 * 60 }, *own = NULL, *base;
	const char *file = it->file;
	char label[128], path[160], total_s[16];
	config_setting_t *m, *e;
	unsigned pbits = 0, abits = 0, bits;
	bool hours_ok = true;
	size_t nown = 0, nbase, k;
	int64_t v;
	int total, i;

	ld_item_label("schedule", it->s, label, sizeof(label));
	ld_check_keys(ld, file, it->s, label, schedule_keys);
	sc->min_window_s = MIN_WINDOW_S;
	if ((m = config_setting_get_member(it->s, "types")) != NULL)
		parse_types(ld, file, m, label, idx, sc);

	/* hours, narrowed by the calendar's (invariant (2)). */
	base = &whole;
	nbase = 1;
	if (rs->cal != NULL) {
		base = rs->cal->hours;
		nbase = rs->cal->nhours;
	}
	if ((m = config_setting_get_member(it->s, "hours")) != NULL) {
		snprintf(path, sizeof(path), "%s: hours", label);
		hours_ok = parse_hours(ld, file, m, path, &own, &nown);
	}
	if (own != NULL) {
		sc->hours = xcalloc(nown + nbase, sizeof(*sc->hours));
		sc->nhours = intersect(own, nown, base, nbase, sc->hours);
		if (sc->nhours == 0 && (rs->cal == NULL || ld->cal_ok)) {
			err_at(ld, file, line_of(m),
			    "%s: hours share no time with the calendar's hours",
			    label);
			hours_ok = false;
		}
		free(own);
	} else {
		sc->hours = xcalloc(nbase, sizeof(*sc->hours));
		memcpy(sc->hours, base, nbase * sizeof(*base));
		sc->nhours = nbase;
	}

	if ((m = config_setting_get_member(it->s, "prefer")) != NULL) {
		snprintf(path, sizeof(path), "%s: prefer", label);
		parse_weekdays(
		    ld, file, m, path, &pbits, sc->prefer, &sc->nprefer);
	}
	if ((m = config_setting_get_member(it->s, "avoid")) != NULL) {
		snprintf(path, sizeof(path), "%s: avoid", label);
		parse_weekdays(ld, file, m, path, &abits, NULL, NULL);
		/* Report the clash at the weekday of avoid that repeats one. */
		for (i = 0; i < config_setting_length(m) && is_collection(m);
		     i++) {
			int wd;

			e = config_setting_get_elem(m, i);
			if (config_setting_type(e) != CONFIG_TYPE_STRING ||
			    (wd = weekday_of(config_setting_get_string(e))) ==
			        -1 ||
			    !(pbits & (1u << wd)))
				continue;
			err_at(ld, file, line_of(e),
			    "%s: avoid: \"%s\" is also in prefer", label,
			    weekday_keys[wd]);
			abits &= ~(1u << wd);
		}
		sc->avoid = abits;
	}
	/* A preferred or avoided day that is never a working day. */
	bits = 0;
	if (rs->cal != NULL && ld->cal_ok) {
		for (k = 0; k < 2; k++) {
			const char *key = k == 0 ? "prefer" : "avoid";

			if ((m = config_setting_get_member(it->s, key)) ==
			        NULL ||
			    !is_collection(m))
				continue;
			for (i = 0; i < config_setting_length(m); i++) {
				int wd;

				e = config_setting_get_elem(m, i);
				if (config_setting_type(e) !=
				        CONFIG_TYPE_STRING ||
				    (wd = weekday_of(
				         config_setting_get_string(e))) == -1 ||
				    (rs->cal->workdays & (1u << wd)) ||
				    (bits & (1u << (wd + 7 * k))))
					continue;
				bits |= 1u << (wd + 7 * k);
				warn_at(ld, file, line_of(e),
				    "%s: %s: \"%s\" is not in the calendar's workdays",
				    label, key, weekday_keys[wd]);
			}
		}
	}

	if ((m = config_setting_get_member(it->s, "defer_days")) != NULL) {
		if (!ld_get_integer(m, &v) || v < 0 || v > DEFER_DAYS_MAX)
			err_at(ld, file, line_of(m),
			    "%s: defer_days must be an integer from 0 to %d",
			    label, DEFER_DAYS_MAX);
		else
			sc->defer_days = (int)v;
	}
	if ((m = config_setting_get_member(it->s, "cash_in")) != NULL) {
		if (config_setting_type(m) != CONFIG_TYPE_BOOL)
			err_at(ld, file, line_of(m),
			    "%s: cash_in must be true or false", label);
		else
			sc->cash_in = config_setting_get_bool(m);
	}
	m = config_setting_get_member(it->s, "min_window");
	if (m != NULL &&
	    ld_get_duration(ld, file, m, label, "min_window", true,
	        &sc->min_window_s) == -1)
		return;
	if (!hours_ok || (rs->cal != NULL && !ld->cal_ok))
		return;
	total = 0;
	for (k = 0; k < sc->nhours; k++)
		total += sc->hours[k].end_min - sc->hours[k].start_min;
	if (sc->min_window_s <= (int64_t)total * 60)
		return;
	format_minutes(total, total_s, sizeof(total_s));
	if (m != NULL)
		err_at(ld, file, line_of(m),
		    "%s: min_window \"%s\" is longer than the %s a working day holds in the schedule's hours",
		    label, config_setting_get_string(m), total_s);
	else
		err_at(ld, file, line_of(it->s),
		    "%s: the default min_window \"30m\" is longer than the %s a working day holds in the schedule's hours: give a shorter min_window",
		    label, total_s);
}

void
rules_cal_parse(struct loader *ld)
{
	struct ruleset *rs = ld->rs;
	size_t i;

	if (ld->calendar.s != NULL)
		parse_calendar(ld);
	parse_dates(ld);
	for (i = 0; i < rs->nschedules; i++) {
		if (config_setting_is_group(ld->items[L_SCHEDULES][i].s))
			parse_schedule(ld, i);
	}
}

int
rules_cal_task_schedule(struct loader *ld, const char *file,
    config_setting_t *g, const char *what, enum rules_task_type type,
    bool type_ok)
{
	const struct ruleset *rs = ld->rs;
	const struct cal_schedule *sc;
	config_setting_t *m = config_setting_get_member(g, "schedule");
	const char *v;
	size_t i;

	if (m == NULL)
		return -1;
	if (config_setting_type(m) != CONFIG_TYPE_STRING) {
		err_at(ld, file, line_of(m),
		    "%s: schedule must be the name of a schedule", what);
		return -1;
	}
	v = config_setting_get_string(m);
	for (i = 0; i < rs->nschedules; i++) {
		if (rs->schedules[i].name != NULL &&
		    strcmp(rs->schedules[i].name, v) == 0)
			break;
	}
	if (i == rs->nschedules) {
		err_at(ld, file, line_of(m),
		    "%s: unknown schedule \"%s\" (not in schedules)", what, v);
		return -1;
	}
	ld->sched_named[i] = true;
	sc = &rs->schedules[i];
	if (type_ok && sc->types != 0 && !(sc->types & (1u << type)))
		warn_at(ld, file, line_of(g),
		    "%s: schedule \"%s\" is for other task types: its types do not hold \"%s\"",
		    what, v, rules_task_type_name(type));
	return (int)i;
}

void
rules_cal_check(struct loader *ld)
{
	const struct ruleset *rs = ld->rs;
	const struct cal_schedule *sc;
	uint32_t used = 0;
	bool any_release = false;
	size_t i, k;

	if (ld->schedules_at.s != NULL && ld->calendar.s == NULL)
		warn_at(ld, ld->schedules_at.file, line_of(ld->schedules_at.s),
		    "schedules without a calendar: every day is a working day, so only the schedules' hours apply");
	/* P10: a hold that no release_when can lift. */
	for (i = 0; i < rs->nstages; i++)
		any_release |= rs->stages[i].has_release;
	for (i = 0; i < rs->nstages && !any_release; i++) {
		for (k = 0; k < rs->stages[i].ntasks; k++) {
			if (rs->stages[i].tasks[k].type ==
			    RULES_TASK_CREDIT_HOLD)
				warn_at(ld, rs->stages[i].file,
				    rs->stages[i].tasks[k].line,
				    "stage \"%s\", task %zu: a credit_hold task while no stage has release_when: the credit hold is never lifted",
				    rs->stages[i].name != NULL
				        ? rs->stages[i].name
				        : "",
				    k + 1);
		}
	}
	/* The task types the set can emit (credit_release: §4.5). */
	for (i = 0; i < rs->nstages; i++) {
		for (k = 0; k < rs->stages[i].ntasks; k++) {
			if (rs->stages[i].tasks[k].type < RULES_TASK_COUNT)
				used |= 1u << rs->stages[i].tasks[k].type;
		}
		if (rs->stages[i].has_release)
			used |= 1u << RULES_TASK_CREDIT_RELEASE;
	}
	for (i = 0; i < rs->nalerts; i++) {
		if (rs->alerts[i].type < RULES_TASK_COUNT)
			used |= 1u << rs->alerts[i].type;
	}
	for (i = 0; i < rs->nschedules; i++) {
		sc = &rs->schedules[i];
		if (sc->name == NULL || ld->sched_named[i])
			continue;
		/* types given but all bad: reported already. */
		if (sc->types == 0 &&
		    config_setting_get_member(
		        ld->items[L_SCHEDULES][i].s, "types") != NULL)
			continue;
		if (sc->types == 0)
			warn_at(ld, sc->file, sc->line,
			    "schedule \"%s\" is never used: no task names it and it has no types",
			    sc->name);
		else if ((sc->types & used) == 0)
			warn_at(ld, sc->file, sc->line,
			    "schedule \"%s\" is never used: no task names it and no stage or alert task has a type in its types",
			    sc->name);
	}
}

void
rules_cal_free(struct ruleset *rs)
{
	size_t i;

	if (rs->cal != NULL) {
		free(rs->cal->hours);
		free(rs->cal->holidays);
		free(rs->cal->extra_workdays);
		free(rs->cal);
	}
	for (i = 0; i < rs->nschedules; i++) {
		free((char *)rs->schedules[i].name);
		free(rs->schedules[i].hours);
	}
	free(rs->schedules);
}
