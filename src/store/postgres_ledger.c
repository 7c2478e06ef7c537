/* store/postgres_ledger.c: the event ledger of duplicate suppression (domain.md §4) on
 * PostgreSQL, the twin of sqlite_ledger.c. A claim of a list of events is one transaction,
 * atomic as a whole; each event's answer comes from the pure rule je_ledger_decide. A claim
 * belongs to a job and lives as long as that job's lease: it is judged live by the job's lease
 * at the moment it matters. When the job succeeds its claims become "processed"; when it fails
 * they are given up (je_pg_ledger_settle, postgres_rows_backfill.c).
 *
 * Locks, for several nodes at once: the claiming job's row first (a complete of that job waits,
 * so no claim outlives its job), then the ledger rows in event_key order (two claims never
 * deadlock), then the backfill row that counts the duplicates, the order a job's complete takes
 * too. A new entry is an INSERT ... ON CONFLICT DO NOTHING RETURNING; an existing one is locked
 * (FOR UPDATE) and decided on. */
#include "store/postgres_ops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* 1 when job_id of tenant holds a live lease at now (core: je_job_lease_live). */
static int job_live(je_pg_tx *tx, const char *tenant, const char *job_id, int64_t now,
                    je_err *err) {
    je_job j;
    int found = je_pg_job_lease_load(tx, tenant, job_id, &j, err);
    if (found < 0) return -1;
    int live = found == JE_STORE_OK && je_job_lease_live(&j, NULL, now);
    if (found == JE_STORE_OK) je_job_free(&j);
    return live;
}

typedef struct claim_arg {
    const char *tenant, *source, *job_id;
    je_claim_event *ev;
    size_t n;
    int64_t now;
} claim_arg;

/* A new entry claimed for the job: 1 inserted, 0 the entry exists, -1 error. */
static int entry_insert(je_pg_tx *tx, const claim_arg *a, const je_claim_event *ev, je_err *err) {
    je_pg_params p = {0};
    je_pg_text(&p, a->tenant);
    je_pg_text(&p, a->source);
    je_pg_text(&p, ev->event_key);
    je_pg_int(&p, ev->event_time_ms);
    je_pg_text(&p, a->job_id);
    je_pg_text(&p, ev->digest);
    PGresult *r = je_pg_exec(tx,
                             "INSERT INTO ledger(tenant_id, source_id, event_key, event_time_ms, "
                             "processed, claim_job_id, claim_digest) VALUES($1,$2,$3,$4,0,$5,$6) "
                             "ON CONFLICT DO NOTHING RETURNING 1",
                             &p, err);
    if (!r) return -1;
    int inserted = PQntuples(r) > 0;
    PQclear(r);
    return inserted;
}

/* The entry of one event, locked: 1 found (fields filled), 0 none, -1 error. */
static int entry_lock(je_pg_tx *tx, const claim_arg *a, const char *key, je_ledger_entry *e,
                      char digest[257], char claimer[37], je_err *err) {
    je_pg_params p = {0};
    je_pg_text(&p, a->tenant);
    je_pg_text(&p, a->source);
    je_pg_text(&p, key);
    PGresult *r = je_pg_exec(tx,
                             "SELECT processed, processed_digest, claim_job_id FROM ledger WHERE "
                             "tenant_id=$1 AND source_id=$2 AND event_key=$3 FOR UPDATE",
                             &p, err);
    if (!r) return -1;
    memset(e, 0, sizeof *e);
    digest[0] = claimer[0] = '\0';
    int found = PQntuples(r) > 0;
    if (found) {
        e->exists = 1;
        e->processed = je_pg_get_int(r, 0, 0) != 0;
        if (!PQgetisnull(r, 0, 1))
            je_pg_get_text(r, 0, 1, digest, 257), e->processed_digest = digest;
        je_pg_get_text(r, 0, 2, claimer, 37);
    }
    PQclear(r);
    return found;
}

static int entry_claim(je_pg_tx *tx, const claim_arg *a, const je_claim_event *ev, je_err *err) {
    je_pg_params p = {0};
    je_pg_text(&p, a->tenant);
    je_pg_text(&p, a->source);
    je_pg_text(&p, ev->event_key);
    je_pg_int(&p, ev->event_time_ms);
    je_pg_text(&p, a->job_id);
    je_pg_text(&p, ev->digest);
    return je_pg_run(tx,
                     "UPDATE ledger SET event_time_ms=$4, claim_job_id=$5, claim_digest=$6 WHERE "
                     "tenant_id=$1 AND source_id=$2 AND event_key=$3",
                     &p, NULL, err);
}

static int entry_keep_digest(je_pg_tx *tx, const claim_arg *a, const je_claim_event *ev,
                             je_err *err) {
    je_pg_params p = {0};
    je_pg_text(&p, a->tenant);
    je_pg_text(&p, a->source);
    je_pg_text(&p, ev->event_key);
    je_pg_text(&p, ev->digest);
    return je_pg_run(tx,
                     "UPDATE ledger SET processed_digest=$4 WHERE tenant_id=$1 AND source_id=$2 "
                     "AND event_key=$3",
                     &p, NULL, err);
}

/* An existing entry (locked): 1 decided, 0 it vanished meanwhile (pruned), -1 error. */
static int claim_existing(je_pg_tx *tx, const claim_arg *a, je_claim_event *ev, int force,
                          je_err *err) {
    je_ledger_entry e;
    char digest[257], claimer[37];
    int found = entry_lock(tx, a, ev->event_key, &e, digest, claimer, err);
    if (found <= 0) return found;
    if (claimer[0] && strcmp(claimer, a->job_id) != 0) {
        int live = job_live(tx, a->tenant, claimer, a->now, err);
        if (live < 0) return -1;
        e.claimed_by_other_live = live;
    }
    int keep = 0;
    ev->is_new = je_ledger_decide(&e, ev->digest, force, &keep) == JE_CLAIM_NEW;
    int rc = 0;
    if (ev->is_new)
        rc = entry_claim(tx, a, ev, err);
    else if (keep)
        rc = entry_keep_digest(tx, a, ev, err);
    return rc == 0 ? 1 : -1;
}

static int claim_one(je_pg_tx *tx, const claim_arg *a, je_claim_event *ev, int force, je_err *err) {
    /* an entry pruned between the insert's conflict and the lock is absent again: once more */
    for (int attempt = 0; attempt < 3; attempt++) {
        je_ledger_entry none = {0};
        int keep = 0;
        if (je_ledger_decide(&none, ev->digest, force, &keep) == JE_CLAIM_NEW) {
            int inserted = entry_insert(tx, a, ev, err);
            if (inserted != 0) return inserted < 0 ? -1 : (ev->is_new = 1, 0);
        }
        int decided = claim_existing(tx, a, ev, force, err);
        if (decided != 0) return decided < 0 ? -1 : 0;
    }
    return je_err_set(err, "STORE", "the ledger entry of an event kept vanishing");
}

/* The claiming job's backfill: 1 (*force set), 0 none, -1 error. force_reprocess never changes
 * after create: a plain read. */
static int backfill_force(je_pg_tx *tx, const char *tenant, const char *backfill_id, int *force,
                          je_err *err) {
    je_pg_params p = {0};
    je_pg_text(&p, tenant);
    je_pg_text(&p, backfill_id);
    PGresult *r = je_pg_exec(
        tx, "SELECT force_reprocess FROM backfills WHERE tenant_id=$1 AND backfill_id=$2", &p, err);
    if (!r) return -1;
    int found = PQntuples(r) > 0;
    *force = found && je_pg_get_int(r, 0, 0) != 0;
    PQclear(r);
    return found;
}

/* Duplicates suppressed for one of the backfill's batch jobs count on it. */
static int note_duplicates(je_pg_tx *tx, const char *tenant, const char *backfill_id, int64_t dups,
                           je_err *err) {
    je_backfill_record b;
    int found = je_pg_backfill_load(tx, tenant, backfill_id, &b, err);
    if (found != JE_STORE_OK) return found == JE_STORE_NOT_FOUND ? 0 : -1;
    je_backfill_note_duplicates(&b, dups);
    return je_pg_backfill_save(tx, &b, err);
}

/* Events in event_key order (then as given): the order every claim locks ledger rows in. qsort
 * has no context argument: the comparison reads the events of its own thread. */
static _Thread_local const je_claim_event *sort_events;

static int by_key(const void *x, const void *y) {
    size_t i = *(const size_t *)x, k = *(const size_t *)y;
    int c = strcmp(sort_events[i].event_key, sort_events[k].event_key);
    return c ? c : (i > k) - (i < k);
}

static int claim_op(je_pg_tx *tx, void *argp, je_err *err) {
    claim_arg *a = argp;
    for (size_t i = 0; i < a->n; i++) a->ev[i].is_new = 0; /* a retried run answers afresh */
    je_job j;
    int found = je_pg_job_load(tx, a->tenant, a->job_id, &j, err);
    if (found != JE_STORE_OK) return found == JE_STORE_NOT_FOUND ? JE_STORE_NOT_FOUND : -1;
    int live = je_job_lease_live(&j, NULL, a->now);
    char backfill_id[JE_UUID_BUF];
    snprintf(backfill_id, sizeof backfill_id, "%s", j.backfill_id);
    je_job_free(&j);
    if (!live) return JE_STORE_LEASE_LOST;
    int force = 0,
        has_bf = backfill_id[0] ? backfill_force(tx, a->tenant, backfill_id, &force, err) : 0;
    if (has_bf < 0) return -1;
    size_t *order = malloc((a->n ? a->n : 1) * sizeof *order);
    if (!order) return je_err_set(err, "STORE", "out of memory");
    for (size_t i = 0; i < a->n; i++) order[i] = i;
    sort_events = a->ev;
    qsort(order, a->n, sizeof *order, by_key);
    int64_t dups = 0;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < a->n; i++) {
        je_claim_event *ev = &a->ev[order[i]];
        rc = claim_one(tx, a, ev, force, err);
        dups += !ev->is_new;
    }
    free(order);
    if (rc != 0) return -1;
    if (has_bf && dups && note_duplicates(tx, a->tenant, backfill_id, dups, err) != 0) return -1;
    return JE_STORE_OK;
}

int je_pg_ledger_claim(je_store *s, const char *tenant, const char *source_id, const char *job_id,
                       je_claim_event *events, size_t n, int64_t now_ms, je_err *err) {
    claim_arg a = {tenant, source_id, job_id, events, n, now_ms};
    return je_pg_write(s, claim_op, &a, err);
}

/* Every node prunes at once: rows another transaction holds (a claim deciding on them, another
 * prune) are skipped, and a row is deleted, and counted, once. */
typedef struct prune_arg {
    int64_t before, count;
} prune_arg;

static int prune_op(je_pg_tx *tx, void *argp, je_err *err) {
    prune_arg *a = argp;
    a->count = 0;
    je_pg_params p = {0};
    je_pg_int(&p, a->before);
    return je_pg_run(tx,
                     "DELETE FROM ledger WHERE (tenant_id, source_id, event_key) IN (SELECT "
                     "tenant_id, source_id, event_key FROM ledger WHERE event_time_ms < $1::bigint "
                     "AND processed=1 AND claim_job_id IS NULL FOR UPDATE SKIP LOCKED)",
                     &p, &a->count, err);
}

int64_t je_pg_ledger_prune(je_store *s, int64_t before_ms, je_err *err) {
    prune_arg a = {before_ms, 0};
    int rc = je_pg_write(s, prune_op, &a, err);
    return rc < 0 ? rc : a.count;
}
