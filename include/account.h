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
 * One invoice.  open = amount − every application to it (payments,
 * credits, upheld amounts); settled when open == 0, and settle_day is
 * then the local date of the latest `at` among its applications.
 * disputed is the sum of its unresolved disputes, NOT clamped: the
 * disputed open amount of §3 is min(disputed, open).
 */
struct acct_invoice {
	char *id;
	int64_t amount;
	int64_t open;
	int64_t disputed;
	int64_t arrival;
	int64_t last_applied; /* latest `at` among applications, 0 none */
	int32_t issued, due;
	int32_t settle_day; /* local date of last_applied; valid if open==0 */
};

enum acct_verdict {
	ACCT_PENDING,
	ACCT_KEPT,
	ACCT_BROKEN,
};

/* One promise to pay (§3.1). */
struct acct_promise {
	char *id;
	int64_t amount;
	int64_t counted; /* money counted towards it so far */
	int64_t at;
	int64_t
	    break_at; /* end of its due day (next local midnight) + promise_grace */
	int64_t verdict_at; /* valid unless pending */
	int64_t arrival;
	int32_t due;
	enum acct_verdict verdict;
};

/* An outcome after the account's last "other" outcome (§3 unreached). */
struct acct_outcome {
	int64_t at;
	int64_t arrival;
};

struct acct {
	char *id;
	int size; /* enum rules_size */
	int risk; /* 0-4 = A-E, -1 unset */
	char **tags;
	size_t ntags;

	/* Every invoice, kept sorted in invoice order: due, issued, arrival. */
	struct acct_invoice *inv;
	size_t ninv, capinv;

	/* Promises in arrival order. */
	struct acct_promise *prom;
	size_t nprom, capprom;

	/*
	 * Outcomes, ordered by (at, arrival): the last outcome that was not
	 * no_answer/wrong_contact (has_other), and the unreached ones after
	 * it.  unreached == ntail.
	 */
	bool has_other;
	struct acct_outcome last_other;
	struct acct_outcome *tail;
	size_t ntail, captail;

	size_t stage;          /* index in the ruleset */
	int64_t stage_entered; /* the instant the current stage was entered */
};

#endif
