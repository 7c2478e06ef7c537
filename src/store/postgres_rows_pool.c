/* store/postgres_rows_pool.c: capacity pool rows (postgres_rows.h), and what a decision on a
 * pool reads inside its transaction: the pool (locked FOR UPDATE, so that every decision on it
 * is serialised and its counts below are exact: READ COMMITTED reads each statement afresh),
 * its shares, and every tenant's use and demand counted from the rows themselves. */
#include "store/postgres_rows.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POOL_COLS                                                                                  \
    "job_type, strategy, max_active, max_per_hour, hour_start_ms, hour_count, throttled, "         \
    "version, created_ms, created_by, updated_ms, updated_by, last_reason, last_ticket, "          \
    "last_cap, last_refusal_ms"

static void pool_from_row(const PGresult *res, int row, je_pool_record *r) {
    je_pg_get_text(res, row, 0, r->pool.job_type, sizeof r->pool.job_type);
    r->pool.strategy = (je_pool_strategy)je_pg_get_int(res, row, 1);
    r->pool.max_active = je_pg_get_int(res, row, 2);
    r->pool.max_per_hour = je_pg_get_int(res, row, 3);
    r->pool.hour_start_ms = je_pg_get_int(res, row, 4);
    r->pool.hour_count = je_pg_get_int(res, row, 5);
    r->pool.throttled = je_pg_get_int(res, row, 6);
    r->version = je_pg_get_int(res, row, 7);
    r->created_ms = je_pg_get_int(res, row, 8);
    je_pg_get_text(res, row, 9, r->created_by, sizeof r->created_by);
    r->updated_ms = je_pg_get_int(res, row, 10);
    je_pg_get_text(res, row, 11, r->updated_by, sizeof r->updated_by);
    je_pg_get_text(res, row, 12, r->last_reason, sizeof r->last_reason);
    je_pg_get_text(res, row, 13, r->last_ticket, sizeof r->last_ticket);
    r->pool.last_cap = (int)je_pg_get_int(res, row, 14);
    r->pool.last_refusal_ms = je_pg_get_int(res, row, 15);
}

static int shares_load(je_pg_tx *tx, je_pool_record *r, je_err *err) {
    je_pg_params p = {0};
    je_pg_text(&p, r->pool.job_type);
    PGresult *res = je_pg_exec(tx,
                               "SELECT tenant_id, weight, tier, reserved, max_active FROM "
                               "pool_shares WHERE job_type=$1 ORDER BY tenant_id COLLATE \"C\"",
                               &p, err);
    if (!res) return -1;
    int n = PQntuples(res);
    r->n_shares = 0;
    for (int i = 0; i < n && r->n_shares < JE_POOL_MAX_SHARES; i++) {
        je_pool_share *sh = &r->shares[r->n_shares++];
        je_pg_get_text(res, i, 0, sh->tenant_id, sizeof sh->tenant_id);
        sh->weight = je_pg_get_real(res, i, 1);
        sh->tier = je_pg_get_int(res, i, 2);
        sh->reserved = je_pg_get_int(res, i, 3);
        sh->max_active = je_pg_get_int(res, i, 4);
    }
    PQclear(res);
    return 0;
}

static int pool_select(je_pg_tx *tx, const char *job_type, int lock, je_pool_record *out,
                       je_err *err) {
    je_pg_params p = {0};
    je_pg_text(&p, job_type);
    PGresult *res =
        lock ? je_pg_exec(tx, "SELECT " POOL_COLS " FROM pools WHERE job_type=$1 FOR UPDATE", &p,
                          err)
             : je_pg_exec(tx, "SELECT " POOL_COLS " FROM pools WHERE job_type=$1", &p, err);
    if (!res) return JE_STORE_ERROR;
    int found = PQntuples(res) > 0;
    if (found) {
        memset(out, 0, sizeof *out);
        pool_from_row(res, 0, out);
    }
    PQclear(res);
    if (!found) return JE_STORE_NOT_FOUND;
    return shares_load(tx, out, err) == 0 ? JE_STORE_OK : JE_STORE_ERROR;
}

int je_pg_pool_load(je_pg_tx *tx, const char *job_type, je_pool_record *out, je_err *err) {
    return pool_select(tx, job_type, 1, out, err);
}

int je_pg_pool_read(je_pg_tx *tx, const char *job_type, je_pool_record *out, je_err *err) {
    return pool_select(tx, job_type, 0, out, err);
}

int je_pg_pool_list_tx(je_pg_tx *tx, je_pool_visit_fn fn, void *ctx, je_err *err) {
    PGresult *res = je_pg_exec(
        tx, "SELECT " POOL_COLS " FROM pools ORDER BY job_type COLLATE \"C\"", NULL, err);
    if (!res) return -1;
    je_pool_record *r = malloc(sizeof *r);
    int rc = r ? 0 : je_err_set(err, "STORE", "out of memory");
    for (int i = 0; rc == 0 && i < PQntuples(res); i++) {
        memset(r, 0, sizeof *r);
        pool_from_row(res, i, r);
        rc = shares_load(tx, r, err);
        if (rc == 0 && fn(ctx, r) != 0) break;
    }
    PQclear(res);
    free(r);
    return rc;
}

int je_pg_pool_counters_save(je_pg_tx *tx, const je_pool *pool, je_err *err) {
    je_pg_params p = {0};
    je_pg_text(&p, pool->job_type);
    je_pg_int(&p, pool->hour_start_ms);
    je_pg_int(&p, pool->hour_count);
    je_pg_int(&p, pool->throttled);
    je_pg_int(&p, pool->last_cap);
    je_pg_int(&p, pool->last_refusal_ms);
    return je_pg_run(tx,
                     "UPDATE pools SET hour_start_ms=$2, hour_count=$3, throttled=$4, "
                     "last_cap=$5, last_refusal_ms=$6 WHERE job_type=$1",
                     &p, NULL, err);
}

int je_pg_pool_delete(je_pg_tx *tx, const char *job_type, je_err *err) {
    je_pg_params p = {0};
    je_pg_text(&p, job_type);
    if (je_pg_run(tx, "DELETE FROM pool_shares WHERE job_type=$1", &p, NULL, err) != 0) return -1;
    return je_pg_run(tx, "DELETE FROM pools WHERE job_type=$1", &p, NULL, err);
}

int je_pg_pool_save(je_pg_tx *tx, const je_pool_record *r, je_err *err) {
    const je_pool *pool = &r->pool;
    je_pg_params p = {0};
    je_pg_text(&p, pool->job_type);
    je_pg_int(&p, (int64_t)pool->strategy);
    je_pg_int(&p, pool->max_active);
    je_pg_int(&p, pool->max_per_hour);
    je_pg_int(&p, pool->hour_start_ms);
    je_pg_int(&p, pool->hour_count);
    je_pg_int(&p, pool->throttled);
    je_pg_int(&p, r->version);
    je_pg_int(&p, r->created_ms);
    je_pg_text(&p, r->created_by);
    je_pg_int(&p, r->updated_ms);
    je_pg_text(&p, r->updated_by);
    je_pg_text(&p, r->last_reason);
    je_pg_text(&p, r->last_ticket);
    je_pg_int(&p, pool->last_cap);
    je_pg_int(&p, pool->last_refusal_ms);
    if (je_pg_run(tx,
                  "INSERT INTO pools(" POOL_COLS
                  ") VALUES($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16) ON CONFLICT "
                  "(job_type) DO UPDATE SET strategy=$2, max_active=$3, max_per_hour=$4, "
                  "hour_start_ms=$5, hour_count=$6, throttled=$7, version=$8, created_ms=$9, "
                  "created_by=$10, updated_ms=$11, updated_by=$12, last_reason=$13, "
                  "last_ticket=$14, last_cap=$15, last_refusal_ms=$16",
                  &p, NULL, err) != 0)
        return -1;
    je_pg_params d = {0};
    je_pg_text(&d, pool->job_type);
    if (je_pg_run(tx, "DELETE FROM pool_shares WHERE job_type=$1", &d, NULL, err) != 0) return -1;
    for (size_t i = 0; i < r->n_shares; i++) {
        const je_pool_share *sh = &r->shares[i];
        je_pg_params s = {0};
        je_pg_text(&s, pool->job_type);
        je_pg_text(&s, sh->tenant_id);
        je_pg_real(&s, sh->weight);
        je_pg_int(&s, sh->tier);
        je_pg_int(&s, sh->reserved);
        je_pg_int(&s, sh->max_active);
        if (je_pg_run(tx,
                      "INSERT INTO pool_shares(job_type, tenant_id, weight, tier, reserved, "
                      "max_active) VALUES($1,$2,$3,$4,$5,$6)",
                      &s, NULL, err) != 0)
            return -1;
    }
    return 0;
}

/* Adds each (tenant, count) row of sql ($1 job type, $2 now) to the active use in the gate. */
static int count_into(je_pg_tx *tx, const char *sql, const char *job_type, int64_t now,
                      je_pool_gate *g, je_err *err) {
    je_pg_params p = {0};
    je_pg_text(&p, job_type);
    je_pg_int(&p, now);
    PGresult *res = je_pg_exec(tx, sql, &p, err);
    if (!res) return -1;
    char tenant[JE_TENANT_MAX + 1];
    for (int i = 0; i < PQntuples(res); i++) {
        je_pg_get_text(res, i, 0, tenant, sizeof tenant);
        je_pool_use *u = je_pool_gate_use(g, tenant);
        if (u) u->active += je_pg_get_int(res, i, 1);
    }
    PQclear(res);
    return 0;
}

int je_pg_pool_use_count(je_pg_tx *tx, je_pool_gate *g, const char *tenant, int64_t extra,
                         int64_t now, je_err *err) {
    const char *jt = g->pool.job_type;
    if (count_into(tx,
                   "SELECT tenant_id, count(*) FROM jobs WHERE job_type=$1 AND status=1 AND "
                   "lease_until_ms > $2::bigint GROUP BY tenant_id",
                   jt, now, g, err) != 0 ||
        count_into(tx,
                   "SELECT q.tenant_id, count(*) FROM quotas q JOIN permits p ON "
                   "p.tenant_id=q.tenant_id AND p.quota_id=q.quota_id WHERE q.job_type=$1 AND "
                   "p.expires_ms > $2::bigint GROUP BY q.tenant_id",
                   jt, now, g, err) != 0)
        return -1;
    for (size_t i = 0; i < g->n_shares; i++) je_pool_gate_use(g, g->shares[i].tenant_id);
    if (tenant && !je_pool_gate_use(g, tenant))
        return je_err_set(err, "STORE", "too many tenants use the pool of %s", jt);
    int demand = g->pool.strategy == JE_POOL_PROPORTIONAL || g->pool.strategy == JE_POOL_PRIORITY ||
                 g->pool.strategy == JE_POOL_RESERVED;
    /* as on SQLite: a demand beyond the free slots changes no decision */
    int64_t limit = je_pool_gate_free_plus_one(g);
    for (size_t i = 0; i < g->n_use; i++) {
        je_pool_use *u = &g->use[i];
        int64_t d = 0;
        if (demand) {
            je_pg_params p = {0};
            je_pg_text(&p, u->tenant_id);
            je_pg_text(&p, jt);
            je_pg_int(&p, je_pool_demand_needed(g, u, tenant, limit));
            PGresult *res = je_pg_exec(tx,
                                       "SELECT count(*) FROM (SELECT 1 FROM jobs WHERE "
                                       "tenant_id=$1 AND job_type=$2 AND status=0 LIMIT "
                                       "$3::bigint) x",
                                       &p, err);
            if (!res) return -1;
            d = je_pg_get_int(res, 0, 0);
            PQclear(res);
        }
        u->demand = d + (tenant && strcmp(u->tenant_id, tenant) == 0 ? extra : 0);
    }
    return 0;
}

int je_pg_pool_gate_open(je_pg_tx *tx, const char *job_type, const char *tenant, int64_t extra,
                         int64_t now, int lock, je_pool_gate **out, je_err *err) {
    *out = NULL;
    je_pool_record *r = malloc(sizeof *r);
    if (!r) return je_err_set(err, "STORE", "out of memory");
    int found = pool_select(tx, job_type, lock, r, err);
    if (found != JE_STORE_OK) return free(r), found == JE_STORE_NOT_FOUND ? 0 : -1;
    je_pool_gate *g = malloc(sizeof *g); /* not zeroed: only what is used is touched */
    if (!g) return free(r), je_err_set(err, "STORE", "out of memory");
    g->n_use = 0;
    g->changed = 0;
    g->last_cap = JE_POOL_OK;
    g->pool = r->pool;
    memcpy(g->shares, r->shares, r->n_shares * sizeof *r->shares);
    g->n_shares = r->n_shares;
    free(r);
    if (je_pg_pool_use_count(tx, g, tenant, extra, now, err) != 0) return free(g), -1;
    *out = g;
    return 0;
}

int64_t je_pg_pool_next_free(je_pg_tx *tx, const char *job_type, int64_t now, je_err *err) {
    je_pg_params p = {0};
    je_pg_text(&p, job_type);
    je_pg_int(&p, now);
    PGresult *res = je_pg_exec(
        tx,
        "SELECT least((SELECT min(lease_until_ms) FROM jobs WHERE job_type=$1 AND status=1 AND "
        "lease_until_ms > $2::bigint), (SELECT min(p.expires_ms) FROM quotas q JOIN permits p ON "
        "p.tenant_id=q.tenant_id AND p.quota_id=q.quota_id WHERE q.job_type=$1 AND p.expires_ms > "
        "$2::bigint))",
        &p, err);
    if (!res) return INT64_MAX;
    int64_t t = je_pg_get_opt(res, 0, 0);
    PQclear(res);
    return t;
}
