#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "lines.h"
#include "util.h"

/* One line as the tests compare them: kind, number, kept bytes, length. */
struct got {
	enum line_kind kind;
	uint64_t no;
	size_t bytes;
	char *s;
	size_t len;
};

struct gots {
	struct got *v;
	size_t n;
};

static void
gots_free(struct gots *g)
{
	size_t i;

	for (i = 0; i < g->n; i++)
		free(g->v[i].s);
	free(g->v);
	g->v = NULL;
	g->n = 0;
}

static void
drain(struct lines *lr, struct gots *g)
{
	struct line ln;
	struct got *o;

	while (lines_next(lr, &ln) == 1) {
		g->v = xreallocarray(g->v, g->n + 1, sizeof(*g->v));
		o = &g->v[g->n++];
		o->kind = ln.kind;
		o->no = ln.no;
		o->bytes = ln.bytes;
		o->len = ln.len;
		o->s = xmalloc(ln.len + 1);
		memcpy(o->s, ln.s, ln.len);
		o->s[ln.len] = '\0';
	}
}

/*
 * Reads buf in chunks: sizes[] cycled (0 = the whole rest at once).
 * Chunks are copied to a fresh heap block and freed after draining so
 * ASan catches any line kept pointing into an old chunk.
 */
static void
read_chunked(const char *buf, size_t len, size_t max, const size_t *sizes,
    size_t nsizes, struct gots *g)
{
	struct lines lr;
	size_t off = 0, k = 0, n;
	char *chunk;

	lines_init(&lr, max);
	while (off < len) {
		n = sizes[k++ % nsizes];
		if (n == 0 || n > len - off)
			n = len - off;
		chunk = xmalloc(n);
		memcpy(chunk, buf + off, n);
		lines_feed(&lr, chunk, n);
		drain(&lr, g);
		free(chunk);
		off += n;
	}
	lines_eof(&lr);
	drain(&lr, g);
	lines_fini(&lr);
}

static void
read_whole(const char *buf, size_t len, size_t max, struct gots *g)
{
	size_t whole = 0;

	read_chunked(buf, len, max, &whole, 1, g);
}

static void
assert_same(const struct gots *a, const struct gots *b)
{
	size_t i;

	assert_int_equal(a->n, b->n);
	for (i = 0; i < a->n; i++) {
		assert_int_equal(a->v[i].kind, b->v[i].kind);
		assert_int_equal(a->v[i].no, b->v[i].no);
		assert_int_equal(a->v[i].bytes, b->v[i].bytes);
		assert_int_equal(a->v[i].len, b->v[i].len);
		assert_memory_equal(a->v[i].s, b->v[i].s, a->v[i].len);
	}
}

static const char sample[] =
    "{\"a\":1}\n"
    "{\"b\":\"x\ry\"}\r\n"   /* lone CR inside, CRLF end */
    "\n"                     /* empty */
    " \t\r \r\n"             /* blank with tabs and CRs */
    "\r\n"                   /* blank: CR only */
    "\r\r\n"                 /* blank: one CR kept, one stripped */
    "[1,2]\r\r\n"            /* one CR stays in the line */
    "0123456789abcdef\n"     /* exactly max = 16: accepted */
    "0123456789abcdefg\n"    /* 17: too long */
    "0123456789abcdef\r\n"   /* 16 + CRLF: accepted */
    "0123456789abcdefgh\r\n" /* too long, CRLF */
    "0123456789abcdefghijklmnopqrstuvwxyz0123456789\n" /* much too long */
    "\xEF\xBB\xBF{}\n" /* a BOM is the parser's business */
    "last";            /* no final LF */

static void
test_sample_whole(void **state)
{
	struct gots g = { 0 };

	(void)state;
	read_whole(sample, sizeof(sample) - 1, 16, &g);
	assert_int_equal(g.n, 14);
	assert_int_equal(g.v[0].kind, LINE_TEXT);
	assert_string_equal(g.v[0].s, "{\"a\":1}");
	assert_string_equal(g.v[1].s, "{\"b\":\"x\ry\"}");
	assert_int_equal(g.v[1].len, 11);
	assert_int_equal(g.v[2].kind, LINE_BLANK);
	assert_int_equal(g.v[2].len, 0);
	assert_int_equal(g.v[3].kind, LINE_BLANK);
	assert_string_equal(g.v[3].s, " \t\r ");
	assert_int_equal(g.v[4].kind, LINE_BLANK);
	assert_int_equal(g.v[4].len, 0);
	assert_int_equal(g.v[5].kind, LINE_BLANK);
	assert_string_equal(g.v[5].s, "\r");
	assert_int_equal(g.v[6].kind, LINE_TEXT);
	assert_string_equal(g.v[6].s, "[1,2]\r");
	assert_int_equal(g.v[7].kind, LINE_TEXT);
	assert_int_equal(g.v[7].len, 16);
	assert_int_equal(g.v[8].kind, LINE_TOO_LONG);
	assert_int_equal(g.v[8].bytes, 17);
	assert_int_equal(g.v[8].len, 16);
	assert_string_equal(g.v[8].s, "0123456789abcdef");
	assert_int_equal(g.v[9].kind, LINE_TEXT);
	assert_string_equal(g.v[9].s, "0123456789abcdef");
	assert_int_equal(g.v[10].kind, LINE_TOO_LONG);
	assert_int_equal(g.v[10].bytes, 18);
	assert_int_equal(g.v[11].kind, LINE_TOO_LONG);
	assert_int_equal(g.v[11].bytes, 46);
	assert_string_equal(g.v[11].s, "0123456789abcdef");
	assert_int_equal(g.v[12].kind, LINE_TEXT);
	assert_string_equal(g.v[12].s, "\xEF\xBB\xBF{}");
	assert_int_equal(g.v[13].kind, LINE_TEXT);
	assert_string_equal(g.v[13].s, "last");
	assert_int_equal(g.v[13].no, 14);
	gots_free(&g);
}

/* Every chunking gives what reading the whole buffer at once gives. */
static void
test_sample_any_chunks(void **state)
{
	const size_t ones[] = { 1 }, mixed[] = { 3, 1, 7, 2, 16, 5, 1, 40 };
	struct gots want = { 0 }, got = { 0 };
	size_t sizes[64], i, round;

	(void)state;
	read_whole(sample, sizeof(sample) - 1, 16, &want);
	read_chunked(sample, sizeof(sample) - 1, 16, ones, 1, &got);
	assert_same(&want, &got);
	gots_free(&got);
	read_chunked(sample, sizeof(sample) - 1, 16, mixed, 8, &got);
	assert_same(&want, &got);
	gots_free(&got);
	srand(1234);
	for (round = 0; round < 500; round++) {
		for (i = 0; i < 64; i++)
			sizes[i] = 1 + (size_t)rand() % 24;
		read_chunked(sample, sizeof(sample) - 1, 16, sizes, 64, &got);
		assert_same(&want, &got);
		gots_free(&got);
	}
	gots_free(&want);
}

/* Every single cut point, for the two-chunk case. */
static void
test_sample_every_cut(void **state)
{
	struct gots want = { 0 }, got = { 0 };
	size_t cut, sizes[2], len = sizeof(sample) - 1;

	(void)state;
	read_whole(sample, len, 16, &want);
	for (cut = 1; cut < len; cut++) {
		sizes[0] = cut;
		sizes[1] = len;
		read_chunked(sample, len, 16, sizes, 2, &got);
		assert_same(&want, &got);
		gots_free(&got);
	}
	gots_free(&want);
}

static void
test_edges(void **state)
{
	struct gots g = { 0 };

	(void)state;
	read_whole("", 0, 16, &g);
	assert_int_equal(g.n, 0);
	read_whole("\n", 1, 16, &g);
	assert_int_equal(g.n, 1);
	assert_int_equal(g.v[0].kind, LINE_BLANK);
	gots_free(&g);
	read_whole("a\n", 2, 16, &g);
	assert_int_equal(g.n, 1); /* a final LF makes no extra line */
	gots_free(&g);
	read_whole("a\nb", 3, 16, &g);
	assert_int_equal(g.n, 2);
	assert_string_equal(g.v[1].s, "b");
	gots_free(&g);
	/* A CR at the very end of input stays: no LF follows it. */
	read_whole("a\r", 2, 16, &g);
	assert_int_equal(g.n, 1);
	assert_string_equal(g.v[0].s, "a\r");
	gots_free(&g);
	read_whole("\r", 1, 16, &g);
	assert_int_equal(g.v[0].kind, LINE_BLANK);
	gots_free(&g);
	/* CR CR LF: only the last CR goes. */
	read_whole("x\r\r\n", 4, 16, &g);
	assert_string_equal(g.v[0].s, "x\r");
	gots_free(&g);
}

/* A too-long blank line is too long: the limit applies first. */
static void
test_long_blank(void **state)
{
	char buf[40];
	struct gots g = { 0 };

	(void)state;
	memset(buf, ' ', sizeof(buf));
	buf[39] = '\n';
	read_whole(buf, sizeof(buf), 16, &g);
	assert_int_equal(g.n, 1);
	assert_int_equal(g.v[0].kind, LINE_TOO_LONG);
	gots_free(&g);
}

/* Builds n lines: a line of exactly len bytes is JSON-ish filler. */
static char *
big_line(size_t len, const char *end, size_t *total)
{
	size_t elen = strlen(end);
	char *b = xmalloc(len + elen + 3);

	memset(b, 'x', len);
	memcpy(b + len, end, elen);
	memcpy(b + len + elen, "{}", 2);
	*total = len + elen + 2;
	return b;
}

static void
check_big(size_t len, const char *end, enum line_kind kind, size_t bytes)
{
	const size_t sizes[] = { 0, 4096, 65536, 1, 1000003 };
	struct gots g = { 0 };
	size_t total, k;
	char *b = big_line(len, end, &total);

	for (k = 0; k < 5; k++) {
		read_chunked(b, total, LINES_MAX, &sizes[k], 1, &g);
		assert_int_equal(g.n, 2);
		assert_int_equal(g.v[0].kind, kind);
		assert_int_equal(g.v[0].bytes, bytes);
		assert_true(g.v[0].len <= LINES_MAX);
		assert_memory_equal(g.v[0].s, b, g.v[0].len);
		assert_int_equal(g.v[1].kind, LINE_TEXT);
		assert_int_equal(g.v[1].no, 2);
		assert_string_equal(g.v[1].s, "{}");
		gots_free(&g);
	}
	free(b);
}

static void
test_one_mib(void **state)
{
	(void)state;
	check_big(LINES_MAX, "\n", LINE_TEXT, LINES_MAX);
	check_big(LINES_MAX, "\r\n", LINE_TEXT, LINES_MAX);
	check_big(LINES_MAX + 1, "\n", LINE_TOO_LONG, LINES_MAX + 1);
	check_big(LINES_MAX + 1, "\r\n", LINE_TOO_LONG, LINES_MAX + 1);
	check_big(LINES_MAX - 1, "\r\r\n", LINE_TEXT, LINES_MAX);
	check_big(LINES_MAX, "\r\r\n", LINE_TOO_LONG, LINES_MAX + 1);
	check_big(3 * LINES_MAX, "\n", LINE_TOO_LONG, 3 * LINES_MAX);
}

/* Reading a much too long line keeps the buffer at max + 1 bytes. */
static void
test_never_buffered_whole(void **state)
{
	struct lines lr;
	struct line ln;
	char chunk[1000];
	size_t i;

	(void)state;
	memset(chunk, 'y', sizeof(chunk));
	lines_init(&lr, 100);
	for (i = 0; i < 1000; i++) {
		lines_feed(&lr, chunk, sizeof(chunk));
		assert_int_equal(lines_next(&lr, &ln), 0);
		assert_true(lr.buf_cap <= 101);
	}
	lines_feed(&lr, "\n", 1);
	assert_int_equal(lines_next(&lr, &ln), 1);
	assert_int_equal(ln.kind, LINE_TOO_LONG);
	assert_int_equal(ln.bytes, 1000000);
	assert_int_equal(ln.len, 100);
	assert_int_equal(lines_next(&lr, &ln), 0);
	lines_fini(&lr);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sample_whole),
		cmocka_unit_test(test_sample_any_chunks),
		cmocka_unit_test(test_sample_every_cut),
		cmocka_unit_test(test_edges),
		cmocka_unit_test(test_long_blank),
		cmocka_unit_test(test_one_mib),
		cmocka_unit_test(test_never_buffered_whole),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
