/*
 * rules — rule files (libconfig) into an immutable struct ruleset.
 *
 * Called by dunnd (start, reload, --check), protocol (simulate) and
 * dunnctl (check-rules).  With conf.c the only includer of <libconfig.h>
 * (and rules_calendar.c, its part for the calendar and schedules of §4.9,
 * which shares the loader through the private rules_int.h).
 *
 * Loading runs in phases; each keeps going after an error, so one run
 * reports every error of the set (interfaces.md §4.8, style.md §4):
 *   1. read the files in byte order of names and hash their bytes into
 *      rules_version (§4.7);
 *   2. prescan each text: refuse @include before libconfig would expand
 *      it (the directive is blanked, so the rest is still checked), and
 *      mark integers beyond 32 bits as 64-bit: libconfig 1.5 truncates
 *      them silently (a balance of 5000000000 would become 705032704);
 *   3. parse with libconfig: at most one syntax error per file;
 *   4. top level: the five lists concatenated in file order, the four
 *      single settings (calendar included) at most once across all files,
 *      the holidays and extra_workdays lists;
 *   5. the names of every list first, so that references resolve across
 *      files in any order; the calendar and schedules (rules_calendar.c);
 *      then every item; then the calendar's warnings that need them all;
 *   6. analysis: unreachable stages, shadowed rules, rule cycles (§4.8).
 * A set with an error is freed and NULL returned: nothing is applied.
 *
 * Invariants of a returned set:
 *   (1) nstages >= 1 and every stage, script, schedule and window index
 *       is valid;
 *   (2) names are unique in each of the five namespaces;
 *   (3) no cycle of rules that can follow each other (§4.8) exists, so an
 *       evaluation in which no fact changed changes nothing.
 */
#include "rules.h"
#include "rules_int.h"

#include <sys/stat.h>

#include <assert.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libconfig.h>

#include "clock.h"

static const char *const fact_names[RULES_FACT_COUNT] = {
	"balance",
	"overdue_amount",
	"disputed_amount",
	"undisputed_overdue",
	"overdue_invoices",
	"days_overdue",
	"days_to_due",
	"late_trend",
	"on_time_ratio",
	"first_miss",
	"promises_broken",
	"promises_kept",
	"promise_pending",
	"unreached",
	"days_in_stage",
	"stage",
	"size",
	"risk",
	"tags",
	"decision_maker",
};

static const enum rules_fact_kind fact_kinds[RULES_FACT_COUNT] = {
	[RULES_FACT_BALANCE] = RULES_KIND_NUMBER,
	[RULES_FACT_OVERDUE_AMOUNT] = RULES_KIND_NUMBER,
	[RULES_FACT_DISPUTED_AMOUNT] = RULES_KIND_NUMBER,
	[RULES_FACT_UNDISPUTED_OVERDUE] = RULES_KIND_NUMBER,
	[RULES_FACT_OVERDUE_INVOICES] = RULES_KIND_NUMBER,
	[RULES_FACT_DAYS_OVERDUE] = RULES_KIND_NUMBER,
	[RULES_FACT_DAYS_TO_DUE] = RULES_KIND_NUMBER,
	[RULES_FACT_LATE_TREND] = RULES_KIND_NUMBER,
	[RULES_FACT_ON_TIME_RATIO] = RULES_KIND_NUMBER,
	[RULES_FACT_FIRST_MISS] = RULES_KIND_BOOL,
	[RULES_FACT_PROMISES_BROKEN] = RULES_KIND_NUMBER,
	[RULES_FACT_PROMISES_KEPT] = RULES_KIND_NUMBER,
	[RULES_FACT_PROMISE_PENDING] = RULES_KIND_BOOL,
	[RULES_FACT_UNREACHED] = RULES_KIND_NUMBER,
	[RULES_FACT_DAYS_IN_STAGE] = RULES_KIND_NUMBER,
	[RULES_FACT_STAGE] = RULES_KIND_SET,
	[RULES_FACT_SIZE] = RULES_KIND_SET,
	[RULES_FACT_RISK] = RULES_KIND_SET,
	[RULES_FACT_TAGS] = RULES_KIND_TAGS,
	[RULES_FACT_DECISION_MAKER] = RULES_KIND_BOOL,
};

static const char *const task_names[RULES_TASK_COUNT] = {
	"call",
	"visit",
	"letter",
	"email",
	"sms",
	"credit_hold",
	"review",
	"legal_referral",
	"credit_release",
	"approval",
};
static const char *const size_names[RULES_SIZE_COUNT] = {
	"small",
	"medium",
	"large",
};

static const char *const risk_names[RULES_RISK_COUNT] = {
	"A",
	"B",
	"C",
	"D",
	"E",
};

static void
strv_free(char **v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

int
ld_find_stage(const struct ruleset *rs, const char *name)
{
	size_t i;

	for (i = 0; i < rs->nstages; i++) {
		if (rs->stages[i].name != NULL &&
		    strcmp(rs->stages[i].name, name) == 0)
			return (int)i;
	}
	return -1;
}

/* Phase 1: reading. */

static bool
conf_name(const char *name)
{
	size_t n = strlen(name);

	return name[0] != '.' && n >= 5 && strcmp(name + n - 5, ".conf") == 0 &&
	    strchr(name, '/') == NULL;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Phase 6: analysis (§4.8). */

/*
 * §4.8: a rule is shadowed by an earlier one that applies from every stage
 * the later one can start from, never leads to that stage, and whose when
 * the later one's implies.
 */
static bool
shadows(const struct ruleset *rs, const struct rules_rule *e,
    const struct condmap *emap, const struct condmap *lmap,
    const uint64_t *start)
{
	size_t w, i;

	for (w = 0; w < rs->stage_words; w++) {
		if (start[w] & ~e->from[w])
			return false;
	}
	if (rules_stageset_has(start, e->to))
		return false;
	for (i = 0; i < RULES_FACT_COUNT; i++) {
		if (emap->c[i] != NULL &&
		    !ld_cond_implied(rs, lmap, start, emap->c[i]))
			return false;
	}
	return true;
}

static void
check_shadows(struct loader *ld, const struct condmap *maps)
{
	struct ruleset *rs = ld->rs;
	uint64_t *start = xcalloc(rs->stage_words, sizeof(*start));
	size_t l, e, w;
	bool any;

	for (l = 0; l < rs->nrules; l++) {
		if (!ld->rule_ok[l])
			continue;
		any = false;
		for (w = 0; w < rs->stage_words; w++) {
			start[w] = rs->rules[l].from[w];
			if (w == rs->rules[l].to / 64)
				start[w] &=
				    ~((uint64_t)1 << (rs->rules[l].to % 64));
			any |= start[w] != 0;
		}
		if (!any)
			continue;
		for (e = 0; e < l; e++) {
			if (ld->rule_ok[e] &&
			    shadows(
			        rs, &rs->rules[e], &maps[e], &maps[l], start)) {
				warn_at(ld, rs->rules[l].file,
				    rs->rules[l].line,
				    "rule \"%s\" is shadowed by rule \"%s\" (%s:%d): wherever it could apply, that earlier rule applies first",
				    rs->rules[l].name, rs->rules[e].name,
				    rs->rules[e].file, rs->rules[e].line);
				break;
			}
		}
	}
	free(start);
}

/* §4.8: rule b can follow rule a. */
static bool
can_follow(
    const struct ruleset *rs, size_t a, size_t b, const struct condmap *maps)
{
	const struct rules_rule *ra = &rs->rules[a], *rb = &rs->rules[b];

	return rules_stageset_has(rb->from, ra->to) && rb->to != ra->to &&
	    ld_compatible(&maps[a], &maps[b]);
}

/* The "can follow" graph in compressed rows: edges of v are
 * adj[off[v]..off[v+1]). */
struct graph {
	size_t n;
	size_t *off, *adj;
};

/* Breadth-first distances from src inside component cid, along adj
 * (off/adj: forward or reverse edges); SIZE_MAX = not reached. */
static void
bfs(size_t n, const size_t *off, const size_t *adj, const size_t *comp,
    size_t cid, size_t src, size_t *dist, size_t *queue)
{
	size_t qh = 0, qt = 0, x, e, w;

	for (x = 0; x < n; x++)
		dist[x] = SIZE_MAX;
	dist[src] = 0;
	queue[qt++] = src;
	while (qh < qt) {
		x = queue[qh++];
		for (e = off[x]; e < off[x + 1]; e++) {
			w = adj[e];
			if (comp[w] == cid && dist[w] == SIZE_MAX) {
				dist[w] = dist[x] + 1;
				queue[qt++] = w;
			}
		}
	}
}

/*
 * §4.8: names a shortest cycle of component cid: among equals the one
 * whose rule positions, sorted, come first, written from its first rule
 * in rule order, at that rule's line.
 *
 * Let L be the shortest cycle length and s the first rule on any cycle
 * of length L (every such cycle through s has only later rules).  On a
 * cycle of length L through s each rule x stands at position d(s, x),
 * and d(x, s) = L - d(s, x): a shorter arc would close a shorter cycle.
 * So these cycles are exactly the paths through the layers
 * {x : d(s, x) = i, d(x, s) = L - i}, and one rule per layer decides the
 * cycle (the tie-break on cycle order never has two to choose from).
 * The sorted positions come first lexicographically when each next
 * smallest rule is taken greedily among those still on a path through
 * the rules taken: x in a free layer is, when it is reached from the
 * taken rule of the nearest taken layer before it and reaches the one
 * after it, layer by layer.  Polynomial: L passes over the edges.
 */
static void
report_cycle(
    struct loader *ld, const struct graph *g, const size_t *comp, size_t cid)
{
	const struct ruleset *rs = ld->rs;
	size_t n = g->n, x, e, w, v, s = SIZE_MAX, L = SIZE_MAX, i, k, best;
	size_t *roff = xcalloc(n + 2, sizeof(*roff));
	size_t *radj = xmalloc((g->off[n] + 1) * sizeof(*radj));
	size_t *dist = xmalloc(n * sizeof(*dist));
	size_t *rdist = xmalloc(n * sizeof(*rdist));
	size_t *queue = xmalloc(n * sizeof(*queue));
	size_t *layer = xmalloc(n * sizeof(*layer));
	size_t *fixed, *order;
	bool *fw = xcalloc(n, sizeof(*fw)), *bw = xcalloc(n, sizeof(*bw));
	char msg[DIAG_MSG_MAX];
	size_t used;

	/* Reverse edges, compressed rows. */
	for (e = 0; e < g->off[n]; e++)
		roff[g->adj[e] + 2]++;
	for (x = 0; x < n; x++)
		roff[x + 2] += roff[x + 1];
	for (x = 0; x < n; x++)
		for (e = g->off[x]; e < g->off[x + 1]; e++)
			radj[roff[g->adj[e] + 1]++] = x;
	/* L and s: the first rule whose shortest cycle is shortest. */
	for (v = 0; v < n; v++) {
		if (comp[v] != cid)
			continue;
		bfs(n, g->off, g->adj, comp, cid, v, dist, queue);
		for (e = roff[v]; e < roff[v + 1]; e++) {
			x = radj[e];
			if (dist[x] != SIZE_MAX && dist[x] + 1 < L) {
				L = dist[x] + 1;
				s = v;
			}
		}
	}
	/* A component of two or more rules always has a cycle. */
	assert(s != SIZE_MAX && L >= 2);
	bfs(n, g->off, g->adj, comp, cid, s, dist, queue);
	bfs(n, roff, radj, comp, cid, s, rdist, queue);
	/* The layers, and the rules in layer order. */
	order = xmalloc(n * sizeof(*order));
	fixed = xmalloc(L * sizeof(*fixed));
	for (x = 0; x < n; x++)
		layer[x] = x == s ? 0
		    : dist[x] != SIZE_MAX && rdist[x] != SIZE_MAX &&
		        dist[x] + rdist[x] == L
		    ? dist[x]
		    : SIZE_MAX;
	k = 0;
	for (i = 0; i < L; i++) {
		fixed[i] = SIZE_MAX;
		for (x = 0; x < n; x++)
			if (layer[x] == i)
				order[k++] = x;
	}
	fixed[0] = s;
	for (;;) {
		/* Forward: reached from the taken rules, layer by layer. */
		for (i = 0; i < k; i++) {
			x = order[i];
			fw[x] = layer[x] == 0 ? x == s : fw[x];
			if (fixed[layer[x]] != SIZE_MAX && fixed[layer[x]] != x)
				fw[x] = false;
			if (!fw[x] || layer[x] + 1 == L)
				continue;
			for (e = g->off[x]; e < g->off[x + 1]; e++) {
				w = g->adj[e];
				if (layer[w] == layer[x] + 1)
					fw[w] = true;
			}
		}
		/* Backward: reaching the taken rules, layers descending. */
		for (i = k; i-- > 0;) {
			x = order[i];
			bw[x] = false;
			if (fixed[layer[x]] != SIZE_MAX && fixed[layer[x]] != x)
				continue;
			for (e = g->off[x]; e < g->off[x + 1]; e++) {
				w = g->adj[e];
				if (layer[x] + 1 == L
				        ? w == s
				        : layer[w] == layer[x] + 1 && bw[w]) {
					bw[x] = true;
					break;
				}
			}
		}
		best = SIZE_MAX;
		for (i = 0; i < k; i++) {
			x = order[i];
			if (fixed[layer[x]] == SIZE_MAX && fw[x] && bw[x] &&
			    x < best)
				best = x;
		}
		if (best == SIZE_MAX)
			break;
		fixed[layer[best]] = best;
		for (i = 0; i < k; i++)
			fw[order[i]] = false;
	}
	used = (size_t)snprintf(msg, sizeof(msg), "rule cycle:");
	for (i = 0; i < L && used < sizeof(msg); i++)
		used += (size_t)snprintf(msg + used, sizeof(msg) - used,
		    " %s ->", rs->rules[fixed[i]].name);
	if (used < sizeof(msg))
		snprintf(
		    msg + used, sizeof(msg) - used, " %s", rs->rules[s].name);
	err_at(ld, rs->rules[s].file, rs->rules[s].line, "%s", msg);
	free(roff);
	free(radj);
	free(dist);
	free(rdist);
	free(queue);
	free(layer);
	free(fixed);
	free(order);
	free(fw);
	free(bw);
}

/*
 * Tarjan's strongly connected components, iteratively (a deep recursion
 * on a large set must not overflow the stack).  One error per component
 * of two or more rules: without self-loops (a rule cannot follow itself)
 * exactly these hold a cycle.
 */
static void
find_cycles(struct loader *ld, const struct graph *g)
{
	size_t n = g->n, next = 0, sp = 0, cp = 0, ncomp = 0;
	size_t *num = xmalloc(n * sizeof(*num));
	size_t *low = xmalloc(n * sizeof(*low));
	size_t *comp = xmalloc(n * sizeof(*comp));
	size_t *stack = xmalloc(n * sizeof(*stack));
	size_t *cv = xmalloc(n * sizeof(*cv));
	size_t *ce = xmalloc(n * sizeof(*ce));
	bool *on = xcalloc(n, sizeof(*on));
	size_t v0, v, w, u, size;

	for (v = 0; v < n; v++)
		num[v] = comp[v] = SIZE_MAX;
	for (v0 = 0; v0 < n; v0++) {
		if (num[v0] != SIZE_MAX)
			continue;
		num[v0] = low[v0] = next++;
		stack[sp++] = v0;
		on[v0] = true;
		cv[cp] = v0;
		ce[cp++] = g->off[v0];
		while (cp > 0) {
			v = cv[cp - 1];
			if (ce[cp - 1] < g->off[v + 1]) {
				w = g->adj[ce[cp - 1]++];
				if (num[w] == SIZE_MAX) {
					num[w] = low[w] = next++;
					stack[sp++] = w;
					on[w] = true;
					cv[cp] = w;
					ce[cp++] = g->off[w];
				} else if (on[w] && num[w] < low[v]) {
					low[v] = num[w];
				}
				continue;
			}
			if (low[v] == num[v]) {
				size = 0;
				do {
					w = stack[--sp];
					on[w] = false;
					comp[w] = ncomp;
					size++;
				} while (w != v);
				if (size >= 2)
					report_cycle(ld, g, comp, ncomp);
				ncomp++;
			}
			cp--;
			if (cp > 0) {
				u = cv[cp - 1];
				if (low[v] < low[u])
					low[u] = low[v];
			}
		}
	}
	free(num);
	free(low);
	free(comp);
	free(stack);
	free(cv);
	free(ce);
	free(on);
}

static void
check_cycles(struct loader *ld, const struct condmap *maps)
{
	const struct ruleset *rs = ld->rs;
	struct graph g;
	size_t a, b, ne = 0, cap = 16;

	g.n = rs->nrules;
	g.off = xcalloc(g.n + 1, sizeof(*g.off));
	g.adj = xmalloc(cap * sizeof(*g.adj));
	for (a = 0; a < g.n; a++) {
		g.off[a] = ne;
		if (!ld->rule_ok[a])
			continue;
		for (b = 0; b < g.n; b++) {
			if (!ld->rule_ok[b] || !can_follow(rs, a, b, maps))
				continue;
			if (ne == cap) {
				cap *= 2;
				g.adj =
				    xreallocarray(g.adj, cap, sizeof(*g.adj));
			}
			g.adj[ne++] = b;
		}
	}
	g.off[g.n] = ne;
	find_cycles(ld, &g);
	free(g.off);
	free(g.adj);
}

static void
check_reachable(struct loader *ld)
{
	const struct ruleset *rs = ld->rs;
	bool *leads = xcalloc(rs->nstages, sizeof(*leads));
	size_t i;

	for (i = 0; i < rs->nrules; i++) {
		if (ld->to_ok[i])
			leads[rs->rules[i].to] = true;
	}
	for (i = 1; i < rs->nstages; i++) {
		if (!leads[i] && rs->stages[i].name != NULL)
			warn_at(ld, rs->stages[i].file, rs->stages[i].line,
			    "stage \"%s\": no rule leads to this stage, so no account can reach it",
			    rs->stages[i].name);
	}
	free(leads);
}

static void
analyse(struct loader *ld)
{
	const struct ruleset *rs = ld->rs;
	struct condmap *maps =
	    xcalloc(rs->nrules ? rs->nrules : 1, sizeof(*maps));
	size_t i, k;

	for (i = 0; i < rs->nrules; i++) {
		for (k = 0; k < rs->rules[i].when.n; k++)
			maps[i].c[rs->rules[i].when.conds[k].fact] =
			    &rs->rules[i].when.conds[k];
	}
	check_reachable(ld);
	check_shadows(ld, maps);
	check_cycles(ld, maps);
	free(maps);
}

/* Finishing a good set: what it uses, and per-stage rule lists. */

static int
cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

static void
use_when(struct rules_uses *u, struct rules_when *w, bool assign)
{
	struct rules_cond *c;
	size_t i, k;

	for (i = 0; i < w->n; i++) {
		c = &w->conds[i];
		u->facts |= 1u << c->fact;
		if (!((1u << c->fact) & PROMISES))
			continue;
		if (!assign) {
			u->windows = xreallocarray(
			    u->windows, u->nwindows + 1, sizeof(*u->windows));
			u->windows[u->nwindows++] = c->window_s;
			continue;
		}
		for (k = 0; u->windows[k] != c->window_s; k++)
			;
		c->window = k;
	}
}

static void
use_all(struct ruleset *rs, bool assign)
{
	size_t i;

	for (i = 0; i < rs->nstages; i++) {
		use_when(&rs->uses, &rs->stages[i].hold_when, assign);
		/* §4.3: release_when's facts have due moments too. */
		use_when(&rs->uses, &rs->stages[i].release_when, assign);
	}
	for (i = 0; i < rs->nrules; i++)
		use_when(&rs->uses, &rs->rules[i].when, assign);
	for (i = 0; i < rs->nalerts; i++)
		use_when(&rs->uses, &rs->alerts[i].when, assign);
}

static void
finish(struct ruleset *rs)
{
	struct rules_uses *u = &rs->uses;
	struct rules_stage *st;
	size_t i, k, r;

	use_all(rs, false);
	if (u->nwindows > 0)
		qsort(u->windows, u->nwindows, sizeof(*u->windows), cmp_i64);
	for (i = k = 0; i < u->nwindows; i++) {
		if (k == 0 || u->windows[k - 1] != u->windows[i])
			u->windows[k++] = u->windows[i];
	}
	u->nwindows = k;
	u->max_window_s = k > 0 ? u->windows[k - 1] : 0;
	use_all(rs, true);
	for (i = 0; i < rs->nstages; i++) {
		st = &rs->stages[i];
		st->rules =
		    xcalloc(rs->nrules ? rs->nrules : 1, sizeof(*st->rules));
		for (r = 0; r < rs->nrules; r++) {
			if (rules_stageset_has(rs->rules[r].from, i) &&
			    rs->rules[r].to != i)
				st->rules[st->nrules++] = r;
		}
	}
}

/* The whole load, once the files are in ld->src. */
static struct ruleset *
load(struct loader *ld)
{
	struct ruleset *rs = ld->rs;
	struct hash128 h;
	uint8_t digest[HASH_LEN], lenbuf[8];
	size_t i, k, n0;
	bool all_parsed = true, syntax = false;
	uint64_t n;

	/*
	 * rules_version: each file's length (8 bytes, little-endian), then
	 * its bytes, in read order; the lengths keep "ab"+"c" apart from
	 * "a"+"bc".
	 */
	hash_init(&h);
	for (i = 0; i < ld->nsrc; i++) {
		n = ld->src[i].len;
		for (k = 0; k < 8; k++)
			lenbuf[k] = (uint8_t)(n >> (8 * k));
		hash_update(&h, lenbuf, 8);
		if (ld->src[i].text != NULL)
			hash_update(&h, ld->src[i].text, ld->src[i].len);
	}
	hash_final(&h, digest);
	hash_hex(digest, rs->version);

	n0 = ld->ds->n;
	for (i = 0; i < ld->nsrc; i++) {
		ld->src[i].syntax = SIZE_MAX;
		if (ld->src[i].text != NULL)
			ld_parse_src(ld, &ld->src[i]);
		if (ld->src[i].syntax != SIZE_MAX)
			syntax = true;
	}
	/*
	 * §4.8: with a syntax error only the syntax errors are reported; the
	 * other checks need the whole set and would cascade.
	 */
	if (syntax)
		ld_keep_syntax_only(ld, n0);
	for (i = 0; i < ld->nsrc; i++) {
		if (ld->src[i].parsed && !syntax)
			ld_top_level(ld, &ld->src[i]);
		else
			all_parsed = false;
	}

	rs->nstages = ld->nitems[L_STAGES];
	rs->stage_words = rs->nstages / 64 + 1;
	rs->stages = xcalloc(rs->nstages + 1, sizeof(*rs->stages));
	rs->nrules = ld->nitems[L_RULES];
	rs->rules = xcalloc(rs->nrules + 1, sizeof(*rs->rules));
	rs->nalerts = ld->nitems[L_ALERTS];
	rs->alerts = xcalloc(rs->nalerts + 1, sizeof(*rs->alerts));
	rs->nscripts = ld->nitems[L_SCRIPTS];
	rs->scripts = xcalloc(rs->nscripts + 1, sizeof(*rs->scripts));
	rs->nschedules = ld->nitems[L_SCHEDULES];
	rs->schedules = xcalloc(rs->nschedules + 1, sizeof(*rs->schedules));
	ld->sched_named = xcalloc(rs->nschedules + 1, sizeof(*ld->sched_named));
	ld->rule_ok = xcalloc(rs->nrules + 1, sizeof(*ld->rule_ok));
	ld->to_ok = xcalloc(rs->nrules + 1, sizeof(*ld->to_ok));

	/* Names first: references resolve across files in any order. */
	for (k = 0; k < L_COUNT; k++) {
		for (i = 0; i < ld->nitems[k]; i++)
			ld_take_name(ld, (int)k, i);
	}
	/* The calendar and schedules before the tasks that name them. */
	rules_cal_parse(ld);
	for (i = 0; i < rs->nscripts; i++) {
		if (config_setting_is_group(ld->items[L_SCRIPTS][i].s))
			ld_parse_script(ld, i);
	}
	for (i = 0; i < rs->nstages; i++) {
		if (config_setting_is_group(ld->items[L_STAGES][i].s))
			ld_parse_stage(ld, i);
	}
	for (i = 0; i < rs->nrules; i++) {
		if (config_setting_is_group(ld->items[L_RULES][i].s))
			ld_parse_rule(ld, i);
	}
	for (i = 0; i < rs->nalerts; i++) {
		if (config_setting_is_group(ld->items[L_ALERTS][i].s))
			ld_parse_alert(ld, i);
	}
	rules_cal_check(ld);
	if (rs->nstages == 0 && all_parsed) {
		if (ld->nsrc == 0)
			err_at(ld, ld->where, 0,
			    "no stages: there is no rule file (*.conf)");
		else
			err_at(ld, ld->src[0].name, 1,
			    "no stages: a rule set needs at least one stage, e.g. stages = ( { name = \"current\"; } );");
	}
	analyse(ld);

	for (i = 0; i < ld->nsrc; i++) {
		if (ld->src[i].readable)
			config_destroy(&ld->src[i].cfg);
		free(ld->src[i].text);
	}
	for (k = 0; k < L_COUNT; k++)
		free(ld->items[k]);
	free(ld->dates);
	free(ld->sched_named);
	free(ld->src);
	free(ld->rule_ok);
	free(ld->to_ok);
	diags_sort(ld->ds);
	if (ld->ds->errors > ld->errors0) {
		rules_free(rs);
		return NULL;
	}
	finish(rs);
	return rs;
}

static void
loader_init(struct loader *ld, struct diags *ds, const char *where)
{
	memset(ld, 0, sizeof(*ld));
	ld->ds = ds;
	ld->errors0 = ds->errors;
	ld->where = where;
	ld->rs = xcalloc(1, sizeof(*ld->rs));
	ld->rs->trend_window = RULES_TREND_WINDOW_DEFAULT;
	for (size_t i = 0; i < RULES_TASK_COUNT; i++)
		ld->rs->type_schedule[i] = -1;
}

struct ruleset *
rules_load_dir(const char *dir, struct diags *ds)
{
	struct loader ld;
	struct dirent *de;
	struct stat st;
	char **names = NULL;
	size_t n = 0, i;
	DIR *d;

	if ((d = opendir(dir)) == NULL) {
		diags_add(ds, dir, 0, false,
		    "cannot read the rules directory: %s", strerror(errno));
		return NULL;
	}
	errno = 0;
	while ((de = readdir(d)) != NULL) {
		if (!conf_name(de->d_name))
			continue;
		names = xreallocarray(names, n + 1, sizeof(*names));
		names[n++] = xstrdup(de->d_name);
	}
	if (errno != 0) {
		diags_add(ds, dir, 0, false,
		    "cannot read the rules directory: %s", strerror(errno));
		for (i = 0; i < n; i++)
			free(names[i]);
		free(names);
		closedir(d);
		return NULL;
	}
	if (n > 0)
		qsort(names, n, sizeof(*names), cmp_str);
	loader_init(&ld, ds, dir);
	for (i = 0; i < n; i++) {
		/* Subdirectories and other non-files are not rule files. */
		if (fstatat(dirfd(d), names[i], &st, 0) == 0 &&
		    !S_ISREG(st.st_mode)) {
			free(names[i]);
			continue;
		}
		ld_add_src(&ld, names[i]);
		if (ld_read_file(dirfd(d), names[i], &ld.src[ld.nsrc - 1].text,
		        &ld.src[ld.nsrc - 1].len) == -1)
			diags_add(ds, names[i], 0, false,
			    "cannot read the file: %s", strerror(errno));
	}
	free(names);
	closedir(d);
	return load(&ld);
}

struct ruleset *
rules_load_files(const char *const *names, const char *const *texts, size_t n,
    struct diags *ds)
{
	struct loader ld;
	const char **sorted = xcalloc(n + 1, sizeof(*sorted));
	size_t m = 0, i, k;
	struct src *s;

	for (i = 0; i < n; i++) {
		if (conf_name(names[i]))
			sorted[m++] = names[i];
	}
	qsort(sorted, m, sizeof(*sorted), cmp_str);
	loader_init(&ld, ds, "(files)");
	for (i = 0; i < m; i++) {
		if (i > 0 && strcmp(sorted[i], sorted[i - 1]) == 0) {
			diags_add(
			    ds, sorted[i], 0, false, "the file is given twice");
			continue;
		}
		for (k = 0; names[k] != sorted[i]; k++)
			;
		ld_add_src(&ld, xstrdup(sorted[i]));
		s = &ld.src[ld.nsrc - 1];
		s->len = strlen(texts[k]);
		s->text = xstrndup(texts[k], s->len);
	}
	free(sorted);
	return load(&ld);
}

static void
when_free(struct rules_when *w)
{
	size_t i;

	for (i = 0; i < w->n; i++) {
		free(w->conds[i].stages);
		strv_free(w->conds[i].any, w->conds[i].nany);
		strv_free(w->conds[i].none, w->conds[i].nnone);
	}
	free(w->conds);
}

void
rules_free(struct ruleset *rs)
{
	size_t i;

	if (rs == NULL)
		return;
	for (i = 0; i < rs->nstages; i++) {
		free((char *)rs->stages[i].name);
		free(rs->stages[i].tasks);
		when_free(&rs->stages[i].hold_when);
		when_free(&rs->stages[i].release_when);
		free(rs->stages[i].rules);
	}
	for (i = 0; i < rs->nrules; i++) {
		free((char *)rs->rules[i].name);
		free(rs->rules[i].from);
		when_free(&rs->rules[i].when);
	}
	for (i = 0; i < rs->nalerts; i++) {
		free((char *)rs->alerts[i].name);
		when_free(&rs->alerts[i].when);
	}
	for (i = 0; i < rs->nscripts; i++) {
		free((char *)rs->scripts[i].name);
		strv_free(rs->scripts[i].checklist, rs->scripts[i].nchecklist);
	}
	free(rs->stages);
	free(rs->rules);
	free(rs->alerts);
	free(rs->scripts);
	free(rs->uses.windows);
	rules_cal_free(rs);
	strv_free(rs->files, rs->nfiles);
	free(rs);
}

int
rules_check(const char *dir, FILE *out)
{
	struct ruleset *rs;
	struct diags ds;
	char line[sizeof(ds.v->file) + DIAG_MSG_MAX + 32];
	size_t i;
	int ret;

	diags_init(&ds);
	rs = rules_load_dir(dir, &ds);
	for (i = 0; i < ds.n; i++) {
		diag_format(&ds.v[i], line, sizeof(line));
		fprintf(out, "%s\n", line);
	}
	ret = rs == NULL ? 1 : 0;
	rules_free(rs);
	diags_fini(&ds);
	return ret;
}

/* Evaluation helpers. */

static bool
tags_hold(const struct rules_cond *c, const struct rules_factvals *fv)
{
	size_t i, k;
	bool any = c->nany == 0;

	for (i = 0; i < fv->ntags; i++) {
		for (k = 0; k < c->nnone; k++) {
			if (strcmp(fv->tags[i], c->none[k]) == 0)
				return false;
		}
		for (k = 0; !any && k < c->nany; k++) {
			if (strcmp(fv->tags[i], c->any[k]) == 0)
				any = true;
		}
	}
	return any;
}

bool
rules_cond_holds(const struct rules_cond *c, const struct rules_factvals *fv)
{
	double v;

	switch (c->fact) {
	case RULES_FACT_BALANCE:
		v = (double)fv->balance;
		break;
	case RULES_FACT_OVERDUE_AMOUNT:
		v = (double)fv->overdue_amount;
		break;
	case RULES_FACT_DISPUTED_AMOUNT:
		v = (double)fv->disputed_amount;
		break;
	case RULES_FACT_UNDISPUTED_OVERDUE:
		v = (double)fv->undisputed_overdue;
		break;
	case RULES_FACT_OVERDUE_INVOICES:
		v = (double)fv->overdue_invoices;
		break;
	case RULES_FACT_DAYS_OVERDUE:
		v = (double)fv->days_overdue;
		break;
	case RULES_FACT_DAYS_TO_DUE:
		if (!fv->has_days_to_due)
			return false;
		v = (double)fv->days_to_due;
		break;
	case RULES_FACT_LATE_TREND:
		v = fv->late_trend;
		break;
	case RULES_FACT_ON_TIME_RATIO:
		if (!fv->has_on_time_ratio)
			return false;
		v = fv->on_time_ratio;
		break;
	case RULES_FACT_PROMISES_BROKEN:
		v = (double)fv->promises_broken[c->window];
		break;
	case RULES_FACT_PROMISES_KEPT:
		v = (double)fv->promises_kept[c->window];
		break;
	case RULES_FACT_UNREACHED:
		v = (double)fv->unreached;
		break;
	case RULES_FACT_DAYS_IN_STAGE:
		v = (double)fv->days_in_stage;
		break;
	case RULES_FACT_FIRST_MISS:
		return fv->first_miss == c->value;
	case RULES_FACT_PROMISE_PENDING:
		return fv->promise_pending == c->value;
	case RULES_FACT_STAGE:
		return rules_stageset_has(c->stages, fv->stage);
	case RULES_FACT_SIZE:
		return (c->mask >> fv->size) & 1;
	case RULES_FACT_RISK:
		return fv->has_risk && ((c->mask >> fv->risk) & 1);
	case RULES_FACT_TAGS:
		return tags_hold(c, fv);
	case RULES_FACT_DECISION_MAKER:
		return fv->decision_maker == c->value;
	default:
		return false;
	}
	return (!c->has_min || v >= c->min) && (!c->has_max || v <= c->max);
}

bool
rules_when_holds(const struct rules_when *w, const struct rules_factvals *fv)
{
	size_t i;

	for (i = 0; i < w->n; i++) {
		if (!rules_cond_holds(&w->conds[i], fv))
			return false;
	}
	return true;
}

const char *
rules_fact_name(enum rules_fact f)
{
	return (unsigned)f < RULES_FACT_COUNT ? fact_names[f] : "?";
}

enum rules_fact_kind
rules_fact_kind(enum rules_fact f)
{
	return fact_kinds[(unsigned)f < RULES_FACT_COUNT ? f : 0];
}

const char *
rules_task_type_name(enum rules_task_type t)
{
	return (unsigned)t < RULES_TASK_COUNT ? task_names[t] : "?";
}

const char *
rules_size_name(enum rules_size s)
{
	return (unsigned)s < RULES_SIZE_COUNT ? size_names[s] : "?";
}

const char *
rules_risk_name(int risk)
{
	return risk >= 0 && risk < RULES_RISK_COUNT ? risk_names[risk] : "?";
}

const struct cal_schedule *
rules_schedule_for(
    const struct ruleset *rs, int named, enum rules_task_type type)
{
	if (named >= 0 && (size_t)named < rs->nschedules)
		return &rs->schedules[named];
	if (type < RULES_TASK_COUNT && rs->type_schedule[type] >= 0)
		return &rs->schedules[rs->type_schedule[type]];
	return NULL;
}

int
rules_stage_lookup(const struct ruleset *rs, const char *name, size_t *stage)
{
	int i = ld_find_stage(rs, name);

	if (i == -1)
		return 0;
	*stage = (size_t)i;
	return 1;
}
