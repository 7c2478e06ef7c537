/* core/audit_export.h: checkpoints and exports of the audit chain (domain.md §6). A checkpoint
 * states a range of one tenant's chain — {tenantId, fromSequence, fromPreviousHash,
 * headSequence, headHash, issuedAt, kid} — and is signed (Ed25519, by the caller) over its JCS
 * form. An export is the entries from fromSequence to the head, one per line, then one
 * checkpoint line {"checkpoint": {...}, "signature": "<unpadded base64url>"}.
 * The offline verifier here needs no server and no store: signature checking is injected. */
#ifndef JE_CORE_AUDIT_EXPORT_H
#define JE_CORE_AUDIT_EXPORT_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "core/audit.h"
#include "core/audit_fast.h"

/* The checkpoint object (not yet signed). */
json_t *je_checkpoint_new(const char *tenant, int64_t from_sequence, const char *from_prev_hash,
                          int64_t head_sequence, const char *head_hash, int64_t issued_ms,
                          const char *kid);

/* Verifies sig (raw bytes) over msg with the key named kid: 1 valid, 0 not (unknown kid too). */
typedef int (*je_sig_verify_fn)(void *ctx, const char *kid, const void *msg, size_t len,
                                const unsigned char *sig, size_t sig_len);

typedef struct je_export_result {
    int valid;
    int64_t entries;               /* entry lines accepted before the end or the first problem */
    int64_t first_bad_line;        /* 1-based line of the first problem, 0 when valid */
    int64_t first_broken_sequence; /* sequence where the chain breaks, 0 when not a chain break */
    int64_t head_sequence;         /* of the checkpoint, when valid */
    char head_hash[JE_AUDIT_HASH_LEN + 1];
    char tenant[128];
    char message[256]; /* what is wrong, for people */
} je_export_result;

/* Verifies a whole export held in text[0..len): every line an entry but the last, which must be
 * the checkpoint; the first entry's sequence and previousHash equal the checkpoint's
 * fromSequence and fromPreviousHash; every hash and link; gapless sequences; the last entry is
 * the checkpoint's head; one tenant; the signature. Returns 0 when valid, -1 otherwise. */
int je_export_verify(const char *text, size_t len, je_sig_verify_fn verify, void *ctx,
                     je_export_result *out);

/* The same in steps, for an export read in blocks: the checkpoint line first (the export's last
 * line without its '\n', which the caller finds), then the entry lines in order, then the end.
 * r must outlive the stream; the verdicts and r are those of je_export_verify. */
typedef struct je_export_stream {
    je_export_result *r;
    json_t *cp; /* the checkpoint */
    je_audit_verifier v;
    size_t tenant_len;
    je_fast_hasher h;
    int64_t line; /* the number of the next line fed */
    int rc;       /* 0 while valid, -1 once not */
} je_export_stream;

/* Checks the checkpoint line. 0, or -1 with r filled but for r->first_bad_line (0: the caller
 * knows the line's number); after -1 there is nothing to end. */
int je_export_begin(je_export_stream *x, const char *line, size_t n, je_sig_verify_fn verify,
                    void *ctx, je_export_result *r);
/* Entry lines: text[0..len) holds whole lines, each ending with '\n'. 0 while valid, -1 once not
 * (later feeds do nothing). */
int je_export_feed(je_export_stream *x, const char *text, size_t len);
/* After the last entry line: 0 when the export is valid, -1 otherwise; frees what x holds. */
int je_export_end(je_export_stream *x);

/* Base64url (unpadded) helpers, pure, for signatures in checkpoints. */
size_t je_export_b64url(const unsigned char *in, size_t n, char *out);
int je_export_unb64url(const char *s, size_t n, unsigned char *out, size_t cap, size_t *out_len);

#endif
