/* store/postgres_breaker.c: circuit breaker operations (store.h "Circuit breakers") on
 * PostgreSQL, as sqlite_breaker.c. */
#include "store/postgres_ops.h"

#include <stdio.h>
#include <string.h>

#include "store/postgres_rows.h"

typedef struct get_arg {
    const char *job_type, *tenant;
    je_breaker_row *out;
    je_breaker_visit_fn fn;
    void *ctx;
} get_arg;

static int get_tx(je_pg_tx *tx, void *argp, je_err *err) {
    get_arg *a = argp;
    return je_pg_breaker_load(tx, a->job_type, a->tenant, 0, a->out, err);
}

int je_pg_breaker_get(je_store *s, const char *job_type, const char *tenant, je_breaker_row *out,
                      je_err *err) {
    get_arg a = {job_type, tenant, out, NULL, NULL};
    return je_pg_read(s, get_tx, &a, err);
}

static int list_tx(je_pg_tx *tx, void *argp, je_err *err) {
    get_arg *a = argp;
    return je_pg_breaker_list_tx(tx, a->job_type, a->fn, a->ctx, err) == 0 ? JE_STORE_OK
                                                                           : JE_STORE_ERROR;
}

int je_pg_breaker_list(je_store *s, const char *job_type, je_breaker_visit_fn fn, void *ctx,
                       je_err *err) {
    get_arg a = {job_type, NULL, NULL, fn, ctx};
    return je_pg_read(s, list_tx, &a, err);
}

typedef struct change_arg {
    const char *job_type, *tenant;
    int64_t now;
    je_breaker_change_fn fn;
    void *ctx;
    je_breaker_row *out;
    int result;
} change_arg;

static int change_tx(je_pg_tx *tx, void *argp, je_err *err) {
    change_arg *a = argp;
    je_breaker_row *rec = a->out;
    int found = je_pg_breaker_load(tx, a->job_type, a->tenant, 1, rec, err);
    if (found < 0) return JE_STORE_ERROR;
    if (found == JE_STORE_NOT_FOUND) {
        memset(rec, 0, sizeof *rec);
        snprintf(rec->job_type, sizeof rec->job_type, "%s", a->job_type);
        snprintf(rec->tenant_id, sizeof rec->tenant_id, "%s", a->tenant);
    }
    json_t *audit = NULL;
    int rc = a->fn(a->ctx, rec, found == JE_STORE_OK, a->now, &audit, err);
    if (rc == JE_CHANGE_APPLY) {
        rc = je_pg_breaker_save(tx, rec, err) == 0 ? rc : -1;
        if (rc >= 0 && !rec->tenant_id[0])
            rc = je_pg_breaker_settings_spread(tx, rec, err) == 0 ? rc : -1;
    } else if (rc == JE_CHANGE_DELETE) {
        rc = je_pg_breaker_delete_all(tx, a->job_type, err) == 0 ? rc : -1;
    } else if (rc != JE_CHANGE_DENY) {
        rc = -1;
    }
    if (rc >= 0 && audit) rc = je_pg_audit_append_tx(tx, audit, err) == 0 ? rc : -1;
    json_decref(audit);
    if (rc < 0) return JE_STORE_ERROR;
    a->result = rc;
    return JE_STORE_OK;
}

int je_pg_breaker_change(je_store *s, const char *job_type, const char *tenant, int64_t now_ms,
                         je_breaker_change_fn fn, void *ctx, je_breaker_row *out, je_err *err) {
    change_arg a = {job_type, tenant, now_ms, fn, ctx, out, JE_STORE_ERROR};
    int rc = je_pg_write(s, change_tx, &a, err);
    return rc < 0 ? rc : a.result;
}
