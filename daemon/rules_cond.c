/*
 * rules_cond — the conditions of a when, hold_when or release_when
 * (interfaces.md §4.2): a fact and its bounds, a boolean, a set of
 * stages, sizes or risk classes, tags any/none; and the lists of names
 * (a string or a list of strings) they and a rule's `from` take.
 *
 * Called by the items of the loader (rules_items.c) through
 * rules_int.h; calls the floor (rules_setting.c) and the rule set's
 * names (rules.c).
 */
#include "rules_int.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libconfig.h>

#define ID_MAX 64 /* §1 */

static const char *const tags_keys[] = { "any", "none", NULL };

static bool
is_id(const char *s)
{
	size_t n;

	for (n = 0; s[n] != '\0'; n++) {
		if (!isalnum((unsigned char)s[n]) &&
		    strchr("._:-", s[n]) == NULL)
			return false;
	}
	return n >= 1 && n <= ID_MAX;
}

static bool
get_number(const config_setting_t *s, double *v)
{
	switch (config_setting_type(s)) {
	case CONFIG_TYPE_INT:
		*v = config_setting_get_int(s);
		return true;
	case CONFIG_TYPE_INT64:
		*v = (double)config_setting_get_int64(s);
		return true;
	case CONFIG_TYPE_FLOAT:
		*v = config_setting_get_float(s);
		return isfinite(*v);
	default:
		return false;
	}
}

/*
 * A string or a non-empty list of strings: calls take() for each.  expect
 * describes the value for messages.  false when reported.
 */
bool
ld_each_name(struct loader *ld, const char *file, config_setting_t *s,
    const char *path, const char *expect,
    bool (*take)(struct loader *, const char *, config_setting_t *,
        const char *, const char *, void *),
    void *arg)
{
	config_setting_t *e;
	bool ok = true;
	int i, n;

	if (config_setting_type(s) == CONFIG_TYPE_STRING)
		return take(
		    ld, file, s, path, config_setting_get_string(s), arg);
	if (!is_collection(s)) {
		err_at(ld, file, line_of(s), "%s must be %s", path, expect);
		return false;
	}
	if ((n = config_setting_length(s)) == 0) {
		err_at(ld, file, line_of(s), "%s must not be empty: give %s",
		    path, expect);
		return false;
	}
	for (i = 0; i < n; i++) {
		e = config_setting_get_elem(s, i);
		if (config_setting_type(e) != CONFIG_TYPE_STRING) {
			err_at(ld, file, line_of(e), "%s must be %s", path,
			    expect);
			ok = false;
			continue;
		}
		if (!take(ld, file, e, path, config_setting_get_string(e), arg))
			ok = false;
	}
	return ok;
}

bool
ld_take_stage(struct loader *ld, const char *file, config_setting_t *s,
    const char *path, const char *name, void *arg)
{
	struct stage_arg *a = arg;
	size_t i;
	int st;

	if (a->star_ok && strcmp(name, "*") == 0) {
		for (i = 0; i < ld->rs->nstages; i++)
			a->set[i / 64] |= (uint64_t)1 << (i % 64);
		a->star = true;
		return true;
	}
	if ((st = ld_find_stage(ld->rs, name)) == -1) {
		err_at(ld, file, line_of(s), "%s: unknown stage \"%s\"", path,
		    name);
		return false;
	}
	a->set[st / 64] |= (uint64_t)1 << (st % 64);
	return true;
}

static bool
take_size(struct loader *ld, const char *file, config_setting_t *s,
    const char *path, const char *name, void *arg)
{
	unsigned *mask = arg;
	int i;

	for (i = 0; i < RULES_SIZE_COUNT; i++) {
		if (strcmp(name, rules_size_name(i)) == 0) {
			*mask |= 1u << i;
			return true;
		}
	}
	err_at(ld, file, line_of(s),
	    "%s: unknown size \"%s\" (allowed: small, medium, large)", path,
	    name);
	return false;
}

static bool
take_risk(struct loader *ld, const char *file, config_setting_t *s,
    const char *path, const char *name, void *arg)
{
	unsigned *mask = arg;
	int i;

	for (i = 0; i < RULES_RISK_COUNT; i++) {
		if (strcmp(name, rules_risk_name(i)) == 0) {
			*mask |= 1u << i;
			return true;
		}
	}
	err_at(ld, file, line_of(s),
	    "%s: unknown risk class \"%s\" (allowed: A, B, C, D, E)", path,
	    name);
	return false;
}

/* tags any/none: a non-empty list of ids (§4.2). */
static bool
tag_list(struct loader *ld, const char *file, config_setting_t *s,
    const char *path, char ***out, size_t *nout)
{
	char sub[DIAG_MSG_MAX];
	config_setting_t *e;
	const char *v;
	bool ok = true;
	int i, n;

	snprintf(sub, sizeof(sub), "%s: %s", path, config_setting_name(s));
	if (!is_collection(s) || (n = config_setting_length(s)) == 0) {
		err_at(ld, file, line_of(s),
		    "%s must be a non-empty list of tags [ \"...\", ... ]",
		    sub);
		return false;
	}
	*out = xcalloc((size_t)n, sizeof(**out));
	for (i = 0; i < n; i++) {
		e = config_setting_get_elem(s, i);
		if (config_setting_type(e) != CONFIG_TYPE_STRING) {
			err_at(ld, file, line_of(e),
			    "%s must be a non-empty list of tags [ \"...\", ... ]",
			    sub);
			ok = false;
			continue;
		}
		v = config_setting_get_string(e);
		if (!is_id(v)) {
			err_at(ld, file, line_of(e),
			    "%s: \"%s\" is not a valid tag (1-64 characters from A-Z a-z 0-9 . _ : -)",
			    sub, v);
			ok = false;
			continue;
		}
		(*out)[(*nout)++] = xstrdup(v);
	}
	return ok;
}

/* One condition of a when (§4.2); false when reported. */
static bool
parse_cond(struct loader *ld, const char *file, config_setting_t *m,
    const char *what, struct rules_cond *c)
{
	char path[DIAG_MSG_MAX];
	const char *name = config_setting_name(m), *expect;
	config_setting_t *k;
	bool ok = true, promises;
	int f, i, n;

	for (f = 0; f < RULES_FACT_COUNT; f++) {
		if (strcmp(name, rules_fact_name(f)) == 0)
			break;
	}
	if (f == RULES_FACT_COUNT) {
		err_at(ld, file, line_of(m), "%s: unknown fact \"%s\"", what,
		    name);
		return false;
	}
	c->fact = (enum rules_fact)f;
	c->line = line_of(m);
	snprintf(path, sizeof(path), "%s: %s", what, name);
	promises = ((1u << f) & PROMISES) != 0;
	switch (rules_fact_kind(f)) {
	case RULES_KIND_NUMBER:
		if (promises)
			c->window_s = RULES_WINDOW_DEFAULT_S;
		if (!config_setting_is_group(m)) {
			err_at(ld, file, line_of(m),
			    "%s must be a group { min = ...; max = ...; } (either may be left out)",
			    path);
			return false;
		}
		n = config_setting_length(m);
		for (i = 0; i < n; i++) {
			const char *kn;

			k = config_setting_get_elem(m, i);
			kn = config_setting_name(k);
			if (strcmp(kn, "min") == 0 || strcmp(kn, "max") == 0) {
				bool mn = kn[1] == 'i';

				if (!get_number(k, mn ? &c->min : &c->max)) {
					err_at(ld, file, line_of(k),
					    "%s: %s must be a number", path,
					    kn);
					ok = false;
				} else if (mn) {
					c->has_min = true;
				} else {
					c->has_max = true;
				}
			} else if (strcmp(kn, "window") == 0 && !promises) {
				err_at(ld, file, line_of(k),
				    "%s: window is only allowed on promises_broken and promises_kept",
				    path);
				ok = false;
			} else if (strcmp(kn, "window") == 0) {
				if (ld_get_duration(ld, file, k, path, "window",
				        true, &c->window_s) == -1) {
					ok = false;
				} else if (c->window_s > RULES_WINDOW_MAX_S) {
					err_at(ld, file, line_of(k),
					    "%s: window \"%s\" is longer than 366 days",
					    path, config_setting_get_string(k));
					ok = false;
				}
			} else {
				err_at(ld, file, line_of(k),
				    "%s: unknown key \"%s\" (allowed: min, max%s)",
				    path, kn, promises ? ", window" : "");
				ok = false;
			}
		}
		if (c->has_min && c->has_max && c->min > c->max)
			warn_at(ld, file, line_of(m),
			    "%s: min %g is greater than max %g, so this condition never holds",
			    path, c->min, c->max);
		return ok;
	case RULES_KIND_BOOL:
		if (config_setting_type(m) != CONFIG_TYPE_BOOL) {
			err_at(ld, file, line_of(m), "%s must be true or false",
			    path);
			return false;
		}
		c->value = config_setting_get_bool(m);
		return true;
	case RULES_KIND_SET:
		if (f == RULES_FACT_STAGE) {
			struct stage_arg a = { 0 };

			c->stages =
			    xcalloc(ld->rs->stage_words, sizeof(*c->stages));
			a.set = c->stages;
			expect = "a stage name or a list of stage names";
			return ld_each_name(
			    ld, file, m, path, expect, ld_take_stage, &a);
		}
		if (f == RULES_FACT_SIZE) {
			expect =
			    "\"small\", \"medium\" or \"large\", or a list of them";
			return ld_each_name(
			    ld, file, m, path, expect, take_size, &c->mask);
		}
		expect = "a risk class \"A\" to \"E\", or a list of them";
		return ld_each_name(
		    ld, file, m, path, expect, take_risk, &c->mask);
	case RULES_KIND_TAGS:
		if (!config_setting_is_group(m)) {
			err_at(ld, file, line_of(m),
			    "%s must be a group { any = [ ... ]; none = [ ... ]; } (either may be left out)",
			    path);
			return false;
		}
		ld_check_keys(ld, file, m, path, tags_keys);
		if ((k = config_setting_get_member(m, "any")) != NULL &&
		    !tag_list(ld, file, k, path, &c->any, &c->nany))
			ok = false;
		if ((k = config_setting_get_member(m, "none")) != NULL &&
		    !tag_list(ld, file, k, path, &c->none, &c->nnone))
			ok = false;
		n = config_setting_length(m);
		for (i = 0; i < n; i++) {
			const char *kn =
			    config_setting_name(config_setting_get_elem(m, i));

			if (strcmp(kn, "any") != 0 && strcmp(kn, "none") != 0)
				ok = false;
		}
		return ok;
	}
	return false;
}

/* A when or hold_when: a group of conditions; false when reported. */
bool
ld_parse_when(struct loader *ld, const char *file, config_setting_t *s,
    const char *what, struct rules_when *w)
{
	bool ok = true;
	int i, n;

	if (!config_setting_is_group(s)) {
		err_at(ld, file, line_of(s),
		    "%s must be a group of conditions { fact = ...; ... }",
		    what);
		return false;
	}
	n = config_setting_length(s);
	w->conds = xcalloc((size_t)n, sizeof(*w->conds));
	for (i = 0; i < n; i++) {
		/* Kept even when bad: rules_free() frees what it holds. */
		if (!parse_cond(ld, file, config_setting_get_elem(s, i), what,
		        &w->conds[w->n++]))
			ok = false;
	}
	return ok;
}
