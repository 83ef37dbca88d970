/*
 * pushhttp — one POST at a time to the endpoint of a dunnd-push file,
 * driven by libcurl's multi interface on the caller's libev loop, and
 * the Dunnd-Signature of the webhook contract (libsodium's HMAC-SHA256).
 *
 * Connections are kept alive between requests.  An answer counts only
 * when received whole: a connection closed before the end of the
 * response is a connection error, even after a 2xx status line.
 */
#ifndef DUNND_PUSHHTTP_H
#define DUNND_PUSHHTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

struct ev_loop;
struct pushconf;
struct pushhttp;

/* "t=" 20 digits ",v1=" 64 hex digits and NUL, with room to spare. */
#define PUSHHTTP_SIG_LEN  112
#define PUSHHTTP_BODY_MAX (64 * 1024) /* response bytes kept (dead letters) */

struct pushhttp_result {
	bool complete;   /* the whole response was received */
	long status;     /* HTTP status; 0 when none was received */
	char error[256]; /* why it is not complete (libcurl's words) */
	struct buf body; /* the response's first PUSHHTTP_BODY_MAX bytes */
};

/* Called once per pushhttp_post() that was not aborted. */
typedef void (*pushhttp_cb)(void *arg, const struct pushhttp_result *res);

/*
 * A client for c's url on loop; res's memory belongs to h and lasts
 * until the callback returns.  NULL when libcurl cannot start.
 */
struct pushhttp *pushhttp_new(
    struct ev_loop *loop, const struct pushconf *c, pushhttp_cb cb, void *arg);
void pushhttp_free(struct pushhttp *h);

/*
 * Starts POST url with body (borrowed: it must stay unchanged until the
 * callback or pushhttp_abort()), Idempotency-Key key, Dunnd-Feed-Id
 * feed_id (NULL: no header) and, with a secret, Dunnd-Signature for
 * unix_s.  -1 if a request is in flight or libcurl refuses.
 */
int pushhttp_post(struct pushhttp *h, const char *key, const char *feed_id,
    const char *body, size_t len, int64_t unix_s);
/* Abandons the request in flight, if any: no callback follows. */
void pushhttp_abort(struct pushhttp *h);
bool pushhttp_busy(const struct pushhttp *h);

/*
 * "t=UNIX,v1=HEX": HEX the lower-case HMAC-SHA256 of UNIX "." body
 * under key.
 */
void pushhttp_sign(const uint8_t *key, size_t keylen, int64_t unix_s,
    const char *body, size_t len, char out[PUSHHTTP_SIG_LEN] /* OUT */);

#endif
