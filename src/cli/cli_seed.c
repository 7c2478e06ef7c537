/* cli/cli_seed.c: client construction, bootstrap files, the demo tenant. */
#include "cli/seed.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/b64url.h"
#include "base/random.h"
#include "core/ids.h"
#include "core/scope.h"
#include "http/http.h"

static int secret_ok(const char *s) {
    size_t n = strlen(s);
    if (n < 32 || n > JE_SECRET_MAX) return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] < 0x21 || s[i] > 0x7e) return 0;
    return 1;
}

int je_client_set_secret(je_client *c, const char *secret, char *secret_out, je_err *err) {
    if (secret && !secret_ok(secret))
        return je_err_field(err, "VALIDATION_FAILED", "secret",
                            "a secret must be 32 to 256 printable ASCII characters");
    if (!secret) {
        unsigned char raw[32];
        if (je_random_bytes(raw, sizeof raw) != 0)
            return je_err_set(err, "CRYPTO", "no secure random bytes");
        je_b64url_encode(raw, sizeof raw, secret_out);
        secret = secret_out;
    } else if (secret_out) {
        snprintf(secret_out, JE_SECRET_MAX + 1, "%s", secret);
    }
    unsigned int dl = 0;
    EVP_Digest(secret, strlen(secret), c->secret_sha256, &dl, EVP_sha256(), NULL);
    return 0;
}

/* Appends v to a list of fixed-size strings (row size stride) unless already there. */
static int add_unique(char *base, size_t stride, size_t *n, size_t max, const char *v) {
    for (size_t i = 0; i < *n; i++)
        if (strcmp(base + i * stride, v) == 0) return 0;
    if (*n >= max || strlen(v) >= stride) return -1;
    snprintf(base + (*n)++ * stride, stride, "%s", v);
    return 0;
}

int je_client_make(je_client *c, const char *id, const char *const *tenants, size_t n_tenants,
                   const char *const *roles, size_t n_roles, const char *secret, char *secret_out,
                   je_err *err) {
    memset(c, 0, sizeof *c);
    if (!id || !je_id_client_valid(id, strlen(id)))
        return je_err_field(err, "VALIDATION_FAILED", "clientId",
                            "a client id is 1-128 of [A-Za-z0-9._:@-], starting alphanumeric");
    snprintf(c->id, sizeof c->id, "%s", id);
    if (n_tenants == 0) return je_err_field(err, "VALIDATION_FAILED", "tenant", "give a tenant");
    for (size_t i = 0; i < n_tenants; i++) {
        /* "_system" is no tenant id, but the platform administrator's tenant (je_platform_rule,
         * checked below once the roles are known). */
        int system = strcmp(tenants[i], JE_TENANT_SYSTEM) == 0;
        if (!system && !je_id_tenant_valid(tenants[i], strlen(tenants[i])))
            return je_err_field(err, "VALIDATION_FAILED", "tenant",
                                "tenant '%.64s' is not 1-64 of [A-Za-z0-9._-], starting "
                                "alphanumeric",
                                tenants[i]);
        if (add_unique(&c->tenants[0][0], sizeof c->tenants[0], &c->n_tenants, JE_MAX_TENANTS,
                       tenants[i]) != 0)
            return je_err_field(err, "VALIDATION_FAILED", "tenant", "at most 16 tenants");
    }
    if (n_roles == 0) return je_err_field(err, "VALIDATION_FAILED", "role", "give a role");
    for (size_t i = 0; i < n_roles; i++) {
        if (!je_role_scopes(roles[i]))
            return je_err_field(err, "VALIDATION_FAILED", "role",
                                "unknown role '%.32s' (Orch.Viewer, Orch.Worker, Orch.Operator, "
                                "Orch.Admin, Orch.PlatformAdmin)",
                                roles[i]);
        if (add_unique(&c->roles[0][0], sizeof c->roles[0], &c->n_roles, JE_MAX_ROLES, roles[i]) !=
            0)
            return je_err_field(err, "VALIDATION_FAILED", "role", "too many roles");
    }
    const char *field = NULL;
    const char *why = je_platform_rule(tenants, n_tenants, roles, n_roles, &field);
    if (why) return je_err_field(err, "VALIDATION_FAILED", field, "%s", why);
    int64_t now = je_now_ms();
    c->created_ms = c->updated_ms = now;
    return je_client_set_secret(c, secret, secret_out, err);
}

static size_t json_strings(json_t *arr, const char **out, size_t cap) {
    size_t n = 0;
    for (size_t i = 0; i < json_array_size(arr) && n < cap; i++) {
        const char *s = json_string_value(json_array_get(arr, i));
        out[n++] = s ? s : "";
    }
    return n;
}

static int hex32(const char *hex, unsigned char out[32]) {
    if (!hex || strlen(hex) != 64) return -1;
    for (int i = 0; i < 32; i++) {
        unsigned v;
        if (sscanf(hex + 2 * i, "%2x", &v) != 1) return -1;
        out[i] = (unsigned char)v;
    }
    return 0;
}

static int bootstrap_client(json_t *j, je_client *c, je_err *err) {
    const char *t[JE_MAX_TENANTS + 1], *r[JE_MAX_ROLES + 1];
    json_t *tj = json_object_get(j, "tenants"), *rj = json_object_get(j, "roles");
    if (!json_is_object(j) || !json_is_array(tj) || !json_is_array(rj))
        return je_err_set(err, "VALIDATION_FAILED", "each client needs clientId, tenants, roles");
    size_t nt = json_strings(tj, t, JE_MAX_TENANTS + 1), nr = json_strings(rj, r, JE_MAX_ROLES + 1);
    const char *secret = json_string_value(json_object_get(j, "secret"));
    const char *digest = json_string_value(json_object_get(j, "secretSha256"));
    if (!secret == !digest)
        return je_err_set(err, "VALIDATION_FAILED", "each client needs secret or secretSha256");
    char dummy[JE_SECRET_MAX + 1];
    const char *id = json_string_value(json_object_get(j, "clientId"));
    if (je_client_make(c, id, t, nt, r, nr, secret, dummy, err) != 0) return -1;
    if (digest && hex32(digest, c->secret_sha256) != 0)
        return je_err_set(err, "VALIDATION_FAILED", "secretSha256 must be 64 hex digits");
    return 0;
}

int je_seed_bootstrap(je_store *s, const char *path, je_err *err) {
    json_error_t jerr;
    json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!doc) return je_err_set(err, "VALIDATION_FAILED", "%s (line %d)", jerr.text, jerr.line);
    json_t *list = json_object_get(doc, "clients");
    size_t n = json_array_size(list);
    je_client *cs = calloc(n ? n : 1, sizeof *cs);
    int rc = json_is_array(list) ? 0 : je_err_set(err, "VALIDATION_FAILED", "no clients array");
    for (size_t i = 0; rc == 0 && i < n; i++) {
        rc = bootstrap_client(json_array_get(list, i), &cs[i], err);
        if (rc != 0) snprintf(err->field, sizeof err->field, "clients[%zu]", i);
    }
    for (size_t i = 0; rc == 0 && i < n; i++) rc = s->ops->client_put(s, &cs[i], 0, err);
    free(cs);
    json_decref(doc);
    return rc;
}

int je_seed_demo(je_store *s, const char *listen, FILE *out, je_err *err) {
    int64_t count = s->ops->client_count(s, err);
    if (count < 0) return -1;
    if (count > 0) return 0;
    /* the tenant's four clients, and the platform administrator (tenant _system: capacity
     * pools and circuit breakers, issue 15) */
    static const char *const ids[] = {"demo-admin", "demo-operator", "demo-worker", "demo-viewer",
                                      "demo-platform"};
    static const char *const roles[] = {"Orch.Admin", "Orch.Operator", "Orch.Worker", "Orch.Viewer",
                                        "Orch.PlatformAdmin"};
    static const char *const tenants[] = {"demo", "demo", "demo", "demo", JE_TENANT_SYSTEM};
    fprintf(out, "Seeded tenant 'demo' with four clients, and the platform administrator. Their "
                 "secrets are shown only now:\n\n");
    for (int i = 0; i < 5; i++) {
        je_client c;
        char secret[JE_SECRET_MAX + 1];
        if (je_client_make(&c, ids[i], &tenants[i], 1, &roles[i], 1, NULL, secret, err) != 0 ||
            s->ops->client_put(s, &c, 1, err) != 0)
            return -1;
        fprintf(out, "  %-14s %-18s %s\n", ids[i], roles[i], secret);
    }
    fprintf(out,
            "\nTry: curl -s -u demo-viewer:SECRET -d grant_type=client_credentials "
            "-d scope=orch:read http://%s/token\n\n",
            listen);
    fflush(out);
    return 0;
}
