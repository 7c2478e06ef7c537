/* core/audit_fast.c: the one-pass canonical line check (see audit_fast.h). */
#include "core/audit_fast.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#include "core/limits.h"
#include "core/text.h"

#define MAX_DEPTH 32

typedef struct scan {
    const char *p, *end;
    int ascii_key; /* the last string scanned was plain ASCII without escapes */
} scan;

/* A canonical string: raw bytes >= 0x20 but '"' and '\', valid UTF-8, and only the escapes JCS
 * writes (\" \\ \b \t \n \f \r, \u00xx lowercase for the other controls). */
static int str(scan *s, const char **start, size_t *len) {
    if (s->p >= s->end || *s->p != '"') return 0;
    const char *b = ++s->p;
    s->ascii_key = 1;
    while (s->p < s->end && *s->p != '"') {
        unsigned char c = (unsigned char)*s->p;
        if (c < 0x20) return 0;
        if (c >= 0x80) s->ascii_key = 0;
        if (c != '\\') {
            s->p++;
            continue;
        }
        s->ascii_key = 0;
        if (s->end - s->p < 2) return 0;
        char e = s->p[1];
        if (strchr("\"\\btnfr", e) && e) {
            s->p += 2;
            continue;
        }
        if (e != 'u' || s->end - s->p < 6 || memcmp(s->p + 2, "00", 2) != 0) return 0;
        const char *hx = "0123456789abcdef";
        const char *h1 = strchr(hx, s->p[4]), *h2 = strchr(hx, s->p[5]);
        if (!h1 || !h2 || !s->p[4] || !s->p[5]) return 0;
        int v = (int)(h1 - hx) * 16 + (int)(h2 - hx);
        if (v >= 0x20 || v == 8 || v == 9 || v == 10 || v == 12 || v == 13) return 0;
        s->p += 6;
    }
    if (s->p >= s->end || !je_utf8_valid(b, (size_t)(s->p - b))) return 0;
    *start = b;
    *len = (size_t)(s->p - b);
    s->p++;
    return 1;
}

/* A canonical integer within +-(2^53-1); reals are left to the full path. */
static int integer(scan *s, int64_t *out) {
    const char *b = s->p;
    int neg = s->p < s->end && *s->p == '-';
    if (neg) s->p++;
    const char *d = s->p;
    while (s->p < s->end && *s->p >= '0' && *s->p <= '9') s->p++;
    size_t n = (size_t)(s->p - d);
    if (n == 0 || n > 16 || (n > 1 && *d == '0') || (neg && n == 1 && *d == '0')) return 0;
    if (s->p < s->end && (*s->p == '.' || *s->p == 'e' || *s->p == 'E')) return 0;
    int64_t v = 0;
    for (const char *q = d; q < s->p; q++) v = v * 10 + (*q - '0');
    if (v > JE_MAX_INT53) return 0;
    if (out) *out = neg ? -v : v;
    (void)b;
    return 1;
}

static int value(scan *s, int depth);

static int literal(scan *s, const char *w) {
    size_t n = strlen(w);
    if ((size_t)(s->end - s->p) < n || memcmp(s->p, w, n) != 0) return 0;
    s->p += n;
    return 1;
}

/* Members in strictly increasing order of (ASCII) names: canonical, and no duplicates. */
static int object(scan *s, int depth) {
    s->p++;
    const char *prev = NULL;
    size_t prev_len = 0;
    if (s->p < s->end && *s->p == '}') return s->p++, 1;
    for (;;) {
        const char *k;
        size_t kl;
        if (!str(s, &k, &kl) || !s->ascii_key) return 0;
        if (prev) {
            size_t m = kl < prev_len ? kl : prev_len;
            int c = memcmp(prev, k, m);
            if (c > 0 || (c == 0 && prev_len >= kl)) return 0;
        }
        prev = k, prev_len = kl;
        if (s->p >= s->end || *s->p++ != ':' || !value(s, depth + 1)) return 0;
        if (s->p < s->end && *s->p == ',') {
            s->p++;
            continue;
        }
        return s->p < s->end && *s->p++ == '}';
    }
}

static int array(scan *s, int depth) {
    s->p++;
    if (s->p < s->end && *s->p == ']') return s->p++, 1;
    for (;;) {
        if (!value(s, depth + 1)) return 0;
        if (s->p < s->end && *s->p == ',') {
            s->p++;
            continue;
        }
        return s->p < s->end && *s->p++ == ']';
    }
}

static int value(scan *s, int depth) {
    if (s->p >= s->end || depth > MAX_DEPTH) return 0;
    const char *b;
    size_t n;
    switch (*s->p) {
    case '{':
        return object(s, depth);
    case '[':
        return array(s, depth);
    case '"':
        return str(s, &b, &n);
    case 't':
        return literal(s, "true");
    case 'f':
        return literal(s, "false");
    case 'n':
        return literal(s, "null");
    default:
        return integer(s, NULL);
    }
}

static int is_hex64(const char *p, size_t n) {
    return n == JE_AUDIT_HASH_LEN && strspn(p, "0123456789abcdef") >= JE_AUDIT_HASH_LEN;
}

typedef struct top {
    const char *hash_member, *hash_member_end; /* "hash":"..." */
    int have_seq, have_prev, have_hash, have_tenant;
} top;

/* Notes one top-level member: name k, value between v and s->p. */
static int note_member(top *t, je_fast_entry *out, const char *member, const char *k, size_t kl,
                       const char *v, const scan *s) {
    const char *sv = v + 1; /* a string value's first byte */
    size_t svl = (size_t)(s->p - v) >= 2 ? (size_t)(s->p - v) - 2 : 0;
    int is_str = *v == '"';
    if (kl == 4 && memcmp(k, "hash", 4) == 0) {
        if (!is_str || !is_hex64(sv, svl)) return 0;
        out->hash = sv, t->have_hash = 1;
        t->hash_member = member, t->hash_member_end = s->p;
    } else if (kl == 12 && memcmp(k, "previousHash", 12) == 0) {
        if (!is_str || !is_hex64(sv, svl)) return 0;
        out->previous_hash = sv, t->have_prev = 1;
    } else if (kl == 8 && memcmp(k, "tenantId", 8) == 0) {
        if (!is_str || memchr(sv, '\\', svl)) return 0;
        out->tenant = sv, out->tenant_len = svl, t->have_tenant = 1;
    } else if (kl == 8 && memcmp(k, "sequence", 8) == 0) {
        scan n = {v, s->p, 0};
        if (!integer(&n, &out->sequence) || n.p != s->p) return 0;
        t->have_seq = 1;
    }
    return 1;
}

static int top_object(scan *s, top *t, je_fast_entry *out) {
    if (s->p >= s->end || *s->p != '{') return 0;
    s->p++;
    const char *prev = NULL;
    size_t prev_len = 0;
    for (;;) {
        const char *member = s->p, *k;
        size_t kl;
        if (!str(s, &k, &kl) || !s->ascii_key) return 0;
        if (prev) {
            size_t m = kl < prev_len ? kl : prev_len;
            int c = memcmp(prev, k, m);
            if (c > 0 || (c == 0 && prev_len >= kl)) return 0;
        }
        prev = k, prev_len = kl;
        if (s->p >= s->end || *s->p++ != ':') return 0;
        const char *v = s->p;
        if (!value(s, 1) || !note_member(t, out, member, k, kl, v, s)) return 0;
        if (s->p < s->end && *s->p == ',') {
            s->p++;
            continue;
        }
        return s->p < s->end && *s->p++ == '}' && s->p == s->end;
    }
}

int je_audit_line_fast(const char *line, size_t n, je_fast_entry *out) {
    memset(out, 0, sizeof *out);
    scan s = {line, line + n, 0};
    top t = {0};
    if (!top_object(&s, &t, out) || !t.have_seq || !t.have_prev || !t.have_hash || !t.have_tenant)
        return 0;
    /* the line minus the hash member and one comma beside it is the hashed JCS text */
    const char *cut = t.hash_member, *cut_end = t.hash_member_end;
    if (cut[-1] == ',')
        cut--;
    else if (*cut_end == ',')
        cut_end++;
    unsigned char d[32];
    unsigned int dl = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
             EVP_DigestUpdate(ctx, line, (size_t)(cut - line)) == 1 &&
             EVP_DigestUpdate(ctx, cut_end, (size_t)(line + n - cut_end)) == 1 &&
             EVP_DigestFinal_ex(ctx, d, &dl) == 1;
    EVP_MD_CTX_free(ctx);
    if (!ok) return 0;
    static const char hx[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++)
        out->computed[2 * i] = hx[d[i] >> 4], out->computed[2 * i + 1] = hx[d[i] & 15];
    out->computed[64] = '\0';
    return 1;
}
