/* tests/unit/test_jobs_core.c: the store-free rules of jobs (core/jobs.h; api.md §3.4,
 * domain.md §2): retry backoff (2 s doubling, at most 5 min), the backfill lane's share of a
 * quota (ceil of maxActive * share), leasing order (live before backfill, higher priority,
 * older createdAt, then job id), the status names, and the life of a lease (lease, heartbeat,
 * expiry, finish with retry and backoff). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/jobs.h"
#include "core/quota.h" /* JE_NO_TIME */

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

/* ---- the life of a lease ---------------------------------------------------------------- */

#define NOW 1795860000000LL /* 2026-11-28T10:00:00.000Z */

/* A pending job as submitted at NOW - 60 s: never leased, nothing failed yet. */
static je_job pending_job(int64_t max_attempts) {
    je_job j;
    memset(&j, 0, sizeof j);
    strcpy(j.job_id, "0190a000-0000-7000-8000-000000000001");
    strcpy(j.tenant_id, "acme");
    strcpy(j.job_type, "scan");
    j.status = JE_JOB_PENDING;
    j.lane = JE_LANE_LIVE;
    j.event_time_ms = JE_NO_TIME;
    j.max_attempts = max_attempts;
    j.created_ms = j.updated_ms = j.available_ms = NOW - 60000;
    j.completed_ms = JE_NO_TIME;
    j.lease_until_ms = j.lease_ms = JE_NO_TIME;
    return j;
}

/* No lease is left on j: ids "" and both times JE_NO_TIME. */
static void assert_lease_cleared(const je_job *j) {
    assert_string_equal(j->lease_id, "");
    assert_string_equal(j->worker_id, "");
    assert_string_equal(j->quota_id, "");
    assert_true(j->lease_until_ms == JE_NO_TIME);
    assert_true(j->lease_ms == JE_NO_TIME);
}

static void test_lease_sets_the_lease(void **state) {
    (void)state;
    je_job j = pending_job(3);
    je_job_lease(&j, "lease-1", "worker-a", "quota-1", 30000, NOW);
    assert_int_equal(j.status, JE_JOB_LEASED);
    assert_string_equal(j.lease_id, "lease-1");
    assert_string_equal(j.worker_id, "worker-a");
    assert_string_equal(j.quota_id, "quota-1");
    assert_true(j.lease_ms == 30000);
    assert_true(j.lease_until_ms == NOW + 30000);
    assert_true(j.attempt == 1); /* attempt counts leases granted */
    assert_true(j.failures == 0);
    assert_true(j.updated_ms == NOW);
    assert_true(j.completed_ms == JE_NO_TIME);
    assert_true(j.created_ms == NOW - 60000);
    /* no quota: "" whether given as "" or NULL */
    je_job k = pending_job(3);
    je_job_lease(&k, "lease-2", "worker-b", NULL, 1000, NOW);
    assert_string_equal(k.quota_id, "");
    je_job m = pending_job(3);
    je_job_lease(&m, "lease-3", "worker-b", "", 1000, NOW);
    assert_string_equal(m.quota_id, "");
}

static void test_lease_live(void **state) {
    (void)state;
    je_job j = pending_job(3);
    assert_false(je_job_lease_live(&j, NULL, NOW)); /* pending: no lease at all */
    je_job_lease(&j, "lease-1", "worker-a", "quota-1", 30000, NOW);
    assert_true(je_job_lease_live(&j, "lease-1", NOW));
    assert_true(je_job_lease_live(&j, NULL, NOW)); /* NULL: any lease id */
    assert_true(je_job_lease_live(&j, "lease-1", NOW + 29999));
    assert_false(je_job_lease_live(&j, "lease-1", NOW + 30000)); /* until is exclusive */
    assert_false(je_job_lease_live(&j, NULL, NOW + 30000));
    assert_false(je_job_lease_live(&j, "lease-2", NOW)); /* another lease */
    assert_false(je_job_lease_live(&j, "", NOW));
    assert_false(je_job_lease_live(&j, "lease-", NOW));
    /* a finished job is not leased, whatever its times say */
    je_job done = j;
    done.status = JE_JOB_SUCCEEDED;
    assert_false(je_job_lease_live(&done, "lease-1", NOW));
    done.status = JE_JOB_CANCELED;
    assert_false(je_job_lease_live(&done, NULL, NOW));
}

static void test_heartbeat_extends(void **state) {
    (void)state;
    je_job j = pending_job(3);
    je_job_lease(&j, "lease-1", "worker-a", "quota-1", 30000, NOW);
    je_job_heartbeat(&j, 90000, NOW + 20000);
    assert_int_equal(j.status, JE_JOB_LEASED);
    assert_true(j.lease_until_ms == NOW + 20000 + 90000);
    assert_true(j.lease_ms == 90000);
    assert_true(j.updated_ms == NOW + 20000);
    assert_string_equal(j.lease_id, "lease-1"); /* the same lease goes on */
    assert_string_equal(j.worker_id, "worker-a");
    assert_string_equal(j.quota_id, "quota-1");
    assert_true(j.attempt == 1); /* not a new attempt */
    assert_true(je_job_lease_live(&j, "lease-1", NOW + 109999));
    assert_false(je_job_lease_live(&j, "lease-1", NOW + 110000));
    /* a shorter extension shortens it: now + extend, not old until + extend */
    je_job_heartbeat(&j, 1000, NOW + 21000);
    assert_true(j.lease_until_ms == NOW + 22000);
    assert_true(j.lease_ms == 1000);
}

static void test_lease_expire_is_not_a_failure(void **state) {
    (void)state;
    je_job j = pending_job(1);
    je_job_lease(&j, "lease-1", "worker-a", "quota-1", 30000, NOW);
    je_job_lease_expire(&j, NOW + 31000);
    assert_int_equal(j.status, JE_JOB_PENDING);
    assert_true(j.available_ms == NOW + 31000); /* at once */
    assert_true(j.updated_ms == NOW + 31000);
    assert_true(j.failures == 0);
    assert_true(j.attempt == 1);
    assert_true(j.completed_ms == JE_NO_TIME);
    assert_lease_cleared(&j);
    assert_false(je_job_lease_live(&j, NULL, NOW + 31000));
    /* maxAttempts 1 and an expiry behind it: the next lease still gets its one failure */
    je_job_lease(&j, "lease-2", "worker-b", NULL, 30000, NOW + 32000);
    assert_true(j.attempt == 2);
    je_job_finish(&j, 0, "boom", NOW + 33000);
    assert_int_equal(j.status, JE_JOB_FAILED);
    assert_true(j.failures == 1);
    assert_true(j.attempt == 2);
}

static void test_finish_success(void **state) {
    (void)state;
    je_job j = pending_job(3);
    je_job_lease(&j, "lease-1", "worker-a", "quota-1", 30000, NOW);
    je_job_finish(&j, 1, "ignored", NOW + 5000);
    assert_int_equal(j.status, JE_JOB_SUCCEEDED);
    assert_true(j.completed_ms == NOW + 5000);
    assert_true(j.updated_ms == NOW + 5000);
    assert_string_equal(j.error, ""); /* an error is kept only for a failure */
    assert_true(j.failures == 0);
    assert_true(j.attempt == 1);
    assert_lease_cleared(&j);
    assert_false(je_job_lease_live(&j, NULL, NOW + 5000));
}

/* maxAttempts 3: two failures retry after 2 s then 4 s, the third is final. */
static void test_finish_retries_then_fails(void **state) {
    (void)state;
    je_job j = pending_job(3);
    je_job_lease(&j, "l1", "w", "q", 30000, NOW);
    je_job_finish(&j, 0, "first", NOW + 1000);
    assert_int_equal(j.status, JE_JOB_PENDING);
    assert_true(j.failures == 1);
    assert_true(j.available_ms == NOW + 1000 + 2000);
    assert_true(j.completed_ms == JE_NO_TIME); /* still pending: not completed */
    assert_string_equal(j.error, "first");
    assert_true(j.updated_ms == NOW + 1000);
    assert_lease_cleared(&j);

    je_job_lease(&j, "l2", "w", "q", 30000, NOW + 3000);
    je_job_finish(&j, 0, "second", NOW + 4000);
    assert_int_equal(j.status, JE_JOB_PENDING);
    assert_true(j.failures == 2);
    assert_true(j.available_ms == NOW + 4000 + 4000);
    assert_true(j.completed_ms == JE_NO_TIME);
    assert_string_equal(j.error, "second");

    je_job_lease(&j, "l3", "w", "q", 30000, NOW + 8000);
    je_job_finish(&j, 0, "third", NOW + 9000);
    assert_int_equal(j.status, JE_JOB_FAILED);
    assert_true(j.failures == 3);
    assert_true(j.attempt == 3);
    assert_true(j.completed_ms == NOW + 9000);
    assert_true(j.updated_ms == NOW + 9000);
    assert_string_equal(j.error, "third");
    assert_lease_cleared(&j);
}

static void test_finish_max_attempts_one(void **state) {
    (void)state;
    je_job j = pending_job(1);
    je_job_lease(&j, "l1", "w", NULL, 30000, NOW);
    je_job_finish(&j, 0, "bad input", NOW + 10);
    assert_int_equal(j.status, JE_JOB_FAILED); /* no retry */
    assert_true(j.failures == 1);
    assert_true(j.completed_ms == NOW + 10);
    assert_string_equal(j.error, "bad input");
    assert_lease_cleared(&j);
}

/* Failures past the cap (maxAttempts lowered since) stay final; a late failure retries with the
 * backoff of its failure count, capped at 5 min. */
static void test_finish_at_and_past_the_cap(void **state) {
    (void)state;
    je_job j = pending_job(2);
    j.failures = 5;
    je_job_lease(&j, "l", "w", NULL, 1000, NOW);
    je_job_finish(&j, 0, "again", NOW + 1);
    assert_int_equal(j.status, JE_JOB_FAILED);
    assert_true(j.failures == 6);
    assert_true(j.completed_ms == NOW + 1);

    je_job k = pending_job(20);
    k.failures = 9; /* this is the 10th failure: 2 s * 2^9 > 5 min */
    je_job_lease(&k, "l", "w", NULL, 1000, NOW);
    je_job_finish(&k, 0, "x", NOW + 1);
    assert_int_equal(k.status, JE_JOB_PENDING);
    assert_true(k.failures == 10);
    assert_true(k.available_ms == NOW + 1 + 300000);

    je_job m = pending_job(20);
    m.failures = 7; /* the 8th failure: 256 s, the last one under the cap */
    je_job_lease(&m, "l", "w", NULL, 1000, NOW);
    je_job_finish(&m, 0, "x", NOW);
    assert_true(m.available_ms == NOW + 256000);
}

static void test_finish_error_text(void **state) {
    (void)state;
    /* a failure without an error keeps none */
    je_job j = pending_job(3);
    je_job_lease(&j, "l", "w", NULL, 1000, NOW);
    je_job_finish(&j, 0, NULL, NOW);
    assert_string_equal(j.error, "");
    /* a retry that then succeeds drops the failure's error */
    je_job_lease(&j, "l2", "w", NULL, 1000, NOW + 2000);
    je_job_finish(&j, 0, "flaky", NOW + 2001);
    assert_string_equal(j.error, "flaky");
    je_job_lease(&j, "l3", "w", NULL, 1000, NOW + 7000);
    je_job_finish(&j, 1, NULL, NOW + 7001);
    assert_int_equal(j.status, JE_JOB_SUCCEEDED);
    assert_string_equal(j.error, "");
    assert_true(j.completed_ms == NOW + 7001);
    /* at most 2048 bytes are kept */
    static char big[JE_JOB_ERROR_MAX + 100];
    memset(big, 'e', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    je_job k = pending_job(1);
    je_job_lease(&k, "l", "w", NULL, 1000, NOW);
    je_job_finish(&k, 0, big, NOW);
    assert_int_equal(strlen(k.error), 2048);
    assert_int_equal(k.error[0], 'e');
    assert_int_equal(k.error[2047], 'e');
}

static void test_job_free(void **state) {
    (void)state;
    je_job j = pending_job(3);
    j.payload = strdup("{\"a\":1}");
    assert_non_null(j.payload);
    je_job_free(&j);
    assert_null(j.payload);
    je_job_free(&j); /* twice is harmless */
    assert_null(j.payload);
    je_job_free(NULL);
    assert_string_equal(j.job_id, "0190a000-0000-7000-8000-000000000001"); /* the rest stays */
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
        cmocka_unit_test(test_lease_sets_the_lease),
        cmocka_unit_test(test_lease_live),
        cmocka_unit_test(test_heartbeat_extends),
        cmocka_unit_test(test_lease_expire_is_not_a_failure),
        cmocka_unit_test(test_finish_success),
        cmocka_unit_test(test_finish_retries_then_fails),
        cmocka_unit_test(test_finish_max_attempts_one),
        cmocka_unit_test(test_finish_at_and_past_the_cap),
        cmocka_unit_test(test_finish_error_text),
        cmocka_unit_test(test_job_free),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
