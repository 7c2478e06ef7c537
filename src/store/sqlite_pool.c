/* store/sqlite_pool.c: capacity pool operations (store.h "Capacity pools"): read, list, change
 * in one write transaction with its audit entry, and the use a decision would count now. */
#include "store/sqlite_ops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/sqlite_rows.h"

int je_sqlite_pool_get(je_store *s, const char *job_type, je_pool_record *out, je_err *err) {
    sqlite3 *db = je_sqlite_read_get(s, err);
    if (!db) return JE_STORE_ERROR;
    int rc = je_sqlite_pool_load(db, job_type, out, err);
    je_sqlite_read_put(s, db);
    return rc;
}

int je_sqlite_pool_list(je_store *s, je_pool_visit_fn fn, void *ctx, je_err *err) {
    sqlite3 *db = je_sqlite_read_get(s, err);
    if (!db) return JE_STORE_ERROR;
    int rc = je_sqlite_pool_list_tx(db, fn, ctx, err);
    je_sqlite_read_put(s, db);
    return rc == 0 ? JE_STORE_OK : JE_STORE_ERROR;
}

typedef struct change_arg {
    const char *job_type;
    int64_t now;
    je_pool_change_fn fn;
    void *ctx;
    je_pool_record *out;
    int result;
} change_arg;

static int change_op(sqlite3 *db, void *argp, je_err *err) {
    change_arg *a = argp;
    je_pool_record *rec = a->out;
    int found = je_sqlite_pool_load(db, a->job_type, rec, err);
    if (found < 0) return -1;
    if (found == JE_STORE_NOT_FOUND) {
        memset(rec, 0, sizeof *rec);
        snprintf(rec->pool.job_type, sizeof rec->pool.job_type, "%s", a->job_type);
    }
    json_t *audit = NULL;
    int rc = a->fn(a->ctx, rec, found == JE_STORE_OK, a->now, &audit, err);
    if (rc == JE_CHANGE_APPLY)
        rc = je_sqlite_pool_save(db, rec, err) == 0 ? rc : -1;
    else if (rc == JE_CHANGE_DELETE)
        rc = je_sqlite_pool_delete(db, a->job_type, err) == 0 ? rc : -1;
    else if (rc != JE_CHANGE_DENY)
        rc = -1;
    if (rc >= 0 && audit) rc = je_sqlite_audit_append_tx(db, audit, err) == 0 ? rc : -1;
    json_decref(audit);
    if (rc < 0) return -1;
    a->result = rc;
    return 0;
}

int je_sqlite_pool_change(je_store *s, const char *job_type, int64_t now_ms, je_pool_change_fn fn,
                          void *ctx, je_pool_record *out, je_err *err) {
    change_arg a = {job_type, now_ms, fn, ctx, out, JE_STORE_ERROR};
    if (je_sqlite_write(s, change_op, &a, err) != 0) return JE_STORE_ERROR;
    return a.result;
}

int je_sqlite_pool_usage(je_store *s, const char *job_type, int64_t now_ms, je_pool_use **out,
                         size_t *n, je_err *err) {
    *out = NULL;
    *n = 0;
    sqlite3 *db = je_sqlite_read_get(s, err);
    if (!db) return JE_STORE_ERROR;
    je_pool_gate *g = NULL;
    int rc = je_sqlite_pool_gate_open(db, job_type, NULL, 0, now_ms, &g, err);
    je_sqlite_read_put(s, db);
    if (rc != 0) return JE_STORE_ERROR;
    if (!g) return JE_STORE_NOT_FOUND;
    *out = malloc((g->n_use ? g->n_use : 1) * sizeof **out);
    if (*out) {
        memcpy(*out, g->use, g->n_use * sizeof **out);
        *n = g->n_use;
    }
    free(g);
    return *out ? JE_STORE_OK : (je_err_set(err, "STORE", "out of memory"), JE_STORE_ERROR);
}
