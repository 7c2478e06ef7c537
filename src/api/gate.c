/* api/gate.c: the one place that decides who calls, for which tenant, with which scope
 * (api.md §1 order: authentication 401 → tenant 403/400 → scope 403). */
#include <string.h>
#include <strings.h>

#include "api/routes.h"
#include "auth/jwt.h"
#include "core/scope.h"

static void reply_unauthorized(je_req *r, const char *why, int token_sent) {
    je_reply_header(r, "WWW-Authenticate",
                    token_sent ? "Bearer realm=\"jobengine\", error=\"invalid_token\""
                               : "Bearer realm=\"jobengine\"");
    je_reply_error(r, 401, "UNAUTHORIZED", why, NULL);
}

/* The token of "Authorization: Bearer <token>", or NULL. */
static const char *bearer_token(je_req *r, size_t *len) {
    const char *h = je_req_header(r, "Authorization");
    if (!h || strncasecmp(h, "Bearer ", 7) != 0) return NULL;
    h += 7;
    while (*h == ' ') h++;
    size_t n = strlen(h);
    while (n && h[n - 1] == ' ') n--;
    if (n == 0) return NULL;
    *len = n;
    return h;
}

static int gate_authenticate(je_req *r, je_app *app, je_principal *p) {
    size_t len = 0;
    const char *tok = bearer_token(r, &len);
    if (!tok) {
        int sent = je_req_header(r, "Authorization") != NULL;
        reply_unauthorized(r, "a bearer token is required (Authorization: Bearer <token>)", sent);
        return -1;
    }
    je_err err;
    je_err_clear(&err);
    if (je_verifier_check(&app->verifier, tok, len, je_now_ms(), p, r->arena, &err) != 0) {
        reply_unauthorized(r, je_arena_printf(r->arena, "invalid token: %s", err.message), 1);
        return -1;
    }
    return 0;
}

static int gate_tenant(je_req *r, const je_principal *p) {
    if (!p->tenant[0]) {
        je_reply_error(r, 403, "TENANT_REQUIRED", "the token names no tenant", NULL);
        return -1;
    }
    static const char *const headers[] = {"X-StellaOps-Tenant", "X-Stella-Tenant"};
    for (size_t i = 0; i < 2; i++) {
        const char *h = je_req_header(r, headers[i]);
        if (h && strcmp(h, p->tenant) != 0) {
            je_reply_error(
                r, 400, "ERR_TENANT_MISMATCH",
                je_arena_printf(r->arena, "%s differs from the token's tenant", headers[i]),
                json_pack("{s:s}", "header", headers[i]));
            return -1;
        }
    }
    return 0;
}

static int gate_scope(je_req *r, const je_principal *p, unsigned needed) {
    if (p->scopes & needed) return 0;
    char names[128];
    je_scope_mask_format(needed, names, sizeof names);
    je_reply_error(r, 403, "SCOPE_REQUIRED",
                   je_arena_printf(r->arena, "this route needs one of the scopes: %s", names),
                   json_pack("{s:s}", "requiredScopes", names));
    return -1;
}

int je_gate_admit(je_req *r, je_app *app, const je_route *route) {
    je_principal *p = je_arena_alloc(r->arena, sizeof *p);
    if (gate_authenticate(r, app, p) != 0) return -1;
    if (gate_tenant(r, p) != 0) return -1;
    if (gate_scope(r, p, route->scopes) != 0) return -1;
    r->principal = p;
    return 0;
}
