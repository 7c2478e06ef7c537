/* core/quota_change.h: what a change of a quota does (api.md §3.3): create, adjust (permanent or
 * a temporary elevation), delete, pause, resume, with If-Match, policy ceilings and decrease
 * safety, and the audit event each outcome records. The store runs it inside its write
 * transaction on the row it read; it is pure and may run again on a fresh read (a backend
 * retries a transaction after a deadlock). */
#ifndef JE_CORE_QUOTA_CHANGE_H
#define JE_CORE_QUOTA_CHANGE_H

#include <stdint.h>
#include "core/err.h"
#include "core/quota.h"

/* If-Match (api.md §1): absent, "*", or a version. */
#define JE_IF_MATCH_NONE (-1)
#define JE_IF_MATCH_ANY (-2)
/* 1 when an If-Match value admits version. */
int je_if_match_admits(int64_t if_match, int64_t version);

typedef enum je_quota_op {
    JE_QUOTA_CREATE,
    JE_QUOTA_UPDATE,
    JE_QUOTA_DELETE,
    JE_QUOTA_PAUSE,
    JE_QUOTA_RESUME
} je_quota_op;

typedef struct je_quota_request {
    je_quota_op op;
    const char *job_type;   /* create */
    je_quota_limits limits; /* the values given */
    int has[4];             /* which were given: maxActive, maxPerHour, burst, refill */
    int64_t expires_ms;     /* update: an elevation until then; JE_NO_TIME: permanent */
    int allow_decrease;     /* update: allowDecreaseBelowUsage */
    int64_t if_match;       /* JE_IF_MATCH_NONE, JE_IF_MATCH_ANY or a version */
    const char *actor;      /* the client id */
    const char *reason;     /* the effective justification */
    const char *ticket;     /* NULL when none */
} je_quota_request;

typedef enum je_quota_verdict {
    JE_QUOTA_APPLIED,   /* save the record */
    JE_QUOTA_DELETED,   /* delete the quota and its permits */
    JE_QUOTA_UNCHANGED, /* pause of a paused quota, resume of a running one, an update that
                           changes no limit: 200, no version bump, no audit */
    JE_QUOTA_REFUSED,   /* change nothing; refusal says why */
} je_quota_verdict;

typedef struct je_quota_outcome {
    je_quota_verdict verdict;
    /* the audit entry to record with it: quota.created, quota.updated, quota.paused,
     * quota.resumed, quota.deleted, quota.change.denied; NULL for none (unchanged, no such
     * quota) */
    const char *event_type;
    const char *quota_id; /* the quota the entry names; NULL for none */
    je_err refusal;       /* REFUSED: code, field and message */
    int ceiling_hit;      /* QUOTA_POLICY_VIOLATION: the value asked and the ceiling */
    double requested, ceiling;
} je_quota_outcome;

/* Applies req to rec at now. exists = 0: no quota was found (rec zeroed but for tenant_id).
 * ceiling: the policy ceilings of the quota's (tenant, job type). new_id: a fresh quota id, used
 * by a create. */
void je_quota_apply(const je_quota_request *req, je_quota_record *rec, int exists,
                    const je_quota_limits *ceiling, const char *new_id, int64_t now_ms,
                    je_quota_outcome *out);

#endif
