/*
 * jdoc — the JSON tokenizer under event.c: one pass over a line builds a
 * flat array of nodes (pre-order, each with the index just past its
 * subtree) that points into the line; only strings holding escapes are
 * unescaped, into an arena.  Numbers stay as written, duplicate member
 * names and I-JSON violations are noted (not fatal), so that event.c can
 * report step 1 of §2.2 in the contract's order.  Why not jansson: see
 * event.c.
 *
 * Both arrays start on the stack inside struct jdoc, so a usual line
 * costs no allocation.  No I/O, no global state.
 */
#ifndef DUNND_JDOC_H
#define DUNND_JDOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum jtype {
	J_OBJECT = 1,
	J_ARRAY,
	J_STRING,
	J_NUMBER,
	J_TRUE,
	J_FALSE,
	J_NULL
};

#define J_ESCAPED 0x01 /* string: its unescaped bytes are in the arena */
#define J_FRAC    0x02 /* number: has a fraction */
#define J_EXP     0x04 /* number: has an exponent */
#define J_MINUS   0x08 /* number: has a minus sign */

/*
 * One JSON value (or member name).  Offsets fit 32 bits: lines are at
 * most EVENT_LINE_MAX bytes.  An object's children are its names and
 * values, alternating; len counts members (object) or elements (array).
 */
struct jnode {
	uint32_t off;  /* string: in line or arena; number: in line */
	uint32_t len;  /* string, number: bytes; object, array: children */
	uint32_t next; /* index of the first node after this subtree */
	uint8_t type;
	uint8_t flags;
};

/* Stack room for a usual line; larger ones move to the heap. */
#define NODES_STACK 128
#define ARENA_STACK 512
#define DEPTH_STACK 16
/* Objects with more members find duplicates by sorting their names. */
#define DUP_PAIRWISE 24

struct jdoc {
	const char *s;
	size_t len, pos;
	struct jnode *nodes;
	size_t n, cap;
	char *arena;
	size_t alen, acap;
	uint32_t *stack;
	size_t depth, scap;
	const char *err; /* malformed JSON: what, at err_pos */
	size_t err_pos;
	const char *ijson; /* the first I-JSON violation, at ijson_pos */
	size_t ijson_pos;
	uint32_t dup; /* node of the earliest duplicate's second name, or 0 */
	struct jnode nodes0[NODES_STACK];
	char arena0[ARENA_STACK];
	uint32_t stack0[DEPTH_STACK];
};

static inline bool
jdoc_is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Starts a document over s[0..len) (not copied: it must outlive j). */
void jdoc_init(struct jdoc *j, const char *s, size_t len);
void jdoc_fini(struct jdoc *j);
/*
 * Parses the whole line into j->nodes (node 0 is the root).  Returns -1
 * on malformed JSON (j->err at j->err_pos); I-JSON violations and
 * duplicates are only noted (j->ijson, j->dup) so that malformed JSON
 * anywhere outranks them.
 */
int jdoc_parse(struct jdoc *j);
/* The bytes of a string or number node (unescaped strings: the arena). */
static inline const char *
jdoc_bytes(const struct jdoc *j, const struct jnode *nd)
{
	return (nd->flags & J_ESCAPED) ? j->arena + nd->off : j->s + nd->off;
}
/* Whether string nodes a and b hold the same bytes. */
bool jdoc_name_eq(const struct jdoc *j, uint32_t a, uint32_t b);
/*
 * The offset of the first byte of line that is not well-formed UTF-8
 * (RFC 3629), or len.
 */
size_t jdoc_utf8_check(const char *line, size_t len);

#endif
