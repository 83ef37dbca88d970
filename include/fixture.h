/*
 * fixture — rule fixtures (`dunnctl test-rules`, §7): JSON Lines files
 * of events, clock moves and expectations, each run offline against a
 * fresh private portfolio under a rule set, by the same engine, ingest
 * and evaluation code dunnd runs.
 */
#ifndef DUNND_FIXTURE_H
#define DUNND_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

/* Exit codes of a run (§7). */
#define FIXTURE_OK        0 /* every expectation held */
#define FIXTURE_FAILED    1 /* an expectation failed or a batch was refused */
#define FIXTURE_MALFORMED 2 /* a malformed fixture or a broken rule set */

struct fixture_opts {
	bool json; /* --json: one object per expectation on out */
	FILE *out; /* the report (and, with json, only the objects) */
	FILE *err; /* with json: refusals, malformed lines, rule errors */
	/*
	 * The zone of the dunnd.conf that was read (NULL: none): a fixture
	 * in another zone gets a warning.
	 */
	const char *conf_zone;
	/*
	 * Prints the `explain` object of the account of a failed
	 * expectation (not with json); NULL prints it as indented JSON.
	 */
	void (*explain)(json_t *rec, void *arg);
	void *explain_arg;
};

/*
 * Runs the n fixture files paths[] against the rule set of directory
 * rules_dir, each on its own portfolio in a private temporary
 * directory (removed before returning).  Reports as §7 says and
 * returns FIXTURE_OK, FIXTURE_FAILED or FIXTURE_MALFORMED.  The
 * process's zone (clock_tz_set) and test clock are left at the last
 * fixture's.
 */
int fixture_run(const char *rules_dir, const char *const *paths, size_t n,
    const struct fixture_opts *o);

#endif
