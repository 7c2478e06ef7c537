/* tests/fuzz/fuzz_store.h: inside the stub store (fuzz_store.c, fuzz_store_rows.c): what its
 * two files share. */
#ifndef JE_FUZZ_STORE_H
#define JE_FUZZ_STORE_H

#include "fuzz_kit.h"
#include "store/store.h"

/* Checks text a store receives: valid UTF-8 (or NULL). PostgreSQL refuses anything else, and the
 * request would get 503 STORE_UNAVAILABLE: abort(). */
void fzs_text(const char *s);
/* Seals an entry a callback handed back (abort() when it cannot be sealed), then releases it. */
void fzs_take_audit(json_t *audit);
/* 1 when idem's key answers without a change (replayed or mismatch set). */
int fzs_idem_seen(je_idem *idem);
/* Renders and checks the reply a real store would keep for idem's key. */
void fzs_idem_store(je_idem *idem);

#define FZS_OP(name, ...) int fzs_##name(je_store *s, __VA_ARGS__)
FZS_OP(quota_get, const char *tenant, const char *id, je_quota_record *out, je_err *err);
FZS_OP(quota_view, const char *tenant, const char *id, je_quota_record *out, int64_t *pending,
       je_err *err);
FZS_OP(quota_list, const char *tenant, const je_quota_filter *f, je_quota_visit_fn fn, void *ctx,
       je_err *err);
FZS_OP(quota_change, const char *tenant, const char *id, const char *job_type, int64_t now_ms,
       je_quota_change_fn fn, void *ctx, je_idem *idem, je_quota_record *out, je_err *err);
FZS_OP(quota_acquire, const char *tenant, const char *id, int64_t ttl_ms, int64_t now_ms,
       je_idem *idem, je_acquire *out, je_err *err);
FZS_OP(quota_release, const char *tenant, const char *id, const char *permit_id, int64_t now_ms,
       je_err *err);
FZS_OP(job_submit, je_job *j, je_idem *idem, je_err *err);
FZS_OP(job_get, const char *tenant, const char *id, je_job *out, je_err *err);
FZS_OP(job_list, const char *tenant, const je_job_filter *f, je_job_visit_fn fn, void *ctx,
       je_err *err);
FZS_OP(job_counts, const char *tenant, je_job_count_fn fn, void *ctx, je_err *err);
FZS_OP(jobs_lease, const char *tenant, const je_lease_req *req, je_lease_out *out, je_err *err);
FZS_OP(job_heartbeat, const char *tenant, const char *id, const char *lease_id, int64_t extend_ms,
       int64_t now_ms, je_job *out, je_err *err);
FZS_OP(job_complete, const char *tenant, const char *id, const char *lease_id, int succeeded,
       const char *error, int64_t now_ms, je_job *out, je_err *err);
int64_t fzs_jobs_pending(je_store *s, const char *tenant, const char *job_type, je_err *err);
FZS_OP(backfill_facts, const char *tenant, const char *source_id, const char *job_type,
       int64_t start_ms, int64_t end_ms, int64_t suppression_ms, int64_t now_ms,
       je_backfill_store_facts *out, je_err *err);
FZS_OP(backfill_create, const char *tenant, const char *source_id, const char *job_type,
       int64_t start_ms, int64_t end_ms, int64_t suppression_ms, int64_t now_ms,
       je_backfill_create_fn fn, void *ctx, je_idem *idem, je_backfill_record *out, je_err *err);
FZS_OP(backfill_get, const char *tenant, const char *id, je_backfill_record *out, je_err *err);
FZS_OP(backfill_list, const char *tenant, const je_backfill_filter *f, je_backfill_visit_fn fn,
       void *ctx, je_err *err);
FZS_OP(backfill_change, const char *tenant, const char *id, int64_t now_ms,
       je_backfill_change_fn fn, void *ctx, je_backfill_record *out, je_err *err);
FZS_OP(ledger_claim, const char *tenant, const char *source_id, const char *job_id,
       je_claim_event *events, size_t n, int64_t now_ms, je_err *err);

#endif
