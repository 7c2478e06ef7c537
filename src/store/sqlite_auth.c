/* store/sqlite_auth.c: the SQLite backend's operations for the Authority: clients (tenants and
 * roles kept as JSON arrays), signing keys (exactly one current) and revoked token ids.
 * Writes run as ops of sqlite.c's writer thread; reads borrow a pooled read connection. */
#include "store/sqlite_ops.h"

#include <stdlib.h>
#include <string.h>

/* ---- clients ---------------------------------------------------------------------------- */

typedef struct client_put_arg {
    const je_client *c;
    int create_only;
    int result;
} client_put_arg;

static int bind_client(sqlite3_stmt *st, const je_client *c) {
    json_t *t =
        je_store_names_json(&c->tenants[0][0], c->n_tenants, sizeof c->tenants[0], JE_TENANT_MAX);
    json_t *r = je_store_names_json(&c->roles[0][0], c->n_roles, sizeof c->roles[0], 31);
    char *ts = t ? json_dumps(t, JSON_COMPACT) : NULL;
    char *rs = r ? json_dumps(r, JSON_COMPACT) : NULL;
    json_decref(t);
    json_decref(r);
    if (!ts || !rs) {
        free(ts);
        free(rs);
        return -1;
    }
    sqlite3_bind_text(st, 1, c->id, (int)strnlen(c->id, JE_ID_MAX), SQLITE_TRANSIENT);
    sqlite3_bind_blob(st, 2, c->secret_sha256, 32, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, ts, -1, free);
    sqlite3_bind_text(st, 4, rs, -1, free);
    sqlite3_bind_int64(st, 5, c->created_ms);
    sqlite3_bind_int64(st, 6, c->updated_ms);
    return 0;
}

/* Replacing keeps the row's created_ms: a client is created once. */
static int client_put_tx(sqlite3 *db, void *p, je_err *err) {
    client_put_arg *a = p;
    const char *sql =
        a->create_only
            ? "INSERT INTO clients(id,secret_sha256,tenants,roles,created_ms,updated_ms) "
              "VALUES(?1,?2,?3,?4,?5,?6)"
            : "INSERT INTO clients(id,secret_sha256,tenants,roles,created_ms,updated_ms) "
              "VALUES(?1,?2,?3,?4,?5,?6) ON CONFLICT(id) DO UPDATE SET "
              "secret_sha256=excluded.secret_sha256, tenants=excluded.tenants, "
              "roles=excluded.roles, updated_ms=excluded.updated_ms";
    sqlite3_stmt *st = je_sqlite_prepare(db, sql, err);
    if (!st) return -1;
    if (bind_client(st, a->c) < 0) {
        je_sqlite_done(st);
        return je_err_set(err, "STORE", "out of memory");
    }
    int rc = sqlite3_step(st);
    je_sqlite_done(st);
    if (rc == SQLITE_CONSTRAINT_PRIMARYKEY) {
        /* nothing was written: the op succeeds with its answer */
        je_err_set(err, "CONFLICT", "client %.*s already exists", JE_ID_MAX, a->c->id);
        return a->result = JE_STORE_CONFLICT, 0;
    }
    a->result = JE_STORE_OK;
    return rc == SQLITE_DONE ? 0 : je_sqlite_fail(err, db, "client put");
}

int je_sqlite_client_put(je_store *s, const je_client *c, int create_only, je_err *err) {
    if (c->n_tenants > JE_MAX_TENANTS || c->n_roles > JE_MAX_ROLES)
        return je_err_set(err, "STORE", "client has too many tenants or roles");
    client_put_arg a = {c, create_only, JE_STORE_ERROR};
    if (je_sqlite_write(s, client_put_tx, &a, err) != 0) return JE_STORE_ERROR;
    return a.result;
}

#define CLIENT_COLS "id, secret_sha256, tenants, roles, created_ms, updated_ms"

static int client_row(sqlite3_stmt *st, je_client *c, je_err *err) {
    memset(c, 0, sizeof *c);
    const char *id = (const char *)sqlite3_column_text(st, 0);
    if (!id || strlen(id) > JE_ID_MAX || sqlite3_column_bytes(st, 1) != 32)
        return je_err_set(err, "STORE", "corrupt client row");
    memcpy(c->id, id, strlen(id) + 1);
    memcpy(c->secret_sha256, sqlite3_column_blob(st, 1), 32);
    if (je_store_names_parse((const char *)sqlite3_column_text(st, 2), &c->tenants[0][0],
                             &c->n_tenants, JE_MAX_TENANTS, sizeof c->tenants[0],
                             JE_TENANT_MAX) < 0 ||
        je_store_names_parse((const char *)sqlite3_column_text(st, 3), &c->roles[0][0], &c->n_roles,
                             JE_MAX_ROLES, sizeof c->roles[0], 31) < 0)
        return je_err_set(err, "STORE", "corrupt client row %s", c->id);
    c->created_ms = sqlite3_column_int64(st, 4);
    c->updated_ms = sqlite3_column_int64(st, 5);
    return 0;
}

int je_sqlite_client_get(je_store *s, const char *id, je_client *out, je_err *err) {
    sqlite3 *db = je_sqlite_read_get(s, err);
    if (!db) return -1;
    int found = -1;
    sqlite3_stmt *st =
        je_sqlite_prepare(db, "SELECT " CLIENT_COLS " FROM clients WHERE id=?1", err);
    if (st) {
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
            found = client_row(st, out, err) < 0 ? JE_STORE_ERROR : JE_STORE_OK;
        else if (rc == SQLITE_DONE)
            found = JE_STORE_NOT_FOUND;
        else
            je_sqlite_fail(err, db, "client get");
    }
    je_sqlite_done(st);
    je_sqlite_read_put(s, db);
    return found;
}

int je_sqlite_client_list(je_store *s, je_client_visit_fn fn, void *ctx, je_err *err) {
    sqlite3 *db = je_sqlite_read_get(s, err);
    if (!db) return -1;
    int rc = -1, step;
    je_client c;
    sqlite3_stmt *st =
        je_sqlite_prepare(db, "SELECT " CLIENT_COLS " FROM clients ORDER BY id", err);
    if (st) {
        while ((step = sqlite3_step(st)) == SQLITE_ROW) {
            if (client_row(st, &c, err) < 0) break;
            if (fn(ctx, &c) != 0) {
                step = SQLITE_DONE;
                break;
            }
        }
        if (step == SQLITE_DONE)
            rc = 0;
        else if (step != SQLITE_ROW)
            je_sqlite_fail(err, db, "client list");
    }
    je_sqlite_done(st);
    je_sqlite_read_put(s, db);
    return rc;
}

typedef struct client_remove_arg {
    const char *id;
    int removed;
} client_remove_arg;

static int client_remove_tx(sqlite3 *db, void *p, je_err *err) {
    client_remove_arg *a = p;
    sqlite3_stmt *st = je_sqlite_prepare(db, "DELETE FROM clients WHERE id=?1", err);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, a->id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    je_sqlite_done(st);
    if (rc != SQLITE_DONE) return je_sqlite_fail(err, db, "client remove");
    a->removed = sqlite3_changes(db) > 0;
    return 0;
}

int je_sqlite_client_remove(je_store *s, const char *id, je_err *err) {
    client_remove_arg a = {id, 0};
    if (je_sqlite_write(s, client_remove_tx, &a, err) < 0) return JE_STORE_ERROR;
    return a.removed ? JE_STORE_OK : JE_STORE_NOT_FOUND;
}

/* Runs a query returning one integer. */
static int64_t read_int(je_store *s, const char *sql, je_err *err) {
    sqlite3 *db = je_sqlite_read_get(s, err);
    if (!db) return -1;
    int64_t v = -1;
    sqlite3_stmt *st = je_sqlite_prepare(db, sql, err);
    if (st && sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    else if (st)
        je_sqlite_fail(err, db, "count");
    je_sqlite_done(st);
    je_sqlite_read_put(s, db);
    return v;
}

int64_t je_sqlite_client_count(je_store *s, je_err *err) {
    return read_int(s, "SELECT count(*) FROM clients", err);
}

/* ---- signing keys ----------------------------------------------------------------------- */

static int key_add_tx(sqlite3 *db, void *p, je_err *err) {
    const je_key *k = p;
    if (sqlite3_exec(db, "UPDATE signing_keys SET current=0 WHERE current<>0", NULL, NULL, NULL) !=
        SQLITE_OK)
        return je_sqlite_fail(err, db, "key add");
    sqlite3_stmt *st = je_sqlite_prepare(
        db, "INSERT INTO signing_keys(kid,priv,pub,created_ms,current) VALUES(?1,?2,?3,?4,1)", err);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, k->kid, (int)strnlen(k->kid, sizeof k->kid), SQLITE_STATIC);
    sqlite3_bind_blob(st, 2, k->priv, sizeof k->priv, SQLITE_STATIC);
    sqlite3_bind_blob(st, 3, k->pub, sizeof k->pub, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, k->created_ms);
    int rc = sqlite3_step(st);
    je_sqlite_done(st);
    if (rc == SQLITE_CONSTRAINT_PRIMARYKEY)
        return je_err_set(err, "CONFLICT", "signing key %.63s already exists", k->kid);
    return rc == SQLITE_DONE ? 0 : je_sqlite_fail(err, db, "key add");
}

int je_sqlite_key_add(je_store *s, const je_key *k, je_err *err) {
    return je_sqlite_write(s, key_add_tx, (void *)k, err);
}

static int key_row(sqlite3_stmt *st, je_key *k, je_err *err) {
    memset(k, 0, sizeof *k);
    const char *kid = (const char *)sqlite3_column_text(st, 0);
    if (!kid || strlen(kid) >= sizeof k->kid || sqlite3_column_bytes(st, 1) != 32 ||
        sqlite3_column_bytes(st, 2) != 32)
        return je_err_set(err, "STORE", "corrupt signing key row");
    memcpy(k->kid, kid, strlen(kid) + 1);
    memcpy(k->priv, sqlite3_column_blob(st, 1), 32);
    memcpy(k->pub, sqlite3_column_blob(st, 2), 32);
    k->created_ms = sqlite3_column_int64(st, 3);
    k->current = sqlite3_column_int(st, 4) != 0;
    return 0;
}

int je_sqlite_key_list(je_store *s, je_key *out, size_t cap, size_t *n, je_err *err) {
    *n = 0;
    sqlite3 *db = je_sqlite_read_get(s, err);
    if (!db) return -1;
    int rc = -1, step = SQLITE_DONE;
    sqlite3_stmt *st = je_sqlite_prepare(db,
                                         "SELECT kid, priv, pub, created_ms, current FROM "
                                         "signing_keys ORDER BY created_ms DESC, rowid DESC",
                                         err);
    if (st) {
        while (*n < cap && (step = sqlite3_step(st)) == SQLITE_ROW) {
            if (key_row(st, &out[*n], err) < 0) break;
            ++*n;
        }
        if (step == SQLITE_DONE || (step == SQLITE_ROW && *n == cap))
            rc = 0;
        else if (step != SQLITE_ROW)
            je_sqlite_fail(err, db, "key list");
    }
    je_sqlite_done(st);
    je_sqlite_read_put(s, db);
    return rc;
}

/* ---- revoked tokens --------------------------------------------------------------------- */

typedef struct revoke_arg {
    const char *jti;
    int64_t exp_ms;
} revoke_arg;

static int revoke_add_tx(sqlite3 *db, void *p, je_err *err) {
    const revoke_arg *a = p;
    sqlite3_stmt *st = je_sqlite_prepare(
        db, "INSERT OR IGNORE INTO revoked_tokens(jti, exp_ms) VALUES(?1,?2)", err);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, a->jti, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, a->exp_ms);
    int rc = sqlite3_step(st);
    je_sqlite_done(st);
    return rc == SQLITE_DONE ? 0 : je_sqlite_fail(err, db, "revoke");
}

int je_sqlite_revoke_add(je_store *s, const char *jti, int64_t exp_ms, je_err *err) {
    revoke_arg a = {jti, exp_ms};
    return je_sqlite_write(s, revoke_add_tx, &a, err);
}

int je_sqlite_revoked_list(je_store *s, int64_t now_ms, je_jti_visit_fn fn, void *ctx,
                           je_err *err) {
    sqlite3 *db = je_sqlite_read_get(s, err);
    if (!db) return -1;
    int rc = -1, step = SQLITE_DONE;
    sqlite3_stmt *st = je_sqlite_prepare(
        db, "SELECT jti, exp_ms FROM revoked_tokens WHERE exp_ms > ?1 ORDER BY exp_ms, jti", err);
    if (st) {
        sqlite3_bind_int64(st, 1, now_ms);
        while ((step = sqlite3_step(st)) == SQLITE_ROW) {
            if (fn(ctx, (const char *)sqlite3_column_text(st, 0), sqlite3_column_int64(st, 1))) {
                step = SQLITE_DONE;
                break;
            }
        }
        if (step == SQLITE_DONE)
            rc = 0;
        else
            je_sqlite_fail(err, db, "revoked list");
    }
    je_sqlite_done(st);
    je_sqlite_read_put(s, db);
    return rc;
}
