/* tests/unit/test_gate_change.c: the gate (api/gate.c) and the change logic shared by change
 * routes (api/change.h) through the request seam of http/http.h: a fake je_req whose lookup
 * answers from a table (header names case-insensitive) and whose send captures the one reply.
 * No socket. The gate runs over a real je_app on a SQLite store under $JE_TEST_TMP, with tokens
 * signed by the app's own current key. Rules: docs/api.md "The gate", "Justification of
 * changes", "Quotas" (If-Match, refusals' reason and ticket), Idempotency-Key. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "api/app.h"
#include "api/change.h"
#include "api/routes.h"
#include "auth/jwt.h"
#include "auth/principal.h"
#include "core/scope.h"

#define TRACE "0af7651916cd43dd8448eb211c80319c"

/* ---- the fake request ---- */

typedef struct fake_req {
    je_req r; /* first: lookup and send get &f->r */
    const char *hdr[12][2];
    size_t n_hdr;
    je_principal p; /* r.principal for the change tests */
    int sends, status;
    char content_type[64];
    char *body;
    json_t *json;       /* the reply body parsed, when JSON */
    char www_auth[128]; /* WWW-Authenticate of the reply, "" when none */
} fake_req;

static const char *fake_lookup(je_req *r, int kind, const char *name) {
    fake_req *f = (fake_req *)r;
    if (kind != JE_REQ_HEADER) return NULL;
    for (size_t i = 0; i < f->n_hdr; i++)
        if (strcasecmp(f->hdr[i][0], name) == 0) return f->hdr[i][1];
    return NULL;
}

static void fake_send(je_req *r, int status, const char *content_type, const char *data,
                      size_t len) {
    fake_req *f = (fake_req *)r;
    f->sends++;
    f->status = status;
    snprintf(f->content_type, sizeof f->content_type, "%s", content_type ? content_type : "");
    free(f->body);
    f->body = malloc(len + 1);
    assert_non_null(f->body);
    memcpy(f->body, data, len);
    f->body[len] = '\0';
    json_decref(f->json);
    f->json = json_loadb(data, len, 0, NULL);
    for (size_t i = 0; i < r->n_headers; i++)
        if (strcasecmp(r->headers[i][0], "WWW-Authenticate") == 0)
            snprintf(f->www_auth, sizeof f->www_auth, "%s", r->headers[i][1]);
}

static fake_req *fake_new(const char *method, const char *path) {
    fake_req *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->r.arena = je_arena_new();
    f->r.lookup = fake_lookup;
    f->r.send = fake_send;
    f->r.method = method;
    f->r.path = path;
    snprintf(f->r.trace_id, sizeof f->r.trace_id, "%s", TRACE);
    f->r.principal = &f->p;
    return f;
}

static void fake_header(fake_req *f, const char *name, const char *value) {
    assert_true(f->n_hdr < 12);
    f->hdr[f->n_hdr][0] = name;
    f->hdr[f->n_hdr][1] = value;
    f->n_hdr++;
}

static void fake_free(fake_req *f) {
    je_arena_free(f->r.arena);
    json_decref(f->json);
    free(f->body);
    free(f);
}

/* s repeated n times, in f's arena. */
static char *repeat(fake_req *f, const char *s, size_t n) {
    size_t l = strlen(s);
    char *out = je_arena_alloc(f->r.arena, l * n + 1);
    for (size_t i = 0; i < n; i++) memcpy(out + i * l, s, l);
    return out;
}

static json_t *body_of(const char *text) {
    json_error_t e;
    json_t *b = json_loads(text, 0, &e);
    if (!b) fail_msg("bad JSON in the test: %s", e.text);
    return b;
}

static void assert_err(const je_err *e, const char *code, const char *field) {
    assert_non_null(e->code);
    assert_string_equal(e->code, code);
    assert_string_equal(e->field, field);
    assert_true(e->message[0] != '\0');
}

/* ---- 1. je_change_justify ---- */

static int justify(fake_req *f, const char *body, const je_change_kind *k, je_justification *j,
                   je_err *e) {
    json_t *b = body ? body_of(body) : NULL;
    je_err_clear(e);
    int rc = je_change_justify(&f->r, b, k, j, e);
    json_decref(b);
    return rc;
}

static void justify_body_wins(void **state) {
    fake_req *f = fake_new("PUT", "/jobengine/quotas/q1");
    fake_header(f, "x-stellaops-reason", "header reason");
    fake_header(f, "X-StellaOps-Ticket", "H-1");
    f->p.claims[JE_CLAIM_QUOTA_REASON] = "token reason";
    f->p.claims[JE_CLAIM_QUOTA_TICKET] = "T-1";
    je_justification j;
    je_err e;
    assert_int_equal(
        justify(f, "{\"reason\":\"  body reason \",\"ticket\":\"B-1\"}", &je_change_quota, &j, &e),
        0);
    assert_string_equal(j.reason, "body reason");
    assert_int_equal(j.has_ticket, 1);
    assert_string_equal(j.ticket, "B-1");
    assert_int_equal(j.source, 0);
    /* The body gives no ticket: the headers' ticket is not borrowed. */
    assert_int_equal(justify(f, "{\"reason\":\"body reason\"}", &je_change_quota, &j, &e), 0);
    assert_string_equal(j.reason, "body reason");
    assert_int_equal(j.has_ticket, 0);
    assert_string_equal(j.ticket, "");
    /* "reason": null counts as absent: the headers supply reason and ticket. */
    assert_int_equal(justify(f, "{\"reason\":null,\"ticket\":null}", &je_change_quota, &j, &e), 0);
    assert_string_equal(j.reason, "header reason");
    assert_string_equal(j.ticket, "H-1");
    assert_int_equal(j.source, 1);
    fake_free(f);
}

static void justify_headers_then_token(void **state) {
    fake_req *f = fake_new("POST", "/jobengine/quotas");
    f->p.claims[JE_CLAIM_QUOTA_REASON] = "token reason";
    f->p.claims[JE_CLAIM_QUOTA_TICKET] = "T-1";
    je_justification j;
    je_err e;
    /* Header reason without a header ticket: the token's ticket is not borrowed. */
    fake_header(f, "X-StellaOps-Reason", "header reason");
    assert_int_equal(justify(f, "{}", &je_change_quota, &j, &e), 0);
    assert_string_equal(j.reason, "header reason");
    assert_int_equal(j.has_ticket, 0);
    assert_int_equal(j.source, 1);
    /* Nothing in the request: the token's claims, reason and ticket together. */
    f->n_hdr = 0;
    assert_int_equal(justify(f, NULL, &je_change_quota, &j, &e), 0);
    assert_string_equal(j.reason, "token reason");
    assert_int_equal(j.has_ticket, 1);
    assert_string_equal(j.ticket, "T-1");
    assert_int_equal(j.source, 2);
    fake_free(f);
}

static void justify_invalid_header_refused(void **state) {
    fake_req *f = fake_new("PUT", "/jobengine/quotas/q1");
    const char *good = "{\"reason\":\"body reason\"}";
    je_justification j;
    je_err e;
    /* 256 code points (512 bytes of é) is the limit: accepted, the body still wins. */
    fake_header(f, "X-StellaOps-Reason", repeat(f, "\xc3\xa9", 256));
    assert_int_equal(justify(f, good, &je_change_quota, &j, &e), 0);
    assert_string_equal(j.reason, "body reason");
    /* 257 code points in the header: refused although the body's reason is valid. */
    f->hdr[0][1] = repeat(f, "\xc3\xa9", 257);
    assert_int_equal(justify(f, good, &je_change_quota, &j, &e), -1);
    assert_err(&e, "REASON_REQUIRED", "reason");
    /* A 129-character header ticket (beside a valid header reason). */
    f->hdr[0][1] = "header reason";
    fake_header(f, "X-StellaOps-Ticket", repeat(f, "t", 129));
    assert_int_equal(justify(f, good, &je_change_backfill, &j, &e), -1);
    assert_err(&e, "VALIDATION_FAILED", "ticket");
    f->hdr[1][1] = repeat(f, "t", 128);
    assert_int_equal(justify(f, good, &je_change_backfill, &j, &e), 0);
    /* A blank header reason is invalid too. */
    f->n_hdr = 0;
    fake_header(f, "X-StellaOps-Reason", "   ");
    assert_int_equal(justify(f, good, &je_change_quota, &j, &e), -1);
    assert_err(&e, "REASON_REQUIRED", "reason");
    /* A header ticket without a header reason, beside a body reason. */
    f->n_hdr = 0;
    fake_header(f, "X-StellaOps-Ticket", "H-1");
    assert_int_equal(justify(f, good, &je_change_quota, &j, &e), -1);
    assert_err(&e, "VALIDATION_FAILED", "ticket");
    fake_free(f);
}

static void justify_body_types_and_absence(void **state) {
    fake_req *f = fake_new("POST", "/jobengine/quotas");
    fake_header(f, "X-StellaOps-Reason", "header reason");
    f->p.claims[JE_CLAIM_QUOTA_REASON] = "token reason";
    je_justification j;
    je_err e;
    assert_int_equal(justify(f, "{\"reason\":5}", &je_change_quota, &j, &e), -1);
    assert_err(&e, "VALIDATION_FAILED", "reason");
    assert_int_equal(justify(f, "{\"reason\":[\"x\"]}", &je_change_backfill, &j, &e), -1);
    assert_err(&e, "VALIDATION_FAILED", "reason");
    assert_int_equal(justify(f, "{\"reason\":\"ok\",\"ticket\":true}", &je_change_quota, &j, &e),
                     -1);
    assert_err(&e, "VALIDATION_FAILED", "ticket");
    /* A blank body reason is refused, not replaced by the header's. */
    assert_int_equal(justify(f, "{\"reason\":\" \"}", &je_change_quota, &j, &e), -1);
    assert_err(&e, "REASON_REQUIRED", "reason");
    /* No reason anywhere. */
    f->n_hdr = 0;
    f->p.claims[JE_CLAIM_QUOTA_REASON] = NULL;
    assert_int_equal(justify(f, "{}", &je_change_quota, &j, &e), -1);
    assert_err(&e, "REASON_REQUIRED", "reason");
    assert_int_equal(justify(f, NULL, &je_change_backfill, &j, &e), -1);
    assert_err(&e, "REASON_REQUIRED", "reason");
    fake_free(f);
}

static void justify_claims_of_own_family(void **state) {
    fake_req *f = fake_new("POST", "/jobengine/quotas");
    f->p.claims[JE_CLAIM_BACKFILL_REASON] = "backfill claim";
    f->p.claims[JE_CLAIM_BACKFILL_TICKET] = "BF-1";
    f->p.claims[JE_CLAIM_OPERATOR_REASON] = "operator claim";
    je_justification j;
    je_err e;
    assert_int_equal(justify(f, "{}", &je_change_quota, &j, &e), -1);
    assert_err(&e, "REASON_REQUIRED", "reason");
    assert_int_equal(justify(f, "{}", &je_change_backfill, &j, &e), 0);
    assert_string_equal(j.reason, "backfill claim");
    assert_string_equal(j.ticket, "BF-1");
    f->p.claims[JE_CLAIM_BACKFILL_REASON] = NULL;
    f->p.claims[JE_CLAIM_BACKFILL_TICKET] = NULL;
    f->p.claims[JE_CLAIM_QUOTA_REASON] = "quota claim";
    assert_int_equal(justify(f, "{}", &je_change_backfill, &j, &e), -1);
    assert_err(&e, "REASON_REQUIRED", "reason");
    fake_free(f);
}

/* ---- 2. je_change_sent_justification ---- */

static void sent(fake_req *f, const char *body, const je_change_kind *k, je_justification *j) {
    json_t *b = body ? body_of(body) : NULL;
    memset(j, 'x', sizeof *j); /* every field must be written */
    je_change_sent_justification(&f->r, b, k, j);
    json_decref(b);
}

static void sent_justification_as_sent_when_valid(void **state) {
    fake_req *f = fake_new("PUT", "/jobengine/quotas/q1");
    fake_header(f, "X-StellaOps-Reason", "header reason");
    fake_header(f, "X-StellaOps-Ticket", "H-1");
    f->p.claims[JE_CLAIM_QUOTA_REASON] = "token reason";
    f->p.claims[JE_CLAIM_QUOTA_TICKET] = "T-1";
    je_justification j;
    sent(f, "{\"reason\":\" body reason \",\"ticket\":\"B-1\"}", &je_change_quota, &j);
    assert_string_equal(j.reason, "body reason");
    assert_int_equal(j.has_ticket, 1);
    assert_string_equal(j.ticket, "B-1");
    /* The body holds the reason: its missing ticket is not taken from the headers. */
    sent(f, "{\"reason\":\"body reason\"}", &je_change_quota, &j);
    assert_string_equal(j.reason, "body reason");
    assert_int_equal(j.has_ticket, 0);
    /* An invalid body reason gives "", never the headers' or the token's; its ticket stays. */
    sent(f, "{\"reason\":\"  \",\"ticket\":\"B-1\"}", &je_change_quota, &j);
    assert_string_equal(j.reason, "");
    assert_int_equal(j.has_ticket, 1);
    assert_string_equal(j.ticket, "B-1");
    /* A body member that is not a string holds no reason: the headers' are the first. */
    sent(f, "{\"reason\":5,\"ticket\":\"B-1\"}", &je_change_quota, &j);
    assert_string_equal(j.reason, "header reason");
    assert_string_equal(j.ticket, "H-1");
    /* A null reason is absent: the headers hold the first reason, and supply the ticket too. */
    sent(f, "{\"reason\":null,\"ticket\":false}", &je_change_quota, &j);
    assert_string_equal(j.reason, "header reason");
    assert_string_equal(j.ticket, "H-1");
    /* An invalid header value, body silent: "" and no ticket, not the token's. */
    f->hdr[0][1] = repeat(f, "r", 257);
    f->hdr[1][1] = repeat(f, "t", 129);
    sent(f, "{}", &je_change_quota, &j);
    assert_string_equal(j.reason, "");
    assert_int_equal(j.has_ticket, 0);
    /* Only the token: its claims of the route's family. */
    f->n_hdr = 0;
    sent(f, NULL, &je_change_quota, &j);
    assert_string_equal(j.reason, "token reason");
    assert_string_equal(j.ticket, "T-1");
    sent(f, NULL, &je_change_backfill, &j);
    assert_string_equal(j.reason, "");
    assert_int_equal(j.has_ticket, 0);
    fake_free(f);
}

/* ---- 3. If-Match ---- */

static void if_match_values(void **state) {
    static const struct {
        const char *h;
        int rc;
        int64_t want;
    } cases[] = {{NULL, 0, JE_IF_MATCH_NONE},
                 {"*", 0, JE_IF_MATCH_ANY},
                 {"\"7\"", 0, 7},
                 {"7", 0, 7},
                 {"\"0\"", 0, 0},
                 {"abc", -1, 0},
                 {"\"\"", -1, 0},
                 {"-1", -1, 0},
                 {"\"-1\"", -1, 0},
                 {"1234567890123456789012345", -1, 0},
                 {"99999999999999999999", -1, 0}, /* 20 digits: malformed, never clamped */
                 {"9007199254740991", 0, 9007199254740991LL},
                 {"9007199254740992", -1, 0},
                 {"\"7", -1, 0},
                 {"W/\"7\"", -1, 0},
                 {"", -1, 0}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fake_req *f = fake_new("PUT", "/jobengine/quotas/q1");
        if (cases[i].h) fake_header(f, "if-match", cases[i].h);
        int64_t v = 99;
        je_err e;
        je_err_clear(&e);
        assert_int_equal(je_change_if_match(&f->r, &v, &e), cases[i].rc);
        if (cases[i].rc == 0) assert_int_equal(v, cases[i].want);
        if (cases[i].rc != 0) assert_err(&e, "VALIDATION_FAILED", "If-Match");
        fake_free(f);
    }
    assert_true(je_if_match_admits(JE_IF_MATCH_NONE, 3));
    assert_true(je_if_match_admits(JE_IF_MATCH_ANY, 3));
    assert_true(je_if_match_admits(7, 7));
    assert_false(je_if_match_admits(7, 8));
    assert_false(je_if_match_admits(0, 1));
}

/* ---- 4. Idempotency-Key ---- */

static int idem(fake_req *f, const char *body, je_idem *out, je_err *e) {
    json_t *b = body_of(body);
    je_err_clear(e);
    int rc = je_change_idem(&f->r, b, out, e);
    json_decref(b);
    return rc;
}

static void idempotency_key(void **state) {
    fake_req *f = fake_new("POST", "/jobengine/quotas/q1/acquire");
    je_idem a, b, c;
    je_err e;
    assert_int_equal(idem(f, "{}", &a, &e), 0);
    assert_null(a.key);
    fake_header(f, "idempotency-key", "k-1~!");
    assert_int_equal(idem(f, "{\"a\":1,\"b\":[1,2]}", &a, &e), 0);
    assert_string_equal(a.key, "k-1~!");
    assert_string_equal(a.method, "POST");
    assert_string_equal(a.path, "/jobengine/quotas/q1/acquire");
    /* SHA-256 of the JCS form {"a":1,"b":[1,2]}. */
    assert_string_equal(a.request_hash,
                        "8baa73198470c7bb4c3ce142a8fd651affc0310d878bb9bd159e37a573fb4874");
    assert_int_equal(idem(f, " { \"b\" : [ 1, 2 ],\n \"a\" : 1 } ", &b, &e), 0);
    assert_string_equal(b.request_hash, a.request_hash);
    assert_int_equal(idem(f, "{\"a\":2,\"b\":[1,2]}", &c, &e), 0);
    assert_string_not_equal(c.request_hash, a.request_hash);
    assert_int_equal(idem(f, "{\"a\":1,\"b\":[2,1]}", &c, &e), 0);
    assert_string_not_equal(c.request_hash, a.request_hash);
    f->hdr[0][1] = repeat(f, "k", 255);
    assert_int_equal(idem(f, "{}", &a, &e), 0);
    assert_int_equal(strlen(a.key), 255);
    static const char *const bad[] = {"", "a b", "a\tb", "a\x7f", "\xc3\xa9t\xc3\xa9", NULL};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        f->hdr[0][1] = bad[i] ? bad[i] : repeat(f, "k", 256);
        assert_int_equal(idem(f, "{}", &a, &e), -1);
        assert_err(&e, "VALIDATION_FAILED", "Idempotency-Key");
    }
    fake_free(f);
}

/* ---- 5. The gate ---- */

typedef struct gate_fx {
    char dir[512], path[600];
    je_store *store;
    je_app app;
} gate_fx;

static int gate_setup(void **state) {
    static int counter;
    const char *tmp = getenv("JE_TEST_TMP");
    if (!tmp || !*tmp) tmp = "/tmp";
    mkdir(tmp, 0700);
    gate_fx *fx = calloc(1, sizeof *fx);
    if (!fx) return -1;
    snprintf(fx->dir, sizeof fx->dir, "%s/je-gate-%d-%d-%ld", tmp, (int)getpid(), ++counter,
             (long)time(NULL));
    snprintf(fx->path, sizeof fx->path, "%s/store.db", fx->dir);
    if (mkdir(fx->dir, 0700) != 0) return -1;
    char url[700];
    snprintf(url, sizeof url, "sqlite:%s", fx->path);
    je_err err;
    je_err_clear(&err);
    fx->store = je_store_open(url, &err);
    if (!fx->store) return print_error("open %s: %s\n", url, err.message), -1;
    static je_config cfg = {.listen = "127.0.0.1:0",
                            .issuer = "http://jobengine.test",
                            .audience = "jobengine",
                            .http = {.threads = 1},
                            .token_ttl_s = 3600,
                            .elevated_token_ttl_s = 900};
    snprintf(cfg.store_url, sizeof cfg.store_url, "%s", url);
    if (je_app_init(&fx->app, fx->store, &cfg, &err) != 0)
        return print_error("app: %s\n", err.message), -1;
    *state = fx;
    return 0;
}

static int gate_teardown(void **state) {
    gate_fx *fx = *state;
    je_app_destroy(&fx->app);
    je_store_close(fx->store);
    static const char *const suffixes[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < 3; i++) {
        char f[700];
        snprintf(f, sizeof f, "%s%s", fx->path, suffixes[i]);
        unlink(f);
    }
    rmdir(fx->dir);
    free(fx);
    return 0;
}

/* A token signed with the app's current key; tenant NULL leaves stellaops:tenant out. */
static char *token(gate_fx *fx, const char *tenant, const char *scope, int64_t exp_in_s) {
    je_key key;
    je_err err;
    je_err_clear(&err);
    assert_int_equal(je_keyring_current(&fx->app.keyring, &key, &err), 0);
    int64_t now = je_now_ms() / 1000;
    json_t *c = json_pack(
        "{s:s, s:s, s:s, s:I, s:I, s:I, s:s, s:s, s:s, s:s}", "iss", fx->app.cfg.issuer, "sub",
        "svc-1", "aud", "jobengine", "iat", (json_int_t)(now - 60), "nbf", (json_int_t)(now - 60),
        "exp", (json_int_t)(now + exp_in_s), "jti", "0190a6c4-5f1e-7000-8000-0000000000aa",
        "client_id", "svc-1", "scope", scope, "quota.reason", "claimed");
    if (tenant) json_object_set_new(c, "stellaops:tenant", json_string(tenant));
    char *t = je_jwt_sign(&key, c, &err);
    json_decref(c);
    assert_non_null(t);
    return t;
}

static const je_route quota_route = {"POST", "/jobengine/quotas", JE_ROUTE_API,
                                     JE_SCOPE_QUOTA | JE_SCOPE_BACKFILL, NULL};

/* A request to quota_route with Authorization auth (none when NULL), or "Bearer tok". */
static fake_req *gate_req(const char *auth, const char *tok) {
    fake_req *f = fake_new("POST", "/jobengine/quotas");
    f->r.principal = NULL;
    if (tok) auth = je_arena_printf(f->r.arena, "Bearer %s", tok);
    if (auth) fake_header(f, "Authorization", auth);
    return f;
}

static int run_gate(gate_fx *fx, fake_req *f) {
    return je_gate_admit(&f->r, &fx->app, &quota_route);
}

/* The JobEngine envelope: exactly {"error": {code, message, trace_id, details}}; returns details.
 */
static const json_t *assert_envelope(fake_req *f, int status, const char *code) {
    assert_int_equal(f->sends, 1);
    assert_int_equal(f->status, status);
    assert_int_equal(f->r.status, status);
    assert_null(f->r.principal);
    assert_string_equal(f->content_type, "application/json");
    assert_non_null(f->json);
    assert_int_equal(json_object_size(f->json), 1);
    const json_t *e = json_object_get(f->json, "error");
    assert_true(json_is_object(e));
    assert_int_equal(json_object_size(e), 4);
    assert_string_equal(json_string_value(json_object_get(e, "code")), code);
    const char *msg = json_string_value(json_object_get(e, "message"));
    assert_non_null(msg);
    assert_true(msg[0] != '\0');
    assert_string_equal(json_string_value(json_object_get(e, "trace_id")), TRACE);
    const json_t *d = json_object_get(e, "details");
    assert_true(json_is_object(d));
    return d;
}

static void gate_no_authorization(void **state) {
    gate_fx *fx = *state;
    fake_req *f = gate_req(NULL, NULL);
    assert_int_equal(run_gate(fx, f), -1);
    const json_t *d = assert_envelope(f, 401, "UNAUTHORIZED");
    assert_int_equal(json_object_size(d), 0);
    assert_string_equal(f->www_auth, "Bearer realm=\"jobengine\"");
    fake_free(f);
}

static void gate_not_bearer(void **state) {
    gate_fx *fx = *state;
    static const char *const auths[] = {"Basic x", "Bearer", "Bearer    ", "Token abc"};
    for (size_t i = 0; i < sizeof auths / sizeof auths[0]; i++) {
        fake_req *f = gate_req(auths[i], NULL);
        assert_int_equal(run_gate(fx, f), -1);
        assert_envelope(f, 401, "UNAUTHORIZED");
        assert_int_equal(strncmp(f->www_auth, "Bearer realm=\"jobengine\"", 24), 0);
        fake_free(f);
    }
}

static void gate_bad_token(void **state) {
    gate_fx *fx = *state;
    char *good = token(fx, "acme", "orch:quota", 600);
    char *bad_sig = strdup(good);
    char *mid = bad_sig + strlen(bad_sig) - 20; /* inside the signature */
    *mid = *mid == 'A' ? 'B' : 'A';
    char *expired = token(fx, "acme", "orch:quota", -30);
    const char *const toks[] = {bad_sig, expired, "not.a.jwt"};
    const char *const says[] = {"signature", "expired", "invalid token"}; /* what was wrong */
    for (size_t i = 0; i < 3; i++) {
        fake_req *f = gate_req(NULL, toks[i]);
        assert_int_equal(run_gate(fx, f), -1);
        const json_t *d = assert_envelope(f, 401, "UNAUTHORIZED");
        assert_int_equal(json_object_size(d), 0);
        const json_t *e = json_object_get(f->json, "error");
        assert_non_null(strstr(json_string_value(json_object_get(e, "message")), says[i]));
        assert_string_equal(f->www_auth, "Bearer realm=\"jobengine\", error=\"invalid_token\"");
        assert_null(strstr(f->body, toks[i])); /* never echoes the token */
        fake_free(f);
    }
    /* The scheme is case-insensitive: the untouched token passes with "bearer". */
    fake_req *f = gate_req(NULL, NULL);
    fake_header(f, "authorization", je_arena_printf(f->r.arena, "bearer %s", good));
    assert_int_equal(run_gate(fx, f), 0);
    fake_free(f);
    free(good);
    free(bad_sig);
    free(expired);
}

static void gate_tenant_required(void **state) {
    gate_fx *fx = *state;
    /* No tenant claim, and no scope for the route either: tenant is checked first. */
    char *t = token(fx, NULL, "orch:read", 600);
    fake_req *f = gate_req(NULL, t);
    assert_int_equal(run_gate(fx, f), -1);
    assert_envelope(f, 403, "TENANT_REQUIRED");
    assert_string_equal(f->www_auth, "");
    fake_free(f);
    free(t);
}

static void gate_tenant_headers(void **state) {
    gate_fx *fx = *state;
    char *t = token(fx, "acme", "orch:read", 600); /* wrong scope: the tenant answers first */
    static const struct {
        const char *name, *value, *named; /* named: details.header */
    } bad[] = {{"X-StellaOps-Tenant", "other", "X-StellaOps-Tenant"},
               {"x-stellaops-tenant", "ACME", "X-StellaOps-Tenant"},
               {"X-Stella-Tenant", "other", "X-Stella-Tenant"},
               {"X-StellaOps-Tenant", "", "X-StellaOps-Tenant"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fake_req *f = gate_req(NULL, t);
        fake_header(f, bad[i].name, bad[i].value);
        assert_int_equal(run_gate(fx, f), -1);
        const json_t *d = assert_envelope(f, 400, "ERR_TENANT_MISMATCH");
        assert_string_equal(json_string_value(json_object_get(d, "header")), bad[i].named);
        fake_free(f);
    }
    /* One header equal, the legacy one differing: still refused. */
    fake_req *f = gate_req(NULL, t);
    fake_header(f, "X-StellaOps-Tenant", "acme");
    fake_header(f, "X-Stella-Tenant", "other");
    assert_int_equal(run_gate(fx, f), -1);
    const json_t *d = assert_envelope(f, 400, "ERR_TENANT_MISMATCH");
    assert_string_equal(json_string_value(json_object_get(d, "header")), "X-Stella-Tenant");
    fake_free(f);
    free(t);
    /* Both equal, the scope right: admitted. */
    t = token(fx, "acme", "orch:quota", 600);
    f = gate_req(NULL, t);
    fake_header(f, "X-StellaOps-Tenant", "acme");
    fake_header(f, "X-Stella-Tenant", "acme");
    assert_int_equal(run_gate(fx, f), 0);
    assert_int_equal(f->sends, 0);
    fake_free(f);
    free(t);
}

static void gate_scope_required(void **state) {
    gate_fx *fx = *state;
    char *t = token(fx, "acme", "orch:read orch:jobs", 600);
    fake_req *f = gate_req(NULL, t);
    assert_int_equal(run_gate(fx, f), -1);
    const json_t *d = assert_envelope(f, 403, "SCOPE_REQUIRED");
    assert_string_equal(json_string_value(json_object_get(d, "requiredScopes")),
                        "orch:quota orch:backfill");
    assert_string_equal(f->www_auth, "");
    fake_free(f);
    free(t);
}

static void gate_admits(void **state) {
    gate_fx *fx = *state;
    char *t = token(fx, "acme", "orch:read orch:backfill", 600);
    for (int pass = 0; pass < 2; pass++) { /* the second verification hits the cache */
        fake_req *f = gate_req(NULL, t);
        assert_int_equal(run_gate(fx, f), 0);
        assert_int_equal(f->sends, 0);
        assert_int_equal(f->r.status, 0);
        const je_principal *p = f->r.principal;
        assert_non_null(p);
        assert_string_equal(p->tenant, "acme");
        assert_string_equal(p->client_id, "svc-1");
        assert_int_equal(p->scopes, JE_SCOPE_READ | JE_SCOPE_BACKFILL);
        assert_string_equal(p->jti, "0190a6c4-5f1e-7000-8000-0000000000aa");
        assert_string_equal(p->claims[JE_CLAIM_QUOTA_REASON], "claimed");
        assert_null(p->claims[JE_CLAIM_BACKFILL_REASON]);
        fake_free(f);
    }
    free(t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(justify_body_wins),
        cmocka_unit_test(justify_headers_then_token),
        cmocka_unit_test(justify_invalid_header_refused),
        cmocka_unit_test(justify_body_types_and_absence),
        cmocka_unit_test(justify_claims_of_own_family),
        cmocka_unit_test(sent_justification_as_sent_when_valid),
        cmocka_unit_test(if_match_values),
        cmocka_unit_test(idempotency_key),
        cmocka_unit_test_setup_teardown(gate_no_authorization, gate_setup, gate_teardown),
        cmocka_unit_test_setup_teardown(gate_not_bearer, gate_setup, gate_teardown),
        cmocka_unit_test_setup_teardown(gate_bad_token, gate_setup, gate_teardown),
        cmocka_unit_test_setup_teardown(gate_tenant_required, gate_setup, gate_teardown),
        cmocka_unit_test_setup_teardown(gate_tenant_headers, gate_setup, gate_teardown),
        cmocka_unit_test_setup_teardown(gate_scope_required, gate_setup, gate_teardown),
        cmocka_unit_test_setup_teardown(gate_admits, gate_setup, gate_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
