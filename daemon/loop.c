/*
 * loop — owns the ev_loop and the process's lifecycle.
 *
 * Start: the socket is bound only once the state is loaded and every
 * missed moment processed, then READY=1 (§6).  Stop (SIGTERM, SIGINT):
 * STOPPING=1, the batch being processed finishes and commits, clients
 * mid-request get "shutting down", the store closes cleanly.
 * The watchdog, when systemd asks for one, is petted at half its period
 * from an ev_timer: a loop that stops turning stops petting.
 */
#include "loop.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <ev.h>
#include <systemd/sd-daemon.h>

#include "clock.h"
#include "conf.h"
#include "engine.h"
#include "log.h"
#include "server.h"
#include "store.h"
#include "socket.h"

struct loop {
	struct server *srv;
	struct ev_loop *ev;
	ev_signal sigterm, sigint, sighup;
	ev_timer watchdog;
	ev_prepare prepare;
	ev_timer background; /* while other threads work (backups) */
	ev_async wake;       /* another thread's work ended (report kpi) */
	ev_periodic due;     /* the next due moment (wall clock only) */
	double retry_at;     /* after a failed step: not before this */
	uint64_t wd_usec;    /* the watchdog interval, 0 none */
	int64_t wd_last_ms;  /* the last WATCHDOG=1 (monotonic ms) */
};

void
loop_notify(const char *state)
{
	sd_notify(0, state);
}

static void
stop_cb(struct ev_loop *ev, ev_signal *w, int revents)
{
	struct loop *lp = w->data;

	(void)revents;
	log_info("dunnd: %s received, stopping",
	    w->signum == SIGTERM ? "SIGTERM" : "SIGINT");
	lp->srv->stopping = true;
	sd_notify(0, "STOPPING=1");
	ev_break(ev, EVBREAK_ALL);
}

static void
hup_cb(struct ev_loop *ev, ev_signal *w, int revents)
{
	struct loop *lp = w->data;

	(void)ev;
	(void)revents;
	server_reload(lp->srv, NULL);
}

static void
watchdog_cb(struct ev_loop *ev, ev_timer *w, int revents)
{
	struct loop *lp = w->data;

	(void)ev;
	(void)revents;
	lp->wd_last_ms = clock_mono_ms();
	sd_notify(0, "WATCHDOG=1");
}

/*
 * Whether SIGTERM or SIGINT waits: they are blocked (the loop reads them
 * from a signalfd, the start holds them), so they stay pending.
 */
static bool
stop_pending(void)
{
	sigset_t set;

	return sigpending(&set) == 0 &&
	    (sigismember(&set, SIGTERM) == 1 || sigismember(&set, SIGINT) == 1);
}

/*
 * Between two due moments of a long run (a clock jump of months, a
 * restart after weeks): the loop does not turn meanwhile, so keep the
 * watchdog fed, and stop when SIGTERM or SIGINT is waiting.
 */
static bool
yield_cb(void *arg)
{
	struct loop *lp = arg;

	if (lp->wd_usec > 0 &&
	    clock_mono_ms() - lp->wd_last_ms >= (int64_t)(lp->wd_usec / 2000)) {
		lp->wd_last_ms = clock_mono_ms();
		sd_notify(0, "WATCHDOG=1");
	}
	return stop_pending();
}

/*
 * The one deadline (style.md §6): before the loop sleeps, arm the
 * periodic at the earliest due moment of the portfolio.  An ev_periodic
 * follows the wall clock, so a clock jump fires it at the right time.
 */
static void
prepare_cb(struct ev_loop *ev, ev_prepare *w, int revents)
{
	struct loop *lp = w->data;
	int64_t next;
	double at;

	(void)revents;
	/* The commit point: the batches that arrived in this iteration. */
	server_flush(lp->srv);
	if (server_background(lp->srv)) {
		if (!ev_is_active(&lp->background))
			ev_timer_start(ev, &lp->background);
	} else if (ev_is_active(&lp->background))
		ev_timer_stop(ev, &lp->background);
	if (clock_is_test() || lp->srv->stopping)
		return;
	next = engine_next_due(&lp->srv->engine);
	if (next == INT64_MAX) {
		ev_periodic_stop(ev, &lp->due);
		return;
	}
	at = (double)next;
	if (at < lp->retry_at)
		at = lp->retry_at;
	if (ev_is_active(&lp->due) && ev_periodic_at(&lp->due) == at)
		return;
	ev_periodic_stop(ev, &lp->due);
	ev_periodic_set(&lp->due, at, 0., NULL);
	ev_periodic_start(ev, &lp->due);
}

static void
due_cb(struct ev_loop *ev, ev_periodic *w, int revents)
{
	struct loop *lp = w->data;

	(void)revents;
	if (server_catch_up(lp->srv) == -1) {
		log_warnx(
		    "loop: a due moment failed to commit; retrying in 1 s");
		lp->retry_at = ev_now(ev) + 1.;
	} else
		lp->retry_at = 0.;
}

/* Wakes the loop while a backup runs: prepare_cb looks at it. */
static void
background_cb(struct ev_loop *ev, ev_timer *w, int revents)
{
	(void)ev;
	(void)w;
	(void)revents;
}

/* Another thread's work ended: prepare_cb replies (server_background). */
static void
wake_cb(struct ev_loop *ev, ev_async *w, int revents)
{
	(void)ev;
	(void)w;
	(void)revents;
}

/* From any thread: the loop turns, and prepare_cb looks. */
static void
loop_wake(void *arg)
{
	struct loop *lp = arg;

	ev_async_send(lp->ev, &lp->wake);
}

/*
 * Under systemd a start that catches up a long stop may outlast
 * TimeoutStartSec= before READY=1: at the first moment caught up and then
 * every EXTEND_EVERY_MS, the timeout is pushed EXTEND_USEC further.
 */
#define EXTEND_EVERY_MS 5000
#define EXTEND_USEC     30000000

/*
 * A database of an earlier schema is migrated before anything else, in
 * one blocking step (a version-10 migration of 1 M accounts rewrites
 * millions of money rows: about a minute).  systemd's start timeout
 * (90 s by default) is extended once, generously, with a STATUS saying
 * why, and the log says it first.
 */
#define MIGRATE_EXTEND_USEC 1800000000 /* 30 minutes */

void
loop_notify_migration(int version)
{
	if (version <= 0 || version >= STORE_SCHEMA_VERSION)
		return;
	log_info("store: schema version %d, this dunnd's is %d: migrating "
	         "(minutes on a large database)",
	    version, STORE_SCHEMA_VERSION);
	sd_notifyf(0,
	    "EXTEND_TIMEOUT_USEC=%d\nSTATUS=migrating the database from "
	    "schema version %d to %d",
	    MIGRATE_EXTEND_USEC, version, STORE_SCHEMA_VERSION);
}

/* Between the due moments caught up at start: a pending stop, and
 * systemd's start timeout. */
static bool
early_yield_cb(void *arg)
{
	static int64_t last_ms = -1;
	int64_t now_ms = clock_mono_ms();

	(void)arg;
	if (last_ms == -1 || now_ms - last_ms >= EXTEND_EVERY_MS) {
		last_ms = now_ms;
		sd_notifyf(0,
		    "EXTEND_TIMEOUT_USEC=%d\nSTATUS=catching up the moments missed while stopped",
		    EXTEND_USEC);
	}
	return stop_pending();
}

void
loop_hold_signals(struct server *srv)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, NULL);
	srv->engine.yield = early_yield_cb;
	srv->engine.yield_arg = NULL;
}

int
loop_run(struct server *srv)
{
	struct loop lp;
	struct acl acl;
	char err[512];
	uint64_t wd_usec = 0;

	memset(&lp, 0, sizeof(lp));
	lp.srv = srv;
	/* signalfd: a signal stays pending until the loop reads it. */
	lp.ev = ev_default_loop(EVFLAG_AUTO | EVFLAG_SIGNALFD);
	if (lp.ev == NULL) {
		log_err("loop: cannot initialise libev");
		return -1;
	}
	signal(SIGPIPE, SIG_IGN);
	ev_signal_init(&lp.sigterm, stop_cb, SIGTERM);
	ev_signal_init(&lp.sigint, stop_cb, SIGINT);
	ev_signal_init(&lp.sighup, hup_cb, SIGHUP);
	lp.sigterm.data = lp.sigint.data = lp.sighup.data = &lp;
	ev_signal_start(lp.ev, &lp.sigterm);
	ev_signal_start(lp.ev, &lp.sigint);
	ev_signal_start(lp.ev, &lp.sighup);

	srv->listener = sock_listen(srv, lp.ev, srv->conf->socket,
	    srv->conf->socket_group, srv->conf->max_clients, err, sizeof(err));
	if (srv->listener == NULL) {
		log_err("socket: %s", err);
		return -1;
	}
	acl_init(&acl, srv->conf);
	sock_set_acl(srv->listener, &acl);
	if (sd_watchdog_enabled(0, &wd_usec) > 0 && wd_usec > 0) {
		ev_timer_init(
		    &lp.watchdog, watchdog_cb, 0., (double)wd_usec / 2e6);
		lp.watchdog.data = &lp;
		lp.wd_usec = wd_usec;
		lp.wd_last_ms = clock_mono_ms();
		ev_timer_again(lp.ev, &lp.watchdog);
	}
	srv->engine.yield = yield_cb;
	srv->engine.yield_arg = &lp;
	ev_prepare_init(&lp.prepare, prepare_cb);
	lp.prepare.data = &lp;
	ev_prepare_start(lp.ev, &lp.prepare);
	ev_timer_init(&lp.background, background_cb, 0.05, 0.05);
	lp.background.data = &lp;
	ev_async_init(&lp.wake, wake_cb);
	lp.wake.data = &lp;
	ev_async_start(lp.ev, &lp.wake);
	srv->wake = loop_wake;
	srv->wake_arg = &lp;
	ev_periodic_init(&lp.due, due_cb, 0., 0., NULL);
	lp.due.data = &lp;
	log_info("dunnd: ready on %s", srv->conf->socket);
	sd_notify(0, "READY=1\nSTATUS=serving");

	ev_run(lp.ev, 0);

	/*
	 * §6: a batch received in full is processed and committed, even if
	 * another signal is waiting; and a signal that came after the one
	 * that stopped the loop must not kill the process when ev stops
	 * watching (unblocks) it: it is ignored from here on.
	 */
	srv->engine.yield = NULL;
	server_flush(srv);
	signal(SIGTERM, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);

	sock_close(srv->listener, "shutting down");
	srv->listener = NULL;
	server_stop_background(srv);
	srv->wake = NULL;
	ev_async_stop(lp.ev, &lp.wake);
	ev_timer_stop(lp.ev, &lp.background);
	ev_signal_stop(lp.ev, &lp.sigterm);
	ev_signal_stop(lp.ev, &lp.sigint);
	ev_signal_stop(lp.ev, &lp.sighup);
	ev_timer_stop(lp.ev, &lp.watchdog);
	ev_prepare_stop(lp.ev, &lp.prepare);
	ev_periodic_stop(lp.ev, &lp.due);
	ev_loop_destroy(lp.ev);
	return 0;
}
