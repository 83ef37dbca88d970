/*
 * dunnd — main(): options, --check, wiring, loop_run().
 *
 * dunnd [-c dunnd.conf] [-f] [--check] [--test-clock[=TIME]]
 *       [--clock-ahead-ok]                                      (§6)
 */
#include <sys/stat.h>
#include <errno.h>
#include <getopt.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "conf.h"
#include "engine.h"
#include "kpi.h"
#include "log.h"
#include "loop.h"
#include "principals.h"
#include "rules.h"
#include "server.h"
#include "store.h"
#include "util.h"

/*
 * §6: under the wall clock, a stored clock position further ahead of the
 * system time than this refuses the start (without --clock-ahead-ok).
 */
#define CLOCK_AHEAD_MAX 3600

static void __attribute__((noreturn)) usage(int rc)
{
	fprintf(rc ? stderr : stdout,
	    "usage: dunnd [-c dunnd.conf] [-f] [--check] [--test-clock[=TIME]] [--clock-ahead-ok]\n");
	exit(rc);
}

/* "3d 4h 5m 6s" for a span of seconds (> 0). */
static void
span_text(int64_t s, char *buf, size_t len)
{
	int64_t d = s / 86400, h = s / 3600 % 24, m = s / 60 % 60;

	if (d > 0)
		snprintf(buf, len, "%lldd %lldh %lldm", (long long)d,
		    (long long)h, (long long)m);
	else if (h > 0)
		snprintf(buf, len, "%lldh %lldm %llds", (long long)h,
		    (long long)m, (long long)(s % 60));
	else
		snprintf(
		    buf, len, "%lldm %llds", (long long)m, (long long)(s % 60));
}

/*
 * §6: the stored clock position ahead of the system time by more than an
 * hour (a database run on a test clock, a machine booted with a wrong
 * clock) refuses the start unless ok; 0 to go on, -1 to refuse.
 */
static int
check_clock_ahead(int64_t pos, int64_t wall, bool ok)
{
	char span[64], at[CLOCK_TS_LEN];

	if (pos - wall <= CLOCK_AHEAD_MAX)
		return 0;
	span_text(pos - wall, span, sizeof(span));
	clock_format_ts(pos, at);
	if (!ok) {
		log_err(
		    "dunnd: the stored clock position %s is %s (%lld s) ahead of the system time: refusing to start; correct the system clock, or start with --clock-ahead-ok to run on from the stored position",
		    at, span, (long long)(pos - wall));
		return -1;
	}
	log_warnx(
	    "dunnd: the stored clock position %s is %s (%lld s) ahead of the system time: running on from it (--clock-ahead-ok)",
	    at, span, (long long)(pos - wall));
	return 0;
}

static void
print_diags(const struct diags *ds)
{
	char line[DIAG_MSG_MAX + 300];
	size_t i;

	for (i = 0; i < ds->n; i++) {
		/* Line 0: a setting of dunnd.conf, which keeps no lines. */
		if (ds->v[i].line == 0)
			snprintf(line, sizeof(line), "%s: %s%s", ds->v[i].file,
			    ds->v[i].warning ? "warning: " : "", ds->v[i].msg);
		else
			diag_format(&ds->v[i], line, sizeof(line));
		fprintf(stderr, "%s\n", line);
	}
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "check", no_argument, NULL, 'C' },
		{ "test-clock", optional_argument, NULL, 'T' },
		{ "clock-ahead-ok", no_argument, NULL, 'A' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *conf_path = CONF_DEFAULT_PATH, *test_time = NULL, *why;
	bool foreground = false, check = false, test_clock = false;
	bool ahead_ok = false;
	struct server srv;
	struct diags ds;
	char err[STORE_ERR_LEN];
	int ch, rc = 1;
	int64_t t = 0, pos, open = 0, reached;
	bool engine_loaded = false;

#ifdef __GLIBC__
	/*
	 * A fixed mmap threshold: buffers of 1 MiB and more (ingest bodies,
	 * long replies, the portfolio's index arrays) get their own
	 * mappings and go back to the system when freed, instead of glibc
	 * raising the threshold and leaving them as holes in the heap
	 * between the accounts' small allocations (targets.md P5, R9).
	 */
	mallopt(M_MMAP_THRESHOLD, 1024 * 1024);
#endif
	log_procname("dunnd");
	while ((ch = getopt_long(argc, argv, "c:fhV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			conf_path = optarg;
			break;
		case 'f':
			foreground = true;
			break;
		case 'C':
			check = true;
			break;
		case 'A':
			ahead_ok = true;
			break;
		case 'T':
			test_clock = true;
			test_time = optarg;
			break;
		case 'V':
			printf("dunnd %s\n", DUNND_VERSION);
			return 0;
		case 'h':
			usage(0);
		default:
			usage(2);
		}
	}
	if (optind != argc)
		usage(2);
	/*
	 * The database, its WAL and SHM, backups: customer names and phone
	 * numbers, for dunnd's user only (0600), also outside systemd's
	 * UMask=.  The socket sets its own mode (0660).
	 */
	umask(0077);

	memset(&srv, 0, sizeof(srv));
	srv.queue_tail = &srv.queue;
	diags_init(&ds);
	log_init(true, LOG_LEVEL_INFO);
	if ((srv.conf = conf_load(conf_path, &ds)) == NULL) {
		print_diags(&ds);
		goto out;
	}
	if (test_clock && test_time != NULL &&
	    clock_parse_ts(test_time, strlen(test_time), &t, &why) == -1) {
		fprintf(stderr, "dunnd: --test-clock=%s: %s\n", test_time, why);
		goto out;
	}
	/* §6: what a start resolves, --check resolves too. */
	principals_check(srv.conf, &ds);
	srv.rules = rules_load_dir(srv.conf->rules, &ds);
	print_diags(&ds);
	if (srv.rules == NULL || ds.errors > 0 || check) {
		rc = srv.rules == NULL || ds.errors > 0 ? 1 : 0;
		goto out;
	}

	if (!foreground && daemon(0, 0) == -1) {
		fprintf(stderr, "dunnd: daemon: %s\n", strerror(errno));
		goto out;
	}
	log_init(foreground, srv.conf->log_level);
	loop_notify_migration(store_file_version(srv.conf->database));
	if (store_open(srv.conf->database, &srv.store, err, sizeof(err)) ==
	    -1) {
		log_err("store: %s", err);
		goto out;
	}
	/* §6: the clock starts at max(TIME, stored clock position). */
	pos = 0;
	if ((rc = store_meta_get_int(srv.store, "clock_pos", &pos)) == -1) {
		rc = 1;
		goto out;
	}
	srv.started = clock_wall();
	if (test_clock)
		t = test_time != NULL ? t : srv.started;
	else
		t = srv.started;
	/* A new database has no past: its clock starts now. */
	if (rc == 0)
		pos = t;
	rc = 1;
	/* A busy moment left in parts counts as reached (engine.h). */
	if (store_meta_get_int(srv.store, "moment_open", &open) == -1)
		goto out;
	reached = open == pos + 1 ? open : pos;
	if (!test_clock && check_clock_ahead(reached, t, ahead_ok) == -1)
		goto out;
	if (test_clock)
		clock_test_start(t > reached ? t : reached);
	if (engine_open(&srv.engine, srv.store, srv.rules, !test_clock,
	        srv.conf->sweep_min, pos) == -1) {
		log_err("dunnd: cannot load the portfolio from %s",
		    srv.conf->database);
		goto out;
	}
	engine_loaded = true;
	srv.engine.committed = server_committed;
	srv.engine.committed_arg = &srv;
	loop_hold_signals(&srv);
	/*
	 * §4.9: under the wall clock, what the start emits for moments
	 * missed while stopped gets no window that ends before the catch-up
	 * does (collectors could not work it).
	 */
	if (!test_clock && clock_now() > srv.engine.clock_pos)
		srv.engine.catchup_end = clock_now();
	if (server_start_rules(&srv) == -1) {
		log_err("dunnd: cannot apply the changed rules");
		goto out;
	}
	/* §6: moments missed while stopped, before READY=1. */
	if (clock_now() > srv.engine.clock_pos) {
		char since[CLOCK_TS_LEN];

		clock_format_ts(srv.engine.clock_pos, since);
		log_info(
		    "dunnd: processing the moments missed since %s", since);
	}
	switch (server_catch_up(&srv)) {
	case -1:
		log_err("dunnd: cannot process the missed moments");
		goto out;
	case 1:
		log_info("dunnd: stopped during the catch-up of missed "
		         "moments; it resumes there");
		rc = 0;
		goto out;
	}
	srv.engine.catchup_end = 0;
	/* report kpi's daily totals, for this zone (kpi.h). */
	if (kpi_prepare(&srv.engine) == -1) {
		log_err("dunnd: cannot build report kpi's daily totals");
		goto out;
	}
	log_info(
	    "dunnd %s: database %s, rules %s (version %s), zone %s, %s clock",
	    DUNND_VERSION, srv.conf->database, srv.conf->rules,
	    srv.rules->version, srv.conf->timezone,
	    test_clock ? "test" : "wall");
	if (loop_run(&srv) == 0)
		rc = 0;
	log_info("dunnd: stopped");
out:
	if (engine_loaded)
		engine_close(&srv.engine);
	store_close(srv.store);
	rules_free(srv.rules);
	conf_free(srv.conf);
	diags_fini(&ds);
	return rc;
}
