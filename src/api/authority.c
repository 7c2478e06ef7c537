/* api/authority.c: client authentication, introspection (RFC 7662), revocation (RFC 7009),
 * discovery and the JWKS. The token grant itself is in token.c. */
#include "api/authority.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <string.h>
#include <strings.h>

#include "api/routes.h"
#include "auth/jwt.h"
#include "core/ids.h"
#include "core/text.h"
#include "core/scope.h"

int je_client_has_tenant(const je_client *c, const char *tenant) {
    for (size_t i = 0; i < c->n_tenants; i++)
        if (strcmp(c->tenants[i], tenant) == 0) return 1;
    return 0;
}

void je_authority_reply_error(je_req *r, int status, const char *error, const char *desc) {
    je_authority_reply_error_with(r, status, error, desc, NULL);
}

void je_authority_reply_error_with(je_req *r, int status, const char *error, const char *desc,
                                   json_t *extra) {
    if (status == 401) je_reply_header(r, "WWW-Authenticate", "Basic realm=\"jobengine\"");
    if (status == 503) je_reply_header(r, "Retry-After", "1");
    je_reply_oauth_error_with(r, status, error, desc, extra);
}

int je_authority_read_form(je_req *r, je_form *f, int *status, const char **desc) {
    memset(f, 0, sizeof *f);
    *status = 400;
    if (r->body_too_large) {
        *status = 413;
        *desc = je_arena_printf(r->arena,
                                "the request body is larger than this server's limit "
                                "of %zu bytes (max-body-bytes)",
                                r->max_body);
        return -1;
    }
    const char *ct = je_req_header(r, "Content-Type");
    size_t n = ct ? strcspn(ct, "; ") : 0;
    if (!ct || n != 33 || strncasecmp(ct, "application/x-www-form-urlencoded", n) != 0) {
        *desc = "Content-Type must be application/x-www-form-urlencoded";
        return -1;
    }
    if (je_form_parse(r->body ? r->body : "", r->body_len, r->arena, f) != 0) {
        *desc = "the form body is malformed";
        return -1;
    }
    if (f->dup[0]) {
        *desc = je_arena_printf(r->arena, "parameter %s is given more than once", f->dup);
        return -1;
    }
    return 0;
}

static const char *printable_id(je_req *r, const char *s, size_t n) {
    if (!s || n == 0 || n > JE_ID_MAX || !je_utf8_valid(s, n)) return NULL;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) return NULL;
    return je_arena_strndup(r->arena, s, n);
}

static int secret_matches(const je_client *c, const char *secret, size_t n) {
    unsigned char d[32];
    unsigned int dl = 0;
    EVP_Digest(secret, n, d, &dl, EVP_sha256(), NULL);
    return CRYPTO_memcmp(d, c->secret_sha256, 32) == 0;
}

int je_authority_client_auth(je_req *r, je_app *app, const je_form *f, je_client_auth *ca,
                             int *status, const char **error, const char **desc) {
    memset(ca, 0, sizeof *ca);
    const char *hdr = je_req_header(r, "Authorization");
    char *id = NULL, *secret = NULL;
    size_t idl = 0, sl = 0;
    int basic = hdr ? je_basic_parse(hdr, r->arena, &id, &idl, &secret, &sl) : 0;
    const je_form_param *fid = je_form_get(f, "client_id"), *fs = je_form_get(f, "client_secret");
    *status = 401;
    *error = "invalid_client";
    if (basic == 1 && (fid || fs)) {
        ca->id_sent = printable_id(r, id, idl);
        *status = 400;
        *error = "invalid_request";
        *desc = "use one client authentication method, not HTTP Basic and form fields at once";
        return -1;
    }
    if (basic != 1 && fid) id = fid->value, idl = fid->value_len;
    if (basic != 1 && fs) secret = fs->value, sl = fs->value_len;
    ca->id_sent = printable_id(r, id, idl);
    if (basic == -1) return *desc = "the Basic credentials are malformed", -1;
    if (!id || !secret) return *desc = "client authentication is required", -1;
    je_err err;
    int found = ca->id_sent && je_id_client_valid(id, idl)
                    ? app->store->ops->client_get(app->store, ca->id_sent, &ca->client, &err)
                    : JE_STORE_NOT_FOUND;
    if (found < 0) {
        *status = 503, *error = "temporarily_unavailable", *desc = "the store is unavailable";
        return -1;
    }
    /* The secret is hashed and compared whether or not the client exists (against a digest no
     * secret has when it does not), so the answer's time does not tell which ids exist. */
    static const je_client nobody = {.secret_sha256 = {0}};
    int matches = secret_matches(found == JE_STORE_OK ? &ca->client : &nobody, secret, sl);
    if (found != JE_STORE_OK || !matches) return *desc = "client authentication failed", -1;
    ca->authenticated = 1;
    return 0;
}

static int form_token(je_req *r, const je_form *f, const char **tok, size_t *len) {
    const je_form_param *t = je_form_get(f, "token");
    if (!t || t->value_len == 0) {
        je_authority_reply_error(r, 400, "invalid_request", "the token parameter is required");
        return -1;
    }
    *tok = t->value;
    *len = t->value_len;
    return 0;
}

/* Common start of /introspect and /revoke: form, client, token parameter. */
static int authority_begin(je_req *r, je_app *app, je_client_auth *ca, const char **tok,
                           size_t *len) {
    je_form f;
    int status;
    const char *error = "invalid_request", *desc;
    if (je_authority_read_form(r, &f, &status, &desc) != 0 ||
        je_authority_client_auth(r, app, &f, ca, &status, &error, &desc) != 0) {
        je_authority_reply_error(r, status, error, desc);
        return -1;
    }
    return form_token(r, &f, tok, len);
}

void je_api_introspect(je_req *r, je_app *app) {
    je_client_auth ca;
    const char *tok;
    size_t len;
    if (authority_begin(r, app, &ca, &tok, &len) != 0) return;
    int64_t now = je_now_ms();
    je_err err;
    je_err_clear(&err);
    json_t *claims = je_keyring_decode(&app->keyring, tok, len, now, &err);
    const char *tenant =
        claims ? json_string_value(json_object_get(claims, "stellaops:tenant")) : NULL;
    const char *jti = claims ? json_string_value(json_object_get(claims, "jti")) : NULL;
    int active =
        claims &&
        je_jwt_check_claims(claims, now / 1000, app->cfg.issuer, app->cfg.audience, &err) == 0 &&
        tenant && je_client_has_tenant(&ca.client, tenant) && jti &&
        !je_verifier_is_revoked(&app->verifier, jti, now);
    if (!active) {
        json_decref(claims);
        return je_reply_json(r, 200, json_pack("{s:b}", "active", 0));
    }
    json_t *out = json_pack("{s:b, s:s}", "active", 1, "token_type", "Bearer");
    json_object_update(out, claims);
    json_decref(claims);
    je_reply_json(r, 200, out);
}

void je_api_revoke(je_req *r, je_app *app) {
    je_client_auth ca;
    const char *tok;
    size_t len;
    if (authority_begin(r, app, &ca, &tok, &len) != 0) return;
    int64_t now = je_now_ms();
    je_err err;
    json_t *claims = je_keyring_decode(&app->keyring, tok, len, now, &err);
    if (!claims) return je_reply_empty(r, 200); /* RFC 7009 §2.2: unknown tokens are fine */
    const char *owner = json_string_value(json_object_get(claims, "client_id"));
    const char *jti = json_string_value(json_object_get(claims, "jti"));
    json_int_t exp = json_integer_value(json_object_get(claims, "exp"));
    if (!owner || strcmp(owner, ca.client.id) != 0) {
        json_decref(claims);
        return je_authority_reply_error(r, 400, "unauthorized_client",
                                        "a client may revoke only the tokens issued to it");
    }
    int rc = 0;
    if (jti && exp * 1000 > now) {
        rc = app->store->ops->revoke_add(app->store, jti, (int64_t)exp * 1000, &err);
        if (rc == 0) je_verifier_note_revoked(&app->verifier, jti);
    }
    json_decref(claims);
    if (rc != 0)
        return je_authority_reply_error(r, 503, "temporarily_unavailable", "the store failed");
    je_reply_header(r, "Cache-Control", "no-store");
    je_reply_empty(r, 200);
}

void je_api_discovery(je_req *r, je_app *app) {
    const char *iss = app->cfg.issuer;
    json_t *scopes = json_array();
    for (unsigned b = 1; b < (1u << JE_SCOPE_COUNT); b <<= 1)
        json_array_append_new(scopes, json_string(je_scope_name(b)));
    json_t *doc = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:[s], s:o, s:[s,s], s:[s], s:[s]}", "issuer", iss,
        "token_endpoint", je_arena_printf(r->arena, "%s/token", iss), "jwks_uri",
        je_arena_printf(r->arena, "%s/jwks", iss), "introspection_endpoint",
        je_arena_printf(r->arena, "%s/introspect", iss), "revocation_endpoint",
        je_arena_printf(r->arena, "%s/revoke", iss), "grant_types_supported", "client_credentials",
        "scopes_supported", scopes, "token_endpoint_auth_methods_supported", "client_secret_basic",
        "client_secret_post", "response_types_supported", "token",
        "id_token_signing_alg_values_supported", "EdDSA");
    je_reply_json(r, 200, doc);
}

void je_api_jwks(je_req *r, je_app *app) {
    je_err err;
    je_keyring_refresh(&app->keyring, je_now_ms(), 1, &err); /* a key rotated a moment ago */
    je_reply_header(r, "Cache-Control", "max-age=60");
    je_reply_json(r, 200, je_keyring_jwks(&app->keyring));
}
