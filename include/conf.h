/*
 * conf — dunnd.conf (§6): every key, its default, relative paths.
 *
 * Relative paths are resolved against the folder of the file.  Unknown
 * settings, wrong types and bad values are reported as "FILE:LINE: msg"
 * in a struct diags; conf_load() then returns NULL.
 */
#ifndef DUNND_CONF_H
#define DUNND_CONF_H

#include <stdbool.h>
#include <stddef.h>

#include "util.h"

#define CONF_DEFAULT_PATH "/etc/dunnd/dunnd.conf"
/* sweep_at when left out: 00:05 local, in minutes after midnight. */
#define CONF_SWEEP_MIN_DEFAULT 5

struct conf {
	char *path;         /* the file read */
	char *database;     /* absolute or relative to the cwd, resolved */
	char *rules;        /* rules directory, resolved */
	char *socket;       /* control socket path, resolved */
	char *socket_group; /* NULL: dunnd's group */
	char *timezone;     /* IANA name, required */
	int log_level;      /* LOG_LEVEL_* */
	int sweep_min;      /* sweep_at in minutes after local midnight */
	int max_clients;
	char **admins; /* NULL-terminated; default root and dunnd's user */
	size_t nadmins;
	char **readers; /* NULL-terminated; default none */
	size_t nreaders;
	char **consumers; /* NULL-terminated; default none (read and ack) */
	size_t nconsumers;
};

/*
 * Reads path.  Returns a new conf, or NULL with every error of the file
 * in ds (the file unreadable included).  Caller frees with conf_free().
 */
struct conf *conf_load(const char *path, struct diags *ds);
void conf_free(struct conf *c);

/* Resolves rel against the folder of file: a new string. */
char *conf_resolve(const char *file, const char *rel);

#endif
