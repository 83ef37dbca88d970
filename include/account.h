/*
 * account — the compact in-memory state of one account (§3), the input
 * of every fact.  portfolio fills it from events (and from the store at
 * start); facts reads it.  Nothing here touches SQLite.
 *
 * Days are day numbers (clock.h), instants epoch seconds, money int64
 * minor units.  "Arrival" is the event's global sequence number (its
 * place in the order events were accepted): the last tiebreak wherever
 * the contract says "then arrival".
 */
#ifndef DUNND_ACCOUNT_H
#define DUNND_ACCOUNT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * One invoice, 32 bytes: its id and amount live in the store (the
 * invoices table, keyed also by seq).  open = amount − every
 * application to it (payments, credits, upheld amounts); settled when
 * open == 0, and settle_day is then the local date of the latest `at`
 * among its applications (while open, the latest so far).  disputed is
 * the sum of its unresolved disputes, NOT clamped: the disputed open
 * amount of §3 is min(disputed, open).
 */
struct acct_invoice {
	int64_t open;
	int64_t disputed;
	uint32_t seq; /* its event's seq: the store's key, and arrival */
	int32_t issued, due;
	int32_t settle_day; /* INT32_MIN: no application yet */
};

/*
 * A settled invoice without unresolved disputes, 12 bytes: all that
 * facts need of it (§3 late_trend, on_time_ratio, first_miss).  Its
 * issue and settle days are kept as offsets from its due day
 * (acct_settled_issued(), acct_settled_day()); an invoice whose offsets
 * do not fit 16 bits stays in the open list.
 */
struct acct_settled {
	int32_t due;
	uint32_t seq;
	int16_t issued_before; /* due - issued */
	int16_t late;          /* settle_day - due */
};

static inline int32_t
acct_settled_issued(const struct acct_settled *st)
{
	return st->due - st->issued_before;
}

static inline int32_t
acct_settled_day(const struct acct_settled *st)
{
	return st->due + st->late;
}

/*
 * Settled invoices kept per account: the last ones in invoice order, as
 * many as the largest trend_window (§4.1: 12).  Older ones are only
 * counted; a reversal that re-opens one reads it back from the store.
 */
#define ACCT_SETTLED_KEEP 12

enum acct_verdict {
	ACCT_PENDING,
	ACCT_KEPT,
	ACCT_BROKEN,
};

/*
 * One promise to pay (§3.1), 56 bytes.  Its id lives in the store: seq
 * is its event's seq (the events table's key), and its arrival.
 */
struct acct_promise {
	int64_t amount;
	int64_t counted; /* money counted towards it so far */
	int64_t at;
	int64_t
	    break_at; /* end of its due day (next local midnight) + promise_grace */
	int64_t verdict_at; /* valid unless pending */
	uint32_t seq;
	int32_t due;
	uint8_t verdict; /* enum acct_verdict */
};

/* An outcome after the account's last "other" outcome (§3 unreached). */
struct acct_outcome {
	int64_t at;
	int64_t arrival;
};

/*
 * A portion of unapplied credit (§2.3): what is left of one payment
 * beyond the whole balance, applied to new invoices oldest first.
 */
struct acct_credit {
	char *money; /* the payment's event id */
	int64_t remaining;
	int64_t at;      /* the payment's `at` */
	int64_t arrival; /* the payment's seq */
};

/* An open task of the account: its number (T-%06lld) and origin. */
struct acct_task {
	int64_t num;
	int32_t nb_day; /* the local date of its window's not_before (§4.9) */
	int16_t alert;  /* index of its alert, -1 for a stage task */
	int16_t step;   /* its cadence step (stage tasks), -1 otherwise */
	uint8_t type;   /* enum rules_task_type */
};

/*
 * What few accounts have, allocated when first needed: outcomes and
 * unapplied credit.
 *
 * Outcomes, ordered by (at, arrival): the last outcome that was not
 * no_answer/wrong_contact (has_other), and the unreached ones after it
 * (tail).  unreached == ntail.
 */
struct acct_extra {
	struct acct_outcome last_other;
	struct acct_outcome *tail;
	/* Unapplied credit, oldest payment first. */
	struct acct_credit *cred;
	uint32_t ntail;
	uint32_t ncred;
	bool has_other;
};

struct acct {
	/*
	 * Ordered by size (pointers, 64-bit values, counts, flags) so the
	 * struct packs: a million of them live in memory (targets.md P5),
	 * each one allocation with its id.  Counts are 32-bit: no account
	 * holds 4 billion of anything.  Arrays are sized exactly.
	 */
	char **tags;

	/*
	 * Invoices in invoice order (due, issued, arrival): inv holds the
	 * open ones and the settled ones with unresolved disputes; set the
	 * last ACCT_SETTLED_KEEP settled others; nsettled_old counts the
	 * settled ones dropped before those.
	 */
	struct acct_invoice *inv;
	struct acct_settled *set;
	/* Promises in arrival order. */
	struct acct_promise *prom;
	/* Outcomes and credit; NULL while the account has none. */
	struct acct_extra *x;
	/*
	 * Three arrays in one allocation, sized by acct_arrays() only
	 * (counts may shrink in place): alert_last[nalerts], the last
	 * firing per alert (§4.6), INT64_MIN never; tasks[ntasks], the
	 * open tasks, oldest first; emitted[nemitted], the tasks cadence
	 * step k yielded in this stage entry.  NULL when empty.
	 */
	int64_t *alert_last;
	struct acct_task *tasks;
	uint32_t *emitted;

	int64_t stage_entered; /* the instant the current stage was entered */
	/* §2.2 step 10: totals of accepted events (reversals never lower). */
	int64_t invoiced, paid, credited;
	/*
	 * Cadence (§4.5): the clock read cad_acc at cad_mark and has run
	 * since then when cad_running (neither held nor paused at the last
	 * evaluation).
	 */
	int64_t cad_acc, cad_mark;

	/* Not saved: the scheduler's and the batch's bookkeeping. */
	int64_t due_at;    /* next due moment, INT64_MAX none */
	uint32_t heap_pos; /* UINT32_MAX when not in the heap */

	uint32_t stage; /* index in the ruleset */
	uint32_t nsettled_old;
	uint32_t ntags;
	uint32_t ninv;
	uint32_t nset;
	uint32_t nprom;
	uint32_t nemitted;
	uint32_t nalerts;
	uint32_t ntasks;

	char currency[4];
	uint16_t roles; /* bit (1 << enum event_role) per contact role held */
	uint16_t phone_roles; /* ... of the contacts with a phone */
	uint16_t email_roles; /* ... of the contacts with an email */
	uint8_t cash_in_day;  /* 1-31, 0 unknown */
	bool credit_held; /* §4.5: a credit_hold began a hold, no release yet */
	int8_t size;      /* enum rules_size */
	int8_t risk;      /* 0-4 = A-E, -1 unset */
	bool paused;
	bool cad_running;
	bool held;
	bool saved;  /* an undo copy was taken in this step (not saved) */
	bool bsaved; /* ... and in this batch of the step (not saved) */
	/* Its rows do not hold its state as the undo copy has it (it holds
	 * none yet, or one an earlier dunnd saved whole) until the step
	 * saving it commits (engine.c save_one(); not saved). */
	bool stale;
	char id[]; /* §1: 1-64 bytes */
};

#define ACCT_NO_STAGE UINT32_MAX

/*
 * Invoice order (§3): due, then issued, then arrival (the seq).  True
 * when the first invoice comes before the second.
 */
static inline bool
acct_order_before(int32_t due1, int32_t issued1, uint32_t seq1, int32_t due2,
    int32_t issued2, uint32_t seq2)
{
	if (due1 != due2)
		return due1 < due2;
	if (issued1 != issued2)
		return issued1 < issued2;
	return seq1 < seq2;
}

/* The account's balance: the sum of its open amounts (§3). */
int64_t acct_balance(const struct acct *a);
/* Total money of the account still unapplied (credit_balance, §7). */
int64_t acct_credit_balance(const struct acct *a);
/* The index of the invoice with event seq in a->inv, -1 when none. */
long acct_invoice_find(const struct acct *a, int64_t seq);
/* Inserts iv in invoice order (due, issued, arrival); returns its index. */
size_t acct_invoice_insert(struct acct *a, const struct acct_invoice *iv);
/*
 * Moves the settled invoices of inv without unresolved disputes to set
 * (in invoice order), keeping the last ACCT_SETTLED_KEEP.  Called after
 * each event; indexes into inv change.
 */
void acct_compact(struct acct *a);
/*
 * Takes invoice seq out of set back into inv (open 0) and returns its
 * index; -1 when set has no such invoice (it may have been dropped).
 */
long acct_settled_reopen(struct acct *a, int64_t seq);
/* Appends a promise; returns its index. */
size_t acct_promise_add(struct acct *a, const struct acct_promise *pr);
/*
 * Resizes a's alert_last, tasks and emitted to these counts, keeping
 * what fits of each; new entries are zero.
 */
void acct_arrays(
    struct acct *a, uint32_t nalerts, uint32_t ntasks, uint32_t nemitted);
/* The allocation behind them (what acct_arrays() frees), or NULL. */
void *acct_arrays_block(const struct acct *a);
void acct_task_add(struct acct *a, const struct acct_task *t);
/* Removes open task num; false when it is not open. */
bool acct_task_remove(struct acct *a, int64_t num);

/* A new empty account: stage 0, risk unset, nothing owed. */
struct acct *acct_new(const char *id);
/* a's outcomes and credit, allocated when a has none yet. */
struct acct_extra *acct_extra(struct acct *a);
void acct_free(struct acct *a);
/*
 * Frees everything a holds but its id, its scheduling fields and the
 * step's bookkeeping (saved, bsaved, stale).
 */
void acct_clear(struct acct *a);

/*
 * The saved form of everything a holds but its id, its stage's index
 * and the scheduling fields, appended to out, in two parts one after
 * the other: what events change (owed, promised, outcomes, credit,
 * contacts; it begins with the version byte), then what evaluation
 * changes (stage entry, cadence, held credit, steps' and alerts' tasks,
 * open tasks).  Returns the first part's length: the store keeps the
 * parts apart, so that an evaluation rewrites only the second.
 *
 * acct_decode_parts() replaces a's state by the decoded one (a's id and
 * scheduling fields stay), from the two parts (eval NULL: ev holds both,
 * as acct_encode() wrote them) or from a state saved whole by a version
 * before 5 (eval NULL).  -1 when the bytes are not a saved state; 1 when
 * they are one of a version before 4, which lacks the contact roles,
 * cash-in day, held credit and each open task's step, type and window
 * date (left zero, steps -1): the caller completes them from the store.
 * acct_decode() reads one blob.
 */
struct buf;
size_t acct_encode(const struct acct *a, struct buf *out);
int acct_decode_parts(struct acct *a, const void *ev, size_t evlen,
    const void *eval, size_t evallen);
int acct_decode(struct acct *a, const void *data, size_t len);

#endif
