/* core/jobs.h: the rules of jobs and leasing that need no store (api.md §3.4, domain.md §2):
 * statuses, retry backoff, the backfill lane's share of a quota, and leasing order. */
#ifndef JE_CORE_JOBS_H
#define JE_CORE_JOBS_H

#include <stdint.h>
#include "core/limits.h"

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

/* A job (api.md §3.4). payload is malloc'd JSON text owned by the record (je_job_free). */
typedef struct je_job {
    char job_id[JE_UUID_BUF];
    char tenant_id[JE_TENANT_MAX + 1];
    char job_type[JE_JOBTYPE_MAX + 1];
    int status; /* je_job_status */
    int lane;   /* JE_LANE_LIVE / JE_LANE_BACKFILL */
    int64_t priority;
    char *payload;
    char source_id[JE_SOURCE_MAX + 1];    /* "" when none */
    char event_key[JE_EVENT_KEY_MAX + 1]; /* "" when none */
    int64_t event_time_ms;                /* JE_NO_TIME when none */
    char backfill_id[JE_UUID_BUF];        /* "" for live jobs */
    int64_t batch, window_start_ms, window_end_ms;
    int64_t attempt, failures, max_attempts;
    int64_t available_ms;
    char lease_id[JE_UUID_BUF]; /* "" when not leased */
    int64_t lease_until_ms, lease_ms;
    char worker_id[JE_WORKER_MAX + 1];
    char quota_id[JE_UUID_BUF];
    char error[JE_JOB_ERROR_MAX + 1];
    int64_t created_ms, updated_ms, completed_ms; /* completed: JE_NO_TIME until finished */
} je_job;

/* Frees what the record owns (its payload); the record itself is the caller's. */
void je_job_free(je_job *j);

/* ---- the life of a lease (domain.md §2) ----
 * A lease is live while the job is leased and lease_until_ms > now. Backends that work on many
 * rows at once (expiry sweeps, guarded updates) state the same comparison in their query; the
 * store conformance suite holds both to the same answers. */

/* 1 when j holds a live lease at now (lease_id NULL: any lease id). */
int je_job_lease_live(const je_job *j, const char *lease_id, int64_t now_ms);
/* Leases a pending job: one attempt more, charged to quota_id ("" or NULL: none). */
void je_job_lease(je_job *j, const char *lease_id, const char *worker_id, const char *quota_id,
                  int64_t lease_ms, int64_t now_ms);
/* Extends a live lease to now + extend_ms. */
void je_job_heartbeat(je_job *j, int64_t extend_ms, int64_t now_ms);
/* An expired lease ends: back to pending, available at once (an expiry is not a failed
 * attempt). */
void je_job_lease_expire(je_job *j, int64_t now_ms);
/* Completes a live lease: succeeded; or failed, retried after je_job_backoff_ms until
 * max_attempts failures, then failed for good. error is kept for a failure (NULL: none). The
 * lease ends either way. */
void je_job_finish(je_job *j, int succeeded, const char *error, int64_t now_ms);

#endif
