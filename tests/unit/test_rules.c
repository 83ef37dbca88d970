#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "calendar.h"
#include "clock.h"
#include "rules.h"
#include "util.h"

/*
 * Most cases are in-memory files: a one-stage base set plus the file
 * under test.  A rule from "a" to "a" never applies, so it adds neither
 * warnings nor cycles: the case shows only what it is about.
 */
#define BASE                                                                   \
	"stages = ( { name = \"a\"; } );\n"                                    \
	"scripts = ( { name = \"s\"; checklist = [ \"x\" ]; } );\n"
#define RULE(when)                                                             \
	"rules = ( { name = \"r\"; from = \"a\"; to = \"a\"; when = { " when   \
	" }; } );\n"
#define SCRIPTS     "scripts = ( { name = \"s\"; checklist = [ \"x\" ]; } );\n"
#define STAGE(body) "stages = ( { name = \"a\"; " body " } );\n" SCRIPTS
#define ALERT(body) "alerts = ( { name = \"al\"; " body " } );\n"

#define MAXFILES 4

struct file {
	const char *name, *text;
};

struct dcase {
	const char *title;
	struct file files[MAXFILES];
	const char *want; /* every diag, "FILE:LINE: ..." lines joined */
	bool fails;
};

#define B                                                                      \
	{                                                                      \
		"00-base.conf", BASE                                           \
	}

static const struct dcase errors[] = {
	/* Syntax errors: libconfig's, at most one per file. */
	{ "syntax",
	    { B,
	        { "10-x.conf",
	            "trend_window = 6;\nrules = ( { name = \"x\" from ; } );\nfoo = ;\n" } },
	    "10-x.conf:2: syntax error", true },
	{ "syntax in two files",
	    { B, { "10-x.conf", "a = ;\n" },
	        { "20-y.conf", "\n\nb = = 1;\n" } },
	    "10-x.conf:1: syntax error\n20-y.conf:3: syntax error", true },
	/* §4.8: a syntax error anywhere: only the syntax errors. */
	{ "syntax error hides the cascade of the other files",
	    { { "10-stages.conf",
	          "stages = ( { name = \"a\"; tasks = ( { type = \"call\"; script = \"s\"; } ); },\n"
	          "  { name = \"b\"; } );\n" },
	        { "20-inc.conf", "@include \"x\"\ntrend_window = 13;\n" },
	        { "40-scripts.conf",
	            "scripts = ( { name = \"s\"; checklist = [ \"x\" ]; } \n);\nfoo = ;\n" } },
	    "40-scripts.conf:3: syntax error", true },
	{ "syntax error: a bracket never closed",
	    { B, { "10-x.conf", "stages = ( { name = \"b\"; }\n\n" } },
	    "10-x.conf:3: syntax error: expected \")\" to close the \"(\" of line 1 before the end of the file",
	    true },
	{ "syntax error: the wrong closing bracket",
	    { B, { "10-x.conf", "\nstages = ( { name = \"b\"; ]\n" } },
	    "10-x.conf:2: syntax error: expected \"}\" to close the \"{\" of line 2, not \"]\"",
	    true },
	{ "syntax error: a string never closed",
	    { B, { "10-x.conf", "stages = ( { name = \"b; }\n\n" } },
	    "10-x.conf:3: syntax error: the string opened at line 1 is never closed",
	    true },
	{ "syntax error: an array of mixed types",
	    { B,
	        { "10-x.conf",
	            "scripts = ( { name = \"t\";\n checklist = [ \"x\", 1 ]; } );\n" } },
	    "10-x.conf:2: syntax error: an array [ ... ] holds values of one type only (all strings, or all numbers): mismatched element type",
	    true },
	{ "a list twice in one file",
	    { B,
	        { "10-x.conf",
	            "stages = ( { name = \"a2\"; } );\nstages = 1;\n" } },
	    "10-x.conf:2: duplicate setting: the same name is set twice in one group",
	    true },
	{ "duplicate setting in one group",
	    { B, { "10-x.conf", RULE("balance = { min = 1; min = 2; };") } },
	    "10-x.conf:1: duplicate setting: the same name is set twice in one group",
	    true },
	/* @include: refused before libconfig, the rest still checked. */
	{ "include",
	    { B,
	        { "10-x.conf",
	            "# rules\n  @include \"/etc/passwd\"\ntrend_window = 13;\n" } },
	    "10-x.conf:2: @include is not allowed: every .conf file of the rules directory is read, so put the settings in one of them\n"
	    "10-x.conf:3: trend_window must be an integer from 2 to 12",
	    true },
	{ "include in comment or string is text",
	    { B,
	        { "10-x.conf",
	            "# @include \"x\"\n/* @include \"y\" */\nscripts = ( { name = \"t\"; checklist = [ \"@include \\\"z\\\"\" ]; } );\n" } },
	    "", false },
	/* Top level. */
	{ "unknown top-level setting",
	    { B, { "10-x.conf", "\ncolour = \"red\";\n" } },
	    "10-x.conf:2: unknown setting \"colour\" (allowed: stages, rules, alerts, scripts, schedules, trend_window, grace_days, promise_grace, calendar, holidays, extra_workdays)",
	    true },
	{ "single setting twice across files",
	    { B, { "10-x.conf", "trend_window = 6;\n" },
	        { "20-y.conf", "\ntrend_window = 6;\n" } },
	    "20-y.conf:2: trend_window is set twice (first at 10-x.conf:1)",
	    true },
	{ "trend_window range", { B, { "10-x.conf", "trend_window = 1;\n" } },
	    "10-x.conf:1: trend_window must be an integer from 2 to 12", true },
	{ "trend_window type", { B, { "10-x.conf", "trend_window = 6.0;\n" } },
	    "10-x.conf:1: trend_window must be an integer from 2 to 12", true },
	{ "grace_days negative", { B, { "10-x.conf", "grace_days = -1;\n" } },
	    "10-x.conf:1: grace_days must be a whole number of days, 0 or more",
	    true },
	{ "promise_grace bad duration",
	    { B, { "10-x.conf", "promise_grace = \"1y\";\n" } },
	    "10-x.conf:1: promise_grace: bad duration \"1y\" (1-6 digits and a unit m, h, d or w)",
	    true },
	{ "promise_grace not a string",
	    { B, { "10-x.conf", "promise_grace = 3;\n" } },
	    "10-x.conf:1: promise_grace must be a duration such as \"5d\" (1-6 digits and a unit m, h, d or w)",
	    true },
	{ "list of the wrong type", { B, { "10-x.conf", "rules = { };\n" } },
	    "10-x.conf:1: rules must be a list ( { ... }, { ... } )", true },
	{ "entry not a group", { B, { "10-x.conf", "scripts = ( \"t\" );\n" } },
	    "10-x.conf:1: each entry of scripts must be a group { name = \"...\"; ... }",
	    true },
	{ "no stages", { { "10-x.conf", "rules = ( );\n" } },
	    "10-x.conf:1: no stages: a rule set needs at least one stage, e.g. stages = ( { name = \"current\"; } );",
	    true },
	{ "no rule file at all",
	    { { "README", "stages = ( { name = \"a\"; } );" } },
	    "(files):0: no stages: there is no rule file (*.conf)", true },
	{ "number beyond 64 bits",
	    { B,
	        { "10-x.conf",
	            RULE("balance = { min = 99999999999999999999; };") } },
	    "10-x.conf:1: the number 99999999999999999999 is too large", true },
	/* Items: names, keys. */
	{ "missing name",
	    { B,
	        { "10-x.conf",
	            "rules = (\n  { from = \"a\"; to = \"a\"; when = { }; } );\n" } },
	    "10-x.conf:2: rule: missing required key \"name\"", true },
	{ "missing keys at the item's line",
	    { B,
	        { "10-x.conf",
	            "rules = (\n  { name = \"r\";\n    from = \"a\"; } );\n" } },
	    "10-x.conf:2: rule \"r\": missing required key \"to\"\n10-x.conf:2: rule \"r\": missing required key \"when\"",
	    true },
	{ "name not a string",
	    { B,
	        { "10-x.conf",
	            "scripts = ( { name = 5; checklist = [ ]; } );\n" } },
	    "10-x.conf:1: script: name must be a non-empty string", true },
	{ "empty name",
	    { B,
	        { "10-x.conf",
	            "alerts = ( { name = \"\"; when = { }; task = { type = \"call\"; }; } );\n" } },
	    "10-x.conf:1: alert: name must be a non-empty string", true },
	{ "stage named *",
	    { B, { "10-x.conf", "stages = ( { name = \"*\"; } );\n" } },
	    "10-x.conf:1: stage name \"*\" is reserved: in from it means every stage",
	    true },
	{ "unknown key in a rule",
	    { B,
	        { "10-x.conf",
	            "rules = ( { name = \"r\"; from = \"a\"; to = \"a\"; when = { };\n  priority = 1; } );\n" } },
	    "10-x.conf:2: rule \"r\": unknown key \"priority\" (allowed: name, from, to, when)",
	    true },
	{ "unknown key in a stage", { { "10-x.conf", STAGE("hold = { };") } },
	    "10-x.conf:1: stage \"a\": unknown key \"hold\" (allowed: name, tasks, hold_when, release_when)",
	    true },
	{ "unknown key in a task",
	    { { "10-x.conf",
	        STAGE("tasks = ( { type = \"call\"; at = \"1d\"; } );") } },
	    "10-x.conf:1: stage \"a\", task 1: unknown key \"at\" (allowed: type, script, schedule, after, every, max, approval, supersede)",
	    true },
	{ "unknown key in an alert",
	    { B,
	        { "10-x.conf",
	            ALERT(
	                "when = { }; task = { type = \"review\"; }; every = \"1d\";") } },
	    "10-x.conf:1: alert \"al\": unknown key \"every\" (allowed: name, when, task, cooldown)",
	    true },
	{ "unknown key in an alert task",
	    { B,
	        { "10-x.conf",
	            ALERT(
	                "when = { }; task = { type = \"review\"; after = \"1d\"; };") } },
	    "10-x.conf:1: alert \"al\": task: unknown key \"after\" (allowed: type, script, schedule)",
	    true },
	{ "unknown key in a script",
	    { B,
	        { "10-x.conf",
	            "scripts = ( { name = \"t\"; checklist = [ ]; tone = \"calm\"; } );\n" } },
	    "10-x.conf:1: script \"t\": unknown key \"tone\" (allowed: name, checklist)",
	    true },
	/* Duplicate names: four namespaces. */
	{ "duplicate stage across files",
	    { B, { "10-x.conf", "\nstages = ( { name = \"a\"; } );\n" } },
	    "10-x.conf:2: stage \"a\" is defined twice (first at 00-base.conf:1)",
	    true },
	{ "duplicate rule",
	    { B,
	        { "10-x.conf",
	            "rules = ( { name = \"r\"; from = \"a\"; to = \"a\"; when = { }; },\n  { name = \"r\"; from = \"a\"; to = \"a\"; when = { }; } );\n" } },
	    "10-x.conf:2: rule \"r\" is defined twice (first at 10-x.conf:1)",
	    true },
	{ "duplicate alert",
	    { B,
	        { "10-x.conf",
	            "alerts = ( { name = \"x\"; when = { }; task = { type = \"sms\"; }; },\n  { name = \"x\"; when = { }; task = { type = \"sms\"; }; } );\n" } },
	    "10-x.conf:2: alert \"x\" is defined twice (first at 10-x.conf:1)",
	    true },
	{ "duplicate script",
	    { B,
	        { "10-x.conf",
	            "scripts = ( { name = \"s\"; checklist = [ ]; } );\n" } },
	    "10-x.conf:1: script \"s\" is defined twice (first at 00-base.conf:2)",
	    true },
	{ "same name in the four namespaces is fine",
	    { B,
	        { "10-x.conf",
	            "rules = ( { name = \"a\"; from = \"a\"; to = \"a\"; when = { }; } );\nalerts = ( { name = \"a\"; when = { }; task = { type = \"sms\"; script = \"a\"; }; } );\nscripts = ( { name = \"a\"; checklist = [ ]; } );\n" } },
	    "", false },
	/* Rules: from, to. */
	{ "unknown stage in from, at its element",
	    { B,
	        { "10-x.conf",
	            "rules = ( { name = \"r\"; from = [ \"a\",\n  \"b\" ]; to = \"a\"; when = { }; } );\n" } },
	    "10-x.conf:2: rule \"r\": from: unknown stage \"b\"", true },
	{ "empty from",
	    { B,
	        { "10-x.conf",
	            "rules = ( { name = \"r\"; from = [ ]; to = \"a\"; when = { }; } );\n" } },
	    "10-x.conf:1: rule \"r\": from must not be empty: give a stage name, \"*\" or a list of stage names",
	    true },
	{ "from of the wrong type",
	    { B,
	        { "10-x.conf",
	            "rules = ( { name = \"r\"; from = 1; to = \"a\"; when = { }; } );\n" } },
	    "10-x.conf:1: rule \"r\": from must be a stage name, \"*\" or a list of stage names",
	    true },
	{ "to not a stage",
	    { B,
	        { "10-x.conf",
	            "rules = ( { name = \"r\"; from = \"a\";\n  to = \"nowhere\"; when = { }; } );\n" } },
	    "10-x.conf:2: rule \"r\": to: unknown stage \"nowhere\"", true },
	{ "to star",
	    { B,
	        { "10-x.conf",
	            "rules = ( { name = \"r\"; from = \"a\"; to = \"*\"; when = { }; } );\n" } },
	    "10-x.conf:1: rule \"r\": to must name one stage (\"*\" is only for from)",
	    true },
	{ "to a list",
	    { B,
	        { "10-x.conf",
	            "rules = ( { name = \"r\"; from = \"a\"; to = [ \"a\" ]; when = { }; } );\n" } },
	    "10-x.conf:1: rule \"r\": to must be the name of one stage", true },
	{ "when not a group",
	    { B,
	        { "10-x.conf",
	            "rules = ( { name = \"r\"; from = \"a\"; to = \"a\"; when = ( ); } );\n" } },
	    "10-x.conf:1: rule \"r\": when must be a group of conditions { fact = ...; ... }",
	    true },
	/* Conditions. */
	{ "unknown fact", { B, { "10-x.conf", RULE("colour = true;") } },
	    "10-x.conf:1: rule \"r\": when: unknown fact \"colour\"", true },
	{ "numeric condition not a group",
	    { B, { "10-x.conf", RULE("days_overdue = 30;") } },
	    "10-x.conf:1: rule \"r\": when: days_overdue must be a group { min = ...; max = ...; } (either may be left out)",
	    true },
	{ "min not a number",
	    { B, { "10-x.conf", RULE("balance = { min = \"1\"; };") } },
	    "10-x.conf:1: rule \"r\": when: balance: min must be a number",
	    true },
	{ "unknown key in a numeric condition",
	    { B, { "10-x.conf", RULE("balance = { above = 1; };") } },
	    "10-x.conf:1: rule \"r\": when: balance: unknown key \"above\" (allowed: min, max)",
	    true },
	{ "window on another fact",
	    { B,
	        { "10-x.conf",
	            RULE("unreached = { min = 3; window = \"30d\"; };") } },
	    "10-x.conf:1: rule \"r\": when: unreached: window is only allowed on promises_broken and promises_kept",
	    true },
	{ "window over 366 days",
	    { B,
	        { "10-x.conf",
	            RULE(
	                "promises_kept = { min = 1; window = \"367d\"; };") } },
	    "10-x.conf:1: rule \"r\": when: promises_kept: window \"367d\" is longer than 366 days",
	    true },
	{ "window zero",
	    { B,
	        { "10-x.conf",
	            RULE("promises_broken = { window = \"0d\"; };") } },
	    "10-x.conf:1: rule \"r\": when: promises_broken: window must be greater than 0",
	    true },
	{ "window bad duration",
	    { B,
	        { "10-x.conf",
	            RULE("promises_broken = { window = \"1234567d\"; };") } },
	    "10-x.conf:1: rule \"r\": when: promises_broken: window: bad duration \"1234567d\" (1-6 digits and a unit m, h, d or w)",
	    true },
	{ "boolean of the wrong type",
	    { B,
	        { "10-x.conf",
	            RULE("first_miss = \"yes\"; promise_pending = 1;") } },
	    "10-x.conf:1: rule \"r\": when: first_miss must be true or false\n10-x.conf:1: rule \"r\": when: promise_pending must be true or false",
	    true },
	{ "unknown stage in a stage condition",
	    { B, { "10-x.conf", RULE("stage = [ \"a\", \"z\" ];") } },
	    "10-x.conf:1: rule \"r\": when: stage: unknown stage \"z\"", true },
	{ "unknown size", { B, { "10-x.conf", RULE("size = \"huge\";") } }, "10-x.conf:1: rule \"r\": when: size: unknown size \"huge\" (allowed: small, medium, large)",
	    true },
	{ "size of the wrong type", { B, { "10-x.conf", RULE("size = 3;") } },
	    "10-x.conf:1: rule \"r\": when: size must be \"small\", \"medium\" or \"large\", or a list of them",
	    true },
	{ "empty size list", { B, { "10-x.conf", RULE("size = [ ];") } },
	    "10-x.conf:1: rule \"r\": when: size must not be empty: give \"small\", \"medium\" or \"large\", or a list of them",
	    true },
	{ "unknown risk",
	    { B, { "10-x.conf", RULE("risk = [ \"A\", \"b\" ];") } },
	    "10-x.conf:1: rule \"r\": when: risk: unknown risk class \"b\" (allowed: A, B, C, D, E)",
	    true },
	{ "tags not a group", { B, { "10-x.conf", RULE("tags = [ \"x\" ];") } },
	    "10-x.conf:1: rule \"r\": when: tags must be a group { any = [ ... ]; none = [ ... ]; } (either may be left out)",
	    true },
	{ "tags empty list",
	    { B, { "10-x.conf", RULE("tags = { any = [ ]; };") } },
	    "10-x.conf:1: rule \"r\": when: tags: any must be a non-empty list of tags [ \"...\", ... ]",
	    true },
	{ "tags not a list",
	    { B, { "10-x.conf", RULE("tags = { none = \"x\"; };") } },
	    "10-x.conf:1: rule \"r\": when: tags: none must be a non-empty list of tags [ \"...\", ... ]",
	    true },
	{ "tags bad id",
	    { B,
	        { "10-x.conf",
	            RULE("tags = { any = [ \"ok:1\", \"not ok\" ]; };") } },
	    "10-x.conf:1: rule \"r\": when: tags: any: \"not ok\" is not a valid tag (1-64 characters from A-Z a-z 0-9 . _ : -)",
	    true },
	{ "tags id too long",
	    { B,
	        { "10-x.conf",
	            RULE(
	                "tags = { any = [ \"12345678901234567890123456789012345678901234567890123456789012345\" ]; };") } },
	    "10-x.conf:1: rule \"r\": when: tags: any: \"12345678901234567890123456789012345678901234567890123456789012345\" is not a valid tag (1-64 characters from A-Z a-z 0-9 . _ : -)",
	    true },
	{ "tags unknown key",
	    { B, { "10-x.conf", RULE("tags = { all = [ \"x\" ]; };") } },
	    "10-x.conf:1: rule \"r\": when: tags: unknown key \"all\" (allowed: any, none)",
	    true },
	{ "error in hold_when",
	    { { "10-x.conf",
	        STAGE("hold_when = { promise_pending = \"yes\"; };") } },
	    "10-x.conf:1: stage \"a\": hold_when: promise_pending must be true or false",
	    true },
	/* Stage tasks. */
	{ "tasks not a list",
	    { { "10-x.conf", STAGE("tasks = { type = \"call\"; };") } },
	    "10-x.conf:1: stage \"a\": tasks must be a list of tasks ( { type = \"call\"; ... }, ... )",
	    true },
	{ "task not a group",
	    { { "10-x.conf", STAGE("tasks = ( \"call\" );") } },
	    "10-x.conf:1: stage \"a\", task 1 must be a group { type = \"...\"; ... }",
	    true },
	{ "task type unknown",
	    { { "10-x.conf",
	        STAGE(
	            "tasks = ( { type = \"call\"; }, { type = \"phone\"; } );") } },
	    "10-x.conf:1: stage \"a\", task 2: unknown task type \"phone\" (allowed: call, visit, letter, email, sms, credit_hold, review, legal_referral)",
	    true },
	{ "task type missing",
	    { { "10-x.conf",
	        "stages = ( { name = \"a\";\n  tasks = (\n    { after = \"1d\"; } ); } );\n" } },
	    "10-x.conf:3: stage \"a\", task 1: missing required key \"type\"",
	    true },
	{ "script not in scripts",
	    { { "10-x.conf",
	        STAGE(
	            "tasks = ( { type = \"call\"; script = \"nope\"; } );") } },
	    "10-x.conf:1: stage \"a\", task 1: unknown script \"nope\" (not in scripts)",
	    true },
	{ "after not a duration",
	    { { "10-x.conf",
	        STAGE("tasks = ( { type = \"call\"; after = 5; } );") } },
	    "10-x.conf:1: stage \"a\", task 1: after must be a duration such as \"5d\" (1-6 digits and a unit m, h, d or w)",
	    true },
	{ "every zero",
	    { { "10-x.conf",
	        STAGE("tasks = ( { type = \"call\"; every = \"0h\"; } );") } },
	    "10-x.conf:1: stage \"a\", task 1: every must be greater than 0",
	    true },
	{ "max below 1",
	    { { "10-x.conf",
	        STAGE(
	            "tasks = ( { type = \"call\"; every = \"1d\"; max = 0; } );") } },
	    "10-x.conf:1: stage \"a\", task 1: max must be a whole number of tasks, 1 or more",
	    true },
	/* Alerts, scripts. */
	{ "alert without task",
	    { B,
	        { "10-x.conf",
	            "alerts = (\n  { name = \"al\"; when = { }; } );\n" } },
	    "10-x.conf:2: alert \"al\": missing required key \"task\"", true },
	{ "alert task not a group",
	    { B, { "10-x.conf", ALERT("when = { }; task = \"review\";") } },
	    "10-x.conf:1: alert \"al\": task must be a group { type = \"review\"; script = \"...\"; }",
	    true },
	{ "alert script unknown",
	    { B,
	        { "10-x.conf",
	            ALERT(
	                "when = { }; task = { type = \"review\"; script = \"t\"; };") } },
	    "10-x.conf:1: alert \"al\": task: unknown script \"t\" (not in scripts)",
	    true },
	{ "cooldown zero",
	    { B,
	        { "10-x.conf",
	            ALERT(
	                "when = { }; task = { type = \"review\"; }; cooldown = \"0m\";") } },
	    "10-x.conf:1: alert \"al\": cooldown must be greater than 0",
	    true },
	{ "checklist not a list",
	    { B,
	        { "10-x.conf",
	            "scripts = ( { name = \"t\"; checklist = \"x\"; } );\n" } },
	    "10-x.conf:1: script \"t\": checklist must be a list of strings [ \"...\", ... ]",
	    true },
	{ "checklist item not a string",
	    { B,
	        { "10-x.conf",
	            "scripts = ( { name = \"t\"; checklist = [ 1 ]; } );\n" } },
	    "10-x.conf:1: script \"t\": checklist must be a list of strings [ \"...\", ... ]",
	    true },
	/* Several errors at once, in file then line order. */
	{ "every error in one run",
	    { { "20-b.conf",
	          "rules = ( { name = \"r\"; from = \"x\"; to = \"a\"; when = { }; } );\n\ncolour = 1;\n" },
	        { "10-a.conf",
	            "stages = ( { name = \"a\"; tasks = ( { type = \"fax\"; } ); } );\ntrend_window = 13;\n" } },
	    "10-a.conf:1: stage \"a\", task 1: unknown task type \"fax\" (allowed: call, visit, letter, email, sms, credit_hold, review, legal_referral)\n"
	    "10-a.conf:2: trend_window must be an integer from 2 to 12\n"
	    "20-b.conf:1: rule \"r\": from: unknown stage \"x\"\n"
	    "20-b.conf:3: unknown setting \"colour\" (allowed: stages, rules, alerts, scripts, schedules, trend_window, grace_days, promise_grace, calendar, holidays, extra_workdays)",
	    true },
};

static const struct dcase warnings[] = {
	{ "unreachable stage",
	    { B,
	        { "10-x.conf",
	            "stages = ( { name = \"b\"; },\n  { name = \"c\"; } );\nrules = ( { name = \"r\"; from = \"a\"; to = \"b\"; when = { }; } );\n" } },
	    "10-x.conf:2: warning: stage \"c\": no rule leads to this stage, so no account can reach it",
	    false },
	{ "min greater than max",
	    { B,
	        { "10-x.conf",
	            RULE("days_overdue = { min = 5; max = 3.5; };") } },
	    "10-x.conf:1: warning: rule \"r\": when: days_overdue: min 5 is greater than max 3.5, so this condition never holds",
	    false },
	{ "max without every (task)",
	    { { "10-x.conf",
	        "stages = ( { name = \"a\";\n  tasks = ( { type = \"visit\"; max = 3; } ); } );\n" } },
	    "10-x.conf:2: warning: stage \"a\", task 1: max = 3 has no effect without every (the step creates one task)",
	    false },
	{ "shadowed rule",
	    { { "10-x.conf",
	        "stages = ( { name = \"a\"; }, { name = \"b\"; }, { name = \"c\"; } );\n"
	        "rules = ( { name = \"early\"; from = \"*\"; to = \"c\"; when = { days_overdue = { min = 1; }; }; },\n"
	        "  { name = \"later\"; from = [ \"a\", \"b\" ]; to = \"b\"; when = { days_overdue = { min = 10; }; size = \"small\"; }; },\n"
	        "  { name = \"back\"; from = [ \"b\", \"c\" ]; to = \"a\"; when = { balance = { max = 0; }; }; } );\n" } },
	    "10-x.conf:3: warning: rule \"later\" is shadowed by rule \"early\" (10-x.conf:2): wherever it could apply, that earlier rule applies first",
	    false },
	{ "not shadowed: earlier leads to a start stage",
	    { { "10-x.conf",
	        "stages = ( { name = \"a\"; }, { name = \"b\"; }, { name = \"c\"; } );\n"
	        "rules = ( { name = \"early\"; from = [ \"a\", \"b\" ]; to = \"b\"; when = { days_overdue = { min = 1; }; }; },\n"
	        "  { name = \"later\"; from = [ \"a\", \"b\" ]; to = \"c\"; when = { days_overdue = { min = 10; }; }; } );\n" } },
	    "", false },
	{ "not shadowed: earlier when not implied",
	    { { "10-x.conf",
	        "stages = ( { name = \"a\"; }, { name = \"b\"; } );\n"
	        "rules = ( { name = \"early\"; from = \"a\"; to = \"b\"; when = { days_overdue = { min = 10; }; }; },\n"
	        "  { name = \"later\"; from = \"a\"; to = \"b\"; when = { days_overdue = { min = 5; }; }; } );\n" } },
	    "", false },
	{ "shadowed through balance = 0",
	    { { "10-x.conf",
	        "stages = ( { name = \"a\"; }, { name = \"b\"; } );\n"
	        "rules = ( { name = \"nothing-overdue\"; from = \"b\"; to = \"a\"; when = { days_overdue = { max = 0; }; first_miss = false; }; },\n"
	        "  { name = \"settled\"; from = \"*\"; to = \"a\"; when = { balance = { max = 0; }; }; },\n"
	        "  { name = \"go\"; from = \"a\"; to = \"b\"; when = { days_overdue = { min = 1; }; }; } );\n" } },
	    "10-x.conf:3: warning: rule \"settled\" is shadowed by rule \"nothing-overdue\" (10-x.conf:2): wherever it could apply, that earlier rule applies first",
	    false },
	{ "shadowed through tags",
	    { { "10-x.conf",
	        "stages = ( { name = \"a\"; }, { name = \"b\"; } );\n"
	        "rules = ( { name = \"early\"; from = \"a\"; to = \"b\"; when = { tags = { none = [ \"x\" ]; }; }; },\n"
	        "  { name = \"later\"; from = \"a\"; to = \"b\"; when = { tags = { any = [ \"y\", \"x\" ]; none = [ \"x\", \"z\" ]; }; }; } );\n" } },
	    "10-x.conf:3: warning: rule \"later\" is shadowed by rule \"early\" (10-x.conf:2): wherever it could apply, that earlier rule applies first",
	    false },
	{ "not shadowed through tags",
	    { { "10-x.conf",
	        "stages = ( { name = \"a\"; }, { name = \"b\"; } );\n"
	        "rules = ( { name = \"early\"; from = \"a\"; to = \"b\"; when = { tags = { any = [ \"x\" ]; }; }; },\n"
	        "  { name = \"later\"; from = \"a\"; to = \"b\"; when = { tags = { any = [ \"x\", \"y\" ]; }; }; } );\n" } },
	    "", false },
	{ "shadowed through the stage fact",
	    { { "10-x.conf",
	        "stages = ( { name = \"a\"; }, { name = \"b\"; }, { name = \"c\"; } );\n"
	        "rules = ( { name = \"early\"; from = \"*\"; to = \"c\"; when = { stage = [ \"a\", \"b\" ]; days_overdue = { min = 1; }; }; },\n"
	        "  { name = \"later\"; from = [ \"a\", \"b\" ]; to = \"b\"; when = { risk = \"E\"; days_overdue = { min = 2; }; }; },\n"
	        "  { name = \"back\"; from = \"c\"; to = \"a\"; when = { balance = { max = 0; }; }; } );\n" } },
	    "10-x.conf:3: warning: rule \"later\" is shadowed by rule \"early\" (10-x.conf:2): wherever it could apply, that earlier rule applies first",
	    false },
};

static const struct dcase cycles[] = {
	{ "two rules cycle",
	    { { "10-x.conf",
	        "stages = ( { name = \"a\"; }, { name = \"b\"; } );\n"
	        "rules = ( { name = \"ab\"; from = \"a\"; to = \"b\"; when = { days_overdue = { min = 1; }; }; },\n"
	        "  { name = \"ba\"; from = \"b\"; to = \"a\"; when = { days_overdue = { max = 5; }; }; } );\n" } },
	    "10-x.conf:2: rule cycle: ab -> ba -> ab", true },
	{ "cycle named through the first rule of its set",
	    { { "10-x.conf",
	        "stages = ( { name = \"a\"; }, { name = \"b\"; }, { name = \"c\"; } );\n"
	        "rules = ( { name = \"bc\"; from = \"b\"; to = \"c\"; when = { }; },\n"
	        "  { name = \"ab\"; from = \"a\"; to = \"b\"; when = { }; },\n"
	        "  { name = \"ca\"; from = \"c\"; to = \"a\"; when = { }; } );\n" } },
	    "10-x.conf:2: rule cycle: bc -> ca -> ab -> bc", true },
	{ "one error per strongly connected set",
	    { { "10-x.conf",
	        "stages = ( { name = \"a\"; }, { name = \"b\"; }, { name = \"c\"; }, { name = \"d\"; } );\n"
	        "rules = ( { name = \"ab\"; from = \"a\"; to = \"b\"; when = { }; },\n"
	        "  { name = \"ba\"; from = \"b\"; to = \"a\"; when = { }; },\n"
	        "  { name = \"cd\"; from = \"c\"; to = \"d\"; when = { }; },\n"
	        "  { name = \"dc\"; from = \"d\"; to = \"c\"; when = { }; },\n"
	        "  { name = \"bc\"; from = \"b\"; to = \"c\"; when = { }; } );\n" } },
	    "10-x.conf:2: rule cycle: ab -> ba -> ab\n10-x.conf:4: rule cycle: cd -> dc -> cd\n"
	    "10-x.conf:6: warning: rule \"bc\" is shadowed by rule \"ba\" (10-x.conf:3): wherever it could apply, that earlier rule applies first",
	    true },
	{ "balance = 0 excludes the overdue facts: no cycle",
	    { { "10-x.conf",
	        "stages = ( { name = \"a\"; }, { name = \"b\"; } );\n"
	        "rules = ( { name = \"ab\"; from = \"a\"; to = \"b\"; when = { days_overdue = { min = 1; }; }; },\n"
	        "  { name = \"settled\"; from = \"*\"; to = \"a\"; when = { balance = { max = 0; }; }; },\n"
	        "  { name = \"ab2\"; from = \"a\"; to = \"b\"; when = { days_to_due = { max = 3; }; }; },\n"
	        "  { name = \"ab3\"; from = \"a\"; to = \"b\"; when = { first_miss = true; }; },\n"
	        "  { name = \"ab4\"; from = \"a\"; to = \"b\"; when = { promise_pending = true; }; },\n"
	        "  { name = \"ab5\"; from = \"a\"; to = \"b\"; when = { disputed_amount = { min = 0.5; }; }; } );\n" } },
	    "", false },
	{ "balance = 0 does not exclude other facts: cycle",
	    { { "10-x.conf",
	        "stages = ( { name = \"a\"; }, { name = \"b\"; } );\n"
	        "rules = ( { name = \"ab\"; from = \"a\"; to = \"b\"; when = { promises_broken = { min = 1; }; }; },\n"
	        "  { name = \"settled\"; from = \"*\"; to = \"a\"; when = { balance = { max = 0; }; }; } );\n" } },
	    "10-x.conf:2: rule cycle: ab -> settled -> ab", true },
	{ "disjoint tags: no cycle",
	    { { "10-x.conf",
	        "stages = ( { name = \"a\"; }, { name = \"b\"; } );\n"
	        "rules = ( { name = \"hold\"; from = \"*\"; to = \"a\"; when = { tags = { any = [ \"legal_hold\" ]; }; }; },\n"
	        "  { name = \"up\"; from = \"a\"; to = \"b\"; when = { tags = { none = [ \"legal_hold\", \"x\" ]; }; }; } );\n" } },
	    "", false },
	{ "overlapping tags: cycle",
	    { { "10-x.conf",
	        "stages = ( { name = \"a\"; }, { name = \"b\"; } );\n"
	        "rules = ( { name = \"hold\"; from = \"*\"; to = \"a\"; when = { tags = { any = [ \"legal_hold\", \"y\" ]; }; }; },\n"
	        "  { name = \"up\"; from = \"a\"; to = \"b\"; when = { tags = { none = [ \"legal_hold\" ]; }; }; } );\n" } },
	    "10-x.conf:2: rule cycle: hold -> up -> hold", true },
	{ "disjoint numbers: no cycle",
	    { { "10-x.conf",
	        "stages = ( { name = \"a\"; }, { name = \"b\"; } );\n"
	        "rules = ( { name = \"n1\"; from = \"a\"; to = \"b\"; when = { late_trend = { min = 2.5; }; }; },\n"
	        "  { name = \"n2\"; from = \"b\"; to = \"a\"; when = { late_trend = { max = 2.4; }; }; } );\n" } },
	    "", false },
	{ "whole numbers round inwards: no cycle",
	    { { "10-x.conf",
	        "stages = ( { name = \"a\"; }, { name = \"b\"; } );\n"
	        "rules = ( { name = \"n1\"; from = \"a\"; to = \"b\"; when = { unreached = { min = 2.5; }; }; },\n"
	        "  { name = \"n2\"; from = \"b\"; to = \"a\"; when = { unreached = { max = 2.9; }; }; } );\n" } },
	    "", false },
	{ "disjoint booleans: no cycle",
	    { { "10-x.conf",
	        "stages = ( { name = \"a\"; }, { name = \"b\"; } );\n"
	        "rules = ( { name = \"b1\"; from = \"a\"; to = \"b\"; when = { first_miss = true; }; },\n"
	        "  { name = \"b2\"; from = \"b\"; to = \"a\"; when = { first_miss = false; }; } );\n" } },
	    "", false },
	{ "disjoint sizes: no cycle",
	    { { "10-x.conf",
	        "stages = ( { name = \"a\"; }, { name = \"b\"; } );\n"
	        "rules = ( { name = \"s1\"; from = \"a\"; to = \"b\"; when = { size = [ \"small\", \"medium\" ]; risk = \"A\"; }; },\n"
	        "  { name = \"s2\"; from = \"b\"; to = \"a\"; when = { size = \"large\"; }; } );\n" } },
	    "", false },
	{ "disjoint in pairs, not across: cycle",
	    { { "10-x.conf",
	        "stages = ( { name = \"a\"; }, { name = \"b\"; } );\n"
	        "rules = ( { name = \"n1\"; from = \"a\"; to = \"b\"; when = { late_trend = { min = 2.5; }; }; },\n"
	        "  { name = \"n2\"; from = \"b\"; to = \"a\"; when = { late_trend = { max = 2.4; }; }; },\n"
	        "  { name = \"b1\"; from = \"a\"; to = \"b\"; when = { first_miss = true; }; },\n"
	        "  { name = \"b2\"; from = \"b\"; to = \"a\"; when = { first_miss = false; }; } );\n" } },
	    "10-x.conf:2: rule cycle: n1 -> b2 -> n1\n10-x.conf:3: rule cycle: n2 -> b1 -> n2",
	    true },
	{ "different windows are not disjoint",
	    { { "10-x.conf",
	        "stages = ( { name = \"a\"; }, { name = \"b\"; } );\n"
	        "rules = ( { name = \"ab\"; from = \"a\"; to = \"b\"; when = { promises_kept = { min = 2; window = \"30d\"; }; }; },\n"
	        "  { name = \"ba\"; from = \"b\"; to = \"a\"; when = { promises_kept = { max = 1; }; }; } );\n" } },
	    "10-x.conf:2: rule cycle: ab -> ba -> ab", true },
	{ "the stage fact is left aside",
	    { { "10-x.conf",
	        "stages = ( { name = \"a\"; }, { name = \"b\"; } );\n"
	        "rules = ( { name = \"ab\"; from = \"a\"; to = \"b\"; when = { stage = \"a\"; }; },\n"
	        "  { name = \"ba\"; from = \"b\"; to = \"a\"; when = { stage = \"a\"; }; } );\n" } },
	    "10-x.conf:2: rule cycle: ab -> ba -> ab", true },
	{ "non-adjacent rules that exclude each other still cycle",
	    { { "10-x.conf",
	        "stages = ( { name = \"a\"; }, { name = \"b\"; }, { name = \"c\"; }, { name = \"d\"; } );\n"
	        "rules = ( { name = \"ab\"; from = \"a\"; to = \"b\"; when = { days_overdue = { min = 1; }; }; },\n"
	        "  { name = \"bc\"; from = \"b\"; to = \"c\"; when = { }; },\n"
	        "  { name = \"cd\"; from = \"c\"; to = \"d\"; when = { days_overdue = { max = 0; }; }; },\n"
	        "  { name = \"da\"; from = \"d\"; to = \"a\"; when = { }; } );\n" } },
	    "10-x.conf:2: rule cycle: ab -> bc -> cd -> da -> ab", true },
	{ "the shortest cycle of the set, not one through its first rule",
	    { { "10-x.conf",
	        "stages = ( { name = \"a\"; }, { name = \"b\"; }, { name = \"c\"; }, { name = \"d\"; } );\n"
	        "rules = ( { name = \"r1\"; from = \"a\"; to = \"b\"; when = { }; },\n"
	        "  { name = \"r2\"; from = \"b\"; to = \"c\"; when = { }; },\n"
	        "  { name = \"r3\"; from = \"c\"; to = \"d\"; when = { }; },\n"
	        "  { name = \"r4\"; from = \"d\"; to = \"a\"; when = { days_overdue = { min = 1; }; }; },\n"
	        "  { name = \"r5\"; from = \"d\"; to = \"c\"; when = { days_overdue = { max = 5; }; }; } );\n" } },
	    "10-x.conf:4: rule cycle: r3 -> r5 -> r3", true },
	{ "equal lengths: the sorted positions that come first",
	    { { "10-x.conf",
	        "stages = ( { name = \"a\"; }, { name = \"b\"; }, { name = \"c\"; }, { name = \"d\"; } );\n"
	        "rules = ( { name = \"r1\"; from = \"a\"; to = \"b\"; when = { }; },\n"
	        "  { name = \"r2\"; from = \"c\"; to = \"a\"; when = { }; },\n"
	        "  { name = \"r3\"; from = \"b\"; to = \"d\"; when = { days_overdue = { max = 5; }; }; },\n"
	        "  { name = \"r4\"; from = \"d\"; to = \"a\"; when = { }; },\n"
	        "  { name = \"r5\"; from = \"b\"; to = \"c\"; when = { days_overdue = { min = 1; }; }; } );\n" } },
	    "10-x.conf:2: rule cycle: r1 -> r5 -> r2 -> r1", true },
	{ "a rule whose to is the stage it comes from cannot follow",
	    { { "10-x.conf",
	        "stages = ( { name = \"a\"; }, { name = \"b\"; } );\n"
	        "rules = ( { name = \"ab\"; from = \"*\"; to = \"b\"; when = { }; },\n"
	        "  { name = \"ab2\"; from = \"a\"; to = \"b\"; when = { balance = { min = 1; }; }; } );\n" } },
	    "10-x.conf:3: warning: rule \"ab2\" is shadowed by rule \"ab\" (10-x.conf:2): wherever it could apply, that earlier rule applies first",
	    false },
};

/* Loads the files of a case; returns every diag, formatted, joined. */
static char *
run(const struct file *files, struct ruleset **rsp)
{
	const char *names[MAXFILES], *texts[MAXFILES];
	struct ruleset *rs;
	struct diags ds;
	char line[1024], *out;
	size_t n = 0, i, len = 0;

	while (n < MAXFILES && files[n].name != NULL) {
		names[n] = files[n].name;
		texts[n] = files[n].text;
		n++;
	}
	diags_init(&ds);
	rs = rules_load_files(names, texts, n, &ds);
	out = xcalloc(1, 1);
	for (i = 0; i < ds.n; i++) {
		diag_format(&ds.v[i], line, sizeof(line));
		out = xrealloc(out, len + strlen(line) + 2);
		len += (size_t)sprintf(out + len, "%s%s", i ? "\n" : "", line);
	}
	assert_int_equal(ds.errors > 0, rs == NULL);
	diags_fini(&ds);
	if (rsp != NULL)
		*rsp = rs;
	else
		rules_free(rs);
	return out;
}

static void
run_table(const struct dcase *t, size_t n)
{
	struct ruleset *rs;
	char *got;
	size_t i, bad = 0;

	for (i = 0; i < n; i++) {
		got = run(t[i].files, &rs);
		if (strcmp(got, t[i].want) != 0 || (rs == NULL) != t[i].fails) {
			print_error("case \"%s\":\n got: %s\nwant: %s\n",
			    t[i].title, got, t[i].want);
			bad++;
		}
		rules_free(rs);
		free(got);
	}
	assert_int_equal(bad, 0);
}

static void
test_errors(void **state)
{
	(void)state;
	run_table(errors, sizeof(errors) / sizeof(errors[0]));
}

static void
test_warnings(void **state)
{
	(void)state;
	run_table(warnings, sizeof(warnings) / sizeof(warnings[0]));
}

static void
test_cycles(void **state)
{
	(void)state;
	run_table(cycles, sizeof(cycles) / sizeof(cycles[0]));
}

/*
 * The calendar and schedules (§4.9): every error and warning, at its
 * line.  CAL gives a calendar with the default week and hours.
 */
#define CAL         "calendar = { };\n"
#define SCHED(body) "schedules = ( { name = \"s1\"; " body " } );\n"
/* An alert whose call names schedule s1, so s1 is used. */
#define CALL_S1                                                                \
	"alerts = ( { name = \"n1\"; when = { }; task = { type = \"call\"; schedule = \"s1\"; }; } );\n"
/* A file whose alerts use the common task types. */
#define USE                                                                                     \
	{                                                                                       \
		"90-use.conf",                                                                  \
		    "alerts = ( { name = \"u1\"; when = { }; task = { type = \"call\"; }; },\n" \
		    "  { name = \"u2\"; when = { }; task = { type = \"visit\"; }; },\n"         \
		    "  { name = \"u3\"; when = { }; task = { type = \"letter\"; }; },\n"        \
		    "  { name = \"u4\"; when = { }; task = { type = \"email\"; }; },\n"         \
		    "  { name = \"u5\"; when = { }; task = { type = \"sms\"; }; } );\n"         \
	}
/* A rule into stage b, for the cases that define it. */
#define AB                                                                                    \
	{                                                                                     \
		"05-ab.conf",                                                                 \
		    "rules = ( { name = \"ab\"; from = \"a\"; to = \"b\"; when = { }; } );\n" \
	}

static const struct dcase calendar_cases[] = {
	{ "a calendar with its defaults says nothing",
	    { B, { "10-x.conf", CAL } }, "", false },
	{ "calendar: unknown key",
	    { B, { "10-x.conf", "calendar = {\n  days = [ \"mon\" ];\n};\n" } },
	    "10-x.conf:2: calendar: unknown key \"days\" (allowed: workdays, hours, holidays, extra_workdays)",
	    true },
	{ "calendar: not a group",
	    { B, { "10-x.conf", "\ncalendar = [ \"mon\" ];\n" } },
	    "10-x.conf:2: calendar must be a group { workdays = [ ... ]; hours = [ ... ]; ... }",
	    true },
	{ "calendar twice across files",
	    { B, { "10-x.conf", CAL }, { "20-y.conf", "\n" CAL } },
	    "20-y.conf:2: calendar is set twice (first at 10-x.conf:1)", true },
	{ "workdays: a bare string",
	    { B, { "10-x.conf", "calendar = { workdays = \"mon\"; };\n" } },
	    "10-x.conf:1: calendar: workdays must be a list of weekdays [ \"mon\", ... ] (mon, tue, wed, thu, fri, sat, sun)",
	    true },
	{ "workdays: empty",
	    { B, { "10-x.conf", "calendar = { workdays = [ ]; };\n" } },
	    "10-x.conf:1: calendar: workdays must not be empty: give at least one weekday (mon, tue, wed, thu, fri, sat, sun)",
	    true },
	{ "workdays: bad and repeated weekdays, at their lines",
	    { B,
	        { "10-x.conf",
	            "calendar = { workdays = [ \"mon\",\n  \"Tue\",\n  \"mon\" ]; };\n" } },
	    "10-x.conf:2: calendar: workdays: bad weekday \"Tue\" (allowed: mon, tue, wed, thu, fri, sat, sun)\n"
	    "10-x.conf:3: calendar: workdays: weekday \"mon\" is repeated",
	    true },
	{ "hours: bad windows",
	    { B,
	        { "10-x.conf",
	            "calendar = { hours = [\n \"9:00-12:00\",\n \"13:00-13:00\",\n \"24:00-24:00\",\n \"12:00-25:00\",\n \"14:00 -15:00\" ]; };\n" } },
	    "10-x.conf:2: calendar: hours: bad window \"9:00-12:00\" (HH:MM-HH:MM, local time, start before end, 24:00 allowed as an end)\n"
	    "10-x.conf:3: calendar: hours: bad window \"13:00-13:00\" (HH:MM-HH:MM, local time, start before end, 24:00 allowed as an end)\n"
	    "10-x.conf:4: calendar: hours: bad window \"24:00-24:00\" (HH:MM-HH:MM, local time, start before end, 24:00 allowed as an end)\n"
	    "10-x.conf:5: calendar: hours: bad window \"12:00-25:00\" (HH:MM-HH:MM, local time, start before end, 24:00 allowed as an end)\n"
	    "10-x.conf:6: calendar: hours: bad window \"14:00 -15:00\" (HH:MM-HH:MM, local time, start before end, 24:00 allowed as an end)",
	    true },
	{ "hours: overlapping and descending windows; touching is fine",
	    { B,
	        { "10-x.conf",
	            "calendar = { hours = [ \"08:00-09:00\", \"09:00-12:00\",\n \"11:59-13:00\",\n \"06:00-07:00\", \"22:00-24:00\" ]; };\n" } },
	    "10-x.conf:2: calendar: hours: window \"11:59-13:00\" overlaps or comes before the one before it (windows ascending, without overlaps)\n"
	    "10-x.conf:3: calendar: hours: window \"06:00-07:00\" overlaps or comes before the one before it (windows ascending, without overlaps)",
	    true },
	{ "hours: empty, a string",
	    { B, { "10-x.conf", "calendar = { hours = [ ]; };\n" },
	        { "20-y.conf",
	            "schedules = ( { name = \"s1\"; types = [ \"call\" ]; hours = \"09:00-10:00\"; } );\n" },
	        USE },
	    "10-x.conf:1: calendar: hours must not be empty: give at least one window \"HH:MM-HH:MM\"\n"
	    "20-y.conf:1: schedule \"s1\": hours must be a list of windows [ \"09:00-12:00\", ... ]",
	    true },
	{ "holidays: bad dates, a bare string",
	    { B,
	        { "10-x.conf",
	            "calendar = { holidays = [ \"2026-02-29\",\n \"2026-1-01\" ]; extra_workdays = \"2026-10-10\"; };\n" } },
	    "10-x.conf:1: calendar: holidays: bad date \"2026-02-29\" (YYYY-MM-DD, a real date, years 1970-9999)\n"
	    "10-x.conf:2: calendar: holidays: bad date \"2026-1-01\" (YYYY-MM-DD, a real date, years 1970-9999)\n"
	    "10-x.conf:2: calendar: extra_workdays must be a list of dates [ \"YYYY-MM-DD\", ... ]",
	    true },
	{ "a date repeated in one list, at the later",
	    { B,
	        { "10-x.conf",
	            "calendar = { holidays = [ \"2026-10-01\",\n \"2026-10-02\",\n \"2026-10-01\" ]; };\n" } },
	    "10-x.conf:3: holidays: 2026-10-01 is repeated (first at 10-x.conf:1)",
	    true },
	{ "a date repeated across files, at the later",
	    { B,
	        { "10-x.conf",
	            "calendar = { holidays = [ \"2026-10-01\",\n \"2026-10-02\" ];\n"
	            "  extra_workdays = [ \"2026-10-10\" ]; };\n" },
	        { "20-y.conf",
	            "\nholidays = [ \"2026-10-02\", \"2026-10-05\" ];\nextra_workdays = [ \"2026-10-10\" ];\n" },
	        { "30-z.conf", "extra_workdays = [\n \"2026-10-05\" ];\n" } },
	    "20-y.conf:2: holidays: 2026-10-02 is repeated (first at 10-x.conf:2)\n"
	    "20-y.conf:3: extra_workdays: 2026-10-10 is repeated (first at 10-x.conf:3)\n"
	    "30-z.conf:2: extra_workdays: 2026-10-05 is also in holidays (20-y.conf:2): a date is either a holiday or an extra working day",
	    true },
	{ "a date in both lists of the calendar",
	    { B,
	        { "10-x.conf",
	            "calendar = { holidays = [ \"2026-10-09\" ];\n  extra_workdays = [ \"2026-10-09\" ]; };\n" } },
	    "10-x.conf:2: extra_workdays: 2026-10-09 is also in holidays (10-x.conf:1): a date is either a holiday or an extra working day",
	    true },
	{ "top-level lists need a calendar; their dates are still checked",
	    { B,
	        { "10-x.conf",
	            "\nholidays = [ \"2026-10-01\", \"x\" ];\nextra_workdays = [ ];\n" } },
	    "10-x.conf:2: holidays needs a calendar: without calendar = { ... } every moment is working time\n"
	    "10-x.conf:2: holidays: bad date \"x\" (YYYY-MM-DD, a real date, years 1970-9999)\n"
	    "10-x.conf:3: extra_workdays needs a calendar: without calendar = { ... } every moment is working time",
	    true },
	{ "a holiday that is no working day, an extra one that is one",
	    { B,
	        { "10-x.conf",
	            CAL
	            "holidays = [ \"2026-10-01\",\n \"2026-10-03\" ];\n"
	            "extra_workdays = [ \"2026-10-10\",\n \"2026-10-07\" ];\n" } },
	    "10-x.conf:3: warning: holidays: 2026-10-03 is a Saturday, not a working day anyway (not in the calendar's workdays)\n"
	    "10-x.conf:5: warning: extra_workdays: 2026-10-07 is a Wednesday, a working day anyway (in the calendar's workdays)",
	    false },
	{ "the same against the calendar's own workdays",
	    { B,
	        { "10-x.conf",
	            "calendar = { workdays = [ \"sat\" ]; holidays = [ \"2026-10-03\" ]; extra_workdays = [ \"2026-10-07\" ]; };\n" } },
	    "", false },
	/* Schedules. */
	{ "schedule: unknown key, missing name, not a group",
	    { B,
	        { "10-x.conf",
	            CAL
	            "schedules = ( { name = \"s1\"; types = [ \"call\" ];\n  days = 2; },\n  { types = [ \"visit\" ]; },\n  \"s3\" );\n" },
	        USE },
	    "10-x.conf:3: schedule \"s1\": unknown key \"days\" (allowed: name, types, hours, prefer, avoid, defer_days, min_window, cash_in)\n"
	    "10-x.conf:4: schedule: missing required key \"name\"\n"
	    "10-x.conf:5: each entry of schedules must be a group { name = \"...\"; ... }",
	    true },
	{ "schedule names are unique; another namespace than scripts'",
	    { B,
	        { "10-x.conf",
	            CAL
	            "schedules = ( { name = \"s\"; types = [ \"call\" ]; } );\nschedules = ( { name = \"s\"; types = [ \"visit\" ]; } );\n" } },
	    "10-x.conf:3: duplicate setting: the same name is set twice in one group",
	    true },
	{ "schedule names across files",
	    { B,
	        { "10-x.conf",
	            CAL
	            "schedules = ( { name = \"s\"; types = [ \"call\" ]; } );\n" },
	        { "20-y.conf",
	            "schedules = (\n { name = \"s\"; types = [ \"visit\" ]; } );\n" },
	        USE },
	    "20-y.conf:2: schedule \"s\" is defined twice (first at 10-x.conf:2)",
	    true },
	{ "types: bare string, empty, unknown, approval",
	    { B,
	        { "10-x.conf",
	            CAL
	            "schedules = ( { name = \"s1\"; types = \"call\"; },\n"
	            "  { name = \"s2\"; types = [ ]; },\n"
	            "  { name = \"s3\"; types = [ \"fax\",\n \"approval\" ]; } );\n" } },
	    "10-x.conf:2: schedule \"s1\": types must be a list of task types [ \"call\", ... ]\n"
	    "10-x.conf:3: schedule \"s2\": types must not be empty: give at least one task type (or leave types out)\n"
	    "10-x.conf:4: schedule \"s3\": types: unknown task type \"fax\" (allowed: call, visit, letter, email, sms, credit_hold, credit_release, review, legal_referral)\n"
	    "10-x.conf:5: schedule \"s3\": types: approval tasks take no schedule (their window is the calendar's alone)",
	    true },
	{ "a type in two schedules, at the later; a repeat is harmless",
	    { B,
	        { "10-x.conf",
	            CAL
	            "schedules = ( { name = \"s1\"; types = [ \"call\", \"call\" ]; } );\n" CALL_S1 },
	        { "20-y.conf",
	            "schedules = ( { name = \"s2\";\n types = [ \"visit\",\n \"call\" ]; } );\n" } },
	    "20-y.conf:3: schedule \"s2\": types: \"call\" is already in the types of schedule \"s1\" (10-x.conf:2): a task type has one schedule",
	    true },
	{ "hours that share no time with the calendar's",
	    { B,
	        { "10-x.conf",
	            "calendar = { hours = [ \"09:00-12:00\", \"13:30-18:00\" ]; };\n" CALL_S1 "schedules = ( { name = \"s1\";\n hours = [ \"12:00-13:30\", \"18:00-19:00\" ]; } );\n" } },
	    "10-x.conf:4: schedule \"s1\": hours share no time with the calendar's hours",
	    true },
	{ "prefer, avoid: empty, repeated, in both, bad",
	    { B,
	        { "10-x.conf",
	            CAL CALL_S1
	            "schedules = ( { name = \"s1\"; prefer = [ \"fri\",\n \"thu\",\n \"fri\" ];\n"
	            "  avoid = [ \"mon\",\n \"thu\",\n \"Wed\" ]; },\n"
	            "  { name = \"s2\"; types = [ \"visit\" ]; prefer = [ ]; avoid = \"mon\"; } );\n" },
	        USE },
	    "10-x.conf:5: schedule \"s1\": prefer: weekday \"fri\" is repeated\n"
	    "10-x.conf:7: schedule \"s1\": avoid: \"thu\" is also in prefer\n"
	    "10-x.conf:8: schedule \"s1\": avoid: bad weekday \"Wed\" (allowed: mon, tue, wed, thu, fri, sat, sun)\n"
	    "10-x.conf:9: schedule \"s2\": prefer must not be empty: give at least one weekday (mon, tue, wed, thu, fri, sat, sun)\n"
	    "10-x.conf:9: schedule \"s2\": avoid must be a list of weekdays [ \"mon\", ... ] (mon, tue, wed, thu, fri, sat, sun)",
	    true },
	{ "defer_days, cash_in, min_window: types and ranges",
	    { B,
	        { "10-x.conf",
	            CAL CALL_S1
	            "schedules = ( { name = \"s1\"; defer_days = 32;\n cash_in = 1;\n min_window = \"0m\"; },\n"
	            "  { name = \"s2\"; types = [ \"visit\" ]; defer_days = -1; min_window = \"1y\"; } );\n" },
	        USE },
	    "10-x.conf:3: schedule \"s1\": defer_days must be an integer from 0 to 31\n"
	    "10-x.conf:4: schedule \"s1\": cash_in must be true or false\n"
	    "10-x.conf:5: schedule \"s1\": min_window must be greater than 0\n"
	    "10-x.conf:6: schedule \"s2\": defer_days must be an integer from 0 to 31\n"
	    "10-x.conf:6: schedule \"s2\": min_window: bad duration \"1y\" (1-6 digits and a unit m, h, d or w)",
	    true },
	{ "min_window longer than the narrowed hours, the default included",
	    { B,
	        { "10-x.conf",
	            "calendar = { hours = [ \"09:00-12:00\", \"13:30-18:00\" ]; };\n" CALL_S1
	            "schedules = ( { name = \"s1\"; hours = [ \"09:00-09:15\" ]; },\n"
	            "  { name = \"s2\"; types = [ \"visit\" ];\n hours = [ \"08:00-09:15\", \"17:45-19:00\" ];\n min_window = \"31m\"; },\n"
	            "  { name = \"s3\"; types = [ \"letter\" ]; hours = [ \"08:00-09:15\", \"17:45-19:00\" ]; min_window = \"30m\"; },\n"
	            "  { name = \"s4\"; types = [ \"email\" ]; min_window = \"450m\"; },\n"
	            "  { name = \"s5\"; types = [ \"sms\" ]; min_window = \"451m\"; } );\n" },
	        USE },
	    "10-x.conf:3: schedule \"s1\": the default min_window \"30m\" is longer than the 15m a working day holds in the schedule's hours: give a shorter min_window\n"
	    "10-x.conf:6: schedule \"s2\": min_window \"31m\" is longer than the 30m a working day holds in the schedule's hours\n"
	    "10-x.conf:9: schedule \"s5\": min_window \"451m\" is longer than the 7h30m a working day holds in the schedule's hours",
	    true },
	{ "schedules without a calendar: a warning; the whole day narrows",
	    { B,
	        { "10-x.conf",
	            CALL_S1
	            "\nschedules = ( { name = \"s1\"; hours = [ \"20:00-24:00\" ]; min_window = \"4h\"; } );\n" } },
	    "10-x.conf:3: warning: schedules without a calendar: every day is a working day, so only the schedules' hours apply",
	    false },
	{ "a prefer or avoid weekday that is no working day",
	    { B,
	        { "10-x.conf",
	            CAL CALL_S1
	            "schedules = ( { name = \"s1\"; prefer = [ \"fri\",\n \"sat\" ];\n avoid = [ \"sun\" ]; } );\n" } },
	    "10-x.conf:4: warning: schedule \"s1\": prefer: \"sat\" is not in the calendar's workdays\n"
	    "10-x.conf:5: warning: schedule \"s1\": avoid: \"sun\" is not in the calendar's workdays",
	    false },
	{ "unused schedules",
	    { B, AB,
	        { "10-x.conf",
	            CAL
	            "schedules = ( { name = \"s1\"; },\n"
	            "  { name = \"s2\"; types = [ \"visit\", \"sms\" ]; },\n"
	            "  { name = \"s3\"; types = [ \"credit_release\" ]; },\n"
	            "  { name = \"s4\"; types = [ \"call\" ]; },\n"
	            "  { name = \"s5\"; types = [ \"review\" ]; } );\n"
	            "stages = ( { name = \"b\"; tasks = ( { type = \"call\"; } ); } );\n"
	            "alerts = ( { name = \"al\"; when = { }; task = { type = \"review\"; }; } );\n" } },
	    "10-x.conf:2: warning: schedule \"s1\" is never used: no task names it and it has no types\n"
	    "10-x.conf:3: warning: schedule \"s2\" is never used: no task names it and no stage or alert task has a type in its types\n"
	    "10-x.conf:4: warning: schedule \"s3\" is never used: no task names it and no stage or alert task has a type in its types",
	    false },
	{ "credit_release in types is used where a stage has release_when",
	    { B, AB,
	        { "10-x.conf",
	            CAL
	            "schedules = ( { name = \"s3\"; types = [ \"credit_release\" ]; } );\n"
	            "stages = ( { name = \"b\"; release_when = { balance = { max = 0; }; }; } );\n" } },
	    "", false },
	/* The schedule key of tasks. */
	{ "a task's schedule: unknown, not a string",
	    { B, AB,
	        { "10-x.conf",
	            CAL
	            "stages = ( { name = \"b\"; tasks = ( { type = \"call\";\n schedule = \"calls\"; },\n { type = \"visit\"; schedule = [ \"s1\" ]; } ); } );\n"
	            "alerts = ( { name = \"al\"; when = { };\n task = { type = \"review\"; schedule = \"reviews\"; }; } );\n" } },
	    "10-x.conf:3: stage \"b\", task 1: unknown schedule \"calls\" (not in schedules)\n"
	    "10-x.conf:4: stage \"b\", task 2: schedule must be the name of a schedule\n"
	    "10-x.conf:6: alert \"al\": task: unknown schedule \"reviews\" (not in schedules)",
	    true },
	{ "a task naming a schedule for other types",
	    { B, AB,
	        { "10-x.conf",
	            CAL
	            "schedules = ( { name = \"calls\"; types = [ \"call\" ]; } );\n"
	            "stages = ( { name = \"b\"; tasks = ( { type = \"call\"; },\n { type = \"visit\"; schedule = \"calls\"; } ); } );\n"
	            "alerts = ( { name = \"al\"; when = { };\n task = { type = \"review\"; schedule = \"calls\"; }; } );\n" } },
	    "10-x.conf:4: warning: stage \"b\", task 2: schedule \"calls\" is for other task types: its types do not hold \"visit\"\n"
	    "10-x.conf:6: warning: alert \"al\": task: schedule \"calls\" is for other task types: its types do not hold \"review\"",
	    false },
	{ "approval and supersede are booleans",
	    { B, AB,
	        { "10-x.conf",
	            "stages = ( { name = \"b\"; tasks = ( { type = \"legal_referral\";\n approval = \"yes\";\n supersede = 1; } ); } );\n" } },
	    "10-x.conf:2: stage \"b\", task 1: approval must be true or false\n"
	    "10-x.conf:3: stage \"b\", task 1: supersede must be true or false",
	    true },
	{ "dunnd's own task types are refused in stages and alerts",
	    { B, AB,
	        { "10-x.conf",
	            "stages = ( { name = \"b\"; tasks = ( { type = \"approval\"; } ); } );\n"
	            "alerts = ( { name = \"al\"; when = { };\n task = { type = \"credit_release\"; }; } );\n" } },
	    "10-x.conf:1: stage \"b\", task 1: task type \"approval\" is dunnd's own (dunnd emits it itself), not allowed in a stage or alert\n"
	    "10-x.conf:3: alert \"al\": task: task type \"credit_release\" is dunnd's own (dunnd emits it itself), not allowed in a stage or alert",
	    true },
	{ "credit_hold in an alert, in a stage with release_when",
	    { B, AB,
	        { "10-x.conf",
	            "stages = ( { name = \"b\"; release_when = { balance = { max = 0; }; };\n tasks = ( { type = \"letter\"; },\n   { type = \"credit_hold\"; } ); } );\n"
	            "alerts = ( { name = \"al\"; when = { };\n task = {\n type = \"credit_hold\"; }; } );\n" } },
	    "10-x.conf:3: stage \"b\", task 2: a credit_hold task is not allowed in a stage with release_when (the release would lift the hold at once)\n"
	    "10-x.conf:6: alert \"al\": task: a credit_hold task is not allowed in an alert (only as a stage task, where a stage's release_when can lift it)",
	    true },
	{ "a credit_hold task while no stage has release_when",
	    { B, AB,
	        { "10-x.conf",
	            "stages = ( { name = \"b\";\n tasks = ( { type = \"letter\"; },\n   { type = \"credit_hold\"; } ); } );\n" } },
	    "10-x.conf:3: warning: stage \"b\", task 2: a credit_hold task while no stage has release_when: the credit hold is never lifted",
	    false },
	{ "a release_when in another stage lifts the hold",
	    { B, AB,
	        { "10-x.conf",
	            "stages = ( { name = \"b\";\n tasks = ( { type = \"credit_hold\"; } ); },\n"
	            "  { name = \"c\"; release_when = { balance = { max = 0; }; }; } );\n"
	            "rules = ( { name = \"bc\"; from = \"b\"; to = \"c\"; when = { balance = { max = 0; }; }; } );\n" } },
	    "", false },
	{ "release_when is checked like hold_when", { B, AB, { "10-x.conf", "stages = ( { name = \"b\";\n release_when = { paid = true; }; },\n { name = \"c\"; release_when = 1; } );\n" } },
	    "10-x.conf:2: stage \"b\": release_when: unknown fact \"paid\"\n"
	    "10-x.conf:3: stage \"c\": release_when must be a group of conditions { fact = ...; ... }\n"
	    "10-x.conf:3: warning: stage \"c\": no rule leads to this stage, so no account can reach it",
	    true },
	{ "calendar errors in the same run as the others, in order",
	    { B, AB,
	        { "10-x.conf",
	            "calendar = { workdays = [ \"xx\" ]; };\ntrend_window = 1;\n" },
	        { "20-y.conf",
	            "stages = ( { name = \"b\"; tasks = ( { type = \"fax\"; schedule = \"nope\"; } ); } );\n" } },
	    "10-x.conf:1: calendar: workdays: bad weekday \"xx\" (allowed: mon, tue, wed, thu, fri, sat, sun)\n"
	    "10-x.conf:2: trend_window must be an integer from 2 to 12\n"
	    "20-y.conf:1: stage \"b\", task 1: unknown task type \"fax\" (allowed: call, visit, letter, email, sms, credit_hold, review, legal_referral)\n"
	    "20-y.conf:1: stage \"b\", task 1: unknown schedule \"nope\" (not in schedules)",
	    true },
};

static void
test_calendar_diags(void **state)
{
	(void)state;
	run_table(
	    calendar_cases, sizeof(calendar_cases) / sizeof(calendar_cases[0]));
}

/* interfaces.md §4.1: the complete rule set loads without a word. */
static const char spec_example[] =
    "stages = (                      # ordered: first = where accounts start; later = more severe\n"
    "  { name = \"current\"; release_when = { balance = { max = 0; }; }; },\n"
    "  { name = \"reminder\";\n"
    "    tasks = ( { type = \"email\"; script = \"reminder\"; after = \"0d\"; } ); },\n"
    "  { name = \"negotiation\";\n"
    "    hold_when = { promise_pending = true; };   # cadence clock stops meanwhile\n"
    "    tasks = ( { type = \"call\"; script = \"call-1-inform\"; schedule = \"first-call\"; after = \"0d\"; },\n"
    "              { type = \"call\"; script = \"call-2-firm\";         after = \"5d\"; },\n"
    "              { type = \"call\"; script = \"call-3-consequences\"; after = \"10d\"; },\n"
    "              { type = \"visit\"; after = \"14d\"; every = \"14d\"; max = 3; } ); },\n"
    "  { name = \"pressure\";\n"
    "    tasks = ( { type = \"letter\"; script = \"final-notice\"; },\n"
    "              { type = \"credit_hold\"; after = \"7d\"; } ); },\n"
    "  { name = \"legal\"; tasks = ( { type = \"legal_referral\"; } ); }\n"
    ");\n"
    "rules = (                       # transitions, tried in order\n"
    "  { name = \"due-soon\"; from = \"current\"; to = \"reminder\"; when = { days_to_due = { max = 3; }; }; },\n"
    "  { name = \"overdue\"; from = [\"current\", \"reminder\"]; to = \"negotiation\";\n"
    "    when = { days_overdue = { min = 1; }; }; },\n"
    "  { name = \"promises-broken\"; from = [\"negotiation\"]; to = \"pressure\";\n"
    "    when = { promises_broken = { min = 2; window = \"90d\"; }; }; },\n"
    "  { name = \"long\"; from = [\"negotiation\"]; to = \"pressure\"; when = { days_overdue = { min = 30; }; }; },\n"
    "  { name = \"to-legal\"; from = [\"pressure\"]; to = \"legal\";\n"
    "    when = { days_overdue = { min = 90; }; tags = { none = [\"legal_hold\"]; }; }; },\n"
    "  { name = \"settled\"; from = [\"*\"]; to = \"current\"; when = { balance = { max = 0; }; }; }\n"
    ");\n"
    "alerts = ( { name = \"check-dispute-first\"; when = { first_miss = true; };   # task only\n"
    "             task = { type = \"review\"; script = \"dispute-check\"; }; cooldown = \"30d\"; } );\n"
    "scripts = (\n"
    "  { name = \"reminder\";            checklist = [ \"say what falls due, and when\" ]; },\n"
    "  { name = \"call-1-inform\";       checklist = [ \"state the overdue amount\", \"ask for a payment date\" ]; },\n"
    "  { name = \"call-2-firm\";         checklist = [ \"ask for payment now\", \"get a promise\" ]; },\n"
    "  { name = \"call-3-consequences\"; checklist = [ \"announce the credit hold\" ]; },\n"
    "  { name = \"final-notice\";        checklist = [ \"send the final notice\" ]; },\n"
    "  { name = \"dispute-check\";       checklist = [ \"ask whether something is disputed\" ]; }\n"
    ");\n"
    "trend_window = 6;\n"
    "calendar = { hours = [\"09:00-12:00\", \"13:30-18:00\"]; };   # §4.9: Monday–Friday by default\n"
    "schedules = ( { name = \"first-call\"; } );                  # §4.9: the first working time (P1)\n";

static void
test_spec_example(void **state)
{
	struct file f[MAXFILES] = { { "rules.conf", spec_example } };
	const struct rules_stage *neg;
	struct ruleset *rs;
	char *got;

	(void)state;
	got = run(f, &rs);
	assert_string_equal(got, "");
	assert_non_null(rs);
	assert_int_equal(rs->nstages, 5);
	assert_int_equal(rs->nrules, 6);
	assert_int_equal(rs->nalerts, 1);
	assert_int_equal(rs->nscripts, 6);
	assert_int_equal(rs->trend_window, 6);
	assert_int_equal(rs->grace_days, 0);
	assert_int_equal(rs->promise_grace_s, 0);
	neg = &rs->stages[2];
	assert_string_equal(neg->name, "negotiation");
	assert_int_equal(neg->line, 5);
	assert_true(neg->has_hold);
	assert_int_equal(neg->hold_when.n, 1);
	assert_int_equal(
	    neg->hold_when.conds[0].fact, RULES_FACT_PROMISE_PENDING);
	assert_int_equal(neg->ntasks, 4);
	assert_int_equal(neg->tasks[1].type, RULES_TASK_CALL);
	assert_string_equal(
	    rs->scripts[neg->tasks[1].script].name, "call-2-firm");
	assert_int_equal(neg->tasks[1].after_s, 5 * 86400);
	assert_int_equal(neg->tasks[3].script, -1);
	assert_int_equal(neg->tasks[3].every_s, 14 * 86400);
	assert_int_equal(neg->tasks[3].max, 3);
	/* Rules that can leave negotiation: promises-broken, long, settled. */
	assert_int_equal(neg->nrules, 3);
	assert_int_equal(neg->rules[0], 2);
	assert_int_equal(neg->rules[1], 3);
	assert_int_equal(neg->rules[2], 5);
	/* settled cannot leave current: its to is current. */
	assert_int_equal(rs->stages[0].nrules, 2);
	assert_true(rs->rules[5].from_all);
	assert_int_equal(rs->rules[5].to, 0);
	assert_true(rules_stageset_has(rs->rules[1].from, 0));
	assert_true(rules_stageset_has(rs->rules[1].from, 1));
	assert_false(rules_stageset_has(rs->rules[1].from, 2));
	assert_int_equal(rs->rules[1].line, 18);
	assert_string_equal(rs->rules[1].file, "rules.conf");
	assert_int_equal(rs->alerts[0].type, RULES_TASK_REVIEW);
	assert_int_equal(rs->alerts[0].cooldown_s, 30 * 86400);
	assert_string_equal(
	    rs->scripts[rs->alerts[0].script].name, "dispute-check");
	assert_int_equal(rs->scripts[2].nchecklist, 2);
	assert_string_equal(rs->scripts[2].checklist[1], "get a promise");
	/* What the set uses. */
	assert_int_equal(rs->uses.facts,
	    (1u << RULES_FACT_PROMISE_PENDING) |
	        (1u << RULES_FACT_DAYS_TO_DUE) |
	        (1u << RULES_FACT_DAYS_OVERDUE) |
	        (1u << RULES_FACT_PROMISES_BROKEN) | (1u << RULES_FACT_TAGS) |
	        (1u << RULES_FACT_BALANCE) | (1u << RULES_FACT_FIRST_MISS));
	assert_int_equal(rs->uses.nwindows, 1);
	assert_int_equal(rs->uses.windows[0], 90 * 86400);
	assert_int_equal(rs->uses.max_window_s, 90 * 86400);
	assert_int_equal(strlen(rs->version), 32);
	/* §4.9: the calendar, the schedule, release_when. */
	assert_true(rs->stages[0].has_release);
	assert_int_equal(rs->stages[0].release_when.n, 1);
	assert_false(neg->has_release);
	assert_non_null(rs->cal);
	assert_int_equal(rs->cal->workdays, 0x1f);
	assert_int_equal(rs->cal->nhours, 2);
	assert_int_equal(rs->cal->hours[1].start_min, 13 * 60 + 30);
	assert_int_equal(rs->nschedules, 1);
	assert_string_equal(rs->schedules[0].name, "first-call");
	assert_int_equal(neg->tasks[0].schedule, 0);
	assert_int_equal(neg->tasks[1].schedule, -1);
	assert_int_equal(rs->schedules[0].defer_days, 0);
	assert_int_equal(rs->schedules[0].min_window_s, 1800);
	assert_int_equal(rs->schedules[0].nhours, 2);
	assert_int_equal(rs->type_schedule[RULES_TASK_CALL], -1);
	rules_free(rs);
	free(got);
}

/* What a good set with a calendar and schedules loads into. */
static void
test_calendar_loaded(void **state)
{
	struct file f[MAXFILES] = {
		{ "10-cal.conf",
		    "calendar = { workdays = [ \"sun\", \"mon\", \"tue\", \"wed\", \"thu\" ];\n"
		    "  hours = [ \"09:00-12:00\", \"13:30-18:00\" ];\n"
		    "  holidays = [ \"2026-10-08\", \"2026-10-01\" ];\n"
		    "  extra_workdays = [ \"2026-10-10\" ]; };\n"
		    "schedules = (\n"
		    "  { name = \"calls\"; types = [ \"call\", \"sms\" ]; hours = [ \"11:00-14:00\" ];\n"
		    "    prefer = [ \"thu\", \"tue\" ]; avoid = [ \"mon\", \"wed\" ];\n"
		    "    defer_days = 2; cash_in = true; min_window = \"1h\"; },\n"
		    "  { name = \"wide\"; types = [ \"visit\", \"credit_release\" ]; hours = [ \"00:00-24:00\" ]; },\n"
		    "  { name = \"plain\"; } );\n" },
		{ "20-stages.conf",
		    "stages = ( { name = \"a\"; release_when = { on_time_ratio = { min = 0.5; }; };\n"
		    "    tasks = ( { type = \"call\"; schedule = \"plain\"; approval = true; },\n"
		    "      { type = \"visit\"; every = \"7d\"; supersede = true; } ); } );\n"
		    "alerts = ( { name = \"al\"; when = { }; task = { type = \"sms\"; schedule = \"calls\"; }; } );\n" },
		{ "30-holidays.conf",
		    "holidays = [ \"2026-10-05\", \"2027-01-03\" ];\nextra_workdays = [ \"2026-09-26\" ];\n" },
	};
	const struct cal_schedule *sc;
	const struct calendar *cal;
	struct ruleset *rs;
	char *got;

	(void)state;
	got = run(f, &rs);
	assert_string_equal(got, "");
	assert_non_null(rs);
	cal = rs->cal;
	assert_non_null(cal);
	assert_int_equal(cal->workdays, 0x4f); /* mon-thu, sun */
	assert_int_equal(cal->nhours, 2);
	/* Across files, ascending. */
	assert_int_equal(cal->nholidays, 4);
	assert_int_equal(cal->holidays[0], clock_days_from_civil(2026, 10, 1));
	assert_int_equal(cal->holidays[1], clock_days_from_civil(2026, 10, 5));
	assert_int_equal(cal->holidays[2], clock_days_from_civil(2026, 10, 8));
	assert_int_equal(cal->holidays[3], clock_days_from_civil(2027, 1, 3));
	assert_int_equal(cal->nextra, 2);
	assert_int_equal(
	    cal->extra_workdays[0], clock_days_from_civil(2026, 9, 26));
	assert_int_equal(
	    cal->extra_workdays[1], clock_days_from_civil(2026, 10, 10));
	assert_true(cal_is_workday(cal, clock_days_from_civil(2026, 10, 10)));
	assert_false(cal_is_workday(cal, clock_days_from_civil(2026, 10, 8)));
	assert_false(cal_is_workday(cal, clock_days_from_civil(2026, 10, 9)));
	assert_true(cal_is_workday(cal, clock_days_from_civil(2026, 10, 11)));

	assert_int_equal(rs->nschedules, 3);
	sc = &rs->schedules[0];
	assert_string_equal(sc->name, "calls");
	assert_string_equal(sc->file, "10-cal.conf");
	assert_int_equal(sc->line, 6);
	assert_int_equal(
	    sc->types, (1u << RULES_TASK_CALL) | (1u << RULES_TASK_SMS));
	/* 11:00-14:00 narrowed by the calendar: two windows. */
	assert_int_equal(sc->nhours, 2);
	assert_int_equal(sc->hours[0].start_min, 11 * 60);
	assert_int_equal(sc->hours[0].end_min, 12 * 60);
	assert_int_equal(sc->hours[1].start_min, 13 * 60 + 30);
	assert_int_equal(sc->hours[1].end_min, 14 * 60);
	assert_int_equal(sc->nprefer, 2);
	assert_int_equal(sc->prefer[0], 3);
	assert_int_equal(sc->prefer[1], 1);
	assert_int_equal(sc->avoid, (1u << 0) | (1u << 2));
	assert_int_equal(sc->defer_days, 2);
	assert_true(sc->cash_in);
	assert_int_equal(sc->min_window_s, 3600);
	/* The whole day narrows to the calendar's hours. */
	sc = &rs->schedules[1];
	assert_int_equal(sc->nhours, 2);
	assert_int_equal(sc->hours[0].start_min, 9 * 60);
	assert_int_equal(sc->hours[1].end_min, 18 * 60);
	assert_false(sc->cash_in);
	assert_int_equal(sc->min_window_s, 1800);
	/* No hours: the calendar's. */
	sc = &rs->schedules[2];
	assert_int_equal(sc->types, 0);
	assert_int_equal(sc->nhours, 2);
	assert_int_equal(sc->nprefer, 0);
	assert_int_equal(sc->avoid, 0);

	assert_int_equal(rs->type_schedule[RULES_TASK_CALL], 0);
	assert_int_equal(rs->type_schedule[RULES_TASK_SMS], 0);
	assert_int_equal(rs->type_schedule[RULES_TASK_VISIT], 1);
	assert_int_equal(rs->type_schedule[RULES_TASK_CREDIT_RELEASE], 1);
	assert_int_equal(rs->type_schedule[RULES_TASK_LETTER], -1);
	assert_int_equal(rs->type_schedule[RULES_TASK_APPROVAL], -1);

	assert_int_equal(rs->stages[0].tasks[0].schedule, 2);
	assert_true(rs->stages[0].tasks[0].approval);
	assert_false(rs->stages[0].tasks[0].supersede);
	assert_int_equal(rs->stages[0].tasks[1].schedule, -1);
	assert_false(rs->stages[0].tasks[1].approval);
	assert_true(rs->stages[0].tasks[1].supersede);
	assert_int_equal(rs->alerts[0].schedule, 0);
	assert_ptr_equal(
	    rules_schedule_for(rs, 2, RULES_TASK_CALL), &rs->schedules[2]);
	assert_ptr_equal(
	    rules_schedule_for(rs, -1, RULES_TASK_CALL), &rs->schedules[0]);
	assert_ptr_equal(rules_schedule_for(rs, -1, RULES_TASK_CREDIT_RELEASE),
	    &rs->schedules[1]);
	assert_null(rules_schedule_for(rs, -1, RULES_TASK_LETTER));
	/* release_when's facts have due moments (§4.3). */
	assert_true(rs->stages[0].has_release);
	assert_true(rs->uses.facts & (1u << RULES_FACT_ON_TIME_RATIO));
	rules_free(rs);
	free(got);
}

/* Without a calendar: none in the set, schedules narrow nothing. */
static void
test_schedules_without_calendar(void **state)
{
	struct file f[MAXFILES] = {
		{ "10-x.conf",
		    "stages = ( { name = \"a\"; tasks = ( { type = \"call\"; } ); } );\n"
		    "schedules = ( { name = \"c\"; types = [ \"call\" ]; },\n"
		    "  { name = \"n\"; types = [ \"letter\" ]; hours = [ \"22:00-24:00\", \"00:00-01:00\" ]; } );\n" },
	};
	struct ruleset *rs;
	char *got;

	(void)state;
	got = run(f, &rs);
	assert_string_equal(got,
	    "10-x.conf:2: warning: schedules without a calendar: every day is a working day, so only the schedules' hours apply\n"
	    "10-x.conf:3: schedule \"n\": hours: window \"00:00-01:00\" overlaps or comes before the one before it (windows ascending, without overlaps)\n"
	    "10-x.conf:3: warning: schedule \"n\" is never used: no task names it and no stage or alert task has a type in its types");
	free(got);
	/* Not ascending: an error even without a calendar. */
	assert_null(rs);
	f[0].text =
	    "stages = ( { name = \"a\"; tasks = ( { type = \"call\"; } ); } );\n"
	    "schedules = ( { name = \"c\"; types = [ \"call\" ]; hours = [ \"22:00-24:00\" ]; } );\n";
	got = run(f, &rs);
	assert_non_null(rs);
	assert_null(rs->cal);
	assert_int_equal(rs->schedules[0].nhours, 1);
	assert_int_equal(rs->schedules[0].hours[0].start_min, 22 * 60);
	assert_int_equal(rs->schedules[0].hours[0].end_min, 24 * 60);
	rules_free(rs);
	free(got);
}

/* The set of the issue, over three files, and its broken variant. */
static const char issue_stages[] =
    "stages = ( { name = \"current\"; }, { name = \"reminder\"; tasks = ( { type = \"email\"; script = \"remind\"; } ); }, { name = \"negotiation\"; tasks = ( { type = \"call\"; script = \"ask\"; }, { type = \"call\"; script = \"firm\"; after = \"3d\"; } ); } );\n";
static const char issue_rules[] =
    "rules = ( { name = \"due-soon\"; from = [\"current\"]; to = \"reminder\"; when = { days_to_due = { max = 2; }; }; },\n"
    "  { name = \"overdue\"; from = [\"current\", \"reminder\"];\n"
    "    to = \"negotiation\";\n"
    "    when = { days_overdue = { min = 1; }; }; },\n"
    "  { name = \"settled\"; from = [\"*\"]; to = \"current\"; when = { balance = { max = 0; }; }; } );\n";
static const char issue_scripts[] =
    "scripts = ( { name = \"remind\"; checklist = [ \"say when it is due\" ]; }, { name = \"ask\"; checklist = [ \"ask for payment today\", \"learn the reason\", \"get a promise\" ]; }, { name = \"firm\"; checklist = [ \"be firm\" ]; } );\n";

static void
test_issue_example(void **state)
{
	struct file f[MAXFILES] = { { "10-stages.conf", issue_stages },
		{ "10-rules.conf", issue_rules },
		{ "40-scripts.conf", issue_scripts } };
	char *bad, *p, *got;

	(void)state;
	got = run(f, NULL);
	assert_string_equal(got, "");
	free(got);
	bad = xstrdup(issue_rules);
	p = strstr(bad, "to = \"negotiation\"");
	memcpy(p, "to = \"nowhere\"    ", 18);
	f[1].text = bad;
	got = run(f, NULL);
	assert_string_equal(got,
	    "10-rules.conf:3: rule \"overdue\": to: unknown stage \"nowhere\"\n"
	    "10-stages.conf:1: warning: stage \"negotiation\": no rule leads to this stage, so no account can reach it");
	free(got);
	free(bad);
}

/* Lists are concatenated in file order; references cross files. */
static void
test_concatenation(void **state)
{
	struct file f[MAXFILES] = {
		{ "30-more.conf",
		    "stages = ( { name = \"c\"; } );\nrules = ( { name = \"bc\"; from = \"b\"; to = \"c\"; when = { days_overdue = { min = 9; }; }; } );\nscripts = ( { name = \"s2\"; checklist = [ ]; } );\n" },
		{ "10-first.conf",
		    "stages = ( { name = \"a\"; tasks = ( { type = \"sms\"; script = \"s2\"; } ); }, { name = \"b\"; } );\nrules = ( { name = \"ab\"; from = \"a\"; to = \"b\"; when = { days_overdue = { min = 1; }; }; } );\n" },
		{ "20-scripts.conf",
		    "scripts = ( { name = \"s1\"; checklist = [ \"one\" ]; } );\nrules = ( { name = \"back\"; from = \"*\"; to = \"a\"; when = { balance = { max = 0; }; }; } );\n" },
	};
	struct ruleset *rs;
	char *got;

	(void)state;
	got = run(f, &rs);
	assert_string_equal(got, "");
	assert_non_null(rs);
	assert_int_equal(rs->nstages, 3);
	assert_string_equal(rs->stages[0].name, "a");
	assert_string_equal(rs->stages[1].name, "b");
	assert_string_equal(rs->stages[2].name, "c");
	assert_string_equal(rs->stages[2].file, "30-more.conf");
	assert_int_equal(rs->nrules, 3);
	assert_string_equal(rs->rules[0].name, "ab");
	assert_string_equal(rs->rules[1].name, "back");
	assert_string_equal(rs->rules[2].name, "bc");
	assert_int_equal(rs->nscripts, 2);
	assert_string_equal(rs->scripts[0].name, "s1");
	assert_int_equal(rs->stages[0].tasks[0].script, 1);
	assert_int_equal(rs->nfiles, 3);
	assert_string_equal(rs->files[0], "10-first.conf");
	assert_string_equal(rs->files[2], "30-more.conf");
	rules_free(rs);
	free(got);
}

/* Names are filtered and ordered as in a directory. */
static void
test_files_filter_and_order(void **state)
{
	struct file f[MAXFILES] = {
		{ "b.conf", "stages = ( { name = \"from-b\"; } );\n" },
		{ ".hidden.conf", "this is not read" },
		{ "notes.txt", "nor this" },
		{ "B.conf", "stages = ( { name = \"from-B\"; } );\n" },
	};
	struct ruleset *rs;
	char *got;

	(void)state;
	got = run(f, &rs);
	/* "B" (0x42) sorts before "b" (0x62): from-B is the first stage. */
	assert_string_equal(got,
	    "b.conf:1: warning: stage \"from-b\": no rule leads to this stage, so no account can reach it");
	assert_non_null(rs);
	assert_string_equal(rs->stages[0].name, "from-B");
	assert_int_equal(rs->nfiles, 2);
	rules_free(rs);
	free(got);
}

/* Integers beyond 32 bits keep their value (libconfig 1.5 truncates). */
static void
test_wide_numbers(void **state)
{
	struct file f[MAXFILES] = {
		{ "10-x.conf",
		    BASE RULE(
		        "balance = { min = 5000000000; max = 0x1FFFFFFFF; }; overdue_amount = { min = -3000000000; max = 9007199254740992L; }; late_trend = { min = 1.5000000000; max = 3e10; };") }
	};
	struct ruleset *rs;
	const struct rules_cond *c;
	char *got;

	(void)state;
	got = run(f, &rs);
	assert_string_equal(got, "");
	c = rs->rules[0].when.conds;
	assert_true(c[0].min == 5000000000.0);
	assert_true(c[0].max == 8589934591.0);
	assert_true(c[1].min == -3000000000.0);
	assert_true(c[1].max == 9007199254740992.0);
	assert_true(c[2].min == 1.5);
	assert_true(c[2].max == 3e10);
	rules_free(rs);
	free(got);
}

static char *
version_of(const struct file *f)
{
	struct ruleset *rs;
	char *got, *v;

	got = run(f, &rs);
	assert_string_equal(got, "");
	free(got);
	v = xstrdup(rs->version);
	rules_free(rs);
	return v;
}

/* rules_version changes exactly when the bytes of the files change. */
static void
test_version(void **state)
{
	struct file a[MAXFILES] = { { "10-a.conf",
		                        "stages = ( { name = \"x\"; } );\n" },
		{ "20-b.conf", "trend_window = 6;\n" } };
	struct file same[MAXFILES] = {
		{ "10-a.conf", "stages = ( { name = \"x\"; } );\n" },
		{ "20-b.conf", "trend_window = 6;\n" }
	};
	struct file renamed[MAXFILES] = {
		{ "11-a.conf", "stages = ( { name = \"x\"; } );\n" },
		{ "21-b.conf", "trend_window = 6;\n" }
	};
	struct file byte[MAXFILES] = {
		{ "10-a.conf", "stages = ( { name = \"x\"; } ); \n" },
		{ "20-b.conf", "trend_window = 6;\n" }
	};
	struct file comment[MAXFILES] = {
		{ "10-a.conf", "stages = ( { name = \"x\"; } );\n" },
		{ "20-b.conf", "trend_window = 6; # six\n" }
	};
	struct file moved[MAXFILES] = {
		{ "10-a.conf",
		    "stages = ( { name = \"x\"; } );\ntrend_window = 6;\n" },
		{ "20-b.conf", "" }
	};
	char *va = version_of(a), *v;

	(void)state;
	assert_int_equal(strlen(va), 32);
	v = version_of(same);
	assert_string_equal(va, v);
	free(v);
	v = version_of(renamed);
	assert_string_equal(va, v);
	free(v);
	v = version_of(byte);
	assert_string_not_equal(va, v);
	free(v);
	v = version_of(comment);
	assert_string_not_equal(va, v);
	free(v);
	v = version_of(moved);
	assert_string_not_equal(va, v);
	free(v);
	free(va);
}

static struct ruleset *
load_one(const char *text)
{
	const char *name = "10-x.conf";
	struct ruleset *rs;
	struct diags ds;

	diags_init(&ds);
	rs = rules_load_files(&name, &text, 1, &ds);
	assert_non_null(rs);
	assert_int_equal(ds.n, 0);
	diags_fini(&ds);
	return rs;
}

/* §4.1: grace_days is any integer >= 0; huge ones mean "all on time". */
static void
test_grace_days_any_size(void **state)
{
	static const char *const texts[] = { "grace_days = 2147483648;\n",
		"grace_days = 99999999999L;\n", "grace_days = 2147483647;\n" };
	struct ruleset *rs;
	char text[200];
	size_t i;

	(void)state;
	for (i = 0; i < 3; i++) {
		snprintf(text, sizeof(text),
		    "stages = ( { name = \"a\"; } );\n%s", texts[i]);
		rs = load_one(text);
		assert_int_equal(rs->grace_days, RULES_GRACE_DAYS_MAX);
		rules_free(rs);
	}
	rs = load_one("stages = ( { name = \"a\"; } );\ngrace_days = 7;\n");
	assert_int_equal(rs->grace_days, 7);
	rules_free(rs);
}

/* One condition per case, held against facts. */
static void
test_cond_holds(void **state)
{
	struct ruleset *rs;
	const struct rules_cond *c;
	struct rules_factvals fv;
	int64_t broken[2] = { 0, 0 }, kept[2] = { 0, 0 };
	const char *tags[] = { "vip", "north" };

	(void)state;
	rs = load_one(
	    "stages = ( { name = \"a\"; }, { name = \"b\"; } );\n"
	    "rules = ( { name = \"r\"; from = \"a\"; to = \"b\"; when = { }; } );\n"
	    "alerts = (\n"
	    "  { name = \"c0\"; when = { days_to_due = { }; }; task = { type = \"sms\"; }; },\n"
	    "  { name = \"c1\"; when = { days_to_due = { min = -2; max = 3; }; }; task = { type = \"sms\"; }; },\n"
	    "  { name = \"c2\"; when = { on_time_ratio = { max = 0.5; }; }; task = { type = \"sms\"; }; },\n"
	    "  { name = \"c3\"; when = { risk = [ \"D\", \"E\" ]; }; task = { type = \"sms\"; }; },\n"
	    "  { name = \"c4\"; when = { balance = { }; }; task = { type = \"sms\"; }; },\n"
	    "  { name = \"c5\"; when = { promises_broken = { min = 2; window = \"30d\"; }; }; task = { type = \"sms\"; }; },\n"
	    "  { name = \"c6\"; when = { promises_kept = { min = 1; }; }; task = { type = \"sms\"; }; },\n"
	    "  { name = \"c7\"; when = { tags = { any = [ \"vip\", \"x\" ]; none = [ \"legal_hold\" ]; }; }; task = { type = \"sms\"; }; },\n"
	    "  { name = \"c8\"; when = { tags = { }; }; task = { type = \"sms\"; }; },\n"
	    "  { name = \"c9\"; when = { stage = \"b\"; size = [ \"small\", \"large\" ]; first_miss = true; }; task = { type = \"sms\"; }; },\n"
	    "  { name = \"c10\"; when = { }; task = { type = \"sms\"; }; },\n"
	    "  { name = \"c11\"; when = { late_trend = { min = 0.25; }; days_in_stage = { max = 7; }; }; task = { type = \"sms\"; }; }\n"
	    ");\n");
	assert_int_equal(rs->uses.nwindows, 2);
	assert_int_equal(rs->uses.windows[0], 30 * 86400);
	assert_int_equal(rs->uses.windows[1], 90 * 86400);
	memset(&fv, 0, sizeof(fv));
	fv.promises_broken = broken;
	fv.promises_kept = kept;
	fv.size = RULES_SIZE_MEDIUM;
	/* Absent facts: every condition on them is false, even "{ }". */
	assert_false(rules_when_holds(&rs->alerts[0].when, &fv));
	assert_false(rules_when_holds(&rs->alerts[1].when, &fv));
	assert_false(rules_when_holds(&rs->alerts[2].when, &fv));
	assert_false(rules_when_holds(&rs->alerts[3].when, &fv));
	/* "{ }" on a fact that is always present holds. */
	assert_true(rules_when_holds(&rs->alerts[4].when, &fv));
	fv.has_days_to_due = true;
	fv.days_to_due = -2;
	assert_true(rules_when_holds(&rs->alerts[0].when, &fv));
	assert_true(rules_when_holds(&rs->alerts[1].when, &fv));
	fv.days_to_due = 4;
	assert_false(rules_when_holds(&rs->alerts[1].when, &fv));
	fv.has_on_time_ratio = true;
	fv.on_time_ratio = 0.5;
	assert_true(rules_when_holds(&rs->alerts[2].when, &fv));
	fv.on_time_ratio = 0.51;
	assert_false(rules_when_holds(&rs->alerts[2].when, &fv));
	fv.has_risk = true;
	fv.risk = 3;
	assert_true(rules_when_holds(&rs->alerts[3].when, &fv));
	fv.risk = 2;
	assert_false(rules_when_holds(&rs->alerts[3].when, &fv));
	/* Windows: each condition reads the count of its own window. */
	c = &rs->alerts[5].when.conds[0];
	assert_int_equal(c->window, 0);
	broken[1] = 5;
	assert_false(rules_cond_holds(c, &fv));
	broken[0] = 2;
	assert_true(rules_cond_holds(c, &fv));
	c = &rs->alerts[6].when.conds[0];
	assert_int_equal(c->window_s, 90 * 86400);
	assert_int_equal(c->window, 1);
	kept[0] = 1;
	assert_false(rules_cond_holds(c, &fv));
	kept[1] = 1;
	assert_true(rules_cond_holds(c, &fv));
	/* Tags. */
	assert_false(rules_when_holds(&rs->alerts[7].when, &fv));
	assert_true(rules_when_holds(&rs->alerts[8].when, &fv));
	fv.tags = tags;
	fv.ntags = 2;
	assert_true(rules_when_holds(&rs->alerts[7].when, &fv));
	tags[1] = "legal_hold";
	assert_false(rules_when_holds(&rs->alerts[7].when, &fv));
	assert_true(rules_when_holds(&rs->alerts[8].when, &fv));
	/* Sets and booleans, all of a when. */
	fv.stage = 1;
	fv.first_miss = true;
	assert_false(rules_when_holds(&rs->alerts[9].when, &fv));
	fv.size = RULES_SIZE_LARGE;
	assert_true(rules_when_holds(&rs->alerts[9].when, &fv));
	fv.stage = 0;
	assert_false(rules_when_holds(&rs->alerts[9].when, &fv));
	/* An empty when always holds. */
	assert_true(rules_when_holds(&rs->alerts[10].when, &fv));
	fv.late_trend = 0.25;
	fv.days_in_stage = 7;
	assert_true(rules_when_holds(&rs->alerts[11].when, &fv));
	fv.days_in_stage = 8;
	assert_false(rules_when_holds(&rs->alerts[11].when, &fv));
	rules_free(rs);
}

static void
test_names(void **state)
{
	int i;

	(void)state;
	assert_string_equal(rules_fact_name(RULES_FACT_BALANCE), "balance");
	assert_string_equal(rules_fact_name(RULES_FACT_UNDISPUTED_OVERDUE),
	    "undisputed_overdue");
	assert_string_equal(rules_fact_name(RULES_FACT_TAGS), "tags");
	assert_int_equal(
	    rules_fact_kind(RULES_FACT_FIRST_MISS), RULES_KIND_BOOL);
	assert_int_equal(rules_fact_kind(RULES_FACT_RISK), RULES_KIND_SET);
	assert_string_equal(
	    rules_task_type_name(RULES_TASK_LEGAL_REFERRAL), "legal_referral");
	assert_string_equal(rules_size_name(RULES_SIZE_MEDIUM), "medium");
	assert_string_equal(rules_risk_name(4), "E");
	for (i = 0; i < RULES_FACT_COUNT; i++)
		assert_string_not_equal(rules_fact_name(i), "?");
}

/* Directory tests run in a fresh temporary directory. */
static char tmpdir[64];

static void
put(const char *rel, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, rel);
	assert_non_null(f = fopen(path, "w"));
	fputs(text, f);
	fclose(f);
}

static int
setup_dir(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_rules.XXXXXX");
	return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int
teardown_dir(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

/* check-rules over a directory; returns its exit status, out = printed. */
static int
check(const char *dir, char **out)
{
	size_t len;
	FILE *f;
	int ret;

	assert_non_null(f = open_memstream(out, &len));
	ret = rules_check(dir, f);
	fclose(f);
	return ret;
}

static void
test_dir_filter(void **state)
{
	char path[256], *out;
	struct ruleset *rs;
	struct diags ds;

	(void)state;
	put("20-rules.conf",
	    "rules = ( { name = \"ab\"; from = \"a\"; to = \"b\"; when = { }; } );\n");
	put("10-stages.conf",
	    "stages = ( { name = \"a\"; }, { name = \"b\"; } );\n");
	put(".hidden.conf", "garbage");
	put("README", "garbage");
	put("30-x.conf~", "garbage");
	put("30-x.conf.bak", "garbage");
	snprintf(path, sizeof(path), "%s/sub.conf", tmpdir);
	assert_int_equal(mkdir(path, 0755), 0);
	put("sub.conf/99.conf", "garbage");
	snprintf(path, sizeof(path), "%s/link.conf", tmpdir);
	assert_int_equal(symlink("10-stages.conf", path), 0);
	/* The symbolic link is a file: a second definition of a and b. */
	assert_int_equal(check(tmpdir, &out), 1);
	assert_string_equal(out,
	    "link.conf:1: stage \"a\" is defined twice (first at 10-stages.conf:1)\n"
	    "link.conf:1: stage \"b\" is defined twice (first at 10-stages.conf:1)\n");
	free(out);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(check(tmpdir, &out), 0);
	assert_string_equal(out, "");
	free(out);
	diags_init(&ds);
	rs = rules_load_dir(tmpdir, &ds);
	assert_non_null(rs);
	assert_int_equal(rs->nfiles, 2);
	assert_string_equal(rs->files[0], "10-stages.conf");
	rules_free(rs);
	diags_fini(&ds);
}

static void
test_dir_include_and_errors(void **state)
{
	char *out;

	(void)state;
	put("10-stages.conf",
	    "stages = ( { name = \"a\"; } );\n\n@include \"20-more.conf\"\n");
	put("20-more.conf", "stages = ( { name = \"b\"; } );\n");
	assert_int_equal(check(tmpdir, &out), 1);
	assert_string_equal(out,
	    "10-stages.conf:3: @include is not allowed: every .conf file of the rules directory is read, so put the settings in one of them\n"
	    "20-more.conf:1: warning: stage \"b\": no rule leads to this stage, so no account can reach it\n");
	free(out);
	/* Warnings alone do not fail. */
	put("10-stages.conf", "stages = ( { name = \"a\"; } );\n");
	assert_int_equal(check(tmpdir, &out), 0);
	assert_string_equal(out,
	    "20-more.conf:1: warning: stage \"b\": no rule leads to this stage, so no account can reach it\n");
	free(out);
}

/* A binary file is not parsed; a name given twice is refused. */
static void
test_odd_files(void **state)
{
	const char *names[] = { "10-a.conf", "10-a.conf" };
	const char *texts[] = { "stages = ( { name = \"a\"; } );\n",
		"stages = ( { name = \"b\"; } );\n" };
	char path[256], *out;
	struct diags ds;
	FILE *f;

	(void)state;
	diags_init(&ds);
	assert_null(rules_load_files(names, texts, 2, &ds));
	assert_int_equal(ds.n, 1);
	assert_string_equal(ds.v[0].msg, "the file is given twice");
	diags_fini(&ds);
	put("10-a.conf", "stages = ( { name = \"a\"; } );\n");
	snprintf(path, sizeof(path), "%s/20-bin.conf", tmpdir);
	assert_non_null(f = fopen(path, "w"));
	fwrite("x = 1;\n\n\0y", 1, 11, f);
	fclose(f);
	assert_int_equal(check(tmpdir, &out), 1);
	assert_string_equal(out,
	    "20-bin.conf:3: the file contains a NUL byte: is it a rule file?\n");
	free(out);
}

static void
test_dir_missing(void **state)
{
	char path[256], *out, want[512];

	(void)state;
	snprintf(path, sizeof(path), "%s/nonexistent", tmpdir);
	assert_int_equal(check(path, &out), 1);
	snprintf(want, sizeof(want),
	    "%s:0: cannot read the rules directory: No such file or directory\n",
	    path);
	assert_string_equal(out, want);
	free(out);
	/* An empty directory has no stages. */
	assert_int_equal(check(tmpdir, &out), 1);
	snprintf(want, sizeof(want),
	    "%s:0: no stages: there is no rule file (*.conf)\n", tmpdir);
	assert_string_equal(out, want);
	free(out);
}

static void
test_dir_version_matches_files(void **state)
{
	const char *names[] = { "b.conf", "a.conf" };
	const char *texts[] = { "trend_window = 7;\n",
		"stages = ( { name = \"a\"; } );\n" };
	struct ruleset *rd, *rf;
	struct diags ds;

	(void)state;
	put("a.conf", texts[1]);
	put("b.conf", texts[0]);
	diags_init(&ds);
	rd = rules_load_dir(tmpdir, &ds);
	rf = rules_load_files(names, texts, 2, &ds);
	assert_int_equal(ds.n, 0);
	assert_non_null(rd);
	assert_non_null(rf);
	assert_string_equal(rd->version, rf->version);
	assert_int_equal(rd->trend_window, 7);
	rules_free(rd);
	rules_free(rf);
	diags_fini(&ds);
}

/* The shipped rules/ directory (tests run from the checkout). */
static void
test_shipped_rules(void **state)
{
	struct ruleset *rs;
	struct diags ds;
	size_t st;
	char *out;

	(void)state;
	assert_int_equal(check("rules", &out), 0);
	assert_string_equal(out, "");
	free(out);
	diags_init(&ds);
	rs = rules_load_dir("rules", &ds);
	assert_non_null(rs);
	assert_int_equal(rs->nstages, 5);
	assert_string_equal(rs->stages[0].name, "current");
	assert_int_equal(rules_stage_lookup(rs, "pressure", &st), 1);
	assert_int_equal(st, 3);
	assert_int_equal(rules_stage_lookup(rs, "nowhere", &st), 0);
	/* P10: a credit hold on entering pressure. */
	assert_int_equal(rs->stages[st].tasks[0].type, RULES_TASK_CREDIT_HOLD);
	assert_int_equal(rs->stages[st].tasks[0].after_s, 0);
	/* P7: office hours, China's days off of 2026 and 2027, schedules. */
	assert_non_null(rs->cal);
	assert_int_equal(rs->cal->nhours, 2);
	assert_int_equal(rs->cal->hours[0].start_min, 9 * 60);
	assert_int_equal(rs->cal->hours[1].end_min, 18 * 60);
	assert_int_equal(rs->cal->nholidays, 19 + 7);
	assert_int_equal(rs->cal->nextra, 6);
	assert_false(
	    cal_is_workday(rs->cal, clock_days_from_civil(2026, 10, 1)));
	assert_true(
	    cal_is_workday(rs->cal, clock_days_from_civil(2026, 10, 10)));
	assert_false(
	    cal_is_workday(rs->cal, clock_days_from_civil(2027, 2, 5)));
	/* P1: the first overdue call at the first working time. */
	assert_int_equal(rules_stage_lookup(rs, "negotiation", &st), 1);
	assert_string_equal(
	    rs->schedules[rs->stages[st].tasks[0].schedule].name, "first-call");
	assert_int_equal(
	    rs->schedules[rs->stages[st].tasks[0].schedule].defer_days, 0);
	/* P7: later calls in the afternoon, Friday first, cash-in days. */
	assert_string_equal(
	    rules_schedule_for(rs, rs->stages[st].tasks[1].schedule,
	        rs->stages[st].tasks[1].type)
	        ->name,
	    "calls");
	assert_true(rules_schedule_for(rs, -1, RULES_TASK_CALL)->cash_in);
	assert_int_equal(
	    rules_schedule_for(rs, -1, RULES_TASK_CALL)->prefer[0], 4);
	/* P7: visits never at lunch: 09:00-09:15 and 13:30-18:00. */
	assert_int_equal(
	    rules_schedule_for(rs, -1, RULES_TASK_VISIT)->nhours, 2);
	assert_int_equal(
	    rules_schedule_for(rs, -1, RULES_TASK_VISIT)->hours[0].end_min,
	    9 * 60 + 15);
	assert_string_equal(
	    rules_schedule_for(rs, -1, RULES_TASK_EMAIL)->name, "written");
	rules_free(rs);
	diags_fini(&ds);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_warnings),
		cmocka_unit_test(test_cycles),
		cmocka_unit_test(test_calendar_diags),
		cmocka_unit_test(test_calendar_loaded),
		cmocka_unit_test(test_schedules_without_calendar),
		cmocka_unit_test(test_spec_example),
		cmocka_unit_test(test_issue_example),
		cmocka_unit_test(test_concatenation),
		cmocka_unit_test(test_files_filter_and_order),
		cmocka_unit_test(test_wide_numbers),
		cmocka_unit_test(test_version),
		cmocka_unit_test(test_cond_holds),
		cmocka_unit_test(test_grace_days_any_size),
		cmocka_unit_test(test_names),
		cmocka_unit_test_setup_teardown(
		    test_dir_filter, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(
		    test_dir_include_and_errors, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(
		    test_odd_files, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(
		    test_dir_missing, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(
		    test_dir_version_matches_files, setup_dir, teardown_dir),
		cmocka_unit_test(test_shipped_rules),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
