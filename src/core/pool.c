/* core/pool.c: capacity pools (issue 15), the rules of core/pool.h. Pure: no I/O, no clock, no
 * allocation; every decision is a few passes over the use the store counted.
 *
 * A decision checks, in this order: the pool's total (the sum of active over `use` against
 * maxActive), its hourly grants (hour_count as it stands at now's UTC hour against maxPerHour),
 * then the strategy's own rule. unlimited checks nothing. Negative counts read as 0 and sums
 * saturate, so a corrupt row cannot wrap a sum into a grant.
 *
 * The requester is always asking for one unit: in a decision it counts as having demand (at least
 * 1) even if `use` does not list it.
 *
 * Entitlement (GET) is "the most the tenant could hold now": its use plus the grants it would get
 * in a row if it asked now and nothing else changed; hourly grants are left out (they are shown on
 * their own and need a clock). Where a strategy protects a share, entitled is at least that share
 * (proportional: its entitlement; reserved: its reserve), which it gets back as slots free up even
 * while others hold them now. So while the pool is not full, a request of a tenant with demand
 * passes the strategy's rule exactly when entitled > active (the unit tests hold it to that):
 *   proportional  max(ent_T, active_T + a + max(0, free - a - others' unmet)), a = the slots it
 *                 takes below ent_T; ent_T computed with T counted as present.
 *   priority      active_T + max(0, free - the demand of the higher tiers).
 *   reserved      max(r_T, active_T + a + max(0, free - a - owed)), a = the slots it takes below
 *                 r_T, owed = the others' unmet demand within their reserves; guaranteed = r_T.
 *   max-limit     min(cap_T, active_T + free) (no cap: active_T + free); cap = cap_T.
 *   unlimited     JE_POOL_NO_LIMIT. */
#include "core/pool.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include "core/ids.h"
#include "core/quota.h"

/* Weights are binary doubles: 0.1 + 0.2 + 0.3 sums to a hair above 0.6, which would round an
 * exact 10 * 0.3 / 0.6 = 5 down to 4. A quotient within this relative distance below an integer
 * counts as that integer. */
#define SHARE_EPSILON 1e-12

static const char *const strategy_names[JE_POOL_STRATEGY_COUNT] = {
    "unlimited", "proportional", "priority", "reserved", "max-limit",
};

static const char *const cap_names[] = {
    "",
    "pool_max_active",
    "pool_max_per_hour",
    "tenant_share",
    "higher_tier_waiting",
    "reserved_for_others",
};

const char *je_pool_strategy_name(je_pool_strategy s) {
    if ((int)s < 0 || (int)s >= JE_POOL_STRATEGY_COUNT) return NULL;
    return strategy_names[s];
}

int je_pool_strategy_parse(const char *name) {
    if (!name) return -1;
    for (int i = 0; i < JE_POOL_STRATEGY_COUNT; i++) {
        if (strcmp(name, strategy_names[i]) == 0) return i;
    }
    return -1;
}

const char *je_pool_cap_name(je_pool_cap c) {
    if ((int)c < 0 || (size_t)c >= sizeof cap_names / sizeof cap_names[0]) return "";
    return cap_names[c];
}

static int same_tenant(const char *a, const char *b) {
    return strncmp(a, b, JE_TENANT_MAX + 1) == 0;
}

static int64_t nonneg(int64_t v) {
    return v > 0 ? v : 0;
}

/* a + b for a, b >= 0, saturating. */
static int64_t add_sat(int64_t a, int64_t b) {
    return a > INT64_MAX - b ? INT64_MAX : a + b;
}

static int64_t min64(int64_t a, int64_t b) {
    return a < b ? a : b;
}

static int64_t max64(int64_t a, int64_t b) {
    return a > b ? a : b;
}

je_pool_share je_pool_share_of(const je_pool_share *shares, size_t n, const char *tenant) {
    for (size_t i = 0; i < n; i++) {
        if (same_tenant(shares[i].tenant_id, tenant)) return shares[i];
    }
    je_pool_share d;
    memset(&d, 0, sizeof d);
    strncpy(d.tenant_id, tenant, JE_TENANT_MAX);
    d.weight = 1.0;
    d.tier = 0;
    d.reserved = 0;
    d.max_active = JE_POOL_NO_LIMIT;
    return d;
}

void je_pool_roll(je_pool *p, int64_t now_ms) {
    int64_t hour = je_hour_floor(now_ms);
    if (hour > p->hour_start_ms) {
        p->hour_start_ms = hour;
        p->hour_count = 0;
        p->throttled = 0;
    }
}

void je_pool_granted(je_pool *p, int64_t now_ms) {
    je_pool_roll(p, now_ms);
    p->hour_count = add_sat(nonneg(p->hour_count), 1);
}

void je_pool_refused(je_pool *p, int64_t now_ms) {
    je_pool_roll(p, now_ms);
    p->throttled = add_sat(nonneg(p->throttled), 1);
}

/* What one decision or entitlement needs from `use`, gathered once. */
typedef struct view {
    const je_pool *p;
    const je_pool_share *shares;
    size_t n_shares;
    const je_pool_use *use;
    size_t n_use;
    const char *tenant;
    int64_t active, demand; /* the tenant's */
    int64_t sum_active;
    int64_t free; /* max_active - sum_active, at least 0 */
} view;

static view view_of(const je_pool *p, const je_pool_share *shares, size_t n_shares,
                    const je_pool_use *use, size_t n_use, const char *tenant, int asking) {
    view v = {p, shares, n_shares, use, n_use, tenant, 0, 0, 0, 0};
    int found = 0;
    for (size_t i = 0; i < n_use; i++) {
        v.sum_active = add_sat(v.sum_active, nonneg(use[i].active));
        if (!found && same_tenant(use[i].tenant_id, tenant)) {
            found = 1;
            v.active = nonneg(use[i].active);
            v.demand = nonneg(use[i].demand);
        }
    }
    if (asking && v.demand < 1) v.demand = 1;
    v.free = p->max_active > v.sum_active ? p->max_active - v.sum_active : 0;
    return v;
}

static int is_self(const view *v, size_t i) {
    return same_tenant(v->use[i].tenant_id, v->tenant);
}

/* ---- proportional ---- */

static int present(const je_pool_use *u) {
    return u->active > 0 || u->demand > 0;
}

/* The sum of the weights of the present tenants, the tenant of the view always counted. Summed
 * in the order of `use` whoever asks, so every tenant's entitlement divides by the same total. */
static double present_weight(const view *v) {
    double w = 0;
    int self = 0;
    for (size_t i = 0; i < v->n_use; i++) {
        int me = is_self(v, i);
        if (!me && !present(&v->use[i])) continue;
        if (me && self++) continue;
        w += je_pool_share_of(v->shares, v->n_shares, v->use[i].tenant_id).weight;
    }
    if (!self) w += je_pool_share_of(v->shares, v->n_shares, v->tenant).weight;
    return w;
}

/* floor(max_active * weight / total), at least 1 with demand, at most max_active. */
static int64_t proportional_ent(const view *v, const char *tenant, double total, int64_t demand) {
    double w = je_pool_share_of(v->shares, v->n_shares, tenant).weight;
    int64_t max = nonneg(v->p->max_active), e = 0;
    if (total > 0 && w > 0 && isfinite(total) && isfinite(w)) {
        double q = (double)max * (w / total);
        q = floor(q + q * SHARE_EPSILON);
        e = q >= (double)max ? max : (int64_t)q;
    }
    if (e < 1 && demand > 0 && max > 0) e = 1;
    return e;
}

/* The other present tenants' unmet demand within their entitlements. */
static int64_t proportional_others_unmet(const view *v, double total) {
    int64_t owed = 0;
    for (size_t i = 0; i < v->n_use; i++) {
        const je_pool_use *u = &v->use[i];
        if (is_self(v, i) || !present(u)) continue;
        int64_t active = nonneg(u->active), demand = nonneg(u->demand);
        int64_t e = proportional_ent(v, u->tenant_id, total, demand);
        owed = add_sat(owed, nonneg(min64(e, add_sat(active, demand)) - active));
    }
    return owed;
}

/* ---- priority ---- */

static int64_t higher_demand(const view *v) {
    int64_t tier = je_pool_share_of(v->shares, v->n_shares, v->tenant).tier, sum = 0;
    for (size_t i = 0; i < v->n_use; i++) {
        if (is_self(v, i)) continue;
        if (je_pool_share_of(v->shares, v->n_shares, v->use[i].tenant_id).tier > tier)
            sum = add_sat(sum, nonneg(v->use[i].demand));
    }
    return sum;
}

/* ---- reserved ---- */

/* The other tenants' unmet demand within their reserves. */
static int64_t reserved_owed(const view *v) {
    int64_t owed = 0;
    for (size_t i = 0; i < v->n_use; i++) {
        if (is_self(v, i)) continue;
        const je_pool_use *u = &v->use[i];
        int64_t r = nonneg(je_pool_share_of(v->shares, v->n_shares, u->tenant_id).reserved);
        owed = add_sat(owed, nonneg(min64(r - nonneg(u->active), nonneg(u->demand))));
    }
    return owed;
}

/* The slots the tenant could hold now with `own` slots protected for it (its entitlement or
 * reserve) and `others` free slots claimed by others: first up to its own, then any free slot
 * beyond the others' claim. */
static int64_t holdable(const view *v, int64_t own, int64_t others) {
    int64_t a = min64(nonneg(own - v->active), v->free);
    return add_sat(add_sat(v->active, a), nonneg(v->free - a - others));
}

je_pool_cap je_pool_decide(const je_pool *p, const je_pool_share *shares, size_t n_shares,
                           const je_pool_use *use, size_t n_use, const char *tenant,
                           int64_t now_ms) {
    if (p->strategy == JE_POOL_UNLIMITED) return JE_POOL_OK;
    view v = view_of(p, shares, n_shares, use, n_use, tenant, 1);
    if (v.sum_active >= p->max_active) return JE_POOL_CAP_TOTAL;
    if (p->max_per_hour != JE_POOL_NO_LIMIT) {
        int64_t count = je_hour_floor(now_ms) > p->hour_start_ms ? 0 : p->hour_count;
        if (count >= p->max_per_hour) return JE_POOL_CAP_HOURLY;
    }
    switch (p->strategy) {
    case JE_POOL_PROPORTIONAL: {
        double total = present_weight(&v);
        if (v.active < proportional_ent(&v, tenant, total, v.demand)) return JE_POOL_OK;
        return v.free > proportional_others_unmet(&v, total) ? JE_POOL_OK : JE_POOL_CAP_SHARE;
    }
    case JE_POOL_PRIORITY:
        return v.free > higher_demand(&v) ? JE_POOL_OK : JE_POOL_CAP_HIGHER_TIER;
    case JE_POOL_RESERVED: {
        int64_t r = nonneg(je_pool_share_of(shares, n_shares, tenant).reserved);
        if (v.active < r) return JE_POOL_OK;
        return v.free - 1 >= reserved_owed(&v) ? JE_POOL_OK : JE_POOL_CAP_RESERVED;
    }
    case JE_POOL_MAX_LIMIT: {
        int64_t cap = je_pool_share_of(shares, n_shares, tenant).max_active;
        return cap != JE_POOL_NO_LIMIT && v.active >= cap ? JE_POOL_CAP_SHARE : JE_POOL_OK;
    }
    default:
        /* an unknown strategy (refused by validation) grants nothing beyond the total */
        return JE_POOL_OK;
    }
}

je_pool_entitlement je_pool_entitlement_of(const je_pool *p, const je_pool_share *shares,
                                           size_t n_shares, const je_pool_use *use, size_t n_use,
                                           const char *tenant) {
    je_pool_entitlement e = {JE_POOL_NO_LIMIT, 0, JE_POOL_NO_LIMIT};
    if (p->strategy == JE_POOL_UNLIMITED) return e;
    view v = view_of(p, shares, n_shares, use, n_use, tenant, 0);
    je_pool_share s = je_pool_share_of(shares, n_shares, tenant);
    switch (p->strategy) {
    case JE_POOL_PROPORTIONAL: {
        double total = present_weight(&v);
        int64_t own = proportional_ent(&v, tenant, total, v.demand);
        e.entitled = max64(own, holdable(&v, own, proportional_others_unmet(&v, total)));
        break;
    }
    case JE_POOL_PRIORITY:
        e.entitled = add_sat(v.active, nonneg(v.free - higher_demand(&v)));
        break;
    case JE_POOL_RESERVED:
        e.guaranteed = nonneg(s.reserved);
        e.entitled = max64(e.guaranteed, holdable(&v, e.guaranteed, reserved_owed(&v)));
        break;
    case JE_POOL_MAX_LIMIT:
        e.cap = s.max_active;
        e.entitled = add_sat(v.active, v.free);
        if (s.max_active != JE_POOL_NO_LIMIT) e.entitled = min64(e.entitled, s.max_active);
        break;
    default:
        e.entitled = add_sat(v.active, v.free);
        break;
    }
    return e;
}

/* ---- validation ---- */

static int share_invalid(je_err *err, size_t i, const char *name, const char *why) {
    char field[64];
    snprintf(field, sizeof field, "shares[%zu].%s", i, name);
    return je_err_field(err, "VALIDATION_FAILED", field, "%s %s", field, why);
}

static int validate_share(const je_pool *p, const je_pool_share *shares, size_t i, je_err *err) {
    const je_pool_share *s = &shares[i];
    size_t len = strnlen(s->tenant_id, sizeof s->tenant_id);
    if (!je_id_tenant_valid(s->tenant_id, len))
        return share_invalid(err, i, "tenantId", "must be 1-64 of [A-Za-z0-9._-]");
    for (size_t j = 0; j < i; j++) {
        if (same_tenant(shares[j].tenant_id, s->tenant_id))
            return share_invalid(err, i, "tenantId", "names a tenant listed before");
    }
    if (!(s->weight > 0) || !isfinite(s->weight))
        return share_invalid(err, i, "weight", "must be a finite number above 0");
    if (s->tier < -1000 || s->tier > 1000)
        return share_invalid(err, i, "tier", "must be -1000..1000");
    if (s->reserved < 0 || s->reserved > p->max_active)
        return share_invalid(err, i, "reserved", "must be 0..maxActive");
    if (s->max_active != JE_POOL_NO_LIMIT && (s->max_active < 1 || s->max_active > p->max_active))
        return share_invalid(err, i, "maxActive", "must be 1..maxActive or none");
    return 0;
}

int je_pool_validate(const je_pool *p, const je_pool_share *shares, size_t n_shares, je_err *err) {
    if (je_pool_strategy_name(p->strategy) == NULL)
        return je_err_field(err, "VALIDATION_FAILED", "strategy",
                            "strategy must be unlimited, proportional, priority, reserved or "
                            "max-limit");
    if (p->max_active < 1 || p->max_active > 1000000000LL)
        return je_err_field(err, "VALIDATION_FAILED", "maxActive", "maxActive must be 1..1e9");
    if (p->max_per_hour != JE_POOL_NO_LIMIT &&
        (p->max_per_hour < 1 || p->max_per_hour > 1000000000000LL))
        return je_err_field(err, "VALIDATION_FAILED", "maxPerHour",
                            "maxPerHour must be 1..1e12 or none");
    if (n_shares > JE_POOL_MAX_SHARES)
        return je_err_field(err, "VALIDATION_FAILED", "shares", "at most %d shares",
                            JE_POOL_MAX_SHARES);
    int64_t reserved = 0;
    for (size_t i = 0; i < n_shares; i++) {
        if (validate_share(p, shares, i, err) != 0) return -1;
        reserved += shares[i].reserved; /* each <= maxActive <= 1e9: no overflow */
        if (reserved > p->max_active)
            return share_invalid(err, i, "reserved", "brings the sum of reserves above maxActive");
    }
    return 0;
}
