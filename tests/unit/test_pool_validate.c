/* tests/unit/test_pool_validate.c: je_pool_validate (core/pool.h) refuses each bad setting of a
 * pool with VALIDATION_FAILED naming the field as the API spells it, and accepts the bounds. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/pool.h"

#define NL JE_POOL_NO_LIMIT

typedef struct setup {
    je_pool p;
    je_pool_share s[3];
} setup;

/* A valid pool of 10 with three shares; reserves 3 + 2 + 0. */
static setup valid(void) {
    setup v;
    memset(&v, 0, sizeof v);
    strcpy(v.p.job_type, "render");
    v.p.strategy = JE_POOL_RESERVED;
    v.p.max_active = 10;
    v.p.max_per_hour = NL;
    const char *ids[] = {"acme", "beta.corp", "c-3"};
    for (int i = 0; i < 3; i++) {
        strcpy(v.s[i].tenant_id, ids[i]);
        v.s[i].weight = 1;
        v.s[i].max_active = NL;
    }
    v.s[0].reserved = 3;
    v.s[1].reserved = 2;
    return v;
}

static void assert_valid(const setup *v) {
    je_err err;
    memset(&err, 0, sizeof err);
    if (je_pool_validate(&v->p, v->s, 3, &err) != 0)
        fail_msg("refused: %s (%s)", err.message, err.field);
}

static void assert_refused(const setup *v, size_t n, const char *field) {
    je_err err;
    memset(&err, 0, sizeof err);
    assert_int_equal(je_pool_validate(&v->p, v->s, n, &err), -1);
    assert_string_equal(err.code, "VALIDATION_FAILED");
    assert_string_equal(err.field, field);
    assert_true(strlen(err.message) > 0);
}

static void test_bounds_accepted(void **state) {
    (void)state;
    setup v = valid();
    assert_valid(&v);
    for (int s = 0; s < JE_POOL_STRATEGY_COUNT; s++) {
        v.p.strategy = (je_pool_strategy)s;
        assert_valid(&v);
    }
    v.p.max_active = 1000000000LL;
    v.p.max_per_hour = 1000000000000LL;
    assert_valid(&v);
    v = valid();
    v.p.max_per_hour = 1;
    v.s[0].tier = 1000, v.s[1].tier = -1000;
    v.s[0].reserved = 8; /* 8 + 2 = maxActive */
    v.s[0].max_active = 10, v.s[1].max_active = 1;
    v.s[2].weight = 1e-9;
    memset(v.s[2].tenant_id, 'x', 64); /* 64 characters: the longest tenant id */
    assert_valid(&v);
    je_err err;
    assert_int_equal(je_pool_validate(&v.p, NULL, 0, &err), 0);
}

static void test_pool_fields(void **state) {
    (void)state;
    setup v = valid();
    v.p.strategy = (je_pool_strategy)JE_POOL_STRATEGY_COUNT;
    assert_refused(&v, 3, "strategy");
    int64_t bad_max[] = {0, -1, 1000000001LL};
    for (size_t i = 0; i < 3; i++) {
        v = valid();
        v.p.max_active = bad_max[i];
        assert_refused(&v, 3, "maxActive");
    }
    int64_t bad_hour[] = {0, -2, 1000000000001LL};
    for (size_t i = 0; i < 3; i++) {
        v = valid();
        v.p.max_per_hour = bad_hour[i];
        assert_refused(&v, 3, "maxPerHour");
    }
    static je_pool_share many[JE_POOL_MAX_SHARES + 1];
    for (size_t i = 0; i < JE_POOL_MAX_SHARES + 1; i++) {
        snprintf(many[i].tenant_id, sizeof many[i].tenant_id, "t%zu", i);
        many[i].weight = 1;
        many[i].max_active = NL;
    }
    v = valid();
    v.p.max_active = 1000;
    je_err err;
    assert_int_equal(je_pool_validate(&v.p, many, JE_POOL_MAX_SHARES, &err), 0);
    assert_int_equal(je_pool_validate(&v.p, many, JE_POOL_MAX_SHARES + 1, &err), -1);
    assert_string_equal(err.field, "shares");
}

static void test_share_fields(void **state) {
    (void)state;
    const char *bad_ids[] = {"", "-acme", "ac me", "acme/x", "ac:me", ".x"};
    for (size_t i = 0; i < sizeof bad_ids / sizeof bad_ids[0]; i++) {
        setup v = valid();
        strcpy(v.s[1].tenant_id, bad_ids[i]);
        assert_refused(&v, 3, "shares[1].tenantId");
    }
    setup v = valid();
    memset(v.s[1].tenant_id, 'x', 65); /* 65 characters, no room for more in the struct */
    assert_refused(&v, 3, "shares[1].tenantId");
    v = valid();
    strcpy(v.s[2].tenant_id, "acme"); /* listed twice: the second is named */
    assert_refused(&v, 3, "shares[2].tenantId");

    double bad_w[] = {0, -1, NAN, INFINITY};
    for (size_t i = 0; i < 4; i++) {
        v = valid();
        v.s[2].weight = bad_w[i];
        assert_refused(&v, 3, "shares[2].weight");
    }
    int64_t bad_tier[] = {1001, -1001};
    for (size_t i = 0; i < 2; i++) {
        v = valid();
        v.s[0].tier = bad_tier[i];
        assert_refused(&v, 3, "shares[0].tier");
    }
    v = valid();
    v.s[1].reserved = -1;
    assert_refused(&v, 3, "shares[1].reserved");
    v = valid();
    v.s[0].reserved = 11;
    assert_refused(&v, 3, "shares[0].reserved");
    v = valid();
    v.s[0].reserved = 5, v.s[1].reserved = 4, v.s[2].reserved = 2; /* 11 > 10 at the third */
    assert_refused(&v, 3, "shares[2].reserved");
    int64_t bad_cap[] = {0, -2, 11};
    for (size_t i = 0; i < 3; i++) {
        v = valid();
        v.s[1].max_active = bad_cap[i];
        assert_refused(&v, 3, "shares[1].maxActive");
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bounds_accepted),
        cmocka_unit_test(test_pool_fields),
        cmocka_unit_test(test_share_fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
