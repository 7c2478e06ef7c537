/* tests/unit/conformance/auth.h: conformance cases of the auth records: clients (CRUD,
 * create_only, counting), signing keys (rotation, the current key) and revoked tokens. */
#ifndef JE_TESTS_CONFORMANCE_AUTH_H
#define JE_TESTS_CONFORMANCE_AUTH_H

#include "common.h"

/* ---- clients ---------------------------------------------------------------------------- */

static int conf_count_clients(void *ctx, const je_client *c) {
    (void)c;
    ++*(int *)ctx;
    return 0;
}

static void conf_client_crud(void **state) {
    je_store *s = ((conf_fx *)*state)->s;
    je_err err;
    je_client a = conf_client("alpha", 0xAA, "acme"), b = conf_client("beta", 0xBB, "zeta"), got;
    assert_int_equal(s->ops->client_get(s, "alpha", &got, &err), JE_STORE_NOT_FOUND);
    assert_int_equal(s->ops->client_put(s, &a, 1, &err), JE_STORE_OK);
    assert_int_equal(s->ops->client_get(s, "alpha", &got, &err), JE_STORE_OK);
    assert_memory_equal(&got, &a, sizeof a);

    assert_int_equal(s->ops->client_put(s, &a, 1, &err), JE_STORE_CONFLICT);
    assert_string_equal(err.code, "CONFLICT");

    je_client a2 = conf_client("alpha", 0xCC, "other");
    a2.n_roles = 2;
    snprintf(a2.roles[1], sizeof a2.roles[1], "auditor");
    a2.created_ms = 5000;
    a2.updated_ms = 6000;
    assert_int_equal(s->ops->client_put(s, &a2, 0, &err), JE_STORE_OK);
    assert_int_equal(s->ops->client_get(s, "alpha", &got, &err), JE_STORE_OK);
    assert_memory_equal(got.secret_sha256, a2.secret_sha256, 32);
    assert_string_equal(got.tenants[0], "other");
    assert_int_equal(got.n_roles, 2);
    assert_string_equal(got.roles[1], "auditor");
    assert_int_equal(got.created_ms, 1000); /* replacing keeps the creation time */
    assert_int_equal(got.updated_ms, 6000);

    assert_int_equal(s->ops->client_put(s, &b, 0, &err),
                     JE_STORE_OK); /* replace creates when absent */
    assert_int_equal(s->ops->client_count(s, &err), 2);
    int n = 0;
    assert_int_equal(s->ops->client_list(s, conf_count_clients, &n, &err), 0);
    assert_int_equal(n, 2);

    assert_int_equal(s->ops->client_remove(s, "alpha", &err), JE_STORE_OK);
    assert_int_equal(s->ops->client_remove(s, "alpha", &err), JE_STORE_NOT_FOUND);
    assert_int_equal(s->ops->client_get(s, "alpha", &got, &err), JE_STORE_NOT_FOUND);
    assert_int_equal(s->ops->client_count(s, &err), 1);
}

/* ---- signing keys ----------------------------------------------------------------------- */

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

#define JE_CONF_AUTH_TESTS(setup, teardown)                                                        \
    cmocka_unit_test_setup_teardown(conf_client_crud, setup, teardown),                            \
        cmocka_unit_test_setup_teardown(conf_keys, setup, teardown),                               \
        cmocka_unit_test_setup_teardown(conf_revoked, setup, teardown)

#endif
