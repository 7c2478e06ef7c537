/* tests/fuzz/fuzz_kit.c: the fake request, the app over the stub store, and the reply checks of
 * the handler targets (fuzz_kit.h). */
#include "fuzz_kit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/jwt.h"
#include "base/random.h"
#include "core/jcs.h"
#include "core/scope.h"
#include "core/text.h"
#include "http/form.h"

void fz_check(int cond, const char *what, const char *file, int line) {
    if (cond) return;
    fprintf(stderr, "fuzz check failed at %s:%d: %s\n", file, line, what);
    abort();
}

/* The server's defaults (cli/cmd_serve.c's settings table), and two ceiling overrides so that
 * je_config_ceiling has something to choose from. */
static void default_config(je_config *c) {
    memset(c, 0, sizeof *c);
    snprintf(c->listen, sizeof c->listen, "127.0.0.1:8440");
    snprintf(c->store_url, sizeof c->store_url, "fuzz:");
    snprintf(c->issuer, sizeof c->issuer, "http://127.0.0.1:8440");
    snprintf(c->audience, sizeof c->audience, "jobengine");
    c->http.threads = 1;
    c->token_ttl_s = 3600;
    c->elevated_token_ttl_s = 600;
    c->max_attempts = 3;
    c->backfill_share = 0.5;
    c->unquoted_allowed = 1;
    c->backfill = (je_backfill_limits){31 * 86400000LL, 10000, 24 * 3600000LL};
    c->backfill_in_flight = 4;
    c->ledger_retention_ms = 90 * 86400000LL;
    c->checkpoint_every_n = 1000;
    c->checkpoint_every_ms = 60000;
    c->ceiling = (je_quota_limits){1000, 1000000, 10000, 1000};
    c->n_overrides = 2;
    snprintf(c->overrides[0].tenant, sizeof c->overrides[0].tenant, FZ_TENANT);
    c->overrides[0].has[0] = 1;
    c->overrides[0].limits.max_active = 50;
    snprintf(c->overrides[1].job_type, sizeof c->overrides[1].job_type, "build");
    c->overrides[1].has[3] = 1;
    c->overrides[1].limits.refill_per_second = 2.5;
}

static je_app the_app;
static int app_ready;

je_app *fz_app(void) {
    if (app_ready) return &the_app;
    je_config cfg;
    default_config(&cfg);
    je_err err;
    je_err_clear(&err);
    if (je_app_init(&the_app, fz_store(), &cfg, &err) != 0) {
        fprintf(stderr, "fuzz: app: %s\n", err.message);
        abort();
    }
    app_ready = 1;
    return &the_app;
}

const char *fz_bearer(void) {
    static char *token;
    if (token) return token;
    je_app *app = fz_app();
    je_key key;
    je_err err;
    je_err_clear(&err);
    FZ_CHECK(je_keyring_current(&app->keyring, &key, &err) == 0, "a current key");
    char scope[128], jti[37];
    je_scope_mask_format((1u << JE_SCOPE_COUNT) - 1, scope, sizeof scope);
    int64_t now = je_now_ms() / 1000;
    je_uuid7(now * 1000, jti);
    json_t *claims = json_pack(
        "{s:s, s:s, s:s, s:I, s:I, s:I, s:s, s:s, s:s, s:s, s:s}", "iss", app->cfg.issuer, "sub",
        FZ_CLIENT, "aud", app->cfg.audience, "iat", (json_int_t)now, "nbf", (json_int_t)now, "exp",
        (json_int_t)(now + 7 * 86400), "jti", jti, "client_id", FZ_CLIENT, "scope", scope,
        "stellaops:tenant", FZ_TENANT, "quota.reason", "fuzzing the handlers");
    token = je_jwt_sign(&key, claims, &err);
    json_decref(claims);
    FZ_CHECK(token != NULL, "a signed token");
    return token;
}

/* ---- the fake request ----------------------------------------------------------------------- */

/* s[0..n) and a NUL in a block of its own (freed with the request), not in the arena: reading
 * one byte past it is then an error AddressSanitizer reports, as it would be in the server. */
static char *fz_dup(fz_req *f, const char *s, size_t n) {
    char *p = malloc(n + 1);
    if (!p) abort();
    memcpy(p, s, n);
    p[n] = '\0';
    return je_arena_defer(f->r.arena, free, p);
}

static const char *fz_lookup(je_req *r, int kind, const char *name) {
    fz_req *f = (fz_req *)r;
    if (kind == JE_REQ_HEADER) {
        for (size_t i = 0; i < f->n_hdr; i++)
            if (strcasecmp(f->hdr[i][0], name) == 0) return f->hdr[i][1];
        return NULL;
    }
    for (size_t i = 0; i < f->n_query; i++)
        if (strcmp(f->query[i][0], name) == 0) return f->query[i][1];
    return NULL;
}

static int json_content(const char *ct) {
    return ct && (strncmp(ct, "application/json", 16) == 0 ||
                  strncmp(ct, "application/problem+json", 24) == 0);
}

static void fz_send(je_req *r, int status, const char *content_type, const char *data, size_t len) {
    fz_req *f = (fz_req *)r;
    static int debug = -1;
    if (debug < 0) debug = getenv("FZ_DEBUG") != NULL;
    if (debug) fprintf(stderr, "reply %d %s: %.*s\n", status, content_type, (int)len, data);
    f->sends++;
    FZ_CHECK(f->sends == 1, "one reply per request");
    FZ_CHECK(status >= 200 && status < 500, "no 5xx: the stub store never fails");
    if (json_content(content_type)) {
        json_error_t e;
        json_t *j = je_json_loadb(data, len, JSON_DECODE_ANY, &e); /* as clients read it */
        if (!j) fprintf(stderr, "reply is not JSON (%s): %.*s\n", e.text, (int)len, data);
        FZ_CHECK(j != NULL, "a JSON reply parses");
        json_decref(j);
    }
}

fz_req *fz_req_new(const char *method, const char *path) {
    fz_req *f = calloc(1, sizeof *f);
    if (!f) abort();
    f->r.arena = je_arena_new();
    f->r.lookup = fz_lookup;
    f->r.send = fz_send;
    f->r.method = je_arena_strdup(f->r.arena, method);
    f->r.path = je_arena_strdup(f->r.arena, path);
    f->r.app = fz_app();
    snprintf(f->r.trace_id, sizeof f->r.trace_id, "0af7651916cd43dd8448eb211c80319c");
    return f;
}

void fz_req_admit(fz_req *f) {
    snprintf(f->p.client_id, sizeof f->p.client_id, FZ_CLIENT);
    snprintf(f->p.tenant, sizeof f->p.tenant, FZ_TENANT);
    f->p.scopes = (1u << JE_SCOPE_COUNT) - 1;
    snprintf(f->p.jti, sizeof f->p.jti, "0190a0b0-0000-7000-8000-000000000001");
    f->p.exp_s = je_now_ms() / 1000 + 600;
    f->p.nbf_s = f->p.exp_s - 1200;
    f->r.principal = &f->p;
}

void fz_req_header(fz_req *f, const char *name, const char *value) {
    if (f->n_hdr >= FZ_MAX_FIELDS) return;
    f->hdr[f->n_hdr][0] = fz_dup(f, name, strlen(name));
    f->hdr[f->n_hdr][1] = fz_dup(f, value, strlen(value));
    f->n_hdr++;
}

/* One "name=value" of a query string, decoded; a malformed escape is kept as sent. */
static void query_pair(fz_req *f, const char *s, size_t n) {
    if (f->n_query >= FZ_MAX_FIELDS || n == 0) return;
    const char *eq = memchr(s, '=', n);
    size_t nl = eq ? (size_t)(eq - s) : n;
    char *name, *value;
    size_t len;
    if (je_form_decode(s, nl, f->r.arena, &name, &len) != 0)
        name = je_arena_strndup(f->r.arena, s, nl);
    if (!eq)
        value = je_arena_strdup(f->r.arena, "");
    else if (je_form_decode(eq + 1, n - nl - 1, f->r.arena, &value, &len) != 0)
        value = je_arena_strndup(f->r.arena, eq + 1, n - nl - 1);
    f->query[f->n_query][0] = fz_dup(f, name, strlen(name)); /* C strings, as from the server */
    f->query[f->n_query][1] = fz_dup(f, value, strlen(value));
    f->n_query++;
}

void fz_req_query_string(fz_req *f, const char *qs, size_t n) {
    size_t i = 0;
    while (i < n) {
        const char *amp = memchr(qs + i, '&', n - i);
        size_t end = amp ? (size_t)(amp - qs) : n;
        query_pair(f, qs + i, end - i);
        i = end + 1;
    }
}

/* One "Name: value" line (value without leading spaces); other lines are ignored. */
static void header_line(fz_req *f, const char *s, size_t n, int *has_ct) {
    const char *colon = memchr(s, ':', n);
    if (!colon || colon == s) return;
    size_t nl = (size_t)(colon - s), v = nl + 1;
    while (v < n && s[v] == ' ') v++;
    if (f->n_hdr >= FZ_MAX_FIELDS) return;
    char *name = fz_dup(f, s, nl);
    char *value = fz_dup(f, s + v, n - v);
    if (strcasecmp(name, "Content-Type") == 0) *has_ct = 1;
    f->hdr[f->n_hdr][0] = name;
    f->hdr[f->n_hdr][1] = value;
    f->n_hdr++;
}

/* data with every FZ_BEARER_MARK replaced by fz_bearer(), in the arena (or data itself). */
static const char *with_bearer(fz_req *f, const uint8_t *data, size_t *size) {
    const char *s = (const char *)data, *m = memmem(s, *size, FZ_BEARER_MARK, 8);
    if (!m) return s;
    const char *tok = fz_bearer();
    size_t tl = strlen(tok), n = 0, marks = 0;
    for (const char *p = m; p; p = memmem(p + 8, *size - (size_t)(p + 8 - s), FZ_BEARER_MARK, 8))
        marks++;
    char *out = je_arena_alloc(f->r.arena, *size + marks * tl);
    for (size_t i = 0; i < *size;) {
        if (*size - i >= 8 && memcmp(s + i, FZ_BEARER_MARK, 8) == 0) {
            memcpy(out + n, tok, tl), n += tl, i += 8;
        } else {
            out[n++] = s[i++];
        }
    }
    *size = n;
    return out;
}

void fz_req_read(fz_req *f, const uint8_t *data, size_t size, const char *content_type) {
    const char *s = with_bearer(f, data, &size);
    const char *split = size >= 2 ? memmem(s, size, "\n\n", 2) : NULL;
    size_t body_at = 0;
    int has_ct = 0;
    if (split) {
        size_t i = 0, head = (size_t)(split - s);
        while (i < head) {
            const char *nl = memchr(s + i, '\n', head - i);
            size_t end = nl ? (size_t)(nl - s) : head;
            header_line(f, s + i, end - i, &has_ct);
            i = end + 1;
        }
        body_at = head + 2;
    }
    if (!has_ct && content_type) fz_req_header(f, "Content-Type", content_type);
    f->r.body_len = size - body_at;
    f->r.body = f->r.body_len ? fz_dup(f, s + body_at, f->r.body_len) : NULL; /* NULs too */
}

void fz_req_finish(fz_req *f) {
    FZ_CHECK(f->r.status != 0 && f->sends == 1, "the handler replied");
    je_arena_free(f->r.arena);
    free(f);
}

void fz_path_param(char *id, const char *dflt) {
    id[strcspn(id, "/")] = '\0';
    if (!id[0] || !je_utf8_valid(id, strlen(id))) strcpy(id, dflt);
}

size_t fz_route(const uint8_t **data, size_t *size, const char *const *words, size_t n, char *arg,
                size_t cap) {
    arg[0] = '\0';
    if (*size == 0) return 0;
    const uint8_t *nl = memchr(*data, '\n', *size);
    size_t len = nl ? (size_t)(nl - *data) : *size;
    const uint8_t *sp = memchr(*data, ' ', len);
    size_t wl = sp ? (size_t)(sp - *data) : len;
    size_t pick = (*data)[0] % n;
    for (size_t i = 0; i < n; i++)
        if (strlen(words[i]) == wl && memcmp(words[i], *data, wl) == 0) pick = i;
    if (sp) {
        size_t al = len - wl - 1 < cap - 1 ? len - wl - 1 : cap - 1;
        memcpy(arg, sp + 1, al);
        arg[al] = '\0';
    }
    size_t skip = nl ? len + 1 : len;
    *data += skip;
    *size -= skip;
    return pick;
}
