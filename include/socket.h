/*
 * socket — the control socket: listening, accept, peer credentials
 * against the admins/readers lists, per-connection buffers, line
 * framing and back-pressure (§8).
 *
 * Requests on a connection are answered in order: while a reply is
 * pending (not fully written, or its handler not finished) no further
 * request is read from that client, so a client that stops reading
 * costs a bounded buffer and blocks nobody else.
 */
#ifndef DUNND_SOCKET_H
#define DUNND_SOCKET_H

#include <sys/types.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct conf;
struct conn;
struct listener;
struct server;
struct ev_loop;

/* Users and groups allowed in (§6 admins / readers), resolved to ids. */
struct acl {
	uid_t *admin_uids, *reader_uids;
	gid_t *admin_gids, *reader_gids;
	size_t nadmin_uids, nreader_uids, nadmin_gids, nreader_gids;
	/* §6 consumers: read-only commands and ack. */
	uid_t *consumer_uids;
	gid_t *consumer_gids;
	size_t nconsumer_uids, nconsumer_gids;
};

/*
 * Resolves the names of conf's admins and readers (unknown names are
 * logged and skipped).  acl_fini() frees.
 */
void acl_init(struct acl *acl, const struct conf *conf);
void acl_fini(struct acl *acl);

/*
 * Binds path (a stale socket file is replaced) with mode 0660 and the
 * given group (NULL: ours), and serves it on loop.  Requests go to
 * server_request(), request bodies to server_body().
 */
struct listener *sock_listen(struct server *srv, struct ev_loop *loop,
    const char *path, const char *group, int max_clients, char *err,
    size_t errlen);
/*
 * Stops listening and ends every connection: clients in the middle of
 * a request or a streamed reply get {"ok":false,"error":msg}.
 */
void sock_close(struct listener *l, const char *msg);
/* Replaces the access lists (reload). Takes ownership of acl's arrays. */
void sock_set_acl(struct listener *l, struct acl *acl);
size_t sock_nclients(struct listener *l);

/* The peer of c. */
uid_t conn_uid(const struct conn *c);
/* The connection's place in accept order (1, 2, ...). */
uint64_t conn_serial(const struct conn *c);
bool conn_is_admin(const struct conn *c);
/* The peer is in consumers (§6); admins are not counted. */
bool conn_is_consumer(const struct conn *c);

/*
 * Queues one data record already encoded as one line of JSON (text,
 * len bytes, no line end), followed by tail when not NULL.
 */
void conn_send_text(
    struct conn *c, const char *text, size_t len, const char *tail);
/* Queues one data record (takes the reference). */
void conn_send(struct conn *c, json_t *rec);
/* Queues the final record {"ok":true, ...fields} (takes the reference). */
void conn_reply_ok(struct conn *c, json_t *fields);
/* Queues rec, which has its own "ok", as the final record. */
void conn_reply_final(struct conn *c, json_t *rec);
/* Queues the final record {"ok":false,"error":...}. */
void conn_reply_error(struct conn *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/*
 * Makes more() produce the rest of the reply as the client reads it:
 * it is called whenever the output buffer runs low, and returns 1 once
 * it has queued the final record, 0 to be called again, CONN_MORE_WAIT
 * to be called again after conn_wake() (a stream with nothing new).  free_arg(arg)
 * runs when the reply ends or the client goes away.
 */
#define CONN_MORE_WAIT 2 /* more(): nothing now; call again after wake */
void conn_set_more(struct conn *c, int (*more)(struct conn *, void *),
    void *arg, void (*free_arg)(void *));
/*
 * A stream whose more() returned CONN_MORE_WAIT goes on: more() is
 * called again as the client reads.  No-op for other connections.
 */
void conn_wake(struct conn *c);
/*
 * The n bytes that follow c's current request line are its body:
 * server_body() gets them once all have arrived; with discard they are
 * read and thrown away (a refused request, §8).  flags go back to
 * server_body() with the body.
 */
void conn_read_body(struct conn *c, int64_t n, bool discard, int flags);
/* Closes c once its reply is written. */
void conn_close_after_reply(struct conn *c);
/* Bytes queued and not yet written. */
size_t conn_pending(const struct conn *c);

#endif
