/* api/quotas.c: the quota routes of api.md §3.3. Each change route parses and justifies the
 * request, then hands one callback to the store's atomic quota_change: core decides
 * (core/quota_change.h: version, ceiling, decrease safety, elevation) on the row inside the
 * write transaction, and the callback builds the audit entry stored with it. Refusals are
 * audited as quota.change.denied. */
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

static const char *const limit_names[4] = {"maxActive", "maxPerHour", "burstCapacity",
                                           "refillPerSecond"};

typedef struct qchange {
    je_req *r;
    je_app *app;
    json_t *body;
    je_quota_request req; /* what core applies (core/quota_change.h) */
    je_justification just;
    je_quota_outcome out;
    json_t *deny_details; /* details of the refusal the reply carries (ceiling: requested...) */
} qchange;

/* ---- parsing ------------------------------------------------------------------------------ */

static int parse_limits(qchange *c, je_err *err) {
    int64_t *dst[3] = {&c->req.limits.max_active, &c->req.limits.max_per_hour,
                       &c->req.limits.burst_capacity};
    for (int i = 0; i < 3; i++) {
        int rc = je_body_int(c->body, limit_names[i], 1, JE_MAX_INT53, dst[i], err);
        if (rc < 0) return -1;
        c->req.has[i] = rc;
    }
    int rc =
        je_body_positive(c->body, "refillPerSecond", 1e300, &c->req.limits.refill_per_second, err);
    if (rc < 0) return -1;
    c->req.has[3] = rc;
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
    c->req.job_type = jt;
    if (json_object_get(c->body, "expiresAt"))
        return je_err_field(err, "VALIDATION_FAILED", "expiresAt",
                            "expiresAt is refused on create: create, then adjust temporarily");
    if (parse_limits(c, err) != 0) return -1;
    for (int i = 0; i < 4; i++)
        if (!c->req.has[i])
            return je_err_field(err, "VALIDATION_FAILED", limit_names[i], "%s is required",
                                limit_names[i]);
    return 0;
}

static int parse_update(qchange *c, je_err *err) {
    if (parse_limits(c, err) != 0) return -1;
    if (je_body_bool(c->body, "allowDecreaseBelowUsage", &c->req.allow_decrease, err) < 0)
        return -1;
    const char *at;
    int rc = je_body_string(c->body, "expiresAt", &at, NULL, err);
    if (rc < 0) return -1;
    if (rc == 1 && je_time_parse(at, &c->req.expires_ms) != 0)
        return je_err_field(err, "VALIDATION_FAILED", "expiresAt",
                            "expiresAt must be an RFC 3339 date-time");
    if (rc == 1 && c->req.expires_ms <= je_now_ms())
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
    je_quota_op op = c->req.op;
    const char *const *allowed = op == JE_QUOTA_CREATE   ? create_fields
                                 : op == JE_QUOTA_UPDATE ? update_fields
                                                         : plain_fields;
    c->body = je_api_keep(c->r, je_body_object(c->r, allowed, err));
    if (!c->body) return -1;
    if (op == JE_QUOTA_CREATE && parse_create(c, err) != 0) return -1;
    if (op == JE_QUOTA_UPDATE && parse_update(c, err) != 0) return -1;
    if (je_change_justify(c->r, c->body, &je_change_quota, &c->just, err) != 0) return -1;
    c->req.actor = c->r->principal->client_id;
    c->req.reason = c->just.reason;
    c->req.ticket = c->just.has_ticket ? c->just.ticket : NULL;
    return je_change_if_match(c->r, &c->req.if_match, err);
}

/* ---- the change, inside the store's transaction ------------------------------------------- */

static json_t *change_details(qchange *c, const je_quota_record *before,
                              const je_quota_record *after) {
    return json_pack("{s:o, s:o, s:o}", "before", je_quota_audit_view(before), "after",
                     je_quota_audit_view(after), "token",
                     je_token_details(c->r->principal, JE_CLAIM_QUOTA_REASON));
}

/* The ceiling refused: the values, as numbers in the reply (integers but for refill). */
static json_t *ceiling_details(const je_quota_outcome *o) {
    if (strcmp(o->refusal.field, "refillPerSecond") == 0)
        return json_pack("{s:f, s:f}", "requested", o->requested, "ceiling", o->ceiling);
    return json_pack("{s:I, s:I}", "requested", (json_int_t)o->requested, "ceiling",
                     (json_int_t)o->ceiling);
}

/* The store's callback: core decides (je_quota_apply), this adapter builds the audit entry.
 * Pure: it may run again on a fresh read, and only the last run's results are used. */
static int quota_cb(void *ctx, je_quota_record *rec, int exists, int64_t now, json_t **audit,
                    je_err *err) {
    qchange *c = ctx;
    json_decref(c->deny_details);
    c->deny_details = NULL;
    je_quota_record before = *rec;
    je_quota_limits ceiling;
    const char *job_type = exists ? rec->job_type : c->req.job_type ? c->req.job_type : "";
    je_config_ceiling(&c->app->cfg, rec->tenant_id, job_type, &ceiling);
    char new_id[JE_UUID_BUF];
    je_uuid7(now, new_id);
    je_quota_apply(&c->req, rec, exists, &ceiling, new_id, now, &c->out);
    const char *reason = c->req.reason, *ticket = c->req.ticket;
    switch (c->out.verdict) {
    case JE_QUOTA_APPLIED:
        *audit = je_quota_entry(c->r->principal, c->out.event_type, rec->quota_id, reason, ticket,
                                now, change_details(c, exists ? &before : NULL, rec));
        return JE_CHANGE_APPLY;
    case JE_QUOTA_DELETED:
        *audit = je_quota_entry(c->r->principal, c->out.event_type, rec->quota_id, reason, ticket,
                                now, change_details(c, &before, NULL));
        return JE_CHANGE_DELETE;
    case JE_QUOTA_UNCHANGED:
        return JE_CHANGE_DENY;
    case JE_QUOTA_REFUSED:
        break;
    }
    if (c->out.ceiling_hit) c->deny_details = ceiling_details(&c->out);
    if (c->out.event_type)
        *audit = je_change_refusal_entry(c->r, &je_change_quota, c->body, &c->just, &c->out.refusal,
                                         c->deny_details, c->out.quota_id, now);
    return JE_CHANGE_DENY;
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

/* "\"<version>\"" in the arena. */
static const char *etag(je_req *r, int64_t version) {
    je_buf b = JE_BUF_INIT;
    je_buf_putc(&b, '"');
    je_jcs_int(version, &b);
    je_buf_putc(&b, '"');
    char *s = je_arena_alloc(r->arena, b.len + 1);
    memcpy(s, b.data, b.len + 1);
    je_buf_free(&b);
    return s;
}

/* The quota resource, written straight into a buffer (the tree only if that cannot be done,
 * which then drops what it cannot hold, as it always did). */
static void reply_quota_with(je_req *r, int status, const je_quota_record *rec, int64_t pending) {
    je_reply_header(r, "ETag", etag(r, rec->version));
    if (status == 201)
        je_reply_header(r, "Location",
                        je_arena_printf(r->arena, "/jobengine/quotas/%s", rec->quota_id));
    int64_t now = je_now_ms();
    je_buf b = {malloc(1024), 0, 1024}; /* a resource is 600-900 bytes: no regrowth */
    if (!b.data) abort();
    b.data[0] = '\0';
    if (je_quota_text(&b, rec, now, pending, NULL) == 0)
        je_reply_raw(r, status, "application/json", b.data, b.len);
    else
        je_reply_json(r, status, je_quota_json(rec, now, pending));
    je_buf_free(&b);
}

static void reply_quota(je_req *r, int status, const je_quota_record *rec) {
    je_app *app = r->app;
    je_err err;
    je_err_clear(&err);
    int64_t pending =
        app->store->ops->jobs_pending(app->store, rec->tenant_id, rec->job_type, &err);
    if (pending < 0) return je_api_reply_err(r, &err, NULL); /* never answered as "0 pending" */
    reply_quota_with(r, status, rec, pending);
}

static void change_outcome(qchange *c, int rc, je_idem *idem, const je_quota_record *rec,
                           const je_err *err) {
    je_req *r = c->r;
    if (je_change_reply_common(r, rc, idem, err)) return;
    if (rc == JE_CHANGE_DENY && c->out.verdict == JE_QUOTA_UNCHANGED)
        return reply_quota(r, 200, rec);
    if (rc == JE_CHANGE_DENY)
        return je_api_reply_err(r, &c->out.refusal, json_incref(c->deny_details));
    if (rc == JE_CHANGE_DELETE) return je_reply_empty(r, 204);
    reply_quota(r, c->req.op == JE_QUOTA_CREATE ? 201 : 200, rec);
}

static void quota_change_route(je_req *r, je_app *app, je_quota_op op) {
    qchange *c = je_arena_alloc(r->arena, sizeof *c);
    c->r = r;
    c->app = app;
    c->req.op = op;
    c->req.expires_ms = JE_NO_TIME;
    c->req.if_match = JE_IF_MATCH_NONE;
    const char *id = op == JE_QUOTA_CREATE ? NULL : r->params[0];
    je_quota_record *rec = je_arena_alloc(r->arena, sizeof *rec);
    je_err err;
    je_err_clear(&err);
    int found = id ? app->store->ops->quota_get(app->store, r->principal->tenant, id, rec, &err)
                   : JE_STORE_OK;
    if (found < 0) return je_api_reply_err(r, &err, NULL);
    if (found == JE_STORE_NOT_FOUND)
        return je_reply_error(r, 404, "NOT_FOUND", "no such quota", NULL);
    je_idem idem;
    memset(&idem, 0, sizeof idem);
    if (parse_change(c, &err) != 0 ||
        (op == JE_QUOTA_CREATE && je_change_idem(r, c->body, &idem, &err)))
        return je_change_refuse(r, app, &je_change_quota, c->body, &c->just, &err, NULL, id, NULL);
    render_ctx rctx = {rec};
    idem.render = render_created;
    idem.render_ctx = &rctx;
    int rc = app->store->ops->quota_change(app->store, r->principal->tenant, id, c->req.job_type,
                                           je_now_ms(), quota_cb, c, &idem, rec, &err);
    je_api_keep(r, c->deny_details); /* the last run's; the reply takes a reference */
    change_outcome(c, rc, &idem, rec, &err);
}

void je_api_quota_create(je_req *r, je_app *app) {
    quota_change_route(r, app, JE_QUOTA_CREATE);
}
void je_api_quota_update(je_req *r, je_app *app) {
    quota_change_route(r, app, JE_QUOTA_UPDATE);
}
void je_api_quota_delete(je_req *r, je_app *app) {
    quota_change_route(r, app, JE_QUOTA_DELETE);
}
void je_api_quota_pause(je_req *r, je_app *app) {
    quota_change_route(r, app, JE_QUOTA_PAUSE);
}
void je_api_quota_resume(je_req *r, je_app *app) {
    quota_change_route(r, app, JE_QUOTA_RESUME);
}

/* ---- reads -------------------------------------------------------------------------------- */

void je_api_quota_get(je_req *r, je_app *app) {
    je_quota_record rec;
    je_err err;
    int64_t pending = 0;
    int found = app->store->ops->quota_view(app->store, r->principal->tenant, r->params[0], &rec,
                                            &pending, &err);
    if (found < 0) return je_api_reply_err(r, &err, NULL);
    if (found == JE_STORE_NOT_FOUND)
        return je_reply_error(r, 404, "NOT_FOUND", "no such quota", NULL);
    reply_quota_with(r, 200, &rec, pending);
}
