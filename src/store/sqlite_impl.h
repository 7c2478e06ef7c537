/* store/sqlite_impl.h: what the files of the SQLite backend share (not a public header).
 * sqlite.c owns the connections: a pool of read connections and one writer thread that runs
 * every write as an op of a group commit. sqlite_auth.c (clients, keys, revoked tokens) and
 * sqlite_audit.c (audit chains) implement the operations on top of them. */
#ifndef JE_STORE_SQLITE_IMPL_H
#define JE_STORE_SQLITE_IMPL_H

#include <sqlite3.h>
#include "store/store.h"

typedef struct je_sqlite je_sqlite;

/* A write op: runs on the writer thread inside its own SAVEPOINT of a batch transaction.
 * Returns 0, or -1 with err set (its changes are then rolled back, the batch goes on). */
typedef int (*je_sqlite_write_fn)(sqlite3 *db, void *arg, je_err *err);

/* The store whose write batch the calling thread (the writer) is running, for its hooks. */
extern _Thread_local je_store *je_sqlite_tx_store;

/* Queues fn and blocks until its batch committed (0) or failed (-1, err set). */
int je_sqlite_write(je_store *s, je_sqlite_write_fn fn, void *arg, je_err *err);

/* Borrows a read connection (thread-confined until given back); NULL with err set. */
sqlite3 *je_sqlite_read_get(je_store *s, je_err *err);
void je_sqlite_read_put(je_store *s, sqlite3 *db);

/* Sets err to code "STORE" with what failed and SQLite's message; returns -1. */
int je_sqlite_fail(je_err *err, sqlite3 *db, const char *what);

/* A prepared statement for sql on db, reused from the connection's cache when one is idle;
 * NULL with err set. Give it back with je_sqlite_done (never sqlite3_finalize). */
sqlite3_stmt *je_sqlite_prepare(sqlite3 *db, const char *sql, je_err *err);
void je_sqlite_done(sqlite3_stmt *st);

/* Appends entry to its tenant's chain inside the caller's write transaction (for ops that must
 * record audit atomically with their own change). */
int je_sqlite_audit_append_tx(sqlite3 *db, json_t *entry, je_err *err);

/* Operations, filled into the ops table by sqlite.c. */
int je_sqlite_client_put(je_store *s, const je_client *c, int create_only, je_err *err);
int je_sqlite_client_get(je_store *s, const char *id, je_client *out, je_err *err);
int je_sqlite_client_list(je_store *s, je_client_visit_fn fn, void *ctx, je_err *err);
int je_sqlite_client_remove(je_store *s, const char *id, je_err *err);
int64_t je_sqlite_client_count(je_store *s, je_err *err);
int je_sqlite_key_add(je_store *s, const je_key *k, je_err *err);
int je_sqlite_key_list(je_store *s, je_key *out, size_t cap, size_t *n, je_err *err);
int je_sqlite_revoke_add(je_store *s, const char *jti, int64_t exp_ms, je_err *err);
int je_sqlite_revoked_list(je_store *s, int64_t now_ms, je_jti_visit_fn fn, void *ctx, je_err *err);
int je_sqlite_audit_append(je_store *s, json_t *entry, je_err *err);
int je_sqlite_audit_list(je_store *s, const char *tenant, const je_audit_filter *filter,
                         je_audit_visit_fn fn, void *ctx, je_err *err);
int je_sqlite_audit_scan(je_store *s, const char *tenant, int64_t from_sequence,
                         je_audit_visit_fn fn, void *ctx, je_err *err);
/* Shared inside the backend (sqlite_quota.c), for ops that decide on quotas in their own
 * transaction (leasing). */
int64_t je_sqlite_now_ms(void);
int je_sqlite_idem_lookup(sqlite3 *db, const char *tenant, je_idem *idem, int64_t now, je_err *err);
int je_sqlite_idem_store(sqlite3 *db, const char *tenant, je_idem *idem, int64_t now, je_err *err);
int je_sqlite_quota_load(sqlite3 *db, const char *tenant, const char *key, int by_job_type,
                         je_quota_record *out, je_err *err);
int je_sqlite_quota_save(sqlite3 *db, const je_quota_record *r, je_err *err);
int je_sqlite_permits_release_expired(sqlite3 *db, je_quota_record *r, int64_t now, int64_t *freed,
                                      je_err *err);
int je_sqlite_elevation_expire_tx(sqlite3 *db, je_quota_record *r, int64_t now,
                                  je_elevation_audit_fn make_audit, je_err *err);
/* sqlite_jobs.c */
void je_sqlite_job_from_row(sqlite3_stmt *st, je_job *j);
int je_sqlite_job_save(sqlite3 *db, const je_job *j, je_err *err);
int je_sqlite_job_load(sqlite3 *db, const char *tenant, const char *job_id, je_job *out,
                       je_err *err);
/* Expired leases of one quota (or of every quota when quota_id is NULL, tenant too) go back to
 * pending; *per_quota gets how many belonged to quota_id. Returns the count or -1. */
int64_t je_sqlite_leases_expire_tx(sqlite3 *db, const char *tenant, const char *quota_id,
                                   int64_t now, je_err *err);
/* The earliest expiry among the quota's permits and leases, JE_NO_TIME when none; INT64_MAX on
 * error. */
int64_t je_sqlite_quota_earliest_expiry(sqlite3 *db, const je_quota_record *r, je_err *err);

int je_sqlite_quota_get(je_store *s, const char *tenant, const char *quota_id, je_quota_record *out,
                        je_err *err);
int je_sqlite_quota_list(je_store *s, const char *tenant, const je_quota_filter *f,
                         je_quota_visit_fn fn, void *ctx, je_err *err);
int je_sqlite_quota_change(je_store *s, const char *tenant, const char *quota_id,
                           const char *job_type, je_quota_change_fn fn, void *ctx, je_idem *idem,
                           je_quota_record *out, je_err *err);
int je_sqlite_quota_acquire(je_store *s, const char *tenant, const char *quota_id, int64_t ttl_ms,
                            int64_t now_ms, je_idem *idem, je_elevation_audit_fn make_audit,
                            je_acquire *out, je_err *err);
int je_sqlite_quota_release(je_store *s, const char *tenant, const char *quota_id,
                            const char *permit_id, int64_t now_ms, je_err *err);
int64_t je_sqlite_permits_expire(je_store *s, int64_t now_ms, je_err *err);
int64_t je_sqlite_elevations_expire(je_store *s, int64_t now_ms, je_elevation_audit_fn make_audit,
                                    je_err *err);
int64_t je_sqlite_idem_prune(je_store *s, int64_t before_ms, je_err *err);
int je_sqlite_job_submit(je_store *s, je_job *j, je_idem *idem, je_err *err);
int je_sqlite_job_get(je_store *s, const char *tenant, const char *job_id, je_job *out,
                      je_err *err);
int je_sqlite_job_list(je_store *s, const char *tenant, const je_job_filter *f, je_job_visit_fn fn,
                       void *ctx, je_err *err);
int je_sqlite_job_counts(je_store *s, const char *tenant, je_job_count_fn fn, void *ctx,
                         je_err *err);
int64_t je_sqlite_jobs_pending(je_store *s, const char *tenant, const char *job_type, je_err *err);
int je_sqlite_jobs_lease(je_store *s, const char *tenant, const je_lease_req *req,
                         je_elevation_audit_fn make_audit, je_lease_out *out, je_err *err);
int je_sqlite_job_heartbeat(je_store *s, const char *tenant, const char *job_id,
                            const char *lease_id, int64_t extend_ms, int64_t now_ms, je_job *out,
                            je_err *err);
int je_sqlite_job_complete(je_store *s, const char *tenant, const char *job_id,
                           const char *lease_id, int succeeded, const char *error, int64_t now_ms,
                           je_job *out, je_err *err);
int64_t je_sqlite_leases_expire(je_store *s, int64_t now_ms, je_err *err);
/* sqlite_backfill.c, sqlite_ledger.c */
int je_sqlite_backfill_save(sqlite3 *db, const je_backfill_record *b, je_err *err);
int je_sqlite_backfill_load(sqlite3 *db, const char *tenant, const char *id,
                            je_backfill_record *out, je_err *err);
int je_sqlite_backfill_batch_done(sqlite3 *db, je_store *s, const je_job *j, int succeeded,
                                  int final_failure, int64_t events, int64_t now, je_err *err);
int64_t je_sqlite_ledger_settle(sqlite3 *db, const char *tenant, const char *job_id, int succeeded,
                                je_err *err);
int je_sqlite_backfill_facts(je_store *s, const char *tenant, const char *source_id,
                             const char *job_type, int64_t start_ms, int64_t end_ms,
                             int64_t suppression_ms, int64_t now_ms, je_backfill_store_facts *out,
                             je_err *err);
int je_sqlite_backfill_create(je_store *s, const char *tenant, const char *source_id,
                              const char *job_type, int64_t start_ms, int64_t end_ms,
                              int64_t suppression_ms, je_backfill_create_fn fn, void *ctx,
                              je_idem *idem, je_backfill_record *out, je_err *err);
int je_sqlite_backfill_get(je_store *s, const char *tenant, const char *backfill_id,
                           je_backfill_record *out, je_err *err);
int je_sqlite_backfill_list(je_store *s, const char *tenant, const je_backfill_filter *f,
                            je_backfill_visit_fn fn, void *ctx, je_err *err);
int je_sqlite_backfill_change(je_store *s, const char *tenant, const char *backfill_id,
                              je_backfill_change_fn fn, void *ctx, je_backfill_record *out,
                              je_err *err);
int64_t je_sqlite_backfills_advance(je_store *s, int64_t now_ms, int64_t in_flight,
                                    int64_t max_attempts, je_err *err);
int je_sqlite_ledger_claim(je_store *s, const char *tenant, const char *source_id,
                           const char *job_id, je_claim_event *events, size_t n, int64_t now_ms,
                           je_err *err);
int64_t je_sqlite_ledger_prune(je_store *s, int64_t before_ms, je_err *err);
int je_sqlite_audit_head(je_store *s, const char *tenant, int64_t *seq, char hash[65], je_err *err);
int je_sqlite_audit_hash_at(je_store *s, const char *tenant, int64_t seq, char hash[65],
                            je_err *err);
int je_sqlite_checkpoint_put(je_store *s, const je_checkpoint_record *c, je_err *err);
int je_sqlite_checkpoint_list(je_store *s, const char *tenant, je_checkpoint_visit_fn fn, void *ctx,
                              je_err *err);
int je_sqlite_checkpoints_due(je_store *s, int64_t every_n, int64_t every_ms, int64_t now_ms,
                              je_head_visit_fn fn, void *ctx, je_err *err);

#endif
