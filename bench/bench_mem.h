/*
 * bench_mem.h — where the bytes of an in-memory portfolio go (targets.md
 * P5): each part of the accounts' state as glibc accounts it (usable
 * size + chunk header), and the engine's maps.  Used by bench_sweep (a
 * portfolio ingested in process) and bench_mem (a database loaded as
 * dunnd loads it).
 */
#ifndef DUNND_BENCH_MEM_H
#define DUNND_BENCH_MEM_H

#include <malloc.h>
#include <stdio.h>

#include "engine.h"

#define BENCH_MALLOC_HEADER 8 /* glibc chunk overhead per allocation */

enum bench_part {
	BP_ACCT,
	BP_TAGS,
	BP_INV,
	BP_SET,
	BP_PROM,
	BP_EXTRA,
	BP_ARRAYS,
	BP_ENGINE,
	BP_PARTS
};

struct bench_mem {
	size_t bytes[BP_PARTS];
	size_t allocs[BP_PARTS];
};

static inline void
bench_mem_count(struct bench_mem *m, enum bench_part p, const void *ptr)
{
	if (ptr == NULL)
		return;
	m->bytes[p] += malloc_usable_size((void *)ptr) + BENCH_MALLOC_HEADER;
	m->allocs[p]++;
}

/* Prints the parts of e's portfolio, per account; returns the total. */
static inline size_t
bench_mem_print(struct engine *e)
{
	static const char *name[BP_PARTS] = { "struct acct + id", "tags",
		"open invoices", "settled list", "promises", "outcomes, credit",
		"alerts, tasks, steps", "engine maps, heap" };
	struct bench_mem m = { { 0 }, { 0 } };
	struct acct *const *all;
	size_t n, i, k, total = 0;
	double dn;

	all = engine_sorted(e, &n);
	dn = n ? (double)n : 1;
	for (i = 0; i < n; i++) {
		const struct acct *a = all[i];

		bench_mem_count(&m, BP_ACCT, a);
		bench_mem_count(&m, BP_TAGS, a->tags);
		for (k = 0; k < a->ntags; k++)
			bench_mem_count(&m, BP_TAGS, a->tags[k]);
		bench_mem_count(&m, BP_INV, a->inv);
		bench_mem_count(&m, BP_SET, a->set);
		bench_mem_count(&m, BP_PROM, a->prom);
		bench_mem_count(&m, BP_EXTRA, a->x);
		if (a->x != NULL) {
			bench_mem_count(&m, BP_EXTRA, a->x->tail);
			bench_mem_count(&m, BP_EXTRA, a->x->cred);
			for (k = 0; k < a->x->ncred; k++)
				bench_mem_count(
				    &m, BP_EXTRA, a->x->cred[k].money);
		}
		bench_mem_count(&m, BP_ARRAYS, acct_arrays_block(a));
	}
	bench_mem_count(&m, BP_ENGINE, e->accounts.slots);
	bench_mem_count(&m, BP_ENGINE, e->heap);
	bench_mem_count(&m, BP_ENGINE, e->sorted);
	bench_mem_count(&m, BP_ENGINE, e->undo);
	printf("  %-18s %12s %10s %8s\n", "P5 part", "bytes", "B/account",
	    "allocs");
	for (i = 0; i < BP_PARTS; i++) {
		total += m.bytes[i];
		printf("  %-18s %12zu %10.1f %8.2f\n", name[i], m.bytes[i],
		    (double)m.bytes[i] / dn, (double)m.allocs[i] / dn);
	}
	printf(
	    "  %-18s %12zu %10.1f\n", "portfolio", total, (double)total / dn);
	return total;
}

#endif
