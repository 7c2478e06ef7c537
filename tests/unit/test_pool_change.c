/* tests/unit/test_pool_change.c: what a change of a capacity pool does (core/pool_change.h,
 * api.md "Pools"): create, replace (the hour's counters carry over, the version moves), a PUT of
 * what is there already (nothing stored, no event; shares are a set kept by tenant), If-Match
 * (stale, *, none, on a missing pool), delete (of a missing pool too), and validation passing
 * through with the field named. A refusal leaves the record as it was. Time is plain int64 ms. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "core/pool_change.h"

#define T10 1795860000000LL /* 2026-11-28T10:00:00.000Z */
#define NOW (T10 + 754321)  /* 10:12:34.321 */
#define NL JE_POOL_NO_LIMIT

static je_pool_share share(const char *tenant, double weight, int64_t tier, int64_t reserved,
                           int64_t max_active) {
    je_pool_share s;
    memset(&s, 0, sizeof s);
    strcpy(s.tenant_id, tenant);
    s.weight = weight;
    s.tier = tier;
    s.reserved = reserved;
    s.max_active = max_active;
    return s;
}

/* The shares every request below sends unless it says otherwise. */
static je_pool_share shares2[2];

static int setup(void **state) {
    (void)state;
    shares2[0] = share("acme", 2, 1, 3, 6);
    shares2[1] = share("globex", 1, 0, 2, NL);
    return 0;
}

/* A PUT of render: reserved, 10 active, 500 an hour, shares2, by "bob" with a reason and ticket. */
static je_pool_change_req put(void) {
    je_pool_change_req q;
    memset(&q, 0, sizeof q);
    q.op = JE_POOL_PUT;
    q.if_match = JE_IF_MATCH_NONE;
    strcpy(q.settings.job_type, "render");
    q.settings.strategy = JE_POOL_RESERVED;
    q.settings.max_active = 10;
    q.settings.max_per_hour = 500;
    q.shares = shares2;
    q.n_shares = 2;
    q.actor = "bob";
    q.reason = "capacity plan Q4";
    q.ticket = "CAP-7";
    return q;
}

static je_pool_change_req del(void) {
    je_pool_change_req q = put();
    q.op = JE_POOL_DELETE;
    q.shares = NULL;
    q.n_shares = 0;
    return q;
}

/* What the store hands over when no pool is stored: zeroed. */
static je_pool_record *missing(void) {
    je_pool_record *r = calloc(1, sizeof *r);
    assert_non_null(r);
    return r;
}

/* render as stored: version 4, created at 09:00 by "alice", the put() settings, and this hour's
 * counters (37 grants, 5 refusals since 10:00). */
static je_pool_record *existing(void) {
    je_pool_record *r = missing();
    je_pool_change_req q = put();
    r->pool = q.settings;
    r->pool.hour_start_ms = T10;
    r->pool.hour_count = 37;
    r->pool.throttled = 5;
    memcpy(r->shares, shares2, sizeof shares2);
    r->n_shares = 2;
    r->version = 4;
    r->created_ms = r->updated_ms = T10 - 3600000;
    strcpy(r->created_by, "alice");
    strcpy(r->updated_by, "alice");
    strcpy(r->last_reason, "first plan");
    return r;
}

static je_pool_outcome apply(const je_pool_change_req *q, je_pool_record *r, int exists) {
    je_pool_outcome o;
    memset(&o, 0x5a, sizeof o); /* whatever was there before */
    je_pool_apply(q, r, exists, NOW, &o);
    return o;
}

/* A refusal with code and field, no event, and the record left exactly as it was. */
static void assert_refused(const je_pool_outcome *o, const char *code, const char *field,
                           const je_pool_record *before, const je_pool_record *after) {
    assert_int_equal(o->verdict, JE_POOL_REFUSED);
    assert_null(o->event_type);
    assert_string_equal(o->refusal.code, code);
    assert_string_equal(o->refusal.field, field);
    assert_true(o->refusal.message[0] != '\0');
    assert_memory_equal(before, after, sizeof *before);
}

/* The stamp of a change by "bob" at NOW. */
static void assert_stamped(const je_pool_record *r, const char *reason, const char *ticket) {
    assert_true(r->updated_ms == NOW);
    assert_string_equal(r->updated_by, "bob");
    assert_string_equal(r->last_reason, reason);
    assert_string_equal(r->last_ticket, ticket);
}

static void test_create(void **state) {
    (void)state;
    je_pool_record *r = missing();
    je_pool_change_req q = put();
    je_pool_outcome o = apply(&q, r, 0);
    assert_int_equal(o.verdict, JE_POOL_CREATED);
    assert_string_equal(o.event_type, "pool.created");
    assert_null(o.refusal.code);
    assert_string_equal(r->pool.job_type, "render");
    assert_int_equal(r->pool.strategy, JE_POOL_RESERVED);
    assert_true(r->pool.max_active == 10 && r->pool.max_per_hour == 500);
    /* a new pool counts from the start of the current UTC hour, from nothing */
    assert_true(r->pool.hour_start_ms == T10);
    assert_true(r->pool.hour_count == 0 && r->pool.throttled == 0);
    assert_int_equal(r->n_shares, 2);
    assert_memory_equal(r->shares, shares2, sizeof shares2);
    assert_true(r->version == 1);
    assert_true(r->created_ms == NOW);
    assert_string_equal(r->created_by, "bob");
    assert_stamped(r, "capacity plan Q4", "CAP-7");
    free(r);
}

static void test_create_without_ticket_or_shares(void **state) {
    (void)state;
    je_pool_record *r = missing();
    je_pool_change_req q = put();
    q.settings.strategy = JE_POOL_UNLIMITED;
    q.settings.max_per_hour = NL;
    q.shares = NULL;
    q.n_shares = 0;
    q.ticket = NULL;
    je_pool_outcome o = apply(&q, r, 0);
    assert_int_equal(o.verdict, JE_POOL_CREATED);
    assert_int_equal(r->n_shares, 0);
    assert_true(r->pool.max_per_hour == NL);
    assert_stamped(r, "capacity plan Q4", "");
    free(r);
}

static void test_replace_keeps_the_hour_and_bumps_the_version(void **state) {
    (void)state;
    je_pool_record *r = existing();
    je_pool_change_req q = put();
    je_pool_share one[1] = {share("initech", 1, 0, 4, 8)};
    q.settings.strategy = JE_POOL_MAX_LIMIT;
    q.settings.max_active = 12;
    q.settings.max_per_hour = NL;
    q.shares = one;
    q.n_shares = 1;
    q.reason = "more nodes";
    q.ticket = "CAP-8";
    je_pool_outcome o = apply(&q, r, 1);
    assert_int_equal(o.verdict, JE_POOL_REPLACED);
    assert_string_equal(o.event_type, "pool.updated");
    assert_null(o.refusal.code);
    assert_int_equal(r->pool.strategy, JE_POOL_MAX_LIMIT);
    assert_true(r->pool.max_active == 12 && r->pool.max_per_hour == NL);
    /* the hour's grants and refusals were counted against the pool, not its settings */
    assert_true(r->pool.hour_start_ms == T10);
    assert_true(r->pool.hour_count == 37 && r->pool.throttled == 5);
    /* the shares are replaced as a whole: globex's terms are gone */
    assert_int_equal(r->n_shares, 1);
    assert_string_equal(r->shares[0].tenant_id, "initech");
    assert_true(r->shares[0].reserved == 4 && r->shares[0].max_active == 8);
    assert_true(r->version == 5);
    assert_true(r->created_ms == T10 - 3600000);
    assert_string_equal(r->created_by, "alice");
    assert_stamped(r, "more nodes", "CAP-8");
    free(r);
}

static void test_replace_changing_one_share_member(void **state) {
    (void)state;
    /* each member of a share is part of the settings: changing only one is a change */
    static const size_t members = 4;
    for (size_t m = 0; m < members; m++) {
        je_pool_record *r = existing();
        je_pool_share s[2] = {shares2[0], shares2[1]};
        if (m == 0) s[1].weight = 1.5;
        if (m == 1) s[1].tier = -1;
        if (m == 2) s[1].reserved = 1;
        if (m == 3) s[1].max_active = 4;
        je_pool_change_req q = put();
        q.shares = s;
        je_pool_outcome o = apply(&q, r, 1);
        assert_int_equal(o.verdict, JE_POOL_REPLACED);
        assert_true(r->version == 5);
        free(r);
    }
}

static void test_unchanged_put_stores_nothing(void **state) {
    (void)state;
    je_pool_record *r = existing();
    je_pool_record *before = existing();
    je_pool_change_req q = put();
    q.reason = "another reason"; /* the justification is no setting */
    q.ticket = NULL;
    je_pool_outcome o = apply(&q, r, 1);
    assert_int_equal(o.verdict, JE_POOL_UNCHANGED);
    assert_null(o.event_type);
    assert_null(o.refusal.code);
    assert_memory_equal(before, r, sizeof *r); /* version, stamp and counters as they were */
    /* with If-Match of the current version or * it is unchanged too */
    q.if_match = 4;
    assert_int_equal(apply(&q, r, 1).verdict, JE_POOL_UNCHANGED);
    q.if_match = JE_IF_MATCH_ANY;
    assert_int_equal(apply(&q, r, 1).verdict, JE_POOL_UNCHANGED);
    assert_memory_equal(before, r, sizeof *r);
    free(r);
    free(before);
}

static void test_shares_are_a_set_kept_by_tenant(void **state) {
    (void)state;
    /* the store keeps and shows shares by tenant id: a PUT listing the same shares in another
     * order is the same settings, not a change */
    je_pool_record *r = existing();
    je_pool_record *before = existing();
    je_pool_share swapped[2] = {shares2[1], shares2[0]};
    je_pool_change_req q = put();
    q.shares = swapped;
    je_pool_outcome o = apply(&q, r, 1);
    assert_int_equal(o.verdict, JE_POOL_UNCHANGED);
    assert_null(o.event_type);
    assert_memory_equal(before, r, sizeof *r);
    /* a change stores them sorted by tenant id in byte order ("Zeta" before "acme") */
    je_pool_share three[3] = {share("globex", 1, 0, 0, NL), share("acme", 1, 0, 0, NL),
                              share("Zeta", 1, 0, 0, NL)};
    q.shares = three;
    q.n_shares = 3;
    o = apply(&q, r, 1);
    assert_int_equal(o.verdict, JE_POOL_REPLACED);
    assert_int_equal(r->n_shares, 3);
    assert_string_equal(r->shares[0].tenant_id, "Zeta");
    assert_string_equal(r->shares[1].tenant_id, "acme");
    assert_string_equal(r->shares[2].tenant_id, "globex");
    /* and the same three again, in yet another order: unchanged */
    je_pool_share again[3] = {three[2], three[0], three[1]};
    q.shares = again;
    assert_int_equal(apply(&q, r, 1).verdict, JE_POOL_UNCHANGED);
    assert_true(r->version == 5);
    /* a share that differs in one member is still a change whatever the order */
    again[1].weight = 3;
    assert_int_equal(apply(&q, r, 1).verdict, JE_POOL_REPLACED);
    assert_true(r->version == 6 && r->shares[2].weight == 3);
    free(r);
    free(before);
}

static void test_if_match(void **state) {
    (void)state;
    je_pool_record *before = existing();
    /* stale: refused on PUT and DELETE, nothing changes */
    int64_t stale[] = {3, 5, 0};
    for (size_t i = 0; i < sizeof stale / sizeof stale[0]; i++) {
        je_pool_record *r = existing();
        je_pool_change_req q = put();
        q.settings.max_active = 20;
        q.if_match = stale[i];
        je_pool_outcome o = apply(&q, r, 1);
        assert_refused(&o, "VERSION_MISMATCH", "If-Match", before, r);
        assert_non_null(strstr(o.refusal.message, "4")); /* says the current version */
        q = del();
        q.if_match = stale[i];
        o = apply(&q, r, 1);
        assert_refused(&o, "VERSION_MISMATCH", "If-Match", before, r);
        free(r);
    }
    /* the current version, *, and none are admitted */
    int64_t admitted[] = {4, JE_IF_MATCH_ANY, JE_IF_MATCH_NONE};
    for (size_t i = 0; i < sizeof admitted / sizeof admitted[0]; i++) {
        je_pool_record *r = existing();
        je_pool_change_req q = put();
        q.settings.max_active = 20;
        q.if_match = admitted[i];
        je_pool_outcome o = apply(&q, r, 1);
        assert_int_equal(o.verdict, JE_POOL_REPLACED);
        assert_true(r->version == 5 && r->pool.max_active == 20);
        free(r);
        r = existing();
        q = del();
        q.if_match = admitted[i];
        assert_int_equal(apply(&q, r, 1).verdict, JE_POOL_DELETED);
        free(r);
    }
    /* a version given for a pool that does not exist cannot match */
    je_pool_record *r = missing();
    je_pool_record *none = missing();
    je_pool_change_req q = put();
    q.if_match = 1;
    je_pool_outcome o = apply(&q, r, 0);
    assert_refused(&o, "VERSION_MISMATCH", "If-Match", none, r);
    free(r);
    free(none);
    free(before);
}

static void test_if_match_before_validation(void **state) {
    (void)state;
    /* a stale If-Match is what the caller hears about first, even with bad settings */
    je_pool_record *r = existing();
    je_pool_record *before = existing();
    je_pool_change_req q = put();
    q.settings.max_active = 0;
    q.if_match = 2;
    je_pool_outcome o = apply(&q, r, 1);
    assert_refused(&o, "VERSION_MISMATCH", "If-Match", before, r);
    free(r);
    free(before);
}

static void test_delete(void **state) {
    (void)state;
    je_pool_record *r = existing();
    je_pool_record *before = existing();
    je_pool_change_req q = del();
    je_pool_outcome o = apply(&q, r, 1);
    assert_int_equal(o.verdict, JE_POOL_DELETED);
    assert_string_equal(o.event_type, "pool.deleted");
    assert_null(o.refusal.code);
    /* the record stays as it was: the audit's "before" and the store's delete read it */
    assert_memory_equal(before, r, sizeof *r);
    free(r);
    free(before);
}

static void test_delete_of_a_missing_pool(void **state) {
    (void)state;
    int64_t matches[] = {JE_IF_MATCH_NONE, JE_IF_MATCH_ANY, 1};
    for (size_t i = 0; i < sizeof matches / sizeof matches[0]; i++) {
        je_pool_record *r = missing();
        je_pool_record *none = missing();
        je_pool_change_req q = del();
        q.if_match = matches[i];
        je_pool_outcome o = apply(&q, r, 0);
        /* 404 whatever If-Match says: there is nothing to match */
        assert_refused(&o, "NOT_FOUND", "", none, r);
        free(r);
        free(none);
    }
}

static void test_if_match_on_a_missing_pool_creates_nothing(void **state) {
    (void)state;
    int64_t matches[] = {JE_IF_MATCH_ANY, 1};
    for (size_t i = 0; i < sizeof matches / sizeof matches[0]; i++) {
        je_pool_record *r = missing();
        je_pool_record *none = missing();
        je_pool_change_req q = put();
        q.if_match = matches[i];
        je_pool_outcome o = apply(&q, r, 0);
        assert_refused(&o, "VERSION_MISMATCH", "If-Match", none, r);
        free(r);
        free(none);
    }
}

static void test_validation_passes_through(void **state) {
    (void)state;
    static const struct {
        int what;
        const char *field;
    } cases[] = {
        {0, "maxActive"},          {1, "maxPerHour"},          {2, "strategy"},
        {3, "shares[1].reserved"}, {4, "shares[1].tenantId"},  {5, "shares[0].weight"},
        {6, "shares[0].tier"},     {7, "shares[1].maxActive"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        for (int exists = 0; exists <= 1; exists++) {
            je_pool_record *r = exists ? existing() : missing();
            je_pool_record *before = exists ? existing() : missing();
            je_pool_share s[2] = {shares2[0], shares2[1]};
            je_pool_change_req q = put();
            q.shares = s;
            switch (cases[i].what) {
            case 0:
                q.settings.max_active = 0;
                break;
            case 1:
                q.settings.max_per_hour = 0;
                break;
            case 2:
                q.settings.strategy = (je_pool_strategy)JE_POOL_STRATEGY_COUNT;
                break;
            case 3:
                s[1].reserved = 8;
                break; /* 3 + 8 > 10 */
            case 4:
                strcpy(s[1].tenant_id, "acme");
                break;
            case 5:
                s[0].weight = 0;
                break;
            case 6:
                s[0].tier = 1001;
                break;
            case 7:
                s[1].max_active = 11;
                break;
            }
            je_pool_outcome o = apply(&q, r, exists);
            assert_refused(&o, "VALIDATION_FAILED", cases[i].field, before, r);
            free(r);
            free(before);
        }
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create),
        cmocka_unit_test(test_create_without_ticket_or_shares),
        cmocka_unit_test(test_replace_keeps_the_hour_and_bumps_the_version),
        cmocka_unit_test(test_replace_changing_one_share_member),
        cmocka_unit_test(test_unchanged_put_stores_nothing),
        cmocka_unit_test(test_shares_are_a_set_kept_by_tenant),
        cmocka_unit_test(test_if_match),
        cmocka_unit_test(test_if_match_before_validation),
        cmocka_unit_test(test_delete),
        cmocka_unit_test(test_delete_of_a_missing_pool),
        cmocka_unit_test(test_if_match_on_a_missing_pool_creates_nothing),
        cmocka_unit_test(test_validation_passes_through),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
