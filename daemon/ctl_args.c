/*
 * ctl_args — dunnctl's command line: the usage (from the command table
 * main() hands over), usage errors (exit 2), a command's options and
 * positional arguments, and the checks of argument values.
 *
 * Called by dunnctl.c and the command modules (ctl_*.c) through
 * ctl_int.h.
 */
#include "ctl_int.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The command table of main(), for the usage. */
static const struct command *commands;

/* Hands the command table over, before any usage can be printed. */
void
ctl_set_commands(const struct command *table)
{
	commands = table;
}

void __attribute__((noreturn, format(printf, 1, 2)))
ctl_die_usage(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "dunnctl: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	ctl_usage();
}

/*
 * Splits the command's arguments into the options of opts (NULL: none;
 * each at most once, with a non-empty value) and at most npos positional arguments
 * ("--" ends the options); returns how many positional ones there were.
 * Anything else is a usage error.
 */
int
ctl_parse_args(struct ctl *ctl, struct opt *opts, const char **pos, int npos)
{
	const char *cmd = ctl->argv[0], *a, *eq;
	struct opt *o;
	bool options = true;
	size_t len;
	int i, n = 0;

	for (i = 1; i < ctl->argc; i++) {
		a = ctl->argv[i];
		if (options && strcmp(a, "--") == 0) {
			options = false;
			continue;
		}
		if (!options || a[0] != '-' || a[1] == '\0') {
			if (n == npos)
				ctl_die_usage(
				    "%s: unexpected argument \"%s\"", cmd, a);
			pos[n++] = a;
			continue;
		}
		eq = strchr(a, '=');
		len = eq != NULL ? (size_t)(eq - a) : strlen(a);
		for (o = opts; o != NULL && o->name != NULL; o++) {
			if (strlen(o->name) == len &&
			    strncmp(o->name, a, len) == 0)
				break;
		}
		if (o == NULL || o->name == NULL)
			ctl_die_usage("%s: unknown option \"%s\"", cmd, a);
		if (o->value != NULL)
			ctl_die_usage("%s: %s given twice", cmd, o->name);
		if (o->arg == NULL) {
			if (eq != NULL)
				ctl_die_usage(
				    "%s: %s takes no value", cmd, o->name);
			o->value = o->name;
			continue;
		}
		if (eq != NULL)
			o->value = eq + 1;
		else if (i + 1 < ctl->argc)
			o->value = ctl->argv[++i];
		if (o->value == NULL || o->value[0] == '\0')
			ctl_die_usage("%s: %s needs %s", cmd, o->name, o->arg);
	}
	return n;
}

/* A SEQ argument: decimal digits only, within a JSON integer. */
json_int_t
ctl_parse_seq(const char *what, const char *s)
{
	json_int_t v = 0;
	const char *p;

	for (p = s; *p >= '0' && *p <= '9'; p++) {
		if (v > (INT64_MAX - (*p - '0')) / 10)
			ctl_die_usage("%s: \"%s\" is too large", what, s);
		v = v * 10 + (*p - '0');
	}
	if (p == s || *p != '\0')
		ctl_die_usage(
		    "%s must be a non-negative integer, not \"%s\"", what, s);
	return v;
}

/* Sets req.key to a string argument, which JSON needs in UTF-8. */
void
ctl_set_string(json_t *req, const char *key, const char *value)
{
	json_t *v = json_string(value);

	if (v == NULL)
		ctl_die_usage("%s: \"%s\" is not valid UTF-8", key, value);
	json_object_set_new(req, key, v);
}

/* The usage: on stderr with exit 2, or asked for (--help) on stdout, 0. */
void __attribute__((noreturn)) ctl_usage_exit(int rc)
{
	const struct command *c;
	FILE *f = rc == 0 ? stdout : stderr;

	fprintf(f,
	    "usage: dunnctl [-s SOCKET | -c dunnd.conf] [--json] COMMAND [ARGS]\n");
	for (c = commands; c->name != NULL; c++)
		fprintf(f, "       dunnctl %s%s%s\n", c->name,
		    c->args[0] != '\0' ? " " : "", c->args);
	fprintf(f, "       dunnctl --help | --version\n");
	exit(rc);
}

void __attribute__((noreturn)) ctl_usage(void)
{
	ctl_usage_exit(EXIT_USAGE);
}
