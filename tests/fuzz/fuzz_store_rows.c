/* tests/fuzz/fuzz_store_rows.c: the stub store's quotas, jobs, backfills and ledger
 * (fuzz_store.c says how it answers). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/random.h"
#include "core/jcs.h"
#include "fuzz_store.h"

#define LEASE_ID "0190a0b0-0000-7000-8000-00000000beef"

static void copy_id(char *out, size_t cap, const char *id) {
    snprintf(out, cap, "%s", id ? id : "");
}

/* An id a store can hold (ids are UUIDs there): [A-Za-z0-9-]{1,36}, and not starting with 'm'.
 * Any other id is found nowhere, as in a real store. */
static int id_known(const char *id) {
    size_t n = strlen(id);
    return n >= 1 && n <= 36 &&
           strspn(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                      "0123456789-") == n &&
           id[0] != 'm';
}

/* ---- quotas -----------------------------------------------------------------------------------
 */

static void fill_quota(je_quota_record *r, const char *tenant, const char *id) {
    int64_t now = je_now_ms();
    memset(r, 0, sizeof *r);
    copy_id(r->quota_id, sizeof r->quota_id, id);
    copy_id(r->tenant_id, sizeof r->tenant_id, tenant);
    copy_id(r->job_type, sizeof r->job_type, id && id[0] == 's' ? "*" : "build");
    je_quota_limits l = {10, 100, 20, 1.5};
    je_quota_init(&r->q, &l, now - 1000);
    r->q.state.active = id && id[0] == 'f' ? 10 : 3;
    r->q.elevation_expires_ms = JE_NO_TIME;
    if (id && id[0] == 'p') {
        r->q.paused = 1;
        copy_id(r->pause_reason, sizeof r->pause_reason, "maintenance");
    }
    if (id && id[0] == 'e') {
        r->q.elevation_expires_ms = now + 3600000;
        r->q.previous = (je_quota_limits){5, 50, 10, 1.0};
    }
    r->version = 3;
    r->created_ms = r->updated_ms = now - 1000;
    copy_id(r->created_by, sizeof r->created_by, FZ_CLIENT);
    copy_id(r->updated_by, sizeof r->updated_by, FZ_CLIENT);
    copy_id(r->last_reason, sizeof r->last_reason, "seed");
}

FZS_OP(quota_get, const char *tenant, const char *id, je_quota_record *out, je_err *err) {
    fzs_text(tenant), fzs_text(id);
    if (!id_known(id)) return JE_STORE_NOT_FOUND;
    fill_quota(out, tenant, id);
    return JE_STORE_OK;
}

FZS_OP(quota_view, const char *tenant, const char *id, je_quota_record *out, int64_t *pending,
       je_err *err) {
    *pending = 2;
    return fzs_quota_get(s, tenant, id, out, err);
}

FZS_OP(quota_list, const char *tenant, const je_quota_filter *f, je_quota_visit_fn fn, void *ctx,
       je_err *err) {
    fzs_text(f->job_type), fzs_text(f->after_job_type);
    je_quota_record r;
    fill_quota(&r, tenant, "q1");
    if (f->limit > 0) fn(ctx, &r);
    return JE_STORE_OK;
}

/* As the SQLite backend: out is the record the callback works on. A create finds no quota of
 * its job type unless that is "taken". */
FZS_OP(quota_change, const char *tenant, const char *id, const char *job_type, int64_t now_ms,
       je_quota_change_fn fn, void *ctx, je_idem *idem, je_quota_record *out, je_err *err) {
    fzs_text(id), fzs_text(job_type);
    if (fzs_idem_seen(idem)) return idem->replayed ? JE_CHANGE_APPLY : JE_CHANGE_DENY;
    int exists = id ? id_known(id) : job_type && strcmp(job_type, "taken") == 0;
    if (exists) {
        fill_quota(out, tenant, id ? id : "q1");
    } else {
        memset(out, 0, sizeof *out);
        copy_id(out->tenant_id, sizeof out->tenant_id, tenant);
    }
    json_t *audit = NULL;
    int rc = fn(ctx, out, exists, now_ms, &audit, err);
    fzs_take_audit(audit);
    FZ_CHECK(rc == JE_CHANGE_APPLY || rc == JE_CHANGE_DELETE || rc == JE_CHANGE_DENY ||
                 rc == JE_STORE_ERROR,
             "a quota callback's answer");
    if (rc == JE_CHANGE_APPLY || rc == JE_CHANGE_DELETE) fzs_idem_store(idem);
    return rc;
}

FZS_OP(quota_acquire, const char *tenant, const char *id, int64_t ttl_ms, int64_t now_ms,
       je_idem *idem, je_acquire *out, je_err *err) {
    fzs_text(id);
    memset(out, 0, sizeof *out);
    if (fzs_idem_seen(idem)) return JE_STORE_OK;
    if (!id_known(id)) return JE_STORE_NOT_FOUND;
    fill_quota(&out->rec, tenant, id);
    out->decision = je_quota_decide(&out->rec.q, now_ms, now_ms + 5000);
    if (out->decision.kind == JE_DECISION_GRANT) {
        je_uuid7(now_ms, out->permit_id);
        out->expires_ms = now_ms + ttl_ms;
        fzs_idem_store(idem);
    }
    return JE_STORE_OK;
}

FZS_OP(quota_release, const char *tenant, const char *id, const char *permit_id, int64_t now_ms,
       je_err *err) {
    fzs_text(id), fzs_text(permit_id);
    return !id_known(id) || !id_known(permit_id) ? JE_STORE_NOT_FOUND : JE_STORE_OK;
}

/* ---- jobs ---------------------------------------------------------------------------------------
 */

static void fill_job(je_job *j, const char *tenant, const char *id) {
    int64_t now = je_now_ms();
    memset(j, 0, sizeof *j);
    copy_id(j->job_id, sizeof j->job_id, id);
    copy_id(j->tenant_id, sizeof j->tenant_id, tenant);
    copy_id(j->job_type, sizeof j->job_type, "build");
    j->status = id[0] == 'p' ? JE_JOB_PENDING : id[0] == 's' ? JE_JOB_SUCCEEDED : JE_JOB_LEASED;
    j->payload = strdup("{\"n\":1,\"s\":\"x\"}");
    copy_id(j->source_id, sizeof j->source_id, id[0] == 'n' ? "" : "src");
    copy_id(j->event_key, sizeof j->event_key, "ev-1");
    j->event_time_ms = now - 86400000;
    j->batch = j->window_start_ms = j->window_end_ms = JE_NO_TIME;
    if (id[0] == 'b') {
        copy_id(j->backfill_id, sizeof j->backfill_id, "0190a0b0-0000-7000-8000-0000000000bf");
        j->batch = 2;
        j->window_start_ms = now - 7200000;
        j->window_end_ms = now - 3600000;
    }
    j->attempt = 1;
    j->max_attempts = 3;
    j->available_ms = j->created_ms = j->updated_ms = now - 1000;
    j->completed_ms = JE_NO_TIME;
    if (j->status == JE_JOB_LEASED) {
        copy_id(j->lease_id, sizeof j->lease_id, LEASE_ID);
        copy_id(j->worker_id, sizeof j->worker_id, "w1");
        j->lease_until_ms = now + 60000;
        j->lease_ms = 60000;
    } else {
        j->lease_until_ms = j->lease_ms = JE_NO_TIME;
    }
}

/* A stored payload is read back as a client of GET /jobengine/jobs/{id} reads it (je_json_loadb,
 * as the CLI does: the canonical form writes reals such as 1e20 as integer digits beyond int64,
 * which plain jansson refuses): it must parse. */
FZS_OP(job_submit, je_job *j, je_idem *idem, je_err *err) {
    fzs_text(j->job_type), fzs_text(j->source_id), fzs_text(j->event_key);
    fzs_text(j->payload), fzs_text(idem ? idem->key : NULL), fzs_text(idem ? idem->path : NULL);
    if (fzs_idem_seen(idem)) return JE_STORE_OK;
    FZ_CHECK(j->payload != NULL, "a submitted job has its payload");
    json_error_t e;
    json_t *p = je_json_loadb(j->payload, strlen(j->payload), JSON_DECODE_ANY, &e);
    if (!p) fprintf(stderr, "payload %s does not read back: %s\n", j->payload, e.text);
    FZ_CHECK(p != NULL, "a stored payload reads back");
    json_decref(p);
    fzs_idem_store(idem);
    return JE_STORE_OK;
}

FZS_OP(job_get, const char *tenant, const char *id, je_job *out, je_err *err) {
    fzs_text(id);
    memset(out, 0, sizeof *out);
    if (!id_known(id)) return JE_STORE_NOT_FOUND;
    fill_job(out, tenant, id);
    return JE_STORE_OK;
}

FZS_OP(job_list, const char *tenant, const je_job_filter *f, je_job_visit_fn fn, void *ctx,
       je_err *err) {
    fzs_text(f->job_type), fzs_text(f->after_job_id);
    je_job j;
    fill_job(&j, tenant, "j1");
    if (f->limit > 0) fn(ctx, &j);
    je_job_free(&j);
    return JE_STORE_OK;
}

FZS_OP(job_counts, const char *tenant, je_job_count_fn fn, void *ctx, je_err *err) {
    fn(ctx, "build", JE_JOB_PENDING, 5);
    fn(ctx, "build", JE_JOB_LEASED, 1);
    return JE_STORE_OK;
}

/* One job when "build" is asked for; otherwise nothing, held back by an exhausted quota. */
FZS_OP(jobs_lease, const char *tenant, const je_lease_req *req, je_lease_out *out, je_err *err) {
    fzs_text(req->worker_id);
    for (size_t i = 0; i < req->n_job_types; i++) fzs_text(req->job_types[i]);
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < req->n_job_types; i++) {
        if (strcmp(req->job_types[i], "build") != 0) continue;
        out->jobs = calloc(1, sizeof *out->jobs);
        if (!out->jobs) abort();
        fill_job(&out->jobs[0], tenant, "j1");
        out->n = 1;
        return JE_STORE_OK;
    }
    out->held = 1;
    out->decision = (je_decision){JE_DECISION_EXHAUSTED, req->now_ms + 1500, 0};
    out->limits = (je_quota_limits){10, 100, 20, 1.5};
    return JE_STORE_OK;
}

static int lease_answer(const char *id, const char *lease_id) {
    if (!id_known(id)) return JE_STORE_NOT_FOUND;
    if (id[0] == 'l' || strcmp(lease_id, LEASE_ID) != 0) return JE_STORE_LEASE_LOST;
    return JE_STORE_OK;
}

FZS_OP(job_heartbeat, const char *tenant, const char *id, const char *lease_id, int64_t extend_ms,
       int64_t now_ms, je_job *out, je_err *err) {
    fzs_text(id), fzs_text(lease_id);
    memset(out, 0, sizeof *out);
    int rc = lease_answer(id, lease_id);
    if (rc != JE_STORE_OK) return rc;
    fill_job(out, tenant, id);
    je_job_heartbeat(out, extend_ms, now_ms);
    return JE_STORE_OK;
}

FZS_OP(job_complete, const char *tenant, const char *id, const char *lease_id, int succeeded,
       const char *error, int64_t now_ms, je_job *out, je_err *err) {
    fzs_text(id), fzs_text(lease_id), fzs_text(error);
    memset(out, 0, sizeof *out);
    int rc = lease_answer(id, lease_id);
    if (rc != JE_STORE_OK) return rc;
    fill_job(out, tenant, id);
    out->status = succeeded ? JE_JOB_SUCCEEDED : JE_JOB_FAILED;
    copy_id(out->error, sizeof out->error, error);
    out->completed_ms = now_ms;
    return JE_STORE_OK;
}

int64_t fzs_jobs_pending(je_store *s, const char *tenant, const char *job_type, je_err *err) {
    return 2;
}

/* ---- backfills and the ledger ------------------------------------------------------------------
 */

static void fill_backfill(je_backfill_record *b, const char *tenant, const char *id) {
    int64_t now = je_now_ms();
    memset(b, 0, sizeof *b);
    copy_id(b->backfill_id, sizeof b->backfill_id, id);
    copy_id(b->tenant_id, sizeof b->tenant_id, tenant);
    copy_id(b->source_id, sizeof b->source_id, "src");
    copy_id(b->job_type, sizeof b->job_type, "build");
    b->window_start_ms = 1704067200000;
    b->window_end_ms = b->window_start_ms + 86400000;
    b->batch_ms = 3600000;
    b->status = id[0] == 'r'   ? JE_BF_RUNNING
                : id[0] == 'p' ? JE_BF_PAUSED
                : id[0] == 'c' ? JE_BF_COMPLETED
                : id[0] == 'x' ? JE_BF_CANCELED
                               : JE_BF_PENDING;
    copy_id(b->reason, sizeof b->reason, "seed");
    b->plan_batches = 24;
    b->plan_known = 100;
    b->plan_processed = 10;
    copy_id(b->plan_hash, sizeof b->plan_hash, "sha256:00");
    copy_id(b->safety_checks, sizeof b->safety_checks, "[]");
    b->created_ms = now - 1000;
    b->started_ms = b->status == JE_BF_PENDING ? JE_NO_TIME : now - 500;
    b->completed_ms = JE_NO_TIME;
    copy_id(b->created_by, sizeof b->created_by, FZ_CLIENT);
    b->version = 2;
}

/* Facts by the source's first letter: 'd' a duplicate, 'r' a repeat, 'q' no quota, 'z' paused. */
FZS_OP(backfill_facts, const char *tenant, const char *source_id, const char *job_type,
       int64_t start_ms, int64_t end_ms, int64_t suppression_ms, int64_t now_ms,
       je_backfill_store_facts *out, je_err *err) {
    fzs_text(source_id), fzs_text(job_type);
    memset(out, 0, sizeof *out);
    out->quota_exists = source_id[0] != 'q';
    out->quota_paused = source_id[0] == 'z';
    if (source_id[0] == 'd')
        copy_id(out->overlapping_id, 37, "0190a0b0-0000-7000-8000-0000000000d1");
    if (source_id[0] == 'r') copy_id(out->repeated_id, 37, "0190a0b0-0000-7000-8000-0000000000d2");
    out->known_events = 100;
    out->already_processed = source_id[0] == 'a' ? 100 : 10;
    return JE_STORE_OK;
}

FZS_OP(backfill_create, const char *tenant, const char *source_id, const char *job_type,
       int64_t start_ms, int64_t end_ms, int64_t suppression_ms, int64_t now_ms,
       je_backfill_create_fn fn, void *ctx, je_idem *idem, je_backfill_record *out, je_err *err) {
    if (fzs_idem_seen(idem)) return idem->replayed ? JE_CHANGE_APPLY : JE_CHANGE_DENY;
    je_backfill_store_facts facts;
    fzs_backfill_facts(s, tenant, source_id, job_type, start_ms, end_ms, suppression_ms, now_ms,
                       &facts, err);
    memset(out, 0, sizeof *out);
    json_t *audit = NULL;
    int rc = fn(ctx, &facts, out, now_ms, &audit, err);
    fzs_take_audit(audit);
    if (rc == JE_CHANGE_APPLY) fzs_idem_store(idem);
    return rc;
}

FZS_OP(backfill_get, const char *tenant, const char *id, je_backfill_record *out, je_err *err) {
    fzs_text(id);
    if (!id_known(id)) return JE_STORE_NOT_FOUND;
    fill_backfill(out, tenant, id);
    return JE_STORE_OK;
}

FZS_OP(backfill_list, const char *tenant, const je_backfill_filter *f, je_backfill_visit_fn fn,
       void *ctx, je_err *err) {
    fzs_text(f->before_id);
    je_backfill_record b;
    fill_backfill(&b, tenant, "bf1");
    if (f->limit > 0) fn(ctx, &b);
    return JE_STORE_OK;
}

FZS_OP(backfill_change, const char *tenant, const char *id, int64_t now_ms,
       je_backfill_change_fn fn, void *ctx, je_backfill_record *out, je_err *err) {
    fzs_text(id);
    int exists = id_known(id);
    if (exists)
        fill_backfill(out, tenant, id);
    else
        memset(out, 0, sizeof *out);
    json_t *audit = NULL;
    int rc = fn(ctx, out, exists, now_ms, &audit, err);
    fzs_take_audit(audit);
    return rc;
}

/* Keys starting with 'd' were claimed before. */
FZS_OP(ledger_claim, const char *tenant, const char *source_id, const char *job_id,
       je_claim_event *events, size_t n, int64_t now_ms, je_err *err) {
    fzs_text(source_id), fzs_text(job_id);
    for (size_t i = 0; i < n; i++) fzs_text(events[i].event_key), fzs_text(events[i].digest);
    if (!id_known(job_id)) return JE_STORE_NOT_FOUND;
    if (job_id[0] == 'l') return JE_STORE_LEASE_LOST;
    for (size_t i = 0; i < n; i++) events[i].is_new = events[i].event_key[0] != 'd';
    return JE_STORE_OK;
}
