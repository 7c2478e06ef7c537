/* core/backfill_run.c: a backfill's life after create (domain.md §5): the operator's moves, the
 * accounting of batch jobs as they finish and what completes or fails a backfill, the engine's
 * advance over the batches, and the shape of a batch job. Pure: ids and time come in. */
#include "core/backfill.h"

#include <stdio.h>
#include <string.h>

#include "core/jcs.h"
#include "core/quota.h" /* JE_NO_TIME */
#include "core/timefmt.h"

int je_backfill_move(je_backfill_record *b, je_backfill_state from_required, je_backfill_state to,
                     int64_t now_ms, je_err *err) {
    je_backfill_state from = (je_backfill_state)b->status;
    if (!je_backfill_can_move(from, to) ||
        (from_required != JE_BF_STATE_COUNT && from != from_required))
        return je_err_set(err, "INVALID_STATE", "a %s backfill cannot be moved to %s",
                          je_backfill_state_name(from), je_backfill_state_name(to));
    b->status = to;
    if (to == JE_BF_RUNNING && b->started_ms == JE_NO_TIME) b->started_ms = now_ms;
    if (to == JE_BF_CANCELED) b->completed_ms = now_ms;
    b->version++;
    return 0;
}

void je_backfill_finish(je_backfill_record *b, je_backfill_state to, const char *error,
                        int64_t now_ms) {
    b->status = to;
    b->completed_ms = now_ms;
    b->version++;
    if (error) snprintf(b->error, sizeof b->error, "%s", error);
}

je_backfill_state je_backfill_batch_done(je_backfill_record *b, int64_t batch, int succeeded,
                                         int final_failure, int64_t events, int64_t now_ms) {
    if (succeeded)
        b->batches_done++, b->events_processed += events;
    else if (final_failure)
        b->events_failed += events;
    /* a backfill paused when its last batch succeeds completes on resume (the engine's step) */
    if (succeeded && b->status == JE_BF_RUNNING && b->batches_done >= b->plan_batches)
        je_backfill_finish(b, JE_BF_COMPLETED, NULL, now_ms);
    else if (final_failure && je_backfill_can_move((je_backfill_state)b->status, JE_BF_FAILED)) {
        char msg[160];
        snprintf(msg, sizeof msg, "batch %lld failed its last attempt", (long long)batch);
        je_backfill_finish(b, JE_BF_FAILED, msg, now_ms);
    }
    return (je_backfill_state)b->status;
}

void je_backfill_note_duplicates(je_backfill_record *b, int64_t n) {
    b->duplicates_skipped += n;
}

je_backfill_state je_backfill_advance(je_backfill_record *b, int64_t in_flight, int64_t now_ms,
                                      int64_t *first, int64_t *count) {
    *first = b->batches_submitted;
    *count = 0;
    if (b->batches_done >= b->plan_batches) {
        je_backfill_finish(b, JE_BF_COMPLETED, NULL, now_ms);
        return JE_BF_COMPLETED;
    }
    int64_t outstanding = b->batches_submitted - b->batches_done;
    int64_t room = in_flight - outstanding, left = b->plan_batches - b->batches_submitted;
    *count = room < left ? room : left;
    if (*count < 0) *count = 0;
    b->batches_submitted += *count;
    return JE_BF_RUNNING;
}

int je_backfill_batch_job(const je_backfill_record *b, int64_t i, const char *job_id,
                          int64_t max_attempts, int64_t now_ms, je_job *j) {
    je_window w = {b->window_start_ms, b->window_end_ms};
    je_window bw = je_window_batch(w, b->batch_ms, i);
    memset(j, 0, sizeof *j);
    snprintf(j->job_id, sizeof j->job_id, "%s", job_id);
    snprintf(j->tenant_id, sizeof j->tenant_id, "%s", b->tenant_id);
    snprintf(j->job_type, sizeof j->job_type, "%s", b->job_type);
    snprintf(j->source_id, sizeof j->source_id, "%s", b->source_id);
    snprintf(j->backfill_id, sizeof j->backfill_id, "%s", b->backfill_id);
    j->status = JE_JOB_PENDING;
    j->lane = JE_LANE_BACKFILL;
    j->batch = i;
    j->window_start_ms = bw.start;
    j->window_end_ms = bw.end;
    j->event_time_ms = JE_NO_TIME;
    j->max_attempts = max_attempts;
    j->available_ms = j->created_ms = j->updated_ms = now_ms;
    j->completed_ms = j->lease_until_ms = j->lease_ms = JE_NO_TIME;
    char ws[JE_TIME_BUF], we[JE_TIME_BUF];
    json_t *p = json_pack("{s:s, s:s, s:s, s:I}", "backfillId", b->backfill_id, "windowStart",
                          je_time_format(bw.start, ws), "windowEnd", je_time_format(bw.end, we),
                          "batch", (json_int_t)i);
    j->payload = p ? je_jcs_dumps(p, NULL) : NULL;
    json_decref(p);
    return j->payload ? 0 : -1;
}
