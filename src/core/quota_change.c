/* core/quota_change.c: see quota_change.h. The checks run in the contract's order: existence,
 * If-Match, ceiling, decrease safety. */
#include "core/quota_change.h"

#include <stdio.h>
#include <string.h>

int je_if_match_admits(int64_t if_match, int64_t version) {
    return if_match == JE_IF_MATCH_NONE || if_match == JE_IF_MATCH_ANY || if_match == version;
}

static void refuse(je_quota_outcome *out, const char *quota_id, const char *code, const char *field,
                   const char *msg) {
    out->verdict = JE_QUOTA_REFUSED;
    out->event_type = "quota.change.denied";
    out->quota_id = quota_id;
    je_err_field(&out->refusal, code, field, "%s", msg);
}

static int check_ceiling(const je_quota_limits *l, const je_quota_limits *ceiling,
                         const char *quota_id, je_quota_outcome *out) {
    je_err e;
    je_err_clear(&e);
    if (je_quota_check_ceiling(l, ceiling, &out->requested, &out->ceiling, &e) == 0) return 0;
    out->ceiling_hit = 1;
    refuse(out, quota_id, e.code, e.field, e.message);
    return -1;
}

static void applied(je_quota_outcome *out, const char *event_type, const je_quota_record *rec) {
    out->verdict = JE_QUOTA_APPLIED;
    out->event_type = event_type;
    out->quota_id = rec->quota_id;
}

static void create(const je_quota_request *req, je_quota_record *rec,
                   const je_quota_limits *ceiling, const char *new_id, int64_t now,
                   je_quota_outcome *out) {
    snprintf(rec->job_type, sizeof rec->job_type, "%s", req->job_type);
    if (check_ceiling(&req->limits, ceiling, NULL, out) != 0) return; /* no id yet */
    snprintf(rec->quota_id, sizeof rec->quota_id, "%s", new_id);
    je_quota_init(&rec->q, &req->limits, now);
    rec->created_ms = now;
    snprintf(rec->created_by, sizeof rec->created_by, "%s", req->actor);
    je_quota_record_stamp(rec, req->actor, req->reason, req->ticket, now);
    applied(out, "quota.created", rec);
}

static int limits_equal(const je_quota_limits *a, const je_quota_limits *b) {
    return a->max_active == b->max_active && a->max_per_hour == b->max_per_hour &&
           a->burst_capacity == b->burst_capacity && a->refill_per_second == b->refill_per_second;
}

/* An update that changes nothing (no field, or the limits the quota has, no elevation asked
 * for or running, none just ended) is answered like a pause of a paused quota: unchanged, no
 * version bump, no audit entry. */
static void update(const je_quota_request *req, je_quota_record *rec,
                   const je_quota_limits *ceiling, int64_t now, je_quota_outcome *out) {
    /* an elevation past its time is over already */
    int expired = je_quota_elevation_expire(&rec->q, now);
    je_quota_limits l = rec->q.limits;
    if (req->has[0]) l.max_active = req->limits.max_active;
    if (req->has[1]) l.max_per_hour = req->limits.max_per_hour;
    if (req->has[2]) l.burst_capacity = req->limits.burst_capacity;
    if (req->has[3]) l.refill_per_second = req->limits.refill_per_second;
    if (!expired && req->expires_ms == JE_NO_TIME && rec->q.elevation_expires_ms == JE_NO_TIME &&
        limits_equal(&l, &rec->q.limits)) {
        out->verdict = JE_QUOTA_UNCHANGED;
        return;
    }
    if (check_ceiling(&l, ceiling, rec->quota_id, out) != 0) return;
    je_err e;
    je_err_clear(&e);
    if (je_quota_check_decrease(&rec->q, &l, req->allow_decrease, &e) != 0)
        return refuse(out, rec->quota_id, e.code, e.field, e.message);
    if (req->expires_ms != JE_NO_TIME)
        je_quota_elevate(&rec->q, &l, req->expires_ms);
    else
        je_quota_adjust(&rec->q, &l);
    je_quota_record_stamp(rec, req->actor, req->reason, req->ticket, now);
    applied(out, "quota.updated", rec);
}

static void pause(const je_quota_request *req, je_quota_record *rec, int64_t now,
                  je_quota_outcome *out) {
    int paused = req->op == JE_QUOTA_PAUSE;
    if (rec->q.paused == paused) {
        out->verdict = JE_QUOTA_UNCHANGED;
        return;
    }
    rec->q.paused = paused;
    snprintf(rec->pause_reason, sizeof rec->pause_reason, "%s", paused ? req->reason : "");
    snprintf(rec->pause_ticket, sizeof rec->pause_ticket, "%s",
             paused && req->ticket ? req->ticket : "");
    je_quota_record_stamp(rec, req->actor, req->reason, req->ticket, now);
    applied(out, paused ? "quota.paused" : "quota.resumed", rec);
}

void je_quota_apply(const je_quota_request *req, je_quota_record *rec, int exists,
                    const je_quota_limits *ceiling, const char *new_id, int64_t now_ms,
                    je_quota_outcome *out) {
    memset(out, 0, sizeof *out);
    je_err_clear(&out->refusal);
    if (req->op == JE_QUOTA_CREATE && exists)
        return refuse(out, NULL, "QUOTA_EXISTS", "jobType",
                      "a quota for this job type exists already");
    if (req->op == JE_QUOTA_CREATE) return create(req, rec, ceiling, new_id, now_ms, out);
    if (!exists) {
        /* not audited: nothing of the tenant's was named */
        out->verdict = JE_QUOTA_REFUSED;
        je_err_set(&out->refusal, "NOT_FOUND", "no such quota");
        return;
    }
    if (!je_if_match_admits(req->if_match, rec->version)) {
        char msg[96];
        snprintf(msg, sizeof msg, "If-Match does not match the current version %lld",
                 (long long)rec->version);
        return refuse(out, rec->quota_id, "VERSION_MISMATCH", "If-Match", msg);
    }
    if (req->op == JE_QUOTA_UPDATE) return update(req, rec, ceiling, now_ms, out);
    if (req->op == JE_QUOTA_PAUSE || req->op == JE_QUOTA_RESUME)
        return pause(req, rec, now_ms, out);
    out->verdict = JE_QUOTA_DELETED;
    out->event_type = "quota.deleted";
    out->quota_id = rec->quota_id;
}
