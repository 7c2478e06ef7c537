/* api/routes.c: the one route table, and routing (404 / 405 before anything else). */
#include "api/routes.h"

#include <string.h>

#include "core/scope.h"
#include "core/text.h"

#define AUDIT_SCOPES                                                                               \
    (JE_SCOPE_READ | JE_SCOPE_QUOTA | JE_SCOPE_BACKFILL | JE_SCOPE_OPERATE | JE_SCOPE_GOVERNANCE)
#define QUOTA_READ (JE_SCOPE_READ | JE_SCOPE_QUOTA)
#define QUOTA_ID "/jobengine/quotas/{quotaId}"
#define JOBS_READ (JE_SCOPE_READ | JE_SCOPE_JOBS)
#define BACKFILL_READ (JE_SCOPE_READ | JE_SCOPE_BACKFILL)
#define BACKFILL_ID "/jobengine/backfills/{backfillId}"
/* a pool's reads: any tenant's read token (each sees its own use) or the platform's */
#define POOL_READ (JE_SCOPE_READ | JE_SCOPE_GOVERNANCE)

const je_route je_routes[] = {
    {"GET", "/healthz", JE_ROUTE_PUBLIC, 0, je_api_healthz},
    {"GET", "/readyz", JE_ROUTE_PUBLIC, 0, je_api_readyz},
    {"GET", "/metrics", JE_ROUTE_PUBLIC, 0, je_api_metrics},
    {"GET", "/.well-known/openid-configuration", JE_ROUTE_PUBLIC, 0, je_api_discovery},
    {"GET", "/.well-known/openapi", JE_ROUTE_PUBLIC, 0, je_api_openapi},
    {"GET", "/jwks", JE_ROUTE_PUBLIC, 0, je_api_jwks},
    {"GET", "/console", JE_ROUTE_CONSOLE, 0, je_api_console_redirect},
    {"GET", "/console/{*file}", JE_ROUTE_CONSOLE, 0, je_api_console},
    {"POST", "/token", JE_ROUTE_AUTHORITY, 0, je_api_token},
    {"POST", "/introspect", JE_ROUTE_AUTHORITY, 0, je_api_introspect},
    {"POST", "/revoke", JE_ROUTE_AUTHORITY, 0, je_api_revoke},
    {"GET", "/jobengine/audit", JE_ROUTE_API, AUDIT_SCOPES, je_api_audit_list},
    {"GET", "/jobengine/audit/verify", JE_ROUTE_API, AUDIT_SCOPES, je_api_audit_verify},
    {"GET", "/jobengine/audit/export", JE_ROUTE_API, AUDIT_SCOPES, je_api_audit_export},
    {"GET", "/jobengine/quotas", JE_ROUTE_API, QUOTA_READ, je_api_quota_list},
    {"POST", "/jobengine/quotas", JE_ROUTE_API, JE_SCOPE_QUOTA, je_api_quota_create},
    {"GET", "/jobengine/quotas/summary", JE_ROUTE_API, QUOTA_READ, je_api_quota_summary},
    {"GET", "/jobengine/quotas/ceilings", JE_ROUTE_API, QUOTA_READ, je_api_quota_ceilings},
    {"GET", QUOTA_ID, JE_ROUTE_API, QUOTA_READ, je_api_quota_get},
    {"PUT", QUOTA_ID, JE_ROUTE_API, JE_SCOPE_QUOTA, je_api_quota_update},
    {"DELETE", QUOTA_ID, JE_ROUTE_API, JE_SCOPE_QUOTA, je_api_quota_delete},
    {"POST", QUOTA_ID "/pause", JE_ROUTE_API, JE_SCOPE_QUOTA, je_api_quota_pause},
    {"POST", QUOTA_ID "/resume", JE_ROUTE_API, JE_SCOPE_QUOTA, je_api_quota_resume},
    {"POST", QUOTA_ID "/acquire", JE_ROUTE_API, JE_SCOPE_JOBS, je_api_quota_acquire},
    {"POST", QUOTA_ID "/release", JE_ROUTE_API, JE_SCOPE_JOBS, je_api_quota_release},
    {"POST", "/jobengine/jobs", JE_ROUTE_API, JE_SCOPE_JOBS, je_api_job_submit},
    {"GET", "/jobengine/jobs", JE_ROUTE_API, JOBS_READ, je_api_job_list},
    {"GET", "/jobengine/jobs/summary", JE_ROUTE_API, JOBS_READ, je_api_job_summary},
    {"POST", "/jobengine/jobs/lease", JE_ROUTE_API, JE_SCOPE_JOBS, je_api_job_lease},
    {"GET", "/jobengine/jobs/{jobId}", JE_ROUTE_API, JOBS_READ, je_api_job_get},
    {"POST", "/jobengine/jobs/{jobId}/heartbeat", JE_ROUTE_API, JE_SCOPE_JOBS,
     je_api_job_heartbeat},
    {"POST", "/jobengine/jobs/{jobId}/complete", JE_ROUTE_API, JE_SCOPE_JOBS, je_api_job_complete},
    {"POST", "/jobengine/backfills/preview", JE_ROUTE_API, JE_SCOPE_BACKFILL,
     je_api_backfill_preview},
    {"POST", "/jobengine/backfills", JE_ROUTE_API, JE_SCOPE_BACKFILL, je_api_backfill_create},
    {"GET", "/jobengine/backfills", JE_ROUTE_API, BACKFILL_READ, je_api_backfill_list},
    {"GET", BACKFILL_ID, JE_ROUTE_API, BACKFILL_READ, je_api_backfill_get},
    {"POST", BACKFILL_ID "/start", JE_ROUTE_API, JE_SCOPE_BACKFILL, je_api_backfill_start},
    {"POST", BACKFILL_ID "/pause", JE_ROUTE_API, JE_SCOPE_BACKFILL, je_api_backfill_pause},
    {"POST", BACKFILL_ID "/resume", JE_ROUTE_API, JE_SCOPE_BACKFILL, je_api_backfill_resume},
    {"POST", BACKFILL_ID "/cancel", JE_ROUTE_API, JE_SCOPE_BACKFILL, je_api_backfill_cancel},
    {"POST", "/jobengine/dedup/claim", JE_ROUTE_API, JE_SCOPE_JOBS, je_api_dedup_claim},
    {"GET", "/jobengine/pools", JE_ROUTE_API, POOL_READ, je_api_pool_list},
    {"GET", "/jobengine/pools/{jobType}", JE_ROUTE_API, POOL_READ, je_api_pool_get},
    {"PUT", "/jobengine/pools/{jobType}", JE_ROUTE_API, JE_SCOPE_GOVERNANCE, je_api_pool_put},
    {"DELETE", "/jobengine/pools/{jobType}", JE_ROUTE_API, JE_SCOPE_GOVERNANCE, je_api_pool_delete},
    {"GET", "/jobengine/breakers", JE_ROUTE_API, POOL_READ, je_api_breaker_list},
    {"GET", "/jobengine/breakers/{jobType}", JE_ROUTE_API, POOL_READ, je_api_breaker_get},
    {"PUT", "/jobengine/breakers/{jobType}", JE_ROUTE_API, JE_SCOPE_GOVERNANCE, je_api_breaker_put},
    {"DELETE", "/jobengine/breakers/{jobType}", JE_ROUTE_API, JE_SCOPE_GOVERNANCE,
     je_api_breaker_delete},
    {"POST", "/jobengine/breakers/{jobType}/force", JE_ROUTE_API,
     JE_SCOPE_GOVERNANCE | JE_SCOPE_OPERATE, je_api_breaker_force},
    {NULL, NULL, 0, 0, NULL},
};

/* Matches path against pattern; captures {x} segments and a final {*x} into r->params. */
static int route_match(const char *pattern, const char *path, je_req *r, int capture) {
    size_t n = 0;
    while (*pattern) {
        if (pattern[0] == '{' && pattern[1] == '*') { /* the rest, as it is: the handler judges */
            size_t len = strlen(path);
            if (n >= JE_HTTP_MAX_PARAMS || !je_utf8_valid(path, len)) return 0;
            if (capture) r->params[n] = je_arena_strndup(r->arena, path, len);
            n++;
            path += len;
            break;
        }
        if (*pattern == '{') {
            const char *pend = strchr(pattern, '}');
            const char *send = strchr(path, '/');
            size_t len = send ? (size_t)(send - path) : strlen(path);
            /* a segment that is not UTF-8 names nothing (and PostgreSQL refuses such text) */
            if (len == 0 || n >= JE_HTTP_MAX_PARAMS || !je_utf8_valid(path, len)) return 0;
            if (capture) r->params[n] = je_arena_strndup(r->arena, path, len);
            n++;
            pattern = pend + 1;
            path += len;
            continue;
        }
        if (*pattern != *path) return 0;
        pattern++;
        path++;
    }
    if (*path) return 0;
    if (capture) r->n_params = n;
    return 1;
}

/* A route of the console is not there at all when the console is off (--console off). */
static int route_on(const je_route *rt, const je_req *r) {
    const je_app *app = r->app;
    return rt->kind != JE_ROUTE_CONSOLE || !app->cfg.console_off;
}

static void reply_method_not_allowed(je_req *r) {
    char allow[64] = "";
    for (const je_route *rt = je_routes; rt->method; rt++) {
        if (!route_match(rt->pattern, r->path, r, 0) || !route_on(rt, r)) continue;
        if (allow[0]) strncat(allow, ", ", sizeof allow - strlen(allow) - 1);
        strncat(allow, rt->method, sizeof allow - strlen(allow) - 1);
    }
    je_reply_header(r, "Allow", je_arena_strdup(r->arena, allow));
    je_reply_error(
        r, 405, "METHOD_NOT_ALLOWED",
        je_arena_printf(r->arena, "%s is not allowed here; allowed: %s", r->method, allow), NULL);
}

void je_app_handle(je_req *r, void *cls) {
    je_app *app = cls;
    r->app = app;
    const je_route *found = NULL;
    int path_known = 0;
    for (const je_route *rt = je_routes; rt->method; rt++) {
        if (!route_match(rt->pattern, r->path, r, 0) || !route_on(rt, r)) continue;
        path_known = 1;
        if (strcmp(rt->method, r->method) == 0 ||
            (strcmp(r->method, "HEAD") == 0 && strcmp(rt->method, "GET") == 0)) {
            found = rt;
            break;
        }
    }
    if (!found && path_known) return reply_method_not_allowed(r);
    if (!found) return je_reply_error(r, 404, "NOT_FOUND", "no such route", NULL);
    route_match(found->pattern, r->path, r, 1);
    r->route = found->pattern;
    if (found->kind == JE_ROUTE_API && je_gate_admit(r, app, found) != 0) return;
    found->fn(r, app);
}
