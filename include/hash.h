/*
 * hash — a 128-bit cryptographic content digest: BLAKE2b with a 16-byte
 * output (libsodium's crypto_generichash).
 *
 * Used where the contract asks for a content digest: event idempotency
 * (§2.2 step 7, "a >= 128-bit digest of the canonical form") and
 * rules_version (§4.7).  Incremental: feed bytes in any pieces.  A
 * crafted pair of different contents with one digest would pass a
 * changed event as a duplicate; BLAKE2b has no known collision attack,
 * unlike the MurmurHash3 that served before (schema version 5).
 */
#ifndef DUNND_HASH_H
#define DUNND_HASH_H

#include <stddef.h>
#include <stdint.h>

#include <sodium.h>

#define HASH_LEN     16 /* bytes of a digest */
#define HASH_HEX_LEN 33 /* 32 hex digits and NUL */

struct hash128 {
	crypto_generichash_state st;
};

void hash_init(struct hash128 *h);
void hash_update(struct hash128 *h, const void *data, size_t len);
/* Finishes h into HASH_LEN bytes. */
void hash_final(struct hash128 *h, uint8_t out[HASH_LEN] /* OUT */);
/* One-shot digest. */
void hash_bytes(const void *data, size_t len, uint8_t out[HASH_LEN] /* OUT */);
/* HASH_LEN bytes as 32 lower-case hex digits. */
void hash_hex(const uint8_t digest[HASH_LEN], char out[HASH_HEX_LEN] /* OUT */);

#endif
