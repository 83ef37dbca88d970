/*
 * jdoc — the JSON tokenizer of ingest lines (jdoc.h).
 */
#include "jdoc.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

/* Does byte c stand for itself inside a JSON string? */
static inline bool
is_plain(unsigned char c)
{
	return c >= 0x20 && c != '"' && c != '\\';
}

void
jdoc_init(struct jdoc *j, const char *s, size_t len)
{
	j->s = s;
	j->len = len;
	j->pos = 0;
	j->nodes = j->nodes0;
	j->n = 0;
	j->cap = NODES_STACK;
	j->arena = j->arena0;
	j->alen = 0;
	j->acap = ARENA_STACK;
	j->stack = j->stack0;
	j->depth = 0;
	j->scap = DEPTH_STACK;
	j->err = j->ijson = NULL;
	j->err_pos = j->ijson_pos = 0;
	j->dup = 0;
}

void
jdoc_fini(struct jdoc *j)
{
	if (j->nodes != j->nodes0)
		free(j->nodes);
	if (j->arena != j->arena0)
		free(j->arena);
	if (j->stack != j->stack0)
		free(j->stack);
}

/* Grows an array that starts in stack storage s0 to hold want elements. */
static void *
grow(void *p, const void *s0, size_t *cap, size_t want, size_t elem)
{
	size_t ncap = *cap;
	void *q;

	while (ncap < want)
		ncap *= 2;
	if (p == s0) {
		q = xreallocarray(NULL, ncap, elem);
		memcpy(q, p, *cap * elem);
	} else
		q = xreallocarray(p, ncap, elem);
	*cap = ncap;
	return q;
}

static struct jnode *
jnode_add(struct jdoc *j, enum jtype type, size_t off)
{
	struct jnode *nd;

	if (j->n == j->cap)
		j->nodes = grow(
		    j->nodes, j->nodes0, &j->cap, j->n + 1, sizeof(*j->nodes));
	nd = &j->nodes[j->n];
	nd->off = (uint32_t)off;
	nd->len = 0;
	nd->next = (uint32_t)(j->n + 1);
	nd->type = (uint8_t)type;
	nd->flags = 0;
	j->n++;
	return nd;
}

static int
jerr(struct jdoc *j, size_t pos, const char *what)
{
	j->err = what;
	j->err_pos = pos;
	return -1;
}

/* Notes an I-JSON violation; parsing goes on, malformed JSON outranks it. */
static void
jviolation(struct jdoc *j, size_t pos, const char *what)
{
	if (j->ijson == NULL) {
		j->ijson = what;
		j->ijson_pos = pos;
	}
}

static size_t
skip_ws(const struct jdoc *j, size_t i)
{
	while (i < j->len &&
	    (j->s[i] == ' ' || j->s[i] == '\t' || j->s[i] == '\r' ||
	        j->s[i] == '\n'))
		i++;
	return i;
}

static int
hex4(const char *s, size_t avail, unsigned *cp)
{
	unsigned v = 0, k;
	size_t i;
	char c;

	if (avail < 4)
		return -1;
	for (i = 0; i < 4; i++) {
		c = s[i];
		if (c >= '0' && c <= '9')
			k = (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			k = (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			k = (unsigned)(c - 'A' + 10);
		else
			return -1;
		v = v << 4 | k;
	}
	*cp = v;
	return 0;
}

static size_t
put_utf8(char *o, unsigned cp)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xc0 | cp >> 6);
		o[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xe0 | cp >> 12);
		o[1] = (char)(0x80 | (cp >> 6 & 0x3f));
		o[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	o[0] = (char)(0xf0 | cp >> 18);
	o[1] = (char)(0x80 | (cp >> 12 & 0x3f));
	o[2] = (char)(0x80 | (cp >> 6 & 0x3f));
	o[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/*
 * The rest of a string holding an escape at i (start: its first byte).
 * Unescaped, a string is never longer than written, so reserving the
 * rest of the line once is enough.
 */
static int
jstring_escaped(struct jdoc *j, size_t start, size_t i)
{
	const unsigned char *s = (const unsigned char *)j->s;
	size_t end = j->len, aoff, at;
	unsigned cp, lo;
	char *o;

	if (j->alen + (end - start) > j->acap)
		j->arena = grow(
		    j->arena, j->arena0, &j->acap, j->alen + (end - start), 1);
	aoff = j->alen;
	o = j->arena + aoff;
	memcpy(o, s + start, i - start);
	o += i - start;
	for (;;) {
		if (i >= end)
			return jerr(j, i, "unterminated string");
		if (is_plain(s[i])) {
			*o++ = (char)s[i++];
			continue;
		}
		if (s[i] == '"')
			break;
		if (s[i] < 0x20)
			return jerr(j, i,
			    s[i] == 0 ? "raw U+0000 in string"
			              : "raw control character in string");
		/* A backslash. */
		at = i++;
		if (i >= end)
			return jerr(j, i, "unterminated string");
		switch (s[i]) {
		case '"':
		case '\\':
		case '/':
			*o++ = (char)s[i];
			break;
		case 'b':
			*o++ = '\b';
			break;
		case 'f':
			*o++ = '\f';
			break;
		case 'n':
			*o++ = '\n';
			break;
		case 'r':
			*o++ = '\r';
			break;
		case 't':
			*o++ = '\t';
			break;
		case 'u':
			if (hex4(j->s + i + 1, end - i - 1, &cp) == -1)
				return jerr(j, at, "bad \\u escape");
			i += 4;
			if (cp == 0) {
				jviolation(j, at, "\\u0000 (U+0000) in string");
				break;
			}
			if (cp >= 0xdc00 && cp <= 0xdfff) {
				jviolation(
				    j, at, "lone surrogate escape in string");
				break;
			}
			if (cp >= 0xd800 && cp <= 0xdbff) {
				if (end - i > 2 && s[i + 1] == '\\' &&
				    s[i + 2] == 'u' &&
				    hex4(j->s + i + 3, end - i - 3, &lo) == 0 &&
				    lo >= 0xdc00 && lo <= 0xdfff) {
					cp = 0x10000 + ((cp - 0xd800) << 10) +
					    (lo - 0xdc00);
					i += 6;
				} else {
					jviolation(j, at,
					    "lone surrogate escape in string");
					break;
				}
			}
			o += put_utf8(o, cp);
			break;
		default:
			return jerr(j, at, "bad escape in string");
		}
		i++;
	}
	j->pos = i + 1;
	j->alen = (size_t)(o - j->arena);
	jnode_add(j, J_STRING, aoff)->len = (uint32_t)(j->alen - aoff);
	j->nodes[j->n - 1].flags = J_ESCAPED;
	return 0;
}

/* A string at j->pos (its opening quote). */
static int
jstring(struct jdoc *j)
{
	const unsigned char *s = (const unsigned char *)j->s;
	size_t i = j->pos + 1, start = i, end = j->len;

	while (i < end && is_plain(s[i]))
		i++;
	if (i >= end)
		return jerr(j, i, "unterminated string");
	if (s[i] == '"') {
		jnode_add(j, J_STRING, start)->len = (uint32_t)(i - start);
		j->pos = i + 1;
		return 0;
	}
	if (s[i] == '\\')
		return jstring_escaped(j, start, i);
	return jerr(j, i,
	    s[i] == 0 ? "raw U+0000 in string"
	              : "raw control character in string");
}

/* A number at j->pos, by RFC 8259's grammar, kept as written. */
static int
jnumber(struct jdoc *j)
{
	const char *s = j->s;
	size_t i = j->pos, end = j->len;
	uint8_t flags = 0;

	if (s[i] == '-') {
		flags |= J_MINUS;
		i++;
	}
	if (i < end && s[i] == '0')
		i++;
	else if (i < end && s[i] >= '1' && s[i] <= '9')
		while (i < end && jdoc_is_digit(s[i]))
			i++;
	else
		return jerr(j, i, "bad number");
	if (i < end && s[i] == '.') {
		flags |= J_FRAC;
		if (++i >= end || !jdoc_is_digit(s[i]))
			return jerr(j, i, "bad number");
		while (i < end && jdoc_is_digit(s[i]))
			i++;
	}
	if (i < end && (s[i] == 'e' || s[i] == 'E')) {
		flags |= J_EXP;
		if (++i < end && (s[i] == '+' || s[i] == '-'))
			i++;
		if (i >= end || !jdoc_is_digit(s[i]))
			return jerr(j, i, "bad number");
		while (i < end && jdoc_is_digit(s[i]))
			i++;
	}
	jnode_add(j, J_NUMBER, j->pos)->len = (uint32_t)(i - j->pos);
	j->nodes[j->n - 1].flags = flags;
	j->pos = i;
	return 0;
}

static int
jliteral(struct jdoc *j, const char *word, size_t n, enum jtype type)
{
	if (j->len - j->pos < n || memcmp(j->s + j->pos, word, n) != 0)
		return jerr(j, j->pos, "unexpected character");
	jnode_add(j, type, j->pos);
	j->pos += n;
	return 0;
}

static void
jpush(struct jdoc *j, enum jtype type)
{
	if (j->depth == j->scap)
		j->stack = grow(j->stack, j->stack0, &j->scap, j->depth + 1,
		    sizeof(*j->stack));
	j->stack[j->depth++] = (uint32_t)j->n;
	jnode_add(j, type, j->pos);
}

bool
jdoc_name_eq(const struct jdoc *j, uint32_t a, uint32_t b)
{
	const struct jnode *x = &j->nodes[a], *y = &j->nodes[b];

	return x->len == y->len &&
	    memcmp(jdoc_bytes(j, x), jdoc_bytes(j, y), x->len) == 0;
}

struct dupkey {
	const char *p;
	uint32_t len;
	uint32_t node;
};

static int
dupkey_cmp(const void *a, const void *b)
{
	const struct dupkey *x = a, *y = b;
	int c;

	if (x->len != y->len)
		return x->len < y->len ? -1 : 1;
	if ((c = memcmp(x->p, y->p, x->len)) != 0)
		return c;
	return x->node < y->node ? -1 : x->node > y->node;
}

/* Records a duplicate name if it comes earlier than the one known. */
static void
dup_note(struct jdoc *j, uint32_t second)
{
	if (j->dup == 0 || second < j->dup)
		j->dup = second;
}

/* Finds the earliest duplicate name of object obj (invariant (2)). */
static void
check_dups(struct jdoc *j, uint32_t obj)
{
	uint32_t m = j->nodes[obj].len, names[DUP_PAIRWISE], k, a, b, best;
	struct dupkey *v;

	if (m < 2)
		return;
	if (m <= DUP_PAIRWISE) {
		for (k = obj + 1, a = 0; a < m; a++) {
			names[a] = k;
			k = j->nodes[k + 1].next;
		}
		for (b = 1; b < m; b++)
			for (a = 0; a < b; a++)
				if (jdoc_name_eq(j, names[a], names[b])) {
					dup_note(j, names[b]);
					return;
				}
		return;
	}
	/*
	 * Sorted by name, then position: equal names are adjacent, and the
	 * second of each run is its earliest repetition.
	 */
	v = xreallocarray(NULL, m, sizeof(*v));
	for (k = obj + 1, a = 0; a < m; a++) {
		v[a].p = jdoc_bytes(j, &j->nodes[k]);
		v[a].len = j->nodes[k].len;
		v[a].node = k;
		k = j->nodes[k + 1].next;
	}
	qsort(v, m, sizeof(*v), dupkey_cmp);
	best = 0;
	for (a = 1; a < m; a++) {
		if (v[a].len != v[a - 1].len ||
		    memcmp(v[a].p, v[a - 1].p, v[a].len) != 0)
			continue;
		/* v[a] repeats v[a - 1]; count it if v[a - 1] opens the run. */
		if ((a == 1 || v[a - 2].len != v[a - 1].len ||
		        memcmp(v[a - 2].p, v[a - 1].p, v[a].len) != 0) &&
		    (best == 0 || v[a].node < best))
			best = v[a].node;
	}
	free(v);
	if (best != 0)
		dup_note(j, best);
}

/*
 * Parses the whole line into j->nodes (node 0 is the root).  Returns -1
 * on malformed JSON (j->err); I-JSON violations and duplicates are only
 * noted (j->ijson, j->dup) so that malformed JSON anywhere outranks them.
 * Nesting is limited only by the line's length: the stack is explicit.
 */
int
jdoc_parse(struct jdoc *j)
{
	const char *s = j->s;
	uint32_t top;
	char c;

	j->pos = skip_ws(j, 0);
value:
	if (j->pos >= j->len)
		return jerr(j, j->pos, "unexpected end of line");
	c = s[j->pos];
	switch (c) {
	case '{':
		jpush(j, J_OBJECT);
		j->pos = skip_ws(j, j->pos + 1);
		if (j->pos < j->len && s[j->pos] == '}') {
			j->pos++;
			goto close;
		}
		goto name;
	case '[':
		jpush(j, J_ARRAY);
		j->pos = skip_ws(j, j->pos + 1);
		if (j->pos < j->len && s[j->pos] == ']') {
			j->pos++;
			goto close;
		}
		goto value;
	case '"':
		if (jstring(j) == -1)
			return -1;
		goto next;
	case 't':
		if (jliteral(j, "true", 4, J_TRUE) == -1)
			return -1;
		goto next;
	case 'f':
		if (jliteral(j, "false", 5, J_FALSE) == -1)
			return -1;
		goto next;
	case 'n':
		if (jliteral(j, "null", 4, J_NULL) == -1)
			return -1;
		goto next;
	default:
		if (c == '-' || jdoc_is_digit(c)) {
			if (jnumber(j) == -1)
				return -1;
			goto next;
		}
		return jerr(j, j->pos, "unexpected character");
	}
name:
	if (j->pos >= j->len || s[j->pos] != '"')
		return jerr(j, j->pos, "expected a member name");
	if (jstring(j) == -1)
		return -1;
	j->pos = skip_ws(j, j->pos);
	if (j->pos >= j->len || s[j->pos] != ':')
		return jerr(j, j->pos, "expected ':'");
	j->pos = skip_ws(j, j->pos + 1);
	goto value;
close:
	top = j->stack[--j->depth];
	j->nodes[top].next = (uint32_t)j->n;
	if (j->nodes[top].type == J_OBJECT)
		check_dups(j, top);
next:
	if (j->depth == 0) {
		j->pos = skip_ws(j, j->pos);
		if (j->pos < j->len)
			return jerr(j, j->pos, "text after the value");
		return 0;
	}
	top = j->stack[j->depth - 1];
	j->nodes[top].len++;
	j->pos = skip_ws(j, j->pos);
	if (j->pos >= j->len)
		return jerr(j, j->pos, "unexpected end of line");
	c = s[j->pos];
	if (c == ',') {
		j->pos = skip_ws(j, j->pos + 1);
		if (j->nodes[top].type == J_OBJECT)
			goto name;
		goto value;
	}
	if (j->nodes[top].type == J_OBJECT) {
		if (c != '}')
			return jerr(j, j->pos, "expected ',' or '}'");
	} else if (c != ']')
		return jerr(j, j->pos, "expected ',' or ']'");
	j->pos++;
	goto close;
}

/*
 * Returns the offset of the first byte that is not well-formed UTF-8
 * (RFC 3629: no overlongs, no surrogates, nothing above U+10FFFF), or
 * len.  ASCII, the usual case, goes eight bytes at a time.
 */
size_t
jdoc_utf8_check(const char *line, size_t len)
{
	const unsigned char *s = (const unsigned char *)line;
	size_t i = 0;
	uint64_t w;
	unsigned char c;

	while (i < len) {
		if (len - i >= 8) {
			memcpy(&w, s + i, 8);
			if ((w & 0x8080808080808080ULL) == 0) {
				i += 8;
				continue;
			}
		}
		c = s[i];
		if (c < 0x80) {
			i++;
		} else if (c >= 0xc2 && c <= 0xdf) {
			if (len - i < 2 || (s[i + 1] & 0xc0) != 0x80)
				return i;
			i += 2;
		} else if (c >= 0xe0 && c <= 0xef) {
			if (len - i < 3 || (s[i + 1] & 0xc0) != 0x80 ||
			    (s[i + 2] & 0xc0) != 0x80 ||
			    (c == 0xe0 && s[i + 1] < 0xa0) ||
			    (c == 0xed && s[i + 1] > 0x9f))
				return i;
			i += 3;
		} else if (c >= 0xf0 && c <= 0xf4) {
			if (len - i < 4 || (s[i + 1] & 0xc0) != 0x80 ||
			    (s[i + 2] & 0xc0) != 0x80 ||
			    (s[i + 3] & 0xc0) != 0x80 ||
			    (c == 0xf0 && s[i + 1] < 0x90) ||
			    (c == 0xf4 && s[i + 1] > 0x8f))
				return i;
			i += 4;
		} else
			return i;
	}
	return len;
}
