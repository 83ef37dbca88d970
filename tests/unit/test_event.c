#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "clock.h"
#include "event.h"
#include "hash.h"
#include "lines.h"
#include "util.h"

#define CORPUS_BAD  "tests/corpus/events-bad.jsonl"
#define CORPUS_GOOD "tests/corpus/events-good.jsonl"

/* One corpus row's input line, decoded and padded. */
static char *
row_input(json_t *row, size_t *len)
{
	json_t *in = json_object_get(row, "input");
	json_t *hex = json_object_get(row, "input_hex");
	json_t *pad = json_object_get(row, "pad_to");
	const char *h;
	size_t n, i, want;
	char *s;
	unsigned b;

	if (in != NULL) {
		n = json_string_length(in);
		want = pad ? (size_t)json_integer_value(pad) : n;
		s = xmalloc((want > n ? want : n) + 1);
		memcpy(s, json_string_value(in), n);
	} else {
		assert_non_null(hex);
		h = json_string_value(hex);
		n = strlen(h) / 2;
		want = pad ? (size_t)json_integer_value(pad) : n;
		s = xmalloc((want > n ? want : n) + 1);
		for (i = 0; i < n; i++) {
			assert_int_equal(sscanf(h + 2 * i, "%2x", &b), 1);
			s[i] = (char)b;
		}
	}
	if (want > n) {
		memset(s + n, ' ', want - n);
		n = want;
	}
	s[n] = '\0';
	*len = n;
	return s;
}

/* Calls fn on each row of a corpus file; returns the number of rows. */
static size_t
corpus_each(const char *path, int (*fn)(json_t *row, size_t no))
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t cap = 0, rows = 0, failed = 0;
	ssize_t n;
	json_error_t err;
	json_t *row;

	if (f == NULL)
		fail_msg("cannot open %s (run from the checkout)", path);
	while ((n = getline(&buf, &cap, f)) > 0) {
		row = json_loadb(buf, (size_t)n, 0, &err);
		if (row == NULL)
			fail_msg("%s:%zu: %s", path, rows + 1, err.text);
		rows++;
		if (fn(row, rows) == -1)
			failed++;
		json_decref(row);
	}
	free(buf);
	fclose(f);
	if (failed > 0)
		fail_msg("%s: %zu of %zu rows failed", path, failed, rows);
	return rows;
}

static int
check_bad_row(json_t *row, size_t no)
{
	struct event ev;
	struct diag d = { 0 };
	json_t *field = json_object_get(row, "field");
	const char *want_field =
	    json_is_null(field) ? "" : json_string_value(field);
	const char *want_msg =
	    json_string_value(json_object_get(row, "error_contains"));
	const char *why = json_string_value(json_object_get(row, "why"));
	size_t len;
	char *line = row_input(row, &len);
	int rc = 0;

	if (event_parse(line, len, &ev, &d) == 0) {
		print_error("bad row %zu (%s): accepted\n", no, why);
		rc = -1;
	} else if (strcmp(d.field, want_field) != 0 ||
	    strstr(d.msg, want_msg) == NULL) {
		print_error("bad row %zu (%s): got field \"%s\" \"%s\", "
		            "want \"%s\" \"%s\"\n",
		    no, why, d.field, d.msg, want_field, want_msg);
		rc = -1;
	}
	event_fini(&ev);
	free(line);
	return rc;
}

static int
check_good_row(json_t *row, size_t no)
{
	struct event ev, again;
	struct diag d = { 0 };
	const char *canon =
	    json_string_value(json_object_get(row, "canonical"));
	const char *why = json_string_value(json_object_get(row, "why"));
	uint8_t dig[EVENT_DIGEST_LEN];
	size_t len, clen;
	char *line = row_input(row, &len), *text = NULL;
	int rc = -1;

	if (event_parse(line, len, &ev, &d) == -1) {
		print_error(
		    "good row %zu (%s): %s: %s\n", no, why, d.field, d.msg);
		goto out;
	}
	text = event_encode(&ev, &clen);
	if (clen != strlen(canon) || strcmp(text, canon) != 0) {
		print_error("good row %zu (%s): canonical\n got %s\nwant %s\n",
		    no, why, text, canon);
		goto out;
	}
	hash_bytes(text, clen, dig);
	if (memcmp(dig, ev.digest, sizeof(dig)) != 0) {
		print_error("good row %zu: digest is not of the text\n", no);
		goto out;
	}
	/* What ingest stores: the canonical text kept from the parse. */
	if (ev.canon == NULL || ev.canon_len != clen ||
	    strcmp(ev.canon, text) != 0) {
		print_error("good row %zu: kept canonical form differs\n", no);
		goto out;
	}
	/* The canonical text is a line too, and gives the same event. */
	if (event_parse(text, clen, &again, &d) == -1 ||
	    memcmp(again.digest, ev.digest, sizeof(dig)) != 0) {
		print_error(
		    "good row %zu (%s): canonical does not round-trip\n", no,
		    why);
		event_fini(&again);
		goto out;
	}
	event_fini(&again);
	rc = 0;
out:
	free(text);
	free(line);
	event_fini(&ev);
	return rc;
}

static void
test_corpus_bad(void **state)
{
	(void)state;
	assert_true(corpus_each(CORPUS_BAD, check_bad_row) >= 150);
}

static void
test_corpus_good(void **state)
{
	(void)state;
	assert_true(corpus_each(CORPUS_GOOD, check_good_row) >= 40);
}

/*
 * The whole corpus as one batch, as ingest sees it: every row a line
 * ended by CRLF (LF for the last), read in pseudo-random chunk sizes by
 * lines.h.  Each line must get its row's result, and blank lines between
 * them only move the numbers.
 */
struct batch_row {
	bool good;
	char *field, *msg;
};

static struct batch_row *batch_rows;
static struct buf batch;
static size_t batch_n;

static int
add_batch_row(json_t *row, size_t no)
{
	json_t *field = json_object_get(row, "field");
	struct batch_row *r;
	size_t len;
	char *line = row_input(row, &len);

	(void)no;
	assert_null(memchr(line, '\n', len));
	batch_rows =
	    xreallocarray(batch_rows, batch_n + 1, sizeof(*batch_rows));
	r = &batch_rows[batch_n++];
	r->good = json_object_get(row, "canonical") != NULL;
	r->field = r->good
	    ? NULL
	    : xstrdup(json_is_null(field) ? "" : json_string_value(field));
	r->msg = r->good ? NULL
	                 : xstrdup(json_string_value(
	                       json_object_get(row, "error_contains")));
	buf_append(&batch, line, len);
	/* A blank line after every tenth row: counted, not reported. */
	buf_append(&batch, batch_n % 10 ? "\r\n" : "\r\n \t\r\n",
	    batch_n % 10 ? 2 : 6);
	free(line);
	return 0;
}

static void
test_corpus_as_batch(void **state)
{
	struct lines lr;
	struct line ln;
	struct event ev;
	struct diag d;
	struct batch_row *r;
	size_t off, n, got = 0, blanks = 0, i;
	uint64_t seed = 7;
	const char *data;
	bool eof = false;

	(void)state;
	buf_init(&batch);
	corpus_each(CORPUS_BAD, add_batch_row);
	corpus_each(CORPUS_GOOD, add_batch_row);
	data = buf_data(&batch);
	lines_init(&lr, LINES_MAX);
	for (off = 0; off < buf_size(&batch); off += n) {
		seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
		n = 1 + (size_t)(seed >> 33) % 70000;
		if (n > buf_size(&batch) - off)
			n = buf_size(&batch) - off;
		lines_feed(&lr, data + off, n);
		for (;;) {
			if (lines_next(&lr, &ln) == 0) {
				if (off + n < buf_size(&batch) || eof)
					break;
				lines_eof(&lr);
				eof = true;
				continue;
			}
			if (ln.kind == LINE_BLANK) {
				blanks++;
				continue;
			}
			assert_true(got < batch_n);
			r = &batch_rows[got++];
			/* Line numbers count the blank lines too. */
			assert_int_equal(ln.no, got + blanks);
			memset(&d, 0, sizeof(d));
			if (ln.kind == LINE_TOO_LONG)
				diag_set(&d, "", "line too long");
			else if (event_parse(ln.s, ln.len, &ev, &d) == 0) {
				if (!r->good)
					fail_msg("line %" PRIu64 ": accepted",
					    ln.no);
				event_fini(&ev);
				continue;
			}
			if (r->good || strcmp(d.field, r->field) != 0 ||
			    strstr(d.msg, r->msg) == NULL)
				fail_msg("line %" PRIu64 ": got %s: %s", ln.no,
				    d.field, d.msg);
		}
	}
	lines_fini(&lr);
	assert_int_equal(got, batch_n);
	assert_int_equal(blanks, batch_n / 10);
	for (i = 0; i < batch_n; i++) {
		free(batch_rows[i].field);
		free(batch_rows[i].msg);
	}
	free(batch_rows);
	buf_fini(&batch);
}

/* Parses s, which must be valid. */
static void
parse_ok(const char *s, struct event *ev)
{
	struct diag d = { 0 };

	if (event_parse(s, strlen(s), ev, &d) == -1)
		fail_msg("%s: %s: %s", s, d.field, d.msg);
}

static void
parse_bad(const char *s, const char *field, const char *msg)
{
	struct event ev;
	struct diag d = { 0 };

	assert_int_equal(event_parse(s, strlen(s), &ev, &d), -1);
	if (strcmp(d.field, field) != 0 || strstr(d.msg, msg) == NULL)
		fail_msg("%s: got %s: %s, want %s: ...%s...", s, d.field, d.msg,
		    field, msg);
	/* A failed parse leaves nothing to free, yet fini is harmless. */
	assert_null(ev.mem);
	event_fini(&ev);
}

static void
test_account_fields(void **state)
{
	struct event ev;

	(void)state;
	parse_ok(
	    "{\"type\":\"account\",\"id\":\"e1\",\"account\":\"C-1\","
	    "\"name\":\"Acme \\u4e2d\",\"currency\":\"CNY\","
	    "\"size\":\"large\",\"risk\":\"D\",\"cash_in_day\":31,"
	    "\"distance_km\":0,\"paused\":true,\"contacts\":[{\"role\":"
	    "\"ap_manager\",\"name\":\"Zhang\",\"email\":\"z@x\"},{\"phone\":"
	    "\"1\",\"name\":\"Li\",\"role\":\"other\"}],"
	    "\"tags\":[\"vip\",\"b.2\"]}",
	    &ev);
	assert_int_equal(ev.type, EVENT_ACCOUNT);
	assert_string_equal(ev.id, "e1");
	assert_string_equal(ev.account, "C-1");
	assert_string_equal(ev.name, "Acme \xe4\xb8\xad");
	assert_string_equal(ev.currency, "CNY");
	assert_int_equal(ev.size, EVENT_SIZE_LARGE);
	assert_int_equal(ev.risk, 'D');
	assert_true(ev.has_cash_in_day);
	assert_int_equal(ev.cash_in_day, 31);
	assert_true(ev.has_distance_km);
	assert_int_equal(ev.distance_km, 0);
	assert_true(ev.has_paused);
	assert_true(ev.paused);
	assert_true(ev.has_contacts);
	assert_int_equal(ev.ncontacts, 2);
	assert_int_equal(ev.contacts[0].role, EVENT_ROLE_AP_MANAGER);
	assert_string_equal(ev.contacts[0].name, "Zhang");
	assert_null(ev.contacts[0].phone);
	assert_string_equal(ev.contacts[0].email, "z@x");
	assert_int_equal(ev.contacts[1].role, EVENT_ROLE_OTHER);
	assert_string_equal(ev.contacts[1].phone, "1");
	assert_null(ev.contacts[1].email);
	assert_true(ev.has_tags);
	assert_int_equal(ev.ntags, 2);
	assert_string_equal(ev.tags[0], "vip");
	assert_string_equal(ev.tags[1], "b.2");
	assert_false(ev.has_amount);
	assert_string_equal(ev.invoice, "");
	assert_null(ev.reason);
	event_fini(&ev);
	assert_null(ev.mem);

	/* An update: absent members stay absent, [] is a list. */
	parse_ok("{\"type\":\"account\",\"id\":\"e2\",\"account\":\"C-1\","
	         "\"contacts\":[],\"tags\":[]}",
	    &ev);
	assert_null(ev.name);
	assert_string_equal(ev.currency, "");
	assert_int_equal(ev.size, EVENT_SIZE_NONE);
	assert_int_equal(ev.risk, '\0');
	assert_false(ev.has_paused);
	assert_true(ev.has_contacts);
	assert_int_equal(ev.ncontacts, 0);
	assert_true(ev.has_tags);
	assert_int_equal(ev.ntags, 0);
	event_fini(&ev);
}

static void
test_money_and_time_fields(void **state)
{
	struct event ev;

	(void)state;
	parse_ok("{\"type\":\"invoice\",\"id\":\"i\",\"account\":\"C\","
	         "\"invoice\":\"I\",\"amount\":9007199254740992,"
	         "\"issued\":\"1970-01-02\",\"due\":\"2026-11-27\","
	         "\"currency\":\"EUR\"}",
	    &ev);
	assert_int_equal(ev.type, EVENT_INVOICE);
	assert_true(ev.has_amount);
	assert_int_equal(ev.amount, MONEY_MAX);
	assert_true(ev.has_issued);
	assert_int_equal(ev.issued_day, 1);
	assert_string_equal(ev.issued_text, "1970-01-02");
	assert_int_equal(ev.due_day, clock_days_from_civil(2026, 11, 27));
	assert_string_equal(ev.currency, "EUR");
	event_fini(&ev);

	parse_ok("{\"type\":\"payment\",\"id\":\"p\",\"account\":\"C\","
	         "\"amount\":1,\"at\":\"1970-01-01T08:00:01.999+08:00\","
	         "\"allow_credit_balance\":false,\"invoice\":\"I\"}",
	    &ev);
	assert_true(ev.has_at);
	assert_int_equal(ev.at, 1);
	assert_string_equal(ev.at_text, "1970-01-01T08:00:01.999+08:00");
	assert_true(ev.has_allow_credit_balance);
	assert_false(ev.allow_credit_balance);
	assert_string_equal(ev.invoice, "I");
	event_fini(&ev);

	parse_ok("{\"type\":\"dispute_resolved\",\"id\":\"r\",\"account\":"
	         "\"C\",\"invoice\":\"I\",\"at\":\"2026-01-01T00:00:00Z\","
	         "\"upheld_amount\":7}",
	    &ev);
	assert_true(ev.has_upheld_amount);
	assert_int_equal(ev.upheld_amount, 7);
	assert_false(ev.has_amount);
	event_fini(&ev);

	parse_ok("{\"type\":\"outcome\",\"id\":\"o\",\"task\":\"T-1\","
	         "\"result\":\"wrong_contact\",\"at\":\"2026-01-01T00:00:00Z\","
	         "\"note\":\"\"}",
	    &ev);
	assert_int_equal(ev.result, EVENT_RESULT_WRONG_CONTACT);
	assert_string_equal(ev.task, "T-1");
	assert_string_equal(ev.note, "");
	event_fini(&ev);

	parse_ok("{\"type\":\"reversal\",\"id\":\"v\",\"account\":\"C\","
	         "\"event\":\"p\",\"at\":\"2026-01-01T00:00:00Z\","
	         "\"reason\":\"bounced\"}",
	    &ev);
	assert_string_equal(ev.event_ref, "p");
	assert_string_equal(ev.reason, "bounced");
	event_fini(&ev);
}

static void
digest_of(const char *s, uint8_t out[EVENT_DIGEST_LEN])
{
	struct event ev;

	parse_ok(s, &ev);
	memcpy(out, ev.digest, EVENT_DIGEST_LEN);
	event_fini(&ev);
}

#define PAY_A "\"type\":\"payment\",\"id\":\"p1\",\"account\":\"C-1\""
#define PAY_T "\"at\":\"2026-01-05T10:00:00+08:00\""

static void
test_digest(void **state)
{
	uint8_t a[16], b[16];

	(void)state;
	/* Member order and whitespace do not matter. */
	digest_of("{" PAY_A ",\"amount\":100," PAY_T "}", a);
	digest_of("{" PAY_T ", \"amount\" : 100 ,\"account\":\"C-1\","
	          "\"id\":\"p1\",\"type\":\"payment\"}",
	    b);
	assert_memory_equal(a, b, 16);
	/* Escapes do not matter: strings are compared unescaped. */
	digest_of("{" PAY_A ",\"amount\":100," PAY_T ",\"invoice\":\"aA\"}", a);
	digest_of(
	    "{" PAY_A ",\"amount\":100," PAY_T ",\"invoice\":\"a\\u0041\"}", b);
	assert_memory_equal(a, b, 16);
	digest_of("{\"type\":\"account\",\"id\":\"a\",\"account\":\"C\","
	          "\"name\":\"\\u00e9/\\ud83d\\ude00\"}",
	    a);
	digest_of("{\"type\":\"account\",\"id\":\"a\",\"account\":\"C\","
	          "\"name\":\"\xc3\xa9\\/\xf0\x9f\x98\x80\"}",
	    b);
	assert_memory_equal(a, b, 16);
	/* A changed amount changes it. */
	digest_of("{" PAY_A ",\"amount\":100," PAY_T "}", a);
	digest_of("{" PAY_A ",\"amount\":101," PAY_T "}", b);
	assert_memory_not_equal(a, b, 16);
	/* So does an extra optional member, even false. */
	digest_of("{" PAY_A ",\"amount\":100," PAY_T
	          ",\"allow_credit_balance\":false}",
	    b);
	assert_memory_not_equal(a, b, 16);
	/* And the same instant written otherwise: content is as written. */
	digest_of("{" PAY_A ",\"amount\":100,"
	          "\"at\":\"2026-01-05T02:00:00Z\"}",
	    b);
	assert_memory_not_equal(a, b, 16);
	/* Contacts and tags keep their order (arrays are ordered). */
	digest_of("{\"type\":\"account\",\"id\":\"a\",\"account\":\"C\","
	          "\"tags\":[\"x\",\"y\"]}",
	    a);
	digest_of("{\"type\":\"account\",\"id\":\"a\",\"account\":\"C\","
	          "\"tags\":[\"y\",\"x\"]}",
	    b);
	assert_memory_not_equal(a, b, 16);
	/* Members inside contacts are sorted too. */
	digest_of("{\"type\":\"account\",\"id\":\"a\",\"account\":\"C\","
	          "\"contacts\":[{\"role\":\"cfo\",\"name\":\"N\",\"phone\":"
	          "\"1\"}]}",
	    a);
	digest_of("{\"type\":\"account\",\"id\":\"a\",\"account\":\"C\","
	          "\"contacts\":[{\"phone\":\"1\",\"name\":\"N\",\"role\":"
	          "\"cfo\"}]}",
	    b);
	assert_memory_equal(a, b, 16);
	/* A string boundary cannot move: "ab","c" differs from "a","bc". */
	digest_of("{\"type\":\"account\",\"id\":\"a\",\"account\":\"C\","
	          "\"tags\":[\"ab\",\"c\"]}",
	    a);
	digest_of("{\"type\":\"account\",\"id\":\"a\",\"account\":\"C\","
	          "\"tags\":[\"a\",\"bc\"]}",
	    b);
	assert_memory_not_equal(a, b, 16);
}

static void
test_encode(void **state)
{
	struct event ev;
	size_t len;
	char *s;

	(void)state;
	parse_ok("{\"type\":\"account\",\"id\":\"e1\",\"account\":\"C-1\","
	         "\"name\":\"q\\\"b\\\\s\\n\\u0001\\u007f/\",\"tags\":[],"
	         "\"contacts\":[{\"role\":\"cfo\",\"phone\":\"1\","
	         "\"name\":\"N\",\"email\":\"e\"}],\"paused\":false,"
	         "\"risk\":\"A\",\"size\":\"medium\",\"cash_in_day\":7,"
	         "\"distance_km\":20000,\"currency\":\"CNY\"}",
	    &ev);
	s = event_encode(&ev, &len);
	assert_string_equal(s,
	    "{\"account\":\"C-1\",\"cash_in_day\":7,\"contacts\":[{\"email\":"
	    "\"e\",\"name\":\"N\",\"phone\":\"1\",\"role\":\"cfo\"}],"
	    "\"currency\":\"CNY\",\"distance_km\":20000,\"id\":\"e1\","
	    "\"name\":\"q\\\"b\\\\s\\n\\u0001\x7f/\",\"paused\":false,"
	    "\"risk\":\"A\",\"size\":\"medium\",\"tags\":[],"
	    "\"type\":\"account\"}");
	assert_int_equal(len, strlen(s));
	free(s);
	event_fini(&ev);
}

/* Checks whose order the corpus also covers, spelled out here. */
static void
test_order_of_checks(void **state)
{
	(void)state;
	/* Unknown member and a bad id: id (step 3 before 4). */
	parse_bad("{\"type\":\"payment\",\"bogus\":1,\"id\":\"a b\","
	          "\"account\":\"C\",\"amount\":1," PAY_T "}",
	    "id", "not an id");
	/* Unknown member and a missing required one: the unknown one. */
	parse_bad("{\"type\":\"payment\",\"id\":\"p\",\"bogus\":1,"
	          "\"account\":\"C\"," PAY_T "}",
	    "bogus", "unknown member");
	/* Two bad fields: the first in the row. */
	parse_bad("{\"type\":\"payment\",\"id\":\"p\",\"at\":\"x\","
	          "\"account\":\"C\",\"amount\":0}",
	    "amount", "out of range");
	/* Two missing: the first in the row. */
	parse_bad("{\"type\":\"dispute\",\"id\":\"d\",\"account\":\"C\","
	          "\"invoice\":\"I\"," PAY_T "}",
	    "amount", "missing");
	/* Duplicate beats everything after step 1. */
	parse_bad("{\"type\":\"x\",\"id\":\"\",\"z\":{\"q\":1,\"q\":1}}", "z",
	    "duplicate");
	/* Malformed beats a duplicate seen earlier in the line. */
	parse_bad("{\"a\":1,\"a\":1,", "", "malformed JSON");
	/* I-JSON violation beats not-an-object and duplicates. */
	parse_bad("[\"\\ud800\"]", "", "lone surrogate");
	parse_bad("{\"a\":1,\"a\":\"\\ud800\"}", "", "lone surrogate");
}

static void
test_step1_details(void **state)
{
	struct event ev;
	struct diag d = { 0 };
	char *big;

	(void)state;
	assert_int_equal(event_parse("", 0, &ev, &d), -1);
	assert_string_equal(d.field, "");
	assert_non_null(strstr(d.msg, "malformed JSON"));
	parse_bad("   ", "", "malformed JSON");
	/* The position is 1-based, in bytes. */
	parse_bad("{\"a\":1 x}", "", "at byte 8");
	parse_bad("{\"a\":\"\xff\"}", "", "at byte 7");
	/* event_parse itself refuses over-long input. */
	big = xmalloc(EVENT_LINE_MAX + 1);
	memset(big, ' ', EVENT_LINE_MAX + 1);
	big[0] = '{';
	big[EVENT_LINE_MAX - 1] = '}';
	assert_int_equal(event_parse(big, EVENT_LINE_MAX + 1, &ev, &d), -1);
	assert_string_equal(d.msg, "line too long");
	assert_string_equal(d.field, "");
	assert_int_equal(event_parse(big, EVENT_LINE_MAX, &ev, &d), -1);
	assert_string_equal(d.field, "type"); /* parsed: {} lacks type */
	free(big);
}

/* Deep nesting costs memory in proportion, never the C stack. */
static void
test_deep_nesting(void **state)
{
	size_t depth = 400000, i;
	char *s = xmalloc(2 * depth + 64);
	struct event ev;
	struct diag d = { 0 };
	size_t n;

	(void)state;
	n = (size_t)sprintf(s, "{\"type\":\"payment\",\"x\":");
	for (i = 0; i < depth; i++)
		s[n++] = '[';
	for (i = 0; i < depth; i++)
		s[n++] = ']';
	s[n++] = '}';
	assert_int_equal(event_parse(s, n, &ev, &d), -1);
	assert_string_equal(d.field, "id");
	/* Unclosed: malformed. */
	assert_int_equal(event_parse(s, n - depth, &ev, &d), -1);
	assert_string_equal(d.field, "");
	assert_non_null(strstr(d.msg, "malformed"));
	free(s);
}

/* Many members: duplicates are found by sorting, not n^2. */
static void
test_many_members(void **state)
{
	size_t k, n = 0, m = 60000;
	char *s = xmalloc(m * 16 + 64);
	struct event ev;
	struct diag d = { 0 };

	(void)state;
	n = (size_t)sprintf(s, "{\"type\":\"payment\",\"x\":{");
	for (k = 0; k < m; k++)
		n += (size_t)sprintf(s + n, "%s\"m%zu\":1", k ? "," : "", k);
	s[n++] = '}';
	s[n++] = '}';
	assert_int_equal(event_parse(s, n, &ev, &d), -1);
	assert_string_equal(d.field, "id");
	n -= 2;
	n += (size_t)sprintf(s + n, ",\"m%zu\":2}}", m / 2);
	assert_int_equal(event_parse(s, n, &ev, &d), -1);
	assert_string_equal(d.field, "x");
	assert_non_null(strstr(d.msg, "duplicate member name \"m30000\""));
	free(s);
}

/* Member names that do not fit struct diag's field are cut, not split. */
static void
test_long_member_name(void **state)
{
	char line[512];
	struct event ev;
	struct diag d = { 0 };

	(void)state;
	/* 31 two-byte characters (62 bytes), then 3-byte ones: 63 bytes
	 * would split the first of those. */
	snprintf(line, sizeof(line),
	    "{\"type\":\"payment\",\"id\":\"p\",\"%s%s\":1}",
	    "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
	    "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
	    "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
	    "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9",
	    "\xe4\xb8\xad\xe4\xb8\xad");
	assert_int_equal(event_parse(line, strlen(line), &ev, &d), -1);
	assert_int_equal(strlen(d.field), 62);
	assert_non_null(strstr(d.msg, "unknown member"));
	/* An empty name is reported with field "" (it cannot be told
	 * from a line error through struct diag). */
	parse_bad(
	    "{\"type\":\"payment\",\"id\":\"p\",\"\":1}", "", "unknown member");
}

static void
test_names(void **state)
{
	(void)state;
	assert_string_equal(event_type_name(EVENT_ACCOUNT), "account");
	assert_string_equal(
	    event_type_name(EVENT_DISPUTE_RESOLVED), "dispute_resolved");
	assert_string_equal(event_type_name(EVENT_REVERSAL), "reversal");
	assert_null(event_type_name(EVENT_NONE));
	assert_null(event_type_name((enum event_type)99));
	assert_string_equal(event_size_name(EVENT_SIZE_MEDIUM), "medium");
	assert_null(event_size_name(EVENT_SIZE_NONE));
	assert_string_equal(
	    event_result_name(EVENT_RESULT_NO_ANSWER), "no_answer");
	assert_string_equal(event_result_name(EVENT_RESULT_DONE), "done");
	assert_string_equal(event_role_name(EVENT_ROLE_FINANCIAL_CONTROLLER),
	    "financial_controller");
	assert_string_equal(event_role_name(EVENT_ROLE_OTHER), "other");
	assert_null(event_role_name((enum event_role)11));
}

/* Framing and parsing together, fed in small pieces (CRLF, blanks). */
static void
test_with_lines(void **state)
{
	static const char in[] =
	    "{" PAY_A ",\"amount\":1," PAY_T "}\r\n"
	    " \t\r\n"
	    "{" PAY_A ",\"amount\":0," PAY_T "}\r\n"
	    "\xEF\xBB\xBF{" PAY_A ",\"amount\":1," PAY_T "}\n"
	    "{" PAY_A ",\"amount\":2," PAY_T "}";
	struct lines lr;
	struct line ln;
	struct event ev;
	struct diag d;
	size_t off, n;
	int results[8], nres = 0, blanks = 0;

	(void)state;
	lines_init(&lr, LINES_MAX);
	for (off = 0; off < sizeof(in) - 1; off += n) {
		n = sizeof(in) - 1 - off < 5 ? sizeof(in) - 1 - off : 5;
		lines_feed(&lr, in + off, n);
		while (lines_next(&lr, &ln) == 1) {
			if (ln.kind == LINE_BLANK) {
				blanks++;
				continue;
			}
			assert_int_equal(ln.kind, LINE_TEXT);
			memset(&d, 0, sizeof(d));
			results[nres++] = event_parse(ln.s, ln.len, &ev, &d)
			    ? (int)-ln.no
			    : (int)ln.no;
			event_fini(&ev);
		}
	}
	lines_eof(&lr);
	while (lines_next(&lr, &ln) == 1) {
		results[nres++] = event_parse(ln.s, ln.len, &ev, &d)
		    ? (int)-ln.no
		    : (int)ln.no;
		event_fini(&ev);
	}
	lines_fini(&lr);
	assert_int_equal(blanks, 1);
	assert_int_equal(nres, 4);
	assert_int_equal(results[0], 1);
	assert_int_equal(results[1], -3);
	assert_int_equal(results[2], -4);
	assert_int_equal(results[3], 5);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_corpus_bad),
		cmocka_unit_test(test_corpus_good),
		cmocka_unit_test(test_corpus_as_batch),
		cmocka_unit_test(test_account_fields),
		cmocka_unit_test(test_money_and_time_fields),
		cmocka_unit_test(test_digest),
		cmocka_unit_test(test_encode),
		cmocka_unit_test(test_order_of_checks),
		cmocka_unit_test(test_step1_details),
		cmocka_unit_test(test_deep_nesting),
		cmocka_unit_test(test_many_members),
		cmocka_unit_test(test_long_member_name),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_with_lines),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
