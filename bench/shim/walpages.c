/*
 * walpages.c — a bench-only SQLite VFS shim: which pages a WAL gets.
 *
 * Built into BUILD/bench/libwalpages.so and loaded with LD_PRELOAD by
 * where.py (never linked into dunnd).  Its constructor wraps the
 * default VFS and registers the wrapper as the new default.  While the
 * file named by WALPAGES_ARM exists, the page number of every frame
 * written to a "-wal" file is appended to the file WALPAGES_OUT (4
 * bytes each, host order): SQLite writes a frame as its 24-byte header
 * (the page number first, big-endian), then the page.  A header written
 * again at or below the furthest frame offset of the WAL's generation
 * (SQLite rewrites the headers of a transaction's frames after one of
 * them was overwritten in place, for their checksums) is recorded with
 * bit 31 set; a new WAL header (32 bytes at offset 0) starts a
 * generation.  where.py maps the numbers to tables and indexes with
 * the dbstat virtual table.
 *
 * Memory-mapped reads are refused (xFetch gives none): the shim sees
 * every access it wraps.  One mutex: the checkpointer thread opens
 * files too.
 */
#include <sys/stat.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

struct wfile {
	sqlite3_file base;
	sqlite3_file *real;
	int wal;
	sqlite3_int64 furthest; /* the furthest frame header written */
};

static sqlite3_vfs *orig;
static sqlite3_vfs shim;
static sqlite3_io_methods methods;
static const char *arm_path, *out_path;
static FILE *out;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

#define REAL(f) (((struct wfile *)(f))->real)

static int
w_close(sqlite3_file *f)
{
	int rc = REAL(f)->pMethods->xClose(REAL(f));

	sqlite3_free(REAL(f));
	return rc;
}

static int
w_read(sqlite3_file *f, void *p, int n, sqlite3_int64 off)
{
	return REAL(f)->pMethods->xRead(REAL(f), p, n, off);
}

static int
w_write(sqlite3_file *f, const void *p, int n, sqlite3_int64 off)
{
	const unsigned char *b = p;
	struct stat st;
	unsigned page;

	struct wfile *w = (struct wfile *)f;

	if (w->wal && n == 32 && off == 0)
		w->furthest = 0;
	if (w->wal && n == 24 && arm_path != NULL && stat(arm_path, &st) == 0) {
		page = (unsigned)b[0] << 24 | (unsigned)b[1] << 16 |
		    (unsigned)b[2] << 8 | b[3];
		if (off <= w->furthest)
			page |= 1u << 31;
		else
			w->furthest = off;
		pthread_mutex_lock(&mu);
		if (out == NULL && out_path != NULL)
			out = fopen(out_path, "ab");
		if (out != NULL) {
			fwrite(&page, sizeof(page), 1, out);
			fflush(out);
		}
		pthread_mutex_unlock(&mu);
	}
	return REAL(f)->pMethods->xWrite(REAL(f), p, n, off);
}

static int
w_truncate(sqlite3_file *f, sqlite3_int64 size)
{
	return REAL(f)->pMethods->xTruncate(REAL(f), size);
}

static int
w_sync(sqlite3_file *f, int flags)
{
	return REAL(f)->pMethods->xSync(REAL(f), flags);
}

static int
w_size(sqlite3_file *f, sqlite3_int64 *size)
{
	return REAL(f)->pMethods->xFileSize(REAL(f), size);
}

static int
w_lock(sqlite3_file *f, int l)
{
	return REAL(f)->pMethods->xLock(REAL(f), l);
}

static int
w_unlock(sqlite3_file *f, int l)
{
	return REAL(f)->pMethods->xUnlock(REAL(f), l);
}

static int
w_reserved(sqlite3_file *f, int *out_)
{
	return REAL(f)->pMethods->xCheckReservedLock(REAL(f), out_);
}

static int
w_control(sqlite3_file *f, int op, void *arg)
{
	return REAL(f)->pMethods->xFileControl(REAL(f), op, arg);
}

static int
w_sector(sqlite3_file *f)
{
	return REAL(f)->pMethods->xSectorSize(REAL(f));
}

static int
w_device(sqlite3_file *f)
{
	return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f));
}

static int
w_shm_map(sqlite3_file *f, int i, int size, int extend, void volatile **pp)
{
	return REAL(f)->pMethods->xShmMap(REAL(f), i, size, extend, pp);
}

static int
w_shm_lock(sqlite3_file *f, int off, int n, int flags)
{
	return REAL(f)->pMethods->xShmLock(REAL(f), off, n, flags);
}

static void
w_shm_barrier(sqlite3_file *f)
{
	REAL(f)->pMethods->xShmBarrier(REAL(f));
}

static int
w_shm_unmap(sqlite3_file *f, int del)
{
	return REAL(f)->pMethods->xShmUnmap(REAL(f), del);
}

static int
w_fetch(sqlite3_file *f, sqlite3_int64 off, int n, void **pp)
{
	(void)f;
	(void)off;
	(void)n;
	*pp = NULL;
	return SQLITE_OK;
}

static int
w_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p)
{
	(void)f;
	(void)off;
	(void)p;
	return SQLITE_OK;
}

static int
w_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags,
    int *outflags)
{
	struct wfile *w = (struct wfile *)f;
	size_t len = name != NULL ? strlen(name) : 0;
	int rc;

	(void)vfs;
	if ((w->real = sqlite3_malloc(orig->szOsFile)) == NULL)
		return SQLITE_NOMEM;
	memset(w->real, 0, (size_t)orig->szOsFile);
	rc = orig->xOpen(orig, name, w->real, flags, outflags);
	if (rc != SQLITE_OK) {
		sqlite3_free(w->real);
		f->pMethods = NULL;
		return rc;
	}
	pthread_mutex_lock(&mu);
	if (methods.xClose == NULL) {
		methods = *w->real->pMethods;
		methods.xClose = w_close;
		methods.xRead = w_read;
		methods.xWrite = w_write;
		methods.xTruncate = w_truncate;
		methods.xSync = w_sync;
		methods.xFileSize = w_size;
		methods.xLock = w_lock;
		methods.xUnlock = w_unlock;
		methods.xCheckReservedLock = w_reserved;
		methods.xFileControl = w_control;
		methods.xSectorSize = w_sector;
		methods.xDeviceCharacteristics = w_device;
		methods.xShmMap = w_shm_map;
		methods.xShmLock = w_shm_lock;
		methods.xShmBarrier = w_shm_barrier;
		methods.xShmUnmap = w_shm_unmap;
		methods.xFetch = w_fetch;
		methods.xUnfetch = w_unfetch;
	}
	pthread_mutex_unlock(&mu);
	w->wal = len > 4 && strcmp(name + len - 4, "-wal") == 0;
	w->furthest = 0;
	f->pMethods = &methods;
	return SQLITE_OK;
}

__attribute__((constructor)) static void
walpages_init(void)
{
	if (sqlite3_initialize() != SQLITE_OK ||
	    (orig = sqlite3_vfs_find(NULL)) == NULL)
		return;
	shim = *orig;
	shim.zName = "walpages";
	shim.szOsFile = (int)sizeof(struct wfile);
	shim.xOpen = w_open;
	arm_path = getenv("WALPAGES_ARM");
	out_path = getenv("WALPAGES_OUT");
	sqlite3_vfs_register(&shim, 1);
}
