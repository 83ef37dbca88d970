/*
 * fixture — rule fixtures for `dunnctl test-rules` (fixture.h, §7).
 *
 * A fixture is read whole and checked line by line before anything
 * runs (every malformed line is reported; a malformed fixture does not
 * run).  A good one runs on a fresh store in a private mkdtemp(3)
 * directory, wired as dunnd wires a first start (store_open(),
 * engine_open() at the start moment, engine_reload() as
 * server_start_rules() does for a database without rules), on the test
 * clock in the fixture's zone:
 * - consecutive event lines are one batch, given to ingest_run() at the
 *   clock, as server_flush() runs a batch (blank and comment lines in
 *   it become blank lines, so the ingest's line numbers are the
 *   fixture's, shifted);
 * - an `at` line is engine_run_until() then clock_test_set(), as the
 *   `clock set` command does;
 * - an expect group reads the accounts through explain_account() (the
 *   stage and §3 facts as `explain` shows them) and the task records
 *   the feed got since the previous group.
 * Nothing here decides a stage, a fact or a task: the engine does.
 */
#include "fixture.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "conf.h"
#include "engine.h"
#include "event.h"
#include "explain.h"
#include "ingest.h"
#include "lines.h"
#include "log.h"
#include "protocol.h"
#include "rules.h"
#include "store.h"
#include "util.h"

/* Feed records read per query when collecting a group's tasks. */
#define FEED_PAGE 1000

enum fl_kind {
	FL_BLANK,
	FL_COMMENT,
	FL_START,
	FL_EVENT,
	FL_AT,
	FL_EXPECT,
	FL_BAD, /* none of the above */
};

enum fx_what {
	W_STAGE,
	W_FACTS,
	W_TASK,
	W_NO_TASK,
	W_COUNT
};

static const char *const what_names[W_COUNT] = { "stage", "facts", "task",
	"no_task" };

/* One physical line of a fixture. */
struct fline {
	enum fl_kind kind;
	bool bad;      /* malformed (reported) */
	int no;        /* 1-based physical line number */
	const char *s; /* into the fixture's data, without line end */
	size_t len;
	int64_t t;      /* start, at */
	json_t *root;   /* the parsed line (not for events) */
	json_t *expect; /* expect: the "expect" object (borrowed) */
	const char *account;
	enum fx_what what;
	json_t *want; /* the value of the expectation (borrowed) */
};

struct fixture {
	const char *path;
	char *data;
	size_t len;
	struct fline *v;
	size_t n, cap;
	char *zone;
	int64_t start;
	bool has_start;
	size_t nexpect;
	bool malformed;
};

struct run {
	const struct fixture_opts *o;
	const struct ruleset *rs; /* NULL: the rule set has errors */
	char dir[64];             /* the private temporary directory */
	int64_t passed, failed;
	bool malformed, failing;
};

/* The JSON type and vocabulary an expected value must have. */
enum vt {
	VT_STRING,
	VT_NUMBER,
	VT_BOOL,
	VT_TS,
	VT_STAGE,
	VT_SCRIPT,
	VT_SCHEDULE,
	VT_SOURCE,
	VT_TYPE,
	VT_ROLE,
	VT_KIND,
	VT_RANK,
	VT_CURRENCY,
	VT_SIZE,
	VT_RISK,
	VT_STRINGS, /* an array of strings, compared in order */
	VT_TAGS,    /* an array of strings, compared as sets */
	VT_WINDOWS, /* an array of [from, to] timestamp pairs */
	VT_CONTACT,
	VT_FACTORS,
	VT_FOR,
};

struct member {
	const char *name;
	enum vt vt;
};

/* The members of a §5 task record. */
static const struct member task_members[] = {
	{ "seq", VT_NUMBER },
	{ "kind", VT_KIND },
	{ "task", VT_STRING },
	{ "account", VT_STRING },
	{ "type", VT_TYPE },
	{ "stage", VT_STAGE },
	{ "source", VT_SOURCE },
	{ "script", VT_SCRIPT },
	{ "checklist", VT_STRINGS },
	{ "contact", VT_CONTACT },
	{ "ask_for", VT_ROLE },
	{ "priority", VT_NUMBER },
	{ "priority_factors", VT_FACTORS },
	{ "schedule", VT_SCHEDULE },
	{ "window_rank", VT_RANK },
	{ "window_reason", VT_STRING },
	{ "not_before", VT_TS },
	{ "not_after", VT_TS },
	{ "windows", VT_WINDOWS },
	{ "amount_due", VT_NUMBER },
	{ "currency", VT_CURRENCY },
	{ "days_overdue", VT_NUMBER },
	{ "reason", VT_STRING },
	{ "created", VT_TS },
	{ "for", VT_FOR },
	{ "approval", VT_STRING },
	{ NULL, VT_STRING },
};

static const struct member contact_members[] = {
	{ "role", VT_ROLE },
	{ "name", VT_STRING },
	{ "phone", VT_STRING },
	{ "email", VT_STRING },
	{ NULL, VT_STRING },
};

static const struct member factor_members[] = {
	{ "amount", VT_NUMBER },
	{ "age", VT_NUMBER },
	{ "risk", VT_NUMBER },
	{ "stage", VT_NUMBER },
	{ NULL, VT_STRING },
};

static const struct member for_members[] = {
	{ "type", VT_TYPE },
	{ "script", VT_SCRIPT },
	{ NULL, VT_STRING },
};

static const char *const ranks[] = { "first", "cash_in", "prefer", "neutral",
	"avoid", "none", NULL };

static const struct member *
sub_members(enum vt vt)
{
	switch (vt) {
	case VT_CONTACT:
		return contact_members;
	case VT_FACTORS:
		return factor_members;
	case VT_FOR:
		return for_members;
	default:
		return NULL;
	}
}

static const struct member *
member_find(const struct member *m, const char *name)
{
	for (; m->name != NULL; m++)
		if (strcmp(m->name, name) == 0)
			return m;
	return NULL;
}

static const char *
member_list(const struct member *m, struct buf *b)
{
	const char *sep = "";

	buf_clear(b);
	for (; m->name != NULL; m++) {
		buf_printf(b, "%s%s", sep, m->name);
		sep = ", ";
	}
	buf_append(b, "", 1);
	return buf_data(b);
}

/* Where the report goes: with --json, everything but the objects is err. */
static FILE *
msgs(const struct run *r)
{
	return r->o->json ? r->o->err : r->o->out;
}

static void __attribute__((format(printf, 2, 3)))
say(const struct run *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(msgs(r), fmt, ap);
	va_end(ap);
}

/* A malformed line: "FIXTURE:LINE: why". */
static void __attribute__((format(printf, 4, 5))) bad_line(
    struct run *r, struct fixture *fx, struct fline *l, const char *fmt, ...)
{
	va_list ap;

	fprintf(msgs(r), "%s:%d: ", fx->path, l->no);
	va_start(ap, fmt);
	vfprintf(msgs(r), fmt, ap);
	va_end(ap);
	fputc('\n', msgs(r));
	l->bad = true;
	fx->malformed = true;
}

/* v compactly, floats shortest (a new string). */
static char *
dump(const json_t *v)
{
	char *s;

	if (v == NULL)
		return xstrdup("null");
	s = proto_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	return s != NULL ? s : xstrdup("?");
}

/* --- checking a value against its type and vocabulary ---------------- */

/* clock_parse_ts()'s reason, unless it only repeats ours. */
static const char *
ts_why(const char *why)
{
	return strncmp(why, "not an RFC 3339", 15) == 0 ? "" : why;
}

static bool
in_list(const char *const *names, const char *s)
{
	for (; *names != NULL; names++)
		if (strcmp(*names, s) == 0)
			return true;
	return false;
}

static bool
is_task_type(const char *s)
{
	int t;

	for (t = 0; t < RULES_TASK_COUNT; t++)
		if (strcmp(rules_task_type_name((enum rules_task_type)t), s) ==
		    0)
			return true;
	return false;
}

static bool
is_role(const char *s)
{
	const char *name;
	int k;

	for (k = EVENT_ROLE_OWNER; (name = event_role_name(k)) != NULL; k++)
		if (strcmp(name, s) == 0)
			return true;
	return false;
}

static int
script_find(const struct ruleset *rs, const char *s)
{
	size_t i;

	for (i = 0; i < rs->nscripts; i++)
		if (strcmp(rs->scripts[i].name, s) == 0)
			return (int)i;
	return -1;
}

static bool
schedule_exists(const struct ruleset *rs, const char *s)
{
	size_t i;

	for (i = 0; i < rs->nschedules; i++)
		if (strcmp(rs->schedules[i].name, s) == 0)
			return true;
	return false;
}

/*
 * A §5 source that names something of rs: "stage:NAME#K" (K a step of
 * NAME) with "/N" exactly when the step repeats (N within its max),
 * "alert:NAME", "release:STAGE" (a stage with release_when).
 */
static bool
source_exists(const struct ruleset *rs, const char *s)
{
	const char *hash, *slash;
	char *name, *end;
	size_t st, i;
	long k, n;
	bool found;

	if (strncmp(s, "alert:", 6) == 0) {
		for (i = 0; i < rs->nalerts; i++)
			if (strcmp(rs->alerts[i].name, s + 6) == 0)
				return true;
		return false;
	}
	if (strncmp(s, "release:", 8) == 0)
		return rules_stage_lookup(rs, s + 8, &st) == 1 &&
		    rs->stages[st].has_release;
	if (strncmp(s, "stage:", 6) != 0 || (hash = strrchr(s, '#')) == NULL)
		return false;
	name = xstrndup(s + 6, (size_t)(hash - (s + 6)));
	found = rules_stage_lookup(rs, name, &st) == 1;
	free(name);
	if (!found || hash[1] < '1' || hash[1] > '9')
		return false;
	errno = 0;
	k = strtol(hash + 1, &end, 10);
	if (errno != 0 || k < 1 || (size_t)k > rs->stages[st].ntasks)
		return false;
	slash = end;
	if (*slash == '\0')
		return rs->stages[st].tasks[k - 1].every_s == 0;
	if (*slash != '/' || slash[1] < '1' || slash[1] > '9' ||
	    rs->stages[st].tasks[k - 1].every_s == 0)
		return false;
	n = strtol(slash + 1, &end, 10);
	if (errno != 0 || *end != '\0')
		return false;
	return rs->stages[st].tasks[k - 1].max == 0 ||
	    n <= rs->stages[st].tasks[k - 1].max;
}

static const char *
vt_word(enum vt vt)
{
	switch (vt) {
	case VT_NUMBER:
		return "a number";
	case VT_BOOL:
		return "true or false";
	case VT_STRINGS:
	case VT_TAGS:
		return "an array of strings";
	case VT_WINDOWS:
		return "an array of [from, to] timestamp pairs";
	case VT_CONTACT:
	case VT_FACTORS:
	case VT_FOR:
		return "an object";
	default:
		return "a string";
	}
}

/*
 * Whether v may be expected for a member or fact of type vt (null
 * always: "absent").  rs NULL (a rule set with errors): names are not
 * checked.  On failure, why holds the reason.
 */
static bool
check_value(const struct ruleset *rs, enum vt vt, json_t *v, struct buf *why)
{
	const struct member *sub;
	const char *s = json_string_value(v), *k, *e = "";
	json_t *m, *p;
	int64_t t;
	size_t i, j;
	bool ok = false;

	if (json_is_null(v))
		return true;
	switch (vt) {
	case VT_NUMBER:
		ok = json_is_number(v);
		break;
	case VT_BOOL:
		ok = json_is_boolean(v);
		break;
	case VT_STRINGS:
	case VT_TAGS:
		ok = json_is_array(v);
		json_array_foreach(v, i, m) ok = ok && json_is_string(m);
		break;
	case VT_WINDOWS:
		if (!json_is_array(v))
			break;
		json_array_foreach(v, i, p)
		{
			if (!json_is_array(p) || json_array_size(p) != 2) {
				buf_printf(why,
				    "window %zu is not a [from, to] pair",
				    i + 1);
				return false;
			}
			json_array_foreach(p, j, m)
			{
				if (!check_value(rs, VT_TS, m, why))
					return false;
			}
		}
		return true;
	case VT_CONTACT:
	case VT_FACTORS:
	case VT_FOR:
		if (!json_is_object(v))
			break;
		sub = sub_members(vt);
		json_object_foreach(v, k, m)
		{
			const struct member *mm = member_find(sub, k);
			struct buf names;

			if (mm == NULL) {
				buf_init(&names);
				buf_printf(why, "unknown member \"%s\" (%s)", k,
				    member_list(sub, &names));
				buf_fini(&names);
				return false;
			}
			if (!check_value(rs, mm->vt, m, why)) {
				/* The reason names the inner member. */
				struct buf inner;

				buf_init(&inner);
				buf_append(
				    &inner, buf_data(why), buf_size(why));
				buf_clear(why);
				buf_printf(why, "%s: %.*s", k,
				    (int)buf_size(&inner), buf_data(&inner));
				buf_fini(&inner);
				return false;
			}
		}
		return true;
	default:
		ok = s != NULL;
		break;
	}
	if (!ok) {
		buf_printf(why, "expected %s", vt_word(vt));
		return false;
	}
	if (s == NULL)
		return true;
	switch (vt) {
	case VT_TS:
		if (clock_parse_ts(s, strlen(s), &t, &e) == -1) {
			buf_printf(why,
			    "\"%s\" is not an RFC 3339 timestamp with an offset%s%s",
			    s, ts_why(e)[0] ? ": " : "", ts_why(e));
			return false;
		}
		return true;
	case VT_TYPE:
		ok = is_task_type(s);
		e = "a task type";
		break;
	case VT_ROLE:
		ok = is_role(s);
		e = "a contact role";
		break;
	case VT_KIND:
		ok = strcmp(s, "task") == 0;
		e = "the kind of a task record (task)";
		break;
	case VT_RANK:
		ok = in_list(ranks, s);
		e = "a window_rank (first, cash_in, prefer, neutral, avoid, none)";
		break;
	case VT_CURRENCY:
		ok = strlen(s) == 3 && s[0] >= 'A' && s[0] <= 'Z' &&
		    s[1] >= 'A' && s[1] <= 'Z' && s[2] >= 'A' && s[2] <= 'Z';
		e = "a currency (3 upper-case letters)";
		break;
	case VT_SIZE:
		ok = false;
		for (i = 0; i < RULES_SIZE_COUNT; i++)
			ok = ok ||
			    strcmp(rules_size_name((enum rules_size)i), s) == 0;
		e = "a size (small, medium, large)";
		break;
	case VT_RISK:
		ok = false;
		for (i = 0; i < RULES_RISK_COUNT; i++)
			ok = ok || strcmp(rules_risk_name((int)i), s) == 0;
		e = "a risk class (A to E)";
		break;
	case VT_STAGE:
		if (rs != NULL && rules_stage_lookup(rs, s, &i) != 1) {
			buf_printf(
			    why, "\"%s\" names no stage of the rule set", s);
			return false;
		}
		return true;
	case VT_SCRIPT:
		if (rs != NULL && script_find(rs, s) < 0) {
			buf_printf(
			    why, "\"%s\" names no script of the rule set", s);
			return false;
		}
		return true;
	case VT_SCHEDULE:
		if (rs != NULL && !schedule_exists(rs, s)) {
			buf_printf(
			    why, "\"%s\" names no schedule of the rule set", s);
			return false;
		}
		return true;
	case VT_SOURCE:
		if (rs != NULL && !source_exists(rs, s)) {
			buf_printf(why,
			    "\"%s\" names no stage step, alert or release of the rule set",
			    s);
			return false;
		}
		return true;
	default:
		return true;
	}
	if (!ok)
		buf_printf(why, "\"%s\" is not %s", s, e);
	return ok;
}

/* The type of fact f's values. */
static enum vt
fact_vt(enum rules_fact f)
{
	switch (rules_fact_kind(f)) {
	case RULES_KIND_NUMBER:
		return VT_NUMBER;
	case RULES_KIND_BOOL:
		return VT_BOOL;
	case RULES_KIND_TAGS:
		return VT_TAGS;
	case RULES_KIND_SET:
		break;
	}
	if (f == RULES_FACT_STAGE)
		return VT_STAGE;
	return f == RULES_FACT_SIZE ? VT_SIZE : VT_RISK;
}

static int
fact_find(const char *name)
{
	int f;

	for (f = 0; f < RULES_FACT_COUNT; f++)
		if (strcmp(rules_fact_name((enum rules_fact)f), name) == 0)
			return f;
	return -1;
}

/* --- matching --------------------------------------------------------- */

static bool
same_number(json_t *a, json_t *b)
{
	if (json_is_integer(a) && json_is_integer(b))
		return json_integer_value(a) == json_integer_value(b);
	return json_number_value(a) == json_number_value(b);
}

static bool
same_instant(json_t *a, json_t *b)
{
	const char *sa = json_string_value(a), *sb = json_string_value(b), *e;
	int64_t ta, tb;

	if (sa == NULL || sb == NULL)
		return false;
	if (clock_parse_ts(sa, strlen(sa), &ta, &e) == -1 ||
	    clock_parse_ts(sb, strlen(sb), &tb, &e) == -1)
		return false;
	return ta == tb;
}

static bool match(enum vt vt, json_t *want, json_t *got);

/* Every member of want matches got's (objects by the members given). */
static bool
match_members(const struct member *m, json_t *want, json_t *got)
{
	const char *k;
	json_t *v;

	if (!json_is_object(got))
		return false;
	json_object_foreach(want, k, v)
	{
		const struct member *mm = member_find(m, k);

		if (mm == NULL || !match(mm->vt, v, json_object_get(got, k)))
			return false;
	}
	return true;
}

static bool
has_string(json_t *arr, json_t *s)
{
	json_t *m;
	size_t i;

	json_array_foreach(arr, i, m)
	{
		if (json_equal(m, s))
			return true;
	}
	return false;
}

/* §7: want (already checked) against what was found (NULL: absent). */
static bool
match(enum vt vt, json_t *want, json_t *got)
{
	json_t *m;
	size_t i;

	if (json_is_null(want))
		return got == NULL || json_is_null(got);
	if (got == NULL)
		return false;
	switch (vt) {
	case VT_NUMBER:
		return json_is_number(got) && same_number(want, got);
	case VT_TS:
		return same_instant(want, got);
	case VT_TAGS:
		if (!json_is_array(got))
			return false;
		json_array_foreach(want, i, m)
		{
			if (!has_string(got, m))
				return false;
		}
		json_array_foreach(got, i, m)
		{
			if (!has_string(want, m))
				return false;
		}
		return true;
	case VT_STRINGS:
	case VT_WINDOWS:
		if (!json_is_array(got) ||
		    json_array_size(got) != json_array_size(want))
			return false;
		json_array_foreach(want, i, m)
		{
			json_t *g = json_array_get(got, i);

			if (vt == VT_STRINGS ? !json_equal(m, g)
			                     : !json_is_array(g) ||
			            json_array_size(g) != json_array_size(m) ||
			            !same_instant(json_array_get(m, 0),
			                json_array_get(g, 0)) ||
			            !same_instant(json_array_get(m, 1),
			                json_array_get(g, 1)))
				return false;
		}
		return true;
	case VT_CONTACT:
	case VT_FACTORS:
	case VT_FOR:
		return match_members(sub_members(vt), want, got);
	default:
		return json_equal(want, got);
	}
}

/* --- reading and checking a fixture ----------------------------------- */

static int
read_file(struct fixture *fx)
{
	FILE *f = fopen(fx->path, "rb");
	struct buf b;
	char chunk[65536];
	size_t n;
	int rc = -1;

	buf_init(&b);
	if (f == NULL)
		goto out;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		buf_append(&b, chunk, n);
	if (ferror(f))
		goto out;
	fx->len = buf_size(&b);
	fx->data = xmalloc(fx->len + 1);
	memcpy(fx->data, buf_data(&b), fx->len);
	fx->data[fx->len] = '\0';
	rc = 0;
out:
	if (f != NULL)
		fclose(f);
	buf_fini(&b);
	return rc;
}

static void
check_expect(struct run *r, struct fixture *fx, struct fline *l)
{
	const struct ruleset *rs = r->rs;
	json_t *ex = l->expect, *v;
	const char *k;
	struct buf why;
	int nwhat = 0, w, f;

	buf_init(&why);
	if (!json_is_object(ex)) {
		bad_line(
		    r, fx, l, "expect: expected an object {\"account\":A, X}");
		goto out;
	}
	json_object_foreach(ex, k, v)
	{
		if (strcmp(k, "account") == 0)
			continue;
		for (w = 0; w < W_COUNT; w++)
			if (strcmp(k, what_names[w]) == 0)
				break;
		if (w == W_COUNT) {
			bad_line(r, fx, l,
			    "expect: unknown member \"%s\" (account and one of stage, facts, task, no_task)",
			    k);
			goto out;
		}
		l->what = (enum fx_what)w;
		l->want = v;
		nwhat++;
	}
	l->account = json_string_value(json_object_get(ex, "account"));
	if (l->account == NULL || l->account[0] == '\0') {
		bad_line(r, fx, l, "expect: account: expected an account id");
		goto out;
	}
	if (nwhat != 1) {
		bad_line(r, fx, l,
		    "expect: expected exactly one of stage, facts, task, no_task");
		goto out;
	}
	switch (l->what) {
	case W_STAGE:
		if (!json_is_string(l->want)) {
			bad_line(
			    r, fx, l, "expect: stage: expected a stage name");
			break;
		}
		if (!check_value(rs, VT_STAGE, l->want, &why)) {
			buf_append(&why, "", 1);
			bad_line(r, fx, l, "expect: stage: %s", buf_data(&why));
		}
		break;
	case W_FACTS:
		if (!json_is_object(l->want) ||
		    json_object_size(l->want) == 0) {
			bad_line(r, fx, l,
			    "expect: facts: expected a non-empty object {NAME: VALUE}");
			break;
		}
		json_object_foreach(l->want, k, v)
		{
			if ((f = fact_find(k)) < 0) {
				bad_line(r, fx, l,
				    "expect: facts: unknown fact \"%s\"", k);
				break;
			}
			if (!check_value(
			        rs, fact_vt((enum rules_fact)f), v, &why)) {
				buf_append(&why, "", 1);
				bad_line(r, fx, l, "expect: facts: %s: %s", k,
				    buf_data(&why));
				break;
			}
		}
		break;
	case W_TASK:
	case W_NO_TASK:
		if (!json_is_object(l->want)) {
			bad_line(r, fx, l,
			    "expect: %s: expected an object {MEMBER: VALUE}",
			    what_names[l->what]);
			break;
		}
		json_object_foreach(l->want, k, v)
		{
			const struct member *m = member_find(task_members, k);

			if (m == NULL) {
				bad_line(r, fx, l,
				    "expect: %s: \"%s\" is not a member of a task record",
				    what_names[l->what], k);
				break;
			}
			if (!check_value(rs, m->vt, v, &why)) {
				buf_append(&why, "", 1);
				bad_line(r, fx, l, "expect: %s: %s: %s",
				    what_names[l->what], k, buf_data(&why));
				break;
			}
		}
		break;
	case W_COUNT:
		break;
	}
out:
	buf_fini(&why);
}

/* Whether o's members are exactly the names given (NULL-ended). */
static bool
members_are(json_t *o, const char *const *names)
{
	size_t n = 0;

	for (; names[n] != NULL; n++)
		if (json_object_get(o, names[n]) == NULL)
			return false;
	return json_object_size(o) == n;
}

/*
 * Classifies and checks every line; reports each malformed one.  clk:
 * the clock as the lines before leave it (for `at`).
 */
static void
check_fixture(struct run *r, struct fixture *fx)
{
	static const char *const start_keys[] = { "start", "timezone", NULL };
	static const char *const at_keys[] = { "at", NULL };
	static const char *const expect_keys[] = { "expect", NULL };
	static const char *const comment_keys[] = { "comment", NULL };
	struct lines lr;
	struct line ln;
	struct fline *l;
	json_error_t jerr;
	json_t *o;
	const char *s, *why = "";
	bool first = true, clock_ok = false;
	int64_t clk = 0;

	lines_init(&lr, LINES_MAX);
	lines_feed(&lr, fx->data, fx->len);
	lines_eof(&lr);
	while (lines_next(&lr, &ln) == 1) {
		if (fx->n == fx->cap) {
			fx->cap = fx->cap ? 2 * fx->cap : 64;
			fx->v = xreallocarray(fx->v, fx->cap, sizeof(*fx->v));
		}
		l = &fx->v[fx->n++];
		memset(l, 0, sizeof(*l));
		l->no = (int)ln.no;
		l->s = ln.s;
		l->len = ln.len;
		l->kind = FL_BAD;
		if (ln.kind == LINE_BLANK) {
			l->kind = FL_BLANK;
			continue;
		}
		if (ln.kind == LINE_TOO_LONG) {
			bad_line(r, fx, l, "line too long");
			first = false;
			continue;
		}
		/* An event line goes to the ingest as written (§2.2 there). */
		o = json_loadb(ln.s, ln.len, 0, &jerr);
		if (json_is_object(o) && json_object_get(o, "type") != NULL) {
			json_decref(o);
			l->kind = FL_EVENT;
			if (first)
				bad_line(r, fx, l,
				    "the first line must be {\"start\":TIME,\"timezone\":ZONE}");
			first = false;
			continue;
		}
		json_decref(o);
		o = l->root =
		    json_loadb(ln.s, ln.len, JSON_REJECT_DUPLICATES, &jerr);
		if (o == NULL) {
			bad_line(r, fx, l, "bad JSON: %s", jerr.text);
			first = false;
			continue;
		}
		if (!json_is_object(o)) {
			bad_line(r, fx, l, "not a JSON object");
			first = false;
			continue;
		}
		if (json_object_get(o, "comment") != NULL) {
			l->kind = FL_COMMENT;
			if (!members_are(o, comment_keys) ||
			    !json_is_string(json_object_get(o, "comment")))
				bad_line(r, fx, l,
				    "a comment line is {\"comment\":TEXT} alone");
			continue;
		}
		if (json_object_get(o, "expect") != NULL) {
			l->kind = FL_EXPECT;
			fx->nexpect++;
			l->expect = json_object_get(o, "expect");
		}
		if (first) {
			first = false;
			if (!members_are(o, start_keys)) {
				bad_line(r, fx, l,
				    "the first line must be {\"start\":TIME,\"timezone\":ZONE}");
				continue;
			}
			l->kind = FL_START;
			s = json_string_value(json_object_get(o, "start"));
			if (s == NULL ||
			    clock_parse_ts(s, strlen(s), &l->t, &why) == -1) {
				bad_line(r, fx, l,
				    "start: %s%s%s is not an RFC 3339 timestamp with an offset%s%s",
				    s ? "\"" : "", s ? s : "the value",
				    s ? "\"" : "",
				    s && ts_why(why)[0] ? ": " : "",
				    s ? ts_why(why) : "");
				continue;
			}
			s = json_string_value(json_object_get(o, "timezone"));
			if (s == NULL || clock_tz_set(s) == -1) {
				bad_line(r, fx, l,
				    "timezone: unknown time zone%s%s%s (an IANA name from tzdata, e.g. \"Asia/Shanghai\")",
				    s ? " \"" : "", s ? s : "", s ? "\"" : "");
				continue;
			}
			if (clock_local_date(l->t) > CLOCK_MAX_DAY) {
				bad_line(r, fx, l,
				    "start: after 9999-12-31T23:59:59 in the zone");
				continue;
			}
			fx->zone = xstrdup(s);
			fx->start = clk = l->t;
			fx->has_start = clock_ok = true;
			if (r->o->conf_zone != NULL &&
			    strcmp(r->o->conf_zone, s) != 0)
				say(r,
				    "%s:%d: warning: timezone \"%s\" differs from dunnd.conf's \"%s\"\n",
				    fx->path, l->no, s, r->o->conf_zone);
			continue;
		}
		if (l->kind == FL_EXPECT) {
			if (!members_are(o, expect_keys))
				bad_line(r, fx, l,
				    "an expect line is {\"expect\":{\"account\":A, X}} alone");
			else
				check_expect(r, fx, l);
			continue;
		}
		if (json_object_get(o, "at") != NULL) {
			l->kind = FL_AT;
			s = json_string_value(json_object_get(o, "at"));
			if (!members_are(o, at_keys)) {
				bad_line(r, fx, l,
				    "an at line is {\"at\":TIME} alone");
				continue;
			}
			if (s == NULL ||
			    clock_parse_ts(s, strlen(s), &l->t, &why) == -1) {
				bad_line(r, fx, l,
				    "at: %s%s%s is not an RFC 3339 timestamp with an offset%s%s",
				    s ? "\"" : "", s ? s : "the value",
				    s ? "\"" : "",
				    s && ts_why(why)[0] ? ": " : "",
				    s ? ts_why(why) : "");
				continue;
			}
			if (clock_ok && l->t < clk) {
				char buf[CLOCK_TS_LEN];

				clock_format_ts(clk, buf);
				bad_line(r, fx, l,
				    "at: %s is before the clock (%s): the clock only moves forward",
				    s, buf);
				continue;
			}
			if (clock_ok &&
			    clock_local_date(l->t) > CLOCK_MAX_DAY) {
				bad_line(r, fx, l,
				    "at: after 9999-12-31T23:59:59 in the zone");
				continue;
			}
			clk = l->t;
			continue;
		}
		if (json_object_get(o, "start") != NULL) {
			bad_line(r, fx, l,
			    "only the first line may be {\"start\":TIME,\"timezone\":ZONE}");
			continue;
		}
		bad_line(r, fx, l,
		    "not a fixture line: expected an event (with \"type\"), {\"at\":TIME}, {\"expect\":{...}} or {\"comment\":TEXT}");
	}
	lines_fini(&lr);
	if (!fx->has_start && first) {
		say(r, "%s: no {\"start\":TIME,\"timezone\":ZONE} line\n",
		    fx->path);
		fx->malformed = true;
	}
}

/* --- running ---------------------------------------------------------- */

/* One expectation's object with --json. */
static void
emit_json(
    struct run *r, struct fixture *fx, struct fline *l, bool ok, json_t *found)
{
	json_t *o = json_pack("{s:s,s:i,s:b,s:O,s:O}", "fixture", fx->path,
	    "line", l->no, "ok", ok, "expected",
	    l->expect != NULL ? l->expect : json_null(), "found",
	    found != NULL ? found : json_null());
	char *s = dump(o);

	fprintf(r->o->out, "%s\n", s);
	free(s);
	json_decref(o);
}

/* Expectations from line index i on that will not run: all failed. */
static void
not_run(struct run *r, struct fixture *fx, size_t i, const char *why)
{
	size_t n = 0;

	for (; i < fx->n; i++) {
		if (fx->v[i].kind != FL_EXPECT)
			continue;
		n++;
		r->failed++;
		if (r->o->json)
			emit_json(r, fx, &fx->v[i], false, NULL);
	}
	if (n > 0)
		say(r, "%s: %zu expectation%s not run (%s)\n", fx->path, n,
		    n == 1 ? "" : "s", why);
}

/* The task records added to the feed after seq from (a new array). */
static json_t *
tasks_since(struct engine *e, int64_t from)
{
	struct store *s = e->store;
	json_t *arr = json_array(), *rec;
	int rc, rows;

	do {
		rows = 0;
		for (rc = store_q(
		         s, Q_FEED_FROM, "ii", from, (int64_t)FEED_PAGE);
		     rc == 1; rc = store_next(s, Q_FEED_FROM)) {
			rows++;
			from = store_col_int(s, Q_FEED_FROM, 0);
			rec = json_loads(
			    store_col_text(s, Q_FEED_FROM, 1), 0, NULL);
			if (json_is_string(json_object_get(rec, "kind")) &&
			    strcmp(
			        json_string_value(json_object_get(rec, "kind")),
			        "task") == 0)
				json_array_append(arr, rec);
			json_decref(rec);
		}
		store_done(s, Q_FEED_FROM);
	} while (rc == 0 && rows == FEED_PAGE);
	return arr;
}

/* "T-000003 stage:negotiation#1: {the members asked about}". */
static void
print_task(struct run *r, json_t *rec, json_t *want)
{
	json_t *shown = json_object(), *v;
	const char *k;
	char *s;

	json_object_foreach(want, k, v)
	{
		(void)v;
		json_object_set(shown, k,
		    json_object_get(rec, k) ? json_object_get(rec, k)
		                            : json_null());
	}
	s = dump(shown);
	say(r, "  %s %s: %s\n",
	    json_string_value(json_object_get(rec, "task"))
	        ? json_string_value(json_object_get(rec, "task"))
	        : "?",
	    json_string_value(json_object_get(rec, "source"))
	        ? json_string_value(json_object_get(rec, "source"))
	        : "?",
	    s);
	free(s);
	json_decref(shown);
}

/*
 * One expectation at now.  tasks: the task records of the group (every
 * account); since: the line of the previous group, 0 = the start.
 */
static void
expect_one(struct run *r, struct fixture *fx, struct fline *l, struct engine *e,
    int64_t now, json_t *tasks, int since)
{
	struct acct *a = engine_get(e, l->account);
	json_t *ex = NULL, *found = NULL, *facts, *rec, *mine = NULL;
	const char *k;
	json_t *v;
	size_t i, nmatch = 0;
	bool ok = false;
	char *ws, *fs, sincebuf[32];

	if (a != NULL && (ex = explain_account(e, a, now)) == NULL) {
		say(r, "%s:%d: database error: %s\n", fx->path, l->no,
		    store_errmsg(e->store));
		goto done;
	}
	if (a != NULL) {
		switch (l->what) {
		case W_STAGE:
			found = json_incref(json_object_get(ex, "stage"));
			ok = json_equal(found, l->want);
			break;
		case W_FACTS:
			facts = json_object_get(ex, "facts");
			found = json_object();
			ok = true;
			json_object_foreach(l->want, k, v)
			{
				json_t *g = json_object_get(facts, k);

				json_object_set(
				    found, k, g != NULL ? g : json_null());
				ok = ok &&
				    match(
				        fact_vt((enum rules_fact)fact_find(k)),
				        v, g);
			}
			break;
		case W_TASK:
		case W_NO_TASK:
			found = json_array();
			mine = json_array();
			json_array_foreach(tasks, i, rec)
			{
				if (!json_equal(json_object_get(rec, "account"),
				        json_object_get(l->expect, "account")))
					continue;
				json_array_append(found, rec);
				if (match_members(task_members, l->want, rec)) {
					json_array_append(mine, rec);
					nmatch++;
				}
			}
			ok = l->what == W_TASK ? nmatch > 0 : nmatch == 0;
			break;
		case W_COUNT:
			break;
		}
	}
done:
	if (ok)
		r->passed++;
	else
		r->failed++;
	if (r->o->json)
		emit_json(r, fx, l, ok, found);
	if (ok || r->o->json)
		goto out;

	ws = dump(l->want);
	fs = dump(found);
	if (since > 0)
		snprintf(sincebuf, sizeof(sincebuf), "line %d", since);
	else
		snprintf(sincebuf, sizeof(sincebuf), "the start");
	say(r, "%s:%d: account %s: ", fx->path, l->no, l->account);
	if (a == NULL)
		say(r, "expected %s %s, found no such account\n",
		    what_names[l->what], ws);
	else if (l->what == W_STAGE || l->what == W_FACTS)
		say(r, "expected %s %s, found %s\n", what_names[l->what], ws,
		    fs);
	else if (l->what == W_TASK) {
		say(r, "expected a task %s since %s, found ", ws, sincebuf);
		if (json_array_size(found) == 0)
			say(r, "none\n");
		else {
			say(r, "only:\n");
			json_array_foreach(found, i, rec)
			    print_task(r, rec, l->want);
		}
	} else {
		say(r, "expected no task %s since %s, found %zu:\n", ws,
		    sincebuf, nmatch);
		json_array_foreach(mine, i, rec) print_task(r, rec, l->want);
	}
	free(ws);
	free(fs);
	if (ex != NULL) {
		fflush(r->o->out);
		if (r->o->explain != NULL)
			r->o->explain(ex, r->o->explain_arg);
		else {
			char *s = json_dumps(ex, JSON_INDENT(2));

			fprintf(r->o->out, "%s\n", s);
			free(s);
		}
	}
out:
	json_decref(ex);
	json_decref(found);
	json_decref(mine);
}

/* The fixture line of a batch's first bad line, and why. */
static void
report_refusal(struct run *r, struct fixture *fx, int first_no,
    const struct ingest_batch *b)
{
	const struct ingest_result *res;
	size_t i;

	for (i = 0; i < b->n; i++) {
		res = &b->v[i];
		if (res->status != INGEST_ERROR)
			continue;
		say(r, "%s:%d: batch refused: %s: %s\n", fx->path,
		    first_no + (int)res->line - 1,
		    res->field != NULL ? res->field : "(line)", res->error);
		return;
	}
	say(r, "%s:%d: batch not committed: %s\n", fx->path, first_no,
	    b->cause[0] ? b->cause : "unknown cause");
}

static void
remove_store(const char *path)
{
	static const char *const suffixes[] = { "", "-wal", "-shm", ".lock",
		"-journal", NULL };
	char p[256];
	size_t i;

	for (i = 0; suffixes[i] != NULL; i++) {
		snprintf(p, sizeof(p), "%s%s", path, suffixes[i]);
		unlink(p);
	}
}

static void
run_fixture(struct run *r, struct fixture *fx)
{
	struct store *s = NULL;
	struct engine e;
	struct ingest_batch b;
	struct buf text;
	char path[128], err[STORE_ERR_LEN];
	bool opened = false;
	int64_t now = fx->start, mark = 0;
	size_t i, j, last, k;
	int since = 0;
	json_t *tasks;

	buf_init(&text);
	snprintf(path, sizeof(path), "%s/fixture.db", r->dir);
	remove_store(path);
	/* The process's zone and test clock are the fixture's. */
	if (clock_tz_set(fx->zone) == -1) {
		say(r, "%s: timezone \"%s\" vanished\n", fx->path, fx->zone);
		goto broken;
	}
	clock_test_start(fx->start);
	if (store_open(path, &s, err, sizeof(err)) == -1) {
		say(r, "%s: cannot open a private store: %s\n", fx->path, err);
		goto broken;
	}
	/* Private and thrown away: no fsync per step. */
	if (store_set_scratch(s) == -1) {
		say(r, "%s: cannot set up the private store: %s\n", fx->path,
		    store_errmsg(s));
		goto broken;
	}
	if (engine_open(
	        &e, s, r->rs, false, CONF_SWEEP_MIN_DEFAULT, fx->start) == -1) {
		say(r, "%s: cannot open the portfolio\n", fx->path);
		goto broken;
	}
	opened = true;
	/* As server_start_rules() for a database without rules. */
	if (engine_reload(&e, r->rs, fx->start, NULL, 0) == -1) {
		say(r, "%s: cannot install the rule set: %s\n", fx->path,
		    store_errmsg(s));
		goto broken;
	}
	for (i = 0; i < fx->n; i++) {
		struct fline *l = &fx->v[i];

		switch (l->kind) {
		case FL_EVENT:
			/* Event lines up to the next other line: one batch. */
			for (j = last = i; j < fx->n; j++) {
				if (fx->v[j].kind == FL_EVENT)
					last = j;
				else if (fx->v[j].kind != FL_BLANK &&
				    fx->v[j].kind != FL_COMMENT)
					break;
			}
			buf_clear(&text);
			for (k = i; k <= last; k++) {
				if (fx->v[k].kind == FL_EVENT)
					buf_append(
					    &text, fx->v[k].s, fx->v[k].len);
				buf_append(&text, "\n", 1);
			}
			if (engine_run_until(&e, now) != 0) {
				say(r, "%s:%d: a step failed to commit: %s\n",
				    fx->path, l->no, store_errmsg(s));
				goto stopped;
			}
			ingest_run(&e, now, buf_data(&text), buf_size(&text),
			    false, &b);
			if (!b.committed || b.counts[INGEST_ERROR] > 0) {
				report_refusal(r, fx, l->no, &b);
				ingest_batch_fini(&b);
				r->failing = true;
				not_run(r, fx, last + 1,
				    "the fixture stopped at the refused batch");
				goto out;
			}
			ingest_batch_fini(&b);
			i = last;
			break;
		case FL_AT:
			if (l->t > now) {
				if (engine_run_until(&e, l->t) != 0) {
					say(r,
					    "%s:%d: a step failed to commit: %s\n",
					    fx->path, l->no, store_errmsg(s));
					goto stopped;
				}
				clock_test_set(l->t);
				now = l->t;
			}
			break;
		case FL_EXPECT:
			for (j = last = i; j < fx->n; j++) {
				if (fx->v[j].kind == FL_EXPECT)
					last = j;
				else if (fx->v[j].kind != FL_BLANK &&
				    fx->v[j].kind != FL_COMMENT)
					break;
			}
			tasks = tasks_since(&e, mark);
			for (k = i; k <= last; k++)
				if (fx->v[k].kind == FL_EXPECT)
					expect_one(r, fx, &fx->v[k], &e, now,
					    tasks, since);
			json_decref(tasks);
			mark = e.feed_head;
			since = fx->v[last].no;
			i = last;
			break;
		default:
			break;
		}
	}
	goto out;
stopped:
	r->failing = true;
	not_run(r, fx, i + 1, "the fixture stopped");
	goto out;
broken:
	r->failing = true;
	not_run(r, fx, 0, "the fixture could not run");
out:
	if (opened)
		engine_close(&e);
	store_close(s);
	remove_store(path);
	buf_fini(&text);
}

static void
fixture_free(struct fixture *fx)
{
	size_t i;

	for (i = 0; i < fx->n; i++)
		json_decref(fx->v[i].root);
	free(fx->v);
	free(fx->data);
	free(fx->zone);
}

int
fixture_run(const char *rules_dir, const char *const *paths, size_t n,
    const struct fixture_opts *o)
{
	struct run r;
	struct diags ds;
	struct ruleset *rs;
	char line[DIAG_MSG_MAX + 300];
	size_t i;

	memset(&r, 0, sizeof(r));
	r.o = o;
	/* The private stores' lifecycle (schema migrated ...) is no news. */
	log_init(true, LOG_LEVEL_WARNING);
	diags_init(&ds);
	rs = rules_load_dir(rules_dir, &ds);
	r.rs = rs;
	if (rs == NULL) {
		for (i = 0; i < ds.n; i++) {
			diag_format(&ds.v[i], line, sizeof(line));
			say(&r, "%s\n", line);
		}
		say(&r, "%s: the rule set has %zu error%s: no fixture runs\n",
		    rules_dir, ds.errors, ds.errors == 1 ? "" : "s");
		r.malformed = true;
	}
	diags_fini(&ds);
	snprintf(r.dir, sizeof(r.dir), "/tmp/dunnctl-test-rules-XXXXXX");
	if (rs != NULL && mkdtemp(r.dir) == NULL) {
		say(&r,
		    "dunnctl: test-rules: cannot create a temporary directory: %s\n",
		    strerror(errno));
		r.dir[0] = '\0';
		r.malformed = true;
	}
	for (i = 0; i < n; i++) {
		struct fixture fx;

		memset(&fx, 0, sizeof(fx));
		fx.path = paths[i];
		if (read_file(&fx) == -1) {
			say(&r, "%s: cannot read: %s\n", fx.path,
			    strerror(errno));
			r.malformed = true;
			continue;
		}
		check_fixture(&r, &fx);
		if (fx.malformed) {
			r.malformed = true;
			not_run(&r, &fx, 0, "malformed fixture");
		} else if (rs == NULL)
			not_run(&r, &fx, 0, "the rule set has errors");
		else if (r.dir[0] != '\0')
			run_fixture(&r, &fx);
		else
			not_run(&r, &fx, 0, "no temporary directory");
		fixture_free(&fx);
	}
	if (r.dir[0] != '\0' && rs != NULL)
		rmdir(r.dir);
	rules_free(rs);
	if (o->json) {
		fprintf(o->out, "{\"passed\":%lld,\"failed\":%lld}\n",
		    (long long)r.passed, (long long)r.failed);
		fflush(o->err);
	} else
		fprintf(o->out, "%lld passed, %lld failed\n",
		    (long long)r.passed, (long long)r.failed);
	if (r.malformed)
		return FIXTURE_MALFORMED;
	return r.failing || r.failed > 0 ? FIXTURE_FAILED : FIXTURE_OK;
}
