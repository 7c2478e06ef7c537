/* tests/unit/test_jobs_core.c: the store-free rules of jobs (core/jobs.h; api.md §3.4,
 * domain.md §2): retry backoff (2 s doubling, at most 5 min), the backfill lane's share of a
 * quota (ceil of maxActive * share), leasing order (live before backfill, higher priority,
 * older createdAt, then job id) and the status names. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/jobs.h"

/* ---- backoff ---------------------------------------------------------------------------- */

static void test_backoff_doubles(void **state) {
    (void)state;
    assert_int_equal(JE_BACKOFF_FIRST_MS, 2000);
    assert_int_equal(JE_BACKOFF_MAX_MS, 300000);
    int64_t want = 2000;
    for (int64_t f = 1; f <= 8; f++, want *= 2) assert_int_equal(je_job_backoff_ms(f), want);
    assert_int_equal(je_job_backoff_ms(1), 2000);
    assert_int_equal(je_job_backoff_ms(2), 4000);
    assert_int_equal(je_job_backoff_ms(3), 8000);
    assert_int_equal(je_job_backoff_ms(4), 16000);
    assert_int_equal(je_job_backoff_ms(8), 256000); /* the last one under the cap */
}

static void test_backoff_capped(void **state) {
    (void)state;
    assert_int_equal(je_job_backoff_ms(9), 300000); /* 512000 would be over 5 min */
    assert_int_equal(je_job_backoff_ms(10), 300000);
    assert_int_equal(je_job_backoff_ms(63), 300000);
    assert_int_equal(je_job_backoff_ms(64), 300000);
    assert_int_equal(je_job_backoff_ms(1000), 300000);
    assert_int_equal(je_job_backoff_ms(INT32_MAX), 300000);
    assert_int_equal(je_job_backoff_ms(INT64_MAX), 300000); /* no overflow, no endless loop */
    for (int64_t f = 1; f < 200; f++) {
        int64_t ms = je_job_backoff_ms(f);
        assert_true(ms >= 2000 && ms <= 300000);
        assert_true(ms >= je_job_backoff_ms(f - 1)); /* never shrinks */
    }
}

static void test_backoff_no_failures(void **state) {
    (void)state;
    assert_int_equal(je_job_backoff_ms(0), 0);
    assert_int_equal(je_job_backoff_ms(-1), 0);
    assert_int_equal(je_job_backoff_ms(-1000), 0);
    assert_int_equal(je_job_backoff_ms(INT64_MIN), 0);
}

/* ---- backfill share --------------------------------------------------------------------- */

static void test_backfill_slots_ceil(void **state) {
    (void)state;
    assert_int_equal(je_backfill_slots(10, 0.5), 5);
    assert_int_equal(je_backfill_slots(3, 0.5), 2); /* 1.5 rounds up */
    assert_int_equal(je_backfill_slots(1, 0.5), 1); /* 0.5 rounds up: one slot */
    assert_int_equal(je_backfill_slots(4, 0.5), 2);
    assert_int_equal(je_backfill_slots(7, 0.3), 3); /* 2.1 */
    assert_int_equal(je_backfill_slots(1, 0.001), 1);
    assert_int_equal(je_backfill_slots(9, 0.25), 3); /* 2.25 */
    assert_int_equal(je_backfill_slots(8, 0.25), 2);
    assert_int_equal(je_backfill_slots(1000000, 0.5), 500000);
}

/* Products a hair above an integer in binary (100 * 0.07 = 7.000000000000001) are that integer. */
static void test_backfill_slots_float_noise(void **state) {
    (void)state;
    volatile double share = 0.07, share2 = 0.14;
    assert_true(100 * share > 7.0); /* the premises */
    assert_true(100 * share2 > 14.0);
    assert_int_equal(je_backfill_slots(100, 0.14), 14);
    assert_int_equal(je_backfill_slots(10, 0.3), 3);
    assert_int_equal(je_backfill_slots(10, 0.1), 1);
    assert_int_equal(je_backfill_slots(3, 0.1), 1); /* 0.30000000000000004: a real fraction */
    assert_int_equal(je_backfill_slots(100, 0.07), 7);
    assert_int_equal(je_backfill_slots(20, 0.15), 3);
    assert_int_equal(je_backfill_slots(100, 0.29), 29);
}

static void test_backfill_slots_edges(void **state) {
    (void)state;
    assert_int_equal(je_backfill_slots(10, 0), 0);
    assert_int_equal(je_backfill_slots(10, 0.0), 0);
    assert_int_equal(je_backfill_slots(10, -0.5), 0);
    assert_int_equal(je_backfill_slots(10, NAN), 0);
    assert_int_equal(je_backfill_slots(10, 1), 10);
    assert_int_equal(je_backfill_slots(10, 1.0), 10);
    assert_int_equal(je_backfill_slots(10, 1.5), 10); /* never more than the quota */
    assert_int_equal(je_backfill_slots(10, INFINITY), 10);
    assert_int_equal(je_backfill_slots(1, 1), 1);
    assert_int_equal(je_backfill_slots(0, 0.5), 0);
    assert_int_equal(je_backfill_slots(0, 1), 0);
    assert_int_equal(je_backfill_slots(-3, 0.5), 0);
    for (int64_t m = 1; m <= 64; m++)
        for (int k = 1; k <= 20; k++) {
            double share = k / 20.0;
            int64_t n = je_backfill_slots(m, share);
            assert_true(n >= 1 && n <= m);
            assert_true((double)n >= (double)m * share - 1e-9); /* at least the share */
            assert_true((double)(n - 1) < (double)m * share);   /* and not one slot more */
        }
}

/* ---- leasing order ---------------------------------------------------------------------- */

static je_job_order ord(int lane, int64_t priority, int64_t created, const char *id) {
    je_job_order o = {lane, priority, created, id};
    return o;
}

/* a strictly before b, and the reverse answers the other way. */
static void assert_before(je_job_order a, je_job_order b) {
    assert_true(je_job_order_cmp(&a, &b) < 0);
    assert_true(je_job_order_cmp(&b, &a) > 0);
}

static void test_order_lane_first(void **state) {
    (void)state;
    assert_int_equal(JE_LANE_LIVE, 0);
    assert_int_equal(JE_LANE_BACKFILL, 1);
    /* live before backfill whatever the rest says */
    assert_before(ord(JE_LANE_LIVE, -1000, 9000, "z"), ord(JE_LANE_BACKFILL, 1000, 1000, "a"));
    assert_before(ord(JE_LANE_LIVE, 0, 5000, "b"), ord(JE_LANE_BACKFILL, 0, 1000, "a"));
}

static void test_order_priority_desc(void **state) {
    (void)state;
    assert_before(ord(0, 10, 9000, "z"), ord(0, 5, 1000, "a"));
    assert_before(ord(0, 0, 9000, "z"), ord(0, -1, 1000, "a"));
    assert_before(ord(0, 1000, 1, "m"), ord(0, -1000, 1, "m"));
    assert_before(ord(1, 3, 9000, "z"), ord(1, 2, 1000, "a"));           /* within backfill too */
    assert_before(ord(0, INT64_MAX, 0, "a"), ord(0, INT64_MIN, 0, "a")); /* no subtraction */
}

static void test_order_created_asc(void **state) {
    (void)state;
    assert_before(ord(0, 5, 1000, "z"), ord(0, 5, 1001, "a"));
    assert_before(ord(1, -3, -5, "z"), ord(1, -3, 7, "a"));
    assert_before(ord(0, 0, INT64_MIN, "z"), ord(0, 0, INT64_MAX, "a"));
}

static void test_order_job_id_last(void **state) {
    (void)state;
    assert_before(ord(0, 5, 1000, "0190a"), ord(0, 5, 1000, "0190b"));
    assert_before(ord(0, 5, 1000, "a"), ord(0, 5, 1000, "ab"));
    je_job_order a = ord(0, 5, 1000, "same"), b = ord(0, 5, 1000, "same");
    assert_int_equal(je_job_order_cmp(&a, &b), 0);
    assert_int_equal(je_job_order_cmp(&a, &a), 0);
    /* a missing id sorts as "" */
    je_job_order n1 = ord(0, 5, 1000, NULL), n2 = ord(0, 5, 1000, NULL), e = ord(0, 5, 1000, "");
    assert_int_equal(je_job_order_cmp(&n1, &n2), 0);
    assert_int_equal(je_job_order_cmp(&n1, &e), 0);
    assert_before(n1, ord(0, 5, 1000, "a"));
}

static int qsort_cmp(const void *a, const void *b) {
    return je_job_order_cmp(a, b);
}

/* Sorting a shuffled set gives the documented order. */
static void test_order_sorts(void **state) {
    (void)state;
    je_job_order want[] = {
        ord(0, 10, 500, "c"), ord(0, 10, 900, "a"), ord(0, 10, 900, "b"), ord(0, 0, 100, "d"),
        ord(0, -5, 50, "e"),  ord(1, 50, 10, "f"),  ord(1, 50, 20, "g"),  ord(1, -1, 1, "h"),
    };
    enum { N = sizeof want / sizeof want[0] };
    static const int perm[N] = {7, 3, 5, 0, 6, 2, 4, 1};
    je_job_order got[N];
    for (int i = 0; i < N; i++) got[i] = want[perm[i]];
    qsort(got, N, sizeof got[0], qsort_cmp);
    for (int i = 0; i < N; i++) assert_string_equal(got[i].job_id, want[i].job_id);
}

/* ---- statuses --------------------------------------------------------------------------- */

static void test_status_names(void **state) {
    (void)state;
    static const char *const names[] = {"pending", "leased", "succeeded", "failed", "canceled"};
    assert_int_equal(JE_JOB_STATUS_COUNT, 5);
    assert_int_equal(JE_JOB_PENDING, 0); /* stored as integers: the values are fixed */
    assert_int_equal(JE_JOB_LEASED, 1);
    assert_int_equal(JE_JOB_SUCCEEDED, 2);
    assert_int_equal(JE_JOB_FAILED, 3);
    assert_int_equal(JE_JOB_CANCELED, 4);
    for (int i = 0; i < JE_JOB_STATUS_COUNT; i++) {
        assert_string_equal(je_job_status_name((je_job_status)i), names[i]);
        assert_int_equal(je_job_status_parse(names[i]), i);
        assert_int_equal(je_job_status_parse(je_job_status_name((je_job_status)i)), i);
    }
}

static void test_status_unknown(void **state) {
    (void)state;
    assert_null(je_job_status_name(JE_JOB_STATUS_COUNT));
    assert_null(je_job_status_name((je_job_status)99));
    assert_null(je_job_status_name((je_job_status)-1));
    assert_int_equal(je_job_status_parse("running"), -1);
    assert_int_equal(je_job_status_parse(""), -1);
    assert_int_equal(je_job_status_parse(NULL), -1);
    assert_int_equal(je_job_status_parse("Pending"), -1); /* case matters */
    assert_int_equal(je_job_status_parse("pending "), -1);
    assert_int_equal(je_job_status_parse("pend"), -1);
    assert_int_equal(je_job_status_parse("cancelled"), -1); /* the spelling is "canceled" */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backoff_doubles),
        cmocka_unit_test(test_backoff_capped),
        cmocka_unit_test(test_backoff_no_failures),
        cmocka_unit_test(test_backfill_slots_ceil),
        cmocka_unit_test(test_backfill_slots_float_noise),
        cmocka_unit_test(test_backfill_slots_edges),
        cmocka_unit_test(test_order_lane_first),
        cmocka_unit_test(test_order_priority_desc),
        cmocka_unit_test(test_order_created_asc),
        cmocka_unit_test(test_order_job_id_last),
        cmocka_unit_test(test_order_sorts),
        cmocka_unit_test(test_status_names),
        cmocka_unit_test(test_status_unknown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
