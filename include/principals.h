/*
 * principals — the users and groups dunnd.conf names (socket_group,
 * admins, readers, consumers), checked against this system's user and
 * group databases as a start resolves them (§6).
 *
 * Called by dunnd for --check and at start, before anything else runs,
 * so that --check prints exactly what a start would.
 */
#ifndef DUNND_PRINCIPALS_H
#define DUNND_PRINCIPALS_H

struct conf;
struct diags;

/*
 * Adds to ds, with file = c's path and line 0 (dunnd.conf keeps no line
 * per setting): an error for a socket_group that is not a group (the
 * socket could not be given it), a warning for each user or @group of an
 * access list that does not exist (a start skips it).  Numeric ids in the
 * lists are taken as they are.  Returns the number of errors added.
 */
int principals_check(const struct conf *c, struct diags *ds);

#endif
