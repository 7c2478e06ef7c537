/* store/sqlite_breaker.c: circuit breaker operations (store.h "Circuit breakers"): read, list,
 * and change one row in a write transaction with its audit entry; a change of a job type's row
 * also reaches its tenant rows (settings, delete). */
#include "store/sqlite_ops.h"

#include <stdio.h>
#include <string.h>

#include "store/sqlite_rows.h"

int je_sqlite_breaker_get(je_store *s, const char *job_type, const char *tenant,
                          je_breaker_row *out, je_err *err) {
    sqlite3 *db = je_sqlite_read_get(s, err);
    if (!db) return JE_STORE_ERROR;
    int rc = je_sqlite_breaker_load(db, job_type, tenant, out, err);
    je_sqlite_read_put(s, db);
    return rc;
}

int je_sqlite_breaker_list(je_store *s, const char *job_type, je_breaker_visit_fn fn, void *ctx,
                           je_err *err) {
    sqlite3 *db = je_sqlite_read_get(s, err);
    if (!db) return JE_STORE_ERROR;
    int rc = je_sqlite_breaker_list_tx(db, job_type, fn, ctx, err);
    je_sqlite_read_put(s, db);
    return rc == 0 ? JE_STORE_OK : JE_STORE_ERROR;
}

typedef struct change_arg {
    const char *job_type, *tenant;
    int64_t now;
    je_breaker_change_fn fn;
    void *ctx;
    je_breaker_row *out;
    int result;
} change_arg;

static int change_op(sqlite3 *db, void *argp, je_err *err) {
    change_arg *a = argp;
    je_breaker_row *rec = a->out;
    int found = je_sqlite_breaker_load(db, a->job_type, a->tenant, rec, err);
    if (found < 0) return -1;
    if (found == JE_STORE_NOT_FOUND) {
        memset(rec, 0, sizeof *rec);
        snprintf(rec->job_type, sizeof rec->job_type, "%s", a->job_type);
        snprintf(rec->tenant_id, sizeof rec->tenant_id, "%s", a->tenant);
    }
    json_t *audit = NULL;
    int rc = a->fn(a->ctx, rec, found == JE_STORE_OK, a->now, &audit, err);
    if (rc == JE_CHANGE_APPLY) {
        rc = je_sqlite_breaker_save(db, rec, err) == 0 ? rc : -1;
        if (rc >= 0 && !rec->tenant_id[0])
            rc = je_sqlite_breaker_settings_spread(db, rec, err) == 0 ? rc : -1;
    } else if (rc == JE_CHANGE_DELETE) {
        rc = je_sqlite_breaker_delete_all(db, a->job_type, err) == 0 ? rc : -1;
    } else if (rc != JE_CHANGE_DENY) {
        rc = -1;
    }
    if (rc >= 0 && audit) rc = je_sqlite_audit_append_tx(db, audit, err) == 0 ? rc : -1;
    json_decref(audit);
    if (rc < 0) return -1;
    a->result = rc;
    return 0;
}

int je_sqlite_breaker_change(je_store *s, const char *job_type, const char *tenant, int64_t now_ms,
                             je_breaker_change_fn fn, void *ctx, je_breaker_row *out, je_err *err) {
    change_arg a = {job_type, tenant, now_ms, fn, ctx, out, JE_STORE_ERROR};
    if (je_sqlite_write(s, change_op, &a, err) != 0) return JE_STORE_ERROR;
    return a.result;
}
