/* auth/verifier.c: token checks with the signature cache and the revocation list. */
#include "auth/verifier.h"

#include <stdlib.h>
#include <string.h>

#include "auth/jwt.h"
#include "core/scope.h"

const char *const je_claim_names[JE_CLAIM_COUNT] = {
    "quota.reason",    "quota.ticket",    "backfill.reason",
    "backfill.ticket", "operator.reason", "operator.ticket",
};

struct je_verifier_slot {
    char *token; /* malloc'd copy of the whole token; NULL when empty */
    size_t len;
    je_principal p; /* claims[] point into strs */
    char *strs;
};

static uint64_t fnv1a(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

int je_verifier_init(je_verifier *v, je_keyring *kr, je_store *store, const char *issuer,
                     const char *audience, je_err *err) {
    memset(v, 0, sizeof *v);
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

/* The cache: direct-mapped by hash of the whole token, striped locks. */
static int cache_lookup(je_verifier *v, const char *token, size_t len, je_principal *p,
                        je_arena *a) {
    uint64_t h = fnv1a(token, len);
    size_t i = h % JE_VERIFIER_SLOTS;
    pthread_mutex_t *m = &v->locks[i % JE_VERIFIER_LOCKS];
    pthread_mutex_lock(m);
    je_verifier_slot *s = &v->slots[i];
    int hit = s->token && s->len == len && memcmp(s->token, token, len) == 0;
    if (hit) principal_copy(p, &s->p, a);
    pthread_mutex_unlock(m);
    return hit;
}

static void cache_insert(je_verifier *v, const char *token, size_t len, const je_principal *p) {
    size_t i = fnv1a(token, len) % JE_VERIFIER_SLOTS;
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
    if (rc == 0) cache_insert(v, token, len, p);
    return rc;
}

int je_verifier_check(je_verifier *v, const char *token, size_t len, int64_t now_ms,
                      je_principal *p, je_arena *a, je_err *err) {
    if (!cache_lookup(v, token, len, p, a)) {
        if (verify_fresh(v, token, len, now_ms, p, a, err) != 0) return -1;
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
    pthread_rwlock_rdlock(&v->rev_lock);
    int stale = now_ms - v->rev_refreshed_ms >= 1000;
    pthread_rwlock_unlock(&v->rev_lock);
    if (stale) revocations_refresh(v, now_ms);
    pthread_rwlock_rdlock(&v->rev_lock);
    int found = v->n_revoked &&
                bsearch(&jti, v->revoked, v->n_revoked, sizeof *v->revoked, cmp_str) != NULL;
    pthread_rwlock_unlock(&v->rev_lock);
    return found;
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
