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

#define STORE_SCHEMA_VERSION 1
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
/* Checkpoints, closes and releases the lock; NULL is a no-op. */
void store_close(struct store *s);

/* The schema version of the open database (PRAGMA user_version). */
int store_schema_version(struct store *s);
/* PRAGMA integrity_check: 0 when "ok". */
int store_integrity_check(struct store *s);

/* Transactions: one write transaction at a time, nested savepoints. */
int store_begin(struct store *s);
int store_commit(struct store *s);
int store_rollback(struct store *s);
bool store_in_txn(struct store *s);

/* Small durable values (clock position, counters, rules_version). */
int store_meta_get_int(struct store *s, const char *key, int64_t *v /* OUT */);
int store_meta_set_int(struct store *s, const char *key, int64_t v);
/* *v is a new string the caller frees. */
int store_meta_get_text(struct store *s, const char *key, char **v /* OUT */);
int store_meta_set_text(struct store *s, const char *key, const char *v);

/* The highest feed seq committed (0 when the feed is empty). */
int store_feed_head(struct store *s, int64_t *head /* OUT */);

/* Calls fn(stage, count, arg) for each stage that holds accounts. */
int store_stage_counts(struct store *s,
    void (*fn)(const char *stage, int64_t count, void *arg), void *arg);

#endif
