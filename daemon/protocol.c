/*
 * protocol — the §8 command table and request decoding, used by the
 * daemon to validate requests and by dunnctl to build them.
 */
#include "protocol.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "util.h"

static const struct proto_field f_none[] = { { NULL, 0, false } };
static const struct proto_field f_ingest[] = {
	{ "bytes", PT_SEQ, true },
	{ "skip_bad", PT_BOOL, false },
	{ "results", PT_STRING, false },
	{ NULL, 0, false },
};
static const struct proto_field f_accounts[] = {
	{ "stage", PT_STRING, false },
	{ NULL, 0, false },
};
static const struct proto_field f_explain[] = {
	{ "account", PT_STRING, true },
	{ NULL, 0, false },
};
static const struct proto_field f_tasks[] = {
	{ "open", PT_BOOL, false },
	{ "workable", PT_BOOL, false },
	{ "at", PT_STRING, false },
	{ "type", PT_STRING, false },
	{ "account", PT_STRING, false },
	{ NULL, 0, false },
};
static const struct proto_field f_feed[] = {
	{ "from", PT_SEQ, false },
	{ "consumer", PT_ID, false },
	{ "follow", PT_BOOL, false },
	{ NULL, 0, false },
};
static const struct proto_field f_ack[] = {
	{ "consumer", PT_ID, true },
	{ "seq", PT_SEQ, true },
	{ NULL, 0, false },
};
static const struct proto_field f_simulate[] = {
	{ "files", PT_FILES, true },
	{ NULL, 0, false },
};
static const struct proto_field f_report[] = {
	{ "name", PT_STRING, true },
	{ "months", PT_SEQ, false },
	{ NULL, 0, false },
};
static const struct proto_field f_clock[] = {
	{ "set", PT_STRING, false },
	{ "advance", PT_STRING, false },
	{ NULL, 0, false },
};
static const struct proto_field f_backup[] = {
	{ "path", PT_STRING, true },
	{ NULL, 0, false },
};

/*
 * §8: readers may use status, accounts, explain, tasks, feed, report,
 * metrics.
 */
static const struct proto_cmd_info cmds[CMD_COUNT] = {
	[CMD_STATUS] = { "status", false, f_none },
	[CMD_INGEST] = { "ingest", true, f_ingest },
	[CMD_ACCOUNTS] = { "accounts", false, f_accounts },
	[CMD_EXPLAIN] = { "explain", false, f_explain },
	[CMD_TASKS] = { "tasks", false, f_tasks },
	[CMD_FEED] = { "feed", false, f_feed },
	[CMD_ACK] = { "ack", true, f_ack },
	[CMD_RELOAD] = { "reload", true, f_none },
	[CMD_SIMULATE] = { "simulate", true, f_simulate },
	[CMD_REPORT] = { "report", false, f_report },
	[CMD_CLOCK] = { "clock", true, f_clock },
	[CMD_CONSUMERS] = { "consumers", true, f_none },
	[CMD_BACKUP] = { "backup", true, f_backup },
	[CMD_METRICS] = { "metrics", false, f_none },
};

const struct proto_cmd_info *
proto_cmd_info(enum proto_cmd cmd)
{
	return &cmds[cmd];
}

bool
proto_consumer_may(enum proto_cmd cmd)
{
	return cmd == CMD_ACK; /* §8 */
}

static bool
is_seq(json_t *v)
{
	return json_is_integer(v) && json_integer_value(v) >= 0;
}

static bool
type_ok(json_t *v, enum proto_type t)
{
	char why[64];
	size_t i;
	json_t *f;

	switch (t) {
	case PT_BOOL:
		return json_is_boolean(v);
	case PT_STRING:
		return json_is_string(v);
	case PT_ID:
		return json_is_string(v) &&
		    event_is_id(json_string_value(v), json_string_length(v),
		        why, sizeof(why));
	case PT_SEQ:
		return is_seq(v);
	case PT_FILES:
		if (!json_is_array(v))
			return false;
		json_array_foreach(v, i, f)
		{
			if (!json_is_object(f) || json_object_size(f) != 2 ||
			    !json_is_string(json_object_get(f, "name")) ||
			    !json_is_string(json_object_get(f, "text")))
				return false;
		}
		return true;
	}
	return false;
}

static const char *
type_name(enum proto_type t)
{
	switch (t) {
	case PT_BOOL:
		return "true or false";
	case PT_STRING:
		return "a string";
	case PT_ID:
		return "an id (1-64 characters of A-Z a-z 0-9 . _ : -)";
	case PT_SEQ:
		return "a non-negative integer";
	case PT_FILES:
		return "an array of {\"name\",\"text\"} objects";
	}
	return "?";
}

int
proto_decode(const char *line, size_t len, struct proto_request *req, char *err,
    size_t errlen)
{
	json_t *root, *v, *bytes;
	json_error_t jerr;
	const struct proto_field *f;
	const char *key, *name;
	int i, cmd = -1;

	memset(req, 0, sizeof(*req));
	req->bytes = -1;
	root = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		snprintf(err, errlen, "malformed request: %s", jerr.text);
		return -1;
	}
	if (!json_is_object(root)) {
		snprintf(err, errlen, "malformed request: not a JSON object");
		goto refuse;
	}
	/* §8: a usable "bytes" is honoured whatever else is wrong. */
	if ((bytes = json_object_get(root, "bytes")) != NULL) {
		if (!is_seq(bytes)) {
			snprintf(err, errlen,
			    "field \"bytes\": expected a non-negative integer");
			json_decref(root);
			return -2;
		}
		req->bytes = json_integer_value(bytes);
	}
	v = json_object_get(root, "v");
	if (v == NULL) {
		snprintf(err, errlen, "missing \"v\" (protocol version %d)",
		    PROTO_VERSION);
		goto refuse;
	}
	if (!json_is_integer(v) || json_integer_value(v) != PROTO_VERSION) {
		snprintf(err, errlen,
		    "unsupported protocol version (this dunnd speaks \"v\":%d)",
		    PROTO_VERSION);
		goto refuse;
	}
	v = json_object_get(root, "cmd");
	if (v == NULL) {
		snprintf(err, errlen, "missing \"cmd\"");
		goto refuse;
	}
	name = json_is_string(v) ? json_string_value(v) : "";
	for (i = 0; i < CMD_COUNT; i++)
		if (strcmp(cmds[i].name, name) == 0)
			cmd = i;
	if (cmd == -1) {
		snprintf(err, errlen, "unknown command \"%s\"",
		    json_is_string(v) ? name : "(not a string)");
		goto refuse;
	}
	json_object_foreach(root, key, v)
	{
		if (strcmp(key, "v") == 0 || strcmp(key, "cmd") == 0)
			continue;
		for (f = cmds[cmd].fields; f->name != NULL; f++)
			if (strcmp(f->name, key) == 0)
				break;
		if (f->name == NULL) {
			snprintf(err, errlen, "unknown field \"%s\" for %s",
			    key, cmds[cmd].name);
			goto refuse;
		}
		if (!type_ok(v, f->type)) {
			snprintf(err, errlen, "field \"%s\": expected %s", key,
			    type_name(f->type));
			goto refuse;
		}
	}
	for (f = cmds[cmd].fields; f->name != NULL; f++)
		if (f->required && json_object_get(root, f->name) == NULL) {
			snprintf(err, errlen, "missing field \"%s\" for %s",
			    f->name, cmds[cmd].name);
			goto refuse;
		}
	req->root = root;
	req->cmd = (enum proto_cmd)cmd;
	return 0;
refuse:
	json_decref(root);
	return -1;
}

/*
 * The shortest decimal that reads back as v, written as Python's repr()
 * writes floats: fixed notation with at least one decimal when the
 * exponent is in [-4, 16), else d.ddde±XX.
 */
void
proto_real_text(struct buf *b, double v)
{
	char tmp[40];
	int prec, exp;

	for (prec = 1; prec < 17; prec++) {
		snprintf(tmp, sizeof(tmp), "%.*e", prec - 1, v);
		if (strtod(tmp, NULL) == v)
			break;
	}
	snprintf(tmp, sizeof(tmp), "%.*e", prec - 1, v);
	exp = atoi(strchr(tmp, 'e') + 1);
	if (v != v || v == 0 || exp < -4 || exp >= 16) {
		buf_printf(
		    b, "%s", v == 0 ? (signbit(v) ? "-0.0" : "0.0") : tmp);
		return;
	}
	buf_printf(b, "%.*f", prec - 1 - exp > 0 ? prec - 1 - exp : 1, v);
}

/* Whether j holds a real anywhere (most records hold none). */
static bool
has_real(const json_t *j)
{
	const char *k;
	json_t *v;
	size_t i;

	switch (json_typeof(j)) {
	case JSON_REAL:
		return true;
	case JSON_OBJECT:
		json_object_foreach((json_t *)j, k, v)
		{
			if (has_real(v))
				return true;
		}
		return false;
	case JSON_ARRAY:
		json_array_foreach(j, i, v)
		{
			if (has_real(v))
				return true;
		}
		return false;
	default:
		return false;
	}
}

/*
 * A string as jansson writes it without JSON_ENSURE_ASCII or
 * JSON_ESCAPE_SLASH: '"', '\\' and the control characters escaped
 * (\b \f \n \r \t by name, the others as \u00XX), every other byte
 * as it is (jansson's strings are valid UTF-8).
 */
static void
put_string(struct buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t i, run = 0;
	unsigned char c;
	char esc[6];

	buf_append(b, "\"", 1);
	for (i = 0; i < n; i++) {
		c = (unsigned char)s[i];
		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		buf_append(b, s + run, i - run);
		run = i + 1;
		esc[0] = '\\';
		switch (c) {
		case '"':
		case '\\':
			esc[1] = (char)c;
			break;
		case '\b':
			esc[1] = 'b';
			break;
		case '\f':
			esc[1] = 'f';
			break;
		case '\n':
			esc[1] = 'n';
			break;
		case '\r':
			esc[1] = 'r';
			break;
		case '\t':
			esc[1] = 't';
			break;
		default:
			memcpy(esc + 1, "u00", 3);
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			buf_append(b, esc, 6);
			continue;
		}
		buf_append(b, esc, 2);
	}
	buf_append(b, s + run, n - run);
	buf_append(b, "\"", 1);
}

/* j in compact form, jansson's text but for the reals (proto_real_text). */
static void
put_value(struct buf *b, const json_t *j)
{
	json_t *v;
	size_t i;
	char num[24];
	int len;

	switch (json_typeof(j)) {
	case JSON_OBJECT:
		buf_append(b, "{", 1);
		proto_w_members(b, j);
		buf_append(b, "}", 1);
		break;
	case JSON_ARRAY:
		buf_append(b, "[", 1);
		json_array_foreach(j, i, v)
		{
			if (i > 0)
				buf_append(b, ",", 1);
			put_value(b, v);
		}
		buf_append(b, "]", 1);
		break;
	case JSON_STRING:
		put_string(b, json_string_value(j), json_string_length(j));
		break;
	case JSON_INTEGER:
		len = snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT,
		    json_integer_value(j));
		buf_append(b, num, (size_t)len);
		break;
	case JSON_REAL:
		proto_real_text(b, json_real_value(j));
		break;
	case JSON_TRUE:
		buf_append(b, "true", 4);
		break;
	case JSON_FALSE:
		buf_append(b, "false", 5);
		break;
	case JSON_NULL:
		buf_append(b, "null", 4);
		break;
	}
}

/*
 * Compact output (every call but human output) is written here in one
 * pass, without jansson's dump: a feed record's encoding was a third of
 * a busy night's time.  Other flags go through json_dumps(), then the
 * reals are rewritten.
 */
char *
proto_dumps(const json_t *j, size_t flags)
{
	const size_t fast =
	    JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY;
	char *in;
	const char *p, *q;
	struct buf b;

	if (j == NULL)
		return NULL;
	if ((flags & JSON_COMPACT) && (flags & ~fast) == 0) {
		if (!(flags & JSON_ENCODE_ANY) && !json_is_object(j) &&
		    !json_is_array(j))
			return NULL; /* as json_dumps() */
		buf_init(&b);
		put_value(&b, j);
		buf_append(&b, "", 1);
		return b.p; /* nothing was consumed: the text starts at p */
	}
	in = json_dumps(j, flags);
	if (in == NULL || !has_real(j))
		return in;
	/*
	 * Reals are the number tokens with a point or an exponent; copy
	 * everything else in runs: strings whole, the rest up to a number.
	 */
	buf_init(&b);
	for (p = in; *p != '\0'; p = q) {
		if (*p == '"') {
			for (q = p + 1; *q != '"'; q++)
				if (*q == '\\')
					q++;
			q++;
		} else if (*p == '-' || (*p >= '0' && *p <= '9')) {
			q = p + strspn(p, "+-.0123456789eE");
			if (strcspn(p, ".eE") < (size_t)(q - p)) {
				proto_real_text(&b, strtod(p, NULL));
				continue;
			}
		} else {
			q = p + strcspn(p, "\"-0123456789");
			if (q == p)
				q++;
		}
		buf_append(&b, p, (size_t)(q - p));
	}
	buf_append(&b, "", 1);
	free(in);
	return b.p;
}

/*
 * The record writer.  A value after a name, or first in its object or
 * array, takes no comma; every other one does.  The byte before tells
 * which: ':', '{' and '[' end nothing a value could end with.
 */
static void
member(struct buf *b, const char *k, size_t klen)
{
	size_t n = buf_size(b);
	char last = n > 0 ? buf_data(b)[n - 1] : ':';

	if (last != ':' && last != '{' && last != '[')
		buf_append(b, ",", 1);
	if (k != NULL) {
		put_string(b, k, klen);
		buf_append(b, ":", 1);
	}
}

static size_t
key_len(const char *k)
{
	return k != NULL ? strlen(k) : 0;
}

void
proto_w_open(struct buf *b, const char *k, char open)
{
	member(b, k, key_len(k));
	buf_append(b, &open, 1);
}

void
proto_w_close(struct buf *b, char close)
{
	buf_append(b, &close, 1);
}

void
proto_w_keyn(struct buf *b, const char *k, size_t klen)
{
	member(b, k, klen);
}

void
proto_w_str(struct buf *b, const char *k, const char *v)
{
	proto_w_strn(b, k, v, strlen(v));
}

void
proto_w_strn(struct buf *b, const char *k, const char *v, size_t n)
{
	member(b, k, key_len(k));
	put_string(b, v, n);
}

void
proto_w_int(struct buf *b, const char *k, int64_t v)
{
	char num[24];
	int len;

	member(b, k, key_len(k));
	len = snprintf(num, sizeof(num), "%" PRId64, v);
	buf_append(b, num, (size_t)len);
}

void
proto_w_null(struct buf *b, const char *k)
{
	member(b, k, key_len(k));
	buf_append(b, "null", 4);
}

void
proto_w_json(struct buf *b, const char *k, const json_t *v)
{
	member(b, k, key_len(k));
	put_value(b, v);
}

void
proto_w_members(struct buf *b, const json_t *obj)
{
	const char *k;
	json_t *v;
	size_t klen;

	/* Names by their length, as jansson's: they may hold a NUL. */
	json_object_keylen_foreach((json_t *)obj, k, klen, v)
	{
		member(b, k, klen);
		put_value(b, v);
	}
}
