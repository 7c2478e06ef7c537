/* store/postgres_auth.c: NOT BUILT YET (a stub: every function fails with "not built yet"). */
#include "store/postgres_ops.h"

int je_pg_client_put(je_store *s, const je_client *c, int create_only, je_err *err) {
    return je_err_set(err, "STORE", "je_pg_client_put is not built yet");
}

int je_pg_client_get(je_store *s, const char *id, je_client *out, je_err *err) {
    return je_err_set(err, "STORE", "je_pg_client_get is not built yet");
}

int je_pg_client_list(je_store *s, je_client_visit_fn fn, void *ctx, je_err *err) {
    return je_err_set(err, "STORE", "je_pg_client_list is not built yet");
}

int je_pg_client_remove(je_store *s, const char *id, je_err *err) {
    return je_err_set(err, "STORE", "je_pg_client_remove is not built yet");
}

int64_t je_pg_client_count(je_store *s, je_err *err) {
    return je_err_set(err, "STORE", "je_pg_client_count is not built yet");
}

int je_pg_key_add(je_store *s, const je_key *k, je_err *err) {
    return je_err_set(err, "STORE", "je_pg_key_add is not built yet");
}

int je_pg_key_list(je_store *s, je_key *out, size_t cap, size_t *n, je_err *err) {
    return je_err_set(err, "STORE", "je_pg_key_list is not built yet");
}

int je_pg_revoke_add(je_store *s, const char *jti, int64_t exp_ms, je_err *err) {
    return je_err_set(err, "STORE", "je_pg_revoke_add is not built yet");
}

int je_pg_revoked_list(je_store *s, int64_t now_ms, je_jti_visit_fn fn, void *ctx, je_err *err) {
    return je_err_set(err, "STORE", "je_pg_revoked_list is not built yet");
}
