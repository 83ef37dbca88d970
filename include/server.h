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

#include "protocol.h"

struct conf;
struct conn;
struct listener;
struct ruleset;
struct store;

struct server {
	struct conf *conf;
	struct store *store;
	struct ruleset *rules;
	struct listener *listener;
	int64_t started;   /* wall clock at start */
	int64_t clock_pos; /* every moment <= clock_pos is processed */
	int64_t reloads;   /* SIGHUP and reload requests, refused ones too */
	bool has_last_reload, last_reload_ok;
	int64_t last_reload_at;
	bool stopping;
};

/* One request line from c (without its line end). */
void server_request(
    struct server *srv, struct conn *c, const char *line, size_t len);
/* The complete body of c's pending request; takes ownership of data. */
void server_body(struct server *srv, struct conn *c, char *data, size_t len);
/*
 * Reloads the rules (SIGHUP when c is NULL, or a reload request from c,
 * which gets the errors, the warnings and the final record).
 */
void server_reload(struct server *srv, struct conn *c);
/* The current time for a processing step: max(clock, clock position). */
int64_t server_now(struct server *srv);

#endif
