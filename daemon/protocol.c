/*
 * protocol — the §8 command table and request decoding, used by the
 * daemon to validate requests and by dunnctl to build them.
 */
#include "protocol.h"

#include <stdio.h>
#include <string.h>

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
	{ "type", PT_STRING, false },
	{ "account", PT_STRING, false },
	{ NULL, 0, false },
};
static const struct proto_field f_feed[] = {
	{ "from", PT_SEQ, false },
	{ "consumer", PT_STRING, false },
	{ "follow", PT_BOOL, false },
	{ NULL, 0, false },
};
static const struct proto_field f_ack[] = {
	{ "consumer", PT_STRING, true },
	{ "seq", PT_SEQ, true },
	{ NULL, 0, false },
};
static const struct proto_field f_simulate[] = {
	{ "files", PT_FILES, true },
	{ NULL, 0, false },
};
static const struct proto_field f_report[] = {
	{ "name", PT_STRING, true },
	{ NULL, 0, false },
};
static const struct proto_field f_clock[] = {
	{ "set", PT_STRING, false },
	{ "advance", PT_STRING, false },
	{ NULL, 0, false },
};

/* §8: readers may use status, accounts, explain, tasks, feed, report. */
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
};

const struct proto_cmd_info *
proto_cmd_info(enum proto_cmd cmd)
{
	return &cmds[cmd];
}

static bool
is_seq(json_t *v)
{
	return json_is_integer(v) && json_integer_value(v) >= 0;
}

static bool
type_ok(json_t *v, enum proto_type t)
{
	size_t i;
	json_t *f;

	switch (t) {
	case PT_BOOL:
		return json_is_boolean(v);
	case PT_STRING:
		return json_is_string(v);
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
