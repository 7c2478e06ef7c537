/* store/postgres_audit.c: NOT BUILT YET (a stub: every function fails with "not built yet"). */
#include "store/postgres_ops.h"

int je_pg_audit_append(je_store *s, json_t *entry, je_err *err) {
    return je_err_set(err, "STORE", "je_pg_audit_append is not built yet");
}

int je_pg_audit_list(je_store *s, const char *tenant, const je_audit_filter *filter,
                     je_audit_visit_fn fn, void *ctx, je_err *err) {
    return je_err_set(err, "STORE", "je_pg_audit_list is not built yet");
}

int je_pg_audit_scan(je_store *s, const char *tenant, int64_t from_sequence, je_audit_visit_fn fn,
                     void *ctx, je_err *err) {
    return je_err_set(err, "STORE", "je_pg_audit_scan is not built yet");
}

int je_pg_audit_head(je_store *s, const char *tenant, int64_t *seq, char hash[65], je_err *err) {
    return je_err_set(err, "STORE", "je_pg_audit_head is not built yet");
}

int je_pg_audit_hash_at(je_store *s, const char *tenant, int64_t seq, char hash[65], je_err *err) {
    return je_err_set(err, "STORE", "je_pg_audit_hash_at is not built yet");
}
