/* store/postgres_rows_backfill.c: NOT BUILT YET (a stub: every function fails with "not built
 * yet"). */
#include "store/postgres_rows.h"

void je_pg_backfill_from_row(const PGresult *r, int row, je_backfill_record *b) {
    (void)0;
}

int je_pg_backfill_save(je_pg_tx *tx, const je_backfill_record *b, je_err *err) {
    return je_err_set(err, "STORE", "je_pg_backfill_save is not built yet");
}

int je_pg_backfill_load(je_pg_tx *tx, const char *tenant, const char *id, je_backfill_record *out,
                        je_err *err) {
    return je_err_set(err, "STORE", "je_pg_backfill_load is not built yet");
}

int je_pg_backfill_finished(je_pg_tx *tx, const je_backfill_record *before,
                            const je_backfill_record *b, int64_t now, je_err *err) {
    return je_err_set(err, "STORE", "je_pg_backfill_finished is not built yet");
}

int je_pg_backfill_batch_done(je_pg_tx *tx, const je_job *j, int succeeded, int final_failure,
                              int64_t events, int64_t now, je_err *err) {
    return je_err_set(err, "STORE", "je_pg_backfill_batch_done is not built yet");
}

int64_t je_pg_ledger_settle(je_pg_tx *tx, const char *tenant, const char *job_id, int succeeded,
                            je_err *err) {
    return je_err_set(err, "STORE", "je_pg_ledger_settle is not built yet");
}
