/*
 * pushhttp — libcurl's multi interface on a libev loop (curl's
 * "hiperfifo" pattern): curl tells us which sockets to watch and when
 * its timer is due; we tell it what happened.  One easy handle, reused,
 * so the connection to the endpoint stays open between batches.
 *
 * Called by push.c only.  The request's body is borrowed; the secret is
 * used for the signature and never logged.
 */
#include "pushhttp.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <ev.h>
#include <sodium.h>

#include "log.h"
#include "pushconf.h"

struct pushhttp {
	struct ev_loop *ev;
	const struct pushconf *conf;
	pushhttp_cb cb;
	void *arg;
	CURLM *multi;
	CURL *easy;
	struct curl_slist *headers;
	ev_timer timer;
	bool busy;
	char errbuf[CURL_ERROR_SIZE];
	struct pushhttp_result res;
};

/* One watched socket, attached to curl's socket with curl_multi_assign. */
struct sockw {
	struct pushhttp *h;
	ev_io io;
};

void
pushhttp_sign(const uint8_t *key, size_t keylen, int64_t unix_s,
    const char *body, size_t len, char out[PUSHHTTP_SIG_LEN])
{
	crypto_auth_hmacsha256_state st;
	unsigned char mac[crypto_auth_hmacsha256_BYTES];
	char ts[24], hex[2 * crypto_auth_hmacsha256_BYTES + 1];

	snprintf(ts, sizeof(ts), "%" PRId64, unix_s);
	crypto_auth_hmacsha256_init(&st, key, keylen);
	crypto_auth_hmacsha256_update(
	    &st, (const unsigned char *)ts, strlen(ts));
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)".", 1);
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)body, len);
	crypto_auth_hmacsha256_final(&st, mac);
	sodium_bin2hex(hex, sizeof(hex), mac, sizeof(mac));
	snprintf(out, PUSHHTTP_SIG_LEN, "t=%s,v1=%s", ts, hex);
	sodium_memzero(&st, sizeof(st));
}

static void
finish(struct pushhttp *h)
{
	CURLMsg *m;
	int left;
	CURLcode rc;
	long status = 0;

	while ((m = curl_multi_info_read(h->multi, &left)) != NULL) {
		if (m->msg != CURLMSG_DONE || !h->busy)
			continue;
		rc = m->data.result;
		curl_easy_getinfo(h->easy, CURLINFO_RESPONSE_CODE, &status);
		h->res.status = status;
		h->res.complete = rc == CURLE_OK;
		if (rc != CURLE_OK)
			snprintf(h->res.error, sizeof(h->res.error), "%s",
			    h->errbuf[0] != '\0' ? h->errbuf
			                         : curl_easy_strerror(rc));
		curl_multi_remove_handle(h->multi, h->easy);
		curl_slist_free_all(h->headers);
		h->headers = NULL;
		h->busy = false;
		h->cb(h->arg, &h->res);
		return; /* h may be in another request now */
	}
}

static void
io_cb(struct ev_loop *ev, ev_io *w, int revents)
{
	struct sockw *sw = w->data;
	struct pushhttp *h = sw->h;
	int action = 0, running;

	(void)ev;
	if (revents & EV_READ)
		action |= CURL_CSELECT_IN;
	if (revents & EV_WRITE)
		action |= CURL_CSELECT_OUT;
	curl_multi_socket_action(h->multi, w->fd, action, &running);
	finish(h);
}

static void
timer_cb(struct ev_loop *ev, ev_timer *w, int revents)
{
	struct pushhttp *h = w->data;
	int running;

	(void)ev;
	(void)revents;
	curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	finish(h);
}

/* CURLMOPT_SOCKETFUNCTION: watch s for what curl wants. */
static int
sock_cb(CURL *e, curl_socket_t s, int what, void *userp, void *socketp)
{
	struct pushhttp *h = userp;
	struct sockw *sw = socketp;
	int events = 0;

	(void)e;
	if (what == CURL_POLL_REMOVE) {
		if (sw != NULL) {
			ev_io_stop(h->ev, &sw->io);
			free(sw);
			curl_multi_assign(h->multi, s, NULL);
		}
		return 0;
	}
	if (what & CURL_POLL_IN)
		events |= EV_READ;
	if (what & CURL_POLL_OUT)
		events |= EV_WRITE;
	if (sw == NULL) {
		sw = xcalloc(1, sizeof(*sw));
		sw->h = h;
		ev_io_init(&sw->io, io_cb, s, events);
		sw->io.data = sw;
		curl_multi_assign(h->multi, s, sw);
	} else {
		ev_io_stop(h->ev, &sw->io);
		ev_io_set(&sw->io, s, events);
	}
	ev_io_start(h->ev, &sw->io);
	return 0;
}

/* CURLMOPT_TIMERFUNCTION: curl's one timeout. */
static int
multi_timer_cb(CURLM *m, long timeout_ms, void *userp)
{
	struct pushhttp *h = userp;

	(void)m;
	ev_timer_stop(h->ev, &h->timer);
	if (timeout_ms >= 0) {
		ev_timer_set(&h->timer, (double)timeout_ms / 1000.0, 0.0);
		ev_timer_start(h->ev, &h->timer);
	}
	return 0;
}

static size_t
write_cb(char *data, size_t size, size_t n, void *userp)
{
	struct pushhttp *h = userp;
	size_t len = size * n, room;

	room = PUSHHTTP_BODY_MAX - buf_size(&h->res.body);
	buf_append(&h->res.body, data, len < room ? len : room);
	return len;
}

struct pushhttp *
pushhttp_new(
    struct ev_loop *loop, const struct pushconf *c, pushhttp_cb cb, void *arg)
{
	struct pushhttp *h = xcalloc(1, sizeof(*h));

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		log_warnx("push: libcurl cannot start");
		free(h);
		return NULL;
	}
	h->ev = loop;
	h->conf = c;
	h->cb = cb;
	h->arg = arg;
	buf_init(&h->res.body);
	ev_timer_init(&h->timer, timer_cb, 0.0, 0.0);
	h->timer.data = h;
	if ((h->multi = curl_multi_init()) == NULL ||
	    (h->easy = curl_easy_init()) == NULL) {
		log_warnx("push: libcurl cannot start");
		pushhttp_free(h);
		return NULL;
	}
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, multi_timer_cb);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
	return h;
}

void
pushhttp_free(struct pushhttp *h)
{
	if (h == NULL)
		return;
	pushhttp_abort(h);
	if (h->easy != NULL)
		curl_easy_cleanup(h->easy);
	if (h->multi != NULL)
		curl_multi_cleanup(h->multi);
	ev_timer_stop(h->ev, &h->timer);
	buf_fini(&h->res.body);
	free(h);
	curl_global_cleanup();
}

bool
pushhttp_busy(const struct pushhttp *h)
{
	return h->busy;
}

void
pushhttp_abort(struct pushhttp *h)
{
	if (!h->busy)
		return;
	curl_multi_remove_handle(h->multi, h->easy);
	curl_slist_free_all(h->headers);
	h->headers = NULL;
	h->busy = false;
}

static struct curl_slist *
add_header(struct curl_slist *l, const char *name, const char *value)
{
	char line[512];

	snprintf(line, sizeof(line), "%s: %s", name, value);
	return curl_slist_append(l, line);
}

int
pushhttp_post(struct pushhttp *h, const char *key, const char *feed_id,
    const char *body, size_t len, int64_t unix_s)
{
	const struct pushconf *c = h->conf;
	struct curl_slist *l = NULL;
	char sig[PUSHHTTP_SIG_LEN];
	CURL *e = h->easy;
	size_t i;

	if (h->busy)
		return -1;
	l = curl_slist_append(l, "Content-Type: application/json");
	/* No 100-continue round trip: the endpoint takes every batch. */
	l = curl_slist_append(l, "Expect:");
	l = add_header(l, "Idempotency-Key", key);
	if (feed_id != NULL)
		l = add_header(l, "Dunnd-Feed-Id", feed_id);
	if (c->secret != NULL) {
		pushhttp_sign(c->secret, c->secret_len, unix_s, body, len, sig);
		l = add_header(l, "Dunnd-Signature", sig);
	}
	for (i = 0; i < c->nheaders; i++)
		l = curl_slist_append(l, c->headers[i]);
	if (l == NULL) {
		log_warnx("push: out of memory for the request's headers");
		return -1;
	}
	buf_clear(&h->res.body);
	h->res.status = 0;
	h->res.complete = false;
	h->res.error[0] = '\0';
	h->errbuf[0] = '\0';
	curl_easy_setopt(e, CURLOPT_URL, c->url);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_POST, 1L);
	curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, l);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)c->timeout_ms);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)c->timeout_ms);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "dunnd-push/" DUNND_VERSION);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, h);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, h->errbuf);
	if (c->ca_file != NULL)
		curl_easy_setopt(e, CURLOPT_CAINFO, c->ca_file);
	if (curl_multi_add_handle(h->multi, e) != CURLM_OK) {
		log_warnx("push: libcurl refused the request");
		curl_slist_free_all(l);
		return -1;
	}
	h->headers = l;
	h->busy = true;
	return 0;
}
