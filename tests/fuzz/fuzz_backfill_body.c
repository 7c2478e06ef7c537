/* tests/fuzz/fuzz_backfill_body.c: the JSON bodies of the backfill routes (api.md §3.5) —
 * create, preview, and the state moves start, pause, resume, cancel — through their real
 * handlers (src/api/backfills.c, change.c, body.c, core/backfill.c behind them) over the stub
 * store. Input: "ROUTE[ BACKFILL_ID]\n", header lines, an empty line, the body (fuzz_kit.h). */
#include <string.h>

#include "api/routes.h"
#include "fuzz_kit.h"

static const char *const routes[] = {"create", "preview", "start", "pause", "resume", "cancel"};
static const je_route_fn handlers[] = {je_api_backfill_create, je_api_backfill_preview,
                                       je_api_backfill_start,  je_api_backfill_pause,
                                       je_api_backfill_resume, je_api_backfill_cancel};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char id[64];
    size_t k = fz_route(&data, &size, routes, 6, id, sizeof id);
    fz_path_param(id, "bf1");
    fz_req *f = fz_req_new("POST", k < 2 ? "/jobengine/backfills" : "/jobengine/backfills/b/x");
    fz_req_admit(f);
    f->r.params[0] = id;
    f->r.n_params = k >= 2;
    fz_req_read(f, data, size, "application/json");
    handlers[k](&f->r, fz_app());
    fz_req_finish(f);
    return 0;
}
