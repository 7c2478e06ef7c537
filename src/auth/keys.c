/* auth/keys.c: Ed25519 keys on OpenSSL 3 (raw 32-byte seeds and public keys), their RFC 7638
 * thumbprint kid and public JWK form, detached signing and verification. Every EVP object is
 * freed before returning. */
#include "auth/keys.h"
#include "base/b64url.h"
#include "base/random.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <pthread.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#define CODE_CRYPTO "CRYPTO"
#define CODE_INVALID "VALIDATION_FAILED"

static int is_zero(const unsigned char *p, size_t n) {
    unsigned char acc = 0;
    for (size_t i = 0; i < n; i++) acc |= p[i];
    return acc == 0;
}

/* RFC 7638: base64url(SHA-256({"crv":"Ed25519","kty":"OKP","x":"<x>"})), members sorted. */
static int thumbprint(const unsigned char pub[32], char kid[64]) {
    char x[48], input[128];
    unsigned char md[32];
    unsigned int md_len = 0;
    je_b64url_encode(pub, 32, x);
    int n = snprintf(input, sizeof input, "{\"crv\":\"Ed25519\",\"kty\":\"OKP\",\"x\":\"%s\"}", x);
    if (n < 0 || (size_t)n >= sizeof input) return -1;
    if (EVP_Digest(input, (size_t)n, md, &md_len, EVP_sha256(), NULL) != 1 || md_len != 32)
        return -1;
    je_b64url_encode(md, 32, kid);
    return 0;
}

int je_key_complete(je_key *k, je_err *err) {
    if (!k) return je_err_set(err, CODE_INVALID, "no key");
    if (is_zero(k->priv, 32)) return je_err_set(err, CODE_INVALID, "private key is not set");
    EVP_PKEY *pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, k->priv, 32);
    if (!pkey) return je_err_set(err, CODE_CRYPTO, "cannot load Ed25519 private key");
    size_t len = 32;
    int ok = EVP_PKEY_get_raw_public_key(pkey, k->pub, &len) == 1 && len == 32;
    EVP_PKEY_free(pkey);
    if (!ok) return je_err_set(err, CODE_CRYPTO, "cannot derive Ed25519 public key");
    if (thumbprint(k->pub, k->kid) != 0)
        return je_err_set(err, CODE_CRYPTO, "cannot compute key thumbprint");
    return 0;
}

int je_key_generate(je_key *k, int64_t now_ms, je_err *err) {
    if (!k) return je_err_set(err, CODE_INVALID, "no key");
    memset(k, 0, sizeof *k);
    /* An all-zero seed means "public only" in je_key; drawing one is 2^-256 but costs nothing. */
    do {
        if (je_random_bytes(k->priv, sizeof k->priv) != 0)
            return je_err_set(err, CODE_CRYPTO, "secure random source failed");
    } while (is_zero(k->priv, sizeof k->priv));
    if (je_key_complete(k, err) != 0) {
        memset(k->priv, 0, sizeof k->priv);
        return -1;
    }
    k->created_ms = now_ms;
    k->current = 0;
    return 0;
}

json_t *je_key_jwk(const je_key *k) {
    if (!k) return NULL;
    char x[48];
    je_b64url_encode(k->pub, 32, x);
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "kty", "OKP", "crv", "Ed25519", "x", x,
                     "kid", k->kid, "use", "sig", "alg", "EdDSA");
}

/* The string member name of jwk, or NULL when absent; *bad = 1 when present but not a string. */
static const char *member(const json_t *jwk, const char *name, int *bad) {
    json_t *v = json_object_get(jwk, name);
    if (!v) return NULL;
    if (!json_is_string(v)) *bad = 1;
    return json_string_value(v);
}

/* kid: the JWK's own "kid" when given (that is how a JWKS names its keys), else the thumbprint. */
int je_key_from_jwk(const json_t *jwk, je_key *k, je_err *err) {
    if (!k) return je_err_set(err, CODE_INVALID, "no key");
    memset(k, 0, sizeof *k);
    if (!json_is_object(jwk)) return je_err_set(err, CODE_INVALID, "JWK is not an object");
    int bad = 0;
    const char *kty = member(jwk, "kty", &bad), *crv = member(jwk, "crv", &bad);
    const char *x = member(jwk, "x", &bad), *kid = member(jwk, "kid", &bad);
    const char *use = member(jwk, "use", &bad), *alg = member(jwk, "alg", &bad);
    if (bad || !kty || strcmp(kty, "OKP") != 0 || !crv || strcmp(crv, "Ed25519") != 0)
        return je_err_set(err, CODE_INVALID, "JWK is not an OKP/Ed25519 key");
    if ((use && strcmp(use, "sig") != 0) || (alg && strcmp(alg, "EdDSA") != 0))
        return je_err_set(err, CODE_INVALID, "JWK is not an EdDSA signing key");
    unsigned char pub[48];
    size_t len = 0;
    if (!x || strlen(x) != 43 || je_b64url_decode(x, 43, pub, &len) != 0 || len != 32)
        return je_err_field(err, CODE_INVALID, "x", "JWK x is not a 32-byte base64url value");
    memcpy(k->pub, pub, 32);
    if (kid) {
        if (kid[0] == '\0' || strlen(kid) >= sizeof k->kid)
            return je_err_field(err, CODE_INVALID, "kid", "JWK kid is empty or too long");
        memcpy(k->kid, kid, strlen(kid) + 1);
    } else if (thumbprint(k->pub, k->kid) != 0) {
        return je_err_set(err, CODE_CRYPTO, "cannot compute key thumbprint");
    }
    return 0;
}

/* Parsed keys, kept for the life of the process: building an EVP_PKEY from raw bytes costs as
 * much as half a signature. Keys are few (one per rotation), so a small array suffices; a key
 * that does not fit is built per call as before. Entries are reachable from here until exit. */
#define PKEY_CACHE 64
static struct {
    unsigned char raw[32];
    int is_private;
    EVP_PKEY *pkey;
} pkey_cache[PKEY_CACHE];
static size_t pkey_cached;
static pthread_mutex_t pkey_mu = PTHREAD_MUTEX_INITIALIZER;

/* A reference to the EVP_PKEY of raw (the caller frees it with EVP_PKEY_free). */
static EVP_PKEY *pkey_get(const unsigned char raw[32], int is_private) {
    EVP_PKEY *pk = NULL;
    pthread_mutex_lock(&pkey_mu);
    for (size_t i = 0; i < pkey_cached && !pk; i++)
        if (pkey_cache[i].is_private == is_private && memcmp(pkey_cache[i].raw, raw, 32) == 0)
            pk = pkey_cache[i].pkey;
    if (!pk) {
        pk = is_private ? EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, raw, 32)
                        : EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, raw, 32);
        if (pk && pkey_cached < PKEY_CACHE) {
            memcpy(pkey_cache[pkey_cached].raw, raw, 32);
            pkey_cache[pkey_cached].is_private = is_private;
            pkey_cache[pkey_cached++].pkey = pk;
            EVP_PKEY_up_ref(pk); /* one reference for the cache, one for the caller */
        }
    } else {
        EVP_PKEY_up_ref(pk);
    }
    pthread_mutex_unlock(&pkey_mu);
    return pk;
}

int je_ed25519_sign(const je_key *k, const void *msg, size_t len, unsigned char sig[64],
                    je_err *err) {
    if (!k || (!msg && len > 0) || !sig) return je_err_set(err, CODE_INVALID, "bad arguments");
    if (is_zero(k->priv, 32)) return je_err_set(err, CODE_INVALID, "key has no private part");
    EVP_PKEY *pkey = pkey_get(k->priv, 1);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    size_t sig_len = 64;
    /* Ed25519 is PureEdDSA: no digest (NULL md), one-shot EVP_DigestSign only. */
    int ok =
        pkey && ctx && EVP_DigestSignInit(ctx, NULL, NULL, NULL, pkey) == 1 &&
        EVP_DigestSign(ctx, sig, &sig_len, (const unsigned char *)(msg ? msg : ""), len) == 1 &&
        sig_len == 64;
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(pkey);
    if (!ok) return je_err_set(err, CODE_CRYPTO, "Ed25519 signing failed");
    return 0;
}

int je_ed25519_verify(const je_key *k, const void *msg, size_t len, const unsigned char *sig,
                      size_t sig_len) {
    if (!k || (!msg && len > 0) || !sig || sig_len != 64) return 0;
    EVP_PKEY *pkey = pkey_get(k->pub, 0);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = pkey && ctx && EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pkey) == 1 &&
             EVP_DigestVerify(ctx, sig, sig_len, (const unsigned char *)(msg ? msg : ""), len) == 1;
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(pkey);
    return ok ? 1 : 0;
}
