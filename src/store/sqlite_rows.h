/* store/sqlite_rows.h: the SQLite backend's second tier, between the connections (sqlite.c)
 * and the operations (sqlite_<domain>.c): records to rows and back, and the steps that several
 * operations take inside their write transaction (idempotency, audit append, freeing expired
 * permits and leases, settling ledger claims, a batch job's end on its backfill). No rule lives
 * here: the steps load rows, call core/, and save what it returns. Operation files call this
 * tier and sqlite.c, never each other. */
#ifndef JE_STORE_SQLITE_ROWS_H
#define JE_STORE_SQLITE_ROWS_H

#include "store/sqlite_impl.h"
#include "store/backend.h"
#include "core/pool_gate.h"

/* Column lists, in the order the row loaders read them. */
#define JE_SQLITE_QUOTA_COLS                                                                       \
    "tenant_id, quota_id, job_type, max_active, max_per_hour, burst_capacity, "                    \
    "refill_per_second, paused, pause_reason, pause_ticket, active, hour_count, hour_start_ms, "   \
    "tokens, last_refill_ms, throttled, throttled_hour_ms, elevation_expires_ms, "                 \
    "prev_max_active, prev_max_per_hour, prev_burst_capacity, prev_refill_per_second, version, "   \
    "created_ms, created_by, updated_ms, updated_by, last_reason, last_ticket"
/* usage.pending of a quota of tenant T and job type J (SQL expressions): its pending jobs, and
 * for "*" those of every type with no quota of its own. Both branches count through jobs_ready
 * (a partial index of pending jobs only), never through the tenant's finished jobs. The one
 * rule, used by jobs_pending (T, J parameters) and quota_view (T, J columns of the row). */
#define JE_SQLITE_PENDING_SQL(T, J)                                                                \
    "CASE WHEN " J "='*' THEN (SELECT count(*) FROM jobs INDEXED BY jobs_ready WHERE tenant_id=" T \
    " AND status=0 AND job_type NOT IN (SELECT job_type FROM quotas WHERE tenant_id=" T            \
    ")) ELSE (SELECT count(*) FROM jobs WHERE tenant_id=" T " AND status=0 AND job_type=" J        \
    ") END"
#define JE_SQLITE_JOB_COLS                                                                         \
    "tenant_id, job_id, job_type, status, lane, priority, payload, source_id, event_key, "         \
    "event_time_ms, backfill_id, batch, window_start_ms, window_end_ms, attempt, failures, "       \
    "max_attempts, available_ms, lease_id, lease_until_ms, lease_ms, worker_id, quota_id, error, " \
    "created_ms, updated_ms, completed_ms"
#define JE_SQLITE_BF_COLS                                                                          \
    "tenant_id, backfill_id, source_id, job_type, window_start_ms, window_end_ms, batch_ms, "      \
    "force_reprocess, status, reason, ticket, plan_batches, plan_known, plan_processed, "          \
    "plan_hash, safety_checks, batches_submitted, batches_done, events_processed, "                \
    "duplicates_skipped, events_failed, created_ms, created_by, started_ms, completed_ms, error, " \
    "version"

/* ---- capacity pools (sqlite_rows_pool.c) ---- */
/* By job type, shares included: JE_STORE_OK, JE_STORE_NOT_FOUND or JE_STORE_ERROR. */
int je_sqlite_pool_load(sqlite3 *db, const char *job_type, je_pool_record *out, je_err *err);
int je_sqlite_pool_list_tx(sqlite3 *db, je_pool_visit_fn fn, void *ctx, je_err *err);
/* The whole record (shares replaced); only the hour's counters (after a decision). */
int je_sqlite_pool_save(sqlite3 *db, const je_pool_record *r, je_err *err);
int je_sqlite_pool_counters_save(sqlite3 *db, const je_pool *p, je_err *err);
int je_sqlite_pool_delete(sqlite3 *db, const char *job_type, je_err *err);
/* Counts every tenant's use of g's pool at now into g (active: live leases of the job type and
 * live permits of its quotas; demand: its pending jobs (a retry backoff not looked at), for the
 * strategies that use it), the listed tenants and tenant (when given, its demand + extra) always
 * present. */
int je_sqlite_pool_use_count(sqlite3 *db, je_pool_gate *g, const char *tenant, int64_t extra,
                             int64_t now, je_err *err);
/* The pool of job_type as a decision of tenant holds it (malloc'd; *out NULL: no pool). */
int je_sqlite_pool_gate_open(sqlite3 *db, const char *job_type, const char *tenant, int64_t extra,
                             int64_t now, je_pool_gate **out, je_err *err);
/* The earliest end of a live lease or permit in the pool (JE_NO_TIME: none; INT64_MAX error). */
int64_t je_sqlite_pool_next_free(sqlite3 *db, const char *job_type, int64_t now, je_err *err);

/* ---- circuit breakers (sqlite_rows_breaker.c) ---- */
int je_sqlite_breaker_load(sqlite3 *db, const char *job_type, const char *tenant,
                           je_breaker_row *out, je_err *err);
int je_sqlite_breaker_list_tx(sqlite3 *db, const char *job_type, je_breaker_visit_fn fn, void *ctx,
                              je_err *err);
int je_sqlite_breaker_save(sqlite3 *db, const je_breaker_row *r, je_err *err);
/* The job type's settings and per_tenant onto every tenant row of it. */
int je_sqlite_breaker_settings_spread(sqlite3 *db, const je_breaker_row *r, je_err *err);
int je_sqlite_breaker_delete_all(sqlite3 *db, const char *job_type, je_err *err);
/* The breaker governing tenant's work of job_type, advanced to now (malloc'd; *out NULL: the job
 * type has none). Remember je_breaker_effective before changing it, then settle it. */
int je_sqlite_breaker_gate(sqlite3 *db, const char *job_type, const char *tenant, int64_t now,
                           je_breaker_row **out, je_err *err);
/* Saves r, with the audit entry of an opening or closing since before. */
int je_sqlite_breaker_settle(sqlite3 *db, je_breaker_row *r, je_breaker_state before, int64_t now,
                             je_err *err);

/* ---- quotas (sqlite_rows_quota.c) ---- */
void je_sqlite_quota_from_row(sqlite3_stmt *st, je_quota_record *r);
/* By id (by_job_type = 0) or job type: JE_STORE_OK, JE_STORE_NOT_FOUND or JE_STORE_ERROR. */
int je_sqlite_quota_load(sqlite3 *db, const char *tenant, const char *key, int by_job_type,
                         je_quota_record *out, je_err *err);
/* Upsert on the primary key; a job type taken by another quota is "QUOTA_EXISTS". */
/* Steps st (a SELECT of JE_SQLITE_QUOTA_COLS first): JE_STORE_OK with out filled, NOT_FOUND, or
 * -1 with err set. */
int je_sqlite_quota_step(sqlite3 *db, sqlite3_stmt *st, je_quota_record *out, je_err *err);
int je_sqlite_quota_save(sqlite3 *db, const je_quota_record *r, je_err *err);
int je_sqlite_quota_delete(sqlite3 *db, const je_quota_record *r, je_err *err);
/* Frees the slots of r's permits expired at now; *freed (optional) gets how many. */
int je_sqlite_permits_release_expired(sqlite3 *db, je_quota_record *r, int64_t now, int64_t *freed,
                                      je_err *err);
/* Reverts r's elevation when past its time (core), with its audit entry (the store's hook). */
int je_sqlite_elevation_expire_tx(sqlite3 *db, je_quota_record *r, int64_t now, je_err *err);
/* Gives n slots back to quota_id (when it still exists), loading and saving it. */
int je_sqlite_quota_release_slots(sqlite3 *db, const char *tenant, const char *quota_id, int64_t n,
                                  je_err *err);
/* The earliest expiry among r's permits and live leases, JE_NO_TIME when none; INT64_MAX on
 * error. */
int64_t je_sqlite_quota_earliest_expiry(sqlite3 *db, const je_quota_record *r, je_err *err);
/* Leased backfill-lane jobs charged to r, or -1. */
int64_t je_sqlite_quota_backfill_leases(sqlite3 *db, const je_quota_record *r, je_err *err);

/* ---- jobs (sqlite_rows_job.c) ---- */
void je_sqlite_job_from_row(sqlite3_stmt *st, je_job *j);
/* INSERT OR REPLACE of the whole row. */
int je_sqlite_job_save(sqlite3 *db, const je_job *j, je_err *err);
/* JE_STORE_OK, JE_STORE_NOT_FOUND or JE_STORE_ERROR. */
int je_sqlite_job_load(sqlite3 *db, const char *tenant, const char *job_id, je_job *out,
                       je_err *err);
/* Only what a lease's liveness needs (status, lease_id, lease_until_ms; the rest zeroed, no
 * payload): for the checks made per event of a claim. Same results as je_sqlite_job_load. */
int je_sqlite_job_lease_load(sqlite3 *db, const char *tenant, const char *job_id, je_job *out,
                             je_err *err);
/* Leases of one quota (quota_id "" or NULL: leases charged to no quota) expired at now end
 * (core: je_job_lease_expire, stated as one UPDATE). Returns how many, or -1. */
int64_t je_sqlite_leases_expire_tx(sqlite3 *db, const char *tenant, const char *quota_id,
                                   int64_t now, je_err *err);
/* The ledger's integer id of (tenant, source) (migrations/007_ledger_split.sql): > 0, 0 when it
 * has none (and create is 0; else it gets one), or -1. */
int64_t je_sqlite_ledger_source(sqlite3 *db, const char *tenant, const char *source_id, int create,
                                je_err *err);
/* When a job ends, its ledger claims become processed (succeeded) or are given up. Returns how
 * many claims it held, or -1. */
int64_t je_sqlite_ledger_settle(sqlite3 *db, const char *tenant, const char *job_id, int succeeded,
                                je_err *err);

/* ---- backfills (sqlite_rows_backfill.c) ---- */
void je_sqlite_backfill_from_row(sqlite3_stmt *st, je_backfill_record *b);
int je_sqlite_backfill_save(sqlite3 *db, const je_backfill_record *b, je_err *err);
/* JE_STORE_OK, JE_STORE_NOT_FOUND or JE_STORE_ERROR. */
int je_sqlite_backfill_load(sqlite3 *db, const char *tenant, const char *id,
                            je_backfill_record *out, je_err *err);
/* Saves b after an engine transition from before (completed or failed), with its audit entry
 * (the store's hook). */
int je_sqlite_backfill_finished(sqlite3 *db, const je_backfill_record *before,
                                const je_backfill_record *b, int64_t now, je_err *err);
/* Batch job j (finished: succeeded, or final_failure) counts on its backfill (core:
 * je_backfill_batch_done), which it may complete or fail. events: the claims it held. */
int je_sqlite_backfill_batch_done(sqlite3 *db, const je_job *j, int succeeded, int final_failure,
                                  int64_t events, int64_t now, je_err *err);

/* ---- idempotency and audit (sqlite_rows_tx.c) ---- */
/* 1 when the key was seen (idem->replayed or ->mismatch set), 0 when new, -1 error. */
int je_sqlite_idem_lookup(sqlite3 *db, const char *tenant, je_idem *idem, int64_t now, je_err *err);
int je_sqlite_idem_store(sqlite3 *db, const char *tenant, je_idem *idem, int64_t now, je_err *err);
/* Appends entry to its tenant's chain inside the caller's write transaction. */
int je_sqlite_audit_append_tx(sqlite3 *db, json_t *entry, je_err *err);
/* Runs sql binding text ?1, ?2 (when not NULL) and integer ?3; *changes gets the rows changed. */
int je_sqlite_run(sqlite3 *db, const char *sql, const char *a, const char *b, int64_t n,
                  int64_t *changes, je_err *err);

#endif
