/* api/dedup.c: POST /jobengine/dedup/claim, the worker side of event-level duplicate
 * suppression (domain.md §4): a leased job claims a list of events, atomically as a whole, and
 * learns which are new (now claimed for it) and which are duplicates. */
#include <stdlib.h>
#include <string.h>

#include "api/body.h"
#include "api/metrics.h"
#include "api/routes.h"
#include "core/buf.h"
#include "core/ids.h"
#include "core/jcs.h"
#include "core/text.h"
#include "core/timefmt.h"

#define MAX_EVENTS 10000

static int cmp_keys(const void *a, const void *b) {
    return strcmp(((const je_claim_event *)a)->event_key, ((const je_claim_event *)b)->event_key);
}

static int printable(const char *s, size_t n, size_t max) {
    size_t off, len;
    return je_text_check(s, n, max, &off, &len) == JE_TEXT_OK && off == 0 && len == n;
}

/* One event object into ev; -1 with err naming events[i].field. */
static int parse_event(const json_t *o, size_t i, je_claim_event *ev, je_err *err) {
    const json_t *k = json_object_get(o, "eventKey"), *t = json_object_get(o, "eventTime");
    const json_t *d = json_object_get(o, "digest");
    if (!json_is_object(o) || json_object_size(o) > 3 || json_object_size(o) != 2 + (d != NULL))
        return je_err_field(err, "VALIDATION_FAILED", "events",
                            "events[%zu]: {eventKey, eventTime, digest?} and nothing else", i);
    if (!json_is_string(k) || !printable(json_string_value(k), json_string_length(k), 512))
        return je_err_field(err, "VALIDATION_FAILED", "eventKey",
                            "events[%zu].eventKey: 1-512 printable characters", i);
    if (!json_is_string(t) || je_time_parse(json_string_value(t), &ev->event_time_ms) != 0)
        return je_err_field(err, "VALIDATION_FAILED", "eventTime",
                            "events[%zu].eventTime: an RFC 3339 date-time", i);
    if (d && !json_is_null(d) &&
        (!json_is_string(d) || !printable(json_string_value(d), json_string_length(d), 256)))
        return je_err_field(err, "VALIDATION_FAILED", "digest",
                            "events[%zu].digest: 1-256 printable characters", i);
    ev->event_key = json_string_value(k);
    ev->digest = json_is_string(d) ? json_string_value(d) : NULL;
    return 0;
}

static je_claim_event *parse_events(const json_t *arr, size_t *n, je_err *err) {
    if (!json_is_array(arr) || json_array_size(arr) == 0 || json_array_size(arr) > MAX_EVENTS)
        return je_err_field(err, "VALIDATION_FAILED", "events", "events: 1 to 10000 events"), NULL;
    *n = json_array_size(arr);
    je_claim_event *ev = calloc(*n, sizeof *ev);
    if (!ev) return je_err_set(err, "STORE", "out of memory"), NULL;
    for (size_t i = 0; i < *n; i++)
        if (parse_event(json_array_get(arr, i), i, &ev[i], err) != 0) return free(ev), NULL;
    je_claim_event *sorted = malloc(*n * sizeof *sorted);
    if (!sorted) return free(ev), je_err_set(err, "STORE", "out of memory"), NULL;
    memcpy(sorted, ev, *n * sizeof *sorted);
    qsort(sorted, *n, sizeof *sorted, cmp_keys);
    for (size_t i = 1; i < *n; i++)
        if (strcmp(sorted[i].event_key, sorted[i - 1].event_key) == 0) {
            free(sorted);
            free(ev);
            return je_err_field(err, "VALIDATION_FAILED", "eventKey",
                                "an eventKey appears twice in one claim"),
                   NULL;
        }
    free(sorted);
    return ev;
}

/* The keys of one kind as a JSON array (keys are checked printable UTF-8: never refused). */
static int64_t put_keys(je_buf *b, const je_claim_event *ev, size_t n, int is_new) {
    int64_t count = 0;
    je_buf_putc(b, '[');
    for (size_t i = 0; i < n; i++) {
        if (!ev[i].is_new != !is_new) continue;
        if (count++) je_buf_putc(b, ',');
        je_jcs_string(ev[i].event_key, strlen(ev[i].event_key), b);
    }
    je_buf_putc(b, ']');
    return count;
}

/* {"duplicates":[...],"new":[...]} (members in JCS order, as before), written straight into a
 * buffer: a claim of 10,000 events is answered without 10,000 JSON nodes. */
static void reply_claim(je_req *r, const je_claim_event *ev, size_t n) {
    je_buf b = {0};
    je_buf_puts(&b, "{\"duplicates\":");
    int64_t dups = put_keys(&b, ev, n, 0);
    je_buf_puts(&b, ",\"new\":");
    int64_t fresh = put_keys(&b, ev, n, 1);
    je_buf_putc(&b, '}');
    je_metric_dedup(r->principal->tenant, fresh, dups);
    je_reply_raw(r, 200, "application/json", b.data, b.len);
    je_buf_free(&b);
}

void je_api_dedup_claim(je_req *r, je_app *app) {
    static const char *const fields[] = {"sourceId", "jobId", "events", NULL};
    je_err err;
    je_err_clear(&err);
    json_t *body = je_api_keep(r, je_body_object(r, fields, &err));
    const char *source = NULL, *job_id = NULL;
    size_t sn = 0, n = 0;
    je_claim_event *ev = NULL;
    if (!body || je_body_string(body, "sourceId", &source, &sn, &err) < 0 ||
        je_body_string(body, "jobId", &job_id, NULL, &err) < 0)
        goto invalid;
    if (!source || !je_id_job_type_valid(source, sn) || !strcmp(source, "*")) {
        je_err_field(&err, "VALIDATION_FAILED", "sourceId", "sourceId: 1-128 of [A-Za-z0-9._:-]");
        goto invalid;
    }
    if (!job_id || !*job_id) {
        je_err_field(&err, "VALIDATION_FAILED", "jobId", "jobId is required");
        goto invalid;
    }
    je_job j;
    memset(&j, 0, sizeof j);
    int found = app->store->ops->job_get(app->store, r->principal->tenant, job_id, &j, &err);
    int source_ok = found == JE_STORE_OK && (!j.source_id[0] || strcmp(j.source_id, source) == 0);
    je_job_free(&j);
    if (found < 0) goto failed;
    if (found == JE_STORE_NOT_FOUND) {
        return je_reply_error(r, 404, "NOT_FOUND", "no such job", NULL);
    }
    if (!source_ok) {
        je_err_field(&err, "VALIDATION_FAILED", "sourceId", "the job belongs to another source");
        goto invalid;
    }
    if (!(ev = parse_events(json_object_get(body, "events"), &n, &err))) goto invalid;
    int rc = app->store->ops->ledger_claim(app->store, r->principal->tenant, source, job_id, ev, n,
                                           je_now_ms(), &err);
    if (rc == JE_STORE_OK)
        reply_claim(r, ev, n);
    else if (rc == JE_STORE_NOT_FOUND)
        je_reply_error(r, 404, "NOT_FOUND", "no such job", NULL);
    else if (rc == JE_STORE_LEASE_LOST)
        je_reply_error(r, 409, "LEASE_LOST", "the job is not leased now: claims need a live lease",
                       NULL);
    else
        je_api_reply_err(r, &err, NULL);
    free(ev);
    return;
invalid:
failed:
    free(ev);
    je_api_reply_err(r, &err, NULL);
}
