/* store/postgres_lease.c: leasing under quotas (domain.md §2), in one transaction. Each requested
 * job type resolves to its own quota, else the tenant's "*" quota, else none (unlimited). The
 * quota rows involved are locked first, in quota_id order (so leasers of one quota on every node
 * take turns, and its count stays exact); then the pending jobs of each type are picked in
 * leasing order FOR UPDATE SKIP LOCKED (two leasers never wait on, nor take, the same job), merged
 * (live first, priority, age), and each leased only if its quota's slot grants it at that
 * instant (core/lease.h). */
#include "store/postgres_ops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/lease_gates.h"

#define MAX_TYPES 32

typedef struct cand {
    je_job job; /* the whole row, locked */
    int type;   /* index into the request's types */
} cand;

typedef struct lease_arg {
    const char *tenant;
    const je_lease_req *req;
    je_lease_out *out;
    char *types; /* the requested types as a text[] literal */
    je_quota_record locked[MAX_TYPES + 1];
    size_t n_locked;
    int star_checked; /* "*" was looked for after the lock (star_late) */
    je_lease_slot slots[MAX_TYPES];
    int slot_of[MAX_TYPES]; /* type index → slot index, -1 unlimited */
    size_t n_slots;
    je_lease_held held;
    je_pool_gate *pools[MAX_TYPES]; /* type index → its capacity pool, NULL none (issue 15) */
    je_breaker_row *breakers[MAX_TYPES]; /* type index → its circuit breaker, NULL none */
    je_breaker_state breaker_before[MAX_TYPES];
} lease_arg;

/* {"a","b"}: every element quoted, its quotes and backslashes escaped. NULL when out of memory. */
static char *text_array(const char *const *v, size_t n) {
    size_t cap = 3;
    for (size_t i = 0; i < n; i++) cap += 2 * strlen(v[i]) + 3;
    char *out = malloc(cap), *w = out;
    if (!out) return NULL;
    *w++ = '{';
    for (size_t i = 0; i < n; i++) {
        if (i) *w++ = ',';
        *w++ = '"';
        for (const char *c = v[i]; *c; c++) {
            if (*c == '"' || *c == '\\') *w++ = '\\';
            *w++ = *c;
        }
        *w++ = '"';
    }
    *w++ = '}';
    *w = '\0';
    return out;
}

/* Locks, in quota_id order, the own quotas of the requested types and the tenant's "*" when some
 * type has none of its own. */
static int lock_quotas(je_pg_tx *tx, lease_arg *a, je_err *err) {
    je_pg_params p = {0};
    je_pg_text(&p, a->tenant);
    je_pg_text(&p, a->types);
    PGresult *r = je_pg_exec(
        tx,
        "SELECT " JE_PG_QUOTA_COLS
        " FROM quotas WHERE tenant_id=$1 AND (job_type = ANY($2::text[]) "
        "OR (job_type='*' AND EXISTS (SELECT 1 FROM unnest($2::text[]) AS t(jt) WHERE NOT EXISTS "
        "(SELECT 1 FROM quotas o WHERE o.tenant_id=$1 AND o.job_type=t.jt)))) ORDER BY quota_id "
        "COLLATE \"C\" FOR UPDATE",
        &p, err);
    if (!r) return -1;
    a->n_locked = 0;
    for (int i = 0; i < PQntuples(r) && a->n_locked < MAX_TYPES + 1; i++)
        je_pg_quota_from_row(r, i, &a->locked[a->n_locked++]);
    PQclear(r);
    return 0;
}

/* The locked quota of job_type, or NULL. */
static je_quota_record *locked_of(lease_arg *a, const char *job_type) {
    for (size_t k = 0; k < a->n_locked; k++)
        if (strcmp(a->locked[k].job_type, job_type) == 0) return &a->locked[k];
    return NULL;
}

/* A type whose own quota vanished between the statement's snapshot and its lock falls back to
 * "*", which was not locked with the others: locked now (out of order, so a deadlock is possible
 * in this rare race; the runner then runs the transaction again). */
static je_quota_record *star_late(je_pg_tx *tx, lease_arg *a, je_err *err, int *failed) {
    if (a->star_checked || a->n_locked > MAX_TYPES) return NULL;
    a->star_checked = 1;
    int found = je_pg_quota_load(tx, a->tenant, "*", 1, &a->locked[a->n_locked], err);
    if (found < 0) *failed = 1;
    return found == JE_STORE_OK ? &a->locked[a->n_locked++] : NULL;
}

/* The slot of a locked quota, added (not yet opened) when new. */
static int slot_of_quota(lease_arg *a, const je_quota_record *r) {
    for (size_t k = 0; k < a->n_slots; k++)
        if (strcmp(a->slots[k].rec.quota_id, r->quota_id) == 0) return (int)k;
    a->slots[a->n_slots].rec = *r;
    return (int)a->n_slots++;
}

/* Frees the expired leases and permits of a slot's quota (job rows are locked here, after every
 * quota row). */
static int slot_free(je_pg_tx *tx, lease_arg *a, je_quota_record *rec, je_err *err) {
    int64_t now = a->req->now_ms;
    int64_t leases = je_pg_leases_expire_tx(tx, a->tenant, rec->quota_id, now, err);
    if (leases < 0) return -1;
    je_quota_release(&rec->q, leases);
    return je_pg_permits_release_expired(tx, rec, now, NULL, err);
}

/* Reverts the slot's expired elevation (its entry locks the audit head: after every job row of
 * every slot) and opens it with what its decisions need. */
static int slot_open(je_pg_tx *tx, lease_arg *a, je_lease_slot *sl, je_err *err) {
    je_quota_record rec = sl->rec;
    if (je_pg_elevation_expire_tx(tx, &rec, a->req->now_ms, err) != 0) return -1;
    int64_t backfill = 0;
    int64_t earliest = je_pg_quota_lease_facts(tx, &rec, &backfill, err);
    if (earliest == INT64_MAX) return -1;
    je_lease_slot_open(sl, &rec, earliest, backfill, a->req->backfill_share);
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

/* Opens (locks) the circuit breaker of every requested type that has one, after the pools. */
static int open_breakers(je_pg_tx *tx, lease_arg *a, je_err *err) {
    for (size_t i = 0; i < a->req->n_job_types; i++) {
        if (je_pg_breaker_gate(tx, a->req->job_types[i], a->tenant, a->req->now_ms, &a->breakers[i],
                               err) != 0)
            return -1;
        if (a->breakers[i]) a->breaker_before[i] = je_breaker_effective(&a->breakers[i]->b);
    }
    return 0;
}

/* Opens (locks) the capacity pool of every requested type that has one, in job type order: the
 * lock order after the quota rows. */
static int open_pools(je_pg_tx *tx, lease_arg *a, je_err *err) {
    size_t n = a->req->n_job_types, order[MAX_TYPES];
    for (size_t i = 0; i < n; i++) order[i] = i;
    for (size_t i = 1; i < n; i++) /* insertion sort: at most 32 */
        for (size_t k = i;
             k > 0 && strcmp(a->req->job_types[order[k - 1]], a->req->job_types[order[k]]) > 0;
             k--) {
            size_t t = order[k];
            order[k] = order[k - 1];
            order[k - 1] = t;
        }
    for (size_t i = 0; i < n; i++)
        if (je_pg_pool_gate_open(tx, a->req->job_types[order[i]], a->tenant, 0, a->req->now_ms, 1,
                                 &a->pools[order[i]], err) != 0)
            return -1;
    return 0;
}

/* The pool of the candidate's type refused: noted for the answer (the first pool that did). */
static int pool_held(je_pg_tx *tx, lease_arg *a, const je_pool_gate *g, je_err *err) {
    je_lease_out *out = a->out;
    if (!je_lease_out_pool(out, g)) return 0;
    out->pool_next_ms = je_pg_pool_next_free(tx, g->pool.job_type, a->req->now_ms, err);
    return out->pool_next_ms == INT64_MAX ? -1 : 0;
}

/* Resolves every requested type to a slot (own quota, else "*", else unlimited) and opens the
 * slots. */
static int resolve_types(je_pg_tx *tx, lease_arg *a, je_err *err) {
    if (lock_quotas(tx, a, err) != 0 || open_pools(tx, a, err) != 0 ||
        open_breakers(tx, a, err) != 0)
        return -1;
    int failed = 0;
    for (size_t i = 0; i < a->req->n_job_types; i++) {
        je_quota_record *r = locked_of(a, a->req->job_types[i]);
        if (!r) r = locked_of(a, "*");
        if (!r && !(r = star_late(tx, a, err, &failed)) && failed) return -1;
        a->slot_of[i] = r ? slot_of_quota(a, r) : -1;
    }
    for (size_t k = 0; k < a->n_slots; k++)
        if (slot_free(tx, a, &a->slots[k].rec, err) != 0) return -1;
    for (size_t k = 0; k < a->n_slots; k++)
        if (slot_open(tx, a, &a->slots[k], err) != 0) return -1;
    return 0;
}

static int cand_cmp(const void *pa, const void *pb) {
    const je_job *x = &((const cand *)pa)->job, *y = &((const cand *)pb)->job;
    je_job_order a = {x->lane, x->priority, x->created_ms, x->job_id};
    je_job_order b = {y->lane, y->priority, y->created_ms, y->job_id};
    return je_job_order_cmp(&a, &b);
}

static int named_before(const je_lease_req *q, size_t t) {
    for (size_t k = 0; k < t; k++)
        if (strcmp(q->job_types[k], q->job_types[t]) == 0) return 1;
    return 0;
}

/* Up to max pending jobs of each type, in leasing order, locked (those another leaser holds are
 * skipped), merged. The caller frees each job and the array. */
static cand *candidates(je_pg_tx *tx, lease_arg *a, size_t *n, je_err *err) {
    size_t cap = a->req->n_job_types * (size_t)a->req->max;
    cand *c = calloc(cap ? cap : 1, sizeof *c);
    if (!c) return je_err_set(err, "STORE", "out of memory"), NULL;
    *n = 0;
    for (size_t t = 0; t < a->req->n_job_types; t++) {
        /* a type named twice is picked once: rows this transaction locked are not skipped */
        if (named_before(a->req, t)) continue;
        je_pg_params p = {0};
        je_pg_text(&p, a->tenant);
        je_pg_text(&p, a->req->job_types[t]);
        je_pg_int(&p, a->req->now_ms);
        je_pg_int(&p, a->req->max);
        PGresult *r = je_pg_exec(
            tx,
            "SELECT " JE_PG_JOB_COLS " FROM jobs WHERE tenant_id=$1 AND job_type=$2 AND status=0 "
            "AND available_ms <= $3::bigint ORDER BY lane, priority DESC, created_ms, job_id "
            "LIMIT $4::bigint FOR UPDATE SKIP LOCKED",
            &p, err);
        if (!r) {
            for (size_t i = 0; i < *n; i++) je_job_free(&c[i].job);
            return free(c), NULL;
        }
        for (int i = 0; i < PQntuples(r) && *n < cap; i++) {
            je_pg_job_from_row(r, i, &c[*n].job);
            c[(*n)++].type = (int)t;
        }
        PQclear(r);
    }
    qsort(c, *n, sizeof *c, cand_cmp);
    return c;
}

/* Marks the locked, pending job leased (core: je_job_lease) and moves it into out. */
static int lease_one(je_pg_tx *tx, lease_arg *a, cand *c, const char *quota_id, je_err *err) {
    const je_lease_req *q = a->req;
    char lease_id[JE_UUID_BUF];
    je_uuid7(q->now_ms, lease_id);
    je_job_lease(&c->job, lease_id, q->worker_id, quota_id, q->lease_ms, q->now_ms);
    if (je_pg_job_save(tx, &c->job, err) != 0) return -1;
    a->out->jobs[a->out->n++] = c->job; /* the array owns the payload now */
    c->job.payload = NULL;
    return 0;
}

/* One candidate: decide on its quota, then on its type's capacity pool, and lease it when both
 * grant. */
static int lease_candidate(je_pg_tx *tx, lease_arg *a, cand *c, je_err *err) {
    int si = a->slot_of[c->type];
    if (si < 0 && !a->req->unlimited_when_no_quota) return 0;
    je_breaker_row *br = a->breakers[c->type];
    je_lease_gates gates = {br ? &br->b : NULL, si < 0 ? NULL : &a->slots[si], a->pools[c->type]};
    int64_t retry_at = 0, now = a->req->now_ms;
    switch (je_lease_gates_decide(&gates, c->job.lane, a->tenant, now, &a->held, &retry_at)) {
    case JE_GATES_BREAKER:
        je_lease_out_breaker(a->out, br->job_type, retry_at);
        return 0;
    case JE_GATES_QUOTA:
        return 0;
    case JE_GATES_POOL:
        return pool_held(tx, a, gates.pool, err);
    case JE_GATES_GRANTED:
        break;
    }
    /* the job row is locked (SKIP LOCKED): it cannot go away */
    if (lease_one(tx, a, c, gates.slot ? gates.slot->rec.quota_id : NULL, err) != 0) return -1;
    je_lease_gates_leased(&gates, c->job.lane, a->tenant, c->job.lease_until_ms, now);
    return 0;
}

static void lease_out_reset(je_lease_out *out) {
    for (size_t i = 0; i < out->n; i++) je_job_free(&out->jobs[i]);
    free(out->jobs);
    memset(out, 0, sizeof *out);
}

static int lease_tx(je_pg_tx *tx, void *argp, je_err *err) {
    lease_arg *a = argp;
    /* a run before this one (a retried transaction) leaves nothing behind */
    lease_out_reset(a->out);
    a->n_slots = a->n_locked = 0;
    a->star_checked = 0;
    memset(&a->held, 0, sizeof a->held);
    close_pools(a);
    if (resolve_types(tx, a, err) != 0) return JE_STORE_ERROR;
    size_t n = 0;
    cand *c = candidates(tx, a, &n, err);
    if (!c) return JE_STORE_ERROR;
    a->out->jobs = calloc((size_t)a->req->max, sizeof *a->out->jobs);
    int rc = a->out->jobs ? 0 : je_err_set(err, "STORE", "out of memory");
    for (size_t i = 0; rc == 0 && i < n && a->out->n < (size_t)a->req->max; i++)
        rc = lease_candidate(tx, a, &c[i], err);
    for (size_t i = 0; i < n; i++) je_job_free(&c[i].job);
    free(c);
    /* every slot opened was changed (expiry, decisions): saved as it stands */
    for (size_t k = 0; rc == 0 && k < a->n_slots; k++)
        rc = je_pg_quota_save(tx, &a->slots[k].rec, err);
    for (size_t t = 0; rc == 0 && t < a->req->n_job_types; t++)
        if (a->pools[t] && a->pools[t]->changed)
            rc = je_pg_pool_counters_save(tx, &a->pools[t]->pool, err);
    for (size_t t = 0; rc == 0 && t < a->req->n_job_types; t++)
        if (a->breakers[t])
            rc =
                je_pg_breaker_settle(tx, a->breakers[t], a->breaker_before[t], a->req->now_ms, err);
    a->out->held = a->held.held;
    a->out->decision = a->held.decision;
    a->out->limits = a->held.limits;
    a->out->only_paused = je_lease_held_only_paused(&a->held);
    return rc == 0 ? JE_STORE_OK : JE_STORE_ERROR;
}

int je_pg_jobs_lease(je_store *s, const char *tenant, const je_lease_req *req, je_lease_out *out,
                     je_err *err) {
    memset(out, 0, sizeof *out);
    if (req->n_job_types == 0 || req->n_job_types > MAX_TYPES || req->max < 1)
        return je_err_set(err, "VALIDATION_FAILED", "1 to 32 job types and max >= 1");
    lease_arg *a = calloc(1, sizeof *a);
    char *types = text_array(req->job_types, req->n_job_types);
    if (!a || !types) {
        free(a);
        free(types);
        return je_err_set(err, "STORE", "out of memory");
    }
    *a = (lease_arg){.tenant = tenant, .req = req, .out = out, .types = types};
    int rc = je_pg_write(s, lease_tx, a, err);
    close_pools(a);
    free(a);
    free(types);
    if (rc < 0) lease_out_reset(out); /* the transaction rolled back: nothing is leased */
    return rc < 0 ? rc : JE_STORE_OK;
}
