/*
 * ledger — an account's money history, what reversals and promises read
 * back (§2.3, §3.1) and memory does not keep: each payment, credit and
 * upheld amount with where it was applied, what of it no promise has
 * counted yet, and what it counted towards which promise.  One row per
 * account (table ledger), read when a batch first needs it and written
 * once when the batch is kept: a bulk file of 100,000 events touches a
 * few thousand accounts, where per-event rows (money, applications,
 * promise contributions, each with its indexes) were a fifth of
 * ingest's time.
 *
 * Invariants:
 * (1) Entries are in seq order (the money's event seq), each seq once.
 * (2) A ledger in a set is the account's as of the batch's lines so far;
 *     the set is written (ledgers_flush) or dropped (ledgers_clear) at
 *     the batch's end, never kept across batches.
 */
#ifndef DUNND_LEDGER_H
#define DUNND_LEDGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "event.h"
#include "idmap.h"

struct buf;
struct store;

enum ledger_kind {
	LEDGER_PAYMENT,
	LEDGER_CREDIT,
	LEDGER_UPHELD
};

/* money applied to an invoice (by the invoice's event seq) */
struct ledger_app {
	int64_t invoice, amount, at;
	bool undone; /* by the money's reversal */
};

/* money counted towards a promise (by the promise's event seq) */
struct ledger_pm {
	int64_t promise, amount;
	bool withdrawn; /* by the money's reversal */
};

struct ledger_money {
	struct ledger_app *app;
	struct ledger_pm *pm;
	int64_t seq, amount, at;
	int64_t uncounted; /* not yet counted towards a promise */
	uint32_t napp, npm;
	uint8_t kind; /* enum ledger_kind */
	bool reversed;
};

/*
 * Memory for the ledgers of a batch, given back whole at its end: the
 * ledgers of a bulk file are thousands of small arrays, and freed one by
 * one among the accounts' own allocations they left holes in the heap
 * (P5: 56 bytes an account more at rest after a bulk load).
 */
struct ledger_arena {
	struct ledger_chunk *chunks;
};

struct ledger {
	struct ledger_money *m;
	struct ledger_arena *arena; /* where its memory is; NULL: malloc */
	size_t n, cap;
	bool dirty; /* changed since read */
	char account[EVENT_ID_MAX + 1];
};

/*
 * The saved form; decode fails (-1) on damaged bytes, l left empty.  A
 * ledger starts zeroed (malloc'd memory) or from a set (ledgers_get()).
 */
void ledger_encode(const struct ledger *l, struct buf *b);
int ledger_decode(struct ledger *l, const void *data, size_t len);
/* Frees what l holds (nothing for a ledger of a set) and empties it. */
void ledger_fini(struct ledger *l);

/* The entry of money seq, or NULL. */
struct ledger_money *ledger_find(struct ledger *l, int64_t seq);
/* A new entry, after every other (seq above theirs); l must be marked. */
struct ledger_money *ledger_add(struct ledger *l, int64_t seq,
    enum ledger_kind kind, int64_t amount, int64_t at);
/* An application of l's money m (an entry of l). */
void ledger_app_add(struct ledger *l, struct ledger_money *m, int64_t invoice,
    int64_t amount, int64_t at);
/* Adds to money m's count towards promise (one record per pair). */
void ledger_pm_add(
    struct ledger *l, struct ledger_money *m, int64_t promise, int64_t amount);
/*
 * The latest `at` of the applications to invoice that are not undone;
 * false when there is none.
 */
bool ledger_app_last(
    const struct ledger *l, int64_t invoice, int64_t *at /* OUT */);

/* The ledgers a batch has read, by account, and their memory. */
struct ledgers {
	struct idmap map;
	struct ledger_arena arena;
};

void ledgers_init(struct ledgers *ls);
void ledgers_fini(struct ledgers *ls);
/*
 * Account's ledger (empty when it has none yet), marked to be written
 * when the caller will change it; NULL on a store error or damage.
 */
struct ledger *ledgers_get(
    struct ledgers *ls, struct store *s, const char *account, bool change);
/* Writes the changed ledgers, then forgets all; -1 on a store error. */
int ledgers_flush(struct ledgers *ls, struct store *s);
/* Forgets all without writing (a batch not kept). */
void ledgers_clear(struct ledgers *ls);

#endif
