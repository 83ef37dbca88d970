/*
 * enospc — an LD_PRELOAD shim for the disk-full tests (targets.md R8):
 * while the file named by $DUNND_FAULT_FLAG exists, every write to a file
 * whose path contains "dunnd.db" (the database, its WAL) fails with
 * ENOSPC, as on a full filesystem.  Other writes (the socket, the log)
 * go through.  Test-only: never linked into dunnd.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

static int
full(int fd)
{
	const char *flag = getenv("DUNND_FAULT_FLAG");
	char link[64], path[4096];
	ssize_t n;

	if (flag == NULL || access(flag, F_OK) != 0)
		return 0;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, path, sizeof(path) - 1);
	if (n <= 0)
		return 0;
	path[n] = '\0';
	return strstr(path, "dunnd.db") != NULL;
}

typedef ssize_t (*write_fn)(int, const void *, size_t);
typedef ssize_t (*pwrite_fn)(int, const void *, size_t, off_t);

#define REAL(name, type)                                                       \
	static type real_##name;                                               \
	if (real_##name == NULL)                                               \
	real_##name = (type)dlsym(RTLD_NEXT, #name)

/* True (errno ENOSPC) when the write to fd is to fail. */
static int
refuse(int fd)
{
	if (!full(fd))
		return 0;
	errno = ENOSPC;
	return 1;
}

ssize_t
write(int fd, const void *buf, size_t n)
{
	REAL(write, write_fn);
	return refuse(fd) ? -1 : real_write(fd, buf, n);
}

ssize_t
pwrite(int fd, const void *buf, size_t n, off_t off)
{
	REAL(pwrite, pwrite_fn);
	return refuse(fd) ? -1 : real_pwrite(fd, buf, n, off);
}

ssize_t
pwrite64(int fd, const void *buf, size_t n, off_t off)
{
	REAL(pwrite64, pwrite_fn);
	return refuse(fd) ? -1 : real_pwrite64(fd, buf, n, off);
}
