/* tests/unit/conformance/quota_decisions.h: conformance cases of quota decisions: acquire
 * and release, permit expiry, paused quotas, acquire idempotency, elevation expiry (its
 * callback is shared with the leasing cases), exactness under concurrency and durability. */
#ifndef JE_TESTS_CONFORMANCE_QUOTA_DECISIONS_H
#define JE_TESTS_CONFORMANCE_QUOTA_DECISIONS_H

#include "quotas.h"

/* ---- quotas: decisions ------------------------------------------------------------------ */

static void conf_quota_acquire_release(void **state) {
    je_store *s = ((conf_fx *)*state)->s;
    je_err err;
    int64_t t = conf_future();
    je_quota_record q = conf_quota_new(s, "T", "scan.image", conf_limits(2, 1000, 100, 1), 0);

    je_acquire a1 = conf_acquire(s, "T", q.quota_id, 10000, t);
    assert_int_equal(a1.decision.kind, JE_DECISION_GRANT);
    assert_int_equal(strlen(a1.permit_id), 36);
    assert_int_equal(a1.expires_ms, t + 10000);
    assert_int_equal(a1.decision.remaining, 1);
    assert_string_equal(a1.rec.quota_id, q.quota_id);
    assert_int_equal(a1.rec.q.state.active, 1);
    assert_int_equal(a1.rec.q.state.hour_count, 1);

    je_acquire a2 = conf_acquire(s, "T", q.quota_id, 5000, t + 1);
    assert_int_equal(a2.decision.kind, JE_DECISION_GRANT);
    assert_string_not_equal(a2.permit_id, a1.permit_id);
    assert_int_equal(a2.expires_ms, t + 5001);
    assert_int_equal(a2.decision.remaining, 0);
    assert_int_equal(a2.rec.q.state.active, 2);

    /* Full: denied until the earliest permit expiry. */
    je_acquire a3 = conf_acquire(s, "T", q.quota_id, 1000, t + 2);
    assert_int_equal(a3.decision.kind, JE_DECISION_EXHAUSTED);
    assert_int_equal(a3.decision.next_eligible_ms, t + 5001);
    assert_int_equal(a3.decision.remaining, 0);
    assert_int_equal(a3.rec.q.state.active, 2);

    je_quota_record got = conf_quota_get(s, "T", q.quota_id);
    assert_int_equal(got.q.state.active, 2);
    assert_int_equal(got.q.state.hour_count, 2);
    assert_int_equal(got.q.state.hour_start_ms, je_hour_floor(t));
    assert_true(got.q.state.tokens < 100.0);

    /* Release: once. */
    assert_int_equal(s->ops->quota_release(s, "T", q.quota_id, a2.permit_id, t + 3, &err),
                     JE_STORE_OK);
    assert_int_equal(s->ops->quota_release(s, "T", q.quota_id, a2.permit_id, t + 3, &err),
                     JE_STORE_NOT_FOUND);
    assert_int_equal(conf_quota_get(s, "T", q.quota_id).q.state.active, 1);
    /* Now the concurrency cap is free again; the denial pointed at the other permit. */
    je_acquire a4 = conf_acquire(s, "T", q.quota_id, 1000, t + 4);
    assert_int_equal(a4.decision.kind, JE_DECISION_GRANT);
    je_acquire a5 = conf_acquire(s, "T", q.quota_id, 1000, t + 5);
    assert_int_equal(a5.decision.kind, JE_DECISION_EXHAUSTED);
    assert_int_equal(a5.decision.next_eligible_ms, t + 1004); /* a4 expires first */

    /* Unknown permits, wrong quota, other tenants. */
    assert_int_equal(s->ops->quota_release(s, "T", q.quota_id, "no-such-permit", t + 6, &err),
                     JE_STORE_NOT_FOUND);
    je_quota_record other = conf_quota_new(s, "T", "other", conf_limits(2, 1000, 100, 1), 0);
    assert_int_equal(s->ops->quota_release(s, "T", other.quota_id, a1.permit_id, t + 6, &err),
                     JE_STORE_NOT_FOUND);
    assert_int_equal(s->ops->quota_release(s, "U", q.quota_id, a1.permit_id, t + 6, &err),
                     JE_STORE_NOT_FOUND);
    je_acquire none;
    assert_int_equal(s->ops->quota_acquire(s, "U", q.quota_id, 1000, t, NULL, &none, &err),
                     JE_STORE_NOT_FOUND);
    assert_int_equal(s->ops->quota_acquire(s, "T", "00000000-0000-7000-8000-000000000000", 1000, t,
                                           NULL, &none, &err),
                     JE_STORE_NOT_FOUND);
    assert_int_equal(conf_quota_get(s, "T", q.quota_id).q.state.active, 2);
    assert_int_equal(conf_quota_get(s, "T", other.quota_id).q.state.active, 0);
    assert_int_equal(s->ops->quota_release(s, "T", q.quota_id, a1.permit_id, t + 6, &err),
                     JE_STORE_OK);
    assert_int_equal(s->ops->quota_release(s, "T", q.quota_id, a4.permit_id, t + 6, &err),
                     JE_STORE_OK);
    assert_int_equal(conf_quota_get(s, "T", q.quota_id).q.state.active, 0);
}

static void conf_quota_permit_expiry(void **state) {
    je_store *s = ((conf_fx *)*state)->s;
    je_err err;
    int64_t t = conf_future();
    je_quota_record q = conf_quota_new(s, "T", "scan.image", conf_limits(1, 1000, 100, 1), 0);
    je_quota_record q2 = conf_quota_new(s, "T", "other", conf_limits(1, 1000, 100, 1), 0);

    je_acquire p1 = conf_acquire(s, "T", q.quota_id, 1000, t);
    assert_int_equal(p1.decision.kind, JE_DECISION_GRANT);
    je_acquire d = conf_acquire(s, "T", q.quota_id, 1000, t + 500);
    assert_int_equal(d.decision.kind, JE_DECISION_EXHAUSTED);
    assert_int_equal(d.decision.next_eligible_ms, t + 1000);

    /* Not yet expired: the sweep leaves it. */
    assert_int_equal(s->ops->permits_expire(s, t + 999, &err), 0);
    assert_int_equal(conf_quota_get(s, "T", q.quota_id).q.state.active, 1);
    /* Expired: the sweep frees its slot, and it can no longer be released. */
    assert_int_equal(s->ops->permits_expire(s, t + 1001, &err), 1);
    assert_int_equal(conf_quota_get(s, "T", q.quota_id).q.state.active, 0);
    assert_int_equal(s->ops->permits_expire(s, t + 1001, &err), 0);
    assert_int_equal(s->ops->quota_release(s, "T", q.quota_id, p1.permit_id, t + 1002, &err),
                     JE_STORE_NOT_FOUND);
    assert_int_equal(conf_quota_get(s, "T", q.quota_id).q.state.active, 0);

    /* A decision at a later now frees the expired permits first, without a sweep. */
    je_acquire p2 = conf_acquire(s, "T", q.quota_id, 1000, t + 2000);
    assert_int_equal(p2.decision.kind, JE_DECISION_GRANT);
    je_acquire p3 = conf_acquire(s, "T", q.quota_id, 1000, t + 3001);
    assert_int_equal(p3.decision.kind, JE_DECISION_GRANT);
    assert_int_equal(p3.rec.q.state.active, 1);
    assert_int_equal(s->ops->quota_release(s, "T", q.quota_id, p2.permit_id, t + 3002, &err),
                     JE_STORE_NOT_FOUND);
    assert_int_equal(s->ops->quota_release(s, "T", q.quota_id, p3.permit_id, t + 3002, &err),
                     JE_STORE_OK);
    assert_int_equal(conf_quota_get(s, "T", q.quota_id).q.state.active, 0);

    /* Releasing a permit after its expiry answers 0, and the slot is free afterwards (once). */
    je_acquire p4 = conf_acquire(s, "T", q.quota_id, 1000, t + 5000);
    je_acquire o1 = conf_acquire(s, "T", q2.quota_id, 100000, t + 5000);
    assert_int_equal(p4.decision.kind, JE_DECISION_GRANT);
    assert_int_equal(o1.decision.kind, JE_DECISION_GRANT);
    assert_int_equal(s->ops->quota_release(s, "T", q.quota_id, p4.permit_id, t + 7000, &err),
                     JE_STORE_NOT_FOUND);
    assert_true(s->ops->permits_expire(s, t + 7000, &err) >= 0);
    assert_int_equal(conf_quota_get(s, "T", q.quota_id).q.state.active, 0);
    assert_int_equal(conf_quota_get(s, "T", q2.quota_id).q.state.active, 1);

    /* Expired permits of several quotas and tenants, in one sweep. */
    je_quota_record u = conf_quota_new(s, "U", "scan.image", conf_limits(1, 1000, 100, 1), 0);
    je_acquire p5 = conf_acquire(s, "T", q.quota_id, 1000, t + 8000);
    je_acquire u1 = conf_acquire(s, "U", u.quota_id, 1000, t + 8000);
    assert_int_equal(p5.decision.kind, JE_DECISION_GRANT);
    assert_int_equal(u1.decision.kind, JE_DECISION_GRANT);
    assert_int_equal(s->ops->permits_expire(s, t + 9001, &err), 2);
    assert_int_equal(conf_quota_get(s, "T", q.quota_id).q.state.active, 0);
    assert_int_equal(conf_quota_get(s, "U", u.quota_id).q.state.active, 0);
    assert_int_equal(conf_quota_get(s, "T", q2.quota_id).q.state.active, 1); /* still live */
    assert_int_equal(s->ops->quota_release(s, "T", q2.quota_id, o1.permit_id, t + 9001, &err),
                     JE_STORE_OK);
}

static void conf_quota_paused(void **state) {
    je_store *s = ((conf_fx *)*state)->s;
    je_err err;
    int64_t t = conf_future();
    je_quota_record q = conf_quota_new(s, "T", "scan.image", conf_limits(5, 1000, 100, 1), 1);
    je_acquire a = conf_acquire(s, "T", q.quota_id, 1000, t);
    assert_int_equal(a.decision.kind, JE_DECISION_PAUSED);
    assert_int_equal(a.decision.next_eligible_ms, JE_NO_TIME);
    assert_int_equal(a.rec.q.state.active, 0);
    je_quota_record got = conf_quota_get(s, "T", q.quota_id);
    assert_int_equal(got.q.state.active, 0);
    assert_int_equal(got.q.state.hour_count, 0);
    assert_int_equal(s->ops->permits_expire(s, t + 2000, &err), 0); /* no permit was written */

    /* A paused quota that is also full still answers PAUSED. */
    je_quota_record r = conf_quota_new(s, "T", "full", conf_limits(1, 1000, 100, 1), 0);
    je_acquire g = conf_acquire(s, "T", r.quota_id, 60000, t);
    assert_int_equal(g.decision.kind, JE_DECISION_GRANT);
    conf_change p = conf_change_of(CONF_Q_PAUSE, NULL, conf_limits(1, 1, 1, 1), JE_CHANGE_DENY,
                                   JE_CHANGE_APPLY, NULL);
    assert_int_equal(s->ops->quota_change(s, "T", r.quota_id, NULL, conf_wall_ms(), conf_change_fn,
                                          &p, NULL, &got, &err),
                     JE_CHANGE_APPLY);
    je_acquire b = conf_acquire(s, "T", r.quota_id, 1000, t + 1);
    assert_int_equal(b.decision.kind, JE_DECISION_PAUSED);
    assert_int_equal(b.decision.next_eligible_ms, JE_NO_TIME);
    assert_int_equal(conf_quota_get(s, "T", r.quota_id).q.state.active, 1);
}

static void conf_quota_acquire_idempotency(void **state) {
    je_store *s = ((conf_fx *)*state)->s;
    je_err err;
    int64_t t = conf_future();
    je_quota_record q = conf_quota_new(s, "T", "scan.image", conf_limits(5, 1000, 100, 1), 0);
    char path[128];
    snprintf(path, sizeof path, "/jobengine/quotas/%s/acquire", q.quota_id);
    je_acquire a, b;
    conf_render r = {NULL, &a, 0};

    je_idem i1 = conf_idem("a1", path, 'a', conf_render_fn, &r);
    assert_int_equal(s->ops->quota_acquire(s, "T", q.quota_id, 60000, t, &i1, &a, &err),
                     JE_STORE_OK);
    assert_int_equal(a.decision.kind, JE_DECISION_GRANT);
    assert_int_equal(i1.replayed + i1.mismatch, 0);
    assert_int_equal(r.calls, 1);
    char first[256];
    snprintf(first, sizeof first, "{\"granted\":true,\"permitId\":\"%s\",\"expiresAt\":%lld}",
             a.permit_id, (long long)(t + 60000));

    /* A retry: the same permit, no second unit. */
    je_idem i2 = conf_idem("a1", path, 'a', conf_render_fn, &r);
    assert_int_equal(s->ops->quota_acquire(s, "T", q.quota_id, 60000, t + 10, &i2, &b, &err),
                     JE_STORE_OK);
    assert_int_equal(i2.replayed, 1);
    assert_int_equal(i2.status, 200);
    assert_non_null(i2.body);
    assert_string_equal(i2.body, first);
    free(i2.body);
    assert_int_equal(r.calls, 1);
    je_quota_record got = conf_quota_get(s, "T", q.quota_id);
    assert_int_equal(got.q.state.active, 1);
    assert_int_equal(got.q.state.hour_count, 1);

    /* Even after release. */
    assert_int_equal(s->ops->quota_release(s, "T", q.quota_id, a.permit_id, t + 20, &err),
                     JE_STORE_OK);
    je_idem i3 = conf_idem("a1", path, 'a', conf_render_fn, &r);
    assert_int_equal(s->ops->quota_acquire(s, "T", q.quota_id, 60000, t + 30, &i3, &b, &err),
                     JE_STORE_OK);
    assert_int_equal(i3.replayed, 1);
    assert_string_equal(i3.body, first);
    free(i3.body);
    assert_int_equal(conf_quota_get(s, "T", q.quota_id).q.state.active, 0);

    /* Another body with the key. */
    je_idem i4 = conf_idem("a1", path, 'b', conf_render_fn, &r);
    assert_int_equal(s->ops->quota_acquire(s, "T", q.quota_id, 60000, t + 40, &i4, &b, &err),
                     JE_STORE_OK);
    assert_int_equal(i4.mismatch, 1);
    assert_int_equal(i4.replayed, 0);
    assert_null(i4.body);
    got = conf_quota_get(s, "T", q.quota_id);
    assert_int_equal(got.q.state.active, 0);
    assert_int_equal(got.q.state.hour_count, 1);

    /* A denial is not remembered: the retry decides again. */
    je_quota_record one = conf_quota_new(s, "T", "one", conf_limits(1, 1000, 100, 1), 0);
    char path1[128];
    snprintf(path1, sizeof path1, "/jobengine/quotas/%s/acquire", one.quota_id);
    je_acquire held = conf_acquire(s, "T", one.quota_id, 60000, t);
    assert_int_equal(held.decision.kind, JE_DECISION_GRANT);
    je_idem i5 = conf_idem("d1", path1, 'c', conf_render_fn, &r);
    assert_int_equal(s->ops->quota_acquire(s, "T", one.quota_id, 60000, t + 1, &i5, &a, &err),
                     JE_STORE_OK);
    assert_int_equal(a.decision.kind, JE_DECISION_EXHAUSTED);
    assert_int_equal(i5.replayed + i5.mismatch, 0);
    assert_int_equal(r.calls, 1);
    assert_int_equal(s->ops->quota_release(s, "T", one.quota_id, held.permit_id, t + 2, &err),
                     JE_STORE_OK);
    je_idem i6 = conf_idem("d1", path1, 'c', conf_render_fn, &r);
    assert_int_equal(s->ops->quota_acquire(s, "T", one.quota_id, 60000, t + 3, &i6, &a, &err),
                     JE_STORE_OK);
    assert_int_equal(i6.replayed + i6.mismatch, 0);
    assert_int_equal(a.decision.kind, JE_DECISION_GRANT);
    assert_int_equal(r.calls, 2);
    assert_int_equal(conf_quota_get(s, "T", one.quota_id).q.state.active, 1);
}

/* ---- quotas: elevations ----------------------------------------------------------------- */

static int conf_elev_calls;
static je_quota_record conf_elev_before, conf_elev_after;

static json_t *conf_elev_audit(const je_quota_record *before, const je_quota_record *after,
                               int64_t now_ms) {
    conf_elev_calls++;
    conf_elev_before = *before;
    conf_elev_after = *after;
    conf_ev ev = {
        after->tenant_id, "quota.elevation.expired", "quota", after->quota_id, "jobengine", now_ms};
    return conf_entry(&ev);
}

/* The store's hooks with conf_elev_audit: the elevation tests set them on their store. */
static const je_store_hooks conf_elev_hooks = {.elevation_audit = conf_elev_audit};

static void conf_quota_elevation_expiry(void **state) {
    je_store *s = ((conf_fx *)*state)->s;
    je_err err;
    je_quota_record got;
    int64_t t = conf_future();
    je_quota_limits base = conf_limits(5, 100, 10, 1), up = conf_limits(20, 400, 40, 2.5);
    je_quota_record q = conf_quota_new(s, "T", "scan.image", base, 0);
    s->hooks = &conf_elev_hooks;
    conf_elev_calls = 0;
    assert_int_equal(s->ops->elevations_expire(s, t + JE_HOUR_MS, &err), 0);

    conf_change e =
        conf_change_of(CONF_Q_ELEVATE, NULL, up, JE_CHANGE_DENY, JE_CHANGE_APPLY, "quota.updated");
    e.expires_ms = t;
    assert_int_equal(s->ops->quota_change(s, "T", q.quota_id, NULL, conf_wall_ms(), conf_change_fn,
                                          &e, NULL, &got, &err),
                     JE_CHANGE_APPLY);
    got = conf_quota_get(s, "T", q.quota_id);
    conf_limits_equal(&got.q.limits, &up);
    conf_limits_equal(&got.q.previous, &base);
    assert_int_equal(got.q.elevation_expires_ms, t);
    assert_int_equal(got.version, 2);
    assert_int_equal(conf_chain_len(s, "T"), 1);

    /* Not yet. */
    assert_int_equal(s->ops->elevations_expire(s, t - 1, &err), 0);
    assert_int_equal(conf_elev_calls, 0);
    assert_int_equal(conf_quota_get(s, "T", q.quota_id).version, 2);

    /* At its time: back to the previous limits, a new version, the entry appended. */
    assert_int_equal(s->ops->elevations_expire(s, t, &err), 1);
    assert_int_equal(conf_elev_calls, 1);
    conf_limits_equal(&conf_elev_before.q.limits, &up);
    conf_limits_equal(&conf_elev_after.q.limits, &base);
    assert_int_equal(conf_elev_after.q.elevation_expires_ms, JE_NO_TIME);
    assert_true(conf_elev_after.version > conf_elev_before.version);
    got = conf_quota_get(s, "T", q.quota_id);
    conf_limits_equal(&got.q.limits, &base);
    assert_int_equal(got.q.elevation_expires_ms, JE_NO_TIME);
    assert_int_equal(got.version, 3);
    assert_int_equal(conf_elev_after.version, 3);
    assert_true(got.q.state.tokens <= 10.0); /* the bucket is within the restored burst */
    assert_int_equal(conf_chain_len(s, "T"), 2);
    conf_last_event(s, "T", "quota.elevation.expired", q.quota_id);

    /* Nothing more to do. */
    assert_int_equal(s->ops->elevations_expire(s, t + 1000, &err), 0);
    assert_int_equal(conf_elev_calls, 1);
    assert_int_equal(conf_chain_len(s, "T"), 2);

    /* A decision after the expiry reverts it first, with its entry. */
    e.calls = 0;
    e.expires_ms = t + 5000;
    assert_int_equal(s->ops->quota_change(s, "T", q.quota_id, NULL, conf_wall_ms(), conf_change_fn,
                                          &e, NULL, &got, &err),
                     JE_CHANGE_APPLY);
    assert_int_equal(conf_chain_len(s, "T"), 3);
    je_acquire a;
    assert_int_equal(s->ops->quota_acquire(s, "T", q.quota_id, 1000, t + 4999, NULL, &a, &err),
                     JE_STORE_OK);
    conf_limits_equal(&a.rec.q.limits, &up); /* still elevated */
    assert_int_equal(conf_elev_calls, 1);
    assert_int_equal(s->ops->quota_acquire(s, "T", q.quota_id, 1000, t + 5000, NULL, &a, &err),
                     JE_STORE_OK);
    assert_int_equal(a.decision.kind, JE_DECISION_GRANT);
    conf_limits_equal(&a.rec.q.limits, &base);
    assert_int_equal(a.rec.q.elevation_expires_ms, JE_NO_TIME);
    assert_int_equal(a.rec.version, 5);
    assert_int_equal(conf_elev_calls, 2);
    assert_int_equal(conf_chain_len(s, "T"), 4);
    conf_last_event(s, "T", "quota.elevation.expired", q.quota_id);
    got = conf_quota_get(s, "T", q.quota_id);
    conf_limits_equal(&got.q.limits, &base);
    assert_int_equal(got.version, 5);
    assert_int_equal(got.q.state.active, 2);
    assert_int_equal(s->ops->elevations_expire(s, t + 6000, &err), 0);
}

/* ---- quotas: exactness under concurrency ------------------------------------------------ */

#define CONF_ACQ_PER_THREAD 300

typedef struct conf_acq_worker {
    je_store *s;
    const char *tenant, *quota_id;
    int64_t now;
    int64_t max_active, max_per_hour;
    atomic_int *held, *max_held, *grants, *denials, *failures;
} conf_acq_worker;

static void *conf_acq_main(void *p) {
    conf_acq_worker *w = p;
    je_err err;
    je_acquire a;
    for (int i = 0; i < CONF_ACQ_PER_THREAD; i++) {
        if (w->s->ops->quota_acquire(w->s, w->tenant, w->quota_id, 600000, w->now, NULL, &a,
                                     &err) != JE_STORE_OK) {
            atomic_fetch_add(w->failures, 1);
            continue;
        }
        if (a.rec.q.state.active > w->max_active || a.rec.q.state.hour_count > w->max_per_hour)
            atomic_fetch_add(w->failures, 1);
        if (a.decision.kind == JE_DECISION_EXHAUSTED) {
            atomic_fetch_add(w->denials, 1);
            if (a.decision.next_eligible_ms == JE_NO_TIME || a.decision.next_eligible_ms < w->now)
                atomic_fetch_add(w->failures, 1);
            continue;
        }
        if (a.decision.kind != JE_DECISION_GRANT) {
            atomic_fetch_add(w->failures, 1);
            continue;
        }
        atomic_fetch_add(w->grants, 1);
        int h = atomic_fetch_add(w->held, 1) + 1;
        int m = atomic_load(w->max_held);
        while (h > m && !atomic_compare_exchange_weak(w->max_held, &m, h)) {
        }
        sched_yield();
        atomic_fetch_sub(w->held, 1);
        if (w->s->ops->quota_release(w->s, w->tenant, w->quota_id, a.permit_id, w->now, &err) !=
            JE_STORE_OK)
            atomic_fetch_add(w->failures, 1);
    }
    return NULL;
}

typedef struct conf_acq_result {
    int max_held, grants, denials, failures;
    je_quota_record rec; /* after the run */
} conf_acq_result;

static conf_acq_result conf_acq_run(je_store *s, const char *job_type, je_quota_limits l) {
    je_quota_record q = conf_quota_new(s, "T", job_type, l, 0);
    atomic_int held = 0, max_held = 0, grants = 0, denials = 0, failures = 0;
    conf_acq_worker w[CONF_THREADS];
    pthread_t t[CONF_THREADS];
    int64_t now = conf_future();
    for (int i = 0; i < CONF_THREADS; i++) {
        conf_acq_worker x = {s,     "T",       q.quota_id, now,      l.max_active, l.max_per_hour,
                             &held, &max_held, &grants,    &denials, &failures};
        w[i] = x;
    }
    double t0 = conf_now();
    for (int i = 0; i < CONF_THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, conf_acq_main, &w[i]), 0);
    for (int i = 0; i < CONF_THREADS; i++) pthread_join(t[i], NULL);
    print_message("%s: %d acquires in %.2fs, %d granted, at most %d held at once\n", job_type,
                  CONF_THREADS * CONF_ACQ_PER_THREAD, conf_now() - t0, atomic_load(&grants),
                  atomic_load(&max_held));
    conf_acq_result r = {atomic_load(&max_held), atomic_load(&grants), atomic_load(&denials),
                         atomic_load(&failures), conf_quota_get(s, "T", q.quota_id)};
    return r;
}

static void conf_quota_concurrent_active(void **state) {
    je_store *s = ((conf_fx *)*state)->s;
    conf_acq_result r = conf_acq_run(s, "busy", conf_limits(3, 1000000, 100000, 1));
    assert_int_equal(r.failures, 0);
    assert_true(r.max_held >= 1);
    assert_true(r.max_held <= 3);
    assert_int_equal(r.grants + r.denials, CONF_THREADS * CONF_ACQ_PER_THREAD);
    assert_int_equal(r.rec.q.state.active, 0);
    assert_int_equal(r.rec.q.state.hour_count, r.grants);
    assert_int_equal(r.rec.q.state.throttled, r.denials);
    assert_true(r.rec.q.state.tokens == 100000.0 - r.grants);
}

static void conf_quota_concurrent_hour(void **state) {
    je_store *s = ((conf_fx *)*state)->s;
    conf_acq_result r = conf_acq_run(s, "hourly", conf_limits(1000, 50, 100000, 1));
    assert_int_equal(r.failures, 0);
    assert_int_equal(r.grants, 50);
    assert_int_equal(r.denials, CONF_THREADS * CONF_ACQ_PER_THREAD - 50);
    assert_int_equal(r.rec.q.state.hour_count, 50);
    assert_int_equal(r.rec.q.state.active, 0);
    assert_int_equal(r.rec.q.state.throttled, r.denials);
}

/* ---- quotas: durability ----------------------------------------------------------------- */

static void conf_quota_reopen(void **state) {
    conf_fx *fx = *state;
    je_err err;
    int64_t t = conf_future();
    je_quota_record q = conf_quota_new(fx->s, "T", "scan.image", conf_limits(2, 1000, 100, 1), 0);
    je_quota_record p = conf_quota_new(fx->s, "T", "paused", conf_limits(2, 1000, 100, 1), 1);
    char path[128];
    snprintf(path, sizeof path, "/jobengine/quotas/%s/acquire", q.quota_id);
    je_acquire a1, a2;
    conf_render r = {NULL, &a1, 0};
    je_idem i1 = conf_idem("r1", path, 'a', conf_render_fn, &r);
    assert_int_equal(fx->s->ops->quota_acquire(fx->s, "T", q.quota_id, 600000, t, &i1, &a1, &err),
                     JE_STORE_OK);
    assert_int_equal(a1.decision.kind, JE_DECISION_GRANT);
    a2 = conf_acquire(fx->s, "T", q.quota_id, 600000, t + 1);
    assert_int_equal(a2.decision.kind, JE_DECISION_GRANT);
    je_quota_record before = conf_quota_get(fx->s, "T", q.quota_id);
    je_quota_record before_p = conf_quota_get(fx->s, "T", p.quota_id);

    je_store_close(fx->s);
    fx->s = je_store_open(fx->url, &err);
    assert_non_null(fx->s);
    je_store *s = fx->s;
    je_quota_record got = conf_quota_get(s, "T", q.quota_id);
    conf_quota_same(&got, &before);
    assert_int_equal(got.q.state.active, 2);
    got = conf_quota_get(s, "T", p.quota_id);
    conf_quota_same(&got, &before_p);
    conf_list_expect(s, "T", NULL, -1, "", 100, "paused,scan.image");

    /* The permits are there: the quota stays full until one is released. */
    je_acquire d = conf_acquire(s, "T", q.quota_id, 1000, t + 2);
    assert_int_equal(d.decision.kind, JE_DECISION_EXHAUSTED);
    assert_int_equal(d.decision.next_eligible_ms, t + 600000);
    je_idem i2 = conf_idem("r1", path, 'a', conf_render_fn, &r);
    je_acquire b;
    assert_int_equal(s->ops->quota_acquire(s, "T", q.quota_id, 600000, t + 3, &i2, &b, &err),
                     JE_STORE_OK);
    assert_int_equal(i2.replayed, 1); /* and so is the idempotency key */
    assert_non_null(i2.body);
    assert_non_null(strstr(i2.body, a1.permit_id));
    free(i2.body);
    assert_int_equal(s->ops->quota_release(s, "T", q.quota_id, a1.permit_id, t + 4, &err),
                     JE_STORE_OK);
    assert_int_equal(s->ops->quota_release(s, "T", q.quota_id, a2.permit_id, t + 4, &err),
                     JE_STORE_OK);
    assert_int_equal(conf_quota_get(s, "T", q.quota_id).q.state.active, 0);
}

#define JE_CONF_QUOTA_DECISION_TESTS(setup, teardown)                                              \
    cmocka_unit_test_setup_teardown(conf_quota_acquire_release, setup, teardown),                  \
        cmocka_unit_test_setup_teardown(conf_quota_permit_expiry, setup, teardown),                \
        cmocka_unit_test_setup_teardown(conf_quota_paused, setup, teardown),                       \
        cmocka_unit_test_setup_teardown(conf_quota_acquire_idempotency, setup, teardown),          \
        cmocka_unit_test_setup_teardown(conf_quota_elevation_expiry, setup, teardown),             \
        cmocka_unit_test_setup_teardown(conf_quota_concurrent_active, setup, teardown),            \
        cmocka_unit_test_setup_teardown(conf_quota_concurrent_hour, setup, teardown),              \
        cmocka_unit_test_setup_teardown(conf_quota_reopen, setup, teardown)

#endif
