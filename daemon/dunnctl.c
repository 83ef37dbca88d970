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

#define EXIT_FAILED	 1
#define EXIT_USAGE	 2
#define EXIT_UNREACHABLE 3
#define DEFAULT_SOCKET	 "/run/dunnd/dunnd.sock"

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
		fprintf(stderr, "dunnctl: cannot reach dunnd at %s: %s\n",
		    path, strerror(errno));
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
	if (rc == -1)
		fprintf(stderr, "dunnctl: lost the connection to dunnd: %s\n",
		    strerror(errno));
	return rc;
}

/*
 * Reads the reply: each data record goes to on_record (raw line and
 * parsed object); returns the final record, or NULL when the
 * connection broke (reported).
 */
static json_t *
read_reply(struct ctl *ctl, void (*on_record)(struct ctl *, const char *,
				json_t *, void *),
    void *arg)
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
	if (err != NULL && (strcmp(err, "too many clients") == 0 ||
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
	if (send_request(ctl, req) == -1)
		return EXIT_UNREACHABLE;
	fin = read_reply(ctl, ctl->json || human == NULL ? print_raw : human,
	    NULL);
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
		printf("%.*s: warning:%s\n", (int)(colon - msg), msg,
		    colon + 1);
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
		c = conf_load(ctl->conf_path ? ctl->conf_path
					     : CONF_DEFAULT_PATH,
		    &ds);
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

static const struct command commands[] = {
	{ "status", "", cmd_status },
	{ "reload", "", cmd_reload },
	{ "check-rules", "[DIR]", cmd_check_rules },
	{ NULL, NULL, NULL },
};

static void __attribute__((noreturn))
usage(void)
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
