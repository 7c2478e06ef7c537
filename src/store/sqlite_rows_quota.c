/* store/sqlite_rows_quota.c: quota rows (sqlite_rows.h), and the steps on a quota that several
 * operations take inside their transaction: freeing expired permits, reverting an expired
 * elevation, giving slots back, reading what a decision needs. */
#include "store/sqlite_rows.h"

#include <stdio.h>
#include <string.h>

void je_sqlite_quota_from_row(sqlite3_stmt *st, je_quota_record *r) {
    memset(r, 0, sizeof *r);
    je_sqlite_col_text(st, 0, r->tenant_id, sizeof r->tenant_id);
    je_sqlite_col_text(st, 1, r->quota_id, sizeof r->quota_id);
    je_sqlite_col_text(st, 2, r->job_type, sizeof r->job_type);
    je_quota *q = &r->q;
    q->limits = (je_quota_limits){sqlite3_column_int64(st, 3), sqlite3_column_int64(st, 4),
                                  sqlite3_column_int64(st, 5), sqlite3_column_double(st, 6)};
    q->paused = sqlite3_column_int(st, 7);
    je_sqlite_col_text(st, 8, r->pause_reason, sizeof r->pause_reason);
    je_sqlite_col_text(st, 9, r->pause_ticket, sizeof r->pause_ticket);
    q->state = (je_quota_state){sqlite3_column_int64(st, 10), sqlite3_column_int64(st, 11),
                                sqlite3_column_int64(st, 12), sqlite3_column_double(st, 13),
                                sqlite3_column_int64(st, 14), sqlite3_column_int64(st, 15),
                                sqlite3_column_int64(st, 16)};
    q->elevation_expires_ms =
        sqlite3_column_type(st, 17) == SQLITE_NULL ? JE_NO_TIME : sqlite3_column_int64(st, 17);
    q->previous = (je_quota_limits){sqlite3_column_int64(st, 18), sqlite3_column_int64(st, 19),
                                    sqlite3_column_int64(st, 20), sqlite3_column_double(st, 21)};
    r->version = sqlite3_column_int64(st, 22);
    r->created_ms = sqlite3_column_int64(st, 23);
    je_sqlite_col_text(st, 24, r->created_by, sizeof r->created_by);
    r->updated_ms = sqlite3_column_int64(st, 25);
    je_sqlite_col_text(st, 26, r->updated_by, sizeof r->updated_by);
    je_sqlite_col_text(st, 27, r->last_reason, sizeof r->last_reason);
    je_sqlite_col_text(st, 28, r->last_ticket, sizeof r->last_ticket);
}

static void quota_bind(sqlite3_stmt *st, const je_quota_record *r) {
    const je_quota *q = &r->q;
    sqlite3_bind_text(st, 1, r->tenant_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, r->quota_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, r->job_type, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, q->limits.max_active);
    sqlite3_bind_int64(st, 5, q->limits.max_per_hour);
    sqlite3_bind_int64(st, 6, q->limits.burst_capacity);
    sqlite3_bind_double(st, 7, q->limits.refill_per_second);
    sqlite3_bind_int(st, 8, q->paused);
    sqlite3_bind_text(st, 9, r->pause_reason, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 10, r->pause_ticket, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 11, q->state.active);
    sqlite3_bind_int64(st, 12, q->state.hour_count);
    sqlite3_bind_int64(st, 13, q->state.hour_start_ms);
    sqlite3_bind_double(st, 14, q->state.tokens);
    sqlite3_bind_int64(st, 15, q->state.last_refill_ms);
    sqlite3_bind_int64(st, 16, q->state.throttled);
    sqlite3_bind_int64(st, 17, q->state.throttled_hour_ms);
    if (q->elevation_expires_ms == JE_NO_TIME)
        sqlite3_bind_null(st, 18);
    else
        sqlite3_bind_int64(st, 18, q->elevation_expires_ms);
    sqlite3_bind_int64(st, 19, q->previous.max_active);
    sqlite3_bind_int64(st, 20, q->previous.max_per_hour);
    sqlite3_bind_int64(st, 21, q->previous.burst_capacity);
    sqlite3_bind_double(st, 22, q->previous.refill_per_second);
    sqlite3_bind_int64(st, 23, r->version);
    sqlite3_bind_int64(st, 24, r->created_ms);
    sqlite3_bind_text(st, 25, r->created_by, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 26, r->updated_ms);
    sqlite3_bind_text(st, 27, r->updated_by, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 28, r->last_reason, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 29, r->last_ticket, -1, SQLITE_STATIC);
}

int je_sqlite_quota_load(sqlite3 *db, const char *tenant, const char *key, int by_job_type,
                         je_quota_record *out, je_err *err) {
    sqlite3_stmt *st = je_sqlite_prepare(
        db,
        by_job_type
            ? "SELECT " JE_SQLITE_QUOTA_COLS " FROM quotas WHERE tenant_id=?1 AND job_type=?2"
            : "SELECT " JE_SQLITE_QUOTA_COLS " FROM quotas WHERE tenant_id=?1 AND quota_id=?2",
        err);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
    int found = je_sqlite_quota_step(db, st, out, err);
    je_sqlite_done(st);
    return found;
}

int je_sqlite_quota_step(sqlite3 *db, sqlite3_stmt *st, je_quota_record *out, je_err *err) {
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        je_sqlite_quota_from_row(st, out);
        return JE_STORE_OK;
    }
    return rc == SQLITE_DONE ? JE_STORE_NOT_FOUND : je_sqlite_fail(err, db, "quota load");
}

int je_sqlite_quota_save(sqlite3 *db, const je_quota_record *r, je_err *err) {
    sqlite3_stmt *st = je_sqlite_prepare(
        db,
        /* An upsert on the primary key only: a job type taken by another quota is a
         * constraint error, never a silent replacement of that quota. */
        "INSERT INTO quotas(" JE_SQLITE_QUOTA_COLS ") VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,"
        "?11,?12,?13,?14,?15,?16,?17,?18,?19,?20,?21,?22,?23,?24,?25,?26,?27,?28,?29) "
        "ON CONFLICT(tenant_id, quota_id) DO UPDATE SET job_type=excluded.job_type, "
        "max_active=excluded.max_active, max_per_hour=excluded.max_per_hour, "
        "burst_capacity=excluded.burst_capacity, refill_per_second=excluded.refill_per_second, "
        "paused=excluded.paused, pause_reason=excluded.pause_reason, "
        "pause_ticket=excluded.pause_ticket, active=excluded.active, "
        "hour_count=excluded.hour_count, hour_start_ms=excluded.hour_start_ms, "
        "tokens=excluded.tokens, last_refill_ms=excluded.last_refill_ms, "
        "throttled=excluded.throttled, throttled_hour_ms=excluded.throttled_hour_ms, "
        "elevation_expires_ms=excluded.elevation_expires_ms, "
        "prev_max_active=excluded.prev_max_active, prev_max_per_hour=excluded.prev_max_per_hour, "
        "prev_burst_capacity=excluded.prev_burst_capacity, "
        "prev_refill_per_second=excluded.prev_refill_per_second, version=excluded.version, "
        "created_ms=excluded.created_ms, created_by=excluded.created_by, "
        "updated_ms=excluded.updated_ms, updated_by=excluded.updated_by, "
        "last_reason=excluded.last_reason, last_ticket=excluded.last_ticket",
        err);
    if (!st) return -1;
    quota_bind(st, r);
    int rc = sqlite3_step(st);
    je_sqlite_done(st);
    if ((rc & 0xff) == SQLITE_CONSTRAINT)
        return je_err_set(err, "QUOTA_EXISTS", "a quota for this job type exists already");
    return rc == SQLITE_DONE ? 0 : je_sqlite_fail(err, db, "quota save");
}

int je_sqlite_quota_delete(sqlite3 *db, const je_quota_record *r, je_err *err) {
    if (je_sqlite_run(db, "DELETE FROM permits WHERE tenant_id=?1 AND quota_id=?2 AND ?3=?3",
                      r->tenant_id, r->quota_id, 0, NULL, err) != 0)
        return -1;
    return je_sqlite_run(db, "DELETE FROM quotas WHERE tenant_id=?1 AND quota_id=?2 AND ?3=?3",
                         r->tenant_id, r->quota_id, 0, NULL, err);
}

int je_sqlite_permits_release_expired(sqlite3 *db, je_quota_record *r, int64_t now, int64_t *freed,
                                      je_err *err) {
    int64_t n = 0;
    /* the permit is live while expires_ms > now (je_permit_live), stated as a predicate */
    if (je_sqlite_run(db,
                      "DELETE FROM permits WHERE tenant_id=?1 AND quota_id=?2 AND expires_ms <= ?3",
                      r->tenant_id, r->quota_id, now, &n, err) != 0)
        return -1;
    je_quota_release(&r->q, n);
    if (freed) *freed = n;
    return 0;
}

int je_sqlite_elevation_expire_tx(sqlite3 *db, je_quota_record *r, int64_t now, je_err *err) {
    je_quota_record before = *r;
    if (!je_quota_record_elevation_expire(r, now)) return 0;
    je_store *s = je_sqlite_tx_store;
    json_t *entry = s && s->hooks && s->hooks->elevation_audit
                        ? s->hooks->elevation_audit(&before, r, now)
                        : NULL;
    int rc = entry ? je_sqlite_audit_append_tx(db, entry, err) : 0;
    json_decref(entry);
    return rc;
}

int je_sqlite_quota_release_slots(sqlite3 *db, const char *tenant, const char *quota_id, int64_t n,
                                  je_err *err) {
    if (!quota_id || !*quota_id || n <= 0) return 0;
    je_quota_record r;
    int found = je_sqlite_quota_load(db, tenant, quota_id, 0, &r, err);
    if (found != JE_STORE_OK) return found == JE_STORE_NOT_FOUND ? 0 : -1;
    je_quota_release(&r.q, n);
    return je_sqlite_quota_save(db, &r, err);
}

int64_t je_sqlite_quota_earliest_expiry(sqlite3 *db, const je_quota_record *r, je_err *err) {
    sqlite3_stmt *st = je_sqlite_prepare(
        db,
        "SELECT min(m) FROM (SELECT min(expires_ms) AS m FROM permits WHERE tenant_id=?1 AND "
        "quota_id=?2 UNION ALL SELECT min(lease_until_ms) FROM jobs WHERE tenant_id=?1 AND "
        "quota_id=?2 AND status=1)",
        err);
    if (!st) return INT64_MAX;
    sqlite3_bind_text(st, 1, r->tenant_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, r->quota_id, -1, SQLITE_STATIC);
    int64_t v = JE_NO_TIME;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
        v = sqlite3_column_int64(st, 0);
    je_sqlite_done(st);
    return rc == SQLITE_ROW ? v : (je_sqlite_fail(err, db, "earliest expiry"), INT64_MAX);
}

int64_t je_sqlite_quota_backfill_leases(sqlite3 *db, const je_quota_record *r, je_err *err) {
    sqlite3_stmt *st = je_sqlite_prepare(db,
                                         "SELECT count(*) FROM jobs WHERE tenant_id=?1 AND "
                                         "quota_id=?2 AND status=1 AND lane=1",
                                         err);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, r->tenant_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, r->quota_id, -1, SQLITE_STATIC);
    int64_t n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    je_sqlite_done(st);
    return n < 0 ? je_sqlite_fail(err, db, "backfill count") : n;
}
