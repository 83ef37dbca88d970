/*
 * dunnctl — the command-line client (§7): builds one request per
 * invocation, prints the reply as a human table or, with --json, as the
 * data records it received.
 *
 * Exit codes: 0 ok, 1 the command failed (final record ok:false),
 * 2 usage error, 3 daemon unreachable or refused with "too many
 * clients" / "shutting down".
 *
 * Human output never holds a raw control character (a reason or a name
 * sent by a tool could otherwise move the terminal's cursor): ctl_say()
 * prints each as "?".  Money is shown as major.minor with two decimals
 * computed with integers only (§1: minor units, never floats).
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "clock.h"
#include "conf.h"
#include "ctl_events.h"
#include "ctl_report.h"
#include "kpi.h"
#include "fixture.h"
#include "log.h"
#include "protocol.h"
#include "rules.h"
#include "util.h"
#include "ctl_int.h"

#define SCREEN_WIDTH 80 /* human tables aim at a classic terminal */
#define BAR_MIN      10 /* report aging: width of the share bars */
#define BAR_MAX      30

/* "1 error", "2 errors": a count and its noun, singular or plural. */
static void
count_of(struct buf *b, size_t n, const char *one, const char *many)
{
	buf_printf(b, "%zu %s", n, n == 1 ? one : many);
}

/*
 * check-rules: every error and warning as FILE:LINE (§4.8), then a
 * summary line (none for a clean set); with --json one object per diagnostic
 * {"file","line","level","message"}, then {"errors","warnings"} (and
 * "rules_version" for a valid set).
 */
static int
check_rules(const char *dir, bool json)
{
	struct ruleset *rs;
	struct diags ds;
	char line[sizeof(ds.v->file) + DIAG_MSG_MAX + 32];
	struct buf b;
	json_t *o;
	char *out;
	size_t i;

	diags_init(&ds);
	rs = rules_load_dir(dir, &ds);
	buf_init(&b);
	for (i = 0; i < ds.n; i++) {
		if (json) {
			o = json_pack("{s:s,s:i,s:s,s:s}", "file", ds.v[i].file,
			    "line", ds.v[i].line, "level",
			    ds.v[i].warning ? "warning" : "error", "message",
			    ds.v[i].msg);
			out = o != NULL
			    ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER)
			    : NULL;
			if (out != NULL)
				printf("%s\n", out);
			free(out);
			json_decref(o);
			continue;
		}
		diag_format(&ds.v[i], line, sizeof(line));
		ctl_say("%s\n", line);
	}
	if (json) {
		o = json_pack("{s:I,s:I}", "errors", (json_int_t)ds.errors,
		    "warnings", (json_int_t)ds.warnings);
		if (rs != NULL)
			json_object_set_new(
			    o, "rules_version", json_string(rs->version));
		out = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
		printf("%s\n", out);
		free(out);
		json_decref(o);
	} else if (ds.n > 0) {
		/* A clean set says nothing (and exits 0). */
		if (rs != NULL)
			buf_printf(&b, "rules ok, version %s, ", rs->version);
		else
			buf_printf(&b, "rules refused: ");
		count_of(&b, ds.errors, "error", "errors");
		buf_printf(&b, ", ");
		count_of(&b, ds.warnings, "warning", "warnings");
		buf_append(&b, "", 1);
		ctl_say("%s\n", buf_data(&b));
	}
	buf_fini(&b);
	rules_free(rs);
	diags_fini(&ds);
	return rs != NULL ? 0 : EXIT_FAILED;
}

static int
cmd_check_rules(struct ctl *ctl)
{
	const char *dir;
	struct diags ds;
	struct conf *c = NULL;
	int rc;

	if (ctl->argc > 2)
		ctl_die_usage("check-rules takes at most one directory");
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
	rc = check_rules(dir, ctl->json);
	conf_free(c);
	return rc;
}

/* test-rules: a failed expectation's account, as `explain` prints it. */
static void
fixture_explain(json_t *rec, void *arg)
{
	ctl_explain_report(arg, NULL, rec, NULL);
}

static int
cmd_test_rules(struct ctl *ctl)
{
	struct opt opts[] = { { "--rules", "DIR", NULL },
		{ NULL, NULL, NULL } };
	const char **paths = xcalloc((size_t)ctl->argc, sizeof(*paths));
	struct fixture_opts o = { ctl->json, stdout, stderr, NULL,
		fixture_explain, ctl };
	struct conf *c = NULL;
	struct diags ds;
	int n, rc;

	n = ctl_parse_args(ctl, opts, paths, ctl->argc);
	if (n == 0)
		ctl_die_usage("test-rules needs at least one FIXTURE");
	/* The config gives the rules (no --rules) and the zone to compare. */
	if (opts[0].value == NULL || ctl->conf_path != NULL) {
		diags_init(&ds);
		c = conf_load(
		    ctl->conf_path ? ctl->conf_path : CONF_DEFAULT_PATH, &ds);
		diags_fini(&ds);
		if (c == NULL) {
			fprintf(stderr,
			    "dunnctl: test-rules: no --rules DIR given and no readable dunnd.conf (-c)\n");
			free(paths);
			return EXIT_USAGE;
		}
		o.conf_zone = c->timezone;
	}
	rc = fixture_run(
	    opts[0].value ? opts[0].value : c->rules, paths, (size_t)n, &o);
	conf_free(c);
	free(paths);
	return rc;
}

static int
cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A rules directory as §4.1 reads it: the rule file names, sorted. */
static int
rule_file_names(DIR *d, const char *dir, char ***names, size_t *n)
{
	struct dirent *de;
	size_t len;

	*names = NULL;
	*n = 0;
	errno = 0;
	while ((de = readdir(d)) != NULL) {
		len = strlen(de->d_name);
		if (de->d_name[0] == '.' || len < 5 ||
		    strcmp(de->d_name + len - 5, ".conf") != 0)
			continue;
		*names = xreallocarray(*names, *n + 1, sizeof(**names));
		(*names)[(*n)++] = xstrdup(de->d_name);
		errno = 0;
	}
	if (errno != 0) {
		fprintf(stderr, "dunnctl: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	if (*n > 0)
		qsort(*names, *n, sizeof(**names), cmp_name);
	return 0;
}

/*
 * Reads name in directory d whole, at most PROTO_LINE_MAX bytes (more
 * could not travel in one request anyway); NULL when it cannot be sent
 * (reported).
 */
static char *
read_rule_file(DIR *d, const char *dir, const char *name, size_t *len)
{
	struct buf b;
	ssize_t r;
	int fd;

	buf_init(&b);
	fd = openat(dirfd(d), name, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd == -1)
		goto fail;
	while ((r = read(fd, buf_reserve(&b, READ_CHUNK), READ_CHUNK)) != 0) {
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1)
			goto fail;
		b.len += (size_t)r;
		if (buf_size(&b) > PROTO_LINE_MAX) {
			fprintf(stderr,
			    "dunnctl: %s/%s: too large to send (over 1 MiB)\n",
			    dir, name);
			close(fd);
			buf_fini(&b);
			return NULL;
		}
	}
	close(fd);
	*len = buf_size(&b);
	buf_append(&b, "", 1);
	return b.p;
fail:
	fprintf(stderr, "dunnctl: %s/%s: %s\n", dir, name, strerror(errno));
	if (fd != -1)
		close(fd);
	buf_fini(&b);
	return NULL;
}

/* 1-based line of byte off in s. */
static size_t
line_of(const char *s, size_t off)
{
	size_t line = 1, i;

	for (i = 0; i < off; i++) {
		if (s[i] == '\n')
			line++;
	}
	return line;
}

/*
 * The rule files of dir as §8's "files": regular files whose name ends
 * in ".conf" and does not start with ".", in byte order of names,
 * subdirectories ignored (§4.1).  JSON carries only UTF-8 without NUL:
 * any other file is reported by name and line.  NULL on error.
 */
static json_t *
load_rule_files(const char *dir)
{
	json_t *files = json_array();
	char **names = NULL, *data = NULL;
	size_t n = 0, i, len, bad;
	struct stat st;
	struct buf nb;
	DIR *d = NULL;

	buf_init(&nb);
	if ((d = opendir(dir)) == NULL) {
		fprintf(stderr, "dunnctl: %s: %s\n", dir, strerror(errno));
		goto fail;
	}
	if (rule_file_names(d, dir, &names, &n) == -1)
		goto fail;
	for (i = 0; i < n; i++) {
		if (fstatat(dirfd(d), names[i], &st, 0) == -1) {
			fprintf(stderr, "dunnctl: %s/%s: %s\n", dir, names[i],
			    strerror(errno));
			goto fail;
		}
		if (!S_ISREG(st.st_mode))
			continue;
		len = strlen(names[i]);
		if (ctl_utf8_check((const unsigned char *)names[i], len) !=
		    len) {
			buf_clear(&nb);
			ctl_utf8_sanitize(
			    &nb, (const unsigned char *)names[i], len);
			buf_append(&nb, "", 1);
			fprintf(stderr,
			    "dunnctl: %s/%s: the file name is not valid UTF-8, it cannot be sent\n",
			    dir, buf_data(&nb));
			goto fail;
		}
		if ((data = read_rule_file(d, dir, names[i], &len)) == NULL)
			goto fail;
		if ((bad = ctl_utf8_check((unsigned char *)data, len)) != len) {
			fprintf(stderr,
			    "dunnctl: %s/%s:%zu: %s, the file cannot be sent\n",
			    dir, names[i], line_of(data, bad),
			    data[bad] == '\0' ? "a NUL byte"
			                      : "not valid UTF-8");
			goto fail;
		}
		json_array_append_new(files,
		    json_pack(
		        "{s:s,s:s%}", "name", names[i], "text", data, len));
		free(data);
		data = NULL;
	}
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	closedir(d);
	buf_fini(&nb);
	return files;
fail:
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	free(data);
	if (d != NULL)
		closedir(d);
	buf_fini(&nb);
	json_decref(files);
	return NULL;
}

static const struct col simulate_cols[] = {
	{ "ACCOUNT", false },
	{ "FROM", false },
	{ "TO", false },
	{ NULL, false },
};

static void
simulate_row(struct ctl *ctl, const char *line, json_t *rec, void *arg)
{
	static const char *const keys[] = { "account", "from", "to", NULL };
	struct listing *l = arg;

	/* A rule error or warning, shaped as reload's (§8). */
	if (json_object_get(rec, "account") == NULL &&
	    json_object_get(rec, "message") != NULL) {
		ctl_human_reload(ctl, line, rec, NULL);
		l->said++;
		return;
	}
	ctl_listing_add_fields(l, rec, keys);
}

static int
cmd_simulate(struct ctl *ctl)
{
	struct opt opts[] = { { "--rules", "DIR", NULL },
		{ NULL, NULL, NULL } };
	struct listing l = { .none = "no account would change stage" };
	struct view v = { simulate_row, ctl_listing_done, &l, false };
	json_t *files;
	char *line;

	ctl_parse_args(ctl, opts, NULL, 0);
	if (opts[0].value == NULL)
		ctl_die_usage("simulate needs --rules DIR");
	if ((files = load_rule_files(opts[0].value)) == NULL)
		return EXIT_FAILED;
	line = ctl_request_line(
	    json_pack("{s:s,s:o}", "cmd", "simulate", "files", files));
	if (strlen(line) > PROTO_LINE_MAX) {
		fprintf(stderr,
		    "dunnctl: %s: the rule files are too large to send (%zu bytes as a request, at most 1 MiB)\n",
		    opts[0].value, strlen(line));
		free(line);
		return EXIT_FAILED;
	}
	return ctl_listing_exchange(ctl, simulate_cols, line, &v);
}

static const char *const aging_buckets[] = { "not_due", "1-30", "31-60",
	"61-90", "91+", NULL };

static const struct col aging_cols[] = {
	{ "STAGE", false },
	{ "CUR", false },
	{ "BUCKET", false },
	{ "AMOUNT", true },
	{ "SHARE", false },
	{ "", true }, /* percent */
	{ NULL, false },
};

static void
keep_record(struct ctl *ctl, const char *line, json_t *rec, void *arg)
{
	(void)ctl;
	(void)line;
	json_array_append(arg, rec);
}

/*
 * report aging: a currency in more than one stage gets a record of its
 * own with stage "all": each bucket and the total summed over its
 * stages (amounts of different currencies are never added).
 */
static void
add_grand_totals(json_t *recs)
{
	json_t *sums = json_object(), *rec, *sum, *v;
	const char *cur;
	size_t i, k, n = json_array_size(recs);

	for (i = 0; i < n; i++) {
		rec = json_array_get(recs, i);
		if ((cur = json_string_value(
		         json_object_get(rec, "currency"))) == NULL)
			continue;
		if ((sum = json_object_get(sums, cur)) == NULL) {
			sum = json_pack("{s:s,s:s,s:i}", "stage", "all",
			    "currency", cur, "stages", 0);
			json_object_set_new(sums, cur, sum);
		}
		json_object_set_new(sum, "stages",
		    json_integer(
		        json_integer_value(json_object_get(sum, "stages")) +
		        1));
		for (k = 0; k <= 5; k++) {
			const char *key = k < 5 ? aging_buckets[k] : "total";

			v = json_object_get(sum, key);
			json_object_set_new(sum, key,
			    json_integer(json_integer_value(v) +
			        json_integer_value(json_object_get(rec, key))));
		}
	}
	/* In the order each currency first appears. */
	for (i = 0; i < n; i++) {
		cur = json_string_value(
		    json_object_get(json_array_get(recs, i), "currency"));
		sum = cur != NULL ? json_object_get(sums, cur) : NULL;
		if (sum == NULL)
			continue;
		if (json_integer_value(json_object_get(sum, "stages")) > 1)
			json_array_append(recs, sum);
		json_object_del(sums, cur);
	}
	json_decref(sums);
}

/*
 * report aging: per stage and currency, one row per bucket with its
 * share of that stage's total as a bar of '#', the bars as wide as 80
 * columns leave (BAR_MIN to BAR_MAX).
 */
static void
aging_done(struct ctl *ctl, json_t *fin, void *arg)
{
	json_t *recs = arg, *rec;
	struct table t;
	struct buf b;
	size_t w[6], i, k, n, bar, used, cell;
	json_int_t total;

	(void)ctl;
	if (json_array_size(recs) == 0) {
		if (json_is_true(json_object_get(fin, "ok")))
			ctl_say("no open amounts\n");
		return;
	}
	add_grand_totals(recs);
	ctl_table_init(&t, aging_cols);
	buf_init(&b);
	json_array_foreach(recs, i, rec)
	{
		for (k = 0; aging_buckets[k] != NULL; k++) {
			ctl_table_add(
			    &t, k == 0 ? ctl_field(&b, rec, "stage") : "");
			ctl_table_add(
			    &t, k == 0 ? ctl_field(&b, rec, "currency") : "");
			ctl_table_add(&t, aging_buckets[k]);
			ctl_table_add(&t,
			    ctl_money(&b,
			        json_object_get(rec, aging_buckets[k]), NULL));
			ctl_table_add(&t, "");
			ctl_table_add(&t, "");
		}
		ctl_table_add(&t, "");
		ctl_table_add(&t, "");
		ctl_table_add(&t, "total");
		ctl_table_add(
		    &t, ctl_money(&b, json_object_get(rec, "total"), NULL));
		ctl_table_add(&t, "");
		ctl_table_add(&t, "");
	}
	/* The bars get what the other columns leave of the screen. */
	ctl_table_width(&t, w);
	used = w[0] + w[1] + w[2] + w[3] + strlen("100.0%") + 2 * 5;
	bar = used + BAR_MIN < SCREEN_WIDTH ? SCREEN_WIDTH - used : BAR_MIN;
	if (bar > BAR_MAX)
		bar = BAR_MAX;
	json_array_foreach(recs, i, rec)
	{
		total = json_integer_value(json_object_get(rec, "total"));
		for (k = 0; aging_buckets[k] != NULL; k++) {
			json_int_t part = json_integer_value(
			    json_object_get(rec, aging_buckets[k]));
			int64_t pm = ctl_share(part, total, 1000);

			/* Six rows a record: five buckets and the total. */
			cell = (i * 6 + k) * t.ncols;
			n = (size_t)ctl_share(part, total, (int64_t)bar);
			free(t.cells[cell + 4]);
			t.cells[cell + 4] = xmalloc(n + 1);
			memset(t.cells[cell + 4], '#', n);
			t.cells[cell + 4][n] = '\0';
			buf_clear(&b);
			if (total > 0)
				buf_printf(&b, "%d.%d%%", (int)(pm / 10),
				    (int)(pm % 10));
			else
				buf_printf(&b, "-");
			buf_append(&b, "", 1);
			free(t.cells[cell + 5]);
			t.cells[cell + 5] = xstrdup(buf_data(&b));
		}
	}
	ctl_table_print(&t, 0);
	ctl_table_fini(&t);
	buf_fini(&b);
}

/* report kpi: drawn by ctl_report once every record is in. */
static void
kpi_done(struct ctl *ctl, json_t *fin, void *arg)
{
	(void)ctl;
	if (json_is_true(json_object_get(fin, "ok")))
		ctl_report_kpi(arg, stdout, isatty(STDOUT_FILENO));
}

/* report aging on a terminal: charts (ctl_report); piped: the table. */
static void
aging_show(struct ctl *ctl, json_t *fin, void *arg)
{
	if (isatty(STDOUT_FILENO) && json_array_size(arg) > 0)
		ctl_report_aging_chart(arg, stdout);
	else
		aging_done(ctl, fin, arg);
}

static int
cmd_report(struct ctl *ctl)
{
	struct opt opts[] = { { "--months", "N", NULL }, { NULL, NULL, NULL } };
	const char *name;
	json_t *recs = json_array(), *req;
	struct view v = { keep_record, aging_show, recs, false };
	int rc;

	if (ctl_parse_args(ctl, opts, &name, 1) != 1)
		ctl_die_usage("report needs a report name: aging or kpi");
	req = json_pack("{s:s,s:s}", "cmd", "report", "name", name);
	if (strcmp(name, "kpi") == 0) {
		v.done = kpi_done;
		if (opts[0].value != NULL) {
			json_int_t n = ctl_parse_seq("--months", opts[0].value);

			if (n < 1 || n > KPI_MONTHS_MAX)
				ctl_die_usage(
				    "report kpi: --months must be 1-%d",
				    KPI_MONTHS_MAX);
			json_object_set_new(req, "months", json_integer(n));
		}
	} else if (strcmp(name, "aging") != 0 || opts[0].value != NULL)
		ctl_die_usage(
		    "report: unknown report \"%s\" (there are: aging, kpi [--months N])",
		    name);
	rc = ctl_exchange(ctl, ctl_request_line(req), &v);
	json_decref(recs);
	return rc;
}

/* One entry per §7 command, in the contract's order; ctl_usage() shows it. */
static const struct command commands[] = {
	{ "status", "", ctl_cmd_status },
	{ "ingest", "[--skip-bad REJECTS.jsonl] [FILE|-]", ctl_cmd_ingest },
	{ "accounts", "[--stage S]", ctl_cmd_accounts },
	{ "explain", "ACCOUNT", ctl_cmd_explain },
	{ "tasks", "[--open [--workable [--at TIME]]] [--type T] [--account A]",
	    ctl_cmd_tasks },
	{ "feed", "[--from SEQ] [--follow] [--consumer NAME]", ctl_cmd_feed },
	{ "ack", "--consumer NAME SEQ", ctl_cmd_ack },
	{ "pause", "ACCOUNT", ctl_cmd_events },
	{ "unpause", "ACCOUNT", ctl_cmd_events },
	{ "tag", "ACCOUNT [+TAG...] [-TAG...]", ctl_cmd_events },
	{ "outcome", "TASK RESULT [--note TEXT] [--at TIME]", ctl_cmd_events },
	{ "reload", "", ctl_cmd_reload },
	{ "check-rules", "[DIR]", cmd_check_rules },
	{ "test-rules", "[--rules DIR] FIXTURE...", cmd_test_rules },
	{ "simulate", "--rules DIR", cmd_simulate },
	{ "report", "aging | kpi [--months N]", cmd_report },
	{ "metrics", "", ctl_cmd_metrics },
	{ "clock", "set TIME | advance DURATION", ctl_cmd_clock },
	{ "consumers", "", ctl_cmd_consumers },
	{ "backup", "FILE", ctl_cmd_backup },
	{ NULL, NULL, NULL },
};

/* Edits (insert, delete, replace, swap two neighbours) from a to b. */
static size_t
edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i, j, d[32][32];

	if (la >= 32 || lb >= 32)
		return SIZE_MAX;
	for (i = 0; i <= la; i++)
		d[i][0] = i;
	for (j = 0; j <= lb; j++)
		d[0][j] = j;
	for (i = 1; i <= la; i++)
		for (j = 1; j <= lb; j++) {
			size_t best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);

			if (d[i - 1][j] + 1 < best)
				best = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < best)
				best = d[i][j - 1] + 1;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] &&
			    a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < best)
				best = d[i - 2][j - 2] + 1;
			d[i][j] = best;
		}
	return d[la][lb];
}

/* An unknown command: the nearest one when it is close (at most 2 edits). */
static void __attribute__((noreturn)) unknown_command(const char *name)
{
	const struct command *c, *best = NULL;
	size_t d, bestd = 3;

	for (c = commands; c->name != NULL; c++) {
		if ((d = edit_distance(name, c->name)) < bestd) {
			bestd = d;
			best = c;
		}
	}
	if (best != NULL)
		ctl_die_usage("unknown command \"%s\"; did you mean \"%s\"?",
		    name, best->name);
	ctl_die_usage("unknown command \"%s\"", name);
}

int
main(int argc, char *argv[])
{
	struct ctl ctl;
	const struct command *c;
	int i;

	log_procname("dunnctl");
	ctl_set_commands(commands);
	signal(SIGPIPE, SIG_IGN);
	memset(&ctl, 0, sizeof(ctl));
	ctl.fd = -1;
	buf_init(&ctl.in);
	ctl.argv = xcalloc((size_t)argc + 1, sizeof(*ctl.argv));
	/* §7: -s, -c and --json may come before or after COMMAND. */
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-s") == 0 || strcmp(argv[i], "-c") == 0) {
			if (i + 1 >= argc)
				ctl_die_usage("%s needs an argument", argv[i]);
			if (argv[i][1] == 's')
				ctl.socket = argv[++i];
			else
				ctl.conf_path = argv[++i];
		} else if (strcmp(argv[i], "--json") == 0)
			ctl.json = true;
		else if (strcmp(argv[i], "-h") == 0 ||
		    strcmp(argv[i], "--help") == 0)
			ctl_usage_exit(0);
		else if (strcmp(argv[i], "--version") == 0) {
			printf("dunnctl %s\n", DUNND_VERSION);
			free(ctl.argv);
			return 0;
		} else
			ctl.argv[ctl.argc++] = argv[i];
	}
	if (ctl.socket != NULL && ctl.conf_path != NULL)
		ctl_die_usage("-s and -c exclude each other");
	/* Neither -s nor -c: the environment's, set once per shell. */
	if (ctl.socket == NULL && ctl.conf_path == NULL) {
		const char *env;

		if ((env = getenv("DUNND_SOCKET")) != NULL && *env != '\0')
			ctl.socket = env;
		if ((env = getenv("DUNNCTL_CONFIG")) != NULL && *env != '\0')
			ctl.conf_path = env;
		ctl.defaulted = ctl.socket == NULL && ctl.conf_path == NULL;
	}
	if (ctl.argc == 0)
		ctl_usage();
	for (c = commands; c->name != NULL; c++)
		if (strcmp(c->name, ctl.argv[0]) == 0)
			break;
	if (c->name == NULL)
		unknown_command(ctl.argv[0]);
	i = c->run(&ctl);
	if (ctl.fd != -1)
		close(ctl.fd);
	buf_fini(&ctl.in);
	free(ctl.argv);
	/*
	 * Output that did not reach stdout is a failure; a reader that went
	 * away (EPIPE: a pipe into head) made its own choice.
	 */
	if ((fflush(stdout) == EOF || ferror(stdout)) && errno != EPIPE) {
		fprintf(stderr, "dunnctl: stdout: %s\n", strerror(errno));
		if (i == 0)
			i = EXIT_FAILED;
	}
	return i;
}
