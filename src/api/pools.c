/* api/pools.c: capacity pools (issue 15, docs/api.md "Pools"): one per job type, platform-wide.
 * The platform administrator (a client of tenant "_system" with orch:governance) creates,
 * replaces and deletes them, each change with its reason and ticket in the "_system" chain, and
 * reads every tenant's entitlement and use. Any other tenant reads only its own entitlement and
 * use of each pool, never another tenant's. The rules are core's (core/pool.h, pool_change.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "api/body.h"
#include "api/change.h"
#include "api/quota_view.h"
#include "api/routes.h"
#include "core/ids.h"
#include "core/jcs.h"
#include "core/timefmt.h"

#define PLATFORM_TENANT "_system"

const je_change_kind je_change_pool = {"pool.change.denied", "pool", JE_CLAIM_GOVERNANCE_REASON};

static int platform(const je_req *r) {
    return strcmp(r->principal->tenant, PLATFORM_TENANT) == 0;
}

static json_t *limit_or_null(int64_t v) {
    return v == JE_POOL_NO_LIMIT ? json_null() : json_integer(v);
}

static json_t *time_json(int64_t ms) {
    char t[JE_TIME_BUF];
    je_time_format(ms, t);
    return json_string(t);
}

/* A weight: a number, or in the audit (whose entries hold no reals: domain.md §6) the same
 * number as a decimal string. */
static json_t *weight_json(double w, int for_audit) {
    if (!for_audit) return json_real(w);
    je_buf b = JE_BUF_INIT;
    je_jcs_real(w, &b);
    json_t *j = json_stringn(b.data, b.len);
    je_buf_free(&b);
    return j;
}

static json_t *shares_json(const je_pool_record *p, int for_audit) {
    json_t *a = json_array();
    for (size_t i = 0; i < p->n_shares; i++) {
        const je_pool_share *s = &p->shares[i];
        json_array_append_new(a, json_pack("{s:s, s:o, s:I, s:I, s:o}", "tenantId", s->tenant_id,
                                           "weight", weight_json(s->weight, for_audit), "tier",
                                           (json_int_t)s->tier, "reserved", (json_int_t)s->reserved,
                                           "maxActive", limit_or_null(s->max_active)));
    }
    return a;
}

/* The pool's settings, as shown and (for_audit) as audited before / after. */
static json_t *pool_settings_json(const je_pool_record *p, int for_audit) {
    json_t *o =
        json_pack("{s:s, s:s, s:I, s:o, s:o, s:I}", "jobType", p->pool.job_type, "strategy",
                  je_pool_strategy_name(p->pool.strategy), "maxActive",
                  (json_int_t)p->pool.max_active, "maxPerHour", limit_or_null(p->pool.max_per_hour),
                  "shares", shares_json(p, for_audit), "version", (json_int_t)p->version);
    return o;
}

static json_t *entitlement_json(const je_pool_record *p, const je_pool_use *use, size_t n,
                                const char *tenant) {
    int64_t active = 0, demand = 0;
    for (size_t i = 0; i < n; i++)
        if (strcmp(use[i].tenant_id, tenant) == 0) active = use[i].active, demand = use[i].demand;
    je_pool_entitlement e =
        je_pool_entitlement_of(&p->pool, p->shares, p->n_shares, use, n, tenant);
    return json_pack("{s:s, s:I, s:I, s:o, s:I, s:o}", "tenantId", tenant, "active",
                     (json_int_t)active, "demand", (json_int_t)demand, "entitled",
                     limit_or_null(e.entitled), "guaranteed", (json_int_t)e.guaranteed, "cap",
                     limit_or_null(e.cap));
}

/* The pool as the caller may see it: the platform sees every tenant's use; a tenant its own. */
static json_t *pool_view(je_req *r, je_app *app, const je_pool_record *p, je_err *err) {
    je_pool_use *use = NULL;
    size_t n = 0;
    int64_t now = je_now_ms();
    int rc = app->store->ops->pool_usage(app->store, p->pool.job_type, now, &use, &n, err);
    if (rc == JE_STORE_ERROR) return NULL;
    json_t *o = pool_settings_json(p, 0);
    if (platform(r)) {
        int64_t total = 0;
        json_t *tenants = json_array();
        for (size_t i = 0; i < n; i++) {
            total += use[i].active;
            json_array_append_new(tenants, entitlement_json(p, use, n, use[i].tenant_id));
        }
        je_pool cur = p->pool;
        je_pool_roll(&cur, now);
        json_t *last = p->pool.last_cap ? json_pack("{s:s, s:o}", "cap",
                                                    je_pool_cap_name((je_pool_cap)p->pool.last_cap),
                                                    "at", time_json(p->pool.last_refusal_ms))
                                        : json_null();
        json_object_set_new(o, "usage",
                            json_pack("{s:I, s:I, s:o, s:I, s:o, s:o}", "active", (json_int_t)total,
                                      "hourCount", (json_int_t)cur.hour_count, "hourStartedAt",
                                      time_json(cur.hour_start_ms), "throttled",
                                      (json_int_t)cur.throttled, "lastRefusal", last, "tenants",
                                      tenants));
        json_object_set_new(o, "createdAt", time_json(p->created_ms));
        json_object_set_new(o, "createdBy", json_string(p->created_by));
        json_object_set_new(o, "updatedAt", time_json(p->updated_ms));
        json_object_set_new(o, "updatedBy", json_string(p->updated_by));
        json_object_set_new(o, "lastReason", json_string(p->last_reason));
        json_object_set_new(o, "lastTicket",
                            p->last_ticket[0] ? json_string(p->last_ticket) : json_null());
    } else {
        /* another tenant's terms and use stay hidden: only the caller's own */
        json_object_del(o, "shares");
        json_object_set_new(o, "you", entitlement_json(p, use, n, r->principal->tenant));
    }
    free(use);
    return o;
}

static int job_type_param(je_req *r, const char **out) {
    const char *jt = r->params[0];
    if (!je_id_job_type_valid(jt, strlen(jt)) || strcmp(jt, "*") == 0) {
        je_reply_error(r, 404, "NOT_FOUND", "no such pool", NULL);
        return -1;
    }
    *out = jt;
    return 0;
}

/* ---- reads -------------------------------------------------------------------------------- */

typedef struct list_ctx {
    je_req *r;
    json_t *items;
    je_err *err;
    int failed;
} list_ctx;

static int list_visit(void *ctx, const je_pool_record *p) {
    list_ctx *l = ctx;
    json_t *v = pool_view(l->r, l->r->app, p, l->err);
    if (!v) return l->failed = 1;
    json_array_append_new(l->items, v);
    return 0;
}

void je_api_pool_list(je_req *r, je_app *app) {
    je_err err;
    je_err_clear(&err);
    list_ctx l = {r, json_array(), &err, 0};
    int rc = app->store->ops->pool_list(app->store, list_visit, &l, &err);
    if (rc != JE_STORE_OK || l.failed) {
        json_decref(l.items);
        return je_api_reply_err(r, &err, NULL);
    }
    je_reply_json(r, 200, json_pack("{s:o}", "items", l.items));
}

void je_api_pool_get(je_req *r, je_app *app) {
    const char *jt;
    if (job_type_param(r, &jt) != 0) return;
    je_pool_record *p = je_arena_alloc(r->arena, sizeof *p);
    je_err err;
    je_err_clear(&err);
    int found = app->store->ops->pool_get(app->store, jt, p, &err);
    if (found == JE_STORE_NOT_FOUND)
        return je_reply_error(r, 404, "NOT_FOUND", "no such pool", NULL);
    json_t *v = found == JE_STORE_OK ? pool_view(r, app, p, &err) : NULL;
    if (!v) return je_api_reply_err(r, &err, NULL);
    je_reply_header(r, "ETag", je_arena_printf(r->arena, "\"%lld\"", (long long)p->version));
    je_reply_json(r, 200, v);
}

/* ---- changes ------------------------------------------------------------------------------ */

typedef struct pchange {
    je_req *r;
    json_t *body;
    je_justification just;
    je_pool_change_req req;
    je_pool_share *shares;
    je_pool_outcome out;
} pchange;

static int read_share(const json_t *o, size_t i, je_pool_share *s, je_err *err) {
    static const char *const known[] = {"tenantId", "weight", "tier", "reserved", "maxActive"};
    char field[48];
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)o, key, v) {
        size_t k = 0;
        while (k < 5 && strcmp(key, known[k]) != 0) k++;
        if (k == 5) {
            snprintf(field, sizeof field, "shares[%zu]", i);
            return je_err_field(err, "VALIDATION_FAILED", field, "unknown member %.64s", key);
        }
    }
    *s = (je_pool_share){.weight = 1, .max_active = JE_POOL_NO_LIMIT};
    const char *t = json_string_value(json_object_get(o, "tenantId"));
    snprintf(field, sizeof field, "shares[%zu].tenantId", i);
    if (!t || !je_id_tenant_valid(t, strlen(t)))
        return je_err_field(err, "VALIDATION_FAILED", field, "%s must be a tenant id", field);
    snprintf(s->tenant_id, sizeof s->tenant_id, "%s", t);
    int64_t n;
    double d;
    int rc;
    snprintf(field, sizeof field, "shares[%zu]", i);
    je_err sub;
    je_err_clear(&sub);
#define MEMBER(call, name)                                                                         \
    if ((rc = (call)) < 0) {                                                                       \
        char f[64];                                                                                \
        snprintf(f, sizeof f, "%s.%s", field, name);                                               \
        return je_err_field(err, "VALIDATION_FAILED", f, "%s", sub.message);                       \
    }
    MEMBER(je_body_positive(o, "weight", 1e9, &d, &sub), "weight")
    if (rc == 1) s->weight = d;
    MEMBER(je_body_int(o, "tier", -1000, 1000, &n, &sub), "tier")
    if (rc == 1) s->tier = n;
    MEMBER(je_body_int(o, "reserved", 0, 1000000000, &n, &sub), "reserved")
    if (rc == 1) s->reserved = n;
    MEMBER(je_body_int(o, "maxActive", 1, 1000000000, &n, &sub), "maxActive")
    if (rc == 1) s->max_active = n;
#undef MEMBER
    return 0;
}

static int parse_put(pchange *c, const char *jt, je_err *err) {
    static const char *const allowed[] = {"strategy", "maxActive", "maxPerHour", "shares",
                                          "reason",   "ticket",    NULL};
    je_req *r = c->r;
    c->body = je_api_keep(r, je_body_object(r, allowed, err));
    if (!c->body) return -1;
    je_pool *p = &c->req.settings;
    memset(p, 0, sizeof *p);
    snprintf(p->job_type, sizeof p->job_type, "%s", jt);
    const char *strategy = json_string_value(json_object_get(c->body, "strategy"));
    int st = strategy ? je_pool_strategy_parse(strategy) : -1;
    if (st < 0)
        return je_err_field(err, "VALIDATION_FAILED", "strategy",
                            "strategy must be one of unlimited, proportional, priority, reserved, "
                            "max-limit");
    p->strategy = (je_pool_strategy)st;
    int64_t n;
    int rc = je_body_int(c->body, "maxActive", 1, 1000000000, &n, err);
    if (rc < 0) return -1;
    if (rc == 0)
        return je_err_field(err, "VALIDATION_FAILED", "maxActive", "maxActive is required");
    p->max_active = n;
    p->max_per_hour = JE_POOL_NO_LIMIT;
    rc = je_body_int(c->body, "maxPerHour", 1, 1000000000000LL, &n, err);
    if (rc < 0) return -1;
    if (rc == 1) p->max_per_hour = n;
    const json_t *shares = json_object_get(c->body, "shares");
    size_t count = shares && !json_is_null(shares) ? json_array_size(shares) : 0;
    if (shares && !json_is_null(shares) && !json_is_array(shares))
        return je_err_field(err, "VALIDATION_FAILED", "shares", "shares must be an array");
    if (count > JE_POOL_MAX_SHARES)
        return je_err_field(err, "VALIDATION_FAILED", "shares", "at most %d shares",
                            JE_POOL_MAX_SHARES);
    c->shares = je_arena_alloc(r->arena, (count ? count : 1) * sizeof *c->shares);
    for (size_t i = 0; i < count; i++) {
        const json_t *o = json_array_get(shares, i);
        if (!json_is_object(o)) {
            char f[32];
            snprintf(f, sizeof f, "shares[%zu]", i);
            return je_err_field(err, "VALIDATION_FAILED", f, "%s must be an object", f);
        }
        if (read_share(o, i, &c->shares[i], err) != 0) return -1;
    }
    c->req.shares = c->shares;
    c->req.n_shares = count;
    return 0;
}

static int pool_cb(void *ctx, je_pool_record *rec, int exists, int64_t now, json_t **audit,
                   je_err *err) {
    pchange *c = ctx;
    json_t *before = exists ? pool_settings_json(rec, 1) : json_null();
    je_pool_apply(&c->req, rec, exists, now, &c->out);
    const char *reason = c->just.reason, *ticket = c->just.ticket;
    if (c->out.verdict == JE_POOL_REFUSED || c->out.verdict == JE_POOL_UNCHANGED) {
        json_decref(before);
        if (c->out.verdict == JE_POOL_REFUSED && strcmp(c->out.refusal.code, "NOT_FOUND") != 0)
            *audit = je_change_refusal_entry(c->r, &je_change_pool, c->body, &c->just,
                                             &c->out.refusal, NULL, rec->pool.job_type, now);
        return JE_CHANGE_DENY;
    }
    json_t *after = c->out.verdict == JE_POOL_DELETED ? json_null() : pool_settings_json(rec, 1);
    json_t *details = json_pack("{s:o, s:o}", "before", before, "after", after);
    *audit = je_caller_entry(c->r->principal, c->out.event_type, "pool", rec->pool.job_type, reason,
                             ticket, now, details);
    return c->out.verdict == JE_POOL_DELETED ? JE_CHANGE_DELETE : JE_CHANGE_APPLY;
}

static void pool_change_route(je_req *r, je_app *app, je_pool_op op) {
    const char *jt;
    if (job_type_param(r, &jt) != 0) return;
    pchange *c = je_arena_alloc(r->arena, sizeof *c);
    memset(c, 0, sizeof *c);
    c->r = r;
    c->req.op = op;
    c->req.actor = r->principal->client_id;
    je_err err;
    je_err_clear(&err);
    static const char *const none[] = {"reason", "ticket", NULL};
    if (op == JE_POOL_DELETE) {
        c->body = je_api_keep(r, je_body_object(r, none, &err));
        if (!c->body)
            return je_change_refuse(r, app, &je_change_pool, NULL, NULL, &err, NULL, jt, NULL);
    }
    if ((op == JE_POOL_PUT && parse_put(c, jt, &err) != 0) ||
        je_change_justify(r, c->body, &je_change_pool, &c->just, &err) != 0 ||
        je_change_if_match(r, &c->req.if_match, &err) != 0)
        return je_change_refuse(r, app, &je_change_pool, c->body, &c->just, &err, NULL, jt, NULL);
    c->req.reason = c->just.reason;
    c->req.ticket = c->just.ticket;
    je_pool_record *rec = je_arena_alloc(r->arena, sizeof *rec);
    int rc = app->store->ops->pool_change(app->store, jt, je_now_ms(), pool_cb, c, rec, &err);
    je_idem no_key; /* pools take no Idempotency-Key: a PUT is idempotent by itself */
    memset(&no_key, 0, sizeof no_key);
    if (je_change_reply_common(r, rc, &no_key, &err)) return;
    if (rc == JE_CHANGE_DENY && c->out.verdict == JE_POOL_REFUSED)
        return je_api_reply_err(r, &c->out.refusal, NULL);
    if (rc == JE_CHANGE_DELETE) return je_reply_empty(r, 204);
    json_t *v = pool_view(r, app, rec, &err);
    if (!v) return je_api_reply_err(r, &err, NULL);
    je_reply_header(r, "ETag", je_arena_printf(r->arena, "\"%lld\"", (long long)rec->version));
    je_reply_json(r, c->out.verdict == JE_POOL_CREATED ? 201 : 200, v);
}

void je_api_pool_put(je_req *r, je_app *app) {
    pool_change_route(r, app, JE_POOL_PUT);
}

void je_api_pool_delete(je_req *r, je_app *app) {
    pool_change_route(r, app, JE_POOL_DELETE);
}
