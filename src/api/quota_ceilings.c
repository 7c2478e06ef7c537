/* api/quota_ceilings.c: GET /jobengine/quotas/ceilings?jobType=JT (docs/api.md "Quotas", an
 * addition to the contract): the policy ceilings that apply to the caller's tenant and a job
 * type, so a form can show them before a change is refused with 422. The numbers are those
 * je_config_ceiling gives the quota change (api/quotas.c), so they equal a 422's
 * details.ceiling. The tenant is the principal's: another tenant's overrides never show. */
#include <string.h>

#include "api/routes.h"
#include "core/ids.h"

void je_api_quota_ceilings(je_req *r, je_app *app) {
    const char *jt = je_req_query_nonempty(r, "jobType");
    if (!jt || !je_id_job_type_valid(jt, strlen(jt))) {
        je_reply_field_error(r, 400, "VALIDATION_FAILED", "jobType",
                             jt ? "jobType is malformed" : "jobType is required");
        return;
    }
    je_quota_limits c;
    je_config_ceiling(&app->cfg, r->principal->tenant, jt, &c);
    /* integers but for refill, written as the 422's details are (api/quotas.c) */
    je_reply_json(r, 200,
                  json_pack("{s:s, s:I, s:I, s:I, s:f}", "jobType", jt, "maxActive",
                            (json_int_t)c.max_active, "maxPerHour", (json_int_t)c.max_per_hour,
                            "burstCapacity", (json_int_t)c.burst_capacity, "refillPerSecond",
                            c.refill_per_second));
}
