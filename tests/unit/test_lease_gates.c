/* tests/unit/test_lease_gates.c: one candidate through the job type's circuit breaker, the
 * tenant's quota slot and the job type's capacity pool (core/lease_gates.h): each refusal names
 * its gate and gives back what the gates before it took (a half-open breaker's probe, the
 * quota's unit), a pool that refused once is not asked again in the call, and a lease counts
 * in the slot and the pool. No clock, no store. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "core/lease_gates.h"

#define NOW 1795860000000LL /* 2026-11-28T10:00:00.000Z */

static je_lease_slot slot_of(int64_t max_active) {
    je_quota_record r;
    memset(&r, 0, sizeof r);
    strcpy(r.quota_id, "q-1");
    strcpy(r.tenant_id, "acme");
    strcpy(r.job_type, "scan");
    je_quota_limits l = {max_active, 1000, 100, 10};
    je_quota_init(&r.q, &l, NOW);
    je_lease_slot sl;
    je_lease_slot_open(&sl, &r, JE_NO_TIME, 0, 1.0);
    return sl;
}

static je_pool_gate *pool_of(int64_t max_active) {
    je_pool_gate *g = calloc(1, sizeof *g);
    assert_non_null(g);
    strcpy(g->pool.job_type, "scan");
    g->pool.strategy = JE_POOL_MAX_LIMIT;
    g->pool.max_active = max_active;
    g->pool.max_per_hour = JE_POOL_NO_LIMIT;
    g->pool.hour_start_ms = NOW - NOW % 3600000;
    assert_non_null(je_pool_gate_use(g, "acme"));
    return g;
}

/* A breaker that opened and is now half-open with one probe to give. */
static je_breaker half_open(void) {
    je_breaker_settings s = je_breaker_defaults();
    s.min_samples = 1;
    s.probes = 1;
    je_breaker b;
    je_breaker_init(&b, &s, NOW - 60000);
    je_breaker_record(&b, 0, NOW - 60000); /* opens */
    je_breaker_advance(&b, NOW);           /* past open_ms: half-open */
    assert_int_equal(je_breaker_effective(&b), JE_BREAKER_HALF_OPEN);
    return b;
}

static void test_all_grant_and_the_lease_counts(void **state) {
    (void)state;
    je_lease_slot sl = slot_of(5);
    je_pool_gate *pg = pool_of(5);
    je_lease_gates g = {NULL, &sl, pg};
    je_lease_held held;
    memset(&held, 0, sizeof held);
    int64_t retry = 0;
    assert_int_equal(je_lease_gates_decide(&g, 0, "acme", NOW, &held, &retry), JE_GATES_GRANTED);
    je_lease_gates_leased(&g, 0, "acme", NOW + 60000, NOW);
    assert_true(sl.rec.q.state.active == 1);
    assert_true(je_pool_gate_use(pg, "acme")->active == 1);
    assert_true(pg->pool.hour_count == 1);
    free(pg);
}

static void test_a_pool_refusal_gives_back_the_quota_unit_and_the_probe(void **state) {
    (void)state;
    je_lease_slot sl = slot_of(5);
    je_pool_gate *pg = pool_of(1);
    je_pool_gate_use(pg, "acme")->active = 1; /* the pool is full */
    je_breaker b = half_open();
    je_lease_gates g = {&b, &sl, pg};
    je_lease_held held;
    memset(&held, 0, sizeof held);
    int64_t retry = 0;
    assert_int_equal(je_lease_gates_decide(&g, 0, "acme", NOW, &held, &retry), JE_GATES_POOL);
    assert_true(sl.rec.q.state.active == 0); /* the quota's unit given back */
    assert_true(b.probes_admitted == 0);     /* and the probe */
    assert_int_equal(pg->last_cap, JE_POOL_CAP_TOTAL);
    /* not asked again in the call: no second refusal counted */
    int64_t throttled = pg->pool.throttled;
    assert_int_equal(je_lease_gates_decide(&g, 0, "acme", NOW, &held, &retry), JE_GATES_POOL);
    assert_true(pg->pool.throttled == throttled);
    free(pg);
}

static void test_a_quota_refusal_gives_back_the_probe(void **state) {
    (void)state;
    je_lease_slot sl = slot_of(1);
    je_lease_held held;
    memset(&held, 0, sizeof held);
    assert_int_equal(je_lease_slot_decide(&sl, 0, NOW, &held), 1); /* the only unit taken */
    je_breaker b = half_open();
    je_lease_gates g = {&b, &sl, NULL};
    int64_t retry = 0;
    assert_int_equal(je_lease_gates_decide(&g, 0, "acme", NOW, &held, &retry), JE_GATES_QUOTA);
    assert_true(b.probes_admitted == 0);
    assert_int_equal(held.held, 1);
}

static void test_an_open_breaker_asks_nobody_else(void **state) {
    (void)state;
    je_lease_slot sl = slot_of(5);
    je_pool_gate *pg = pool_of(5);
    je_breaker b = half_open();
    je_breaker_set_force(&b, JE_BREAKER_FORCED_OPEN, NOW);
    je_lease_gates g = {&b, &sl, pg};
    je_lease_held held;
    memset(&held, 0, sizeof held);
    int64_t retry = 0;
    assert_int_equal(je_lease_gates_decide(&g, 0, "acme", NOW, &held, &retry), JE_GATES_BREAKER);
    assert_true(sl.rec.q.state.active == 0);
    assert_true(pg->pool.throttled == 0 && pg->pool.hour_count == 0);
    free(pg);
}

static void test_undo_when_the_job_went_away(void **state) {
    (void)state;
    je_lease_slot sl = slot_of(5);
    je_breaker b = half_open();
    je_lease_gates g = {&b, &sl, NULL};
    je_lease_held held;
    memset(&held, 0, sizeof held);
    int64_t retry = 0;
    assert_int_equal(je_lease_gates_decide(&g, 0, "acme", NOW, &held, &retry), JE_GATES_GRANTED);
    assert_true(b.probes_admitted == 1 && sl.rec.q.state.active == 1);
    je_lease_gates_undo(&g);
    assert_true(b.probes_admitted == 0 && sl.rec.q.state.active == 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_all_grant_and_the_lease_counts),
        cmocka_unit_test(test_a_pool_refusal_gives_back_the_quota_unit_and_the_probe),
        cmocka_unit_test(test_a_quota_refusal_gives_back_the_probe),
        cmocka_unit_test(test_an_open_breaker_asks_nobody_else),
        cmocka_unit_test(test_undo_when_the_job_went_away),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
