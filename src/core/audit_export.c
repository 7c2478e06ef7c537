/* core/audit_export.c: checkpoint objects and the offline export verifier. */
#include "core/audit_export.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/audit_fast.h"
#include "core/jcs.h"
#include "core/timefmt.h"

json_t *je_checkpoint_new(const char *tenant, int64_t from_sequence, const char *from_prev_hash,
                          int64_t head_sequence, const char *head_hash, int64_t issued_ms,
                          const char *kid) {
    char t[JE_TIME_BUF];
    return json_pack("{s:s, s:I, s:s, s:I, s:s, s:s, s:s}", "tenantId", tenant, "fromSequence",
                     (json_int_t)from_sequence, "fromPreviousHash", from_prev_hash, "headSequence",
                     (json_int_t)head_sequence, "headHash", head_hash, "issuedAt",
                     je_time_format(issued_ms, t), "kid", kid);
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t je_export_b64url(const unsigned char *in, size_t n, char *out) {
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)in[i] << 16 | (i + 1 < n ? (unsigned)in[i + 1] << 8 : 0) |
                     (i + 2 < n ? in[i + 2] : 0);
        out[o++] = b64[(v >> 18) & 63];
        out[o++] = b64[(v >> 12) & 63];
        if (i + 1 < n) out[o++] = b64[(v >> 6) & 63];
        if (i + 2 < n) out[o++] = b64[v & 63];
    }
    out[o] = '\0';
    return o;
}

int je_export_unb64url(const char *s, size_t n, unsigned char *out, size_t cap, size_t *out_len) {
    unsigned v = 0;
    int bits = 0;
    size_t o = 0;
    if (n % 4 == 1) return -1;
    for (size_t i = 0; i < n; i++) {
        const char *p = s[i] ? strchr(b64, s[i]) : NULL;
        if (!p) return -1;
        v = v << 6 | (unsigned)(p - b64);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o >= cap) return -1;
            out[o++] = (unsigned char)(v >> bits);
        }
    }
    if (bits && (v & ((1u << bits) - 1))) return -1; /* leftover bits must be zero */
    *out_len = o;
    return 0;
}

static int fail(je_export_result *r, int64_t line, int64_t seq, const char *msg) {
    r->valid = 0;
    r->first_bad_line = line;
    r->first_broken_sequence = seq;
    snprintf(r->message, sizeof r->message, "%s", msg);
    return -1;
}

static int is_hash(const char *s) {
    if (!s || strlen(s) != JE_AUDIT_HASH_LEN) return 0;
    return strspn(s, "0123456789abcdef") == JE_AUDIT_HASH_LEN;
}

/* The checkpoint line: its fields and its signature, checked first (it anchors the rest). */
static int check_checkpoint(const char *line, size_t n, int64_t lineno, je_sig_verify_fn verify,
                            void *ctx, json_t **cp_out, je_export_result *r) {
    json_t *o = json_loadb(line, n, JSON_REJECT_DUPLICATES, NULL);
    json_t *cp = json_object_get(o, "checkpoint");
    const char *sig = json_string_value(json_object_get(o, "signature"));
    const char *kid = json_string_value(json_object_get(cp, "kid"));
    int shape = json_is_object(cp) && sig && kid && json_object_size(o) == 2 &&
                json_object_size(cp) == 7 && json_is_string(json_object_get(cp, "tenantId")) &&
                json_is_integer(json_object_get(cp, "fromSequence")) &&
                json_is_integer(json_object_get(cp, "headSequence")) &&
                is_hash(json_string_value(json_object_get(cp, "fromPreviousHash"))) &&
                is_hash(json_string_value(json_object_get(cp, "headHash"))) &&
                json_is_string(json_object_get(cp, "issuedAt"));
    if (!shape) {
        json_decref(o);
        return fail(r, lineno, 0, "the last line is not a checkpoint");
    }
    unsigned char raw[128];
    size_t raw_len = 0, msg_len = 0;
    char *msg = je_jcs_dumps(cp, &msg_len);
    int ok = msg && je_export_unb64url(sig, strlen(sig), raw, sizeof raw, &raw_len) == 0 &&
             verify(ctx, kid, msg, msg_len, raw, raw_len) == 1;
    free(msg);
    if (!ok) {
        json_decref(o);
        return fail(r, lineno, 0, "the checkpoint's signature does not verify with the keys given");
    }
    *cp_out = json_incref(cp);
    json_decref(o);
    return 0;
}

/* The fast path: a canonical line whose links and hash all check out is accepted without a
 * JSON tree; anything else goes the full way, which gives every other verdict. */
static int fast_entry(je_audit_verifier *v, const char *tenant, const char *line, size_t n) {
    je_fast_entry f;
    if (!v->valid || !je_audit_line_fast(line, n, &f)) return 0;
    if (f.sequence != v->next_sequence || memcmp(f.previous_hash, v->prev_hash, 64) != 0 ||
        memcmp(f.hash, f.computed, 64) != 0 || f.tenant_len != strlen(tenant) ||
        memcmp(f.tenant, tenant, f.tenant_len) != 0)
        return 0;
    memcpy(v->prev_hash, f.computed, JE_AUDIT_HASH_LEN + 1);
    v->next_sequence++;
    v->entries++;
    return 1;
}

static int check_entry(je_audit_verifier *v, const char *tenant, const char *line, size_t n,
                       int64_t lineno, je_export_result *r) {
    if (fast_entry(v, tenant, line, n)) return r->entries++, 0;
    json_t *e = json_loadb(line, n, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, NULL); /* once */
    const char *t = json_string_value(json_object_get(e, "tenantId"));
    int same = t && strcmp(t, tenant) == 0;
    int64_t expected = v->next_sequence;
    int rc = je_audit_verifier_feed(v, e);
    json_decref(e);
    if (rc != 0)
        return fail(r, lineno, v->first_broken, "an entry's sequence, link or hash is broken");
    if (!same) return fail(r, lineno, expected, "an entry of another tenant");
    r->entries++;
    return 0;
}

int je_export_verify(const char *text, size_t len, je_sig_verify_fn verify, void *ctx,
                     je_export_result *r) {
    memset(r, 0, sizeof *r);
    while (len && text[len - 1] == '\n') len--; /* the final newline */
    const char *last = len ? text + len : text;
    while (last > text && last[-1] != '\n') last--;
    int64_t lines = 1;
    for (const char *p = text; p < last; p++) lines += *p == '\n';
    json_t *cp = NULL;
    if (len == 0 || check_checkpoint(last, (size_t)(text + len - last), lines, verify, ctx, &cp, r))
        return len ? -1 : fail(r, 1, 0, "the export is empty");
    snprintf(r->tenant, sizeof r->tenant, "%s", json_string_value(json_object_get(cp, "tenantId")));
    int64_t from = json_integer_value(json_object_get(cp, "fromSequence"));
    int64_t head = json_integer_value(json_object_get(cp, "headSequence"));
    je_audit_verifier v;
    je_audit_verifier_init(&v, from, json_string_value(json_object_get(cp, "fromPreviousHash")));
    const char *p = text;
    int rc = 0;
    for (int64_t ln = 1; rc == 0 && p < last; ln++) {
        const char *nl = memchr(p, '\n', (size_t)(last - p));
        rc = check_entry(&v, r->tenant, p, (size_t)(nl - p), ln, r);
        p = nl + 1;
    }
    int64_t end = v.next_sequence - 1;
    if (rc == 0 && end != head) /* entries missing (first missing) or added (first extra) */
        rc = fail(r, lines, end < head ? end + 1 : head + 1,
                  "the entries do not end at the checkpoint's head (lines removed or added)");
    if (rc == 0 && strcmp(v.prev_hash, json_string_value(json_object_get(cp, "headHash"))) != 0)
        rc = fail(r, lines, head, "the last entry is not the checkpoint's head (chain replaced)");
    if (rc == 0) {
        r->valid = 1;
        r->head_sequence = head;
        snprintf(r->head_hash, sizeof r->head_hash, "%s", v.prev_hash);
    }
    json_decref(cp);
    return rc;
}
