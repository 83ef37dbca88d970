/*
 * hash — BLAKE2b-128 through libsodium (crypto_generichash, no key).
 *
 * sodium_init() picks the fastest BLAKE2b for this CPU; it is called
 * once, before the first digest, from whichever thread comes first.
 */
#include "hash.h"

#include <pthread.h>
#include <stdlib.h>

#include "log.h"

static pthread_once_t once = PTHREAD_ONCE_INIT;

static void
init_once(void)
{
	if (sodium_init() < 0) {
		log_warnx("libsodium cannot be initialised");
		abort();
	}
}

void
hash_init(struct hash128 *h)
{
	pthread_once(&once, init_once);
	crypto_generichash_init(&h->st, NULL, 0, HASH_LEN);
}

void
hash_update(struct hash128 *h, const void *data, size_t len)
{
	crypto_generichash_update(&h->st, data, len);
}

void
hash_final(struct hash128 *h, uint8_t out[HASH_LEN])
{
	crypto_generichash_final(&h->st, out, HASH_LEN);
}

void
hash_bytes(const void *data, size_t len, uint8_t out[HASH_LEN])
{
	pthread_once(&once, init_once);
	crypto_generichash(out, HASH_LEN, data, len, NULL, 0);
}

void
hash_hex(const uint8_t digest[HASH_LEN], char out[HASH_HEX_LEN])
{
	sodium_bin2hex(out, HASH_HEX_LEN, digest, HASH_LEN);
}
