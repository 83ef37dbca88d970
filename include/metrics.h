/*
 * metrics — dunnd's state as a Prometheus text exposition (format
 * 0.0.4): the `metrics` command of §7 and §8.
 *
 * The counters and histograms since start live in a struct metrics that
 * the server owns and feeds (metrics_count_batch(), metrics_observe());
 * everything else is read when the text is made, from memory and from
 * indexed queries only, so a scrape costs no table scan.
 */
#ifndef DUNND_METRICS_H
#define DUNND_METRICS_H

#include <stdint.h>

struct server;

/* Upper bounds (seconds) of the latency buckets, +Inf aside. */
#define METRICS_NBUCKETS 14

struct metrics_hist {
	int64_t bucket[METRICS_NBUCKETS + 1]; /* per bucket, last: +Inf */
	int64_t count;
	int64_t sum_ns;
};

struct metrics {
	int64_t
	    events[4]; /* lines by status: ok, duplicate, error, rolled_back */
	int64_t batches;            /* ingest batches processed */
	struct metrics_hist commit; /* COMMIT of a group of batches */
	struct metrics_hist
	    eval; /* a group's validation, application and evaluation */
};

/* Records one latency of ns nanoseconds. */
void metrics_observe(struct metrics_hist *h, int64_t ns);
/* Counts one processed batch: its lines by status (ingest's order). */
void metrics_count_batch(struct metrics *m, const int64_t counts[4]);
/*
 * The exposition of srv's state, a new string the caller frees; NULL
 * when the store could not be read (logged).
 */
char *metrics_text(struct server *srv);

#endif
