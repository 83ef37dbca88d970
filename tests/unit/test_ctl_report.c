/* ctl_report: sparklines and bars (the charts of report kpi / aging). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "ctl_report.h"

static void
test_sparkline_scales_min_to_max_with_gaps(void **state)
{
	double v[] = { 10, 20, NAN, 15, 10 };
	char out[64];

	(void)state;
	ctl_sparkline(v, 5, out, sizeof(out));
	/* 10 lowest, 20 highest, 15 half way (rounded: 4 of 8), a gap. */
	assert_string_equal(out, "\u2581\u2588 \u2585\u2581");
}

static void
test_sparkline_of_equal_values_is_flat(void **state)
{
	double v[] = { 3, 3, 3 };
	char out[64];

	(void)state;
	ctl_sparkline(v, 3, out, sizeof(out));
	assert_string_equal(out, "\u2584\u2584\u2584");
}

static void
test_sparkline_stops_at_the_buffer(void **state)
{
	double v[] = { 1, 2, 3, 4 };
	char out[7]; /* two 3-byte blocks and the NUL */

	(void)state;
	ctl_sparkline(v, 4, out, sizeof(out));
	assert_string_equal(out, "\u2581\u2583");
}

static void
test_bar_in_eighths(void **state)
{
	char out[128];

	(void)state;
	ctl_bar(1, 1, 4, out, sizeof(out));
	assert_string_equal(out, "\u2588\u2588\u2588\u2588");
	/* 3/8 of 4 cells = 1.5 cells: one full and a half. */
	ctl_bar(3, 8, 4, out, sizeof(out));
	assert_string_equal(out, "\u2588\u258c");
	ctl_bar(0, 8, 4, out, sizeof(out));
	assert_string_equal(out, "");
	/* Nothing owed: no bar, never a division by 0. */
	ctl_bar(5, 0, 4, out, sizeof(out));
	assert_string_equal(out, "");
	/* A part above the whole is capped at the width. */
	ctl_bar(9, 8, 2, out, sizeof(out));
	assert_string_equal(out, "\u2588\u2588");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sparkline_scales_min_to_max_with_gaps),
		cmocka_unit_test(test_sparkline_of_equal_values_is_flat),
		cmocka_unit_test(test_sparkline_stops_at_the_buffer),
		cmocka_unit_test(test_bar_in_eighths),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
