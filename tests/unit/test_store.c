#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "log.h"
#include "store.h"

static char dir[] = "/tmp/dunnd-test-store-XXXXXX";
static char db[512];

static void
wipe(void)
{
	char p[600];

	unlink(db);
	snprintf(p, sizeof(p), "%s-wal", db);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", db);
	unlink(p);
	snprintf(p, sizeof(p), "%s.lock", db);
	unlink(p);
}

static void
write_file(const void *data, size_t len)
{
	FILE *f = fopen(db, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	fclose(f);
}

static char *
read_file(size_t *len)
{
	FILE *f = fopen(db, "rb");
	char *p;
	long n;

	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	p = malloc((size_t)n + 1);
	assert_int_equal(fread(p, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return p;
}

static void
sql(const char *text)
{
	sqlite3 *h;

	assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
	assert_int_equal(sqlite3_exec(h, text, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(h);
}

static void
test_new_database_gets_schema_1_in_wal(void **state)
{
	struct store *s;
	char err[STORE_ERR_LEN], *mode = NULL;
	int64_t head = -1;

	(void)state;
	wipe();
	assert_int_equal(store_open(db, &s, err, sizeof(err)), 0);
	assert_int_equal(store_schema_version(s), STORE_SCHEMA_VERSION);
	assert_int_equal(store_integrity_check(s), 0);
	assert_int_equal(store_feed_head(s, &head), 0);
	assert_int_equal(head, 0);
	store_close(s);
	/* The file says WAL (header bytes 18-19 = 2) once closed. */
	{
		size_t len;
		char *p = read_file(&len);

		assert_true(len >= 100);
		assert_int_equal(p[18], 2);
		assert_int_equal(p[19], 2);
		free(p);
	}
	free(mode);
}

static void
test_empty_file_is_migrated(void **state)
{
	struct store *s;
	char err[STORE_ERR_LEN];

	(void)state;
	wipe();
	write_file("", 0);
	assert_int_equal(store_open(db, &s, err, sizeof(err)), 0);
	assert_int_equal(store_schema_version(s), STORE_SCHEMA_VERSION);
	store_close(s);
}

static void
test_version0_fixture_is_migrated(void **state)
{
	struct store *s;
	char err[STORE_ERR_LEN];

	(void)state;
	wipe();
	/* A real SQLite file with no tables and user_version 0. */
	sql("PRAGMA page_size = 4096; VACUUM;");
	assert_int_equal(store_open(db, &s, err, sizeof(err)), 0);
	assert_int_equal(store_schema_version(s), STORE_SCHEMA_VERSION);
	assert_int_equal(store_meta_set_int(s, "k", 5), 0);
	store_close(s);
	/* Reopening does not migrate again and keeps the data. */
	assert_int_equal(store_open(db, &s, err, sizeof(err)), 0);
	{
		int64_t v = 0;

		assert_int_equal(store_meta_get_int(s, "k", &v), 1);
		assert_int_equal(v, 5);
	}
	store_close(s);
}

static void
test_lock_names_the_owner_pid(void **state)
{
	struct store *a, *b = NULL;
	char err[STORE_ERR_LEN], want[64];

	(void)state;
	wipe();
	assert_int_equal(store_open(db, &a, err, sizeof(err)), 0);
	assert_int_equal(store_open(db, &b, err, sizeof(err)), -1);
	assert_null(b);
	snprintf(
	    want, sizeof(want), "database in use by pid %ld", (long)getpid());
	assert_non_null(strstr(err, want));
	store_close(a);
	/* Released on close. */
	assert_int_equal(store_open(db, &b, err, sizeof(err)), 0);
	store_close(b);
}

static void
refused_untouched(const void *data, size_t len, const char *why)
{
	struct store *s = NULL;
	char err[STORE_ERR_LEN], wal[600];
	size_t got_len;
	char *got;

	wipe();
	write_file(data, len);
	assert_int_equal(store_open(db, &s, err, sizeof(err)), -1);
	assert_null(s);
	if (strstr(err, why) == NULL)
		fail_msg("error \"%s\" lacks \"%s\"", err, why);
	got = read_file(&got_len);
	assert_int_equal(got_len, len);
	assert_memory_equal(got, data, len);
	free(got);
	snprintf(wal, sizeof(wal), "%s-wal", db);
	assert_int_equal(access(wal, F_OK), -1);
}

static void
test_garbage_is_refused(void **state)
{
	char junk[8192];

	(void)state;
	memset(junk, 'x', sizeof(junk));
	refused_untouched(junk, sizeof(junk), "not a SQLite database");
	refused_untouched("short", 5, "not a SQLite database");
}

static void
test_truncated_is_refused(void **state)
{
	struct store *s;
	char err[STORE_ERR_LEN];
	size_t len;
	char *full;

	(void)state;
	wipe();
	assert_int_equal(store_open(db, &s, err, sizeof(err)), 0);
	store_close(s);
	full = read_file(&len);
	assert_true(len > 3 * 4096);
	refused_untouched(full, 2 * 4096, "truncated");
	refused_untouched(full, len - 100, "damaged");
	free(full);
}

static void
test_foreign_and_newer_are_refused(void **state)
{
	struct store *s = NULL;
	char err[STORE_ERR_LEN];

	(void)state;
	wipe();
	sql("CREATE TABLE other(x);");
	assert_int_equal(store_open(db, &s, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not a dunnd database"));
	wipe();
	sql("PRAGMA user_version = 99;");
	assert_int_equal(store_open(db, &s, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "schema version 99"));
	assert_null(s);
}

static void
test_meta_and_transactions(void **state)
{
	struct store *s;
	char err[STORE_ERR_LEN], *text = NULL;
	int64_t v = 0;

	(void)state;
	wipe();
	assert_int_equal(store_open(db, &s, err, sizeof(err)), 0);
	assert_int_equal(store_meta_get_int(s, "clock_pos", &v), 0);
	assert_int_equal(store_begin(s), 0);
	assert_true(store_in_txn(s));
	assert_int_equal(store_meta_set_int(s, "clock_pos", 1234567890), 0);
	assert_int_equal(store_rollback(s), 0);
	assert_int_equal(store_meta_get_int(s, "clock_pos", &v), 0);
	assert_int_equal(store_begin(s), 0);
	assert_int_equal(store_meta_set_int(s, "clock_pos", 42), 0);
	assert_int_equal(store_meta_set_text(s, "rules_version", "abc"), 0);
	assert_int_equal(store_commit(s), 0);
	assert_false(store_in_txn(s));
	store_close(s);
	assert_int_equal(store_open(db, &s, err, sizeof(err)), 0);
	assert_int_equal(store_meta_get_int(s, "clock_pos", &v), 1);
	assert_int_equal(v, 42);
	assert_int_equal(store_meta_get_text(s, "rules_version", &text), 1);
	assert_string_equal(text, "abc");
	free(text);
	store_close(s);
}

static long
wal_size(void)
{
	char p[600];
	struct stat st;

	snprintf(p, sizeof(p), "%s-wal", db);
	return stat(p, &st) == 0 ? (long)st.st_size : 0;
}

/* Writes n transactions back to back, 16 KiB of text each. */
static void
write_back_to_back(struct store *s, int n)
{
	static char text[16384];
	int i;

	memset(text, 'x', sizeof(text) - 1);
	for (i = 0; i < n; i++) {
		text[i % 1000] = (char)('a' + i % 26); /* a new value */
		assert_int_equal(store_begin(s), 0);
		assert_int_equal(store_meta_set_text(s, "blob", text), 0);
		assert_int_equal(store_commit(s), 0);
	}
}

/*
 * One write after another leaves the checkpointer no moment at which the
 * whole WAL is copied back, so the WAL would only grow: past the limit,
 * COMMIT checkpoints and the next transaction starts the WAL over.
 */
static void
test_wal_is_bounded_under_back_to_back_writes(void **state)
{
	struct store *s;
	char err[STORE_ERR_LEN];
	long frame = 4096 + 24;

	(void)state;
	wipe();
	assert_int_equal(store_open(db, &s, err, sizeof(err)), 0);
	store_set_wal_max_frames(s, 100);
	write_back_to_back(s, 400); /* >= 5 frames each: 2,000 frames */
	assert_true(wal_size() < 200 * frame);
	store_close(s);
}

static int
setup(void **state)
{
	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(db, sizeof(db), "%s/dunnd.db", dir);
	log_init(true, LOG_LEVEL_ERR);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	wipe();
	rmdir(dir);
	return 0;
}

/* §6: a feed_id made with the database, kept by every reopen. */
static void
test_feed_id_is_made_once(void **state)
{
	struct store *s;
	char err[STORE_ERR_LEN], *id = NULL, *again = NULL;
	size_t i;

	(void)state;
	wipe();
	assert_int_equal(store_open(db, &s, err, sizeof(err)), 0);
	assert_int_equal(store_meta_get_text(s, "feed_id", &id), 1);
	assert_int_equal(strlen(id), 32);
	for (i = 0; i < 32; i++)
		assert_non_null(strchr("0123456789abcdef", id[i]));
	store_close(s);
	assert_int_equal(store_open(db, &s, err, sizeof(err)), 0);
	assert_int_equal(store_meta_get_text(s, "feed_id", &again), 1);
	assert_string_equal(id, again);
	store_close(s);
	free(id);
	free(again);
}

/* A backup is a database of its own with the same contents. */
static void
test_backup_copies_the_database(void **state)
{
	struct store *s, *b;
	struct store_backup *bk;
	char err[STORE_ERR_LEN], path[600], tmp[610], *id = NULL, *bid = NULL;
	int64_t bytes = 0, v = 0;

	(void)state;
	wipe();
	snprintf(path, sizeof(path), "%s/copy.db", dir);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	unlink(path);
	assert_int_equal(store_open(db, &s, err, sizeof(err)), 0);
	assert_int_equal(store_meta_set_int(s, "k", 7), 0);
	/* The database itself is refused. */
	assert_null(store_backup_start(s, db, err, sizeof(err)));
	assert_non_null(strstr(err, "the database itself"));
	bk = store_backup_start(s, path, err, sizeof(err));
	assert_non_null(bk);
	assert_int_equal(
	    store_backup_finish(bk, false, &bytes, err, sizeof(err)), 0);
	assert_true(bytes > 0);
	assert_int_equal(access(tmp, F_OK), -1);
	assert_int_equal(store_meta_get_text(s, "feed_id", &id), 1);
	store_close(s);
	assert_int_equal(store_open(path, &b, err, sizeof(err)), 0);
	assert_int_equal(store_meta_get_int(b, "k", &v), 1);
	assert_int_equal(v, 7);
	assert_int_equal(store_meta_get_text(b, "feed_id", &bid), 1);
	assert_string_equal(id, bid);
	assert_int_equal(store_integrity_check(b), 0);
	store_close(b);
	{
		static const char *const ext[] = { "", "-wal", "-shm",
			".lock" };
		size_t i;

		for (i = 0; i < 4; i++) {
			snprintf(tmp, sizeof(tmp), "%s%s", path, ext[i]);
			unlink(tmp);
		}
	}
	/* An unwritable place: an error, no file left. */
	snprintf(path, sizeof(path), "%s/no/such/dir/copy.db", dir);
	assert_int_equal(store_open(db, &s, err, sizeof(err)), 0);
	bk = store_backup_start(s, path, err, sizeof(err));
	assert_non_null(bk);
	assert_int_equal(
	    store_backup_finish(bk, false, &bytes, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "cannot"));
	store_close(s);
	free(id);
	free(bid);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_new_database_gets_schema_1_in_wal),
		cmocka_unit_test(test_empty_file_is_migrated),
		cmocka_unit_test(test_version0_fixture_is_migrated),
		cmocka_unit_test(test_lock_names_the_owner_pid),
		cmocka_unit_test(test_garbage_is_refused),
		cmocka_unit_test(test_truncated_is_refused),
		cmocka_unit_test(test_foreign_and_newer_are_refused),
		cmocka_unit_test(test_meta_and_transactions),
		cmocka_unit_test(test_wal_is_bounded_under_back_to_back_writes),
		cmocka_unit_test(test_feed_id_is_made_once),
		cmocka_unit_test(test_backup_copies_the_database),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
