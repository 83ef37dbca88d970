#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "idmap.h"

#define N 5000

/* Inserts, deletes every third, and checks against a plain array. */
static void
test_against_reference(void **state)
{
	static char keys[N][16];
	static char other[16];
	struct idmap m;
	size_t i, pos = 0, seen = 0;
	void *v;

	(void)state;
	idmap_init(&m, 0);
	assert_null(idmap_get(&m, "x"));
	assert_null(idmap_del(&m, "x"));
	for (i = 0; i < N; i++) {
		snprintf(keys[i], sizeof(keys[i]), "C-%zu", i * 7919 % 100003);
		assert_null(idmap_put(&m, keys[i]));
	}
	assert_int_equal(m.n, N);
	for (i = 0; i < N; i += 3)
		assert_ptr_equal(idmap_del(&m, keys[i]), &keys[i]);
	for (i = 0; i < N; i++) {
		v = idmap_get(&m, keys[i]);
		if (i % 3 == 0)
			assert_null(v);
		else
			assert_ptr_equal(v, &keys[i]);
	}
	while ((v = idmap_next(&m, &pos)) != NULL) {
		i = (size_t)((char(*)[16])v - keys);
		assert_true(i < N && i % 3 != 0);
		seen++;
	}
	assert_int_equal(seen, m.n);
	/* Replacing a value by one with the same id keeps the count. */
	memcpy(other, keys[1], sizeof(other));
	assert_ptr_equal(idmap_put(&m, other), keys[1]);
	assert_ptr_equal(idmap_get(&m, keys[1]), other);
	assert_int_equal(seen, m.n);
	/* Reserving keeps every value reachable. */
	idmap_reserve(&m, 10 * N);
	assert_true(m.cap * 3 >= 10 * N * 4);
	assert_ptr_equal(idmap_get(&m, keys[2]), keys[2]);
	assert_int_equal(seen, m.n);
	idmap_fini(&m);
}

/* Deleting inside wrapped clusters keeps every other key reachable. */
static void
test_delete_in_clusters(void **state)
{
	char keys[64][16];
	struct idmap m;
	int i, j;

	(void)state;
	for (j = 0; j < 64; j++) {
		idmap_init(&m, 0);
		for (i = 0; i < 12; i++) {
			snprintf(keys[i], sizeof(keys[i]), "k%d", i);
			idmap_put(&m, keys[i]);
		}
		assert_non_null(idmap_del(&m, keys[j % 12]));
		for (i = 0; i < 12; i++)
			if (i != j % 12)
				assert_ptr_equal(
				    idmap_get(&m, keys[i]), keys[i]);
		idmap_fini(&m);
	}
}

/*
 * idmap_add (a new id, no comparison), through growth, mixed with puts
 * and deletes: every value reachable, counted once; clear empties the
 * map and keeps its table.
 */
static void
test_add_and_clear(void **state)
{
	static char keys[N][16];
	struct idmap m;
	size_t i, cap;

	(void)state;
	idmap_init(&m, 0);
	for (i = 0; i < N; i++) {
		snprintf(keys[i], sizeof(keys[i]), "A-%zu", i * 31 % 100019);
		if (i % 2)
			idmap_add(&m, keys[i]);
		else
			assert_null(idmap_put(&m, keys[i]));
		if (i % 7 == 6)
			assert_ptr_equal(
			    idmap_del(&m, keys[i - 3]), keys[i - 3]);
	}
	for (i = 0; i < N; i++)
		assert_ptr_equal(idmap_get(&m, keys[i]),
		    i % 7 == 3 && i + 3 < N ? NULL : (void *)keys[i]);
	assert_int_equal(m.n, N - N / 7);
	cap = m.cap;
	idmap_clear(&m);
	assert_int_equal(m.n, 0);
	assert_int_equal(m.cap, cap);
	assert_null(idmap_get(&m, keys[1]));
	idmap_add(&m, keys[1]);
	assert_ptr_equal(idmap_get(&m, keys[1]), keys[1]);
	idmap_fini(&m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_against_reference),
		cmocka_unit_test(test_delete_in_clusters),
		cmocka_unit_test(test_add_and_clear),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
