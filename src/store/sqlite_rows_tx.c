/* store/sqlite_rows_tx.c: steps every kind of write takes inside its transaction: remembering
 * and replaying Idempotency-Keys (api.md §1), and appending to a tenant's audit chain
 * (domain.md §6: the head read, the entry sealed by core/audit.h, inserted, the head moved). */
#include "store/sqlite_rows.h"

#include <stdlib.h>
#include <string.h>

#include "core/audit.h"
#include "core/jcs.h"
#include "core/timefmt.h"

int je_sqlite_run(sqlite3 *db, const char *sql, const char *a, const char *b, int64_t n,
                  int64_t *changes, je_err *err) {
    sqlite3_stmt *st = je_sqlite_prepare(db, sql, err);
    if (!st) return -1;
    if (a) sqlite3_bind_text(st, 1, a, -1, SQLITE_STATIC);
    if (b) sqlite3_bind_text(st, 2, b, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, n);
    int rc = sqlite3_step(st);
    je_sqlite_done(st);
    if (changes) *changes = sqlite3_changes(db);
    return rc == SQLITE_DONE ? 0 : je_sqlite_fail(err, db, "quota statement");
}

/* ---- idempotency ---- */

#define IDEM_TTL_MS (24LL * 3600 * 1000)

/* 1 when the key was seen (replayed or mismatch set), 0 when new, -1 error. */
int je_sqlite_idem_lookup(sqlite3 *db, const char *tenant, je_idem *idem, int64_t now,
                          je_err *err) {
    if (!idem || !idem->key) return 0;
    sqlite3_stmt *st = je_sqlite_prepare(
        db,
        "SELECT request_hash, status, body FROM idempotency WHERE tenant_id=?1 AND method=?2 "
        "AND path=?3 AND idem_key=?4 AND created_ms > ?5",
        err);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, idem->method, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, idem->path, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, idem->key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, now - IDEM_TTL_MS);
    int rc = sqlite3_step(st), seen = 0;
    if (rc == SQLITE_ROW) {
        seen = 1;
        if (strcmp((const char *)sqlite3_column_text(st, 0), idem->request_hash) != 0) {
            idem->mismatch = 1;
        } else {
            idem->replayed = 1;
            idem->status = sqlite3_column_int(st, 1);
            idem->body = strdup((const char *)sqlite3_column_text(st, 2));
        }
    } else if (rc != SQLITE_DONE) {
        seen = je_sqlite_fail(err, db, "idempotency lookup");
    }
    je_sqlite_done(st);
    return seen;
}

int je_sqlite_idem_store(sqlite3 *db, const char *tenant, je_idem *idem, int64_t now, je_err *err) {
    if (!idem || !idem->key || !idem->render) return 0;
    int status = 0;
    char *body = idem->render(idem->render_ctx, &status);
    if (!body) return je_err_set(err, "STORE", "idempotent response could not be rendered");
    sqlite3_stmt *st = je_sqlite_prepare(
        db,
        "INSERT OR REPLACE INTO idempotency(tenant_id, method, path, idem_key, request_hash, "
        "status, body, created_ms) VALUES(?1,?2,?3,?4,?5,?6,?7,?8)",
        err);
    if (!st) return free(body), -1;
    sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, idem->method, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, idem->path, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, idem->key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, idem->request_hash, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 6, status);
    sqlite3_bind_text(st, 7, body, -1, free);
    sqlite3_bind_int64(st, 8, now);
    int rc = sqlite3_step(st);
    je_sqlite_done(st);
    return rc == SQLITE_DONE ? 0 : je_sqlite_fail(err, db, "idempotency store");
}

/* ---- audit ---- */

static const char *member_str(const json_t *entry, const char *key) {
    return json_string_value(json_object_get(entry, key)); /* NULL when absent or not a string */
}

/* The tenant's last sequence and hash; 0 and JE_AUDIT_ZERO_HASH for an empty chain. */
static int audit_head(sqlite3 *db, const char *tenant, int64_t *seq,
                      char hash[JE_AUDIT_HASH_LEN + 1], je_err *err) {
    sqlite3_stmt *st = je_sqlite_prepare(db,
                                         "SELECT sequence, hash FROM audit_entries WHERE "
                                         "tenant_id=?1 ORDER BY sequence DESC LIMIT 1",
                                         err);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st), ok = 0;
    if (rc == SQLITE_DONE) {
        *seq = 0;
        memcpy(hash, JE_AUDIT_ZERO_HASH, JE_AUDIT_HASH_LEN + 1);
    } else if (rc == SQLITE_ROW && sqlite3_column_bytes(st, 1) == JE_AUDIT_HASH_LEN) {
        *seq = sqlite3_column_int64(st, 0);
        memcpy(hash, sqlite3_column_text(st, 1), JE_AUDIT_HASH_LEN + 1);
    } else {
        ok = rc == SQLITE_ROW ? je_err_set(err, "STORE", "corrupt audit head of %s", tenant)
                              : je_sqlite_fail(err, db, "audit head");
    }
    je_sqlite_done(st);
    return ok;
}

static int audit_insert(sqlite3 *db, je_audit_row *row, je_err *err) {
    sqlite3_stmt *st = je_sqlite_prepare(
        db,
        "INSERT INTO audit_entries(tenant_id, sequence, entry_id, event_type, resource_type, "
        "resource_id, actor_id, occurred_ms, hash, entry_json) "
        "VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10)",
        err);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, row->tenant, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, row->sequence);
    sqlite3_bind_text(st, 3, row->entry_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, row->event_type, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, row->resource_type, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, row->resource_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, row->actor_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 8, row->occurred_ms);
    sqlite3_bind_text(st, 9, row->hash, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 10, row->text, (int)row->len, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    je_sqlite_done(st);
    return rc == SQLITE_DONE ? 0 : je_sqlite_fail(err, db, "audit append");
}

int je_sqlite_audit_append_tx(sqlite3 *db, json_t *entry, je_err *err) {
    int64_t head = 0;
    char head_hash[JE_AUDIT_HASH_LEN + 1];
    const char *tenant = member_str(entry, "tenantId");
    if (!tenant) return je_err_field(err, "AUDIT_INVALID", "tenantId", "audit entry has no tenant");
    if (audit_head(db, tenant, &head, head_hash, err) < 0) return -1;
    if (je_audit_entry_seal(entry, head + 1, head_hash, err) < 0) return -1;
    je_audit_row row;
    if (je_audit_row_of(entry, &row, err) != 0) return -1;
    int inserted = audit_insert(db, &row, err);
    free(row.text);
    if (inserted != 0) return -1;
    sqlite3_stmt *st = je_sqlite_prepare(
        db,
        "INSERT INTO audit_heads(tenant_id, head_sequence, head_hash) VALUES(?1,?2,?3) "
        "ON CONFLICT DO UPDATE SET head_sequence=excluded.head_sequence, "
        "head_hash=excluded.head_hash",
        err);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, head + 1);
    sqlite3_bind_text(st, 3, member_str(entry, "hash"), -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    je_sqlite_done(st);
    if (rc != SQLITE_DONE) return je_sqlite_fail(err, db, "audit head");
    je_store *s = je_sqlite_tx_store;
    if (s && s->hooks && s->hooks->audit_appended)
        s->hooks->audit_appended(member_str(entry, "eventType"));
    return 0;
}
