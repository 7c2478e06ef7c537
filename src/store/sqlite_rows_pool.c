/* store/sqlite_rows_pool.c: capacity pool rows (sqlite_rows.h), and what a decision on a pool
 * reads inside its transaction: the pool, its shares, and every tenant's use (live leases of the
 * job type, live permits of its quotas) and demand (its pending jobs), counted from
 * the rows themselves so that nothing has to be given back when a lease or permit ends. */
#include "store/sqlite_rows.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POOL_COLS                                                                                  \
    "job_type, strategy, max_active, max_per_hour, hour_start_ms, hour_count, throttled, "         \
    "version, created_ms, created_by, updated_ms, updated_by, last_reason, last_ticket, "          \
    "last_cap, last_refusal_ms"

/* The pool's own columns (0-6, 14-15) into p. */
static void pool_settings_from_row(sqlite3_stmt *st, je_pool *p) {
    je_sqlite_col_text(st, 0, p->job_type, sizeof p->job_type);
    p->strategy = (je_pool_strategy)sqlite3_column_int(st, 1);
    p->max_active = sqlite3_column_int64(st, 2);
    p->max_per_hour = sqlite3_column_int64(st, 3);
    p->hour_start_ms = sqlite3_column_int64(st, 4);
    p->hour_count = sqlite3_column_int64(st, 5);
    p->throttled = sqlite3_column_int64(st, 6);
    p->last_cap = sqlite3_column_int(st, 14);
    p->last_refusal_ms = sqlite3_column_int64(st, 15);
}

static void pool_from_row(sqlite3_stmt *st, je_pool_record *r) {
    pool_settings_from_row(st, &r->pool);
    r->version = sqlite3_column_int64(st, 7);
    r->created_ms = sqlite3_column_int64(st, 8);
    je_sqlite_col_text(st, 9, r->created_by, sizeof r->created_by);
    r->updated_ms = sqlite3_column_int64(st, 10);
    je_sqlite_col_text(st, 11, r->updated_by, sizeof r->updated_by);
    je_sqlite_col_text(st, 12, r->last_reason, sizeof r->last_reason);
    je_sqlite_col_text(st, 13, r->last_ticket, sizeof r->last_ticket);
}

static int shares_into(sqlite3 *db, const char *job_type, je_pool_share *shares, size_t *n,
                       je_err *err) {
    sqlite3_stmt *st = je_sqlite_prepare(db,
                                         "SELECT tenant_id, weight, tier, reserved, max_active "
                                         "FROM pool_shares WHERE job_type=?1 ORDER BY tenant_id",
                                         err);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, job_type, -1, SQLITE_STATIC);
    int step;
    *n = 0;
    while ((step = sqlite3_step(st)) == SQLITE_ROW && *n < JE_POOL_MAX_SHARES) {
        je_pool_share *sh = &shares[(*n)++];
        je_sqlite_col_text(st, 0, sh->tenant_id, sizeof sh->tenant_id);
        sh->weight = sqlite3_column_double(st, 1);
        sh->tier = sqlite3_column_int64(st, 2);
        sh->reserved = sqlite3_column_int64(st, 3);
        sh->max_active = sqlite3_column_int64(st, 4);
    }
    je_sqlite_done(st);
    return step == SQLITE_ROW || step == SQLITE_DONE ? 0 : je_sqlite_fail(err, db, "pool shares");
}

static int shares_load(sqlite3 *db, je_pool_record *r, je_err *err) {
    return shares_into(db, r->pool.job_type, r->shares, &r->n_shares, err);
}

int je_sqlite_pool_load(sqlite3 *db, const char *job_type, je_pool_record *out, je_err *err) {
    sqlite3_stmt *st =
        je_sqlite_prepare(db, "SELECT " POOL_COLS " FROM pools WHERE job_type=?1", err);
    if (!st) return JE_STORE_ERROR;
    sqlite3_bind_text(st, 1, job_type, -1, SQLITE_STATIC);
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW) {
        memset(out, 0, sizeof *out);
        pool_from_row(st, out);
    }
    je_sqlite_done(st);
    if (step == SQLITE_DONE) return JE_STORE_NOT_FOUND;
    if (step != SQLITE_ROW) return je_sqlite_fail(err, db, "pool load"), JE_STORE_ERROR;
    return shares_load(db, out, err) == 0 ? JE_STORE_OK : JE_STORE_ERROR;
}

int je_sqlite_pool_list_tx(sqlite3 *db, je_pool_visit_fn fn, void *ctx, je_err *err) {
    sqlite3_stmt *st =
        je_sqlite_prepare(db, "SELECT " POOL_COLS " FROM pools ORDER BY job_type", err);
    if (!st) return -1;
    je_pool_record *r = malloc(sizeof *r);
    int rc = r ? 0 : je_err_set(err, "STORE", "out of memory"), step = SQLITE_DONE;
    while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW) {
        memset(r, 0, sizeof *r);
        pool_from_row(st, r);
        rc = shares_load(db, r, err);
        if (rc == 0 && fn(ctx, r) != 0) break;
    }
    if (rc == 0 && step != SQLITE_ROW && step != SQLITE_DONE)
        rc = je_sqlite_fail(err, db, "pool list");
    je_sqlite_done(st);
    free(r);
    return rc;
}

int je_sqlite_pool_counters_save(sqlite3 *db, const je_pool *p, je_err *err) {
    sqlite3_stmt *st = je_sqlite_prepare(db,
                                         "UPDATE pools SET hour_start_ms=?2, hour_count=?3, "
                                         "throttled=?4, last_cap=?5, last_refusal_ms=?6 WHERE "
                                         "job_type=?1",
                                         err);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, p->job_type, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, p->hour_start_ms);
    sqlite3_bind_int64(st, 3, p->hour_count);
    sqlite3_bind_int64(st, 4, p->throttled);
    sqlite3_bind_int(st, 5, p->last_cap);
    sqlite3_bind_int64(st, 6, p->last_refusal_ms);
    int rc = sqlite3_step(st);
    je_sqlite_done(st);
    return rc == SQLITE_DONE ? 0 : je_sqlite_fail(err, db, "pool counters");
}

static int exec_job_type(sqlite3 *db, const char *sql, const char *job_type, je_err *err) {
    sqlite3_stmt *st = je_sqlite_prepare(db, sql, err);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, job_type, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    je_sqlite_done(st);
    return rc == SQLITE_DONE ? 0 : je_sqlite_fail(err, db, "pool write");
}

int je_sqlite_pool_delete(sqlite3 *db, const char *job_type, je_err *err) {
    if (exec_job_type(db, "DELETE FROM pool_shares WHERE job_type=?1", job_type, err) != 0)
        return -1;
    return exec_job_type(db, "DELETE FROM pools WHERE job_type=?1", job_type, err);
}

int je_sqlite_pool_save(sqlite3 *db, const je_pool_record *r, je_err *err) {
    sqlite3_stmt *st =
        je_sqlite_prepare(db,
                          "INSERT OR REPLACE INTO pools(" POOL_COLS
                          ") VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16)",
                          err);
    if (!st) return -1;
    const je_pool *p = &r->pool;
    sqlite3_bind_text(st, 1, p->job_type, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, (int)p->strategy);
    sqlite3_bind_int64(st, 3, p->max_active);
    sqlite3_bind_int64(st, 4, p->max_per_hour);
    sqlite3_bind_int64(st, 5, p->hour_start_ms);
    sqlite3_bind_int64(st, 6, p->hour_count);
    sqlite3_bind_int64(st, 7, p->throttled);
    sqlite3_bind_int64(st, 8, r->version);
    sqlite3_bind_int64(st, 9, r->created_ms);
    sqlite3_bind_text(st, 10, r->created_by, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 11, r->updated_ms);
    sqlite3_bind_text(st, 12, r->updated_by, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 13, r->last_reason, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 14, r->last_ticket, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 15, p->last_cap);
    sqlite3_bind_int64(st, 16, p->last_refusal_ms);
    int rc = sqlite3_step(st);
    je_sqlite_done(st);
    if (rc != SQLITE_DONE) return je_sqlite_fail(err, db, "pool save");
    if (exec_job_type(db, "DELETE FROM pool_shares WHERE job_type=?1", p->job_type, err) != 0)
        return -1;
    st = je_sqlite_prepare(db,
                           "INSERT INTO pool_shares(job_type, tenant_id, weight, tier, reserved, "
                           "max_active) VALUES(?1,?2,?3,?4,?5,?6)",
                           err);
    if (!st) return -1;
    for (size_t i = 0; i < r->n_shares; i++) {
        const je_pool_share *sh = &r->shares[i];
        sqlite3_bind_text(st, 1, p->job_type, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, sh->tenant_id, -1, SQLITE_STATIC);
        sqlite3_bind_double(st, 3, sh->weight);
        sqlite3_bind_int64(st, 4, sh->tier);
        sqlite3_bind_int64(st, 5, sh->reserved);
        sqlite3_bind_int64(st, 6, sh->max_active);
        rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc != SQLITE_DONE) break;
    }
    je_sqlite_done(st);
    return rc == SQLITE_DONE ? 0 : je_sqlite_fail(err, db, "pool share save");
}

/* Adds each (tenant, count) row of sql (?1 job type, ?2 now) to the active use in the gate. */
static int count_into(sqlite3 *db, const char *sql, const char *job_type, int64_t now,
                      je_pool_gate *g, je_err *err) {
    sqlite3_stmt *st = je_sqlite_prepare(db, sql, err);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, job_type, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, now);
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        je_pool_use *u = je_pool_gate_use(g, (const char *)sqlite3_column_text(st, 0));
        if (u) u->active += sqlite3_column_int64(st, 1);
    }
    je_sqlite_done(st);
    return step == SQLITE_DONE ? 0 : je_sqlite_fail(err, db, "pool use");
}

/* Pending jobs of tenant's job type, counted up to limit through jobs_ready alone (a retry's
 * backoff is not looked at: such a job is demand all the same, only a little early). */
static int64_t demand_of(sqlite3 *db, const char *tenant, const char *job_type, int64_t limit,
                         je_err *err) {
    sqlite3_stmt *st = je_sqlite_prepare(db,
                                         "SELECT count(*) FROM (SELECT 1 FROM jobs INDEXED BY "
                                         "jobs_ready WHERE tenant_id=?1 AND job_type=?2 AND "
                                         "status=0 LIMIT ?3)",
                                         err);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, job_type, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, limit);
    int64_t n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    je_sqlite_done(st);
    return n < 0 ? je_sqlite_fail(err, db, "pool demand"), -1 : n;
}

int je_sqlite_pool_use_count(sqlite3 *db, je_pool_gate *g, const char *tenant, int64_t extra,
                             int64_t now, je_err *err) {
    const char *jt = g->pool.job_type;
    if (count_into(db,
                   "SELECT tenant_id, count(*) FROM jobs INDEXED BY jobs_type_leases WHERE "
                   "job_type=?1 AND status=1 AND lease_until_ms > ?2 GROUP BY tenant_id",
                   jt, now, g, err) != 0 ||
        count_into(db,
                   "SELECT q.tenant_id, count(*) FROM quotas q JOIN permits p ON "
                   "p.tenant_id=q.tenant_id AND p.quota_id=q.quota_id WHERE q.job_type=?1 AND "
                   "p.expires_ms > ?2 GROUP BY q.tenant_id",
                   jt, now, g, err) != 0)
        return -1;
    for (size_t i = 0; i < g->n_shares; i++) je_pool_gate_use(g, g->shares[i].tenant_id);
    if (tenant && !je_pool_gate_use(g, tenant))
        return je_err_set(err, "STORE", "too many tenants use the pool of %s", jt);
    /* demand matters to the strategies that lend and reclaim; counted only up to the pool's
     * size, which is all a decision can use */
    int demand = g->pool.strategy == JE_POOL_PROPORTIONAL || g->pool.strategy == JE_POOL_PRIORITY ||
                 g->pool.strategy == JE_POOL_RESERVED;
    /* a demand beyond the free slots changes no decision (each rule compares demand, or a sum
     * of demands, with the free slots): counted up to one more than those */
    int64_t limit = je_pool_gate_free_plus_one(g);
    for (size_t i = 0; i < g->n_use; i++) {
        je_pool_use *u = &g->use[i];
        int64_t d = demand ? demand_of(db, u->tenant_id, jt,
                                       je_pool_demand_needed(g, u, tenant, limit), err)
                           : 0;
        if (d < 0) return -1;
        u->demand = d + (tenant && strcmp(u->tenant_id, tenant) == 0 ? extra : 0);
    }
    return 0;
}

int je_sqlite_pool_gate_open(sqlite3 *db, const char *job_type, const char *tenant, int64_t extra,
                             int64_t now, je_pool_gate **out, je_err *err) {
    *out = NULL;
    sqlite3_stmt *st =
        je_sqlite_prepare(db, "SELECT " POOL_COLS " FROM pools WHERE job_type=?1", err);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, job_type, -1, SQLITE_STATIC);
    int step = sqlite3_step(st);
    /* ~120 KiB, only its header and the entries in use ever touched: not zeroed (a lease's
     * cost is in such page touches, see sqlite_lease.c) */
    je_pool_gate *g = step == SQLITE_ROW ? malloc(sizeof *g) : NULL;
    if (g) {
        memset(&g->pool, 0, sizeof g->pool);
        pool_settings_from_row(st, &g->pool);
        g->n_shares = g->n_use = 0;
        g->changed = 0;
        g->last_cap = JE_POOL_OK;
    }
    je_sqlite_done(st);
    if (step == SQLITE_DONE) return 0;
    if (step != SQLITE_ROW) return je_sqlite_fail(err, db, "pool load");
    if (!g) return je_err_set(err, "STORE", "out of memory");
    if (shares_into(db, job_type, g->shares, &g->n_shares, err) != 0 ||
        je_sqlite_pool_use_count(db, g, tenant, extra, now, err) != 0)
        return free(g), -1;
    *out = g;
    return 0;
}

int64_t je_sqlite_pool_next_free(sqlite3 *db, const char *job_type, int64_t now, je_err *err) {
    sqlite3_stmt *st = je_sqlite_prepare(
        db,
        "SELECT min(t) FROM (SELECT min(lease_until_ms) AS t FROM jobs INDEXED BY "
        "jobs_type_leases WHERE job_type=?1 AND status=1 AND lease_until_ms > ?2 UNION ALL "
        "SELECT min(p.expires_ms) FROM quotas q JOIN permits p ON p.tenant_id=q.tenant_id AND "
        "p.quota_id=q.quota_id WHERE q.job_type=?1 AND p.expires_ms > ?2)",
        err);
    if (!st) return INT64_MAX;
    sqlite3_bind_text(st, 1, job_type, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, now);
    int step = sqlite3_step(st);
    int64_t t = step == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL
                    ? sqlite3_column_int64(st, 0)
                    : JE_NO_TIME;
    je_sqlite_done(st);
    return step == SQLITE_ROW ? t : (je_sqlite_fail(err, db, "pool next free"), INT64_MAX);
}
