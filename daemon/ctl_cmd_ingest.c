/*
 * ctl_cmd_ingest — dunnctl ingest (a file of JSON Lines as one batch,
 * rejected lines shown with their text or kept with --skip-bad), and
 * pause, unpause, tag and outcome: ctl_events.c builds their events, sent
 * here as an ingest batch whose result prints as ingest's.
 *
 * Called by dunnctl.c's command table through ctl_int.h.
 */
#include "ctl_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_events.h"

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

/*
 * The UTF-8 sequence at s (n > 0 bytes left): its length when valid,
 * else 0 with *bad = the length of its maximal subpart (Unicode 3.9,
 * Table 3-7: the longest start of a well-formed sequence, at least one
 * byte), each of which becomes one U+FFFD, as most decoders do.
 */
static size_t
utf8_seq(const unsigned char *s, size_t n, size_t *bad)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t k, len;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3;
		if (s[0] == 0xe0)
			lo = 0xa0;
		else if (s[0] == 0xed)
			hi = 0x9f; /* no surrogates */
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4;
		if (s[0] == 0xf0)
			lo = 0x90;
		else if (s[0] == 0xf4)
			hi = 0x8f; /* nothing above U+10FFFF */
	} else {
		*bad = 1;
		return 0;
	}
	for (k = 1; k < len; k++) {
		if (k >= n || s[k] < lo || s[k] > hi) {
			*bad = k;
			return 0;
		}
		lo = 0x80;
		hi = 0xbf;
	}
	return len;
}

/* Appends s[0, n) to out with every invalid UTF-8 sequence as U+FFFD. */
void
ctl_utf8_sanitize(struct buf *out, const unsigned char *s, size_t n)
{
	size_t i = 0, len, bad;

	while (i < n) {
		if ((len = utf8_seq(s + i, n - i, &bad)) == 0) {
			buf_append(out, "\xef\xbf\xbd", 3);
			i += bad;
			continue;
		}
		buf_append(out, &s[i], len);
		i += len;
	}
}

/* The offset of the first invalid UTF-8 sequence or NUL in s, else n. */
size_t
ctl_utf8_check(const unsigned char *s, size_t n)
{
	size_t i = 0, len, bad;

	while (
	    i < n && s[i] != '\0' && (len = utf8_seq(s + i, n - i, &bad)) > 0)
		i += len;
	return i;
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
	ctl_utf8_sanitize(
	    out, (const unsigned char *)ir->data + from, to - from);
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
	json_t *rej;

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
	rej = json_pack("{s:I,s:O,s:O,s:s%}", "line", n, "field",
	    field ? field : json_null(), "error", json_object_get(rec, "error"),
	    "input", buf_size(&text) ? buf_data(&text) : "", buf_size(&text));
	out = json_dumps(rej, JSON_COMPACT);
	json_decref(rej);
	fprintf(ir->rejects, "%s\n", out);
	free(out);
	buf_fini(&text);
}

static int ingest_send(struct ctl *ctl, struct ingest_run *ir, bool skip_bad);

int
ctl_cmd_ingest(struct ctl *ctl)
{
	const char *path = "-", *rejects = NULL;
	struct ingest_run ir;
	char *data;
	int i, rc;

	memset(&ir, 0, sizeof(ir));
	for (i = 1; i < ctl->argc; i++) {
		if (strcmp(ctl->argv[i], "--skip-bad") == 0) {
			if (++i >= ctl->argc)
				ctl_die_usage("--skip-bad needs REJECTS.jsonl");
			rejects = ctl->argv[i];
		} else if (i == ctl->argc - 1)
			path = ctl->argv[i];
		else
			ctl_die_usage(
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
	rc = ingest_send(ctl, &ir, rejects != NULL);
	if (ir.rejects != NULL)
		fclose(ir.rejects);
	free(ir.starts);
	free(data);
	return rc;
}

/*
 * Sends ir's data as one batch (on ctl's connection, made if there is
 * none) and prints the results and the counts; returns the exit code.
 * ctl_events.c's commands use it too: their results print as ingest's.
 */
static int
ingest_send(struct ctl *ctl, struct ingest_run *ir, bool skip_bad)
{
	json_t *fin, *req, *counts;
	int rc;

	index_lines(ir);
	if (ctl->fd == -1 && ctl_connect_daemon(ctl) == -1)
		return EXIT_UNREACHABLE;
	req = json_pack("{s:s,s:I,s:b,s:s}", "cmd", "ingest", "bytes",
	    (json_int_t)ir->len, "skip_bad", skip_bad, "results",
	    ctl->json ? "all" : "bad");
	if (ctl_send_request(ctl, req) == 0)
		(void)ctl_write_all(ctl->fd, ir->data, ir->len);
	fin = ctl_read_reply(ctl, ingest_record, ir);
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
	rc = ctl_final_status(fin);
	json_decref(fin);
	return rc;
}

/* pause, unpause, tag, outcome (ctl_events.c) on one connection. */
static void
keep_first(struct ctl *ctl, const char *line, json_t *rec, void *arg)
{
	json_t **out = arg;

	(void)ctl;
	(void)line;
	if (*out == NULL)
		*out = json_incref(rec);
}

static json_t *
io_ask(void *arg, json_t *req, int *rc)
{
	struct ctl *ctl = arg;
	json_t *fin, *rec = NULL;

	if (ctl->fd == -1 && ctl_connect_daemon(ctl) == -1) {
		json_decref(req);
		*rc = EXIT_UNREACHABLE;
		return NULL;
	}
	(void)ctl_send_request(ctl, req);
	fin = ctl_read_reply(ctl, keep_first, &rec);
	*rc = ctl_final_status(fin);
	json_decref(fin);
	if (*rc != 0 || rec == NULL) {
		json_decref(rec);
		if (*rc == 0)
			*rc = EXIT_FAILED;
		return NULL;
	}
	return rec;
}

static int
io_ingest(void *arg, char *line)
{
	struct ingest_run ir;
	int rc;

	memset(&ir, 0, sizeof(ir));
	ir.data = line;
	ir.len = strlen(line);
	rc = ingest_send(arg, &ir, false);
	free(ir.starts);
	free(line);
	return rc;
}

static void __attribute__((noreturn)) io_usage(const char *msg)
{
	ctl_die_usage("%s", msg);
}

int
ctl_cmd_events(struct ctl *ctl)
{
	struct ctl_io io = { io_ask, io_ingest, io_usage, ctl, ctl->json };

	return ctl_events_run(ctl->argc, ctl->argv, &io);
}
