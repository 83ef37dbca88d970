/*
 * bench_rules — the time to load and check a large rule set.
 *
 * Generates a set of 20 stages and about 500 rules over four files (the
 * size of a big operator's rule set), writes it to a temporary
 * directory, and prints the time rules_load_dir() takes: reading,
 * parsing, validation and the analysis of §4.8 (cycles, shadowing), which
 * compares every pair of rules.  Not a test: it prints figures.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "rules.h"
#include "util.h"

#define NSTAGES 20
#define NRULES  500
#define ROUNDS  20

static double
now_ms(void)
{
	struct timespec ts;

	/* A benchmark, not the daemon: it may read the clock itself. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void
put(const char *dir, const char *name, const char *text)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((f = fopen(path, "w")) == NULL || fputs(text, f) == EOF ||
	    fclose(f) == EOF) {
		perror(path);
		exit(1);
	}
}

/* Appends to a growing string. */
static void cat(char **s, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
cat(char **s, size_t *len, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	*s = xrealloc(*s, *len + (size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(*s + *len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	*len += (size_t)n;
}

/*
 * Rules only escalate (stage k to k + 1 .. k + 3) with days_overdue >= 1,
 * plus "settled" back to the first stage: acyclic, as a real set must be.
 * Their conditions vary so that few shadow each other.
 */
static void
generate(const char *dir)
{
	static const char *sizes[] = { "small", "medium", "large" };
	char *s = NULL;
	size_t len = 0;
	int i, k, to;

	cat(&s, &len, "stages = (\n");
	for (i = 0; i < NSTAGES; i++)
		cat(&s, &len,
		    "  { name = \"s%d\"; hold_when = { promise_pending = true; };\n    tasks = ( { type = \"call\"; script = \"c%d\"; }, { type = \"visit\"; after = \"%dd\"; every = \"7d\"; max = 3; } ); }%s\n",
		    i, i % 10, i + 1, i + 1 < NSTAGES ? "," : "");
	cat(&s, &len, ");\n");
	put(dir, "10-stages.conf", s);
	len = 0;
	cat(&s, &len,
	    "rules = (\n  { name = \"settled\"; from = \"*\"; to = \"s0\"; when = { balance = { max = 0; }; }; },\n");
	for (i = 0; i < NRULES - 1; i++) {
		k = i % (NSTAGES - 1);
		to = k + 1 + i % 3;
		if (to >= NSTAGES)
			to = NSTAGES - 1;
		cat(&s, &len,
		    "  { name = \"r%d\"; from = [ \"s%d\" ]; to = \"s%d\";\n    when = { days_overdue = { min = %d; max = %d; }; size = \"%s\"; promises_broken = { min = %d; window = \"%dd\"; }; tags = { none = [ \"hold\", \"t%d\" ]; }; }; }%s\n",
		    i, k, to, 1 + i / 19, 400 - i / 7, sizes[i % 3], 1 + i % 4,
		    30 * (1 + i % 6), i % 50, i + 2 < NRULES ? "," : "");
	}
	cat(&s, &len, ");\n");
	put(dir, "20-rules.conf", s);
	len = 0;
	cat(&s, &len, "alerts = (\n");
	for (i = 0; i < 20; i++)
		cat(&s, &len,
		    "  { name = \"a%d\"; when = { unreached = { min = %d; }; }; task = { type = \"review\"; }; cooldown = \"7d\"; }%s\n",
		    i, 3 + i, i + 1 < 20 ? "," : "");
	cat(&s, &len, ");\n");
	put(dir, "30-alerts.conf", s);
	len = 0;
	cat(&s, &len, "scripts = (\n");
	for (i = 0; i < 10; i++)
		cat(&s, &len,
		    "  { name = \"c%d\"; checklist = [ \"ask for payment today\", \"get a promise\" ]; }%s\n",
		    i, i + 1 < 10 ? "," : "");
	cat(&s, &len, ");\n");
	put(dir, "40-scripts.conf", s);
	free(s);
}

int
main(void)
{
	char dir[] = "/tmp/bench_rules.XXXXXX", cmd[64];
	struct ruleset *rs = NULL;
	struct diags ds;
	double t0, best = 1e9, total = 0, t;
	size_t errors = 0, warnings = 0, nrules = 0;
	int i;

	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	generate(dir);
	for (i = 0; i < ROUNDS; i++) {
		diags_init(&ds);
		t0 = now_ms();
		rs = rules_load_dir(dir, &ds);
		t = now_ms() - t0;
		total += t;
		if (t < best)
			best = t;
		errors = ds.errors;
		warnings = ds.warnings;
		nrules = rs != NULL ? rs->nrules : 0;
		if (i == 0 && ds.n > 0) {
			char line[1024];

			diag_format(&ds.v[0], line, sizeof(line));
			printf("first diag: %s\n", line);
		}
		rules_free(rs);
		diags_fini(&ds);
	}
	printf(
	    "rules: load+check of %d stages, %zu rules: best %.2f ms, mean %.2f ms over %d rounds (%zu errors, %zu warnings)\n",
	    NSTAGES, nrules, best, total / ROUNDS, ROUNDS, errors, warnings);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 && errors == 0 ? 0 : 1;
}
