/* tests/unit/test_timefmt.c: millisecond timestamps <-> RFC 3339 text, including negative
 * times, leap years, offsets, fractions and strict refusal of malformed input. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>
#include <stdio.h>
#include <time.h>

#include "core/timefmt.h"

static void assert_fmt(int64_t ms, const char *want) {
    char buf[JE_TIME_BUF];
    assert_string_equal(je_time_format(ms, buf), want);
}

static void assert_parse(const char *s, int64_t want) {
    int64_t ms = -12345;
    assert_int_equal(je_time_parse(s, &ms), 0);
    assert_int_equal(ms, want);
}

static void assert_refused(const char *s) {
    int64_t ms = 0;
    if (je_time_parse(s, &ms) != -1) fail_msg("accepted: \"%s\"", s);
}

static void test_format_known(void **state) {
    (void)state;
    assert_fmt(0, "1970-01-01T00:00:00.000Z");
    assert_fmt(1, "1970-01-01T00:00:00.001Z");
    assert_fmt(-1, "1969-12-31T23:59:59.999Z");
    assert_fmt(-1000, "1969-12-31T23:59:59.000Z");
    assert_fmt(-86400001, "1969-12-30T23:59:59.999Z");
    assert_fmt(951782400000, "2000-02-29T00:00:00.000Z");
    assert_fmt(1795856400000, "2026-11-28T09:00:00.000Z");
    assert_fmt(253402300799999, "9999-12-31T23:59:59.999Z");
    assert_fmt(-62135596800000, "0001-01-01T00:00:00.000Z");
    assert_fmt(4107542400000, "2100-03-01T00:00:00.000Z");
    assert_fmt(253402300800000, "10000-01-01T00:00:00.000Z");
    /* the extremes of int64 stay within the buffer */
    char buf[JE_TIME_BUF];
    assert_true(strlen(je_time_format(INT64_MAX, buf)) < JE_TIME_BUF);
    assert_true(strlen(je_time_format(INT64_MIN, buf)) < JE_TIME_BUF);
    assert_string_equal(je_time_format(INT64_MAX, buf), "292278994-08-17T07:12:55.807Z");
}

/* Cross-check against gmtime_r for a spread of days, both sides of the epoch. */
static void test_format_matches_gmtime(void **state) {
    (void)state;
    for (int64_t day = -800000; day <= 800000; day += 997) {
        int64_t ms = day * 86400000 + 45296789; /* 12:34:56.789 */
        time_t t = (time_t)(day * 86400 + 45296);
        struct tm tm;
        assert_non_null(gmtime_r(&t, &tm));
        char want[64];
        snprintf(want, sizeof want, "%04d-%02d-%02dT12:34:56.789Z", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday);
        if (tm.tm_year + 1900 < 1 || tm.tm_year + 1900 > 9999) continue;
        assert_fmt(ms, want);
        int64_t back = 0;
        assert_int_equal(je_time_parse(want, &back), 0);
        assert_int_equal(back, ms);
    }
}

static void test_parse_basic(void **state) {
    (void)state;
    assert_parse("1970-01-01T00:00:00Z", 0);
    assert_parse("1970-01-01T00:00:00.000Z", 0);
    assert_parse("1969-12-31T23:59:59.999Z", -1);
    assert_parse("2026-11-28T09:00:00.000Z", 1795856400000);
    assert_parse("2026-11-28t09:00:00z", 1795856400000);
    assert_parse("2000-02-29T00:00:00Z", 951782400000);
    assert_parse("0001-01-01T00:00:00Z", -62135596800000);
    assert_parse("9999-12-31T23:59:59.999Z", 253402300799999);
}

static void test_parse_fraction(void **state) {
    (void)state;
    assert_parse("1970-01-01T00:00:00.5Z", 500);
    assert_parse("1970-01-01T00:00:00.05Z", 50);
    assert_parse("1970-01-01T00:00:00.123456789Z", 123);
    assert_parse("1970-01-01T00:00:00.9999Z", 999);
    assert_parse("1969-12-31T23:59:59.0009Z", -1000);
    assert_refused("1970-01-01T00:00:00.Z");
    assert_refused("1970-01-01T00:00:00.1234567890Z");
}

static void test_parse_offsets(void **state) {
    (void)state;
    assert_parse("2026-11-28T10:00:00+01:00", 1795856400000);
    assert_parse("2026-11-28T04:30:00-04:30", 1795856400000);
    assert_parse("2026-11-28T09:00:00+00:00", 1795856400000);
    assert_parse("2026-11-28T09:00:00-00:00", 1795856400000);
    assert_parse("1970-01-01T00:00:00+23:59", -86340000);
    assert_refused("2026-11-28T09:00:00+24:00");
    assert_refused("2026-11-28T09:00:00+01:60");
    assert_refused("2026-11-28T09:00:00+0100");
    assert_refused("2026-11-28T09:00:00+01");
    assert_refused("2026-11-28T09:00:00+1:00");
}

static void test_parse_ranges(void **state) {
    (void)state;
    assert_refused("0000-01-01T00:00:00Z");
    assert_refused("2026-00-01T00:00:00Z");
    assert_refused("2026-13-01T00:00:00Z");
    assert_refused("2026-01-00T00:00:00Z");
    assert_refused("2026-01-32T00:00:00Z");
    assert_refused("2026-04-31T00:00:00Z");
    assert_refused("2026-02-29T00:00:00Z");
    assert_refused("1900-02-29T00:00:00Z");
    assert_parse("2024-02-29T00:00:00Z", 1709164800000);
    assert_refused("2024-02-30T00:00:00Z");
    assert_refused("2026-01-01T24:00:00Z");
    assert_refused("2026-01-01T00:60:00Z");
    assert_refused("2026-01-01T00:00:60Z");
}

static void test_parse_malformed(void **state) {
    (void)state;
    assert_refused("");
    assert_refused("2026-11-28");
    assert_refused("2026-11-28T09:00:00");
    assert_refused("2026-11-28 09:00:00Z");
    assert_refused("26-11-28T09:00:00Z");
    assert_refused("02026-11-28T09:00:00Z");
    assert_refused("2026-1-28T09:00:00Z");
    assert_refused("2026-11-28T9:00:00Z");
    assert_refused("2026-11-28T09:00Z");
    assert_refused("2026-11-28T09:00:00ZZ");
    assert_refused("2026-11-28T09:00:00Z ");
    assert_refused(" 2026-11-28T09:00:00Z");
    assert_refused("2026/11/28T09:00:00Z");
    assert_refused("+026-11-28T09:00:00Z");
    assert_refused("2026-11-28T09:00:00,5Z");
    int64_t ms;
    assert_int_equal(je_time_parse(NULL, &ms), -1);
}

static void test_roundtrip(void **state) {
    (void)state;
    const int64_t samples[] = {
        0, -1, 1, 999, -999, 1795856400123, -62135596800000, 253402300799999, -5000000000001};
    for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++) {
        char buf[JE_TIME_BUF];
        int64_t back = 7;
        assert_int_equal(je_time_parse(je_time_format(samples[i], buf), &back), 0);
        assert_int_equal(back, samples[i]);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_known),    cmocka_unit_test(test_format_matches_gmtime),
        cmocka_unit_test(test_parse_basic),     cmocka_unit_test(test_parse_fraction),
        cmocka_unit_test(test_parse_offsets),   cmocka_unit_test(test_parse_ranges),
        cmocka_unit_test(test_parse_malformed), cmocka_unit_test(test_roundtrip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
