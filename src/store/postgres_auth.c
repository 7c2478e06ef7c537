/* store/postgres_auth.c: the PostgreSQL backend's operations for the Authority (the port of
 * sqlite_auth.c): clients (tenants and roles kept as JSON arrays), signing keys (exactly one
 * current, even when two nodes add keys at once) and revoked token ids. Text is ordered as
 * SQLite orders it (bytewise: COLLATE "C"), whatever the database's collation. */
#include "store/postgres_ops.h"

#include <stdlib.h>
#include <string.h>

/* ---- clients ---------------------------------------------------------------------------- */

typedef struct client_put_arg {
    const je_client *c;
    int create_only;
    char id[JE_ID_MAX + 1];
    char *tenants, *roles; /* JSON arrays */
} client_put_arg;

/* Replacing keeps the row's created_ms: a client is created once. A create_only of an existing
 * id inserts nothing (no unique violation, which would abort the transaction). */
static int client_put_tx(je_pg_tx *tx, void *arg, je_err *err) {
    client_put_arg *a = arg;
    je_pg_params p = {0};
    je_pg_text(&p, a->id);
    je_pg_bytea(&p, a->c->secret_sha256, 32);
    je_pg_text(&p, a->tenants);
    je_pg_text(&p, a->roles);
    je_pg_int(&p, a->c->created_ms);
    je_pg_int(&p, a->c->updated_ms);
    int64_t changes = 0;
    int rc = a->create_only
                 ? je_pg_run(tx,
                             "INSERT INTO clients(id,secret_sha256,tenants,roles,created_ms,"
                             "updated_ms) VALUES($1,$2,$3,$4,$5::bigint,$6::bigint) "
                             "ON CONFLICT (id) DO NOTHING",
                             &p, &changes, err)
                 : je_pg_run(tx,
                             "INSERT INTO clients(id,secret_sha256,tenants,roles,created_ms,"
                             "updated_ms) VALUES($1,$2,$3,$4,$5::bigint,$6::bigint) "
                             "ON CONFLICT (id) DO UPDATE SET "
                             "secret_sha256=excluded.secret_sha256, tenants=excluded.tenants, "
                             "roles=excluded.roles, updated_ms=excluded.updated_ms",
                             &p, &changes, err);
    je_pg_params_free(&p);
    if (rc < 0) return -1;
    if (changes == 0) {
        /* nothing was written: the op succeeds with its answer */
        je_err_set(err, "CONFLICT", "client %s already exists", a->id);
        return JE_STORE_CONFLICT;
    }
    return JE_STORE_OK;
}

int je_pg_client_put(je_store *s, const je_client *c, int create_only, je_err *err) {
    if (c->n_tenants > JE_MAX_TENANTS || c->n_roles > JE_MAX_ROLES)
        return je_err_set(err, "STORE", "client has too many tenants or roles");
    client_put_arg a = {c, create_only, "", NULL, NULL};
    memcpy(a.id, c->id, strnlen(c->id, JE_ID_MAX));
    json_t *t =
        je_store_names_json(&c->tenants[0][0], c->n_tenants, sizeof c->tenants[0], JE_TENANT_MAX);
    json_t *r = je_store_names_json(&c->roles[0][0], c->n_roles, sizeof c->roles[0], 31);
    a.tenants = t ? json_dumps(t, JSON_COMPACT) : NULL;
    a.roles = r ? json_dumps(r, JSON_COMPACT) : NULL;
    json_decref(t);
    json_decref(r);
    int rc = a.tenants && a.roles ? je_pg_write(s, client_put_tx, &a, err)
                                  : je_err_set(err, "STORE", "out of memory");
    free(a.tenants);
    free(a.roles);
    return rc;
}

#define CLIENT_COLS "id, secret_sha256, tenants, roles, created_ms, updated_ms"

static int client_row(const PGresult *r, int row, je_client *c, je_err *err) {
    memset(c, 0, sizeof *c);
    const char *id = PQgetvalue(r, row, 0);
    if (strlen(id) > JE_ID_MAX || je_pg_get_bytea(r, row, 1, c->secret_sha256, 32) < 0)
        return je_err_set(err, "STORE", "corrupt client row");
    memcpy(c->id, id, strlen(id) + 1);
    if (je_store_names_parse(PQgetvalue(r, row, 2), &c->tenants[0][0], &c->n_tenants,
                             JE_MAX_TENANTS, sizeof c->tenants[0], JE_TENANT_MAX) < 0 ||
        je_store_names_parse(PQgetvalue(r, row, 3), &c->roles[0][0], &c->n_roles, JE_MAX_ROLES,
                             sizeof c->roles[0], 31) < 0)
        return je_err_set(err, "STORE", "corrupt client row %s", c->id);
    c->created_ms = je_pg_get_int(r, row, 4);
    c->updated_ms = je_pg_get_int(r, row, 5);
    return 0;
}

typedef struct client_get_arg {
    const char *id;
    je_client *out;
} client_get_arg;

static int client_get_fn(je_pg_tx *tx, void *arg, je_err *err) {
    client_get_arg *a = arg;
    je_pg_params p = {0};
    je_pg_text(&p, a->id);
    PGresult *r = je_pg_exec(tx, "SELECT " CLIENT_COLS " FROM clients WHERE id=$1", &p, err);
    if (!r) return JE_STORE_ERROR;
    int found = PQntuples(r) == 0                   ? JE_STORE_NOT_FOUND
                : client_row(r, 0, a->out, err) < 0 ? JE_STORE_ERROR
                                                    : JE_STORE_OK;
    PQclear(r);
    return found;
}

int je_pg_client_get(je_store *s, const char *id, je_client *out, je_err *err) {
    client_get_arg a = {id, out};
    return je_pg_read(s, client_get_fn, &a, err);
}

typedef struct client_list_arg {
    je_client_visit_fn fn;
    void *ctx;
} client_list_arg;

static int client_list_fn(je_pg_tx *tx, void *arg, je_err *err) {
    client_list_arg *a = arg;
    PGresult *r =
        je_pg_exec(tx, "SELECT " CLIENT_COLS " FROM clients ORDER BY id COLLATE \"C\"", NULL, err);
    if (!r) return -1;
    int rc = 0;
    je_client c;
    for (int i = 0; i < PQntuples(r); i++) {
        if ((rc = client_row(r, i, &c, err)) < 0 || a->fn(a->ctx, &c) != 0) break;
    }
    PQclear(r);
    return rc;
}

int je_pg_client_list(je_store *s, je_client_visit_fn fn, void *ctx, je_err *err) {
    client_list_arg a = {fn, ctx};
    return je_pg_read(s, client_list_fn, &a, err) < 0 ? -1 : 0;
}

static int client_remove_tx(je_pg_tx *tx, void *arg, je_err *err) {
    je_pg_params p = {0};
    je_pg_text(&p, arg);
    int64_t changes = 0;
    if (je_pg_run(tx, "DELETE FROM clients WHERE id=$1", &p, &changes, err) < 0) return -1;
    return changes > 0 ? JE_STORE_OK : JE_STORE_NOT_FOUND;
}

int je_pg_client_remove(je_store *s, const char *id, je_err *err) {
    return je_pg_write(s, client_remove_tx, (void *)id, err);
}

static int client_count_fn(je_pg_tx *tx, void *arg, je_err *err) {
    PGresult *r = je_pg_exec(tx, "SELECT count(*) FROM clients", NULL, err);
    if (!r) return -1;
    *(int64_t *)arg = je_pg_get_int(r, 0, 0);
    PQclear(r);
    return 0;
}

int64_t je_pg_client_count(je_store *s, je_err *err) {
    int64_t n = -1;
    return je_pg_read(s, client_count_fn, &n, err) < 0 ? -1 : n;
}

/* ---- signing keys ----------------------------------------------------------------------- */

/* Adds of two nodes at once are serialised by the table lock (reads go on): each sees the
 * other's key when it clears the current flag, so exactly one key stays current. */
static int key_add_tx(je_pg_tx *tx, void *arg, je_err *err) {
    const je_key *k = arg;
    if (je_pg_run(tx, "LOCK TABLE signing_keys IN SHARE ROW EXCLUSIVE MODE", NULL, NULL, err) < 0 ||
        je_pg_run(tx, "UPDATE signing_keys SET current=0 WHERE current<>0", NULL, NULL, err) < 0)
        return -1;
    char kid[sizeof k->kid];
    memcpy(kid, k->kid, sizeof kid);
    kid[sizeof kid - 1] = 0;
    je_pg_params p = {0};
    je_pg_text(&p, kid);
    je_pg_bytea(&p, k->priv, sizeof k->priv);
    je_pg_bytea(&p, k->pub, sizeof k->pub);
    je_pg_int(&p, k->created_ms);
    int64_t changes = 0;
    int rc = je_pg_run(tx,
                       "INSERT INTO signing_keys(kid,priv,pub,created_ms,current) "
                       "VALUES($1,$2,$3,$4::bigint,1) ON CONFLICT (kid) DO NOTHING",
                       &p, &changes, err);
    je_pg_params_free(&p);
    if (rc < 0) return -1;
    /* refused: the transaction rolls back, the current flags stay as they were */
    if (changes == 0) return je_err_set(err, "CONFLICT", "signing key %s already exists", kid);
    return 0;
}

int je_pg_key_add(je_store *s, const je_key *k, je_err *err) {
    return je_pg_write(s, key_add_tx, (void *)k, err);
}

typedef struct key_list_arg {
    je_key *out;
    size_t cap, *n;
} key_list_arg;

static int key_row(const PGresult *r, int row, je_key *k, je_err *err) {
    memset(k, 0, sizeof *k);
    const char *kid = PQgetvalue(r, row, 0);
    if (strlen(kid) >= sizeof k->kid || je_pg_get_bytea(r, row, 1, k->priv, 32) < 0 ||
        je_pg_get_bytea(r, row, 2, k->pub, 32) < 0)
        return je_err_set(err, "STORE", "corrupt signing key row");
    memcpy(k->kid, kid, strlen(kid) + 1);
    k->created_ms = je_pg_get_int(r, row, 3);
    k->current = je_pg_get_int(r, row, 4) != 0;
    return 0;
}

/* Newest first. SQLite breaks a tie of created_ms by insertion order (rowid); PostgreSQL has
 * none: the current key (the last added) comes first, then kid. */
static int key_list_fn(je_pg_tx *tx, void *arg, je_err *err) {
    key_list_arg *a = arg;
    *a->n = 0;
    je_pg_params p = {0};
    je_pg_int(&p, (int64_t)a->cap);
    PGresult *r = je_pg_exec(tx,
                             "SELECT kid, priv, pub, created_ms, current FROM signing_keys "
                             "ORDER BY created_ms DESC, current DESC, kid COLLATE \"C\" DESC "
                             "LIMIT $1::bigint",
                             &p, err);
    if (!r) return -1;
    int rc = 0;
    for (int i = 0; i < PQntuples(r) && *a->n < a->cap && rc == 0; i++)
        if ((rc = key_row(r, i, &a->out[*a->n], err)) == 0) ++*a->n;
    PQclear(r);
    return rc;
}

int je_pg_key_list(je_store *s, je_key *out, size_t cap, size_t *n, je_err *err) {
    *n = 0;
    key_list_arg a = {out, cap, n};
    return je_pg_read(s, key_list_fn, &a, err) < 0 ? -1 : 0;
}

/* ---- revoked tokens --------------------------------------------------------------------- */

typedef struct revoke_arg {
    const char *jti;
    int64_t exp_ms;
} revoke_arg;

static int revoke_add_tx(je_pg_tx *tx, void *arg, je_err *err) {
    const revoke_arg *a = arg;
    je_pg_params p = {0};
    je_pg_text(&p, a->jti);
    je_pg_int(&p, a->exp_ms);
    return je_pg_run(tx,
                     "INSERT INTO revoked_tokens(jti, exp_ms) VALUES($1,$2::bigint) "
                     "ON CONFLICT (jti) DO NOTHING",
                     &p, NULL, err);
}

int je_pg_revoke_add(je_store *s, const char *jti, int64_t exp_ms, je_err *err) {
    revoke_arg a = {jti, exp_ms};
    return je_pg_write(s, revoke_add_tx, &a, err);
}

typedef struct revoked_list_arg {
    int64_t now_ms;
    je_jti_visit_fn fn;
    void *ctx;
} revoked_list_arg;

static int revoked_list_fn(je_pg_tx *tx, void *arg, je_err *err) {
    revoked_list_arg *a = arg;
    je_pg_params p = {0};
    je_pg_int(&p, a->now_ms);
    PGresult *r = je_pg_exec(tx,
                             "SELECT jti, exp_ms FROM revoked_tokens WHERE exp_ms > $1::bigint "
                             "ORDER BY exp_ms, jti COLLATE \"C\"",
                             &p, err);
    if (!r) return -1;
    for (int i = 0; i < PQntuples(r); i++)
        if (a->fn(a->ctx, PQgetvalue(r, i, 0), je_pg_get_int(r, i, 1))) break;
    PQclear(r);
    return 0;
}

int je_pg_revoked_list(je_store *s, int64_t now_ms, je_jti_visit_fn fn, void *ctx, je_err *err) {
    revoked_list_arg a = {now_ms, fn, ctx};
    return je_pg_read(s, revoked_list_fn, &a, err) < 0 ? -1 : 0;
}
