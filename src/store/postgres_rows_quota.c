/* store/postgres_rows_quota.c: NOT BUILT YET (a stub: every function fails with "not built yet").
 */
#include "store/postgres_rows.h"

void je_pg_quota_from_row(const PGresult *r, int row, je_quota_record *q) {
    (void)0;
}

int je_pg_quota_load(je_pg_tx *tx, const char *tenant, const char *key, int by_job_type,
                     je_quota_record *out, je_err *err) {
    return je_err_set(err, "STORE", "je_pg_quota_load is not built yet");
}

int je_pg_quota_save(je_pg_tx *tx, const je_quota_record *q, je_err *err) {
    return je_err_set(err, "STORE", "je_pg_quota_save is not built yet");
}

int je_pg_quota_delete(je_pg_tx *tx, const je_quota_record *q, je_err *err) {
    return je_err_set(err, "STORE", "je_pg_quota_delete is not built yet");
}

int je_pg_permits_release_expired(je_pg_tx *tx, je_quota_record *q, int64_t now, int64_t *freed,
                                  je_err *err) {
    return je_err_set(err, "STORE", "je_pg_permits_release_expired is not built yet");
}

int je_pg_elevation_expire_tx(je_pg_tx *tx, je_quota_record *q, int64_t now, je_err *err) {
    return je_err_set(err, "STORE", "je_pg_elevation_expire_tx is not built yet");
}

int je_pg_quota_release_slots(je_pg_tx *tx, const char *tenant, const char *quota_id, int64_t n,
                              je_err *err) {
    return je_err_set(err, "STORE", "je_pg_quota_release_slots is not built yet");
}

int64_t je_pg_quota_earliest_expiry(je_pg_tx *tx, const je_quota_record *q, je_err *err) {
    return je_err_set(err, "STORE", "je_pg_quota_earliest_expiry is not built yet");
}

int64_t je_pg_quota_backfill_leases(je_pg_tx *tx, const je_quota_record *q, je_err *err) {
    return je_err_set(err, "STORE", "je_pg_quota_backfill_leases is not built yet");
}
