/* core/audit_fast.h: a one-pass check of an audit entry line that is already in canonical (RFC
 * 8785) form, as this service writes them: no JSON tree is built. A canonical line minus its
 * "hash" member is exactly the JCS text the hash covers, so hashing it needs no re-serialising.
 * Lines it cannot vouch for (reals, non-ASCII or escaped member names, deep nesting, anything
 * not canonical) are left to the full path, which gives every verdict.
 *
 * Strings are scanned a block at a time (16 bytes with SSE2, else 8 in a 64-bit word) for the
 * bytes that end a plain run ('"', '\', controls, non-ASCII); escapes and UTF-8 sequences are
 * checked where they stand, in the same pass. The hash is two SHA-256 updates over the line on
 * either side of the hash member, with a digest context made once per verification. */
#ifndef JE_CORE_AUDIT_FAST_H
#define JE_CORE_AUDIT_FAST_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/types.h>
#include "core/audit.h"

typedef struct je_fast_entry {
    int64_t sequence;
    const char *previous_hash; /* into the line, 64 chars */
    const char *hash;          /* into the line, 64 chars */
    const char *tenant;        /* into the line (unescaped only), tenant_len bytes */
    size_t tenant_len;
    size_t len;                           /* bytes of the entry (the line without its '\n') */
    char computed[JE_AUDIT_HASH_LEN + 1]; /* SHA-256 of the line minus its hash member */
} je_fast_entry;

/* A SHA-256 context kept across lines (no allocation per line). */
typedef struct je_fast_hasher {
    EVP_MD_CTX *ctx;
    EVP_MD *md;
} je_fast_hasher;

/* 0, or -1 when OpenSSL has no SHA-256 (or no memory); free with je_fast_hasher_free. */
int je_fast_hasher_init(je_fast_hasher *h);
void je_fast_hasher_free(je_fast_hasher *h);

/* 1 when line[0..n) is canonical and holds sequence, previousHash, hash and tenantId of the
 * expected shapes (out filled); 0 otherwise (use the full path). h may be NULL (a context is
 * then made for this call). */
int je_audit_line_fast(const char *line, size_t n, je_fast_hasher *h, je_fast_entry *out);

/* The same for the line that starts at p, in text that goes on to end: 1 when a canonical entry
 * starts at p and is followed by '\n' or by end (out->len its length), 0 otherwise. No separate
 * search for the end of the line: the scan finds it. */
int je_audit_entry_fast(const char *p, const char *end, je_fast_hasher *h, je_fast_entry *out);

#endif
