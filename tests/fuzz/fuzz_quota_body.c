/* tests/fuzz/fuzz_quota_body.c: the JSON bodies of the quota routes (api.md §3.3) — create,
 * adjust (PUT), delete, pause, resume, acquire, release — through their real handlers
 * (src/api/quotas.c, allocate.c, change.c, body.c and core/quota_change.c behind them) over the
 * stub store. Input: "ROUTE[ QUOTA_ID]\n", header lines (If-Match, Idempotency-Key,
 * X-StellaOps-Reason...), an empty line, the body (fuzz_kit.h). */
#include <string.h>

#include "api/routes.h"
#include "fuzz_kit.h"

static const char *const routes[] = {"create", "update",  "delete", "pause",
                                     "resume", "acquire", "release"};
static const char *const methods[] = {"POST", "PUT", "DELETE", "POST", "POST", "POST", "POST"};
static const je_route_fn handlers[] = {
    je_api_quota_create, je_api_quota_update,  je_api_quota_delete, je_api_quota_pause,
    je_api_quota_resume, je_api_quota_acquire, je_api_quota_release};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char id[64];
    size_t k = fz_route(&data, &size, routes, 7, id, sizeof id);
    fz_path_param(id, "q1");
    fz_req *f = fz_req_new(methods[k], k == 0 ? "/jobengine/quotas" : "/jobengine/quotas/q");
    fz_req_admit(f);
    f->r.params[0] = id;
    f->r.n_params = k != 0;
    fz_req_read(f, data, size, "application/json");
    handlers[k](&f->r, fz_app());
    fz_req_finish(f);
    return 0;
}
