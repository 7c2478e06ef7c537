/* core/audit_fast.h: a one-pass check of an audit entry line that is already in canonical (RFC
 * 8785) form, as this service writes them: no JSON tree is built. A canonical line minus its
 * "hash" member is exactly the JCS text the hash covers, so hashing it needs no re-serialising.
 * Lines it cannot vouch for (reals, non-ASCII or escaped member names, deep nesting, anything
 * not canonical) are left to the full path, which gives every verdict. */
#ifndef JE_CORE_AUDIT_FAST_H
#define JE_CORE_AUDIT_FAST_H

#include <stddef.h>
#include <stdint.h>
#include "core/audit.h"

typedef struct je_fast_entry {
    int64_t sequence;
    const char *previous_hash; /* into the line, 64 chars */
    const char *hash;          /* into the line, 64 chars */
    const char *tenant;        /* into the line (unescaped only), tenant_len bytes */
    size_t tenant_len;
    char computed[JE_AUDIT_HASH_LEN + 1]; /* SHA-256 of the line minus its hash member */
} je_fast_entry;

/* 1 when line[0..n) is canonical and holds sequence, previousHash, hash and tenantId of the
 * expected shapes (out filled); 0 otherwise (use the full path). */
int je_audit_line_fast(const char *line, size_t n, je_fast_entry *out);

#endif
