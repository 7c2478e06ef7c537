/* store/sqlite_audit.c: the SQLite backend's audit chains (domain.md §6): appends on their own
 * (the append itself, shared with every write that audits, is sqlite_rows_tx.c), lists and
 * scans. entry_json holds the canonical (JCS) form of the whole entry; the other columns are
 * copies for filtering. */
#include "store/sqlite_ops.h"

#include <stdlib.h>
#include <string.h>
#include "core/audit.h"
#include "core/buf.h"
#include "core/jcs.h"
#include "core/timefmt.h"

static int audit_append_op(sqlite3 *db, void *entry, je_err *err) {
    return je_sqlite_audit_append_tx(db, entry, err);
}

int je_sqlite_audit_append(je_store *s, json_t *entry, je_err *err) {
    if (!json_is_object(entry))
        return je_err_set(err, "AUDIT_INVALID", "audit entry not an object");
    return je_sqlite_write(s, audit_append_op, entry, err);
}

/* Steps st (selecting sequence, entry_json), visiting each row until fn stops it. */
static int visit_entries(sqlite3 *db, sqlite3_stmt *st, je_audit_visit_fn fn, void *ctx,
                         je_err *err) {
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        const char *text = (const char *)sqlite3_column_text(st, 1);
        size_t len = (size_t)sqlite3_column_bytes(st, 1);
        if (fn(ctx, sqlite3_column_int64(st, 0), text ? text : "", len) != 0) return 0;
    }
    return step == SQLITE_DONE ? 0 : je_sqlite_fail(err, db, "audit read");
}

/* Only the filters in use appear in the SQL, so SQLite can pick the matching index. */
static char *list_sql(const je_audit_filter *f) {
    je_buf b = JE_BUF_INIT;
    je_buf_puts(&b, "SELECT sequence, entry_json FROM audit_entries WHERE tenant_id=?1 "
                    "AND sequence > ?2");
    if (f->event_type) je_buf_puts(&b, " AND event_type=?4");
    if (f->resource_type) je_buf_puts(&b, " AND resource_type=?5");
    if (f->resource_id) je_buf_puts(&b, " AND resource_id=?6");
    if (f->actor) je_buf_puts(&b, " AND actor_id=?7");
    if (f->since_ms != INT64_MIN) je_buf_puts(&b, " AND occurred_ms >= ?8");
    if (f->until_ms != INT64_MAX) je_buf_puts(&b, " AND occurred_ms < ?9");
    je_buf_puts(&b, " ORDER BY sequence LIMIT ?3");
    return b.data;
}

int je_sqlite_audit_list(je_store *s, const char *tenant, const je_audit_filter *filter,
                         je_audit_visit_fn fn, void *ctx, je_err *err) {
    je_audit_filter all = {NULL, NULL, NULL, NULL, INT64_MIN, INT64_MAX, 0, -1};
    const je_audit_filter *f = filter ? filter : &all;
    sqlite3 *db = je_sqlite_read_get(s, err);
    if (!db) return -1;
    char *sql = list_sql(f);
    sqlite3_stmt *st = je_sqlite_prepare(db, sql, err);
    free(sql);
    int rc = -1;
    if (st) {
        /* Binding a number the SQL does not use fails harmlessly (SQLITE_RANGE). */
        sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, f->after_sequence);
        sqlite3_bind_int64(st, 3, f->limit);
        sqlite3_bind_text(st, 4, f->event_type, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 5, f->resource_type, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 6, f->resource_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 7, f->actor, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 8, f->since_ms);
        sqlite3_bind_int64(st, 9, f->until_ms);
        rc = visit_entries(db, st, fn, ctx, err);
    }
    je_sqlite_done(st);
    je_sqlite_read_put(s, db);
    return rc;
}

int je_sqlite_audit_scan(je_store *s, const char *tenant, int64_t from_sequence,
                         je_audit_visit_fn fn, void *ctx, je_err *err) {
    sqlite3 *db = je_sqlite_read_get(s, err);
    if (!db) return -1;
    int rc = -1;
    sqlite3_stmt *st = je_sqlite_prepare(db,
                                         "SELECT sequence, entry_json FROM audit_entries WHERE "
                                         "tenant_id=?1 AND sequence >= ?2 ORDER BY sequence",
                                         err);
    if (st) {
        sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, from_sequence);
        rc = visit_entries(db, st, fn, ctx, err);
    }
    je_sqlite_done(st);
    je_sqlite_read_put(s, db);
    return rc;
}
