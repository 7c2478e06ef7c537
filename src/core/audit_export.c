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
static int check_checkpoint(const char *line, size_t n, je_sig_verify_fn verify, void *ctx,
                            json_t **cp_out, je_export_result *r) {
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
        return fail(r, 0, 0, "the last line is not a checkpoint");
    }
    unsigned char raw[128];
    size_t raw_len = 0, msg_len = 0;
    char *msg = je_jcs_dumps(cp, &msg_len);
    int ok = msg && je_export_unb64url(sig, strlen(sig), raw, sizeof raw, &raw_len) == 0 &&
             verify(ctx, kid, msg, msg_len, raw, raw_len) == 1;
    free(msg);
    if (!ok) {
        json_decref(o);
        return fail(r, 0, 0, "the checkpoint's signature does not verify with the keys given");
    }
    *cp_out = json_incref(cp);
    json_decref(o);
    return 0;
}

/* The fast path: a canonical line at p whose links and hash all check out is accepted without
 * a JSON tree (its length in *n); anything else goes the full way, which gives every other
 * verdict. */
static int fast_entry(je_export_stream *x, const char *p, const char *last, size_t *n) {
    je_audit_verifier *v = &x->v;
    je_fast_entry f;
    if (!v->valid || !x->h.ctx || !je_audit_entry_fast(p, last, &x->h, &f)) return 0;
    if (f.sequence != v->next_sequence || memcmp(f.previous_hash, v->prev_hash, 64) != 0 ||
        memcmp(f.hash, f.computed, 64) != 0 || f.tenant_len != x->tenant_len ||
        memcmp(f.tenant, x->r->tenant, f.tenant_len) != 0)
        return 0;
    memcpy(v->prev_hash, f.computed, JE_AUDIT_HASH_LEN + 1);
    v->next_sequence++;
    v->entries++;
    *n = f.len;
    return 1;
}

/* The full path, for one line. */
static int full_entry(je_export_stream *x, const char *line, size_t n) {
    je_audit_verifier *v = &x->v;
    je_export_result *r = x->r;
    int64_t lineno = x->line;
    json_t *e = json_loadb(line, n, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, NULL); /* once */
    const char *t = json_string_value(json_object_get(e, "tenantId"));
    int same = t && strcmp(t, r->tenant) == 0;
    int64_t expected = v->next_sequence;
    int rc = je_audit_verifier_feed(v, e);
    json_decref(e);
    if (rc != 0)
        return fail(r, lineno, v->first_broken, "an entry's sequence, link or hash is broken");
    if (!same) return fail(r, lineno, expected, "an entry of another tenant");
    return 0;
}

/* The number of the line starting at last (1-based), counted only when a message needs it. */
static int64_t line_number(const char *text, const char *last) {
    int64_t lines = 1;
    for (const char *p = text; p < last; p++) {
        p = memchr(p, '\n', (size_t)(last - p));
        if (!p) break;
        lines++;
    }
    return lines;
}

/* Asks for the bytes a few KiB ahead of p to be brought into the cache: the text is usually a
 * mapping of the page cache, whose pages the hardware prefetcher does not follow across. */
static void prefetch_ahead(const char *p, const char *last) {
#if defined(__GNUC__)
    enum { AHEAD = 4096, SPAN = 1024, LINE = 64 };
    if (last - p > AHEAD + SPAN)
        for (int i = 0; i < SPAN; i += LINE) __builtin_prefetch(p + AHEAD + i);
#else
    (void)p, (void)last;
#endif
}

int je_export_begin(je_export_stream *x, const char *line, size_t n, je_sig_verify_fn verify,
                    void *ctx, je_export_result *r) {
    memset(x, 0, sizeof *x);
    memset(r, 0, sizeof *r);
    x->r = r;
    if (check_checkpoint(line, n, verify, ctx, &x->cp, r) != 0) return -1;
    snprintf(r->tenant, sizeof r->tenant, "%s",
             json_string_value(json_object_get(x->cp, "tenantId")));
    x->tenant_len = strlen(r->tenant);
    je_audit_verifier_init(&x->v, json_integer_value(json_object_get(x->cp, "fromSequence")),
                           json_string_value(json_object_get(x->cp, "fromPreviousHash")));
    if (je_fast_hasher_init(&x->h) != 0) x->h.ctx = NULL; /* every line the full way */
    x->line = 1;
    return 0;
}

/* The fast path finds where its line ends; a line it hands back is found with memchr. */
int je_export_feed(je_export_stream *x, const char *text, size_t len) {
    const char *p = text, *last = text + len;
    for (; x->rc == 0 && p < last; x->line++) {
        size_t n;
        prefetch_ahead(p, last);
        if (!fast_entry(x, p, last, &n)) {
            const char *nl = memchr(p, '\n', (size_t)(last - p));
            n = (size_t)((nl ? nl : last) - p);
            if (full_entry(x, p, n) != 0) return x->rc = -1;
        }
        x->r->entries++;
        p += n + 1;
    }
    return x->rc;
}

int je_export_end(je_export_stream *x) {
    je_export_result *r = x->r;
    int rc = x->rc;
    int64_t end = x->v.next_sequence - 1;
    int64_t head = json_integer_value(json_object_get(x->cp, "headSequence"));
    if (rc == 0 && end != head) /* entries missing (first missing) or added (first extra) */
        rc = fail(r, x->line, end < head ? end + 1 : head + 1,
                  "the entries do not end at the checkpoint's head (lines removed or added)");
    if (rc == 0 &&
        strcmp(x->v.prev_hash, json_string_value(json_object_get(x->cp, "headHash"))) != 0)
        rc = fail(r, x->line, head, "the last entry is not the checkpoint's head (chain replaced)");
    if (rc == 0) {
        r->valid = 1;
        r->head_sequence = head;
        snprintf(r->head_hash, sizeof r->head_hash, "%s", x->v.prev_hash);
    }
    je_fast_hasher_free(&x->h);
    json_decref(x->cp);
    x->cp = NULL;
    return rc;
}

int je_export_verify(const char *text, size_t len, je_sig_verify_fn verify, void *ctx,
                     je_export_result *r) {
    memset(r, 0, sizeof *r);
    while (len && text[len - 1] == '\n') len--; /* the final newline */
    if (len == 0) return fail(r, 1, 0, "the export is empty");
    const char *last = text + len;
    while (last > text && last[-1] != '\n') last--;
    je_export_stream x;
    if (je_export_begin(&x, last, (size_t)(text + len - last), verify, ctx, r) != 0) {
        r->first_bad_line = line_number(text, last);
        return -1;
    }
    je_export_feed(&x, text, (size_t)(last - text));
    return je_export_end(&x);
}
