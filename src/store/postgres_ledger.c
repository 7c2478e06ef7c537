/* store/postgres_ledger.c: NOT BUILT YET (a stub: every function fails with "not built yet"). */
#include "store/postgres_ops.h"

int je_pg_ledger_claim(je_store *s, const char *tenant, const char *source_id, const char *job_id,
                       je_claim_event *events, size_t n, int64_t now_ms, je_err *err) {
    return je_err_set(err, "STORE", "je_pg_ledger_claim is not built yet");
}

int64_t je_pg_ledger_prune(je_store *s, int64_t before_ms, je_err *err) {
    return je_err_set(err, "STORE", "je_pg_ledger_prune is not built yet");
}
