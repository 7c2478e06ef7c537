/* core/lease_gates.c: see lease_gates.h. */
#include "core/lease_gates.h"

je_gates_verdict je_lease_gates_decide(const je_lease_gates *g, int lane, const char *tenant,
                                       int64_t now_ms, je_lease_held *held, int64_t *retry_at) {
    if (g->pool && g->pool->last_cap != JE_POOL_OK) return JE_GATES_POOL;
    *retry_at = 0;
    if (g->breaker && !je_breaker_admit(g->breaker, now_ms, retry_at)) return JE_GATES_BREAKER;
    if (g->slot && !je_lease_slot_decide(g->slot, lane, now_ms, held)) {
        if (g->breaker) je_breaker_unadmit(g->breaker);
        return JE_GATES_QUOTA;
    }
    if (g->pool && je_pool_gate_decide(g->pool, tenant, now_ms) != JE_POOL_OK) {
        if (g->slot) je_lease_slot_undo(g->slot);
        if (g->breaker) je_breaker_unadmit(g->breaker);
        return JE_GATES_POOL;
    }
    return JE_GATES_GRANTED;
}

void je_lease_gates_undo(const je_lease_gates *g) {
    if (g->slot) je_lease_slot_undo(g->slot);
    if (g->breaker) je_breaker_unadmit(g->breaker);
}

void je_lease_gates_leased(const je_lease_gates *g, int lane, const char *tenant,
                           int64_t lease_until_ms, int64_t now_ms) {
    if (g->slot) je_lease_slot_leased(g->slot, lane, lease_until_ms);
    if (g->pool) je_pool_gate_granted(g->pool, tenant, now_ms);
}
