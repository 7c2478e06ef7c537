/* core/lease_gates.h: what stands between one candidate job and its lease (issue 15): the job
 * type's circuit breaker, then the tenant's quota slot (core/lease.h), then the job type's
 * capacity pool (core/pool_gate.h); each optional. A unit one of them took is given back when a
 * later one refuses or the job went away; the order and the give-backs are the rule, the same on
 * every backend. Pure. */
#ifndef JE_CORE_LEASE_GATES_H
#define JE_CORE_LEASE_GATES_H

#include "core/breaker.h"
#include "core/lease.h"
#include "core/pool_gate.h"

typedef struct je_lease_gates {
    je_breaker *breaker; /* NULL: the job type has none */
    je_lease_slot *slot; /* NULL: no quota governs the type (and such jobs may lease) */
    je_pool_gate *pool;  /* NULL: the job type has no pool */
} je_lease_gates;

typedef enum je_gates_verdict {
    JE_GATES_GRANTED = 0,
    JE_GATES_BREAKER, /* the breaker admits nothing now (*retry_at: when it may) */
    JE_GATES_QUOTA,   /* the quota held it back (noted in held) */
    JE_GATES_POOL,    /* the pool refused (its last_cap says why) */
} je_gates_verdict;

/* Decides one candidate of lane for tenant at now. A pool that refused once in this call is not
 * asked again (capacity only shrinks within a call). Granted: lease the job, then
 * je_lease_gates_leased, or je_lease_gates_undo when the job was gone. */
je_gates_verdict je_lease_gates_decide(const je_lease_gates *g, int lane, const char *tenant,
                                       int64_t now_ms, je_lease_held *held, int64_t *retry_at);
void je_lease_gates_undo(const je_lease_gates *g);
void je_lease_gates_leased(const je_lease_gates *g, int lane, const char *tenant,
                           int64_t lease_until_ms, int64_t now_ms);

#endif
