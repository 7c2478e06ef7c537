/* tests/unit/conformance/backfills.h: the backfill helpers (create and move callbacks built as
 * the API builds them, with core's checks and moves; tallies of batch jobs) and the conformance
 * cases of backfills: create, get and list; create idempotency; overlapping creates racing; the
 * engine's advance racing, also with batch jobs worked at once; pause, resume and cancel (which
 * cancels the batch jobs not yet leased); a backfill's whole life through its batch jobs and their
 * claims. Its macro lists the ledger's cases (ledger.h) too. */
#ifndef JE_TESTS_CONFORMANCE_BACKFILLS_H
#define JE_TESTS_CONFORMANCE_BACKFILLS_H

#include "jobs.h"
#include "ledger.h"
#include "quotas.h"

/* ---- backfills: helpers ----------------------------------------------------------------- */

/* A create request and what its callback saw and decided. */
typedef struct conf_bf {
    const char *tenant, *source, *job_type;
    int64_t start, end, batch_ms;
    int force;
    /* out */
    int calls;
    je_backfill_store_facts facts; /* the last run's */
    char deny[32];                 /* the refusal's code, "" when applied */
    char existing[37];             /* the backfill no_overlap found */
} conf_bf;

static conf_bf conf_bf_of(const char *tenant, const char *source, const char *job_type,
                          int64_t start, int64_t end, int64_t batch_ms) {
    conf_bf c;
    memset(&c, 0, sizeof c);
    c.tenant = tenant, c.source = source, c.job_type = job_type;
    c.start = start, c.end = end, c.batch_ms = batch_ms;
    return c;
}

static json_t *conf_bf_entry(const char *tenant, const char *event, const char *id, int64_t now) {
    conf_ev ev = {tenant, event, "backfill", id, "conf-bot", now};
    return conf_entry(&ev);
}

/* As api/backfills.c: core's checks on the facts; a duplicate, an unsafe plan or a refusal is
 * audited as backfill.rejected, a create as backfill.created. */
static int conf_bf_create_fn(void *ctx, const je_backfill_store_facts *sf, je_backfill_record *b,
                             int64_t now, json_t **audit, je_err *err) {
    conf_bf *c = ctx;
    (void)err;
    c->calls++;
    c->facts = *sf;
    c->deny[0] = c->existing[0] = '\0';
    je_backfill_facts f = {sf->quota_exists,
                           sf->quota_paused,
                           sf->overlapping_id[0] ? sf->overlapping_id : NULL,
                           sf->repeated_id[0] ? sf->repeated_id : NULL,
                           sf->known_events,
                           sf->already_processed};
    je_backfill_request req = {c->tenant,          c->source,   c->job_type,
                               {c->start, c->end}, c->batch_ms, c->force};
    je_backfill_plan plan;
    je_backfill_evaluate(&req, &f, &conf_bf_limits, now, &plan);
    if (!plan.no_overlap_passed || !plan.all_passed) {
        snprintf(c->deny, sizeof c->deny, "%s",
                 plan.no_overlap_passed ? "BACKFILL_UNSAFE" : "BACKFILL_DUPLICATE");
        snprintf(c->existing, sizeof c->existing, "%s", plan.duplicate_of ? plan.duplicate_of : "");
        *audit = conf_bf_entry(c->tenant, "backfill.rejected", NULL, now);
        return JE_CHANGE_DENY;
    }
    je_uuid7(now, b->backfill_id);
    snprintf(b->tenant_id, sizeof b->tenant_id, "%s", c->tenant);
    snprintf(b->source_id, sizeof b->source_id, "%s", c->source);
    snprintf(b->job_type, sizeof b->job_type, "%s", c->job_type);
    b->window_start_ms = c->start;
    b->window_end_ms = c->end;
    b->batch_ms = c->batch_ms;
    b->force_reprocess = c->force;
    b->status = JE_BF_PENDING;
    snprintf(b->reason, sizeof b->reason, "replay after the outage");
    snprintf(b->ticket, sizeof b->ticket, "OPS-9");
    b->plan_batches = plan.batches;
    b->plan_known = plan.known_events;
    b->plan_processed = plan.already_processed;
    snprintf(b->plan_hash, sizeof b->plan_hash, "%s", plan.plan_hash);
    snprintf(b->safety_checks, sizeof b->safety_checks, "[{\"name\":\"no_overlap\"}]");
    b->created_ms = now;
    b->started_ms = b->completed_ms = JE_NO_TIME;
    snprintf(b->created_by, sizeof b->created_by, "conf-bot");
    b->version = 1;
    *audit = conf_bf_entry(c->tenant, "backfill.created", b->backfill_id, now);
    return JE_CHANGE_APPLY;
}

static int conf_bf_create(je_store *s, conf_bf *c, int64_t now, je_idem *idem,
                          je_backfill_record *out) {
    je_err err;
    return s->ops->backfill_create(s, c->tenant, c->source, c->job_type, c->start, c->end,
                                   conf_bf_limits.suppression_ms, now, conf_bf_create_fn, c, idem,
                                   out, &err);
}

/* A created backfill of tenant "T", job type "scan" (its quota must exist). */
static je_backfill_record conf_bf_new(je_store *s, const char *source, int64_t start, int64_t end,
                                      int64_t batch_ms, int64_t now) {
    conf_bf c = conf_bf_of("T", source, "scan", start, end, batch_ms);
    je_backfill_record b;
    assert_int_equal(conf_bf_create(s, &c, now, NULL, &b), JE_CHANGE_APPLY);
    assert_string_equal(c.deny, "");
    return b;
}

/* An operator's move, as api/backfills.c makes it (core: je_backfill_move). */
typedef struct conf_move {
    je_backfill_state to;
    int calls, exists;
    char deny[32];
} conf_move;

static int conf_bf_move_fn(void *ctx, je_backfill_record *b, int exists, int64_t now,
                           json_t **audit, je_err *err) {
    conf_move *m = ctx;
    (void)err;
    m->calls++;
    m->exists = exists;
    m->deny[0] = '\0';
    if (!exists) return snprintf(m->deny, sizeof m->deny, "NOT_FOUND"), JE_CHANGE_DENY;
    je_err e;
    je_err_clear(&e);
    if (je_backfill_move(b, JE_BF_STATE_COUNT, m->to, now, &e) != 0) {
        snprintf(m->deny, sizeof m->deny, "%s", e.code);
        *audit = conf_bf_entry(b->tenant_id, "backfill.rejected", b->backfill_id, now);
        return JE_CHANGE_DENY;
    }
    *audit = conf_bf_entry(b->tenant_id, "backfill.moved", b->backfill_id, now);
    return JE_CHANGE_APPLY;
}

static int conf_bf_move(je_store *s, const char *tenant, const char *id, je_backfill_state to,
                        int64_t now, je_backfill_record *out) {
    conf_move m = {to, 0, 0, ""};
    je_err err;
    int rc = s->ops->backfill_change(s, tenant, id, now, conf_bf_move_fn, &m, out, &err);
    assert_int_equal(m.calls, 1);
    return rc;
}

static je_backfill_record conf_bf_get(je_store *s, const char *id) {
    je_backfill_record b;
    je_err err;
    assert_int_equal(s->ops->backfill_get(s, "T", id, &b, &err), JE_STORE_OK);
    return b;
}

/* Backfill ids visited by backfill_list, joined with ','. */
typedef struct conf_blist {
    char joined[2048];
    int n;
} conf_blist;

static int conf_collect_bf(void *ctx, const je_backfill_record *b) {
    conf_blist *l = ctx;
    size_t used = strlen(l->joined);
    snprintf(l->joined + used, sizeof l->joined - used, "%s%s", l->n++ ? "," : "", b->backfill_id);
    return 0;
}

static const char *conf_bf_list(je_store *s, const char *tenant, int status, int64_t before_ms,
                                const char *before_id, int limit) {
    static conf_blist l;
    memset(&l, 0, sizeof l);
    je_backfill_filter f = {status, before_ms, before_id, limit};
    je_err err;
    assert_int_equal(s->ops->backfill_list(s, tenant, &f, conf_collect_bf, &l, &err), 0);
    return l.joined;
}

/* The batch jobs of up to 8 backfills, counted by batch and status. */
#define CONF_MAX_BATCHES 64
typedef struct conf_tally {
    const char *ids[8];
    int n_ids;
    int per_batch[8][CONF_MAX_BATCHES];
    int by_status[8][JE_JOB_STATUS_COUNT];
    int strays; /* batch jobs of none of them, or out of range */
} conf_tally;

static int conf_tally_job(void *ctx, const je_job *j) {
    conf_tally *t = ctx;
    if (!j->backfill_id[0]) return 0;
    for (int i = 0; i < t->n_ids; i++)
        if (strcmp(t->ids[i], j->backfill_id) == 0) {
            if (j->batch < 0 || j->batch >= CONF_MAX_BATCHES) break;
            t->per_batch[i][j->batch]++;
            t->by_status[i][j->status]++;
            return 0;
        }
    t->strays++;
    return 0;
}

static void conf_tally_of(je_store *s, conf_tally *t) {
    memset(t->per_batch, 0, sizeof t->per_batch);
    memset(t->by_status, 0, sizeof t->by_status);
    t->strays = 0;
    je_job_filter f = {-1, NULL, INT64_MIN, "", 100000, 0};
    je_err err;
    assert_int_equal(s->ops->job_list(s, "T", &f, conf_tally_job, t, &err), 0);
}

/* Asserts backfill i has exactly one job for each batch below n and none above. */
static void conf_tally_once(const conf_tally *t, int i, int n) {
    for (int k = 0; k < CONF_MAX_BATCHES; k++)
        if (t->per_batch[i][k] != (k < n))
            fail_msg("batch %d of %d: %d jobs", k, i, t->per_batch[i][k]);
}

/* ---- backfills: create and reads -------------------------------------------------------- */

static void conf_backfill_create_get_list(void **state) {
    je_store *s = ((conf_fx *)*state)->s;
    je_err err;
    int64_t t = conf_future();
    /* No quota for the job type: the create is refused as unsafe, audited, nothing stored. */
    conf_bf c = conf_bf_of("T", "src", "scan", CONF_W0, CONF_W0 + 4 * CONF_H, CONF_H);
    je_backfill_record b;
    assert_int_equal(conf_bf_create(s, &c, t, NULL, &b), JE_CHANGE_DENY);
    assert_string_equal(c.deny, "BACKFILL_UNSAFE");
    assert_int_equal(c.facts.quota_exists, 0);
    assert_int_equal(conf_chain_len(s, "T"), 1);
    conf_last_event(s, "T", "backfill.rejected", NULL);
    assert_string_equal(conf_bf_list(s, "T", -1, INT64_MAX, "", 100), "");

    conf_quota_new(s, "T", "scan", conf_limits(10, 100000, 1000, 10), 0);
    je_backfill_record b1 = conf_bf_new(s, "src", CONF_W0, CONF_W0 + 4 * CONF_H, CONF_H, t);
    assert_int_equal(conf_chain_len(s, "T"), 2);
    conf_last_event(s, "T", "backfill.created", b1.backfill_id);
    je_backfill_record got = conf_bf_get(s, b1.backfill_id);
    assert_string_equal(got.backfill_id, b1.backfill_id);
    assert_string_equal(got.tenant_id, "T");
    assert_string_equal(got.source_id, "src");
    assert_string_equal(got.job_type, "scan");
    assert_int_equal(got.window_start_ms, CONF_W0);
    assert_int_equal(got.window_end_ms, CONF_W0 + 4 * CONF_H);
    assert_int_equal(got.batch_ms, CONF_H);
    assert_int_equal(got.force_reprocess, 0);
    assert_int_equal(got.status, JE_BF_PENDING);
    assert_string_equal(got.reason, "replay after the outage");
    assert_string_equal(got.ticket, "OPS-9");
    assert_int_equal(got.plan_batches, 4);
    assert_int_equal(got.plan_known, 0);
    assert_string_equal(got.plan_hash, b1.plan_hash);
    assert_int_equal(strncmp(got.plan_hash, "sha256:", 7), 0);
    assert_string_equal(got.safety_checks, "[{\"name\":\"no_overlap\"}]");
    assert_int_equal(got.batches_submitted + got.batches_done + got.events_processed, 0);
    assert_int_equal(got.duplicates_skipped + got.events_failed, 0);
    assert_int_equal(got.created_ms, t);
    assert_string_equal(got.created_by, "conf-bot");
    assert_int_equal(got.started_ms, JE_NO_TIME);
    assert_int_equal(got.completed_ms, JE_NO_TIME);
    assert_string_equal(got.error, "");
    assert_int_equal(got.version, 1);
    assert_int_equal(s->ops->backfill_get(s, "U", b1.backfill_id, &got, &err), JE_STORE_NOT_FOUND);
    assert_int_equal(s->ops->backfill_get(s, "T", "nope", &got, &err), JE_STORE_NOT_FOUND);

    /* An overlapping window of the same source and job type is a duplicate naming b1; the facts
     * say so too. Another source, or a window that only touches b1's end, is not. */
    c = conf_bf_of("T", "src", "scan", CONF_W0 + 3 * CONF_H, CONF_W0 + 9 * CONF_H, CONF_H);
    assert_int_equal(conf_bf_create(s, &c, t + 1, NULL, &b), JE_CHANGE_DENY);
    assert_string_equal(c.deny, "BACKFILL_DUPLICATE");
    assert_string_equal(c.existing, b1.backfill_id);
    assert_string_equal(
        conf_facts(s, "src", CONF_W0 + CONF_H, CONF_W0 + 2 * CONF_H, t).overlapping_id,
        b1.backfill_id);
    je_backfill_store_facts f = conf_facts(s, "src", CONF_W0 + 4 * CONF_H, CONF_W0 + 5 * CONF_H, t);
    assert_string_equal(f.overlapping_id, "");
    assert_int_equal(f.quota_exists, 1);
    assert_int_equal(f.quota_paused, 0);
    je_backfill_record b2 =
        conf_bf_new(s, "src", CONF_W0 + 4 * CONF_H, CONF_W0 + 5 * CONF_H, CONF_H, t + 2);
    je_backfill_record b3 = conf_bf_new(s, "other", CONF_W0, CONF_W0 + 2 * CONF_H, CONF_H, t + 3);
    assert_int_equal(conf_chain_len(s, "T"), 5);

    /* Newest first; a status filter; pages before (createdAt, id). */
    char want[200];
    snprintf(want, sizeof want, "%s,%s,%s", b3.backfill_id, b2.backfill_id, b1.backfill_id);
    assert_string_equal(conf_bf_list(s, "T", -1, INT64_MAX, "", 100), want);
    assert_string_equal(conf_bf_list(s, "T", JE_BF_PENDING, INT64_MAX, "", 100), want);
    assert_string_equal(conf_bf_list(s, "T", JE_BF_RUNNING, INT64_MAX, "", 100), "");
    assert_string_equal(conf_bf_list(s, "U", -1, INT64_MAX, "", 100), "");
    assert_string_equal(conf_bf_list(s, "T", -1, INT64_MAX, "", 1), b3.backfill_id);
    snprintf(want, sizeof want, "%s,%s", b2.backfill_id, b1.backfill_id);
    assert_string_equal(conf_bf_list(s, "T", -1, t + 3, b3.backfill_id, 100), want);
    assert_string_equal(conf_bf_list(s, "T", -1, t + 2, "", 100), want);
    assert_string_equal(conf_bf_list(s, "T", -1, t + 1, "", 100), b1.backfill_id);
    assert_string_equal(conf_bf_list(s, "T", -1, t, b1.backfill_id, 100), "");
    je_backfill_record moved;
    assert_int_equal(conf_bf_move(s, "T", b2.backfill_id, JE_BF_RUNNING, t + 4, &moved),
                     JE_CHANGE_APPLY);
    assert_string_equal(conf_bf_list(s, "T", JE_BF_RUNNING, INT64_MAX, "", 100), b2.backfill_id);
}

static char *conf_render_bf(void *ctx, int *status) {
    const je_backfill_record *b = ctx;
    char *body = malloc(128);
    if (!body) return NULL;
    *status = 201;
    snprintf(body, 128, "{\"backfillId\":\"%s\"}", b->backfill_id);
    return body;
}

static void conf_backfill_create_idempotency(void **state) {
    je_store *s = ((conf_fx *)*state)->s;
    int64_t t = conf_future();
    const char *path = "/jobengine/backfills";
    conf_quota_new(s, "T", "scan", conf_limits(10, 100000, 1000, 10), 0);
    conf_bf c = conf_bf_of("T", "src", "scan", CONF_W0, CONF_W0 + 2 * CONF_H, CONF_H);
    je_backfill_record b1, b2;
    je_idem i1 = conf_idem("bf-1", path, 'a', conf_render_bf, &b1);
    assert_int_equal(conf_bf_create(s, &c, t, &i1, &b1), JE_CHANGE_APPLY);
    assert_int_equal(i1.replayed + i1.mismatch, 0);
    char body[128];
    snprintf(body, sizeof body, "{\"backfillId\":\"%s\"}", b1.backfill_id);

    /* The same key and body: the first answer, no second backfill, the callback not run. */
    c.calls = 0;
    je_idem i2 = conf_idem("bf-1", path, 'a', conf_render_bf, &b2);
    assert_int_equal(conf_bf_create(s, &c, t + 1, &i2, &b2), JE_CHANGE_APPLY);
    assert_int_equal(i2.replayed, 1);
    assert_int_equal(i2.status, 201);
    assert_non_null(i2.body);
    assert_string_equal(i2.body, body);
    free(i2.body);
    assert_int_equal(c.calls, 0);
    /* Another body: a mismatch. */
    je_idem i3 = conf_idem("bf-1", path, 'b', conf_render_bf, &b2);
    assert_int_equal(conf_bf_create(s, &c, t + 2, &i3, &b2), JE_CHANGE_DENY);
    assert_int_equal(i3.mismatch, 1);
    assert_null(i3.body);
    assert_int_equal(c.calls, 0);
    assert_string_equal(conf_bf_list(s, "T", -1, INT64_MAX, "", 100), b1.backfill_id);
    /* A refused create is not remembered: the same key runs again once the refusal is gone. */
    conf_bf d = conf_bf_of("T", "src", "scan", CONF_W0, CONF_W0 + CONF_H, CONF_H);
    je_idem i4 = conf_idem("bf-2", path, 'c', conf_render_bf, &b2);
    assert_int_equal(conf_bf_create(s, &d, t + 3, &i4, &b2), JE_CHANGE_DENY);
    assert_string_equal(d.deny, "BACKFILL_DUPLICATE");
    je_backfill_record moved;
    assert_int_equal(conf_bf_move(s, "T", b1.backfill_id, JE_BF_CANCELED, t + 4, &moved),
                     JE_CHANGE_APPLY);
    je_idem i5 = conf_idem("bf-2", path, 'c', conf_render_bf, &b2);
    assert_int_equal(conf_bf_create(s, &d, t + 5, &i5, &b2), JE_CHANGE_APPLY);
    assert_int_equal(i5.replayed + i5.mismatch, 0);
}

/* ---- backfills: creates and advances racing --------------------------------------------- */

typedef struct conf_bf_race {
    je_store *s;
    int64_t now;
    atomic_int go;
    conf_bf req[CONF_THREADS];
    je_backfill_record out[CONF_THREADS];
    int rc[CONF_THREADS];
} conf_bf_race;

typedef struct conf_bf_worker {
    conf_bf_race *r;
    int i;
} conf_bf_worker;

static void *conf_bf_create_worker(void *p) {
    conf_bf_worker *w = p;
    conf_bf_race *r = w->r;
    while (!atomic_load(&r->go)) sched_yield();
    r->rc[w->i] = conf_bf_create(r->s, &r->req[w->i], r->now + w->i, NULL, &r->out[w->i]);
    return NULL;
}

/* Eight creates of overlapping windows of one key at once: exactly one applies, and every
 * other is a duplicate naming it. Three rounds, each on a source of its own. */
static void conf_backfill_create_race(void **state) {
    je_store *s = ((conf_fx *)*state)->s;
    int64_t t = conf_future();
    conf_quota_new(s, "T", "scan", conf_limits(10, 100000, 1000, 10), 0);
    conf_bf_race *r = calloc(1, sizeof *r);
    assert_non_null(r);
    const char *sources[] = {"r0", "r1", "r2"};
    for (int round = 0; round < 3; round++) {
        memset(r, 0, sizeof *r);
        r->s = s;
        r->now = t + 100 * round;
        conf_bf_worker w[CONF_THREADS];
        pthread_t th[CONF_THREADS];
        for (int i = 0; i < CONF_THREADS; i++) {
            /* every window holds [W0 + 8h, W0 + 9h) */
            r->req[i] = conf_bf_of("T", sources[round], "scan", CONF_W0 + (8 - i) * CONF_H,
                                   CONF_W0 + (9 + i) * CONF_H, CONF_H);
            w[i] = (conf_bf_worker){r, i};
            assert_int_equal(pthread_create(&th[i], NULL, conf_bf_create_worker, &w[i]), 0);
        }
        atomic_store(&r->go, 1);
        for (int i = 0; i < CONF_THREADS; i++) pthread_join(th[i], NULL);
        int applied = -1, n_applied = 0;
        for (int i = 0; i < CONF_THREADS; i++)
            if (r->rc[i] == JE_CHANGE_APPLY) applied = i, n_applied++;
        assert_int_equal(n_applied, 1);
        for (int i = 0; i < CONF_THREADS; i++) {
            if (i == applied) continue;
            assert_int_equal(r->rc[i], JE_CHANGE_DENY);
            assert_string_equal(r->req[i].deny, "BACKFILL_DUPLICATE");
            assert_string_equal(r->req[i].existing, r->out[applied].backfill_id);
        }
    }
    free(r);
    conf_blist l;
    memset(&l, 0, sizeof l);
    je_backfill_filter f = {-1, INT64_MAX, "", 100};
    je_err err;
    assert_int_equal(s->ops->backfill_list(s, "T", &f, conf_collect_bf, &l, &err), 0);
    assert_int_equal(l.n, 3);
    assert_int_equal(conf_chain_len(s, "T"), 3 * CONF_THREADS);
}

typedef struct conf_adv_race {
    je_store *s;
    int64_t now, in_flight;
    int rounds;
    atomic_int go, submitted, failures;
} conf_adv_race;

static void *conf_advance_worker(void *p) {
    conf_adv_race *r = p;
    je_err err;
    while (!atomic_load(&r->go)) sched_yield();
    for (int k = 0; k < r->rounds; k++) {
        int64_t n = r->s->ops->backfills_advance(r->s, r->now, r->in_flight, 3, &err);
        if (n < 0)
            atomic_fetch_add(&r->failures, 1);
        else
            atomic_fetch_add(&r->submitted, (int)n);
    }
    return NULL;
}

static void conf_advance_run(je_store *s, conf_adv_race *r, int64_t now, int64_t in_flight) {
    memset(r, 0, sizeof *r);
    r->s = s, r->now = now, r->in_flight = in_flight, r->rounds = 4;
    pthread_t th[CONF_THREADS];
    for (int i = 0; i < CONF_THREADS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, conf_advance_worker, r), 0);
    atomic_store(&r->go, 1);
    for (int i = 0; i < CONF_THREADS; i++) pthread_join(th[i], NULL);
    assert_int_equal(atomic_load(&r->failures), 0);
}

/* Every node advances at once: no batch is ever submitted twice, nor more than in_flight. */
static void conf_backfill_advance_race(void **state) {
    je_store *s = ((conf_fx *)*state)->s;
    int64_t t = conf_future();
    conf_quota_new(s, "T", "scan", conf_limits(10, 100000, 1000, 10), 0);
    enum { N = 5, BATCHES = 30 };
    je_backfill_record b[N];
    conf_tally *tl = calloc(1, sizeof *tl);
    assert_non_null(tl);
    const char *sources[N] = {"a0", "a1", "a2", "a3", "a4"};
    for (int i = 0; i < N; i++) {
        b[i] = conf_bf_new(s, sources[i], CONF_W0, CONF_W0 + BATCHES * CONF_H, CONF_H, t + i);
        assert_int_equal(conf_bf_move(s, "T", b[i].backfill_id, JE_BF_RUNNING, t + 10, &b[i]),
                         JE_CHANGE_APPLY);
        tl->ids[tl->n_ids++] = b[i].backfill_id;
    }
    conf_adv_race r;
    conf_advance_run(s, &r, t + 20, 4);
    assert_int_equal(atomic_load(&r.submitted), N * 4);
    conf_tally_of(s, tl);
    for (int i = 0; i < N; i++) {
        conf_tally_once(tl, i, 4);
        assert_int_equal(tl->by_status[i][JE_JOB_PENDING], 4);
        assert_int_equal(conf_bf_get(s, b[i].backfill_id).batches_submitted, 4);
    }
    assert_int_equal(tl->strays, 0);
    /* With room for every batch, each of the others once. */
    conf_advance_run(s, &r, t + 30, 1000);
    assert_int_equal(atomic_load(&r.submitted), N * (BATCHES - 4));
    conf_tally_of(s, tl);
    for (int i = 0; i < N; i++) {
        conf_tally_once(tl, i, BATCHES);
        je_backfill_record got = conf_bf_get(s, b[i].backfill_id);
        assert_int_equal(got.batches_submitted, BATCHES);
        assert_int_equal(got.status, JE_BF_RUNNING);
    }
    free(tl);
}

/* Every node runs the engine and works batches at once: advance, lease a batch job, claim its
 * event, complete it. Each batch runs once, every count lands, and the backfill completes. */
typedef struct conf_run_race {
    je_store *s;
    int64_t now;
    const char *id;
    double deadline;
    atomic_int go, submitted, worked, failures;
} conf_run_race;

static void *conf_run_worker(void *p) {
    conf_run_race *r = p;
    static const char *const types[] = {"scan"};
    je_lease_req q = conf_lease_req(types, 1, 1, 600000, r->now);
    je_err err;
    while (!atomic_load(&r->go)) sched_yield();
    while (conf_now() < r->deadline) {
        int64_t n = r->s->ops->backfills_advance(r->s, r->now, 4, 3, &err);
        je_lease_out out;
        if (n < 0 || r->s->ops->jobs_lease(r->s, "T", &q, &out, &err) != 0) {
            atomic_fetch_add(&r->failures, 1);
            break;
        }
        atomic_fetch_add(&r->submitted, (int)n);
        if (out.n == 0) {
            je_backfill_record b;
            int done = r->s->ops->backfill_get(r->s, "T", r->id, &b, &err) == JE_STORE_OK &&
                       b.status != JE_BF_RUNNING;
            conf_lease_free(&out);
            if (done) break;
            sched_yield();
            continue;
        }
        char key[32], ans[4];
        snprintf(key, sizeof key, "ev-%lld", (long long)out.jobs[0].batch);
        je_job done;
        if (conf_claim(r->s, out.jobs[0].job_id, key, CONF_W0, NULL, r->now, ans) != JE_STORE_OK ||
            strcmp(ans, "N") != 0 ||
            r->s->ops->job_complete(r->s, "T", out.jobs[0].job_id, out.jobs[0].lease_id, 1, NULL,
                                    r->now, &done, &err) != JE_STORE_OK)
            atomic_fetch_add(&r->failures, 1);
        else
            atomic_fetch_add(&r->worked, 1), je_job_free(&done);
        conf_lease_free(&out);
    }
    return NULL;
}

static void conf_backfill_run_race(void **state) {
    je_store *s = ((conf_fx *)*state)->s;
    int64_t t = conf_future();
    enum { BATCHES = 40 };
    conf_quota_new(s, "T", "scan", conf_limits(100, 100000, 1000, 10), 0);
    je_backfill_record b = conf_bf_new(s, "run", CONF_W0, CONF_W0 + BATCHES * CONF_H, CONF_H, t);
    assert_int_equal(conf_bf_move(s, "T", b.backfill_id, JE_BF_RUNNING, t + 1, &b),
                     JE_CHANGE_APPLY);
    conf_run_race *r = calloc(1, sizeof *r);
    assert_non_null(r);
    r->s = s, r->now = t + 2, r->id = b.backfill_id, r->deadline = conf_now() + 60;
    pthread_t th[CONF_THREADS];
    for (int i = 0; i < CONF_THREADS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, conf_run_worker, r), 0);
    atomic_store(&r->go, 1);
    for (int i = 0; i < CONF_THREADS; i++) pthread_join(th[i], NULL);
    assert_int_equal(atomic_load(&r->failures), 0);
    assert_int_equal(atomic_load(&r->submitted), BATCHES);
    assert_int_equal(atomic_load(&r->worked), BATCHES);
    free(r);
    b = conf_bf_get(s, b.backfill_id);
    assert_int_equal(b.status, JE_BF_COMPLETED);
    assert_int_equal(b.batches_submitted, BATCHES);
    assert_int_equal(b.batches_done, BATCHES);
    assert_int_equal(b.events_processed, BATCHES);
    assert_int_equal(b.duplicates_skipped, 0);
    conf_tally tl;
    memset(&tl, 0, sizeof tl);
    tl.ids[0] = b.backfill_id, tl.n_ids = 1;
    conf_tally_of(s, &tl);
    conf_tally_once(&tl, 0, BATCHES);
    assert_int_equal(tl.by_status[0][JE_JOB_SUCCEEDED], BATCHES);
}

/* ---- backfills: moves ------------------------------------------------------------------- */

static void conf_backfill_moves_cancel(void **state) {
    je_store *s = ((conf_fx *)*state)->s;
    je_err err;
    int64_t t = conf_future();
    conf_quota_new(s, "T", "scan", conf_limits(10, 100000, 1000, 10), 0);
    conf_submit(s, "T", "scan", "live-1", 0, 1000);
    je_backfill_record a = conf_bf_new(s, "s-a", CONF_W0, CONF_W0 + 3 * CONF_H, CONF_H, t);
    je_backfill_record b = conf_bf_new(s, "s-b", CONF_W0, CONF_W0 + 2 * CONF_H, CONF_H, t + 1);
    je_backfill_record got;
    conf_tally tl;
    memset(&tl, 0, sizeof tl);
    tl.ids[0] = a.backfill_id, tl.ids[1] = b.backfill_id, tl.n_ids = 2;

    /* Pending and paused backfills submit nothing. */
    assert_int_equal(s->ops->backfills_advance(s, t + 2, 10, 3, &err), 0);
    assert_int_equal(conf_bf_move(s, "T", a.backfill_id, JE_BF_RUNNING, t + 3, &got),
                     JE_CHANGE_APPLY);
    assert_int_equal(got.status, JE_BF_RUNNING);
    assert_int_equal(got.started_ms, t + 3);
    assert_int_equal(got.version, 2);
    assert_int_equal(conf_bf_move(s, "T", b.backfill_id, JE_BF_RUNNING, t + 3, &got),
                     JE_CHANGE_APPLY);
    assert_int_equal(conf_bf_move(s, "T", b.backfill_id, JE_BF_PAUSED, t + 4, &got),
                     JE_CHANGE_APPLY);
    assert_int_equal(s->ops->backfills_advance(s, t + 5, 10, 3, &err), 3); /* a's only */
    assert_int_equal(conf_bf_move(s, "T", b.backfill_id, JE_BF_RUNNING, t + 6, &got),
                     JE_CHANGE_APPLY);
    assert_int_equal(got.started_ms, t + 3); /* the first start stays */
    assert_int_equal(got.version, 4);
    assert_int_equal(s->ops->backfills_advance(s, t + 7, 10, 3, &err), 2);
    conf_tally_of(s, &tl);
    conf_tally_once(&tl, 0, 3);
    conf_tally_once(&tl, 1, 2);
    je_job bj = conf_job_get(s, "T", "live-1");
    assert_string_equal(bj.backfill_id, "");
    je_job_free(&bj);

    /* One of a's batch jobs is leased (its jobs are the oldest batch jobs); a is canceled: its
     * two pending jobs are canceled with it, the leased one runs on; b's are untouched. */
    const char *types[] = {"scan"};
    je_lease_req q = conf_lease_req(types, 1, 2, 60000, t + 8);
    je_lease_out out = conf_lease_with(s, "T", &q);
    assert_int_equal(out.n, 2);
    assert_string_equal(out.jobs[0].job_id, "live-1");
    assert_string_equal(out.jobs[1].backfill_id, a.backfill_id);
    assert_int_equal(conf_bf_move(s, "T", a.backfill_id, JE_BF_CANCELED, t + 9, &got),
                     JE_CHANGE_APPLY);
    assert_int_equal(got.status, JE_BF_CANCELED);
    assert_int_equal(got.completed_ms, t + 9);
    conf_tally_of(s, &tl);
    assert_int_equal(tl.by_status[0][JE_JOB_CANCELED], 2);
    assert_int_equal(tl.by_status[0][JE_JOB_LEASED], 1);
    assert_int_equal(tl.by_status[1][JE_JOB_PENDING], 2);
    conf_jlist l;
    memset(&l, 0, sizeof l);
    je_job_filter f = {JE_JOB_CANCELED, NULL, INT64_MIN, "", 100, 0};
    assert_int_equal(s->ops->job_list(s, "T", &f, conf_collect_job, &l, &err), 0);
    assert_int_equal(l.n, 2);
    char first[40];
    snprintf(first, sizeof first, "%.*s", (int)strcspn(l.joined, ","), l.joined);
    bj = conf_job_get(s, "T", first);
    assert_string_equal(bj.error, JE_BACKFILL_CANCELED_ERROR);
    assert_int_equal(bj.completed_ms, t + 9);
    assert_int_equal(bj.updated_ms, t + 9);
    je_job_free(&bj);
    assert_int_equal(conf_job_status(s, "T", out.jobs[1].job_id), JE_JOB_LEASED);

    /* A finished backfill moves no more; unknown ids and other tenants are not found. */
    assert_int_equal(conf_bf_move(s, "T", a.backfill_id, JE_BF_RUNNING, t + 10, &got),
                     JE_CHANGE_DENY);
    assert_int_equal(conf_bf_get(s, a.backfill_id).version, 3);
    assert_int_equal(conf_bf_move(s, "T", "nope", JE_BF_CANCELED, t + 10, &got), JE_CHANGE_DENY);
    assert_int_equal(conf_bf_move(s, "U", b.backfill_id, JE_BF_CANCELED, t + 10, &got),
                     JE_CHANGE_DENY);
    assert_int_equal(conf_bf_get(s, b.backfill_id).status, JE_BF_RUNNING);
    /* The leased batch job of the canceled backfill ends; the backfill stays canceled. */
    conf_complete(s, out.jobs[1].job_id, out.jobs[1].lease_id, 1, t + 11);
    got = conf_bf_get(s, a.backfill_id);
    assert_int_equal(got.status, JE_BF_CANCELED);
    assert_int_equal(got.batches_done, 1);
    assert_int_equal(s->ops->backfills_advance(s, t + 12, 10, 3, &err), 0);
    conf_lease_free(&out);
}

/* ---- backfills: a whole life ------------------------------------------------------------ */

/* Leases the one pending job of "scan" (which must be a batch job of b) at now. */
static je_lease_out conf_lease_batch(je_store *s, const je_backfill_record *b, int64_t now) {
    je_lease_out out = conf_lease(s, "T", "scan", 5, 60000, now);
    assert_int_equal(out.n, 1);
    assert_string_equal(out.jobs[0].backfill_id, b->backfill_id);
    return out;
}

static void conf_backfill_life(void **state) {
    je_store *s = ((conf_fx *)*state)->s;
    je_err err;
    int64_t t = conf_future(), w = CONF_W0;
    conf_quota_new(s, "T", "scan", conf_limits(10, 100000, 1000, 10), 0);
    je_backfill_record b = conf_bf_new(s, "src", w, w + 2 * CONF_H, CONF_H, t);
    assert_int_equal(conf_bf_move(s, "T", b.backfill_id, JE_BF_RUNNING, t + 1, &b),
                     JE_CHANGE_APPLY);
    /* One batch at a time: batch 0, its shape. */
    assert_int_equal(s->ops->backfills_advance(s, t + 2, 1, 4, &err), 1);
    assert_int_equal(s->ops->backfills_advance(s, t + 2, 1, 4, &err), 0);
    je_lease_out out = conf_lease_batch(s, &b, t + 3);
    const je_job *j = &out.jobs[0];
    assert_int_equal(j->lane, JE_LANE_BACKFILL);
    assert_int_equal(j->batch, 0);
    assert_int_equal(j->window_start_ms, w);
    assert_int_equal(j->window_end_ms, w + CONF_H);
    assert_string_equal(j->source_id, "src");
    assert_int_equal(j->max_attempts, 4);
    assert_int_equal(j->created_ms, t + 2);
    assert_non_null(strstr(j->payload, b.backfill_id));
    assert_string_equal(conf_claims(s, j->job_id, "e1,e2", w + 10, NULL, t + 4), "NN");
    conf_complete(s, j->job_id, j->lease_id, 1, t + 5);
    conf_lease_free(&out);
    b = conf_bf_get(s, b.backfill_id);
    assert_int_equal(b.batches_done, 1);
    assert_int_equal(b.events_processed, 2);
    assert_int_equal(b.status, JE_BF_RUNNING);

    /* Batch 1 meets e2 again (a duplicate, counted) and e3; its success completes b. */
    assert_int_equal(s->ops->backfills_advance(s, t + 6, 1, 4, &err), 1);
    out = conf_lease_batch(s, &b, t + 7);
    j = &out.jobs[0];
    assert_int_equal(j->batch, 1);
    assert_string_equal(conf_claims(s, j->job_id, "e2,e3", w + CONF_H + 10, NULL, t + 8), "DN");
    assert_int_equal(conf_bf_get(s, b.backfill_id).duplicates_skipped, 1);
    conf_complete(s, j->job_id, j->lease_id, 1, t + 9);
    conf_lease_free(&out);
    b = conf_bf_get(s, b.backfill_id);
    assert_int_equal(b.status, JE_BF_COMPLETED);
    assert_int_equal(b.completed_ms, t + 9);
    assert_int_equal(b.batches_done, 2);
    assert_int_equal(b.events_processed, 3);
    assert_int_equal(s->ops->backfills_advance(s, t + 10, 1, 4, &err), 0);

    /* The facts now: every event known and processed; the same window again is a repeat
     * within the suppression time, and no more after it. */
    je_backfill_store_facts f = conf_facts(s, "src", w, w + 2 * CONF_H, t + 10);
    assert_string_equal(f.overlapping_id, "");
    assert_string_equal(f.repeated_id, b.backfill_id);
    assert_int_equal(f.known_events, 3);
    assert_int_equal(f.already_processed, 3);
    f = conf_facts(s, "src", w, w + 2 * CONF_H, t + 9 + conf_bf_limits.suppression_ms + 1);
    assert_string_equal(f.repeated_id, "");
    assert_int_equal(conf_facts(s, "src", w, w + CONF_H, t + 10).known_events, 2);

    /* A batch failing its last attempt fails its backfill; its claims count as failed. */
    je_backfill_record c = conf_bf_new(s, "src2", w, w + CONF_H, CONF_H, t + 11);
    assert_int_equal(conf_bf_move(s, "T", c.backfill_id, JE_BF_RUNNING, t + 12, &c),
                     JE_CHANGE_APPLY);
    assert_int_equal(s->ops->backfills_advance(s, t + 13, 5, 1, &err), 1);
    out = conf_lease_batch(s, &c, t + 14);
    j = &out.jobs[0];
    char answers[8];
    assert_int_equal(conf_claim(s, j->job_id, "x1,x2", w, NULL, t + 15, answers), JE_STORE_OK);
    conf_complete(s, j->job_id, j->lease_id, 0, t + 16);
    conf_lease_free(&out);
    c = conf_bf_get(s, c.backfill_id);
    assert_int_equal(c.status, JE_BF_FAILED);
    assert_int_equal(c.events_failed, 2);
    assert_int_equal(c.completed_ms, t + 16);
    assert_string_equal(c.error, "batch 0 failed its last attempt");
}

#define JE_CONF_BACKFILL_TESTS(setup, teardown)                                                    \
    cmocka_unit_test_setup_teardown(conf_backfill_create_get_list, setup, teardown),               \
        cmocka_unit_test_setup_teardown(conf_backfill_create_idempotency, setup, teardown),        \
        cmocka_unit_test_setup_teardown(conf_backfill_create_race, setup, teardown),               \
        cmocka_unit_test_setup_teardown(conf_backfill_advance_race, setup, teardown),              \
        cmocka_unit_test_setup_teardown(conf_backfill_run_race, setup, teardown),                  \
        cmocka_unit_test_setup_teardown(conf_backfill_moves_cancel, setup, teardown),              \
        cmocka_unit_test_setup_teardown(conf_backfill_life, setup, teardown),                      \
        JE_CONF_LEDGER_TESTS(setup, teardown)

#endif
