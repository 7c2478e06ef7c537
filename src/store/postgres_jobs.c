/* store/postgres_jobs.c: NOT BUILT YET (a stub: every function fails with "not built yet"). */
#include "store/postgres_ops.h"

int je_pg_job_submit(je_store *s, je_job *j, je_idem *idem, je_err *err) {
    return je_err_set(err, "STORE", "je_pg_job_submit is not built yet");
}

int je_pg_job_get(je_store *s, const char *tenant, const char *job_id, je_job *out, je_err *err) {
    return je_err_set(err, "STORE", "je_pg_job_get is not built yet");
}

int je_pg_job_list(je_store *s, const char *tenant, const je_job_filter *f, je_job_visit_fn fn,
                   void *ctx, je_err *err) {
    return je_err_set(err, "STORE", "je_pg_job_list is not built yet");
}

int je_pg_job_counts(je_store *s, const char *tenant, je_job_count_fn fn, void *ctx, je_err *err) {
    return je_err_set(err, "STORE", "je_pg_job_counts is not built yet");
}

int64_t je_pg_jobs_pending(je_store *s, const char *tenant, const char *job_type, je_err *err) {
    return je_err_set(err, "STORE", "je_pg_jobs_pending is not built yet");
}

int je_pg_job_heartbeat(je_store *s, const char *tenant, const char *job_id, const char *lease_id,
                        int64_t extend_ms, int64_t now_ms, je_job *out, je_err *err) {
    return je_err_set(err, "STORE", "je_pg_job_heartbeat is not built yet");
}

int je_pg_job_complete(je_store *s, const char *tenant, const char *job_id, const char *lease_id,
                       int succeeded, const char *error, int64_t now_ms, je_job *out, je_err *err) {
    return je_err_set(err, "STORE", "je_pg_job_complete is not built yet");
}

int64_t je_pg_leases_expire(je_store *s, int64_t now_ms, je_err *err) {
    return je_err_set(err, "STORE", "je_pg_leases_expire is not built yet");
}
