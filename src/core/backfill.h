/* core/backfill.h: event-time windows (domain.md §3), the backfill state machine and safety
 * checks (§5), the plan and its hash, and the per-event duplicate rule of the ledger (§4).
 * Pure: time comes in as UTC ms. */
#ifndef JE_CORE_BACKFILL_H
#define JE_CORE_BACKFILL_H

#include <stdint.h>
#include <jansson.h>
#include "core/err.h"

/* ---- windows: half-open [start, end) in UTC ms ---- */
typedef struct je_window {
    int64_t start, end;
} je_window;

int je_window_empty(je_window w);
int je_window_overlaps(je_window a, je_window b);
/* Number of batch windows of batch_ms aligned to start (the last ends at end); 0 when empty. */
int64_t je_window_batches(je_window w, int64_t batch_ms);
/* Batch i (0-based) of w; the last one is clipped to w.end. */
je_window je_window_batch(je_window w, int64_t batch_ms, int64_t i);

/* ---- states ---- */
typedef enum je_backfill_state {
    JE_BF_PENDING = 0,
    JE_BF_RUNNING,
    JE_BF_PAUSED,
    JE_BF_COMPLETED,
    JE_BF_FAILED,
    JE_BF_CANCELED,
    JE_BF_STATE_COUNT
} je_backfill_state;

const char *je_backfill_state_name(je_backfill_state s);
int je_backfill_state_parse(const char *name); /* -1 when unknown */
/* 1 when the state machine allows from → to. */
int je_backfill_can_move(je_backfill_state from, je_backfill_state to);
/* pending, running, paused */
int je_backfill_unfinished(je_backfill_state s);

/* ---- safety checks and plan ---- */
typedef struct je_backfill_limits {
    int64_t max_window_ms;  /* 31 days by default */
    int64_t max_batches;    /* 10,000 by default */
    int64_t suppression_ms; /* 24 h by default */
} je_backfill_limits;

typedef struct je_backfill_request {
    const char *tenant_id, *source_id, *job_type;
    je_window window;
    int64_t batch_ms;
    int force_reprocess;
} je_backfill_request;

/* What the store knows that the checks need. */
typedef struct je_backfill_facts {
    int quota_exists, quota_paused;
    const char *overlapping_id; /* an unfinished backfill overlapping the window, or NULL */
    const char *repeated_id;    /* a completed one with this exact window within suppression */
    int64_t known_events, already_processed;
} je_backfill_facts;

#define JE_BF_CHECKS 7
typedef struct je_backfill_check {
    const char *name; /* window_order, window_not_future, window_within_limit,
                         batch_count_within_limit, quota_exists, quota_not_paused, no_overlap */
    int passed;
} je_backfill_check;

typedef struct je_backfill_plan {
    int64_t batches, known_events, already_processed;
    char plan_hash[72]; /* "sha256:" + 64 hex */
    je_backfill_check checks[JE_BF_CHECKS];
    int all_passed, no_overlap_passed;
    const char *duplicate_of; /* the backfill no_overlap found, or NULL */
} je_backfill_plan;

/* Runs every check and computes the plan at now. */
void je_backfill_evaluate(const je_backfill_request *req, const je_backfill_facts *facts,
                          const je_backfill_limits *limits, int64_t now_ms, je_backfill_plan *out);

/* ---- the event ledger's rule (domain.md §4) ----
 * An entry remembers whether the event was processed (and with which digest) apart from whether
 * a job holds a claim on it now, so that a failed re-processing falls back to "processed". */
typedef struct je_ledger_entry {
    int exists;
    int processed;
    const char *processed_digest; /* NULL when processed without a digest */
    int claimed_by_other_live;    /* another job holds a claim and its lease is live */
} je_ledger_entry;

typedef enum je_claim_answer { JE_CLAIM_NEW = 0, JE_CLAIM_DUPLICATE } je_claim_answer;

/* The answer for one event given its entry, the digest asked with (NULL when none) and
 * whether the asking job belongs to a backfill with forceReprocess. A NEW answer means the
 * event is now claimed for the asking job. *keep_digest is set when a duplicate's digest should
 * be recorded on the processed entry (it had none). */
je_claim_answer je_ledger_decide(const je_ledger_entry *e, const char *digest, int force,
                                 int *keep_digest);

#endif
