/*
 * fuzz_ledger — libFuzzer target for an account's saved money history
 * (ledger.c).  Besides "never crashes": bytes that are read encode to a
 * form that reads back to the same ledger (the same bytes again), and
 * bytes that are refused leave the ledger empty.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ledger.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ledger l = { 0 }, again = { 0 };
	struct buf b, b2;

	if (ledger_decode(&l, data, size) != 0) {
		if (l.n != 0 || l.m != NULL)
			abort();
		return 0;
	}
	buf_init(&b);
	buf_init(&b2);
	ledger_encode(&l, &b);
	if (ledger_decode(&again, buf_data(&b), buf_size(&b)) != 0)
		abort();
	ledger_encode(&again, &b2);
	if (buf_size(&b) != buf_size(&b2) ||
	    memcmp(buf_data(&b), buf_data(&b2), buf_size(&b)) != 0 ||
	    again.n != l.n)
		abort();
	buf_fini(&b);
	buf_fini(&b2);
	ledger_fini(&l);
	ledger_fini(&again);
	return 0;
}
