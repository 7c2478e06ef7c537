/* core/audit.h: the audit chain of domain.md §6 — entry shape, hash rule and verification.
 * hash = lowercase hex SHA-256 of JCS(entry without its "hash" member). previousHash of entry 1
 * is 64 zeros. Entries hold no reals: numbers that are not integers by nature are strings. */
#ifndef JE_CORE_AUDIT_H
#define JE_CORE_AUDIT_H

#include <stdint.h>
#include <jansson.h>
#include "core/err.h"

#define JE_AUDIT_ZERO_HASH "0000000000000000000000000000000000000000000000000000000000000000"
#define JE_AUDIT_HASH_LEN 64

/* The fields every entry carries before it is sealed. Strings may be NULL (written as null),
 * except entry_id, tenant_id, event_type, actor_type. details is stolen (NULL means {}). */
typedef struct je_audit_fields {
    const char *entry_id;
    const char *tenant_id;
    const char *event_type;
    const char *resource_type;
    const char *resource_id;
    const char *actor_id;
    const char *actor_type;
    const char *reason;
    const char *ticket;
    int64_t occurred_ms;
    json_t *details;
} je_audit_fields;

/* A new entry object with every member but sequence, previousHash and hash. */
json_t *je_audit_entry_new(const je_audit_fields *f);

/* Sets sequence and previousHash, checks the value rules (no reals, integers within
 * +-(2^53-1), valid UTF-8), computes and sets hash. Returns 0 or -1 (err code "AUDIT_INVALID"). */
int je_audit_entry_seal(json_t *entry, int64_t sequence, const char *previous_hash, je_err *err);

/* The hash entry should carry (its own "hash" member ignored). out gets 64 hex chars + NUL.
 * Returns 0, or -1 when the entry cannot be canonicalised. */
int je_audit_entry_hash(const json_t *entry, char out[JE_AUDIT_HASH_LEN + 1]);

/* Incremental chain verification: feed entries in ascending order. */
typedef struct je_audit_verifier {
    int64_t next_sequence;                 /* the sequence the next entry must carry */
    char prev_hash[JE_AUDIT_HASH_LEN + 1]; /* the previousHash it must carry */
    int64_t entries;                       /* entries accepted */
    int valid;                             /* 1 until something is broken */
    int64_t first_broken;                  /* sequence where the chain first broke, 0 while valid */
} je_audit_verifier;

/* Start at from_sequence (1 for a whole chain) whose previousHash must be from_prev_hash. */
void je_audit_verifier_init(je_audit_verifier *v, int64_t from_sequence,
                            const char *from_prev_hash);
/* Checks one entry: sequence, previousHash link, hash. Returns 0 while valid, -1 once broken
 * (first_broken is the sequence expected at the break). Further feeds after a break are ignored. */
int je_audit_verifier_feed(je_audit_verifier *v, const json_t *entry);
/* Same from the entry's JSON text; text that does not parse breaks the chain. */
int je_audit_verifier_feed_text(je_audit_verifier *v, const char *text, size_t len);

#endif
