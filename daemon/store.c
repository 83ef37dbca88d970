/*
 * store — SQLite behind one narrow interface.
 *
 * Invariants:
 * (1) Only this file includes <sqlite3.h>; every statement is prepared
 *     once (the q_sql table below, store_q()) and reset after use.
 * (2) The database is in WAL mode with synchronous=FULL: COMMIT returns
 *     only once the transaction is durable across power loss, so a
 *     caller may acknowledge what it committed, and nothing else.
 * (3) One dunnd per database: an exclusive flock() on path + ".lock",
 *     which holds the owner's pid, is taken before SQLite touches the
 *     file and held until store_close().
 * (4) A file that is not a dunnd database, or is damaged (garbage,
 *     truncated, a schema newer than ours), is refused before anything
 *     is written to it: never recreated, never "repaired".
 * (5) The schema only moves forward, one migration per version, each in
 *     its own transaction together with its PRAGMA user_version.
 */
#include "store.h"

#include <sys/types.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <time.h>

#include <jansson.h>
#include <sqlite3.h>

#include "hash.h"
#include "ledger.h"
#include "log.h"
#include "util.h"

/* enum store_q (store.h): ?N are parameters, in store_q()'s fmt order. */
static const char *const q_sql[Q_COUNT] = {
	[Q_META_GET] = "SELECT value FROM meta WHERE key = ?1",
	[Q_META_SET] =
	    ("INSERT INTO meta(key, value) VALUES (?1, ?2) "
	     "ON CONFLICT(key) DO UPDATE SET value = excluded.value"),
	[Q_FEED_HEAD] = "SELECT coalesce(max(seq), 0) FROM feed",
	[Q_EVENT_GET] = "SELECT seq, digest FROM events WHERE id = ?1",
	[Q_EVENT_ID] = "SELECT id FROM events WHERE seq = ?1",
	/* What a reversal checks of the event it names (§2.2 step 8). */
	[Q_EVENT_REF] = "SELECT seq, type, account FROM events WHERE id = ?1",
	[Q_EVENT_ADD] =
	    ("INSERT INTO events(seq, id, type, account, digest, at, body)"
	     " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"),
	[Q_EVENT_MAXSEQ] = "SELECT coalesce(max(seq), 0) FROM events",
	/* A new account's stage is entered when it is created (§2.3). */
	[Q_ACCOUNT_ADD] =
	    ("INSERT INTO accounts(id, seq, name, currency, size, stage,"
	     " stage_entered, created) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)"),
	/* NULL keeps a column (§2.3: absent fields keep their value). */
	[Q_ACCOUNT_UPD] =
	    ("UPDATE accounts SET name = coalesce(?2, name),"
	     " size = coalesce(?3, size), risk = coalesce(?4, risk),"
	     " cash_in_day = CASE ?5 WHEN '0' THEN NULL"
	     " ELSE coalesce(?5, cash_in_day) END,"
	     " distance_km = coalesce(?6, distance_km),"
	     " paused = coalesce(?7, paused),"
	     " contacts = coalesce(?8, contacts), tags = coalesce(?9, tags)"
	     " WHERE id = ?1"),
	/* The state's two parts (acct_encode()); the stage by name. */
	[Q_ACCOUNT_SAVE] = "UPDATE accounts SET state = ?2 WHERE id = ?1",
	[Q_EVAL_SAVE] =
	    ("INSERT INTO acct_eval(id, stage, state) VALUES (?1, ?2, ?3)"
	     " ON CONFLICT(id) DO UPDATE SET stage = excluded.stage,"
	     " state = excluded.state"),
	/* Both in id order: engine_open() walks them side by side. */
	[Q_ACCOUNT_LOAD] = "SELECT id, state, stage FROM accounts ORDER BY id",
	[Q_EVAL_LOAD] = "SELECT id, state, stage FROM acct_eval ORDER BY id",
	[Q_ACCOUNT_INFO] = "SELECT name, contacts FROM accounts WHERE id = ?1",
	[Q_ACCOUNT_CONTACTS] = "SELECT contacts FROM accounts WHERE id = ?1",
	[Q_INVOICE_GET] = "SELECT account, seq FROM invoices WHERE id = ?1",
	[Q_INVOICE_BY_SEQ] =
	    "SELECT issued, due FROM invoices WHERE seq = ?1 AND account = ?2",
	[Q_INVOICE_ADD] =
	    ("INSERT INTO invoices(id, account, seq, amount, issued, due)"
	     " VALUES (?1, ?2, ?3, ?4, ?5, ?6)"),
	/* An account's money history (ledger.h). */
	[Q_LEDGER_GET] = "SELECT data FROM ledger WHERE account = ?1",
	[Q_LEDGER_PUT] =
	    ("INSERT INTO ledger(account, data) VALUES (?1, ?2)"
	     " ON CONFLICT(account) DO UPDATE SET data = excluded.data"),
	[Q_OUTCOME_ADD] =
	    ("INSERT INTO outcomes(event, task, account, seq, result, at,"
	     " note) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"),
	/* Tasks by number (?1; eval_task_num()), ?2 the id T-N. */
	[Q_TASK_GET] = ("SELECT account, created, status, type, EXISTS(SELECT 1"
	                " FROM outcomes o WHERE o.task = ?2"
	                " AND o.result IN ('approved', 'rejected'))"
	                " FROM tasks WHERE num = ?1"),
	[Q_TASK_STATUS] = "UPDATE tasks SET status = ?2 WHERE num = ?1",
	/* ?2: the event id of the outcome that closes the task. */
	[Q_TASK_DONE] =
	    "UPDATE tasks SET status = 'done', outcome = ?2 WHERE num = ?1",
	[Q_TASK_ADD] =
	    ("INSERT INTO tasks(num, feed_seq, account, type, stage, source,"
	     " priority, alert, created)"
	     " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"),
	/* The open task of account ?1 with source ?2 created at or after ?3. */
	[Q_TASK_OPEN_SOURCE] =
	    ("SELECT num FROM tasks WHERE account = ?1 AND status = 'open'"
	     " AND source = ?2 AND created >= ?3"),
	[Q_TASK_MAXNUM] = "SELECT coalesce(max(num), 0) FROM tasks",
	[Q_FEED_ADD] = "INSERT INTO feed(seq, record) VALUES (?1, ?2)",
	[Q_FEED_FROM] =
	    "SELECT seq, record FROM feed WHERE seq > ?1 ORDER BY seq LIMIT ?2",
	[Q_TRANSITION_ADD] =
	    ("INSERT INTO transitions(account, feed_seq, from_stage,"
	     " to_stage, rule, at, facts) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"),
	[Q_TRANSITIONS_OF] =
	    ("SELECT from_stage, to_stage, rule, at, facts, feed_seq"
	     " FROM transitions WHERE account = ?1 ORDER BY id"),
	/* tasks in seq order after ?1; filters ?2 account, ?3 type. */
	[Q_TASKS_PAGE] =
	    ("SELECT t.feed_seq, f.record, t.status, o.result, o.note, o.at"
	     " FROM tasks t JOIN feed f ON f.seq = t.feed_seq"
	     " LEFT JOIN outcomes o ON o.event = t.outcome WHERE t.feed_seq > ?1"
	     " AND (?2 IS NULL OR t.account = ?2)"
	     " AND (?3 IS NULL OR t.type = ?3)"
	     " ORDER BY t.feed_seq LIMIT ?4"),
	/* open tasks by priority desc, then seq, after (?1 prio, ?2 seq). */
	[Q_TASKS_OPEN_PAGE] =
	    ("SELECT t.feed_seq, f.record, t.status, NULL, NULL, NULL,"
	     " t.priority FROM tasks t"
	     " JOIN feed f ON f.seq = t.feed_seq WHERE t.status = 'open'"
	     " AND (t.priority < ?1 OR (t.priority = ?1 AND t.feed_seq > ?2))"
	     " AND (?3 IS NULL OR t.account = ?3)"
	     " AND (?4 IS NULL OR t.type = ?4)"
	     " ORDER BY t.priority DESC, t.feed_seq LIMIT ?5"),
	/* The last ?2 tasks of account ?1 that are no longer open. */
	[Q_TASKS_CLOSED] =
	    ("SELECT t.feed_seq, f.record, t.status, o.result, o.note, o.at"
	     " FROM tasks t JOIN feed f ON f.seq = t.feed_seq"
	     " LEFT JOIN outcomes o ON o.event = t.outcome"
	     " WHERE t.account = ?1 AND t.status <> 'open'"
	     " ORDER BY t.feed_seq DESC LIMIT ?2"),
	[Q_CONSUMERS] = "SELECT name, cursor FROM consumers ORDER BY name",
	[Q_CONSUMER_GET] = "SELECT cursor FROM consumers WHERE name = ?1",
	/* §4.5: the credit_hold task that began the hold (after the last
	 * release). */
	[Q_CREDIT_HOLD_BEGIN] =
	    ("SELECT f.record FROM tasks t JOIN feed f ON f.seq = t.feed_seq"
	     " WHERE t.account = ?1 AND t.type = 'credit_hold'"
	     " AND t.feed_seq > coalesce((SELECT max(feed_seq) FROM tasks"
	     " WHERE account = ?1 AND type = 'credit_release'), 0)"
	     " ORDER BY t.feed_seq LIMIT 1"),
	/* Saved states before version 4: what they lack, from the store. */
	[Q_ACCOUNT_PEOPLE] =
	    "SELECT contacts, cash_in_day FROM accounts WHERE id = ?1",
	[Q_CREDIT_LAST] = ("SELECT type FROM tasks WHERE account = ?1"
	                   " AND type IN ('credit_hold', 'credit_release')"
	                   " ORDER BY feed_seq DESC LIMIT 1"),
	[Q_TASK_OPEN_INFO] =
	    ("SELECT t.type, t.source, f.record FROM tasks t"
	     " JOIN feed f ON f.seq = t.feed_seq WHERE t.num = ?1"),
	/* §7 tasks --open --workable: window begun by ?6 (unix time); by
	 * priority desc, then not_before, then seq; after (?1, ?2, ?3). */
	[Q_TASKS_WORKABLE_PAGE] =
	    ("SELECT * FROM (SELECT t.feed_seq, f.record, t.status, NULL, NULL,"
	     " NULL, t.priority,"
	     " unixepoch(json_extract(f.record, '$.not_before')) AS nb"
	     " FROM tasks t JOIN feed f ON f.seq = t.feed_seq"
	     " WHERE t.status = 'open'"
	     " AND (?4 IS NULL OR t.account = ?4)"
	     " AND (?5 IS NULL OR t.type = ?5))"
	     " WHERE nb <= ?6 AND (priority < ?1 OR (priority = ?1"
	     " AND (nb > ?2 OR (nb = ?2 AND feed_seq > ?3))))"
	     " ORDER BY priority DESC, nb, feed_seq LIMIT ?7"),
	[Q_CONSUMER_SET] =
	    ("INSERT INTO consumers(name, cursor) VALUES (?1, ?2)"
	     " ON CONFLICT(name) DO UPDATE SET cursor = excluded.cursor"),
	/* Open tasks per type and the oldest one's creation (index only). */
	[Q_METRICS_TASKS] = ("SELECT type, count(*), min(created) FROM tasks"
	                     " WHERE status = 'open' GROUP BY type"),
	[Q_METRICS_CONSUMERS] =
	    "SELECT name, cursor FROM consumers ORDER BY name",
	/* report kpi: every invoice, every application not undone. */
	[Q_KPI_INVOICES] =
	    "SELECT account, seq, amount, issued, due FROM invoices",
	/* report kpi: every ledger, for its applications not undone. */
	[Q_KPI_LEDGERS] = "SELECT data FROM ledger",
	/* Accounts created after ?1 (index accounts_created). */
	[Q_KPI_CREATED] = "SELECT id, created FROM accounts WHERE created > ?1",
	/* Transitions: at grows with id (the clock never moves back). */
	[Q_KPI_TRANS_MAXID] = "SELECT coalesce(max(id), 0) FROM transitions",
	[Q_KPI_TRANS_AT] = ("SELECT at FROM transitions WHERE id >= ?1"
	                    " ORDER BY id LIMIT 1"),
	[Q_KPI_TRANSITIONS] =
	    ("SELECT account, from_stage, at FROM transitions WHERE id >= ?1"
	     " ORDER BY id"),
	/*
	 * Tasks created since ?1 (0), then those of them an outcome closed
	 * (1): the covering indexes tasks_created and tasks_done.
	 */
	[Q_KPI_TASKS] = ("SELECT account, created, 0 FROM tasks"
	                 " WHERE created >= ?1 UNION ALL"
	                 " SELECT account, created, 1 FROM tasks"
	                 " WHERE status = 'done' AND created >= ?1"),
	[Q_KPI_TASK_COUNT] =
	    ("SELECT (SELECT count(*) FROM tasks"
	     " WHERE created >= ?1 AND created < ?2),"
	     " (SELECT count(*) FROM tasks WHERE status = 'done'"
	     " AND created >= ?1 AND created < ?2)"),
	/* The daily totals of report kpi (kpi.h): add to one row. */
	[Q_KPI_NOTE] =
	    ("INSERT INTO kpi_days(currency, eff, due, invoiced, applied)"
	     " VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT(currency, eff, due)"
	     " DO UPDATE SET invoiced = invoiced + excluded.invoiced,"
	     " applied = applied + excluded.applied"),
	[Q_KPI_DAYS] = ("SELECT currency, eff, due, invoiced, applied"
	                " FROM kpi_days WHERE eff <= ?1"),
	[Q_KPI_CLEAR] = "DELETE FROM kpi_days",
	[Q_KPI_ANY_INVOICE] = "SELECT 1 FROM invoices LIMIT 1",
};

/*
 * The checkpointer: a thread with its own connection that copies the
 * WAL back into the database (PASSIVE: it never blocks the daemon's
 * writes), so that COMMIT never has to (targets.md P2).  Every
 * CKPT_MIN_MS while the WAL grows, backing off to CKPT_MAX_MS while it
 * does not.  Often, so that each checkpoint's fsync of the database is
 * short: the daemon's WAL fdatasync waits at the disk behind it (every
 * 250 ms, each fsync held a round trip up to 6-8 ms under 1,000
 * events/s and P2's p99 was 5 ms; every 10 ms, 1.1 ms).
 */
#define CKPT_MIN_MS 10
#define CKPT_MAX_MS 100

/*
 * The checkpointer cannot finish while one write follows another without
 * a pause (a long clock jump, a steady stream): each COMMIT appends.
 * Past this many WAL frames (256 MiB of 4 KiB pages) the daemon's own
 * connection checkpoints after a COMMIT, so that the next transaction
 * starts the WAL over; WAL_KEEP bounds what the file keeps after that.
 * It keeps as much as that: a busy night's frames then go to blocks the
 * file already has.  Cut back to 64 MiB, every night wrote past the end
 * of the file again, and ext4 allocated and zeroed each new block (a
 * quarter of a night's CPU at 100 k was pwrite; the night took 0.77,
 * 0.87 and 0.93 of the time in three pairs with 256 MiB kept).
 */
#define WAL_MAX_FRAMES 65536
#define WAL_KEEP       "268435456"

struct ckpt {
	pthread_t thread;
	atomic_bool stop;
	bool running;
	char *path;
};

struct store {
	char lasterr[256]; /* the last failure, for operators */
	struct ckpt ckpt;
	sqlite3 *db;
	sqlite3_stmt *q[Q_COUNT];
	char *path;
	int lockfd;
	bool in_txn;
	int wal_frames;     /* frames in the WAL after the last COMMIT */
	int wal_max_frames; /* WAL_MAX_FRAMES (tests lower it) */
};

/*
 * Schema version 1.  Everything the contract keeps: events with their
 * digests, the portfolio (accounts, invoices, money and its
 * applications, promises, disputes, outcomes), what evaluation produced
 * (stage history, tasks, the feed) and what consumers and the clock need
 * to survive a restart.  Days are day numbers (days since 1970-01-01),
 * instants epoch seconds, money integer minor units.
 */
static const char schema_v1[] =
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value) WITHOUT ROWID;\n"
    /* Accepted events in arrival order; body = canonical JSON. */
    "CREATE TABLE events(seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE,"
    " type TEXT NOT NULL, account TEXT, digest BLOB NOT NULL,"
    " at INTEGER, body TEXT NOT NULL);\n"
    "CREATE TABLE accounts(id TEXT PRIMARY KEY, seq INTEGER NOT NULL,"
    " name TEXT NOT NULL, currency TEXT NOT NULL, size TEXT NOT NULL,"
    " risk TEXT, cash_in_day INTEGER, distance_km INTEGER,"
    " paused INTEGER NOT NULL DEFAULT 0,"
    " contacts TEXT NOT NULL DEFAULT '[]', tags TEXT NOT NULL DEFAULT '[]',"
    " stage TEXT NOT NULL, stage_entered INTEGER NOT NULL,"
    " state BLOB) WITHOUT ROWID;\n"
    "CREATE TABLE invoices(id TEXT PRIMARY KEY,"
    " account TEXT NOT NULL REFERENCES accounts(id),"
    " seq INTEGER NOT NULL, amount INTEGER NOT NULL,"
    " issued INTEGER NOT NULL, due INTEGER NOT NULL) WITHOUT ROWID;\n"
    /* Payments, credits and upheld amounts; unapplied = credit balance. */
    "CREATE TABLE money(event TEXT PRIMARY KEY,"
    " account TEXT NOT NULL REFERENCES accounts(id),"
    " seq INTEGER NOT NULL, kind TEXT NOT NULL, amount INTEGER NOT NULL,"
    " at INTEGER NOT NULL, invoice TEXT REFERENCES invoices(id),"
    " unapplied INTEGER NOT NULL DEFAULT 0,"
    " uncounted INTEGER NOT NULL DEFAULT 0, reversed_by TEXT)"
    " WITHOUT ROWID;\n"
    "CREATE INDEX money_uncounted ON money(account, at, seq)"
    " WHERE uncounted > 0;\n"
    "CREATE TABLE applications(id INTEGER PRIMARY KEY,"
    " money TEXT NOT NULL REFERENCES money(event),"
    " invoice INTEGER NOT NULL,"
    " amount INTEGER NOT NULL, at INTEGER NOT NULL,"
    " undone INTEGER NOT NULL DEFAULT 0);\n"
    "CREATE INDEX applications_money ON applications(money);\n"
    "CREATE INDEX applications_invoice ON applications(invoice);\n"
    "CREATE TABLE promises(event TEXT PRIMARY KEY,"
    " account TEXT NOT NULL REFERENCES accounts(id),"
    " seq INTEGER NOT NULL, amount INTEGER NOT NULL, due INTEGER NOT NULL,"
    " at INTEGER NOT NULL, task TEXT, counted INTEGER NOT NULL DEFAULT 0,"
    " verdict TEXT, verdict_at INTEGER) WITHOUT ROWID;\n"
    /* Money counted towards a promise (§3.1): never moved once counted. */
    "CREATE TABLE promise_money(promise TEXT NOT NULL REFERENCES promises(event),"
    " money TEXT NOT NULL REFERENCES money(event), amount INTEGER NOT NULL,"
    " withdrawn INTEGER NOT NULL DEFAULT 0,"
    " PRIMARY KEY(promise, money)) WITHOUT ROWID;\n"
    "CREATE INDEX promise_money_money ON promise_money(money);\n"
    "CREATE TABLE disputes(event TEXT PRIMARY KEY,"
    " account TEXT NOT NULL REFERENCES accounts(id),"
    " invoice TEXT NOT NULL REFERENCES invoices(id), seq INTEGER NOT NULL,"
    " amount INTEGER NOT NULL, at INTEGER NOT NULL, reason TEXT NOT NULL,"
    " resolved INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;\n"
    "CREATE INDEX disputes_invoice ON disputes(invoice);\n"
    "CREATE TABLE outcomes(event TEXT PRIMARY KEY, task TEXT NOT NULL,"
    " account TEXT NOT NULL REFERENCES accounts(id), seq INTEGER NOT NULL,"
    " result TEXT NOT NULL, at INTEGER NOT NULL, note TEXT) WITHOUT ROWID;\n"
    /* Stage history: every transition with the facts its rule tested. */
    "CREATE TABLE transitions(id INTEGER PRIMARY KEY,"
    " account TEXT NOT NULL REFERENCES accounts(id),"
    " feed_seq INTEGER NOT NULL, from_stage TEXT NOT NULL,"
    " to_stage TEXT NOT NULL, rule TEXT NOT NULL, at INTEGER NOT NULL,"
    " facts TEXT NOT NULL);\n"
    "CREATE INDEX transitions_account ON transitions(account, id);\n"
    "CREATE TABLE tasks(id TEXT PRIMARY KEY, feed_seq INTEGER NOT NULL,"
    " account TEXT NOT NULL REFERENCES accounts(id), type TEXT NOT NULL,"
    " stage TEXT NOT NULL, source TEXT NOT NULL,"
    " status TEXT NOT NULL DEFAULT 'open', priority INTEGER NOT NULL,"
    " alert INTEGER NOT NULL DEFAULT 0,"
    " created INTEGER NOT NULL) WITHOUT ROWID;\n"
    "CREATE INDEX tasks_account ON tasks(account, status);\n"
    "CREATE INDEX tasks_open ON tasks(status, priority, feed_seq);\n"
    "CREATE INDEX tasks_seq ON tasks(feed_seq);\n"
    /* The feed: append-only, gapless seq from 1, records as sent. */
    "CREATE TABLE feed(seq INTEGER PRIMARY KEY, record TEXT NOT NULL);\n"
    "CREATE TABLE consumers(name TEXT PRIMARY KEY,"
    " cursor INTEGER NOT NULL) WITHOUT ROWID;\n";

/*
 * Version 2: each done task names the outcome that closed it (tasks
 * --json shows its result, note and time, §7), found for the tasks
 * already done as their first outcome; outcomes by task and account.
 */
static const char schema_v2[] =
    "ALTER TABLE tasks ADD COLUMN outcome TEXT;\n"
    "CREATE INDEX outcomes_task ON outcomes(task, seq);\n"
    "UPDATE tasks SET outcome = (SELECT o.event FROM outcomes o"
    " WHERE o.task = tasks.id ORDER BY o.seq LIMIT 1)"
    " WHERE status = 'done';\n";

/*
 * Version 3: what metrics and report kpi read without scanning (§7):
 * each account's creation instant (accounts created before it get the
 * earliest instant known of them: when their current stage was entered
 * or their first transition, whichever came first), open tasks by type
 * with their creation, and tasks by creation.
 */
static const char schema_v3[] =
    "ALTER TABLE accounts ADD COLUMN created INTEGER;\n"
    "UPDATE accounts SET created = min(stage_entered,"
    " coalesce((SELECT min(at) FROM transitions t"
    " WHERE t.account = accounts.id), stage_entered));\n"
    "CREATE INDEX accounts_created ON accounts(created);\n"
    "CREATE INDEX tasks_open_type ON tasks(status, type, created);\n"
    "CREATE INDEX tasks_created ON tasks(created, status, account);\n";

/*
 * Version 4: report kpi's daily totals per currency, effective day and
 * due day (kpi.h), kept by ingest; filled on the first report (the
 * effective day is a local date: they are rebuilt when the zone
 * changes).
 */
static const char schema_v4[] =
    "CREATE TABLE kpi_days(currency TEXT NOT NULL, eff INTEGER NOT NULL,"
    " due INTEGER NOT NULL, invoiced INTEGER NOT NULL,"
    " applied INTEGER NOT NULL, PRIMARY KEY(currency, eff, due))"
    " WITHOUT ROWID;\n";

/*
 * Version 5: event digests are BLAKE2b-128 (hash.h) instead of
 * MurmurHash3.  A digest is of the event's canonical form, which is what
 * events.body holds, so each is recomputed from it.
 */
static const char schema_v5[] =
    "UPDATE events SET digest = dunnd_digest(body);\n"
    /*
     * rules_version was MurmurHash3 too: marked as such, it differs from
     * any new version, so the first start reloads (the same rules: no
     * account moves) and says why in its log line.
     */
    "UPDATE meta SET value = 'murmur3:' || value"
    " WHERE key = 'rules_version';\n";

/*
 * Version 6: the two indexes of open tasks hold the open tasks only
 * (partial indexes; every query of them asks for status = 'open').  A
 * task's cancel or completion then deletes one entry from each instead
 * of moving it to another status's part of the index, and the indexes
 * stay the size of the open tasks (a busy night at 1M accounts wrote
 * two index pages less per cancel, and its new tasks go into indexes
 * that fit the cache).  status ends tasks_open_type: metrics reads the
 * index alone (a column its query names must be in it, even one the
 * index's WHERE fixes).
 */
static const char schema_v6[] =
    "DROP INDEX tasks_open;\n"
    "CREATE INDEX tasks_open ON tasks(priority, feed_seq)"
    " WHERE status = 'open';\n"
    "DROP INDEX tasks_open_type;\n"
    "CREATE INDEX tasks_open_type ON tasks(type, created, status)"
    " WHERE status = 'open';\n";

/*
 * Version 7: tasks keyed by their number (T-N is eval_task_id(N)), a
 * rowid table, instead of by the id's text.  Past T-999999 the text
 * order is not the number order ("T-1000000" < "T-100001"), so each new
 * task went into a random page of the table: a busy night at 1M
 * accounts wrote two such pages per changing account.  Rows now append
 * in creation order; a task is found by its number.
 */
static const char schema_v7[] =
    "CREATE TABLE tasks_v7(num INTEGER PRIMARY KEY,"
    " feed_seq INTEGER NOT NULL,"
    " account TEXT NOT NULL REFERENCES accounts(id), type TEXT NOT NULL,"
    " stage TEXT NOT NULL, source TEXT NOT NULL,"
    " status TEXT NOT NULL DEFAULT 'open', priority INTEGER NOT NULL,"
    " alert INTEGER NOT NULL DEFAULT 0,"
    " created INTEGER NOT NULL, outcome TEXT);\n"
    "INSERT INTO tasks_v7(num, feed_seq, account, type, stage, source,"
    " status, priority, alert, created, outcome)"
    " SELECT CAST(substr(id, 3) AS INTEGER), feed_seq, account, type,"
    " stage, source, status, priority, alert, created, outcome FROM tasks"
    " ORDER BY feed_seq;\n"
    "DROP TABLE tasks;\n"
    "ALTER TABLE tasks_v7 RENAME TO tasks;\n"
    "CREATE INDEX tasks_account ON tasks(account, status);\n"
    "CREATE INDEX tasks_seq ON tasks(feed_seq);\n"
    "CREATE INDEX tasks_created ON tasks(created, status, account);\n"
    "CREATE INDEX tasks_open ON tasks(priority, feed_seq)"
    " WHERE status = 'open';\n"
    "CREATE INDEX tasks_open_type ON tasks(type, created, status)"
    " WHERE status = 'open';\n";

/*
 * Version 8: the part of an account's state that evaluation changes
 * (acct_encode()) in a narrow table of its own, with the stage's name.
 * A busy night changes a tenth of the accounts: each rewrote its whole
 * accounts row (contacts, invoices, promises), and so every page of the
 * accounts table; it now rewrites these rows of a few dozen bytes.
 * accounts.stage and stage_entered keep the stage an account was created
 * in (or had when the table was last written by an earlier dunnd); an
 * acct_eval row, when there is one, overrides them.  Accounts saved
 * whole by an earlier dunnd get their row at their next save.
 */
static const char schema_v8[] =
    "CREATE TABLE acct_eval(id TEXT PRIMARY KEY REFERENCES accounts(id),"
    " stage TEXT NOT NULL, state BLOB NOT NULL) WITHOUT ROWID;\n";

/*
 * Version 9: no task index holds a status that a cancel changes.  A
 * cancel (a busy night has one per changing account) moved the task's
 * entry in tasks_account(account, status) and in tasks_created(created,
 * status, account), the latter on a page as old as the task; it now
 * changes the row and deletes the entries of the two partial indexes of
 * open tasks.  The tasks of an account are found in emission order
 * (tasks_account), report kpi counts the tasks created in a span
 * (tasks_created) and those an outcome closed (tasks_done, the done
 * tasks only: an outcome adds the entry; status is in it for the
 * reason of version 6).
 */
static const char schema_v9[] =
    "DROP INDEX tasks_account;\n"
    "CREATE INDEX tasks_account ON tasks(account, feed_seq);\n"
    "DROP INDEX tasks_created;\n"
    "CREATE INDEX tasks_created ON tasks(created, account);\n"
    "CREATE INDEX tasks_done ON tasks(created, account, status)"
    " WHERE status = 'done';\n";

/*
 * Version 10: each account's money history in one row (ledger.h),
 * read when a batch first needs it and written once when it is kept,
 * instead of a row per payment, application and promise contribution,
 * each with its indexes (a fifth of ingest's time).  The promises and
 * disputes tables go: nothing read them (memory holds what the rules
 * need, events.body the rest).  dunnd_ledger() builds a ledger from an
 * account's money rows, each with its applications and contributions as
 * JSON arrays.
 */
static const char schema_v10[] =
    "CREATE TABLE ledger(account TEXT PRIMARY KEY REFERENCES accounts(id),"
    " data BLOB NOT NULL) WITHOUT ROWID;\n"
    "INSERT INTO ledger(account, data)"
    " SELECT m.account, dunnd_ledger(m.seq, m.kind, m.amount, m.at,"
    " m.uncounted, m.reversed_by IS NOT NULL,"
    " (SELECT json_group_array(json_array(a.invoice, a.amount, a.at,"
    " a.undone)) FROM applications a WHERE a.money = m.event),"
    " (SELECT json_group_array(json_array(e.seq, pm.amount, pm.withdrawn))"
    " FROM promise_money pm JOIN events e ON e.id = pm.promise"
    " WHERE pm.money = m.event))"
    " FROM money m GROUP BY m.account;\n"
    "DROP TABLE promise_money;\n"
    "DROP TABLE applications;\n"
    "DROP TABLE money;\n"
    "DROP TABLE promises;\n"
    "DROP TABLE disputes;\n";

/* migrations[i] takes the schema from version i to i + 1 (invariant 5). */
static const struct migration {
	const char *sql;
	const char *note;  /* logged on a database that had data before */
	const char *count; /* the rows the note is about (one integer) */
} migrations[] = {
	{ schema_v1, NULL, NULL },
	{ schema_v2, NULL, NULL },
	{ schema_v3, NULL, NULL },
	{ schema_v4, NULL, NULL },
	{ schema_v5,
	    "event idempotency digests recomputed as BLAKE2b-128 of each "
	    "stored event's canonical form",
	    "SELECT count(*) FROM events" },
	{ schema_v6, "the indexes of open tasks rebuilt for open tasks only",
	    "SELECT count(*) FROM tasks WHERE status = 'open'" },
	{ schema_v7, "the tasks table rebuilt keyed by task number",
	    "SELECT count(*) FROM tasks" },
	{ schema_v8,
	    "accounts' evaluation state moved to a table of its own "
	    "(acct_eval), each account at its next save",
	    "SELECT count(*) FROM accounts" },
	{ schema_v9,
	    "the indexes of tasks by account and by creation rebuilt "
	    "without their status",
	    "SELECT count(*) FROM tasks" },
	{ schema_v10,
	    "payments, credits and their applications kept per account "
	    "(ledger); tables money, applications, promise_money, "
	    "promises and disputes dropped",
	    "SELECT count(*) FROM ledger" },
};

static void errf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* Invariant (3). */
static int
take_lock(const char *path, char *err, size_t errlen)
{
	char *lpath = xmalloc(strlen(path) + 6), buf[32];
	int fd;
	ssize_t n;

	sprintf(lpath, "%s.lock", path);
	fd = open(lpath, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd == -1) {
		errf(err, errlen, "cannot open lock file %s: %s", lpath,
		    strerror(errno));
		goto fail;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		if (errno == EWOULDBLOCK) {
			n = pread(fd, buf, sizeof(buf) - 1, 0);
			buf[n > 0 ? n : 0] = '\0';
			buf[strcspn(buf, "\n")] = '\0';
			errf(err, errlen, "database in use by pid %s: %s",
			    buf[0] ? buf : "?", path);
		} else
			errf(err, errlen, "cannot lock %s: %s", lpath,
			    strerror(errno));
		goto fail;
	}
	n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) == -1 || pwrite(fd, buf, (size_t)n, 0) != n) {
		errf(err, errlen, "cannot write lock file %s: %s", lpath,
		    strerror(errno));
		goto fail;
	}
	free(lpath);
	return fd;
fail:
	if (fd != -1)
		close(fd);
	free(lpath);
	return -1;
}

static uint32_t
be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

/*
 * Invariant (4): reads the 100-byte header of an existing file and
 * refuses garbage and truncation without opening it for writing.
 */
static int
check_file(const char *path, char *err, size_t errlen)
{
	unsigned char h[100];
	struct stat st, wst;
	char *wal;
	uint32_t psize, npages;
	bool wal_present;
	int fd;
	ssize_t n;

	if (stat(path, &st) == -1)
		return errno == ENOENT
		    ? 0
		    : (errf(err, errlen, "%s: %s", path, strerror(errno)), -1);
	if (!S_ISREG(st.st_mode)) {
		errf(err, errlen, "%s: not a regular file", path);
		return -1;
	}
	if (st.st_size == 0)
		return 0; /* an empty file is an empty database */
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		errf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	n = pread(fd, h, sizeof(h), 0);
	close(fd);
	if (n != (ssize_t)sizeof(h) || memcmp(h, "SQLite format 3", 16) != 0) {
		errf(err, errlen,
		    "%s is not a SQLite database (damaged or foreign file); refusing to start, the file is left untouched",
		    path);
		return -1;
	}
	psize = (uint32_t)h[16] << 8 | h[17];
	if (psize == 1)
		psize = 65536;
	if (psize < 512 || (psize & (psize - 1)) != 0 ||
	    st.st_size % psize != 0) {
		errf(err, errlen,
		    "%s is damaged (truncated or bad page size); refusing to start, the file is left untouched",
		    path);
		return -1;
	}
	/*
	 * The page count in the header is valid when the change counter
	 * matches version-valid-for.  With a WAL present the file may
	 * legitimately lag behind it (a crash mid-checkpoint), so the size
	 * check is made only without one.
	 */
	wal = xmalloc(strlen(path) + 5);
	sprintf(wal, "%s-wal", path);
	wal_present = stat(wal, &wst) == 0 && wst.st_size > 0;
	free(wal);
	npages = be32(h + 28);
	if (!wal_present && be32(h + 24) == be32(h + 92) &&
	    (uint64_t)npages * psize > (uint64_t)st.st_size) {
		errf(err, errlen,
		    "%s is truncated (%u pages expected, %lld bytes found); refusing to start, the file is left untouched",
		    path, npages, (long long)st.st_size);
		return -1;
	}
	return 0;
}

int
store_file_version(const char *path)
{
	unsigned char h[100];
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return 0;
	n = pread(fd, h, sizeof(h), 0);
	close(fd);
	if (n != (ssize_t)sizeof(h) || memcmp(h, "SQLite format 3", 16) != 0)
		return 0;
	return (int)be32(h + 60); /* the user version (file format) */
}

/*
 * After SQLITE_NOMEM, SQLITE_FULL or an I/O error SQLite may have rolled
 * the whole transaction back by itself.  A statement run then would run
 * in autocommit mode, committed on its own, outside the transaction the
 * caller believes it is in: refuse it until the caller ends the
 * transaction (store_commit fails, store_rollback ends it).
 */
static bool
txn_lost(struct store *s)
{
	if (!s->in_txn || !sqlite3_get_autocommit(s->db))
		return false;
	log_warnx("store: the transaction was rolled back after an error"
	          " (%s); statement refused",
	    s->lasterr[0] ? s->lasterr : "?");
	return true;
}

static int
exec(struct store *s, const char *sql)
{
	char *msg = NULL;
	int rc;

	if (strcmp(sql, "ROLLBACK") != 0 && txn_lost(s))
		return -1;

	if ((rc = sqlite3_exec(s->db, sql, NULL, NULL, &msg)) != SQLITE_OK) {
		/* Out of memory, SQLite has no message to give: its code's. */
		snprintf(s->lasterr, sizeof(s->lasterr), "%s",
		    msg ? msg : sqlite3_errstr(rc));
		log_warnx("store: %s: %s", sql, msg ? msg : sqlite3_errstr(rc));
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

static int
pragma_int(struct store *s, const char *sql, int *v)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 0 : -1;
}

/* Reads the schema version without writing anything (invariant 4). */
static int
read_version(struct store *s, int *version, char *err, size_t errlen)
{
	int tables;

	if (pragma_int(s, "PRAGMA user_version", version) == -1 ||
	    pragma_int(s, "SELECT count(*) FROM sqlite_master", &tables) ==
	        -1) {
		errf(err, errlen,
		    "%s is damaged or not a SQLite database (%s); refusing to start, the file is left untouched",
		    s->path, sqlite3_errmsg(s->db));
		return -1;
	}
	if (*version == 0 && tables > 0) {
		errf(err, errlen,
		    "%s is not a dunnd database (it has tables but no dunnd schema version); refusing to start",
		    s->path);
		return -1;
	}
	if (*version > STORE_SCHEMA_VERSION) {
		errf(err, errlen,
		    "%s has schema version %d, newer than this dunnd understands (%d); refusing to start",
		    s->path, *version, STORE_SCHEMA_VERSION);
		return -1;
	}
	return 0;
}

/* dunnd_digest(body): hash.h's digest of a text, for migrations. */
static void
sql_digest(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	uint8_t d[HASH_LEN];

	(void)argc;
	hash_bytes(sqlite3_value_text(argv[0]),
	    (size_t)sqlite3_value_bytes(argv[0]), d);
	sqlite3_result_blob(ctx, d, HASH_LEN, SQLITE_TRANSIENT);
}

/*
 * dunnd_ledger(seq, kind, amount, at, uncounted, reversed, apps, pms):
 * the ledger (ledger.h) of an account's money rows, for migrations.
 * apps: [[invoice seq, amount, at, undone], ...]; pms: [[promise seq,
 * amount, withdrawn], ...].  A row it cannot read fails the migration.
 */
static int
ledger_kind_of(const char *kind)
{
	static const char *const names[] = { "payment", "credit", "upheld" };
	int i;

	for (i = 0; kind != NULL && i < 3; i++)
		if (strcmp(kind, names[i]) == 0)
			return i;
	return -1;
}

static bool
json_ints(json_t *row, size_t n, int64_t *v)
{
	size_t i;

	if (!json_is_array(row) || json_array_size(row) != n)
		return false;
	for (i = 0; i < n; i++) {
		if (!json_is_integer(json_array_get(row, i)))
			return false;
		v[i] = json_integer_value(json_array_get(row, i));
	}
	return true;
}

static void
sql_ledger_step(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	struct ledger **lp = sqlite3_aggregate_context(ctx, sizeof(*lp));
	struct ledger_money *m;
	json_t *apps, *pms, *row;
	int64_t v[4];
	size_t i;
	int kind;

	(void)argc;
	if (lp == NULL) {
		sqlite3_result_error_nomem(ctx);
		return;
	}
	if (*lp == NULL)
		*lp = xcalloc(1, sizeof(**lp));
	kind = ledger_kind_of((const char *)sqlite3_value_text(argv[1]));
	apps = json_loads((const char *)sqlite3_value_text(argv[6]), 0, NULL);
	pms = json_loads((const char *)sqlite3_value_text(argv[7]), 0, NULL);
	if (kind < 0 || !json_is_array(apps) || !json_is_array(pms)) {
		sqlite3_result_error(
		    ctx, "dunnd_ledger: unreadable money row", -1);
		goto out;
	}
	m = ledger_add(*lp, sqlite3_value_int64(argv[0]),
	    (enum ledger_kind)kind, sqlite3_value_int64(argv[2]),
	    sqlite3_value_int64(argv[3]));
	m->uncounted = sqlite3_value_int64(argv[4]);
	m->reversed = sqlite3_value_int(argv[5]) != 0;
	json_array_foreach(apps, i, row)
	{
		if (!json_ints(row, 4, v))
			goto bad;
		ledger_app_add(*lp, m, v[0], v[1], v[2]);
		m->app[m->napp - 1].undone = v[3] != 0;
	}
	json_array_foreach(pms, i, row)
	{
		if (!json_ints(row, 3, v))
			goto bad;
		ledger_pm_add(*lp, m, v[0], v[1]);
		m->pm[m->npm - 1].withdrawn = v[2] != 0;
	}
	goto out;
bad:
	sqlite3_result_error(ctx, "dunnd_ledger: unreadable application", -1);
out:
	json_decref(apps);
	json_decref(pms);
}

static int
money_before(const void *x, const void *y)
{
	const struct ledger_money *a = x, *b = y;

	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

static void
sql_ledger_final(sqlite3_context *ctx)
{
	struct ledger **lp = sqlite3_aggregate_context(ctx, 0);
	struct buf b;

	if (lp == NULL || *lp == NULL) {
		sqlite3_result_null(ctx);
		return;
	}
	qsort((*lp)->m, (*lp)->n, sizeof(*(*lp)->m), money_before);
	buf_init(&b);
	ledger_encode(*lp, &b);
	sqlite3_result_blob64(
	    ctx, buf_data(&b), buf_size(&b), SQLITE_TRANSIENT);
	buf_fini(&b);
	ledger_fini(*lp);
	free(*lp);
}

static int
migrate(struct store *s, int version, char *err, size_t errlen)
{
	const struct migration *m;
	bool had_data = version > 0;
	char sql[64];
	int rows, start = version;

	for (; version < STORE_SCHEMA_VERSION; version++) {
		m = &migrations[version];
		snprintf(
		    sql, sizeof(sql), "PRAGMA user_version = %d", version + 1);
		if (exec(s, "BEGIN IMMEDIATE") == -1)
			goto fail;
		if (exec(s, m->sql) == -1 || exec(s, sql) == -1) {
			exec(s, "ROLLBACK");
			goto fail;
		}
		if (exec(s, "COMMIT") == -1)
			goto fail;
		log_info("store: schema migrated to version %d", version + 1);
		if (had_data && m->note != NULL &&
		    pragma_int(s, m->count, &rows) == 0)
			log_info("store: %s (%d rows)", m->note, rows);
	}
	/*
	 * The new version into the file's header now, not at a later
	 * checkpoint: store_file_version() reads it there, and a start
	 * after a crash would otherwise announce a migration again.
	 */
	if (had_data && version > start && !s->in_txn)
		exec(s, "PRAGMA wal_checkpoint(TRUNCATE)");
	return 0;
fail:
	errf(err, errlen, "%s: schema migration to version %d failed: %s",
	    s->path, version + 1, sqlite3_errmsg(s->db));
	return -1;
}

/*
 * §6: the database's feed_id, 128 random bits as 32 hex digits, made
 * with it (a database made before feed ids gets one at its first start
 * with this version) and never changed.
 */
static int
make_feed_id(struct store *s, bool created, char *err, size_t errlen)
{
	unsigned char r[16];
	char hex[33], *old = NULL;
	size_t i;
	int rc;

	if ((rc = store_meta_get_text(s, "feed_id", &old)) != 0) {
		free(old);
		if (rc == 1)
			return 0;
		goto fail;
	}
	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
		errf(err, errlen, "%s: no random bits for the feed_id: %s",
		    s->path, strerror(errno));
		return -1;
	}
	for (i = 0; i < sizeof(r); i++)
		snprintf(hex + 2 * i, 3, "%02x", r[i]);
	if (store_begin(s) == -1 ||
	    store_meta_set_text(s, "feed_id", hex) == -1 ||
	    store_commit(s) == -1) {
		store_rollback(s);
		goto fail;
	}
	if (created)
		log_info("store: new database, feed_id %s", hex);
	else
		log_info(
		    "store: the database had no feed_id: it is now %s", hex);
	return 0;
fail:
	errf(err, errlen, "%s: cannot store the feed_id: %s", s->path,
	    store_errmsg(s));
	return -1;
}

static void *
ckpt_main(void *arg)
{
	struct ckpt *k = arg;
	struct timespec tick;
	sqlite3 *db = NULL;
	int wal = -1, before = -1, ms = CKPT_MIN_MS;

	if (sqlite3_open_v2(k->path, &db, SQLITE_OPEN_READWRITE, NULL) !=
	    SQLITE_OK) {
		sqlite3_close(db);
		return NULL;
	}
	sqlite3_busy_timeout(db, 1000);
	while (!atomic_load(&k->stop)) {
		tick.tv_sec = 0;
		tick.tv_nsec = ms * 1000000L;
		nanosleep(&tick, NULL);
		/*
		 * A connection's pager opens the WAL only when it first reads:
		 * until then a checkpoint returns SQLITE_OK, log = -1, and
		 * copies nothing.  One read opens it for good.
		 */
		if (wal == -1)
			sqlite3_exec(db, "SELECT count(*) FROM sqlite_master",
			    NULL, NULL, NULL);
		sqlite3_wal_checkpoint_v2(
		    db, NULL, SQLITE_CHECKPOINT_PASSIVE, &wal, NULL);
		/* The WAL grew (or started over) since: soon again. */
		if (wal != before) {
			ms = CKPT_MIN_MS;
			before = wal;
		} else {
			ms = 2 * ms < CKPT_MAX_MS ? 2 * ms : CKPT_MAX_MS;
		}
	}
	sqlite3_close(db);
	return NULL;
}

/* After each COMMIT: how long the WAL is. */
static int
wal_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
	(void)db;
	(void)name;
	((struct store *)arg)->wal_frames = frames;
	return SQLITE_OK;
}

/* Starts the checkpointer (best effort: without it, COMMIT does it). */
static void
ckpt_start(struct store *s)
{
	struct ckpt *k = &s->ckpt;

	sigset_t all, old;
	int rc;

	k->path = xstrdup(s->path);
	atomic_init(&k->stop, false);
	/*
	 * Signals are the loop's (it reads them from a signalfd, so they
	 * are blocked there): the thread must never be the one they hit.
	 */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	rc = pthread_create(&k->thread, NULL, ckpt_main, k);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		log_warnx("store: no checkpointer thread; COMMIT checkpoints");
		return;
	}
	k->running = true;
	/* The daemon's connection no longer checkpoints on its own... */
	exec(s,
	    "PRAGMA wal_autocheckpoint = 0; PRAGMA journal_size_limit = " WAL_KEEP);
	/* ... unless the WAL grows past wal_max_frames (store_commit). */
	s->wal_max_frames = WAL_MAX_FRAMES;
	sqlite3_wal_hook(s->db, wal_hook, s);
}

void
store_set_wal_max_frames(struct store *s, int frames)
{
	s->wal_max_frames = frames;
}

static void
ckpt_stop(struct store *s)
{
	struct ckpt *k = &s->ckpt;

	if (k->path == NULL)
		return;
	if (k->running) {
		atomic_store(&k->stop, true);
		pthread_join(k->thread, NULL);
		k->running = false;
	}
	free(k->path);
	k->path = NULL;
}

int
store_set_scratch(struct store *s)
{
	return exec(s, "PRAGMA synchronous = OFF;");
}

/*
 * SQLite counts the memory it holds under a global mutex on each
 * allocation (a statement step allocates and frees several times):
 * 3-5 % of ingest, and nothing reads the counts.  Set once, before
 * SQLite initialises.
 */
static void
sqlite_setup(void)
{
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

int
store_open(const char *path, struct store **out, char *err, size_t errlen)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	struct store *s = xcalloc(1, sizeof(*s));
	int jm_ok, version;
	sqlite3_stmt *st = NULL;

	pthread_once(&once, sqlite_setup);
	s->lockfd = -1;
	s->path = xstrdup(path);
	if ((s->lockfd = take_lock(path, err, errlen)) == -1)
		goto fail;
	if (check_file(path, err, errlen) == -1)
		goto fail;
	if (sqlite3_open_v2(path, &s->db,
	        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
	            SQLITE_OPEN_NOMUTEX,
	        NULL) != SQLITE_OK) {
		errf(err, errlen, "cannot open %s: %s", path,
		    s->db ? sqlite3_errmsg(s->db) : "out of memory");
		goto fail;
	}
	sqlite3_extended_result_codes(s->db, 1);
	/* Read the schema before writing anything (invariant 4). */
	if (read_version(s, &version, err, errlen) == -1)
		goto fail;
	if (sqlite3_prepare_v2(s->db, "PRAGMA journal_mode = WAL", -1, &st,
	        NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW) {
		errf(err, errlen, "%s: cannot enable WAL: %s", path,
		    sqlite3_errmsg(s->db));
		goto fail;
	}
	jm_ok = strcmp((const char *)sqlite3_column_text(st, 0), "wal") == 0;
	sqlite3_finalize(st);
	st = NULL;
	if (!jm_ok) {
		errf(err, errlen, "%s: WAL journal mode refused", path);
		goto fail;
	}
	/*
	 * A 32 MiB page cache (the default is 2 MiB): a busy day's
	 * evaluation reads and writes well beyond the default (targets.md
	 * P4), and the cache is part of the 600 MB at rest (P5).  Measured
	 * at 1M accounts: 64 MiB makes that day 10 % faster, ingest no
	 * faster, and costs the 32 MiB that P5 lacks.
	 *
	 * Foreign keys are declared but not enforced: every reference
	 * written (an event's account, a payment's invoice, an application's
	 * money, a task's account) was found in memory or by a lookup before
	 * the row is written (§2.2 steps 7-10), and the checks cost a parent
	 * lookup per reference on the hot path (a tenth of ingest).  The
	 * crash, power-loss and fault tests run PRAGMA foreign_key_check on
	 * what is left.
	 */
	if (exec(s,
	        "PRAGMA synchronous = FULL; PRAGMA foreign_keys = OFF;"
	        "PRAGMA cache_size = -32768;") == -1) {
		errf(err, errlen, "%s: %s", path, sqlite3_errmsg(s->db));
		goto fail;
	}
	if (sqlite3_create_function(s->db, "dunnd_digest", 1,
	        SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL, sql_digest, NULL,
	        NULL) != SQLITE_OK) {
		errf(err, errlen, "%s: %s", path, sqlite3_errmsg(s->db));
		goto fail;
	}
	if (sqlite3_create_function(s->db, "dunnd_ledger", 8, SQLITE_UTF8, NULL,
	        NULL, sql_ledger_step, sql_ledger_final) != SQLITE_OK) {
		errf(err, errlen, "%s: %s", path, sqlite3_errmsg(s->db));
		goto fail;
	}
	if (migrate(s, version, err, errlen) == -1)
		goto fail;
	if (make_feed_id(s, version == 0, err, errlen) == -1)
		goto fail;
	ckpt_start(s);
	*out = s;
	return 0;
fail:
	sqlite3_finalize(st);
	store_close(s);
	return -1;
}

struct store *
store_open_reader(struct store *s)
{
	struct store *r = xcalloc(1, sizeof(*r));

	r->lockfd = -1;
	r->path = xstrdup(s->path);
	if (sqlite3_open_v2(s->path, &r->db,
	        SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX,
	        NULL) != SQLITE_OK) {
		snprintf(s->lasterr, sizeof(s->lasterr), "%s",
		    r->db ? sqlite3_errmsg(r->db) : "out of memory");
		goto fail;
	}
	sqlite3_extended_result_codes(r->db, 1);
	sqlite3_busy_timeout(r->db, 1000);
	/*
	 * Its reads are long scans: pages mapped (no copy), the mapping
	 * gone when it closes.  The snapshot: a read transaction opens at
	 * its first read.
	 */
	if (exec(r,
	        "PRAGMA mmap_size = 68719476736; PRAGMA cache_size = -8192;"
	        " BEGIN; SELECT count(*) FROM meta;") == -1) {
		snprintf(s->lasterr, sizeof(s->lasterr), "%s", r->lasterr);
		goto fail;
	}
	return r;
fail:
	store_close(r);
	return NULL;
}

void
store_interrupt(struct store *r)
{
	sqlite3_interrupt(r->db);
}

void
store_close(struct store *s)
{
	int i;

	if (s == NULL)
		return;
	ckpt_stop(s);
	for (i = 0; i < Q_COUNT; i++)
		sqlite3_finalize(s->q[i]);
	if (s->db != NULL) {
		if (s->in_txn)
			exec(s, "ROLLBACK");
		if (sqlite3_close(s->db) != SQLITE_OK)
			log_warnx("store: close: %s", sqlite3_errmsg(s->db));
	}
	if (s->lockfd != -1)
		close(s->lockfd); /* releases the flock (invariant 3) */
	free(s->path);
	free(s);
}

int
store_schema_version(struct store *s)
{
	int v = -1;

	pragma_int(s, "PRAGMA user_version", &v);
	return v;
}

int
store_integrity_check(struct store *s)
{
	sqlite3_stmt *st;
	int ok = 0;

	if (sqlite3_prepare_v2(
	        s->db, "PRAGMA integrity_check", -1, &st, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		ok =
		    strcmp((const char *)sqlite3_column_text(st, 0), "ok") == 0;
	sqlite3_finalize(st);
	return ok ? 0 : -1;
}

int
store_begin(struct store *s)
{
	if (s->in_txn)
		return 0;
	if (exec(s, "BEGIN IMMEDIATE") == -1)
		return -1;
	s->in_txn = true;
	return 0;
}

int
store_commit(struct store *s)
{
	if (!s->in_txn)
		return 0;
	if (txn_lost(s)) {
		s->in_txn = false; /* nothing of it is left to commit */
		return -1;
	}
	if (exec(s, "COMMIT") == -1) {
		/* invariant (2): a failed COMMIT is a rolled-back batch */
		if (!sqlite3_get_autocommit(s->db))
			exec(s, "ROLLBACK");
		s->in_txn = false;
		return -1;
	}
	s->in_txn = false;
	if (s->ckpt.running && s->wal_frames > s->wal_max_frames) {
		/* Best effort: BUSY while the checkpointer is at it. */
		sqlite3_wal_checkpoint_v2(
		    s->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
		s->wal_frames = 0;
	}
	return 0;
}

int
store_rollback(struct store *s)
{
	if (!s->in_txn)
		return 0;
	s->in_txn = false;
	if (sqlite3_get_autocommit(s->db))
		return 0; /* SQLite already rolled back (SQLITE_FULL …) */
	return exec(s, "ROLLBACK");
}

int
store_savepoint(struct store *s)
{
	return exec(s, "SAVEPOINT batch");
}

int
store_release(struct store *s)
{
	return exec(s, "RELEASE batch");
}

int
store_rollback_savepoint(struct store *s)
{
	if (sqlite3_get_autocommit(s->db))
		return -1; /* the whole transaction is gone */
	if (exec(s, "ROLLBACK TO batch") == -1)
		return -1;
	return exec(s, "RELEASE batch");
}

bool
store_in_txn(struct store *s)
{
	return s->in_txn;
}

/* Steps a one-row statement; 1 row, 0 none, -1 error.  Caller resets. */
static int
step_row(struct store *s, sqlite3_stmt *st)
{
	int rc;

	if (txn_lost(s))
		return -1;
	rc = sqlite3_step(st);

	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	snprintf(s->lasterr, sizeof(s->lasterr), "%s", sqlite3_errmsg(s->db));
	log_warnx("store: %s: %s", sqlite3_sql(st), s->lasterr);
	return -1;
}

int
store_meta_get_int(struct store *s, const char *key, int64_t *v)
{
	int rc = store_q(s, Q_META_GET, "t", key);

	if (rc == 1)
		*v = store_col_int(s, Q_META_GET, 0);
	store_done(s, Q_META_GET);
	return rc;
}

int
store_meta_get_text(struct store *s, const char *key, char **v)
{
	int rc = store_q(s, Q_META_GET, "t", key);

	if (rc == 1)
		*v = xstrdup(store_col_text(s, Q_META_GET, 0));
	store_done(s, Q_META_GET);
	return rc;
}

int
store_meta_set_int(struct store *s, const char *key, int64_t v)
{
	return store_exec_q(s, Q_META_SET, "ti", key, v);
}

int
store_meta_set_text(struct store *s, const char *key, const char *v)
{
	return store_exec_q(s, Q_META_SET, "tt", key, v);
}

int
store_feed_head(struct store *s, int64_t *head)
{
	int rc = store_q(s, Q_FEED_HEAD, "");

	if (rc == 1)
		*head = store_col_int(s, Q_FEED_HEAD, 0);
	store_done(s, Q_FEED_HEAD);
	return rc == 1 ? 0 : -1;
}

static sqlite3_stmt *
qstmt(struct store *s, enum store_q q)
{
	if (s->q[q] == NULL &&
	    sqlite3_prepare_v3(s->db, q_sql[q], -1, SQLITE_PREPARE_PERSISTENT,
	        &s->q[q], NULL) != SQLITE_OK) {
		snprintf(s->lasterr, sizeof(s->lasterr), "%s",
		    sqlite3_errmsg(s->db));
		log_warnx("store: prepare: %s: %s", q_sql[q], s->lasterr);
		return NULL;
	}
	return s->q[q];
}

static int
vbind(sqlite3_stmt *st, const char *fmt, va_list ap)
{
	const char *t;
	const void *b;
	size_t len;
	int i, rc = SQLITE_OK;

	for (i = 1; *fmt != '\0' && rc == SQLITE_OK; fmt++, i++) {
		switch (*fmt) {
		case 'i':
			rc = sqlite3_bind_int64(st, i, va_arg(ap, int64_t));
			break;
		case 't':
			t = va_arg(ap, const char *);
			rc = t == NULL
			    ? sqlite3_bind_null(st, i)
			    : sqlite3_bind_text(st, i, t, -1, SQLITE_STATIC);
			break;
		case 'b':
			b = va_arg(ap, const void *);
			len = va_arg(ap, size_t);
			rc = sqlite3_bind_blob64(st, i, b, len, SQLITE_STATIC);
			break;
		default:
			rc = sqlite3_bind_null(st, i);
			break;
		}
	}
	return rc == SQLITE_OK ? 0 : -1;
}

static int
vq(struct store *s, enum store_q q, const char *fmt, va_list ap)
{
	sqlite3_stmt *st = qstmt(s, q);

	if (st == NULL)
		return -1;
	if (vbind(st, fmt, ap) == -1) {
		snprintf(s->lasterr, sizeof(s->lasterr), "%s",
		    sqlite3_errmsg(s->db));
		log_warnx("store: bind: %s: %s", q_sql[q], s->lasterr);
		return -1;
	}
	return store_next(s, q);
}

int
store_q(struct store *s, enum store_q q, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = vq(s, q, fmt, ap);
	va_end(ap);
	return rc;
}

int
store_exec_q(struct store *s, enum store_q q, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = vq(s, q, fmt, ap);
	va_end(ap);
	store_done(s, q);
	return rc == -1 ? -1 : 0;
}

int
store_next(struct store *s, enum store_q q)
{
	return s->q[q] == NULL ? -1 : step_row(s, s->q[q]);
}

void
store_done(struct store *s, enum store_q q)
{
	if (s->q[q] != NULL) {
		sqlite3_reset(s->q[q]);
		sqlite3_clear_bindings(s->q[q]);
	}
}

int64_t
store_col_int(struct store *s, enum store_q q, int col)
{
	return sqlite3_column_int64(s->q[q], col);
}

bool
store_col_null(struct store *s, enum store_q q, int col)
{
	return sqlite3_column_type(s->q[q], col) == SQLITE_NULL;
}

const char *
store_col_text(struct store *s, enum store_q q, int col)
{
	const unsigned char *t = sqlite3_column_text(s->q[q], col);

	return t != NULL ? (const char *)t : "";
}

const void *
store_col_blob(struct store *s, enum store_q q, int col, size_t *len)
{
	const void *b = sqlite3_column_blob(s->q[q], col);

	*len = (size_t)sqlite3_column_bytes(s->q[q], col);
	return b;
}

const char *
store_errmsg(struct store *s)
{
	return s->lasterr[0] ? s->lasterr : sqlite3_errmsg(s->db);
}

/* Backup (store.h). */

#define BACKUP_PAGES 1024 /* pages per step: the abort is seen between */

struct store_backup {
	pthread_t thread;
	atomic_bool ended, abort;
	char *src, *path, *tmp;
	int64_t bytes;
	char err[STORE_ERR_LEN]; /* empty when the copy is complete */
};

static void *
backup_main(void *arg)
{
	struct store_backup *b = arg;
	sqlite3 *src = NULL, *dst = NULL;
	sqlite3_backup *bk = NULL;
	struct stat st;
	int rc;

	if (sqlite3_open_v2(b->src, &src, SQLITE_OPEN_READWRITE, NULL) !=
	    SQLITE_OK) {
		snprintf(b->err, sizeof(b->err), "cannot open %s: %s", b->src,
		    src != NULL ? sqlite3_errmsg(src) : "out of memory");
		goto done;
	}
	sqlite3_busy_timeout(src, 5000);
	/*
	 * One read snapshot for the whole copy: dunnd's writes through its
	 * own connection would otherwise restart the copy at every step.
	 */
	if (sqlite3_exec(src, "BEGIN; SELECT count(*) FROM meta;", NULL, NULL,
	        NULL) != SQLITE_OK) {
		snprintf(b->err, sizeof(b->err), "cannot read %s: %s", b->src,
		    sqlite3_errmsg(src));
		goto done;
	}
	unlink(b->tmp);
	if (sqlite3_open_v2(b->tmp, &dst,
	        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
	        NULL) != SQLITE_OK ||
	    (bk = sqlite3_backup_init(dst, "main", src, "main")) == NULL) {
		snprintf(b->err, sizeof(b->err), "cannot write %s: %s", b->tmp,
		    dst != NULL ? sqlite3_errmsg(dst) : "out of memory");
		goto done;
	}
	do {
		rc = sqlite3_backup_step(bk, BACKUP_PAGES);
		if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) {
			const struct timespec pause = { 0, 10 * 1000000L };

			nanosleep(&pause, NULL);
		}
		if (atomic_load(&b->abort)) {
			snprintf(b->err, sizeof(b->err), "shutting down");
			break;
		}
	} while (rc == SQLITE_OK || rc == SQLITE_BUSY || rc == SQLITE_LOCKED);
	sqlite3_backup_finish(bk);
	if (b->err[0] == '\0' && rc != SQLITE_DONE)
		snprintf(b->err, sizeof(b->err), "cannot write %s: %s", b->tmp,
		    sqlite3_errstr(rc));
	if (sqlite3_close(dst) != SQLITE_OK && b->err[0] == '\0')
		snprintf(b->err, sizeof(b->err), "cannot close %s: %s", b->tmp,
		    sqlite3_errmsg(dst));
	dst = NULL;
	if (b->err[0] == '\0' && rename(b->tmp, b->path) == -1)
		snprintf(b->err, sizeof(b->err), "cannot rename %s to %s: %s",
		    b->tmp, b->path, strerror(errno));
	if (b->err[0] == '\0' && stat(b->path, &st) == 0)
		b->bytes = (int64_t)st.st_size;
done:
	if (b->err[0] != '\0')
		unlink(b->tmp);
	sqlite3_close(dst);
	if (src != NULL)
		sqlite3_exec(src, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_close(src);
	atomic_store(&b->ended, true);
	return NULL;
}

struct store_backup *
store_backup_start(struct store *s, const char *path, char *err, size_t errlen)
{
	struct store_backup *b;
	struct stat st, dbst;
	sigset_t all, old;
	int rc;

	if (stat(path, &st) == 0 && stat(s->path, &dbst) == 0 &&
	    st.st_dev == dbst.st_dev && st.st_ino == dbst.st_ino) {
		errf(err, errlen, "%s is the database itself", path);
		return NULL;
	}
	b = xcalloc(1, sizeof(*b));
	b->src = xstrdup(s->path);
	b->path = xstrdup(path);
	b->tmp = xmalloc(strlen(path) + 5);
	sprintf(b->tmp, "%s.tmp", path);
	atomic_init(&b->ended, false);
	atomic_init(&b->abort, false);
	/* Signals are the loop's (as for the checkpointer). */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	rc = pthread_create(&b->thread, NULL, backup_main, b);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		errf(err, errlen, "cannot start the backup: %s", strerror(rc));
		free(b->src);
		free(b->path);
		free(b->tmp);
		free(b);
		return NULL;
	}
	return b;
}

bool
store_backup_ended(struct store_backup *b)
{
	return atomic_load(&b->ended);
}

int
store_backup_finish(struct store_backup *b, bool abort, int64_t *bytes,
    char *err, size_t errlen)
{
	int rc;

	if (abort)
		atomic_store(&b->abort, true);
	pthread_join(b->thread, NULL);
	rc = b->err[0] == '\0' ? 0 : -1;
	if (rc == -1)
		errf(err, errlen, "%s", b->err);
	*bytes = b->bytes;
	free(b->src);
	free(b->path);
	free(b->tmp);
	free(b);
	return rc;
}
