/* tests/unit/conformance/audit.h: conformance cases of the audit chains: appends and
 * verification, list filters, scans from the middle, concurrent appends, failing ops batched
 * with good ones, and durability of everything (clients, keys, revoked, chains) across a
 * reopen. */
#ifndef JE_TESTS_CONFORMANCE_AUDIT_H
#define JE_TESTS_CONFORMANCE_AUDIT_H

#include "common.h"

/* ---- audit: chains ---------------------------------------------------------------------- */

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
            if (w->s->ops->client_put(w->s, &c, 1, &err) == JE_STORE_OK)
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
    assert_int_equal(fx->s->ops->client_put(fx->s, &c, 1, &err), JE_STORE_OK);
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
    assert_int_equal(s->ops->client_get(s, "keeper", &got, &err), JE_STORE_OK);
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

#define JE_CONF_AUDIT_TESTS(setup, teardown)                                                       \
    cmocka_unit_test_setup_teardown(conf_audit_chain, setup, teardown),                            \
        cmocka_unit_test_setup_teardown(conf_audit_list_filters, setup, teardown),                 \
        cmocka_unit_test_setup_teardown(conf_audit_scan_middle, setup, teardown),                  \
        cmocka_unit_test_setup_teardown(conf_audit_concurrent, setup, teardown),                   \
        cmocka_unit_test_setup_teardown(conf_batch_isolation, setup, teardown),                    \
        cmocka_unit_test_setup_teardown(conf_reopen, setup, teardown)

#endif
