#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "hash.h"

/*
 * Reference values of unkeyed BLAKE2b with a 16-byte output (RFC 7693;
 * Python: hashlib.blake2b(data, digest_size=16).hexdigest()).
 */
static void
test_known_vectors(void **state)
{
	uint8_t d[16];
	char hex[HASH_HEX_LEN];

	(void)state;
	hash_bytes("", 0, d);
	hash_hex(d, hex);
	assert_string_equal(hex, "cae66941d9efbd404e4d88758ea67670");
	hash_bytes("hello", 5, d);
	hash_hex(d, hex);
	assert_string_equal(hex, "46fb7408d4f285228f4af516ea25851b");
	hash_bytes("The quick brown fox jumps over the lazy dog", 43, d);
	hash_hex(d, hex);
	assert_string_equal(hex, "249df9a49f517ddcd37f5c897620ec73");
}

/* Feeding the same bytes in any pieces gives the same digest. */
static void
test_incremental_equals_oneshot(void **state)
{
	const char *s = "0123456789abcdefghijklmnopqrstuvwxyz-ABCDEFGHIJKLMNOP";
	size_t len = strlen(s), cut1, cut2;
	uint8_t want[16], got[16];
	struct hash128 h;

	(void)state;
	hash_bytes(s, len, want);
	for (cut1 = 0; cut1 <= len; cut1++) {
		for (cut2 = cut1; cut2 <= len; cut2 += 7) {
			hash_init(&h);
			hash_update(&h, s, cut1);
			hash_update(&h, s + cut1, cut2 - cut1);
			hash_update(&h, s + cut2, len - cut2);
			hash_final(&h, got);
			assert_memory_equal(want, got, 16);
		}
	}
}

static void
test_differs_on_one_bit(void **state)
{
	uint8_t a[16], b[16];

	(void)state;
	hash_bytes("amount:100", 10, a);
	hash_bytes("amount:101", 10, b);
	assert_memory_not_equal(a, b, 16);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_known_vectors),
		cmocka_unit_test(test_incremental_equals_oneshot),
		cmocka_unit_test(test_differs_on_one_bit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
