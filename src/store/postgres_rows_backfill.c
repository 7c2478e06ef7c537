/* store/postgres_rows_backfill.c: backfill rows (postgres_rows.h), the end of a batch job on its
 * backfill (core/ counts it and says whether the backfill completes or fails; the engine's
 * transitions are audited through the store's hook), and the settling of a finished job's ledger
 * claims. The PostgreSQL twin of sqlite_rows_backfill.c (and of je_sqlite_ledger_settle). */
#include "store/postgres_rows.h"

#include <stdio.h>
#include <string.h>

void je_pg_backfill_from_row(const PGresult *r, int row, je_backfill_record *b) {
    memset(b, 0, sizeof *b);
    je_pg_get_text(r, row, 0, b->tenant_id, sizeof b->tenant_id);
    je_pg_get_text(r, row, 1, b->backfill_id, sizeof b->backfill_id);
    je_pg_get_text(r, row, 2, b->source_id, sizeof b->source_id);
    je_pg_get_text(r, row, 3, b->job_type, sizeof b->job_type);
    b->window_start_ms = je_pg_get_int(r, row, 4);
    b->window_end_ms = je_pg_get_int(r, row, 5);
    b->batch_ms = je_pg_get_int(r, row, 6);
    b->force_reprocess = (int)je_pg_get_int(r, row, 7);
    b->status = (int)je_pg_get_int(r, row, 8);
    je_pg_get_text(r, row, 9, b->reason, sizeof b->reason);
    je_pg_get_text(r, row, 10, b->ticket, sizeof b->ticket);
    b->plan_batches = je_pg_get_int(r, row, 11);
    b->plan_known = je_pg_get_int(r, row, 12);
    b->plan_processed = je_pg_get_int(r, row, 13);
    je_pg_get_text(r, row, 14, b->plan_hash, sizeof b->plan_hash);
    je_pg_get_text(r, row, 15, b->safety_checks, sizeof b->safety_checks);
    b->batches_submitted = je_pg_get_int(r, row, 16);
    b->batches_done = je_pg_get_int(r, row, 17);
    b->events_processed = je_pg_get_int(r, row, 18);
    b->duplicates_skipped = je_pg_get_int(r, row, 19);
    b->events_failed = je_pg_get_int(r, row, 20);
    b->created_ms = je_pg_get_int(r, row, 21);
    je_pg_get_text(r, row, 22, b->created_by, sizeof b->created_by);
    b->started_ms = je_pg_get_opt(r, row, 23);
    b->completed_ms = je_pg_get_opt(r, row, 24);
    je_pg_get_text(r, row, 25, b->error, sizeof b->error);
    b->version = je_pg_get_int(r, row, 26);
}

/* An upsert on the primary key: every column but the key is replaced. */
static const char SAVE_SQL[] =
    "INSERT INTO backfills(" JE_PG_BF_COLS
    ") VALUES($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21,$22,$23,"
    "$24,$25,$26,$27) ON CONFLICT (tenant_id, backfill_id) DO UPDATE SET "
    "source_id=EXCLUDED.source_id, job_type=EXCLUDED.job_type, "
    "window_start_ms=EXCLUDED.window_start_ms, window_end_ms=EXCLUDED.window_end_ms, "
    "batch_ms=EXCLUDED.batch_ms, force_reprocess=EXCLUDED.force_reprocess, "
    "status=EXCLUDED.status, reason=EXCLUDED.reason, ticket=EXCLUDED.ticket, "
    "plan_batches=EXCLUDED.plan_batches, plan_known=EXCLUDED.plan_known, "
    "plan_processed=EXCLUDED.plan_processed, plan_hash=EXCLUDED.plan_hash, "
    "safety_checks=EXCLUDED.safety_checks, batches_submitted=EXCLUDED.batches_submitted, "
    "batches_done=EXCLUDED.batches_done, events_processed=EXCLUDED.events_processed, "
    "duplicates_skipped=EXCLUDED.duplicates_skipped, events_failed=EXCLUDED.events_failed, "
    "created_ms=EXCLUDED.created_ms, created_by=EXCLUDED.created_by, "
    "started_ms=EXCLUDED.started_ms, completed_ms=EXCLUDED.completed_ms, "
    "error=EXCLUDED.error, version=EXCLUDED.version";

int je_pg_backfill_save(je_pg_tx *tx, const je_backfill_record *b, je_err *err) {
    je_pg_params p = {0};
    je_pg_text(&p, b->tenant_id);
    je_pg_text(&p, b->backfill_id);
    je_pg_text(&p, b->source_id);
    je_pg_text(&p, b->job_type);
    const int64_t ints[] = {b->window_start_ms, b->window_end_ms, b->batch_ms, b->force_reprocess,
                            b->status};
    for (int i = 0; i < 5; i++) je_pg_int(&p, ints[i]);
    je_pg_text(&p, b->reason);
    je_pg_text(&p, b->ticket);
    je_pg_int(&p, b->plan_batches);
    je_pg_int(&p, b->plan_known);
    je_pg_int(&p, b->plan_processed);
    je_pg_text(&p, b->plan_hash);
    je_pg_text(&p, b->safety_checks);
    const int64_t progress[] = {b->batches_submitted,  b->batches_done,  b->events_processed,
                                b->duplicates_skipped, b->events_failed, b->created_ms};
    for (int i = 0; i < 6; i++) je_pg_int(&p, progress[i]);
    je_pg_text(&p, b->created_by);
    je_pg_opt_int(&p, b->started_ms);
    je_pg_opt_int(&p, b->completed_ms);
    je_pg_opt_text(&p, b->error);
    je_pg_int(&p, b->version);
    return je_pg_run(tx, SAVE_SQL, &p, NULL, err);
}

int je_pg_backfill_load(je_pg_tx *tx, const char *tenant, const char *id, je_backfill_record *out,
                        je_err *err) {
    je_pg_params p = {0};
    je_pg_text(&p, tenant);
    je_pg_text(&p, id);
    PGresult *r = je_pg_exec(tx,
                             "SELECT " JE_PG_BF_COLS " FROM backfills WHERE tenant_id=$1 AND "
                             "backfill_id=$2 FOR UPDATE",
                             &p, err);
    if (!r) return JE_STORE_ERROR;
    int found = PQntuples(r) > 0 ? JE_STORE_OK : JE_STORE_NOT_FOUND;
    if (found == JE_STORE_OK) je_pg_backfill_from_row(r, 0, out);
    PQclear(r);
    return found;
}

int je_pg_backfill_finished(je_pg_tx *tx, const je_backfill_record *before,
                            const je_backfill_record *b, int64_t now, je_err *err) {
    if (je_pg_backfill_save(tx, b, err) != 0) return -1;
    je_store *s = tx->s;
    if (!s || !s->hooks || !s->hooks->backfill_audit) return 0;
    json_t *e = s->hooks->backfill_audit(before, b, now);
    int rc = e ? je_pg_audit_append_tx(tx, e, err) : 0;
    json_decref(e);
    return rc;
}

int je_pg_backfill_batch_done(je_pg_tx *tx, const je_job *j, int succeeded, int final_failure,
                              int64_t events, int64_t now, je_err *err) {
    je_backfill_record b;
    int found = je_pg_backfill_load(tx, j->tenant_id, j->backfill_id, &b, err);
    if (found != JE_STORE_OK) return found == JE_STORE_NOT_FOUND ? 0 : -1;
    je_backfill_record before = b;
    je_backfill_state after =
        je_backfill_batch_done(&b, j->batch, succeeded, final_failure, events, now);
    if (after != (je_backfill_state)before.status)
        return je_pg_backfill_finished(tx, &before, &b, now, err);
    return je_pg_backfill_save(tx, &b, err);
}

/* The claims of a job that succeeded become processed (keeping the digest they were made with);
 * those of a job that failed are given up, the entry as it was before the claim. The rows are
 * locked first in (source, event_key) byte order, the order a claim locks them in
 * (postgres_ledger.c), so a job ending never deadlocks with a claim of the same events; no claim
 * of this job can add rows meanwhile (its caller holds the job's row). */
static const char SETTLE_LOCK_SQL[] =
    "SELECT 1 FROM ledger WHERE tenant_id=$1 AND claim_job_id=$2 ORDER BY source_id COLLATE "
    "\"C\", event_key COLLATE \"C\" FOR UPDATE";
static const char SETTLE_DONE_SQL[] =
    "UPDATE ledger SET processed=1, processed_digest=coalesce(claim_digest, processed_digest), "
    "claim_job_id=NULL, claim_digest=NULL WHERE tenant_id=$1 AND claim_job_id=$2";
static const char SETTLE_GIVE_UP_SQL[] =
    "UPDATE ledger SET claim_job_id=NULL, claim_digest=NULL WHERE tenant_id=$1 AND "
    "claim_job_id=$2";

int64_t je_pg_ledger_settle(je_pg_tx *tx, const char *tenant, const char *job_id, int succeeded,
                            je_err *err) {
    je_pg_params p = {0};
    je_pg_text(&p, tenant);
    je_pg_text(&p, job_id);
    int64_t changed = 0;
    if (je_pg_run(tx, SETTLE_LOCK_SQL, &p, NULL, err) != 0 ||
        je_pg_run(tx, succeeded ? SETTLE_DONE_SQL : SETTLE_GIVE_UP_SQL, &p, &changed, err) != 0)
        return -1;
    return changed;
}
