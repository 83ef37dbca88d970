/*
 * engine — the portfolio in memory and the processing steps that change
 * it (§4.3): a batch (ingest), a due moment, the daily sweep, a reload.
 *
 * Each processing step has one now and one transaction.  Accounts are
 * changed only between engine_step_begin() and engine_step_end(); every
 * change is preceded by engine_touch(), which keeps the account's state
 * before the step, so a step that does not commit (a refused batch, a
 * failed COMMIT) is undone in memory as it is on disk.
 */
#ifndef DUNND_ENGINE_H
#define DUNND_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "account.h"
#include "facts.h"
#include "idmap.h"
#include "kpisum.h"
#include "ledger.h"
#include "util.h"

struct ruleset;
struct store;

/* One account's state before the step (NULL state: created in it). */
/* The changed accounts of a busy moment's part (engine.c run_bulk()). */
#define ENGINE_CHUNK 2048

struct engine_undo {
	struct acct *a;
	struct buf state; /* acct_encode() */
	size_t evlen;     /* its first part's length */
	bool created;
};

/* An account saved in a stage that the rule set lacks. */
struct lost_stage {
	char *name;
	char id[];
};

struct engine {
	struct store *store;
	const struct ruleset *rs; /* borrowed: the live rule set */
	struct facts_params fp;
	struct facts_out fo;
	struct facts_out fo_wake; /* eval_next_wake()'s */
	/*
	 * Wake at every fact change (eval_next_due()) instead of
	 * eval_next_wake(): the reference the tests compare against.
	 */
	bool wake_every_change;
	uint64_t nevals; /* evaluations made (eval_account()) */
	/*
	 * A busy moment committed in parts of chunk changed accounts
	 * (ENGINE_CHUNK; 0: in one step): the moment in progress (bulk_t,
	 * INT64_MAX none) and where in the id-ordered array it goes on.
	 */
	size_t chunk;
	int64_t bulk_t;
	size_t bulk_pos;
	/*
	 * The busy moment whose parts the store holds but not its last
	 * (meta moment_open; 0 none): a start runs from it (engine_start_pos()).
	 */
	int64_t open_moment;
	/*
	 * The contacts list of the account being evaluated (contacts_of,
	 * else NULL), as stored, once read (contacts_ok): eval.c.
	 */
	const struct acct *contacts_of;
	bool contacts_ok;
	struct buf contacts;
	bool wall; /* wall clock (not --test-clock) */
	/*
	 * §4.9: the end of the start's catch-up under the wall clock while
	 * it runs (a task's window never ends before it), else 0.
	 */
	int64_t catchup_end;
	int sweep_min;

	struct idmap accounts; /* accounts.n: how many there are */
	struct acct **sorted;  /* by id; rebuilt when !sorted_ok */
	bool sorted_ok;

	/* Accounts by (due_at, id): the due moments (style.md §6). */
	struct acct **heap;
	size_t nheap, capheap;

	int64_t event_seq; /* the last event seq used */
	int64_t task_num;  /* the last task number used */
	int64_t feed_head; /* the last feed seq used */
	int64_t clock_pos; /* every moment <= clock_pos is processed */
	int64_t next_sweep;

	/* The processing step. */
	bool in_step;
	bool failed; /* a statement failed: the step cannot commit */
	int64_t now;
	int32_t today;
	/* Each account the step touched, once, with its copy: saved at
	 * the step's end (engine_step_end()). */
	struct engine_undo *undo;
	size_t nundo, capundo;
	int64_t undo_event_seq, undo_task_num, undo_feed_head;
	/* The batch in progress inside the step (group commit). */
	bool in_batch;
	struct engine_undo *bundo;
	size_t nbundo, capbundo;
	int64_t bundo_event_seq, bundo_task_num, bundo_feed_head;
	struct buf scratch;
	struct buf rec; /* the feed record being written (engine_feed_begin) */
	/* report kpi's daily totals of the batch, written when it is kept */
	struct kpisum kpi;
	/* the money histories the batch read, written when it is kept */
	struct ledgers ledgers;
	/*
	 * §4.5: approval tasks first approved by the batch in progress, in
	 * line order; its evaluation emits what they gate.
	 */
	struct engine_approved {
		struct acct *a;
		int64_t num;
	} * approved;
	size_t napproved, capapproved;
	/*
	 * Called between two moments of engine_run_until(); true stops it
	 * there (a stop was asked for).  NULL: never stops.
	 */
	bool (*yield)(void *arg);
	void *yield_arg;
	/* Called after each commit that moved the feed head (followers). */
	void (*committed)(void *arg);
	void *committed_arg;
	/*
	 * Loaded accounts whose stage the rule set lacks (rules changed
	 * while dunnd was stopped): their stage is ACCT_NO_STAGE until the
	 * start's reload moves them: lost holds their old stage names
	 * (struct lost_stage).
	 */
	struct idmap lost;
	bool *entered; /* nstages flags, eval's */
};

/*
 * Loads every account from the store and arms their due moments.
 * clock_pos is the stored clock position.  -1 on a database error or a
 * damaged saved state (logged).
 */
int engine_open(struct engine *e, struct store *s, const struct ruleset *rs,
    bool wall, int sweep_min, int64_t clock_pos);
void engine_close(struct engine *e);

/* Installs a rule set for the facts and evaluations that follow. */
void engine_set_rules(struct engine *e, const struct ruleset *rs);

/*
 * §4.7: swaps in nrs at now in one step: accounts in a stage nrs lacks
 * move to its first stage ("reload" transition, stage tasks cancelled),
 * alert cooldowns follow alert names, then every account is evaluated
 * in id order.  On success the engine uses nrs (the caller frees the
 * old set); on failure (-1) nothing changed and the old set stays.
 * old_alerts: the alert names the accounts' cooldowns are kept by.
 */
int engine_reload(struct engine *e, const struct ruleset *nrs, int64_t now,
    const char *const *old_alerts, size_t nold_alerts);

struct acct *engine_get(struct engine *e, const char *id);
/* A new account (engine_get() found none of id), created in the step. */
struct acct *engine_add(struct engine *e, const char *id);
/* The accounts in byte order of id. */
struct acct *const *engine_sorted(struct engine *e, size_t *n /* OUT */);

/* Starts a processing step at now (begins the transaction). */
int engine_step_begin(struct engine *e, int64_t now);
/* Marks a as changed in this step, keeping its state before it. */
void engine_touch(struct engine *e, struct acct *a);
/*
 * Ends the step: with commit, saves the changed accounts and the clock
 * position and commits; without, or when the commit fails, rolls back
 * the transaction and every touched account.  Returns 0 committed, -1
 * rolled back.  Either way the due moments of touched accounts are
 * armed again.
 */
int engine_step_end(struct engine *e, bool commit);

/*
 * Appends rec to the feed in the step's transaction: sets its "seq"
 * (gapless, the next after the head) and returns it; takes the
 * reference.  A failure marks the step failed and returns -1.
 */
int64_t engine_feed_append(struct engine *e, json_t *rec);

/*
 * The same without a tree: engine_feed_begin() starts the record with
 * its "seq" member and returns the buffer its other members are written
 * into (proto_w_*(), protocol.h); engine_feed_end() closes and appends
 * it, as engine_feed_append().  One record at a time.
 */
struct buf *engine_feed_begin(struct engine *e);
int64_t engine_feed_end(struct engine *e);

/*
 * A batch inside the step (§2.4 group commit): its own savepoint and
 * undo, so it can be refused alone while earlier batches of the step
 * stay.  engine_batch_end(e, false) undoes the batch, in memory and on
 * disk; -1 when that was not possible (the step has failed).  The
 * accounts the batch touched, in order of first touch, are
 * e->bundo[0 .. nbundo) until engine_batch_end().
 */
int engine_batch_begin(struct engine *e);
/* Notes that the batch in progress approves approval task num of a. */
void engine_approved_add(struct engine *e, struct acct *a, int64_t num);
int engine_batch_end(struct engine *e, bool keep);

/* Recomputes a's next due moment (§4.3) after it was evaluated. */
void engine_reschedule(struct engine *e, struct acct *a);
/* The earliest pending due moment (the sweep included). */
/*
 * The stored clock position a start runs from: the clock position, or a
 * busy moment the store holds some parts of (the clock position is just
 * before it then): its other accounts are due at it, and the clock, a
 * start's reload and its first batch are not before it.
 */
int64_t engine_start_pos(const struct engine *e);
int64_t engine_next_due(struct engine *e);
/*
 * Processes every due moment <= until in time order (§4.3), each in its
 * own step, then moves the clock position to until.  -1 when a step
 * failed to commit (the position stays before it); 1 when yield asked
 * to stop (the position is the last moment processed).
 */
int engine_run_until(struct engine *e, int64_t until);

#endif
