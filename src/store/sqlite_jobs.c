/* store/sqlite_jobs.c: the SQLite backend's jobs: submit, reads, heartbeat, complete and lease
 * expiry. Leasing itself (the quota decisions) is in sqlite_lease.c. A leased job holds one slot
 * of the quota recorded in its quota_id; every path that ends a lease (complete, expiry) gives
 * that slot back in the same transaction. */
#include "store/sqlite_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define JOB_COLS                                                                                   \
    "tenant_id, job_id, job_type, status, lane, priority, payload, source_id, event_key, "         \
    "event_time_ms, backfill_id, batch, window_start_ms, window_end_ms, attempt, failures, "       \
    "max_attempts, available_ms, lease_id, lease_until_ms, lease_ms, worker_id, quota_id, error, " \
    "created_ms, updated_ms, completed_ms"

void je_job_free(je_job *j) {
    if (!j) return;
    free(j->payload);
    j->payload = NULL;
}

static void text_col(sqlite3_stmt *st, int i, char *dst, size_t cap) {
    const unsigned char *t = sqlite3_column_text(st, i);
    snprintf(dst, cap, "%s", t ? (const char *)t : "");
}

static int64_t opt_int(sqlite3_stmt *st, int i) {
    return sqlite3_column_type(st, i) == SQLITE_NULL ? JE_NO_TIME : sqlite3_column_int64(st, i);
}

void je_sqlite_job_from_row(sqlite3_stmt *st, je_job *j) {
    memset(j, 0, sizeof *j);
    text_col(st, 0, j->tenant_id, sizeof j->tenant_id);
    text_col(st, 1, j->job_id, sizeof j->job_id);
    text_col(st, 2, j->job_type, sizeof j->job_type);
    j->status = sqlite3_column_int(st, 3);
    j->lane = sqlite3_column_int(st, 4);
    j->priority = sqlite3_column_int64(st, 5);
    const unsigned char *p = sqlite3_column_text(st, 6);
    j->payload = strdup(p ? (const char *)p : "null");
    text_col(st, 7, j->source_id, sizeof j->source_id);
    text_col(st, 8, j->event_key, sizeof j->event_key);
    j->event_time_ms = opt_int(st, 9);
    text_col(st, 10, j->backfill_id, sizeof j->backfill_id);
    j->batch = opt_int(st, 11);
    j->window_start_ms = opt_int(st, 12);
    j->window_end_ms = opt_int(st, 13);
    j->attempt = sqlite3_column_int64(st, 14);
    j->failures = sqlite3_column_int64(st, 15);
    j->max_attempts = sqlite3_column_int64(st, 16);
    j->available_ms = sqlite3_column_int64(st, 17);
    text_col(st, 18, j->lease_id, sizeof j->lease_id);
    j->lease_until_ms = opt_int(st, 19);
    j->lease_ms = opt_int(st, 20);
    text_col(st, 21, j->worker_id, sizeof j->worker_id);
    text_col(st, 22, j->quota_id, sizeof j->quota_id);
    text_col(st, 23, j->error, sizeof j->error);
    j->created_ms = sqlite3_column_int64(st, 24);
    j->updated_ms = sqlite3_column_int64(st, 25);
    j->completed_ms = opt_int(st, 26);
}

static void bind_opt_text(sqlite3_stmt *st, int i, const char *s) {
    if (s && *s)
        sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

static void bind_opt_int(sqlite3_stmt *st, int i, int64_t v) {
    if (v == JE_NO_TIME)
        sqlite3_bind_null(st, i);
    else
        sqlite3_bind_int64(st, i, v);
}

/* INSERT OR REPLACE of the whole row. */
int je_sqlite_job_save(sqlite3 *db, const je_job *j, je_err *err) {
    sqlite3_stmt *st = je_sqlite_prepare(
        db,
        "INSERT OR REPLACE INTO jobs(" JOB_COLS ") VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,"
        "?13,?14,?15,?16,?17,?18,?19,?20,?21,?22,?23,?24,?25,?26,?27)",
        err);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, j->tenant_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, j->job_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, j->job_type, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 4, j->status);
    sqlite3_bind_int(st, 5, j->lane);
    sqlite3_bind_int64(st, 6, j->priority);
    sqlite3_bind_text(st, 7, j->payload ? j->payload : "null", -1, SQLITE_STATIC);
    bind_opt_text(st, 8, j->source_id);
    bind_opt_text(st, 9, j->event_key);
    bind_opt_int(st, 10, j->event_time_ms);
    bind_opt_text(st, 11, j->backfill_id);
    bind_opt_int(st, 12, j->backfill_id[0] ? j->batch : JE_NO_TIME);
    bind_opt_int(st, 13, j->backfill_id[0] ? j->window_start_ms : JE_NO_TIME);
    bind_opt_int(st, 14, j->backfill_id[0] ? j->window_end_ms : JE_NO_TIME);
    sqlite3_bind_int64(st, 15, j->attempt);
    sqlite3_bind_int64(st, 16, j->failures);
    sqlite3_bind_int64(st, 17, j->max_attempts);
    sqlite3_bind_int64(st, 18, j->available_ms);
    bind_opt_text(st, 19, j->lease_id);
    bind_opt_int(st, 20, j->lease_id[0] ? j->lease_until_ms : JE_NO_TIME);
    bind_opt_int(st, 21, j->lease_id[0] ? j->lease_ms : JE_NO_TIME);
    bind_opt_text(st, 22, j->worker_id);
    bind_opt_text(st, 23, j->quota_id);
    bind_opt_text(st, 24, j->error);
    sqlite3_bind_int64(st, 25, j->created_ms);
    sqlite3_bind_int64(st, 26, j->updated_ms);
    bind_opt_int(st, 27, j->completed_ms);
    int rc = sqlite3_step(st);
    je_sqlite_done(st);
    return rc == SQLITE_DONE ? 0 : je_sqlite_fail(err, db, "job save");
}

/* 1 found, 0 not, -1 error. */
int je_sqlite_job_load(sqlite3 *db, const char *tenant, const char *job_id, je_job *out,
                       je_err *err) {
    sqlite3_stmt *st = je_sqlite_prepare(
        db, "SELECT " JOB_COLS " FROM jobs WHERE tenant_id=?1 AND job_id=?2", err);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, job_id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st), found = 0;
    if (rc == SQLITE_ROW)
        je_sqlite_job_from_row(st, out), found = 1;
    else if (rc != SQLITE_DONE)
        found = je_sqlite_fail(err, db, "job load");
    je_sqlite_done(st);
    return found;
}

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
    return je_sqlite_write(s, submit_op, &a, err);
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
        "SELECT " JOB_COLS " FROM jobs WHERE tenant_id=?1 AND (?2 < 0 OR status=?2) AND "
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
    /* "*" counts the pending jobs of every type that has no quota of its own */
    sqlite3_stmt *st = je_sqlite_prepare(
        db,
        "SELECT count(*) FROM jobs WHERE tenant_id=?1 AND status=0 AND (job_type=?2 OR (?2='*' "
        "AND job_type NOT IN (SELECT job_type FROM quotas WHERE tenant_id=?1)))",
        err);
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

int64_t je_sqlite_leases_expire_tx(sqlite3 *db, const char *tenant, const char *quota_id,
                                   int64_t now, je_err *err) {
    sqlite3_stmt *st = je_sqlite_prepare(
        db,
        "UPDATE jobs SET status=0, lease_id=NULL, lease_until_ms=NULL, lease_ms=NULL, "
        "worker_id=NULL, quota_id=NULL, available_ms=?3, updated_ms=?3 "
        "WHERE tenant_id=?1 AND quota_id IS ?2 AND status=1 AND lease_until_ms <= ?3",
        err);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
    if (quota_id && *quota_id) sqlite3_bind_text(st, 2, quota_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, now);
    int rc = sqlite3_step(st);
    je_sqlite_done(st);
    if (rc != SQLITE_DONE) return je_sqlite_fail(err, db, "lease expiry");
    return sqlite3_changes(db);
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

/* Gives one slot back to the quota a lease was charged to (if it still exists). */
static int release_slot(sqlite3 *db, const char *tenant, const char *quota_id, int64_t n,
                        je_err *err) {
    if (!quota_id || !*quota_id || n <= 0) return 0;
    je_quota_record r;
    int found = je_sqlite_quota_load(db, tenant, quota_id, 0, &r, err);
    if (found <= 0) return found;
    je_quota_release(&r.q, n);
    return je_sqlite_quota_save(db, &r, err);
}

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
        text_col(st, 0, l->tenant[l->n], sizeof l->tenant[0]);
        text_col(st, 1, l->quota[l->n], sizeof l->quota[0]);
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
        if (n < 0 || release_slot(db, l.tenant[i], l.quota[i], n, err) < 0)
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
    return je_sqlite_write(s, leases_expire_op, &a, err) == 0 ? a.count : -1;
}

typedef struct lease_change {
    je_store *s;
    const char *tenant, *job_id, *lease_id, *error;
    int64_t now, extend_ms;
    int complete, succeeded;
    je_job *out;
    int result;
} lease_change;

/* The job if its lease lease_id is live now; result 0 no job, -2 lease lost, 1 live. */
static int load_live(sqlite3 *db, lease_change *a, je_err *err) {
    int found = je_sqlite_job_load(db, a->tenant, a->job_id, a->out, err);
    if (found <= 0) return a->result = found, found;
    je_job *j = a->out;
    int live = j->status == JE_JOB_LEASED && strcmp(j->lease_id, a->lease_id) == 0 &&
               j->lease_until_ms > a->now;
    a->result = live ? 1 : -2;
    return 1;
}

static void finish_job(je_job *j, const lease_change *a) {
    if (a->succeeded) {
        j->status = JE_JOB_SUCCEEDED;
    } else {
        j->failures++;
        int last = j->failures >= j->max_attempts;
        j->status = last ? JE_JOB_FAILED : JE_JOB_PENDING;
        if (!last) j->available_ms = a->now + je_job_backoff_ms(j->failures);
    }
    if (j->status != JE_JOB_PENDING) j->completed_ms = a->now;
    snprintf(j->error, sizeof j->error, "%s", a->succeeded || !a->error ? "" : a->error);
    j->lease_id[0] = '\0';
    j->worker_id[0] = '\0';
    j->quota_id[0] = '\0';
    j->lease_until_ms = j->lease_ms = JE_NO_TIME;
}

static int lease_change_op(sqlite3 *db, void *argp, je_err *err) {
    lease_change *a = argp;
    if (load_live(db, a, err) < 0) return -1;
    if (a->result != 1) return 0;
    je_job *j = a->out;
    j->updated_ms = a->now;
    if (!a->complete) {
        j->lease_until_ms = a->now + a->extend_ms;
        j->lease_ms = a->extend_ms;
        return je_sqlite_job_save(db, j, err);
    }
    char quota_id[37];
    snprintf(quota_id, sizeof quota_id, "%s", j->quota_id);
    finish_job(j, a);
    if (je_sqlite_job_save(db, j, err) != 0) return -1;
    if (release_slot(db, a->tenant, quota_id, 1, err) < 0) return -1;
    /* its ledger claims become processed, or are given up for the next attempt */
    int64_t claims = je_sqlite_ledger_settle(db, a->tenant, a->job_id, a->succeeded, err);
    if (claims < 0) return -1;
    if (!j->backfill_id[0]) return 0;
    return je_sqlite_backfill_batch_done(db, a->s, j, a->succeeded, j->status == JE_JOB_FAILED,
                                         claims, a->now, err) < 0
               ? -1
               : 0;
}

int je_sqlite_job_heartbeat(je_store *s, const char *tenant, const char *job_id,
                            const char *lease_id, int64_t extend_ms, int64_t now_ms, je_job *out,
                            je_err *err) {
    lease_change a = {s, tenant, job_id, lease_id, NULL, now_ms, extend_ms, 0, 0, out, 0};
    memset(out, 0, sizeof *out);
    if (je_sqlite_write(s, lease_change_op, &a, err) != 0) return -1;
    return a.result;
}

int je_sqlite_job_complete(je_store *s, const char *tenant, const char *job_id,
                           const char *lease_id, int succeeded, const char *error, int64_t now_ms,
                           je_job *out, je_err *err) {
    lease_change a = {s, tenant, job_id, lease_id, error, now_ms, 0, 1, succeeded, out, 0};
    memset(out, 0, sizeof *out);
    if (je_sqlite_write(s, lease_change_op, &a, err) != 0) return -1;
    return a.result;
}
