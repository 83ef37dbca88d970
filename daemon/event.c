/*
 * event — validation of one ingest line (interfaces.md §2, §2.1, §2.2
 * steps 1-6) into a struct event, and its canonical form (step 7).
 *
 * Called by ingest, once per non-blank line, after lines.h has framed it.
 * Pure: no I/O, no global state; every call stands alone.
 *
 * Why a tokenizer of our own (jdoc.c) and not jansson.  The contract needs three
 * things jansson's DOM has lost by the time it returns: numbers "as
 * written" (1e2 and 100.0 are errors, 99999999999999999999999 is an
 * `amount` error and not malformed JSON, where jansson fails with "too
 * big integer"), the top-level member that holds a duplicate name at any
 * depth (JSON_REJECT_DUPLICATES names only the inner key, near a byte
 * offset), and the order of step 1's checks.  A raw pre-scan for those would read the
 * line twice and need its own JSON grammar anyway; jansson would then add
 * a heap allocation per value.  So one pass over the bytes builds a flat
 * array of nodes (pre-order, each with the index just past its subtree)
 * that points into the line; only strings holding escapes are unescaped,
 * into an arena.  Both arrays start on the stack, so a usual line costs no
 * allocation until the event is built (one block for its strings).
 * Measured by bench/bench_event.c (gcc -O2, one AMD EPYC core, 159-byte
 * lines of every type): framing + event_parse() + event_fini() ~0.8 us a
 * line (~1.2 million lines/s); json_loadb() alone, without any of our
 * checks, ~2.4 us.
 *
 * Invariants:
 * (1) step 1 reports by kind, not by position: too long, then invalid
 *     UTF-8 anywhere, then a BOM, then malformed JSON anywhere, then the
 *     first I-JSON violation, then "not an object", then a duplicate;
 * (2) a duplicate is the one whose second name comes first in the line,
 *     and its field is the top-level member that holds that second name;
 * (3) steps 2-6 check fields in the order of the type's row (required,
 *     then optional) and stop at the first error;
 * (4) the digest is taken over event_encode()'s text, which is a
 *     one-to-one image of the canonical form of §2.2 step 7 (members
 *     sorted, strings unescaped, numbers as written): a valid event has no
 *     member outside its row, its integers have one written form (JSON
 *     forbids leading zeros and we refuse "-0"), and dates and timestamps
 *     are kept as written.
 */
#include "event.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "hash.h"
#include "jdoc.h"
#include "util.h"

/* --- The table of §2 --------------------------------------------------- */

/* Members, in byte order of their names: the canonical order (step 7). */
enum field {
	F_ACCOUNT,
	F_ALLOW_CREDIT_BALANCE,
	F_AMOUNT,
	F_AT,
	F_CASH_IN_DAY,
	F_CONTACTS,
	F_CURRENCY,
	F_DISTANCE_KM,
	F_DUE,
	F_EVENT,
	F_ID,
	F_INVOICE,
	F_ISSUED,
	F_NAME,
	F_NOTE,
	F_PAUSED,
	F_REASON,
	F_RESULT,
	F_RISK,
	F_SIZE,
	F_TAGS,
	F_TASK,
	F_TYPE,
	F_UPHELD_AMOUNT,
	F_COUNT
};

static const char *const field_names[F_COUNT] = { "account",
	"allow_credit_balance", "amount", "at", "cash_in_day", "contacts",
	"currency", "distance_km", "due", "event", "id", "invoice", "issued",
	"name", "note", "paused", "reason", "result", "risk", "size", "tags",
	"task", "type", "upheld_amount" };

#define ROW_MAX 10

/*
 * A row of §2's table: its fields in the row's order, required first.
 * `account` requires only `account` here; `name`, `currency`, `size` are
 * required of a new account, which step 8 decides, but their values are
 * checked in step 6 in that place of the row.
 */
struct row {
	const char *name;
	size_t nreq, n;
	enum field f[ROW_MAX];
};

static const struct row rows[] = {
	[EVENT_ACCOUNT] = { "account", 1, 10,
	    { F_ACCOUNT, F_NAME, F_CURRENCY, F_SIZE, F_RISK, F_CASH_IN_DAY,
	        F_DISTANCE_KM, F_PAUSED, F_CONTACTS, F_TAGS } },
	[EVENT_INVOICE] = { "invoice", 5, 6,
	    { F_ACCOUNT, F_INVOICE, F_AMOUNT, F_ISSUED, F_DUE, F_CURRENCY } },
	[EVENT_PAYMENT] = { "payment", 3, 6,
	    { F_ACCOUNT, F_AMOUNT, F_AT, F_INVOICE, F_ALLOW_CREDIT_BALANCE,
	        F_CURRENCY } },
	[EVENT_CREDIT] = { "credit", 4, 5,
	    { F_ACCOUNT, F_INVOICE, F_AMOUNT, F_AT, F_CURRENCY } },
	[EVENT_PROMISE] = { "promise", 4, 6,
	    { F_ACCOUNT, F_AMOUNT, F_DUE, F_AT, F_TASK, F_CURRENCY } },
	[EVENT_DISPUTE] = { "dispute", 5, 6,
	    { F_ACCOUNT, F_INVOICE, F_AMOUNT, F_REASON, F_AT, F_CURRENCY } },
	[EVENT_DISPUTE_RESOLVED] = { "dispute_resolved", 3, 5,
	    { F_ACCOUNT, F_INVOICE, F_AT, F_UPHELD_AMOUNT, F_CURRENCY } },
	[EVENT_OUTCOME] = { "outcome", 3, 4,
	    { F_TASK, F_RESULT, F_AT, F_NOTE } },
	[EVENT_REVERSAL] = { "reversal", 3, 4,
	    { F_ACCOUNT, F_EVENT, F_AT, F_REASON } },
};

#define NTYPES ((int)(sizeof(rows) / sizeof(rows[0])))

static const char *const size_names[] = { NULL, "small", "medium", "large" };
static const char *const result_names[] = { NULL, "reached", "no_answer",
	"wrong_contact", "promise", "dispute", "refused", "paid", "done",
	"approved", "rejected" };
static const char *const role_names[] = { NULL, "owner", "president",
	"general_manager", "cfo", "finance_director", "ap_manager",
	"financial_controller", "accountant", "sales", "other" };

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

const char *
event_type_name(enum event_type type)
{
	if ((int)type <= 0 || (int)type >= NTYPES)
		return NULL;
	return rows[type].name;
}

const char *
event_size_name(enum event_size size)
{
	return (size_t)size < NELEM(size_names) ? size_names[size] : NULL;
}

const char *
event_result_name(enum event_result result)
{
	return (size_t)result < NELEM(result_names) ? result_names[result]
	                                            : NULL;
}

const char *
event_role_name(enum event_role role)
{
	return (size_t)role < NELEM(role_names) ? role_names[role] : NULL;
}

/* The index of the name s[0..n) in names[1..count), or 0. */
static int
lookup(const char *const *names, size_t count, const char *s, size_t n)
{
	size_t i;

	for (i = 1; i < count; i++)
		if (names[i][0] == s[0] && strlen(names[i]) == n &&
		    memcmp(names[i], s, n) == 0)
			return (int)i;
	return 0;
}

static int
field_lookup(const char *s, size_t n)
{
	int i;

	if (n == 0)
		return -1;
	for (i = 0; i < F_COUNT; i++)
		if (field_names[i][0] == s[0] && strlen(field_names[i]) == n &&
		    memcmp(field_names[i], s, n) == 0)
			return i;
	return -1;
}

/* --- Steps 2-6 --------------------------------------------------------- */

struct check {
	struct jdoc *j;
	struct event *ev;
	struct diag *d;
	const struct row *row;
	uint32_t val[F_COUNT]; /* value node of each member present, or 0 */
};

/*
 * Copies up to max bytes of s for a message: cut at a character boundary,
 * control characters as '?', "..." when cut.
 */
static const char *
snip(char *out, size_t outsz, const char *s, size_t n, size_t max)
{
	size_t i, k = 0;
	bool cut = false;

	if (n > max) {
		n = max;
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
		cut = true;
	}
	assert(outsz > max + 3);
	for (i = 0; i < n; i++)
		out[k++] = (unsigned char)s[i] < 0x20 ? '?' : s[i];
	if (cut) {
		memcpy(out + k, "...", 3);
		k += 3;
	}
	out[k] = '\0';
	return out;
}

#define SNIP_MAX 40
#define SNIP_BUF (SNIP_MAX + 4)

/* A member name as a diag field: cut to fit at a character boundary. */
static const char *
field_of(char *out, size_t outsz, const char *s, size_t n)
{
	if (n >= outsz) {
		n = outsz - 1;
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
	}
	memcpy(out, s, n);
	out[n] = '\0';
	return out;
}

static const char *
jtype_name(const struct jnode *nd)
{
	switch (nd->type) {
	case J_OBJECT:
		return "an object";
	case J_ARRAY:
		return "an array";
	case J_STRING:
		return "a string";
	case J_NUMBER:
		return "a number";
	case J_TRUE:
	case J_FALSE:
		return "a boolean";
	default:
		return "null";
	}
}

/*
 * Is the string s[0..n) an id (§1)?  If not, why not in why (a buffer of
 * at least 48 bytes).
 */
bool
event_is_id(const char *s, size_t n, char *why, size_t whysz)
{
	size_t i;
	char c;

	if (n == 0) {
		snprintf(why, whysz, "empty");
		return false;
	}
	if (n > EVENT_ID_MAX) {
		snprintf(why, whysz, "%zu bytes, more than 64", n);
		return false;
	}
	for (i = 0; i < n; i++) {
		c = s[i];
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    jdoc_is_digit(c) || c == '.' || c == '_' || c == ':' ||
		    c == '-')
			continue;
		if ((unsigned char)c >= 0x80)
			snprintf(
			    why, whysz, "non-ASCII character at %zu", i + 1);
		else if ((unsigned char)c < 0x20 || c == 0x7f)
			snprintf(why, whysz, "control character at %zu", i + 1);
		else
			snprintf(why, whysz, "'%c' at %zu", c, i + 1);
		return false;
	}
	return true;
}

#define ID_RULE "1-64 of A-Z a-z 0-9 . _ : -"
#define WHY_LEN 48

/* The value of an id member (ids are at most 64 bytes: fixed buffers). */
static int
check_id(struct check *c, enum field f, uint32_t v, char out[EVENT_ID_MAX + 1])
{
	const struct jnode *nd = &c->j->nodes[v];
	const char *s;
	char why[WHY_LEN];

	if (nd->type != J_STRING)
		return diag_set(c->d, field_names[f],
		    "must be an id string, not %s", jtype_name(nd));
	s = jdoc_bytes(c->j, nd);
	if (!event_is_id(s, nd->len, why, sizeof(why)))
		return diag_set(
		    c->d, field_names[f], "not an id (%s): %s", ID_RULE, why);
	memcpy(out, s, nd->len);
	out[nd->len] = '\0';
	return 0;
}

/* A JSON integer as written (no fraction, no exponent, no sign), lo-hi. */
static int
check_int(struct check *c, enum field f, uint32_t v, int64_t lo, int64_t hi,
    int64_t *out)
{
	const struct jnode *nd = &c->j->nodes[v];
	const char *s = c->j->s + nd->off;
	int64_t x = 0;
	uint32_t i;

	if (nd->type != J_NUMBER)
		return diag_set(c->d, field_names[f],
		    "must be a JSON integer, not %s", jtype_name(nd));
	if (nd->flags & J_FRAC)
		return diag_set(c->d, field_names[f],
		    "must be an integer as written: no fraction");
	if (nd->flags & J_EXP)
		return diag_set(c->d, field_names[f],
		    "must be an integer as written: no exponent");
	/* 2^53 has 16 digits: more cannot be in range, and cannot overflow. */
	if ((nd->flags & J_MINUS) || nd->len > 16)
		goto range;
	for (i = 0; i < nd->len; i++)
		x = x * 10 + (s[i] - '0');
	if (x < lo || x > hi)
		goto range;
	*out = x;
	return 0;
range:
	return diag_set(c->d, field_names[f],
	    "out of range: must be %" PRId64 " to %" PRId64 "%s", lo, hi,
	    (nd->flags & J_MINUS) ? " (no minus sign)" : "");
}

static int
check_string(struct check *c, enum field f, uint32_t v, bool nonempty)
{
	const struct jnode *nd = &c->j->nodes[v];

	if (nd->type != J_STRING)
		return diag_set(c->d, field_names[f],
		    "must be a string, not %s", jtype_name(nd));
	if (nonempty && nd->len == 0)
		return diag_set(c->d, field_names[f], "must not be empty");
	return 0;
}

/* An enum given by name: names[1..count), reported as list. */
static int
check_enum(struct check *c, enum field f, uint32_t v, const char *const *names,
    size_t count, const char *list, int *out)
{
	const struct jnode *nd = &c->j->nodes[v];
	char buf[SNIP_BUF];
	int k;

	if (nd->type != J_STRING)
		return diag_set(c->d, field_names[f],
		    "must be one of %s, not %s", list, jtype_name(nd));
	k = nd->len ? lookup(names, count, jdoc_bytes(c->j, nd), nd->len) : 0;
	if (k == 0)
		return diag_set(c->d, field_names[f], "\"%s\" is not one of %s",
		    snip(buf, sizeof(buf), jdoc_bytes(c->j, nd), nd->len,
		        SNIP_MAX),
		    list);
	*out = k;
	return 0;
}

static int
check_bool(struct check *c, enum field f, uint32_t v, bool *out)
{
	const struct jnode *nd = &c->j->nodes[v];

	if (nd->type != J_TRUE && nd->type != J_FALSE)
		return diag_set(c->d, field_names[f],
		    "must be true or false, not %s", jtype_name(nd));
	*out = nd->type == J_TRUE;
	return 0;
}

static int
check_date(struct check *c, enum field f, uint32_t v, int32_t *day,
    char text[EVENT_DATE_LEN + 1])
{
	const struct jnode *nd = &c->j->nodes[v];
	const char *s, *why = "not YYYY-MM-DD";

	if (nd->type != J_STRING)
		return diag_set(c->d, field_names[f],
		    "must be a date string YYYY-MM-DD, not %s", jtype_name(nd));
	s = jdoc_bytes(c->j, nd);
	if (nd->len != EVENT_DATE_LEN ||
	    clock_parse_date(s, nd->len, day, &why) == -1)
		return diag_set(c->d, field_names[f], "not a date: %s", why);
	memcpy(text, s, nd->len);
	text[nd->len] = '\0';
	return 0;
}

static int
check_ts(struct check *c, enum field f, uint32_t v)
{
	const struct jnode *nd = &c->j->nodes[v];
	const char *s, *why = "too long";

	if (nd->type != J_STRING)
		return diag_set(c->d, field_names[f],
		    "must be a timestamp string, not %s", jtype_name(nd));
	s = jdoc_bytes(c->j, nd);
	if (nd->len > EVENT_TS_MAX ||
	    clock_parse_ts(s, nd->len, &c->ev->at, &why) == -1)
		return diag_set(
		    c->d, field_names[f], "not a timestamp: %s", why);
	memcpy(c->ev->at_text, s, nd->len);
	c->ev->at_text[nd->len] = '\0';
	return 0;
}

/* The members of contact i (object node o): role, name, phone, email. */
enum {
	C_ROLE,
	C_NAME,
	C_PHONE,
	C_EMAIL,
	C_COUNT
};
static const char *const contact_keys[C_COUNT] = { "role", "name", "phone",
	"email" };

static int
check_contact(struct check *c, uint32_t o, unsigned i, uint32_t cv[C_COUNT])
{
	const struct jdoc *j = c->j;
	const struct jnode *nd;
	char buf[SNIP_BUF];
	uint32_t k, m;
	int x;

	if (j->nodes[o].type != J_OBJECT)
		return diag_set(c->d, "contacts",
		    "contact %u: must be an object, not %s", i,
		    jtype_name(&j->nodes[o]));
	memset(cv, 0, C_COUNT * sizeof(*cv));
	for (k = o + 1, m = 0; m < j->nodes[o].len; m++) {
		nd = &j->nodes[k];
		for (x = 0; x < C_COUNT; x++)
			if (strlen(contact_keys[x]) == nd->len &&
			    memcmp(contact_keys[x], jdoc_bytes(j, nd),
			        nd->len) == 0)
				break;
		if (x == C_COUNT)
			return diag_set(c->d, "contacts",
			    "contact %u: unknown member \"%s\" (role, name, phone, email)",
			    i,
			    snip(buf, sizeof(buf), jdoc_bytes(j, nd), nd->len,
			        SNIP_MAX));
		cv[x] = k + 1;
		k = j->nodes[k + 1].next;
	}
	if (cv[C_ROLE] == 0)
		return diag_set(
		    c->d, "contacts", "contact %u: missing role", i);
	if (cv[C_NAME] == 0)
		return diag_set(
		    c->d, "contacts", "contact %u: missing name", i);
	if (cv[C_PHONE] == 0 && cv[C_EMAIL] == 0)
		return diag_set(c->d, "contacts",
		    "contact %u: needs a phone or an email", i);
	for (x = 0; x < C_COUNT; x++) {
		if (cv[x] == 0)
			continue;
		nd = &j->nodes[cv[x]];
		if (nd->type != J_STRING)
			return diag_set(c->d, "contacts",
			    "contact %u: %s must be a string, not %s", i,
			    contact_keys[x], jtype_name(nd));
		if (nd->len == 0)
			return diag_set(c->d, "contacts",
			    "contact %u: %s must not be empty", i,
			    contact_keys[x]);
		if (x == C_ROLE &&
		    lookup(role_names, NELEM(role_names), jdoc_bytes(j, nd),
		        nd->len) == 0)
			return diag_set(c->d, "contacts",
			    "contact %u: unknown role \"%s\"", i,
			    snip(buf, sizeof(buf), jdoc_bytes(j, nd), nd->len,
			        SNIP_MAX));
	}
	return 0;
}

static int
check_contacts(struct check *c, uint32_t v)
{
	const struct jnode *nd = &c->j->nodes[v];
	uint32_t cv[C_COUNT], k;
	unsigned i;

	if (nd->type != J_ARRAY)
		return diag_set(c->d, "contacts",
		    "must be an array of contacts, not %s", jtype_name(nd));
	if (nd->len > EVENT_CONTACTS_MAX)
		return diag_set(c->d, "contacts",
		    "more than %d contacts (%" PRIu32 ")", EVENT_CONTACTS_MAX,
		    nd->len);
	for (i = 1, k = v + 1; i <= nd->len; i++, k = c->j->nodes[k].next)
		if (check_contact(c, k, i, cv) == -1)
			return -1;
	c->ev->has_contacts = true;
	c->ev->ncontacts = nd->len;
	return 0;
}

static int
check_tags(struct check *c, uint32_t v)
{
	const struct jdoc *j = c->j;
	const struct jnode *nd = &j->nodes[v];
	uint32_t tag[EVENT_TAGS_MAX], k;
	char buf[SNIP_BUF], why[WHY_LEN];
	unsigned i, p;

	if (nd->type != J_ARRAY)
		return diag_set(c->d, "tags", "must be an array of ids, not %s",
		    jtype_name(nd));
	if (nd->len > EVENT_TAGS_MAX)
		return diag_set(c->d, "tags", "more than %d tags (%" PRIu32 ")",
		    EVENT_TAGS_MAX, nd->len);
	for (i = 0, k = v + 1; i < nd->len; i++, k = j->nodes[k].next) {
		if (j->nodes[k].type != J_STRING)
			return diag_set(c->d, "tags",
			    "tag %u: must be an id string, not %s", i + 1,
			    jtype_name(&j->nodes[k]));
		if (!event_is_id(jdoc_bytes(j, &j->nodes[k]), j->nodes[k].len,
		        why, sizeof(why)))
			return diag_set(c->d, "tags",
			    "tag %u: not an id (%s): %s", i + 1, ID_RULE, why);
		for (p = 0; p < i; p++)
			if (jdoc_name_eq(j, tag[p], k))
				return diag_set(c->d, "tags",
				    "tag %u repeats tag %u \"%s\"", i + 1,
				    p + 1,
				    snip(buf, sizeof(buf),
				        jdoc_bytes(j, &j->nodes[k]),
				        j->nodes[k].len, SNIP_MAX));
		tag[i] = k;
	}
	c->ev->has_tags = true;
	c->ev->ntags = nd->len;
	return 0;
}

/* Step 6 for one member present (invariant (3) is the caller's loop). */
static int
check_value(struct check *c, enum field f, uint32_t v)
{
	struct event *ev = c->ev;
	const struct jnode *nd = &c->j->nodes[v];
	const char *s;
	int64_t x;
	int k;
	uint32_t i;

	if (nd->type == J_NULL)
		return diag_set(c->d, field_names[f],
		    "must not be null (leave the member out)");
	switch (f) {
	case F_ACCOUNT:
		return check_id(c, f, v, ev->account);
	case F_INVOICE:
		return check_id(c, f, v, ev->invoice);
	case F_TASK:
		return check_id(c, f, v, ev->task);
	case F_EVENT:
		return check_id(c, f, v, ev->event_ref);
	case F_AMOUNT:
		ev->has_amount = true;
		return check_int(c, f, v, 1, MONEY_MAX, &ev->amount);
	case F_UPHELD_AMOUNT:
		ev->has_upheld_amount = true;
		return check_int(c, f, v, 1, MONEY_MAX, &ev->upheld_amount);
	case F_CASH_IN_DAY:
		ev->has_cash_in_day = true;
		if (check_int(c, f, v, 0, 31, &x) == -1) /* 0 clears it */
			return -1;
		ev->cash_in_day = (int)x;
		return 0;
	case F_DISTANCE_KM:
		ev->has_distance_km = true;
		if (check_int(c, f, v, 0, 20000, &x) == -1)
			return -1;
		ev->distance_km = (int)x;
		return 0;
	case F_NAME:
	case F_REASON:
		return check_string(c, f, v, true);
	case F_NOTE:
		return check_string(c, f, v, false);
	case F_CURRENCY:
		s = jdoc_bytes(c->j, nd);
		if (nd->type != J_STRING || nd->len != 3)
			goto currency;
		for (i = 0; i < 3; i++)
			if (s[i] < 'A' || s[i] > 'Z')
				goto currency;
		memcpy(ev->currency, s, 3);
		ev->currency[3] = '\0';
		return 0;
currency:
		return diag_set(c->d, field_names[f],
		    "must be 3 upper-case ASCII letters (like \"CNY\")");
	case F_SIZE:
		if (check_enum(c, f, v, size_names, NELEM(size_names),
		        "small, medium, large", &k) == -1)
			return -1;
		ev->size = (enum event_size)k;
		return 0;
	case F_RISK:
		s = jdoc_bytes(c->j, nd);
		if (nd->type != J_STRING || nd->len != 1 || s[0] < 'A' ||
		    s[0] > 'E')
			return diag_set(c->d, field_names[f],
			    "must be one of \"A\", \"B\", \"C\", \"D\", \"E\"");
		ev->risk = s[0];
		return 0;
	case F_PAUSED:
		ev->has_paused = true;
		return check_bool(c, f, v, &ev->paused);
	case F_ALLOW_CREDIT_BALANCE:
		ev->has_allow_credit_balance = true;
		return check_bool(c, f, v, &ev->allow_credit_balance);
	case F_ISSUED:
		ev->has_issued = true;
		return check_date(c, f, v, &ev->issued_day, ev->issued_text);
	case F_DUE:
		ev->has_due = true;
		return check_date(c, f, v, &ev->due_day, ev->due_text);
	case F_AT:
		ev->has_at = true;
		return check_ts(c, f, v);
	case F_RESULT:
		if (check_enum(c, f, v, result_names, NELEM(result_names),
		        "reached, no_answer, wrong_contact, promise, dispute, refused, paid, done",
		        &k) == -1)
			return -1;
		ev->result = (enum event_result)k;
		return 0;
	case F_CONTACTS:
		return check_contacts(c, v);
	case F_TAGS:
		return check_tags(c, v);
	case F_ID:
	case F_TYPE:
	case F_COUNT:
		break;
	}
	abort(); /* type and id are steps 2 and 3, never in a row */
}

/* The value node of top-level member name, or 0. */
static uint32_t
member(const struct jdoc *j, const char *name, size_t n)
{
	const struct jnode *nd;
	uint32_t k, m;

	for (k = 1, m = 0; m < j->nodes[0].len; m++) {
		nd = &j->nodes[k];
		if (nd->len == n && memcmp(jdoc_bytes(j, nd), name, n) == 0)
			return k + 1;
		k = j->nodes[k + 1].next;
	}
	return 0;
}

/* Steps 2-6 on a JSON object without duplicate names. */
static int
check_event(struct check *c)
{
	const struct jdoc *j = c->j;
	const struct jnode *nd;
	char fbuf[sizeof(c->d->field)], buf[SNIP_BUF], why[WHY_LEN];
	uint32_t v, k, m;
	size_t i;
	int f, t;

	/* Step 2. */
	if ((v = member(j, "type", 4)) == 0)
		return diag_set(c->d, "type", "missing");
	nd = &j->nodes[v];
	if (nd->type != J_STRING)
		return diag_set(
		    c->d, "type", "must be a string, not %s", jtype_name(nd));
	for (t = 1; t < NTYPES; t++)
		if (strlen(rows[t].name) == nd->len &&
		    memcmp(rows[t].name, jdoc_bytes(j, nd), nd->len) == 0)
			break;
	if (t == NTYPES)
		return diag_set(c->d, "type", "unknown event type \"%s\"",
		    snip(buf, sizeof(buf), jdoc_bytes(j, nd), nd->len,
		        SNIP_MAX));
	c->ev->type = (enum event_type)t;
	c->row = &rows[t];

	/* Step 3. */
	if ((v = member(j, "id", 2)) == 0)
		return diag_set(c->d, "id", "missing");
	nd = &j->nodes[v];
	if (nd->type != J_STRING)
		return diag_set(
		    c->d, "id", "must be an id string, not %s", jtype_name(nd));
	if (!event_is_id(jdoc_bytes(j, nd), nd->len, why, sizeof(why)))
		return diag_set(c->d, "id", "not an id (%s): %s", ID_RULE, why);
	memcpy(c->ev->id, jdoc_bytes(j, nd), nd->len);
	c->ev->id[nd->len] = '\0';

	/* Step 4: members in line order. */
	memset(c->val, 0, sizeof(c->val));
	for (k = 1, m = 0; m < j->nodes[0].len; m++) {
		nd = &j->nodes[k];
		f = field_lookup(jdoc_bytes(j, nd), nd->len);
		if (f != F_TYPE && f != F_ID) {
			for (i = 0; f >= 0 && i < c->row->n; i++)
				if (c->row->f[i] == (enum field)f)
					break;
			if (f < 0 || i == c->row->n)
				return diag_set(c->d,
				    field_of(fbuf, sizeof(fbuf),
				        jdoc_bytes(j, nd), nd->len),
				    "unknown member for type %s", c->row->name);
			c->val[f] = k + 1;
		}
		k = j->nodes[k + 1].next;
	}

	/* Step 5. */
	for (i = 0; i < c->row->nreq; i++)
		if (c->val[c->row->f[i]] == 0)
			return diag_set(
			    c->d, field_names[c->row->f[i]], "missing");

	/* Step 6. */
	for (i = 0; i < c->row->n; i++)
		if ((v = c->val[c->row->f[i]]) != 0 &&
		    check_value(c, c->row->f[i], v) == -1)
			return -1;
	return 0;
}

/* --- Building the event ------------------------------------------------ */

/* Copies string node v into the block at *p. */
static const char *
copy_str(const struct jdoc *j, uint32_t v, char **p)
{
	const struct jnode *nd = &j->nodes[v];
	char *s = *p;

	memcpy(s, jdoc_bytes(j, nd), nd->len);
	s[nd->len] = '\0';
	*p += nd->len + 1;
	return s;
}

/*
 * Puts name, reason, note, contacts and tags in one block: arrays first
 * (malloc's alignment), strings after.
 */
static void
build(struct check *c)
{
	const struct jdoc *j = c->j;
	struct event *ev = c->ev;
	struct event_contact *ct;
	uint32_t cv[C_COUNT] = { 0 }, k, o;
	size_t size = 0, i, x;
	char *p;

	for (x = 0; x < F_COUNT; x++)
		if (c->val[x] && j->nodes[c->val[x]].type == J_STRING &&
		    (x == F_NAME || x == F_REASON || x == F_NOTE))
			size += j->nodes[c->val[x]].len + 1;
	/* A contact's strings: its subtree's string nodes, names included. */
	if (ev->has_contacts)
		for (k = c->val[F_CONTACTS] + 1;
		     k < j->nodes[c->val[F_CONTACTS]].next; k++)
			if (j->nodes[k].type == J_STRING)
				size += j->nodes[k].len + 1;
	if (ev->has_tags)
		for (k = c->val[F_TAGS] + 1; k < j->nodes[c->val[F_TAGS]].next;
		     k++)
			size += j->nodes[k].len + 1;
	size += ev->ncontacts * sizeof(*ev->contacts) +
	    ev->ntags * sizeof(*ev->tags);
	if (size == 0)
		return;
	ev->mem = p = xmalloc(size);
	ev->contacts = ev->ncontacts ? (struct event_contact *)(void *)p : NULL;
	p += ev->ncontacts * sizeof(*ev->contacts);
	ev->tags = ev->ntags ? (const char **)(void *)p : NULL;
	p += ev->ntags * sizeof(*ev->tags);
	if (c->val[F_NAME])
		ev->name = copy_str(j, c->val[F_NAME], &p);
	if (c->val[F_REASON])
		ev->reason = copy_str(j, c->val[F_REASON], &p);
	if (c->val[F_NOTE])
		ev->note = copy_str(j, c->val[F_NOTE], &p);
	for (i = 0, o = c->val[F_CONTACTS] + 1; i < ev->ncontacts;
	     i++, o = j->nodes[o].next) {
		ct = &ev->contacts[i];
		memset(ct, 0, sizeof(*ct));
		for (k = o + 1, x = 0; x < j->nodes[o].len; x++) {
			/* Validated: the name is one of contact_keys. */
			switch (jdoc_bytes(j, &j->nodes[k])[0]) {
			case 'r':
				cv[C_ROLE] = k + 1;
				break;
			case 'n':
				ct->name = copy_str(j, k + 1, &p);
				break;
			case 'p':
				ct->phone = copy_str(j, k + 1, &p);
				break;
			default:
				ct->email = copy_str(j, k + 1, &p);
				break;
			}
			k = j->nodes[k + 1].next;
		}
		ct->role = (enum event_role)lookup(role_names,
		    NELEM(role_names), jdoc_bytes(j, &j->nodes[cv[C_ROLE]]),
		    j->nodes[cv[C_ROLE]].len);
	}
	for (i = 0, k = c->val[F_TAGS] + 1; i < ev->ntags; i++, k++)
		ev->tags[i] = copy_str(j, k, &p);
	assert(p <= (char *)ev->mem + size);
}

int
event_parse(const char *line, size_t len, struct event *ev, struct diag *d)
{
	struct jdoc jd, *j = &jd;
	struct check c;
	char fbuf[sizeof(d->field)], buf[SNIP_BUF];
	const struct jnode *nd;
	uint32_t k, m;
	size_t bad;

	memset(ev, 0, sizeof(*ev));
	/* Invariant (1): step 1 by kind. */
	if (len > EVENT_LINE_MAX)
		return diag_set(d, "", "line too long");
	if ((bad = jdoc_utf8_check(line, len)) < len)
		return diag_set(d, "",
		    "not UTF-8: invalid byte sequence at byte %zu", bad + 1);
	if (len >= 3 && memcmp(line, "\xEF\xBB\xBF", 3) == 0)
		return diag_set(
		    d, "", "byte order mark (BOM) at the start of the line");
	jdoc_init(j, line, len);
	if (jdoc_parse(j) == -1) {
		diag_set(d, "", "malformed JSON: %s at byte %zu", j->err,
		    j->err_pos + 1);
		goto fail;
	}
	if (j->ijson != NULL) {
		diag_set(d, "", "not I-JSON: %s at byte %zu", j->ijson,
		    j->ijson_pos + 1);
		goto fail;
	}
	if (j->nodes[0].type != J_OBJECT) {
		diag_set(d, "", "not an object: the line holds %s",
		    jtype_name(&j->nodes[0]));
		goto fail;
	}
	if (j->dup != 0) {
		/* Invariant (2): the top-level member holding the name. */
		for (k = 1, m = 0; m < j->nodes[0].len; m++) {
			if (j->dup < j->nodes[k + 1].next)
				break;
			k = j->nodes[k + 1].next;
		}
		nd = &j->nodes[k];
		field_of(fbuf, sizeof(fbuf), jdoc_bytes(j, nd), nd->len);
		nd = &j->nodes[j->dup];
		diag_set(d, fbuf, "duplicate member name \"%s\"",
		    snip(buf, sizeof(buf), jdoc_bytes(j, nd), nd->len,
		        SNIP_MAX));
		goto fail;
	}
	c.j = j;
	c.ev = ev;
	c.d = d;
	if (check_event(&c) == -1)
		goto fail;
	build(&c);
	jdoc_fini(j);
	/* Encoded once: the digest's bytes are what ingest stores. */
	ev->canon = event_encode(ev, &ev->canon_len);
	hash_bytes(ev->canon, ev->canon_len, ev->digest);
	return 0;
fail:
	jdoc_fini(j);
	memset(ev, 0, sizeof(*ev));
	return -1;
}

void
event_fini(struct event *ev)
{
	free(ev->canon);
	free(ev->mem);
	memset(ev, 0, sizeof(*ev));
}

/* --- The canonical form ------------------------------------------------ */

/* An output buffer that may start in caller-provided storage. */
struct obuf {
	char *p;
	size_t len, cap;
	char *p0;
};

static void
ob_reserve(struct obuf *b, size_t n)
{
	size_t cap = b->cap;

	if (b->len + n <= b->cap)
		return;
	while (cap < b->len + n)
		cap *= 2;
	if (b->p == b->p0) {
		b->p = xmalloc(cap);
		memcpy(b->p, b->p0, b->len);
	} else
		b->p = xrealloc(b->p, cap);
	b->cap = cap;
}

static void
ob_put(struct obuf *b, const char *s, size_t n)
{
	ob_reserve(b, n);
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

static void
ob_str(struct obuf *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *u = (const unsigned char *)s;
	size_t i, run;
	char e[6];

	ob_put(b, "\"", 1);
	for (i = 0; u[i] != '\0';) {
		for (run = i; u[run] >= 0x20 && u[run] != '"' && u[run] != '\\';
		     run++)
			;
		if (run > i) {
			ob_put(b, s + i, run - i);
			i = run;
			continue;
		}
		e[0] = '\\';
		switch (u[i]) {
		case '"':
		case '\\':
			e[1] = (char)u[i];
			break;
		case '\b':
			e[1] = 'b';
			break;
		case '\f':
			e[1] = 'f';
			break;
		case '\n':
			e[1] = 'n';
			break;
		case '\r':
			e[1] = 'r';
			break;
		case '\t':
			e[1] = 't';
			break;
		default:
			memcpy(e + 1, "u00", 3);
			e[4] = hex[u[i] >> 4];
			e[5] = hex[u[i] & 0xf];
			ob_put(b, e, 6);
			i++;
			continue;
		}
		ob_put(b, e, 2);
		i++;
	}
	ob_put(b, "\"", 1);
}

static void
ob_int(struct obuf *b, int64_t x)
{
	char tmp[24];
	size_t k = sizeof(tmp);
	uint64_t u = (uint64_t)x;

	assert(x >= 0);
	do {
		tmp[--k] = (char)('0' + u % 10);
		u /= 10;
	} while (u != 0);
	ob_put(b, tmp + k, sizeof(tmp) - k);
}

/* Writes ,"name": (the comma unless first). */
static void
ob_key(struct obuf *b, const char *name, bool *first)
{
	size_t n = strlen(name);

	ob_reserve(b, n + 4);
	if (!*first)
		b->p[b->len++] = ',';
	*first = false;
	b->p[b->len++] = '"';
	memcpy(b->p + b->len, name, n);
	b->len += n;
	memcpy(b->p + b->len, "\":", 2);
	b->len += 2;
}

static void
encode_contact(struct obuf *b, const struct event_contact *ct)
{
	bool first = true;

	/* Members in byte order: email, name, phone, role. */
	ob_put(b, "{", 1);
	if (ct->email != NULL) {
		ob_key(b, "email", &first);
		ob_str(b, ct->email);
	}
	ob_key(b, "name", &first);
	ob_str(b, ct->name);
	if (ct->phone != NULL) {
		ob_key(b, "phone", &first);
		ob_str(b, ct->phone);
	}
	ob_key(b, "role", &first);
	ob_str(b, event_role_name(ct->role));
	ob_put(b, "}", 1);
}

/* Is member f present in ev? */
static bool
has_member(const struct event *ev, enum field f)
{
	switch (f) {
	case F_ACCOUNT:
		return ev->account[0] != '\0';
	case F_ALLOW_CREDIT_BALANCE:
		return ev->has_allow_credit_balance;
	case F_AMOUNT:
		return ev->has_amount;
	case F_AT:
		return ev->has_at;
	case F_CASH_IN_DAY:
		return ev->has_cash_in_day;
	case F_CONTACTS:
		return ev->has_contacts;
	case F_CURRENCY:
		return ev->currency[0] != '\0';
	case F_DISTANCE_KM:
		return ev->has_distance_km;
	case F_DUE:
		return ev->has_due;
	case F_EVENT:
		return ev->event_ref[0] != '\0';
	case F_ID:
		return ev->id[0] != '\0';
	case F_INVOICE:
		return ev->invoice[0] != '\0';
	case F_ISSUED:
		return ev->has_issued;
	case F_NAME:
		return ev->name != NULL;
	case F_NOTE:
		return ev->note != NULL;
	case F_PAUSED:
		return ev->has_paused;
	case F_REASON:
		return ev->reason != NULL;
	case F_RESULT:
		return event_result_name(ev->result) != NULL;
	case F_RISK:
		return ev->risk != '\0';
	case F_SIZE:
		return event_size_name(ev->size) != NULL;
	case F_TAGS:
		return ev->has_tags;
	case F_TASK:
		return ev->task[0] != '\0';
	case F_TYPE:
		return event_type_name(ev->type) != NULL;
	case F_UPHELD_AMOUNT:
		return ev->has_upheld_amount;
	case F_COUNT:
		break;
	}
	return false;
}

static void
ob_bool(struct obuf *b, bool v)
{
	ob_put(b, v ? "true" : "false", v ? 4 : 5);
}

/* Writes the value of member f, which is present. */
static void
encode_value(struct obuf *b, const struct event *ev, enum field f)
{
	char risk[2] = { ev->risk, '\0' };
	size_t i;

	switch (f) {
	case F_ACCOUNT:
		ob_str(b, ev->account);
		break;
	case F_ALLOW_CREDIT_BALANCE:
		ob_bool(b, ev->allow_credit_balance);
		break;
	case F_AMOUNT:
		ob_int(b, ev->amount);
		break;
	case F_AT:
		ob_str(b, ev->at_text);
		break;
	case F_CASH_IN_DAY:
		ob_int(b, ev->cash_in_day);
		break;
	case F_CONTACTS:
		ob_put(b, "[", 1);
		for (i = 0; i < ev->ncontacts; i++) {
			if (i > 0)
				ob_put(b, ",", 1);
			encode_contact(b, &ev->contacts[i]);
		}
		ob_put(b, "]", 1);
		break;
	case F_CURRENCY:
		ob_str(b, ev->currency);
		break;
	case F_DISTANCE_KM:
		ob_int(b, ev->distance_km);
		break;
	case F_DUE:
		ob_str(b, ev->due_text);
		break;
	case F_EVENT:
		ob_str(b, ev->event_ref);
		break;
	case F_ID:
		ob_str(b, ev->id);
		break;
	case F_INVOICE:
		ob_str(b, ev->invoice);
		break;
	case F_ISSUED:
		ob_str(b, ev->issued_text);
		break;
	case F_NAME:
		ob_str(b, ev->name);
		break;
	case F_NOTE:
		ob_str(b, ev->note);
		break;
	case F_PAUSED:
		ob_bool(b, ev->paused);
		break;
	case F_REASON:
		ob_str(b, ev->reason);
		break;
	case F_RESULT:
		ob_str(b, event_result_name(ev->result));
		break;
	case F_RISK:
		ob_str(b, risk);
		break;
	case F_SIZE:
		ob_str(b, event_size_name(ev->size));
		break;
	case F_TAGS:
		ob_put(b, "[", 1);
		for (i = 0; i < ev->ntags; i++) {
			if (i > 0)
				ob_put(b, ",", 1);
			ob_str(b, ev->tags[i]);
		}
		ob_put(b, "]", 1);
		break;
	case F_TASK:
		ob_str(b, ev->task);
		break;
	case F_TYPE:
		ob_str(b, event_type_name(ev->type));
		break;
	case F_UPHELD_AMOUNT:
		ob_int(b, ev->upheld_amount);
		break;
	case F_COUNT:
		break;
	}
}

static void
encode(struct obuf *b, const struct event *ev)
{
	bool first = true;
	int f;

	ob_put(b, "{", 1);
	/* enum field is in byte order of the names: invariant (4). */
	for (f = 0; f < F_COUNT; f++) {
		if (!has_member(ev, (enum field)f))
			continue;
		ob_key(b, field_names[f], &first);
		encode_value(b, ev, (enum field)f);
	}
	ob_put(b, "}", 1);
}

char *
event_encode(const struct event *ev, size_t *len)
{
	struct obuf b = { NULL, 0, 256, NULL };

	b.p = xmalloc(b.cap);
	encode(&b, ev);
	ob_put(&b, "", 1);
	if (len != NULL)
		*len = b.len - 1;
	return b.p;
}
