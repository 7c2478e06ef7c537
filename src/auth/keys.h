/* auth/keys.h: Ed25519 signing keys and their JWK form. A key's kid is its RFC 7638 JWK
 * thumbprint (base64url SHA-256 of {"crv":"Ed25519","kty":"OKP","x":...}). */
#ifndef JE_AUTH_KEYS_H
#define JE_AUTH_KEYS_H

#include <stdint.h>
#include <jansson.h>
#include "core/err.h"
#include "store/store.h" /* je_key, the record as stored */

/* A fresh key from the OS's secure random source; kid set, current = 0, created_ms = now_ms. */
int je_key_generate(je_key *k, int64_t now_ms, je_err *err);
/* Derives pub and kid from priv (used after loading). */
int je_key_complete(je_key *k, je_err *err);
/* Public JWK: {"kty":"OKP","crv":"Ed25519","x":...,"kid":...,"use":"sig","alg":"EdDSA"}. */
json_t *je_key_jwk(const je_key *k);
/* Reads a public JWK (OKP/Ed25519) into k (priv zeroed). Returns 0 or -1. */
int je_key_from_jwk(const json_t *jwk, je_key *k, je_err *err);

/* Detached Ed25519 signature of msg with k->priv (64 bytes into sig). */
int je_ed25519_sign(const je_key *k, const void *msg, size_t len, unsigned char sig[64],
                    je_err *err);
/* 1 when sig is a valid signature of msg by k->pub, else 0. */
int je_ed25519_verify(const je_key *k, const void *msg, size_t len, const unsigned char *sig,
                      size_t sig_len);

#endif
