/* core/jobs.c: job statuses, retry backoff, backfill lane share, leasing order. */
#include "core/jobs.h"

#include <math.h>
#include <string.h>

static const char *const status_names[JE_JOB_STATUS_COUNT] = {"pending", "leased", "succeeded",
                                                              "failed", "canceled"};

const char *je_job_status_name(je_job_status s) {
    return (unsigned)s < JE_JOB_STATUS_COUNT ? status_names[s] : NULL;
}

int je_job_status_parse(const char *name) {
    for (int i = 0; name && i < JE_JOB_STATUS_COUNT; i++)
        if (strcmp(status_names[i], name) == 0) return i;
    return -1;
}

int64_t je_job_backoff_ms(int64_t failures) {
    if (failures < 1) return 0;
    int64_t ms = JE_BACKOFF_FIRST_MS;
    for (int64_t i = 1; i < failures && ms < JE_BACKOFF_MAX_MS; i++) ms *= 2;
    return ms < JE_BACKOFF_MAX_MS ? ms : JE_BACKOFF_MAX_MS;
}

int64_t je_backfill_slots(int64_t max_active, double share) {
    if (max_active <= 0 || !(share > 0)) return 0;
    if (share >= 1) return max_active;
    /* the product is exact for the shares people write (0.5, 0.25); ceil of a hair above an
     * integer must not add a slot */
    double slots = (double)max_active * share;
    double r = nearbyint(slots);
    return fabs(slots - r) < 1e-9 ? (int64_t)r : (int64_t)ceil(slots);
}

int je_job_order_cmp(const je_job_order *a, const je_job_order *b) {
    if (a->lane != b->lane) return a->lane < b->lane ? -1 : 1;
    if (a->priority != b->priority) return a->priority > b->priority ? -1 : 1;
    if (a->created_ms != b->created_ms) return a->created_ms < b->created_ms ? -1 : 1;
    return strcmp(a->job_id ? a->job_id : "", b->job_id ? b->job_id : "");
}
