/* auth/verifier.c: token checks with the signature caches and the revocation list. A verified
 * token is looked up first in its thread's own small cache (no lock), then in the shared one
 * (striped locks), and verified (Ed25519, claims) only when neither holds it. Expiry,
 * not-before and revocation are checked on every request, cached or not. A token longer than
 * JE_JWT_MAX_LEN is refused before anything else; a token is compared with a cached one in
 * constant time (CRYPTO_memcmp: a bearer token is a secret). */
#include "auth/verifier.h"

#include <openssl/crypto.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "auth/jwt.h"
#include "core/scope.h"

const char *const je_claim_names[JE_CLAIM_COUNT] = {
    "quota.reason",    "quota.ticket",    "backfill.reason",   "backfill.ticket",
    "operator.reason", "operator.ticket", "governance.reason", "governance.ticket",
};

struct je_verifier_slot {
    char *token; /* malloc'd copy of the whole token; NULL when empty */
    size_t len;
    je_principal p; /* claims[] point into strs */
    char *strs;
};

/* The slot hash of a whole token, eight bytes at a time (slots only: entries compare the token
 * itself). */
static uint64_t token_hash(const char *s, size_t n) {
    uint64_t h = 0x9e3779b97f4a7c15ull ^ n;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, sizeof w);
        h = (h ^ w) * 0xff51afd7ed558ccdull;
        h ^= h >> 32;
    }
    for (; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h ^ (h >> 29);
}

int je_verifier_init(je_verifier *v, je_keyring *kr, je_store *store, const char *issuer,
                     const char *audience, je_err *err) {
    static atomic_uint_fast64_t next_id = 1;
    memset(v, 0, sizeof *v);
    v->id = (uint64_t)atomic_fetch_add(&next_id, 1);
    v->keyring = kr;
    v->store = store;
    v->issuer = issuer;
    v->audience = audience;
    v->slots = calloc(JE_VERIFIER_SLOTS, sizeof *v->slots);
    if (!v->slots) return je_err_set(err, "OOM", "out of memory");
    for (int i = 0; i < JE_VERIFIER_LOCKS; i++) pthread_mutex_init(&v->locks[i], NULL);
    pthread_rwlock_init(&v->rev_lock, NULL);
    pthread_mutex_init(&v->rev_refresh, NULL);
    v->rev_refreshed_ms = 0; /* never: the first check reads the store */
    return 0;
}

static void free_revoked(char **list, size_t n) {
    for (size_t i = 0; i < n; i++) free(list[i]);
    free(list);
}

void je_verifier_destroy(je_verifier *v) {
    for (size_t i = 0; i < JE_VERIFIER_SLOTS; i++) {
        free(v->slots[i].token);
        free(v->slots[i].strs);
    }
    free(v->slots);
    for (int i = 0; i < JE_VERIFIER_LOCKS; i++) pthread_mutex_destroy(&v->locks[i]);
    free_revoked(v->revoked, v->n_revoked);
    pthread_rwlock_destroy(&v->rev_lock);
    pthread_mutex_destroy(&v->rev_refresh);
}

static const char *claim_str(const json_t *claims, const char *name) {
    const json_t *j = json_object_get(claims, name);
    return json_is_string(j) ? json_string_value(j) : NULL;
}

static int copy_field(char *dst, size_t cap, const char *src) {
    if (!src || !*src || strlen(src) >= cap) return -1;
    memcpy(dst, src, strlen(src) + 1);
    return 0;
}

int je_principal_from_claims(const json_t *claims, je_principal *p, je_arena *a, je_err *err) {
    memset(p, 0, sizeof *p);
    const char *cid = claim_str(claims, "client_id");
    if (!cid) cid = claim_str(claims, "sub");
    if (copy_field(p->client_id, sizeof p->client_id, cid) != 0 ||
        copy_field(p->jti, sizeof p->jti, claim_str(claims, "jti")) != 0)
        return je_err_set(err, "UNAUTHORIZED", "the token lacks client_id or jti");
    const char *scope = claim_str(claims, "scope");
    if (!scope || je_scope_mask_parse(scope, &p->scopes) != 0)
        return je_err_set(err, "UNAUTHORIZED", "the token's scope claim is malformed");
    const char *tenant = claim_str(claims, "stellaops:tenant");
    if (tenant && strlen(tenant) < sizeof p->tenant) memcpy(p->tenant, tenant, strlen(tenant) + 1);
    p->exp_s = json_integer_value(json_object_get(claims, "exp"));
    const json_t *nbf = json_object_get(claims, "nbf");
    p->nbf_s = json_is_integer(nbf) ? json_integer_value(nbf) : INT64_MIN;
    for (int i = 0; i < JE_CLAIM_COUNT; i++) {
        const char *s = claim_str(claims, je_claim_names[i]);
        p->claims[i] = s ? je_arena_strdup(a, s) : NULL;
    }
    return 0;
}

/* Copies a cached principal out of its slot, strings into the request's arena. */
static void principal_copy(je_principal *dst, const je_principal *src, je_arena *a) {
    *dst = *src;
    for (int i = 0; i < JE_CLAIM_COUNT; i++)
        dst->claims[i] = src->claims[i] ? je_arena_strdup(a, src->claims[i]) : NULL;
}

static void slot_store(je_verifier_slot *s, const char *token, size_t len, const je_principal *p) {
    free(s->token);
    free(s->strs);
    size_t total = 0;
    for (int i = 0; i < JE_CLAIM_COUNT; i++) total += p->claims[i] ? strlen(p->claims[i]) + 1 : 0;
    s->strs = malloc(total + 1);
    s->token = malloc(len + 1);
    if (!s->strs || !s->token) abort();
    memcpy(s->token, token, len);
    s->token[len] = '\0';
    s->len = len;
    s->p = *p;
    char *w = s->strs;
    for (int i = 0; i < JE_CLAIM_COUNT; i++) {
        if (!p->claims[i]) continue;
        size_t n = strlen(p->claims[i]) + 1;
        memcpy(w, p->claims[i], n);
        s->p.claims[i] = w;
        w += n;
    }
}

/* The thread's cache: direct-mapped by the same hash, entries tagged with their verifier's id
 * (a verifier destroyed and another made at its address never sees the old one's entries).
 * Freed when the thread ends. */
#define TLS_SLOTS 64

typedef struct tls_cache {
    uint64_t owner[TLS_SLOTS];
    je_verifier_slot s[TLS_SLOTS];
} tls_cache;

static pthread_key_t tls_key;
static pthread_once_t tls_once = PTHREAD_ONCE_INIT;

static void tls_free(void *p) {
    tls_cache *c = p;
    for (size_t i = 0; i < TLS_SLOTS; i++) {
        free(c->s[i].token);
        free(c->s[i].strs);
    }
    free(c);
}

static void tls_key_init(void) {
    if (pthread_key_create(&tls_key, tls_free) != 0) abort();
}

static tls_cache *tls_get(void) {
    pthread_once(&tls_once, tls_key_init);
    tls_cache *c = pthread_getspecific(tls_key);
    if (c) return c;
    c = calloc(1, sizeof *c);
    if (c && pthread_setspecific(tls_key, c) != 0) {
        free(c);
        c = NULL;
    }
    return c; /* NULL: no thread cache, the shared one still works */
}

static int tls_lookup(const je_verifier *v, uint64_t h, const char *token, size_t len,
                      je_principal *p, je_arena *a) {
    tls_cache *c = tls_get();
    if (!c) return 0;
    size_t i = h % TLS_SLOTS;
    const je_verifier_slot *s = &c->s[i];
    if (c->owner[i] != v->id || !s->token || s->len != len || CRYPTO_memcmp(s->token, token, len))
        return 0;
    principal_copy(p, &s->p, a);
    return 1;
}

static void tls_insert(const je_verifier *v, uint64_t h, const char *token, size_t len,
                       const je_principal *p) {
    tls_cache *c = tls_get();
    if (!c) return;
    size_t i = h % TLS_SLOTS;
    slot_store(&c->s[i], token, len, p);
    c->owner[i] = v->id;
}

/* The shared cache: direct-mapped by hash of the whole token, striped locks. */
static int cache_lookup(je_verifier *v, uint64_t h, const char *token, size_t len, je_principal *p,
                        je_arena *a) {
    size_t i = h % JE_VERIFIER_SLOTS;
    pthread_mutex_t *m = &v->locks[i % JE_VERIFIER_LOCKS];
    pthread_mutex_lock(m);
    je_verifier_slot *s = &v->slots[i];
    int hit = s->token && s->len == len && CRYPTO_memcmp(s->token, token, len) == 0;
    if (hit) principal_copy(p, &s->p, a);
    pthread_mutex_unlock(m);
    return hit;
}

static void cache_insert(je_verifier *v, uint64_t h, const char *token, size_t len,
                         const je_principal *p) {
    size_t i = h % JE_VERIFIER_SLOTS;
    pthread_mutex_t *m = &v->locks[i % JE_VERIFIER_LOCKS];
    pthread_mutex_lock(m);
    slot_store(&v->slots[i], token, len, p);
    pthread_mutex_unlock(m);
}

static int verify_fresh(je_verifier *v, const char *token, size_t len, int64_t now_ms,
                        je_principal *p, je_arena *a, je_err *err) {
    json_t *claims = je_keyring_decode(v->keyring, token, len, now_ms, err);
    if (!claims) return -1;
    int rc = je_jwt_check_claims(claims, now_ms / 1000, v->issuer, v->audience, err);
    if (rc == 0) rc = je_principal_from_claims(claims, p, a, err);
    json_decref(claims);
    return rc;
}

int je_verifier_check(je_verifier *v, const char *token, size_t len, int64_t now_ms,
                      je_principal *p, je_arena *a, je_err *err) {
    if (len > JE_JWT_MAX_LEN) /* before it is hashed, copied or parsed */
        return je_err_set(err, JE_JWT_MALFORMED, "the token is longer than %d bytes",
                          JE_JWT_MAX_LEN);
    uint64_t h = token_hash(token, len);
    if (!tls_lookup(v, h, token, len, p, a)) {
        if (!cache_lookup(v, h, token, len, p, a)) {
            if (verify_fresh(v, token, len, now_ms, p, a, err) != 0) return -1;
            cache_insert(v, h, token, len, p);
        }
        tls_insert(v, h, token, len, p);
    }
    int64_t now_s = now_ms / 1000;
    if (p->exp_s <= now_s) return je_err_set(err, JE_JWT_EXPIRED, "the token has expired");
    if (p->nbf_s > now_s)
        return je_err_set(err, JE_JWT_NOT_YET_VALID, "the token is not yet valid");
    if (je_verifier_is_revoked(v, p->jti, now_ms))
        return je_err_set(err, "revoked", "the token has been revoked");
    return 0;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

typedef struct {
    char **list;
    size_t n, cap;
} jti_list;

static int collect_jti(void *ctx, const char *jti, int64_t exp_ms) {
    jti_list *l = ctx;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        char **nl = realloc(l->list, l->cap * sizeof *nl);
        if (!nl) abort();
        l->list = nl;
    }
    l->list[l->n++] = strdup(jti);
    return 0;
}

static void revocations_refresh(je_verifier *v, int64_t now_ms) {
    pthread_mutex_lock(&v->rev_refresh);
    pthread_rwlock_rdlock(&v->rev_lock);
    int stale = now_ms - v->rev_refreshed_ms >= 1000;
    pthread_rwlock_unlock(&v->rev_lock);
    if (stale) {
        jti_list l = {0};
        je_err err;
        if (v->store->ops->revoked_list(v->store, now_ms, collect_jti, &l, &err) == 0) {
            if (l.n) qsort(l.list, l.n, sizeof *l.list, cmp_str);
            pthread_rwlock_wrlock(&v->rev_lock);
            char **old = v->revoked;
            size_t old_n = v->n_revoked;
            v->revoked = l.list;
            v->n_revoked = l.n;
            v->rev_refreshed_ms = now_ms;
            pthread_rwlock_unlock(&v->rev_lock);
            free_revoked(old, old_n);
        } else {
            free_revoked(l.list, l.n); /* keep the old list; try again on the next request */
        }
    }
    pthread_mutex_unlock(&v->rev_refresh);
}

int je_verifier_is_revoked(je_verifier *v, const char *jti, int64_t now_ms) {
    for (int pass = 0;; pass++) {
        pthread_rwlock_rdlock(&v->rev_lock);
        int stale = pass == 0 && now_ms - v->rev_refreshed_ms >= 1000;
        int found = !stale && v->n_revoked &&
                    bsearch(&jti, v->revoked, v->n_revoked, sizeof *v->revoked, cmp_str) != NULL;
        pthread_rwlock_unlock(&v->rev_lock);
        if (!stale) return found;
        revocations_refresh(v, now_ms);
    }
}

void je_verifier_note_revoked(je_verifier *v, const char *jti) {
    pthread_rwlock_wrlock(&v->rev_lock);
    char **nl = malloc((v->n_revoked + 1) * sizeof *nl);
    if (!nl) abort();
    size_t j = 0;
    int placed = 0;
    for (size_t i = 0; i < v->n_revoked; i++) {
        if (!placed && strcmp(jti, v->revoked[i]) < 0) nl[j++] = strdup(jti), placed = 1;
        nl[j++] = v->revoked[i];
    }
    if (!placed) nl[j++] = strdup(jti);
    free(v->revoked);
    v->revoked = nl;
    v->n_revoked = j;
    pthread_rwlock_unlock(&v->rev_lock);
}
