/*
 * idmap — a hash table from id strings (§1: 1-64 chars) to pointers,
 * open addressing with linear probing.  Keys are borrowed: the caller
 * keeps each key alive as long as it is in the map (typically the id
 * string inside the value).
 */
#ifndef DUNND_IDMAP_H
#define DUNND_IDMAP_H

#include <stddef.h>
#include <stdint.h>

struct idmap_slot {
	const char *key;
	void *val;
	uint64_t hash;
};

struct idmap {
	struct idmap_slot *slots;
	size_t cap; /* a power of two, or 0 */
	size_t n;
};

void idmap_init(struct idmap *m);
/* Frees the table, not the keys or values. */
void idmap_fini(struct idmap *m);
/* The value of key, or NULL. */
void *idmap_get(const struct idmap *m, const char *key);
/* Sets key to val (replacing any value); key must stay alive. */
void idmap_put(struct idmap *m, const char *key, void *val);
/* Removes key; returns its value, or NULL when absent. */
void *idmap_del(struct idmap *m, const char *key);
/*
 * Iteration: *pos starts at 0; returns the next slot's value (and key
 * in *key) or NULL at the end.  The map must not change meanwhile.
 */
void *idmap_next(const struct idmap *m, size_t *pos, const char **key);

#endif
