/*
 * audit — one log line per mutating control request (ingest with its
 * counts, ack, reload, clock, backup), naming the peer's uid.
 *
 * Lines are logged at info, as "audit: uid N: what: outcome", so an
 * operator can tell who changed the portfolio and when from the journal.
 * Convenience commands (pause, unpause, tag, outcome) arrive as ingest.
 */
#ifndef DUNND_AUDIT_H
#define DUNND_AUDIT_H

struct conn;

/*
 * Logs "audit: uid N: " and the formatted text for c's peer; with c NULL
 * (a reload by SIGHUP) "audit: signal: " instead.
 */
void audit_log(const struct conn *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
