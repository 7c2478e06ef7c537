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

typedef struct claim_arg {
    const char *tenant, *source, *job_id;
    je_claim_event *ev;
    size_t n;
    int64_t now;
    size_t *order; /* indexes of ev in event_key order */
} claim_arg;

/* ---- arrays: a claim is a few statements over arrays, whatever its size (10,000 events) ---- */

typedef struct arr {
    char *s;
    size_t len, cap;
    int n;
} arr;

static int arr_put(arr *a, const char *src, size_t n) {
    if (a->len + n + 2 > a->cap) {
        size_t cap = (a->cap ? a->cap * 2 : 256) + n;
        char *ns = realloc(a->s, cap);
        if (!ns) return -1;
        a->s = ns;
        a->cap = cap;
    }
    memcpy(a->s + a->len, src, n);
    a->len += n;
    a->s[a->len] = 0;
    return 0;
}

/* Appends one element to a PostgreSQL array literal: NULL, or the text quoted. */
static int arr_add(arr *a, const char *v) {
    if (arr_put(a, a->n++ ? "," : "{", 1) != 0) return -1;
    if (!v) return arr_put(a, "NULL", 4);
    if (arr_put(a, "\"", 1) != 0) return -1;
    for (const char *c = v; *c; c++)
        if ((*c == '"' || *c == '\\') && arr_put(a, "\\", 1) != 0)
            return -1;
        else if (arr_put(a, c, 1) != 0)
            return -1;
    return arr_put(a, "\"", 1);
}

static int arr_add_int(arr *a, int64_t v) {
    char num[32];
    snprintf(num, sizeof num, "%lld", (long long)v);
    return arr_add(a, num);
}

/* The literal ("{}" when empty), or NULL when memory ran out. */
static const char *arr_end(arr *a) {
    if ((a->n ? arr_put(a, "}", 1) : arr_put(a, "{}", 2)) != 0) return NULL;
    return a->s;
}

/* Binary search of key among the events in key order: its index in ev, or -1. */
static long find_event(const claim_arg *a, const char *key) {
    size_t lo = 0, hi = a->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(a->ev[a->order[mid]].event_key, key);
        if (c == 0) return (long)a->order[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

/* The source is listed in ledger_sources (the prune walks them) once it has an entry. */
static int source_known(je_pg_tx *tx, const claim_arg *a, je_err *err) {
    je_pg_params p = {0};
    je_pg_text(&p, a->tenant);
    je_pg_text(&p, a->source);
    return je_pg_run(tx,
                     "INSERT INTO ledger_sources(tenant_id, source_id) VALUES($1, $2) ON CONFLICT "
                     "DO NOTHING",
                     &p, NULL, err);
}

/* Step 1: every event with no entry yet is inserted, claimed for the job, in key order (two
 * claims lock rows in one order). Marks them new; *rest gets how many are left. */
static int claim_inserts(je_pg_tx *tx, const claim_arg *a, size_t *rest, je_err *err) {
    arr k = {0}, t = {0}, d = {0};
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < a->n; i++) {
        const je_claim_event *ev = &a->ev[a->order[i]];
        rc = arr_add(&k, ev->event_key) | arr_add_int(&t, ev->event_time_ms) |
             arr_add(&d, ev->digest);
    }
    const char *ks = arr_end(&k), *ts = arr_end(&t), *ds = arr_end(&d);
    if (rc != 0) ks = NULL;
    PGresult *r = NULL;
    if (ks && ts && ds) {
        je_pg_params p = {0};
        je_pg_text(&p, a->tenant);
        je_pg_text(&p, a->source);
        je_pg_text(&p, a->job_id);
        je_pg_text(&p, ks);
        je_pg_text(&p, ts);
        je_pg_text(&p, ds);
        r = je_pg_exec(tx,
                       "INSERT INTO ledger(tenant_id, source_id, event_key, event_time_ms, "
                       "processed, claim_job_id, claim_digest) SELECT $1, $2, u.k, u.t, 0, $3, "
                       "u.d FROM unnest($4::text[], $5::bigint[], $6::text[]) WITH ORDINALITY "
                       "AS u(k, t, d, i) ORDER BY u.i ON CONFLICT DO NOTHING RETURNING event_key",
                       &p, err);
    } else {
        je_err_set(err, "STORE", "out of memory");
    }
    free(k.s), free(t.s), free(d.s);
    if (!r) return -1;
    *rest = a->n;
    for (int i = 0; i < PQntuples(r); i++) {
        long at = find_event(a, PQgetvalue(r, i, 0));
        if (at >= 0 && !a->ev[at].is_new) a->ev[at].is_new = 1, (*rest)--;
    }
    int inserted = PQntuples(r) > 0;
    PQclear(r);
    return inserted ? source_known(tx, a, err) : 0;
}

/* The existing entries of the events not inserted, locked in key order. */
static PGresult *claim_lock_rest(je_pg_tx *tx, const claim_arg *a, je_err *err) {
    arr k = {0};
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < a->n; i++)
        if (!a->ev[a->order[i]].is_new) rc = arr_add(&k, a->ev[a->order[i]].event_key);
    const char *ks = rc == 0 ? arr_end(&k) : NULL;
    PGresult *r = NULL;
    if (ks) {
        je_pg_params p = {0};
        je_pg_text(&p, a->tenant);
        je_pg_text(&p, a->source);
        je_pg_text(&p, ks);
        r = je_pg_exec(tx,
                       "SELECT event_key, processed, processed_digest, claim_job_id FROM ledger "
                       "WHERE tenant_id=$1 AND source_id=$2 AND event_key = ANY($3::text[]) "
                       "ORDER BY event_key COLLATE \"C\" FOR UPDATE",
                       &p, err);
    } else {
        je_err_set(err, "STORE", "out of memory");
    }
    free(k.s);
    return r;
}

/* Of the other jobs that claim these entries, those whose lease is live now: a list of
 * (job id, live) read in one statement. Returns the result (job_id, live) or NULL. */
static PGresult *claimers_live(je_pg_tx *tx, const claim_arg *a, const PGresult *rows,
                               je_err *err) {
    arr ids = {0};
    int rc = 0;
    for (int i = 0; rc == 0 && i < PQntuples(rows); i++)
        if (!PQgetisnull(rows, i, 3) && strcmp(PQgetvalue(rows, i, 3), a->job_id) != 0)
            rc = arr_add(&ids, PQgetvalue(rows, i, 3));
    const char *is = rc == 0 ? arr_end(&ids) : NULL;
    PGresult *r = NULL;
    if (is) {
        je_pg_params p = {0};
        je_pg_text(&p, a->tenant);
        je_pg_text(&p, is);
        r = je_pg_exec(tx,
                       "SELECT job_id, status, lease_id, lease_until_ms FROM jobs WHERE "
                       "tenant_id=$1 AND job_id = ANY($2::text[])",
                       &p, err);
    } else {
        je_err_set(err, "STORE", "out of memory");
    }
    free(ids.s);
    return r;
}

/* Whether claimer (a job id of the result of claimers_live) holds a live lease at now (core:
 * je_job_lease_live). */
static int claimer_live(const PGresult *jobs, const char *claimer, int64_t now) {
    for (int i = 0; i < PQntuples(jobs); i++) {
        if (strcmp(PQgetvalue(jobs, i, 0), claimer) != 0) continue;
        je_job j;
        memset(&j, 0, sizeof j);
        j.status = (int)je_pg_get_int(jobs, i, 1);
        je_pg_get_text(jobs, i, 2, j.lease_id, sizeof j.lease_id);
        j.lease_until_ms = je_pg_get_opt(jobs, i, 3);
        return je_job_lease_live(&j, NULL, now);
    }
    return 0;
}

/* Step 2: each existing entry decided by core; the claims and kept digests written as two
 * statements over arrays. Events whose entry vanished meanwhile (pruned) stay undecided. */
static int claim_existing(je_pg_tx *tx, const claim_arg *a, int force, char *decided, je_err *err) {
    PGresult *rows = claim_lock_rest(tx, a, err);
    if (!rows) return -1;
    PGresult *jobs = claimers_live(tx, a, rows, err);
    if (!jobs) return PQclear(rows), -1;
    arr ck = {0}, ct = {0}, cd = {0}, kk = {0}, kd = {0};
    int rc = 0;
    for (int i = 0; rc == 0 && i < PQntuples(rows); i++) {
        long at = find_event(a, PQgetvalue(rows, i, 0));
        if (at < 0) continue;
        je_claim_event *ev = &a->ev[at];
        je_ledger_entry e = {.exists = 1, .processed = je_pg_get_int(rows, i, 1) != 0};
        if (!PQgetisnull(rows, i, 2)) e.processed_digest = PQgetvalue(rows, i, 2);
        if (!PQgetisnull(rows, i, 3) && strcmp(PQgetvalue(rows, i, 3), a->job_id) != 0)
            e.claimed_by_other_live = claimer_live(jobs, PQgetvalue(rows, i, 3), a->now);
        int keep = 0;
        ev->is_new = je_ledger_decide(&e, ev->digest, force, &keep) == JE_CLAIM_NEW;
        decided[at] = 1;
        if (ev->is_new)
            rc = arr_add(&ck, ev->event_key) | arr_add_int(&ct, ev->event_time_ms) |
                 arr_add(&cd, ev->digest);
        else if (keep)
            rc = arr_add(&kk, ev->event_key) | arr_add(&kd, ev->digest);
    }
    PQclear(rows);
    PQclear(jobs);
    const char *cks = arr_end(&ck), *cts = arr_end(&ct), *cds = arr_end(&cd), *kks = arr_end(&kk),
               *kds = arr_end(&kd);
    if (rc != 0 || !cks || !cts || !cds || !kks || !kds)
        rc = je_err_set(err, "STORE", "out of memory");
    if (rc == 0 && ck.n) {
        je_pg_params p = {0};
        je_pg_text(&p, a->tenant);
        je_pg_text(&p, a->source);
        je_pg_text(&p, a->job_id);
        je_pg_text(&p, cks);
        je_pg_text(&p, cts);
        je_pg_text(&p, cds);
        rc = je_pg_run(tx,
                       "UPDATE ledger l SET event_time_ms=u.t, claim_job_id=$3, claim_digest=u.d "
                       "FROM unnest($4::text[], $5::bigint[], $6::text[]) AS u(k, t, d) WHERE "
                       "l.tenant_id=$1 AND l.source_id=$2 AND l.event_key=u.k",
                       &p, NULL, err);
    }
    if (rc == 0 && kk.n) {
        je_pg_params p = {0};
        je_pg_text(&p, a->tenant);
        je_pg_text(&p, a->source);
        je_pg_text(&p, kks);
        je_pg_text(&p, kds);
        rc = je_pg_run(tx,
                       "UPDATE ledger l SET processed_digest=u.d FROM unnest($3::text[], "
                       "$4::text[]) AS u(k, d) WHERE l.tenant_id=$1 AND l.source_id=$2 AND "
                       "l.event_key=u.k",
                       &p, NULL, err);
    }
    free(ck.s), free(ct.s), free(cd.s), free(kk.s), free(kd.s);
    return rc;
}

/* Every event decided: inserts first, then the existing entries; an entry pruned between the
 * two steps is absent again, so the steps run once more for what is left. */
static int claim_events(je_pg_tx *tx, const claim_arg *a, int force, je_err *err) {
    char *decided = calloc(a->n ? a->n : 1, 1);
    if (!decided) return je_err_set(err, "STORE", "out of memory");
    int rc = -1;
    for (int attempt = 0; attempt < 3; attempt++) {
        size_t rest = 0;
        if (claim_inserts(tx, a, &rest, err) != 0) goto out;
        for (size_t i = 0; i < a->n; i++) decided[i] = a->ev[i].is_new;
        if (rest && claim_existing(tx, a, force, decided, err) != 0) goto out;
        rc = 0;
        for (size_t i = 0; i < a->n; i++) rc |= !decided[i];
        if (rc == 0) goto out;
    }
    rc = je_err_set(err, "STORE", "the ledger entry of an event kept vanishing");
out:
    free(decided);
    return rc;
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
    a->order = malloc((a->n ? a->n : 1) * sizeof *a->order);
    if (!a->order) return je_err_set(err, "STORE", "out of memory");
    for (size_t i = 0; i < a->n; i++) a->order[i] = i;
    sort_events = a->ev;
    qsort(a->order, a->n, sizeof *a->order, by_key);
    int rc = claim_events(tx, a, force, err);
    free(a->order);
    a->order = NULL;
    if (rc != 0) return -1;
    int64_t dups = 0;
    for (size_t i = 0; i < a->n; i++) dups += !a->ev[i].is_new;
    if (has_bf && dups && note_duplicates(tx, a->tenant, backfill_id, dups, err) != 0) return -1;
    return JE_STORE_OK;
}

int je_pg_ledger_claim(je_store *s, const char *tenant, const char *source_id, const char *job_id,
                       je_claim_event *events, size_t n, int64_t now_ms, je_err *err) {
    claim_arg a = {tenant, source_id, job_id, events, n, now_ms, NULL};
    return je_pg_write(s, claim_op, &a, err);
}

/* Every node prunes at once: rows another transaction holds (a claim deciding on them, another
 * prune) are skipped, and a row is deleted, and counted, once. Each source's entries are walked
 * by ledger_time (tenant_id, source_id, event_time_ms), the sources listed by ledger_sources. */
typedef struct prune_arg {
    int64_t before, count;
} prune_arg;

static int prune_source(je_pg_tx *tx, prune_arg *a, const char *tenant, const char *source,
                        je_err *err) {
    je_pg_params p = {0};
    je_pg_text(&p, tenant);
    je_pg_text(&p, source);
    je_pg_int(&p, a->before);
    int64_t n = 0;
    int rc = je_pg_run(tx,
                       "DELETE FROM ledger WHERE (tenant_id, source_id, event_key) IN (SELECT "
                       "tenant_id, source_id, event_key FROM ledger WHERE tenant_id=$1 AND "
                       "source_id=$2 AND event_time_ms < $3::bigint AND processed=1 AND "
                       "claim_job_id IS NULL FOR UPDATE SKIP LOCKED)",
                       &p, &n, err);
    a->count += n;
    return rc;
}

static int prune_op(je_pg_tx *tx, void *argp, je_err *err) {
    prune_arg *a = argp;
    a->count = 0;
    PGresult *r = je_pg_exec(
        tx, "SELECT tenant_id, source_id FROM ledger_sources ORDER BY tenant_id, source_id", NULL,
        err);
    if (!r) return -1;
    int rc = 0;
    for (int i = 0; rc == 0 && i < PQntuples(r); i++)
        rc = prune_source(tx, a, PQgetvalue(r, i, 0), PQgetvalue(r, i, 1), err);
    PQclear(r);
    return rc;
}

int64_t je_pg_ledger_prune(je_store *s, int64_t before_ms, je_err *err) {
    prune_arg a = {before_ms, 0};
    int rc = je_pg_write(s, prune_op, &a, err);
    return rc < 0 ? rc : a.count;
}
