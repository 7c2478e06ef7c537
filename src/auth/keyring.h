/* auth/keyring.h: the signing keys of this node, read from the store and re-read at most once a
 * second, so a key rotated by `jobengine keys rotate` (another process) is used at once.
 * Keys are only ever added, never changed, so a refresh swaps in a new array. */
#ifndef JE_AUTH_KEYRING_H
#define JE_AUTH_KEYRING_H

#include <pthread.h>
#include <stdint.h>
#include <jansson.h>
#include "auth/keys.h"
#include "core/err.h"
#include "store/store.h"

typedef struct je_keyring {
    pthread_rwlock_t lock;
    pthread_mutex_t refresh_lock;
    je_store *store;
    je_key keys[JE_MAX_KEYS]; /* newest first; the one marked current signs */
    size_t n;
    int64_t refreshed_ms;
    int64_t load_started_ns; /* when the last read of the store began (je_mono_ns) */
} je_keyring;

/* Loads the keys; when the store has none, generates the first key and stores it. */
int je_keyring_init(je_keyring *kr, je_store *store, int64_t now_ms, je_err *err);
void je_keyring_destroy(je_keyring *kr);
/* Re-reads the store when the last read is older than a second (or force). */
int je_keyring_refresh(je_keyring *kr, int64_t now_ms, int force, je_err *err);
/* Copies the current signing key. */
int je_keyring_current(je_keyring *kr, je_key *out, je_err *err);
/* Verifies a JWT's header and signature against every known key (je_jwt_decode under the lock);
 * refreshes once on an unknown kid. */
json_t *je_keyring_decode(je_keyring *kr, const char *token, size_t len, int64_t now_ms,
                          je_err *err);
/* {"keys": [public JWKs, newest first]}. */
json_t *je_keyring_jwks(je_keyring *kr);

/* Creates a new current key in the store (`jobengine keys rotate`). */
int je_keyring_rotate_store(je_store *store, int64_t now_ms, je_key *out, je_err *err);

#endif
