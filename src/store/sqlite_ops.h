/* store/sqlite_ops.h: the SQLite backend's operations, one file per domain (sqlite_auth.c,
 * sqlite_audit.c, sqlite_checkpoint.c, sqlite_quota.c, sqlite_jobs.c, sqlite_lease.c,
 * sqlite_backfill.c, sqlite_ledger.c), filled into the ops table by sqlite_ops.c. Operation files
 * include this header only: they build on sqlite_rows.h and sqlite_impl.h, never on each other. */
#ifndef JE_STORE_SQLITE_OPS_H
#define JE_STORE_SQLITE_OPS_H

#include "store/sqlite_rows.h"

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

int je_sqlite_quota_view(je_store *s, const char *tenant, const char *quota_id,
                         je_quota_record *out, int64_t *pending, je_err *err);
int je_sqlite_quota_get(je_store *s, const char *tenant, const char *quota_id, je_quota_record *out,
                        je_err *err);
int je_sqlite_quota_list(je_store *s, const char *tenant, const je_quota_filter *f,
                         je_quota_visit_fn fn, void *ctx, je_err *err);
int je_sqlite_quota_change(je_store *s, const char *tenant, const char *quota_id,
                           const char *job_type, int64_t now_ms, je_quota_change_fn fn, void *ctx,
                           je_idem *idem, je_quota_record *out, je_err *err);
int je_sqlite_quota_acquire(je_store *s, const char *tenant, const char *quota_id, int64_t ttl_ms,
                            int64_t now_ms, je_idem *idem, je_acquire *out, je_err *err);
int je_sqlite_pool_get(je_store *s, const char *job_type, je_pool_record *out, je_err *err);
int je_sqlite_pool_list(je_store *s, je_pool_visit_fn fn, void *ctx, je_err *err);
int je_sqlite_pool_change(je_store *s, const char *job_type, int64_t now_ms, je_pool_change_fn fn,
                          void *ctx, je_pool_record *out, je_err *err);
int je_sqlite_pool_usage(je_store *s, const char *job_type, int64_t now_ms, je_pool_use **out,
                         size_t *n, je_err *err);
int je_sqlite_breaker_get(je_store *s, const char *job_type, const char *tenant,
                          je_breaker_row *out, je_err *err);
int je_sqlite_breaker_list(je_store *s, const char *job_type, je_breaker_visit_fn fn, void *ctx,
                           je_err *err);
int je_sqlite_breaker_change(je_store *s, const char *job_type, const char *tenant, int64_t now_ms,
                             je_breaker_change_fn fn, void *ctx, je_breaker_row *out, je_err *err);
int je_sqlite_quota_release(je_store *s, const char *tenant, const char *quota_id,
                            const char *permit_id, int64_t now_ms, je_err *err);
int64_t je_sqlite_permits_expire(je_store *s, int64_t now_ms, je_err *err);
int64_t je_sqlite_elevations_expire(je_store *s, int64_t now_ms, je_err *err);
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
                         je_lease_out *out, je_err *err);
int je_sqlite_job_heartbeat(je_store *s, const char *tenant, const char *job_id,
                            const char *lease_id, int64_t extend_ms, int64_t now_ms, je_job *out,
                            je_err *err);
int je_sqlite_job_complete(je_store *s, const char *tenant, const char *job_id,
                           const char *lease_id, int succeeded, const char *error, int64_t now_ms,
                           je_job *out, je_err *err);
int64_t je_sqlite_leases_expire(je_store *s, int64_t now_ms, je_err *err);
int je_sqlite_backfill_facts(je_store *s, const char *tenant, const char *source_id,
                             const char *job_type, int64_t start_ms, int64_t end_ms,
                             int64_t suppression_ms, int64_t now_ms, je_backfill_store_facts *out,
                             je_err *err);
int je_sqlite_backfill_create(je_store *s, const char *tenant, const char *source_id,
                              const char *job_type, int64_t start_ms, int64_t end_ms,
                              int64_t suppression_ms, int64_t now_ms, je_backfill_create_fn fn,
                              void *ctx, je_idem *idem, je_backfill_record *out, je_err *err);
int je_sqlite_backfill_get(je_store *s, const char *tenant, const char *backfill_id,
                           je_backfill_record *out, je_err *err);
int je_sqlite_backfill_list(je_store *s, const char *tenant, const je_backfill_filter *f,
                            je_backfill_visit_fn fn, void *ctx, je_err *err);
int je_sqlite_backfill_change(je_store *s, const char *tenant, const char *backfill_id,
                              int64_t now_ms, je_backfill_change_fn fn, void *ctx,
                              je_backfill_record *out, je_err *err);
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
