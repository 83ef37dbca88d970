/*
 * lines — JSON Lines framing for ingest batches and control requests.
 *
 * Called by socket (requests, §8) and ingest (batches, §2.1).  Invariants:
 * (1) the buffer holds at most max + 1 bytes of one line: max, plus one
 *     for a CR that may turn out to stand just before the LF;
 * (2) a line lying whole in the current chunk is never copied: the scan
 *     is one memchr() per line, so framing costs no per-byte calls;
 * (3) line numbers count every physical line, blank and too long ones
 *     included, so callers report the numbers an editor shows.
 */
#include "lines.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

void
lines_init(struct lines *lr, size_t max)
{
	memset(lr, 0, sizeof(*lr));
	lr->max = max;
}

void
lines_fini(struct lines *lr)
{
	free(lr->buf);
	memset(lr, 0, sizeof(*lr));
}

void
lines_feed(struct lines *lr, const void *data, size_t len)
{
	assert(lr->in_len == 0);
	assert(!lr->eof);
	lr->in = data;
	lr->in_len = len;
}

void
lines_eof(struct lines *lr)
{
	lr->eof = true;
}

/* Keeps what fits of n more bytes of the pending line (invariant (1)). */
static void
keep(struct lines *lr, const char *p, size_t n)
{
	size_t room, k, cap;

	if (n == 0)
		return;
	room = lr->buf_len <= lr->max ? lr->max + 1 - lr->buf_len : 0;
	k = n < room ? n : room;
	if (k > 0) {
		if (lr->buf_len + k > lr->buf_cap) {
			cap = lr->buf_cap ? lr->buf_cap : 256;
			while (cap < lr->buf_len + k)
				cap *= 2;
			if (cap > lr->max + 1)
				cap = lr->max + 1;
			lr->buf = xrealloc(lr->buf, cap);
			lr->buf_cap = cap;
		}
		memcpy(lr->buf + lr->buf_len, p, k);
		lr->buf_len += k;
	}
	lr->pending += n;
	lr->cr_last = p[n - 1] == '\r';
}

static bool
is_blank(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
			return false;
	return true;
}

/*
 * Fills ln with a line of bytes total (CR before LF included) whose
 * first kept bytes are at s; at_lf says whether an LF ended it.
 */
static void
emit(struct lines *lr, struct line *ln, const char *s, size_t total,
    bool cr_last, bool at_lf)
{
	if (at_lf && cr_last)
		total--;
	ln->s = s;
	ln->bytes = total;
	ln->no = ++lr->no;
	if (total > lr->max) {
		ln->len = lr->max;
		ln->kind = LINE_TOO_LONG;
	} else {
		ln->len = total;
		ln->kind = is_blank(s, total) ? LINE_BLANK : LINE_TEXT;
	}
}

int
lines_next(struct lines *lr, struct line *ln)
{
	const char *p, *lf;
	size_t n;

	if (lr->in_len > 0) {
		p = lr->in;
		lf = memchr(p, '\n', lr->in_len);
		if (lf == NULL) {
			keep(lr, p, lr->in_len);
			lr->in += lr->in_len;
			lr->in_len = 0;
			goto more;
		}
		n = (size_t)(lf - p);
		lr->in = lf + 1;
		lr->in_len -= n + 1;
		if (lr->pending == 0) {
			/* Invariant (2): the line lies whole in the chunk. */
			emit(lr, ln, p, n, n > 0 && p[n - 1] == '\r', true);
			return 1;
		}
		keep(lr, p, n);
		emit(lr, ln, lr->buf, lr->pending, lr->cr_last, true);
		lr->buf_len = lr->pending = 0;
		lr->cr_last = false;
		return 1;
	}
more:
	if (lr->eof && lr->pending > 0) {
		emit(lr, ln, lr->buf, lr->pending, lr->cr_last, false);
		lr->buf_len = lr->pending = 0;
		lr->cr_last = false;
		return 1;
	}
	return 0;
}
