/* tests/fuzz/fuzz_token.c: the Authority's form endpoints — POST /token (the client-credentials
 * grant), /introspect and /revoke — through their real handlers (src/api/token.c,
 * authority.c) over the stub store: the form body parser and the HTTP Basic header
 * (src/http/form.c), client authentication, scopes, tenants, justification parameters, the
 * audit entry of every grant or refusal (sealed by the stub: one a real store could not seal
 * would be a 503), signing. The stub knows one client, fuzz-client / fuzz-secret, for tenants t1
 * and t2 with every role (fuzz_kit.h). Input: "ROUTE\n" (token, introspect, revoke), header lines
 * (Authorization: Basic ..., Content-Type), an empty line, the form body. */
#include "api/routes.h"
#include "fuzz_kit.h"

static const char *const routes[] = {"token", "introspect", "revoke"};
static const char *const paths[] = {"/token", "/introspect", "/revoke"};
static const je_route_fn handlers[] = {je_api_token, je_api_introspect, je_api_revoke};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char arg[8];
    size_t k = fz_route(&data, &size, routes, 3, arg, sizeof arg);
    fz_req *f = fz_req_new("POST", paths[k]);
    fz_req_read(f, data, size, "application/x-www-form-urlencoded");
    handlers[k](&f->r, fz_app());
    fz_req_finish(f);
    return 0;
}
