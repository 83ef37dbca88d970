/*
 * ctl_cmd_feed — dunnctl's commands of the feed: feed (one line a
 * record, --follow until interrupted), its consumers and ack.
 *
 * Called by dunnctl.c's command table through ctl_int.h.
 */
#include "ctl_int.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* SIGINT while following the feed: the user is done, not failing. */
static void
interrupted(int sig)
{
	(void)sig;
	_exit(0);
}

/* One line per feed record: seq, kind, account and what it says. */
static void
feed_line(struct ctl *ctl, const char *line, json_t *rec, void *arg)
{
	const char *kind = json_string_value(json_object_get(rec, "kind"));
	struct buf b;

	(void)ctl;
	(void)line;
	(void)arg;
	buf_init(&b);
	ctl_put(&b, "", json_object_get(rec, "seq"));
	buf_printf(&b, " %-10s", kind != NULL ? kind : "-");
	ctl_put(&b, " ", json_object_get(rec, "account"));
	if (kind != NULL && strcmp(kind, "task") == 0) {
		ctl_put(&b, " ", json_object_get(rec, "task"));
		ctl_put(&b, " ", json_object_get(rec, "type"));
		ctl_put(&b, " ", json_object_get(rec, "stage"));
		ctl_put(&b, " priority ", json_object_get(rec, "priority"));
		buf_printf(&b, " amount ");
		ctl_money_text(
		    &b, json_object_get(rec, "amount_due"), ctl_currency(rec));
		ctl_put(&b, " ", json_object_get(rec, "source"));
	} else if (kind != NULL && strcmp(kind, "transition") == 0) {
		ctl_put(&b, " ", json_object_get(rec, "from"));
		ctl_put(&b, " -> ", json_object_get(rec, "to"));
		ctl_put(&b, " rule ", json_object_get(rec, "rule"));
		ctl_put(&b, " at ", json_object_get(rec, "at"));
	} else if (kind != NULL && strcmp(kind, "cancel") == 0) {
		ctl_put(&b, " ", json_object_get(rec, "task"));
		ctl_put(&b, ": ", json_object_get(rec, "reason"));
	} else if (kind != NULL && strcmp(kind, "done") == 0) {
		ctl_put(&b, " ", json_object_get(rec, "task"));
		ctl_put(&b, ": ", json_object_get(rec, "result"));
		ctl_put(&b, " at ", json_object_get(rec, "at"));
	}
	buf_append(&b, "", 1);
	ctl_say("%s\n", buf_data(&b));
	buf_fini(&b);
}

/*
 * feed --consumer NAME without --from reads from NAME's cursor, or from
 * the start when NAME never acked (a typo would replay the whole feed):
 * a first request, for no record, tells which.  -1 when the daemon is
 * unreachable (reported).
 */
static int
warn_unknown_consumer(struct ctl *ctl, const char *name)
{
	json_t *req, *fin;

	if (ctl_connect_daemon(ctl) == -1)
		return -1;
	req = json_pack("{s:s,s:s,s:I}", "cmd", "feed", "consumer", name,
	    "from", (json_int_t)9007199254740991LL);
	if (ctl_send_request(ctl, req) == 0 &&
	    (fin = ctl_read_reply(ctl, NULL, NULL)) != NULL) {
		if (json_is_null(json_object_get(fin, "cursor")))
			fprintf(stderr,
			    "dunnctl: warning: consumer %s has never acknowledged: reading from the start of the feed\n",
			    name);
		json_decref(fin);
	}
	close(ctl->fd);
	ctl->fd = -1;
	buf_clear(&ctl->in);
	ctl->in_used = ctl->in_scanned = 0;
	return 0;
}

int
ctl_cmd_feed(struct ctl *ctl)
{
	struct opt opts[] = { { "--from", "SEQ", NULL },
		{ "--follow", NULL, NULL }, { "--consumer", "NAME", NULL },
		{ NULL, NULL, NULL } };
	struct view v = { feed_line, NULL, NULL, true };
	json_t *req;

	ctl_parse_args(ctl, opts, NULL, 0);
	/* Flushed per record only while following (a reader waits). */
	v.flush = opts[1].value != NULL;
	req = json_pack("{s:s}", "cmd", "feed");
	if (opts[0].value != NULL)
		json_object_set_new(req, "from",
		    json_integer(ctl_parse_seq("--from", opts[0].value)));
	if (opts[1].value != NULL) {
		json_object_set_new(req, "follow", json_true());
		/* Following ends when the user stops it: not a failure. */
		ctl->follow = true;
		signal(SIGINT, interrupted);
	}
	if (opts[2].value != NULL) {
		ctl_set_string(req, "consumer", opts[2].value);
		if (opts[0].value == NULL &&
		    warn_unknown_consumer(ctl, opts[2].value) == -1) {
			json_decref(req);
			return EXIT_UNREACHABLE;
		}
	}
	return ctl_exchange(ctl, ctl_request_line(req), &v);
}

static const struct col consumer_cols[] = {
	{ "CONSUMER", false },
	{ "CURSOR", true },
	{ "LAG", true },
	{ NULL, false },
};

static void
consumer_row(struct ctl *ctl, const char *line, json_t *rec, void *arg)
{
	static const char *const keys[] = { "consumer", "cursor", "lag", NULL };

	(void)ctl;
	(void)line;
	ctl_listing_add_fields(arg, rec, keys);
}

int
ctl_cmd_consumers(struct ctl *ctl)
{
	struct listing l = { .none = "no consumers" };
	struct view v = { consumer_row, ctl_listing_done, &l, false };

	ctl_parse_args(ctl, NULL, NULL, 0);
	return ctl_listing_exchange(ctl, consumer_cols,
	    ctl_request_line(json_pack("{s:s}", "cmd", "consumers")), &v);
}

int
ctl_cmd_ack(struct ctl *ctl)
{
	struct opt opts[] = { { "--consumer", "NAME", NULL },
		{ NULL, NULL, NULL } };
	const char *seq;
	json_t *req;

	if (ctl_parse_args(ctl, opts, &seq, 1) != 1)
		ctl_die_usage("ack needs SEQ");
	if (opts[0].value == NULL)
		ctl_die_usage("ack needs --consumer NAME");
	req = json_pack("{s:s}", "cmd", "ack");
	ctl_set_string(req, "consumer", opts[0].value);
	json_object_set_new(
	    req, "seq", json_integer(ctl_parse_seq("SEQ", seq)));
	return ctl_simple(ctl, req, NULL);
}
