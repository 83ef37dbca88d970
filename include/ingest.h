/*
 * ingest — one batch of events (§2.4): every line validated in order
 * (steps 1-7 by event, 8-10 here against the state the earlier accepted
 * lines left), applied (§2.3), the touched accounts evaluated, all in
 * one engine step that commits or leaves no trace.
 */
#ifndef DUNND_INGEST_H
#define DUNND_INGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct engine;

enum ingest_status {
	INGEST_OK,
	INGEST_DUPLICATE,
	INGEST_ERROR,
	INGEST_ROLLED_BACK,
	INGEST_NSTATUS
};

struct ingest_result {
	uint64_t line;
	enum ingest_status status;
	bool batch_dup; /* a duplicate of an earlier line of this batch */
	char *field;    /* errors only; NULL = a line error (JSON null) */
	char *error;    /* errors only */
	char *input;    /* errors only: the line as sent, without line end */
	size_t input_len;
};

struct ingest_batch {
	struct ingest_result *v;
	size_t n, cap;
	int64_t counts[INGEST_NSTATUS];
	bool committed;
	char cause[256]; /* why a batch with no error did not commit */
};

/*
 * Processes the batch data[0 .. len) at e's clock position (the caller
 * has processed every due moment up to now, and passes it).  Fills b;
 * ingest_batch_fini() frees it.  With skip_bad the good lines commit
 * whatever the bad ones; without, any error refuses the batch.
 */
void ingest_run(struct engine *e, int64_t now, const char *data, size_t len,
    bool skip_bad, struct ingest_batch *b /* OUT */);
void ingest_batch_fini(struct ingest_batch *b);

/*
 * The same in parts, for a group commit: ingest_batch() processes one
 * batch inside e's open step (its own savepoint: a refused batch leaves
 * no trace, the step goes on); b->committed then says whether it was
 * kept.  When the step's COMMIT fails, ingest_fail() marks every kept
 * batch of it.  ingest_finish() turns the lines of a batch that did not
 * commit into rolled_back and counts the statuses.
 */
void ingest_batch(struct engine *e, const char *data, size_t len, bool skip_bad,
    struct ingest_batch *b /* OUT */);
void ingest_fail(struct ingest_batch *b, const char *cause);
void ingest_finish(struct ingest_batch *b);

const char *ingest_status_name(enum ingest_status s);

#endif
