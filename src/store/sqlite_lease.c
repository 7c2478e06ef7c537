/* store/sqlite_lease.c: leasing under quotas (domain.md §2), in one write transaction. Each
 * requested job type resolves to its own quota, else the tenant's "*" quota, else none
 * (unlimited). Candidates of every type are merged in leasing order (live first, priority,
 * age); each is leased only if its quota's slot grants it at that instant (core/lease.h). */
#include "store/sqlite_ops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/lease_gates.h"

#define MAX_TYPES 32

typedef struct cand {
    char job_id[JE_UUID_BUF];
    int type; /* index into the request's types */
    je_job_order order;
} cand;

typedef struct lease_arg {
    const char *tenant;
    const je_lease_req *req;
    je_lease_out *out;
    je_lease_slot slots[MAX_TYPES];
    int slot_of[MAX_TYPES]; /* type index → slot index, -1 unlimited */
    size_t n_slots;
    je_lease_held held;
    je_pool_gate *pools[MAX_TYPES]; /* type index → its capacity pool, NULL none (issue 15) */
    je_breaker_row *breakers[MAX_TYPES]; /* type index → its circuit breaker, NULL none */
    je_breaker_state breaker_before[MAX_TYPES];
} lease_arg;

/* Loads a quota into a new slot, freeing what expired first. */
static int slot_open(sqlite3 *db, lease_arg *a, const je_quota_record *r, je_err *err) {
    je_quota_record rec = *r;
    int64_t now = a->req->now_ms;
    int64_t leases = je_sqlite_leases_expire_tx(db, a->tenant, r->quota_id, now, err);
    if (leases < 0) return -1;
    je_quota_release(&rec.q, leases);
    if (je_sqlite_permits_release_expired(db, &rec, now, NULL, err) != 0 ||
        je_sqlite_elevation_expire_tx(db, &rec, now, err) != 0)
        return -1;
    int64_t earliest = je_sqlite_quota_earliest_expiry(db, &rec, err);
    int64_t backfill = je_sqlite_quota_backfill_leases(db, &rec, err);
    if (earliest == INT64_MAX || backfill < 0) return -1;
    je_lease_slot_open(&a->slots[a->n_slots], &rec, earliest, backfill, a->req->backfill_share);
    return (int)a->n_slots++;
}

/* Resolves every requested type to a slot (own quota, else "*", else unlimited). */
static int resolve_types(sqlite3 *db, lease_arg *a, je_err *err) {
    for (size_t i = 0; i < a->req->n_job_types; i++) {
        je_quota_record r;
        int found = je_sqlite_quota_load(db, a->tenant, a->req->job_types[i], 1, &r, err);
        if (found == JE_STORE_NOT_FOUND)
            found = je_sqlite_quota_load(db, a->tenant, "*", 1, &r, err);
        if (found < 0) return -1;
        a->slot_of[i] = -1;
        if (found != JE_STORE_OK) continue;
        for (size_t k = 0; k < a->n_slots; k++)
            if (strcmp(a->slots[k].rec.quota_id, r.quota_id) == 0) a->slot_of[i] = (int)k;
        if (a->slot_of[i] < 0 && (a->slot_of[i] = slot_open(db, a, &r, err)) < 0) return -1;
    }
    return 0;
}

/* Opens the capacity pool of every requested type that has one. */
static int open_pools(sqlite3 *db, lease_arg *a, je_err *err) {
    for (size_t i = 0; i < a->req->n_job_types; i++)
        if (je_sqlite_pool_gate_open(db, a->req->job_types[i], a->tenant, 0, a->req->now_ms,
                                     &a->pools[i], err) != 0)
            return -1;
    return 0;
}

static void close_pools(lease_arg *a) {
    for (size_t i = 0; i < MAX_TYPES; i++) {
        free(a->pools[i]);
        a->pools[i] = NULL;
        free(a->breakers[i]);
        a->breakers[i] = NULL;
    }
}

/* Opens the circuit breaker of every requested type that has one. */
static int open_breakers(sqlite3 *db, lease_arg *a, je_err *err) {
    for (size_t i = 0; i < a->req->n_job_types; i++) {
        if (je_sqlite_breaker_gate(db, a->req->job_types[i], a->tenant, a->req->now_ms,
                                   &a->breakers[i], err) != 0)
            return -1;
        if (a->breakers[i]) a->breaker_before[i] = je_breaker_effective(&a->breakers[i]->b);
    }
    return 0;
}

/* The pool of the candidate's type refused: noted for the answer (the first pool that did). */
static int pool_held(sqlite3 *db, lease_arg *a, const je_pool_gate *g, je_err *err) {
    je_lease_out *out = a->out;
    if (!je_lease_out_pool(out, g)) return 0;
    out->pool_next_ms = je_sqlite_pool_next_free(db, g->pool.job_type, a->req->now_ms, err);
    return out->pool_next_ms == INT64_MAX ? -1 : 0;
}

/* qsort moves elements, so the job id is pointed at here, not stored in the order. */
static int cand_cmp(const void *pa, const void *pb) {
    const cand *a = pa, *b = pb;
    je_job_order x = a->order, y = b->order;
    x.job_id = a->job_id;
    y.job_id = b->job_id;
    return je_job_order_cmp(&x, &y);
}

/* Up to max candidates of each type, merged in leasing order. */
static cand *candidates(sqlite3 *db, lease_arg *a, size_t *n, je_err *err) {
    size_t cap = a->req->n_job_types * (size_t)a->req->max;
    cand *c = calloc(cap ? cap : 1, sizeof *c);
    sqlite3_stmt *st = c ? je_sqlite_prepare(db,
                                             "SELECT job_id, lane, priority, created_ms FROM jobs "
                                             "WHERE tenant_id=?1 AND job_type=?2 AND status=0 AND "
                                             "available_ms <= ?3 ORDER BY lane, priority DESC, "
                                             "created_ms, job_id LIMIT ?4",
                                             err)
                         : NULL;
    if (!st) return free(c), NULL;
    *n = 0;
    for (size_t t = 0; t < a->req->n_job_types; t++) {
        sqlite3_bind_text(st, 1, a->tenant, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, a->req->job_types[t], -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, a->req->now_ms);
        sqlite3_bind_int(st, 4, a->req->max);
        while (*n < cap && sqlite3_step(st) == SQLITE_ROW) {
            cand *x = &c[(*n)++];
            snprintf(x->job_id, sizeof x->job_id, "%s", (const char *)sqlite3_column_text(st, 0));
            x->type = (int)t;
            x->order = (je_job_order){sqlite3_column_int(st, 1), sqlite3_column_int64(st, 2),
                                      sqlite3_column_int64(st, 3), NULL};
        }
        sqlite3_reset(st);
    }
    je_sqlite_done(st);
    qsort(c, *n, sizeof *c, cand_cmp);
    return c;
}

/* Marks the job leased (core: je_job_lease); appends it to out. 1 leased, 0 no longer pending,
 * -1 error. */
static int lease_one(sqlite3 *db, lease_arg *a, const cand *c, const char *quota_id, int64_t *until,
                     je_err *err) {
    je_job j;
    int found = je_sqlite_job_load(db, a->tenant, c->job_id, &j, err);
    if (found != JE_STORE_OK || j.status != JE_JOB_PENDING)
        return je_job_free(&j), found < 0 ? -1 : 0;
    const je_lease_req *q = a->req;
    char lease_id[JE_UUID_BUF];
    je_uuid7(q->now_ms, lease_id);
    je_job_lease(&j, lease_id, q->worker_id, quota_id, q->lease_ms, q->now_ms);
    if (je_sqlite_job_save(db, &j, err) != 0) return je_job_free(&j), -1;
    a->out->jobs[a->out->n++] = j; /* the array owns the payload now */
    *until = j.lease_until_ms;
    return 1;
}

/* One candidate: decide on its quota, then on its type's capacity pool, and lease it when both
 * grant. */
static int lease_candidate(sqlite3 *db, lease_arg *a, const cand *c, je_err *err) {
    int si = a->slot_of[c->type];
    if (si < 0 && !a->req->unlimited_when_no_quota) return 0;
    je_breaker_row *br = a->breakers[c->type];
    je_lease_gates gates = {br ? &br->b : NULL, si < 0 ? NULL : &a->slots[si], a->pools[c->type]};
    int64_t retry_at = 0, until = 0, now = a->req->now_ms;
    switch (je_lease_gates_decide(&gates, c->order.lane, a->tenant, now, &a->held, &retry_at)) {
    case JE_GATES_BREAKER:
        je_lease_out_breaker(a->out, br->job_type, retry_at);
        return 0;
    case JE_GATES_QUOTA:
        return 0;
    case JE_GATES_POOL:
        return pool_held(db, a, gates.pool, err);
    case JE_GATES_GRANTED:
        break;
    }
    int rc = lease_one(db, a, c, gates.slot ? gates.slot->rec.quota_id : NULL, &until, err);
    if (rc <= 0) {
        je_lease_gates_undo(&gates); /* the job went away: give the units back */
        return rc;
    }
    je_lease_gates_leased(&gates, c->order.lane, a->tenant, until, now);
    return 1;
}

static void lease_out_reset(je_lease_out *out) {
    for (size_t i = 0; i < out->n; i++) je_job_free(&out->jobs[i]);
    free(out->jobs);
    memset(out, 0, sizeof *out);
}

static int lease_op(sqlite3 *db, void *argp, je_err *err) {
    lease_arg *a = argp;
    /* a run before this one (a retried transaction) leaves nothing behind */
    lease_out_reset(a->out);
    a->n_slots = 0;
    memset(&a->held, 0, sizeof a->held);
    close_pools(a);
    if (resolve_types(db, a, err) != 0 || open_pools(db, a, err) != 0 ||
        open_breakers(db, a, err) != 0)
        return -1;
    size_t n = 0;
    cand *c = candidates(db, a, &n, err);
    if (!c) return -1;
    a->out->jobs = calloc((size_t)a->req->max, sizeof *a->out->jobs);
    int rc = a->out->jobs ? 0 : je_err_set(err, "STORE", "out of memory");
    for (size_t i = 0; rc == 0 && i < n && a->out->n < (size_t)a->req->max; i++)
        rc = lease_candidate(db, a, &c[i], err) < 0 ? -1 : 0;
    free(c);
    /* every slot opened was changed (expiry, decisions): saved as it stands */
    for (size_t k = 0; rc == 0 && k < a->n_slots; k++)
        rc = je_sqlite_quota_save(db, &a->slots[k].rec, err);
    for (size_t t = 0; rc == 0 && t < a->req->n_job_types; t++)
        if (a->pools[t] && a->pools[t]->changed)
            rc = je_sqlite_pool_counters_save(db, &a->pools[t]->pool, err);
    for (size_t t = 0; rc == 0 && t < a->req->n_job_types; t++)
        if (a->breakers[t])
            rc = je_sqlite_breaker_settle(db, a->breakers[t], a->breaker_before[t], a->req->now_ms,
                                          err);
    a->out->held = a->held.held;
    a->out->decision = a->held.decision;
    a->out->limits = a->held.limits;
    a->out->only_paused = je_lease_held_only_paused(&a->held);
    return rc;
}

int je_sqlite_jobs_lease(je_store *s, const char *tenant, const je_lease_req *req,
                         je_lease_out *out, je_err *err) {
    memset(out, 0, sizeof *out);
    if (req->n_job_types == 0 || req->n_job_types > MAX_TYPES || req->max < 1)
        return je_err_set(err, "VALIDATION_FAILED", "1 to 32 job types and max >= 1");
    /* ~50 KiB of slots, filled only as quotas are opened: not zeroed (that cost a quarter of
     * a lease's CPU in page faults and memset), lease_op resets what it reads */
    lease_arg *a = malloc(sizeof *a);
    if (!a) return je_err_set(err, "STORE", "out of memory");
    a->tenant = tenant;
    a->req = req;
    a->out = out;
    memset(a->pools, 0, sizeof a->pools);
    memset(a->breakers, 0, sizeof a->breakers);
    int rc = je_sqlite_write(s, lease_op, a, err);
    close_pools(a);
    free(a);
    if (rc != 0) lease_out_reset(out); /* the transaction rolled back: nothing is leased */
    return rc == 0 ? JE_STORE_OK : JE_STORE_ERROR;
}
