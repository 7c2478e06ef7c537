/* store/sqlite_ledger.c: the event ledger of duplicate suppression (domain.md §4). A claim of a
 * list of events is one write op, atomic as a whole; each event's answer comes from the pure
 * rule je_ledger_decide. A claim belongs to a job and lives as long as that job's lease: it is
 * not stored with an expiry but judged live by the job's lease at the moment it matters. When
 * the job succeeds its claims become "processed"; when it fails they are given up
 * (je_sqlite_ledger_settle, sqlite_rows_job.c).
 *
 * The tables (migrations/007_ledger_split.sql): the settled entries (ledger) and the unsettled
 * claims (ledger_claims) apart, both keyed (source id, event_key). An event with neither row is
 * new, so the first statement tried for an event is one INSERT into ledger_claims guarded by
 * NOT EXISTS on ledger: a new event costs that statement alone, the floor of any ledger. When it
 * inserts nothing, the entry is read and decided. Within a call, after an event that was not
 * new the order flips (read first) until an event is new again: a backfill re-reading a window
 * meets runs of duplicates, live traffic runs of new events. */
#include "store/sqlite_ops.h"

#include "core/buf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct claim_arg {
    const char *tenant, *source, *job_id;
    je_claim_event *ev;
    size_t n;
    int64_t now;
    int result;
    int64_t src;                /* ledger_sources.id */
    sqlite3_stmt *put, *keep;   /* prepared once per call (NULL until first needed) */
    char live_job[JE_UUID_BUF]; /* the last other claimer looked up, and whether it was live */
    int live_was;
} claim_arg;

/* What the probe found of one event: nothing (0), or its entry as of the call's start. */
typedef struct probed {
    char has, processed, claimed, repeat; /* repeat: its key came earlier in the call */
    char *digest, *claimer;               /* malloc'd, NULL when none */
} probed;

/* 1 when job_id of tenant holds a live lease at now (core: je_job_lease_live); the answer for
 * the last job asked is kept for the rest of the call. */
static int job_live(sqlite3 *db, claim_arg *a, const char *job_id, je_err *err) {
    if (strcmp(a->live_job, job_id) == 0) return a->live_was;
    je_job j;
    int found = je_sqlite_job_lease_load(db, a->tenant, job_id, &j, err);
    if (found < 0) return -1;
    snprintf(a->live_job, sizeof a->live_job, "%s", job_id);
    return a->live_was = found == JE_STORE_OK && je_job_lease_live(&j, NULL, a->now);
}

static sqlite3_stmt *stmt(sqlite3 *db, sqlite3_stmt **slot, const char *sql, je_err *err) {
    if (!*slot)
        *slot = je_sqlite_prepare(db, sql, err);
    else
        sqlite3_reset(*slot);
    return *slot;
}

/* ---- the probe: which events have an entry, one statement for the whole call ---- */

/* The keys as a JSON array of strings (json_each reads it back). */
static void keys_json(const claim_arg *a, je_buf *b) {
    je_buf_putc(b, '[');
    for (size_t i = 0; i < a->n; i++) {
        je_buf_puts(b, i ? ",\"" : "\"");
        for (const unsigned char *c = (const unsigned char *)a->ev[i].event_key; *c; c++) {
            if (*c == '"' || *c == '\\') je_buf_putc(b, '\\');
            if (*c < 0x20)
                je_buf_printf(b, "\\u%04x", *c);
            else
                je_buf_putc(b, (char)*c);
        }
        je_buf_putc(b, '"');
    }
    je_buf_putc(b, ']');
}

/* Marks the events whose key came earlier in the call (an open-addressing set of indexes). */
static int mark_repeats(const claim_arg *a, probed *f) {
    size_t cap = 16;
    while (cap < 2 * a->n) cap *= 2;
    size_t *slot = calloc(cap, sizeof *slot); /* index + 1, 0 empty */
    if (!slot) return -1;
    for (size_t i = 0; i < a->n; i++) {
        uint64_t h = 1469598103934665603ULL;
        for (const unsigned char *c = (const unsigned char *)a->ev[i].event_key; *c; c++)
            h = (h ^ *c) * 1099511628211ULL;
        for (size_t k = h & (cap - 1);; k = (k + 1) & (cap - 1)) {
            if (!slot[k]) {
                slot[k] = i + 1;
                break;
            }
            if (strcmp(a->ev[slot[k] - 1].event_key, a->ev[i].event_key) == 0) {
                f[i].repeat = 1;
                break;
            }
        }
    }
    free(slot);
    return 0;
}

static char *dup_col(sqlite3_stmt *st, int i) {
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? strdup((const char *)t) : NULL;
}

/* The entries (ledger row, claims row) of the events that have one, into f. */
static int probe(sqlite3 *db, const claim_arg *a, probed *f, je_err *err) {
    je_buf b = JE_BUF_INIT;
    keys_json(a, &b);
    sqlite3_stmt *st = je_sqlite_prepare(
        db,
        "SELECT j.key, l.processed, l.processed_digest, c.job_id FROM json_each(?2) j LEFT JOIN "
        "ledger l ON l.source=?1 AND l.event_key=j.value LEFT JOIN ledger_claims c ON "
        "c.source=?1 AND c.event_key=j.value WHERE l.source IS NOT NULL OR c.source IS NOT NULL",
        err);
    int rc = -1;
    if (st) {
        sqlite3_bind_int64(st, 1, a->src);
        sqlite3_bind_text(st, 2, b.data, (int)b.len, SQLITE_STATIC);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            int64_t i = sqlite3_column_int64(st, 0);
            if (i < 0 || (size_t)i >= a->n || f[i].has) continue;
            f[i].has = 1;
            f[i].processed = sqlite3_column_type(st, 1) != SQLITE_NULL && sqlite3_column_int(st, 1);
            f[i].digest = dup_col(st, 2);
            f[i].claimer = dup_col(st, 3);
            f[i].claimed = f[i].claimer != NULL;
        }
        rc = rc == SQLITE_DONE ? 0 : je_sqlite_fail(err, db, "ledger probe");
        je_sqlite_done(st);
    }
    je_buf_free(&b);
    return rc;
}

/* ---- deciding and writing each event ---- */

/* An event's entry read now (after the earlier events of the call were written). */
static int entry_load(sqlite3 *db, const claim_arg *a, const char *key, probed *f, je_err *err) {
    sqlite3_stmt *st = je_sqlite_prepare(
        db,
        "SELECT l.processed, l.processed_digest, c.job_id FROM (SELECT ?1 AS s, ?2 AS k) q LEFT "
        "JOIN ledger l ON l.source=q.s AND l.event_key=q.k LEFT JOIN ledger_claims c ON "
        "c.source=q.s AND c.event_key=q.k",
        err);
    if (!st) return -1;
    sqlite3_bind_int64(st, 1, a->src);
    sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        int settled = sqlite3_column_type(st, 0) != SQLITE_NULL;
        f->processed = settled && sqlite3_column_int(st, 0);
        f->digest = dup_col(st, 1);
        f->claimer = dup_col(st, 2);
        f->claimed = f->claimer != NULL;
        f->has = settled || f->claimed;
    }
    je_sqlite_done(st);
    return rc == SQLITE_ROW ? 0 : je_sqlite_fail(err, db, "ledger load");
}

/* The event claimed for the job, whatever claim it had: the one statement of a new event. */
static int entry_claim(sqlite3 *db, claim_arg *a, const je_claim_event *ev, je_err *err) {
    sqlite3_stmt *st = stmt(db, &a->put,
                            "INSERT INTO ledger_claims(source, event_key, job_id, event_time_ms, "
                            "digest) VALUES(?1,?2,?3,?4,?5) ON CONFLICT DO UPDATE SET "
                            "job_id=excluded.job_id, event_time_ms=excluded.event_time_ms, "
                            "digest=excluded.digest",
                            err);
    if (!st) return -1;
    sqlite3_bind_int64(st, 1, a->src);
    sqlite3_bind_text(st, 2, ev->event_key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, a->job_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, ev->event_time_ms);
    if (ev->digest)
        sqlite3_bind_text(st, 5, ev->digest, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 5);
    return sqlite3_step(st) == SQLITE_DONE ? 0 : je_sqlite_fail(err, db, "ledger claim");
}

static int entry_keep_digest(sqlite3 *db, claim_arg *a, const je_claim_event *ev, je_err *err) {
    sqlite3_stmt *st =
        stmt(db, &a->keep, "UPDATE ledger SET processed_digest=?3 WHERE source=?1 AND event_key=?2",
             err);
    if (!st) return -1;
    sqlite3_bind_int64(st, 1, a->src);
    sqlite3_bind_text(st, 2, ev->event_key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, ev->digest, -1, SQLITE_STATIC);
    return sqlite3_step(st) == SQLITE_DONE ? 0 : je_sqlite_fail(err, db, "ledger digest");
}

static void probed_free(probed *f) {
    free(f->digest), free(f->claimer);
    memset(f, 0, sizeof *f);
}

/* One event answered from its entry f (read afresh when its key came earlier in the call). */
static int claim_one(sqlite3 *db, claim_arg *a, je_claim_event *ev, probed *f, int force,
                     je_err *err) {
    if (f->repeat) {
        probed_free(f);
        if (entry_load(db, a, ev->event_key, f, err) != 0) return -1;
    }
    je_ledger_entry e = {
        .exists = f->has, .processed = f->processed, .processed_digest = f->digest};
    if (f->claimed && strcmp(f->claimer, a->job_id) != 0) {
        int live = job_live(db, a, f->claimer, err);
        if (live < 0) return -1;
        e.claimed_by_other_live = live;
    }
    int keep = 0;
    ev->is_new = je_ledger_decide(&e, ev->digest, force, &keep) == JE_CLAIM_NEW;
    if (ev->is_new) return entry_claim(db, a, ev, err);
    return keep ? entry_keep_digest(db, a, ev, err) : 0;
}

static int claim_events(sqlite3 *db, claim_arg *a, int force, int64_t *dups, je_err *err) {
    a->src = je_sqlite_ledger_source(db, a->tenant, a->source, 1, err);
    if (a->src < 0) return -1;
    probed *f = calloc(a->n ? a->n : 1, sizeof *f);
    if (!f || mark_repeats(a, f) != 0) return free(f), je_err_set(err, "STORE", "out of memory");
    int rc = probe(db, a, f, err);
    for (size_t i = 0; rc == 0 && i < a->n; i++) {
        rc = claim_one(db, a, &a->ev[i], &f[i], force, err);
        *dups += !a->ev[i].is_new;
    }
    for (size_t i = 0; i < a->n; i++) probed_free(&f[i]);
    free(f);
    je_sqlite_done(a->put), je_sqlite_done(a->keep);
    a->put = a->keep = NULL;
    return rc;
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
    int64_t dups = 0;
    for (size_t i = 0; i < a->n; i++) a->ev[i].is_new = 0;
    if (claim_events(db, a, has_bf && b.force_reprocess, &dups, err) != 0) return -1;
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
    claim_arg a = {.tenant = tenant,
                   .source = source_id,
                   .job_id = job_id,
                   .ev = events,
                   .n = n,
                   .now = now_ms,
                   .result = JE_STORE_ERROR};
    if (je_sqlite_write(s, claim_op, &a, err) != 0) return JE_STORE_ERROR;
    return a.result;
}

/* ---- the prune: each source's entries older than the time, walked by ledger_time ---- */

typedef struct prune_arg {
    int64_t before, count;
} prune_arg;

static int prune_source(sqlite3 *db, prune_arg *a, int64_t src, je_err *err) {
    sqlite3_stmt *st = je_sqlite_prepare(
        db,
        "DELETE FROM ledger WHERE source=?1 AND event_time_ms < ?2 AND processed=1 AND NOT "
        "EXISTS (SELECT 1 FROM ledger_claims c WHERE c.source=?1 AND c.event_key=ledger.event_key)",
        err);
    if (!st) return -1;
    sqlite3_bind_int64(st, 1, src);
    sqlite3_bind_int64(st, 2, a->before);
    int rc = sqlite3_step(st);
    je_sqlite_done(st);
    if (rc != SQLITE_DONE) return je_sqlite_fail(err, db, "ledger prune");
    a->count += sqlite3_changes(db);
    return 0;
}

static int prune_op(sqlite3 *db, void *argp, je_err *err) {
    prune_arg *a = argp;
    a->count = 0;
    sqlite3_stmt *st = je_sqlite_prepare(db, "SELECT id FROM ledger_sources ORDER BY id", err);
    if (!st) return -1;
    int64_t *ids = NULL;
    size_t n = 0, cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == cap) {
            int64_t *more = realloc(ids, (cap = cap ? cap * 2 : 16) * sizeof *ids);
            if (!more) break;
            ids = more;
        }
        ids[n++] = sqlite3_column_int64(st, 0);
    }
    je_sqlite_done(st);
    int out = rc == SQLITE_DONE  ? 0
              : rc == SQLITE_ROW ? je_err_set(err, "STORE", "out of memory")
                                 : je_sqlite_fail(err, db, "ledger sources");
    for (size_t i = 0; out == 0 && i < n; i++) out = prune_source(db, a, ids[i], err);
    free(ids);
    return out;
}

int64_t je_sqlite_ledger_prune(je_store *s, int64_t before_ms, je_err *err) {
    prune_arg a = {before_ms, 0};
    return je_sqlite_write(s, prune_op, &a, err) == 0 ? a.count : JE_STORE_ERROR;
}
