/* tests/unit/test_breaker.c: circuit breakers (core/breaker.h) with an injected clock (plain
 * int64 ms values): opening at the threshold and not below it, minSamples, the sliding window,
 * open -> half-open timing and Retry-After, probes, forcing and release. The settings are in
 * test_breaker_settings.c. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "core/breaker.h"

/* 2026-11-28T10:00:00.000Z: a multiple of every bucket width used below (6 s, 1 s). */
#define T 1795860000000LL

static je_breaker make(double rate, int64_t min_samples, int64_t window_ms, int64_t open_ms,
                       int64_t probes) {
    je_breaker_settings s = {rate, min_samples, window_ms, open_ms, probes};
    je_breaker b;
    je_breaker_init(&b, &s, T);
    return b;
}

static void record_n(je_breaker *b, int success, int n, int64_t now) {
    for (int i = 0; i < n; i++) je_breaker_record(b, success, now);
}

static void assert_window(je_breaker *b, int64_t ok, int64_t failed) {
    int64_t o = -1, f = -1;
    je_breaker_window(b, &o, &f);
    assert_int_equal(o, ok);
    assert_int_equal(f, failed);
}

static void assert_admits(je_breaker *b, int64_t now) {
    int64_t retry = 0;
    assert_int_equal(je_breaker_admit(b, now, &retry), 1);
}

/* Asserts a refusal at now and returns the retry time. */
static int64_t assert_refuses(je_breaker *b, int64_t now) {
    int64_t retry = 0;
    assert_int_equal(je_breaker_admit(b, now, &retry), 0);
    return retry;
}

/* Opens b (rate 0.5, min 2) at `at` with two failures. */
static void open_now(je_breaker *b, int64_t at) {
    record_n(b, 0, 2, at);
    assert_int_equal(b->state, JE_BREAKER_OPEN);
    assert_true(b->opened_ms == at);
}

static void test_init(void **state) {
    (void)state;
    je_breaker_settings s = je_breaker_defaults();
    je_breaker b;
    je_breaker_init(&b, &s, T + 1234); /* width 6 s: the bucket starts at T */
    assert_int_equal(b.state, JE_BREAKER_CLOSED);
    assert_int_equal(b.force, JE_BREAKER_AUTO);
    assert_true(b.opened_ms == INT64_MIN);
    assert_true(b.bucket_ms == T);
    assert_window(&b, 0, 0);
    assert_admits(&b, T + 1234);
    assert_int_equal(je_breaker_effective(&b), JE_BREAKER_CLOSED);
}

static void test_opens_at_threshold_not_below(void **state) {
    (void)state;
    je_breaker b = make(0.5, 4, 60000, 30000, 3);
    record_n(&b, 1, 3, T);
    record_n(&b, 0, 1, T); /* 1 of 4 */
    assert_int_equal(b.state, JE_BREAKER_CLOSED);
    record_n(&b, 0, 1, T + 1); /* 2 of 5 = 0.4 */
    assert_int_equal(b.state, JE_BREAKER_CLOSED);
    assert_admits(&b, T + 2);
    record_n(&b, 0, 1, T + 3); /* 3 of 6 = 0.5: exactly the threshold */
    assert_int_equal(b.state, JE_BREAKER_OPEN);
    assert_true(b.opened_ms == T + 3);
    assert_window(&b, 3, 3); /* kept for the view */
    assert_true(assert_refuses(&b, T + 4) == T + 3 + 30000);

    /* 0.55 * 100 rounds above 55 in doubles, while 55.0 / 100 is the double 0.55: 55 failures of
     * 100 are exactly the threshold and must open */
    je_breaker c = make(0.55, 100, 60000, 30000, 3);
    record_n(&c, 1, 45, T);
    record_n(&c, 0, 54, T); /* 54 of 99 */
    assert_int_equal(c.state, JE_BREAKER_CLOSED);
    record_n(&c, 0, 1, T); /* 55 of 100 */
    assert_int_equal(c.state, JE_BREAKER_OPEN);

    /* rate 1: only a window of failures opens it */
    je_breaker d = make(1.0, 3, 60000, 30000, 3);
    record_n(&d, 1, 1, T);
    record_n(&d, 0, 5, T);
    assert_int_equal(d.state, JE_BREAKER_CLOSED);
    je_breaker e = make(1.0, 3, 60000, 30000, 3);
    record_n(&e, 0, 3, T);
    assert_int_equal(e.state, JE_BREAKER_OPEN);
}

static void test_min_samples(void **state) {
    (void)state;
    je_breaker b = make(0.5, 20, 60000, 30000, 3);
    record_n(&b, 0, 19, T); /* every one failed, but too few */
    assert_int_equal(b.state, JE_BREAKER_CLOSED);
    assert_admits(&b, T);
    record_n(&b, 0, 1, T + 10);
    assert_int_equal(b.state, JE_BREAKER_OPEN);

    /* a success can be the outcome that brings the window to minSamples */
    je_breaker c = make(0.5, 4, 60000, 30000, 3);
    record_n(&c, 0, 2, T);
    record_n(&c, 1, 1, T);
    assert_int_equal(c.state, JE_BREAKER_CLOSED);
    record_n(&c, 1, 1, T); /* 2 of 4 */
    assert_int_equal(c.state, JE_BREAKER_OPEN);
}

static void test_window_slides(void **state) {
    (void)state;
    je_breaker b = make(0.5, 10, 60000, 30000, 3); /* buckets of 6 s */
    record_n(&b, 0, 3, T);
    record_n(&b, 1, 1, T + 5999); /* same bucket */
    assert_int_equal(b.ok[0], 1);
    assert_int_equal(b.failed[0], 3);
    record_n(&b, 1, 2, T + 6000); /* the next bucket: [0] is the newest */
    assert_true(b.bucket_ms == T + 6000);
    assert_int_equal(b.ok[0], 2);
    assert_int_equal(b.ok[1], 1);
    assert_int_equal(b.failed[1], 3);
    assert_window(&b, 3, 3);

    je_breaker_advance(&b, T + 59999); /* the first bucket is the oldest of ten */
    assert_window(&b, 3, 3);
    assert_int_equal(b.failed[9], 3);
    je_breaker_advance(&b, T + 60000); /* and now it has slid out */
    assert_window(&b, 2, 0);
    assert_true(b.bucket_ms == T + 60000);

    /* a clock that goes back counts into the newest bucket and moves nothing */
    record_n(&b, 1, 1, T + 1000);
    assert_true(b.bucket_ms == T + 60000);
    assert_int_equal(b.ok[0], 1);
    assert_window(&b, 3, 0);

    /* a jump beyond the window clears it all */
    je_breaker_advance(&b, T + 60000 + 10 * 60000);
    assert_window(&b, 0, 0);
    for (int i = 0; i < JE_BREAKER_BUCKETS; i++) {
        assert_int_equal(b.ok[i], 0);
        assert_int_equal(b.failed[i], 0);
    }
}

static void test_old_failures_age_out(void **state) {
    (void)state;
    je_breaker b = make(0.5, 4, 60000, 30000, 3);
    record_n(&b, 0, 3, T); /* too few to open */
    record_n(&b, 0, 1, T + 60000);
    record_n(&b, 1, 1, T + 60000);
    /* 1 failure of 2: closed; had the first three still counted (4 of 5), it would be open */
    assert_window(&b, 1, 1);
    assert_int_equal(b.state, JE_BREAKER_CLOSED);
    /* the same outcomes inside one window open it */
    je_breaker c = make(0.5, 4, 60000, 30000, 3);
    record_n(&c, 0, 3, T);
    record_n(&c, 0, 1, T + 59999);
    assert_int_equal(c.state, JE_BREAKER_OPEN);
}

static void test_open_to_half_open(void **state) {
    (void)state;
    je_breaker b = make(0.5, 2, 60000, 30000, 3);
    open_now(&b, T + 100);
    assert_true(assert_refuses(&b, T + 100) == T + 30100);
    assert_true(assert_refuses(&b, T + 30099) == T + 30100);
    assert_int_equal(b.state, JE_BREAKER_OPEN);
    assert_int_equal(je_breaker_effective(&b), JE_BREAKER_OPEN);
    /* a job leased before it opened completes: only the window sees it */
    record_n(&b, 1, 1, T + 20000);
    assert_int_equal(b.state, JE_BREAKER_OPEN);
    assert_window(&b, 1, 2);
    assert_admits(&b, T + 30100); /* lazily half-open, and that was a probe */
    assert_int_equal(b.state, JE_BREAKER_HALF_OPEN);
    assert_int_equal(b.probes_admitted, 1);
    assert_int_equal(b.probes_ok, 0);

    /* advance alone also turns it */
    je_breaker c = make(0.5, 2, 60000, 30000, 3);
    open_now(&c, T);
    je_breaker_advance(&c, T + 30000);
    assert_int_equal(c.state, JE_BREAKER_HALF_OPEN);
    assert_int_equal(je_breaker_effective(&c), JE_BREAKER_HALF_OPEN);
}

static void test_probes_limited(void **state) {
    (void)state;
    je_breaker b = make(0.5, 2, 60000, 30000, 3);
    open_now(&b, T);
    assert_admits(&b, T + 30000);
    assert_admits(&b, T + 30001);
    assert_admits(&b, T + 30002);
    assert_true(assert_refuses(&b, T + 30003) == INT64_MIN); /* until the probes end */
    assert_int_equal(b.probes_admitted, 3);
    record_n(&b, 1, 2, T + 31000);
    assert_int_equal(b.state, JE_BREAKER_HALF_OPEN);
    assert_true(assert_refuses(&b, T + 31000) == INT64_MIN);
}

static void test_probes_succeed_close(void **state) {
    (void)state;
    je_breaker b = make(0.5, 2, 60000, 30000, 3);
    open_now(&b, T);
    for (int i = 0; i < 3; i++) assert_admits(&b, T + 30000);
    record_n(&b, 1, 1, T + 30500);
    record_n(&b, 1, 1, T + 30600);
    assert_int_equal(b.state, JE_BREAKER_HALF_OPEN);
    assert_int_equal(b.probes_ok, 2);
    record_n(&b, 1, 1, T + 30700);
    assert_int_equal(b.state, JE_BREAKER_CLOSED);
    assert_window(&b, 0, 0); /* the two failures that opened it are gone */
    assert_int_equal(b.probes_admitted, 0);
    assert_int_equal(b.probes_ok, 0);
    assert_admits(&b, T + 30800);
    /* an empty window: one failure alone does not reopen it */
    record_n(&b, 0, 1, T + 30900);
    assert_int_equal(b.state, JE_BREAKER_CLOSED);
}

static void test_probe_fails_reopens(void **state) {
    (void)state;
    je_breaker b = make(0.5, 2, 60000, 30000, 3);
    open_now(&b, T);
    for (int i = 0; i < 3; i++) assert_admits(&b, T + 30000);
    record_n(&b, 1, 2, T + 30500);
    record_n(&b, 0, 1, T + 31000); /* the last probe fails */
    assert_int_equal(b.state, JE_BREAKER_OPEN);
    assert_true(b.opened_ms == T + 31000);
    assert_int_equal(b.probes_admitted, 0);
    assert_int_equal(b.probes_ok, 0);
    assert_true(assert_refuses(&b, T + 31000) == T + 61000);
    assert_true(assert_refuses(&b, T + 60999) == T + 61000);
    assert_admits(&b, T + 61000); /* a fresh half-open with all its probes */
    assert_admits(&b, T + 61000);
    assert_admits(&b, T + 61000);
    assert_int_equal(b.probes_ok, 0);
}

static void test_late_record_counts_as_probe(void **state) {
    (void)state;
    /* a job leased before the breaker opened completes while half-open: it counts */
    je_breaker b = make(0.5, 2, 60000, 30000, 1);
    open_now(&b, T);
    je_breaker_advance(&b, T + 30000);
    record_n(&b, 1, 1, T + 30001);
    assert_int_equal(b.state, JE_BREAKER_CLOSED);
    je_breaker c = make(0.5, 2, 60000, 30000, 1);
    open_now(&c, T);
    je_breaker_advance(&c, T + 30000);
    record_n(&c, 0, 1, T + 30001);
    assert_int_equal(c.state, JE_BREAKER_OPEN);
    assert_true(c.opened_ms == T + 30001);
}

static void test_unadmit(void **state) {
    (void)state;
    je_breaker b = make(0.5, 2, 60000, 30000, 2);
    open_now(&b, T);
    assert_admits(&b, T + 30000);
    assert_admits(&b, T + 30000);
    assert_true(assert_refuses(&b, T + 30000) == INT64_MIN);
    je_breaker_unadmit(&b); /* one probe's job went away */
    assert_int_equal(b.probes_admitted, 1);
    assert_admits(&b, T + 30001);
    assert_true(assert_refuses(&b, T + 30001) == INT64_MIN);
    /* never below zero, and a no-op while closed */
    je_breaker c = make(0.5, 2, 60000, 30000, 2);
    open_now(&c, T);
    je_breaker_advance(&c, T + 30000);
    je_breaker_unadmit(&c);
    assert_int_equal(c.probes_admitted, 0);
    je_breaker d = make(0.5, 2, 60000, 30000, 2);
    assert_admits(&d, T);
    je_breaker_unadmit(&d);
    assert_int_equal(d.probes_admitted, 0);
    assert_int_equal(d.state, JE_BREAKER_CLOSED);
}

static void test_forced_open(void **state) {
    (void)state;
    je_breaker b = make(0.5, 2, 60000, 30000, 3);
    je_breaker_set_force(&b, JE_BREAKER_FORCED_OPEN, T);
    assert_int_equal(je_breaker_effective(&b), JE_BREAKER_OPEN);
    assert_true(assert_refuses(&b, T) == INT64_MIN);
    assert_true(assert_refuses(&b, T + 86400000) == INT64_MIN); /* time alone never lets go */
    /* outcomes still counted, no transitions */
    record_n(&b, 0, 5, T + 86400000);
    assert_window(&b, 0, 5);
    assert_int_equal(b.state, JE_BREAKER_CLOSED);
    assert_true(b.opened_ms == INT64_MIN);

    /* forced open over an automatically open breaker: no half-open while forced */
    je_breaker c = make(0.5, 2, 60000, 30000, 3);
    open_now(&c, T);
    je_breaker_set_force(&c, JE_BREAKER_FORCED_OPEN, T + 1);
    assert_true(assert_refuses(&c, T + 40000) == INT64_MIN);
    assert_int_equal(c.state, JE_BREAKER_OPEN);
    /* released: closed with an empty window */
    je_breaker_set_force(&c, JE_BREAKER_AUTO, T + 40000);
    assert_int_equal(c.force, JE_BREAKER_AUTO);
    assert_int_equal(c.state, JE_BREAKER_CLOSED);
    assert_int_equal(je_breaker_effective(&c), JE_BREAKER_CLOSED);
    assert_window(&c, 0, 0);
    assert_admits(&c, T + 40000);
}

static void test_forced_closed(void **state) {
    (void)state;
    je_breaker b = make(0.5, 2, 60000, 30000, 1);
    open_now(&b, T);
    je_breaker_set_force(&b, JE_BREAKER_FORCED_CLOSED, T + 1);
    assert_int_equal(je_breaker_effective(&b), JE_BREAKER_CLOSED);
    for (int i = 0; i < 5; i++) assert_admits(&b, T + 2);     /* open underneath: still admits */
    for (int i = 0; i < 5; i++) assert_admits(&b, T + 40000); /* no probes counted */
    assert_int_equal(b.probes_admitted, 0);
    assert_int_equal(b.state, JE_BREAKER_OPEN);
    record_n(&b, 0, 10, T + 40000); /* failures counted, nothing opens or reopens */
    record_n(&b, 1, 1, T + 40000);
    assert_window(&b, 1, 12);
    assert_true(b.opened_ms == T);
    assert_int_equal(b.probes_ok, 0);

    je_breaker c = make(0.5, 2, 60000, 30000, 1);
    je_breaker_set_force(&c, JE_BREAKER_FORCED_CLOSED, T);
    record_n(&c, 0, 10, T);
    assert_int_equal(c.state, JE_BREAKER_CLOSED);
    assert_admits(&c, T);
    /* from forced closed to forced open and back to auto */
    je_breaker_set_force(&c, JE_BREAKER_FORCED_OPEN, T + 1);
    assert_true(assert_refuses(&c, T + 1) == INT64_MIN);
    je_breaker_set_force(&c, JE_BREAKER_AUTO, T + 2);
    assert_window(&c, 0, 0);
    assert_admits(&c, T + 2);
    /* released, it follows its outcomes again */
    record_n(&c, 0, 2, T + 3);
    assert_int_equal(c.state, JE_BREAKER_OPEN);
    /* releasing an AUTO breaker resets it */
    je_breaker_set_force(&c, JE_BREAKER_AUTO, T + 4);
    assert_int_equal(c.state, JE_BREAKER_CLOSED);
    assert_window(&c, 0, 0);
}

static void test_smallest_window(void **state) {
    (void)state;
    /* 10 s: buckets of 1 s */
    je_breaker b = make(0.5, 1, 10000, 1000, 1);
    record_n(&b, 1, 1, T + 999);
    je_breaker_advance(&b, T + 9999);
    assert_window(&b, 1, 0);
    je_breaker_advance(&b, T + 10000);
    assert_window(&b, 0, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init),
        cmocka_unit_test(test_opens_at_threshold_not_below),
        cmocka_unit_test(test_min_samples),
        cmocka_unit_test(test_window_slides),
        cmocka_unit_test(test_old_failures_age_out),
        cmocka_unit_test(test_open_to_half_open),
        cmocka_unit_test(test_probes_limited),
        cmocka_unit_test(test_probes_succeed_close),
        cmocka_unit_test(test_probe_fails_reopens),
        cmocka_unit_test(test_late_record_counts_as_probe),
        cmocka_unit_test(test_unadmit),
        cmocka_unit_test(test_forced_open),
        cmocka_unit_test(test_forced_closed),
        cmocka_unit_test(test_smallest_window),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
