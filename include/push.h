/*
 * push — dunnd-push's loop: reads the feed from dunnd's control socket
 * as a named consumer, POSTs batches to the endpoint and acknowledges
 * each batch only after a complete 2xx (or its dead letter).
 */
#ifndef DUNND_PUSH_H
#define DUNND_PUSH_H

struct pushconf;

/*
 * Runs until SIGTERM or SIGINT (the request in flight is abandoned,
 * unacknowledged): returns 0 then, -1 when it cannot start.  Sends
 * READY=1 once running, WATCHDOG=1 when systemd asks for it.
 */
int push_run(const struct pushconf *c);

/*
 * dunnd-push --status: prints the consumer's cursor, the feed head and
 * the lag (head - cursor) as dunnd has them.  Returns the exit code: 0,
 * 1 when dunnd refused, 3 when it did not answer (as dunnctl).
 */
int push_status(const struct pushconf *c);

#endif
