/*
 * A real engine for unit tests (test_ingest.c, test_eval.c): a SQLite
 * file in a fresh mkdtemp(3) directory, a rule set from a string, and
 * the wiring of dunnd.c and server.c (store_open, engine_open at the
 * start moment, engine_reload as at a first start, then each batch
 * after engine_run_until(now)).  Portfolio zone Asia/Shanghai (+08:00,
 * no DST), test clock (engine wall = false) unless a test asks for the
 * wall clock.
 *
 * Batches are written with ' for " so that JSON reads in C strings:
 * fx_ok(t, "{'type':'account','id':'e1',...}").  No test text holds a
 * real apostrophe.
 */
#ifndef DUNND_TEST_ENGINE_FX_H
#define DUNND_TEST_ENGINE_FX_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <sqlite3.h>

#include "account.h"
#include "clock.h"
#include "engine.h"
#include "eval.h"
#include "facts.h"
#include "ingest.h"
#include "log.h"
#include "rules.h"
#include "store.h"
#include "util.h"

#define DAY  CLOCK_DAY
#define HOUR 3600

struct fx {
	char dir[64];
	char path[128];
	struct store *s;
	struct ruleset *rs;
	struct engine e;
	bool wall;
	bool open;
};

static struct fx fx;

/* An instant from RFC 3339 text. */
static inline int64_t
T(const char *s)
{
	const char *why;
	int64_t t;

	if (clock_parse_ts(s, strlen(s), &t, &why) == -1)
		fail_msg("bad timestamp %s: %s", s, why);
	return t;
}

/* A day number from YYYY-MM-DD. */
static inline int32_t
D(const char *s)
{
	const char *why;
	int32_t d;

	if (clock_parse_date(s, strlen(s), &d, &why) == -1)
		fail_msg("bad date %s: %s", s, why);
	return d;
}

static inline int
fx_setup(void **state)
{
	(void)state;
	memset(&fx, 0, sizeof(fx));
	snprintf(fx.dir, sizeof(fx.dir), "/tmp/dunnd-test-engine-XXXXXX");
	if (mkdtemp(fx.dir) == NULL)
		return -1;
	snprintf(fx.path, sizeof(fx.path), "%s/dunnd.db", fx.dir);
	return 0;
}

static inline void
fx_unlink(const char *suffix)
{
	char p[200];

	snprintf(p, sizeof(p), "%s%s", fx.path, suffix);
	unlink(p);
}

static inline int
fx_teardown(void **state)
{
	(void)state;
	if (fx.open) {
		engine_close(&fx.e);
		store_close(fx.s);
		rules_free(fx.rs);
		fx.open = false;
	}
	fx_unlink("");
	fx_unlink("-wal");
	fx_unlink("-shm");
	fx_unlink(".lock");
	rmdir(fx.dir);
	return 0;
}

/*
 * Opens a new portfolio at start with the rule set text (one file
 * "rules.conf"), as dunnd does on its first start: sweep_at 00:05.
 */
static inline void
fx_start_clock(const char *rules, int64_t start, bool wall)
{
	const char *name = "rules.conf";
	char err[STORE_ERR_LEN], line[DIAG_MSG_MAX + 300];
	struct diags ds;
	size_t i;

	diags_init(&ds);
	fx.rs = rules_load_files(&name, &rules, 1, &ds);
	for (i = 0; i < ds.n; i++) {
		diag_format(&ds.v[i], line, sizeof(line));
		print_message("%s\n", line);
	}
	diags_fini(&ds);
	assert_non_null(fx.rs);
	assert_int_equal(store_open(fx.path, &fx.s, err, sizeof(err)), 0);
	clock_test_start(start);
	assert_int_equal(engine_open(&fx.e, fx.s, fx.rs, wall, 5, start), 0);
	fx.open = true;
	fx.wall = wall;
	/* server_start_rules(): a new database has no rules_version yet. */
	assert_int_equal(engine_reload(&fx.e, fx.rs, start, NULL, 0), 0);
}

static inline void
fx_start(const char *rules, int64_t start)
{
	fx_start_clock(rules, start, false);
}

/*
 * Stops and starts again as dunnd does: the engine and the store closed,
 * then opened at the stored clock position with the same rule set (the
 * stored rules_version matches: no reload).
 */
static inline void
fx_restart(void)
{
	char err[STORE_ERR_LEN];
	int64_t pos = 0;

	engine_close(&fx.e);
	store_close(fx.s);
	fx.open = false;
	assert_int_equal(store_open(fx.path, &fx.s, err, sizeof(err)), 0);
	assert_int_equal(store_meta_get_int(fx.s, "clock_pos", &pos), 1);
	assert_int_equal(engine_open(&fx.e, fx.s, fx.rs, fx.wall, 5, pos), 0);
	fx.open = true;
}

/* text with every ' turned into " (a new string). */
static inline char *
fx_json(const char *text)
{
	char *s = xstrdup(text), *p;

	for (p = s; *p != '\0'; p++)
		if (*p == '\'')
			*p = '"';
	return s;
}

/*
 * One batch at now as server_body() runs it: the due moments up to now
 * first, then the batch.  b is the caller's (ingest_batch_fini).
 */
static inline void
fx_run(int64_t now, const char *text, bool skip_bad, struct ingest_batch *b)
{
	char *s = fx_json(text);

	assert_int_equal(engine_run_until(&fx.e, now), 0);
	ingest_run(&fx.e, now, s, strlen(s), skip_bad, b);
	free(s);
}

static inline void
fx_print_results(const struct ingest_batch *b)
{
	size_t i;

	for (i = 0; i < b->n; i++)
		if (b->v[i].status != INGEST_OK)
			print_message("line %llu: %s %s: %s\n",
			    (unsigned long long)b->v[i].line,
			    ingest_status_name(b->v[i].status), b->v[i].field,
			    b->v[i].error ? b->v[i].error : "");
}

/* A batch every line of which must be ok, and which commits. */
static inline void
fx_ok(int64_t now, const char *text)
{
	struct ingest_batch b;

	fx_run(now, text, false, &b);
	if (b.counts[INGEST_OK] != (int64_t)b.n || !b.committed)
		fx_print_results(&b);
	assert_int_equal(b.counts[INGEST_OK], b.n);
	assert_true(b.committed);
	ingest_batch_fini(&b);
}

/*
 * A one-line batch that must be refused with an error on field (""
 * for a line error); the error text must hold want_msg when not NULL.
 */
static inline void
fx_bad(int64_t now, const char *line, const char *field, const char *want_msg)
{
	struct ingest_batch b;

	fx_run(now, line, false, &b);
	assert_int_equal(b.n, 1);
	if (b.v[0].status != INGEST_ERROR || strcmp(b.v[0].field, field) != 0)
		print_message("%s\n  got status %s field \"%s\" (%s), want "
		              "error on \"%s\"\n",
		    line, ingest_status_name(b.v[0].status), b.v[0].field,
		    b.v[0].error ? b.v[0].error : "", field);
	assert_int_equal(b.v[0].status, INGEST_ERROR);
	assert_string_equal(b.v[0].field, field);
	if (want_msg != NULL && strstr(b.v[0].error, want_msg) == NULL)
		fail_msg("error \"%s\" lacks \"%s\"", b.v[0].error, want_msg);
	assert_false(b.committed);
	ingest_batch_fini(&b);
}

static inline struct acct *
fx_acct(const char *id)
{
	struct acct *a = engine_get(&fx.e, id);

	if (a == NULL)
		fail_msg("no account %s", id);
	return a;
}

/* The event seq of invoice id (the store keeps ids), -1 when unknown. */
static inline int64_t
fx_inv_seq(const char *invoice)
{
	int64_t seq = -1;

	if (store_q(fx.s, Q_INVOICE_GET, "t", invoice) == 1)
		seq = store_col_int(fx.s, Q_INVOICE_GET, 1);
	store_done(fx.s, Q_INVOICE_GET);
	return seq;
}

static inline struct acct_invoice *
fx_inv(const char *account, const char *invoice)
{
	static struct acct_invoice settled;
	struct acct *a = fx_acct(account);
	int64_t seq = fx_inv_seq(invoice);
	long i = acct_invoice_find(a, seq);
	size_t k;

	/* A settled invoice lives in a->set (account.h): open 0. */
	for (k = 0; i < 0 && k < a->nset; k++) {
		if (a->set[k].seq != (uint32_t)seq)
			continue;
		memset(&settled, 0, sizeof(settled));
		settled.seq = a->set[k].seq;
		settled.due = a->set[k].due;
		settled.issued = acct_settled_issued(&a->set[k]);
		settled.settle_day = acct_settled_day(&a->set[k]);
		return &settled;
	}

	if (i < 0)
		fail_msg("account %s has no invoice %s", account, invoice);
	return &a->inv[i];
}

/* How many unapplied credit portions a holds. */
static inline uint32_t
fx_ncred(const struct acct *a)
{
	return a->x != NULL ? a->x->ncred : 0;
}

/* The promise of account whose event id is id. */
static inline struct acct_promise *
fx_prom(const char *account, const char *id)
{
	struct acct *a = fx_acct(account);
	int64_t seq = -1;
	size_t i;

	/* The store knows its id; memory only its event seq. */
	if (store_q(fx.s, Q_EVENT_GET, "t", id) == 1)
		seq = store_col_int(fx.s, Q_EVENT_GET, 0);
	store_done(fx.s, Q_EVENT_GET);
	for (i = 0; i < a->nprom; i++)
		if (a->prom[i].seq == seq)
			return &a->prom[i];
	fail_msg("account %s has no promise %s", account, id);
	return NULL;
}

/* The facts of account at now (as an evaluation at now would see them). */
static inline const struct rules_factvals *
fx_facts(const char *account, int64_t now)
{
	facts_compute(
	    fx_acct(account), &fx.e.fp, now, clock_local_date(now), &fx.e.fo);
	return &fx.e.fo.fv;
}

/* The saved form of an account's whole state (to compare before/after). */
static inline char *
fx_state(const char *account, size_t *len)
{
	struct buf b;
	char *p;

	buf_init(&b);
	acct_encode(fx_acct(account), &b);
	*len = buf_size(&b);
	p = xmalloc(*len ? *len : 1);
	memcpy(p, buf_data(&b), *len);
	buf_fini(&b);
	return p;
}

/* Runs sql on the portfolio's database from a second connection. */
static inline void
fx_sql(const char *sql)
{
	sqlite3 *h;

	assert_int_equal(sqlite3_open(fx.path, &h), SQLITE_OK);
	assert_int_equal(sqlite3_exec(h, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(h);
}

/* Every feed record with seq > from, as a JSON array (caller decrefs). */
static inline json_t *
fx_feed(int64_t from)
{
	json_t *arr = json_array(), *rec;
	json_error_t jerr;
	int rc;

	for (rc = store_q(fx.s, Q_FEED_FROM, "ii", from, (int64_t)1000);
	     rc == 1; rc = store_next(fx.s, Q_FEED_FROM)) {
		rec =
		    json_loads(store_col_text(fx.s, Q_FEED_FROM, 1), 0, &jerr);
		assert_non_null(rec);
		assert_int_equal(
		    json_integer_value(json_object_get(rec, "seq")),
		    store_col_int(fx.s, Q_FEED_FROM, 0));
		json_array_append_new(arr, rec);
	}
	store_done(fx.s, Q_FEED_FROM);
	assert_int_equal(rc, 0);
	return arr;
}

/* The string member key of feed record rec ("" when absent). */
static inline const char *
fx_str(const json_t *rec, const char *key)
{
	const char *v = json_string_value(json_object_get(rec, key));

	return v != NULL ? v : "";
}

static inline int64_t
fx_int(const json_t *rec, const char *key)
{
	const json_t *v = json_object_get(rec, key);

	if (!json_is_integer(v))
		fail_msg("member %s is not an integer", key);
	return (int64_t)json_integer_value(v);
}

/* The committed feed head. */
static inline int64_t
fx_head(void)
{
	int64_t head = -1;

	assert_int_equal(store_feed_head(fx.s, &head), 0);
	assert_int_equal(head, fx.e.feed_head);
	return head;
}

#endif
