/*
 * pushconf — the configuration file of dunnd-push (one endpoint): every
 * key of the webhook contract, its default, relative paths, the secret.
 *
 * Errors are collected as "FILE:LINE: msg" in a struct diags (a missing
 * required setting on line 1); pushconf_load() then returns NULL and
 * nothing has been sent anywhere.  The secret is read at load time and
 * never appears in a diag or a log line.
 */
#ifndef DUNND_PUSHCONF_H
#define DUNND_PUSHCONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define PUSHCONF_SOCKET_DEFAULT "/run/dunnd/dunnd.sock"
#define PUSHCONF_BATCH_MAX      10000 /* records per request, the upper bound */
#define PUSHCONF_SECRET_MAX     4096  /* bytes of an HMAC key we accept */

/* The record kinds of the feed (§5), as bits of pushconf.kinds. */
enum push_kind {
	PUSH_KIND_TASK = 1 << 0,
	PUSH_KIND_CANCEL = 1 << 1,
	PUSH_KIND_TRANSITION = 1 << 2,
	PUSH_KIND_DONE = 1 << 3,
};
#define PUSH_KIND_ALL 0xf

struct pushconf {
	char *path;        /* the file read */
	char *url;         /* http:// or https:// */
	char *socket;      /* dunnd's control socket, resolved */
	char *consumer;    /* an id */
	char *secret_file; /* where the secret came from; NULL: none */
	uint8_t *secret;   /* NULL: requests are not signed */
	size_t secret_len;
	unsigned kinds; /* PUSH_KIND_* bits delivered */
	char **types;   /* NULL-terminated; NULL: every task type */
	size_t ntypes;
	int batch_max; /* 1-10000 */
	int64_t linger_ms, timeout_ms, retry_max_ms;
	int give_up_after; /* 0: never */
	char *dead_letter; /* resolved; required when give_up_after > 0 */
	char **headers;    /* NULL-terminated "Name: value" lines */
	size_t nheaders;
	char *ca_file; /* NULL: the system's */
};

/*
 * Reads path and the secret (secret_file, else $CREDENTIALS_DIRECTORY/
 * secret when that file exists, else none).  Returns a new pushconf, or
 * NULL with every error of the file in ds.  Free with pushconf_free().
 */
struct pushconf *pushconf_load(const char *path, struct diags *ds);
/* Frees c (the secret is wiped first); NULL is a no-op. */
void pushconf_free(struct pushconf *c);

/* Is the task type delivered under c's `types`? */
bool pushconf_type_wanted(const struct pushconf *c, const char *type);
/* The PUSH_KIND_* bit of a feed kind name; 0 when unknown. */
unsigned pushconf_kind_bit(const char *name);

/*
 * A duration of the push file: 1-6 digits and a unit s, m, h, d or w,
 * in milliseconds.  -1 with a static reason in *why.
 */
int pushconf_parse_duration(
    const char *s, int64_t *ms /* OUT */, const char **why /* OUT */);

#endif
