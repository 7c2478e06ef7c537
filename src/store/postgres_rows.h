/* store/postgres_rows.h: the PostgreSQL backend's second tier, between the connections
 * (postgres.c) and the operations (postgres_<domain>.c): records to rows and back, and the steps
 * that several operations take inside their transaction (idempotency, audit append, freeing
 * expired permits and leases, settling ledger claims, a batch job's end on its backfill). No
 * rule lives here: the steps load rows, call core/, and save what it returns. Operation files
 * call this tier and postgres.c, never each other.
 *
 * Locks: a step that loads a row to change it locks it (FOR UPDATE), in the one order of
 * postgres_impl.h: quota rows (sorted by id), then capacity pool rows (sorted by job
 * type), then job rows, then the tenant's audit head. */
#ifndef JE_STORE_POSTGRES_ROWS_H
#define JE_STORE_POSTGRES_ROWS_H

#include "store/postgres_impl.h"
#include "store/backend.h"
#include "core/pool_gate.h"

/* Column lists, in the order the row loaders read them (the same as SQLite's). */
#define JE_PG_QUOTA_COLS                                                                           \
    "tenant_id, quota_id, job_type, max_active, max_per_hour, burst_capacity, "                    \
    "refill_per_second, paused, pause_reason, pause_ticket, active, hour_count, hour_start_ms, "   \
    "tokens, last_refill_ms, throttled, throttled_hour_ms, elevation_expires_ms, "                 \
    "prev_max_active, prev_max_per_hour, prev_burst_capacity, prev_refill_per_second, version, "   \
    "created_ms, created_by, updated_ms, updated_by, last_reason, last_ticket"
/* usage.pending of a quota of tenant T and job type J (SQL expressions): its pending jobs, and
 * for "*" those of every type with no quota of its own. The one rule, used by jobs_pending
 * (T, J parameters) and quota_view (T, J columns of the row). */
#define JE_PG_PENDING_SQL(T, J)                                                                    \
    "CASE WHEN " J "='*' THEN (SELECT count(*) FROM jobs WHERE tenant_id=" T " AND status=0 AND "  \
    "job_type NOT IN (SELECT job_type FROM quotas WHERE tenant_id=" T ")) ELSE (SELECT count(*) "  \
    "FROM jobs WHERE tenant_id=" T " AND status=0 AND job_type=" J ") END"
#define JE_PG_JOB_COLS                                                                             \
    "tenant_id, job_id, job_type, status, lane, priority, payload, source_id, event_key, "         \
    "event_time_ms, backfill_id, batch, window_start_ms, window_end_ms, attempt, failures, "       \
    "max_attempts, available_ms, lease_id, lease_until_ms, lease_ms, worker_id, quota_id, error, " \
    "created_ms, updated_ms, completed_ms"
#define JE_PG_BF_COLS                                                                              \
    "tenant_id, backfill_id, source_id, job_type, window_start_ms, window_end_ms, batch_ms, "      \
    "force_reprocess, status, reason, ticket, plan_batches, plan_known, plan_processed, "          \
    "plan_hash, safety_checks, batches_submitted, batches_done, events_processed, "                \
    "duplicates_skipped, events_failed, created_ms, created_by, started_ms, completed_ms, error, " \
    "version"

/* ---- capacity pools (postgres_rows_pool.c) ---- */
/* By job type, shares included, locked FOR UPDATE: JE_STORE_OK, NOT_FOUND or ERROR. */
int je_pg_pool_load(je_pg_tx *tx, const char *job_type, je_pool_record *out, je_err *err);
/* The same without the lock, for reads. */
int je_pg_pool_read(je_pg_tx *tx, const char *job_type, je_pool_record *out, je_err *err);
int je_pg_pool_list_tx(je_pg_tx *tx, je_pool_visit_fn fn, void *ctx, je_err *err);
/* The whole record (shares replaced); only the hour's counters (after a decision). */
int je_pg_pool_save(je_pg_tx *tx, const je_pool_record *r, je_err *err);
int je_pg_pool_counters_save(je_pg_tx *tx, const je_pool *p, je_err *err);
int je_pg_pool_delete(je_pg_tx *tx, const char *job_type, je_err *err);
/* As SQLite's (sqlite_rows.h): every tenant's use and demand of g's pool at now. */
int je_pg_pool_use_count(je_pg_tx *tx, je_pool_gate *g, const char *tenant, int64_t extra,
                         int64_t now, je_err *err);
/* The pool of job_type as a decision of tenant holds it (malloc'd; *out NULL: no pool), its row
 * locked when lock (a decision: after the quota rows, before job rows). */
int je_pg_pool_gate_open(je_pg_tx *tx, const char *job_type, const char *tenant, int64_t extra,
                         int64_t now, int lock, je_pool_gate **out, je_err *err);
/* The earliest end of a live lease or permit in the pool (JE_NO_TIME: none; INT64_MAX error). */
int64_t je_pg_pool_next_free(je_pg_tx *tx, const char *job_type, int64_t now, je_err *err);

/* ---- circuit breakers (postgres_rows_breaker.c) ---- */
int je_pg_breaker_load(je_pg_tx *tx, const char *job_type, const char *tenant, int lock,
                       je_breaker_row *out, je_err *err);
int je_pg_breaker_list_tx(je_pg_tx *tx, const char *job_type, je_breaker_visit_fn fn, void *ctx,
                          je_err *err);
int je_pg_breaker_save(je_pg_tx *tx, const je_breaker_row *r, je_err *err);
int je_pg_breaker_settings_spread(je_pg_tx *tx, const je_breaker_row *r, je_err *err);
int je_pg_breaker_delete_all(je_pg_tx *tx, const char *job_type, je_err *err);
/* As SQLite's (sqlite_rows.h), the rows locked FOR UPDATE. */
int je_pg_breaker_gate(je_pg_tx *tx, const char *job_type, const char *tenant, int64_t now,
                       je_breaker_row **out, je_err *err);
int je_pg_breaker_settle(je_pg_tx *tx, je_breaker_row *r, je_breaker_state before, int64_t now,
                         je_err *err);

/* ---- quotas (postgres_rows_quota.c) ---- */
void je_pg_quota_from_row(const PGresult *r, int row, je_quota_record *q);
/* By id (by_job_type = 0) or job type, locked FOR UPDATE: JE_STORE_OK, JE_STORE_NOT_FOUND or
 * JE_STORE_ERROR. */
int je_pg_quota_load(je_pg_tx *tx, const char *tenant, const char *key, int by_job_type,
                     je_quota_record *out, je_err *err);
/* Upsert on the primary key; a job type taken by another quota is "QUOTA_EXISTS". */
int je_pg_quota_save(je_pg_tx *tx, const je_quota_record *q, je_err *err);
int je_pg_quota_delete(je_pg_tx *tx, const je_quota_record *q, je_err *err);
/* Frees the slots of q's permits expired at now; *freed (optional) gets how many. */
int je_pg_permits_release_expired(je_pg_tx *tx, je_quota_record *q, int64_t now, int64_t *freed,
                                  je_err *err);
/* Reverts q's elevation when past its time (core), with its audit entry (the store's hook). */
int je_pg_elevation_expire_tx(je_pg_tx *tx, je_quota_record *q, int64_t now, je_err *err);
/* Gives n slots back to quota_id (when it still exists), locking, loading and saving it. */
int je_pg_quota_release_slots(je_pg_tx *tx, const char *tenant, const char *quota_id, int64_t n,
                              je_err *err);
/* The earliest expiry among q's permits and live leases, JE_NO_TIME when none; INT64_MAX on
 * error. */
int64_t je_pg_quota_earliest_expiry(je_pg_tx *tx, const je_quota_record *q, je_err *err);
/* The same, and *backfill gets the leased backfill-lane jobs charged to q (one statement). */
int64_t je_pg_quota_lease_facts(je_pg_tx *tx, const je_quota_record *q, int64_t *backfill,
                                je_err *err);

/* A sweep of the engine, per quota (postgres_rows_quota.c): reads the (tenant_id, quota_id)
 * pairs of pairs_sql (a literal whose $1 is now, LIMITed), then runs step once per pair, each in
 * a transaction of its own (quota row locked first), adding up what the steps count. Returns
 * the total, or a negative je_store_rc. */
typedef int (*je_pg_quota_step)(je_pg_tx *tx, const char *tenant, const char *quota_id, int64_t now,
                                int64_t *count, je_err *err);
int64_t je_pg_sweep_quotas(je_store *s, const char *pairs_sql, int64_t now, je_pg_quota_step step,
                           je_err *err);

/* ---- jobs (postgres_rows_job.c) ---- */
void je_pg_job_from_row(const PGresult *r, int row, je_job *j);
/* Upsert of the whole row. */
int je_pg_job_save(je_pg_tx *tx, const je_job *j, je_err *err);
/* Insert unless its id or its backfill batch (jobs_batch) is taken: 1 inserted, 0 taken (the
 * transaction goes on), -1 error. */
int je_pg_job_insert(je_pg_tx *tx, const je_job *j, je_err *err);
/* Locked FOR UPDATE: JE_STORE_OK, JE_STORE_NOT_FOUND or JE_STORE_ERROR. */
int je_pg_job_load(je_pg_tx *tx, const char *tenant, const char *job_id, je_job *out, je_err *err);
/* Only what a lease's liveness needs (status, lease_id, lease_until_ms; the rest zeroed, no
 * payload). Same results as je_pg_job_load. */
int je_pg_job_lease_load(je_pg_tx *tx, const char *tenant, const char *job_id, je_job *out,
                         je_err *err);
/* Leases of one quota (quota_id "" or NULL: leases charged to no quota) expired at now end
 * (core: je_job_lease_expire, stated as one UPDATE). Returns how many, or -1. */
int64_t je_pg_leases_expire_tx(je_pg_tx *tx, const char *tenant, const char *quota_id, int64_t now,
                               je_err *err);
/* ---- backfills (postgres_rows_backfill.c) ---- */
void je_pg_backfill_from_row(const PGresult *r, int row, je_backfill_record *b);
int je_pg_backfill_save(je_pg_tx *tx, const je_backfill_record *b, je_err *err);
/* Locked FOR UPDATE: JE_STORE_OK, JE_STORE_NOT_FOUND or JE_STORE_ERROR. */
int je_pg_backfill_load(je_pg_tx *tx, const char *tenant, const char *id, je_backfill_record *out,
                        je_err *err);
/* Saves b after an engine transition from before (completed or failed), with its audit entry
 * (the store's hook). */
int je_pg_backfill_finished(je_pg_tx *tx, const je_backfill_record *before,
                            const je_backfill_record *b, int64_t now, je_err *err);
/* Batch job j (finished: succeeded, or final_failure) counts on its backfill (core:
 * je_backfill_batch_done), which it may complete or fail. events: the claims it held. */
int je_pg_backfill_batch_done(je_pg_tx *tx, const je_job *j, int succeeded, int final_failure,
                              int64_t events, int64_t now, je_err *err);
/* When a job ends, its ledger claims become processed (succeeded) or are given up. Returns how
 * many claims it held, or -1. */
int64_t je_pg_ledger_settle(je_pg_tx *tx, const char *tenant, const char *job_id, int succeeded,
                            je_err *err);

/* ---- idempotency and audit (postgres_rows_tx.c) ---- */
/* 1 when the key was seen (idem->replayed or ->mismatch set), 0 when new, -1 error. */
int je_pg_idem_lookup(je_pg_tx *tx, const char *tenant, je_idem *idem, int64_t now, je_err *err);
int je_pg_idem_store(je_pg_tx *tx, const char *tenant, je_idem *idem, int64_t now, je_err *err);
/* Appends entry to its tenant's chain inside the caller's transaction, serialised on the
 * tenant's audit_heads row (locked last). */
int je_pg_audit_append_tx(je_pg_tx *tx, json_t *entry, je_err *err);

#endif
