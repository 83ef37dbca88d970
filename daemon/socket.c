/*
 * socket — the control socket (§8): accept, SO_PEERCRED, framing,
 * back-pressure.  Called by the loop's watchers; hands complete request
 * lines and bodies to server_request() / server_body().
 *
 * Invariants:
 * (1) A connection reads a new request only when the previous reply is
 *     finished and fully written ("answered in order"); a body that
 *     follows a request ("bytes") is always read to its end, and thrown
 *     away when the request was refused.
 * (2) Nothing is buffered beyond one request line (PROTO_LINE_MAX) plus
 *     one read, one pending body, and OUT_HIGH of reply: a long reply is
 *     produced by its more() callback only as the client reads it.
 * (3) A connection whose handler has not finished (busy) is never freed
 *     under it: when its peer goes away it is marked dead and freed when
 *     the reply arrives.
 * (4) Every record goes out whole (§8): a reply cut at shutdown ends at
 *     the end of the record already begun on the wire, then the final
 *     record (cut_at_record()).
 * (5) Fair service: a connection gets bounded work a loop pass (at
 *     most QUANTUM bytes written, so about that much of a long reply
 *     produced; at most PASS_REQUESTS requests begun; a read of at most
 *     READ_CHUNK, 16 of them for a body), then the loop runs every
 *     other ready connection before it comes back.  A loop pass is thus
 *     bounded by the number of clients, not by the size of anyone's
 *     reply or the number of requests anyone sends at once.
 */
#include "socket.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <errno.h>
#include <poll.h>
#include <fcntl.h>
#include <limits.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ev.h>

#include "clock.h"
#include "conf.h"
#include "log.h"
#include "protocol.h"
#include "server.h"
#include "util.h"

#define READ_CHUNK (64 * 1024)
#define OUT_LOW    (64 * 1024)  /* ask more() for records below this */
#define OUT_HIGH   (256 * 1024) /* a reply is produced up to about this */
/*
 * A connection writes at most this much a loop pass (invariant 5): one
 * client reading a long reply as fast as dunnd makes it would otherwise
 * have all of it made in one callback (2.3 MB of `accounts` in 0.34 s
 * measured), while a client that reads a little slower gets only a
 * socket buffer a loop pass, and the passes grew to seconds.
 */
#define QUANTUM (64 * 1024)
/*
 * And begins at most this many requests a loop pass: a client that sends
 * many requests at once (each `ack` a commit) has the rest read in the
 * passes that follow, after the other clients' turns.
 */
#define PASS_REQUESTS 1

struct conn {
	struct listener *l;
	struct conn *prev, *next;
	int fd;
	ev_io rw, ww;
	uint64_t serial; /* accept order */
	uid_t uid;
	bool allowed, admin, consumer;
	struct buf in, out;
	int64_t body_left;
	bool body_discard;
	bool body_pending; /* a body for server_body() is being read */
	int body_flags;    /* the request's, for server_body() */
	bool waiting;      /* more() has nothing now: until conn_wake() */
	bool resume;       /* a long reply ended: read the next request */
	struct buf body;
	bool busy;         /* a handler has not finished its reply */
	bool closing;      /* close once out is written (and body read) */
	bool eof;          /* the peer will send nothing more */
	bool dead;         /* fd closed; freed once !busy (invariant 3) */
	bool processing;   /* inside process(): no re-entry */
	bool mid_line;     /* the last write ended inside a record */
	bool deferred;     /* a request waits for the next pass (invariant 5) */
	unsigned int pass; /* the loop pass (ev_iteration) of pass_* */
	size_t pass_sent;  /* bytes written in that pass (QUANTUM) */
	int pass_requests; /* requests begun in that pass (PASS_REQUESTS) */
	int (*more)(struct conn *, void *);
	void *more_arg;
	void (*more_free)(void *);
};

struct listener {
	struct server *srv;
	struct ev_loop *loop;
	int fd;
	char *path;
	ev_io aw;
	struct acl acl;
	int max_clients;
	size_t nclients;
	uint64_t accepted; /* connections accepted so far */
	struct conn *conns;
};

static void process(struct conn *c);
static void update(struct conn *c);

/* --- access lists ------------------------------------------------------ */

static void
push_uid(uid_t **v, size_t *n, uid_t id)
{
	*v = xreallocarray(*v, *n + 1, sizeof(**v));
	(*v)[(*n)++] = id;
}

static void
push_gid(gid_t **v, size_t *n, gid_t id)
{
	*v = xreallocarray(*v, *n + 1, sizeof(**v));
	(*v)[(*n)++] = id;
}

static bool
numeric(const char *s, unsigned long *v)
{
	char *end;

	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	*v = strtoul(s, &end, 10);
	return errno == 0 && *end == '\0';
}

static void
resolve(char **names, uid_t **uids, size_t *nuids, gid_t **gids, size_t *ngids)
{
	struct passwd *pw;
	struct group *gr;
	unsigned long id;
	char **p;

	for (p = names; p != NULL && *p != NULL; p++) {
		if ((*p)[0] == '@') {
			if (numeric(*p + 1, &id))
				push_gid(gids, ngids, (gid_t)id);
			else if ((gr = getgrnam(*p + 1)) != NULL)
				push_gid(gids, ngids, gr->gr_gid);
		} else if (numeric(*p, &id))
			push_uid(uids, nuids, (uid_t)id);
		else if ((pw = getpwnam(*p)) != NULL)
			push_uid(uids, nuids, pw->pw_uid);
		/* Unknown names are skipped: principals_check() said so. */
	}
}

void
acl_init(struct acl *acl, const struct conf *conf)
{
	memset(acl, 0, sizeof(*acl));
	resolve(conf->admins, &acl->admin_uids, &acl->nadmin_uids,
	    &acl->admin_gids, &acl->nadmin_gids);
	resolve(conf->readers, &acl->reader_uids, &acl->nreader_uids,
	    &acl->reader_gids, &acl->nreader_gids);
	resolve(conf->consumers, &acl->consumer_uids, &acl->nconsumer_uids,
	    &acl->consumer_gids, &acl->nconsumer_gids);
}

void
acl_fini(struct acl *acl)
{
	free(acl->admin_uids);
	free(acl->reader_uids);
	free(acl->admin_gids);
	free(acl->reader_gids);
	free(acl->consumer_uids);
	free(acl->consumer_gids);
	memset(acl, 0, sizeof(*acl));
}

static bool
has_uid(const uid_t *v, size_t n, uid_t id)
{
	while (n-- > 0)
		if (v[n] == id)
			return true;
	return false;
}

static bool
has_any_gid(const gid_t *v, size_t n, const gid_t *groups, size_t ngroups)
{
	size_t i;

	for (i = 0; i < ngroups; i++)
		while (n-- > 0)
			if (v[n] == groups[i])
				return true;
	return false;
}

/* The peer's primary and supplementary groups (SO_PEERGROUPS). */
static size_t
peer_groups(int fd, gid_t primary, gid_t *groups, size_t max)
{
	socklen_t len = (socklen_t)((max - 1) * sizeof(gid_t));
	size_t n = 0;

	groups[n++] = primary;
#ifdef SO_PEERGROUPS
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups + 1, &len) == 0)
		n += len / sizeof(gid_t);
#else
	(void)fd;
	(void)len;
#endif
	return n;
}

static void
classify(struct listener *l, struct conn *c)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	gid_t groups[256];
	size_t ng, i;
	const struct acl *a = &l->acl;

	if (getsockopt(c->fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == -1) {
		log_warn("socket: SO_PEERCRED");
		return;
	}
	c->uid = cred.uid;
	ng = peer_groups(c->fd, cred.gid, groups, 256);
	for (i = 0; i < ng; i++) {
		if (has_any_gid(a->admin_gids, a->nadmin_gids, &groups[i], 1))
			c->admin = true;
		if (has_any_gid(a->reader_gids, a->nreader_gids, &groups[i], 1))
			c->allowed = true;
		if (has_any_gid(
		        a->consumer_gids, a->nconsumer_gids, &groups[i], 1))
			c->consumer = true;
	}
	if (has_uid(a->consumer_uids, a->nconsumer_uids, cred.uid))
		c->consumer = true;
	if (has_uid(a->admin_uids, a->nadmin_uids, cred.uid))
		c->admin = true;
	if (has_uid(a->reader_uids, a->nreader_uids, cred.uid))
		c->allowed = true;
	c->allowed = c->allowed || c->admin || c->consumer;
}

/* --- connections ------------------------------------------------------- */

static void
conn_free(struct conn *c)
{
	struct listener *l = c->l;

	if (c->more_free != NULL)
		c->more_free(c->more_arg);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		l->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	l->nclients--;
	buf_fini(&c->in);
	buf_fini(&c->out);
	buf_fini(&c->body);
	free(c);
}

/* Closes the descriptor; frees c unless a handler still owns it. */
static void
conn_drop(struct conn *c)
{
	if (!c->dead) {
		ev_io_stop(c->l->loop, &c->rw);
		ev_io_stop(c->l->loop, &c->ww);
		close(c->fd);
		c->fd = -1;
		c->dead = true;
		if (c->more_free != NULL) {
			c->more_free(c->more_arg);
			c->more_free = NULL;
			c->more = NULL;
			c->busy = false;
		}
	}
	if (!c->busy && !c->processing)
		conn_free(c);
}

uint64_t
conn_serial(const struct conn *c)
{
	return c->serial;
}

uid_t
conn_uid(const struct conn *c)
{
	return c->uid;
}

bool
conn_is_admin(const struct conn *c)
{
	return c->admin;
}

bool
conn_is_consumer(const struct conn *c)
{
	return c->consumer;
}

size_t
conn_pending(const struct conn *c)
{
	return buf_size(&c->out);
}

static void
queue_json(struct conn *c, json_t *rec)
{
	char *s;

	if (!c->dead) {
		s = proto_dumps(rec, JSON_COMPACT);
		if (s != NULL) {
			buf_append(&c->out, s, strlen(s));
			buf_append(&c->out, "\n", 1);
			free(s);
		}
	}
	json_decref(rec);
}

void
conn_send_text(struct conn *c, const char *text, size_t len, const char *tail)
{
	if (c->dead)
		return;
	buf_append(&c->out, text, len);
	if (tail != NULL)
		buf_append(&c->out, tail, strlen(tail));
	buf_append(&c->out, "\n", 1);
}

void
conn_send(struct conn *c, json_t *rec)
{
	queue_json(c, rec);
}

static void
reply_done(struct conn *c)
{
	c->busy = false;
	if (c->dead) {
		if (!c->processing && c->more == NULL)
			conn_free(c);
		return;
	}
	if (!c->processing)
		process(c);
}

void
conn_reply_ok(struct conn *c, json_t *fields)
{
	json_t *rec = json_object();

	json_object_set_new(rec, "ok", json_true());
	if (fields != NULL) {
		json_object_update(rec, fields);
		json_decref(fields);
	}
	queue_json(c, rec);
	if (c->more == NULL)
		reply_done(c);
}

void
conn_reply_final(struct conn *c, json_t *rec)
{
	queue_json(c, rec);
	if (c->more == NULL)
		reply_done(c);
}

void
conn_reply_error(struct conn *c, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	queue_json(c, json_pack("{s:b,s:s}", "ok", 0, "error", msg));
	if (c->more == NULL)
		reply_done(c);
}

void
conn_set_more(struct conn *c, int (*more)(struct conn *, void *), void *arg,
    void (*free_arg)(void *))
{
	c->more = more;
	c->more_arg = arg;
	c->more_free = free_arg;
	c->busy = true;
	if (!c->processing)
		process(c);
}

/* Runs more() while the output is low; ends the reply when it says so. */
static void
produce(struct conn *c)
{
	int rc;
	void *arg;
	void (*fr)(void *);

	while (c->more != NULL && !c->dead && !c->waiting &&
	    buf_size(&c->out) < OUT_LOW) {
		rc = c->more(c, c->more_arg);
		if (rc == CONN_MORE_WAIT) {
			c->waiting = true;
			break;
		}
		if (rc != 1)
			continue;
		arg = c->more_arg;
		fr = c->more_free;
		c->more = NULL;
		c->more_arg = NULL;
		c->more_free = NULL;
		if (fr != NULL)
			fr(arg);
		c->busy = false;
		c->resume = true;
	}
}

/* Starts c's share of a new loop pass (invariant 5). */
static void
pass_sync(struct conn *c)
{
	unsigned int pass = ev_iteration(c->l->loop);

	if (c->pass != pass) {
		c->pass = pass;
		c->pass_sent = 0;
		c->pass_requests = 0;
	}
}

/*
 * Writes what it can, up to QUANTUM bytes a loop pass: 0, or -1 when
 * the peer is gone.  What is left stays queued (produced up to OUT_LOW)
 * and the write watcher armed, so the loop comes back to c in its next
 * pass, after every other ready connection has had its turn (invariant
 * 5).
 */
static int
flush(struct conn *c)
{
	size_t want;
	ssize_t n;

	pass_sync(c);
	for (;;) {
		produce(c);
		if (buf_size(&c->out) == 0 || c->pass_sent >= QUANTUM)
			return 0;
		want = buf_size(&c->out);
		if (want > QUANTUM - c->pass_sent)
			want = QUANTUM - c->pass_sent;
		n = write(c->fd, buf_data(&c->out), want);
		if (n > 0) {
			c->pass_sent += (size_t)n;
			c->mid_line = buf_data(&c->out)[n - 1] != '\n';
			buf_consume(&c->out, (size_t)n);
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		return -1;
	}
}

/* The first line of in, if complete: its length without CR LF. */
static int
take_line(struct conn *c, const char **line, size_t *len, size_t *used)
{
	const char *p = buf_data(&c->in), *nl;
	size_t n = buf_size(&c->in);

	nl = memchr(p, '\n', n);
	if (nl == NULL) {
		if (n > PROTO_LINE_MAX + 1 ||
		    (n == PROTO_LINE_MAX + 1 && p[n - 1] != '\r'))
			return -1;
		return 0;
	}
	*line = p;
	*len = (size_t)(nl - p);
	*used = *len + 1;
	if (*len > 0 && p[*len - 1] == '\r')
		(*len)--;
	if (*len > PROTO_LINE_MAX)
		return -1;
	return 1;
}

static bool
blank(const char *p, size_t n)
{
	while (n-- > 0)
		if (p[n] != ' ' && p[n] != '\t' && p[n] != '\r')
			return false;
	return true;
}

void
conn_read_body(struct conn *c, int64_t n, bool discard, int flags)
{
	c->body_flags = flags;
	c->body_left = n;
	c->body_discard = discard;
	c->body_pending = !discard;
}

void
conn_close_after_reply(struct conn *c)
{
	c->closing = true;
}

/* §8: a peer in neither list gets one refusal and is closed. */
static void
refuse_request(struct conn *c, const char *line, size_t len)
{
	struct proto_request req;
	char err[PROTO_ERR_LEN];
	int rc = proto_decode(line, len, &req, err, sizeof(err));

	json_decref(req.root);
	if (rc != -2 && req.bytes > 0)
		conn_read_body(c, req.bytes, true, 0);
	conn_reply_error(c, "permission denied");
	c->closing = true;
}

/* Moves buffered input into the pending body. */
static void
feed_body(struct conn *c)
{
	size_t n = buf_size(&c->in);

	if ((int64_t)n > c->body_left)
		n = (size_t)c->body_left;
	if (!c->body_discard)
		buf_append(&c->body, buf_data(&c->in), n);
	buf_consume(&c->in, n);
	c->body_left -= (int64_t)n;
}

static void
body_complete(struct conn *c)
{
	char *data;
	size_t len;

	c->body_pending = false;
	if (c->body_discard) {
		c->body_discard = false;
		buf_fini(&c->body);
		return;
	}
	data = c->body.p;
	len = buf_size(&c->body);
	if (data == NULL)
		data = xstrdup("");
	buf_init(&c->body);
	c->busy = true;
	server_body(c->l->srv, c, data, len, c->body_flags);
}

/* Handles every complete request it may (invariant 1). */
static void
process(struct conn *c)
{
	const char *line = NULL;
	size_t len = 0, used = 0;
	int rc;

	if (c->dead)
		return;
	c->processing = true;
	c->deferred = false;
	for (;;) {
		if (c->body_left > 0 || c->body_pending) {
			feed_body(c);
			if (c->body_left > 0)
				break;
			body_complete(c);
			continue;
		}
		if (c->busy || c->closing)
			break;
		/* Invariant (1): the previous reply goes out first. */
		if (buf_size(&c->out) > 0 &&
		    (flush(c) == -1 || buf_size(&c->out) > 0))
			break;
		rc = take_line(c, &line, &len, &used);
		if (rc == 0)
			break;
		if (rc == -1) {
			conn_reply_error(c, "request too long");
			c->closing = true;
			buf_clear(&c->in);
			break;
		}
		if (blank(line, len)) {
			buf_consume(&c->in, used);
			continue;
		}
		/* Invariant (5): the next one in the next pass. */
		pass_sync(c);
		if (c->pass_requests >= PASS_REQUESTS) {
			c->deferred = true;
			break;
		}
		c->pass_requests++;
		c->busy = true;
		if (!c->allowed)
			refuse_request(c, line, len);
		else
			server_request(c->l->srv, c, line, len);
		buf_consume(&c->in, used);
	}
	c->processing = false;
	if (c->dead) {
		if (!c->busy)
			conn_free(c);
		return;
	}
	update(c);
}

/* Arms the watchers for what c waits for next; may close c. */
static void
update(struct conn *c)
{
	bool want_read, want_write, done;

	if (flush(c) == -1) {
		conn_drop(c);
		return;
	}
	/* Requests that arrived behind a long reply (invariant 1). */
	if (c->resume && !c->processing) {
		c->resume = false;
		process(c);
		return;
	}
	/* A waiting stream still reads, to notice its client leave. */
	want_read = !c->eof &&
	    (c->body_left > 0 || c->waiting ||
	        (!c->busy && !c->closing && !c->deferred &&
	            buf_size(&c->out) == 0));
	want_write = buf_size(&c->out) > 0 || c->deferred;
	done = buf_size(&c->out) == 0 && !c->busy && c->body_left == 0 &&
	    !c->deferred && (c->closing || c->eof);
	if (done) {
		conn_drop(c);
		return;
	}
	if (want_read && !ev_is_active(&c->rw))
		ev_io_start(c->l->loop, &c->rw);
	else if (!want_read && ev_is_active(&c->rw))
		ev_io_stop(c->l->loop, &c->rw);
	/* A deferred request: the socket is writable, so the next pass. */
	if (want_write && !ev_is_active(&c->ww))
		ev_io_start(c->l->loop, &c->ww);
	else if (!want_write && ev_is_active(&c->ww))
		ev_io_stop(c->l->loop, &c->ww);
}

static void
read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct conn *c = w->data;
	char *dst;
	size_t want;
	ssize_t n;

	(void)loop;
	(void)revents;
	if (c->body_left > 0 && buf_size(&c->in) == 0) {
		/* Straight into the body: no copy through in. */
		want = c->body_left < READ_CHUNK * 16 ? (size_t)c->body_left
		                                      : READ_CHUNK * 16;
		if (c->body_discard) {
			char sink[READ_CHUNK];

			want = want < sizeof(sink) ? want : sizeof(sink);
			dst = sink;
			n = read(c->fd, dst, want);
		} else {
			dst = buf_reserve(&c->body, want);
			n = read(c->fd, dst, want);
			if (n > 0)
				c->body.len += (size_t)n;
		}
		if (n > 0) {
			c->body_left -= n;
			if (c->body_left == 0) {
				c->processing = true;
				body_complete(c);
				c->processing = false;
			}
		}
	} else {
		dst = buf_reserve(&c->in, READ_CHUNK);
		n = read(c->fd, dst, READ_CHUNK);
		if (n > 0)
			c->in.len += (size_t)n;
	}
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		if (n == 0 && c->waiting) {
			conn_drop(c);
			return;
		}
		if (n == 0 && c->body_left == 0) {
			/* Half-closed: answer what was asked, then close. */
			c->eof = true;
		} else {
			conn_drop(c);
			return;
		}
	}
	process(c);
}

void
conn_wake(struct conn *c)
{
	if (!c->waiting || c->dead)
		return;
	c->waiting = false;
	if (!c->processing)
		update(c);
}

static void
write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct conn *c = w->data;

	(void)loop;
	(void)revents;
	if (flush(c) == -1) {
		conn_drop(c);
		return;
	}
	process(c);
}

/* Accepts one waiting connection: 0, or -1 when none is left. */
static int
accept_one(struct listener *l)
{
	static const char too_many[] =
	    "{\"ok\":false,\"error\":\"too many clients\"}\n";
	struct conn *c;
	int fd;

	fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd == -1) {
		if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
			log_warn("socket: accept");
		return -1;
	}
	if (l->nclients >= (size_t)l->max_clients) {
		if (write(fd, too_many, sizeof(too_many) - 1) < 0)
			log_debug(
			    "socket: refusing a client: %s", strerror(errno));
		close(fd);
		return 0;
	}
	c = xcalloc(1, sizeof(*c));
	c->l = l;
	c->fd = fd;
	c->serial = ++l->accepted;
	classify(l, c);
	ev_io_init(&c->rw, read_cb, fd, EV_READ);
	ev_io_init(&c->ww, write_cb, fd, EV_WRITE);
	c->rw.data = c->ww.data = c;
	c->next = l->conns;
	if (l->conns != NULL)
		l->conns->prev = c;
	l->conns = c;
	l->nclients++;
	update(c);
	return 0;
}

/*
 * Every connection waiting, up to ACCEPT_BURST a loop iteration: one an
 * iteration starved new clients while busy ones kept each iteration long
 * (under 32 clients reading long replies a new client's first reply
 * took a minute, its second one a second).
 */
#define ACCEPT_BURST 64

static void
accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	int n;

	(void)loop;
	(void)revents;
	for (n = 0; n < ACCEPT_BURST; n++)
		if (accept_one(w->data) == -1)
			break;
}

struct listener *
sock_listen(struct server *srv, struct ev_loop *loop, const char *path,
    const char *group, int max_clients, char *err, size_t errlen)
{
	struct listener *l = NULL;
	struct sockaddr_un sun;
	struct group *gr;
	mode_t old;
	int fd = -1, probe;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		snprintf(err, errlen, "socket path too long: %s", path);
		return NULL;
	}
	strcpy(sun.sun_path, path);
	/* A live daemon answers on it; a dead one left a file behind. */
	probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (probe != -1 &&
	    connect(probe, (struct sockaddr *)&sun, sizeof(sun)) == 0) {
		close(probe);
		snprintf(
		    err, errlen, "socket %s is in use by another dunnd", path);
		return NULL;
	}
	if (probe != -1)
		close(probe);
	if (unlink(path) == -1 && errno != ENOENT) {
		snprintf(err, errlen, "cannot remove stale socket %s: %s", path,
		    strerror(errno));
		return NULL;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return NULL;
	}
	old = umask(0117);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		umask(old);
		snprintf(
		    err, errlen, "cannot bind %s: %s", path, strerror(errno));
		goto fail;
	}
	umask(old);
	if (chmod(path, 0660) == -1) {
		snprintf(err, errlen, "chmod %s: %s", path, strerror(errno));
		goto fail;
	}
	if (group != NULL) {
		if ((gr = getgrnam(group)) == NULL) {
			snprintf(err, errlen,
			    "socket_group: unknown group \"%s\"", group);
			goto fail;
		}
		if (chown(path, (uid_t)-1, gr->gr_gid) == -1) {
			snprintf(err, errlen, "chown %s to group %s: %s", path,
			    group, strerror(errno));
			goto fail;
		}
	}
	if (listen(fd, 512) == -1) {
		snprintf(err, errlen, "listen %s: %s", path, strerror(errno));
		goto fail;
	}
	l = xcalloc(1, sizeof(*l));
	l->srv = srv;
	l->loop = loop;
	l->fd = fd;
	l->path = xstrdup(path);
	l->max_clients = max_clients;
	ev_io_init(&l->aw, accept_cb, fd, EV_READ);
	l->aw.data = l;
	ev_io_start(loop, &l->aw);
	return l;
fail:
	close(fd);
	unlink(path);
	return NULL;
}

void
sock_set_acl(struct listener *l, struct acl *acl)
{
	acl_fini(&l->acl);
	l->acl = *acl;
	memset(acl, 0, sizeof(*acl));
}

size_t
sock_nclients(struct listener *l)
{
	return l->nclients;
}

/* At shutdown: every client together gets at most this long. */
#define DRAIN_MS 2000

/*
 * §8: a reply cut at shutdown ends at a record boundary.  What of c's
 * output was not sent yet is dropped but the rest of the record already
 * begun on the wire (a follower reads the dropped records again from
 * its cursor), then the final record is queued.
 */
static void
cut_at_record(struct conn *c, const char *msg)
{
	const char *p = buf_data(&c->out), *nl;
	size_t keep = 0;

	if (c->mid_line && buf_size(&c->out) > 0) {
		nl = memchr(p, '\n', buf_size(&c->out));
		keep = nl != NULL ? (size_t)(nl - p) + 1 : buf_size(&c->out);
	}
	c->out.len = c->out.off + keep;
	queue_json(c, json_pack("{s:b,s:s}", "ok", 0, "error", msg));
}

/*
 * Lets the kernel take what c still has to send at once, when it fits
 * in twice the socket's send buffer: a client that is not reading at
 * the moment (however far behind) still finds the end of the record and
 * the final record waiting when it reads on.  Best effort, Linux
 * doubles the value and caps it at net.core.wmem_max.
 */
static void
grow_sndbuf(struct conn *c)
{
	int cur = 0;
	socklen_t len = sizeof(cur);
	size_t want;

	if (getsockopt(c->fd, SOL_SOCKET, SO_SNDBUF, &cur, &len) == -1)
		return;
	want = (size_t)cur + buf_size(&c->out);
	if (want > INT_MAX / 2)
		want = INT_MAX / 2;
	cur = (int)want;
	if (setsockopt(c->fd, SOL_SOCKET, SO_SNDBUF, &cur, sizeof(cur)) == -1)
		log_debug("socket: SO_SNDBUF: %s", strerror(errno));
}

/*
 * Writes what c still has queued, waiting for the client to read until
 * deadline.
 */
static void
drain(struct conn *c, int64_t deadline)
{
	struct pollfd pfd = { .fd = c->fd, .events = POLLOUT };
	int64_t left;

	if (buf_size(&c->out) > 0)
		grow_sndbuf(c);
	for (;;) {
		/* The loop no longer turns: no quantum (invariant 5) here. */
		c->pass_sent = 0;
		if (flush(c) == -1 || buf_size(&c->out) == 0)
			break;
		left = deadline - clock_mono_ms();
		if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
			break;
	}
}

void
sock_close(struct listener *l, const char *msg)
{
	struct conn *c, *next;
	int64_t deadline = clock_mono_ms() + DRAIN_MS;

	if (l == NULL)
		return;
	ev_io_stop(l->loop, &l->aw);
	close(l->fd);
	unlink(l->path);
	for (c = l->conns; c != NULL; c = next) {
		next = c->next;
		if (!c->dead && (c->more != NULL || c->body_pending)) {
			if (c->more_free != NULL)
				c->more_free(c->more_arg);
			c->more = NULL;
			c->more_free = NULL;
			cut_at_record(c, msg);
		}
		if (!c->dead)
			drain(c, deadline);
		c->busy = false;
		c->processing = false;
		conn_drop(c);
	}
	acl_fini(&l->acl);
	free(l->path);
	free(l);
}
