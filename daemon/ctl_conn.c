/*
 * ctl_conn — dunnctl's connection to dunnd (§7): the socket path (-s,
 * -c, the environment, the default), one request line out, the reply's
 * lines in, each data record shown through a struct view, and the exit
 * code of the final record.
 *
 * Called by the command modules (ctl_*.c) through ctl_int.h.
 */
#include "ctl_int.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "log.h"
#include "protocol.h"

#define DEFAULT_SOCKET "/run/dunnd/dunnd.sock"

/*
 * stdout failed: a reader that went away (a pipe into head, or jq
 * stopped) ends dunnctl quietly, anything else is an error.
 */
static void __attribute__((noreturn)) stdout_failed(void)
{
	if (errno == EPIPE)
		exit(0);
	fprintf(stderr, "dunnctl: stdout: %s\n", strerror(errno));
	exit(EXIT_FAILED);
}

/* -s wins; then -c's socket; then the default config's; then the default. */
static const char *
socket_path(struct ctl *ctl)
{
	struct diags ds;
	struct conf *c;
	const char *path = ctl->conf_path;
	static char *resolved;

	if (ctl->socket != NULL)
		return ctl->socket;
	if (path == NULL && access(CONF_DEFAULT_PATH, R_OK) == 0)
		path = CONF_DEFAULT_PATH;
	if (path == NULL)
		return DEFAULT_SOCKET;
	diags_init(&ds);
	if ((c = conf_load(path, &ds)) == NULL) {
		char line[DIAG_MSG_MAX + 300];
		size_t i;

		for (i = 0; i < ds.n; i++) {
			diag_format(&ds.v[i], line, sizeof(line));
			fprintf(stderr, "%s\n", line);
		}
		diags_fini(&ds);
		exit(EXIT_USAGE);
	}
	diags_fini(&ds);
	resolved = xstrdup(c->socket);
	conf_free(c);
	return resolved;
}

int
ctl_connect_daemon(struct ctl *ctl)
{
	struct sockaddr_un sun;
	const char *path = socket_path(ctl);

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "dunnctl: socket path too long: %s\n", path);
		return -1;
	}
	strcpy(sun.sun_path, path);
	ctl->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (ctl->fd == -1 ||
	    connect(ctl->fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		fprintf(stderr, "dunnctl: cannot reach dunnd at %s: %s\n", path,
		    strerror(errno));
		if (ctl->defaulted)
			fprintf(stderr,
			    "dunnctl: a dunnd started with \"make run\" listens "
			    "on ./var/dunnd.sock: use -c dunnd.conf, or set "
			    "DUNNCTL_CONFIG or DUNND_SOCKET\n");
		return -1;
	}
	return 0;
}

int
ctl_write_all(int fd, const void *p, size_t n)
{
	const char *s = p;
	ssize_t w;

	while (n > 0) {
		w = write(fd, s, n);
		if (w == -1 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

/* The request line for req (consumed), without its "\n"; caller frees. */
char *
ctl_request_line(json_t *req)
{
	char *s;

	json_object_set_new(req, "v", json_integer(PROTO_VERSION));
	s = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	if (s == NULL)
		fatalx("cannot encode the request");
	return s;
}

/* Sends a request line; 0, or -1 when the daemon is gone. */
static int
send_line(struct ctl *ctl, const char *s)
{
	if (ctl_write_all(ctl->fd, s, strlen(s)) == -1)
		return -1;
	return ctl_write_all(ctl->fd, "\n", 1);
}

/* Sends req (consumed) as one line; 0, or -1 when the daemon is gone. */
int
ctl_send_request(struct ctl *ctl, json_t *req)
{
	char *s = ctl_request_line(req);
	int rc;

	rc = send_line(ctl, s);
	free(s);
	return rc;
}

/*
 * feed --follow: waits until the reply has bytes to read.  A reader of
 * stdout that went away (POLLERR on a pipe whose other end is closed)
 * ends dunnctl quietly at once, not only at the next record.
 */
static void
wait_readable(struct ctl *ctl)
{
	struct pollfd pfd[2];

	pfd[0].fd = ctl->fd;
	pfd[0].events = POLLIN;
	pfd[1].fd = STDOUT_FILENO;
	pfd[1].events = 0;
	for (;;) {
		pfd[0].revents = pfd[1].revents = 0;
		if (poll(pfd, 2, -1) == -1) {
			if (errno == EINTR)
				continue;
			return;
		}
		if (pfd[1].revents & (POLLERR | POLLHUP))
			exit(0);
		if (pfd[1].revents & POLLNVAL)
			pfd[1].fd = -1; /* no stdout at all: nothing to watch */
		if (pfd[0].revents != 0)
			return;
	}
}

/*
 * The next line of the reply, its "\n" replaced by NUL, valid until the
 * next call; returns its length, or -1 at the end of the stream.  A last
 * line without "\n" is a record cut short (§8): it is never handed out,
 * and the stream ends there.
 */
static ssize_t
next_line(struct ctl *ctl, char **line)
{
	struct buf *b = &ctl->in;
	char *p, *nl;
	size_t n;
	ssize_t r;

	buf_consume(b, ctl->in_used);
	ctl->in_used = 0;
	for (;;) {
		p = b->p + b->off;
		n = buf_size(b);
		nl = n > ctl->in_scanned
		    ? memchr(p + ctl->in_scanned, '\n', n - ctl->in_scanned)
		    : NULL;
		if (nl != NULL) {
			*nl = '\0';
			ctl->in_used = (size_t)(nl - p) + 1;
			ctl->in_scanned = 0;
			*line = p;
			return nl - p;
		}
		ctl->in_scanned = n;
		if (ctl->follow)
			wait_readable(ctl);
		r = read(ctl->fd, buf_reserve(b, READ_CHUNK), READ_CHUNK);
		if (r == -1 && errno == EINTR)
			continue;
		if (r > 0) {
			b->len += (size_t)r;
			continue;
		}
		if (n > 0)
			fprintf(stderr,
			    "dunnctl: dunnd closed the connection in the middle of a record\n");
		buf_clear(b);
		ctl->in_scanned = 0;
		return -1;
	}
}

/*
 * Reads the reply: each data record goes to on_record (raw line and
 * parsed object); returns the final record, or NULL when the
 * connection broke (reported).
 */
json_t *
ctl_read_reply(struct ctl *ctl,
    void (*on_record)(struct ctl *, const char *, json_t *, void *), void *arg)
{
	char *line;
	ssize_t n;
	json_t *rec;
	json_error_t jerr;

	while ((n = next_line(ctl, &line)) >= 0) {
		if (n == 0)
			continue;
		/*
		 * With --json a data record is printed as received: only the
		 * final record (dunnd writes "ok" first) needs parsing.
		 */
		if (ctl->json && on_record == ctl_show_record && n > 0 &&
		    line[0] == '{' && strncmp(line, "{\"ok\":", 6) != 0) {
			on_record(ctl, line, NULL, arg);
			continue;
		}
		rec = json_loadb(line, (size_t)n, 0, &jerr);
		if (!json_is_object(rec)) {
			fprintf(stderr, "dunnctl: bad reply from dunnd: %s\n",
			    line);
			json_decref(rec);
			return NULL;
		}
		if (json_object_get(rec, "ok") != NULL)
			return rec;
		if (on_record != NULL)
			on_record(ctl, line, rec, arg);
		json_decref(rec);
	}
	fprintf(stderr, "dunnctl: dunnd closed the connection\n");
	return NULL;
}

/* Exit code for a final record (§7). */
int
ctl_final_status(json_t *fin)
{
	const char *err;

	if (fin == NULL)
		return EXIT_UNREACHABLE;
	if (json_is_true(json_object_get(fin, "ok")))
		return 0;
	err = json_string_value(json_object_get(fin, "error"));
	fprintf(stderr, "dunnctl: %s\n", err ? err : "failed");
	if (err != NULL &&
	    (strcmp(err, "too many clients") == 0 ||
	        strcmp(err, "shutting down") == 0))
		return EXIT_UNREACHABLE;
	return EXIT_FAILED;
}

static void
print_raw(struct ctl *ctl, const char *line, json_t *rec, void *arg)
{
	(void)ctl;
	(void)rec;
	(void)arg;
	printf("%s\n", line);
}

/* One data record: shown by the view (or as received), flushed if asked. */
void
ctl_show_record(struct ctl *ctl, const char *line, json_t *rec, void *arg)
{
	struct view *v = arg;

	if (ctl->json || v->record == NULL)
		print_raw(ctl, line, rec, NULL);
	else
		v->record(ctl, line, rec, v->arg);
	if (v->flush && fflush(stdout) == EOF)
		stdout_failed();
}

/*
 * Sends a request line (consumed) and shows the reply through v;
 * returns the exit code.
 */
int
ctl_exchange(struct ctl *ctl, char *line, struct view *v)
{
	json_t *fin;
	int rc;

	if (ctl_connect_daemon(ctl) == -1) {
		free(line);
		return EXIT_UNREACHABLE;
	}
	/*
	 * A refused client ("too many clients") may find the connection
	 * closed while it writes: the refusal is still there to read.
	 */
	(void)send_line(ctl, line);
	free(line);
	fin = ctl_read_reply(ctl, ctl_show_record, v);
	if (fin != NULL && !ctl->json && v->done != NULL)
		v->done(ctl, fin, v->arg);
	rc = ctl_final_status(fin);
	json_decref(fin);
	return rc;
}

/* Sends req (consumed) and prints every data record through human. */
int
ctl_simple(struct ctl *ctl, json_t *req,
    void (*human)(struct ctl *, const char *, json_t *, void *))
{
	struct view v = { human, NULL, NULL, false };

	return ctl_exchange(ctl, ctl_request_line(req), &v);
}
