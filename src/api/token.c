/* api/token.c: POST /token, the client-credentials grant of api.md §2.2, in the order of
 * docs/api.md. Every request, granted or refused, is audited as
 * authority.client_credentials.grant before the reply; no token is issued on any refusal. */
#include <stdlib.h>
#include <string.h>

#include "api/authority.h"
#include "api/metrics.h"
#include "api/routes.h"
#include "auth/jwt.h"
#include "core/audit.h"
#include "core/ids.h"
#include "core/scope.h"
#include "base/random.h"
#include "core/text.h"

#define MAX_SCOPE_NAMES 16

/* The justification parameters, in the order they are checked: quota, backfill, operate,
 * governance (the order of the first elevated scope's reason in the audit entry too). */
static const struct {
    unsigned scope;
    const char *reason_param, *ticket_param;
    int reason_claim, ticket_claim;
    int ticket_required;
} justifications[] = {
    {JE_SCOPE_QUOTA, "quota_reason", "quota_ticket", JE_CLAIM_QUOTA_REASON, JE_CLAIM_QUOTA_TICKET,
     0},
    {JE_SCOPE_BACKFILL, "backfill_reason", "backfill_ticket", JE_CLAIM_BACKFILL_REASON,
     JE_CLAIM_BACKFILL_TICKET, 0},
    {JE_SCOPE_OPERATE, "operator_reason", "operator_ticket", JE_CLAIM_OPERATOR_REASON,
     JE_CLAIM_OPERATOR_TICKET, 1},
    {JE_SCOPE_GOVERNANCE, "governance_reason", "governance_ticket", JE_CLAIM_GOVERNANCE_REASON,
     JE_CLAIM_GOVERNANCE_TICKET, 0},
};
#define N_JUSTIFICATIONS (sizeof justifications / sizeof justifications[0])

/* What the audit names for the requested scopes' reasons (request.* for operate). */
static const char *const audit_keys[JE_CLAIM_COUNT] = {
    "quota.reason",   "quota.ticket",   "backfill.reason",   "backfill.ticket",
    "request.reason", "request.ticket", "governance.reason", "governance.ticket",
};

typedef struct grant {
    je_req *r;
    je_app *app;
    je_form form;
    je_client_auth ca;
    const char *tenant_named; /* the tenant parameter when valid UTF-8 */
    const char *tenant;       /* effective: named, else implied by a one-tenant client */
    json_t *scope_sent;       /* names as requested */
    unsigned requested;       /* known scopes requested */
    int unknown_scope;
    const char *vals[JE_CLAIM_COUNT]; /* trimmed valid values; NULL when absent or invalid */
    const char *bad_desc;             /* first justification problem, for the refusal */
    int tenant_missing;               /* refused: no tenant from a client of several */
    char jti[37];
} grant;

static const char *text_param(grant *g, const char *name, size_t max, je_text_status *st) {
    const je_form_param *p = je_form_get(&g->form, name);
    size_t off = 0, len = 0;
    *st = p ? je_text_check(p->value, p->value_len, max, &off, &len) : JE_TEXT_MISSING;
    return *st == JE_TEXT_OK ? je_arena_strndup(g->r->arena, p->value + off, len) : NULL;
}

static void justify_one(grant *g, int i) {
    je_text_status st;
    char phrase[96];
    int rc = justifications[i].reason_claim, tc = justifications[i].ticket_claim;
    g->vals[rc] = text_param(g, justifications[i].reason_param, 256, &st);
    if (st != JE_TEXT_OK && !g->bad_desc)
        g->bad_desc = je_arena_printf(g->r->arena, "%s %s when scope includes %s",
                                      justifications[i].reason_param,
                                      je_text_status_phrase(st, 256, phrase, sizeof phrase),
                                      je_scope_name(justifications[i].scope));
    g->vals[tc] = text_param(g, justifications[i].ticket_param, 128, &st);
    int bad = st != JE_TEXT_OK && (st != JE_TEXT_MISSING || justifications[i].ticket_required);
    if (bad && !g->bad_desc)
        g->bad_desc = je_arena_printf(g->r->arena, "%s %s", justifications[i].ticket_param,
                                      je_text_status_phrase(st, 128, phrase, sizeof phrase));
}

/* Reads scope, tenant and justification parameters: what the audit records either way. */
static void grant_describe(grant *g) {
    g->scope_sent = json_array();
    const je_form_param *s = je_form_get(&g->form, "scope");
    if (s && je_utf8_valid(s->value, s->value_len) && !memchr(s->value, 0, s->value_len)) {
        const char *p = s->value, *end = s->value + s->value_len;
        while (p < end) {
            size_t n = strcspn(p, " ");
            if (n > 0 && json_array_size(g->scope_sent) < MAX_SCOPE_NAMES) {
                json_array_append_new(g->scope_sent, json_stringn(p, n));
                unsigned bit = je_scope_from_name(p, n);
                g->requested |= bit;
                g->unknown_scope |= bit == 0;
            } else if (n > 0) {
                g->unknown_scope = 1;
            }
            p += n + 1;
        }
    } else if (s) {
        g->unknown_scope = 1;
    }
    const je_form_param *t = je_form_get(&g->form, "tenant");
    if (t && t->value_len && je_utf8_valid(t->value, t->value_len) &&
        !memchr(t->value, 0, t->value_len))
        g->tenant_named = t->value;
    for (size_t i = 0; i < N_JUSTIFICATIONS; i++)
        if (g->requested & justifications[i].scope) justify_one(g, (int)i);
}

static const char *audit_chain(const grant *g) {
    if (!g->ca.authenticated || !g->tenant) return JE_TENANT_SYSTEM;
    return je_client_has_tenant(&g->ca.client, g->tenant) ? g->tenant : JE_TENANT_SYSTEM;
}

static json_t *grant_details(const grant *g, const char *outcome, const char *desc) {
    json_t *d = json_pack("{s:o?, s:o?, s:O, s:s}", "client_id",
                          g->ca.id_sent ? json_string(g->ca.id_sent) : NULL, "tenant",
                          g->tenant ? json_string(g->tenant) : NULL, "scope", g->scope_sent,
                          "outcome", outcome);
    if (g->jti[0]) json_object_set_new(d, "jti", json_string(g->jti));
    for (size_t i = 0; i < N_JUSTIFICATIONS; i++) {
        if (!(g->requested & justifications[i].scope)) continue;
        for (int k = 0; k < 2; k++) {
            int c = k ? justifications[i].ticket_claim : justifications[i].reason_claim;
            json_object_set_new(d, audit_keys[c],
                                g->vals[c] ? json_string(g->vals[c]) : json_null());
        }
    }
    if (desc) json_object_set_new(d, "error_description", json_string(desc));
    return d;
}

static int grant_audit(grant *g, const char *outcome, const char *desc, je_err *err) {
    const char *reason = NULL, *ticket = NULL;
    for (size_t i = 0; i < N_JUSTIFICATIONS; i++) {
        if (!(g->requested & justifications[i].scope)) continue;
        reason = g->vals[justifications[i].reason_claim];
        ticket = g->vals[justifications[i].ticket_claim];
        break;
    }
    char entry_id[37];
    int64_t now = je_now_ms();
    je_uuid7(now, entry_id);
    je_audit_fields f = {.entry_id = entry_id,
                         .tenant_id = audit_chain(g),
                         .event_type = "authority.client_credentials.grant",
                         .resource_type = "client",
                         .resource_id = g->ca.id_sent,
                         .actor_id = g->ca.id_sent,
                         .actor_type = "client",
                         .reason = reason,
                         .ticket = ticket,
                         .occurred_ms = now,
                         .details = grant_details(g, outcome, desc)};
    json_t *entry = je_audit_entry_new(&f);
    int rc = entry ? g->app->store->ops->audit_append(g->app->store, entry, err) : -1;
    json_decref(entry);
    return rc;
}

/* Audits the refusal and answers it; extra (stolen, may be NULL) are members of the answer
 * only, never of the audit entry. */
static void grant_refuse(grant *g, int status, const char *error, const char *desc, json_t *extra) {
    je_metric_token(error);
    je_err err;
    je_err_clear(&err);
    if (grant_audit(g, error, desc, &err) != 0) {
        json_decref(extra);
        return je_authority_reply_error(g->r, 503, "temporarily_unavailable",
                                        "the audit could not be stored");
    }
    je_authority_reply_error_with(g->r, status, error, desc, extra);
}

static int name_cmp(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* {"tenants": [...]}: the tenants an authenticated client may act for, sorted, so that a client
 * refused for naming none (a console, say) can offer the choice. */
static json_t *tenant_choice(const je_client *c) {
    const char *names[JE_MAX_TENANTS];
    size_t n = c->n_tenants < JE_MAX_TENANTS ? c->n_tenants : JE_MAX_TENANTS;
    for (size_t i = 0; i < n; i++) names[i] = c->tenants[i];
    qsort(names, n, sizeof names[0], name_cmp);
    json_t *list = json_array();
    for (size_t i = 0; i < n; i++) json_array_append_new(list, json_string(names[i]));
    return json_pack("{s:o}", "tenants", list);
}

/* Checks 4-7 of docs/api.md: grant type, tenant, scope, justification. 0 when all pass. */
static int grant_check(grant *g, const char **error, const char **desc) {
    *error = "invalid_request";
    const je_form_param *gt = je_form_get(&g->form, "grant_type");
    if (!gt) return *desc = "grant_type is required", -1;
    if (strcmp(gt->value, "client_credentials") != 0 || gt->value_len != 18) {
        *error = "unsupported_grant_type";
        return *desc = "only the client_credentials grant is supported", -1;
    }
    const je_client *c = &g->ca.client;
    if (!je_form_get(&g->form, "tenant") && c->n_tenants > 1) {
        g->tenant_missing = 1;
        return *desc = "tenant is required: this client may act for several tenants", -1;
    }
    if (!g->tenant || !je_client_has_tenant(c, g->tenant))
        return *desc = "tenant is not one this client may act for", -1;
    *error = "invalid_scope";
    if (json_array_size(g->scope_sent) == 0) return *desc = "scope is required", -1;
    if (g->unknown_scope) return *desc = "scope holds an unknown scope name", -1;
    unsigned allowed = 0;
    for (size_t i = 0; i < c->n_roles; i++) allowed |= je_role_scopes(c->roles[i]);
    if (g->requested & ~allowed)
        return *desc = "scope asks for a scope this client's roles do not grant", -1;
    *error = "invalid_request";
    if (g->bad_desc) return *desc = g->bad_desc, -1;
    return 0;
}

static json_t *grant_claims(grant *g, int64_t now_s, int64_t ttl, const char *scope) {
    json_t *cl =
        json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:s, s:s, s:s, s:s}", "iss", g->app->cfg.issuer,
                  "sub", g->ca.client.id, "aud", g->app->cfg.audience, "iat", (json_int_t)now_s,
                  "nbf", (json_int_t)now_s, "exp", (json_int_t)(now_s + ttl), "jti", g->jti,
                  "client_id", g->ca.client.id, "scope", scope, "stellaops:tenant", g->tenant);
    for (size_t i = 0; i < N_JUSTIFICATIONS; i++) {
        if (!(g->requested & justifications[i].scope)) continue;
        int rc = justifications[i].reason_claim, tc = justifications[i].ticket_claim;
        json_object_set_new(cl, je_claim_names[rc], json_string(g->vals[rc]));
        if (g->vals[tc]) json_object_set_new(cl, je_claim_names[tc], json_string(g->vals[tc]));
    }
    return cl;
}

static void grant_issue(grant *g) {
    je_err err;
    je_err_clear(&err);
    je_key key;
    int64_t now_ms = je_now_ms();
    /* the keys could not be read (the store is down): a retry will do, as for the audit below */
    if (je_keyring_refresh(&g->app->keyring, now_ms, 0, &err) != 0)
        return je_authority_reply_error(g->r, 503, "temporarily_unavailable",
                                        "the signing keys could not be read");
    if (je_keyring_current(&g->app->keyring, &key, &err) != 0)
        return je_authority_reply_error(g->r, 500, "server_error", "no signing key is available");
    je_uuid7(now_ms, g->jti);
    int elevated = (g->requested & JE_SCOPE_ELEVATED) != 0;
    int64_t ttl = elevated ? g->app->cfg.elevated_token_ttl_s : g->app->cfg.token_ttl_s;
    char scope[128];
    je_scope_mask_format(g->requested, scope, sizeof scope);
    json_t *claims = grant_claims(g, now_ms / 1000, ttl, scope);
    char *token = je_jwt_sign(&key, claims, &err);
    json_decref(claims);
    if (!token) return je_authority_reply_error(g->r, 500, "server_error", "signing failed");
    if (grant_audit(g, "granted", NULL, &err) != 0) {
        free(token);
        return je_authority_reply_error(g->r, 503, "temporarily_unavailable",
                                        "the audit could not be stored");
    }
    json_t *body = json_pack("{s:s, s:s, s:I, s:s}", "access_token", token, "token_type", "Bearer",
                             "expires_in", (json_int_t)ttl, "scope", scope);
    free(token);
    je_reply_header(g->r, "Cache-Control", "no-store");
    je_reply_header(g->r, "Pragma", "no-cache");
    je_reply_json(g->r, 200, body);
    je_metric_token("granted");
}

void je_api_token(je_req *r, je_app *app) {
    grant *g = je_arena_alloc(r->arena, sizeof *g);
    g->r = r;
    g->app = app;
    int status;
    const char *error = "invalid_request", *desc;
    if (je_authority_read_form(r, &g->form, &status, &desc) != 0) {
        g->scope_sent = json_array();
        grant_refuse(g, status, error, desc, NULL);
        return json_decref(g->scope_sent);
    }
    grant_describe(g);
    if (je_authority_client_auth(r, app, &g->form, &g->ca, &status, &error, &desc) != 0) {
        g->tenant = g->tenant_named;
        grant_refuse(g, status, error, desc, NULL);
        return json_decref(g->scope_sent);
    }
    g->tenant = g->tenant_named;
    if (!je_form_get(&g->form, "tenant") && g->ca.client.n_tenants == 1)
        g->tenant = g->ca.client.tenants[0];
    if (grant_check(g, &error, &desc) != 0)
        grant_refuse(g, 400, error, desc, g->tenant_missing ? tenant_choice(&g->ca.client) : NULL);
    else
        grant_issue(g);
    json_decref(g->scope_sent);
}
