/* tests/unit/conformance/ledger.h: the event ledger helpers (claims, completing a claiming job,
 * the backfill facts that count ledger entries) shared with the backfill cases, and the
 * conformance cases of the ledger: claims and their answers, claims racing (also with their
 * jobs completing), the prune. Its cases are listed by JE_CONF_BACKFILL_TESTS (backfills.h). */
#ifndef JE_TESTS_CONFORMANCE_LEDGER_H
#define JE_TESTS_CONFORMANCE_LEDGER_H

#include "jobs.h"
#include "quotas.h"

/* ---- ledger: helpers -------------------------------------------------------------------- */

#define CONF_W0 1700000000000LL /* the start of the windows of these cases (Nov 2023) */
#define CONF_H JE_HOUR_MS

static const je_backfill_limits conf_bf_limits = {31LL * 24 * CONF_H, 10000, 24 * CONF_H};

/* Claims events (keys joined with ',', all at event_time) for job_id; the answers are written as
 * 'N' (new) or 'D' (duplicate) into answers. Returns the store's result. */
static int conf_claim(je_store *s, const char *job_id, const char *keys, int64_t event_time,
                      const char *digest, int64_t now, char *answers) {
    char buf[64][32];
    je_claim_event ev[64];
    size_t n = 0;
    for (const char *p = keys; *p && n < 64; n++) {
        size_t len = strcspn(p, ",");
        snprintf(buf[n], sizeof buf[n], "%.*s", (int)len, p);
        ev[n] = (je_claim_event){buf[n], event_time, digest, 7};
        p += len + (p[len] == ',');
    }
    je_err err;
    int rc = s->ops->ledger_claim(s, "T", "src", job_id, ev, n, now, &err);
    for (size_t i = 0; i < n; i++) answers[i] = ev[i].is_new == 1 ? 'N' : 'D';
    answers[n] = '\0';
    return rc;
}

static const char *conf_claims(je_store *s, const char *job_id, const char *keys,
                               int64_t event_time, const char *digest, int64_t now) {
    static char answers[65];
    assert_int_equal(conf_claim(s, job_id, keys, event_time, digest, now, answers), JE_STORE_OK);
    return answers;
}

static void conf_complete(je_store *s, const char *job_id, const char *lease_id, int ok,
                          int64_t now) {
    je_job done;
    je_err err;
    assert_int_equal(
        s->ops->job_complete(s, "T", job_id, lease_id, ok, ok ? NULL : "boom", now, &done, &err),
        JE_STORE_OK);
    je_job_free(&done);
}

static je_backfill_store_facts conf_facts(je_store *s, const char *source, int64_t start,
                                          int64_t end, int64_t now) {
    je_backfill_store_facts f;
    je_err err;
    assert_int_equal(s->ops->backfill_facts(s, "T", source, "scan", start, end,
                                            conf_bf_limits.suppression_ms, now, &f, &err),
                     0);
    return f;
}

/* ---- ledger: claims and prune ---------------------------------------------------------- */

static void conf_ledger_claims(void **state) {
    je_store *s = ((conf_fx *)*state)->s;
    int64_t t = conf_future(), w = CONF_W0;
    char ans[8];
    conf_quota_new(s, "T", "scan", conf_limits(10, 100000, 1000, 10), 0);
    conf_submit(s, "T", "scan", "j-a", 0, 1000);
    conf_submit(s, "T", "scan", "j-b", 0, 1001);
    conf_submit(s, "T", "scan", "j-c", 0, 1002);
    je_lease_out out = conf_lease(s, "T", "scan", 3, 60000, t);
    assert_string_equal(conf_lease_ids(&out), "j-a,j-b,j-c");
    conf_submit(s, "T", "scan", "j-p", 0, 1003); /* never leased */

    /* The same event claimed by two live jobs: only the first is new. */
    assert_string_equal(conf_claims(s, "j-a", "e1,e2", w, NULL, t + 1), "NN");
    assert_string_equal(conf_claims(s, "j-b", "e3,e2", w, NULL, t + 2), "ND");
    assert_string_equal(conf_claims(s, "j-a", "e1", w, NULL, t + 3), "N"); /* its own claim */
    /* Only a job holding a live lease claims. */
    assert_int_equal(conf_claim(s, "nope", "e9", w, NULL, t + 3, ans), JE_STORE_NOT_FOUND);
    assert_int_equal(conf_claim(s, "j-p", "e9", w, NULL, t + 3, ans), JE_STORE_LEASE_LOST);
    assert_int_equal(conf_claim(s, "j-c", "e9", w, NULL, t + 60000, ans), JE_STORE_LEASE_LOST);
    je_backfill_store_facts f = conf_facts(s, "src", w, w + 1, t + 4);
    assert_int_equal(f.known_events, 3); /* e9 was never stored */
    assert_int_equal(f.already_processed, 0);

    /* j-a succeeds: e1, e2 are processed, duplicates for everyone from now on. */
    conf_complete(s, "j-a", conf_leased(&out, "j-a")->lease_id, 1, t + 5);
    assert_string_equal(conf_claims(s, "j-b", "e1,e2", w, NULL, t + 6), "DD");
    assert_int_equal(conf_facts(s, "src", w, w + 1, t + 6).already_processed, 2);
    /* j-b fails (it will retry): its claim of e3 is given up, and j-c takes it. */
    conf_complete(s, "j-b", conf_leased(&out, "j-b")->lease_id, 0, t + 7);
    assert_string_equal(conf_claims(s, "j-c", "e3", w, NULL, t + 8), "N");
    /* j-c's lease expires: its claim holds no more, a job leased later claims e3 anew. */
    conf_submit(s, "T", "scan", "j-d", 0, 1004);
    je_lease_out later = conf_lease(s, "T", "scan", 1, 60000, t + 70000);
    assert_int_equal(later.n, 1);
    const char *d = later.jobs[0].job_id;
    assert_string_equal(conf_claims(s, d, "e3", w, NULL, t + 70001), "N");
    /* Digests: a processed event without one keeps the first given; another is new content. */
    assert_string_equal(conf_claims(s, d, "e1", w, "sha-1", t + 70002), "D");
    assert_string_equal(conf_claims(s, d, "e1", w, "sha-1", t + 70003), "D");
    assert_string_equal(conf_claims(s, d, "e1", w, "sha-2", t + 70004), "N");
    assert_string_equal(conf_claims(s, d, "e2", w, NULL, t + 70005), "D");
    conf_lease_free(&later);
    conf_lease_free(&out);
}

#define CONF_KEYS 24

typedef struct conf_claim_race {
    je_store *s;
    int64_t now;
    const je_lease_out *jobs; /* NULL: the workers lease their jobs one by one */
    atomic_int go, failures, jobs_done;
    atomic_int wins[CONF_KEYS];
} conf_claim_race;

typedef struct conf_claim_worker {
    conf_claim_race *r;
    int i;
    char prefix[8];
} conf_claim_worker;

/* Claims every key for job_id, in an order of its own (order), counting the new ones. */
static void conf_claim_all(conf_claim_race *r, const char *job_id, int order, const char *prefix) {
    char buf[CONF_KEYS][16];
    je_claim_event ev[CONF_KEYS];
    int idx[CONF_KEYS];
    for (int k = 0; k < CONF_KEYS; k++) {
        idx[k] = order % 2 ? CONF_KEYS - 1 - (k + order) % CONF_KEYS : (k * 5 + order) % CONF_KEYS;
        snprintf(buf[k], sizeof buf[k], "%s-%02d", prefix, idx[k]);
        ev[k] = (je_claim_event){buf[k], CONF_W0, NULL, 7};
    }
    je_err err;
    if (r->s->ops->ledger_claim(r->s, "T", "src", job_id, ev, CONF_KEYS, r->now, &err) != 0) {
        atomic_fetch_add(&r->failures, 1);
        return;
    }
    for (int k = 0; k < CONF_KEYS; k++)
        if (ev[k].is_new == 1)
            atomic_fetch_add(&r->wins[idx[k]], 1);
        else if (ev[k].is_new != 0)
            atomic_fetch_add(&r->failures, 1);
}

/* A worker claims for its job; or, without jobs given, leases a job, claims and completes it,
 * until no job is left. */
static void *conf_claim_main(void *p) {
    conf_claim_worker *w = p;
    conf_claim_race *r = w->r;
    while (!atomic_load(&r->go)) sched_yield();
    if (r->jobs) return conf_claim_all(r, r->jobs->jobs[w->i].job_id, w->i, w->prefix), NULL;
    static const char *const types[] = {"scan"};
    je_lease_req q = conf_lease_req(types, 1, 1, 600000, r->now);
    je_err err;
    for (int k = 0;; k++) {
        je_lease_out out;
        if (r->s->ops->jobs_lease(r->s, "T", &q, &out, &err) != 0) {
            atomic_fetch_add(&r->failures, 1);
            break;
        }
        if (out.n == 0) {
            conf_lease_free(&out);
            break;
        }
        conf_claim_all(r, out.jobs[0].job_id, w->i + k, w->prefix);
        je_job done;
        if (r->s->ops->job_complete(r->s, "T", out.jobs[0].job_id, out.jobs[0].lease_id, 1, NULL,
                                    r->now + 1, &done, &err) == JE_STORE_OK)
            atomic_fetch_add(&r->jobs_done, 1);
        else
            atomic_fetch_add(&r->failures, 1);
        je_job_free(&done);
        conf_lease_free(&out);
    }
    return NULL;
}

static void conf_claim_run(conf_claim_race *r, const char *prefix) {
    conf_claim_worker w[CONF_THREADS];
    pthread_t th[CONF_THREADS];
    for (int i = 0; i < CONF_THREADS; i++) {
        w[i] = (conf_claim_worker){r, i, ""};
        snprintf(w[i].prefix, sizeof w[i].prefix, "%s", prefix);
        assert_int_equal(pthread_create(&th[i], NULL, conf_claim_main, &w[i]), 0);
    }
    atomic_store(&r->go, 1);
    for (int i = 0; i < CONF_THREADS; i++) pthread_join(th[i], NULL);
    assert_int_equal(atomic_load(&r->failures), 0);
    for (int k = 0; k < CONF_KEYS; k++) assert_int_equal(atomic_load(&r->wins[k]), 1);
}

/* Eight live jobs claim the same events at once, each in another order: every call answers,
 * and each event is new for exactly one of them. */
static void conf_ledger_claim_race(void **state) {
    je_store *s = ((conf_fx *)*state)->s;
    int64_t t = conf_future();
    conf_quota_new(s, "T", "scan", conf_limits(100, 100000, 1000, 10), 0);
    for (int i = 0; i < CONF_THREADS; i++) {
        char id[16];
        snprintf(id, sizeof id, "c-%d", i);
        conf_submit(s, "T", "scan", id, 0, 1000 + i);
    }
    je_lease_out out = conf_lease(s, "T", "scan", CONF_THREADS, 600000, t);
    assert_int_equal(out.n, CONF_THREADS);
    conf_claim_race *r = calloc(1, sizeof *r);
    assert_non_null(r);
    const char *prefixes[] = {"k0", "k1", "k2"};
    for (int round = 0; round < 3; round++) {
        memset(r, 0, sizeof *r);
        r->s = s, r->now = t + 1 + round, r->jobs = &out;
        conf_claim_run(r, prefixes[round]);
    }
    free(r);
    assert_int_equal(conf_facts(s, "src", CONF_W0, CONF_W0 + 1, t + 10).known_events,
                     3 * CONF_KEYS);
    conf_lease_free(&out);
}

/* Workers lease jobs one by one, each claims the same events (in another order) and completes
 * its job: every event is new once, for one job, and processed once, whatever the interleaving
 * of claims and completions. */
static void conf_ledger_claim_complete_race(void **state) {
    je_store *s = ((conf_fx *)*state)->s;
    int64_t t = conf_future();
    enum { JOBS = 40 };
    conf_quota_new(s, "T", "scan", conf_limits(100, 100000, 1000, 10), 0);
    for (int i = 0; i < JOBS; i++) {
        char id[16];
        snprintf(id, sizeof id, "w-%02d", i);
        conf_submit(s, "T", "scan", id, 0, 1000 + i);
    }
    conf_claim_race *r = calloc(1, sizeof *r);
    assert_non_null(r);
    r->s = s, r->now = t;
    conf_claim_run(r, "q");
    assert_int_equal(atomic_load(&r->jobs_done), JOBS);
    free(r);
    je_backfill_store_facts f = conf_facts(s, "src", CONF_W0, CONF_W0 + 1, t + 10);
    assert_int_equal(f.known_events, CONF_KEYS);
    assert_int_equal(f.already_processed, CONF_KEYS);
}

/* Prune drops processed entries, no longer claimed, older than the time given; nothing else. */
static void conf_ledger_prune(void **state) {
    je_store *s = ((conf_fx *)*state)->s;
    je_err err;
    int64_t t = conf_future(), w = CONF_W0;
    conf_quota_new(s, "T", "scan", conf_limits(10, 100000, 1000, 10), 0);
    conf_submit(s, "T", "scan", "p-1", 0, 1000);
    conf_submit(s, "T", "scan", "p-2", 0, 1001);
    conf_submit(s, "T", "scan", "p-3", 0, 1002);
    je_lease_out out = conf_lease(s, "T", "scan", 3, 600000, t);
    assert_int_equal(out.n, 3);
    assert_string_equal(conf_claims(s, "p-1", "o1,o2", w, NULL, t + 1), "NN");
    assert_string_equal(conf_claims(s, "p-1", "n1", w + 10 * CONF_H, NULL, t + 1), "N");
    assert_string_equal(conf_claims(s, "p-2", "o3", w, NULL, t + 1), "N");
    assert_string_equal(conf_claims(s, "p-3", "o4", w, NULL, t + 1), "N");
    conf_complete(s, "p-1", conf_leased(&out, "p-1")->lease_id, 1, t + 2);
    conf_complete(s, "p-3", conf_leased(&out, "p-3")->lease_id, 0, t + 2); /* o4 given up */
    assert_int_equal(conf_facts(s, "src", w - CONF_H, w + 24 * CONF_H, t + 3).known_events, 5);

    /* o1, o2: processed and old; n1 is too new, o3 still claimed, o4 never processed. */
    assert_int_equal(s->ops->ledger_prune(s, w + CONF_H, &err), 2);
    assert_int_equal(s->ops->ledger_prune(s, w + CONF_H, &err), 0);
    je_backfill_store_facts f = conf_facts(s, "src", w - CONF_H, w + 24 * CONF_H, t + 3);
    assert_int_equal(f.known_events, 3);
    assert_int_equal(f.already_processed, 1);
    /* A pruned event is unknown again: new to the next claim. */
    assert_string_equal(conf_claims(s, "p-2", "o1,o3,n1", w, NULL, t + 4), "NND");
    assert_int_equal(s->ops->ledger_prune(s, w + 11 * CONF_H, &err), 1); /* n1 (a duplicate) */
    conf_lease_free(&out);
}

#define JE_CONF_LEDGER_TESTS(setup, teardown)                                                      \
    cmocka_unit_test_setup_teardown(conf_ledger_claims, setup, teardown),                          \
        cmocka_unit_test_setup_teardown(conf_ledger_claim_race, setup, teardown),                  \
        cmocka_unit_test_setup_teardown(conf_ledger_claim_complete_race, setup, teardown),         \
        cmocka_unit_test_setup_teardown(conf_ledger_prune, setup, teardown)

#endif
