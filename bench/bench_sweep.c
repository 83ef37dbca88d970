/*
 * bench_sweep — the daily sweep in process (targets.md P3: every account
 * re-evaluated, nothing changed, <= 1 s for 1M accounts on one core; P4:
 * a sweep where 10 % of the accounts change stage, transitions, tasks
 * and feed committed, <= 3 s).
 *
 * Builds a store in a temporary directory (env DUNND_BENCH_DIR, else
 * TMPDIR, else /tmp) with the shipped rules (./rules: run it from the
 * checkout, as `make bench` does) and N accounts (argument, else env
 * DUNND_BENCH_ACCOUNTS, else 100,000), ingested through ingest_run() in
 * batches of 100,000 events at T0 = 2026-11-27T09:00:00+08:00.  The
 * accounts are laid out so that the next days are controlled:
 *
 *   id % 10 = 0, 1, 2   reminder: an unpaid invoice due on T0's date + 0,
 *                       1, 2: crosses days_overdue >= 1 at the midnight
 *                       that ends that date (-> negotiation, a call and a
 *                       review task, the reminder's task cancelled):
 *                       10 % of the accounts change stage each night
 *   3, 4                current, paid up
 *   5                   current, the next invoice due in 10+ days
 *   6                   negotiation, 3-8 days overdue
 *   7                   pressure, 35-74 days overdue
 *   8                   legal, 95+ days overdue
 *   9                   negotiation or pressure, with a dispute and
 *                       promises (kept, broken, some pending)
 *
 * Then it prints:
 *   ingest   in-process ingest (no socket, no client): events/s
 *   P3       a quiet sweep: one step evaluating every account at T0,
 *            where nothing changes (median of 5); and the engine's own
 *            daily sweep (engine_run_until to sweep_at 00:05, after the
 *            midnight moments ran) on nights 1 and 2
 *   P4       nights 1 and 2: engine_run_until(midnight) (the accounts
 *            due then; 10 % change stage) plus the sweep after it; and
 *            night 3 as one step evaluating every account at midnight
 *            (a sweep in which 10 % change stage)
 *   load     engine_open() of the loaded store (the core of P6)
 * Figures below 1M accounts are also extrapolated linearly to 1M,
 * labelled so.  Not a test: it prints figures.  DUNND_BENCH_RULES names
 * another rules directory; DUNND_BENCH_P4_ONLY set stops after nights 1
 * and 2 with one quiet sweep (bench_calendar.py's repeated runs);
 * DUNND_BENCH_PERF_CTL and _ACK make `perf record` see the nights only
 * (see perf_ctl()); DUNND_BENCH_ARM names a file that exists while the
 * nights run (where.py's WAL page shim counts then); DUNND_BENCH_KEEP
 * keeps the store; DUNND_BENCH_CHUNK sets the changed accounts of a busy
 * moment's parts (engine.chunk; 0: the moment in one step).
 *
 *   usage: bench_sweep [ACCOUNTS]
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "engine.h"
#include "eval.h"
#include "ingest.h"
#include "log.h"
#include "rules.h"
#include "store.h"
#include "util.h"

#include "bench.h"
#include "bench_mem.h"

#define DEFAULT_ACCTS 100000
#define BATCH_EVENTS  100000
#define RUNS          5
#define T0            1795741200 /* 2026-11-27T09:00:00+08:00 */
#define SWEEP_MIN     5          /* sweep_at = "00:05" */
#define P3_TARGET_S   1.0
#define P4_TARGET_S   3.0
#define REF_ACCTS     1000000.0

/* Deterministic mixing of small integers (no generator state). */
static unsigned
mix(unsigned long long x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return (unsigned)x;
}

static void
date_s(int32_t day, char buf[CLOCK_DATE_LEN])
{
	clock_format_date(day, buf);
}

/* day at 10:00 local */
static void
at_s(int32_t day, int hour, char buf[CLOCK_TS_LEN])
{
	clock_format_ts(clock_day_start(day) + hour * 3600, buf);
}

/* Appends account n's events to b; returns how many. */
static size_t
gen_account(struct buf *b, size_t n, int32_t d0)
{
	static const char *const sizes[] = { "small", "medium", "large" };
	static const char *const roles[] = { "owner", "cfo", "ap_manager" };
	char acct[32], inv[48], d1[CLOCK_DATE_LEN], d2[CLOCK_DATE_LEN],
	    t1[CLOCK_TS_LEN];
	unsigned g = (unsigned)(n % 10), h = mix(n);
	int ninv = 6 + (int)(h % 7), k, m, lat;
	int32_t x, last, due;
	size_t ev = 0, unpaid;
	int64_t amount;

	snprintf(acct, sizeof(acct), "C-%07zu", n);
	buf_printf(b,
	    "{\"type\":\"account\",\"id\":\"%s.a\",\"account\":\"%s\","
	    "\"name\":\"Customer %zu\",\"currency\":\"CNY\",\"size\":\"%s\","
	    "\"risk\":\"%c\",\"contacts\":[{\"role\":\"%s\",\"name\":\"C %zu\","
	    "\"phone\":\"+86 21 %04u\"}]}\n",
	    acct, acct, n, sizes[h / 7 % 3], "ABCDE"[h / 21 % 5],
	    roles[h / 105 % 3], n, h % 10000);
	ev++;

	/* x: days overdue of the oldest unpaid invoice at T0 (< 0: due
	 * in -x days); INT32_MIN: all paid. */
	switch (g) {
	case 0:
	case 1:
	case 2:
		x = -(int32_t)g;
		break;
	case 3:
	case 4:
		x = INT32_MIN;
		break;
	case 5:
		x = -(10 + (int32_t)(h % 15));
		break;
	case 6:
	case 9:
		x = 3 + (int32_t)(h % 6);
		break;
	case 7:
		x = 35 + (int32_t)(h % 40);
		break;
	default:
		x = 95 + (int32_t)(h % 200);
		break;
	}
	/* Invoice k falls due on last - 30 (ninv - 1 - k); the oldest unpaid
	 * one is the m-th from the end. */
	if (x == INT32_MIN) {
		last = d0 - 5 - (int32_t)(h % 20);
		m = -1;
	} else {
		m = (x + 30) / 30;
		if (m > ninv - 1)
			m = ninv - 1;
		last = d0 - x + 30 * m;
	}
	unpaid = 0;
	for (k = 0; k < ninv; k++) {
		due = last - 30 * (ninv - 1 - k);
		amount = 10000 + (int64_t)(mix(n * 64 + (size_t)k) % 500000);
		snprintf(inv, sizeof(inv), "%s.I%02d", acct, k);
		date_s(due - 30, d1);
		date_s(due, d2);
		buf_printf(b,
		    "{\"type\":\"invoice\",\"id\":\"%s.%d\",\"account\":\"%s\","
		    "\"invoice\":\"%s\",\"amount\":%lld,\"issued\":\"%s\","
		    "\"due\":\"%s\"}\n",
		    inv, k, acct, inv, (long long)amount, d1, d2);
		ev++;
		if (m >= 0 && k >= ninv - 1 - m) {
			unpaid++;
			continue;
		}
		/* Paid: on time (2 days early) or late, never after T0. */
		lat = g <= 5 ? -2 : 5 + (int)((k * 3 + h) % 10);
		if (due + lat >= d0)
			lat = d0 - 1 - due;
		at_s(due + lat, 10, t1);
		buf_printf(b,
		    "{\"type\":\"payment\",\"id\":\"%s.p\",\"account\":\"%s\","
		    "\"invoice\":\"%s\",\"amount\":%lld,\"at\":\"%s\"}\n",
		    inv, acct, inv, (long long)amount, t1);
		ev++;
	}
	if (g == 9 && unpaid > 0) {
		/* Half the oldest unpaid invoice disputed yesterday. */
		snprintf(inv, sizeof(inv), "%s.I%02d", acct, ninv - 1 - m);
		at_s(d0 - 1, 15, t1);
		buf_printf(b,
		    "{\"type\":\"dispute\",\"id\":\"%s.d\",\"account\":\"%s\","
		    "\"invoice\":\"%s\",\"amount\":5000,\"reason\":\"quality\","
		    "\"at\":\"%s\"}\n",
		    inv, acct, inv, t1);
		/* Two old promises (verdicts long given), maybe a pending one. */
		at_s(d0 - 60, 11, t1);
		date_s(d0 - 55, d2);
		buf_printf(b,
		    "{\"type\":\"promise\",\"id\":\"%s.q1\",\"account\":\"%s\","
		    "\"amount\":1000,\"due\":\"%s\",\"at\":\"%s\"}\n",
		    acct, acct, d2, t1);
		at_s(d0 - 45, 11, t1);
		date_s(d0 - 44, d2);
		buf_printf(b,
		    "{\"type\":\"promise\",\"id\":\"%s.q2\",\"account\":\"%s\","
		    "\"amount\":1500,\"due\":\"%s\",\"at\":\"%s\"}\n",
		    acct, acct, d2, t1);
		ev += 3;
		if (h % 2) {
			at_s(d0 - 1, 16, t1);
			date_s(d0 + 8, d2);
			buf_printf(b,
			    "{\"type\":\"promise\",\"id\":\"%s.q3\","
			    "\"account\":\"%s\",\"amount\":2000,\"due\":\"%s\","
			    "\"at\":\"%s\"}\n",
			    acct, acct, d2, t1);
			ev++;
		}
	}
	return ev;
}

static struct engine E;

/*
 * P5: where the in-memory portfolio's bytes go, per account, and what
 * malloc and the RSS say.
 */
static void
memory_breakdown(size_t n, long rss_growth_kib)
{
	struct mallinfo2 mi = mallinfo2();

	bench_mem_print(&E);
	printf("  malloc in use %.0f B/account, free in arena "
	       "(fragmentation) %.0f; RSS growth %.0f B/account\n",
	    (double)mi.uordblks / (double)n, (double)mi.fordblks / (double)n,
	    (double)rss_growth_kib * 1024.0 / (double)n);
}

/* Per-batch ingest figures: the first and the last (P9: linear). */
static double batch_w[2], batch_c[2];
static size_t batch_n[2], nbatches;

static void
ingest(struct buf *b, size_t lines)
{
	struct ingest_batch res;
	double w = bench_wall(), c = bench_cpu();
	size_t i;

	if (engine_run_until(&E, T0) == -1) {
		fprintf(stderr, "bench_sweep: engine_run_until failed\n");
		exit(1);
	}
	ingest_run(&E, T0, buf_data(b), buf_size(b), false, &res);
	if (!res.committed || res.counts[INGEST_OK] != (int64_t)lines) {
		for (i = 0; i < res.n; i++)
			if (res.v[i].status == INGEST_ERROR) {
				fprintf(stderr,
				    "bench_sweep: line %llu: %s: %s\n  %.*s\n",
				    (unsigned long long)res.v[i].line,
				    res.v[i].field, res.v[i].error,
				    (int)res.v[i].input_len, res.v[i].input);
				break;
			}
		fprintf(stderr, "bench_sweep: a batch did not commit (%s)\n",
		    res.cause);
		exit(1);
	}
	ingest_batch_fini(&res);
	buf_clear(b);
	i = nbatches++ == 0 ? 0 : 1;
	batch_w[i] = bench_wall() - w;
	batch_c[i] = bench_cpu() - c;
	batch_n[i] = lines;
}

/* What one processing changed: accounts whose stage moved, feed records. */
struct change {
	size_t moved;
	int64_t records;
};

static size_t *stage_before;

static void
snap(void)
{
	struct acct *const *all;
	size_t n, i;

	all = engine_sorted(&E, &n);
	for (i = 0; i < n; i++)
		stage_before[i] = all[i]->stage;
}

static size_t
moved(void)
{
	struct acct *const *all;
	size_t n, i, c = 0;

	all = engine_sorted(&E, &n);
	for (i = 0; i < n; i++)
		c += all[i]->stage != stage_before[i];
	return c;
}

/*
 * DUNND_BENCH_PERF_CTL, DUNND_BENCH_PERF_ACK: the fifos of `perf record
 * -D -1 --control fifo:CTL,ACK`; the P4 nights are then all it records.
 */
static FILE *perf_ctl_f, *perf_ack_f;

static void
perf_ctl(const char *cmd)
{
	char ack[16];

	if (perf_ctl_f == NULL)
		return;
	fprintf(perf_ctl_f, "%s\n", cmd);
	fflush(perf_ctl_f);
	if (perf_ack_f != NULL && fgets(ack, sizeof(ack), perf_ack_f) == NULL)
		fprintf(stderr, "bench_sweep: no ack from perf\n");
}

/* DUNND_BENCH_ARM: the file exists while the nights run. */
static void
arm(bool on)
{
	const char *path = getenv("DUNND_BENCH_ARM");
	FILE *f;

	if (path == NULL)
		return;
	if (!on)
		unlink(path);
	else if ((f = fopen(path, "w")) != NULL)
		fclose(f);
}

/* engine_run_until(t), timed; what it changed in *ch. */
static double
run_until(int64_t t, struct change *ch, double *cpu_s)
{
	int64_t head = E.feed_head;
	double w, c;

	snap();
	c = bench_cpu();
	w = bench_wall();
	if (engine_run_until(&E, t) == -1) {
		fprintf(stderr, "bench_sweep: engine_run_until failed\n");
		exit(1);
	}
	w = bench_wall() - w;
	if (cpu_s != NULL)
		*cpu_s = bench_cpu() - c;
	ch->moved = moved();
	ch->records = E.feed_head - head;
	return w;
}

/* One step at t evaluating every account in id order, committed. */
static double
sweep_all(int64_t t, struct change *ch, double *cpu_s)
{
	struct acct *const *all;
	int64_t head = E.feed_head;
	size_t n, i;
	double w, c;

	snap();
	c = bench_cpu();
	w = bench_wall();
	if (engine_step_begin(&E, t) == -1) {
		fprintf(stderr, "bench_sweep: cannot begin a step\n");
		exit(1);
	}
	all = engine_sorted(&E, &n);
	for (i = 0; i < n; i++)
		eval_account(&E, all[i]);
	if (engine_step_end(&E, true) == -1) {
		fprintf(stderr, "bench_sweep: the sweep did not commit\n");
		exit(1);
	}
	w = bench_wall() - w;
	if (cpu_s != NULL)
		*cpu_s = bench_cpu() - c;
	ch->moved = moved();
	ch->records = E.feed_head - head;
	return w;
}

static const char *
verdict(double s_at_1m, double target)
{
	return s_at_1m <= target ? "within target" : "OVER TARGET";
}

/* " (X s extrapolated to 1M)" below 1M accounts. */
static const char *
extra(double s, size_t n, char *buf, size_t len)
{
	if ((double)n >= REF_ACCTS)
		return "";
	snprintf(buf, len, "; %.2f s extrapolated linearly to 1M accounts",
	    s * REF_ACCTS / (double)n);
	return buf;
}

int
main(int argc, char **argv)
{
	struct diags ds;
	struct ruleset *rs;
	struct store *st;
	struct buf b;
	char dir[4096], path[4200], err[STORE_ERR_LEN], ex[128];
	const char *tmp, *env;
	size_t n = DEFAULT_ACCTS, i, lines, events = 0, nstage[64];
	double t, tc, v[RUNS], vc[RUNS], mid[2], mid_c[2], swp[2], swp_c[2];
	struct change ch, mch[2], sch[2];
	int32_t d0;
	long rss0, rss1;
	int r, night, runs;
	double wr0, wr[2];

	if (argc > 1)
		n = strtoul(argv[1], NULL, 10);
	else if ((env = getenv("DUNND_BENCH_ACCOUNTS")) != NULL)
		n = strtoul(env, NULL, 10);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (n < 10 || clock_tz_set("Asia/Shanghai") == -1) {
		fprintf(stderr, "usage: bench_sweep [ACCOUNTS >= 10]\n");
		return 2;
	}
	log_init(true, LOG_LEVEL_WARNING);
	clock_test_start(T0);
	d0 = clock_local_date(T0);

	/* DUNND_BENCH_RULES: another rules directory (bench_calendar.py). */
	if ((env = getenv("DUNND_BENCH_RULES")) == NULL)
		env = "rules";
	diags_init(&ds);
	if ((rs = rules_load_dir(env, &ds)) == NULL) {
		fprintf(stderr,
		    "bench_sweep: cannot load %s (run it from "
		    "the checkout)\n",
		    env);
		return 1;
	}
	diags_fini(&ds);
	if ((tmp = getenv("DUNND_BENCH_DIR")) == NULL &&
	    (tmp = getenv("TMPDIR")) == NULL)
		tmp = "/tmp";
	snprintf(dir, sizeof(dir), "%s/dunnd-sweep-XXXXXX", tmp);
	if (mkdtemp(dir) == NULL) {
		perror(dir);
		return 1;
	}
	snprintf(path, sizeof(path), "%s/dunnd.db", dir);
	if (store_open(path, &st, err, sizeof(err)) == -1) {
		fprintf(stderr, "bench_sweep: %s\n", err);
		return 1;
	}
	if (engine_open(&E, st, rs, false, SWEEP_MIN, T0) == -1)
		return 1;
	if ((env = getenv("DUNND_BENCH_CHUNK")) != NULL)
		E.chunk = (size_t)strtoul(env, NULL, 10);
	printf("scale: %zu accounts (argument or DUNND_BENCH_ACCOUNTS; "
	       "reference 1,000,000), shipped rules, store in %s; a busy "
	       "moment in parts of %zu changed accounts\n",
	    n, dir, E.chunk);

	/* Load. */
	rss0 = bench_rss_kib();
	buf_init(&b);
	t = bench_wall();
	tc = bench_cpu();
	for (i = 0, lines = 0; i < n; i++) {
		lines += gen_account(&b, i, d0);
		if (lines >= BATCH_EVENTS) {
			ingest(&b, lines);
			events += lines;
			lines = 0;
		}
	}
	if (lines > 0) {
		ingest(&b, lines);
		events += lines;
	}
	buf_fini(&b);
	t = bench_wall() - t;
	tc = bench_cpu() - tc;
	rss1 = bench_rss_kib();
	memset(nstage, 0, sizeof(nstage));
	{
		struct acct *const *all = engine_sorted(&E, &i);

		for (i = 0; i < n; i++)
			nstage[all[i]->stage < 64 ? all[i]->stage : 63]++;
	}
	printf("ingest in process (ingest_run, batches of %d, generation "
	       "included): %zu events in %.2f s = %.0f events/s (CPU %.2f "
	       "us/event); feed head %lld\n",
	    BATCH_EVENTS, events, t, (double)events / t,
	    tc / (double)events * 1e6, (long long)E.feed_head);
	if (nbatches > 1)
		printf("P9 ingest growth: first batch %.0f events/s (CPU %.2f "
		       "us/event), last batch (%zu) %.0f events/s (CPU %.2f "
		       "us/event): last/first %.2f (1.00 = linear)\n",
		    (double)batch_n[0] / batch_w[0],
		    batch_c[0] / (double)batch_n[0] * 1e6, nbatches,
		    (double)batch_n[1] / batch_w[1],
		    batch_c[1] / (double)batch_n[1] * 1e6,
		    (batch_n[1] / batch_w[1]) / (batch_n[0] / batch_w[0]));
	printf("stages:");
	for (i = 0; i < rs->nstages; i++)
		printf(" %s %zu", rs->stages[i].name, nstage[i]);
	printf("\n");
	memory_breakdown(n, rss1 - rss0);
	/* DUNND_BENCH_P4_ONLY: one quiet sweep, nights 1 and 2, no more. */
	runs = getenv("DUNND_BENCH_P4_ONLY") != NULL ? 1 : RUNS;
	stage_before = xcalloc(n, sizeof(*stage_before));

	/* P3: a quiet sweep at T0 (everything was evaluated at T0). */
	for (r = 0; r < runs; r++) {
		v[r] = sweep_all(T0, &ch, &vc[r]);
		if (ch.moved != 0 || ch.records != 0)
			printf(
			    "  (quiet sweep run %d changed %zu accounts, %lld "
			    "records: not quiet!)\n",
			    r + 1, ch.moved, (long long)ch.records);
	}
	t = bench_median(v, (size_t)runs);
	tc = bench_median(vc, (size_t)runs);
	printf("P3 quiet sweep (one step, eval_account of all %zu accounts, "
	       "nothing changes; median of %d): %.3f s wall, %.3f s CPU, "
	       "%.2f us/account; target <= %.0f s at 1M: %s%s\n",
	    n, runs, t, tc, t / (double)n * 1e6, P3_TARGET_S,
	    verdict(t * REF_ACCTS / (double)n, P3_TARGET_S),
	    extra(t, n, ex, sizeof(ex)));

	/* Nights 1 and 2 through the engine. */
	if ((env = getenv("DUNND_BENCH_PERF_CTL")) != NULL) {
		perf_ctl_f = fopen(env, "w");
		if ((env = getenv("DUNND_BENCH_PERF_ACK")) != NULL)
			perf_ack_f = fopen(env, "r");
	}
	for (night = 1; night <= 2; night++) {
		int64_t midnight = clock_day_start(d0 + night);
		int64_t sweep = clock_day_at(d0 + night, SWEEP_MIN);
		size_t due = 0;
		struct acct *const *all;

		run_until(midnight - 1, &ch, NULL);
		printf("  night %d: before midnight (cadence steps, due "
		       "moments): %zu moved, %lld records\n",
		    night, ch.moved, (long long)ch.records);
		all = engine_sorted(&E, &i);
		for (i = 0; i < n; i++)
			due += all[i]->due_at <= midnight;
		perf_ctl("enable");
		arm(true);
		wr0 = bench_written();
		mid[night - 1] =
		    run_until(midnight, &mch[night - 1], &mid_c[night - 1]);
		swp[night - 1] =
		    run_until(sweep, &sch[night - 1], &swp_c[night - 1]);
		perf_ctl("disable");
		arm(false);
		wr[night - 1] = bench_written() - wr0;
		printf("  night %d: midnight moment: %zu accounts due, %zu "
		       "(%.1f %%) changed stage, %lld feed records, %.3f s "
		       "(CPU %.3f s); sweep at 00:05: %zu changed, %lld "
		       "records, %.3f s (CPU %.3f s)\n",
		    night, due, mch[night - 1].moved,
		    100.0 * (double)mch[night - 1].moved / (double)n,
		    (long long)mch[night - 1].records, mid[night - 1],
		    mid_c[night - 1], sch[night - 1].moved,
		    (long long)sch[night - 1].records, swp[night - 1],
		    swp_c[night - 1]);
		printf("  night %d: %.0f bytes written to storage (WAL "
		       "frames and checkpoints), %.0f per changing account\n",
		    night, wr[night - 1],
		    wr[night - 1] /
		        (double)(mch[night - 1].moved ? mch[night - 1].moved
		                                      : 1));
	}
	t = bench_median(swp, 2);
	printf("P3 the engine's daily sweep (engine_run_until to 00:05, all "
	       "%zu accounts, after the midnight moments; mean of 2 nights): "
	       "%.3f s, %.2f us/account; target <= %.0f s at 1M: %s%s\n",
	    n, t, t / (double)n * 1e6, P3_TARGET_S,
	    verdict(t * REF_ACCTS / (double)n, P3_TARGET_S),
	    extra(t, n, ex, sizeof(ex)));
	t = bench_median(mid, 2) + bench_median(swp, 2);
	tc = bench_median(mid_c, 2) + bench_median(swp_c, 2);
	printf("P4 a night through the engine (midnight moment, %.1f %% "
	       "change stage, + the 00:05 sweep; mean of 2 nights): %.3f s "
	       "(CPU %.3f s); target <= %.0f s at 1M: %s%s\n",
	    100.0 * (double)(mch[0].moved + mch[1].moved) / 2.0 / (double)n, t,
	    tc, P4_TARGET_S, verdict(t * REF_ACCTS / (double)n, P4_TARGET_S),
	    extra(t, n, ex, sizeof(ex)));
	/* DUNND_BENCH_P4_ONLY: nights 1 and 2 are all (bench_calendar.py). */
	if (getenv("DUNND_BENCH_P4_ONLY") != NULL)
		goto done;

	/* Night 3: one step evaluating every account at midnight. */
	run_until(clock_day_start(d0 + 3) - 1, &ch, NULL);
	t = sweep_all(clock_day_start(d0 + 3), &ch, &tc);
	printf("P4 sweep with changes (night 3: one step, eval_account of all "
	       "%zu accounts at midnight, %zu = %.1f %% change stage, %lld "
	       "feed records, committed): %.3f s wall, %.3f s CPU; target "
	       "<= %.0f s at 1M: %s%s\n",
	    n, ch.moved, 100.0 * (double)ch.moved / (double)n,
	    (long long)ch.records, t, tc, P4_TARGET_S,
	    verdict(t * REF_ACCTS / (double)n, P4_TARGET_S),
	    extra(t, n, ex, sizeof(ex)));
	/* The heap still holds those accounts at midnight: process them. */
	run_until(clock_day_at(d0 + 3, SWEEP_MIN), &ch, NULL);

	/* The load of a restart (P6's core): engine_open on this store. */
	engine_close(&E);
	rss0 = bench_rss_kib();
	t = bench_wall();
	if (engine_open(&E, st, rs, false, SWEEP_MIN,
	        clock_day_at(d0 + 3, SWEEP_MIN)) == -1)
		return 1;
	t = bench_wall() - t;
	printf("load: engine_open of %zu accounts: %.3f s (%.2f us/account; "
	       "P6's share%s)\n",
	    n, t, t / (double)n * 1e6, extra(t, n, ex, sizeof(ex)));

done:
	if (perf_ctl_f != NULL)
		fclose(perf_ctl_f);
	if (perf_ack_f != NULL)
		fclose(perf_ack_f);
	engine_close(&E);
	store_close(st);
	rules_free(rs);
	free(stage_before);
	snprintf(path, sizeof(path), "rm -rf '%s'", dir);
	if (getenv("DUNND_BENCH_KEEP") == NULL && system(path) != 0)
		fprintf(stderr, "bench_sweep: cannot remove %s\n", dir);
	return 0;
}
