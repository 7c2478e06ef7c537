/* store/postgres_backfill.c: the PostgreSQL backend's backfill operations: the facts of the
 * safety checks, create (checks and insert in one transaction), reads, state changes and the
 * engine's batch submission. What a backfill does is core's (core/backfill.h): the store reads
 * facts and rows, runs the callbacks and core's steps, and saves what they return.
 *
 * Several nodes share the database: two overlapping creates serialise on their (tenant, source,
 * job type) row of backfill_keys, locked before the facts are read, so exactly one passes
 * no_overlap; the engine's advance, run by every node at once, takes each running backfill with
 * FOR UPDATE SKIP LOCKED, and a batch is one job ever (the unique index jobs_batch; its insert
 * does nothing on a conflict and only inserted jobs count). */
#include "store/postgres_ops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(JE_JOB_PENDING == 0 && JE_BF_RUNNING == 1,
               "the SQL below and the partial indexes name these values");

/* ---- facts --------------------------------------------------------------------------------- */

typedef struct facts_q {
    const char *tenant, *source, *job_type;
    int64_t start, end, suppression, now;
} facts_q;

/* The quota of the job type, else the tenant's "*": whether it exists and is paused. A plain
 * read: the facts need no lock on the quota. */
static int quota_facts(je_pg_tx *tx, const facts_q *q, je_backfill_store_facts *f, je_err *err) {
    je_pg_params p = {0};
    je_pg_text(&p, q->tenant);
    je_pg_text(&p, q->job_type);
    PGresult *r = je_pg_exec(tx,
                             "SELECT paused FROM quotas WHERE tenant_id=$1 AND job_type IN ($2, "
                             "'*') ORDER BY job_type = '*' LIMIT 1",
                             &p, err);
    if (!r) return -1;
    f->quota_exists = PQntuples(r) > 0;
    f->quota_paused = f->quota_exists && je_pg_get_int(r, 0, 0) != 0;
    PQclear(r);
    return 0;
}

/* The first backfill_id sql finds ("" when none) for the query's key ($1-$3) and window ($4, $5).
 * $6 is now - suppression: only the repeat query uses it; the overlap query names it in a
 * condition always true, as every parameter of a statement needs a type. */
static int first_id(je_pg_tx *tx, const char *sql, const facts_q *q, char out[37], je_err *err) {
    je_pg_params p = {0};
    je_pg_text(&p, q->tenant);
    je_pg_text(&p, q->source);
    je_pg_text(&p, q->job_type);
    je_pg_int(&p, q->start);
    je_pg_int(&p, q->end);
    je_pg_int(&p, q->now - q->suppression);
    PGresult *r = je_pg_exec(tx, sql, &p, err);
    if (!r) return -1;
    out[0] = '\0';
    if (PQntuples(r) > 0) je_pg_get_text(r, 0, 0, out, 37);
    PQclear(r);
    return 0;
}

static int ledger_counts(je_pg_tx *tx, const facts_q *q, je_backfill_store_facts *f, je_err *err) {
    je_pg_params p = {0};
    je_pg_text(&p, q->tenant);
    je_pg_text(&p, q->source);
    je_pg_int(&p, q->start);
    je_pg_int(&p, q->end);
    PGresult *r = je_pg_exec(tx,
                             "SELECT count(*), coalesce(sum(processed), 0) FROM ledger WHERE "
                             "tenant_id=$1 AND source_id=$2 AND event_time_ms >= $3 AND "
                             "event_time_ms < $4",
                             &p, err);
    if (!r) return -1;
    f->known_events = je_pg_get_int(r, 0, 0);
    f->already_processed = je_pg_get_int(r, 0, 1);
    PQclear(r);
    return 0;
}

static int facts_tx(je_pg_tx *tx, const facts_q *q, je_backfill_store_facts *f, je_err *err) {
    memset(f, 0, sizeof *f);
    if (quota_facts(tx, q, f, err) != 0 ||
        first_id(tx,
                 "SELECT backfill_id FROM backfills WHERE tenant_id=$1 AND source_id=$2 AND "
                 "job_type=$3 AND status IN (0,1,2) AND window_start_ms < $5::bigint AND "
                 "$4::bigint < window_end_ms AND $6::bigint IS NOT NULL "
                 "ORDER BY created_ms, backfill_id LIMIT 1",
                 q, f->overlapping_id, err) != 0 ||
        first_id(tx,
                 "SELECT backfill_id FROM backfills WHERE tenant_id=$1 AND source_id=$2 AND "
                 "job_type=$3 AND status=3 AND window_start_ms=$4::bigint AND "
                 "window_end_ms=$5::bigint AND completed_ms >= $6::bigint "
                 "ORDER BY completed_ms DESC, backfill_id LIMIT 1",
                 q, f->repeated_id, err) != 0)
        return -1;
    return ledger_counts(tx, q, f, err);
}

typedef struct facts_arg {
    facts_q q;
    je_backfill_store_facts *out;
} facts_arg;

static int facts_op(je_pg_tx *tx, void *argp, je_err *err) {
    facts_arg *a = argp;
    return facts_tx(tx, &a->q, a->out, err);
}

int je_pg_backfill_facts(je_store *s, const char *tenant, const char *source_id,
                         const char *job_type, int64_t start_ms, int64_t end_ms,
                         int64_t suppression_ms, int64_t now_ms, je_backfill_store_facts *out,
                         je_err *err) {
    facts_arg a = {{tenant, source_id, job_type, start_ms, end_ms, suppression_ms, now_ms}, out};
    return je_pg_read(s, facts_op, &a, err) < 0 ? JE_STORE_ERROR : JE_STORE_OK;
}

/* ---- create -------------------------------------------------------------------------------- */

typedef struct create_arg {
    facts_q q;
    je_backfill_create_fn fn;
    void *ctx;
    je_idem *idem;
    je_backfill_record *out;
} create_arg;

/* Locks the (tenant, source, job type) row of backfill_keys, creating it when first seen: every
 * create of that key waits here for the one before it to commit, then reads its backfill. */
static int key_lock(je_pg_tx *tx, const facts_q *q, je_err *err) {
    je_pg_params p = {0};
    je_pg_text(&p, q->tenant);
    je_pg_text(&p, q->source);
    je_pg_text(&p, q->job_type);
    if (je_pg_run(tx,
                  "INSERT INTO backfill_keys(tenant_id, source_id, job_type) VALUES($1,$2,$3) "
                  "ON CONFLICT DO NOTHING",
                  &p, NULL, err) != 0)
        return -1;
    return je_pg_run(tx,
                     "SELECT 1 FROM backfill_keys WHERE tenant_id=$1 AND source_id=$2 AND "
                     "job_type=$3 FOR UPDATE",
                     &p, NULL, err);
}

/* A run before this one (a retried transaction) may have filled the idempotency outputs. */
static void idem_reset(je_idem *idem) {
    if (!idem) return;
    free(idem->body);
    idem->body = NULL;
    idem->replayed = idem->mismatch = idem->status = 0;
}

static int create_op(je_pg_tx *tx, void *argp, je_err *err) {
    create_arg *a = argp;
    idem_reset(a->idem);
    int seen = je_pg_idem_lookup(tx, a->q.tenant, a->idem, a->q.now, err);
    if (seen != 0)
        return seen < 0 ? -1 : a->idem && a->idem->replayed ? JE_CHANGE_APPLY : JE_CHANGE_DENY;
    je_backfill_store_facts f;
    if (key_lock(tx, &a->q, err) != 0 || facts_tx(tx, &a->q, &f, err) != 0) return -1;
    json_t *audit = NULL;
    memset(a->out, 0, sizeof *a->out);
    int rc = a->fn(a->ctx, &f, a->out, a->q.now, &audit, err);
    if (rc == JE_CHANGE_APPLY)
        rc = je_pg_backfill_save(tx, a->out, err) == 0 ? rc : -1;
    else if (rc != JE_CHANGE_DENY)
        rc = -1;
    if (rc >= 0 && audit) rc = je_pg_audit_append_tx(tx, audit, err) == 0 ? rc : -1;
    json_decref(audit);
    if (rc == JE_CHANGE_APPLY && je_pg_idem_store(tx, a->q.tenant, a->idem, a->q.now, err) != 0)
        rc = -1;
    return rc;
}

int je_pg_backfill_create(je_store *s, const char *tenant, const char *source_id,
                          const char *job_type, int64_t start_ms, int64_t end_ms,
                          int64_t suppression_ms, int64_t now_ms, je_backfill_create_fn fn,
                          void *ctx, je_idem *idem, je_backfill_record *out, je_err *err) {
    create_arg a = {{tenant, source_id, job_type, start_ms, end_ms, suppression_ms, now_ms},
                    fn,
                    ctx,
                    idem,
                    out};
    return je_pg_write(s, create_op, &a, err);
}

/* ---- reads --------------------------------------------------------------------------------- */

typedef struct get_arg {
    const char *tenant, *id;
    je_backfill_record *out;
} get_arg;

/* A plain read (no lock: a get never waits for a writer). */
static int get_op(je_pg_tx *tx, void *argp, je_err *err) {
    get_arg *a = argp;
    je_pg_params p = {0};
    je_pg_text(&p, a->tenant);
    je_pg_text(&p, a->id);
    PGresult *r = je_pg_exec(
        tx, "SELECT " JE_PG_BF_COLS " FROM backfills WHERE tenant_id=$1 AND backfill_id=$2", &p,
        err);
    if (!r) return JE_STORE_ERROR;
    int found = PQntuples(r) > 0 ? JE_STORE_OK : JE_STORE_NOT_FOUND;
    if (found == JE_STORE_OK) je_pg_backfill_from_row(r, 0, a->out);
    PQclear(r);
    return found;
}

int je_pg_backfill_get(je_store *s, const char *tenant, const char *backfill_id,
                       je_backfill_record *out, je_err *err) {
    get_arg a = {tenant, backfill_id, out};
    return je_pg_read(s, get_op, &a, err);
}

typedef struct list_arg {
    const char *tenant;
    const je_backfill_filter *f;
    je_backfill_visit_fn fn;
    void *ctx;
} list_arg;

/* Newest first; ids compare as bytes (COLLATE "C"), as SQLite compares them. An empty before_id
 * starts at before_created_ms itself (SQLite's "~", after every id). */
static int list_op(je_pg_tx *tx, void *argp, je_err *err) {
    list_arg *a = argp;
    je_pg_params p = {0};
    je_pg_text(&p, a->tenant);
    je_pg_int(&p, a->f->status);
    je_pg_int(&p, a->f->before_created_ms);
    je_pg_opt_text(&p, a->f->before_id);
    if (a->f->limit < 0)
        je_pg_text(&p, NULL); /* no limit, as SQLite reads a negative one */
    else
        je_pg_int(&p, a->f->limit);
    PGresult *r = je_pg_exec(tx,
                             "SELECT " JE_PG_BF_COLS " FROM backfills WHERE tenant_id=$1 AND "
                             "($2::int < 0 OR status=$2::int) AND (created_ms < $3::bigint OR "
                             "(created_ms = $3::bigint AND ($4::text IS NULL OR "
                             "backfill_id COLLATE \"C\" < $4::text))) ORDER BY created_ms DESC, "
                             "backfill_id COLLATE \"C\" DESC LIMIT $5::bigint",
                             &p, err);
    if (!r) return -1;
    je_backfill_record b;
    for (int i = 0; i < PQntuples(r); i++) {
        je_pg_backfill_from_row(r, i, &b);
        if (a->fn(a->ctx, &b)) break;
    }
    PQclear(r);
    return 0;
}

int je_pg_backfill_list(je_store *s, const char *tenant, const je_backfill_filter *f,
                        je_backfill_visit_fn fn, void *ctx, je_err *err) {
    list_arg a = {tenant, f, fn, ctx};
    return je_pg_read(s, list_op, &a, err) < 0 ? JE_STORE_ERROR : 0;
}

/* ---- state changes ------------------------------------------------------------------------- */

typedef struct change_arg {
    const char *tenant, *id;
    int64_t now;
    je_backfill_change_fn fn;
    void *ctx;
    je_backfill_record *out;
} change_arg;

/* The backfill's batch jobs not yet leased are canceled with it. Under the backfill's lock this
 * takes job rows, against the one order, without a deadlock: the writers that lock a job and
 * then its backfill (complete, claim) hold leased jobs, which this statement neither matches
 * nor waits for. */
static int cancel_batches(je_pg_tx *tx, const je_backfill_record *b, int64_t now, je_err *err) {
    je_pg_params p = {0};
    je_pg_text(&p, b->tenant_id);
    je_pg_text(&p, b->backfill_id);
    je_pg_int(&p, now);
    je_pg_int(&p, JE_JOB_CANCELED);
    je_pg_text(&p, JE_BACKFILL_CANCELED_ERROR);
    return je_pg_run(tx,
                     "UPDATE jobs SET status=$4::int, completed_ms=$3::bigint, "
                     "updated_ms=$3::bigint, error=$5 WHERE tenant_id=$1 AND backfill_id=$2 AND "
                     "status=0",
                     &p, NULL, err);
}

static int change_op(je_pg_tx *tx, void *argp, je_err *err) {
    change_arg *a = argp;
    /* out is not cleared first: the caller's tenant and id may live in it (a load overwrites
     * it; the callback of a missing backfill sees it as the caller left it, as on SQLite) */
    int found = je_pg_backfill_load(tx, a->tenant, a->id, a->out, err);
    if (found < 0) return -1;
    json_t *audit = NULL;
    int rc = a->fn(a->ctx, a->out, found == JE_STORE_OK, a->now, &audit, err);
    if (rc == JE_CHANGE_APPLY)
        rc = je_pg_backfill_save(tx, a->out, err) == 0 ? rc : -1;
    else if (rc != JE_CHANGE_DENY)
        rc = -1;
    if (rc == JE_CHANGE_APPLY && a->out->status == JE_BF_CANCELED)
        rc = cancel_batches(tx, a->out, a->now, err) == 0 ? rc : -1;
    if (rc >= 0 && audit) rc = je_pg_audit_append_tx(tx, audit, err) == 0 ? rc : -1;
    json_decref(audit);
    return rc;
}

int je_pg_backfill_change(je_store *s, const char *tenant, const char *backfill_id, int64_t now_ms,
                          je_backfill_change_fn fn, void *ctx, je_backfill_record *out,
                          je_err *err) {
    change_arg a = {tenant, backfill_id, now_ms, fn, ctx, out};
    return je_pg_write(s, change_op, &a, err);
}

/* ---- the engine's step ---------------------------------------------------------------------- */

typedef struct advance_arg {
    int64_t now, in_flight, max_attempts, count;
} advance_arg;

static int advance_one(je_pg_tx *tx, advance_arg *a, je_backfill_record *b, je_err *err) {
    je_backfill_record before = *b;
    int64_t first = 0, n = 0;
    if (je_backfill_advance(b, a->in_flight, a->now, &first, &n) == JE_BF_COMPLETED)
        return je_pg_backfill_finished(tx, &before, b, a->now, err);
    for (int64_t i = first; i < first + n; i++) {
        char job_id[JE_UUID_BUF];
        je_job j;
        je_uuid7(a->now, job_id);
        if (je_backfill_batch_job(b, i, job_id, a->max_attempts, a->now, &j) != 0)
            return je_job_free(&j), je_err_set(err, "STORE", "out of memory");
        int inserted = je_pg_job_insert(tx, &j, err);
        je_job_free(&j);
        if (inserted < 0) return -1;
        a->count += inserted;
    }
    return n == 0 ? 0 : je_pg_backfill_save(tx, b, err);
}

/* Every node runs this at once: each running backfill is advanced by the node that locked it;
 * the others skip it this round. */
static int advance_op(je_pg_tx *tx, void *argp, je_err *err) {
    advance_arg *a = argp;
    a->count = 0; /* a retried transaction counts afresh */
    /* status=1 (JE_BF_RUNNING) is a literal so the partial index backfills_running applies */
    PGresult *r = je_pg_exec(tx,
                             "SELECT " JE_PG_BF_COLS " FROM backfills WHERE status=1 ORDER BY "
                             "created_ms LIMIT 1000 FOR UPDATE SKIP LOCKED",
                             NULL, err);
    if (!r) return -1;
    int rc = 0;
    je_backfill_record b;
    for (int i = 0; rc == 0 && i < PQntuples(r); i++) {
        je_pg_backfill_from_row(r, i, &b);
        rc = advance_one(tx, a, &b, err);
    }
    PQclear(r);
    return rc;
}

int64_t je_pg_backfills_advance(je_store *s, int64_t now_ms, int64_t in_flight,
                                int64_t max_attempts, je_err *err) {
    advance_arg a = {now_ms, in_flight, max_attempts, 0};
    int rc = je_pg_write(s, advance_op, &a, err);
    return rc < 0 ? rc : a.count;
}
