/*
 * ctl_int.h — private to dunnctl: what its files share.  Not a public
 * header: only dunnctl.c and the client's own daemon/ctl_*.c include it
 * (ctl_report.c and ctl_events.c, which unit tests link, have their own
 * headers and know nothing of struct ctl).
 *
 * The files, each calling only those below it:
 *   dunnctl.c          main(): global options, the command table
 *   ctl_cmd_report.c   report aging, kpi (drawn by ctl_report.c)
 *   ctl_cmd_rules.c    check-rules, test-rules, simulate
 *   ctl_cmd_explain.c  explain
 *   ctl_cmd_feed.c     feed, consumers, ack
 *   ctl_cmd_list.c     accounts, tasks
 *   ctl_cmd_ingest.c   ingest; pause, unpause, tag, outcome (ctl_events.c)
 *   ctl_cmd_admin.c    status, reload, metrics, clock, backup
 *   ctl_table.c        human output: say, values, money, tables, listings
 *   ctl_conn.c         the connection: requests out, replies in
 *   ctl_args.c         the usage, a command's options and arguments
 */
#ifndef DUNND_CTL_INT_H
#define DUNND_CTL_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "util.h"

#define EXIT_FAILED      1
#define EXIT_USAGE       2
#define EXIT_UNREACHABLE 3

/* dunnctl's state: global options, the command, the connection. */
struct ctl {
	const char *socket;
	const char *conf_path;
	bool defaulted; /* no -s, -c, $DUNND_SOCKET or $DUNNCTL_CONFIG */
	bool json;
	int argc; /* the command and its arguments, options removed */
	char **argv;
	int fd;
	struct buf in;     /* reply bytes received, not yet handed out */
	size_t in_used;    /* bytes of the line handed out last */
	size_t in_scanned; /* bytes of the pending line searched for "\n" */
	bool follow;       /* feed --follow: watch stdout's reader too */
};

struct command {
	const char *name;
	const char *args;
	int (*run)(struct ctl *);
};

/* How a command shows the records of its reply. */
struct view {
	/* Each data record without --json; NULL: printed as received. */
	void (*record)(struct ctl *, const char *, json_t *, void *);
	/* After the final record, without --json. */
	void (*done)(struct ctl *, json_t *, void *);
	void *arg;
	bool flush; /* stdout is flushed after every record (feed) */
};

/* One option of a command: "--name VALUE", "--name=VALUE" or a flag. */
struct opt {
	const char *name;
	const char *arg;   /* what the value is called; NULL for a flag */
	const char *value; /* OUT: NULL when absent, the name for a flag */
};

/* A human table: cells row after row, printed with aligned columns. */
struct col {
	const char *head;
	bool right; /* right-aligned (numbers, amounts) */
};

struct table {
	const struct col *cols;
	size_t ncols;
	char **cells;
	size_t n, cap;
};

/* What one read() asks for: the reply, a rule file. */
#define READ_CHUNK (64 * 1024)

/* A list shown as a table, or one line when it is empty. */
struct listing {
	struct table t;
	const char *none; /* said instead of an empty table */
	size_t said;      /* other lines said meanwhile (simulate) */
};

/*
 * ctl_args.c.  ctl_set_commands() hands main()'s command table over for
 * the usage; ctl_usage() prints the usage and exits 2, ctl_usage_exit()
 * with rc (0: asked for, on stdout); ctl_die_usage() prints a usage
 * error first.  ctl_parse_args() splits the command's arguments into the
 * options of opts and at most npos positional ones (how many it
 * returns); ctl_parse_seq() reads a SEQ, ctl_set_string() sets req.key
 * to a string (UTF-8), both usage errors when bad.
 */
void ctl_set_commands(const struct command *table);
void __attribute__((noreturn)) ctl_usage(void);
void __attribute__((noreturn)) ctl_usage_exit(int rc);
void __attribute__((noreturn, format(printf, 1, 2)))
ctl_die_usage(const char *fmt, ...);
int ctl_parse_args(
    struct ctl *ctl, struct opt *opts, const char **pos, int npos);
json_int_t ctl_parse_seq(const char *what, const char *s);
void ctl_set_string(json_t *req, const char *key, const char *value);

/*
 * ctl_conn.c.  ctl_connect_daemon() connects ctl->fd (-1 reported);
 * ctl_request_line() is req's line (req consumed, caller frees);
 * ctl_send_request() sends req (consumed), ctl_write_all() n bytes (0,
 * or -1 when the daemon is gone); ctl_read_reply() hands each data
 * record to on_record and returns the final record (NULL: reported);
 * ctl_final_status() is its exit code; ctl_show_record() is the
 * on_record that shows a record through a struct view (arg).
 * ctl_exchange() sends a request line (consumed) and shows the reply
 * through v, ctl_simple() req through human: both return the exit code.
 */
int ctl_connect_daemon(struct ctl *ctl);
char *ctl_request_line(json_t *req);
int ctl_send_request(struct ctl *ctl, json_t *req);
int ctl_write_all(int fd, const void *p, size_t n);
json_t *ctl_read_reply(struct ctl *ctl,
    void (*on_record)(struct ctl *, const char *, json_t *, void *), void *arg);
int ctl_final_status(json_t *fin);
void ctl_show_record(struct ctl *ctl, const char *line, json_t *rec, void *arg);
int ctl_exchange(struct ctl *ctl, char *line, struct view *v);
int ctl_simple(struct ctl *ctl, json_t *req,
    void (*human)(struct ctl *, const char *, json_t *, void *));

/*
 * ctl_table.c.  ctl_say() prints to stdout with every control character
 * but "\n" as "?".  ctl_value_text() and ctl_money_text() append a JSON
 * value (money: minor units as major.minor and the currency) to b;
 * ctl_text(), ctl_money() and ctl_field() (rec.key) clear b and return
 * its text; ctl_put() appends prefix and v's text; ctl_currency() is
 * rec's currency.  ctl_share() is part/whole scaled to n, in integers.
 * A table: ctl_table_init(), ctl_table_add() a cell at a time (ncols
 * make a row), ctl_table_rows(), ctl_table_width() of each column,
 * ctl_table_print(), ctl_table_fini().  A listing: ctl_listing_exchange()
 * sends line and collects the rows (v->arg the listing), which the
 * records add (ctl_listing_add_fields(): each of keys a cell), and
 * ctl_listing_done() prints them.
 */
void __attribute__((format(printf, 1, 2))) ctl_say(const char *fmt, ...);
void ctl_value_text(struct buf *b, json_t *v, bool inner);
void ctl_money_text(struct buf *b, json_t *v, const char *currency);
const char *ctl_text(struct buf *b, json_t *v);
const char *ctl_money(struct buf *b, json_t *v, const char *currency);
const char *ctl_field(struct buf *b, json_t *rec, const char *key);
void ctl_put(struct buf *b, const char *prefix, json_t *v);
const char *ctl_currency(json_t *rec);
int64_t ctl_share(int64_t part, int64_t whole, int64_t n);
void ctl_table_init(struct table *t, const struct col *cols);
void ctl_table_add(struct table *t, const char *s);
size_t ctl_table_rows(const struct table *t);
void ctl_table_width(const struct table *t, size_t *w /* OUT */);
void ctl_table_print(const struct table *t, size_t indent);
void ctl_table_fini(struct table *t);
int ctl_listing_exchange(
    struct ctl *ctl, const struct col *cols, char *line, struct view *v);
void ctl_listing_add_fields(
    struct listing *l, json_t *rec, const char *const *keys);
void ctl_listing_done(struct ctl *ctl, json_t *fin, void *arg);

/*
 * ctl_cmd_admin.c.  The commands (ctl_cmd_*: each runs ctl->argv and
 * returns the exit code) and ctl_human_reload(), how a reload's or a
 * simulate's summary record is shown.
 */
int ctl_cmd_status(struct ctl *ctl);
void ctl_human_reload(
    struct ctl *ctl, const char *line, json_t *rec, void *arg);
int ctl_cmd_reload(struct ctl *ctl);
int ctl_cmd_backup(struct ctl *ctl);
int ctl_cmd_metrics(struct ctl *ctl);
int ctl_cmd_clock(struct ctl *ctl);

/*
 * ctl_cmd_ingest.c.  The commands (ingest; pause, unpause, tag, outcome)
 * and what simulate also checks a rule file with: ctl_utf8_check() is the
 * offset of the first invalid UTF-8 sequence or NUL in s (n: none),
 * ctl_utf8_sanitize() appends s with each invalid sequence as U+FFFD.
 */
void ctl_utf8_sanitize(struct buf *out, const unsigned char *s, size_t n);
size_t ctl_utf8_check(const unsigned char *s, size_t n);
int ctl_cmd_ingest(struct ctl *ctl);
int ctl_cmd_events(struct ctl *ctl);

/*
 * ctl_cmd_list.c.  The commands, and the cells of a task's row and the
 * columns of tasks --open, which explain shows an account's open tasks
 * with.
 */
int ctl_cmd_accounts(struct ctl *ctl);
extern const struct col ctl_open_task_cols[];
void ctl_task_cells(struct table *t, json_t *rec, bool open_only);
int ctl_cmd_tasks(struct ctl *ctl);

/*
 * ctl_cmd_feed.c.  The commands.
 */
int ctl_cmd_feed(struct ctl *ctl);
int ctl_cmd_consumers(struct ctl *ctl);
int ctl_cmd_ack(struct ctl *ctl);

/*
 * ctl_cmd_explain.c.  The command, and ctl_explain_report(), the record
 * view of an explain report that test-rules shows too.
 */
void ctl_explain_report(
    struct ctl *ctl, const char *line, json_t *rec, void *arg);
int ctl_cmd_explain(struct ctl *ctl);

/*
 * ctl_cmd_rules.c.  The commands.
 */
int ctl_cmd_check_rules(struct ctl *ctl);
int ctl_cmd_test_rules(struct ctl *ctl);
int ctl_cmd_simulate(struct ctl *ctl);

/*
 * ctl_cmd_report.c.  The command.
 */
int ctl_cmd_report(struct ctl *ctl);

#endif
