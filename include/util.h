/*
 * util — allocation that cannot fail, and the user-facing error record.
 *
 * x*alloc() die on out-of-memory: nothing is acknowledged before commit,
 * so dying is safe and systemd restarts us (style.md §4).
 */
#ifndef DUNND_UTIL_H
#define DUNND_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DUNND_VERSION "0.1.0"

/* The largest amount or total an event may carry: 2^53 (§2). */
#define MONEY_MAX ((int64_t)1 << 53)

/* Division rounding towards minus infinity (b != 0). */
static inline int64_t
floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;

	if ((a % b) != 0 && ((a < 0) != (b < 0)))
		q--;
	return q;
}

void *xmalloc(size_t size);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t size);
/* Grows an array of n elements of size elem to at least want elements. */
void *xreallocarray(void *p, size_t n, size_t elem);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

/*
 * One user-facing error: rules and dunnd.conf print it as
 * "FILE:LINE: msg", ingest as line + field + msg.  field "" = no field
 * (a line error, JSON null in results).
 */
#define DIAG_MSG_MAX 256
struct diag {
	char file[256];
	int line;
	bool warning;
	char field[64];
	char msg[DIAG_MSG_MAX];
};

/* Fills d; returns -1 so callers can "return diag_set(...)". */
int diag_set(struct diag *d, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A growable list of diags, kept in the order they were added. */
struct diags {
	struct diag *v;
	size_t n, cap;
	size_t errors, warnings;
};

void diags_init(struct diags *ds);
void diags_fini(struct diags *ds);
/* Appends a copy of an error (warning = false) or warning. */
void diags_add(struct diags *ds, const char *file, int line, bool warning,
    const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* Sorts by file (byte order), then line, keeping insertion order within. */
void diags_sort(struct diags *ds);
/* "FILE:LINE: msg" or "FILE:LINE: warning: msg" into buf. */
void diag_format(const struct diag *d, char *buf, size_t len);

/*
 * A byte buffer: data lives in p[off, len).  Consuming from the front
 * moves off; the space is reclaimed when the buffer empties or on the
 * next append that needs it.
 */
struct buf {
	char *p;
	size_t off, len, cap;
};

void buf_init(struct buf *b);
void buf_fini(struct buf *b);
/* Ensures room for n more bytes and returns where they go. */
char *buf_reserve(struct buf *b, size_t n);
void buf_append(struct buf *b, const void *data, size_t n);
void buf_printf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Drops n bytes from the front. */
void buf_consume(struct buf *b, size_t n);
/* Bytes held. */
size_t buf_size(const struct buf *b);
const char *buf_data(const struct buf *b);
void buf_clear(struct buf *b);

/*
 * Integers as zigzag LEB128 varints (the saved forms of account.h and
 * ledger.h: most values are small).  varint_get() reads one from *p,
 * never past end, and moves *p; false when the bytes end first or a
 * varint runs past ten bytes.
 */
void buf_put_varint(struct buf *b, int64_t v);

/* Inline: a start decodes a few dozen for each of a million accounts. */
static inline bool
varint_get(const unsigned char **p, const unsigned char *end, int64_t *v)
{
	uint64_t u = 0;
	int i;

	for (i = 0; i < 64; i += 7) {
		if (*p == end)
			return false;
		u |= (uint64_t)(**p & 0x7f) << i;
		if ((*(*p)++ & 0x80) == 0) {
			*v = (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
			return true;
		}
	}
	return false;
}

#endif
