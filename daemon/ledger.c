/*
 * ledger — an account's money history in one row (ledger.h).
 *
 * The saved form: a version byte, then varints (util.h): the entry
 * count, and per entry its seq (after the previous entry's), kind with
 * the reversed flag in bit 2, amount, at, uncounted; its applications
 * (count, then invoice seq before the money's seq, amount, at after the
 * money's at, undone); its promise contributions (count, then promise
 * seq before the money's seq, amount, withdrawn).
 */
#include "ledger.h"

#include <sys/mman.h>

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "store.h"
#include "util.h"

#define LEDGER_VERSION 1

/* Memory. */

/* An arena's chunks are mapped on their own: unmapped, they leave no
 * hole anywhere. */
#define CHUNK_BYTES ((size_t)1 << 20)
#define ALIGN       16

struct ledger_chunk {
	struct ledger_chunk *next;
	size_t size, used; /* of data */
	_Alignas(ALIGN) unsigned char data[];
};

static void *
arena_alloc(struct ledger_arena *ar, size_t n)
{
	struct ledger_chunk *c = ar->chunks;
	size_t size;
	void *p;

	n = (n + ALIGN - 1) & ~(size_t)(ALIGN - 1);
	if (c == NULL || c->size - c->used < n) {
		size =
		    sizeof(*c) + n > CHUNK_BYTES ? sizeof(*c) + n : CHUNK_BYTES;
		c = mmap(NULL, size, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (c == MAP_FAILED)
			fatalx("out of memory (%zu bytes)", size);
		c->next = ar->chunks;
		c->size = size - sizeof(*c);
		c->used = 0;
		ar->chunks = c;
	}
	p = c->data + c->used;
	c->used += n;
	return p;
}

/*
 * Gives back every chunk, or (all false) every one but a chunk of the
 * usual size, which starts over: a batch of one event maps nothing.
 */
static void
arena_reset(struct ledger_arena *ar, bool all)
{
	struct ledger_chunk *c, *next, *keep = NULL;

	for (c = ar->chunks; c != NULL; c = next) {
		next = c->next;
		if (!all && keep == NULL &&
		    sizeof(*c) + c->size == CHUNK_BYTES) {
			keep = c;
			continue;
		}
		munmap(c, sizeof(*c) + c->size);
	}
	if (keep != NULL) {
		keep->next = NULL;
		keep->used = 0;
	}
	ar->chunks = keep;
}

/* Room for n elements of size elem at p, which holds have of them. */
static void *
grow(struct ledger *l, void *p, size_t have, size_t n, size_t elem)
{
	void *q;

	if (l->arena == NULL)
		return xreallocarray(p, n, elem);
	q = arena_alloc(l->arena, n * elem);
	if (have > 0)
		memcpy(q, p, have * elem);
	return q;
}

/*
 * Applications and contributions hold no capacity of their own: an
 * array of n holds room(n) (0, 2, 4, 8, ...), and grows when full.
 */
static size_t
room(size_t n)
{
	size_t r = 2;

	if (n == 0)
		return 0;
	while (r < n)
		r *= 2;
	return r;
}

static void *
push(struct ledger *l, void *p, uint32_t n, size_t elem)
{
	return n == room(n) ? grow(l, p, n, room((size_t)n + 1), elem) : p;
}

/*
 * Differences wrap around (two's complement) rather than overflow: a
 * damaged row decodes to values that encode back to its bytes.
 */
static int64_t
sub(int64_t x, int64_t y)
{
	return (int64_t)((uint64_t)x - (uint64_t)y);
}

static int64_t
add(int64_t x, int64_t y)
{
	return (int64_t)((uint64_t)x + (uint64_t)y);
}

void
ledger_encode(const struct ledger *l, struct buf *b)
{
	const struct ledger_money *m;
	const unsigned char v = LEDGER_VERSION;
	int64_t prev = 0;
	size_t i;
	uint32_t k;

	buf_append(b, &v, 1);
	buf_put_varint(b, (int64_t)l->n);
	for (i = 0; i < l->n; i++) {
		m = &l->m[i];
		buf_put_varint(b, sub(m->seq, prev));
		prev = m->seq;
		buf_put_varint(b, (int64_t)m->kind | (m->reversed ? 4 : 0));
		buf_put_varint(b, m->amount);
		buf_put_varint(b, m->at);
		buf_put_varint(b, m->uncounted);
		buf_put_varint(b, (int64_t)m->napp);
		for (k = 0; k < m->napp; k++) {
			buf_put_varint(b, sub(m->seq, m->app[k].invoice));
			buf_put_varint(b, m->app[k].amount);
			buf_put_varint(b, sub(m->app[k].at, m->at));
			buf_put_varint(b, m->app[k].undone);
		}
		buf_put_varint(b, (int64_t)m->npm);
		for (k = 0; k < m->npm; k++) {
			buf_put_varint(b, sub(m->seq, m->pm[k].promise));
			buf_put_varint(b, m->pm[k].amount);
			buf_put_varint(b, m->pm[k].withdrawn);
		}
	}
}

struct reader {
	const unsigned char *p, *end;
	bool bad;
};

static int64_t
get(struct reader *r)
{
	int64_t v = 0;

	if (!r->bad && !varint_get(&r->p, r->end, &v))
		r->bad = true;
	return r->bad ? 0 : v;
}

/* A count the remaining bytes can hold, each element min bytes. */
static uint32_t
get_count(struct reader *r, size_t min)
{
	int64_t n = get(r);

	if (n < 0 || (uint64_t)n > (uint64_t)(r->end - r->p) / min) {
		r->bad = true;
		return 0;
	}
	return (uint32_t)n;
}

static bool
get_flag(struct reader *r)
{
	int64_t v = get(r);

	if (v != 0 && v != 1)
		r->bad = true;
	return v == 1;
}

int
ledger_decode(struct ledger *l, const void *data, size_t len)
{
	struct reader r = { data, (const unsigned char *)data + len, false };
	struct ledger_money *m;
	int64_t prev = 0, kind;
	uint32_t n, k;

	ledger_fini(l);
	if (len < 1 || *r.p++ != LEDGER_VERSION)
		return -1;
	n = get_count(&r, 7);
	l->m = n ? grow(l, NULL, 0, n, sizeof(*l->m)) : NULL;
	l->cap = n;
	for (; l->n < n && !r.bad; l->n++) {
		m = &l->m[l->n];
		memset(m, 0, sizeof(*m));
		m->seq = add(prev, get(&r));
		if (m->seq <= prev)
			r.bad = true;
		prev = m->seq;
		kind = get(&r);
		if ((kind & ~(int64_t)4) > LEDGER_UPHELD || kind < 0)
			r.bad = true;
		m->kind = (uint8_t)(kind & 3);
		m->reversed = (kind & 4) != 0;
		m->amount = get(&r);
		m->at = get(&r);
		m->uncounted = get(&r);
		m->napp = get_count(&r, 4);
		m->app = m->napp
		    ? grow(l, NULL, 0, room(m->napp), sizeof(*m->app))
		    : NULL;
		for (k = 0; k < m->napp; k++) {
			m->app[k].invoice = sub(m->seq, get(&r));
			m->app[k].amount = get(&r);
			m->app[k].at = add(m->at, get(&r));
			m->app[k].undone = get_flag(&r);
		}
		m->npm = get_count(&r, 3);
		m->pm = m->npm ? grow(l, NULL, 0, room(m->npm), sizeof(*m->pm))
		               : NULL;
		for (k = 0; k < m->npm; k++) {
			m->pm[k].promise = sub(m->seq, get(&r));
			m->pm[k].amount = get(&r);
			m->pm[k].withdrawn = get_flag(&r);
		}
	}
	if (r.bad || r.p != r.end) {
		ledger_fini(l);
		return -1;
	}
	return 0;
}

void
ledger_fini(struct ledger *l)
{
	size_t i;

	if (l->arena == NULL) {
		for (i = 0; i < l->n; i++) {
			free(l->m[i].app);
			free(l->m[i].pm);
		}
		free(l->m);
	}
	l->m = NULL;
	l->n = l->cap = 0;
}

struct ledger_money *
ledger_find(struct ledger *l, int64_t seq)
{
	size_t lo = 0, hi = l->n, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (l->m[mid].seq < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < l->n && l->m[lo].seq == seq ? &l->m[lo] : NULL;
}

struct ledger_money *
ledger_add(struct ledger *l, int64_t seq, enum ledger_kind kind, int64_t amount,
    int64_t at)
{
	struct ledger_money *m;

	if (l->n == l->cap) {
		l->m =
		    grow(l, l->m, l->n, l->cap ? 2 * l->cap : 4, sizeof(*l->m));
		l->cap = l->cap ? 2 * l->cap : 4;
	}
	m = &l->m[l->n++];
	memset(m, 0, sizeof(*m));
	m->seq = seq;
	m->kind = (uint8_t)kind;
	m->amount = amount;
	m->at = at;
	return m;
}

void
ledger_app_add(struct ledger *l, struct ledger_money *m, int64_t invoice,
    int64_t amount, int64_t at)
{
	m->app = push(l, m->app, m->napp, sizeof(*m->app));
	m->app[m->napp++] = (struct ledger_app){
		.invoice = invoice, .amount = amount, .at = at
	};
}

void
ledger_pm_add(
    struct ledger *l, struct ledger_money *m, int64_t promise, int64_t amount)
{
	uint32_t k;

	for (k = 0; k < m->npm; k++)
		if (m->pm[k].promise == promise) {
			m->pm[k].amount += amount;
			return;
		}
	m->pm = push(l, m->pm, m->npm, sizeof(*m->pm));
	m->pm[m->npm++] =
	    (struct ledger_pm){ .promise = promise, .amount = amount };
}

bool
ledger_app_last(const struct ledger *l, int64_t invoice, int64_t *at)
{
	bool found = false;
	size_t i;
	uint32_t k;

	for (i = 0; i < l->n; i++)
		for (k = 0; k < l->m[i].napp; k++)
			if (l->m[i].app[k].invoice == invoice &&
			    !l->m[i].app[k].undone &&
			    (!found || l->m[i].app[k].at > *at)) {
				*at = l->m[i].app[k].at;
				found = true;
			}
	return found;
}

/* The set. */

void
ledgers_init(struct ledgers *ls)
{
	idmap_init(&ls->map, offsetof(struct ledger, account));
	ls->arena.chunks = NULL;
}

void
ledgers_clear(struct ledgers *ls)
{
	idmap_clear(&ls->map);
	arena_reset(&ls->arena, false);
}

void
ledgers_fini(struct ledgers *ls)
{
	idmap_fini(&ls->map);
	arena_reset(&ls->arena, true);
}

struct ledger *
ledgers_get(
    struct ledgers *ls, struct store *s, const char *account, bool change)
{
	struct ledger *l = idmap_get(&ls->map, account);
	const void *data;
	size_t len;
	int rc;

	if (l != NULL) {
		l->dirty |= change;
		return l;
	}
	if ((rc = store_q(s, Q_LEDGER_GET, "t", account)) == -1) {
		store_done(s, Q_LEDGER_GET);
		return NULL;
	}
	l = arena_alloc(&ls->arena, sizeof(*l));
	memset(l, 0, sizeof(*l));
	l->arena = &ls->arena;
	snprintf(l->account, sizeof(l->account), "%s", account);
	if (rc == 1) {
		data = store_col_blob(s, Q_LEDGER_GET, 0, &len);
		if (ledger_decode(l, data, len) == -1) {
			store_done(s, Q_LEDGER_GET);
			log_warnx("store: account %s: damaged ledger", account);
			return NULL;
		}
	}
	store_done(s, Q_LEDGER_GET);
	l->dirty = change;
	idmap_put(&ls->map, l);
	return l;
}

int
ledgers_flush(struct ledgers *ls, struct store *s)
{
	struct ledger *l;
	struct buf b;
	size_t pos = 0;
	int rc = 0;

	buf_init(&b);
	while (rc == 0 && (l = idmap_next(&ls->map, &pos)) != NULL) {
		if (!l->dirty)
			continue;
		buf_clear(&b);
		ledger_encode(l, &b);
		rc = store_exec_q(s, Q_LEDGER_PUT, "tb", l->account,
		    buf_data(&b), buf_size(&b));
	}
	buf_fini(&b);
	ledgers_clear(ls);
	return rc;
}
