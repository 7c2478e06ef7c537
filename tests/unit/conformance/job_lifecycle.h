/* tests/unit/conformance/job_lifecycle.h: conformance cases of leased jobs: heartbeat,
 * complete (also after their quota is deleted), lease expiry, pending counts, exactness under
 * concurrency and durability of jobs across a reopen. */
#ifndef JE_TESTS_CONFORMANCE_JOB_LIFECYCLE_H
#define JE_TESTS_CONFORMANCE_JOB_LIFECYCLE_H

#include "jobs.h"
#include "quotas.h"

/* ---- jobs: heartbeat, complete, expiry -------------------------------------------------- */

static void conf_job_heartbeat(void **state) {
    je_store *s = ((conf_fx *)*state)->s;
    je_err err;
    je_job hb;
    int64_t t = conf_future();
    je_quota_record q = conf_quota_new(s, "T", "a", conf_limits(2, 1000, 100, 1), 0);
    conf_submit(s, "T", "a", "h-0", 0, 1000);
    conf_submit(s, "T", "a", "h-1", 0, 1001);
    je_lease_out out = conf_lease(s, "T", "a", 1, 10000, t);
    assert_string_equal(conf_lease_ids(&out), "h-0");
    char lease[37];
    snprintf(lease, sizeof lease, "%s", out.jobs[0].lease_id);
    conf_lease_free(&out);

    assert_int_equal(s->ops->job_heartbeat(s, "T", "h-0", lease, 20000, t + 5000, &hb, &err),
                     JE_STORE_OK);
    assert_string_equal(hb.job_id, "h-0");
    assert_int_equal(hb.status, JE_JOB_LEASED);
    assert_string_equal(hb.lease_id, lease); /* the same lease, moved on */
    assert_int_equal(hb.lease_until_ms, t + 25000);
    assert_int_equal(hb.lease_ms, 20000);
    assert_int_equal(hb.attempt, 1);
    assert_int_equal(hb.updated_ms, t + 5000);
    je_job_free(&hb);
    je_job got = conf_job_get(s, "T", "h-0");
    assert_int_equal(got.lease_until_ms, t + 25000);
    assert_string_equal(got.lease_id, lease);
    je_job_free(&got);

    /* Not this lease, no such job, another tenant, a job never leased. */
    assert_int_equal(s->ops->job_heartbeat(s, "T", "h-0", "00000000-0000-7000-8000-000000000000",
                                           60000, t + 6000, &hb, &err),
                     JE_STORE_LEASE_LOST);
    je_job_free(&hb);
    assert_int_equal(s->ops->job_heartbeat(s, "T", "h-0", "", 60000, t + 6000, &hb, &err),
                     JE_STORE_LEASE_LOST);
    je_job_free(&hb);
    assert_int_equal(s->ops->job_heartbeat(s, "T", "nope", lease, 60000, t + 6000, &hb, &err),
                     JE_STORE_NOT_FOUND);
    je_job_free(&hb);
    assert_int_equal(s->ops->job_heartbeat(s, "U", "h-0", lease, 60000, t + 6000, &hb, &err),
                     JE_STORE_NOT_FOUND);
    je_job_free(&hb);
    assert_int_equal(s->ops->job_heartbeat(s, "T", "h-1", lease, 60000, t + 6000, &hb, &err),
                     JE_STORE_LEASE_LOST);
    je_job_free(&hb);
    got = conf_job_get(s, "T", "h-0");
    assert_int_equal(got.lease_until_ms, t + 25000); /* none of those moved it */
    je_job_free(&got);
    assert_int_equal(conf_job_status(s, "T", "h-1"), JE_JOB_PENDING);

    /* Just in time, then too late. */
    assert_int_equal(s->ops->job_heartbeat(s, "T", "h-0", lease, 1000, t + 24999, &hb, &err),
                     JE_STORE_OK);
    assert_int_equal(hb.lease_until_ms, t + 25999);
    je_job_free(&hb);
    assert_int_equal(s->ops->job_heartbeat(s, "T", "h-0", lease, 60000, t + 25999, &hb, &err),
                     JE_STORE_LEASE_LOST);
    je_job_free(&hb);
    je_job done;
    assert_int_equal(s->ops->job_complete(s, "T", "h-0", lease, 1, NULL, t + 26000, &done, &err),
                     JE_STORE_LEASE_LOST);
    je_job_free(&done);
    assert_int_equal(conf_quota_get(s, "T", q.quota_id).q.state.active, 1); /* until swept */
    assert_int_equal(s->ops->leases_expire(s, t + 26000, &err), 1);
    assert_int_equal(conf_quota_get(s, "T", q.quota_id).q.state.active, 0);
    assert_int_equal(conf_job_status(s, "T", "h-0"), JE_JOB_PENDING);
    assert_int_equal(s->ops->job_heartbeat(s, "T", "h-0", lease, 60000, t + 26001, &hb, &err),
                     JE_STORE_LEASE_LOST);
    je_job_free(&hb);
}

static void conf_job_complete(void **state) {
    je_store *s = ((conf_fx *)*state)->s;
    je_err err;
    je_job done;
    int64_t t = conf_future();
    je_quota_record q = conf_quota_new(s, "T", "a", conf_limits(2, 1000, 100, 1), 0);
    conf_submit(s, "T", "a", "ok", 10, 1000);
    je_job r = conf_job_of("T", "a", "retry", 5, 1000);
    r.max_attempts = 2;
    conf_job_put(s, &r, NULL);
    je_lease_out out = conf_lease(s, "T", "a", 2, 60000, t);
    assert_string_equal(conf_lease_ids(&out), "ok,retry");
    char ok_lease[37], retry_lease[37];
    snprintf(ok_lease, sizeof ok_lease, "%s", out.jobs[0].lease_id);
    snprintf(retry_lease, sizeof retry_lease, "%s", out.jobs[1].lease_id);
    conf_lease_free(&out);
    assert_int_equal(conf_quota_get(s, "T", q.quota_id).q.state.active, 2);

    /* Not its lease: nothing changes. */
    assert_int_equal(s->ops->job_complete(s, "T", "ok", retry_lease, 1, NULL, t + 50, &done, &err),
                     JE_STORE_LEASE_LOST);
    je_job_free(&done);
    assert_int_equal(s->ops->job_complete(s, "T", "nope", ok_lease, 1, NULL, t + 50, &done, &err),
                     JE_STORE_NOT_FOUND);
    je_job_free(&done);
    assert_int_equal(s->ops->job_complete(s, "U", "ok", ok_lease, 1, NULL, t + 50, &done, &err),
                     JE_STORE_NOT_FOUND);
    je_job_free(&done);
    assert_int_equal(conf_job_status(s, "T", "ok"), JE_JOB_LEASED);
    assert_int_equal(conf_quota_get(s, "T", q.quota_id).q.state.active, 2);

    /* Succeeded: the slot is released, once. */
    assert_int_equal(s->ops->job_complete(s, "T", "ok", ok_lease, 1, NULL, t + 100, &done, &err),
                     JE_STORE_OK);
    assert_int_equal(done.status, JE_JOB_SUCCEEDED);
    assert_int_equal(done.completed_ms, t + 100);
    assert_int_equal(done.updated_ms, t + 100);
    assert_int_equal(done.attempt, 1);
    assert_int_equal(done.failures, 0);
    assert_string_equal(done.lease_id, "");
    assert_string_equal(done.error, "");
    je_job_free(&done);
    assert_int_equal(conf_quota_get(s, "T", q.quota_id).q.state.active, 1);
    assert_int_equal(s->ops->job_complete(s, "T", "ok", ok_lease, 1, NULL, t + 101, &done, &err),
                     JE_STORE_LEASE_LOST);
    je_job_free(&done);
    assert_int_equal(s->ops->job_complete(s, "T", "ok", ok_lease, 0, "x", t + 101, &done, &err),
                     JE_STORE_LEASE_LOST);
    je_job_free(&done);
    assert_int_equal(conf_quota_get(s, "T", q.quota_id).q.state.active, 1);
    je_job got = conf_job_get(s, "T", "ok");
    assert_int_equal(got.status, JE_JOB_SUCCEEDED);
    assert_int_equal(got.completed_ms, t + 100);
    assert_string_equal(got.lease_id, "");
    je_job_free(&got);

    /* Failed with attempts left: pending again after the backoff. */
    assert_int_equal(
        s->ops->job_complete(s, "T", "retry", retry_lease, 0, "boom", t + 100, &done, &err),
        JE_STORE_OK);
    assert_int_equal(done.status, JE_JOB_PENDING);
    assert_int_equal(done.available_ms, t + 100 + 2000);
    assert_int_equal(done.failures, 1);
    assert_int_equal(done.attempt, 1);
    assert_string_equal(done.error, "boom");
    assert_int_equal(done.completed_ms, JE_NO_TIME);
    assert_string_equal(done.lease_id, "");
    je_job_free(&done);
    assert_int_equal(conf_quota_get(s, "T", q.quota_id).q.state.active, 0);
    assert_int_equal(
        s->ops->job_complete(s, "T", "retry", retry_lease, 0, "boom", t + 101, &done, &err),
        JE_STORE_LEASE_LOST);
    je_job_free(&done);
    out = conf_lease(s, "T", "a", 5, 60000, t + 2099);
    assert_int_equal(out.n, 0);
    assert_int_equal(out.held, 0);
    conf_lease_free(&out);
    out = conf_lease(s, "T", "a", 5, 60000, t + 2100);
    assert_string_equal(conf_lease_ids(&out), "retry");
    assert_int_equal(out.jobs[0].attempt, 2);
    assert_string_not_equal(out.jobs[0].lease_id, retry_lease);
    snprintf(retry_lease, sizeof retry_lease, "%s", out.jobs[0].lease_id);
    conf_lease_free(&out);

    /* The attempt that reaches maxAttempts leaves it failed. */
    assert_int_equal(
        s->ops->job_complete(s, "T", "retry", retry_lease, 0, "boom2", t + 2200, &done, &err),
        JE_STORE_OK);
    assert_int_equal(done.status, JE_JOB_FAILED);
    assert_int_equal(done.failures, 2);
    assert_int_equal(done.attempt, 2);
    assert_int_equal(done.completed_ms, t + 2200);
    assert_string_equal(done.error, "boom2");
    je_job_free(&done);
    assert_int_equal(conf_quota_get(s, "T", q.quota_id).q.state.active, 0);
    out = conf_lease(s, "T", "a", 5, 60000, t + 600000);
    assert_int_equal(out.n, 0);
    conf_lease_free(&out);
    got = conf_job_get(s, "T", "retry");
    assert_int_equal(got.status, JE_JOB_FAILED);
    assert_string_equal(got.error, "boom2");
    je_job_free(&got);

    /* The backoff doubles: 2 s, then 4 s. A failure without an error has none. */
    conf_submit(s, "T", "a", "three", 0, 2000);
    out = conf_lease(s, "T", "a", 1, 60000, t + 3000);
    assert_string_equal(conf_lease_ids(&out), "three");
    assert_int_equal(
        s->ops->job_complete(s, "T", "three", out.jobs[0].lease_id, 0, NULL, t + 3010, &done, &err),
        JE_STORE_OK);
    assert_int_equal(done.available_ms, t + 5010);
    assert_string_equal(done.error, "");
    je_job_free(&done);
    conf_lease_free(&out);
    out = conf_lease(s, "T", "a", 1, 60000, t + 5010);
    assert_string_equal(conf_lease_ids(&out), "three");
    assert_int_equal(
        s->ops->job_complete(s, "T", "three", out.jobs[0].lease_id, 0, "e2", t + 5020, &done, &err),
        JE_STORE_OK);
    assert_int_equal(done.status, JE_JOB_PENDING);
    assert_int_equal(done.available_ms, t + 9020);
    assert_int_equal(done.failures, 2);
    je_job_free(&done);
    conf_lease_free(&out);
    out = conf_lease(s, "T", "a", 1, 60000, t + 9019);
    assert_int_equal(out.n, 0);
    conf_lease_free(&out);
    out = conf_lease(s, "T", "a", 1, 60000, t + 9020);
    assert_string_equal(conf_lease_ids(&out), "three");
    assert_int_equal(out.jobs[0].attempt, 3);
    assert_int_equal(
        s->ops->job_complete(s, "T", "three", out.jobs[0].lease_id, 1, NULL, t + 9030, &done, &err),
        JE_STORE_OK);
    assert_int_equal(done.status, JE_JOB_SUCCEEDED);
    assert_string_equal(done.error, ""); /* success clears the last failure's error */
    je_job_free(&done);
    conf_lease_free(&out);
    assert_int_equal(conf_quota_get(s, "T", q.quota_id).q.state.active, 0);
}

/* A quota deleted while its leases run: the leases go on, completing them frees nothing (not
 * even in a new quota of the same job type). */
static void conf_job_complete_quota_deleted(void **state) {
    je_store *s = ((conf_fx *)*state)->s;
    je_err err;
    je_job done;
    je_quota_record got;
    int64_t t = conf_future();
    je_quota_record q = conf_quota_new(s, "T", "a", conf_limits(2, 1000, 100, 1), 0);
    conf_submit(s, "T", "a", "d-0", 0, 1000);
    conf_submit(s, "T", "a", "d-1", 0, 1001);
    je_lease_out out = conf_lease(s, "T", "a", 1, 60000, t);
    assert_string_equal(conf_lease_ids(&out), "d-0");
    conf_change d = conf_change_of(CONF_Q_CREATE, NULL, conf_limits(1, 1, 1, 1), JE_CHANGE_DENY,
                                   JE_CHANGE_DELETE, NULL);
    assert_int_equal(s->ops->quota_change(s, "T", q.quota_id, NULL, conf_wall_ms(), conf_change_fn,
                                          &d, NULL, &got, &err),
                     JE_CHANGE_DELETE);
    je_quota_record again = conf_quota_new(s, "T", "a", conf_limits(1, 1000, 100, 1), 0);
    je_lease_out out2 = conf_lease(s, "T", "a", 1, 60000, t + 1);
    assert_string_equal(conf_lease_ids(&out2), "d-1");
    assert_string_equal(out2.jobs[0].quota_id, again.quota_id);
    assert_int_equal(conf_quota_get(s, "T", again.quota_id).q.state.active, 1);

    assert_int_equal(
        s->ops->job_heartbeat(s, "T", "d-0", out.jobs[0].lease_id, 60000, t + 2, &done, &err),
        JE_STORE_OK);
    je_job_free(&done);
    assert_int_equal(
        s->ops->job_complete(s, "T", "d-0", out.jobs[0].lease_id, 1, NULL, t + 3, &done, &err),
        JE_STORE_OK);
    assert_int_equal(done.status, JE_JOB_SUCCEEDED);
    je_job_free(&done);
    assert_int_equal(conf_quota_get(s, "T", again.quota_id).q.state.active, 1);
    assert_int_equal(
        s->ops->job_complete(s, "T", "d-1", out2.jobs[0].lease_id, 1, NULL, t + 4, &done, &err),
        JE_STORE_OK);
    je_job_free(&done);
    assert_int_equal(conf_quota_get(s, "T", again.quota_id).q.state.active, 0);
    conf_lease_free(&out);
    conf_lease_free(&out2);
}

static void conf_leases_expire(void **state) {
    je_store *s = ((conf_fx *)*state)->s;
    je_err err;
    je_job x;
    int64_t t = conf_future();
    je_quota_record q = conf_quota_new(s, "T", "a", conf_limits(2, 1000, 100, 1), 0);
    je_quota_record u = conf_quota_new(s, "U", "a", conf_limits(2, 1000, 100, 1), 0);
    for (int i = 0; i < 4; i++) {
        char id[16];
        snprintf(id, sizeof id, "e-%d", i);
        conf_submit(s, "T", "a", id, 0, 1000 + i);
    }
    conf_submit(s, "T", "free", "free-0", 0, 1000);
    conf_submit(s, "U", "a", "u-0", 0, 1000);
    je_lease_out out = conf_lease(s, "T", "a", 5, 1000, t);
    assert_string_equal(conf_lease_ids(&out), "e-0,e-1");
    char old[37];
    snprintf(old, sizeof old, "%s", out.jobs[0].lease_id);
    conf_lease_free(&out);
    out = conf_lease(s, "T", "free", 5, 1000, t); /* no quota */
    assert_string_equal(conf_lease_ids(&out), "free-0");
    conf_lease_free(&out);
    out = conf_lease(s, "U", "a", 5, 5000, t);
    assert_string_equal(conf_lease_ids(&out), "u-0");
    conf_lease_free(&out);

    assert_int_equal(s->ops->leases_expire(s, t + 999, &err), 0);
    assert_int_equal(conf_quota_get(s, "T", q.quota_id).q.state.active, 2);
    assert_int_equal(s->ops->leases_expire(s, t + 1000, &err), 3); /* at leaseUntil */
    assert_int_equal(s->ops->leases_expire(s, t + 1000, &err), 0);
    assert_int_equal(conf_quota_get(s, "T", q.quota_id).q.state.active, 0);
    assert_int_equal(conf_quota_get(s, "U", u.quota_id).q.state.active, 1);
    je_job got = conf_job_get(s, "T", "e-0");
    assert_int_equal(got.status, JE_JOB_PENDING);
    assert_int_equal(got.attempt, 1);  /* kept: attempt counts leases granted */
    assert_int_equal(got.failures, 0); /* not a failed attempt */
    assert_string_equal(got.lease_id, "");
    assert_string_equal(got.worker_id, "");
    assert_string_equal(got.quota_id, "");
    assert_int_equal(got.completed_ms, JE_NO_TIME);
    assert_true(got.available_ms <= t + 1000); /* leasable at once */
    je_job_free(&got);
    assert_int_equal(conf_job_status(s, "T", "free-0"), JE_JOB_PENDING);
    assert_int_equal(conf_job_status(s, "U", "u-0"), JE_JOB_LEASED);

    /* The expired lease is lost; using it frees nothing twice. */
    assert_int_equal(s->ops->job_heartbeat(s, "T", "e-0", old, 1000, t + 1001, &x, &err),
                     JE_STORE_LEASE_LOST);
    je_job_free(&x);
    assert_int_equal(s->ops->job_complete(s, "T", "e-0", old, 1, NULL, t + 1001, &x, &err),
                     JE_STORE_LEASE_LOST);
    je_job_free(&x);
    assert_int_equal(conf_quota_get(s, "T", q.quota_id).q.state.active, 0);

    /* Leased again: the oldest first, the attempt goes on. */
    out = conf_lease(s, "T", "a", 5, 1000, t + 1001);
    assert_string_equal(conf_lease_ids(&out), "e-0,e-1");
    assert_int_equal(out.jobs[0].attempt, 2);
    conf_lease_free(&out);
    out = conf_lease(s, "T", "a", 5, 1000, t + 1500);
    assert_int_equal(out.n, 0);
    assert_int_equal(out.held, 1);
    assert_int_equal(out.decision.next_eligible_ms, t + 2001);
    conf_lease_free(&out);

    /* A lease at a later now frees the quota's expired leases first, without a sweep. */
    out = conf_lease(s, "T", "a", 5, 1000, t + 2001);
    assert_string_equal(conf_lease_ids(&out), "e-0,e-1");
    assert_int_equal(out.jobs[0].attempt, 3);
    assert_int_equal(out.held, 1);
    conf_lease_free(&out);
    je_quota_record gq = conf_quota_get(s, "T", q.quota_id);
    assert_int_equal(gq.q.state.active, 2);
    assert_int_equal(gq.q.state.hour_count, 6);
    assert_int_equal(s->ops->leases_expire(s, t + 2001, &err), 0);

    /* One sweep over tenants and quotas. */
    assert_int_equal(s->ops->leases_expire(s, t + 5000, &err), 3);
    assert_int_equal(conf_quota_get(s, "T", q.quota_id).q.state.active, 0);
    assert_int_equal(conf_quota_get(s, "U", u.quota_id).q.state.active, 0);
    assert_int_equal(conf_job_status(s, "U", "u-0"), JE_JOB_PENDING);
    conf_jobs_expect(s, "T", JE_JOB_PENDING, NULL, INT64_MIN, "", 100, "e-0,free-0,e-1,e-2,e-3");
}

/* quota_view: the record quota_get gives and the count jobs_pending gives, in one read. */
static void conf_view_expect(je_store *s, const char *tenant, const je_quota_record *q,
                             int64_t pending) {
    je_quota_record v;
    je_err err;
    int64_t n = -1;
    assert_int_equal(s->ops->quota_view(s, tenant, q->quota_id, &v, &n, &err), JE_STORE_OK);
    je_quota_record g = conf_quota_get(s, tenant, q->quota_id);
    conf_quota_same(&v, &g);
    assert_int_equal(n, pending);
    assert_int_equal(n, s->ops->jobs_pending(s, tenant, q->job_type, &err));
}

static void conf_jobs_pending(void **state) {
    je_store *s = ((conf_fx *)*state)->s;
    je_err err;
    int64_t t = conf_future();
    je_quota_record qa = conf_quota_new(s, "T", "a", conf_limits(5, 1000, 100, 1), 0);
    je_quota_record qstar = conf_quota_new(s, "T", "*", conf_limits(5, 1000, 100, 1), 0);
    je_quota_record ub = conf_quota_new(s, "U", "b", conf_limits(5, 1000, 100, 1), 0);
    conf_view_expect(s, "T", &qa, 0);
    const char *types[] = {"a", "a", "a", "b", "b", "c"};
    for (int i = 0; i < 6; i++) {
        char id[16];
        snprintf(id, sizeof id, "p-%d", i);
        conf_submit(s, "T", types[i], id, 0, 1000 + i);
    }
    for (int i = 0; i < 4; i++) {
        char id[16];
        snprintf(id, sizeof id, "u-%d", i);
        conf_submit(s, "U", "c", id, 0, 1000 + i);
    }
    assert_int_equal(s->ops->jobs_pending(s, "T", "a", &err), 3);
    assert_int_equal(s->ops->jobs_pending(s, "T", "b", &err), 2);
    assert_int_equal(s->ops->jobs_pending(s, "T", "c", &err), 1);
    assert_int_equal(s->ops->jobs_pending(s, "T", "zzz", &err), 0);
    assert_int_equal(s->ops->jobs_pending(s, "T", "*", &err),
                     3); /* b and c: no quota of their own */
    assert_int_equal(s->ops->jobs_pending(s, "U", "c", &err), 4);
    assert_int_equal(s->ops->jobs_pending(s, "U", "*", &err), 4);
    assert_int_equal(s->ops->jobs_pending(s, "nobody", "*", &err), 0);
    conf_view_expect(s, "T", &qa, 3);
    conf_view_expect(s, "T", &qstar, 3);
    conf_view_expect(s, "U", &ub, 0);
    je_quota_record none;
    int64_t n = 0;
    assert_int_equal(s->ops->quota_view(s, "T", ub.quota_id, &none, &n, &err), /* U's */
                     JE_STORE_NOT_FOUND);
    assert_int_equal(s->ops->quota_view(s, "T", "no-such-quota", &none, &n, &err),
                     JE_STORE_NOT_FOUND);

    /* Leased and finished jobs are not pending; a job waiting out its backoff is. */
    je_lease_out out = conf_lease(s, "T", "a,b", 2, 60000, t);
    assert_string_equal(conf_lease_ids(&out), "p-0,p-1");
    je_job done;
    assert_int_equal(
        s->ops->job_complete(s, "T", "p-0", out.jobs[0].lease_id, 0, "x", t + 1, &done, &err),
        JE_STORE_OK);
    je_job_free(&done);
    conf_lease_free(&out);
    out = conf_lease(s, "T", "b", 1, 60000, t + 2);
    assert_string_equal(conf_lease_ids(&out), "p-3");
    assert_int_equal(
        s->ops->job_complete(s, "T", "p-3", out.jobs[0].lease_id, 1, NULL, t + 3, &done, &err),
        JE_STORE_OK);
    je_job_free(&done);
    conf_lease_free(&out);
    assert_int_equal(s->ops->jobs_pending(s, "T", "a", &err), 2); /* p-0 (backoff), p-2 */
    assert_int_equal(s->ops->jobs_pending(s, "T", "b", &err), 1);
    assert_int_equal(s->ops->jobs_pending(s, "T", "*", &err), 2);
    conf_view_expect(s, "T", &qa, 2);
    conf_view_expect(s, "T", &qstar, 2);

    /* A quota of its own takes the type out of "*". */
    je_quota_record qc = conf_quota_new(s, "T", "c", conf_limits(5, 1000, 100, 1), 0);
    assert_int_equal(s->ops->jobs_pending(s, "T", "*", &err), 1);
    assert_int_equal(s->ops->jobs_pending(s, "T", "c", &err), 1);
    conf_view_expect(s, "T", &qstar, 1);
    conf_view_expect(s, "T", &qc, 1);
}

/* ---- jobs: exactness under concurrency -------------------------------------------------- */

#define CONF_JOBS 400
#define CONF_JOB_MAX_ACTIVE 3

typedef struct conf_job_run {
    je_store *s;
    int64_t now;
    atomic_int held, max_held, completed, leased, empty, failures, overlaps;
    atomic_int in_flight[CONF_JOBS];
    atomic_int succeeded[CONF_JOBS];
    double deadline;
} conf_job_run;

static int conf_job_index(const je_job *j) {
    const char *p = j->payload ? strstr(j->payload, "\"i\":") : NULL;
    int i = p ? atoi(p + 4) : -1;
    return i >= 0 && i < CONF_JOBS ? i : -1;
}

static void *conf_job_worker(void *p) {
    conf_job_run *r = p;
    je_err err;
    const char *types[] = {"busy"};
    je_lease_req q = conf_lease_req(types, 1, 2, 600000, r->now);
    while (atomic_load(&r->completed) < CONF_JOBS && conf_now() < r->deadline) {
        je_lease_out out;
        if (r->s->ops->jobs_lease(r->s, "T", &q, &out, &err) != 0) {
            atomic_fetch_add(&r->failures, 1);
            continue;
        }
        if (out.n == 0) {
            atomic_fetch_add(&r->empty, 1);
            sched_yield();
        }
        if (out.n > 2) atomic_fetch_add(&r->failures, 1);
        int h = atomic_fetch_add(&r->held, (int)out.n) + (int)out.n;
        int m = atomic_load(&r->max_held);
        while (h > m && !atomic_compare_exchange_weak(&r->max_held, &m, h)) {
        }
        atomic_fetch_add(&r->leased, (int)out.n);
        int idx[2] = {-1, -1};
        for (size_t k = 0; k < out.n && k < 2; k++) {
            idx[k] = conf_job_index(&out.jobs[k]);
            if (idx[k] < 0 || atomic_exchange(&r->in_flight[idx[k]], 1) != 0)
                atomic_fetch_add(&r->overlaps, 1);
        }
        sched_yield();
        for (size_t k = 0; k < out.n && k < 2; k++) {
            /* stop counting it as held before the store may hand its slot to another */
            if (idx[k] >= 0) atomic_store(&r->in_flight[idx[k]], 0);
            atomic_fetch_sub(&r->held, 1);
            je_job done;
            int rc = r->s->ops->job_complete(r->s, "T", out.jobs[k].job_id, out.jobs[k].lease_id, 1,
                                             NULL, r->now, &done, &err);
            if (rc == JE_STORE_OK && done.status == JE_JOB_SUCCEEDED && idx[k] >= 0) {
                atomic_fetch_add(&r->succeeded[idx[k]], 1);
                atomic_fetch_add(&r->completed, 1);
            } else {
                atomic_fetch_add(&r->failures, 1);
            }
            je_job_free(&done);
        }
        conf_lease_free(&out);
    }
    return NULL;
}

typedef struct conf_jsum {
    int succeeded, attempt_one;
} conf_jsum;

static int conf_sum_job(void *ctx, const je_job *j) {
    conf_jsum *c = ctx;
    c->succeeded += j->status == JE_JOB_SUCCEEDED;
    c->attempt_one += j->attempt == 1;
    return 0;
}

static void conf_jobs_concurrent(void **state) {
    je_store *s = ((conf_fx *)*state)->s;
    je_err err;
    je_quota_record q =
        conf_quota_new(s, "T", "busy", conf_limits(CONF_JOB_MAX_ACTIVE, 1000000, 100000, 1), 0);
    for (int i = 0; i < CONF_JOBS; i++) {
        char id[16], payload[32];
        snprintf(id, sizeof id, "c-%03d", i);
        snprintf(payload, sizeof payload, "{\"i\":%d}", i);
        je_job j = conf_job_of("T", "busy", id, i % 7, 1000 + i);
        conf_job_put(s, &j, payload);
    }
    conf_job_run *r = calloc(1, sizeof *r);
    assert_non_null(r);
    r->s = s;
    r->now = conf_future();
    double t0 = conf_now();
    r->deadline = t0 + 90;
    pthread_t t[CONF_THREADS];
    for (int i = 0; i < CONF_THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, conf_job_worker, r), 0);
    for (int i = 0; i < CONF_THREADS; i++) pthread_join(t[i], NULL);
    print_message("jobs: %d leased and completed by %d threads in %.2fs, %d empty leases, at most "
                  "%d held at once\n",
                  atomic_load(&r->leased), CONF_THREADS, conf_now() - t0, atomic_load(&r->empty),
                  atomic_load(&r->max_held));
    assert_int_equal(atomic_load(&r->failures), 0);
    assert_int_equal(atomic_load(&r->overlaps), 0);
    assert_true(atomic_load(&r->max_held) >= 1);
    assert_true(atomic_load(&r->max_held) <= CONF_JOB_MAX_ACTIVE);
    assert_int_equal(atomic_load(&r->completed), CONF_JOBS);
    assert_int_equal(atomic_load(&r->leased), CONF_JOBS); /* none leased twice */
    for (int i = 0; i < CONF_JOBS; i++) assert_int_equal(atomic_load(&r->succeeded[i]), 1);
    conf_jsum sum = {0, 0};
    je_job_filter f = {-1, "busy", INT64_MIN, "", CONF_JOBS + 10, 0};
    assert_int_equal(s->ops->job_list(s, "T", &f, conf_sum_job, &sum, &err), 0);
    assert_int_equal(sum.succeeded, CONF_JOBS);
    assert_int_equal(sum.attempt_one, CONF_JOBS);
    je_quota_record got = conf_quota_get(s, "T", q.quota_id);
    assert_int_equal(got.q.state.active, 0);
    assert_int_equal(got.q.state.hour_count, CONF_JOBS);
    assert_int_equal(s->ops->jobs_pending(s, "T", "busy", &err), 0);
    free(r);
}

/* ---- jobs: durability ------------------------------------------------------------------- */

static void conf_jobs_reopen(void **state) {
    conf_fx *fx = *state;
    je_err err;
    je_job x;
    int64_t t = conf_future();
    je_quota_record q = conf_quota_new(fx->s, "T", "a", conf_limits(2, 1000, 100, 1), 0);
    conf_submit(fx->s, "T", "a", "r-0", 0, 1000);
    conf_submit(fx->s, "T", "a", "r-1", 0, 1001);
    conf_submit(fx->s, "T", "a", "r-2", 0, 1002);
    je_job k = conf_job_of("T", "a", "r-idem", -1, 1003);
    k.payload = strdup("{\"k\":1}");
    je_idem i1 = conf_idem("rk", "/jobengine/jobs", 'a', conf_render_job, &k);
    assert_int_equal(fx->s->ops->job_submit(fx->s, &k, &i1, &err), 0);
    je_job_free(&k);
    je_lease_out out = conf_lease(fx->s, "T", "a", 5, 600000, t);
    assert_string_equal(conf_lease_ids(&out), "r-0,r-1");
    char l0[37], l1[37];
    snprintf(l0, sizeof l0, "%s", out.jobs[0].lease_id);
    snprintf(l1, sizeof l1, "%s", out.jobs[1].lease_id);
    conf_lease_free(&out);

    je_store_close(fx->s);
    fx->s = je_store_open(fx->url, &err);
    assert_non_null(fx->s);
    je_store *s = fx->s;
    je_job got = conf_job_get(s, "T", "r-0");
    assert_int_equal(got.status, JE_JOB_LEASED);
    assert_string_equal(got.lease_id, l0);
    assert_int_equal(got.lease_until_ms, t + 600000);
    assert_int_equal(got.lease_ms, 600000);
    assert_int_equal(got.attempt, 1);
    assert_string_equal(got.quota_id, q.quota_id);
    assert_string_equal(got.worker_id, "worker-1");
    je_job_free(&got);
    assert_int_equal(conf_job_status(s, "T", "r-2"), JE_JOB_PENDING);
    assert_int_equal(conf_quota_get(s, "T", q.quota_id).q.state.active, 2);
    conf_jobs_expect(s, "T", -1, NULL, INT64_MIN, "", 100, "r-0,r-1,r-2,r-idem");

    /* The leases are still held: the quota stays full, and they can be used. */
    out = conf_lease(s, "T", "a", 5, 600000, t + 1);
    assert_int_equal(out.n, 0);
    assert_int_equal(out.held, 1);
    assert_int_equal(out.decision.next_eligible_ms, t + 600000);
    conf_lease_free(&out);
    assert_int_equal(s->ops->job_heartbeat(s, "T", "r-0", l0, 1000, t + 2, &x, &err), JE_STORE_OK);
    je_job_free(&x);
    assert_int_equal(s->ops->job_complete(s, "T", "r-1", l1, 1, NULL, t + 3, &x, &err),
                     JE_STORE_OK);
    je_job_free(&x);
    assert_int_equal(conf_quota_get(s, "T", q.quota_id).q.state.active, 1);
    assert_int_equal(s->ops->leases_expire(s, t + 1002, &err), 1); /* r-0's shortened lease */
    assert_int_equal(conf_quota_get(s, "T", q.quota_id).q.state.active, 0);

    /* The idempotency key survived too. */
    je_job k2 = conf_job_of("T", "a", "r-idem-2", -1, 1004);
    k2.payload = strdup("{\"k\":1}");
    je_idem i2 = conf_idem("rk", "/jobengine/jobs", 'a', conf_render_job, &k2);
    assert_int_equal(s->ops->job_submit(s, &k2, &i2, &err), 0);
    assert_int_equal(i2.replayed, 1);
    assert_non_null(i2.body);
    assert_string_equal(i2.body, "{\"jobId\":\"r-idem\"}");
    free(i2.body);
    je_job_free(&k2);
    assert_int_equal(s->ops->job_get(s, "T", "r-idem-2", &x, &err), JE_STORE_NOT_FOUND);
}

#define JE_CONF_JOB_LIFECYCLE_TESTS(setup, teardown)                                               \
    cmocka_unit_test_setup_teardown(conf_job_heartbeat, setup, teardown),                          \
        cmocka_unit_test_setup_teardown(conf_job_complete, setup, teardown),                       \
        cmocka_unit_test_setup_teardown(conf_job_complete_quota_deleted, setup, teardown),         \
        cmocka_unit_test_setup_teardown(conf_leases_expire, setup, teardown),                      \
        cmocka_unit_test_setup_teardown(conf_jobs_pending, setup, teardown),                       \
        cmocka_unit_test_setup_teardown(conf_jobs_concurrent, setup, teardown),                    \
        cmocka_unit_test_setup_teardown(conf_jobs_reopen, setup, teardown)

#endif
