/* store/postgres_rows_job.c: job rows (postgres_rows.h) and the expiry of a quota's leases. A job
 * loaded to be changed is locked FOR UPDATE, after the quota row it is charged to (the one lock
 * order of postgres_impl.h). The ledger settle of a finished job is postgres_rows_backfill.c's. */
#include "store/postgres_rows.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(JE_JOB_PENDING == 0 && JE_JOB_LEASED == 1,
               "the SQL of the PostgreSQL backend and its partial indexes name these values");

void je_pg_job_from_row(const PGresult *r, int row, je_job *j) {
    memset(j, 0, sizeof *j);
    je_pg_get_text(r, row, 0, j->tenant_id, sizeof j->tenant_id);
    je_pg_get_text(r, row, 1, j->job_id, sizeof j->job_id);
    je_pg_get_text(r, row, 2, j->job_type, sizeof j->job_type);
    j->status = (int)je_pg_get_int(r, row, 3);
    j->lane = (int)je_pg_get_int(r, row, 4);
    j->priority = je_pg_get_int(r, row, 5);
    j->payload = strdup(PQgetisnull(r, row, 6) ? "null" : PQgetvalue(r, row, 6));
    je_pg_get_text(r, row, 7, j->source_id, sizeof j->source_id);
    je_pg_get_text(r, row, 8, j->event_key, sizeof j->event_key);
    j->event_time_ms = je_pg_get_opt(r, row, 9);
    je_pg_get_text(r, row, 10, j->backfill_id, sizeof j->backfill_id);
    j->batch = je_pg_get_opt(r, row, 11);
    j->window_start_ms = je_pg_get_opt(r, row, 12);
    j->window_end_ms = je_pg_get_opt(r, row, 13);
    j->attempt = je_pg_get_int(r, row, 14);
    j->failures = je_pg_get_int(r, row, 15);
    j->max_attempts = je_pg_get_int(r, row, 16);
    j->available_ms = je_pg_get_int(r, row, 17);
    je_pg_get_text(r, row, 18, j->lease_id, sizeof j->lease_id);
    j->lease_until_ms = je_pg_get_opt(r, row, 19);
    j->lease_ms = je_pg_get_opt(r, row, 20);
    je_pg_get_text(r, row, 21, j->worker_id, sizeof j->worker_id);
    je_pg_get_text(r, row, 22, j->quota_id, sizeof j->quota_id);
    je_pg_get_text(r, row, 23, j->error, sizeof j->error);
    j->created_ms = je_pg_get_int(r, row, 24);
    j->updated_ms = je_pg_get_int(r, row, 25);
    j->completed_ms = je_pg_get_opt(r, row, 26);
}

static const char save_sql[] =
    "INSERT INTO jobs(" JE_PG_JOB_COLS ") VALUES($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,"
    "$15,$16,$17,$18,$19,$20,$21,$22,$23,$24,$25,$26,$27) ON CONFLICT (tenant_id, job_id) DO "
    "UPDATE SET job_type=excluded.job_type, status=excluded.status, lane=excluded.lane, "
    "priority=excluded.priority, payload=excluded.payload, source_id=excluded.source_id, "
    "event_key=excluded.event_key, event_time_ms=excluded.event_time_ms, "
    "backfill_id=excluded.backfill_id, batch=excluded.batch, "
    "window_start_ms=excluded.window_start_ms, window_end_ms=excluded.window_end_ms, "
    "attempt=excluded.attempt, failures=excluded.failures, max_attempts=excluded.max_attempts, "
    "available_ms=excluded.available_ms, lease_id=excluded.lease_id, "
    "lease_until_ms=excluded.lease_until_ms, lease_ms=excluded.lease_ms, "
    "worker_id=excluded.worker_id, quota_id=excluded.quota_id, error=excluded.error, "
    "created_ms=excluded.created_ms, updated_ms=excluded.updated_ms, "
    "completed_ms=excluded.completed_ms";

/* The 27 columns of j, in JE_PG_JOB_COLS order. */
static void job_params(je_pg_params *pp, const je_job *j) {
    int bf = j->backfill_id[0] != '\0', leased = j->lease_id[0] != '\0';
    je_pg_text(pp, j->tenant_id);
    je_pg_text(pp, j->job_id);
    je_pg_text(pp, j->job_type);
    je_pg_int(pp, j->status);
    je_pg_int(pp, j->lane);
    je_pg_int(pp, j->priority);
    je_pg_text(pp, j->payload ? j->payload : "null");
    je_pg_opt_text(pp, j->source_id);
    je_pg_opt_text(pp, j->event_key);
    je_pg_opt_int(pp, j->event_time_ms);
    je_pg_opt_text(pp, j->backfill_id);
    je_pg_opt_int(pp, bf ? j->batch : JE_NO_TIME);
    je_pg_opt_int(pp, bf ? j->window_start_ms : JE_NO_TIME);
    je_pg_opt_int(pp, bf ? j->window_end_ms : JE_NO_TIME);
    je_pg_int(pp, j->attempt);
    je_pg_int(pp, j->failures);
    je_pg_int(pp, j->max_attempts);
    je_pg_int(pp, j->available_ms);
    je_pg_opt_text(pp, j->lease_id);
    je_pg_opt_int(pp, leased ? j->lease_until_ms : JE_NO_TIME);
    je_pg_opt_int(pp, leased ? j->lease_ms : JE_NO_TIME);
    je_pg_opt_text(pp, j->worker_id);
    je_pg_opt_text(pp, j->quota_id);
    je_pg_opt_text(pp, j->error);
    je_pg_int(pp, j->created_ms);
    je_pg_int(pp, j->updated_ms);
    je_pg_opt_int(pp, j->completed_ms);
}

int je_pg_job_save(je_pg_tx *tx, const je_job *j, je_err *err) {
    je_pg_params p = {0};
    job_params(&p, j);
    return je_pg_run(tx, save_sql, &p, NULL, err);
}

int je_pg_job_insert(je_pg_tx *tx, const je_job *j, je_err *err) {
    je_pg_params p = {0};
    job_params(&p, j);
    PGresult *r = je_pg_exec(tx,
                             "INSERT INTO jobs(" JE_PG_JOB_COLS
                             ") VALUES($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,"
                             "$18,$19,$20,$21,$22,$23,$24,$25,$26,$27) ON CONFLICT DO NOTHING "
                             "RETURNING 1",
                             &p, err);
    if (!r) return -1;
    int inserted = PQntuples(r) > 0;
    PQclear(r);
    return inserted;
}

int je_pg_job_load(je_pg_tx *tx, const char *tenant, const char *job_id, je_job *out, je_err *err) {
    je_pg_params p = {0};
    je_pg_text(&p, tenant);
    je_pg_text(&p, job_id);
    PGresult *r = je_pg_exec(tx,
                             "SELECT " JE_PG_JOB_COLS " FROM jobs WHERE tenant_id=$1 AND "
                             "job_id=$2 FOR UPDATE",
                             &p, err);
    if (!r) return JE_STORE_ERROR;
    int found = PQntuples(r) > 0 ? JE_STORE_OK : JE_STORE_NOT_FOUND;
    if (found == JE_STORE_OK) je_pg_job_from_row(r, 0, out);
    PQclear(r);
    return found;
}

int je_pg_job_lease_load(je_pg_tx *tx, const char *tenant, const char *job_id, je_job *out,
                         je_err *err) {
    je_pg_params p = {0};
    je_pg_text(&p, tenant);
    je_pg_text(&p, job_id);
    PGresult *r = je_pg_exec(tx,
                             "SELECT status, lease_id, lease_until_ms FROM jobs WHERE "
                             "tenant_id=$1 AND job_id=$2 FOR UPDATE",
                             &p, err);
    if (!r) return JE_STORE_ERROR;
    memset(out, 0, sizeof *out);
    int found = PQntuples(r) > 0 ? JE_STORE_OK : JE_STORE_NOT_FOUND;
    if (found == JE_STORE_OK) {
        out->status = (int)je_pg_get_int(r, 0, 0);
        je_pg_get_text(r, 0, 1, out->lease_id, sizeof out->lease_id);
        out->lease_until_ms = je_pg_get_opt(r, 0, 2);
    }
    PQclear(r);
    return found;
}

/* The candidates: leased, lease_until_ms <= now (not je_job_lease_live), charged to the quota
 * (or to none), locked. status=1 is a literal so the partial index jobs_quota_leases serves. */
static PGresult *expired_leases(je_pg_tx *tx, const char *tenant, const char *quota_id, int64_t now,
                                je_err *err) {
    je_pg_params p = {0};
    je_pg_text(&p, tenant);
    if (quota_id && *quota_id) {
        je_pg_text(&p, quota_id);
        je_pg_int(&p, now);
        return je_pg_exec(tx,
                          "SELECT " JE_PG_JOB_COLS " FROM jobs WHERE tenant_id=$1 AND quota_id=$2 "
                          "AND status=1 AND lease_until_ms <= $3::bigint FOR UPDATE",
                          &p, err);
    }
    je_pg_int(&p, now);
    return je_pg_exec(tx,
                      "SELECT " JE_PG_JOB_COLS " FROM jobs WHERE tenant_id=$1 AND quota_id IS NULL "
                      "AND status=1 AND lease_until_ms <= $2::bigint FOR UPDATE",
                      &p, err);
}

/* Core confirms each candidate and ends its lease (je_job_lease_expire). Usually none. */
int64_t je_pg_leases_expire_tx(je_pg_tx *tx, const char *tenant, const char *quota_id, int64_t now,
                               je_err *err) {
    PGresult *r = expired_leases(tx, tenant, quota_id, now, err);
    if (!r) return -1;
    int64_t ended = 0;
    for (int i = 0; i < PQntuples(r) && ended >= 0; i++) {
        je_job j;
        je_pg_job_from_row(r, i, &j);
        if (!je_job_lease_live(&j, NULL, now)) {
            je_job_lease_expire(&j, now);
            ended = je_pg_job_save(tx, &j, err) == 0 ? ended + 1 : -1;
        }
        je_job_free(&j);
    }
    PQclear(r);
    return ended;
}
