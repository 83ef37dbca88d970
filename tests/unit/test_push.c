/*
 * Unit tests of dunnd-push's pure parts: the configuration file
 * (pushconf), the queue and its batches (pushq) and the signature
 * (pushhttp_sign).  The loop and HTTP are covered by
 * tests/integration/test_push.py.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pushconf.h"
#include "pushhttp.h"
#include "pushq.h"

static char dir[] = "/tmp/dunnd-test-push-XXXXXX";
static char path[512];

static void
write_file(const char *p, const char *text)
{
	FILE *f = fopen(p, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* Loads text; returns every diag formatted, one a line ("" when none). */
static const char *
load(const char *text, struct pushconf **out)
{
	static char all[4096];
	char line[1024];
	struct diags ds;
	struct pushconf *c;
	size_t i;

	write_file(path, text);
	diags_init(&ds);
	c = pushconf_load(path, &ds);
	all[0] = '\0';
	for (i = 0; i < ds.n; i++) {
		diag_format(&ds.v[i], line, sizeof(line));
		/* Drop the directory: compare "FILE:LINE: msg" from the name. */
		assert_memory_equal(line, dir, strlen(dir));
		strcat(all, line + strlen(dir) + 1);
		strcat(all, "\n");
	}
	diags_fini(&ds);
	if (out != NULL)
		*out = c;
	else
		pushconf_free(c);
	return all;
}

static void
test_defaults(void **state)
{
	struct pushconf *c;

	(void)state;
	assert_string_equal(
	    load("url = \"https://crm.example.com/h\";\nconsumer = \"crm\";\n",
	        &c),
	    "");
	assert_non_null(c);
	assert_string_equal(c->socket, PUSHCONF_SOCKET_DEFAULT);
	assert_int_equal(c->batch_max, 100);
	assert_int_equal(c->linger_ms, 1000);
	assert_int_equal(c->timeout_ms, 10000);
	assert_int_equal(c->retry_max_ms, 300000);
	assert_int_equal(c->give_up_after, 0);
	assert_int_equal(c->kinds, PUSH_KIND_ALL);
	assert_null(c->types);
	assert_null(c->secret);
	assert_true(pushconf_type_wanted(c, "visit"));
	pushconf_free(c);
}

static void
test_every_key(void **state)
{
	struct pushconf *c;
	char text[2048], secret[600], ca[600];

	(void)state;
	snprintf(secret, sizeof(secret), "%s/k.secret", dir);
	write_file(secret, "abc\n");
	/* A CA file of the test's own: a bare system has none in /etc/ssl. */
	snprintf(ca, sizeof(ca), "%s/ca.pem", dir);
	write_file(
	    ca, "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n");
	snprintf(text, sizeof(text),
	    "url = \"http://127.0.0.1:8080/x\";\n"
	    "socket = \"run/d.sock\";\n"
	    "consumer = \"crm\";\n"
	    "secret_file = \"k.secret\";\n"
	    "kinds = [\"task\", \"cancel\"];\n"
	    "types = [\"call\", \"visit\"];\n"
	    "batch_max = 10000;\n"
	    "linger = \"0s\";\n"
	    "timeout = \"2m\";\n"
	    "retry_max = \"30s\";\n"
	    "give_up_after = 3;\n"
	    "dead_letter = \"/var/lib/dunnd-push/crm.dead.jsonl\";\n"
	    "headers = [\"Authorization: Bearer x\"];\n"
	    "ca_file = \"%s\";\n",
	    ca);
	assert_string_equal(load(text, &c), "");
	assert_non_null(c);
	assert_memory_equal(c->secret, "abc", 3);
	assert_int_equal(c->secret_len, 3); /* the final LF is not the key's */
	assert_int_equal(c->kinds, PUSH_KIND_TASK | PUSH_KIND_CANCEL);
	assert_true(pushconf_type_wanted(c, "visit"));
	assert_false(pushconf_type_wanted(c, "email"));
	assert_int_equal(c->batch_max, 10000);
	assert_int_equal(c->linger_ms, 0);
	assert_int_equal(c->timeout_ms, 120000);
	assert_int_equal(c->retry_max_ms, 30000);
	assert_int_equal(c->give_up_after, 3);
	assert_int_equal(c->nheaders, 1);
	/* Relative paths: from the file's folder. */
	assert_non_null(strstr(c->socket, dir));
	assert_string_equal(strstr(c->socket, "/run/d.sock"), "/run/d.sock");
	pushconf_free(c);
}

static void
test_errors_name_file_and_line(void **state)
{
	(void)state;
	assert_string_equal(load("batch_max = 5;\n", NULL),
	    "push.conf:1: url is required\n"
	    "push.conf:1: consumer is required\n");
	assert_string_equal(load("url = \"https://x.example/\";\n"
	                         "consumer = \"c\";\n"
	                         "give_up_after = 2;\n",
	                        NULL),
	    "push.conf:1: dead_letter is required\n");
	assert_string_equal(load("url = \"https://x.example/\";\n"
	                         "consumer = \"c\";\n"
	                         "batch_max = 10001;\n"
	                         "retry_max = \"0m\";\n"
	                         "linger = \"1234567s\";\n"
	                         "types = [\"call\", \"a b\"];\n"
	                         "headers = [\"Dunnd-Signature: x\"];\n",
	                        NULL),
	    "push.conf:3: batch_max: expected an integer 1-10000\n"
	    "push.conf:4: retry_max: must be > 0\n"
	    "push.conf:5: linger: expected a duration like \"10s\": duration has more than 6 digits\n"
	    "push.conf:6: types: element 2: unknown task type \"a b\" (call, visit, letter, email, sms, credit_hold, credit_release, review, legal_referral, approval)\n"
	    "push.conf:7: headers: element 1: Dunnd-Signature is set by dunnd-push and cannot be given\n");
	assert_string_equal(
	    load("url = \"gopher://x.example/a\";\nconsumer = \"c\";\n", NULL),
	    "push.conf:1: url: expected an http:// or https:// URL\n");
}

/* The last element of a list written one per line is reported at its
 * own line, not at the closing bracket's (libconfig dates it there). */
static void
test_last_element_of_a_list_at_its_own_line(void **state)
{
	(void)state;
	assert_string_equal(load("url = \"https://x.example/\";\n"
	                         "consumer = \"c\";\n"
	                         "kinds = [\n"
	                         "  \"task\",\n"
	                         "  \"tasks\"   # a typo\n"
	                         "  // another comment\n"
	                         "];\n"
	                         "types = [ \"call\",\n"
	                         "  \"fax\" ];\n"
	                         "headers = [\n"
	                         "  \"bad header\"\n"
	                         "\n"
	                         "];\n",
	                        NULL),
	    "push.conf:5: kinds: element 2: unknown kind \"tasks\" (task, cancel, transition or done)\n"
	    "push.conf:9: types: element 2: unknown task type \"fax\" (call, visit, letter, email, sms, credit_hold, credit_release, review, legal_referral, approval)\n"
	    "push.conf:11: headers: element 1: expected \"Name: value\"\n");
}

static void
test_durations(void **state)
{
	int64_t ms;
	const char *why;

	(void)state;
	assert_int_equal(pushconf_parse_duration("0s", &ms, &why), 0);
	assert_int_equal(ms, 0);
	assert_int_equal(pushconf_parse_duration("90s", &ms, &why), 0);
	assert_int_equal(ms, 90000);
	assert_int_equal(pushconf_parse_duration("5m", &ms, &why), 0);
	assert_int_equal(ms, 300000);
	assert_int_equal(pushconf_parse_duration("s", &ms, &why), -1);
	assert_int_equal(pushconf_parse_duration("1.5s", &ms, &why), -1);
	assert_int_equal(pushconf_parse_duration("10", &ms, &why), -1);
	assert_int_equal(pushconf_parse_duration("10ms", &ms, &why), -1);
}

static void
test_signature(void **state)
{
	char sig[PUSHHTTP_SIG_LEN];

	(void)state;
	/* Python: hmac.new(b"key", b"1700000000." + body, sha256). */
	pushhttp_sign(
	    (const uint8_t *)"key", 3, 1700000000, "[{\"seq\":1}]", 11, sig);
	assert_string_equal(sig,
	    "t=1700000000,v1=4934fa6dccf4d987c56bf2771264ad7cfd244defae9c24fe6f9feb7f0eff6caf");
}

/* --- pushq ----------------------------------------------------------- */

static struct pushconf qc;

static int
add(struct pushq *q, const char *line, int64_t now)
{
	const char *task = NULL, *acct = NULL;
	char why[256];

	return pushq_add(
	    q, line, strlen(line), now, &task, &acct, why, sizeof(why));
}

static void
add_tasks(struct pushq *q, int from, int to, int64_t now)
{
	char line[256];
	int i;

	for (i = from; i <= to; i++) {
		snprintf(line, sizeof(line),
		    "{\"seq\":%d,\"kind\":\"task\",\"task\":\"T-%06d\",\"account\":\"A\",\"type\":\"%s\"}",
		    i, i, i % 2 ? "call" : "email");
		assert_int_equal(add(q, line, now), 0);
	}
}

static void
test_batches_full_and_lingering(void **state)
{
	struct pushq q;
	struct pushq_batch b;
	int64_t wake;

	(void)state;
	memset(&qc, 0, sizeof(qc));
	qc.kinds = PUSH_KIND_ALL;
	qc.batch_max = 3;
	qc.linger_ms = 1000;
	pushq_init(&q, &qc);
	pushq_batch_init(&b);
	add_tasks(&q, 1, 4, 100);
	assert_int_equal(pushq_form(&q, 100, &b, &wake), PUSHQ_BATCH);
	assert_string_equal(b.key, "1-3");
	assert_int_equal(b.nwanted, 3);
	assert_memory_equal(buf_data(&b.body), "[{\"seq\":1,", 10);
	pushq_drop(&q, 3);
	/* One record left: it waits for linger from its arrival. */
	assert_int_equal(pushq_form(&q, 500, &b, &wake), PUSHQ_NONE);
	assert_int_equal(wake, 1100);
	assert_int_equal(pushq_form(&q, 1100, &b, &wake), PUSHQ_BATCH);
	assert_string_equal(b.key, "4-4");
	assert_int_equal(buf_data(&b.body)[buf_size(&b.body) - 1], ']');
	pushq_drop(&q, 4);
	assert_int_equal(pushq_len(&q), 0);
	assert_int_equal(pushq_form(&q, 5000, &b, &wake), PUSHQ_NONE);
	assert_int_equal(wake, -1);
	/* A gap in the seqs is refused. */
	assert_int_equal(
	    add(&q, "{\"seq\":9,\"kind\":\"task\",\"task\":\"T-9\"}", 0), -1);
	assert_int_equal(add(&q, "not json", 0), -1);
	pushq_batch_fini(&b);
	pushq_fini(&q);
}

static void
test_filters_and_ranges(void **state)
{
	static const char *types[] = { "call", NULL };
	struct pushq q;
	struct pushq_batch b;
	const char *task = NULL, *acct = NULL;
	char why[128];
	const char *l;
	int64_t wake;

	(void)state;
	memset(&qc, 0, sizeof(qc));
	qc.kinds = PUSH_KIND_TASK | PUSH_KIND_CANCEL;
	qc.types = (char **)types;
	qc.ntypes = 1;
	qc.batch_max = 2;
	qc.linger_ms = 0;
	pushq_init(&q, &qc);
	pushq_batch_init(&b);
	/* 1 call (wanted), 2 email, 3 call, 4 email: batch 1-3 holds 1, 3. */
	add_tasks(&q, 1, 4, 0);
	assert_int_equal(pushq_form(&q, 0, &b, &wake), PUSHQ_BATCH);
	assert_string_equal(b.key, "1-4");
	assert_int_equal(b.nwanted, 2);
	assert_int_equal(b.nrecs, 4);
	pushq_drop(&q, 4);
	/* A transition and the cancel of task 2 (email): filtered out. */
	assert_int_equal(
	    add(&q, "{\"seq\":5,\"kind\":\"transition\",\"account\":\"A\"}", 0),
	    0);
	assert_int_equal(
	    add(&q,
	        "{\"seq\":6,\"kind\":\"cancel\",\"task\":\"T-000002\",\"account\":\"A\"}",
	        0),
	    0);
	assert_int_equal(pushq_form(&q, 0, &b, &wake), PUSHQ_SKIP);
	assert_string_equal(b.key, "5-6");
	pushq_drop(&q, 6);
	/* The cancel of a task never seen: its type is asked; it blocks. */
	l = "{\"seq\":7,\"kind\":\"cancel\",\"task\":\"T-000077\",\"account\":\"B\"}";
	assert_int_equal(
	    pushq_add(&q, l, strlen(l), 0, &task, &acct, why, sizeof(why)), 1);
	assert_string_equal(task, "T-000077");
	assert_string_equal(acct, "B");
	add_tasks(&q, 8, 8, 0);
	assert_int_equal(pushq_form(&q, 0, &b, &wake), PUSHQ_NONE);
	pushq_resolve(&q, "visit");
	assert_int_equal(pushq_form(&q, 0, &b, &wake), PUSHQ_SKIP);
	assert_string_equal(b.key, "7-8");
	pushq_drop(&q, 8);
	/* The done of task 3 (call, remembered): wanted unless done is off. */
	assert_int_equal(
	    add(&q,
	        "{\"seq\":9,\"kind\":\"done\",\"task\":\"T-000003\",\"account\":\"A\"}",
	        0),
	    0);
	assert_int_equal(pushq_form(&q, 0, &b, &wake), PUSHQ_SKIP);
	pushq_drop(&q, 9);
	/* A cancel of task 1 (call, remembered): wanted without asking. */
	assert_int_equal(
	    add(&q,
	        "{\"seq\":10,\"kind\":\"cancel\",\"task\":\"T-000001\",\"account\":\"A\"}",
	        0),
	    0);
	assert_int_equal(pushq_form(&q, 0, &b, &wake), PUSHQ_BATCH);
	assert_string_equal(b.key, "10-10");
	pushq_clear(&q);
	/* After a clear, any seq may come first (the cursor + 1). */
	add_tasks(&q, 3, 3, 0);
	pushq_batch_fini(&b);
	pushq_fini(&q);
}

static int
setup(void **state)
{
	(void)state;
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/push.conf", dir);
	unsetenv("CREDENTIALS_DIRECTORY");
	return 0;
}

static int
teardown(void **state)
{
	char cmd[600];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_every_key),
		cmocka_unit_test(test_errors_name_file_and_line),
		cmocka_unit_test(test_last_element_of_a_list_at_its_own_line),
		cmocka_unit_test(test_durations),
		cmocka_unit_test(test_signature),
		cmocka_unit_test(test_batches_full_and_lingering),
		cmocka_unit_test(test_filters_and_ranges),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
