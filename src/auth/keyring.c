/* auth/keyring.c: the node's view of the signing keys (see keyring.h). */
#include "auth/keyring.h"

#include <string.h>

#include "auth/jwt.h"
#include "base/clock.h"

int je_keyring_rotate_store(je_store *store, int64_t now_ms, je_key *out, je_err *err) {
    je_key k;
    if (je_key_generate(&k, now_ms, err) != 0) return -1;
    k.current = 1;
    if (store->ops->key_add(store, &k, err) != 0) return -1;
    if (out) *out = k;
    return 0;
}

static int keyring_load(je_keyring *kr, int64_t now_ms, je_err *err) {
    static _Thread_local je_key tmp[JE_MAX_KEYS];
    size_t n = 0;
    int64_t started = je_mono_ns();
    if (kr->store->ops->key_list(kr->store, tmp, JE_MAX_KEYS, &n, err) != 0) return -1;
    pthread_rwlock_wrlock(&kr->lock);
    memcpy(kr->keys, tmp, n * sizeof tmp[0]); /* the current flag may move without a new key */
    kr->n = n;
    kr->refreshed_ms = now_ms;
    kr->load_started_ns = started;
    pthread_rwlock_unlock(&kr->lock);
    return 0;
}

int je_keyring_init(je_keyring *kr, je_store *store, int64_t now_ms, je_err *err) {
    memset(kr, 0, sizeof *kr);
    pthread_rwlock_init(&kr->lock, NULL);
    pthread_mutex_init(&kr->refresh_lock, NULL);
    kr->store = store;
    if (keyring_load(kr, now_ms, err) != 0) return -1;
    if (kr->n == 0) {
        if (je_keyring_rotate_store(store, now_ms, NULL, err) != 0) return -1;
        if (keyring_load(kr, now_ms, err) != 0) return -1;
    }
    return 0;
}

void je_keyring_destroy(je_keyring *kr) {
    pthread_rwlock_destroy(&kr->lock);
    pthread_mutex_destroy(&kr->refresh_lock);
    memset(kr->keys, 0, sizeof kr->keys);
}

int je_keyring_refresh(je_keyring *kr, int64_t now_ms, int force, je_err *err) {
    pthread_mutex_lock(&kr->refresh_lock);
    int rc = 0;
    pthread_rwlock_rdlock(&kr->lock);
    int stale = force || now_ms - kr->refreshed_ms >= 1000;
    pthread_rwlock_unlock(&kr->lock);
    if (stale) rc = keyring_load(kr, now_ms, err);
    pthread_mutex_unlock(&kr->refresh_lock);
    return rc;
}

int je_keyring_current(je_keyring *kr, je_key *out, je_err *err) {
    pthread_rwlock_rdlock(&kr->lock);
    int ok = kr->n > 0;
    if (ok) *out = kr->keys[0]; /* the newest, unless another is marked current */
    for (size_t i = 0; i < kr->n; i++)
        if (kr->keys[i].current) {
            *out = kr->keys[i];
            break;
        }
    pthread_rwlock_unlock(&kr->lock);
    return ok ? 0 : je_err_set(err, "KEYS", "no signing key");
}

static const je_key *keyring_lookup(void *ctx, const char *kid) {
    je_keyring *kr = ctx;
    for (size_t i = 0; i < kr->n; i++)
        if (strcmp(kr->keys[i].kid, kid) == 0) return &kr->keys[i];
    return NULL;
}

json_t *je_keyring_decode(je_keyring *kr, const char *token, size_t len, int64_t now_ms,
                          je_err *err) {
    int64_t arrived = je_mono_ns();
    pthread_rwlock_rdlock(&kr->lock);
    json_t *claims = je_jwt_decode(token, len, keyring_lookup, kr, err);
    pthread_rwlock_unlock(&kr->lock);
    if (claims || !err || !err->code || strcmp(err->code, JE_JWT_UNKNOWN_KID) != 0) return claims;
    /* A key rotated on another node or by the CLI: look again, unless a read of the store began
     * after this token arrived (requests with unknown kids share reads: one at a time). */
    je_err e2;
    je_err_clear(&e2);
    pthread_mutex_lock(&kr->refresh_lock);
    int stale = kr->load_started_ns < arrived;
    int rc = stale ? keyring_load(kr, now_ms, &e2) : 0;
    pthread_mutex_unlock(&kr->refresh_lock);
    if (rc != 0) return NULL;
    pthread_rwlock_rdlock(&kr->lock);
    claims = je_jwt_decode(token, len, keyring_lookup, kr, err);
    pthread_rwlock_unlock(&kr->lock);
    return claims;
}

json_t *je_keyring_jwks(je_keyring *kr) {
    json_t *keys = json_array();
    pthread_rwlock_rdlock(&kr->lock);
    for (size_t i = 0; i < kr->n; i++) json_array_append_new(keys, je_key_jwk(&kr->keys[i]));
    pthread_rwlock_unlock(&kr->lock);
    return json_pack("{s:o}", "keys", keys);
}
