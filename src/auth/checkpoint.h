/* auth/checkpoint.h: signing checkpoints of the audit chain with the current signing key, and
 * checking them with any published key (domain.md §6, core/audit_export.h). */
#ifndef JE_AUTH_CHECKPOINT_H
#define JE_AUTH_CHECKPOINT_H

#include <stdint.h>
#include "store/store.h"

/* Builds and signs {tenantId, fromSequence, fromPreviousHash, headSequence, headHash, issuedAt,
 * kid} with key; fills out (checkpoint_json is its JCS form). */
int je_checkpoint_sign(const je_key *key, const char *tenant, int64_t from_sequence,
                       const char *from_prev_hash, int64_t head_sequence, const char *head_hash,
                       int64_t now_ms, je_checkpoint_record *out, je_err *err);
/* The store's current signing key (for the engine, which has no keyring). */
int je_store_current_key(je_store *s, je_key *out, je_err *err);
/* The export line {"checkpoint": {...}, "signature": "..."} of a signed checkpoint (malloc'd). */
char *je_checkpoint_line(const je_checkpoint_record *c);
/* Checks a stored checkpoint's signature against keys (any of them): 1 valid, 0 not. */
int je_checkpoint_valid(const je_checkpoint_record *c, const je_key *keys, size_t n);
/* je_sig_verify_fn over an array of keys (ctx: je_keyset). */
typedef struct je_keyset {
    const je_key *keys;
    size_t n;
} je_keyset;
int je_keyset_verify(void *ctx, const char *kid, const void *msg, size_t len,
                     const unsigned char *sig, size_t sig_len);

#endif
