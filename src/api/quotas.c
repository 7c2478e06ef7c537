/* api/quotas.c: the quota routes of api.md §3.3. Each change route parses and justifies the
 * request, then hands one callback to the store's atomic quota_change: the callback applies the
 * pure rules of core/quota.h (version, ceiling, decrease safety, elevation) to the row inside the
 * write transaction and builds the audit entry stored with it. Refusals are audited as
 * quota.change.denied. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/body.h"
#include "api/change.h"
#include "api/quota_view.h"
#include "api/routes.h"
#include "base/random.h"
#include "core/ids.h"
#include "core/jcs.h"
#include "http/params.h"
#include "core/timefmt.h"

enum { Q_CREATE, Q_UPDATE, Q_DELETE, Q_PAUSE, Q_RESUME };

static const char *const limit_names[4] = {"maxActive", "maxPerHour", "burstCapacity",
                                           "refillPerSecond"};
#define MAX_INT53 9007199254740991LL

typedef struct qchange {
    je_req *r;
    je_app *app;
    int kind;
    json_t *body;
    const char *job_type;
    je_quota_limits req;
    int has[4];
    int64_t expires_ms;
    int allow_decrease;
    int64_t if_match;
    je_justification just;
    int noop;
    je_err deny;
    json_t *deny_details;       /* extra details of the refusal (ceiling: requested, ceiling) */
    json_t *deny_audit_details; /* the same, in audit form (domain.md §6) */
} qchange;

/* ---- refusals ----------------------------------------------------------------------------- */

static json_t *denied_entry(qchange *c, const je_err *e, const char *quota_id, int64_t now) {
    je_justification sent;
    if (c->just.reason[0])
        sent = c->just;
    else
        je_change_sent_justification(c->r, c->body, JE_CLAIM_QUOTA_REASON, &sent);
    json_t *d = json_pack("{s:s, s:s}", "code", e->code, "message", e->message);
    if (e->field[0]) json_object_set_new(d, "field", json_string(e->field));
    if (c->deny_audit_details) json_object_update(d, c->deny_audit_details);
    if (c->body) json_object_set_new(d, "request", je_audit_value(c->body));
    json_object_set_new(d, "token", je_token_details(c->r->principal, JE_CLAIM_QUOTA_REASON));
    json_object_set_new(d, "before", json_null());
    json_object_set_new(d, "after", json_null());
    return je_quota_entry(c->r->principal, "quota.change.denied", quota_id, sent.reason,
                          sent.has_ticket ? sent.ticket : NULL, now, d);
}

/* A refusal found before the store: audit it on its own, then answer. */
static void refuse(qchange *c, const je_err *e, const char *quota_id) {
    json_t *entry = denied_entry(c, e, quota_id, je_now_ms());
    je_err aerr;
    int rc = entry ? c->app->store->ops->audit_append(c->app->store, entry, &aerr) : -1;
    json_decref(entry);
    if (rc != 0)
        return je_reply_error(c->r, 503, "STORE_UNAVAILABLE", "the refusal could not be audited",
                              NULL);
    je_api_reply_err(c->r, e, NULL);
}

/* A refusal found inside the store's transaction: the entry goes with it. */
static int deny(qchange *c, json_t **audit, const char *quota_id, int64_t now, const char *code,
                const char *field, const char *msg) {
    je_err_field(&c->deny, code, field, "%s", msg);
    *audit = denied_entry(c, &c->deny, quota_id, now);
    return JE_CHANGE_DENY;
}

/* ---- parsing ------------------------------------------------------------------------------ */

static int parse_limits(qchange *c, je_err *err) {
    static const int64_t his[3] = {MAX_INT53, MAX_INT53, MAX_INT53};
    int64_t *dst[3] = {&c->req.max_active, &c->req.max_per_hour, &c->req.burst_capacity};
    for (int i = 0; i < 3; i++) {
        int rc = je_body_int(c->body, limit_names[i], 1, his[i], dst[i], err);
        if (rc < 0) return -1;
        c->has[i] = rc;
    }
    int rc = je_body_positive(c->body, "refillPerSecond", 1e300, &c->req.refill_per_second, err);
    if (rc < 0) return -1;
    c->has[3] = rc;
    return 0;
}

static int parse_create(qchange *c, je_err *err) {
    const char *jt;
    size_t n = 0;
    int rc = je_body_string(c->body, "jobType", &jt, &n, err);
    if (rc < 0) return -1;
    if (rc == 0 || !je_id_job_type_valid(jt, n))
        return je_err_field(err, "VALIDATION_FAILED", "jobType",
                            "jobType is required: '*' or 1-128 of [A-Za-z0-9._:-]");
    c->job_type = jt;
    if (json_object_get(c->body, "expiresAt"))
        return je_err_field(err, "VALIDATION_FAILED", "expiresAt",
                            "expiresAt is refused on create: create, then adjust temporarily");
    if (parse_limits(c, err) != 0) return -1;
    for (int i = 0; i < 4; i++)
        if (!c->has[i])
            return je_err_field(err, "VALIDATION_FAILED", limit_names[i], "%s is required",
                                limit_names[i]);
    return 0;
}

static int parse_update(qchange *c, je_err *err) {
    if (parse_limits(c, err) != 0) return -1;
    if (je_body_bool(c->body, "allowDecreaseBelowUsage", &c->allow_decrease, err) < 0) return -1;
    const char *at;
    int rc = je_body_string(c->body, "expiresAt", &at, NULL, err);
    if (rc < 0) return -1;
    if (rc == 1 && je_time_parse(at, &c->expires_ms) != 0)
        return je_err_field(err, "VALIDATION_FAILED", "expiresAt",
                            "expiresAt must be an RFC 3339 date-time");
    if (rc == 1 && c->expires_ms <= je_now_ms())
        return je_err_field(err, "VALIDATION_FAILED", "expiresAt",
                            "expiresAt must be in the future");
    return 0;
}

static const char *const create_fields[] = {"jobType",       "maxActive",       "maxPerHour",
                                            "burstCapacity", "refillPerSecond", "expiresAt",
                                            "reason",        "ticket",          NULL};
static const char *const update_fields[] = {
    "maxActive",       "maxPerHour", "burstCapacity",
    "refillPerSecond", "expiresAt",  "allowDecreaseBelowUsage",
    "reason",          "ticket",     NULL};
static const char *const plain_fields[] = {"reason", "ticket", NULL};

/* Body, fields and justification: 0, or -1 with err (body may stay NULL). */
static int parse_change(qchange *c, je_err *err) {
    const char *const *allowed = c->kind == Q_CREATE   ? create_fields
                                 : c->kind == Q_UPDATE ? update_fields
                                                       : plain_fields;
    c->body = je_body_object(c->r, allowed, err);
    if (!c->body) return -1;
    if (c->kind == Q_CREATE && parse_create(c, err) != 0) return -1;
    if (c->kind == Q_UPDATE && parse_update(c, err) != 0) return -1;
    if (je_change_justify(c->r, c->body, JE_CLAIM_QUOTA_REASON, &c->just, err) != 0) return -1;
    return je_change_if_match(c->r, &c->if_match, err);
}

/* ---- the change, inside the store's transaction ------------------------------------------- */

static void stamp(qchange *c, je_quota_record *rec, int64_t now) {
    rec->version++;
    rec->updated_ms = now;
    snprintf(rec->updated_by, sizeof rec->updated_by, "%s", c->r->principal->client_id);
    snprintf(rec->last_reason, sizeof rec->last_reason, "%s", c->just.reason);
    snprintf(rec->last_ticket, sizeof rec->last_ticket, "%s",
             c->just.has_ticket ? c->just.ticket : "");
}

static int check_ceiling(qchange *c, const je_quota_record *rec, const je_quota_limits *l,
                         json_t **audit, int64_t now) {
    je_quota_limits ceiling;
    je_config_ceiling(&c->app->cfg, rec->tenant_id, rec->job_type, &ceiling);
    double requested = 0, max = 0;
    je_err e;
    je_err_clear(&e);
    if (je_quota_check_ceiling(l, &ceiling, &requested, &max, &e) == 0) return 0;
    int refill = strcmp(e.field, "refillPerSecond") == 0;
    c->deny_details = refill ? json_pack("{s:f, s:f}", "requested", requested, "ceiling", max)
                             : json_pack("{s:I, s:I}", "requested", (json_int_t)requested,
                                         "ceiling", (json_int_t)max);
    c->deny_audit_details = je_audit_value(c->deny_details); /* reals as decimal strings */
    deny(c, audit, rec->quota_id, now, e.code, e.field, e.message);
    return -1;
}

static json_t *change_details(qchange *c, const je_quota_record *before,
                              const je_quota_record *after) {
    return json_pack("{s:o, s:o, s:o}", "before", je_quota_audit_view(before), "after",
                     je_quota_audit_view(after), "token",
                     je_token_details(c->r->principal, JE_CLAIM_QUOTA_REASON));
}

static int apply_create(qchange *c, je_quota_record *rec, int64_t now, json_t **audit) {
    snprintf(rec->job_type, sizeof rec->job_type, "%s", c->job_type);
    if (check_ceiling(c, rec, &c->req, audit, now) != 0) return JE_CHANGE_DENY;
    je_uuid7(now, rec->quota_id);
    je_quota_init(&rec->q, &c->req, now);
    rec->created_ms = now;
    snprintf(rec->created_by, sizeof rec->created_by, "%s", c->r->principal->client_id);
    stamp(c, rec, now);
    *audit = je_quota_entry(c->r->principal, "quota.created", rec->quota_id, c->just.reason,
                            c->just.has_ticket ? c->just.ticket : NULL, now,
                            change_details(c, NULL, rec));
    return JE_CHANGE_APPLY;
}

static int apply_update(qchange *c, je_quota_record *rec, int64_t now, json_t **audit) {
    je_quota_record before = *rec;
    je_quota_elevation_expire(&rec->q, now); /* an elevation past its time is over already */
    je_quota_limits l = rec->q.limits;
    int64_t *ints[3] = {&l.max_active, &l.max_per_hour, &l.burst_capacity};
    const int64_t reqs[3] = {c->req.max_active, c->req.max_per_hour, c->req.burst_capacity};
    for (int i = 0; i < 3; i++)
        if (c->has[i]) *ints[i] = reqs[i];
    if (c->has[3]) l.refill_per_second = c->req.refill_per_second;
    if (check_ceiling(c, rec, &l, audit, now) != 0) return JE_CHANGE_DENY;
    je_err e;
    je_err_clear(&e);
    if (je_quota_check_decrease(&rec->q, &l, c->allow_decrease, &e) != 0)
        return deny(c, audit, rec->quota_id, now, e.code, e.field, e.message);
    if (c->expires_ms != JE_NO_TIME)
        je_quota_elevate(&rec->q, &l, c->expires_ms);
    else
        je_quota_adjust(&rec->q, &l);
    stamp(c, rec, now);
    *audit = je_quota_entry(c->r->principal, "quota.updated", rec->quota_id, c->just.reason,
                            c->just.has_ticket ? c->just.ticket : NULL, now,
                            change_details(c, &before, rec));
    return JE_CHANGE_APPLY;
}

static int apply_pause(qchange *c, je_quota_record *rec, int64_t now, json_t **audit) {
    int pause = c->kind == Q_PAUSE;
    if (rec->q.paused == pause) return c->noop = 1, JE_CHANGE_DENY;
    je_quota_record before = *rec;
    rec->q.paused = pause;
    snprintf(rec->pause_reason, sizeof rec->pause_reason, "%s", pause ? c->just.reason : "");
    snprintf(rec->pause_ticket, sizeof rec->pause_ticket, "%s",
             pause && c->just.has_ticket ? c->just.ticket : "");
    stamp(c, rec, now);
    *audit = je_quota_entry(
        c->r->principal, pause ? "quota.paused" : "quota.resumed", rec->quota_id, c->just.reason,
        c->just.has_ticket ? c->just.ticket : NULL, now, change_details(c, &before, rec));
    return JE_CHANGE_APPLY;
}

static int quota_cb(void *ctx, je_quota_record *rec, int exists, int64_t now, json_t **audit,
                    je_err *err) {
    qchange *c = ctx;
    if (c->kind == Q_CREATE && exists)
        return deny(c, audit, NULL, now, "QUOTA_EXISTS", "jobType",
                    "a quota for this job type exists already");
    if (c->kind == Q_CREATE) return apply_create(c, rec, now, audit);
    if (!exists) return je_err_set(&c->deny, "NOT_FOUND", "no such quota"), JE_CHANGE_DENY;
    if (!je_change_version_matches(c->if_match, rec->version)) {
        char msg[96];
        snprintf(msg, sizeof msg, "If-Match does not match the current version %lld",
                 (long long)rec->version);
        return deny(c, audit, rec->quota_id, now, "VERSION_MISMATCH", "If-Match", msg);
    }
    if (c->kind == Q_UPDATE) return apply_update(c, rec, now, audit);
    if (c->kind == Q_PAUSE || c->kind == Q_RESUME) return apply_pause(c, rec, now, audit);
    *audit = je_quota_entry(c->r->principal, "quota.deleted", rec->quota_id, c->just.reason,
                            c->just.has_ticket ? c->just.ticket : NULL, now,
                            change_details(c, rec, NULL));
    return JE_CHANGE_DELETE;
}

/* ---- change routes ------------------------------------------------------------------------ */

typedef struct render_ctx {
    const je_quota_record *rec;
} render_ctx;

static char *render_created(void *ctx, int *status) {
    render_ctx *rc = ctx;
    json_t *j = je_quota_json(rc->rec, je_now_ms(), 0);
    char *s = je_json_dumps_ordered(j, NULL);
    json_decref(j);
    *status = 201;
    return s;
}

static void reply_quota(je_req *r, int status, const je_quota_record *rec) {
    je_reply_header(r, "ETag", je_arena_printf(r->arena, "\"%lld\"", (long long)rec->version));
    if (status == 201)
        je_reply_header(r, "Location",
                        je_arena_printf(r->arena, "/jobengine/quotas/%s", rec->quota_id));
    je_app *app = r->app;
    je_err err;
    int64_t pending =
        app->store->ops->jobs_pending(app->store, rec->tenant_id, rec->job_type, &err);
    je_reply_json(r, status, je_quota_json(rec, je_now_ms(), pending < 0 ? 0 : pending));
}

static void reply_replay(je_req *r, je_idem *idem) {
    je_reply_raw(r, idem->status, "application/json", idem->body, strlen(idem->body));
    free(idem->body);
}

static void change_outcome(qchange *c, int rc, je_idem *idem, const je_quota_record *rec) {
    je_req *r = c->r;
    if (idem->mismatch)
        return je_reply_error(r, 409, "IDEMPOTENCY_KEY_REUSED",
                              "this Idempotency-Key was used with another body", NULL);
    if (idem->replayed) return reply_replay(r, idem);
    if (rc == JE_CHANGE_DENY && c->noop) return reply_quota(r, 200, rec);
    if (rc == JE_CHANGE_DENY) return je_api_reply_err(r, &c->deny, c->deny_details);
    if (rc == JE_CHANGE_DELETE) return je_reply_empty(r, 204);
    reply_quota(r, c->kind == Q_CREATE ? 201 : 200, rec);
}

static void quota_change_route(je_req *r, je_app *app, int kind) {
    qchange *c = je_arena_alloc(r->arena, sizeof *c);
    *c = (qchange){
        .r = r, .app = app, .kind = kind, .expires_ms = JE_NO_TIME, .if_match = JE_IF_MATCH_NONE};
    const char *id = kind == Q_CREATE ? NULL : r->params[0];
    je_quota_record *rec = je_arena_alloc(r->arena, sizeof *rec);
    je_err err;
    je_err_clear(&err);
    int found =
        id ? app->store->ops->quota_get(app->store, r->principal->tenant, id, rec, &err) : 1;
    if (found < 0) return je_api_reply_err(r, &err, NULL);
    if (!found) return je_reply_error(r, 404, "NOT_FOUND", "no such quota", NULL);
    je_idem idem;
    memset(&idem, 0, sizeof idem);
    if (parse_change(c, &err) != 0 ||
        (kind == Q_CREATE && je_change_idem(r, c->body, &idem, &err))) {
        refuse(c, &err, id);
        return json_decref(c->body);
    }
    render_ctx rctx = {rec};
    idem.render = render_created;
    idem.render_ctx = &rctx;
    int rc = app->store->ops->quota_change(app->store, r->principal->tenant, id, c->job_type,
                                           quota_cb, c, &idem, rec, &err);
    json_decref(c->body);
    json_decref(c->deny_audit_details);
    if (c->deny_details && (rc != JE_CHANGE_DENY || idem.replayed || idem.mismatch))
        json_decref(c->deny_details); /* otherwise the reply takes it */
    if (rc < 0) return je_api_reply_err(r, &err, NULL);
    change_outcome(c, rc, &idem, rec);
}

void je_api_quota_create(je_req *r, je_app *app) {
    quota_change_route(r, app, Q_CREATE);
}
void je_api_quota_update(je_req *r, je_app *app) {
    quota_change_route(r, app, Q_UPDATE);
}
void je_api_quota_delete(je_req *r, je_app *app) {
    quota_change_route(r, app, Q_DELETE);
}
void je_api_quota_pause(je_req *r, je_app *app) {
    quota_change_route(r, app, Q_PAUSE);
}
void je_api_quota_resume(je_req *r, je_app *app) {
    quota_change_route(r, app, Q_RESUME);
}

/* ---- reads -------------------------------------------------------------------------------- */

void je_api_quota_get(je_req *r, je_app *app) {
    je_quota_record rec;
    je_err err;
    int found =
        app->store->ops->quota_get(app->store, r->principal->tenant, r->params[0], &rec, &err);
    if (found < 0) return je_api_reply_err(r, &err, NULL);
    if (!found) return je_reply_error(r, 404, "NOT_FOUND", "no such quota", NULL);
    reply_quota(r, 200, &rec);
}

typedef struct list_ctx {
    json_t *items;
    int64_t now;
    int summary;
    char last[JE_JOBTYPE_MAX + 1];
} list_ctx;

static json_t *summary_item(const je_quota_record *q, int64_t now) {
    json_t *full = je_quota_json(q, now, 0);
    json_t *u = json_object_get(full, "usage");
    double active = (double)json_integer_value(json_object_get(u, "active"));
    json_t *o = json_pack(
        "{s:s, s:s, s:O, s:O, s:O, s:O, s:b, s:O, s:O, s:O, s:f, s:O, s:O}", "jobType", q->job_type,
        "quotaId", q->quota_id, "maxActive", json_object_get(full, "maxActive"), "maxPerHour",
        json_object_get(full, "maxPerHour"), "burstCapacity",
        json_object_get(full, "burstCapacity"), "refillPerSecond",
        json_object_get(full, "refillPerSecond"), "paused", q->q.paused, "active",
        json_object_get(u, "active"), "hourCount", json_object_get(u, "hourCount"),
        "availableTokens", json_object_get(u, "availableTokens"), "utilisation",
        active / (double)q->q.limits.max_active, "throttled", json_object_get(u, "throttled"),
        "pending", json_object_get(u, "pending"));
    json_decref(full);
    return o;
}

static int list_visit(void *ctx, const je_quota_record *q) {
    list_ctx *l = ctx;
    json_array_append_new(l->items,
                          l->summary ? summary_item(q, l->now) : je_quota_json(q, l->now, 0));
    snprintf(l->last, sizeof l->last, "%s", q->job_type);
    return 0;
}

/* usage.pending (or the summary's pending) of every listed quota, read after the list so that
 * no store call runs inside another's visitor. */
static void fill_pending(je_app *app, const char *tenant, json_t *items, int summary) {
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it) {
        je_err err;
        const char *jt = json_string_value(json_object_get(it, "jobType"));
        int64_t n = jt ? app->store->ops->jobs_pending(app->store, tenant, jt, &err) : 0;
        json_t *holder = summary ? it : json_object_get(it, "usage");
        json_object_set_new(holder, "pending", json_integer(n < 0 ? 0 : n));
    }
}

static int list_filters(je_req *r, je_quota_filter *f, char *after, size_t cap) {
    *f = (je_quota_filter){.paused = -1};
    const char *jt = je_req_query_nonempty(r, "jobType");
    const char *paused = je_req_query_nonempty(r, "paused");
    if (jt && !je_id_job_type_valid(jt, strlen(jt))) {
        je_reply_field_error(r, 400, "VALIDATION_FAILED", "jobType", "jobType is malformed");
        return -1;
    }
    f->job_type = jt;
    if (paused && strcmp(paused, "true") != 0 && strcmp(paused, "false") != 0) {
        je_reply_field_error(r, 400, "VALIDATION_FAILED", "paused", "paused must be true or false");
        return -1;
    }
    if (paused) f->paused = strcmp(paused, "true") == 0;
    int limit;
    if (je_params_limit(r, &limit) != 0 || je_params_continuation_str(r, after, cap) != 0)
        return -1;
    f->limit = limit + 1;
    f->after_job_type = after;
    return 0;
}

void je_api_quota_list(je_req *r, je_app *app) {
    je_quota_filter f;
    char after[JE_JOBTYPE_MAX + 2];
    if (list_filters(r, &f, after, sizeof after) != 0) return;
    list_ctx l = {.items = json_array(), .now = je_now_ms()};
    je_err err;
    if (app->store->ops->quota_list(app->store, r->principal->tenant, &f, list_visit, &l, &err)) {
        json_decref(l.items);
        return je_api_reply_err(r, &err, NULL);
    }
    json_t *next = json_null();
    fill_pending(app, r->principal->tenant, l.items, 0);
    if ((int)json_array_size(l.items) == f.limit) {
        json_array_remove(l.items, json_array_size(l.items) - 1);
        json_t *last = json_array_get(l.items, json_array_size(l.items) - 1);
        const char *jt = json_string_value(json_object_get(last, "jobType"));
        next = json_string(je_params_continuation_make_str(r, jt));
    }
    je_reply_json(r, 200, json_pack("{s:o, s:o}", "items", l.items, "continuationToken", next));
}

void je_api_quota_summary(je_req *r, je_app *app) {
    je_quota_filter f = {.paused = -1, .after_job_type = "", .limit = 1000000};
    list_ctx l = {.items = json_array(), .now = je_now_ms(), .summary = 1};
    je_err err;
    if (app->store->ops->quota_list(app->store, r->principal->tenant, &f, list_visit, &l, &err)) {
        json_decref(l.items);
        return je_api_reply_err(r, &err, NULL);
    }
    fill_pending(app, r->principal->tenant, l.items, 1);
    je_reply_json(r, 200, json_pack("{s:o}", "items", l.items));
}
