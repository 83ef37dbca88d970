#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "log.h"

static char dir[] = "/tmp/dunnd-test-conf-XXXXXX";
static char path[512];

static void
write_conf(const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* Loads text; returns the first diag formatted, or "" when it loaded. */
static const char *
first_error(const char *text, struct conf **out)
{
	static char line[1024];
	struct diags ds;
	struct conf *c;

	write_conf(text);
	diags_init(&ds);
	c = conf_load(path, &ds);
	line[0] = '\0';
	if (ds.n > 0) {
		char tmp[1024];

		diag_format(&ds.v[0], tmp, sizeof(tmp));
		/* Drop the directory: assertions name the file only. */
		snprintf(line, sizeof(line), "%s", tmp + strlen(dir) + 1);
	}
	assert_true((c == NULL) == (ds.errors > 0));
	diags_fini(&ds);
	if (out != NULL)
		*out = c;
	else
		conf_free(c);
	return line;
}

static void
test_defaults(void **state)
{
	struct conf *c;

	(void)state;
	assert_string_equal(
	    first_error("timezone = \"Asia/Shanghai\";\n", &c), "");
	assert_non_null(c);
	assert_string_equal(c->database, "/var/lib/dunnd/dunnd.db");
	assert_string_equal(c->rules, "/etc/dunnd/rules.d");
	assert_string_equal(c->socket, "/run/dunnd/dunnd.sock");
	assert_null(c->socket_group);
	assert_string_equal(c->timezone, "Asia/Shanghai");
	assert_int_equal(c->log_level, LOG_LEVEL_INFO);
	assert_int_equal(c->sweep_min, 5);
	assert_int_equal(c->max_clients, 256);
	assert_true(c->nadmins >= 1);
	assert_string_equal(c->admins[0], "root");
	assert_int_equal(c->nreaders, 0);
	assert_null(c->readers[0]);
	conf_free(c);
}

static void
test_every_key_and_relative_paths(void **state)
{
	struct conf *c;
	char want[600];

	(void)state;
	assert_string_equal(
	    first_error("database = \"db/x.db\";\n"
	                "rules = \"/abs/rules\";\n"
	                "socket = \"run/s.sock\";\n"
	                "socket_group = \"dunn\";\n"
	                "timezone = \"Europe/Berlin\";\n"
	                "log_level = \"debug\";\n"
	                "sweep_at = \"23:59\";\n"
	                "max_clients = 7;\n"
	                "admins = [ \"alice\", \"@dunnadm\", \"1001\" ];\n"
	                "readers = ( \"@dunn\" );\n",
	        &c),
	    "");
	snprintf(want, sizeof(want), "%s/db/x.db", dir);
	assert_string_equal(c->database, want);
	assert_string_equal(c->rules, "/abs/rules");
	snprintf(want, sizeof(want), "%s/run/s.sock", dir);
	assert_string_equal(c->socket, want);
	assert_string_equal(c->socket_group, "dunn");
	assert_int_equal(c->log_level, LOG_LEVEL_DEBUG);
	assert_int_equal(c->sweep_min, 23 * 60 + 59);
	assert_int_equal(c->max_clients, 7);
	assert_int_equal(c->nadmins, 3);
	assert_string_equal(c->admins[1], "@dunnadm");
	assert_string_equal(c->admins[2], "1001");
	assert_int_equal(c->nreaders, 1);
	assert_string_equal(c->readers[0], "@dunn");
	conf_free(c);
}

static void
test_errors_name_file_and_line(void **state)
{
	static const struct {
		const char *text, *want;
	} cases[] = {
		{ "timezone = \"UTC\";\ncolour = 1;\n",
		    "test.conf:2: unknown setting \"colour\"" },
		{ "database = \"x\";\n",
		    "test.conf:1: timezone: required setting missing" },
		{ "timezone = \"Nowhere/City\";\n",
		    "test.conf:1: timezone: unknown time zone \"Nowhere/City\"" },
		{ "timezone = \"UTC\";\nlog_level = \"loud\";\n",
		    "test.conf:2: log_level: expected err, warning, info or debug, not \"loud\"" },
		{ "timezone = \"UTC\";\n\nsweep_at = \"24:00\";\n",
		    "test.conf:3: sweep_at: expected local time HH:MM" },
		{ "timezone = \"UTC\";\nsweep_at = \"7:05\";\n",
		    "test.conf:2: sweep_at: expected local time HH:MM" },
		{ "timezone = \"UTC\";\nmax_clients = 0;\n",
		    "test.conf:2: max_clients: expected an integer 1-65536" },
		{ "timezone = \"UTC\";\nmax_clients = \"9\";\n",
		    "test.conf:2: max_clients: expected an integer" },
		{ "timezone = \"UTC\";\ndatabase = 5;\n",
		    "test.conf:2: database: expected a non-empty string" },
		{ "timezone = \"UTC\";\nrules = \"\";\n",
		    "test.conf:2: rules: expected a non-empty string" },
		{ "timezone = \"UTC\";\nadmins = \"root\";\n",
		    "test.conf:2: admins: expected a list of users and @groups" },
		{ "timezone = \"UTC\";\nreaders = [ \"bad name\" ];\n",
		    "test.conf:2: readers: element 1: expected a user name" },
		{ "timezone = \"UTC\";\ntimezone = \"UTC\";\n",
		    "test.conf:2: duplicate setting name" },
		{ "timezone = \"UTC\";\nlog_level = ;\n",
		    "test.conf:2: syntax error" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *got = first_error(cases[i].text, NULL);

		if (strncmp(got, cases[i].want, strlen(cases[i].want)) != 0)
			fail_msg("case %zu: got \"%s\", want \"%s...\"", i, got,
			    cases[i].want);
	}
}

static void
test_all_errors_reported(void **state)
{
	struct diags ds;

	(void)state;
	write_conf("a = 1;\nb = 2;\ntimezone = \"UTC\";\nlog_level = \"x\";\n");
	diags_init(&ds);
	assert_null(conf_load(path, &ds));
	assert_int_equal(ds.errors, 3);
	assert_int_equal(ds.v[0].line, 1);
	assert_int_equal(ds.v[1].line, 2);
	assert_int_equal(ds.v[2].line, 4);
	diags_fini(&ds);
}

static void
test_unreadable_file(void **state)
{
	struct diags ds;

	(void)state;
	diags_init(&ds);
	assert_null(conf_load("/nonexistent/dunnd.conf", &ds));
	assert_int_equal(ds.errors, 1);
	assert_non_null(strstr(ds.v[0].msg, "cannot read"));
	diags_fini(&ds);
}

static void
test_resolve(void **state)
{
	char *p;

	(void)state;
	p = conf_resolve("/etc/dunnd/dunnd.conf", "rules.d");
	assert_string_equal(p, "/etc/dunnd/rules.d");
	free(p);
	p = conf_resolve("dunnd.conf", "rules.d");
	assert_string_equal(p, "rules.d");
	free(p);
	p = conf_resolve("a/dunnd.conf", "/x");
	assert_string_equal(p, "/x");
	free(p);
}

static int
setup(void **state)
{
	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/test.conf", dir);
	log_init(true, LOG_LEVEL_ERR);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	unlink(path);
	rmdir(dir);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_every_key_and_relative_paths),
		cmocka_unit_test(test_errors_name_file_and_line),
		cmocka_unit_test(test_all_errors_reported),
		cmocka_unit_test(test_unreadable_file),
		cmocka_unit_test(test_resolve),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
