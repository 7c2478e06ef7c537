/* api/allocate.c: POST /jobengine/quotas/{id}/acquire and /release: permits for external
 * schedulers. One decision per acquire, stored with its permit in one durable transaction
 * (store quota_acquire); answers carry the X-RateLimit-* headers of api.md §3.3. */
#include <stdlib.h>
#include <string.h>

#include "api/body.h"
#include "api/change.h"
#include "api/metrics.h"
#include "api/quota_view.h"
#include "api/routes.h"
#include "core/jcs.h"
#include "core/timefmt.h"

#define TTL_DEFAULT_S 300
#define TTL_MAX_S 86400

static int64_t ceil_div(int64_t a, int64_t b) {
    return a <= 0 ? 0 : (a + b - 1) / b;
}

/* X-RateLimit-* (and Retry-After for a 429) of a decision. */
void je_api_decision_headers(je_req *r, const je_quota_limits *l, const je_decision *d,
                             int64_t now_ms, int retry_after) {
    int64_t reset_s = d->kind == JE_DECISION_EXHAUSTED && d->next_eligible_ms != JE_NO_TIME
                          ? ceil_div(d->next_eligible_ms, 1000)
                          : ceil_div(now_ms, 1000);
    je_reply_header(r, "X-RateLimit-Limit",
                    je_arena_printf(r->arena, "%lld", (long long)l->max_active));
    je_reply_header(r, "X-RateLimit-Remaining",
                    je_arena_printf(r->arena, "%lld", (long long)d->remaining));
    je_reply_header(r, "X-RateLimit-Reset", je_arena_printf(r->arena, "%lld", (long long)reset_s));
    if (retry_after && d->kind == JE_DECISION_EXHAUSTED) {
        int64_t wait = d->next_eligible_ms == JE_NO_TIME /* unknown (a pool's): 1 s */
                           ? 1
                           : ceil_div(d->next_eligible_ms - now_ms, 1000);
        je_reply_header(r, "Retry-After",
                        je_arena_printf(r->arena, "%lld", (long long)(wait < 1 ? 1 : wait)));
    }
}

/* The 423 / 429 answer of a denial. */
void je_api_reply_denied(je_req *r, const je_decision *d) {
    if (d->kind == JE_DECISION_PAUSED)
        return je_reply_error(r, 423, "QUOTA_PAUSED", "the quota is paused",
                              json_pack("{s:n}", "nextEligibleAt"));
    char t[JE_TIME_BUF];
    je_reply_error(r, 429, "QUOTA_EXHAUSTED", "the quota allows no more work now",
                   json_pack("{s:s}", "nextEligibleAt", je_time_format(d->next_eligible_ms, t)));
}

/* The 429 of a decision the quota granted but the job type's capacity pool refused (issue 15):
 * which pool and which cap; nextEligibleAt when a slot of it frees at the latest (null when
 * unknown). Retry-After comes with the decision's headers (1 when unknown). */
void je_api_reply_pool_denied(je_req *r, const char *job_type, je_pool_cap cap, int64_t next_ms) {
    char t[JE_TIME_BUF];
    je_reply_error(
        r, 429, "POOL_EXHAUSTED", "the job type's capacity pool allows no more work now",
        json_pack("{s:s, s:s, s:o}", "pool", job_type, "cap", je_pool_cap_name(cap),
                  "nextEligibleAt",
                  next_ms == JE_NO_TIME ? json_null() : json_string(je_time_format(next_ms, t))));
}

/* 503 of an acquire whose job type's circuit breaker is open (issue 15): its state and when it
 * lets work through again (null: not by itself, e.g. forced open; then Retry-After 1). */
void je_api_reply_breaker_open(je_req *r, const char *job_type, const char *state,
                               int64_t retry_ms) {
    char t[JE_TIME_BUF];
    int64_t wait = retry_ms == JE_NO_TIME ? 1 : (retry_ms - je_now_ms() + 999) / 1000;
    je_reply_header(r, "Retry-After",
                    je_arena_printf(r->arena, "%lld", (long long)(wait < 1 ? 1 : wait)));
    je_reply_error(
        r, 503, "BREAKER_OPEN", "the job type's circuit breaker lets no work through now",
        json_pack("{s:s, s:s, s:o}", "jobType", job_type, "state", state, "retryAt",
                  retry_ms == JE_NO_TIME ? json_null() : json_string(je_time_format(retry_ms, t))));
}

static char *render_grant(void *ctx, int *status) {
    const je_acquire *a = ctx;
    char t[JE_TIME_BUF];
    json_t *j = json_pack("{s:b, s:s, s:s}", "granted", 1, "permitId", a->permit_id, "expiresAt",
                          je_time_format(a->expires_ms, t));
    char *s = je_json_dumps_ordered(j, NULL);
    json_decref(j);
    *status = 200;
    return s;
}

static int quota_exists(je_req *r, je_app *app) {
    je_quota_record rec;
    je_err err;
    int found =
        app->store->ops->quota_get(app->store, r->principal->tenant, r->params[0], &rec, &err);
    if (found < 0) je_api_reply_err(r, &err, NULL);
    if (found == JE_STORE_NOT_FOUND) je_reply_error(r, 404, "NOT_FOUND", "no such quota", NULL);
    return found == JE_STORE_OK;
}

void je_api_quota_acquire(je_req *r, je_app *app) {
    static const char *const fields[] = {"ttlSeconds", NULL};
    je_err err;
    je_err_clear(&err);
    json_t *body = je_api_keep(r, je_body_object(r, fields, &err));
    int64_t ttl = TTL_DEFAULT_S;
    je_idem idem;
    memset(&idem, 0, sizeof idem);
    if (!body || je_body_int(body, "ttlSeconds", 1, TTL_MAX_S, &ttl, &err) < 0 ||
        je_change_idem(r, body, &idem, &err) != 0) {
        /* 404 before 400 (api.md §1): the store op answers 404 itself on the good path, so the
         * quota is looked up here only for a bad request */
        if (quota_exists(r, app)) je_api_reply_err(r, &err, NULL);
        return;
    }
    je_acquire *a = je_arena_alloc(r->arena, sizeof *a);
    idem.render = render_grant;
    idem.render_ctx = a;
    int64_t now = je_now_ms();
    int found = app->store->ops->quota_acquire(app->store, r->principal->tenant, r->params[0],
                                               ttl * 1000, now, &idem, a, &err);
    if (found < 0) return je_api_reply_err(r, &err, NULL);
    if (found == JE_STORE_NOT_FOUND)
        return je_reply_error(r, 404, "NOT_FOUND", "no such quota", NULL);
    if (idem.mismatch)
        return je_reply_error(r, 409, "IDEMPOTENCY_KEY_REUSED",
                              "this Idempotency-Key was used with another body", NULL);
    if (idem.replayed) {
        je_reply_raw(r, idem.status, "application/json", idem.body, strlen(idem.body));
        return free(idem.body);
    }
    static const char *const outcomes[] = {"granted", "paused", "exhausted"};
    je_metric_decision(r->principal->tenant, a->rec.job_type, "acquire", outcomes[a->decision.kind],
                       1);
    /* a breaker's 503 sends its own Retry-After */
    je_api_decision_headers(r, &a->rec.q.limits, &a->decision, now, !a->breaker_open);
    if (a->breaker_open) je_metric_breaker_held(a->rec.job_type, "acquire");
    if (a->pool_cap != JE_POOL_OK)
        je_metric_pool_refused(a->rec.job_type, "acquire", je_pool_cap_name(a->pool_cap));
    if (a->breaker_open)
        return je_api_reply_breaker_open(
            r, a->rec.job_type, je_breaker_state_name(a->breaker_state), a->breaker_retry_ms);
    if (a->pool_cap != JE_POOL_OK)
        return je_api_reply_pool_denied(r, a->rec.job_type, a->pool_cap, a->pool_next_ms);
    if (a->decision.kind != JE_DECISION_GRANT) return je_api_reply_denied(r, &a->decision);
    int status;
    char *s = render_grant(a, &status);
    je_reply_raw(r, 200, "application/json", s, strlen(s));
    free(s);
}

/* The quota is looked up only when the answer depends on it (404 before 400, and which 404):
 * a good release is one store call. */
void je_api_quota_release(je_req *r, je_app *app) {
    static const char *const fields[] = {"permitId", NULL};
    je_err err;
    je_err_clear(&err);
    json_t *body = je_api_keep(r, je_body_object(r, fields, &err));
    const char *permit = NULL;
    if (!body || je_body_string(body, "permitId", &permit, NULL, &err) <= 0 || !*permit) {
        if (body && !err.code)
            je_err_field(&err, "VALIDATION_FAILED", "permitId", "permitId is required");
        if (quota_exists(r, app)) je_api_reply_err(r, &err, NULL);
        return;
    }
    int rc = app->store->ops->quota_release(app->store, r->principal->tenant, r->params[0], permit,
                                            je_now_ms(), &err);
    if (rc < 0) return je_api_reply_err(r, &err, NULL);
    if (rc == JE_STORE_NOT_FOUND) {
        if (quota_exists(r, app)) je_reply_error(r, 404, "NOT_FOUND", "no such live permit", NULL);
        return;
    }
    je_reply_empty(r, 204);
}
