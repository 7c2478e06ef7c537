/* tests/unit/test_pool.c: the capacity-pool rules of core/pool.h on tables of demand: each
 * strategy grants and refuses at the right point with the right cap bit and shows the documented
 * entitlement; reserved lending while the owner is idle and reclaim as its demand returns; total
 * and hourly caps and the hour roll; validation naming the field; unlisted tenants' defaults.
 * The random sequences are in test_pool_sim.c. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "core/pool.h"
#include "core/quota.h"

#define T10 1795860000000LL /* 2026-11-28T10:00:00.000Z (test_quota.c) */
#define NL JE_POOL_NO_LIMIT

typedef struct row {
    const char *t;
    int64_t active, demand;
} row;

/* One decision: the pool's use (rows up to one with t NULL), who asks, what it gets. */
typedef struct dcase {
    int64_t max;
    row use[5];
    const char *tenant;
    je_pool_cap want;
    int64_t entitled;
} dcase;

static je_pool pool(je_pool_strategy s, int64_t max, int64_t per_hour) {
    je_pool p;
    memset(&p, 0, sizeof p);
    strcpy(p.job_type, "render");
    p.strategy = s;
    p.max_active = max;
    p.max_per_hour = per_hour;
    p.hour_start_ms = T10;
    return p;
}

static je_pool_share share(const char *t, double w, int64_t tier, int64_t res, int64_t cap) {
    je_pool_share s;
    memset(&s, 0, sizeof s);
    strcpy(s.tenant_id, t);
    s.weight = w;
    s.tier = tier;
    s.reserved = res;
    s.max_active = cap;
    return s;
}

static size_t fill(je_pool_use *u, const row *rows) {
    size_t n = 0;
    for (; rows[n].t; n++) {
        memset(&u[n], 0, sizeof u[n]);
        strcpy(u[n].tenant_id, rows[n].t);
        u[n].active = rows[n].active;
        u[n].demand = rows[n].demand;
    }
    return n;
}

static int64_t active_of(const row *rows, const char *t) {
    for (size_t i = 0; rows[i].t; i++) {
        if (strcmp(rows[i].t, t) == 0) return rows[i].active;
    }
    return 0;
}

/* Runs a table: the cap of each decision, its entitlement, and that below the total a request
 * passes the strategy exactly when entitled > active. */
static void run(je_pool_strategy s, const je_pool_share *sh, size_t n_sh, const dcase *c,
                size_t n) {
    for (size_t i = 0; i < n; i++) {
        je_pool p = pool(s, c[i].max, NL);
        je_pool_use u[5];
        size_t nu = fill(u, c[i].use);
        je_pool_cap got = je_pool_decide(&p, sh, n_sh, u, nu, c[i].tenant, T10);
        je_pool_entitlement e = je_pool_entitlement_of(&p, sh, n_sh, u, nu, c[i].tenant);
        if (got != c[i].want || e.entitled != c[i].entitled)
            fail_msg("%s case %zu (%s): cap %s entitled %lld, want %s %lld",
                     je_pool_strategy_name(s), i, c[i].tenant, je_pool_cap_name(got),
                     (long long)e.entitled, je_pool_cap_name(c[i].want), (long long)c[i].entitled);
        if (got != JE_POOL_CAP_TOTAL)
            assert_int_equal(got == JE_POOL_OK, e.entitled > active_of(c[i].use, c[i].tenant));
    }
}

static void test_names(void **state) {
    (void)state;
    const char *names[] = {"unlimited", "proportional", "priority", "reserved", "max-limit"};
    for (int i = 0; i < JE_POOL_STRATEGY_COUNT; i++) {
        assert_string_equal(je_pool_strategy_name((je_pool_strategy)i), names[i]);
        assert_int_equal(je_pool_strategy_parse(names[i]), i);
    }
    assert_null(je_pool_strategy_name((je_pool_strategy)JE_POOL_STRATEGY_COUNT));
    assert_int_equal(je_pool_strategy_parse("Reserved"), -1);
    assert_int_equal(je_pool_strategy_parse("max_limit"), -1);
    assert_int_equal(je_pool_strategy_parse(NULL), -1);
    assert_string_equal(je_pool_cap_name(JE_POOL_OK), "");
    assert_string_equal(je_pool_cap_name(JE_POOL_CAP_TOTAL), "pool_max_active");
    assert_string_equal(je_pool_cap_name(JE_POOL_CAP_HOURLY), "pool_max_per_hour");
    assert_string_equal(je_pool_cap_name(JE_POOL_CAP_SHARE), "tenant_share");
    assert_string_equal(je_pool_cap_name(JE_POOL_CAP_HIGHER_TIER), "higher_tier_waiting");
    assert_string_equal(je_pool_cap_name(JE_POOL_CAP_RESERVED), "reserved_for_others");
}

static void test_proportional(void **state) {
    (void)state;
    je_pool_share sh[] = {share("a", 3, 0, 0, NL), share("b", 1, 0, 0, NL),
                          share("c", 1, 0, 0, NL)};
    static const dcase c[] = {
        /* alone (b, c idle): work-conserving, a may fill the pool */
        {8, {{"a", 0, 1}, {"b", 0, 0}, {0}}, "a", JE_POOL_OK, 8},
        {8, {{"a", 7, 1}, {0}}, "a", JE_POOL_OK, 8},
        {8, {{"a", 8, 1}, {0}}, "a", JE_POOL_CAP_TOTAL, 8},
        /* a and b present: 6 and 2 of 8; a past 6 only with slots b does not ask for */
        {8, {{"a", 6, 2}, {"b", 0, 1}, {0}}, "a", JE_POOL_OK, 7},
        {8, {{"a", 7, 1}, {"b", 0, 1}, {0}}, "a", JE_POOL_CAP_SHARE, 7},
        {8, {{"a", 7, 1}, {"b", 0, 1}, {0}}, "b", JE_POOL_OK, 2},
        /* b past its 2 while a, running 5, asks for nothing more */
        {8, {{"a", 5, 0}, {"b", 2, 5}, {0}}, "b", JE_POOL_OK, 3},
        {8, {{"a", 5, 1}, {"b", 2, 5}, {0}}, "b", JE_POOL_CAP_SHARE, 2},
        {8, {{"a", 5, 1}, {"b", 2, 5}, {0}}, "a", JE_POOL_OK, 6},
        /* a tenant present by its use alone counts in the weights: a, b, c 8*3/5 = 4, 1, 1 */
        {8, {{"a", 4, 3}, {"b", 0, 1}, {"c", 3, 0}, {0}}, "a", JE_POOL_CAP_SHARE, 4},
        {8, {{"a", 4, 3}, {"b", 0, 1}, {"c", 3, 0}, {0}}, "b", JE_POOL_OK, 1},
        /* at least 1 with demand: b's 2 * 1/4 rounds to 0 but b is not starved */
        {2, {{"a", 1, 5}, {"b", 0, 1}, {0}}, "b", JE_POOL_OK, 1},
        {2, {{"a", 1, 5}, {"b", 0, 1}, {0}}, "a", JE_POOL_CAP_SHARE, 1},
        /* an unlisted tenant weighs 1: a 3 of 4, d 1 */
        {4, {{"a", 3, 2}, {"d", 0, 1}, {0}}, "a", JE_POOL_CAP_SHARE, 3},
        {4, {{"a", 3, 2}, {"d", 0, 1}, {0}}, "d", JE_POOL_OK, 1},
    };
    run(JE_POOL_PROPORTIONAL, sh, 3, c, sizeof c / sizeof c[0]);
    /* the requester counts as asking even when `use` leaves it out: b's 4 * 1/5 rounds to 0,
     * yet b is owed its 1 although a's unmet 2 claims the one free slot */
    je_pool p = pool(JE_POOL_PROPORTIONAL, 4, NL);
    je_pool_use u[2];
    size_t n = fill(u, (const row[]){{"a", 0, 5}, {"c", 3, 5}, {0}});
    assert_int_equal(je_pool_decide(&p, sh, 3, u, n, "b", T10), JE_POOL_OK);
    assert_int_equal(je_pool_decide(&p, sh, 3, u, n, "c", T10), JE_POOL_CAP_SHARE);
}

static void test_proportional_binary_weights(void **state) {
    (void)state;
    /* 0.1 + 0.2 + 0.3 sums to a hair above 0.6: 10 * 0.3 / 0.6 is still 5, not 4 */
    je_pool_share sh[] = {share("a", 0.1, 0, 0, NL), share("b", 0.2, 0, 0, NL),
                          share("c", 0.3, 0, 0, NL)};
    static const dcase c[] = {
        {10, {{"a", 2, 1}, {"b", 4, 1}, {"c", 4, 1}, {0}}, "c", JE_POOL_CAP_TOTAL, 5},
        {10, {{"a", 2, 1}, {"b", 4, 1}, {"c", 4, 1}, {0}}, "b", JE_POOL_CAP_TOTAL, 4},
        {10, {{"a", 1, 1}, {"b", 3, 1}, {"c", 5, 1}, {0}}, "a", JE_POOL_OK, 2},
    };
    run(JE_POOL_PROPORTIONAL, sh, 3, c, sizeof c / sizeof c[0]);
}

static void test_priority(void **state) {
    (void)state;
    /* h 10, m 5, l unlisted (0), n -5 */
    je_pool_share sh[] = {share("h", 1, 10, 0, NL), share("m", 1, 5, 0, NL),
                          share("n", 1, -5, 0, NL)};
    static const dcase c[] = {
        /* l gets only what h's 3 and m's 1 waiting leave: one slot of five */
        {10, {{"h", 2, 3}, {"m", 3, 1}, {"l", 0, 5}, {0}}, "l", JE_POOL_OK, 1},
        {10, {{"h", 2, 3}, {"m", 3, 1}, {"l", 1, 4}, {0}}, "l", JE_POOL_CAP_HIGHER_TIER, 1},
        {10, {{"h", 2, 3}, {"m", 3, 1}, {"l", 1, 4}, {0}}, "m", JE_POOL_OK, 4},
        {10, {{"h", 2, 3}, {"m", 3, 1}, {"l", 1, 4}, {0}}, "h", JE_POOL_OK, 6},
        /* running work of a higher tier does not count, only its waiting demand */
        {10, {{"h", 8, 0}, {"l", 0, 2}, {0}}, "l", JE_POOL_OK, 2},
        {10, {{"h", 0, 10}, {"l", 0, 1}, {0}}, "l", JE_POOL_CAP_HIGHER_TIER, 0},
        /* lower tiers and the same tier do not hold a tenant back */
        {3, {{"n", 0, 1}, {"l", 0, 2}, {0}}, "n", JE_POOL_OK, 1},
        {3, {{"n", 0, 5}, {"l", 0, 2}, {"x", 0, 9}, {0}}, "l", JE_POOL_OK, 3},
        {10, {{"h", 5, 3}, {"l", 5, 1}, {0}}, "h", JE_POOL_CAP_TOTAL, 5},
    };
    run(JE_POOL_PRIORITY, sh, 3, c, sizeof c / sizeof c[0]);
}

static void test_reserved(void **state) {
    (void)state;
    je_pool_share sh[] = {share("a", 1, 0, 6, NL), share("b", 1, 0, 2, NL),
                          share("c", 1, 0, 0, NL)};
    static const dcase c[] = {
        /* a idle: its reserve is lent, b may hold all 10 */
        {10, {{"b", 0, 8}, {0}}, "b", JE_POOL_OK, 10},
        {10, {{"b", 9, 1}, {0}}, "b", JE_POOL_OK, 10},
        /* a's demand returns: b is refused the last free slot, a gets it */
        {10, {{"a", 0, 3}, {"b", 9, 1}, {0}}, "b", JE_POOL_CAP_RESERVED, 9},
        {10, {{"a", 0, 3}, {"b", 9, 0}, {0}}, "a", JE_POOL_OK, 6},
        /* owed: a's unmet 2 within its reserve, b at its reserve owes nothing */
        {10, {{"a", 4, 5}, {"b", 2, 3}, {"c", 0, 4}, {0}}, "c", JE_POOL_OK, 2},
        {10, {{"a", 4, 5}, {"b", 2, 3}, {"c", 0, 4}, {0}}, "b", JE_POOL_OK, 4},
        {10, {{"a", 4, 5}, {"b", 2, 3}, {"c", 2, 2}, {0}}, "c", JE_POOL_CAP_RESERVED, 2},
        {10, {{"a", 4, 5}, {"b", 2, 3}, {"c", 2, 2}, {0}}, "a", JE_POOL_OK, 6},
        /* demand above a reserve is owed nothing: a at 6 wants 2 more, c may take the slot */
        {10, {{"a", 6, 2}, {"c", 3, 1}, {0}}, "c", JE_POOL_OK, 4},
        /* below its reserve a tenant takes any free slot, even past borrowed ones */
        {10, {{"a", 1, 5}, {"b", 0, 2}, {"c", 8, 0}, {0}}, "b", JE_POOL_OK, 2},
        {10, {{"a", 1, 5}, {"c", 9, 0}, {0}}, "c", JE_POOL_CAP_TOTAL, 9},
        /* two owners back while c borrows: each below its reserve takes the one free slot,
         * though the other's unmet reserve is larger than what would be left */
        {10, {{"a", 0, 3}, {"b", 0, 2}, {"c", 9, 0}, {0}}, "a", JE_POOL_OK, 6},
        {10, {{"a", 0, 3}, {"b", 0, 2}, {"c", 9, 0}, {0}}, "b", JE_POOL_OK, 2},
        {10, {{"a", 0, 3}, {"b", 0, 2}, {"c", 9, 1}, {0}}, "c", JE_POOL_CAP_RESERVED, 9},
    };
    run(JE_POOL_RESERVED, sh, 3, c, sizeof c / sizeof c[0]);
}

static void test_max_limit(void **state) {
    (void)state;
    je_pool_share sh[] = {share("a", 1, 0, 0, 3), share("b", 1, 0, 0, NL)};
    static const dcase c[] = {
        {5, {{"a", 2, 1}, {0}}, "a", JE_POOL_OK, 3},
        {5, {{"a", 3, 1}, {0}}, "a", JE_POOL_CAP_SHARE, 3},
        {5, {{"a", 3, 1}, {"b", 2, 0}, {0}}, "a", JE_POOL_CAP_TOTAL, 3},
        {5, {{"a", 3, 0}, {"b", 1, 1}, {0}}, "b", JE_POOL_OK, 2},
        {5, {{"a", 3, 0}, {"b", 1, 0}, {"c", 0, 1}, {0}}, "c", JE_POOL_OK, 1},
        /* a cap lowered below use: refused, entitled to fewer than it runs */
        {5, {{"a", 4, 1}, {0}}, "a", JE_POOL_CAP_SHARE, 3},
    };
    run(JE_POOL_MAX_LIMIT, sh, 2, c, sizeof c / sizeof c[0]);
    je_pool p = pool(JE_POOL_MAX_LIMIT, 5, NL);
    je_pool_entitlement e = je_pool_entitlement_of(&p, sh, 2, NULL, 0, "a");
    assert_true(e.cap == 3 && e.guaranteed == 0 && e.entitled == 3);
    e = je_pool_entitlement_of(&p, sh, 2, NULL, 0, "b");
    assert_true(e.cap == NL && e.entitled == 5);
}

static void test_unlimited(void **state) {
    (void)state;
    je_pool p = pool(JE_POOL_UNLIMITED, 1, 1);
    p.hour_count = 50;
    je_pool_use u[1];
    fill(u, (const row[]){{"a", 1000, 5}, {0}});
    assert_int_equal(je_pool_decide(&p, NULL, 0, u, 1, "a", T10), JE_POOL_OK);
    je_pool_entitlement e = je_pool_entitlement_of(&p, NULL, 0, u, 1, "a");
    assert_true(e.entitled == NL && e.guaranteed == 0 && e.cap == NL);
}

static void test_total_and_hourly(void **state) {
    (void)state;
    for (int s = JE_POOL_PROPORTIONAL; s < JE_POOL_STRATEGY_COUNT; s++) {
        je_pool p = pool((je_pool_strategy)s, 2, 3);
        je_pool_use u[2];
        size_t n = fill(u, (const row[]){{"a", 0, 9}, {0}});
        for (int i = 0; i < 3; i++) {
            assert_int_equal(je_pool_decide(&p, NULL, 0, u, n, "a", T10 + i), JE_POOL_OK);
            je_pool_granted(&p, T10 + i);
            u[0].active = u[0].active == 1 ? 0 : 1; /* finishes as fast as it starts */
        }
        assert_true(p.hour_count == 3);
        assert_int_equal(je_pool_decide(&p, NULL, 0, u, n, "a", T10 + 5), JE_POOL_CAP_HOURLY);
        je_pool_refused(&p, T10 + 5);
        je_pool_refused(&p, T10 + 6);
        assert_true(p.throttled == 2);
        /* full and spent: the total is named first */
        u[0].active = 2;
        assert_int_equal(je_pool_decide(&p, NULL, 0, u, n, "a", T10 + 7), JE_POOL_CAP_TOTAL);
        u[0].active = 0;
        /* a clock behind the pool's hour rolls nothing */
        assert_int_equal(je_pool_decide(&p, NULL, 0, u, n, "a", T10 - 1), JE_POOL_CAP_HOURLY);
        je_pool_roll(&p, T10 - 1);
        assert_true(p.hour_start_ms == T10 && p.hour_count == 3 && p.throttled == 2);
        /* the next UTC hour: decide sees it without a roll, the roll resets both counters */
        int64_t t11 = T10 + JE_HOUR_MS;
        assert_int_equal(je_pool_decide(&p, NULL, 0, u, n, "a", t11 - 1), JE_POOL_CAP_HOURLY);
        assert_int_equal(je_pool_decide(&p, NULL, 0, u, n, "a", t11), JE_POOL_OK);
        je_pool_roll(&p, t11 + 1234);
        assert_true(p.hour_start_ms == t11 && p.hour_count == 0 && p.throttled == 0);
        je_pool_granted(&p, t11 + 2 * JE_HOUR_MS + 5);
        assert_true(p.hour_start_ms == t11 + 2 * JE_HOUR_MS && p.hour_count == 1);
    }
}

/* The owner of a reserve lends it while idle and gets it back, slot by slot as they free up,
 * when its demand returns; the borrower's running work is never touched. */
static void test_reserved_lend_and_reclaim(void **state) {
    (void)state;
    je_pool p = pool(JE_POOL_RESERVED, 10, NL);
    je_pool_share sh[] = {share("owner", 1, 0, 6, NL)};
    je_pool_use u[2];
    size_t n = fill(u, (const row[]){{"owner", 0, 0}, {"borrower", 0, 0}, {0}});
    je_pool_use *own = &u[0], *bor = &u[1];
#define ASK(who, cap)                                                                              \
    do {                                                                                           \
        (who)->demand += 1;                                                                        \
        je_pool_cap c_ = je_pool_decide(&p, sh, 1, u, n, (who)->tenant_id, T10);                   \
        assert_int_equal(c_, (cap));                                                               \
        if (c_ == JE_POOL_OK) (who)->active += 1;                                                  \
        (who)->demand -= 1;                                                                        \
    } while (0)
    for (int i = 0; i < 10; i++) ASK(bor, JE_POOL_OK); /* the idle reserve is lent */
    ASK(bor, JE_POOL_CAP_TOTAL);
    own->demand = 3; /* the owner's work returns: nothing running is preempted */
    ASK(own, JE_POOL_CAP_TOTAL);
    assert_true(bor->active == 10);
    bor->active -= 1; /* the first slot that frees up is the owner's */
    ASK(bor, JE_POOL_CAP_RESERVED);
    own->demand -= 1;
    ASK(own, JE_POOL_OK);
    bor->active -= 2;
    ASK(bor, JE_POOL_CAP_RESERVED);
    own->demand -= 1;
    ASK(own, JE_POOL_OK);
    ASK(bor, JE_POOL_CAP_RESERVED);
    own->demand -= 1;
    ASK(own, JE_POOL_OK);
    assert_true(own->active == 3 && own->demand == 0 && bor->active == 7);
    ASK(bor, JE_POOL_CAP_TOTAL);
    bor->active -= 1; /* the owner's demand met: the borrower may take it again */
    ASK(bor, JE_POOL_OK);
    /* within its reserve the owner is owed; beyond it, it competes like anyone */
    own->demand = 5;
    bor->active -= 1;
    ASK(bor, JE_POOL_CAP_RESERVED);
    for (int i = 0; i < 3; i++) {
        own->demand -= 1;
        ASK(own, JE_POOL_OK);
        bor->active -= 1;
    }
    assert_true(own->active == 6 && own->demand == 2);
    ASK(bor, JE_POOL_OK);
#undef ASK
}

static void test_unlisted_defaults(void **state) {
    (void)state;
    je_pool_share sh[] = {share("a", 2.5, 7, 3, 4)};
    je_pool_share s = je_pool_share_of(sh, 1, "a");
    assert_true(s.weight == 2.5 && s.tier == 7 && s.reserved == 3 && s.max_active == 4);
    s = je_pool_share_of(sh, 1, "zed");
    assert_string_equal(s.tenant_id, "zed");
    assert_true(s.weight == 1.0 && s.tier == 0 && s.reserved == 0 && s.max_active == NL);
    s = je_pool_share_of(NULL, 0, "a");
    assert_true(s.weight == 1.0 && s.max_active == NL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_proportional),
        cmocka_unit_test(test_proportional_binary_weights),
        cmocka_unit_test(test_priority),
        cmocka_unit_test(test_reserved),
        cmocka_unit_test(test_max_limit),
        cmocka_unit_test(test_unlimited),
        cmocka_unit_test(test_total_and_hourly),
        cmocka_unit_test(test_reserved_lend_and_reclaim),
        cmocka_unit_test(test_unlisted_defaults),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
