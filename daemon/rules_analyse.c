/*
 * rules_analyse — phase 6 of a load, the analysis of a whole rule set
 * (interfaces.md §4.8): stages no rule leads to, rules shadowed by an
 * earlier one, and cycles of rules that can follow each other (an error:
 * invariant (3) of rules.c).
 *
 * Called by the loader (rules_load.c) through rules_int.h; asks
 * rules_imply.c about the conditions.
 */
#include "rules_int.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

void
ld_analyse(struct loader *ld)
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
