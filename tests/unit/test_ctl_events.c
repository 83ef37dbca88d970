#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ctl_events.h"

/* The event of line (one JSON object and "\n"), parsed; line freed. */
static json_t *
parse(char *line)
{
	json_t *ev;
	size_t n;

	assert_non_null(line);
	n = strlen(line);
	assert_true(n > 0 && line[n - 1] == '\n');
	ev = json_loadb(line, n - 1, 0, NULL);
	free(line);
	assert_non_null(ev);
	return ev;
}

static void
assert_ctl_id(json_t *ev)
{
	const char *id = json_string_value(json_object_get(ev, "id"));
	size_t i;

	assert_non_null(id);
	assert_int_equal(strlen(id), CTL_EVENT_ID_LEN);
	assert_memory_equal(id, "ctl-", 4);
	for (i = 4; i < CTL_EVENT_ID_LEN; i++)
		assert_non_null(strchr("0123456789abcdef", id[i]));
}

static void
test_ids_are_random(void **state)
{
	char a[CTL_EVENT_ID_LEN + 1], b[CTL_EVENT_ID_LEN + 1];

	(void)state;
	assert_int_equal(ctl_event_id(a), 0);
	assert_int_equal(ctl_event_id(b), 0);
	assert_string_not_equal(a, b);
}

static void
test_pause(void **state)
{
	char err[200];
	json_t *ev = parse(ctl_event_pause("A-1", true, err, sizeof(err)));

	(void)state;
	assert_ctl_id(ev);
	assert_string_equal(
	    json_string_value(json_object_get(ev, "type")), "account");
	assert_string_equal(
	    json_string_value(json_object_get(ev, "account")), "A-1");
	assert_true(json_is_true(json_object_get(ev, "paused")));
	assert_int_equal(json_object_size(ev), 4);
	json_decref(ev);
	ev = parse(ctl_event_pause("A-1", false, err, sizeof(err)));
	assert_true(json_is_false(json_object_get(ev, "paused")));
	json_decref(ev);
}

static void
test_tag_keeps_what_is_not_named(void **state)
{
	char err[200];
	char *changes[] = { "+legal_hold", "-vip", "+key_account", "-absent" };
	json_t *cur = json_pack("[s,s,s]", "key_account", "vip", "east");
	json_t *tags = NULL, *ev, *want;

	(void)state;
	ev = parse(
	    ctl_event_tag("A-1", cur, changes, 4, &tags, err, sizeof(err)));
	want = json_pack("[s,s,s]", "key_account", "east", "legal_hold");
	assert_true(json_equal(json_object_get(ev, "tags"), want));
	assert_true(json_equal(tags, want));
	assert_ctl_id(ev);
	assert_int_equal(json_object_size(ev), 4);
	json_decref(want);
	json_decref(tags);
	json_decref(ev);
	/* No current tags (NULL): the added ones only. */
	ev = parse(
	    ctl_event_tag("A-1", NULL, changes, 1, NULL, err, sizeof(err)));
	want = json_pack("[s]", "legal_hold");
	assert_true(json_equal(json_object_get(ev, "tags"), want));
	json_decref(want);
	json_decref(ev);
	json_decref(cur);
}

static void
test_tag_refuses_bad_changes(void **state)
{
	char err[200];
	char *nosign[] = { "vip" }, *empty[] = { "+" },
	     *both[] = { "+x", "-x" };

	(void)state;
	assert_null(
	    ctl_event_tag("A", NULL, nosign, 1, NULL, err, sizeof(err)));
	assert_non_null(strstr(err, "+TAG"));
	assert_null(ctl_event_tag("A", NULL, empty, 1, NULL, err, sizeof(err)));
	assert_null(ctl_event_tag("A", NULL, both, 2, NULL, err, sizeof(err)));
	assert_non_null(strstr(err, "both added and removed"));
}

static void
test_outcome(void **state)
{
	char err[200];
	json_t *ev;

	(void)state;
	ev = parse(ctl_event_outcome("T-000001", "reached", "call back",
	    "2026-03-02T09:00:00+08:00", err, sizeof(err)));
	assert_ctl_id(ev);
	assert_string_equal(
	    json_string_value(json_object_get(ev, "type")), "outcome");
	assert_string_equal(
	    json_string_value(json_object_get(ev, "note")), "call back");
	assert_int_equal(json_object_size(ev), 6);
	json_decref(ev);
	ev = parse(ctl_event_outcome("T-1", "paid", NULL,
	    "2026-03-02T09:00:00+08:00", err, sizeof(err)));
	assert_null(json_object_get(ev, "note"));
	json_decref(ev);
	assert_null(ctl_event_outcome("T-1", "paid", "\xff",
	    "2026-03-02T09:00:00+08:00", err, sizeof(err)));
	assert_non_null(strstr(err, "--note"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ids_are_random),
		cmocka_unit_test(test_pause),
		cmocka_unit_test(test_tag_keeps_what_is_not_named),
		cmocka_unit_test(test_tag_refuses_bad_changes),
		cmocka_unit_test(test_outcome),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
