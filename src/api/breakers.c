/* api/breakers.c: circuit breakers (issue 15, docs/api.md "Circuit breakers"). The platform
 * administrator (tenant "_system", orch:governance) sets a job type's breaker (its settings, and
 * whether each tenant's work of it has a breaker of its own) and forces the job type's breaker;
 * a tenant's operator (orch:operate) forces its own tenant's breaker of a per-tenant job type.
 * Every change is audited with its reason and ticket: the platform's in the _system chain, a
 * tenant's in its own. Tenants read the job type's breakers and their own, never another's. */
#include <stdlib.h>
#include <string.h>

#include "api/body.h"
#include "api/change.h"
#include "api/quota_view.h"
#include "api/routes.h"
#include "core/ids.h"
#include "core/jcs.h"
#include "core/scope.h"
#include "core/timefmt.h"

const je_change_kind je_change_breaker_platform = {"breaker.change.denied", "breaker",
                                                   JE_CLAIM_GOVERNANCE_REASON};
const je_change_kind je_change_breaker_tenant = {"breaker.change.denied", "breaker",
                                                 JE_CLAIM_OPERATOR_REASON};

static int platform(const je_req *r) {
    return strcmp(r->principal->tenant, JE_TENANT_SYSTEM) == 0;
}

static json_t *opt_time(int64_t ms) {
    char t[JE_TIME_BUF];
    return ms == JE_NO_TIME || ms == INT64_MIN ? json_null() : json_string(je_time_format(ms, t));
}

/* The failure rate as a decimal string in the audit (whose entries hold no reals). */
static json_t *rate_json(double rate, int for_audit) {
    if (!for_audit) return json_real(rate);
    je_buf b = JE_BUF_INIT;
    je_jcs_real(rate, &b);
    json_t *j = json_stringn(b.data, b.len);
    je_buf_free(&b);
    return j;
}

static json_t *breaker_json(const je_breaker_row *row, int64_t now, int for_audit) {
    je_breaker b = row->b;
    je_breaker_advance(&b, now);
    int64_t ok = 0, failed = 0;
    je_breaker_window(&b, &ok, &failed);
    int64_t retry = JE_NO_TIME;
    if (je_breaker_effective(&b) == JE_BREAKER_OPEN && b.force == JE_BREAKER_AUTO)
        retry = b.opened_ms + b.s.open_ms;
    json_t *o = json_pack(
        "{s:s, s:o, s:b, s:{s:o, s:I, s:I, s:I, s:I}, s:s, s:s, s:{s:I, s:I}, s:o, s:I}", "jobType",
        row->job_type, "tenantId", row->tenant_id[0] ? json_string(row->tenant_id) : json_null(),
        "perTenant", row->per_tenant, "settings", "failureRate",
        rate_json(b.s.failure_rate, for_audit), "minSamples", (json_int_t)b.s.min_samples,
        "windowSeconds", (json_int_t)(b.s.window_ms / 1000), "openSeconds",
        (json_int_t)(b.s.open_ms / 1000), "probes", (json_int_t)b.s.probes, "state",
        je_breaker_state_name(je_breaker_effective(&b)), "force", je_breaker_force_name(b.force),
        "window", "ok", (json_int_t)ok, "failed", (json_int_t)failed, "retryAt",
        for_audit ? json_null() : opt_time(retry), "version", (json_int_t)row->version);
    if (!for_audit) {
        json_object_set_new(o, "updatedAt", opt_time(row->updated_ms));
        json_object_set_new(o, "updatedBy", json_string(row->updated_by));
        json_object_set_new(o, "lastReason",
                            row->last_reason[0] ? json_string(row->last_reason) : json_null());
        json_object_set_new(o, "lastTicket",
                            row->last_ticket[0] ? json_string(row->last_ticket) : json_null());
    }
    return o;
}

static int job_type_param(je_req *r, const char **out) {
    const char *jt = r->params[0];
    if (!je_id_job_type_valid(jt, strlen(jt)) || strcmp(jt, "*") == 0) {
        je_reply_error(r, 404, "NOT_FOUND", "no such breaker", NULL);
        return -1;
    }
    *out = jt;
    return 0;
}

/* ---- reads -------------------------------------------------------------------------------- */

typedef struct list_ctx {
    je_req *r;
    json_t *items;
    int64_t now;
} list_ctx;

/* The platform sees every row; a tenant the job types' rows and its own. */
static int list_visit(void *ctx, const je_breaker_row *b) {
    list_ctx *l = ctx;
    if (!platform(l->r) && b->tenant_id[0] && strcmp(b->tenant_id, l->r->principal->tenant) != 0)
        return 0;
    json_array_append_new(l->items, breaker_json(b, l->now, 0));
    return 0;
}

static void list_reply(je_req *r, je_app *app, const char *job_type) {
    je_err err;
    je_err_clear(&err);
    list_ctx l = {r, json_array(), je_now_ms()};
    int rc = app->store->ops->breaker_list(app->store, job_type, list_visit, &l, &err);
    if (rc != JE_STORE_OK) {
        json_decref(l.items);
        return je_api_reply_err(r, &err, NULL);
    }
    if (job_type && json_array_size(l.items) == 0) {
        json_decref(l.items);
        return je_reply_error(r, 404, "NOT_FOUND", "no such breaker", NULL);
    }
    je_reply_json(r, 200, json_pack("{s:o}", "items", l.items));
}

void je_api_breaker_list(je_req *r, je_app *app) {
    list_reply(r, app, NULL);
}

void je_api_breaker_get(je_req *r, je_app *app) {
    const char *jt;
    if (job_type_param(r, &jt) == 0) list_reply(r, app, jt);
}

/* ---- changes ------------------------------------------------------------------------------ */

typedef enum bop { B_PUT, B_DELETE, B_FORCE } bop;

typedef struct bchange {
    je_req *r;
    bop op;
    json_t *body;
    const je_change_kind *kind;
    je_justification just;
    int64_t if_match;
    je_breaker_settings settings;
    int per_tenant;
    je_breaker_force force;
    je_err refusal;
    int refused, unchanged;
    const char *event_type;
    const je_breaker_row *type_row; /* a tenant's force: the job type's row (its settings) */
} bchange;

static int parse_put(bchange *c, je_err *err) {
    static const char *const allowed[] = {"failureRate", "minSamples", "windowSeconds",
                                          "openSeconds", "probes",     "perTenant",
                                          "reason",      "ticket",     NULL};
    c->body = je_api_keep(c->r, je_body_object(c->r, allowed, err));
    if (!c->body) return -1;
    je_breaker_settings s = je_breaker_defaults();
    double d;
    int64_t n;
    int rc;
    if ((rc = je_body_positive(c->body, "failureRate", 1, &d, err)) < 0) return -1;
    if (rc == 1) s.failure_rate = d;
    if ((rc = je_body_int(c->body, "minSamples", 1, 1000000, &n, err)) < 0) return -1;
    if (rc == 1) s.min_samples = n;
    if ((rc = je_body_int(c->body, "windowSeconds", 10, 86400, &n, err)) < 0) return -1;
    if (rc == 1) s.window_ms = n * 1000;
    if ((rc = je_body_int(c->body, "openSeconds", 1, 86400, &n, err)) < 0) return -1;
    if (rc == 1) s.open_ms = n * 1000;
    if ((rc = je_body_int(c->body, "probes", 1, 100, &n, err)) < 0) return -1;
    if (rc == 1) s.probes = n;
    int per = 0;
    if (je_body_bool(c->body, "perTenant", &per, err) < 0) return -1;
    c->per_tenant = per;
    c->settings = s;
    return je_breaker_settings_validate(&s, err);
}

static int parse_force(bchange *c, je_err *err) {
    static const char *const allowed[] = {"state", "reason", "ticket", NULL};
    c->body = je_api_keep(c->r, je_body_object(c->r, allowed, err));
    if (!c->body) return -1;
    const char *st = json_string_value(json_object_get(c->body, "state"));
    if (st && strcmp(st, "open") == 0)
        c->force = JE_BREAKER_FORCED_OPEN;
    else if (st && strcmp(st, "closed") == 0)
        c->force = JE_BREAKER_FORCED_CLOSED;
    else if (st && strcmp(st, "auto") == 0)
        c->force = JE_BREAKER_AUTO;
    else
        return je_err_field(err, "VALIDATION_FAILED", "state",
                            "state must be open, closed or auto");
    return 0;
}

static void stamp(bchange *c, je_breaker_row *rec, int64_t now) {
    rec->version += 1;
    rec->updated_ms = now;
    snprintf(rec->updated_by, sizeof rec->updated_by, "%s", c->r->principal->client_id);
    snprintf(rec->last_reason, sizeof rec->last_reason, "%s", c->just.reason);
    snprintf(rec->last_ticket, sizeof rec->last_ticket, "%s", c->just.ticket);
}

static int refuse(bchange *c, je_breaker_row *rec, int64_t now, json_t **audit, const char *code,
                  const char *field, const char *msg) {
    c->refused = 1;
    if (field)
        je_err_field(&c->refusal, code, field, "%s", msg);
    else
        je_err_set(&c->refusal, code, "%s", msg);
    if (strcmp(code, "NOT_FOUND") != 0)
        *audit = je_change_refusal_entry(c->r, c->kind, c->body, &c->just, &c->refusal, NULL,
                                         rec->job_type, now);
    return JE_CHANGE_DENY;
}

static int breaker_cb(void *ctx, je_breaker_row *rec, int exists, int64_t now, json_t **audit,
                      je_err *err) {
    bchange *c = ctx;
    c->refused = c->unchanged = 0;
    je_err_clear(&c->refusal);
    if (!exists && c->op == B_FORCE && c->type_row) { /* the tenant's first touch of its own */
        je_breaker_init(&rec->b, &c->type_row->b.s, now);
        rec->per_tenant = 1;
        exists = 1;
    }
    if (!exists && c->op != B_PUT)
        return refuse(c, rec, now, audit, "NOT_FOUND", NULL, "no such breaker");
    if (exists && !je_if_match_admits(c->if_match, rec->version)) {
        char msg[96];
        snprintf(msg, sizeof msg, "If-Match does not match the current version %lld",
                 (long long)rec->version);
        return refuse(c, rec, now, audit, "VERSION_MISMATCH", "If-Match", msg);
    }
    json_t *before = exists ? breaker_json(rec, now, 1) : json_null();
    int rc = JE_CHANGE_APPLY;
    if (c->op == B_DELETE) {
        c->event_type = "breaker.deleted";
        rc = JE_CHANGE_DELETE;
    } else if (c->op == B_FORCE) {
        c->event_type = "breaker.forced";
        je_breaker_set_force(&rec->b, c->force, now);
        stamp(c, rec, now);
    } else {
        c->event_type = exists ? "breaker.updated" : "breaker.created";
        if (!exists) {
            je_breaker_init(&rec->b, &c->settings, now);
            rec->version = 0;
        } else {
            rec->b.s = c->settings;
        }
        rec->per_tenant = c->per_tenant;
        stamp(c, rec, now);
    }
    json_t *after = rc == JE_CHANGE_DELETE ? json_null() : breaker_json(rec, now, 1);
    *audit = je_caller_entry(c->r->principal, c->event_type, "breaker", rec->job_type,
                             c->just.reason, c->just.ticket, now,
                             json_pack("{s:o, s:o}", "before", before, "after", after));
    return rc;
}

static void breaker_change_route(je_req *r, je_app *app, bop op) {
    const char *jt;
    if (job_type_param(r, &jt) != 0) return;
    bchange *c = je_arena_alloc(r->arena, sizeof *c);
    memset(c, 0, sizeof *c);
    c->r = r;
    c->op = op;
    c->if_match = JE_IF_MATCH_NONE;
    int is_platform = platform(r);
    c->kind = is_platform ? &je_change_breaker_platform : &je_change_breaker_tenant;
    /* the platform owns the job type's row; a tenant may only force its own row */
    if ((op != B_FORCE && !is_platform) ||
        !(r->principal->scopes & (is_platform ? JE_SCOPE_GOVERNANCE : JE_SCOPE_OPERATE)))
        return je_reply_error(r, 403, "SCOPE_REQUIRED",
                              is_platform ? "this needs orch:governance"
                                          : "a tenant forces its own breaker with orch:operate; "
                                            "settings are the platform's (orch:governance)",
                              NULL);
    const char *tenant = is_platform ? "" : r->principal->tenant;
    je_err err;
    je_err_clear(&err);
    static const char *const none[] = {"reason", "ticket", NULL};
    int bad = op == B_PUT ? parse_put(c, &err)
              : op == B_FORCE
                  ? parse_force(c, &err)
                  : ((c->body = je_api_keep(r, je_body_object(r, none, &err))) ? 0 : -1);
    if (bad || je_change_justify(r, c->body, c->kind, &c->just, &err) != 0 ||
        je_change_if_match(r, &c->if_match, &err) != 0)
        return je_change_refuse(r, app, c->kind, c->body, &c->just, &err, NULL, jt, NULL);
    /* a tenant's own breaker exists only where the platform made the job type's per tenant */
    if (!is_platform) {
        je_breaker_row *type_row = je_arena_alloc(r->arena, sizeof *type_row);
        int found = app->store->ops->breaker_get(app->store, jt, "", type_row, &err);
        if (found < 0) return je_api_reply_err(r, &err, NULL);
        if (found == JE_STORE_NOT_FOUND)
            return je_reply_error(r, 404, "NOT_FOUND", "no such breaker", NULL);
        if (!type_row->per_tenant)
            return je_reply_error(r, 409, "BREAKER_NOT_PER_TENANT",
                                  "this job type has one breaker for every tenant: only the "
                                  "platform forces it",
                                  NULL);
        c->type_row = type_row;
    }
    je_breaker_row *rec = je_arena_alloc(r->arena, sizeof *rec);
    int rc = app->store->ops->breaker_change(app->store, jt, tenant, je_now_ms(), breaker_cb, c,
                                             rec, &err);
    je_idem no_key;
    memset(&no_key, 0, sizeof no_key);
    if (je_change_reply_common(r, rc, &no_key, &err)) return;
    if (rc == JE_CHANGE_DENY && c->refused) return je_api_reply_err(r, &c->refusal, NULL);
    if (rc == JE_CHANGE_DELETE) return je_reply_empty(r, 204);
    je_reply_header(r, "ETag", je_arena_printf(r->arena, "\"%lld\"", (long long)rec->version));
    je_reply_json(r, strcmp(c->event_type, "breaker.created") == 0 ? 201 : 200,
                  breaker_json(rec, je_now_ms(), 0));
}

void je_api_breaker_put(je_req *r, je_app *app) {
    breaker_change_route(r, app, B_PUT);
}

void je_api_breaker_delete(je_req *r, je_app *app) {
    breaker_change_route(r, app, B_DELETE);
}

void je_api_breaker_force(je_req *r, je_app *app) {
    breaker_change_route(r, app, B_FORCE);
}
