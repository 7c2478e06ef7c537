/* tests/unit/conformance/quotas.h: the quota helpers (limits, the change callback, records,
 * lists, audit checks, acquire, idempotency) shared with the quota decision and job cases,
 * and the conformance cases of quota changes: create/get/list, audit, delete, job type
 * uniqueness and idempotency. */
#ifndef JE_TESTS_CONFORMANCE_QUOTAS_H
#define JE_TESTS_CONFORMANCE_QUOTAS_H

#include "common.h"

/* ---- quotas: helpers -------------------------------------------------------------------- */

static int64_t conf_wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A fixed "now" for decisions: one minute into an hour that has not begun yet, so that every
 * decision of a test at T + (less than 59 minutes) falls in the same UTC hour, after the
 * quota's creation (whose callback runs at the wall clock, conf_wall_ms). */
static int64_t conf_future(void) {
    return je_hour_floor(conf_wall_ms()) + 2 * JE_HOUR_MS + 60000;
}

static je_quota_limits conf_limits(int64_t max_active, int64_t max_per_hour, int64_t burst,
                                   double refill) {
    je_quota_limits l = {max_active, max_per_hour, burst, refill};
    return l;
}

/* What the change callback does. */
enum { CONF_Q_CREATE, CONF_Q_PAUSE, CONF_Q_ELEVATE, CONF_Q_RENAME };

typedef struct conf_change {
    int kind;               /* what an existing record becomes (a missing one is created) */
    const char *job_type;   /* the job type of a created (or renamed) quota */
    je_quota_limits limits; /* create: its limits; elevate: the elevated limits */
    int paused;             /* create: starts paused */
    int64_t expires_ms;     /* elevate: until */
    int when_new;           /* returned when the quota does not exist: JE_CHANGE_* or -1 */
    int when_exists;        /* returned when it does */
    const char *event;      /* the audit entry to set (also for DENY and -1); NULL: none */
    /* out */
    int calls, exists;
    char tenant_seen[JE_TENANT_MAX + 1];
} conf_change;

static conf_change conf_change_of(int kind, const char *job_type, je_quota_limits l, int when_new,
                                  int when_exists, const char *event) {
    conf_change c;
    memset(&c, 0, sizeof c);
    c.kind = kind;
    c.job_type = job_type;
    c.limits = l;
    c.expires_ms = JE_NO_TIME;
    c.when_new = when_new;
    c.when_exists = when_exists;
    c.event = event;
    return c;
}

/* The record is edited also when the callback then fails (-1): nothing of it may be stored. */
static int conf_change_fn(void *ctx, je_quota_record *rec, int exists, int64_t now_ms,
                          json_t **audit, je_err *err) {
    conf_change *c = ctx;
    c->calls++;
    c->exists = exists;
    snprintf(c->tenant_seen, sizeof c->tenant_seen, "%s", rec->tenant_id);
    int rc = exists ? c->when_exists : c->when_new;
    if (rc == JE_CHANGE_APPLY || rc == -1) {
        if (!exists) {
            je_uuid7(now_ms, rec->quota_id);
            snprintf(rec->job_type, sizeof rec->job_type, "%s", c->job_type);
            je_quota_init(&rec->q, &c->limits, now_ms);
            rec->q.paused = c->paused;
            rec->version = 1;
            rec->created_ms = now_ms;
            snprintf(rec->created_by, sizeof rec->created_by, "conf-bot");
        } else {
            rec->version++;
            if (c->kind == CONF_Q_PAUSE) {
                rec->q.paused = 1;
                snprintf(rec->pause_reason, sizeof rec->pause_reason, "maintenance");
                snprintf(rec->pause_ticket, sizeof rec->pause_ticket, "OPS-7");
            } else if (c->kind == CONF_Q_ELEVATE) {
                je_quota_elevate(&rec->q, &c->limits, c->expires_ms);
            } else if (c->kind == CONF_Q_RENAME) {
                snprintf(rec->job_type, sizeof rec->job_type, "%s", c->job_type);
            }
        }
        rec->updated_ms = now_ms;
        snprintf(rec->updated_by, sizeof rec->updated_by, "conf-bot");
        snprintf(rec->last_reason, sizeof rec->last_reason, "conformance");
        snprintf(rec->last_ticket, sizeof rec->last_ticket, "OPS-1");
    }
    if (c->event) {
        conf_ev ev = {rec->tenant_id, c->event, "quota", rec->quota_id[0] ? rec->quota_id : NULL,
                      "conf-bot",     now_ms};
        *audit = conf_entry(&ev);
    }
    if (rc < 0) return je_err_set(err, "TEST", "the change callback failed");
    return rc;
}

/* Creates a quota of job_type (without audit) and returns it. */
static je_quota_record conf_quota_new(je_store *s, const char *tenant, const char *job_type,
                                      je_quota_limits l, int paused) {
    conf_change c =
        conf_change_of(CONF_Q_CREATE, job_type, l, JE_CHANGE_APPLY, JE_CHANGE_DENY, NULL);
    c.paused = paused;
    je_quota_record out;
    je_err err;
    assert_int_equal(s->ops->quota_change(s, tenant, NULL, job_type, conf_wall_ms(), conf_change_fn,
                                          &c, NULL, &out, &err),
                     JE_CHANGE_APPLY);
    assert_int_equal(c.calls, 1);
    assert_int_equal(c.exists, 0);
    assert_string_equal(c.tenant_seen, tenant);
    return out;
}

static je_quota_record conf_quota_get(je_store *s, const char *tenant, const char *quota_id) {
    je_quota_record r;
    je_err err;
    assert_int_equal(s->ops->quota_get(s, tenant, quota_id, &r, &err), JE_STORE_OK);
    return r;
}

static void conf_limits_equal(const je_quota_limits *a, const je_quota_limits *b) {
    assert_int_equal(a->max_active, b->max_active);
    assert_int_equal(a->max_per_hour, b->max_per_hour);
    assert_int_equal(a->burst_capacity, b->burst_capacity);
    assert_true(a->refill_per_second == b->refill_per_second);
}

/* Every stored member of two records is equal. */
static void conf_quota_same(const je_quota_record *a, const je_quota_record *b) {
    assert_string_equal(a->quota_id, b->quota_id);
    assert_string_equal(a->tenant_id, b->tenant_id);
    assert_string_equal(a->job_type, b->job_type);
    conf_limits_equal(&a->q.limits, &b->q.limits);
    assert_int_equal(a->q.paused, b->q.paused);
    assert_int_equal(a->q.state.active, b->q.state.active);
    assert_int_equal(a->q.state.hour_count, b->q.state.hour_count);
    assert_int_equal(a->q.state.hour_start_ms, b->q.state.hour_start_ms);
    assert_true(a->q.state.tokens == b->q.state.tokens);
    assert_int_equal(a->q.state.last_refill_ms, b->q.state.last_refill_ms);
    assert_int_equal(a->q.state.throttled, b->q.state.throttled);
    assert_int_equal(a->q.state.throttled_hour_ms, b->q.state.throttled_hour_ms);
    assert_int_equal(a->q.elevation_expires_ms, b->q.elevation_expires_ms);
    conf_limits_equal(&a->q.previous, &b->q.previous);
    assert_string_equal(a->pause_reason, b->pause_reason);
    assert_string_equal(a->pause_ticket, b->pause_ticket);
    assert_int_equal(a->version, b->version);
    assert_int_equal(a->created_ms, b->created_ms);
    assert_int_equal(a->updated_ms, b->updated_ms);
    assert_string_equal(a->created_by, b->created_by);
    assert_string_equal(a->updated_by, b->updated_by);
    assert_string_equal(a->last_reason, b->last_reason);
    assert_string_equal(a->last_ticket, b->last_ticket);
}

/* Job types visited by quota_list, joined with ','. */
typedef struct conf_qlist {
    char joined[1024];
    int n;
    int stop_after; /* 0: never */
} conf_qlist;

static int conf_collect_quota(void *ctx, const je_quota_record *q) {
    conf_qlist *l = ctx;
    size_t used = strlen(l->joined);
    snprintf(l->joined + used, sizeof l->joined - used, "%s%s", l->n ? "," : "", q->job_type);
    l->n++;
    return l->stop_after && l->n >= l->stop_after;
}

static void conf_list_expect(je_store *s, const char *tenant, const char *job_type, int paused,
                             const char *after, int limit, const char *want) {
    je_quota_filter f = {job_type, paused, after, limit};
    conf_qlist l;
    memset(&l, 0, sizeof l);
    je_err err;
    assert_int_equal(s->ops->quota_list(s, tenant, &f, conf_collect_quota, &l, &err), 0);
    assert_string_equal(l.joined, want);
}

/* The length of tenant's (valid) chain. */
static int64_t conf_chain_len(je_store *s, const char *tenant) {
    je_audit_verifier v = conf_verify(s, tenant);
    assert_true(v.valid);
    return v.entries;
}

static int conf_keep_last(void *ctx, int64_t sequence, const char *json, size_t len) {
    char **last = ctx;
    (void)sequence;
    free(*last);
    *last = strndup(json, len);
    return 0;
}

/* Asserts tenant's last entry has the event type (and resource id, when not NULL). */
static void conf_last_event(je_store *s, const char *tenant, const char *event,
                            const char *resource_id) {
    char *last = NULL;
    je_err err;
    assert_int_equal(s->ops->audit_scan(s, tenant, 1, conf_keep_last, &last, &err), 0);
    assert_non_null(last);
    json_t *j = json_loads(last, 0, NULL);
    free(last);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "eventType")), event);
    if (resource_id)
        assert_string_equal(json_string_value(json_object_get(j, "resourceId")), resource_id);
    json_decref(j);
}

static je_acquire conf_acquire(je_store *s, const char *tenant, const char *quota_id,
                               int64_t ttl_ms, int64_t now_ms) {
    je_acquire a;
    je_err err;
    assert_int_equal(s->ops->quota_acquire(s, tenant, quota_id, ttl_ms, now_ms, NULL, &a, &err),
                     JE_STORE_OK);
    return a;
}

static je_idem conf_idem(const char *key, const char *path, char hash_fill,
                         char *(*render)(void *, int *), void *render_ctx) {
    je_idem i;
    memset(&i, 0, sizeof i);
    i.key = key;
    i.method = "POST";
    i.path = path;
    memset(i.request_hash, hash_fill, 64);
    i.request_hash[64] = '\0';
    i.render = render;
    i.render_ctx = render_ctx;
    return i;
}

/* Renders a created quota (render_ctx: the record quota_change fills). */
typedef struct conf_render {
    const je_quota_record *rec;
    const je_acquire *acq;
    int calls;
} conf_render;

static char *conf_render_fn(void *ctx, int *status) {
    conf_render *r = ctx;
    char *body = malloc(256);
    if (!body) return NULL;
    r->calls++;
    if (r->acq) {
        *status = 200;
        snprintf(body, 256, "{\"granted\":true,\"permitId\":\"%s\",\"expiresAt\":%lld}",
                 r->acq->permit_id, (long long)r->acq->expires_ms);
    } else {
        *status = 201;
        snprintf(body, 256, "{\"quotaId\":\"%s\",\"jobType\":\"%s\",\"version\":%lld}",
                 r->rec->quota_id, r->rec->job_type, (long long)r->rec->version);
    }
    return body;
}

/* ---- quotas: changes -------------------------------------------------------------------- */

static void conf_quota_create_get_list(void **state) {
    je_store *s = ((conf_fx *)*state)->s;
    je_err err;
    je_quota_limits l = conf_limits(10, 1000, 50, 0.5);
    conf_change c =
        conf_change_of(CONF_Q_CREATE, "scan.image", l, JE_CHANGE_APPLY, JE_CHANGE_DENY, NULL);
    je_quota_record out, got;
    int64_t before = conf_wall_ms();
    assert_int_equal(s->ops->quota_change(s, "T", NULL, "scan.image", conf_wall_ms(),
                                          conf_change_fn, &c, NULL, &out, &err),
                     JE_CHANGE_APPLY);
    int64_t after = conf_wall_ms();
    assert_int_equal(c.calls, 1);
    assert_int_equal(c.exists, 0);
    assert_string_equal(c.tenant_seen, "T");
    assert_int_equal(strlen(out.quota_id), 36);
    assert_string_equal(out.tenant_id, "T");
    assert_string_equal(out.job_type, "scan.image");
    assert_int_equal(out.version, 1);
    assert_true(out.created_ms >= before - 1000 && out.created_ms <= after + 1000);

    got = conf_quota_get(s, "T", out.quota_id);
    conf_quota_same(&got, &out);
    conf_limits_equal(&got.q.limits, &l);
    assert_true(got.q.state.tokens == 50.0); /* a new quota starts full */
    assert_int_equal(got.q.state.active, 0);
    assert_int_equal(got.q.state.hour_count, 0);
    assert_int_equal(got.q.paused, 0);
    assert_int_equal(got.q.elevation_expires_ms, JE_NO_TIME);
    assert_string_equal(got.last_reason, "conformance");
    assert_string_equal(got.pause_reason, "");

    /* A second create of the job type finds the first one. */
    conf_change c2 = conf_change_of(CONF_Q_CREATE, "scan.image", conf_limits(1, 1, 1, 1),
                                    JE_CHANGE_APPLY, JE_CHANGE_DENY, NULL);
    assert_int_equal(s->ops->quota_change(s, "T", NULL, "scan.image", conf_wall_ms(),
                                          conf_change_fn, &c2, NULL, &got, &err),
                     JE_CHANGE_DENY);
    assert_int_equal(c2.calls, 1);
    assert_int_equal(c2.exists, 1);
    assert_string_equal(got.quota_id, out.quota_id); /* the callback saw the existing record */
    got = conf_quota_get(s, "T", out.quota_id);
    conf_quota_same(&got, &out); /* DENY changed nothing */

    /* By id, too. */
    conf_change c3 = conf_change_of(CONF_Q_CREATE, "x", l, JE_CHANGE_DENY, JE_CHANGE_DENY, NULL);
    assert_int_equal(s->ops->quota_change(s, "T", out.quota_id, NULL, conf_wall_ms(),
                                          conf_change_fn, &c3, NULL, &got, &err),
                     JE_CHANGE_DENY);
    assert_int_equal(c3.exists, 1);
    assert_string_equal(got.job_type, "scan.image");

    conf_quota_new(s, "T", "zeta", l, 1);
    conf_quota_new(s, "T", "advisory.ingest", l, 0);
    conf_quota_new(s, "T", "*", l, 0);
    conf_quota_new(s, "T", "b.job", l, 1);
    conf_quota_new(s, "U", "scan.image", l, 0); /* another tenant may have the same job type */

    conf_list_expect(s, "T", NULL, -1, "", 100, "*,advisory.ingest,b.job,scan.image,zeta");
    conf_list_expect(s, "T", NULL, -1, NULL, 100, "*,advisory.ingest,b.job,scan.image,zeta");
    conf_list_expect(s, "T", "b.job", -1, "", 100, "b.job");
    conf_list_expect(s, "T", "nope", -1, "", 100, "");
    conf_list_expect(s, "T", NULL, 1, "", 100, "b.job,zeta");
    conf_list_expect(s, "T", NULL, 0, "", 100, "*,advisory.ingest,scan.image");
    conf_list_expect(s, "T", NULL, -1, "b.job", 100, "scan.image,zeta");
    conf_list_expect(s, "T", NULL, -1, "", 2, "*,advisory.ingest");
    conf_list_expect(s, "T", NULL, -1, "advisory.ingest", 2, "b.job,scan.image");
    conf_list_expect(s, "T", NULL, 0, "*", 1, "advisory.ingest");
    conf_list_expect(s, "T", "zeta", 0, "", 100, ""); /* filters combine */
    conf_list_expect(s, "U", NULL, -1, "", 100, "scan.image");

    conf_qlist ql;
    memset(&ql, 0, sizeof ql);
    ql.stop_after = 2; /* the visitor stops the list */
    je_quota_filter f = {NULL, -1, "", 100};
    assert_int_equal(s->ops->quota_list(s, "T", &f, conf_collect_quota, &ql, &err), 0);
    assert_string_equal(ql.joined, "*,advisory.ingest");

    /* Tenants are isolated. */
    assert_int_equal(s->ops->quota_get(s, "U", out.quota_id, &got, &err), JE_STORE_NOT_FOUND);
    assert_int_equal(s->ops->quota_get(s, "nobody", out.quota_id, &got, &err), JE_STORE_NOT_FOUND);
    assert_int_equal(s->ops->quota_get(s, "T", "00000000-0000-7000-8000-000000000000", &got, &err),
                     JE_STORE_NOT_FOUND);
    conf_list_expect(s, "nobody", NULL, -1, "", 100, "");
    conf_change c4 = conf_change_of(CONF_Q_CREATE, "x", l, JE_CHANGE_DENY, JE_CHANGE_DENY, NULL);
    assert_int_equal(s->ops->quota_change(s, "nobody", out.quota_id, NULL, conf_wall_ms(),
                                          conf_change_fn, &c4, NULL, &got, &err),
                     JE_CHANGE_DENY);
    assert_int_equal(c4.exists, 0); /* another tenant's quota is not there */
    assert_string_equal(c4.tenant_seen, "nobody");
}

static void conf_quota_change_audit(void **state) {
    je_store *s = ((conf_fx *)*state)->s;
    je_err err;
    je_quota_record out, got;
    je_quota_limits l = conf_limits(5, 100, 10, 1);
    assert_int_equal(conf_chain_len(s, "T"), 0);

    conf_change c = conf_change_of(CONF_Q_CREATE, "scan.image", l, JE_CHANGE_APPLY, JE_CHANGE_DENY,
                                   "quota.created");
    assert_int_equal(s->ops->quota_change(s, "T", NULL, "scan.image", conf_wall_ms(),
                                          conf_change_fn, &c, NULL, &out, &err),
                     JE_CHANGE_APPLY);
    assert_int_equal(conf_chain_len(s, "T"), 1);
    conf_last_event(s, "T", "quota.created", out.quota_id);

    /* DENY: the entry is still appended, the quota unchanged. */
    conf_change d = conf_change_of(CONF_Q_CREATE, "scan.image", l, JE_CHANGE_APPLY, JE_CHANGE_DENY,
                                   "quota.change.denied");
    assert_int_equal(s->ops->quota_change(s, "T", NULL, "scan.image", conf_wall_ms(),
                                          conf_change_fn, &d, NULL, &got, &err),
                     JE_CHANGE_DENY);
    assert_int_equal(conf_chain_len(s, "T"), 2);
    conf_last_event(s, "T", "quota.change.denied", out.quota_id);
    got = conf_quota_get(s, "T", out.quota_id);
    conf_quota_same(&got, &out);

    /* An update (pause) that applies: stored with its entry. */
    conf_change p =
        conf_change_of(CONF_Q_PAUSE, NULL, l, JE_CHANGE_DENY, JE_CHANGE_APPLY, "quota.paused");
    assert_int_equal(s->ops->quota_change(s, "T", out.quota_id, NULL, conf_wall_ms(),
                                          conf_change_fn, &p, NULL, &got, &err),
                     JE_CHANGE_APPLY);
    assert_int_equal(got.version, 2);
    assert_int_equal(got.q.paused, 1);
    got = conf_quota_get(s, "T", out.quota_id);
    assert_int_equal(got.version, 2);
    assert_int_equal(got.q.paused, 1);
    assert_string_equal(got.pause_reason, "maintenance");
    assert_string_equal(got.pause_ticket, "OPS-7");
    assert_int_equal(conf_chain_len(s, "T"), 3);
    conf_last_event(s, "T", "quota.paused", out.quota_id);
    je_quota_record paused = got;

    /* -1: neither the record (edited by the callback) nor the entry is written. */
    conf_change f = conf_change_of(CONF_Q_PAUSE, "scan.image", l, -1, -1, "quota.updated");
    assert_int_equal(s->ops->quota_change(s, "T", out.quota_id, NULL, conf_wall_ms(),
                                          conf_change_fn, &f, NULL, &got, &err),
                     -1);
    assert_string_equal(err.code, "TEST");
    assert_int_equal(f.calls, 1);
    got = conf_quota_get(s, "T", out.quota_id);
    conf_quota_same(&got, &paused);
    assert_int_equal(conf_chain_len(s, "T"), 3);
    conf_change g = conf_change_of(CONF_Q_CREATE, "never", l, -1, -1, "quota.created");
    assert_int_equal(s->ops->quota_change(s, "T", NULL, "never", conf_wall_ms(), conf_change_fn, &g,
                                          NULL, &got, &err),
                     -1);
    assert_int_equal(g.exists, 0);
    conf_list_expect(s, "T", "never", -1, "", 100, "");
    conf_list_expect(s, "T", NULL, -1, "", 100, "scan.image");
    assert_int_equal(conf_chain_len(s, "T"), 3);

    /* Entries go to the chain of their own tenant. */
    conf_change u = conf_change_of(CONF_Q_CREATE, "scan.image", l, JE_CHANGE_APPLY, JE_CHANGE_DENY,
                                   "quota.created");
    assert_int_equal(s->ops->quota_change(s, "U", NULL, "scan.image", conf_wall_ms(),
                                          conf_change_fn, &u, NULL, &got, &err),
                     JE_CHANGE_APPLY);
    assert_int_equal(conf_chain_len(s, "U"), 1);
    assert_int_equal(conf_chain_len(s, "T"), 3);
}

static void conf_quota_delete(void **state) {
    je_store *s = ((conf_fx *)*state)->s;
    je_err err;
    je_quota_record got;
    int64_t t = conf_future();
    je_quota_record q = conf_quota_new(s, "T", "scan.image", conf_limits(5, 100, 10, 1), 0);
    je_quota_record keep = conf_quota_new(s, "T", "other", conf_limits(5, 100, 10, 1), 0);
    je_acquire a1 = conf_acquire(s, "T", q.quota_id, 60000, t);
    je_acquire a2 = conf_acquire(s, "T", q.quota_id, 1000, t);
    je_acquire k1 = conf_acquire(s, "T", keep.quota_id, 60000, t);
    assert_int_equal(a1.decision.kind, JE_DECISION_GRANT);
    assert_int_equal(a2.decision.kind, JE_DECISION_GRANT);
    assert_int_equal(k1.decision.kind, JE_DECISION_GRANT);

    conf_change d = conf_change_of(CONF_Q_CREATE, NULL, conf_limits(1, 1, 1, 1), JE_CHANGE_DENY,
                                   JE_CHANGE_DELETE, "quota.deleted");
    assert_int_equal(s->ops->quota_change(s, "T", q.quota_id, NULL, conf_wall_ms(), conf_change_fn,
                                          &d, NULL, &got, &err),
                     JE_CHANGE_DELETE);
    assert_int_equal(d.exists, 1);
    assert_int_equal(s->ops->quota_get(s, "T", q.quota_id, &got, &err), JE_STORE_NOT_FOUND);
    conf_list_expect(s, "T", NULL, -1, "", 100, "other");
    assert_int_equal(conf_chain_len(s, "T"), 1);
    conf_last_event(s, "T", "quota.deleted", q.quota_id);

    /* Its permits are gone: they cannot be released, and nothing is left to expire. */
    assert_int_equal(s->ops->quota_release(s, "T", q.quota_id, a1.permit_id, t + 1, &err),
                     JE_STORE_NOT_FOUND);
    assert_int_equal(s->ops->permits_expire(s, t + 2000, &err), 0);
    assert_int_equal(s->ops->quota_release(s, "T", q.quota_id, a2.permit_id, t + 1, &err),
                     JE_STORE_NOT_FOUND);
    je_acquire none;
    assert_int_equal(s->ops->quota_acquire(s, "T", q.quota_id, 1000, t, NULL, &none, &err),
                     JE_STORE_NOT_FOUND);

    /* Another quota's permits stay. */
    assert_int_equal(conf_quota_get(s, "T", keep.quota_id).q.state.active, 1);
    assert_int_equal(s->ops->quota_release(s, "T", keep.quota_id, k1.permit_id, t + 1, &err),
                     JE_STORE_OK);

    /* The job type can be created again, afresh. */
    je_quota_record again = conf_quota_new(s, "T", "scan.image", conf_limits(5, 100, 10, 1), 0);
    assert_string_not_equal(again.quota_id, q.quota_id);
    assert_int_equal(again.q.state.active, 0);
    assert_int_equal(conf_quota_get(s, "T", again.quota_id).q.state.active, 0);
}

/* A change may not leave two quotas of one tenant with the same job type, nor silently drop
 * another quota: a record saved with a job type another quota holds is refused (-1). */
static void conf_quota_job_type_unique(void **state) {
    je_store *s = ((conf_fx *)*state)->s;
    je_err err;
    je_quota_record got;
    int64_t t = conf_future();
    je_quota_record a = conf_quota_new(s, "T", "scan.image", conf_limits(5, 100, 10, 1), 0);
    je_quota_record b = conf_quota_new(s, "T", "advisory.ingest", conf_limits(5, 100, 10, 1), 0);
    je_acquire p = conf_acquire(s, "T", a.quota_id, 60000, t);
    assert_int_equal(p.decision.kind, JE_DECISION_GRANT);

    /* Looked up by an unknown id, the callback creates a record for a job type in use. */
    conf_change c = conf_change_of(CONF_Q_CREATE, "scan.image", conf_limits(1, 1, 1, 1),
                                   JE_CHANGE_APPLY, JE_CHANGE_DENY, "quota.created");
    int rc = s->ops->quota_change(s, "T", "00000000-0000-7000-8000-000000000001", NULL,
                                  conf_wall_ms(), conf_change_fn, &c, NULL, &got, &err);
    assert_int_equal(c.exists, 0);
    assert_int_equal(s->ops->quota_get(s, "T", a.quota_id, &got, &err),
                     JE_STORE_OK); /* a survives */
    assert_int_equal(got.q.state.active, 1);
    assert_int_equal(rc, -1);
    conf_list_expect(s, "T", NULL, -1, "", 100, "advisory.ingest,scan.image");
    assert_int_equal(conf_chain_len(s, "T"), 0);

    /* An update that renames b to a's job type. */
    conf_change r = conf_change_of(CONF_Q_RENAME, "scan.image", conf_limits(1, 1, 1, 1),
                                   JE_CHANGE_DENY, JE_CHANGE_APPLY, NULL);
    rc = s->ops->quota_change(s, "T", b.quota_id, NULL, conf_wall_ms(), conf_change_fn, &r, NULL,
                              &got, &err);
    assert_int_equal(s->ops->quota_get(s, "T", a.quota_id, &got, &err), JE_STORE_OK);
    assert_int_equal(rc, -1);
    assert_string_equal(conf_quota_get(s, "T", b.quota_id).job_type, "advisory.ingest");
    assert_int_equal(s->ops->quota_release(s, "T", a.quota_id, p.permit_id, t + 1, &err),
                     JE_STORE_OK);
}

static void conf_quota_change_idempotency(void **state) {
    je_store *s = ((conf_fx *)*state)->s;
    je_err err;
    je_quota_record out, got;
    je_quota_limits l = conf_limits(5, 100, 10, 1);
    const char *path = "/jobengine/quotas";
    conf_render r = {&out, NULL, 0};

    conf_change c = conf_change_of(CONF_Q_CREATE, "scan.image", l, JE_CHANGE_APPLY, JE_CHANGE_DENY,
                                   "quota.created");
    je_idem i1 = conf_idem("k1", path, 'a', conf_render_fn, &r);
    assert_int_equal(s->ops->quota_change(s, "T", NULL, "scan.image", conf_wall_ms(),
                                          conf_change_fn, &c, &i1, &out, &err),
                     JE_CHANGE_APPLY);
    assert_int_equal(i1.replayed, 0);
    assert_int_equal(i1.mismatch, 0);
    assert_int_equal(r.calls, 1);
    char first[256];
    snprintf(first, sizeof first, "{\"quotaId\":\"%s\",\"jobType\":\"scan.image\",\"version\":1}",
             out.quota_id);
    assert_int_equal(conf_chain_len(s, "T"), 1);

    /* The same key and body: the first answer, nothing called, nothing written. */
    conf_change c2 = c;
    c2.calls = 0;
    je_idem i2 = conf_idem("k1", path, 'a', conf_render_fn, &r);
    assert_int_equal(s->ops->quota_change(s, "T", NULL, "scan.image", conf_wall_ms(),
                                          conf_change_fn, &c2, &i2, &got, &err),
                     JE_CHANGE_APPLY);
    assert_int_equal(i2.replayed, 1);
    assert_int_equal(i2.mismatch, 0);
    assert_int_equal(i2.status, 201);
    assert_non_null(i2.body);
    assert_string_equal(i2.body, first);
    free(i2.body);
    assert_int_equal(c2.calls, 0);
    assert_int_equal(r.calls, 1);
    assert_int_equal(conf_chain_len(s, "T"), 1);

    /* The same key with another body. */
    je_idem i3 = conf_idem("k1", path, 'b', conf_render_fn, &r);
    int rc = s->ops->quota_change(s, "T", NULL, "scan.image", conf_wall_ms(), conf_change_fn, &c2,
                                  &i3, &got, &err);
    assert_true(rc >= 0);
    assert_int_equal(i3.mismatch, 1);
    assert_int_equal(i3.replayed, 0);
    assert_null(i3.body);
    assert_int_equal(c2.calls, 0);
    assert_int_equal(conf_chain_len(s, "T"), 1);

    /* Keys are scoped to (tenant, method, path). */
    conf_change c4 =
        conf_change_of(CONF_Q_CREATE, "advisory.ingest", l, JE_CHANGE_APPLY, JE_CHANGE_DENY, NULL);
    je_idem i4 = conf_idem("k1", "/jobengine/other", 'b', conf_render_fn, &r);
    assert_int_equal(s->ops->quota_change(s, "T", NULL, "advisory.ingest", conf_wall_ms(),
                                          conf_change_fn, &c4, &i4, &got, &err),
                     JE_CHANGE_APPLY);
    assert_int_equal(i4.replayed + i4.mismatch, 0);
    assert_int_equal(c4.calls, 1);
    conf_change c5 = c4;
    c5.calls = 0;
    je_idem i5 = conf_idem("k1", path, 'b', conf_render_fn, &r);
    i5.method = "PUT";
    assert_int_equal(s->ops->quota_change(s, "T", NULL, "advisory.ingest", conf_wall_ms(),
                                          conf_change_fn, &c5, &i5, &got, &err),
                     JE_CHANGE_DENY); /* seen by the callback: it exists now */
    assert_int_equal(i5.replayed + i5.mismatch, 0);
    assert_int_equal(c5.calls, 1);
    conf_change c6 =
        conf_change_of(CONF_Q_CREATE, "scan.image", l, JE_CHANGE_APPLY, JE_CHANGE_DENY, NULL);
    je_idem i6 = conf_idem("k1", path, 'a', conf_render_fn, &r);
    assert_int_equal(s->ops->quota_change(s, "U", NULL, "scan.image", conf_wall_ms(),
                                          conf_change_fn, &c6, &i6, &got, &err),
                     JE_CHANGE_APPLY);
    assert_int_equal(i6.replayed + i6.mismatch, 0);
    assert_int_equal(c6.calls, 1);

    /* Only successes are remembered: neither a DENY nor a failure. */
    int renders = r.calls;
    conf_change c7 = conf_change_of(CONF_Q_CREATE, "scan.image", l, JE_CHANGE_APPLY, JE_CHANGE_DENY,
                                    "quota.change.denied");
    for (int k = 0; k < 2; k++) {
        je_idem i7 = conf_idem("k2", path, 'c', conf_render_fn, &r);
        assert_int_equal(s->ops->quota_change(s, "T", NULL, "scan.image", conf_wall_ms(),
                                              conf_change_fn, &c7, &i7, &got, &err),
                         JE_CHANGE_DENY);
        assert_int_equal(i7.replayed + i7.mismatch, 0);
        assert_int_equal(c7.calls, k + 1);
    }
    assert_int_equal(r.calls, renders);
    assert_int_equal(conf_chain_len(s, "T"), 3); /* both denials audited */
    conf_change c8 = conf_change_of(CONF_Q_CREATE, "failing", l, -1, -1, NULL);
    for (int k = 0; k < 2; k++) {
        je_idem i8 = conf_idem("k3", path, 'd', conf_render_fn, &r);
        assert_int_equal(s->ops->quota_change(s, "T", NULL, "failing", conf_wall_ms(),
                                              conf_change_fn, &c8, &i8, &got, &err),
                         -1);
        assert_int_equal(i8.replayed + i8.mismatch, 0);
        assert_int_equal(c8.calls, k + 1);
    }
    assert_int_equal(r.calls, renders);

    /* Pruning keys older than an hour ago keeps k1; pruning up to the future forgets it. */
    assert_int_equal(s->ops->idem_prune(s, conf_wall_ms() - JE_HOUR_MS, &err), 0);
    je_idem i9 = conf_idem("k1", path, 'a', conf_render_fn, &r);
    conf_change c9 = c2;
    assert_int_equal(s->ops->quota_change(s, "T", NULL, "scan.image", conf_wall_ms(),
                                          conf_change_fn, &c9, &i9, &got, &err),
                     JE_CHANGE_APPLY);
    assert_int_equal(i9.replayed, 1);
    free(i9.body);
    assert_int_equal(s->ops->idem_prune(s, conf_wall_ms() + JE_HOUR_MS, &err), 3);
    je_idem i10 = conf_idem("k1", path, 'a', conf_render_fn, &r);
    assert_int_equal(s->ops->quota_change(s, "T", NULL, "scan.image", conf_wall_ms(),
                                          conf_change_fn, &c9, &i10, &got, &err),
                     JE_CHANGE_DENY); /* a new request: the callback sees the quota */
    assert_int_equal(i10.replayed + i10.mismatch, 0);
    assert_null(i10.body);
    assert_int_equal(c9.calls, 1);
    assert_int_equal(c9.exists, 1);
}

#define JE_CONF_QUOTA_TESTS(setup, teardown)                                                       \
    cmocka_unit_test_setup_teardown(conf_quota_create_get_list, setup, teardown),                  \
        cmocka_unit_test_setup_teardown(conf_quota_change_audit, setup, teardown),                 \
        cmocka_unit_test_setup_teardown(conf_quota_delete, setup, teardown),                       \
        cmocka_unit_test_setup_teardown(conf_quota_job_type_unique, setup, teardown),              \
        cmocka_unit_test_setup_teardown(conf_quota_change_idempotency, setup, teardown)

#endif
