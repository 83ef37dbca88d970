/*
 * bench_mem — where the memory of a loaded portfolio goes (targets.md
 * P5).  Loads the database the way dunnd does at start (store_open,
 * engine_open) and prints the heap bytes of each part of the in-memory
 * state as glibc accounts them (usable size + chunk header), per account,
 * and the process's VmRSS.  bench_ingest.py runs it on the database it
 * loaded; it never writes to the database.
 *
 *   usage: bench_mem DATABASE RULES_DIR
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "rules.h"
#include "store.h"

#include "bench.h"
#include "bench_mem.h"

int
main(int argc, char **argv)
{
	struct store *s;
	struct ruleset *rs;
	struct diags ds;
	struct engine e;
	struct mallinfo2 mi;
	char err[256];
	int64_t pos = 0;
	long rss0, rss1;

	if (argc != 3) {
		fprintf(stderr, "usage: bench_mem DATABASE RULES_DIR\n");
		return 2;
	}
	rss0 = bench_rss_kib();
	diags_init(&ds);
	if ((rs = rules_load_dir(argv[2], &ds)) == NULL) {
		fprintf(stderr, "bench_mem: %s: rules do not load\n", argv[2]);
		return 1;
	}
	if (store_open(argv[1], &s, err, sizeof(err)) == -1) {
		fprintf(stderr, "bench_mem: %s\n", err);
		return 1;
	}
	if (store_meta_get_int(s, "clock_pos", &pos) == -1 ||
	    engine_open(&e, s, rs, false, 5, pos) == -1) {
		fprintf(stderr, "bench_mem: %s: cannot load\n", argv[1]);
		return 1;
	}
	rss1 = bench_rss_kib();
	printf(
	    "bench_mem: %zu accounts loaded from %s\n", e.accounts.n, argv[1]);
	bench_mem_print(&e);
	mi = mallinfo2();
	printf("  malloc: in use %zu, free in arena %zu, mmapped %zu\n",
	    mi.uordblks, mi.fordblks, mi.hblkhd);
	printf("  VmRSS: %ld kB before the load, %ld kB after (%.0f "
	       "B/account, SQLite page cache included)\n",
	    rss0, rss1,
	    e.accounts.n ? (double)(rss1 - rss0) * 1024 / (double)e.accounts.n
	                 : 0);
	engine_close(&e);
	store_close(s);
	rules_free(rs);
	diags_fini(&ds);
	return 0;
}
