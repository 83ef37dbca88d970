/*
 * pushq — the record queue of dunnd-push and the forming of batches.
 *
 * Called by push.c only; pure (no I/O, time given).  The invariants are
 * numbered in pushq.h.  Filtering under `types` needs each cancel's and
 * done's task type, which those records do not carry: the open tasks
 * seen in the feed are remembered (id -> wanted) until their cancel or
 * done, and a task emitted before we started reading is asked of dunnd
 * (pushq_add() returns 1).
 */
#include "pushq.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "pushconf.h"

struct open_task {
	bool wanted;
	char id[65];
};

void
pushq_init(struct pushq *q, const struct pushconf *conf)
{
	memset(q, 0, sizeof(*q));
	q->conf = conf;
	idmap_init(&q->open_tasks, offsetof(struct open_task, id));
}

static void
rec_fini(struct pushq_rec *r)
{
	free(r->text);
	free(r->task);
	free(r->account);
}

void
pushq_clear(struct pushq *q)
{
	size_t i;

	for (i = q->head; i < q->tail; i++)
		rec_fini(&q->v[i]);
	q->head = q->tail = 0;
	q->bytes = 0;
	q->next_seq = 0;
}

void
pushq_fini(struct pushq *q)
{
	struct open_task *t;
	size_t pos = 0;

	pushq_clear(q);
	free(q->v);
	while ((t = idmap_next(&q->open_tasks, &pos)) != NULL)
		free(t);
	idmap_fini(&q->open_tasks);
}

size_t
pushq_len(const struct pushq *q)
{
	return q->tail - q->head;
}

void
pushq_batch_init(struct pushq_batch *b)
{
	memset(b, 0, sizeof(*b));
	buf_init(&b->body);
}

void
pushq_batch_fini(struct pushq_batch *b)
{
	buf_fini(&b->body);
}

static const char *
str_member(json_t *o, const char *name)
{
	return json_string_value(json_object_get(o, name));
}

/* Whether a task of this type is delivered, remembered until it closes. */
static void
remember_task(struct pushq *q, const char *id, bool wanted)
{
	struct open_task *t, *old;

	if (strlen(id) >= sizeof(t->id))
		return;
	t = xmalloc(sizeof(*t));
	t->wanted = wanted;
	strcpy(t->id, id);
	old = idmap_put(&q->open_tasks, t);
	free(old);
}

int
pushq_add(struct pushq *q, const char *line, size_t len, int64_t now_ms,
    const char **task, const char **account, char *why, size_t whylen)
{
	const struct pushconf *c = q->conf;
	struct pushq_rec *r;
	struct open_task *t;
	json_error_t jerr;
	json_t *o, *seqv;
	const char *kind, *type, *id, *acct;
	unsigned bit;
	int64_t seq;
	int wanted, rc = 0;
	bool tw;

	o = json_loadb(line, len, 0, &jerr);
	if (o == NULL || !json_is_object(o)) {
		snprintf(why, whylen, "not a feed record: %s",
		    o == NULL ? jerr.text : "not an object");
		json_decref(o);
		return -1;
	}
	seqv = json_object_get(o, "seq");
	kind = str_member(o, "kind");
	if (!json_is_integer(seqv) || json_integer_value(seqv) < 1 ||
	    kind == NULL) {
		snprintf(why, whylen, "not a feed record: no seq or kind");
		json_decref(o);
		return -1;
	}
	seq = json_integer_value(seqv);
	/* invariant (1) */
	if (q->next_seq != 0 && seq != q->next_seq) {
		snprintf(why, whylen, "feed record %lld where %lld was due",
		    (long long)seq, (long long)q->next_seq);
		json_decref(o);
		return -1;
	}
	bit = pushconf_kind_bit(kind);
	/* An unknown kind goes out only when every kind is asked for. */
	wanted = bit != 0 ? (c->kinds & bit) != 0 : c->kinds == PUSH_KIND_ALL;
	id = str_member(o, "task");
	acct = str_member(o, "account");
	if (c->types != NULL && id != NULL) {
		if (bit == PUSH_KIND_TASK) {
			type = str_member(o, "type");
			tw = type == NULL || pushconf_type_wanted(c, type);
			remember_task(q, id, tw);
			wanted = wanted && tw;
		} else if (bit == PUSH_KIND_CANCEL || bit == PUSH_KIND_DONE) {
			t = idmap_del(&q->open_tasks, id);
			if (t != NULL) {
				wanted = wanted && t->wanted;
				free(t);
			} else if (wanted)
				rc = 1; /* invariant (3) */
		}
	}
	if (q->tail == q->cap) {
		if (q->head > 0 && q->head >= q->cap / 2) {
			memmove(q->v, q->v + q->head,
			    (q->tail - q->head) * sizeof(*q->v));
			q->tail -= q->head;
			q->head = 0;
		} else {
			q->cap = q->cap ? q->cap * 2 : 1024;
			q->v = xreallocarray(q->v, q->cap, sizeof(*q->v));
		}
	}
	r = &q->v[q->tail++];
	memset(r, 0, sizeof(*r));
	r->seq = seq;
	r->text = xstrndup(line, len);
	r->len = len;
	r->wanted = rc == 1 ? -1 : wanted;
	r->arrived_ms = now_ms;
	if (rc == 1) {
		r->task = xstrdup(id);
		r->account = xstrdup(acct != NULL ? acct : "");
		*task = r->task;
		*account = r->account;
	}
	q->bytes += len;
	q->next_seq = seq + 1;
	json_decref(o);
	return rc;
}

void
pushq_resolve(struct pushq *q, const char *type)
{
	size_t i;

	for (i = q->head; i < q->tail; i++)
		if (q->v[i].wanted == -1) {
			q->v[i].wanted =
			    type == NULL || pushconf_type_wanted(q->conf, type);
			return;
		}
}

enum pushq_form
pushq_form(
    struct pushq *q, int64_t now_ms, struct pushq_batch *b, int64_t *wake_ms)
{
	size_t i, end, nwanted = 0;
	bool full = false;
	int64_t due;

	*wake_ms = -1;
	if (q->head == q->tail)
		return PUSHQ_NONE;
	for (i = q->head; i < q->tail; i++) {
		if (q->v[i].wanted == -1)
			break; /* invariant (3) */
		if (q->v[i].wanted == 1) {
			if (nwanted == (size_t)q->conf->batch_max) {
				full = true;
				break;
			}
			nwanted++;
		}
	}
	end = i;
	if (nwanted == (size_t)q->conf->batch_max)
		full = true;
	if (end == q->head)
		return PUSHQ_NONE; /* the first record waits for its type */
	if (!full) {
		due = q->v[q->head].arrived_ms + q->conf->linger_ms;
		if (now_ms < due) {
			*wake_ms = due;
			return PUSHQ_NONE;
		}
	}
	b->first = q->v[q->head].seq;
	b->last = q->v[end - 1].seq;
	b->nrecs = end - q->head;
	b->nwanted = nwanted;
	snprintf(b->key, sizeof(b->key), "%lld-%lld", (long long)b->first,
	    (long long)b->last);
	buf_clear(&b->body);
	if (nwanted == 0)
		return PUSHQ_SKIP;
	buf_append(&b->body, "[", 1);
	for (i = q->head; i < end; i++) {
		if (q->v[i].wanted != 1)
			continue;
		if (buf_size(&b->body) > 1)
			buf_append(&b->body, ",", 1);
		buf_append(&b->body, q->v[i].text, q->v[i].len);
	}
	buf_append(&b->body, "]", 1);
	return PUSHQ_BATCH;
}

void
pushq_drop(struct pushq *q, int64_t last)
{
	while (q->head < q->tail && q->v[q->head].seq <= last) {
		q->bytes -= q->v[q->head].len;
		rec_fini(&q->v[q->head]);
		q->head++;
	}
	if (q->head == q->tail)
		q->head = q->tail = 0;
}
