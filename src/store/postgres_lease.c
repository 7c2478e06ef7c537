/* store/postgres_lease.c: NOT BUILT YET (a stub: every function fails with "not built yet"). */
#include "store/postgres_ops.h"

int je_pg_jobs_lease(je_store *s, const char *tenant, const je_lease_req *req, je_lease_out *out,
                     je_err *err) {
    return je_err_set(err, "STORE", "je_pg_jobs_lease is not built yet");
}
