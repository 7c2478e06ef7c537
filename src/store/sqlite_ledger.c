/* store/sqlite_ledger.c: the event ledger of duplicate suppression (domain.md §4). A claim of a
 * list of events is one write op, atomic as a whole; each event's answer comes from the pure
 * rule je_ledger_decide. A claim belongs to a job and lives as long as that job's lease: it is
 * not stored with an expiry but judged live by the job's lease at the moment it matters. When
 * the job succeeds its claims become "processed"; when it fails they are given up. */
#include "store/sqlite_ops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* 1 when job_id of tenant holds a live lease at now (core: je_job_lease_live). */
static int job_live(sqlite3 *db, const char *tenant, const char *job_id, int64_t now, je_err *err) {
    je_job j;
    int found = je_sqlite_job_lease_load(db, tenant, job_id, &j, err);
    return found < 0 ? -1 : found == JE_STORE_OK && je_job_lease_live(&j, NULL, now);
}

typedef struct claim_arg {
    const char *tenant, *source, *job_id;
    je_claim_event *ev;
    size_t n;
    int64_t now;
    int result;
} claim_arg;

/* The entry of one event: 1 found (fields filled), 0 none, -1 error. */
static int entry_load(sqlite3 *db, claim_arg *a, const char *key, je_ledger_entry *e, char *digest,
                      char *claimer, je_err *err) {
    sqlite3_stmt *st = je_sqlite_prepare(db,
                                         "SELECT processed, processed_digest, claim_job_id FROM "
                                         "ledger WHERE tenant_id=?1 AND source_id=?2 AND "
                                         "event_key=?3",
                                         err);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, a->tenant, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, a->source, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    memset(e, 0, sizeof *e);
    digest[0] = claimer[0] = '\0';
    if (rc == SQLITE_ROW) {
        e->exists = 1;
        e->processed = sqlite3_column_int(st, 0);
        const unsigned char *d = sqlite3_column_text(st, 1), *c = sqlite3_column_text(st, 2);
        if (d) snprintf(digest, 257, "%s", (const char *)d), e->processed_digest = digest;
        if (c) snprintf(claimer, 37, "%s", (const char *)c);
    }
    je_sqlite_done(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return je_sqlite_fail(err, db, "ledger load");
    return rc == SQLITE_ROW;
}

static int entry_claim(sqlite3 *db, claim_arg *a, const je_claim_event *ev, je_err *err) {
    sqlite3_stmt *st = je_sqlite_prepare(
        db,
        "INSERT INTO ledger(tenant_id, source_id, event_key, event_time_ms, processed, "
        "claim_job_id, claim_digest) VALUES(?1,?2,?3,?4,0,?5,?6) ON CONFLICT DO UPDATE SET "
        "event_time_ms=excluded.event_time_ms, claim_job_id=excluded.claim_job_id, "
        "claim_digest=excluded.claim_digest",
        err);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, a->tenant, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, a->source, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, ev->event_key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, ev->event_time_ms);
    sqlite3_bind_text(st, 5, a->job_id, -1, SQLITE_STATIC);
    if (ev->digest) sqlite3_bind_text(st, 6, ev->digest, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    je_sqlite_done(st);
    return rc == SQLITE_DONE ? 0 : je_sqlite_fail(err, db, "ledger claim");
}

static int entry_keep_digest(sqlite3 *db, claim_arg *a, const je_claim_event *ev, je_err *err) {
    sqlite3_stmt *st = je_sqlite_prepare(db,
                                         "UPDATE ledger SET processed_digest=?4 WHERE "
                                         "tenant_id=?1 AND source_id=?2 AND event_key=?3",
                                         err);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, a->tenant, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, a->source, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, ev->event_key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, ev->digest, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    je_sqlite_done(st);
    return rc == SQLITE_DONE ? 0 : je_sqlite_fail(err, db, "ledger digest");
}

static int claim_one(sqlite3 *db, claim_arg *a, je_claim_event *ev, int force, je_err *err) {
    je_ledger_entry e;
    char digest[257], claimer[37];
    if (entry_load(db, a, ev->event_key, &e, digest, claimer, err) < 0) return -1;
    if (claimer[0] && strcmp(claimer, a->job_id) != 0) {
        int live = job_live(db, a->tenant, claimer, a->now, err);
        if (live < 0) return -1;
        e.claimed_by_other_live = live;
    }
    int keep = 0;
    ev->is_new = je_ledger_decide(&e, ev->digest, force, &keep) == JE_CLAIM_NEW;
    if (ev->is_new) return entry_claim(db, a, ev, err);
    return keep ? entry_keep_digest(db, a, ev, err) : 0;
}

static int claim_op(sqlite3 *db, void *argp, je_err *err) {
    claim_arg *a = argp;
    je_job j;
    a->result = je_sqlite_job_load(db, a->tenant, a->job_id, &j, err);
    if (a->result != JE_STORE_OK) return a->result == JE_STORE_NOT_FOUND ? 0 : -1;
    int live = je_job_lease_live(&j, NULL, a->now);
    je_backfill_record b;
    int bf = live && j.backfill_id[0]
                 ? je_sqlite_backfill_load(db, a->tenant, j.backfill_id, &b, err)
                 : JE_STORE_NOT_FOUND;
    je_job_free(&j);
    if (!live) return a->result = JE_STORE_LEASE_LOST, 0;
    if (bf < 0) return -1;
    int has_bf = bf == JE_STORE_OK;
    int force = has_bf && b.force_reprocess;
    int64_t dups = 0;
    for (size_t i = 0; i < a->n; i++) {
        if (claim_one(db, a, &a->ev[i], force, err) != 0) return -1;
        dups += !a->ev[i].is_new;
    }
    if (has_bf && dups) {
        je_backfill_note_duplicates(&b, dups);
        if (je_sqlite_backfill_save(db, &b, err) != 0) return -1;
    }
    a->result = JE_STORE_OK;
    return 0;
}

int je_sqlite_ledger_claim(je_store *s, const char *tenant, const char *source_id,
                           const char *job_id, je_claim_event *events, size_t n, int64_t now_ms,
                           je_err *err) {
    claim_arg a = {tenant, source_id, job_id, events, n, now_ms, JE_STORE_ERROR};
    if (je_sqlite_write(s, claim_op, &a, err) != 0) return JE_STORE_ERROR;
    return a.result;
}

typedef struct prune_arg {
    int64_t before, count;
} prune_arg;

static int prune_op(sqlite3 *db, void *argp, je_err *err) {
    prune_arg *a = argp;
    sqlite3_stmt *st = je_sqlite_prepare(db,
                                         "DELETE FROM ledger WHERE event_time_ms < ?1 AND "
                                         "processed=1 AND claim_job_id IS NULL",
                                         err);
    if (!st) return -1;
    sqlite3_bind_int64(st, 1, a->before);
    int rc = sqlite3_step(st);
    je_sqlite_done(st);
    if (rc != SQLITE_DONE) return je_sqlite_fail(err, db, "ledger prune");
    a->count = sqlite3_changes(db);
    return 0;
}

int64_t je_sqlite_ledger_prune(je_store *s, int64_t before_ms, je_err *err) {
    prune_arg a = {before_ms, 0};
    return je_sqlite_write(s, prune_op, &a, err) == 0 ? a.count : JE_STORE_ERROR;
}
