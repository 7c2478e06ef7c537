/* api/backfills.c: the backfill routes of api.md §3.5 — preview, create (safety checks, plan,
 * refusals in the contract's order, all audited), reads, and the state moves; the checks run
 * on facts read inside the same write transaction that creates, so two overlapping requests can
 * never both pass. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/backfill_view.h"
#include "api/body.h"
#include "api/change.h"
#include "api/quota_view.h"
#include "api/routes.h"
#include "base/random.h"
#include "core/ids.h"
#include "core/jcs.h"
#include "core/timefmt.h"
#include "http/params.h"

typedef struct bfreq {
    je_req *r;
    je_app *app;
    json_t *body;
    char source_id[JE_SOURCE_MAX + 1];
    char job_type[JE_JOBTYPE_MAX + 1];
    je_window window;
    int64_t batch_ms;
    int force, dry_run;
    const char *plan_hash;
    je_justification just;
    je_err deny;
    json_t *deny_details;
} bfreq;

static const char *const create_fields[] = {
    "sourceId", "jobType", "windowStart", "windowEnd", "batchSeconds", "forceReprocess", "planHash",
    "dryRun",   "reason",  "ticket",      NULL};

static int parse_time_field(const json_t *body, const char *name, int64_t *out, je_err *err) {
    const char *s;
    int rc = je_body_string(body, name, &s, NULL, err);
    if (rc < 0) return -1;
    if (rc == 0 || je_time_parse(s, out) != 0)
        return je_err_field(err, "VALIDATION_FAILED", name, "%s: an RFC 3339 date-time is required",
                            name);
    return 0;
}

static int parse_name(const json_t *body, const char *name, int allow_star, char *out, size_t cap,
                      je_err *err) {
    const char *s;
    size_t n = 0;
    int rc = je_body_string(body, name, &s, &n, err);
    if (rc < 0) return -1;
    if (rc == 0 || !je_id_job_type_valid(s, n) || (!allow_star && strcmp(s, "*") == 0) || n >= cap)
        return je_err_field(err, "VALIDATION_FAILED", name,
                            "%s is required: 1-128 of [A-Za-z0-9._:-]", name);
    memcpy(out, s, n + 1);
    return 0;
}

static int parse_request(bfreq *q, je_err *err) {
    q->body = je_api_keep(q->r, je_body_object(q->r, create_fields, err));
    if (!q->body) return -1;
    int64_t secs = 3600;
    if (parse_name(q->body, "sourceId", 0, q->source_id, sizeof q->source_id, err) != 0 ||
        parse_name(q->body, "jobType", 0, q->job_type, sizeof q->job_type, err) != 0 ||
        parse_time_field(q->body, "windowStart", &q->window.start, err) != 0 ||
        parse_time_field(q->body, "windowEnd", &q->window.end, err) != 0 ||
        je_body_int(q->body, "batchSeconds", 1, 366LL * 86400, &secs, err) < 0 ||
        je_body_bool(q->body, "forceReprocess", &q->force, err) < 0 ||
        je_body_bool(q->body, "dryRun", &q->dry_run, err) < 0 ||
        je_body_string(q->body, "planHash", &q->plan_hash, NULL, err) < 0)
        return -1;
    q->batch_ms = secs * 1000;
    return 0;
}

static je_backfill_request core_request(const bfreq *q) {
    return (je_backfill_request){
        q->r->principal->tenant, q->source_id, q->job_type, q->window, q->batch_ms, q->force};
}

static void evaluate(const bfreq *q, const je_backfill_store_facts *sf, int64_t now,
                     je_backfill_plan *plan) {
    je_backfill_facts f = {sf->quota_exists,
                           sf->quota_paused,
                           sf->overlapping_id[0] ? sf->overlapping_id : NULL,
                           sf->repeated_id[0] ? sf->repeated_id : NULL,
                           sf->known_events,
                           sf->already_processed};
    je_backfill_request req = core_request(q);
    je_backfill_evaluate(&req, &f, &q->app->cfg.backfill, now, plan);
}

/* ---- refusals (audited as backfill.rejected) ---------------------------------------------- */

static void refuse(bfreq *q, const je_err *e, const char *backfill_id) {
    je_change_refuse(q->r, q->app, &je_change_backfill, q->body, &q->just, e, q->deny_details,
                     backfill_id, json_deep_copy(q->deny_details));
}

/* A refusal inside the store's transaction: the entry goes with it. details: the reply's (and
 * the entry's) extra members; a run before this one (a retried transaction) is forgotten. */
static int deny(bfreq *q, json_t **audit, const char *id, int64_t now, const char *code,
                const char *msg, json_t *details) {
    je_err_set(&q->deny, code, "%s", msg);
    json_decref(q->deny_details);
    q->deny_details = details;
    *audit = je_change_refusal_entry(q->r, &je_change_backfill, q->body, &q->just, &q->deny,
                                     details, id, now);
    return JE_CHANGE_DENY;
}

/* ---- preview and create ------------------------------------------------------------------- */

static void reply_preview(bfreq *q) {
    je_backfill_store_facts sf;
    je_err err;
    int64_t now = je_now_ms();
    je_app *app = q->app;
    if (app->store->ops->backfill_facts(app->store, q->r->principal->tenant, q->source_id,
                                        q->job_type, q->window.start, q->window.end,
                                        app->cfg.backfill.suppression_ms, now, &sf, &err) != 0)
        return je_api_reply_err(q->r, &err, NULL);
    je_backfill_plan plan;
    evaluate(q, &sf, now, &plan);
    json_t *o = json_pack("{s:o, s:o}", "plan", je_backfill_plan_json(&plan), "safetyChecks",
                          je_backfill_checks_json(&plan));
    if (plan.duplicate_of)
        json_object_set_new(o, "existingBackfillId", json_string(plan.duplicate_of));
    je_reply_json(q->r, 200, o);
}

void je_api_backfill_preview(je_req *r, je_app *app) {
    bfreq q = {.r = r, .app = app};
    je_err err;
    je_err_clear(&err);
    if (parse_request(&q, &err) != 0) return je_api_reply_err(r, &err, NULL);
    reply_preview(&q);
}

static void fill_record(bfreq *q, const je_backfill_plan *plan, je_backfill_record *b,
                        int64_t now) {
    je_uuid7(now, b->backfill_id);
    snprintf(b->tenant_id, sizeof b->tenant_id, "%s", q->r->principal->tenant);
    snprintf(b->source_id, sizeof b->source_id, "%s", q->source_id);
    snprintf(b->job_type, sizeof b->job_type, "%s", q->job_type);
    b->window_start_ms = q->window.start;
    b->window_end_ms = q->window.end;
    b->batch_ms = q->batch_ms;
    b->force_reprocess = q->force;
    b->status = JE_BF_PENDING;
    snprintf(b->reason, sizeof b->reason, "%s", q->just.reason);
    snprintf(b->ticket, sizeof b->ticket, "%s", q->just.has_ticket ? q->just.ticket : "");
    b->plan_batches = plan->batches;
    b->plan_known = plan->known_events;
    b->plan_processed = plan->already_processed;
    snprintf(b->plan_hash, sizeof b->plan_hash, "%s", plan->plan_hash);
    json_t *checks = je_backfill_checks_json(plan);
    char *s = json_dumps(checks, JSON_COMPACT);
    snprintf(b->safety_checks, sizeof b->safety_checks, "%s", s ? s : "[]");
    free(s);
    json_decref(checks);
    b->created_ms = now;
    b->started_ms = b->completed_ms = JE_NO_TIME;
    snprintf(b->created_by, sizeof b->created_by, "%s", q->r->principal->client_id);
    b->version = 1;
}

static int create_cb(void *ctx, const je_backfill_store_facts *sf, je_backfill_record *b,
                     int64_t now, json_t **audit, je_err *err) {
    bfreq *q = ctx;
    json_decref(q->deny_details); /* pure: a run before this one leaves nothing behind */
    q->deny_details = NULL;
    je_backfill_plan plan;
    evaluate(q, sf, now, &plan);
    json_t *checks = je_backfill_checks_json(&plan);
    if (!plan.no_overlap_passed)
        return deny(q, audit, NULL, now, "BACKFILL_DUPLICATE",
                    "an overlapping or repeated backfill exists for this source and job type",
                    json_pack("{s:s, s:o}", "existingBackfillId", plan.duplicate_of, "safetyChecks",
                              checks));
    if (!plan.all_passed)
        return deny(q, audit, NULL, now, "BACKFILL_UNSAFE", "a safety check failed",
                    json_pack("{s:o}", "safetyChecks", checks));
    if (q->plan_hash && strcmp(q->plan_hash, plan.plan_hash) != 0)
        return deny(q, audit, NULL, now, "PLAN_CHANGED",
                    "the plan differs from the planHash given (new events or changed limits)",
                    json_pack("{s:s, s:o}", "planHash", plan.plan_hash, "safetyChecks", checks));
    json_decref(checks);
    fill_record(q, &plan, b, now);
    json_t *d =
        json_pack("{s:o, s:o, s:o}", "before", json_null(), "after", je_backfill_audit_view(b),
                  "token", je_token_details(q->r->principal, JE_CLAIM_BACKFILL_REASON));
    *audit = je_backfill_entry(q->r->principal, "backfill.created", b->backfill_id, q->just.reason,
                               q->just.has_ticket ? q->just.ticket : NULL, now, d);
    return JE_CHANGE_APPLY;
}

static char *render_backfill(void *ctx, int *status) {
    json_t *o = je_backfill_json(ctx);
    char *s = je_json_dumps_ordered(o, NULL);
    json_decref(o);
    *status = 201;
    return s;
}

static void reply_backfill(je_req *r, int status, const je_backfill_record *b) {
    je_reply_header(r, "ETag", je_arena_printf(r->arena, "\"%lld\"", (long long)b->version));
    if (status == 201)
        je_reply_header(r, "Location",
                        je_arena_printf(r->arena, "/jobengine/backfills/%s", b->backfill_id));
    je_reply_json(r, status, je_backfill_json(b));
}

static void create_outcome(bfreq *q, int rc, je_idem *idem, const je_backfill_record *b,
                           const je_err *err) {
    je_req *r = q->r;
    if (je_change_reply_common(r, rc, idem, err)) return;
    if (rc == JE_CHANGE_DENY) {
        int status = strcmp(q->deny.code, "BACKFILL_UNSAFE") == 0 ? 422 : 409;
        return je_reply_error(r, status, q->deny.code, q->deny.message,
                              json_incref(q->deny_details));
    }
    reply_backfill(r, 201, b);
}

void je_api_backfill_create(je_req *r, je_app *app) {
    bfreq *q = je_arena_alloc(r->arena, sizeof *q);
    q->r = r;
    q->app = app;
    je_err err;
    je_err_clear(&err);
    je_idem idem;
    memset(&idem, 0, sizeof idem);
    if (parse_request(q, &err) != 0) return refuse(q, &err, NULL);
    if (q->dry_run) return reply_preview(q);
    if (je_change_justify(r, q->body, &je_change_backfill, &q->just, &err) != 0 ||
        je_change_idem(r, q->body, &idem, &err) != 0)
        return refuse(q, &err, NULL);
    je_backfill_record *b = je_arena_alloc(r->arena, sizeof *b);
    idem.render = render_backfill;
    idem.render_ctx = b;
    int rc = app->store->ops->backfill_create(
        app->store, r->principal->tenant, q->source_id, q->job_type, q->window.start, q->window.end,
        app->cfg.backfill.suppression_ms, je_now_ms(), create_cb, q, &idem, b, &err);
    je_api_keep(r, q->deny_details); /* the last run's; the reply takes a reference */
    create_outcome(q, rc, &idem, b, &err);
}

/* ---- state moves -------------------------------------------------------------------------- */

typedef struct bfmove {
    bfreq q;
    je_backfill_state from_required; /* JE_BF_STATE_COUNT: any state the machine allows */
    je_backfill_state to;
    const char *event_type;
    int64_t if_match;
} bfmove;

/* The store's callback: core moves the backfill (je_backfill_move); this adapter checks If-Match
 * and builds the audit entry. Pure: it may run again on a fresh read. */
static int move_cb(void *ctx, je_backfill_record *b, int exists, int64_t now, json_t **audit,
                   je_err *err) {
    bfmove *m = ctx;
    json_decref(m->q.deny_details);
    m->q.deny_details = NULL;
    if (!exists) return je_err_set(&m->q.deny, "NOT_FOUND", "no such backfill"), JE_CHANGE_DENY;
    if (!je_if_match_admits(m->if_match, b->version))
        return deny(&m->q, audit, b->backfill_id, now, "VERSION_MISMATCH",
                    "If-Match does not match the current version", NULL);
    je_backfill_record before = *b;
    je_err e;
    je_err_clear(&e);
    if (je_backfill_move(b, m->from_required, m->to, now, &e) != 0)
        return deny(&m->q, audit, b->backfill_id, now, e.code, e.message,
                    json_pack("{s:s}", "status", je_backfill_state_name(before.status)));
    json_t *d = json_pack("{s:o, s:o, s:o}", "before", je_backfill_audit_view(&before), "after",
                          je_backfill_audit_view(b), "token",
                          je_token_details(m->q.r->principal, JE_CLAIM_BACKFILL_REASON));
    *audit = je_backfill_entry(m->q.r->principal, m->event_type, b->backfill_id, m->q.just.reason,
                               m->q.just.has_ticket ? m->q.just.ticket : NULL, now, d);
    return JE_CHANGE_APPLY;
}

static void move_route(je_req *r, je_app *app, je_backfill_state from, je_backfill_state to,
                       const char *event_type) {
    static const char *const fields[] = {"reason", "ticket", NULL};
    bfmove *m = je_arena_alloc(r->arena, sizeof *m);
    *m = (bfmove){.q = {.r = r, .app = app},
                  .from_required = from,
                  .to = to,
                  .event_type = event_type,
                  .if_match = JE_IF_MATCH_NONE};
    je_backfill_record *b = je_arena_alloc(r->arena, sizeof *b);
    je_err err;
    je_err_clear(&err);
    const char *id = r->params[0];
    int found = app->store->ops->backfill_get(app->store, r->principal->tenant, id, b, &err);
    if (found < 0) return je_api_reply_err(r, &err, NULL);
    if (found == JE_STORE_NOT_FOUND)
        return je_reply_error(r, 404, "NOT_FOUND", "no such backfill", NULL);
    m->q.body = je_api_keep(r, je_body_object(r, fields, &err));
    if (!m->q.body || je_change_justify(r, m->q.body, &je_change_backfill, &m->q.just, &err) != 0 ||
        je_change_if_match(r, &m->if_match, &err) != 0)
        return refuse(&m->q, &err, id);
    int rc = app->store->ops->backfill_change(app->store, r->principal->tenant, id, je_now_ms(),
                                              move_cb, m, b, &err);
    je_api_keep(r, m->q.deny_details);
    if (rc < 0) return je_api_reply_err(r, &err, NULL);
    if (rc == JE_CHANGE_DENY)
        return je_api_reply_err(r, &m->q.deny, json_incref(m->q.deny_details));
    reply_backfill(r, 200, b);
}

void je_api_backfill_start(je_req *r, je_app *app) {
    move_route(r, app, JE_BF_PENDING, JE_BF_RUNNING, "backfill.started");
}
void je_api_backfill_pause(je_req *r, je_app *app) {
    move_route(r, app, JE_BF_RUNNING, JE_BF_PAUSED, "backfill.paused");
}
void je_api_backfill_resume(je_req *r, je_app *app) {
    move_route(r, app, JE_BF_PAUSED, JE_BF_RUNNING, "backfill.resumed");
}
void je_api_backfill_cancel(je_req *r, je_app *app) {
    move_route(r, app, JE_BF_STATE_COUNT, JE_BF_CANCELED, "backfill.canceled");
}

/* ---- reads -------------------------------------------------------------------------------- */

void je_api_backfill_get(je_req *r, je_app *app) {
    je_backfill_record b;
    je_err err;
    int found =
        app->store->ops->backfill_get(app->store, r->principal->tenant, r->params[0], &b, &err);
    if (found < 0) return je_api_reply_err(r, &err, NULL);
    if (found == JE_STORE_NOT_FOUND)
        return je_reply_error(r, 404, "NOT_FOUND", "no such backfill", NULL);
    reply_backfill(r, 200, &b);
}

static int bf_visit(void *ctx, const je_backfill_record *b) {
    json_array_append_new(ctx, je_backfill_json(b));
    return 0;
}

void je_api_backfill_list(je_req *r, je_app *app) {
    je_backfill_filter f = {.status = -1, .before_created_ms = INT64_MAX, .before_id = ""};
    const char *st = je_req_query_nonempty(r, "status");
    if (st && (f.status = je_backfill_state_parse(st)) < 0)
        return je_reply_field_error(
            r, 400, "VALIDATION_FAILED", "status",
            "status: pending, running, paused, completed, failed, canceled");
    int limit;
    char after[128];
    if (je_params_limit(r, &limit) != 0 || je_params_continuation_str(r, after, sizeof after) != 0)
        return;
    char *slash = strchr(after, '/');
    if (after[0] && !slash)
        return je_reply_field_error(r, 400, "VALIDATION_FAILED", "continuationToken",
                                    "continuationToken is not one this server issued");
    if (slash)
        *slash = '\0', f.before_created_ms = strtoll(after, NULL, 10), f.before_id = slash + 1;
    f.limit = limit + 1;
    json_t *items = json_array();
    je_err err;
    if (app->store->ops->backfill_list(app->store, r->principal->tenant, &f, bf_visit, items,
                                       &err) != 0) {
        json_decref(items);
        return je_api_reply_err(r, &err, NULL);
    }
    json_t *next = json_null();
    if ((int)json_array_size(items) == f.limit) {
        json_array_remove(items, json_array_size(items) - 1);
        json_t *last = json_array_get(items, json_array_size(items) - 1);
        int64_t created = 0;
        je_time_parse(json_string_value(json_object_get(last, "createdAt")), &created);
        next = json_string(je_params_continuation_make_str(
            r, je_arena_printf(r->arena, "%lld/%s", (long long)created,
                               json_string_value(json_object_get(last, "backfillId")))));
    }
    je_reply_json(r, 200, json_pack("{s:o, s:o}", "items", items, "continuationToken", next));
}
