/*
 * store — the only includer of <sqlite3.h>: schema, migrations, the
 * single-instance lock, transactions and every statement dunnd runs.
 *
 * The database runs in WAL mode with synchronous=FULL and foreign keys
 * on: a committed transaction survives power loss.  Statements are
 * prepared once and reused.  Functions return 0 / -1 (logged once,
 * here), lookups 1 found / 0 absent / -1 error.
 */
#ifndef DUNND_STORE_H
#define DUNND_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STORE_SCHEMA_VERSION 10
#define STORE_ERR_LEN        512

struct store;

/*
 * Opens (creating if absent) the database at path: takes the instance
 * lock (path + ".lock"), refuses a damaged or foreign file without
 * writing to it, and migrates the schema forward to
 * STORE_SCHEMA_VERSION.  On failure returns -1 with a message for the
 * operator in err ("database in use by pid N", "… is not a SQLite
 * database", …).
 */
int store_open(
    const char *path, struct store **out /* OUT */, char *err, size_t errlen);
/*
 * The schema version written in the header of the database file at path
 * (PRAGMA user_version), read without SQLite: 0 when the file is absent,
 * empty or not a database (store_open() says why).  A start compares it
 * with STORE_SCHEMA_VERSION to tell systemd that it will migrate.
 */
int store_file_version(const char *path);
/* Checkpoints, closes and releases the lock; NULL is a no-op. */
void store_close(struct store *s);
/*
 * Makes s a scratch store (dunnctl test-rules' private portfolio, removed
 * afterwards): COMMIT no longer waits for the disk (synchronous = OFF),
 * so invariant (2) does not hold for it and nothing committed to it may
 * be acknowledged to anyone.  0 / -1.
 */
int store_set_scratch(struct store *s);

/* The schema version of the open database (PRAGMA user_version). */
int store_schema_version(struct store *s);
/* PRAGMA integrity_check: 0 when "ok". */
int store_integrity_check(struct store *s);

/* Transactions: one write transaction at a time, nested savepoints. */
int store_begin(struct store *s);
int store_commit(struct store *s);
/* Tests: the WAL length past which COMMIT checkpoints (frames). */
void store_set_wal_max_frames(struct store *s, int frames);
int store_rollback(struct store *s);
/*
 * A savepoint inside the transaction (one batch of a group commit):
 * released into the transaction, or rolled back to and released.  -1
 * when the transaction itself is gone (SQLite rolled it back).
 */
int store_savepoint(struct store *s);
int store_release(struct store *s);
int store_rollback_savepoint(struct store *s);
bool store_in_txn(struct store *s);

/* Small durable values (clock position, counters, rules_version). */
int store_meta_get_int(struct store *s, const char *key, int64_t *v /* OUT */);
int store_meta_set_int(struct store *s, const char *key, int64_t v);
/* *v is a new string the caller frees. */
int store_meta_get_text(struct store *s, const char *key, char **v /* OUT */);
int store_meta_set_text(struct store *s, const char *key, const char *v);

/* The highest feed seq committed (0 when the feed is empty). */
int store_feed_head(struct store *s, int64_t *head /* OUT */);

/*
 * The statements of the portfolio, the feed and the tasks, by name.
 * Their SQL, and the meaning of each parameter and column, is in
 * store.c next to the schema.
 */
enum store_q {
	Q_META_GET,
	Q_META_SET,
	Q_FEED_HEAD,
	Q_EVENT_GET,
	Q_EVENT_ID,
	Q_EVENT_REF,
	Q_EVENT_ADD,
	Q_EVENT_MAXSEQ,
	Q_ACCOUNT_ADD,
	Q_ACCOUNT_UPD,
	Q_ACCOUNT_SAVE,
	Q_EVAL_SAVE,
	Q_ACCOUNT_LOAD,
	Q_EVAL_LOAD,
	Q_ACCOUNT_INFO,
	Q_ACCOUNT_CONTACTS,
	Q_INVOICE_GET,
	Q_INVOICE_BY_SEQ,
	Q_INVOICE_ADD,
	Q_LEDGER_GET,
	Q_LEDGER_PUT,
	Q_OUTCOME_ADD,
	Q_TASK_GET,
	Q_TASK_STATUS,
	Q_TASK_DONE,
	Q_TASK_ADD,
	Q_TASK_OPEN_SOURCE,
	Q_TASK_MAXNUM,
	Q_FEED_ADD,
	Q_FEED_FROM,
	Q_TRANSITION_ADD,
	Q_TRANSITIONS_OF,
	Q_TASKS_PAGE,
	Q_TASKS_OPEN_PAGE,
	Q_TASKS_CLOSED,
	Q_CONSUMERS,
	Q_CONSUMER_GET,
	Q_CONSUMER_SET,
	Q_CREDIT_HOLD_BEGIN,
	Q_ACCOUNT_PEOPLE,
	Q_CREDIT_LAST,
	Q_TASK_OPEN_INFO,
	Q_TASKS_WORKABLE_PAGE,
	/* metrics.c */
	Q_METRICS_TASKS,
	Q_METRICS_CONSUMERS,
	/* kpi.c */
	Q_KPI_INVOICES,
	Q_KPI_LEDGERS,
	Q_KPI_CREATED,
	Q_KPI_TRANS_MAXID,
	Q_KPI_TRANS_AT,
	Q_KPI_TRANSITIONS,
	Q_KPI_TASKS,
	Q_KPI_TASK_COUNT,
	Q_KPI_NOTE,
	Q_KPI_DAYS,
	Q_KPI_CLEAR,
	Q_KPI_ANY_INVOICE,
	Q_COUNT
};

/*
 * Runs statement q with its parameters bound from fmt, one letter each:
 * 'i' int64_t, 't' const char * (NULL binds SQL NULL), 'b' a blob as
 * (const void *, size_t), 'n' NULL (no argument).  Returns 1 when it
 * yielded a row (read it with store_col_*(), go on with store_next()),
 * 0 when done, -1 on error (logged).  The statement stays current until
 * store_done(q), which every caller calls whatever the result.
 */
int store_q(struct store *s, enum store_q q, const char *fmt, ...);
/* The next row of q: 1 row, 0 done, -1 error. */
int store_next(struct store *s, enum store_q q);
void store_done(struct store *s, enum store_q q);
/* store_q() + store_done() for statements that yield no row: 0 / -1. */
int store_exec_q(struct store *s, enum store_q q, const char *fmt, ...);

int64_t store_col_int(struct store *s, enum store_q q, int col);
bool store_col_null(struct store *s, enum store_q q, int col);
/* Valid until the next step or store_done(); never NULL ("" for NULL). */
const char *store_col_text(struct store *s, enum store_q q, int col);
const void *store_col_blob(
    struct store *s, enum store_q q, int col, size_t *len /* OUT */);

/*
 * Backup (§7): a consistent copy of the database made by a thread with
 * its own connection, from one read snapshot, while dunnd goes on
 * writing.  The copy is written to path + ".tmp" and renamed to path
 * once complete, so path never holds half a copy.
 */
struct store_backup;
/* Starts the copy; NULL with err when it cannot start. */
struct store_backup *store_backup_start(
    struct store *s, const char *path, char *err, size_t errlen);
/* Whether the copy has ended, well or not. */
bool store_backup_ended(struct store_backup *b);
/*
 * Waits for the copy to end (asking it to stop first when abort), frees
 * b.  0 when path holds the copy (*bytes its size), -1 with err.
 */
int store_backup_finish(struct store_backup *b, bool abort,
    int64_t *bytes /* OUT */, char *err, size_t errlen);

/*
 * A read-only connection to s's database for another thread (report
 * kpi): its reads see one snapshot, the database as committed when
 * store_open_reader() returned, whatever s commits meanwhile (WAL).
 * Opened on s's thread, then used by one thread at a time; closed by
 * store_close().  NULL when it cannot open (store_errmsg(s) says why).
 */
struct store *store_open_reader(struct store *s);
/* Makes the statement reader r runs fail soon; from any thread. */
void store_interrupt(struct store *r);

/* A short description of the last error ("disk I/O error", …). */
const char *store_errmsg(struct store *s);

#endif
