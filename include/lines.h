/*
 * lines — JSON Lines framing (interfaces.md §2.1), fed in arbitrary pieces.
 *
 * Bytes arrive from a socket or a spool file in chunks of any size; the
 * reader yields physical lines with their 1-based number.  A line ends at
 * LF; one CR just before the LF is not part of it; a CR elsewhere is an
 * ordinary byte; the last LF is optional.  A line longer than the limit is
 * reported as LINE_TOO_LONG with only its first bytes: the reader never
 * holds more than limit + 1 bytes of one line.
 *
 * A line lying whole inside the chunk being read is returned in place (no
 * copy); only a line spanning chunks is assembled in the reader's buffer.
 *
 * A too-long line cannot be echoed whole (REJECTS.jsonl `input`, §2.4):
 * the reader offers its first `max` bytes (ln->len) and its full length
 * (ln->bytes); the caller decides how much of that prefix to quote.
 */
#ifndef DUNND_LINES_H
#define DUNND_LINES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The longest line of an ingest batch or a request (§2.1, §8): 1 MiB. */
#define LINES_MAX (1024 * 1024)

enum line_kind {
	LINE_TEXT,    /* a line to parse */
	LINE_BLANK,   /* only spaces, tabs and CRs (or empty): count, skip */
	LINE_TOO_LONG /* over the limit: s holds its first limit bytes */
};

struct line {
	const char *s; /* without LF and the CR before it; not NUL-ended */
	size_t len;    /* bytes at s (at most the limit) */
	size_t bytes;  /* the whole line's length; > len only if too long */
	uint64_t no;   /* 1-based physical line number */
	enum line_kind kind;
};

/* Private: read the fields through lines_next() only. */
struct lines {
	size_t max;     /* longest line accepted, in bytes */
	const char *in; /* the unread rest of the chunk being read */
	size_t in_len;
	char *buf; /* the start of a line begun in an earlier chunk */
	size_t buf_len, buf_cap;
	size_t pending; /* bytes of that line seen so far, kept or not */
	bool cr_last;   /* the last byte seen of that line is a CR */
	bool eof;
	uint64_t no; /* number of the last line returned */
};

/* Readies lr for lines of at most max bytes (LINES_MAX for §2.1). */
void lines_init(struct lines *lr, size_t max);
/* Frees lr's buffer; lr may be initialised again. */
void lines_fini(struct lines *lr);

/*
 * Gives the next chunk.  data is borrowed: it must stay valid until
 * lines_next() returns 0.  Call only when lines_next() has returned 0.
 */
void lines_feed(struct lines *lr, const void *data, size_t len);
/* Marks the end of input: the bytes after the last LF form a last line. */
void lines_eof(struct lines *lr);

/*
 * Returns 1 and the next line in *ln, or 0 when it needs more input (or,
 * after lines_eof(), when the input is exhausted).  ln->s is valid until
 * the next call to lines_next(), lines_feed() or lines_fini().
 */
int lines_next(struct lines *lr, struct line *ln /* OUT */);

#endif
