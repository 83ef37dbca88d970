/*
 * pushq — dunnd-push's queue of feed records: filtering (kinds, types)
 * and the forming of batches.  No I/O: push.c feeds it the records read
 * from `feed --follow` and sends what it forms.
 *
 * Invariants:
 * (1) The queue holds a gapless run of seqs starting at the consumer's
 *     cursor + 1; a record leaves it only through pushq_drop() of a
 *     range that was acknowledged (after a 2xx or a dead letter).
 * (2) A batch is a prefix of the queue: FIRST is the first queued seq,
 *     LAST the seq of its last record, filtered-out records inside the
 *     range included; its body holds the wanted records in seq order.
 * (3) A record whose task type is not yet known (a cancel or done of a
 *     task emitted before we started reading, under `types`) ends every
 *     batch before it until pushq_resolve() says whether it is wanted.
 */
#ifndef DUNND_PUSHQ_H
#define DUNND_PUSHQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "idmap.h"
#include "util.h"

struct pushconf;

struct pushq_rec {
	int64_t seq;
	char *text; /* the line as dunnd sent it, NUL-ended */
	size_t len;
	int wanted;         /* 1 delivered, 0 filtered out, -1 not yet known */
	int64_t arrived_ms; /* monotonic, for linger */
	char *task;         /* wanted == -1: the task to look up, */
	char *account;      /* and its account */
};

struct pushq {
	const struct pushconf *conf;
	struct pushq_rec *v; /* records v[head, tail) */
	size_t head, tail, cap;
	size_t bytes;            /* text bytes held */
	int64_t next_seq;        /* the seq the next record must have; 0 any */
	struct idmap open_tasks; /* open tasks seen: id -> wanted (types) */
};

/* A formed batch: a view of the queue's prefix until pushq_drop(). */
struct pushq_batch {
	int64_t first, last;
	size_t nrecs;    /* records in [first, last] */
	size_t nwanted;  /* of them in the body */
	struct buf body; /* "[rec,rec,...]" */
	char key[48];    /* "FIRST-LAST" */
};

void pushq_init(struct pushq *q, const struct pushconf *conf);
void pushq_fini(struct pushq *q);

/*
 * Appends one feed line (a §5 record as `feed --json` prints it).
 * Returns 0 when its filtering is settled, 1 when the type of the task
 * it cancels or closes must be asked of dunnd (*task and *account are
 * then views valid until the record leaves), -1 with why set when the
 * line is not a record or breaks the seq order (the caller reconnects).
 */
int pushq_add(struct pushq *q, const char *line, size_t len, int64_t now_ms,
    const char **task /* OUT */, const char **account /* OUT */, char *why,
    size_t whylen);

/*
 * Settles the oldest record still waiting (invariant (3)) with the
 * type dunnd gave for its task; NULL when dunnd did not know the task
 * (then it is delivered: better twice than never).
 */
void pushq_resolve(struct pushq *q, const char *type);

enum pushq_form {
	PUSHQ_NONE,  /* nothing to send yet (see *wake_ms) */
	PUSHQ_BATCH, /* b holds a batch to POST */
	PUSHQ_SKIP,  /* b covers only filtered-out records: ack b->last */
};

/*
 * Forms the next batch at now_ms: batch_max wanted records at once, a
 * partial batch (or a filtered-out range) once the oldest record has
 * waited `linger`.  With PUSHQ_NONE, *wake_ms is when to try again
 * (-1: when more records come).  b must be pushq_batch_init()ed.
 */
enum pushq_form pushq_form(struct pushq *q, int64_t now_ms,
    struct pushq_batch *b /* OUT */, int64_t *wake_ms /* OUT */);

/* Drops the records with seq <= last (an acknowledged range). */
void pushq_drop(struct pushq *q, int64_t last);
/* Drops every record (the feed is read again from the cursor). */
void pushq_clear(struct pushq *q);
/* Records held. */
size_t pushq_len(const struct pushq *q);

void pushq_batch_init(struct pushq_batch *b);
void pushq_batch_fini(struct pushq_batch *b);

#endif
