/* core/jobs.c: job statuses, the life of a lease (lease, heartbeat, expiry, finish with retry
 * and backoff), backfill lane share, leasing order. */
#include "core/jobs.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/quota.h" /* JE_NO_TIME */

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

void je_job_free(je_job *j) {
    if (!j) return;
    free(j->payload);
    j->payload = NULL;
}

int je_job_lease_live(const je_job *j, const char *lease_id, int64_t now_ms) {
    return j->status == JE_JOB_LEASED && (!lease_id || strcmp(j->lease_id, lease_id) == 0) &&
           j->lease_until_ms > now_ms;
}

void je_job_lease(je_job *j, const char *lease_id, const char *worker_id, const char *quota_id,
                  int64_t lease_ms, int64_t now_ms) {
    j->status = JE_JOB_LEASED;
    snprintf(j->lease_id, sizeof j->lease_id, "%s", lease_id);
    j->lease_ms = lease_ms;
    j->lease_until_ms = now_ms + lease_ms;
    snprintf(j->worker_id, sizeof j->worker_id, "%s", worker_id ? worker_id : "");
    snprintf(j->quota_id, sizeof j->quota_id, "%s", quota_id ? quota_id : "");
    j->attempt++;
    j->updated_ms = now_ms;
}

void je_job_heartbeat(je_job *j, int64_t extend_ms, int64_t now_ms) {
    j->lease_until_ms = now_ms + extend_ms;
    j->lease_ms = extend_ms;
    j->updated_ms = now_ms;
}

static void lease_end(je_job *j) {
    j->lease_id[0] = '\0';
    j->worker_id[0] = '\0';
    j->quota_id[0] = '\0';
    j->lease_until_ms = j->lease_ms = JE_NO_TIME;
}

void je_job_lease_expire(je_job *j, int64_t now_ms) {
    j->status = JE_JOB_PENDING;
    j->available_ms = j->updated_ms = now_ms;
    lease_end(j);
}

void je_job_finish(je_job *j, int succeeded, const char *error, int64_t now_ms) {
    if (succeeded) {
        j->status = JE_JOB_SUCCEEDED;
    } else {
        j->failures++;
        int last = j->failures >= j->max_attempts;
        j->status = last ? JE_JOB_FAILED : JE_JOB_PENDING;
        if (!last) j->available_ms = now_ms + je_job_backoff_ms(j->failures);
    }
    if (j->status != JE_JOB_PENDING) j->completed_ms = now_ms;
    snprintf(j->error, sizeof j->error, "%s", succeeded || !error ? "" : error);
    j->updated_ms = now_ms;
    lease_end(j);
}
