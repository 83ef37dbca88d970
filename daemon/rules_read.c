/*
 * rules_read — the first three phases of loading a rule set: a rule
 * file read whole, its text prescanned (@include refused, integers
 * beyond 32 bits marked as 64-bit), then parsed by libconfig with at
 * most one syntax error a file, said more precisely than libconfig
 * where the brackets tell more.
 *
 * Called by the loader through rules_int.h.
 */
#include "rules_int.h"

#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libconfig.h>

#include "cfgutil.h"
#include "jdoc.h"

/*
 * A rule file is written by hand; anything bigger is a mistake.  libconfig
 * 1.5 keeps setting lines in an unsigned short, so longer files would
 * report wrong lines: they are refused.
 */
#define RULES_FILE_MAX  (4 * 1024 * 1024)
#define RULES_LINES_MAX 65535

/* Phase 1: reading. */

/* Reads the regular file name of directory dfd whole; -1 with errno. */
int
ld_read_file(int dfd, const char *name, char **text, size_t *len)
{
	struct stat st;
	char *buf = NULL;
	size_t n = 0, cap = 4096;
	ssize_t r;
	int fd, saved;

	if ((fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY)) == -1)
		return -1;
	if (fstat(fd, &st) == -1)
		goto fail;
	if (!S_ISREG(st.st_mode)) {
		errno = EINVAL;
		goto fail;
	}
	buf = xmalloc(cap);
	for (;;) {
		if (n + 1 >= cap) {
			if (cap > RULES_FILE_MAX) {
				errno = EFBIG;
				goto fail;
			}
			cap *= 2;
			buf = xrealloc(buf, cap);
		}
		r = read(fd, buf + n, cap - n - 1);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1)
			goto fail;
		if (r == 0)
			break;
		n += (size_t)r;
	}
	if (n > RULES_FILE_MAX) {
		errno = EFBIG;
		goto fail;
	}
	close(fd);
	buf[n] = '\0';
	*text = buf;
	*len = n;
	return 0;
fail:
	saved = errno;
	free(buf);
	close(fd);
	errno = saved;
	return -1;
}

/* The ruleset owns the names; the loader's sources point at them. */
void
ld_add_src(struct loader *ld, char *name)
{
	struct ruleset *rs = ld->rs;

	rs->files =
	    xreallocarray(rs->files, rs->nfiles + 1, sizeof(*rs->files));
	rs->files[rs->nfiles++] = name;
	ld->src = xreallocarray(ld->src, ld->nsrc + 1, sizeof(*ld->src));
	memset(&ld->src[ld->nsrc], 0, sizeof(*ld->src));
	ld->src[ld->nsrc].name = name;
	ld->nsrc++;
}

/* Phase 2: the prescan. */

/* Copies t[i..j) keeping count of lines. */
static void
copy_span(struct buf *b, const char *t, size_t i, size_t j, int *line)
{
	size_t k;

	for (k = i; k < j; k++) {
		if (t[k] == '\n')
			(*line)++;
	}
	buf_append(b, t + i, j - i);
}

/* Appends t[i..j) as spaces, newlines kept. */
static void
blank_span(struct buf *b, const char *t, size_t i, size_t j, int *line)
{
	size_t k;

	for (k = i; k < j; k++) {
		if (t[k] == '\n')
			(*line)++;
		buf_append(b, t[k] == '\n' ? "\n" : " ", 1);
	}
}

/* The end of the string literal whose opening quote is at i. */
static size_t
string_end(const char *t, size_t len, size_t i)
{
	for (i++; i < len && t[i] != '"'; i++) {
		if (t[i] == '\\' && i + 1 < len)
			i++;
	}
	return i < len ? i + 1 : len;
}

/*
 * An integer literal at t[i..j) (decimal, optional sign, or hex).  libconfig
 * 1.5 reads one without an L suffix as 32 bits, truncating silently: one
 * beyond that range gets the suffix; one beyond 64 bits is an error.
 */
static void
integer_literal(struct loader *ld, const char *file, struct buf *b,
    const char *t, size_t i, size_t j, bool hex, int line)
{
	char tmp[64];
	long long v;
	unsigned long long u;
	char *end;

	buf_append(b, t + i, j - i);
	if (j - i >= sizeof(tmp)) {
		err_at(
		    ld, file, line, "the number %.20s... is too large", t + i);
		return;
	}
	memcpy(tmp, t + i, j - i);
	tmp[j - i] = '\0';
	errno = 0;
	if (hex) {
		u = strtoull(tmp, &end, 16);
		if (errno == ERANGE)
			err_at(
			    ld, file, line, "the number %s is too large", tmp);
		else if (u > INT_MAX)
			buf_append(b, "L", 1);
		return;
	}
	v = strtoll(tmp, &end, 10);
	if (errno == ERANGE)
		err_at(ld, file, line, "the number %s is too large", tmp);
	else if (v > INT_MAX || v < INT_MIN)
		buf_append(b, "L", 1);
}

/*
 * Puts into b the text libconfig is to parse, NUL-terminated: every
 * @include blanked (an error each) and wide integers suffixed.  Newlines are kept, so lines
 * are those of the file.  Follows libconfig's lexer: strings, # // and
 * block comments, names, numbers.
 */
static void
prescan(struct loader *ld, const char *file, const char *t, size_t len,
    struct buf *b)
{
	size_t i = 0, j;
	int line = 1;
	bool hex;

	while (i < len) {
		char c = t[i], d = i + 1 < len ? t[i + 1] : '\0';

		if (c == '"') {
			j = string_end(t, len, i);
		} else if (c == '#' || (c == '/' && d == '/')) {
			for (j = i; j < len && t[j] != '\n'; j++)
				;
		} else if (c == '/' && d == '*') {
			for (j = i + 2; j < len; j++) {
				if (t[j] == '*' && j + 1 < len &&
				    t[j + 1] == '/') {
					j += 2;
					break;
				}
			}
			if (j > len)
				j = len;
		} else if (c == '@' && len - i >= 8 &&
		    memcmp(t + i, "@include", 8) == 0) {
			err_at(ld, file, line,
			    "@include is not allowed: every .conf file of the rules directory is read, so put the settings in one of them");
			/* The directive and its file name: libconfig never sees them. */
			for (j = i + 8;
			     j < len && (t[j] == ' ' || t[j] == '\t'); j++)
				;
			if (j < len && t[j] == '"')
				j = string_end(t, len, j);
			blank_span(b, t, i, j, &line);
			i = j;
			continue;
		} else if (isalpha((unsigned char)c) || c == '*') {
			for (j = i + 1; j < len &&
			     (isalnum((unsigned char)t[j]) ||
			         strchr("-_*", t[j]) != NULL);
			     j++)
				;
		} else if (isdigit((unsigned char)c) ||
		    ((c == '-' || c == '+' || c == '.') &&
		        isdigit((unsigned char)d))) {
			hex = false;
			j = i;
			if (c == '-' || c == '+')
				j++;
			if (t[j] == '0' && j + 2 < len &&
			    (t[j + 1] == 'x' || t[j + 1] == 'X') &&
			    isxdigit((unsigned char)t[j + 2]) && j == i) {
				hex = true;
				for (j += 2;
				     j < len && isxdigit((unsigned char)t[j]);
				     j++)
					;
			} else {
				while (j < len && isdigit((unsigned char)t[j]))
					j++;
			}
			if (!hex && j < len &&
			    (t[j] == '.' || t[j] == 'e' || t[j] == 'E')) {
				/* A float: digits, fraction, exponent. */
				if (t[j] == '.')
					for (j++; j < len &&
					     isdigit((unsigned char)t[j]);
					     j++)
						;
				if (j < len && (t[j] == 'e' || t[j] == 'E')) {
					j++;
					if (j < len &&
					    (t[j] == '-' || t[j] == '+'))
						j++;
					while (j < len &&
					    isdigit((unsigned char)t[j]))
						j++;
				}
			} else if (j < len && t[j] == 'L') {
				/* Already 64-bit. */
			} else {
				integer_literal(
				    ld, file, b, t, i, j, hex, line);
				i = j;
				continue;
			}
		} else {
			j = i + 1;
		}
		copy_span(b, t, i, j, &line);
		i = j;
	}
	buf_append(b, "", 1);
}

/* Phase 3: parsing. */

/*
 * libconfig 1.5 says only "syntax error" and a line.  Where the brackets
 * tell more, say it: a closing bracket that does not match the one open
 * (at libconfig's line), or a bracket or string still open at the end of
 * the file.  t is the prescanned text (strings, comments as in libconfig).
 */
static void
syntax_hint(const char *t, int at, char *hint, size_t len)
{
	static const char pairs[] = "{}()[]";
	char open[64];
	int lines[64], line = 1, string_line = 0;
	size_t depth = 0, i;
	const char *p;

	hint[0] = '\0';
	for (i = 0; t[i] != '\0'; i++) {
		char c = t[i], d = t[i + 1];

		if (c == '\n') {
			line++;
		} else if (c == '"') {
			string_line = line;
			for (i++; t[i] != '\0' && t[i] != '"'; i++) {
				if (t[i] == '\n')
					line++;
				if (t[i] == '\\' && t[i + 1] != '\0')
					i++;
			}
			if (t[i] == '\0') {
				snprintf(hint, len,
				    ": the string opened at line %d is never closed",
				    string_line);
				return;
			}
		} else if (c == '#' || (c == '/' && d == '/')) {
			while (t[i + 1] != '\0' && t[i + 1] != '\n')
				i++;
		} else if (c == '/' && d == '*') {
			for (i += 2;
			     t[i] != '\0' && !(t[i] == '*' && t[i + 1] == '/');
			     i++)
				line += t[i] == '\n';
			if (t[i] == '\0')
				return;
			i++;
		} else if ((p = strchr(pairs, c)) != NULL && c != '\0') {
			if ((p - pairs) % 2 == 0) {
				if (depth == sizeof(open))
					return;
				open[depth] = c;
				lines[depth++] = line;
				continue;
			}
			if (depth > 0 && open[depth - 1] == p[-1]) {
				depth--;
				continue;
			}
			if (line != at)
				return;
			if (depth == 0)
				snprintf(hint, len,
				    ": unexpected \"%c\": nothing is open to close",
				    c);
			else
				snprintf(hint, len,
				    ": expected \"%c\" to close the \"%c\" of line %d, not \"%c\"",
				    pairs[strchr(pairs, open[depth - 1]) -
				        pairs + 1],
				    open[depth - 1], lines[depth - 1], c);
			return;
		}
	}
	if (depth > 0 && at >= line - 1)
		snprintf(hint, len,
		    ": expected \"%c\" to close the \"%c\" of line %d before the end of the file",
		    pairs[strchr(pairs, open[depth - 1]) - pairs + 1],
		    open[depth - 1], lines[depth - 1]);
}

/*
 * Every string of a rule file is UTF-8: names and texts go into the
 * feed's JSON records.  The file's bytes may all be ASCII and a string
 * still not be: libconfig reads "\xE9" as the byte 0xE9.
 */
static void
check_strings(struct loader *ld, const struct src *s, config_setting_t *g)
{
	const config_setting_t *named = g;
	const char *v;
	size_t len;
	int i, n;

	if (config_setting_type(g) == CONFIG_TYPE_STRING) {
		v = config_setting_get_string(g);
		len = strlen(v);
		if (jdoc_utf8_check(v, len) == len)
			return;
		while (named != NULL && config_setting_name(named) == NULL)
			named = config_setting_parent(named);
		err_at(ld, s->name, line_of(g),
		    "%s: the string is not valid UTF-8 (a \\x escape?)",
		    named != NULL ? config_setting_name(named) : "string");
		return;
	}
	if (!config_setting_is_aggregate(g))
		return;
	n = config_setting_length(g);
	for (i = 0; i < n; i++)
		check_strings(ld, s, config_setting_get_elem(g, (unsigned)i));
}

void
ld_parse_src(struct loader *ld, struct src *s)
{
	const char *nul, *why;
	struct buf scan;
	char hint[DIAG_MSG_MAX / 2];
	size_t k;
	int lines = 1, line;

	s->syntax = SIZE_MAX;
	if ((nul = memchr(s->text, '\0', s->len)) != NULL) {
		for (k = 0; s->text + k < nul; k++)
			lines += s->text[k] == '\n';
		s->syntax = ld->ds->n;
		err_at(ld, s->name, lines,
		    "the file contains a NUL byte: is it a rule file?");
		return;
	}
	for (k = 0; k < s->len; k++)
		lines += s->text[k] == '\n';
	if (lines > RULES_LINES_MAX) {
		s->syntax = ld->ds->n;
		err_at(ld, s->name, 0,
		    "the file has more than %d lines: split it",
		    RULES_LINES_MAX);
		return;
	}
	buf_init(&scan);
	prescan(ld, s->name, s->text, s->len, &scan);
	config_init(&s->cfg);
	s->readable = true;
	if (config_read_string(&s->cfg, buf_data(&scan)) == CONFIG_TRUE) {
		s->parsed = true;
		/* For ld_elem_line(): the file's text from any setting. */
		config_setting_set_hook(config_root_setting(&s->cfg), s);
		check_strings(ld, s, config_root_setting(&s->cfg));
		buf_fini(&scan);
		return;
	}
	why = config_error_text(&s->cfg);
	line = config_error_line(&s->cfg);
	s->syntax = ld->ds->n;
	if (strcmp(why, "duplicate setting name") == 0)
		err_at(ld, s->name, line,
		    "duplicate setting: the same name is set twice in one group");
	else if (strcmp(why, "mismatched element type in array") == 0)
		err_at(ld, s->name, line,
		    "syntax error: an array [ ... ] holds values of one type only (all strings, or all numbers): mismatched element type");
	else if (strcmp(why, "syntax error") == 0) {
		syntax_hint(buf_data(&scan), line, hint, sizeof(hint));
		err_at(ld, s->name, line, "syntax error%s", hint);
	} else
		err_at(ld, s->name, line, "syntax error: %s", why);
	buf_fini(&scan);
}

/*
 * Of the diags added since n0 (while parsing), keeps only the files'
 * syntax errors: what prescan found in other lines goes with the rest.
 */
void
ld_keep_syntax_only(struct loader *ld, size_t n0)
{
	struct diags *ds = ld->ds;
	size_t i, j, k = n0;

	for (j = n0; j < ds->n; j++) {
		for (i = 0; i < ld->nsrc; i++)
			if (ld->src[i].syntax == j)
				break;
		if (i == ld->nsrc) {
			if (ds->v[j].warning)
				ds->warnings--;
			else
				ds->errors--;
			continue;
		}
		ds->v[k++] = ds->v[j];
	}
	ds->n = k;
}

int
ld_elem_line(const config_setting_t *s, int line)
{
	const config_setting_t *root = s;
	const struct src *src;

	while (root->parent != NULL)
		root = root->parent;
	if ((src = config_setting_get_hook(root)) == NULL)
		return line;
	return cfgutil_line_in(s, line, src->text, src->len);
}
