/*
 * kpisum — the daily totals of a batch, summed in memory (kpisum.h).
 *
 * A small open-addressing table keyed by (currency, eff, due), linear
 * probing; it doubles at half full and is emptied, not freed, between
 * batches.
 */
#include "kpisum.h"

#include <stdbool.h>
#include <string.h>

#include "kpi.h"
#include "util.h"

static size_t
slot_hash(const char *currency, int32_t eff, int32_t due)
{
	uint64_t h = 1469598103934665603ULL; /* FNV-1a over the key */
	const unsigned char *k[3] = { (const unsigned char *)currency,
		(const unsigned char *)&eff, (const unsigned char *)&due };
	const size_t len[3] = { 3, sizeof(eff), sizeof(due) };
	size_t i, j;

	for (i = 0; i < 3; i++)
		for (j = 0; j < len[i]; j++)
			h = (h ^ k[i][j]) * 1099511628211ULL;
	return (size_t)(h ^ (h >> 29));
}

static struct kpisum_slot *
slot_find(struct kpisum_slot *v, size_t cap, const char *currency, int32_t eff,
    int32_t due)
{
	size_t i = slot_hash(currency, eff, due) & (cap - 1);

	while (v[i].used &&
	    !(v[i].eff == eff && v[i].due == due &&
	        memcmp(v[i].currency, currency, 3) == 0))
		i = (i + 1) & (cap - 1);
	return &v[i];
}

static void
grow(struct kpisum *ks)
{
	size_t cap = ks->cap ? 2 * ks->cap : 256, i;
	struct kpisum_slot *v = xcalloc(cap, sizeof(*v)), *o;

	for (i = 0; i < ks->cap; i++) {
		if (!ks->v[i].used)
			continue;
		o = &ks->v[i];
		*slot_find(v, cap, o->currency, o->eff, o->due) = *o;
	}
	free(ks->v);
	ks->v = v;
	ks->cap = cap;
}

void
kpisum_add(struct kpisum *ks, const char *currency, int32_t eff, int32_t due,
    int64_t invoiced, int64_t applied)
{
	struct kpisum_slot *sl;

	if (2 * (ks->n + 1) > ks->cap)
		grow(ks);
	sl = slot_find(ks->v, ks->cap, currency, eff, due);
	if (!sl->used) {
		memset(sl, 0, sizeof(*sl));
		memcpy(sl->currency, currency, 3);
		sl->eff = eff;
		sl->due = due;
		sl->used = true;
		ks->n++;
	}
	sl->invoiced += invoiced;
	sl->applied += applied;
}

int
kpisum_flush(struct kpisum *ks, struct store *s)
{
	int rc = 0;
	size_t i;

	for (i = 0; i < ks->cap && ks->n > 0 && rc == 0; i++)
		if (ks->v[i].used &&
		    (ks->v[i].invoiced != 0 || ks->v[i].applied != 0))
			rc = kpi_note(s, ks->v[i].currency, ks->v[i].eff,
			    ks->v[i].due, ks->v[i].invoiced, ks->v[i].applied);
	kpisum_clear(ks);
	return rc;
}

void
kpisum_clear(struct kpisum *ks)
{
	if (ks->n > 0)
		memset(ks->v, 0, ks->cap * sizeof(*ks->v));
	ks->n = 0;
}

void
kpisum_fini(struct kpisum *ks)
{
	free(ks->v);
	memset(ks, 0, sizeof(*ks));
}
