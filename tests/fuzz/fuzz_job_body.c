/* tests/fuzz/fuzz_job_body.c: the JSON bodies of the job routes (api.md §3.4) — submit, lease,
 * heartbeat, complete — through their real handlers (src/api/jobs.c, body.c, change.c) over the
 * stub store, which also reads a submitted payload back as GET does. Input: "ROUTE[ JOB_ID]\n",
 * header lines (Idempotency-Key...), an empty line, the body (fuzz_kit.h). */
#include <string.h>

#include "api/routes.h"
#include "fuzz_kit.h"

static const char *const routes[] = {"submit", "lease", "heartbeat", "complete"};
static const char *const paths[] = {"/jobengine/jobs", "/jobengine/jobs/lease",
                                    "/jobengine/jobs/j/heartbeat", "/jobengine/jobs/j/complete"};
static const je_route_fn handlers[] = {je_api_job_submit, je_api_job_lease, je_api_job_heartbeat,
                                       je_api_job_complete};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char id[64];
    size_t k = fz_route(&data, &size, routes, 4, id, sizeof id);
    fz_path_param(id, "j1");
    fz_req *f = fz_req_new("POST", paths[k]);
    fz_req_admit(f);
    f->r.params[0] = id;
    f->r.n_params = k >= 2;
    fz_req_read(f, data, size, "application/json");
    handlers[k](&f->r, fz_app());
    fz_req_finish(f);
    return 0;
}
