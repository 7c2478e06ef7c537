/* store/sqlite_backfill.c: the SQLite backend's backfills: the facts of the safety checks,
 * create (checks and insert in one transaction), reads, state changes, the engine's batch
 * submission, and the accounting of batch jobs as they finish. */
#include "store/sqlite_impl.h"

#include "core/jcs.h"
#include "core/timefmt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BF_COLS                                                                                    \
    "tenant_id, backfill_id, source_id, job_type, window_start_ms, window_end_ms, batch_ms, "      \
    "force_reprocess, status, reason, ticket, plan_batches, plan_known, plan_processed, "          \
    "plan_hash, safety_checks, batches_submitted, batches_done, events_processed, "                \
    "duplicates_skipped, events_failed, created_ms, created_by, started_ms, completed_ms, error, " \
    "version"

static void col(sqlite3_stmt *st, int i, char *dst, size_t cap) {
    const unsigned char *t = sqlite3_column_text(st, i);
    snprintf(dst, cap, "%s", t ? (const char *)t : "");
}

static int64_t col_opt(sqlite3_stmt *st, int i) {
    return sqlite3_column_type(st, i) == SQLITE_NULL ? JE_NO_TIME : sqlite3_column_int64(st, i);
}

static void bf_from_row(sqlite3_stmt *st, je_backfill_record *b) {
    memset(b, 0, sizeof *b);
    col(st, 0, b->tenant_id, sizeof b->tenant_id);
    col(st, 1, b->backfill_id, sizeof b->backfill_id);
    col(st, 2, b->source_id, sizeof b->source_id);
    col(st, 3, b->job_type, sizeof b->job_type);
    b->window_start_ms = sqlite3_column_int64(st, 4);
    b->window_end_ms = sqlite3_column_int64(st, 5);
    b->batch_ms = sqlite3_column_int64(st, 6);
    b->force_reprocess = sqlite3_column_int(st, 7);
    b->status = sqlite3_column_int(st, 8);
    col(st, 9, b->reason, sizeof b->reason);
    col(st, 10, b->ticket, sizeof b->ticket);
    b->plan_batches = sqlite3_column_int64(st, 11);
    b->plan_known = sqlite3_column_int64(st, 12);
    b->plan_processed = sqlite3_column_int64(st, 13);
    col(st, 14, b->plan_hash, sizeof b->plan_hash);
    col(st, 15, b->safety_checks, sizeof b->safety_checks);
    b->batches_submitted = sqlite3_column_int64(st, 16);
    b->batches_done = sqlite3_column_int64(st, 17);
    b->events_processed = sqlite3_column_int64(st, 18);
    b->duplicates_skipped = sqlite3_column_int64(st, 19);
    b->events_failed = sqlite3_column_int64(st, 20);
    b->created_ms = sqlite3_column_int64(st, 21);
    col(st, 22, b->created_by, sizeof b->created_by);
    b->started_ms = col_opt(st, 23);
    b->completed_ms = col_opt(st, 24);
    col(st, 25, b->error, sizeof b->error);
    b->version = sqlite3_column_int64(st, 26);
}

static void bind_opt(sqlite3_stmt *st, int i, int64_t v) {
    if (v == JE_NO_TIME)
        sqlite3_bind_null(st, i);
    else
        sqlite3_bind_int64(st, i, v);
}

int je_sqlite_backfill_save(sqlite3 *db, const je_backfill_record *b, je_err *err) {
    sqlite3_stmt *st = je_sqlite_prepare(
        db,
        "INSERT OR REPLACE INTO backfills(" BF_COLS ") VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,"
        "?12,?13,?14,?15,?16,?17,?18,?19,?20,?21,?22,?23,?24,?25,?26,?27)",
        err);
    if (!st) return -1;
    const char *texts[] = {b->tenant_id, b->backfill_id, b->source_id, b->job_type};
    for (int i = 0; i < 4; i++) sqlite3_bind_text(st, i + 1, texts[i], -1, SQLITE_STATIC);
    const int64_t ints[] = {b->window_start_ms, b->window_end_ms, b->batch_ms, b->force_reprocess,
                            b->status};
    for (int i = 0; i < 5; i++) sqlite3_bind_int64(st, i + 5, ints[i]);
    sqlite3_bind_text(st, 10, b->reason, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 11, b->ticket, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 12, b->plan_batches);
    sqlite3_bind_int64(st, 13, b->plan_known);
    sqlite3_bind_int64(st, 14, b->plan_processed);
    sqlite3_bind_text(st, 15, b->plan_hash, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 16, b->safety_checks, -1, SQLITE_STATIC);
    const int64_t progress[] = {b->batches_submitted,  b->batches_done,  b->events_processed,
                                b->duplicates_skipped, b->events_failed, b->created_ms};
    for (int i = 0; i < 6; i++) sqlite3_bind_int64(st, i + 17, progress[i]);
    sqlite3_bind_text(st, 23, b->created_by, -1, SQLITE_STATIC);
    bind_opt(st, 24, b->started_ms);
    bind_opt(st, 25, b->completed_ms);
    if (b->error[0])
        sqlite3_bind_text(st, 26, b->error, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 26);
    sqlite3_bind_int64(st, 27, b->version);
    int rc = sqlite3_step(st);
    je_sqlite_done(st);
    return rc == SQLITE_DONE ? 0 : je_sqlite_fail(err, db, "backfill save");
}

int je_sqlite_backfill_load(sqlite3 *db, const char *tenant, const char *id,
                            je_backfill_record *out, je_err *err) {
    sqlite3_stmt *st = je_sqlite_prepare(
        db, "SELECT " BF_COLS " FROM backfills WHERE tenant_id=?1 AND backfill_id=?2", err);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st), found = 0;
    if (rc == SQLITE_ROW)
        bf_from_row(st, out), found = 1;
    else if (rc != SQLITE_DONE)
        found = je_sqlite_fail(err, db, "backfill load");
    je_sqlite_done(st);
    return found;
}

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
    if (rc == SQLITE_ROW) col(st, 0, out, 37);
    je_sqlite_done(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : je_sqlite_fail(err, db, "backfill facts");
}

static int ledger_counts(sqlite3 *db, const facts_q *q, je_backfill_store_facts *f, je_err *err) {
    sqlite3_stmt *st = je_sqlite_prepare(
        db,
        "SELECT count(*), coalesce(sum(processed), 0) FROM ledger WHERE tenant_id=?1 AND "
        "source_id=?2 AND event_time_ms >= ?3 AND event_time_ms < ?4",
        err);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, q->tenant, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, q->source, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, q->start);
    sqlite3_bind_int64(st, 4, q->end);
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
    if (found == 0) found = je_sqlite_quota_load(db, q->tenant, "*", 1, &r, err);
    if (found < 0) return -1;
    f->quota_exists = found;
    f->quota_paused = found && r.q.paused;
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
    a->q.now = je_sqlite_now_ms();
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
    if (rc == JE_CHANGE_APPLY) rc = je_sqlite_backfill_save(db, a->out, err) == 0 ? rc : -1;
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
                              int64_t suppression_ms, je_backfill_create_fn fn, void *ctx,
                              je_idem *idem, je_backfill_record *out, je_err *err) {
    create_arg a = {
        {tenant, source_id, job_type, start_ms, end_ms, suppression_ms, 0}, fn, ctx, idem, out, -1};
    if (je_sqlite_write(s, create_op, &a, err) != 0) return -1;
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
    sqlite3_stmt *st = je_sqlite_prepare(
        db,
        "SELECT " BF_COLS " FROM backfills WHERE tenant_id=?1 AND (?2 < 0 OR status=?2) AND "
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
            bf_from_row(st, &b);
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
    je_backfill_change_fn fn;
    void *ctx;
    je_backfill_record *out;
    int result;
} change_arg;

static int cancel_batches(sqlite3 *db, const je_backfill_record *b, int64_t now, je_err *err) {
    sqlite3_stmt *st = je_sqlite_prepare(
        db,
        "UPDATE jobs SET status=4, completed_ms=?3, updated_ms=?3, error='backfill canceled' "
        "WHERE tenant_id=?1 AND backfill_id=?2 AND status=0",
        err);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, b->tenant_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, b->backfill_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, now);
    int rc = sqlite3_step(st);
    je_sqlite_done(st);
    return rc == SQLITE_DONE ? 0 : je_sqlite_fail(err, db, "cancel batches");
}

static int change_op(sqlite3 *db, void *argp, je_err *err) {
    change_arg *a = argp;
    int64_t now = je_sqlite_now_ms();
    int exists = je_sqlite_backfill_load(db, a->tenant, a->id, a->out, err);
    if (exists < 0) return -1;
    json_t *audit = NULL;
    int rc = a->fn(a->ctx, a->out, exists, now, &audit, err);
    if (rc == JE_CHANGE_APPLY) rc = je_sqlite_backfill_save(db, a->out, err) == 0 ? rc : -1;
    if (rc == JE_CHANGE_APPLY && a->out->status == JE_BF_CANCELED)
        rc = cancel_batches(db, a->out, now, err) == 0 ? rc : -1;
    if (rc >= 0 && audit) rc = je_sqlite_audit_append_tx(db, audit, err) == 0 ? rc : -1;
    json_decref(audit);
    if (rc < 0) return -1;
    a->result = rc;
    return 0;
}

int je_sqlite_backfill_change(je_store *s, const char *tenant, const char *backfill_id,
                              je_backfill_change_fn fn, void *ctx, je_backfill_record *out,
                              je_err *err) {
    change_arg a = {tenant, backfill_id, fn, ctx, out, -1};
    if (je_sqlite_write(s, change_op, &a, err) != 0) return -1;
    return a.result;
}

/* ---- engine transitions -------------------------------------------------------------------- */

/* Moves b to a finished state by the engine, with its audit entry (when hooks are set). */
static int finish(sqlite3 *db, je_store *s, je_backfill_record *b, je_backfill_state to,
                  const char *error, int64_t now, je_err *err) {
    je_backfill_record before = *b;
    b->status = to;
    b->completed_ms = now;
    b->version++;
    if (error) snprintf(b->error, sizeof b->error, "%s", error);
    if (je_sqlite_backfill_save(db, b, err) != 0) return -1;
    if (to == JE_BF_CANCELED || !s || !s->hooks || !s->hooks->backfill_audit) return 0;
    json_t *e = s->hooks->backfill_audit(
        &before, b, to == JE_BF_COMPLETED ? "backfill.completed" : "backfill.failed", now);
    int rc = e ? je_sqlite_audit_append_tx(db, e, err) : 0;
    json_decref(e);
    return rc;
}

/* A batch job of b finished: count it, and complete or fail the backfill when that decides it.
 * processed/failed_events: ledger claims that became processed / were given up. */
int je_sqlite_backfill_batch_done(sqlite3 *db, je_store *s, const je_job *j, int succeeded,
                                  int final_failure, int64_t events, int64_t now, je_err *err) {
    je_backfill_record b;
    int found = je_sqlite_backfill_load(db, j->tenant_id, j->backfill_id, &b, err);
    if (found <= 0) return found;
    if (succeeded)
        b.batches_done++, b.events_processed += events;
    else if (final_failure)
        b.events_failed += events;
    if (succeeded && b.status == JE_BF_RUNNING && b.batches_done >= b.plan_batches)
        return finish(db, s, &b, JE_BF_COMPLETED, NULL, now, err);
    if (final_failure && je_backfill_can_move((je_backfill_state)b.status, JE_BF_FAILED)) {
        char msg[160];
        snprintf(msg, sizeof msg, "batch %lld failed its last attempt", (long long)j->batch);
        return finish(db, s, &b, JE_BF_FAILED, msg, now, err);
    }
    return je_sqlite_backfill_save(db, &b, err);
}

/* Inserts batch job number i of b. */
static int submit_batch(sqlite3 *db, const je_backfill_record *b, int64_t i, int64_t now,
                        int64_t max_attempts, je_err *err) {
    je_window w = {b->window_start_ms, b->window_end_ms};
    je_window bw = je_window_batch(w, b->batch_ms, i);
    je_job j;
    memset(&j, 0, sizeof j);
    je_uuid7(now, j.job_id);
    snprintf(j.tenant_id, sizeof j.tenant_id, "%s", b->tenant_id);
    snprintf(j.job_type, sizeof j.job_type, "%s", b->job_type);
    snprintf(j.source_id, sizeof j.source_id, "%s", b->source_id);
    snprintf(j.backfill_id, sizeof j.backfill_id, "%s", b->backfill_id);
    j.status = JE_JOB_PENDING;
    j.lane = JE_LANE_BACKFILL;
    j.batch = i;
    j.window_start_ms = bw.start;
    j.window_end_ms = bw.end;
    j.event_time_ms = JE_NO_TIME;
    j.max_attempts = max_attempts;
    j.available_ms = j.created_ms = j.updated_ms = now;
    j.completed_ms = j.lease_until_ms = j.lease_ms = JE_NO_TIME;
    char ws[JE_TIME_BUF], we[JE_TIME_BUF];
    json_t *p = json_pack("{s:s, s:s, s:s, s:I}", "backfillId", b->backfill_id, "windowStart",
                          je_time_format(bw.start, ws), "windowEnd", je_time_format(bw.end, we),
                          "batch", (json_int_t)i);
    j.payload = p ? je_jcs_dumps(p, NULL) : NULL;
    json_decref(p);
    int rc = j.payload ? je_sqlite_job_save(db, &j, err) : je_err_set(err, "STORE", "payload");
    je_job_free(&j);
    return rc;
}

typedef struct advance_arg {
    je_store *s;
    int64_t now, in_flight, max_attempts, count;
} advance_arg;

static int advance_one(sqlite3 *db, advance_arg *a, je_backfill_record *b, je_err *err) {
    if (b->batches_done >= b->plan_batches)
        return finish(db, a->s, b, JE_BF_COMPLETED, NULL, a->now, err);
    int64_t outstanding = b->batches_submitted - b->batches_done;
    int64_t before = b->batches_submitted;
    while (b->batches_submitted < b->plan_batches && outstanding < a->in_flight) {
        if (submit_batch(db, b, b->batches_submitted, a->now, a->max_attempts, err) != 0) return -1;
        b->batches_submitted++;
        outstanding++;
    }
    a->count += b->batches_submitted - before;
    return b->batches_submitted == before ? 0 : je_sqlite_backfill_save(db, b, err);
}

static int advance_op(sqlite3 *db, void *argp, je_err *err) {
    advance_arg *a = argp;
    sqlite3_stmt *st = je_sqlite_prepare(
        db, "SELECT " BF_COLS " FROM backfills WHERE status=1 ORDER BY created_ms LIMIT 1000", err);
    if (!st) return -1;
    size_t n = 0, cap = 16;
    je_backfill_record *list = malloc(cap * sizeof *list);
    while (list && sqlite3_step(st) == SQLITE_ROW) {
        if (n == cap) {
            je_backfill_record *nl = realloc(list, (cap *= 2) * sizeof *list);
            if (!nl) break;
            list = nl;
        }
        bf_from_row(st, &list[n++]);
    }
    je_sqlite_done(st);
    int rc = list ? 0 : je_err_set(err, "STORE", "out of memory");
    for (size_t i = 0; rc == 0 && i < n; i++) rc = advance_one(db, a, &list[i], err);
    free(list);
    return rc;
}

int64_t je_sqlite_backfills_advance(je_store *s, int64_t now_ms, int64_t in_flight,
                                    int64_t max_attempts, je_err *err) {
    advance_arg a = {s, now_ms, in_flight, max_attempts, 0};
    return je_sqlite_write(s, advance_op, &a, err) == 0 ? a.count : -1;
}
