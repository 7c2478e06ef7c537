/* store/sqlite_backfill.c: the SQLite backend's backfill operations: the facts of the safety
 * checks, create (checks and insert in one transaction), reads, state changes and the engine's
 * batch submission. What a backfill does is core's (core/backfill.h): the store reads facts and
 * rows, runs the callbacks and core's steps, and saves what they return. */
#include "store/sqlite_ops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- facts and create ---------------------------------------------------------------------- */

typedef struct facts_q {
    const char *tenant, *source, *job_type;
    int64_t start, end, suppression, now;
} facts_q;

static int first_id(sqlite3 *db, const char *sql, const facts_q *q, char out[37], je_err *err) {
    sqlite3_stmt *st = je_sqlite_prepare(db, sql, err);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, q->tenant, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, q->source, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, q->job_type, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, q->start);
    sqlite3_bind_int64(st, 5, q->end);
    sqlite3_bind_int64(st, 6, q->now - q->suppression);
    int rc = sqlite3_step(st);
    out[0] = '\0';
    if (rc == SQLITE_ROW) je_sqlite_col_text(st, 0, out, 37);
    je_sqlite_done(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : je_sqlite_fail(err, db, "backfill facts");
}

/* The entries of the source in the window: the settled ones (by ledger_time), with the claims
 * counted at the time they were made with instead (an entry's time is its claim's while
 * claimed), as three sums over the source's claims, which are few. */
static int ledger_counts(sqlite3 *db, const facts_q *q, je_backfill_store_facts *f, je_err *err) {
    int64_t src = je_sqlite_ledger_source(db, q->tenant, q->source, 0, err);
    if (src <= 0) return (int)src;
    sqlite3_stmt *st = je_sqlite_prepare(
        db,
        "SELECT coalesce(sum(n), 0), coalesce(sum(p), 0) FROM (SELECT count(*) AS n, "
        "sum(processed) AS p FROM ledger WHERE source=?1 AND event_time_ms >= ?2 AND "
        "event_time_ms < ?3 UNION ALL SELECT count(*), sum(coalesce(l.processed, 0)) FROM "
        "ledger_claims c LEFT JOIN ledger l ON l.source=c.source AND l.event_key=c.event_key "
        "WHERE c.source=?1 AND c.event_time_ms >= ?2 AND c.event_time_ms < ?3 UNION ALL SELECT "
        "-count(*), -sum(l.processed) FROM ledger_claims c CROSS JOIN ledger l ON "
        "l.source=c.source AND "
        "l.event_key=c.event_key WHERE c.source=?1 AND l.event_time_ms >= ?2 AND "
        "l.event_time_ms < ?3)",
        err);
    if (!st) return -1;
    sqlite3_bind_int64(st, 1, src);
    sqlite3_bind_int64(st, 2, q->start);
    sqlite3_bind_int64(st, 3, q->end);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        f->known_events = sqlite3_column_int64(st, 0);
        f->already_processed = sqlite3_column_int64(st, 1);
    }
    je_sqlite_done(st);
    return rc == SQLITE_ROW ? 0 : je_sqlite_fail(err, db, "ledger counts");
}

static int facts_tx(sqlite3 *db, const facts_q *q, je_backfill_store_facts *f, je_err *err) {
    memset(f, 0, sizeof *f);
    je_quota_record r;
    int found = je_sqlite_quota_load(db, q->tenant, q->job_type, 1, &r, err);
    if (found == JE_STORE_NOT_FOUND) found = je_sqlite_quota_load(db, q->tenant, "*", 1, &r, err);
    if (found < 0) return -1;
    f->quota_exists = found == JE_STORE_OK;
    f->quota_paused = f->quota_exists && r.q.paused;
    if (first_id(db,
                 "SELECT backfill_id FROM backfills WHERE tenant_id=?1 AND source_id=?2 AND "
                 "job_type=?3 AND status IN (0,1,2) AND window_start_ms < ?5 AND ?4 < "
                 "window_end_ms AND ?6=?6 ORDER BY created_ms LIMIT 1",
                 q, f->overlapping_id, err) != 0 ||
        first_id(db,
                 "SELECT backfill_id FROM backfills WHERE tenant_id=?1 AND source_id=?2 AND "
                 "job_type=?3 AND status=3 AND window_start_ms=?4 AND window_end_ms=?5 AND "
                 "completed_ms >= ?6 ORDER BY completed_ms DESC LIMIT 1",
                 q, f->repeated_id, err) != 0)
        return -1;
    return ledger_counts(db, q, f, err);
}

int je_sqlite_backfill_facts(je_store *s, const char *tenant, const char *source_id,
                             const char *job_type, int64_t start_ms, int64_t end_ms,
                             int64_t suppression_ms, int64_t now_ms, je_backfill_store_facts *out,
                             je_err *err) {
    sqlite3 *db = je_sqlite_read_get(s, err);
    if (!db) return -1;
    facts_q q = {tenant, source_id, job_type, start_ms, end_ms, suppression_ms, now_ms};
    int rc = facts_tx(db, &q, out, err);
    je_sqlite_read_put(s, db);
    return rc;
}

typedef struct create_arg {
    facts_q q;
    je_backfill_create_fn fn;
    void *ctx;
    je_idem *idem;
    je_backfill_record *out;
    int result;
} create_arg;

static int create_op(sqlite3 *db, void *argp, je_err *err) {
    create_arg *a = argp;
    int seen = je_sqlite_idem_lookup(db, a->q.tenant, a->idem, a->q.now, err);
    if (seen != 0) {
        a->result = a->idem && a->idem->replayed ? JE_CHANGE_APPLY : JE_CHANGE_DENY;
        return seen < 0 ? -1 : 0;
    }
    je_backfill_store_facts f;
    if (facts_tx(db, &a->q, &f, err) != 0) return -1;
    json_t *audit = NULL;
    memset(a->out, 0, sizeof *a->out);
    int rc = a->fn(a->ctx, &f, a->out, a->q.now, &audit, err);
    if (rc == JE_CHANGE_APPLY)
        rc = je_sqlite_backfill_save(db, a->out, err) == 0 ? rc : -1;
    else if (rc != JE_CHANGE_DENY)
        rc = -1;
    if (rc >= 0 && audit) rc = je_sqlite_audit_append_tx(db, audit, err) == 0 ? rc : -1;
    json_decref(audit);
    if (rc == JE_CHANGE_APPLY && je_sqlite_idem_store(db, a->q.tenant, a->idem, a->q.now, err))
        rc = -1;
    if (rc < 0) return -1;
    a->result = rc;
    return 0;
}

int je_sqlite_backfill_create(je_store *s, const char *tenant, const char *source_id,
                              const char *job_type, int64_t start_ms, int64_t end_ms,
                              int64_t suppression_ms, int64_t now_ms, je_backfill_create_fn fn,
                              void *ctx, je_idem *idem, je_backfill_record *out, je_err *err) {
    create_arg a = {{tenant, source_id, job_type, start_ms, end_ms, suppression_ms, now_ms},
                    fn,
                    ctx,
                    idem,
                    out,
                    JE_STORE_ERROR};
    if (je_sqlite_write(s, create_op, &a, err) != 0) return JE_STORE_ERROR;
    return a.result;
}

/* ---- reads --------------------------------------------------------------------------------- */

int je_sqlite_backfill_get(je_store *s, const char *tenant, const char *backfill_id,
                           je_backfill_record *out, je_err *err) {
    sqlite3 *db = je_sqlite_read_get(s, err);
    if (!db) return -1;
    int rc = je_sqlite_backfill_load(db, tenant, backfill_id, out, err);
    je_sqlite_read_put(s, db);
    return rc;
}

int je_sqlite_backfill_list(je_store *s, const char *tenant, const je_backfill_filter *f,
                            je_backfill_visit_fn fn, void *ctx, je_err *err) {
    sqlite3 *db = je_sqlite_read_get(s, err);
    if (!db) return -1;
    sqlite3_stmt *st =
        je_sqlite_prepare(db,
                          "SELECT " JE_SQLITE_BF_COLS
                          " FROM backfills WHERE tenant_id=?1 AND (?2 < 0 OR status=?2) AND "
                          "(created_ms < ?3 OR (created_ms = ?3 AND backfill_id < ?4)) "
                          "ORDER BY created_ms DESC, backfill_id DESC LIMIT ?5",
                          err);
    int rc = st ? 0 : -1;
    if (st) {
        sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 2, f->status);
        sqlite3_bind_int64(st, 3, f->before_created_ms);
        /* "~" sorts after every UUID: the start of the list */
        sqlite3_bind_text(st, 4, f->before_id && *f->before_id ? f->before_id : "~", -1,
                          SQLITE_STATIC);
        sqlite3_bind_int64(st, 5, f->limit);
        int step;
        je_backfill_record b;
        while ((step = sqlite3_step(st)) == SQLITE_ROW) {
            je_sqlite_backfill_from_row(st, &b);
            if (fn(ctx, &b)) break;
        }
        if (step != SQLITE_ROW && step != SQLITE_DONE) rc = je_sqlite_fail(err, db, "list");
        je_sqlite_done(st);
    }
    je_sqlite_read_put(s, db);
    return rc;
}

/* ---- state changes ------------------------------------------------------------------------- */

typedef struct change_arg {
    const char *tenant, *id;
    int64_t now;
    je_backfill_change_fn fn;
    void *ctx;
    je_backfill_record *out;
    int result;
} change_arg;

static int cancel_batches(sqlite3 *db, const je_backfill_record *b, int64_t now, je_err *err) {
    sqlite3_stmt *st =
        je_sqlite_prepare(db,
                          "UPDATE jobs SET status=?4, completed_ms=?3, updated_ms=?3, error=?5 "
                          "WHERE tenant_id=?1 AND backfill_id=?2 AND status=0",
                          err);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, b->tenant_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, b->backfill_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, now);
    sqlite3_bind_int(st, 4, JE_JOB_CANCELED);
    sqlite3_bind_text(st, 5, JE_BACKFILL_CANCELED_ERROR, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    je_sqlite_done(st);
    return rc == SQLITE_DONE ? 0 : je_sqlite_fail(err, db, "cancel batches");
}

static int change_op(sqlite3 *db, void *argp, je_err *err) {
    change_arg *a = argp;
    int found = je_sqlite_backfill_load(db, a->tenant, a->id, a->out, err);
    if (found < 0) return -1;
    json_t *audit = NULL;
    int rc = a->fn(a->ctx, a->out, found == JE_STORE_OK, a->now, &audit, err);
    if (rc == JE_CHANGE_APPLY)
        rc = je_sqlite_backfill_save(db, a->out, err) == 0 ? rc : -1;
    else if (rc != JE_CHANGE_DENY)
        rc = -1;
    if (rc == JE_CHANGE_APPLY && a->out->status == JE_BF_CANCELED)
        rc = cancel_batches(db, a->out, a->now, err) == 0 ? rc : -1;
    if (rc >= 0 && audit) rc = je_sqlite_audit_append_tx(db, audit, err) == 0 ? rc : -1;
    json_decref(audit);
    if (rc < 0) return -1;
    a->result = rc;
    return 0;
}

int je_sqlite_backfill_change(je_store *s, const char *tenant, const char *backfill_id,
                              int64_t now_ms, je_backfill_change_fn fn, void *ctx,
                              je_backfill_record *out, je_err *err) {
    change_arg a = {tenant, backfill_id, now_ms, fn, ctx, out, JE_STORE_ERROR};
    if (je_sqlite_write(s, change_op, &a, err) != 0) return JE_STORE_ERROR;
    return a.result;
}

/* ---- the engine's step ---------------------------------------------------------------------- */

typedef struct advance_arg {
    int64_t now, in_flight, max_attempts, count;
} advance_arg;

static int advance_one(sqlite3 *db, advance_arg *a, je_backfill_record *b, je_err *err) {
    je_backfill_record before = *b;
    int64_t first = 0, n = 0;
    if (je_backfill_advance(b, a->in_flight, a->now, &first, &n) == JE_BF_COMPLETED)
        return je_sqlite_backfill_finished(db, &before, b, a->now, err);
    for (int64_t i = first; i < first + n; i++) {
        char job_id[JE_UUID_BUF];
        je_job j;
        je_uuid7(a->now, job_id);
        if (je_backfill_batch_job(b, i, job_id, a->max_attempts, a->now, &j) != 0)
            return je_job_free(&j), je_err_set(err, "STORE", "out of memory");
        int rc = je_sqlite_job_save(db, &j, err);
        je_job_free(&j);
        if (rc != 0) return -1;
    }
    a->count += n;
    return n == 0 ? 0 : je_sqlite_backfill_save(db, b, err);
}

static int advance_op(sqlite3 *db, void *argp, je_err *err) {
    advance_arg *a = argp;
    a->count = 0; /* a retried transaction counts afresh */
    /* status=1 (JE_BF_RUNNING) is a literal so the partial index backfills_running applies */
    sqlite3_stmt *st = je_sqlite_prepare(
        db,
        "SELECT " JE_SQLITE_BF_COLS " FROM backfills WHERE status=1 ORDER BY created_ms LIMIT 1000",
        err);
    if (!st) return -1;
    size_t n = 0, cap = 16;
    je_backfill_record *list = malloc(cap * sizeof *list);
    while (list && sqlite3_step(st) == SQLITE_ROW) {
        if (n == cap) {
            je_backfill_record *nl = realloc(list, (cap *= 2) * sizeof *list);
            if (!nl) break;
            list = nl;
        }
        je_sqlite_backfill_from_row(st, &list[n++]);
    }
    je_sqlite_done(st);
    int rc = list ? 0 : je_err_set(err, "STORE", "out of memory");
    for (size_t i = 0; rc == 0 && i < n; i++) rc = advance_one(db, a, &list[i], err);
    free(list);
    return rc;
}

int64_t je_sqlite_backfills_advance(je_store *s, int64_t now_ms, int64_t in_flight,
                                    int64_t max_attempts, je_err *err) {
    advance_arg a = {now_ms, in_flight, max_attempts, 0};
    return je_sqlite_write(s, advance_op, &a, err) == 0 ? a.count : JE_STORE_ERROR;
}
