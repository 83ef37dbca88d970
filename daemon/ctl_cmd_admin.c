/*
 * ctl_cmd_admin — dunnctl's commands that operate the daemon: status,
 * reload, metrics, clock and backup.
 *
 * Called by dunnctl.c's command table through ctl_int.h.
 */
#include "ctl_int.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "ctl_report.h"

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
	if (json_integer_value(json_object_get(rec, "clock_ahead")) > 0)
		printf("clock ahead    %lld s of the system time\n",
		    (long long)json_integer_value(
		        json_object_get(rec, "clock_ahead")));
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
	if ((v = json_object_get(rec, "feed_id")) != NULL)
		printf("feed id        %s\n", json_string_value(v));
	printf("accounts       %lld\n",
	    (long long)json_integer_value(json_object_get(rec, "accounts")));
	json_object_foreach(json_object_get(rec, "stages"), key, v)
	    printf("  %-20s %8lld\n", key, (long long)json_integer_value(v));
}

int
ctl_cmd_status(struct ctl *ctl)
{
	if (ctl->argc != 1)
		ctl_die_usage("status takes no arguments");
	return ctl_simple(
	    ctl, json_pack("{s:s}", "cmd", "status"), human_status);
}

void
ctl_human_reload(struct ctl *ctl, const char *line, json_t *rec, void *arg)
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

int
ctl_cmd_reload(struct ctl *ctl)
{
	if (ctl->argc != 1)
		ctl_die_usage("reload takes no arguments");
	return ctl_simple(
	    ctl, json_pack("{s:s}", "cmd", "reload"), ctl_human_reload);
}

static void
backup_done(struct ctl *ctl, json_t *fin, void *arg)
{
	(void)ctl;
	(void)arg;
	if (json_is_true(json_object_get(fin, "ok")))
		ctl_say("backup written to %s (%lld bytes)\n",
		    json_string_value(json_object_get(fin, "path")),
		    (long long)json_integer_value(
		        json_object_get(fin, "bytes")));
}

/* backup FILE: written by dunnd, so FILE is made absolute here. */
int
ctl_cmd_backup(struct ctl *ctl)
{
	struct view v = { NULL, backup_done, NULL, false };
	const char *file;
	char *path, *dir;
	json_t *req;

	if (ctl_parse_args(ctl, NULL, &file, 1) != 1)
		ctl_die_usage("backup needs FILE");
	if (file[0] == '/')
		path = xstrdup(file);
	else {
		if ((dir = getcwd(NULL, 0)) == NULL)
			ctl_die_usage(
			    "backup: cannot tell the current directory");
		path = xmalloc(strlen(dir) + strlen(file) + 2);
		sprintf(path, "%s/%s", dir, file);
		free(dir);
	}
	req = json_pack("{s:s,s:s}", "cmd", "backup", "path", path);
	free(path);
	return ctl_exchange(ctl, ctl_request_line(req), &v);
}

/* metrics: the exposition text as it came. */
static void
metrics_record(struct ctl *ctl, const char *line, json_t *rec, void *arg)
{
	(void)ctl;
	(void)line;
	(void)arg;
	ctl_report_metrics(rec, stdout);
}

int
ctl_cmd_metrics(struct ctl *ctl)
{
	if (ctl->argc != 1)
		ctl_die_usage("metrics takes no arguments");
	return ctl_simple(
	    ctl, json_pack("{s:s}", "cmd", "metrics"), metrics_record);
}

/* clock: the new time, from a data record or the final one. */
static void
clock_record(struct ctl *ctl, const char *line, json_t *rec, void *arg)
{
	json_t **now = arg;

	(void)ctl;
	(void)line;
	if (json_object_get(rec, "now") != NULL) {
		json_decref(*now);
		*now = json_incref(json_object_get(rec, "now"));
	}
}

static void
clock_done(struct ctl *ctl, json_t *fin, void *arg)
{
	json_t **now = arg, *v = json_object_get(fin, "now");
	struct buf b;

	(void)ctl;
	if (v == NULL)
		v = *now;
	if (v == NULL || !json_is_true(json_object_get(fin, "ok")))
		return;
	buf_init(&b);
	ctl_say("now %s\n", ctl_text(&b, v));
	buf_fini(&b);
}

int
ctl_cmd_clock(struct ctl *ctl)
{
	const char *pos[2], *why;
	json_t *now = NULL;
	struct view v = { clock_record, clock_done, &now, false };
	int64_t t;
	int rc;

	if (ctl_parse_args(ctl, NULL, pos, 2) != 2)
		ctl_die_usage(
		    "clock needs \"set TIME\" or \"advance DURATION\"");
	if (strcmp(pos[0], "set") == 0) {
		if (clock_parse_ts(pos[1], strlen(pos[1]), &t, &why) == -1)
			ctl_die_usage(
			    "clock set: bad time \"%s\": %s (want e.g. 2026-11-27T09:00:00+08:00)",
			    pos[1], why);
	} else if (strcmp(pos[0], "advance") == 0) {
		if (clock_parse_duration(pos[1], strlen(pos[1]), &t, &why) ==
		    -1)
			ctl_die_usage(
			    "clock advance: bad duration \"%s\": %s (want e.g. 90m, 12h, 5d, 2w)",
			    pos[1], why);
	} else
		ctl_die_usage(
		    "clock needs \"set TIME\" or \"advance DURATION\"");
	rc = ctl_exchange(ctl,
	    ctl_request_line(
	        json_pack("{s:s,s:s}", "cmd", "clock", pos[0], pos[1])),
	    &v);
	json_decref(now);
	return rc;
}
