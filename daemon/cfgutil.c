/*
 * cfgutil — libconfig setting helpers shared by conf and pushconf.
 */
#include "cfgutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libconfig.h>

/* The text of a file read by cfgutil_read(), the root setting's hook. */
struct cfgtext {
	char *text;
	size_t len;
};

static void
cfgtext_free(void *hook)
{
	struct cfgtext *t = hook;

	free(t->text);
	free(t);
}

/* The whole of fp from its start, for cfgutil_line(); NULL if unreadable. */
static struct cfgtext *
cfgtext_read(FILE *fp)
{
	struct cfgtext *t = xcalloc(1, sizeof(*t));
	size_t cap = 4096, n;

	rewind(fp);
	t->text = xmalloc(cap);
	while ((n = fread(t->text + t->len, 1, cap - t->len, fp)) > 0) {
		t->len += n;
		if (t->len == cap)
			t->text = xrealloc(t->text, cap *= 2);
	}
	if (ferror(fp)) {
		cfgtext_free(t);
		return NULL;
	}
	return t;
}

int
cfgutil_read(config_t *cfg, const char *path, struct diags *ds)
{
	FILE *fp;
	struct cfgtext *t;

	if ((fp = fopen(path, "r")) == NULL) {
		diags_add(
		    ds, path, 0, false, "cannot read: %s", strerror(errno));
		return -1;
	}
	if (config_read(cfg, fp) != CONFIG_TRUE) {
		diags_add(ds, path, config_error_line(cfg), false, "%s",
		    config_error_text(cfg));
		fclose(fp);
		return -1;
	}
	if ((t = cfgtext_read(fp)) != NULL) {
		config_set_destructor(cfg, cfgtext_free);
		config_setting_set_hook(config_root_setting(cfg), t);
	}
	fclose(fp);
	return 0;
}

/* The first byte of line n (1-based) of t, or NULL past its end. */
static const char *
line_start(const char *t, size_t len, int n)
{
	size_t i = 0;

	while (--n > 0) {
		const char *nl = memchr(t + i, '\n', len - i);

		if (nl == NULL)
			return NULL;
		i = (size_t)(nl - t) + 1;
	}
	return t + i;
}

/* The first byte at p that is not a space, tab or CR. */
static const char *
skip_blank(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\r'))
		p++;
	return p;
}

int
cfgutil_line_in(
    const config_setting_t *s, int line, const char *text, size_t len)
{
	const config_setting_t *parent = s->parent;
	const char *p, *end = text + len;
	int idx, low = 1, l;

	if (text == NULL || parent == NULL || line <= 1 ||
	    config_setting_is_aggregate(s) ||
	    (!config_setting_is_list(parent) &&
	        !config_setting_is_array(parent)))
		return line;
	idx = config_setting_index(s);
	if (idx < 0 || idx != config_setting_length(parent) - 1)
		return line;
	/* Only when the reported line opens with the closing bracket. */
	if ((p = line_start(text, len, line)) == NULL)
		return line;
	p = skip_blank(p, end);
	if (p >= end || (*p != ']' && *p != ')'))
		return line;
	if (idx > 0)
		low = (int)config_setting_source_line(
		    config_setting_get_elem(parent, (unsigned)idx - 1));
	/* The element is on the last line before it with something on it
	 * other than a comment. */
	for (l = line - 1; l >= low && l >= 1; l--) {
		p = skip_blank(line_start(text, len, l), end);
		if (p >= end || *p == '\n' || *p == '#' || *p == '*' ||
		    (*p == '/' && p + 1 < end && (p[1] == '/' || p[1] == '*')))
			continue;
		return l;
	}
	return line;
}

int
cfgutil_line(const config_setting_t *s)
{
	const config_setting_t *root = s;
	const struct cfgtext *t;
	int line = (int)config_setting_source_line(s);

	while (root->parent != NULL)
		root = root->parent;
	if ((t = config_setting_get_hook(root)) == NULL)
		return line;
	return cfgutil_line_in(s, line, t->text, t->len);
}

const char *
cfgutil_string_of(
    config_setting_t *s, const char *file, const char *key, struct diags *ds)
{
	const char *v = config_setting_get_string(s);

	if (v == NULL || *v == '\0') {
		diags_add(ds, file, config_setting_source_line(s), false,
		    "%s: expected a non-empty string", key);
		return NULL;
	}
	return v;
}

int
cfgutil_int_of(config_setting_t *s, const char *file, const char *key, int lo,
    int hi, int *out, struct diags *ds)
{
	if (config_setting_type(s) != CONFIG_TYPE_INT ||
	    config_setting_get_int(s) < lo || config_setting_get_int(s) > hi) {
		diags_add(ds, file, config_setting_source_line(s), false,
		    "%s: expected an integer %d-%d", key, lo, hi);
		return -1;
	}
	*out = config_setting_get_int(s);
	return 0;
}

void
cfgutil_free_list(char **v)
{
	char **p;

	if (v == NULL)
		return;
	for (p = v; *p != NULL; p++)
		free(*p);
	free(v);
}
