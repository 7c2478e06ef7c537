/* core/audit_fast.c: the one-pass canonical line check (see audit_fast.h). */
#include "core/audit_fast.h"

#include <openssl/evp.h>
#include <string.h>

#include "core/audit_fast_str.h"
#include "core/limits.h"

#define MAX_DEPTH 32
#define STR_ESCAPED 1 /* a string held an escape */
#define STR_UTF8 2    /* a string held a non-ASCII byte */

typedef struct scan {
    const char *p, *end;
    const je_qmap *map; /* the line's quotes when it is simple (end is then its end), or NULL */
} scan;

/* A canonical string at s->p (which must be its '"'): raw bytes >= 0x20 but '"' and '\', valid
 * UTF-8, and only the escapes JCS writes. On success s->p is past its closing '"', [*start,
 * *start + *len) its raw body, and *flags tells STR_ESCAPED and STR_UTF8. */
static int str(scan *s, const char **start, size_t *len, int *flags) {
    if (s->p >= s->end || *s->p != '"') return 0;
    const char *b = s->p + 1, *p = b, *end = s->end;
    int fl = 0;
    if (s->map) { /* nothing in the line needs checking: the string ends at the next quote */
        if (!(p = qmap_next(s->map, b))) return 0;
        *start = b, *len = (size_t)(p - b), *flags = 0;
        s->p = p + 1;
        return 1;
    }
    for (;;) {
        p = plain_end(p, end);
        if (p >= end) return 0;
        unsigned char c = (unsigned char)*p;
        size_t n = 0;
        if (c == '"') break;
        if (c == '\\')
            n = escape_len(p, end), fl |= STR_ESCAPED;
        else if (c >= 0x80)
            n = utf8_len((const unsigned char *)p, (const unsigned char *)end), fl |= STR_UTF8;
        if (n == 0) return 0; /* a control, a bad escape, bad UTF-8 */
        p += n;
    }
    *start = b, *len = (size_t)(p - b), *flags = fl;
    s->p = p + 1;
    return 1;
}

/* A canonical integer within +-(2^53-1); reals are left to the full path. */
static int integer(scan *s, int64_t *out) {
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
    return 1;
}

static int literal(scan *s, const char *w, size_t n) {
    if ((size_t)(s->end - s->p) < n || memcmp(s->p, w, n) != 0) return 0;
    s->p += n;
    return 1;
}

/* 1 when name a sorts strictly before b (ASCII: bytes compared as unsigned, a prefix first);
 * names are short, so an inline loop beats a call to memcmp. */
static int name_before(const char *a, size_t an, const char *b, size_t bn) {
    size_t m = an < bn ? an : bn;
    for (size_t i = 0; i < m; i++)
        if (a[i] != b[i]) return (unsigned char)a[i] < (unsigned char)b[i];
    return an < bn;
}

/* A member name: a plain ASCII string after the previous name (strictly increasing: canonical
 * order, and no duplicates). */
static int member_name(scan *s, const char **prev, size_t *prev_len) {
    const char *k;
    size_t kl;
    int fl;
    if (!str(s, &k, &kl, &fl) || fl) return 0;
    if (*prev && !name_before(*prev, *prev_len, k, kl)) return 0;
    *prev = k, *prev_len = kl;
    return s->p < s->end && *s->p++ == ':';
}

static int value(scan *s, int depth);

static int object(scan *s, int depth) {
    s->p++;
    const char *prev = NULL;
    size_t prev_len = 0;
    if (s->p < s->end && *s->p == '}') return s->p++, 1;
    for (;;) {
        if (!member_name(s, &prev, &prev_len) || !value(s, depth + 1)) return 0;
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
    int fl;
    switch (*s->p) {
    case '{':
        return object(s, depth);
    case '[':
        return array(s, depth);
    case '"':
        return str(s, &b, &n, &fl);
    case 't':
        return literal(s, "true", 4);
    case 'f':
        return literal(s, "false", 5);
    case 'n':
        return literal(s, "null", 4);
    default:
        return integer(s, NULL);
    }
}

/* 1 when all 8 bytes of w are lowercase hex digits ('0'-'9', 'a'-'f'): with no byte >= 0x80,
 * adding 0x80 - x to a byte sets its high bit exactly when the byte is >= x, without carries. */
static int hex8(uint64_t w) {
    const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
    uint64_t ge0 = w + ones * (0x80 - '0'), ge10 = w + ones * (0x80 - '9' - 1);
    uint64_t gea = w + ones * (0x80 - 'a'), gef = w + ones * (0x80 - 'f' - 1);
    return !(w & highs) && (((ge0 & ~ge10) | (gea & ~gef)) & highs) == highs;
}

/* "<64 lowercase hex digits>" at s->p: its digits, s->p past it. */
static const char *hex64(scan *s) {
    if (s->end - s->p < JE_AUDIT_HASH_LEN + 2 || *s->p != '"' || s->p[JE_AUDIT_HASH_LEN + 1] != '"')
        return NULL;
    const char *h = s->p + 1;
    for (int i = 0; i < JE_AUDIT_HASH_LEN; i += 8) {
        uint64_t w;
        memcpy(&w, h + i, 8);
        if (!hex8(w)) return NULL;
    }
    s->p += JE_AUDIT_HASH_LEN + 2;
    return h;
}

typedef struct top {
    const char *hash_member, *hash_member_end; /* "hash":"..." */
    int have_seq, have_prev, have_hash, have_tenant;
} top;

/* One top-level member's value (its name k, kl; the member starts at member). */
static int top_value(scan *s, top *t, je_fast_entry *out, const char *member, const char *k,
                     size_t kl) {
    if (kl == 4 && memcmp(k, "hash", 4) == 0) {
        t->have_hash = (out->hash = hex64(s)) != NULL;
        t->hash_member = member, t->hash_member_end = s->p;
        return t->have_hash;
    }
    if (kl == 12 && memcmp(k, "previousHash", 12) == 0)
        return t->have_prev = (out->previous_hash = hex64(s)) != NULL;
    if (kl == 8 && memcmp(k, "tenantId", 8) == 0) {
        int fl;
        if (!str(s, &out->tenant, &out->tenant_len, &fl) || (fl & STR_ESCAPED)) return 0;
        return t->have_tenant = 1;
    }
    if (kl == 8 && memcmp(k, "sequence", 8) == 0) return t->have_seq = integer(s, &out->sequence);
    return value(s, 1);
}

static int top_object(scan *s, top *t, je_fast_entry *out) {
    if (s->p >= s->end || *s->p != '{') return 0;
    s->p++;
    const char *prev = NULL;
    size_t prev_len = 0;
    for (;;) {
        const char *member = s->p;
        if (!member_name(s, &prev, &prev_len) || !top_value(s, t, out, member, prev, prev_len))
            return 0;
        if (s->p < s->end && *s->p == ',') {
            s->p++;
            continue;
        }
        return s->p < s->end && *s->p++ == '}' && (s->p == s->end || *s->p == '\n');
    }
}

int je_fast_hasher_init(je_fast_hasher *h) {
    h->md = EVP_MD_fetch(NULL, "SHA256", NULL);
    h->ctx = EVP_MD_CTX_new();
    if (h->md && h->ctx) return 0;
    je_fast_hasher_free(h);
    return -1;
}

void je_fast_hasher_free(je_fast_hasher *h) {
    EVP_MD_CTX_free(h->ctx);
    EVP_MD_free(h->md);
    h->ctx = NULL, h->md = NULL;
}

/* SHA-256 of a[0..an) then b[0..bn), as lowercase hex. */
static int digest2(je_fast_hasher *h, const char *a, size_t an, const char *b, size_t bn,
                   char hex[JE_AUDIT_HASH_LEN + 1]) {
    unsigned char d[32];
    unsigned int dl = 0;
    if (EVP_DigestInit_ex2(h->ctx, h->md, NULL) != 1 || EVP_DigestUpdate(h->ctx, a, an) != 1 ||
        EVP_DigestUpdate(h->ctx, b, bn) != 1 || EVP_DigestFinal_ex(h->ctx, d, &dl) != 1 || dl != 32)
        return 0;
    static const char hx[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) hex[2 * i] = hx[d[i] >> 4], hex[2 * i + 1] = hx[d[i] & 15];
    hex[JE_AUDIT_HASH_LEN] = '\0';
    return 1;
}

int je_audit_entry_fast(const char *p, const char *end, je_fast_hasher *h, je_fast_entry *out) {
    memset(out, 0, sizeof *out);
    je_qmap map;
    scan s = {p, end, NULL};
    if (qmap_line(p, end, &map)) s.map = &map, s.end = p + map.len;
    top t = {0};
    if (!top_object(&s, &t, out) || !t.have_seq || !t.have_prev || !t.have_hash || !t.have_tenant)
        return 0;
    out->len = (size_t)(s.p - p);
    /* the line minus the hash member and one comma beside it is the hashed JCS text */
    const char *cut = t.hash_member, *cut_end = t.hash_member_end;
    if (cut[-1] == ',')
        cut--;
    else if (*cut_end == ',')
        cut_end++;
    je_fast_hasher own = {0};
    if (!h && je_fast_hasher_init(&own) != 0) return 0;
    int ok = digest2(h ? h : &own, p, (size_t)(cut - p), cut_end, (size_t)(s.p - cut_end),
                     out->computed);
    if (!h) je_fast_hasher_free(&own);
    return ok;
}

int je_audit_line_fast(const char *line, size_t n, je_fast_hasher *h, je_fast_entry *out) {
    return je_audit_entry_fast(line, line + n, h, out) && out->len == n;
}
