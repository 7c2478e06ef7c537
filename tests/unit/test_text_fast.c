/* tests/unit/test_text_fast.c: the printf-free paths of the writers on every reply give what
 * the plain ones gave. core/jcs.c's number writer (integers below 2^53 as their digits; the
 * 15-digit rendering tried first) against the plain search of the shortest round-trip form
 * (p = 1..17, kept here as the reference) over many doubles: random bit patterns, subnormals,
 * integers, short decimals, thousandths; its integers at the int64 extremes; and
 * core/timefmt.c's RFC 3339 times against gmtime_r and printf, years 0000 to 9999 and past. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/jcs.h"
#include "core/timefmt.h"

/* The reference: core/jcs.c before the shortcuts, verbatim. */
/* Shortest round-trip digits of d > 0 (finite) into digits, returning the decimal exponent e
 * such that d = 0.d1d2... x 10^(e+1), i.e. d1.d2... x 10^e. */
static int shortest_digits(double d, char *digits, size_t *ndigits) {
    char tmp[40];
    for (int p = 1; p <= 17; p++) {
        snprintf(tmp, sizeof tmp, "%.*e", p - 1, d);
        if (strtod(tmp, NULL) == d) break;
    }
    size_t n = 0;
    const char *q = tmp;
    for (; *q && *q != 'e'; q++)
        if (*q >= '0' && *q <= '9') digits[n++] = *q;
    while (n > 1 && digits[n - 1] == '0') n--;
    digits[n] = '\0';
    *ndigits = n;
    return *q == 'e' ? atoi(q + 1) : 0;
}

/* Lays out digits (k of them) with n = e + 1 per ECMA-262 Number::toString. */
static void number_layout(const char *dg, int k, int n, je_buf *out) {
    if (k <= n && n <= 21) {
        je_buf_append(out, dg, (size_t)k);
        for (int i = k; i < n; i++) je_buf_putc(out, '0');
    } else if (0 < n && n <= 21) {
        je_buf_append(out, dg, (size_t)n);
        je_buf_putc(out, '.');
        je_buf_append(out, dg + n, (size_t)(k - n));
    } else if (-6 < n && n <= 0) {
        je_buf_puts(out, "0.");
        for (int i = 0; i < -n; i++) je_buf_putc(out, '0');
        je_buf_append(out, dg, (size_t)k);
    } else {
        je_buf_putc(out, dg[0]);
        if (k > 1) {
            je_buf_putc(out, '.');
            je_buf_append(out, dg + 1, (size_t)(k - 1));
        }
        je_buf_printf(out, "e%c%d", n - 1 >= 0 ? '+' : '-', abs(n - 1));
    }
}

static int ref_real(double d, je_buf *out) {
    if (!isfinite(d)) return -1;
    if (d == 0) {
        je_buf_putc(out, '0');
        return 0;
    }
    if (d < 0) {
        je_buf_putc(out, '-');
        d = -d;
    }
    char digits[32];
    size_t k = 0;
    int e = shortest_digits(d, digits, &k);
    number_layout(digits, (int)k, e + 1, out);
    return 0;
}

static uint64_t rng = 88172645463325252ull;
static uint64_t next(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void check(double d) {
    if (!isfinite(d)) return;
    je_buf want = JE_BUF_INIT, b = JE_BUF_INIT;
    assert_int_equal(ref_real(d, &want), 0);
    assert_int_equal(je_jcs_real(d, &b), 0);
    if (strcmp(b.data, want.data) != 0) fail_msg("%.17g: want %s, got %s", d, want.data, b.data);
    je_buf_free(&want);
    je_buf_free(&b);
}

static void test_matches_the_plain_search(void **state) {
    (void)state;
    static const double edge[] = {1,
                                  -1,
                                  0.1,
                                  1e21,
                                  1e20,
                                  123e18,
                                  1e-6,
                                  1e-7,
                                  5e-324,
                                  DBL_MIN,
                                  DBL_MAX,
                                  2.2250738585072009e-308,
                                  9007199254740991.0,
                                  9007199254740992.0,
                                  9007199254740993.0,
                                  333333333.33333329,
                                  4.35,
                                  0.3,
                                  100,
                                  1e15 + 0.5};
    for (size_t i = 0; i < sizeof edge / sizeof edge[0]; i++) check(edge[i]), check(-edge[i]);
    for (int i = 0; i < 300000; i++) {
        uint64_t bits = next();
        double d;
        memcpy(&d, &bits, sizeof d);
        check(d);
        check((double)(int64_t)(next() >> (next() % 64)));
        check(round((double)(next() % 100000000000ull) / 7.0 * 1000) / 1000);
        check((double)(next() % 1000000) * pow(10, (int)(next() % 60) - 30));
        bits = next() % 0x0010000000000000ull; /* subnormal */
        memcpy(&d, &bits, sizeof d);
        check(d);
    }
}

static void test_int(void **state) {
    (void)state;
    je_buf b = JE_BUF_INIT;
    je_jcs_int(INT64_MIN, &b);
    je_buf_putc(&b, ' ');
    je_jcs_int(INT64_MAX, &b);
    je_buf_putc(&b, ' ');
    je_jcs_int(0, &b);
    je_buf_putc(&b, ' ');
    je_jcs_int(-7, &b);
    assert_string_equal(b.data, "-9223372036854775808 9223372036854775807 0 -7");
    je_buf_free(&b);
}

static void time_reference(int64_t ms, char *out, size_t cap) {
    int64_t s = ms / 1000, r = ms % 1000;
    if (r < 0) r += 1000, s--;
    time_t t = (time_t)s;
    struct tm tm;
    assert_non_null(gmtime_r(&t, &tm));
    snprintf(out, cap, "%04lld-%02d-%02dT%02d:%02d:%02d.%03dZ", (long long)tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)r);
}

static void test_time_format(void **state) {
    (void)state;
    static const int64_t edge[] = {0,
                                   -1,
                                   1,
                                   253402300799999LL,
                                   253402300800000LL,
                                   -62167219200000LL,
                                   -62167219200001LL,
                                   1795860000000LL,
                                   951782400000LL /* 2000-02-29 */};
    for (int i = 0; i < 400000; i++) {
        int64_t ms = i < 9 ? edge[i] : (int64_t)(next() % 400000000000000ULL) - 70000000000000LL;
        char want[96], got[JE_TIME_BUF];
        time_reference(ms, want, sizeof want);
        je_time_format(ms, got);
        if (strcmp(want, got) != 0) fail_msg("%lld: want %s, got %s", (long long)ms, want, got);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matches_the_plain_search),
        cmocka_unit_test(test_int),
        cmocka_unit_test(test_time_format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
