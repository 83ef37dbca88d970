/*
 * bench_facts — the facts half of a daily sweep (targets.md P3: all 1M
 * accounts re-evaluated, nothing changed, <= 1 s on one core; aim
 * 0.25 s) and the bytes per account of their in-memory state (P5).
 *
 * Generates N accounts (default 1,000,000) deterministically, 6-8
 * monthly invoices each, every payment behaviour of the reference
 * portfolio (on time, early, late, increasingly late, unpaid, partly
 * paid), disputes, promises of every verdict, outcomes and tags.  Then
 * times, at one `now`, the median of 5 runs of:
 *   baseline   a loop reading every invoice's open amount (the memory
 *              traffic any sweep pays), to make figures comparable
 *              across noisy machines;
 *   compute    facts_compute() of every account;
 *   next       facts_next_change() of every account, for the facts the
 *              default rule set tests;
 *   shuffled   facts_compute() in a random account order: the accounts
 *              are generated (allocated) in sweep order, which favours
 *              the prefetcher; this is the worst case of a heap that
 *              grew in another order than the sweep's.
 *
 *   usage: bench_facts [ACCOUNTS]
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "facts.h"
#include "util.h"

#include "bench.h"

#define RUNS          5
#define DEFAULT_ACCTS 1000000
#define P3_TARGET_NS  1000.0 /* 1 s for 1M accounts */
#define P3_AIM_NS     250.0
#define MALLOC_HEADER 8 /* glibc chunk overhead per allocation */

/* What the shipped rule set (rules/) tests, roughly: §4.1's example. */
#define DEFAULT_TESTED                                                         \
	((1u << RULES_FACT_BALANCE) | (1u << RULES_FACT_DAYS_TO_DUE) |         \
	    (1u << RULES_FACT_DAYS_OVERDUE) |                                  \
	    (1u << RULES_FACT_PROMISES_BROKEN) |                               \
	    (1u << RULES_FACT_PROMISE_PENDING) |                               \
	    (1u << RULES_FACT_FIRST_MISS) | (1u << RULES_FACT_TAGS) |          \
	    (1u << RULES_FACT_STAGE))

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

/* splitmix64: deterministic, good enough to mix behaviours. */
static uint64_t
rng(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static int
rnd(int n)
{
	return (int)(rng() % (uint64_t)n);
}

/* Heap bytes of the generated state, as glibc accounts them. */
static size_t heap_bytes;

static void *
track(void *p)
{
	heap_bytes += malloc_usable_size(p) + MALLOC_HEADER;
	return p;
}

/* A new account "C-0000042" (one allocation with its id). */
static struct acct *
new_account(size_t n)
{
	char buf[64];

	snprintf(buf, sizeof(buf), "C-%07zu", n);
	return track(acct_new(buf));
}

enum behaviour {
	PAYS_ON_TIME,
	PAYS_EARLY,
	PAYS_LATE,
	INCREASINGLY_LATE,
	STOPPED_PAYING,
	BEHAVIOURS
};

static struct acct *
gen_account(size_t n, int32_t today, int64_t now)
{
	struct acct *a = new_account(n);
	static char *tag_names[] = { "vip", "legal_hold", "key_account" };
	enum behaviour b = (enum behaviour)rnd(BEHAVIOURS);
	struct acct_invoice *iv;
	struct acct_promise *pr;
	int ninv = 6 + rnd(3), k, i, late;
	int32_t first_due = today - 30 * (ninv - 1) + rnd(30) - 10;

	a->size = rnd(RULES_SIZE_COUNT);
	a->risk = rnd(6) - 1;
	a->stage = (uint32_t)rnd(5);
	a->stage_entered = now - rnd(60 * CLOCK_DAY);
	if (rnd(10) == 0) {
		a->ntags = 1 + (uint32_t)rnd(2);
		a->tags = track(xcalloc(a->ntags, sizeof(*a->tags)));
		for (i = 0; i < (int)a->ntags; i++)
			a->tags[i] = tag_names[(rnd(3) + i) % 3];
	}

	a->ninv = (uint32_t)ninv;
	a->inv = track(xcalloc(a->ninv, sizeof(*a->inv)));
	for (k = 0; k < ninv; k++) {
		iv = &a->inv[k];
		iv->due = first_due + 30 * k;
		iv->issued = iv->due - 30;
		iv->seq = (uint32_t)((int64_t)n * 64 + k);
		iv->open = 1000 + rnd(5000000);
		iv->settle_day = INT32_MIN;
		switch (b) {
		case PAYS_ON_TIME:
			late = 0;
			break;
		case PAYS_EARLY:
			late = -rnd(10);
			break;
		case PAYS_LATE:
			late = 1 + rnd(25);
			break;
		case INCREASINGLY_LATE:
			late = 3 * k + rnd(3);
			break;
		default:
			late = k < ninv / 2 ? rnd(10) : 10000;
			break;
		}
		/* Paid if the payment day has come. */
		if (iv->due + late < today) {
			iv->open = rnd(10) == 0 ? iv->open / 3 : 0;
			iv->settle_day = iv->due + late;
		}
		if (iv->open > 0 && rnd(12) == 0)
			iv->disputed = rnd(2) ? iv->open : iv->open / 2 + 1;
	}

	if (rnd(4) == 0) {
		a->nprom = 1 + (uint32_t)rnd(3);
		a->prom = track(xcalloc(a->nprom, sizeof(*a->prom)));
		for (i = 0; i < (int)a->nprom; i++) {
			pr = &a->prom[i];
			pr->amount = 10000 + rnd(100000);
			pr->at = now - rnd(120) * CLOCK_DAY;
			pr->due = clock_local_date(pr->at) + rnd(14);
			pr->break_at = clock_day_start(pr->due + 1);
			pr->seq = (uint32_t)(n * 64 + 32 + (size_t)i);
			if (pr->break_at > now && rnd(2)) {
				pr->verdict = ACCT_PENDING;
			} else if (rnd(2)) {
				pr->verdict = ACCT_KEPT;
				pr->verdict_at = pr->at + rnd(5 * CLOCK_DAY);
				pr->counted = pr->amount;
			} else {
				pr->verdict = ACCT_BROKEN;
				pr->verdict_at = pr->break_at;
			}
			if (pr->verdict_at > now)
				pr->verdict_at = now;
		}
	}

	/* Outcomes: every third account was called, some not reached. */
	if (rnd(3) == 0) {
		for (i = 0; i < 1 + rnd(5); i++)
			facts_outcome_add(a, now - rnd(30 * CLOCK_DAY),
			    (int64_t)n * 64 + 48 + i, rnd(3) != 0);
		heap_bytes += malloc_usable_size(a->x) + MALLOC_HEADER;
		if (a->x->tail != NULL)
			heap_bytes +=
			    malloc_usable_size(a->x->tail) + MALLOC_HEADER;
	}
	return a;
}

static double
median(double *v)
{
	return bench_median(v, RUNS);
}

static void
free_account(struct acct *a)
{
	a->ntags = 0; /* the names are static */
	acct_free(a);
}

int
main(int argc, char **argv)
{
	static const int64_t windows[] = { 90 * CLOCK_DAY };
	struct facts_params p = { 6, 0, windows, 1 };
	double t_base[RUNS], t_comp[RUNS], t_next[RUNS], t_shuf[RUNS];
	double t0, tb, tc, tn, ts;
	size_t n = DEFAULT_ACCTS, i, j, ninv = 0;
	int64_t now, sum = 0, next_sum = 0;
	long rss0, rss1;
	struct facts_out out;
	struct acct **accts;
	size_t *order, tmp;
	int32_t today;
	int r;

	if (argc > 1)
		n = strtoul(argv[1], NULL, 10);
	if (n == 0 || clock_tz_set("Asia/Shanghai") == -1) {
		fprintf(stderr, "usage: bench_facts [ACCOUNTS]\n");
		return 2;
	}
	now = 1795741200; /* 2026-11-27T09:00:00+08:00 */
	today = clock_local_date(now);

	rss0 = bench_rss_kib();
	t0 = bench_wall();
	accts = track(xcalloc(n, sizeof(*accts)));
	for (i = 0; i < n; i++) {
		accts[i] = gen_account(i, today, now);
		ninv += accts[i]->ninv;
	}
	rss1 = bench_rss_kib();
	printf("generated %zu accounts, %.2f invoices each, in %.2f s\n", n,
	    (double)ninv / (double)n, bench_wall() - t0);

	order = xcalloc(n, sizeof(*order));
	for (i = 0; i < n; i++)
		order[i] = i;
	for (i = n - 1; i > 0; i--) {
		j = (size_t)(rng() % (i + 1));
		tmp = order[i];
		order[i] = order[j];
		order[j] = tmp;
	}

	facts_out_init(&out, p.nwindows);
	for (r = 0; r < RUNS; r++) {
		t0 = bench_wall();
		for (i = 0; i < n; i++)
			for (j = 0; j < accts[i]->ninv; j++)
				sum += accts[i]->inv[j].open;
		t_base[r] = bench_wall() - t0;

		t0 = bench_wall();
		for (i = 0; i < n; i++) {
			facts_compute(accts[i], &p, now, today, &out);
			sum += out.fv.days_overdue + out.fv.first_miss +
			    (int64_t)(out.fv.late_trend * 8) +
			    out.fv.promises_broken[0];
		}
		t_comp[r] = bench_wall() - t0;

		t0 = bench_wall();
		for (i = 0; i < n; i++)
			next_sum += facts_next_change(accts[i], &p,
			                DEFAULT_TESTED, now) != INT64_MAX;
		t_next[r] = bench_wall() - t0;

		t0 = bench_wall();
		for (i = 0; i < n; i++) {
			facts_compute(accts[order[i]], &p, now, today, &out);
			sum += out.fv.days_overdue;
		}
		t_shuf[r] = bench_wall() - t0;
	}
	facts_out_fini(&out);

	tb = median(t_base) * 1e9 / (double)n;
	tc = median(t_comp) * 1e9 / (double)n;
	tn = median(t_next) * 1e9 / (double)n;
	ts = median(t_shuf) * 1e9 / (double)n;
	printf("checksum %lld, %lld accounts with a next change\n",
	    (long long)sum, (long long)(next_sum / RUNS));
	printf("baseline (read every open amount): %7.1f ns/account\n", tb);
	printf("facts_compute:                     %7.1f ns/account "
	       "(%.2f x baseline; P3 %.0f ns, aim %.0f ns: %s)\n",
	    tc, tc / tb, P3_TARGET_NS, P3_AIM_NS,
	    tc <= P3_AIM_NS          ? "within aim"
	        : tc <= P3_TARGET_NS ? "within target"
	                             : "OVER TARGET");
	printf("facts_next_change:                 %7.1f ns/account "
	       "(%.2f x baseline)\n",
	    tn, tn / tb);
	printf("facts_compute, shuffled order:     %7.1f ns/account "
	       "(%.2f x baseline)\n",
	    ts, ts / tb);
	printf("sweep of %zu accounts: compute %.3f s, compute + next %.3f s\n",
	    n, tc * (double)n / 1e9, (tc + tn) * (double)n / 1e9);
	printf("bytes/account: %zu (struct acct %zu, struct acct_invoice %zu, "
	       "struct acct_promise %zu); RSS growth %.0f\n",
	    heap_bytes / n, sizeof(struct acct), sizeof(struct acct_invoice),
	    sizeof(struct acct_promise),
	    (double)(rss1 - rss0) * 1024.0 / (double)n);
	printf("P5 share: %.0f MB of 600 MB for %zu accounts\n",
	    (double)heap_bytes / 1e6, n);

	for (i = 0; i < n; i++)
		free_account(accts[i]);
	free(accts);
	free(order);
	return 0;
}
