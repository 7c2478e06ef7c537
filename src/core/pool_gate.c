/* core/pool_gate.c: see pool_gate.h. */
#include "core/pool_gate.h"

#include <stdio.h>
#include <string.h>

je_pool_use *je_pool_gate_use(je_pool_gate *g, const char *tenant) {
    for (size_t i = 0; i < g->n_use; i++)
        if (strcmp(g->use[i].tenant_id, tenant) == 0) return &g->use[i];
    if (g->n_use == JE_POOL_MAX_USE) return NULL;
    je_pool_use *u = &g->use[g->n_use++];
    memset(u, 0, sizeof *u);
    snprintf(u->tenant_id, sizeof u->tenant_id, "%s", tenant);
    return u;
}

je_pool_cap je_pool_gate_decide(je_pool_gate *g, const char *tenant, int64_t now_ms) {
    je_pool_roll(&g->pool, now_ms);
    je_pool_cap cap =
        je_pool_decide(&g->pool, g->shares, g->n_shares, g->use, g->n_use, tenant, now_ms);
    if (cap != JE_POOL_OK) {
        je_pool_refused(&g->pool, now_ms);
        g->changed = 1;
        g->last_cap = cap;
        g->pool.last_cap = (int)cap;
        g->pool.last_refusal_ms = now_ms;
    }
    return cap;
}

void je_pool_gate_granted(je_pool_gate *g, const char *tenant, int64_t now_ms) {
    je_pool_use *u = je_pool_gate_use(g, tenant);
    if (u) {
        u->active++;
        if (u->demand > 0) u->demand--;
    }
    je_pool_granted(&g->pool, now_ms);
    g->changed = 1;
}

int64_t je_pool_demand_needed(const je_pool_gate *g, const je_pool_use *u, const char *tenant,
                              int64_t free_plus_one) {
    int64_t need = free_plus_one;
    if (g->pool.strategy == JE_POOL_RESERVED && tenant) {
        if (strcmp(u->tenant_id, tenant) == 0) return 1;
        je_pool_share sh = je_pool_share_of(g->shares, g->n_shares, u->tenant_id);
        int64_t unmet = sh.reserved - u->active;
        need = unmet > 1 ? unmet : 1;
    }
    return need < free_plus_one ? need : free_plus_one;
}

int64_t je_pool_gate_free_plus_one(const je_pool_gate *g) {
    int64_t used = 0;
    for (size_t i = 0; i < g->n_use; i++) used += g->use[i].active;
    int64_t n = g->pool.max_active - used + 1;
    return n < 1 ? 1 : n;
}
