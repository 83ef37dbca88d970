/*
 * loop — the one libev loop: signals, the control socket, sd_notify
 * (READY, RELOADING, STOPPING, WATCHDOG) and the commit point.
 */
#ifndef DUNND_LOOP_H
#define DUNND_LOOP_H

struct server;

/*
 * Binds the control socket, tells systemd READY=1 and runs until SIGTERM
 * or SIGINT.  Returns 0 after a clean stop, -1 when it could not start
 * (logged).
 */
int loop_run(struct server *srv);

/*
 * Before the start's catch-up: SIGTERM, SIGINT and SIGHUP wait (blocked)
 * for the loop, which reads them from its signalfd; meanwhile a long
 * catch-up stops between two due moments when SIGTERM or SIGINT waits.
 */
void loop_hold_signals(struct server *srv);
/*
 * Before the store opens: when the file's schema version (version, 0
 * for a new database) is older than this dunnd's, logs that a migration
 * follows and extends systemd's start timeout for it.
 */
void loop_notify_migration(int version);

/* Sends one state line to systemd (no-op without $NOTIFY_SOCKET). */
void loop_notify(const char *state);

#endif
