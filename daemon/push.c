/*
 * push — the loop of dunnd-push: two connections to dunnd's control
 * socket, one HTTP client, a handful of timers.
 *
 *   feed connection   {"cmd":"feed","consumer":C,"follow":true}: records
 *                     from the consumer's cursor + 1, then as committed
 *   ctl connection    status (feed_id, zone), ack, tasks (a task's type)
 *   pushhttp          one POST at a time, in seq order
 *
 * Two connections because dunnd reads no further request from a client
 * while a reply (the endless feed) is pending.
 *
 * Invariants:
 * (1) The cursor moves (ack) only to the LAST of a batch that got a
 *     complete 2xx or went to the dead letter file, or of a range of
 *     filtered-out records only; never beyond what was delivered.
 * (2) Batches go out one at a time, in seq order; a failed one is sent
 *     again (same records, same key) until it succeeds or is
 *     dead-lettered.
 * (3) When dunnd goes away everything not acknowledged is dropped (the
 *     request in flight abandoned) and read again from the stored
 *     cursor after reconnecting: at least once, never a gap.
 */
#include "push.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ev.h>
#include <jansson.h>
#include <sodium.h>
#include <systemd/sd-daemon.h>

#include "clock.h"
#include "lines.h"
#include "log.h"
#include "protocol.h"
#include "pushconf.h"
#include "pushhttp.h"
#include "pushq.h"
#include "util.h"

#define FEED_LINE_MAX    (16 * 1024 * 1024) /* a record; dunnd's are far less */
#define READ_CHUNK       (64 * 1024)
#define QUEUE_BYTES_MAX  (64 * 1024 * 1024) /* then stop reading the feed */
#define RECONNECT_MIN_MS 100
#define RECONNECT_MAX_MS 5000

struct push;

struct dconn {
	struct push *p;
	int fd; /* -1 closed */
	bool is_feed;
	ev_io rd, wr;
	struct lines lr;
	struct buf out;
};

enum ctl_kind {
	CTL_STATUS,
	CTL_ACK,
	CTL_TASKS
};

/* A request on the ctl connection, waiting for its reply (in order). */
struct ctl_req {
	enum ctl_kind kind;
	int64_t seq;   /* CTL_ACK */
	char task[65]; /* CTL_TASKS: the task whose type is asked */
	char *type;    /* its type once a record named it */
};

enum bstate {
	B_IDLE,
	B_SENDING,
	B_WAITING
};

struct push {
	const struct pushconf *conf;
	struct ev_loop *ev;
	struct pushq q;
	struct pushhttp *http;
	struct dconn feed, ctl;
	bool up;       /* status answered: batches may go */
	int64_t up_ms; /* when (monotonic ms) */
	bool feed_paused;
	int failures; /* connection attempts failed in a row */
	char last_why[256];
	ev_timer reconnect, linger, retry, watchdog;
	ev_signal sigterm, sigint, sighup;
	char feed_id[80];
	bool have_feed_id;
	struct ctl_req *reqs; /* FIFO reqs[rhead, rtail) */
	size_t rhead, rtail, rcap;
	enum bstate bstate;
	struct pushq_batch batch;
	int attempts; /* of the current batch */
	int n4xx;     /* its 4xx answers counted for give_up_after */
	char *rbuf;
};

static void try_form(struct push *p);
static void lost(struct push *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static size_t
queue_limit(const struct push *p)
{
	return (size_t)p->conf->batch_max * 4 + 1000;
}

/* --- dunnd connections --------------------------------------------- */

static void
dconn_close(struct dconn *c)
{
	if (c->fd == -1)
		return;
	ev_io_stop(c->p->ev, &c->rd);
	ev_io_stop(c->p->ev, &c->wr);
	close(c->fd);
	c->fd = -1;
	lines_fini(&c->lr);
	buf_clear(&c->out);
}

static void
flush_out(struct dconn *c)
{
	ssize_t n;

	while (buf_size(&c->out) > 0) {
		n = send(
		    c->fd, buf_data(&c->out), buf_size(&c->out), MSG_NOSIGNAL);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			ev_io_start(c->p->ev, &c->wr);
			return;
		}
		if (n == -1) {
			lost(c->p, "push: writing to dunnd: %s",
			    strerror(errno));
			return;
		}
		buf_consume(&c->out, (size_t)n);
	}
	ev_io_stop(c->p->ev, &c->wr);
}

static void
wr_cb(struct ev_loop *ev, ev_io *w, int revents)
{
	(void)ev;
	(void)revents;
	flush_out(w->data);
}

/* Sends one request (takes req's reference). */
static void
dconn_send(struct dconn *c, json_t *req)
{
	char *s = json_dumps(req, JSON_COMPACT);

	json_decref(req);
	if (s == NULL)
		fatalx("push: out of memory");
	buf_append(&c->out, s, strlen(s));
	buf_append(&c->out, "\n", 1);
	free(s);
	flush_out(c);
}

static void handle_feed_line(struct push *p, const char *s, size_t len);
static void handle_ctl_line(struct push *p, const char *s, size_t len);

static void
rd_cb(struct ev_loop *ev, ev_io *w, int revents)
{
	struct dconn *c = w->data;
	struct push *p = c->p;
	struct line ln;
	ssize_t n;

	(void)ev;
	(void)revents;
	n = recv(c->fd, p->rbuf, READ_CHUNK, 0);
	if (n == -1 &&
	    (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n <= 0) {
		lost(p, "push: dunnd closed the connection%s%s",
		    n == -1 ? ": " : "", n == -1 ? strerror(errno) : "");
		return;
	}
	lines_feed(&c->lr, p->rbuf, (size_t)n);
	while (c->fd != -1 && lines_next(&c->lr, &ln) == 1) {
		if (ln.kind == LINE_BLANK)
			continue;
		if (ln.kind == LINE_TOO_LONG) {
			lost(p,
			    "push: a line from dunnd of %zu bytes is too long",
			    ln.bytes);
			return;
		}
		if (c->is_feed)
			handle_feed_line(p, ln.s, ln.len);
		else
			handle_ctl_line(p, ln.s, ln.len);
	}
	if (c->fd == -1 || !c->is_feed)
		return;
	/* Back-pressure: dunnd produces the feed as we read it. */
	if (pushq_len(&p->q) > queue_limit(p) || p->q.bytes > QUEUE_BYTES_MAX) {
		ev_io_stop(p->ev, &c->rd);
		p->feed_paused = true;
	}
	try_form(p);
}

static void
maybe_resume_feed(struct push *p)
{
	if (!p->feed_paused || p->feed.fd == -1)
		return;
	if (pushq_len(&p->q) <= queue_limit(p) / 2 &&
	    p->q.bytes <= QUEUE_BYTES_MAX / 2) {
		p->feed_paused = false;
		ev_io_start(p->ev, &p->feed.rd);
	}
}

/* Connects c to dunnd's socket (blocking): 0, or -1 with why. */
static int
dconn_open_fd(struct push *p, struct dconn *c, char *why, size_t whylen)
{
	struct sockaddr_un sun;
	const char *path = p->conf->socket;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		snprintf(why, whylen, "push: socket path too long: %s", path);
		return -1;
	}
	strcpy(sun.sun_path, path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		snprintf(why, whylen, "push: dunnd unreachable at %s: %s", path,
		    strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	c->p = p;
	c->fd = fd;
	return 0;
}

static int
dconn_open(
    struct push *p, struct dconn *c, bool is_feed, char *why, size_t whylen)
{
	int fd;

	if (dconn_open_fd(p, c, why, whylen) == -1)
		return -1;
	fd = c->fd;
	if (fcntl(fd, F_SETFL, O_NONBLOCK) == -1) {
		snprintf(why, whylen, "push: fcntl: %s", strerror(errno));
		close(fd);
		c->fd = -1;
		return -1;
	}
	c->is_feed = is_feed;
	lines_init(&c->lr, FEED_LINE_MAX);
	ev_io_init(&c->rd, rd_cb, fd, EV_READ);
	ev_io_init(&c->wr, wr_cb, fd, EV_WRITE);
	c->rd.data = c->wr.data = c;
	ev_io_start(p->ev, &c->rd);
	return 0;
}

/* --- requests to dunnd --------------------------------------------- */

static struct ctl_req *
ctl_push(struct push *p, enum ctl_kind kind)
{
	struct ctl_req *r;

	if (p->rtail == p->rcap) {
		if (p->rhead > 0) {
			memmove(p->reqs, p->reqs + p->rhead,
			    (p->rtail - p->rhead) * sizeof(*p->reqs));
			p->rtail -= p->rhead;
			p->rhead = 0;
		} else {
			p->rcap = p->rcap ? p->rcap * 2 : 64;
			p->reqs =
			    xreallocarray(p->reqs, p->rcap, sizeof(*p->reqs));
		}
	}
	r = &p->reqs[p->rtail++];
	memset(r, 0, sizeof(*r));
	r->kind = kind;
	return r;
}

static void
ctl_pop(struct push *p)
{
	free(p->reqs[p->rhead].type);
	p->rhead++;
	if (p->rhead == p->rtail)
		p->rhead = p->rtail = 0;
}

static void
send_ack(struct push *p, int64_t seq)
{
	ctl_push(p, CTL_ACK)->seq = seq;
	dconn_send(&p->ctl,
	    json_pack("{s:i,s:s,s:s,s:I}", "v", PROTO_VERSION, "cmd", "ack",
	        "consumer", p->conf->consumer, "seq", (json_int_t)seq));
}

/* --- losing and finding dunnd -------------------------------------- */

/* Logs why at level (warning or err) once, then at debug while it lasts. */
static void
log_once(struct push *p, bool err, const char *why)
{
	if (strcmp(p->last_why, why) == 0) {
		log_debug("%s", why);
		return;
	}
	snprintf(p->last_why, sizeof(p->last_why), "%s", why);
	if (err)
		log_err("%s", why);
	else
		log_warnx("%s", why);
}

static void
schedule_reconnect(struct push *p)
{
	int64_t ms = RECONNECT_MIN_MS;
	int i;

	for (i = 0; i < p->failures && ms < RECONNECT_MAX_MS; i++)
		ms *= 2;
	if (ms > RECONNECT_MAX_MS)
		ms = RECONNECT_MAX_MS;
	ev_timer_stop(p->ev, &p->reconnect);
	ev_timer_set(&p->reconnect, (double)ms / 1000.0, 0.0);
	ev_timer_start(p->ev, &p->reconnect);
}

static void
reset_batch(struct push *p)
{
	ev_timer_stop(p->ev, &p->retry);
	p->bstate = B_IDLE;
	p->attempts = 0;
	p->n4xx = 0;
}

/* invariant (3) */
static void
lost_why(struct push *p, bool err, const char *why)
{
	if (p->feed.fd == -1 && p->ctl.fd == -1)
		return;
	log_once(p, err, why);
	dconn_close(&p->feed);
	dconn_close(&p->ctl);
	pushhttp_abort(p->http);
	ev_timer_stop(p->ev, &p->linger);
	reset_batch(p);
	pushq_clear(&p->q);
	while (p->rhead < p->rtail)
		ctl_pop(p);
	/*
	 * Back off from a dunnd that accepts us and then refuses (an ack
	 * without the consumers role): only a connection that lasted or
	 * acknowledged something starts the wait again from the shortest.
	 */
	if (p->up && clock_mono_ms() - p->up_ms >= 10000)
		p->failures = 0;
	p->up = false;
	p->feed_paused = false;
	p->failures++;
	schedule_reconnect(p);
}

static void
lost(struct push *p, const char *fmt, ...)
{
	char why[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	lost_why(p, false, why);
}

static void
reconnect_cb(struct ev_loop *ev, ev_timer *w, int revents)
{
	struct push *p = w->data;
	char why[512];

	(void)ev;
	(void)revents;
	if (dconn_open(p, &p->ctl, false, why, sizeof(why)) == -1 ||
	    dconn_open(p, &p->feed, true, why, sizeof(why)) == -1) {
		dconn_close(&p->ctl);
		log_once(p, false, why);
		p->failures++;
		schedule_reconnect(p);
		return;
	}
	ctl_push(p, CTL_STATUS);
	dconn_send(&p->ctl,
	    json_pack("{s:i,s:s}", "v", PROTO_VERSION, "cmd", "status"));
	if (p->ctl.fd == -1)
		return;
	dconn_send(&p->feed,
	    json_pack("{s:i,s:s,s:s,s:b}", "v", PROTO_VERSION, "cmd", "feed",
	        "consumer", p->conf->consumer, "follow", 1));
}

/* --- replies ------------------------------------------------------- */

static void
status_record(struct push *p, json_t *o)
{
	const char *id = json_string_value(json_object_get(o, "feed_id"));
	const char *tz = json_string_value(json_object_get(o, "timezone"));

	if (id != NULL && strlen(id) < sizeof(p->feed_id)) {
		if (p->have_feed_id && strcmp(p->feed_id, id) != 0)
			log_warnx(
			    "push: dunnd's feed_id changed from %s to %s (another database): delivering from consumer %s's cursor there",
			    p->feed_id, id, p->conf->consumer);
		snprintf(p->feed_id, sizeof(p->feed_id), "%s", id);
		p->have_feed_id = true;
	} else
		p->have_feed_id = false;
	/* Dead letters' "at" is written in the portfolio's zone. */
	if (tz != NULL && clock_tz_set(tz) == -1)
		log_debug("push: unknown zone %s: times in UTC", tz);
}

static void
handle_ctl_line(struct push *p, const char *s, size_t len)
{
	struct ctl_req *r;
	json_t *o, *ok;
	const char *err, *task;
	char why[512];

	o = json_loadb(s, len, 0, NULL);
	if (o == NULL || !json_is_object(o) || p->rhead == p->rtail) {
		json_decref(o);
		lost(p, "push: an unexpected reply from dunnd");
		return;
	}
	r = &p->reqs[p->rhead];
	ok = json_object_get(o, "ok");
	if (ok == NULL) {
		if (r->kind == CTL_STATUS)
			status_record(p, o);
		else if (r->kind == CTL_TASKS && r->type == NULL &&
		    (task = json_string_value(json_object_get(o, "task"))) !=
		        NULL &&
		    strcmp(task, r->task) == 0 &&
		    json_is_string(json_object_get(o, "type")))
			r->type = xstrdup(
			    json_string_value(json_object_get(o, "type")));
		json_decref(o);
		return;
	}
	if (!json_is_true(ok)) {
		err = json_string_value(json_object_get(o, "error"));
		snprintf(why, sizeof(why), "push: dunnd refused %s: %s",
		    r->kind == CTL_STATUS    ? "status"
		        : r->kind == CTL_ACK ? "the ack"
		                             : "a task lookup",
		    err != NULL ? err : "(no reason)");
		json_decref(o);
		lost_why(p, true, why);
		return;
	}
	json_decref(o);
	switch (r->kind) {
	case CTL_STATUS:
		p->up = true;
		p->up_ms = clock_mono_ms();
		if (p->last_why[0] != '\0' || !p->have_feed_id)
			log_info(
			    "push: reading the feed of %s as consumer %s%s",
			    p->conf->socket, p->conf->consumer,
			    p->have_feed_id
			        ? ""
			        : " (dunnd reports no feed_id: no Dunnd-Feed-Id header)");
		p->last_why[0] = '\0';
		ctl_pop(p);
		try_form(p);
		return;
	case CTL_ACK:
		log_debug("push: cursor of %s at %lld", p->conf->consumer,
		    (long long)r->seq);
		p->failures = 0;
		ctl_pop(p);
		return;
	case CTL_TASKS:
		if (r->type == NULL)
			log_warnx(
			    "push: dunnd does not know task %s: its record is delivered",
			    r->task);
		pushq_resolve(&p->q, r->type);
		ctl_pop(p);
		try_form(p);
		return;
	}
}

static void
handle_feed_line(struct push *p, const char *s, size_t len)
{
	const char *task = NULL, *account = NULL, *err;
	struct ctl_req *r;
	char why[256];
	bool stopping;
	json_t *o;
	int rc;

	rc = pushq_add(
	    &p->q, s, len, clock_mono_ms(), &task, &account, why, sizeof(why));
	if (rc == -1) {
		/* The final record: dunnd stops, or refused the request. */
		o = json_loadb(s, len, 0, NULL);
		if (json_is_object(o) && json_object_get(o, "ok") != NULL) {
			err = json_string_value(json_object_get(o, "error"));
			snprintf(why, sizeof(why),
			    "push: dunnd ended the feed: %s",
			    err != NULL ? err : "(no reason)");
			/* dunnd stopping is no error; a refusal is. */
			stopping =
			    err != NULL && strcmp(err, "shutting down") == 0;
			json_decref(o);
			lost_why(p, !stopping, why);
			return;
		}
		json_decref(o);
		lost_why(p, true, why);
		return;
	}
	if (rc == 1) {
		log_debug("push: asking dunnd the type of task %s", task);
		r = ctl_push(p, CTL_TASKS);
		snprintf(r->task, sizeof(r->task), "%s", task);
		dconn_send(&p->ctl,
		    json_pack("{s:i,s:s,s:s}", "v", PROTO_VERSION, "cmd",
		        "tasks", "account", account));
	}
}

/* --- batches ------------------------------------------------------- */

static void start_send(struct push *p);

/* Acknowledges [first, last] of the current batch and moves on. */
static void
batch_done(struct push *p)
{
	send_ack(p, p->batch.last); /* invariant (1) */
	pushq_drop(&p->q, p->batch.last);
	reset_batch(p);
	maybe_resume_feed(p);
}

static void
try_form(struct push *p)
{
	int64_t now, wake;
	enum pushq_form f;

	ev_timer_stop(p->ev, &p->linger);
	while (p->up && p->bstate == B_IDLE && p->ctl.fd != -1) {
		now = clock_mono_ms();
		f = pushq_form(&p->q, now, &p->batch, &wake);
		if (f == PUSHQ_BATCH) {
			start_send(p);
			return;
		}
		if (f == PUSHQ_SKIP) {
			log_debug("push: %s: only filtered-out records",
			    p->batch.key);
			batch_done(p);
			continue;
		}
		if (wake >= 0) {
			ev_timer_set(
			    &p->linger, (double)(wake - now) / 1000.0, 0.0);
			ev_timer_start(p->ev, &p->linger);
		}
		return;
	}
}

static void
linger_cb(struct ev_loop *ev, ev_timer *w, int revents)
{
	(void)ev;
	(void)revents;
	try_form(w->data);
}

static void http_failed(struct push *p, const char *why);

static void
start_send(struct push *p)
{
	p->bstate = B_SENDING;
	p->attempts++;
	log_debug("push: POST %s (%zu records), attempt %d", p->batch.key,
	    p->batch.nwanted, p->attempts);
	if (pushhttp_post(p->http, p->batch.key,
	        p->have_feed_id ? p->feed_id : NULL, buf_data(&p->batch.body),
	        buf_size(&p->batch.body), clock_wall()) == -1)
		http_failed(p, "the request could not be started");
}

static void
retry_cb(struct ev_loop *ev, ev_timer *w, int revents)
{
	(void)ev;
	(void)revents;
	start_send(w->data);
}

/* invariant (2): the n-th retry after a wait in [d/2, d]. */
static void
http_failed(struct push *p, const char *why)
{
	int64_t d = 1000, wait;
	int i;

	for (i = 1; i < p->attempts && d < p->conf->retry_max_ms; i++)
		d *= 2;
	if (d > p->conf->retry_max_ms)
		d = p->conf->retry_max_ms;
	wait = d / 2 + (int64_t)randombytes_uniform((uint32_t)(d - d / 2 + 1));
	log_warnx("push: batch %s: %s; attempt %d failed, next in %.1f s",
	    p->batch.key, why, p->attempts, (double)wait / 1000.0);
	p->bstate = B_WAITING;
	ev_timer_set(&p->retry, (double)wait / 1000.0, 0.0);
	ev_timer_start(p->ev, &p->retry);
}

/* A JSON string of the response body (invalid UTF-8 bytes replaced). */
static json_t *
body_string(const struct buf *b)
{
	json_t *s = json_stringn(buf_data(b), buf_size(b));
	struct buf clean;
	const unsigned char *u = (const unsigned char *)buf_data(b);
	size_t i, n = buf_size(b);

	if (s != NULL)
		return s;
	buf_init(&clean);
	for (i = 0; i < n; i++) {
		if (u[i] < 0x80 && u[i] != 0)
			buf_append(&clean, &u[i], 1);
		else
			buf_append(&clean, "\xef\xbf\xbd", 3);
	}
	s = json_stringn(buf_data(&clean), buf_size(&clean));
	buf_fini(&clean);
	return s != NULL ? s : json_string("");
}

/* Appends the batch's dead letter line, synced; -1 logged. */
static int
dead_letter(struct push *p, const struct pushhttp_result *res)
{
	const char *path = p->conf->dead_letter;
	char at[CLOCK_TS_LEN], *tail;
	struct buf line;
	json_t *j;
	size_t off;
	ssize_t n;
	int fd, rc = -1;

	clock_format_ts(clock_wall(), at);
	j = json_pack("{s:i,s:{s:i,s:o},s:s}", "attempts", p->n4xx, "response",
	    "status", (int)res->status, "body", body_string(&res->body), "at",
	    at);
	tail = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	if (tail == NULL)
		fatalx("push: out of memory");
	buf_init(&line);
	buf_printf(&line, "{\"key\":\"%s\",\"records\":", p->batch.key);
	buf_append(&line, buf_data(&p->batch.body), buf_size(&p->batch.body));
	buf_append(&line, ",", 1);
	buf_append(&line, tail + 1, strlen(tail + 1));
	buf_append(&line, "\n", 1);
	free(tail);
	if ((fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
	         0600)) == -1) {
		log_err("push: dead letter file %s: %s", path, strerror(errno));
		goto out;
	}
	for (off = 0; off < buf_size(&line); off += (size_t)n) {
		n = write(fd, buf_data(&line) + off, buf_size(&line) - off);
		if (n == -1 && errno == EINTR) {
			n = 0;
			continue;
		}
		if (n == -1) {
			log_err("push: dead letter file %s: %s", path,
			    strerror(errno));
			close(fd);
			goto out;
		}
	}
	if (fsync(fd) == -1) {
		log_err("push: dead letter file %s: %s", path, strerror(errno));
		close(fd);
		goto out;
	}
	close(fd);
	log_err(
	    "push: batch %s (%zu records) given up after %d answers HTTP 4xx (last %ld): written to %s",
	    p->batch.key, p->batch.nwanted, p->n4xx, res->status, path);
	rc = 0;
out:
	buf_fini(&line);
	return rc;
}

static void
http_cb(void *arg, const struct pushhttp_result *res)
{
	struct push *p = arg;
	char why[400];

	if (res->complete && res->status >= 200 && res->status <= 299) {
		if (p->attempts > 1)
			log_info("push: batch %s delivered at attempt %d",
			    p->batch.key, p->attempts);
		else
			log_debug("push: batch %s delivered: HTTP %ld",
			    p->batch.key, res->status);
		batch_done(p);
		try_form(p);
		return;
	}
	if (!res->complete) {
		snprintf(why, sizeof(why), "%s", res->error);
	} else {
		snprintf(why, sizeof(why), "HTTP %ld", res->status);
		if (res->status >= 400 && res->status <= 499 &&
		    res->status != 408 && res->status != 429) {
			p->n4xx++;
			if (p->conf->give_up_after > 0 &&
			    p->n4xx >= p->conf->give_up_after &&
			    dead_letter(p, res) == 0) {
				batch_done(p);
				try_form(p);
				return;
			}
		}
	}
	http_failed(p, why);
}

/* --- process ------------------------------------------------------- */

static void
stop_cb(struct ev_loop *ev, ev_signal *w, int revents)
{
	(void)revents;
	log_info("push: %s received, stopping",
	    w->signum == SIGTERM ? "SIGTERM" : "SIGINT");
	sd_notify(0, "STOPPING=1");
	ev_break(ev, EVBREAK_ALL);
}

static void
hup_cb(struct ev_loop *ev, ev_signal *w, int revents)
{
	(void)ev;
	(void)w;
	(void)revents;
	log_info(
	    "push: SIGHUP ignored: restart dunnd-push to read its file again");
}

static void
watchdog_cb(struct ev_loop *ev, ev_timer *w, int revents)
{
	(void)ev;
	(void)w;
	(void)revents;
	sd_notify(0, "WATCHDOG=1");
}

int
push_run(const struct pushconf *c)
{
	struct push *p = xcalloc(1, sizeof(*p));
	uint64_t wd_usec = 0;

	if (sodium_init() < 0) {
		log_err("push: libsodium cannot start");
		free(p);
		return -1;
	}
	signal(SIGPIPE, SIG_IGN);
	p->conf = c;
	p->ev = ev_default_loop(EVFLAG_AUTO);
	p->feed.fd = p->ctl.fd = -1;
	p->feed.p = p->ctl.p = p;
	buf_init(&p->feed.out);
	buf_init(&p->ctl.out);
	p->rbuf = xmalloc(READ_CHUNK);
	pushq_init(&p->q, c);
	pushq_batch_init(&p->batch);
	if ((p->http = pushhttp_new(p->ev, c, http_cb, p)) == NULL)
		goto fail;
	ev_timer_init(&p->reconnect, reconnect_cb, 0.0, 0.0);
	ev_timer_init(&p->linger, linger_cb, 0.0, 0.0);
	ev_timer_init(&p->retry, retry_cb, 0.0, 0.0);
	p->reconnect.data = p->linger.data = p->retry.data = p;
	ev_signal_init(&p->sigterm, stop_cb, SIGTERM);
	ev_signal_init(&p->sigint, stop_cb, SIGINT);
	ev_signal_init(&p->sighup, hup_cb, SIGHUP);
	ev_signal_start(p->ev, &p->sigterm);
	ev_signal_start(p->ev, &p->sigint);
	ev_signal_start(p->ev, &p->sighup);
	if (sd_watchdog_enabled(0, &wd_usec) > 0 && wd_usec > 0) {
		ev_timer_init(
		    &p->watchdog, watchdog_cb, 0.0, (double)wd_usec / 2e6);
		ev_timer_again(p->ev, &p->watchdog);
	}
	ev_timer_start(p->ev, &p->reconnect);
	log_info("push: delivering consumer %s of %s to %s%s", c->consumer,
	    c->socket, c->url, c->secret != NULL ? ", signed" : "");
	sd_notify(0, "READY=1");
	ev_run(p->ev, 0);

	/* SIGTERM: the request in flight is abandoned, not acknowledged. */
	pushhttp_abort(p->http);
	dconn_close(&p->feed);
	dconn_close(&p->ctl);
	pushhttp_free(p->http);
	while (p->rhead < p->rtail)
		ctl_pop(p);
	free(p->reqs);
	pushq_batch_fini(&p->batch);
	pushq_fini(&p->q);
	buf_fini(&p->feed.out);
	buf_fini(&p->ctl.out);
	free(p->rbuf);
	free(p);
	return 0;
fail:
	pushq_batch_fini(&p->batch);
	pushq_fini(&p->q);
	buf_fini(&p->feed.out);
	buf_fini(&p->ctl.out);
	free(p->rbuf);
	free(p);
	return -1;
}

/* --- --status ------------------------------------------------------ */

/*
 * Reads one reply line of at most 1 MiB into b (blocking); the line,
 * NUL-ended, or NULL when the connection ended first.
 */
static const char *
read_line(int fd, struct buf *b, size_t *used)
{
	char *nl;
	ssize_t n;

	buf_consume(b, *used);
	*used = 0;
	for (;;) {
		nl = buf_size(b) > 0 ? memchr(buf_data(b), '\n', buf_size(b))
		                     : NULL;
		if (nl != NULL) {
			*nl = '\0';
			*used = (size_t)(nl - buf_data(b)) + 1;
			return buf_data(b);
		}
		if (buf_size(b) > LINES_MAX)
			return NULL;
		n = recv(fd, buf_reserve(b, 65536), 65536, 0);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return NULL;
		b->len += (size_t)n;
	}
}

int
push_status(const struct pushconf *c)
{
	struct push p;
	struct buf b;
	size_t used = 0;
	const char *line, *id = NULL, *err;
	char why[512], *req;
	json_t *o, *st = NULL;
	int64_t head = -1, cursor = -1;
	int rc = 3;

	memset(&p, 0, sizeof(p));
	p.conf = c;
	buf_init(&b);
	if (dconn_open_fd(&p, &p.ctl, why, sizeof(why)) == -1) {
		fprintf(stderr, "dunnd-push: %s\n", why + strlen("push: "));
		buf_fini(&b);
		return 3;
	}
	req = NULL;
	if (asprintf(&req,
	        "{\"v\":1,\"cmd\":\"status\"}\n{\"v\":1,\"cmd\":\"feed\",\"consumer\":\"%s\"}\n",
	        c->consumer) == -1 ||
	    send(p.ctl.fd, req, strlen(req), MSG_NOSIGNAL) == -1)
		goto out;
	/* status: one record, then the final one. */
	while ((line = read_line(p.ctl.fd, &b, &used)) != NULL) {
		if ((o = json_loads(line, 0, NULL)) == NULL)
			goto out;
		if (json_object_get(o, "ok") == NULL) {
			json_decref(st);
			st = o;
			continue;
		}
		if (!json_is_true(json_object_get(o, "ok"))) {
			err = json_string_value(json_object_get(o, "error"));
			fprintf(stderr,
			    "dunnd-push: dunnd refused status: %s\n",
			    err != NULL ? err : "(no reason)");
			json_decref(o);
			rc = 1;
			goto out;
		}
		json_decref(o);
		break;
	}
	if (st == NULL)
		goto out;
	head = json_integer_value(json_object_get(st, "feed_head"));
	id = json_string_value(json_object_get(st, "feed_id"));
	/* feed from the cursor: the first record is cursor + 1 (gapless). */
	if ((line = read_line(p.ctl.fd, &b, &used)) == NULL ||
	    (o = json_loads(line, 0, NULL)) == NULL)
		goto out;
	if (json_object_get(o, "ok") == NULL)
		cursor = json_integer_value(json_object_get(o, "seq")) - 1;
	else if (json_is_true(json_object_get(o, "ok")))
		cursor = head;
	else {
		err = json_string_value(json_object_get(o, "error"));
		fprintf(stderr, "dunnd-push: dunnd refused feed: %s\n",
		    err != NULL ? err : "(no reason)");
		json_decref(o);
		rc = 1;
		goto out;
	}
	json_decref(o);
	printf("consumer %s: cursor %lld, feed head %lld, lag %lld%s%s\n",
	    c->consumer, (long long)cursor, (long long)head,
	    (long long)(head - cursor), id != NULL ? ", feed_id " : "",
	    id != NULL ? id : "");
	rc = 0;
out:
	if (rc == 3)
		fprintf(stderr, "dunnd-push: dunnd at %s did not answer\n",
		    c->socket);
	json_decref(st);
	free(req);
	close(p.ctl.fd);
	buf_fini(&b);
	return rc;
}
