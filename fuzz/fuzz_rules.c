/*
 * fuzz_rules — libFuzzer target for one rule file (rules_*.c: libconfig
 * syntax, §4.1 validation and the analysis of §4.2).  Either the set
 * loads or at least one error names the file and a line.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rules.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *name = "10-fuzz.conf";
	char *text = malloc(size + 1);
	const char *ctext = text;
	struct ruleset *rs;
	struct diags ds;
	size_t i, errors = 0;

	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	diags_init(&ds);
	rs = rules_load_files(&name, &ctext, 1, &ds);
	for (i = 0; i < ds.n; i++) {
		if (strcmp(ds.v[i].file, name) != 0 || ds.v[i].line < 0)
			abort();
		errors += !ds.v[i].warning;
	}
	if ((rs == NULL) != (errors > 0))
		abort(); /* refused exactly when an error was reported */
	rules_free(rs);
	diags_fini(&ds);
	free(text);
	return 0;
}
