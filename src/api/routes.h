/* api/routes.h: the route table and the handlers it names. Adding a route means adding one line
 * to the table in routes.c, with the scopes that admit it; the gate (gate.c) runs before every
 * handler of an API route, so no handler can forget tenant or scope. */
#ifndef JE_API_ROUTES_H
#define JE_API_ROUTES_H

#include "api/app.h"
#include "core/pool.h"
#include "http/http.h"

typedef enum je_route_kind {
    JE_ROUTE_PUBLIC,    /* no token: health, discovery, keys */
    JE_ROUTE_AUTHORITY, /* client-authenticated OAuth endpoints: RFC 6749 error form */
    JE_ROUTE_API,       /* /jobengine/...: bearer token, tenant, scope */
    JE_ROUTE_CONSOLE,   /* the console's files, no token; not routed when the console is off */
} je_route_kind;

typedef void (*je_route_fn)(je_req *r, je_app *app);

typedef struct je_route {
    const char *method;
    const char *pattern; /* "/jobengine/quotas/{quotaId}": {x} matches one path segment; a
                            final {*x} matches the rest of the path (slashes too, or nothing) */
    je_route_kind kind;
    unsigned scopes; /* API routes: any one of these admits the caller */
    je_route_fn fn;
} je_route;

extern const je_route je_routes[];

/* Handlers. */
void je_api_token(je_req *r, je_app *app);
void je_api_introspect(je_req *r, je_app *app);
void je_api_revoke(je_req *r, je_app *app);
void je_api_discovery(je_req *r, je_app *app);
void je_api_jwks(je_req *r, je_app *app);
void je_api_healthz(je_req *r, je_app *app);
void je_api_readyz(je_req *r, je_app *app);
void je_api_metrics(je_req *r, je_app *app);
void je_api_openapi(je_req *r, je_app *app);
void je_api_console(je_req *r, je_app *app);
void je_api_console_redirect(je_req *r, je_app *app);
void je_api_audit_list(je_req *r, je_app *app);
void je_api_audit_verify(je_req *r, je_app *app);
void je_api_audit_export(je_req *r, je_app *app);
void je_api_quota_list(je_req *r, je_app *app);
void je_api_quota_summary(je_req *r, je_app *app);
void je_api_quota_ceilings(je_req *r, je_app *app);
void je_api_quota_get(je_req *r, je_app *app);
void je_api_quota_create(je_req *r, je_app *app);
void je_api_quota_update(je_req *r, je_app *app);
void je_api_quota_delete(je_req *r, je_app *app);
void je_api_quota_pause(je_req *r, je_app *app);
void je_api_quota_resume(je_req *r, je_app *app);
void je_api_quota_acquire(je_req *r, je_app *app);
void je_api_quota_release(je_req *r, je_app *app);

void je_api_job_submit(je_req *r, je_app *app);
void je_api_job_lease(je_req *r, je_app *app);
void je_api_job_heartbeat(je_req *r, je_app *app);
void je_api_job_complete(je_req *r, je_app *app);
void je_api_job_get(je_req *r, je_app *app);
void je_api_job_list(je_req *r, je_app *app);
void je_api_job_summary(je_req *r, je_app *app);
void je_api_backfill_preview(je_req *r, je_app *app);
void je_api_backfill_create(je_req *r, je_app *app);
void je_api_backfill_get(je_req *r, je_app *app);
void je_api_backfill_list(je_req *r, je_app *app);
void je_api_backfill_start(je_req *r, je_app *app);
void je_api_backfill_pause(je_req *r, je_app *app);
void je_api_backfill_resume(je_req *r, je_app *app);
void je_api_backfill_cancel(je_req *r, je_app *app);
void je_api_dedup_claim(je_req *r, je_app *app);
/* Capacity pools (issue 15; api/pools.c). */
void je_api_pool_list(je_req *r, je_app *app);
void je_api_pool_get(je_req *r, je_app *app);
void je_api_pool_put(je_req *r, je_app *app);
void je_api_pool_delete(je_req *r, je_app *app);
/* Circuit breakers (issue 15; api/breakers.c). */
void je_api_breaker_list(je_req *r, je_app *app);
void je_api_breaker_get(je_req *r, je_app *app);
void je_api_breaker_put(je_req *r, je_app *app);
void je_api_breaker_delete(je_req *r, je_app *app);
void je_api_breaker_force(je_req *r, je_app *app);

/* Decision answers shared by acquire and lease. */
/* X-RateLimit-* of a decision, and Retry-After for a denial when retry_after. */
void je_api_decision_headers(je_req *r, const je_quota_limits *l, const je_decision *d,
                             int64_t now_ms, int retry_after);
void je_api_reply_denied(je_req *r, const je_decision *d);
/* 429 POOL_EXHAUSTED: the quota granted, the job type's capacity pool did not. */
void je_api_reply_pool_denied(je_req *r, const char *job_type, je_pool_cap cap, int64_t next_ms);
/* 503 BREAKER_OPEN: the job type's circuit breaker admits nothing now. */
void je_api_reply_breaker_open(je_req *r, const char *job_type, const char *state,
                               int64_t retry_ms);

/* The gate: authentication, tenant, scope, in the order of api.md §1. Returns 0 and sets
 * r->principal when admitted; otherwise it has replied. */
int je_gate_admit(je_req *r, je_app *app, const je_route *route);

#endif
