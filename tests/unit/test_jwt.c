/* tests/unit/test_jwt.c: Ed25519 keys (RFC 8032 §7.1 TEST 1, RFC 7638/8037 thumbprint, JWK,
 * UUIDv7) and EdDSA JWTs: round trip, and every refusal with its own code. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "base/b64url.h"
#include "auth/jwt.h"
#include "auth/keys.h"
#include "core/buf.h"

#define RFC_SECRET "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
#define RFC_PUBLIC "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
#define RFC_SIG                                                                                    \
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9" \
    "b46bd25bf5f0595bbe24655141438e7a100b"
/* RFC 8037 Appendix A.3: thumbprint of the RFC 8032 TEST 1 public key. */
#define RFC_KID "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
#define NOW 1700000000
#define ISS "https://authority.example"
#define AUD "jobengine"

static void hex_to_bytes(const char *hex, unsigned char *out) {
    for (size_t i = 0; hex[2 * i]; i++) {
        unsigned int v = 0;
        assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
        out[i] = (unsigned char)v;
    }
}

/* Keys: [0] the RFC 8032 TEST 1 key, [1] a fresh key the verifier also knows, [2] a stranger. */
typedef struct fixture {
    je_key keys[3];
} fixture;

static const je_key *lookup_known(void *ctx, const char *kid) {
    fixture *f = ctx;
    for (int i = 0; i < 2; i++) {
        if (strcmp(f->keys[i].kid, kid) == 0) return &f->keys[i];
    }
    return NULL;
}

static int setup(void **state) {
    fixture *f = calloc(1, sizeof *f);
    if (!f) return -1;
    hex_to_bytes(RFC_SECRET, f->keys[0].priv);
    je_err err;
    if (je_key_complete(&f->keys[0], &err) != 0) return -1;
    if (je_key_generate(&f->keys[1], 1, &err) != 0) return -1;
    if (je_key_generate(&f->keys[2], 2, &err) != 0) return -1;
    *state = f;
    return 0;
}

static int teardown(void **state) {
    free(*state);
    return 0;
}

static void put_b64url(je_buf *b, const void *p, size_t n) {
    char tmp[1024];
    assert_true(je_b64url_len(n) < sizeof tmp);
    je_buf_append(b, tmp, je_b64url_encode(p, n, tmp));
}

/* header.payload.signature built by hand; signer NULL leaves the signature empty. */
static char *build(const char *header, const char *payload, const je_key *signer) {
    je_buf b = JE_BUF_INIT;
    put_b64url(&b, header, strlen(header));
    je_buf_putc(&b, '.');
    put_b64url(&b, payload, strlen(payload));
    unsigned char sig[64];
    je_err err;
    if (signer) assert_int_equal(je_ed25519_sign(signer, b.data, b.len, sig, &err), 0);
    je_buf_putc(&b, '.');
    if (signer) put_b64url(&b, sig, 64);
    return b.data;
}

static char *header_with_kid(const char *fmt, const je_key *k) {
    static char h[256];
    snprintf(h, sizeof h, fmt, k->kid);
    return h;
}

static const char *PAYLOAD = "{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"exp\":1700000600}";

static void expect_refused_n(fixture *f, const char *token, size_t len, const char *code) {
    je_err err;
    je_err_clear(&err);
    json_t *claims = je_jwt_decode(token, len, lookup_known, f, &err);
    if (claims) json_decref(claims);
    assert_null(claims);
    assert_non_null(err.code);
    assert_string_equal(err.code, code);
}

static void expect_refused(fixture *f, const char *token, const char *code) {
    expect_refused_n(f, token, strlen(token), code);
}

/* ---- keys ---- */

static void test_ed25519_rfc8032_test1(void **state) {
    fixture *f = *state;
    unsigned char pub[32], want[64], sig[64];
    hex_to_bytes(RFC_PUBLIC, pub);
    hex_to_bytes(RFC_SIG, want);
    assert_memory_equal(f->keys[0].pub, pub, 32);
    je_err err;
    assert_int_equal(je_ed25519_sign(&f->keys[0], "", 0, sig, &err), 0);
    assert_memory_equal(sig, want, 64);
    assert_int_equal(je_ed25519_verify(&f->keys[0], "", 0, sig, 64), 1);
    assert_int_equal(je_ed25519_verify(&f->keys[0], "", 0, sig, 63), 0);
    assert_int_equal(je_ed25519_verify(&f->keys[0], "x", 1, sig, 64), 0);
    assert_int_equal(je_ed25519_verify(&f->keys[1], "", 0, sig, 64), 0);
    sig[10] ^= 1;
    assert_int_equal(je_ed25519_verify(&f->keys[0], "", 0, sig, 64), 0);
}

static void test_kid_is_rfc7638_thumbprint(void **state) {
    fixture *f = *state;
    /* Computed here with OpenSSL directly from the canonical thumbprint input. */
    const char *input = "{\"crv\":\"Ed25519\",\"kty\":\"OKP\",\"x\":\"11qYAYKxCrfVS_"
                        "7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}";
    unsigned char md[32];
    unsigned int md_len = 0;
    assert_int_equal(EVP_Digest(input, strlen(input), md, &md_len, EVP_sha256(), NULL), 1);
    char kid[64];
    je_b64url_encode(md, md_len, kid);
    assert_string_equal(kid, RFC_KID);
    assert_string_equal(f->keys[0].kid, RFC_KID);
}

static void test_key_jwk_round_trip(void **state) {
    fixture *f = *state;
    json_t *jwk = je_key_jwk(&f->keys[0]);
    assert_non_null(jwk);
    char *s = json_dumps(jwk, JSON_COMPACT | JSON_PRESERVE_ORDER);
    assert_string_equal(s, "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":"
                           "\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\",\"kid\":\"" RFC_KID
                           "\",\"use\":\"sig\",\"alg\":\"EdDSA\"}");
    free(s);
    je_key k;
    je_err err;
    assert_int_equal(je_key_from_jwk(jwk, &k, &err), 0);
    assert_memory_equal(k.pub, f->keys[0].pub, 32);
    assert_string_equal(k.kid, RFC_KID);
    unsigned char zero[32] = {0};
    assert_memory_equal(k.priv, zero, 32);
    assert_int_not_equal(je_ed25519_sign(&k, "m", 1, (unsigned char[64]){0}, &err), 0);
    /* Without a kid member, the thumbprint is computed. */
    json_object_del(jwk, "kid");
    assert_int_equal(je_key_from_jwk(jwk, &k, &err), 0);
    assert_string_equal(k.kid, RFC_KID);
    json_decref(jwk);
}

static void test_key_from_jwk_refusals(void **state) {
    (void)state;
    const char *bad[] = {
        "[]",
        "{\"kty\":\"EC\",\"crv\":\"Ed25519\",\"x\":\"11qYAYKxCrfVS_"
        "7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}",
        "{\"kty\":\"OKP\",\"crv\":\"X25519\",\"x\":\"11qYAYKxCrfVS_"
        "7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}",
        "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"11qYAYKxCrfVS_"
        "7TyWQHOg7hcvPapiMlrwIaaPcHUR\"}",
        "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo="
        "\"}",
        "{\"kty\":\"OKP\",\"crv\":\"Ed25519\"}",
        "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":42}",
        "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"11qYAYKxCrfVS_"
        "7TyWQHOg7hcvPapiMlrwIaaPcHURo\","
        "\"alg\":\"ES256\"}",
        "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"11qYAYKxCrfVS_"
        "7TyWQHOg7hcvPapiMlrwIaaPcHURo\","
        "\"use\":\"enc\"}",
        "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"11qYAYKxCrfVS_"
        "7TyWQHOg7hcvPapiMlrwIaaPcHURo\","
        "\"kid\":\"\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        json_t *jwk = json_loads(bad[i], 0, NULL);
        assert_non_null(jwk);
        je_key k;
        je_err err;
        je_err_clear(&err);
        assert_int_equal(je_key_from_jwk(jwk, &k, &err), -1);
        assert_non_null(err.code);
        json_decref(jwk);
    }
}

static void test_key_generate(void **state) {
    fixture *f = *state;
    assert_int_equal(strlen(f->keys[1].kid), 43);
    assert_string_not_equal(f->keys[1].kid, f->keys[2].kid);
    assert_memory_not_equal(f->keys[1].priv, f->keys[2].priv, 32);
    assert_int_equal(f->keys[1].created_ms, 1);
    assert_int_equal(f->keys[1].current, 0);
    /* je_key_complete on a generated key's seed reproduces it. */
    je_key copy = {0};
    memcpy(copy.priv, f->keys[1].priv, 32);
    je_err err;
    assert_int_equal(je_key_complete(&copy, &err), 0);
    assert_memory_equal(copy.pub, f->keys[1].pub, 32);
    assert_string_equal(copy.kid, f->keys[1].kid);
    unsigned char sig[64];
    assert_int_equal(je_ed25519_sign(&f->keys[1], "hello", 5, sig, &err), 0);
    assert_int_equal(je_ed25519_verify(&copy, "hello", 5, sig, 64), 1);
}

static void test_uuid7(void **state) {
    (void)state;
    char a[37], b[37];
    int64_t now_ms = 0x0189abcdef12LL;
    je_uuid7(now_ms, a);
    je_uuid7(now_ms, b);
    assert_int_equal(strlen(a), 36);
    assert_string_not_equal(a, b);
    assert_memory_equal(a, "0189abcd-ef12-7", 15);
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            assert_int_equal(a[i], '-');
        } else {
            assert_non_null(strchr("0123456789abcdef", a[i]));
        }
    }
    assert_non_null(strchr("89ab", a[19]));
    unsigned char r[32] = {0}, zero[32] = {0};
    assert_int_equal(je_random_bytes(r, sizeof r), 0);
    assert_memory_not_equal(r, zero, 32);
}

/* ---- JWT ---- */

static json_t *sample_claims(void) {
    return json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:s, s:s, s:s}", "iss", ISS, "sub", "client-1",
                     "aud", AUD, "iat", (json_int_t)NOW, "nbf", (json_int_t)NOW, "exp",
                     (json_int_t)(NOW + 600), "jti", "0189abcd-ef12-7000-8000-000000000000",
                     "scope", "orch:quota orch:read", "quota.reason",
                     "r\xc3\xa9sum\xc3\xa9 \"quoted\" \\ / \xf0\x9f\x98\x80");
}

static void test_sign_verify_round_trip(void **state) {
    fixture *f = *state;
    json_t *claims = sample_claims();
    je_err err;
    char *token = je_jwt_sign(&f->keys[0], claims, &err);
    assert_non_null(token);
    /* Header bytes are exactly the documented ones. */
    const char *dot = strchr(token, '.');
    unsigned char h[128];
    size_t hn = 0;
    assert_int_equal(je_b64url_decode(token, (size_t)(dot - token), h, &hn), 0);
    assert_string_equal((char *)h,
                        "{\"alg\":\"EdDSA\",\"typ\":\"at+jwt\",\"kid\":\"" RFC_KID "\"}");
    json_t *got = je_jwt_verify(token, strlen(token), lookup_known, f, NOW, ISS, AUD, &err);
    assert_non_null(got);
    assert_true(json_equal(got, claims));
    json_decref(got);
    /* The second known key verifies too; the stranger's token does not. */
    char *t1 = je_jwt_sign(&f->keys[1], claims, &err);
    got = je_jwt_decode(t1, strlen(t1), lookup_known, f, &err);
    assert_non_null(got);
    json_decref(got);
    char *t2 = je_jwt_sign(&f->keys[2], claims, &err);
    expect_refused(f, t2, JE_JWT_UNKNOWN_KID);
    free(t1);
    free(t2);
    free(token);
    json_decref(claims);
}

static void test_refuse_bad_alg(void **state) {
    fixture *f = *state;
    const je_key *k = &f->keys[0];
    const char *headers[] = {
        "{\"alg\":\"none\",\"kid\":\"%s\"}",    "{\"alg\":\"HS256\",\"kid\":\"%s\"}",
        "{\"alg\":\"ES256\",\"kid\":\"%s\"}",   "{\"alg\":\"EdDSA \",\"kid\":\"%s\"}",
        "{\"alg\":\"eddsa\",\"kid\":\"%s\"}",   "{\"alg\":\"Ed25519\",\"kid\":\"%s\"}",
        "{\"alg\":null,\"kid\":\"%s\"}",        "{\"alg\":1,\"kid\":\"%s\"}",
        "{\"alg\":[\"EdDSA\"],\"kid\":\"%s\"}", "{\"kid\":\"%s\"}",
    };
    for (size_t i = 0; i < sizeof headers / sizeof *headers; i++) {
        const char *h = header_with_kid(headers[i], k);
        char *signed_tok = build(h, PAYLOAD, k);
        char *unsigned_tok = build(h, PAYLOAD, NULL);
        expect_refused(f, signed_tok, JE_JWT_BAD_ALG);
        expect_refused(f, unsigned_tok, JE_JWT_BAD_ALG);
        free(signed_tok);
        free(unsigned_tok);
    }
    /* Classic alg=none with no kid at all. */
    char *t = build("{\"alg\":\"none\",\"typ\":\"JWT\"}", PAYLOAD, NULL);
    expect_refused(f, t, JE_JWT_BAD_ALG);
    free(t);
}

static void test_refuse_kid(void **state) {
    fixture *f = *state;
    const char *hs[] = {"{\"alg\":\"EdDSA\"}", "{\"alg\":\"EdDSA\",\"kid\":\"nope\"}",
                        "{\"alg\":\"EdDSA\",\"kid\":null}", "{\"alg\":\"EdDSA\",\"kid\":7}",
                        "{\"alg\":\"EdDSA\",\"kid\":\"\"}"};
    for (size_t i = 0; i < sizeof hs / sizeof *hs; i++) {
        char *t = build(hs[i], PAYLOAD, &f->keys[0]);
        expect_refused(f, t, JE_JWT_UNKNOWN_KID);
        free(t);
    }
    /* A lookup that knows nothing, or none at all. */
    json_t *claims = sample_claims();
    je_err err;
    char *token = je_jwt_sign(&f->keys[0], claims, &err);
    assert_null(je_jwt_decode(token, strlen(token), NULL, NULL, &err));
    assert_string_equal(err.code, JE_JWT_UNKNOWN_KID);
    free(token);
    json_decref(claims);
}

static void test_refuse_signature(void **state) {
    fixture *f = *state;
    /* Signed by the stranger but claiming key 0's kid. */
    char *t = build(header_with_kid("{\"alg\":\"EdDSA\",\"kid\":\"%s\"}", &f->keys[0]), PAYLOAD,
                    &f->keys[2]);
    expect_refused(f, t, JE_JWT_BAD_SIGNATURE);
    free(t);
    /* Signed by another known key but claiming key 0's kid. */
    t = build(header_with_kid("{\"alg\":\"EdDSA\",\"kid\":\"%s\"}", &f->keys[0]), PAYLOAD,
              &f->keys[1]);
    expect_refused(f, t, JE_JWT_BAD_SIGNATURE);
    free(t);

    json_t *claims = sample_claims();
    je_err err;
    char *token = je_jwt_sign(&f->keys[0], claims, &err);
    json_decref(claims);
    size_t len = strlen(token);
    char *p1 = strchr(token, '.') + 1, *p2 = strrchr(token, '.') + 1;
    /* Flip one payload character (to another alphabet character; not the last one). */
    p1[5] = p1[5] == 'A' ? 'B' : 'A';
    expect_refused(f, token, JE_JWT_BAD_SIGNATURE);
    p1[5] = p1[5] == 'A' ? 'B' : 'A';
    /* Flip one signature byte. */
    unsigned char sig[70];
    size_t sn = 0;
    assert_int_equal(je_b64url_decode(p2, strlen(p2), sig, &sn), 0);
    assert_int_equal(sn, 64);
    sig[20] ^= 0x01;
    je_b64url_encode(sig, 64, p2);
    expect_refused(f, token, JE_JWT_BAD_SIGNATURE);
    sig[20] ^= 0x01;
    je_b64url_encode(sig, 64, p2);
    /* Truncated signature: 63 bytes (84 chars) is well-formed but wrong; 85 chars is not base64url.
     */
    expect_refused_n(f, token, len - 2, JE_JWT_BAD_SIGNATURE);
    expect_refused_n(f, token, len - 1, JE_JWT_MALFORMED);
    /* Empty signature. */
    expect_refused_n(f, token, (size_t)(p2 - token), JE_JWT_MALFORMED);
    free(token);
}

static void test_refuse_signature_length(void **state) {
    fixture *f = *state;
    const char *h = header_with_kid("{\"alg\":\"EdDSA\",\"kid\":\"%s\"}", &f->keys[0]);
    char *t = build(h, PAYLOAD, &f->keys[0]);
    je_buf b = JE_BUF_INIT;
    je_buf_puts(&b, t);
    je_buf_puts(&b, "AA"); /* 86 + 2 chars: 66 bytes, valid base64url, wrong length */
    expect_refused(f, b.data, JE_JWT_BAD_SIGNATURE);
    je_buf_free(&b);
    free(t);
}

static void test_refuse_structure(void **state) {
    fixture *f = *state;
    json_t *claims = sample_claims();
    je_err err;
    char *token = je_jwt_sign(&f->keys[0], claims, &err);
    json_decref(claims);
    size_t len = strlen(token);
    char *p1 = strchr(token, '.') + 1, *p2 = strrchr(token, '.') + 1;
    size_t hlen = (size_t)(p1 - 1 - token);
    je_buf b = JE_BUF_INIT;
    /* Two segments; four segments; empty segments. */
    expect_refused_n(f, token, (size_t)(p2 - 1 - token), JE_JWT_MALFORMED);
    je_buf_puts(&b, token);
    je_buf_puts(&b, ".AAAA");
    expect_refused(f, b.data, JE_JWT_MALFORMED);
    const char *odd[] = {"", ".", "..", "...", "a..", ".b.c", "abc"};
    for (size_t i = 0; i < sizeof odd / sizeof *odd; i++)
        expect_refused(f, odd[i], JE_JWT_MALFORMED);
    /* Header segment empty but payload and signature present. */
    expect_refused(f, p1 - 1, JE_JWT_MALFORMED);
    /* Padding in each segment. */
    const size_t at[] = {hlen, (size_t)(p2 - 1 - token), len};
    for (size_t i = 0; i < 3; i++) {
        je_buf_reset(&b);
        je_buf_append(&b, token, at[i]);
        je_buf_puts(&b, "==");
        je_buf_puts(&b, token + at[i]);
        expect_refused(f, b.data, JE_JWT_MALFORMED);
    }
    /* Characters outside the base64url alphabet, in each segment. */
    const char bad_chars[] = {'+', '/', ' ', '=', '\n', '\0', '\xff'};
    const size_t pos[] = {3, (size_t)(p1 - token) + 3, (size_t)(p2 - token) + 3};
    for (size_t i = 0; i < sizeof bad_chars; i++) {
        for (size_t j = 0; j < 3; j++) {
            je_buf_reset(&b);
            je_buf_append(&b, token, len);
            b.data[pos[j]] = bad_chars[i];
            expect_refused_n(f, b.data, len, JE_JWT_MALFORMED);
        }
    }
    je_buf_free(&b);
    assert_null(je_jwt_decode(NULL, 0, lookup_known, f, &err));
    assert_string_equal(err.code, JE_JWT_MALFORMED);
    free(token);
}

static void test_refuse_bad_json(void **state) {
    fixture *f = *state;
    const je_key *k = &f->keys[0];
    const char *bad_headers[] = {"not json",
                                 "[\"alg\",\"EdDSA\"]",
                                 "\"EdDSA\"",
                                 "42",
                                 "",
                                 "{\"alg\":\"EdDSA\",\"alg\":\"EdDSA\",\"kid\":\"x\"}",
                                 "{\"alg\":\"EdDSA\"",
                                 "{\"alg\":\"EdDSA\"} x"};
    for (size_t i = 0; i < sizeof bad_headers / sizeof *bad_headers; i++) {
        char *t = build(bad_headers[i], PAYLOAD, k);
        expect_refused(f, t, JE_JWT_MALFORMED);
        free(t);
    }
    /* Duplicate alg hiding a second value; crit extensions. */
    const char *h_dup = header_with_kid("{\"alg\":\"EdDSA\",\"kid\":\"%s\",\"alg\":\"none\"}", k);
    char *t = build(h_dup, PAYLOAD, k);
    expect_refused(f, t, JE_JWT_MALFORMED);
    free(t);
    const char *h_crit =
        header_with_kid("{\"alg\":\"EdDSA\",\"kid\":\"%s\",\"crit\":[\"b64\"]}", k);
    t = build(h_crit, PAYLOAD, k);
    expect_refused(f, t, JE_JWT_MALFORMED);
    free(t);
    /* Validly signed payloads that are not one JSON object. */
    const char *h = header_with_kid("{\"alg\":\"EdDSA\",\"kid\":\"%s\"}", k);
    const char *bad_payloads[] = {
        "[1,2]", "\"claims\"", "null", "not json", "{\"exp\":1,\"exp\":2}", "{\"a\":1}{\"b\":2}",
        "x"};
    for (size_t i = 0; i < sizeof bad_payloads / sizeof *bad_payloads; i++) {
        t = build(h, bad_payloads[i], k);
        expect_refused(f, t, JE_JWT_MALFORMED);
        free(t);
    }
}

static void test_refuse_oversized(void **state) {
    fixture *f = *state;
    json_t *claims = sample_claims();
    char pad[8200];
    memset(pad, 'x', sizeof pad - 1);
    pad[sizeof pad - 1] = '\0';
    json_object_set_new(claims, "pad", json_string(pad));
    je_err err;
    char *token = je_jwt_sign(&f->keys[0], claims, &err);
    assert_non_null(token);
    assert_true(strlen(token) > 8192);
    expect_refused(f, token, JE_JWT_MALFORMED);
    free(token);
    json_decref(claims);
}

/* Every one-character change of a valid token is refused, and nothing crashes. */
static void test_mutations_never_accepted(void **state) {
    fixture *f = *state;
    json_t *claims = json_pack("{s:s, s:I}", "iss", ISS, "exp", (json_int_t)(NOW + 1));
    je_err err;
    char *token = je_jwt_sign(&f->keys[0], claims, &err);
    json_decref(claims);
    size_t len = strlen(token);
    const char subst[] = {'A', 'B', 'g', '_', '-', '.', '='};
    for (size_t i = 0; i < len; i++) {
        char orig = token[i];
        for (size_t j = 0; j < sizeof subst; j++) {
            if (subst[j] == orig) continue;
            token[i] = subst[j];
            json_t *got = je_jwt_decode(token, len, lookup_known, f, &err);
            if (got) json_decref(got);
            assert_null(got);
        }
        token[i] = orig;
    }
    free(token);
}

/* ---- claims ---- */

static int check(const char *json, int64_t now, const char *iss, const char *aud, je_err *err) {
    json_t *c = json_loads(json, 0, NULL);
    assert_non_null(c);
    je_err_clear(err);
    int rc = je_jwt_check_claims(c, now, iss, aud, err);
    json_decref(c);
    return rc;
}

static void expect_claims(const char *json, const char *code) {
    je_err err;
    int rc = check(json, NOW, ISS, AUD, &err);
    if (!code) {
        assert_int_equal(rc, 0);
        return;
    }
    assert_int_equal(rc, -1);
    assert_string_equal(err.code, code);
}

#define C_OK "\"iss\":\"" ISS "\",\"aud\":\"" AUD "\""

static void test_claims_times(void **state) {
    (void)state;
    expect_claims("{" C_OK ",\"exp\":1700000001}", NULL);
    expect_claims("{" C_OK ",\"exp\":1700000000}", JE_JWT_EXPIRED); /* exp == now */
    expect_claims("{" C_OK ",\"exp\":1600000000}", JE_JWT_EXPIRED);
    expect_claims("{" C_OK "}", JE_JWT_MALFORMED);
    expect_claims("{" C_OK ",\"exp\":\"1800000000\"}", JE_JWT_MALFORMED);
    expect_claims("{" C_OK ",\"exp\":1800000000.0}", JE_JWT_MALFORMED);
    expect_claims("{" C_OK ",\"exp\":null}", JE_JWT_MALFORMED);
    expect_claims("{" C_OK ",\"exp\":1800000000,\"nbf\":1700000000}", NULL); /* nbf == now */
    expect_claims("{" C_OK ",\"exp\":1800000000,\"nbf\":1700000001}", JE_JWT_NOT_YET_VALID);
    expect_claims("{" C_OK ",\"exp\":1800000000,\"nbf\":\"0\"}", JE_JWT_MALFORMED);
    je_err err;
    json_t *arr = json_array();
    assert_int_equal(je_jwt_check_claims(arr, NOW, NULL, NULL, &err), -1);
    assert_string_equal(err.code, JE_JWT_MALFORMED);
    json_decref(arr);
}

static void test_claims_iss_aud(void **state) {
    (void)state;
    const char *x = ",\"exp\":1800000000";
    char buf[512];
#define EXPECT(body, code)                                                                         \
    do {                                                                                           \
        snprintf(buf, sizeof buf, "{%s%s}", body, x);                                              \
        expect_claims(buf, code);                                                                  \
    } while (0)
    EXPECT("\"iss\":\"https://evil.example\",\"aud\":\"" AUD "\"", JE_JWT_BAD_ISSUER);
    EXPECT("\"iss\":\"" ISS "/\",\"aud\":\"" AUD "\"", JE_JWT_BAD_ISSUER);
    EXPECT("\"aud\":\"" AUD "\"", JE_JWT_BAD_ISSUER);
    EXPECT("\"iss\":[\"" ISS "\"],\"aud\":\"" AUD "\"", JE_JWT_BAD_ISSUER);
    EXPECT("\"iss\":\"" ISS "\",\"aud\":\"other\"", JE_JWT_BAD_AUDIENCE);
    EXPECT("\"iss\":\"" ISS "\"", JE_JWT_BAD_AUDIENCE);
    EXPECT("\"iss\":\"" ISS "\",\"aud\":[\"other\",\"" AUD "\"]", NULL);
    EXPECT("\"iss\":\"" ISS "\",\"aud\":[\"other\",\"x\"]", JE_JWT_BAD_AUDIENCE);
    EXPECT("\"iss\":\"" ISS "\",\"aud\":[]", JE_JWT_BAD_AUDIENCE);
    EXPECT("\"iss\":\"" ISS "\",\"aud\":[[\"" AUD "\"]]", JE_JWT_BAD_AUDIENCE);
    EXPECT("\"iss\":\"" ISS "\",\"aud\":\"" AUD "x\"", JE_JWT_BAD_AUDIENCE);
#undef EXPECT
    /* NULL issuer / audience skip those checks. */
    je_err err;
    assert_int_equal(check("{\"exp\":1800000000}", NOW, NULL, NULL, &err), 0);
}

static void test_verify_applies_claims(void **state) {
    fixture *f = *state;
    json_t *claims = sample_claims();
    je_err err;
    char *token = je_jwt_sign(&f->keys[0], claims, &err);
    size_t len = strlen(token);
    assert_null(je_jwt_verify(token, len, lookup_known, f, NOW + 600, ISS, AUD, &err));
    assert_string_equal(err.code, JE_JWT_EXPIRED);
    assert_null(je_jwt_verify(token, len, lookup_known, f, NOW - 1, ISS, AUD, &err));
    assert_string_equal(err.code, JE_JWT_NOT_YET_VALID);
    assert_null(je_jwt_verify(token, len, lookup_known, f, NOW, "other", AUD, &err));
    assert_string_equal(err.code, JE_JWT_BAD_ISSUER);
    assert_null(je_jwt_verify(token, len, lookup_known, f, NOW, ISS, "other", &err));
    assert_string_equal(err.code, JE_JWT_BAD_AUDIENCE);
    free(token);
    /* aud as an array holding ours, end to end. */
    json_object_set_new(claims, "aud", json_pack("[s,s]", "other", AUD));
    token = je_jwt_sign(&f->keys[1], claims, &err);
    json_t *got = je_jwt_verify(token, strlen(token), lookup_known, f, NOW, ISS, AUD, &err);
    assert_non_null(got);
    assert_true(json_equal(got, claims));
    json_decref(got);
    free(token);
    json_decref(claims);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ed25519_rfc8032_test1),
        cmocka_unit_test(test_kid_is_rfc7638_thumbprint),
        cmocka_unit_test(test_key_jwk_round_trip),
        cmocka_unit_test(test_key_from_jwk_refusals),
        cmocka_unit_test(test_key_generate),
        cmocka_unit_test(test_uuid7),
        cmocka_unit_test(test_sign_verify_round_trip),
        cmocka_unit_test(test_refuse_bad_alg),
        cmocka_unit_test(test_refuse_kid),
        cmocka_unit_test(test_refuse_signature),
        cmocka_unit_test(test_refuse_signature_length),
        cmocka_unit_test(test_refuse_structure),
        cmocka_unit_test(test_refuse_bad_json),
        cmocka_unit_test(test_refuse_oversized),
        cmocka_unit_test(test_mutations_never_accepted),
        cmocka_unit_test(test_claims_times),
        cmocka_unit_test(test_claims_iss_aud),
        cmocka_unit_test(test_verify_applies_claims),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
