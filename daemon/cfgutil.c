/*
 * cfgutil — libconfig setting helpers shared by conf and pushconf.
 */
#include "cfgutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libconfig.h>

int
cfgutil_read(config_t *cfg, const char *path, struct diags *ds)
{
	FILE *fp;

	if ((fp = fopen(path, "r")) == NULL) {
		diags_add(
		    ds, path, 0, false, "cannot read: %s", strerror(errno));
		return -1;
	}
	if (config_read(cfg, fp) != CONFIG_TRUE) {
		diags_add(ds, path, config_error_line(cfg), false, "%s",
		    config_error_text(cfg));
		fclose(fp);
		return -1;
	}
	fclose(fp);
	return 0;
}

const char *
cfgutil_string_of(
    config_setting_t *s, const char *file, const char *key, struct diags *ds)
{
	const char *v = config_setting_get_string(s);

	if (v == NULL || *v == '\0') {
		diags_add(ds, file, config_setting_source_line(s), false,
		    "%s: expected a non-empty string", key);
		return NULL;
	}
	return v;
}

int
cfgutil_int_of(config_setting_t *s, const char *file, const char *key, int lo,
    int hi, int *out, struct diags *ds)
{
	if (config_setting_type(s) != CONFIG_TYPE_INT ||
	    config_setting_get_int(s) < lo || config_setting_get_int(s) > hi) {
		diags_add(ds, file, config_setting_source_line(s), false,
		    "%s: expected an integer %d-%d", key, lo, hi);
		return -1;
	}
	*out = config_setting_get_int(s);
	return 0;
}

void
cfgutil_free_list(char **v)
{
	char **p;

	if (v == NULL)
		return;
	for (p = v; *p != NULL; p++)
		free(*p);
	free(v);
}
