/* tests/fuzz/fuzz_jwt.c: the JWT parser and verifier (src/auth/jwt.c, auth/verifier.c,
 * auth/keyring.c) on tokens no one signed and on tokens this harness signs, since no fuzzer
 * forges an Ed25519 signature:
 * - input without a newline: the token itself, to je_jwt_decode / je_jwt_verify and to the
 *   verifier of the app (caches, revocation list);
 * - "HEADER\nCLAIMS": both parts taken as bytes (JSON or not), base64url-encoded and signed with
 *   the app's key, then verified the same ways; "@KID@" in either stands for that key's kid, an
 *   empty HEADER for the header je_jwt_sign writes.
 * Properties (abort() when broken): the verifier admits a token exactly when je_jwt_verify and
 * je_principal_from_claims accept it and its jti is not revoked; asking twice (the second time
 * from the caches) gives the same answer and the same principal. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/jwt.h"
#include "base/b64url.h"
#include "core/buf.h"
#include "fuzz_kit.h"

static const je_key *lookup(void *ctx, const char *kid) {
    je_keyring *kr = ctx;
    for (size_t i = 0; i < kr->n; i++)
        if (strcmp(kr->keys[i].kid, kid) == 0) return &kr->keys[i];
    return NULL;
}

/* s[0..n) with "@KID@" replaced by kid, base64url-encoded, appended to b. */
static void put_part(je_buf *b, const uint8_t *s, size_t n, const char *kid) {
    je_buf raw = JE_BUF_INIT;
    for (size_t i = 0; i < n;) {
        if (n - i >= 5 && memcmp(s + i, "@KID@", 5) == 0) {
            je_buf_puts(&raw, kid);
            i += 5;
        } else {
            je_buf_putc(&raw, (char)s[i++]);
        }
    }
    char *enc = malloc(je_b64url_len(raw.len) + 1);
    if (!enc) abort();
    je_b64url_encode((const unsigned char *)(raw.data ? raw.data : ""), raw.len, enc);
    je_buf_puts(b, enc);
    free(enc);
    je_buf_free(&raw);
}

/* "HEADER\nCLAIMS" signed with the current key: a malloc'd token. */
static char *sign_parts(const uint8_t *data, size_t size, const uint8_t *nl, size_t *len) {
    je_app *app = fz_app();
    je_key key;
    je_err err;
    FZ_CHECK(je_keyring_current(&app->keyring, &key, &err) == 0, "a current key");
    je_buf b = JE_BUF_INIT;
    if (nl == data) {
        char h[160];
        snprintf(h, sizeof h, "{\"alg\":\"EdDSA\",\"typ\":\"at+jwt\",\"kid\":\"%s\"}", key.kid);
        put_part(&b, (const uint8_t *)h, strlen(h), key.kid);
    } else {
        put_part(&b, data, (size_t)(nl - data), key.kid);
    }
    je_buf_putc(&b, '.');
    put_part(&b, nl + 1, size - (size_t)(nl + 1 - data), key.kid);
    unsigned char sig[64];
    FZ_CHECK(je_ed25519_sign(&key, b.data, b.len, sig, &err) == 0, "signing");
    char enc[90];
    je_b64url_encode(sig, sizeof sig, enc);
    je_buf_putc(&b, '.');
    je_buf_puts(&b, enc);
    *len = b.len;
    return b.data;
}

static int same_principal(const je_principal *a, const je_principal *b) {
    if (strcmp(a->client_id, b->client_id) || strcmp(a->tenant, b->tenant) ||
        strcmp(a->jti, b->jti) || a->scopes != b->scopes || a->exp_s != b->exp_s ||
        a->nbf_s != b->nbf_s)
        return 0;
    for (int i = 0; i < JE_CLAIM_COUNT; i++)
        if (!a->claims[i] != !b->claims[i] || (a->claims[i] && strcmp(a->claims[i], b->claims[i])))
            return 0;
    return 1;
}

static void check_token(const char *tok, size_t len) {
    je_app *app = fz_app();
    int64_t now = je_now_ms();
    je_err err;
    je_err_clear(&err);
    je_arena *a = je_arena_new();
    json_t *claims = je_jwt_verify(tok, len, lookup, &app->keyring, now / 1000, app->cfg.issuer,
                                   app->cfg.audience, &err);
    je_principal direct, p1, p2;
    int direct_ok = claims && je_principal_from_claims(claims, &direct, a, &err) == 0 &&
                    !je_verifier_is_revoked(&app->verifier, direct.jti, now);
    json_decref(claims);
    int ok1 = je_verifier_check(&app->verifier, tok, len, now, &p1, a, &err) == 0;
    int ok2 = je_verifier_check(&app->verifier, tok, len, now, &p2, a, &err) == 0;
    if (getenv("FZ_DEBUG"))
        fprintf(stderr, "verifier: %s (%s)\n", ok1 ? "admitted" : "refused", err.message);
    FZ_CHECK(ok1 == ok2, "the verifier answers the same from its caches");
    FZ_CHECK(ok1 == direct_ok, "the verifier admits exactly what jwt.c and the claims admit");
    if (ok1) FZ_CHECK(same_principal(&p1, &p2) && same_principal(&p1, &direct), "one principal");
    je_arena_free(a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint8_t *nl = memchr(data, '\n', size);
    if (!nl) return check_token((const char *)data, size), 0;
    size_t len = 0;
    char *tok = sign_parts(data, size, nl, &len);
    check_token(tok, len);
    free(tok);
    return 0;
}
