/*
 * idmap — an intrusive string-keyed open-addressing hash table.
 *
 * Invariants: (1) cap is 0 or a power of two and n <= cap * 3 / 4;
 * (2) deletion backward-shifts the cluster, so there are no tombstones
 * and a probe stops at the first empty slot.  Slots hold only the value
 * pointer: a probe reads the id from the value (no stored hash).
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

static const char *
key_of(const struct idmap *m, const void *val)
{
	return (const char *)val + m->key_off;
}

void
idmap_init(struct idmap *m, size_t key_off)
{
	memset(m, 0, sizeof(*m));
	m->key_off = key_off;
}

void
idmap_fini(struct idmap *m)
{
	free(m->slots);
	m->slots = NULL;
	m->cap = m->n = 0;
}

void
idmap_clear(struct idmap *m)
{
	if (m->slots != NULL)
		memset(m->slots, 0, m->cap * sizeof(*m->slots));
	m->n = 0;
}

/* The slot holding key, or the empty slot where it would go. */
static size_t
find(const struct idmap *m, const char *key)
{
	size_t mask = m->cap - 1, i;

	for (i = hash_key(key) & mask; m->slots[i] != NULL; i = (i + 1) & mask)
		if (strcmp(key_of(m, m->slots[i]), key) == 0)
			break;
	return i;
}

void *
idmap_get(const struct idmap *m, const char *key)
{
	return m->cap == 0 ? NULL : m->slots[find(m, key)];
}

/* The first empty slot of key's probe: for a key known to be absent. */
static size_t
find_empty(const struct idmap *m, const char *key)
{
	size_t mask = m->cap - 1, i;

	for (i = hash_key(key) & mask; m->slots[i] != NULL; i = (i + 1) & mask)
		;
	return i;
}

static void
resize(struct idmap *m, size_t cap)
{
	void **old = m->slots;
	size_t oldcap = m->cap, i;

	m->cap = cap;
	m->slots = xcalloc(m->cap, sizeof(*m->slots));
	for (i = 0; i < oldcap; i++)
		if (old[i] != NULL)
			m->slots[find_empty(m, key_of(m, old[i]))] = old[i];
	free(old);
}

void
idmap_reserve(struct idmap *m, size_t n)
{
	size_t cap = m->cap ? m->cap : 16;

	while (n * 4 > cap * 3) /* invariant (1) */
		cap *= 2;
	if (cap != m->cap)
		resize(m, cap);
}

void *
idmap_put(struct idmap *m, void *val)
{
	void *old;
	size_t i;

	idmap_reserve(m, m->n + 1);
	i = find(m, key_of(m, val));
	old = m->slots[i];
	m->slots[i] = val;
	if (old == NULL)
		m->n++;
	return old;
}

void
idmap_add(struct idmap *m, void *val)
{
	idmap_reserve(m, m->n + 1);
	m->slots[find_empty(m, key_of(m, val))] = val;
	m->n++;
}

void *
idmap_del(struct idmap *m, const char *key)
{
	size_t mask, i, j, home;
	void *val;

	if (m->cap == 0)
		return NULL;
	i = find(m, key);
	if ((val = m->slots[i]) == NULL)
		return NULL;
	mask = m->cap - 1;
	/* Invariant (2): shift later members of the cluster back. */
	for (j = (i + 1) & mask; m->slots[j] != NULL; j = (j + 1) & mask) {
		home = hash_key(key_of(m, m->slots[j])) & mask;
		/* Move j to i when i lies cyclically in [home, j). */
		if ((j > i && (home <= i || home > j)) ||
		    (j < i && (home <= i && home > j))) {
			m->slots[i] = m->slots[j];
			i = j;
		}
	}
	m->slots[i] = NULL;
	m->n--;
	return val;
}

void *
idmap_next(const struct idmap *m, size_t *pos)
{
	for (; *pos < m->cap; (*pos)++)
		if (m->slots[*pos] != NULL)
			return m->slots[(*pos)++];
	return NULL;
}
