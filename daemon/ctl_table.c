/*
 * ctl_table — dunnctl's human output: ctl_say() (no raw control character
 * reaches the terminal), JSON values and money as text (major.minor
 * with integers only, §1), and tables with aligned columns, among them
 * the listings: a request whose records are the rows of a table.
 *
 * Called by the command modules (ctl_*.c) through ctl_int.h.
 */
#include "ctl_int.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "protocol.h"

/* Prints to stdout with every control character but "\n" shown as "?". */
void __attribute__((format(printf, 1, 2))) ctl_say(const char *fmt, ...)
{
	va_list ap;
	char *s, *p;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		fatal("vasprintf");
	for (p = s; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;

		if ((c < ' ' && c != '\n') || c == 0x7f)
			*p = '?';
	}
	fputs(s, stdout);
	free(s);
}

/*
 * A JSON value as a person reads it: strings bare, absent or null "-",
 * arrays "a, b", objects "k=v, k=v" (inner arrays in brackets).
 */
void
ctl_value_text(struct buf *b, json_t *v, bool inner)
{
	const char *k, *sep = "";
	json_t *m;
	size_t i;

	switch (v != NULL ? json_typeof(v) : JSON_NULL) {
	case JSON_STRING:
		buf_printf(b, "%s", json_string_value(v));
		break;
	case JSON_INTEGER:
		buf_printf(b, "%lld", (long long)json_integer_value(v));
		break;
	case JSON_REAL:
		proto_real_text(b, json_real_value(v));
		break;
	case JSON_TRUE:
		buf_printf(b, "true");
		break;
	case JSON_FALSE:
		buf_printf(b, "false");
		break;
	case JSON_NULL:
		buf_printf(b, "-");
		break;
	case JSON_ARRAY:
		if (json_array_size(v) == 0 && !inner) {
			buf_printf(b, "-");
			break;
		}
		buf_printf(b, "%s", inner ? "[" : "");
		json_array_foreach(v, i, m)
		{
			buf_printf(b, "%s", sep);
			ctl_value_text(b, m, true);
			sep = ", ";
		}
		buf_printf(b, "%s", inner ? "]" : "");
		break;
	case JSON_OBJECT:
		buf_printf(b, "%s", inner ? "{" : "");
		json_object_foreach(v, k, m)
		{
			buf_printf(b, "%s%s=", sep, k);
			ctl_value_text(b, m, true);
			sep = ", ";
		}
		buf_printf(b, "%s", inner ? "}" : "");
		break;
	}
}

/*
 * Minor units as major.minor with two decimals, and the currency when
 * known: 1250000 CNY is "12500.00 CNY".  Integer division only.
 */
void
ctl_money_text(struct buf *b, json_t *v, const char *currency)
{
	json_int_t m;
	uint64_t u;

	if (!json_is_integer(v)) {
		ctl_value_text(b, v, false);
		return;
	}
	m = json_integer_value(v);
	u = m < 0 ? 0 - (uint64_t)m : (uint64_t)m;
	buf_printf(b, "%s%llu.%02u", m < 0 ? "-" : "",
	    (unsigned long long)(u / 100), (unsigned)(u % 100));
	if (currency != NULL)
		buf_printf(b, " %s", currency);
}

/* Clears b, writes v into it and returns the text (valid until b changes). */
const char *
ctl_text(struct buf *b, json_t *v)
{
	buf_clear(b);
	ctl_value_text(b, v, false);
	buf_append(b, "", 1);
	return buf_data(b);
}

const char *
ctl_money(struct buf *b, json_t *v, const char *currency)
{
	buf_clear(b);
	ctl_money_text(b, v, currency);
	buf_append(b, "", 1);
	return buf_data(b);
}

/* rec.key as text ("-" when absent). */
const char *
ctl_field(struct buf *b, json_t *rec, const char *key)
{
	return ctl_text(b, json_object_get(rec, key));
}

/* The record's currency, when it is a string. */
const char *
ctl_currency(json_t *rec)
{
	return json_string_value(json_object_get(rec, "currency"));
}

/*
 * part/whole scaled to n and rounded, in integers (no floating point for
 * money): 0 when whole is not positive, at most n.
 */
int64_t
ctl_share(int64_t part, int64_t whole, int64_t n)
{
	if (whole <= 0 || part <= 0)
		return 0;
	if (part > whole)
		part = whole;
	/* part * 2n must not overflow: halve both, the ratio barely moves. */
	while (whole > INT64_MAX / (2 * n)) {
		whole /= 2;
		part /= 2;
	}
	return (part * 2 * n / whole + 1) / 2;
}

/* Columns a string takes on a terminal: UTF-8 continuation bytes add none. */
static size_t
columns(const char *s)
{
	size_t n = 0;

	for (; *s != '\0'; s++) {
		if (((unsigned char)*s & 0xc0) != 0x80)
			n++;
	}
	return n;
}

void
ctl_table_init(struct table *t, const struct col *cols)
{
	memset(t, 0, sizeof(*t));
	t->cols = cols;
	while (cols[t->ncols].head != NULL)
		t->ncols++;
}

void
ctl_table_fini(struct table *t)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		free(t->cells[i]);
	free(t->cells);
	memset(t, 0, sizeof(*t));
}

/* Appends one cell (copied); every ncols cells make a row. */
void
ctl_table_add(struct table *t, const char *s)
{
	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 64;
		t->cells = xreallocarray(t->cells, t->cap, sizeof(*t->cells));
	}
	t->cells[t->n++] = xstrdup(s);
}

size_t
ctl_table_rows(const struct table *t)
{
	return t->ncols ? t->n / t->ncols : 0;
}

void
ctl_table_width(const struct table *t, size_t *w /* OUT */)
{
	size_t c, i;

	for (c = 0; c < t->ncols; c++)
		w[c] = columns(t->cols[c].head);
	for (i = 0; i < t->n; i++) {
		c = i % t->ncols;
		if (columns(t->cells[i]) > w[c])
			w[c] = columns(t->cells[i]);
	}
}

static void
table_line(const struct table *t, const char *const *cells, const size_t *w,
    size_t indent)
{
	struct buf b;
	size_t c, pad;

	buf_init(&b);
	buf_printf(&b, "%*s", (int)indent, "");
	for (c = 0; c < t->ncols; c++) {
		pad = w[c] - columns(cells[c]);
		if (c > 0)
			buf_printf(&b, "  ");
		if (t->cols[c].right)
			buf_printf(&b, "%*s", (int)pad, "");
		buf_printf(&b, "%s", cells[c]);
		if (!t->cols[c].right)
			buf_printf(&b, "%*s", (int)pad, "");
	}
	while (buf_size(&b) > 0 && b.p[b.len - 1] == ' ')
		b.len--;
	buf_append(&b, "", 1);
	ctl_say("%s\n", buf_data(&b));
	buf_fini(&b);
}

/* Prints the header and every row, columns two spaces apart. */
void
ctl_table_print(const struct table *t, size_t indent)
{
	const char **head = xcalloc(t->ncols, sizeof(*head));
	size_t *w = xcalloc(t->ncols, sizeof(*w));
	size_t c, r;

	for (c = 0; c < t->ncols; c++)
		head[c] = t->cols[c].head;
	ctl_table_width(t, w);
	table_line(t, head, w, indent);
	for (r = 0; r < ctl_table_rows(t); r++)
		table_line(
		    t, (const char *const *)&t->cells[r * t->ncols], w, indent);
	free(w);
	free(head);
}

void
ctl_listing_done(struct ctl *ctl, json_t *fin, void *arg)
{
	struct listing *l = arg;

	(void)ctl;
	if (ctl_table_rows(&l->t) > 0)
		ctl_table_print(&l->t, 0);
	else if (l->said == 0 && json_is_true(json_object_get(fin, "ok")))
		ctl_say("%s\n", l->none);
}

/* Each of keys (NULL-terminated) as a cell of the listing's row. */
void
ctl_listing_add_fields(struct listing *l, json_t *rec, const char *const *keys)
{
	struct buf b;

	buf_init(&b);
	for (; *keys != NULL; keys++)
		ctl_table_add(&l->t, ctl_field(&b, rec, *keys));
	buf_fini(&b);
}

/* Sends line and shows its records as a table of cols (v->arg a listing). */
int
ctl_listing_exchange(
    struct ctl *ctl, const struct col *cols, char *line, struct view *v)
{
	struct listing *l = v->arg;
	int rc;

	ctl_table_init(&l->t, cols);
	rc = ctl_exchange(ctl, line, v);
	ctl_table_fini(&l->t);
	return rc;
}

/* Appends prefix and the text of v. */
void
ctl_put(struct buf *b, const char *prefix, json_t *v)
{
	buf_printf(b, "%s", prefix);
	ctl_value_text(b, v, false);
}
