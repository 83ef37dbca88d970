/*
 * server — the daemon's state and the control commands (§7, §8).
 *
 * socket hands each request line here; the request is decoded by
 * protocol, checked against the peer's rights, and answered by the
 * handler of its command.  Every handler ends its reply with exactly
 * one final record (conn_reply_ok / conn_reply_error), now or later.
 */
#include "server.h"

#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "audit.h"
#include "clock.h"
#include "conf.h"
#include "engine.h"
#include "eval.h"
#include "explain.h"
#include "facts.h"
#include "ingest.h"
#include "kpi.h"
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

	return now > srv->engine.clock_pos ? now : srv->engine.clock_pos;
}

int
server_catch_up(struct server *srv)
{
	return engine_run_until(&srv->engine, server_now(srv));
}

static void
cmd_status(struct server *srv, struct conn *c, json_t *req)
{
	const struct ruleset *rs = srv->rules;
	struct acct *const *all;
	json_t *rec, *stages;
	char *feed_id = NULL;
	int64_t *counts, ahead;
	size_t i, n;

	(void)req;
	/* From memory (the accounts table is large): every stage, 0 too. */
	all = engine_sorted(&srv->engine, &n);
	counts = xcalloc(rs->nstages, sizeof(*counts));
	for (i = 0; i < n; i++)
		counts[all[i]->stage]++;
	stages = json_object();
	for (i = 0; i < rs->nstages; i++)
		json_object_set_new(
		    stages, rs->stages[i].name, json_integer(counts[i]));
	free(counts);
	rec = json_pack("{s:s,s:I,s:o,s:I,s:o,s:I,s:s,s:s,s:s,s:I,s:o}",
	    "rules_version", rs->version, "accounts", (json_int_t)n, "stages",
	    stages, "feed_head", (json_int_t)srv->engine.feed_head, "now",
	    eval_json_ts(server_now(srv)), "reloads", (json_int_t)srv->reloads,
	    "clock", clock_is_test() ? "test" : "wall", "timezone",
	    srv->conf->timezone, "version", DUNND_VERSION, "clients",
	    (json_int_t)sock_nclients(srv->listener), "started",
	    eval_json_ts(srv->started));
	if (store_meta_get_text(srv->store, "feed_id", &feed_id) == 1)
		json_object_set_new(rec, "feed_id", json_string(feed_id));
	free(feed_id);
	if (srv->has_last_reload)
		json_object_set_new(rec, "last_reload",
		    json_pack("{s:o,s:b}", "at",
		        eval_json_ts(srv->last_reload_at), "ok",
		        srv->last_reload_ok));
	/* §6: how far the clock stands ahead of the system time. */
	ahead = server_now(srv) - clock_wall();
	json_object_set_new(
	    rec, "clock_ahead", json_integer(ahead > 0 ? ahead : 0));
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
	const char *results =
	    json_string_value(json_object_get(req, "results"));

	(void)srv;
	if (results != NULL && strcmp(results, "all") != 0 &&
	    strcmp(results, "bad") != 0) {
		conn_read_body(c,
		    json_integer_value(json_object_get(req, "bytes")), true, 0);
		conn_reply_error(c, "results: must be \"all\" or \"bad\"");
		return;
	}
	/* The reply comes once the whole body has arrived (§2.4). */
	conn_read_body(c, json_integer_value(json_object_get(req, "bytes")),
	    false,
	    (json_is_true(json_object_get(req, "skip_bad")) ? SERVER_SKIP_BAD
	                                                    : 0) |
	        (results != NULL && strcmp(results, "bad") == 0
	                ? SERVER_BAD_ONLY
	                : 0));
}

/* accounts (§7): one record per account, by id, produced as read. */
struct accounts_iter {
	struct server *srv;
	char *stage; /* filter, NULL all */
	char *last;  /* the last account sent, NULL before the first */
	int64_t now;
};

static void
accounts_iter_free(void *arg)
{
	struct accounts_iter *it = arg;

	free(it->stage);
	free(it->last);
	free(it);
}

/* Promises broken in (now - 90d, now] (§7: the 90d window). */
static int64_t
broken_90d(const struct acct *a, int64_t now)
{
	int64_t n = 0;
	size_t i;

	for (i = 0; i < a->nprom; i++) {
		const struct acct_promise *p = &a->prom[i];
		int64_t v = p->verdict_at;
		bool broken = p->verdict == ACCT_BROKEN;

		/* A break due by now counts even between timer firings. */
		if (p->verdict == ACCT_PENDING && p->break_at <= now) {
			broken = true;
			v = p->break_at;
		}
		if (broken && v <= now && v > now - RULES_WINDOW_DEFAULT_S)
			n++;
	}
	return n;
}

static json_t *
account_record(struct server *srv, struct acct *a, int64_t now)
{
	struct engine *e = &srv->engine;
	const struct ruleset *rs = srv->rules;
	struct rules_factvals *fv = &e->fo.fv;
	json_t *rec, *tags;
	size_t i;

	facts_compute(a, &e->fp, now, clock_local_date(now), &e->fo);
	tags = json_array();
	for (i = 0; i < a->ntags; i++)
		json_array_append_new(tags, json_string(a->tags[i]));
	rec = json_pack("{s:s,s:s,s:s,s:b,s:I,s:I,s:I,s:I,s:I,s:I,s:o}",
	    "account", a->id, "currency", a->currency, "stage",
	    a->stage < rs->nstages ? rs->stages[a->stage].name : "?", "paused",
	    a->paused, "balance", (json_int_t)fv->balance, "credit_balance",
	    (json_int_t)acct_credit_balance(a), "overdue_amount",
	    (json_int_t)fv->overdue_amount, "disputed_amount",
	    (json_int_t)fv->disputed_amount, "days_overdue",
	    (json_int_t)fv->days_overdue, "promises_broken",
	    (json_int_t)broken_90d(a, now), "tags", tags);
	if (fv->has_days_to_due)
		json_object_set_new(
		    rec, "days_to_due", json_integer(fv->days_to_due));
	/* §4.5: whether deliveries on credit are stopped (P10). */
	json_object_set_new(rec, "credit_held", json_boolean(a->credit_held));
	if (store_q(srv->store, Q_ACCOUNT_INFO, "t", a->id) == 1)
		json_object_set_new(rec, "name",
		    json_string(store_col_text(srv->store, Q_ACCOUNT_INFO, 0)));
	store_done(srv->store, Q_ACCOUNT_INFO);
	return rec;
}

/* The index of the first account with id > last (binary search). */
static size_t
first_after(struct acct *const *v, size_t n, const char *last)
{
	size_t lo = 0, hi = n, mid;

	if (last == NULL)
		return 0;
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (strcmp(v[mid]->id, last) <= 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int
accounts_more(struct conn *c, void *arg)
{
	struct accounts_iter *it = arg;
	struct engine *e = &it->srv->engine;
	struct acct *const *v;
	size_t n, i, sent = 0;

	v = engine_sorted(e, &n);
	for (i = first_after(v, n, it->last); i < n && sent < 256; i++) {
		free(it->last);
		it->last = xstrdup(v[i]->id);
		if (it->stage != NULL &&
		    strcmp(it->srv->rules->stages[v[i]->stage].name,
		        it->stage) != 0)
			continue;
		conn_send(c, account_record(it->srv, v[i], it->now));
		sent++;
	}
	if (i < n)
		return 0;
	conn_reply_ok(c, NULL);
	return 1;
}

static void
cmd_accounts(struct server *srv, struct conn *c, json_t *req)
{
	struct accounts_iter *it = xcalloc(1, sizeof(*it));
	const char *stage = json_string_value(json_object_get(req, "stage"));
	size_t idx;

	if (stage != NULL && rules_stage_lookup(srv->rules, stage, &idx) != 1) {
		free(it);
		conn_reply_error(c, "unknown stage %s", stage);
		return;
	}
	it->srv = srv;
	it->stage = stage != NULL ? xstrdup(stage) : NULL;
	it->now = server_now(srv);
	conn_set_more(c, accounts_more, it, accounts_iter_free);
}

/* tasks (§7): task records plus status, in pages of the store. */
struct tasks_iter {
	struct server *srv;
	bool open;
	bool workable; /* §7: open, and the window has begun by at */
	int64_t at;
	char *type, *account;
	int64_t seq, prio, nb; /* the last row sent (keyset) */
};

static void
tasks_iter_free(void *arg)
{
	struct tasks_iter *it = arg;

	free(it->type);
	free(it->account);
	free(it);
}

/* What follows a task record in tasks --json: status and outcome. */
static char *
task_tail(struct store *s, enum store_q q)
{
	json_t *o = json_pack("{s:s}", "status", store_col_text(s, q, 2));
	char *text, *tail;
	size_t len;

	/* §7: a done task with the outcome that closed it. */
	if (!store_col_null(s, q, 3)) {
		json_object_set_new(
		    o, "result", json_string(store_col_text(s, q, 3)));
		if (!store_col_null(s, q, 4))
			json_object_set_new(
			    o, "note", json_string(store_col_text(s, q, 4)));
		json_object_set_new(
		    o, "done_at", eval_json_ts(store_col_int(s, q, 5)));
	}
	text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	/* "{...}" becomes ",...}": the members that follow the record's. */
	len = strlen(text);
	tail = xmalloc(len + 1);
	memcpy(tail, text, len + 1);
	tail[0] = ',';
	free(text);
	return tail;
}

static int
tasks_more(struct conn *c, void *arg)
{
	struct tasks_iter *it = arg;
	struct store *s = it->srv->store;
	enum store_q q = it->workable ? Q_TASKS_WORKABLE_PAGE
	    : it->open                ? Q_TASKS_OPEN_PAGE
	                              : Q_TASKS_PAGE;
	const char *text;
	char *tail;
	size_t len;
	int rc, rows = 0;

	if (it->workable)
		rc = store_q(s, q, "iiittii", it->prio, it->nb, it->seq,
		    it->account, it->type, it->at, (int64_t)256);
	else if (it->open)
		rc = store_q(s, q, "iitti", it->prio, it->seq, it->account,
		    it->type, (int64_t)256);
	else
		rc = store_q(
		    s, q, "itti", it->seq, it->account, it->type, (int64_t)256);
	for (; rc == 1; rc = store_next(s, q)) {
		rows++;
		it->seq = store_col_int(s, q, 0);
		if (it->open)
			it->prio = store_col_int(s, q, 6);
		if (it->workable)
			it->nb = store_col_int(s, q, 7);
		/* The record as stored, with its status after the last member. */
		text = store_col_text(s, q, 1);
		len = strlen(text);
		if (len < 2 || text[len - 1] != '}')
			continue;
		tail = task_tail(s, q);
		conn_send_text(c, text, len - 1, tail);
		free(tail);
	}
	store_done(s, q);
	if (rc == -1) {
		conn_reply_error(c, "database error: see the daemon's log");
		return 1;
	}
	if (rows == 256)
		return 0;
	conn_reply_ok(c, NULL);
	return 1;
}

static void
cmd_tasks(struct server *srv, struct conn *c, json_t *req)
{
	struct tasks_iter *it = xcalloc(1, sizeof(*it));
	const char *type = json_string_value(json_object_get(req, "type"));
	const char *account =
	    json_string_value(json_object_get(req, "account"));

	const char *at = json_string_value(json_object_get(req, "at"));
	const char *why;

	it->srv = srv;
	it->workable = json_is_true(json_object_get(req, "workable"));
	it->open = it->workable || json_is_true(json_object_get(req, "open"));
	it->at = server_now(srv);
	it->nb = INT64_MIN;
	if (at != NULL && clock_parse_ts(at, strlen(at), &it->at, &why) == -1) {
		free(it);
		conn_reply_error(
		    c, "at: not an RFC 3339 timestamp with an offset");
		return;
	}
	it->type = type != NULL ? xstrdup(type) : NULL;
	it->account = account != NULL ? xstrdup(account) : NULL;
	it->prio = INT64_MAX;
	conn_set_more(c, tasks_more, it, tasks_iter_free);
}

/*
 * feed (§7): records with seq > from up to the head at the request, or
 * with follow, on and on: a follower waits at the head and is woken by
 * every commit that appends (server_committed()).
 */
struct feed_iter {
	struct server *srv;
	struct conn *c;
	int64_t from, head;
	bool follow;
	json_t *cursor; /* with a consumer: its cursor, null never acked */
	struct feed_iter *next, **prevp;
};

static void
feed_iter_free(void *arg)
{
	struct feed_iter *it = arg;

	if (it->prevp != NULL) {
		*it->prevp = it->next;
		if (it->next != NULL)
			it->next->prevp = it->prevp;
	}
	json_decref(it->cursor);
	free(it);
}

static int
feed_more(struct conn *c, void *arg)
{
	struct feed_iter *it = arg;
	struct store *s = it->srv->store;
	int64_t head = it->follow ? it->srv->engine.feed_head : it->head;
	const char *text;
	int rc, rows = 0;

	if (it->from >= head) {
		if (it->follow)
			return CONN_MORE_WAIT;
		/* A typo would replay the feed from 1: dunnctl says so. */
		conn_reply_ok(c,
		    it->cursor == NULL
		        ? NULL
		        : json_pack("{s:O}", "cursor", it->cursor));
		return 1;
	}
	for (rc = store_q(s, Q_FEED_FROM, "ii", it->from, (int64_t)512);
	     rc == 1; rc = store_next(s, Q_FEED_FROM)) {
		if (store_col_int(s, Q_FEED_FROM, 0) > head)
			break;
		it->from = store_col_int(s, Q_FEED_FROM, 0);
		rows++;
		/* Stored as sent (§5): no need to parse it again. */
		text = store_col_text(s, Q_FEED_FROM, 1);
		conn_send_text(c, text, strlen(text), NULL);
	}
	store_done(s, Q_FEED_FROM);
	if (rc == -1) {
		conn_reply_error(c, "database error: see the daemon's log");
		return 1;
	}
	return 0;
}

void
server_committed(void *arg)
{
	struct server *srv = arg;
	struct feed_iter *it, *next;

	for (it = srv->followers; it != NULL; it = next) {
		next = it->next;
		conn_wake(it->c);
	}
}

static void
cmd_feed(struct server *srv, struct conn *c, json_t *req)
{
	struct feed_iter *it;
	const char *consumer =
	    json_string_value(json_object_get(req, "consumer"));
	json_t *from = json_object_get(req, "from");
	int64_t cursor = 0;
	int rc = 1;

	if (consumer != NULL) {
		rc = store_q(srv->store, Q_CONSUMER_GET, "t", consumer);
		if (rc == 1)
			cursor = store_col_int(srv->store, Q_CONSUMER_GET, 0);
		store_done(srv->store, Q_CONSUMER_GET);
		if (rc == -1) {
			conn_reply_error(
			    c, "database error: see the daemon's log");
			return;
		}
	}
	it = xcalloc(1, sizeof(*it));
	if (consumer != NULL)
		it->cursor = rc == 1 ? json_integer(cursor) : json_null();
	it->srv = srv;
	it->c = c;
	it->from = from != NULL ? json_integer_value(from) : cursor;
	it->head = srv->engine.feed_head;
	it->follow = json_is_true(json_object_get(req, "follow"));
	if (it->follow) {
		it->next = srv->followers;
		if (it->next != NULL)
			it->next->prevp = &it->next;
		it->prevp = &srv->followers;
		srv->followers = it;
	}
	conn_set_more(c, feed_more, it, feed_iter_free);
}

static void
cmd_ack(struct server *srv, struct conn *c, json_t *req)
{
	const char *consumer =
	    json_string_value(json_object_get(req, "consumer"));
	int64_t seq = json_integer_value(json_object_get(req, "seq"));

	if (seq > srv->engine.feed_head) {
		audit_log(c, "ack %s %lld: refused: beyond the feed head",
		    consumer, (long long)seq);
		conn_reply_error(c, "seq %lld is beyond the feed head %lld",
		    (long long)seq, (long long)srv->engine.feed_head);
		return;
	}
	if (store_begin(srv->store) == -1 ||
	    store_exec_q(srv->store, Q_CONSUMER_SET, "ti", consumer, seq) ==
	        -1 ||
	    store_commit(srv->store) == -1) {
		store_rollback(srv->store);
		audit_log(c, "ack %s %lld: failed: %s", consumer,
		    (long long)seq, store_errmsg(srv->store));
		conn_reply_error(
		    c, "cannot store the cursor: %s", store_errmsg(srv->store));
		return;
	}
	audit_log(c, "ack %s %lld: ok", consumer, (long long)seq);
	conn_reply_ok(c,
	    json_pack(
	        "{s:s,s:I}", "consumer", consumer, "seq", (json_int_t)seq));
}

/*
 * backup (§7): a thread copies the database (store_backup_start());
 * the client's reply waits (CONN_MORE_WAIT) until server_background()
 * sees the copy end.  A client that goes away leaves the job to end
 * on its own.
 */
struct backup_job {
	struct server *srv;
	struct conn *c; /* NULL once the client is gone */
	struct store_backup *b;
	bool ended, ok;
	int64_t bytes;
	char err[STORE_ERR_LEN];
	char *path;
	struct backup_job *next;
};

static void
backup_job_free(struct backup_job *j)
{
	struct backup_job **p;

	for (p = &j->srv->backups; *p != NULL; p = &(*p)->next)
		if (*p == j) {
			*p = j->next;
			break;
		}
	free(j->path);
	free(j);
}

static void
backup_conn_gone(void *arg)
{
	struct backup_job *j = arg;

	j->c = NULL;
	if (j->ended)
		backup_job_free(j);
}

static int
backup_more(struct conn *c, void *arg)
{
	struct backup_job *j = arg;

	if (!j->ended)
		return CONN_MORE_WAIT;
	if (j->ok)
		conn_reply_ok(c,
		    json_pack("{s:s,s:I}", "path", j->path, "bytes",
		        (json_int_t)j->bytes));
	else
		conn_reply_error(c, "backup: %s", j->err);
	return 1;
}

static void
cmd_backup(struct server *srv, struct conn *c, json_t *req)
{
	const char *path = json_string_value(json_object_get(req, "path"));
	struct backup_job *j;
	char err[STORE_ERR_LEN];
	struct store_backup *b;

	if (path[0] != '/') {
		audit_log(c, "backup %s: refused: not an absolute path", path);
		conn_reply_error(c, "path: must be an absolute path");
		return;
	}
	if ((b = store_backup_start(srv->store, path, err, sizeof(err))) ==
	    NULL) {
		audit_log(c, "backup %s: refused: %s", path, err);
		conn_reply_error(c, "backup: %s", err);
		return;
	}
	audit_log(c, "backup %s: started", path);
	log_info("store: backup to %s started", path);
	j = xcalloc(1, sizeof(*j));
	j->srv = srv;
	j->c = c;
	j->b = b;
	j->path = xstrdup(path);
	j->next = srv->backups;
	srv->backups = j;
	conn_set_more(c, backup_more, j, backup_conn_gone);
}

static void send_all(struct conn *c, json_t *arr);

/*
 * report kpi (§7): months 1-KPI_MONTHS_MAX, default 6.  A thread
 * computes it (kpi.h) while the loop serves the other clients; the
 * reply waits (CONN_MORE_WAIT) until the thread, as it ends, wakes the
 * loop (srv->wake) and server_background() sees it.  A client that goes away leaves the run to end on its
 * own.
 */
struct kpi_run {
	struct server *srv;
	struct conn *c;      /* NULL once the client is gone */
	struct kpi_job *job; /* NULL once finished */
	json_t *out;
	int rc;
	char err[STORE_ERR_LEN];
	struct kpi_run *next;
};

static void
kpi_run_free(struct kpi_run *r)
{
	struct kpi_run **p;

	for (p = &r->srv->kpis; *p != NULL; p = &(*p)->next)
		if (*p == r) {
			*p = r->next;
			break;
		}
	if (r->job != NULL)
		kpi_finish(r->job, true, r->out, r->err, sizeof(r->err));
	json_decref(r->out);
	free(r);
}

static void
kpi_conn_gone(void *arg)
{
	struct kpi_run *r = arg;

	r->c = NULL;
	if (r->job == NULL)
		kpi_run_free(r);
}

static int
kpi_more(struct conn *c, void *arg)
{
	struct kpi_run *r = arg;

	if (r->job != NULL)
		return CONN_MORE_WAIT;
	if (r->rc == -1)
		conn_reply_error(
		    c, "report kpi: cannot read the database: %s", r->err);
	else {
		send_all(c, r->out);
		r->out = NULL;
	}
	return 1;
}

static void
report_kpi(struct server *srv, struct conn *c, json_t *req)
{
	json_t *m = json_object_get(req, "months");
	json_int_t months =
	    m != NULL ? json_integer_value(m) : KPI_MONTHS_DEFAULT;
	struct kpi_job *job;
	struct kpi_run *r;

	if (months < 1 || months > KPI_MONTHS_MAX) {
		conn_reply_error(c, "months: must be 1-%d", KPI_MONTHS_MAX);
		return;
	}
	job = kpi_start(&srv->engine, srv->rules, server_now(srv), (int)months,
	    srv->wake, srv->wake_arg);
	if (job == NULL) {
		conn_reply_error(c, "report kpi: cannot read the database: %s",
		    store_errmsg(srv->store));
		return;
	}
	r = xcalloc(1, sizeof(*r));
	r->srv = srv;
	r->c = c;
	r->job = job;
	r->out = json_array();
	r->next = srv->kpis;
	srv->kpis = r;
	conn_set_more(c, kpi_more, r, kpi_conn_gone);
}

/* The runs whose thread ended: their replies go on. */
static void
kpi_runs_check(struct server *srv)
{
	struct kpi_run *r, *next;

	for (r = srv->kpis; r != NULL; r = next) {
		next = r->next;
		if (r->job == NULL || !kpi_ended(r->job))
			continue;
		r->rc =
		    kpi_finish(r->job, false, r->out, r->err, sizeof(r->err));
		r->job = NULL;
		if (r->rc == -1)
			log_warnx("report kpi: %s", r->err);
		if (r->c != NULL)
			conn_wake(r->c);
		else
			kpi_run_free(r);
	}
}

bool
server_background(struct server *srv)
{
	struct backup_job *j, *next;
	struct kpi_run *r;

	for (j = srv->backups; j != NULL; j = next) {
		next = j->next;
		if (j->ended || !store_backup_ended(j->b))
			continue;
		j->ended = true;
		j->ok = store_backup_finish(j->b, false, &j->bytes, j->err,
		            sizeof(j->err)) == 0;
		j->b = NULL;
		if (j->ok)
			log_info("store: backup to %s done (%lld bytes)",
			    j->path, (long long)j->bytes);
		else
			log_warnx(
			    "store: backup to %s failed: %s", j->path, j->err);
		if (j->c != NULL)
			conn_wake(j->c);
		else
			backup_job_free(j);
	}
	kpi_runs_check(srv);
	for (r = srv->kpis; r != NULL; r = r->next)
		if (r->job != NULL)
			return true;
	for (j = srv->backups; j != NULL; j = j->next)
		if (!j->ended)
			return true;
	return false;
}

void
server_stop_background(struct server *srv)
{
	struct backup_job *j;
	int64_t bytes;

	while ((j = srv->backups) != NULL) {
		if (j->b != NULL) {
			store_backup_finish(
			    j->b, true, &bytes, j->err, sizeof(j->err));
			log_info("store: backup to %s stopped: shutting down",
			    j->path);
		}
		srv->backups = j->next;
		free(j->path);
		free(j);
	}
	/* Reports under way stop: their clients are gone already. */
	while (srv->kpis != NULL)
		kpi_run_free(srv->kpis);
}

/* consumers (§7): every consumer with its cursor and lag, by name. */
static void
cmd_consumers(struct server *srv, struct conn *c, json_t *req)
{
	struct store *s = srv->store;
	int64_t cursor;
	int rc;

	(void)req;
	for (rc = store_q(s, Q_CONSUMERS, ""); rc == 1;
	     rc = store_next(s, Q_CONSUMERS)) {
		cursor = store_col_int(s, Q_CONSUMERS, 1);
		conn_send(c,
		    json_pack("{s:s,s:I,s:I}", "consumer",
		        store_col_text(s, Q_CONSUMERS, 0), "cursor",
		        (json_int_t)cursor, "lag",
		        (json_int_t)(srv->engine.feed_head - cursor)));
	}
	store_done(s, Q_CONSUMERS);
	if (rc == -1)
		conn_reply_error(c, "database error: see the daemon's log");
	else
		conn_reply_ok(c, NULL);
}

static void clock_request(struct server *srv, struct conn *c, json_t *req);

/* clock (§7), audited with the clock it left. */
static void
cmd_clock(struct server *srv, struct conn *c, json_t *req)
{
	const char *set = json_string_value(json_object_get(req, "set"));
	const char *adv = json_string_value(json_object_get(req, "advance"));
	char ts[CLOCK_TS_LEN];

	clock_request(srv, c, req);
	clock_format_ts(server_now(srv), ts);
	audit_log(c, "clock %s %s: now %s", set != NULL ? "set" : "advance",
	    set != NULL ? set : (adv != NULL ? adv : "-"), ts);
}

static void
clock_request(struct server *srv, struct conn *c, json_t *req)
{
	const char *set = json_string_value(json_object_get(req, "set"));
	const char *adv = json_string_value(json_object_get(req, "advance"));
	int64_t now, to, d;
	const char *why = NULL;

	/* Batches that arrived before this request go first (§2.4). */
	server_flush(srv);
	now = server_now(srv);

	if (!clock_is_test()) {
		conn_reply_error(c,
		    "clock: dunnd runs on the wall clock "
		    "(start it with --test-clock)");
		return;
	}
	if ((set == NULL) == (adv == NULL)) {
		conn_reply_error(c, "clock: give exactly one of set, advance");
		return;
	}
	if (set != NULL) {
		if (clock_parse_ts(set, strlen(set), &to, &why) == -1) {
			conn_reply_error(c, "clock set: %s: %s", set, why);
			return;
		}
	} else {
		if (clock_parse_duration(adv, strlen(adv), &d, &why) == -1) {
			conn_reply_error(c, "clock advance: %s: %s", adv, why);
			return;
		}
		to = now + d;
	}
	if (to < now) {
		char buf[CLOCK_TS_LEN];

		clock_format_ts(now, buf);
		conn_reply_error(
		    c, "clock: %s is before the current time %s", set, buf);
		return;
	}
	/* §1: years up to 9999, in the portfolio's zone too. */
	if (clock_local_date(to) > CLOCK_MAX_DAY) {
		conn_reply_error(c,
		    "clock: %s is after 9999-12-31T23:59:59 in the "
		    "portfolio's zone",
		    set != NULL ? set : "the time advanced to");
		return;
	}
	switch (engine_run_until(&srv->engine, to)) {
	case -1:
		conn_reply_error(c, "clock: a step failed to commit: %s",
		    store_errmsg(srv->store));
		return;
	case 1: /* SIGTERM: the clock stays where the moments got to */
		clock_test_set(srv->engine.clock_pos);
		conn_reply_error(c, "shutting down");
		return;
	}
	clock_test_set(to);
	conn_reply_ok(c, json_pack("{s:o}", "now", eval_json_ts(to)));
}

static void
cmd_explain(struct server *srv, struct conn *c, json_t *req)
{
	const char *id = json_string_value(json_object_get(req, "account"));
	struct acct *a = engine_get(&srv->engine, id);
	json_t *rec;

	if (a == NULL) {
		conn_reply_error(c, "unknown account %s", id);
		return;
	}
	rec = explain_account(&srv->engine, a, server_now(srv));
	if (rec == NULL) {
		conn_reply_error(c, "database error: see the daemon's log");
		return;
	}
	conn_send(c, rec);
	conn_reply_ok(c, NULL);
}

/* Sends every element of arr as a data record, then the final one. */
static void
send_all(struct conn *c, json_t *arr)
{
	json_t *v;
	size_t i;

	json_array_foreach(arr, i, v)
	{
		json_incref(v);
		conn_send(c, v);
	}
	json_decref(arr);
	conn_reply_ok(c, NULL);
}

static void
cmd_report(struct server *srv, struct conn *c, json_t *req)
{
	const char *name = json_string_value(json_object_get(req, "name"));
	json_t *out;

	if (strcmp(name, "kpi") == 0) {
		report_kpi(srv, c, req);
		return;
	}
	if (strcmp(name, "aging") != 0) {
		conn_reply_error(
		    c, "unknown report %s (reports: aging, kpi)", name);
		return;
	}
	out = json_array();
	explain_aging(&srv->engine, server_now(srv), out);
	send_all(c, out);
}

static void
cmd_simulate(struct server *srv, struct conn *c, json_t *req)
{
	json_t *files = json_object_get(req, "files"), *f, *out;
	const char **names, **texts;
	struct ruleset *rs;
	struct diags ds;
	char msg[DIAG_MSG_MAX + 300];
	size_t n = json_array_size(files), i;

	names = xcalloc(n + 1, sizeof(*names));
	texts = xcalloc(n + 1, sizeof(*texts));
	json_array_foreach(files, i, f)
	{
		names[i] = json_string_value(json_object_get(f, "name"));
		texts[i] = json_string_value(json_object_get(f, "text"));
	}
	diags_init(&ds);
	rs = rules_load_files(names, texts, n, &ds);
	free(names);
	free(texts);
	if (rs == NULL) {
		for (i = 0; i < ds.n; i++) {
			snprintf(msg, sizeof(msg), "%s:%d: %s", ds.v[i].file,
			    ds.v[i].line, ds.v[i].msg);
			conn_send(c,
			    json_pack("{s:s,s:s%}", "level",
			        ds.v[i].warning ? "warning" : "error",
			        "message", msg, strlen(msg)));
		}
		conn_reply_error(
		    c, "simulate: the rule set has %zu errors", ds.errors);
		diags_fini(&ds);
		return;
	}
	diags_fini(&ds);
	out = json_array();
	explain_simulate(&srv->engine, rs, server_now(srv), out);
	rules_free(rs);
	send_all(c, out);
}

static void
cmd_metrics(struct server *srv, struct conn *c, json_t *req)
{
	char *text = metrics_text(srv);

	(void)req;
	if (text == NULL) {
		conn_reply_error(c, "metrics: cannot read the database: %s",
		    store_errmsg(srv->store));
		return;
	}
	conn_send(c, json_pack("{s:s}", "text", text));
	free(text);
	conn_reply_ok(c, NULL);
}

static void (*const handlers[CMD_COUNT])(
    struct server *, struct conn *, json_t *) = {
	[CMD_STATUS] = cmd_status,
	[CMD_INGEST] = cmd_ingest,
	[CMD_ACCOUNTS] = cmd_accounts,
	[CMD_EXPLAIN] = cmd_explain,
	[CMD_TASKS] = cmd_tasks,
	[CMD_FEED] = cmd_feed,
	[CMD_ACK] = cmd_ack,
	[CMD_RELOAD] = cmd_reload,
	[CMD_SIMULATE] = cmd_simulate,
	[CMD_REPORT] = cmd_report,
	[CMD_CLOCK] = cmd_clock,
	[CMD_CONSUMERS] = cmd_consumers,
	[CMD_BACKUP] = cmd_backup,
	[CMD_METRICS] = cmd_metrics,
};

void
server_request(struct server *srv, struct conn *c, const char *line, size_t len)
{
	struct proto_request req;
	char err[PROTO_ERR_LEN];
	int rc;

	rc = proto_decode(line, len, &req, err, sizeof(err));
	if (rc == 0 && proto_cmd_info(req.cmd)->admin && !conn_is_admin(c) &&
	    !(proto_consumer_may(req.cmd) && conn_is_consumer(c))) {
		rc = -1;
		snprintf(err, sizeof(err), "permission denied");
		audit_log(c, "%s: refused: permission denied",
		    proto_cmd_info(req.cmd)->name);
	}
	if (rc != 0) {
		/* §8: a refused request's body is read and thrown away. */
		if (req.bytes > 0)
			conn_read_body(c, req.bytes, true, 0);
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

/*
 * Ingest (§2.4).  A batch whose body has arrived waits in the queue
 * until the loop's commit point (server_flush(), called before the loop
 * sleeps): every batch that arrived meanwhile is then processed in
 * arrival order, each in its own savepoint, and committed together.
 * Replies follow the commit.
 */
/* Batches this large are followed by malloc_trim(). */
#define TRIM_BYTES (1024 * 1024)

struct pending {
	struct conn *c;
	char *data;
	size_t len;
	int flags;
	struct ingest_batch b;
	struct pending *next;
};

void
server_body(
    struct server *srv, struct conn *c, char *data, size_t len, int flags)
{
	struct pending *p = xcalloc(1, sizeof(*p));

	p->c = c;
	p->data = data;
	p->len = len;
	p->flags = flags;
	*srv->queue_tail = p;
	srv->queue_tail = &p->next;
}

/*
 * §2.4: batches in the order their last byte arrived.  Those completed in
 * one loop iteration arrived together as far as anyone can tell (libev
 * runs ready watchers in no arrival order): they go in the order their
 * connections were accepted, so a client that connects, then sends, goes
 * before one that connected after it.  A stable insertion sort: the
 * list holds at most one batch per connection.
 */
static struct pending *
arrival_order(struct pending *head)
{
	struct pending *sorted = NULL, *p, **at;

	while (head != NULL) {
		p = head;
		head = head->next;
		at = &sorted;
		while (
		    *at != NULL && conn_serial((*at)->c) <= conn_serial(p->c))
			at = &(*at)->next;
		p->next = *at;
		*at = p;
	}
	return sorted;
}

static void
reply_batch(struct conn *c, struct ingest_batch *b, bool bad_only)
{
	struct ingest_result *r;
	json_t *rec, *counts;
	size_t i;
	int s;

	for (i = 0; i < b->n; i++) {
		r = &b->v[i];
		if (bad_only && r->status == INGEST_OK)
			continue;
		rec = json_pack("{s:I,s:s}", "line", (json_int_t)r->line,
		    "status", ingest_status_name(r->status));
		if (r->status == INGEST_ERROR) {
			json_object_set_new(rec, "field",
			    r->field != NULL ? json_string(r->field)
			                     : json_null());
			json_object_set_new(
			    rec, "error", json_string(r->error));
		}
		conn_send(c, rec);
	}
	counts = json_object();
	for (s = 0; s < INGEST_NSTATUS; s++)
		json_object_set_new(counts,
		    ingest_status_name((enum ingest_status)s),
		    json_integer(b->counts[s]));
	if (b->counts[INGEST_ERROR] == 0 && b->committed)
		conn_reply_ok(c, json_pack("{s:o}", "counts", counts));
	else
		conn_reply_final(c,
		    json_pack("{s:b,s:s,s:o}", "ok", 0, "error",
		        b->cause[0]
		            ? b->cause
		            : (b->committed
		                      ? "some lines were refused"
		                      : "batch refused: nothing committed"),
		        "counts", counts));
}

void
server_flush(struct server *srv)
{
	struct pending *head = srv->queue, *p, *next;
	struct engine *e = &srv->engine;
	char cause[sizeof(head->b.cause)];
	size_t bytes = 0;
	bool began;
	int64_t now, t0 = clock_mono_ns(), t1;
	int rc;

	if (head == NULL)
		return;
	srv->queue = NULL;
	srv->queue_tail = &srv->queue;
	head = arrival_order(head);
	/* §4.3: due moments before the batches' now come first. */
	now = server_now(srv);
	if ((rc = engine_run_until(e, now)) != 0) {
		if (rc == 1)
			snprintf(cause, sizeof(cause), "shutting down");
		else
			snprintf(cause, sizeof(cause),
			    "cannot process the due moments before the "
			    "batch: %s",
			    store_errmsg(srv->store));
		began = false;
	} else {
		began = engine_step_begin(e, now) == 0;
		if (!began)
			snprintf(cause, sizeof(cause),
			    "cannot begin a transaction: %s",
			    store_errmsg(srv->store));
	}
	{
		size_t n = 0;

		for (p = head; p != NULL; p = p->next)
			n++;
		log_debug("ingest: %zu batch(es) in one transaction", n);
	}
	for (p = head; p != NULL; p = p->next) {
		if (began)
			ingest_batch(e, p->data, p->len,
			    p->flags & SERVER_SKIP_BAD, &p->b);
		else {
			/* Validation still reports every bad line. */
			ingest_batch(e, p->data, p->len,
			    p->flags & SERVER_SKIP_BAD, &p->b);
			ingest_fail(&p->b, cause);
		}
	}
	t1 = clock_mono_ns();
	metrics_observe(&srv->metrics.eval, t1 - t0);
	if (began && engine_step_end(e, true) == -1) {
		snprintf(cause, sizeof(cause), "commit failed: %s",
		    store_errmsg(srv->store));
		for (p = head; p != NULL; p = p->next)
			if (p->b.committed)
				ingest_fail(&p->b, cause);
	}
	if (began)
		metrics_observe(&srv->metrics.commit, clock_mono_ns() - t1);
	for (p = head; p != NULL; p = next) {
		next = p->next;
		ingest_finish(&p->b);
		metrics_count_batch(&srv->metrics, p->b.counts);
		audit_log(p->c,
		    "ingest: %lld ok, %lld duplicate, %lld error, %lld rolled_back: %s",
		    (long long)p->b.counts[INGEST_OK],
		    (long long)p->b.counts[INGEST_DUPLICATE],
		    (long long)p->b.counts[INGEST_ERROR],
		    (long long)p->b.counts[INGEST_ROLLED_BACK],
		    p->b.committed ? "committed" : "nothing committed");
		bytes += p->len;
		reply_batch(p->c, &p->b, (p->flags & SERVER_BAD_ONLY) != 0);
		ingest_batch_fini(&p->b);
		free(p->data);
		free(p);
	}
#ifdef __GLIBC__
	/*
	 * A large batch leaves its body, results and undo copies freed in
	 * the middle of the heap: give those pages back (targets.md P5).
	 */
	if (bytes >= TRIM_BYTES)
		malloc_trim(0);
#endif
}

/* The alert names of rs, for engine_reload(). */
static const char **
alert_names(const struct ruleset *rs)
{
	const char **v = xcalloc(rs->nalerts + 1, sizeof(*v));
	size_t i;

	for (i = 0; i < rs->nalerts; i++)
		v[i] = rs->alerts[i].name;
	return v;
}

void
server_reload(struct server *srv, struct conn *c)
{
	struct ruleset *rs;
	struct diags ds;
	char msg[DIAG_MSG_MAX + 300];
	const char **names;
	size_t i;
	int rc = 0;

	/* Batches that arrived before the reload go first. */
	server_flush(srv);
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
		/* SIGHUP (systemctl reload): the log is where they show. */
		if (ds.v[i].warning)
			log_warnx("rules: %s:%d: warning: %s", ds.v[i].file,
			    ds.v[i].line, ds.v[i].msg);
		else
			log_warnx("rules: %s", msg);
	}
	if (rs != NULL) {
		/* §4.7: every account evaluated at that moment, committed. */
		rc = server_catch_up(srv);
		srv->last_reload_at = server_now(srv);
		if (rc == 0) {
			names = alert_names(srv->rules);
			rc = engine_reload(&srv->engine, rs,
			    srv->last_reload_at, names, srv->rules->nalerts);
			free(names);
		}
		if (rc == 1) { /* SIGTERM during the catch-up */
			log_info("rules: reload not done: stopping");
			if (c != NULL)
				conn_reply_error(c, "shutting down");
		} else if (rc == -1) {
			log_err("rules: reload failed to commit: %s",
			    store_errmsg(srv->store));
			if (c != NULL)
				conn_reply_error(c,
				    "reload failed to commit: %s",
				    store_errmsg(srv->store));
		}
		if (rc != 0) {
			audit_log(c, "reload: not done");
			rules_free(rs);
			srv->last_reload_ok = false;
			loop_notify("READY=1");
			diags_fini(&ds);
			return;
		}
	}
	srv->last_reload_ok = rs != NULL;
	if (rs == NULL) {
		audit_log(c, "reload: refused: %zu %s", ds.errors,
		    ds.errors == 1 ? "error" : "errors");
		log_err("rules: reload refused: %zu %s, keeping %s", ds.errors,
		    ds.errors == 1 ? "error" : "errors", srv->rules->version);
		if (c != NULL)
			conn_reply_error(c, "reload refused: %zu %s", ds.errors,
			    ds.errors == 1 ? "error" : "errors");
	} else {
		audit_log(c, "reload: ok, version %s", rs->version);
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

int
server_start_rules(struct server *srv)
{
	char *stored = NULL, *text = NULL;
	const char **names = NULL;
	json_t *arr = NULL, *v;
	size_t n = 0, i;
	int rc;

	if (store_meta_get_text(srv->store, "rules_version", &stored) == -1)
		return -1;
	if (stored != NULL && strcmp(stored, srv->rules->version) == 0 &&
	    srv->engine.lost.n == 0) {
		free(stored);
		return 0;
	}
	/* Alert names the stored cooldowns are kept by. */
	if (store_meta_get_text(srv->store, "alerts", &text) == 1)
		arr = json_loads(text, 0, NULL);
	free(text);
	names = xcalloc(json_array_size(arr) + 1, sizeof(*names));
	json_array_foreach(arr, i, v) names[n++] = json_string_value(v);
	if (stored != NULL)
		log_info("rules: changed while stopped (%s, now %s): "
		         "reloading at the stored clock position",
		    stored, srv->rules->version);
	rc = engine_reload(
	    &srv->engine, srv->rules, engine_start_pos(&srv->engine), names, n);
	free(names);
	json_decref(arr);
	free(stored);
	return rc;
}
