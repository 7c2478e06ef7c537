/* core/pool_gate.h: a capacity pool as one lease or acquire call holds it (core/pool.h): its
 * settings and shares, and every tenant's use, counted by the store inside the deciding
 * transaction and then kept up to date here as the call grants units, so several jobs leased in
 * one call are decided against each other. Pure; the caller allocates the gate. */
#ifndef JE_CORE_POOL_GATE_H
#define JE_CORE_POOL_GATE_H

#include "core/pool.h"

#define JE_POOL_MAX_USE 1024 /* tenants with use or demand seen by one decision */

typedef struct je_pool_gate {
    je_pool pool;
    je_pool_share shares[JE_POOL_MAX_SHARES];
    size_t n_shares;
    je_pool_use use[JE_POOL_MAX_USE];
    size_t n_use;
    int changed;          /* the pool's counters moved: the store saves it */
    je_pool_cap last_cap; /* the cap of the last refusal */
} je_pool_gate;

/* The pool's free slots + 1 as counted in g (at least 1): no rule compares a demand with more. */
/* How much of u's demand a decision for tenant (NULL: a read) can use, at most free_plus_one
 * (the free slots + 1: no rule compares a demand with more): under reserved, another tenant's
 * demand counts only within its unmet reserve (at least 1, so that asking shows); the requester's
 * own demand only needs to show that it asks. The store counts pending jobs up to this. */
int64_t je_pool_gate_free_plus_one(const je_pool_gate *g);
int64_t je_pool_demand_needed(const je_pool_gate *g, const je_pool_use *u, const char *tenant,
                              int64_t free_plus_one);

/* The use of tenant (added with 0/0 when absent); NULL when the table is full. */
je_pool_use *je_pool_gate_use(je_pool_gate *g, const char *tenant);
/* Decides one unit for tenant at now (its demand must already count the unit); a refusal is
 * counted (throttled) and kept in last_cap. */
je_pool_cap je_pool_gate_decide(je_pool_gate *g, const char *tenant, int64_t now_ms);
/* The unit was taken: tenant's active += 1 (its demand -= 1), the hour's grants += 1. */
void je_pool_gate_granted(je_pool_gate *g, const char *tenant, int64_t now_ms);

#endif
