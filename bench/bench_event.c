/*
 * bench_event — how fast ingest lines are framed and validated.
 *
 * Generates 1,000,000 realistic event lines (every type, in a mix like a
 * day of a portfolio's traffic), then times, per line:
 *   frame+parse  lines.h fed 64 KiB chunks, event_parse(), event_fini():
 *                what ingest does before the store (target: >= 250,000
 *                events/s end to end, so this must stay well under 4 us);
 *   parse        event_parse() + event_fini() on pre-split lines;
 *   encode       event_encode() (the canonical text the store keeps);
 *   digest       hash_bytes() of that text: the idempotency digest
 *                (BLAKE2b-128, libsodium) each event costs, inside parse;
 *   jansson      json_loadb(JSON_REJECT_DUPLICATES) alone, no validation:
 *                the alternative event.c's opening comment weighs.
 * A benchmark, not a test: it prints figures and exits 0.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "event.h"
#include "hash.h"
#include "lines.h"
#include "util.h"

#define NLINES 1000000
#define CHUNK  65536

static double
now_ns(void)
{
	struct timespec ts;

	/* A benchmark measures elapsed time; the daemon's clock is clock.c. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* A cheap deterministic generator, so runs compare. */
static uint64_t
rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void
ts(char *out, size_t len, uint64_t *s)
{
	snprintf(out, len, "2026-%02u-%02uT%02u:%02u:%02u+08:00",
	    (unsigned)(1 + rnd(s) % 12), (unsigned)(1 + rnd(s) % 28),
	    (unsigned)(rnd(s) % 24), (unsigned)(rnd(s) % 60),
	    (unsigned)(rnd(s) % 60));
}

/* Appends line i (with its LF) to b. */
static void
gen(struct buf *b, size_t i, uint64_t *s)
{
	unsigned acc = (unsigned)(rnd(s) % 50000), pick = (unsigned)(i % 100);
	char at[40];

	ts(at, sizeof(at), s);
	if (pick < 10)
		buf_printf(b,
		    "{\"type\":\"account\",\"id\":\"E-%07zu\",\"account\":\"C-%05u\","
		    "\"name\":\"\xe5\x8c\x97\xe4\xba\xac Trading Co. %u\","
		    "\"currency\":\"CNY\",\"size\":\"medium\",\"risk\":\"C\","
		    "\"cash_in_day\":15,\"contacts\":[{\"role\":\"cfo\","
		    "\"name\":\"Li Na\",\"phone\":\"+86 10 5555 %04u\"},"
		    "{\"role\":\"general_manager\",\"name\":\"Wang Wei\","
		    "\"email\":\"wang@example.com\"}],\"tags\":[\"north\",\"vip\"]}\n",
		    i, acc, acc, acc % 10000);
	else if (pick < 40)
		buf_printf(b,
		    "{\"type\":\"invoice\",\"id\":\"E-%07zu\",\"account\":\"C-%05u\","
		    "\"invoice\":\"INV-2026-%07zu\",\"amount\":%u,"
		    "\"issued\":\"2026-03-%02u\",\"due\":\"2026-04-%02u\","
		    "\"currency\":\"CNY\"}\n",
		    i, acc, i, (unsigned)(100 + rnd(s) % 10000000),
		    (unsigned)(1 + rnd(s) % 28), (unsigned)(1 + rnd(s) % 28));
	else if (pick < 75)
		buf_printf(b,
		    "{\"type\":\"payment\",\"id\":\"E-%07zu\",\"account\":\"C-%05u\","
		    "\"amount\":%u,\"at\":\"%s\"%s}\n",
		    i, acc, (unsigned)(100 + rnd(s) % 5000000), at,
		    pick % 3 ? ",\"invoice\":\"INV-2026-0000042\"" : "");
	else if (pick < 80)
		buf_printf(b,
		    "{\"type\":\"credit\",\"id\":\"E-%07zu\",\"account\":\"C-%05u\","
		    "\"invoice\":\"INV-2026-0000042\",\"amount\":500,\"at\":\"%s\"}\n",
		    i, acc, at);
	else if (pick < 85)
		buf_printf(b,
		    "{\"type\":\"promise\",\"id\":\"E-%07zu\",\"account\":\"C-%05u\","
		    "\"amount\":250000,\"due\":\"2026-05-02\",\"at\":\"%s\","
		    "\"task\":\"T-000417\"}\n",
		    i, acc, at);
	else if (pick < 88)
		buf_printf(b,
		    "{\"type\":\"dispute\",\"id\":\"E-%07zu\",\"account\":\"C-%05u\","
		    "\"invoice\":\"INV-2026-0000042\",\"amount\":3000,"
		    "\"reason\":\"goods damaged in transit\",\"at\":\"%s\"}\n",
		    i, acc, at);
	else if (pick < 90)
		buf_printf(b,
		    "{\"type\":\"dispute_resolved\",\"id\":\"E-%07zu\","
		    "\"account\":\"C-%05u\",\"invoice\":\"INV-2026-0000042\","
		    "\"at\":\"%s\",\"upheld_amount\":1500}\n",
		    i, acc, at);
	else if (pick < 98)
		buf_printf(b,
		    "{\"type\":\"outcome\",\"id\":\"E-%07zu\",\"task\":\"T-%06u\","
		    "\"result\":\"no_answer\",\"at\":\"%s\","
		    "\"note\":\"called twice, voicemail\"}\n",
		    i, acc, at);
	else
		buf_printf(b,
		    "{\"type\":\"reversal\",\"id\":\"E-%07zu\",\"account\":\"C-%05u\","
		    "\"event\":\"E-%07zu\",\"at\":\"%s\","
		    "\"reason\":\"cheque bounced\"}\n",
		    i, acc, i / 2, at);
}

int
main(void)
{
	struct buf b;
	struct lines lr;
	struct line ln;
	struct event ev;
	struct diag d;
	const char **start;
	size_t *len, i, off, n, ok = 0, bytes;
	uint64_t seed = 88172645463325252ULL;
	double t0, t;
	char *s, **canon;
	size_t *clen, cbytes = 0;
	uint8_t dg[HASH_LEN];
	volatile uint8_t sink = 0;
	json_t *j;
	json_error_t jerr;

	buf_init(&b);
	start = xreallocarray(NULL, NLINES, sizeof(*start));
	len = xreallocarray(NULL, NLINES, sizeof(*len));
	for (i = 0; i < NLINES; i++)
		gen(&b, i, &seed);
	bytes = buf_size(&b);
	/* Split once for the per-function figures. */
	for (i = 0, off = 0; i < NLINES; i++) {
		s = memchr(buf_data(&b) + off, '\n', bytes - off);
		start[i] = buf_data(&b) + off;
		len[i] = (size_t)(s - start[i]);
		off += len[i] + 1;
	}
	printf("%d lines, %.1f bytes/line\n", NLINES, (double)bytes / NLINES);

	t0 = now_ns();
	lines_init(&lr, LINES_MAX);
	for (off = 0; off < bytes; off += n) {
		n = bytes - off < CHUNK ? bytes - off : CHUNK;
		lines_feed(&lr, buf_data(&b) + off, n);
		while (lines_next(&lr, &ln) == 1) {
			if (ln.kind == LINE_TEXT &&
			    event_parse(ln.s, ln.len, &ev, &d) == 0)
				ok++;
			event_fini(&ev);
		}
	}
	lines_eof(&lr);
	lines_fini(&lr);
	t = now_ns() - t0;
	if (ok != NLINES) {
		fprintf(stderr, "bench: %zu of %d lines valid\n", ok, NLINES);
		return 1;
	}
	printf("frame+parse  %7.0f ns/line  %9.0f events/s\n", t / NLINES,
	    NLINES / (t / 1e9));

	t0 = now_ns();
	for (i = 0; i < NLINES; i++) {
		if (event_parse(start[i], len[i], &ev, &d) == -1)
			return 1;
		event_fini(&ev);
	}
	t = now_ns() - t0;
	printf("parse        %7.0f ns/line\n", t / NLINES);

	t = 0;
	for (i = 0; i < NLINES; i++) {
		if (event_parse(start[i], len[i], &ev, &d) == -1)
			return 1;
		t0 = now_ns();
		free(event_encode(&ev, NULL));
		t += now_ns() - t0;
		event_fini(&ev);
	}
	printf("encode       %7.0f ns/line (includes ~50 ns of timer)\n",
	    t / NLINES);

	canon = xreallocarray(NULL, NLINES, sizeof(*canon));
	clen = xreallocarray(NULL, NLINES, sizeof(*clen));
	for (i = 0; i < NLINES; i++) {
		if (event_parse(start[i], len[i], &ev, &d) == -1)
			return 1;
		canon[i] = event_encode(&ev, &clen[i]);
		cbytes += clen[i];
		event_fini(&ev);
	}
	t0 = now_ns();
	for (i = 0; i < NLINES; i++) {
		hash_bytes(canon[i], clen[i], dg);
		sink ^= dg[0];
	}
	t = now_ns() - t0;
	printf(
	    "digest       %7.0f ns/line (BLAKE2b-128 of %.0f canonical bytes,"
	    " part of parse)\n",
	    t / NLINES, (double)cbytes / NLINES);
	for (i = 0; i < NLINES; i++)
		free(canon[i]);
	free(canon);
	free(clen);

	t0 = now_ns();
	for (i = 0; i < NLINES; i++) {
		j = json_loadb(start[i], len[i], JSON_REJECT_DUPLICATES, &jerr);
		if (j == NULL)
			return 1;
		json_decref(j);
	}
	t = now_ns() - t0;
	printf("jansson      %7.0f ns/line (json_loadb alone, no checks)\n",
	    t / NLINES);

	free(start);
	free(len);
	buf_fini(&b);
	return 0;
}
