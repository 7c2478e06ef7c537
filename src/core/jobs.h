/* core/jobs.h: the rules of jobs and leasing that need no store (api.md §3.4, domain.md §2):
 * statuses, retry backoff, the backfill lane's share of a quota, and leasing order. */
#ifndef JE_CORE_JOBS_H
#define JE_CORE_JOBS_H

#include <stdint.h>

typedef enum je_job_status {
    JE_JOB_PENDING = 0,
    JE_JOB_LEASED,
    JE_JOB_SUCCEEDED,
    JE_JOB_FAILED,
    JE_JOB_CANCELED,
    JE_JOB_STATUS_COUNT
} je_job_status;

/* "pending", ... ; NULL for an out-of-range value. */
const char *je_job_status_name(je_job_status s);
/* The status of a name, or -1. */
int je_job_status_parse(const char *name);

#define JE_LANE_LIVE 0
#define JE_LANE_BACKFILL 1

#define JE_BACKOFF_FIRST_MS 2000
#define JE_BACKOFF_MAX_MS 300000

/* Wait before the next attempt after `failures` failed attempts (>= 1): 2 s, doubling, at most
 * 5 min. */
int64_t je_job_backoff_ms(int64_t failures);

/* Slots the backfill lane may hold of a quota: ceil(max_active * share), 0 <= share <= 1. */
int64_t je_backfill_slots(int64_t max_active, double share);

/* Leasing order (domain.md §2): live before backfill, higher priority, older createdAt, then
 * job id. Negative when a leases before b. */
typedef struct je_job_order {
    int lane;
    int64_t priority;
    int64_t created_ms;
    const char *job_id;
} je_job_order;
int je_job_order_cmp(const je_job_order *a, const je_job_order *b);

#endif
