/* store/sqlite_jobs.c: the SQLite backend's jobs: submit, reads, heartbeat, complete and lease
 * expiry. Leasing itself (the quota decisions) is in sqlite_lease.c. A leased job holds one slot
 * of the quota recorded in its quota_id; every path that ends a lease (complete, expiry) gives
 * that slot back in the same transaction. What a lease's end does to the job is core's
 * (core/jobs.h), and to a batch job's backfill too (core/backfill.h). */
#include "store/sqlite_ops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- submit and reads --------------------------------------------------------------------- */

typedef struct submit_arg {
    je_job *job;
    je_idem *idem;
} submit_arg;

static int submit_op(sqlite3 *db, void *argp, je_err *err) {
    submit_arg *a = argp;
    int seen = je_sqlite_idem_lookup(db, a->job->tenant_id, a->idem, a->job->created_ms, err);
    if (seen != 0) return seen < 0 ? -1 : 0;
    if (je_sqlite_job_save(db, a->job, err) != 0) return -1;
    return je_sqlite_idem_store(db, a->job->tenant_id, a->idem, a->job->created_ms, err);
}

int je_sqlite_job_submit(je_store *s, je_job *j, je_idem *idem, je_err *err) {
    submit_arg a = {j, idem};
    return je_sqlite_write(s, submit_op, &a, err) == 0 ? JE_STORE_OK : JE_STORE_ERROR;
}

int je_sqlite_job_get(je_store *s, const char *tenant, const char *job_id, je_job *out,
                      je_err *err) {
    sqlite3 *db = je_sqlite_read_get(s, err);
    if (!db) return -1;
    int rc = je_sqlite_job_load(db, tenant, job_id, out, err);
    je_sqlite_read_put(s, db);
    return rc;
}

int je_sqlite_job_list(je_store *s, const char *tenant, const je_job_filter *f, je_job_visit_fn fn,
                       void *ctx, je_err *err) {
    sqlite3 *db = je_sqlite_read_get(s, err);
    if (!db) return -1;
    sqlite3_stmt *st = je_sqlite_prepare(
        db,
        "SELECT " JE_SQLITE_JOB_COLS " FROM jobs WHERE tenant_id=?1 AND (?2 < 0 OR status=?2) AND "
        "(?3 IS NULL OR job_type=?3) AND (created_ms > ?4 OR (created_ms = ?4 AND job_id > ?5)) "
        "ORDER BY created_ms, job_id LIMIT ?6",
        err);
    int rc = st ? 0 : -1;
    if (st) {
        sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 2, f->status);
        if (f->job_type) sqlite3_bind_text(st, 3, f->job_type, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, f->after_created_ms);
        sqlite3_bind_text(st, 5, f->after_job_id ? f->after_job_id : "", -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 6, f->limit);
        int step;
        while ((step = sqlite3_step(st)) == SQLITE_ROW) {
            je_job j;
            je_sqlite_job_from_row(st, &j);
            int stop = fn(ctx, &j);
            je_job_free(&j);
            if (stop) break;
        }
        if (step != SQLITE_ROW && step != SQLITE_DONE) rc = je_sqlite_fail(err, db, "job list");
        je_sqlite_done(st);
    }
    je_sqlite_read_put(s, db);
    return rc;
}

int je_sqlite_job_counts(je_store *s, const char *tenant, je_job_count_fn fn, void *ctx,
                         je_err *err) {
    sqlite3 *db = je_sqlite_read_get(s, err);
    if (!db) return -1;
    sqlite3_stmt *st = je_sqlite_prepare(db,
                                         "SELECT job_type, status, count(*) FROM jobs WHERE "
                                         "tenant_id=?1 GROUP BY job_type, status ORDER BY 1, 2",
                                         err);
    int rc = st ? 0 : -1;
    if (st) {
        sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
        int step;
        while ((step = sqlite3_step(st)) == SQLITE_ROW)
            if (fn(ctx, (const char *)sqlite3_column_text(st, 0), sqlite3_column_int(st, 1),
                   sqlite3_column_int64(st, 2)))
                break;
        if (step != SQLITE_ROW && step != SQLITE_DONE) rc = je_sqlite_fail(err, db, "job counts");
        je_sqlite_done(st);
    }
    je_sqlite_read_put(s, db);
    return rc;
}

int64_t je_sqlite_jobs_pending(je_store *s, const char *tenant, const char *job_type, je_err *err) {
    sqlite3 *db = je_sqlite_read_get(s, err);
    if (!db) return -1;
    sqlite3_stmt *st = je_sqlite_prepare(db, "SELECT " JE_SQLITE_PENDING_SQL("?1", "?2"), err);
    int64_t n = -1;
    if (st) {
        sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, job_type, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW)
            n = sqlite3_column_int64(st, 0);
        else
            je_sqlite_fail(err, db, "pending count");
        je_sqlite_done(st);
    }
    je_sqlite_read_put(s, db);
    return n;
}

/* ---- leases ending ------------------------------------------------------------------------ */

typedef struct pair_list {
    char (*tenant)[JE_TENANT_MAX + 1];
    char (*quota)[37];
    size_t n;
} pair_list;

static int expired_pairs(sqlite3 *db, int64_t now, pair_list *l, je_err *err) {
    sqlite3_stmt *st = je_sqlite_prepare(db,
                                         "SELECT DISTINCT tenant_id, quota_id FROM jobs WHERE "
                                         "status=1 AND lease_until_ms <= ?1 LIMIT 10000",
                                         err);
    if (!st) return -1;
    sqlite3_bind_int64(st, 1, now);
    memset(l, 0, sizeof *l);
    l->tenant = calloc(10000, sizeof *l->tenant);
    l->quota = calloc(10000, sizeof *l->quota);
    while (l->tenant && l->quota && sqlite3_step(st) == SQLITE_ROW) {
        je_sqlite_col_text(st, 0, l->tenant[l->n], sizeof l->tenant[0]);
        je_sqlite_col_text(st, 1, l->quota[l->n], sizeof l->quota[0]);
        l->n++;
    }
    je_sqlite_done(st);
    return l->tenant && l->quota ? 0 : je_err_set(err, "STORE", "out of memory");
}

typedef struct sweep {
    int64_t now, count;
} sweep;

static int leases_expire_op(sqlite3 *db, void *argp, je_err *err) {
    sweep *a = argp;
    pair_list l = {NULL, NULL, 0};
    int rc = expired_pairs(db, a->now, &l, err);
    for (size_t i = 0; rc == 0 && i < l.n; i++) {
        int64_t n = je_sqlite_leases_expire_tx(db, l.tenant[i], l.quota[i], a->now, err);
        if (n < 0 || je_sqlite_quota_release_slots(db, l.tenant[i], l.quota[i], n, err) < 0)
            rc = -1;
        else
            a->count += n;
    }
    free(l.tenant);
    free(l.quota);
    return rc;
}

int64_t je_sqlite_leases_expire(je_store *s, int64_t now_ms, je_err *err) {
    sweep a = {now_ms, 0};
    return je_sqlite_write(s, leases_expire_op, &a, err) == 0 ? a.count : JE_STORE_ERROR;
}

typedef struct lease_change {
    const char *tenant, *job_id, *lease_id, *error;
    int64_t now, extend_ms;
    int complete, succeeded;
    je_job *out;
    int result;
} lease_change;

static int lease_change_op(sqlite3 *db, void *argp, je_err *err) {
    lease_change *a = argp;
    je_job_free(a->out); /* a run before this one (a retried transaction) may have loaded it */
    a->result = je_sqlite_job_load(db, a->tenant, a->job_id, a->out, err);
    if (a->result != JE_STORE_OK) return a->result == JE_STORE_NOT_FOUND ? 0 : -1;
    je_job *j = a->out;
    if (!je_job_lease_live(j, a->lease_id, a->now)) return a->result = JE_STORE_LEASE_LOST, 0;
    if (!a->complete) {
        je_job_heartbeat(j, a->extend_ms, a->now);
        return je_sqlite_job_save(db, j, err);
    }
    char quota_id[JE_UUID_BUF];
    snprintf(quota_id, sizeof quota_id, "%s", j->quota_id);
    je_job_finish(j, a->succeeded, a->error, a->now);
    if (je_sqlite_job_save(db, j, err) != 0) return -1;
    /* the outcome counts in the job type's circuit breaker (issue 15) */
    je_breaker_row *br = NULL;
    if (je_sqlite_breaker_gate(db, j->job_type, a->tenant, a->now, &br, err) != 0) return -1;
    if (br) {
        je_breaker_state before = je_breaker_effective(&br->b);
        je_breaker_record(&br->b, a->succeeded, a->now);
        int rc = je_sqlite_breaker_settle(db, br, before, a->now, err);
        free(br);
        if (rc != 0) return -1;
    }
    if (je_sqlite_quota_release_slots(db, a->tenant, quota_id, 1, err) < 0) return -1;
    /* its ledger claims become processed, or are given up for the next attempt */
    int64_t claims = je_sqlite_ledger_settle(db, a->tenant, a->job_id, a->succeeded, err);
    if (claims < 0) return -1;
    if (!j->backfill_id[0]) return 0;
    return je_sqlite_backfill_batch_done(db, j, a->succeeded, j->status == JE_JOB_FAILED, claims,
                                         a->now, err);
}

static int lease_change_run(je_store *s, lease_change *a, je_err *err) {
    memset(a->out, 0, sizeof *a->out);
    if (je_sqlite_write(s, lease_change_op, a, err) != 0) return JE_STORE_ERROR;
    return a->result;
}

int je_sqlite_job_heartbeat(je_store *s, const char *tenant, const char *job_id,
                            const char *lease_id, int64_t extend_ms, int64_t now_ms, je_job *out,
                            je_err *err) {
    lease_change a = {tenant, job_id, lease_id, NULL, now_ms, extend_ms, 0, 0, out, 0};
    return lease_change_run(s, &a, err);
}

int je_sqlite_job_complete(je_store *s, const char *tenant, const char *job_id,
                           const char *lease_id, int succeeded, const char *error, int64_t now_ms,
                           je_job *out, je_err *err) {
    lease_change a = {tenant, job_id, lease_id, error, now_ms, 0, 1, succeeded, out, 0};
    return lease_change_run(s, &a, err);
}
