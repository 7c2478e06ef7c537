/* store/postgres_rows_tx.c: NOT BUILT YET (a stub: every function fails with "not built yet"). */
#include "store/postgres_rows.h"

int je_pg_idem_lookup(je_pg_tx *tx, const char *tenant, je_idem *idem, int64_t now, je_err *err) {
    return je_err_set(err, "STORE", "je_pg_idem_lookup is not built yet");
}

int je_pg_idem_store(je_pg_tx *tx, const char *tenant, je_idem *idem, int64_t now, je_err *err) {
    return je_err_set(err, "STORE", "je_pg_idem_store is not built yet");
}

int je_pg_audit_append_tx(je_pg_tx *tx, json_t *entry, je_err *err) {
    return je_err_set(err, "STORE", "je_pg_audit_append_tx is not built yet");
}
