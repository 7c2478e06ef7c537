/* store/postgres_pool.c: capacity pool operations (store.h "Capacity pools") on PostgreSQL, as
 * sqlite_pool.c: read, list, change in one transaction with its audit entry (the pool row
 * locked, then the audit head), and the use a decision would count now. */
#include "store/postgres_ops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/postgres_rows.h"

typedef struct get_arg {
    const char *job_type;
    je_pool_record *out;
} get_arg;

static int get_tx(je_pg_tx *tx, void *argp, je_err *err) {
    get_arg *a = argp;
    return je_pg_pool_read(tx, a->job_type, a->out, err);
}

int je_pg_pool_get(je_store *s, const char *job_type, je_pool_record *out, je_err *err) {
    get_arg a = {job_type, out};
    return je_pg_read(s, get_tx, &a, err);
}

typedef struct list_arg {
    je_pool_visit_fn fn;
    void *ctx;
} list_arg;

static int list_tx(je_pg_tx *tx, void *argp, je_err *err) {
    list_arg *a = argp;
    return je_pg_pool_list_tx(tx, a->fn, a->ctx, err) == 0 ? JE_STORE_OK : JE_STORE_ERROR;
}

int je_pg_pool_list(je_store *s, je_pool_visit_fn fn, void *ctx, je_err *err) {
    list_arg a = {fn, ctx};
    return je_pg_read(s, list_tx, &a, err);
}

typedef struct change_arg {
    const char *job_type;
    int64_t now;
    je_pool_change_fn fn;
    void *ctx;
    je_pool_record *out;
    int result;
} change_arg;

static int change_tx(je_pg_tx *tx, void *argp, je_err *err) {
    change_arg *a = argp;
    je_pool_record *rec = a->out;
    int found = je_pg_pool_load(tx, a->job_type, rec, err);
    if (found < 0) return JE_STORE_ERROR;
    if (found == JE_STORE_NOT_FOUND) {
        memset(rec, 0, sizeof *rec);
        snprintf(rec->pool.job_type, sizeof rec->pool.job_type, "%s", a->job_type);
    }
    json_t *audit = NULL;
    int rc = a->fn(a->ctx, rec, found == JE_STORE_OK, a->now, &audit, err);
    if (rc == JE_CHANGE_APPLY)
        rc = je_pg_pool_save(tx, rec, err) == 0 ? rc : -1;
    else if (rc == JE_CHANGE_DELETE)
        rc = je_pg_pool_delete(tx, a->job_type, err) == 0 ? rc : -1;
    else if (rc != JE_CHANGE_DENY)
        rc = -1;
    if (rc >= 0 && audit) rc = je_pg_audit_append_tx(tx, audit, err) == 0 ? rc : -1;
    json_decref(audit);
    if (rc < 0) return JE_STORE_ERROR;
    a->result = rc;
    return JE_STORE_OK;
}

int je_pg_pool_change(je_store *s, const char *job_type, int64_t now_ms, je_pool_change_fn fn,
                      void *ctx, je_pool_record *out, je_err *err) {
    change_arg a = {job_type, now_ms, fn, ctx, out, JE_STORE_ERROR};
    int rc = je_pg_write(s, change_tx, &a, err);
    return rc < 0 ? rc : a.result;
}

typedef struct usage_arg {
    const char *job_type;
    int64_t now;
    je_pool_gate *g;
} usage_arg;

static int usage_tx(je_pg_tx *tx, void *argp, je_err *err) {
    usage_arg *a = argp;
    free(a->g);
    a->g = NULL;
    if (je_pg_pool_gate_open(tx, a->job_type, NULL, 0, a->now, 0, &a->g, err) != 0)
        return JE_STORE_ERROR;
    return a->g ? JE_STORE_OK : JE_STORE_NOT_FOUND;
}

int je_pg_pool_usage(je_store *s, const char *job_type, int64_t now_ms, je_pool_use **out,
                     size_t *n, je_err *err) {
    *out = NULL;
    *n = 0;
    usage_arg a = {job_type, now_ms, NULL};
    int rc = je_pg_read(s, usage_tx, &a, err);
    if (rc != JE_STORE_OK) return free(a.g), rc;
    *out = malloc((a.g->n_use ? a.g->n_use : 1) * sizeof **out);
    if (*out) {
        memcpy(*out, a.g->use, a.g->n_use * sizeof **out);
        *n = a.g->n_use;
    }
    free(a.g);
    return *out ? JE_STORE_OK : (je_err_set(err, "STORE", "out of memory"), JE_STORE_ERROR);
}
