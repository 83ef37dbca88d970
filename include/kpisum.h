/*
 * kpisum — report kpi's daily totals (kpi.h, table kpi_days) summed in
 * memory while a batch is ingested and written once per key when it
 * is kept, instead of one upsert per invoice and application.  A bulk
 * file of 100,000 events touches a few thousand keys (currency,
 * effective day, due day); the per-line upserts were a tenth of
 * ingest's time.
 */
#ifndef DUNND_KPISUM_H
#define DUNND_KPISUM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct store;

struct kpisum_slot {
	int64_t invoiced, applied;
	int32_t eff, due;
	char currency[4];
	bool used;
};

struct kpisum {
	struct kpisum_slot *v; /* open addressing, cap a power of two */
	size_t n, cap;
};

/* Adds to the totals of (currency, eff, due); currency is ISO 4217. */
void kpisum_add(struct kpisum *ks, const char *currency, int32_t eff,
    int32_t due, int64_t invoiced, int64_t applied);
/*
 * Adds every total to the store's kpi_days (kpi_note()) in the caller's
 * transaction, then empties ks.  -1 on a database error (ks is emptied
 * all the same: the transaction is not kept).
 */
int kpisum_flush(struct kpisum *ks, struct store *s);
/* Forgets the totals (a batch not kept). */
void kpisum_clear(struct kpisum *ks);
void kpisum_fini(struct kpisum *ks);

#endif
