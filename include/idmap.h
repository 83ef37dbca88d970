/*
 * idmap — a hash set of values that carry their own id string (§1: 1-64
 * chars) at a fixed offset, looked up by id: open addressing with linear
 * probing, one pointer per slot (a million accounts live in it,
 * targets.md P5).  Values are borrowed: the caller keeps each alive, and
 * its id unchanged, as long as it is in the map.
 */
#ifndef DUNND_IDMAP_H
#define DUNND_IDMAP_H

#include <stddef.h>
#include <stdint.h>

struct idmap {
	void **slots;
	size_t cap; /* a power of two, or 0 */
	size_t n;
	size_t key_off; /* a value's id is the string at value + key_off */
};

/* An empty map of values whose id is at key_off (offsetof). */
void idmap_init(struct idmap *m, size_t key_off);
/* Frees the table, not the values. */
void idmap_fini(struct idmap *m);
/* Empties the map, keeping its table (not the values). */
void idmap_clear(struct idmap *m);
/* Makes room for n values without growing again. */
void idmap_reserve(struct idmap *m, size_t n);
/* The value with id key, or NULL. */
void *idmap_get(const struct idmap *m, const char *key);
/* Adds val, replacing (and returning) a value with the same id. */
void *idmap_put(struct idmap *m, void *val);
/*
 * Adds val, whose id no value in m has (the caller knows: a start's
 * rows have unique ids, a new account was looked up first): no id is
 * compared.
 */
void idmap_add(struct idmap *m, void *val);
/* Removes the value with id key; returns it, or NULL when absent. */
void *idmap_del(struct idmap *m, const char *key);
/*
 * Iteration: *pos starts at 0; returns the next value, or NULL at the
 * end.  The map must not change meanwhile.
 */
void *idmap_next(const struct idmap *m, size_t *pos);

#endif
