/*
 * hash — MurmurHash3 x64_128 (Austin Appleby's public-domain design),
 * restated incrementally: 16-byte blocks are mixed as they arrive and
 * the tail is kept until hash_final().
 */
#include "hash.h"

#include <stdio.h>
#include <string.h>

#define C1 0x87c37b91114253d5ULL
#define C2 0x4cf5ad432745937fULL

static uint64_t
rotl(uint64_t x, int r)
{
	return (x << r) | (x >> (64 - r));
}

static uint64_t
fmix(uint64_t k)
{
	k ^= k >> 33;
	k *= 0xff51afd7ed558ccdULL;
	k ^= k >> 33;
	k *= 0xc4ceb9fe1a85ec53ULL;
	k ^= k >> 33;
	return k;
}

static uint64_t
load64(const uint8_t *p)
{
	uint64_t v = 0;
	int i;

	for (i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static void
block(struct hash128 *h, const uint8_t *p)
{
	uint64_t k1 = load64(p), k2 = load64(p + 8);

	k1 *= C1;
	k1 = rotl(k1, 31);
	k1 *= C2;
	h->h1 ^= k1;
	h->h1 = rotl(h->h1, 27);
	h->h1 += h->h2;
	h->h1 = h->h1 * 5 + 0x52dce729;
	k2 *= C2;
	k2 = rotl(k2, 33);
	k2 *= C1;
	h->h2 ^= k2;
	h->h2 = rotl(h->h2, 31);
	h->h2 += h->h1;
	h->h2 = h->h2 * 5 + 0x38495ab5;
}

void
hash_init(struct hash128 *h)
{
	memset(h, 0, sizeof(*h));
}

void
hash_update(struct hash128 *h, const void *data, size_t len)
{
	const uint8_t *p = data;
	size_t take;

	h->total += len;
	if (h->ntail > 0) {
		take = 16 - h->ntail;
		if (take > len)
			take = len;
		memcpy(h->tail + h->ntail, p, take);
		h->ntail += take;
		p += take;
		len -= take;
		if (h->ntail < 16)
			return;
		block(h, h->tail);
		h->ntail = 0;
	}
	for (; len >= 16; p += 16, len -= 16)
		block(h, p);
	memcpy(h->tail, p, len);
	h->ntail = len;
}

void
hash_final(struct hash128 *h, uint8_t out[16])
{
	uint64_t k1 = 0, k2 = 0, h1 = h->h1, h2 = h->h2;
	size_t i;

	for (i = h->ntail; i > 8; i--)
		k2 = (k2 << 8) | h->tail[i - 1];
	for (i = h->ntail < 8 ? h->ntail : 8; i > 0; i--)
		k1 = (k1 << 8) | h->tail[i - 1];
	if (h->ntail > 8) {
		k2 *= C2;
		k2 = rotl(k2, 33);
		k2 *= C1;
		h2 ^= k2;
	}
	if (h->ntail > 0) {
		k1 *= C1;
		k1 = rotl(k1, 31);
		k1 *= C2;
		h1 ^= k1;
	}
	h1 ^= h->total;
	h2 ^= h->total;
	h1 += h2;
	h2 += h1;
	h1 = fmix(h1);
	h2 = fmix(h2);
	h1 += h2;
	h2 += h1;
	for (i = 0; i < 8; i++) {
		out[i] = (uint8_t)(h1 >> (56 - 8 * i));
		out[8 + i] = (uint8_t)(h2 >> (56 - 8 * i));
	}
}

void
hash_bytes(const void *data, size_t len, uint8_t out[16])
{
	struct hash128 h;

	hash_init(&h);
	hash_update(&h, data, len);
	hash_final(&h, out);
}

void
hash_hex(const uint8_t digest[16], char out[HASH_HEX_LEN])
{
	static const char hex[] = "0123456789abcdef";
	int i;

	for (i = 0; i < 16; i++) {
		out[2 * i] = hex[digest[i] >> 4];
		out[2 * i + 1] = hex[digest[i] & 15];
	}
	out[32] = '\0';
}
