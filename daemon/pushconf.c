/*
 * pushconf — reads a dunnd-push file (libconfig) and its secret.
 *
 * Every error of the file is collected before giving up, each with the
 * line of its setting (a missing required one on line 1), as the rule
 * files and dunnd.conf do.  Relative paths are relative to the file's
 * folder.  The secret's bytes are kept only in pushconf.secret: no diag
 * or log line ever quotes them.
 */
#include "pushconf.h"

#include <sys/types.h>
#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <curl/curl.h>
#include <libconfig.h>
#include <sodium.h>

#include "cfgutil.h"
#include "clock.h"
#include "conf.h"
#include "event.h"
#include "log.h"
#include "rules.h"

/* Headers dunnd-push writes itself: a configured one may not replace them. */
static const char *const reserved_headers[] = { "content-type",
	"content-length", "transfer-encoding", "idempotency-key",
	"dunnd-feed-id", "dunnd-signature", NULL };

static const struct {
	const char *name;
	unsigned bit;
} kind_names[] = {
	{ "task", PUSH_KIND_TASK },
	{ "cancel", PUSH_KIND_CANCEL },
	{ "transition", PUSH_KIND_TRANSITION },
	{ "done", PUSH_KIND_DONE },
};

unsigned
pushconf_kind_bit(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(kind_names) / sizeof(kind_names[0]); i++)
		if (strcmp(kind_names[i].name, name) == 0)
			return kind_names[i].bit;
	return 0;
}

bool
pushconf_type_wanted(const struct pushconf *c, const char *type)
{
	size_t i;

	if (c->types == NULL)
		return true;
	for (i = 0; i < c->ntypes; i++)
		if (strcmp(c->types[i], type) == 0)
			return true;
	return false;
}

int
pushconf_parse_duration(const char *s, int64_t *ms, const char **why)
{
	size_t len = strlen(s), i;
	int64_t n = 0, secs;

	if (len > 0 && s[len - 1] == 's') {
		/* clock.c knows m, h, d and w; only this file adds seconds. */
		for (i = 0; i + 1 < len; i++) {
			if (s[i] < '0' || s[i] > '9') {
				*why =
				    "unknown duration unit (s, m, h, d or w)";
				return -1;
			}
			n = n * 10 + (s[i] - '0');
		}
		if (len == 1) {
			*why = "duration must start with 1-6 digits";
			return -1;
		}
		if (len > 7) {
			*why = "duration has more than 6 digits";
			return -1;
		}
		*ms = n * 1000;
		return 0;
	}
	if (clock_parse_duration(s, len, &secs, why) == -1)
		return -1;
	*ms = secs * 1000;
	return 0;
}

void
pushconf_free(struct pushconf *c)
{
	if (c == NULL)
		return;
	if (c->secret != NULL)
		sodium_memzero(c->secret, c->secret_len);
	free(c->secret);
	free(c->path);
	free(c->url);
	free(c->socket);
	free(c->consumer);
	free(c->secret_file);
	cfgutil_free_list(c->types);
	free(c->dead_letter);
	cfgutil_free_list(c->headers);
	free(c->ca_file);
	free(c);
}

/*
 * A list (or array) of non-empty strings each passing ok(); NULL after
 * an error.  An empty list is allowed: it delivers nothing of its kind.
 */
static char **
string_list(config_setting_t *s, const char *file, const char *key, size_t *n,
    bool (*ok)(const char *, char *, size_t), struct diags *ds)
{
	int i, len;
	char **v, why[128];
	const char *str;
	size_t before = ds->errors;

	*n = 0;
	if (config_setting_type(s) != CONFIG_TYPE_LIST &&
	    config_setting_type(s) != CONFIG_TYPE_ARRAY) {
		diags_add(ds, file, config_setting_source_line(s), false,
		    "%s: expected a list of strings", key);
		return NULL;
	}
	len = config_setting_length(s);
	v = xcalloc((size_t)len + 1, sizeof(*v));
	for (i = 0; i < len; i++) {
		config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		int line = cfgutil_line(e);

		if (line == 0)
			line = config_setting_source_line(s);
		str = config_setting_get_string(e);
		if (str == NULL) {
			diags_add(ds, file, line, false,
			    "%s: element %d: expected a string", key, i + 1);
			continue;
		}
		if (!ok(str, why, sizeof(why))) {
			diags_add(ds, file, line, false, "%s: element %d: %s",
			    key, i + 1, why);
			continue;
		}
		v[(*n)++] = xstrdup(str);
	}
	if (ds->errors > before) {
		cfgutil_free_list(v);
		*n = 0;
		return NULL;
	}
	return v;
}

static bool
kind_ok(const char *s, char *why, size_t len)
{
	if (pushconf_kind_bit(s) != 0)
		return true;
	snprintf(why, len,
	    "unknown kind \"%.40s\" (task, cancel, transition or done)", s);
	return false;
}

/* A task type of the feed: the rule files' nine and dunnd's approval. */
static bool
type_ok(const char *s, char *why, size_t len)
{
	int t;

	for (t = 0; t < RULES_TASK_COUNT; t++)
		if (strcmp(s, rules_task_type_name((enum rules_task_type)t)) ==
		    0)
			return true;
	snprintf(why, len,
	    "unknown task type \"%.40s\" (call, visit, letter, email, sms, "
	    "credit_hold, credit_release, review, legal_referral, approval)",
	    s);
	return false;
}

/* RFC 9110 token characters. */
static bool
is_tchar(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static bool
header_ok(const char *s, char *why, size_t len)
{
	const char *colon = strchr(s, ':'), *p;
	size_t i;

	if (colon == NULL || colon == s) {
		snprintf(why, len, "expected \"Name: value\"");
		return false;
	}
	for (p = s; p < colon; p++)
		if (!is_tchar(*p)) {
			snprintf(why, len,
			    "expected \"Name: value\" (a header name has no spaces or separators)");
			return false;
		}
	for (p = colon + 1; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 && *p != '\t') {
			snprintf(why, len,
			    "a header value has no control characters");
			return false;
		}
	for (i = 0; reserved_headers[i] != NULL; i++)
		if (strlen(reserved_headers[i]) == (size_t)(colon - s) &&
		    strncasecmp(s, reserved_headers[i], (size_t)(colon - s)) ==
		        0) {
			snprintf(why, len,
			    "%.*s is set by dunnd-push and cannot be given",
			    (int)(colon - s), s);
			return false;
		}
	return true;
}

/* An http:// or https:// URL with a host, as libcurl parses it. */
static bool
url_ok(const char *s, char *why, size_t len)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL;
	CURLUcode rc;
	bool ok = false;

	if (u == NULL) {
		snprintf(why, len, "out of memory");
		return false;
	}
	if ((rc = curl_url_set(
	         u, CURLUPART_URL, s, CURLU_NON_SUPPORT_SCHEME)) != CURLUE_OK) {
		snprintf(why, len, "not a URL: %s", curl_url_strerror(rc));
		goto out;
	}
	if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0)) {
		snprintf(why, len, "expected an http:// or https:// URL");
		goto out;
	}
	if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    *host == '\0') {
		snprintf(why, len, "the URL has no host");
		goto out;
	}
	ok = true;
out:
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
	return ok;
}

/*
 * The secret: the file's bytes less one final LF.  -1 with a reason
 * (which never quotes the file's contents).
 */
static int
read_secret(
    const char *path, uint8_t **out, size_t *outlen, char *why, size_t whylen)
{
	uint8_t *p = NULL;
	ssize_t r;
	size_t n = 0;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		snprintf(
		    why, whylen, "cannot read %s: %s", path, strerror(errno));
		return -1;
	}
	p = sodium_malloc(PUSHCONF_SECRET_MAX + 1);
	if (p == NULL) {
		snprintf(why, whylen, "out of memory");
		goto fail;
	}
	while ((r = read(fd, p + n, PUSHCONF_SECRET_MAX + 1 - n)) > 0) {
		n += (size_t)r;
		if (n > PUSHCONF_SECRET_MAX)
			break;
	}
	if (r == -1) {
		snprintf(
		    why, whylen, "cannot read %s: %s", path, strerror(errno));
		goto fail;
	}
	if (n > PUSHCONF_SECRET_MAX) {
		snprintf(why, whylen, "%s: a secret of more than %d bytes",
		    path, PUSHCONF_SECRET_MAX);
		goto fail;
	}
	if (n > 0 && p[n - 1] == '\n')
		n--;
	if (n == 0) {
		snprintf(why, whylen, "%s is empty", path);
		goto fail;
	}
	*out = xmalloc(n);
	memcpy(*out, p, n);
	*outlen = n;
	sodium_free(p);
	close(fd);
	return 0;
fail:
	sodium_free(p);
	close(fd);
	return -1;
}

static void
duration_of(config_setting_t *s, const char *file, const char *key,
    bool zero_ok, int64_t *out, struct diags *ds)
{
	const char *v, *why;
	int line = config_setting_source_line(s);
	int64_t ms;

	if ((v = cfgutil_string_of(s, file, key, ds)) == NULL)
		return;
	if (pushconf_parse_duration(v, &ms, &why) == -1) {
		diags_add(ds, file, line, false,
		    "%s: expected a duration like \"10s\": %s", key, why);
		return;
	}
	if (ms == 0 && !zero_ok) {
		diags_add(ds, file, line, false, "%s: must be > 0", key);
		return;
	}
	*out = ms;
}

static void
settings(struct pushconf *c, config_setting_t *root, struct diags *ds)
{
	const char *path = c->path, *name, *v;
	config_setting_t *s;
	char why[256];
	char **kinds;
	size_t nkinds, k;
	int i, n, line;

	n = config_setting_length(root);
	for (i = 0; i < n; i++) {
		s = config_setting_get_elem(root, (unsigned)i);
		name = config_setting_name(s);
		line = config_setting_source_line(s);
		if (strcmp(name, "url") == 0) {
			if ((v = cfgutil_string_of(s, path, name, ds)) == NULL)
				continue;
			if (!url_ok(v, why, sizeof(why)))
				diags_add(
				    ds, path, line, false, "url: %s", why);
			else
				c->url = xstrdup(v);
		} else if (strcmp(name, "socket") == 0) {
			if ((v = cfgutil_string_of(s, path, name, ds)) != NULL)
				c->socket = conf_resolve(path, v);
		} else if (strcmp(name, "consumer") == 0) {
			char reason[64];

			if ((v = cfgutil_string_of(s, path, name, ds)) == NULL)
				continue;
			if (!event_is_id(v, strlen(v), reason, sizeof(reason)))
				diags_add(ds, path, line, false,
				    "consumer: not an id (1-64 of A-Z a-z 0-9 . _ : -): %s",
				    reason);
			else
				c->consumer = xstrdup(v);
		} else if (strcmp(name, "secret_file") == 0) {
			if ((v = cfgutil_string_of(s, path, name, ds)) == NULL)
				continue;
			c->secret_file = conf_resolve(path, v);
			if (read_secret(c->secret_file, &c->secret,
			        &c->secret_len, why, sizeof(why)) == -1)
				diags_add(ds, path, line, false,
				    "secret_file: %s", why);
		} else if (strcmp(name, "kinds") == 0) {
			kinds =
			    string_list(s, path, name, &nkinds, kind_ok, ds);
			if (kinds == NULL)
				continue;
			c->kinds = 0;
			for (k = 0; k < nkinds; k++)
				c->kinds |= pushconf_kind_bit(kinds[k]);
			cfgutil_free_list(kinds);
		} else if (strcmp(name, "types") == 0) {
			c->types =
			    string_list(s, path, name, &c->ntypes, type_ok, ds);
		} else if (strcmp(name, "batch_max") == 0) {
			cfgutil_int_of(s, path, name, 1, PUSHCONF_BATCH_MAX,
			    &c->batch_max, ds);
		} else if (strcmp(name, "linger") == 0) {
			duration_of(s, path, name, true, &c->linger_ms, ds);
		} else if (strcmp(name, "timeout") == 0) {
			duration_of(s, path, name, false, &c->timeout_ms, ds);
		} else if (strcmp(name, "retry_max") == 0) {
			duration_of(s, path, name, false, &c->retry_max_ms, ds);
		} else if (strcmp(name, "give_up_after") == 0) {
			cfgutil_int_of(
			    s, path, name, 0, 1000000, &c->give_up_after, ds);
		} else if (strcmp(name, "dead_letter") == 0) {
			if ((v = cfgutil_string_of(s, path, name, ds)) != NULL)
				c->dead_letter = conf_resolve(path, v);
		} else if (strcmp(name, "headers") == 0) {
			c->headers = string_list(
			    s, path, name, &c->nheaders, header_ok, ds);
		} else if (strcmp(name, "ca_file") == 0) {
			if ((v = cfgutil_string_of(s, path, name, ds)) == NULL)
				continue;
			c->ca_file = conf_resolve(path, v);
			/* Caught here, not as a TLS error at every attempt. */
			if (access(c->ca_file, R_OK) == -1)
				diags_add(ds, path, line, false,
				    "ca_file: cannot read %s: %s", c->ca_file,
				    strerror(errno));
		} else {
			diags_add(ds, path, line, false,
			    "unknown setting \"%s\"", name);
		}
	}
}

struct pushconf *
pushconf_load(const char *path, struct diags *ds)
{
	config_t cfg;
	struct pushconf *c = xcalloc(1, sizeof(*c));
	size_t before = ds->errors;
	const char *creds;
	char why[256];

	/* The secret's buffers are libsodium's (guarded, wiped). */
	if (sodium_init() < 0)
		fatalx("push: libsodium cannot start");
	config_init(&cfg);
	c->path = xstrdup(path);
	c->kinds = PUSH_KIND_ALL;
	c->batch_max = 100;
	c->linger_ms = 1000;
	c->timeout_ms = 10000;
	c->retry_max_ms = 300000;
	if (cfgutil_read(&cfg, path, ds) == -1)
		goto fail;
	settings(c, config_root_setting(&cfg), ds);
	/* §9: a missing required setting is reported on line 1. */
	if (c->url == NULL && config_lookup(&cfg, "url") == NULL)
		diags_add(ds, path, 1, false, "url is required");
	if (c->consumer == NULL && config_lookup(&cfg, "consumer") == NULL)
		diags_add(ds, path, 1, false, "consumer is required");
	if (c->give_up_after > 0 && c->dead_letter == NULL &&
	    config_lookup(&cfg, "dead_letter") == NULL)
		diags_add(ds, path, 1, false, "dead_letter is required");
	if (c->secret_file == NULL &&
	    config_lookup(&cfg, "secret_file") == NULL &&
	    (creds = getenv("CREDENTIALS_DIRECTORY")) != NULL &&
	    *creds != '\0') {
		char *p = xmalloc(strlen(creds) + sizeof("/secret"));

		sprintf(p, "%s/secret", creds);
		if (access(p, F_OK) == 0) {
			c->secret_file = p;
			if (read_secret(p, &c->secret, &c->secret_len, why,
			        sizeof(why)) == -1)
				diags_add(ds, path, 1, false,
				    "the credential secret: %s", why);
		} else
			free(p);
	}
	if (ds->errors > before)
		goto fail;
	if (c->socket == NULL)
		c->socket = xstrdup(PUSHCONF_SOCKET_DEFAULT);
	config_destroy(&cfg);
	return c;
fail:
	config_destroy(&cfg);
	pushconf_free(c);
	return NULL;
}
