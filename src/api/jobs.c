/* api/jobs.c: the job routes of api.md §3.4 — submit, reads, lease under quota, heartbeat,
 * complete. Leasing hands the whole decision to the store's jobs_lease (decisions and leases in
 * one durable transaction); this file validates, shapes answers and sets decision headers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/body.h"
#include "api/change.h"
#include "api/job_view.h"
#include "api/metrics.h"
#include "api/quota_view.h"
#include "api/routes.h"
#include "base/random.h"
#include "core/ids.h"
#include "core/jcs.h"
#include "core/text.h"
#include "core/timefmt.h"
#include "http/params.h"

#define LEASE_DEFAULT_S 60
#define LEASE_MAX_S 3600

static json_t *opt_time(int64_t ms) {
    char t[JE_TIME_BUF];
    return ms == JE_NO_TIME ? json_null() : json_string(je_time_format(ms, t));
}

static void reply_text(je_req *r, int status, je_buf *b) {
    je_reply_raw(r, status, "application/json", b->data, b->len);
    je_buf_free(b);
}

static void reply_job(je_req *r, int status, const je_job *j) {
    if (status == 201)
        je_reply_header(r, "Location", je_arena_printf(r->arena, "/jobengine/jobs/%s", j->job_id));
    je_buf b = JE_BUF_INIT;
    je_job_text(&b, j);
    reply_text(r, status, &b);
}

/* ---- submit ------------------------------------------------------------------------------- */

/* An optional string member that must be printable UTF-8 of 1..max code points. */
static int text_field(const json_t *body, const char *name, size_t max, char *out, size_t cap,
                      je_err *err) {
    const char *s;
    size_t n = 0, off, len;
    int rc = je_body_string(body, name, &s, &n, err);
    if (rc <= 0) return rc;
    if (je_text_check(s, n, max, &off, &len) != JE_TEXT_OK || off != 0 || len != n || n >= cap)
        return je_err_field(err, "VALIDATION_FAILED", name,
                            "%s must be 1-%zu printable characters without surrounding spaces",
                            name, max);
    memcpy(out, s, n + 1);
    return 1;
}

static int parse_submit(je_req *r, const json_t *body, je_job *j, je_err *err) {
    const char *jt;
    size_t n = 0;
    int rc = je_body_string(body, "jobType", &jt, &n, err);
    if (rc < 0) return -1;
    if (rc == 0 || !je_id_job_type_valid(jt, n) || strcmp(jt, "*") == 0)
        return je_err_field(err, "VALIDATION_FAILED", "jobType",
                            "jobType is required: 1-128 of [A-Za-z0-9._:-]");
    snprintf(j->job_type, sizeof j->job_type, "%s", jt);
    if (!json_object_get(body, "payload"))
        return je_err_field(err, "VALIDATION_FAILED", "payload", "payload is required");
    if (je_body_int(body, "priority", -1000, 1000, &j->priority, err) < 0) return -1;
    if (text_field(body, "sourceId", JE_SOURCE_MAX, j->source_id, sizeof j->source_id, err) < 0 ||
        text_field(body, "eventKey", JE_EVENT_KEY_MAX, j->event_key, sizeof j->event_key, err) < 0)
        return -1;
    if (j->source_id[0] && !je_id_job_type_valid(j->source_id, strlen(j->source_id)))
        return je_err_field(err, "VALIDATION_FAILED", "sourceId", "sourceId: [A-Za-z0-9._:-]");
    const char *et;
    rc = je_body_string(body, "eventTime", &et, NULL, err);
    if (rc < 0) return -1;
    if (rc == 1 && je_time_parse(et, &j->event_time_ms) != 0)
        return je_err_field(err, "VALIDATION_FAILED", "eventTime", "eventTime: RFC 3339");
    return 0;
}

static char *render_job(void *ctx, int *status) {
    je_buf b = JE_BUF_INIT;
    je_job_text(&b, ctx);
    *status = 201;
    return b.data;
}

void je_api_job_submit(je_req *r, je_app *app) {
    static const char *const fields[] = {"jobType",  "payload",   "priority", "sourceId",
                                         "eventKey", "eventTime", NULL};
    je_err err;
    je_err_clear(&err);
    je_job *j = je_arena_alloc(r->arena, sizeof *j);
    j->event_time_ms = j->window_start_ms = j->window_end_ms = j->batch = JE_NO_TIME;
    json_t *body = je_api_keep(r, je_body_object(r, fields, &err));
    je_idem idem;
    memset(&idem, 0, sizeof idem);
    if (!body || parse_submit(r, body, j, &err) != 0 || je_change_idem(r, body, &idem, &err)) {
        return je_api_reply_err(r, &err, NULL);
    }
    int64_t now = je_now_ms();
    je_uuid7(now, j->job_id);
    snprintf(j->tenant_id, sizeof j->tenant_id, "%s", r->principal->tenant);
    j->payload = je_jcs_dumps(json_object_get(body, "payload"), NULL);
    j->status = JE_JOB_PENDING;
    j->max_attempts = app->cfg.max_attempts;
    j->available_ms = j->created_ms = j->updated_ms = now;
    j->completed_ms = j->lease_until_ms = j->lease_ms = JE_NO_TIME;
    idem.render = render_job;
    idem.render_ctx = j;
    int rc = j->payload ? app->store->ops->job_submit(app->store, j, &idem, &err)
                        : je_err_field(&err, "VALIDATION_FAILED", "payload", "payload is invalid");
    if (rc != 0) return je_job_free(j), je_api_reply_err(r, &err, NULL);
    if (idem.mismatch)
        je_reply_error(r, 409, "IDEMPOTENCY_KEY_REUSED",
                       "this Idempotency-Key was used with another body", NULL);
    else if (idem.replayed)
        je_reply_raw(r, idem.status, "application/json", idem.body, strlen(idem.body));
    else
        reply_job(r, 201, j);
    free(idem.body);
    je_job_free(j);
}

/* ---- lease -------------------------------------------------------------------------------- */

static int parse_job_types(const json_t *body, const char **types, size_t *n, je_err *err) {
    const json_t *arr = json_object_get(body, "jobTypes");
    if (!json_is_array(arr) || json_array_size(arr) == 0 || json_array_size(arr) > 32)
        return je_err_field(err, "VALIDATION_FAILED", "jobTypes",
                            "jobTypes must be an array of 1 to 32 job types");
    *n = 0;
    for (size_t i = 0; i < json_array_size(arr); i++) {
        const json_t *v = json_array_get(arr, i);
        const char *s = json_string_value(v);
        if (!s || !je_id_job_type_valid(s, json_string_length(v)) || strcmp(s, "*") == 0)
            return je_err_field(err, "VALIDATION_FAILED", "jobTypes", "jobTypes[%zu] is invalid",
                                i);
        size_t k = 0;
        while (k < *n && strcmp(types[k], s) != 0) k++;
        if (k == *n) types[(*n)++] = s;
    }
    return 0;
}

static int parse_lease(const json_t *body, je_lease_req *q, const char **types, char *worker,
                       je_err *err) {
    size_t n = 0;
    if (parse_job_types(body, types, &n, err) != 0) return -1;
    q->job_types = types;
    q->n_job_types = n;
    int rc = text_field(body, "workerId", JE_WORKER_MAX, worker, JE_WORKER_MAX + 1, err);
    if (rc < 0) return -1;
    if (rc == 0) return je_err_field(err, "VALIDATION_FAILED", "workerId", "workerId is required");
    q->worker_id = worker;
    int64_t max = 1, secs = LEASE_DEFAULT_S;
    if (je_body_int(body, "max", 1, 100, &max, err) < 0 ||
        je_body_int(body, "leaseSeconds", 1, LEASE_MAX_S, &secs, err) < 0)
        return -1;
    q->max = (int)max;
    q->lease_ms = secs * 1000;
    return 0;
}

static void reply_lease(je_req *r, je_lease_out *out, int64_t now) {
    if (out->pool_held)
        je_metric_pool_refused(out->pool_job_type, "lease", je_pool_cap_name(out->pool_cap));
    if (out->breaker_held) je_metric_breaker_held(out->breaker_job_type, "lease");
    /* Retry-After only when nothing at all was leased: a worker that got jobs should not wait */
    if (out->held) je_api_decision_headers(r, &out->limits, &out->decision, now, out->n == 0);
    if (out->n) {
        je_buf b = JE_BUF_INIT;
        je_buf_puts(&b, "{\"jobs\":[");
        for (size_t i = 0; i < out->n; i++) {
            if (i) je_buf_putc(&b, ',');
            je_job_leased_text(&b, &out->jobs[i]);
            je_metric_decision(r->principal->tenant, out->jobs[i].job_type, "lease", "granted", 1);
        }
        je_buf_puts(&b, "]}");
        return reply_text(r, 200, &b);
    }
    json_t *body = json_pack("{s:[]}", "jobs");
    if (out->held) {
        int timed = !out->only_paused && out->decision.kind == JE_DECISION_EXHAUSTED;
        json_object_set_new(body, "nextEligibleAt",
                            timed ? opt_time(out->decision.next_eligible_ms) : json_null());
    }
    if (out->breaker_held) { /* a circuit breaker held work back (issue 15) */
        json_object_set_new(body, "breaker",
                            json_pack("{s:s, s:o}", "jobType", out->breaker_job_type, "retryAt",
                                      opt_time(out->breaker_retry_ms)));
        if (!out->held && !out->pool_held) {
            json_object_set_new(body, "nextEligibleAt", opt_time(out->breaker_retry_ms));
            int64_t wait = out->breaker_retry_ms == JE_NO_TIME
                               ? 1
                               : (out->breaker_retry_ms - now + 999) / 1000;
            je_reply_header(r, "Retry-After",
                            je_arena_printf(r->arena, "%lld", (long long)(wait < 1 ? 1 : wait)));
        }
    }
    if (out->pool_held) { /* a capacity pool held work back (issue 15) */
        json_object_set_new(body, "pool",
                            json_pack("{s:s, s:s, s:o}", "jobType", out->pool_job_type, "cap",
                                      je_pool_cap_name(out->pool_cap), "nextEligibleAt",
                                      opt_time(out->pool_next_ms)));
        if (!out->held) {
            json_object_set_new(body, "nextEligibleAt", opt_time(out->pool_next_ms));
            int64_t wait =
                out->pool_next_ms == JE_NO_TIME ? 1 : (out->pool_next_ms - now + 999) / 1000;
            je_reply_header(r, "Retry-After",
                            je_arena_printf(r->arena, "%lld", (long long)(wait < 1 ? 1 : wait)));
        }
    }
    je_reply_json(r, 200, body);
}

void je_api_job_lease(je_req *r, je_app *app) {
    static const char *const fields[] = {"jobTypes", "workerId", "max", "leaseSeconds", NULL};
    je_err err;
    je_err_clear(&err);
    json_t *body = je_api_keep(r, je_body_object(r, fields, &err));
    const char *types[32];
    char worker[JE_WORKER_MAX + 1] = "";
    je_lease_req q = {.backfill_share = app->cfg.backfill_share,
                      .unlimited_when_no_quota = app->cfg.unquoted_allowed};
    if (!body || parse_lease(body, &q, types, worker, &err) != 0) {
        return je_api_reply_err(r, &err, NULL);
    }
    q.now_ms = je_now_ms();
    je_lease_out out;
    int rc = app->store->ops->jobs_lease(app->store, r->principal->tenant, &q, &out, &err);
    if (rc != 0) return je_api_reply_err(r, &err, NULL);
    if (out.held && out.n == 0 && out.only_paused) out.decision.kind = JE_DECISION_PAUSED;
    reply_lease(r, &out, q.now_ms);
    for (size_t i = 0; i < out.n; i++) je_job_free(&out.jobs[i]);
    free(out.jobs);
}

/* ---- heartbeat and complete --------------------------------------------------------------- */

static void reply_lease_change(je_req *r, int rc, je_job *j, const je_err *err) {
    if (rc == JE_STORE_OK && (j->status != JE_JOB_LEASED))
        je_metric_job_completed(r->principal->tenant, j->job_type, je_job_status_name(j->status));
    if (rc == JE_STORE_LEASE_LOST)
        je_reply_error(r, 409, "LEASE_LOST", "this lease is no longer held (expired or replaced)",
                       NULL);
    else if (rc < 0)
        je_api_reply_err(r, err, NULL);
    else if (rc == JE_STORE_NOT_FOUND)
        je_reply_error(r, 404, "NOT_FOUND", "no such job", NULL);
    else
        reply_job(r, 200, j);
    je_job_free(j);
}

static int lease_id_field(const json_t *body, char *out, je_err *err) {
    int rc = text_field(body, "leaseId", 36, out, 37, err);
    if (rc == 0) je_err_field(err, "VALIDATION_FAILED", "leaseId", "leaseId is required");
    return rc == 1 ? 0 : -1;
}

/* 404 before the body is read (api.md §1); *lease_ms gets the lease's length. 1 when found. */
static int job_found(je_req *r, je_app *app, int64_t *lease_ms) {
    je_job j;
    memset(&j, 0, sizeof j);
    je_err err;
    int found = app->store->ops->job_get(app->store, r->principal->tenant, r->params[0], &j, &err);
    if (lease_ms) *lease_ms = j.lease_ms;
    je_job_free(&j);
    if (found < 0) je_api_reply_err(r, &err, NULL);
    if (found == JE_STORE_NOT_FOUND) je_reply_error(r, 404, "NOT_FOUND", "no such job", NULL);
    return found == JE_STORE_OK;
}

void je_api_job_heartbeat(je_req *r, je_app *app) {
    static const char *const fields[] = {"leaseId", "extendSeconds", NULL};
    int64_t lease_ms = 0;
    if (!job_found(r, app, &lease_ms)) return;
    je_err err;
    je_err_clear(&err);
    json_t *body = je_api_keep(r, je_body_object(r, fields, &err));
    char lease[37];
    int64_t secs = 0;
    int has = 0;
    if (!body || lease_id_field(body, lease, &err) != 0 ||
        (has = je_body_int(body, "extendSeconds", 1, LEASE_MAX_S, &secs, &err)) < 0) {
        return je_api_reply_err(r, &err, NULL);
    }
    if (!has) secs = lease_ms > 0 ? lease_ms / 1000 : LEASE_DEFAULT_S; /* the lease's own length */
    je_job j;
    memset(&j, 0, sizeof j);
    int rc = app->store->ops->job_heartbeat(app->store, r->principal->tenant, r->params[0], lease,
                                            secs * 1000, je_now_ms(), &j, &err);
    reply_lease_change(r, rc, &j, &err);
}

void je_api_job_complete(je_req *r, je_app *app) {
    static const char *const fields[] = {"leaseId", "status", "error", NULL};
    je_err err;
    je_err_clear(&err);
    json_t *body = je_api_keep(r, je_body_object(r, fields, &err));
    char lease[37];
    const char *status = NULL, *error = NULL;
    size_t elen = 0;
    int bad = !body || lease_id_field(body, lease, &err) != 0 ||
              je_body_string(body, "status", &status, NULL, &err) < 0 ||
              je_body_string(body, "error", &error, &elen, &err) < 0;
    int ok = status && (strcmp(status, "succeeded") == 0 || strcmp(status, "failed") == 0);
    if (!bad && (!ok || (error && (elen > JE_JOB_ERROR_MAX || memchr(error, 0, elen))))) {
        je_err_field(&err, "VALIDATION_FAILED", ok ? "error" : "status",
                     ok ? "error must be at most 2048 bytes" : "status: succeeded or failed");
        bad = 1;
    }
    if (bad) {
        /* 404 before 400 (api.md §1): the store answers 404 itself on the good path, so the
         * job is looked up here only for a bad request */
        if (job_found(r, app, NULL)) je_api_reply_err(r, &err, NULL);
        return;
    }
    je_job j;
    memset(&j, 0, sizeof j);
    int rc = app->store->ops->job_complete(app->store, r->principal->tenant, r->params[0], lease,
                                           strcmp(status, "succeeded") == 0, error, je_now_ms(), &j,
                                           &err);
    reply_lease_change(r, rc, &j, &err);
}

/* ---- reads -------------------------------------------------------------------------------- */

void je_api_job_get(je_req *r, je_app *app) {
    je_job j;
    memset(&j, 0, sizeof j);
    je_err err;
    int found = app->store->ops->job_get(app->store, r->principal->tenant, r->params[0], &j, &err);
    if (found < 0) return je_api_reply_err(r, &err, NULL);
    if (found == JE_STORE_NOT_FOUND)
        return je_reply_error(r, 404, "NOT_FOUND", "no such job", NULL);
    reply_job(r, 200, &j);
    je_job_free(&j);
}

/* A page of jobs holds at most `limit` of them and, past its first, at most this many bytes of
 * payload: a page of a hundred 1 MiB payloads would otherwise be built in memory whole. */
#define LIST_PAGE_BYTES (4 * 1024 * 1024)

typedef struct jlist {
    je_buf text; /* the reply, up to the items read so far */
    int n, limit, more;
    size_t payload_bytes;
    int64_t last_created;
    char last_id[37];
} jlist;

static int jlist_visit(void *ctx, const je_job *j) {
    jlist *l = ctx;
    size_t bytes = j->payload ? strlen(j->payload) : 4;
    if (l->n == l->limit || (l->n && l->payload_bytes + bytes > LIST_PAGE_BYTES)) {
        l->more = 1;
        return 1;
    }
    if (l->n++) je_buf_putc(&l->text, ',');
    je_job_text(&l->text, j);
    l->payload_bytes += bytes;
    l->last_created = j->created_ms;
    snprintf(l->last_id, sizeof l->last_id, "%s", j->job_id);
    return 0;
}

/* Continuation: "<createdMs>/<jobId>" of the last item. */
static int job_list_filter(je_req *r, je_job_filter *f, char *after, size_t cap) {
    *f = (je_job_filter){.status = -1, .after_created_ms = INT64_MIN, .after_job_id = ""};
    const char *st = je_req_query_nonempty(r, "status"), *jt = je_req_query_nonempty(r, "jobType");
    if (st && (f->status = je_job_status_parse(st)) < 0) {
        je_reply_field_error(r, 400, "VALIDATION_FAILED", "status",
                             "status: pending, leased, succeeded, failed or canceled");
        return -1;
    }
    if (jt && !je_id_job_type_valid(jt, strlen(jt))) {
        je_reply_field_error(r, 400, "VALIDATION_FAILED", "jobType", "jobType is malformed");
        return -1;
    }
    f->job_type = jt;
    int limit;
    if (je_params_limit(r, &limit) != 0 || je_params_continuation_str(r, after, cap) != 0)
        return -1;
    f->limit = limit + 1;
    f->max_payload_bytes = LIST_PAGE_BYTES;
    char *slash = strchr(after, '/');
    if (after[0] && !slash) {
        je_reply_field_error(r, 400, "VALIDATION_FAILED", "continuationToken",
                             "continuationToken is not one this server issued");
        return -1;
    }
    if (slash) {
        *slash = '\0';
        f->after_created_ms = strtoll(after, NULL, 10);
        f->after_job_id = slash + 1;
    }
    return 0;
}

void je_api_job_list(je_req *r, je_app *app) {
    je_job_filter f;
    char after[256];
    if (job_list_filter(r, &f, after, sizeof after) != 0) return;
    jlist l = {.text = JE_BUF_INIT, .limit = f.limit - 1};
    je_buf_puts(&l.text, "{\"items\":[");
    je_err err;
    if (app->store->ops->job_list(app->store, r->principal->tenant, &f, jlist_visit, &l, &err)) {
        je_buf_free(&l.text);
        return je_api_reply_err(r, &err, NULL);
    }
    je_buf_puts(&l.text, "],\"continuationToken\":");
    if (l.more) {
        const char *pos =
            je_arena_printf(r->arena, "%lld/%s", (long long)l.last_created, l.last_id);
        const char *token = je_params_continuation_make_str(r, pos);
        je_jcs_string(token, strlen(token), &l.text);
    } else {
        je_buf_puts(&l.text, "null");
    }
    je_buf_putc(&l.text, '}');
    reply_text(r, 200, &l.text);
}

static int summary_visit(void *ctx, const char *job_type, int status, int64_t count) {
    json_t *by_type = ctx;
    json_t *o = json_object_get(by_type, job_type);
    if (!o) {
        o = json_pack("{s:s, s:i, s:i, s:i, s:i, s:i, s:i}", "jobType", job_type, "pending", 0,
                      "leased", 0, "succeeded", 0, "failed", 0, "canceled", 0, "total", 0);
        json_object_set_new(by_type, job_type, o);
    }
    const char *name = je_job_status_name(status);
    if (name) json_object_set_new(o, name, json_integer(count));
    json_object_set_new(o, "total",
                        json_integer(json_integer_value(json_object_get(o, "total")) + count));
    return 0;
}

void je_api_job_summary(je_req *r, je_app *app) {
    json_t *by_type = json_object();
    je_err err;
    if (app->store->ops->job_counts(app->store, r->principal->tenant, summary_visit, by_type,
                                    &err) != 0) {
        json_decref(by_type);
        return je_api_reply_err(r, &err, NULL);
    }
    json_t *items = json_array();
    const char *k;
    json_t *v;
    json_object_foreach(by_type, k, v) json_array_append(items, v);
    json_decref(by_type);
    je_reply_json(r, 200, json_pack("{s:o}", "items", items));
}
