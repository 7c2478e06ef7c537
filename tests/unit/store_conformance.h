/* tests/unit/store_conformance.h: the backend-independent conformance cases of store/store.h.
 * Written against store.h only, so every backend runs the same cases: a backend's test file
 * includes this header, provides a setup that fills a conf_fx (an open store on a fresh,
 * empty database and the URL that reopens it) and a teardown, and lists
 * JE_STORE_CONFORMANCE_TESTS(setup, teardown) among its cmocka tests.
 * Worker threads never call cmocka asserts: they count failures and the main thread checks. */
#ifndef JE_TESTS_STORE_CONFORMANCE_H
#define JE_TESTS_STORE_CONFORMANCE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "core/audit.h"
#include "core/jcs.h"
#include "store/store.h"

typedef struct conf_fx {
    je_store *s;
    char url[1200]; /* je_store_open(url) reopens the same database */
    void *backend;  /* the backend test's own data */
} conf_fx;

/* ---- helpers ---------------------------------------------------------------------------- */

static atomic_long conf_entry_counter;

typedef struct conf_ev {
    const char *tenant, *event_type, *resource_type, *resource_id, *actor;
    int64_t occurred_ms;
} conf_ev;

static json_t *conf_entry(const conf_ev *e) {
    char id[64];
    snprintf(id, sizeof id, "entry-%ld", atomic_fetch_add(&conf_entry_counter, 1) + 1);
    je_audit_fields f = {id,
                         e->tenant,
                         e->event_type,
                         e->resource_type,
                         e->resource_id,
                         e->actor,
                         "client",
                         NULL,
                         NULL,
                         e->occurred_ms,
                         json_pack("{s:i}", "n", 1)};
    return je_audit_entry_new(&f);
}

static int conf_append(je_store *s, const char *tenant, int64_t ms, je_err *err) {
    conf_ev ev = {tenant, "quota.updated", "quota", "q1", "ops-bot", ms};
    json_t *e = conf_entry(&ev);
    int rc = e ? s->ops->audit_append(s, e, err) : -1;
    json_decref(e);
    return rc;
}

typedef struct conf_seqs {
    int64_t seq[256];
    size_t n;
    int stop_after; /* stop the visit after this many (0: never) */
} conf_seqs;

static int conf_collect(void *ctx, int64_t sequence, const char *json, size_t len) {
    conf_seqs *c = ctx;
    (void)json;
    (void)len;
    if (c->n < 256) c->seq[c->n] = sequence;
    c->n++;
    return c->stop_after && (int)c->n >= c->stop_after;
}

/* Asserts the visited sequences are exactly the n given. */
static void conf_expect(const conf_seqs *c, size_t n, const int64_t *want) {
    assert_int_equal(c->n, n);
    for (size_t i = 0; i < n; i++) assert_int_equal(c->seq[i], want[i]);
}

static int conf_feed(void *ctx, int64_t sequence, const char *json, size_t len) {
    (void)sequence;
    je_audit_verifier_feed_text(ctx, json, len);
    return 0;
}

/* Verifies tenant's whole chain through audit_scan. */
static je_audit_verifier conf_verify(je_store *s, const char *tenant) {
    je_audit_verifier v;
    je_err err;
    je_audit_verifier_init(&v, 1, JE_AUDIT_ZERO_HASH);
    assert_int_equal(s->ops->audit_scan(s, tenant, 1, conf_feed, &v, &err), 0);
    return v;
}

static double conf_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static je_client conf_client(const char *id, unsigned char fill, const char *tenant) {
    je_client c;
    memset(&c, 0, sizeof c);
    snprintf(c.id, sizeof c.id, "%s", id);
    memset(c.secret_sha256, fill, sizeof c.secret_sha256);
    c.n_tenants = 2;
    snprintf(c.tenants[0], sizeof c.tenants[0], "%s", tenant);
    snprintf(c.tenants[1], sizeof c.tenants[1], "shared");
    c.n_roles = 1;
    snprintf(c.roles[0], sizeof c.roles[0], "operator");
    c.created_ms = 1000;
    c.updated_ms = 1000;
    return c;
}

static int conf_count_clients(void *ctx, const je_client *c) {
    (void)c;
    ++*(int *)ctx;
    return 0;
}

/* ---- clients ---------------------------------------------------------------------------- */

static void conf_client_crud(void **state) {
    je_store *s = ((conf_fx *)*state)->s;
    je_err err;
    je_client a = conf_client("alpha", 0xAA, "acme"), b = conf_client("beta", 0xBB, "zeta"), got;
    assert_int_equal(s->ops->client_get(s, "alpha", &got, &err), 0);
    assert_int_equal(s->ops->client_put(s, &a, 1, &err), 0);
    assert_int_equal(s->ops->client_get(s, "alpha", &got, &err), 1);
    assert_memory_equal(&got, &a, sizeof a);

    assert_int_equal(s->ops->client_put(s, &a, 1, &err), -1);
    assert_string_equal(err.code, "CONFLICT");

    je_client a2 = conf_client("alpha", 0xCC, "other");
    a2.n_roles = 2;
    snprintf(a2.roles[1], sizeof a2.roles[1], "auditor");
    a2.created_ms = 5000;
    a2.updated_ms = 6000;
    assert_int_equal(s->ops->client_put(s, &a2, 0, &err), 0);
    assert_int_equal(s->ops->client_get(s, "alpha", &got, &err), 1);
    assert_memory_equal(got.secret_sha256, a2.secret_sha256, 32);
    assert_string_equal(got.tenants[0], "other");
    assert_int_equal(got.n_roles, 2);
    assert_string_equal(got.roles[1], "auditor");
    assert_int_equal(got.created_ms, 1000); /* replacing keeps the creation time */
    assert_int_equal(got.updated_ms, 6000);

    assert_int_equal(s->ops->client_put(s, &b, 0, &err), 0); /* replace creates when absent */
    assert_int_equal(s->ops->client_count(s, &err), 2);
    int n = 0;
    assert_int_equal(s->ops->client_list(s, conf_count_clients, &n, &err), 0);
    assert_int_equal(n, 2);

    assert_int_equal(s->ops->client_remove(s, "alpha", &err), 1);
    assert_int_equal(s->ops->client_remove(s, "alpha", &err), 0);
    assert_int_equal(s->ops->client_get(s, "alpha", &got, &err), 0);
    assert_int_equal(s->ops->client_count(s, &err), 1);
}

/* ---- signing keys ----------------------------------------------------------------------- */

static je_key conf_key(const char *kid, int64_t created, unsigned char fill) {
    je_key k;
    memset(&k, 0, sizeof k);
    snprintf(k.kid, sizeof k.kid, "%s", kid);
    memset(k.priv, fill, sizeof k.priv);
    memset(k.pub, fill ^ 0xFF, sizeof k.pub);
    k.created_ms = created;
    return k;
}

static void conf_keys(void **state) {
    je_store *s = ((conf_fx *)*state)->s;
    je_err err;
    je_key out[8];
    size_t n = 99;
    assert_int_equal(s->ops->key_list(s, out, 8, &n, &err), 0);
    assert_int_equal(n, 0);
    je_key k1 = conf_key("k1", 1000, 1), k2 = conf_key("k2", 3000, 2), k3 = conf_key("k3", 2000, 3);
    assert_int_equal(s->ops->key_add(s, &k1, &err), 0);
    assert_int_equal(s->ops->key_add(s, &k2, &err), 0);
    assert_int_equal(s->ops->key_add(s, &k3, &err), 0); /* added last: current, though older */
    assert_int_equal(s->ops->key_list(s, out, 8, &n, &err), 0);
    assert_int_equal(n, 3);
    assert_string_equal(out[0].kid, "k2");
    assert_string_equal(out[1].kid, "k3");
    assert_string_equal(out[2].kid, "k1");
    assert_int_equal(out[0].current + out[1].current + out[2].current, 1);
    assert_int_equal(out[1].current, 1);
    assert_memory_equal(out[1].priv, k3.priv, 32);
    assert_memory_equal(out[1].pub, k3.pub, 32);
    assert_int_equal(out[1].created_ms, 2000);

    assert_int_equal(s->ops->key_list(s, out, 2, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(s->ops->key_add(s, &k1, &err), -1); /* a kid is added once */
    assert_string_equal(err.code, "CONFLICT");
    assert_int_equal(s->ops->key_list(s, out, 8, &n, &err), 0);
    assert_int_equal(out[1].current, 1); /* the failed add changed nothing */
}

/* ---- revoked tokens --------------------------------------------------------------------- */

static int conf_collect_jti(void *ctx, const char *jti, int64_t exp_ms) {
    char *out = ctx;
    char one[64];
    snprintf(one, sizeof one, "%s@%lld ", jti, (long long)exp_ms);
    strcat(out, one);
    return 0;
}

static void conf_revoked(void **state) {
    je_store *s = ((conf_fx *)*state)->s;
    je_err err;
    char out[512] = "";
    assert_int_equal(s->ops->revoke_add(s, "a", 100, &err), 0);
    assert_int_equal(s->ops->revoke_add(s, "b", 200, &err), 0);
    assert_int_equal(s->ops->revoke_add(s, "c", 300, &err), 0);
    assert_int_equal(s->ops->revoke_add(s, "a", 100, &err), 0); /* again: no-op */
    assert_int_equal(s->ops->revoked_list(s, 0, conf_collect_jti, out, &err), 0);
    assert_string_equal(out, "a@100 b@200 c@300 ");
    out[0] = '\0';
    assert_int_equal(s->ops->revoked_list(s, 200, conf_collect_jti, out, &err), 0);
    assert_string_equal(out, "c@300 "); /* exp_ms > now only */
    out[0] = '\0';
    assert_int_equal(s->ops->revoked_list(s, 300, conf_collect_jti, out, &err), 0);
    assert_string_equal(out, "");
}

/* ---- audit: chains ---------------------------------------------------------------------- */

typedef struct conf_texts {
    char *text[8];
    int n;
} conf_texts;

static int conf_collect_text(void *ctx, int64_t sequence, const char *json, size_t len) {
    conf_texts *t = ctx;
    (void)sequence;
    if (t->n < 8) t->text[t->n++] = strndup(json, len);
    return 0;
}

static void conf_audit_chain(void **state) {
    je_store *s = ((conf_fx *)*state)->s;
    je_err err;
    const char *order[] = {"A", "B", "A", "A", "B"};
    int64_t want[] = {1, 1, 2, 3, 2};
    char prev_a[65] = JE_AUDIT_ZERO_HASH, prev_b[65] = JE_AUDIT_ZERO_HASH;
    char *canon[5];
    for (int i = 0; i < 5; i++) {
        conf_ev ev = {order[i], "quota.created", "quota", "q", "bot", 1000 + i};
        json_t *e = conf_entry(&ev);
        assert_int_equal(s->ops->audit_append(s, e, &err), 0);
        assert_int_equal(json_integer_value(json_object_get(e, "sequence")), want[i]);
        char *prev = order[i][0] == 'A' ? prev_a : prev_b;
        assert_string_equal(json_string_value(json_object_get(e, "previousHash")), prev);
        const char *hash = json_string_value(json_object_get(e, "hash"));
        assert_non_null(hash);
        assert_int_equal(strlen(hash), JE_AUDIT_HASH_LEN);
        assert_string_not_equal(hash, prev);
        snprintf(prev, 65, "%s", hash);
        canon[i] = je_jcs_dumps(e, NULL);
        json_decref(e);
    }
    conf_texts t = {{NULL}, 0};
    assert_int_equal(s->ops->audit_scan(s, "A", 1, conf_collect_text, &t, &err), 0);
    assert_int_equal(t.n, 3);
    assert_string_equal(t.text[0], canon[0]); /* stored exactly in canonical form */
    assert_string_equal(t.text[2], canon[3]);
    for (int i = 0; i < t.n; i++) free(t.text[i]);
    for (int i = 0; i < 5; i++) free(canon[i]);
    je_audit_verifier va = conf_verify(s, "A"), vb = conf_verify(s, "B");
    assert_true(va.valid && va.entries == 3);
    assert_true(vb.valid && vb.entries == 2);
    assert_int_equal(conf_verify(s, "nobody").entries, 0);
}

static void conf_audit_list_filters(void **state) {
    je_store *s = ((conf_fx *)*state)->s;
    je_err err;
    conf_ev evs[] = {
        {"T", "quota.created", "quota", "q1", "alice", 1000},
        {"T", "quota.updated", "quota", "q1", "bob", 2000},
        {"U", "quota.updated", "quota", "q1", "alice", 2500},
        {"T", "backfill.created", "backfill", "b1", "alice", 3000},
        {"T", "quota.updated", "quota", "q2", "alice", 4000},
        {"T", "quota.deleted", "quota", "q1", "bob", 5000},
    };
    for (size_t i = 0; i < sizeof evs / sizeof evs[0]; i++) {
        json_t *e = conf_entry(&evs[i]);
        assert_int_equal(s->ops->audit_append(s, e, &err), 0);
        json_decref(e);
    }
    je_audit_filter all = {NULL, NULL, NULL, NULL, INT64_MIN, INT64_MAX, 0, 100}, f;
    conf_seqs c;
#define CONF_LIST(tenant, ...)                                                                     \
    do {                                                                                           \
        memset(&c, 0, sizeof c);                                                                   \
        assert_int_equal(s->ops->audit_list(s, tenant, &f, conf_collect, &c, &err), 0);            \
        int64_t want_[] = {__VA_ARGS__};                                                           \
        conf_expect(&c, sizeof want_ / sizeof want_[0], want_);                                    \
    } while (0)
    f = all;
    CONF_LIST("T", 1, 2, 3, 4, 5);
    CONF_LIST("U", 1);
    f.event_type = "quota.updated";
    CONF_LIST("T", 2, 4);
    f.actor = "alice";
    CONF_LIST("T", 4);
    f = all, f.resource_type = "backfill";
    CONF_LIST("T", 3);
    f = all, f.resource_type = "quota", f.resource_id = "q1";
    CONF_LIST("T", 1, 2, 5);
    f = all, f.actor = "alice";
    CONF_LIST("T", 1, 3, 4);
    f = all, f.since_ms = 2000; /* inclusive */
    CONF_LIST("T", 2, 3, 4, 5);
    f = all, f.until_ms = 4000; /* exclusive */
    CONF_LIST("T", 1, 2, 3);
    f = all, f.since_ms = 2000, f.until_ms = 4000;
    CONF_LIST("T", 2, 3);
    f = all, f.after_sequence = 3;
    CONF_LIST("T", 4, 5);
    f = all, f.limit = 2;
    CONF_LIST("T", 1, 2);
    f = all, f.after_sequence = 2, f.limit = 2;
    CONF_LIST("T", 3, 4);
    f = all, f.event_type = "nothing.like.this";
    memset(&c, 0, sizeof c);
    assert_int_equal(s->ops->audit_list(s, "T", &f, conf_collect, &c, &err), 0);
    assert_int_equal(c.n, 0);
    f = all, f.limit = 0;
    memset(&c, 0, sizeof c);
    assert_int_equal(s->ops->audit_list(s, "T", &f, conf_collect, &c, &err), 0);
    assert_int_equal(c.n, 0);
#undef CONF_LIST
}

static void conf_audit_scan_middle(void **state) {
    je_store *s = ((conf_fx *)*state)->s;
    je_err err;
    char hash3[65] = "";
    for (int i = 1; i <= 10; i++) {
        conf_ev ev = {"T", "quota.updated", "quota", "q1", "bot", 1000 * i};
        json_t *e = conf_entry(&ev);
        assert_int_equal(s->ops->audit_append(s, e, &err), 0);
        if (i == 3)
            snprintf(hash3, sizeof hash3, "%s", json_string_value(json_object_get(e, "hash")));
        json_decref(e);
    }
    conf_seqs c;
    memset(&c, 0, sizeof c);
    assert_int_equal(s->ops->audit_scan(s, "T", 4, conf_collect, &c, &err), 0);
    conf_expect(&c, 7, (int64_t[]){4, 5, 6, 7, 8, 9, 10});
    memset(&c, 0, sizeof c);
    c.stop_after = 2; /* the visitor stops the scan */
    assert_int_equal(s->ops->audit_scan(s, "T", 4, conf_collect, &c, &err), 0);
    conf_expect(&c, 2, (int64_t[]){4, 5});
    memset(&c, 0, sizeof c);
    assert_int_equal(s->ops->audit_scan(s, "T", 11, conf_collect, &c, &err), 0);
    assert_int_equal(c.n, 0);

    je_audit_verifier v;
    je_audit_verifier_init(&v, 4, hash3);
    assert_int_equal(s->ops->audit_scan(s, "T", 4, conf_feed, &v, &err), 0);
    assert_true(v.valid);
    assert_int_equal(v.entries, 7);
}

/* ---- concurrency ------------------------------------------------------------------------ */

#define CONF_THREADS 8
#define CONF_PER_THREAD 200

typedef struct conf_worker {
    je_store *s;
    const char *tenant;
    int appends;
    int dup_puts; /* client_put create_only of one shared id */
    int bad;      /* entries that cannot be sealed (a real in details) */
    int id;
    atomic_int *failures, *created, *conflicts, *rejected;
} conf_worker;

static void conf_worker_bad(conf_worker *w, je_err *err) {
    conf_ev ev = {w->tenant, "quota.updated", "quota", "q1", "bot", 1};
    json_t *e = conf_entry(&ev);
    json_object_set_new(json_object_get(e, "details"), "rate", json_real(0.5));
    if (w->s->ops->audit_append(w->s, e, err) == 0 || strcmp(err->code, "AUDIT_INVALID") != 0)
        atomic_fetch_add(w->failures, 1);
    else
        atomic_fetch_add(w->rejected, 1);
    json_decref(e);
}

static void *conf_worker_main(void *p) {
    conf_worker *w = p;
    je_err err;
    for (int i = 0; i < w->appends || i < w->dup_puts || i < w->bad; i++) {
        if (i < w->appends && conf_append(w->s, w->tenant, 1000 + i, &err) < 0)
            atomic_fetch_add(w->failures, 1);
        if (i < w->dup_puts) {
            je_client c = conf_client(i % 2 ? "dup" : "uniq", 1, "acme");
            if (i % 2 == 0) snprintf(c.id, sizeof c.id, "uniq-%d-%d", w->id, i);
            if (w->s->ops->client_put(w->s, &c, 1, &err) == 0)
                atomic_fetch_add(w->created, 1);
            else if (strcmp(err.code, "CONFLICT") == 0)
                atomic_fetch_add(w->conflicts, 1);
            else
                atomic_fetch_add(w->failures, 1);
        }
        if (i < w->bad) conf_worker_bad(w, &err);
    }
    return NULL;
}

/* Runs n workers at once; returns the seconds taken. */
static double conf_run(conf_worker *w, int n) {
    pthread_t t[CONF_THREADS];
    double t0 = conf_now();
    for (int i = 0; i < n; i++)
        assert_int_equal(pthread_create(&t[i], NULL, conf_worker_main, &w[i]), 0);
    for (int i = 0; i < n; i++) pthread_join(t[i], NULL);
    return conf_now() - t0;
}

static void conf_gapless(je_store *s, const char *tenant, int64_t n) {
    je_audit_verifier v = conf_verify(s, tenant);
    assert_true(v.valid);
    assert_int_equal(v.entries, n);
    assert_int_equal(v.next_sequence, n + 1);
}

static void conf_audit_concurrent(void **state) {
    je_store *s = ((conf_fx *)*state)->s;
    atomic_int failures = 0, unused = 0;
    conf_worker one = {s, "solo", CONF_PER_THREAD, 0, 0, 0, &failures, &unused, &unused, &unused};
    double t1 = conf_run(&one, 1);
    conf_worker w[CONF_THREADS];
    for (int i = 0; i < CONF_THREADS; i++) w[i] = one, w[i].tenant = "busy", w[i].id = i;
    double t8 = conf_run(w, CONF_THREADS);
    assert_int_equal(atomic_load(&failures), 0);
    print_message("audit appends: 1 thread %.0f/s, %d threads %.0f/s\n", CONF_PER_THREAD / t1,
                  CONF_THREADS, CONF_THREADS * CONF_PER_THREAD / t8);
    conf_gapless(s, "busy", CONF_THREADS * CONF_PER_THREAD);
    conf_gapless(s, "solo", CONF_PER_THREAD);
}

/* Failing ops (a create_only conflict, an entry that cannot be sealed) batched with good ones
 * fail alone: every append lands, gapless, and exactly one create of "dup" wins. */
static void conf_batch_isolation(void **state) {
    je_store *s = ((conf_fx *)*state)->s;
    je_err err;
    atomic_int failures = 0, created = 0, conflicts = 0, rejected = 0;
    conf_worker w[CONF_THREADS];
    for (int i = 0; i < CONF_THREADS; i++) {
        conf_worker x = {s, "T", 0, 0, 0, i, &failures, &created, &conflicts, &rejected};
        if (i % 2)
            x.appends = 100, x.bad = 10;
        else
            x.dup_puts = 60;
        w[i] = x;
    }
    conf_run(w, CONF_THREADS);
    assert_int_equal(atomic_load(&failures), 0);
    /* 4 threads x 30 unique ids, plus one "dup" */
    assert_int_equal(atomic_load(&created), 4 * 30 + 1);
    assert_int_equal(atomic_load(&conflicts), 4 * 30 - 1);
    assert_int_equal(atomic_load(&rejected), 4 * 10);
    assert_int_equal(s->ops->client_count(s, &err), 4 * 30 + 1);
    conf_gapless(s, "T", 4 * 100);
}

/* ---- durability ------------------------------------------------------------------------- */

static void conf_reopen(void **state) {
    conf_fx *fx = *state;
    je_err err;
    je_client c = conf_client("keeper", 7, "acme"), got;
    je_key k = conf_key("kk", 42, 9), keys[2];
    size_t n = 0;
    char out[128] = "";
    assert_int_equal(fx->s->ops->client_put(fx->s, &c, 1, &err), 0);
    assert_int_equal(fx->s->ops->key_add(fx->s, &k, &err), 0);
    assert_int_equal(fx->s->ops->revoke_add(fx->s, "j1", 500, &err), 0);
    for (int i = 0; i < 3; i++) assert_int_equal(conf_append(fx->s, "T", 1000, &err), 0);
    int version = fx->s->ops->schema_version(fx->s);
    assert_true(version >= 1);

    je_store_close(fx->s);
    fx->s = je_store_open(fx->url, &err);
    assert_non_null(fx->s);
    je_store *s = fx->s;
    assert_int_equal(s->ops->ping(s, &err), 0);
    assert_int_equal(s->ops->schema_version(s), version);
    assert_int_equal(s->ops->client_get(s, "keeper", &got, &err), 1);
    assert_memory_equal(&got, &c, sizeof c);
    assert_int_equal(s->ops->key_list(s, keys, 2, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_true(keys[0].current);
    assert_memory_equal(keys[0].priv, k.priv, 32);
    assert_int_equal(s->ops->revoked_list(s, 0, conf_collect_jti, out, &err), 0);
    assert_string_equal(out, "j1@500 ");
    assert_int_equal(conf_append(s, "T", 2000, &err), 0); /* the chain goes on after reopening */
    conf_gapless(s, "T", 4);
}

/* ---- quotas: helpers -------------------------------------------------------------------- */

static int64_t conf_wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A fixed "now" for decisions: one minute into an hour that has not begun yet, so that every
 * decision of a test at T + (less than 59 minutes) falls in the same UTC hour, after the
 * quota's creation (whose callback runs at the store's own clock). */
static int64_t conf_future(void) {
    return je_hour_floor(conf_wall_ms()) + 2 * JE_HOUR_MS + 60000;
}

static je_quota_limits conf_limits(int64_t max_active, int64_t max_per_hour, int64_t burst,
                                   double refill) {
    je_quota_limits l = {max_active, max_per_hour, burst, refill};
    return l;
}

/* What the change callback does. */
enum { CONF_Q_CREATE, CONF_Q_PAUSE, CONF_Q_ELEVATE, CONF_Q_RENAME };

typedef struct conf_change {
    int kind;               /* what an existing record becomes (a missing one is created) */
    const char *job_type;   /* the job type of a created (or renamed) quota */
    je_quota_limits limits; /* create: its limits; elevate: the elevated limits */
    int paused;             /* create: starts paused */
    int64_t expires_ms;     /* elevate: until */
    int when_new;           /* returned when the quota does not exist: JE_CHANGE_* or -1 */
    int when_exists;        /* returned when it does */
    const char *event;      /* the audit entry to set (also for DENY and -1); NULL: none */
    /* out */
    int calls, exists;
    char tenant_seen[JE_TENANT_MAX + 1];
} conf_change;

static conf_change conf_change_of(int kind, const char *job_type, je_quota_limits l, int when_new,
                                  int when_exists, const char *event) {
    conf_change c;
    memset(&c, 0, sizeof c);
    c.kind = kind;
    c.job_type = job_type;
    c.limits = l;
    c.expires_ms = JE_NO_TIME;
    c.when_new = when_new;
    c.when_exists = when_exists;
    c.event = event;
    return c;
}

/* The record is edited also when the callback then fails (-1): nothing of it may be stored. */
static int conf_change_fn(void *ctx, je_quota_record *rec, int exists, int64_t now_ms,
                          json_t **audit, je_err *err) {
    conf_change *c = ctx;
    c->calls++;
    c->exists = exists;
    snprintf(c->tenant_seen, sizeof c->tenant_seen, "%s", rec->tenant_id);
    int rc = exists ? c->when_exists : c->when_new;
    if (rc == JE_CHANGE_APPLY || rc == -1) {
        if (!exists) {
            je_uuid7(now_ms, rec->quota_id);
            snprintf(rec->job_type, sizeof rec->job_type, "%s", c->job_type);
            je_quota_init(&rec->q, &c->limits, now_ms);
            rec->q.paused = c->paused;
            rec->version = 1;
            rec->created_ms = now_ms;
            snprintf(rec->created_by, sizeof rec->created_by, "conf-bot");
        } else {
            rec->version++;
            if (c->kind == CONF_Q_PAUSE) {
                rec->q.paused = 1;
                snprintf(rec->pause_reason, sizeof rec->pause_reason, "maintenance");
                snprintf(rec->pause_ticket, sizeof rec->pause_ticket, "OPS-7");
            } else if (c->kind == CONF_Q_ELEVATE) {
                je_quota_elevate(&rec->q, &c->limits, c->expires_ms);
            } else if (c->kind == CONF_Q_RENAME) {
                snprintf(rec->job_type, sizeof rec->job_type, "%s", c->job_type);
            }
        }
        rec->updated_ms = now_ms;
        snprintf(rec->updated_by, sizeof rec->updated_by, "conf-bot");
        snprintf(rec->last_reason, sizeof rec->last_reason, "conformance");
        snprintf(rec->last_ticket, sizeof rec->last_ticket, "OPS-1");
    }
    if (c->event) {
        conf_ev ev = {rec->tenant_id, c->event, "quota", rec->quota_id[0] ? rec->quota_id : NULL,
                      "conf-bot",     now_ms};
        *audit = conf_entry(&ev);
    }
    if (rc < 0) return je_err_set(err, "TEST", "the change callback failed");
    return rc;
}

/* Creates a quota of job_type (without audit) and returns it. */
static je_quota_record conf_quota_new(je_store *s, const char *tenant, const char *job_type,
                                      je_quota_limits l, int paused) {
    conf_change c =
        conf_change_of(CONF_Q_CREATE, job_type, l, JE_CHANGE_APPLY, JE_CHANGE_DENY, NULL);
    c.paused = paused;
    je_quota_record out;
    je_err err;
    assert_int_equal(
        s->ops->quota_change(s, tenant, NULL, job_type, conf_change_fn, &c, NULL, &out, &err),
        JE_CHANGE_APPLY);
    assert_int_equal(c.calls, 1);
    assert_int_equal(c.exists, 0);
    assert_string_equal(c.tenant_seen, tenant);
    return out;
}

static je_quota_record conf_quota_get(je_store *s, const char *tenant, const char *quota_id) {
    je_quota_record r;
    je_err err;
    assert_int_equal(s->ops->quota_get(s, tenant, quota_id, &r, &err), 1);
    return r;
}

static void conf_limits_equal(const je_quota_limits *a, const je_quota_limits *b) {
    assert_int_equal(a->max_active, b->max_active);
    assert_int_equal(a->max_per_hour, b->max_per_hour);
    assert_int_equal(a->burst_capacity, b->burst_capacity);
    assert_true(a->refill_per_second == b->refill_per_second);
}

/* Every stored member of two records is equal. */
static void conf_quota_same(const je_quota_record *a, const je_quota_record *b) {
    assert_string_equal(a->quota_id, b->quota_id);
    assert_string_equal(a->tenant_id, b->tenant_id);
    assert_string_equal(a->job_type, b->job_type);
    conf_limits_equal(&a->q.limits, &b->q.limits);
    assert_int_equal(a->q.paused, b->q.paused);
    assert_int_equal(a->q.state.active, b->q.state.active);
    assert_int_equal(a->q.state.hour_count, b->q.state.hour_count);
    assert_int_equal(a->q.state.hour_start_ms, b->q.state.hour_start_ms);
    assert_true(a->q.state.tokens == b->q.state.tokens);
    assert_int_equal(a->q.state.last_refill_ms, b->q.state.last_refill_ms);
    assert_int_equal(a->q.state.throttled, b->q.state.throttled);
    assert_int_equal(a->q.state.throttled_hour_ms, b->q.state.throttled_hour_ms);
    assert_int_equal(a->q.elevation_expires_ms, b->q.elevation_expires_ms);
    conf_limits_equal(&a->q.previous, &b->q.previous);
    assert_string_equal(a->pause_reason, b->pause_reason);
    assert_string_equal(a->pause_ticket, b->pause_ticket);
    assert_int_equal(a->version, b->version);
    assert_int_equal(a->created_ms, b->created_ms);
    assert_int_equal(a->updated_ms, b->updated_ms);
    assert_string_equal(a->created_by, b->created_by);
    assert_string_equal(a->updated_by, b->updated_by);
    assert_string_equal(a->last_reason, b->last_reason);
    assert_string_equal(a->last_ticket, b->last_ticket);
}

/* Job types visited by quota_list, joined with ','. */
typedef struct conf_qlist {
    char joined[1024];
    int n;
    int stop_after; /* 0: never */
} conf_qlist;

static int conf_collect_quota(void *ctx, const je_quota_record *q) {
    conf_qlist *l = ctx;
    size_t used = strlen(l->joined);
    snprintf(l->joined + used, sizeof l->joined - used, "%s%s", l->n ? "," : "", q->job_type);
    l->n++;
    return l->stop_after && l->n >= l->stop_after;
}

static void conf_list_expect(je_store *s, const char *tenant, const char *job_type, int paused,
                             const char *after, int limit, const char *want) {
    je_quota_filter f = {job_type, paused, after, limit};
    conf_qlist l;
    memset(&l, 0, sizeof l);
    je_err err;
    assert_int_equal(s->ops->quota_list(s, tenant, &f, conf_collect_quota, &l, &err), 0);
    assert_string_equal(l.joined, want);
}

/* The length of tenant's (valid) chain. */
static int64_t conf_chain_len(je_store *s, const char *tenant) {
    je_audit_verifier v = conf_verify(s, tenant);
    assert_true(v.valid);
    return v.entries;
}

static int conf_keep_last(void *ctx, int64_t sequence, const char *json, size_t len) {
    char **last = ctx;
    (void)sequence;
    free(*last);
    *last = strndup(json, len);
    return 0;
}

/* Asserts tenant's last entry has the event type (and resource id, when not NULL). */
static void conf_last_event(je_store *s, const char *tenant, const char *event,
                            const char *resource_id) {
    char *last = NULL;
    je_err err;
    assert_int_equal(s->ops->audit_scan(s, tenant, 1, conf_keep_last, &last, &err), 0);
    assert_non_null(last);
    json_t *j = json_loads(last, 0, NULL);
    free(last);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "eventType")), event);
    if (resource_id)
        assert_string_equal(json_string_value(json_object_get(j, "resourceId")), resource_id);
    json_decref(j);
}

static je_acquire conf_acquire(je_store *s, const char *tenant, const char *quota_id,
                               int64_t ttl_ms, int64_t now_ms) {
    je_acquire a;
    je_err err;
    assert_int_equal(
        s->ops->quota_acquire(s, tenant, quota_id, ttl_ms, now_ms, NULL, NULL, &a, &err), 1);
    return a;
}

static je_idem conf_idem(const char *key, const char *path, char hash_fill,
                         char *(*render)(void *, int *), void *render_ctx) {
    je_idem i;
    memset(&i, 0, sizeof i);
    i.key = key;
    i.method = "POST";
    i.path = path;
    memset(i.request_hash, hash_fill, 64);
    i.request_hash[64] = '\0';
    i.render = render;
    i.render_ctx = render_ctx;
    return i;
}

/* Renders a created quota (render_ctx: the record quota_change fills). */
typedef struct conf_render {
    const je_quota_record *rec;
    const je_acquire *acq;
    int calls;
} conf_render;

static char *conf_render_fn(void *ctx, int *status) {
    conf_render *r = ctx;
    char *body = malloc(256);
    if (!body) return NULL;
    r->calls++;
    if (r->acq) {
        *status = 200;
        snprintf(body, 256, "{\"granted\":true,\"permitId\":\"%s\",\"expiresAt\":%lld}",
                 r->acq->permit_id, (long long)r->acq->expires_ms);
    } else {
        *status = 201;
        snprintf(body, 256, "{\"quotaId\":\"%s\",\"jobType\":\"%s\",\"version\":%lld}",
                 r->rec->quota_id, r->rec->job_type, (long long)r->rec->version);
    }
    return body;
}

/* ---- quotas: changes -------------------------------------------------------------------- */

static void conf_quota_create_get_list(void **state) {
    je_store *s = ((conf_fx *)*state)->s;
    je_err err;
    je_quota_limits l = conf_limits(10, 1000, 50, 0.5);
    conf_change c =
        conf_change_of(CONF_Q_CREATE, "scan.image", l, JE_CHANGE_APPLY, JE_CHANGE_DENY, NULL);
    je_quota_record out, got;
    int64_t before = conf_wall_ms();
    assert_int_equal(
        s->ops->quota_change(s, "T", NULL, "scan.image", conf_change_fn, &c, NULL, &out, &err),
        JE_CHANGE_APPLY);
    int64_t after = conf_wall_ms();
    assert_int_equal(c.calls, 1);
    assert_int_equal(c.exists, 0);
    assert_string_equal(c.tenant_seen, "T");
    assert_int_equal(strlen(out.quota_id), 36);
    assert_string_equal(out.tenant_id, "T");
    assert_string_equal(out.job_type, "scan.image");
    assert_int_equal(out.version, 1);
    assert_true(out.created_ms >= before - 1000 && out.created_ms <= after + 1000);

    got = conf_quota_get(s, "T", out.quota_id);
    conf_quota_same(&got, &out);
    conf_limits_equal(&got.q.limits, &l);
    assert_true(got.q.state.tokens == 50.0); /* a new quota starts full */
    assert_int_equal(got.q.state.active, 0);
    assert_int_equal(got.q.state.hour_count, 0);
    assert_int_equal(got.q.paused, 0);
    assert_int_equal(got.q.elevation_expires_ms, JE_NO_TIME);
    assert_string_equal(got.last_reason, "conformance");
    assert_string_equal(got.pause_reason, "");

    /* A second create of the job type finds the first one. */
    conf_change c2 = conf_change_of(CONF_Q_CREATE, "scan.image", conf_limits(1, 1, 1, 1),
                                    JE_CHANGE_APPLY, JE_CHANGE_DENY, NULL);
    assert_int_equal(
        s->ops->quota_change(s, "T", NULL, "scan.image", conf_change_fn, &c2, NULL, &got, &err),
        JE_CHANGE_DENY);
    assert_int_equal(c2.calls, 1);
    assert_int_equal(c2.exists, 1);
    assert_string_equal(got.quota_id, out.quota_id); /* the callback saw the existing record */
    got = conf_quota_get(s, "T", out.quota_id);
    conf_quota_same(&got, &out); /* DENY changed nothing */

    /* By id, too. */
    conf_change c3 = conf_change_of(CONF_Q_CREATE, "x", l, JE_CHANGE_DENY, JE_CHANGE_DENY, NULL);
    assert_int_equal(
        s->ops->quota_change(s, "T", out.quota_id, NULL, conf_change_fn, &c3, NULL, &got, &err),
        JE_CHANGE_DENY);
    assert_int_equal(c3.exists, 1);
    assert_string_equal(got.job_type, "scan.image");

    conf_quota_new(s, "T", "zeta", l, 1);
    conf_quota_new(s, "T", "advisory.ingest", l, 0);
    conf_quota_new(s, "T", "*", l, 0);
    conf_quota_new(s, "T", "b.job", l, 1);
    conf_quota_new(s, "U", "scan.image", l, 0); /* another tenant may have the same job type */

    conf_list_expect(s, "T", NULL, -1, "", 100, "*,advisory.ingest,b.job,scan.image,zeta");
    conf_list_expect(s, "T", NULL, -1, NULL, 100, "*,advisory.ingest,b.job,scan.image,zeta");
    conf_list_expect(s, "T", "b.job", -1, "", 100, "b.job");
    conf_list_expect(s, "T", "nope", -1, "", 100, "");
    conf_list_expect(s, "T", NULL, 1, "", 100, "b.job,zeta");
    conf_list_expect(s, "T", NULL, 0, "", 100, "*,advisory.ingest,scan.image");
    conf_list_expect(s, "T", NULL, -1, "b.job", 100, "scan.image,zeta");
    conf_list_expect(s, "T", NULL, -1, "", 2, "*,advisory.ingest");
    conf_list_expect(s, "T", NULL, -1, "advisory.ingest", 2, "b.job,scan.image");
    conf_list_expect(s, "T", NULL, 0, "*", 1, "advisory.ingest");
    conf_list_expect(s, "T", "zeta", 0, "", 100, ""); /* filters combine */
    conf_list_expect(s, "U", NULL, -1, "", 100, "scan.image");

    conf_qlist ql;
    memset(&ql, 0, sizeof ql);
    ql.stop_after = 2; /* the visitor stops the list */
    je_quota_filter f = {NULL, -1, "", 100};
    assert_int_equal(s->ops->quota_list(s, "T", &f, conf_collect_quota, &ql, &err), 0);
    assert_string_equal(ql.joined, "*,advisory.ingest");

    /* Tenants are isolated. */
    assert_int_equal(s->ops->quota_get(s, "U", out.quota_id, &got, &err), 0);
    assert_int_equal(s->ops->quota_get(s, "nobody", out.quota_id, &got, &err), 0);
    assert_int_equal(s->ops->quota_get(s, "T", "00000000-0000-7000-8000-000000000000", &got, &err),
                     0);
    conf_list_expect(s, "nobody", NULL, -1, "", 100, "");
    conf_change c4 = conf_change_of(CONF_Q_CREATE, "x", l, JE_CHANGE_DENY, JE_CHANGE_DENY, NULL);
    assert_int_equal(s->ops->quota_change(s, "nobody", out.quota_id, NULL, conf_change_fn, &c4,
                                          NULL, &got, &err),
                     JE_CHANGE_DENY);
    assert_int_equal(c4.exists, 0); /* another tenant's quota is not there */
    assert_string_equal(c4.tenant_seen, "nobody");
}

static void conf_quota_change_audit(void **state) {
    je_store *s = ((conf_fx *)*state)->s;
    je_err err;
    je_quota_record out, got;
    je_quota_limits l = conf_limits(5, 100, 10, 1);
    assert_int_equal(conf_chain_len(s, "T"), 0);

    conf_change c = conf_change_of(CONF_Q_CREATE, "scan.image", l, JE_CHANGE_APPLY, JE_CHANGE_DENY,
                                   "quota.created");
    assert_int_equal(
        s->ops->quota_change(s, "T", NULL, "scan.image", conf_change_fn, &c, NULL, &out, &err),
        JE_CHANGE_APPLY);
    assert_int_equal(conf_chain_len(s, "T"), 1);
    conf_last_event(s, "T", "quota.created", out.quota_id);

    /* DENY: the entry is still appended, the quota unchanged. */
    conf_change d = conf_change_of(CONF_Q_CREATE, "scan.image", l, JE_CHANGE_APPLY, JE_CHANGE_DENY,
                                   "quota.change.denied");
    assert_int_equal(
        s->ops->quota_change(s, "T", NULL, "scan.image", conf_change_fn, &d, NULL, &got, &err),
        JE_CHANGE_DENY);
    assert_int_equal(conf_chain_len(s, "T"), 2);
    conf_last_event(s, "T", "quota.change.denied", out.quota_id);
    got = conf_quota_get(s, "T", out.quota_id);
    conf_quota_same(&got, &out);

    /* An update (pause) that applies: stored with its entry. */
    conf_change p =
        conf_change_of(CONF_Q_PAUSE, NULL, l, JE_CHANGE_DENY, JE_CHANGE_APPLY, "quota.paused");
    assert_int_equal(
        s->ops->quota_change(s, "T", out.quota_id, NULL, conf_change_fn, &p, NULL, &got, &err),
        JE_CHANGE_APPLY);
    assert_int_equal(got.version, 2);
    assert_int_equal(got.q.paused, 1);
    got = conf_quota_get(s, "T", out.quota_id);
    assert_int_equal(got.version, 2);
    assert_int_equal(got.q.paused, 1);
    assert_string_equal(got.pause_reason, "maintenance");
    assert_string_equal(got.pause_ticket, "OPS-7");
    assert_int_equal(conf_chain_len(s, "T"), 3);
    conf_last_event(s, "T", "quota.paused", out.quota_id);
    je_quota_record paused = got;

    /* -1: neither the record (edited by the callback) nor the entry is written. */
    conf_change f = conf_change_of(CONF_Q_PAUSE, "scan.image", l, -1, -1, "quota.updated");
    assert_int_equal(
        s->ops->quota_change(s, "T", out.quota_id, NULL, conf_change_fn, &f, NULL, &got, &err), -1);
    assert_string_equal(err.code, "TEST");
    assert_int_equal(f.calls, 1);
    got = conf_quota_get(s, "T", out.quota_id);
    conf_quota_same(&got, &paused);
    assert_int_equal(conf_chain_len(s, "T"), 3);
    conf_change g = conf_change_of(CONF_Q_CREATE, "never", l, -1, -1, "quota.created");
    assert_int_equal(
        s->ops->quota_change(s, "T", NULL, "never", conf_change_fn, &g, NULL, &got, &err), -1);
    assert_int_equal(g.exists, 0);
    conf_list_expect(s, "T", "never", -1, "", 100, "");
    conf_list_expect(s, "T", NULL, -1, "", 100, "scan.image");
    assert_int_equal(conf_chain_len(s, "T"), 3);

    /* Entries go to the chain of their own tenant. */
    conf_change u = conf_change_of(CONF_Q_CREATE, "scan.image", l, JE_CHANGE_APPLY, JE_CHANGE_DENY,
                                   "quota.created");
    assert_int_equal(
        s->ops->quota_change(s, "U", NULL, "scan.image", conf_change_fn, &u, NULL, &got, &err),
        JE_CHANGE_APPLY);
    assert_int_equal(conf_chain_len(s, "U"), 1);
    assert_int_equal(conf_chain_len(s, "T"), 3);
}

static void conf_quota_delete(void **state) {
    je_store *s = ((conf_fx *)*state)->s;
    je_err err;
    je_quota_record got;
    int64_t t = conf_future();
    je_quota_record q = conf_quota_new(s, "T", "scan.image", conf_limits(5, 100, 10, 1), 0);
    je_quota_record keep = conf_quota_new(s, "T", "other", conf_limits(5, 100, 10, 1), 0);
    je_acquire a1 = conf_acquire(s, "T", q.quota_id, 60000, t);
    je_acquire a2 = conf_acquire(s, "T", q.quota_id, 1000, t);
    je_acquire k1 = conf_acquire(s, "T", keep.quota_id, 60000, t);
    assert_int_equal(a1.decision.kind, JE_DECISION_GRANT);
    assert_int_equal(a2.decision.kind, JE_DECISION_GRANT);
    assert_int_equal(k1.decision.kind, JE_DECISION_GRANT);

    conf_change d = conf_change_of(CONF_Q_CREATE, NULL, conf_limits(1, 1, 1, 1), JE_CHANGE_DENY,
                                   JE_CHANGE_DELETE, "quota.deleted");
    assert_int_equal(
        s->ops->quota_change(s, "T", q.quota_id, NULL, conf_change_fn, &d, NULL, &got, &err),
        JE_CHANGE_DELETE);
    assert_int_equal(d.exists, 1);
    assert_int_equal(s->ops->quota_get(s, "T", q.quota_id, &got, &err), 0);
    conf_list_expect(s, "T", NULL, -1, "", 100, "other");
    assert_int_equal(conf_chain_len(s, "T"), 1);
    conf_last_event(s, "T", "quota.deleted", q.quota_id);

    /* Its permits are gone: they cannot be released, and nothing is left to expire. */
    assert_int_equal(s->ops->quota_release(s, "T", q.quota_id, a1.permit_id, t + 1, &err), 0);
    assert_int_equal(s->ops->permits_expire(s, t + 2000, &err), 0);
    assert_int_equal(s->ops->quota_release(s, "T", q.quota_id, a2.permit_id, t + 1, &err), 0);
    je_acquire none;
    assert_int_equal(s->ops->quota_acquire(s, "T", q.quota_id, 1000, t, NULL, NULL, &none, &err),
                     0);

    /* Another quota's permits stay. */
    assert_int_equal(conf_quota_get(s, "T", keep.quota_id).q.state.active, 1);
    assert_int_equal(s->ops->quota_release(s, "T", keep.quota_id, k1.permit_id, t + 1, &err), 1);

    /* The job type can be created again, afresh. */
    je_quota_record again = conf_quota_new(s, "T", "scan.image", conf_limits(5, 100, 10, 1), 0);
    assert_string_not_equal(again.quota_id, q.quota_id);
    assert_int_equal(again.q.state.active, 0);
    assert_int_equal(conf_quota_get(s, "T", again.quota_id).q.state.active, 0);
}

/* A change may not leave two quotas of one tenant with the same job type, nor silently drop
 * another quota: a record saved with a job type another quota holds is refused (-1). */
static void conf_quota_job_type_unique(void **state) {
    je_store *s = ((conf_fx *)*state)->s;
    je_err err;
    je_quota_record got;
    int64_t t = conf_future();
    je_quota_record a = conf_quota_new(s, "T", "scan.image", conf_limits(5, 100, 10, 1), 0);
    je_quota_record b = conf_quota_new(s, "T", "advisory.ingest", conf_limits(5, 100, 10, 1), 0);
    je_acquire p = conf_acquire(s, "T", a.quota_id, 60000, t);
    assert_int_equal(p.decision.kind, JE_DECISION_GRANT);

    /* Looked up by an unknown id, the callback creates a record for a job type in use. */
    conf_change c = conf_change_of(CONF_Q_CREATE, "scan.image", conf_limits(1, 1, 1, 1),
                                   JE_CHANGE_APPLY, JE_CHANGE_DENY, "quota.created");
    int rc = s->ops->quota_change(s, "T", "00000000-0000-7000-8000-000000000001", NULL,
                                  conf_change_fn, &c, NULL, &got, &err);
    assert_int_equal(c.exists, 0);
    assert_int_equal(s->ops->quota_get(s, "T", a.quota_id, &got, &err), 1); /* a survives */
    assert_int_equal(got.q.state.active, 1);
    assert_int_equal(rc, -1);
    conf_list_expect(s, "T", NULL, -1, "", 100, "advisory.ingest,scan.image");
    assert_int_equal(conf_chain_len(s, "T"), 0);

    /* An update that renames b to a's job type. */
    conf_change r = conf_change_of(CONF_Q_RENAME, "scan.image", conf_limits(1, 1, 1, 1),
                                   JE_CHANGE_DENY, JE_CHANGE_APPLY, NULL);
    rc = s->ops->quota_change(s, "T", b.quota_id, NULL, conf_change_fn, &r, NULL, &got, &err);
    assert_int_equal(s->ops->quota_get(s, "T", a.quota_id, &got, &err), 1);
    assert_int_equal(rc, -1);
    assert_string_equal(conf_quota_get(s, "T", b.quota_id).job_type, "advisory.ingest");
    assert_int_equal(s->ops->quota_release(s, "T", a.quota_id, p.permit_id, t + 1, &err), 1);
}

static void conf_quota_change_idempotency(void **state) {
    je_store *s = ((conf_fx *)*state)->s;
    je_err err;
    je_quota_record out, got;
    je_quota_limits l = conf_limits(5, 100, 10, 1);
    const char *path = "/jobengine/quotas";
    conf_render r = {&out, NULL, 0};

    conf_change c = conf_change_of(CONF_Q_CREATE, "scan.image", l, JE_CHANGE_APPLY, JE_CHANGE_DENY,
                                   "quota.created");
    je_idem i1 = conf_idem("k1", path, 'a', conf_render_fn, &r);
    assert_int_equal(
        s->ops->quota_change(s, "T", NULL, "scan.image", conf_change_fn, &c, &i1, &out, &err),
        JE_CHANGE_APPLY);
    assert_int_equal(i1.replayed, 0);
    assert_int_equal(i1.mismatch, 0);
    assert_int_equal(r.calls, 1);
    char first[256];
    snprintf(first, sizeof first, "{\"quotaId\":\"%s\",\"jobType\":\"scan.image\",\"version\":1}",
             out.quota_id);
    assert_int_equal(conf_chain_len(s, "T"), 1);

    /* The same key and body: the first answer, nothing called, nothing written. */
    conf_change c2 = c;
    c2.calls = 0;
    je_idem i2 = conf_idem("k1", path, 'a', conf_render_fn, &r);
    assert_int_equal(
        s->ops->quota_change(s, "T", NULL, "scan.image", conf_change_fn, &c2, &i2, &got, &err),
        JE_CHANGE_APPLY);
    assert_int_equal(i2.replayed, 1);
    assert_int_equal(i2.mismatch, 0);
    assert_int_equal(i2.status, 201);
    assert_non_null(i2.body);
    assert_string_equal(i2.body, first);
    free(i2.body);
    assert_int_equal(c2.calls, 0);
    assert_int_equal(r.calls, 1);
    assert_int_equal(conf_chain_len(s, "T"), 1);

    /* The same key with another body. */
    je_idem i3 = conf_idem("k1", path, 'b', conf_render_fn, &r);
    int rc = s->ops->quota_change(s, "T", NULL, "scan.image", conf_change_fn, &c2, &i3, &got, &err);
    assert_true(rc >= 0);
    assert_int_equal(i3.mismatch, 1);
    assert_int_equal(i3.replayed, 0);
    assert_null(i3.body);
    assert_int_equal(c2.calls, 0);
    assert_int_equal(conf_chain_len(s, "T"), 1);

    /* Keys are scoped to (tenant, method, path). */
    conf_change c4 =
        conf_change_of(CONF_Q_CREATE, "advisory.ingest", l, JE_CHANGE_APPLY, JE_CHANGE_DENY, NULL);
    je_idem i4 = conf_idem("k1", "/jobengine/other", 'b', conf_render_fn, &r);
    assert_int_equal(
        s->ops->quota_change(s, "T", NULL, "advisory.ingest", conf_change_fn, &c4, &i4, &got, &err),
        JE_CHANGE_APPLY);
    assert_int_equal(i4.replayed + i4.mismatch, 0);
    assert_int_equal(c4.calls, 1);
    conf_change c5 = c4;
    c5.calls = 0;
    je_idem i5 = conf_idem("k1", path, 'b', conf_render_fn, &r);
    i5.method = "PUT";
    assert_int_equal(
        s->ops->quota_change(s, "T", NULL, "advisory.ingest", conf_change_fn, &c5, &i5, &got, &err),
        JE_CHANGE_DENY); /* seen by the callback: it exists now */
    assert_int_equal(i5.replayed + i5.mismatch, 0);
    assert_int_equal(c5.calls, 1);
    conf_change c6 =
        conf_change_of(CONF_Q_CREATE, "scan.image", l, JE_CHANGE_APPLY, JE_CHANGE_DENY, NULL);
    je_idem i6 = conf_idem("k1", path, 'a', conf_render_fn, &r);
    assert_int_equal(
        s->ops->quota_change(s, "U", NULL, "scan.image", conf_change_fn, &c6, &i6, &got, &err),
        JE_CHANGE_APPLY);
    assert_int_equal(i6.replayed + i6.mismatch, 0);
    assert_int_equal(c6.calls, 1);

    /* Only successes are remembered: neither a DENY nor a failure. */
    int renders = r.calls;
    conf_change c7 = conf_change_of(CONF_Q_CREATE, "scan.image", l, JE_CHANGE_APPLY, JE_CHANGE_DENY,
                                    "quota.change.denied");
    for (int k = 0; k < 2; k++) {
        je_idem i7 = conf_idem("k2", path, 'c', conf_render_fn, &r);
        assert_int_equal(
            s->ops->quota_change(s, "T", NULL, "scan.image", conf_change_fn, &c7, &i7, &got, &err),
            JE_CHANGE_DENY);
        assert_int_equal(i7.replayed + i7.mismatch, 0);
        assert_int_equal(c7.calls, k + 1);
    }
    assert_int_equal(r.calls, renders);
    assert_int_equal(conf_chain_len(s, "T"), 3); /* both denials audited */
    conf_change c8 = conf_change_of(CONF_Q_CREATE, "failing", l, -1, -1, NULL);
    for (int k = 0; k < 2; k++) {
        je_idem i8 = conf_idem("k3", path, 'd', conf_render_fn, &r);
        assert_int_equal(
            s->ops->quota_change(s, "T", NULL, "failing", conf_change_fn, &c8, &i8, &got, &err),
            -1);
        assert_int_equal(i8.replayed + i8.mismatch, 0);
        assert_int_equal(c8.calls, k + 1);
    }
    assert_int_equal(r.calls, renders);

    /* Pruning keys older than an hour ago keeps k1; pruning up to the future forgets it. */
    assert_int_equal(s->ops->idem_prune(s, conf_wall_ms() - JE_HOUR_MS, &err), 0);
    je_idem i9 = conf_idem("k1", path, 'a', conf_render_fn, &r);
    conf_change c9 = c2;
    assert_int_equal(
        s->ops->quota_change(s, "T", NULL, "scan.image", conf_change_fn, &c9, &i9, &got, &err),
        JE_CHANGE_APPLY);
    assert_int_equal(i9.replayed, 1);
    free(i9.body);
    assert_int_equal(s->ops->idem_prune(s, conf_wall_ms() + JE_HOUR_MS, &err), 3);
    je_idem i10 = conf_idem("k1", path, 'a', conf_render_fn, &r);
    assert_int_equal(
        s->ops->quota_change(s, "T", NULL, "scan.image", conf_change_fn, &c9, &i10, &got, &err),
        JE_CHANGE_DENY); /* a new request: the callback sees the quota */
    assert_int_equal(i10.replayed + i10.mismatch, 0);
    assert_null(i10.body);
    assert_int_equal(c9.calls, 1);
    assert_int_equal(c9.exists, 1);
}

/* ---- quotas: decisions ------------------------------------------------------------------ */

static void conf_quota_acquire_release(void **state) {
    je_store *s = ((conf_fx *)*state)->s;
    je_err err;
    int64_t t = conf_future();
    je_quota_record q = conf_quota_new(s, "T", "scan.image", conf_limits(2, 1000, 100, 1), 0);

    je_acquire a1 = conf_acquire(s, "T", q.quota_id, 10000, t);
    assert_int_equal(a1.decision.kind, JE_DECISION_GRANT);
    assert_int_equal(strlen(a1.permit_id), 36);
    assert_int_equal(a1.expires_ms, t + 10000);
    assert_int_equal(a1.decision.remaining, 1);
    assert_string_equal(a1.rec.quota_id, q.quota_id);
    assert_int_equal(a1.rec.q.state.active, 1);
    assert_int_equal(a1.rec.q.state.hour_count, 1);

    je_acquire a2 = conf_acquire(s, "T", q.quota_id, 5000, t + 1);
    assert_int_equal(a2.decision.kind, JE_DECISION_GRANT);
    assert_string_not_equal(a2.permit_id, a1.permit_id);
    assert_int_equal(a2.expires_ms, t + 5001);
    assert_int_equal(a2.decision.remaining, 0);
    assert_int_equal(a2.rec.q.state.active, 2);

    /* Full: denied until the earliest permit expiry. */
    je_acquire a3 = conf_acquire(s, "T", q.quota_id, 1000, t + 2);
    assert_int_equal(a3.decision.kind, JE_DECISION_EXHAUSTED);
    assert_int_equal(a3.decision.next_eligible_ms, t + 5001);
    assert_int_equal(a3.decision.remaining, 0);
    assert_int_equal(a3.rec.q.state.active, 2);

    je_quota_record got = conf_quota_get(s, "T", q.quota_id);
    assert_int_equal(got.q.state.active, 2);
    assert_int_equal(got.q.state.hour_count, 2);
    assert_int_equal(got.q.state.hour_start_ms, je_hour_floor(t));
    assert_true(got.q.state.tokens < 100.0);

    /* Release: once. */
    assert_int_equal(s->ops->quota_release(s, "T", q.quota_id, a2.permit_id, t + 3, &err), 1);
    assert_int_equal(s->ops->quota_release(s, "T", q.quota_id, a2.permit_id, t + 3, &err), 0);
    assert_int_equal(conf_quota_get(s, "T", q.quota_id).q.state.active, 1);
    /* Now the concurrency cap is free again; the denial pointed at the other permit. */
    je_acquire a4 = conf_acquire(s, "T", q.quota_id, 1000, t + 4);
    assert_int_equal(a4.decision.kind, JE_DECISION_GRANT);
    je_acquire a5 = conf_acquire(s, "T", q.quota_id, 1000, t + 5);
    assert_int_equal(a5.decision.kind, JE_DECISION_EXHAUSTED);
    assert_int_equal(a5.decision.next_eligible_ms, t + 1004); /* a4 expires first */

    /* Unknown permits, wrong quota, other tenants. */
    assert_int_equal(s->ops->quota_release(s, "T", q.quota_id, "no-such-permit", t + 6, &err), 0);
    je_quota_record other = conf_quota_new(s, "T", "other", conf_limits(2, 1000, 100, 1), 0);
    assert_int_equal(s->ops->quota_release(s, "T", other.quota_id, a1.permit_id, t + 6, &err), 0);
    assert_int_equal(s->ops->quota_release(s, "U", q.quota_id, a1.permit_id, t + 6, &err), 0);
    je_acquire none;
    assert_int_equal(s->ops->quota_acquire(s, "U", q.quota_id, 1000, t, NULL, NULL, &none, &err),
                     0);
    assert_int_equal(s->ops->quota_acquire(s, "T", "00000000-0000-7000-8000-000000000000", 1000, t,
                                           NULL, NULL, &none, &err),
                     0);
    assert_int_equal(conf_quota_get(s, "T", q.quota_id).q.state.active, 2);
    assert_int_equal(conf_quota_get(s, "T", other.quota_id).q.state.active, 0);
    assert_int_equal(s->ops->quota_release(s, "T", q.quota_id, a1.permit_id, t + 6, &err), 1);
    assert_int_equal(s->ops->quota_release(s, "T", q.quota_id, a4.permit_id, t + 6, &err), 1);
    assert_int_equal(conf_quota_get(s, "T", q.quota_id).q.state.active, 0);
}

static void conf_quota_permit_expiry(void **state) {
    je_store *s = ((conf_fx *)*state)->s;
    je_err err;
    int64_t t = conf_future();
    je_quota_record q = conf_quota_new(s, "T", "scan.image", conf_limits(1, 1000, 100, 1), 0);
    je_quota_record q2 = conf_quota_new(s, "T", "other", conf_limits(1, 1000, 100, 1), 0);

    je_acquire p1 = conf_acquire(s, "T", q.quota_id, 1000, t);
    assert_int_equal(p1.decision.kind, JE_DECISION_GRANT);
    je_acquire d = conf_acquire(s, "T", q.quota_id, 1000, t + 500);
    assert_int_equal(d.decision.kind, JE_DECISION_EXHAUSTED);
    assert_int_equal(d.decision.next_eligible_ms, t + 1000);

    /* Not yet expired: the sweep leaves it. */
    assert_int_equal(s->ops->permits_expire(s, t + 999, &err), 0);
    assert_int_equal(conf_quota_get(s, "T", q.quota_id).q.state.active, 1);
    /* Expired: the sweep frees its slot, and it can no longer be released. */
    assert_int_equal(s->ops->permits_expire(s, t + 1001, &err), 1);
    assert_int_equal(conf_quota_get(s, "T", q.quota_id).q.state.active, 0);
    assert_int_equal(s->ops->permits_expire(s, t + 1001, &err), 0);
    assert_int_equal(s->ops->quota_release(s, "T", q.quota_id, p1.permit_id, t + 1002, &err), 0);
    assert_int_equal(conf_quota_get(s, "T", q.quota_id).q.state.active, 0);

    /* A decision at a later now frees the expired permits first, without a sweep. */
    je_acquire p2 = conf_acquire(s, "T", q.quota_id, 1000, t + 2000);
    assert_int_equal(p2.decision.kind, JE_DECISION_GRANT);
    je_acquire p3 = conf_acquire(s, "T", q.quota_id, 1000, t + 3001);
    assert_int_equal(p3.decision.kind, JE_DECISION_GRANT);
    assert_int_equal(p3.rec.q.state.active, 1);
    assert_int_equal(s->ops->quota_release(s, "T", q.quota_id, p2.permit_id, t + 3002, &err), 0);
    assert_int_equal(s->ops->quota_release(s, "T", q.quota_id, p3.permit_id, t + 3002, &err), 1);
    assert_int_equal(conf_quota_get(s, "T", q.quota_id).q.state.active, 0);

    /* Releasing a permit after its expiry answers 0, and the slot is free afterwards (once). */
    je_acquire p4 = conf_acquire(s, "T", q.quota_id, 1000, t + 5000);
    je_acquire o1 = conf_acquire(s, "T", q2.quota_id, 100000, t + 5000);
    assert_int_equal(p4.decision.kind, JE_DECISION_GRANT);
    assert_int_equal(o1.decision.kind, JE_DECISION_GRANT);
    assert_int_equal(s->ops->quota_release(s, "T", q.quota_id, p4.permit_id, t + 7000, &err), 0);
    assert_true(s->ops->permits_expire(s, t + 7000, &err) >= 0);
    assert_int_equal(conf_quota_get(s, "T", q.quota_id).q.state.active, 0);
    assert_int_equal(conf_quota_get(s, "T", q2.quota_id).q.state.active, 1);

    /* Expired permits of several quotas and tenants, in one sweep. */
    je_quota_record u = conf_quota_new(s, "U", "scan.image", conf_limits(1, 1000, 100, 1), 0);
    je_acquire p5 = conf_acquire(s, "T", q.quota_id, 1000, t + 8000);
    je_acquire u1 = conf_acquire(s, "U", u.quota_id, 1000, t + 8000);
    assert_int_equal(p5.decision.kind, JE_DECISION_GRANT);
    assert_int_equal(u1.decision.kind, JE_DECISION_GRANT);
    assert_int_equal(s->ops->permits_expire(s, t + 9001, &err), 2);
    assert_int_equal(conf_quota_get(s, "T", q.quota_id).q.state.active, 0);
    assert_int_equal(conf_quota_get(s, "U", u.quota_id).q.state.active, 0);
    assert_int_equal(conf_quota_get(s, "T", q2.quota_id).q.state.active, 1); /* still live */
    assert_int_equal(s->ops->quota_release(s, "T", q2.quota_id, o1.permit_id, t + 9001, &err), 1);
}

static void conf_quota_paused(void **state) {
    je_store *s = ((conf_fx *)*state)->s;
    je_err err;
    int64_t t = conf_future();
    je_quota_record q = conf_quota_new(s, "T", "scan.image", conf_limits(5, 1000, 100, 1), 1);
    je_acquire a = conf_acquire(s, "T", q.quota_id, 1000, t);
    assert_int_equal(a.decision.kind, JE_DECISION_PAUSED);
    assert_int_equal(a.decision.next_eligible_ms, JE_NO_TIME);
    assert_int_equal(a.rec.q.state.active, 0);
    je_quota_record got = conf_quota_get(s, "T", q.quota_id);
    assert_int_equal(got.q.state.active, 0);
    assert_int_equal(got.q.state.hour_count, 0);
    assert_int_equal(s->ops->permits_expire(s, t + 2000, &err), 0); /* no permit was written */

    /* A paused quota that is also full still answers PAUSED. */
    je_quota_record r = conf_quota_new(s, "T", "full", conf_limits(1, 1000, 100, 1), 0);
    je_acquire g = conf_acquire(s, "T", r.quota_id, 60000, t);
    assert_int_equal(g.decision.kind, JE_DECISION_GRANT);
    conf_change p = conf_change_of(CONF_Q_PAUSE, NULL, conf_limits(1, 1, 1, 1), JE_CHANGE_DENY,
                                   JE_CHANGE_APPLY, NULL);
    assert_int_equal(
        s->ops->quota_change(s, "T", r.quota_id, NULL, conf_change_fn, &p, NULL, &got, &err),
        JE_CHANGE_APPLY);
    je_acquire b = conf_acquire(s, "T", r.quota_id, 1000, t + 1);
    assert_int_equal(b.decision.kind, JE_DECISION_PAUSED);
    assert_int_equal(b.decision.next_eligible_ms, JE_NO_TIME);
    assert_int_equal(conf_quota_get(s, "T", r.quota_id).q.state.active, 1);
}

static void conf_quota_acquire_idempotency(void **state) {
    je_store *s = ((conf_fx *)*state)->s;
    je_err err;
    int64_t t = conf_future();
    je_quota_record q = conf_quota_new(s, "T", "scan.image", conf_limits(5, 1000, 100, 1), 0);
    char path[128];
    snprintf(path, sizeof path, "/jobengine/quotas/%s/acquire", q.quota_id);
    je_acquire a, b;
    conf_render r = {NULL, &a, 0};

    je_idem i1 = conf_idem("a1", path, 'a', conf_render_fn, &r);
    assert_int_equal(s->ops->quota_acquire(s, "T", q.quota_id, 60000, t, &i1, NULL, &a, &err), 1);
    assert_int_equal(a.decision.kind, JE_DECISION_GRANT);
    assert_int_equal(i1.replayed + i1.mismatch, 0);
    assert_int_equal(r.calls, 1);
    char first[256];
    snprintf(first, sizeof first, "{\"granted\":true,\"permitId\":\"%s\",\"expiresAt\":%lld}",
             a.permit_id, (long long)(t + 60000));

    /* A retry: the same permit, no second unit. */
    je_idem i2 = conf_idem("a1", path, 'a', conf_render_fn, &r);
    assert_int_equal(s->ops->quota_acquire(s, "T", q.quota_id, 60000, t + 10, &i2, NULL, &b, &err),
                     1);
    assert_int_equal(i2.replayed, 1);
    assert_int_equal(i2.status, 200);
    assert_non_null(i2.body);
    assert_string_equal(i2.body, first);
    free(i2.body);
    assert_int_equal(r.calls, 1);
    je_quota_record got = conf_quota_get(s, "T", q.quota_id);
    assert_int_equal(got.q.state.active, 1);
    assert_int_equal(got.q.state.hour_count, 1);

    /* Even after release. */
    assert_int_equal(s->ops->quota_release(s, "T", q.quota_id, a.permit_id, t + 20, &err), 1);
    je_idem i3 = conf_idem("a1", path, 'a', conf_render_fn, &r);
    assert_int_equal(s->ops->quota_acquire(s, "T", q.quota_id, 60000, t + 30, &i3, NULL, &b, &err),
                     1);
    assert_int_equal(i3.replayed, 1);
    assert_string_equal(i3.body, first);
    free(i3.body);
    assert_int_equal(conf_quota_get(s, "T", q.quota_id).q.state.active, 0);

    /* Another body with the key. */
    je_idem i4 = conf_idem("a1", path, 'b', conf_render_fn, &r);
    assert_int_equal(s->ops->quota_acquire(s, "T", q.quota_id, 60000, t + 40, &i4, NULL, &b, &err),
                     1);
    assert_int_equal(i4.mismatch, 1);
    assert_int_equal(i4.replayed, 0);
    assert_null(i4.body);
    got = conf_quota_get(s, "T", q.quota_id);
    assert_int_equal(got.q.state.active, 0);
    assert_int_equal(got.q.state.hour_count, 1);

    /* A denial is not remembered: the retry decides again. */
    je_quota_record one = conf_quota_new(s, "T", "one", conf_limits(1, 1000, 100, 1), 0);
    char path1[128];
    snprintf(path1, sizeof path1, "/jobengine/quotas/%s/acquire", one.quota_id);
    je_acquire held = conf_acquire(s, "T", one.quota_id, 60000, t);
    assert_int_equal(held.decision.kind, JE_DECISION_GRANT);
    je_idem i5 = conf_idem("d1", path1, 'c', conf_render_fn, &r);
    assert_int_equal(s->ops->quota_acquire(s, "T", one.quota_id, 60000, t + 1, &i5, NULL, &a, &err),
                     1);
    assert_int_equal(a.decision.kind, JE_DECISION_EXHAUSTED);
    assert_int_equal(i5.replayed + i5.mismatch, 0);
    assert_int_equal(r.calls, 1);
    assert_int_equal(s->ops->quota_release(s, "T", one.quota_id, held.permit_id, t + 2, &err), 1);
    je_idem i6 = conf_idem("d1", path1, 'c', conf_render_fn, &r);
    assert_int_equal(s->ops->quota_acquire(s, "T", one.quota_id, 60000, t + 3, &i6, NULL, &a, &err),
                     1);
    assert_int_equal(i6.replayed + i6.mismatch, 0);
    assert_int_equal(a.decision.kind, JE_DECISION_GRANT);
    assert_int_equal(r.calls, 2);
    assert_int_equal(conf_quota_get(s, "T", one.quota_id).q.state.active, 1);
}

/* ---- quotas: elevations ----------------------------------------------------------------- */

static int conf_elev_calls;
static je_quota_record conf_elev_before, conf_elev_after;

static json_t *conf_elev_audit(const je_quota_record *before, const je_quota_record *after,
                               int64_t now_ms) {
    conf_elev_calls++;
    conf_elev_before = *before;
    conf_elev_after = *after;
    conf_ev ev = {
        after->tenant_id, "quota.elevation.expired", "quota", after->quota_id, "jobengine", now_ms};
    return conf_entry(&ev);
}

static void conf_quota_elevation_expiry(void **state) {
    je_store *s = ((conf_fx *)*state)->s;
    je_err err;
    je_quota_record got;
    int64_t t = conf_future();
    je_quota_limits base = conf_limits(5, 100, 10, 1), up = conf_limits(20, 400, 40, 2.5);
    je_quota_record q = conf_quota_new(s, "T", "scan.image", base, 0);
    conf_elev_calls = 0;
    assert_int_equal(s->ops->elevations_expire(s, t + JE_HOUR_MS, conf_elev_audit, &err), 0);

    conf_change e =
        conf_change_of(CONF_Q_ELEVATE, NULL, up, JE_CHANGE_DENY, JE_CHANGE_APPLY, "quota.updated");
    e.expires_ms = t;
    assert_int_equal(
        s->ops->quota_change(s, "T", q.quota_id, NULL, conf_change_fn, &e, NULL, &got, &err),
        JE_CHANGE_APPLY);
    got = conf_quota_get(s, "T", q.quota_id);
    conf_limits_equal(&got.q.limits, &up);
    conf_limits_equal(&got.q.previous, &base);
    assert_int_equal(got.q.elevation_expires_ms, t);
    assert_int_equal(got.version, 2);
    assert_int_equal(conf_chain_len(s, "T"), 1);

    /* Not yet. */
    assert_int_equal(s->ops->elevations_expire(s, t - 1, conf_elev_audit, &err), 0);
    assert_int_equal(conf_elev_calls, 0);
    assert_int_equal(conf_quota_get(s, "T", q.quota_id).version, 2);

    /* At its time: back to the previous limits, a new version, the entry appended. */
    assert_int_equal(s->ops->elevations_expire(s, t, conf_elev_audit, &err), 1);
    assert_int_equal(conf_elev_calls, 1);
    conf_limits_equal(&conf_elev_before.q.limits, &up);
    conf_limits_equal(&conf_elev_after.q.limits, &base);
    assert_int_equal(conf_elev_after.q.elevation_expires_ms, JE_NO_TIME);
    assert_true(conf_elev_after.version > conf_elev_before.version);
    got = conf_quota_get(s, "T", q.quota_id);
    conf_limits_equal(&got.q.limits, &base);
    assert_int_equal(got.q.elevation_expires_ms, JE_NO_TIME);
    assert_int_equal(got.version, 3);
    assert_int_equal(conf_elev_after.version, 3);
    assert_true(got.q.state.tokens <= 10.0); /* the bucket is within the restored burst */
    assert_int_equal(conf_chain_len(s, "T"), 2);
    conf_last_event(s, "T", "quota.elevation.expired", q.quota_id);

    /* Nothing more to do. */
    assert_int_equal(s->ops->elevations_expire(s, t + 1000, conf_elev_audit, &err), 0);
    assert_int_equal(conf_elev_calls, 1);
    assert_int_equal(conf_chain_len(s, "T"), 2);

    /* A decision after the expiry reverts it first, with its entry. */
    e.calls = 0;
    e.expires_ms = t + 5000;
    assert_int_equal(
        s->ops->quota_change(s, "T", q.quota_id, NULL, conf_change_fn, &e, NULL, &got, &err),
        JE_CHANGE_APPLY);
    assert_int_equal(conf_chain_len(s, "T"), 3);
    je_acquire a;
    assert_int_equal(
        s->ops->quota_acquire(s, "T", q.quota_id, 1000, t + 4999, NULL, conf_elev_audit, &a, &err),
        1);
    conf_limits_equal(&a.rec.q.limits, &up); /* still elevated */
    assert_int_equal(conf_elev_calls, 1);
    assert_int_equal(
        s->ops->quota_acquire(s, "T", q.quota_id, 1000, t + 5000, NULL, conf_elev_audit, &a, &err),
        1);
    assert_int_equal(a.decision.kind, JE_DECISION_GRANT);
    conf_limits_equal(&a.rec.q.limits, &base);
    assert_int_equal(a.rec.q.elevation_expires_ms, JE_NO_TIME);
    assert_int_equal(a.rec.version, 5);
    assert_int_equal(conf_elev_calls, 2);
    assert_int_equal(conf_chain_len(s, "T"), 4);
    conf_last_event(s, "T", "quota.elevation.expired", q.quota_id);
    got = conf_quota_get(s, "T", q.quota_id);
    conf_limits_equal(&got.q.limits, &base);
    assert_int_equal(got.version, 5);
    assert_int_equal(got.q.state.active, 2);
    assert_int_equal(s->ops->elevations_expire(s, t + 6000, conf_elev_audit, &err), 0);
}

/* ---- quotas: exactness under concurrency ------------------------------------------------ */

#define CONF_ACQ_PER_THREAD 300

typedef struct conf_acq_worker {
    je_store *s;
    const char *tenant, *quota_id;
    int64_t now;
    int64_t max_active, max_per_hour;
    atomic_int *held, *max_held, *grants, *denials, *failures;
} conf_acq_worker;

static void *conf_acq_main(void *p) {
    conf_acq_worker *w = p;
    je_err err;
    je_acquire a;
    for (int i = 0; i < CONF_ACQ_PER_THREAD; i++) {
        if (w->s->ops->quota_acquire(w->s, w->tenant, w->quota_id, 600000, w->now, NULL, NULL, &a,
                                     &err) != 1) {
            atomic_fetch_add(w->failures, 1);
            continue;
        }
        if (a.rec.q.state.active > w->max_active || a.rec.q.state.hour_count > w->max_per_hour)
            atomic_fetch_add(w->failures, 1);
        if (a.decision.kind == JE_DECISION_EXHAUSTED) {
            atomic_fetch_add(w->denials, 1);
            if (a.decision.next_eligible_ms == JE_NO_TIME || a.decision.next_eligible_ms < w->now)
                atomic_fetch_add(w->failures, 1);
            continue;
        }
        if (a.decision.kind != JE_DECISION_GRANT) {
            atomic_fetch_add(w->failures, 1);
            continue;
        }
        atomic_fetch_add(w->grants, 1);
        int h = atomic_fetch_add(w->held, 1) + 1;
        int m = atomic_load(w->max_held);
        while (h > m && !atomic_compare_exchange_weak(w->max_held, &m, h)) {
        }
        sched_yield();
        atomic_fetch_sub(w->held, 1);
        if (w->s->ops->quota_release(w->s, w->tenant, w->quota_id, a.permit_id, w->now, &err) != 1)
            atomic_fetch_add(w->failures, 1);
    }
    return NULL;
}

typedef struct conf_acq_result {
    int max_held, grants, denials, failures;
    je_quota_record rec; /* after the run */
} conf_acq_result;

static conf_acq_result conf_acq_run(je_store *s, const char *job_type, je_quota_limits l) {
    je_quota_record q = conf_quota_new(s, "T", job_type, l, 0);
    atomic_int held = 0, max_held = 0, grants = 0, denials = 0, failures = 0;
    conf_acq_worker w[CONF_THREADS];
    pthread_t t[CONF_THREADS];
    int64_t now = conf_future();
    for (int i = 0; i < CONF_THREADS; i++) {
        conf_acq_worker x = {s,     "T",       q.quota_id, now,      l.max_active, l.max_per_hour,
                             &held, &max_held, &grants,    &denials, &failures};
        w[i] = x;
    }
    double t0 = conf_now();
    for (int i = 0; i < CONF_THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, conf_acq_main, &w[i]), 0);
    for (int i = 0; i < CONF_THREADS; i++) pthread_join(t[i], NULL);
    print_message("%s: %d acquires in %.2fs, %d granted, at most %d held at once\n", job_type,
                  CONF_THREADS * CONF_ACQ_PER_THREAD, conf_now() - t0, atomic_load(&grants),
                  atomic_load(&max_held));
    conf_acq_result r = {atomic_load(&max_held), atomic_load(&grants), atomic_load(&denials),
                         atomic_load(&failures), conf_quota_get(s, "T", q.quota_id)};
    return r;
}

static void conf_quota_concurrent_active(void **state) {
    je_store *s = ((conf_fx *)*state)->s;
    conf_acq_result r = conf_acq_run(s, "busy", conf_limits(3, 1000000, 100000, 1));
    assert_int_equal(r.failures, 0);
    assert_true(r.max_held >= 1);
    assert_true(r.max_held <= 3);
    assert_int_equal(r.grants + r.denials, CONF_THREADS * CONF_ACQ_PER_THREAD);
    assert_int_equal(r.rec.q.state.active, 0);
    assert_int_equal(r.rec.q.state.hour_count, r.grants);
    assert_int_equal(r.rec.q.state.throttled, r.denials);
    assert_true(r.rec.q.state.tokens == 100000.0 - r.grants);
}

static void conf_quota_concurrent_hour(void **state) {
    je_store *s = ((conf_fx *)*state)->s;
    conf_acq_result r = conf_acq_run(s, "hourly", conf_limits(1000, 50, 100000, 1));
    assert_int_equal(r.failures, 0);
    assert_int_equal(r.grants, 50);
    assert_int_equal(r.denials, CONF_THREADS * CONF_ACQ_PER_THREAD - 50);
    assert_int_equal(r.rec.q.state.hour_count, 50);
    assert_int_equal(r.rec.q.state.active, 0);
    assert_int_equal(r.rec.q.state.throttled, r.denials);
}

/* ---- quotas: durability ----------------------------------------------------------------- */

static void conf_quota_reopen(void **state) {
    conf_fx *fx = *state;
    je_err err;
    int64_t t = conf_future();
    je_quota_record q = conf_quota_new(fx->s, "T", "scan.image", conf_limits(2, 1000, 100, 1), 0);
    je_quota_record p = conf_quota_new(fx->s, "T", "paused", conf_limits(2, 1000, 100, 1), 1);
    char path[128];
    snprintf(path, sizeof path, "/jobengine/quotas/%s/acquire", q.quota_id);
    je_acquire a1, a2;
    conf_render r = {NULL, &a1, 0};
    je_idem i1 = conf_idem("r1", path, 'a', conf_render_fn, &r);
    assert_int_equal(
        fx->s->ops->quota_acquire(fx->s, "T", q.quota_id, 600000, t, &i1, NULL, &a1, &err), 1);
    assert_int_equal(a1.decision.kind, JE_DECISION_GRANT);
    a2 = conf_acquire(fx->s, "T", q.quota_id, 600000, t + 1);
    assert_int_equal(a2.decision.kind, JE_DECISION_GRANT);
    je_quota_record before = conf_quota_get(fx->s, "T", q.quota_id);
    je_quota_record before_p = conf_quota_get(fx->s, "T", p.quota_id);

    je_store_close(fx->s);
    fx->s = je_store_open(fx->url, &err);
    assert_non_null(fx->s);
    je_store *s = fx->s;
    je_quota_record got = conf_quota_get(s, "T", q.quota_id);
    conf_quota_same(&got, &before);
    assert_int_equal(got.q.state.active, 2);
    got = conf_quota_get(s, "T", p.quota_id);
    conf_quota_same(&got, &before_p);
    conf_list_expect(s, "T", NULL, -1, "", 100, "paused,scan.image");

    /* The permits are there: the quota stays full until one is released. */
    je_acquire d = conf_acquire(s, "T", q.quota_id, 1000, t + 2);
    assert_int_equal(d.decision.kind, JE_DECISION_EXHAUSTED);
    assert_int_equal(d.decision.next_eligible_ms, t + 600000);
    je_idem i2 = conf_idem("r1", path, 'a', conf_render_fn, &r);
    je_acquire b;
    assert_int_equal(s->ops->quota_acquire(s, "T", q.quota_id, 600000, t + 3, &i2, NULL, &b, &err),
                     1);
    assert_int_equal(i2.replayed, 1); /* and so is the idempotency key */
    assert_non_null(i2.body);
    assert_non_null(strstr(i2.body, a1.permit_id));
    free(i2.body);
    assert_int_equal(s->ops->quota_release(s, "T", q.quota_id, a1.permit_id, t + 4, &err), 1);
    assert_int_equal(s->ops->quota_release(s, "T", q.quota_id, a2.permit_id, t + 4, &err), 1);
    assert_int_equal(conf_quota_get(s, "T", q.quota_id).q.state.active, 0);
}

/* ---- jobs: helpers ---------------------------------------------------------------------- */

/* A pending live job as the API builds it: no lease, no backfill fields, 3 attempts. */
static je_job conf_job_of(const char *tenant, const char *job_type, const char *job_id,
                          int64_t priority, int64_t created_ms) {
    je_job j;
    memset(&j, 0, sizeof j);
    snprintf(j.tenant_id, sizeof j.tenant_id, "%s", tenant);
    snprintf(j.job_type, sizeof j.job_type, "%s", job_type);
    snprintf(j.job_id, sizeof j.job_id, "%s", job_id);
    j.status = JE_JOB_PENDING;
    j.lane = JE_LANE_LIVE;
    j.priority = priority;
    j.event_time_ms = j.batch = j.window_start_ms = j.window_end_ms = JE_NO_TIME;
    j.max_attempts = 3;
    j.available_ms = j.created_ms = j.updated_ms = created_ms;
    j.completed_ms = j.lease_until_ms = j.lease_ms = JE_NO_TIME;
    return j;
}

/* Submits j (payload: the given JSON text, or {"id":job_id}) without idempotency. */
static void conf_job_put(je_store *s, je_job *j, const char *payload) {
    char buf[128];
    je_err err;
    snprintf(buf, sizeof buf, "{\"id\":\"%s\"}", j->job_id);
    j->payload = strdup(payload ? payload : buf);
    assert_non_null(j->payload);
    assert_int_equal(s->ops->job_submit(s, j, NULL, &err), 0);
    je_job_free(j);
}

static void conf_submit(je_store *s, const char *tenant, const char *job_type, const char *job_id,
                        int64_t priority, int64_t created_ms) {
    je_job j = conf_job_of(tenant, job_type, job_id, priority, created_ms);
    conf_job_put(s, &j, NULL);
}

/* A backfill batch job (lane 1). */
static void conf_submit_backfill(je_store *s, const char *tenant, const char *job_type,
                                 const char *job_id, int64_t batch, int64_t created_ms) {
    je_job j = conf_job_of(tenant, job_type, job_id, 0, created_ms);
    j.lane = JE_LANE_BACKFILL;
    snprintf(j.backfill_id, sizeof j.backfill_id, "bf-0001");
    j.batch = batch;
    j.window_start_ms = 1000000 * batch;
    j.window_end_ms = 1000000 * (batch + 1);
    conf_job_put(s, &j, NULL);
}

/* The job (found); the caller frees it with je_job_free. */
static je_job conf_job_get(je_store *s, const char *tenant, const char *job_id) {
    je_job j;
    je_err err;
    assert_int_equal(s->ops->job_get(s, tenant, job_id, &j, &err), 1);
    return j;
}

static int conf_job_status(je_store *s, const char *tenant, const char *job_id) {
    je_job j = conf_job_get(s, tenant, job_id);
    je_job_free(&j);
    return j.status;
}

static je_lease_req conf_lease_req(const char *const *types, size_t n, int max, int64_t lease_ms,
                                   int64_t now) {
    je_lease_req q;
    memset(&q, 0, sizeof q);
    q.job_types = types;
    q.n_job_types = n;
    q.worker_id = "worker-1";
    q.max = max;
    q.lease_ms = lease_ms;
    q.now_ms = now;
    q.backfill_share = 0.5;
    q.unlimited_when_no_quota = 1;
    return q;
}

static je_lease_out conf_lease_with(je_store *s, const char *tenant, const je_lease_req *q) {
    je_lease_out out;
    je_err err;
    assert_int_equal(s->ops->jobs_lease(s, tenant, q, NULL, &out, &err), 0);
    assert_true(out.n <= (size_t)q->max);
    return out;
}

/* Leases job types given as one comma-separated string ("a,b"). */
static je_lease_out conf_lease(je_store *s, const char *tenant, const char *types, int max,
                               int64_t lease_ms, int64_t now) {
    static char buf[8][JE_JOBTYPE_MAX + 1];
    const char *list[8];
    size_t n = 0;
    const char *p = types;
    while (*p && n < 8) {
        size_t len = strcspn(p, ",");
        snprintf(buf[n], sizeof buf[n], "%.*s", (int)len, p);
        list[n] = buf[n];
        n++;
        p += len + (p[len] == ',');
    }
    je_lease_req q = conf_lease_req(list, n, max, lease_ms, now);
    return conf_lease_with(s, tenant, &q);
}

static void conf_lease_free(je_lease_out *out) {
    for (size_t i = 0; i < out->n; i++) je_job_free(&out->jobs[i]);
    free(out->jobs);
    memset(out, 0, sizeof *out);
}

/* The leased job ids joined with ',' (in the order the lease answered). */
static const char *conf_lease_ids(const je_lease_out *out) {
    static char joined[4096];
    joined[0] = '\0';
    for (size_t i = 0; i < out->n; i++) {
        size_t used = strlen(joined);
        snprintf(joined + used, sizeof joined - used, "%s%s", i ? "," : "", out->jobs[i].job_id);
    }
    return joined;
}

/* The leased job of that id (which must be there). */
static const je_job *conf_leased(const je_lease_out *out, const char *job_id) {
    for (size_t i = 0; i < out->n; i++)
        if (strcmp(out->jobs[i].job_id, job_id) == 0) return &out->jobs[i];
    fail_msg("%s was not leased", job_id);
    return NULL;
}

/* Job ids visited by job_list, joined with ','. */
typedef struct conf_jlist {
    char joined[4096];
    int n;
    int stop_after; /* 0: never */
} conf_jlist;

static int conf_collect_job(void *ctx, const je_job *j) {
    conf_jlist *l = ctx;
    size_t used = strlen(l->joined);
    snprintf(l->joined + used, sizeof l->joined - used, "%s%s", l->n ? "," : "", j->job_id);
    l->n++;
    return l->stop_after && l->n >= l->stop_after;
}

static void conf_jobs_expect(je_store *s, const char *tenant, int status, const char *job_type,
                             int64_t after_created, const char *after_id, int limit,
                             const char *want) {
    je_job_filter f = {status, job_type, after_created, after_id, limit};
    conf_jlist l;
    memset(&l, 0, sizeof l);
    je_err err;
    assert_int_equal(s->ops->job_list(s, tenant, &f, conf_collect_job, &l, &err), 0);
    assert_string_equal(l.joined, want);
}

typedef struct conf_jcounts {
    char type[16][JE_JOBTYPE_MAX + 1];
    int status[16];
    int64_t count[16];
    int n;
} conf_jcounts;

static int conf_collect_count(void *ctx, const char *job_type, int status, int64_t count) {
    conf_jcounts *c = ctx;
    if (c->n < 16) {
        snprintf(c->type[c->n], sizeof c->type[0], "%s", job_type);
        c->status[c->n] = status;
        c->count[c->n] = count;
    }
    c->n++;
    return 0;
}

/* The count visited for (job type, status), 0 when none was; each pair is visited once. */
static int64_t conf_count_of(const conf_jcounts *c, const char *job_type, int status) {
    int64_t found = 0;
    int seen = 0;
    for (int i = 0; i < c->n && i < 16; i++)
        if (strcmp(c->type[i], job_type) == 0 && c->status[i] == status)
            found = c->count[i], seen++;
    assert_true(seen <= 1);
    return found;
}

static char *conf_render_job(void *ctx, int *status) {
    const je_job *j = ctx;
    char *body = malloc(128);
    if (!body) return NULL;
    *status = 201;
    snprintf(body, 128, "{\"jobId\":\"%s\"}", j->job_id);
    return body;
}

/* ---- jobs: submit and reads ------------------------------------------------------------- */

static void conf_job_submit_get(void **state) {
    je_store *s = ((conf_fx *)*state)->s;
    je_err err;
    je_job j = conf_job_of("T", "scan.image", "0190aaaa-0000-7000-8000-000000000001", 42, 5000);
    snprintf(j.source_id, sizeof j.source_id, "src:ingest-1");
    snprintf(j.event_key, sizeof j.event_key, "evt 7/x");
    j.event_time_ms = 4000;
    j.max_attempts = 5;
    conf_job_put(s, &j, "{\"a\":[1,2,{\"b\":null}],\"z\":\"\\u00e9\"}");

    je_job got = conf_job_get(s, "T", "0190aaaa-0000-7000-8000-000000000001");
    assert_string_equal(got.job_id, "0190aaaa-0000-7000-8000-000000000001");
    assert_string_equal(got.tenant_id, "T");
    assert_string_equal(got.job_type, "scan.image");
    assert_int_equal(got.status, JE_JOB_PENDING);
    assert_int_equal(got.lane, JE_LANE_LIVE);
    assert_int_equal(got.priority, 42);
    assert_string_equal(got.payload, "{\"a\":[1,2,{\"b\":null}],\"z\":\"\\u00e9\"}"); /* as given */
    assert_string_equal(got.source_id, "src:ingest-1");
    assert_string_equal(got.event_key, "evt 7/x");
    assert_int_equal(got.event_time_ms, 4000);
    assert_string_equal(got.backfill_id, "");
    assert_int_equal(got.batch, JE_NO_TIME);
    assert_int_equal(got.window_start_ms, JE_NO_TIME);
    assert_int_equal(got.window_end_ms, JE_NO_TIME);
    assert_int_equal(got.attempt, 0);
    assert_int_equal(got.failures, 0);
    assert_int_equal(got.max_attempts, 5);
    assert_int_equal(got.available_ms, 5000);
    assert_string_equal(got.lease_id, "");
    assert_int_equal(got.lease_until_ms, JE_NO_TIME);
    assert_int_equal(got.lease_ms, JE_NO_TIME);
    assert_string_equal(got.worker_id, "");
    assert_string_equal(got.quota_id, "");
    assert_string_equal(got.error, "");
    assert_int_equal(got.created_ms, 5000);
    assert_int_equal(got.updated_ms, 5000);
    assert_int_equal(got.completed_ms, JE_NO_TIME);
    je_job_free(&got);

    /* Optional fields left out come back as none; a payload may be any JSON value. */
    je_job k = conf_job_of("T", "scan.image", "plain", -1000, 6000);
    conf_job_put(s, &k, "null");
    got = conf_job_get(s, "T", "plain");
    assert_string_equal(got.payload, "null");
    assert_string_equal(got.source_id, "");
    assert_string_equal(got.event_key, "");
    assert_int_equal(got.event_time_ms, JE_NO_TIME);
    assert_int_equal(got.priority, -1000);
    je_job_free(&got);

    /* A backfill batch job keeps its lane and window. */
    conf_submit_backfill(s, "T", "scan.image", "bf-job", 3, 7000);
    got = conf_job_get(s, "T", "bf-job");
    assert_int_equal(got.lane, JE_LANE_BACKFILL);
    assert_string_equal(got.backfill_id, "bf-0001");
    assert_int_equal(got.batch, 3);
    assert_int_equal(got.window_start_ms, 3000000);
    assert_int_equal(got.window_end_ms, 4000000);
    je_job_free(&got);

    /* Unknown ids and other tenants. */
    je_job none;
    assert_int_equal(s->ops->job_get(s, "T", "nope", &none, &err), 0);
    assert_int_equal(s->ops->job_get(s, "U", "plain", &none, &err), 0);
    /* The same job id in another tenant is another job. */
    conf_submit(s, "U", "other", "plain", 1, 8000);
    got = conf_job_get(s, "U", "plain");
    assert_string_equal(got.job_type, "other");
    je_job_free(&got);
    got = conf_job_get(s, "T", "plain");
    assert_string_equal(got.job_type, "scan.image");
    je_job_free(&got);
}

static void conf_job_list_counts(void **state) {
    je_store *s = ((conf_fx *)*state)->s;
    je_err err;
    int64_t t = conf_future();
    /* Created out of order, with ties on createdAt broken by job id. */
    conf_submit(s, "T", "a", "j5", 0, 3000);
    conf_submit(s, "T", "b", "j2", 9, 1000);
    conf_submit(s, "T", "a", "j4", 0, 2000);
    conf_submit(s, "T", "a", "j1", -5, 2000);
    conf_submit(s, "T", "b", "j3", 0, 2000);
    conf_submit(s, "T", "c", "j6", 0, 4000);
    conf_submit(s, "U", "a", "u1", 0, 1500);

    conf_jobs_expect(s, "T", -1, NULL, INT64_MIN, "", 100, "j2,j1,j3,j4,j5,j6");
    conf_jobs_expect(s, "U", -1, NULL, INT64_MIN, "", 100, "u1");
    conf_jobs_expect(s, "nobody", -1, NULL, INT64_MIN, "", 100, "");
    conf_jobs_expect(s, "T", -1, "a", INT64_MIN, "", 100, "j1,j4,j5");
    conf_jobs_expect(s, "T", -1, "zzz", INT64_MIN, "", 100, "");
    conf_jobs_expect(s, "T", JE_JOB_PENDING, NULL, INT64_MIN, "", 100, "j2,j1,j3,j4,j5,j6");
    conf_jobs_expect(s, "T", JE_JOB_LEASED, NULL, INT64_MIN, "", 100, "");

    /* Pagination: (createdAt, jobId) strictly after the cursor. */
    conf_jobs_expect(s, "T", -1, NULL, INT64_MIN, "", 2, "j2,j1");
    conf_jobs_expect(s, "T", -1, NULL, 2000, "j1", 2, "j3,j4");
    conf_jobs_expect(s, "T", -1, NULL, 2000, "j4", 2, "j5,j6");
    conf_jobs_expect(s, "T", -1, NULL, 4000, "j6", 2, "");
    conf_jobs_expect(s, "T", -1, NULL, 1000, "j2", 100, "j1,j3,j4,j5,j6");
    conf_jobs_expect(s, "T", -1, NULL, 2000, "", 100, "j1,j3,j4,j5,j6"); /* ties from the start */
    conf_jobs_expect(s, "T", -1, NULL, 1999, "zzz", 100, "j1,j3,j4,j5,j6");
    conf_jobs_expect(s, "T", -1, "a", 2000, "j1", 1, "j4");
    conf_jobs_expect(s, "T", -1, NULL, INT64_MIN, "", 0, "");

    conf_jlist l;
    memset(&l, 0, sizeof l);
    l.stop_after = 3; /* the visitor stops the list */
    je_job_filter f = {-1, NULL, INT64_MIN, "", 100};
    assert_int_equal(s->ops->job_list(s, "T", &f, conf_collect_job, &l, &err), 0);
    assert_string_equal(l.joined, "j2,j1,j3");

    /* Move some jobs on: j2 leased (the highest priority), j3 succeeded, j4 failed once (back to
     * pending), j6 leased and j7 failed for good (one attempt only). */
    je_job j7 = conf_job_of("T", "c", "j7", 0, 5000);
    j7.max_attempts = 1;
    conf_job_put(s, &j7, NULL);
    je_lease_out out = conf_lease(s, "T", "b", 1, 60000, t);
    assert_string_equal(conf_lease_ids(&out), "j2");
    conf_lease_free(&out);
    out = conf_lease(s, "T", "a,b", 2, 60000, t);
    assert_string_equal(conf_lease_ids(&out), "j3,j4"); /* priority 0: older first, then id */
    je_job done;
    assert_int_equal(
        s->ops->job_complete(s, "T", "j3", out.jobs[0].lease_id, 1, NULL, t + 1, &done, &err), 1);
    je_job_free(&done);
    assert_int_equal(
        s->ops->job_complete(s, "T", "j4", out.jobs[1].lease_id, 0, "oops", t + 1, &done, &err), 1);
    je_job_free(&done);
    conf_lease_free(&out);
    out = conf_lease(s, "T", "c", 5, 60000, t);
    assert_string_equal(conf_lease_ids(&out), "j6,j7");
    assert_int_equal(
        s->ops->job_complete(s, "T", "j7", out.jobs[1].lease_id, 0, "bad", t + 1, &done, &err), 1);
    je_job_free(&done);
    conf_lease_free(&out);

    conf_jobs_expect(s, "T", JE_JOB_PENDING, NULL, INT64_MIN, "", 100, "j1,j4,j5");
    conf_jobs_expect(s, "T", JE_JOB_LEASED, NULL, INT64_MIN, "", 100, "j2,j6");
    conf_jobs_expect(s, "T", JE_JOB_SUCCEEDED, NULL, INT64_MIN, "", 100, "j3");
    conf_jobs_expect(s, "T", JE_JOB_FAILED, NULL, INT64_MIN, "", 100, "j7");
    conf_jobs_expect(s, "T", JE_JOB_CANCELED, NULL, INT64_MIN, "", 100, "");
    conf_jobs_expect(s, "T", JE_JOB_SUCCEEDED, "a", INT64_MIN, "", 100, ""); /* filters combine */
    conf_jobs_expect(s, "T", JE_JOB_PENDING, "a", 2000, "j1", 100, "j4,j5");
    conf_jobs_expect(s, "T", JE_JOB_LEASED, NULL, 1000, "j2", 100, "j6");
    conf_jobs_expect(s, "T", -1, NULL, INT64_MIN, "", 100, "j2,j1,j3,j4,j5,j6,j7");

    /* Counts per (job type, status), of the tenant only. */
    conf_jcounts c;
    memset(&c, 0, sizeof c);
    assert_int_equal(s->ops->job_counts(s, "T", conf_collect_count, &c, &err), 0);
    assert_int_equal(c.n, 5);
    assert_int_equal(conf_count_of(&c, "a", JE_JOB_PENDING), 3);
    assert_int_equal(conf_count_of(&c, "b", JE_JOB_LEASED), 1);
    assert_int_equal(conf_count_of(&c, "b", JE_JOB_SUCCEEDED), 1);
    assert_int_equal(conf_count_of(&c, "b", JE_JOB_PENDING), 0);
    assert_int_equal(conf_count_of(&c, "c", JE_JOB_LEASED), 1);
    assert_int_equal(conf_count_of(&c, "c", JE_JOB_FAILED), 1);
    memset(&c, 0, sizeof c);
    assert_int_equal(s->ops->job_counts(s, "U", conf_collect_count, &c, &err), 0);
    assert_int_equal(c.n, 1);
    assert_int_equal(conf_count_of(&c, "a", JE_JOB_PENDING), 1);
    memset(&c, 0, sizeof c);
    assert_int_equal(s->ops->job_counts(s, "nobody", conf_collect_count, &c, &err), 0);
    assert_int_equal(c.n, 0);
}

static void conf_job_submit_idempotency(void **state) {
    je_store *s = ((conf_fx *)*state)->s;
    je_err err;
    je_job none;
    const char *path = "/jobengine/jobs";
    je_job a = conf_job_of("T", "scan.image", "first", 0, 1000);
    a.payload = strdup("{\"n\":1}");
    je_idem i1 = conf_idem("s1", path, 'a', conf_render_job, &a);
    assert_int_equal(s->ops->job_submit(s, &a, &i1, &err), 0);
    assert_int_equal(i1.replayed + i1.mismatch, 0);
    assert_null(i1.body);
    je_job_free(&a);

    /* A retry with the same key and body: the first answer, no second job. */
    je_job b = conf_job_of("T", "scan.image", "second", 0, 2000);
    b.payload = strdup("{\"n\":1}");
    je_idem i2 = conf_idem("s1", path, 'a', conf_render_job, &b);
    assert_int_equal(s->ops->job_submit(s, &b, &i2, &err), 0);
    assert_int_equal(i2.replayed, 1);
    assert_int_equal(i2.mismatch, 0);
    assert_int_equal(i2.status, 201);
    assert_non_null(i2.body);
    assert_string_equal(i2.body, "{\"jobId\":\"first\"}");
    free(i2.body);
    assert_int_equal(s->ops->job_get(s, "T", "second", &none, &err), 0);

    /* The same key with another body: a mismatch, nothing stored. */
    je_idem i3 = conf_idem("s1", path, 'b', conf_render_job, &b);
    assert_int_equal(s->ops->job_submit(s, &b, &i3, &err), 0);
    assert_int_equal(i3.mismatch, 1);
    assert_int_equal(i3.replayed, 0);
    assert_null(i3.body);
    assert_int_equal(s->ops->job_get(s, "T", "second", &none, &err), 0);
    conf_jobs_expect(s, "T", -1, NULL, INT64_MIN, "", 100, "first");

    /* Keys are per tenant, and a new key stores a new job. */
    je_job u = conf_job_of("U", "scan.image", "second", 0, 2000);
    u.payload = strdup("{\"n\":1}");
    je_idem i4 = conf_idem("s1", path, 'a', conf_render_job, &u);
    assert_int_equal(s->ops->job_submit(s, &u, &i4, &err), 0);
    assert_int_equal(i4.replayed + i4.mismatch, 0);
    je_job_free(&u);
    je_idem i5 = conf_idem("s2", path, 'b', conf_render_job, &b);
    assert_int_equal(s->ops->job_submit(s, &b, &i5, &err), 0);
    assert_int_equal(i5.replayed + i5.mismatch, 0);
    je_job_free(&b);
    conf_jobs_expect(s, "T", -1, NULL, INT64_MIN, "", 100, "first,second");
    conf_jobs_expect(s, "U", -1, NULL, INT64_MIN, "", 100, "second");

    /* An idem without a key is no idempotency at all. */
    je_job c = conf_job_of("T", "scan.image", "third", 0, 3000);
    c.payload = strdup("1");
    je_idem i6 = conf_idem(NULL, path, 'a', conf_render_job, &c);
    assert_int_equal(s->ops->job_submit(s, &c, &i6, &err), 0);
    assert_int_equal(i6.replayed + i6.mismatch, 0);
    je_job_free(&c);
    conf_jobs_expect(s, "T", -1, NULL, INT64_MIN, "", 100, "first,second,third");
}

/* ---- jobs: leasing order and limits ----------------------------------------------------- */

static void conf_lease_order(void **state) {
    je_store *s = ((conf_fx *)*state)->s;
    int64_t t = conf_future();
    conf_submit(s, "T", "a", "a-old-low", -1, 1000);
    conf_submit(s, "T", "a", "a-new-high", 10, 5000);
    conf_submit(s, "T", "a", "a-old-high", 10, 2000);
    conf_submit(s, "T", "b", "b-mid", 5, 3000);
    conf_submit(s, "T", "b", "b-tie-2", 5, 3000); /* same priority and age: by job id */
    conf_submit(s, "T", "b", "b-tie-1", 5, 3000);
    conf_submit(s, "T", "c", "c-top", 1000, 100); /* not asked for */
    conf_submit(s, "U", "a", "u-top", 1000, 100); /* another tenant */
    conf_submit(s, "T", "a", "a-top", 999, 1000);
    {
        je_job late = conf_job_of("T", "a", "a-later", 999, 1000);
        late.available_ms = t + 1000; /* as after a failed attempt */
        conf_job_put(s, &late, NULL);
    }

    je_lease_out out = conf_lease(s, "T", "a,b", 3, 30000, t);
    assert_string_equal(conf_lease_ids(&out), "a-top,a-old-high,a-new-high");
    const je_job *j = conf_leased(&out, "a-old-high");
    assert_int_equal(j->status, JE_JOB_LEASED);
    assert_int_equal(j->attempt, 1);
    assert_int_equal(strlen(j->lease_id), 36);
    assert_int_equal(j->lease_until_ms, t + 30000);
    assert_int_equal(j->lease_ms, 30000);
    assert_string_equal(j->worker_id, "worker-1");
    assert_string_equal(j->payload, "{\"id\":\"a-old-high\"}");
    assert_string_not_equal(out.jobs[0].lease_id, out.jobs[1].lease_id);
    assert_int_equal(out.held, 0); /* no quota held anything back */
    je_job got = conf_job_get(s, "T", "a-old-high");
    assert_int_equal(got.status, JE_JOB_LEASED);
    assert_string_equal(got.lease_id, j->lease_id);
    assert_int_equal(got.lease_until_ms, t + 30000);
    assert_int_equal(got.attempt, 1);
    assert_string_equal(got.worker_id, "worker-1");
    assert_int_equal(got.updated_ms, t);
    je_job_free(&got);
    conf_lease_free(&out);

    out = conf_lease(s, "T", "a,b", 3, 30000, t + 1);
    assert_string_equal(conf_lease_ids(&out), "b-mid,b-tie-1,b-tie-2");
    conf_lease_free(&out);
    out = conf_lease(s, "T", "b,a", 100, 30000, t + 2);
    assert_string_equal(conf_lease_ids(&out), "a-old-low");
    conf_lease_free(&out);
    out = conf_lease(s, "T", "a,b", 100, 30000, t + 3);
    assert_int_equal(out.n, 0); /* a-later waits for its availableAt */
    assert_int_equal(out.held, 0);
    conf_lease_free(&out);
    out = conf_lease(s, "T", "a", 100, 30000, t + 1000);
    assert_string_equal(conf_lease_ids(&out), "a-later");
    conf_lease_free(&out);
    out = conf_lease(s, "T", "nothing.here", 5, 30000, t + 1000);
    assert_int_equal(out.n, 0);
    assert_int_equal(out.held, 0);
    conf_lease_free(&out);
    assert_int_equal(conf_job_status(s, "T", "c-top"), JE_JOB_PENDING);
    assert_int_equal(conf_job_status(s, "U", "u-top"), JE_JOB_PENDING);
}

/* Live before backfill within one job type, whatever the priority. */
static void conf_lease_lane_order(void **state) {
    je_store *s = ((conf_fx *)*state)->s;
    int64_t t = conf_future();
    conf_submit_backfill(s, "T", "a", "bf-1", 1, 100);
    {
        je_job hi = conf_job_of("T", "a", "bf-0", 1000, 50);
        hi.lane = JE_LANE_BACKFILL;
        snprintf(hi.backfill_id, sizeof hi.backfill_id, "bf-0001");
        hi.batch = 0;
        hi.window_start_ms = 0;
        hi.window_end_ms = 1000000;
        conf_job_put(s, &hi, NULL);
    }
    conf_submit(s, "T", "a", "live-low", -1000, 9000);
    conf_submit(s, "T", "b", "live-b", -5, 9500);
    je_lease_out out = conf_lease(s, "T", "a,b", 3, 30000, t);
    assert_string_equal(conf_lease_ids(&out), "live-b,live-low,bf-0");
    const je_job *bf = conf_leased(&out, "bf-0");
    assert_int_equal(bf->lane, JE_LANE_BACKFILL);
    assert_string_equal(bf->backfill_id, "bf-0001");
    assert_int_equal(bf->batch, 0);
    assert_int_equal(bf->window_end_ms, 1000000);
    conf_lease_free(&out);
    out = conf_lease(s, "T", "a", 3, 30000, t);
    assert_string_equal(conf_lease_ids(&out), "bf-1");
    assert_int_equal(out.jobs[0].batch, 1);
    assert_int_equal(out.jobs[0].window_start_ms, 1000000);
    conf_lease_free(&out);
}

static void conf_lease_no_quota(void **state) {
    je_store *s = ((conf_fx *)*state)->s;
    int64_t t = conf_future();
    for (int i = 0; i < 4; i++) {
        char id[16];
        snprintf(id, sizeof id, "free-%d", i);
        conf_submit(s, "T", "free", id, 0, 1000 + i);
    }
    const char *types[] = {"free"};
    je_lease_req q = conf_lease_req(types, 1, 10, 60000, t);
    q.unlimited_when_no_quota = 0; /* such jobs never lease */
    je_lease_out out = conf_lease_with(s, "T", &q);
    assert_int_equal(out.n, 0);
    conf_lease_free(&out);
    assert_int_equal(conf_job_status(s, "T", "free-0"), JE_JOB_PENDING);

    q.unlimited_when_no_quota = 1; /* not limited: as many as asked for */
    q.max = 3;
    out = conf_lease_with(s, "T", &q);
    assert_string_equal(conf_lease_ids(&out), "free-0,free-1,free-2");
    assert_int_equal(out.held, 0);
    assert_string_equal(out.jobs[0].quota_id, ""); /* no quota charged */
    conf_lease_free(&out);
    je_job got = conf_job_get(s, "T", "free-1");
    assert_string_equal(got.quota_id, "");
    je_job_free(&got);
    q.max = 10;
    out = conf_lease_with(s, "T", &q);
    assert_string_equal(conf_lease_ids(&out), "free-3");
    conf_lease_free(&out);

    /* Once the tenant has a "*" quota, the type is governed by it. */
    je_quota_record star = conf_quota_new(s, "T", "*", conf_limits(1, 1000, 100, 1), 0);
    conf_submit(s, "T", "free", "free-4", 0, 2000);
    conf_submit(s, "T", "free", "free-5", 0, 2001);
    q.unlimited_when_no_quota = 0;
    out = conf_lease_with(s, "T", &q);
    assert_string_equal(conf_lease_ids(&out), "free-4");
    assert_string_equal(out.jobs[0].quota_id, star.quota_id);
    assert_int_equal(out.held, 1);
    conf_lease_free(&out);
    assert_int_equal(conf_quota_get(s, "T", star.quota_id).q.state.active, 1);
}

/* A job type uses its own quota, else the tenant's "*" quota, never another tenant's. */
static void conf_lease_quota_resolution(void **state) {
    je_store *s = ((conf_fx *)*state)->s;
    je_err err;
    int64_t t = conf_future();
    je_quota_record own = conf_quota_new(s, "T", "own", conf_limits(1, 1000, 100, 1), 0);
    je_quota_record star = conf_quota_new(s, "T", "*", conf_limits(2, 1000, 100, 1), 0);
    je_quota_record u_own = conf_quota_new(s, "U", "x", conf_limits(1, 1000, 100, 1), 1);
    for (int i = 0; i < 3; i++) {
        char id[16];
        snprintf(id, sizeof id, "own-%d", i);
        conf_submit(s, "T", "own", id, 0, 1000 + i);
        snprintf(id, sizeof id, "x-%d", i);
        conf_submit(s, "T", "x", id, 0, 1000 + i);
        snprintf(id, sizeof id, "y-%d", i);
        conf_submit(s, "T", "y", id, 1, 1000 + i); /* y before x */
        snprintf(id, sizeof id, "ux-%d", i);
        conf_submit(s, "U", "x", id, 0, 1000 + i);
    }
    je_lease_out out = conf_lease(s, "T", "own,x,y", 10, 60000, t);
    assert_string_equal(conf_lease_ids(&out), "y-0,y-1,own-0");
    assert_string_equal(conf_leased(&out, "own-0")->quota_id, own.quota_id);
    assert_string_equal(conf_leased(&out, "y-0")->quota_id, star.quota_id);
    assert_int_equal(out.held, 1);
    conf_lease_free(&out);
    je_job got = conf_job_get(s, "T", "y-1");
    assert_string_equal(got.quota_id, star.quota_id);
    je_job_free(&got);
    assert_int_equal(conf_quota_get(s, "T", own.quota_id).q.state.active, 1);
    assert_int_equal(conf_quota_get(s, "T", star.quota_id).q.state.active, 2);
    assert_int_equal(conf_quota_get(s, "U", u_own.quota_id).q.state.active, 0);

    /* U's "x" quota is paused: T's own and "*" quotas do not govern U's jobs. */
    out = conf_lease(s, "U", "x", 10, 60000, t);
    assert_int_equal(out.n, 0);
    assert_int_equal(out.held, 1);
    assert_int_equal(out.only_paused, 1);
    conf_lease_free(&out);

    /* Completing frees the quota the lease was charged to. */
    out = conf_lease(s, "T", "x", 10, 60000, t + 1);
    assert_int_equal(out.n, 0);
    conf_lease_free(&out);
    je_job done;
    got = conf_job_get(s, "T", "y-0");
    assert_int_equal(s->ops->job_complete(s, "T", "y-0", got.lease_id, 1, NULL, t + 2, &done, &err),
                     1);
    je_job_free(&got);
    je_job_free(&done);
    assert_int_equal(conf_quota_get(s, "T", star.quota_id).q.state.active, 1);
    assert_int_equal(conf_quota_get(s, "T", own.quota_id).q.state.active, 1);
    out = conf_lease(s, "T", "x", 10, 60000, t + 3);
    assert_string_equal(conf_lease_ids(&out), "x-0");
    conf_lease_free(&out);
}

/* maxActive: leases up to the cap, then holds with nextEligibleAt = the earliest lease expiry. */
static void conf_lease_max_active(void **state) {
    je_store *s = ((conf_fx *)*state)->s;
    int64_t t = conf_future();
    je_quota_limits l = conf_limits(2, 1000, 100, 1);
    je_quota_record q = conf_quota_new(s, "T", "a", l, 0);
    for (int i = 0; i < 5; i++) {
        char id[16];
        snprintf(id, sizeof id, "a-%d", i);
        conf_submit(s, "T", "a", id, 0, 1000 + i);
    }
    je_lease_out out = conf_lease(s, "T", "a", 1, 10000, t);
    assert_string_equal(conf_lease_ids(&out), "a-0");
    assert_int_equal(out.held, 0);
    assert_string_equal(out.jobs[0].quota_id, q.quota_id);
    conf_lease_free(&out);
    out = conf_lease(s, "T", "a", 5, 5000, t + 1);
    assert_string_equal(conf_lease_ids(&out), "a-1");
    assert_int_equal(out.held, 1); /* a-2.. were held back */
    assert_int_equal(out.decision.kind, JE_DECISION_EXHAUSTED);
    assert_int_equal(out.decision.next_eligible_ms, t + 5001);
    conf_lease_free(&out);
    je_quota_record got = conf_quota_get(s, "T", q.quota_id);
    assert_int_equal(got.q.state.active, 2);
    assert_int_equal(got.q.state.hour_count, 2);
    int64_t throttled = got.q.state.throttled;

    out = conf_lease(s, "T", "a", 5, 60000, t + 2);
    assert_int_equal(out.n, 0);
    assert_int_equal(out.held, 1);
    assert_int_equal(out.only_paused, 0);
    assert_int_equal(out.decision.kind, JE_DECISION_EXHAUSTED);
    assert_int_equal(out.decision.next_eligible_ms, t + 5001); /* a-1 expires first */
    assert_int_equal(out.decision.remaining, 0);
    conf_limits_equal(&out.limits, &l);
    conf_lease_free(&out);
    got = conf_quota_get(s, "T", q.quota_id);
    assert_int_equal(got.q.state.active, 2);
    assert_int_equal(got.q.state.throttled, throttled + 1); /* asked once per call */
    assert_int_equal(conf_job_status(s, "T", "a-2"), JE_JOB_PENDING);

    /* A permit counts too: its expiry may be the earliest. */
    je_quota_record p = conf_quota_new(s, "T", "p", conf_limits(2, 1000, 100, 1), 0);
    conf_submit(s, "T", "p", "p-0", 0, 1000);
    conf_submit(s, "T", "p", "p-1", 0, 1001);
    je_acquire a = conf_acquire(s, "T", p.quota_id, 3000, t);
    assert_int_equal(a.decision.kind, JE_DECISION_GRANT);
    out = conf_lease(s, "T", "p", 5, 60000, t + 10);
    assert_string_equal(conf_lease_ids(&out), "p-0");
    assert_int_equal(out.held, 1);
    assert_int_equal(out.decision.next_eligible_ms, t + 3000);
    conf_lease_free(&out);
}

static void conf_lease_paused(void **state) {
    je_store *s = ((conf_fx *)*state)->s;
    int64_t t = conf_future();
    je_quota_limits l = conf_limits(5, 1000, 100, 1);
    je_quota_record p = conf_quota_new(s, "T", "p", l, 1);
    conf_submit(s, "T", "p", "p-0", 0, 1000);
    je_lease_out out = conf_lease(s, "T", "p", 5, 60000, t);
    assert_int_equal(out.n, 0);
    assert_int_equal(out.held, 1);
    assert_int_equal(out.only_paused, 1);
    assert_int_equal(out.decision.kind, JE_DECISION_PAUSED);
    assert_int_equal(out.decision.next_eligible_ms, JE_NO_TIME);
    conf_limits_equal(&out.limits, &l);
    conf_lease_free(&out);
    assert_int_equal(conf_job_status(s, "T", "p-0"), JE_JOB_PENDING); /* never failed for it */
    je_quota_record got = conf_quota_get(s, "T", p.quota_id);
    assert_int_equal(got.q.state.active, 0);
    assert_int_equal(got.q.state.hour_count, 0);

    /* With a full quota holding work back as well, not only paused. */
    je_quota_record f = conf_quota_new(s, "T", "f", conf_limits(1, 1000, 100, 1), 0);
    conf_submit(s, "T", "f", "f-0", 5, 1000);
    conf_submit(s, "T", "f", "f-1", 5, 1001);
    conf_submit(s, "T", "free", "free-0", -5, 1000); /* no quota: not limited */
    out = conf_lease(s, "T", "p,f,free", 5, 60000, t);
    assert_string_equal(conf_lease_ids(&out), "f-0,free-0");
    assert_int_equal(out.held, 1);
    assert_int_equal(out.only_paused, 0);
    /* the first quota that held work back: f (priority 5) before p (priority 0) */
    assert_int_equal(out.decision.kind, JE_DECISION_EXHAUSTED);
    assert_int_equal(out.limits.max_active, 1);
    conf_lease_free(&out);
    assert_int_equal(conf_quota_get(s, "T", f.quota_id).q.state.active, 1);
    assert_int_equal(conf_job_status(s, "T", "p-0"), JE_JOB_PENDING);
}

/* The token bucket holds too: nextEligibleAt when the next token is there. */
static void conf_lease_burst(void **state) {
    je_store *s = ((conf_fx *)*state)->s;
    int64_t t = conf_future();
    je_quota_record q = conf_quota_new(s, "T", "a", conf_limits(100, 1000, 2, 0.5), 0);
    for (int i = 0; i < 5; i++) {
        char id[16];
        snprintf(id, sizeof id, "a-%d", i);
        conf_submit(s, "T", "a", id, 0, 1000 + i);
    }
    je_lease_out out = conf_lease(s, "T", "a", 5, 600000, t);
    assert_string_equal(conf_lease_ids(&out), "a-0,a-1");
    assert_int_equal(out.held, 1);
    assert_int_equal(out.decision.kind, JE_DECISION_EXHAUSTED);
    assert_int_equal(out.decision.next_eligible_ms, t + 2000); /* 1 token at 0.5/s */
    conf_lease_free(&out);
    out = conf_lease(s, "T", "a", 5, 600000, t + 1999);
    assert_int_equal(out.n, 0);
    conf_lease_free(&out);
    out = conf_lease(s, "T", "a", 5, 600000, t + 2000);
    assert_string_equal(conf_lease_ids(&out), "a-2");
    conf_lease_free(&out);
    je_quota_record got = conf_quota_get(s, "T", q.quota_id);
    assert_int_equal(got.q.state.active, 3);
    assert_int_equal(got.q.state.hour_count, 3);
}

/* Backfill jobs hold at most ceil(maxActive * share) slots; live jobs lease first. */
static void conf_lease_backfill_share(void **state) {
    je_store *s = ((conf_fx *)*state)->s;
    je_err err;
    int64_t t = conf_future();
    je_quota_record q = conf_quota_new(s, "T", "a", conf_limits(4, 1000, 100, 1), 0);
    for (int i = 1; i <= 4; i++) {
        char id[16];
        snprintf(id, sizeof id, "b%d", i);
        conf_submit_backfill(s, "T", "a", id, i, 1000 + i);
    }
    je_lease_out out = conf_lease(s, "T", "a", 10, 60000, t);
    assert_string_equal(conf_lease_ids(&out), "b1,b2"); /* ceil(4 * 0.5) */
    assert_int_equal(out.held, 1);
    assert_int_equal(out.decision.kind, JE_DECISION_EXHAUSTED);
    je_lease_out bf = out;
    assert_int_equal(conf_quota_get(s, "T", q.quota_id).q.state.active, 2);

    /* Live work still gets the rest of the quota. */
    for (int i = 1; i <= 4; i++) {
        char id[16];
        snprintf(id, sizeof id, "l%d", i);
        conf_submit(s, "T", "a", id, 0, 5000 + i);
    }
    out = conf_lease(s, "T", "a", 10, 60000, t + 1);
    assert_string_equal(conf_lease_ids(&out), "l1,l2");
    assert_int_equal(out.held, 1);
    je_lease_out live = out;
    assert_int_equal(conf_quota_get(s, "T", q.quota_id).q.state.active, 4);

    /* One backfill slot frees: with both waiting, the live job takes it. */
    je_job done;
    assert_int_equal(
        s->ops->job_complete(s, "T", "b1", bf.jobs[0].lease_id, 1, NULL, t + 2, &done, &err), 1);
    je_job_free(&done);
    out = conf_lease(s, "T", "a", 1, 60000, t + 3);
    assert_string_equal(conf_lease_ids(&out), "l3");
    conf_lease_free(&out);

    /* Two live slots free: l4 first, then b3 (the backfill lane holds 1 of its 2). */
    for (int i = 0; i < 2; i++) {
        assert_int_equal(s->ops->job_complete(s, "T", live.jobs[i].job_id, live.jobs[i].lease_id, 1,
                                              NULL, t + 4, &done, &err),
                         1);
        je_job_free(&done);
    }
    out = conf_lease(s, "T", "a", 10, 60000, t + 5);
    assert_string_equal(conf_lease_ids(&out), "l4,b3");
    conf_lease_free(&out);
    assert_int_equal(conf_quota_get(s, "T", q.quota_id).q.state.active, 4);

    /* The backfill lane is full (b2, b3) though a slot frees for it: b4 waits. */
    je_job l4 = conf_job_get(s, "T", "l4");
    assert_int_equal(s->ops->job_complete(s, "T", "l4", l4.lease_id, 1, NULL, t + 6, &done, &err),
                     1);
    je_job_free(&l4);
    je_job_free(&done);
    out = conf_lease(s, "T", "a", 10, 60000, t + 7);
    assert_int_equal(out.n, 0);
    assert_int_equal(out.held, 1);
    conf_lease_free(&out);
    assert_int_equal(conf_quota_get(s, "T", q.quota_id).q.state.active, 3);
    assert_int_equal(conf_job_status(s, "T", "b4"), JE_JOB_PENDING);

    /* Another share: 1.0 lets backfill take the whole quota. */
    const char *types[] = {"a"};
    je_lease_req r = conf_lease_req(types, 1, 10, 60000, t + 8);
    r.backfill_share = 1.0;
    out = conf_lease_with(s, "T", &r);
    assert_string_equal(conf_lease_ids(&out), "b4");
    conf_lease_free(&out);
    assert_int_equal(conf_quota_get(s, "T", q.quota_id).q.state.active, 4);
    conf_lease_free(&bf);
    conf_lease_free(&live);
}

/* Leases and permits share one count of active work. */
static void conf_lease_with_permits(void **state) {
    je_store *s = ((conf_fx *)*state)->s;
    je_err err;
    int64_t t = conf_future();
    je_quota_record q = conf_quota_new(s, "T", "a", conf_limits(3, 1000, 100, 1), 0);
    for (int i = 0; i < 5; i++) {
        char id[16];
        snprintf(id, sizeof id, "a-%d", i);
        conf_submit(s, "T", "a", id, 0, 1000 + i);
    }
    je_acquire p = conf_acquire(s, "T", q.quota_id, 600000, t);
    assert_int_equal(p.decision.kind, JE_DECISION_GRANT);
    je_lease_out out = conf_lease(s, "T", "a", 10, 60000, t + 1);
    assert_string_equal(conf_lease_ids(&out), "a-0,a-1");
    assert_int_equal(out.held, 1);
    conf_lease_free(&out);
    assert_int_equal(conf_quota_get(s, "T", q.quota_id).q.state.active, 3);
    je_acquire d = conf_acquire(s, "T", q.quota_id, 1000, t + 2);
    assert_int_equal(d.decision.kind, JE_DECISION_EXHAUSTED);
    assert_int_equal(d.decision.next_eligible_ms, t + 60001); /* the earliest lease */

    assert_int_equal(s->ops->quota_release(s, "T", q.quota_id, p.permit_id, t + 3, &err), 1);
    out = conf_lease(s, "T", "a", 10, 60000, t + 4);
    assert_string_equal(conf_lease_ids(&out), "a-2");
    conf_lease_free(&out);
    assert_int_equal(conf_quota_get(s, "T", q.quota_id).q.state.active, 3);

    /* An acquire at a later now frees the quota's expired leases first, as a lease does. */
    je_acquire late = conf_acquire(s, "T", q.quota_id, 1000, t + 60001);
    assert_int_equal(late.decision.kind, JE_DECISION_GRANT);
    assert_int_equal(late.rec.q.state.active, 2); /* a-0 and a-1 expired, a-2 still held */
    assert_int_equal(conf_job_status(s, "T", "a-0"), JE_JOB_PENDING);
    assert_int_equal(conf_job_status(s, "T", "a-2"), JE_JOB_LEASED);
}

/* A paused quota holds everything back as paused, also backfill work beyond its share
 * (api.md §3.4: "a paused quota answers 423 QUOTA_PAUSED whatever else applies"; with only
 * paused quotas holding work back, nextEligibleAt is null). */
static void conf_lease_backfill_paused(void **state) {
    je_store *s = ((conf_fx *)*state)->s;
    je_err err;
    je_quota_record got;
    int64_t t = conf_future();
    je_quota_record q = conf_quota_new(s, "T", "a", conf_limits(4, 1000, 100, 1), 0);
    for (int i = 1; i <= 3; i++) {
        char id[16];
        snprintf(id, sizeof id, "b%d", i);
        conf_submit_backfill(s, "T", "a", id, i, 1000 + i);
    }
    je_lease_out out = conf_lease(s, "T", "a", 10, 60000, t);
    assert_string_equal(conf_lease_ids(&out), "b1,b2");
    conf_lease_free(&out);
    conf_change p = conf_change_of(CONF_Q_PAUSE, NULL, conf_limits(1, 1, 1, 1), JE_CHANGE_DENY,
                                   JE_CHANGE_APPLY, NULL);
    assert_int_equal(
        s->ops->quota_change(s, "T", q.quota_id, NULL, conf_change_fn, &p, NULL, &got, &err),
        JE_CHANGE_APPLY);
    out = conf_lease(s, "T", "a", 10, 60000, t + 1);
    assert_int_equal(out.n, 0);
    assert_int_equal(out.held, 1);
    assert_int_equal(out.only_paused, 1);
    assert_int_equal(out.decision.kind, JE_DECISION_PAUSED);
    assert_int_equal(out.decision.next_eligible_ms, JE_NO_TIME);
    conf_lease_free(&out);
}

/* A lease after an elevation's expiry reverts it first (with its audit entry). */
static void conf_lease_elevation_expiry(void **state) {
    je_store *s = ((conf_fx *)*state)->s;
    je_err err;
    je_quota_record got;
    int64_t t = conf_future();
    je_quota_limits base = conf_limits(1, 1000, 100, 1), up = conf_limits(3, 1000, 100, 1);
    je_quota_record q = conf_quota_new(s, "T", "a", base, 0);
    conf_change e =
        conf_change_of(CONF_Q_ELEVATE, NULL, up, JE_CHANGE_DENY, JE_CHANGE_APPLY, "quota.updated");
    e.expires_ms = t + 5000;
    assert_int_equal(
        s->ops->quota_change(s, "T", q.quota_id, NULL, conf_change_fn, &e, NULL, &got, &err),
        JE_CHANGE_APPLY);
    for (int i = 0; i < 5; i++) {
        char id[16];
        snprintf(id, sizeof id, "e-%d", i);
        conf_submit(s, "T", "a", id, 0, 1000 + i);
    }
    conf_elev_calls = 0;
    const char *types[] = {"a"};
    je_lease_req r = conf_lease_req(types, 1, 5, 600000, t + 4999);
    je_lease_out out;
    assert_int_equal(s->ops->jobs_lease(s, "T", &r, conf_elev_audit, &out, &err), 0);
    assert_string_equal(conf_lease_ids(&out), "e-0,e-1,e-2"); /* still elevated */
    conf_limits_equal(&out.limits, &up);
    assert_int_equal(conf_elev_calls, 0);
    conf_lease_free(&out);

    r.now_ms = t + 5000;
    assert_int_equal(s->ops->jobs_lease(s, "T", &r, conf_elev_audit, &out, &err), 0);
    assert_int_equal(out.n, 0);
    assert_int_equal(out.held, 1);
    conf_limits_equal(&out.limits, &base);
    assert_int_equal(conf_elev_calls, 1);
    conf_lease_free(&out);
    got = conf_quota_get(s, "T", q.quota_id);
    conf_limits_equal(&got.q.limits, &base);
    assert_int_equal(got.q.elevation_expires_ms, JE_NO_TIME);
    assert_int_equal(got.q.state.active, 3);
    assert_int_equal(conf_chain_len(s, "T"), 2);
    conf_last_event(s, "T", "quota.elevation.expired", q.quota_id);
}

/* ---- jobs: heartbeat, complete, expiry -------------------------------------------------- */

static void conf_job_heartbeat(void **state) {
    je_store *s = ((conf_fx *)*state)->s;
    je_err err;
    je_job hb;
    int64_t t = conf_future();
    je_quota_record q = conf_quota_new(s, "T", "a", conf_limits(2, 1000, 100, 1), 0);
    conf_submit(s, "T", "a", "h-0", 0, 1000);
    conf_submit(s, "T", "a", "h-1", 0, 1001);
    je_lease_out out = conf_lease(s, "T", "a", 1, 10000, t);
    assert_string_equal(conf_lease_ids(&out), "h-0");
    char lease[37];
    snprintf(lease, sizeof lease, "%s", out.jobs[0].lease_id);
    conf_lease_free(&out);

    assert_int_equal(s->ops->job_heartbeat(s, "T", "h-0", lease, 20000, t + 5000, &hb, &err), 1);
    assert_string_equal(hb.job_id, "h-0");
    assert_int_equal(hb.status, JE_JOB_LEASED);
    assert_string_equal(hb.lease_id, lease); /* the same lease, moved on */
    assert_int_equal(hb.lease_until_ms, t + 25000);
    assert_int_equal(hb.lease_ms, 20000);
    assert_int_equal(hb.attempt, 1);
    assert_int_equal(hb.updated_ms, t + 5000);
    je_job_free(&hb);
    je_job got = conf_job_get(s, "T", "h-0");
    assert_int_equal(got.lease_until_ms, t + 25000);
    assert_string_equal(got.lease_id, lease);
    je_job_free(&got);

    /* Not this lease, no such job, another tenant, a job never leased. */
    assert_int_equal(s->ops->job_heartbeat(s, "T", "h-0", "00000000-0000-7000-8000-000000000000",
                                           60000, t + 6000, &hb, &err),
                     -2);
    je_job_free(&hb);
    assert_int_equal(s->ops->job_heartbeat(s, "T", "h-0", "", 60000, t + 6000, &hb, &err), -2);
    je_job_free(&hb);
    assert_int_equal(s->ops->job_heartbeat(s, "T", "nope", lease, 60000, t + 6000, &hb, &err), 0);
    je_job_free(&hb);
    assert_int_equal(s->ops->job_heartbeat(s, "U", "h-0", lease, 60000, t + 6000, &hb, &err), 0);
    je_job_free(&hb);
    assert_int_equal(s->ops->job_heartbeat(s, "T", "h-1", lease, 60000, t + 6000, &hb, &err), -2);
    je_job_free(&hb);
    got = conf_job_get(s, "T", "h-0");
    assert_int_equal(got.lease_until_ms, t + 25000); /* none of those moved it */
    je_job_free(&got);
    assert_int_equal(conf_job_status(s, "T", "h-1"), JE_JOB_PENDING);

    /* Just in time, then too late. */
    assert_int_equal(s->ops->job_heartbeat(s, "T", "h-0", lease, 1000, t + 24999, &hb, &err), 1);
    assert_int_equal(hb.lease_until_ms, t + 25999);
    je_job_free(&hb);
    assert_int_equal(s->ops->job_heartbeat(s, "T", "h-0", lease, 60000, t + 25999, &hb, &err), -2);
    je_job_free(&hb);
    je_job done;
    assert_int_equal(s->ops->job_complete(s, "T", "h-0", lease, 1, NULL, t + 26000, &done, &err),
                     -2);
    je_job_free(&done);
    assert_int_equal(conf_quota_get(s, "T", q.quota_id).q.state.active, 1); /* until swept */
    assert_int_equal(s->ops->leases_expire(s, t + 26000, &err), 1);
    assert_int_equal(conf_quota_get(s, "T", q.quota_id).q.state.active, 0);
    assert_int_equal(conf_job_status(s, "T", "h-0"), JE_JOB_PENDING);
    assert_int_equal(s->ops->job_heartbeat(s, "T", "h-0", lease, 60000, t + 26001, &hb, &err), -2);
    je_job_free(&hb);
}

static void conf_job_complete(void **state) {
    je_store *s = ((conf_fx *)*state)->s;
    je_err err;
    je_job done;
    int64_t t = conf_future();
    je_quota_record q = conf_quota_new(s, "T", "a", conf_limits(2, 1000, 100, 1), 0);
    conf_submit(s, "T", "a", "ok", 10, 1000);
    je_job r = conf_job_of("T", "a", "retry", 5, 1000);
    r.max_attempts = 2;
    conf_job_put(s, &r, NULL);
    je_lease_out out = conf_lease(s, "T", "a", 2, 60000, t);
    assert_string_equal(conf_lease_ids(&out), "ok,retry");
    char ok_lease[37], retry_lease[37];
    snprintf(ok_lease, sizeof ok_lease, "%s", out.jobs[0].lease_id);
    snprintf(retry_lease, sizeof retry_lease, "%s", out.jobs[1].lease_id);
    conf_lease_free(&out);
    assert_int_equal(conf_quota_get(s, "T", q.quota_id).q.state.active, 2);

    /* Not its lease: nothing changes. */
    assert_int_equal(s->ops->job_complete(s, "T", "ok", retry_lease, 1, NULL, t + 50, &done, &err),
                     -2);
    je_job_free(&done);
    assert_int_equal(s->ops->job_complete(s, "T", "nope", ok_lease, 1, NULL, t + 50, &done, &err),
                     0);
    je_job_free(&done);
    assert_int_equal(s->ops->job_complete(s, "U", "ok", ok_lease, 1, NULL, t + 50, &done, &err), 0);
    je_job_free(&done);
    assert_int_equal(conf_job_status(s, "T", "ok"), JE_JOB_LEASED);
    assert_int_equal(conf_quota_get(s, "T", q.quota_id).q.state.active, 2);

    /* Succeeded: the slot is released, once. */
    assert_int_equal(s->ops->job_complete(s, "T", "ok", ok_lease, 1, NULL, t + 100, &done, &err),
                     1);
    assert_int_equal(done.status, JE_JOB_SUCCEEDED);
    assert_int_equal(done.completed_ms, t + 100);
    assert_int_equal(done.updated_ms, t + 100);
    assert_int_equal(done.attempt, 1);
    assert_int_equal(done.failures, 0);
    assert_string_equal(done.lease_id, "");
    assert_string_equal(done.error, "");
    je_job_free(&done);
    assert_int_equal(conf_quota_get(s, "T", q.quota_id).q.state.active, 1);
    assert_int_equal(s->ops->job_complete(s, "T", "ok", ok_lease, 1, NULL, t + 101, &done, &err),
                     -2);
    je_job_free(&done);
    assert_int_equal(s->ops->job_complete(s, "T", "ok", ok_lease, 0, "x", t + 101, &done, &err),
                     -2);
    je_job_free(&done);
    assert_int_equal(conf_quota_get(s, "T", q.quota_id).q.state.active, 1);
    je_job got = conf_job_get(s, "T", "ok");
    assert_int_equal(got.status, JE_JOB_SUCCEEDED);
    assert_int_equal(got.completed_ms, t + 100);
    assert_string_equal(got.lease_id, "");
    je_job_free(&got);

    /* Failed with attempts left: pending again after the backoff. */
    assert_int_equal(
        s->ops->job_complete(s, "T", "retry", retry_lease, 0, "boom", t + 100, &done, &err), 1);
    assert_int_equal(done.status, JE_JOB_PENDING);
    assert_int_equal(done.available_ms, t + 100 + 2000);
    assert_int_equal(done.failures, 1);
    assert_int_equal(done.attempt, 1);
    assert_string_equal(done.error, "boom");
    assert_int_equal(done.completed_ms, JE_NO_TIME);
    assert_string_equal(done.lease_id, "");
    je_job_free(&done);
    assert_int_equal(conf_quota_get(s, "T", q.quota_id).q.state.active, 0);
    assert_int_equal(
        s->ops->job_complete(s, "T", "retry", retry_lease, 0, "boom", t + 101, &done, &err), -2);
    je_job_free(&done);
    out = conf_lease(s, "T", "a", 5, 60000, t + 2099);
    assert_int_equal(out.n, 0);
    assert_int_equal(out.held, 0);
    conf_lease_free(&out);
    out = conf_lease(s, "T", "a", 5, 60000, t + 2100);
    assert_string_equal(conf_lease_ids(&out), "retry");
    assert_int_equal(out.jobs[0].attempt, 2);
    assert_string_not_equal(out.jobs[0].lease_id, retry_lease);
    snprintf(retry_lease, sizeof retry_lease, "%s", out.jobs[0].lease_id);
    conf_lease_free(&out);

    /* The attempt that reaches maxAttempts leaves it failed. */
    assert_int_equal(
        s->ops->job_complete(s, "T", "retry", retry_lease, 0, "boom2", t + 2200, &done, &err), 1);
    assert_int_equal(done.status, JE_JOB_FAILED);
    assert_int_equal(done.failures, 2);
    assert_int_equal(done.attempt, 2);
    assert_int_equal(done.completed_ms, t + 2200);
    assert_string_equal(done.error, "boom2");
    je_job_free(&done);
    assert_int_equal(conf_quota_get(s, "T", q.quota_id).q.state.active, 0);
    out = conf_lease(s, "T", "a", 5, 60000, t + 600000);
    assert_int_equal(out.n, 0);
    conf_lease_free(&out);
    got = conf_job_get(s, "T", "retry");
    assert_int_equal(got.status, JE_JOB_FAILED);
    assert_string_equal(got.error, "boom2");
    je_job_free(&got);

    /* The backoff doubles: 2 s, then 4 s. A failure without an error has none. */
    conf_submit(s, "T", "a", "three", 0, 2000);
    out = conf_lease(s, "T", "a", 1, 60000, t + 3000);
    assert_string_equal(conf_lease_ids(&out), "three");
    assert_int_equal(
        s->ops->job_complete(s, "T", "three", out.jobs[0].lease_id, 0, NULL, t + 3010, &done, &err),
        1);
    assert_int_equal(done.available_ms, t + 5010);
    assert_string_equal(done.error, "");
    je_job_free(&done);
    conf_lease_free(&out);
    out = conf_lease(s, "T", "a", 1, 60000, t + 5010);
    assert_string_equal(conf_lease_ids(&out), "three");
    assert_int_equal(
        s->ops->job_complete(s, "T", "three", out.jobs[0].lease_id, 0, "e2", t + 5020, &done, &err),
        1);
    assert_int_equal(done.status, JE_JOB_PENDING);
    assert_int_equal(done.available_ms, t + 9020);
    assert_int_equal(done.failures, 2);
    je_job_free(&done);
    conf_lease_free(&out);
    out = conf_lease(s, "T", "a", 1, 60000, t + 9019);
    assert_int_equal(out.n, 0);
    conf_lease_free(&out);
    out = conf_lease(s, "T", "a", 1, 60000, t + 9020);
    assert_string_equal(conf_lease_ids(&out), "three");
    assert_int_equal(out.jobs[0].attempt, 3);
    assert_int_equal(
        s->ops->job_complete(s, "T", "three", out.jobs[0].lease_id, 1, NULL, t + 9030, &done, &err),
        1);
    assert_int_equal(done.status, JE_JOB_SUCCEEDED);
    assert_string_equal(done.error, ""); /* success clears the last failure's error */
    je_job_free(&done);
    conf_lease_free(&out);
    assert_int_equal(conf_quota_get(s, "T", q.quota_id).q.state.active, 0);
}

/* A quota deleted while its leases run: the leases go on, completing them frees nothing (not
 * even in a new quota of the same job type). */
static void conf_job_complete_quota_deleted(void **state) {
    je_store *s = ((conf_fx *)*state)->s;
    je_err err;
    je_job done;
    je_quota_record got;
    int64_t t = conf_future();
    je_quota_record q = conf_quota_new(s, "T", "a", conf_limits(2, 1000, 100, 1), 0);
    conf_submit(s, "T", "a", "d-0", 0, 1000);
    conf_submit(s, "T", "a", "d-1", 0, 1001);
    je_lease_out out = conf_lease(s, "T", "a", 1, 60000, t);
    assert_string_equal(conf_lease_ids(&out), "d-0");
    conf_change d = conf_change_of(CONF_Q_CREATE, NULL, conf_limits(1, 1, 1, 1), JE_CHANGE_DENY,
                                   JE_CHANGE_DELETE, NULL);
    assert_int_equal(
        s->ops->quota_change(s, "T", q.quota_id, NULL, conf_change_fn, &d, NULL, &got, &err),
        JE_CHANGE_DELETE);
    je_quota_record again = conf_quota_new(s, "T", "a", conf_limits(1, 1000, 100, 1), 0);
    je_lease_out out2 = conf_lease(s, "T", "a", 1, 60000, t + 1);
    assert_string_equal(conf_lease_ids(&out2), "d-1");
    assert_string_equal(out2.jobs[0].quota_id, again.quota_id);
    assert_int_equal(conf_quota_get(s, "T", again.quota_id).q.state.active, 1);

    assert_int_equal(
        s->ops->job_heartbeat(s, "T", "d-0", out.jobs[0].lease_id, 60000, t + 2, &done, &err), 1);
    je_job_free(&done);
    assert_int_equal(
        s->ops->job_complete(s, "T", "d-0", out.jobs[0].lease_id, 1, NULL, t + 3, &done, &err), 1);
    assert_int_equal(done.status, JE_JOB_SUCCEEDED);
    je_job_free(&done);
    assert_int_equal(conf_quota_get(s, "T", again.quota_id).q.state.active, 1);
    assert_int_equal(
        s->ops->job_complete(s, "T", "d-1", out2.jobs[0].lease_id, 1, NULL, t + 4, &done, &err), 1);
    je_job_free(&done);
    assert_int_equal(conf_quota_get(s, "T", again.quota_id).q.state.active, 0);
    conf_lease_free(&out);
    conf_lease_free(&out2);
}

static void conf_leases_expire(void **state) {
    je_store *s = ((conf_fx *)*state)->s;
    je_err err;
    je_job x;
    int64_t t = conf_future();
    je_quota_record q = conf_quota_new(s, "T", "a", conf_limits(2, 1000, 100, 1), 0);
    je_quota_record u = conf_quota_new(s, "U", "a", conf_limits(2, 1000, 100, 1), 0);
    for (int i = 0; i < 4; i++) {
        char id[16];
        snprintf(id, sizeof id, "e-%d", i);
        conf_submit(s, "T", "a", id, 0, 1000 + i);
    }
    conf_submit(s, "T", "free", "free-0", 0, 1000);
    conf_submit(s, "U", "a", "u-0", 0, 1000);
    je_lease_out out = conf_lease(s, "T", "a", 5, 1000, t);
    assert_string_equal(conf_lease_ids(&out), "e-0,e-1");
    char old[37];
    snprintf(old, sizeof old, "%s", out.jobs[0].lease_id);
    conf_lease_free(&out);
    out = conf_lease(s, "T", "free", 5, 1000, t); /* no quota */
    assert_string_equal(conf_lease_ids(&out), "free-0");
    conf_lease_free(&out);
    out = conf_lease(s, "U", "a", 5, 5000, t);
    assert_string_equal(conf_lease_ids(&out), "u-0");
    conf_lease_free(&out);

    assert_int_equal(s->ops->leases_expire(s, t + 999, &err), 0);
    assert_int_equal(conf_quota_get(s, "T", q.quota_id).q.state.active, 2);
    assert_int_equal(s->ops->leases_expire(s, t + 1000, &err), 3); /* at leaseUntil */
    assert_int_equal(s->ops->leases_expire(s, t + 1000, &err), 0);
    assert_int_equal(conf_quota_get(s, "T", q.quota_id).q.state.active, 0);
    assert_int_equal(conf_quota_get(s, "U", u.quota_id).q.state.active, 1);
    je_job got = conf_job_get(s, "T", "e-0");
    assert_int_equal(got.status, JE_JOB_PENDING);
    assert_int_equal(got.attempt, 1);  /* kept: attempt counts leases granted */
    assert_int_equal(got.failures, 0); /* not a failed attempt */
    assert_string_equal(got.lease_id, "");
    assert_string_equal(got.worker_id, "");
    assert_string_equal(got.quota_id, "");
    assert_int_equal(got.completed_ms, JE_NO_TIME);
    assert_true(got.available_ms <= t + 1000); /* leasable at once */
    je_job_free(&got);
    assert_int_equal(conf_job_status(s, "T", "free-0"), JE_JOB_PENDING);
    assert_int_equal(conf_job_status(s, "U", "u-0"), JE_JOB_LEASED);

    /* The expired lease is lost; using it frees nothing twice. */
    assert_int_equal(s->ops->job_heartbeat(s, "T", "e-0", old, 1000, t + 1001, &x, &err), -2);
    je_job_free(&x);
    assert_int_equal(s->ops->job_complete(s, "T", "e-0", old, 1, NULL, t + 1001, &x, &err), -2);
    je_job_free(&x);
    assert_int_equal(conf_quota_get(s, "T", q.quota_id).q.state.active, 0);

    /* Leased again: the oldest first, the attempt goes on. */
    out = conf_lease(s, "T", "a", 5, 1000, t + 1001);
    assert_string_equal(conf_lease_ids(&out), "e-0,e-1");
    assert_int_equal(out.jobs[0].attempt, 2);
    conf_lease_free(&out);
    out = conf_lease(s, "T", "a", 5, 1000, t + 1500);
    assert_int_equal(out.n, 0);
    assert_int_equal(out.held, 1);
    assert_int_equal(out.decision.next_eligible_ms, t + 2001);
    conf_lease_free(&out);

    /* A lease at a later now frees the quota's expired leases first, without a sweep. */
    out = conf_lease(s, "T", "a", 5, 1000, t + 2001);
    assert_string_equal(conf_lease_ids(&out), "e-0,e-1");
    assert_int_equal(out.jobs[0].attempt, 3);
    assert_int_equal(out.held, 1);
    conf_lease_free(&out);
    je_quota_record gq = conf_quota_get(s, "T", q.quota_id);
    assert_int_equal(gq.q.state.active, 2);
    assert_int_equal(gq.q.state.hour_count, 6);
    assert_int_equal(s->ops->leases_expire(s, t + 2001, &err), 0);

    /* One sweep over tenants and quotas. */
    assert_int_equal(s->ops->leases_expire(s, t + 5000, &err), 3);
    assert_int_equal(conf_quota_get(s, "T", q.quota_id).q.state.active, 0);
    assert_int_equal(conf_quota_get(s, "U", u.quota_id).q.state.active, 0);
    assert_int_equal(conf_job_status(s, "U", "u-0"), JE_JOB_PENDING);
    conf_jobs_expect(s, "T", JE_JOB_PENDING, NULL, INT64_MIN, "", 100, "e-0,free-0,e-1,e-2,e-3");
}

static void conf_jobs_pending(void **state) {
    je_store *s = ((conf_fx *)*state)->s;
    je_err err;
    int64_t t = conf_future();
    conf_quota_new(s, "T", "a", conf_limits(5, 1000, 100, 1), 0);
    conf_quota_new(s, "T", "*", conf_limits(5, 1000, 100, 1), 0);
    conf_quota_new(s, "U", "b", conf_limits(5, 1000, 100, 1), 0); /* another tenant's */
    const char *types[] = {"a", "a", "a", "b", "b", "c"};
    for (int i = 0; i < 6; i++) {
        char id[16];
        snprintf(id, sizeof id, "p-%d", i);
        conf_submit(s, "T", types[i], id, 0, 1000 + i);
    }
    for (int i = 0; i < 4; i++) {
        char id[16];
        snprintf(id, sizeof id, "u-%d", i);
        conf_submit(s, "U", "c", id, 0, 1000 + i);
    }
    assert_int_equal(s->ops->jobs_pending(s, "T", "a", &err), 3);
    assert_int_equal(s->ops->jobs_pending(s, "T", "b", &err), 2);
    assert_int_equal(s->ops->jobs_pending(s, "T", "c", &err), 1);
    assert_int_equal(s->ops->jobs_pending(s, "T", "zzz", &err), 0);
    assert_int_equal(s->ops->jobs_pending(s, "T", "*", &err),
                     3); /* b and c: no quota of their own */
    assert_int_equal(s->ops->jobs_pending(s, "U", "c", &err), 4);
    assert_int_equal(s->ops->jobs_pending(s, "U", "*", &err), 4);
    assert_int_equal(s->ops->jobs_pending(s, "nobody", "*", &err), 0);

    /* Leased and finished jobs are not pending; a job waiting out its backoff is. */
    je_lease_out out = conf_lease(s, "T", "a,b", 2, 60000, t);
    assert_string_equal(conf_lease_ids(&out), "p-0,p-1");
    je_job done;
    assert_int_equal(
        s->ops->job_complete(s, "T", "p-0", out.jobs[0].lease_id, 0, "x", t + 1, &done, &err), 1);
    je_job_free(&done);
    conf_lease_free(&out);
    out = conf_lease(s, "T", "b", 1, 60000, t + 2);
    assert_string_equal(conf_lease_ids(&out), "p-3");
    assert_int_equal(
        s->ops->job_complete(s, "T", "p-3", out.jobs[0].lease_id, 1, NULL, t + 3, &done, &err), 1);
    je_job_free(&done);
    conf_lease_free(&out);
    assert_int_equal(s->ops->jobs_pending(s, "T", "a", &err), 2); /* p-0 (backoff), p-2 */
    assert_int_equal(s->ops->jobs_pending(s, "T", "b", &err), 1);
    assert_int_equal(s->ops->jobs_pending(s, "T", "*", &err), 2);

    /* A quota of its own takes the type out of "*". */
    conf_quota_new(s, "T", "c", conf_limits(5, 1000, 100, 1), 0);
    assert_int_equal(s->ops->jobs_pending(s, "T", "*", &err), 1);
    assert_int_equal(s->ops->jobs_pending(s, "T", "c", &err), 1);
}

/* ---- jobs: exactness under concurrency -------------------------------------------------- */

#define CONF_JOBS 400
#define CONF_JOB_MAX_ACTIVE 3

typedef struct conf_job_run {
    je_store *s;
    int64_t now;
    atomic_int held, max_held, completed, leased, empty, failures, overlaps;
    atomic_int in_flight[CONF_JOBS];
    atomic_int succeeded[CONF_JOBS];
    double deadline;
} conf_job_run;

static int conf_job_index(const je_job *j) {
    const char *p = j->payload ? strstr(j->payload, "\"i\":") : NULL;
    int i = p ? atoi(p + 4) : -1;
    return i >= 0 && i < CONF_JOBS ? i : -1;
}

static void *conf_job_worker(void *p) {
    conf_job_run *r = p;
    je_err err;
    const char *types[] = {"busy"};
    je_lease_req q = conf_lease_req(types, 1, 2, 600000, r->now);
    while (atomic_load(&r->completed) < CONF_JOBS && conf_now() < r->deadline) {
        je_lease_out out;
        if (r->s->ops->jobs_lease(r->s, "T", &q, NULL, &out, &err) != 0) {
            atomic_fetch_add(&r->failures, 1);
            continue;
        }
        if (out.n == 0) {
            atomic_fetch_add(&r->empty, 1);
            sched_yield();
        }
        if (out.n > 2) atomic_fetch_add(&r->failures, 1);
        int h = atomic_fetch_add(&r->held, (int)out.n) + (int)out.n;
        int m = atomic_load(&r->max_held);
        while (h > m && !atomic_compare_exchange_weak(&r->max_held, &m, h)) {
        }
        atomic_fetch_add(&r->leased, (int)out.n);
        int idx[2] = {-1, -1};
        for (size_t k = 0; k < out.n && k < 2; k++) {
            idx[k] = conf_job_index(&out.jobs[k]);
            if (idx[k] < 0 || atomic_exchange(&r->in_flight[idx[k]], 1) != 0)
                atomic_fetch_add(&r->overlaps, 1);
        }
        sched_yield();
        for (size_t k = 0; k < out.n && k < 2; k++) {
            /* stop counting it as held before the store may hand its slot to another */
            if (idx[k] >= 0) atomic_store(&r->in_flight[idx[k]], 0);
            atomic_fetch_sub(&r->held, 1);
            je_job done;
            int rc = r->s->ops->job_complete(r->s, "T", out.jobs[k].job_id, out.jobs[k].lease_id, 1,
                                             NULL, r->now, &done, &err);
            if (rc == 1 && done.status == JE_JOB_SUCCEEDED && idx[k] >= 0) {
                atomic_fetch_add(&r->succeeded[idx[k]], 1);
                atomic_fetch_add(&r->completed, 1);
            } else {
                atomic_fetch_add(&r->failures, 1);
            }
            je_job_free(&done);
        }
        conf_lease_free(&out);
    }
    return NULL;
}

typedef struct conf_jsum {
    int succeeded, attempt_one;
} conf_jsum;

static int conf_sum_job(void *ctx, const je_job *j) {
    conf_jsum *c = ctx;
    c->succeeded += j->status == JE_JOB_SUCCEEDED;
    c->attempt_one += j->attempt == 1;
    return 0;
}

static void conf_jobs_concurrent(void **state) {
    je_store *s = ((conf_fx *)*state)->s;
    je_err err;
    je_quota_record q =
        conf_quota_new(s, "T", "busy", conf_limits(CONF_JOB_MAX_ACTIVE, 1000000, 100000, 1), 0);
    for (int i = 0; i < CONF_JOBS; i++) {
        char id[16], payload[32];
        snprintf(id, sizeof id, "c-%03d", i);
        snprintf(payload, sizeof payload, "{\"i\":%d}", i);
        je_job j = conf_job_of("T", "busy", id, i % 7, 1000 + i);
        conf_job_put(s, &j, payload);
    }
    conf_job_run *r = calloc(1, sizeof *r);
    assert_non_null(r);
    r->s = s;
    r->now = conf_future();
    double t0 = conf_now();
    r->deadline = t0 + 90;
    pthread_t t[CONF_THREADS];
    for (int i = 0; i < CONF_THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, conf_job_worker, r), 0);
    for (int i = 0; i < CONF_THREADS; i++) pthread_join(t[i], NULL);
    print_message("jobs: %d leased and completed by %d threads in %.2fs, %d empty leases, at most "
                  "%d held at once\n",
                  atomic_load(&r->leased), CONF_THREADS, conf_now() - t0, atomic_load(&r->empty),
                  atomic_load(&r->max_held));
    assert_int_equal(atomic_load(&r->failures), 0);
    assert_int_equal(atomic_load(&r->overlaps), 0);
    assert_true(atomic_load(&r->max_held) >= 1);
    assert_true(atomic_load(&r->max_held) <= CONF_JOB_MAX_ACTIVE);
    assert_int_equal(atomic_load(&r->completed), CONF_JOBS);
    assert_int_equal(atomic_load(&r->leased), CONF_JOBS); /* none leased twice */
    for (int i = 0; i < CONF_JOBS; i++) assert_int_equal(atomic_load(&r->succeeded[i]), 1);
    conf_jsum sum = {0, 0};
    je_job_filter f = {-1, "busy", INT64_MIN, "", CONF_JOBS + 10};
    assert_int_equal(s->ops->job_list(s, "T", &f, conf_sum_job, &sum, &err), 0);
    assert_int_equal(sum.succeeded, CONF_JOBS);
    assert_int_equal(sum.attempt_one, CONF_JOBS);
    je_quota_record got = conf_quota_get(s, "T", q.quota_id);
    assert_int_equal(got.q.state.active, 0);
    assert_int_equal(got.q.state.hour_count, CONF_JOBS);
    assert_int_equal(s->ops->jobs_pending(s, "T", "busy", &err), 0);
    free(r);
}

/* ---- jobs: durability ------------------------------------------------------------------- */

static void conf_jobs_reopen(void **state) {
    conf_fx *fx = *state;
    je_err err;
    je_job x;
    int64_t t = conf_future();
    je_quota_record q = conf_quota_new(fx->s, "T", "a", conf_limits(2, 1000, 100, 1), 0);
    conf_submit(fx->s, "T", "a", "r-0", 0, 1000);
    conf_submit(fx->s, "T", "a", "r-1", 0, 1001);
    conf_submit(fx->s, "T", "a", "r-2", 0, 1002);
    je_job k = conf_job_of("T", "a", "r-idem", -1, 1003);
    k.payload = strdup("{\"k\":1}");
    je_idem i1 = conf_idem("rk", "/jobengine/jobs", 'a', conf_render_job, &k);
    assert_int_equal(fx->s->ops->job_submit(fx->s, &k, &i1, &err), 0);
    je_job_free(&k);
    je_lease_out out = conf_lease(fx->s, "T", "a", 5, 600000, t);
    assert_string_equal(conf_lease_ids(&out), "r-0,r-1");
    char l0[37], l1[37];
    snprintf(l0, sizeof l0, "%s", out.jobs[0].lease_id);
    snprintf(l1, sizeof l1, "%s", out.jobs[1].lease_id);
    conf_lease_free(&out);

    je_store_close(fx->s);
    fx->s = je_store_open(fx->url, &err);
    assert_non_null(fx->s);
    je_store *s = fx->s;
    je_job got = conf_job_get(s, "T", "r-0");
    assert_int_equal(got.status, JE_JOB_LEASED);
    assert_string_equal(got.lease_id, l0);
    assert_int_equal(got.lease_until_ms, t + 600000);
    assert_int_equal(got.lease_ms, 600000);
    assert_int_equal(got.attempt, 1);
    assert_string_equal(got.quota_id, q.quota_id);
    assert_string_equal(got.worker_id, "worker-1");
    je_job_free(&got);
    assert_int_equal(conf_job_status(s, "T", "r-2"), JE_JOB_PENDING);
    assert_int_equal(conf_quota_get(s, "T", q.quota_id).q.state.active, 2);
    conf_jobs_expect(s, "T", -1, NULL, INT64_MIN, "", 100, "r-0,r-1,r-2,r-idem");

    /* The leases are still held: the quota stays full, and they can be used. */
    out = conf_lease(s, "T", "a", 5, 600000, t + 1);
    assert_int_equal(out.n, 0);
    assert_int_equal(out.held, 1);
    assert_int_equal(out.decision.next_eligible_ms, t + 600000);
    conf_lease_free(&out);
    assert_int_equal(s->ops->job_heartbeat(s, "T", "r-0", l0, 1000, t + 2, &x, &err), 1);
    je_job_free(&x);
    assert_int_equal(s->ops->job_complete(s, "T", "r-1", l1, 1, NULL, t + 3, &x, &err), 1);
    je_job_free(&x);
    assert_int_equal(conf_quota_get(s, "T", q.quota_id).q.state.active, 1);
    assert_int_equal(s->ops->leases_expire(s, t + 1002, &err), 1); /* r-0's shortened lease */
    assert_int_equal(conf_quota_get(s, "T", q.quota_id).q.state.active, 0);

    /* The idempotency key survived too. */
    je_job k2 = conf_job_of("T", "a", "r-idem-2", -1, 1004);
    k2.payload = strdup("{\"k\":1}");
    je_idem i2 = conf_idem("rk", "/jobengine/jobs", 'a', conf_render_job, &k2);
    assert_int_equal(s->ops->job_submit(s, &k2, &i2, &err), 0);
    assert_int_equal(i2.replayed, 1);
    assert_non_null(i2.body);
    assert_string_equal(i2.body, "{\"jobId\":\"r-idem\"}");
    free(i2.body);
    je_job_free(&k2);
    assert_int_equal(s->ops->job_get(s, "T", "r-idem-2", &x, &err), 0);
}

#define JE_STORE_CONFORMANCE_TESTS(setup, teardown)                                                \
    cmocka_unit_test_setup_teardown(conf_client_crud, setup, teardown),                            \
        cmocka_unit_test_setup_teardown(conf_keys, setup, teardown),                               \
        cmocka_unit_test_setup_teardown(conf_revoked, setup, teardown),                            \
        cmocka_unit_test_setup_teardown(conf_audit_chain, setup, teardown),                        \
        cmocka_unit_test_setup_teardown(conf_audit_list_filters, setup, teardown),                 \
        cmocka_unit_test_setup_teardown(conf_audit_scan_middle, setup, teardown),                  \
        cmocka_unit_test_setup_teardown(conf_audit_concurrent, setup, teardown),                   \
        cmocka_unit_test_setup_teardown(conf_batch_isolation, setup, teardown),                    \
        cmocka_unit_test_setup_teardown(conf_reopen, setup, teardown),                             \
        cmocka_unit_test_setup_teardown(conf_quota_create_get_list, setup, teardown),              \
        cmocka_unit_test_setup_teardown(conf_quota_change_audit, setup, teardown),                 \
        cmocka_unit_test_setup_teardown(conf_quota_delete, setup, teardown),                       \
        cmocka_unit_test_setup_teardown(conf_quota_job_type_unique, setup, teardown),              \
        cmocka_unit_test_setup_teardown(conf_quota_change_idempotency, setup, teardown),           \
        cmocka_unit_test_setup_teardown(conf_quota_acquire_release, setup, teardown),              \
        cmocka_unit_test_setup_teardown(conf_quota_permit_expiry, setup, teardown),                \
        cmocka_unit_test_setup_teardown(conf_quota_paused, setup, teardown),                       \
        cmocka_unit_test_setup_teardown(conf_quota_acquire_idempotency, setup, teardown),          \
        cmocka_unit_test_setup_teardown(conf_quota_elevation_expiry, setup, teardown),             \
        cmocka_unit_test_setup_teardown(conf_quota_concurrent_active, setup, teardown),            \
        cmocka_unit_test_setup_teardown(conf_quota_concurrent_hour, setup, teardown),              \
        cmocka_unit_test_setup_teardown(conf_quota_reopen, setup, teardown),                       \
        cmocka_unit_test_setup_teardown(conf_job_submit_get, setup, teardown),                     \
        cmocka_unit_test_setup_teardown(conf_job_list_counts, setup, teardown),                    \
        cmocka_unit_test_setup_teardown(conf_job_submit_idempotency, setup, teardown),             \
        cmocka_unit_test_setup_teardown(conf_lease_order, setup, teardown),                        \
        cmocka_unit_test_setup_teardown(conf_lease_lane_order, setup, teardown),                   \
        cmocka_unit_test_setup_teardown(conf_lease_no_quota, setup, teardown),                     \
        cmocka_unit_test_setup_teardown(conf_lease_quota_resolution, setup, teardown),             \
        cmocka_unit_test_setup_teardown(conf_lease_max_active, setup, teardown),                   \
        cmocka_unit_test_setup_teardown(conf_lease_paused, setup, teardown),                       \
        cmocka_unit_test_setup_teardown(conf_lease_burst, setup, teardown),                        \
        cmocka_unit_test_setup_teardown(conf_lease_backfill_share, setup, teardown),               \
        cmocka_unit_test_setup_teardown(conf_lease_with_permits, setup, teardown),                 \
        cmocka_unit_test_setup_teardown(conf_lease_backfill_paused, setup, teardown),              \
        cmocka_unit_test_setup_teardown(conf_lease_elevation_expiry, setup, teardown),             \
        cmocka_unit_test_setup_teardown(conf_job_heartbeat, setup, teardown),                      \
        cmocka_unit_test_setup_teardown(conf_job_complete, setup, teardown),                       \
        cmocka_unit_test_setup_teardown(conf_job_complete_quota_deleted, setup, teardown),         \
        cmocka_unit_test_setup_teardown(conf_leases_expire, setup, teardown),                      \
        cmocka_unit_test_setup_teardown(conf_jobs_pending, setup, teardown),                       \
        cmocka_unit_test_setup_teardown(conf_jobs_concurrent, setup, teardown),                    \
        cmocka_unit_test_setup_teardown(conf_jobs_reopen, setup, teardown)

#endif
