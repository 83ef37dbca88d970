/*
 * fuzz_event — libFuzzer target for one ingest line (event.c, steps 1-6
 * of §2.2).  Besides "never crashes": an accepted line's canonical form
 * parses again to the same canonical form and digest.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "event.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	struct event ev, again;
	struct diag d;
	char *canon, *canon2;
	size_t n;

	if (!ready) {
		/* A fixed now, as a test clock, and a zone with offsets. */
		clock_tz_set("Asia/Shanghai");
		clock_test_start(1772413200); /* 2026-03-02T09:00:00+08:00 */
		ready = 1;
	}
	memset(&d, 0, sizeof(d));
	if (event_parse((const char *)data, size, &ev, &d) == 0) {
		canon = event_encode(&ev, &n);
		memset(&d, 0, sizeof(d));
		if (event_parse(canon, n, &again, &d) != 0)
			abort(); /* the canonical form must be accepted */
		canon2 = event_encode(&again, NULL);
		if (strcmp(canon, canon2) != 0 ||
		    memcmp(ev.digest, again.digest, sizeof(ev.digest)) != 0)
			abort();
		free(canon2);
		free(canon);
		event_fini(&again);
	}
	event_fini(&ev);
	return 0;
}
