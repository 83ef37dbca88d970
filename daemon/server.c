/*
 * server — the daemon's state and the control commands (§7, §8).
 *
 * socket hands each request line here; the request is decoded by
 * protocol, checked against the peer's rights, and answered by the
 * handler of its command.  Every handler ends its reply with exactly
 * one final record (conn_reply_ok / conn_reply_error), now or later.
 */
#include "server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "clock.h"
#include "conf.h"
#include "log.h"
#include "loop.h"
#include "rules.h"
#include "socket.h"
#include "store.h"
#include "util.h"

int64_t
server_now(struct server *srv)
{
	int64_t now = clock_now();

	return now > srv->clock_pos ? now : srv->clock_pos;
}

static json_t *
json_ts(int64_t t)
{
	char buf[CLOCK_TS_LEN];

	clock_format_ts(t, buf);
	return json_string(buf);
}

static void
count_stage(const char *stage, int64_t count, void *arg)
{
	json_t *stages = arg;
	json_t *v = json_object_get(stages, stage);

	/* A stage the rules no longer have still shows its accounts. */
	json_object_set_new(stages, stage,
	    json_integer(count + (v ? json_integer_value(v) : 0)));
}

static void
cmd_status(struct server *srv, struct conn *c, json_t *req)
{
	json_t *rec, *stages;
	int64_t head = 0, total = 0;
	const char *key;
	json_t *v;
	size_t i;

	(void)req;
	stages = json_object();
	for (i = 0; i < srv->rules->nstages; i++)
		json_object_set_new(
		    stages, srv->rules->stages[i].name, json_integer(0));
	if (store_stage_counts(srv->store, count_stage, stages) == -1 ||
	    store_feed_head(srv->store, &head) == -1) {
		json_decref(stages);
		conn_reply_error(c, "database error: see the daemon's log");
		return;
	}
	json_object_foreach(stages, key, v) total += json_integer_value(v);
	rec = json_pack("{s:s,s:I,s:o,s:I,s:o,s:I,s:s,s:s,s:s,s:I,s:o}",
	    "rules_version", srv->rules->version, "accounts", (json_int_t)total,
	    "stages", stages, "feed_head", (json_int_t)head, "now",
	    json_ts(server_now(srv)), "reloads", (json_int_t)srv->reloads,
	    "clock", clock_is_test() ? "test" : "wall", "timezone",
	    srv->conf->timezone, "version", DUNND_VERSION, "clients",
	    (json_int_t)sock_nclients(srv->listener), "started",
	    json_ts(srv->started));
	if (srv->has_last_reload)
		json_object_set_new(rec, "last_reload",
		    json_pack("{s:o,s:b}", "at", json_ts(srv->last_reload_at),
		        "ok", srv->last_reload_ok));
	conn_send(c, rec);
	conn_reply_ok(c, NULL);
}

static void
cmd_reload(struct server *srv, struct conn *c, json_t *req)
{
	(void)req;
	server_reload(srv, c);
}

static void
cmd_ingest(struct server *srv, struct conn *c, json_t *req)
{
	(void)srv;
	/* The reply comes once the whole body has arrived (§2.4). */
	conn_read_body(
	    c, json_integer_value(json_object_get(req, "bytes")), false);
}

static void
cmd_unavailable(struct server *srv, struct conn *c, json_t *req)
{
	(void)srv;
	conn_reply_error(c, "%s: not available in dunnd %s yet",
	    json_string_value(json_object_get(req, "cmd")), DUNND_VERSION);
}

static void (*const handlers[CMD_COUNT])(
    struct server *, struct conn *, json_t *) = {
	[CMD_STATUS] = cmd_status,
	[CMD_INGEST] = cmd_ingest,
	[CMD_ACCOUNTS] = cmd_unavailable,
	[CMD_EXPLAIN] = cmd_unavailable,
	[CMD_TASKS] = cmd_unavailable,
	[CMD_FEED] = cmd_unavailable,
	[CMD_ACK] = cmd_unavailable,
	[CMD_RELOAD] = cmd_reload,
	[CMD_SIMULATE] = cmd_unavailable,
	[CMD_REPORT] = cmd_unavailable,
	[CMD_CLOCK] = cmd_unavailable,
};

void
server_request(struct server *srv, struct conn *c, const char *line, size_t len)
{
	struct proto_request req;
	char err[PROTO_ERR_LEN];
	int rc;

	rc = proto_decode(line, len, &req, err, sizeof(err));
	if (rc == 0 && proto_cmd_info(req.cmd)->admin && !conn_is_admin(c)) {
		rc = -1;
		snprintf(err, sizeof(err), "permission denied");
	}
	if (rc != 0) {
		/* §8: a refused request's body is read and thrown away. */
		if (req.bytes > 0)
			conn_read_body(c, req.bytes, true);
		json_decref(req.root);
		conn_reply_error(c, "%s", err);
		if (rc == -2)
			conn_close_after_reply(c);
		return;
	}
	if (srv->stopping) {
		json_decref(req.root);
		conn_reply_error(c, "shutting down");
		return;
	}
	handlers[req.cmd](srv, c, req.root);
	json_decref(req.root);
}

void
server_body(struct server *srv, struct conn *c, char *data, size_t len)
{
	(void)srv;
	(void)len;
	free(data);
	conn_reply_error(
	    c, "ingest: not available in dunnd %s yet", DUNND_VERSION);
}

void
server_reload(struct server *srv, struct conn *c)
{
	struct ruleset *rs;
	struct diags ds;
	char msg[DIAG_MSG_MAX + 300];
	size_t i;

	srv->reloads++;
	srv->has_last_reload = true;
	srv->last_reload_at = server_now(srv);
	loop_notify("RELOADING=1");
	diags_init(&ds);
	rs = rules_load_dir(srv->conf->rules, &ds);
	for (i = 0; i < ds.n; i++) {
		/* §8: the message without the word "warning:". */
		snprintf(msg, sizeof(msg), "%s:%d: %s", ds.v[i].file,
		    ds.v[i].line, ds.v[i].msg);
		if (c != NULL)
			conn_send(c,
			    json_pack("{s:s,s:s%}", "level",
			        ds.v[i].warning ? "warning" : "error",
			        "message", msg, strlen(msg)));
	}
	srv->last_reload_ok = rs != NULL;
	if (rs == NULL) {
		log_err("rules: reload refused: %zu errors, keeping %s",
		    ds.errors, srv->rules->version);
		if (c != NULL)
			conn_reply_error(
			    c, "reload refused: %zu errors", ds.errors);
	} else {
		log_info("rules: reloaded, version %s", rs->version);
		rules_free(srv->rules);
		srv->rules = rs;
		if (c != NULL)
			conn_reply_ok(c,
			    json_pack("{s:s}", "rules_version", rs->version));
	}
	loop_notify("READY=1");
	diags_fini(&ds);
}
