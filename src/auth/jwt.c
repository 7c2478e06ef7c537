/* auth/jwt.c: compact JWS/JWT signing and verification with EdDSA (Ed25519) only. Owns the
 * token format: header {"alg":"EdDSA","typ":"at+jwt","kid":...}, strict parsing of untrusted
 * tokens (bounded length, three base64url segments, duplicate JSON members refused, alg pinned
 * to "EdDSA" so "none" and HMAC/ECDSA confusion cannot happen), and the time/iss/aud checks.
 * Checks run header first, then key, then signature; the payload is parsed only once the
 * signature is valid. */
#include "auth/jwt.h"
#include "base/b64url.h"
#include "core/buf.h"

#include <stdlib.h>
#include <string.h>

#define CODE_CRYPTO "CRYPTO"
#define CODE_INVALID "VALIDATION_FAILED"

/* Appends the base64url encoding of p[0..n) to b. */
static void put_b64url(je_buf *b, const void *p, size_t n) {
    char *tmp = malloc(je_b64url_len(n) + 1);
    if (!tmp) abort();
    size_t len = je_b64url_encode(p, n, tmp);
    je_buf_append(b, tmp, len);
    free(tmp);
}

/* Appends base64url(json_dumps(v, flags)); -1 when v cannot be serialized. */
static int put_json(je_buf *b, const json_t *v, size_t flags) {
    char *s = json_dumps(v, flags);
    if (!s) return -1;
    put_b64url(b, s, strlen(s));
    free(s);
    return 0;
}

char *je_jwt_sign(const je_key *k, const json_t *claims, je_err *err) {
    if (!k || !json_is_object(claims))
        return je_err_set(err, CODE_INVALID, "JWT needs a key and a claims object"), NULL;
    json_t *header = json_pack("{s:s, s:s, s:s}", "alg", "EdDSA", "typ", "at+jwt", "kid", k->kid);
    if (!header) return je_err_set(err, CODE_CRYPTO, "cannot build JWT header"), NULL;
    je_buf b = JE_BUF_INIT;
    int rc = put_json(&b, header, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(header);
    je_buf_putc(&b, '.');
    if (rc != 0 || put_json(&b, claims, JSON_COMPACT) != 0) {
        je_buf_free(&b);
        return je_err_set(err, CODE_INVALID, "cannot serialize JWT claims"), NULL;
    }
    unsigned char sig[64];
    if (je_ed25519_sign(k, b.data, b.len, sig, err) != 0) {
        je_buf_free(&b);
        return NULL;
    }
    je_buf_putc(&b, '.');
    put_b64url(&b, sig, sizeof sig);
    return b.data; /* je_buf's storage is malloc'd; the caller frees it */
}

/* One segment of a compact token: where it starts and how long it is. */
typedef struct seg {
    const char *p;
    size_t n;
} seg;

/* Splits token into exactly three segments (two dots). Emptiness is checked per segment. */
static int split_token(const char *token, size_t len, seg s[3]) {
    size_t start = 0;
    int i = 0;
    for (size_t j = 0; j <= len; j++) {
        if (j < len && token[j] != '.') continue;
        if (i == 3) return -1;
        s[i].p = token + start;
        s[i].n = j - start;
        i++;
        start = j + 1;
    }
    return i == 3 ? 0 : -1;
}

/* Decodes a non-empty base64url segment into a malloc'd buffer (NUL-terminated). */
static unsigned char *decode_seg(seg s, size_t *out_len) {
    if (s.n == 0) return NULL;
    unsigned char *out = malloc(s.n * 3 / 4 + 1);
    if (!out) abort();
    if (je_b64url_decode(s.p, s.n, out, out_len) != 0) {
        free(out);
        return NULL;
    }
    return out;
}

/* Parses raw bytes as a JSON object (duplicate members refused); NULL when they are not one. */
static json_t *parse_object(const unsigned char *raw, size_t n) {
    json_error_t jerr;
    json_t *v = json_loadb((const char *)raw, n, JSON_REJECT_DUPLICATES, &jerr);
    if (v && !json_is_object(v)) {
        json_decref(v);
        v = NULL;
    }
    return v;
}

/* Decodes segment s and parses it as a JSON object; NULL when either fails. */
static json_t *parse_seg(seg s) {
    size_t n = 0;
    unsigned char *raw = decode_seg(s, &n);
    if (!raw) return NULL;
    json_t *v = parse_object(raw, n);
    free(raw);
    return v;
}

/* 1 when v is a JSON string exactly equal to want (no embedded NUL tricks). */
static int str_is(const json_t *v, const char *want) {
    return json_is_string(v) && json_string_length(v) == strlen(want) &&
           memcmp(json_string_value(v), want, strlen(want)) == 0;
}

/* Header checks: alg pinned to EdDSA, no "crit" extensions, kid a known key. */
static const je_key *check_header(const json_t *h, je_jwt_key_lookup lookup, void *ctx,
                                  je_err *err) {
    if (!str_is(json_object_get(h, "alg"), "EdDSA"))
        return je_err_set(err, JE_JWT_BAD_ALG, "JWT alg must be EdDSA"), NULL;
    /* RFC 7515 §4.1.11: we understand no extension, so any "crit" makes the token unusable. */
    if (json_object_get(h, "crit"))
        return je_err_set(err, JE_JWT_MALFORMED, "JWT header has unsupported crit"), NULL;
    json_t *kid = json_object_get(h, "kid");
    const je_key *k = NULL;
    if (json_is_string(kid) && strlen(json_string_value(kid)) == json_string_length(kid) && lookup)
        k = lookup(ctx, json_string_value(kid));
    if (!k) return je_err_set(err, JE_JWT_UNKNOWN_KID, "JWT kid missing or unknown"), NULL;
    return k;
}

/* Signature and payload: both segments must be base64url before anything is verified; the
 * payload is parsed only once the signature over "header.payload" holds. */
static json_t *check_body(const je_key *k, const seg s[3], je_err *err) {
    size_t pn = 0, sn = 0;
    unsigned char *payload = decode_seg(s[1], &pn);
    unsigned char *sig = payload ? decode_seg(s[2], &sn) : NULL;
    json_t *claims = NULL;
    if (!sig) {
        je_err_set(err, JE_JWT_MALFORMED, "JWT payload or signature is not base64url");
    } else if (sn != 64 ||
               !je_ed25519_verify(k, s[0].p, (size_t)(s[1].p + s[1].n - s[0].p), sig, sn)) {
        je_err_set(err, JE_JWT_BAD_SIGNATURE, "JWT signature is not valid");
    } else if (!(claims = parse_object(payload, pn))) {
        je_err_set(err, JE_JWT_MALFORMED, "JWT payload is not a JSON object");
    }
    free(payload);
    free(sig);
    return claims;
}

json_t *je_jwt_decode(const char *token, size_t len, je_jwt_key_lookup lookup, void *ctx,
                      je_err *err) {
    seg s[3];
    if (token && len > JE_JWT_MAX_LEN)
        return je_err_set(err, JE_JWT_MALFORMED, "the token is longer than %d bytes",
                          JE_JWT_MAX_LEN),
               NULL;
    if (!token || len == 0 || split_token(token, len, s) != 0)
        return je_err_set(err, JE_JWT_MALFORMED, "JWT is not three dot-separated parts"), NULL;
    json_t *header = parse_seg(s[0]);
    if (!header) return je_err_set(err, JE_JWT_MALFORMED, "JWT header is not a JSON object"), NULL;
    const je_key *k = check_header(header, lookup, ctx, err);
    json_decref(header);
    if (!k) return NULL;
    return check_body(k, s, err);
}

/* exp required and > now, nbf optional and <= now. No leeway on either side: the issuer and
 * every verifier share one clock source here, and a token is valid for whole seconds. */
static int check_times(const json_t *claims, int64_t now_s, je_err *err) {
    json_t *exp = json_object_get(claims, "exp");
    if (!json_is_integer(exp))
        return je_err_field(err, JE_JWT_MALFORMED, "exp", "JWT exp missing or not an integer");
    if (json_integer_value(exp) <= now_s)
        return je_err_field(err, JE_JWT_EXPIRED, "exp", "JWT has expired");
    json_t *nbf = json_object_get(claims, "nbf");
    if (nbf && !json_is_integer(nbf))
        return je_err_field(err, JE_JWT_MALFORMED, "nbf", "JWT nbf is not an integer");
    if (nbf && json_integer_value(nbf) > now_s)
        return je_err_field(err, JE_JWT_NOT_YET_VALID, "nbf", "JWT is not valid yet");
    return 0;
}

/* aud is a string equal to audience, or an array holding that string. */
static int aud_matches(const json_t *aud, const char *audience) {
    if (json_is_string(aud)) return str_is(aud, audience);
    if (!json_is_array(aud)) return 0;
    size_t i;
    json_t *v;
    json_array_foreach(aud, i, v) {
        if (str_is(v, audience)) return 1;
    }
    return 0;
}

int je_jwt_check_claims(const json_t *claims, int64_t now_s, const char *issuer,
                        const char *audience, je_err *err) {
    if (!json_is_object(claims)) return je_err_set(err, JE_JWT_MALFORMED, "JWT claims missing");
    if (check_times(claims, now_s, err) != 0) return -1;
    if (issuer && !str_is(json_object_get(claims, "iss"), issuer))
        return je_err_field(err, JE_JWT_BAD_ISSUER, "iss", "JWT issuer is not the expected one");
    if (audience && !aud_matches(json_object_get(claims, "aud"), audience))
        return je_err_field(err, JE_JWT_BAD_AUDIENCE, "aud", "JWT audience is not ours");
    return 0;
}

json_t *je_jwt_verify(const char *token, size_t len, je_jwt_key_lookup lookup, void *ctx,
                      int64_t now_s, const char *issuer, const char *audience, je_err *err) {
    json_t *claims = je_jwt_decode(token, len, lookup, ctx, err);
    if (!claims) return NULL;
    if (je_jwt_check_claims(claims, now_s, issuer, audience, err) != 0) {
        json_decref(claims);
        return NULL;
    }
    return claims;
}
