/* core/pool_change.c: see pool_change.h. */
#include "core/pool_change.h"

#include <stdio.h>
#include <string.h>

static void refuse(je_pool_outcome *out, const char *code, const char *field, const char *msg) {
    out->verdict = JE_POOL_REFUSED;
    if (field)
        je_err_field(&out->refusal, code, field, "%s", msg);
    else
        je_err_set(&out->refusal, code, "%s", msg);
}

/* Shares are a set keyed by tenant (validation refused a tenant twice): the store keeps and
 * shows them by tenant id in byte order, so the order a PUT lists them in changes nothing. */
static void sort_by_tenant(je_pool_share *s, size_t n) {
    for (size_t i = 1; i < n; i++) { /* insertion sort: at most 256, and no allocation */
        je_pool_share x = s[i];
        size_t j = i;
        for (; j > 0 && strcmp(s[j - 1].tenant_id, x.tenant_id) > 0; j--) s[j] = s[j - 1];
        s[j] = x;
    }
}

static int same_share(const je_pool_share *x, const je_pool_share *y) {
    return x->weight == y->weight && x->tier == y->tier && x->reserved == y->reserved &&
           x->max_active == y->max_active;
}

static int same_settings(const je_pool_change_req *req, const je_pool_record *rec) {
    const je_pool *a = &req->settings, *b = &rec->pool;
    if (a->strategy != b->strategy || a->max_active != b->max_active ||
        a->max_per_hour != b->max_per_hour || req->n_shares != rec->n_shares)
        return 0;
    for (size_t i = 0; i < req->n_shares; i++) {
        const je_pool_share *x = &req->shares[i], *y = NULL;
        for (size_t j = 0; j < rec->n_shares && !y; j++)
            if (strcmp(x->tenant_id, rec->shares[j].tenant_id) == 0) y = &rec->shares[j];
        if (!y || !same_share(x, y)) return 0;
    }
    return 1;
}

static void stamp(const je_pool_change_req *req, je_pool_record *rec, int64_t now_ms) {
    rec->updated_ms = now_ms;
    snprintf(rec->updated_by, sizeof rec->updated_by, "%s", req->actor ? req->actor : "");
    snprintf(rec->last_reason, sizeof rec->last_reason, "%s", req->reason ? req->reason : "");
    snprintf(rec->last_ticket, sizeof rec->last_ticket, "%s", req->ticket ? req->ticket : "");
}

void je_pool_apply(const je_pool_change_req *req, je_pool_record *rec, int exists, int64_t now_ms,
                   je_pool_outcome *out) {
    memset(out, 0, sizeof *out);
    je_err_clear(&out->refusal);
    if (!exists && req->op == JE_POOL_DELETE) return refuse(out, "NOT_FOUND", NULL, "no such pool");
    if (exists && !je_if_match_admits(req->if_match, rec->version)) {
        char msg[96];
        snprintf(msg, sizeof msg, "If-Match does not match the current version %lld",
                 (long long)rec->version);
        return refuse(out, "VERSION_MISMATCH", "If-Match", msg);
    }
    /* a version, or "*" (RFC 9110 §13.1.1: any current representation), matches nothing here */
    if (!exists && (req->if_match >= 0 || req->if_match == JE_IF_MATCH_ANY))
        return refuse(out, "VERSION_MISMATCH", "If-Match", "there is no pool to match");
    if (req->op == JE_POOL_DELETE) {
        out->verdict = JE_POOL_DELETED;
        out->event_type = "pool.deleted";
        return;
    }
    if (je_pool_validate(&req->settings, req->shares, req->n_shares, &out->refusal) != 0) {
        out->verdict = JE_POOL_REFUSED;
        return;
    }
    if (exists && same_settings(req, rec)) {
        out->verdict = JE_POOL_UNCHANGED;
        return;
    }
    je_pool counters = rec->pool; /* a replaced pool keeps its hour's counters */
    rec->pool = req->settings;
    snprintf(rec->pool.job_type, sizeof rec->pool.job_type, "%s", req->settings.job_type);
    if (exists) {
        rec->pool.hour_start_ms = counters.hour_start_ms;
        rec->pool.hour_count = counters.hour_count;
        rec->pool.throttled = counters.throttled;
        rec->pool.last_cap = counters.last_cap;
        rec->pool.last_refusal_ms = counters.last_refusal_ms;
        rec->version += 1;
    } else {
        rec->pool.hour_start_ms = now_ms - now_ms % 3600000;
        rec->pool.hour_count = rec->pool.throttled = 0;
        rec->version = 1;
        rec->created_ms = now_ms;
        snprintf(rec->created_by, sizeof rec->created_by, "%s", req->actor ? req->actor : "");
    }
    if (req->n_shares) memcpy(rec->shares, req->shares, req->n_shares * sizeof *req->shares);
    rec->n_shares = req->n_shares;
    sort_by_tenant(rec->shares, rec->n_shares);
    stamp(req, rec, now_ms);
    out->verdict = exists ? JE_POOL_REPLACED : JE_POOL_CREATED;
    out->event_type = exists ? "pool.updated" : "pool.created";
}
