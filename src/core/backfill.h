/* core/backfill.h: event-time windows (domain.md §3), the backfill state machine and safety
 * checks (§5), the plan and its hash, and the per-event duplicate rule of the ledger (§4).
 * Pure: time comes in as UTC ms. */
#ifndef JE_CORE_BACKFILL_H
#define JE_CORE_BACKFILL_H

#include <stdint.h>
#include <jansson.h>
#include "core/err.h"
#include "core/jobs.h"
#include "core/justify.h"
#include "core/limits.h"

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

/* A backfill (api.md §3.5). */
typedef struct je_backfill_record {
    char backfill_id[JE_UUID_BUF];
    char tenant_id[JE_TENANT_MAX + 1];
    char source_id[JE_SOURCE_MAX + 1];
    char job_type[JE_JOBTYPE_MAX + 1];
    int64_t window_start_ms, window_end_ms, batch_ms;
    int force_reprocess;
    int status; /* je_backfill_state */
    char reason[JE_REASON_BUF], ticket[JE_TICKET_BUF];
    int64_t plan_batches, plan_known, plan_processed;
    char plan_hash[72];
    char safety_checks[1024]; /* JSON array */
    int64_t batches_submitted, batches_done, events_processed, duplicates_skipped, events_failed;
    int64_t created_ms, started_ms, completed_ms; /* JE_NO_TIME when not yet */
    char created_by[JE_ID_MAX + 1];
    char error[512];
    int64_t version;
} je_backfill_record;

/* ---- a backfill's life after create (core/backfill_run.c) ---- */

/* The error a batch job canceled with its backfill carries. */
#define JE_BACKFILL_CANCELED_ERROR "backfill canceled"

/* An operator's state move (start, pause, resume, cancel); from_required JE_BF_STATE_COUNT
 * admits any state the machine allows. 0 moved (version + 1; startedAt on the first start,
 * completedAt on cancel), or -1 with err "INVALID_STATE" naming both states. */
int je_backfill_move(je_backfill_record *b, je_backfill_state from_required, je_backfill_state to,
                     int64_t now_ms, je_err *err);
/* The engine ends a backfill (completed or failed): status, completedAt, version, error. */
void je_backfill_finish(je_backfill_record *b, je_backfill_state to, const char *error,
                        int64_t now_ms);
/* Batch job number batch of b finished. events are the ledger claims it held: processed when
 * it succeeded, failed when it failed its last attempt (final_failure). Counts them, and
 * finishes b when that decides it: JE_BF_COMPLETED when the last batch succeeded while b runs,
 * JE_BF_FAILED when a batch failed its last attempt; returns the state b is in after. */
je_backfill_state je_backfill_batch_done(je_backfill_record *b, int64_t batch, int succeeded,
                                         int final_failure, int64_t events, int64_t now_ms);
/* Duplicates the ledger suppressed for one of b's batch jobs. */
void je_backfill_note_duplicates(je_backfill_record *b, int64_t n);
/* The engine's step on a running backfill at now: when every batch is done, finishes it and
 * returns JE_BF_COMPLETED. Otherwise takes the next batches to submit, keeping at most
 * in_flight outstanding: *first and *count say which (batch numbers first .. first+count-1,
 * counted as submitted on b), and returns JE_BF_RUNNING. */
je_backfill_state je_backfill_advance(je_backfill_record *b, int64_t in_flight, int64_t now_ms,
                                      int64_t *first, int64_t *count);
/* The shape of batch job i of b: a pending backfill-lane job of b's job type and source whose
 * payload is {backfillId, windowStart, windowEnd, batch} (JCS, malloc'd: je_job_free) and whose
 * window is batch i's. 0, or -1 when out of memory. */
int je_backfill_batch_job(const je_backfill_record *b, int64_t i, const char *job_id,
                          int64_t max_attempts, int64_t now_ms, je_job *out);

#endif
