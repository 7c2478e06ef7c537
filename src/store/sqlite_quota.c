/* store/sqlite_quota.c: the SQLite backend's quotas and permits. Every decision and every change
 * is one write op on the writer thread: read the row, run the pure rule (core/quota.h, or the
 * caller's change callback), write the row, its permit and its audit entry, all in the same
 * transaction, so decisions are exact however many threads or processes ask at once. */
#include "store/sqlite_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define QUOTA_COLS                                                                                 \
    "tenant_id, quota_id, job_type, max_active, max_per_hour, burst_capacity, "                    \
    "refill_per_second, paused, pause_reason, pause_ticket, active, hour_count, hour_start_ms, "   \
    "tokens, last_refill_ms, throttled, throttled_hour_ms, elevation_expires_ms, "                 \
    "prev_max_active, prev_max_per_hour, prev_burst_capacity, prev_refill_per_second, version, "   \
    "created_ms, created_by, updated_ms, updated_by, last_reason, last_ticket"
#define QUOTA_NCOLS 29

static void col_text(sqlite3_stmt *st, int i, char *dst, size_t cap) {
    const unsigned char *t = sqlite3_column_text(st, i);
    snprintf(dst, cap, "%s", t ? (const char *)t : "");
}

static void quota_from_row(sqlite3_stmt *st, je_quota_record *r) {
    memset(r, 0, sizeof *r);
    col_text(st, 0, r->tenant_id, sizeof r->tenant_id);
    col_text(st, 1, r->quota_id, sizeof r->quota_id);
    col_text(st, 2, r->job_type, sizeof r->job_type);
    je_quota *q = &r->q;
    q->limits = (je_quota_limits){sqlite3_column_int64(st, 3), sqlite3_column_int64(st, 4),
                                  sqlite3_column_int64(st, 5), sqlite3_column_double(st, 6)};
    q->paused = sqlite3_column_int(st, 7);
    col_text(st, 8, r->pause_reason, sizeof r->pause_reason);
    col_text(st, 9, r->pause_ticket, sizeof r->pause_ticket);
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
    col_text(st, 24, r->created_by, sizeof r->created_by);
    r->updated_ms = sqlite3_column_int64(st, 25);
    col_text(st, 26, r->updated_by, sizeof r->updated_by);
    col_text(st, 27, r->last_reason, sizeof r->last_reason);
    col_text(st, 28, r->last_ticket, sizeof r->last_ticket);
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

/* Loads one quota by id (by_job_type = 0) or job type. 1 found, 0 not, -1 error. */
int je_sqlite_quota_load(sqlite3 *db, const char *tenant, const char *key, int by_job_type,
                         je_quota_record *out, je_err *err) {
    sqlite3_stmt *st = je_sqlite_prepare(
        db,
        by_job_type ? "SELECT " QUOTA_COLS " FROM quotas WHERE tenant_id=?1 AND job_type=?2"
                    : "SELECT " QUOTA_COLS " FROM quotas WHERE tenant_id=?1 AND quota_id=?2",
        err);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st), found = 0;
    if (rc == SQLITE_ROW) {
        quota_from_row(st, out);
        found = 1;
    } else if (rc != SQLITE_DONE) {
        found = je_sqlite_fail(err, db, "quota load");
    }
    je_sqlite_done(st);
    return found;
}

int je_sqlite_quota_save(sqlite3 *db, const je_quota_record *r, je_err *err) {
    sqlite3_stmt *st = je_sqlite_prepare(
        db,
        /* An upsert on the primary key only: a job type taken by another quota is a
         * constraint error, never a silent replacement of that quota. */
        "INSERT INTO quotas(" QUOTA_COLS ") VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,"
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

static int run_sql(sqlite3 *db, const char *sql, const char *a, const char *b, int64_t n,
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

int64_t je_sqlite_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- idempotency -------------------------------------------------------------------------- */

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

/* ---- reads -------------------------------------------------------------------------------- */

int je_sqlite_quota_get(je_store *s, const char *tenant, const char *quota_id, je_quota_record *out,
                        je_err *err) {
    sqlite3 *db = je_sqlite_read_get(s, err);
    if (!db) return -1;
    int rc = je_sqlite_quota_load(db, tenant, quota_id, 0, out, err);
    je_sqlite_read_put(s, db);
    return rc;
}

int je_sqlite_quota_list(je_store *s, const char *tenant, const je_quota_filter *f,
                         je_quota_visit_fn fn, void *ctx, je_err *err) {
    sqlite3 *db = je_sqlite_read_get(s, err);
    if (!db) return -1;
    sqlite3_stmt *st = je_sqlite_prepare(
        db,
        "SELECT " QUOTA_COLS " FROM quotas WHERE tenant_id=?1 AND (?2 IS NULL OR job_type=?2) "
        "AND (?3 < 0 OR paused=?3) AND job_type > ?4 ORDER BY job_type LIMIT ?5",
        err);
    int rc = st ? 0 : -1;
    if (st) {
        sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
        if (f->job_type) sqlite3_bind_text(st, 2, f->job_type, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 3, f->paused);
        sqlite3_bind_text(st, 4, f->after_job_type ? f->after_job_type : "", -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 5, f->limit);
        je_quota_record rec;
        int step;
        while ((step = sqlite3_step(st)) == SQLITE_ROW) {
            quota_from_row(st, &rec);
            if (fn(ctx, &rec) != 0) break;
        }
        if (step != SQLITE_ROW && step != SQLITE_DONE) rc = je_sqlite_fail(err, db, "quota list");
        je_sqlite_done(st);
    }
    je_sqlite_read_put(s, db);
    return rc;
}

/* ---- changes ------------------------------------------------------------------------------ */

typedef struct change_arg {
    const char *tenant, *quota_id, *job_type;
    je_quota_change_fn fn;
    void *ctx;
    je_idem *idem;
    je_quota_record *out;
    int result;
} change_arg;

static int delete_quota(sqlite3 *db, const je_quota_record *r, je_err *err) {
    if (run_sql(db, "DELETE FROM permits WHERE tenant_id=?1 AND quota_id=?2 AND ?3=?3",
                r->tenant_id, r->quota_id, 0, NULL, err) != 0)
        return -1;
    return run_sql(db, "DELETE FROM quotas WHERE tenant_id=?1 AND quota_id=?2 AND ?3=?3",
                   r->tenant_id, r->quota_id, 0, NULL, err);
}

static int change_op(sqlite3 *db, void *argp, je_err *err) {
    change_arg *a = argp;
    int64_t now = je_sqlite_now_ms();
    int seen = je_sqlite_idem_lookup(db, a->tenant, a->idem, now, err);
    if (seen != 0) {
        a->result = a->idem && a->idem->replayed ? JE_CHANGE_APPLY : JE_CHANGE_DENY;
        return seen < 0 ? -1 : 0;
    }
    je_quota_record *rec = a->out;
    int exists = a->quota_id ? je_sqlite_quota_load(db, a->tenant, a->quota_id, 0, rec, err)
                             : je_sqlite_quota_load(db, a->tenant, a->job_type, 1, rec, err);
    if (exists < 0) return -1;
    if (!exists) {
        memset(rec, 0, sizeof *rec);
        snprintf(rec->tenant_id, sizeof rec->tenant_id, "%s", a->tenant);
    }
    json_t *audit = NULL;
    int rc = a->fn(a->ctx, rec, exists, now, &audit, err);
    if (rc == JE_CHANGE_APPLY)
        rc = je_sqlite_quota_save(db, rec, err) == 0 ? rc : -1;
    else if (rc == JE_CHANGE_DELETE)
        rc = delete_quota(db, rec, err) == 0 ? rc : -1;
    if (rc >= 0 && audit) rc = je_sqlite_audit_append_tx(db, audit, err) == 0 ? rc : -1;
    json_decref(audit);
    if (rc >= 0 && rc != JE_CHANGE_DENY)
        rc = je_sqlite_idem_store(db, a->tenant, a->idem, now, err) ? -1 : rc;
    if (rc < 0) return -1;
    a->result = rc;
    return 0;
}

int je_sqlite_quota_change(je_store *s, const char *tenant, const char *quota_id,
                           const char *job_type, je_quota_change_fn fn, void *ctx, je_idem *idem,
                           je_quota_record *out, je_err *err) {
    change_arg a = {tenant, quota_id, job_type, fn, ctx, idem, out, -1};
    if (je_sqlite_write(s, change_op, &a, err) != 0) return -1;
    return a.result;
}

/* ---- decisions ---------------------------------------------------------------------------- */

/* Frees the slots of the quota's expired permits; *freed (optional) gets how many. */
int je_sqlite_permits_release_expired(sqlite3 *db, je_quota_record *r, int64_t now, int64_t *freed,
                                      je_err *err) {
    int64_t n = 0;
    if (run_sql(db, "DELETE FROM permits WHERE tenant_id=?1 AND quota_id=?2 AND expires_ms <= ?3",
                r->tenant_id, r->quota_id, now, &n, err) != 0)
        return -1;
    je_quota_release(&r->q, n);
    if (freed) *freed = n;
    return 0;
}

/* Reverts an expired elevation, with its audit entry, inside the caller's transaction. */
int je_sqlite_elevation_expire_tx(sqlite3 *db, je_quota_record *r, int64_t now,
                                  je_elevation_audit_fn make_audit, je_err *err) {
    je_quota_record before = *r;
    if (!je_quota_elevation_expire(&r->q, now)) return 0;
    r->version++;
    r->updated_ms = now;
    snprintf(r->updated_by, sizeof r->updated_by, "jobengine");
    json_t *entry = make_audit ? make_audit(&before, r, now) : NULL;
    int rc = entry ? je_sqlite_audit_append_tx(db, entry, err) : 0;
    json_decref(entry);
    return rc;
}

static int permit_insert(sqlite3 *db, const je_acquire *out, je_err *err) {
    sqlite3_stmt *st = je_sqlite_prepare(
        db, "INSERT INTO permits(tenant_id, permit_id, quota_id, expires_ms) VALUES(?1,?2,?3,?4)",
        err);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, out->rec.tenant_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, out->permit_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, out->rec.quota_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, out->expires_ms);
    int rc = sqlite3_step(st);
    je_sqlite_done(st);
    return rc == SQLITE_DONE ? 0 : je_sqlite_fail(err, db, "permit insert");
}

typedef struct acquire_arg {
    const char *tenant, *quota_id;
    int64_t ttl_ms, now;
    je_idem *idem;
    je_elevation_audit_fn make_audit;
    je_acquire *out;
    int found;
} acquire_arg;

static int acquire_op(sqlite3 *db, void *argp, je_err *err) {
    acquire_arg *a = argp;
    je_acquire *out = a->out;
    int seen = je_sqlite_idem_lookup(db, a->tenant, a->idem, a->now, err);
    if (seen != 0) return a->found = 1, seen < 0 ? -1 : 0;
    a->found = je_sqlite_quota_load(db, a->tenant, a->quota_id, 0, &out->rec, err);
    if (a->found <= 0) return a->found;
    if (je_sqlite_permits_release_expired(db, &out->rec, a->now, NULL, err) != 0 ||
        je_sqlite_elevation_expire_tx(db, &out->rec, a->now, a->make_audit, err) != 0)
        return -1;
    int64_t leases = je_sqlite_leases_expire_tx(db, a->tenant, a->quota_id, a->now, err);
    if (leases < 0) return -1;
    je_quota_release(&out->rec.q, leases);
    /* the earliest expiry matters only when the concurrency cap holds */
    int64_t earliest = JE_NO_TIME;
    if (out->rec.q.state.active >= out->rec.q.limits.max_active)
        earliest = je_sqlite_quota_earliest_expiry(db, &out->rec, err);
    if (earliest == INT64_MAX) return -1;
    out->decision = je_quota_decide(&out->rec.q, a->now, earliest);
    if (out->decision.kind == JE_DECISION_GRANT) {
        je_uuid7(a->now, out->permit_id);
        out->expires_ms = a->now + a->ttl_ms;
        if (permit_insert(db, out, err) != 0) return -1;
    }
    if (je_sqlite_quota_save(db, &out->rec, err) != 0) return -1;
    if (out->decision.kind == JE_DECISION_GRANT)
        return je_sqlite_idem_store(db, a->tenant, a->idem, a->now, err);
    return 0;
}

int je_sqlite_quota_acquire(je_store *s, const char *tenant, const char *quota_id, int64_t ttl_ms,
                            int64_t now_ms, je_idem *idem, je_elevation_audit_fn make_audit,
                            je_acquire *out, je_err *err) {
    acquire_arg a = {tenant, quota_id, ttl_ms, now_ms, idem, make_audit, out, 0};
    memset(out, 0, sizeof *out);
    if (je_sqlite_write(s, acquire_op, &a, err) != 0) return -1;
    return a.found;
}

typedef struct release_arg {
    const char *tenant, *quota_id, *permit_id;
    int64_t now;
    int released;
} release_arg;

static int release_op(sqlite3 *db, void *argp, je_err *err) {
    release_arg *a = argp;
    sqlite3_stmt *st =
        je_sqlite_prepare(db,
                          "DELETE FROM permits WHERE tenant_id=?1 AND quota_id=?2 AND permit_id=?3 "
                          "RETURNING expires_ms",
                          err);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, a->tenant, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, a->quota_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, a->permit_id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    int64_t expires = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    int had = rc == SQLITE_ROW;
    if (had) rc = sqlite3_step(st);
    je_sqlite_done(st);
    if (rc != SQLITE_DONE) return je_sqlite_fail(err, db, "permit release");
    if (!had) return 0;
    /* An expired permit's slot is freed here too (as the sweep would), but it was not released
     * by the caller in time: answer "unknown". */
    a->released = expires > a->now;
    je_quota_record r;
    int found = je_sqlite_quota_load(db, a->tenant, a->quota_id, 0, &r, err);
    if (found <= 0) return found;
    je_quota_release(&r.q, 1);
    return je_sqlite_quota_save(db, &r, err);
}

int je_sqlite_quota_release(je_store *s, const char *tenant, const char *quota_id,
                            const char *permit_id, int64_t now_ms, je_err *err) {
    release_arg a = {tenant, quota_id, permit_id, now_ms, 0};
    if (je_sqlite_write(s, release_op, &a, err) != 0) return -1;
    return a.released;
}

/* ---- engine sweeps ------------------------------------------------------------------------ */

typedef struct sweep_arg {
    int64_t now;
    je_elevation_audit_fn make_audit;
    int64_t count;
} sweep_arg;

/* Collects (tenant, quota) pairs of a query into a malloc'd list of 2 * n strings. */
static char **collect_pairs(sqlite3 *db, const char *sql, int64_t now, size_t *n, je_err *err) {
    sqlite3_stmt *st = je_sqlite_prepare(db, sql, err);
    if (!st) return NULL;
    sqlite3_bind_int64(st, 1, now);
    size_t cap = 16;
    char **list = malloc(cap * 2 * sizeof *list);
    *n = 0;
    while (list && sqlite3_step(st) == SQLITE_ROW) {
        if (*n == cap) {
            cap *= 2;
            char **nl = realloc(list, cap * 2 * sizeof *list);
            if (!nl) break;
            list = nl;
        }
        list[2 * *n] = strdup((const char *)sqlite3_column_text(st, 0));
        list[2 * *n + 1] = strdup((const char *)sqlite3_column_text(st, 1));
        (*n)++;
    }
    je_sqlite_done(st);
    return list;
}

static void free_pairs(char **list, size_t n) {
    for (size_t i = 0; i < 2 * n; i++) free(list[i]);
    free(list);
}

static int permits_expire_op(sqlite3 *db, void *argp, je_err *err) {
    sweep_arg *a = argp;
    size_t n = 0;
    char **pairs =
        collect_pairs(db, "SELECT DISTINCT tenant_id, quota_id FROM permits WHERE expires_ms <= ?1",
                      a->now, &n, err);
    if (!pairs) return -1;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        je_quota_record r;
        int64_t freed = 0;
        int found = je_sqlite_quota_load(db, pairs[2 * i], pairs[2 * i + 1], 0, &r, err);
        if (found < 0)
            rc = -1;
        else if (found &&
                 (rc = je_sqlite_permits_release_expired(db, &r, a->now, &freed, err)) == 0)
            rc = je_sqlite_quota_save(db, &r, err);
        a->count += freed;
    }
    free_pairs(pairs, n);
    return rc;
}

static int elevations_expire_op(sqlite3 *db, void *argp, je_err *err) {
    sweep_arg *a = argp;
    size_t n = 0;
    char **pairs = collect_pairs(db,
                                 "SELECT tenant_id, quota_id FROM quotas WHERE "
                                 "elevation_expires_ms IS NOT NULL AND elevation_expires_ms <= ?1",
                                 a->now, &n, err);
    if (!pairs) return -1;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        je_quota_record r;
        int found = je_sqlite_quota_load(db, pairs[2 * i], pairs[2 * i + 1], 0, &r, err);
        if (found < 0)
            rc = -1;
        else if (found &&
                 (rc = je_sqlite_elevation_expire_tx(db, &r, a->now, a->make_audit, err)) == 0)
            rc = je_sqlite_quota_save(db, &r, err);
        a->count++;
    }
    free_pairs(pairs, n);
    return rc;
}

int64_t je_sqlite_permits_expire(je_store *s, int64_t now_ms, je_err *err) {
    sweep_arg a = {now_ms, NULL, 0};
    return je_sqlite_write(s, permits_expire_op, &a, err) == 0 ? a.count : -1;
}

int64_t je_sqlite_elevations_expire(je_store *s, int64_t now_ms, je_elevation_audit_fn make_audit,
                                    je_err *err) {
    sweep_arg a = {now_ms, make_audit, 0};
    return je_sqlite_write(s, elevations_expire_op, &a, err) == 0 ? a.count : -1;
}

static int idem_prune_op(sqlite3 *db, void *argp, je_err *err) {
    sweep_arg *a = argp;
    return run_sql(db, "DELETE FROM idempotency WHERE created_ms < ?3", NULL, NULL, a->now,
                   &a->count, err);
}

int64_t je_sqlite_idem_prune(je_store *s, int64_t before_ms, je_err *err) {
    sweep_arg a = {before_ms, NULL, 0};
    return je_sqlite_write(s, idem_prune_op, &a, err) == 0 ? a.count : -1;
}
