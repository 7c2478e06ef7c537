/* auth/verifier.h: bearer-token checks for the API, with the two read-side caches the
 * architecture allows: verified signatures keyed by the whole token (expiry, not-before and
 * revocation still checked on every request), per thread (64 entries, no lock) in front of a
 * shared table (4096, striped locks); and the revocation list, re-read from the store at most
 * one second apart, with this node's revocations added to it at once. */
#ifndef JE_AUTH_VERIFIER_H
#define JE_AUTH_VERIFIER_H

#include <pthread.h>
#include <stdint.h>
#include "auth/keyring.h"
#include "auth/principal.h"
#include "core/err.h"
#include "base/arena.h"

#define JE_VERIFIER_SLOTS 4096
#define JE_VERIFIER_LOCKS 64

typedef struct je_verifier_slot je_verifier_slot;

typedef struct je_verifier {
    uint64_t id; /* unique in the process: tags this verifier's entries in thread caches */
    je_keyring *keyring;
    je_store *store;
    const char *issuer;
    const char *audience;
    je_verifier_slot *slots;
    pthread_mutex_t locks[JE_VERIFIER_LOCKS];
    /* revocations: a sorted array of jtis, swapped whole on refresh */
    pthread_rwlock_t rev_lock;
    pthread_mutex_t rev_refresh;
    char **revoked;
    size_t n_revoked;
    int64_t rev_refreshed_ms;
} je_verifier;

int je_verifier_init(je_verifier *v, je_keyring *kr, je_store *store, const char *issuer,
                     const char *audience, je_err *err);
void je_verifier_destroy(je_verifier *v);

/* Checks a token for the API. On success fills *p (strings in arena) and returns 0; otherwise -1
 * with err->message saying why (never the token). */
int je_verifier_check(je_verifier *v, const char *token, size_t len, int64_t now_ms,
                      je_principal *p, je_arena *a, je_err *err);

/* Fills *p from verified claims (strings in arena). Returns 0, or -1 when a claim the API needs
 * (sub/client_id, jti, scope) is missing or malformed. */
int je_principal_from_claims(const json_t *claims, je_principal *p, je_arena *a, je_err *err);

/* 1 when jti is revoked (list at most one second old). */
int je_verifier_is_revoked(je_verifier *v, const char *jti, int64_t now_ms);
/* Records a revocation seen by this node at once (the store holds the durable copy). */
void je_verifier_note_revoked(je_verifier *v, const char *jti);

#endif
