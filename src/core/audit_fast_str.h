/* core/audit_fast_str.h: the byte-level scanning of core/audit_fast.c, internal to it (static
 * inline: they run for every string of every line). A plain run (bytes >= 0x20 and < 0x80 other
 * than '"' and '\') is skipped 16 bytes at a time with SSE2, else 8 in a 64-bit word, else one
 * at a time; escapes and UTF-8 sequences are checked where the run stops. A line that holds no
 * '\', no control but its '\n' and no non-ASCII byte (most entries) is classified once, its
 * quotes kept as a bit map, and its strings then end at the next quote without a scan. Nothing
 * reads outside [p, end). Define JE_AUDIT_FAST_NO_SSE2 to build the word-at-a-time path on x86. */
#ifndef JE_CORE_AUDIT_FAST_STR_H
#define JE_CORE_AUDIT_FAST_STR_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__GNUC__) && defined(__SSE2__) && !defined(JE_AUDIT_FAST_NO_SSE2)
#include <emmintrin.h>
#define JE_SCAN_SSE2 1
#endif
#if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define JE_SCAN_SWAR 1
#endif

static inline int plain_byte(unsigned char c) {
    return c >= 0x20 && c < 0x80 && c != '"' && c != '\\';
}

/* The first byte of [p, end) that ends a plain run: '"', '\', a control (< 0x20) or a non-ASCII
 * byte (>= 0x80); end when there is none. Reads nothing outside [p, end). */
static inline const char *plain_end(const char *p, const char *end) {
#ifdef JE_SCAN_SSE2
    const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\');
    const __m128i space = _mm_set1_epi8(' ');
    for (; end - p >= 16; p += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
        /* signed bytes: those >= 0x80 are negative, so "< ' '" takes them with the controls */
        __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bslash)),
                                 _mm_cmplt_epi8(v, space));
        unsigned bits = (unsigned)_mm_movemask_epi8(m);
        if (bits) return p + __builtin_ctz(bits);
    }
#endif
#ifdef JE_SCAN_SWAR
    /* A byte's high bit is set in m for a byte equal to 0 (after the xor) or below 0x20 (borrow
     * tricks: exact at the lowest flagged byte, which is all that is used) or >= 0x80. */
    const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
    for (; end - p >= 8; p += 8) {
        uint64_t w, q, b;
        memcpy(&w, p, 8);
        q = w ^ (ones * '"');
        b = w ^ (ones * '\\');
        uint64_t m = ((q - ones) & ~q) | ((b - ones) & ~b) | ((w - ones * 0x20) & ~w) | w;
        m &= highs;
        if (m) return p + (__builtin_ctzll(m) >> 3);
    }
#endif
    while (p < end && plain_byte((unsigned char)*p)) p++;
    return p;
}

/* The length of the valid UTF-8 sequence at p (lead byte >= 0x80), 0 when it is not: no
 * overlongs, no surrogates, nothing above U+10FFFF, nothing cut short (je_utf8_valid's rules). */
static inline size_t utf8_len(const unsigned char *p, const unsigned char *end) {
    unsigned c = p[0];
    size_t avail = (size_t)(end - p), n;
    if (c >= 0xC2 && c <= 0xDF)
        n = 2;
    else if (c >= 0xE0 && c <= 0xEF)
        n = 3;
    else if (c >= 0xF0 && c <= 0xF4)
        n = 4;
    else
        return 0;
    if (avail < n) return 0;
    for (size_t k = 1; k < n; k++)
        if ((p[k] & 0xC0) != 0x80) return 0;
    if ((c == 0xE0 && p[1] < 0xA0) || (c == 0xED && p[1] >= 0xA0) || (c == 0xF0 && p[1] < 0x90) ||
        (c == 0xF4 && p[1] >= 0x90))
        return 0; /* overlong, surrogate, overlong, above U+10FFFF */
    return n;
}

/* The length of the escape at p ('\'), 0 unless it is one JCS writes: \" \\ \b \t \n \f \r, and
 * \u00xx (lowercase) for the other controls. */
static inline size_t escape_len(const char *p, const char *end) {
    if (end - p < 2) return 0;
    switch (p[1]) {
    case '"':
    case '\\':
    case 'b':
    case 't':
    case 'n':
    case 'f':
    case 'r':
        return 2;
    case 'u':
        break;
    default:
        return 0;
    }
    if (end - p < 6 || p[2] != '0' || p[3] != '0' || (p[4] != '0' && p[4] != '1')) return 0;
    char h = p[5];
    int lo = h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10 : -1;
    if (lo < 0) return 0;
    int v = (p[4] - '0') * 16 + lo;
    return v == 8 || v == 9 || v == 10 || v == 12 || v == 13 ? 0 : 6;
}

/* The quotes of a simple line: bit i of bits[k] set when byte 16k + i is '"'. */
#define JE_QMAP_MAX 4096 /* longest line mapped; longer ones are scanned string by string */
typedef struct je_qmap {
    const char *base; /* the line */
    size_t len;       /* its length, up to (without) its '\n' */
    uint16_t bits[JE_QMAP_MAX / 16];
} je_qmap;

/* 1 when the line at p (up to its '\n', or end) is simple: no '\', no control but that '\n',
 * no non-ASCII byte, at most JE_QMAP_MAX bytes; m then maps its quotes. 0 otherwise. */
static inline int qmap_line(const char *p, const char *end, je_qmap *m) {
    m->base = p;
    size_t k = 0;
#ifdef JE_SCAN_SSE2
    const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\');
    const __m128i space = _mm_set1_epi8(' ');
    for (; end - p >= 16; p += 16, k++) {
        if (k == JE_QMAP_MAX / 16) return 0;
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
        unsigned q = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, quote));
        unsigned x = (unsigned)_mm_movemask_epi8(
            _mm_or_si128(_mm_cmpeq_epi8(v, bslash), _mm_cmplt_epi8(v, space)));
        if (x) {
            unsigned i = (unsigned)__builtin_ctz(x);
            if (p[i] != '\n') return 0;
            m->bits[k] = (uint16_t)(q & ((1u << i) - 1));
            m->len = (size_t)(p - m->base) + i;
            return 1;
        }
        m->bits[k] = (uint16_t)q;
    }
#else
    return 0; /* strings are scanned one by one */
#endif
    if (k == JE_QMAP_MAX / 16) return 0;
    unsigned q = 0, i = 0;
    for (; p + i < end && p[i] != '\n'; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c == '"')
            q |= 1u << i;
        else if (!plain_byte(c))
            return 0;
    }
    m->bits[k] = (uint16_t)q;
    m->len = (size_t)(p - m->base) + i;
    return 1;
}

/* The first quote at or after p in a mapped line, NULL when there is none. */
static inline const char *qmap_next(const je_qmap *m, const char *p) {
    size_t i = (size_t)(p - m->base), k = i >> 4, nk = (m->len + 15) >> 4;
    if (k >= nk) return NULL;
    unsigned w = (unsigned)m->bits[k] >> (i & 15);
    if (w) return p + __builtin_ctz(w);
    while (++k < nk)
        if (m->bits[k]) return m->base + (k << 4) + __builtin_ctz(m->bits[k]);
    return NULL;
}

#endif
