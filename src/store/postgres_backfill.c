/* store/postgres_backfill.c: NOT BUILT YET (a stub: every function fails with "not built yet"). */
#include "store/postgres_ops.h"

int je_pg_backfill_facts(je_store *s, const char *tenant, const char *source_id,
                         const char *job_type, int64_t start_ms, int64_t end_ms,
                         int64_t suppression_ms, int64_t now_ms, je_backfill_store_facts *out,
                         je_err *err) {
    return je_err_set(err, "STORE", "je_pg_backfill_facts is not built yet");
}

int je_pg_backfill_create(je_store *s, const char *tenant, const char *source_id,
                          const char *job_type, int64_t start_ms, int64_t end_ms,
                          int64_t suppression_ms, int64_t now_ms, je_backfill_create_fn fn,
                          void *ctx, je_idem *idem, je_backfill_record *out, je_err *err) {
    return je_err_set(err, "STORE", "je_pg_backfill_create is not built yet");
}

int je_pg_backfill_get(je_store *s, const char *tenant, const char *backfill_id,
                       je_backfill_record *out, je_err *err) {
    return je_err_set(err, "STORE", "je_pg_backfill_get is not built yet");
}

int je_pg_backfill_list(je_store *s, const char *tenant, const je_backfill_filter *f,
                        je_backfill_visit_fn fn, void *ctx, je_err *err) {
    return je_err_set(err, "STORE", "je_pg_backfill_list is not built yet");
}

int je_pg_backfill_change(je_store *s, const char *tenant, const char *backfill_id, int64_t now_ms,
                          je_backfill_change_fn fn, void *ctx, je_backfill_record *out,
                          je_err *err) {
    return je_err_set(err, "STORE", "je_pg_backfill_change is not built yet");
}

int64_t je_pg_backfills_advance(je_store *s, int64_t now_ms, int64_t in_flight,
                                int64_t max_attempts, je_err *err) {
    return je_err_set(err, "STORE", "je_pg_backfills_advance is not built yet");
}
