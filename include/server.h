/*
 * server — the daemon's state and the handlers of the control
 * commands (§7, §8).  Owned by dunnd.c's main(), driven by loop and
 * socket.
 */
#ifndef DUNND_SERVER_H
#define DUNND_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine.h"
#include "metrics.h"
#include "protocol.h"

struct conf;
struct feed_iter;
struct pending;
struct backup_job;
struct kpi_run;
struct conn;
struct listener;
struct ruleset;
struct store;

struct server {
	struct conf *conf;
	struct store *store;
	struct ruleset *rules;
	struct listener *listener;
	int64_t started;      /* wall clock at start */
	struct engine engine; /* the portfolio; engine.clock_pos the clock */
	int64_t reloads;      /* SIGHUP and reload requests, refused ones too */
	bool has_last_reload, last_reload_ok;
	int64_t last_reload_at;
	bool stopping;
	struct feed_iter *followers;         /* feed --follow streams */
	struct pending *queue, **queue_tail; /* ingest batches to process */
	struct backup_job *backups;          /* backup copies under way */
	struct kpi_run *kpis;                /* reports kpi under way */
	/* Set by loop: wakes it from another thread (NULL: not running). */
	void (*wake)(void *);
	void *wake_arg;
	struct metrics metrics; /* counters since start */
};

/* One request line from c (without its line end). */
void server_request(
    struct server *srv, struct conn *c, const char *line, size_t len);
/* The complete body of c's pending request; takes ownership of data. */
#define SERVER_SKIP_BAD 1 /* ingest: skip_bad */
#define SERVER_BAD_ONLY 2 /* ingest: results "bad" */
void server_body(
    struct server *srv, struct conn *c, char *data, size_t len, int flags);
/*
 * Reloads the rules (SIGHUP when c is NULL, or a reload request from c,
 * which gets the errors, the warnings and the final record).
 */
void server_reload(struct server *srv, struct conn *c);
/* The current time for a processing step: max(clock, clock position). */
int64_t server_now(struct server *srv);
/*
 * Processes every due moment up to now (the loop's deadline fired, or
 * before a request that needs it).  -1 when a step failed to commit.
 */
int server_catch_up(struct server *srv);
/*
 * At start, before the missed moments: when the rules differ from those
 * last used (§6), their swap as a reload at the stored clock position.
 */
int server_start_rules(struct server *srv);
/*
 * The commit point: processes every ingest batch that has arrived, in
 * arrival order and one transaction, then replies to each.
 */
void server_flush(struct server *srv);
/*
 * Work of other threads (backups): replies to those that ended.  True
 * while some goes on (the loop then calls again soon).
 */
bool server_background(struct server *srv);
/* At shutdown: stops and waits for that work. */
void server_stop_background(struct server *srv);
/* The engine's hook after a commit that appended to the feed. */
void server_committed(void *arg);

#endif
