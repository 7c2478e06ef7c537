/* store/postgres_quota.c: the PostgreSQL backend's quota operations. Every decision and every
 * change is one transaction: lock the quota row (FOR UPDATE), run the pure rule (core/quota.h,
 * or the caller's change callback), write the row, its permit and its audit entry, so decisions
 * are exact however many nodes ask at once. The engine sweeps lock each quota before they touch
 * its permits or its elevation and re-check under the lock, so every node may run them at the
 * same moment: nothing is freed, counted or reverted twice. */
#include "store/postgres_ops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- reads -------------------------------------------------------------------------------- */

typedef struct get_arg {
    const char *tenant, *quota_id;
    je_quota_record *out;
} get_arg;

static int get_fn(je_pg_tx *tx, void *argp, je_err *err) {
    get_arg *a = argp;
    je_pg_params p = {0};
    je_pg_text(&p, a->tenant);
    je_pg_text(&p, a->quota_id);
    PGresult *r = je_pg_exec(
        tx, "SELECT " JE_PG_QUOTA_COLS " FROM quotas WHERE tenant_id=$1 AND quota_id=$2", &p, err);
    if (!r) return JE_STORE_ERROR;
    int found = PQntuples(r) > 0 ? JE_STORE_OK : JE_STORE_NOT_FOUND;
    if (found == JE_STORE_OK) je_pg_quota_from_row(r, 0, a->out);
    PQclear(r);
    return found;
}

int je_pg_quota_get(je_store *s, const char *tenant, const char *quota_id, je_quota_record *out,
                    je_err *err) {
    get_arg a = {tenant, quota_id, out};
    return je_pg_read(s, get_fn, &a, err);
}

typedef struct view_arg {
    const char *tenant, *quota_id;
    je_quota_record *out;
    int64_t *pending;
} view_arg;

/* One statement, one round trip; the pending count is je_pg_jobs_pending's rule
 * (JE_PG_PENDING_SQL) on the row's columns. */
static int view_fn(je_pg_tx *tx, void *argp, je_err *err) {
    view_arg *a = argp;
    je_pg_params p = {0};
    je_pg_text(&p, a->tenant);
    je_pg_text(&p, a->quota_id);
    PGresult *r = je_pg_exec(
        tx,
        "SELECT " JE_PG_QUOTA_COLS ", " JE_PG_PENDING_SQL(
            "q.tenant_id", "q.job_type") " FROM quotas q WHERE q.tenant_id=$1 AND q.quota_id=$2",
        &p, err);
    if (!r) return JE_STORE_ERROR;
    int found = PQntuples(r) > 0 ? JE_STORE_OK : JE_STORE_NOT_FOUND;
    if (found == JE_STORE_OK) {
        je_pg_quota_from_row(r, 0, a->out);
        *a->pending = je_pg_get_int(r, 0, PQnfields(r) - 1);
    }
    PQclear(r);
    return found;
}

int je_pg_quota_view(je_store *s, const char *tenant, const char *quota_id, je_quota_record *out,
                     int64_t *pending, je_err *err) {
    view_arg a = {tenant, quota_id, out, pending};
    return je_pg_read(s, view_fn, &a, err);
}

typedef struct list_arg {
    const char *tenant;
    const je_quota_filter *f;
    je_quota_visit_fn fn;
    void *ctx;
} list_arg;

/* Job types compare bytewise (COLLATE "C"), as SQLite's do, whatever the database's locale. */
static int list_fn(je_pg_tx *tx, void *argp, je_err *err) {
    list_arg *a = argp;
    je_pg_params p = {0};
    je_pg_text(&p, a->tenant);
    je_pg_text(&p, a->f->job_type);
    je_pg_int(&p, a->f->paused);
    je_pg_text(&p, a->f->after_job_type ? a->f->after_job_type : "");
    je_pg_opt_int(&p, a->f->limit < 0 ? JE_NO_TIME : a->f->limit); /* NULL: no limit */
    PGresult *r = je_pg_exec(tx,
                             "SELECT " JE_PG_QUOTA_COLS " FROM quotas WHERE tenant_id=$1 AND "
                             "($2::text IS NULL OR job_type=$2::text) AND ($3::integer < 0 OR "
                             "paused=$3::integer) AND job_type COLLATE \"C\" > $4::text ORDER BY "
                             "job_type COLLATE \"C\" LIMIT $5::bigint",
                             &p, err);
    if (!r) return JE_STORE_ERROR;
    je_quota_record rec;
    for (int i = 0; i < PQntuples(r); i++) {
        je_pg_quota_from_row(r, i, &rec);
        if (a->fn(a->ctx, &rec) != 0) break;
    }
    PQclear(r);
    return 0;
}

int je_pg_quota_list(je_store *s, const char *tenant, const je_quota_filter *f,
                     je_quota_visit_fn fn, void *ctx, je_err *err) {
    list_arg a = {tenant, f, fn, ctx};
    return je_pg_read(s, list_fn, &a, err);
}

/* ---- changes ------------------------------------------------------------------------------ */

typedef struct change_arg {
    const char *tenant, *quota_id, *job_type;
    int64_t now;
    je_quota_change_fn fn;
    void *ctx;
    je_idem *idem;
    je_quota_record *out;
} change_arg;

/* The idempotency steps run only for a request that carries a key. */
static int idem_lookup(je_pg_tx *tx, const char *tenant, je_idem *idem, int64_t now, je_err *err) {
    return idem && idem->key ? je_pg_idem_lookup(tx, tenant, idem, now, err) : 0;
}

static int idem_store(je_pg_tx *tx, const char *tenant, je_idem *idem, int64_t now, je_err *err) {
    return idem && idem->key ? je_pg_idem_store(tx, tenant, idem, now, err) : 0;
}

/* Changes by job type are serialised on (tenant, job type) before the quota row is read: two
 * creates of one job type on two nodes cannot both see "none" (the second sees the first, as
 * SQLite's single writer would show it). The lock is a transaction advisory lock in a key space
 * of its own (two int4 keys; the first names it). */
static int lock_job_type(je_pg_tx *tx, const char *tenant, const char *job_type, je_err *err) {
    je_pg_params p = {0};
    je_pg_text(&p, tenant);
    je_pg_text(&p, job_type);
    return je_pg_run(tx,
                     "SELECT pg_advisory_xact_lock(7451, hashtext($1::text || '/' || $2::text))",
                     &p, NULL, err);
}

static int change_apply(je_pg_tx *tx, change_arg *a, int found, je_err *err) {
    je_quota_record *rec = a->out;
    json_t *audit = NULL;
    int rc = a->fn(a->ctx, rec, found == JE_STORE_OK, a->now, &audit, err);
    if (rc == JE_CHANGE_APPLY)
        rc = je_pg_quota_save(tx, rec, err) == 0 ? rc : -1;
    else if (rc == JE_CHANGE_DELETE)
        rc = je_pg_quota_delete(tx, rec, err) == 0 ? rc : -1;
    else if (rc != JE_CHANGE_DENY)
        rc = -1;
    if (rc >= 0 && audit) rc = je_pg_audit_append_tx(tx, audit, err) == 0 ? rc : -1;
    json_decref(audit);
    if (rc >= 0 && rc != JE_CHANGE_DENY)
        rc = idem_store(tx, a->tenant, a->idem, a->now, err) ? -1 : rc;
    return rc < 0 ? JE_STORE_ERROR : rc;
}

static int change_tx(je_pg_tx *tx, void *argp, je_err *err) {
    change_arg *a = argp;
    if (a->idem) {
        free(a->idem->body); /* a run before this one (a retried transaction) may have set them */
        a->idem->body = NULL;
        a->idem->replayed = a->idem->mismatch = a->idem->status = 0;
    }
    int seen = idem_lookup(tx, a->tenant, a->idem, a->now, err);
    if (seen != 0)
        return seen < 0 ? JE_STORE_ERROR : a->idem->replayed ? JE_CHANGE_APPLY : JE_CHANGE_DENY;
    je_quota_record *rec = a->out;
    int found;
    if (a->quota_id) {
        found = je_pg_quota_load(tx, a->tenant, a->quota_id, 0, rec, err);
    } else {
        if (lock_job_type(tx, a->tenant, a->job_type, err) != 0) return JE_STORE_ERROR;
        found = je_pg_quota_load(tx, a->tenant, a->job_type, 1, rec, err);
    }
    if (found < 0) return JE_STORE_ERROR;
    if (found == JE_STORE_NOT_FOUND) {
        memset(rec, 0, sizeof *rec);
        snprintf(rec->tenant_id, sizeof rec->tenant_id, "%s", a->tenant);
    }
    return change_apply(tx, a, found, err);
}

int je_pg_quota_change(je_store *s, const char *tenant, const char *quota_id, const char *job_type,
                       int64_t now_ms, je_quota_change_fn fn, void *ctx, je_idem *idem,
                       je_quota_record *out, je_err *err) {
    change_arg a = {tenant, quota_id, job_type, now_ms, fn, ctx, idem, out};
    return je_pg_write(s, change_tx, &a, err);
}

/* ---- decisions ---------------------------------------------------------------------------- */

typedef struct acquire_arg {
    const char *tenant, *quota_id;
    int64_t ttl_ms, now;
    je_idem *idem;
    je_acquire *out;
    je_quota before; /* the quota just before its decision (a pool's refusal restores it) */
} acquire_arg;

static int permit_insert(je_pg_tx *tx, const je_acquire *out, je_err *err) {
    je_pg_params p = {0};
    je_pg_text(&p, out->rec.tenant_id);
    je_pg_text(&p, out->permit_id);
    je_pg_text(&p, out->rec.quota_id);
    je_pg_int(&p, out->expires_ms);
    return je_pg_run(tx,
                     "INSERT INTO permits(tenant_id, permit_id, quota_id, expires_ms) "
                     "VALUES($1,$2,$3,$4)",
                     &p, NULL, err);
}

/* Frees what expired of the locked quota (leases charged to it, permits, its elevation), then
 * decides one unit. */
static int acquire_decide(je_pg_tx *tx, acquire_arg *a, je_err *err) {
    je_acquire *out = a->out;
    /* job rows, then the audit head (an elevation's entry): the one lock order */
    int64_t leases = je_pg_leases_expire_tx(tx, a->tenant, a->quota_id, a->now, err);
    if (leases < 0) return -1;
    je_quota_release(&out->rec.q, leases);
    if (je_pg_permits_release_expired(tx, &out->rec, a->now, NULL, err) != 0 ||
        je_pg_elevation_expire_tx(tx, &out->rec, a->now, err) != 0)
        return -1;
    /* the earliest expiry matters only when the concurrency cap holds */
    int64_t earliest = JE_NO_TIME;
    if (out->rec.q.state.active >= out->rec.q.limits.max_active)
        earliest = je_pg_quota_earliest_expiry(tx, &out->rec, err);
    if (earliest == INT64_MAX) return -1;
    a->before = out->rec.q;
    out->decision = je_quota_decide(&out->rec.q, a->now, earliest);
    return 0;
}

/* The quota granted: the pool must allow it too, else the quota's grant is undone (the slot
 * and token it took given back) and the answer says which cap refused. */
static int pool_decide(je_pg_tx *tx, acquire_arg *a, je_pool_gate *g, je_err *err) {
    je_acquire *out = a->out;
    out->pool_cap = je_pool_gate_decide(g, a->tenant, a->now);
    if (out->pool_cap == JE_POOL_OK) {
        je_pool_gate_granted(g, a->tenant, a->now);
    } else {
        out->rec.q = a->before;
        out->pool_next_ms = out->pool_cap == JE_POOL_CAP_HOURLY
                                ? g->pool.hour_start_ms + JE_HOUR_MS
                                : je_pg_pool_next_free(tx, out->rec.job_type, a->now, err);
        if (out->pool_next_ms == INT64_MAX) return -1;
        out->decision = (je_decision){JE_DECISION_EXHAUSTED, out->pool_next_ms, 0};
    }
    return je_pg_pool_counters_save(tx, &g->pool, err);
}

static int acquire_tx(je_pg_tx *tx, void *argp, je_err *err) {
    acquire_arg *a = argp;
    je_acquire *out = a->out;
    memset(out, 0, sizeof *out); /* a retried run starts afresh */
    if (a->idem) {
        free(a->idem->body);
        a->idem->body = NULL;
        a->idem->replayed = a->idem->mismatch = a->idem->status = 0;
    }
    int seen = idem_lookup(tx, a->tenant, a->idem, a->now, err);
    if (seen != 0) return seen < 0 ? JE_STORE_ERROR : JE_STORE_OK;
    int found = je_pg_quota_load(tx, a->tenant, a->quota_id, 0, &out->rec, err);
    if (found != JE_STORE_OK) return found;
    /* the job type's capacity pool (issue 15), locked right after the quota (the lock order) */
    je_pool_gate *g = NULL;
    if (strcmp(out->rec.job_type, "*") != 0 &&
        je_pg_pool_gate_open(tx, out->rec.job_type, a->tenant, 1, a->now, 1, &g, err) != 0)
        return JE_STORE_ERROR;
    /* then its circuit breaker (the lock order): open, it admits nothing at all */
    je_breaker_row *br = NULL;
    int rc = strcmp(out->rec.job_type, "*") != 0
                 ? je_pg_breaker_gate(tx, out->rec.job_type, a->tenant, a->now, &br, err)
                 : 0;
    je_breaker_state br_before = br ? je_breaker_effective(&br->b) : JE_BREAKER_CLOSED;
    int64_t retry_at = 0;
    if (rc == 0 && br && !je_breaker_admit(&br->b, a->now, &retry_at)) {
        out->breaker_open = 1;
        out->breaker_state = je_breaker_effective(&br->b);
        out->breaker_retry_ms = retry_at == INT64_MIN ? JE_NO_TIME : retry_at;
        out->decision = (je_decision){JE_DECISION_EXHAUSTED, out->breaker_retry_ms, 0};
    } else if (rc == 0) {
        rc = acquire_decide(tx, a, err) != 0 ? -1 : 0;
        if (rc == 0 && g && out->decision.kind == JE_DECISION_GRANT)
            rc = pool_decide(tx, a, g, err);
        if (rc == 0 && br && out->decision.kind != JE_DECISION_GRANT) je_breaker_unadmit(&br->b);
    }
    if (rc == 0 && br) rc = je_pg_breaker_settle(tx, br, br_before, a->now, err);
    free(g);
    free(br);
    if (rc != 0) return JE_STORE_ERROR;
    int granted = out->decision.kind == JE_DECISION_GRANT;
    if (granted) {
        je_uuid7(a->now, out->permit_id);
        out->expires_ms = a->now + a->ttl_ms;
        if (permit_insert(tx, out, err) != 0) return JE_STORE_ERROR;
    }
    if (je_pg_quota_save(tx, &out->rec, err) != 0) return JE_STORE_ERROR;
    if (granted && idem_store(tx, a->tenant, a->idem, a->now, err) != 0) return JE_STORE_ERROR;
    return JE_STORE_OK;
}

int je_pg_quota_acquire(je_store *s, const char *tenant, const char *quota_id, int64_t ttl_ms,
                        int64_t now_ms, je_idem *idem, je_acquire *out, je_err *err) {
    acquire_arg a = {.tenant = tenant,
                     .quota_id = quota_id,
                     .ttl_ms = ttl_ms,
                     .now = now_ms,
                     .idem = idem,
                     .out = out};
    memset(out, 0, sizeof *out);
    return je_pg_write(s, acquire_tx, &a, err);
}

typedef struct release_arg {
    const char *tenant, *quota_id, *permit_id;
    int64_t now;
} release_arg;

/* The quota is locked first, then its permit deleted: a permit leaves under the same lock as the
 * slot it frees. */
static int release_tx(je_pg_tx *tx, void *argp, je_err *err) {
    release_arg *a = argp;
    je_quota_record q;
    int found = je_pg_quota_load(tx, a->tenant, a->quota_id, 0, &q, err);
    if (found != JE_STORE_OK) return found;
    je_pg_params p = {0};
    je_pg_text(&p, a->tenant);
    je_pg_text(&p, a->quota_id);
    je_pg_text(&p, a->permit_id);
    PGresult *r = je_pg_exec(tx,
                             "DELETE FROM permits WHERE tenant_id=$1 AND quota_id=$2 AND "
                             "permit_id=$3 RETURNING expires_ms",
                             &p, err);
    if (!r) return JE_STORE_ERROR;
    int had = PQntuples(r) > 0;
    int64_t expires = had ? je_pg_get_int(r, 0, 0) : 0;
    PQclear(r);
    if (!had) return JE_STORE_NOT_FOUND;
    /* An expired permit's slot is freed here too (as the sweep would), but it was not released
     * by the caller in time: answer "unknown". */
    je_quota_release(&q.q, 1);
    if (je_pg_quota_save(tx, &q, err) != 0) return JE_STORE_ERROR;
    return je_permit_live(expires, a->now) ? JE_STORE_OK : JE_STORE_NOT_FOUND;
}

int je_pg_quota_release(je_store *s, const char *tenant, const char *quota_id,
                        const char *permit_id, int64_t now_ms, je_err *err) {
    release_arg a = {tenant, quota_id, permit_id, now_ms};
    return je_pg_write(s, release_tx, &a, err);
}

/* ---- engine sweeps ------------------------------------------------------------------------ */

typedef struct sweep_arg {
    int64_t now, count;
    int full; /* an elevations batch was full: another may follow */
} sweep_arg;

#define ELEVATION_BATCH 500

/* One quota's expired permits, under its lock (a node that comes second frees nothing). */
static int permits_step(je_pg_tx *tx, const char *tenant, const char *quota_id, int64_t now,
                        int64_t *count, je_err *err) {
    je_quota_record q;
    int found = je_pg_quota_load(tx, tenant, quota_id, 0, &q, err);
    if (found != JE_STORE_OK) return found == JE_STORE_NOT_FOUND ? 0 : JE_STORE_ERROR;
    if (je_pg_permits_release_expired(tx, &q, now, count, err) != 0) return JE_STORE_ERROR;
    return *count > 0 && je_pg_quota_save(tx, &q, err) != 0 ? JE_STORE_ERROR : 0;
}

int64_t je_pg_permits_expire(je_store *s, int64_t now_ms, je_err *err) {
    return je_pg_sweep_quotas(
        s,
        "SELECT DISTINCT tenant_id, quota_id FROM permits WHERE expires_ms <= "
        "$1::bigint LIMIT 10000",
        now_ms, permits_step, err);
}

/* Candidates locked FOR UPDATE SKIP LOCKED (a quota another transaction holds is left to it or
 * to the next sweep), re-checked by core under the lock: each elevation is reverted once. */
static int elevations_tx(je_pg_tx *tx, void *argp, je_err *err) {
    sweep_arg *a = argp;
    a->count = 0;
    je_pg_params p = {0};
    je_pg_int(&p, a->now);
    PGresult *r = je_pg_exec(tx,
                             "SELECT " JE_PG_QUOTA_COLS " FROM quotas WHERE elevation_expires_ms "
                             "IS NOT NULL AND elevation_expires_ms <= $1::bigint ORDER BY "
                             "tenant_id, quota_id LIMIT 500 FOR UPDATE SKIP LOCKED",
                             &p, err);
    if (!r) return JE_STORE_ERROR;
    _Static_assert(ELEVATION_BATCH == 500, "the LIMIT above");
    int rc = 0;
    for (int i = 0; i < PQntuples(r) && rc == 0; i++) {
        je_quota_record q;
        je_pg_quota_from_row(r, i, &q);
        if (je_pg_elevation_expire_tx(tx, &q, a->now, err) != 0)
            rc = JE_STORE_ERROR;
        else if (q.q.elevation_expires_ms == JE_NO_TIME) /* core reverted it */
            rc = je_pg_quota_save(tx, &q, err) == 0 ? (a->count++, 0) : JE_STORE_ERROR;
    }
    PQclear(r);
    a->full = a->count == ELEVATION_BATCH; /* every one reverted: there may be more */
    return rc;
}

/* In batches (one transaction each), so one sweep never holds thousands of quota rows. */
int64_t je_pg_elevations_expire(je_store *s, int64_t now_ms, je_err *err) {
    int64_t total = 0;
    sweep_arg a = {now_ms, 0, 1};
    while (a.full) {
        int rc = je_pg_write(s, elevations_tx, &a, err);
        if (rc < 0) return rc;
        total += a.count;
    }
    return total;
}

static int idem_prune_tx(je_pg_tx *tx, void *argp, je_err *err) {
    sweep_arg *a = argp;
    je_pg_params p = {0};
    je_pg_int(&p, a->now);
    a->count = 0;
    return je_pg_run(tx, "DELETE FROM idempotency WHERE created_ms < $1::bigint", &p, &a->count,
                     err);
}

int64_t je_pg_idem_prune(je_store *s, int64_t before_ms, je_err *err) {
    sweep_arg a = {before_ms, 0, 0};
    int rc = je_pg_write(s, idem_prune_tx, &a, err);
    return rc < 0 ? rc : a.count;
}
