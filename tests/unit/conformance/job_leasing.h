/* tests/unit/conformance/job_leasing.h: conformance cases of leasing: order and lanes, quota
 * resolution, maxActive, paused quotas, the token bucket, the backfill share, permits and
 * leases sharing one count, and elevation expiry on lease. */
#ifndef JE_TESTS_CONFORMANCE_JOB_LEASING_H
#define JE_TESTS_CONFORMANCE_JOB_LEASING_H

#include "jobs.h"
#include "quota_decisions.h"

/* ---- jobs: leasing order and limits ----------------------------------------------------- */

static void conf_lease_order(void **state) {
    je_store *s = ((conf_fx *)*state)->s;
    int64_t t = conf_future();
    conf_submit(s, "T", "a", "a-old-low", -1, 1000);
    conf_submit(s, "T", "a", "a-new-high", 10, 5000);
    conf_submit(s, "T", "a", "a-old-high", 10, 2000);
    conf_submit(s, "T", "b", "b-mid", 5, 3000);
    conf_submit(s, "T", "b", "b-tie-2", 5, 3000); /* same priority and age: by job id */
    conf_submit(s, "T", "b", "b-tie-1", 5, 3000);
    conf_submit(s, "T", "c", "c-top", 1000, 100); /* not asked for */
    conf_submit(s, "U", "a", "u-top", 1000, 100); /* another tenant */
    conf_submit(s, "T", "a", "a-top", 999, 1000);
    {
        je_job late = conf_job_of("T", "a", "a-later", 999, 1000);
        late.available_ms = t + 1000; /* as after a failed attempt */
        conf_job_put(s, &late, NULL);
    }

    je_lease_out out = conf_lease(s, "T", "a,b", 3, 30000, t);
    assert_string_equal(conf_lease_ids(&out), "a-top,a-old-high,a-new-high");
    const je_job *j = conf_leased(&out, "a-old-high");
    assert_int_equal(j->status, JE_JOB_LEASED);
    assert_int_equal(j->attempt, 1);
    assert_int_equal(strlen(j->lease_id), 36);
    assert_int_equal(j->lease_until_ms, t + 30000);
    assert_int_equal(j->lease_ms, 30000);
    assert_string_equal(j->worker_id, "worker-1");
    assert_string_equal(j->payload, "{\"id\":\"a-old-high\"}");
    assert_string_not_equal(out.jobs[0].lease_id, out.jobs[1].lease_id);
    assert_int_equal(out.held, 0); /* no quota held anything back */
    je_job got = conf_job_get(s, "T", "a-old-high");
    assert_int_equal(got.status, JE_JOB_LEASED);
    assert_string_equal(got.lease_id, j->lease_id);
    assert_int_equal(got.lease_until_ms, t + 30000);
    assert_int_equal(got.attempt, 1);
    assert_string_equal(got.worker_id, "worker-1");
    assert_int_equal(got.updated_ms, t);
    je_job_free(&got);
    conf_lease_free(&out);

    out = conf_lease(s, "T", "a,b", 3, 30000, t + 1);
    assert_string_equal(conf_lease_ids(&out), "b-mid,b-tie-1,b-tie-2");
    conf_lease_free(&out);
    out = conf_lease(s, "T", "b,a", 100, 30000, t + 2);
    assert_string_equal(conf_lease_ids(&out), "a-old-low");
    conf_lease_free(&out);
    out = conf_lease(s, "T", "a,b", 100, 30000, t + 3);
    assert_int_equal(out.n, 0); /* a-later waits for its availableAt */
    assert_int_equal(out.held, 0);
    conf_lease_free(&out);
    out = conf_lease(s, "T", "a", 100, 30000, t + 1000);
    assert_string_equal(conf_lease_ids(&out), "a-later");
    conf_lease_free(&out);
    out = conf_lease(s, "T", "nothing.here", 5, 30000, t + 1000);
    assert_int_equal(out.n, 0);
    assert_int_equal(out.held, 0);
    conf_lease_free(&out);
    assert_int_equal(conf_job_status(s, "T", "c-top"), JE_JOB_PENDING);
    assert_int_equal(conf_job_status(s, "U", "u-top"), JE_JOB_PENDING);
}

/* Live before backfill within one job type, whatever the priority. */
static void conf_lease_lane_order(void **state) {
    je_store *s = ((conf_fx *)*state)->s;
    int64_t t = conf_future();
    conf_submit_backfill(s, "T", "a", "bf-1", 1, 100);
    {
        je_job hi = conf_job_of("T", "a", "bf-0", 1000, 50);
        hi.lane = JE_LANE_BACKFILL;
        snprintf(hi.backfill_id, sizeof hi.backfill_id, "bf-0001");
        hi.batch = 0;
        hi.window_start_ms = 0;
        hi.window_end_ms = 1000000;
        conf_job_put(s, &hi, NULL);
    }
    conf_submit(s, "T", "a", "live-low", -1000, 9000);
    conf_submit(s, "T", "b", "live-b", -5, 9500);
    je_lease_out out = conf_lease(s, "T", "a,b", 3, 30000, t);
    assert_string_equal(conf_lease_ids(&out), "live-b,live-low,bf-0");
    const je_job *bf = conf_leased(&out, "bf-0");
    assert_int_equal(bf->lane, JE_LANE_BACKFILL);
    assert_string_equal(bf->backfill_id, "bf-0001");
    assert_int_equal(bf->batch, 0);
    assert_int_equal(bf->window_end_ms, 1000000);
    conf_lease_free(&out);
    out = conf_lease(s, "T", "a", 3, 30000, t);
    assert_string_equal(conf_lease_ids(&out), "bf-1");
    assert_int_equal(out.jobs[0].batch, 1);
    assert_int_equal(out.jobs[0].window_start_ms, 1000000);
    conf_lease_free(&out);
}

static void conf_lease_no_quota(void **state) {
    je_store *s = ((conf_fx *)*state)->s;
    int64_t t = conf_future();
    for (int i = 0; i < 4; i++) {
        char id[16];
        snprintf(id, sizeof id, "free-%d", i);
        conf_submit(s, "T", "free", id, 0, 1000 + i);
    }
    const char *types[] = {"free"};
    je_lease_req q = conf_lease_req(types, 1, 10, 60000, t);
    q.unlimited_when_no_quota = 0; /* such jobs never lease */
    je_lease_out out = conf_lease_with(s, "T", &q);
    assert_int_equal(out.n, 0);
    conf_lease_free(&out);
    assert_int_equal(conf_job_status(s, "T", "free-0"), JE_JOB_PENDING);

    q.unlimited_when_no_quota = 1; /* not limited: as many as asked for */
    q.max = 3;
    out = conf_lease_with(s, "T", &q);
    assert_string_equal(conf_lease_ids(&out), "free-0,free-1,free-2");
    assert_int_equal(out.held, 0);
    assert_string_equal(out.jobs[0].quota_id, ""); /* no quota charged */
    conf_lease_free(&out);
    je_job got = conf_job_get(s, "T", "free-1");
    assert_string_equal(got.quota_id, "");
    je_job_free(&got);
    q.max = 10;
    out = conf_lease_with(s, "T", &q);
    assert_string_equal(conf_lease_ids(&out), "free-3");
    conf_lease_free(&out);

    /* Once the tenant has a "*" quota, the type is governed by it. */
    je_quota_record star = conf_quota_new(s, "T", "*", conf_limits(1, 1000, 100, 1), 0);
    conf_submit(s, "T", "free", "free-4", 0, 2000);
    conf_submit(s, "T", "free", "free-5", 0, 2001);
    q.unlimited_when_no_quota = 0;
    out = conf_lease_with(s, "T", &q);
    assert_string_equal(conf_lease_ids(&out), "free-4");
    assert_string_equal(out.jobs[0].quota_id, star.quota_id);
    assert_int_equal(out.held, 1);
    conf_lease_free(&out);
    assert_int_equal(conf_quota_get(s, "T", star.quota_id).q.state.active, 1);
}

/* A job type uses its own quota, else the tenant's "*" quota, never another tenant's. */
static void conf_lease_quota_resolution(void **state) {
    je_store *s = ((conf_fx *)*state)->s;
    je_err err;
    int64_t t = conf_future();
    je_quota_record own = conf_quota_new(s, "T", "own", conf_limits(1, 1000, 100, 1), 0);
    je_quota_record star = conf_quota_new(s, "T", "*", conf_limits(2, 1000, 100, 1), 0);
    je_quota_record u_own = conf_quota_new(s, "U", "x", conf_limits(1, 1000, 100, 1), 1);
    for (int i = 0; i < 3; i++) {
        char id[16];
        snprintf(id, sizeof id, "own-%d", i);
        conf_submit(s, "T", "own", id, 0, 1000 + i);
        snprintf(id, sizeof id, "x-%d", i);
        conf_submit(s, "T", "x", id, 0, 1000 + i);
        snprintf(id, sizeof id, "y-%d", i);
        conf_submit(s, "T", "y", id, 1, 1000 + i); /* y before x */
        snprintf(id, sizeof id, "ux-%d", i);
        conf_submit(s, "U", "x", id, 0, 1000 + i);
    }
    je_lease_out out = conf_lease(s, "T", "own,x,y", 10, 60000, t);
    assert_string_equal(conf_lease_ids(&out), "y-0,y-1,own-0");
    assert_string_equal(conf_leased(&out, "own-0")->quota_id, own.quota_id);
    assert_string_equal(conf_leased(&out, "y-0")->quota_id, star.quota_id);
    assert_int_equal(out.held, 1);
    conf_lease_free(&out);
    je_job got = conf_job_get(s, "T", "y-1");
    assert_string_equal(got.quota_id, star.quota_id);
    je_job_free(&got);
    assert_int_equal(conf_quota_get(s, "T", own.quota_id).q.state.active, 1);
    assert_int_equal(conf_quota_get(s, "T", star.quota_id).q.state.active, 2);
    assert_int_equal(conf_quota_get(s, "U", u_own.quota_id).q.state.active, 0);

    /* U's "x" quota is paused: T's own and "*" quotas do not govern U's jobs. */
    out = conf_lease(s, "U", "x", 10, 60000, t);
    assert_int_equal(out.n, 0);
    assert_int_equal(out.held, 1);
    assert_int_equal(out.only_paused, 1);
    conf_lease_free(&out);

    /* Completing frees the quota the lease was charged to. */
    out = conf_lease(s, "T", "x", 10, 60000, t + 1);
    assert_int_equal(out.n, 0);
    conf_lease_free(&out);
    je_job done;
    got = conf_job_get(s, "T", "y-0");
    assert_int_equal(s->ops->job_complete(s, "T", "y-0", got.lease_id, 1, NULL, t + 2, &done, &err),
                     JE_STORE_OK);
    je_job_free(&got);
    je_job_free(&done);
    assert_int_equal(conf_quota_get(s, "T", star.quota_id).q.state.active, 1);
    assert_int_equal(conf_quota_get(s, "T", own.quota_id).q.state.active, 1);
    out = conf_lease(s, "T", "x", 10, 60000, t + 3);
    assert_string_equal(conf_lease_ids(&out), "x-0");
    conf_lease_free(&out);
}

/* maxActive: leases up to the cap, then holds with nextEligibleAt = the earliest lease expiry. */
static void conf_lease_max_active(void **state) {
    je_store *s = ((conf_fx *)*state)->s;
    int64_t t = conf_future();
    je_quota_limits l = conf_limits(2, 1000, 100, 1);
    je_quota_record q = conf_quota_new(s, "T", "a", l, 0);
    for (int i = 0; i < 5; i++) {
        char id[16];
        snprintf(id, sizeof id, "a-%d", i);
        conf_submit(s, "T", "a", id, 0, 1000 + i);
    }
    je_lease_out out = conf_lease(s, "T", "a", 1, 10000, t);
    assert_string_equal(conf_lease_ids(&out), "a-0");
    assert_int_equal(out.held, 0);
    assert_string_equal(out.jobs[0].quota_id, q.quota_id);
    conf_lease_free(&out);
    out = conf_lease(s, "T", "a", 5, 5000, t + 1);
    assert_string_equal(conf_lease_ids(&out), "a-1");
    assert_int_equal(out.held, 1); /* a-2.. were held back */
    assert_int_equal(out.decision.kind, JE_DECISION_EXHAUSTED);
    assert_int_equal(out.decision.next_eligible_ms, t + 5001);
    conf_lease_free(&out);
    je_quota_record got = conf_quota_get(s, "T", q.quota_id);
    assert_int_equal(got.q.state.active, 2);
    assert_int_equal(got.q.state.hour_count, 2);
    int64_t throttled = got.q.state.throttled;

    out = conf_lease(s, "T", "a", 5, 60000, t + 2);
    assert_int_equal(out.n, 0);
    assert_int_equal(out.held, 1);
    assert_int_equal(out.only_paused, 0);
    assert_int_equal(out.decision.kind, JE_DECISION_EXHAUSTED);
    assert_int_equal(out.decision.next_eligible_ms, t + 5001); /* a-1 expires first */
    assert_int_equal(out.decision.remaining, 0);
    conf_limits_equal(&out.limits, &l);
    conf_lease_free(&out);
    got = conf_quota_get(s, "T", q.quota_id);
    assert_int_equal(got.q.state.active, 2);
    assert_int_equal(got.q.state.throttled, throttled + 1); /* asked once per call */
    assert_int_equal(conf_job_status(s, "T", "a-2"), JE_JOB_PENDING);

    /* A permit counts too: its expiry may be the earliest. */
    je_quota_record p = conf_quota_new(s, "T", "p", conf_limits(2, 1000, 100, 1), 0);
    conf_submit(s, "T", "p", "p-0", 0, 1000);
    conf_submit(s, "T", "p", "p-1", 0, 1001);
    je_acquire a = conf_acquire(s, "T", p.quota_id, 3000, t);
    assert_int_equal(a.decision.kind, JE_DECISION_GRANT);
    out = conf_lease(s, "T", "p", 5, 60000, t + 10);
    assert_string_equal(conf_lease_ids(&out), "p-0");
    assert_int_equal(out.held, 1);
    assert_int_equal(out.decision.next_eligible_ms, t + 3000);
    conf_lease_free(&out);
}

static void conf_lease_paused(void **state) {
    je_store *s = ((conf_fx *)*state)->s;
    int64_t t = conf_future();
    je_quota_limits l = conf_limits(5, 1000, 100, 1);
    je_quota_record p = conf_quota_new(s, "T", "p", l, 1);
    conf_submit(s, "T", "p", "p-0", 0, 1000);
    je_lease_out out = conf_lease(s, "T", "p", 5, 60000, t);
    assert_int_equal(out.n, 0);
    assert_int_equal(out.held, 1);
    assert_int_equal(out.only_paused, 1);
    assert_int_equal(out.decision.kind, JE_DECISION_PAUSED);
    assert_int_equal(out.decision.next_eligible_ms, JE_NO_TIME);
    conf_limits_equal(&out.limits, &l);
    conf_lease_free(&out);
    assert_int_equal(conf_job_status(s, "T", "p-0"), JE_JOB_PENDING); /* never failed for it */
    je_quota_record got = conf_quota_get(s, "T", p.quota_id);
    assert_int_equal(got.q.state.active, 0);
    assert_int_equal(got.q.state.hour_count, 0);

    /* With a full quota holding work back as well, not only paused. */
    je_quota_record f = conf_quota_new(s, "T", "f", conf_limits(1, 1000, 100, 1), 0);
    conf_submit(s, "T", "f", "f-0", 5, 1000);
    conf_submit(s, "T", "f", "f-1", 5, 1001);
    conf_submit(s, "T", "free", "free-0", -5, 1000); /* no quota: not limited */
    out = conf_lease(s, "T", "p,f,free", 5, 60000, t);
    assert_string_equal(conf_lease_ids(&out), "f-0,free-0");
    assert_int_equal(out.held, 1);
    assert_int_equal(out.only_paused, 0);
    /* the first quota that held work back: f (priority 5) before p (priority 0) */
    assert_int_equal(out.decision.kind, JE_DECISION_EXHAUSTED);
    assert_int_equal(out.limits.max_active, 1);
    conf_lease_free(&out);
    assert_int_equal(conf_quota_get(s, "T", f.quota_id).q.state.active, 1);
    assert_int_equal(conf_job_status(s, "T", "p-0"), JE_JOB_PENDING);
}

/* The token bucket holds too: nextEligibleAt when the next token is there. */
static void conf_lease_burst(void **state) {
    je_store *s = ((conf_fx *)*state)->s;
    int64_t t = conf_future();
    je_quota_record q = conf_quota_new(s, "T", "a", conf_limits(100, 1000, 2, 0.5), 0);
    for (int i = 0; i < 5; i++) {
        char id[16];
        snprintf(id, sizeof id, "a-%d", i);
        conf_submit(s, "T", "a", id, 0, 1000 + i);
    }
    je_lease_out out = conf_lease(s, "T", "a", 5, 600000, t);
    assert_string_equal(conf_lease_ids(&out), "a-0,a-1");
    assert_int_equal(out.held, 1);
    assert_int_equal(out.decision.kind, JE_DECISION_EXHAUSTED);
    assert_int_equal(out.decision.next_eligible_ms, t + 2000); /* 1 token at 0.5/s */
    conf_lease_free(&out);
    out = conf_lease(s, "T", "a", 5, 600000, t + 1999);
    assert_int_equal(out.n, 0);
    conf_lease_free(&out);
    out = conf_lease(s, "T", "a", 5, 600000, t + 2000);
    assert_string_equal(conf_lease_ids(&out), "a-2");
    conf_lease_free(&out);
    je_quota_record got = conf_quota_get(s, "T", q.quota_id);
    assert_int_equal(got.q.state.active, 3);
    assert_int_equal(got.q.state.hour_count, 3);
}

/* Backfill jobs hold at most ceil(maxActive * share) slots; live jobs lease first. */
static void conf_lease_backfill_share(void **state) {
    je_store *s = ((conf_fx *)*state)->s;
    je_err err;
    int64_t t = conf_future();
    je_quota_record q = conf_quota_new(s, "T", "a", conf_limits(4, 1000, 100, 1), 0);
    for (int i = 1; i <= 4; i++) {
        char id[16];
        snprintf(id, sizeof id, "b%d", i);
        conf_submit_backfill(s, "T", "a", id, i, 1000 + i);
    }
    je_lease_out out = conf_lease(s, "T", "a", 10, 60000, t);
    assert_string_equal(conf_lease_ids(&out), "b1,b2"); /* ceil(4 * 0.5) */
    assert_int_equal(out.held, 1);
    assert_int_equal(out.decision.kind, JE_DECISION_EXHAUSTED);
    je_lease_out bf = out;
    assert_int_equal(conf_quota_get(s, "T", q.quota_id).q.state.active, 2);

    /* Live work still gets the rest of the quota. */
    for (int i = 1; i <= 4; i++) {
        char id[16];
        snprintf(id, sizeof id, "l%d", i);
        conf_submit(s, "T", "a", id, 0, 5000 + i);
    }
    out = conf_lease(s, "T", "a", 10, 60000, t + 1);
    assert_string_equal(conf_lease_ids(&out), "l1,l2");
    assert_int_equal(out.held, 1);
    je_lease_out live = out;
    assert_int_equal(conf_quota_get(s, "T", q.quota_id).q.state.active, 4);

    /* One backfill slot frees: with both waiting, the live job takes it. */
    je_job done;
    assert_int_equal(
        s->ops->job_complete(s, "T", "b1", bf.jobs[0].lease_id, 1, NULL, t + 2, &done, &err),
        JE_STORE_OK);
    je_job_free(&done);
    out = conf_lease(s, "T", "a", 1, 60000, t + 3);
    assert_string_equal(conf_lease_ids(&out), "l3");
    conf_lease_free(&out);

    /* Two live slots free: l4 first, then b3 (the backfill lane holds 1 of its 2). */
    for (int i = 0; i < 2; i++) {
        assert_int_equal(s->ops->job_complete(s, "T", live.jobs[i].job_id, live.jobs[i].lease_id, 1,
                                              NULL, t + 4, &done, &err),
                         JE_STORE_OK);
        je_job_free(&done);
    }
    out = conf_lease(s, "T", "a", 10, 60000, t + 5);
    assert_string_equal(conf_lease_ids(&out), "l4,b3");
    conf_lease_free(&out);
    assert_int_equal(conf_quota_get(s, "T", q.quota_id).q.state.active, 4);

    /* The backfill lane is full (b2, b3) though a slot frees for it: b4 waits. */
    je_job l4 = conf_job_get(s, "T", "l4");
    assert_int_equal(s->ops->job_complete(s, "T", "l4", l4.lease_id, 1, NULL, t + 6, &done, &err),
                     JE_STORE_OK);
    je_job_free(&l4);
    je_job_free(&done);
    out = conf_lease(s, "T", "a", 10, 60000, t + 7);
    assert_int_equal(out.n, 0);
    assert_int_equal(out.held, 1);
    conf_lease_free(&out);
    assert_int_equal(conf_quota_get(s, "T", q.quota_id).q.state.active, 3);
    assert_int_equal(conf_job_status(s, "T", "b4"), JE_JOB_PENDING);

    /* Another share: 1.0 lets backfill take the whole quota. */
    const char *types[] = {"a"};
    je_lease_req r = conf_lease_req(types, 1, 10, 60000, t + 8);
    r.backfill_share = 1.0;
    out = conf_lease_with(s, "T", &r);
    assert_string_equal(conf_lease_ids(&out), "b4");
    conf_lease_free(&out);
    assert_int_equal(conf_quota_get(s, "T", q.quota_id).q.state.active, 4);
    conf_lease_free(&bf);
    conf_lease_free(&live);
}

/* Leases and permits share one count of active work. */
static void conf_lease_with_permits(void **state) {
    je_store *s = ((conf_fx *)*state)->s;
    je_err err;
    int64_t t = conf_future();
    je_quota_record q = conf_quota_new(s, "T", "a", conf_limits(3, 1000, 100, 1), 0);
    for (int i = 0; i < 5; i++) {
        char id[16];
        snprintf(id, sizeof id, "a-%d", i);
        conf_submit(s, "T", "a", id, 0, 1000 + i);
    }
    je_acquire p = conf_acquire(s, "T", q.quota_id, 600000, t);
    assert_int_equal(p.decision.kind, JE_DECISION_GRANT);
    je_lease_out out = conf_lease(s, "T", "a", 10, 60000, t + 1);
    assert_string_equal(conf_lease_ids(&out), "a-0,a-1");
    assert_int_equal(out.held, 1);
    conf_lease_free(&out);
    assert_int_equal(conf_quota_get(s, "T", q.quota_id).q.state.active, 3);
    je_acquire d = conf_acquire(s, "T", q.quota_id, 1000, t + 2);
    assert_int_equal(d.decision.kind, JE_DECISION_EXHAUSTED);
    assert_int_equal(d.decision.next_eligible_ms, t + 60001); /* the earliest lease */

    assert_int_equal(s->ops->quota_release(s, "T", q.quota_id, p.permit_id, t + 3, &err),
                     JE_STORE_OK);
    out = conf_lease(s, "T", "a", 10, 60000, t + 4);
    assert_string_equal(conf_lease_ids(&out), "a-2");
    conf_lease_free(&out);
    assert_int_equal(conf_quota_get(s, "T", q.quota_id).q.state.active, 3);

    /* An acquire at a later now frees the quota's expired leases first, as a lease does. */
    je_acquire late = conf_acquire(s, "T", q.quota_id, 1000, t + 60001);
    assert_int_equal(late.decision.kind, JE_DECISION_GRANT);
    assert_int_equal(late.rec.q.state.active, 2); /* a-0 and a-1 expired, a-2 still held */
    assert_int_equal(conf_job_status(s, "T", "a-0"), JE_JOB_PENDING);
    assert_int_equal(conf_job_status(s, "T", "a-2"), JE_JOB_LEASED);
}

/* A paused quota holds everything back as paused, also backfill work beyond its share
 * (api.md §3.4: "a paused quota answers 423 QUOTA_PAUSED whatever else applies"; with only
 * paused quotas holding work back, nextEligibleAt is null). */
static void conf_lease_backfill_paused(void **state) {
    je_store *s = ((conf_fx *)*state)->s;
    je_err err;
    je_quota_record got;
    int64_t t = conf_future();
    je_quota_record q = conf_quota_new(s, "T", "a", conf_limits(4, 1000, 100, 1), 0);
    for (int i = 1; i <= 3; i++) {
        char id[16];
        snprintf(id, sizeof id, "b%d", i);
        conf_submit_backfill(s, "T", "a", id, i, 1000 + i);
    }
    je_lease_out out = conf_lease(s, "T", "a", 10, 60000, t);
    assert_string_equal(conf_lease_ids(&out), "b1,b2");
    conf_lease_free(&out);
    conf_change p = conf_change_of(CONF_Q_PAUSE, NULL, conf_limits(1, 1, 1, 1), JE_CHANGE_DENY,
                                   JE_CHANGE_APPLY, NULL);
    assert_int_equal(s->ops->quota_change(s, "T", q.quota_id, NULL, conf_wall_ms(), conf_change_fn,
                                          &p, NULL, &got, &err),
                     JE_CHANGE_APPLY);
    out = conf_lease(s, "T", "a", 10, 60000, t + 1);
    assert_int_equal(out.n, 0);
    assert_int_equal(out.held, 1);
    assert_int_equal(out.only_paused, 1);
    assert_int_equal(out.decision.kind, JE_DECISION_PAUSED);
    assert_int_equal(out.decision.next_eligible_ms, JE_NO_TIME);
    conf_lease_free(&out);
}

/* A lease after an elevation's expiry reverts it first (with its audit entry). */
static void conf_lease_elevation_expiry(void **state) {
    je_store *s = ((conf_fx *)*state)->s;
    je_err err;
    je_quota_record got;
    int64_t t = conf_future();
    je_quota_limits base = conf_limits(1, 1000, 100, 1), up = conf_limits(3, 1000, 100, 1);
    je_quota_record q = conf_quota_new(s, "T", "a", base, 0);
    conf_change e =
        conf_change_of(CONF_Q_ELEVATE, NULL, up, JE_CHANGE_DENY, JE_CHANGE_APPLY, "quota.updated");
    e.expires_ms = t + 5000;
    assert_int_equal(s->ops->quota_change(s, "T", q.quota_id, NULL, conf_wall_ms(), conf_change_fn,
                                          &e, NULL, &got, &err),
                     JE_CHANGE_APPLY);
    for (int i = 0; i < 5; i++) {
        char id[16];
        snprintf(id, sizeof id, "e-%d", i);
        conf_submit(s, "T", "a", id, 0, 1000 + i);
    }
    s->hooks = &conf_elev_hooks;
    conf_elev_calls = 0;
    const char *types[] = {"a"};
    je_lease_req r = conf_lease_req(types, 1, 5, 600000, t + 4999);
    je_lease_out out;
    assert_int_equal(s->ops->jobs_lease(s, "T", &r, &out, &err), 0);
    assert_string_equal(conf_lease_ids(&out), "e-0,e-1,e-2"); /* still elevated */
    conf_limits_equal(&out.limits, &up);
    assert_int_equal(conf_elev_calls, 0);
    conf_lease_free(&out);

    r.now_ms = t + 5000;
    assert_int_equal(s->ops->jobs_lease(s, "T", &r, &out, &err), 0);
    assert_int_equal(out.n, 0);
    assert_int_equal(out.held, 1);
    conf_limits_equal(&out.limits, &base);
    assert_int_equal(conf_elev_calls, 1);
    conf_lease_free(&out);
    got = conf_quota_get(s, "T", q.quota_id);
    conf_limits_equal(&got.q.limits, &base);
    assert_int_equal(got.q.elevation_expires_ms, JE_NO_TIME);
    assert_int_equal(got.q.state.active, 3);
    assert_int_equal(conf_chain_len(s, "T"), 2);
    conf_last_event(s, "T", "quota.elevation.expired", q.quota_id);
}

#define JE_CONF_JOB_LEASING_TESTS(setup, teardown)                                                 \
    cmocka_unit_test_setup_teardown(conf_lease_order, setup, teardown),                            \
        cmocka_unit_test_setup_teardown(conf_lease_lane_order, setup, teardown),                   \
        cmocka_unit_test_setup_teardown(conf_lease_no_quota, setup, teardown),                     \
        cmocka_unit_test_setup_teardown(conf_lease_quota_resolution, setup, teardown),             \
        cmocka_unit_test_setup_teardown(conf_lease_max_active, setup, teardown),                   \
        cmocka_unit_test_setup_teardown(conf_lease_paused, setup, teardown),                       \
        cmocka_unit_test_setup_teardown(conf_lease_burst, setup, teardown),                        \
        cmocka_unit_test_setup_teardown(conf_lease_backfill_share, setup, teardown),               \
        cmocka_unit_test_setup_teardown(conf_lease_with_permits, setup, teardown),                 \
        cmocka_unit_test_setup_teardown(conf_lease_backfill_paused, setup, teardown),              \
        cmocka_unit_test_setup_teardown(conf_lease_elevation_expiry, setup, teardown)

#endif
