/*
 * rules_setting — the floor of the rules loader: errors and warnings at
 * FILE:LINE (interfaces.md §4.8), the keys of a group, the value of one
 * setting (durations, integers), item labels and task type names.
 *
 * Called by every part of the loader (daemon/rules*.c, through
 * rules_int.h); it calls nothing of the rules module but the names of
 * rules.c.
 */
#include "rules_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <libconfig.h>

#include "clock.h"

void
ld_report(struct loader *ld, const char *file, int line, bool warning,
    const char *fmt, ...)
{
	char msg[DIAG_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	diags_add(ld->ds, file, line, warning, "%s", msg);
}

/* "what: key", or "key" at the top level (what = ""). */
static void
path_join(char *buf, size_t len, const char *what, const char *key)
{
	if (*what == '\0')
		snprintf(buf, len, "%s", key);
	else
		snprintf(buf, len, "%s: %s", what, key);
}

/*
 * Reads the duration of setting s (named key, inside what).  positive:
 * must be > 0 (every, cooldown, window); else >= 0.  Reports and returns
 * -1 when it is not a good duration.
 */
int
ld_get_duration(struct loader *ld, const char *file, const config_setting_t *s,
    const char *what, const char *key, bool positive, int64_t *secs)
{
	char path[DIAG_MSG_MAX];
	const char *str, *why;

	path_join(path, sizeof(path), what, key);
	if (config_setting_type(s) != CONFIG_TYPE_STRING) {
		err_at(ld, file, line_of(s),
		    "%s must be a duration such as \"5d\" (1-6 digits and a unit m, h, d or w)",
		    path);
		return -1;
	}
	str = config_setting_get_string(s);
	if (clock_parse_duration(str, strlen(str), secs, &why) == -1) {
		err_at(ld, file, line_of(s),
		    "%s: bad duration \"%s\" (1-6 digits and a unit m, h, d or w)",
		    path, str);
		return -1;
	}
	if (positive && *secs == 0) {
		err_at(ld, file, line_of(s), "%s must be greater than 0", path);
		return -1;
	}
	return 0;
}

bool
ld_get_integer(const config_setting_t *s, int64_t *v)
{
	switch (config_setting_type(s)) {
	case CONFIG_TYPE_INT:
		*v = config_setting_get_int(s);
		return true;
	case CONFIG_TYPE_INT64:
		*v = config_setting_get_int64(s);
		return true;
	default:
		return false;
	}
}

/* Reports every member of group g not named in keys. */
void
ld_check_keys(struct loader *ld, const char *file, config_setting_t *g,
    const char *what, const char *const *keys)
{
	char allowed[128] = "";
	const char *name;
	size_t k;
	int i, n = config_setting_length(g);

	for (k = 0; keys[k] != NULL; k++) {
		if (k > 0)
			strcat(allowed, ", ");
		strcat(allowed, keys[k]);
	}
	for (i = 0; i < n; i++) {
		config_setting_t *m = config_setting_get_elem(g, i);

		name = config_setting_name(m);
		for (k = 0; keys[k] != NULL; k++) {
			if (strcmp(name, keys[k]) == 0)
				break;
		}
		if (keys[k] == NULL)
			err_at(ld, file, line_of(m),
			    "%s: unknown key \"%s\" (allowed: %s)", what, name,
			    allowed);
	}
}

/* The member key of group g, reported at the group's line if missing. */
config_setting_t *
ld_need(struct loader *ld, const char *file, config_setting_t *g,
    const char *what, const char *key)
{
	config_setting_t *m = config_setting_get_member(g, key);

	if (m == NULL)
		err_at(ld, file, line_of(g), "%s: missing required key \"%s\"",
		    what, key);
	return m;
}

/* "stage \"x\"" for messages, or just the kind for an unnamed item. */
void
ld_item_label(const char *kind, config_setting_t *g, char *buf, size_t len)
{
	config_setting_t *m = config_setting_get_member(g, "name");

	if (m != NULL && config_setting_type(m) == CONFIG_TYPE_STRING &&
	    *config_setting_get_string(m) != '\0')
		snprintf(
		    buf, len, "%s \"%s\"", kind, config_setting_get_string(m));
	else
		snprintf(buf, len, "%s", kind);
}

int
ld_task_type(const char *name)
{
	int i;

	for (i = 0; i < RULES_TASK_COUNT; i++) {
		if (strcmp(name, rules_task_type_name(i)) == 0)
			return i;
	}
	return -1;
}
