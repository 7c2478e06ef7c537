/* api/metrics.c: JobEngine's metrics (see docs/operations.md for what each means) and the
 * /metrics route. Label values are bounded by what exists: routes come from the route table,
 * tenants and job types from authenticated callers and stored quotas. */
#include "api/metrics.h"

#include <string.h>

#include "api/routes.h"
#include "http/metrics.h"

static const char *const families[][3] = {
    {"jobengine_http_requests_total", "counter", "HTTP requests by route, method and status."},
    {"jobengine_http_request_duration_seconds", "histogram", "HTTP request latency by route."},
    {"jobengine_quota_decisions_total", "counter",
     "Quota decisions by tenant, job type, path (acquire, lease) and outcome."},
    {"jobengine_token_requests_total", "counter", "POST /token by outcome."},
    {"jobengine_jobs_completed_total", "counter", "Job completions by tenant, job type, status."},
    {"jobengine_dedup_events_total", "counter", "Claimed events by tenant and answer."},
    {"jobengine_engine_events_total", "counter",
     "Background work done: lease and permit expirations, batches submitted, elevations "
     "reverted, checkpoints signed."},
    {"jobengine_store_commits_total", "counter", "Write batches (one fsync each) by outcome."},
    {"jobengine_store_writes_total", "counter", "Writes carried by those batches."},
    {"jobengine_store_commit_duration_seconds", "histogram",
     "Time of one write batch, begin to durable commit."},
    {"jobengine_audit_entries_appended_total", "counter", "Audit entries by event type."},
    {"jobengine_pool_refusals_total", "counter",
     "Units a tenant's quota granted but the job type's capacity pool refused, by job type, "
     "path (acquire, lease) and the cap that refused."},
    {"jobengine_breaker_holds_total", "counter",
     "Acquires and lease calls a job type's circuit breaker held back, by job type and path."},
};

static void observe_request(const je_req *r, double seconds) {
    je_metric_request(r->route, r->method, r->status, seconds);
}

void je_api_metrics_init(void) {
    for (size_t i = 0; i < sizeof families / sizeof families[0]; i++)
        je_metrics_describe(families[i][0], families[i][1], families[i][2]);
    je_http_set_observer(observe_request);
}

/* A method is the client's word: any but the ones served is "other", so a client cannot mint
 * series. */
static const char *method_label(const char *m) {
    static const char *const known[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (m && strcmp(m, known[i]) == 0) return known[i];
    return "other";
}

void je_metric_request(const char *route, const char *method, int status, double seconds) {
    je_buf l = JE_BUF_INIT;
    je_metrics_label(&l, "route", route && *route ? route : "unmatched");
    je_buf h = JE_BUF_INIT;
    je_buf_puts(&h, l.data);
    je_metrics_label(&l, "method", method_label(method));
    je_buf_printf(&l, ",status=\"%d\"", status);
    je_metrics_add("jobengine_http_requests_total", l.data, 1);
    je_metrics_observe("jobengine_http_request_duration_seconds", h.data, seconds);
    je_buf_free(&l);
    je_buf_free(&h);
}

void je_metric_decision(const char *tenant, const char *job_type, const char *via,
                        const char *outcome, int64_t n) {
    if (n <= 0) return;
    je_buf l = JE_BUF_INIT;
    je_metrics_label(&l, "tenant", tenant);
    je_metrics_label(&l, "job_type", job_type);
    je_metrics_label(&l, "via", via);
    je_metrics_label(&l, "outcome", outcome);
    je_metrics_add("jobengine_quota_decisions_total", l.data, n);
    je_buf_free(&l);
}

void je_metric_token(const char *outcome) {
    je_buf l = JE_BUF_INIT;
    je_metrics_label(&l, "outcome", outcome);
    je_metrics_add("jobengine_token_requests_total", l.data, 1);
    je_buf_free(&l);
}

void je_metric_job_completed(const char *tenant, const char *job_type, const char *status) {
    je_buf l = JE_BUF_INIT;
    je_metrics_label(&l, "tenant", tenant);
    je_metrics_label(&l, "job_type", job_type);
    je_metrics_label(&l, "status", status);
    je_metrics_add("jobengine_jobs_completed_total", l.data, 1);
    je_buf_free(&l);
}

void je_metric_dedup(const char *tenant, int64_t fresh, int64_t dups) {
    static const char *const answers[2] = {"new", "duplicate"};
    const int64_t n[2] = {fresh, dups};
    for (int i = 0; i < 2; i++) {
        je_buf l = JE_BUF_INIT;
        je_metrics_label(&l, "tenant", tenant);
        je_metrics_label(&l, "answer", answers[i]);
        je_metrics_add("jobengine_dedup_events_total", l.data, n[i]);
        je_buf_free(&l);
    }
}

void je_metric_engine(const char *what, int64_t n) {
    if (n <= 0) return;
    je_buf l = JE_BUF_INIT;
    je_metrics_label(&l, "work", what);
    je_metrics_add("jobengine_engine_events_total", l.data, n);
    je_buf_free(&l);
}

void je_metric_batch_committed(double seconds, int64_t writes, int ok) {
    je_metrics_add("jobengine_store_commits_total", ok ? "outcome=\"ok\"" : "outcome=\"failed\"",
                   1);
    je_metrics_add("jobengine_store_writes_total", "", writes);
    je_metrics_observe("jobengine_store_commit_duration_seconds", "", seconds);
}

void je_metric_audit_appended(const char *event_type) {
    je_buf l = JE_BUF_INIT;
    je_metrics_label(&l, "event_type", event_type);
    je_metrics_add("jobengine_audit_entries_appended_total", l.data, 1);
    je_buf_free(&l);
}

/* On the API listener: metrics name tenants and job types, so they are not served to whoever can
 * reach the API, only on the operator's own listener. */
void je_api_metrics(je_req *r, je_app *app) {
    je_reply_error(r, 404, "NOT_FOUND",
                   "metrics are not served on the API listener: start serve with --metrics-listen "
                   "HOST:PORT and scrape GET /metrics there (docs/operations.md \"Metrics\")",
                   NULL);
}

void je_api_metrics_serve(je_req *r, void *cls) {
    r->route = "/metrics";
    if (strcmp(r->path, "/metrics") != 0) {
        r->route = "unmatched";
        return je_reply_error(r, 404, "NOT_FOUND", "this listener serves GET /metrics only", NULL);
    }
    if (strcmp(r->method, "GET") != 0 && strcmp(r->method, "HEAD") != 0) {
        je_reply_header(r, "Allow", "GET, HEAD");
        return je_reply_error(r, 405, "METHOD_NOT_ALLOWED", "GET /metrics only", NULL);
    }
    je_buf out = JE_BUF_INIT;
    je_metrics_render(&out);
    je_reply_raw(r, 200, "text/plain; version=0.0.4; charset=utf-8", out.data, out.len);
    je_buf_free(&out);
}

void je_metric_pool_refused(const char *job_type, const char *via, const char *cap) {
    je_buf l = JE_BUF_INIT;
    je_metrics_label(&l, "job_type", job_type);
    je_metrics_label(&l, "via", via);
    je_metrics_label(&l, "cap", cap);
    je_metrics_add("jobengine_pool_refusals_total", l.data, 1);
    je_buf_free(&l);
}

void je_metric_breaker_held(const char *job_type, const char *via) {
    je_buf l = JE_BUF_INIT;
    je_metrics_label(&l, "job_type", job_type);
    je_metrics_label(&l, "via", via);
    je_metrics_add("jobengine_breaker_holds_total", l.data, 1);
    je_buf_free(&l);
}
