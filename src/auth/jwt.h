/* auth/jwt.h: compact JWS/JWT with EdDSA (Ed25519) only, on OpenSSL 3.
 * Signing: header {"alg":"EdDSA","typ":"at+jwt","kid":...}, claims as given.
 * Verification refuses, with a distinct code each: a malformed token, alg other than "EdDSA"
 * (none included), a missing or unknown kid, a bad signature, exp <= now, nbf > now, iss or aud
 * different from the expected ones. */
#ifndef JE_AUTH_JWT_H
#define JE_AUTH_JWT_H

#include <stdint.h>
#include <stddef.h>
#include <jansson.h>
#include "auth/keys.h"
#include "core/err.h"

/* The longest token accepted, in bytes (RFC 8725 §3.1: bound what is parsed). Tokens issued here
 * are under 1 KiB; a longer one is refused before its segments are split or decoded, and before
 * the verifier's caches hash or copy it. */
#define JE_JWT_MAX_LEN 8192

/* Codes set in je_err.code by je_jwt_verify / je_jwt_decode. */
#define JE_JWT_MALFORMED "jwt_malformed"
#define JE_JWT_BAD_ALG "jwt_bad_alg"
#define JE_JWT_UNKNOWN_KID "jwt_unknown_kid"
#define JE_JWT_BAD_SIGNATURE "jwt_bad_signature"
#define JE_JWT_EXPIRED "jwt_expired"
#define JE_JWT_NOT_YET_VALID "jwt_not_yet_valid"
#define JE_JWT_BAD_ISSUER "jwt_bad_issuer"
#define JE_JWT_BAD_AUDIENCE "jwt_bad_audience"

/* Signs claims with key k; returns a malloc'd compact token or NULL (err set). */
char *je_jwt_sign(const je_key *k, const json_t *claims, je_err *err);

/* Key lookup for verification: returns the key with this kid or NULL. */
typedef const je_key *(*je_jwt_key_lookup)(void *ctx, const char *kid);

/* Checks header and signature only (no time or claim checks). On success returns the claims
 * (new reference) and the kid used; NULL with err set otherwise. */
json_t *je_jwt_decode(const char *token, size_t len, je_jwt_key_lookup lookup, void *ctx,
                      je_err *err);

/* Time and claim checks on decoded claims: exp (required, > now), nbf (if present, <= now),
 * iss == issuer (if issuer != NULL), aud == audience or contains it (if audience != NULL).
 * now in seconds. Returns 0 or -1 with err set. */
int je_jwt_check_claims(const json_t *claims, int64_t now_s, const char *issuer,
                        const char *audience, je_err *err);

/* Both of the above. */
json_t *je_jwt_verify(const char *token, size_t len, je_jwt_key_lookup lookup, void *ctx,
                      int64_t now_s, const char *issuer, const char *audience, je_err *err);

#endif
