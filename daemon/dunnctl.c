/*
 * dunnctl — the command-line client (§7): builds one request per
 * invocation, prints the reply as a human table or, with --json, as the
 * data records it received.
 *
 * Exit codes: 0 ok, 1 the command failed (final record ok:false),
 * 2 usage error, 3 daemon unreachable or refused with "too many
 * clients" / "shutting down".
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "conf.h"
#include "log.h"
#include "protocol.h"
#include "rules.h"
#include "util.h"

#define EXIT_FAILED      1
#define EXIT_USAGE       2
#define EXIT_UNREACHABLE 3
#define DEFAULT_SOCKET   "/run/dunnd/dunnd.sock"

struct ctl {
	const char *socket;
	const char *conf_path;
	bool json;
	int argc; /* the command and its arguments, options removed */
	char **argv;
	int fd;
	FILE *in;
};

struct command {
	const char *name;
	const char *args;
	int (*run)(struct ctl *);
};

static void __attribute__((noreturn)) usage(void);

static void __attribute__((noreturn, format(printf, 1, 2)))
die_usage(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "dunnctl: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	usage();
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

static int
connect_daemon(struct ctl *ctl)
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
		return -1;
	}
	ctl->in = fdopen(ctl->fd, "r");
	return 0;
}

static int
write_all(int fd, const void *p, size_t n)
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

/* Sends req (consumed) as one line; 0, or -1 when the daemon is gone. */
static int
send_request(struct ctl *ctl, json_t *req)
{
	char *s;
	int rc;

	json_object_set_new(req, "v", json_integer(PROTO_VERSION));
	s = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	rc = write_all(ctl->fd, s, strlen(s));
	if (rc == 0)
		rc = write_all(ctl->fd, "\n", 1);
	free(s);
	return rc;
}

/*
 * Reads the reply: each data record goes to on_record (raw line and
 * parsed object); returns the final record, or NULL when the
 * connection broke (reported).
 */
static json_t *
read_reply(struct ctl *ctl,
    void (*on_record)(struct ctl *, const char *, json_t *, void *), void *arg)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	json_t *rec;
	json_error_t jerr;

	while ((n = getline(&line, &cap, ctl->in)) > 0) {
		if (line[n - 1] == '\n')
			line[--n] = '\0';
		rec = json_loadb(line, (size_t)n, 0, &jerr);
		if (!json_is_object(rec)) {
			fprintf(stderr, "dunnctl: bad reply from dunnd: %s\n",
			    line);
			json_decref(rec);
			break;
		}
		if (json_object_get(rec, "ok") != NULL) {
			free(line);
			return rec;
		}
		if (on_record != NULL)
			on_record(ctl, line, rec, arg);
		json_decref(rec);
	}
	free(line);
	fprintf(stderr, "dunnctl: dunnd closed the connection\n");
	return NULL;
}

/* Exit code for a final record (§7). */
static int
final_status(json_t *fin)
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

/* Sends req and prints every data record as JSON (the generic path). */
static int
simple(struct ctl *ctl, json_t *req,
    void (*human)(struct ctl *, const char *, json_t *, void *))
{
	json_t *fin;
	int rc;

	if (connect_daemon(ctl) == -1) {
		json_decref(req);
		return EXIT_UNREACHABLE;
	}
	/*
	 * A refused client ("too many clients") may find the connection
	 * closed while it writes: the refusal is still there to read.
	 */
	(void)send_request(ctl, req);
	fin = read_reply(
	    ctl, ctl->json || human == NULL ? print_raw : human, NULL);
	rc = final_status(fin);
	json_decref(fin);
	return rc;
}

static void
human_status(struct ctl *ctl, const char *line, json_t *rec, void *arg)
{
	const char *key;
	json_t *v, *lr;

	(void)ctl;
	(void)line;
	(void)arg;
	printf("dunnd %s, %s clock, now %s (%s)\n",
	    json_string_value(json_object_get(rec, "version")),
	    json_string_value(json_object_get(rec, "clock")),
	    json_string_value(json_object_get(rec, "now")),
	    json_string_value(json_object_get(rec, "timezone")));
	printf("rules version  %s\n",
	    json_string_value(json_object_get(rec, "rules_version")));
	printf("reloads        %lld",
	    (long long)json_integer_value(json_object_get(rec, "reloads")));
	if ((lr = json_object_get(rec, "last_reload")) != NULL)
		printf(" (last at %s, %s)",
		    json_string_value(json_object_get(lr, "at")),
		    json_is_true(json_object_get(lr, "ok")) ? "ok" : "refused");
	printf("\nfeed head      %lld\n",
	    (long long)json_integer_value(json_object_get(rec, "feed_head")));
	printf("accounts       %lld\n",
	    (long long)json_integer_value(json_object_get(rec, "accounts")));
	json_object_foreach(json_object_get(rec, "stages"), key, v)
	    printf("  %-20s %8lld\n", key, (long long)json_integer_value(v));
}

static int
cmd_status(struct ctl *ctl)
{
	if (ctl->argc != 1)
		die_usage("status takes no arguments");
	return simple(ctl, json_pack("{s:s}", "cmd", "status"), human_status);
}

static void
human_reload(struct ctl *ctl, const char *line, json_t *rec, void *arg)
{
	const char *level = json_string_value(json_object_get(rec, "level"));
	const char *msg = json_string_value(json_object_get(rec, "message"));
	char *colon;

	(void)ctl;
	(void)line;
	(void)arg;
	if (level != NULL && strcmp(level, "warning") == 0 && msg != NULL &&
	    (colon = strchr(msg, ':')) != NULL &&
	    (colon = strchr(colon + 1, ':')) != NULL)
		printf(
		    "%.*s: warning:%s\n", (int)(colon - msg), msg, colon + 1);
	else
		printf("%s\n", msg ? msg : line);
}

static int
cmd_reload(struct ctl *ctl)
{
	if (ctl->argc != 1)
		die_usage("reload takes no arguments");
	return simple(ctl, json_pack("{s:s}", "cmd", "reload"), human_reload);
}

static int
cmd_check_rules(struct ctl *ctl)
{
	const char *dir;
	struct diags ds;
	struct conf *c = NULL;
	int rc;

	if (ctl->argc > 2)
		die_usage("check-rules takes at most one directory");
	if (ctl->argc == 2) {
		dir = ctl->argv[1];
	} else {
		diags_init(&ds);
		c = conf_load(
		    ctl->conf_path ? ctl->conf_path : CONF_DEFAULT_PATH, &ds);
		diags_fini(&ds);
		if (c == NULL) {
			fprintf(stderr,
			    "dunnctl: check-rules: no DIR given and no readable dunnd.conf (-c)\n");
			return EXIT_USAGE;
		}
		dir = c->rules;
	}
	rc = rules_check(dir, stdout);
	conf_free(c);
	return rc == 0 ? 0 : EXIT_FAILED;
}

/* Reads all of path ("-" = stdin) into memory. */
static char *
slurp(const char *path, size_t *len)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	struct buf b;
	size_t n;

	if (f == NULL) {
		fprintf(stderr, "dunnctl: %s: %s\n", path, strerror(errno));
		return NULL;
	}
	buf_init(&b);
	do {
		n = fread(buf_reserve(&b, 1 << 20), 1, 1 << 20, f);
		b.len += n;
	} while (n > 0);
	if (ferror(f)) {
		fprintf(stderr, "dunnctl: %s: %s\n", path, strerror(errno));
		buf_fini(&b);
		if (f != stdin)
			fclose(f);
		return NULL;
	}
	if (f != stdin)
		fclose(f);
	*len = buf_size(&b);
	buf_append(&b, "", 1);
	return b.p;
}

/* Appends s[0, n) to out with every invalid UTF-8 sequence as U+FFFD. */
static void
utf8_sanitize(struct buf *out, const unsigned char *s, size_t n)
{
	size_t i = 0, k, len;
	uint32_t cp, min;

	while (i < n) {
		unsigned char c = s[i];

		if (c < 0x80) {
			buf_append(out, &s[i++], 1);
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			len = 2, cp = c & 0x1f, min = 0x80;
		else if (c >= 0xe0 && c <= 0xef)
			len = 3, cp = c & 0x0f, min = 0x800;
		else if (c >= 0xf0 && c <= 0xf4)
			len = 4, cp = c & 0x07, min = 0x10000;
		else
			len = 0, cp = 0, min = 0;
		for (k = 1; len > 0 && k < len; k++) {
			if (i + k >= n || (s[i + k] & 0xc0) != 0x80) {
				len = 0;
				break;
			}
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if (len == 0 || cp < min || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff)) {
			buf_append(out, "\xef\xbf\xbd", 3);
			i += k > 1 ? k : 1;
			continue;
		}
		buf_append(out, &s[i], len);
		i += len;
	}
}

struct ingest_run {
	const char *data;
	size_t len;
	size_t *starts; /* byte offset of each physical line, 1-based */
	size_t nlines;
	FILE *rejects;
};

static void
index_lines(struct ingest_run *ir)
{
	size_t i, cap = 1024;

	ir->starts = xcalloc(cap, sizeof(*ir->starts));
	ir->nlines = 0;
	ir->starts[++ir->nlines] = 0;
	for (i = 0; i < ir->len; i++) {
		if (ir->data[i] != '\n' || i + 1 == ir->len)
			continue;
		if (ir->nlines + 2 >= cap) {
			cap *= 2;
			ir->starts =
			    xreallocarray(ir->starts, cap, sizeof(*ir->starts));
		}
		ir->starts[++ir->nlines] = i + 1;
	}
}

/* The text of physical line n without its line end. */
static void
line_text(const struct ingest_run *ir, size_t n, struct buf *out)
{
	size_t from, to;
	const char *nl;

	buf_clear(out);
	if (n < 1 || n > ir->nlines)
		return;
	from = ir->starts[n];
	nl = memchr(ir->data + from, '\n', ir->len - from);
	to = nl ? (size_t)(nl - ir->data) : ir->len;
	if (to > from && ir->data[to - 1] == '\r' && nl != NULL)
		to--;
	utf8_sanitize(out, (const unsigned char *)ir->data + from, to - from);
}

static void
ingest_record(struct ctl *ctl, const char *line, json_t *rec, void *arg)
{
	struct ingest_run *ir = arg;
	const char *status = json_string_value(json_object_get(rec, "status"));
	json_t *field = json_object_get(rec, "field");
	json_int_t n = json_integer_value(json_object_get(rec, "line"));
	struct buf text;
	char *out;

	if (ctl->json)
		printf("%s\n", line);
	else if (status != NULL && strcmp(status, "ok") != 0) {
		if (strcmp(status, "error") == 0)
			printf("line %lld: %s: %s\n", (long long)n,
			    json_is_string(field) ? json_string_value(field)
			                          : "(line)",
			    json_string_value(json_object_get(rec, "error")));
		else
			printf("line %lld: %s\n", (long long)n, status);
	}
	if (ir->rejects == NULL || status == NULL ||
	    strcmp(status, "error") != 0)
		return;
	buf_init(&text);
	line_text(ir, (size_t)n, &text);
	out = json_dumps(
	    json_pack("{s:I,s:O,s:O,s:s%}", "line", n, "field",
	        field ? field : json_null(), "error",
	        json_object_get(rec, "error"), "input",
	        buf_size(&text) ? buf_data(&text) : "", buf_size(&text)),
	    JSON_COMPACT);
	fprintf(ir->rejects, "%s\n", out);
	free(out);
	buf_fini(&text);
}

static int
cmd_ingest(struct ctl *ctl)
{
	const char *path = "-", *rejects = NULL;
	struct ingest_run ir;
	json_t *fin, *req, *counts;
	char *data;
	int i, rc;

	memset(&ir, 0, sizeof(ir));
	for (i = 1; i < ctl->argc; i++) {
		if (strcmp(ctl->argv[i], "--skip-bad") == 0) {
			if (++i >= ctl->argc)
				die_usage("--skip-bad needs REJECTS.jsonl");
			rejects = ctl->argv[i];
		} else if (i == ctl->argc - 1)
			path = ctl->argv[i];
		else
			die_usage(
			    "ingest: unexpected argument \"%s\"", ctl->argv[i]);
	}
	if (rejects != NULL && (ir.rejects = fopen(rejects, "w")) == NULL) {
		fprintf(stderr, "dunnctl: %s: %s\n", rejects, strerror(errno));
		return EXIT_FAILED;
	}
	if ((data = slurp(path, &ir.len)) == NULL) {
		if (ir.rejects != NULL)
			fclose(ir.rejects);
		return EXIT_FAILED;
	}
	ir.data = data;
	index_lines(&ir);
	rc = EXIT_UNREACHABLE;
	if (connect_daemon(ctl) == -1)
		goto out;
	req = json_pack("{s:s,s:I,s:b,s:s}", "cmd", "ingest", "bytes",
	    (json_int_t)ir.len, "skip_bad", rejects != NULL, "results",
	    ctl->json ? "all" : "bad");
	if (send_request(ctl, req) == 0)
		(void)write_all(ctl->fd, data, ir.len);
	fin = read_reply(ctl, ingest_record, &ir);
	/*
	 * The counts ride in the final record as {"counts":{...}}.  With
	 * --json stdout holds exactly one object per non-blank line, so
	 * the counts go to stderr (README, "Readings").
	 */
	if ((counts = json_object_get(fin, "counts")) != NULL) {
		if (ctl->json) {
			char *c = json_dumps(counts, JSON_COMPACT);

			fprintf(stderr, "%s\n", c);
			free(c);
		} else
			printf(
			    "%lld ok, %lld duplicate, %lld error, %lld rolled_back\n",
			    (long long)json_integer_value(
			        json_object_get(counts, "ok")),
			    (long long)json_integer_value(
			        json_object_get(counts, "duplicate")),
			    (long long)json_integer_value(
			        json_object_get(counts, "error")),
			    (long long)json_integer_value(
			        json_object_get(counts, "rolled_back")));
	}
	rc = final_status(fin);
	json_decref(fin);
out:
	if (ir.rejects != NULL)
		fclose(ir.rejects);
	free(ir.starts);
	free(data);
	return rc;
}

static const struct command commands[] = {
	{ "status", "", cmd_status },
	{ "ingest", "[--skip-bad REJECTS.jsonl] [FILE|-]", cmd_ingest },
	{ "reload", "", cmd_reload },
	{ "check-rules", "[DIR]", cmd_check_rules },
	{ NULL, NULL, NULL },
};

static void __attribute__((noreturn)) usage(void)
{
	const struct command *c;

	fprintf(stderr,
	    "usage: dunnctl [-s SOCKET | -c dunnd.conf] [--json] COMMAND [ARGS]\n");
	for (c = commands; c->name != NULL; c++)
		fprintf(stderr, "       dunnctl %s %s\n", c->name, c->args);
	exit(EXIT_USAGE);
}

int
main(int argc, char *argv[])
{
	struct ctl ctl;
	const struct command *c;
	int i;

	log_procname("dunnctl");
	signal(SIGPIPE, SIG_IGN);
	memset(&ctl, 0, sizeof(ctl));
	ctl.fd = -1;
	ctl.argv = xcalloc((size_t)argc + 1, sizeof(*ctl.argv));
	/* §7: -s, -c and --json may come before or after COMMAND. */
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-s") == 0 || strcmp(argv[i], "-c") == 0) {
			if (i + 1 >= argc)
				die_usage("%s needs an argument", argv[i]);
			if (argv[i][1] == 's')
				ctl.socket = argv[++i];
			else
				ctl.conf_path = argv[++i];
		} else if (strcmp(argv[i], "--json") == 0)
			ctl.json = true;
		else if (strcmp(argv[i], "-h") == 0 ||
		    strcmp(argv[i], "--help") == 0)
			usage();
		else
			ctl.argv[ctl.argc++] = argv[i];
	}
	if (ctl.socket != NULL && ctl.conf_path != NULL)
		die_usage("-s and -c exclude each other");
	if (ctl.argc == 0)
		usage();
	for (c = commands; c->name != NULL; c++)
		if (strcmp(c->name, ctl.argv[0]) == 0)
			break;
	if (c->name == NULL)
		die_usage("unknown command \"%s\"", ctl.argv[0]);
	i = c->run(&ctl);
	if (ctl.in != NULL)
		fclose(ctl.in);
	free(ctl.argv);
	return i;
}
