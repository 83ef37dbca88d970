/*
 * ctl_events — the events dunnctl's convenience commands send (§7):
 * pause, unpause, tag and outcome.  Each is one JSON Lines event whose
 * id is "ctl-" and 32 random hex digits; dunnctl sends it as an ingest
 * batch and prints the results as ingest's.
 *
 * Pure builders (no socket): dunnctl reads what they need (the current
 * tags, the daemon's now) and hands it in.
 */
#ifndef DUNND_CTL_EVENTS_H
#define DUNND_CTL_EVENTS_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#define CTL_EVENT_ID_LEN 36 /* "ctl-" + 32 hex digits */

/* A fresh id into id (CTL_EVENT_ID_LEN + 1 bytes); -1 when the system has no randomness to give. */
int ctl_event_id(char *id);

/*
 * The event line (with its "\n"; caller frees) that pauses or unpauses
 * account; NULL with err set on failure.
 */
char *ctl_event_pause(
    const char *account, bool paused, char *err, size_t errlen);

/*
 * The account event whose tags are current (a JSON array of strings, as
 * explain reports them; NULL = none) with the changes applied: each
 * change is "+TAG" (added at the end unless present) or "-TAG" (removed
 * if present).  The existing tags are never dropped except by a "-".
 * NULL with err set for a change without its sign, an empty tag, or a
 * tag both added and removed.  *tags_out (when not NULL) gets the new
 * list (a new reference).
 */
char *ctl_event_tag(const char *account, json_t *current, char *const *changes,
    size_t nchanges, json_t **tags_out, char *err, size_t errlen);

/* The outcome event of task (note NULL = none); NULL with err set. */
char *ctl_event_outcome(const char *task, const char *result, const char *note,
    const char *at, char *err, size_t errlen);

/* What the commands need of dunnctl's connection. */
struct ctl_io {
	/*
	 * Sends req (consumed) and returns the first data record of its
	 * reply (a new reference), or NULL with *rc the exit code once the
	 * failure has been printed.
	 */
	json_t *(*ask)(void *arg, json_t *req, int *rc);
	/* Sends line (consumed) as an ingest batch, printed as ingest's. */
	int (*ingest)(void *arg, char *line);
	/* A usage error: prints msg and the usage, exits 2. */
	void (*usage)(const char *msg) __attribute__((noreturn));
	void *arg;
	bool json; /* --json */
};

/*
 * Runs argv[0] (pause, unpause, tag or outcome) with its arguments;
 * returns dunnctl's exit code.
 */
int ctl_events_run(int argc, char **argv, const struct ctl_io *io);

#endif
