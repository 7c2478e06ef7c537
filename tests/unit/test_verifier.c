/* tests/unit/test_verifier.c: the gate's token checks (auth/verifier.c) with their caches: a
 * repeat token is served from the cache (no signature check: the key is gone and it still
 * passes), yet a revoked token is refused on the very next request, whether this node revoked
 * it or another did (the store's list, re-read within a second), in this thread or another; an
 * expired or not-yet-valid token is refused though cached; a cache full of other tokens still
 * verifies, and refuses forgeries; two verifiers never share cached entries. The keyring is
 * built by hand and the store is a stand-in holding only the revocation list. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/jwt.h"
#include "auth/verifier.h"

#define ISS "https://issuer.test"
#define AUD "jobengine"
#define NOW_S 1800000000LL
#define NOW_MS (NOW_S * 1000)

/* ---- a store with a revocation list only -------------------------------------------------- */

static const char *store_revoked[8];
static int n_store_revoked;

static int fake_revoked_list(je_store *s, int64_t now_ms, je_jti_visit_fn fn, void *ctx,
                             je_err *err) {
    for (int i = 0; i < n_store_revoked; i++) fn(ctx, store_revoked[i], NOW_MS + 3600000);
    return 0;
}

static const je_store_ops fake_ops = {.name = "fake", .revoked_list = fake_revoked_list};
static je_store fake_store = {.ops = &fake_ops};

typedef struct fixture {
    je_keyring kr;
    je_verifier v;
    je_arena *arena;
} fixture;

static int setup(void **state) {
    fixture *f = calloc(1, sizeof *f);
    je_err err;
    pthread_rwlock_init(&f->kr.lock, NULL);
    pthread_mutex_init(&f->kr.refresh_lock, NULL);
    f->kr.store = &fake_store;
    if (je_key_generate(&f->kr.keys[0], NOW_MS, &err) != 0) return -1;
    f->kr.keys[0].current = 1;
    f->kr.n = 1;
    f->kr.refreshed_ms = NOW_MS;
    f->kr.load_started_ns = INT64_MAX; /* never re-read: the store has no keys */
    if (je_verifier_init(&f->v, &f->kr, &fake_store, ISS, AUD, &err) != 0) return -1;
    f->arena = je_arena_new();
    n_store_revoked = 0;
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    je_verifier_destroy(&f->v);
    je_arena_free(f->arena);
    pthread_rwlock_destroy(&f->kr.lock);
    pthread_mutex_destroy(&f->kr.refresh_lock);
    free(f);
    return 0;
}

/* A token of client "c<n>" with jti "jti-<n>", valid [nbf, exp). */
static char *token_n(fixture *f, int n, int64_t nbf_s, int64_t exp_s) {
    char sub[32], jti[32];
    snprintf(sub, sizeof sub, "c%d", n);
    snprintf(jti, sizeof jti, "jti-%d", n);
    json_t *claims = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:s, s:s, s:s, s:s}", "iss", ISS,
                               "sub", sub, "aud", AUD, "iat", (json_int_t)nbf_s, "nbf",
                               (json_int_t)nbf_s, "exp", (json_int_t)exp_s, "jti", jti, "scope",
                               "orch:read", "stellaops:tenant", "t1", "quota.reason", "why");
    je_err err;
    char *t = je_jwt_sign(&f->kr.keys[0], claims, &err);
    json_decref(claims);
    assert_non_null(t);
    return t;
}

static int check_at(fixture *f, const char *token, int64_t now_ms, je_err *err) {
    je_principal p;
    je_err_clear(err);
    int rc = je_verifier_check(&f->v, token, strlen(token), now_ms, &p, f->arena, err);
    if (rc == 0) {
        assert_string_equal(p.tenant, "t1");
        assert_non_null(p.claims[JE_CLAIM_QUOTA_REASON]);
        assert_string_equal(p.claims[JE_CLAIM_QUOTA_REASON], "why");
    }
    return rc;
}

static void expect_ok(fixture *f, const char *token, int64_t now_ms) {
    je_err err;
    if (check_at(f, token, now_ms, &err) != 0) fail_msg("refused: %s", err.message);
}

static void expect_refused(fixture *f, const char *token, int64_t now_ms, const char *code) {
    je_err err;
    assert_int_equal(check_at(f, token, now_ms, &err), -1);
    assert_non_null(err.code);
    assert_string_equal(err.code, code);
}

/* The key leaves the keyring: only a cached token can still pass. */
static void forget_keys(fixture *f) {
    pthread_rwlock_wrlock(&f->kr.lock);
    f->kr.n = 0;
    pthread_rwlock_unlock(&f->kr.lock);
}

static void test_repeat_token_is_served_from_the_cache(void **state) {
    fixture *f = *state;
    char *t = token_n(f, 1, NOW_S - 10, NOW_S + 600);
    expect_ok(f, t, NOW_MS);
    forget_keys(f);
    expect_ok(f, t, NOW_MS + 10);
    char *other = token_n(f, 2, NOW_S - 10, NOW_S + 600); /* signed before, never seen */
    expect_refused(f, other, NOW_MS + 20, JE_JWT_UNKNOWN_KID);
    free(other);
    free(t);
}

static void test_revoked_here_is_refused_at_once(void **state) {
    fixture *f = *state;
    char *t = token_n(f, 3, NOW_S - 10, NOW_S + 600);
    expect_ok(f, t, NOW_MS);
    expect_ok(f, t, NOW_MS + 1);
    je_verifier_note_revoked(&f->v, "jti-3");
    expect_refused(f, t, NOW_MS + 2, "revoked");
    free(t);
}

static void test_revoked_elsewhere_is_refused_within_a_second(void **state) {
    fixture *f = *state;
    char *t = token_n(f, 4, NOW_S - 10, NOW_S + 600);
    expect_ok(f, t, NOW_MS);
    store_revoked[n_store_revoked++] = "jti-4"; /* another node revoked it */
    expect_refused(f, t, NOW_MS + 1000, "revoked");
    free(t);
}

static void test_expired_and_not_yet_valid_are_refused_though_cached(void **state) {
    fixture *f = *state;
    char *t = token_n(f, 5, NOW_S - 10, NOW_S + 2);
    expect_ok(f, t, NOW_MS);
    expect_ok(f, t, NOW_MS + 1999);
    expect_refused(f, t, NOW_MS + 2000, JE_JWT_EXPIRED);
    expect_refused(f, t, NOW_MS + 3000000, JE_JWT_EXPIRED);
    char *later = token_n(f, 6, NOW_S + 100, NOW_S + 600);
    expect_refused(f, later, NOW_MS, JE_JWT_NOT_YET_VALID); /* not cached: refused by claims */
    free(later);
    free(t);
}

static void test_full_cache_still_verifies(void **state) {
    fixture *f = *state;
    char *first = token_n(f, 7, NOW_S - 10, NOW_S + 600);
    expect_ok(f, first, NOW_MS);
    for (int i = 0; i < JE_VERIFIER_SLOTS + 500; i++) {
        char *t = token_n(f, 100 + i, NOW_S - 10, NOW_S + 600);
        expect_ok(f, t, NOW_MS);
        if (i % 97 == 0) {
            char *c = &t[strlen(t) - 5]; /* a forgery of a fresh token */
            *c = *c == 'A' ? 'B' : 'A';
            expect_refused(f, t, NOW_MS, JE_JWT_BAD_SIGNATURE);
        }
        free(t);
    }
    expect_ok(f, first, NOW_MS + 5); /* evicted or not: verified again */
    je_verifier_note_revoked(&f->v, "jti-7");
    expect_refused(f, first, NOW_MS + 6, "revoked");
    free(first);
}

typedef struct other_thread {
    fixture *f;
    const char *token;
    int rc;
} other_thread;

static void *check_in_thread(void *arg) {
    other_thread *o = arg;
    je_err err;
    je_principal p;
    je_arena *a = je_arena_new();
    je_err_clear(&err);
    o->rc = je_verifier_check(&o->f->v, o->token, strlen(o->token), NOW_MS + 5, &p, a, &err);
    je_arena_free(a);
    return NULL;
}

static void test_revocation_reaches_every_thread(void **state) {
    fixture *f = *state;
    char *t = token_n(f, 8, NOW_S - 10, NOW_S + 600);
    other_thread o = {f, t, -1};
    pthread_t th;
    pthread_create(&th, NULL, check_in_thread, &o); /* caches it in that thread */
    pthread_join(th, NULL);
    assert_int_equal(o.rc, 0);
    expect_ok(f, t, NOW_MS + 5);
    je_verifier_note_revoked(&f->v, "jti-8");
    pthread_create(&th, NULL, check_in_thread, &o);
    pthread_join(th, NULL);
    assert_int_equal(o.rc, -1);
    expect_refused(f, t, NOW_MS + 6, "revoked");
    free(t);
}

/* A second verifier (another audience) never takes the first one's cached entries. */
static void test_verifiers_do_not_share_entries(void **state) {
    fixture *f = *state;
    char *t = token_n(f, 9, NOW_S - 10, NOW_S + 600);
    expect_ok(f, t, NOW_MS);
    je_verifier v2;
    je_err err;
    assert_int_equal(je_verifier_init(&v2, &f->kr, &fake_store, ISS, "someone-else", &err), 0);
    je_principal p;
    je_err_clear(&err);
    assert_int_equal(je_verifier_check(&v2, t, strlen(t), NOW_MS, &p, f->arena, &err), -1);
    assert_string_equal(err.code, JE_JWT_BAD_AUDIENCE);
    je_verifier_destroy(&v2);
    free(t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_repeat_token_is_served_from_the_cache, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_revoked_here_is_refused_at_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_revoked_elsewhere_is_refused_within_a_second, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_expired_and_not_yet_valid_are_refused_though_cached,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_full_cache_still_verifies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_revocation_reaches_every_thread, setup, teardown),
        cmocka_unit_test_setup_teardown(test_verifiers_do_not_share_entries, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
