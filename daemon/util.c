/*
 * util — allocation that cannot fail and the user-facing error record.
 */
#include "util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

void *
xmalloc(size_t size)
{
	void *p = malloc(size ? size : 1);

	if (p == NULL)
		fatalx("out of memory (%zu bytes)", size);
	return p;
}

void *
xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (p == NULL)
		fatalx("out of memory (%zu x %zu bytes)", n, size);
	return p;
}

void *
xrealloc(void *p, size_t size)
{
	void *q = realloc(p, size ? size : 1);

	if (q == NULL)
		fatalx("out of memory (%zu bytes)", size);
	return q;
}

void *
xreallocarray(void *p, size_t n, size_t elem)
{
	if (elem != 0 && n > SIZE_MAX / elem)
		fatalx("out of memory (%zu x %zu bytes)", n, elem);
	return xrealloc(p, n * elem);
}

char *
xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

char *
xstrndup(const char *s, size_t n)
{
	char *p = xmalloc(n + 1);

	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

int
diag_set(struct diag *d, const char *field, const char *fmt, ...)
{
	va_list ap;

	if (d == NULL)
		return -1;
	snprintf(d->field, sizeof(d->field), "%s", field ? field : "");
	va_start(ap, fmt);
	vsnprintf(d->msg, sizeof(d->msg), fmt, ap);
	va_end(ap);
	return -1;
}

void
diags_init(struct diags *ds)
{
	memset(ds, 0, sizeof(*ds));
}

void
diags_fini(struct diags *ds)
{
	free(ds->v);
	memset(ds, 0, sizeof(*ds));
}

void
diags_add(struct diags *ds, const char *file, int line, bool warning,
    const char *fmt, ...)
{
	struct diag *d;
	va_list ap;

	if (ds->n == ds->cap) {
		ds->cap = ds->cap ? ds->cap * 2 : 16;
		ds->v = xreallocarray(ds->v, ds->cap, sizeof(*ds->v));
	}
	d = &ds->v[ds->n++];
	memset(d, 0, sizeof(*d));
	snprintf(d->file, sizeof(d->file), "%s", file ? file : "");
	d->line = line;
	d->warning = warning;
	va_start(ap, fmt);
	vsnprintf(d->msg, sizeof(d->msg), fmt, ap);
	va_end(ap);
	if (warning)
		ds->warnings++;
	else
		ds->errors++;
}

static int
diag_cmp(const struct diag *a, const struct diag *b)
{
	int c = strcmp(a->file, b->file);

	if (c != 0)
		return c;
	return (a->line > b->line) - (a->line < b->line);
}

void
diags_sort(struct diags *ds)
{
	size_t i, j;
	struct diag tmp;

	/* Insertion sort: stable, and lists are short. */
	for (i = 1; i < ds->n; i++) {
		tmp = ds->v[i];
		for (j = i; j > 0 && diag_cmp(&ds->v[j - 1], &tmp) > 0; j--)
			ds->v[j] = ds->v[j - 1];
		ds->v[j] = tmp;
	}
}

void
diag_format(const struct diag *d, char *buf, size_t len)
{
	snprintf(buf, len, "%s:%d: %s%s", d->file, d->line,
	    d->warning ? "warning: " : "", d->msg);
}
