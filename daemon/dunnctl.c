/*
 * dunnctl — the command-line client (§7): builds one request per
 * invocation, prints the reply as a human table or, with --json, as the
 * data records it received.
 *
 * Exit codes: 0 ok, 1 the command failed (final record ok:false),
 * 2 usage error, 3 daemon unreachable or refused with "too many
 * clients" / "shutting down".
 *
 * Human output never holds a raw control character (a reason or a name
 * sent by a tool could otherwise move the terminal's cursor): ctl_say()
 * prints each as "?".  Money is shown as major.minor with two decimals
 * computed with integers only (§1: minor units, never floats).
 *
 * This file holds main(): the global options and the command table.
 * The rest of the client is daemon/ctl_*.c, which share the private
 * ctl_int.h (its top lists them).
 */
#include "ctl_int.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

/* One entry per §7 command, in the contract's order; ctl_usage() shows it. */
static const struct command commands[] = {
	{ "status", "", ctl_cmd_status },
	{ "ingest", "[--skip-bad REJECTS.jsonl] [FILE|-]", ctl_cmd_ingest },
	{ "accounts", "[--stage S]", ctl_cmd_accounts },
	{ "explain", "ACCOUNT", ctl_cmd_explain },
	{ "tasks", "[--open [--workable [--at TIME]]] [--type T] [--account A]",
	    ctl_cmd_tasks },
	{ "feed", "[--from SEQ] [--follow] [--consumer NAME]", ctl_cmd_feed },
	{ "ack", "--consumer NAME SEQ", ctl_cmd_ack },
	{ "pause", "ACCOUNT", ctl_cmd_events },
	{ "unpause", "ACCOUNT", ctl_cmd_events },
	{ "tag", "ACCOUNT [+TAG...] [-TAG...]", ctl_cmd_events },
	{ "outcome", "TASK RESULT [--note TEXT] [--at TIME]", ctl_cmd_events },
	{ "reload", "", ctl_cmd_reload },
	{ "check-rules", "[DIR]", ctl_cmd_check_rules },
	{ "test-rules", "[--rules DIR] FIXTURE...", ctl_cmd_test_rules },
	{ "simulate", "--rules DIR", ctl_cmd_simulate },
	{ "report", "aging | kpi [--months N]", ctl_cmd_report },
	{ "metrics", "", ctl_cmd_metrics },
	{ "clock", "set TIME | advance DURATION", ctl_cmd_clock },
	{ "consumers", "", ctl_cmd_consumers },
	{ "backup", "FILE", ctl_cmd_backup },
	{ NULL, NULL, NULL },
};

/* Edits (insert, delete, replace, swap two neighbours) from a to b. */
static size_t
edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i, j, d[32][32];

	if (la >= 32 || lb >= 32)
		return SIZE_MAX;
	for (i = 0; i <= la; i++)
		d[i][0] = i;
	for (j = 0; j <= lb; j++)
		d[0][j] = j;
	for (i = 1; i <= la; i++)
		for (j = 1; j <= lb; j++) {
			size_t best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);

			if (d[i - 1][j] + 1 < best)
				best = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < best)
				best = d[i][j - 1] + 1;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] &&
			    a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < best)
				best = d[i - 2][j - 2] + 1;
			d[i][j] = best;
		}
	return d[la][lb];
}

/* An unknown command: the nearest one when it is close (at most 2 edits). */
static void __attribute__((noreturn)) unknown_command(const char *name)
{
	const struct command *c, *best = NULL;
	size_t d, bestd = 3;

	for (c = commands; c->name != NULL; c++) {
		if ((d = edit_distance(name, c->name)) < bestd) {
			bestd = d;
			best = c;
		}
	}
	if (best != NULL)
		ctl_die_usage("unknown command \"%s\"; did you mean \"%s\"?",
		    name, best->name);
	ctl_die_usage("unknown command \"%s\"", name);
}

int
main(int argc, char *argv[])
{
	struct ctl ctl;
	const struct command *c;
	int i;

	log_procname("dunnctl");
	ctl_set_commands(commands);
	signal(SIGPIPE, SIG_IGN);
	memset(&ctl, 0, sizeof(ctl));
	ctl.fd = -1;
	buf_init(&ctl.in);
	ctl.argv = xcalloc((size_t)argc + 1, sizeof(*ctl.argv));
	/* §7: -s, -c and --json may come before or after COMMAND. */
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-s") == 0 || strcmp(argv[i], "-c") == 0) {
			if (i + 1 >= argc)
				ctl_die_usage("%s needs an argument", argv[i]);
			if (argv[i][1] == 's')
				ctl.socket = argv[++i];
			else
				ctl.conf_path = argv[++i];
		} else if (strcmp(argv[i], "--json") == 0)
			ctl.json = true;
		else if (strcmp(argv[i], "-h") == 0 ||
		    strcmp(argv[i], "--help") == 0)
			ctl_usage_exit(0);
		else if (strcmp(argv[i], "--version") == 0) {
			printf("dunnctl %s\n", DUNND_VERSION);
			free(ctl.argv);
			return 0;
		} else
			ctl.argv[ctl.argc++] = argv[i];
	}
	if (ctl.socket != NULL && ctl.conf_path != NULL)
		ctl_die_usage("-s and -c exclude each other");
	/* Neither -s nor -c: the environment's, set once per shell. */
	if (ctl.socket == NULL && ctl.conf_path == NULL) {
		const char *env;

		if ((env = getenv("DUNND_SOCKET")) != NULL && *env != '\0')
			ctl.socket = env;
		if ((env = getenv("DUNNCTL_CONFIG")) != NULL && *env != '\0')
			ctl.conf_path = env;
		ctl.defaulted = ctl.socket == NULL && ctl.conf_path == NULL;
	}
	if (ctl.argc == 0)
		ctl_usage();
	for (c = commands; c->name != NULL; c++)
		if (strcmp(c->name, ctl.argv[0]) == 0)
			break;
	if (c->name == NULL)
		unknown_command(ctl.argv[0]);
	i = c->run(&ctl);
	if (ctl.fd != -1)
		close(ctl.fd);
	buf_fini(&ctl.in);
	free(ctl.argv);
	/*
	 * Output that did not reach stdout is a failure; a reader that went
	 * away (EPIPE: a pipe into head) made its own choice.
	 */
	if ((fflush(stdout) == EOF || ferror(stdout)) && errno != EPIPE) {
		fprintf(stderr, "dunnctl: stdout: %s\n", strerror(errno));
		if (i == 0)
			i = EXIT_FAILED;
	}
	return i;
}
