/* tests/fuzz/fuzz_request.c: a whole request through je_app_handle (src/api/routes.c): routing
 * (404, 405 with Allow), the path parameters routing captures, the gate (bearer token, tenant
 * headers, scopes: src/api/gate.c, auth/verifier.c) and every handler with the query parameters
 * it reads — limit and continuationToken (src/http/params.c), the filters of the list routes
 * (status, jobType, since, until, eventType, fromSequence...) — over the stub store.
 * Input: "METHOD /path?query\n", header lines, an empty line, the body (fuzz_kit.h). With no
 * Authorization line the request carries a valid bearer token (FZ_CLIENT, tenant t1, every
 * scope); "@BEARER@" stands for that token anywhere. Not sent: GET /jobengine/audit/export (its
 * reply streams through libmicrohttpd itself) and POST /revoke (it would revoke that token for
 * the rest of the run; fuzz_token covers it). */
#include <string.h>

#include "api/routes.h"
#include "fuzz_kit.h"

static int hex(char c) {
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* The path as libmicrohttpd hands it over: %XX decoded (a malformed escape kept as sent), and
 * ending at a decoded NUL. Returns its length. */
static size_t path_decode(const char *s, size_t n, char *out) {
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%' && i + 2 < n && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0) {
            out[o] = (char)(hex(s[i + 1]) * 16 + hex(s[i + 2]));
            i += 2;
        } else {
            out[o] = s[i];
        }
        if (out[o] == '\0') break;
        o++;
    }
    out[o] = '\0';
    return o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint8_t *nl = memchr(data, '\n', size);
    size_t line = nl ? (size_t)(nl - data) : size;
    const uint8_t *sp = memchr(data, ' ', line);
    if (!sp || sp == data || memchr(data, 0, line)) return 0; /* no request line */
    char method[16];
    size_t ml = (size_t)(sp - data);
    if (ml >= sizeof method) return 0;
    memcpy(method, data, ml);
    method[ml] = '\0';
    const char *target = (const char *)sp + 1;
    size_t tl = line - ml - 1;
    const char *q = memchr(target, '?', tl);
    size_t pl = q ? (size_t)(q - target) : tl;
    char path[512];
    if (pl == 0 || pl >= sizeof path) return 0;
    if (path_decode(target, pl, path) == 0) return 0;
    if (strcmp(path, "/jobengine/audit/export") == 0 || strcmp(path, "/revoke") == 0) return 0;
    fz_req *f = fz_req_new(method, path);
    if (q) fz_req_query_string(f, q + 1, tl - pl - 1);
    size_t skip = nl ? line + 1 : line;
    fz_req_read(f, data + skip, size - skip, "application/json");
    if (!f->r.lookup(&f->r, JE_REQ_HEADER, "Authorization"))
        fz_req_header(f, "Authorization", je_arena_printf(f->r.arena, "Bearer %s", fz_bearer()));
    je_app_handle(&f->r, fz_app());
    fz_req_finish(f);
    return 0;
}
