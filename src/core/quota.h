/* core/quota.h: the quota rules of domain.md §2 and api.md §3.3 — token bucket, UTC hour
 * window, concurrency cap, decisions with nextEligibleAt, release, validation of limits against
 * policy ceilings, decrease safety, temporary elevation. Pure: time comes in as UTC ms. */
#ifndef JE_CORE_QUOTA_H
#define JE_CORE_QUOTA_H

#include <stdint.h>
#include <jansson.h>
#include "core/err.h"
#include "core/justify.h"
#include "core/limits.h"

#define JE_HOUR_MS 3600000LL
#define JE_NO_TIME INT64_MIN /* "none" for optional times (nextEligibleAt, expiresAt) */

typedef struct je_quota_limits {
    int64_t max_active;
    int64_t max_per_hour;
    int64_t burst_capacity;
    double refill_per_second;
} je_quota_limits;

typedef struct je_quota_state {
    int64_t active;
    int64_t hour_count;
    int64_t hour_start_ms; /* start of the UTC hour hour_count counts */
    double tokens;
    int64_t last_refill_ms;
    int64_t throttled; /* denials in the UTC hour starting throttled_hour_ms */
    int64_t throttled_hour_ms;
} je_quota_state;

typedef struct je_quota {
    je_quota_limits limits;
    int paused;
    je_quota_state state;
    /* temporary elevation: active when elevation_expires_ms != JE_NO_TIME */
    int64_t elevation_expires_ms;
    je_quota_limits previous; /* the limits to go back to */
} je_quota;

/* A quota as stored (api.md §3.3). Optional strings are "" when null. */
typedef struct je_quota_record {
    char quota_id[JE_UUID_BUF];
    char tenant_id[JE_TENANT_MAX + 1];
    char job_type[JE_JOBTYPE_MAX + 1];
    je_quota q;
    char pause_reason[JE_REASON_BUF];
    char pause_ticket[JE_TICKET_BUF];
    int64_t version;
    int64_t created_ms, updated_ms;
    char created_by[JE_ID_MAX + 1], updated_by[JE_ID_MAX + 1];
    char last_reason[JE_REASON_BUF];
    char last_ticket[JE_TICKET_BUF];
} je_quota_record;

/* The start of the UTC hour holding t. */
int64_t je_hour_floor(int64_t t_ms);

/* A new quota at now: full bucket (tokens = burst), last refill now, counters 0, not paused. */
void je_quota_init(je_quota *q, const je_quota_limits *limits, int64_t now_ms);

/* Refill and hour rollover (steps 1-2 of domain.md §2); also rolls the throttled counter. */
void je_quota_advance(je_quota *q, int64_t now_ms);

typedef enum je_decision_kind {
    JE_DECISION_GRANT = 0,
    JE_DECISION_PAUSED,    /* 423 QUOTA_PAUSED, no nextEligibleAt */
    JE_DECISION_EXHAUSTED, /* 429 QUOTA_EXHAUSTED */
} je_decision_kind;

typedef struct je_decision {
    je_decision_kind kind;
    int64_t next_eligible_ms; /* JE_NO_TIME when paused (or granted) */
    int64_t remaining;        /* free concurrency slots after the decision (>= 0) */
} je_decision;

/* Decides one unit at now (steps 1-4), updating the state: on a grant tokens -= 1,
 * active += 1, hour_count += 1; on a denial throttled += 1. earliest_expiry_ms is the earliest
 * expiry of a current lease or permit (JE_NO_TIME when none), used when the concurrency cap
 * holds. nextEligibleAt is the latest of the applicable causes. */
je_decision je_quota_decide(je_quota *q, int64_t now_ms, int64_t earliest_expiry_ms);

/* Step 5: active -= n, never below 0. */
void je_quota_release(je_quota *q, int64_t n);

/* Lowering burst_capacity clips tokens; other limits just change. */
void je_quota_set_limits(je_quota *q, const je_quota_limits *limits);

/* Ceilings (same fields). A value above its ceiling: code "QUOTA_POLICY_VIOLATION",
 * err->field the camelCase field name; requested and ceiling_value get the values. */
int je_quota_check_ceiling(const je_quota_limits *l, const je_quota_limits *ceiling,
                           double *requested, double *ceiling_value, je_err *err);

/* Lowering maxActive below q->state.active without allow: "QUOTA_DECREASE_BELOW_USAGE". */
int je_quota_check_decrease(const je_quota *q, const je_quota_limits *l, int allow, je_err *err);

/* Starts (or replaces) a temporary elevation to l until expires_ms: previous = the limits to
 * return to (an elevation already running keeps its original previous). */
void je_quota_elevate(je_quota *q, const je_quota_limits *l, int64_t expires_ms);
/* A permanent adjustment: ends any elevation (its values become permanent) and sets l. */
void je_quota_adjust(je_quota *q, const je_quota_limits *l);
/* 1 when an elevation has expired at now (and reverts it to previous limits), else 0. */
int je_quota_elevation_expire(je_quota *q, int64_t now_ms);

/* ---- the record (rules that also stamp who and when) ---- */

/* Reverts an elevation past its time on the record, stamped as changed by the engine
 * ("jobengine"): 1 when it reverted (the caller audits quota.elevation.expired), else 0. */
int je_quota_record_elevation_expire(je_quota_record *r, int64_t now_ms);
/* Stamps a change by actor with its justification: version + 1, updated now. */
void je_quota_record_stamp(je_quota_record *r, const char *actor, const char *reason,
                           const char *ticket, int64_t now_ms);

/* A permit holds its slot until it is released or expires_ms passes. */
int je_permit_live(int64_t expires_ms, int64_t now_ms);

/* Shortest round-trip decimal form without exponent ("0.5", "2", "0.000001", "1e21" →
 * "1000000000000000000000"), for values that are not integers by nature (domain.md §6).
 * buf >= 400 bytes. Returns buf. */
const char *je_num_decimal(double v, char *buf, size_t cap);

#endif
