/* store/sqlite_rows_job.c: job rows (sqlite_rows.h), the expiry of leases as one statement, and
 * the ledger's rows outside a claim: the integer id of a (tenant, source) and the settling of a
 * finished job's claims (migrations/007_ledger_split.sql). */
#include "store/sqlite_rows.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void je_sqlite_job_from_row(sqlite3_stmt *st, je_job *j) {
    memset(j, 0, sizeof *j);
    je_sqlite_col_text(st, 0, j->tenant_id, sizeof j->tenant_id);
    je_sqlite_col_text(st, 1, j->job_id, sizeof j->job_id);
    je_sqlite_col_text(st, 2, j->job_type, sizeof j->job_type);
    j->status = sqlite3_column_int(st, 3);
    j->lane = sqlite3_column_int(st, 4);
    j->priority = sqlite3_column_int64(st, 5);
    const unsigned char *p = sqlite3_column_text(st, 6);
    j->payload = strdup(p ? (const char *)p : "null");
    je_sqlite_col_text(st, 7, j->source_id, sizeof j->source_id);
    je_sqlite_col_text(st, 8, j->event_key, sizeof j->event_key);
    j->event_time_ms = je_sqlite_col_opt(st, 9);
    je_sqlite_col_text(st, 10, j->backfill_id, sizeof j->backfill_id);
    j->batch = je_sqlite_col_opt(st, 11);
    j->window_start_ms = je_sqlite_col_opt(st, 12);
    j->window_end_ms = je_sqlite_col_opt(st, 13);
    j->attempt = sqlite3_column_int64(st, 14);
    j->failures = sqlite3_column_int64(st, 15);
    j->max_attempts = sqlite3_column_int64(st, 16);
    j->available_ms = sqlite3_column_int64(st, 17);
    je_sqlite_col_text(st, 18, j->lease_id, sizeof j->lease_id);
    j->lease_until_ms = je_sqlite_col_opt(st, 19);
    j->lease_ms = je_sqlite_col_opt(st, 20);
    je_sqlite_col_text(st, 21, j->worker_id, sizeof j->worker_id);
    je_sqlite_col_text(st, 22, j->quota_id, sizeof j->quota_id);
    je_sqlite_col_text(st, 23, j->error, sizeof j->error);
    j->created_ms = sqlite3_column_int64(st, 24);
    j->updated_ms = sqlite3_column_int64(st, 25);
    j->completed_ms = je_sqlite_col_opt(st, 26);
}

int je_sqlite_job_save(sqlite3 *db, const je_job *j, je_err *err) {
    sqlite3_stmt *st = je_sqlite_prepare(
        db,
        /* An upsert, not a REPLACE: an existing row is updated in place,
         * and the columns that never change after submit (key, created_ms,
         * backfill_id, batch) are left out of SET, so SQLite leaves the
         * primary key, jobs_list and jobs_batch alone; a batch taken by
         * another job is a constraint error, never a silent replacement. */
        "INSERT INTO jobs(" JE_SQLITE_JOB_COLS ") VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,"
        "?13,?14,?15,?16,?17,?18,?19,?20,?21,?22,?23,?24,?25,?26,?27) "
        "ON CONFLICT(tenant_id, job_id) DO UPDATE SET "
        "job_type=excluded.job_type, status=excluded.status, "
        "lane=excluded.lane, priority=excluded.priority, "
        "payload=excluded.payload, source_id=excluded.source_id, "
        "event_key=excluded.event_key, event_time_ms=excluded.event_time_ms, "
        "window_start_ms=excluded.window_start_ms, "
        "window_end_ms=excluded.window_end_ms, attempt=excluded.attempt, "
        "failures=excluded.failures, max_attempts=excluded.max_attempts, "
        "available_ms=excluded.available_ms, lease_id=excluded.lease_id, "
        "lease_until_ms=excluded.lease_until_ms, lease_ms=excluded.lease_ms, "
        "worker_id=excluded.worker_id, quota_id=excluded.quota_id, "
        "error=excluded.error, updated_ms=excluded.updated_ms, "
        "completed_ms=excluded.completed_ms",
        err);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, j->tenant_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, j->job_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, j->job_type, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 4, j->status);
    sqlite3_bind_int(st, 5, j->lane);
    sqlite3_bind_int64(st, 6, j->priority);
    sqlite3_bind_text(st, 7, j->payload ? j->payload : "null", -1, SQLITE_STATIC);
    je_sqlite_bind_opt_text(st, 8, j->source_id);
    je_sqlite_bind_opt_text(st, 9, j->event_key);
    je_sqlite_bind_opt_int(st, 10, j->event_time_ms);
    je_sqlite_bind_opt_text(st, 11, j->backfill_id);
    je_sqlite_bind_opt_int(st, 12, j->backfill_id[0] ? j->batch : JE_NO_TIME);
    je_sqlite_bind_opt_int(st, 13, j->backfill_id[0] ? j->window_start_ms : JE_NO_TIME);
    je_sqlite_bind_opt_int(st, 14, j->backfill_id[0] ? j->window_end_ms : JE_NO_TIME);
    sqlite3_bind_int64(st, 15, j->attempt);
    sqlite3_bind_int64(st, 16, j->failures);
    sqlite3_bind_int64(st, 17, j->max_attempts);
    sqlite3_bind_int64(st, 18, j->available_ms);
    je_sqlite_bind_opt_text(st, 19, j->lease_id);
    je_sqlite_bind_opt_int(st, 20, j->lease_id[0] ? j->lease_until_ms : JE_NO_TIME);
    je_sqlite_bind_opt_int(st, 21, j->lease_id[0] ? j->lease_ms : JE_NO_TIME);
    je_sqlite_bind_opt_text(st, 22, j->worker_id);
    je_sqlite_bind_opt_text(st, 23, j->quota_id);
    je_sqlite_bind_opt_text(st, 24, j->error);
    sqlite3_bind_int64(st, 25, j->created_ms);
    sqlite3_bind_int64(st, 26, j->updated_ms);
    je_sqlite_bind_opt_int(st, 27, j->completed_ms);
    int rc = sqlite3_step(st);
    je_sqlite_done(st);
    return rc == SQLITE_DONE ? 0 : je_sqlite_fail(err, db, "job save");
}

int je_sqlite_job_load(sqlite3 *db, const char *tenant, const char *job_id, je_job *out,
                       je_err *err) {
    sqlite3_stmt *st = je_sqlite_prepare(
        db, "SELECT " JE_SQLITE_JOB_COLS " FROM jobs WHERE tenant_id=?1 AND job_id=?2", err);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, job_id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st), found = JE_STORE_NOT_FOUND;
    if (rc == SQLITE_ROW)
        je_sqlite_job_from_row(st, out), found = JE_STORE_OK;
    else if (rc != SQLITE_DONE)
        found = je_sqlite_fail(err, db, "job load");
    je_sqlite_done(st);
    return found;
}

_Static_assert(JE_JOB_PENDING == 0 && JE_JOB_LEASED == 1 && JE_BF_RUNNING == 1,
               "the SQL of the SQLite backend and its partial indexes name these values");

int je_sqlite_job_lease_load(sqlite3 *db, const char *tenant, const char *job_id, je_job *out,
                             je_err *err) {
    sqlite3_stmt *st = je_sqlite_prepare(
        db, "SELECT status, lease_id, lease_until_ms FROM jobs WHERE tenant_id=?1 AND job_id=?2",
        err);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, job_id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st), found = JE_STORE_NOT_FOUND;
    memset(out, 0, sizeof *out);
    if (rc == SQLITE_ROW) {
        out->status = sqlite3_column_int(st, 0);
        je_sqlite_col_text(st, 1, out->lease_id, sizeof out->lease_id);
        out->lease_until_ms = je_sqlite_col_opt(st, 2);
        found = JE_STORE_OK;
    } else if (rc != SQLITE_DONE) {
        found = je_sqlite_fail(err, db, "job lease load");
    }
    je_sqlite_done(st);
    return found;
}

/* The candidates are read by an indexed predicate (leased, lease_until_ms <= now: not
 * je_job_lease_live); core confirms each and ends it (je_job_lease_expire). Usually none. */
int64_t je_sqlite_leases_expire_tx(sqlite3 *db, const char *tenant, const char *quota_id,
                                   int64_t now, je_err *err) {
    /* status=1 (JE_JOB_LEASED) is a literal: only then can SQLite use the partial index
     * jobs_quota_leases (WHERE status = 1); a bound value would scan */
    sqlite3_stmt *st = je_sqlite_prepare(db,
                                         "SELECT " JE_SQLITE_JOB_COLS " FROM jobs WHERE "
                                         "tenant_id=?1 AND quota_id IS ?2 AND status=1 AND "
                                         "lease_until_ms <= ?3",
                                         err);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
    if (quota_id && *quota_id) sqlite3_bind_text(st, 2, quota_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, now);
    size_t n = 0, cap = 0;
    je_job *list = NULL;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == cap) {
            je_job *nl = realloc(list, (cap = cap ? cap * 2 : 8) * sizeof *list);
            if (!nl) break;
            list = nl;
        }
        je_sqlite_job_from_row(st, &list[n++]);
    }
    je_sqlite_done(st);
    int64_t ended = rc == SQLITE_DONE ? 0 : je_sqlite_fail(err, db, "lease expiry");
    for (size_t i = 0; i < n; i++) {
        if (ended >= 0 && !je_job_lease_live(&list[i], NULL, now)) {
            je_job_lease_expire(&list[i], now);
            ended = je_sqlite_job_save(db, &list[i], err) == 0 ? ended + 1 : -1;
        }
        je_job_free(&list[i]);
    }
    free(list);
    return ended;
}

int64_t je_sqlite_ledger_source(sqlite3 *db, const char *tenant, const char *source_id, int create,
                                je_err *err) {
    sqlite3_stmt *st = je_sqlite_prepare(
        db, "SELECT id FROM ledger_sources WHERE tenant_id=?1 AND source_id=?2", err);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, source_id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    int64_t id = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    je_sqlite_done(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return je_sqlite_fail(err, db, "ledger source");
    if (id || !create) return id;
    st = je_sqlite_prepare(db, "INSERT INTO ledger_sources(tenant_id, source_id) VALUES(?1, ?2)",
                           err);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, source_id, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    je_sqlite_done(st);
    if (rc != SQLITE_DONE) return je_sqlite_fail(err, db, "ledger source");
    return sqlite3_last_insert_rowid(db);
}

/* A job's claims, of any source of its tenant, settle into the ledger: processed with the digest
 * claimed (else the one it had), or given up (the entry known, as it was, at the claim's time). */
static const char SETTLE_DONE_SQL[] =
    "INSERT INTO ledger(source, event_key, event_time_ms, processed, processed_digest) SELECT "
    "c.source, c.event_key, c.event_time_ms, 1, c.digest FROM ledger_claims c WHERE c.job_id=?2 "
    "AND c.source IN (SELECT id FROM ledger_sources WHERE tenant_id=?1) ON CONFLICT DO UPDATE "
    "SET event_time_ms=excluded.event_time_ms, processed=1, "
    "processed_digest=coalesce(excluded.processed_digest, processed_digest)";
static const char SETTLE_GIVE_UP_SQL[] =
    "INSERT INTO ledger(source, event_key, event_time_ms, processed, processed_digest) SELECT "
    "c.source, c.event_key, c.event_time_ms, 0, NULL FROM ledger_claims c WHERE c.job_id=?2 AND "
    "c.source IN (SELECT id FROM ledger_sources WHERE tenant_id=?1) ON CONFLICT DO UPDATE SET "
    "event_time_ms=excluded.event_time_ms";
static const char SETTLE_DROP_SQL[] =
    "DELETE FROM ledger_claims WHERE job_id=?2 AND source IN (SELECT id FROM ledger_sources "
    "WHERE tenant_id=?1)";

static int64_t settle_step(sqlite3 *db, const char *sql, const char *tenant, const char *job_id,
                           je_err *err) {
    sqlite3_stmt *st = je_sqlite_prepare(db, sql, err);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, job_id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    je_sqlite_done(st);
    if (rc != SQLITE_DONE) return je_sqlite_fail(err, db, "ledger settle");
    return sqlite3_changes(db);
}

int64_t je_sqlite_ledger_settle(sqlite3 *db, const char *tenant, const char *job_id, int succeeded,
                                je_err *err) {
    if (settle_step(db, succeeded ? SETTLE_DONE_SQL : SETTLE_GIVE_UP_SQL, tenant, job_id, err) < 0)
        return -1;
    return settle_step(db, SETTLE_DROP_SQL, tenant, job_id, err);
}
