/* tests/unit/test_lease_core.c: the decisions of one lease call (core/lease.h; domain.md §2,
 * api.md §3.4): a quota that denies once is not asked again in the call (one throttle per quota
 * per call), the backfill lane holds at most ceil(maxActive * share) of a quota and, when full,
 * is held back without a throttle and without holding back live work, a paused quota answers
 * PAUSED whatever else holds, and what held work back is the first quota that did, preferring
 * one that is not paused. Time is plain int64 ms; no clock, no store. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "core/jobs.h"
#include "core/lease.h"

#define NOW 1795860000000LL /* 2026-11-28T10:00:00.000Z */
#define LEASE_MS 60000LL

/* A quota record created at NOW with these limits: full bucket, nothing active. */
static je_quota_record quota(const char *id, int64_t max_active, int64_t per_hour, int64_t burst,
                             double refill) {
    je_quota_record r;
    memset(&r, 0, sizeof r);
    strcpy(r.quota_id, id);
    strcpy(r.tenant_id, "acme");
    strcpy(r.job_type, "scan");
    je_quota_limits l = {max_active, per_hour, burst, refill};
    je_quota_init(&r.q, &l, NOW);
    r.version = 1;
    return r;
}

static je_lease_held no_hold(void) {
    je_lease_held h;
    memset(&h, 0, sizeof h);
    return h;
}

/* Grants one candidate of lane on sl and leases it until now + LEASE_MS. */
static void grant(je_lease_slot *sl, int lane, int64_t now, je_lease_held *h) {
    assert_int_equal(je_lease_slot_decide(sl, lane, now, h), 1);
    je_lease_slot_leased(sl, lane, now + LEASE_MS);
}

static void test_slot_open(void **state) {
    (void)state;
    je_quota_record r = quota("q-1", 10, 1000, 50, 1);
    je_lease_slot sl;
    memset(&sl, 0xab, sizeof sl); /* whatever was there before */
    je_lease_slot_open(&sl, &r, NOW + 5000, 2, 0.25);
    assert_string_equal(sl.rec.quota_id, "q-1");
    assert_true(sl.rec.q.limits.max_active == 10);
    assert_true(sl.rec.q.state.tokens == 50.0);
    assert_int_equal(sl.blocked, 0);
    assert_true(sl.earliest == NOW + 5000);
    assert_true(sl.backfill_held == 2);
    assert_true(sl.backfill_cap == 3); /* ceil(10 * 0.25) = ceil(2.5) */
    je_lease_slot_open(&sl, &r, JE_NO_TIME, 0, 0.5);
    assert_true(sl.backfill_cap == 5);
    assert_true(sl.earliest == JE_NO_TIME);
    je_lease_slot_open(&sl, &r, JE_NO_TIME, 0, 0);
    assert_true(sl.backfill_cap == 0);
    je_lease_slot_open(&sl, &r, JE_NO_TIME, 0, 1);
    assert_true(sl.backfill_cap == 10);
}

static void test_grant_takes_a_unit(void **state) {
    (void)state;
    je_quota_record r = quota("q-1", 3, 1000, 5, 1);
    je_lease_slot sl;
    je_lease_slot_open(&sl, &r, JE_NO_TIME, 0, 0.5);
    je_lease_held h = no_hold();
    assert_int_equal(je_lease_slot_decide(&sl, JE_LANE_LIVE, NOW, &h), 1);
    assert_true(sl.rec.q.state.active == 1);
    assert_true(sl.rec.q.state.tokens == 4.0);
    assert_true(sl.rec.q.state.hour_count == 1);
    assert_false(h.held);
    assert_false(je_lease_held_only_paused(&h));
    /* the record the caller passed in is not touched: the slot holds its own copy */
    assert_true(r.q.state.active == 0);
}

/* leased: the slot's earliest expiry becomes the earliest lease end; only backfill-lane jobs
 * count toward the lane's share. */
static void test_leased_tracks_earliest_and_backfill(void **state) {
    (void)state;
    je_quota_record r = quota("q-1", 10, 1000, 10, 1);
    je_lease_slot sl;
    je_lease_slot_open(&sl, &r, JE_NO_TIME, 0, 0.5);
    je_lease_slot_leased(&sl, JE_LANE_LIVE, NOW + 30000);
    assert_true(sl.earliest == NOW + 30000);
    assert_true(sl.backfill_held == 0);
    je_lease_slot_leased(&sl, JE_LANE_BACKFILL, NOW + 40000); /* later: earliest stays */
    assert_true(sl.earliest == NOW + 30000);
    assert_true(sl.backfill_held == 1);
    je_lease_slot_leased(&sl, JE_LANE_BACKFILL, NOW + 20000);
    assert_true(sl.earliest == NOW + 20000);
    assert_true(sl.backfill_held == 2);
    je_lease_slot_open(&sl, &r, NOW + 5000, 0, 0.5); /* a permit expiring sooner */
    je_lease_slot_leased(&sl, JE_LANE_LIVE, NOW + 30000);
    assert_true(sl.earliest == NOW + 5000);
}

static void test_undo_gives_the_slot_back(void **state) {
    (void)state;
    je_quota_record r = quota("q-1", 1, 1000, 10, 1);
    je_lease_slot sl;
    je_lease_slot_open(&sl, &r, JE_NO_TIME, 0, 0.5);
    je_lease_held h = no_hold();
    assert_int_equal(je_lease_slot_decide(&sl, JE_LANE_LIVE, NOW, &h), 1);
    assert_true(sl.rec.q.state.active == 1);
    je_lease_slot_undo(&sl); /* the job was gone */
    assert_true(sl.rec.q.state.active == 0);
    /* the only slot is free again: the next candidate gets it */
    assert_int_equal(je_lease_slot_decide(&sl, JE_LANE_LIVE, NOW, &h), 1);
    assert_false(h.held);
}

/* maxActive 1: the second candidate is denied (nextEligibleAt the first lease's end), the slot
 * is blocked, and later candidates are not asked again: one throttle for the call. */
static void test_denial_blocks_the_slot(void **state) {
    (void)state;
    je_quota_record r = quota("q-1", 1, 1000, 10, 1);
    je_lease_slot sl;
    je_lease_slot_open(&sl, &r, JE_NO_TIME, 0, 0.5);
    je_lease_held h = no_hold();
    grant(&sl, JE_LANE_LIVE, NOW, &h);
    assert_int_equal(je_lease_slot_decide(&sl, JE_LANE_LIVE, NOW, &h), 0);
    assert_int_equal(sl.blocked, 1);
    assert_true(sl.rec.q.state.throttled == 1);
    assert_true(h.held);
    assert_int_equal(h.decision.kind, JE_DECISION_EXHAUSTED);
    assert_true(h.decision.next_eligible_ms == NOW + LEASE_MS);
    assert_true(h.limits.max_active == 1 && h.limits.burst_capacity == 10);
    assert_int_equal(h.other, 1);
    assert_int_equal(h.paused, 0);
    assert_false(je_lease_held_only_paused(&h));
    for (int i = 0; i < 5; i++) {
        assert_int_equal(je_lease_slot_decide(&sl, JE_LANE_LIVE, NOW + i, &h), 0);
        assert_int_equal(je_lease_slot_decide(&sl, JE_LANE_BACKFILL, NOW + i, &h), 0);
    }
    assert_true(sl.rec.q.state.throttled == 1);
    /* even a slot freed meanwhile stays blocked for the rest of the call */
    je_lease_slot_undo(&sl);
    assert_int_equal(je_lease_slot_decide(&sl, JE_LANE_LIVE, NOW, &h), 0);
    assert_true(sl.rec.q.state.throttled == 1);
}

/* share 0.5 of maxActive 4: two backfill leases, then backfill is held back (EXHAUSTED at the
 * earliest expiry, no throttle, slot not blocked) while live work still takes the other two. */
static void test_backfill_share_full(void **state) {
    (void)state;
    je_quota_record r = quota("q-1", 4, 1000, 10, 1);
    je_lease_slot sl;
    je_lease_slot_open(&sl, &r, JE_NO_TIME, 0, 0.5);
    assert_true(sl.backfill_cap == 2);
    je_lease_held h = no_hold();
    grant(&sl, JE_LANE_BACKFILL, NOW, &h);
    grant(&sl, JE_LANE_BACKFILL, NOW + 10, &h);
    assert_false(h.held);
    double tokens = sl.rec.q.state.tokens;
    assert_int_equal(je_lease_slot_decide(&sl, JE_LANE_BACKFILL, NOW + 20, &h), 0);
    assert_true(h.held);
    assert_int_equal(h.decision.kind, JE_DECISION_EXHAUSTED);
    assert_true(h.decision.next_eligible_ms == NOW + LEASE_MS); /* the first lease's end */
    assert_true(h.limits.max_active == 4);
    assert_int_equal(h.other, 1);
    assert_false(je_lease_held_only_paused(&h));
    assert_int_equal(sl.blocked, 0);
    assert_true(sl.rec.q.state.throttled == 0); /* not a throttle */
    assert_true(sl.rec.q.state.active == 2);    /* nothing taken */
    assert_true(sl.rec.q.state.tokens == tokens);
    /* a second backfill candidate: held back the same way, still no throttle */
    assert_int_equal(je_lease_slot_decide(&sl, JE_LANE_BACKFILL, NOW + 20, &h), 0);
    assert_true(sl.rec.q.state.throttled == 0);
    /* live work keeps the rest */
    grant(&sl, JE_LANE_LIVE, NOW + 30, &h);
    grant(&sl, JE_LANE_LIVE, NOW + 30, &h);
    assert_true(sl.rec.q.state.active == 4);
    /* now the quota itself is full: a live denial, counted once */
    assert_int_equal(je_lease_slot_decide(&sl, JE_LANE_LIVE, NOW + 40, &h), 0);
    assert_int_equal(sl.blocked, 1);
    assert_true(sl.rec.q.state.throttled == 1);
}

/* Backfill leases held from earlier calls count: cap ceil(3 * 0.5) = 2, 2 held already. With
 * nothing known to expire the hold's nextEligibleAt is now + 1 s. */
static void test_backfill_share_held_before(void **state) {
    (void)state;
    je_quota_record r = quota("q-1", 3, 1000, 10, 1);
    je_lease_slot sl;
    je_lease_slot_open(&sl, &r, JE_NO_TIME, 2, 0.5);
    je_lease_held h = no_hold();
    assert_int_equal(je_lease_slot_decide(&sl, JE_LANE_BACKFILL, NOW, &h), 0);
    assert_int_equal(h.decision.kind, JE_DECISION_EXHAUSTED);
    assert_true(h.decision.next_eligible_ms == NOW + 1000);
    assert_true(sl.rec.q.state.throttled == 0);
    /* with a known expiry, that expiry */
    je_lease_slot_open(&sl, &r, NOW + 7000, 2, 0.5);
    h = no_hold();
    assert_int_equal(je_lease_slot_decide(&sl, JE_LANE_BACKFILL, NOW, &h), 0);
    assert_true(h.decision.next_eligible_ms == NOW + 7000);
    /* one below the cap: granted */
    je_lease_slot_open(&sl, &r, NOW + 7000, 1, 0.5);
    h = no_hold();
    assert_int_equal(je_lease_slot_decide(&sl, JE_LANE_BACKFILL, NOW, &h), 1);
    assert_false(h.held);
}

/* share 0: backfill never leases on this quota, however free it is; live is unaffected. */
static void test_backfill_share_zero(void **state) {
    (void)state;
    je_quota_record r = quota("q-1", 10, 1000, 10, 1);
    je_lease_slot sl;
    je_lease_slot_open(&sl, &r, JE_NO_TIME, 0, 0);
    je_lease_held h = no_hold();
    assert_int_equal(je_lease_slot_decide(&sl, JE_LANE_BACKFILL, NOW, &h), 0);
    assert_int_equal(h.decision.kind, JE_DECISION_EXHAUSTED);
    assert_true(h.decision.next_eligible_ms == NOW + 1000);
    assert_true(sl.rec.q.state.active == 0);
    assert_true(sl.rec.q.state.throttled == 0);
    grant(&sl, JE_LANE_LIVE, NOW, &h);
    assert_true(sl.rec.q.state.active == 1);
}

/* share 1: backfill may take the whole quota; then the quota's own cap denies and counts. */
static void test_backfill_share_one(void **state) {
    (void)state;
    je_quota_record r = quota("q-1", 3, 1000, 10, 1);
    je_lease_slot sl;
    je_lease_slot_open(&sl, &r, JE_NO_TIME, 0, 1);
    je_lease_held h = no_hold();
    for (int i = 0; i < 3; i++) grant(&sl, JE_LANE_BACKFILL, NOW, &h);
    assert_false(h.held);
    assert_true(sl.rec.q.state.active == 3);
    assert_int_equal(je_lease_slot_decide(&sl, JE_LANE_LIVE, NOW, &h), 0);
    assert_int_equal(h.decision.kind, JE_DECISION_EXHAUSTED);
    assert_true(h.decision.next_eligible_ms == NOW + LEASE_MS);
    assert_int_equal(sl.blocked, 1);
    assert_true(sl.rec.q.state.throttled == 1);
}

/* A paused quota answers PAUSED (no nextEligibleAt) for live and for backfill, also when the
 * backfill share is full; the slot is blocked and the call counts one throttle. */
static void test_paused_answers_paused(void **state) {
    (void)state;
    je_quota_record r = quota("q-1", 4, 1000, 10, 1);
    r.q.paused = 1;
    je_lease_slot sl;
    je_lease_slot_open(&sl, &r, NOW + 5000, 2, 0.5); /* the share is full as well */
    je_lease_held h = no_hold();
    assert_int_equal(je_lease_slot_decide(&sl, JE_LANE_BACKFILL, NOW, &h), 0);
    assert_true(h.held);
    assert_int_equal(h.decision.kind, JE_DECISION_PAUSED);
    assert_true(h.decision.next_eligible_ms == JE_NO_TIME);
    assert_int_equal(h.paused, 1);
    assert_int_equal(h.other, 0);
    assert_true(je_lease_held_only_paused(&h));
    assert_int_equal(sl.blocked, 1);
    assert_int_equal(je_lease_slot_decide(&sl, JE_LANE_LIVE, NOW, &h), 0);
    assert_true(sl.rec.q.state.throttled == 1);
    assert_true(sl.rec.q.state.active == 0);
    /* paused with share 0: still PAUSED */
    je_lease_slot_open(&sl, &r, JE_NO_TIME, 0, 0);
    h = no_hold();
    assert_int_equal(je_lease_slot_decide(&sl, JE_LANE_BACKFILL, NOW, &h), 0);
    assert_int_equal(h.decision.kind, JE_DECISION_PAUSED);
    assert_true(je_lease_held_only_paused(&h));
    /* paused and exhausted on every count: PAUSED */
    je_quota_record e = quota("q-2", 1, 1, 1, 0.001);
    e.q.state.active = 1;
    e.q.state.hour_count = 1;
    e.q.state.tokens = 0;
    e.q.paused = 1;
    je_lease_slot_open(&sl, &e, NOW + 5000, 0, 0.5);
    h = no_hold();
    assert_int_equal(je_lease_slot_decide(&sl, JE_LANE_LIVE, NOW, &h), 0);
    assert_int_equal(h.decision.kind, JE_DECISION_PAUSED);
    assert_true(h.decision.next_eligible_ms == JE_NO_TIME);
}

/* Which quota the answer reports: the first that held work back, but a later non-paused one
 * replaces a paused first one (a paused quota says nothing about when work can go). */
static void test_held_prefers_not_paused(void **state) {
    (void)state;
    je_quota_record pr = quota("q-paused", 7, 1000, 10, 1);
    pr.q.paused = 1;
    je_quota_record fr = quota("q-full", 1, 1000, 10, 1);
    fr.q.state.active = 1;
    je_quota_record f2 = quota("q-full2", 2, 1000, 10, 1);
    f2.q.state.active = 2;
    je_lease_slot p, f, g;

    /* paused first, exhausted after: the exhausted one is reported */
    je_lease_slot_open(&p, &pr, JE_NO_TIME, 0, 0.5);
    je_lease_slot_open(&f, &fr, NOW + 9000, 0, 0.5);
    je_lease_held h = no_hold();
    assert_int_equal(je_lease_slot_decide(&p, JE_LANE_LIVE, NOW, &h), 0);
    assert_int_equal(h.decision.kind, JE_DECISION_PAUSED);
    assert_true(h.limits.max_active == 7);
    assert_int_equal(je_lease_slot_decide(&f, JE_LANE_LIVE, NOW, &h), 0);
    assert_int_equal(h.decision.kind, JE_DECISION_EXHAUSTED);
    assert_true(h.decision.next_eligible_ms == NOW + 9000);
    assert_true(h.limits.max_active == 1);
    assert_int_equal(h.paused, 1);
    assert_int_equal(h.other, 1);
    assert_false(je_lease_held_only_paused(&h)); /* 429, not 423 */

    /* exhausted first, paused after: the first stays */
    je_lease_slot_open(&p, &pr, JE_NO_TIME, 0, 0.5);
    je_lease_slot_open(&f, &fr, NOW + 9000, 0, 0.5);
    h = no_hold();
    assert_int_equal(je_lease_slot_decide(&f, JE_LANE_LIVE, NOW, &h), 0);
    assert_int_equal(je_lease_slot_decide(&p, JE_LANE_LIVE, NOW, &h), 0);
    assert_int_equal(h.decision.kind, JE_DECISION_EXHAUSTED);
    assert_true(h.limits.max_active == 1);
    assert_false(je_lease_held_only_paused(&h));

    /* two exhausted: the first */
    je_lease_slot_open(&f, &fr, NOW + 9000, 0, 0.5);
    je_lease_slot_open(&g, &f2, NOW + 3000, 0, 0.5);
    h = no_hold();
    assert_int_equal(je_lease_slot_decide(&f, JE_LANE_LIVE, NOW, &h), 0);
    assert_int_equal(je_lease_slot_decide(&g, JE_LANE_LIVE, NOW, &h), 0);
    assert_true(h.limits.max_active == 1);
    assert_true(h.decision.next_eligible_ms == NOW + 9000);

    /* two paused: the first, and only paused */
    je_quota_record pr2 = quota("q-paused2", 9, 1000, 10, 1);
    pr2.q.paused = 1;
    je_lease_slot_open(&p, &pr, JE_NO_TIME, 0, 0.5);
    je_lease_slot_open(&g, &pr2, JE_NO_TIME, 0, 0.5);
    h = no_hold();
    assert_int_equal(je_lease_slot_decide(&p, JE_LANE_LIVE, NOW, &h), 0);
    assert_int_equal(je_lease_slot_decide(&g, JE_LANE_LIVE, NOW, &h), 0);
    assert_true(h.limits.max_active == 7);
    assert_true(je_lease_held_only_paused(&h));
}

/* One call, paused plus a full backfill share: the share's hold is not paused, so it is the
 * one reported and the answer is not "only paused". */
static void test_paused_plus_share_full(void **state) {
    (void)state;
    je_quota_record pr = quota("q-paused", 7, 1000, 10, 1);
    pr.q.paused = 1;
    je_quota_record br = quota("q-bf", 4, 1000, 10, 1);
    je_lease_slot p, b;
    je_lease_slot_open(&p, &pr, JE_NO_TIME, 0, 0.5);
    je_lease_slot_open(&b, &br, NOW + 4000, 2, 0.5);
    je_lease_held h = no_hold();
    assert_int_equal(je_lease_slot_decide(&p, JE_LANE_LIVE, NOW, &h), 0);
    assert_true(je_lease_held_only_paused(&h));
    assert_int_equal(je_lease_slot_decide(&b, JE_LANE_BACKFILL, NOW, &h), 0);
    assert_int_equal(h.decision.kind, JE_DECISION_EXHAUSTED);
    assert_true(h.decision.next_eligible_ms == NOW + 4000);
    assert_true(h.limits.max_active == 4);
    assert_false(je_lease_held_only_paused(&h));
    assert_true(b.rec.q.state.throttled == 0);
    assert_true(p.rec.q.state.throttled == 1);
    /* and live work on the backfill's quota still goes */
    grant(&b, JE_LANE_LIVE, NOW, &h);
}

static void test_only_paused_without_holds(void **state) {
    (void)state;
    je_lease_held h = no_hold();
    assert_false(je_lease_held_only_paused(&h)); /* nothing held: not "paused" */
    h.paused = 1;
    assert_true(je_lease_held_only_paused(&h));
    h.other = 1;
    assert_false(je_lease_held_only_paused(&h));
    h.paused = 0;
    assert_false(je_lease_held_only_paused(&h));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_slot_open),
        cmocka_unit_test(test_grant_takes_a_unit),
        cmocka_unit_test(test_leased_tracks_earliest_and_backfill),
        cmocka_unit_test(test_undo_gives_the_slot_back),
        cmocka_unit_test(test_denial_blocks_the_slot),
        cmocka_unit_test(test_backfill_share_full),
        cmocka_unit_test(test_backfill_share_held_before),
        cmocka_unit_test(test_backfill_share_zero),
        cmocka_unit_test(test_backfill_share_one),
        cmocka_unit_test(test_paused_answers_paused),
        cmocka_unit_test(test_held_prefers_not_paused),
        cmocka_unit_test(test_paused_plus_share_full),
        cmocka_unit_test(test_only_paused_without_holds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
