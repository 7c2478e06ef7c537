/* store/postgres_ops.h: the PostgreSQL backend's operations, one file per domain
 * (postgres_auth.c, postgres_audit.c, postgres_checkpoint.c, postgres_quota.c, postgres_jobs.c,
 * postgres_lease.c, postgres_backfill.c, postgres_ledger.c), filled into the ops table by
 * postgres_ops.c. Operation files include this header only: they build on postgres_rows.h and
 * postgres_impl.h, never on each other. */
#ifndef JE_STORE_POSTGRES_OPS_H
#define JE_STORE_POSTGRES_OPS_H

#include "store/postgres_rows.h"

int je_pg_client_put(je_store *s, const je_client *c, int create_only, je_err *err);
int je_pg_client_get(je_store *s, const char *id, je_client *out, je_err *err);
int je_pg_client_list(je_store *s, je_client_visit_fn fn, void *ctx, je_err *err);
int je_pg_client_remove(je_store *s, const char *id, je_err *err);
int64_t je_pg_client_count(je_store *s, je_err *err);
int je_pg_key_add(je_store *s, const je_key *k, je_err *err);
int je_pg_key_list(je_store *s, je_key *out, size_t cap, size_t *n, je_err *err);
int je_pg_revoke_add(je_store *s, const char *jti, int64_t exp_ms, je_err *err);
int je_pg_revoked_list(je_store *s, int64_t now_ms, je_jti_visit_fn fn, void *ctx, je_err *err);
int je_pg_audit_append(je_store *s, json_t *entry, je_err *err);
int je_pg_audit_list(je_store *s, const char *tenant, const je_audit_filter *filter,
                     je_audit_visit_fn fn, void *ctx, je_err *err);
int je_pg_audit_scan(je_store *s, const char *tenant, int64_t from_sequence, je_audit_visit_fn fn,
                     void *ctx, je_err *err);

int je_pg_quota_view(je_store *s, const char *tenant, const char *quota_id, je_quota_record *out,
                     int64_t *pending, je_err *err);
int je_pg_quota_get(je_store *s, const char *tenant, const char *quota_id, je_quota_record *out,
                    je_err *err);
int je_pg_quota_list(je_store *s, const char *tenant, const je_quota_filter *f,
                     je_quota_visit_fn fn, void *ctx, je_err *err);
int je_pg_quota_change(je_store *s, const char *tenant, const char *quota_id, const char *job_type,
                       int64_t now_ms, je_quota_change_fn fn, void *ctx, je_idem *idem,
                       je_quota_record *out, je_err *err);
int je_pg_quota_acquire(je_store *s, const char *tenant, const char *quota_id, int64_t ttl_ms,
                        int64_t now_ms, je_idem *idem, je_acquire *out, je_err *err);
int je_pg_pool_get(je_store *s, const char *job_type, je_pool_record *out, je_err *err);
int je_pg_pool_list(je_store *s, je_pool_visit_fn fn, void *ctx, je_err *err);
int je_pg_pool_change(je_store *s, const char *job_type, int64_t now_ms, je_pool_change_fn fn,
                      void *ctx, je_pool_record *out, je_err *err);
int je_pg_pool_usage(je_store *s, const char *job_type, int64_t now_ms, je_pool_use **out,
                     size_t *n, je_err *err);
int je_pg_breaker_get(je_store *s, const char *job_type, const char *tenant, je_breaker_row *out,
                      je_err *err);
int je_pg_breaker_list(je_store *s, const char *job_type, je_breaker_visit_fn fn, void *ctx,
                       je_err *err);
int je_pg_breaker_change(je_store *s, const char *job_type, const char *tenant, int64_t now_ms,
                         je_breaker_change_fn fn, void *ctx, je_breaker_row *out, je_err *err);
int je_pg_quota_release(je_store *s, const char *tenant, const char *quota_id,
                        const char *permit_id, int64_t now_ms, je_err *err);
int64_t je_pg_permits_expire(je_store *s, int64_t now_ms, je_err *err);
int64_t je_pg_elevations_expire(je_store *s, int64_t now_ms, je_err *err);
int64_t je_pg_idem_prune(je_store *s, int64_t before_ms, je_err *err);
int je_pg_job_submit(je_store *s, je_job *j, je_idem *idem, je_err *err);
int je_pg_job_get(je_store *s, const char *tenant, const char *job_id, je_job *out, je_err *err);
int je_pg_job_list(je_store *s, const char *tenant, const je_job_filter *f, je_job_visit_fn fn,
                   void *ctx, je_err *err);
int je_pg_job_counts(je_store *s, const char *tenant, je_job_count_fn fn, void *ctx, je_err *err);
int64_t je_pg_jobs_pending(je_store *s, const char *tenant, const char *job_type, je_err *err);
int je_pg_jobs_lease(je_store *s, const char *tenant, const je_lease_req *req, je_lease_out *out,
                     je_err *err);
int je_pg_job_heartbeat(je_store *s, const char *tenant, const char *job_id, const char *lease_id,
                        int64_t extend_ms, int64_t now_ms, je_job *out, je_err *err);
int je_pg_job_complete(je_store *s, const char *tenant, const char *job_id, const char *lease_id,
                       int succeeded, const char *error, int64_t now_ms, je_job *out, je_err *err);
int64_t je_pg_leases_expire(je_store *s, int64_t now_ms, je_err *err);
int je_pg_backfill_facts(je_store *s, const char *tenant, const char *source_id,
                         const char *job_type, int64_t start_ms, int64_t end_ms,
                         int64_t suppression_ms, int64_t now_ms, je_backfill_store_facts *out,
                         je_err *err);
int je_pg_backfill_create(je_store *s, const char *tenant, const char *source_id,
                          const char *job_type, int64_t start_ms, int64_t end_ms,
                          int64_t suppression_ms, int64_t now_ms, je_backfill_create_fn fn,
                          void *ctx, je_idem *idem, je_backfill_record *out, je_err *err);
int je_pg_backfill_get(je_store *s, const char *tenant, const char *backfill_id,
                       je_backfill_record *out, je_err *err);
int je_pg_backfill_list(je_store *s, const char *tenant, const je_backfill_filter *f,
                        je_backfill_visit_fn fn, void *ctx, je_err *err);
int je_pg_backfill_change(je_store *s, const char *tenant, const char *backfill_id, int64_t now_ms,
                          je_backfill_change_fn fn, void *ctx, je_backfill_record *out,
                          je_err *err);
int64_t je_pg_backfills_advance(je_store *s, int64_t now_ms, int64_t in_flight,
                                int64_t max_attempts, je_err *err);
int je_pg_ledger_claim(je_store *s, const char *tenant, const char *source_id, const char *job_id,
                       je_claim_event *events, size_t n, int64_t now_ms, je_err *err);
int64_t je_pg_ledger_prune(je_store *s, int64_t before_ms, je_err *err);
int je_pg_audit_head(je_store *s, const char *tenant, int64_t *seq, char hash[65], je_err *err);
int je_pg_audit_hash_at(je_store *s, const char *tenant, int64_t seq, char hash[65], je_err *err);
int je_pg_checkpoint_put(je_store *s, const je_checkpoint_record *c, je_err *err);
int je_pg_checkpoint_list(je_store *s, const char *tenant, je_checkpoint_visit_fn fn, void *ctx,
                          je_err *err);
int je_pg_checkpoints_due(je_store *s, int64_t every_n, int64_t every_ms, int64_t now_ms,
                          je_head_visit_fn fn, void *ctx, je_err *err);

#endif
