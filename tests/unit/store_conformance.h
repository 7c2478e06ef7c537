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

#define JE_STORE_CONFORMANCE_TESTS(setup, teardown)                                                \
    cmocka_unit_test_setup_teardown(conf_client_crud, setup, teardown),                            \
        cmocka_unit_test_setup_teardown(conf_keys, setup, teardown),                               \
        cmocka_unit_test_setup_teardown(conf_revoked, setup, teardown),                            \
        cmocka_unit_test_setup_teardown(conf_audit_chain, setup, teardown),                        \
        cmocka_unit_test_setup_teardown(conf_audit_list_filters, setup, teardown),                 \
        cmocka_unit_test_setup_teardown(conf_audit_scan_middle, setup, teardown),                  \
        cmocka_unit_test_setup_teardown(conf_audit_concurrent, setup, teardown),                   \
        cmocka_unit_test_setup_teardown(conf_batch_isolation, setup, teardown),                    \
        cmocka_unit_test_setup_teardown(conf_reopen, setup, teardown)

#endif
