/* tests/unit/test_pool_sim.c: random sequences of demand, requests and releases across four
 * tenants (three listed with random terms, one unlisted) under every strategy, from fixed seeds.
 * After every step: the pool never runs over its total, no tenant over its max-limit cap, and no
 * more grants in a UTC hour than maxPerHour; every refusal names the right cap bit; under
 * reserved a tenant asking below its reserve is never refused while a slot is free, and a grant
 * above a reserve always leaves the others' unmet demand within their reserves free; and below
 * the total a request passes the strategy exactly when its entitlement exceeds its use. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "core/pool.h"

#define T10 1795860000000LL /* 2026-11-28T10:00:00.000Z */
#define HOUR 3600000LL
#define NT 4
#define RUNS 40
#define STEPS 3000

static const char *const names[NT] = {"a", "b", "c", "unlisted"};

typedef struct world {
    je_pool p;
    je_pool_share sh[NT - 1];
    int64_t active[NT], demand[NT];
    int64_t hour, grants; /* the test's own count of grants in the UTC hour */
} world;

static uint64_t rng;
static int64_t seen[JE_POOL_CAP_RESERVED + 1]; /* decisions by cap bit, over one strategy's runs */

static int64_t rnd(int64_t n) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17; /* xorshift64 */
    return (int64_t)(rng % (uint64_t)n);
}

static je_pool_share term(const world *w, int t) {
    return je_pool_share_of(w->sh, NT - 1, names[t]);
}

static void make(world *w, je_pool_strategy s) {
    memset(w, 0, sizeof *w);
    strcpy(w->p.job_type, "render");
    w->p.strategy = s;
    w->p.max_active = 3 + rnd(10);
    w->p.max_per_hour = rnd(2) ? JE_POOL_NO_LIMIT : 5 + rnd(30);
    w->p.hour_start_ms = T10;
    w->hour = T10;
    for (int i = 0; i < NT - 1; i++) {
        je_pool_share *sh = &w->sh[i];
        strcpy(sh->tenant_id, names[i]);
        sh->weight = 0.5 * (double)(1 + rnd(6));
        sh->tier = rnd(4) - 1;
        sh->reserved = rnd(w->p.max_active / 3 + 1); /* three of them: sum <= max_active */
        sh->max_active = rnd(3) == 0 ? JE_POOL_NO_LIMIT : 1 + rnd(w->p.max_active);
    }
    je_err err;
    assert_int_equal(je_pool_validate(&w->p, w->sh, NT - 1, &err), 0);
}

static size_t use_of(const world *w, je_pool_use *u) {
    size_t n = 0;
    for (int t = 0; t < NT; t++) {
        if (w->active[t] == 0 && w->demand[t] == 0) continue;
        memset(&u[n], 0, sizeof u[n]);
        strcpy(u[n].tenant_id, names[t]);
        u[n].active = w->active[t];
        u[n].demand = w->demand[t];
        n++;
    }
    return n;
}

static int64_t sum_active(const world *w) {
    int64_t s = 0;
    for (int t = 0; t < NT; t++) s += w->active[t];
    return s;
}

/* The others' unmet demand within their reserves, counted here independently of pool.c. */
static int64_t owed_to_others(const world *w, int me) {
    int64_t owed = 0;
    for (int t = 0; t < NT; t++) {
        int64_t unmet = term(w, t).reserved - w->active[t];
        if (t == me || unmet <= 0) continue;
        owed += unmet < w->demand[t] ? unmet : w->demand[t];
    }
    return owed;
}

/* Whether another tenant (of a higher tier when `higher`) has demand. */
static int others_waiting(const world *w, int me, int higher) {
    for (int t = 0; t < NT; t++) {
        if (t == me || w->demand[t] == 0) continue;
        if (!higher || term(w, t).tier > term(w, me).tier) return 1;
    }
    return 0;
}

static void request(world *w, int t, int64_t now) {
    je_pool_use u[NT];
    size_t n = use_of(w, u);
    je_pool_cap cap = je_pool_decide(&w->p, w->sh, NT - 1, u, n, names[t], now);
    je_pool_entitlement e = je_pool_entitlement_of(&w->p, w->sh, NT - 1, u, n, names[t]);
    je_pool_share s = term(w, t);
    seen[cap]++;
    int64_t sum = sum_active(w), free = w->p.max_active - sum;
    if (now - now % HOUR > w->hour) w->hour = now - now % HOUR, w->grants = 0;
    int spent = w->p.max_per_hour != JE_POOL_NO_LIMIT && w->grants >= w->p.max_per_hour;
    if (w->p.strategy == JE_POOL_UNLIMITED) {
        assert_int_equal(cap, JE_POOL_OK);
    } else {
        assert_int_equal(cap == JE_POOL_CAP_TOTAL, free <= 0);
        if (free > 0) assert_int_equal(cap == JE_POOL_CAP_HOURLY, spent);
        if (free > 0 && !spent) assert_int_equal(cap == JE_POOL_OK, e.entitled > w->active[t]);
    }
    switch (w->p.strategy) {
    case JE_POOL_RESERVED:
        assert_true(e.guaranteed == s.reserved && e.entitled >= s.reserved);
        if (free > 0 && !spent && w->active[t] < s.reserved) assert_int_equal(cap, JE_POOL_OK);
        if (cap == JE_POOL_OK && w->active[t] >= s.reserved)
            assert_true(free - 1 >= owed_to_others(w, t));
        if (cap == JE_POOL_CAP_RESERVED) assert_true(owed_to_others(w, t) > 0);
        break;
    case JE_POOL_MAX_LIMIT:
        assert_true(e.cap == s.max_active);
        if (cap == JE_POOL_CAP_SHARE)
            assert_true(s.max_active != JE_POOL_NO_LIMIT && w->active[t] >= s.max_active);
        break;
    case JE_POOL_PRIORITY:
        if (cap == JE_POOL_CAP_HIGHER_TIER) assert_true(others_waiting(w, t, 1));
        break;
    case JE_POOL_PROPORTIONAL:
        if (cap == JE_POOL_CAP_SHARE) assert_true(others_waiting(w, t, 0));
        break;
    default:
        break;
    }
    if (cap == JE_POOL_OK) {
        w->active[t]++, w->demand[t]--, w->grants++;
        je_pool_granted(&w->p, now);
    } else {
        je_pool_refused(&w->p, now);
    }
    assert_true(w->p.hour_start_ms == w->hour && w->p.hour_count == w->grants);
}

static void check(const world *w) {
    if (w->p.strategy == JE_POOL_UNLIMITED) return;
    assert_true(sum_active(w) <= w->p.max_active);
    if (w->p.max_per_hour != JE_POOL_NO_LIMIT) assert_true(w->grants <= w->p.max_per_hour);
    if (w->p.strategy != JE_POOL_MAX_LIMIT) return;
    for (int t = 0; t < NT; t++) {
        int64_t cap = term(w, t).max_active;
        assert_true(cap == JE_POOL_NO_LIMIT || w->active[t] <= cap);
    }
}

/* Runs RUNS random sequences and asserts that they reached every refusal the strategy has (a
 * simulation that never refuses would prove nothing). */
static void simulate(je_pool_strategy s, je_pool_cap own) {
    memset(seen, 0, sizeof seen);
    for (int run = 0; run < RUNS; run++) {
        rng = 0x9E3779B97F4A7C15ULL ^ (uint64_t)(run * 1000 + s + 1);
        world w;
        make(&w, s);
        int64_t now = T10;
        for (int step = 0; step < STEPS; step++) {
            now += rnd(120000); /* about 30 steps a UTC hour: the hourly cap rolls */
            int t = (int)rnd(NT);
            int64_t action = rnd(10);
            if (action < 2) {
                w.demand[t] += 1 + rnd(3);
            } else if (action < 7) {
                if (w.demand[t] > 0) request(&w, t, now);
            } else if (action < 9) {
                if (w.active[t] > 0) w.active[t]--; /* a job done */
            } else {
                w.demand[t] = 0; /* its waiting work cancelled: the tenant goes idle */
            }
            check(&w);
        }
    }
    assert_true(seen[JE_POOL_OK] > 0);
    if (s == JE_POOL_UNLIMITED) return;
    assert_true(seen[JE_POOL_CAP_TOTAL] > 0 && seen[JE_POOL_CAP_HOURLY] > 0 && seen[own] > 0);
}

static void test_unlimited(void **state) {
    (void)state;
    simulate(JE_POOL_UNLIMITED, JE_POOL_OK);
}

static void test_proportional(void **state) {
    (void)state;
    simulate(JE_POOL_PROPORTIONAL, JE_POOL_CAP_SHARE);
}

static void test_priority(void **state) {
    (void)state;
    simulate(JE_POOL_PRIORITY, JE_POOL_CAP_HIGHER_TIER);
}

static void test_reserved(void **state) {
    (void)state;
    simulate(JE_POOL_RESERVED, JE_POOL_CAP_RESERVED);
}

static void test_max_limit(void **state) {
    (void)state;
    simulate(JE_POOL_MAX_LIMIT, JE_POOL_CAP_SHARE);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unlimited), cmocka_unit_test(test_proportional),
        cmocka_unit_test(test_priority),  cmocka_unit_test(test_reserved),
        cmocka_unit_test(test_max_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
