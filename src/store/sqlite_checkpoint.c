/* store/sqlite_checkpoint.c: the SQLite backend's audit heads and signed checkpoints. */
#include "store/sqlite_ops.h"

#include <stdio.h>
#include <string.h>

#include "core/audit.h"

/* One row of (sequence, hash) from sql with tenant ?1 and n ?2: JE_STORE_OK or
 * JE_STORE_NOT_FOUND. */
static int seq_hash(je_store *s, const char *sql, const char *tenant, int64_t n, int64_t *seq,
                    char hash[65], je_err *err) {
    sqlite3 *db = je_sqlite_read_get(s, err);
    if (!db) return -1;
    sqlite3_stmt *st = je_sqlite_prepare(db, sql, err);
    int found = -1;
    if (st) {
        sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, n);
        int rc = sqlite3_step(st);
        found = rc == SQLITE_ROW    ? JE_STORE_OK
                : rc == SQLITE_DONE ? JE_STORE_NOT_FOUND
                                    : je_sqlite_fail(err, db, "head");
        if (found == JE_STORE_OK) {
            if (seq) *seq = sqlite3_column_int64(st, 0);
            je_sqlite_col_text(st, 1, hash, 65);
        }
        je_sqlite_done(st);
    }
    je_sqlite_read_put(s, db);
    return found;
}

int je_sqlite_audit_head(je_store *s, const char *tenant, int64_t *seq, char hash[65],
                         je_err *err) {
    int found = seq_hash(s,
                         "SELECT sequence, hash FROM audit_entries WHERE tenant_id=?1 AND ?2=?2 "
                         "ORDER BY sequence DESC LIMIT 1",
                         tenant, 0, seq, hash, err);
    if (found == JE_STORE_NOT_FOUND) {
        *seq = 0;
        memcpy(hash, JE_AUDIT_ZERO_HASH, 65);
    }
    return found < 0 ? -1 : 0;
}

int je_sqlite_audit_hash_at(je_store *s, const char *tenant, int64_t seq, char hash[65],
                            je_err *err) {
    return seq_hash(s,
                    "SELECT sequence, hash FROM audit_entries WHERE tenant_id=?1 AND sequence=?2",
                    tenant, seq, NULL, hash, err);
}

static int put_op(sqlite3 *db, void *arg, je_err *err) {
    const je_checkpoint_record *c = arg;
    sqlite3_stmt *st = je_sqlite_prepare(
        db,
        "INSERT OR IGNORE INTO audit_checkpoints(tenant_id, head_sequence, head_hash, "
        "checkpoint_json, signature, kid, issued_ms) VALUES(?1,?2,?3,?4,?5,?6,?7)",
        err);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, c->tenant_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, c->head_sequence);
    sqlite3_bind_text(st, 3, c->head_hash, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, c->checkpoint_json, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, c->signature, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, c->kid, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 7, c->issued_ms);
    int rc = sqlite3_step(st);
    je_sqlite_done(st);
    return rc == SQLITE_DONE ? 0 : je_sqlite_fail(err, db, "checkpoint");
}

int je_sqlite_checkpoint_put(je_store *s, const je_checkpoint_record *c, je_err *err) {
    return je_sqlite_write(s, put_op, (void *)c, err);
}

int je_sqlite_checkpoint_list(je_store *s, const char *tenant, je_checkpoint_visit_fn fn, void *ctx,
                              je_err *err) {
    sqlite3 *db = je_sqlite_read_get(s, err);
    if (!db) return -1;
    sqlite3_stmt *st = je_sqlite_prepare(db,
                                         "SELECT tenant_id, head_sequence, head_hash, "
                                         "checkpoint_json, signature, kid, issued_ms FROM "
                                         "audit_checkpoints WHERE tenant_id=?1 ORDER BY "
                                         "head_sequence",
                                         err);
    int rc = st ? 0 : -1;
    if (st) {
        sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
        je_checkpoint_record c;
        int step;
        while ((step = sqlite3_step(st)) == SQLITE_ROW) {
            je_sqlite_col_text(st, 0, c.tenant_id, sizeof c.tenant_id);
            c.head_sequence = sqlite3_column_int64(st, 1);
            je_sqlite_col_text(st, 2, c.head_hash, sizeof c.head_hash);
            je_sqlite_col_text(st, 3, c.checkpoint_json, sizeof c.checkpoint_json);
            je_sqlite_col_text(st, 4, c.signature, sizeof c.signature);
            je_sqlite_col_text(st, 5, c.kid, sizeof c.kid);
            c.issued_ms = sqlite3_column_int64(st, 6);
            if (fn(ctx, &c)) break;
        }
        if (step != SQLITE_ROW && step != SQLITE_DONE) rc = je_sqlite_fail(err, db, "checkpoints");
        je_sqlite_done(st);
    }
    je_sqlite_read_put(s, db);
    return rc;
}

int je_sqlite_checkpoints_due(je_store *s, int64_t every_n, int64_t every_ms, int64_t now_ms,
                              je_head_visit_fn fn, void *ctx, je_err *err) {
    sqlite3 *db = je_sqlite_read_get(s, err);
    if (!db) return -1;
    /* per tenant: its head against its last checkpoint */
    sqlite3_stmt *st = je_sqlite_prepare(
        db,
        "SELECT h.tenant_id, h.head_sequence, h.head_hash FROM audit_heads h LEFT JOIN "
        "(SELECT tenant_id, max(head_sequence) AS cs, max(issued_ms) AS ci FROM "
        "audit_checkpoints GROUP BY tenant_id) c ON c.tenant_id=h.tenant_id WHERE c.cs IS NULL "
        "OR h.head_sequence - c.cs >= ?1 OR (h.head_sequence > c.cs AND ?3 - c.ci >= ?2)",
        err);
    int rc = st ? 0 : -1;
    if (st) {
        sqlite3_bind_int64(st, 1, every_n);
        sqlite3_bind_int64(st, 2, every_ms);
        sqlite3_bind_int64(st, 3, now_ms);
        int step;
        while ((step = sqlite3_step(st)) == SQLITE_ROW)
            if (fn(ctx, (const char *)sqlite3_column_text(st, 0), sqlite3_column_int64(st, 1),
                   (const char *)sqlite3_column_text(st, 2)))
                break;
        if (step != SQLITE_ROW && step != SQLITE_DONE) rc = je_sqlite_fail(err, db, "due");
        je_sqlite_done(st);
    }
    je_sqlite_read_put(s, db);
    return rc;
}
