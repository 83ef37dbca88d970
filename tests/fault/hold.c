/*
 * hold — an LD_PRELOAD shim for the tests of work dunnd does in threads
 * of its own (report kpi): a thread created while the file named by
 * $DUNND_HOLD_FLAG exists creates $DUNND_HOLD_FLAG.held and waits,
 * before it runs, until the flag file is gone (60 s at most), so that a
 * test can hold such work for as long as it needs.  Threads created
 * while the flag is absent run as usual.  Test-only: never linked into
 * dunnd.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

typedef int (*create_fn)(
    pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);

struct held {
	void *(*start)(void *);
	void *arg;
	char flag[4096];
};

static void *
held_start(void *p)
{
	struct held h = *(struct held *)p;
	const struct timespec tick = { 0, 10 * 1000000L };
	char marker[4200];
	int i, fd;

	free(p);
	snprintf(marker, sizeof(marker), "%s.held", h.flag);
	if ((fd = open(marker, O_WRONLY | O_CREAT, 0644)) != -1)
		close(fd);
	for (i = 0; i < 6000 && access(h.flag, F_OK) == 0; i++)
		nanosleep(&tick, NULL);
	return h.start(h.arg);
}

int
pthread_create(
    pthread_t *t, const pthread_attr_t *attr, void *(*start)(void *), void *arg)
{
	static create_fn real;
	const char *flag = getenv("DUNND_HOLD_FLAG");
	struct held *h;

	if (real == NULL)
		real = (create_fn)dlsym(RTLD_NEXT, "pthread_create");
	if (flag == NULL || access(flag, F_OK) != 0 ||
	    (h = malloc(sizeof(*h))) == NULL)
		return real(t, attr, start, arg);
	h->start = start;
	h->arg = arg;
	snprintf(h->flag, sizeof(h->flag), "%s", flag);
	return real(t, attr, held_start, h);
}
