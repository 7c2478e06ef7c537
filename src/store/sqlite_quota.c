/* store/sqlite_quota.c: the SQLite backend's quota operations. Every decision and every change
 * is one write op on the writer thread: read the row, run the pure rule (core/quota.h, or the
 * caller's change callback), write the row, its permit and its audit entry, all in the same
 * transaction, so decisions are exact however many threads or processes ask at once. */
#include "store/sqlite_ops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- reads -------------------------------------------------------------------------------- */

int je_sqlite_quota_get(je_store *s, const char *tenant, const char *quota_id, je_quota_record *out,
                        je_err *err) {
    sqlite3 *db = je_sqlite_read_get(s, err);
    if (!db) return -1;
    int rc = je_sqlite_quota_load(db, tenant, quota_id, 0, out, err);
    je_sqlite_read_put(s, db);
    return rc;
}

/* One statement, so one read transaction (each costs SQLite's WAL read locks); the pending count
 * is je_sqlite_jobs_pending's rule (JE_SQLITE_PENDING_SQL) on the row's columns. */
int je_sqlite_quota_view(je_store *s, const char *tenant, const char *quota_id,
                         je_quota_record *out, int64_t *pending, je_err *err) {
    sqlite3 *db = je_sqlite_read_get(s, err);
    if (!db) return -1;
    sqlite3_stmt *st = je_sqlite_prepare(
        db,
        "SELECT " JE_SQLITE_QUOTA_COLS ", " JE_SQLITE_PENDING_SQL(
            "q.tenant_id", "q.job_type") " FROM quotas q WHERE q.tenant_id=?1 AND q.quota_id=?2",
        err);
    int found = -1;
    if (st) {
        sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, quota_id, -1, SQLITE_STATIC);
        found = je_sqlite_quota_step(db, st, out, err);
        if (found == JE_STORE_OK) *pending = sqlite3_column_int64(st, sqlite3_column_count(st) - 1);
        je_sqlite_done(st);
    }
    je_sqlite_read_put(s, db);
    return found;
}

int je_sqlite_quota_list(je_store *s, const char *tenant, const je_quota_filter *f,
                         je_quota_visit_fn fn, void *ctx, je_err *err) {
    sqlite3 *db = je_sqlite_read_get(s, err);
    if (!db) return -1;
    sqlite3_stmt *st =
        je_sqlite_prepare(db,
                          "SELECT " JE_SQLITE_QUOTA_COLS
                          " FROM quotas WHERE tenant_id=?1 AND (?2 IS NULL OR job_type=?2) "
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
            je_sqlite_quota_from_row(st, &rec);
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
    int64_t now;
    je_quota_change_fn fn;
    void *ctx;
    je_idem *idem;
    je_quota_record *out;
    int result;
} change_arg;

static int change_op(sqlite3 *db, void *argp, je_err *err) {
    change_arg *a = argp;
    int seen = je_sqlite_idem_lookup(db, a->tenant, a->idem, a->now, err);
    if (seen != 0) {
        a->result = a->idem && a->idem->replayed ? JE_CHANGE_APPLY : JE_CHANGE_DENY;
        return seen < 0 ? -1 : 0;
    }
    je_quota_record *rec = a->out;
    int found = a->quota_id ? je_sqlite_quota_load(db, a->tenant, a->quota_id, 0, rec, err)
                            : je_sqlite_quota_load(db, a->tenant, a->job_type, 1, rec, err);
    if (found < 0) return -1;
    if (found == JE_STORE_NOT_FOUND) {
        memset(rec, 0, sizeof *rec);
        snprintf(rec->tenant_id, sizeof rec->tenant_id, "%s", a->tenant);
    }
    json_t *audit = NULL;
    int rc = a->fn(a->ctx, rec, found == JE_STORE_OK, a->now, &audit, err);
    if (rc == JE_CHANGE_APPLY)
        rc = je_sqlite_quota_save(db, rec, err) == 0 ? rc : -1;
    else if (rc == JE_CHANGE_DELETE)
        rc = je_sqlite_quota_delete(db, rec, err) == 0 ? rc : -1;
    else if (rc != JE_CHANGE_DENY)
        rc = -1;
    if (rc >= 0 && audit) rc = je_sqlite_audit_append_tx(db, audit, err) == 0 ? rc : -1;
    json_decref(audit);
    if (rc >= 0 && rc != JE_CHANGE_DENY)
        rc = je_sqlite_idem_store(db, a->tenant, a->idem, a->now, err) ? -1 : rc;
    if (rc < 0) return -1;
    a->result = rc;
    return 0;
}

int je_sqlite_quota_change(je_store *s, const char *tenant, const char *quota_id,
                           const char *job_type, int64_t now_ms, je_quota_change_fn fn, void *ctx,
                           je_idem *idem, je_quota_record *out, je_err *err) {
    change_arg a = {tenant, quota_id, job_type, now_ms, fn, ctx, idem, out, JE_STORE_ERROR};
    if (je_sqlite_write(s, change_op, &a, err) != 0) return JE_STORE_ERROR;
    return a.result;
}

/* ---- decisions ---------------------------------------------------------------------------- */

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
    je_acquire *out;
    int result;
} acquire_arg;

/* The quota granted: the job type's capacity pool (issue 15) must allow it too. A refusal
 * undoes the quota's grant (before: the quota as it was) and says which cap refused. */
static int pool_decide(sqlite3 *db, acquire_arg *a, const je_quota *before, je_err *err) {
    je_acquire *out = a->out;
    if (strcmp(out->rec.job_type, "*") == 0) return 0; /* "*" names no job type: no pool */
    je_pool_gate *g = NULL;
    if (je_sqlite_pool_gate_open(db, out->rec.job_type, a->tenant, 1, a->now, &g, err) != 0)
        return -1;
    if (!g) return 0;
    int rc = 0;
    out->pool_cap = je_pool_gate_decide(g, a->tenant, a->now);
    if (out->pool_cap == JE_POOL_OK) {
        je_pool_gate_granted(g, a->tenant, a->now);
    } else {
        out->rec.q = *before;
        out->pool_next_ms = out->pool_cap == JE_POOL_CAP_HOURLY
                                ? g->pool.hour_start_ms + JE_HOUR_MS
                                : je_sqlite_pool_next_free(db, out->rec.job_type, a->now, err);
        out->decision = (je_decision){JE_DECISION_EXHAUSTED, out->pool_next_ms, 0};
        if (out->pool_next_ms == INT64_MAX) rc = -1;
    }
    if (rc == 0) rc = je_sqlite_pool_counters_save(db, &g->pool, err);
    free(g);
    return rc;
}

static int acquire_op(sqlite3 *db, void *argp, je_err *err) {
    acquire_arg *a = argp;
    je_acquire *out = a->out;
    int seen = je_sqlite_idem_lookup(db, a->tenant, a->idem, a->now, err);
    if (seen != 0) return a->result = JE_STORE_OK, seen < 0 ? -1 : 0;
    a->result = je_sqlite_quota_load(db, a->tenant, a->quota_id, 0, &out->rec, err);
    if (a->result != JE_STORE_OK) return a->result == JE_STORE_NOT_FOUND ? 0 : -1;
    if (je_sqlite_permits_release_expired(db, &out->rec, a->now, NULL, err) != 0 ||
        je_sqlite_elevation_expire_tx(db, &out->rec, a->now, err) != 0)
        return -1;
    int64_t leases = je_sqlite_leases_expire_tx(db, a->tenant, a->quota_id, a->now, err);
    if (leases < 0) return -1;
    je_quota_release(&out->rec.q, leases);
    /* the earliest expiry matters only when the concurrency cap holds */
    int64_t earliest = JE_NO_TIME;
    if (out->rec.q.state.active >= out->rec.q.limits.max_active)
        earliest = je_sqlite_quota_earliest_expiry(db, &out->rec, err);
    if (earliest == INT64_MAX) return -1;
    /* the job type's circuit breaker first (issue 15): open, it admits nothing at all */
    je_breaker_row *br = NULL;
    if (strcmp(out->rec.job_type, "*") != 0 &&
        je_sqlite_breaker_gate(db, out->rec.job_type, a->tenant, a->now, &br, err) != 0)
        return -1;
    je_breaker_state br_before = br ? je_breaker_effective(&br->b) : JE_BREAKER_CLOSED;
    int64_t retry_at = 0;
    if (br && !je_breaker_admit(&br->b, a->now, &retry_at)) {
        out->breaker_open = 1;
        out->breaker_state = je_breaker_effective(&br->b);
        out->breaker_retry_ms = retry_at == INT64_MIN ? JE_NO_TIME : retry_at;
        out->decision = (je_decision){JE_DECISION_EXHAUSTED, out->breaker_retry_ms, 0};
    } else {
        je_quota before = out->rec.q;
        out->decision = je_quota_decide(&out->rec.q, a->now, earliest);
        if (out->decision.kind == JE_DECISION_GRANT && pool_decide(db, a, &before, err) != 0)
            return free(br), -1;
        if (br && out->decision.kind != JE_DECISION_GRANT) je_breaker_unadmit(&br->b);
    }
    int settled = br ? je_sqlite_breaker_settle(db, br, br_before, a->now, err) : 0;
    free(br);
    if (settled != 0) return -1;
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
                            int64_t now_ms, je_idem *idem, je_acquire *out, je_err *err) {
    acquire_arg a = {tenant, quota_id, ttl_ms, now_ms, idem, out, JE_STORE_ERROR};
    memset(out, 0, sizeof *out);
    if (je_sqlite_write(s, acquire_op, &a, err) != 0) return JE_STORE_ERROR;
    return a.result;
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
    a->released = je_permit_live(expires, a->now);
    return je_sqlite_quota_release_slots(db, a->tenant, a->quota_id, 1, err);
}

int je_sqlite_quota_release(je_store *s, const char *tenant, const char *quota_id,
                            const char *permit_id, int64_t now_ms, je_err *err) {
    release_arg a = {tenant, quota_id, permit_id, now_ms, 0};
    if (je_sqlite_write(s, release_op, &a, err) != 0) return JE_STORE_ERROR;
    return a.released ? JE_STORE_OK : JE_STORE_NOT_FOUND;
}

/* ---- engine sweeps ------------------------------------------------------------------------ */

typedef struct sweep_arg {
    int64_t now;
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
        else if (found == JE_STORE_OK &&
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
        else if (found == JE_STORE_OK &&
                 (rc = je_sqlite_elevation_expire_tx(db, &r, a->now, err)) == 0)
            rc = je_sqlite_quota_save(db, &r, err);
        a->count++;
    }
    free_pairs(pairs, n);
    return rc;
}

int64_t je_sqlite_permits_expire(je_store *s, int64_t now_ms, je_err *err) {
    sweep_arg a = {now_ms, 0};
    return je_sqlite_write(s, permits_expire_op, &a, err) == 0 ? a.count : JE_STORE_ERROR;
}

int64_t je_sqlite_elevations_expire(je_store *s, int64_t now_ms, je_err *err) {
    sweep_arg a = {now_ms, 0};
    return je_sqlite_write(s, elevations_expire_op, &a, err) == 0 ? a.count : JE_STORE_ERROR;
}

static int idem_prune_op(sqlite3 *db, void *argp, je_err *err) {
    sweep_arg *a = argp;
    return je_sqlite_run(db, "DELETE FROM idempotency WHERE created_ms < ?3", NULL, NULL, a->now,
                         &a->count, err);
}

int64_t je_sqlite_idem_prune(je_store *s, int64_t before_ms, je_err *err) {
    sweep_arg a = {before_ms, 0};
    return je_sqlite_write(s, idem_prune_op, &a, err) == 0 ? a.count : JE_STORE_ERROR;
}
