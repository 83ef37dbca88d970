/*
 * ctl_events — builds the events of dunnctl's pause, unpause, tag and
 * outcome (see ctl_events.h).  The daemon validates them as any other
 * ingested event (§2.2); here only what the command line can get wrong
 * is checked (a change without its + or -, a tag added and removed).
 */
#include "ctl_events.h"

#include <sys/random.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "util.h"

int
ctl_event_id(char *id)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char r[16];
	size_t got = 0;
	ssize_t n;
	int i;

	while (got < sizeof(r)) {
		n = getrandom(r + got, sizeof(r) - got, 0);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		got += (size_t)n;
	}
	memcpy(id, "ctl-", 4);
	for (i = 0; i < 16; i++) {
		id[4 + 2 * i] = hex[r[i] >> 4];
		id[5 + 2 * i] = hex[r[i] & 15];
	}
	id[CTL_EVENT_ID_LEN] = '\0';
	return 0;
}

/* ev (consumed) with a fresh id, as one line with its "\n". */
static char *
event_line(json_t *ev, char *err, size_t errlen)
{
	char id[CTL_EVENT_ID_LEN + 1], *s, *line;

	if (ev == NULL) {
		snprintf(err, errlen, "not valid UTF-8");
		return NULL;
	}
	if (ctl_event_id(id) == -1) {
		json_decref(ev);
		snprintf(err, errlen, "no random bytes for the event id: %s",
		    strerror(errno));
		return NULL;
	}
	json_object_set_new(ev, "id", json_string(id));
	s = json_dumps(ev, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(ev);
	if (s == NULL) {
		snprintf(err, errlen, "cannot encode the event");
		return NULL;
	}
	line = xmalloc(strlen(s) + 2);
	strcpy(line, s);
	strcat(line, "\n");
	free(s);
	return line;
}

/* A JSON string, or NULL when s is not UTF-8. */
static json_t *
str(const char *s)
{
	return json_string(s);
}

char *
ctl_event_pause(const char *account, bool paused, char *err, size_t errlen)
{
	json_t *ev, *a = str(account);

	if (a == NULL) {
		snprintf(err, errlen, "account: not valid UTF-8");
		return NULL;
	}
	ev = json_pack("{s:s,s:s,s:o,s:b}", "type", "account", "id", "",
	    "account", a, "paused", paused);
	return event_line(ev, err, errlen);
}

static bool
has_tag(json_t *tags, const char *t)
{
	size_t i;
	json_t *v;

	json_array_foreach(tags, i, v)
	{
		if (json_is_string(v) && strcmp(json_string_value(v), t) == 0)
			return true;
	}
	return false;
}

char *
ctl_event_tag(const char *account, json_t *current, char *const *changes,
    size_t nchanges, json_t **tags_out, char *err, size_t errlen)
{
	json_t *tags = json_array(), *v, *a, *ev;
	size_t i, j;
	const char *c;

	for (i = 0; i < nchanges; i++) {
		c = changes[i];
		if ((c[0] != '+' && c[0] != '-') || c[1] == '\0') {
			snprintf(err, errlen,
			    "\"%s\": each change is +TAG (add) or -TAG (remove)",
			    c);
			goto fail;
		}
		for (j = 0; j < nchanges; j++) {
			if (changes[j][0] != c[0] &&
			    strcmp(changes[j] + 1, c + 1) == 0) {
				snprintf(err, errlen,
				    "tag \"%s\" is both added and removed",
				    c + 1);
				goto fail;
			}
		}
	}
	/* The current tags, in their order, less the removed ones. */
	json_array_foreach(current, i, v)
	{
		bool removed = false;

		if (!json_is_string(v))
			continue;
		for (j = 0; j < nchanges; j++)
			if (changes[j][0] == '-' &&
			    strcmp(changes[j] + 1, json_string_value(v)) == 0)
				removed = true;
		if (!removed && !has_tag(tags, json_string_value(v)))
			json_array_append(tags, v);
	}
	for (j = 0; j < nchanges; j++) {
		if (changes[j][0] != '+' || has_tag(tags, changes[j] + 1))
			continue;
		if ((v = str(changes[j] + 1)) == NULL) {
			snprintf(
			    err, errlen, "\"%s\": not valid UTF-8", changes[j]);
			goto fail;
		}
		json_array_append_new(tags, v);
	}
	if ((a = str(account)) == NULL) {
		snprintf(err, errlen, "account: not valid UTF-8");
		goto fail;
	}
	if (tags_out != NULL)
		*tags_out = json_incref(tags);
	ev = json_pack("{s:s,s:s,s:o,s:o}", "type", "account", "id", "",
	    "account", a, "tags", tags);
	return event_line(ev, err, errlen);
fail:
	json_decref(tags);
	return NULL;
}

char *
ctl_event_outcome(const char *task, const char *result, const char *note,
    const char *at, char *err, size_t errlen)
{
	json_t *ev, *t = str(task), *r = str(result), *a = str(at), *n = NULL;

	if (note != NULL && (n = str(note)) == NULL) {
		snprintf(err, errlen, "--note: not valid UTF-8");
		goto fail;
	}
	if (t == NULL || r == NULL || a == NULL) {
		snprintf(err, errlen, "%s: not valid UTF-8",
		    t == NULL       ? "TASK"
		        : r == NULL ? "RESULT"
		                    : "--at");
		goto fail;
	}
	ev = json_pack("{s:s,s:s,s:o,s:o,s:o}", "type", "outcome", "id", "",
	    "task", t, "result", r, "at", a);
	if (n != NULL)
		json_object_set_new(ev, "note", n);
	return event_line(ev, err, errlen);
fail:
	json_decref(t);
	json_decref(r);
	json_decref(a);
	json_decref(n);
	return NULL;
}

/* The commands (§7); admins only: ingest is (§8). */

static void __attribute__((noreturn, format(printf, 2, 3)))
usage(const struct ctl_io *io, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	io->usage(msg);
}

static int
send_line(const struct ctl_io *io, char *line, const char *err)
{
	if (line == NULL) {
		fprintf(stderr, "dunnctl: %s\n", err);
		return 1;
	}
	return io->ingest(io->arg, line);
}

/* tag: the current tags from explain, then the whole new list. */
static int
run_tag(int argc, char **argv, const struct ctl_io *io)
{
	char err[300], *line;
	json_t *rec, *cur, *tags = NULL;
	int rc = 0;

	if (argc < 2)
		usage(io, "tag needs ACCOUNT");
	rec = io->ask(io->arg,
	    json_pack("{s:s,s:s}", "cmd", "explain", "account", argv[1]), &rc);
	if (rec == NULL)
		return rc;
	cur = json_object_get(json_object_get(rec, "facts"), "tags");
	if (argc == 2) {
		/* No change: the tags as they are; nothing is sent. */
		size_t i;
		json_t *v;

		if (io->json) {
			json_t *o = json_pack("{s:O,s:o}", "account",
			    json_object_get(rec, "account"), "tags",
			    cur != NULL ? json_incref(cur) : json_array());

			line =
			    json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
			printf("%s\n", line);
			free(line);
			json_decref(o);
		} else if (json_array_size(cur) == 0)
			printf("%s: no tags\n", argv[1]);
		else {
			printf("%s:", argv[1]);
			json_array_foreach(cur, i, v)
			    printf(" %s", json_string_value(v));
			printf("\n");
		}
		json_decref(rec);
		return 0;
	}
	line = ctl_event_tag(
	    argv[1], cur, argv + 2, (size_t)argc - 2, &tags, err, sizeof(err));
	json_decref(rec);
	json_decref(tags);
	if (line == NULL)
		usage(io, "tag: %s", err);
	return io->ingest(io->arg, line);
}

/* outcome: --at defaults to the daemon's now (its clock may be a test one). */
static int
run_outcome(int argc, char **argv, const struct ctl_io *io)
{
	const char *pos[2], *note = NULL, *at = NULL, *why;
	char err[300], *line, *owned = NULL;
	int i, n = 0, rc = 0;
	int64_t t;
	json_t *rec;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *eq = strchr(a, '='), **slot = NULL;
		size_t len = eq != NULL ? (size_t)(eq - a) : strlen(a);

		if (len == 6 && strncmp(a, "--note", 6) == 0)
			slot = &note;
		else if (len == 4 && strncmp(a, "--at", 4) == 0)
			slot = &at;
		else if (a[0] == '-' && a[1] != '\0')
			usage(io, "outcome: unknown option \"%s\"", a);
		if (slot == NULL) {
			if (n == 2)
				usage(io, "outcome: unexpected argument \"%s\"",
				    a);
			pos[n++] = a;
			continue;
		}
		if (*slot != NULL)
			usage(io, "outcome: %.*s given twice", (int)len, a);
		if (eq != NULL)
			*slot = eq + 1;
		else if (i + 1 < argc)
			*slot = argv[++i];
		else
			usage(io, "outcome: %s needs a value", a);
	}
	if (n != 2)
		usage(io, "outcome needs TASK and RESULT");
	if (at != NULL && clock_parse_ts(at, strlen(at), &t, &why) == -1)
		usage(io, "outcome: --at %s: %s", at, why);
	if (at == NULL) {
		rec =
		    io->ask(io->arg, json_pack("{s:s}", "cmd", "status"), &rc);
		if (rec == NULL)
			return rc;
		at = json_string_value(json_object_get(rec, "now"));
		owned = xstrdup(at != NULL ? at : "");
		json_decref(rec);
		at = owned;
	}
	line = ctl_event_outcome(pos[0], pos[1], note, at, err, sizeof(err));
	free(owned);
	return send_line(io, line, err);
}

int
ctl_events_run(int argc, char **argv, const struct ctl_io *io)
{
	char err[300];

	if (strcmp(argv[0], "pause") == 0 || strcmp(argv[0], "unpause") == 0) {
		if (argc != 2)
			usage(io, "%s needs exactly one ACCOUNT", argv[0]);
		return send_line(io,
		    ctl_event_pause(
		        argv[1], argv[0][0] == 'p', err, sizeof(err)),
		    err);
	}
	if (strcmp(argv[0], "tag") == 0)
		return run_tag(argc, argv, io);
	return run_outcome(argc, argv, io);
}
