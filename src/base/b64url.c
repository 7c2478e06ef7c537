/* base/b64url.c: base64url without padding (RFC 4648 §5) for JWS segments and JWK members, and a
 * standard base64 decoder (RFC 4648 §4) for HTTP Basic credentials. Decoding is strict: any
 * character outside the alphabet, whitespace, misplaced padding, an impossible length or
 * non-zero trailing bits are refused, so every accepted string has exactly one encoding. */
#include "base/b64url.h"

#include <stdint.h>

static const char URL_ALPHABET[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t je_b64url_len(size_t n) {
    return n / 3 * 4 + (n % 3 == 0 ? 0 : n % 3 + 1);
}

size_t je_b64url_encode(const unsigned char *in, size_t n, char *out) {
    size_t o = 0, i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = URL_ALPHABET[v >> 18 & 63];
        out[o++] = URL_ALPHABET[v >> 12 & 63];
        out[o++] = URL_ALPHABET[v >> 6 & 63];
        out[o++] = URL_ALPHABET[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        out[o++] = URL_ALPHABET[v >> 18 & 63];
        out[o++] = URL_ALPHABET[v >> 12 & 63];
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        out[o++] = URL_ALPHABET[v >> 18 & 63];
        out[o++] = URL_ALPHABET[v >> 12 & 63];
        out[o++] = URL_ALPHABET[v >> 6 & 63];
    }
    out[o] = '\0';
    return o;
}

/* Value of c in the chosen alphabet (url: '-' '_', else '+' '/'), or -1. */
static int sextet(char c, int url) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == (url ? '-' : '+')) return 62;
    if (c == (url ? '_' : '/')) return 63;
    return -1;
}

/* Decodes unpadded s[0..len) in one alphabet. */
static int decode_unpadded(const char *s, size_t len, int url, unsigned char *out,
                           size_t *out_len) {
    if (len % 4 == 1) return -1;
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        int v = sextet(s[i], url);
        if (v < 0) return -1;
        acc = (acc << 6 | (uint32_t)v) & 0xffffff;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits & 0xff);
        }
    }
    /* Leftover bits must be zero: "QQ" and "QR" must not both decode to "A". */
    if (bits > 0 && (acc & ((1u << bits) - 1)) != 0) return -1;
    out[o] = '\0';
    *out_len = o;
    return 0;
}

int je_b64url_decode(const char *s, size_t len, unsigned char *out, size_t *out_len) {
    if (!s || !out || !out_len) return -1;
    return decode_unpadded(s, len, 1, out, out_len);
}

int je_b64_decode(const char *s, size_t len, unsigned char *out, size_t *out_len) {
    if (!s || !out || !out_len) return -1;
    /* Padding is optional, but when present it must complete the last quantum exactly. */
    size_t pad = 0;
    while (pad < 2 && pad < len && s[len - 1 - pad] == '=') pad++;
    if (pad > 0 && len % 4 != 0) return -1;
    size_t body = len - pad;
    if (pad > 0 && body % 4 != 4 - pad) return -1;
    return decode_unpadded(s, body, 0, out, out_len);
}
