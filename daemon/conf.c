/*
 * conf — reads dunnd.conf (§6) with libconfig.
 *
 * Every error of the file is collected before giving up, each with the
 * line of its setting; the caller prints them and dunnd exits 1.
 */
#include "conf.h"

#include <sys/types.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libconfig.h>

#include "cfgutil.h"
#include "clock.h"
#include "log.h"

#define MAX_CLIENTS_LIMIT 65536 /* far beyond what one process should serve */

char *
conf_resolve(const char *file, const char *rel)
{
	const char *slash;
	char *out;
	size_t dirlen;

	if (rel[0] == '/' || (slash = strrchr(file, '/')) == NULL)
		return xstrdup(rel);
	dirlen = (size_t)(slash - file);
	out = xmalloc(dirlen + 1 + strlen(rel) + 1);
	memcpy(out, file, dirlen);
	out[dirlen] = '/';
	strcpy(out + dirlen + 1, rel);
	return out;
}

static char **
default_admins(size_t *n)
{
	char **v = xcalloc(3, sizeof(*v));
	struct passwd *pw;

	*n = 0;
	v[(*n)++] = xstrdup("root");
	pw = getpwuid(geteuid());
	if (pw != NULL && strcmp(pw->pw_name, "root") != 0)
		v[(*n)++] = xstrdup(pw->pw_name);
	else if (pw == NULL && geteuid() != 0) {
		char uid[32];

		snprintf(uid, sizeof(uid), "%u", (unsigned)geteuid());
		v[(*n)++] = xstrdup(uid);
	}
	return v;
}

/* A user name, numeric uid, @group or @gid: printable, no spaces. */
static bool
principal_ok(const char *s)
{
	const char *p = s[0] == '@' ? s + 1 : s;

	if (*p == '\0' || strlen(p) > 255)
		return false;
	for (; *p != '\0'; p++)
		if (*p <= ' ' || *p == 0x7f || *p == ':' || *p == '@')
			return false;
	return true;
}

static char **
principal_list(config_setting_t *s, const char *file, const char *key,
    size_t *n, struct diags *ds)
{
	int i, len, line = config_setting_source_line(s);
	char **v;
	const char *str;

	*n = 0;
	if (!config_setting_is_aggregate(s) ||
	    config_setting_type(s) == CONFIG_TYPE_GROUP) {
		diags_add(ds, file, line, false,
		    "%s: expected a list of users and @groups", key);
		return NULL;
	}
	len = config_setting_length(s);
	v = xcalloc((size_t)len + 1, sizeof(*v));
	for (i = 0; i < len; i++) {
		config_setting_t *e = config_setting_get_elem(s, (unsigned)i);

		str = config_setting_get_string(e);
		if (str == NULL || !principal_ok(str)) {
			diags_add(ds, file, cfgutil_line(e), false,
			    "%s: element %d: expected a user name, uid, @group or @gid",
			    key, i + 1);
			continue;
		}
		v[(*n)++] = xstrdup(str);
	}
	return v;
}

void
conf_free(struct conf *c)
{
	if (c == NULL)
		return;
	free(c->path);
	free(c->database);
	free(c->rules);
	free(c->socket);
	free(c->socket_group);
	free(c->timezone);
	cfgutil_free_list(c->admins);
	cfgutil_free_list(c->readers);
	cfgutil_free_list(c->consumers);
	free(c);
}

struct conf *
conf_load(const char *path, struct diags *ds)
{
	config_t cfg;
	config_setting_t *root, *s;
	struct conf *c = xcalloc(1, sizeof(*c));
	size_t before = ds->errors;
	int i, n, line;
	const char *name, *v, *why;

	config_init(&cfg);
	c->path = xstrdup(path);
	c->log_level = LOG_LEVEL_INFO;
	c->sweep_min = CONF_SWEEP_MIN_DEFAULT;
	c->max_clients = 256;
	if (cfgutil_read(&cfg, path, ds) == -1)
		goto fail;
	root = config_root_setting(&cfg);
	n = config_setting_length(root);
	for (i = 0; i < n; i++) {
		s = config_setting_get_elem(root, (unsigned)i);
		name = config_setting_name(s);
		line = config_setting_source_line(s);
		if (strcmp(name, "database") == 0) {
			if ((v = cfgutil_string_of(s, path, name, ds)) != NULL)
				c->database = conf_resolve(path, v);
		} else if (strcmp(name, "rules") == 0) {
			if ((v = cfgutil_string_of(s, path, name, ds)) != NULL)
				c->rules = conf_resolve(path, v);
		} else if (strcmp(name, "socket") == 0) {
			if ((v = cfgutil_string_of(s, path, name, ds)) != NULL)
				c->socket = conf_resolve(path, v);
		} else if (strcmp(name, "socket_group") == 0) {
			if ((v = cfgutil_string_of(s, path, name, ds)) != NULL)
				c->socket_group = xstrdup(v);
		} else if (strcmp(name, "timezone") == 0) {
			if ((v = cfgutil_string_of(s, path, name, ds)) == NULL)
				continue;
			if (clock_tz_set(v) == -1)
				diags_add(ds, path, line, false,
				    "timezone: unknown time zone \"%s\" (an IANA name from tzdata, e.g. \"Asia/Shanghai\")",
				    v);
			else
				c->timezone = xstrdup(v);
		} else if (strcmp(name, "log_level") == 0) {
			if ((v = cfgutil_string_of(s, path, name, ds)) == NULL)
				continue;
			if ((c->log_level = log_level_parse(v)) == -1)
				diags_add(ds, path, line, false,
				    "log_level: expected err, warning, info or debug, not \"%s\"",
				    v);
		} else if (strcmp(name, "sweep_at") == 0) {
			if ((v = cfgutil_string_of(s, path, name, ds)) == NULL)
				continue;
			if (clock_parse_hhmm(v, &c->sweep_min, &why) == -1)
				diags_add(ds, path, line, false,
				    "sweep_at: expected local time HH:MM: %s",
				    why);
		} else if (strcmp(name, "max_clients") == 0) {
			cfgutil_int_of(s, path, name, 1, MAX_CLIENTS_LIMIT,
			    &c->max_clients, ds);
		} else if (strcmp(name, "admins") == 0) {
			c->admins =
			    principal_list(s, path, name, &c->nadmins, ds);
		} else if (strcmp(name, "readers") == 0) {
			c->readers =
			    principal_list(s, path, name, &c->nreaders, ds);
		} else if (strcmp(name, "consumers") == 0) {
			c->consumers =
			    principal_list(s, path, name, &c->nconsumers, ds);
		} else {
			diags_add(ds, path, line, false,
			    "unknown setting \"%s\"", name);
		}
	}
	if (c->timezone == NULL && config_lookup(&cfg, "timezone") == NULL)
		diags_add(ds, path, 1, false,
		    "timezone: required setting missing (an IANA name, e.g. \"Asia/Shanghai\")");
	if (ds->errors > before)
		goto fail;
	if (c->database == NULL)
		c->database = xstrdup("/var/lib/dunnd/dunnd.db");
	if (c->rules == NULL)
		c->rules = xstrdup("/etc/dunnd/rules.d");
	if (c->socket == NULL)
		c->socket = xstrdup("/run/dunnd/dunnd.sock");
	if (c->admins == NULL)
		c->admins = default_admins(&c->nadmins);
	if (c->readers == NULL)
		c->readers = xcalloc(1, sizeof(*c->readers));
	if (c->consumers == NULL)
		c->consumers = xcalloc(1, sizeof(*c->consumers));
	config_destroy(&cfg);
	return c;
fail:
	config_destroy(&cfg);
	conf_free(c);
	return NULL;
}
