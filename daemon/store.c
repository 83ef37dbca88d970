/*
 * store — SQLite behind one narrow interface.
 *
 * Invariants:
 * (1) Only this file includes <sqlite3.h>; every statement is prepared
 *     once (stmt cache below) and reset after use.
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
#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "log.h"
#include "util.h"

enum stmt_id {
	ST_META_GET,
	ST_META_SET,
	ST_FEED_HEAD,
	ST_STAGE_COUNTS,
	ST_COUNT
};

static const char *const stmt_sql[ST_COUNT] = {
	[ST_META_GET] = "SELECT value FROM meta WHERE key = ?1",
	[ST_META_SET] =
	    ("INSERT INTO meta(key, value) VALUES (?1, ?2) "
	     "ON CONFLICT(key) DO UPDATE SET value = excluded.value"),
	[ST_FEED_HEAD] = "SELECT coalesce(max(seq), 0) FROM feed",
	[ST_STAGE_COUNTS] =
	    "SELECT stage, count(*) FROM accounts GROUP BY stage",
};

struct store {
	sqlite3 *db;
	char *path;
	int lockfd;
	bool in_txn;
	sqlite3_stmt *stmt[ST_COUNT];
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
    "CREATE INDEX events_account ON events(account, seq);\n"
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
    "CREATE INDEX invoices_account ON invoices(account, due, issued, seq);\n"
    /* Payments, credits and upheld amounts; unapplied = credit balance. */
    "CREATE TABLE money(event TEXT PRIMARY KEY,"
    " account TEXT NOT NULL REFERENCES accounts(id),"
    " seq INTEGER NOT NULL, kind TEXT NOT NULL, amount INTEGER NOT NULL,"
    " at INTEGER NOT NULL, invoice TEXT REFERENCES invoices(id),"
    " unapplied INTEGER NOT NULL DEFAULT 0, reversed_by TEXT)"
    " WITHOUT ROWID;\n"
    "CREATE INDEX money_account ON money(account, seq);\n"
    "CREATE TABLE applications(id INTEGER PRIMARY KEY,"
    " money TEXT NOT NULL REFERENCES money(event),"
    " invoice TEXT NOT NULL REFERENCES invoices(id),"
    " amount INTEGER NOT NULL, at INTEGER NOT NULL,"
    " undone_by TEXT);\n"
    "CREATE INDEX applications_money ON applications(money);\n"
    "CREATE INDEX applications_invoice ON applications(invoice);\n"
    "CREATE TABLE promises(event TEXT PRIMARY KEY,"
    " account TEXT NOT NULL REFERENCES accounts(id),"
    " seq INTEGER NOT NULL, amount INTEGER NOT NULL, due INTEGER NOT NULL,"
    " at INTEGER NOT NULL, task TEXT, counted INTEGER NOT NULL DEFAULT 0,"
    " verdict TEXT, verdict_at INTEGER) WITHOUT ROWID;\n"
    "CREATE INDEX promises_account ON promises(account, seq);\n"
    /* Money counted towards a promise (§3.1): never moved once counted. */
    "CREATE TABLE promise_money(promise TEXT NOT NULL REFERENCES promises(event),"
    " money TEXT NOT NULL REFERENCES money(event), amount INTEGER NOT NULL,"
    " withdrawn INTEGER NOT NULL DEFAULT 0,"
    " PRIMARY KEY(promise, money)) WITHOUT ROWID;\n"
    "CREATE TABLE disputes(event TEXT PRIMARY KEY,"
    " account TEXT NOT NULL REFERENCES accounts(id),"
    " invoice TEXT NOT NULL REFERENCES invoices(id), seq INTEGER NOT NULL,"
    " amount INTEGER NOT NULL, at INTEGER NOT NULL, reason TEXT NOT NULL,"
    " resolved_by TEXT) WITHOUT ROWID;\n"
    "CREATE INDEX disputes_invoice ON disputes(invoice);\n"
    "CREATE TABLE outcomes(event TEXT PRIMARY KEY, task TEXT NOT NULL,"
    " account TEXT NOT NULL REFERENCES accounts(id), seq INTEGER NOT NULL,"
    " result TEXT NOT NULL, at INTEGER NOT NULL, note TEXT) WITHOUT ROWID;\n"
    "CREATE INDEX outcomes_account ON outcomes(account, at, seq);\n"
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
    " created INTEGER NOT NULL) WITHOUT ROWID;\n"
    "CREATE INDEX tasks_account ON tasks(account, status);\n"
    "CREATE INDEX tasks_open ON tasks(status, priority, feed_seq);\n"
    /* The feed: append-only, gapless seq from 1, records as sent. */
    "CREATE TABLE feed(seq INTEGER PRIMARY KEY, record TEXT NOT NULL);\n"
    "CREATE TABLE consumers(name TEXT PRIMARY KEY,"
    " cursor INTEGER NOT NULL) WITHOUT ROWID;\n";

/* migrations[i] takes the schema from version i to i + 1 (invariant 5). */
static const char *const migrations[] = {
	schema_v1,
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

static int
exec(struct store *s, const char *sql)
{
	char *msg = NULL;

	if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		log_warnx("store: %s: %s", sql, msg ? msg : "?");
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

static sqlite3_stmt *
stmt(struct store *s, enum stmt_id id)
{
	if (s->stmt[id] == NULL &&
	    sqlite3_prepare_v3(s->db, stmt_sql[id], -1,
	        SQLITE_PREPARE_PERSISTENT, &s->stmt[id], NULL) != SQLITE_OK) {
		log_warnx("store: prepare: %s", sqlite3_errmsg(s->db));
		return NULL;
	}
	return s->stmt[id];
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

static int
migrate(struct store *s, int version, char *err, size_t errlen)
{
	char sql[64];

	for (; version < STORE_SCHEMA_VERSION; version++) {
		snprintf(
		    sql, sizeof(sql), "PRAGMA user_version = %d", version + 1);
		if (exec(s, "BEGIN IMMEDIATE") == -1)
			goto fail;
		if (exec(s, migrations[version]) == -1 || exec(s, sql) == -1) {
			exec(s, "ROLLBACK");
			goto fail;
		}
		if (exec(s, "COMMIT") == -1)
			goto fail;
		log_info("store: schema migrated to version %d", version + 1);
	}
	return 0;
fail:
	errf(err, errlen, "%s: schema migration to version %d failed: %s",
	    s->path, version + 1, sqlite3_errmsg(s->db));
	return -1;
}

int
store_open(const char *path, struct store **out, char *err, size_t errlen)
{
	struct store *s = xcalloc(1, sizeof(*s));
	int jm_ok, version;
	sqlite3_stmt *st = NULL;

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
	if (exec(s, "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;") ==
	    -1) {
		errf(err, errlen, "%s: %s", path, sqlite3_errmsg(s->db));
		goto fail;
	}
	if (migrate(s, version, err, errlen) == -1)
		goto fail;
	*out = s;
	return 0;
fail:
	sqlite3_finalize(st);
	store_close(s);
	return -1;
}

void
store_close(struct store *s)
{
	int i;

	if (s == NULL)
		return;
	for (i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(s->stmt[i]);
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
	if (exec(s, "COMMIT") == -1) {
		/* invariant (2): a failed COMMIT is a rolled-back batch */
		if (!sqlite3_get_autocommit(s->db))
			exec(s, "ROLLBACK");
		s->in_txn = false;
		return -1;
	}
	s->in_txn = false;
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

bool
store_in_txn(struct store *s)
{
	return s->in_txn;
}

/* Steps a one-row statement; 1 row, 0 none, -1 error.  Caller resets. */
static int
step_row(struct store *s, sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	log_warnx("store: %s: %s", sqlite3_sql(st), sqlite3_errmsg(s->db));
	return -1;
}

int
store_meta_get_int(struct store *s, const char *key, int64_t *v)
{
	sqlite3_stmt *st = stmt(s, ST_META_GET);
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	if ((rc = step_row(s, st)) == 1)
		*v = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return rc;
}

int
store_meta_get_text(struct store *s, const char *key, char **v)
{
	sqlite3_stmt *st = stmt(s, ST_META_GET);
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	if ((rc = step_row(s, st)) == 1)
		*v = xstrdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_reset(st);
	return rc;
}

static int
meta_set(struct store *s, const char *key, const char *text, int64_t v)
{
	sqlite3_stmt *st = stmt(s, ST_META_SET);
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	if (text != NULL)
		sqlite3_bind_text(st, 2, text, -1, SQLITE_STATIC);
	else
		sqlite3_bind_int64(st, 2, v);
	rc = step_row(s, st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == -1 ? -1 : 0;
}

int
store_meta_set_int(struct store *s, const char *key, int64_t v)
{
	return meta_set(s, key, NULL, v);
}

int
store_meta_set_text(struct store *s, const char *key, const char *v)
{
	return meta_set(s, key, v, 0);
}

int
store_feed_head(struct store *s, int64_t *head)
{
	sqlite3_stmt *st = stmt(s, ST_FEED_HEAD);
	int rc;

	if (st == NULL)
		return -1;
	if ((rc = step_row(s, st)) == 1)
		*head = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return rc == 1 ? 0 : -1;
}

int
store_stage_counts(struct store *s,
    void (*fn)(const char *stage, int64_t count, void *arg), void *arg)
{
	sqlite3_stmt *st = stmt(s, ST_STAGE_COUNTS);
	int rc;

	if (st == NULL)
		return -1;
	while ((rc = step_row(s, st)) == 1)
		fn((const char *)sqlite3_column_text(st, 0),
		    sqlite3_column_int64(st, 1), arg);
	sqlite3_reset(st);
	return rc;
}
