/* store/postgres_rows_job.c: NOT BUILT YET (a stub: every function fails with "not built yet"). */
#include "store/postgres_rows.h"

void je_pg_job_from_row(const PGresult *r, int row, je_job *j) {
    (void)0;
}

int je_pg_job_save(je_pg_tx *tx, const je_job *j, je_err *err) {
    return je_err_set(err, "STORE", "je_pg_job_save is not built yet");
}

int je_pg_job_load(je_pg_tx *tx, const char *tenant, const char *job_id, je_job *out, je_err *err) {
    return je_err_set(err, "STORE", "je_pg_job_load is not built yet");
}

int je_pg_job_lease_load(je_pg_tx *tx, const char *tenant, const char *job_id, je_job *out,
                         je_err *err) {
    return je_err_set(err, "STORE", "je_pg_job_lease_load is not built yet");
}

int64_t je_pg_leases_expire_tx(je_pg_tx *tx, const char *tenant, const char *quota_id, int64_t now,
                               je_err *err) {
    return je_err_set(err, "STORE", "je_pg_leases_expire_tx is not built yet");
}
