/* store/postgres_checkpoint.c: NOT BUILT YET (a stub: every function fails with "not built yet").
 */
#include "store/postgres_ops.h"

int je_pg_checkpoint_put(je_store *s, const je_checkpoint_record *c, je_err *err) {
    return je_err_set(err, "STORE", "je_pg_checkpoint_put is not built yet");
}

int je_pg_checkpoint_list(je_store *s, const char *tenant, je_checkpoint_visit_fn fn, void *ctx,
                          je_err *err) {
    return je_err_set(err, "STORE", "je_pg_checkpoint_list is not built yet");
}

int je_pg_checkpoints_due(je_store *s, int64_t every_n, int64_t every_ms, int64_t now_ms,
                          je_head_visit_fn fn, void *ctx, je_err *err) {
    return je_err_set(err, "STORE", "je_pg_checkpoints_due is not built yet");
}
