/*
 * event — one input line of an ingest batch into a validated event.
 *
 * Pure: no I/O, no state between calls.  event_parse() runs steps 1-6 of
 * interfaces.md §2.2 on one line (framing is lines.h) and reports the
 * first error; on success it also computes the digest of the event's
 * canonical form for step 7.  Steps 7-10 need the store and are ingest's.
 */
#ifndef DUNND_EVENT_H
#define DUNND_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

/* §2.1: the longest line, LF and a CR before it not counted. */
#define EVENT_LINE_MAX     (1024 * 1024)
#define EVENT_ID_MAX       64 /* §1: ids are 1-64 chars of [A-Za-z0-9._:-] */
#define EVENT_CONTACTS_MAX 20
#define EVENT_TAGS_MAX     32
/* The longest valid `at`: "9999-12-31T23:59:59.123456789+23:59". */
#define EVENT_TS_MAX     35
#define EVENT_DATE_LEN   10
#define EVENT_DIGEST_LEN 16

enum event_type {
	EVENT_NONE = 0,
	EVENT_ACCOUNT,
	EVENT_INVOICE,
	EVENT_PAYMENT,
	EVENT_CREDIT,
	EVENT_PROMISE,
	EVENT_DISPUTE,
	EVENT_DISPUTE_RESOLVED,
	EVENT_OUTCOME,
	EVENT_REVERSAL
};

enum event_size {
	EVENT_SIZE_NONE = 0,
	EVENT_SIZE_SMALL,
	EVENT_SIZE_MEDIUM,
	EVENT_SIZE_LARGE
};

enum event_result {
	EVENT_RESULT_NONE = 0,
	EVENT_RESULT_REACHED,
	EVENT_RESULT_NO_ANSWER,
	EVENT_RESULT_WRONG_CONTACT,
	EVENT_RESULT_PROMISE,
	EVENT_RESULT_DISPUTE,
	EVENT_RESULT_REFUSED,
	EVENT_RESULT_PAID,
	EVENT_RESULT_DONE,
	EVENT_RESULT_APPROVED, /* §4.5: decide an approval task */
	EVENT_RESULT_REJECTED
};

/* Contact roles (§2), in the contract's order. */
enum event_role {
	EVENT_ROLE_NONE = 0,
	EVENT_ROLE_OWNER,
	EVENT_ROLE_PRESIDENT,
	EVENT_ROLE_GENERAL_MANAGER,
	EVENT_ROLE_CFO,
	EVENT_ROLE_FINANCE_DIRECTOR,
	EVENT_ROLE_AP_MANAGER,
	EVENT_ROLE_FINANCIAL_CONTROLLER,
	EVENT_ROLE_ACCOUNTANT,
	EVENT_ROLE_SALES,
	EVENT_ROLE_OTHER
};

struct event_contact {
	enum event_role role;
	const char *name;  /* non-empty */
	const char *phone; /* NULL: absent; at least one of phone, email */
	const char *email; /* NULL: absent */
};

/*
 * A validated event.  Absent optional members: "" for ids and currency,
 * NULL for other strings, '\0' for risk, *_NONE for enums, has_* false
 * for the rest.  Only members of the type's row (§2) are ever set.
 * Pointers point into one block owned by the event, freed by
 * event_fini().  Strings are the unescaped UTF-8 of the line, without
 * U+0000, so they are NUL-terminated C strings.
 */
struct event {
	enum event_type type;
	char id[EVENT_ID_MAX + 1];
	char account[EVENT_ID_MAX + 1];
	char invoice[EVENT_ID_MAX + 1];
	char task[EVENT_ID_MAX + 1];
	char event_ref[EVENT_ID_MAX + 1]; /* the member `event` (reversal) */
	char currency[4];
	bool has_amount, has_upheld_amount;
	int64_t amount;        /* minor units, 1 .. 2^53 */
	int64_t upheld_amount; /* minor units, 1 .. 2^53 */
	const char *name;      /* account: non-empty */
	const char *reason;    /* dispute, reversal: non-empty */
	const char *note;      /* outcome: any string, "" included */
	enum event_size size;
	char risk; /* 'A' .. 'E' */
	bool has_cash_in_day, has_distance_km;
	int cash_in_day; /* 0 .. 31, 0 clears it */
	int distance_km; /* 0 .. 20000 */
	bool has_paused, paused;
	bool has_allow_credit_balance, allow_credit_balance;
	bool has_issued, has_due, has_at;
	int32_t issued_day; /* days since 1970-01-01 (clock.h) */
	int32_t due_day;
	int64_t at; /* seconds since the epoch, fraction truncated */
	/* The dates and timestamp as written: they are part of the content. */
	char issued_text[EVENT_DATE_LEN + 1];
	char due_text[EVENT_DATE_LEN + 1];
	char at_text[EVENT_TS_MAX + 1];
	enum event_result result;
	bool has_contacts; /* [] is a list too: it clears (§2.3) */
	size_t ncontacts;
	struct event_contact *contacts;
	bool has_tags; /* [] clears */
	size_t ntags;
	const char **tags;
	/* Step 7: digest of the canonical form (event_encode()'s bytes). */
	uint8_t digest[EVENT_DIGEST_LEN];
	/* The canonical form the digest was taken of (NUL-terminated). */
	char *canon;
	size_t canon_len;
	void *mem; /* private: the block behind the pointers above */
};

/*
 * Parses and validates one line (without its line end) by steps 1-6 of
 * §2.2.  Returns 0 with *ev filled, or -1 with the first error in *d
 * (d->field "" for a line error, i.e. JSON null; d->line untouched) and
 * *ev empty.  Either way event_fini(ev) may be called.
 */
int event_parse(const char *line, size_t len, struct event *ev /* OUT */,
    struct diag *d /* OUT */);

/* Frees what ev owns and empties it. */
void event_fini(struct event *ev);

/*
 * The canonical JSON text of ev: members sorted by name at every depth,
 * no whitespace, strings minimally escaped (only '"', '\\' and U+0001 to
 * U+001F, as \" \\ \b \f \n \r \t \u00XX; everything else raw UTF-8),
 * numbers in decimal.  Parsing it gives back an equal event.  Returns a
 * NUL-terminated string the caller frees; *len (if not NULL) its length.
 */
char *event_encode(const struct event *ev, size_t *len /* OUT */);

/* Names as written in JSON; NULL for *_NONE and out-of-range values. */
const char *event_type_name(enum event_type type);
const char *event_size_name(enum event_size size);
const char *event_result_name(enum event_result result);
const char *event_role_name(enum event_role role);

/*
 * Is s[0..n) an id (§1: 1-64 chars of [A-Za-z0-9._:-])?  If not, why
 * not in why (at least 48 bytes).
 */
bool event_is_id(const char *s, size_t n, char *why, size_t whysz);

#endif
