/* tests/fuzz/fuzz_export.c: the offline export verifier (src/core/audit_export.c) and its
 * one-pass line check (core/audit_fast.c, audit_fast_str.h) on a stream of lines. Signatures
 * are injected into the verifier: here a checkpoint verifies when its kid is "k1", so the
 * fuzzer gets past it (the Ed25519 check itself is fuzz_jwt's and auth/'s business).
 * - Plain input: an export as sent (entry lines, then the checkpoint line).
 * - Input starting "#seal\n": entry lines that the harness chains and seals (je_audit_entry_seal)
 *   before verifying, as a server would have, written canonically (JCS) or, for a line that ends
 *   with a space, as jansson writes it (not canonical: the full path must verify it); then a
 *   checkpoint over them. No fuzzer finds SHA-256 links; this is how the chain gets deep.
 * Properties (abort() when broken): the whole-text verdict (je_export_verify) and the verdict
 * in steps (begin, feed in blocks of whole lines, end, as the CLI reads a file) are the same; a
 * line the fast path accepts is canonical and the full path reads the same sequence, links,
 * tenant and hash from it; a sealed export of one tenant verifies, and one with a line that
 * could not be sealed does not. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/audit_export.h"
#include "core/buf.h"
#include "core/jcs.h"

static void check(int cond, const char *what) {
    if (cond) return;
    fprintf(stderr, "fuzz_export: %s\n", what);
    abort();
}

static int verify_sig(void *ctx, const char *kid, const void *msg, size_t len,
                      const unsigned char *sig, size_t sig_len) {
    return strcmp(kid, "k1") == 0;
}

/* A line the fast path accepts must be read the same by the full path. */
static void check_line(const char *line, size_t n) {
    je_fast_entry f;
    if (!je_audit_line_fast(line, n, NULL, &f)) return;
    json_t *e = json_loadb(line, n, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, NULL);
    check(e != NULL, "a fast-path line does not parse");
    size_t cl = 0;
    char *canon = je_jcs_dumps(e, &cl);
    check(canon && cl == n && memcmp(canon, line, n) == 0, "a fast-path line is not canonical");
    free(canon);
    char h[JE_AUDIT_HASH_LEN + 1];
    check(je_audit_entry_hash(e, h) == 0 && memcmp(h, f.computed, 65) == 0, "fast hash differs");
    const json_t *t = json_object_get(e, "tenantId");
    check(json_integer_value(json_object_get(e, "sequence")) == f.sequence &&
              memcmp(json_string_value(json_object_get(e, "previousHash")), f.previous_hash, 64) ==
                  0 &&
              memcmp(json_string_value(json_object_get(e, "hash")), f.hash, 64) == 0 &&
              json_string_length(t) == f.tenant_len &&
              memcmp(json_string_value(t), f.tenant, f.tenant_len) == 0,
          "a fast-path line reads differently in full");
    json_decref(e);
}

/* The verdict in steps: the checkpoint line, then blocks of 1, 2, 3, 1... whole lines; -2 for an
 * export of no line at all, which only the whole-text verifier names. */
static int verify_in_steps(const char *text, size_t len, je_export_result *r) {
    while (len && text[len - 1] == '\n') len--;
    if (len == 0) return -2;
    const char *last = text + len;
    while (last > text && last[-1] != '\n') last--;
    je_export_stream x;
    if (je_export_begin(&x, last, (size_t)(text + len - last), verify_sig, NULL, r) != 0) return -1;
    const char *p = text;
    for (int block = 1; p < last; block = block % 3 + 1) {
        const char *q = p;
        for (int k = 0; k < block && q < last; k++) q = (const char *)memchr(q, '\n', last - q) + 1;
        je_export_feed(&x, p, (size_t)(q - p));
        p = q;
    }
    return je_export_end(&x);
}

static void verify_both(const char *text, size_t len, int expect_valid) {
    for (const char *p = text, *end = text + len; p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = (size_t)((nl ? nl : end) - p);
        check_line(p, n);
        p += n + 1;
    }
    je_export_result a, b;
    int ra = je_export_verify(text, len, verify_sig, NULL, &a);
    int rb = verify_in_steps(text, len, &b);
    if (rb == -2) return check(ra == -1 && !a.valid, "an empty export is refused");
    check(ra == rb && a.valid == b.valid, "whole and in steps disagree");
    check(a.entries == b.entries && a.first_broken_sequence == b.first_broken_sequence &&
              a.head_sequence == b.head_sequence && strcmp(a.message, b.message) == 0,
          "whole and in steps report differently");
    check(ra == 0 || a.first_bad_line > 0, "a refusal names its line");
    if (getenv("FZ_DEBUG"))
        fprintf(stderr, "verdict: valid %d, entries %lld, line %lld: %s\n", a.valid,
                (long long)a.entries, (long long)a.first_bad_line, a.message);
    if (expect_valid >= 0) {
        if (a.valid != expect_valid) fprintf(stderr, "verdict: %s\n", a.message);
        check(a.valid == expect_valid, "a sealed export's verdict");
    }
}

/* ---- "#seal": chain and seal the lines as a server would have ------------------------------- */

typedef struct sealer {
    je_buf out;
    int64_t from, seq;
    char from_prev[JE_AUDIT_HASH_LEN + 1], prev[JE_AUDIT_HASH_LEN + 1];
    json_t *tenant; /* of the first entry */
    int expect;     /* 1 valid, 0 not, -1 not predicted (a tenant with a NUL, or too long) */
} sealer;

static int is_hash(const char *h) {
    return h && strlen(h) == JE_AUDIT_HASH_LEN &&
           strspn(h, "0123456789abcdef") == JE_AUDIT_HASH_LEN;
}

/* The first entry's sequence and previousHash start the range when they can. */
static void start_range(sealer *s, const json_t *e) {
    json_int_t seq = json_integer_value(json_object_get(e, "sequence"));
    const char *prev = json_string_value(json_object_get(e, "previousHash"));
    if (seq >= 1 && seq < 1000000000) s->from = s->seq = seq;
    if (is_hash(prev)) memcpy(s->from_prev, prev, sizeof s->from_prev);
    memcpy(s->prev, s->from_prev, sizeof s->prev);
    s->tenant = json_incref(json_object_get(e, "tenantId"));
}

static void expect_tenant(sealer *s, const json_t *t) {
    if (!json_is_string(t) || !json_is_string(s->tenant) ||
        json_string_length(t) != json_string_length(s->tenant) ||
        memcmp(json_string_value(t), json_string_value(s->tenant), json_string_length(t)) != 0)
        s->expect = 0;
    else if (memchr(json_string_value(t), 0, json_string_length(t)) || json_string_length(t) >= 128)
        if (s->expect == 1) s->expect = -1;
}

static void seal_line(sealer *s, const char *line, size_t n, int first) {
    json_t *e = json_loadb(line, n, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, NULL);
    if (first && json_is_object(e)) start_range(s, e);
    je_err err;
    if (!json_is_object(e) || je_audit_entry_seal(e, s->seq, s->prev, &err) != 0) {
        je_buf_append(&s->out, line, n); /* kept as it is: the chain breaks here */
        s->expect = 0;
    } else {
        expect_tenant(s, json_object_get(e, "tenantId"));
        size_t len = 0;
        char *text = n && line[n - 1] == ' ' ? json_dumps(e, JSON_COMPACT) : je_jcs_dumps(e, &len);
        check(text != NULL, "a sealed entry is written");
        je_buf_puts(&s->out, text);
        free(text);
        memcpy(s->prev, json_string_value(json_object_get(e, "hash")), sizeof s->prev);
    }
    s->seq++;
    je_buf_putc(&s->out, '\n');
    json_decref(e);
}

static void seal_and_verify(const char *data, size_t size) {
    sealer s = {JE_BUF_INIT, 1, 1, JE_AUDIT_ZERO_HASH, JE_AUDIT_ZERO_HASH, NULL, 1};
    for (size_t i = 0; i < size;) {
        const char *nl = memchr(data + i, '\n', size - i);
        size_t n = nl ? (size_t)(nl - data) - i : size - i;
        seal_line(&s, data + i, n, i == 0);
        i += n + 1;
    }
    const char *t = json_string_value(s.tenant);
    json_t *cp = json_pack("{s:{s:s%, s:I, s:s, s:I, s:s, s:s, s:s}, s:s}", "checkpoint",
                           "tenantId", t ? t : "", t ? json_string_length(s.tenant) : 0,
                           "fromSequence", (json_int_t)s.from, "fromPreviousHash", s.from_prev,
                           "headSequence", (json_int_t)(s.seq - 1), "headHash", s.prev, "issuedAt",
                           "2024-01-01T00:00:00.000Z", "kid", "k1", "signature", "AAAA");
    char *cl = json_dumps(cp, JSON_COMPACT);
    je_buf_puts(&s.out, cl);
    je_buf_putc(&s.out, '\n');
    if (getenv("FZ_DUMP")) fwrite(s.out.data, 1, s.out.len, stdout); /* a plain seed */
    verify_both(s.out.data, s.out.len, s.expect);
    free(cl);
    json_decref(cp);
    json_decref(s.tenant);
    je_buf_free(&s.out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size >= 6 && memcmp(data, "#seal\n", 6) == 0) {
        seal_and_verify((const char *)data + 6, size - 6);
        return 0;
    }
    char *text = malloc(size + 1); /* exact size: a read past the end is reported */
    if (!text) abort();
    memcpy(text, data, size);
    verify_both(text, size, -1);
    free(text);
    return 0;
}
