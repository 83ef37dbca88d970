/*
 * cfgutil — the libconfig setting helpers that conf (dunnd.conf) and
 * pushconf (dunnd-push.conf) share: reading a file, a non-empty string,
 * a bounded integer, freeing a NULL-terminated string list.
 *
 * Every error goes to a struct diags as "FILE:LINE: key: why".  Callers
 * pass libconfig's own types; this header names them by their struct
 * tags so that it does not include <libconfig.h>.
 */
#ifndef DUNND_CFGUTIL_H
#define DUNND_CFGUTIL_H

#include "util.h"

struct config_t;
struct config_setting_t;

/* Read PATH into an initialised CFG; -1 after an error on ds. */
int cfgutil_read(struct config_t *cfg, const char *path, struct diags *ds);

/*
 * The line of setting s.  libconfig dates a scalar when its parser
 * reduces it, after the token that follows: the last element of a list
 * written one per line would get the closing bracket's line.  These move
 * it back to its own.  cfgutil_line_in() is given the file's text (NULL:
 * line as it is); cfgutil_line() works on a config read by
 * cfgutil_read().
 */
int cfgutil_line_in(
    const struct config_setting_t *s, int line, const char *text, size_t len);
int cfgutil_line(const struct config_setting_t *s);

/* A non-empty string setting, or NULL after an error naming KEY. */
const char *cfgutil_string_of(struct config_setting_t *s, const char *file,
    const char *key, struct diags *ds);

/* An integer setting in [lo, hi] into *out, or -1 after an error. */
int cfgutil_int_of(struct config_setting_t *s, const char *file,
    const char *key, int lo, int hi, int *out, struct diags *ds);

/* Free a NULL-terminated list of strings and the list; NULL is a no-op. */
void cfgutil_free_list(char **v);

#endif
