/*
 * protocol — the control protocol of §8, shared by dunnd and dunnctl:
 * the command table (names, fields and their types, who may run them)
 * and request decoding.
 *
 * A request is one JSON object per line, {"v":1,"cmd":NAME,...}.  A
 * reply is zero or more data records (objects without "ok") and one
 * final record {"ok":true,...} or {"ok":false,"error":"..."}.
 */
#ifndef DUNND_PROTOCOL_H
#define DUNND_PROTOCOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define PROTO_VERSION  1
#define PROTO_LINE_MAX (1024 * 1024) /* a request line, §8 */
#define PROTO_ERR_LEN  256

enum proto_cmd {
	CMD_STATUS,
	CMD_INGEST,
	CMD_ACCOUNTS,
	CMD_EXPLAIN,
	CMD_TASKS,
	CMD_FEED,
	CMD_ACK,
	CMD_RELOAD,
	CMD_SIMULATE,
	CMD_REPORT,
	CMD_CLOCK,
	CMD_CONSUMERS,
	CMD_BACKUP,
	CMD_METRICS,
	CMD_COUNT
};

enum proto_type {
	PT_BOOL,
	PT_STRING,
	PT_ID,    /* a string that is an id (§1) */
	PT_SEQ,   /* a non-negative JSON integer */
	PT_FILES, /* [{"name": string, "text": string}, ...] */
};

struct proto_field {
	const char *name;
	enum proto_type type;
	bool required;
};

struct proto_cmd_info {
	const char *name;
	bool admin; /* false: readers may use it too (§8) */
	const struct proto_field *fields;
};

/* The table entry of cmd. */
const struct proto_cmd_info *proto_cmd_info(enum proto_cmd cmd);
/* Whether consumers (§6) may use cmd besides the readers' commands. */
bool proto_consumer_may(enum proto_cmd cmd);

/* A decoded request: req is borrowed from root, which the caller owns. */
struct proto_request {
	json_t *root;
	enum proto_cmd cmd;
	int64_t bytes; /* -1 when the request carries no body */
};

/*
 * Decodes one request line (without its line end).  Returns 0 with req
 * filled; -1 with err set when the request is refused but the
 * connection stays usable (req->bytes then says how many body bytes to
 * discard, -1 none); -2 when the connection must be closed (an unusable
 * "bytes").  req->root is NULL unless 0 is returned.
 */
int proto_decode(const char *line, size_t len, struct proto_request *req,
    char *err, size_t errlen);

/*
 * json_dumps() with every float written as the shortest decimal that
 * reads back as the same double (§7), e.g. 0.3 and 13.0 (jansson
 * writes 17 digits: 0.29999999999999999).  Free the result with free().
 */
char *proto_dumps(const json_t *j, size_t flags);
struct buf;
/* Appends v as proto_dumps() writes it (Python's repr of a float). */
void proto_real_text(struct buf *b, double v);

/*
 * Compact JSON written member by member, byte for byte what
 * proto_dumps() writes for the same tree with its members in the same
 * order, without building the tree (a busy night's feed records: a
 * quarter of its time went to jansson's objects and their mallocs).
 * k names the member; NULL for an array's element, a value after
 * proto_w_keyn(), or the outermost value.  Commas come by themselves.
 * Bytes are written as they are: the caller checks the result is UTF-8
 * (engine_feed_end() does).
 *
 *	proto_w_open(b, NULL, '{'); proto_w_str(b, "kind", "task");
 *	proto_w_open(b, "list", '['); proto_w_int(b, NULL, 1);
 *	proto_w_close(b, ']'); proto_w_close(b, '}');
 */
void proto_w_open(struct buf *b, const char *k, char open);
void proto_w_close(struct buf *b, char close);
void proto_w_keyn(struct buf *b, const char *k, size_t klen);
void proto_w_str(struct buf *b, const char *k, const char *v);
void proto_w_strn(struct buf *b, const char *k, const char *v, size_t n);
void proto_w_int(struct buf *b, const char *k, int64_t v);
void proto_w_null(struct buf *b, const char *k);
/* v as proto_dumps() writes it. */
void proto_w_json(struct buf *b, const char *k, const json_t *v);
/* The members of object obj, in its order, into the object being written. */
void proto_w_members(struct buf *b, const json_t *obj);

#endif
