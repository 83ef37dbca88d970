/*
 * idmap — string-keyed open-addressing hash table.
 *
 * Invariants: (1) cap is 0 or a power of two and n <= cap * 3 / 4;
 * (2) deletion backward-shifts the cluster, so there are no tombstones
 * and a probe stops at the first empty slot.
 */
#include "idmap.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

/* FNV-1a, 64 bit: ids are short, and this is all a probe needs. */
static uint64_t
hash_key(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (; *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ULL;
	}
	return h ^ (h >> 29);
}

void
idmap_init(struct idmap *m)
{
	memset(m, 0, sizeof(*m));
}

void
idmap_fini(struct idmap *m)
{
	free(m->slots);
	memset(m, 0, sizeof(*m));
}

static struct idmap_slot *
find(const struct idmap *m, const char *key, uint64_t h)
{
	size_t mask, i;
	struct idmap_slot *s;

	if (m->cap == 0)
		return NULL;
	mask = m->cap - 1;
	for (i = h & mask;; i = (i + 1) & mask) {
		s = &m->slots[i];
		if (s->key == NULL)
			return NULL;
		if (s->hash == h && strcmp(s->key, key) == 0)
			return s;
	}
}

void *
idmap_get(const struct idmap *m, const char *key)
{
	struct idmap_slot *s = find(m, key, hash_key(key));

	return s ? s->val : NULL;
}

static void
insert(struct idmap *m, const char *key, void *val, uint64_t h)
{
	size_t mask = m->cap - 1, i;

	for (i = h & mask; m->slots[i].key != NULL; i = (i + 1) & mask)
		;
	m->slots[i].key = key;
	m->slots[i].val = val;
	m->slots[i].hash = h;
	m->n++;
}

static void
grow(struct idmap *m)
{
	struct idmap_slot *old = m->slots;
	size_t oldcap = m->cap, i;

	m->cap = m->cap ? m->cap * 2 : 16;
	m->slots = xcalloc(m->cap, sizeof(*m->slots));
	m->n = 0;
	for (i = 0; i < oldcap; i++)
		if (old[i].key != NULL)
			insert(m, old[i].key, old[i].val, old[i].hash);
	free(old);
}

void
idmap_put(struct idmap *m, const char *key, void *val)
{
	uint64_t h = hash_key(key);
	struct idmap_slot *s = find(m, key, h);

	if (s != NULL) {
		s->key = key;
		s->val = val;
		return;
	}
	if ((m->n + 1) * 4 > m->cap * 3) /* invariant (1) */
		grow(m);
	insert(m, key, val, h);
}

void *
idmap_del(struct idmap *m, const char *key)
{
	struct idmap_slot *s = find(m, key, hash_key(key));
	size_t mask, i, j, home;
	void *val;

	if (s == NULL)
		return NULL;
	val = s->val;
	mask = m->cap - 1;
	i = (size_t)(s - m->slots);
	/* Invariant (2): shift later members of the cluster back. */
	for (j = (i + 1) & mask; m->slots[j].key != NULL; j = (j + 1) & mask) {
		home = m->slots[j].hash & mask;
		/* Move j to i when i lies cyclically in [home, j). */
		if ((j > i && (home <= i || home > j)) ||
		    (j < i && (home <= i && home > j))) {
			m->slots[i] = m->slots[j];
			i = j;
		}
	}
	m->slots[i].key = NULL;
	m->slots[i].val = NULL;
	m->n--;
	return val;
}

void *
idmap_next(const struct idmap *m, size_t *pos, const char **key)
{
	for (; *pos < m->cap; (*pos)++)
		if (m->slots[*pos].key != NULL) {
			if (key != NULL)
				*key = m->slots[*pos].key;
			return m->slots[(*pos)++].val;
		}
	return NULL;
}
