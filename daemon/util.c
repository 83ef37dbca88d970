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

void
buf_init(struct buf *b)
{
	memset(b, 0, sizeof(*b));
}

void
buf_fini(struct buf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

char *
buf_reserve(struct buf *b, size_t n)
{
	if (b->off > 0 && (b->off == b->len || b->len + n > b->cap)) {
		memmove(b->p, b->p + b->off, b->len - b->off);
		b->len -= b->off;
		b->off = 0;
	}
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 256;

		while (cap < b->len + n)
			cap *= 2;
		b->p = xrealloc(b->p, cap);
		b->cap = cap;
	}
	return b->p + b->len;
}

void
buf_append(struct buf *b, const void *data, size_t n)
{
	if (n == 0)
		return;
	memcpy(buf_reserve(b, n), data, n);
	b->len += n;
}

void
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	buf_reserve(b, (size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void
buf_consume(struct buf *b, size_t n)
{
	b->off += n;
	if (b->off >= b->len)
		b->off = b->len = 0;
}

size_t
buf_size(const struct buf *b)
{
	return b->len - b->off;
}

const char *
buf_data(const struct buf *b)
{
	return b->p + b->off;
}

void
buf_clear(struct buf *b)
{
	b->off = b->len = 0;
}

void
buf_put_varint(struct buf *b, int64_t v)
{
	uint64_t u = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
	unsigned char c[10];
	size_t n = 0;

	do {
		c[n] = (unsigned char)(u & 0x7f);
		u >>= 7;
		if (u != 0)
			c[n] |= 0x80;
		n++;
	} while (u != 0);
	buf_append(b, c, n);
}
