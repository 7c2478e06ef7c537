/* tests/unit/test_quota_change.c: what a change of a quota does (core/quota_change.h, api.md
 * §3.3): If-Match, create / update (permanent or a temporary elevation) / delete / pause /
 * resume, the verdict and audit event of each outcome, the refusals in the contract's order
 * (exists, If-Match, policy ceiling, decrease safety), and the stamp a change leaves on the
 * record. Time is plain int64 ms; ids are passed in. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "core/quota_change.h"

#define T10 1795860000000LL /* 2026-11-28T10:00:00.000Z */
#define NOW (T10 + 120000)  /* 10:02 */
#define NEW_ID "0190b000-0000-7000-8000-00000000000a"

/* The global default ceilings (api.md §3.3). */
static const je_quota_limits ceiling = {1000, 1000000, 10000, 1000};

static je_quota_limits lim(int64_t max_active, int64_t per_hour, int64_t burst, double refill) {
    je_quota_limits l = {max_active, per_hour, burst, refill};
    return l;
}

/* An existing quota "q-1" of acme/scan, version 3, created at 09:00 by "alice": maxActive 10,
 * maxPerHour 1000, burst 50, refill 0.5, 4 active, 20 tokens. */
static je_quota_record existing(void) {
    je_quota_record r;
    memset(&r, 0, sizeof r);
    strcpy(r.quota_id, "q-1");
    strcpy(r.tenant_id, "acme");
    strcpy(r.job_type, "scan");
    je_quota_limits l = lim(10, 1000, 50, 0.5);
    je_quota_init(&r.q, &l, T10 - 3600000);
    r.q.state.active = 4;
    r.q.state.tokens = 20;
    r.q.state.last_refill_ms = NOW;
    r.version = 3;
    r.created_ms = r.updated_ms = T10 - 3600000;
    strcpy(r.created_by, "alice");
    strcpy(r.updated_by, "alice");
    strcpy(r.last_reason, "initial setup");
    return r;
}

/* What the store hands over when no quota was found: zeroed but for tenant_id. */
static je_quota_record missing(void) {
    je_quota_record r;
    memset(&r, 0, sizeof r);
    strcpy(r.tenant_id, "acme");
    return r;
}

static je_quota_request request(je_quota_op op) {
    je_quota_request q;
    memset(&q, 0, sizeof q);
    q.op = op;
    q.expires_ms = JE_NO_TIME;
    q.if_match = JE_IF_MATCH_NONE;
    q.actor = "bob";
    q.reason = "INC-7 traffic spike";
    q.ticket = "OPS-42";
    return q;
}

/* An update of the fields given (has[i] set for each). */
static je_quota_request update(int64_t max_active, int64_t per_hour, int64_t burst, double refill,
                               int h0, int h1, int h2, int h3) {
    je_quota_request q = request(JE_QUOTA_UPDATE);
    q.limits = lim(max_active, per_hour, burst, refill);
    q.has[0] = h0, q.has[1] = h1, q.has[2] = h2, q.has[3] = h3;
    return q;
}

static je_quota_outcome apply(const je_quota_request *q, je_quota_record *r, int exists) {
    je_quota_outcome o;
    memset(&o, 0x5a, sizeof o); /* whatever was there before */
    je_quota_apply(q, r, exists, &ceiling, NEW_ID, NOW, &o);
    return o;
}

/* A refusal with its audit event, naming quota_id (NULL: none), that left the record alone. */
static void assert_refused(const je_quota_outcome *o, const char *code, const char *field,
                           const char *quota_id, const je_quota_record *before,
                           const je_quota_record *after) {
    assert_int_equal(o->verdict, JE_QUOTA_REFUSED);
    assert_string_equal(o->refusal.code, code);
    assert_string_equal(o->refusal.field, field);
    assert_true(o->refusal.message[0] != '\0');
    assert_string_equal(o->event_type, "quota.change.denied");
    if (quota_id)
        assert_string_equal(o->quota_id, quota_id);
    else
        assert_null(o->quota_id);
    if (before) assert_memory_equal(before, after, sizeof *before);
}

/* The stamp of a change by "bob" at NOW with the request's reason and ticket. */
static void assert_stamped(const je_quota_record *r, int64_t version) {
    assert_true(r->version == version);
    assert_true(r->updated_ms == NOW);
    assert_string_equal(r->updated_by, "bob");
    assert_string_equal(r->last_reason, "INC-7 traffic spike");
    assert_string_equal(r->last_ticket, "OPS-42");
}

static void test_if_match(void **state) {
    (void)state;
    assert_true(je_if_match_admits(JE_IF_MATCH_NONE, 3));
    assert_true(je_if_match_admits(JE_IF_MATCH_ANY, 3));
    assert_true(je_if_match_admits(JE_IF_MATCH_NONE, 0));
    assert_true(je_if_match_admits(JE_IF_MATCH_ANY, 1));
    assert_true(je_if_match_admits(3, 3));
    assert_false(je_if_match_admits(2, 3));
    assert_false(je_if_match_admits(4, 3));
    assert_false(je_if_match_admits(0, 3));
    assert_true(je_if_match_admits(1, 1));
}

static void test_create(void **state) {
    (void)state;
    je_quota_record r = missing();
    je_quota_request q = request(JE_QUOTA_CREATE);
    q.job_type = "scan";
    q.limits = lim(10, 1000, 50, 0.5);
    je_quota_outcome o = apply(&q, &r, 0);
    assert_int_equal(o.verdict, JE_QUOTA_APPLIED);
    assert_string_equal(o.event_type, "quota.created");
    assert_string_equal(o.quota_id, NEW_ID);
    assert_int_equal(o.ceiling_hit, 0);
    assert_null(o.refusal.code);
    assert_string_equal(r.quota_id, NEW_ID);
    assert_string_equal(r.tenant_id, "acme");
    assert_string_equal(r.job_type, "scan");
    assert_true(r.q.limits.max_active == 10 && r.q.limits.max_per_hour == 1000);
    assert_true(r.q.limits.burst_capacity == 50 && r.q.limits.refill_per_second == 0.5);
    assert_true(r.q.state.tokens == 50.0); /* a full bucket */
    assert_true(r.q.state.last_refill_ms == NOW);
    assert_true(r.q.state.active == 0 && r.q.state.hour_count == 0);
    assert_true(r.q.state.hour_start_ms == T10);
    assert_false(r.q.paused);
    assert_true(r.q.elevation_expires_ms == JE_NO_TIME);
    assert_true(r.created_ms == NOW);
    assert_string_equal(r.created_by, "bob");
    assert_stamped(&r, 1);
    assert_string_equal(r.pause_reason, "");
    /* without a ticket: none recorded */
    je_quota_record r2 = missing();
    q.ticket = NULL;
    o = apply(&q, &r2, 0);
    assert_int_equal(o.verdict, JE_QUOTA_APPLIED);
    assert_string_equal(r2.last_ticket, "");
}

static void test_create_refusals(void **state) {
    (void)state;
    /* exists: QUOTA_EXISTS on jobType, naming no quota, even when the limits are over the
     * ceiling too (existence comes first) */
    je_quota_record r = existing(), before = r;
    je_quota_request q = request(JE_QUOTA_CREATE);
    q.job_type = "scan";
    q.limits = lim(5000, 1000, 50, 0.5);
    je_quota_outcome o = apply(&q, &r, 1);
    assert_refused(&o, "QUOTA_EXISTS", "jobType", NULL, &before, &r);
    assert_int_equal(o.ceiling_hit, 0);
    /* over the ceiling: QUOTA_POLICY_VIOLATION with the values */
    je_quota_record m = missing();
    o = apply(&q, &m, 0);
    assert_int_equal(o.verdict, JE_QUOTA_REFUSED);
    assert_string_equal(o.refusal.code, "QUOTA_POLICY_VIOLATION");
    assert_string_equal(o.refusal.field, "maxActive");
    assert_string_equal(o.event_type, "quota.change.denied");
    assert_int_equal(o.ceiling_hit, 1);
    assert_true(o.requested == 5000 && o.ceiling == 1000);
    assert_true(o.quota_id == NULL || o.quota_id[0] == '\0'); /* no quota came to be */
    assert_true(m.version == 0);
    assert_string_not_equal(m.quota_id, NEW_ID);
    /* refill is compared as a number too */
    q.limits = lim(10, 1000, 50, 1000.5);
    m = missing();
    o = apply(&q, &m, 0);
    assert_string_equal(o.refusal.field, "refillPerSecond");
    assert_true(o.requested == 1000.5 && o.ceiling == 1000);
    /* exactly at every ceiling: created */
    q.limits = ceiling;
    m = missing();
    o = apply(&q, &m, 0);
    assert_int_equal(o.verdict, JE_QUOTA_APPLIED);
    assert_true(m.q.state.tokens == 10000.0);
}

/* Not found: NOT_FOUND with no audit event and no quota named, before If-Match is looked at. */
static void test_not_found(void **state) {
    (void)state;
    const je_quota_op ops[] = {JE_QUOTA_UPDATE, JE_QUOTA_DELETE, JE_QUOTA_PAUSE, JE_QUOTA_RESUME};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        je_quota_record r = missing(), before = r;
        je_quota_request q = request(ops[i]);
        q.if_match = 7;
        q.limits = lim(5000, 1, 1, 1);
        q.has[0] = 1;
        je_quota_outcome o = apply(&q, &r, 0);
        assert_int_equal(o.verdict, JE_QUOTA_REFUSED);
        assert_string_equal(o.refusal.code, "NOT_FOUND");
        assert_null(o.event_type);
        assert_null(o.quota_id);
        assert_int_equal(o.ceiling_hit, 0);
        assert_memory_equal(&before, &r, sizeof r);
    }
}

/* If-Match that does not match the version: VERSION_MISMATCH on If-Match, for every op that
 * honours it, before the ceiling and decrease checks; "*" and a matching version pass. */
static void test_version_mismatch(void **state) {
    (void)state;
    const je_quota_op ops[] = {JE_QUOTA_UPDATE, JE_QUOTA_DELETE, JE_QUOTA_PAUSE, JE_QUOTA_RESUME};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        je_quota_record r = existing(), before = r;
        je_quota_request q = request(ops[i]);
        q.if_match = 2;
        q.limits = lim(5000, 1, 1, 1); /* over the ceiling and below usage as well */
        q.has[0] = 1;
        je_quota_outcome o = apply(&q, &r, 1);
        assert_refused(&o, "VERSION_MISMATCH", "If-Match", "q-1", &before, &r);
        assert_int_equal(o.ceiling_hit, 0);
    }
    je_quota_record r = existing();
    je_quota_request q = update(20, 0, 0, 0, 1, 0, 0, 0);
    q.if_match = 3;
    assert_int_equal(apply(&q, &r, 1).verdict, JE_QUOTA_APPLIED);
    q.if_match = JE_IF_MATCH_ANY;
    q.limits.max_active = 21; /* the same 20 again would change nothing */
    assert_int_equal(apply(&q, &r, 1).verdict, JE_QUOTA_APPLIED);
    q.if_match = 3; /* the version moved on to 5 */
    je_quota_outcome o = apply(&q, &r, 1);
    assert_string_equal(o.refusal.code, "VERSION_MISMATCH");
}

/* An update that changes nothing leaves the record as it was: no version, no stamp, no audit
 * event; one that ends a running elevation, or asks for one, is a change. */
static void test_update_unchanged(void **state) {
    (void)state;
    je_quota_record r = existing(), before = r;
    je_quota_request none = update(0, 0, 0, 0, 0, 0, 0, 0);
    je_quota_outcome o = apply(&none, &r, 1);
    assert_int_equal(o.verdict, JE_QUOTA_UNCHANGED);
    assert_null(o.event_type);
    assert_memory_equal(&r, &before, sizeof r);
    je_quota_request same = update(10, 1000, 50, 0.5, 1, 1, 1, 1);
    assert_int_equal(apply(&same, &r, 1).verdict, JE_QUOTA_UNCHANGED);
    assert_memory_equal(&r, &before, sizeof r);
    je_quota_request other = update(10, 1000, 50, 0.25, 1, 1, 1, 1);
    assert_int_equal(apply(&other, &r, 1).verdict, JE_QUOTA_APPLIED);
    assert_int_equal(r.version, 4);
    je_quota_record e = existing();
    je_quota_request up = update(20, 0, 0, 0, 1, 0, 0, 0);
    up.expires_ms = NOW + 3600000;
    assert_int_equal(apply(&up, &e, 1).verdict, JE_QUOTA_APPLIED);   /* elevated to 20 */
    je_quota_request keep = update(20, 0, 0, 0, 1, 0, 0, 0);         /* same limits... */
    assert_int_equal(apply(&keep, &e, 1).verdict, JE_QUOTA_APPLIED); /* ...made permanent */
    assert_int_equal(e.q.elevation_expires_ms, JE_NO_TIME);
}

/* A permanent update changes only the fields given and stamps the record. */
static void test_update_permanent(void **state) {
    (void)state;
    je_quota_record r = existing();
    je_quota_request q = update(20, 0, 30, 0, 1, 0, 1, 0);
    je_quota_outcome o = apply(&q, &r, 1);
    assert_int_equal(o.verdict, JE_QUOTA_APPLIED);
    assert_string_equal(o.event_type, "quota.updated");
    assert_string_equal(o.quota_id, "q-1");
    assert_null(o.refusal.code);
    assert_true(r.q.limits.max_active == 20 && r.q.limits.burst_capacity == 30);
    assert_true(r.q.limits.max_per_hour == 1000 && r.q.limits.refill_per_second == 0.5);
    assert_true(r.q.elevation_expires_ms == JE_NO_TIME);
    assert_true(r.q.state.tokens == 20.0); /* under the new burst: kept */
    assert_true(r.q.state.active == 4);
    assert_stamped(&r, 4);
    assert_true(r.created_ms == T10 - 3600000); /* creation is history */
    assert_string_equal(r.created_by, "alice");
    assert_string_equal(r.quota_id, "q-1");
    /* lowering burst below the tokens clips them */
    q = update(0, 0, 5, 0, 0, 0, 1, 0);
    o = apply(&q, &r, 1);
    assert_int_equal(o.verdict, JE_QUOTA_APPLIED);
    assert_true(r.q.state.tokens == 5.0);
    assert_true(r.version == 5);
}

static void test_update_ceiling(void **state) {
    (void)state;
    je_quota_record r = existing(), before = r;
    je_quota_request q = update(0, 1000001, 0, 0, 0, 1, 0, 0);
    je_quota_outcome o = apply(&q, &r, 1);
    assert_refused(&o, "QUOTA_POLICY_VIOLATION", "maxPerHour", "q-1", &before, &r);
    assert_int_equal(o.ceiling_hit, 1);
    assert_true(o.requested == 1000001 && o.ceiling == 1000000);
    /* ceiling before decrease safety: maxActive 2 (below usage 4) with burst over the ceiling */
    q = update(2, 0, 10001, 0, 1, 0, 1, 0);
    o = apply(&q, &r, 1);
    assert_refused(&o, "QUOTA_POLICY_VIOLATION", "burstCapacity", "q-1", &before, &r);
    assert_true(o.requested == 10001 && o.ceiling == 10000);
    /* a temporary elevation is held to the ceiling as well */
    q = update(1001, 0, 0, 0, 1, 0, 0, 0);
    q.expires_ms = NOW + 3600000;
    o = apply(&q, &r, 1);
    assert_refused(&o, "QUOTA_POLICY_VIOLATION", "maxActive", "q-1", &before, &r);
    /* a refill exactly at the ceiling passes */
    q = update(0, 0, 0, 1000, 0, 0, 0, 1);
    o = apply(&q, &r, 1);
    assert_int_equal(o.verdict, JE_QUOTA_APPLIED);
    assert_true(r.q.limits.refill_per_second == 1000);
}

static void test_update_decrease_below_usage(void **state) {
    (void)state;
    je_quota_record r = existing(), before = r; /* 4 active */
    je_quota_request q = update(3, 0, 0, 0, 1, 0, 0, 0);
    je_quota_outcome o = apply(&q, &r, 1);
    assert_refused(&o, "QUOTA_DECREASE_BELOW_USAGE", "maxActive", "q-1", &before, &r);
    assert_int_equal(o.ceiling_hit, 0);
    /* down to the usage itself is fine */
    q = update(4, 0, 0, 0, 1, 0, 0, 0);
    o = apply(&q, &r, 1);
    assert_int_equal(o.verdict, JE_QUOTA_APPLIED);
    assert_true(r.q.limits.max_active == 4);
    /* allowDecreaseBelowUsage: applied, the active leases go on */
    q = update(1, 0, 0, 0, 1, 0, 0, 0);
    q.allow_decrease = 1;
    o = apply(&q, &r, 1);
    assert_int_equal(o.verdict, JE_QUOTA_APPLIED);
    assert_string_equal(o.event_type, "quota.updated");
    assert_true(r.q.limits.max_active == 1);
    assert_true(r.q.state.active == 4);
    assert_stamped(&r, 5);
    /* above its cap now, other limits may still change */
    q = update(0, 500, 0, 0, 0, 1, 0, 0);
    o = apply(&q, &r, 1);
    assert_int_equal(o.verdict, JE_QUOTA_APPLIED);
    assert_true(r.q.limits.max_per_hour == 500 && r.q.limits.max_active == 1);
}

/* expiresAt: an elevation until then, the limits to return to kept; it ends by itself. */
static void test_update_elevation(void **state) {
    (void)state;
    je_quota_record r = existing();
    je_quota_request q = update(100, 0, 200, 0, 1, 0, 1, 0);
    q.expires_ms = T10 + 3600000;
    je_quota_outcome o = apply(&q, &r, 1);
    assert_int_equal(o.verdict, JE_QUOTA_APPLIED);
    assert_string_equal(o.event_type, "quota.updated");
    assert_true(r.q.limits.max_active == 100 && r.q.limits.burst_capacity == 200);
    assert_true(r.q.limits.max_per_hour == 1000 && r.q.limits.refill_per_second == 0.5);
    assert_true(r.q.elevation_expires_ms == T10 + 3600000);
    assert_true(r.q.previous.max_active == 10 && r.q.previous.burst_capacity == 50);
    assert_true(r.q.previous.max_per_hour == 1000 && r.q.previous.refill_per_second == 0.5);
    assert_stamped(&r, 4);
    /* a permanent update during the elevation makes the values permanent */
    q = update(0, 2000, 0, 0, 0, 1, 0, 0);
    o = apply(&q, &r, 1);
    assert_int_equal(o.verdict, JE_QUOTA_APPLIED);
    assert_true(r.q.elevation_expires_ms == JE_NO_TIME);
    assert_true(r.q.limits.max_active == 100 && r.q.limits.max_per_hour == 2000);
    assert_true(r.version == 5);
}

/* An elevation past its time ends before the update applies: the fields not given come from
 * the limits it returned to, not from the elevation. */
static void test_expired_elevation_ends_first(void **state) {
    (void)state;
    je_quota_record r = existing();
    je_quota_limits up = lim(100, 5000, 200, 5);
    je_quota_elevate(&r.q, &up, NOW - 1000); /* ended a second ago, not yet reverted */
    je_quota_request q = update(0, 1500, 0, 0, 0, 1, 0, 0);
    je_quota_outcome o = apply(&q, &r, 1);
    assert_int_equal(o.verdict, JE_QUOTA_APPLIED);
    assert_true(r.q.elevation_expires_ms == JE_NO_TIME);
    assert_true(r.q.limits.max_active == 10);
    assert_true(r.q.limits.burst_capacity == 50);
    assert_true(r.q.limits.refill_per_second == 0.5);
    assert_true(r.q.limits.max_per_hour == 1500);
    assert_stamped(&r, 4);
    /* a new elevation after an expired one returns to the reverted limits */
    r = existing();
    je_quota_elevate(&r.q, &up, NOW - 1000);
    q = update(300, 0, 0, 0, 1, 0, 0, 0);
    q.expires_ms = NOW + 60000;
    o = apply(&q, &r, 1);
    assert_int_equal(o.verdict, JE_QUOTA_APPLIED);
    assert_true(r.q.limits.max_active == 300);
    assert_true(r.q.limits.max_per_hour == 1000); /* not the expired elevation's 5000 */
    assert_true(r.q.previous.max_active == 10 && r.q.previous.max_per_hour == 1000);
    assert_true(r.q.elevation_expires_ms == NOW + 60000);
    /* an elevation still running is not ended: its values are the base of the change */
    r = existing();
    je_quota_elevate(&r.q, &up, NOW + 1000);
    q = update(0, 1500, 0, 0, 0, 1, 0, 0);
    o = apply(&q, &r, 1);
    assert_true(r.q.limits.max_active == 100 && r.q.limits.max_per_hour == 1500);
}

static void test_pause_and_resume(void **state) {
    (void)state;
    je_quota_record r = existing();
    je_quota_request q = request(JE_QUOTA_PAUSE);
    je_quota_outcome o = apply(&q, &r, 1);
    assert_int_equal(o.verdict, JE_QUOTA_APPLIED);
    assert_string_equal(o.event_type, "quota.paused");
    assert_string_equal(o.quota_id, "q-1");
    assert_true(r.q.paused);
    assert_string_equal(r.pause_reason, "INC-7 traffic spike");
    assert_string_equal(r.pause_ticket, "OPS-42");
    assert_stamped(&r, 4);
    assert_true(r.q.limits.max_active == 10 && r.q.state.active == 4);
    /* pause of a paused quota: unchanged, no event, no version bump */
    je_quota_record before = r;
    q.reason = "another reason";
    o = apply(&q, &r, 1);
    assert_int_equal(o.verdict, JE_QUOTA_UNCHANGED);
    assert_null(o.event_type);
    assert_memory_equal(&before, &r, sizeof r);
    /* resume: cleared pause reason and ticket, stamped with resume's own justification */
    q = request(JE_QUOTA_RESUME);
    q.reason = "INC-7 resolved";
    q.ticket = "OPS-43";
    q.if_match = 4;
    o = apply(&q, &r, 1);
    assert_int_equal(o.verdict, JE_QUOTA_APPLIED);
    assert_string_equal(o.event_type, "quota.resumed");
    assert_string_equal(o.quota_id, "q-1");
    assert_false(r.q.paused);
    assert_string_equal(r.pause_reason, "");
    assert_string_equal(r.pause_ticket, "");
    assert_true(r.version == 5);
    assert_string_equal(r.last_reason, "INC-7 resolved");
    assert_string_equal(r.last_ticket, "OPS-43"); /* resume's own ticket is not a pause ticket */
    /* resume of a running quota: unchanged */
    before = r;
    q.if_match = 5;
    o = apply(&q, &r, 1);
    assert_int_equal(o.verdict, JE_QUOTA_UNCHANGED);
    assert_null(o.event_type);
    assert_memory_equal(&before, &r, sizeof r);
    /* pause without a ticket records none */
    q = request(JE_QUOTA_PAUSE);
    q.ticket = NULL;
    o = apply(&q, &r, 1);
    assert_int_equal(o.verdict, JE_QUOTA_APPLIED);
    assert_string_equal(r.pause_ticket, "");
    assert_string_equal(r.pause_reason, "INC-7 traffic spike");
}

static void test_delete(void **state) {
    (void)state;
    je_quota_record r = existing(), before = r;
    je_quota_request q = request(JE_QUOTA_DELETE);
    q.if_match = JE_IF_MATCH_ANY;
    je_quota_outcome o = apply(&q, &r, 1);
    assert_int_equal(o.verdict, JE_QUOTA_DELETED);
    assert_string_equal(o.event_type, "quota.deleted");
    assert_string_equal(o.quota_id, "q-1");
    assert_null(o.refusal.code);
    assert_memory_equal(&before, &r, sizeof r); /* the record as it was, for the audit */
    /* a paused quota can be deleted too, with the matching version */
    r.q.paused = 1;
    q.if_match = 3;
    o = apply(&q, &r, 1);
    assert_int_equal(o.verdict, JE_QUOTA_DELETED);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_if_match),
        cmocka_unit_test(test_create),
        cmocka_unit_test(test_create_refusals),
        cmocka_unit_test(test_not_found),
        cmocka_unit_test(test_version_mismatch),
        cmocka_unit_test(test_update_unchanged),
        cmocka_unit_test(test_update_permanent),
        cmocka_unit_test(test_update_ceiling),
        cmocka_unit_test(test_update_decrease_below_usage),
        cmocka_unit_test(test_update_elevation),
        cmocka_unit_test(test_expired_elevation_ends_first),
        cmocka_unit_test(test_pause_and_resume),
        cmocka_unit_test(test_delete),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
