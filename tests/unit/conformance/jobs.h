/* tests/unit/conformance/jobs.h: the job helpers (building, submitting, reading, leasing,
 * listing and counting jobs) shared with the leasing and lifecycle cases, and the
 * conformance cases of job submit and reads: get, list and counts, submit idempotency. */
#ifndef JE_TESTS_CONFORMANCE_JOBS_H
#define JE_TESTS_CONFORMANCE_JOBS_H

#include "quotas.h"

/* ---- jobs: helpers ---------------------------------------------------------------------- */

/* A pending live job as the API builds it: no lease, no backfill fields, 3 attempts. */
static je_job conf_job_of(const char *tenant, const char *job_type, const char *job_id,
                          int64_t priority, int64_t created_ms) {
    je_job j;
    memset(&j, 0, sizeof j);
    snprintf(j.tenant_id, sizeof j.tenant_id, "%s", tenant);
    snprintf(j.job_type, sizeof j.job_type, "%s", job_type);
    snprintf(j.job_id, sizeof j.job_id, "%s", job_id);
    j.status = JE_JOB_PENDING;
    j.lane = JE_LANE_LIVE;
    j.priority = priority;
    j.event_time_ms = j.batch = j.window_start_ms = j.window_end_ms = JE_NO_TIME;
    j.max_attempts = 3;
    j.available_ms = j.created_ms = j.updated_ms = created_ms;
    j.completed_ms = j.lease_until_ms = j.lease_ms = JE_NO_TIME;
    return j;
}

/* Submits j (payload: the given JSON text, or {"id":job_id}) without idempotency. */
static void conf_job_put(je_store *s, je_job *j, const char *payload) {
    char buf[128];
    je_err err;
    snprintf(buf, sizeof buf, "{\"id\":\"%s\"}", j->job_id);
    j->payload = strdup(payload ? payload : buf);
    assert_non_null(j->payload);
    assert_int_equal(s->ops->job_submit(s, j, NULL, &err), 0);
    je_job_free(j);
}

static void conf_submit(je_store *s, const char *tenant, const char *job_type, const char *job_id,
                        int64_t priority, int64_t created_ms) {
    je_job j = conf_job_of(tenant, job_type, job_id, priority, created_ms);
    conf_job_put(s, &j, NULL);
}

/* A backfill batch job (lane 1). */
static void conf_submit_backfill(je_store *s, const char *tenant, const char *job_type,
                                 const char *job_id, int64_t batch, int64_t created_ms) {
    je_job j = conf_job_of(tenant, job_type, job_id, 0, created_ms);
    j.lane = JE_LANE_BACKFILL;
    snprintf(j.backfill_id, sizeof j.backfill_id, "bf-0001");
    j.batch = batch;
    j.window_start_ms = 1000000 * batch;
    j.window_end_ms = 1000000 * (batch + 1);
    conf_job_put(s, &j, NULL);
}

/* The job (found); the caller frees it with je_job_free. */
static je_job conf_job_get(je_store *s, const char *tenant, const char *job_id) {
    je_job j;
    je_err err;
    assert_int_equal(s->ops->job_get(s, tenant, job_id, &j, &err), JE_STORE_OK);
    return j;
}

static int conf_job_status(je_store *s, const char *tenant, const char *job_id) {
    je_job j = conf_job_get(s, tenant, job_id);
    je_job_free(&j);
    return j.status;
}

static je_lease_req conf_lease_req(const char *const *types, size_t n, int max, int64_t lease_ms,
                                   int64_t now) {
    je_lease_req q;
    memset(&q, 0, sizeof q);
    q.job_types = types;
    q.n_job_types = n;
    q.worker_id = "worker-1";
    q.max = max;
    q.lease_ms = lease_ms;
    q.now_ms = now;
    q.backfill_share = 0.5;
    q.unlimited_when_no_quota = 1;
    return q;
}

static je_lease_out conf_lease_with(je_store *s, const char *tenant, const je_lease_req *q) {
    je_lease_out out;
    je_err err;
    assert_int_equal(s->ops->jobs_lease(s, tenant, q, &out, &err), 0);
    assert_true(out.n <= (size_t)q->max);
    return out;
}

/* Leases job types given as one comma-separated string ("a,b"). */
static je_lease_out conf_lease(je_store *s, const char *tenant, const char *types, int max,
                               int64_t lease_ms, int64_t now) {
    static char buf[8][JE_JOBTYPE_MAX + 1];
    const char *list[8];
    size_t n = 0;
    const char *p = types;
    while (*p && n < 8) {
        size_t len = strcspn(p, ",");
        snprintf(buf[n], sizeof buf[n], "%.*s", (int)len, p);
        list[n] = buf[n];
        n++;
        p += len + (p[len] == ',');
    }
    je_lease_req q = conf_lease_req(list, n, max, lease_ms, now);
    return conf_lease_with(s, tenant, &q);
}

static void conf_lease_free(je_lease_out *out) {
    for (size_t i = 0; i < out->n; i++) je_job_free(&out->jobs[i]);
    free(out->jobs);
    memset(out, 0, sizeof *out);
}

/* The leased job ids joined with ',' (in the order the lease answered). */
static const char *conf_lease_ids(const je_lease_out *out) {
    static char joined[4096];
    joined[0] = '\0';
    for (size_t i = 0; i < out->n; i++) {
        size_t used = strlen(joined);
        snprintf(joined + used, sizeof joined - used, "%s%s", i ? "," : "", out->jobs[i].job_id);
    }
    return joined;
}

/* The leased job of that id (which must be there). */
static const je_job *conf_leased(const je_lease_out *out, const char *job_id) {
    for (size_t i = 0; i < out->n; i++)
        if (strcmp(out->jobs[i].job_id, job_id) == 0) return &out->jobs[i];
    fail_msg("%s was not leased", job_id);
    return NULL;
}

/* Job ids visited by job_list, joined with ','. */
typedef struct conf_jlist {
    char joined[4096];
    int n;
    int stop_after; /* 0: never */
} conf_jlist;

static int conf_collect_job(void *ctx, const je_job *j) {
    conf_jlist *l = ctx;
    size_t used = strlen(l->joined);
    snprintf(l->joined + used, sizeof l->joined - used, "%s%s", l->n ? "," : "", j->job_id);
    l->n++;
    return l->stop_after && l->n >= l->stop_after;
}

static void conf_jobs_expect(je_store *s, const char *tenant, int status, const char *job_type,
                             int64_t after_created, const char *after_id, int limit,
                             const char *want) {
    je_job_filter f = {status, job_type, after_created, after_id, limit, 0};
    conf_jlist l;
    memset(&l, 0, sizeof l);
    je_err err;
    assert_int_equal(s->ops->job_list(s, tenant, &f, conf_collect_job, &l, &err), 0);
    assert_string_equal(l.joined, want);
}

typedef struct conf_jcounts {
    char type[16][JE_JOBTYPE_MAX + 1];
    int status[16];
    int64_t count[16];
    int n;
} conf_jcounts;

static int conf_collect_count(void *ctx, const char *job_type, int status, int64_t count) {
    conf_jcounts *c = ctx;
    if (c->n < 16) {
        snprintf(c->type[c->n], sizeof c->type[0], "%s", job_type);
        c->status[c->n] = status;
        c->count[c->n] = count;
    }
    c->n++;
    return 0;
}

/* The count visited for (job type, status), 0 when none was; each pair is visited once. */
static int64_t conf_count_of(const conf_jcounts *c, const char *job_type, int status) {
    int64_t found = 0;
    int seen = 0;
    for (int i = 0; i < c->n && i < 16; i++)
        if (strcmp(c->type[i], job_type) == 0 && c->status[i] == status)
            found = c->count[i], seen++;
    assert_true(seen <= 1);
    return found;
}

static char *conf_render_job(void *ctx, int *status) {
    const je_job *j = ctx;
    char *body = malloc(128);
    if (!body) return NULL;
    *status = 201;
    snprintf(body, 128, "{\"jobId\":\"%s\"}", j->job_id);
    return body;
}

/* ---- jobs: submit and reads ------------------------------------------------------------- */

static void conf_job_submit_get(void **state) {
    je_store *s = ((conf_fx *)*state)->s;
    je_err err;
    je_job j = conf_job_of("T", "scan.image", "0190aaaa-0000-7000-8000-000000000001", 42, 5000);
    snprintf(j.source_id, sizeof j.source_id, "src:ingest-1");
    snprintf(j.event_key, sizeof j.event_key, "evt 7/x");
    j.event_time_ms = 4000;
    j.max_attempts = 5;
    conf_job_put(s, &j, "{\"a\":[1,2,{\"b\":null}],\"z\":\"\\u00e9\"}");

    je_job got = conf_job_get(s, "T", "0190aaaa-0000-7000-8000-000000000001");
    assert_string_equal(got.job_id, "0190aaaa-0000-7000-8000-000000000001");
    assert_string_equal(got.tenant_id, "T");
    assert_string_equal(got.job_type, "scan.image");
    assert_int_equal(got.status, JE_JOB_PENDING);
    assert_int_equal(got.lane, JE_LANE_LIVE);
    assert_int_equal(got.priority, 42);
    assert_string_equal(got.payload, "{\"a\":[1,2,{\"b\":null}],\"z\":\"\\u00e9\"}"); /* as given */
    assert_string_equal(got.source_id, "src:ingest-1");
    assert_string_equal(got.event_key, "evt 7/x");
    assert_int_equal(got.event_time_ms, 4000);
    assert_string_equal(got.backfill_id, "");
    assert_int_equal(got.batch, JE_NO_TIME);
    assert_int_equal(got.window_start_ms, JE_NO_TIME);
    assert_int_equal(got.window_end_ms, JE_NO_TIME);
    assert_int_equal(got.attempt, 0);
    assert_int_equal(got.failures, 0);
    assert_int_equal(got.max_attempts, 5);
    assert_int_equal(got.available_ms, 5000);
    assert_string_equal(got.lease_id, "");
    assert_int_equal(got.lease_until_ms, JE_NO_TIME);
    assert_int_equal(got.lease_ms, JE_NO_TIME);
    assert_string_equal(got.worker_id, "");
    assert_string_equal(got.quota_id, "");
    assert_string_equal(got.error, "");
    assert_int_equal(got.created_ms, 5000);
    assert_int_equal(got.updated_ms, 5000);
    assert_int_equal(got.completed_ms, JE_NO_TIME);
    je_job_free(&got);

    /* Optional fields left out come back as none; a payload may be any JSON value. */
    je_job k = conf_job_of("T", "scan.image", "plain", -1000, 6000);
    conf_job_put(s, &k, "null");
    got = conf_job_get(s, "T", "plain");
    assert_string_equal(got.payload, "null");
    assert_string_equal(got.source_id, "");
    assert_string_equal(got.event_key, "");
    assert_int_equal(got.event_time_ms, JE_NO_TIME);
    assert_int_equal(got.priority, -1000);
    je_job_free(&got);

    /* A backfill batch job keeps its lane and window. */
    conf_submit_backfill(s, "T", "scan.image", "bf-job", 3, 7000);
    got = conf_job_get(s, "T", "bf-job");
    assert_int_equal(got.lane, JE_LANE_BACKFILL);
    assert_string_equal(got.backfill_id, "bf-0001");
    assert_int_equal(got.batch, 3);
    assert_int_equal(got.window_start_ms, 3000000);
    assert_int_equal(got.window_end_ms, 4000000);
    je_job_free(&got);

    /* Unknown ids and other tenants. */
    je_job none;
    assert_int_equal(s->ops->job_get(s, "T", "nope", &none, &err), JE_STORE_NOT_FOUND);
    assert_int_equal(s->ops->job_get(s, "U", "plain", &none, &err), JE_STORE_NOT_FOUND);
    /* The same job id in another tenant is another job. */
    conf_submit(s, "U", "other", "plain", 1, 8000);
    got = conf_job_get(s, "U", "plain");
    assert_string_equal(got.job_type, "other");
    je_job_free(&got);
    got = conf_job_get(s, "T", "plain");
    assert_string_equal(got.job_type, "scan.image");
    je_job_free(&got);
}

static void conf_job_list_counts(void **state) {
    je_store *s = ((conf_fx *)*state)->s;
    je_err err;
    int64_t t = conf_future();
    /* Created out of order, with ties on createdAt broken by job id. */
    conf_submit(s, "T", "a", "j5", 0, 3000);
    conf_submit(s, "T", "b", "j2", 9, 1000);
    conf_submit(s, "T", "a", "j4", 0, 2000);
    conf_submit(s, "T", "a", "j1", -5, 2000);
    conf_submit(s, "T", "b", "j3", 0, 2000);
    conf_submit(s, "T", "c", "j6", 0, 4000);
    conf_submit(s, "U", "a", "u1", 0, 1500);

    conf_jobs_expect(s, "T", -1, NULL, INT64_MIN, "", 100, "j2,j1,j3,j4,j5,j6");
    conf_jobs_expect(s, "U", -1, NULL, INT64_MIN, "", 100, "u1");
    conf_jobs_expect(s, "nobody", -1, NULL, INT64_MIN, "", 100, "");
    conf_jobs_expect(s, "T", -1, "a", INT64_MIN, "", 100, "j1,j4,j5");
    conf_jobs_expect(s, "T", -1, "zzz", INT64_MIN, "", 100, "");
    conf_jobs_expect(s, "T", JE_JOB_PENDING, NULL, INT64_MIN, "", 100, "j2,j1,j3,j4,j5,j6");
    conf_jobs_expect(s, "T", JE_JOB_LEASED, NULL, INT64_MIN, "", 100, "");

    /* Pagination: (createdAt, jobId) strictly after the cursor. */
    conf_jobs_expect(s, "T", -1, NULL, INT64_MIN, "", 2, "j2,j1");
    conf_jobs_expect(s, "T", -1, NULL, 2000, "j1", 2, "j3,j4");
    conf_jobs_expect(s, "T", -1, NULL, 2000, "j4", 2, "j5,j6");
    conf_jobs_expect(s, "T", -1, NULL, 4000, "j6", 2, "");
    conf_jobs_expect(s, "T", -1, NULL, 1000, "j2", 100, "j1,j3,j4,j5,j6");
    conf_jobs_expect(s, "T", -1, NULL, 2000, "", 100, "j1,j3,j4,j5,j6"); /* ties from the start */
    conf_jobs_expect(s, "T", -1, NULL, 1999, "zzz", 100, "j1,j3,j4,j5,j6");
    conf_jobs_expect(s, "T", -1, "a", 2000, "j1", 1, "j4");
    conf_jobs_expect(s, "T", -1, NULL, INT64_MIN, "", 0, "");

    conf_jlist l;
    memset(&l, 0, sizeof l);
    l.stop_after = 3; /* the visitor stops the list */
    je_job_filter f = {-1, NULL, INT64_MIN, "", 100, 0};
    assert_int_equal(s->ops->job_list(s, "T", &f, conf_collect_job, &l, &err), 0);
    assert_string_equal(l.joined, "j2,j1,j3");

    /* Move some jobs on: j2 leased (the highest priority), j3 succeeded, j4 failed once (back to
     * pending), j6 leased and j7 failed for good (one attempt only). */
    je_job j7 = conf_job_of("T", "c", "j7", 0, 5000);
    j7.max_attempts = 1;
    conf_job_put(s, &j7, NULL);
    je_lease_out out = conf_lease(s, "T", "b", 1, 60000, t);
    assert_string_equal(conf_lease_ids(&out), "j2");
    conf_lease_free(&out);
    out = conf_lease(s, "T", "a,b", 2, 60000, t);
    assert_string_equal(conf_lease_ids(&out), "j3,j4"); /* priority 0: older first, then id */
    je_job done;
    assert_int_equal(
        s->ops->job_complete(s, "T", "j3", out.jobs[0].lease_id, 1, NULL, t + 1, &done, &err),
        JE_STORE_OK);
    je_job_free(&done);
    assert_int_equal(
        s->ops->job_complete(s, "T", "j4", out.jobs[1].lease_id, 0, "oops", t + 1, &done, &err),
        JE_STORE_OK);
    je_job_free(&done);
    conf_lease_free(&out);
    out = conf_lease(s, "T", "c", 5, 60000, t);
    assert_string_equal(conf_lease_ids(&out), "j6,j7");
    assert_int_equal(
        s->ops->job_complete(s, "T", "j7", out.jobs[1].lease_id, 0, "bad", t + 1, &done, &err),
        JE_STORE_OK);
    je_job_free(&done);
    conf_lease_free(&out);

    conf_jobs_expect(s, "T", JE_JOB_PENDING, NULL, INT64_MIN, "", 100, "j1,j4,j5");
    conf_jobs_expect(s, "T", JE_JOB_LEASED, NULL, INT64_MIN, "", 100, "j2,j6");
    conf_jobs_expect(s, "T", JE_JOB_SUCCEEDED, NULL, INT64_MIN, "", 100, "j3");
    conf_jobs_expect(s, "T", JE_JOB_FAILED, NULL, INT64_MIN, "", 100, "j7");
    conf_jobs_expect(s, "T", JE_JOB_CANCELED, NULL, INT64_MIN, "", 100, "");
    conf_jobs_expect(s, "T", JE_JOB_SUCCEEDED, "a", INT64_MIN, "", 100, ""); /* filters combine */
    conf_jobs_expect(s, "T", JE_JOB_PENDING, "a", 2000, "j1", 100, "j4,j5");
    conf_jobs_expect(s, "T", JE_JOB_LEASED, NULL, 1000, "j2", 100, "j6");
    conf_jobs_expect(s, "T", -1, NULL, INT64_MIN, "", 100, "j2,j1,j3,j4,j5,j6,j7");

    /* Counts per (job type, status), of the tenant only. */
    conf_jcounts c;
    memset(&c, 0, sizeof c);
    assert_int_equal(s->ops->job_counts(s, "T", conf_collect_count, &c, &err), 0);
    assert_int_equal(c.n, 5);
    assert_int_equal(conf_count_of(&c, "a", JE_JOB_PENDING), 3);
    assert_int_equal(conf_count_of(&c, "b", JE_JOB_LEASED), 1);
    assert_int_equal(conf_count_of(&c, "b", JE_JOB_SUCCEEDED), 1);
    assert_int_equal(conf_count_of(&c, "b", JE_JOB_PENDING), 0);
    assert_int_equal(conf_count_of(&c, "c", JE_JOB_LEASED), 1);
    assert_int_equal(conf_count_of(&c, "c", JE_JOB_FAILED), 1);
    memset(&c, 0, sizeof c);
    assert_int_equal(s->ops->job_counts(s, "U", conf_collect_count, &c, &err), 0);
    assert_int_equal(c.n, 1);
    assert_int_equal(conf_count_of(&c, "a", JE_JOB_PENDING), 1);
    memset(&c, 0, sizeof c);
    assert_int_equal(s->ops->job_counts(s, "nobody", conf_collect_count, &c, &err), 0);
    assert_int_equal(c.n, 0);
}

static void conf_job_submit_idempotency(void **state) {
    je_store *s = ((conf_fx *)*state)->s;
    je_err err;
    je_job none;
    const char *path = "/jobengine/jobs";
    je_job a = conf_job_of("T", "scan.image", "first", 0, 1000);
    a.payload = strdup("{\"n\":1}");
    je_idem i1 = conf_idem("s1", path, 'a', conf_render_job, &a);
    assert_int_equal(s->ops->job_submit(s, &a, &i1, &err), 0);
    assert_int_equal(i1.replayed + i1.mismatch, 0);
    assert_null(i1.body);
    je_job_free(&a);

    /* A retry with the same key and body: the first answer, no second job. */
    je_job b = conf_job_of("T", "scan.image", "second", 0, 2000);
    b.payload = strdup("{\"n\":1}");
    je_idem i2 = conf_idem("s1", path, 'a', conf_render_job, &b);
    assert_int_equal(s->ops->job_submit(s, &b, &i2, &err), 0);
    assert_int_equal(i2.replayed, 1);
    assert_int_equal(i2.mismatch, 0);
    assert_int_equal(i2.status, 201);
    assert_non_null(i2.body);
    assert_string_equal(i2.body, "{\"jobId\":\"first\"}");
    free(i2.body);
    assert_int_equal(s->ops->job_get(s, "T", "second", &none, &err), JE_STORE_NOT_FOUND);

    /* The same key with another body: a mismatch, nothing stored. */
    je_idem i3 = conf_idem("s1", path, 'b', conf_render_job, &b);
    assert_int_equal(s->ops->job_submit(s, &b, &i3, &err), 0);
    assert_int_equal(i3.mismatch, 1);
    assert_int_equal(i3.replayed, 0);
    assert_null(i3.body);
    assert_int_equal(s->ops->job_get(s, "T", "second", &none, &err), JE_STORE_NOT_FOUND);
    conf_jobs_expect(s, "T", -1, NULL, INT64_MIN, "", 100, "first");

    /* Keys are per tenant, and a new key stores a new job. */
    je_job u = conf_job_of("U", "scan.image", "second", 0, 2000);
    u.payload = strdup("{\"n\":1}");
    je_idem i4 = conf_idem("s1", path, 'a', conf_render_job, &u);
    assert_int_equal(s->ops->job_submit(s, &u, &i4, &err), 0);
    assert_int_equal(i4.replayed + i4.mismatch, 0);
    je_job_free(&u);
    je_idem i5 = conf_idem("s2", path, 'b', conf_render_job, &b);
    assert_int_equal(s->ops->job_submit(s, &b, &i5, &err), 0);
    assert_int_equal(i5.replayed + i5.mismatch, 0);
    je_job_free(&b);
    conf_jobs_expect(s, "T", -1, NULL, INT64_MIN, "", 100, "first,second");
    conf_jobs_expect(s, "U", -1, NULL, INT64_MIN, "", 100, "second");

    /* An idem without a key is no idempotency at all. */
    je_job c = conf_job_of("T", "scan.image", "third", 0, 3000);
    c.payload = strdup("1");
    je_idem i6 = conf_idem(NULL, path, 'a', conf_render_job, &c);
    assert_int_equal(s->ops->job_submit(s, &c, &i6, &err), 0);
    assert_int_equal(i6.replayed + i6.mismatch, 0);
    je_job_free(&c);
    conf_jobs_expect(s, "T", -1, NULL, INT64_MIN, "", 100, "first,second,third");
}

#define JE_CONF_JOB_TESTS(setup, teardown)                                                         \
    cmocka_unit_test_setup_teardown(conf_job_submit_get, setup, teardown),                         \
        cmocka_unit_test_setup_teardown(conf_job_list_counts, setup, teardown),                    \
        cmocka_unit_test_setup_teardown(conf_job_submit_idempotency, setup, teardown)

#endif
