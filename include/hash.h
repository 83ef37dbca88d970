/*
 * hash — a 128-bit non-cryptographic digest (MurmurHash3 x64_128).
 *
 * Used where the contract asks for a content digest: event idempotency
 * (§2.2 step 7, "a >= 128-bit digest of the canonical form") and
 * rules_version (§4.7).  Incremental: feed bytes in any pieces.
 */
#ifndef DUNND_HASH_H
#define DUNND_HASH_H

#include <stddef.h>
#include <stdint.h>

#define HASH_HEX_LEN 33 /* 32 hex digits and NUL */

struct hash128 {
	uint64_t h1, h2;
	uint8_t tail[16];
	size_t ntail;
	uint64_t total;
};

void hash_init(struct hash128 *h);
void hash_update(struct hash128 *h, const void *data, size_t len);
/* Finishes h into 16 bytes (h1 then h2, big-endian). */
void hash_final(struct hash128 *h, uint8_t out[16] /* OUT */);
/* One-shot digest. */
void hash_bytes(const void *data, size_t len, uint8_t out[16] /* OUT */);
/* 16 bytes as 32 lower-case hex digits. */
void hash_hex(const uint8_t digest[16], char out[HASH_HEX_LEN] /* OUT */);

#endif
