/* core/pool.h: capacity pools (issue 15). A pool is a platform-wide capacity for one job type
 * that the tenants whose work is of that type share: a total concurrency, optionally a total
 * hourly rate, and a strategy dividing the total among tenants. A decision (lease, acquire) is
 * granted only when the tenant's own quota and the pool both allow it. Pure: time comes in as UTC
 * ms, usage and demand as counts the store read inside the deciding transaction.
 *
 * Strategies (docs/api.md "Pools"):
 *   unlimited     no cap at all: the pool only counts use.
 *   proportional  each tenant with use or demand is entitled to total * weight / (sum of the
 *                 weights of the tenants with use or demand), rounded down, at least 1 for a
 *                 tenant with demand; a tenant may go past its entitlement only with slots no
 *                 other tenant below its entitlement is asking for (work-conserving).
 *   priority      higher tiers first: a tenant may take a free slot only when the free slots are
 *                 more than the unmet demand of the tenants of higher tiers.
 *   reserved      each tenant a guaranteed minimum (reserved; the sum of reserves <= total). A
 *                 tenant below its reserve takes any free slot; above it, only a slot that leaves
 *                 enough free for every other tenant's unmet demand within its own reserve (idle
 *                 reserve is lent; a returning owner gets the next slots that free up: running
 *                 work is never preempted).
 *   max-limit     each tenant capped at its own maxActive (a tenant without one: no cap of its
 *                 own), and all together at the total.
 * Every strategy but unlimited also caps the sum of use at maxActive and the pool's grants in the
 * current UTC hour at maxPerHour (when set). A tenant the pool does not list draws with the
 * defaults: weight 1, tier 0, reserved 0, no cap of its own. */
#ifndef JE_CORE_POOL_H
#define JE_CORE_POOL_H

#include <stddef.h>
#include <stdint.h>
#include "core/err.h"
#include "core/justify.h"
#include "core/limits.h"

typedef enum je_pool_strategy {
    JE_POOL_UNLIMITED = 0,
    JE_POOL_PROPORTIONAL,
    JE_POOL_PRIORITY,
    JE_POOL_RESERVED,
    JE_POOL_MAX_LIMIT,
} je_pool_strategy;
#define JE_POOL_STRATEGY_COUNT 5
#define JE_POOL_NO_LIMIT (-1)  /* maxPerHour, a share's maxActive: none */
#define JE_POOL_MAX_SHARES 256 /* tenants listed in one pool */

/* "unlimited", "proportional", "priority", "reserved", "max-limit"; NULL when out of range. */
const char *je_pool_strategy_name(je_pool_strategy s);
/* The strategy named, or -1. */
int je_pool_strategy_parse(const char *name);

/* One tenant's terms in a pool. */
typedef struct je_pool_share {
    char tenant_id[JE_TENANT_MAX + 1];
    double weight;      /* proportional: > 0 (default 1) */
    int64_t tier;       /* priority: higher first (default 0), -1000..1000 */
    int64_t reserved;   /* reserved: guaranteed minimum (default 0) */
    int64_t max_active; /* max-limit: this tenant's cap, JE_POOL_NO_LIMIT when none */
} je_pool_share;

/* One tenant's use of a pool at decision time, as the store counted it. */
typedef struct je_pool_use {
    char tenant_id[JE_TENANT_MAX + 1];
    int64_t active; /* live leases of the job type and live permits of its quotas */
    int64_t demand; /* work waiting: pending jobs of the job type (counted up to what matters) */
} je_pool_use;

typedef struct je_pool {
    char job_type[JE_JOBTYPE_MAX + 1];
    je_pool_strategy strategy;
    int64_t max_active;                /* total concurrency, >= 1 (ignored by unlimited) */
    int64_t max_per_hour;              /* total grants per UTC hour, JE_POOL_NO_LIMIT when none */
    int64_t hour_start_ms, hour_count; /* the pool's grants in the UTC hour starting then */
    int64_t throttled;                 /* refusals in that hour */
    int last_cap;            /* the cap of the pool's last refusal (je_pool_cap), 0 none */
    int64_t last_refusal_ms; /* and when it was */
} je_pool;

/* Why a decision was refused: which cap bit. */
typedef enum je_pool_cap {
    JE_POOL_OK = 0,
    JE_POOL_CAP_TOTAL,       /* "pool_max_active": the pool is full */
    JE_POOL_CAP_HOURLY,      /* "pool_max_per_hour": the pool's hourly grants are spent */
    JE_POOL_CAP_SHARE,       /* "tenant_share": proportional entitlement or max-limit cap */
    JE_POOL_CAP_HIGHER_TIER, /* "higher_tier_waiting": priority */
    JE_POOL_CAP_RESERVED,    /* "reserved_for_others": free slots are others' reserves */
} je_pool_cap;

/* "pool_max_active", ...; "" for JE_POOL_OK. */
const char *je_pool_cap_name(je_pool_cap c);

/* A tenant's entitlement as GET shows it: what the strategy gives it now. entitled is the most
 * it could hold now (its use plus the grants it would get in a row if it asked, the hourly cap
 * aside), but at least its proportional entitlement or its reserve; while the pool is not full a
 * request of a tenant with demand passes the strategy exactly when entitled > active (pool.c). */
typedef struct je_pool_entitlement {
    int64_t entitled;   /* slots it is entitled to now (may exceed its use); JE_POOL_NO_LIMIT
                         * under unlimited */
    int64_t guaranteed; /* reserved minimum (reserved), else 0 */
    int64_t cap;        /* its own cap (max-limit), JE_POOL_NO_LIMIT when none */
} je_pool_entitlement;

/* The share of tenant in shares[0..n) or the defaults when it is not listed. */
je_pool_share je_pool_share_of(const je_pool_share *shares, size_t n, const char *tenant);

/* Rolls the pool's hour (hour_count and throttled back to 0 at a new UTC hour). */
void je_pool_roll(je_pool *p, int64_t now_ms);

/* Whether tenant may take one more slot now. use[0..n_use) holds every tenant with use or
 * demand (the requester included, its demand counting the unit asked for); shares[0..n_shares)
 * the pool's listed terms. JE_POOL_OK when granted: the caller then counts the unit (use of the
 * tenant += 1, je_pool_granted); otherwise the cap that refused (je_pool_refused counts it). */
je_pool_cap je_pool_decide(const je_pool *p, const je_pool_share *shares, size_t n_shares,
                           const je_pool_use *use, size_t n_use, const char *tenant,
                           int64_t now_ms);
void je_pool_granted(je_pool *p, int64_t now_ms);
void je_pool_refused(je_pool *p, int64_t now_ms);

/* The entitlement of tenant, given the same inputs as a decision. */
je_pool_entitlement je_pool_entitlement_of(const je_pool *p, const je_pool_share *shares,
                                           size_t n_shares, const je_pool_use *use, size_t n_use,
                                           const char *tenant);

/* Validates a pool's settings and shares (api.md "Pools"): maxActive 1..1e9, maxPerHour 1..1e12
 * or none, weights > 0 and finite, tiers -1000..1000, reserves >= 0 with their sum <= maxActive,
 * share caps 1..maxActive or none, no tenant twice. 0, or -1 with VALIDATION_FAILED and the
 * field (e.g. "shares[2].weight"). */
int je_pool_validate(const je_pool *p, const je_pool_share *shares, size_t n_shares, je_err *err);

#endif
