/* api/job_view.c: the JSON forms of a job (api.md §3.4): the resource, and what a worker
 * receives for a leased job. Replies are written as text with the stored payload (canonical
 * JSON text) copied in as it is: parsed into a tree and dumped again, a large payload would
 * cost many times its size. */
#include "api/job_view.h"

#include <stdlib.h>
#include <string.h>

#include "core/jcs.h"
#include "core/quota.h"
#include "core/timefmt.h"

static json_t *opt_time(int64_t ms) {
    char t[JE_TIME_BUF];
    return ms == JE_NO_TIME ? json_null() : json_string(je_time_format(ms, t));
}

static json_t *opt_text(const char *s) {
    return s && *s ? json_string(s) : json_null();
}

/* Backfill batch jobs carry their window (domain.md §5). */
static void add_backfill_fields(json_t *o, const je_job *j) {
    if (!j->backfill_id[0]) return;
    json_object_set_new(o, "backfillId", json_string(j->backfill_id));
    json_object_set_new(o, "batch", json_integer(j->batch));
    json_object_set_new(o, "windowStart", opt_time(j->window_start_ms));
    json_object_set_new(o, "windowEnd", opt_time(j->window_end_ms));
}

/* A job's fields but its payload. */
static json_t *job_fields(const je_job *j) {
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:I}", "jobId", j->job_id, "tenantId", j->tenant_id,
                          "jobType", j->job_type, "status", je_job_status_name(j->status),
                          "priority", (json_int_t)j->priority);
    json_object_set_new(o, "sourceId", opt_text(j->source_id));
    json_object_set_new(o, "eventKey", opt_text(j->event_key));
    json_object_set_new(o, "eventTime", opt_time(j->event_time_ms));
    add_backfill_fields(o, j);
    json_object_set_new(o, "attempt", json_integer(j->attempt));
    json_object_set_new(o, "maxAttempts", json_integer(j->max_attempts));
    json_object_set_new(o, "availableAt", opt_time(j->available_ms));
    json_object_set_new(o, "leaseId", opt_text(j->lease_id));
    json_object_set_new(o, "leaseUntil", opt_time(j->lease_id[0] ? j->lease_until_ms : JE_NO_TIME));
    json_object_set_new(o, "workerId", opt_text(j->worker_id));
    json_object_set_new(o, "error", opt_text(j->error));
    json_object_set_new(o, "createdAt", opt_time(j->created_ms));
    json_object_set_new(o, "updatedAt", opt_time(j->updated_ms));
    json_object_set_new(o, "completedAt", opt_time(j->completed_ms));
    return o;
}

/* The fields a worker receives for a leased job, but its payload. */
static json_t *leased_fields(const je_job *j) {
    json_t *o = json_pack("{s:s, s:s, s:s, s:o, s:I}", "jobId", j->job_id, "jobType", j->job_type,
                          "leaseId", j->lease_id, "leaseUntil", opt_time(j->lease_until_ms),
                          "attempt", (json_int_t)j->attempt);
    json_object_set_new(o, "priority", json_integer(j->priority));
    json_object_set_new(o, "sourceId", opt_text(j->source_id));
    json_object_set_new(o, "eventKey", opt_text(j->event_key));
    json_object_set_new(o, "eventTime", opt_time(j->event_time_ms));
    add_backfill_fields(o, j);
    return o;
}

/* A job as JSON text, its stored payload (canonical JSON text) copied in as it is: parsed into
 * a tree and dumped again, a large payload would cost many times its size. */
static void job_text(je_buf *out, const je_job *j, json_t *(*fields)(const je_job *)) {
    json_t *o = fields(j);
    size_t n = 0;
    char *t = je_json_dumps_ordered(o, &n);
    json_decref(o);
    je_buf_puts(out, "{\"payload\":");
    je_buf_puts(out, j->payload ? j->payload : "null");
    if (t && n > 2) {
        je_buf_putc(out, ',');
        je_buf_append(out, t + 1, n - 1);
    } else {
        je_buf_putc(out, '}');
    }
    free(t);
}

void je_job_text(je_buf *out, const je_job *j) {
    job_text(out, j, job_fields);
}

void je_job_leased_text(je_buf *out, const je_job *j) {
    job_text(out, j, leased_fields);
}
