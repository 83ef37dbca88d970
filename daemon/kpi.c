/*
 * kpi — the collection KPIs of `report kpi` (kpi.h, §7).
 *
 * Called by server for a `report` request named "kpi", and by ingest
 * (kpi_note()) to keep its daily totals.  R, S, C and the aging classes
 * come from those totals (table kpi_days: per currency, effective day
 * and due day, the amounts invoiced and applied), so a report never
 * reads the invoices and applications; they are rebuilt from them (the
 * invoices table and the ledgers, ledger.h) on
 * the first report of a database and when the zone changes.  The rest
 * is one pass over each of: the promises (memory), the tasks created
 * since the first month (a covering index), the transitions since it
 * (found by a binary search on their id, as their time grows with it),
 * the accounts created since it (an index) and the accounts (memory).
 *
 * Definitions (§7), per local month M and currency, with D_k the
 * month-end dates (the day before the first month, each month's last
 * day, today for the current month):
 *   R(D) = sum of the open amounts at the end of local date D of the
 *          invoices issued on or before D, counting the applications
 *          (payments, credits, upheld amounts; undone ones never count)
 *          dated before the first instant of D + 1;
 *   B = R(the day before M), E = R(M's last day or today),
 *   S = amounts of the invoices issued in M, C = the part of E not yet
 *   due (due >= E's date);
 *   dso = E / S * days of M, cei = (B + S - E) / (B + S - C),
 *   promise_kept_rate = kept / (kept + broken), verdicts in M,
 *   roll_rates[s] = the share of the accounts in stage s at M's first
 *   instant that are in a later stage at its end (now for the current
 *   month).
 * The stage "at" an instant is the stage before any transition made at
 * that instant (a transition at midnight of the 1st belongs to the month
 * it opens); an account exists at an instant when it was created before
 * it.
 */
#include "kpi.h"

#include <sys/mman.h>

#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "account.h"
#include "clock.h"
#include "engine.h"
#include "idmap.h"
#include "ledger.h"
#include "log.h"
#include "rules.h"
#include "store.h"
#include "util.h"

const char *const kpi_class_names[KPI_NCLASS] = { "not_due", "in_collection",
	"doubtful", "bad", "dead" };
const int kpi_class_max[KPI_NCLASS - 1] = { 0, 90, 180, 365 };

#define NO_CUR   UINT16_MAX
#define NO_STAGE UINT32_MAX

/* Per currency, indexed by k = 0 (the day before the first month) .. n. */
struct per_cur {
	int64_t *r;      /* R(D_k) */
	int64_t *aging;  /* [k * KPI_NCLASS + class]: R(D_k) by class */
	int64_t *issued; /* S of month k */
	int64_t *kept, *broken, *tasks, *done;
	int64_t *den, *num; /* [k * nstages + stage]: roll rates */
};

/*
 * A report: what kpi_start() copied on the loop's thread (the months,
 * the stages, the accounts, the promise verdicts), then what the
 * worker thread reads from its snapshot of the database.
 */
struct kpi_job {
	struct store *s; /* the reader: the snapshot of the start */
	int n;
	int32_t *day;    /* D_k */
	int32_t *first;  /* month k's first day (k >= 1) */
	int64_t *mstart; /* first instant of month k, [n + 1]: of the next */
	char (*cur)[4];
	size_t ncur;
	struct per_cur *pc;
	/* The rule set's stages at the start (a reload may free it). */
	char **stages;
	size_t nstages;
	/*
	 * The accounts at the start (in no order): account i's id at
	 * ids + idoff[i], preceded by i (4 bytes), its stage and currency.
	 */
	size_t nacc;
	char *ids;
	uint32_t *idoff;
	uint32_t *astage;
	uint16_t *acur;
	/*
	 * The copy by id (made in the thread): open addressing, each slot
	 * the id's hash's upper half << 32 | 1 + idoff of the account, 0
	 * empty (one cache miss to the slot, one to the id and index).
	 */
	uint64_t *slot;
	size_t slotcap;
	/*
	 * Accounts with transitions since the first month: hrec[i] is 0 or
	 * 1 + the record of account i, record r's stage at month j's start
	 * (j = 1..n) hstage[r * n + j - 1] (NO_STAGE: none known).
	 */
	uint32_t *hrec;
	uint32_t *hstage;
	size_t nrec, caprec;
	/*
	 * cfirst[i]: the first month (1..n + 1) whose start follows account
	 * i's creation when it was created inside the months, else 0.
	 */
	uint8_t *cfirst;
	/* The copy's index is ready (the second thread waits for it). */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool index_ready;
	/*
	 * The threads: one for the balances and the roll rates, and with
	 * one currency a second for the tasks, on a reader of its own
	 * (opened right after the first: the same snapshot).
	 */
	struct store *s2;
	pthread_t thread, thread2;
	bool started, started2;
	int rc2;
	atomic_int running;
	atomic_bool ended, cancel;
	void (*wake)(void *); /* called by the thread as it ends */
	void *wake_arg;
	int rc;
	int64_t t0, t_copy, t_index, t_balances, t_tasks, t_rolls;
};

static int
cur_index(const struct kpi_job *k, const char *c)
{
	size_t i;

	for (i = 0; i < k->ncur; i++)
		if (strncmp(k->cur[i], c, 4) == 0)
			return (int)i;
	return -1;
}

static uint64_t hash_id(const char *id);

#define HUGE_PAGE ((size_t)2 << 20)

/*
 * A zeroed array in transparent huge pages where the kernel gives them
 * (madvise mode): lookups at random in tens of MB otherwise miss the
 * TLB at nearly every step.  Freed with free().
 */
static void *
huge_calloc(size_t n, size_t size)
{
	size_t len = n * size;
	void *p;

	if (size != 0 && len / size != n)
		fatalx("kpi: out of memory");
	len = (len + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE;
	if (len < HUGE_PAGE)
		return xcalloc(n > 0 ? n : 1, size > 0 ? size : 1);
	if (posix_memalign(&p, HUGE_PAGE, len) != 0)
		fatalx("kpi: out of memory");
	(void)madvise(p, len, MADV_HUGEPAGE);
	memset(p, 0, len);
	return p;
}

/* Indexes the copy by id (in the thread: 1M ids take a while). */
static void
index_build(struct kpi_job *k)
{
	size_t i, j, mask;
	uint64_t h;

	for (k->slotcap = 16; k->slotcap < k->nacc * 2;)
		k->slotcap *= 2;
	k->slot = huge_calloc(k->slotcap, sizeof(*k->slot));
	mask = k->slotcap - 1;
	for (i = 0; i < k->nacc; i++) {
		h = hash_id(k->ids + k->idoff[i]);
		for (j = h & mask; k->slot[j] != 0; j = (j + 1) & mask)
			;
		k->slot[j] = (h >> 32 << 32) | ((uint64_t)k->idoff[i] + 1);
	}
}

/* The index of account id in the copy, -1 when it has none. */
static int64_t
index_find(const struct kpi_job *k, const char *id)
{
	uint64_t h = hash_id(id), v;
	size_t j, mask = k->slotcap - 1;
	const char *at;
	uint32_t i;

	for (j = h & mask; (v = k->slot[j]) != 0; j = (j + 1) & mask) {
		if (v >> 32 != h >> 32)
			continue;
		at = k->ids + (v & 0xffffffffu) - 1;
		if (strcmp(at, id) == 0) {
			memcpy(&i, at - sizeof(i), sizeof(i));
			return i;
		}
	}
	return -1;
}

/*
 * The currency index of account id, -1 when unknown.  With one
 * currency (the usual portfolio) no lookup is made.
 */
static int
account_cur(const struct kpi_job *k, const char *id)
{
	int64_t i;

	if (k->ncur == 1)
		return 0;
	return (i = index_find(k, id)) == -1 ? -1 : k->acur[i];
}

/* The index of stage name in the rule set of the start. */
static uint32_t
stage_index(const struct kpi_job *k, const char *name)
{
	size_t i;

	for (i = 0; i < k->nstages; i++)
		if (k->stages[i] != NULL && strcmp(k->stages[i], name) == 0)
			return (uint32_t)i;
	return ACCT_NO_STAGE;
}

static int
aging_class(int32_t days_past_due)
{
	int c;

	for (c = 0; c < KPI_NCLASS - 1; c++)
		if (days_past_due <= kpi_class_max[c])
			return c;
	return KPI_NCLASS - 1;
}

/* FNV-1a, never 0 (0 marks an empty slot). */
static uint64_t
hash_id(const char *id)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (; *id != '\0'; id++) {
		h ^= (unsigned char)*id;
		h *= 0x100000001b3ULL;
	}
	h ^= h >> 32;
	return h != 0 ? h : 1;
}

/* The history record of account i, made on first use. */
static uint32_t
hist_rec(struct kpi_job *k, size_t i)
{
	size_t r, j, n = (size_t)k->n;

	if (k->hrec[i] != 0)
		return k->hrec[i] - 1;
	if (k->nrec == k->caprec) {
		k->caprec = k->caprec == 0 ? 1024 : k->caprec * 2;
		k->hstage =
		    xreallocarray(k->hstage, k->caprec * n, sizeof(*k->hstage));
	}
	r = k->nrec++;
	for (j = 0; j < n; j++)
		k->hstage[r * n + j] = NO_STAGE;
	k->hrec[i] = (uint32_t)r + 1;
	return (uint32_t)r;
}

/* The months: the current one (k = n) and the n - 1 before it. */
static void
months_init(struct kpi_job *k, int64_t now)
{
	int32_t today = clock_local_date(now);
	int y, m, d, i;

	clock_civil_from_days(today, &y, &m, &d);
	k->day = xcalloc((size_t)k->n + 1, sizeof(*k->day));
	k->first = xcalloc((size_t)k->n + 2, sizeof(*k->first));
	k->mstart = xcalloc((size_t)k->n + 2, sizeof(*k->mstart));
	/* first[n + 1]: the month after the current one. */
	for (i = k->n + 1; i >= 1; i--) {
		int yy = y, mm = m + (i - k->n);

		while (mm > 12) {
			mm -= 12;
			yy++;
		}
		while (mm < 1) {
			mm += 12;
			yy--;
		}
		k->first[i] = clock_days_from_civil(yy, mm, 1);
		k->mstart[i] = clock_day_start(k->first[i]);
	}
	k->day[0] = k->first[1] - 1;
	for (i = 1; i <= k->n; i++)
		k->day[i] = i == k->n ? today : k->first[i + 1] - 1;
}

/* The month k (1..n) holding instant t, 0 when none. */
static int
month_of(const struct kpi_job *k, int64_t t)
{
	int i;

	if (t < k->mstart[1] || t >= k->mstart[k->n + 1])
		return 0;
	for (i = k->n; k->mstart[i] > t; i--)
		;
	return i;
}

static void
per_cur_init(struct per_cur *p, size_t w, size_t ns)
{
	p->r = xcalloc(w, sizeof(int64_t));
	p->aging = xcalloc(w * KPI_NCLASS, sizeof(int64_t));
	p->issued = xcalloc(w, sizeof(int64_t));
	p->kept = xcalloc(w, sizeof(int64_t));
	p->broken = xcalloc(w, sizeof(int64_t));
	p->tasks = xcalloc(w, sizeof(int64_t));
	p->done = xcalloc(w, sizeof(int64_t));
	p->den = xcalloc(w * ns, sizeof(int64_t));
	p->num = xcalloc(w * ns, sizeof(int64_t));
}

static int
cmp_cur(const void *a, const void *b)
{
	return memcmp(a, b, 4);
}

/*
 * On the loop's thread, in one pass over the accounts: each one's id,
 * stage and currency, the currencies (in byte order), and the promise
 * verdicts by the month of their moment.
 */
static void
accounts_copy(struct kpi_job *k, struct engine *e)
{
	const struct acct *a;
	const struct acct_promise *pr;
	struct acct *const *slots = (struct acct *const *)e->accounts.slots;
	size_t cap_slots = e->accounts.cap;
	size_t n, i, j, len, used = 0, cap, ccap = 0, pos;
	uint32_t idx;
	size_t w = (size_t)k->n + 1, ns = k->nstages;
	uint16_t *map;
	char(*raw)[4];
	struct per_cur *rawpc;
	int c, m;

	n = e->accounts.n;
	k->nacc = n;
	cap = n * 16 + 16;
	k->ids = huge_calloc(cap, 1);
	k->idoff = huge_calloc(n + 1, sizeof(*k->idoff));
	k->astage = xcalloc(n + 1, sizeof(*k->astage));
	k->acur = xcalloc(n + 1, sizeof(*k->acur));
	/*
	 * The map's order (sorting would cost the loop more), fetching the
	 * accounts ahead, and their promises a little less far ahead, so
	 * that the cache misses overlap.
	 */
	for (i = 0, pos = 0; i < n && pos < cap_slots; pos++) {
		if (pos + 16 < cap_slots && (a = slots[pos + 16]) != NULL) {
			/* The struct's first line (prom), its last (stage, id). */
			__builtin_prefetch(a);
			__builtin_prefetch(&a->stage);
			__builtin_prefetch(a->id);
		}
		if (pos + 8 < cap_slots && (a = slots[pos + 8]) != NULL &&
		    a->nprom > 0)
			__builtin_prefetch(a->prom);
		if ((a = slots[pos]) == NULL)
			continue;
		len = strlen(a->id) + 1;
		if (used + len + 4 > cap) {
			cap = (used + len + 4) * 2;
			if (cap >= UINT32_MAX)
				fatalx("kpi: too many accounts");
			k->ids = xreallocarray(k->ids, cap, 1);
		}
		idx = (uint32_t)i;
		memcpy(k->ids + used, &idx, sizeof(idx));
		memcpy(k->ids + used + 4, a->id, len);
		k->idoff[i] = (uint32_t)used + 4;
		used += len + 4;
		k->astage[i] = a->stage;
		if ((c = cur_index(k, a->currency)) == -1) {
			if (k->ncur == ccap) {
				ccap = ccap == 0 ? 4 : ccap * 2;
				k->cur = xreallocarray(
				    k->cur, ccap, sizeof(*k->cur));
				k->pc =
				    xreallocarray(k->pc, ccap, sizeof(*k->pc));
			}
			c = (int)k->ncur++;
			memcpy(k->cur[c], a->currency, 4);
			per_cur_init(&k->pc[c], w, ns);
		}
		k->acur[i] = (uint16_t)c;
		for (j = 0; j < a->nprom; j++) {
			pr = &a->prom[j];
			if (pr->verdict == ACCT_PENDING ||
			    (m = month_of(k, pr->verdict_at)) == 0)
				continue;
			if (pr->verdict == ACCT_KEPT)
				k->pc[c].kept[m]++;
			else
				k->pc[c].broken[m]++;
		}
		i++;
	}
	k->nacc = i;
	if (k->ncur < 2)
		return;
	/* The currencies in byte order: the records' order. */
	raw = xcalloc(k->ncur, sizeof(*raw));
	rawpc = xcalloc(k->ncur, sizeof(*rawpc));
	map = xcalloc(k->ncur, sizeof(*map));
	memcpy(raw, k->cur, k->ncur * sizeof(*raw));
	memcpy(rawpc, k->pc, k->ncur * sizeof(*rawpc));
	qsort(k->cur, k->ncur, sizeof(*k->cur), cmp_cur);
	for (i = 0; i < k->ncur; i++) {
		c = cur_index(k, raw[i]);
		map[i] = (uint16_t)c;
		k->pc[c] = rawpc[i];
	}
	for (i = 0; i < k->nacc; i++)
		k->acur[i] = map[k->acur[i]];
	free(raw);
	free(rawpc);
	free(map);
}

int
kpi_note(struct store *s, const char *currency, int32_t eff, int32_t due,
    int64_t invoiced, int64_t applied)
{
	return store_exec_q(s, Q_KPI_NOTE, "tiiii", currency, (int64_t)eff,
	    (int64_t)due, invoiced, applied);
}

int32_t
kpi_app_day(int64_t at, int32_t issued)
{
	int32_t day = clock_local_date(at);

	return day > issued ? day : issued;
}

/* The currency of account id, NULL when unknown (the rebuild's). */
static const char *
engine_cur(struct engine *e, const char *id)
{
	struct acct *a = engine_get(e, id);

	return a == NULL ? NULL : a->currency;
}

/*
 * Rebuilds the daily totals from every invoice and every application
 * not undone (reversed money counts as never applied), in one
 * transaction.  Invoices are indexed by their event seq in dense arrays
 * while it runs.
 */
static int
rebuild(struct engine *e, const char *zone)
{
	struct store *s = e->store;
	size_t nseq = (size_t)e->event_seq + 1, j;
	int32_t *issued = xcalloc(nseq, sizeof(*issued));
	int32_t *due = xcalloc(nseq, sizeof(*due));
	const char **cur = xcalloc(nseq, sizeof(*cur));
	const struct ledger_app *app;
	struct ledger lg = { 0 };
	const void *data;
	const char *c;
	int64_t seq;
	size_t len, i;
	uint32_t k;
	int rc;

	for (j = 0; j < nseq; j++)
		cur[j] = NULL;
	if (store_begin(s) == -1)
		goto fail_notxn;
	if (store_exec_q(s, Q_KPI_CLEAR, "") == -1)
		goto fail;
	for (rc = store_q(s, Q_KPI_INVOICES, ""); rc == 1;
	     rc = store_next(s, Q_KPI_INVOICES)) {
		c = engine_cur(e, store_col_text(s, Q_KPI_INVOICES, 0));
		seq = store_col_int(s, Q_KPI_INVOICES, 1);
		if (c == NULL || seq < 1 || (size_t)seq >= nseq)
			continue;
		issued[seq] = (int32_t)store_col_int(s, Q_KPI_INVOICES, 3);
		due[seq] = (int32_t)store_col_int(s, Q_KPI_INVOICES, 4);
		cur[seq] = c;
		if (kpi_note(s, c, issued[seq], due[seq],
		        store_col_int(s, Q_KPI_INVOICES, 2), 0) == -1) {
			rc = -1;
			break;
		}
	}
	store_done(s, Q_KPI_INVOICES);
	if (rc == -1)
		goto fail;
	for (rc = store_q(s, Q_KPI_LEDGERS, ""); rc == 1;
	     rc = store_next(s, Q_KPI_LEDGERS)) {
		data = store_col_blob(s, Q_KPI_LEDGERS, 0, &len);
		if (ledger_decode(&lg, data, len) == -1) {
			log_warnx("kpi: a damaged ledger is left out");
			continue;
		}
		for (i = 0; i < lg.n && rc != -1; i++)
			for (k = 0; k < lg.m[i].napp && rc != -1; k++) {
				app = &lg.m[i].app[k];
				seq = app->invoice;
				if (app->undone || seq < 1 ||
				    (size_t)seq >= nseq || cur[seq] == NULL)
					continue;
				if (kpi_note(s, cur[seq],
				        kpi_app_day(app->at, issued[seq]),
				        due[seq], 0, app->amount) == -1)
					rc = -1;
			}
		ledger_fini(&lg);
		if (rc == -1)
			break;
	}
	store_done(s, Q_KPI_LEDGERS);
	if (rc == -1 || store_meta_set_text(s, "kpi_zone", zone) == -1 ||
	    store_commit(s) == -1)
		goto fail;
	free(issued);
	free(due);
	free(cur);
	return 0;
fail:
	store_rollback(s);
fail_notxn:
	free(issued);
	free(due);
	free(cur);
	return -1;
}

int
kpi_prepare(struct engine *e)
{
	struct store *s = e->store;
	const char *zone = clock_tz_name();
	char *built = NULL;
	int64_t t0 = clock_mono_ns();
	int rc;

	if (store_meta_get_text(s, "kpi_zone", &built) == -1)
		return -1;
	rc = built != NULL && strcmp(built, zone) == 0;
	free(built);
	if (rc)
		return 0;
	/* No invoice yet (a new database): ingest keeps them from here. */
	if ((rc = store_q(s, Q_KPI_ANY_INVOICE, "")) == 0) {
		store_done(s, Q_KPI_ANY_INVOICE);
		if (store_begin(s) == -1 ||
		    store_meta_set_text(s, "kpi_zone", zone) == -1 ||
		    store_commit(s) == -1) {
			store_rollback(s);
			return -1;
		}
		return 0;
	}
	store_done(s, Q_KPI_ANY_INVOICE);
	if (rc == -1 || rebuild(e, zone) == -1)
		return -1;
	log_info("kpi: daily totals rebuilt for zone %s in %.1f s", zone,
	    (double)(clock_mono_ns() - t0) / 1e9);
	return 0;
}

static bool
cancelled(struct kpi_job *k)
{
	return atomic_load_explicit(&k->cancel, memory_order_relaxed);
}

/*
 * R, its aging classes and S from the daily totals: a row counts in
 * R(D_k) when its effective day is on or before D_k (an invoice issued
 * by then, money applied by the end of D_k on such an invoice), in the
 * aging class of D_k - its due day.
 */
static int
balances(struct kpi_job *k)
{
	struct store *s = k->s;
	struct per_cur *p;
	int64_t inv, app;
	int32_t eff, du;
	int rc, c, i;

	for (rc = store_q(s, Q_KPI_DAYS, "i", (int64_t)k->day[k->n]); rc == 1;
	     rc = store_next(s, Q_KPI_DAYS)) {
		if ((c = cur_index(k, store_col_text(s, Q_KPI_DAYS, 0))) == -1)
			continue;
		p = &k->pc[c];
		eff = (int32_t)store_col_int(s, Q_KPI_DAYS, 1);
		du = (int32_t)store_col_int(s, Q_KPI_DAYS, 2);
		inv = store_col_int(s, Q_KPI_DAYS, 3);
		app = store_col_int(s, Q_KPI_DAYS, 4);
		for (i = 0; i <= k->n; i++) {
			if (k->day[i] < eff)
				continue;
			p->r[i] += inv - app;
			p->aging[i * KPI_NCLASS +
			    aging_class(k->day[i] - du)] += inv - app;
		}
		for (i = k->n; i >= 1; i--)
			if (eff >= k->first[i]) {
				if (eff <= k->day[i])
					p->issued[i] += inv;
				break;
			}
	}
	store_done(s, Q_KPI_DAYS);
	return rc == -1 ? -1 : 0;
}

/*
 * The smallest x in [1, hi] whose first row at or after x (statement q,
 * one instant column) is at or after t, or has none: rows' instants
 * grow with their key.
 */
static int
first_key(struct store *s, enum store_q q, int64_t hi, int64_t t,
    int64_t *out /* OUT */)
{
	int64_t lo = 1, mid;
	int rc;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		rc = store_q(s, q, "i", mid);
		if (rc == -1) {
			store_done(s, q);
			return -1;
		}
		if (rc == 0 || store_col_int(s, q, 0) >= t)
			hi = mid;
		else
			lo = mid + 1;
		store_done(s, q);
	}
	*out = lo;
	return 0;
}

/* Tasks created in each month, and how many an outcome closed. */
static int
tasks(struct kpi_job *k, struct store *s)
{
	int rc, c, m;

	/* One currency: counted by the index, month by month. */
	for (m = 1; k->ncur == 1 && m <= k->n; m++) {
		rc = store_q(
		    s, Q_KPI_TASK_COUNT, "ii", k->mstart[m], k->mstart[m + 1]);
		if (rc == 1) {
			k->pc[0].tasks[m] =
			    store_col_int(s, Q_KPI_TASK_COUNT, 0);
			k->pc[0].done[m] =
			    store_col_int(s, Q_KPI_TASK_COUNT, 1);
		}
		store_done(s, Q_KPI_TASK_COUNT);
		if (rc != 1)
			return -1;
	}
	if (k->ncur == 1)
		return 0;
	for (rc = store_q(s, Q_KPI_TASKS, "i", k->mstart[1]); rc == 1;
	     rc = store_next(s, Q_KPI_TASKS)) {
		c = account_cur(k, store_col_text(s, Q_KPI_TASKS, 0));
		m = month_of(k, store_col_int(s, Q_KPI_TASKS, 1));
		if (c == -1 || m == 0)
			continue;
		if (store_col_int(s, Q_KPI_TASKS, 2) == 0)
			k->pc[c].tasks[m]++;
		else
			k->pc[c].done[m]++;
	}
	store_done(s, Q_KPI_TASKS);
	return rc == -1 ? -1 : 0;
}

/*
 * Lookups in batches: the slots of a batch's ids are fetched together,
 * then their ids, so that the cache misses overlap instead of following
 * one another.
 */
#define BATCH  64
#define ID_MAX 64 /* §1: ids have 1-64 bytes */

struct lookup {
	char id[ID_MAX + 1];
	uint64_t h;
	const char *cand; /* the first slot whose tag matches: its id */
	int64_t idx;      /* the answer: the account's index, -1 none */
	int64_t t;        /* the row's instant */
	uint32_t st;      /* the row's stage */
};

static void
index_resolve(const struct kpi_job *k, struct lookup *b, size_t n)
{
	size_t i, j, mask = k->slotcap - 1;
	uint64_t v;
	uint32_t idx;

	for (i = 0; i < n; i++) {
		b[i].h = hash_id(b[i].id);
		__builtin_prefetch(&k->slot[b[i].h & mask]);
	}
	for (i = 0; i < n; i++) {
		b[i].cand = NULL;
		for (j = b[i].h & mask; (v = k->slot[j]) != 0;
		     j = (j + 1) & mask)
			if (v >> 32 == b[i].h >> 32) {
				b[i].cand = k->ids + (v & 0xffffffffu) - 1;
				__builtin_prefetch(b[i].cand - sizeof(idx));
				break;
			}
	}
	for (i = 0; i < n; i++) {
		b[i].idx = -1;
		if (b[i].cand == NULL)
			continue;
		if (strcmp(b[i].cand, b[i].id) == 0) {
			memcpy(&idx, b[i].cand - sizeof(idx), sizeof(idx));
			b[i].idx = idx;
		} else /* another id with the same tag: the slow way */
			b[i].idx = index_find(k, b[i].id);
	}
}

/* Copies id into l; false (and l->idx = -1) when it is too long. */
static bool
lookup_set(struct lookup *l, const char *id)
{
	size_t len = strlen(id);

	if (len > ID_MAX)
		return false;
	memcpy(l->id, id, len + 1);
	return true;
}

/* A transition of account b->idx at b->t, from stage b->st. */
static void
transition_note(struct kpi_job *k, const struct lookup *b)
{
	size_t n = (size_t)k->n;
	uint32_t r, *hs;
	int j;

	if (b->idx == -1)
		return;
	r = hist_rec(k, (size_t)b->idx); /* may move hstage */
	hs = &k->hstage[(size_t)r * n];
	for (j = 1; j <= k->n && k->mstart[j] <= b->t; j++)
		if (hs[j - 1] == NO_STAGE)
			hs[j - 1] = b->st;
}

/*
 * Roll rates: each account's stage at each month's first instant is
 * the from_stage of its first transition at or after that instant, or
 * its current stage when it has none since.  The transitions since the
 * first month (found by a binary search on their id), in time order.
 */
static int
transitions(struct kpi_job *k)
{
	struct store *s = k->s;
	struct lookup *b = xcalloc(BATCH, sizeof(*b));
	int64_t maxid = 0, from;
	size_t nb = 0, i;
	int rc;

	if (store_q(s, Q_KPI_TRANS_MAXID, "") == 1)
		maxid = store_col_int(s, Q_KPI_TRANS_MAXID, 0);
	store_done(s, Q_KPI_TRANS_MAXID);
	if (first_key(s, Q_KPI_TRANS_AT, maxid + 1, k->mstart[1], &from) ==
	    -1) {
		free(b);
		return -1;
	}
	for (rc = store_q(s, Q_KPI_TRANSITIONS, "i", from); rc >= 0;
	     rc = store_next(s, Q_KPI_TRANSITIONS)) {
		if (rc == 1) {
			if (!lookup_set(&b[nb],
			        store_col_text(s, Q_KPI_TRANSITIONS, 0)))
				continue;
			b[nb].t = store_col_int(s, Q_KPI_TRANSITIONS, 2);
			b[nb].st = stage_index(
			    k, store_col_text(s, Q_KPI_TRANSITIONS, 1));
			nb++;
		}
		/* In order: a batch is noted before the rows after it. */
		if (nb == BATCH || (rc == 0 && nb > 0)) {
			index_resolve(k, b, nb);
			for (i = 0; i < nb; i++)
				transition_note(k, &b[i]);
			nb = 0;
		}
		if (rc == 0)
			break;
	}
	store_done(s, Q_KPI_TRANSITIONS);
	free(b);
	return rc == -1 ? -1 : 0;
}

/* The accounts created since the first month (an index), on reader s. */
static int
created(struct kpi_job *k, struct store *s)
{
	struct lookup *b = xcalloc(BATCH, sizeof(*b));
	size_t nb = 0, i;
	int rc, j;

	for (rc = store_q(s, Q_KPI_CREATED, "i", k->mstart[1] - 1); rc >= 0;
	     rc = store_next(s, Q_KPI_CREATED)) {
		if (rc == 1 &&
		    lookup_set(&b[nb], store_col_text(s, Q_KPI_CREATED, 0)))
			b[nb++].t = store_col_int(s, Q_KPI_CREATED, 1);
		if (nb == BATCH || (rc == 0 && nb > 0)) {
			index_resolve(k, b, nb);
			for (i = 0; i < nb; i++) {
				if (b[i].idx == -1)
					continue;
				for (j = 1; j <= k->n && k->mstart[j] <= b[i].t;
				     j++)
					;
				k->cfirst[b[i].idx] = (uint8_t)j;
			}
			nb = 0;
		}
		if (rc == 0)
			break;
	}
	store_done(s, Q_KPI_CREATED);
	free(b);
	return rc == -1 ? -1 : 0;
}

/*
 * The roll rates' counts, once the transitions and the creations are
 * in: an account counts in month j when it was created before j's
 * start.
 */
static void
rolls(struct kpi_job *k)
{
	size_t a, ns = k->nstages, n = (size_t)k->n;
	uint32_t s0, s1, *hs;
	int j, c;

	for (a = 0; a < k->nacc; a++) {
		c = k->acur[a];
		j = k->cfirst[a] > 1 ? k->cfirst[a] : 1;
		if (k->hrec == NULL || k->hrec[a] == 0) {
			/* No transition inside the months: the same stage. */
			if ((s0 = k->astage[a]) < ns)
				for (; j <= k->n; j++)
					k->pc[c].den[j * ns + s0]++;
			continue;
		}
		hs = &k->hstage[(size_t)(k->hrec[a] - 1) * n];
		for (; j <= k->n; j++) {
			s0 = hs[j - 1] != NO_STAGE ? hs[j - 1] : k->astage[a];
			s1 = j < k->n && hs[j] != NO_STAGE ? hs[j]
			                                   : k->astage[a];
			/* Stages the rule set no longer has are left out. */
			if (s0 >= ns)
				continue;
			k->pc[c].den[j * ns + s0]++;
			if (s1 < ns && s1 > s0)
				k->pc[c].num[j * ns + s0]++;
		}
	}
}

/*
 * A thread is done: the last one counts the roll rates when both did
 * their part, and wakes the loop.
 */
static void
thread_done(struct kpi_job *k)
{
	int64_t t;

	if (atomic_fetch_sub(&k->running, 1) != 1)
		return;
	if (k->rc == 0 && k->rc2 == 0 && !cancelled(k)) {
		t = clock_mono_ns();
		rolls(k);
		k->t_rolls += clock_mono_ns() - t;
	}
	atomic_store(&k->ended, true);
	if (k->wake != NULL)
		k->wake(k->wake_arg);
}

/* The balances, the transitions, and without a second thread the rest. */
static void *
worker(void *arg)
{
	struct kpi_job *k = arg;
	int64_t t = clock_mono_ns();

	k->rc = -1;
	index_build(k);
	k->cfirst = huge_calloc(k->nacc + 1, sizeof(*k->cfirst));
	k->hrec = huge_calloc(k->nacc + 1, sizeof(*k->hrec));
	pthread_mutex_lock(&k->mu);
	k->index_ready = true;
	pthread_cond_broadcast(&k->cv);
	pthread_mutex_unlock(&k->mu);
	k->t_index = clock_mono_ns() - t;
	t = clock_mono_ns();
	if (balances(k) == -1 || cancelled(k))
		goto out;
	k->t_balances = clock_mono_ns() - t;
	if (k->s2 == NULL) {
		t = clock_mono_ns();
		if (tasks(k, k->s) == -1 || cancelled(k) ||
		    created(k, k->s) == -1 || cancelled(k))
			goto out;
		k->t_tasks = clock_mono_ns() - t;
	}
	t = clock_mono_ns();
	if (transitions(k) == -1)
		goto out;
	k->t_rolls = clock_mono_ns() - t;
	k->rc = 0;
out:
	thread_done(k);
	return NULL;
}

/* With one currency: the tasks, then (with the index) the creations. */
static void *
worker2(void *arg)
{
	struct kpi_job *k = arg;
	int64_t t = clock_mono_ns();

	k->rc2 = -1;
	if (tasks(k, k->s2) == -1 || cancelled(k))
		goto out;
	pthread_mutex_lock(&k->mu);
	while (!k->index_ready)
		pthread_cond_wait(&k->cv, &k->mu);
	pthread_mutex_unlock(&k->mu);
	if (created(k, k->s2) == -1)
		goto out;
	k->rc2 = 0;
out:
	k->t_tasks = clock_mono_ns() - t;
	thread_done(k);
	return NULL;
}

static void
set_ratio(json_t *o, const char *key, double num, double den)
{
	if (den != 0)
		json_object_set_new(o, key, json_real(num / den));
}

static void
output(struct kpi_job *k, json_t *out)
{
	size_t c, st, ns = k->nstages;
	struct per_cur *p;
	json_t *rec, *roll, *aging;
	char month[8], date[CLOCK_DATE_LEN];
	int64_t b, e, sm, cc, days;
	int y, m, d, i, cl;

	for (i = 1; i <= k->n; i++) {
		clock_civil_from_days(k->first[i], &y, &m, &d);
		snprintf(month, sizeof(month), "%04d-%02d", y, m);
		clock_format_date(k->day[i], date);
		days = k->first[i + 1] - k->first[i];
		for (c = 0; c < k->ncur; c++) {
			p = &k->pc[c];
			b = p->r[i - 1];
			e = p->r[i];
			sm = p->issued[i];
			cc = p->aging[i * KPI_NCLASS];
			rec = json_pack("{s:s,s:s%,s:I,s:I,s:I,s:I}", "month",
			    month, "currency", k->cur[c], (size_t)3, "B",
			    (json_int_t)b, "E", (json_int_t)e, "S",
			    (json_int_t)sm, "C", (json_int_t)cc);
			set_ratio(
			    rec, "dso", (double)e * (double)days, (double)sm);
			set_ratio(rec, "cei", (double)(b + sm - e),
			    (double)(b + sm - cc));
			set_ratio(rec, "promise_kept_rate", (double)p->kept[i],
			    (double)(p->kept[i] + p->broken[i]));
			roll = json_object();
			for (st = 0; st < ns; st++)
				if (k->stages[st] != NULL)
					set_ratio(roll, k->stages[st],
					    (double)p->num[i * ns + st],
					    (double)p->den[i * ns + st]);
			json_object_set_new(rec, "roll_rates", roll);
			/* Extras for the human form (README). */
			json_object_set_new(rec, "end", json_string(date));
			json_object_set_new(rec, "days", json_integer(days));
			aging = json_object();
			for (cl = 0; cl < KPI_NCLASS; cl++)
				json_object_set_new(aging, kpi_class_names[cl],
				    json_integer(
				        p->aging[i * KPI_NCLASS + cl]));
			json_object_set_new(rec, "aging", aging);
			json_object_set_new(
			    rec, "promises_kept", json_integer(p->kept[i]));
			json_object_set_new(
			    rec, "promises_broken", json_integer(p->broken[i]));
			json_object_set_new(
			    rec, "tasks", json_integer(p->tasks[i]));
			json_object_set_new(rec, "tasks_with_outcome",
			    json_integer(p->done[i]));
			set_ratio(rec, "outcome_share", (double)p->done[i],
			    (double)p->tasks[i]);
			json_array_append_new(out, rec);
		}
	}
}

static void
job_free(struct kpi_job *k)
{
	size_t c, i;

	store_close(k->s);
	store_close(k->s2);
	for (c = 0; c < k->ncur; c++) {
		struct per_cur *p = &k->pc[c];

		free(p->r);
		free(p->aging);
		free(p->issued);
		free(p->kept);
		free(p->broken);
		free(p->tasks);
		free(p->done);
		free(p->den);
		free(p->num);
	}
	for (i = 0; i < k->nstages; i++)
		free(k->stages[i]);
	free(k->stages);
	free(k->slot);
	free(k->hrec);
	free(k->hstage);
	free(k->cfirst);
	pthread_mutex_destroy(&k->mu);
	pthread_cond_destroy(&k->cv);
	free(k->pc);
	free(k->cur);
	free(k->ids);
	free(k->idoff);
	free(k->astage);
	free(k->acur);
	free(k->day);
	free(k->first);
	free(k->mstart);
	free(k);
}

struct kpi_job *
kpi_start(struct engine *e, const struct ruleset *rs, int64_t now, int months,
    void (*wake)(void *), void *wake_arg)
{
	struct kpi_job *k = xcalloc(1, sizeof(*k));
	sigset_t all, old;
	size_t i;
	int rc;

	k->t0 = clock_mono_ns();
	k->n = months;
	pthread_mutex_init(&k->mu, NULL);
	pthread_cond_init(&k->cv, NULL);
	k->wake = wake;
	k->wake_arg = wake_arg;
	atomic_init(&k->ended, false);
	atomic_init(&k->cancel, false);
	if (store_in_txn(e->store)) {
		log_warnx("kpi: called inside a transaction");
		goto fail;
	}
	/* Memory and the snapshot: both as of the last commit. */
	if ((k->s = store_open_reader(e->store)) == NULL) {
		log_warnx(
		    "kpi: cannot open a reader: %s", store_errmsg(e->store));
		goto fail;
	}
	months_init(k, now);
	k->nstages = rs->nstages;
	k->stages = xcalloc(rs->nstages + 1, sizeof(*k->stages));
	for (i = 0; i < rs->nstages; i++)
		if (rs->stages[i].name != NULL)
			k->stages[i] = xstrdup(rs->stages[i].name);
	accounts_copy(k, e);
	if (k->ncur == 0) {
		atomic_store(&k->ended, true);
		k->rc = 0;
		return k;
	}
	if (k->ncur == 1 && (k->s2 = store_open_reader(e->store)) == NULL) {
		log_warnx(
		    "kpi: cannot open a reader: %s", store_errmsg(e->store));
		goto fail;
	}
	k->t_copy = clock_mono_ns() - k->t0;
	atomic_store(&k->running, k->s2 != NULL ? 2 : 1);
	/* Signals are the loop's: the threads must never be hit by one. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	rc = pthread_create(&k->thread, NULL, worker, k);
	k->started = rc == 0;
	if (rc == 0 && k->s2 != NULL) {
		rc = pthread_create(&k->thread2, NULL, worker2, k);
		k->started2 = rc == 0;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		log_warnx("kpi: cannot start a thread: %s", strerror(rc));
		if (k->started) {
			atomic_store(&k->cancel, true);
			store_interrupt(k->s);
			pthread_join(k->thread, NULL);
		}
		goto fail;
	}
	return k;
fail:
	job_free(k);
	return NULL;
}

bool
kpi_ended(struct kpi_job *k)
{
	return atomic_load(&k->ended);
}

int
kpi_finish(struct kpi_job *k, bool abort, json_t *out, char *err, size_t errlen)
{
	int rc;

	if (abort) {
		atomic_store(&k->cancel, true);
		store_interrupt(k->s);
		if (k->s2 != NULL)
			store_interrupt(k->s2);
	}
	if (k->started)
		pthread_join(k->thread, NULL);
	if (k->started2)
		pthread_join(k->thread2, NULL);
	rc = abort || k->rc == -1 || k->rc2 == -1 ? -1 : 0;
	if (rc == 0) {
		output(k, out);
		log_debug("kpi: %d months, %zu accounts: copy %.3f s on the "
		          "loop, then index %.3f s, balances %.3f s, tasks and "
		          "creations %.3f s%s, transitions and rolls %.3f s; "
		          "%.3f s in all",
		    k->n, k->nacc, (double)k->t_copy / 1e9,
		    (double)k->t_index / 1e9, (double)k->t_balances / 1e9,
		    (double)k->t_tasks / 1e9,
		    k->s2 != NULL ? " (a second thread)" : "",
		    (double)k->t_rolls / 1e9,
		    (double)(clock_mono_ns() - k->t0) / 1e9);
	} else
		snprintf(err, errlen, "%s",
		    abort ? "stopped"
		          : store_errmsg(k->rc == -1 ? k->s : k->s2));
	job_free(k);
#ifdef __GLIBC__
	/*
	 * Tens of MB freed, some by the threads' own malloc arenas (their
	 * page caches): back to the system, not kept at rest (P5).
	 */
	malloc_trim(0);
#endif
	return rc;
}
