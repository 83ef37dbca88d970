/*
 * fixture: fixture_run() on files in a temporary directory, its output
 * captured with open_memstream(3).  The command's output as a whole is
 * tested in tests/integration/test_fixtures.py; here, the values a
 * fixture may name and how values compare (§7 "Rule fixtures").
 */
#include <sys/stat.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fixture.h"

/* Stages with a repeating step, a release, an alert. */
static const char *rules_text =
    "stages = (\n"
    "  { name = \"current\"; release_when = { balance = { max = 0; }; }; },\n"
    "  { name = \"negotiation\";\n"
    "    tasks = ( { type = \"call\"; script = \"ask\"; },\n"
    "              { type = \"call\"; script = \"ask\"; after = \"1d\"; "
    "every = \"1d\"; max = 2; } ); }\n"
    ");\n"
    "rules = (\n"
    "  { name = \"overdue\"; from = \"current\"; to = \"negotiation\";\n"
    "    when = { days_overdue = { min = 1; }; }; },\n"
    "  { name = \"settled\"; from = \"*\"; to = \"current\";\n"
    "    when = { balance = { max = 0; }; }; }\n"
    ");\n"
    "alerts = ( { name = \"big\"; when = { balance = { min = 1; }; };\n"
    "             task = { type = \"review\"; }; } );\n"
    "scripts = ( { name = \"ask\"; checklist = [ \"ask\" ]; } );\n";

static const char *head =
    "{\"start\":\"2026-03-02T09:00:00+08:00\",\"timezone\":\"Asia/Shanghai\"}\n"
    "{\"type\":\"account\",\"id\":\"a1\",\"account\":\"C-1\",\"name\":\"A\","
    "\"currency\":\"CNY\",\"size\":\"small\"}\n"
    "{\"type\":\"invoice\",\"id\":\"i1\",\"account\":\"C-1\",\"invoice\":"
    "\"I-1\",\"amount\":100,\"issued\":\"2026-02-01\",\"due\":"
    "\"2026-03-01\"}\n"
    "{\"at\":\"2026-03-04T12:00:00+08:00\"}\n";

static char dir[] = "/tmp/dunnd-test-fixture-XXXXXX";
static char rules_dir[512], fixture_path[512];
static char *out_text, *err_text;

static int
setup(void **state)
{
	char p[600];
	FILE *f;

	(void)state;
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(rules_dir, sizeof(rules_dir), "%s/rules", dir);
	snprintf(fixture_path, sizeof(fixture_path), "%s/f.jsonl", dir);
	if (mkdir(rules_dir, 0700) == -1)
		return -1;
	snprintf(p, sizeof(p), "%s/10.conf", rules_dir);
	if ((f = fopen(p, "w")) == NULL)
		return -1;
	fputs(rules_text, f);
	fclose(f);
	return 0;
}

static int
teardown(void **state)
{
	char p[600];

	(void)state;
	snprintf(p, sizeof(p), "%s/10.conf", rules_dir);
	unlink(p);
	rmdir(rules_dir);
	unlink(fixture_path);
	rmdir(dir);
	free(out_text);
	free(err_text);
	return 0;
}

/* Runs head + the expect line as one fixture; returns the exit code. */
static int
run_one(const char *expect_line)
{
	struct fixture_opts o;
	const char *paths[1] = { fixture_path };
	size_t olen, elen;
	FILE *f = fopen(fixture_path, "w");
	int rc;

	assert_non_null(f);
	fputs(head, f);
	fputs(expect_line, f);
	fputs("\n", f);
	fclose(f);
	free(out_text);
	free(err_text);
	memset(&o, 0, sizeof(o));
	o.json = true;
	o.out = open_memstream(&out_text, &olen);
	o.err = open_memstream(&err_text, &elen);
	rc = fixture_run(rules_dir, paths, 1, &o);
	fclose(o.out);
	fclose(o.err);
	return rc;
}

/* Line 5 of the fixture was malformed with this reason. */
static void
assert_malformed(const char *expect_line, const char *why)
{
	char want[1024];

	assert_int_equal(run_one(expect_line), FIXTURE_MALFORMED);
	snprintf(want, sizeof(want), "%s:5: %s\n", fixture_path, why);
	if (strncmp(err_text, want, strlen(want)) != 0)
		fail_msg("stderr:\n%s\nwant first:\n%s", err_text, want);
}

static void
assert_holds(const char *expect_line, bool holds)
{
	int rc = run_one(expect_line);

	if (rc != (holds ? FIXTURE_OK : FIXTURE_FAILED))
		fail_msg("%s: exit %d\nstdout:\n%s\nstderr:\n%s", expect_line,
		    rc, out_text, err_text);
	assert_non_null(
	    strstr(out_text, holds ? "\"ok\":true" : "\"ok\":false"));
}

static void
test_sources_must_name_something(void **state)
{
	(void)state;
	/* By 03-04 12:00: stage:negotiation#1, #2/1, #2/2 and alert:big. */
	assert_holds("{\"expect\":{\"account\":\"C-1\",\"task\":{\"source\":"
	             "\"stage:negotiation#2/2\"}}}",
	    true);
	assert_holds("{\"expect\":{\"account\":\"C-1\",\"task\":{\"source\":"
	             "\"alert:big\"}}}",
	    true);
	/* A valid name that was not emitted fails; it is not malformed. */
	assert_holds("{\"expect\":{\"account\":\"C-1\",\"task\":{\"source\":"
	             "\"release:current\"}}}",
	    false);
	assert_malformed(
	    "{\"expect\":{\"account\":\"C-1\",\"task\":{\"source\":"
	    "\"stage:negotiation#2/3\"}}}",
	    "expect: task: source: \"stage:negotiation#2/3\" names no stage "
	    "step, alert or release of the rule set");
	assert_malformed(
	    "{\"expect\":{\"account\":\"C-1\",\"task\":{\"source\":"
	    "\"stage:negotiation#1/1\"}}}",
	    "expect: task: source: \"stage:negotiation#1/1\" names no stage "
	    "step, alert or release of the rule set");
	assert_malformed(
	    "{\"expect\":{\"account\":\"C-1\",\"task\":{\"source\":"
	    "\"stage:negotiation#2\"}}}",
	    "expect: task: source: \"stage:negotiation#2\" names no stage "
	    "step, alert or release of the rule set");
	assert_malformed(
	    "{\"expect\":{\"account\":\"C-1\",\"task\":{\"source\":"
	    "\"stage:negotiation#0\"}}}",
	    "expect: task: source: \"stage:negotiation#0\" names no stage "
	    "step, alert or release of the rule set");
	assert_malformed(
	    "{\"expect\":{\"account\":\"C-1\",\"task\":{\"source\":"
	    "\"release:negotiation\"}}}",
	    "expect: task: source: \"release:negotiation\" names no stage "
	    "step, alert or release of the rule set");
	assert_malformed(
	    "{\"expect\":{\"account\":\"C-1\",\"task\":{\"source\":"
	    "\"alert:small\"}}}",
	    "expect: task: source: \"alert:small\" names no stage step, alert "
	    "or release of the rule set");
}

static void
test_vocabularies(void **state)
{
	(void)state;
	assert_malformed("{\"expect\":{\"account\":\"C-1\",\"task\":{\"kind\":"
	                 "\"cancel\"}}}",
	    "expect: task: kind: \"cancel\" is not the kind of a task record "
	    "(task)");
	assert_malformed("{\"expect\":{\"account\":\"C-1\",\"task\":"
	                 "{\"currency\":\"cny\"}}}",
	    "expect: task: currency: \"cny\" is not a currency (3 upper-case "
	    "letters)");
	assert_malformed("{\"expect\":{\"account\":\"C-1\",\"task\":"
	                 "{\"window_rank\":\"best\"}}}",
	    "expect: task: window_rank: \"best\" is not a window_rank (first, "
	    "cash_in, prefer, neutral, avoid, none)");
	assert_malformed("{\"expect\":{\"account\":\"C-1\",\"task\":"
	                 "{\"schedule\":\"calls\"}}}",
	    "expect: task: schedule: \"calls\" names no schedule of the rule "
	    "set");
	assert_malformed("{\"expect\":{\"account\":\"C-1\",\"task\":"
	                 "{\"priority_factors\":{\"urgency\":1}}}}",
	    "expect: task: priority_factors: unknown member \"urgency\" "
	    "(amount, age, risk, stage)");
	assert_malformed("{\"expect\":{\"account\":\"C-1\",\"task\":"
	                 "{\"priority\":\"high\"}}}",
	    "expect: task: priority: expected a number");
	assert_malformed("{\"expect\":{\"account\":\"C-1\",\"facts\":"
	                 "{\"risk\":\"F\"}}}",
	    "expect: facts: risk: \"F\" is not a risk class (A to E)");
	assert_malformed("{\"expect\":{\"account\":\"C-1\",\"facts\":"
	                 "{\"size\":\"tiny\"}}}",
	    "expect: facts: size: \"tiny\" is not a size (small, medium, "
	    "large)");
	assert_malformed("{\"expect\":{\"account\":\"C-1\",\"facts\":"
	                 "{\"stage\":\"legal\"}}}",
	    "expect: facts: stage: \"legal\" names no stage of the rule set");
	assert_malformed("{\"expect\":{\"account\":\"C-1\",\"facts\":"
	                 "{\"tags\":\"vip\"}}}",
	    "expect: facts: tags: expected an array of strings");
	assert_malformed("{\"expect\":{\"account\":\"C-1\",\"stage\":null}}",
	    "expect: stage: expected a stage name");
	assert_malformed("{\"expect\":{\"account\":\"C-1\"}}",
	    "expect: expected exactly one of stage, facts, task, no_task");
	assert_malformed("{\"expect\":{\"stage\":\"current\"}}",
	    "expect: account: expected an account id");
}

static void
test_values_compare_as_json_values(void **state)
{
	(void)state;
	/* Numbers by value. */
	assert_holds("{\"expect\":{\"account\":\"C-1\",\"facts\":"
	             "{\"days_overdue\":3.0,\"balance\":1e2}}}",
	    true);
	assert_holds("{\"expect\":{\"account\":\"C-1\",\"facts\":"
	             "{\"days_overdue\":3.5}}}",
	    false);
	/* Timestamps as instants, whatever the offset. */
	assert_holds("{\"expect\":{\"account\":\"C-1\",\"task\":{\"source\":"
	             "\"stage:negotiation#1\",\"created\":"
	             "\"2026-03-02T01:00:00Z\"}}}",
	    true);
	assert_holds("{\"expect\":{\"account\":\"C-1\",\"task\":{\"source\":"
	             "\"stage:negotiation#1\",\"created\":"
	             "\"2026-03-02T09:00:00Z\"}}}",
	    false);
	/* null: absent (no risk set, no schedule, no days_to_due). */
	assert_holds("{\"expect\":{\"account\":\"C-1\",\"facts\":"
	             "{\"risk\":null,\"days_to_due\":null}}}",
	    true);
	assert_holds("{\"expect\":{\"account\":\"C-1\",\"facts\":"
	             "{\"balance\":null}}}",
	    false);
	assert_holds("{\"expect\":{\"account\":\"C-1\",\"task\":{\"type\":"
	             "\"review\",\"script\":null,\"checklist\":null}}}",
	    true);
	/* Arrays by length and order. */
	assert_holds("{\"expect\":{\"account\":\"C-1\",\"task\":{\"script\":"
	             "\"ask\",\"checklist\":[\"ask\"]}}}",
	    true);
	assert_holds("{\"expect\":{\"account\":\"C-1\",\"task\":{\"script\":"
	             "\"ask\",\"checklist\":[\"ask\",\"ask\"]}}}",
	    false);
	/* Objects by the members given. */
	assert_holds("{\"expect\":{\"account\":\"C-1\",\"task\":"
	             "{\"priority_factors\":{\"risk\":50}}}}",
	    true);
	assert_holds("{\"expect\":{\"account\":\"C-1\",\"task\":"
	             "{\"priority_factors\":{\"risk\":25}}}}",
	    false);
	/* no_task {} holds only when no task was added. */
	assert_holds(
	    "{\"expect\":{\"account\":\"C-1\",\"no_task\":{}}}", false);
	assert_holds("{\"expect\":{\"account\":\"C-1\",\"no_task\":"
	             "{\"type\":\"visit\"}}}",
	    true);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sources_must_name_something),
		cmocka_unit_test(test_vocabularies),
		cmocka_unit_test(test_values_compare_as_json_values),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
