/* tests/unit/test_quota.c: the quota rules (domain.md §2, api.md §3.3) with an injected clock
 * (plain int64 ms values, no sleeps, no timing assertions): refill, hour windows, decisions and
 * nextEligibleAt, release, limit changes, ceilings, decrease safety, elevation, and the
 * exponent-free decimal form of numbers (domain.md §6). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/quota.h"

/* 2026-11-28T10:00:00.000Z by hand: 2026-01-01 is 56 * 365 + 14 leap days (1972..2024)
 * = 20454 days after the epoch; Jan..Oct 2026 add 304 days and Nov 1..27 add 27: 20785 days
 * = 1795824000000 ms; + 10 h (36000000 ms) = 1795860000000. */
#define T10 1795860000000LL
#define T09 (T10 - JE_HOUR_MS) /* 2026-11-28T09:00:00.000Z */

static je_quota_limits lim(int64_t max_active, int64_t per_hour, int64_t burst, double refill) {
    je_quota_limits l = {max_active, per_hour, burst, refill};
    return l;
}

static je_quota make(int64_t max_active, int64_t per_hour, int64_t burst, double refill,
                     int64_t now) {
    je_quota q;
    je_quota_limits l = lim(max_active, per_hour, burst, refill);
    je_quota_init(&q, &l, now);
    return q;
}

static void assert_granted(je_quota *q, int64_t now) {
    je_decision d = je_quota_decide(q, now, JE_NO_TIME);
    assert_int_equal(d.kind, JE_DECISION_GRANT);
    assert_true(d.next_eligible_ms == JE_NO_TIME);
}

/* Asserts a denial at now (no lease expiry known) and returns nextEligibleAt. */
static int64_t assert_exhausted(je_quota *q, int64_t now) {
    je_decision d = je_quota_decide(q, now, JE_NO_TIME);
    assert_int_equal(d.kind, JE_DECISION_EXHAUSTED);
    assert_true(d.next_eligible_ms != JE_NO_TIME);
    return d.next_eligible_ms;
}

static void test_hour_floor(void **state) {
    (void)state;
    assert_true(je_hour_floor(0) == 0);
    assert_true(je_hour_floor(1) == 0);
    assert_true(je_hour_floor(JE_HOUR_MS - 1) == 0);
    assert_true(je_hour_floor(JE_HOUR_MS) == JE_HOUR_MS);
    assert_true(je_hour_floor(T10 - 1) == T09);
    assert_true(je_hour_floor(T10) == T10);
    assert_true(je_hour_floor(T10 + 1234567) == T10);
    assert_true(je_hour_floor(-1) == -JE_HOUR_MS);
    assert_true(je_hour_floor(-JE_HOUR_MS) == -JE_HOUR_MS);
    assert_true(je_hour_floor(-JE_HOUR_MS - 1) == -2 * JE_HOUR_MS);
    assert_true(je_hour_floor(-JE_HOUR_MS + 1) == -JE_HOUR_MS);
    /* The extremes do not overflow (UBSan would abort). */
    assert_true(je_hour_floor(INT64_MIN) == INT64_MIN);
    assert_true(je_hour_floor(INT64_MAX) <= INT64_MAX);
    assert_true(je_hour_floor(INT64_MAX) > INT64_MAX - JE_HOUR_MS);
}

static void test_new_quota_full(void **state) {
    (void)state;
    je_quota q = make(10, 1000, 50, 0.5, T09 + 1234);
    assert_true(q.limits.max_active == 10);
    assert_true(q.limits.max_per_hour == 1000);
    assert_true(q.limits.burst_capacity == 50);
    assert_true(q.limits.refill_per_second == 0.5);
    assert_false(q.paused);
    assert_true(q.state.tokens == 50.0);
    assert_true(q.state.last_refill_ms == T09 + 1234);
    assert_true(q.state.active == 0);
    assert_true(q.state.hour_count == 0);
    assert_true(q.state.hour_start_ms == T09);
    assert_true(q.state.throttled == 0);
    assert_true(q.state.throttled_hour_ms == T09);
    assert_true(q.elevation_expires_ms == JE_NO_TIME);
    assert_int_equal(je_quota_elevation_expire(&q, T10 * 2), 0);
}

static void test_grant_updates_state(void **state) {
    (void)state;
    je_quota q = make(3, 1000, 5, 0.5, T09);
    je_decision d = je_quota_decide(&q, T09, JE_NO_TIME);
    assert_int_equal(d.kind, JE_DECISION_GRANT);
    assert_true(d.next_eligible_ms == JE_NO_TIME);
    assert_int_equal(d.remaining, 2);
    assert_true(q.state.tokens == 4.0);
    assert_true(q.state.active == 1);
    assert_true(q.state.hour_count == 1);
    assert_true(q.state.throttled == 0);
}

/* burst 5, refill 0.5/s: five grants, then the next token is 2000 ms away. */
static void test_burst_then_exact_refill(void **state) {
    (void)state;
    int64_t t0 = T09 + 500;
    je_quota q = make(100, 1000, 5, 0.5, t0);
    for (int i = 0; i < 5; i++) assert_granted(&q, t0);
    assert_true(assert_exhausted(&q, t0) == t0 + 2000);
    assert_true(assert_exhausted(&q, t0 + 1999) == t0 + 2000);
    assert_granted(&q, t0 + 2000);
    assert_true(assert_exhausted(&q, t0 + 2000) == t0 + 4000);
    assert_true(q.state.hour_count == 6);
    assert_true(q.state.throttled == 3);
}

/* The same with maxActive 5 and every unit released at once: concurrency never interferes. */
static void test_burst_with_releases(void **state) {
    (void)state;
    int64_t t0 = T09 + 500;
    je_quota q = make(5, 1000, 5, 0.5, t0);
    for (int i = 0; i < 5; i++) {
        je_decision d = je_quota_decide(&q, t0, JE_NO_TIME);
        assert_int_equal(d.kind, JE_DECISION_GRANT);
        assert_int_equal(d.remaining, 4);
        je_quota_release(&q, 1);
    }
    je_decision d = je_quota_decide(&q, t0, t0 + 99999);
    assert_int_equal(d.kind, JE_DECISION_EXHAUSTED);
    assert_true(d.next_eligible_ms == t0 + 2000); /* the expiry does not apply: no cap */
    assert_int_equal(d.remaining, 5);
    assert_true(assert_exhausted(&q, t0 + 1999) == t0 + 2000);
    assert_granted(&q, t0 + 2000);
}

/* nextEligibleAt is the first ms at which a decision really grants, for awkward rates. */
static void test_next_eligible_really_grants(void **state) {
    (void)state;
    const double rates[] = {0.3, 0.7, 1.0 / 3, 3, 7.77, 0.001, 0.1, 1000, 123.456, 0.0123};
    for (size_t i = 0; i < sizeof rates / sizeof rates[0]; i++) {
        int64_t t = T09 + 17;
        je_quota q = make(1000, 1000000, 3, rates[i], t);
        for (int k = 0; k < 3; k++) assert_granted(&q, t);
        for (int round = 0; round < 5; round++) {
            int64_t next = assert_exhausted(&q, t);
            assert_true(next > t);
            if (next - 1 > t) assert_true(assert_exhausted(&q, next - 1) == next);
            assert_granted(&q, next);
            t = next;
        }
    }
}

/* 0.1 token/s refilled in ten 1 s steps sums to 0.9999999999999999: still a token. */
static void test_refill_epsilon(void **state) {
    (void)state;
    je_quota q = make(10, 1000, 1, 0.1, T09);
    assert_granted(&q, T09);
    for (int i = 1; i < 10; i++) {
        je_quota_advance(&q, T09 + i * 1000);
        assert_true(q.state.tokens < 1.0);
    }
    assert_granted(&q, T09 + 10000);
    assert_true(q.state.tokens >= 0);
    /* Tokens 0.194 after 1940 ms: a plain ceil of the division says 8061 ms more, but the bucket
     * holds its token (within epsilon) at 8060, exactly 10 s after the grant. */
    q = make(10, 1000, 1, 0.1, T09);
    assert_granted(&q, T09);
    assert_true(assert_exhausted(&q, T09 + 1940) == T09 + 10000);
    assert_true(assert_exhausted(&q, T09 + 9999) == T09 + 10000);
    assert_granted(&q, T09 + 10000);
}

static void test_refill_capped_at_burst(void **state) {
    (void)state;
    je_quota q = make(10, 1000, 5, 2, T09);
    for (int i = 0; i < 3; i++) assert_granted(&q, T09);
    je_quota_advance(&q, T09 + 500);
    assert_true(q.state.tokens == 3.0);
    assert_true(q.state.last_refill_ms == T09 + 500);
    je_quota_advance(&q, T09 + 3600);
    assert_true(q.state.tokens == 5.0);
    je_quota_advance(&q, T09 + 100 * JE_HOUR_MS);
    assert_true(q.state.tokens == 5.0);
}

static void test_clock_backwards(void **state) {
    (void)state;
    je_quota q = make(10, 1000, 5, 1, T09 + 10000);
    for (int i = 0; i < 5; i++) assert_granted(&q, T09 + 10000);
    je_quota_advance(&q, T09 + 5000);
    assert_true(q.state.tokens == 0.0);
    assert_true(q.state.last_refill_ms == T09 + 10000);
    /* Refill resumes only from the last refill: the next token is 1 s after it. */
    assert_true(assert_exhausted(&q, T09 + 2000) == T09 + 11000);
    assert_true(q.state.last_refill_ms == T09 + 10000);
    /* Still nothing when the clock comes back to where it was. */
    je_quota_advance(&q, T09 + 10000);
    assert_true(q.state.tokens == 0.0);
    je_quota_advance(&q, T09 + 11000);
    assert_true(q.state.tokens == 1.0);
}

/* maxPerHour 3: the 4th is denied until the next UTC hour, granted exactly at its start. */
static void test_hour_cap(void **state) {
    (void)state;
    int64_t t = T09 + 30 * 60000; /* 09:30 */
    je_quota q = make(100, 3, 10, 1, t);
    for (int i = 0; i < 3; i++) assert_granted(&q, t);
    assert_true(assert_exhausted(&q, t) == T10);
    int64_t before = 1795859999999LL; /* 2026-11-28T09:59:59.999Z */
    assert_true(before == T10 - 1);
    assert_true(assert_exhausted(&q, before) == T10);
    assert_true(q.state.hour_count == 3);
    assert_granted(&q, 1795860000000LL); /* 2026-11-28T10:00:00.000Z */
    assert_true(q.state.hour_count == 1);
    assert_true(q.state.hour_start_ms == T10);
    assert_granted(&q, T10 + 1);
    assert_granted(&q, T10 + 2);
    assert_true(assert_exhausted(&q, T10 + 3) == T10 + JE_HOUR_MS);
}

static void test_hour_rollover_negative_time(void **state) {
    (void)state;
    je_quota q = make(100, 1, 10, 1, -JE_HOUR_MS - 5);
    assert_true(q.state.hour_start_ms == -2 * JE_HOUR_MS);
    assert_granted(&q, -JE_HOUR_MS - 5);
    assert_true(assert_exhausted(&q, -JE_HOUR_MS - 1) == -JE_HOUR_MS);
    assert_granted(&q, -JE_HOUR_MS);
    assert_true(assert_exhausted(&q, -1) == 0);
    assert_granted(&q, 0);
}

static void test_concurrency_cap(void **state) {
    (void)state;
    je_quota q = make(2, 1000, 10, 1, T09);
    assert_granted(&q, T09);
    assert_granted(&q, T09);
    je_decision d = je_quota_decide(&q, T09 + 10, T09 + 30000);
    assert_int_equal(d.kind, JE_DECISION_EXHAUSTED);
    assert_true(d.next_eligible_ms == T09 + 30000);
    assert_int_equal(d.remaining, 0);
    /* Nothing known to expire: a polling hint 1 s on. */
    d = je_quota_decide(&q, T09 + 20, JE_NO_TIME);
    assert_int_equal(d.kind, JE_DECISION_EXHAUSTED);
    assert_true(d.next_eligible_ms == T09 + 1020);
    /* An expiry already past (not yet swept): now. */
    d = je_quota_decide(&q, T09 + 30, T09 + 5);
    assert_true(d.next_eligible_ms == T09 + 30);
    je_quota_release(&q, 1);
    d = je_quota_decide(&q, T09 + 40, JE_NO_TIME);
    assert_int_equal(d.kind, JE_DECISION_GRANT);
    assert_int_equal(d.remaining, 0);
    assert_true(q.state.throttled == 3);
}

/* Several caps at once: the latest cause wins, whichever it is. */
static void test_latest_of_caps(void **state) {
    (void)state;
    int64_t t = T09 + 10 * 60000; /* 09:10 */
    /* tokens: 1000 s -> 09:26:40; hour: 10:00; concurrency: 09:20 -> 10:00. */
    je_quota q = make(1, 1, 1, 0.001, t);
    assert_granted(&q, t);
    je_decision d = je_quota_decide(&q, t, t + 10 * 60000);
    assert_int_equal(d.kind, JE_DECISION_EXHAUSTED);
    assert_true(d.next_eligible_ms == T10);
    /* concurrency latest: expiry 11:00. */
    d = je_quota_decide(&q, t, T10 + JE_HOUR_MS);
    assert_true(d.next_eligible_ms == T10 + JE_HOUR_MS);
    /* tokens latest: 0.0001/s -> 10000 s after 09:10 = 11:56:40. */
    q = make(1, 1, 1, 0.0001, t);
    assert_granted(&q, t);
    d = je_quota_decide(&q, t, t + 60000);
    assert_true(d.next_eligible_ms == t + 10000000);
    /* only the two that apply: tokens and hour, released slot. */
    je_quota_release(&q, 1);
    d = je_quota_decide(&q, t, T10 + 5 * JE_HOUR_MS);
    assert_true(d.next_eligible_ms == t + 10000000);
}

static void test_paused(void **state) {
    (void)state;
    je_quota q = make(1, 1, 1, 0.001, T09);
    q.paused = 1;
    je_decision d = je_quota_decide(&q, T09, JE_NO_TIME);
    assert_int_equal(d.kind, JE_DECISION_PAUSED);
    assert_true(d.next_eligible_ms == JE_NO_TIME);
    assert_int_equal(d.remaining, 1);
    assert_true(q.state.tokens == 1.0);
    assert_true(q.state.active == 0 && q.state.hour_count == 0);
    /* Exhausted on every count as well: still PAUSED with no time. */
    q.paused = 0;
    assert_granted(&q, T09);
    q.paused = 1;
    d = je_quota_decide(&q, T09 + 1, T09 + 5000);
    assert_int_equal(d.kind, JE_DECISION_PAUSED);
    assert_true(d.next_eligible_ms == JE_NO_TIME);
    assert_int_equal(d.remaining, 0);
    assert_true(q.state.throttled == 2);
    /* Paused decisions still refill. */
    assert_true(q.state.last_refill_ms == T09 + 1);
    q.paused = 0;
    assert_true(assert_exhausted(&q, T09 + 2) >= T10);
}

static void test_throttled_counts_and_resets(void **state) {
    (void)state;
    je_quota q = make(100, 1, 10, 1, T09);
    assert_granted(&q, T09);
    for (int i = 1; i <= 4; i++) {
        (void)assert_exhausted(&q, T09 + i);
        assert_true(q.state.throttled == i);
    }
    assert_true(q.state.throttled_hour_ms == T09);
    je_quota_advance(&q, T10 - 1);
    assert_true(q.state.throttled == 4);
    je_quota_advance(&q, T10);
    assert_true(q.state.throttled == 0);
    assert_true(q.state.throttled_hour_ms == T10);
    assert_granted(&q, T10);
    (void)assert_exhausted(&q, T10 + 1);
    assert_true(q.state.throttled == 1);
    /* A decision in a later hour resets it before counting its own denial. */
    q.paused = 1;
    (void)je_quota_decide(&q, T10 + 3 * JE_HOUR_MS + 7, JE_NO_TIME);
    assert_true(q.state.throttled == 1);
    assert_true(q.state.throttled_hour_ms == T10 + 3 * JE_HOUR_MS);
}

static void test_release_floors_at_zero(void **state) {
    (void)state;
    je_quota q = make(10, 1000, 10, 1, T09);
    assert_granted(&q, T09);
    assert_granted(&q, T09);
    je_quota_release(&q, 1);
    assert_true(q.state.active == 1);
    je_quota_release(&q, 5);
    assert_true(q.state.active == 0);
    je_quota_release(&q, 1);
    assert_true(q.state.active == 0);
    je_quota_release(&q, 0);
    je_quota_release(&q, -3);
    assert_true(q.state.active == 0);
}

static void test_set_limits_clips_tokens(void **state) {
    (void)state;
    je_quota q = make(10, 1000, 50, 1, T09);
    je_quota_limits l = lim(20, 2000, 5, 2);
    je_quota_set_limits(&q, &l);
    assert_true(q.state.tokens == 5.0);
    assert_true(q.limits.max_active == 20 && q.limits.max_per_hour == 2000);
    assert_true(q.limits.refill_per_second == 2);
    /* Raising burst adds nothing by itself. */
    l.burst_capacity = 100;
    je_quota_set_limits(&q, &l);
    assert_true(q.state.tokens == 5.0);
    /* Other limits leave tokens alone. */
    assert_granted(&q, T09);
    l.max_active = 1;
    je_quota_set_limits(&q, &l);
    assert_true(q.state.tokens == 4.0);
    assert_true(q.state.active == 1);
}

static const je_quota_limits ceil_default = {1000, 1000000, 10000, 1000};

static void assert_violation(je_quota_limits l, const char *field, const char *msg, double want_req,
                             double want_ceil) {
    je_err err;
    je_err_clear(&err);
    double req = -1, cv = -1;
    assert_int_equal(je_quota_check_ceiling(&l, &ceil_default, &req, &cv, &err), -1);
    assert_string_equal(err.code, "QUOTA_POLICY_VIOLATION");
    assert_string_equal(err.field, field);
    assert_string_equal(err.message, msg);
    assert_true(req == want_req);
    assert_true(cv == want_ceil);
}

static void test_ceiling(void **state) {
    (void)state;
    je_err err;
    je_err_clear(&err);
    double req = -1, cv = -1;
    je_quota_limits at = ceil_default;
    assert_int_equal(je_quota_check_ceiling(&at, &ceil_default, &req, &cv, &err), 0);
    assert_null(err.code);
    assert_int_equal(je_quota_check_ceiling(&at, &ceil_default, NULL, NULL, NULL), 0);
    assert_violation(lim(5000, 1, 1, 1), "maxActive",
                     "maxActive 5000 exceeds the policy ceiling 1000", 5000, 1000);
    assert_violation(lim(1, 1000001, 1, 1), "maxPerHour",
                     "maxPerHour 1000001 exceeds the policy ceiling 1000000", 1000001, 1000000);
    assert_violation(lim(1, 1, 10001, 1), "burstCapacity",
                     "burstCapacity 10001 exceeds the policy ceiling 10000", 10001, 10000);
    assert_violation(lim(1, 1, 1, 1000.5), "refillPerSecond",
                     "refillPerSecond 1000.5 exceeds the policy ceiling 1000", 1000.5, 1000);
    /* Order: maxActive, maxPerHour, burstCapacity, refillPerSecond. */
    assert_violation(lim(1001, 2000000, 20000, 2000), "maxActive",
                     "maxActive 1001 exceeds the policy ceiling 1000", 1001, 1000);
    assert_violation(lim(1, 2000000, 20000, 2000), "maxPerHour",
                     "maxPerHour 2000000 exceeds the policy ceiling 1000000", 2000000, 1000000);
    assert_violation(lim(1, 1, 20000, 2000), "burstCapacity",
                     "burstCapacity 20000 exceeds the policy ceiling 10000", 20000, 10000);
    /* Refill ceilings print in their decimal form too. */
    je_quota_limits small = {10, 10, 10, 0.25};
    je_quota_limits l = lim(1, 1, 1, 0.5);
    assert_int_equal(je_quota_check_ceiling(&l, &small, &req, &cv, &err), -1);
    assert_string_equal(err.message, "refillPerSecond 0.5 exceeds the policy ceiling 0.25");
    /* A NULL err is allowed. */
    assert_int_equal(je_quota_check_ceiling(&l, &small, NULL, NULL, NULL), -1);
}

static void test_decrease_safety(void **state) {
    (void)state;
    je_quota q = make(10, 1000, 10, 1, T09);
    for (int i = 0; i < 4; i++) assert_granted(&q, T09);
    je_err err;
    je_err_clear(&err);
    je_quota_limits l = lim(3, 1000, 10, 1);
    assert_int_equal(je_quota_check_decrease(&q, &l, 0, &err), -1);
    assert_string_equal(err.code, "QUOTA_DECREASE_BELOW_USAGE");
    assert_string_equal(err.field, "maxActive");
    assert_string_equal(err.message, "maxActive 3 is below the current active count 4");
    je_err_clear(&err);
    assert_int_equal(je_quota_check_decrease(&q, &l, 1, &err), 0);
    assert_null(err.code);
    l.max_active = 4; /* equal to usage is fine */
    assert_int_equal(je_quota_check_decrease(&q, &l, 0, &err), 0);
    l.max_active = 2000; /* raising is fine */
    assert_int_equal(je_quota_check_decrease(&q, &l, 0, &err), 0);
    assert_null(err.code);
}

static void test_elevation_expires_exactly(void **state) {
    (void)state;
    je_quota q = make(10, 1000, 50, 0.5, T09);
    je_quota_limits up = lim(100, 5000, 200, 5);
    je_quota_elevate(&q, &up, T10);
    assert_true(q.elevation_expires_ms == T10);
    assert_true(q.limits.max_active == 100 && q.limits.burst_capacity == 200);
    assert_true(q.previous.max_active == 10 && q.previous.burst_capacity == 50);
    assert_true(q.previous.refill_per_second == 0.5);
    assert_true(q.state.tokens == 50.0); /* raising burst adds no tokens */
    assert_int_equal(je_quota_elevation_expire(&q, T10 - 1), 0);
    assert_true(q.limits.max_active == 100);
    je_quota_advance(&q, T10 - 1); /* tokens grow toward the elevated burst */
    assert_true(q.state.tokens > 50.0);
    assert_int_equal(je_quota_elevation_expire(&q, T10), 1);
    assert_true(q.elevation_expires_ms == JE_NO_TIME);
    assert_true(q.limits.max_active == 10 && q.limits.max_per_hour == 1000);
    assert_true(q.limits.burst_capacity == 50 && q.limits.refill_per_second == 0.5);
    assert_true(q.state.tokens == 50.0); /* clipped back like any burst decrease */
    assert_int_equal(je_quota_elevation_expire(&q, T10 + 1), 0);
}

static void test_elevation_late_expire(void **state) {
    (void)state;
    je_quota q = make(10, 1000, 50, 0.5, T09);
    je_quota_limits up = lim(100, 5000, 200, 5);
    je_quota_elevate(&q, &up, T10);
    assert_int_equal(je_quota_elevation_expire(&q, T10 + 5 * JE_HOUR_MS), 1);
    assert_true(q.limits.max_active == 10);
}

static void test_second_elevation_keeps_previous(void **state) {
    (void)state;
    je_quota q = make(10, 1000, 50, 0.5, T09);
    je_quota_limits up = lim(100, 5000, 200, 5);
    je_quota_limits up2 = lim(300, 9000, 20, 7);
    je_quota_elevate(&q, &up, T10);
    je_quota_elevate(&q, &up2, T10 + JE_HOUR_MS);
    assert_true(q.limits.max_active == 300 && q.limits.burst_capacity == 20);
    assert_true(q.state.tokens == 20.0);
    assert_true(q.elevation_expires_ms == T10 + JE_HOUR_MS);
    assert_true(q.previous.max_active == 10 && q.previous.max_per_hour == 1000);
    assert_true(q.previous.burst_capacity == 50 && q.previous.refill_per_second == 0.5);
    assert_int_equal(je_quota_elevation_expire(&q, T10), 0);
    assert_int_equal(je_quota_elevation_expire(&q, T10 + JE_HOUR_MS), 1);
    assert_true(q.limits.max_active == 10 && q.limits.burst_capacity == 50);
    /* After it ended, a new elevation starts from the current limits again. */
    je_quota_elevate(&q, &up, T10 + 2 * JE_HOUR_MS);
    assert_true(q.previous.max_active == 10);
}

static void test_adjust_ends_elevation(void **state) {
    (void)state;
    je_quota q = make(10, 1000, 50, 0.5, T09);
    je_quota_limits up = lim(100, 5000, 200, 5);
    je_quota_elevate(&q, &up, T10);
    je_quota_limits perm = lim(40, 4000, 30, 2);
    je_quota_adjust(&q, &perm);
    assert_true(q.elevation_expires_ms == JE_NO_TIME);
    assert_true(q.limits.max_active == 40 && q.limits.burst_capacity == 30);
    assert_true(q.state.tokens == 30.0);
    assert_int_equal(je_quota_elevation_expire(&q, T10), 0);
    assert_int_equal(je_quota_elevation_expire(&q, T10 + 10 * JE_HOUR_MS), 0);
    assert_true(q.limits.max_active == 40 && q.limits.max_per_hour == 4000);
    assert_true(q.limits.refill_per_second == 2);
    /* Adjusting without an elevation just sets limits. */
    je_quota_limits l = lim(5, 5, 5, 5);
    je_quota_adjust(&q, &l);
    assert_true(q.limits.max_active == 5 && q.state.tokens == 5.0);
    assert_true(q.elevation_expires_ms == JE_NO_TIME);
}

static void assert_decimal(double v, const char *want) {
    char buf[400];
    assert_string_equal(je_num_decimal(v, buf, sizeof buf), want);
}

static void test_num_decimal(void **state) {
    (void)state;
    assert_decimal(0.5, "0.5");
    assert_decimal(2.0, "2");
    assert_decimal(0.1, "0.1");
    assert_decimal(1e-7, "0.0000001");
    assert_decimal(1e-6, "0.000001");
    assert_decimal(1e21, "1000000000000000000000");
    assert_decimal(123.456, "123.456");
    assert_decimal(1.0 / 3, "0.3333333333333333");
    assert_decimal(-1.5, "-1.5");
    assert_decimal(-0.0, "0");
    assert_decimal(0.0, "0");
    assert_decimal(1000, "1000");
    assert_decimal(100, "100");
    assert_decimal(42.5, "42.5");
    assert_decimal(0.3, "0.3");
    assert_decimal(0.1 + 0.2, "0.30000000000000004");
    assert_decimal(9007199254740991.0, "9007199254740991");
    assert_decimal(12345678.9, "12345678.9");
    assert_decimal(-0.001, "-0.001");
    assert_decimal(INFINITY, "0");
    assert_decimal(NAN, "0");
}

static void test_num_decimal_extremes(void **state) {
    (void)state;
    char buf[400];
    const char *s = je_num_decimal(5e-324, buf, sizeof buf);
    size_t n = strlen(s);
    assert_int_equal(n, 2 + 323 + 1); /* "0." 323 zeros "5" */
    assert_memory_equal(s, "0.0000000000", 12);
    assert_int_equal(s[n - 1], '5');
    assert_int_equal(s[n - 2], '0');
    assert_true(strspn(s + 2, "0") == 323);
    assert_true(strtod(s, NULL) == 5e-324);
    s = je_num_decimal(1.7976931348623157e308, buf, sizeof buf);
    assert_int_equal(strlen(s), 309);
    assert_memory_equal(s, "17976931348623157", 17);
    assert_true(strspn(s + 17, "0") == 292);
    assert_true(strtod(s, NULL) == 1.7976931348623157e308);
    s = je_num_decimal(-2.2250738585072014e-308, buf, sizeof buf);
    assert_true(strtod(s, NULL) == -2.2250738585072014e-308);
    /* Round trip over a spread of values. */
    for (double v = 1e-20; v < 1e22; v *= 7.3) {
        s = je_num_decimal(v, buf, sizeof buf);
        assert_null(strchr(s, 'e'));
        assert_true(strtod(s, NULL) == v);
    }
    /* A small buffer truncates but stays terminated. */
    char small[4];
    assert_string_equal(je_num_decimal(123.456, small, sizeof small), "123");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hour_floor),
        cmocka_unit_test(test_new_quota_full),
        cmocka_unit_test(test_grant_updates_state),
        cmocka_unit_test(test_burst_then_exact_refill),
        cmocka_unit_test(test_burst_with_releases),
        cmocka_unit_test(test_next_eligible_really_grants),
        cmocka_unit_test(test_refill_epsilon),
        cmocka_unit_test(test_refill_capped_at_burst),
        cmocka_unit_test(test_clock_backwards),
        cmocka_unit_test(test_hour_cap),
        cmocka_unit_test(test_hour_rollover_negative_time),
        cmocka_unit_test(test_concurrency_cap),
        cmocka_unit_test(test_latest_of_caps),
        cmocka_unit_test(test_paused),
        cmocka_unit_test(test_throttled_counts_and_resets),
        cmocka_unit_test(test_release_floors_at_zero),
        cmocka_unit_test(test_set_limits_clips_tokens),
        cmocka_unit_test(test_ceiling),
        cmocka_unit_test(test_decrease_safety),
        cmocka_unit_test(test_elevation_expires_exactly),
        cmocka_unit_test(test_elevation_late_expire),
        cmocka_unit_test(test_second_elevation_keeps_previous),
        cmocka_unit_test(test_adjust_ends_elevation),
        cmocka_unit_test(test_num_decimal),
        cmocka_unit_test(test_num_decimal_extremes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
