/* core/backfill.c: windows, backfill states, safety checks, plan hash, ledger rule. */
#include "core/backfill.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/jcs.h"
#include "core/timefmt.h"

int je_window_empty(je_window w) {
    return w.end <= w.start;
}

int je_window_overlaps(je_window a, je_window b) {
    return a.start < b.end && b.start < a.end;
}

int64_t je_window_batches(je_window w, int64_t batch_ms) {
    if (je_window_empty(w) || batch_ms <= 0) return 0;
    /* ceil without overflow: the span is positive */
    uint64_t span = (uint64_t)w.end - (uint64_t)w.start;
    return (int64_t)((span - 1) / (uint64_t)batch_ms + 1);
}

je_window je_window_batch(je_window w, int64_t batch_ms, int64_t i) {
    je_window b = {w.start + i * batch_ms, w.start + (i + 1) * batch_ms};
    if (b.end > w.end || b.end < b.start) b.end = w.end;
    return b;
}

static const char *const state_names[JE_BF_STATE_COUNT] = {"pending",   "running", "paused",
                                                           "completed", "failed",  "canceled"};

const char *je_backfill_state_name(je_backfill_state s) {
    return (unsigned)s < JE_BF_STATE_COUNT ? state_names[s] : NULL;
}

int je_backfill_state_parse(const char *name) {
    for (int i = 0; name && i < JE_BF_STATE_COUNT; i++)
        if (strcmp(state_names[i], name) == 0) return i;
    return -1;
}

int je_backfill_can_move(je_backfill_state from, je_backfill_state to) {
    switch (from) {
    case JE_BF_PENDING:
        return to == JE_BF_RUNNING || to == JE_BF_CANCELED;
    case JE_BF_RUNNING:
        return to == JE_BF_PAUSED || to == JE_BF_COMPLETED || to == JE_BF_FAILED ||
               to == JE_BF_CANCELED;
    case JE_BF_PAUSED:
        return to == JE_BF_RUNNING || to == JE_BF_FAILED || to == JE_BF_CANCELED;
    default:
        return 0; /* completed, failed and canceled never change again */
    }
}

int je_backfill_unfinished(je_backfill_state s) {
    return s == JE_BF_PENDING || s == JE_BF_RUNNING || s == JE_BF_PAUSED;
}

/* planHash = "sha256:" + hex(SHA-256(JCS({tenantId, sourceId, jobType, windowStart, windowEnd,
 * batchSeconds, forceReprocess, batches, knownEvents, alreadyProcessed}))) */
static void plan_hash(const je_backfill_request *q, const je_backfill_plan *p, char out[72]) {
    char ws[JE_TIME_BUF], we[JE_TIME_BUF];
    json_t *o = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:I, s:b, s:I, s:I, s:I}", "tenantId", q->tenant_id, "sourceId",
        q->source_id, "jobType", q->job_type, "windowStart", je_time_format(q->window.start, ws),
        "windowEnd", je_time_format(q->window.end, we), "batchSeconds",
        (json_int_t)(q->batch_ms / 1000), "forceReprocess", q->force_reprocess, "batches",
        (json_int_t)p->batches, "knownEvents", (json_int_t)p->known_events, "alreadyProcessed",
        (json_int_t)p->already_processed);
    size_t len = 0;
    char *text = o ? je_jcs_dumps(o, &len) : NULL;
    json_decref(o);
    unsigned char d[32];
    unsigned int dl = 0;
    EVP_Digest(text ? text : "", len, d, &dl, EVP_sha256(), NULL);
    free(text);
    memcpy(out, "sha256:", 7);
    for (int i = 0; i < 32; i++) snprintf(out + 7 + 2 * i, 3, "%02x", d[i]);
}

void je_backfill_evaluate(const je_backfill_request *req, const je_backfill_facts *facts,
                          const je_backfill_limits *limits, int64_t now_ms, je_backfill_plan *out) {
    memset(out, 0, sizeof *out);
    je_window w = req->window;
    out->batches = je_window_batches(w, req->batch_ms);
    out->known_events = facts->known_events;
    out->already_processed = facts->already_processed;
    out->duplicate_of = facts->overlapping_id ? facts->overlapping_id
                                              : (!req->force_reprocess ? facts->repeated_id : NULL);
    const struct {
        const char *name;
        int passed;
    } c[JE_BF_CHECKS] = {
        {"window_order", w.end > w.start},
        {"window_not_future", w.end <= now_ms},
        {"window_within_limit", !je_window_empty(w) && w.end - w.start <= limits->max_window_ms},
        {"batch_count_within_limit", out->batches >= 1 && out->batches <= limits->max_batches},
        {"quota_exists", facts->quota_exists},
        {"quota_not_paused", facts->quota_exists && !facts->quota_paused},
        {"no_overlap", out->duplicate_of == NULL},
    };
    out->all_passed = 1;
    for (int i = 0; i < JE_BF_CHECKS; i++) {
        out->checks[i].name = c[i].name;
        out->checks[i].passed = c[i].passed;
        out->all_passed &= c[i].passed;
    }
    out->no_overlap_passed = c[JE_BF_CHECKS - 1].passed;
    plan_hash(req, out, out->plan_hash);
}

je_claim_answer je_ledger_decide(const je_ledger_entry *e, const char *digest, int force,
                                 int *keep_digest) {
    *keep_digest = 0;
    if (!e->exists) return JE_CLAIM_NEW;
    if (e->claimed_by_other_live) return JE_CLAIM_DUPLICATE; /* in flight elsewhere */
    if (!e->processed || force) return JE_CLAIM_NEW;
    if (digest && e->processed_digest && strcmp(digest, e->processed_digest) != 0)
        return JE_CLAIM_NEW; /* the content changed */
    if (digest && !e->processed_digest) *keep_digest = 1;
    return JE_CLAIM_DUPLICATE;
}
