/* tests/fuzz/fuzz_dedup_body.c: the JSON body of POST /jobengine/dedup/claim (domain.md §4)
 * through its real handler (src/api/dedup.c, body.c) over the stub store: job ids starting with
 * 'm' are missing, 'l' have lost their lease; event keys starting with 'd' were claimed before.
 * Input: header lines, an empty line, the body; or only the body (fuzz_kit.h). */
#include "api/routes.h"
#include "fuzz_kit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fz_req *f = fz_req_new("POST", "/jobengine/dedup/claim");
    fz_req_admit(f);
    fz_req_read(f, data, size, "application/json");
    je_api_dedup_claim(&f->r, fz_app());
    fz_req_finish(f);
    return 0;
}
