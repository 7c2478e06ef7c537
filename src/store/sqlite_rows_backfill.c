/* store/sqlite_rows_backfill.c: backfill rows (sqlite_rows.h), and the end of a batch job on its
 * backfill: core/ counts it and says whether the backfill completes or fails; the engine's
 * transitions are audited through the store's hook. */
#include "store/sqlite_rows.h"

#include <stdio.h>
#include <string.h>

void je_sqlite_backfill_from_row(sqlite3_stmt *st, je_backfill_record *b) {
    memset(b, 0, sizeof *b);
    je_sqlite_col_text(st, 0, b->tenant_id, sizeof b->tenant_id);
    je_sqlite_col_text(st, 1, b->backfill_id, sizeof b->backfill_id);
    je_sqlite_col_text(st, 2, b->source_id, sizeof b->source_id);
    je_sqlite_col_text(st, 3, b->job_type, sizeof b->job_type);
    b->window_start_ms = sqlite3_column_int64(st, 4);
    b->window_end_ms = sqlite3_column_int64(st, 5);
    b->batch_ms = sqlite3_column_int64(st, 6);
    b->force_reprocess = sqlite3_column_int(st, 7);
    b->status = sqlite3_column_int(st, 8);
    je_sqlite_col_text(st, 9, b->reason, sizeof b->reason);
    je_sqlite_col_text(st, 10, b->ticket, sizeof b->ticket);
    b->plan_batches = sqlite3_column_int64(st, 11);
    b->plan_known = sqlite3_column_int64(st, 12);
    b->plan_processed = sqlite3_column_int64(st, 13);
    je_sqlite_col_text(st, 14, b->plan_hash, sizeof b->plan_hash);
    je_sqlite_col_text(st, 15, b->safety_checks, sizeof b->safety_checks);
    b->batches_submitted = sqlite3_column_int64(st, 16);
    b->batches_done = sqlite3_column_int64(st, 17);
    b->events_processed = sqlite3_column_int64(st, 18);
    b->duplicates_skipped = sqlite3_column_int64(st, 19);
    b->events_failed = sqlite3_column_int64(st, 20);
    b->created_ms = sqlite3_column_int64(st, 21);
    je_sqlite_col_text(st, 22, b->created_by, sizeof b->created_by);
    b->started_ms = je_sqlite_col_opt(st, 23);
    b->completed_ms = je_sqlite_col_opt(st, 24);
    je_sqlite_col_text(st, 25, b->error, sizeof b->error);
    b->version = sqlite3_column_int64(st, 26);
}

int je_sqlite_backfill_save(sqlite3 *db, const je_backfill_record *b, je_err *err) {
    sqlite3_stmt *st =
        je_sqlite_prepare(db,
                          "INSERT OR REPLACE INTO backfills(" JE_SQLITE_BF_COLS
                          ") VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,"
                          "?12,?13,?14,?15,?16,?17,?18,?19,?20,?21,?22,?23,?24,?25,?26,?27)",
                          err);
    if (!st) return -1;
    const char *texts[] = {b->tenant_id, b->backfill_id, b->source_id, b->job_type};
    for (int i = 0; i < 4; i++) sqlite3_bind_text(st, i + 1, texts[i], -1, SQLITE_STATIC);
    const int64_t ints[] = {b->window_start_ms, b->window_end_ms, b->batch_ms, b->force_reprocess,
                            b->status};
    for (int i = 0; i < 5; i++) sqlite3_bind_int64(st, i + 5, ints[i]);
    sqlite3_bind_text(st, 10, b->reason, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 11, b->ticket, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 12, b->plan_batches);
    sqlite3_bind_int64(st, 13, b->plan_known);
    sqlite3_bind_int64(st, 14, b->plan_processed);
    sqlite3_bind_text(st, 15, b->plan_hash, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 16, b->safety_checks, -1, SQLITE_STATIC);
    const int64_t progress[] = {b->batches_submitted,  b->batches_done,  b->events_processed,
                                b->duplicates_skipped, b->events_failed, b->created_ms};
    for (int i = 0; i < 6; i++) sqlite3_bind_int64(st, i + 17, progress[i]);
    sqlite3_bind_text(st, 23, b->created_by, -1, SQLITE_STATIC);
    je_sqlite_bind_opt_int(st, 24, b->started_ms);
    je_sqlite_bind_opt_int(st, 25, b->completed_ms);
    if (b->error[0])
        sqlite3_bind_text(st, 26, b->error, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 26);
    sqlite3_bind_int64(st, 27, b->version);
    int rc = sqlite3_step(st);
    je_sqlite_done(st);
    return rc == SQLITE_DONE ? 0 : je_sqlite_fail(err, db, "backfill save");
}

int je_sqlite_backfill_load(sqlite3 *db, const char *tenant, const char *id,
                            je_backfill_record *out, je_err *err) {
    sqlite3_stmt *st = je_sqlite_prepare(
        db, "SELECT " JE_SQLITE_BF_COLS " FROM backfills WHERE tenant_id=?1 AND backfill_id=?2",
        err);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st), found = JE_STORE_NOT_FOUND;
    if (rc == SQLITE_ROW)
        je_sqlite_backfill_from_row(st, out), found = JE_STORE_OK;
    else if (rc != SQLITE_DONE)
        found = je_sqlite_fail(err, db, "backfill load");
    je_sqlite_done(st);
    return found;
}

int je_sqlite_backfill_finished(sqlite3 *db, const je_backfill_record *before,
                                const je_backfill_record *b, int64_t now, je_err *err) {
    if (je_sqlite_backfill_save(db, b, err) != 0) return -1;
    je_store *s = je_sqlite_tx_store;
    if (!s || !s->hooks || !s->hooks->backfill_audit) return 0;
    json_t *e = s->hooks->backfill_audit(before, b, now);
    int rc = e ? je_sqlite_audit_append_tx(db, e, err) : 0;
    json_decref(e);
    return rc;
}

int je_sqlite_backfill_batch_done(sqlite3 *db, const je_job *j, int succeeded, int final_failure,
                                  int64_t events, int64_t now, je_err *err) {
    je_backfill_record b;
    int found = je_sqlite_backfill_load(db, j->tenant_id, j->backfill_id, &b, err);
    if (found != JE_STORE_OK) return found == JE_STORE_NOT_FOUND ? 0 : -1;
    je_backfill_record before = b;
    je_backfill_state after =
        je_backfill_batch_done(&b, j->batch, succeeded, final_failure, events, now);
    if (after != (je_backfill_state)before.status)
        return je_sqlite_backfill_finished(db, &before, &b, now, err);
    return je_sqlite_backfill_save(db, &b, err);
}
