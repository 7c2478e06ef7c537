/* store/sqlite_audit.c: the SQLite backend's audit chains (domain.md §6). An append reads the
 * tenant's head, seals the entry (core/audit.h) and inserts it inside one write transaction, so
 * sequences are gapless and links exact even with many writers. entry_json holds the canonical
 * (JCS) form of the whole entry; the other columns are copies for filtering. */
#include "store/sqlite_impl.h"

#include <stdlib.h>
#include <string.h>
#include "core/audit.h"
#include "core/buf.h"
#include "core/jcs.h"
#include "core/timefmt.h"

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

static int audit_insert(sqlite3 *db, const json_t *entry, je_err *err) {
    int64_t occurred = 0;
    const char *at = member_str(entry, "occurredAt");
    if (!at || je_time_parse(at, &occurred) < 0)
        return je_err_field(err, "AUDIT_INVALID", "occurredAt", "audit entry has no valid time");
    if (!member_str(entry, "entryId") || !member_str(entry, "eventType"))
        return je_err_set(err, "AUDIT_INVALID", "audit entry lacks entryId or eventType");
    size_t len = 0;
    char *text = je_jcs_dumps(entry, &len);
    if (!text) return je_err_set(err, "AUDIT_INVALID", "audit entry cannot be canonicalised");
    sqlite3_stmt *st = je_sqlite_prepare(
        db,
        "INSERT INTO audit_entries(tenant_id, sequence, entry_id, event_type, resource_type, "
        "resource_id, actor_id, occurred_ms, hash, entry_json) "
        "VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10)",
        err);
    if (!st) {
        free(text);
        return -1;
    }
    sqlite3_bind_text(st, 1, member_str(entry, "tenantId"), -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, json_integer_value(json_object_get(entry, "sequence")));
    sqlite3_bind_text(st, 3, member_str(entry, "entryId"), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, member_str(entry, "eventType"), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, member_str(entry, "resourceType"), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, member_str(entry, "resourceId"), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, member_str(entry, "actorId"), -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 8, occurred);
    sqlite3_bind_text(st, 9, member_str(entry, "hash"), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 10, text, (int)len, free);
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
    if (audit_insert(db, entry, err) != 0) return -1;
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
