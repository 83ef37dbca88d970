/*
 * metrics — the Prometheus text exposition of dunnd (metrics.h).
 *
 * Called by server for the `metrics` request; reads the server's state,
 * the engine's accounts (memory), two indexed queries (open tasks by
 * type, the consumers) and the sizes of the database files.  Names
 * follow Prometheus conventions: the dunnd_ prefix, _total for
 * counters, _seconds and _bytes for units, # HELP and # TYPE before
 * every family.
 */
#include "metrics.h"

#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "engine.h"
#include "ingest.h"
#include "log.h"
#include "rules.h"
#include "server.h"
#include "socket.h"
#include "store.h"
#include "util.h"

/* Bucket bounds in seconds: from a fast COMMIT to a huge batch. */
static const double bounds[METRICS_NBUCKETS] = { 0.0005, 0.001, 0.0025, 0.005,
	0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10 };

void
metrics_observe(struct metrics_hist *h, int64_t ns)
{
	double s = (double)ns / 1e9;
	int i;

	for (i = 0; i < METRICS_NBUCKETS && s > bounds[i]; i++)
		;
	h->bucket[i]++;
	h->count++;
	h->sum_ns += ns;
}

void
metrics_count_batch(struct metrics *m, const int64_t counts[4])
{
	int i;

	for (i = 0; i < 4; i++)
		m->events[i] += counts[i];
	m->batches++;
}

/* A label value: backslash, double quote and newline escaped. */
static void
label(struct buf *b, const char *v)
{
	for (; *v != '\0'; v++) {
		if (*v == '\\' || *v == '"')
			buf_printf(b, "\\%c", *v);
		else if (*v == '\n')
			buf_printf(b, "\\n");
		else
			buf_append(b, v, 1);
	}
}

static void
family(struct buf *b, const char *name, const char *type, const char *help)
{
	buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void
sample(struct buf *b, const char *name, const char *lname, const char *lval,
    int64_t v)
{
	buf_printf(b, "%s", name);
	if (lname != NULL) {
		buf_printf(b, "{%s=\"", lname);
		label(b, lval);
		buf_printf(b, "\"}");
	}
	buf_printf(b, " %lld\n", (long long)v);
}

static void
histogram(struct buf *b, const char *name, const char *help,
    const struct metrics_hist *h)
{
	int64_t cum = 0;
	int i;

	family(b, name, "histogram", help);
	for (i = 0; i < METRICS_NBUCKETS; i++) {
		cum += h->bucket[i];
		buf_printf(b, "%s_bucket{le=\"%g\"} %lld\n", name, bounds[i],
		    (long long)cum);
	}
	buf_printf(
	    b, "%s_bucket{le=\"+Inf\"} %lld\n", name, (long long)h->count);
	buf_printf(b, "%s_sum %.9f\n", name, (double)h->sum_ns / 1e9);
	buf_printf(b, "%s_count %lld\n", name, (long long)h->count);
}

/* The size of path in bytes; 0 when it does not exist. */
static int64_t
file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (int64_t)st.st_size : 0;
}

/* The process's resident set in bytes (/proc/self/statm), 0 unknown. */
static int64_t
resident_bytes(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	long long size, rss;
	int n;

	if (f == NULL)
		return 0;
	n = fscanf(f, "%lld %lld", &size, &rss);
	fclose(f);
	return n == 2 ? rss * (int64_t)sysconf(_SC_PAGESIZE) : 0;
}

/* Open tasks per type (every type, 0 included) and the oldest's age. */
static int
tasks_open(struct server *srv, struct buf *b, int64_t now)
{
	struct store *s = srv->store;
	int64_t count[RULES_TASK_COUNT] = { 0 }, oldest = INT64_MAX, v;
	const char *type;
	int rc, t;

	for (rc = store_q(s, Q_METRICS_TASKS, ""); rc == 1;
	     rc = store_next(s, Q_METRICS_TASKS)) {
		type = store_col_text(s, Q_METRICS_TASKS, 0);
		for (t = 0; t < RULES_TASK_COUNT; t++)
			if (strcmp(rules_task_type_name(t), type) == 0)
				count[t] +=
				    store_col_int(s, Q_METRICS_TASKS, 1);
		v = store_col_int(s, Q_METRICS_TASKS, 2);
		if (v < oldest)
			oldest = v;
	}
	store_done(s, Q_METRICS_TASKS);
	if (rc == -1)
		return -1;
	family(b, "dunnd_tasks_open", "gauge", "Open tasks per task type.");
	for (t = 0; t < RULES_TASK_COUNT; t++)
		sample(b, "dunnd_tasks_open", "type", rules_task_type_name(t),
		    count[t]);
	family(b, "dunnd_oldest_open_task_age_seconds", "gauge",
	    "Age of the oldest open task (0 when no task is open).");
	sample(b, "dunnd_oldest_open_task_age_seconds", NULL, NULL,
	    oldest == INT64_MAX || oldest > now ? 0 : now - oldest);
	return 0;
}

static int
consumers(struct server *srv, struct buf *b)
{
	struct store *s = srv->store;
	struct buf lag, cur;
	int64_t head = srv->engine.feed_head, c;
	const char *name;
	int rc;

	buf_init(&lag);
	buf_init(&cur);
	for (rc = store_q(s, Q_METRICS_CONSUMERS, ""); rc == 1;
	     rc = store_next(s, Q_METRICS_CONSUMERS)) {
		name = store_col_text(s, Q_METRICS_CONSUMERS, 0);
		c = store_col_int(s, Q_METRICS_CONSUMERS, 1);
		sample(&lag, "dunnd_consumer_lag", "consumer", name,
		    head > c ? head - c : 0);
		sample(&cur, "dunnd_consumer_cursor", "consumer", name, c);
	}
	store_done(s, Q_METRICS_CONSUMERS);
	if (rc != -1) {
		family(b, "dunnd_consumer_lag", "gauge",
		    "Feed records a consumer has not acknowledged (feed head - cursor).");
		buf_append(b, buf_data(&lag), buf_size(&lag));
		family(b, "dunnd_consumer_cursor", "gauge",
		    "The last feed seq a consumer acknowledged.");
		buf_append(b, buf_data(&cur), buf_size(&cur));
	}
	buf_fini(&lag);
	buf_fini(&cur);
	return rc == -1 ? -1 : 0;
}

static const char *const status_names[4] = { "ok", "duplicate", "error",
	"rolled_back" };

char *
metrics_text(struct server *srv)
{
	const struct ruleset *rs = srv->rules;
	struct metrics *m = &srv->metrics;
	struct acct *const *all;
	struct buf b;
	char *path = NULL, *out;
	int64_t *counts, now = server_now(srv);
	size_t i, n;

	buf_init(&b);
	all = engine_sorted(&srv->engine, &n);
	counts = xcalloc(rs->nstages + 1, sizeof(*counts));
	for (i = 0; i < n; i++)
		if (all[i]->stage < rs->nstages)
			counts[all[i]->stage]++;
	family(&b, "dunnd_accounts", "gauge", "Accounts per collection stage.");
	for (i = 0; i < rs->nstages; i++)
		sample(&b, "dunnd_accounts", "stage", rs->stages[i].name,
		    counts[i]);
	free(counts);
	if (tasks_open(srv, &b, now) == -1 || consumers(srv, &b) == -1)
		goto fail;
	family(&b, "dunnd_feed_head", "gauge", "The last feed seq committed.");
	sample(&b, "dunnd_feed_head", NULL, NULL, srv->engine.feed_head);
	family(&b, "dunnd_events_total", "counter",
	    "Ingested event lines by result since dunnd started.");
	for (i = 0; i < 4; i++)
		sample(&b, "dunnd_events_total", "status", status_names[i],
		    m->events[i]);
	family(&b, "dunnd_batches_total", "counter",
	    "Ingest batches processed since dunnd started.");
	sample(&b, "dunnd_batches_total", NULL, NULL, m->batches);
	histogram(&b, "dunnd_batch_commit_seconds",
	    "Duration of the COMMIT of a group of ingest batches.", &m->commit);
	histogram(&b, "dunnd_evaluation_seconds",
	    "Duration of the validation, application and evaluation of a group of ingest batches, before its COMMIT.",
	    &m->eval);
	family(&b, "dunnd_reloads_total", "counter",
	    "Rule reloads (SIGHUP and reload requests, refused ones included) since dunnd started.");
	sample(&b, "dunnd_reloads_total", NULL, NULL, srv->reloads);
	family(&b, "dunnd_last_reload_success", "gauge",
	    "1 when the last reload succeeded (or none was made yet), else 0.");
	sample(&b, "dunnd_last_reload_success", NULL, NULL,
	    !srv->has_last_reload || srv->last_reload_ok);
	family(&b, "dunnd_rules_info", "gauge",
	    "The version of the live rule set, as a label.");
	sample(&b, "dunnd_rules_info", "version", rs->version, 1);
	family(&b, "dunnd_clock_position_seconds", "gauge",
	    "Unix time up to which every due moment has been processed.");
	sample(&b, "dunnd_clock_position_seconds", NULL, NULL,
	    srv->engine.clock_pos);
	family(&b, "dunnd_start_time_seconds", "gauge",
	    "Unix time at which dunnd started.");
	sample(&b, "dunnd_start_time_seconds", NULL, NULL, srv->started);
	family(&b, "dunnd_clients", "gauge", "Connected control clients.");
	sample(&b, "dunnd_clients", NULL, NULL,
	    (int64_t)sock_nclients(srv->listener));
	family(&b, "dunnd_database_bytes", "gauge",
	    "Size of the SQLite database file.");
	sample(&b, "dunnd_database_bytes", NULL, NULL,
	    file_size(srv->conf->database));
	path = xmalloc(strlen(srv->conf->database) + 5);
	sprintf(path, "%s-wal", srv->conf->database);
	family(&b, "dunnd_wal_bytes", "gauge",
	    "Size of the database's write-ahead log.");
	sample(&b, "dunnd_wal_bytes", NULL, NULL, file_size(path));
	free(path);
	family(&b, "dunnd_resident_memory_bytes", "gauge",
	    "Resident set size of the dunnd process.");
	sample(&b, "dunnd_resident_memory_bytes", NULL, NULL, resident_bytes());
	buf_append(&b, "", 1);
	out = xstrdup(buf_data(&b));
	buf_fini(&b);
	return out;
fail:
	buf_fini(&b);
	return NULL;
}
