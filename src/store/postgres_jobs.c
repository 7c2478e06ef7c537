/* store/postgres_jobs.c: the PostgreSQL backend's jobs: submit, reads, heartbeat, complete and
 * the lease expiry sweep. Leasing itself (the quota decisions) is in postgres_lease.c. A leased
 * job holds one slot of the quota recorded in its quota_id; every path that ends a lease
 * (complete, expiry) locks that quota row first, then the job row, and gives the slot back in the
 * same transaction. What a lease's end does to the job is core's (core/jobs.h), and to a batch
 * job's backfill too (core/backfill.h, through postgres_rows_backfill.c). */
#include "store/postgres_ops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- submit and reads --------------------------------------------------------------------- */

typedef struct submit_arg {
    je_job *job;
    je_idem *idem;
} submit_arg;

static int submit_tx(je_pg_tx *tx, void *argp, je_err *err) {
    submit_arg *a = argp;
    je_idem *idem = a->idem && a->idem->key ? a->idem : NULL; /* the steps need a key */
    if (idem) {
        free(idem->body); /* a run before this one (a retried transaction) may have set them */
        idem->body = NULL;
        idem->replayed = idem->mismatch = idem->status = 0;
    }
    const char *tenant = a->job->tenant_id;
    int seen = idem ? je_pg_idem_lookup(tx, tenant, idem, a->job->created_ms, err) : 0;
    if (seen != 0) return seen < 0 ? JE_STORE_ERROR : JE_STORE_OK;
    if (je_pg_job_save(tx, a->job, err) != 0) return JE_STORE_ERROR;
    if (idem && je_pg_idem_store(tx, tenant, idem, a->job->created_ms, err) != 0)
        return JE_STORE_ERROR;
    return JE_STORE_OK;
}

int je_pg_job_submit(je_store *s, je_job *j, je_idem *idem, je_err *err) {
    submit_arg a = {j, idem};
    return je_pg_write(s, submit_tx, &a, err);
}

typedef struct read_arg {
    const char *tenant, *key;
    je_job *out;
    const je_job_filter *f;
    je_job_visit_fn fn;
    je_job_count_fn count_fn;
    void *ctx;
    int64_t n;
} read_arg;

static int get_fn(je_pg_tx *tx, void *argp, je_err *err) {
    read_arg *a = argp;
    je_pg_params p = {0};
    je_pg_text(&p, a->tenant);
    je_pg_text(&p, a->key);
    PGresult *r = je_pg_exec(
        tx, "SELECT " JE_PG_JOB_COLS " FROM jobs WHERE tenant_id=$1 AND job_id=$2", &p, err);
    if (!r) return JE_STORE_ERROR;
    int found = PQntuples(r) > 0 ? JE_STORE_OK : JE_STORE_NOT_FOUND;
    if (found == JE_STORE_OK) je_pg_job_from_row(r, 0, a->out);
    PQclear(r);
    return found;
}

int je_pg_job_get(je_store *s, const char *tenant, const char *job_id, je_job *out, je_err *err) {
    read_arg a = {.tenant = tenant, .key = job_id, .out = out};
    return je_pg_read(s, get_fn, &a, err);
}

/* (created, id) after the cursor, as one row comparison the index jobs_list serves; job ids
 * compare bytewise (the column is COLLATE "C"), as SQLite's and core's (strcmp) do. With a
 * payload budget, rows past the one whose preceding payloads already pass it are not sent
 * (the first two always are, so the caller learns there is more after a large first one):
 * libpq holds a whole result in memory. */
static int list_fn(je_pg_tx *tx, void *argp, je_err *err) {
    read_arg *a = argp;
    const je_job_filter *f = a->f;
    je_pg_params p = {0};
    je_pg_text(&p, a->tenant);
    je_pg_int(&p, f->status);
    je_pg_text(&p, f->job_type);
    je_pg_int(&p, f->after_created_ms);
    je_pg_text(&p, f->after_job_id ? f->after_job_id : "");
    je_pg_opt_int(&p, f->limit < 0 ? JE_NO_TIME : f->limit); /* NULL: no limit */
    je_pg_int(&p, f->max_payload_bytes);
    PGresult *r = je_pg_exec(
        tx,
        "SELECT " JE_PG_JOB_COLS " FROM (SELECT " JE_PG_JOB_COLS ", row_number() OVER w AS rn, "
        "sum(octet_length(payload)) OVER w - octet_length(payload) AS before FROM jobs WHERE "
        "tenant_id=$1 AND ($2::integer < 0 OR status=$2::integer) AND ($3::text IS NULL OR "
        "job_type=$3::text) AND (created_ms, job_id) > ($4::bigint, $5::text) WINDOW w AS (ORDER "
        "BY created_ms, job_id ROWS UNBOUNDED PRECEDING) ORDER BY created_ms, job_id LIMIT "
        "$6::bigint) page WHERE $7::bigint <= 0 OR rn <= 2 OR before <= $7::bigint ORDER BY "
        "created_ms, job_id",
        &p, err);
    if (!r) return JE_STORE_ERROR;
    for (int i = 0; i < PQntuples(r); i++) {
        je_job j;
        je_pg_job_from_row(r, i, &j);
        int stop = a->fn(a->ctx, &j);
        je_job_free(&j);
        if (stop) break;
    }
    PQclear(r);
    return 0;
}

int je_pg_job_list(je_store *s, const char *tenant, const je_job_filter *f, je_job_visit_fn fn,
                   void *ctx, je_err *err) {
    read_arg a = {.tenant = tenant, .f = f, .fn = fn, .ctx = ctx};
    return je_pg_read(s, list_fn, &a, err);
}

static int counts_fn(je_pg_tx *tx, void *argp, je_err *err) {
    read_arg *a = argp;
    je_pg_params p = {0};
    je_pg_text(&p, a->tenant);
    PGresult *r = je_pg_exec(tx,
                             "SELECT job_type, status, count(*) FROM jobs WHERE tenant_id=$1 "
                             "GROUP BY job_type, status ORDER BY job_type COLLATE \"C\", status",
                             &p, err);
    if (!r) return JE_STORE_ERROR;
    for (int i = 0; i < PQntuples(r); i++)
        if (a->count_fn(a->ctx, PQgetvalue(r, i, 0), (int)je_pg_get_int(r, i, 1),
                        je_pg_get_int(r, i, 2)))
            break;
    PQclear(r);
    return 0;
}

int je_pg_job_counts(je_store *s, const char *tenant, je_job_count_fn fn, void *ctx, je_err *err) {
    read_arg a = {.tenant = tenant, .count_fn = fn, .ctx = ctx};
    return je_pg_read(s, counts_fn, &a, err);
}

/* "*" counts the pending jobs of every type that has no quota of its own. */
static int pending_fn(je_pg_tx *tx, void *argp, je_err *err) {
    read_arg *a = argp;
    je_pg_params p = {0};
    je_pg_text(&p, a->tenant);
    je_pg_text(&p, a->key);
    PGresult *r = je_pg_exec(tx, "SELECT " JE_PG_PENDING_SQL("$1::text", "$2::text"), &p, err);
    if (!r) return JE_STORE_ERROR;
    a->n = PQntuples(r) == 1 ? je_pg_get_int(r, 0, 0) : 0;
    PQclear(r);
    return 0;
}

int64_t je_pg_jobs_pending(je_store *s, const char *tenant, const char *job_type, je_err *err) {
    read_arg a = {.tenant = tenant, .key = job_type};
    int rc = je_pg_read(s, pending_fn, &a, err);
    return rc < 0 ? rc : a.n;
}

/* ---- leases ending ------------------------------------------------------------------------ */

/* One quota's expired leases: its row locked first (when it still exists), then the jobs, which
 * je_pg_leases_expire_tx re-checks under their locks: a node that comes second ends none. */
static int expire_step(je_pg_tx *tx, const char *tenant, const char *quota_id, int64_t now,
                       int64_t *count, je_err *err) {
    je_quota_record q;
    int found = JE_STORE_NOT_FOUND;
    if (*quota_id) found = je_pg_quota_load(tx, tenant, quota_id, 0, &q, err);
    if (found < 0) return JE_STORE_ERROR;
    *count = je_pg_leases_expire_tx(tx, tenant, quota_id, now, err);
    if (*count < 0) return JE_STORE_ERROR;
    if (found != JE_STORE_OK || *count == 0) return 0;
    je_quota_release(&q.q, *count);
    return je_pg_quota_save(tx, &q, err) == 0 ? 0 : JE_STORE_ERROR;
}

int64_t je_pg_leases_expire(je_store *s, int64_t now_ms, je_err *err) {
    return je_pg_sweep_quotas(s,
                              "SELECT DISTINCT tenant_id, coalesce(quota_id, '') FROM jobs WHERE "
                              "status=1 AND lease_until_ms <= $1::bigint LIMIT 10000",
                              now_ms, expire_step, err);
}

typedef struct lease_change {
    const char *tenant, *job_id, *lease_id, *error;
    int64_t now, extend_ms;
    int complete, succeeded;
    je_job *out;
} lease_change;

/* The quota a job is charged to, read without a lock: it is locked before the job is. "" when
 * none; JE_STORE_NOT_FOUND when there is no such job. */
static int charged_quota(je_pg_tx *tx, const lease_change *a, char quota_id[JE_UUID_BUF],
                         je_err *err) {
    je_pg_params p = {0};
    je_pg_text(&p, a->tenant);
    je_pg_text(&p, a->job_id);
    PGresult *r =
        je_pg_exec(tx, "SELECT quota_id FROM jobs WHERE tenant_id=$1 AND job_id=$2", &p, err);
    if (!r) return JE_STORE_ERROR;
    int found = PQntuples(r) > 0 ? JE_STORE_OK : JE_STORE_NOT_FOUND;
    quota_id[0] = '\0';
    if (found == JE_STORE_OK) je_pg_get_text(r, 0, 0, quota_id, JE_UUID_BUF);
    PQclear(r);
    return found;
}

/* The lease ended by a completion: the job finished (core), its slot given back, its ledger
 * claims settled, a batch job counted on its backfill. read_id: the quota read before the job
 * was locked, q: that quota, locked (NULL: it does not exist). */
static int complete_locked(je_pg_tx *tx, lease_change *a, const char *read_id, je_quota_record *q,
                           je_err *err) {
    je_job *j = a->out;
    char quota_id[JE_UUID_BUF];
    snprintf(quota_id, sizeof quota_id, "%s", j->quota_id);
    je_job_finish(j, a->succeeded, a->error, a->now);
    if (je_pg_job_save(tx, j, err) != 0) return JE_STORE_ERROR;
    /* the outcome counts in the job type's circuit breaker (issue 15) */
    je_breaker_row *br = NULL;
    if (je_pg_breaker_gate(tx, j->job_type, a->tenant, a->now, &br, err) != 0)
        return JE_STORE_ERROR;
    if (br) {
        je_breaker_state before = je_breaker_effective(&br->b);
        je_breaker_record(&br->b, a->succeeded, a->now);
        int rc = je_pg_breaker_settle(tx, br, before, a->now, err);
        free(br);
        if (rc != 0) return JE_STORE_ERROR;
    }
    if (strcmp(read_id, quota_id) != 0) {
        /* charged to another quota than read before the lock: never seen (a live lease keeps
         * its quota), handled all the same */
        if (je_pg_quota_release_slots(tx, a->tenant, quota_id, 1, err) < 0) return JE_STORE_ERROR;
    } else if (q) {
        je_quota_release(&q->q, 1);
        if (je_pg_quota_save(tx, q, err) != 0) return JE_STORE_ERROR;
    }
    /* its ledger claims become processed, or are given up for the next attempt */
    int64_t claims = je_pg_ledger_settle(tx, a->tenant, a->job_id, a->succeeded, err);
    if (claims < 0) return JE_STORE_ERROR;
    if (!j->backfill_id[0]) return JE_STORE_OK;
    int rc = je_pg_backfill_batch_done(tx, j, a->succeeded, j->status == JE_JOB_FAILED, claims,
                                       a->now, err);
    return rc == 0 ? JE_STORE_OK : JE_STORE_ERROR;
}

static int lease_change_tx(je_pg_tx *tx, void *argp, je_err *err) {
    lease_change *a = argp;
    je_job_free(a->out); /* a run before this one (a retried transaction) may have loaded it */
    memset(a->out, 0, sizeof *a->out);
    je_quota_record q;
    char quota_id[JE_UUID_BUF] = "";
    int have_q = JE_STORE_NOT_FOUND;
    if (a->complete) { /* the quota row is locked before the job row */
        int found = charged_quota(tx, a, quota_id, err);
        if (found != JE_STORE_OK) return found;
        if (quota_id[0]) have_q = je_pg_quota_load(tx, a->tenant, quota_id, 0, &q, err);
        if (have_q < 0) return JE_STORE_ERROR;
    }
    int found = je_pg_job_load(tx, a->tenant, a->job_id, a->out, err);
    if (found != JE_STORE_OK) return found;
    if (!je_job_lease_live(a->out, a->lease_id, a->now)) return JE_STORE_LEASE_LOST;
    if (a->complete)
        return complete_locked(tx, a, quota_id, have_q == JE_STORE_OK ? &q : NULL, err);
    je_job_heartbeat(a->out, a->extend_ms, a->now);
    return je_pg_job_save(tx, a->out, err) == 0 ? JE_STORE_OK : JE_STORE_ERROR;
}

static int lease_change_run(je_store *s, lease_change *a, je_err *err) {
    memset(a->out, 0, sizeof *a->out);
    return je_pg_write(s, lease_change_tx, a, err);
}

int je_pg_job_heartbeat(je_store *s, const char *tenant, const char *job_id, const char *lease_id,
                        int64_t extend_ms, int64_t now_ms, je_job *out, je_err *err) {
    lease_change a = {tenant, job_id, lease_id, NULL, now_ms, extend_ms, 0, 0, out};
    return lease_change_run(s, &a, err);
}

int je_pg_job_complete(je_store *s, const char *tenant, const char *job_id, const char *lease_id,
                       int succeeded, const char *error, int64_t now_ms, je_job *out, je_err *err) {
    lease_change a = {tenant, job_id, lease_id, error, now_ms, 0, 1, succeeded, out};
    return lease_change_run(s, &a, err);
}
