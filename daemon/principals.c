/*
 * principals — dunnd.conf's users and groups against the system's
 * databases (see principals.h).  The socket module resolves the same
 * names to ids when it starts serving; this module only reports.
 */
#include "principals.h"

#include <sys/types.h>
#include <grp.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdlib.h>

#include "conf.h"
#include "util.h"

static bool
numeric(const char *s)
{
	if (*s < '0' || *s > '9')
		return false;
	while (*s >= '0' && *s <= '9')
		s++;
	return *s == '\0';
}

static void
check_list(
    const struct conf *c, const char *key, char *const *names, struct diags *ds)
{
	char *const *p;

	for (p = names; p != NULL && *p != NULL; p++) {
		if ((*p)[0] == '@') {
			if (!numeric(*p + 1) && getgrnam(*p + 1) == NULL)
				diags_add(ds, c->path, 0, true,
				    "%s: unknown group \"%s\": skipped, it grants nobody access",
				    key, *p + 1);
		} else if (!numeric(*p) && getpwnam(*p) == NULL)
			diags_add(ds, c->path, 0, true,
			    "%s: unknown user \"%s\": skipped, it grants nobody access",
			    key, *p);
	}
}

int
principals_check(const struct conf *c, struct diags *ds)
{
	size_t errors = ds->errors;

	/* The socket takes a group name only (socket.c). */
	if (c->socket_group != NULL && getgrnam(c->socket_group) == NULL)
		diags_add(ds, c->path, 0, false,
		    "socket_group: unknown group \"%s\": the socket could not be given it",
		    c->socket_group);
	check_list(c, "admins", c->admins, ds);
	check_list(c, "readers", c->readers, ds);
	check_list(c, "consumers", c->consumers, ds);
	return (int)(ds->errors - errors);
}
