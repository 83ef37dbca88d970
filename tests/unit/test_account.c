/*
 * test_account — the account's saved form (account.c): every part
 * survives encode/decode, damaged blobs are refused, and the form that
 * session 2's databases hold (version 2: fixed 8-byte integers and
 * promise ids) still loads.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "account.h"
#include "facts.h"
#include "util.h"

/* An account with something in every part of its state. */
static struct acct *
full_account(void)
{
	struct acct *a = acct_new("C-042/é");
	struct acct_invoice iv = { 0 };
	struct acct_promise pr = { 0 };
	struct acct_extra *x;
	int k;

	memcpy(a->currency, "EUR", 4);
	a->paused = true;
	a->size = 2;
	a->risk = 4;
	a->ntags = 2;
	a->tags = xcalloc(2, sizeof(*a->tags));
	a->tags[0] = xstrdup("vip");
	a->tags[1] = xstrdup("legal_hold");
	for (k = 0; k < 14; k++) {
		iv.open = k < 2 ? 1000 * (k + 1) : 0;
		iv.disputed = k == 1 ? 5000 : 0; /* more than open: kept */
		iv.seq = (uint32_t)(100 + k);
		iv.issued = 20000 + 30 * k;
		iv.due = iv.issued + 30;
		iv.settle_day = k < 2 ? INT32_MIN : iv.due + k;
		acct_invoice_insert(a, &iv);
	}
	acct_compact(a); /* 2 open, 12 settled kept, 0 dropped... */
	pr.amount = 500;
	pr.counted = 200;
	pr.at = 1790000000;
	pr.break_at = 1790500000;
	pr.seq = 4000000000u;
	pr.due = 20700;
	pr.verdict = ACCT_PENDING;
	acct_promise_add(a, &pr);
	pr.verdict = ACCT_BROKEN;
	pr.verdict_at = -1; /* negative instants survive */
	acct_promise_add(a, &pr);
	facts_outcome_add(a, 1790000100, 7, false);
	facts_outcome_add(a, 1790000200, 8, true);
	x = acct_extra(a);
	x->cred = xcalloc(1, sizeof(*x->cred));
	x->cred[0].money = xstrdup("p3");
	x->cred[0].remaining = 700;
	x->cred[0].at = 1790000300;
	x->cred[0].arrival = 9;
	x->ncred = 1;
	a->stage = 3;
	a->stage_entered = 1789999999;
	a->invoiced = INT64_MAX / 2;
	a->paid = 12345;
	a->credited = 1;
	a->cad_acc = 86400;
	a->cad_mark = 1790000000;
	a->cad_running = true;
	a->held = true;
	acct_arrays(a, 0, 0, 3);
	a->emitted[2] = 2;
	acct_arrays(a, 2, 0, 3);
	assert_int_equal(a->emitted[2], 2);
	a->alert_last[0] = INT64_MIN;
	a->alert_last[1] = 1790000400;
	acct_task_add(a,
	    &(struct acct_task){ .num = 17,
	        .alert = -1,
	        .step = 2,
	        .type = 5,
	        .nb_day = 20400 });
	acct_task_add(a,
	    &(struct acct_task){
	        .num = 18, .alert = 1, .step = -1, .type = 6, .nb_day = -3 });
	a->roles = 0x0246;
	a->phone_roles = 0x0040;
	a->email_roles = 0x0200;
	a->cash_in_day = 31;
	a->credit_held = true;
	return a;
}

static void
test_round_trip(void **state)
{
	struct acct *a = full_account(), *b = acct_new("C-042/é");
	struct buf one, two;

	(void)state;
	assert_int_equal(a->ninv, 2);
	assert_int_equal(a->nset, ACCT_SETTLED_KEEP);
	assert_int_equal(a->nsettled_old, 0);
	buf_init(&one);
	buf_init(&two);
	acct_encode(a, &one);
	assert_int_equal(acct_decode(b, one.p, one.len), 0);
	acct_encode(b, &two);
	assert_int_equal(two.len, one.len);
	assert_memory_equal(two.p, one.p, one.len);

	/* Field by field, where the varints could go wrong. */
	assert_string_equal(b->id, "C-042/é");
	assert_string_equal(b->currency, "EUR");
	assert_true(b->paused);
	assert_int_equal(b->risk, 4);
	assert_string_equal(b->tags[1], "legal_hold");
	assert_int_equal(b->inv[1].disputed, 5000);
	assert_int_equal(b->inv[0].settle_day, INT32_MIN);
	assert_int_equal(
	    acct_settled_day(&b->set[11]), 20000 + 30 * 13 + 30 + 13);
	assert_int_equal(acct_settled_issued(&b->set[11]), 20000 + 30 * 13);
	assert_int_equal(b->prom[0].seq, 4000000000u);
	assert_int_equal(b->prom[1].verdict_at, -1);
	assert_int_equal(b->prom[1].verdict, ACCT_BROKEN);
	assert_non_null(b->x);
	assert_true(b->x->has_other);
	assert_int_equal(b->x->ntail, 1);
	assert_int_equal(b->x->tail[0].arrival, 8);
	assert_string_equal(b->x->cred[0].money, "p3");
	assert_int_equal(b->invoiced, INT64_MAX / 2);
	assert_int_equal(b->alert_last[0], INT64_MIN);
	assert_int_equal(b->emitted[2], 2);
	assert_int_equal(b->tasks[1].alert, 1);
	assert_int_equal(b->tasks[0].step, 2);
	assert_int_equal(b->tasks[0].type, 5);
	assert_int_equal(b->tasks[0].nb_day, 20400);
	assert_int_equal(b->tasks[1].step, -1);
	assert_int_equal(b->tasks[1].nb_day, -3);
	assert_int_equal(b->roles, 0x0246);
	assert_int_equal(b->phone_roles, 0x0040);
	assert_int_equal(b->email_roles, 0x0200);
	assert_int_equal(b->cash_in_day, 31);
	assert_true(b->credit_held);
	/* The scheduler's fields are not state. */
	assert_int_equal(b->due_at, INT64_MAX);
	assert_int_equal(b->heap_pos, UINT32_MAX);

	/* An account without outcomes or credit has no extra block. */
	acct_clear(a);
	assert_string_equal(a->id, "C-042/é");
	buf_clear(&one);
	acct_encode(a, &one);
	assert_int_equal(acct_decode(b, one.p, one.len), 0);
	assert_null(b->x);
	assert_int_equal(b->risk, -1);

	buf_fini(&one);
	buf_fini(&two);
	acct_free(a);
	acct_free(b);
}

/*
 * The saved form's two parts: what events change, then what evaluation
 * changes (the store keeps them in two tables so that a night rewrites
 * only the small second part).  Each field lands in its own part; the
 * parts decode apart as they do together; a split anywhere else, or a
 * part missing, is refused.
 */
static void
test_two_parts(void **state)
{
	struct acct *a = full_account(), *b = acct_new("B");
	struct buf one, two;
	size_t evlen, ev2, k;

	(void)state;
	buf_init(&one);
	buf_init(&two);
	evlen = acct_encode(a, &one);
	assert_true(evlen > 1 && evlen < one.len);
	for (k = 0; k <= one.len; k++)
		assert_int_equal(
		    acct_decode_parts(b, one.p, k, one.p + k, one.len - k),
		    k == evlen ? 0 : -1);
	assert_int_equal(
	    acct_decode_parts(b, one.p, evlen, one.p + evlen, one.len - evlen),
	    0);
	ev2 = acct_encode(b, &two);
	assert_int_equal(ev2, evlen);
	assert_int_equal(two.len, one.len);
	assert_memory_equal(two.p, one.p, one.len);

	/* What evaluation changes: the first part stays byte for byte. */
	b->stage = 3;
	b->stage_entered += 86400;
	b->cad_acc = 7;
	b->held = !b->held;
	b->credit_held = false;
	b->tasks[0].num = 123456;
	b->alert_last[0] = 42;
	b->emitted[1] = 9;
	buf_clear(&two);
	ev2 = acct_encode(b, &two);
	assert_int_equal(ev2, evlen);
	assert_memory_equal(two.p, one.p, evlen);
	assert_memory_not_equal(two.p + evlen, one.p + evlen,
	    one.len - evlen < two.len - evlen ? one.len - evlen
	                                      : two.len - evlen);
	assert_int_equal(
	    acct_decode_parts(a, two.p, evlen, two.p + evlen, two.len - evlen),
	    0);
	assert_int_equal(a->stage, 3);
	assert_int_equal(a->tasks[0].num, 123456);
	assert_int_equal(a->alert_last[0], 42);
	assert_false(a->credit_held);

	/* What events change: the first part. */
	buf_clear(&one);
	acct_encode(a, &one);
	a->inv[0].open += 1;
	buf_clear(&two);
	acct_encode(a, &two);
	assert_memory_not_equal(two.p, one.p, evlen);
	a->inv[0].open -= 1;
	a->prom[0].verdict = ACCT_KEPT;
	buf_clear(&two);
	acct_encode(a, &two);
	assert_memory_not_equal(two.p, one.p, evlen);

	buf_fini(&one);
	buf_fini(&two);
	acct_free(a);
	acct_free(b);
}

static void
test_damaged_is_refused(void **state)
{
	struct acct *a = full_account(), *b = acct_new("B");
	struct buf one;
	size_t n;

	(void)state;
	buf_init(&one);
	acct_encode(a, &one);
	/* Every truncation, a trailing byte, an unknown version. */
	for (n = 0; n < one.len; n++)
		assert_int_equal(acct_decode(b, one.p, n), -1);
	buf_append(&one, "", 1);
	assert_int_equal(acct_decode(b, one.p, one.len), -1);
	one.p[0] = 9;
	assert_int_equal(acct_decode(b, one.p, one.len - 1), -1);
	/* A count larger than the bytes left. */
	assert_int_equal(acct_decode(b, "\x03\x7f", 2), -1);
	buf_fini(&one);
	acct_free(a);
	acct_free(b);
}

/*
 * Account A of a database written by session 2's dunnd (version 2): EUR,
 * tags vip and key, size 2, risk B; I2 open 0 with both invoices
 * settled (I1 paid 2026-02-03, I2 2026-03-01), promise pr1 kept,
 * 700 of payment p3 unapplied.
 */
static const char v2_hex[] =
    "0203000000455552000000000000000002000000000000000100000000000000"
    "020000000000000003000000766970030000006B657900000000000000000200"
    "0000000000000450000000000000E64F00000000000002000000000000000750"
    "0000000000002050000000000000055000000000000003000000000000002150"
    "0000000000000000000000000000010000000000000003000000707231F40100"
    "0000000000F401000000000000908FA3690000000080A8A96900000000B0ABA3"
    "6900000000050000000000000025500000000000000100000000000000000000"
    "0000000000000000000000000000000000000000000000000000000000000000"
    "000000000010E1A46900000000B80B000000000000740E000000000000000000"
    "00000000000100000000000000020000007033BC02000000000000B0ABA36900"
    "0000000700000000000000000000000000000010E1A469000000000100000000"
    "0000000000000000000000000000000000000000000000000000000000000000"
    "000000";

static void
test_version_2_loads(void **state)
{
	struct acct *a = acct_new("A");
	size_t n = strlen(v2_hex) / 2, i;
	unsigned char *blob = xmalloc(n);
	unsigned int byte;

	(void)state;
	assert_int_equal(strlen(v2_hex) % 2, 0);
	for (i = 0; i < n; i++) {
		assert_int_equal(sscanf(v2_hex + 2 * i, "%2x", &byte), 1);
		blob[i] = (unsigned char)byte;
	}
	/* Saved whole: never with an evaluation part of its own. */
	assert_int_equal(acct_decode_parts(a, blob, n, "\x00", 1), -1);
	assert_int_equal(
	    acct_decode(a, blob, n), 1) /* legacy: completed from the store */;
	assert_string_equal(a->currency, "EUR");
	assert_int_equal(a->ntags, 2);
	assert_string_equal(a->tags[1], "key");
	assert_int_equal(a->size, 2);
	assert_int_equal(a->risk, 1);
	assert_int_equal(a->ninv, 0);
	assert_int_equal(a->nset, 2);
	assert_int_equal(a->nprom, 1);
	assert_int_equal(a->prom[0].amount, 500);
	assert_int_equal(a->prom[0].counted, 500);
	assert_int_equal(a->prom[0].seq, 5); /* its arrival */
	assert_int_equal(a->prom[0].verdict, ACCT_KEPT);
	assert_non_null(a->x);
	assert_int_equal(a->x->ncred, 1);
	assert_string_equal(a->x->cred[0].money, "p3");
	assert_int_equal(a->x->cred[0].remaining, 700);
	assert_int_equal(a->paid, 3700);
	assert_int_equal(a->invoiced, 3000);
	assert_int_equal(acct_credit_balance(a), 700);
	free(blob);
	acct_free(a);
}

static void
put64(struct buf *b, int64_t v)
{
	unsigned char c[8];
	int i;

	for (i = 0; i < 8; i++)
		c[i] = (unsigned char)((uint64_t)v >> (8 * i));
	buf_append(b, c, 8);
}

/*
 * A version-2 blob (fixed 8-byte integers) holding one settled invoice
 * issued on day 1, due 2932896 (9999-12-31), settled on settle.
 */
static void
v2_wide_settled(struct buf *b, int64_t settle)
{
	int k;

	buf_append(b,
	    "\x02\x03\x00\x00\x00"
	    "EUR",
	    8); /* version, currency */
	for (k = 0; k < 3; k++)
		put64(b, k == 2 ? -1 : 0); /* paused, size, risk */
	put64(b, 0);                       /* tags */
	put64(b, 0);                       /* open invoices */
	put64(b, 1);                       /* settled: due, issued, seq, day */
	put64(b, 2932896);
	put64(b, 1);
	put64(b, 7);
	put64(b, settle);
	for (k = 0; k < 16; k++) /* nsettled_old, promises, outcomes (4),
	                            stage .. credited (5), credit, cadence (4) */
		put64(b, 0);
	for (k = 0; k < 3; k++) /* emitted, alerts, tasks */
		put64(b, 0);
}

/* A version-2 settled invoice too wide for 16-bit offsets still loads. */
static void
test_version_2_wide_settled_invoice_loads(void **state)
{
	struct acct *a = acct_new("A");
	struct buf b;

	(void)state;
	buf_init(&b);
	v2_wide_settled(&b, 2932896);
	assert_int_equal(acct_decode(a, b.p, b.len), 1);
	assert_int_equal(a->nset, 0);
	assert_int_equal(a->ninv, 1);
	assert_int_equal(a->inv[0].open, 0);
	assert_int_equal(a->inv[0].issued, 1);
	assert_int_equal(a->inv[0].settle_day, 2932896);
	assert_int_equal(a->inv[0].seq, 7);
	/* A day beyond 32 bits is damage, not an old form. */
	buf_clear(&b);
	v2_wide_settled(&b, (int64_t)1 << 40);
	assert_int_equal(acct_decode(a, b.p, b.len), -1);
	buf_fini(&b);
	acct_free(a);
}

/* Offsets that do not fit 16 bits keep a settled invoice in inv. */
static void
test_far_dates_stay_in_the_open_list(void **state)
{
	struct acct *a = acct_new("A");
	struct acct_invoice iv = { 0 };

	(void)state;
	iv.seq = 1;
	iv.issued = 0;
	iv.due = 40000; /* issued 109 years before due */
	iv.settle_day = 40001;
	acct_invoice_insert(a, &iv);
	iv.seq = 2;
	iv.issued = 40000;
	iv.due = 40030;
	iv.settle_day = 40030 + 40000; /* paid 109 years late */
	acct_invoice_insert(a, &iv);
	iv.seq = 3;
	iv.issued = 40100;
	iv.due = 40130;
	iv.settle_day = 40129;
	acct_invoice_insert(a, &iv);
	acct_compact(a);
	assert_int_equal(a->ninv, 2);
	assert_int_equal(a->inv[0].seq, 1);
	assert_int_equal(a->inv[1].settle_day, 80030);
	assert_int_equal(a->nset, 1);
	assert_int_equal(acct_settled_issued(&a->set[0]), 40100);
	assert_int_equal(acct_settled_day(&a->set[0]), 40129);
	assert_int_equal(acct_balance(a), 0);
	acct_free(a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_two_parts),
		cmocka_unit_test(test_damaged_is_refused),
		cmocka_unit_test(test_version_2_loads),
		cmocka_unit_test(test_far_dates_stay_in_the_open_list),
		cmocka_unit_test(test_version_2_wide_settled_invoice_loads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
