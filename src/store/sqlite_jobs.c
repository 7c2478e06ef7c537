/* store/sqlite_jobs.c: the SQLite backend's jobs: submit, reads, heartbeat, complete and lease
 * expiry. Leasing itself (the quota decisions) is in sqlite_lease.c. A leased job holds one slot
 * of the quota recorded in its quota_id; every path that ends a lease (complete, expiry) gives
 * that slot back in the same transaction. */
#include "store/sqlite_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define JOB_COLS                                                                                   \
    "tenant_id, job_id, job_type, status, lane, priority, payload, source_id, event_key, "         \
    "event_time_ms, backfill_id, batch, window_start_ms, window_end_ms, attempt, failures, "       \
    "max_attempts, available_ms, lease_id, lease_until_ms, lease_ms, worker_id, quota_id, error, " \
    "created_ms, updated_ms, completed_ms"

void je_job_free(je_job *j) {
    if (!j) return;
    free(j->payload);
    j->payload = NULL;
}

static void text_col(sqlite3_stmt *st, int i, char *dst, size_t cap) {
    const unsigned char *t = sqlite3_column_text(st, i);
    snprintf(dst, cap, "%s", t ? (const char *)t : "");
}

static int64_t opt_int(sqlite3_stmt *st, int i) {
    return sqlite3_column_type(st, i) == SQLITE_NULL ? JE_NO_TIME : sqlite3_column_int64(st, i);
}

void je_sqlite_job_from_row(sqlite3_stmt *st, je_job *j) {
    memset(j, 0, sizeof *j);
    text_col(st, 0, j->tenant_id, sizeof j->tenant_id);
    text_col(st, 1, j->job_id, sizeof j->job_id);
    text_col(st, 2, j->job_type, sizeof j->job_type);
    j->status = sqlite3_column_int(st, 3);
    j->lane = sqlite3_column_int(st, 4);
    j->priority = sqlite3_column_int64(st, 5);
    const unsigned char *p = sqlite3_column_text(st, 6);
    j->payload = strdup(p ? (const char *)p : "null");
    text_col(st, 7, j->source_id, sizeof j->source_id);
    text_col(st, 8, j->event_key, sizeof j->event_key);
    j->event_time_ms = opt_int(st, 9);
    text_col(st, 10, j->backfill_id, sizeof j->backfill_id);
    j->batch = opt_int(st, 11);
    j->window_start_ms = opt_int(st, 12);
    j->window_end_ms = opt_int(st, 13);
    j->attempt = sqlite3_column_int64(st, 14);
    j->failures = sqlite3_column_int64(st, 15);
    j->max_attempts = sqlite3_column_int64(st, 16);
    j->available_ms = sqlite3_column_int64(st, 17);
    text_col(st, 18, j->lease_id, sizeof j->lease_id);
    j->lease_until_ms = opt_int(st, 19);
    j->lease_ms = opt_int(st, 20);
    text_col(st, 21, j->worker_id, sizeof j->worker_id);
    text_col(st, 22, j->quota_id, sizeof j->quota_id);
    text_col(st, 23, j->error, sizeof j->error);
    j->created_ms = sqlite3_column_int64(st, 24);
    j->updated_ms = sqlite3_column_int64(st, 25);
    j->completed_ms = opt_int(st, 26);
}

static void bind_opt_text(sqlite3_stmt *st, int i, const char *s) {
    if (s && *s)
        sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

static void bind_opt_int(sqlite3_stmt *st, int i, int64_t v) {
    if (v == JE_NO_TIME)
        sqlite3_bind_null(st, i);
    else
        sqlite3_bind_int64(st, i, v);
}

/* INSERT OR REPLACE of the whole row. */
int je_sqlite_job_save(sqlite3 *db, const je_job *j, je_err *err) {
    sqlite3_stmt *st = je_sqlite_prepare(
        db,
        "INSERT OR REPLACE INTO jobs(" JOB_COLS ") VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,"
        "?13,?14,?15,?16,?17,?18,?19,?20,?21,?22,?23,?24,?25,?26,?27)",
        err);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, j->tenant_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, j->job_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, j->job_type, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 4, j->status);
    sqlite3_bind_int(st, 5, j->lane);
    sqlite3_bind_int64(st, 6, j->priority);
    sqlite3_bind_text(st, 7, j->payload ? j->payload : "null", -1, SQLITE_STATIC);
    bind_opt_text(st, 8, j->source_id);
    bind_opt_text(st, 9, j->event_key);
    bind_opt_int(st, 10, j->event_time_ms);
    bind_opt_text(st, 11, j->backfill_id);
    bind_opt_int(st, 12, j->backfill_id[0] ? j->batch : JE_NO_TIME);
    bind_opt_int(st, 13, j->backfill_id[0] ? j->window_start_ms : JE_NO_TIME);
    bind_opt_int(st, 14, j->backfill_id[0] ? j->window_end_ms : JE_NO_TIME);
    sqlite3_bind_int64(st, 15, j->attempt);
    sqlite3_bind_int64(st, 16, j->failures);
    sqlite3_bind_int64(st, 17, j->max_attempts);
    sqlite3_bind_int64(st, 18, j->available_ms);
    bind_opt_text(st, 19, j->lease_id);
    bind_opt_int(st, 20, j->lease_id[0] ? j->lease_until_ms : JE_NO_TIME);
    bind_opt_int(st, 21, j->lease_id[0] ? j->lease_ms : JE_NO_TIME);
    bind_opt_text(st, 22, j->worker_id);
    bind_opt_text(st, 23, j->quota_id);
    bind_opt_text(st, 24, j->error);
    sqlite3_bind_int64(st, 25, j->created_ms);
    sqlite3_bind_int64(st, 26, j->updated_ms);
    bind_opt_int(st, 27, j->completed_ms);
    int rc = sqlite3_step(st);
    je_sqlite_done(st);
    return rc == SQLITE_DONE ? 0 : je_sqlite_fail(err, db, "job save");
}

/* 1 found, 0 not, -1 error. */
int je_sqlite_job_load(sqlite3 *db, const char *tenant, const char *job_id, je_job *out,
                       je_err *err) {
    sqlite3_stmt *st = je_sqlite_prepare(
        db, "SELECT " JOB_COLS " FROM jobs WHERE tenant_id=?1 AND job_id=?2", err);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, job_id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st), found = 0;
    if (rc == SQLITE_ROW)
        je_sqlite_job_from_row(st, out), found = 1;
    else if (rc != SQLITE_DONE)
        found = je_sqlite_fail(err, db, "job load");
    je_sqlite_done(st);
    return found;
}
