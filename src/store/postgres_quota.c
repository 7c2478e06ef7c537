/* store/postgres_quota.c: NOT BUILT YET (a stub: every function fails with "not built yet"). */
#include "store/postgres_ops.h"

int je_pg_quota_get(je_store *s, const char *tenant, const char *quota_id, je_quota_record *out,
                    je_err *err) {
    return je_err_set(err, "STORE", "je_pg_quota_get is not built yet");
}

int je_pg_quota_list(je_store *s, const char *tenant, const je_quota_filter *f,
                     je_quota_visit_fn fn, void *ctx, je_err *err) {
    return je_err_set(err, "STORE", "je_pg_quota_list is not built yet");
}

int je_pg_quota_change(je_store *s, const char *tenant, const char *quota_id, const char *job_type,
                       int64_t now_ms, je_quota_change_fn fn, void *ctx, je_idem *idem,
                       je_quota_record *out, je_err *err) {
    return je_err_set(err, "STORE", "je_pg_quota_change is not built yet");
}

int je_pg_quota_acquire(je_store *s, const char *tenant, const char *quota_id, int64_t ttl_ms,
                        int64_t now_ms, je_idem *idem, je_acquire *out, je_err *err) {
    return je_err_set(err, "STORE", "je_pg_quota_acquire is not built yet");
}

int je_pg_quota_release(je_store *s, const char *tenant, const char *quota_id,
                        const char *permit_id, int64_t now_ms, je_err *err) {
    return je_err_set(err, "STORE", "je_pg_quota_release is not built yet");
}

int64_t je_pg_permits_expire(je_store *s, int64_t now_ms, je_err *err) {
    return je_err_set(err, "STORE", "je_pg_permits_expire is not built yet");
}

int64_t je_pg_elevations_expire(je_store *s, int64_t now_ms, je_err *err) {
    return je_err_set(err, "STORE", "je_pg_elevations_expire is not built yet");
}

int64_t je_pg_idem_prune(je_store *s, int64_t before_ms, je_err *err) {
    return je_err_set(err, "STORE", "je_pg_idem_prune is not built yet");
}
