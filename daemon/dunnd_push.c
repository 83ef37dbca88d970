/*
 * dunnd-push — main(): options, --check, the configuration, push_run().
 *
 * dunnd-push -c FILE [-f] [-d] [--check | --status]
 *
 * Delivers dunnd's feed to one HTTP(S) endpoint as a named consumer;
 * one process per endpoint (systemd: dunnd-push@NAME).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "push.h"
#include "pushconf.h"
#include "util.h"

static void __attribute__((noreturn)) usage(int rc)
{
	fprintf(rc ? stderr : stdout,
	    "usage: dunnd-push -c FILE [-f] [-d] [--check | --status]\n");
	exit(rc);
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "check", no_argument, NULL, 'C' },
		{ "status", no_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = NULL;
	bool foreground = false, check = false, debug = false, status = false;
	struct pushconf *c = NULL;
	struct diags ds;
	char line[DIAG_MSG_MAX + 300];
	size_t i;
	int ch, rc = 1;

	log_procname("dunnd-push");
	while ((ch = getopt_long(argc, argv, "c:dfhV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 'd':
			debug = true;
			break;
		case 'f':
			foreground = true;
			break;
		case 'C':
			check = true;
			break;
		case 'S':
			status = true;
			break;
		case 'V':
			printf("dunnd-push %s\n", DUNND_VERSION);
			return 0;
		case 'h':
			usage(0);
		default:
			usage(2);
		}
	}
	if (optind != argc || path == NULL)
		usage(2);

	diags_init(&ds);
	log_init(true, LOG_LEVEL_INFO);
	c = pushconf_load(path, &ds);
	for (i = 0; i < ds.n; i++) {
		diag_format(&ds.v[i], line, sizeof(line));
		fprintf(stderr, "%s\n", line);
	}
	if (c == NULL || check) {
		rc = c == NULL ? 1 : 0;
		goto out;
	}
	if (status) {
		rc = push_status(c);
		goto out;
	}
	if (!foreground && daemon(0, 0) == -1) {
		fprintf(stderr, "dunnd-push: daemon: %s\n", strerror(errno));
		goto out;
	}
	log_init(foreground, debug ? LOG_LEVEL_DEBUG : LOG_LEVEL_INFO);
	if (push_run(c) == 0)
		rc = 0;
	log_info("push: stopped");
out:
	pushconf_free(c);
	diags_fini(&ds);
	return rc;
}
