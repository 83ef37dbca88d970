/*
 * audit — the audit lines of mutating control requests (see audit.h).
 *
 * Called by server for every request that changes state, once its
 * outcome is known (a refused one included): one line each, never split.
 */
#include "audit.h"

#include <sys/types.h>
#include <stdarg.h>
#include <stdio.h>

#include "log.h"
#include "socket.h"

#define AUDIT_MSG_MAX 512 /* ids are at most 64 bytes (§1) */

void
audit_log(const struct conn *c, const char *fmt, ...)
{
	char msg[AUDIT_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (c == NULL)
		log_info("audit: signal: %s", msg);
	else
		log_info("audit: uid %u: %s", (unsigned)conn_uid(c), msg);
}
