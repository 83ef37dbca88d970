#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ledger.h"
#include "store.h"
#include "util.h"

/*
 * A ledger with one of everything: a payment applied to two invoices
 * and counted towards two promises, a reversed credit with an undone
 * application, an upheld amount applied later than its at, money at a
 * negative offset and a large one.
 */
static void
sample(struct ledger *l)
{
	struct ledger_money *m;

	memset(l, 0, sizeof(*l));
	m = ledger_add(l, 5, LEDGER_PAYMENT, 1500, 1772330400);
	ledger_app_add(l, m, 2, 1000, 1772330400);
	ledger_app_add(l, m, 4, 500, 1772330400);
	ledger_pm_add(l, m, 3, 300);
	ledger_pm_add(l, m, 1, 200);
	m->uncounted = 1000;
	m = ledger_add(l, 9, LEDGER_CREDIT, 700, 1772416800);
	ledger_app_add(l, m, 4, 700, 1772416800);
	m->app[0].undone = true;
	ledger_pm_add(l, m, 8, 700);
	m->pm[0].withdrawn = true;
	m->reversed = true;
	m = ledger_add(l, 120000, LEDGER_UPHELD, MONEY_MAX, 1772416800);
	ledger_app_add(l, m, 119999, 5, 1772503200);
	ledger_app_add(l, m, 4, 6, 1772300000);
}

static void
assert_same(const struct ledger *x, const struct ledger *y)
{
	size_t i;
	uint32_t k;

	assert_int_equal(x->n, y->n);
	for (i = 0; i < x->n; i++) {
		const struct ledger_money *a = &x->m[i], *b = &y->m[i];

		assert_int_equal(a->seq, b->seq);
		assert_int_equal(a->kind, b->kind);
		assert_int_equal(a->reversed, b->reversed);
		assert_int_equal(a->amount, b->amount);
		assert_int_equal(a->at, b->at);
		assert_int_equal(a->uncounted, b->uncounted);
		assert_int_equal(a->napp, b->napp);
		for (k = 0; k < a->napp; k++) {
			assert_int_equal(a->app[k].invoice, b->app[k].invoice);
			assert_int_equal(a->app[k].amount, b->app[k].amount);
			assert_int_equal(a->app[k].at, b->app[k].at);
			assert_int_equal(a->app[k].undone, b->app[k].undone);
		}
		assert_int_equal(a->npm, b->npm);
		for (k = 0; k < a->npm; k++) {
			assert_int_equal(a->pm[k].promise, b->pm[k].promise);
			assert_int_equal(a->pm[k].amount, b->pm[k].amount);
			assert_int_equal(
			    a->pm[k].withdrawn, b->pm[k].withdrawn);
		}
	}
}

static void
test_round_trip(void **state)
{
	struct ledger l, back = { 0 };
	struct buf b, again;

	(void)state;
	sample(&l);
	buf_init(&b);
	ledger_encode(&l, &b);
	assert_int_equal(ledger_decode(&back, buf_data(&b), buf_size(&b)), 0);
	assert_same(&l, &back);
	/* Encoding what was decoded gives the same bytes. */
	buf_init(&again);
	ledger_encode(&back, &again);
	assert_int_equal(buf_size(&again), buf_size(&b));
	assert_memory_equal(buf_data(&again), buf_data(&b), buf_size(&b));
	/* An empty ledger: the version byte and a zero count. */
	ledger_fini(&back);
	buf_clear(&b);
	ledger_encode(&back, &b);
	assert_int_equal(buf_size(&b), 2);
	assert_int_equal(ledger_decode(&back, buf_data(&b), buf_size(&b)), 0);
	assert_int_equal(back.n, 0);
	buf_fini(&b);
	buf_fini(&again);
	ledger_fini(&l);
}

/* Every truncation, a trailing byte, a wrong version, each refused. */
static void
test_damage_is_refused(void **state)
{
	/* varints: version, count, then seq, kind, amount, at, uncounted,
	 * applications (invoice, amount, at, undone), contributions */
	static const unsigned char same_seq[] = { 1, 4, 2, 0, 2, 2, 0, 0, 0, 0,
		0, 0, 2, 2, 0, 0, 0 };
	static const unsigned char bad_kind[] = { 1, 2, 2, 6, 2, 2, 0, 0, 0 };
	static const unsigned char bad_flag[] = { 1, 2, 2, 0, 2, 2, 0, 2, 0, 2,
		0, 4, 0 };
	static const unsigned char good[] = { 1, 2, 2, 0, 2, 2, 0, 2, 0, 2, 0,
		2, 0 };
	struct ledger l, back = { 0 };
	struct buf b;
	unsigned char *p;
	size_t n, cut;

	(void)state;
	sample(&l);
	buf_init(&b);
	ledger_encode(&l, &b);
	n = buf_size(&b);
	p = xmalloc(n + 1);
	memcpy(p, buf_data(&b), n);
	for (cut = 0; cut < n; cut++) {
		assert_int_equal(ledger_decode(&back, p, cut), -1);
		assert_int_equal(back.n, 0);
		assert_null(back.m);
	}
	p[n] = 0;
	assert_int_equal(ledger_decode(&back, p, n + 1), -1);
	p[0] = 2;
	assert_int_equal(ledger_decode(&back, p, n), -1);
	free(p);

	/* Seqs that do not grow; a kind past upheld; a flag not 0 or 1. */
	assert_int_equal(ledger_decode(&back, same_seq, sizeof(same_seq)), -1);
	assert_int_equal(ledger_decode(&back, bad_kind, sizeof(bad_kind)), -1);
	assert_int_equal(ledger_decode(&back, bad_flag, sizeof(bad_flag)), -1);
	/* The well-formed neighbour of bad_flag is read. */
	assert_int_equal(ledger_decode(&back, good, sizeof(good)), 0);
	assert_int_equal(back.n, 1);
	assert_int_equal(back.m[0].app[0].undone, true);
	ledger_fini(&back);
	buf_fini(&b);
	ledger_fini(&l);
}

static void
test_find_and_counts(void **state)
{
	struct ledger l;
	struct ledger_money *m;
	int64_t at = 0;

	(void)state;
	sample(&l);
	assert_int_equal(ledger_find(&l, 5)->amount, 1500);
	assert_int_equal(ledger_find(&l, 120000)->kind, LEDGER_UPHELD);
	assert_null(ledger_find(&l, 6));
	assert_null(ledger_find(&l, 1));
	assert_null(ledger_find(&l, 200000));
	/* One record per (money, promise): a second count adds to it. */
	m = ledger_find(&l, 5);
	ledger_pm_add(&l, m, 3, 50);
	assert_int_equal(m->npm, 2);
	assert_int_equal(m->pm[0].amount, 350);
	/* The latest application not undone, whatever the order. */
	assert_true(ledger_app_last(&l, 4, &at));
	assert_int_equal(at, 1772330400);
	assert_true(ledger_app_last(&l, 119999, &at));
	assert_int_equal(at, 1772503200);
	m->app[1].undone = true; /* invoice 4's from money 5 */
	assert_true(ledger_app_last(&l, 4, &at));
	assert_int_equal(at, 1772300000);
	assert_false(ledger_app_last(&l, 77, &at));
	ledger_fini(&l);
}

/* A new store in a fresh directory (dir: "/tmp/dunnd-ledger-XXXXXX"). */
static struct store *
scratch_open(char *dir)
{
	char path[64], err[256];
	struct store *s;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/t.db", dir);
	assert_int_equal(store_open(path, &s, err, sizeof(err)), 0);
	return s;
}

static void
scratch_close(const char *dir, struct store *s)
{
	char cmd[64];

	store_close(s);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

/* The set: read once per batch, written when changed, then forgotten. */
static void
test_set_reads_and_writes_the_store(void **state)
{
	char dir[] = "/tmp/dunnd-ledger-XXXXXX";
	struct ledgers ls;
	struct ledger *l, *again;
	struct store *s = scratch_open(dir);
	struct buf b;
	const void *data;
	size_t len;

	(void)state;
	ledgers_init(&ls);
	assert_int_equal(store_begin(s), 0);
	l = ledgers_get(&ls, s, "A", false);
	assert_non_null(l);
	assert_int_equal(l->n, 0);
	assert_false(l->dirty);
	/* The same ledger for the rest of the batch; marked when changed. */
	again = ledgers_get(&ls, s, "A", true);
	assert_ptr_equal(again, l);
	assert_true(l->dirty);
	ledger_add(l, 3, LEDGER_PAYMENT, 10, 100);
	/* B only read: not written. */
	assert_non_null(ledgers_get(&ls, s, "B", false));
	assert_int_equal(ledgers_flush(&ls, s), 0);
	assert_int_equal(ls.map.n, 0);
	assert_int_equal(store_q(s, Q_LEDGER_GET, "t", "B"), 0);
	store_done(s, Q_LEDGER_GET);
	assert_int_equal(store_q(s, Q_LEDGER_GET, "t", "A"), 1);
	data = store_col_blob(s, Q_LEDGER_GET, 0, &len);
	buf_init(&b);
	{
		struct ledger want = { 0 };

		ledger_add(&want, 3, LEDGER_PAYMENT, 10, 100);
		ledger_encode(&want, &b);
		ledger_fini(&want);
	}
	assert_int_equal(len, buf_size(&b));
	assert_memory_equal(data, buf_data(&b), len);
	store_done(s, Q_LEDGER_GET);
	/* Read back in the next batch; a change dropped is not written. */
	l = ledgers_get(&ls, s, "A", true);
	assert_int_equal(l->n, 1);
	assert_int_equal(l->m[0].amount, 10);
	ledger_add(l, 4, LEDGER_CREDIT, 20, 100);
	ledgers_clear(&ls);
	l = ledgers_get(&ls, s, "A", false);
	assert_int_equal(l->n, 1);
	/* A damaged row is an error, not an empty ledger. */
	assert_int_equal(
	    store_exec_q(s, Q_LEDGER_PUT, "tb", "C", "\x01\x02", (size_t)2), 0);
	assert_null(ledgers_get(&ls, s, "C", false));
	assert_int_equal(store_commit(s), 0);
	ledgers_fini(&ls);
	buf_fini(&b);
	scratch_close(dir, s);
}

/*
 * A ledger larger than an arena chunk (arrays that outgrow chunks, and
 * one array larger than a chunk), written and read back equal to the
 * same ledger built with malloc; the set is used again after.
 */
static void
build_big(struct ledger *l)
{
	struct ledger_money *m;
	int64_t i, k;

	for (i = 1; i <= 70000; i++) {
		m = ledger_add(
		    l, 2 * i, (enum ledger_kind)(i % 3), i, 1000 + i);
		for (k = 0; k < i % 5; k++)
			ledger_app_add(
			    l, m, 2 * i - 1 - k, k + 1, 1000 + i + k);
		for (k = 0; k < i % 3; k++)
			ledger_pm_add(l, m, k + 1, i + k);
	}
}

static void
test_set_holds_a_large_ledger(void **state)
{
	char dir[] = "/tmp/dunnd-ledger-XXXXXX";
	struct ledger want = { 0 }, *l;
	struct ledgers ls;
	struct store *s = scratch_open(dir);
	int round;

	(void)state;
	build_big(&want);
	ledgers_init(&ls);
	assert_int_equal(store_begin(s), 0);
	for (round = 0; round < 2; round++) {
		l = ledgers_get(&ls, s, round ? "B" : "A", true);
		build_big(l);
		assert_same(l, &want);
		assert_int_equal(ledgers_flush(&ls, s), 0);
		l = ledgers_get(&ls, s, round ? "B" : "A", false);
		assert_same(l, &want);
		ledgers_clear(&ls);
	}
	assert_int_equal(store_commit(s), 0);
	ledgers_fini(&ls);
	ledger_fini(&want);
	scratch_close(dir, s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_damage_is_refused),
		cmocka_unit_test(test_find_and_counts),
		cmocka_unit_test(test_set_reads_and_writes_the_store),
		cmocka_unit_test(test_set_holds_a_large_ledger),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
