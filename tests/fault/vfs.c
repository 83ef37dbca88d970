/*
 * vfs.c — a test-only SQLite VFS shim: power loss and I/O faults.
 *
 * Built into BUILD/tests/libfaultvfs.so and loaded with LD_PRELOAD
 * (never linked into dunnd).  Its constructor wraps the default VFS
 * ("unix") and registers the wrapper as the new default, so every
 * connection dunnd opens goes through it.  Everything is driven by the
 * environment:
 *
 * Power loss (targets.md R1).  For each file (the database, its WAL;
 * the -shm is memory and is rebuilt after a crash) the shim keeps every
 * write and truncation made since the file's last sync, with the bytes
 * it replaced.  At a power cut it puts back, newest first, what the
 * disk would not have kept, then kills the process (SIGKILL): writes
 * reach the disk in order, so a random prefix of each file's unsynced
 * writes survives; the next one is dropped or torn (a random prefix of
 * it, then garbage to its end); the rest are lost.
 *   DUNND_PL_SYNC=N     cut at the N-th sync (before it takes effect),
 *                       counted from when DUNND_PL_ARM's file exists
 *   DUNND_PL_ARM=PATH   (default: counted from the start)
 *   DUNND_PL_FLAG=PATH  cut at the first write or sync once PATH exists
 *   DUNND_PL_SEED=S     the random choices (default 1)
 *   DUNND_PL_MODE=drop  lose every unsynced write (default: as above)
 *   DUNND_PL_LOG=PATH   append one line saying what the cut did
 *
 * Faults (targets.md R8).  The N-th write or sync (counted over the
 * process's life, all files) fails with an I/O error, or the N-th
 * memory allocation SQLite makes (its allocator is wrapped through
 * sqlite3_config(SQLITE_CONFIG_MALLOC) before SQLite initialises) fails
 * with NULL; with
 * DUNND_FAULT_HOLD=PATH every later one fails too while PATH exists
 * (persistent), otherwise only the N-th (transient).
 *   DUNND_FAULT_OP=write|sync|any|malloc
 *   DUNND_FAULT_N=N
 *   DUNND_FAULT_COUNT=PATH  the counts (writes, syncs) written here at
 *                           each sync, so a driver knows the range of N
 *   DUNND_FAULT_FIRED=PATH  made when the N-th op fails
 *
 * Not thread-safe by itself: one mutex serialises the shim's state (the
 * checkpointer thread writes too).
 */
#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

/* One write or truncation since the last sync: what it replaced. */
struct change {
	sqlite3_int64 off;  /* where it began */
	int len;            /* bytes written (0: a truncation) */
	sqlite3_int64 size; /* the file's size before it */
	unsigned char *old; /* the bytes it replaced (min(len, size - off)) */
	int nold;
	unsigned char *data; /* what it wrote (len bytes) */
};

/* A file on the disk: its unsynced changes, whichever handle made them. */
struct dfile {
	char *path;
	int fd; /* our own descriptor, to undo with */
	ino_t ino;
	struct change *ch;
	int nch, cap;
	struct dfile *next;
};

struct pfile {
	sqlite3_file base; /* must be first */
	sqlite3_file *real;
	struct dfile *d; /* NULL: not tracked (the -shm, temp files) */
};

static sqlite3_vfs *orig;
static sqlite3_vfs shim;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct dfile *files;
static long pl_sync = -1, nwrites, nsyncs, fault_n = -1;
static long nallocs; /* under mu_alloc */
static pthread_mutex_t mu_alloc = PTHREAD_MUTEX_INITIALIZER;
static sqlite3_mem_methods mem;
static int fault_malloc, alloc_ready; /* counted once init is done */
static long pl_base = -1;             /* syncs before the arming */
static const char *pl_arm, *pl_flag, *pl_log, *fault_hold, *fault_count,
    *fault_fired;
static int pl_drop, fault_write, fault_sync;
static uint64_t rng = 1;
static int faulting;

static uint64_t
rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void
clear(struct dfile *f)
{
	int i;

	for (i = 0; i < f->nch; i++) {
		free(f->ch[i].old);
		free(f->ch[i].data);
	}
	f->nch = 0;
}

static void
undo(struct dfile *f, struct change *c)
{
	if (c->nold > 0 &&
	    pwrite(f->fd, c->old, (size_t)c->nold, c->off) != c->nold)
		abort();
	if (ftruncate(f->fd, c->size) == -1)
		abort();
}

/* The power cut: called with mu held; never returns. */
static void
cut(const char *why)
{
	struct dfile *f;
	struct change *c;
	FILE *log = pl_log ? fopen(pl_log, "a") : NULL;
	int keep, i, torn;

	if (log != NULL)
		fprintf(log,
		    "power cut at %s (write %ld, sync %ld, %ld armed)\n", why,
		    nwrites, nsyncs, pl_base >= 0 ? nsyncs - pl_base : 0);
	for (f = files; f != NULL; f = f->next) {
		if (f->nch == 0)
			continue;
		keep = pl_drop ? 0 : (int)(rnd() % (uint64_t)(f->nch + 1));
		for (i = f->nch - 1; i >= keep; i--)
			undo(f, &f->ch[i]);
		torn = 0;
		if (keep < f->nch && !pl_drop && rnd() % 2 == 0 &&
		    f->ch[keep].len > 0) {
			/* The next write is torn: a prefix, then garbage. */
			c = &f->ch[keep];
			torn = (int)(rnd() % (uint64_t)c->len);
			for (i = torn; i < c->len; i++)
				c->data[i] = (unsigned char)rnd();
			if (pwrite(f->fd, c->data, (size_t)c->len, c->off) !=
			    c->len)
				abort();
		}
		if (log != NULL)
			fprintf(log,
			    "  %s: %d unsynced, %d kept, next %s (%d bytes)\n",
			    f->path, f->nch, keep,
			    keep == f->nch ? "-"
			        : torn > 0 ? "torn"
			                   : "dropped",
			    torn);
		fsync(f->fd);
	}
	if (log != NULL)
		fclose(log);
	kill(getpid(), SIGKILL);
	for (;;)
		pause();
}

static int
exists(const char *p)
{
	struct stat st;

	return p != NULL && stat(p, &st) == 0;
}

static void
write_counts(void)
{
	char tmp[4096];
	FILE *f;

	/* Written aside, then renamed: a reader never sees half of it. */
	if (fault_count == NULL ||
	    snprintf(tmp, sizeof(tmp), "%s.tmp", fault_count) >=
	        (int)sizeof(tmp) ||
	    (f = fopen(tmp, "w")) == NULL)
		return;
	fprintf(f, "%ld %ld %ld\n", nwrites, nsyncs, nallocs);
	if (fclose(f) == 0)
		rename(tmp, fault_count);
}

/* 1 when this op (the n-th of its kind) must fail. */
static int
fails(int kind_on, long n)
{
	if (!kind_on || fault_n < 0)
		return 0;
	if (n == fault_n) {
		faulting = fault_hold != NULL;
		if (fault_fired != NULL)
			close(open(
			    fault_fired, O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
		return 1;
	}
	if (faulting && n > fault_n) {
		if (exists(fault_hold))
			return 1;
		faulting = 0;
	}
	return 0;
}

/* 1 when this allocation must fail. */
static int
alloc_fails(void)
{
	int rc;

	if (!alloc_ready)
		return 0;
	pthread_mutex_lock(&mu_alloc);
	nallocs++;
	rc = fails(fault_malloc, nallocs);
	pthread_mutex_unlock(&mu_alloc);
	return rc;
}

static void *
m_malloc(int n)
{
	return alloc_fails() ? NULL : mem.xMalloc(n);
}

static void *
m_realloc(void *p, int n)
{
	return alloc_fails() ? NULL : mem.xRealloc(p, n);
}

static int
x_close(sqlite3_file *pf)
{
	struct pfile *f = (struct pfile *)pf;
	int rc =
	    f->real->pMethods ? f->real->pMethods->xClose(f->real) : SQLITE_OK;

	/* What was not synced stays unsynced: it is the disk's (dfile). */
	free(f->real);
	return rc;
}

static int
x_read(sqlite3_file *pf, void *p, int n, sqlite3_int64 off)
{
	struct pfile *f = (struct pfile *)pf;

	return f->real->pMethods->xRead(f->real, p, n, off);
}

static void
record(struct dfile *f, sqlite3_int64 off, const void *p, int n)
{
	struct change *c;
	struct stat st;
	ssize_t got;

	if (f == NULL || fstat(f->fd, &st) == -1)
		return;
	if (f->nch == f->cap) {
		f->cap = f->cap ? 2 * f->cap : 64;
		f->ch = realloc(f->ch, (size_t)f->cap * sizeof(*f->ch));
		if (f->ch == NULL)
			abort();
	}
	c = &f->ch[f->nch++];
	memset(c, 0, sizeof(*c));
	c->off = off;
	c->len = n;
	c->size = st.st_size;
	if (off < st.st_size) {
		c->nold = (int)(st.st_size - off < (sqlite3_int64)n
		        ? st.st_size - off
		        : (sqlite3_int64)n);
		if (n == 0) /* a truncation: keep the tail it cuts */
			c->nold = (int)(st.st_size - off);
		c->old = malloc((size_t)c->nold);
		got = pread(f->fd, c->old, (size_t)c->nold, off);
		if (c->old == NULL || got != c->nold)
			abort();
	}
	if (n > 0) {
		c->data = malloc((size_t)n);
		if (c->data == NULL)
			abort();
		memcpy(c->data, p, (size_t)n);
	}
}

static int
x_write(sqlite3_file *pf, const void *p, int n, sqlite3_int64 off)
{
	struct pfile *f = (struct pfile *)pf;
	int rc;

	pthread_mutex_lock(&mu);
	nwrites++;
	if (exists(pl_flag))
		cut("flag");
	if (fails(fault_write, nwrites)) {
		pthread_mutex_unlock(&mu);
		return SQLITE_IOERR_WRITE;
	}
	record(f->d, off, p, n);
	rc = f->real->pMethods->xWrite(f->real, p, n, off);
	pthread_mutex_unlock(&mu);
	return rc;
}

static int
x_truncate(sqlite3_file *pf, sqlite3_int64 size)
{
	struct pfile *f = (struct pfile *)pf;
	int rc;

	pthread_mutex_lock(&mu);
	record(f->d, size, NULL, 0);
	rc = f->real->pMethods->xTruncate(f->real, size);
	pthread_mutex_unlock(&mu);
	return rc;
}

static int
x_sync(sqlite3_file *pf, int flags)
{
	struct pfile *f = (struct pfile *)pf;
	int rc;

	pthread_mutex_lock(&mu);
	nsyncs++;
	write_counts();
	if (pl_sync > 0 && pl_base < 0 && (pl_arm == NULL || exists(pl_arm)))
		pl_base = nsyncs - 1;
	if (pl_base >= 0 && nsyncs - pl_base == pl_sync)
		cut("sync");
	if (exists(pl_flag))
		cut("flag");
	if (fails(fault_sync, nsyncs)) {
		pthread_mutex_unlock(&mu);
		return SQLITE_IOERR_FSYNC;
	}
	rc = f->real->pMethods->xSync(f->real, flags);
	if (rc == SQLITE_OK && f->d != NULL)
		clear(f->d);
	pthread_mutex_unlock(&mu);
	return rc;
}

#define PASS(name, sig, args)                                                  \
	static int name sig                                                    \
	{                                                                      \
		struct pfile *f = (struct pfile *)pf;                          \
		return f->real->pMethods->args;                                \
	}

PASS(x_size, (sqlite3_file * pf, sqlite3_int64 *s), xFileSize(f->real, s))
PASS(x_lock, (sqlite3_file * pf, int l), xLock(f->real, l))
PASS(x_unlock, (sqlite3_file * pf, int l), xUnlock(f->real, l))
PASS(x_reserved, (sqlite3_file * pf, int *r), xCheckReservedLock(f->real, r))
PASS(
    x_fcntl, (sqlite3_file * pf, int op, void *a), xFileControl(f->real, op, a))
PASS(x_sector, (sqlite3_file * pf), xSectorSize(f->real))
PASS(x_devchar, (sqlite3_file * pf), xDeviceCharacteristics(f->real))
PASS(x_shmmap, (sqlite3_file * pf, int i, int sz, int ext, void volatile **pp),
    xShmMap(f->real, i, sz, ext, pp))
PASS(x_shmlock, (sqlite3_file * pf, int o, int n, int fl),
    xShmLock(f->real, o, n, fl))
PASS(x_shmunmap, (sqlite3_file * pf, int del), xShmUnmap(f->real, del))

static void
x_shmbarrier(sqlite3_file *pf)
{
	struct pfile *f = (struct pfile *)pf;

	f->real->pMethods->xShmBarrier(f->real);
}

/* Memory-mapped I/O would bypass xWrite's records: refuse it. */
static int
x_fetch(sqlite3_file *pf, sqlite3_int64 off, int n, void **pp)
{
	(void)pf;
	(void)off;
	(void)n;
	*pp = NULL;
	return SQLITE_OK;
}

static int
x_unfetch(sqlite3_file *pf, sqlite3_int64 off, void *p)
{
	(void)pf;
	(void)off;
	(void)p;
	return SQLITE_OK;
}

static const sqlite3_io_methods methods = {
	3,
	x_close,
	x_read,
	x_write,
	x_truncate,
	x_sync,
	x_size,
	x_lock,
	x_unlock,
	x_reserved,
	x_fcntl,
	x_sector,
	x_devchar,
	x_shmmap,
	x_shmlock,
	x_shmbarrier,
	x_shmunmap,
	x_fetch,
	x_unfetch,
};

/* The dfile of path (made on first use); called with mu held. */
static struct dfile *
dfile_of(const char *path)
{
	struct dfile *d;
	struct stat st;

	if (stat(path, &st) == -1)
		return NULL;
	for (d = files; d != NULL; d = d->next)
		if (strcmp(d->path, path) == 0)
			break;
	if (d != NULL && d->ino != st.st_ino) {
		/* deleted and made again: a new file */
		clear(d);
		close(d->fd);
		d->fd = -1;
	}
	if (d == NULL) {
		if ((d = calloc(1, sizeof(*d))) == NULL ||
		    (d->path = strdup(path)) == NULL)
			abort();
		d->fd = -1;
		d->next = files;
		files = d;
	}
	if (d->fd == -1) {
		if ((d->fd = open(path, O_RDWR | O_CLOEXEC)) == -1)
			abort();
		d->ino = st.st_ino;
	}
	return d;
}

static int
x_open(
    sqlite3_vfs *vfs, const char *name, sqlite3_file *pf, int flags, int *out)
{
	struct pfile *f = (struct pfile *)pf;
	int rc;

	(void)vfs;
	memset(f, 0, sizeof(*f));
	f->real = calloc(1, (size_t)orig->szOsFile);
	if (f->real == NULL)
		return SQLITE_NOMEM;
	rc = orig->xOpen(orig, name, f->real, flags, out);
	if (rc != SQLITE_OK) {
		free(f->real);
		f->real = NULL;
		return rc;
	}
	f->base.pMethods = &methods;
	if (name != NULL && (flags & (SQLITE_OPEN_MAIN_DB | SQLITE_OPEN_WAL))) {
		pthread_mutex_lock(&mu);
		f->d = dfile_of(name);
		pthread_mutex_unlock(&mu);
	}
	return SQLITE_OK;
}

static long
env_long(const char *name, long dflt)
{
	const char *v = getenv(name);

	return v != NULL && *v != '\0' ? strtol(v, NULL, 10) : dflt;
}

__attribute__((constructor)) static void
init(void)
{
	const char *op = getenv("DUNND_FAULT_OP");

	pl_sync = env_long("DUNND_PL_SYNC", -1);
	pl_flag = getenv("DUNND_PL_FLAG");
	pl_arm = getenv("DUNND_PL_ARM");
	pl_log = getenv("DUNND_PL_LOG");
	pl_drop = getenv("DUNND_PL_MODE") != NULL &&
	    strcmp(getenv("DUNND_PL_MODE"), "drop") == 0;
	rng = (uint64_t)env_long("DUNND_PL_SEED", 1) * 2654435761u + 1;
	fault_n = env_long("DUNND_FAULT_N", -1);
	fault_hold = getenv("DUNND_FAULT_HOLD");
	fault_count = getenv("DUNND_FAULT_COUNT");
	fault_fired = getenv("DUNND_FAULT_FIRED");
	if (op != NULL) {
		fault_write =
		    strcmp(op, "write") == 0 || strcmp(op, "any") == 0;
		fault_sync = strcmp(op, "sync") == 0 || strcmp(op, "any") == 0;
		fault_malloc = strcmp(op, "malloc") == 0;
	}
	/* Before anything initialises SQLite (sqlite3_vfs_find does). */
	if (fault_malloc || fault_count != NULL) {
		struct sqlite3_mem_methods w;

		if (sqlite3_config(SQLITE_CONFIG_GETMALLOC, &mem) != SQLITE_OK)
			abort();
		w = mem;
		w.xMalloc = m_malloc;
		w.xRealloc = m_realloc;
		if (sqlite3_config(SQLITE_CONFIG_MALLOC, &w) != SQLITE_OK)
			abort();
	}
	orig = sqlite3_vfs_find(NULL);
	if (orig == NULL)
		abort();
	shim = *orig;
	shim.zName = "dunnd-fault";
	shim.szOsFile = (int)sizeof(struct pfile);
	shim.xOpen = x_open;
	shim.pNext = NULL;
	if (sqlite3_vfs_register(&shim, 1) != SQLITE_OK)
		abort();
	alloc_ready = 1;
}
