#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "protocol.h"
#include "util.h"

struct dcase {
	const char *line;
	int rc;          /* 0 accepted, -1 refused, -2 refused and closed */
	int64_t bytes;   /* req.bytes after decoding */
	const char *err; /* substring of the error, NULL when accepted */
};

static void
test_decode_table(void **state)
{
	static const struct dcase cases[] = {
		{ "{\"v\":1,\"cmd\":\"status\"}", 0, -1, NULL },
		{ "{\"cmd\":\"status\",\"v\":1}", 0, -1, NULL },
		{ "{\"v\":1,\"cmd\":\"ingest\",\"bytes\":10,\"skip_bad\":true,\"results\":\"bad\"}",
		    0, 10, NULL },
		{ "{\"v\":1,\"cmd\":\"ingest\",\"bytes\":0}", 0, 0, NULL },
		{ "{\"v\":1,\"cmd\":\"feed\",\"from\":0,\"follow\":true,\"consumer\":\"crm\"}",
		    0, -1, NULL },
		{ "{\"v\":1,\"cmd\":\"ack\",\"consumer\":\"crm\",\"seq\":5}", 0,
		    -1, NULL },
		{ "{\"v\":1,\"cmd\":\"simulate\",\"files\":[{\"name\":\"a.conf\",\"text\":\"\"}]}",
		    0, -1, NULL },
		{ "{\"v\":1,\"cmd\":\"clock\",\"advance\":\"1d\"}", 0, -1,
		    NULL },
		/* refused, connection kept */
		{ "not json", -1, -1, "malformed" },
		{ "", -1, -1, "malformed" },
		{ "[1]", -1, -1, "not a JSON object" },
		{ "null", -1, -1, "malformed" },
		{ "{\"cmd\":\"status\"}", -1, -1, "missing \"v\"" },
		{ "{\"v\":2,\"cmd\":\"status\"}", -1, -1, "version" },
		{ "{\"v\":\"1\",\"cmd\":\"status\"}", -1, -1, "version" },
		{ "{\"v\":1}", -1, -1, "missing \"cmd\"" },
		{ "{\"v\":1,\"cmd\":7}", -1, -1, "unknown command" },
		{ "{\"v\":1,\"cmd\":\"dance\"}", -1, -1,
		    "unknown command \"dance\"" },
		{ "{\"v\":1,\"cmd\":\"status\",\"x\":1}", -1, -1,
		    "unknown field \"x\" for status" },
		{ "{\"v\":1,\"cmd\":\"tasks\",\"open\":1}", -1, -1,
		    "field \"open\": expected true or false" },
		{ "{\"v\":1,\"cmd\":\"feed\",\"from\":-1}", -1, -1,
		    "field \"from\": expected a non-negative integer" },
		{ "{\"v\":1,\"cmd\":\"feed\",\"from\":1.5}", -1, -1, "from" },
		{ "{\"v\":1,\"cmd\":\"explain\"}", -1, -1,
		    "missing field \"account\" for explain" },
		{ "{\"v\":1,\"cmd\":\"ack\",\"consumer\":\"c\"}", -1, -1,
		    "missing field \"seq\"" },
		/* §1: consumer names are ids */
		{ "{\"v\":1,\"cmd\":\"ack\",\"consumer\":\"bad name!\",\"seq\":1}",
		    -1, -1, "field \"consumer\": expected an id" },
		{ "{\"v\":1,\"cmd\":\"ack\",\"consumer\":\"\",\"seq\":1}", -1,
		    -1, "consumer" },
		{ "{\"v\":1,\"cmd\":\"feed\",\"consumer\":\"c-2:x.y_z\"}", 0,
		    -1, NULL },
		{ "{\"v\":1,\"cmd\":\"feed\",\"consumer\":"
		  "\"0123456789012345678901234567890123456789012345678901234567890123"
		  "4\"}",
		    -1, -1, "consumer" },
		{ "{\"v\":1,\"cmd\":\"simulate\",\"files\":[{\"name\":\"a\"}]}",
		    -1, -1, "files" },
		{ "{\"v\":1,\"cmd\":\"status\",\"v\":1}", -1, -1, "malformed" },
		{ "{\"v\":1,\"cmd\":\"st\\u0000\"}", -1, -1, "malformed" },
		/* a refused request still announces its body (§8) */
		{ "{\"v\":1,\"cmd\":\"status\",\"bytes\":7}", -1, 7,
		    "unknown field \"bytes\"" },
		{ "{\"cmd\":\"ingest\",\"bytes\":12}", -1, 12,
		    "missing \"v\"" },
		{ "{\"v\":1,\"cmd\":\"ingest\"}", -1, -1,
		    "missing field \"bytes\"" },
		/* an unusable bytes closes the connection */
		{ "{\"v\":1,\"cmd\":\"ingest\",\"bytes\":-1}", -2, -1,
		    "bytes" },
		{ "{\"v\":1,\"cmd\":\"ingest\",\"bytes\":\"5\"}", -2, -1,
		    "bytes" },
		{ "{\"v\":1,\"cmd\":\"ingest\",\"bytes\":1e3}", -2, -1,
		    "bytes" },
	};
	struct proto_request req;
	char err[PROTO_ERR_LEN];
	size_t i;
	int rc;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err[0] = '\0';
		rc = proto_decode(cases[i].line, strlen(cases[i].line), &req,
		    err, sizeof(err));
		if (rc != cases[i].rc)
			fail_msg("case %zu (%s): rc %d, want %d (%s)", i,
			    cases[i].line, rc, cases[i].rc, err);
		if (req.bytes != cases[i].bytes)
			fail_msg("case %zu: bytes %lld, want %lld", i,
			    (long long)req.bytes, (long long)cases[i].bytes);
		if (cases[i].err != NULL && strstr(err, cases[i].err) == NULL)
			fail_msg("case %zu: error \"%s\" lacks \"%s\"", i, err,
			    cases[i].err);
		assert_true((rc == 0) == (req.root != NULL));
		json_decref(req.root);
	}
}

static void
test_readers_commands(void **state)
{
	static const enum proto_cmd readers[] = { CMD_STATUS, CMD_ACCOUNTS,
		CMD_EXPLAIN, CMD_TASKS, CMD_FEED, CMD_REPORT, CMD_METRICS };
	size_t i, j;
	bool reader;

	(void)state;
	for (i = 0; i < CMD_COUNT; i++) {
		reader = false;
		for (j = 0; j < sizeof(readers) / sizeof(readers[0]); j++)
			reader = reader || readers[j] == (enum proto_cmd)i;
		assert_int_equal(proto_cmd_info(i)->admin, !reader);
	}
}

/* §7: floats as the shortest decimal that reads back as the double. */
static void
test_dumps_shortest_floats(void **state)
{
	static const double v[] = { 0.3, 13.0, 2.0 / 3, 1.0 / 3, -5.0, 0.0,
		1e16, 1e-5, 123456.789, 0.1 + 0.2, -0.25, 5e-324, 1e15 };
	json_t *a = json_array();
	char *s;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		json_array_append_new(a, json_real(v[i]));
	/* Numbers inside strings and integers stay as they are. */
	json_array_append_new(a, json_string("0.29999999999999999 \" 1e3"));
	json_array_append_new(a, json_integer(-42));
	s = proto_dumps(a, JSON_COMPACT);
	assert_string_equal(s,
	    "[0.3,13.0,0.6666666666666666,0.3333333333333333,-5.0,0.0,1e+16,"
	    "1e-05,123456.789,0.30000000000000004,-0.25,5e-324,"
	    "1000000000000000.0,\"0.29999999999999999 \\\" 1e3\",-42]");
	free(s);
	/* Without floats: jansson's text unchanged. */
	json_decref(a);
	a = json_pack("{s:i,s:s}", "seq", 7, "t", "2026-03-02T09:00:00+08:00");
	s = proto_dumps(a, JSON_COMPACT);
	assert_string_equal(
	    s, "{\"seq\":7,\"t\":\"2026-03-02T09:00:00+08:00\"}");
	free(s);
	json_decref(a);
}

/* A random JSON tree without reals, depth at most d (xorshift r). */
static json_t *
random_tree(uint64_t *r, int d)
{
	static const char *const strs[] = { "", "a", "\"", "\\", "/",
		"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "\x7f", "T-000001",
		"line\nbreak\ttab\rcr\bbs\fff" };
	json_t *j;
	char s[40];
	size_t n, i;

	*r ^= *r << 13;
	*r ^= *r >> 7;
	*r ^= *r << 17;
	switch (d <= 0 ? 2 + *r % 6 : *r % 8) {
	case 0:
		j = json_object();
		n = *r >> 8 & 7;
		for (i = 0; i < n; i++) {
			snprintf(s, sizeof(s), "%s%zu",
			    strs[(*r >> (i + 3)) % 9], i);
			json_object_set_new(j, s, random_tree(r, d - 1));
		}
		return j;
	case 1:
		j = json_array();
		n = *r >> 8 & 7;
		for (i = 0; i < n; i++)
			json_array_append_new(j, random_tree(r, d - 1));
		return j;
	case 2:
		return json_string(strs[(*r >> 9) % 9]);
	case 3:
		/* every control character and a few more, in one string */
		for (i = 0; i < sizeof(s) - 1; i++)
			s[i] = (char)(1 + (*r >> (i % 50)) % 0x7f);
		s[sizeof(s) - 1] = '\0';
		return json_string(s);
	case 4:
		return json_integer(
		    (json_int_t)(*r >> 1) * ((*r & 1) ? -1 : 1));
	case 5:
		return (*r >> 5) & 1 ? json_true() : json_false();
	case 6:
		return json_null();
	default:
		return json_integer((*r >> 3) & 1 ? INT64_MIN : INT64_MAX);
	}
}

/* Compact output is written without jansson: byte for byte its text. */
static void
test_dumps_compact_as_jansson(void **state)
{
	uint64_t r = 0x9e3779b97f4a7c15ULL;
	char *want, *got, ctl[2] = { 0, 0 };
	json_t *j;
	int i;

	(void)state;
	for (i = 0; i < 3000; i++) {
		j = random_tree(&r, 4);
		want = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
		got = proto_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
		assert_non_null(want);
		assert_non_null(got);
		assert_string_equal(got, want);
		free(want);
		free(got);
		got = proto_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
		if (json_is_object(j) || json_is_array(j))
			assert_non_null(got);
		else
			assert_null(
			    got); /* as json_dumps(), without ENCODE_ANY */
		free(got);
		json_decref(j);
	}
	/* each control character alone */
	for (i = 1; i < 0x20; i++) {
		ctl[0] = (char)i;
		j = json_pack("[s]", ctl);
		want = json_dumps(j, JSON_COMPACT);
		got = proto_dumps(j, JSON_COMPACT);
		assert_string_equal(got, want);
		free(want);
		free(got);
		json_decref(j);
	}
}

/*
 * What the random trees lack: NUL bytes inside strings and member names
 * (jansson 2.14 keeps both, json_stringn() and json_object_setn()), and
 * reals, whose compact text must be the one the json_dumps() path gives
 * (JSON_ESCAPE_SLASH takes that path; no '/' here).
 */
static void
test_dumps_compact_nul_and_reals(void **state)
{
	static const double v[] = { 0.1, -0.0, 1e300, 5e-324, 2.0 / 3,
		123456.789, 1e16, -1e-5 };
	json_t *j = json_object(), *a = json_array();
	char *want, *got;
	size_t i;

	(void)state;
	json_object_set_new(j, "s", json_stringn("a\0b", 3));
	json_object_setn_new(j, "k\0z", 3, json_string("key with a NUL"));
	json_object_setn_new(j, "\0", 1, json_stringn_nocheck("\0\001", 2));
	json_object_set_new(
	    j, "t", json_string_nocheck("2026-03-02T09:00:00Z"));
	want = json_dumps(j, JSON_COMPACT);
	got = proto_dumps(j, JSON_COMPACT);
	assert_non_null(want);
	assert_string_equal(got, want);
	assert_non_null(strstr(got, "\"k\\u0000z\":"));
	free(want);
	free(got);
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		json_array_append_new(a, json_real(v[i]));
	json_object_set_new(j, "reals", a);
	json_object_set_new(
	    j, "nested", json_pack("[{s:f},f]", "x", 0.3, 1e-7));
	want = proto_dumps(j, JSON_COMPACT | JSON_ESCAPE_SLASH);
	got = proto_dumps(j, JSON_COMPACT);
	assert_non_null(want);
	assert_string_equal(got, want);
	free(want);
	free(got);
	json_decref(j);
}

/*
 * j written member by member with the record writer: every writer
 * function in turn (k NULL: an element, or a value after keyn).
 */
static void
write_tree(struct buf *b, const char *k, size_t klen, const json_t *j, int how)
{
	const char *name;
	json_t *v;
	size_t i, nlen;

	if (k != NULL) {
		proto_w_keyn(b, k, klen);
		k = NULL;
	}
	switch (json_typeof(j)) {
	case JSON_OBJECT:
		if (how % 3 == 0) { /* the members of a tree, in its order */
			proto_w_open(b, k, '{');
			proto_w_members(b, j);
			proto_w_close(b, '}');
			return;
		}
		proto_w_open(b, k, '{');
		json_object_keylen_foreach((json_t *)j, name, nlen, v)
		    write_tree(b, name, nlen, v, how + 1);
		proto_w_close(b, '}');
		return;
	case JSON_ARRAY:
		proto_w_open(b, k, '[');
		json_array_foreach(j, i, v) write_tree(b, NULL, 0, v, how + 1);
		proto_w_close(b, ']');
		return;
	case JSON_STRING:
		if (how % 2 == 0 &&
		    strlen(json_string_value(j)) == json_string_length(j))
			proto_w_str(b, k, json_string_value(j));
		else
			proto_w_strn(
			    b, k, json_string_value(j), json_string_length(j));
		return;
	case JSON_INTEGER:
		proto_w_int(b, k, json_integer_value(j));
		return;
	case JSON_NULL:
		if (how % 2 == 0) {
			proto_w_null(b, k);
			return;
		}
		/* FALLTHROUGH */
	default:
		proto_w_json(b, k, j);
	}
}

/* The record writer: byte for byte jansson's compact text of the tree. */
static void
test_writer_as_jansson(void **state)
{
	uint64_t r = 0x2545f4914f6cdd1dULL;
	struct buf b;
	char *want;
	json_t *j;
	int i;

	(void)state;
	buf_init(&b);
	for (i = 0; i < 3000; i++) {
		j = random_tree(&r, 4);
		want = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
		buf_clear(&b);
		write_tree(&b, NULL, 0, j, i);
		buf_append(&b, "", 1);
		assert_string_equal(buf_data(&b), want);
		free(want);
		json_decref(j);
	}
	/* names and strings holding NULs, by their lengths */
	j = json_object();
	json_object_setn_new(j, "k\0z", 3, json_stringn("a\0b", 3));
	want = json_dumps(j, JSON_COMPACT);
	buf_clear(&b);
	write_tree(&b, NULL, 0, j, 1);
	assert_int_equal(buf_size(&b), strlen(want));
	assert_memory_equal(buf_data(&b), want, strlen(want));
	free(want);
	json_decref(j);
	buf_fini(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decode_table),
		cmocka_unit_test(test_readers_commands),
		cmocka_unit_test(test_dumps_shortest_floats),
		cmocka_unit_test(test_dumps_compact_as_jansson),
		cmocka_unit_test(test_dumps_compact_nul_and_reals),
		cmocka_unit_test(test_writer_as_jansson),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
