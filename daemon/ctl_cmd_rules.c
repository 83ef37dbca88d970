/*
 * ctl_cmd_rules — dunnctl's commands about rules: check-rules (loads a
 * directory here, as dunnd would), test-rules (fixtures) and simulate
 * (a rules directory sent to dunnd, read as dunnd reads one).
 *
 * Called by dunnctl.c's command table through ctl_int.h.
 */
#include "ctl_int.h"

#include <sys/stat.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "fixture.h"
#include "protocol.h"
#include "rules.h"

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

int
ctl_cmd_check_rules(struct ctl *ctl)
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

int
ctl_cmd_test_rules(struct ctl *ctl)
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

int
ctl_cmd_simulate(struct ctl *ctl)
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
